/**
 * kube-controller-manager's node lifecycle controller and taint eviction controller: how the
 * control plane notices a node that stopped answering, and moves its pods elsewhere.
 *
 * **Node lifecycle** (pkg/controller/nodelifecycle/node_lifecycle_controller.go). Every
 * `--node-monitor-period` (5 s) `monitorNodeHealth` looks at each node:
 * - A node's health is probed by its heartbeats: a new Ready `lastHeartbeatTime` from the kubelet,
 *   or a renewed `kube-node-lease/<node>` Lease, sets its probe time to now.
 * - Once now is past probe time + `--node-monitor-grace-period` (50 s since v1.32,
 *   kubernetes/kubernetes#126287; `spec.nodeLifecycle.nodeMonitorGracePeriodSeconds`; 60 s
 *   `--node-startup-grace-period` for a node that never posted Ready), Ready, MemoryPressure,
 *   DiskPressure and PIDPressure go Unknown — reason NodeStatusUnknown, "Kubelet stopped posting
 *   node status." — leaving heartbeat times alone; a NodeNotReady event is recorded and the pods
 *   on the node are marked Ready=False (`MarkPodsNotReady`: their endpoints stop being ready).
 * - Taint-based eviction (`processTaintBaseEviction`), on the Ready condition as the pass found
 *   it: Unknown → the node is queued for `node.kubernetes.io/unreachable:NoExecute`, False →
 *   `node.kubernetes.io/not-ready:NoExecute` (the two swap at once if the other is there), True →
 *   both removed. The queue is per zone, rate limited to `--node-eviction-rate` (0.1 node/s,
 *   burst 1); a zone whose unready share reaches `--unhealthy-zone-threshold` (0.55, with more
 *   than 2 unready) is partially disrupted and taints nothing in a cluster of at most
 *   `--large-cluster-size-threshold` (50) nodes (0.01/s above); when every zone is fully
 *   disrupted the controller assumes the problem is its own, removes the taints and stops.
 * - `doNoScheduleTaintingPass` (TaintNodesByCondition), on every Node change: Ready False/Unknown
 *   → `not-ready`/`unreachable:NoSchedule`, MemoryPressure, DiskPressure, PIDPressure,
 *   NetworkUnavailable True → their taints, `spec.unschedulable` → `unschedulable:NoSchedule`.
 *   Every taint added carries `timeAdded`.
 *
 * **Taint eviction** (pkg/controller/tainteviction/taint_eviction.go): a pod on a node with
 * NoExecute taints is deleted at once unless it tolerates them all; if it does, after the
 * smallest `tolerationSeconds` among the tolerations used (never, if none has one), counted from
 * when the controller saw the taint. Before deleting, the pod gets the DisruptionTarget condition
 * (DeletionByTaintManager); the delete is graceful, so on a dead node the pod stays Terminating
 * until its kubelet comes back — while its controller (a ReplicaSet) already counts it gone and
 * creates a replacement, which the scheduler puts on a Ready node. Most pods tolerate both taints
 * for 300 s, added by the DefaultTolerationSeconds admission plugin
 * (lib/apiserver/defaulttolerationseconds.ts); DaemonSet pods tolerate them forever.
 *
 * Not emulated: the NoExecute taint's retry back-off and metrics; label reconciliation.
 */

import { rfc3339, type TimerHandle } from '../core/clock.js';
import { requireKind } from '../api/scheme.js';
import type { KubeObject } from '../api/meta.js';
import { WellKnown, type Lease, type Node, type NodeCondition, type Pod, type Taint, type Toleration } from '../api/types.js';
import { Controller, splitKey } from './controller.js';
import { toleratesTaint } from './scheduler.js';

const NODE = requireKind('v1', 'Node');
const POD = requireKind('v1', 'Pod');
const LEASE = requireKind('coordination.k8s.io/v1', 'Lease');

/** The component node lifecycle events carry. */
export const NODE_CONTROLLER = 'node-controller';
/** The component taint eviction events carry. */
export const TAINT_EVICTION_CONTROLLER = 'taint-eviction-controller';

