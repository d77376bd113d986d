/**
 * What the workload controllers (ReplicaSet, Deployment, StatefulSet, DaemonSet) share: pods made
 * from a template, the pod-template hash, controller owner references and the adopt/release dance,
 * and the pod readiness, availability and deletion-ranking rules.
 *
 * Follows kube-controller-manager's pkg/controller/controller_utils.go (`GetPodFromTemplate`,
 * `ComputeHash`, `ActivePodsWithRanks`, `FilterActivePods`), controller_ref_manager.go
 * (`ClaimObject`: adopt matching orphans, release owned objects that stopped matching),
 * k8s.io/kubernetes/pkg/api/v1/pod (`IsPodReady`, `IsPodAvailable`) and
 * k8s.io/apimachinery/pkg/util/intstr (`GetScaledValueFromIntOrPercent`).
 *
 * The hash is FNV-1a 32 over a canonical JSON rendering of the template (upstream feeds the same
 * hasher with a spew dump of the Go struct, so values differ from a real cluster's, but they are
 * as deterministic and stable), rendered with `rand.SafeEncodeString`.
 */

import { PodnetError, NotFoundError } from '../core/errors.js';
import { deepCopy, type KubeObject, type LabelSelector, type OwnerReference } from '../api/meta.js';
import { requireKind, type KindInfo } from '../api/scheme.js';
import { WellKnown, type Pod, type PodCondition, type PodTemplateSpec } from '../api/types.js';
import { selectorFromLabelSelector, type Selector } from '../apimachinery/labels.js';
import type { ObjectStore, WatchEvent } from '../apiserver/store.js';

/** Kinds the workload controllers read and write. */
export const KIND = {
  Pod: requireKind('v1', 'Pod'),
  Node: requireKind('v1', 'Node'),
  ReplicaSet: requireKind('apps/v1', 'ReplicaSet'),
  Deployment: requireKind('apps/v1', 'Deployment'),
  StatefulSet: requireKind('apps/v1', 'StatefulSet'),
  DaemonSet: requireKind('apps/v1', 'DaemonSet'),
} as const;

// ------------------------------------------------------------------------------------------------
// Hashing

/** JSON with object keys sorted, so equal values always render (and hash) the same. */
import { canonicalJson } from '../core/json.js';
export { canonicalJson };

/** FNV-1a, 32 bits (hash/fnv's New32a), over bytes. */
export function fnv1a32(data: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (const b of data) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const SAFE_ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/** k8s.io/apimachinery/pkg/util/rand.SafeEncodeString: each character mapped onto a vowel-free alphabet. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (const ch of s) out += SAFE_ALPHANUMS[ch.codePointAt(0)! % SAFE_ALPHANUMS.length];
  return out;
}

/**
 * `controller.ComputeHash`: the pod-template-hash of a template, with the collision count mixed
 * in (as 8 bytes, little-endian) when there is one.
 */
export function computeHash(template: PodTemplateSpec | undefined, collisionCount?: number): string {
  let h = fnv1a32(Buffer.from(canonicalJson(template ?? {}), 'utf8'));
  if (collisionCount !== undefined && collisionCount !== null) {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setUint32(0, collisionCount >>> 0, true);
    h = fnv1a32(bytes, h);
  }
  return safeEncodeString(String(h));
}

/** Whether two templates are equal apart from the pod-template-hash label (`EqualIgnoreHash`). */
export function equalIgnoreHash(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  const strip = (t: PodTemplateSpec | undefined) => {
    const c = deepCopy(t ?? ({} as PodTemplateSpec));
    if (c.metadata?.labels) {
      delete c.metadata.labels[WellKnown.podTemplateHash];
      if (!Object.keys(c.metadata.labels).length) delete c.metadata.labels;
    }
    if (c.metadata && !Object.keys(c.metadata).length) delete c.metadata;
    return canonicalJson(c);
  };
  return strip(a) === strip(b);
}

// ------------------------------------------------------------------------------------------------
// Owner references and claiming

/** The controller owner reference an owner puts on what it creates (controller and blockOwnerDeletion set). */
export function controllerRefFor(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Whether `obj`'s controller owner reference names `owner` (by uid). */
export function isControlledBy(obj: Readonly<KubeObject>, owner: Readonly<KubeObject>): boolean {
  return !!obj.metadata.ownerReferences?.some((r) => r.controller && r.uid === owner.metadata.uid);
}

/** The controller owner reference of `obj`, if any. */
export function controllerRefOf(obj: Readonly<KubeObject>): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller);
}

