/**
 * The StatefulSet controller (kube-controller-manager's `statefulset`): pods with a stable
 * identity, `<sts>-<ordinal>`, created, deleted and updated in order.
 *
 * Follows pkg/controller/statefulset (stateful_set_control.go `updateStatefulSet`,
 * stateful_set_utils.go):
 * - pods are named `<sts>-<ordinal>` for ordinals `spec.ordinals.start` .. start+replicas-1 and
 *   labelled `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
 *   `controller-revision-hash: <sts>-<hash>`; `spec.hostname` is the pod name and
 *   `spec.subdomain` the `serviceName`, which is what gives each pod its DNS name under the
 *   headless Service;
 * - OrderedReady (the default): ordinal N is created only once every lower ordinal is Running
 *   and Ready (and available for minReadySeconds); scaling down deletes the highest ordinal
 *   first, one at a time, waiting for it to terminate. Parallel: all pods are created and
 *   deleted at once;
 * - a missing pod is recreated with the same name; a Failed or Succeeded pod is deleted and then
 *   recreated;
 * - RollingUpdate deletes, from the highest ordinal down to `partition`, one pod at a time that
 *   is not at the update revision, waiting for each to come back healthy; pods below the
 *   partition are recreated at the current revision. OnDelete leaves replacement to the user;
 * - status: replicas, readyReplicas, currentReplicas, updatedReplicas, availableReplicas,
 *   currentRevision, updateRevision, observedGeneration, collisionCount; once every pod is
 *   updated and ready, the update revision becomes the current one.
 *
 * podnet stores no ControllerRevision objects: a revision is `<sts>-<hash of the template>` and
 * the templates of earlier revisions are remembered in memory as the controller sees them. A pod
 * below the partition whose revision's template is no longer known is recreated at the update
 * revision. Not emulated: volumeClaimTemplates (PVCs), maxUnavailable for StatefulSets and
 * persistentVolumeClaimRetentionPolicy.
 */

import type { KubeObject } from '../api/meta.js';
import { WellKnown, type Pod, type PodTemplateSpec, type StatefulSet } from '../api/types.js';
import { Controller, keyOfEvent, splitKey } from './controller.js';
import {
  KIND,
  availableAt,
  claimObjects,
  computeHash,
  controllerRefOf,
  isControlledBy,
  isPodRunningAndReady,
  isPodTerminal,
  isPodTerminating,
  podFromTemplate,
  workloadSelector,
} from './podtemplate.js';

/** The component StatefulSet events carry. */
export const STATEFULSET_CONTROLLER = 'statefulset-controller';

const ORDINAL_NAME = /^(.*)-([0-9]+)$/;

/** The parent name and ordinal of a StatefulSet pod name (`web-2` → `web`, 2), or undefined. */
export function parsePodName(name: string): { parent: string; ordinal: number } | undefined {
  const m = ORDINAL_NAME.exec(name);
  if (!m) return undefined;
  return { parent: m[1]!, ordinal: Number(m[2]) };
}

/** The revision name of a StatefulSet's current template: `<sts>-<hash>`. */
export function statefulSetRevision(sts: StatefulSet): string {
  // A zero collision count hashes like none, so the revision survives the first status write.
  const collisions = (sts.status as { collisionCount?: number } | undefined)?.collisionCount || undefined;
  return `${sts.metadata.name}-${computeHash(sts.spec.template, collisions)}`;
}

const revisionOf = (pod: Readonly<KubeObject>): string | undefined => pod.metadata.labels?.[WellKnown.controllerRevisionHash];
const isHealthy = (pod: Readonly<KubeObject> | undefined): boolean => !!pod && isPodRunningAndReady(pod) && !isPodTerminating(pod);

/** The StatefulSet controller. See the module header for the behaviour followed. */
export class StatefulSetController extends Controller {
  readonly name = 'statefulset';
  /** Templates by `<uid>/<revision>`, remembered as the StatefulSet changes. */
  readonly #templates = new Map<string, PodTemplateSpec>();