/** The node lifecycle controller's settings, as kube-controller-manager's flags. */
export interface NodeLifecycleSettings {
  /** `--node-monitor-period`. */
  nodeMonitorPeriodMs: number;
  /** `--node-monitor-grace-period`. */
  nodeMonitorGracePeriodMs: number;
  /** `--node-startup-grace-period`. */
  nodeStartupGracePeriodMs: number;
  /** `--node-eviction-rate`, nodes per second. */
  evictionLimiterQPS: number;
  /** `--secondary-node-eviction-rate`. */
  secondaryEvictionLimiterQPS: number;
  /** `--large-cluster-size-threshold`. */
  largeClusterSizeThreshold: number;
  /** `--unhealthy-zone-threshold`. */
  unhealthyZoneThreshold: number;
}

/** kube-controller-manager's defaults for v1.32. */
export const NODE_LIFECYCLE_CONTROLLER_DEFAULTS: Readonly<NodeLifecycleSettings> = {
  nodeMonitorPeriodMs: 5_000,
  nodeMonitorGracePeriodMs: 50_000,
  nodeStartupGracePeriodMs: 60_000,
  evictionLimiterQPS: 0.1,
  secondaryEvictionLimiterQPS: 0.01,
  largeClusterSizeThreshold: 50,
  unhealthyZoneThreshold: 0.55,
};


/** A zone's health: `ComputeZoneState`'s verdict. */
export type ZoneState = 'Initial' | 'Normal' | 'FullDisruption' | 'PartialDisruption';

/** The conditions whose status maps onto a NoSchedule taint (`nodeConditionToTaintKeyStatusMap`). */
const CONDITION_TAINTS: Record<string, Record<string, string>> = {
  Ready: { False: WellKnown.notReadyTaint, Unknown: WellKnown.unreachableTaint },
  MemoryPressure: { True: 'node.kubernetes.io/memory-pressure' },
  DiskPressure: { True: 'node.kubernetes.io/disk-pressure' },
  NetworkUnavailable: { True: 'node.kubernetes.io/network-unavailable' },
  PIDPressure: { True: 'node.kubernetes.io/pid-pressure' },
};
const CONDITION_TAINT_KEYS = new Set(Object.values(CONDITION_TAINTS).flatMap((m) => Object.values(m)));

/** Nodes with this label are left out of zone disruption counts. */
const EXCLUDE_DISRUPTION = 'node.kubernetes.io/exclude-disruption';

const UNREACHABLE: Taint = { key: WellKnown.unreachableTaint, effect: 'NoExecute' };
const NOT_READY: Taint = { key: WellKnown.notReadyTaint, effect: 'NoExecute' };

/** `ComputeZoneState`: FullDisruption with no Ready node; PartialDisruption with more than 2 unready at or above the threshold. */
export function computeZoneState(readyStatuses: readonly (string | undefined)[], unhealthyZoneThreshold: number): { unready: number; state: ZoneState } {
  const ready = readyStatuses.filter((s) => s === 'True').length;
  const unready = readyStatuses.length - ready;
  if (ready === 0 && unready > 0) return { unready, state: 'FullDisruption' };
  if (unready > 2 && unready / (unready + ready) >= unhealthyZoneThreshold) return { unready, state: 'PartialDisruption' };
  return { unready, state: 'Normal' };
}

/** `nodetopology.GetZoneKey`: region and zone; empty for a node with neither. */
export function zoneKey(node: Readonly<KubeObject>): string {
  const labels = node.metadata.labels ?? {};
  const zone = labels[WellKnown.zone] ?? labels['failure-domain.beta.kubernetes.io/zone'] ?? '';
  const region = labels[WellKnown.region] ?? labels['failure-domain.beta.kubernetes.io/region'] ?? '';
  return region || zone ? `${region}:\x00:${zone}` : '';
}

function condition(node: Readonly<Node>, type: string): NodeCondition | undefined {
  return (node.status?.conditions as NodeCondition[] | undefined)?.find((c) => c.type === type);
}

function hasTaint(node: Readonly<Node>, taint: Taint): boolean {
  return (node.spec?.taints ?? []).some((t) => t.key === taint.key && t.effect === taint.effect);
}

