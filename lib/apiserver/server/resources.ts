/**
 * The REST handlers for stored kinds, as k8s.io/apiserver's generic handlers serve them: get,
 * list (selectors, limit/continue), watch (newline-delimited JSON events, bookmarks, timeouts),
 * create, update, patch (JSON, merge, strategic merge, server-side apply), delete and
 * deletecollection, and the status and scale subresources. Responses render as JSON, YAML,
 * meta.k8s.io Tables or PartialObjectMetadata, as the client asked.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ResourceVersionTooOldError, NotFoundError, PodnetError } from '../../core/errors.js';
import { rfc3339 } from '../../core/clock.js';
import { apiVersionOf, type KindInfo } from '../../api/scheme.js';
import type { KubeObject } from '../../api/meta.js';
import type { ObjectStore, PatchType, WatchEvent } from '../store.js';
import { qualifiedResource } from '../store.js';
import { toTable } from '../../printers/printers.js';
import { selectorFromLabelSelector } from '../../apimachinery/labels.js';
import { failure, statusErrors, success, toStatus, type Status } from './status.js';
import type { QueryOptions, Rendering, ResourceRequest } from './request.js';
import { applyObject, updateManagedFields } from '../apply/ssa.js';
import { isCustomResourceGroup } from './discovery.js';

/** The largest request body accepted (the apiserver's limit is 3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** How long a watch runs when the client gives no timeoutSeconds (the apiserver's default is 30-60 min). */
export const DEFAULT_WATCH_TIMEOUT_SECONDS = 1800;

/** How often a watch that allows bookmarks gets one. */
export const BOOKMARK_INTERVAL_MS = 60_000;

/** Everything a handler needs to answer one request. */
export interface RequestContext {
  store: ObjectStore;
  req: IncomingMessage;
  res: ServerResponse;
  target: ResourceRequest;
  query: QueryOptions;
  rendering: Rendering;
  /** The field manager when the client names none: the user agent's program name. */
  defaultManager: string;
  /** Called when a watch stream ends, so the server can forget it. */
  track(stop: () => void): () => void;
}

/** Reads a request body (JSON or YAML) into a value. */
export async function readBody(req: IncomingMessage): Promise<{ raw: string; contentType: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new PodnetError('PODNET_BAD_REQUEST', 'the request body is too large (more than 3 MiB)');
    chunks.push(chunk);
  }
  return { raw: Buffer.concat(chunks).toString('utf8'), contentType: (req.headers['content-type'] ?? '').split(';')[0]!.trim() };
}

