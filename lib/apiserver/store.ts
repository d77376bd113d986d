/**
 * The object store: what etcd plus the apiserver's generic registry are to a real cluster.
 *
 * - Every write gets the next cluster-wide resourceVersion (like etcd's revision); objects carry
 *   uid, creationTimestamp, generation (bumped when anything but metadata and status changes).
 * - Writes pass the admission chain (defaulting, allocation, validation) synchronously, so a bad
 *   object is rejected before anything changes.
 * - `transaction(fn)` makes a group of writes all-or-nothing: nothing is seen by watchers until
 *   the whole group succeeded, and on failure the store and the allocators are as they were.
 * - Watches replay history from a resourceVersion and then stream live events in commit order;
 *   a resourceVersion older than the retained history is "too old" (410 Gone) as with etcd
 *   compaction. Label and field selectors on a watch turn objects moving in or out of the
 *   selection into ADDED / DELETED, as the watch cache does.
 * - Deletion honours finalizers (deletionTimestamp first, removal when the last finalizer goes),
 *   graceful deletion of pods bound to a node (the kubelet finishes it), and owner-reference
 *   garbage collection with Background, Foreground and Orphan propagation.
 * - Stored objects are never mutated: every write replaces the object, every read returns a copy.
 */

import {
  AlreadyExistsError,
  BadRequestError,
  ConflictError,
  InvalidObjectError,
  NotFoundError,
  PodnetError,
  ResourceVersionTooOldError,
  field,
  type ObjectRef,
} from '../core/errors.js';
import { rfc3339, systemClock, type Clock } from '../core/clock.js';
import { SeededRng, randomSuffix, randomUid, type Rng } from '../core/rng.js';
import { channels } from '../core/diagnostics.js';
import { canonicalJson } from '../core/json.js';
import { deepCopy, type KubeObject } from '../api/meta.js';
import { KINDS, apiVersionOf, lookupKind, requireKind, type KindInfo } from '../api/scheme.js';
import { parseSelector, selectorFromLabelSelector, type Selector } from '../apimachinery/labels.js';
import { objectFields, parseFieldSelector, type FieldSelector } from '../apimachinery/fields.js';
import { jsonPatch, mergePatch, strategicMergePatch } from '../apimachinery/patch.js';

/** The kinds of change a watch reports. */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change to one object. */
export interface WatchEvent {
  type: WatchEventType;
  object: KubeObject;
}

/** What an admission plugin is asked about. */
export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE';

/** Context handed to admission plugins. */
export interface AdmissionContext {
  op: AdmissionOperation;
  info: KindInfo;
  /** The object being written (mutable for mutating plugins); for DELETE, the stored object. */
  object: KubeObject;
  /** The stored object before this write (UPDATE and DELETE). */
  old?: KubeObject;
  /** The subresource written, if any. */
  subresource?: 'status' | 'scale';
  store: ObjectStore;
}

/**
 * An admission plugin: defaulting, allocation (ClusterIP, NodePort, podCIDR) or validation.
 * `admit` may change `ctx.object` and throws (usually {@link InvalidObjectError}) to reject.
 * Plugins that keep state derived from the store implement `resync` so a rolled-back
 * transaction can rebuild them.
 */
export interface AdmissionPlugin {
  readonly name: string;
  admit(ctx: AdmissionContext): void;
  /** Called after a write is committed to the store (inside a transaction: not yet visible). */
  committed?(ctx: AdmissionContext): void;
  /** Rebuilds any derived state from the store's contents. */
  resync?(store: ObjectStore): void;
}

/** Options of {@link ObjectStore}. */
export interface ObjectStoreOptions {
  clock?: Clock;
  rng?: Rng;
  /** How many events the watch history keeps (etcd's compaction window). */
  historyLimit?: number;
}

/** Options of list and watch. */
export interface ListOptions {
  namespace?: string;
  labelSelector?: string | Selector;
  fieldSelector?: string | FieldSelector;
}

/** Options of watch. */
export interface WatchOptions extends ListOptions {
  /**
   * Start after this resourceVersion. Unset or "0": first an ADDED event for every object that
   * exists now, then live events (the API's "Get State and Start at Most Recent").
   */
  resourceVersion?: string;
}

/** Options of delete. */
export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

/** Options of create. */
export interface CreateOptions {
  dryRun?: boolean;
  /**
   * Keep a given uid and creationTimestamp (snapshot import: owner references in the snapshot
   * name the original uids).
   */
  keepIdentity?: boolean;
}

