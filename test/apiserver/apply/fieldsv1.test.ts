import t from 'tap';
import { parse, stringify } from 'yaml';
import { applyObject, updateManagedFields } from '../../../lib/apiserver/apply/ssa.js';
import {
  decodeFieldsV1,
  deserializePathElement,
  encodeFieldsV1,
  FieldSet,
  fieldSetOf,
  pathToString,
  serializePathElement,
  type FieldPath,
} from '../../../lib/apiserver/apply/fieldset.js';
import type { KubeObject } from '../../../lib/api/meta.js';

// Kubernetes docs, "Server-Side Apply" (reference/using-api/server-side-apply), section
// "Field management", "Example" {#ssa-example-configmap}: the ConfigMap `test-cm` as created by a
// server-side apply, with its one managedFields entry.
const docExample = `
apiVersion: v1
kind: ConfigMap
metadata:
  name: test-cm
  namespace: default
  labels:
    test-label: test
  managedFields:
  - manager: kubectl
    operation: Apply # note capitalization: "Apply" (or "Update")
    apiVersion: v1
    time: "2010-10-10T0:00:00Z"
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:labels:
          f:test-label: {}
      f:data:
        f:key: {}
data:
  key: some value
`;

/** The configuration `kubectl apply --server-side` sends for the doc's example. */
function testCm(value: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'test-cm', namespace: 'default', labels: { 'test-label': 'test' } },
    data: { key: value },
  };
}

/** The lines of a YAML block in the doc, dedented, for a byte-for-byte comparison. */
function block(yamlText: string, from: string, indent: number): string {
  const lines = yamlText.split('\n');
  const start = lines.findIndex((l) => l.trimEnd().endsWith(from)) + 1;
  const out: string[] = [];
  for (const l of lines.slice(start)) {
    if (l.trim() === '' || l.length - l.trimStart().length < indent) break;
    out.push(l.slice(indent));
  }
  return `${out.join('\n')}\n`;
}

t.test('Field management, Example: the test-cm managedFields entry', async (t) => {
  const expected = parse(docExample) as KubeObject;
  const { object } = applyObject({ live: undefined, applied: testCm('some value'), manager: 'kubectl', force: false, kind: 'ConfigMap', now: '2010-10-10T0:00:00Z' });
  t.same(object, expected, 'the created object is the doc example, managedFields included');
  t.strictSame(object.metadata.managedFields, expected.metadata.managedFields);

  const entry = object.metadata.managedFields![0] as Record<string, unknown>;
  t.strictSame(Object.keys(entry), ['manager', 'operation', 'apiVersion', 'time', 'fieldsType', 'fieldsV1'], 'entry fields in the doc order');
  // Byte for byte, each top-level field's FieldsV1 as the doc prints it. The doc lists f:metadata
  // before f:data; structured-merge-diff stores fields sorted (f:data first), which is the only
  // difference from the doc's text.
  const fieldsV1 = entry.fieldsV1 as Record<string, unknown>;
  t.equal(stringify({ 'f:metadata': fieldsV1['f:metadata'] }), block(docExample, 'fieldsV1:', 6).split('f:data:')[0]);
  t.equal(stringify({ 'f:data': fieldsV1['f:data'] }), `f:data:\n${block(docExample, 'fieldsV1:', 6).split('f:data:\n')[1]}`);
  t.equal(JSON.stringify(fieldsV1), '{"f:data":{"f:key":{}},"f:metadata":{"f:labels":{"f:test-label":{}}}}', 'the stored JSON, as fieldpath.Set.ToJSON writes it');
});

// Same page, section "Operations in scope for field management" {#apply-and-update}: the
// ConfigMap after kube-controller-manager changed `data.key` with an update.
const docMultiManager = `
apiVersion: v1
kind: ConfigMap
metadata:
  name: test-cm
  namespace: default
  labels:
    test-label: test
  managedFields:
  - manager: kubectl
    operation: Apply
    time: '2019-03-30T15:00:00.000Z'
    apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:labels:
          f:test-label: {}
  - manager: kube-controller-manager
    operation: Update
    apiVersion: v1
    time: '2019-03-30T16:00:00.000Z'
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:key: {}
data:
  key: new value
`;

