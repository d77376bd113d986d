/**
 * The ReplicaSet controller (kube-controller-manager's `replicaset`): keeps `spec.replicas` pods
 * matching the selector alive, controlled by the ReplicaSet.
 *
 * Follows pkg/controller/replicaset/replica_set.go:
 * - pods are claimed as `ControllerRefManager` does: matching orphans are adopted, owned pods
 *   that stop matching are released;
 * - the count is of active pods (not finished, not terminating); terminating pods are reported
 *   in `status.terminatingReplicas` but replaced at once, as upstream does;
 * - new pods come from the template with `generateName: <rs>-` (the store completes the name
 *   with five characters of its seeded RNG) and a controller owner reference with
 *   blockOwnerDeletion; each creation records `SuccessfulCreate` "Created pod: <name>";
 * - surplus pods are deleted in `ActivePodsWithRanks` order (unscheduled, then pending, then not
 *   ready, then doubled-up on a node, then most recently ready or created), each recording
 *   `SuccessfulDelete` "Deleted pod: <name>";
 * - status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas (ready for
 *   minReadySeconds on the injected clock; the ReplicaSet is requeued when the next pod will
 *   become available) and observedGeneration.
 *
 * Upstream's expectations and slow-start batching exist to cope with a lagging informer cache;
 * podnet's store is read-your-writes, so neither is needed. The ReplicaFailure condition is not
 * set: a failed create is recorded as `FailedCreate` and retried with back-off.
 */

import type { KubeObject } from '../api/meta.js';
import type { Pod, ReplicaSet } from '../api/types.js';
import { Controller, keyOfEvent, splitKey } from './controller.js';
import {
  KIND,
  availableAt,
  claimObjects,
  compareForDeletion,
  isControlledBy,
  isPodActive,
  isPodReady,
  isPodTerminating,
  ownerKeysOfEvent,
  podFromTemplate,
  workloadSelector,
} from './podtemplate.js';

/** The component ReplicaSet events carry. */
export const REPLICASET_CONTROLLER = 'replicaset-controller';

/** The ReplicaSet controller. See the module header for the behaviour followed. */
export class ReplicaSetController extends Controller {
  readonly name = 'replicaset';

  protected setup(): void {
    this.watch(KIND.ReplicaSet, (e) => keyOfEvent(e));
    // A pod's controller, or for an orphan every ReplicaSet that might adopt it.
    this.watch(KIND.Pod, (e) => ownerKeysOfEvent(this.ctx.store, KIND.ReplicaSet, e));
  }

  protected reconcile(key: string): void {
    const { store, clock, recorder } = this.ctx;
    const { namespace, name } = splitKey(key);
    const rs = store.get(KIND.ReplicaSet, namespace, name) as ReplicaSet | undefined;
    if (!rs) return;
    const selector = workloadSelector(rs.spec.selector);
    const pods = store.select(KIND.Pod, { namespace });
    // Only active pods are claimed and counted (FilterActivePods); terminating ones are reported.
    const active = claimObjects(store, rs, selector, pods.filter(isPodActive)) as Pod[];
    const terminating = pods.filter((p) => isPodTerminating(p) && isControlledBy(p, rs)).length;

    if (!rs.metadata.deletionTimestamp) {
      const want = Math.max(0, rs.spec.replicas ?? 1);
      const diff = active.length - want;
      if (diff < 0) {
        for (let i = 0; i < -diff; i++) {
          let pod: KubeObject;
          try {
            pod = store.create(podFromTemplate(rs.spec.template, rs));
          } catch (err) {
            recorder.record(rs, 'Warning', 'FailedCreate', `Error creating: ${(err as Error).message}`, REPLICASET_CONTROLLER);
            throw err;
          }
          active.push(pod as Pod);
          recorder.record(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`, REPLICASET_CONTROLLER);
        }
      } else if (diff > 0) {
        const onNode = new Map<string, number>();
        for (const p of active) if (p.spec.nodeName) onNode.set(p.spec.nodeName, (onNode.get(p.spec.nodeName) ?? 0) + 1);
        const rank = (p: Readonly<KubeObject>) => (p.spec?.nodeName ? onNode.get(p.spec.nodeName)! : 0);
        const victims = [...active].sort(compareForDeletion(rank)).slice(0, diff);
        for (const victim of victims) {
          try {
            store.delete(KIND.Pod, namespace, victim.metadata.name!, { preconditions: { uid: victim.metadata.uid! } });
          } catch (err) {
            if ((err as { code?: string }).code !== 'PODNET_NOT_FOUND') {
              recorder.record(rs, 'Warning', 'FailedDelete', `Error deleting: ${(err as Error).message}`, REPLICASET_CONTROLLER);
              throw err;
            }
          }
          recorder.record(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${victim.metadata.name}`, REPLICASET_CONTROLLER);
          active.splice(active.indexOf(victim), 1);
        }
      }
    }

    // calculateStatus, over the pods as they are now.
    const now = clock.now();
    const minReady = rs.spec.minReadySeconds ?? 0;
    const templateLabels = rs.spec.template?.metadata?.labels ?? {};
    let fullyLabeled = 0;
    let ready = 0;
    let available = 0;
    let nextAvailable = Infinity;
    for (const p of active) {
      const labels = p.metadata.labels ?? {};
      if (Object.entries(templateLabels).every(([k, v]) => labels[k] === v)) fullyLabeled++;
      if (!isPodReady(p)) continue;
      ready++;
      const at = availableAt(p, minReady)!;
      if (at <= now) available++;
      else nextAvailable = Math.min(nextAvailable, at);
    }
    const status: Record<string, unknown> = {
      ...(rs.status ?? {}),
      replicas: active.length,
      fullyLabeledReplicas: fullyLabeled,
      readyReplicas: ready,
      availableReplicas: available,
      terminatingReplicas: terminating,
      observedGeneration: rs.metadata.generation ?? 1,
    };
    const fresh = store.get(KIND.ReplicaSet, namespace, name);
    if (fresh && fresh.metadata.uid === rs.metadata.uid) store.update({ ...fresh, status }, { subresource: 'status' });
    if (nextAvailable !== Infinity) this.enqueueAfter(key, nextAvailable - now);
  }
}