/** Options of update. */
export interface UpdateOptions {
  subresource?: 'status';
  dryRun?: boolean;
}

/** Patch content types the store understands. */
export type PatchType = 'merge' | 'json' | 'strategic';

/** A list result. */
export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
}

type Handler = (event: WatchEvent) => void;

interface Watcher {
  info: KindInfo | undefined;
  namespace: string | undefined;
  label: Selector | undefined;
  fields: FieldSelector | undefined;
  handler: Handler;
}

interface HistoryEntry {
  rv: number;
  info: KindInfo;
  type: WatchEventType;
  object: KubeObject;
  prev: KubeObject | undefined;
}

const FOREGROUND = 'foregroundDeletion';

/** The cluster's object store. */
export class ObjectStore {
  readonly clock: Clock;
  readonly rng: Rng;
  #data = new Map<KindInfo, Map<string, KubeObject>>();
  #rv = 0;
  #history: HistoryEntry[] = [];
  /** Entries before this index are compacted away (dropped physically in batches). */
  #historyStart = 0;
  #historyLimit: number;
  #watchers = new Set<Watcher>();
  #plugins: AdmissionPlugin[] = [];
  /** Events committed but not yet delivered; delivery drains it in order, even when re-entered. */
  #outbox: HistoryEntry[] = [];
  #delivering = false;
  #outboxHead = 0;
  /** Set while a transaction is open: events wait here until it commits. */
  #txEvents: HistoryEntry[] | undefined;
  /** Set while a transaction is open: how to undo each write, oldest first. */
  #undo: { info: KindInfo; key: string; prev: KubeObject | undefined }[] | undefined;
  /** uid → where the object is stored. */
  #byUid = new Map<string, { info: KindInfo; key: string }>();
  /** owner uid → the objects naming it in ownerReferences. */
  #byOwner = new Map<string, Map<string, { info: KindInfo; key: string }>>();

  constructor(options: ObjectStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.rng = options.rng ?? new SeededRng();
    this.#historyLimit = options.historyLimit ?? 50_000;
    for (const info of KINDS) this.#data.set(info, new Map());
  }

  /** Adds an admission plugin; plugins run in the order added. */
  use(plugin: AdmissionPlugin): this {
    this.#plugins.push(plugin);
    return this;
  }

  /** The current resourceVersion of the whole store. */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  // ---------------------------------------------------------------- reads

  /** Returns a copy of the object, or undefined. */
  get(info: KindInfo, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.#data.get(info)!.get(keyOf(info, namespace, name));
    return obj && deepCopy(obj);
  }

  /** Returns the stored object itself, read-only, for hot paths that only read. */
  peek(info: KindInfo, namespace: string | undefined, name: string): Readonly<KubeObject> | undefined {
    return this.#data.get(info)!.get(keyOf(info, namespace, name));
  }

  /** Like {@link get}, but throws {@link NotFoundError}. */
  getOrThrow(info: KindInfo, namespace: string | undefined, name: string): KubeObject {
    const obj = this.get(info, namespace, name);
    if (!obj) throw new NotFoundError({ kind: info.kind, namespace, name }, qualifiedResource(info));
    return obj;
  }

  /** Lists copies of the objects of a kind, filtered, sorted by namespace and name. */
  list(info: KindInfo, options: ListOptions = {}): ListResult {
    return { items: this.select(info, options).map((o) => deepCopy(o)), resourceVersion: this.resourceVersion };
  }

  /** Like {@link list} without copying: the stored objects, read-only. */
  select(info: KindInfo, options: ListOptions = {}): readonly Readonly<KubeObject>[] {
    const label = toLabelSelector(options.labelSelector);
    const fields = toFieldSelector(options.fieldSelector);
    const out: KubeObject[] = [];
    for (const obj of this.#data.get(info)!.values()) {
      if (matches(obj, options.namespace, label, fields)) out.push(obj);
    }
    return out.sort(byNamespaceAndName);
  }

  // ---------------------------------------------------------------- writes

