/**
 * The default scheduler (kube-scheduler's `default-scheduler` profile): binds each pending Pod
 * that names no node, and whose `spec.schedulerName` is `default-scheduler` or unset, to a Node.
 *
 * Follows kube-scheduler's framework with the default plugins, in their order:
 *
 * - Filter: NodeUnschedulable (`spec.unschedulable`, unless the pod tolerates
 *   `node.kubernetes.io/unschedulable:NoSchedule`), TaintToleration (every NoSchedule and
 *   NoExecute taint must be tolerated; a node whose Ready condition is False or Unknown counts as
 *   tainted `node.kubernetes.io/not-ready` / `unreachable` with NoSchedule, as the node lifecycle
 *   controller would taint it), NodeAffinity (`nodeSelector` and required node affinity:
 *   nodeSelectorTerms ORed, their expressions ANDed, In/NotIn/Exists/DoesNotExist/Gt/Lt,
 *   `matchFields` on `metadata.name`), NodePorts (hostPort/protocol/hostIP conflicts with the
 *   pods already on the node). A node is reported by the first filter it fails, and the
 *   unschedulable message is `FitError.Error()`'s, preemption summary included:
 *   `0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: },
 *   2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available:
 *   3 Preemption is not helpful for scheduling.`
 * - Score, with the default weights: TaintToleration ×3 (fewer untolerated PreferNoSchedule
 *   taints), NodeAffinity ×2 (sum of matching preferred terms' weights), PodTopologySpread ×2 with
 *   the system default constraints (`kubernetes.io/hostname` maxSkew 3 and
 *   `topology.kubernetes.io/zone` maxSkew 5, ScheduleAnyway) over the pods of the same controller,
 *   each normalised to 0..100 as upstream does. podnet has no resource requests, so in place of
 *   NodeResourcesFit/BalancedAllocation a tie goes to the node with the fewest pods; a remaining
 *   tie is broken by the seeded RNG (upstream's `selectHost` samples the best nodes at random).
 *
 * Binding: the real scheduler POSTs the `binding` subresource; podnet sets `spec.nodeName` by an
 * update (allowed from empty) and the PodScheduled=True condition in the same transaction, then
 * records `Scheduled` "Successfully assigned ns/pod to node". An unschedulable pod gets
 * PodScheduled=False reason Unschedulable and a `FailedScheduling` Warning, and is retried when a
 * Node changes or a bound pod goes away (upstream's queueing hints). Pods that already name a
 * node are never touched. Not emulated: resources, pod (anti-)affinity, explicit
 * topologySpreadConstraints, volumes, priorities and preemption.
 */

import { rfc3339 } from '../core/clock.js';
import type { KubeObject } from '../api/meta.js';
import {
  WellKnown,
  type Node,
  type NodeSelectorRequirement,
  type NodeSelectorTerm,
  type Pod,
  type PodSpec,
  type Taint,
  type Toleration,
} from '../api/types.js';
import { requirementMatches, type Operator } from '../apimachinery/labels.js';
import { Controller, keyOfEvent, splitKey } from './controller.js';
import { KIND, controllerRefOf, isPodTerminal, setCondition } from './podtemplate.js';

/** The scheduler name this scheduler answers to, and the component its events carry. */
export const DEFAULT_SCHEDULER = 'default-scheduler';

// ------------------------------------------------------------------------------------------------
// Taints and tolerations (k8s.io/api/core/v1 toleration.go, component-helpers/scheduling/corev1)

