import t from 'tap';
import { rfc3339 } from '../../lib/core/clock.js';
import { requireKind } from '../../lib/api/scheme.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { Pod, ReplicaSet } from '../../lib/api/types.js';
import type { Controller } from '../../lib/controllers/controller.js';
import { SchedulerController } from '../../lib/controllers/scheduler.js';
import { ReplicaSetController } from '../../lib/controllers/replicaset.js';
import { compareForDeletion } from '../../lib/controllers/podtemplate.js';
import { FakeKubelet, controllerCluster, eventsWithReason } from './harness.js';

const POD = requireKind('v1', 'Pod');
const RS = requireKind('apps/v1', 'ReplicaSet');

function cluster(options: { seed?: number; scheduler?: boolean } = {}) {
  const controllers: Controller[] = [new ReplicaSetController()];
  if (options.scheduler !== false) controllers.unshift(new SchedulerController());
  const { store, clock, manager } = controllerCluster(controllers, { seed: options.seed });
  const fake = new FakeKubelet(store, clock);
  const pods = () => fake.pods();
  const rs = (name = 'frontend') => store.get(RS, 'default', name) as ReplicaSet;
  const events = (reason: string) => eventsWithReason(store, reason);
  /** What the kubelet would do: terminating pods go; bound pods start Running and Ready. */
  const kubelet = () => void fake.step();
  const settle = async () => {
    await manager.whenIdle();
    kubelet();
    await manager.whenIdle();
  };
  return { store, clock, manager, pods, rs, events, kubelet, settle };
}

// Concepts › Workloads › ReplicaSet: the frontend example (3 replicas of gb-frontend:v3).
function frontend(replicas = 3, extra: Partial<ReplicaSet['spec']> = {}): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'frontend', namespace: 'default', labels: { app: 'guestbook', tier: 'frontend' } },
    spec: {
      replicas,
      selector: { matchLabels: { tier: 'frontend' } },
      template: {
        metadata: { labels: { tier: 'frontend' } },
        spec: { containers: [{ name: 'php-redis', image: 'us-docker.pkg.dev/google-samples/containers/gke/gb-frontend:v5' }] },
      },
      ...extra,
    },
  };
}

t.test('the frontend ReplicaSet runs 3 pods named frontend-xxxxx, owned by it, and reports status', async (t) => {
  const c = cluster();
  c.store.create(frontend());
  await c.settle();
  const pods = c.pods();
  t.equal(pods.length, 3);
  const rs = c.rs();
  for (const p of pods) {
    t.match(p.metadata.name, /^frontend-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    t.same(p.metadata.labels, { tier: 'frontend' });
    t.same(p.metadata.ownerReferences, [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'frontend', uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
    t.match(p.spec.nodeName, /^podnet-worker2?$/);
  }
  t.match(rs.status, { replicas: 3, fullyLabeledReplicas: 3, readyReplicas: 3, availableReplicas: 3, observedGeneration: 1 });
  const created = c.events('SuccessfulCreate').map((e) => e.message).sort();
  t.same(created, pods.map((p) => `Created pod: ${p.metadata.name}`).sort());
  t.same(c.events('SuccessfulCreate')[0]?.source, { component: 'replicaset-controller' });
});

// ReplicaSet › Non-Template Pod acquisitions: bare pods matching the selector are acquired.
t.test('orphan pods matching the selector are adopted; surplus ones deleted', async (t) => {
  const c = cluster();
  const bare = (name: string): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { tier: 'frontend' } },
    spec: { containers: [{ name: 'hello1', image: 'gcr.io/google-samples/hello-app:2.0' }] },
  });
  c.store.create(bare('pod1'));
  c.store.create(bare('pod2'));
  await c.settle();
  c.store.create(frontend());
  await c.settle();
  const names = c.pods().map((p) => p.metadata.name);
  t.equal(names.length, 3);
  t.ok(names.includes('pod1') && names.includes('pod2'), 'the bare pods were acquired');
  for (const p of c.pods()) t.equal(p.metadata.ownerReferences?.[0]?.uid, c.rs().metadata.uid);
  t.equal(c.events('SuccessfulCreate').length, 1);

  // Now at 3, a further matching pod is acquired and, being surplus, deleted.
  c.store.create(bare('pod3'));
  await c.settle();
  t.equal(c.pods().length, 3);
  t.notOk(c.pods().some((p) => p.metadata.name === 'pod3'), 'the newest (pod3) goes');
  t.equal(c.events('SuccessfulDelete')[0]?.message, 'Deleted pod: pod3');
});

