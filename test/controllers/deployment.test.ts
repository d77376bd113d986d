import t from 'tap';
import { requireKind } from '../../lib/api/scheme.js';
import type { Deployment, Pod, ReplicaSet } from '../../lib/api/types.js';
import { SchedulerController } from '../../lib/controllers/scheduler.js';
import { ReplicaSetController } from '../../lib/controllers/replicaset.js';
import { DeploymentController, resolveFenceposts, type DeploymentStatus } from '../../lib/controllers/deployment.js';
import { computeHash, safeEncodeString } from '../../lib/controllers/podtemplate.js';
import { FakeKubelet, controllerCluster, converge, eventsWithReason } from './harness.js';

const POD = requireKind('v1', 'Pod');
const RS = requireKind('apps/v1', 'ReplicaSet');
const DEPLOY = requireKind('apps/v1', 'Deployment');

/** Images that never start, as an unresolvable image would not. */
const BROKEN = /nginx:1\.161$/;

function cluster(seed = 1) {
  const { store, clock, manager } = controllerCluster([new SchedulerController(), new ReplicaSetController(), new DeploymentController()], { seed });
  const kubelet = new FakeKubelet(store, clock, { starts: (image) => !BROKEN.test(image) });
  const pods = () => kubelet.pods();
  const replicaSets = () => store.list(RS, { namespace: 'default' }).items as ReplicaSet[];
  const deployment = (name = 'nginx-deployment') => store.get(DEPLOY, 'default', name) as Deployment;
  const events = (reason: string) => eventsWithReason(store, reason);
  /** Runs controllers and the kubelet (one pod at a time, oldest by name, unless `all`) until nothing moves. */
  const settle = (all = false) => converge(manager, () => kubelet.step(all), 200);
  return { store, clock, manager, pods, replicaSets, deployment, events, converge: settle };
}

// Concepts › Workloads › Deployments › Creating a Deployment: nginx-deployment.
function nginxDeployment(extra: Partial<Deployment['spec']> = {}): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'nginx-deployment', namespace: 'default', labels: { app: 'nginx' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'nginx' } },
      template: {
        metadata: { labels: { app: 'nginx' } },
        spec: { containers: [{ name: 'nginx', image: 'nginx:1.14.2', ports: [{ containerPort: 80 }] }] },
      },
      ...extra,
    },
  };
}

function setImage(c: ReturnType<typeof cluster>, image: string, name = 'nginx-deployment'): void {
  const d = c.deployment(name);
  d.spec.template.spec.containers[0]!.image = image;
  c.store.update(d);
}

/** `kubectl rollout status`'s DeploymentStatusViewer, word for word. */
function rolloutStatus(d: Deployment): string {
  const s = (d.status ?? {}) as DeploymentStatus;
  const name = d.metadata.name;
  if ((d.metadata.generation ?? 0) > (s.observedGeneration ?? 0)) return 'Waiting for deployment spec update to be observed...';
  if (s.conditions?.find((c) => c.type === 'Progressing')?.reason === 'ProgressDeadlineExceeded') {
    return `deployment "${name}" exceeded its progress deadline`;
  }
  const replicas = d.spec.replicas ?? 1;
  const updated = s.updatedReplicas ?? 0;
  if (updated < replicas) return `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${replicas} new replicas have been updated...`;
  if ((s.replicas ?? 0) > updated) {
    return `Waiting for deployment "${name}" rollout to finish: ${(s.replicas ?? 0) - updated} old replicas are pending termination...`;
  }
  if ((s.availableReplicas ?? 0) < updated) {
    return `Waiting for deployment "${name}" rollout to finish: ${s.availableReplicas ?? 0} of ${updated} updated replicas are available...`;
  }
  return `deployment "${name}" successfully rolled out`;
}

t.test('pod-template-hash: FNV-1a 32 rendered with SafeEncodeString, deterministic and stable', async (t) => {
  t.equal(safeEncodeString('123'), '567', "rand.SafeEncodeString maps '1','2','3' onto the vowel-free alphabet");
  const template = nginxDeployment().spec.template;
  const h = computeHash(template);
  t.match(h, /^[bcdf2456789]{6,10}$/, 'digits of a uint32, encoded');
  t.equal(computeHash(structuredClone(template)), h, 'same template, same hash');
  const reordered = { spec: template.spec, metadata: template.metadata };
  t.equal(computeHash(reordered), h, 'key order does not matter');
  t.not(computeHash(template, 1), h, 'a collision count changes the hash');
  t.equal(h, '5f77bd959c', 'pinned: changing the hash would rename every ReplicaSet');
});

