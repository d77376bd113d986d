import t from 'tap';
import {
  escapeFieldValue,
  fieldSelectorFromSet,
  objectFields,
  parseFieldSelector,
  supportedFieldLabels,
  unescapeFieldValue,
  validateFieldSelector,
} from '../../lib/apimachinery/fields.js';
import type { KubeObject } from '../../lib/api/meta.js';

const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-0', namespace: 'default' },
  spec: { nodeName: 'node-a', restartPolicy: 'Always', schedulerName: 'default-scheduler', serviceAccountName: 'default', containers: [] },
  status: { phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }, { ip: 'fd00::5' }] },
};

// The examples of the "Field Selectors" concept page
// (kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/): supported fields,
// supported operators (`=`, `==`, `!=`), chained selectors. Each with the canonical string
// fields.ParseSelector gives back (terms sorted, `==` printed as `=`).
const selectors: Array<[input: string, printed: string, matchesPod: boolean]> = [
  ['status.phase=Running', 'status.phase=Running', true],
  ['metadata.name=my-service', 'metadata.name=my-service', false],
  ['metadata.namespace!=default', 'metadata.namespace!=default', false],
  ['status.phase=Pending', 'status.phase=Pending', false],
  ['status.phase==Running', 'status.phase=Running', true],
  ['status.phase!=Running,spec.restartPolicy=Always', 'spec.restartPolicy=Always,status.phase!=Running', false],
  ['status.phase=Running,spec.restartPolicy=Always', 'spec.restartPolicy=Always,status.phase=Running', true],
  ['spec.nodeName=node-a,metadata.namespace=default', 'metadata.namespace=default,spec.nodeName=node-a', true],
  ['status.nominatedNodeName=', 'status.nominatedNodeName=', true],
  ['', '', true],
];

t.test('parses and matches the documented field selectors', async (t) => {
  const fields = objectFields(pod);
  for (const [input, printed, matches] of selectors) {
    const s = parseFieldSelector(input);
    t.equal(s.toString(), printed, JSON.stringify(input));
    t.equal(s.matches(fields), matches, `${input} on the pod`);
  }
  t.ok(parseFieldSelector('').empty());
  t.ok(parseFieldSelector(',,').empty());
});

t.test('a field the object lacks reads as the empty string', async (t) => {
  t.ok(parseFieldSelector('spec.unknown!=x').matches({}));
  t.ok(parseFieldSelector('spec.unknown=').matches({}));
  t.notOk(parseFieldSelector('spec.unknown=x').matches({}));
});

// fields.EscapeValue/UnescapeValue: `\`, `,` and `=` are escaped with a backslash in values.
t.test('escapes and unescapes values as upstream does', async (t) => {
  t.equal(escapeFieldValue('a,b=c\\d'), 'a\\,b\\=c\\\\d');
  t.equal(unescapeFieldValue('a\\,b\\=c\\\\d'), 'a,b=c\\d');
  const s = parseFieldSelector('metadata.name=a\\,b,metadata.namespace=x\\=y');
  t.same(s.requirements, [
    { field: 'metadata.name', operator: '=', value: 'a,b' },
    { field: 'metadata.namespace', operator: '=', value: 'x=y' },
  ]);
  t.equal(s.toString(), 'metadata.name=a\\,b,metadata.namespace=x\\=y');
  t.ok(s.matches({ 'metadata.name': 'a,b', 'metadata.namespace': 'x=y' }));
});

const parseErrors: Array<[input: string, message: string]> = [
  ['status.phase', "invalid selector: 'status.phase'; can't understand 'status.phase'"],
  ['a=b,c', "invalid selector: 'a=b,c'; can't understand 'c'"],
  ['a=b\\c', 'invalid field selector: invalid escape sequence: \\c'],
  ['a=b\\', 'invalid field selector: invalid escape sequence: \\'],
  ['a=b=c', 'invalid field selector: unescaped character in value: 61'],
];

t.test('rejects malformed field selectors with upstream wording', async (t) => {
  for (const [input, message] of parseErrors) {
    t.throws(() => parseFieldSelector(input), { code: 'PODNET_BAD_REQUEST', message }, JSON.stringify(input));
  }
});

