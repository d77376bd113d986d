// Snapshot import: objects as `kubectl get -o yaml` prints them load with their state intact —
// pod IPs, node podCIDRs, Service clusterIPs and nodePorts, readiness conditions, and both the
// controller-managed and the user-managed EndpointSlices.
import t from 'tap';
import { Cluster } from '../../lib/cluster.js';
import type { EndpointSlice, Node, Pod, Service } from '../../lib/api/types.js';
import { readManifestFile } from '../../lib/topology/manifests.js';

const FILES = ['test/fixtures/snapshot-cluster.yaml', 'test/fixtures/snapshot.yaml'];
const given = readManifestFile('test/fixtures/snapshot.yaml').map((o) => o.object);
const byName = (kind: string, name: string) => given.find((o) => o.kind === kind && o.metadata.name === name)!;

t.test('snapshot: node podCIDRs, pod IPs and Service IPs stay exactly as given', async (t) => {
  const cluster = await Cluster.fromFiles(FILES);
  t.teardown(() => cluster.stop());
  for (const name of ['kind-control-plane', 'kind-worker', 'kind-worker2']) {
    t.equal((cluster.get('nodes', name) as Node).spec.podCIDR, byName('Node', name).spec.podCIDR, `${name} podCIDR`);
  }
  const pods = cluster.list('pods', { namespace: 'default' }) as Pod[];
  t.same(
    pods.map((p) => [p.metadata.name, p.metadata.uid, p.spec.nodeName, p.status?.podIP]),
    [
      ['web-7c9f8d6b5d-2xkqp', '5b7e1c2a-2222-4a4a-8b8b-000000000003', 'kind-worker', '10.244.2.7'],
      ['web-7c9f8d6b5d-9v4lm', '5b7e1c2a-2222-4a4a-8b8b-000000000004', 'kind-worker2', '10.244.1.13'],
    ],
    'no pod was replaced, moved or re-addressed',
  );
  const notReady = pods[1]!.status!.conditions!.find((c) => c.type === 'Ready');
  t.same(notReady, byName('Pod', 'web-7c9f8d6b5d-9v4lm').status.conditions.find((c: { type: string }) => c.type === 'Ready'), 'readiness as given');
  const web = cluster.get('svc', 'web', 'default') as Service;
  t.equal(web.spec.clusterIP, '10.96.143.17');
  t.equal(web.spec.ports![0]!.nodePort, 31380);
  t.equal((cluster.get('svc', 'external-db', 'default') as Service).spec.clusterIP, '10.96.7.201');
  t.equal(cluster.list('rs', { namespace: 'default' }).length, 1, 'the Deployment adopted its ReplicaSet; no new rollout');
});

t.test('snapshot: EndpointSlices come back with the same endpoints and conditions', async (t) => {
  const cluster = await Cluster.fromFiles(FILES);
  t.teardown(() => cluster.stop());
  const slices = cluster.list('endpointslices', { namespace: 'default' }) as EndpointSlice[];
  const user = slices.find((s) => s.metadata.name === 'external-db-1')!;
  t.same(user.endpoints, byName('EndpointSlice', 'external-db-1').endpoints, 'user-managed slice untouched');
  t.equal(user.metadata.labels?.['endpointslice.kubernetes.io/managed-by'], 'cluster-admins');
  const web = slices.filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'web');
  t.equal(web.length, 1);
  const summary = (s: EndpointSlice) =>
    s.endpoints
      .map((e) => [e.addresses[0], e.conditions?.ready, e.conditions?.serving, e.nodeName, e.targetRef?.name])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  t.same(summary(web[0]!), summary(byName('EndpointSlice', 'web-h8rq2') as EndpointSlice));
  t.same(web[0]!.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
});

t.test('snapshot: a new pod next to imported ones gets a free address', async (t) => {
  const cluster = await Cluster.fromFiles(FILES);
  t.teardown(() => cluster.stop());
  cluster.apply([
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'pinned', namespace: 'default', annotations: { 'cni.projectcalico.org/ipAddrs': '["10.244.2.50"]' } },
      spec: { nodeName: 'kind-worker', containers: [{ name: 'c', image: 'busybox' }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'fresh', namespace: 'default' },
      spec: { nodeName: 'kind-worker', containers: [{ name: 'c', image: 'busybox' }] },
    },
  ]);
  await cluster.settle();
  t.equal((cluster.get('pods', 'pinned', 'default') as Pod).status?.podIP, '10.244.2.50', 'calico ipAddrs annotation honoured');
  const fresh = (cluster.get('pods', 'fresh', 'default') as Pod).status?.podIP;
  t.match(fresh, /^10\.244\.2\.\d+$/);
  t.not(fresh, '10.244.2.7');
  t.not(fresh, '10.244.2.50');
});
