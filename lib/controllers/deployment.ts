/**
 * The Deployment controller (kube-controller-manager's `deployment`): rolls a Deployment's pod
 * template out through ReplicaSets.
 *
 * Follows pkg/controller/deployment (sync.go, rolling.go, recreate.go, progress.go and
 * util/deployment_util.go):
 * - the new ReplicaSet is the one whose template equals the Deployment's apart from the
 *   `pod-template-hash` label; it is created as `<deployment>-<hash>` with that label added to its
 *   template labels, its own labels and its selector, and carries the
 *   `deployment.kubernetes.io/revision`, `desired-replicas` and `max-replicas` annotations (and
 *   the Deployment's own annotations). A name taken by a different template bumps
 *   `status.collisionCount` and retries with a new hash;
 * - RollingUpdate: maxSurge (rounded up) and maxUnavailable (rounded down) from ints or
 *   percentages, at least one of them non-zero; the new ReplicaSet grows to at most
 *   replicas+maxSurge pods in all, old ones shrink (unhealthy replicas first) while at least
 *   replicas-maxUnavailable stay available, one step per sync as pods become available;
 * - Recreate: every old ReplicaSet to zero, wait until no old pod is left, then the new one up;
 * - scaling (a changed `spec.replicas`, or a paused Deployment) is proportional across the active
 *   ReplicaSets, as upstream's `scale` does;
 * - old ReplicaSets scaled to zero beyond `revisionHistoryLimit` (default 10) are deleted once a
 *   rollout completes (or while paused);
 * - status: observedGeneration, replicas, updatedReplicas, readyReplicas, availableReplicas,
 *   unavailableReplicas, collisionCount and the Available (MinimumReplicasAvailable /
 *   MinimumReplicasUnavailable) and Progressing (NewReplicaSetCreated, FoundNewReplicaSet,
 *   ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded, DeploymentPaused,
 *   DeploymentResumed) conditions, so `kubectl rollout status` works unchanged;
 * - events: `ScalingReplicaSet` "Scaled up replica set web-5d4f8 from 0 to 3".
 *
 * Not emulated: rollback through the deprecated `rollbackTo` field, and moving ReplicaSet
 * failure conditions up to the Deployment.
 */

import { rfc3339 } from '../core/clock.js';
import { PodnetError } from '../core/errors.js';
import { deepCopy, type KubeObject } from '../api/meta.js';
import { WellKnown, type Deployment, type ReplicaSet } from '../api/types.js';
import { Controller, keyOfEvent, splitKey } from './controller.js';
import {
  KIND,
  byCreation,
  claimObjects,
  computeHash,
  controllerRefFor,
  controllerRefOf,
  equalIgnoreHash,
  isControlledBy,
  ownerKeysOfEvent,
  scaledValue,
  timeOf,
  workloadSelector,
} from './podtemplate.js';

/** The component Deployment events carry. */
export const DEPLOYMENT_CONTROLLER = 'deployment-controller';

/** Annotations the Deployment controller writes (pkg/controller/deployment/util). */
export const DeploymentAnnotations = {
  revision: 'deployment.kubernetes.io/revision',
  revisionHistory: 'deployment.kubernetes.io/revision-history',
  desiredReplicas: 'deployment.kubernetes.io/desired-replicas',
  maxReplicas: 'deployment.kubernetes.io/max-replicas',
} as const;

/** Deployment annotations not copied to its ReplicaSets. */
const ANNOTATIONS_TO_SKIP = new Set<string>([
  'kubectl.kubernetes.io/last-applied-configuration',
  DeploymentAnnotations.revision,
  DeploymentAnnotations.revisionHistory,
  DeploymentAnnotations.desiredReplicas,
  DeploymentAnnotations.maxReplicas,
  'deprecated.deployment.rollback.to',
]);

/** Condition reasons, as pkg/controller/deployment/util names them. */
export const DeploymentReasons = {
  NewReplicaSetCreated: 'NewReplicaSetCreated',
  FoundNewReplicaSet: 'FoundNewReplicaSet',
  ReplicaSetUpdated: 'ReplicaSetUpdated',
  NewReplicaSetAvailable: 'NewReplicaSetAvailable',
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  FailedReplicaSetCreate: 'ReplicaSetCreateError',
  DeploymentPaused: 'DeploymentPaused',
  DeploymentResumed: 'DeploymentResumed',
  MinimumReplicasAvailable: 'MinimumReplicasAvailable',
  MinimumReplicasUnavailable: 'MinimumReplicasUnavailable',
} as const;

