import t from 'tap';
import { requireKind } from '../../lib/api/scheme.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { Node, NodeSelectorTerm, Pod, PodSpec, Taint, Toleration } from '../../lib/api/types.js';
import {
  SchedulerController,
  nodeSelectorTermMatches,
  podMatchesNodeAffinity,
  toleratesTaint,
  unschedulableMessage,
} from '../../lib/controllers/scheduler.js';
import { CONTROL_PLANE_TAINT, controllerCluster, eventsWithReason, kindNodes, readyNode } from './harness.js';

const POD = requireKind('v1', 'Pod');
const NODE = requireKind('v1', 'Node');

function cluster(nodes: Node[] = kindNodes(), seed = 1) {
  const { store, clock, manager } = controllerCluster([new SchedulerController()], { seed, nodes });
  const get = (name: string) => store.get(POD, 'default', name) as Pod;
  const events = (reason: string) => eventsWithReason(store, reason);
  return { store, clock, manager, get, events };
}

function pod(name: string, spec: Partial<PodSpec> = {}, meta: Partial<KubeObject['metadata']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', ...meta },
    spec: { containers: [{ name: 'nginx', image: 'nginx:1.14.2' }], ...spec },
  };
}

const scheduled = (p: Pod) => p.status?.conditions?.find((c) => c.type === 'PodScheduled');

// Concepts › Scheduling › Assigning Pods to Nodes › nodeSelector: "kubectl label nodes
// <node> disktype=ssd", then a pod with nodeSelector disktype: ssd lands on that node.
t.test('nodeSelector: the pod goes to the node labelled disktype=ssd', async (t) => {
  const c = cluster(kindNodes([{}, { disktype: 'ssd' }]));
  c.store.create(pod('nginx', { nodeSelector: { disktype: 'ssd' } }));
  await c.manager.whenIdle();
  t.equal(c.get('nginx').spec.nodeName, 'podnet-worker2');
  t.equal(scheduled(c.get('nginx'))?.status, 'True');
  const [ev] = c.events('Scheduled');
  t.equal(ev?.message, 'Successfully assigned default/nginx to podnet-worker2');
  t.equal(ev?.type, 'Normal');
  t.same(ev?.source, { component: 'default-scheduler' });
});

// Assigning Pods to Nodes › Node affinity: the with-node-affinity example — required zone In
// [antarctica-east1, antarctica-west1], preferred another-node-label-key=another-node-label-value.
t.test('node affinity: required zones, then the preferred label wins', async (t) => {
  const c = cluster([
    readyNode('podnet-control-plane', {}, [CONTROL_PLANE_TAINT]),
    readyNode('podnet-worker', { 'topology.kubernetes.io/zone': 'antarctica-east1' }),
    readyNode('podnet-worker2', { 'topology.kubernetes.io/zone': 'antarctica-west1', 'another-node-label-key': 'another-node-label-value' }),
    readyNode('podnet-worker3', { 'topology.kubernetes.io/zone': 'arctic-1', 'another-node-label-key': 'another-node-label-value' }),
  ]);
  c.store.create(
    pod('with-node-affinity', {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['antarctica-east1', 'antarctica-west1'] }] },
            ],
          },
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 1, preference: { matchExpressions: [{ key: 'another-node-label-key', operator: 'In', values: ['another-node-label-value'] }] } },
          ],
        },
      },
    }),
  );
  await c.manager.whenIdle();
  t.equal(c.get('with-node-affinity').spec.nodeName, 'podnet-worker2');
});