/**
 * A workload's selector as a matcher. A selector that cannot be parsed selects nothing, as
 * upstream controllers give up on an object whose selector does not convert.
 */
export function workloadSelector(ls: LabelSelector | undefined): Selector {
  try {
    return selectorFromLabelSelector(ls);
  } catch {
    return selectorFromLabelSelector(undefined);
  }
}

/**
 * `ControllerRefManager.ClaimObject` for each candidate: keeps what `owner` controls and still
 * matches, adopts matching orphans (unless the owner or the orphan is being deleted), releases
 * owned objects that stopped matching, and leaves objects controlled by someone else alone.
 * Returns the claimed objects as they are after adoption.
 */
export function claimObjects(
  store: ObjectStore,
  owner: Readonly<KubeObject>,
  selector: Selector,
  candidates: readonly Readonly<KubeObject>[],
): KubeObject[] {
  const claimed: KubeObject[] = [];
  const ownerDeleting = !!owner.metadata.deletionTimestamp;
  for (const obj of candidates) {
    if (owner.metadata.namespace && obj.metadata.namespace !== owner.metadata.namespace) continue;
    const ref = controllerRefOf(obj);
    const matches = selector.matches(obj.metadata.labels ?? {});
    if (ref) {
      if (ref.uid !== owner.metadata.uid) continue;
      if (matches) {
        claimed.push(deepCopy(obj) as KubeObject);
        continue;
      }
      if (ownerDeleting) continue;
      writeIgnoringNotFound(() => {
        const fresh = deepCopy(obj) as KubeObject;
        fresh.metadata.ownerReferences = fresh.metadata.ownerReferences!.filter((r) => r.uid !== owner.metadata.uid);
        if (!fresh.metadata.ownerReferences.length) delete fresh.metadata.ownerReferences;
        store.update(fresh);
      });
      continue;
    }
    if (ownerDeleting || !matches || obj.metadata.deletionTimestamp) continue;
    const adopted = writeIgnoringNotFound(() => {
      const fresh = deepCopy(obj) as KubeObject;
      fresh.metadata.ownerReferences = [...(fresh.metadata.ownerReferences ?? []), controllerRefFor(owner as KubeObject)];
      return store.update(fresh);
    });
    if (adopted) claimed.push(adopted);
  }
  return claimed;
}

/**
 * The keys of the `ownerKind` controllers an event about a dependent concerns, found as the
 * upstream event handlers find them (`resolveControllerRef`, then `getPodReplicaSets` and its
 * kin): its controller, when that is an `ownerKind`; for an orphan that still exists, every
 * `ownerKind` object in its namespace whose selector matches it, since each may adopt it.
 */
export function ownerKeysOfEvent(store: ObjectStore, ownerKind: KindInfo, event: WatchEvent): string | string[] | undefined {
  const obj = event.object;
  const ref = controllerRefOf(obj);
  if (ref) return ref.kind === ownerKind.kind ? `${obj.metadata.namespace}/${ref.name}` : undefined;
  if (event.type === 'DELETED') return undefined;
  return store
    .select(ownerKind, { namespace: obj.metadata.namespace })
    .filter((owner) => workloadSelector(owner.spec?.selector).matches(obj.metadata.labels ?? {}))
    .map((owner) => `${owner.metadata.namespace}/${owner.metadata.name}`);
}

function writeIgnoringNotFound<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

// ------------------------------------------------------------------------------------------------
// Pods from templates

/** How {@link podFromTemplate} names and labels the pod. */
export interface PodFromTemplateOptions {
  /** A fixed name (StatefulSet); otherwise `generateName` is used. */
  name?: string;
  /** Prefix the store completes with 5 random characters; defaults to `<owner>-`. */
  generateName?: string;
  /** Labels added to the template's. */
  labels?: Record<string, string>;
}