  /**
   * Creates an object. Fills in name (from generateName), uid, resourceVersion,
   * creationTimestamp and generation; runs admission; returns the stored copy.
   */
  create(input: KubeObject, options: CreateOptions = {}): KubeObject {
    if (options.dryRun) return this.#dryRun(() => this.create(input, { ...options, dryRun: false }));
    const info = this.#kindOf(input);
    const obj = deepCopy(input);
    obj.apiVersion = apiVersionOf(info);
    obj.metadata ??= {};
    const meta = obj.metadata;
    if (info.namespaced) meta.namespace ||= 'default';
    else delete meta.namespace;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomSuffix(this.rng)}`;
    if (!meta.name) {
      throw new InvalidObjectError(refOf(obj), [field.required('metadata.name', 'name or generateName is required')]);
    }
    const ref = refOf(obj);
    const bucket = this.#data.get(info)!;
    const key = keyOf(info, meta.namespace, meta.name);
    if (bucket.has(key)) throw new AlreadyExistsError(ref, qualifiedResource(info));
    if (info.namespaced) this.#requireActiveNamespace(meta.namespace!);
    if (!options.keepIdentity || !meta.uid) meta.uid = randomUid(this.rng);
    if (!options.keepIdentity || !meta.creationTimestamp) meta.creationTimestamp = rfc3339(this.clock.now());
    if (info.hasGeneration) meta.generation = 1;
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    const ctx: AdmissionContext = { op: 'CREATE', info, object: obj, store: this };
    return this.#atomically(() => {
      this.#admit(ctx);
      return this.#commit(info, 'ADDED', ctx.object, undefined, ctx);
    });
  }

  /**
   * Replaces an object. A resourceVersion in the input must match the stored one (optimistic
   * concurrency, 409 Conflict otherwise). Status is only written through `subresource: 'status'`
   * for kinds that have one; the main resource ignores status changes, as the apiserver does.
   */
  update(input: KubeObject, options: UpdateOptions = {}): KubeObject {
    if (options.dryRun) return this.#dryRun(() => this.update(input, { ...options, dryRun: false }));
    const info = this.#kindOf(input);
    const meta = input.metadata ?? {};
    const namespace = info.namespaced ? meta.namespace || 'default' : undefined;
    const old = this.peek(info, namespace, meta.name ?? '');
    if (!old) throw new NotFoundError({ kind: info.kind, namespace, name: meta.name }, qualifiedResource(info));
    if (meta.resourceVersion && meta.resourceVersion !== old.metadata.resourceVersion) {
      throw new ConflictError(
        refOf(old),
        qualifiedResource(info),
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    }
    if (meta.uid && meta.uid !== old.metadata.uid) {
      throw new ConflictError(refOf(old), qualifiedResource(info), `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${old.metadata.uid}`);
    }
    let obj: KubeObject;
    if (options.subresource === 'status') {
      obj = deepCopy(old);
      if ('status' in input) obj.status = deepCopy(input.status);
      else delete obj.status;
      // The API server records who wrote the status in managedFields.
      if (input.metadata?.managedFields) obj.metadata.managedFields = deepCopy(input.metadata.managedFields);
    } else {
      obj = deepCopy(input);
      obj.apiVersion = apiVersionOf(info);
      if (info.subresources.status) {
        if ('status' in old) obj.status = deepCopy(old.status);
        else delete obj.status;
      }
      // System-owned metadata cannot be changed by an update.
      for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
        if (old.metadata[f] === undefined) delete obj.metadata[f];
        else (obj.metadata as Record<string, unknown>)[f] = old.metadata[f];
      }
      obj.metadata.namespace = old.metadata.namespace;
      if (!obj.metadata.namespace) delete obj.metadata.namespace;
    }
    const ctx: AdmissionContext = { op: 'UPDATE', info, object: obj, old: deepCopy(old), store: this };
    if (options.subresource) ctx.subresource = options.subresource;
    return this.#atomically(() => {
      this.#admit(ctx);
      // Judged after defaulting: a manifest that only omits defaulted fields changes nothing.
      if (!options.subresource && info.hasGeneration && specChanged(old, ctx.object)) {
        ctx.object.metadata.generation = (old.metadata.generation ?? 0) + 1;
      }
      if (unchanged(old, ctx.object)) return deepCopy(old);
      // An object being deleted goes once its last finalizer is removed, unless a graceful
      // deletion is still pending: then the update is the delete (one DELETED event).
      if (shouldDeleteDuringUpdate(old, ctx.object)) return this.#remove(info, old);
      return this.#commit(info, 'MODIFIED', ctx.object, old, ctx);
    });
  }

  /** Patches an object with a JSON merge, JSON or strategic merge patch. */
  patch(
    info: KindInfo,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    options: UpdateOptions & { /** Runs on the patched object before it is written. */ mutate?: (obj: KubeObject, current: KubeObject) => KubeObject } = {},
  ): KubeObject {
    const current = this.getOrThrow(info, namespace, name);
    let obj = applyPatchDocument(current, type, patch, info);
    if (options.mutate) obj = options.mutate(obj, current);
    const { mutate: _m, ...rest } = options;
    void _m;
    return this.update(obj, rest);
  }

  /**
   * Deletes an object. With finalizers (or Foreground propagation) it only gets a
   * deletionTimestamp; a pod bound to a node is deleted gracefully (the kubelet finishes it);
   * dependents are garbage-collected by the propagation policy (Background by default).
   */
  delete(info: KindInfo, namespace: string | undefined, name: string, options: DeleteOptions = {}): KubeObject {
    const ns = info.namespaced ? namespace || 'default' : undefined;
    const old = this.peek(info, ns, name);
    if (!old) throw new NotFoundError({ kind: info.kind, namespace: ns, name }, qualifiedResource(info));
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid) {
      throw new ConflictError(refOf(old), qualifiedResource(info), `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw new ConflictError(refOf(old), qualifiedResource(info), `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`);
    }
    return this.#atomically(() => {
      this.#admit({ op: 'DELETE', info, object: deepCopy(old), old: deepCopy(old), store: this });
      const policy = options.propagationPolicy ?? defaultPropagation(info);
      const graceful = this.#gracePeriod(info, old, options);
      const finalizers = [...(old.metadata.finalizers ?? [])];
      if (policy === 'Foreground' && !finalizers.includes(FOREGROUND)) finalizers.push(FOREGROUND);
      if (policy === 'Orphan') {
        this.#orphanDependents(old);
      }
      if (old.metadata.deletionTimestamp) return this.#deleteAgain(info, old, options);
      // A grace period of 0 deletes at once (DeleteOptions: "zero means delete immediately").
      if (finalizers.length || graceful) {
        const obj = deepCopy(old);
        obj.metadata.deletionTimestamp = rfc3339(this.clock.now() + (graceful ?? 0) * 1000);
        obj.metadata.deletionGracePeriodSeconds = graceful ?? 0;
        obj.metadata.finalizers = finalizers;
        if (!finalizers.length) delete obj.metadata.finalizers;
        if (info.hasGeneration) obj.metadata.generation = (old.metadata.generation ?? 0) + 1;
        const stored = this.#commit(info, 'MODIFIED', obj, old);
        if (policy === 'Foreground') this.#collectDependents(stored, 'Foreground');
        return stored;
      }
      return this.#remove(info, old);
    });
  }

  /**
   * A delete of an object that is already terminating (rest.BeforeDelete): only a shorter grace
   * period changes anything; a grace period that reaches 0 removes the object unless finalizers
   * hold it.
   */
  #deleteAgain(info: KindInfo, old: KubeObject, options: DeleteOptions): KubeObject {
    const current = old.metadata.deletionGracePeriodSeconds ?? 0;
    const requested = options.gracePeriodSeconds === undefined ? undefined : options.gracePeriodSeconds < 0 ? 1 : options.gracePeriodSeconds;
    const held = !!old.metadata.finalizers?.length;
    if (current === 0) return held ? deepCopy(old) : this.#remove(info, old);
    if (requested === undefined || requested >= current) return deepCopy(old);
    if (requested === 0 && !held) return this.#remove(info, old);
    const obj = deepCopy(old);
    obj.metadata.deletionTimestamp = rfc3339(Date.parse(old.metadata.deletionTimestamp!) + (requested - current) * 1000);
    obj.metadata.deletionGracePeriodSeconds = requested;
    return this.#commit(info, 'MODIFIED', obj, old);
  }

  /** Finds the kind of an object, throwing the unknown-kind error kubectl users know. */
  kindOf(obj: Pick<KubeObject, 'apiVersion' | 'kind'>): KindInfo {
    return this.#kindOf(obj);
  }

  // ---------------------------------------------------------------- transactions

  /**
   * Runs `fn` so that its writes are all-or-nothing. If it throws, every write it made is undone
   * (store contents, resourceVersion history, allocator state) and no watcher sees any of them.
   */
  transaction<T>(fn: () => T): T {
    const savedRv = this.#rv;
    // A nested transaction is a savepoint in the enclosing one.
    const outer = this.#txEvents;
    const mark = outer?.length ?? 0;
    const undoMark = this.#undo?.length ?? 0;
    if (!outer) {
      this.#txEvents = [];
      this.#undo = [];
    }
    try {
      const result = fn();
      if (!outer) {
        const events = this.#txEvents!;
        this.#txEvents = undefined;
        this.#undo = undefined;
        for (const e of events) this.#publish(e);
        this.#deliver();
      }
      return result;
    } catch (err) {
      // Undo the writes, newest first: an undo log keeps a write O(1) however big the store is.
      const undo = this.#undo!;
      for (let i = undo.length - 1; i >= undoMark; i--) {
        const u = undo[i]!;
        this.#place(u.info, u.key, u.prev);
      }
      undo.length = undoMark;
      if (outer) outer.length = mark;
      else {
        this.#txEvents = undefined;
        this.#undo = undefined;
      }
      this.#rv = savedRv;
      for (const plugin of this.#plugins) plugin.resync?.(this);
      throw err;
    }
  }

  /** One write: its own transaction, or part of the enclosing one (without a savepoint). */
  #atomically<T>(fn: () => T): T {
    return this.#txEvents ? fn() : this.transaction(fn);
  }

  #dryRun<T>(fn: () => T): T {
    const rollback = new DryRunRollback<T>();
    try {
      this.transaction(() => {
        rollback.value = fn();
        throw rollback;
      });
    } catch (err) {
      if (err === rollback) return rollback.value as T;
      throw err;
    }
    throw new Error('unreachable');
  }

  // ---------------------------------------------------------------- watch

  /**
   * Watches one kind (or every kind when `info` is undefined). Returns a function that stops
   * the watch. Throws {@link ResourceVersionTooOldError} for a compacted resourceVersion.
   * Handlers are called in commit order and must not throw.
   */
  watch(info: KindInfo | undefined, options: WatchOptions, handler: Handler): () => void {
    const watcher: Watcher = {
      info,
      namespace: options.namespace,
      label: toLabelSelector(options.labelSelector),
      fields: toFieldSelector(options.fieldSelector),
      handler,
    };
    const rvText = options.resourceVersion;
    const backlog: WatchEvent[] = [];
    if (!rvText || rvText === '0') {
      for (const i of info ? [info] : KINDS) {
        for (const obj of this.select(i, options)) backlog.push({ type: 'ADDED', object: deepCopy(obj) });
      }
    } else {
      const rv = Number(rvText);
      if (!Number.isInteger(rv) || rv < 0) throw new BadRequestError(`invalid resourceVersion: ${rvText}`);
      const oldest = this.#historyStart < this.#history.length ? this.#history[this.#historyStart]!.rv : this.#rv + 1;
      // The watch cache's "too old resource version: <requested> (<oldest - 1>)".
      if (rv < oldest - 1 && rv < this.#rv) throw new ResourceVersionTooOldError(rv, oldest - 1);
      // History is ordered by resourceVersion: find the first newer entry by bisection.
      let lo = this.#historyStart;
      let hi = this.#history.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.#history[mid]!.rv <= rv) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < this.#history.length; i++) {
        const e = filterEvent(watcher, this.#history[i]!);
        if (e) backlog.push(e);
      }
    }
    for (const e of backlog) handler(e);
    this.#watchers.add(watcher);
    return () => void this.#watchers.delete(watcher);
  }

  /** The oldest resourceVersion a watch can still start from. */
  get oldestResourceVersion(): string {
    return String(this.#historyStart < this.#history.length ? this.#history[this.#historyStart]!.rv - 1 : this.#rv);
  }

  // ---------------------------------------------------------------- internals

  #kindOf(obj: Pick<KubeObject, 'apiVersion' | 'kind'>): KindInfo {
    if (!obj || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
      throw new BadRequestError('Object \'Kind\' is missing or \'apiVersion\' is missing');
    }
    return requireKind(obj.apiVersion, obj.kind);
  }

  #requireActiveNamespace(namespace: string): void {
    const ns = this.peek(NAMESPACE, undefined, namespace);
    if (!ns) throw new NotFoundError({ kind: 'Namespace', name: namespace }, 'namespaces');
    if (ns.metadata.deletionTimestamp) {
      throw new PodnetError(
        'PODNET_NAMESPACE_TERMINATING',
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  #admit(ctx: AdmissionContext): void {
    for (const plugin of this.#plugins) plugin.admit(ctx);
  }

  #gracePeriod(info: KindInfo, obj: KubeObject, options: DeleteOptions): number | undefined {
    if (info.kind !== 'Pod' || info.group !== '') return undefined;
    // Pods that never reached a node, or already finished, go at once (as the apiserver does).
    const phase = obj.status?.phase;
    if (!obj.spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') return undefined;
    const grace = options.gracePeriodSeconds ?? obj.spec?.terminationGracePeriodSeconds ?? 30;
    // rest.BeforeDelete: "Negative values will be treated as the value `1s` on the delete path."
    return grace < 0 ? 1 : grace;
  }

  #commit(
    info: KindInfo,
    type: WatchEventType,
    obj: KubeObject,
    prev: KubeObject | undefined,
    ctx?: AdmissionContext,
  ): KubeObject {
    const rv = ++this.#rv;
    obj.metadata.resourceVersion = String(rv);
    const key = keyOf(info, obj.metadata.namespace, obj.metadata.name!);
    this.#undo?.push({ info, key, prev: this.#data.get(info)!.get(key) });
    this.#place(info, key, type === 'DELETED' ? undefined : obj);
    if (ctx) for (const plugin of this.#plugins) plugin.committed?.(ctx);
    const entry: HistoryEntry = { rv, info, type, object: obj, prev };
    if (this.#txEvents) this.#txEvents.push(entry);
    else {
      this.#publish(entry);
      this.#deliver();
    }
    return deepCopy(obj);
  }

  #remove(info: KindInfo, old: KubeObject): KubeObject {
    const obj = deepCopy(old);
    if (info === NAMESPACE) this.#deleteNamespaceContents(obj.metadata.name!);
    const removed = this.#commit(info, 'DELETED', obj, old);
    this.#admitCommittedDelete(info, removed);
    this.#collectDependents(removed, 'Background');
    // An owner waiting in foreground deletion may now have no dependents left.
    for (const ref of removed.metadata.ownerReferences ?? []) {
      const owner = this.#findByUid(ref.uid);
      if (owner?.metadata.finalizers?.includes(FOREGROUND)) this.#finishForeground(owner);
    }
    return removed;
  }

  /** Stores (or removes) an object under its key, keeping the uid and owner indexes. */
  #place(info: KindInfo, key: string, obj: KubeObject | undefined): void {
    const bucket = this.#data.get(info)!;
    const old = bucket.get(key);
    const ref = `${info.group}/${info.resource}/${key}`;
    if (old) {
      if (this.#byUid.get(old.metadata.uid!)?.key === key) this.#byUid.delete(old.metadata.uid!);
      for (const r of old.metadata.ownerReferences ?? []) {
        const set = this.#byOwner.get(r.uid);
        set?.delete(ref);
        if (set?.size === 0) this.#byOwner.delete(r.uid);
      }
    }
    if (!obj) {
      bucket.delete(key);
      return;
    }
    bucket.set(key, obj);
    if (obj.metadata.uid) this.#byUid.set(obj.metadata.uid, { info, key });
    for (const r of obj.metadata.ownerReferences ?? []) {
      let set = this.#byOwner.get(r.uid);
      if (!set) this.#byOwner.set(r.uid, (set = new Map()));
      set.set(ref, { info, key });
    }
  }

  #findByUid(uid: string): KubeObject | undefined {
    const at = this.#byUid.get(uid);
    return at && this.#data.get(at.info)!.get(at.key);
  }

  #admitCommittedDelete(info: KindInfo, obj: KubeObject): void {
    const ctx: AdmissionContext = { op: 'DELETE', info, object: obj, old: obj, store: this };
    for (const plugin of this.#plugins) plugin.committed?.(ctx);
  }

  #deleteNamespaceContents(namespace: string): void {
    for (const info of KINDS) {
      if (!info.namespaced) continue;
      for (const obj of this.select(info, { namespace })) {
        this.#forceRemove(info, obj);
      }
    }
  }

  #forceRemove(info: KindInfo, obj: KubeObject): void {
    if (!this.peek(info, obj.metadata.namespace, obj.metadata.name!)) return;
    const removed = this.#commit(info, 'DELETED', deepCopy(obj), obj);
    this.#admitCommittedDelete(info, removed);
  }

  /** Garbage collection of the objects that name `owner` in their ownerReferences. */
  #collectDependents(owner: KubeObject, policy: 'Background' | 'Foreground'): void {
    const uid = owner.metadata.uid;
    for (const [info, dependent] of this.#dependentsOf(owner)) {
      const refs = dependent.metadata.ownerReferences ?? [];
      const others = refs.filter((r) => r.uid !== uid);
      const otherOwnersAlive = others.some((r) => this.#ownerExists(r.uid));
      if (otherOwnersAlive) {
        // Another owner keeps it; only drop the reference to the deleted (or foreground-deleting)
        // owner, as the garbage collector does, so that owner does not wait for it.
        const obj = deepCopy(dependent);
        obj.metadata.ownerReferences = others;
        this.#commit(info, 'MODIFIED', obj, dependent);
        continue;
      }
      if (dependent.metadata.deletionTimestamp && policy === 'Background') continue;
      try {
        this.delete(info, dependent.metadata.namespace, dependent.metadata.name!, { propagationPolicy: policy });
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    if (policy === 'Foreground') this.#finishForeground(owner);
  }

  /** Removes the foregroundDeletion finalizer once no blocking dependent is left. */
  #finishForeground(owner: KubeObject): void {
    const info = lookupKind(owner.apiVersion, owner.kind)!;
    const current = this.peek(info, owner.metadata.namespace, owner.metadata.name!);
    if (!current || current.metadata.uid !== owner.metadata.uid) return;
    if (this.#dependentsOf(current).length) return;
    const obj = deepCopy(current);
    obj.metadata.finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== FOREGROUND);
    if (!obj.metadata.finalizers.length) delete obj.metadata.finalizers;
    if (shouldDeleteDuringUpdate(current, obj)) this.#remove(info, current);
    else this.#commit(info, 'MODIFIED', obj, current);
  }

  #orphanDependents(owner: KubeObject): void {
    for (const [info, dependent] of this.#dependentsOf(owner)) {
      const obj = deepCopy(dependent);
      obj.metadata.ownerReferences = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== owner.metadata.uid);
      if (!obj.metadata.ownerReferences.length) delete obj.metadata.ownerReferences;
      this.#commit(info, 'MODIFIED', obj, dependent);
    }
  }

  #dependentsOf(owner: KubeObject): [KindInfo, KubeObject][] {
    const out: [KindInfo, KubeObject][] = [];
    for (const { info, key } of this.#byOwner.get(owner.metadata.uid!)?.values() ?? []) {
      const obj = this.#data.get(info)!.get(key);
      // Namespaced dependents live in their owner's namespace; cluster-scoped owners may own any.
      if (!obj || (owner.metadata.namespace && obj.metadata.namespace !== owner.metadata.namespace)) continue;
      out.push([info, obj]);
    }
    return out.sort(([, a], [, b]) => byNamespaceAndName(a, b));
  }

  #ownerExists(uid: string): boolean {
    const owner = this.#findByUid(uid);
    return !!owner && !owner.metadata.deletionTimestamp;
  }

  #publish(entry: HistoryEntry): void {
    this.#history.push(entry);
    // Compact: logically at once, physically in batches, so a write stays O(1) when full.
    this.#historyStart = Math.max(this.#historyStart, this.#history.length - this.#historyLimit);
    if (this.#historyStart > Math.max(1024, this.#historyLimit >> 3)) {
      this.#history = this.#history.slice(this.#historyStart);
      this.#historyStart = 0;
    }
    this.#outbox.push(entry);
    if (channels.storeWrite.hasSubscribers) channels.storeWrite.publish({ type: entry.type, object: entry.object });
  }

  #deliver(): void {
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      while (this.#outboxHead < this.#outbox.length) {
        const entry = this.#outbox[this.#outboxHead++]!;
        for (const w of [...this.#watchers]) {
          if (!this.#watchers.has(w)) continue;
          const e = filterEvent(w, entry);
          if (e) w.handler(e);
        }
      }
    } finally {
      this.#outbox = this.#outbox.slice(this.#outboxHead);
      this.#outboxHead = 0;
      this.#delivering = false;
    }
  }
}