/** Decodes a body as an object, reporting malformed input the way the apiserver does. */
export function decodeObject(raw: string, contentType: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = contentType.includes('yaml') ? parseYaml(raw) : JSON.parse(raw);
  } catch (err) {
    throw statusErrors.badRequest(`error decoding ${contentType.includes('yaml') ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw statusErrors.badRequest(`the body of the request must be an object, not ${Array.isArray(value) ? 'a list' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

/** Writes a JSON (or YAML) response. */
export function send(res: ServerResponse, code: number, body: unknown, rendering: Rendering = { as: 'json' }): void {
  const yaml = rendering.as === 'yaml';
  const text = yaml ? stringifyYaml(body) : JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': yaml ? 'application/yaml' : 'application/json', 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

/** Writes a Status. */
export function sendStatus(res: ServerResponse, status: Status): void {
  send(res, status.code, status);
}

function render(ctx: RequestContext, objects: KubeObject[], single: boolean, listRv: string, cont?: { continue: string; remainingItemCount?: number }): unknown {
  const { info } = ctx.target;
  const r = ctx.rendering;
  if (r.as === 'table') {
    const table = toTable(info, objects, ctx.store.clock.now(), { includeObject: ctx.query.includeObject ?? 'Metadata' });
    table.metadata = { resourceVersion: listRv, ...(cont ?? {}) } as typeof table.metadata;
    if (r.version === 'v1beta1') (table as { apiVersion: string }).apiVersion = 'meta.k8s.io/v1beta1';
    return table;
  }
  if (r.as === 'partial') {
    const apiVersion = `meta.k8s.io/${r.version}`;
    const partial = (o: KubeObject) => ({ kind: 'PartialObjectMetadata', apiVersion, metadata: o.metadata });
    if (single) return partial(objects[0]!);
    return { kind: 'PartialObjectMetadataList', apiVersion, metadata: { resourceVersion: listRv, ...(cont ?? {}) }, items: objects.map(partial) };
  }
  if (single) return objects[0];
  return {
    kind: `${info.kind}List`,
    apiVersion: apiVersionOf(info),
    metadata: { resourceVersion: listRv, ...(cont ?? {}) },
    items: objects,
  };
}

function namespaceOf(ctx: RequestContext): string | undefined {
  return ctx.target.info.namespaced ? ctx.target.namespace : undefined;
}

function getOrThrow(ctx: RequestContext, name: string): KubeObject {
  return ctx.store.getOrThrow(ctx.target.info, namespaceOf(ctx), name);
}

/** autoscaling/v1 Scale of a Deployment, ReplicaSet or StatefulSet. */
function scaleOf(obj: KubeObject): KubeObject {
  const selector = obj.spec?.selector ? selectorFromLabelSelector(obj.spec.selector).toString() : '';
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
      creationTimestamp: obj.metadata.creationTimestamp,
    },
    spec: { replicas: obj.spec?.replicas ?? 1 },
    status: { replicas: obj.status?.replicas ?? 0, selector },
  };
}

// ---------------------------------------------------------------------------- reads

/** GET on an object (or its status/scale). */
export function getObject(ctx: RequestContext): void {
  const obj = getOrThrow(ctx, ctx.target.name!);
  if (ctx.target.subresource === 'scale') return send(ctx.res, 200, scaleOf(obj), ctx.rendering.as === 'yaml' ? ctx.rendering : { as: 'json' });
  send(ctx.res, 200, render(ctx, [obj], true, ctx.store.resourceVersion), ctx.rendering);
}

interface ContinueToken {
  rv: string;
  after: string;
}

/** GET on a collection: list, with selectors and limit/continue pagination. */
export function listObjects(ctx: RequestContext): void {
  const q = ctx.query;
  const options: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {};
  const ns = namespaceOf(ctx);
  if (ns) options.namespace = ns;
  if (q.labelSelector) options.labelSelector = q.labelSelector;
  if (q.fieldSelector) options.fieldSelector = q.fieldSelector;
  let items = ctx.store.list(ctx.target.info, options).items;
  let rv = ctx.store.resourceVersion;
  if (q.continue) {
    let token: ContinueToken;
    try {
      token = JSON.parse(Buffer.from(q.continue, 'base64url').toString('utf8')) as ContinueToken;
      if (typeof token.after !== 'string' || typeof token.rv !== 'string') throw new Error('bad token');
    } catch {
      throw statusErrors.badRequest('continue key is not valid: illegal base64 data or incorrect format');
    }
    items = items.filter((o) => keyOf(o) > token.after);
    rv = token.rv;
  }
  let cont: { continue: string; remainingItemCount?: number } | undefined;
  if (q.limit && q.limit > 0 && items.length > q.limit) {
    const page = items.slice(0, q.limit);
    const token: ContinueToken = { rv, after: keyOf(page[page.length - 1]!) };
    cont = { continue: Buffer.from(JSON.stringify(token)).toString('base64url'), remainingItemCount: items.length - q.limit };
    items = page;
  }
  send(ctx.res, 200, render(ctx, items, false, rv, cont), ctx.rendering);
}

function keyOf(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/**
 * GET with watch=true: a stream of `{"type": ..., "object": ...}` lines. A resourceVersion past
 * the retained history gets an ERROR event with a 410 Expired Status, as the watch cache sends.
 */
export function watchObjects(ctx: RequestContext): void {
  const { res, query: q } = ctx;
  const info = ctx.target.info;
  const options: { namespace?: string; labelSelector?: string; fieldSelector?: string; resourceVersion?: string } = {};
  const ns = namespaceOf(ctx);
  if (ns) options.namespace = ns;
  if (q.labelSelector) options.labelSelector = q.labelSelector;
  if (q.fieldSelector) options.fieldSelector = q.fieldSelector;
  if (ctx.target.name) options.fieldSelector = [options.fieldSelector, `metadata.name=${ctx.target.name}`].filter(Boolean).join(',');
  if (q.resourceVersion) options.resourceVersion = q.resourceVersion;
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  const write = (type: string, object: unknown) => {
    if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const toWire = (e: WatchEvent): unknown => {
    if (ctx.rendering.as === 'table') return render(ctx, [e.object], false, e.object.metadata.resourceVersion ?? '');
    if (ctx.rendering.as === 'partial') return render(ctx, [e.object], true, '');
    return e.object;
  };
  const bookmark = (annotations?: Record<string, string>) =>
    write('BOOKMARK', { kind: info.kind, apiVersion: apiVersionOf(info), metadata: { resourceVersion: ctx.store.resourceVersion, ...(annotations ? { annotations } : {}) } });

  let stopWatch: () => void = () => {};
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    stopWatch();
    clearTimeout(timer);
    clearInterval(bookmarks);
    untrack();
    if (!res.writableEnded) res.end();
  };
  const untrack = ctx.track(end);
  const timeoutMs = (q.timeoutSeconds && q.timeoutSeconds > 0 ? q.timeoutSeconds : DEFAULT_WATCH_TIMEOUT_SECONDS) * 1000;
  const timer = setTimeout(end, timeoutMs);
  timer.unref();
  const bookmarks = setInterval(() => q.allowWatchBookmarks && bookmark(), BOOKMARK_INTERVAL_MS);
  bookmarks.unref();
  ctx.req.on('close', end);
  res.on('close', end);
  try {
    stopWatch = ctx.store.watch(info, options, (e) => write(e.type, toWire(e)));
    if (q.sendInitialEvents && q.allowWatchBookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
  } catch (err) {
    if (err instanceof ResourceVersionTooOldError || (err instanceof PodnetError && err.code === 'PODNET_BAD_REQUEST')) {
      write('ERROR', toStatus(err, info));
      end();
      return;
    }
    throw err;
  }
}

// ---------------------------------------------------------------------------- writes

function checkBodyKind(ctx: RequestContext, body: Record<string, unknown>): void {
  const { info, version } = ctx.target;
  const expected = info.group ? `${info.group}/${version}` : version;
  if (body.apiVersion === undefined) body.apiVersion = expected;
  if (body.kind === undefined) body.kind = info.kind;
  if (body.kind !== info.kind) {
    throw statusErrors.badRequest(`the object provided is unrecognized (must be of type ${info.kind}): kind ${JSON.stringify(body.kind)} does not match the resource "${qualifiedResource(info)}"`);
  }
  if (body.apiVersion !== expected && body.apiVersion !== apiVersionOf(info)) {
    throw statusErrors.badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${expected})`);
  }
  body.apiVersion = apiVersionOf(info);
  const meta = (body.metadata ??= {}) as Record<string, unknown>;
  if (typeof meta !== 'object' || Array.isArray(meta)) throw statusErrors.badRequest('metadata must be an object');
  const ns = namespaceOf(ctx);
  if (info.namespaced) {
    if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== ns) {
      throw statusErrors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    meta.namespace = ns;
  }
  if (ctx.target.name !== undefined && meta.name !== undefined && meta.name !== ctx.target.name) {
    throw statusErrors.badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${ctx.target.name})`);
  }
  if (ctx.target.name !== undefined) meta.name = ctx.target.name;
}

function manager(ctx: RequestContext): string {
  return ctx.query.fieldManager ?? ctx.defaultManager;
}

function now(ctx: RequestContext): string {
  return rfc3339(ctx.store.clock.now());
}

/** POST on a collection: create. */
export async function createObject(ctx: RequestContext): Promise<void> {
  if (!ctx.target.namespace && ctx.target.info.namespaced) throw statusErrors.methodNotAllowed('POST');
  const { raw, contentType } = await readBody(ctx.req);
  const body = decodeObject(raw, contentType);
  checkBodyKind(ctx, body);
  const obj = body as KubeObject;
  // PrepareForCreate: status is the system's, not the client's.
  if (ctx.target.info.subresources.status) delete obj.status;
  const withFields = updateManagedFields({ live: undefined, updated: obj, manager: manager(ctx), operation: 'Update', kind: obj.kind, now: now(ctx) }).object;
  const created = ctx.store.create(withFields, { dryRun: ctx.query.dryRun });
  send(ctx.res, 201, created, ctx.rendering.as === 'yaml' ? ctx.rendering : { as: 'json' });
}

/** PUT on an object, its status, or its scale. */
export async function updateObject(ctx: RequestContext): Promise<void> {
  const { raw, contentType } = await readBody(ctx.req);
  const body = decodeObject(raw, contentType);
  const name = ctx.target.name!;
  if (ctx.target.subresource === 'scale') {
    const replicas = (body.spec as { replicas?: unknown } | undefined)?.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw statusErrors.badRequest('spec.replicas: Invalid value: must be a non-negative integer');
    }
    const updated = setReplicas(ctx, name, replicas, (body.metadata as { resourceVersion?: string } | undefined)?.resourceVersion);
    return send(ctx.res, 200, scaleOf(updated));
  }
  checkBodyKind(ctx, body);
  const live = getOrThrow(ctx, name);
  const obj = updateManagedFields({ live, updated: body as KubeObject, manager: manager(ctx), operation: 'Update', kind: live.kind, now: now(ctx), ...sub(ctx) }).object;
  const options = { dryRun: ctx.query.dryRun, ...(ctx.target.subresource === 'status' ? { subresource: 'status' as const } : {}) };
  send(ctx.res, 200, ctx.store.update(obj, options));
}

function setReplicas(ctx: RequestContext, name: string, replicas: number, resourceVersion?: string): KubeObject {
  const live = getOrThrow(ctx, name);
  const updated: KubeObject = { ...live, metadata: { ...live.metadata }, spec: { ...live.spec, replicas } };
  if (resourceVersion) updated.metadata.resourceVersion = resourceVersion;
  // A write through /scale owns .spec.replicas for its manager, tagged with the subresource.
  const managed = updateManagedFields({ live, updated, manager: manager(ctx), operation: 'Update', kind: live.kind, now: now(ctx), subresource: 'scale' }).object;
  return ctx.store.update(managed, { dryRun: ctx.query.dryRun });
}

/** The subresource a write goes through, for managedFields. */
function sub(ctx: RequestContext): { subresource?: 'status' | 'scale' } {
  return ctx.target.subresource ? { subresource: ctx.target.subresource } : {};
}

const PATCH_TYPES: Record<string, PatchType | 'apply'> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+json': 'apply',
};