// ReplicaSet › Isolating Pods from a ReplicaSet: relabelling a pod releases it.
t.test('a pod whose labels stop matching is released and replaced', async (t) => {
  const c = cluster();
  c.store.create(frontend());
  await c.settle();
  const victim = c.pods()[0]!;
  victim.metadata.labels = { tier: 'debug' };
  c.store.update(victim);
  await c.settle();
  const released = c.store.get(POD, 'default', victim.metadata.name!)!;
  t.notOk(released.metadata.ownerReferences, 'no owner any more');
  const owned = c.pods().filter((p) => p.metadata.ownerReferences?.length);
  t.equal(owned.length, 3);
  t.equal(c.rs().status?.replicas, 3);
});

t.test('scaling down deletes unscheduled, then pending, then not-ready, then newest pods first', async (t) => {
  const at = (s: number) => rfc3339(Date.UTC(2026, 0, 1) + s * 1000);
  const p = (name: string, nodeName: string | undefined, phase: string | undefined, ready: boolean, created: number): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, creationTimestamp: at(created) },
    spec: { containers: [], ...(nodeName ? { nodeName } : {}) },
    status: {
      ...(phase ? { phase } : {}),
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: at(created + 1) }],
    },
  });
  const pods = [
    p('old-ready', 'n1', 'Running', true, 0),
    p('new-ready', 'n2', 'Running', true, 10),
    p('not-ready', 'n1', 'Running', false, 0),
    p('pending', 'n1', 'Pending', false, 0),
    p('unscheduled', undefined, 'Pending', false, 0),
  ];
  const order = [...pods].sort(compareForDeletion()).map((x) => x.metadata.name);
  t.same(order, ['unscheduled', 'pending', 'not-ready', 'new-ready', 'old-ready']);

  const c = cluster();
  c.store.create(frontend(3));
  await c.settle();
  const rs = c.rs();
  rs.spec.replicas = 1;
  c.store.update(rs);
  await c.settle();
  t.equal(c.pods().length, 1);
  t.equal(c.events('SuccessfulDelete').length, 2);
  t.match(c.rs().status, { replicas: 1, readyReplicas: 1, observedGeneration: 2 });
});

t.test('availableReplicas waits minReadySeconds on the cluster clock', async (t) => {
  const c = cluster();
  c.store.create(frontend(3, { minReadySeconds: 10 }));
  await c.settle();
  t.match(c.rs().status, { readyReplicas: 3, availableReplicas: 0 });
  c.clock.advance(9_000);
  await c.manager.whenIdle();
  t.equal(c.rs().status?.availableReplicas, 0);
  c.clock.advance(1_000);
  await c.manager.whenIdle();
  t.equal(c.rs().status?.availableReplicas, 3);
});

t.test('a terminating pod is replaced at once and reported, not counted', async (t) => {
  const c = cluster();
  c.store.create(frontend());
  await c.settle();
  const victim = c.pods()[0]!;
  c.store.delete(POD, 'default', victim.metadata.name!); // graceful: the pod is bound to a node
  await c.manager.whenIdle();
  t.ok(c.store.get(POD, 'default', victim.metadata.name!)?.metadata.deletionTimestamp, 'still terminating');
  t.equal(c.pods().filter((p) => !p.metadata.deletionTimestamp).length, 3);
  t.match(c.rs().status, { replicas: 3, terminatingReplicas: 1 });
  c.kubelet();
  await c.settle();
  t.match(c.rs().status, { replicas: 3, readyReplicas: 3, terminatingReplicas: 0 });
});

t.test('deleting the ReplicaSet garbage-collects its pods', async (t) => {
  const c = cluster({ scheduler: false });
  c.store.create(frontend());
  await c.settle();
  t.equal(c.pods().length, 3);
  c.store.delete(RS, 'default', 'frontend');
  await c.settle();
  t.equal(c.pods().length, 0);
});

// podnet's determinism invariant: the same --seed gives the same names and placements.
t.test('the same seed gives the same pod names and nodes', async (t) => {
  const run = async (seed: number) => {
    const c = cluster({ seed });
    c.store.create(frontend(5));
    await c.settle();
    return c.pods().map((p) => `${p.metadata.name}@${p.spec.nodeName}`);
  };
  const first = await run(1);
  t.same(await run(1), first);
  t.notSame(await run(2), first);
});