/** `Toleration.ToleratesTaint`: empty effect matches every effect, empty key (with Exists) every key. */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  switch (toleration.operator ?? '') {
    case '':
    case 'Equal':
      return (toleration.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

/** `FindMatchingUntoleratedTaint`: the first taint passing `filter` that no toleration tolerates. */
export function findUntoleratedTaint(
  taints: readonly Taint[],
  tolerations: readonly Toleration[] | undefined,
  filter: (taint: Taint) => boolean,
): Taint | undefined {
  for (const taint of taints) {
    if (!filter(taint)) continue;
    if (!(tolerations ?? []).some((t) => toleratesTaint(t, taint))) return taint;
  }
  return undefined;
}

/** NoSchedule and NoExecute: the effects the scheduler filters on. */
export const isHardTaint = (t: Taint): boolean => t.effect === 'NoSchedule' || t.effect === 'NoExecute';

/**
 * A node's taints as the scheduler sees them: its own, plus `node.kubernetes.io/not-ready`
 * (Ready=False) or `node.kubernetes.io/unreachable` (Ready=Unknown) with NoSchedule when the node
 * does not carry them already — what the node lifecycle controller's TaintNodesByCondition adds.
 */
export function effectiveTaints(node: Readonly<Node>): Taint[] {
  const taints = [...(node.spec?.taints ?? [])];
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  const key = ready === 'False' ? WellKnown.notReadyTaint : ready === 'Unknown' ? WellKnown.unreachableTaint : undefined;
  if (key && !taints.some((t) => t.key === key && t.effect === 'NoSchedule')) taints.push({ key, effect: 'NoSchedule' });
  return taints;
}

// ------------------------------------------------------------------------------------------------
// Node affinity (component-helpers/scheduling/corev1/nodeaffinity)

const NODE_SELECTOR_OPERATORS: Record<NodeSelectorRequirement['operator'], Operator> = {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!',
  Gt: 'gt',
  Lt: 'lt',
};

function requirementsMatch(reqs: readonly NodeSelectorRequirement[], values: Record<string, string>): boolean {
  return reqs.every((r) => {
    const operator = NODE_SELECTOR_OPERATORS[r.operator];
    if (!operator) return false;
    return requirementMatches({ key: r.key, operator, values: r.values ?? [] }, values);
  });
}

/**
 * Whether a node selector term matches a node: all its matchExpressions (on labels) and
 * matchFields (only `metadata.name` is a field) hold. A term with neither matches nothing.
 */
export function nodeSelectorTermMatches(term: NodeSelectorTerm, node: Readonly<Node>): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (!exprs.length && !fields.length) return false;
  if (fields.some((f) => f.key !== 'metadata.name')) return false;
  return requirementsMatch(exprs, node.metadata.labels ?? {}) && requirementsMatch(fields, { 'metadata.name': node.metadata.name! });
}

/** `nodeSelector` and required node affinity both hold (`GetRequiredNodeAffinity(pod).Match(node)`). */
export function podMatchesNodeAffinity(spec: Readonly<PodSpec>, node: Readonly<Node>): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const required = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  return (required.nodeSelectorTerms ?? []).some((t) => nodeSelectorTermMatches(t, node));
}

// ------------------------------------------------------------------------------------------------
// Host ports (NodePorts plugin)

interface HostPort {
  ip: string;
  protocol: string;
  port: number;
}

/** The host ports a pod asks for (hostNetwork pods take their container ports on the host). */
export function hostPortsOf(spec: Readonly<PodSpec>): HostPort[] {
  const out: HostPort[] = [];
  for (const c of spec.containers ?? []) {
    for (const p of c.ports ?? []) {
      const port = p.hostPort || (spec.hostNetwork ? p.containerPort : 0);
      if (!port) continue;
      out.push({ ip: p.hostIP || '0.0.0.0', protocol: p.protocol ?? 'TCP', port });
    }
  }
  return out;
}

function portsConflict(a: HostPort, b: HostPort): boolean {
  return a.port === b.port && a.protocol === b.protocol && (a.ip === b.ip || a.ip === '0.0.0.0' || b.ip === '0.0.0.0');
}

// ------------------------------------------------------------------------------------------------
// Filtering

/** Why one node cannot take the pod, and whether preemption could change that. */
export interface FilterFailure {
  reason: string;
  /** Upstream's Unschedulable (true) vs UnschedulableAndUnresolvable (false). */
  resolvable: boolean;
}