// Node affinity operators (Assigning Pods to Nodes › "Operators" table), nodeSelectorTerms ORed
// and matchExpressions ANDed, matchFields on metadata.name.
t.test('node selector terms: operators, ORed terms, ANDed expressions, matchFields', async (t) => {
  const n = readyNode('n1', { disktype: 'ssd', cpus: '8', zone: 'a' });
  const cases: [string, NodeSelectorTerm, boolean][] = [
    ['In matches', { matchExpressions: [{ key: 'disktype', operator: 'In', values: ['ssd', 'nvme'] }] }, true],
    ['In misses', { matchExpressions: [{ key: 'disktype', operator: 'In', values: ['hdd'] }] }, false],
    ['NotIn on another value', { matchExpressions: [{ key: 'disktype', operator: 'NotIn', values: ['hdd'] }] }, true],
    ['NotIn on an absent label', { matchExpressions: [{ key: 'gpu', operator: 'NotIn', values: ['yes'] }] }, true],
    ['NotIn on the value', { matchExpressions: [{ key: 'disktype', operator: 'NotIn', values: ['ssd'] }] }, false],
    ['Exists', { matchExpressions: [{ key: 'disktype', operator: 'Exists' }] }, true],
    ['DoesNotExist', { matchExpressions: [{ key: 'disktype', operator: 'DoesNotExist' }] }, false],
    ['Gt', { matchExpressions: [{ key: 'cpus', operator: 'Gt', values: ['4'] }] }, true],
    ['Gt equal is not greater', { matchExpressions: [{ key: 'cpus', operator: 'Gt', values: ['8'] }] }, false],
    ['Lt', { matchExpressions: [{ key: 'cpus', operator: 'Lt', values: ['16'] }] }, true],
    ['Gt on a non-integer label', { matchExpressions: [{ key: 'disktype', operator: 'Gt', values: ['1'] }] }, false],
    [
      'expressions are ANDed',
      { matchExpressions: [{ key: 'disktype', operator: 'In', values: ['ssd'] }, { key: 'zone', operator: 'In', values: ['b'] }] },
      false,
    ],
    ['matchFields metadata.name In', { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }, true],
    ['matchFields metadata.name NotIn', { matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['n1'] }] }, false],
    ['an empty term matches nothing', {}, false],
  ];
  for (const [name, term, want] of cases) t.equal(nodeSelectorTermMatches(term, n), want, name);
  const ored = {
    containers: [],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'disktype', operator: 'In' as const, values: ['hdd'] }] },
            { matchExpressions: [{ key: 'zone', operator: 'In' as const, values: ['a'] }] },
          ],
        },
      },
    },
  };
  t.equal(podMatchesNodeAffinity(ored, n), true, 'terms are ORed');
  t.equal(podMatchesNodeAffinity({ ...ored, nodeSelector: { disktype: 'hdd' } }, n), false, 'nodeSelector and affinity must both hold');
});

// Concepts › Scheduling › Taints and Tolerations: the toleration matching rules.
t.test('taints and tolerations: matching rules', async (t) => {
  const taint: Taint = { key: 'key1', value: 'value1', effect: 'NoSchedule' };
  const cases: [string, Toleration, boolean][] = [
    ['Equal with key, value and effect', { key: 'key1', operator: 'Equal', value: 'value1', effect: 'NoSchedule' }, true],
    ['operator defaults to Equal', { key: 'key1', value: 'value1', effect: 'NoSchedule' }, true],
    ['Exists ignores the value', { key: 'key1', operator: 'Exists', effect: 'NoSchedule' }, true],
    ['Equal with another value', { key: 'key1', operator: 'Equal', value: 'value2', effect: 'NoSchedule' }, false],
    ['another effect', { key: 'key1', operator: 'Equal', value: 'value1', effect: 'NoExecute' }, false],
    ['an empty effect matches all effects', { key: 'key1', operator: 'Equal', value: 'value1' }, true],
    ['an empty key with Exists matches everything', { operator: 'Exists' }, true],
    ['another key', { key: 'key2', operator: 'Exists' }, false],
  ];
  for (const [name, toleration, want] of cases) t.equal(toleratesTaint(toleration, taint), want, name);
});

// Taints and Tolerations: node1 has key1=value1:NoSchedule, key1=value1:NoExecute and
// key2=value2:NoSchedule; a pod tolerating only the two key1 taints cannot be scheduled there.
t.test('taints and tolerations: every NoSchedule/NoExecute taint must be tolerated', async (t) => {
  const taints: Taint[] = [
    { key: 'key1', value: 'value1', effect: 'NoSchedule' },
    { key: 'key1', value: 'value1', effect: 'NoExecute' },
    { key: 'key2', value: 'value2', effect: 'NoSchedule' },
  ];
  const c = cluster([readyNode('node1', {}, taints)]);
  const tolerations: Toleration[] = [
    { key: 'key1', operator: 'Equal', value: 'value1', effect: 'NoSchedule' },
    { key: 'key1', operator: 'Equal', value: 'value1', effect: 'NoExecute' },
  ];
  c.store.create(pod('p', { tolerations }));
  await c.manager.whenIdle();
  t.notOk(c.get('p').spec.nodeName);
  t.equal(
    scheduled(c.get('p'))?.message,
    '0/1 nodes are available: 1 node(s) had untolerated taint {key2: value2}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.',
  );
  // Tolerating key2 too (with Exists, any value) lets it in.
  c.store.create(pod('q', { tolerations: [...tolerations, { key: 'key2', operator: 'Exists' }] }));
  await c.manager.whenIdle();
  t.equal(c.get('q').spec.nodeName, 'node1');
});

