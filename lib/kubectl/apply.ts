/**
 * Client-side apply, as `kubectl apply` does it: the manifest is stored in the
 * `kubectl.kubernetes.io/last-applied-configuration` annotation, and a later apply computes a
 * three-way patch from (last applied, new manifest, live object): fields in the manifest are
 * set, fields that were in the last applied manifest but no longer are get removed, and
 * fields the manifest never named (an allocated clusterIP, a controller's annotations) are
 * left as the live object has them. Lists are replaced as a whole (JSON merge semantics).
 */

import type { KubeObject } from '../api/meta.js';
import { WellKnown } from '../api/types.js';
import { canonicalJson } from '../core/json.js';

/** The annotation kubectl keeps the last applied manifest in. */
export const LAST_APPLIED = WellKnown.lastApplied;

type Json = unknown;

function isMap(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function equal(a: Json, b: Json): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * The JSON merge patch that turns `live` into what `modified` asks for, deleting what
 * `original` had and `modified` dropped.
 */
export function threeWayMergePatch(original: Json, modified: Json, live: Json): Record<string, Json> {
  const patch: Record<string, Json> = {};
  const o = isMap(original) ? original : {};
  const m = isMap(modified) ? modified : {};
  const l = isMap(live) ? live : {};
  for (const [key, value] of Object.entries(m)) {
    if (isMap(value) && isMap(l[key])) {
      const sub = threeWayMergePatch(o[key], value, l[key]);
      if (Object.keys(sub).length) patch[key] = sub;
    } else if (!equal(value, l[key])) {
      patch[key] = value;
    }
  }
  for (const key of Object.keys(o)) {
    if (!(key in m) && key in l) patch[key] = null;
  }
  return patch;
}

/** The manifest as kubectl records it: without status and server-set metadata. */
export function lastAppliedOf(manifest: KubeObject): string {
  const { status: _status, ...rest } = manifest;
  void _status;
  const metadata = { ...(manifest.metadata ?? {}) };
  delete metadata.resourceVersion;
  delete metadata.uid;
  delete metadata.creationTimestamp;
  delete metadata.generation;
  delete metadata.managedFields;
  if (metadata.annotations) {
    const annotations = { ...metadata.annotations };
    delete annotations[LAST_APPLIED];
    if (Object.keys(annotations).length) metadata.annotations = annotations;
    else delete metadata.annotations;
  }
  // kubectl marshals the manifest from a map: keys sorted, as Go's encoding/json writes them.
  return canonicalJson({ ...rest, metadata });
}

/** Adds the last-applied annotation to a manifest about to be created or patched. */
export function withLastApplied(manifest: KubeObject): KubeObject {
  const annotations = { ...(manifest.metadata?.annotations ?? {}), [LAST_APPLIED]: `${lastAppliedOf(manifest)}\n` };
  return { ...manifest, metadata: { ...manifest.metadata, annotations } };
}

/** The patch `kubectl apply` sends for a manifest against a live object. */
export function applyPatch(manifest: KubeObject, live: KubeObject): Record<string, Json> {
  const raw = live.metadata.annotations?.[LAST_APPLIED];
  let original: Json = {};
  if (raw) {
    try {
      original = JSON.parse(raw);
    } catch {
      original = {};
    }
  }
  const desired = withLastApplied(manifest);
  const { status: _s, ...desiredNoStatus } = desired;
  void _s;
  const patch = threeWayMergePatch(original, desiredNoStatus, live);
  delete patch.apiVersion;
  delete patch.kind;
  return patch;
}