t.test('Operations in scope for field management: an update moves data.key to kube-controller-manager', async (t) => {
  const expected = parse(docMultiManager) as KubeObject;
  const { object: created } = applyObject({ live: undefined, applied: testCm('some value'), manager: 'kubectl', force: false, kind: 'ConfigMap', now: '2019-03-30T15:00:00.000Z' });
  const updated = structuredClone(created);
  updated.data.key = 'new value';
  const { object } = updateManagedFields({ live: created, updated, manager: 'kube-controller-manager', operation: 'Update', kind: 'ConfigMap', now: '2019-03-30T16:00:00.000Z' });
  t.same(object, expected, 'the doc example, both entries');
  const [kubectl, kcm] = object.metadata.managedFields as Array<Record<string, unknown>>;
  t.equal(stringify(kubectl!.fieldsV1), block(docMultiManager, 'fieldsV1:', 6), 'kubectl FieldsV1 byte for byte');
  t.equal(stringify(kcm!.fieldsV1), block(docMultiManager.split('kube-controller-manager')[1]!, 'fieldsV1:', 6), 'kube-controller-manager FieldsV1 byte for byte');

  // "If this update has instead been attempted using Server-Side Apply, the request would have
  // failed due to conflicting ownership."
  t.throws(
    () => applyObject({ live: created, applied: testCm('new value'), manager: 'kube-controller-manager', force: false, kind: 'ConfigMap', now: '2019-03-30T16:00:00.000Z' }),
    { code: 'PODNET_APPLY_CONFLICT', message: 'Apply failed with 1 conflict: conflict with "kubectl": .data.key' },
  );
});

// structured-merge-diff fieldpath/serialize_test.go, TestSerializeV1GoldenData: decoding then
// encoding gives the same bytes, so key order is upstream's (fields, keys, values, indices).
const golden = [
  '{"f:aaa":{},"f:aab":{},"f:aac":{},"f:aad":{},"f:aae":{},"f:aaf":{},"k:{\\"name\\":\\"first\\"}":{},"k:{\\"name\\":\\"second\\"}":{},"k:{\\"port\\":443,\\"protocol\\":\\"tcp\\"}":{},"k:{\\"port\\":443,\\"protocol\\":\\"udp\\"}":{},"v:1":{},"v:2":{},"v:3":{},"v:\\"aa\\"":{},"v:\\"ab\\"":{},"v:true":{},"i:1":{},"i:2":{},"i:3":{},"i:4":{}}',
  '{"f:aaa":{"k:{\\"name\\":\\"second\\"}":{"v:3":{"f:aab":{}}},"v:3":{},"v:true":{}},"f:aab":{"f:aaa":{},"f:aaf":{"k:{\\"port\\":443,\\"protocol\\":\\"udp\\"}":{"k:{\\"port\\":443,\\"protocol\\":\\"tcp\\"}":{}}},"k:{\\"name\\":\\"first\\"}":{}},"f:aac":{"f:aaa":{"v:1":{}},"f:aac":{},"v:3":{"k:{\\"name\\":\\"second\\"}":{}}},"i:1":{"i:3":{"f:aaf":{}}}}',
];

t.test('FieldsV1 round trip keeps structured-merge-diff key order', async (t) => {
  for (const text of golden) {
    const set = decodeFieldsV1(JSON.parse(text));
    t.equal(JSON.stringify(encodeFieldsV1(set)), text);
  }
});

t.test('FieldsV1: `.` marks a node that is itself a member; unknown key types are dropped', async (t) => {
  const path: FieldPath = [{ field: 'spec' }, { field: 'containers' }, { key: { name: 'nginx' } }];
  const set = FieldSet.of(path, [...path, { field: 'image' }], [...path, { field: 'name' }]);
  t.equal(JSON.stringify(encodeFieldsV1(set)), '{"f:spec":{"f:containers":{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{}}}}}');
  t.ok(decodeFieldsV1(encodeFieldsV1(set)).equals(set));
  t.ok(decodeFieldsV1({ 'f:a': {}, 'x:future': {} }).equals(FieldSet.of([{ field: 'a' }])));
  t.throws(() => decodeFieldsV1({ 'k:not json': {} }), { code: 'PODNET_BAD_REQUEST' });
  t.equal(serializePathElement({ key: { protocol: 'TCP', containerPort: 80 } }), 'k:{"containerPort":80,"protocol":"TCP"}', 'key fields sorted');
  t.same(deserializePathElement('v:"example.com/x"'), { value: 'example.com/x' });
  t.same(deserializePathElement('i:3'), { index: 3 });
});

