// The node lifecycle controller, the taint eviction controller and the DefaultTolerationSeconds
// admission plugin, on a ManualClock, against upstream's behaviour:
// - pkg/controller/nodelifecycle/node_lifecycle_controller.go (monitorNodeHealth,
//   tryUpdateNodeHealth, processTaintBaseEviction, doNoScheduleTaintingPass, handleDisruption,
//   ComputeZoneState) and pkg/controller/util/node (MarkPodsNotReady, SwapNodeControllerTaint);
// - pkg/controller/tainteviction/taint_eviction.go (processPodOnNode, getMinTolerationTime,
//   addConditionAndDeletePod);
// - plugin/pkg/admission/defaulttolerationseconds/admission.go.
// The kubelets here are heartbeats only: a Lease renewed every 10 s for each node that is up.
import t from 'tap';
import { ManualClock } from '../../lib/core/clock.js';
import { SeededRng } from '../../lib/core/rng.js';
import { requireKind } from '../../lib/api/scheme.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { Node, Pod, Taint, Toleration } from '../../lib/api/types.js';
import { microTime } from '../../lib/kubelet/node-status.js';
import { NodeLifecycleController, TaintEvictionController, computeZoneState, matchingTolerations, minTolerationMs } from '../../lib/controllers/nodelifecycle.js';
import { defaultTolerationSeconds } from '../../lib/apiserver/defaulttolerationseconds.js';
import { eventsWithReason, kindNodes, namespacedStore, readyNode, reportPodStatus, startControllers } from './harness.js';

const NODE = requireKind('v1', 'Node');
const POD = requireKind('v1', 'Pod');
const LEASE = requireKind('coordination.k8s.io/v1', 'Lease');

const UNREACHABLE_NOEXECUTE = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' };
const UNREACHABLE_NOSCHEDULE = { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' };

/** A cluster whose nodes heartbeat through their Leases while `up`. */
function lifecycleCluster(nodes: Node[] = kindNodes(), options: { gracePeriodMs?: number } = {}) {
  const clock = new ManualClock();
  const store = namespacedStore({ clock, rng: new SeededRng(1), plugins: [defaultTolerationSeconds()] });
  store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-node-lease' } });
  for (const n of nodes) store.create(n);
  const up = new Set(nodes.map((n) => n.metadata.name!));
  const renew = () => {
    for (const name of up) {
      const lease = store.get(LEASE, 'kube-node-lease', name);
      const spec = { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime(clock.now()) };
      if (lease) store.update({ ...lease, spec });
      else store.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec });
    }
  };
  const beat = () => {
    renew();
    clock.setTimeout(beat, 10_000);
  };
  beat();
  const lifecycle = new NodeLifecycleController(options.gracePeriodMs ? { nodeMonitorGracePeriodMs: options.gracePeriodMs } : {});
  const eviction = new TaintEvictionController();
  const manager = startControllers(store, { clock, rng: new SeededRng(1), controllers: [lifecycle, eviction] });
  /** Moves the clock one second at a time, letting the controllers act after each. */
  const advance = async (ms: number) => {
    for (let done = 0; done < ms; done += 1000) {
      clock.advance(1000);
      await manager.whenIdle();
    }
  };
  const node = (name: string) => store.get(NODE, undefined, name) as Node;
  const pod = (name: string) => store.get(POD, 'default', name) as Pod | undefined;
  const condition = (name: string, type = 'Ready') => node(name).status!.conditions!.find((c) => c.type === type)!;
  const taints = (name: string) => (node(name).spec.taints ?? []).filter((t) => t.key.startsWith('node.kubernetes.io/'));
  const runPod = (name: string, nodeName: string, tolerations?: Toleration[]) => {
    const created = store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: { nodeName, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }], ...(tolerations ? { tolerations } : {}) },
    }) as Pod;
    return reportPodStatus(store, created);
  };
  t.teardown(() => manager.stop());
  return { clock, store, manager, up, advance, node, pod, condition, taints, runPod, lifecycle, eviction };
}

