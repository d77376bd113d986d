// The library API a test suite or script drives: start from objects, apply (as kubectl apply),
// watch, wait for a condition, delete with garbage collection, stop.
import t from 'tap';
import { Cluster } from '../lib/cluster.js';
import { ManualClock } from '../lib/core/clock.js';
import type { KubeObject } from '../lib/api/meta.js';
import type { Deployment, Pod, Service } from '../lib/api/types.js';
import { defaultClusterSpec } from '../lib/topology/cluster.js';

const deployment = (replicas: number, image = 'nginx:1.27'): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image, ports: [{ containerPort: 80 }] }] } },
  },
});

function twoWorkers() {
  const spec = defaultClusterSpec();
  spec.nodes.push({ ...spec.nodes[0]!, name: 'podnet-worker', role: 'worker', address: '172.18.0.3' });
  spec.nodes[0]!.schedulable = true;
  return spec;
}

t.test('fromObjects, then apply reports created / configured / unchanged like kubectl apply', async (t) => {
  const cluster = await Cluster.fromObjects([deployment(2)], twoWorkers(), { seed: 7 });
  t.teardown(() => cluster.stop());
  t.equal(cluster.list('pods', { labelSelector: 'app=web' }).length, 2);
  t.same(cluster.apply([deployment(2)]).map((r) => r.action), ['unchanged']);
  t.same(cluster.apply([deployment(3)]).map((r) => r.action), ['configured']);
  await cluster.waitFor('deploy', 'web', 'default', (d) => (d as Deployment | undefined)?.status?.readyReplicas === 3);
  t.equal(cluster.list('pods', { labelSelector: 'app=web' }).length, 3);
});

t.test('apply keeps what the server allocated (three-way merge): a re-applied Service keeps its clusterIP', async (t) => {
  const cluster = await Cluster.fromObjects([], twoWorkers());
  t.teardown(() => cluster.stop());
  const svc: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { type: 'NodePort', selector: { app: 's' }, ports: [{ port: 80 }] } };
  const first = cluster.apply([svc])[0]!.object as Service;
  const again = cluster.apply([{ ...svc, metadata: { name: 's', labels: { tier: 'front' } } }])[0]!;
  t.equal(again.action, 'configured');
  t.equal((again.object as Service).spec.clusterIP, first.spec.clusterIP);
  t.equal((again.object as Service).spec.ports![0]!.nodePort, first.spec.ports![0]!.nodePort);
  // A label dropped from the manifest is removed from the object, as kubectl apply does.
  const dropped = cluster.apply([svc])[0]!.object;
  t.equal(dropped.metadata.labels?.tier, undefined);
});

t.test('watch sees the rollout; delete collects ReplicaSets and Pods', async (t) => {
  const cluster = await Cluster.fromObjects([deployment(2)], twoWorkers());
  t.teardown(() => cluster.stop());
  const seen: string[] = [];
  const stop = cluster.watch('pods', { namespace: 'default', resourceVersion: cluster.store.resourceVersion }, (e) => {
    seen.push(`${e.type} ${(e.object as Pod).spec.containers[0]!.image}`);
  });
  cluster.apply([deployment(2, 'nginx:1.28')]);
  await cluster.waitFor('deploy', 'web', 'default', (d) => {
    const s = (d as Deployment | undefined)?.status;
    return s?.updatedReplicas === 2 && s.replicas === 2 && s.availableReplicas === 2;
  });
  await cluster.settle();
  stop();
  t.ok(seen.includes('ADDED nginx:1.28'), 'new pods were added');
  t.ok(seen.includes('DELETED nginx:1.27'), 'old pods went away');
  cluster.delete('deploy', 'web', 'default');
  await cluster.settle();
  t.same(cluster.list('rs', { namespace: 'default' }), [], 'ReplicaSets garbage-collected');
  t.same(cluster.list('pods', { namespace: 'default' }), [], 'Pods garbage-collected');
});

t.test('waitFor times out on the cluster clock with PODNET_TIMEOUT', async (t) => {
  const clock = new ManualClock();
  const cluster = await Cluster.fromObjects([], defaultClusterSpec(), { clock });
  t.teardown(() => cluster.stop());
  const waiting = cluster.waitFor('svc', 'never', 'default', (s) => !!s, 5000);
  clock.advance(5000);
  await t.rejects(waiting, { code: 'PODNET_TIMEOUT' });
});

t.test('a stopped cluster refuses writes with a clear error', async (t) => {
  const cluster = await Cluster.fromObjects([], defaultClusterSpec());
  await cluster.stop();
  t.equal(cluster.state, 'stopped');
  t.throws(() => cluster.apply([deployment(1)]), { code: 'PODNET_CLUSTER_STATE' });
});
