import t from 'tap';
import { jsonPatch, mergePatch, patchStrategiesFor, strategicMergePatch, type JsonPatchOperation } from '../../lib/apimachinery/patch.js';
import type { KubeObject } from '../../lib/api/meta.js';

// ---------------------------------------------------------------------------------------------
// RFC 7386, Appendix A "Example Test Cases": original, patch, result.
const rfc7386: Array<[original: unknown, patch: unknown, result: unknown]> = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [['a', 'b'], ['c', 'd'], ['c', 'd']],
  [{ a: 'b' }, ['c'], ['c']],
  [{ a: 'foo' }, null, null],
  [{ a: 'foo' }, 'bar', 'bar'],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

t.test('JSON merge patch: RFC 7386 appendix A', async (t) => {
  for (const [original, patch, result] of rfc7386) {
    const before = structuredClone(original);
    t.same(mergePatch(original, patch), result, `${JSON.stringify(original)} + ${JSON.stringify(patch)}`);
    t.same(original, before, 'the target is left unchanged');
  }
});

t.test('JSON merge patch: RFC 7386 section 3 example', async (t) => {
  const target = {
    title: 'Goodbye!',
    author: { givenName: 'John', familyName: 'Doe' },
    tags: ['example', 'sample'],
    content: 'This will be unchanged',
  };
  const patch = { title: 'Hello!', phoneNumber: '+01-123-456-7890', author: { familyName: null }, tags: ['example'] };
  t.same(mergePatch(target, patch), {
    title: 'Hello!',
    author: { givenName: 'John' },
    tags: ['example'],
    content: 'This will be unchanged',
    phoneNumber: '+01-123-456-7890',
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 6902, Appendix A "Examples" (A.13, a document with a duplicate "op" member, cannot be
// represented once parsed and is left out). An `Error` result means the patch must be rejected.
const rfc6902: Array<[section: string, target: unknown, ops: unknown[], result: unknown]> = [
  ['A.1 Adding an Object Member', { foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }], { baz: 'qux', foo: 'bar' }],
  ['A.2 Adding an Array Element', { foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }], { foo: ['bar', 'qux', 'baz'] }],
  ['A.3 Removing an Object Member', { baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }], { foo: 'bar' }],
  ['A.4 Removing an Array Element', { foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }], { foo: ['bar', 'baz'] }],
  ['A.5 Replacing a Value', { baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }], { baz: 'boo', foo: 'bar' }],
  [
    'A.6 Moving a Value',
    { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
    [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
    { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
  ],
  ['A.7 Moving an Array Element', { foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }], { foo: ['all', 'cows', 'eat', 'grass'] }],
  [
    'A.8 Testing a Value: Success',
    { baz: 'qux', foo: ['a', 2, 'c'] },
    [
      { op: 'test', path: '/baz', value: 'qux' },
      { op: 'test', path: '/foo/1', value: 2 },
    ],
    { baz: 'qux', foo: ['a', 2, 'c'] },
  ],
  ['A.9 Testing a Value: Error', { baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }], Error],
  ['A.10 Adding a Nested Member Object', { foo: 'bar' }, [{ op: 'add', path: '/child', value: { grandchild: {} } }], { foo: 'bar', child: { grandchild: {} } }],
  ['A.11 Ignoring Unrecognized Elements', { foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }], { foo: 'bar', baz: 'qux' }],
  ['A.12 Adding to a Nonexistent Target', { foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }], Error],
  ['A.14 ~ Escape Ordering', { '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: 10 }], { '/': 9, '~1': 10 }],
  ['A.15 Comparing Strings and Numbers', { '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: '10' }], Error],
  ['A.16 Adding an Array Value', { foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }], { foo: ['bar', ['abc', 'def']] }],
];

t.test('JSON patch: RFC 6902 appendix A', async (t) => {
  for (const [section, target, ops, result] of rfc6902) {
    const before = structuredClone(target);
    if (result === Error) t.throws(() => jsonPatch(target, ops), { code: 'PODNET_BAD_REQUEST' }, section);
    else t.same(jsonPatch(target, ops), result, section);
    t.same(target, before, `${section}: the target is left unchanged`);
  }
});

t.test('JSON patch: copy, whole-document and bad operations', async (t) => {
  t.same(jsonPatch({ a: { b: [1] } }, [{ op: 'copy', from: '/a', path: '/c' }]), { a: { b: [1] }, c: { b: [1] } });
  t.same(jsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }]), { b: 2 });
  t.same(jsonPatch({ a: 1 }, [{ op: 'add', path: '', value: [1] }]), [1]);
  t.same(jsonPatch({ 'a/b': 1, 'm~n': 2 }, [{ op: 'remove', path: '/a~1b' }, { op: 'replace', path: '/m~0n', value: 3 }]), { 'm~n': 3 });
  const bad: Array<[string, unknown, unknown]> = [
    ['remove a missing member', { a: 1 }, [{ op: 'remove', path: '/b' }]],
    ['replace a missing member', { a: 1 }, [{ op: 'replace', path: '/b', value: 1 }]],
    ['add past the end of an array', { a: [] }, [{ op: 'add', path: '/a/1', value: 1 }]],
    ['remove "-"', { a: [1] }, [{ op: 'remove', path: '/a/-' }]],
    ['leading zero index', { a: [1, 2] }, [{ op: 'remove', path: '/a/01' }]],
    ['move into its own child', { a: { b: {} } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]],
    ['pointer without a leading slash', { a: 1 }, [{ op: 'remove', path: 'a' }]],
    ['bad escape', { a: 1 }, [{ op: 'remove', path: '/a~2' }]],
    ['unknown op', { a: 1 }, [{ op: 'frobnicate', path: '/a' }]],
    ['add without value', { a: 1 }, [{ op: 'add', path: '/b' }]],
    ['not an array', { a: 1 }, { op: 'add', path: '/b', value: 1 }],
  ];
  for (const [what, target, ops] of bad) t.throws(() => jsonPatch(target, ops), { code: 'PODNET_BAD_REQUEST' }, what);
  // All or nothing: the second operation fails, the first does not show.
  const target = { a: 1 };
  t.throws(() => jsonPatch(target, [{ op: 'add', path: '/b', value: 2 }, { op: 'test', path: '/a', value: 2 }] satisfies JsonPatchOperation[]));
  t.same(target, { a: 1 });
});

