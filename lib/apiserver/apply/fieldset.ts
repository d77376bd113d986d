/**
 * Field sets: which fields of an object a manager owns, as sigs.k8s.io/structured-merge-diff's
 * `fieldpath` package models them, and their `FieldsV1` encoding in `metadata.managedFields`.
 *
 * A path is a list of path elements, one per step into the object:
 *
 * | element           | selects                                   | FieldsV1 key                       | printed             |
 * |-------------------|-------------------------------------------|------------------------------------|---------------------|
 * | `{ field }`       | a field of a map or struct                | `f:replicas`                       | `.replicas`         |
 * | `{ key }`         | the element of a list-map with these keys | `k:{"containerPort":80,"protocol":"TCP"}` | `[containerPort=80,protocol="TCP"]` |
 * | `{ value }`       | the element of a set with this value      | `v:"example.com/cleanup"`          | `[="example.com/cleanup"]` |
 * | `{ index }`       | the element of an atomic list by position | `i:0`                              | `[0]`               |
 *
 * A set holds paths. FieldsV1 writes it as a trie of JSON objects: a key mapping to `{}` is a
 * member, a key mapping to a non-empty object has members below it, and `.` inside that object
 * says the node itself is a member too (`k:{"name":"nginx"}: {".": {}, "f:image": {}}`). Keys are
 * written in structured-merge-diff's order (fields, then keys, then values, then indices; `.`
 * first), which is what `fieldpath.Set.ToJSON` stores.
 */

import { BadRequestError } from '../../core/errors.js';
import type { JsonObject, JsonValue } from '../../apimachinery/patch.js';
import { isAtomicMap, listTypeOf, type ListType } from './schema.js';

/** One step into an object. Exactly one member is set. */
export type PathElement =
  | { readonly field: string }
  | { readonly key: Readonly<Record<string, JsonValue>> }
  | { readonly value: JsonValue }
  | { readonly index: number };

/** A path from the root of an object to one of its fields. */
export type FieldPath = readonly PathElement[];

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's encoding/json escaping (HTML characters and U+2028/2029 as `\u` escapes). */
/** JSON with object keys sorted, as Go's encoding/json writes a map. */
import { canonicalJson } from '../../core/json.js';
export { canonicalJson };

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Deep equality of JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Path elements.

function rank(pe: PathElement): number {
  return 'field' in pe ? 0 : 'key' in pe ? 1 : 'value' in pe ? 2 : 3;
}

/** value.Compare's total order: numbers, strings, booleans, lists, maps, then null. */
function valueRank(v: JsonValue): number {
  if (typeof v === 'number') return 0;
  if (typeof v === 'string') return 1;
  if (typeof v === 'boolean') return 2;
  if (Array.isArray(v)) return 3;
  if (isObject(v)) return 4;
  return 5;
}

function compareValues(a: JsonValue, b: JsonValue): number {
  const ra = valueRank(a);
  const rb = valueRank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === 'number') return a < (b as number) ? -1 : a > (b as number) ? 1 : 0;
  if (typeof a === 'string') return compareStrings(a, b as string);
  if (typeof a === 'boolean') return a === b ? 0 : a ? 1 : -1;
  if (Array.isArray(a)) {
    const bl = b as JsonValue[];
    for (let i = 0; i < Math.min(a.length, bl.length); i++) {
      const c = compareValues(a[i]!, bl[i]!);
      if (c !== 0) return c;
    }
    return a.length - bl.length;
  }
  if (isObject(a)) return compareFieldLists(a, b as JsonObject);
  return 0;
}

/** value.FieldList.Compare over the fields sorted by name: shorter first, then name by name. */
function compareFieldLists(a: Readonly<Record<string, JsonValue>>, b: Readonly<Record<string, JsonValue>>): number {
  const ka = Object.keys(a).sort(compareStrings);
  const kb = Object.keys(b).sort(compareStrings);
  if (ka.length !== kb.length) return ka.length - kb.length;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i]) return compareStrings(ka[i]!, kb[i]!);
    const c = compareValues(a[ka[i]!]!, b[kb[i]!]!);
    if (c !== 0) return c;
  }
  return 0;
}

