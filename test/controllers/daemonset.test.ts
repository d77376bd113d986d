import t from 'tap';
import { requireKind } from '../../lib/api/scheme.js';
import type { DaemonSet, Node, Pod, PodSpec } from '../../lib/api/types.js';
import { SchedulerController } from '../../lib/controllers/scheduler.js';
import { DaemonSetController, addDaemonPodTolerations, nodeShouldRunDaemonPod } from '../../lib/controllers/daemonset.js';
import { FakeKubelet, controllerCluster, converge, eventsWithReason, readyNode } from './harness.js';

const POD = requireKind('v1', 'Pod');
const NODE = requireKind('v1', 'Node');
const DS = requireKind('apps/v1', 'DaemonSet');

const CONTROL_PLANE = 'podnet-control-plane';
const WORKERS = ['podnet-worker', 'podnet-worker2'];

function cluster(seed = 1) {
  const { store, clock, manager } = controllerCluster([new SchedulerController(), new DaemonSetController()], { seed });
  const kubelet = new FakeKubelet(store, clock, { namespace: 'kube-system' });
  const pods = () => kubelet.pods();
  const live = () => pods().filter((p) => !p.metadata.deletionTimestamp);
  const placement = () => live().map((p) => p.spec.nodeName ?? '<none>').sort();
  const ds = (name = 'fluentd-elasticsearch') => store.get(DS, 'kube-system', name) as DaemonSet;
  const events = (reason: string) => eventsWithReason(store, reason);
  const editNode = (name: string, fn: (n: Node) => void) => {
    const n = store.get(NODE, undefined, name) as Node;
    fn(n);
    store.update(n);
  };
  /** Runs controllers and the kubelet (every bound pod at once, or one at a time) until nothing moves. */
  const settle = (all = true) => converge(manager, () => kubelet.step(all));
  return { store, clock, manager, pods, live, placement, ds, events, converge: settle, editNode };
}

// Concepts › Workloads › DaemonSet › "Create a DaemonSet": fluentd-elasticsearch in kube-system,
// tolerating the control-plane taint so it runs on every node.
function fluentd(extra: Partial<DaemonSet['spec']> = {}, tolerateControlPlane = true): DaemonSet {
  const podSpec: PodSpec = {
    containers: [{ name: 'fluentd-elasticsearch', image: 'quay.io/fluentd_elasticsearch/fluentd:v2.5.2' }],
    terminationGracePeriodSeconds: 30,
  };
  if (tolerateControlPlane) {
    podSpec.tolerations = [
      { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'node-role.kubernetes.io/master', operator: 'Exists', effect: 'NoSchedule' },
    ];
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'fluentd-elasticsearch', namespace: 'kube-system', labels: { 'k8s-app': 'fluentd-logging' } },
    spec: {
      selector: { matchLabels: { name: 'fluentd-elasticsearch' } },
      template: { metadata: { labels: { name: 'fluentd-elasticsearch' } }, spec: podSpec },
      ...extra,
    },
  };
}

t.test('fluentd-elasticsearch runs one pod on every node, control plane included', async (t) => {
  const c = cluster();
  c.store.create(fluentd());
  await c.converge();
  t.same(c.placement(), [CONTROL_PLANE, ...WORKERS]);
  const ds = c.ds();
  for (const p of c.pods()) {
    t.match(p.metadata.name, /^fluentd-elasticsearch-[a-z0-9]{5}$/);
    t.match(p.metadata.labels, { name: 'fluentd-elasticsearch', 'pod-template-generation': '1' });
    t.match(p.metadata.labels?.['controller-revision-hash'], /^[bcdf2456789]+$/);
    t.match(p.metadata.ownerReferences, [{ kind: 'DaemonSet', name: 'fluentd-elasticsearch', uid: ds.metadata.uid, controller: true }]);
    // Upstream pins daemon pods with node affinity and lets the default scheduler bind them.
    t.same(p.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution, {
      nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [p.spec.nodeName] }] }],
    });
    t.match(p.spec.tolerations, [
      { key: 'node-role.kubernetes.io/control-plane' },
      { key: 'node-role.kubernetes.io/master' },
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
      { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
    ]);
  }
  t.match(ds.status, {
    desiredNumberScheduled: 3,
    currentNumberScheduled: 3,
    numberReady: 3,
    numberAvailable: 3,
    numberUnavailable: 0,
    updatedNumberScheduled: 3,
    numberMisscheduled: 0,
    observedGeneration: 1,
  });
  t.equal(c.events('SuccessfulCreate').length, 3);
  t.same(c.events('SuccessfulCreate')[0]?.source, { component: 'daemonset-controller' });
});

t.test('without the toleration the control-plane node is not eligible', async (t) => {
  const c = cluster();
  c.store.create(fluentd({}, false));
  await c.converge();
  t.same(c.placement(), WORKERS);
  t.match(c.ds().status, { desiredNumberScheduled: 2, currentNumberScheduled: 2 });
});

