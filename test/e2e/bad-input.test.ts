// "Bad input gets a clear error and changes nothing": each error names the file, line, object
// and field path as kubectl does, and an apply of many objects is all-or-nothing.
import t from 'tap';
import { Cluster } from '../../lib/cluster.js';
import { parseTopology } from '../../lib/topology/load.js';
import { parseManifests } from '../../lib/topology/manifests.js';
import { AggregateApplyError, PodnetError } from '../../lib/core/errors.js';

const CLUSTER = `apiVersion: podnet.dev/v1alpha1
kind: Cluster
metadata: {name: t}
spec:
  nodes: [{name: cp, role: control-plane}, {name: w1}, {name: w2}]
`;

async function running(t: { teardown(fn: () => unknown): void }, text = CLUSTER) {
  const cluster = await Cluster.fromTopology(parseTopology(text, 'cluster.yaml'));
  t.teardown(() => cluster.stop());
  return cluster;
}

function snapshot(cluster: Cluster) {
  return {
    rv: cluster.store.resourceVersion,
    services: cluster.list('svc').map((s) => s.metadata.name),
    deployments: cluster.list('deploy').map((d) => d.metadata.name),
    namespaces: cluster.list('ns').map((n) => n.metadata.name),
  };
}

const svc = (name: string, port: number, extra = '') => `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  type: NodePort
  selector: {app: ${name}}
  ports: [{port: ${port}, targetPort: 8080${extra}}]
`;

t.test('a bad field: file, line, object and field path; the valid objects before it are not created', async (t) => {
  const cluster = await running(t);
  const before = snapshot(cluster);
  const docs = parseManifests(`${svc('good', 80)}---\n${svc('bad', 70000)}`, 'web.yaml');
  const err = t.throws(() => cluster.apply(docs)) as PodnetError;
  t.equal(err.code, 'PODNET_INVALID_OBJECT');
  t.match(err.message, 'web.yaml:9: ');
  t.match(err.message, 'The Service "bad" is invalid');
  t.match(err.message, 'spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive');
  t.same(snapshot(cluster), before, 'nothing changed');
});

t.test('every bad object is reported, not just the first', async (t) => {
  const cluster = await running(t);
  const docs = parseManifests(`${svc('a', 0)}---\n${svc('b', 99999)}`, 'two.yaml');
  const err = t.throws(() => cluster.apply(docs)) as AggregateApplyError;
  t.equal(err.code, 'PODNET_APPLY_FAILED');
  t.equal(err.errors.length, 2);
  t.match(err.errors[0]!.message, /two\.yaml:1: .*Service "a"/);
  t.match(err.errors[1]!.message, /two\.yaml:9: .*Service "b"/);
});

t.test('bad YAML names the file and line', async (t) => {
  const err = t.throws(() => parseManifests('apiVersion: v1\nkind: Service\nmetadata:\n  name: [oops\n', 'broken.yaml')) as PodnetError;
  t.equal(err.code, 'PODNET_MANIFEST_INVALID');
  t.match(err.message, /^broken\.yaml:\d+: error converting YAML to JSON: yaml: line \d+/);
});

t.test('an unknown kind lists the known ones and changes nothing', async (t) => {
  const cluster = await running(t);
  const before = snapshot(cluster);
  const docs = parseManifests(`apiVersion: v1\nkind: Servcie\nmetadata: {name: x}\n---\n${svc('ok', 80)}`, 'typo.yaml');
  const err = t.throws(() => cluster.apply(docs)) as PodnetError;
  t.equal(err.code, 'PODNET_UNKNOWN_KIND');
  t.match(err.message, 'typo.yaml:1: Servcie x: no matches for kind "Servcie" in version "v1"');
  t.match(err.message, 'Service (v1)');
  t.same(snapshot(cluster), before);
});

t.test('a NodePort clash is rejected as the apiserver rejects it, and changes nothing', async (t) => {
  const cluster = await running(t);
  cluster.apply(parseManifests(svc('first', 80, ', nodePort: 30080'), 'first.yaml'));
  const before = snapshot(cluster);
  const docs = parseManifests(`apiVersion: v1\nkind: Namespace\nmetadata: {name: extra}\n---\n${svc('second', 80, ', nodePort: 30080')}`, 'clash.yaml');
  const err = t.throws(() => cluster.apply(docs)) as PodnetError;
  t.match(err.message, 'spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated');
  t.same(snapshot(cluster), before, 'the namespace in the same apply was not created either');
});

t.test('an exhausted cluster CIDR fails the start with a clear error', async (t) => {
  const topology = parseTopology(
    `apiVersion: podnet.dev/v1alpha1
kind: Cluster
spec:
  network: {podSubnet: 10.244.0.0/23, nodeCIDRMaskSize: 24}
  nodes: [{role: control-plane}, {role: worker}, {role: worker}]
`,
    'small.yaml',
  );
  const err = (await Cluster.fromTopology(topology).then(
    () => undefined,
    (e: unknown) => e,
  )) as PodnetError;
  t.equal(err?.code, 'PODNET_IPAM_EXHAUSTED');
  t.match(err.message, 'Node podnet-worker2: no /24 podCIDR');
  t.match(err.message, 'left in 10.244.0.0/23');
});

t.test('a Node added to a full cluster CIDR is refused and nothing changes', async (t) => {
  const cluster = await running(
    t,
    CLUSTER.replace('spec:\n', 'spec:\n  network: {podSubnet: 10.244.0.0/22, nodeCIDRMaskSize: 24}\n'),
  );
  cluster.apply([{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'w3' } }]);
  const before = cluster.store.resourceVersion;
  const err = t.throws(() => cluster.apply([{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'w4' } }])) as PodnetError;
  t.equal(err.code, 'PODNET_IPAM_EXHAUSTED');
  t.equal(cluster.store.resourceVersion, before);
  t.equal(cluster.get('nodes', 'w4'), undefined);
});

t.test('an object in a namespace that neither exists nor is created is an error', async (t) => {
  const cluster = await running(t);
  const err = t.throws(() =>
    cluster.apply(parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: nowhere}\n', 'cm.yaml')),
  ) as PodnetError;
  t.match(err.message, 'cm.yaml:1: ConfigMap nowhere/c: namespaces "nowhere" not found');
  // The same object with its namespace in the same apply, in any order, works.
  cluster.apply(
    parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: nowhere}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: nowhere}\n', 'cm.yaml'),
  );
  t.ok(cluster.get('cm', 'c', 'nowhere'));
});