// ---------------------------------------------------------------------------------------------
// Strategic merge patch: the exercises of "Update API Objects in Place Using kubectl patch"
// (kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/).

/** application/deployment-patch.yaml from that page. */
function patchDemo(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'patch-demo' },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'nginx' } },
      template: {
        metadata: { labels: { app: 'nginx' } },
        spec: {
          containers: [{ name: 'patch-demo-ctr', image: 'nginx' }],
          tolerations: [{ effect: 'NoSchedule', key: 'dedicated', value: 'test-team' }],
        },
      },
    },
  };
}

/** application/deployment-retainkeys.yaml from that page. */
function retainKeysDemo(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'retainkeys-demo' },
    spec: {
      selector: { matchLabels: { app: 'nginx' } },
      strategy: { rollingUpdate: { maxSurge: '30%' } },
      template: {
        metadata: { labels: { app: 'nginx' } },
        spec: { containers: [{ name: 'retainkeys-demo-ctr', image: 'nginx' }] },
      },
    },
  };
}

t.test('kubectl patch docs: strategic merge patch adds a container (patch-file-containers.yaml)', async (t) => {
  const live = patchDemo();
  const patched = strategicMergePatch(live, { spec: { template: { spec: { containers: [{ name: 'patch-demo-ctr-2', image: 'redis' }] } } } }, 'Deployment');
  // "The output shows that the PodSpec in the Deployment has two Containers", redis listed first.
  t.same(patched.spec.template.spec.containers, [
    { name: 'patch-demo-ctr-2', image: 'redis' },
    { name: 'patch-demo-ctr', image: 'nginx' },
  ]);
  t.same(patched.spec.template.spec.tolerations, live.spec.template.spec.tolerations);
  t.same(live, patchDemo(), 'the live object is left unchanged');
});

t.test('kubectl patch docs: tolerations have no patch strategy and are replaced (patch-file-tolerations.yaml)', async (t) => {
  const patched = strategicMergePatch(
    patchDemo(),
    { spec: { template: { spec: { tolerations: [{ effect: 'NoSchedule', key: 'disktype', value: 'ssd' }] } } } },
    'Deployment',
  );
  t.same(patched.spec.template.spec.tolerations, [{ effect: 'NoSchedule', key: 'disktype', value: 'ssd' }]);
  t.same(patched.spec.template.spec.containers, [{ name: 'patch-demo-ctr', image: 'nginx' }]);
});