t.test('the control-plane taint keeps ordinary pods on the workers; a toleration lets them in', async (t) => {
  const c = cluster([readyNode('podnet-control-plane', {}, [CONTROL_PLANE_TAINT]), readyNode('podnet-worker')]);
  for (let i = 0; i < 4; i++) c.store.create(pod(`p${i}`));
  await c.manager.whenIdle();
  for (let i = 0; i < 4; i++) t.equal(c.get(`p${i}`).spec.nodeName, 'podnet-worker');
  c.store.create(
    pod('cp', {
      tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
      nodeSelector: { 'kubernetes.io/hostname': 'podnet-control-plane' },
    }),
  );
  await c.manager.whenIdle();
  t.equal(c.get('cp').spec.nodeName, 'podnet-control-plane');
});

// kube-scheduler's FitError: reasons counted per node, sorted, then the preemption summary.
t.test('an unschedulable pod gets the upstream message, condition and event, and is retried when nodes change', async (t) => {
  const c = cluster();
  c.store.create(pod('nginx', { nodeSelector: { disktype: 'ssd' } }));
  await c.manager.whenIdle();
  const want =
    "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
  const p = c.get('nginx');
  t.notOk(p.spec.nodeName);
  t.match(scheduled(p), { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: want });
  const [ev] = c.events('FailedScheduling');
  t.equal(ev?.type, 'Warning');
  t.equal(ev?.message, want);

  // Nothing that matters changed (a heartbeat): no new attempt, no new event.
  const beat = c.store.get(NODE, undefined, 'podnet-worker2')!;
  beat.status.conditions[0].lastHeartbeatTime = '2026-01-01T00:00:10Z';
  c.store.update(beat, { subresource: 'status' });
  await c.manager.whenIdle();
  t.equal(c.events('FailedScheduling')[0]?.count, 1);

  const worker = c.store.get(NODE, undefined, 'podnet-worker')!;
  worker.metadata.labels = { ...worker.metadata.labels, disktype: 'ssd' };
  c.store.update(worker);
  await c.manager.whenIdle();
  t.equal(c.get('nginx').spec.nodeName, 'podnet-worker');
  t.equal(scheduled(c.get('nginx'))?.status, 'True');
  t.notOk(scheduled(c.get('nginx'))?.reason);
});

t.test('no nodes at all', async (t) => {
  t.equal(unschedulableMessage([]), 'no nodes available to schedule pods');
  const c = cluster([]);
  c.store.create(pod('p'));
  await c.manager.whenIdle();
  t.equal(scheduled(c.get('p'))?.message, 'no nodes available to schedule pods');
  c.store.create(readyNode('late'));
  await c.manager.whenIdle();
  t.equal(c.get('p').spec.nodeName, 'late');
});

t.test('a NotReady or cordoned node takes no new pods', async (t) => {
  const notReady = readyNode('podnet-worker');
  notReady.status!.conditions = [{ type: 'Ready', status: 'False' }];
  const cordoned = readyNode('podnet-worker2', {}, [], { unschedulable: true });
  const c = cluster([readyNode('podnet-control-plane', {}, [CONTROL_PLANE_TAINT]), notReady, cordoned]);
  c.store.create(pod('p'));
  await c.manager.whenIdle();
  t.equal(
    scheduled(c.get('p'))?.message,
    '0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.',
  );
  // kubectl uncordon
  const n = c.store.get(NODE, undefined, 'podnet-worker2')!;
  n.spec.unschedulable = false;
  c.store.update(n);
  await c.manager.whenIdle();
  t.equal(c.get('p').spec.nodeName, 'podnet-worker2');
});