class DryRunRollback<T> {
  value: T | undefined;
}

const NAMESPACE = lookupKind('v1', 'Namespace')!;

function keyOf(info: KindInfo, namespace: string | undefined, name: string): string {
  return info.namespaced ? `${namespace ?? ''}/${name}` : name;
}

function refOf(obj: KubeObject): ObjectRef {
  return { kind: obj.kind, namespace: obj.metadata?.namespace, name: obj.metadata?.name };
}

/** The resource name as the apiserver names it in messages: `pods`, `deployments.apps`. */
export function qualifiedResource(info: KindInfo): string {
  return info.group ? `${info.resource}.${info.group}` : info.resource;
}

function defaultPropagation(info: KindInfo): 'Background' | 'Orphan' {
  void info;
  return 'Background';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}


function specChanged(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const { metadata: _m, status: _s, ...rest } = o;
    void _m;
    void _s;
    return rest;
  };
  return canonicalJson(strip(a)) !== canonicalJson(strip(b));
}

function unchanged(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return canonicalJson(strip(a)) === canonicalJson(strip(b));
}

/**
 * The generic registry's ShouldDeleteDuringUpdate: the new object has no finalizers, the stored
 * one is being deleted and has no grace period (or 0) left to wait for.
 */
function shouldDeleteDuringUpdate(old: KubeObject, obj: KubeObject): boolean {
  if (obj.metadata.finalizers?.length || !old.metadata.deletionTimestamp) return false;
  return !old.metadata.deletionGracePeriodSeconds;
}