t.test('a node that keeps renewing its Lease stays Ready with no taints', async (t) => {
  const c = lifecycleCluster();
  await c.manager.whenIdle();
  await c.advance(180_000);
  for (const n of ['podnet-worker', 'podnet-worker2']) {
    t.equal(c.condition(n).status, 'True', n);
    t.same(c.taints(n), [], n);
  }
  t.match(eventsWithReason(c.store, 'RegisteredNode').map((e) => e.message), [
    'Node podnet-control-plane event: Registered Node podnet-control-plane in Controller',
    'Node podnet-worker event: Registered Node podnet-worker in Controller',
    'Node podnet-worker2 event: Registered Node podnet-worker2 in Controller',
  ]);
});

t.test('a clock moved far at once runs every monitor pass in order: heartbeating nodes stay Ready', async (t) => {
  const c = lifecycleCluster();
  await c.manager.whenIdle();
  c.clock.advance(600_000);
  await c.manager.whenIdle();
  for (const n of ['podnet-control-plane', 'podnet-worker', 'podnet-worker2']) t.equal(c.condition(n).status, 'True', n);
  t.same(eventsWithReason(c.store, 'NodeNotReady'), []);
});

t.test('no heartbeat for the grace period (50 s): Ready and the pressure conditions go Unknown, taints follow', async (t) => {
  const c = lifecycleCluster();
  await c.manager.whenIdle();
  const before = c.condition('podnet-worker');
  c.up.delete('podnet-worker');
  // Leases were last renewed at t=0 and seen then; the monitor runs every 5 s.
  await c.advance(50_000);
  t.equal(c.condition('podnet-worker').status, 'True', 'at 50 s the grace period has not passed yet (now must be after probe + grace)');
  await c.advance(5_000);
  t.match(c.condition('podnet-worker'), { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: '2026-01-01T00:00:55Z' });
  // These nodes only ever had Ready: the others are added as never posted.
  for (const type of ['MemoryPressure', 'DiskPressure', 'PIDPressure']) {
    t.match(c.condition('podnet-worker', type), { status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.', lastTransitionTime: '2026-01-01T00:00:55Z' }, type);
  }
  t.equal(c.condition('podnet-worker').lastHeartbeatTime, before.lastHeartbeatTime, 'the heartbeat time is left as the kubelet wrote it');
  t.equal(c.condition('podnet-worker2').status, 'True', 'the others are untouched');
  t.same(c.taints('podnet-worker'), [{ ...UNREACHABLE_NOSCHEDULE, timeAdded: '2026-01-01T00:00:55Z' }], 'TaintNodesByCondition: unreachable:NoSchedule at once');
  t.match(eventsWithReason(c.store, 'NodeNotReady'), [{ involvedObject: { kind: 'Node', name: 'podnet-worker' }, message: 'Node podnet-worker status is now: NodeNotReady', source: { component: 'node-controller' } }]);
  await c.advance(5_000);
  t.same(
    c.taints('podnet-worker'),
    [
      { ...UNREACHABLE_NOSCHEDULE, timeAdded: '2026-01-01T00:00:55Z' },
      { ...UNREACHABLE_NOEXECUTE, timeAdded: '2026-01-01T00:01:00Z' },
    ],
    'processTaintBaseEviction acts on the condition the next pass observes: NoExecute 5 s later',
  );
});

t.test('the grace period is configurable', async (t) => {
  const c = lifecycleCluster(kindNodes(), { gracePeriodMs: 20_000 });
  await c.manager.whenIdle();
  c.up.delete('podnet-worker2');
  await c.advance(20_000);
  t.equal(c.condition('podnet-worker2').status, 'True');
  await c.advance(5_000);
  t.equal(c.condition('podnet-worker2').status, 'Unknown');
});

t.test('MarkPodsNotReady: the pods of a node that went Unknown are Ready=False, with a Warning', async (t) => {
  const c = lifecycleCluster();
  c.runPod('web-1', 'podnet-worker');
  c.runPod('web-2', 'podnet-worker2');
  await c.manager.whenIdle();
  c.up.delete('podnet-worker');
  await c.advance(55_000);
  t.match(c.pod('web-1')!.status!.conditions, [{ type: 'Ready', status: 'False', lastTransitionTime: '2026-01-01T00:00:55Z' }]);
  t.match(c.pod('web-2')!.status!.conditions, [{ type: 'Ready', status: 'True' }]);
  t.match(eventsWithReason(c.store, 'NodeNotReady').filter((e) => e.involvedObject.kind === 'Pod'), [
    { type: 'Warning', involvedObject: { name: 'web-1' }, message: 'Node is not ready', source: { component: 'node-controller' } },
  ]);
  c.runPod('late', 'podnet-worker');
  await c.manager.whenIdle();
  t.match(c.pod('late')!.status!.conditions, [{ type: 'Ready', status: 'False' }], 'processPod: a pod bound to the unready node later is marked too');
});

t.test('taint eviction: untolerated pods go at once, tolerated ones after tolerationSeconds, forever-tolerating ones stay', async (t) => {
  const c = lifecycleCluster();
  c.runPod('defaulted', 'podnet-worker'); // DefaultTolerationSeconds: 300 s
  c.runPod('short', 'podnet-worker', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 }]);
  c.runPod('daemon', 'podnet-worker', [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  ]);
  c.runPod('elsewhere', 'podnet-worker2');
  await c.manager.whenIdle();
  t.match(c.pod('defaulted')!.spec.tolerations, [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  ]);
  c.up.delete('podnet-worker');
  await c.advance(60_000); // NoExecute taint at t=60 s
  t.match(c.taints('podnet-worker'), [UNREACHABLE_NOSCHEDULE, UNREACHABLE_NOEXECUTE]);
  t.equal(c.eviction.scheduled.get('default/short'), Date.UTC(2026, 0, 1) + 120_000, 'short: due 60 s after the taint was seen');
  t.equal(c.eviction.scheduled.get('default/defaulted'), Date.UTC(2026, 0, 1) + 360_000, 'defaulted: due 300 s after');
  t.notOk(c.eviction.scheduled.has('default/daemon'), 'a toleration without tolerationSeconds tolerates forever');
  await c.advance(59_000);
  t.notOk(c.pod('short')!.metadata.deletionTimestamp, 'short is still there at 59 s');
  await c.advance(1_000);
  const short = c.pod('short')!;
  t.ok(short.metadata.deletionTimestamp, 'short: deleted gracefully at 60 s (Terminating: the kubelet is gone)');
  t.match(short.status!.conditions!.find((x) => x.type === 'DisruptionTarget'), {
    status: 'True',
    reason: 'DeletionByTaintManager',
    message: 'Taint manager: deleting due to NoExecute taint',
  });
  t.match(eventsWithReason(c.store, 'TaintManagerEviction'), [{ involvedObject: { name: 'short' }, message: 'Marking for deletion Pod default/short', source: { component: 'taint-eviction-controller' } }]);
  await c.advance(239_000);
  t.notOk(c.pod('defaulted')!.metadata.deletionTimestamp, 'defaulted is still there at 299 s');
  await c.advance(1_000);
  t.ok(c.pod('defaulted')!.metadata.deletionTimestamp, 'defaulted: deleted at 300 s');
  t.notOk(c.pod('daemon')!.metadata.deletionTimestamp, 'daemon: never');
  t.notOk(c.pod('elsewhere')!.metadata.deletionTimestamp, 'pods on healthy nodes: never');

  c.runPod('partial', 'podnet-worker', [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }]);
  await c.manager.whenIdle();
  t.match(c.pod('partial')!.spec.tolerations, [{ key: 'node.kubernetes.io/not-ready' }, { key: 'node.kubernetes.io/unreachable', tolerationSeconds: 300 }], 'the plugin adds only the missing one');
  // The plugin counts a toleration by key and effect; an Equal toleration with a value does not
  // match the taint (whose value is empty), so the pod tolerates nothing and goes at once.
  c.runPod('untolerated', 'podnet-worker', [{ key: 'node.kubernetes.io/unreachable', operator: 'Equal', value: 'x', effect: 'NoExecute' }]);
  await c.manager.whenIdle();
  t.equal(c.pod('untolerated')!.spec.tolerations!.length, 2, 'only not-ready was added');
  t.ok(c.pod('untolerated')!.metadata.deletionTimestamp, 'untolerated: deleted as soon as it lands on the tainted node');
});

