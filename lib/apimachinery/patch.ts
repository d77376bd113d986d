/**
 * The three patch formats the API server accepts on PATCH:
 *
 * - `application/merge-patch+json`: JSON merge patch, RFC 7386 section 2.
 * - `application/json-patch+json`: JSON Patch, RFC 6902, with JSON Pointer (RFC 6901) paths.
 * - `application/strategic-merge-patch+json`: Kubernetes' strategic merge patch, following
 *   k8s.io/apimachinery/pkg/util/strategicpatch (`StrategicMergeMapPatch`, server side): lists
 *   merge by the `patchMergeKey` their Go struct tags declare, lists of scalars with `merge` act as
 *   sets, other lists are replaced; the `$patch`, `$retainKeys`, `$setElementOrder/<field>` and
 *   `$deleteFromPrimitiveList/<field>` directives; the resulting order of merged lists (patch order
 *   for patched items, live order for the rest, interleaved as upstream's `mergeSortedSlice` does).
 *
 * Where upstream keeps raw patch text that its typed decoding later drops (a value for a field the
 * live object lacks, a replaced list), podnet has no typed decoding, so it applies the patch as if
 * the field were empty: directives inside such values are honoured and removed, and `null` members
 * dropped, rather than stored. Every function returns a new document and leaves its inputs alone.
 */

import { BadRequestError } from '../core/errors.js';

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** A JSON object. */
export interface JsonObject {
  [key: string]: JsonValue;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasOwn(o: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

function get(o: JsonObject, key: string): JsonValue | undefined {
  return hasOwn(o, key) ? o[key] : undefined;
}

/** Sets an own property, `__proto__` included, without touching the prototype. */
function set(o: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
  else o[key] = value;
}

function clone<T>(value: T): T {
  return value === undefined ? value : structuredClone(value);
}

// ---------------------------------------------------------------------------------------------
// RFC 7386: JSON merge patch.

function mergeValue(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? target : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else set(result, key, mergeValue(get(result, key), value));
  }
  return result;
}

/**
 * Applies a JSON merge patch (RFC 7386 section 2, `MergePatch(Target, Patch)`): objects merge
 * recursively, `null` removes a member, anything else (arrays included) replaces the target.
 */
export function mergePatch<T = unknown>(target: unknown, patch: unknown): T {
  return mergeValue(clone(target as JsonValue) ?? null, clone(patch as JsonValue)) as T;
}

// ---------------------------------------------------------------------------------------------
// RFC 6902: JSON Patch.

/** One JSON Patch operation (RFC 6902 section 4). Members other than these are ignored. */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  /** A JSON Pointer (RFC 6901) to the target location. */
  path: string;
  /** The value for `add`, `replace` and `test`. */
  value?: unknown;
  /** A JSON Pointer to the source location for `move` and `copy`. */
  from?: string;
}