function toLabelSelector(s: string | Selector | undefined): Selector | undefined {
  if (s === undefined || s === '') return undefined;
  return typeof s === 'string' ? parseSelector(s) : s;
}

function toFieldSelector(s: string | FieldSelector | undefined): FieldSelector | undefined {
  if (s === undefined || s === '') return undefined;
  return typeof s === 'string' ? parseFieldSelector(s) : s;
}

function matches(
  obj: KubeObject,
  namespace: string | undefined,
  label: Selector | undefined,
  fields: FieldSelector | undefined,
): boolean {
  if (namespace && obj.metadata.namespace !== namespace) return false;
  if (label && !label.matches(obj.metadata.labels ?? {})) return false;
  if (fields && !fields.matches(objectFields(obj))) return false;
  return true;
}

function filterEvent(w: Watcher, entry: HistoryEntry): WatchEvent | undefined {
  if (w.info && w.info !== entry.info) return undefined;
  const now = matches(entry.object, w.namespace, w.label, w.fields);
  if (entry.type !== 'MODIFIED' || (!w.label && !w.fields)) {
    return now ? { type: entry.type, object: deepCopy(entry.object) } : undefined;
  }
  const before = entry.prev ? matches(entry.prev, w.namespace, w.label, w.fields) : false;
  if (now && before) return { type: 'MODIFIED', object: deepCopy(entry.object) };
  if (now) return { type: 'ADDED', object: deepCopy(entry.object) };
  if (before) return { type: 'DELETED', object: deepCopy(entry.object) };
  return undefined;
}

