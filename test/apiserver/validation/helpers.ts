/**
 * Shared by the validation tests: run an object through defaulting and validation, as the
 * admission chain does, and render the errors as kubectl prints them.
 */

import { formatFieldError } from '../../../lib/core/errors.js';
import { deepCopy, type KubeObject } from '../../../lib/api/meta.js';
import { lookupKind } from '../../../lib/api/scheme.js';
import { applyDefaults } from '../../../lib/apiserver/defaults.js';
import { validateObject } from '../../../lib/apiserver/validation/index.js';

/** Fills `metadata.namespace` as the store does for a namespaced object. */
function withNamespace(o: KubeObject): KubeObject {
  const copy = deepCopy(o);
  copy.metadata ??= {};
  if (lookupKind(copy.apiVersion, copy.kind)?.namespaced) copy.metadata.namespace ||= 'default';
  return copy;
}

/** The kubectl-style error lines for `obj` after defaulting (and, with `old`, as an update of it). */
export function errorsOf(obj: KubeObject, old?: KubeObject): string[] {
  const o = applyDefaults(withNamespace(obj), old && applyDefaults(withNamespace(old)));
  return validateObject(o, old && applyDefaults(withNamespace(old))).map(formatFieldError);
}

/** Deep-merges `patch` into a copy of `base` (arrays and scalars replace). */
export function merge<T>(base: T, patch: unknown): T {
  const out = deepCopy(base) as Record<string, unknown>;
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch as T;
  for (const [k, v] of Object.entries(patch)) {
    const cur = out[k];
    if (v === undefined) delete out[k];
    else if (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof cur === 'object' && cur !== null && !Array.isArray(cur)) {
      out[k] = merge(cur, v);
    } else out[k] = deepCopy(v);
  }
  return out as T;
}