/**
 * `controller.GetPodFromTemplate`: a Pod with the template's labels, annotations, finalizers and
 * spec, controlled by `owner` (controller and blockOwnerDeletion set).
 */
export function podFromTemplate(template: PodTemplateSpec, owner: KubeObject, options: PodFromTemplateOptions = {}): Pod {
  const meta = template.metadata ?? {};
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: owner.metadata.namespace!,
      labels: { ...(meta.labels ?? {}), ...(options.labels ?? {}) },
      ownerReferences: [controllerRefFor(owner)],
    },
    spec: deepCopy(template.spec),
  };
  if (options.name) pod.metadata.name = options.name;
  else pod.metadata.generateName = options.generateName ?? `${owner.metadata.name}-`;
  if (meta.annotations && Object.keys(meta.annotations).length) pod.metadata.annotations = { ...meta.annotations };
  if (meta.finalizers?.length) pod.metadata.finalizers = [...meta.finalizers];
  if (!Object.keys(pod.metadata.labels!).length) delete pod.metadata.labels;
  return pod;
}

// ------------------------------------------------------------------------------------------------
// Pod state

/** Milliseconds since the epoch of an RFC 3339 timestamp (0 when absent or unparsable). */
export function timeOf(ts: string | undefined | null): number {
  if (!ts) return 0;
  const t = Date.parse(ts);
  return Number.isNaN(t) ? 0 : t;
}

/** The pod condition of a type, if any. */
export function podCondition(pod: Readonly<KubeObject>, type: string): PodCondition | undefined {
  return (pod.status?.conditions as PodCondition[] | undefined)?.find((c) => c.type === type);
}

/** `podutil.IsPodReady`: the Ready condition is True. */
export function isPodReady(pod: Readonly<KubeObject>): boolean {
  return podCondition(pod, 'Ready')?.status === 'True';
}

/** Whether a pod is Running and Ready (StatefulSet's `isRunningAndReady`). */
export function isPodRunningAndReady(pod: Readonly<KubeObject>): boolean {
  return pod.status?.phase === 'Running' && isPodReady(pod);
}

/**
 * When a ready pod becomes available: its Ready transition plus `minReadySeconds`, in epoch
 * milliseconds; undefined when the pod is not ready.
 */
export function availableAt(pod: Readonly<KubeObject>, minReadySeconds: number | undefined): number | undefined {
  if (!isPodReady(pod)) return undefined;
  const min = (minReadySeconds ?? 0) * 1000;
  if (min <= 0) return 0;
  return timeOf(podCondition(pod, 'Ready')!.lastTransitionTime) + min;
}

/**
 * `podutil.IsPodAvailable`: ready, and ready for at least `minReadySeconds`. (Upstream asks for
 * strictly more; "at least" lets a test advance a manual clock by exactly minReadySeconds.)
 */
export function isPodAvailable(pod: Readonly<KubeObject>, minReadySeconds: number | undefined, now: number): boolean {
  const at = availableAt(pod, minReadySeconds);
  return at !== undefined && at <= now;
}

/** Whether the pod is being deleted. */
export function isPodTerminating(pod: Readonly<KubeObject>): boolean {
  return !!pod.metadata.deletionTimestamp;
}

/** Whether the pod has finished (Succeeded or Failed). */
export function isPodTerminal(pod: Readonly<KubeObject>): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** `controller.IsPodActive`: neither finished nor being deleted. */
export function isPodActive(pod: Readonly<KubeObject>): boolean {
  return !isPodTerminal(pod) && !isPodTerminating(pod);
}

const PHASE_ORDINAL: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function maxRestarts(pod: Readonly<KubeObject>): number {
  const statuses = (pod.status?.containerStatuses ?? []) as { restartCount?: number }[];
  return statuses.reduce((m, s) => Math.max(m, s.restartCount ?? 0), 0);
}

/** The `controller.kubernetes.io/pod-deletion-cost` annotation (0 when absent or invalid). */
export function podDeletionCost(pod: Readonly<KubeObject>): number {
  const v = pod.metadata.annotations?.['controller.kubernetes.io/pod-deletion-cost'];
  const n = v === undefined ? 0 : Number(v);
  return Number.isInteger(n) ? n : 0;
}