function byNamespaceAndName(a: KubeObject, b: KubeObject): number {
  const na = a.metadata.namespace ?? '';
  const nb = b.metadata.namespace ?? '';
  if (na !== nb) return na < nb ? -1 : 1;
  const ma = a.metadata.name ?? '';
  const mb = b.metadata.name ?? '';
  return ma < mb ? -1 : ma > mb ? 1 : 0;
}

/**
 * Applies a JSON merge, JSON or strategic merge patch to an object, as the apiserver's patcher
 * does: the result must still be an object of the same name, namespace and kind.
 */
export function applyPatchDocument(current: KubeObject, type: PatchType, patch: unknown, info: KindInfo): KubeObject {
  let patched: unknown;
  switch (type) {
    case 'merge':
      patched = mergePatch(current, patch);
      break;
    case 'json':
      if (!Array.isArray(patch)) throw new BadRequestError('json patch must be a list of operations');
      patched = jsonPatch(current, patch);
      break;
    case 'strategic':
      patched = strategicMergePatch(current, patch, info.kind);
      break;
  }
  if (!isObject(patched)) throw new BadRequestError('the patch did not produce an object');
  const obj = patched as KubeObject;
  obj.metadata ??= {};
  if (obj.metadata.name !== current.metadata.name || (info.namespaced && obj.metadata.namespace !== current.metadata.namespace)) {
    throw new BadRequestError('the name and namespace of an object cannot be changed by a patch');
  }
  obj.apiVersion = current.apiVersion;
  obj.kind = current.kind;
  return obj;
}

/** Re-exported so callers can resolve a label selector object from a spec. */
export { selectorFromLabelSelector };
