/**
 * Schema-guided operations on whole objects, after structured-merge-diff's `typed` package:
 * {@link compareObjects} (`TypedValue.Compare`), {@link mergeObjects} (`TypedValue.Merge`) and
 * {@link removeItems} (`TypedValue.RemoveItems`). The schema is the one `./schema.ts` derives;
 * values are plain JSON. Inputs are never changed.
 *
 * Two rules hold throughout, as upstream: an atomic list or map, a scalar, and a map or list that
 * is empty (or absent) on both sides are leaves, compared and replaced whole; a list whose
 * elements cannot all be keyed (a live object upstream would reject) is treated as a leaf too.
 */

import type { JsonObject, JsonValue } from '../../apimachinery/patch.js';
import {
  childSchemaPath,
  FieldSet,
  isObject,
  jsonEqual,
  ListKeyError,
  listItemPathElement,
  serializePathElement,
  type PathElement,
} from './fieldset.js';
import { isAtomicMap, listTypeOf, ZERO_VALUE_FIELDS, type ListType } from './schema.js';

/** What changed between two versions of an object (`typed.Comparison`). */
export interface Comparison {
  /** Fields (and map or list nodes) present only in the new object. */
  readonly added: FieldSet;
  /** Leaves present in both with different values. */
  readonly modified: FieldSet;
  /** Fields (and map or list nodes) present only in the old object. */
  readonly removed: FieldSet;
}

type Shape = { readonly shape: 'leaf' } | { readonly shape: 'map' } | { readonly shape: 'list'; readonly type: ListType };

const LEAF: Shape = { shape: 'leaf' };
const MAP: Shape = { shape: 'map' };

function typeOfValue(v: JsonValue): string {
  return v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v;
}

function isEmpty(v: JsonValue | undefined): boolean {
  return v === undefined || v === null || (Array.isArray(v) ? v.length === 0 : isObject(v) && Object.keys(v).length === 0);
}

/** How a node is walked, from the schema and the values on both sides. */
function shapeOf(kind: string, schemaPath: string, l: JsonValue | undefined, r: JsonValue | undefined): Shape {
  if (l !== undefined && r !== undefined && typeOfValue(l) !== typeOfValue(r)) return LEAF;
  const v = l !== undefined ? l : r;
  if (isObject(v)) return isAtomicMap(kind, schemaPath) || (isEmpty(l) && isEmpty(r)) ? LEAF : MAP;
  if (Array.isArray(v)) {
    const type = listTypeOf(kind, schemaPath);
    return type.type === 'atomic' || (isEmpty(l) && isEmpty(r)) ? LEAF : { shape: 'list', type };
  }
  return LEAF;
}

interface IndexedList {
  /** Serialized path elements in list order, first occurrence only. */
  readonly order: string[];
  readonly items: Map<string, { readonly pe: PathElement; readonly value: JsonValue }>;
}

/** Keys a list's elements; repeated keys keep their first element. Throws {@link ListKeyError}. */
function indexList(type: ListType, list: JsonValue[] | undefined): IndexedList {
  const order: string[] = [];
  const items = new Map<string, { pe: PathElement; value: JsonValue }>();
  (list ?? []).forEach((value, i) => {
    const pe = listItemPathElement(type, value, i);
    const k = serializePathElement(pe);
    if (items.has(k)) return;
    order.push(k);
    items.set(k, { pe, value });
  });
  return { order, items };
}

function tryIndex(type: ListType, l: JsonValue | undefined, r: JsonValue | undefined): [IndexedList, IndexedList] | undefined {
  try {
    return [indexList(type, l as JsonValue[] | undefined), indexList(type, r as JsonValue[] | undefined)];
  } catch (e) {
    if (e instanceof ListKeyError) return undefined;
    throw e;
  }
}