/** `PathElement.Compare`: fields before keys before values before indices, then by content. */
export function comparePathElements(a: PathElement, b: PathElement): number {
  const r = rank(a) - rank(b);
  if (r !== 0) return r;
  if ('field' in a) return compareStrings(a.field, (b as { field: string }).field);
  if ('key' in a) return compareFieldLists(a.key, (b as { key: Record<string, JsonValue> }).key);
  if ('value' in a) return compareValues(a.value, (b as { value: JsonValue }).value);
  return a.index - (b as { index: number }).index;
}

/** The FieldsV1 key of a path element: `f:name`, `k:{...}`, `v:...` or `i:N`. */
export function serializePathElement(pe: PathElement): string {
  if ('field' in pe) return `f:${pe.field}`;
  if ('key' in pe) return `k:${canonicalJson(pe.key as JsonObject)}`;
  if ('value' in pe) return `v:${canonicalJson(pe.value)}`;
  return `i:${pe.index}`;
}

/** Thrown by {@link deserializePathElement} for a key type it does not know (skipped on decode). */
class UnknownPathElementType extends Error {}

/** Parses a FieldsV1 key back into a path element (`fieldpath.DeserializePathElement`). */
export function deserializePathElement(s: string): PathElement {
  if (s.length < 2) throw new BadRequestError(`key must be 2 characters long: ${JSON.stringify(s)}`);
  if (s[1] !== ':') throw new BadRequestError(`missing colon: ${JSON.stringify(s)}`);
  const rest = s.slice(2);
  switch (s[0]) {
    case 'f':
      return { field: rest };
    case 'v':
      return { value: parseJson(rest, s) };
    case 'k': {
      const key = parseJson(rest, s);
      if (!isObject(key)) throw new BadRequestError(`expected key value pairs: ${JSON.stringify(s)}`);
      return { key };
    }
    case 'i': {
      if (!/^-?\d+$/.test(rest)) throw new BadRequestError(`invalid index: ${JSON.stringify(s)}`);
      return { index: Number(rest) };
    }
    default:
      throw new UnknownPathElementType(s);
  }
}

function parseJson(text: string, key: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw new BadRequestError(`parsing key as path element: invalid JSON in ${JSON.stringify(key)}`);
  }
}

/** `PathElement.String`: `.name`, `[name="nginx"]`, `[="value"]`, `[0]`. */
export function pathElementToString(pe: PathElement): string {
  if ('field' in pe) return `.${pe.field}`;
  if ('key' in pe) {
    const names = Object.keys(pe.key).sort(compareStrings);
    return `[${names.map((n) => `${n}=${valueToString(pe.key[n]!)}`).join(',')}]`;
  }
  if ('value' in pe) return `[=${valueToString(pe.value)}]`;
  return `[${pe.index}]`;
}