t.test('objectFields gives the fields the API server exposes per kind', async (t) => {
  t.same(objectFields(pod), {
    'metadata.name': 'web-0',
    'metadata.namespace': 'default',
    'spec.nodeName': 'node-a',
    'spec.restartPolicy': 'Always',
    'spec.schedulerName': 'default-scheduler',
    'spec.serviceAccountName': 'default',
    'spec.hostNetwork': 'false',
    'status.phase': 'Running',
    'status.podIP': '10.244.1.5',
    'status.nominatedNodeName': '',
  });
  t.same(objectFields({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { unschedulable: true } }), {
    'metadata.name': 'n1',
    'spec.unschedulable': 'true',
  });
  t.same(objectFields({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' }, status: { phase: 'Active' } }), {
    'metadata.name': 'kube-system',
    'status.phase': 'Active',
  });
  t.same(objectFields({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'ns' }, type: 'Opaque' }), {
    'metadata.name': 's',
    'metadata.namespace': 'ns',
    type: 'Opaque',
  });
  t.same(objectFields({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'ns' }, spec: { clusterIP: '10.96.0.10', type: 'ClusterIP' } }), {
    'metadata.name': 'web',
    'metadata.namespace': 'ns',
    'spec.clusterIP': '10.96.0.10',
    'spec.type': 'ClusterIP',
  });
  const event: KubeObject = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: 'web-0.17a', namespace: 'default' },
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-0', uid: 'u1', apiVersion: 'v1', resourceVersion: '42', fieldPath: 'spec.containers{web}' },
    reason: 'Scheduled',
    type: 'Normal',
    source: { component: 'default-scheduler' },
  };
  t.same(objectFields(event), {
    'metadata.name': 'web-0.17a',
    'metadata.namespace': 'default',
    'involvedObject.kind': 'Pod',
    'involvedObject.namespace': 'default',
    'involvedObject.name': 'web-0',
    'involvedObject.uid': 'u1',
    'involvedObject.apiVersion': 'v1',
    'involvedObject.resourceVersion': '42',
    'involvedObject.fieldPath': 'spec.containers{web}',
    reason: 'Scheduled',
    reportingComponent: '',
    source: 'default-scheduler',
    type: 'Normal',
  });
  t.same(objectFields({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i', namespace: 'ns' } }), {
    'metadata.name': 'i',
    'metadata.namespace': 'ns',
  });
  t.equal(objectFields({ ...pod, spec: { ...pod.spec, hostNetwork: true } })['spec.hostNetwork'], 'true');
});

// Kinds with a field-label conversion function answer "field label not supported: X"
// (pkg/apis/core/v1/conversion.go); the others DefaultMetaV1FieldSelectorConversion's text, which
// the concept page quotes for `kubectl get ingress --field-selector foo.bar=baz`.
const validation: Array<[kind: string, selector: string, error: string | undefined]> = [
  ['Pod', 'status.phase=Running,spec.nodeName=node-a', undefined],
  ['Pod', 'spec.foo=bar', 'field label not supported: spec.foo'],
  ['Node', 'spec.unschedulable=true', undefined],
  ['Node', 'metadata.namespace=default', 'field label not supported: metadata.namespace'],
  ['Secret', 'type=kubernetes.io/tls', undefined],
  ['Event', 'involvedObject.name=web-0,reason=Scheduled', undefined],
  ['Namespace', 'status.phase=Active', undefined],
  ['Service', 'spec.type=NodePort', undefined],
  ['Job', 'status.successful=1', undefined],
  ['Job', 'status.failed=1', 'field label "status.failed" not supported for batchv1.Job'],
  ['Ingress', 'foo.bar=baz', '"foo.bar" is not a known field selector: only "metadata.name", "metadata.namespace"'],
  ['EndpointSlice', 'metadata.namespace!=default', undefined],
];

t.test('validateFieldSelector accepts the supported fields of each kind only', async (t) => {
  for (const [kind, selector, error] of validation) {
    if (error) t.throws(() => validateFieldSelector(kind, selector), { code: 'PODNET_BAD_REQUEST', message: error }, `${kind} ${selector}`);
    else t.equal(validateFieldSelector(kind, selector).toString(), parseFieldSelector(selector).toString(), `${kind} ${selector}`);
  }
  t.ok(supportedFieldLabels('Pod').includes('status.podIP'));
});

t.test('the legacy spec.host field is read as spec.nodeName on Pods', async (t) => {
  const s = validateFieldSelector('Pod', parseFieldSelector('spec.host=node-a'));
  t.equal(s.toString(), 'spec.nodeName=node-a');
  t.ok(s.matches(objectFields(pod)));
});

t.test('fieldSelectorFromSet requires every field', async (t) => {
  const s = fieldSelectorFromSet({ 'spec.nodeName': 'node-a' });
  t.equal(s.requiresExactMatch('spec.nodeName'), 'node-a');
  t.ok(s.matches(objectFields(pod)));
  t.notOk(s.matches({}));
});