t.test('a node that comes back: taints removed, pending evictions cancelled', async (t) => {
  const c = lifecycleCluster();
  c.runPod('web', 'podnet-worker');
  await c.manager.whenIdle();
  c.up.delete('podnet-worker');
  await c.advance(60_000);
  t.ok(c.eviction.scheduled.has('default/web'));
  // The kubelet is back: it posts Ready and renews its Lease.
  const node = c.node('podnet-worker');
  const conditions = node.status!.conditions!.map((x) => ({ ...x, status: x.type === 'Ready' ? 'True' : 'False', lastHeartbeatTime: '2026-01-01T00:01:00Z' }));
  c.store.update({ ...node, status: { ...node.status, conditions } } as KubeObject, { subresource: 'status' });
  c.up.add('podnet-worker');
  await c.advance(5_000);
  t.same(c.taints('podnet-worker'), [], 'both taints gone');
  t.notOk(c.eviction.scheduled.has('default/web'), 'the eviction is cancelled');
  t.match(eventsWithReason(c.store, 'TaintManagerEviction').map((e) => e.message), ['Cancelling deletion of Pod default/web']);
  await c.advance(600_000);
  t.notOk(c.pod('web')!.metadata.deletionTimestamp, 'and never happens');
});

t.test('evictions are rate limited per zone: 0.1 node/s, so a second node is tainted 10 s after the first', async (t) => {
  const nodes = ['a', 'b', 'c', 'd', 'e'].map((n) => readyNode(n, { 'topology.kubernetes.io/zone': 'z' }));
  const c = lifecycleCluster(nodes);
  await c.manager.whenIdle();
  c.up.delete('a');
  c.up.delete('b');
  await c.advance(60_000);
  const noExecute = (n: string) => (c.node(n).spec.taints ?? []).find((x) => x.effect === 'NoExecute')?.timeAdded;
  t.equal(noExecute('a'), '2026-01-01T00:01:00Z');
  t.equal(noExecute('b'), undefined);
  await c.advance(10_000);
  t.equal(noExecute('b'), '2026-01-01T00:01:10Z');
});

