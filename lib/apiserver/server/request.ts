/**
 * Reading an API request: the resource path (k8s.io/apiserver's RequestInfo), query options and
 * content negotiation.
 *
 *   /api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
 *   /apis/{group}/{version}/namespaces/{ns}/{resource}/{name}/{subresource}
 *   /api/v1/{resource}/{name}           cluster-scoped kinds, and lists across all namespaces
 *   /api/v1/namespaces/{name}[/status]  namespaces themselves
 */

import { lookupResource, type KindInfo } from '../../api/scheme.js';
import { statusErrors } from './status.js';

/** What a resource request is about. */
export interface ResourceRequest {
  info: KindInfo;
  /** The version in the path (a kind may be served at more than one). */
  version: string;
  namespace: string | undefined;
  name: string | undefined;
  subresource: 'status' | 'scale' | undefined;
}

/** Parses a resource path; undefined when the path is not a resource path. */
export function parseResourcePath(pathname: string): ResourceRequest | undefined {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  // `namespaces/{ns}/{resource}...` is a namespaced path unless it is the namespace itself.
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource, ...extra] = rest;
  if (!resource || extra.length) return undefined;
  const info = lookupResource(group, version, resource) ?? lookupExtraVersion(group, version, resource);
  if (!info) return undefined;
  if (namespace !== undefined && !info.namespaced) return undefined;
  if (subresource !== undefined && !(subresource === 'status' && info.subresources.status) && !(subresource === 'scale' && info.subresources.scale)) {
    return undefined;
  }
  return { info, version, namespace, name, subresource: subresource as ResourceRequest['subresource'] };
}

/** Gateway API kinds are served at v1beta1 as well as v1. */
function lookupExtraVersion(group: string, version: string, resource: string): KindInfo | undefined {
  if (group === 'gateway.networking.k8s.io' && version === 'v1beta1') return lookupResource(group, 'v1', resource);
  return undefined;
}

/** The media type a response is rendered as. */
export type Rendering = { as: 'json' } | { as: 'yaml' } | { as: 'table'; version: 'v1' | 'v1beta1' } | { as: 'partial'; version: 'v1' | 'v1beta1' };

/**
 * Content negotiation for resource responses: kubectl asks for
 * `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`.
 */
export function negotiate(accept: string | undefined): Rendering {
  if (!accept) return { as: 'json' };
  for (const raw of accept.split(',')) {
    const [type, ...params] = raw.split(';').map((s) => s.trim());
    const p = Object.fromEntries(params.map((kv) => kv.split('=').map((s) => s.trim()) as [string, string]));
    if (type === 'application/json' || type === '*/*' || type === 'application/*') {
      if (p.as === 'Table' && p.g === 'meta.k8s.io' && (p.v === 'v1' || p.v === 'v1beta1')) return { as: 'table', version: p.v };
      if ((p.as === 'PartialObjectMetadata' || p.as === 'PartialObjectMetadataList') && p.g === 'meta.k8s.io' && (p.v === 'v1' || p.v === 'v1beta1')) {
        return { as: 'partial', version: p.v };
      }
      if (!p.as) return { as: 'json' };
    }
    if ((type === 'application/yaml' || type === 'application/x-yaml') && !p.as) return { as: 'yaml' };
    if (type === 'application/vnd.kubernetes.protobuf' && !p.as) continue;
  }
  if (accept.includes('application/vnd.kubernetes.protobuf')) return { as: 'json' };
  throw statusErrors.notAcceptable(accept);
}

/** Query options the handlers read. */
export interface QueryOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  watch: boolean;
  timeoutSeconds?: number;
  allowWatchBookmarks: boolean;
  sendInitialEvents: boolean;
  dryRun: boolean;
  fieldManager?: string;
  force: boolean;
  fieldValidation?: string;
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  includeObject?: 'None' | 'Object' | 'Metadata';
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw statusErrors.badRequest(`invalid value for ${name}: ${v}`);
  return Number(v);
}

function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v === 'true' || v === '1';
}

/** Reads the query options of a request. */
export function parseQuery(q: URLSearchParams): QueryOptions {
  const out: QueryOptions = {
    watch: boolParam(q, 'watch'),
    allowWatchBookmarks: boolParam(q, 'allowWatchBookmarks'),
    sendInitialEvents: boolParam(q, 'sendInitialEvents'),
    dryRun: q.getAll('dryRun').includes('All'),
    force: boolParam(q, 'force'),
  };
  for (const name of ['labelSelector', 'fieldSelector', 'continue', 'resourceVersion', 'fieldManager', 'fieldValidation'] as const) {
    const v = q.get(name);
    if (v !== null && v !== '') out[name] = v;
  }
  const dryRun = q.getAll('dryRun').filter((v) => v !== 'All');
  if (dryRun.length) throw statusErrors.badRequest(`dryRun: Unsupported value: ${JSON.stringify(dryRun[0])}: supported values: "All"`);
  const limit = intParam(q, 'limit');
  if (limit !== undefined) out.limit = limit;
  const timeout = intParam(q, 'timeoutSeconds');
  if (timeout !== undefined) out.timeoutSeconds = timeout;
  const grace = intParam(q, 'gracePeriodSeconds');
  if (grace !== undefined) out.gracePeriodSeconds = grace;
  const policy = q.get('propagationPolicy');
  if (policy) {
    if (policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan') {
      throw statusErrors.badRequest(`propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`);
    }
    out.propagationPolicy = policy;
  }
  const include = q.get('includeObject');
  if (include === 'None' || include === 'Object' || include === 'Metadata') out.includeObject = include;
  const validation = out.fieldValidation;
  if (validation && !['Ignore', 'Warn', 'Strict'].includes(validation)) {
    throw statusErrors.badRequest(`fieldValidation: Unsupported value: "${validation}": supported values: "Ignore", "Warn", "Strict"`);
  }
  return out;
}
