// End-to-end over topologies/quickstart.yaml through the library API: the controllers converge
// to what a kind cluster with the same manifests shows.
import t from 'tap';
import { Cluster } from '../../lib/cluster.js';
import { contains, mustParseCIDR } from '../../lib/core/ipnet.js';
import type { EndpointSlice, Node, Pod, Service } from '../../lib/api/types.js';

t.test('quickstart: every pod runs with a distinct IP inside its node podCIDR', async (t) => {
  const cluster = await Cluster.fromFiles(['topologies/quickstart.yaml']);
  t.teardown(() => cluster.stop());
  const nodes = cluster.list('nodes') as Node[];
  t.same(
    nodes.map((n) => [n.metadata.name, n.spec.podCIDR]),
    [
      ['control-plane', '10.244.0.0/24'],
      ['worker', '10.244.1.0/24'],
      ['worker2', '10.244.2.0/24'],
    ],
  );
  const pods = cluster.list('pods', { namespace: 'default' }) as Pod[];
  t.equal(pods.length, 4, 'three web replicas and the client');
  const ips = new Set<string>();
  for (const pod of pods) {
    t.equal(pod.status?.phase, 'Running', `${pod.metadata.name} is Running`);
    const node = nodes.find((n) => n.metadata.name === pod.spec.nodeName)!;
    t.ok(node, `${pod.metadata.name} is bound to a node`);
    t.not(node.metadata.name, 'control-plane', 'the control-plane taint keeps workloads off');
    t.ok(contains(mustParseCIDR(node.spec.podCIDR!), pod.status!.podIP!), `${pod.status?.podIP} is inside ${node.spec.podCIDR}`);
    t.equal(pod.status?.hostIP, node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address);
    ips.add(pod.status!.podIP!);
  }
  t.equal(ips.size, pods.length, 'pod IPs are distinct');
  const web = pods.filter((p) => p.metadata.labels?.app === 'web');
  t.equal(new Set(web.map((p) => p.spec.nodeName)).size, 2, 'web replicas spread over both workers');
  for (const p of web) t.match(p.metadata.name, /^web-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/, 'Deployment pod name <deploy>-<hash>-<suffix>');
});

t.test('quickstart: the web Service has its three endpoints in one slice, named port resolved', async (t) => {
  const cluster = await Cluster.fromFiles(['topologies/quickstart.yaml']);
  t.teardown(() => cluster.stop());
  const svc = cluster.get('svc', 'web', 'default') as Service;
  t.match(svc.spec.clusterIP, /^10\.(9[6-9]|10[0-9]|11[01])\./, 'ClusterIP from 10.96.0.0/12');
  t.equal((cluster.get('svc', 'kubernetes', 'default') as Service).spec.clusterIP, '10.96.0.1');
  const slices = cluster.list('endpointslices', { namespace: 'default', labelSelector: 'kubernetes.io/service-name=web' }) as EndpointSlice[];
  t.equal(slices.length, 1);
  const slice = slices[0]!;
  t.equal(slice.addressType, 'IPv4');
  t.same(slice.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  const pods = cluster.list('pods', { namespace: 'default', labelSelector: 'app=web' }) as Pod[];
  t.same(
    slice.endpoints.map((e) => e.addresses[0]).sort(),
    pods.map((p) => p.status!.podIP).sort(),
  );
  for (const e of slice.endpoints) {
    t.same(e.conditions, { ready: true, serving: true, terminating: false });
    t.equal(e.targetRef?.kind, 'Pod');
    t.ok(e.nodeName && e.zone, 'nodeName and zone are set');
  }
});

t.test('quickstart: the same seed gives the same names, nodes and addresses', async (t) => {
  const a = await Cluster.fromFiles(['topologies/quickstart.yaml']);
  const b = await Cluster.fromFiles(['topologies/quickstart.yaml']);
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  const view = (c: Cluster) =>
    (c.list('pods') as Pod[]).map((p) => [p.metadata.name, p.spec.nodeName, p.status?.podIP, p.metadata.uid]);
  t.same(view(a), view(b));
  t.same(
    (a.list('svc') as Service[]).map((s) => s.spec.clusterIP),
    (b.list('svc') as Service[]).map((s) => s.spec.clusterIP),
  );
});