// k8s.io/kubernetes/pkg/controller/deployment/util ResolveFenceposts: surge rounds up,
// unavailable rounds down, and both zero means unavailable 1.
t.test('maxSurge / maxUnavailable resolution', async (t) => {
  const cases: [number | string | undefined, number | string | undefined, number, { surge: number; unavailable: number }][] = [
    [undefined, undefined, 3, { surge: 1, unavailable: 0 }],
    ['25%', '25%', 10, { surge: 3, unavailable: 2 }],
    ['25%', '25%', 4, { surge: 1, unavailable: 1 }],
    [0, 0, 3, { surge: 0, unavailable: 1 }],
    ['0%', '0%', 3, { surge: 0, unavailable: 1 }],
    [3, 2, 10, { surge: 3, unavailable: 2 }],
    ['50%', '50%', 1, { surge: 1, unavailable: 0 }],
  ];
  for (const [surge, unavailable, replicas, want] of cases) {
    t.same(resolveFenceposts(surge, unavailable, replicas), want, `${surge}/${unavailable} of ${replicas}`);
  }
});

// Deployments › Creating a Deployment and › Updating a Deployment: 3 replicas, set the image to
// nginx:1.16.1; the new ReplicaSet scales 0→3 while the old scales 3→0 and, with the default 25%
// maxSurge / 25% maxUnavailable, never fewer than 3 pods are available nor more than 4 exist.
t.test('nginx-deployment walkthrough: rolling update keeps 3..4 pods at every observed point', async (t) => {
  const c = cluster();
  c.store.create(nginxDeployment());
  await c.converge();

  let d = c.deployment();
  t.equal(rolloutStatus(d), 'deployment "nginx-deployment" successfully rolled out');
  const [first] = c.replicaSets();
  t.equal(c.replicaSets().length, 1);
  const hash = first!.metadata.labels!['pod-template-hash']!;
  t.equal(first!.metadata.name, `nginx-deployment-${hash}`);
  t.same(first!.spec.selector.matchLabels, { app: 'nginx', 'pod-template-hash': hash });
  t.same(first!.spec.template.metadata?.labels, { app: 'nginx', 'pod-template-hash': hash });
  t.match(first!.metadata.annotations, {
    'deployment.kubernetes.io/revision': '1',
    'deployment.kubernetes.io/desired-replicas': '3',
    'deployment.kubernetes.io/max-replicas': '4',
  });
  t.match(first!.status, { replicas: 3, readyReplicas: 3, availableReplicas: 3 });
  for (const p of c.pods()) t.match(p.metadata.name, new RegExp(`^nginx-deployment-${hash}-[a-z0-9]{5}$`));
  t.match(d.status, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, unavailableReplicas: 0 });

  // Watch every pod event from here on and check the invariant on the observed state.
  const seen = new Map<string, Pod>();
  for (const p of c.pods()) seen.set(p.metadata.name!, p);
  const violations: string[] = [];
  let maxTotal = 0;
  let minAvailable = Infinity;
  const stop = c.store.watch(POD, { namespace: 'default', resourceVersion: c.store.resourceVersion }, (e) => {
    if (e.type === 'DELETED') seen.delete(e.object.metadata.name!);
    else seen.set(e.object.metadata.name!, e.object as Pod);
    const live = [...seen.values()].filter((p) => !p.metadata.deletionTimestamp);
    const available = live.filter((p) => p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')).length;
    maxTotal = Math.max(maxTotal, live.length);
    minAvailable = Math.min(minAvailable, available);
    if (live.length > 4 || available < 3) violations.push(`${e.type} ${e.object.metadata.name}: ${live.length} pods, ${available} available`);
  });
  const statuses = new Set<string>();
  const stopD = c.store.watch(DEPLOY, { namespace: 'default', resourceVersion: c.store.resourceVersion }, (e) => {
    statuses.add(rolloutStatus(e.object as Deployment));
  });

  setImage(c, 'nginx:1.16.1');
  await c.converge();
  stop();
  stopD();

  t.same(violations, [], 'never below 3 available nor above 4 pods');
  t.equal(maxTotal, 4, 'the surge was used');
  t.equal(minAvailable, 3);
  t.ok(statuses.has('Waiting for deployment "nginx-deployment" rollout to finish: 1 out of 3 new replicas have been updated...'));

  d = c.deployment();
  t.equal(rolloutStatus(d), 'deployment "nginx-deployment" successfully rolled out');
  const rss = c.replicaSets();
  t.equal(rss.length, 2);
  const next = rss.find((rs) => rs.metadata.name !== first!.metadata.name)!;
  const old = rss.find((rs) => rs.metadata.name === first!.metadata.name)!;
  t.match(next.spec, { replicas: 3 });
  t.match(next.status, { replicas: 3, readyReplicas: 3, availableReplicas: 3 });
  t.match(old.spec, { replicas: 0 });
  t.match(old.status, { replicas: 0 });
  t.equal(next.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
  t.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
  for (const p of c.pods()) t.equal(p.spec.containers[0]!.image, 'nginx:1.16.1');

  // kubectl describe deployments: the ScalingReplicaSet events, in order.
  const o = old.metadata.name;
  const n = next.metadata.name;
  t.same(
    c.events('ScalingReplicaSet').map((e) => e.message),
    [
      `Scaled up replica set ${o} from 0 to 3`,
      `Scaled up replica set ${n} from 0 to 1`,
      `Scaled down replica set ${o} from 3 to 2`,
      `Scaled up replica set ${n} from 1 to 2`,
      `Scaled down replica set ${o} from 2 to 1`,
      `Scaled up replica set ${n} from 2 to 3`,
      `Scaled down replica set ${o} from 1 to 0`,
    ],
  );
  t.same(c.events('ScalingReplicaSet')[0]?.source, { component: 'deployment-controller' });

  const conditions = (d.status as DeploymentStatus).conditions!;
  t.match(conditions.find((x) => x.type === 'Available'), {
    status: 'True',
    reason: 'MinimumReplicasAvailable',
    message: 'Deployment has minimum availability.',
  });
  t.match(conditions.find((x) => x.type === 'Progressing'), {
    status: 'True',
    reason: 'NewReplicaSetAvailable',
    message: `ReplicaSet "${n}" has successfully progressed.`,
  });
});

// Deployments › Recreate Deployment: all old pods are killed before new ones are created.
t.test('Recreate: the new ReplicaSet waits until every old pod is gone', async (t) => {
  const c = cluster();
  c.store.create(nginxDeployment({ strategy: { type: 'Recreate' } }));
  await c.converge(true);
  const [old] = c.replicaSets();
  setImage(c, 'nginx:1.16.1');
  await c.manager.whenIdle();
  t.equal(c.replicaSets().length, 1, 'no new ReplicaSet while old pods terminate');
  t.equal(c.pods().filter((p) => !p.metadata.deletionTimestamp).length, 0);
  t.equal(c.pods().length, 3, 'old pods still terminating');
  await c.converge(true);
  const rss = c.replicaSets();
  t.equal(rss.length, 2);
  t.equal(rss.find((rs) => rs.metadata.name === old!.metadata.name)!.spec.replicas, 0);
  t.equal(rolloutStatus(c.deployment()), 'deployment "nginx-deployment" successfully rolled out');
  const msgs = c.events('ScalingReplicaSet').map((e) => e.message);
  t.match(msgs[1], `Scaled down replica set ${old!.metadata.name} from 3 to 0`);
  t.match(msgs[2], /^Scaled up replica set nginx-deployment-\w+ from 0 to 3$/);
});

t.test('scaling a finished Deployment scales its ReplicaSet', async (t) => {
  const c = cluster();
  c.store.create(nginxDeployment());
  await c.converge(true);
  const d = c.deployment();
  d.spec.replicas = 5;
  c.store.update(d);
  await c.converge(true);
  const [rs] = c.replicaSets();
  t.equal(rs!.spec.replicas, 5);
  t.equal(rs!.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], '5');
  t.equal(rs!.metadata.annotations?.['deployment.kubernetes.io/max-replicas'], '7');
  t.equal(c.pods().length, 5);
  t.equal(c.events('ScalingReplicaSet').at(-1)?.message, `Scaled up replica set ${rs!.metadata.name} from 3 to 5`);
  t.equal(rolloutStatus(c.deployment()), 'deployment "nginx-deployment" successfully rolled out');
});