t.test('kubectl patch docs: a JSON merge patch replaces the container list (patch-file-2.yaml)', async (t) => {
  const patched = mergePatch<KubeObject>(patchDemo(), {
    spec: { template: { spec: { containers: [{ name: 'patch-demo-ctr-3', image: 'gcr.io/google-samples/hello-app:2.0' }] } } },
  });
  t.same(patched.spec.template.spec.containers, [{ name: 'patch-demo-ctr-3', image: 'gcr.io/google-samples/hello-app:2.0' }]);
});

t.test('kubectl patch docs: the retainKeys strategy (patch-file-no-retainkeys.yaml, patch-file-retainkeys.yaml)', async (t) => {
  // Without the directive rollingUpdate stays, which validation then rejects for Recreate.
  const merged = strategicMergePatch(retainKeysDemo(), { spec: { strategy: { type: 'Recreate' } } }, 'Deployment');
  t.same(merged.spec.strategy, { rollingUpdate: { maxSurge: '30%' }, type: 'Recreate' });
  // "the strategy object in the Deployment does not contain the rollingUpdate key anymore".
  const retained = strategicMergePatch(retainKeysDemo(), { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }, 'Deployment');
  t.same(retained.spec.strategy, { type: 'Recreate' });
  t.ok(patchStrategiesFor('Deployment')['spec.strategy']?.retainKeys);
});

// ---------------------------------------------------------------------------------------------
// Strategic merge patch: the examples of "Strategic Merge Patch" (kubernetes/community,
// contributors/devel/sig-api-machinery/strategic-merge-patch.md), one row per example.

function pod(spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pod-name', ...metadata }, spec };
}

const smpDoc: Array<[example: string, live: KubeObject, patch: unknown, result: unknown, at: (o: KubeObject) => unknown]> = [
  [
    'Background: containers merge by name',
    pod({ containers: [{ name: 'nginx', image: 'nginx-1.0' }] }),
    { spec: { containers: [{ name: 'log-tailer', image: 'log-tailer-1.0' }] } },
    [
      { name: 'log-tailer', image: 'log-tailer-1.0' },
      { name: 'nginx', image: 'nginx-1.0' },
    ],
    (o) => o.spec.containers,
  ],
  [
    'replace directive: map',
    pod({ containers: [{ name: 'old', image: 'old' }], restartPolicy: 'Always' }),
    { spec: { $patch: 'replace', containers: [{ name: 'nginx', image: 'nginx-1.0' }] } },
    { containers: [{ name: 'nginx', image: 'nginx-1.0' }] },
    (o) => o.spec,
  ],
  [
    'replace directive: list of maps',
    pod({ containers: [{ name: 'nginx', image: 'nginx-0.9', ports: [{ containerPort: 80 }] }, { name: 'log-tailer', image: 'lt' }] }),
    { spec: { containers: [{ name: 'nginx', image: 'nginx-1.0' }, { $patch: 'replace' }] } },
    [{ name: 'nginx', image: 'nginx-1.0' }],
    (o) => o.spec.containers,
  ],
  [
    'delete directive: list of maps',
    pod({ containers: [{ name: 'nginx', image: 'nginx-0.9' }, { name: 'log-tailer', image: 'lt' }] }),
    { spec: { containers: [{ name: 'nginx', image: 'nginx-1.0' }, { $patch: 'delete', name: 'log-tailer' }] } },
    [{ name: 'nginx', image: 'nginx-1.0' }],
    (o) => o.spec.containers,
  ],
  [
    'delete directive: maps ("Applying this patch will delete the rollingUpdate map")',
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } },
    { spec: { strategy: { rollingUpdate: { $patch: 'delete' } } } },
    { type: 'RollingUpdate' },
    (o) => o.spec.strategy,
  ],
  [
    'delete directive: maps, the equivalent null',
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } },
    { spec: { strategy: { rollingUpdate: null } } },
    { type: 'RollingUpdate' },
    (o) => o.spec.strategy,
  ],
  [
    'deleteFromPrimitiveList directive: finalizers',
    pod({}, { finalizers: ['a', 'b', 'c'] }),
    { metadata: { '$deleteFromPrimitiveList/finalizers': ['b', 'c'] } },
    ['a'],
    (o) => o.metadata.finalizers,
  ],
  [
    'setElementOrder directive: list of primitives',
    pod({}, { finalizers: ['a', 'b', 'c'] }),
    { metadata: { '$setElementOrder/finalizers': ['b', 'c', 'a'] } },
    ['b', 'c', 'a'],
    (o) => o.metadata.finalizers,
  ],
  [
    'setElementOrder directive: list of maps',
    pod({ containers: [{ name: 'a', image: 'a' }, { name: 'b', image: 'b' }, { name: 'c', image: 'c' }] }),
    { spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'c' }, { name: 'a' }] } },
    [
      { name: 'b', image: 'b' },
      { name: 'c', image: 'c' },
      { name: 'a', image: 'a' },
    ],
    (o) => o.spec.containers,
  ],
  [
    'retainKeys directive: map',
    pod({ union: { foo: 'a', other: 'b' } }),
    { spec: { union: { $retainKeys: ['another', 'bar'], another: 'd', bar: 'c' } } },
    { another: 'd', bar: 'c' },
    (o) => o.spec.union,
  ],
];

