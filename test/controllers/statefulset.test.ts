import t from 'tap';
import { requireKind } from '../../lib/api/scheme.js';
import type { Pod, StatefulSet } from '../../lib/api/types.js';
import { SchedulerController } from '../../lib/controllers/scheduler.js';
import { StatefulSetController, statefulSetRevision } from '../../lib/controllers/statefulset.js';
import { FakeKubelet, controllerCluster, converge, eventsWithReason } from './harness.js';

const POD = requireKind('v1', 'Pod');
const STS = requireKind('apps/v1', 'StatefulSet');

function cluster(seed = 1) {
  const { store, clock, manager } = controllerCluster([new SchedulerController(), new StatefulSetController()], { seed });
  const kubelet = new FakeKubelet(store, clock);
  const pods = () => kubelet.pods();
  const names = () => pods().map((p) => p.metadata.name).sort();
  const live = () => pods().filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name).sort();
  const sts = (name = 'web') => store.get(STS, 'default', name) as StatefulSet;
  const events = (reason: string) => eventsWithReason(store, reason).map((e) => e.message as string);
  /** The kubelet: bound pods become Running and Ready. */
  const ready = () => void kubelet.startBound();
  /** The kubelet: terminating pods finish. */
  const terminate = () => void kubelet.finishTerminating();
  return { store, clock, manager, pods, names, live, sts, events, ready, terminate, converge: () => converge(manager, () => kubelet.step()) };
}

// Tutorials › Stateful Applications › StatefulSet Basics: the web StatefulSet behind the
// headless Service nginx (volumeClaimTemplates left out: podnet has no volumes).
function web(extra: Partial<StatefulSet['spec']> = {}): StatefulSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      serviceName: 'nginx',
      replicas: 2,
      selector: { matchLabels: { app: 'nginx' } },
      template: {
        metadata: { labels: { app: 'nginx' } },
        spec: { containers: [{ name: 'nginx', image: 'registry.k8s.io/nginx-slim:0.21', ports: [{ containerPort: 80, name: 'web' }] }] },
      },
      ...extra,
    },
  };
}

function setImage(c: ReturnType<typeof cluster>, image: string): void {
  const s = c.sts();
  s.spec.template.spec.containers[0]!.image = image;
  c.store.update(s);
}

// StatefulSet Basics › Ordered Pod creation: "the web-1 Pod is not launched until the web-0 Pod
// is Running and Ready".
t.test('StatefulSet Basics: web-0 then web-1, each waiting for its predecessor to be Running and Ready', async (t) => {
  const c = cluster();
  c.store.create(web());
  await c.manager.whenIdle();
  t.same(c.names(), ['web-0'], 'only web-0 at first');
  await c.manager.whenIdle();
  t.same(c.names(), ['web-0'], 'still only web-0 while it is not Ready');
  c.ready();
  await c.manager.whenIdle();
  t.same(c.names(), ['web-0', 'web-1']);
  c.ready();
  await c.manager.whenIdle();

  const revision = statefulSetRevision(c.sts());
  t.match(revision, /^web-[bcdf2456789]+$/);
  for (const [i, p] of c.pods().entries()) {
    const name = `web-${i}`;
    t.equal(p.metadata.name, name);
    t.equal(p.spec.hostname, name, 'hostname is the pod name');
    t.equal(p.spec.subdomain, 'nginx', 'subdomain is the serviceName');
    t.same(p.metadata.labels, {
      app: 'nginx',
      'statefulset.kubernetes.io/pod-name': name,
      'apps.kubernetes.io/pod-index': String(i),
      'controller-revision-hash': revision,
    });
    t.match(p.metadata.ownerReferences, [{ kind: 'StatefulSet', name: 'web', controller: true, blockOwnerDeletion: true }]);
  }
  t.match(c.sts().status, {
    observedGeneration: 1,
    replicas: 2,
    readyReplicas: 2,
    currentReplicas: 2,
    updatedReplicas: 2,
    availableReplicas: 2,
    currentRevision: revision,
    updateRevision: revision,
  });
  t.same(c.events('SuccessfulCreate'), ['create Pod web-0 in StatefulSet web successful', 'create Pod web-1 in StatefulSet web successful']);
});