// Deployments › Proportional scaling: 10 replicas, maxSurge 3, maxUnavailable 2, a rollout to an
// image that never starts (new 5, old 8), then scaling to 15 adds 3 to the old and 2 to the new.
t.test('proportional scaling mid-rollout, as the Deployment page works it through', async (t) => {
  const c = cluster();
  c.store.create(nginxDeployment({ replicas: 10, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } } }));
  await c.converge(true);
  const [old] = c.replicaSets();
  setImage(c, 'nginx:1.161');
  await c.converge(true);
  const sizes = () => Object.fromEntries(c.replicaSets().map((rs) => [rs.metadata.name === old!.metadata.name ? 'old' : 'new', rs.spec.replicas]));
  t.same(sizes(), { old: 8, new: 5 });
  const d = c.deployment();
  d.spec.replicas = 15;
  c.store.update(d);
  await c.converge(true);
  t.same(sizes(), { old: 11, new: 7 });
});

t.test('paused Deployments do not roll out; resuming does', async (t) => {
  const c = cluster();
  c.store.create(nginxDeployment());
  await c.converge(true);
  const d = c.deployment();
  d.spec.paused = true;
  c.store.update(d);
  await c.converge(true);
  setImage(c, 'nginx:1.16.1');
  await c.converge(true);
  t.equal(c.replicaSets().length, 1);
  t.match((c.deployment().status as DeploymentStatus).conditions?.find((x) => x.type === 'Progressing'), {
    status: 'Unknown',
    reason: 'DeploymentPaused',
    message: 'Deployment is paused',
  });
  const r = c.deployment();
  r.spec.paused = false;
  c.store.update(r);
  await c.converge(true);
  t.equal(c.replicaSets().length, 2);
  t.equal(rolloutStatus(c.deployment()), 'deployment "nginx-deployment" successfully rolled out');
});