/**
 * The ordering of `controller.ActivePodsWithRanks`: pods that sort first are deleted first when
 * scaling down — unscheduled before scheduled, Pending before Unknown before Running, not ready
 * before ready, lower pod-deletion-cost first, more pods of the same owner on its node first,
 * ready for less time first, more restarts first, and newer before older. `rank` maps a pod to
 * the number of related pods on its node. Remaining ties fall to the name, for determinism
 * (upstream's logarithmic scale-down bucketing is not emulated).
 */
export function compareForDeletion(rank?: (pod: Readonly<KubeObject>) => number) {
  return (a: Readonly<KubeObject>, b: Readonly<KubeObject>): number => {
    const na = a.spec?.nodeName ?? '';
    const nb = b.spec?.nodeName ?? '';
    if (na !== nb && (!na || !nb)) return !na ? -1 : 1;
    const pa = PHASE_ORDINAL[a.status?.phase ?? ''] ?? 0;
    const pb = PHASE_ORDINAL[b.status?.phase ?? ''] ?? 0;
    if (pa !== pb) return pa - pb;
    const ra = isPodReady(a);
    const rb = isPodReady(b);
    if (ra !== rb) return ra ? 1 : -1;
    const ca = podDeletionCost(a);
    const cb = podDeletionCost(b);
    if (ca !== cb) return ca - cb;
    if (rank) {
      const ka = rank(a);
      const kb = rank(b);
      if (ka !== kb) return kb - ka;
    }
    if (ra && rb) {
      const ta = timeOf(podCondition(a, 'Ready')?.lastTransitionTime);
      const tb = timeOf(podCondition(b, 'Ready')?.lastTransitionTime);
      if (ta !== tb) return tb - ta;
    }
    const xa = maxRestarts(a);
    const xb = maxRestarts(b);
    if (xa !== xb) return xb - xa;
    const ta = timeOf(a.metadata.creationTimestamp);
    const tb = timeOf(b.metadata.creationTimestamp);
    if (ta !== tb) return tb - ta;
    const ma = a.metadata.name ?? '';
    const mb = b.metadata.name ?? '';
    return ma < mb ? 1 : ma > mb ? -1 : 0;
  };
}

/** Oldest first by creationTimestamp, then by name (`controller.ReplicaSetsByCreationTimestamp`). */
export function byCreation(a: Readonly<KubeObject>, b: Readonly<KubeObject>): number {
  const ta = timeOf(a.metadata.creationTimestamp);
  const tb = timeOf(b.metadata.creationTimestamp);
  if (ta !== tb) return ta - tb;
  const ma = a.metadata.name ?? '';
  const mb = b.metadata.name ?? '';
  return ma < mb ? -1 : ma > mb ? 1 : 0;
}

// ------------------------------------------------------------------------------------------------
// Numbers

/**
 * `intstr.GetScaledValueFromIntOrPercent`: an int as is, `"25%"` of `total` rounded up or down.
 * Throws for a string that is not a percentage.
 */
export function scaledValue(value: number | string | undefined, total: number, roundUp: boolean, fallback: number | string = 0): number {
  const v = value ?? fallback;
  if (typeof v === 'number') return v;
  const m = /^(-?\d+)%$/.exec(v.trim());
  if (!m) {
    if (/^-?\d+$/.test(v.trim())) return Number(v.trim());
    throw new PodnetError('PODNET_INVALID_INT_OR_PERCENT', `invalid value for IntOrString: invalid value "${v}": not a percentage`);
  }
  const scaled = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

/** Replaces or adds a condition by type, keeping lastTransitionTime when the status is unchanged. */
export function setCondition<C extends { type: string; status: string; lastTransitionTime?: string }>(
  conditions: C[] | undefined,
  condition: C,
): C[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === condition.type);
  if (i < 0) return [...list, condition];
  const old = list[i]!;
  const next = { ...condition };
  if (old.status === condition.status && old.lastTransitionTime) next.lastTransitionTime = old.lastTransitionTime;
  list[i] = next;
  return list;
}