function mapKeys(l: JsonValue | undefined, r: JsonValue | undefined): string[] {
  const keys = isObject(l) ? Object.keys(l) : [];
  if (isObject(r)) for (const k of Object.keys(r)) if (!isObject(l) || !Object.hasOwn(l, k)) keys.push(k);
  return keys;
}

function field(v: JsonValue | undefined, k: string): JsonValue | undefined {
  return isObject(v) && Object.hasOwn(v, k) ? v[k] : undefined;
}

/**
 * Compares two versions of an object of `kind` (`TypedValue.Compare`). A leaf is added, removed
 * or modified; a map or list node (a list-map element, a granular map) is added or removed with
 * everything below it.
 */
export function compareObjects(kind: string, lhs: JsonObject | undefined, rhs: JsonObject | undefined): Comparison {
  const c = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  const leaf = (l: JsonValue | undefined, r: JsonValue | undefined, path: PathElement[]): void => {
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
    else if (!jsonEqual(l, r)) c.modified.insert(path);
  };
  const visit = (l: JsonValue | undefined, r: JsonValue | undefined, path: PathElement[], schemaPath: string): void => {
    const shape = shapeOf(kind, schemaPath, l, r);
    if (shape.shape === 'leaf') return leaf(l, r, path);
    if (shape.shape === 'map') {
      for (const k of mapKeys(l, r)) visit(field(l, k), field(r, k), [...path, { field: k }], childSchemaPath(schemaPath, k));
    } else {
      const indexed = tryIndex(shape.type, l, r);
      if (!indexed) return leaf(l, r, path);
      const [li, ri] = indexed;
      const keys = [...li.order, ...ri.order.filter((k) => !li.items.has(k))];
      for (const k of keys) {
        const pe = (li.items.get(k) ?? ri.items.get(k))!.pe;
        visit(li.items.get(k)?.value, ri.items.get(k)?.value, [...path, pe], `${schemaPath}[]`);
      }
    }
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
  };
  visit(lhs ?? {}, rhs ?? {}, [], '');
  return c;
}

/**
 * Merges an applied configuration into a live object (`TypedValue.Merge`): where both have a
 * leaf, the configuration's wins; granular maps merge field by field; list-maps and sets merge
 * element by element, in the order upstream's merge gives (the configuration's order for the
 * elements it names, the live order for the rest, interleaved).
 */
export function mergeObjects(kind: string, lhs: JsonObject | undefined, rhs: JsonObject): JsonObject {
  const merge = (l: JsonValue | undefined, r: JsonValue | undefined, schemaPath: string): JsonValue | undefined => {
    if (r === undefined) return l;
    if (l === undefined) return r;
    const shape = shapeOf(kind, schemaPath, l, r);
    if (shape.shape === 'leaf') return r;
    if (shape.shape === 'map') {
      const out: JsonObject = {};
      for (const k of mapKeys(l, r)) {
        const v = merge(field(l, k), field(r, k), childSchemaPath(schemaPath, k));
        if (v !== undefined) out[k] = v;
      }
      return out;
    }
    return mergeList(shape.type, l, r, schemaPath) ?? r;
  };

  /** The element order of structured-merge-diff's merging walker (`visitListItems`). */
  const mergeList = (type: ListType, l: JsonValue, r: JsonValue, schemaPath: string): JsonValue[] | undefined => {
    const indexed = tryIndex(type, l, r);
    if (!indexed) return undefined;
    const [li, ri] = indexed;
    const lOrder = li.order;
    const rOrder = ri.order;
    const shared = rOrder.filter((k) => li.items.has(k));
    let sharedAt = 0;
    const out: JsonValue[] = [];
    const emit = (k: string): void => {
      const v = merge(li.items.get(k)?.value, ri.items.get(k)?.value, `${schemaPath}[]`);
      if (v !== undefined) out.push(v);
    };
    let lI = 0;
    let rI = 0;
    while (lI < lOrder.length || rI < rOrder.length) {
      if (lI < lOrder.length && rI < rOrder.length) {
        const k = lOrder[lI]!;
        if (k === rOrder[rI]) {
          emit(k);
          lI++;
          rI++;
          sharedAt++;
          continue;
        }
        // A shared element, but not the next one the configuration names: it comes later.
        if (ri.items.has(k) && sharedAt < shared.length && shared[sharedAt] !== k) {
          lI++;
          continue;
        }
      }
      if (lI < lOrder.length && !ri.items.has(lOrder[lI]!)) {
        emit(lOrder[lI++]!);
        continue;
      }
      if (rI < rOrder.length) {
        const k = rOrder[rI++]!;
        emit(k);
        if (shared[sharedAt] === k) sharedAt++;
        continue;
      }
      lI++; // a shared element already written
    }
    return out;
  };

  return (merge(lhs ?? {}, rhs, '') as JsonObject | undefined) ?? {};
}