t.test('revisionHistoryLimit: old zero-sized ReplicaSets beyond the limit are deleted', async (t) => {
  const c = cluster();
  c.store.create(nginxDeployment({ revisionHistoryLimit: 1 }));
  await c.converge(true);
  for (const image of ['nginx:1.15', 'nginx:1.16', 'nginx:1.17']) {
    setImage(c, image);
    await c.converge(true);
  }
  const rss = c.replicaSets();
  t.equal(rss.length, 2, 'the current one and one old');
  const revisions = rss.map((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision']).sort();
  t.same(revisions, ['3', '4']);
});

t.test('progressDeadlineSeconds: a stuck rollout becomes ProgressDeadlineExceeded', async (t) => {
  const c = cluster();
  c.store.create(nginxDeployment({ progressDeadlineSeconds: 60 }));
  await c.converge(true);
  setImage(c, 'nginx:1.161');
  await c.converge(true);
  t.match((c.deployment().status as DeploymentStatus).conditions?.find((x) => x.type === 'Progressing'), {
    status: 'True',
    reason: 'ReplicaSetUpdated',
  });
  c.clock.advance(62_000);
  await c.converge(true);
  const progressing = (c.deployment().status as DeploymentStatus).conditions?.find((x) => x.type === 'Progressing');
  t.match(progressing, { status: 'False', reason: 'ProgressDeadlineExceeded' });
  t.match(progressing?.message, /^ReplicaSet "nginx-deployment-\w+" has timed out progressing\.$/);
  t.equal(rolloutStatus(c.deployment()), 'deployment "nginx-deployment" exceeded its progress deadline');
});

t.test('an orphan ReplicaSet matching the selector is adopted', async (t) => {
  const c = cluster();
  const template = nginxDeployment().spec.template;
  const hash = computeHash(template);
  c.store.create({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: `nginx-deployment-${hash}`, namespace: 'default', labels: { app: 'nginx', 'pod-template-hash': hash } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'nginx', 'pod-template-hash': hash } },
      template: { ...template, metadata: { labels: { app: 'nginx', 'pod-template-hash': hash } } },
    },
  });
  await c.converge(true);
  c.store.create(nginxDeployment());
  await c.converge(true);
  const rss = c.replicaSets();
  t.equal(rss.length, 1);
  t.equal(rss[0]!.metadata.ownerReferences?.[0]?.name, 'nginx-deployment');
  t.equal(c.pods().length, 3);
  t.equal(rolloutStatus(c.deployment()), 'deployment "nginx-deployment" successfully rolled out');
});