t.test('strategic merge patch: the directives of strategic-merge-patch.md', async (t) => {
  for (const [example, live, patch, result, at] of smpDoc) {
    const before = structuredClone(live);
    t.same(at(strategicMergePatch(live, patch, live.kind)), result, example);
    t.same(live, before, `${example}: the live object is left unchanged`);
  }
});

// ---------------------------------------------------------------------------------------------
// Strategic merge patch: the patchMergeKey of each list in the kinds' tables
// (struct tags of k8s.io/api/core/v1, apps/v1 and meta/v1).
const mergeKeys: Array<[what: string, kind: string, live: unknown, patch: unknown, result: unknown, at: (o: KubeObject) => unknown]> = [
  [
    'container ports merge by containerPort',
    'Pod',
    { spec: { containers: [{ name: 'c', ports: [{ containerPort: 80, name: 'http' }, { containerPort: 443 }] }] } },
    { spec: { containers: [{ name: 'c', ports: [{ containerPort: 80, protocol: 'TCP' }] }] } },
    [{ containerPort: 80, name: 'http', protocol: 'TCP' }, { containerPort: 443 }],
    (o) => o.spec.containers[0].ports,
  ],
  [
    'container env merges by name',
    'Pod',
    { spec: { containers: [{ name: 'c', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }] } },
    { spec: { containers: [{ name: 'c', env: [{ name: 'B', value: '3' }] }] } },
    [{ name: 'A', value: '1' }, { name: 'B', value: '3' }],
    (o) => o.spec.containers[0].env,
  ],
  [
    'volumeMounts merge by mountPath',
    'Pod',
    { spec: { containers: [{ name: 'c', volumeMounts: [{ name: 'v1', mountPath: '/a' }] }] } },
    { spec: { containers: [{ name: 'c', volumeMounts: [{ name: 'v2', mountPath: '/a', readOnly: true }] }] } },
    [{ name: 'v2', mountPath: '/a', readOnly: true }],
    (o) => o.spec.containers[0].volumeMounts,
  ],
  [
    'initContainers merge by name',
    'Pod',
    { spec: { initContainers: [{ name: 'init', image: 'busybox' }] } },
    { spec: { initContainers: [{ name: 'init', image: 'busybox:1.36' }] } },
    [{ name: 'init', image: 'busybox:1.36' }],
    (o) => o.spec.initContainers,
  ],
  [
    'volumes merge by name',
    'Pod',
    { spec: { volumes: [{ name: 'data', emptyDir: {} }, { name: 'cfg', configMap: { name: 'x' } }] } },
    { spec: { volumes: [{ name: 'cfg', configMap: { name: 'y' } }] } },
    [{ name: 'data', emptyDir: {} }, { name: 'cfg', configMap: { name: 'y' } }],
    (o) => o.spec.volumes,
  ],
  [
    'imagePullSecrets merge by name',
    'Pod',
    { spec: { imagePullSecrets: [{ name: 'a' }] } },
    { spec: { imagePullSecrets: [{ name: 'b' }] } },
    [{ name: 'b' }, { name: 'a' }],
    (o) => o.spec.imagePullSecrets,
  ],
  [
    'pod status conditions merge by type',
    'Pod',
    { status: { conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'False' }] } },
    { status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'True' }],
    (o) => o.status.conditions,
  ],
  [
    'template containers of a StatefulSet merge by name',
    'StatefulSet',
    { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:1.24' }, { name: 'side', image: 's' }] } } } },
    { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] } } } },
    [{ name: 'web', image: 'nginx:1.25' }, { name: 'side', image: 's' }],
    (o) => o.spec.template.spec.containers,
  ],
  [
    'template env of a DaemonSet merges by name',
    'DaemonSet',
    { spec: { template: { spec: { containers: [{ name: 'agent', env: [{ name: 'A', value: '1' }] }] } } } },
    { spec: { template: { spec: { containers: [{ name: 'agent', env: [{ name: 'B', value: '2' }] }] } } } },
    [{ name: 'B', value: '2' }, { name: 'A', value: '1' }],
    (o) => o.spec.template.spec.containers[0].env,
  ],
  [
    'service ports merge by port',
    'Service',
    { spec: { ports: [{ port: 80, targetPort: 8080, name: 'http' }, { port: 443, name: 'https' }] } },
    { spec: { ports: [{ port: 80, targetPort: 9090 }] } },
    [{ port: 80, targetPort: 9090, name: 'http' }, { port: 443, name: 'https' }],
    (o) => o.spec.ports,
  ],
  [
    'ownerReferences merge by uid',
    'ConfigMap',
    { metadata: { name: 'x', ownerReferences: [{ uid: 'u1', kind: 'A', name: 'a', apiVersion: 'v1' }] } },
    { metadata: { ownerReferences: [{ uid: 'u1', controller: true }] } },
    [{ uid: 'u1', kind: 'A', name: 'a', apiVersion: 'v1', controller: true }],
    (o) => o.metadata.ownerReferences,
  ],
  [
    'finalizers merge as a set',
    'ConfigMap',
    { metadata: { name: 'x', finalizers: ['a', 'b'] } },
    { metadata: { finalizers: ['b', 'c'] } },
    ['a', 'b', 'c'],
    (o) => o.metadata.finalizers,
  ],
  [
    'a new finalizer lands before the live ones not in the patch',
    'ConfigMap',
    { metadata: { name: 'x', finalizers: ['a', 'b'] } },
    { metadata: { finalizers: ['c'] } },
    ['c', 'a', 'b'],
    (o) => o.metadata.finalizers,
  ],
  [
    'node conditions merge by type',
    'Node',
    { status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'MemoryPressure', status: 'False' }] } },
    { status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    [{ type: 'Ready', status: 'True' }, { type: 'MemoryPressure', status: 'False' }],
    (o) => o.status.conditions,
  ],
  [
    'node addresses merge by type, as upstream tags them',
    'Node',
    { status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'Hostname', address: 'n1' }] } },
    { status: { addresses: [{ type: 'InternalIP', address: '10.0.0.2' }] } },
    [{ type: 'InternalIP', address: '10.0.0.2' }, { type: 'Hostname', address: 'n1' }],
    (o) => o.status.addresses,
  ],
  [
    'EndpointSlice endpoints have no strategy and are replaced',
    'EndpointSlice',
    { endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }] },
    { endpoints: [{ addresses: ['10.0.0.3'] }] },
    [{ addresses: ['10.0.0.3'] }],
    (o) => o.endpoints,
  ],
  [
    'unknown lists are replaced wholesale',
    'Pod',
    { spec: { containers: [{ name: 'c', args: ['a', 'b'] }] } },
    { spec: { containers: [{ name: 'c', args: ['c'] }] } },
    ['c'],
    (o) => o.spec.containers[0].args,
  ],
  [
    'labels merge as a map, null deleting one',
    'Pod',
    { metadata: { name: 'p', labels: { app: 'web', tier: 'fe' } } },
    { metadata: { labels: { tier: null, track: 'canary' } } },
    { app: 'web', track: 'canary' },
    (o) => o.metadata.labels,
  ],
  [
    'a delete directive for a container port',
    'Pod',
    { spec: { containers: [{ name: 'c', ports: [{ containerPort: 80 }, { containerPort: 443 }] }] } },
    { spec: { containers: [{ name: 'c', ports: [{ containerPort: 80, $patch: 'delete' }] }] } },
    [{ containerPort: 443 }],
    (o) => o.spec.containers[0].ports,
  ],
  [
    'an explicit $patch: merge is the default',
    'Pod',
    { metadata: { name: 'p', labels: { a: '1' } } },
    { metadata: { labels: { $patch: 'merge', b: '2' } } },
    { a: '1', b: '2' },
    (o) => o.metadata.labels,
  ],
  [
    'a new field has its directives applied, not stored',
    'Pod',
    { spec: {} },
    { spec: { containers: [{ name: 'a' }, { name: 'b', $patch: 'delete' }], securityContext: { runAsUser: 1, fsGroup: null } } },
    { containers: [{ name: 'a' }], securityContext: { runAsUser: 1 } },
    (o) => o.spec,
  ],
];