/**
 * Removes the fields and elements in `set` from an object of `kind` (`TypedValue.RemoveItems`):
 * a member removes the field or element with everything below it. A map or list left empty by a
 * removal goes too, as it does once upstream turns the result back into a typed object.
 */
export function removeItems(kind: string, obj: JsonObject, set: FieldSet): JsonObject {
  const remove = (v: JsonValue, s: FieldSet, schemaPath: string): JsonValue | undefined => {
    if (isObject(v) && !isAtomicMap(kind, schemaPath)) {
      const out: JsonObject = {};
      let removed = false;
      for (const [k, child] of Object.entries(v)) {
        const pe = { field: k };
        const sub = s.child(pe);
        const kept = s.hasMember(pe) ? undefined : sub ? remove(child, sub, childSchemaPath(schemaPath, k)) : child;
        if (kept === undefined) removed = true;
        else out[k] = kept;
      }
      return removed && Object.keys(out).length === 0 ? undefined : out;
    }
    if (Array.isArray(v)) {
      const type = listTypeOf(kind, schemaPath);
      if (type.type === 'atomic') return v;
      const out: JsonValue[] = [];
      let removed = false;
      v.forEach((item, i) => {
        let pe: PathElement;
        try {
          pe = listItemPathElement(type, item, i);
        } catch (e) {
          if (!(e instanceof ListKeyError)) throw e;
          out.push(item);
          return;
        }
        const sub = s.child(pe);
        const kept = s.hasMember(pe) ? undefined : sub ? remove(item, sub, `${schemaPath}[]`) : item;
        if (kept === undefined) removed = true;
        else out.push(kept);
      });
      return removed && out.length === 0 ? undefined : out;
    }
    return v;
  };
  return (remove(obj, set, '') as JsonObject | undefined) ?? {};
}

/** A copy of `v` without `null` map members (a typed object has no such field). */
export function dropNulls<T extends JsonValue>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => dropNulls(x)) as T;
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
  return out as T;
}

/**
 * Fills in the maps and lists the zero value of `kind`'s Go type carries
 * ({@link ZERO_VALUE_FIELDS}), where `obj` lacks them, so that a missing struct and an empty one
 * compare equal, as they do once upstream decodes an object into its Go type. `keep` says which
 * top-level fields the view being compared covers.
 */
export function withZeroValues(obj: JsonObject, kind: string, keep: (topLevelField: string) => boolean): JsonObject {
  const out = structuredClone(obj);
  if (!isObject(out.metadata)) out.metadata = {};
  for (const [path, list] of ZERO_VALUE_FIELDS[kind] ?? []) {
    const parts = path.split('.');
    if (!keep(parts[0]!)) continue;
    let node: JsonObject = out;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      if (!isObject(next)) {
        node = {};
        break;
      }
      node = next;
    }
    const last = parts[parts.length - 1]!;
    if (!Object.hasOwn(node, last) || node[last] === null) node[last] = list ? [] : {};
  }
  return out;
}