t.test('host ports: a second pod asking for the same hostPort/protocol goes elsewhere or waits', async (t) => {
  const c = cluster();
  const withPort = (protocol: 'TCP' | 'UDP' = 'TCP') => ({
    containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80, hostPort: 8080, protocol }] }],
  });
  c.store.create(pod('a', withPort()));
  c.store.create(pod('b', withPort()));
  c.store.create(pod('c', withPort()));
  c.store.create(pod('udp', withPort('UDP')));
  await c.manager.whenIdle();
  t.not(c.get('a').spec.nodeName, c.get('b').spec.nodeName);
  t.ok(c.get('a').spec.nodeName && c.get('b').spec.nodeName);
  t.ok(c.get('udp').spec.nodeName, 'another protocol does not conflict');
  t.notOk(c.get('c').spec.nodeName);
  t.equal(
    scheduled(c.get('c'))?.message,
    "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't have free ports for the requested pod ports. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod..",
  );
  const freed = c.get('a').spec.nodeName;
  c.store.delete(POD, 'default', 'a', { gracePeriodSeconds: 0 });
  await c.manager.whenIdle();
  t.equal(c.get('c').spec.nodeName, freed);
});

t.test('spreading: pods of one owner alternate between workers; a PreferNoSchedule taint is avoided', async (t) => {
  const c = cluster();
  const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true };
  for (let i = 0; i < 4; i++) c.store.create(pod(`web-${i}`, {}, { ownerReferences: [owner] }));
  await c.manager.whenIdle();
  const counts: Record<string, number> = {};
  for (let i = 0; i < 4; i++) counts[c.get(`web-${i}`).spec.nodeName!] = (counts[c.get(`web-${i}`).spec.nodeName!] ?? 0) + 1;
  t.same(counts, { 'podnet-worker': 2, 'podnet-worker2': 2 });

  const d = cluster([readyNode('a', {}, [{ key: 'dedicated', value: 'batch', effect: 'PreferNoSchedule' }]), readyNode('b')]);
  d.store.create(pod('p'));
  await d.manager.whenIdle();
  t.equal(d.get('p').spec.nodeName, 'b');
});

t.test('spreading across topology.kubernetes.io/zone for pods of the same owner', async (t) => {
  const zone = (z: string) => ({ 'topology.kubernetes.io/zone': z });
  const c = cluster([readyNode('a1', zone('a')), readyNode('a2', zone('a')), readyNode('b1', zone('b'))]);
  const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'rs-uid', controller: true };
  c.store.create(pod('first', { nodeName: 'a1' }, { ownerReferences: [owner] }));
  c.store.create(pod('second', {}, { ownerReferences: [owner] }));
  await c.manager.whenIdle();
  t.equal(c.get('second').spec.nodeName, 'b1', 'the empty zone wins over the empty node in the used zone');
});

t.test('pods that name a node or another scheduler are left alone', async (t) => {
  const c = cluster();
  c.store.create(pod('pinned', { nodeName: 'podnet-control-plane' }));
  c.store.create(pod('other', { schedulerName: 'my-scheduler' }));
  await c.manager.whenIdle();
  t.equal(c.get('pinned').spec.nodeName, 'podnet-control-plane');
  t.notOk(c.get('pinned').status);
  t.notOk(c.get('other').spec.nodeName);
  t.notOk(c.get('other').status);
  t.equal(c.events('Scheduled').length, 0);
});

t.test('the same seed gives the same placement', async (t) => {
  const run = async (seed: number) => {
    const nodes = [readyNode('n1'), readyNode('n2'), readyNode('n3')];
    const c = cluster(nodes, seed);
    for (let i = 0; i < 7; i++) c.store.create(pod(`p${i}`));
    await c.manager.whenIdle();
    return Array.from({ length: 7 }, (_, i) => c.get(`p${i}`).spec.nodeName).join(',');
  };
  const first = await run(1);
  t.equal(await run(1), first);
  const others = new Set<string>();
  for (let seed = 2; seed < 10; seed++) others.add(await run(seed));
  t.ok(others.size > 1, 'ties are broken by the seeded RNG');
});