/** apps/v1 DeploymentCondition. */
export interface DeploymentCondition {
  type: 'Available' | 'Progressing' | 'ReplicaFailure';
  status: 'True' | 'False' | 'Unknown';
  lastUpdateTime: string;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** apps/v1 DeploymentStatus. */
export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  conditions?: DeploymentCondition[];
  collisionCount?: number;
}

// ------------------------------------------------------------------------------------------------
// Arithmetic of deployment_util.go

const replicasOf = (d: Deployment): number => d.spec.replicas ?? 1;
const rsReplicas = (rs: ReplicaSet): number => rs.spec.replicas ?? 1;
const rsStatus = (rs: ReplicaSet, f: 'replicas' | 'readyReplicas' | 'availableReplicas'): number =>
  Number((rs.status as Record<string, unknown> | undefined)?.[f] ?? 0);

function isRollingUpdate(d: Deployment): boolean {
  return (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

/** `ResolveFenceposts`: maxSurge rounded up, maxUnavailable rounded down, never both zero. */
export function resolveFenceposts(
  maxSurge: number | string | undefined,
  maxUnavailable: number | string | undefined,
  desired: number,
): { surge: number; unavailable: number } {
  const surge = scaledValue(maxSurge, desired, true, '25%');
  let unavailable = scaledValue(maxUnavailable, desired, false, '25%');
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

/** `MaxSurge`: how many pods above the desired count a rolling update may run. */
export function maxSurge(d: Deployment): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = d.spec.strategy?.rollingUpdate;
  return resolveFenceposts(ru?.maxSurge, ru?.maxUnavailable, replicasOf(d)).surge;
}

/** `MaxUnavailable`: how many desired pods a rolling update may leave unavailable. */
export function maxUnavailable(d: Deployment): number {
  if (!isRollingUpdate(d) || replicasOf(d) === 0) return 0;
  const ru = d.spec.strategy?.rollingUpdate;
  const { unavailable } = resolveFenceposts(ru?.maxSurge, ru?.maxUnavailable, replicasOf(d));
  return Math.min(unavailable, replicasOf(d));
}

function revisionOf(obj: KubeObject | undefined): number {
  const v = obj?.metadata.annotations?.[DeploymentAnnotations.revision];
  const n = v === undefined ? 0 : Number(v);
  return Number.isInteger(n) ? n : 0;
}

const sum = (rss: readonly (ReplicaSet | undefined)[], f: (rs: ReplicaSet) => number): number =>
  rss.reduce((n, rs) => n + (rs ? f(rs) : 0), 0);

const activeRSs = (rss: readonly (ReplicaSet | undefined)[]): ReplicaSet[] =>
  rss.filter((rs): rs is ReplicaSet => !!rs && rsReplicas(rs) > 0);

function hasProgressDeadline(d: Deployment): boolean {
  const s = d.spec.progressDeadlineSeconds ?? 600;
  return s !== 2147483647;
}

function getCondition(status: DeploymentStatus, type: DeploymentCondition['type']): DeploymentCondition | undefined {
  return status.conditions?.find((c) => c.type === type);
}

/** `SetDeploymentCondition`: same status and reason is no change; same status keeps the transition time. */
function setDeploymentCondition(status: DeploymentStatus, condition: DeploymentCondition): void {
  const current = getCondition(status, condition.type);
  if (current && current.status === condition.status && current.reason === condition.reason) return;
  if (current && current.status === condition.status) condition.lastTransitionTime = current.lastTransitionTime;
  status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== condition.type), condition];
}

function removeCondition(status: DeploymentStatus, type: DeploymentCondition['type']): void {
  status.conditions = (status.conditions ?? []).filter((c) => c.type !== type);
}

/** `DeploymentComplete`: every desired replica updated and available, and the spec observed. */
export function deploymentComplete(d: Deployment, status: DeploymentStatus): boolean {
  const n = replicasOf(d);
  return (
    status.updatedReplicas === n &&
    status.replicas === n &&
    status.availableReplicas === n &&
    (status.observedGeneration ?? 0) >= (d.metadata.generation ?? 0)
  );
}