// StatefulSet Basics › Using Stable Network Identities: deleted pods come back with the same names.
t.test('a deleted pod is recreated with the same name', async (t) => {
  const c = cluster();
  c.store.create(web());
  await c.converge();
  const uid = c.pods()[0]!.metadata.uid;
  c.store.delete(POD, 'default', 'web-0');
  await c.converge();
  t.same(c.names(), ['web-0', 'web-1']);
  t.not(c.pods()[0]!.metadata.uid, uid, 'a new pod');
  t.equal(c.pods()[0]!.spec.hostname, 'web-0');
});

// StatefulSet Basics › Scaling a StatefulSet: up in order; down "one Pod at a time, in reverse
// order with respect to its ordinal index, and it waited for each to be completely shutdown".
t.test('scaling up in order and down from the highest ordinal, one at a time', async (t) => {
  const c = cluster();
  c.store.create(web());
  await c.converge();
  let s = c.sts();
  s.spec.replicas = 5;
  c.store.update(s);
  await c.converge();
  t.same(c.names(), ['web-0', 'web-1', 'web-2', 'web-3', 'web-4']);
  t.same(c.events('SuccessfulCreate').slice(2), [2, 3, 4].map((i) => `create Pod web-${i} in StatefulSet web successful`));

  s = c.sts();
  s.spec.replicas = 3;
  c.store.update(s);
  await c.manager.whenIdle();
  t.same(c.live(), ['web-0', 'web-1', 'web-2', 'web-3'], 'web-4 goes first');
  t.ok(c.store.get(POD, 'default', 'web-4')?.metadata.deletionTimestamp);
  await c.manager.whenIdle();
  t.same(c.live(), ['web-0', 'web-1', 'web-2', 'web-3'], 'web-3 waits for web-4 to terminate');
  c.terminate();
  await c.manager.whenIdle();
  t.same(c.live(), ['web-0', 'web-1', 'web-2']);
  await c.converge();
  t.same(c.names(), ['web-0', 'web-1', 'web-2']);
  t.same(c.events('SuccessfulDelete'), ['delete Pod web-4 in StatefulSet web successful', 'delete Pod web-3 in StatefulSet web successful']);
  t.match(c.sts().status, { replicas: 3, readyReplicas: 3 });
});

// StatefulSet Basics › Updating StatefulSets › RollingUpdate: "in reverse ordinal order ... waits
// for each Pod to be Running and Ready before updating its predecessor".
t.test('RollingUpdate replaces pods from the highest ordinal down, one at a time', async (t) => {
  const c = cluster();
  c.store.create(web({ replicas: 3 }));
  await c.converge();
  const oldRevision = statefulSetRevision(c.sts());
  setImage(c, 'gcr.io/google_containers/nginx-slim:0.24');
  await c.manager.whenIdle();
  t.same(c.live(), ['web-0', 'web-1'], 'web-2 is replaced first');
  t.match(c.sts().status, { currentRevision: oldRevision });
  await c.converge();
  const newRevision = statefulSetRevision(c.sts());
  t.not(newRevision, oldRevision);
  t.same(c.events('SuccessfulDelete'), [2, 1, 0].map((i) => `delete Pod web-${i} in StatefulSet web successful`));
  for (const p of c.pods()) {
    t.equal(p.spec.containers[0]!.image, 'gcr.io/google_containers/nginx-slim:0.24');
    t.equal(p.metadata.labels?.['controller-revision-hash'], newRevision);
  }
  t.match(c.sts().status, { currentRevision: newRevision, updateRevision: newRevision, currentReplicas: 3, updatedReplicas: 3 });
});