t.test('zone disruption (ComputeZoneState): a partially disrupted small zone, or every zone down, evicts nothing', async (t) => {
  t.same(computeZoneState(['True', 'True'], 0.55), { unready: 0, state: 'Normal' });
  t.same(computeZoneState(['Unknown'], 0.55), { unready: 1, state: 'FullDisruption' });
  t.same(computeZoneState(['True', 'Unknown', 'Unknown'], 0.55), { unready: 2, state: 'Normal' }, 'two unready is never partial');
  t.same(computeZoneState(['True', 'True', 'Unknown', 'Unknown', 'Unknown'], 0.55), { unready: 3, state: 'PartialDisruption' });

  t.test('partial disruption in a cluster of at most 50 nodes: the eviction rate is 0', async (t) => {
    const nodes = ['a', 'b', 'c', 'd', 'e'].map((n) => readyNode(n, { 'topology.kubernetes.io/zone': 'z' }));
    const c = lifecycleCluster(nodes);
    await c.manager.whenIdle();
    for (const n of ['a', 'b', 'c']) c.up.delete(n);
    await c.advance(120_000);
    t.equal(c.condition('a').status, 'Unknown');
    t.same(c.node('a').spec.taints?.filter((x) => x.effect === 'NoExecute') ?? [], []);
    t.equal(c.lifecycle.zoneStates.get(':\x00:z'), 'PartialDisruption');
  });

  t.test('every node unready: master disruption mode, NoExecute taints removed', async (t) => {
    const c = lifecycleCluster([readyNode('a'), readyNode('b')]);
    await c.manager.whenIdle();
    c.up.delete('a');
    await c.advance(60_000);
    t.match(c.node('a').spec.taints, [UNREACHABLE_NOSCHEDULE, UNREACHABLE_NOEXECUTE], 'one of two down: tainted');
    c.up.delete('b');
    await c.advance(60_000);
    t.equal(c.condition('b').status, 'Unknown');
    t.same((c.node('a').spec.taints ?? []).filter((x) => x.effect === 'NoExecute'), [], 'all down: the controller doubts itself and untaints');
    t.same((c.node('b').spec.taints ?? []).filter((x) => x.effect === 'NoExecute'), []);
  });
});