/** Runs the filters on one node; undefined when the node fits. */
export function filterNode(pod: Readonly<Pod>, node: Readonly<Node>, podsOnNode: readonly Readonly<KubeObject>[]): FilterFailure | undefined {
  const spec = pod.spec;
  if (node.spec?.unschedulable) {
    const taint: Taint = { key: WellKnown.unschedulableTaint, effect: 'NoSchedule' };
    if (!(spec.tolerations ?? []).some((t) => toleratesTaint(t, taint))) {
      return { reason: 'node(s) were unschedulable', resolvable: false };
    }
  }
  const taint = findUntoleratedTaint(effectiveTaints(node), spec.tolerations, isHardTaint);
  if (taint) return { reason: `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`, resolvable: false };
  if (!podMatchesNodeAffinity(spec, node)) return { reason: "node(s) didn't match Pod's node affinity/selector", resolvable: false };
  const wanted = hostPortsOf(spec);
  if (wanted.length) {
    const used = podsOnNode.flatMap((p) => hostPortsOf(p.spec ?? { containers: [] }));
    if (wanted.some((w) => used.some((u) => portsConflict(w, u)))) {
      return { reason: "node(s) didn't have free ports for the requested pod ports", resolvable: true };
    }
  }
  return undefined;
}

function histogram(reasons: string[]): string {
  const counts = new Map<string, number>();
  for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  // sortReasonsHistogram sorts the rendered "N reason" strings.
  return [...counts].map(([r, n]) => `${n} ${r}`).sort().join(', ');
}

/**
 * `FitError.Error()` with the DefaultPreemption post-filter message, for the failures of every
 * node. With no nodes at all, upstream's `no nodes available to schedule pods`.
 */
export function unschedulableMessage(failures: readonly FilterFailure[]): string {
  const n = failures.length;
  if (n === 0) return 'no nodes available to schedule pods';
  const main = histogram(failures.map((f) => f.reason));
  const preemption = histogram(
    failures.map((f) => (f.resolvable ? 'No preemption victims found for incoming pod.' : 'Preemption is not helpful for scheduling')),
  );
  return `0/${n} nodes are available: ${main}. preemption: 0/${n} nodes are available: ${preemption}.`;
}

// ------------------------------------------------------------------------------------------------
// Scoring

const MAX_NODE_SCORE = 100;

/** The default plugin weights (pkg/scheduler/apis/config/v1 default_plugins.go). */
export const SCORE_WEIGHTS = { TaintToleration: 3, NodeAffinity: 2, PodTopologySpread: 2 } as const;

/** System default topology spread constraints (PodTopologySpread's `systemDefaultConstraints`). */
const DEFAULT_SPREAD = [
  { key: WellKnown.hostname, maxSkew: 3 },
  { key: WellKnown.zone, maxSkew: 5 },
] as const;

function domainOf(node: Readonly<Node>, key: string): string | undefined {
  // Every node is its own hostname domain, labelled or not.
  if (key === WellKnown.hostname) return node.metadata.labels?.[key] ?? node.metadata.name;
  return node.metadata.labels?.[key];
}

function preferredAffinityScore(spec: Readonly<PodSpec>, node: Readonly<Node>): number {
  const terms = spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  let sum = 0;
  for (const t of terms) if (t.weight && nodeSelectorTermMatches(t.preference, node)) sum += t.weight;
  return sum;
}

function preferNoScheduleCount(spec: Readonly<PodSpec>, node: Readonly<Node>): number {
  const tolerations = (spec.tolerations ?? []).filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
  return (node.spec?.taints ?? []).filter((t) => t.effect === 'PreferNoSchedule' && !tolerations.some((x) => toleratesTaint(x, t))).length;
}

/** One candidate node's scores, for tracing a decision. */
export interface NodeScore {
  node: string;
  taintToleration: number;
  nodeAffinity: number;
  podTopologySpread: number;
  total: number;
  pods: number;
}

/**
 * Scores the feasible nodes for a pod. `allNodes` and `podsByNode` describe the whole cluster
 * (spreading counts pods on every node the pod's node affinity admits).
 */