/** PATCH on an object, its status, or its scale. */
export async function patchObject(ctx: RequestContext): Promise<void> {
  const { raw, contentType } = await readBody(ctx.req);
  const type = PATCH_TYPES[contentType];
  if (!type) throw statusErrors.unsupportedMediaType(contentType);
  const { info } = ctx.target;
  const name = ctx.target.name!;
  const ns = namespaceOf(ctx);
  // Kinds served as custom resources refuse strategic merge patch, as CRDs do.
  if (type === 'strategic' && isCustomResourceGroup(info.group)) {
    throw statusErrors.unsupportedMediaType(`${contentType} is not supported for custom resources`);
  }
  if (type === 'apply') return applyPatchRequest(ctx, raw);
  let patch: unknown;
  try {
    patch = JSON.parse(raw);
  } catch (err) {
    throw statusErrors.badRequest(`error decoding patch: ${(err as Error).message.split('\n')[0]}`);
  }
  if (ctx.target.subresource === 'scale') {
    const scale = scaleOf(getOrThrow(ctx, name));
    const { jsonPatch, mergePatch } = await import('../../apimachinery/patch.js');
    const patched = (type === 'json' ? jsonPatch(scale, patch as never) : mergePatch(scale, patch)) as KubeObject;
    const replicas = patched.spec?.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) throw statusErrors.badRequest('spec.replicas must be a non-negative integer');
    return send(ctx.res, 200, scaleOf(setReplicas(ctx, name, replicas)));
  }
  const options = { dryRun: ctx.query.dryRun, ...(ctx.target.subresource === 'status' ? { subresource: 'status' as const } : {}) };
  // The manager's fields are recorded in the same write as the patch.
  const mutate = (patched: KubeObject, live: KubeObject) =>
    updateManagedFields({ live, updated: patched, manager: manager(ctx), operation: 'Update', kind: live.kind, now: now(ctx), ...sub(ctx) }).object;
  send(ctx.res, 200, ctx.store.patch(info, ns, name, type, patch, { ...options, mutate }));
}