t.test('TaintNodesByCondition: spec.unschedulable and pressure conditions become NoSchedule taints, and go away with them', async (t) => {
  const c = lifecycleCluster();
  await c.manager.whenIdle();
  const node = c.node('podnet-worker');
  c.store.update({ ...node, spec: { ...node.spec, unschedulable: true } } as KubeObject);
  await c.manager.whenIdle();
  t.match(c.taints('podnet-worker'), [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: '2026-01-01T00:00:00Z' }]);
  const cordoned = c.node('podnet-worker');
  c.store.update({ ...cordoned, spec: { ...cordoned.spec, unschedulable: false } } as KubeObject);
  const withPressure = c.node('podnet-worker');
  c.store.update({ ...withPressure, status: { ...withPressure.status, conditions: [...withPressure.status!.conditions!, { type: 'DiskPressure', status: 'True' }] } } as KubeObject, { subresource: 'status' });
  await c.manager.whenIdle();
  t.match(c.taints('podnet-worker'), [{ key: 'node.kubernetes.io/disk-pressure', effect: 'NoSchedule' }]);
  t.equal(c.taints('podnet-worker').length, 1);
});

// plugin/pkg/admission/defaulttolerationseconds/admission_test.go
const CASES: [string, Toleration[] | undefined, Toleration[]][] = [
  [
    'no tolerations: both added with 300 s',
    undefined,
    [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  ],
  [
    'unrelated tolerations are kept, both added',
    [{ key: 'foo', operator: 'Equal', value: 'bar', effect: 'NoSchedule' }],
    [
      { key: 'foo', operator: 'Equal', value: 'bar', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  ],
  [
    'a not-ready NoExecute toleration is left alone; only unreachable is added',
    [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 700 }],
    [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 700 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  ],
  [
    'a NoSchedule toleration for the key does not count',
    [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoSchedule' }],
    [
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  ],
  ['an empty key with Exists tolerates everything: nothing added', [{ operator: 'Exists' }], [{ operator: 'Exists' }]],
  [
    'an empty effect for the key counts',
    [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists' }],
    [
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists' },
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  ],
];

t.test('DefaultTolerationSeconds (admission_test.go cases)', async (t) => {
  const store = namespacedStore({ plugins: [defaultTolerationSeconds()] });
  CASES.forEach(([name, given, want], i) => {
    const pod = store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${i}`, namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'x' }], ...(given ? { tolerations: given } : {}) } }) as Pod;
    t.same(pod.spec.tolerations, want, name);
  });
  const custom = namespacedStore({ plugins: [defaultTolerationSeconds({ notReadySeconds: 30, unreachableSeconds: 45 })] });
  const pod = custom.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'x' }] } }) as Pod;
  t.same(pod.spec.tolerations!.map((x) => x.tolerationSeconds), [30, 45], '--default-*-toleration-seconds');
});

t.test('getMinTolerationTime and GetMatchingTolerations', async (t) => {
  const taints: Taint[] = [{ key: 'a', effect: 'NoExecute' }, { key: 'b', effect: 'NoExecute' }];
  t.same(matchingTolerations(taints, [{ key: 'a', operator: 'Exists' }]), { all: false, used: [] }, 'b is not tolerated');
  const both = matchingTolerations(taints, [{ key: 'a', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }, { operator: 'Exists' }]);
  t.equal(both.all, true);
  t.equal(minTolerationMs(both.used), 30_000, 'the smallest tolerationSeconds among those used');
  t.equal(minTolerationMs([{ operator: 'Exists' }]), -1, 'none set: forever');
  t.equal(minTolerationMs([{ operator: 'Exists', tolerationSeconds: -5 }]), 0, 'zero or less: at once');
  t.equal(minTolerationMs([]), 0, 'no toleration used: at once');
});