/** Splits a JSON Pointer into its reference tokens, unescaping `~1` then `~0` (RFC 6901 section 4). */
function parsePointer(pointer: unknown, member: string): string[] {
  if (typeof pointer !== 'string') throw new BadRequestError(`jsonpatch: "${member}" must be a JSON pointer string`);
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new BadRequestError(`jsonpatch: invalid JSON pointer ${JSON.stringify(pointer)}: must start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) throw new BadRequestError(`jsonpatch: invalid JSON pointer ${JSON.stringify(pointer)}: bad escape in ${JSON.stringify(token)}`);
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/** The document wrapped so that every location, the root included, has a parent and a key. */
interface Holder {
  doc: JsonValue;
}

type Container = JsonObject | JsonValue[] | Holder;

function missing(op: string, path: string): BadRequestError {
  return new BadRequestError(`jsonpatch ${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}`);
}

/** Walks to the container holding the last token; the root's container is the holder. */
function locate(holder: Holder, tokens: string[], op: string, path: string): { parent: Container; key: string } {
  let parent: Container = holder;
  let key = 'doc';
  for (const token of tokens) {
    const next = read(parent, key);
    if (next === undefined || next === null || typeof next !== 'object') throw missing(op, path);
    parent = next;
    key = token;
  }
  return { parent, key };
}

function read(parent: Container, key: string): JsonValue | undefined {
  if (Array.isArray(parent)) return ARRAY_INDEX.test(key) ? parent[Number(key)] : undefined;
  return get(parent as JsonObject, key);
}

function indexIn(list: JsonValue[], key: string, op: string, path: string, allowEnd: boolean): number {
  if (key === '-' && allowEnd) return list.length;
  if (!ARRAY_INDEX.test(key)) throw new BadRequestError(`jsonpatch ${op} operation does not apply: invalid array index ${JSON.stringify(key)} in ${JSON.stringify(path)}`);
  const i = Number(key);
  if (i > list.length || (!allowEnd && i === list.length)) {
    throw new BadRequestError(`jsonpatch ${op} operation does not apply: index ${i} out of bounds in ${JSON.stringify(path)}`);
  }
  return i;
}

function addAt(holder: Holder, path: string, value: JsonValue, op: string): void {
  const { parent, key } = locate(holder, parsePointer(path, 'path'), op, path);
  if (Array.isArray(parent)) parent.splice(indexIn(parent, key, op, path, true), 0, value);
  else set(parent as JsonObject, key, value);
}

function removeAt(holder: Holder, path: string, op: string): JsonValue {
  const { parent, key } = locate(holder, parsePointer(path, op === 'move' ? 'from' : 'path'), op, path);
  if (Array.isArray(parent)) return parent.splice(indexIn(parent, key, op, path, false), 1)[0]!;
  const value = read(parent, key);
  if (value === undefined) throw missing(op, path);
  if (parent === holder) holder.doc = null;
  else delete (parent as JsonObject)[key];
  return value;
}

function valueAt(holder: Holder, path: string, op: string, member: string): JsonValue {
  const { parent, key } = locate(holder, parsePointer(path, member), op, path);
  const value = read(parent, key);
  if (value === undefined) throw missing(op, path);
  return value;
}

/** JSON equality as RFC 6902 section 4.6 defines it for `test`. */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

function requireValue(operation: Record<string, unknown>, op: string): JsonValue {
  if (!hasOwn(operation, 'value')) throw new BadRequestError(`jsonpatch ${op} operation is missing "value"`);
  return clone(operation.value as JsonValue);
}

/**
 * Applies a JSON Patch (RFC 6902): `add`, `remove`, `replace`, `move`, `copy` and `test`, in order,
 * with JSON Pointer paths (`~1` for `/`, `~0` for `~`, `-` to append to an array). The patch applies
 * whole or not at all: a failed `test`, a missing path or a malformed operation throws
 * {@link BadRequestError} and the input is never changed.
 */
export function jsonPatch<T = unknown>(target: unknown, ops: readonly JsonPatchOperation[] | unknown): T {
  if (!Array.isArray(ops)) throw new BadRequestError('jsonpatch: a JSON patch must be an array of operations');
  const holder: Holder = { doc: clone(target as JsonValue) ?? null };
  ops.forEach((operation: unknown, i) => {
    if (!isObject(operation)) throw new BadRequestError(`jsonpatch: operation ${i} is not an object`);
    const op = operation.op;
    const path = operation.path;
    if (typeof path !== 'string') throw new BadRequestError(`jsonpatch: operation ${i} has no "path"`);
    switch (op) {
      case 'add':
        addAt(holder, path, requireValue(operation, op), op);
        break;
      case 'remove':
        removeAt(holder, path, op);
        break;
      case 'replace': {
        const value = requireValue(operation, op);
        const { parent, key } = locate(holder, parsePointer(path, 'path'), op, path);
        if (Array.isArray(parent)) parent[indexIn(parent, key, op, path, false)] = value;
        else if (read(parent, key) === undefined) throw missing(op, path);
        else if (parent === holder) holder.doc = value;
        else set(parent as JsonObject, key, value);
        break;
      }
      case 'move': {
        const from = operation.from;
        if (typeof from !== 'string') throw new BadRequestError(`jsonpatch move operation is missing "from"`);
        const fromTokens = parsePointer(from, 'from');
        const pathTokens = parsePointer(path, 'path');
        if (pathTokens.length > fromTokens.length && fromTokens.every((t, j) => pathTokens[j] === t)) {
          throw new BadRequestError(`jsonpatch move operation does not apply: "from" ${JSON.stringify(from)} is a proper prefix of "path" ${JSON.stringify(path)}`);
        }
        addAt(holder, path, removeAt(holder, from, op), op);
        break;
      }
      case 'copy': {
        const from = operation.from;
        if (typeof from !== 'string') throw new BadRequestError(`jsonpatch copy operation is missing "from"`);
        addAt(holder, path, clone(valueAt(holder, from, op, 'from')), op);
        break;
      }
      case 'test': {
        const expected = requireValue(operation, op);
        if (!jsonEqual(valueAt(holder, path, op, 'path'), expected)) {
          throw new BadRequestError(`jsonpatch test operation failed: value at ${JSON.stringify(path)} is not ${JSON.stringify(expected)}`);
        }
        break;
      }
      default:
        throw new BadRequestError(`jsonpatch: operation ${i} has unknown "op" ${JSON.stringify(op)}`);
    }
  });
  return holder.doc as T;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch: the patch-strategy tables.

/**
 * One field's patch metadata, as its Go struct tags declare it (`patchStrategy`, `patchMergeKey`).
 * A list without an entry is replaced by the patch's list; an object without one is merged.
 */
export interface PatchStrategy {
  /** `merge`: merge a list (by `mergeKey` for lists of objects, as a set for scalars). `replace`: take the patch's value whole. */
  readonly strategy?: 'merge' | 'replace';
  /** The field that identifies an element of a merged list of objects (`name`, `containerPort`, ...). */
  readonly mergeKey?: string;
  /**
   * Upstream also tags the field `retainKeys` (a union type whose other members a `$retainKeys`
   * directive clears). Informational: `$retainKeys` is honoured wherever it appears, as upstream does.
   */
  readonly retainKeys?: boolean;
}

/**
 * Patch strategies by field path within an object of one kind: fields joined by `.`, `[]` for the
 * elements of a list, e.g. `spec.containers[].env`.
 */
export type PatchStrategyTable = Readonly<Record<string, PatchStrategy>>;

const mergeBy = (mergeKey: string, retainKeys = false): PatchStrategy =>
  retainKeys ? { strategy: 'merge', mergeKey, retainKeys } : { strategy: 'merge', mergeKey };
const MERGE_SET: PatchStrategy = { strategy: 'merge' };

/** Re-roots a table under `prefix`. */
function under(prefix: string, table: PatchStrategyTable): PatchStrategyTable {
  return Object.fromEntries(Object.entries(table).map(([path, s]) => [`${prefix}.${path}`, s]));
}

// Struct tags of k8s.io/apimachinery/pkg/apis/meta/v1 and k8s.io/api/{core,apps,batch}/v1.

/** metav1.ObjectMeta. */
const OBJECT_META: PatchStrategyTable = {
  ownerReferences: mergeBy('uid'),
  finalizers: MERGE_SET,
};

/** corev1.Container (and EphemeralContainerCommon). */
const CONTAINER: PatchStrategyTable = {
  ports: mergeBy('containerPort'),
  env: mergeBy('name'),
  volumeMounts: mergeBy('mountPath'),
  volumeDevices: mergeBy('devicePath'),
};

/** corev1.PodSpec. Tolerations, readinessGates and the rest have no strategy: they are replaced. */
const POD_SPEC: PatchStrategyTable = {
  volumes: mergeBy('name', true),
  initContainers: mergeBy('name'),
  ...under('initContainers[]', CONTAINER),
  containers: mergeBy('name'),
  ...under('containers[]', CONTAINER),
  ephemeralContainers: mergeBy('name'),
  ...under('ephemeralContainers[]', CONTAINER),
  imagePullSecrets: mergeBy('name'),
  hostAliases: mergeBy('ip'),
  topologySpreadConstraints: mergeBy('topologyKey'),
  schedulingGates: mergeBy('name'),
  resourceClaims: mergeBy('name', true),
};

/** corev1.PodStatus. */
const POD_STATUS: PatchStrategyTable = {
  conditions: mergeBy('type'),
  podIPs: mergeBy('ip'),
  hostIPs: mergeBy('ip'),
  resourceClaimStatuses: mergeBy('name', true),
};

/** corev1.PodTemplateSpec. */
const POD_TEMPLATE_SPEC: PatchStrategyTable = { ...under('metadata', OBJECT_META), ...under('spec', POD_SPEC) };

const METADATA: PatchStrategyTable = under('metadata', OBJECT_META);
const STATUS_CONDITIONS: PatchStrategyTable = { 'status.conditions': mergeBy('type') };
const WORKLOAD: PatchStrategyTable = { ...METADATA, ...under('spec.template', POD_TEMPLATE_SPEC), ...STATUS_CONDITIONS };

/**
 * The patch-strategy table of each built-in kind podnet stores. Kinds not listed (EndpointSlice,
 * Ingress, NetworkPolicy, ...) declare no strategy beyond `metadata`: their lists are replaced.
 */
export const PATCH_STRATEGIES: Readonly<Record<string, PatchStrategyTable>> = {
  Pod: { ...METADATA, ...under('spec', POD_SPEC), ...under('status', POD_STATUS) },
  PodTemplate: { ...METADATA, ...under('template', POD_TEMPLATE_SPEC) },
  ReplicationController: WORKLOAD,
  ReplicaSet: WORKLOAD,
  Deployment: { ...WORKLOAD, 'spec.strategy': { retainKeys: true } },
  StatefulSet: WORKLOAD,
  DaemonSet: WORKLOAD,
  Job: WORKLOAD,
  CronJob: { ...METADATA, ...under('spec.jobTemplate.spec.template', POD_TEMPLATE_SPEC) },
  Service: { ...METADATA, 'spec.ports': mergeBy('port'), ...STATUS_CONDITIONS },
  Node: {
    ...METADATA,
    'spec.podCIDRs': MERGE_SET,
    ...STATUS_CONDITIONS,
    // Upstream keys node addresses by `type`, not `address` (NodeStatus.Addresses' struct tag).
    'status.addresses': mergeBy('type'),
  },
  Namespace: { ...METADATA, ...STATUS_CONDITIONS },
};

/** The patch-strategy table for `kind`: its own, or the `metadata` one every kind shares. */
export function patchStrategiesFor(kind: string): PatchStrategyTable {
  return hasOwn(PATCH_STRATEGIES, kind) ? PATCH_STRATEGIES[kind]! : METADATA;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch: upstream's error texts (k8s.io/apimachinery/pkg/util/mergepatch), which
// print values with Go's %v.

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ELEMENT_ORDER = '$setElementOrder';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList';

/** Go's `%v` of a float64. */
function goFloat(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN' : n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return '0';
  const [mantissa, e] = n.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(n);
}

/** Go's `%v` of a decoded JSON value: `map[k:v ...]` with sorted keys, `[a b]`, `<nil>`. */
function goV(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goFloat(v);
  if (Array.isArray(v)) return `[${v.map(goV).join(' ')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${keys.map((k) => `${k}:${goV(v[k])}`).join(' ')}]`;
  }
  return String(v);
}

/** Go's reflect type name of a decoded JSON value. */
function goType(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return '[]interface {}';
  if (isObject(v)) return 'map[string]interface {}';
  if (typeof v === 'number') return 'float64';
  return typeof v;
}

const errBadArgType = (expected: 'map' | 'list', actual: unknown): BadRequestError =>
  new BadRequestError(`expected a ${expected === 'map' ? 'map[string]interface {}' : '[]interface {}'}, but received a ${goType(actual)}`);
const errNoMergeKey = (m: unknown, key: string): BadRequestError =>
  new BadRequestError(`map: ${goV(m)} does not contain declared merge key: ${key}`);
const errBadPatchType = (t: unknown, m: unknown): BadRequestError => new BadRequestError(`unknown patch type: ${goV(t)} in map: ${goV(m)}`);
const ERR_RETAIN_KEYS = 'invalid patch format of retainKeys';
const ERR_PRIMITIVE_LIST = 'invalid patch format of primitive list';
const ERR_SET_ELEMENT_ORDER = 'invalid patch format of setElementOrder list';

// ---------------------------------------------------------------------------------------------
// Strategic merge patch: the merge.

type ElementKind = 'map' | 'scalar';

/** `sliceElementType`: all elements of all lists must share one JSON type, and not be lists. */
function elementKind(...lists: JsonValue[][]): ElementKind | undefined {
  let seen: string | undefined;
  for (const list of lists) {
    for (const v of list) {
      const t = goType(v);
      if (t === '[]interface {}') throw new BadRequestError('lists of lists are not supported');
      if (seen !== undefined && seen !== t) {
        throw new BadRequestError(`list element types are not identical: ${goV(lists)}`);
      }
      seen = t;
    }
  }
  if (seen === undefined) return undefined;
  return seen === 'map[string]interface {}' ? 'map' : 'scalar';
}

function mergeKeyOf(v: JsonValue, mergeKey: string): JsonValue | undefined {
  return isObject(v) ? get(v, mergeKey) : undefined;
}

/** `index`: where `value` sits in `list`, by merge key for maps and by value for scalars. */
function indexOf(list: readonly JsonValue[], value: JsonValue, mergeKey: string, kind: ElementKind): number {
  if (kind === 'map') {
    const key = mergeKeyOf(value, mergeKey);
    return list.findIndex((x) => mergeKeyOf(x, mergeKey) === key);
  }
  return list.indexOf(value);
}

function validateMergeKeyInLists(mergeKey: string, ...lists: JsonValue[][]): void {
  for (const list of lists) {
    for (const item of list) {
      if (!isObject(item)) throw errBadArgType('map', item);
      if (!hasOwn(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
    }
  }
}

/** Splits off the elements carrying `$patch: delete`. */
function extractToDeleteItems(list: JsonValue[]): [JsonValue[], JsonValue[]] {
  const keep: JsonValue[] = [];
  const toDelete: JsonValue[] = [];
  for (const v of list) {
    if (!isObject(v)) throw errBadArgType('map', v);
    (get(v, DIRECTIVE) === 'delete' ? toDelete : keep).push(v);
  }
  return [keep, toDelete];
}

/** `normalizeSliceOrder`: sorts `toSort` by position in `order` (stable). */
function normalizeSliceOrder(toSort: JsonValue[], order: JsonValue[], mergeKey: string, kind: ElementKind): JsonValue[] {
  let toDelete: JsonValue[] = [];
  if (kind === 'map') {
    validateMergeKeyInLists(mergeKey, toSort, order);
    [toSort, toDelete] = extractToDeleteItems(toSort);
  }
  const positioned = toSort.map((v) => ({ v, at: indexOf(order, v, mergeKey, kind) }));
  positioned.sort((a, b) => (a.at >= 0 && b.at >= 0 ? a.at - b.at : 0));
  return [...positioned.map((p) => p.v), ...toDelete];
}

/**
 * `mergeSortedSlice`: interleaves the live-only items (`left`) into the patch items (`right`),
 * keeping each list's order; a live item goes first only when both are in the live list and it
 * came earlier there. So new patch items land before the remaining live ones, as upstream does.
 */
function mergeSortedSlice(left: JsonValue[], right: JsonValue[], serverOrder: JsonValue[], mergeKey: string, kind: ElementKind): JsonValue[] {
  const out: JsonValue[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]!);
    else if (j >= right.length) out.push(left[i++]!);
    else {
      const li = indexOf(serverOrder, left[i]!, mergeKey, kind);
      const ri = indexOf(serverOrder, right[j]!, mergeKey, kind);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]!);
      else out.push(right[j++]!);
    }
  }
  return out;
}

/** `partition*ByPresentInList`: the items also in `by`, and the rest. */
function partition(items: JsonValue[], by: JsonValue[], mergeKey: string, kind: ElementKind): [JsonValue[], JsonValue[]] {
  const inPatch: JsonValue[] = [];
  const serverOnly: JsonValue[] = [];
  for (const v of items) {
    if (kind === 'map') {
      if (!isObject(v)) throw errBadArgType('map', v);
      if (!hasOwn(v, mergeKey)) throw errNoMergeKey(v, mergeKey);
    }
    (indexOf(by, v, mergeKey, kind) >= 0 ? inPatch : serverOnly).push(v);
  }
  return [inPatch, serverOnly];
}

/** `normalizeElementOrder`: patch items in `patchOrder`, live-only items in `serverOrder`, interleaved. */
function normalizeElementOrder(
  patchItems: JsonValue[],
  serverOnly: JsonValue[],
  patchOrder: JsonValue[],
  serverOrder: JsonValue[],
  mergeKey: string,
  kind: ElementKind,
): JsonValue[] {
  const sortedPatch = normalizeSliceOrder(patchItems, patchOrder, mergeKey, kind);
  const sortedServer = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, kind);
  return mergeSortedSlice(sortedServer, sortedPatch, serverOrder, mergeKey, kind);
}

/** `extractKey`: the field a `$setElementOrder/<field>` or `$deleteFromPrimitiveList/<field>` names. */
function extractKey(key: string, prefix: string, error: string): string {
  const slash = key.indexOf('/');
  if (slash < 0 || key.slice(0, slash) !== prefix) throw new BadRequestError(error);
  return key.slice(slash + 1);
}

function childPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function isDirectiveKey(key: string): boolean {
  return key === RETAIN_KEYS || key.startsWith(SET_ELEMENT_ORDER) || key.startsWith(DELETE_FROM_PRIMITIVE_LIST);
}

class StrategicMerger {
  readonly #table: PatchStrategyTable;

  constructor(table: PatchStrategyTable) {
    this.#table = table;
  }

  #strategy(path: string): PatchStrategy | undefined {
    return hasOwn(this.#table, path) ? this.#table[path] : undefined;
  }

  /** `mergeMap`. `original` is changed in place; `undefined` merges into an empty object. */
  mergeMap(original: JsonObject | undefined, patch: JsonObject, path: string): JsonObject {
    if (hasOwn(patch, DIRECTIVE)) {
      const directive = patch[DIRECTIVE];
      const rest = { ...patch };
      delete rest[DIRECTIVE];
      if (directive === 'replace') return this.mergeMap(undefined, rest, path);
      if (directive === 'delete') return {};
      // Upstream accepts `merge` only in struct tags; podnet also takes it in a patch, as the default.
      if (directive !== 'merge') throw errBadPatchType(directive, patch);
      patch = rest;
    }
    const result: JsonObject = original ?? {};
    this.#applyRetainKeys(result, patch);
    const done = this.#applySetElementOrder(result, patch, path);
    this.#applyDeleteFromPrimitiveList(result, patch);

    for (const [key, patchValue] of Object.entries(patch)) {
      if (isDirectiveKey(key) || done.has(key)) continue;
      // `null` deletes a field; so does `{$patch: delete}`, as the strategic merge patch document
      // has it (upstream's code stores an empty object, which its typed decoding then defaults).
      if (patchValue === null || (isObject(patchValue) && get(patchValue, DIRECTIVE) === 'delete')) {
        delete result[key];
        continue;
      }
      const path2 = childPath(path, key);
      const originalValue = get(result, key);
      if (isObject(originalValue) && isObject(patchValue)) {
        const replace = this.#strategy(path2)?.strategy === 'replace';
        set(result, key, this.mergeMap(replace ? undefined : originalValue, patchValue, path2));
      } else if (Array.isArray(originalValue) && Array.isArray(patchValue)) {
        set(result, key, this.#mergeList(originalValue, patchValue, path2));
      } else {
        set(result, key, this.#fresh(patchValue, path2));
      }
    }
    return result;
  }

  /** `applyRetainKeysDirective`: clear the live fields not listed; every patched field must be listed. */
  #applyRetainKeys(result: JsonObject, patch: JsonObject): void {
    if (!hasOwn(patch, RETAIN_KEYS)) return;
    const list = patch[RETAIN_KEYS];
    if (!Array.isArray(list)) throw new BadRequestError(ERR_RETAIN_KEYS);
    const retain = new Set<JsonValue>(list);
    for (const [key, value] of Object.entries(patch)) {
      if (value === null || isDirectiveKey(key)) continue;
      if (!retain.has(key)) throw new BadRequestError(ERR_RETAIN_KEYS);
    }
    for (const key of Object.keys(result)) if (!retain.has(key)) delete result[key];
  }

  /** `mergePatchIntoOriginal`: merge each list named by `$setElementOrder/<field>`, then order it. */
  #applySetElementOrder(result: JsonObject, patch: JsonObject, path: string): Set<string> {
    const done = new Set<string>();
    for (const [key, order] of Object.entries(patch)) {
      if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
      if (!Array.isArray(order)) throw errBadArgType('list', order);
      const field = extractKey(key, SET_ELEMENT_ORDER, ERR_SET_ELEMENT_ORDER);
      const path2 = childPath(path, field);
      const foundOriginal = hasOwn(result, field);
      const foundPatch = hasOwn(patch, field);
      const originalList = get(result, field);
      const patchList = get(patch, field);
      if (foundOriginal && !Array.isArray(originalList)) throw errBadArgType('list', originalList);
      if (foundPatch && !Array.isArray(patchList)) throw errBadArgType('list', patchList);
      const originalItems = (originalList ?? []) as JsonValue[];
      const patchItems = (patchList ?? []) as JsonValue[];
      const mergeKey = this.#strategy(path2)?.mergeKey ?? '';
      validatePatchWithSetOrderList(patchItems, order, mergeKey);

      let merged: JsonValue[];
      if (foundOriginal && foundPatch) merged = this.#mergeList(originalItems, patchItems, path2);
      else if (foundPatch) merged = this.#mergeList([], patchItems, path2);
      else if (foundOriginal) merged = originalItems;
      else continue;

      const kind = elementKind(originalItems, patchItems);
      if (kind !== undefined) {
        const keyForOrder = kind === 'map' ? mergeKey : '';
        const [inOrder, serverOnly] = partition(merged, order, keyForOrder, kind);
        merged = normalizeElementOrder(inOrder, serverOnly, order, originalItems, keyForOrder, kind);
      }
      set(result, field, merged);
      done.add(field);
    }
    return done;
  }

  /** `$deleteFromPrimitiveList/<field>`: remove every listed value from the live list. */
  #applyDeleteFromPrimitiveList(result: JsonObject, patch: JsonObject): void {
    for (const [key, toDelete] of Object.entries(patch)) {
      if (!key.startsWith(DELETE_FROM_PRIMITIVE_LIST)) continue;
      const field = extractKey(key, DELETE_FROM_PRIMITIVE_LIST, ERR_PRIMITIVE_LIST);
      if (!Array.isArray(toDelete)) throw new BadRequestError(ERR_PRIMITIVE_LIST);
      const live = get(result, field);
      // Upstream stores the deletion list itself when the live list is missing; deleting from
      // nothing leaves nothing here.
      if (!Array.isArray(live)) continue;
      set(result, field, live.filter((v) => !toDelete.includes(v)));
    }
  }

  /** `mergeSliceHandler`: merge when the field's strategy says so, otherwise take the patch's list. */
  #mergeList(original: JsonValue[], patch: JsonValue[], path: string): JsonValue[] {
    const strategy = this.#strategy(path);
    if (strategy?.strategy !== 'merge') return this.#freshList(patch, path);
    return this.#mergeSlice(original, patch, path, strategy.mergeKey ?? '');
  }

  /** `mergeSlice`. */
  #mergeSlice(original: JsonValue[], patch: JsonValue[], path: string, mergeKey: string): JsonValue[] {
    if (original.length === 0 && patch.length === 0) return original;
    const kind = elementKind(original, patch)!;
    let merged: JsonValue[];
    if (kind === 'scalar') {
      merged = [...new Set([...original, ...patch])];
    } else {
      if (mergeKey === '') throw new BadRequestError('cannot merge lists without merge key for type struct');
      [original, patch] = this.#mergeSliceWithSpecialElements(original, patch, mergeKey, path);
      merged = this.#mergeSliceWithoutSpecialElements(original, patch, mergeKey, path);
    }
    const keyForOrder = kind === 'map' ? mergeKey : '';
    const [patchItems, serverOnly] = partition(merged, patch, keyForOrder, kind);
    return normalizeElementOrder(patchItems, serverOnly, patch, original, keyForOrder, kind);
  }

  /** `mergeSliceWithSpecialElements`: apply `$patch: delete` elements and a `$patch: replace` marker. */
  #mergeSliceWithSpecialElements(original: JsonValue[], patch: JsonValue[], mergeKey: string, path: string): [JsonValue[], JsonValue[]] {
    const plain: JsonValue[] = [];
    let replace = false;
    for (const v of patch) {
      const element = v as JsonObject;
      if (!hasOwn(element, DIRECTIVE)) {
        plain.push(element);
        continue;
      }
      switch (element[DIRECTIVE]) {
        case 'delete': {
          if (!hasOwn(element, mergeKey)) throw errNoMergeKey(element, mergeKey);
          const key = element[mergeKey];
          original = original.filter((o) => mergeKeyOf(o, mergeKey) !== key);
          break;
        }
        case 'replace':
          replace = true;
          break;
        case 'merge': {
          // Upstream rejects this ("merging lists cannot yet be specified in the patch"); podnet
          // reads it as the default: a bare marker is dropped, an element is merged as usual.
          const rest = { ...element };
          delete rest[DIRECTIVE];
          if (Object.keys(rest).length > 0) plain.push(rest);
          break;
        }
        default:
          throw errBadPatchType(element[DIRECTIVE], element);
      }
    }
    return replace ? [plain.map((v) => this.#fresh(v, `${path}[]`)), []] : [original, plain];
  }

  /** `mergeSliceWithoutSpecialElements`: merge elements with the same merge key, append the others. */
  #mergeSliceWithoutSpecialElements(original: JsonValue[], patch: JsonValue[], mergeKey: string, path: string): JsonValue[] {
    const result = [...original];
    for (const v of patch) {
      const element = v as JsonObject;
      if (!hasOwn(element, mergeKey)) throw errNoMergeKey(element, mergeKey);
      const key = element[mergeKey];
      const i = result.findIndex((o) => isObject(o) && hasOwn(o, mergeKey) && o[mergeKey] === key);
      if (i >= 0) result[i] = this.mergeMap(result[i] as JsonObject, element, `${path}[]`);
      else result.push(this.mergeMap(undefined, element, `${path}[]`));
    }
    return result;
  }

  /** A patch value with no live counterpart: applied as if the live field were empty. */
  #fresh(value: JsonValue, path: string): JsonValue {
    if (isObject(value)) return this.mergeMap(undefined, value, path);
    if (Array.isArray(value)) return this.#freshList(value, path);
    return value;
  }

  /** A list taken from the patch: directive elements are applied (to nothing) and dropped. */
  #freshList(list: JsonValue[], path: string): JsonValue[] {
    const out: JsonValue[] = [];
    for (const element of list) {
      if (isObject(element) && hasOwn(element, DIRECTIVE)) {
        const directive = element[DIRECTIVE];
        if (directive === 'delete') continue;
        if (directive !== 'replace' && directive !== 'merge') throw errBadPatchType(directive, element);
        const rest = { ...element };
        delete rest[DIRECTIVE];
        if (Object.keys(rest).length > 0) out.push(this.mergeMap(undefined, rest, `${path}[]`));
        continue;
      }
      out.push(this.#fresh(element, `${path}[]`));
    }
    return out;
  }
}

/** `mergeKeyValueEqual`, with upstream's errors for elements that are not maps or lack the key. */
function mergeKeyValueEqual(left: JsonValue, right: JsonValue, mergeKey: string): boolean {
  if (mergeKey === '') return left === right;
  if (!isObject(left)) throw errBadArgType('map', left);
  if (!isObject(right)) throw errBadArgType('map', right);
  if (!hasOwn(left, mergeKey)) throw errNoMergeKey(left, mergeKey);
  if (!hasOwn(right, mergeKey)) throw errNoMergeKey(right, mergeKey);
  return left[mergeKey] === right[mergeKey];
}

/**
 * `validatePatchWithSetOrderList`: the patch list's items must appear in the `$setElementOrder`
 * list, in the same relative order.
 */
function validatePatchWithSetOrderList(patchList: JsonValue[], order: JsonValue[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  const [nonDelete] = mergeKey === '' ? [patchList] : extractToDeleteItems(patchList);
  let p = 0;
  let o = 0;
  while (p < nonDelete.length && o < order.length) {
    const item = nonDelete[p]!;
    if (isObject(item) && hasOwn(item, DIRECTIVE)) {
      p++;
      continue;
    }
    if (mergeKeyValueEqual(item, order[o]!, mergeKey)) p++;
    o++;
  }
  if (p < nonDelete.length && o >= order.length) {
    throw new BadRequestError(`The order in patch list:\n${goV(patchList)}\n doesn't match ${SET_ELEMENT_ORDER} list:\n${goV(order)}\n`);
  }
}

/**
 * Applies a Kubernetes strategic merge patch to an object of `kind`, as the API server does for
 * `application/strategic-merge-patch+json`. Objects merge, `null` deletes a field, lists merge by
 * the merge key {@link patchStrategiesFor} gives for their path (lists without one are replaced),
 * and the directives `$patch: replace | delete | merge`, `$retainKeys`, `$setElementOrder/<field>`
 * and `$deleteFromPrimitiveList/<field>` apply. Throws {@link BadRequestError} with upstream's
 * message for a malformed patch.
 */
export function strategicMergePatch<T>(target: T, patch: unknown, kind: string): T {
  if (!isObject(patch)) throw new BadRequestError('invalid JSON document');
  if (!isObject(target)) throw new BadRequestError('invalid JSON document');
  const merger = new StrategicMerger(patchStrategiesFor(kind));
  return merger.mergeMap(clone(target as JsonObject), clone(patch), '') as T;
}