  protected setup(): void {
    this.watch(KIND.StatefulSet, (e) => {
      const sts = e.object as StatefulSet;
      if (e.type === 'DELETED') {
        for (const k of this.#templates.keys()) if (k.startsWith(`${sts.metadata.uid}/`)) this.#templates.delete(k);
      } else if (sts.spec?.template) {
        this.#templates.set(`${sts.metadata.uid}/${statefulSetRevision(sts)}`, sts.spec.template);
      }
      return keyOfEvent(e);
    });
    this.watch(KIND.Pod, (e) => {
      const pod = e.object;
      const ref = controllerRefOf(pod);
      if (ref) return ref.kind === 'StatefulSet' ? `${pod.metadata.namespace}/${ref.name}` : undefined;
      if (e.type === 'DELETED') return undefined;
      const parent = parsePodName(pod.metadata.name ?? '')?.parent;
      if (parent === undefined) return undefined;
      const sts = this.ctx.store.peek(KIND.StatefulSet, pod.metadata.namespace, parent);
      return sts && workloadSelector(sts.spec?.selector).matches(pod.metadata.labels ?? {}) ? `${pod.metadata.namespace}/${parent}` : undefined;
    });
  }

  protected reconcile(key: string): void {
    const { store, clock } = this.ctx;
    const { namespace, name } = splitKey(key);
    const sts = store.get(KIND.StatefulSet, namespace, name) as StatefulSet | undefined;
    if (!sts) return;
    const selector = workloadSelector(sts.spec.selector);
    const members = store.select(KIND.Pod, { namespace }).filter((p) => parsePodName(p.metadata.name ?? '')?.parent === name);
    let pods = claimObjects(store, sts, selector, members) as Pod[];

    const updateRevision = statefulSetRevision(sts);
    this.#templates.set(`${sts.metadata.uid}/${updateRevision}`, sts.spec.template);
    const prevStatus = (sts.status ?? {}) as Record<string, unknown>;
    const currentRevision = (prevStatus.currentRevision as string | undefined) || updateRevision;

    if (!sts.metadata.deletionTimestamp) {
      this.#manage(sts, pods, currentRevision, updateRevision);
      pods = store.select(KIND.Pod, { namespace }).filter((p) => isControlledBy(p, sts)) as Pod[];
    }

    // computeReplicaStatus over the pods as they are now.
    const now = clock.now();
    const minReady = sts.spec.minReadySeconds ?? 0;
    let replicas = 0;
    let ready = 0;
    let available = 0;
    let current = 0;
    let updated = 0;
    let nextAvailable = Infinity;
    for (const p of pods) {
      replicas++;
      if (isPodRunningAndReady(p)) {
        ready++;
        const at = availableAt(p, minReady)!;
        if (at <= now) available++;
        else nextAvailable = Math.min(nextAvailable, at);
      }
      if (!isPodTerminating(p)) {
        if (revisionOf(p) === currentRevision) current++;
        if (revisionOf(p) === updateRevision) updated++;
      }
    }
    const status: Record<string, unknown> = {
      ...prevStatus,
      observedGeneration: sts.metadata.generation ?? 1,
      replicas,
      readyReplicas: ready,
      currentReplicas: current,
      updatedReplicas: updated,
      currentRevision,
      updateRevision,
      collisionCount: (prevStatus.collisionCount as number | undefined) ?? 0,
      availableReplicas: available,
    };
    // completeRollingUpdate
    if ((sts.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate' && updated === replicas && ready === replicas) {
      status.currentReplicas = updated;
      status.currentRevision = updateRevision;
    }
    const fresh = store.get(KIND.StatefulSet, namespace, name);
    if (fresh && fresh.metadata.uid === sts.metadata.uid) store.update({ ...fresh, status }, { subresource: 'status' });
    if (nextAvailable !== Infinity) this.enqueueAfter(key, nextAvailable - now);
  }

  /** `updateStatefulSet`'s replica, condemned and rolling-update passes. */
  #manage(sts: StatefulSet, pods: Pod[], currentRevision: string, updateRevision: string): void {
    const now = this.ctx.clock.now();
    const start = sts.spec.ordinals?.start ?? 0;
    const count = Math.max(0, sts.spec.replicas ?? 1);
    const monotonic = (sts.spec.podManagementPolicy ?? 'OrderedReady') !== 'Parallel';
    const minReady = sts.spec.minReadySeconds ?? 0;
    const available = (p: Pod | undefined) => !!p && isPodRunningAndReady(p) && availableAt(p, minReady)! <= now;

    const replicas: (Pod | undefined)[] = new Array(count).fill(undefined);
    const condemned: Pod[] = [];
    for (const pod of pods) {
      const ordinal = parsePodName(pod.metadata.name!)?.ordinal;
      if (ordinal === undefined) continue;
      if (ordinal >= start && ordinal < start + count) replicas[ordinal - start] = pod;
      else condemned.push(pod);
    }
    condemned.sort((a, b) => parsePodName(b.metadata.name!)!.ordinal - parsePodName(a.metadata.name!)!.ordinal);

    let firstUnhealthy: Pod | undefined;
    for (const p of replicas) if (!isHealthy(p) && p && !firstUnhealthy) firstUnhealthy = p;
    for (let i = condemned.length - 1; i >= 0 && !firstUnhealthy; i--) if (!isHealthy(condemned[i])) firstUnhealthy = condemned[i];

    const partition = sts.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
    const rolling = (sts.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';

    // Replicas, lowest ordinal first.
    for (let i = 0; i < count; i++) {
      const pod = replicas[i];
      if (pod && isPodTerminal(pod)) {
        if (!isPodTerminating(pod)) this.#deletePod(sts, pod);
        // A new pod comes once the old one is gone from the store.
        if (monotonic) return;
        continue;
      }
      if (!pod) {
        const atCurrent = rolling && i < partition && currentRevision !== updateRevision;
        const created = this.#createPod(sts, start + i, atCurrent ? currentRevision : updateRevision);
        replicas[i] = created;
        if (monotonic) return;
        continue;
      }
      if (isPodTerminating(pod) && monotonic) return;
      if (!isPodRunningAndReady(pod) && monotonic) return;
      if (!available(pod) && monotonic) {
        const at = availableAt(pod, minReady);
        if (at !== undefined) this.enqueueAfter(`${sts.metadata.namespace}/${sts.metadata.name}`, at - now);
        return;
      }
      this.#ensureIdentity(pod, start + i);
    }

    // Condemned pods, highest ordinal first.
    for (const pod of condemned) {
      if (isPodTerminating(pod)) {
        if (monotonic) return;
        continue;
      }
      if (monotonic && pod !== firstUnhealthy && (!isPodRunningAndReady(pod) || !available(pod))) return;
      this.#deletePod(sts, pod);
      if (monotonic) return;
    }

    if (!rolling) return;
    // Rolling update: the highest ordinal not at the update revision goes first.
    for (let target = count - 1; target >= partition; target--) {
      const pod = replicas[target];
      if (pod && revisionOf(pod) !== updateRevision && !isPodTerminating(pod)) {
        this.#deletePod(sts, pod);
        return;
      }
      if (!isHealthy(pod)) return;
    }
  }

  #createPod(sts: StatefulSet, ordinal: number, revision: string): Pod | undefined {
    const { store, recorder } = this.ctx;
    const template = this.#templates.get(`${sts.metadata.uid}/${revision}`);
    const rev = template ? revision : statefulSetRevision(sts);
    const name = `${sts.metadata.name}-${ordinal}`;
    const pod = podFromTemplate(template ?? sts.spec.template, sts, {
      name,
      labels: {
        [WellKnown.statefulSetPodName]: name,
        [WellKnown.podIndex]: String(ordinal),
        [WellKnown.controllerRevisionHash]: rev,
      },
    });
    pod.spec.hostname = name;
    if (sts.spec.serviceName) pod.spec.subdomain = sts.spec.serviceName;
    try {
      const created = store.create(pod) as Pod;
      recorder.record(sts, 'Normal', 'SuccessfulCreate', `create Pod ${name} in StatefulSet ${sts.metadata.name} successful`, STATEFULSET_CONTROLLER);
      return created;
    } catch (err) {
      recorder.record(
        sts,
        'Warning',
        'FailedCreate',
        `create Pod ${name} in StatefulSet ${sts.metadata.name} failed error: ${(err as Error).message}`,
        STATEFULSET_CONTROLLER,
      );
      throw err;
    }
  }

  #deletePod(sts: StatefulSet, pod: Pod): void {
    const { store, recorder } = this.ctx;
    const name = pod.metadata.name!;
    try {
      store.delete(KIND.Pod, pod.metadata.namespace, name, { preconditions: { uid: pod.metadata.uid! } });
    } catch (err) {
      if ((err as { code?: string }).code === 'PODNET_NOT_FOUND') return;
      recorder.record(
        sts,
        'Warning',
        'FailedDelete',
        `delete Pod ${name} in StatefulSet ${sts.metadata.name} failed error: ${(err as Error).message}`,
        STATEFULSET_CONTROLLER,
      );
      throw err;
    }
    recorder.record(sts, 'Normal', 'SuccessfulDelete', `delete Pod ${name} in StatefulSet ${sts.metadata.name} successful`, STATEFULSET_CONTROLLER);
  }

  /** `identityMatches`/`updateIdentity`: the identity labels an adopted pod may lack. */
  #ensureIdentity(pod: Pod, ordinal: number): void {
    const labels = pod.metadata.labels ?? {};
    const name = pod.metadata.name!;
    if (labels[WellKnown.statefulSetPodName] === name && labels[WellKnown.podIndex] === String(ordinal)) return;
    const copy = { ...pod, metadata: { ...pod.metadata, labels: { ...labels, [WellKnown.statefulSetPodName]: name, [WellKnown.podIndex]: String(ordinal) } } };
    this.ctx.store.update(copy);
  }
}
