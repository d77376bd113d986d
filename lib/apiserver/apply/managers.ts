/**
 * `metadata.managedFields`: decoding its entries into one field set per manager and encoding them
 * back, as k8s.io/apimachinery/pkg/util/managedfields/internal does (`DecodeManagedFields`,
 * `BuildManagerIdentifier`, `sortEncodedManagedFields`, `capManagersManager`).
 *
 * A manager is identified by its name, its operation, its subresource and, for `Update` only,
 * the apiVersion it wrote with: `kubectl` applying and `kubectl` updating the `scale`
 * subresource are two managers, and an applier keeps one entry whatever version it applies.
 */

import { BadRequestError } from '../../core/errors.js';
import type { JsonObject } from '../../apimachinery/patch.js';
import { decodeFieldsV1, encodeFieldsV1, isObject, type FieldSet } from './fieldset.js';

/** metav1.ManagedFieldsEntry, with its fields in the Go struct's (and the wire's) order. */
export interface ManagedFieldsEntry {
  manager?: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1?: JsonObject;
  subresource?: string;
}

/** One manager's entry, decoded. */
export interface ManagerEntry {
  readonly manager: string;
  readonly operation: 'Apply' | 'Update';
  readonly apiVersion: string;
  readonly subresource?: string;
  readonly time?: string;
  readonly set: FieldSet;
}

/** Every manager's entry, by {@link managerIdentifier}. */
export type Managed = Map<string, ManagerEntry>;

/** How many `Update` managers an object keeps before the oldest are merged (`DefaultMaxUpdateManagers`). */
export const MAX_UPDATE_MANAGERS = 10;

/** The manager the oldest `Update` entries are merged into once there are too many. */
export const ANCIENT_CHANGES_MANAGER = 'ancient-changes';

/**
 * `BuildManagerIdentifier`: the entry without time and fields, and without apiVersion for an
 * applier, as JSON. Conflict messages list managers in the order of these strings.
 */
export function managerIdentifier(e: Pick<ManagerEntry, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  const id: Record<string, string> = {};
  if (e.manager) id.manager = e.manager;
  id.operation = e.operation;
  if (e.operation === 'Update' && e.apiVersion) id.apiVersion = e.apiVersion;
  if (e.subresource) id.subresource = e.subresource;
  return JSON.stringify(id);
}

/**
 * How a conflict message names a manager (`printManager`): `"kubectl"`,
 * `"kubectl-client-side-apply" using apps/v1`, `"kube-controller-manager" with subresource "scale" using apps/v1`.
 */
export function describeManager(e: Pick<ManagerEntry, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += ` using ${e.apiVersion}`;
  return s;
}

/**
 * Decodes `metadata.managedFields` (`DecodeManagedFields`). Throws {@link BadRequestError} with
 * upstream's message for an entry it cannot read. A later entry for the same manager wins.
 */
export function decodeManagedFields(entries: unknown): Managed {
  const managed: Managed = new Map();
  if (entries === undefined || entries === null) return managed;
  if (!Array.isArray(entries)) throw new BadRequestError('metadata.managedFields must be a list');
  entries.forEach((raw: unknown, i) => {
    if (!isObject(raw)) throw new BadRequestError(`managed fields entry ${i} must be an object`);
    const { manager, operation, apiVersion, time, fieldsType, fieldsV1, subresource } = raw;
    if (operation !== 'Apply' && operation !== 'Update') throw new BadRequestError('operation must be `Apply` or `Update`');
    if (typeof apiVersion !== 'string' || apiVersion.length < 1) throw new BadRequestError('apiVersion must not be empty');
    if (fieldsType === undefined || fieldsType === '') throw new BadRequestError(`missing fieldsType in managed fields entry ${i}`);
    if (fieldsType !== 'FieldsV1') throw new BadRequestError(`invalid fieldsType ${JSON.stringify(fieldsType)} in managed fields entry ${i}`);
    const entry: ManagerEntry = {
      manager: typeof manager === 'string' ? manager : '',
      operation,
      apiVersion,
      ...(typeof subresource === 'string' && subresource ? { subresource } : {}),
      ...(typeof time === 'string' ? { time } : {}),
      set: fieldsV1 === undefined || fieldsV1 === null ? decodeFieldsV1({}) : decodeFieldsV1(fieldsV1),
    };
    managed.set(managerIdentifier(entry), entry);
  });
  return managed;
}

function seconds(time: string | undefined): number {
  if (time === undefined) return 0;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Encodes every manager with a non-empty set, sorted as `sortEncodedManagedFields` does: `Apply`
 * before `Update`, then oldest first, then by manager, apiVersion and subresource.
 */
export function encodeManagedFields(managed: Managed): ManagedFieldsEntry[] {
  const entries = [...managed.values()].filter((e) => !e.set.empty);
  entries.sort(
    (p, q) =>
      compareStrings(p.operation, q.operation) ||
      seconds(p.time) - seconds(q.time) ||
      compareStrings(p.manager, q.manager) ||
      compareStrings(p.apiVersion, q.apiVersion) ||
      compareStrings(p.subresource ?? '', q.subresource ?? ''),
  );
  return entries.map((e) => {
    return {
      manager: e.manager,
      operation: e.operation,
      apiVersion: e.apiVersion,
      ...(e.time !== undefined ? { time: e.time } : {}),
      fieldsType: 'FieldsV1',
      fieldsV1: encodeFieldsV1(e.set),
      ...(e.subresource ? { subresource: e.subresource } : {}),
    };
  });
}

/**
 * `capManagersManager`: when more than `max` `Update` managers remain, merges the oldest, per
 * apiVersion, into one {@link ANCIENT_CHANGES_MANAGER} entry until `max` are left. Changes
 * `managed` in place.
 */
export function capUpdateManagers(managed: Managed, max = MAX_UPDATE_MANAGERS): void {
  const updaters = [...managed].filter(([, e]) => e.operation === 'Update').map(([id]) => id);
  if (updaters.length <= max) return;
  updaters.sort((a, b) => seconds(managed.get(a)!.time) - seconds(managed.get(b)!.time) || compareStrings(a, b));
  const firstByVersion = new Map<string, string>();
  let length = updaters.length;
  for (let i = 0; i < updaters.length && length > max; i++) {
    const id = updaters[i]!;
    const entry = managed.get(id)!;
    const bucket = managerIdentifier({ manager: ANCIENT_CHANGES_MANAGER, operation: 'Update', apiVersion: entry.apiVersion });
    const first = firstByVersion.get(entry.apiVersion);
    if (first === undefined) {
      firstByVersion.set(entry.apiVersion, id);
      continue;
    }
    if (!managed.has(bucket)) {
      const moved = managed.get(first)!;
      managed.delete(first);
      managed.set(bucket, { manager: ANCIENT_CHANGES_MANAGER, operation: 'Update', apiVersion: moved.apiVersion, ...(moved.time ? { time: moved.time } : {}), set: moved.set });
    }
    const b = managed.get(bucket)!;
    // The bucket takes the time of the entry merged last, the most recent so far.
    const { time: _, ...rest } = b;
    managed.set(bucket, { ...rest, apiVersion: entry.apiVersion, ...(entry.time !== undefined ? { time: entry.time } : {}), set: entry.set.union(b.set) });
    managed.delete(id);
    length--;
  }
}