function deploymentProgressing(d: Deployment, next: DeploymentStatus): boolean {
  const old = (d.status ?? {}) as DeploymentStatus;
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (next.replicas ?? 0) - (next.updatedReplicas ?? 0);
  return (
    (next.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (next.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
    (next.availableReplicas ?? 0) > (old.availableReplicas ?? 0)
  );
}

// ------------------------------------------------------------------------------------------------
// The controller

/** The Deployment controller. See the module header for the behaviour followed. */
export class DeploymentController extends Controller {
  readonly name = 'deployment';

  protected setup(): void {
    this.watch(KIND.Deployment, (e) => keyOfEvent(e));
    this.watch(KIND.ReplicaSet, (e) => ownerKeysOfEvent(this.ctx.store, KIND.Deployment, e));
    // Recreate waits for old pods to be gone.
    this.watch(KIND.Pod, (e) => {
      if (e.type !== 'DELETED') return undefined;
      const ref = controllerRefOf(e.object);
      if (ref?.kind !== 'ReplicaSet') return undefined;
      const rs = this.ctx.store.peek(KIND.ReplicaSet, e.object.metadata.namespace, ref.name);
      const dref = rs && controllerRefOf(rs);
      return dref?.kind === 'Deployment' ? `${e.object.metadata.namespace}/${dref.name}` : undefined;
    });
  }

  protected reconcile(key: string): void {
    const { store, recorder } = this.ctx;
    const { namespace, name } = splitKey(key);
    const d = store.get(KIND.Deployment, namespace, name) as Deployment | undefined;
    if (!d) return;
    d.status ??= {};
    const selector = workloadSelector(d.spec.selector);
    if (selector.empty()) {
      recorder.record(d, 'Warning', 'SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.', DEPLOYMENT_CONTROLLER);
      if ((d.status as DeploymentStatus).observedGeneration !== d.metadata.generation) {
        this.#writeStatus(d, { ...(d.status as DeploymentStatus), observedGeneration: d.metadata.generation ?? 1 });
      }
      return;
    }
    const rsList = claimObjects(store, d, selector, store.select(KIND.ReplicaSet, { namespace })) as ReplicaSet[];

    if (d.metadata.deletionTimestamp) {
      const { newRS, oldRSs } = this.#replicaSets(d, rsList, false);
      this.#syncStatus(d, [...oldRSs, newRS], newRS);
      return;
    }
    this.#checkPausedConditions(d);
    if (d.spec.paused) return this.#sync(d, rsList);
    if (this.#isScalingEvent(d, rsList)) return this.#sync(d, rsList);
    if (isRollingUpdate(d)) this.#rolloutRolling(d, rsList);
    else this.#rolloutRecreate(d, rsList);
  }

  // ---------------------------------------------------------------- writes

  #writeStatus(d: Deployment, status: DeploymentStatus): void {
    const stored = this.ctx.store.update({ ...d, status }, { subresource: 'status' });
    d.status = stored.status;
    d.metadata.resourceVersion = stored.metadata.resourceVersion!;
  }

  #now(): string {
    return rfc3339(this.ctx.clock.now());
  }

  #condition(
    type: DeploymentCondition['type'],
    status: DeploymentCondition['status'],
    reason: string,
    message: string,
  ): DeploymentCondition {
    const now = this.#now();
    return { type, status, lastUpdateTime: now, lastTransitionTime: now, reason, message };
  }

  /** `scaleReplicaSet`: writes the new size and the replicas annotations, records the event. */
  #scaleReplicaSet(rs: ReplicaSet, newScale: number, d: Deployment): boolean {
    const oldScale = rsReplicas(rs);
    const desired = String(replicasOf(d));
    const max = String(replicasOf(d) + maxSurge(d));
    const ann = rs.metadata.annotations ?? {};
    const sizeNeedsUpdate = oldScale !== newScale;
    if (!sizeNeedsUpdate && ann[DeploymentAnnotations.desiredReplicas] === desired && ann[DeploymentAnnotations.maxReplicas] === max) {
      return false;
    }
    const copy = deepCopy(rs);
    copy.spec.replicas = newScale;
    copy.metadata.annotations = { ...ann, [DeploymentAnnotations.desiredReplicas]: desired, [DeploymentAnnotations.maxReplicas]: max };
    const stored = this.ctx.store.update(copy) as ReplicaSet;
    Object.assign(rs, { metadata: stored.metadata, spec: stored.spec, status: stored.status });
    if (sizeNeedsUpdate) {
      const op = oldScale < newScale ? 'up' : 'down';
      this.ctx.recorder.record(
        d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled ${op} replica set ${rs.metadata.name} from ${oldScale} to ${newScale}`,
        DEPLOYMENT_CONTROLLER,
      );
    }
    return sizeNeedsUpdate;
  }

  // ---------------------------------------------------------------- ReplicaSets and revisions

  /**
   * `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created when asked and missing) and
   * the old ones.
   */
  #replicaSets(d: Deployment, rsList: ReplicaSet[], create: boolean): { newRS: ReplicaSet | undefined; oldRSs: ReplicaSet[] } {
    const sorted = [...rsList].sort(byCreation);
    const existing = sorted.find((rs) => equalIgnoreHash(rs.spec.template, d.spec.template));
    const oldRSs = sorted.filter((rs) => rs !== existing);
    const newRS = this.#newReplicaSet(d, existing, oldRSs, create);
    if (newRS && !existing) rsList.push(newRS);
    return { newRS, oldRSs };
  }

  #newReplicaSet(d: Deployment, existing: ReplicaSet | undefined, oldRSs: ReplicaSet[], create: boolean): ReplicaSet | undefined {
    const { store, recorder } = this.ctx;
    const newRevision = Math.max(0, ...oldRSs.map((rs) => revisionOf(rs))) + 1;
    const status = deepCopy(d.status as DeploymentStatus);

    if (existing) {
      const copy = deepCopy(existing);
      let changed = this.#setNewReplicaSetAnnotations(d, copy, newRevision, true);
      if (changed || (copy.spec.minReadySeconds ?? 0) !== (d.spec.minReadySeconds ?? 0)) {
        copy.spec.minReadySeconds = d.spec.minReadySeconds ?? 0;
        const stored = store.update(copy) as ReplicaSet;
        Object.assign(existing, { metadata: stored.metadata, spec: stored.spec, status: stored.status });
        return existing;
      }
      this.#setDeploymentRevision(d, copy.metadata.annotations?.[DeploymentAnnotations.revision]);
      if (hasProgressDeadline(d) && !getCondition(status, 'Progressing')) {
        setDeploymentCondition(
          status,
          this.#condition('Progressing', 'True', DeploymentReasons.FoundNewReplicaSet, `Found new replica set "${copy.metadata.name}"`),
        );
        changed = true;
      }
      if (changed) this.#writeStatus(d, status);
      return existing;
    }
    if (!create) return undefined;

    const hash = computeHash(d.spec.template, status.collisionCount);
    const template = deepCopy(d.spec.template);
    template.metadata = { ...(template.metadata ?? {}) };
    template.metadata.labels = { ...(template.metadata.labels ?? {}), [WellKnown.podTemplateHash]: hash };
    const selector = deepCopy(d.spec.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [WellKnown.podTemplateHash]: hash };
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace!,
        labels: { ...template.metadata.labels },
        ownerReferences: [controllerRefFor(d)],
      },
      spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
    };
    rs.spec.replicas = this.#newRSNewReplicas(d, [...oldRSs, rs], rs);
    this.#setNewReplicaSetAnnotations(d, rs, newRevision, false);

    let created: ReplicaSet;
    let alreadyExists = false;
    try {
      created = store.create(rs) as ReplicaSet;
    } catch (err) {
      if ((err as PodnetError).code === 'PODNET_ALREADY_EXISTS') {
        const found = store.get(KIND.ReplicaSet, d.metadata.namespace, rs.metadata.name!) as ReplicaSet | undefined;
        if (found && isControlledBy(found, d) && equalIgnoreHash(d.spec.template, found.spec.template)) {
          created = found;
          alreadyExists = true;
        } else {
          // A hash collision: count it and retry with a different name.
          status.collisionCount = (status.collisionCount ?? 0) + 1;
          this.#writeStatus(d, status);
          throw err;
        }
      } else {
        const msg = `Failed to create new replica set "${rs.metadata.name}": ${(err as Error).message}`;
        if (hasProgressDeadline(d) && (err as PodnetError).code !== 'PODNET_NAMESPACE_TERMINATING') {
          setDeploymentCondition(status, this.#condition('Progressing', 'False', DeploymentReasons.FailedReplicaSetCreate, msg));
          this.#writeStatus(d, status);
          recorder.record(d, 'Warning', DeploymentReasons.FailedReplicaSetCreate, msg, DEPLOYMENT_CONTROLLER);
        }
        throw err;
      }
    }
    if (!alreadyExists && rsReplicas(created) > 0) {
      recorder.record(
        d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled up replica set ${created.metadata.name} from 0 to ${rsReplicas(created)}`,
        DEPLOYMENT_CONTROLLER,
      );
    }
    this.#setDeploymentRevision(d, String(newRevision));
    if (!alreadyExists && hasProgressDeadline(d)) {
      setDeploymentCondition(
        status,
        this.#condition('Progressing', 'True', DeploymentReasons.NewReplicaSetCreated, `Created new replica set "${created.metadata.name}"`),
      );
      this.#writeStatus(d, status);
    }
    return created;
  }

  /** `SetNewReplicaSetAnnotations`. */
  #setNewReplicaSetAnnotations(d: Deployment, rs: ReplicaSet, newRevision: number, exists: boolean): boolean {
    let changed = false;
    const ann = (rs.metadata.annotations ??= {});
    for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
      if (ANNOTATIONS_TO_SKIP.has(k) || ann[k] === v) continue;
      ann[k] = v;
      changed = true;
    }
    const old = ann[DeploymentAnnotations.revision];
    const oldRevision = old === undefined ? 0 : Number(old);
    if (!Number.isInteger(oldRevision)) return changed;
    if (oldRevision < newRevision) {
      ann[DeploymentAnnotations.revision] = String(newRevision);
      changed = true;
      // Rolling back to this ReplicaSet: keep the revisions it had.
      if (old !== undefined) {
        const history = ann[DeploymentAnnotations.revisionHistory];
        ann[DeploymentAnnotations.revisionHistory] = history ? `${history},${old}` : old;
      }
    }
    if (!exists) {
      ann[DeploymentAnnotations.desiredReplicas] = String(replicasOf(d));
      ann[DeploymentAnnotations.maxReplicas] = String(replicasOf(d) + maxSurge(d));
      changed = true;
    }
    return changed;
  }

  /** `SetDeploymentRevision`: the Deployment's own revision annotation follows the new ReplicaSet's. */
  #setDeploymentRevision(d: Deployment, revision: string | undefined): void {
    if (revision === undefined || d.metadata.annotations?.[DeploymentAnnotations.revision] === revision) return;
    const copy = deepCopy(d);
    copy.metadata.annotations = { ...(copy.metadata.annotations ?? {}), [DeploymentAnnotations.revision]: revision };
    const stored = this.ctx.store.update(copy);
    d.metadata = stored.metadata;
  }

  /** `NewRSNewReplicas`. */
  #newRSNewReplicas(d: Deployment, allRSs: ReplicaSet[], newRS: ReplicaSet): number {
    if (!isRollingUpdate(d)) return replicasOf(d);
    const current = sum(allRSs, rsReplicas);
    const maxTotal = replicasOf(d) + maxSurge(d);
    if (current >= maxTotal) return rsReplicas(newRS);
    const scaleUp = Math.min(maxTotal - current, replicasOf(d) - rsReplicas(newRS));
    return rsReplicas(newRS) + scaleUp;
  }

  // ---------------------------------------------------------------- scaling

  #isScalingEvent(d: Deployment, rsList: ReplicaSet[]): boolean {
    const { newRS, oldRSs } = this.#replicaSets(d, rsList, false);
    for (const rs of activeRSs([...oldRSs, newRS])) {
      const desired = rs.metadata.annotations?.[DeploymentAnnotations.desiredReplicas];
      if (desired === undefined || !/^\d+$/.test(desired)) continue;
      if (Number(desired) !== replicasOf(d)) return true;
    }
    return false;
  }

  /** `sync`: scaling and status only, no rollout (paused Deployments and scaling events). */
  #sync(d: Deployment, rsList: ReplicaSet[]): void {
    const { newRS, oldRSs } = this.#replicaSets(d, rsList, false);
    this.#scale(d, newRS, oldRSs);
    if (d.spec.paused) this.#cleanup(d, oldRSs);
    this.#syncStatus(d, [...oldRSs, newRS], newRS);
  }

  /** `scale`: one active ReplicaSet takes the new size; otherwise proportional scaling. */
  #scale(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): void {
    const replicas = replicasOf(d);
    const olderFirst = [...oldRSs].sort(byCreation).reverse();
    const active = activeRSs([...olderFirst, newRS]);
    let activeOrLatest: ReplicaSet | undefined;
    if (active.length === 1) activeOrLatest = active[0];
    else if (active.length === 0 && (newRS || olderFirst.length)) activeOrLatest = newRS ?? olderFirst[0];
    if (activeOrLatest) {
      if (rsReplicas(activeOrLatest) !== replicas) this.#scaleReplicaSet(activeOrLatest, replicas, d);
      return;
    }
    if (newRS && this.#isSaturated(d, newRS)) {
      for (const old of activeRSs(oldRSs)) this.#scaleReplicaSet(old, 0, d);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const all = activeRSs([...oldRSs, newRS]);
    const allowed = replicas > 0 ? replicas + maxSurge(d) : 0;
    const toAdd = allowed - sum(all, rsReplicas);
    if (toAdd > 0) all.sort((a, b) => rsReplicas(b) - rsReplicas(a) || byCreation(b, a));
    else if (toAdd < 0) all.sort((a, b) => rsReplicas(b) - rsReplicas(a) || byCreation(a, b));
    const sizes = new Map<ReplicaSet, number>();
    let added = 0;
    for (const rs of all) {
      if (toAdd !== 0) {
        const proportion = this.#proportion(rs, d, toAdd, added);
        sizes.set(rs, rsReplicas(rs) + proportion);
        added += proportion;
      } else {
        sizes.set(rs, rsReplicas(rs));
      }
    }
    all.forEach((rs, i) => {
      let size = sizes.get(rs)!;
      // Leftovers go to the largest ReplicaSet.
      if (i === 0 && toAdd !== 0) size = Math.max(0, size + toAdd - added);
      this.#scaleReplicaSet(rs, size, d);
    });
  }

  #isSaturated(d: Deployment, rs: ReplicaSet): boolean {
    const desired = rs.metadata.annotations?.[DeploymentAnnotations.desiredReplicas];
    return rsReplicas(rs) === replicasOf(d) && Number(desired) === replicasOf(d) && rsStatus(rs, 'availableReplicas') === replicasOf(d);
  }

  /** `GetProportion`. */
  #proportion(rs: ReplicaSet, d: Deployment, toAdd: number, added: number): number {
    if (rsReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
    let fraction: number;
    if (replicasOf(d) === 0) fraction = -rsReplicas(rs);
    else {
      const deploymentReplicas = replicasOf(d) + maxSurge(d);
      const annotated = Number(rs.metadata.annotations?.[DeploymentAnnotations.maxReplicas]);
      const base = Number.isInteger(annotated) && annotated > 0 ? annotated : Number((d.status as DeploymentStatus).replicas ?? 0);
      fraction = base > 0 ? Math.round((rsReplicas(rs) * deploymentReplicas) / base) - rsReplicas(rs) : 0;
    }
    const allowed = toAdd - added;
    return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
  }

  // ---------------------------------------------------------------- RollingUpdate

  #rolloutRolling(d: Deployment, rsList: ReplicaSet[]): void {
    const { newRS, oldRSs } = this.#replicaSets(d, rsList, true);
    const all = [...oldRSs, newRS!];
    if (this.#reconcileNewReplicaSet(d, all, newRS!)) return this.#syncRolloutStatus(d, all, newRS);
    if (this.#reconcileOldReplicaSets(d, all, activeRSs(oldRSs), newRS!)) return this.#syncRolloutStatus(d, all, newRS);
    if (deploymentComplete(d, d.status as DeploymentStatus)) this.#cleanup(d, oldRSs);
    this.#syncRolloutStatus(d, all, newRS);
  }

  #reconcileNewReplicaSet(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet): boolean {
    const replicas = replicasOf(d);
    if (rsReplicas(newRS) === replicas) return false;
    if (rsReplicas(newRS) > replicas) return this.#scaleReplicaSet(newRS, replicas, d);
    return this.#scaleReplicaSet(newRS, this.#newRSNewReplicas(d, all, newRS), d);
  }

  #reconcileOldReplicaSets(d: Deployment, all: ReplicaSet[], oldRSs: ReplicaSet[], newRS: ReplicaSet): boolean {
    if (sum(oldRSs, rsReplicas) === 0) return false;
    const minAvailable = replicasOf(d) - maxUnavailable(d);
    const newUnavailable = rsReplicas(newRS) - rsStatus(newRS, 'availableReplicas');
    const maxScaledDown = sum(all, rsReplicas) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    // Unhealthy replicas go first: scaling them down costs no availability.
    let cleaned = 0;
    for (const rs of [...oldRSs].sort(byCreation)) {
      if (cleaned >= maxScaledDown) break;
      const unhealthy = rsReplicas(rs) - rsStatus(rs, 'availableReplicas');
      if (rsReplicas(rs) === 0 || unhealthy <= 0) continue;
      const n = Math.min(maxScaledDown - cleaned, unhealthy);
      this.#scaleReplicaSet(rs, rsReplicas(rs) - n, d);
      cleaned += n;
    }
    // Then healthy ones, as far as availability allows.
    const available = sum([...oldRSs, newRS], (rs) => rsStatus(rs, 'availableReplicas'));
    let scaled = 0;
    if (available > minAvailable) {
      const total = available - minAvailable;
      for (const rs of [...oldRSs].sort(byCreation)) {
        if (scaled >= total) break;
        if (rsReplicas(rs) === 0) continue;
        const n = Math.min(rsReplicas(rs), total - scaled);
        this.#scaleReplicaSet(rs, rsReplicas(rs) - n, d);
        scaled += n;
      }
    }
    return cleaned + scaled > 0;
  }

  // ---------------------------------------------------------------- Recreate

  #rolloutRecreate(d: Deployment, rsList: ReplicaSet[]): void {
    let { newRS, oldRSs } = this.#replicaSets(d, rsList, false);
    let all = [...oldRSs, newRS];
    let scaledDown = false;
    for (const rs of activeRSs(oldRSs)) scaledDown = this.#scaleReplicaSet(rs, 0, d) || scaledDown;
    if (scaledDown) return this.#syncRolloutStatus(d, all, newRS);
    if (this.#oldPodsRunning(newRS, oldRSs)) return this.#syncRolloutStatus(d, all, newRS);
    if (!newRS) {
      ({ newRS, oldRSs } = this.#replicaSets(d, rsList, true));
      all = [...oldRSs, newRS];
    }
    if (newRS && rsReplicas(newRS) !== replicasOf(d)) this.#scaleReplicaSet(newRS, replicasOf(d), d);
    if (deploymentComplete(d, d.status as DeploymentStatus)) this.#cleanup(d, oldRSs);
    this.#syncRolloutStatus(d, all, newRS);
  }

  /** Whether any pod of an old ReplicaSet is still around and not finished (terminating counts). */
  #oldPodsRunning(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): boolean {
    if (sum(oldRSs, (rs) => rsStatus(rs, 'replicas')) > 0) return true;
    const oldUids = new Set(oldRSs.map((rs) => rs.metadata.uid));
    return this.ctx.store.select(KIND.Pod, { namespace: oldRSs[0]?.metadata.namespace ?? newRS?.metadata.namespace }).some((p) => {
      const ref = controllerRefOf(p);
      if (!ref || !oldUids.has(ref.uid)) return false;
      return p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
    });
  }

  // ---------------------------------------------------------------- history

  /** `cleanupDeployment`: deletes the oldest zero-sized ReplicaSets beyond revisionHistoryLimit. */
  #cleanup(d: Deployment, oldRSs: ReplicaSet[]): void {
    const limit = d.spec.revisionHistoryLimit ?? 10;
    const cleanable = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp);
    const diff = cleanable.length - limit;
    if (diff <= 0) return;
    cleanable.sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    for (const rs of cleanable.slice(0, diff)) {
      const status = (rs.status ?? {}) as Record<string, number>;
      if ((status.replicas ?? 0) !== 0 || rsReplicas(rs) !== 0) continue;
      if ((rs.metadata.generation ?? 0) > (status.observedGeneration ?? 0)) continue;
      try {
        this.ctx.store.delete(KIND.ReplicaSet, rs.metadata.namespace, rs.metadata.name!, { preconditions: { uid: rs.metadata.uid! } });
      } catch (err) {
        if ((err as PodnetError).code !== 'PODNET_NOT_FOUND') throw err;
      }
    }
  }

  // ---------------------------------------------------------------- status

  /** `calculateStatus`. */
  #calculateStatus(d: Deployment, all: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined): DeploymentStatus {
    const available = sum(all, (rs) => rsStatus(rs, 'availableReplicas'));
    const total = sum(all, rsReplicas);
    const old = (d.status ?? {}) as DeploymentStatus;
    const status: DeploymentStatus = {
      observedGeneration: d.metadata.generation ?? 1,
      replicas: sum(all, (rs) => rsStatus(rs, 'replicas')),
      updatedReplicas: sum([newRS], (rs) => rsStatus(rs, 'replicas')),
      readyReplicas: sum(all, (rs) => rsStatus(rs, 'readyReplicas')),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, total - available),
      conditions: (old.conditions ?? []).map((c) => ({ ...c })),
    };
    if (old.collisionCount !== undefined) status.collisionCount = old.collisionCount;
    if (available >= replicasOf(d) - maxUnavailable(d)) {
      setDeploymentCondition(status, this.#condition('Available', 'True', DeploymentReasons.MinimumReplicasAvailable, 'Deployment has minimum availability.'));
    } else {
      setDeploymentCondition(
        status,
        this.#condition('Available', 'False', DeploymentReasons.MinimumReplicasUnavailable, 'Deployment does not have minimum availability.'),
      );
    }
    return status;
  }

  #syncStatus(d: Deployment, all: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined): void {
    this.#writeStatus(d, this.#calculateStatus(d, all, newRS));
  }

  /** `syncRolloutStatus`: status plus the Progressing condition, and a requeue for the deadline. */
  #syncRolloutStatus(d: Deployment, all: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined): void {
    const next = this.#calculateStatus(d, all, newRS);
    if (!hasProgressDeadline(d)) removeCondition(next, 'Progressing');
    const current = getCondition(d.status as DeploymentStatus, 'Progressing');
    const isComplete = next.replicas === next.updatedReplicas && current?.reason === DeploymentReasons.NewReplicaSetAvailable;
    if (hasProgressDeadline(d) && !isComplete) {
      if (deploymentComplete(d, next)) {
        setDeploymentCondition(
          next,
          this.#condition('Progressing', 'True', DeploymentReasons.NewReplicaSetAvailable, `ReplicaSet "${newRS?.metadata.name}" has successfully progressed.`),
        );
      } else if (deploymentProgressing(d, next)) {
        const msg = newRS ? `ReplicaSet "${newRS.metadata.name}" is progressing.` : `Deployment "${d.metadata.name}" is progressing.`;
        const condition = this.#condition('Progressing', 'True', DeploymentReasons.ReplicaSetUpdated, msg);
        if (current) {
          if (current.status === 'True') condition.lastTransitionTime = current.lastTransitionTime;
          removeCondition(next, 'Progressing');
        }
        setDeploymentCondition(next, condition);
      } else if (this.#timedOut(d, next)) {
        setDeploymentCondition(
          next,
          this.#condition('Progressing', 'False', DeploymentReasons.ProgressDeadlineExceeded, `ReplicaSet "${newRS?.metadata.name}" has timed out progressing.`),
        );
      }
    }
    this.#writeStatus(d, next);
    this.#requeueStuck(d, next);
  }

  #timedOut(d: Deployment, status: DeploymentStatus): boolean {
    if (!hasProgressDeadline(d)) return false;
    const c = getCondition(status, 'Progressing');
    if (!c || c.reason === DeploymentReasons.NewReplicaSetAvailable) return false;
    if (c.reason === DeploymentReasons.ProgressDeadlineExceeded) return true;
    return timeOf(c.lastUpdateTime) + (d.spec.progressDeadlineSeconds ?? 600) * 1000 < this.ctx.clock.now();
  }

  /** `requeueStuckDeployment`: look again when the progress deadline would pass. */
  #requeueStuck(d: Deployment, status: DeploymentStatus): void {
    const c = getCondition(status, 'Progressing');
    if (!hasProgressDeadline(d) || !c) return;
    if (deploymentComplete(d, status) || c.reason === DeploymentReasons.ProgressDeadlineExceeded) return;
    if (c.reason === DeploymentReasons.DeploymentPaused) return;
    const after = timeOf(c.lastUpdateTime) + (d.spec.progressDeadlineSeconds ?? 600) * 1000 - this.ctx.clock.now();
    this.enqueueAfter(`${d.metadata.namespace}/${d.metadata.name}`, Math.max(0, after) + 1000);
  }

  /** `checkPausedConditions`. */
  #checkPausedConditions(d: Deployment): void {
    if (!hasProgressDeadline(d)) return;
    const status = deepCopy(d.status as DeploymentStatus);
    const c = getCondition(status, 'Progressing');
    if (c?.reason === DeploymentReasons.ProgressDeadlineExceeded) return;
    const pausedExists = c?.reason === DeploymentReasons.DeploymentPaused;
    if (d.spec.paused && !pausedExists) {
      setDeploymentCondition(status, this.#condition('Progressing', 'Unknown', DeploymentReasons.DeploymentPaused, 'Deployment is paused'));
    } else if (!d.spec.paused && pausedExists) {
      setDeploymentCondition(status, this.#condition('Progressing', 'Unknown', DeploymentReasons.DeploymentResumed, 'Deployment is resumed'));
    } else {
      return;
    }
    this.#writeStatus(d, status);
  }
}
