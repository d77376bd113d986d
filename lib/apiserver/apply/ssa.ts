/**
 * Server-side apply and field ownership, as k8s.io/apiserver's field manager
 * (k8s.io/apimachinery/pkg/util/managedfields/internal) drives sigs.k8s.io/structured-merge-diff's
 * `merge.Updater`:
 *
 * - {@link applyObject} is an apply request (`PATCH` with `application/apply-patch+yaml`,
 *   `kubectl apply --server-side`): the configuration is merged into the live object, fields the
 *   manager applied before and no longer sets are removed unless another manager owns them, and a
 *   change to a field another manager owns is a conflict ({@link ApplyConflictError}) unless forced,
 *   in which case ownership moves to the applier. Managers named `kubectl` migrate from client-side
 *   apply as upstream's `lastAppliedManager` and `lastAppliedUpdater` do.
 * - {@link updateManagedFields} is any other write (create, update, non-apply patch, `kubectl edit`,
 *   a controller's update): it never conflicts; every field whose value it changes moves to its
 *   manager, and fields it removes leave every manager.
 *
 * Both follow the Kubernetes docs page "Server-Side Apply" (reference/using-api/server-side-apply).
 *
 * What a manager can own, and what is left to the caller:
 *
 * - `apiVersion`, `kind` and `metadata.{name, namespace, uid, resourceVersion, generation,
 *   creationTimestamp, selfLink, managedFields}` are never owned ({@link NEVER_OWNED}).
 * - For kinds with a status subresource, `status` is only owned through it: a request to the main
 *   resource ignores the `status` it carries (the caller keeps the live status, as upstream's
 *   strategies reset it), and a request with `subresource: 'status'` owns only `metadata` and
 *   `status` fields. Other subresources (`scale`) are recorded in the entry's `subresource` and
 *   otherwise treated as the main resource; translating a Scale into `spec.replicas` is the
 *   caller's.
 * - Defaulting, validation, preconditions (`resourceVersion`, `uid`), generation and the apply
 *   request's version check are the caller's. An apply does not own the defaults filled in after
 *   it, as upstream.
 */

import { BadRequestError, PodnetError } from '../../core/errors.js';
import { KINDS, lookupKind } from '../../api/scheme.js';
import { parseApiVersion, type KubeObject } from '../../api/meta.js';
import type { JsonObject } from '../../apimachinery/patch.js';
import { canonicalJson, FieldSet, fieldSetOf, isObject, jsonEqual, ownable, pathToString, withoutNeverOwned, type FieldPath } from './fieldset.js';
import { capUpdateManagers, decodeManagedFields, describeManager, encodeManagedFields, managerIdentifier, type Managed, type ManagerEntry } from './managers.js';
import { BUILTIN_GROUPS } from './schema.js';
import { WellKnown } from '../../api/types.js';
import { compareObjects, dropNulls, mergeObjects, removeItems, withZeroValues } from './typed.js';

/** The annotation client-side `kubectl apply` keeps its last configuration in. */
export const LAST_APPLIED_ANNOTATION = WellKnown.lastApplied;

/** The field manager `kubectl apply --server-side` uses unless told otherwise. */
export const KUBECTL_APPLY_MANAGER = 'kubectl';

/** One field another manager owns that an apply would change. */
export interface ApplyConflict {
  /** The other manager's name. */
  manager: string;
  /** The field, as structured-merge-diff prints a path: `.spec.replicas`. */
  field: string;
}

/** A `metav1.StatusCause` of an apply conflict, for the API's `Status`. */
export interface ApplyConflictCause {
  type: 'FieldManagerConflict';
  /** `conflict with "kubectl-client-side-apply" using apps/v1`. */
  message: string;
  field: string;
}

/**
 * An apply would change fields other managers own (HTTP 409 Conflict). The message is the
 * apiserver's: `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using
 * apps/v1: .spec.replicas`, or for several, one `conflicts with <manager>:` line per manager (in
 * the order of their identifiers) followed by `- <field>` lines.
 */