t.test('strategic merge patch: lists merge by their patchMergeKey', async (t) => {
  for (const [what, kind, live, patch, result, at] of mergeKeys) {
    const object = { apiVersion: 'v1', kind, metadata: { name: 'x' }, ...(live as object) } as KubeObject;
    t.same(at(strategicMergePatch(object, patch, kind)), result, what);
  }
});

t.test('strategic merge patch: directives combine with merging', async (t) => {
  // Order given by $setElementOrder while changing an element, as kubectl apply sends it.
  const live = pod({ containers: [{ name: 'a', image: 'a' }, { name: 'b', image: 'b' }] });
  const patched = strategicMergePatch(
    live,
    { spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'c' }, { name: 'a' }], containers: [{ name: 'c', image: 'c' }, { name: 'a', image: 'a2' }] } },
    'Pod',
  );
  t.same(patched.spec.containers, [
    { name: 'b', image: 'b' },
    { name: 'c', image: 'c' },
    { name: 'a', image: 'a2' },
  ]);
  // Deleting from and adding to a set in one patch.
  const fin = strategicMergePatch(pod({}, { finalizers: ['a', 'b'] }), { metadata: { finalizers: ['c'], '$deleteFromPrimitiveList/finalizers': ['a'] } }, 'Pod');
  t.same(fin.metadata.finalizers, ['c', 'b']);
  // Deleting from a missing list leaves it missing.
  t.notOk('finalizers' in strategicMergePatch(pod({}), { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }, 'Pod').metadata);
  // The whole object replaced, or emptied.
  t.same(strategicMergePatch(pod({ a: 1 }), { $patch: 'replace', spec: { b: 2 } }, 'Pod'), { spec: { b: 2 } });
  t.same(strategicMergePatch(pod({ a: 1 }), { $patch: 'delete' }, 'Pod'), {});
});

