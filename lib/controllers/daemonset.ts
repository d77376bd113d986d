/**
 * The DaemonSet controller (kube-controller-manager's `daemonset`): one pod per eligible node.
 *
 * Follows pkg/controller/daemon (daemon_controller.go, update.go, util/daemonset_util.go):
 * - a node is eligible (`NodeShouldRunDaemonPod`) when the template's `nodeName` (if any), its
 *   nodeSelector and required node affinity match the node and every NoSchedule/NoExecute taint is
 *   tolerated; a pod whose node gained an untolerated NoSchedule taint keeps running, one with an
 *   untolerated NoExecute taint is deleted;
 * - daemon pods get upstream's automatic tolerations (`node.kubernetes.io/not-ready` and
 *   `unreachable` NoExecute; `disk-pressure`, `memory-pressure`, `pid-pressure`, `unschedulable`
 *   NoSchedule; `network-unavailable` NoSchedule for hostNetwork pods);
 * - a pod is created per eligible node without one, with generateName `<ds>-`, labels
 *   `controller-revision-hash: <hash>` and `pod-template-generation`, and its required node
 *   affinity replaced by `matchFields metadata.name In [<node>]` — the default scheduler then
 *   binds it, as upstream since ScheduleDaemonSetPods; extra pods on a node (all but the oldest),
 *   Failed or Succeeded pods, and pods on nodes that should not run them are deleted. Node
 *   additions, removals and label or taint changes are followed. Pods whose node no longer exists
 *   are deleted too (upstream leaves bound ones to the pod garbage collector, which podnet folds
 *   in here);
 * - RollingUpdate (the default) replaces old pods node by node, never more than maxUnavailable
 *   (int or percentage of desiredNumberScheduled, rounded up; at least 1) unavailable at once;
 *   OnDelete leaves replacement to the user. maxSurge is not emulated (treated as 0);
 * - status: desiredNumberScheduled, currentNumberScheduled, numberMisscheduled, numberReady,
 *   numberAvailable (ready for minReadySeconds), numberUnavailable, updatedNumberScheduled,
 *   observedGeneration.
 *
 * Events: `SuccessfulCreate` "Created pod: <name>", `SuccessfulDelete` "Deleted pod: <name>",
 * `FailedDaemonPod` for a failed pod being replaced. Not emulated: ControllerRevision objects
 * (the revision is the template hash) and the failed-pod back-off.
 */

import type { KubeObject } from '../api/meta.js';
import { WellKnown, type DaemonSet, type Node, type Pod, type PodSpec, type PodTemplateSpec, type Toleration } from '../api/types.js';
import { Controller, keyOfEvent, splitKey } from './controller.js';
import {
  KIND,
  availableAt,
  byCreation,
  claimObjects,
  computeHash,
  isPodReady,
  isPodTerminal,
  isPodTerminating,
  ownerKeysOfEvent,
  podFromTemplate,
  scaledValue,
  workloadSelector,
} from './podtemplate.js';
import { effectiveTaints, findUntoleratedTaint, isHardTaint, podMatchesNodeAffinity } from './scheduler.js';

/** The component DaemonSet events carry. */
export const DAEMONSET_CONTROLLER = 'daemonset-controller';

/** The label holding the DaemonSet generation a pod was made from (deprecated upstream, still set). */
export const POD_TEMPLATE_GENERATION = 'pod-template-generation';

/** `AddOrUpdateTolerationInPodSpec`: adds a toleration, replacing one with the same key, operator, value and effect. */
function addOrUpdateToleration(spec: PodSpec, toleration: Toleration): void {
  const list = spec.tolerations ?? [];
  const same = (t: Toleration) =>
    (t.key ?? '') === (toleration.key ?? '') &&
    (t.operator ?? 'Equal') === (toleration.operator ?? 'Equal') &&
    (t.value ?? '') === (toleration.value ?? '') &&
    (t.effect ?? '') === (toleration.effect ?? '');
  const i = list.findIndex(same);
  if (i >= 0) list[i] = { ...list[i], ...toleration };
  else list.push(toleration);
  spec.tolerations = list;
}