export function scoreNodes(
  pod: Readonly<Pod>,
  feasible: readonly Readonly<Node>[],
  allNodes: readonly Readonly<Node>[],
  podsByNode: ReadonlyMap<string, readonly Readonly<KubeObject>[]>,
): NodeScore[] {
  const spec = pod.spec;
  const taintRaw = feasible.map((n) => preferNoScheduleCount(spec, n));
  const affinityRaw = feasible.map((n) => preferredAffinityScore(spec, n));
  const maxTaint = Math.max(0, ...taintRaw);
  const maxAffinity = Math.max(0, ...affinityRaw);
  const taintScore = taintRaw.map((c) => (maxTaint === 0 ? MAX_NODE_SCORE : MAX_NODE_SCORE - Math.floor((MAX_NODE_SCORE * c) / maxTaint)));
  const affinityScore = affinityRaw.map((w) => (maxAffinity === 0 ? 0 : Math.floor((MAX_NODE_SCORE * w) / maxAffinity)));
  const spreadScore = spreadScores(pod, feasible, allNodes, podsByNode);
  return feasible.map((n, i) => {
    const s = {
      node: n.metadata.name!,
      taintToleration: taintScore[i]!,
      nodeAffinity: affinityScore[i]!,
      podTopologySpread: spreadScore[i]!,
      total: 0,
      pods: podsByNode.get(n.metadata.name!)?.length ?? 0,
    };
    s.total =
      s.taintToleration * SCORE_WEIGHTS.TaintToleration +
      s.nodeAffinity * SCORE_WEIGHTS.NodeAffinity +
      s.podTopologySpread * SCORE_WEIGHTS.PodTopologySpread;
    return s;
  });
}

/** PodTopologySpread's Score and NormalizeScore for the system default constraints. */
function spreadScores(
  pod: Readonly<Pod>,
  feasible: readonly Readonly<Node>[],
  allNodes: readonly Readonly<Node>[],
  podsByNode: ReadonlyMap<string, readonly Readonly<KubeObject>[]>,
): number[] {
  const owner = controllerRefOf(pod);
  // The system defaults select the pod's siblings; a pod without a controller has none.
  if (!owner) return feasible.map(() => MAX_NODE_SCORE);
  const eligible = allNodes.filter((n) => podMatchesNodeAffinity(pod.spec, n));
  const raw: number[] = feasible.map(() => 0);
  for (const c of DEFAULT_SPREAD) {
    const counts = new Map<string, number>();
    for (const n of eligible) {
      const d = domainOf(n, c.key);
      if (d === undefined) continue;
      const siblings = (podsByNode.get(n.metadata.name!) ?? []).filter(
        (p) => !p.metadata.deletionTimestamp && controllerRefOf(p)?.uid === owner.uid,
      ).length;
      counts.set(d, (counts.get(d) ?? 0) + siblings);
    }
    const domains = new Set(feasible.map((n) => domainOf(n, c.key)).filter((d) => d !== undefined));
    if (!domains.size) continue;
    const weight = Math.log(domains.size + 2);
    feasible.forEach((n, i) => {
      const d = domainOf(n, c.key);
      if (d === undefined) return;
      raw[i]! += ((counts.get(d) ?? 0) + c.maxSkew - 1) * weight;
    });
  }
  const rounded = raw.map((r) => Math.round(r));
  const max = Math.max(...rounded);
  const min = Math.min(...rounded);
  return rounded.map((s) => (max === 0 ? MAX_NODE_SCORE : Math.floor((MAX_NODE_SCORE * (max + min - s)) / max)));
}

// ------------------------------------------------------------------------------------------------
// The controller

/** Options of {@link SchedulerController}. */
export interface SchedulerOptions {
  /** The `spec.schedulerName` this scheduler serves; `default-scheduler` by default. */
  schedulerName?: string;
}

/** The default scheduler. See the module header for the behaviour followed. */
export class SchedulerController extends Controller {
  readonly name: string;
  readonly schedulerName: string;
  /** Bumped whenever the cluster changes in a way that may make an unschedulable pod fit. */
  #epoch = 0;
  /** Pods that did not fit: the pod's resourceVersion and the epoch of the failed attempt. */
  readonly #unschedulable = new Map<string, { rv: string; epoch: number }>();
  /** What each node looked like to the filters last time, to tell real changes from heartbeats. */
  readonly #nodes = new Map<string, string>();

  constructor(options: SchedulerOptions = {}) {
    super();
    this.schedulerName = options.schedulerName ?? DEFAULT_SCHEDULER;
    this.name = this.schedulerName;
  }

  /** Whether this scheduler is responsible for a pod (`spec.schedulerName` unset or ours). */
  responsibleFor(pod: Readonly<KubeObject>): boolean {
    const name = pod.spec?.schedulerName;
    return !name || name === this.schedulerName;
  }