/** Server-side apply (PATCH application/apply-patch+yaml). */
function applyPatchRequest(ctx: RequestContext, raw: string): void {
  const body = decodeObject(raw, 'application/yaml');
  if (ctx.query.fieldManager === undefined) {
    throw statusErrors.badRequest('PATCH, application/apply-patch+yaml: fieldManager is required for apply requests');
  }
  checkBodyKind(ctx, body);
  const { info } = ctx.target;
  const ns = namespaceOf(ctx);
  const name = ctx.target.name!;
  const live = ctx.store.get(info, ns, name);
  const { object } = applyObject({ live, applied: body as KubeObject, manager: ctx.query.fieldManager, force: ctx.query.force, kind: info.kind, now: now(ctx) });
  if (!live) {
    if (info.subresources.status) delete object.status;
    return send(ctx.res, 201, ctx.store.create(object, { dryRun: ctx.query.dryRun }));
  }
  send(ctx.res, 200, ctx.store.update(object, { dryRun: ctx.query.dryRun }));
}

/** Delete options from the query and an optional DeleteOptions body. */
async function deleteOptions(ctx: RequestContext): Promise<{ propagationPolicy?: 'Background' | 'Foreground' | 'Orphan'; gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string }; dryRun: boolean }> {
  const { raw, contentType } = await readBody(ctx.req);
  const out: Awaited<ReturnType<typeof deleteOptions>> = { dryRun: ctx.query.dryRun };
  if (ctx.query.propagationPolicy) out.propagationPolicy = ctx.query.propagationPolicy;
  if (ctx.query.gracePeriodSeconds !== undefined) out.gracePeriodSeconds = ctx.query.gracePeriodSeconds;
  if (raw.trim()) {
    const body = decodeObject(raw, contentType || 'application/json');
    if (body.propagationPolicy !== undefined) out.propagationPolicy = body.propagationPolicy as 'Background';
    if (body.orphanDependents === true) out.propagationPolicy = 'Orphan';
    if (typeof body.gracePeriodSeconds === 'number') out.gracePeriodSeconds = body.gracePeriodSeconds;
    if (body.preconditions && typeof body.preconditions === 'object') out.preconditions = body.preconditions as { uid?: string };
    if (Array.isArray(body.dryRun) && body.dryRun.includes('All')) out.dryRun = true;
  }
  return out;
}