/** client-go's token bucket (`flowcontrol.NewTokenBucketRateLimiter`), on the cluster clock; qps 0 never accepts. */
class TokenBucket {
  readonly qps: number;
  #tokens: number;
  #last: number;
  constructor(qps: number, now: number, readonly burst = 1) {
    this.qps = qps;
    this.#tokens = burst;
    this.#last = now;
  }
  tryAccept(now: number): boolean {
    if (this.qps <= 0) return false;
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.qps);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
  /** Milliseconds until the next token. */
  waitMs(): number {
    return this.qps <= 0 ? Infinity : Math.ceil(((1 - this.#tokens) / this.qps) * 1000);
  }
}

/** What the controller last saw of a node's health (`nodeHealthData`). */
interface NodeHealth {
  probeMs: number;
  readyTransitionMs: number;
  /** The Ready condition as last observed. */
  ready: NodeCondition | undefined;
  /** The Lease renewTime last observed. */
  leaseRenew: string | undefined;
}

/** The node lifecycle controller. */
export class NodeLifecycleController extends Controller {
  readonly name = 'node-lifecycle-controller';
  readonly #o: NodeLifecycleSettings;
  readonly #health = new Map<string, NodeHealth>();
  readonly #known = new Set<string>();
  readonly #zoneStates = new Map<string, ZoneState>();
  readonly #limiters = new Map<string, TokenBucket>();
  /** Per zone, the nodes waiting for their NoExecute taint, in the order queued. */
  readonly #taintQueue = new Map<string, string[]>();
  #monitorTimer: TimerHandle | undefined;

  constructor(options: Partial<NodeLifecycleSettings> = {}) {
    super();
    this.#o = { ...NODE_LIFECYCLE_CONTROLLER_DEFAULTS, ...options };
  }

  /** Each zone's state after the last pass. */
  get zoneStates(): ReadonlyMap<string, ZoneState> {
    return this.#zoneStates;
  }

  protected setup(): void {
    this.watch(NODE, (e) => (e.type === 'DELETED' ? undefined : `noschedule/${e.object.metadata.name}`));
    this.watch(POD, (e) => (e.type !== 'DELETED' && e.object.spec?.nodeName ? `pod/${e.object.metadata.namespace}/${e.object.metadata.name}` : undefined));
    this.enqueue('monitor');
  }

  protected reconcile(key: string): void {
    if (key === 'monitor') {
      this.#armMonitor();
      this.#monitorNodeHealth();
      this.#doNoExecuteTaintingPass();
    } else if (key === 'taint') {
      this.#doNoExecuteTaintingPass();
    } else if (key.startsWith('noschedule/')) {
      this.#doNoScheduleTaintingPass(key.slice('noschedule/'.length));
    } else if (key.startsWith('pod/')) {
      this.#processPod(key.slice('pod/'.length));
    }
  }

  #now(): number {
    return this.ctx.clock.now();
  }

  /**
   * The next pass runs in the timer itself, when it falls due (`wait.UntilWithContext` on the
   * controller's clock): moved a long way at once, a ManualClock runs every pass in order,
   * interleaved with the kubelets' lease renewals, as real time would.
   */
  #armMonitor(): void {
    this.#monitorTimer?.cancel();
    this.#monitorTimer = this.ctx.clock.setTimeout(() => {
      this.#monitorTimer = undefined;
      try {
        this.#armMonitor();
        this.#monitorNodeHealth();
        this.#doNoExecuteTaintingPass();
      } catch {
        this.enqueue('monitor'); // retried with back-off by the work queue
      }
    }, this.#o.nodeMonitorPeriodMs);
  }

  override stop(): void {
    super.stop();
    this.#monitorTimer?.cancel();
    this.#monitorTimer = undefined;
  }