  protected setup(): void {
    this.watch(KIND.Pod, (e) => {
      const pod = e.object;
      const key = keyOfEvent(e);
      if (e.type === 'DELETED') {
        this.#unschedulable.delete(key);
        // A bound pod going away frees host ports and changes spreading.
        return pod.spec?.nodeName ? this.#retryAll() : undefined;
      }
      if (pod.spec?.nodeName || pod.metadata.deletionTimestamp || !this.responsibleFor(pod)) return undefined;
      return key;
    });
    this.watch(KIND.Node, (e) => {
      const name = e.object.metadata.name!;
      if (e.type === 'DELETED') {
        this.#nodes.delete(name);
        return undefined;
      }
      // Only what the filters and scores read counts as a change (not heartbeats).
      const n = e.object as Node;
      const fingerprint = JSON.stringify([
        n.metadata.labels ?? {},
        n.spec?.taints ?? [],
        !!n.spec?.unschedulable,
        n.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '',
      ]);
      if (this.#nodes.get(name) === fingerprint) return undefined;
      this.#nodes.set(name, fingerprint);
      return this.#retryAll();
    });
  }

  #retryAll(): string[] {
    this.#epoch++;
    return [...this.#unschedulable.keys()];
  }

  protected reconcile(key: string): void {
    const { store, clock, rng, recorder } = this.ctx;
    const { namespace, name } = splitKey(key);
    const pod = store.get(KIND.Pod, namespace, name) as Pod | undefined;
    if (!pod || pod.spec.nodeName || pod.metadata.deletionTimestamp || isPodTerminal(pod) || !this.responsibleFor(pod)) {
      this.#unschedulable.delete(key);
      return;
    }
    const last = this.#unschedulable.get(key);
    if (last && last.rv === pod.metadata.resourceVersion && last.epoch === this.#epoch) return;

    const nodes = store.select(KIND.Node) as readonly Readonly<Node>[];
    const podsByNode = new Map<string, Readonly<KubeObject>[]>();
    for (const p of store.select(KIND.Pod)) {
      const nodeName = p.spec?.nodeName;
      if (!nodeName || isPodTerminal(p)) continue;
      let list = podsByNode.get(nodeName);
      if (!list) podsByNode.set(nodeName, (list = []));
      list.push(p);
    }

    const feasible: Readonly<Node>[] = [];
    const failures: FilterFailure[] = [];
    for (const node of nodes) {
      const failure = filterNode(pod, node, podsByNode.get(node.metadata.name!) ?? []);
      if (failure) failures.push(failure);
      else feasible.push(node);
    }

    const now = rfc3339(clock.now());
    if (!feasible.length) {
      const message = unschedulableMessage(failures);
      const status = { ...(pod.status ?? {}) };
      status.phase ??= 'Pending';
      status.conditions = setCondition(status.conditions, {
        type: 'PodScheduled',
        status: 'False',
        lastProbeTime: null,
        lastTransitionTime: now,
        reason: 'Unschedulable',
        message,
      });
      const stored = store.update({ ...pod, status }, { subresource: 'status' });
      this.#unschedulable.set(key, { rv: stored.metadata.resourceVersion!, epoch: this.#epoch });
      recorder.record(stored, 'Warning', 'FailedScheduling', message, DEFAULT_SCHEDULER);
      return;
    }

    const scores = scoreNodes(pod, feasible, nodes, podsByNode);
    const best = Math.max(...scores.map((s) => s.total));
    let top = scores.filter((s) => s.total === best);
    const fewest = Math.min(...top.map((s) => s.pods));
    top = top.filter((s) => s.pods === fewest);
    const chosen = top.length === 1 ? top[0]! : top[rng.int(top.length)]!;

    const bound = store.transaction(() => {
      const updated = store.update({ ...pod, spec: { ...pod.spec, nodeName: chosen.node } });
      const status = { ...(updated.status ?? {}) };
      status.conditions = setCondition(status.conditions, {
        type: 'PodScheduled',
        status: 'True',
        lastProbeTime: null,
        lastTransitionTime: now,
      });
      return store.update({ ...updated, status }, { subresource: 'status' });
    });
    this.#unschedulable.delete(key);
    recorder.record(bound, 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${chosen.node}`, DEFAULT_SCHEDULER);
  }
}