// DaemonSet › "Running Pods on select Nodes": nodeSelector; pods follow node labels.
t.test('nodes added, removed and relabelled are followed', async (t) => {
  const c = cluster();
  c.store.create(fluentd({ template: { metadata: { labels: { name: 'fluentd-elasticsearch' } }, spec: { ...fluentd().spec.template.spec, nodeSelector: { logging: 'on' } } } }));
  await c.converge();
  t.same(c.placement(), []);
  c.editNode('podnet-worker', (n) => (n.metadata.labels!.logging = 'on'));
  await c.converge();
  t.same(c.placement(), ['podnet-worker']);
  c.store.create(readyNode('podnet-worker3', { logging: 'on' }));
  await c.converge();
  t.same(c.placement(), ['podnet-worker', 'podnet-worker3']);
  c.editNode('podnet-worker', (n) => delete n.metadata.labels!.logging);
  await c.converge();
  t.same(c.placement(), ['podnet-worker3'], 'unlabelled node loses its pod');
  c.store.delete(NODE, undefined, 'podnet-worker3');
  await c.converge();
  t.same(c.placement(), [], 'a removed node loses its pod');
  t.match(c.ds().status, { desiredNumberScheduled: 0, currentNumberScheduled: 0 });
});

t.test('a new NoSchedule taint keeps the pod (misscheduled); NoExecute evicts it', async (t) => {
  const c = cluster();
  c.store.create(fluentd({}, false));
  await c.converge();
  c.editNode('podnet-worker', (n) => (n.spec.taints = [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }]));
  await c.converge();
  t.same(c.placement(), WORKERS, 'the running pod stays');
  t.match(c.ds().status, { desiredNumberScheduled: 1, numberMisscheduled: 1 });
  c.editNode('podnet-worker', (n) => (n.spec.taints = [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }]));
  await c.converge();
  t.same(c.placement(), ['podnet-worker2']);
  t.match(c.ds().status, { desiredNumberScheduled: 1, numberMisscheduled: 0 });
});

t.test('a cordoned node still gets its daemon pod (the unschedulable toleration)', async (t) => {
  const c = cluster();
  c.editNode('podnet-worker', (n) => (n.spec.unschedulable = true));
  c.store.create(fluentd({}, false));
  await c.converge();
  t.same(c.placement(), WORKERS);
});

t.test('automatic tolerations, with network-unavailable for hostNetwork pods', async (t) => {
  const plain: PodSpec = { containers: [] };
  addDaemonPodTolerations(plain);
  t.equal(plain.tolerations?.length, 6);
  t.notOk(plain.tolerations?.some((x) => x.key === 'node.kubernetes.io/network-unavailable'));
  const host: PodSpec = { containers: [], hostNetwork: true, tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }] };
  addDaemonPodTolerations(host);
  t.equal(host.tolerations?.length, 7, 'an existing identical toleration is not duplicated');
  t.ok(host.tolerations?.some((x) => x.key === 'node.kubernetes.io/network-unavailable' && x.effect === 'NoSchedule'));

  const ds = fluentd({}, false);
  const tainted = readyNode('n', {}, [{ key: 'node.kubernetes.io/network-unavailable', effect: 'NoSchedule' }]);
  t.same(nodeShouldRunDaemonPod(tainted, ds), { shouldRun: false, shouldContinueRunning: true });
  ds.spec.template.spec.hostNetwork = true;
  t.same(nodeShouldRunDaemonPod(tainted, ds), { shouldRun: true, shouldContinueRunning: true });
});

// Tasks › Manage Daemons › Perform a Rolling Update on a DaemonSet: with maxUnavailable 1, old
// pods are replaced one node at a time.
t.test('RollingUpdate with maxUnavailable 1 replaces one node at a time', async (t) => {
  const c = cluster();
  c.store.create(fluentd({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } } }));
  await c.converge();
  const oldHash = c.pods()[0]!.metadata.labels!['controller-revision-hash'];

  const seen = new Map<string, Pod>();
  for (const p of c.pods()) seen.set(p.metadata.name!, p);
  let worst = 0;
  const stop = c.store.watch(POD, { namespace: 'kube-system', resourceVersion: c.store.resourceVersion }, (e) => {
    if (e.type === 'DELETED') seen.delete(e.object.metadata.name!);
    else seen.set(e.object.metadata.name!, e.object as Pod);
    const available = [...seen.values()].filter(
      (p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
    ).length;
    worst = Math.max(worst, 3 - available);
  });
  const d = c.ds();
  d.spec.template.spec.containers[0]!.image = 'quay.io/fluentd_elasticsearch/fluentd:v2.6.0';
  c.store.update(d);
  await c.converge(false);
  stop();

  t.equal(worst, 1, 'never more than one node without an available daemon pod');
  t.same(c.placement(), [CONTROL_PLANE, ...WORKERS]);
  for (const p of c.pods()) {
    t.equal(p.spec.containers[0]!.image, 'quay.io/fluentd_elasticsearch/fluentd:v2.6.0');
    t.not(p.metadata.labels!['controller-revision-hash'], oldHash);
    t.equal(p.metadata.labels!['pod-template-generation'], '2');
  }
  t.match(c.ds().status, { updatedNumberScheduled: 3, numberAvailable: 3, observedGeneration: 2 });
  t.equal(c.events('SuccessfulDelete').length, 3);
});

t.test('OnDelete leaves old pods until they are deleted', async (t) => {
  const c = cluster();
  c.store.create(fluentd({ updateStrategy: { type: 'OnDelete' } }, false));
  await c.converge();
  const d = c.ds();
  d.spec.template.spec.containers[0]!.image = 'fluentd:new';
  c.store.update(d);
  await c.converge();
  t.match(c.ds().status, { updatedNumberScheduled: 0, desiredNumberScheduled: 2 });
  const victim = c.pods()[0]!;
  c.store.delete(POD, 'kube-system', victim.metadata.name!);
  await c.converge();
  t.match(c.ds().status, { updatedNumberScheduled: 1, currentNumberScheduled: 2 });
});