  #monitorNodeHealth(): void {
    const nodes = this.ctx.store.select(NODE) as readonly Node[];
    const names = new Set(nodes.map((n) => n.metadata.name!));
    for (const node of nodes) {
      const name = node.metadata.name!;
      if (this.#known.has(name)) continue;
      this.#known.add(name);
      this.#recordNodeEvent(node, 'RegisteredNode', `Registered Node ${name} in Controller`);
      this.#addZone(zoneKey(node));
      this.#markNodeAsReachable(name);
    }
    for (const name of [...this.#known]) {
      if (names.has(name)) continue;
      this.#known.delete(name);
      this.#health.delete(name);
      this.#unqueue(name);
    }
    const zoneReady = new Map<string, (string | undefined)[]>();
    for (const snapshot of nodes) {
      const name = snapshot.metadata.name!;
      this.#addZone(zoneKey(snapshot));
      const { observed, current } = this.#tryUpdateNodeHealth(name);
      const node = this.ctx.store.get(NODE, undefined, name) as Node | undefined;
      if (!node) continue;
      if (!(EXCLUDE_DISRUPTION in (node.metadata.labels ?? {}))) {
        const zone = zoneKey(node);
        zoneReady.set(zone, [...(zoneReady.get(zone) ?? []), current?.status]);
      }
      if (!current) continue;
      this.#processTaintBaseEviction(node, observed);
      if (current.status !== 'True' && observed.status === 'True') {
        this.ctx.recorder.record(node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`, NODE_CONTROLLER);
        this.#markPodsNotReady(name);
      }
    }
    this.#handleDisruption(zoneReady, nodes.map((n) => n.metadata.name!));
  }

  #addZone(zone: string): void {
    if (this.#zoneStates.has(zone)) return;
    this.#zoneStates.set(zone, 'Initial');
    this.#limiters.set(zone, new TokenBucket(this.#o.evictionLimiterQPS, this.#now()));
    this.#taintQueue.set(zone, []);
  }

  /**
   * `tryUpdateNodeHealth`: updates the probe time from heartbeats and, past the grace period,
   * writes the conditions Unknown. Returns the Ready condition as found and as left.
   */
  #tryUpdateNodeHealth(name: string): { observed: NodeCondition; current: NodeCondition | undefined } {
    const node = this.ctx.store.get(NODE, undefined, name) as Node;
    const now = this.#now();
    const created = node.metadata.creationTimestamp ? Date.parse(node.metadata.creationTimestamp) : now;
    let health = this.#health.get(name);
    let ready = condition(node, 'Ready');
    let observed: NodeCondition;
    let grace: number;
    if (!ready) {
      const at = node.metadata.creationTimestamp;
      observed = { type: 'Ready', status: 'Unknown', ...(at ? { lastHeartbeatTime: at, lastTransitionTime: at } : {}) };
      grace = this.#o.nodeStartupGracePeriodMs;
      if (!health) health = { probeMs: created, readyTransitionMs: created, ready: undefined, leaseRenew: undefined };
    } else {
      observed = { ...ready };
      grace = this.#o.nodeMonitorGracePeriodMs;
    }
    const saved = health?.ready;
    if (!health || (!saved && ready) || (saved && !ready)) {
      health = { probeMs: now, readyTransitionMs: now, ready, leaseRenew: health?.leaseRenew };
    } else if (saved && ready && saved.lastHeartbeatTime !== ready.lastHeartbeatTime) {
      const transition = saved.lastTransitionTime !== ready.lastTransitionTime ? now : health.readyTransitionMs;
      health = { probeMs: now, readyTransitionMs: transition, ready, leaseRenew: health.leaseRenew };
    }
    // A renewed lease is a heartbeat too (and the only one a healthy kubelet sends most of the time).
    const lease = this.ctx.store.get(LEASE, 'kube-node-lease', name) as Lease | undefined;
    const renew = lease?.spec?.renewTime;
    if (renew && (!health.leaseRenew || Date.parse(health.leaseRenew) < Date.parse(renew))) {
      health = { ...health, leaseRenew: renew, probeMs: now };
    }
    this.#health.set(name, health);
    if (!(now > health.probeMs + grace)) return { observed, current: ready };
    const stamp = rfc3339(now);
    const conditions = [...((node.status?.conditions as NodeCondition[] | undefined) ?? [])].map((c) => ({ ...c }));
    for (const type of ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure']) {
      const c = conditions.find((x) => x.type === type);
      if (!c) {
        conditions.push({
          type,
          status: 'Unknown',
          reason: 'NodeStatusNeverUpdated',
          message: 'Kubelet never posted node status.',
          ...(node.metadata.creationTimestamp ? { lastHeartbeatTime: node.metadata.creationTimestamp } : {}),
          lastTransitionTime: stamp,
        });
      } else if (c.status !== 'Unknown') {
        Object.assign(c, { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: stamp });
      }
    }
    ready = conditions.find((c) => c.type === 'Ready');
    if (JSON.stringify(ready) !== JSON.stringify(observed)) {
      const stored = this.ctx.store.update({ ...node, status: { ...(node.status ?? {}), conditions } } as KubeObject, { subresource: 'status' }) as Node;
      this.#health.set(name, { ...health, readyTransitionMs: now, ready: condition(stored, 'Ready') });
    }
    return { observed, current: ready };
  }

  #processTaintBaseEviction(node: Node, observed: NodeCondition): void {
    const name = node.metadata.name!;
    switch (observed.status) {
      case 'False':
        if (hasTaint(node, UNREACHABLE)) this.#swapTaints(name, [NOT_READY], [UNREACHABLE]);
        else this.#markNodeForTainting(node, 'False');
        break;
      case 'Unknown':
        if (hasTaint(node, NOT_READY)) this.#swapTaints(name, [UNREACHABLE], [NOT_READY]);
        else this.#markNodeForTainting(node, 'Unknown');
        break;
      case 'True':
        this.#markNodeAsReachable(name);
        break;
    }
  }

  #markNodeForTainting(node: Node, status: 'False' | 'Unknown'): void {
    const queue = this.#taintQueue.get(zoneKey(node))!;
    const name = node.metadata.name!;
    const missing = status === 'False' ? !hasTaint(node, NOT_READY) : !hasTaint(node, UNREACHABLE);
    if (missing && !queue.includes(name)) queue.push(name);
  }

  #markNodeAsReachable(name: string): void {
    this.#swapTaints(name, [], [UNREACHABLE, NOT_READY]);
    this.#unqueue(name);
  }

  #unqueue(name: string): void {
    for (const queue of this.#taintQueue.values()) {
      const i = queue.indexOf(name);
      if (i >= 0) queue.splice(i, 1);
    }
  }

  /** `doNoExecuteTaintingPass`: taints queued nodes, as fast as each zone's limiter allows. */
  #doNoExecuteTaintingPass(): void {
    const now = this.#now();
    for (const [zone, queue] of this.#taintQueue) {
      const limiter = this.#limiters.get(zone)!;
      while (queue.length) {
        if (!limiter.tryAccept(now)) {
          if (Number.isFinite(limiter.waitMs())) this.enqueueAfter('taint', limiter.waitMs());
          break;
        }
        const name = queue.shift()!;
        const node = this.ctx.store.get(NODE, undefined, name) as Node | undefined;
        const status = node && condition(node, 'Ready')?.status;
        if (status === 'False') this.#swapTaints(name, [NOT_READY], [UNREACHABLE]);
        else if (status === 'Unknown') this.#swapTaints(name, [UNREACHABLE], [NOT_READY]);
      }
    }
  }

  /** `handleDisruption`: zone states, their limiters, and the all-zones-down safety stop. */
  #handleDisruption(zoneReady: Map<string, (string | undefined)[]>, nodes: string[]): void {
    const next = new Map<string, ZoneState>();
    let allAre = true;
    for (const [zone, statuses] of zoneReady) {
      const { state } = computeZoneState(statuses, this.#o.unhealthyZoneThreshold);
      if (state !== 'FullDisruption') allAre = false;
      next.set(zone, state);
    }
    let allWere = true;
    for (const [zone, state] of [...this.#zoneStates]) {
      if (!zoneReady.has(zone)) {
        this.#zoneStates.delete(zone);
        continue;
      }
      if (state !== 'FullDisruption') allWere = false;
    }
    if (allAre && allWere) return;
    if (allAre) {
      // Every node unready at once: more likely the control plane's view than the nodes. Stop.
      for (const name of nodes) this.#markNodeAsReachable(name);
      for (const zone of this.#zoneStates.keys()) {
        this.#limiters.set(zone, new TokenBucket(0, this.#now()));
        this.#zoneStates.set(zone, 'FullDisruption');
      }
      return;
    }
    if (allWere) {
      const now = this.#now();
      for (const name of nodes) {
        const h = this.#health.get(name);
        if (h) this.#health.set(name, { ...h, probeMs: now, readyTransitionMs: now });
      }
      for (const zone of this.#zoneStates.keys()) this.#setZone(zone, zoneReady.get(zone)?.length ?? 0, next.get(zone) ?? 'Normal');
      return;
    }
    for (const [zone, state] of this.#zoneStates) {
      const fresh = next.get(zone);
      if (fresh && fresh !== state) this.#setZone(zone, zoneReady.get(zone)?.length ?? 0, fresh);
    }
  }

  /** `setLimiterInZone`. */
  #setZone(zone: string, size: number, state: ZoneState): void {
    const qps =
      state === 'PartialDisruption'
        ? size > this.#o.largeClusterSizeThreshold
          ? this.#o.secondaryEvictionLimiterQPS
          : 0
        : this.#o.evictionLimiterQPS;
    this.#limiters.set(zone, new TokenBucket(qps, this.#now()));
    this.#zoneStates.set(zone, state);
  }

  /** `doNoScheduleTaintingPass` (TaintNodesByCondition). */
  #doNoScheduleTaintingPass(name: string): void {
    const node = this.ctx.store.get(NODE, undefined, name) as Node | undefined;
    if (!node) return;
    const wanted: Taint[] = [];
    for (const c of (node.status?.conditions as NodeCondition[] | undefined) ?? []) {
      const key = CONDITION_TAINTS[c.type]?.[c.status];
      if (key) wanted.push({ key, effect: 'NoSchedule' });
    }
    if (node.spec?.unschedulable) wanted.push({ key: WellKnown.unschedulableTaint, effect: 'NoSchedule' });
    const have = (node.spec?.taints ?? []).filter((t) => t.effect === 'NoSchedule' && (t.key === WellKnown.unschedulableTaint || CONDITION_TAINT_KEYS.has(t.key)));
    const add = wanted.filter((w) => !have.some((h) => h.key === w.key));
    const remove = have.filter((h) => !wanted.some((w) => w.key === h.key));
    if (add.length || remove.length) this.#swapTaints(name, add, remove);
  }

  /** `SwapNodeControllerTaint`: adds taints (stamped with timeAdded) and removes others, in one write. */
  #swapTaints(name: string, add: Taint[], remove: Taint[]): void {
    const node = this.ctx.store.get(NODE, undefined, name) as Node | undefined;
    if (!node) return;
    const stamp = rfc3339(this.#now());
    let taints = (node.spec?.taints ?? []).filter((t) => !remove.some((r) => r.key === t.key && r.effect === t.effect));
    for (const t of add) if (!taints.some((x) => x.key === t.key && x.effect === t.effect)) taints = [...taints, { ...t, timeAdded: stamp }];
    const before = node.spec?.taints ?? [];
    if (JSON.stringify(taints) === JSON.stringify(before)) return;
    const spec = { ...node.spec, taints };
    if (!taints.length) delete (spec as { taints?: Taint[] }).taints;
    this.ctx.store.update({ ...node, spec } as KubeObject);
  }

  /** `MarkPodsNotReady`: the Ready condition of every pod on the node goes False. */
  #markPodsNotReady(nodeName: string): void {
    for (const pod of this.ctx.store.select(POD, { fieldSelector: `spec.nodeName=${nodeName}` }) as readonly Pod[]) this.#markPodNotReady(pod);
  }

  #markPodNotReady(pod: Readonly<Pod>): void {
    const conditions = pod.status?.conditions ?? [];
    const ready = conditions.find((c) => c.type === 'Ready');
    if (!ready || ready.status === 'False') return;
    const stamp = rfc3339(this.#now());
    const status = { ...pod.status, conditions: conditions.map((c) => (c.type === 'Ready' ? { ...c, status: 'False' as const, lastTransitionTime: stamp } : c)) };
    this.ctx.store.update({ ...pod, status } as KubeObject, { subresource: 'status' });
    this.ctx.recorder.record(pod as KubeObject, 'Warning', 'NodeNotReady', 'Node is not ready', NODE_CONTROLLER);
  }

  /** `processPod`: a pod that lands on a node that is not Ready is marked NotReady too. */
  #processPod(key: string): void {
    const { namespace, name } = splitKey(key);
    const pod = this.ctx.store.get(POD, namespace, name) as Pod | undefined;
    const nodeName = pod?.spec.nodeName;
    if (!pod || !nodeName) return;
    // Judged by the node's health as the last pass saw it; a node not seen yet is left to the next pass.
    const ready = this.#health.get(nodeName)?.ready;
    const node = this.ctx.store.get(NODE, undefined, nodeName) as Node | undefined;
    if (!ready || !node) return;
    // A kubelet that came back has posted Ready=True already: its pods are its own again, even
    // before the next pass sees the renewed lease (otherwise the two would rewrite each other's
    // pod status until then).
    const live = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    if (ready.status !== 'True' && live !== 'True') this.#markPodNotReady(pod);
  }

  #recordNodeEvent(node: Node, reason: string, event: string): void {
    this.ctx.recorder.record(node, 'Normal', reason, `Node ${node.metadata.name} event: ${event}`, NODE_CONTROLLER);
  }
}

/** `GetMatchingTolerations`: whether every taint is tolerated, and the first toleration used for each. */
export function matchingTolerations(taints: readonly Taint[], tolerations: readonly Toleration[]): { all: boolean; used: Toleration[] } {
  const used: Toleration[] = [];
  for (const taint of taints) {
    const t = tolerations.find((x) => toleratesTaint(x, taint));
    if (!t) return { all: false, used: [] };
    used.push(t);
  }
  return { all: true, used };
}

/**
 * `getMinTolerationTime`: the smallest tolerationSeconds among `used`, in milliseconds; 0 for none
 * used or any at or below zero; -1 (forever) when none sets it.
 */
export function minTolerationMs(used: readonly Toleration[]): number {
  if (!used.length) return 0;
  let min = Infinity;
  for (const t of used) {
    if (t.tolerationSeconds === undefined || t.tolerationSeconds === null) continue;
    if (t.tolerationSeconds <= 0) return 0;
    min = Math.min(min, t.tolerationSeconds);
  }
  return min === Infinity ? -1 : min * 1000;
}

/** The taint eviction controller: deletes pods that do not tolerate their node's NoExecute taints. */
export class TaintEvictionController extends Controller {
  readonly name = TAINT_EVICTION_CONTROLLER;
  /** node → its NoExecute taints, as last seen (only tainted nodes). */
  readonly #tainted = new Map<string, Taint[]>();
  /** pod key → what the controller last saw of it (node and tolerations). */
  readonly #pods = new Map<string, string>();
  /** pod key → the scheduled deletion. */
  readonly #work = new Map<string, { createdAt: number; fireAt: number; timer: TimerHandle; due: boolean }>();

  protected setup(): void {
    this.watch(NODE, (e) => `node/${e.object.metadata.name}`);
    this.watch(POD, (e) => `pod/${e.object.metadata.namespace}/${e.object.metadata.name}`);
  }

  /** The deletions scheduled, by pod key: when each fires (cluster-clock ms). */
  get scheduled(): ReadonlyMap<string, number> {
    return new Map([...this.#work].map(([k, w]) => [k, w.fireAt]));
  }

  protected reconcile(key: string): void {
    if (key.startsWith('node/')) this.#handleNodeUpdate(key.slice('node/'.length));
    else if (key.startsWith('pod/')) this.#handlePodUpdate(key.slice('pod/'.length));
    else if (key.startsWith('evict/')) this.#evict(key.slice('evict/'.length));
  }

  override stop(): void {
    super.stop();
    for (const w of this.#work.values()) w.timer.cancel();
    this.#work.clear();
  }

  #handleNodeUpdate(name: string): void {
    const node = this.ctx.store.get(NODE, undefined, name) as Node | undefined;
    const taints = (node?.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');
    const before = this.#tainted.get(name);
    if (JSON.stringify(before ?? []) === JSON.stringify(taints) && (node || !before)) return;
    if (!node || !taints.length) this.#tainted.delete(name);
    else this.#tainted.set(name, taints);
    if (!node) return;
    const pods = this.ctx.store.select(POD, { fieldSelector: `spec.nodeName=${name}` }) as readonly Pod[];
    const now = this.ctx.clock.now();
    for (const pod of pods) {
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      if (!taints.length) this.#cancel(key, pod);
      else this.#processPodOnNode(key, pod, taints, now);
    }
  }

  #handlePodUpdate(key: string): void {
    const { namespace, name } = splitKey(key);
    const pod = this.ctx.store.get(POD, namespace, name) as Pod | undefined;
    if (!pod) {
      this.#pods.delete(key);
      this.#cancel(key);
      return;
    }
    // PodUpdated: only a new node or new tolerations matter.
    const seen = JSON.stringify([pod.spec.nodeName ?? '', pod.spec.tolerations ?? []]);
    if (this.#pods.get(key) === seen) return;
    this.#pods.set(key, seen);
    const taints = pod.spec.nodeName ? this.#tainted.get(pod.spec.nodeName) : undefined;
    if (!taints) return;
    this.#processPodOnNode(key, pod, taints, this.ctx.clock.now());
  }

  #processPodOnNode(key: string, pod: Readonly<Pod>, taints: readonly Taint[], now: number): void {
    const { all, used } = matchingTolerations(taints, pod.spec.tolerations ?? []);
    if (!all) {
      this.#cancel(key, pod);
      return this.#schedule(key, now, now);
    }
    const min = minTolerationMs(used);
    if (min < 0) return this.#cancel(key, pod);
    let start = now;
    const trigger = now + min;
    const existing = this.#work.get(key);
    if (existing) {
      start = existing.createdAt;
      if (start + min < trigger) return;
      this.#cancel(key, pod);
    }
    this.#schedule(key, start, trigger);
  }

  #schedule(key: string, createdAt: number, fireAt: number): void {
    const work = { createdAt, fireAt, due: false, timer: { cancel: () => {} } as TimerHandle };
    const fire = () => {
      work.due = true;
      this.enqueue(`evict/${key}`);
    };
    this.#work.set(key, work);
    const wait = fireAt - this.ctx.clock.now();
    if (wait <= 0) fire();
    else work.timer = this.ctx.clock.setTimeout(fire, wait);
  }

  #cancel(key: string, pod?: Readonly<Pod>): void {
    const work = this.#work.get(key);
    if (!work) return;
    work.timer.cancel();
    this.#work.delete(key);
    if (pod) this.ctx.recorder.record(pod as KubeObject, 'Normal', 'TaintManagerEviction', `Cancelling deletion of Pod ${key}`, TAINT_EVICTION_CONTROLLER);
  }

  /** `deletePodHandler`: DisruptionTarget, then a graceful delete. */
  #evict(key: string): void {
    const work = this.#work.get(key);
    if (!work?.due) return;
    this.#work.delete(key);
    const { namespace, name } = splitKey(key);
    const pod = this.ctx.store.get(POD, namespace, name) as Pod | undefined;
    if (!pod) return;
    this.ctx.recorder.record(pod, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${key}`, TAINT_EVICTION_CONTROLLER);
    const conditions = pod.status?.conditions ?? [];
    if (!conditions.some((c) => c.type === 'DisruptionTarget' && c.status === 'True' && c.reason === 'DeletionByTaintManager')) {
      const disruption = {
        type: 'DisruptionTarget',
        status: 'True' as const,
        reason: 'DeletionByTaintManager',
        message: 'Taint manager: deleting due to NoExecute taint',
        lastTransitionTime: rfc3339(this.ctx.clock.now()),
      };
      const status = { ...pod.status, conditions: [...conditions.filter((c) => c.type !== 'DisruptionTarget'), disruption] };
      this.ctx.store.update({ ...pod, status } as KubeObject, { subresource: 'status' });
    }
    this.ctx.store.delete(POD, namespace, name);
  }
}