/** DELETE on an object. */
export async function deleteObject(ctx: RequestContext): Promise<void> {
  const options = await deleteOptions(ctx);
  const { info } = ctx.target;
  const ns = namespaceOf(ctx);
  const name = ctx.target.name!;
  const { dryRun, ...rest } = options;
  if (dryRun) {
    const live = getOrThrow(ctx, name);
    return send(ctx.res, 200, live.metadata.finalizers?.length ? live : deletedStatus(info, live));
  }
  const result = ctx.store.delete(info, ns, name, rest);
  send(ctx.res, 200, result.metadata.deletionTimestamp ? result : deletedStatus(info, result));
}

/** Kinds whose registry answers a DELETE with the object itself (registry.Store ReturnDeletedObject). */
const RETURNS_DELETED_OBJECT = new Set(['pods', 'services', 'namespaces', 'serviceaccounts', 'persistentvolumes', 'persistentvolumeclaims']);

/**
 * What a DELETE that removed the object answers (registry.Store finalizeDelete): the object for
 * the kinds above and custom resources, else a Success Status naming it — the `V1Status` that
 * typed clients (client-go, client-node) decode the response as.
 */
function deletedStatus(info: KindInfo, obj: KubeObject): unknown {
  if (RETURNS_DELETED_OBJECT.has(info.resource) || isCustomResourceGroup(info.group)) return obj;
  return success({ name: obj.metadata.name!, group: info.group, kind: info.resource, ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}) });
}

/** DELETE on a collection: every object the selectors match. */
export async function deleteCollection(ctx: RequestContext): Promise<void> {
  const options = await deleteOptions(ctx);
  const { dryRun, ...rest } = options;
  const q = ctx.query;
  const ns = namespaceOf(ctx);
  const list = ctx.store.list(ctx.target.info, {
    ...(ns ? { namespace: ns } : {}),
    ...(q.labelSelector ? { labelSelector: q.labelSelector } : {}),
    ...(q.fieldSelector ? { fieldSelector: q.fieldSelector } : {}),
  }).items;
  const deleted: KubeObject[] = [];
  if (!dryRun) {
    ctx.store.transaction(() => {
      for (const o of list) {
        try {
          deleted.push(ctx.store.delete(ctx.target.info, o.metadata.namespace, o.metadata.name!, rest));
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }
    });
  }
  send(ctx.res, 200, render(ctx, dryRun ? list : deleted, false, ctx.store.resourceVersion));
}

/** An error answered as a Status, in the request's kind. */
export function fail(res: ServerResponse, err: unknown, info?: KindInfo): void {
  const status = toStatus(err, info);
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  sendStatus(res, status);
}

export { failure };