// mergepatch's error texts (k8s.io/apimachinery/pkg/util/mergepatch/errors.go and patch.go).
const smpErrors: Array<[what: string, live: KubeObject, patch: unknown, message: string | RegExp]> = [
  [
    'a merged element without its merge key',
    pod({ containers: [{ name: 'a' }] }),
    { spec: { containers: [{ image: 'x' }] } },
    'map: map[image:x] does not contain declared merge key: name',
  ],
  ['an unknown $patch in a map', pod({}), { spec: { $patch: 'frobnicate' } }, 'unknown patch type: frobnicate in map: map[$patch:frobnicate]'],
  [
    'an unknown $patch in a list',
    pod({ containers: [{ name: 'a' }] }),
    { spec: { containers: [{ name: 'a', $patch: 'frobnicate' }] } },
    'unknown patch type: frobnicate in map: map[$patch:frobnicate name:a]',
  ],
  [
    'a field missing from $retainKeys',
    pod({ union: { foo: 'a' } }),
    { spec: { union: { $retainKeys: ['bar'], bar: 'c', baz: 'd' } } },
    'invalid patch format of retainKeys',
  ],
  ['$retainKeys that is not a list', pod({ union: {} }), { spec: { union: { $retainKeys: 'bar' } } }, 'invalid patch format of retainKeys'],
  [
    'a patch list out of $setElementOrder order',
    pod({ containers: [{ name: 'a' }, { name: 'b' }] }),
    { spec: { '$setElementOrder/containers': [{ name: 'a' }, { name: 'b' }], containers: [{ name: 'b', image: 'x' }, { name: 'a', image: 'y' }] } },
    /^The order in patch list:\n\[map\[image:x name:b\] map\[image:y name:a\]\]\n doesn't match \$setElementOrder list:/,
  ],
  ['$deleteFromPrimitiveList that is not a list', pod({}, { finalizers: ['a'] }), { metadata: { '$deleteFromPrimitiveList/finalizers': 'a' } }, 'invalid patch format of primitive list'],
  [
    'mixed element types',
    pod({}, { finalizers: ['a'] }),
    { metadata: { finalizers: [1] } },
    'list element types are not identical: [[a] [1]]',
  ],
  ['a patch that is not an object', pod({}), ['x'], 'invalid JSON document'],
];

t.test('strategic merge patch: malformed patches are rejected with upstream wording', async (t) => {
  for (const [what, live, patch, message] of smpErrors) {
    t.throws(() => strategicMergePatch(live, patch, 'Pod'), { code: 'PODNET_BAD_REQUEST', message }, what);
  }
});