export class ApplyConflictError extends PodnetError {
  readonly conflicts: ApplyConflict[];
  readonly causes: ApplyConflictCause[];
  constructor(message: string, conflicts: ApplyConflict[], causes: ApplyConflictCause[]) {
    super('PODNET_APPLY_CONFLICT', message);
    this.conflicts = conflicts;
    this.causes = causes;
  }
}

interface Conflict {
  readonly entry: ManagerEntry;
  readonly id: string;
  readonly path: FieldPath;
}

/** `NewConflictError`: the apiserver's wording, with managers in identifier order. */
function conflictError(conflicts: readonly Conflict[]): ApplyConflictError {
  const byManager = new Map<string, Conflict[]>();
  for (const c of conflicts) byManager.set(c.id, [...(byManager.get(c.id) ?? []), c]);
  const ids = [...byManager.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const ordered = ids.flatMap((id) => byManager.get(id)!);
  const causes = ordered.map((c): ApplyConflictCause => ({
    type: 'FieldManagerConflict',
    message: `conflict with ${describeManager(c.entry)}`,
    field: pathToString(c.path),
  }));
  let message: string;
  if (ordered.length === 1) {
    message = `Apply failed with 1 conflict: ${causes[0]!.message}: ${causes[0]!.field}`;
  } else {
    const lines = ids.flatMap((id) => {
      const group = byManager.get(id)!;
      return [`conflicts with ${describeManager(group[0]!.entry)}:`, ...group.map((c) => `- ${pathToString(c.path)}`)];
    });
    message = `Apply failed with ${ordered.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApplyConflictError(
    message,
    ordered.map((c) => ({ manager: c.entry.manager, field: pathToString(c.path) })),
    causes,
  );
}

/** What a request can touch: the kind, and which part of the object its (sub)resource covers. */
interface Scope {
  readonly kind: string;
  /** A compiled-in kind (its Go zero value has structure), not a custom resource. */
  readonly builtin: boolean;
  readonly hasStatus: boolean;
  readonly subresource?: string;
}

function scopeOf(kind: string, apiVersion: string, subresource: string | undefined): Scope {
  const { group } = parseApiVersion(apiVersion);
  const info = lookupKind(apiVersion, kind) ?? KINDS.find((k) => k.kind === kind && k.group === group);
  return {
    kind,
    builtin: BUILTIN_GROUPS.has(group),
    hasStatus: info?.subresources.status ?? false,
    ...(subresource ? { subresource } : {}),
  };
}

/** Whether a top-level field is within the scope's reach. */
function inScope(scope: Scope, topLevelField: string): boolean {
  if (!scope.hasStatus) return true;
  if (scope.subresource === 'status') return ['apiVersion', 'kind', 'metadata', 'status'].includes(topLevelField);
  return topLevelField !== 'status';
}

/** A deep copy of the part of `obj` the scope reaches, without `metadata.managedFields`. */
function scoped(obj: KubeObject | JsonObject, scope: Scope): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (inScope(scope, k)) out[k] = structuredClone(v);
  if (isObject(out.metadata)) delete out.metadata.managedFields;
  return out;
}

/** What ownership is computed over: the scoped object without never-owned fields, with its zero-value structure. */
function ownedView(obj: JsonObject | undefined, scope: Scope): JsonObject {
  const view = withoutNeverOwned(obj ?? {});
  return scope.builtin ? withZeroValues(view, scope.kind, (f) => inScope(scope, f)) : view;
}

function withoutManagedFields(obj: KubeObject): JsonObject {
  const out = structuredClone(obj) as unknown as JsonObject;
  if (isObject(out.metadata)) delete out.metadata.managedFields;
  return out;
}

/** Writes the managers into the object's `metadata.managedFields` (dropping it when none is left). */
function withManagedFields(obj: JsonObject, managed: Managed): KubeObject {
  const meta = isObject(obj.metadata) ? obj.metadata : (obj.metadata = {});
  const entries = encodeManagedFields(managed);
  if (entries.length > 0) meta.managedFields = entries as unknown as JsonObject[];
  else delete meta.managedFields;
  return obj as unknown as KubeObject;
}

function decodeLive(live: KubeObject | undefined): Managed {
  try {
    return decodeManagedFields(live?.metadata?.managedFields);
  } catch (e) {
    throw new BadRequestError(`failed to decode managed fields: ${(e as Error).message}`);
  }
}

/** Managed fields that cannot be decoded count as none (`emptyManagedFieldsOnErr`). */
function decodeOrEmpty(entries: unknown): Managed {
  try {
    return decodeManagedFields(entries);
  } catch {
    return new Map();
  }
}

/** Identity the server keeps, whatever a configuration says. */
const SERVER_METADATA = ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'];

/** Options of {@link applyObject}. */
export interface ApplyOptions {
  /** The stored object, or `undefined` when the apply creates it. */
  live: KubeObject | undefined;
  /** The configuration: a partial object with apiVersion, kind and name. */
  applied: KubeObject;
  /** The `fieldManager` query parameter. Required. */
  manager: string;
  /** The `force` query parameter (`kubectl apply --force-conflicts`). */
  force: boolean;
  kind: string;
  /** The time to record, RFC 3339 (`2019-03-30T15:00:00Z`). */
  now: string;
  /** `status` for the status subresource. */
  subresource?: string;
}

type ApplyOutcome = { readonly object: JsonObject; readonly conflicts?: undefined } | { readonly object?: undefined; readonly conflicts: Conflict[] };

/** Whether two sets of managers encode to the same managedFields, times aside. */
function sameManagers(a: Managed, b: Managed): boolean {
  if (a.size !== b.size) return false;
  for (const [id, e] of a) {
    const o = b.get(id);
    if (!o || o.apiVersion !== e.apiVersion || !o.set.equals(e.set)) return false;
  }
  return true;
}

/** `Updater.Apply`, with `managedFieldsUpdater`'s timestamps and `capManagersManager`'s cap. */
function applyOnce(scope: Scope, options: ApplyOptions, managed: Managed, force: boolean): ApplyOutcome {
  const { live, applied, manager, now, subresource } = options;
  const kind = scope.kind;
  const config = scoped(applied, scope);
  const configSet = fieldSetOf(config, kind);
  const liveObj = live ? withoutManagedFields(live) : undefined;

  const applier: Omit<ManagerEntry, 'set' | 'time'> = { manager, operation: 'Apply', apiVersion: applied.apiVersion, ...(subresource ? { subresource } : {}) };
  const id = managerIdentifier(applier);
  const previous = managed.get(id);
  const managers: Managed = new Map(managed);
  managers.set(id, { ...applier, ...(previous?.time !== undefined ? { time: previous.time } : {}), set: configSet });

  let merged = mergeObjects(kind, liveObj, config);
  // Prune (`Updater.prune` with `addBackOwnedItems` and `addBackDanglingItems`): what this manager
  // owned last time and no manager, applier or updater, owns now goes (this configuration
  // included). A field counts as owned when a field below it is (`EnsureNamedFieldsAreMembers`),
  // on both sides: an entry that owns a map itself (`.: {}`, as kubectl's client-side apply
  // upgrade leaves `metadata.labels`) loses nothing while the configuration still sets a key in it,
  // and a struct the manager no longer sets anything in, and no one else owns anything in, goes whole.
  if (previous && !previous.set.empty) {
    let owned = new FieldSet();
    for (const e of managers.values()) owned = owned.union(e.set);
    const prune = ownable(previous.set.withNamedFieldsAsMembers().difference(owned.withNamedFieldsAsMembers()));
    merged = removeItems(kind, merged, prune);
  }
  merged = dropNulls(merged);
  if (liveObj && isObject(merged.metadata)) {
    const liveMeta = liveObj.metadata as JsonObject;
    for (const f of SERVER_METADATA) {
      if (Object.hasOwn(liveMeta, f)) merged.metadata[f] = liveMeta[f]!;
      else delete merged.metadata[f];
    }
  }

  const cmp = compareObjects(kind, ownedView(liveObj, scope), ownedView(merged, scope));
  const changed = ownable(cmp.modified.union(cmp.added));
  const conflicts: Conflict[] = [];
  for (const [other, e] of managers) {
    if (other === id) continue;
    for (const path of e.set.intersection(changed).paths()) conflicts.push({ entry: e, id: other, path });
  }
  if (conflicts.length > 0 && !force) return { conflicts };
  for (const [other, e] of managers) {
    if (other !== id) managers.set(other, { ...e, set: e.set.difference(changed).difference(cmp.removed) });
  }
  for (const [m, e] of managers) if (e.set.empty) managers.delete(m);
  capUpdateManagers(managers);
  // `managedFieldsUpdater` stamps the applier; `IgnoreManagedFieldsTimestampsTransformer` takes the
  // stamp back only when neither the object nor managedFields (times aside) changed.
  const applierEntry = managers.get(id);
  if (applierEntry && (!liveObj || !jsonEqual(liveObj, merged) || !sameManagers(managed, managers))) managers.set(id, { ...applierEntry, time: now });
  return { object: withManagedFields(merged, managers) as unknown as JsonObject };
}

/**
 * `lastAppliedManager.allowedConflictsFromLastApplied`: the fields of the client-side apply
 * annotation that still hold their value in the live object. A `kubectl` apply may take these
 * from `kubectl-client-side-apply` without a conflict.
 */
function allowedFromLastApplied(scope: Scope, live: KubeObject | undefined, apiVersion: string): FieldSet | undefined {
  const text = live?.metadata?.annotations?.[LAST_APPLIED_ANNOTATION];
  if (!text) return undefined;
  let lastApplied: unknown;
  try {
    lastApplied = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(lastApplied) || lastApplied.apiVersion !== apiVersion) return undefined;
  let set: FieldSet;
  try {
    set = fieldSetOf(lastApplied, scope.kind);
  } catch {
    return undefined;
  }
  const cmp = compareObjects(scope.kind, ownedView(scoped(lastApplied, scope), scope), ownedView(withoutManagedFields(live!), scope));
  return set.difference(cmp.modified).difference(cmp.added).difference(cmp.removed);
}

/**
 * `lastAppliedUpdater`'s annotation: the configuration without the annotation itself, as JSON
 * with sorted keys and a final newline, as client-side `kubectl apply` writes it.
 */
export function buildLastApplied(applied: KubeObject): string {
  const copy = structuredClone(applied) as unknown as JsonObject;
  const meta = copy.metadata;
  if (isObject(meta) && isObject(meta.annotations)) delete meta.annotations[LAST_APPLIED_ANNOTATION];
  return `${canonicalJson(copy)}\n`;
}

/**
 * Server-side apply of `applied` by `manager` to `live` (or, when `live` is undefined, the
 * creation of the object from it). Returns the merged object with its `managedFields`; throws
 * {@link ApplyConflictError} when, without `force`, the apply would change a field another manager
 * owns to a different value, and {@link BadRequestError} for a malformed configuration (one that
 * carries `metadata.managedFields`, or a list-map element without its key).
 */
export function applyObject(options: ApplyOptions): { object: KubeObject } {
  const { live, applied, manager, force } = options;
  if (!manager) throw new BadRequestError('fieldManager: Required value: is required for apply patch');
  if (!isObject(applied as unknown)) throw new BadRequestError('an apply configuration must be an object');
  if (applied.metadata?.managedFields !== undefined && applied.metadata.managedFields !== null) {
    throw new BadRequestError('metadata.managedFields must be nil');
  }
  const scope = scopeOf(options.kind, applied.apiVersion ?? live?.apiVersion ?? '', options.subresource);
  const managed = decodeLive(live);

  let outcome = applyOnce(scope, options, managed, force);
  if (outcome.conflicts) {
    // Upgrading from client-side apply: `kubectl` may take over what its annotation says it set.
    const allowed = manager === KUBECTL_APPLY_MANAGER ? allowedFromLastApplied(scope, live, applied.apiVersion) : undefined;
    const remaining = allowed ? outcome.conflicts.filter((c) => !allowed.has(c.path)) : outcome.conflicts;
    if (remaining.length > 0) throw conflictError(remaining);
    outcome = applyOnce(scope, options, managed, true);
  }
  const object = outcome.object! as unknown as KubeObject;
  // Downgrading to client-side apply stays possible: `kubectl` keeps the annotation current.
  if (manager === KUBECTL_APPLY_MANAGER && object.metadata.annotations?.[LAST_APPLIED_ANNOTATION]) {
    object.metadata.annotations[LAST_APPLIED_ANNOTATION] = buildLastApplied(applied);
  }
  return { object };
}

/** Options of {@link updateManagedFields}. */
export interface UpdateOptions {
  /** The stored object, or `undefined` for a create. */
  live: KubeObject | undefined;
  /**
   * The object about to be stored: the request body of a create or update, or the live object
   * with a patch applied. Its `metadata.managedFields`, when it carries a valid non-empty list,
   * replaces the live one first; `[{}]` clears them ("Clearing managedFields").
   */
  updated: KubeObject;
  /** The `fieldManager` (`kubectl-client-side-apply`, `kubectl-edit`, `kube-controller-manager`, ...). */
  manager: string;
  operation?: 'Update';
  kind: string;
  /** The time to record, RFC 3339. */
  now: string;
  /** `status`, `scale`, ... when the request went to a subresource. */
  subresource?: string;
}

function isResetManagedFields(entries: unknown): boolean {
  if (!Array.isArray(entries) || entries.length !== 1) return false;
  const e: unknown = entries[0];
  return isObject(e) && Object.values(e).every((v) => v === undefined || v === null || v === '');
}

/**
 * Records a create, update or non-apply patch by `manager` in `updated`'s `managedFields`, as
 * `FieldManager.Update` does: every field whose value the request changes or adds moves to
 * `manager`'s `Update` entry (and leaves every other manager), fields it removes leave every
 * manager, and managers left with nothing are dropped. Never conflicts. Returns a copy of
 * `updated` with the new `managedFields`.
 */
export function updateManagedFields(options: UpdateOptions): { object: KubeObject } {
  const { live, updated, manager, now, subresource } = options;
  const scope = scopeOf(options.kind, updated.apiVersion ?? live?.apiVersion ?? '', subresource);

  let managed: Managed;
  const requested = updated.metadata?.managedFields;
  if (subresource) managed = decodeOrEmpty(live?.metadata?.managedFields);
  else if (isResetManagedFields(requested)) managed = new Map();
  else {
    managed = decodeOrEmpty(requested);
    if (managed.size === 0) managed = decodeOrEmpty(live?.metadata?.managedFields);
  }

  const cmp = compareObjects(scope.kind, ownedView(live ? scoped(live, scope) : undefined, scope), ownedView(scoped(updated, scope), scope));
  const changed = ownable(cmp.modified.union(cmp.added));
  const managers: Managed = new Map();
  for (const [id, e] of managed) managers.set(id, { ...e, set: e.set.difference(changed).difference(cmp.removed) });
  const taken = changed.difference(cmp.removed);
  if (!taken.empty) {
    const entry: Omit<ManagerEntry, 'set'> = { manager, operation: 'Update', apiVersion: updated.apiVersion, ...(subresource ? { subresource } : {}), time: now };
    const id = managerIdentifier(entry);
    managers.set(id, { ...entry, set: taken.union(managers.get(id)?.set ?? new FieldSet()) });
  }
  for (const [id, e] of managers) if (e.set.empty) managers.delete(id);
  capUpdateManagers(managers);
  return { object: withManagedFields(structuredClone(updated) as unknown as JsonObject, managers) };
}
