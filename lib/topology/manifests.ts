/**
 * Reading manifests: YAML or JSON files with one or many documents, `kind: List` (and
 * `*List` kinds as `kubectl get -o yaml` prints them) expanded into their items. Every object
 * keeps the file and line its document starts on, so any later error can point at it the way
 * kubectl does (`error parsing web.yaml: error converting YAML to JSON: yaml: line 7: ...`).
 */

import { readFileSync } from 'node:fs';
import { LineCounter, parseAllDocuments } from 'yaml';
import { ManifestError, type SourceLocation } from '../core/errors.js';
import type { KubeObject } from '../api/meta.js';

/** An object read from a manifest, with where it came from. */
export interface SourcedObject {
  object: KubeObject;
  source: SourceLocation;
}

/** Reads one manifest file. Throws {@link ManifestError} naming file and line. */
export function readManifestFile(file: string): SourcedObject[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ManifestError({ file }, `cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseManifests(text, file);
}

/** Parses manifest text (YAML, possibly multi-document, or JSON). */
export function parseManifests(text: string, file = '<input>'): SourcedObject[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const out: SourcedObject[] = [];
  const docList = Array.isArray(docs) ? docs : [docs];
  for (const doc of docList) {
    if (doc.errors.length) {
      const err = doc.errors[0]!;
      const line = lineCounter.linePos(err.pos[0]).line;
      throw new ManifestError({ file, line }, `error converting YAML to JSON: yaml: line ${line}: ${firstLine(err.message)}`);
    }
    const start = doc.contents?.range?.[0] ?? doc.range[0];
    const line = lineCounter.linePos(start).line;
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue; // an empty document, e.g. a trailing `---`
    const source = { file, line };
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ManifestError(source, `error unmarshaling JSON: expected an object, got ${Array.isArray(value) ? 'a list' : typeof value}`);
    }
    for (const object of expandList(value as Record<string, unknown>, source)) out.push({ object, source });
  }
  return out;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

/** Checks the object has apiVersion and kind, and expands `List` kinds into their items. */
function expandList(value: Record<string, unknown>, source: SourceLocation): KubeObject[] {
  const kind = value.kind;
  const apiVersion = value.apiVersion;
  if (typeof kind !== 'string' || !kind) {
    throw new ManifestError(source, `error validating data: kind not set`);
  }
  if (typeof apiVersion !== 'string' || !apiVersion) {
    throw new ManifestError(source, `error validating data: apiVersion not set`);
  }
  if (kind === 'List' || (kind.endsWith('List') && Array.isArray(value.items))) {
    const items = value.items;
    if (items === undefined || items === null) return [];
    if (!Array.isArray(items)) throw new ManifestError(source, `error validating data: items must be a list`);
    return items.flatMap((item, i) => {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        throw new ManifestError(source, `error validating data: items[${i}] is not an object`);
      }
      const it = item as Record<string, unknown>;
      // `kubectl get pods -o yaml` omits nothing, but a hand-made XList may leave kind implied.
      if (kind !== 'List' && it.kind === undefined) it.kind = kind.slice(0, -'List'.length);
      if (kind !== 'List' && it.apiVersion === undefined) it.apiVersion = apiVersion;
      return expandList(it, source);
    });
  }
  const metadata = value.metadata;
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) {
    throw new ManifestError(source, `error validating data: metadata must be an object`);
  }
  if (metadata === undefined) value.metadata = {};
  return [value as KubeObject];
}