// StatefulSet Basics › Staging an update (partition 3) and › Rolling out a canary (partition 2).
t.test('partitioned rolling update: staging, then a canary', async (t) => {
  const c = cluster();
  c.store.create(web({ replicas: 3 }));
  await c.converge();
  const oldRevision = statefulSetRevision(c.sts());
  let s = c.sts();
  s.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 3 } };
  s.spec.template.spec.containers[0]!.image = 'registry.k8s.io/nginx-slim:0.21-canary';
  c.store.update(s);
  await c.converge();
  t.equal(c.events('SuccessfulDelete').length, 0, 'nothing below the partition is updated');

  // "Delete the web-2 Pod ... it was restored to its original configuration".
  c.store.delete(POD, 'default', 'web-2');
  await c.converge();
  const web2 = c.store.get(POD, 'default', 'web-2') as Pod;
  t.equal(web2.spec.containers[0]!.image, 'registry.k8s.io/nginx-slim:0.21');
  t.equal(web2.metadata.labels?.['controller-revision-hash'], oldRevision);

  s = c.sts();
  s.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 2 } };
  c.store.update(s);
  await c.converge();
  const images = c.pods().map((p) => p.spec.containers[0]!.image);
  t.same(images, ['registry.k8s.io/nginx-slim:0.21', 'registry.k8s.io/nginx-slim:0.21', 'registry.k8s.io/nginx-slim:0.21-canary']);
  t.match(c.sts().status, { currentRevision: oldRevision, currentReplicas: 2, updatedReplicas: 1 });
});

// StatefulSet Basics › On Delete: pods are only replaced when deleted.
t.test('OnDelete: the template applies to pods deleted by hand', async (t) => {
  const c = cluster();
  c.store.create(web({ replicas: 2, updateStrategy: { type: 'OnDelete' } }));
  await c.converge();
  setImage(c, 'registry.k8s.io/nginx-slim:0.22');
  await c.converge();
  t.same(c.pods().map((p) => p.spec.containers[0]!.image), ['registry.k8s.io/nginx-slim:0.21', 'registry.k8s.io/nginx-slim:0.21']);
  c.store.delete(POD, 'default', 'web-1');
  await c.converge();
  t.same(c.pods().map((p) => p.spec.containers[0]!.image), ['registry.k8s.io/nginx-slim:0.21', 'registry.k8s.io/nginx-slim:0.22']);
  t.match(c.sts().status, { updatedReplicas: 1, replicas: 2 });
});

// StatefulSet Basics › Pod Management Policy › Parallel Pod Management.
t.test('Parallel: pods are created and deleted all at once', async (t) => {
  const c = cluster();
  c.store.create(web({ replicas: 3, podManagementPolicy: 'Parallel' }));
  await c.manager.whenIdle();
  t.same(c.names(), ['web-0', 'web-1', 'web-2'], 'no waiting for readiness');
  await c.converge();
  const s = c.sts();
  s.spec.replicas = 1;
  c.store.update(s);
  await c.manager.whenIdle();
  t.same(c.live(), ['web-0'], 'both condemned pods at once');
});

t.test('spec.ordinals.start numbers pods from the start ordinal', async (t) => {
  const c = cluster();
  c.store.create(web({ replicas: 2, ordinals: { start: 5 } }));
  await c.converge();
  t.same(c.names(), ['web-5', 'web-6']);
  t.equal(c.pods()[0]!.metadata.labels?.['apps.kubernetes.io/pod-index'], '5');
});

t.test('minReadySeconds holds the next ordinal until the previous one is available', async (t) => {
  const c = cluster();
  c.store.create(web({ replicas: 2, minReadySeconds: 5 }));
  await c.converge();
  t.same(c.names(), ['web-0']);
  t.equal(c.sts().status?.availableReplicas, 0);
  c.clock.advance(5_000);
  await c.converge();
  t.same(c.names(), ['web-0', 'web-1']);
  c.clock.advance(5_000);
  await c.manager.whenIdle();
  t.equal(c.sts().status?.availableReplicas, 2);
});