/** `AddOrUpdateDaemonPodTolerations`: the tolerations every daemon pod gets. */
export function addDaemonPodTolerations(spec: PodSpec): void {
  addOrUpdateToleration(spec, { key: WellKnown.notReadyTaint, operator: 'Exists', effect: 'NoExecute' });
  addOrUpdateToleration(spec, { key: WellKnown.unreachableTaint, operator: 'Exists', effect: 'NoExecute' });
  addOrUpdateToleration(spec, { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' });
  addOrUpdateToleration(spec, { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' });
  addOrUpdateToleration(spec, { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' });
  addOrUpdateToleration(spec, { key: WellKnown.unschedulableTaint, operator: 'Exists', effect: 'NoSchedule' });
  if (spec.hostNetwork) {
    addOrUpdateToleration(spec, { key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' });
  }
}

/** `ReplaceDaemonSetPodNodeNameNodeAffinity`: pins a pod spec to one node by required node affinity. */
export function pinToNode(spec: PodSpec, nodeName: string): void {
  const term = { matchFields: [{ key: 'metadata.name', operator: 'In' as const, values: [nodeName] }] };
  spec.affinity = { ...(spec.affinity ?? {}) };
  spec.affinity.nodeAffinity = { ...(spec.affinity.nodeAffinity ?? {}), requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [term] } };
}

/** The node a daemon pod is for: its nodeName, or the node its `matchFields metadata.name` names (`GetTargetNodeName`). */
export function targetNodeName(pod: Readonly<KubeObject>): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms = (pod.spec as PodSpec | undefined)?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const t of terms) {
    for (const f of t.matchFields ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
    }
  }
  return undefined;
}

/**
 * `NodeShouldRunDaemonPod`: whether a new daemon pod belongs on the node, and whether one already
 * there may keep running.
 */
export function nodeShouldRunDaemonPod(node: Readonly<Node>, ds: Readonly<DaemonSet>): { shouldRun: boolean; shouldContinueRunning: boolean } {
  const spec = structuredClone(ds.spec.template.spec);
  addDaemonPodTolerations(spec);
  if (spec.nodeName && spec.nodeName !== node.metadata.name) return { shouldRun: false, shouldContinueRunning: false };
  if (!podMatchesNodeAffinity(spec, node)) return { shouldRun: false, shouldContinueRunning: false };
  const taints = effectiveTaints(node);
  if (findUntoleratedTaint(taints, spec.tolerations, isHardTaint)) {
    const noExecute = findUntoleratedTaint(taints, spec.tolerations, (t) => t.effect === 'NoExecute');
    return { shouldRun: false, shouldContinueRunning: !noExecute };
  }
  return { shouldRun: true, shouldContinueRunning: true };
}

/** The DaemonSet controller. See the module header for the behaviour followed. */
export class DaemonSetController extends Controller {
  readonly name = 'daemonset';

  protected setup(): void {
    this.watch(KIND.DaemonSet, (e) => keyOfEvent(e));
    this.watch(KIND.Pod, (e) => ownerKeysOfEvent(this.ctx.store, KIND.DaemonSet, e));
    this.watch(KIND.Node, () => this.ctx.store.select(KIND.DaemonSet).map((ds) => `${ds.metadata.namespace}/${ds.metadata.name}`));
  }

  protected reconcile(key: string): void {
    const { store, clock } = this.ctx;
    const { namespace, name } = splitKey(key);
    const ds = store.get(KIND.DaemonSet, namespace, name) as DaemonSet | undefined;
    if (!ds) return;
    const selector = workloadSelector(ds.spec.selector);
    const hash = computeHash(ds.spec.template, (ds.status as { collisionCount?: number } | undefined)?.collisionCount || undefined);
    const nodes = store.select(KIND.Node) as readonly Readonly<Node>[];
    const podsByNode = () => {
      const claimed = claimObjects(store, ds, selector, store.select(KIND.Pod, { namespace })) as Pod[];
      const byNode = new Map<string, Pod[]>();
      for (const p of claimed) {
        if (isPodTerminal(p) && isPodTerminating(p)) continue;
        const node = targetNodeName(p) ?? '';
        byNode.set(node, [...(byNode.get(node) ?? []), p]);
      }
      return byNode;
    };

    if (!ds.metadata.deletionTimestamp && !selector.empty()) {
      this.#manage(ds, nodes, podsByNode(), hash);
      if ((ds.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') this.#rollingUpdate(ds, nodes, podsByNode(), hash);
    }

    // updateDaemonSetStatus
    const now = clock.now();
    const minReady = ds.spec.minReadySeconds ?? 0;
    const byNode = podsByNode();
    let desired = 0;
    let current = 0;
    let misscheduled = 0;
    let ready = 0;
    let available = 0;
    let updated = 0;
    let nextAvailable = Infinity;
    for (const node of nodes) {
      const { shouldRun } = nodeShouldRunDaemonPod(node, ds);
      const pods = byNode.get(node.metadata.name!) ?? [];
      if (!shouldRun) {
        if (pods.length) misscheduled++;
        continue;
      }
      desired++;
      if (!pods.length) continue;
      current++;
      const pod = [...pods].sort(byCreationAndPhase)[0]!;
      if (isPodReady(pod)) {
        ready++;
        const at = availableAt(pod, minReady)!;
        if (at <= now) available++;
        else nextAvailable = Math.min(nextAvailable, at);
      }
      if (pod.metadata.labels?.[WellKnown.controllerRevisionHash] === hash) updated++;
    }
    const status: Record<string, unknown> = {
      ...(ds.status ?? {}),
      currentNumberScheduled: current,
      numberMisscheduled: misscheduled,
      desiredNumberScheduled: desired,
      numberReady: ready,
      observedGeneration: ds.metadata.generation ?? 1,
      updatedNumberScheduled: updated,
      numberAvailable: available,
      numberUnavailable: desired - available,
    };
    const fresh = store.get(KIND.DaemonSet, namespace, name);
    if (fresh && fresh.metadata.uid === ds.metadata.uid) store.update({ ...fresh, status }, { subresource: 'status' });
    if (nextAvailable !== Infinity) this.enqueueAfter(key, nextAvailable - now);
  }

  /** `manage` / `podsShouldBeOnNode`: creates and deletes pods so each eligible node runs one. */
  #manage(ds: DaemonSet, nodes: readonly Readonly<Node>[], byNode: Map<string, Pod[]>, hash: string): void {
    const toCreate: string[] = [];
    const toDelete: Pod[] = [];
    const known = new Set<string>();
    for (const node of nodes) {
      const nodeName = node.metadata.name!;
      known.add(nodeName);
      const { shouldRun, shouldContinueRunning } = nodeShouldRunDaemonPod(node, ds);
      const pods = byNode.get(nodeName) ?? [];
      if (shouldRun && !pods.length) {
        toCreate.push(nodeName);
      } else if (shouldContinueRunning) {
        const running: Pod[] = [];
        for (const p of pods) {
          if (isPodTerminating(p)) continue;
          if (p.status?.phase === 'Failed') {
            this.ctx.recorder.record(
              ds,
              'Warning',
              'FailedDaemonPod',
              `Found failed daemon pod ${p.metadata.namespace}/${p.metadata.name} on node ${nodeName}, will try to kill it`,
              DAEMONSET_CONTROLLER,
            );
            toDelete.push(p);
          } else if (p.status?.phase === 'Succeeded') {
            toDelete.push(p);
          } else {
            running.push(p);
          }
        }
        // All but the oldest.
        toDelete.push(...running.sort(byCreationAndPhase).slice(1));
      } else {
        toDelete.push(...pods.filter((p) => !isPodTerminating(p)));
      }
    }
    // Pods for nodes that are gone.
    for (const [nodeName, pods] of byNode) {
      if (!known.has(nodeName)) toDelete.push(...pods.filter((p) => !isPodTerminating(p)));
    }
    this.#syncNodes(ds, toDelete, toCreate, hash);
  }

  #syncNodes(ds: DaemonSet, toDelete: Pod[], toCreate: string[], hash: string): void {
    const { store, recorder } = this.ctx;
    for (const nodeName of toCreate) {
      const template: PodTemplateSpec = structuredClone(ds.spec.template);
      addDaemonPodTolerations(template.spec);
      pinToNode(template.spec, nodeName);
      const pod = podFromTemplate(template, ds, {
        labels: { [WellKnown.controllerRevisionHash]: hash, [POD_TEMPLATE_GENERATION]: String(ds.metadata.generation ?? 1) },
      });
      let created: KubeObject;
      try {
        created = store.create(pod);
      } catch (err) {
        recorder.record(ds, 'Warning', 'FailedCreate', `Error creating: ${(err as Error).message}`, DAEMONSET_CONTROLLER);
        throw err;
      }
      recorder.record(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`, DAEMONSET_CONTROLLER);
    }
    for (const pod of toDelete) {
      try {
        store.delete(KIND.Pod, pod.metadata.namespace, pod.metadata.name!, { preconditions: { uid: pod.metadata.uid! } });
      } catch (err) {
        if ((err as { code?: string }).code === 'PODNET_NOT_FOUND') continue;
        recorder.record(ds, 'Warning', 'FailedDelete', `Error deleting: ${(err as Error).message}`, DAEMONSET_CONTROLLER);
        throw err;
      }
      recorder.record(ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`, DAEMONSET_CONTROLLER);
    }
  }

  /** `rollingUpdate` without surge: replace old pods while at most maxUnavailable are unavailable. */
  #rollingUpdate(ds: DaemonSet, nodes: readonly Readonly<Node>[], byNode: Map<string, Pod[]>, hash: string): void {
    const now = this.ctx.clock.now();
    let desired = 0;
    for (const node of nodes) {
      if (!nodeShouldRunDaemonPod(node, ds).shouldRun) continue;
      desired++;
      if (!byNode.has(node.metadata.name!)) byNode.set(node.metadata.name!, []);
    }
    let maxUnavailable = scaledValue(ds.spec.updateStrategy?.rollingUpdate?.maxUnavailable, desired, true, 1);
    if (desired > 0 && maxUnavailable === 0) maxUnavailable = 1;
    const isAvailable = (p: Pod) => isPodReady(p) && availableAt(p, ds.spec.minReadySeconds)! <= now;

    let unavailable = 0;
    const replace: Pod[] = [];
    const candidates: Pod[] = [];
    for (const nodeName of [...byNode.keys()].sort()) {
      let newPod: Pod | undefined;
      let oldPod: Pod | undefined;
      let ok = true;
      for (const p of byNode.get(nodeName)!) {
        if (isPodTerminating(p)) continue;
        if (p.metadata.labels?.[WellKnown.controllerRevisionHash] === hash) {
          if (newPod) ok = false;
          newPod = p;
        } else {
          if (oldPod) ok = false;
          oldPod = p;
        }
      }
      if (!ok || (!newPod && !oldPod) || (newPod && oldPod)) {
        unavailable++;
      } else if (newPod) {
        if (!isAvailable(newPod)) unavailable++;
      } else if (!isAvailable(oldPod!)) {
        replace.push(oldPod!);
      } else if (unavailable < maxUnavailable) {
        candidates.push(oldPod!);
      }
    }
    const room = Math.min(Math.max(0, maxUnavailable - unavailable), candidates.length);
    const toDelete = [...replace, ...candidates.slice(0, room)];
    if (toDelete.length) this.#syncNodes(ds, toDelete, [], hash);
  }
}

/** `podByCreationTimestampAndPhase`: scheduled pods first, then oldest, then by name. */
function byCreationAndPhase(a: Readonly<KubeObject>, b: Readonly<KubeObject>): number {
  const sa = !!a.spec?.nodeName;
  const sb = !!b.spec?.nodeName;
  if (sa !== sb) return sa ? -1 : 1;
  return byCreation(a, b);
}