/** `value.ToString`: strings quoted, the rest as Go prints them. */
function valueToString(v: JsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(valueToString).join(',')}]`;
  if (isObject(v)) return `{${Object.keys(v).sort(compareStrings).map((k) => `${k}=${valueToString(v[k]!)}`).join(',')}}`;
  return String(v);
}

/** `Path.String`: `.spec.template.spec.containers[name="nginx"].image`. */
export function pathToString(path: FieldPath): string {
  return path.map(pathElementToString).join('');
}

// ---------------------------------------------------------------------------------------------
// Sets.

interface Child {
  readonly pe: PathElement;
  readonly set: FieldSet;
}

/**
 * A set of field paths (`fieldpath.Set`). At each level it holds members (paths ending there) and
 * children (paths continuing below); a path element can be both. Sets are values: operations
 * return new sets, and `insert` is the only mutator.
 */
export class FieldSet {
  readonly #members = new Map<string, PathElement>();
  readonly #children = new Map<string, Child>();

  /** A set holding `paths`. */
  static of(...paths: FieldPath[]): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.insert(p);
    return s;
  }

  /** Adds a path. The empty path (the object itself) is never a member. */
  insert(path: FieldPath): this {
    if (path.length === 0) return this;
    let node: FieldSet = this;
    for (let i = 0; i < path.length - 1; i++) {
      const pe = path[i]!;
      const k = serializePathElement(pe);
      let child = node.#children.get(k);
      if (!child) {
        child = { pe, set: new FieldSet() };
        node.#children.set(k, child);
      }
      node = child.set;
    }
    const last = path[path.length - 1]!;
    node.#members.set(serializePathElement(last), last);
    return this;
  }

  /** Whether `path` is a member. */
  has(path: FieldPath): boolean {
    if (path.length === 0) return false;
    let node: FieldSet | undefined = this;
    for (let i = 0; i < path.length - 1 && node; i++) node = node.#children.get(serializePathElement(path[i]!))?.set;
    return node !== undefined && node.#members.has(serializePathElement(path[path.length - 1]!));
  }

  /** Whether `pe` is a member at this level. */
  hasMember(pe: PathElement): boolean {
    return this.#members.has(serializePathElement(pe));
  }

  /** The paths below `pe` at this level, relative to it. */
  child(pe: PathElement): FieldSet | undefined {
    return this.#children.get(serializePathElement(pe))?.set;
  }

  /** True when the set holds no path. */
  get empty(): boolean {
    return this.#members.size === 0 && this.#children.size === 0;
  }

  /** The number of paths. */
  get size(): number {
    let n = this.#members.size;
    for (const c of this.#children.values()) n += c.set.size;
    return n;
  }

  /** The members at this level, in structured-merge-diff's order. */
  members(): PathElement[] {
    return [...this.#members.values()].sort(comparePathElements);
  }

  /** The children at this level, in structured-merge-diff's order. */
  children(): Array<[PathElement, FieldSet]> {
    return [...this.#children.values()].sort((a, b) => comparePathElements(a.pe, b.pe)).map((c) => [c.pe, c.set]);
  }

  /** Every path, in `Set.Iterate` order: a level's members, then each child's paths. */
  paths(): FieldPath[] {
    const out: FieldPath[] = [];
    const walk = (set: FieldSet, prefix: PathElement[]): void => {
      for (const pe of set.members()) out.push([...prefix, pe]);
      for (const [pe, child] of set.children()) walk(child, [...prefix, pe]);
    };
    walk(this, []);
    return out;
  }

  /** Paths in either set. */
  union(other: FieldSet): FieldSet {
    const out = this.#copy();
    out.#addAll(other);
    return out;
  }

  /** Paths in both sets. */
  intersection(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const [k, pe] of this.#members) if (other.#members.has(k)) out.#members.set(k, pe);
    for (const [k, c] of this.#children) {
      const o = other.#children.get(k);
      if (!o) continue;
      const i = c.set.intersection(o.set);
      if (!i.empty) out.#children.set(k, { pe: c.pe, set: i });
    }
    return out;
  }

  /** Paths in this set and not in `other`. */
  difference(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const [k, pe] of this.#members) if (!other.#members.has(k)) out.#members.set(k, pe);
    for (const [k, c] of this.#children) {
      const o = other.#children.get(k);
      const d = o ? c.set.difference(o.set) : c.set.#copy();
      if (!d.empty) out.#children.set(k, { pe: c.pe, set: d });
    }
    return out;
  }

  /**
   * The set with every field that has paths below it made a member too
   * (`Set.EnsureNamedFieldsAreMembers`): owning `.spec.template.metadata.labels.app` counts as
   * owning `.spec.template.metadata.labels`, `.spec.template.metadata`, `.spec.template` and
   * `.spec`. Upstream does this for a struct's named fields only; podnet has no schema to tell a
   * struct from a map, so it does it for every field (a map key with fields below it is a member
   * anyway wherever an apply's configuration sets it). List elements are left as they are.
   */
  withNamedFieldsAsMembers(): FieldSet {
    const out = new FieldSet();
    for (const [k, pe] of this.#members) out.#members.set(k, pe);
    for (const [k, c] of this.#children) {
      if ('field' in c.pe) out.#members.set(k, c.pe);
      out.#children.set(k, { pe: c.pe, set: c.set.withNamedFieldsAsMembers() });
    }
    return out;
  }

  /** Whether both sets hold the same paths. */
  equals(other: FieldSet): boolean {
    return this.difference(other).empty && other.difference(this).empty;
  }

  /** The paths, one a line, as `Set.String` prints them. */
  toString(): string {
    return this.paths().map(pathToString).join('\n');
  }

  #copy(): FieldSet {
    const out = new FieldSet();
    out.#addAll(this);
    return out;
  }

  #addAll(other: FieldSet): void {
    for (const [k, pe] of other.#members) this.#members.set(k, pe);
    for (const [k, c] of other.#children) {
      const mine = this.#children.get(k);
      if (mine) mine.set.#addAll(c.set);
      else this.#children.set(k, { pe: c.pe, set: c.set.#copy() });
    }
  }

  /** Adds the paths `json` (one FieldsV1 level) encodes below this level. */
  static #read(json: JsonObject, into: FieldSet): void {
    for (const [key, value] of Object.entries(json)) {
      if (key === '.') continue;
      let pe: PathElement;
      try {
        pe = deserializePathElement(key);
      } catch (e) {
        // Like upstream, drop element types a newer version may know, rather than fail.
        if (e instanceof UnknownPathElementType) continue;
        throw e;
      }
      if (!isObject(value)) throw new BadRequestError(`FieldsV1: the value of ${JSON.stringify(key)} must be an object`);
      const k = serializePathElement(pe);
      const hasChildren = Object.keys(value).some((c) => c !== '.');
      if (!hasChildren || Object.hasOwn(value, '.')) into.#members.set(k, pe);
      if (hasChildren) {
        const child = new FieldSet();
        FieldSet.#read(value, child);
        if (!child.empty) {
          const mine = into.#children.get(k);
          if (mine) mine.set.#addAll(child);
          else into.#children.set(k, { pe, set: child });
        }
      }
    }
  }

  /** Decodes one FieldsV1 document. */
  static fromFieldsV1(json: unknown): FieldSet {
    if (!isObject(json)) throw new BadRequestError('FieldsV1 must be a JSON object');
    const out = new FieldSet();
    FieldSet.#read(json, out);
    return out;
  }
}

/**
 * Encodes a set as FieldsV1 (`fieldpath.Set.ToJSON`): a JSON object whose keys are in
 * structured-merge-diff's order, with `.` first where a node is a member and has children.
 */
export function encodeFieldsV1(set: FieldSet): JsonObject {
  const emit = (s: FieldSet, includeSelf: boolean): JsonObject => {
    const out: JsonObject = {};
    const members = s.members();
    const children = s.children();
    if (includeSelf && (members.length > 0 || children.length > 0)) out['.'] = {};
    const entries: Array<[PathElement, JsonObject]> = [
      ...members.filter((pe) => !s.child(pe)).map((pe): [PathElement, JsonObject] => [pe, {}]),
      ...children.map(([pe, c]): [PathElement, JsonObject] => [pe, emit(c, s.hasMember(pe))]),
    ];
    entries.sort((a, b) => comparePathElements(a[0], b[0]));
    // Keys always carry a `x:` prefix, so none is `__proto__`.
    for (const [pe, v] of entries) out[serializePathElement(pe)] = v;
    return out;
  };
  return emit(set, false);
}

/** Decodes FieldsV1 (`fieldpath.Set.FromJSON`); unknown key types are dropped. */
export function decodeFieldsV1(json: unknown): FieldSet {
  return FieldSet.fromFieldsV1(json);
}

// ---------------------------------------------------------------------------------------------
// The fields an object sets.

/**
 * Fields no manager ever owns (upstream's `stripMetaManager`): they identify the object or are
 * the server's own bookkeeping.
 */
const SERVER_METADATA_FIELDS = ['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion'];

export const NEVER_OWNED: readonly FieldPath[] = [
  [{ field: 'apiVersion' }],
  [{ field: 'kind' }],
  [{ field: 'metadata' }],
  ...SERVER_METADATA_FIELDS.map((f): FieldPath => [{ field: 'metadata' }, { field: f }]),
];

const NEVER_OWNED_SET = FieldSet.of(...NEVER_OWNED);

/** `set` without the {@link NEVER_OWNED} paths (`stripMetaManager`). */
export function ownable(set: FieldSet): FieldSet {
  return set.difference(NEVER_OWNED_SET);
}

/** A copy of `obj` without the {@link NEVER_OWNED} fields. */
export function withoutNeverOwned(obj: unknown): JsonObject {
  const out: JsonObject = isObject(obj) ? structuredClone(obj) : {};
  delete out.apiVersion;
  delete out.kind;
  const meta = out.metadata;
  if (isObject(meta)) for (const f of SERVER_METADATA_FIELDS) delete meta[f];
  return out;
}

/** Why a list element has no path element: a key field is missing. */
export class ListKeyError extends Error {}

/**
 * The path element naming element `i` of a list of `type` (`listItemToPathElement`): its key
 * fields for a list-map (with defaults filled in), its value for a set, its index otherwise.
 * Throws {@link ListKeyError} for a list-map element that lacks a key field with no default.
 */
export function listItemPathElement(type: ListType, item: JsonValue, i: number): PathElement {
  if (type.type === 'set') return { value: item };
  if (type.type === 'atomic') return { index: i };
  if (!isObject(item)) throw new ListKeyError('associative list with keys has an element that is not a map');
  const key: Record<string, JsonValue> = {};
  for (const name of type.keys) {
    if (Object.hasOwn(item, name) && item[name] !== null) key[name] = item[name]!;
    else if (Object.hasOwn(type.defaults, name)) key[name] = type.defaults[name]!;
    else throw new ListKeyError(`associative list with keys has an element that omits key field ${JSON.stringify(name)} (and doesn't have default value)`);
  }
  return { key };
}

