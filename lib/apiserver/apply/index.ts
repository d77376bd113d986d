/**
 * Server-side apply and managed fields (sigs.k8s.io/structured-merge-diff, as k8s.io/apiserver
 * uses it). See `./ssa.ts` for the two entry points and what they leave to the caller.
 */

export {
  applyObject,
  updateManagedFields,
  buildLastApplied,
  ApplyConflictError,
  LAST_APPLIED_ANNOTATION,
  KUBECTL_APPLY_MANAGER,
  type ApplyOptions,
  type UpdateOptions,
  type ApplyConflict,
  type ApplyConflictCause,
} from './ssa.js';
export {
  FieldSet,
  fieldSetOf,
  encodeFieldsV1,
  decodeFieldsV1,
  pathToString,
  pathElementToString,
  serializePathElement,
  deserializePathElement,
  comparePathElements,
  NEVER_OWNED,
  type FieldPath,
  type PathElement,
} from './fieldset.js';
export {
  decodeManagedFields,
  encodeManagedFields,
  managerIdentifier,
  describeManager,
  capUpdateManagers,
  MAX_UPDATE_MANAGERS,
  ANCIENT_CHANGES_MANAGER,
  type ManagedFieldsEntry,
  type ManagerEntry,
  type Managed,
} from './managers.js';
export { compareObjects, mergeObjects, removeItems, type Comparison } from './typed.js';
export { listTypeOf, isAtomicMap, LIST_MAP_KEY_OVERRIDES, ZERO_VALUE_FIELDS, type ListType, type ListMapKeyOverride } from './schema.js';