t.test('path strings as conflicts print them', async (t) => {
  t.equal(pathToString([{ field: 'spec' }, { field: 'replicas' }]), '.spec.replicas');
  t.equal(
    pathToString([{ field: 'spec' }, { field: 'template' }, { field: 'spec' }, { field: 'containers' }, { key: { name: 'nginx' } }, { field: 'image' }]),
    '.spec.template.spec.containers[name="nginx"].image',
  );
  t.equal(pathToString([{ field: 'ports' }, { key: { protocol: 'TCP', containerPort: 80 } }]), '.ports[containerPort=80,protocol="TCP"]');
  t.equal(pathToString([{ field: 'finalizers' }, { value: 'a/b' }]), '.finalizers[="a/b"]');
  t.equal(pathToString([{ field: 'args' }, { index: 0 }]), '.args[0]');
});

t.test('set algebra', async (t) => {
  const a = FieldSet.of([{ field: 'a' }], [{ field: 'b' }, { field: 'c' }]);
  const b = FieldSet.of([{ field: 'b' }, { field: 'c' }], [{ field: 'd' }]);
  t.equal(a.union(b).toString(), '.a\n.d\n.b.c');
  t.equal(a.intersection(b).toString(), '.b.c');
  t.equal(a.difference(b).toString(), '.a');
  t.ok(a.difference(a).empty);
  t.equal(a.union(b).size, 3);
  t.ok(a.has([{ field: 'b' }, { field: 'c' }]));
  t.notOk(a.has([{ field: 'b' }]), 'a node with members below is not itself a member');
});

// "Merge strategy": lists with patchStrategy=merge are list-maps keyed by patchMergeKey, unless a
// +listMapKey says otherwise; `+listType=set` lists own each value; everything else is atomic.
t.test('Merge strategy: fieldSetOf by list type', async (t) => {
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', finalizers: ['example.com/cleanup'], ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'x', uid: 'u-1' }] },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        spec: {
          containers: [{ name: 'nginx', image: 'nginx', args: ['-g', 'daemon off;'], ports: [{ containerPort: 80 }] }],
          tolerations: [{ key: 'k', operator: 'Exists' }],
          nodeSelector: { zone: 'a' },
        },
      },
    },
  };
  t.same(encodeFieldsV1(fieldSetOf(deployment, 'Deployment')), {
    'f:metadata': {
      'f:finalizers': { 'v:"example.com/cleanup"': {} },
      'f:ownerReferences': { 'k:{"uid":"u-1"}': {} },
    },
    'f:spec': {
      'f:selector': {},
      'f:template': {
        'f:spec': {
          'f:containers': {
            'k:{"name":"nginx"}': {
              '.': {},
              'f:args': {},
              'f:image': {},
              'f:name': {},
              'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
            },
          },
          'f:nodeSelector': {},
          'f:tolerations': {},
        },
      },
    },
  });

  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }], selector: { app: 'web' } },
  };
  t.equal(
    fieldSetOf(service, 'Service').toString(),
    ['.spec.selector', '.spec.ports[port=53,protocol="TCP"]', '.spec.ports[port=53,protocol="UDP"]', '.spec.ports[port=53,protocol="TCP"].port', '.spec.ports[port=53,protocol="TCP"].protocol', '.spec.ports[port=53,protocol="UDP"].port', '.spec.ports[port=53,protocol="UDP"].protocol'].join('\n'),
    'Service ports keyed by port and protocol (+listMapKey), not by port alone (patchMergeKey)',
  );

  t.throws(() => fieldSetOf({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ image: 'x' }] } }, 'Pod'), {
    message: '.spec.containers: element 0: associative list with keys has an element that omits key field "name" (and doesn\'t have default value)',
  });
  t.throws(() => fieldSetOf({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a' }, { name: 'a' }] } }, 'Pod'), {
    message: '.spec.containers: duplicate entries for key [name="a"]',
  });
});