/** Joins a schema path (patch.ts notation) and a field name. */
export function childSchemaPath(schemaPath: string, field: string): string {
  return schemaPath === '' ? field : `${schemaPath}.${field}`;
}

/**
 * The set of fields `obj` sets, as `TypedValue.ToFieldSet` computes it for an applied
 * configuration of `kind`: every scalar, `null` and empty map is a leaf; a granular map
 * contributes its fields; an atomic list or map is one leaf; each element of a set is a member
 * (`v:`); each element of a list-map is a member (`k:`) with its own fields below it. The
 * {@link NEVER_OWNED} fields are left out. Throws {@link BadRequestError} for a list-map element
 * without its key, or two elements with the same key, as upstream rejects such a configuration.
 */
export function fieldSetOf(obj: unknown, kind: string): FieldSet {
  const set = new FieldSet();
  const walkMap = (m: JsonObject, path: PathElement[], schemaPath: string): void => {
    for (const [name, v] of Object.entries(m)) walkValue(v, [...path, { field: name }], childSchemaPath(schemaPath, name));
  };
  const walkValue = (v: JsonValue, path: PathElement[], schemaPath: string): void => {
    if (isObject(v)) {
      if (isAtomicMap(kind, schemaPath) || Object.keys(v).length === 0) set.insert(path);
      else walkMap(v, path, schemaPath);
      return;
    }
    if (!Array.isArray(v)) {
      set.insert(path);
      return;
    }
    const type = listTypeOf(kind, schemaPath);
    if (type.type === 'atomic') {
      set.insert(path);
      return;
    }
    const seen = new Set<string>();
    v.forEach((item, i) => {
      let pe: PathElement;
      try {
        pe = listItemPathElement(type, item, i);
      } catch (e) {
        if (e instanceof ListKeyError) throw new BadRequestError(`${pathToString(path)}: element ${i}: ${e.message}`);
        throw e;
      }
      const k = serializePathElement(pe);
      if (seen.has(k)) throw new BadRequestError(`${pathToString(path)}: duplicate entries for key ${pathElementToString(pe)}`);
      seen.add(k);
      const itemPath = [...path, pe];
      set.insert(itemPath);
      if (type.type === 'map' && isObject(item) && !isAtomicMap(kind, `${schemaPath}[]`)) walkMap(item, itemPath, `${schemaPath}[]`);
    });
  };
  const root = isObject(obj) ? structuredClone(obj) : {};
  if (isObject(root.metadata)) delete root.metadata.managedFields;
  walkMap(root, [], '');
  return ownable(set);
}
