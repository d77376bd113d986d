/**
 * OpenAPI documents for the served API, derived from the scheme: the `/openapi/v3` index, one
 * OpenAPI 3.0 document per index entry (`api/v1`, `apis/apps/v1`, `api`, `apis`, `apis/apps`,
 * `version`), and the Swagger 2.0 document of `/openapi/v2` (JSON only; a real apiserver also
 * serves it as protobuf, which is what client-go asks for, so clients reading v2 through
 * client-go see it as unavailable and fall back).
 *
 * What clients read from these documents, and what therefore has to be right:
 * - kubectl's field-validation check (cli-runtime `query_param_verifier_v3.go`) takes the
 *   group-version's document, finds a PATCH operation whose `x-kubernetes-group-version-kind`
 *   is the object's, and looks for a `fieldValidation` parameter on the operation itself (not
 *   the path). Paths are walked in map order and the first match decides, so every PATCH (and,
 *   for symmetry with upstream, every POST and PUT) carries `fieldValidation`, `dryRun`,
 *   `fieldManager` inline, and PATCH also `force`.
 * - kubectl apply (client-side) uses the document to build a strategic merge patch only when the
 *   kind's PATCH accepts `application/strategic-merge-patch+json`, walking the kind's schema.
 *   See {@link STRATEGIC_MERGE_PATCH_IN_OPENAPI} for why it is not advertised here.
 * - `$ref`s always resolve within the same document.
 *
 * Schemas are deliberately minimal: each kind has `apiVersion`, `kind`, `metadata` (a real
 * ObjectMeta schema, with its list-merge keys) and `spec`/`status` as objects with
 * `x-kubernetes-preserve-unknown-fields: true` (or its real top-level fields for kinds without a
 * spec: ConfigMap, Secret, Event, EndpointSlice). Full field schemas are out of scope, so
 * `kubectl explain` shows only that outline.
 *
 * Names follow upstream: `io.k8s.api.core.v1.Pod` for built-in groups,
 * `io.k8s.networking.gateway.v1.HTTPRoute` (the reversed group) for custom resources; operation
 * ids as the apiserver builds them (`patchAppsV1NamespacedDeployment`); hashes as kube-openapi's
 * handler3 computes them (upper-case hex SHA-512 of the JSON document).
 */

import { KUBERNETES_VERSION } from '../../api/cluster.js';
import type { KindInfo } from '../../api/scheme.js';
import {
  contentHash,
  isCustomResourceGroup,
  servedGroupVersion,
  servedGroupVersions,
  servedGroups,
  subresourceKind,
  subresourcesOf,
  type ServedGroupVersion,
} from './discovery.js';

/** A JSON schema / OpenAPI object: plain JSON. */
export type JsonObject = { [key: string]: unknown };

/**
 * Whether PATCH operations of built-in kinds advertise `application/strategic-merge-patch+json`.
 *
 * The server accepts strategic merge patches for built-in kinds, but advertising them makes
 * kubectl apply compute the patch from these minimal schemas (patcher.go
 * `buildStrategicMergePatchFromOpenAPIV3`), which fails on the first field below `spec` it cannot
 * find and prints "warning: error calculating patch from openapi v3 spec" on every re-apply.
 * Without it kubectl falls back, silently, to its compiled-in Go types for built-in kinds (the
 * real merge keys) and to a JSON merge patch for custom resources — the right patch either way.
 */
export const STRATEGIC_MERGE_PATCH_IN_OPENAPI = false;

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

/** The OpenAPI definition name of a kind: `io.k8s.api.apps.v1.Deployment`, `io.k8s.networking.gateway.v1.HTTPRoute`. */
export function schemaName(group: string, version: string, kind: string): string {
  if (group === '') return `io.k8s.api.core.${version}.${kind}`;
  if (!isCustomResourceGroup(group) && (group.endsWith('.k8s.io') || !group.includes('.'))) {
    return `io.k8s.api.${group.split('.')[0]}.${version}.${kind}`;
  }
  return `${group.split('.').reverse().join('.')}.${version}.${kind}`;
}

/** `Core`, `Apps`, `Networking`, `GatewayNetworking`, `ProjectcalicoOrg`: the group part of operation ids. */
function groupPrefix(group: string): string {
  if (group === '') return 'Core';
  return group
    .replace(/\.k8s\.io$/, '')
    .split('.')
    .map((s) => s.charAt(0).toUpperCase() + s.slice(1))
    .join('');
}

function tagOf(group: string, version: string): string {
  const p = groupPrefix(group);
  return `${p.charAt(0).toLowerCase()}${p.slice(1)}_${version}`;
}

function urlPrefix(group: string, version: string): string {
  return group ? `/apis/${group}/${version}` : `/api/${version}`;
}

/** The `/openapi/v3` index key of a group-version: `api/v1`, `apis/apps/v1`. */
export function openapiV3PathOf(group: string, version: string): string {
  return urlPrefix(group, version).slice(1);
}

// ---------------------------------------------------------------------------------------------
// An operation model rendered to either OpenAPI 3.0 or Swagger 2.0
// ---------------------------------------------------------------------------------------------

type ParamType = 'string' | 'boolean' | 'integer';

interface Param {
  name: string;
  in: 'path' | 'query';
  type: ParamType;
  description: string;
  required?: boolean;
}

const PARAMS: Record<string, Param> = Object.fromEntries(
  (
    [
      ['allowWatchBookmarks', 'boolean', 'Ask for BOOKMARK watch events; the server may send them at its discretion.'],
      ['continue', 'string', 'The continue token of a previous paged list call.'],
      ['dryRun', 'string', 'When "All", the request is processed fully but nothing is persisted.'],
      ['fieldManager', 'string', 'Name of the actor making the change, for field management (required for apply patches).'],
      ['fieldSelector', 'string', 'Restrict the returned objects by their fields.'],
      [
        'fieldValidation',
        'string',
        'What the server does with unknown or duplicate fields in the request: Ignore, Warn (the default) or Strict.',
      ],
      ['force', 'boolean', 'Apply patches only: take ownership of fields owned by other managers on conflict.'],
      ['gracePeriodSeconds', 'integer', 'Seconds before the object is deleted; 0 deletes immediately.'],
      ['ignoreStoreReadErrorWithClusterBreakingPotential', 'boolean', 'Delete objects that cannot be read from storage (unsafe).'],
      ['labelSelector', 'string', 'Restrict the returned objects by their labels.'],
      ['limit', 'integer', 'Maximum number of items to return; a continue token pages through the rest.'],
      ['orphanDependents', 'boolean', 'Deprecated: use propagationPolicy. Whether dependents are orphaned.'],
      ['pretty', 'string', "If 'true', the output is pretty printed."],
      ['propagationPolicy', 'string', 'Garbage collection of dependents: Orphan, Background or Foreground.'],
      ['resourceVersion', 'string', 'The resourceVersion the list or watch is served from; see resourceVersionMatch.'],
      ['resourceVersionMatch', 'string', 'How resourceVersion applies to a list: Exact or NotOlderThan.'],
      ['sendInitialEvents', 'boolean', 'Start a watch with synthetic ADDED events for the current state, then a bookmark.'],
      ['timeoutSeconds', 'integer', 'Timeout for the list or watch call, whatever the activity.'],
      ['watch', 'boolean', 'Watch for changes to the described resources instead of listing them.'],
    ] as [string, ParamType, string][]
  ).map(([name, type, description]) => [name, { name, in: 'query', type, description }]),
);

function q(...names: string[]): Param[] {
  return names.map((n) => PARAMS[n]!);
}

const LIST_PARAMS = q(
  'allowWatchBookmarks',
  'continue',
  'fieldSelector',
  'labelSelector',
  'limit',
  'resourceVersion',
  'resourceVersionMatch',
  'sendInitialEvents',
  'timeoutSeconds',
  'watch',
);
const WRITE_PARAMS = q('dryRun', 'fieldManager', 'fieldValidation');
const PATCH_PARAMS = q('dryRun', 'fieldManager', 'fieldValidation', 'force');
const DELETE_PARAMS = q('dryRun', 'gracePeriodSeconds', 'ignoreStoreReadErrorWithClusterBreakingPotential', 'orphanDependents', 'propagationPolicy');
const DELETECOLLECTION_PARAMS = q(
  'continue',
  'dryRun',
  'fieldSelector',
  'gracePeriodSeconds',
  'ignoreStoreReadErrorWithClusterBreakingPotential',
  'labelSelector',
  'limit',
  'orphanDependents',
  'propagationPolicy',
  'resourceVersion',
  'resourceVersionMatch',
  'sendInitialEvents',
  'timeoutSeconds',
);

function pathParam(name: 'name' | 'namespace', kind?: string): Param {
  return name === 'name'
    ? { name, in: 'path', type: 'string', required: true, description: `name of the ${kind ?? 'object'}` }
    : { name, in: 'path', type: 'string', required: true, description: 'object name and auth scope, such as for teams and projects' };
}

/** The PATCH body types, as the apiserver lists them (strategic merge only for built-in kinds). */
export function patchContentTypes(group: string): string[] {
  const types = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json'];
  if (STRATEGIC_MERGE_PATCH_IN_OPENAPI && !isCustomResourceGroup(group)) types.push('application/strategic-merge-patch+json');
  return types;
}

type Method = 'get' | 'put' | 'post' | 'delete' | 'patch';

interface Operation {
  method: Method;
  operationId: string;
  description: string;
  action?: 'list' | 'post' | 'deletecollection' | 'get' | 'put' | 'patch' | 'delete' | 'watch' | 'watchlist';
  gvk?: { group: string; version: string; kind: string };
  params: Param[];
  /** Request body schema and its content types. */
  body?: { schema: string; contentTypes: string[] };
  /** Response schema by status code; undefined schema means a description only. */
  responses: [code: string, description: string, schema?: string][];
  /** Watch responses also come as a stream. */
  stream?: boolean;
}

interface PathItem {
  path: string;
  params: Param[];
  ops: Operation[];
}

/** Every path of one served group-version, with its operations. */
function pathsOf(gv: ServedGroupVersion): PathItem[] {
  const { group, version } = gv;
  const prefix = urlPrefix(group, version);
  const id = `${groupPrefix(group)}${version.charAt(0).toUpperCase()}${version.slice(1)}`;
  const STATUS = `${META}.Status`;
  const items: PathItem[] = [
    {
      path: `${prefix}/`,
      params: [],
      ops: [
        {
          method: 'get',
          operationId: `get${id}APIResources`,
          description: 'get available resources',
          params: [],
          responses: [
            ['200', 'OK', `${META}.APIResourceList`],
            ['401', 'Unauthorized'],
          ],
        },
      ],
    },
  ];
  for (const info of gv.kinds) {
    const K = info.kind;
    const gvk = { group, version, kind: K };
    const kindSchema = schemaName(group, version, K);
    const listSchema = schemaName(group, version, `${K}List`);
    const ns = info.namespaced ? 'Namespaced' : '';
    const base = info.namespaced ? `${prefix}/namespaces/{namespace}/${info.resource}` : `${prefix}/${info.resource}`;
    const scope = info.namespaced ? [pathParam('namespace')] : [];
    const pretty = q('pretty');
    const writeBody = { schema: kindSchema, contentTypes: ['*/*'] };
    const deleteBody = { schema: `${META}.DeleteOptions`, contentTypes: ['*/*'] };
    const patchBody = (g: string) => ({ schema: `${META}.Patch`, contentTypes: patchContentTypes(g) });
    const unauthorized: [string, string] = ['401', 'Unauthorized'];

    items.push({
      path: base,
      params: [...scope, ...pretty],
      ops: [
        {
          method: 'get',
          operationId: `list${id}${ns}${K}`,
          description: `list or watch objects of kind ${K}`,
          action: 'list',
          gvk,
          params: LIST_PARAMS,
          responses: [['200', 'OK', listSchema], unauthorized],
          stream: true,
        },
        {
          method: 'post',
          operationId: `create${id}${ns}${K}`,
          description: `create ${article(K)} ${K}`,
          action: 'post',
          gvk,
          params: WRITE_PARAMS,
          body: writeBody,
          responses: [['200', 'OK', kindSchema], ['201', 'Created', kindSchema], ['202', 'Accepted', kindSchema], unauthorized],
        },
        {
          method: 'delete',
          operationId: `delete${id}Collection${ns}${K}`,
          description: `delete collection of ${K}`,
          action: 'deletecollection',
          gvk,
          params: DELETECOLLECTION_PARAMS,
          body: deleteBody,
          responses: [['200', 'OK', STATUS], unauthorized],
        },
      ],
    });
    items.push({
      path: `${base}/{name}`,
      params: [pathParam('name', K), ...scope, ...pretty],
      ops: [
        {
          method: 'get',
          operationId: `read${id}${ns}${K}`,
          description: `read the specified ${K}`,
          action: 'get',
          gvk,
          params: [],
          responses: [['200', 'OK', kindSchema], unauthorized],
        },
        {
          method: 'put',
          operationId: `replace${id}${ns}${K}`,
          description: `replace the specified ${K}`,
          action: 'put',
          gvk,
          params: WRITE_PARAMS,
          body: writeBody,
          responses: [['200', 'OK', kindSchema], ['201', 'Created', kindSchema], unauthorized],
        },
        {
          method: 'delete',
          operationId: `delete${id}${ns}${K}`,
          description: `delete ${article(K)} ${K}`,
          action: 'delete',
          gvk,
          params: DELETE_PARAMS,
          body: deleteBody,
          responses: [['200', 'OK', STATUS], ['202', 'Accepted', STATUS], unauthorized],
        },
        {
          method: 'patch',
          operationId: `patch${id}${ns}${K}`,
          description: `partially update the specified ${K}`,
          action: 'patch',
          gvk,
          params: PATCH_PARAMS,
          body: patchBody(group),
          responses: [['200', 'OK', kindSchema], ['201', 'Created', kindSchema], unauthorized],
        },
      ],
    });
    for (const sub of subresourcesOf(info)) {
      const sgvk = subresourceKind(info, version, sub);
      const subSchema = schemaName(sgvk.group, sgvk.version, sgvk.kind);
      const Sub = sub.charAt(0).toUpperCase() + sub.slice(1);
      items.push({
        path: `${base}/{name}/${sub}`,
        params: [pathParam('name', sgvk.kind), ...scope, ...pretty],
        ops: [
          {
            method: 'get',
            operationId: `read${id}${ns}${K}${Sub}`,
            description: `read ${sub} of the specified ${K}`,
            action: 'get',
            gvk: sgvk,
            params: [],
            responses: [['200', 'OK', subSchema], unauthorized],
          },
          {
            method: 'put',
            operationId: `replace${id}${ns}${K}${Sub}`,
            description: `replace ${sub} of the specified ${K}`,
            action: 'put',
            gvk: sgvk,
            params: WRITE_PARAMS,
            body: { schema: subSchema, contentTypes: ['*/*'] },
            responses: [['200', 'OK', subSchema], ['201', 'Created', subSchema], unauthorized],
          },
          {
            method: 'patch',
            operationId: `patch${id}${ns}${K}${Sub}`,
            description: `partially update ${sub} of the specified ${K}`,
            action: 'patch',
            gvk: sgvk,
            params: PATCH_PARAMS,
            body: patchBody(sgvk.group),
            responses: [['200', 'OK', subSchema], ['201', 'Created', subSchema], unauthorized],
          },
        ],
      });
    }
    const watchEvent = `${META}.WatchEvent`;
    const watchlist = (path: string, operationId: string, params: Param[]): PathItem => ({
      path,
      params: [...params, ...pretty],
      ops: [
        {
          method: 'get',
          operationId,
          description: `watch individual changes to a list of ${K}. deprecated: use the 'watch' parameter with a list operation instead.`,
          action: 'watchlist',
          gvk,
          params: LIST_PARAMS,
          responses: [['200', 'OK', watchEvent], unauthorized],
          stream: true,
        },
      ],
    });
    if (info.namespaced) {
      items.push({
        path: `${prefix}/${info.resource}`,
        params: pretty,
        ops: [
          {
            method: 'get',
            operationId: `list${id}${K}ForAllNamespaces`,
            description: `list or watch objects of kind ${K}`,
            action: 'list',
            gvk,
            params: LIST_PARAMS,
            responses: [['200', 'OK', listSchema], unauthorized],
            stream: true,
          },
        ],
      });
    }
    const watchBase = info.namespaced ? `${prefix}/watch/namespaces/{namespace}/${info.resource}` : `${prefix}/watch/${info.resource}`;
    items.push(watchlist(watchBase, `watch${id}${ns}${K}List`, scope));
    items.push({
      path: `${watchBase}/{name}`,
      params: [pathParam('name', K), ...scope, ...pretty],
      ops: [
        {
          method: 'get',
          operationId: `watch${id}${ns}${K}`,
          description: `watch changes to an object of kind ${K}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.`,
          action: 'watch',
          gvk,
          params: LIST_PARAMS,
          responses: [['200', 'OK', watchEvent], unauthorized],
          stream: true,
        },
      ],
    });
    if (info.namespaced) items.push(watchlist(`${prefix}/watch/${info.resource}`, `watch${id}${K}ListForAllNamespaces`, []));
  }
  return items.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function article(kind: string): string {
  return /^[AEIOU]/.test(kind) ? 'an' : 'a';
}

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

/** Renders references for one document format. */
interface Refs {
  /** A `$ref` to a named schema. */
  ref(name: string): JsonObject;
  /** A property that is an object of a named schema (v3 wraps it in allOf with a default). */
  object(name: string, description?: string): JsonObject;
}

const V3_REFS: Refs = {
  ref: (name) => ({ $ref: `#/components/schemas/${name}` }),
  object: (name, description) => ({ ...(description ? { description } : {}), default: {}, allOf: [{ $ref: `#/components/schemas/${name}` }] }),
};

const V2_REFS: Refs = {
  ref: (name) => ({ $ref: `#/definitions/${name}` }),
  object: (name, description) => ({ ...(description ? { description } : {}), $ref: `#/definitions/${name}` }),
};

const str = (description: string, extra: JsonObject = {}): JsonObject => ({ description, type: 'string', ...extra });
const bool = (description: string): JsonObject => ({ description, type: 'boolean' });
const int = (description: string, format: 'int32' | 'int64' = 'int64'): JsonObject => ({ description, type: 'integer', format });
const mapOf = (description: string, values: JsonObject): JsonObject => ({ description, type: 'object', additionalProperties: { default: '', ...values } });
const free = (description: string): JsonObject => ({ description, type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
const arrayOf = (description: string, items: JsonObject, extra: JsonObject = {}): JsonObject => ({ description, type: 'array', items, ...extra });

const API_VERSION = str('APIVersion defines the versioned schema of this representation of an object.');
const KIND = str('Kind is a string value representing the REST resource this object represents. In CamelCase.');
const TIME = `${META}.Time`;

function gvkExt(group: string, version: string, kind: string): JsonObject {
  return { 'x-kubernetes-group-version-kind': [{ group, kind, version }] };
}

/** The meta/v1 schemas every group-version document refers to. */
function metaSchemas(r: Refs, gv: { group: string; version: string }): Record<string, JsonObject> {
  const time = (d: string) => ({ ...r.ref(TIME), description: d });
  const gvks = (kind: string) => {
    const list = [{ group: '', kind, version: 'v1' }];
    if (gv.group !== '' || gv.version !== 'v1') list.push({ group: gv.group, kind, version: gv.version });
    return { 'x-kubernetes-group-version-kind': list };
  };
  return {
    [TIME]: { description: 'Time is a wrapper around time.Time, serialized as RFC 3339.', type: 'string', format: 'date-time' },
    [`${META}.ObjectMeta`]: {
      description: 'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
      type: 'object',
      properties: {
        annotations: mapOf('Unstructured key value map stored with a resource.', { type: 'string' }),
        creationTimestamp: time('When this object was created. Read-only.'),
        deletionGracePeriodSeconds: int('Seconds allowed for graceful termination before the object is removed. Read-only.'),
        deletionTimestamp: time('When this object will be deleted. Set by the server when a graceful deletion is requested. Read-only.'),
        finalizers: arrayOf('Must be empty before the object is deleted from the registry.', { type: 'string', default: '' }, {
          'x-kubernetes-list-type': 'set',
          'x-kubernetes-patch-strategy': 'merge',
        }),
        generateName: str('Optional prefix used by the server to generate a unique name if name is not provided.'),
        generation: int('A sequence number representing a specific generation of the desired state. Read-only.'),
        labels: mapOf('Map of string keys and values used to organize and categorize objects.', { type: 'string' }),
        managedFields: arrayOf('Which field manager manages which fields, for server-side apply.', r.object(`${META}.ManagedFieldsEntry`), {
          'x-kubernetes-list-type': 'atomic',
        }),
        name: str('Name must be unique within a namespace.'),
        namespace: str('The namespace the object lives in; empty for cluster-scoped objects.'),
        ownerReferences: arrayOf('Objects this object depends on, for garbage collection.', r.object(`${META}.OwnerReference`), {
          'x-kubernetes-list-map-keys': ['uid'],
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-patch-merge-key': 'uid',
          'x-kubernetes-patch-strategy': 'merge',
        }),
        resourceVersion: str('The internal version of this object, for optimistic concurrency and watches. Read-only.'),
        selfLink: str('Deprecated; not set.'),
        uid: str('Unique in time and space for this object. Read-only.'),
      },
    },
    [`${META}.OwnerReference`]: {
      description: 'OwnerReference identifies an owning object, in the same namespace or cluster-scoped.',
      type: 'object',
      required: ['apiVersion', 'kind', 'name', 'uid'],
      properties: {
        apiVersion: str('API version of the referent.', { default: '' }),
        blockOwnerDeletion: bool('If true, the owner cannot be deleted from storage until this reference is removed (foreground deletion).'),
        controller: bool('If true, this reference points to the managing controller.'),
        kind: str('Kind of the referent.', { default: '' }),
        name: str('Name of the referent.', { default: '' }),
        uid: str('UID of the referent.', { default: '' }),
      },
      'x-kubernetes-map-type': 'atomic',
    },
    [`${META}.ManagedFieldsEntry`]: {
      description: 'ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource it applies to.',
      type: 'object',
      properties: {
        apiVersion: str('The version of the resource the field set applies to.'),
        fieldsType: str('The format of fieldsV1: always "FieldsV1".'),
        fieldsV1: free('The set of fields managed, in the FieldsV1 format.'),
        manager: str('The workflow managing these fields.'),
        operation: str('Apply or Update.'),
        subresource: str('The subresource used to update the object, if any.'),
        time: time('When these fields were last changed.'),
      },
    },
    [`${META}.ListMeta`]: {
      description: 'ListMeta describes metadata that synthetic resources must have, including lists.',
      type: 'object',
      properties: {
        continue: str('Token for the next page of a paged list.'),
        remainingItemCount: int('Items remaining after this page, when known.'),
        resourceVersion: str('The resourceVersion of the list. Read-only.'),
        selfLink: str('Deprecated; not set.'),
      },
    },
    [`${META}.StatusDetails`]: {
      description: 'Extended data about a Status.',
      type: 'object',
      properties: {
        causes: arrayOf('Causes of the error.', free('One cause.'), { 'x-kubernetes-list-type': 'atomic' }),
        group: str('The group of the resource the status is about.'),
        kind: str('The kind of the resource the status is about.'),
        name: str('The name of the resource the status is about.'),
        retryAfterSeconds: int('Seconds to wait before retrying.', 'int32'),
        uid: str('The uid of the resource the status is about.'),
      },
    },
    [`${META}.Status`]: {
      description: 'Status is the return value for calls that do not return other objects.',
      type: 'object',
      properties: {
        apiVersion: API_VERSION,
        code: int('Suggested HTTP return code.', 'int32'),
        details: r.object(`${META}.StatusDetails`, 'Extended data about the status.'),
        kind: KIND,
        message: str('A human-readable description of the status.'),
        metadata: r.object(`${META}.ListMeta`, 'Standard list metadata.'),
        reason: str('A machine-readable description of why the operation is in the "Failure" status.'),
        status: str('Success or Failure.'),
      },
      ...gvkExt('', 'v1', 'Status'),
    },
    [`${META}.Preconditions`]: {
      description: 'Preconditions must be fulfilled before an operation is carried out.',
      type: 'object',
      properties: { resourceVersion: str('The target resourceVersion.'), uid: str('The target UID.') },
    },
    [`${META}.DeleteOptions`]: {
      description: 'DeleteOptions may be provided when deleting an API object.',
      type: 'object',
      properties: {
        apiVersion: API_VERSION,
        dryRun: arrayOf('When "All", nothing is persisted.', { type: 'string', default: '' }, { 'x-kubernetes-list-type': 'atomic' }),
        gracePeriodSeconds: int('Seconds before the object is deleted.'),
        ignoreStoreReadErrorWithClusterBreakingPotential: bool('Delete objects that cannot be read from storage (unsafe).'),
        kind: KIND,
        orphanDependents: bool('Deprecated: use propagationPolicy.'),
        preconditions: r.object(`${META}.Preconditions`, 'Must be fulfilled before a deletion is carried out.'),
        propagationPolicy: str('Orphan, Background or Foreground.'),
      },
      ...gvks('DeleteOptions'),
    },
    [`${META}.Patch`]: { description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.', type: 'object' },
    [`${META}.WatchEvent`]: {
      description: 'Event represents a single event to a watched resource.',
      type: 'object',
      required: ['type', 'object'],
      properties: {
        object: free('The object: the changed object for ADDED, MODIFIED and DELETED, a Status for ERROR, an object with only a resourceVersion for BOOKMARK.'),
        type: str('ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.', { default: '' }),
      },
      ...gvks('WatchEvent'),
    },
    [`${META}.APIResource`]: {
      description: 'APIResource specifies the name of a resource and whether it is namespaced.',
      type: 'object',
      required: ['name', 'singularName', 'namespaced', 'kind', 'verbs'],
      properties: {
        categories: arrayOf('The grouped resources this resource belongs to.', { type: 'string', default: '' }, { 'x-kubernetes-list-type': 'atomic' }),
        group: str('The preferred group of the resource, for subresources of another group.'),
        kind: str('The kind of the resource.', { default: '' }),
        name: str('The plural name of the resource.', { default: '' }),
        namespaced: bool('Whether the resource is namespaced.'),
        shortNames: arrayOf('Suggested short names of the resource.', { type: 'string', default: '' }, { 'x-kubernetes-list-type': 'atomic' }),
        singularName: str('The singular name of the resource.', { default: '' }),
        storageVersionHash: str('A hash of the storage version.'),
        verbs: arrayOf('The supported verbs.', { type: 'string', default: '' }),
        version: str('The preferred version of the resource, for subresources of another group.'),
      },
    },
    [`${META}.APIResourceList`]: {
      description: 'APIResourceList is a list of APIResource, listing the resources of a group-version.',
      type: 'object',
      required: ['groupVersion', 'resources'],
      properties: {
        apiVersion: API_VERSION,
        groupVersion: str('The group and version of this list.', { default: '' }),
        kind: KIND,
        resources: arrayOf('The resources of this group-version.', r.object(`${META}.APIResource`), { 'x-kubernetes-list-type': 'atomic' }),
      },
      ...gvkExt('', 'v1', 'APIResourceList'),
    },
  };
}

/** Top-level fields of the kinds that have no spec. */
const TOP_LEVEL_FIELDS: Record<string, (r: Refs) => Record<string, JsonObject>> = {
  '/ConfigMap': () => ({
    binaryData: mapOf('Binary data, base64-encoded.', { type: 'string', format: 'byte' }),
    data: mapOf('Configuration data.', { type: 'string' }),
    immutable: bool('If true, the data cannot be changed.'),
  }),
  '/Secret': () => ({
    data: mapOf('Secret data, base64-encoded.', { type: 'string', format: 'byte' }),
    immutable: bool('If true, the data cannot be changed.'),
    stringData: mapOf('Write-only convenience: plain strings merged into data.', { type: 'string' }),
    type: str('Used to facilitate programmatic handling of secret data.'),
  }),
  '/Event': (r) => ({
    action: str('What action was taken or failed.'),
    count: int('The number of times this event has occurred.', 'int32'),
    eventTime: str('When this event was first observed (MicroTime).', { format: 'date-time' }),
    firstTimestamp: { ...r.ref(TIME), description: 'When this event was first recorded.' },
    involvedObject: free('The object this event is about.'),
    lastTimestamp: { ...r.ref(TIME), description: 'When this event was most recently recorded.' },
    message: str('A human-readable description of the status of this operation.'),
    reason: str('A short, machine-understandable reason for the transition into the object\'s current status.'),
    related: free('A secondary object for more complex actions.'),
    reportingComponent: str('The controller that emitted this event.'),
    reportingInstance: str('The ID of the controller instance.'),
    series: free('Data about the event series this event represents.'),
    source: free('The component reporting this event.'),
    type: str('Normal or Warning.'),
  }),
  'discovery.k8s.io/EndpointSlice': () => ({
    addressType: str('IPv4, IPv6 or FQDN.', { default: '' }),
    endpoints: arrayOf('The endpoints in this slice.', free('One endpoint.'), { 'x-kubernetes-list-type': 'atomic' }),
    ports: arrayOf('The network ports exposed by each endpoint.', free('One port.'), { 'x-kubernetes-list-type': 'atomic' }),
  }),
};

/** The schema of one kind at one version, and of its list. */
function kindSchemas(r: Refs, info: KindInfo, version: string): Record<string, JsonObject> {
  const { group, kind } = info;
  const topLevel = TOP_LEVEL_FIELDS[`${group}/${kind}`];
  const properties: Record<string, JsonObject> = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: r.object(`${META}.ObjectMeta`, 'Standard object metadata.'),
    ...(topLevel
      ? topLevel(r)
      : {
          spec: free(`The desired state of the ${kind}. (podnet publishes no field-level schema for it.)`),
          ...(info.subresources.status ? { status: free(`The observed state of the ${kind}. (podnet publishes no field-level schema for it.)`) } : {}),
        }),
  };
  return {
    [schemaName(group, version, kind)]: {
      description: `${kind} (${group || 'core'}/${version}).`,
      type: 'object',
      properties: Object.fromEntries(Object.entries(properties).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      ...gvkExt(group, version, kind),
    },
    [schemaName(group, version, `${kind}List`)]: {
      description: `${kind}List is a list of ${kind}.`,
      type: 'object',
      required: ['items'],
      properties: {
        apiVersion: API_VERSION,
        items: arrayOf(`The ${kind} objects.`, r.object(schemaName(group, version, kind))),
        kind: KIND,
        metadata: r.object(`${META}.ListMeta`, 'Standard list metadata.'),
      },
      ...gvkExt(group, version, `${kind}List`),
    },
  };
}

function scaleSchemas(r: Refs): Record<string, JsonObject> {
  return {
    [schemaName('autoscaling', 'v1', 'Scale')]: {
      description: 'Scale represents a scaling request for a resource.',
      type: 'object',
      properties: {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: r.object(`${META}.ObjectMeta`, 'Standard object metadata.'),
        spec: { description: 'The desired scale.', type: 'object', properties: { replicas: int('Desired number of instances.', 'int32') } },
        status: {
          description: 'The current scale. Read-only.',
          type: 'object',
          required: ['replicas'],
          properties: {
            replicas: int('Actual number of observed instances.', 'int32'),
            selector: str('Label query over the pods counted by replicas, in string form.'),
          },
        },
      },
      ...gvkExt('autoscaling', 'v1', 'Scale'),
    },
  };
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Every schema one group-version's operations refer to. */
function groupVersionSchemas(r: Refs, gv: ServedGroupVersion): Record<string, JsonObject> {
  const out: Record<string, JsonObject> = { ...metaSchemas(r, gv) };
  for (const info of gv.kinds) Object.assign(out, kindSchemas(r, info, gv.version));
  if (gv.kinds.some((k) => k.subresources.scale)) Object.assign(out, scaleSchemas(r));
  return sortKeys(out);
}

// ---------------------------------------------------------------------------------------------
// OpenAPI 3.0
// ---------------------------------------------------------------------------------------------

function v3Param(p: Param): JsonObject {
  return { name: p.name, in: p.in, description: p.description, ...(p.required ? { required: true } : {}), schema: { type: p.type, uniqueItems: true } };
}

function v3Operation(op: Operation, tag: string): JsonObject {
  const content = (schema: string, stream: boolean): JsonObject => {
    const s = { schema: V3_REFS.ref(schema) };
    return stream ? { 'application/json': s, 'application/json;stream=watch': s } : { 'application/json': s };
  };
  const out: JsonObject = { tags: [tag], description: op.description, operationId: op.operationId };
  if (op.params.length) out.parameters = op.params.map(v3Param);
  if (op.body) {
    out.requestBody = { content: Object.fromEntries(op.body.contentTypes.map((t) => [t, { schema: V3_REFS.ref(op.body!.schema) }])), required: true };
  }
  out.responses = Object.fromEntries(
    op.responses.map(([code, description, schema]) => [code, schema ? { description, content: content(schema, !!op.stream) } : { description }]),
  );
  if (op.action) out['x-kubernetes-action'] = op.action;
  if (op.gvk) out['x-kubernetes-group-version-kind'] = { group: op.gvk.group, kind: op.gvk.kind, version: op.gvk.version };
  return out;
}

function v3Paths(items: PathItem[], tag: string): JsonObject {
  return Object.fromEntries(
    items.map((item) => {
      const body: JsonObject = {};
      for (const op of item.ops) body[op.method] = v3Operation(op, tag);
      if (item.params.length) body.parameters = item.params.map(v3Param);
      return [item.path, body];
    }),
  );
}

/** An OpenAPI 3.0 document. */
export interface OpenAPIV3Document {
  openapi: '3.0.0';
  info: { title: string; version: string };
  paths: JsonObject;
  components: { schemas: Record<string, JsonObject> };
}

function v3Document(paths: JsonObject, schemas: Record<string, JsonObject>): OpenAPIV3Document {
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: KUBERNETES_VERSION }, paths, components: { schemas } };
}

/** Documents of the discovery endpoints themselves (`/api/`, `/apis/`, `/apis/<g>/`, `/version/`). */
function discoveryDocument(path: string, operationId: string, tag: string, description: string, schema: string, schemas: Record<string, JsonObject>): OpenAPIV3Document {
  return v3Document(
    {
      [path]: {
        get: {
          tags: [tag],
          description,
          operationId,
          responses: {
            '200': { description: 'OK', content: { 'application/json': { schema: V3_REFS.ref(schema) } } },
            '401': { description: 'Unauthorized' },
          },
        },
      },
    },
    schemas,
  );
}

const GROUP_VERSION_FOR_DISCOVERY = (r: Refs): Record<string, JsonObject> => ({
  [`${META}.GroupVersionForDiscovery`]: {
    description: 'GroupVersion contains the "group/version" and "version" string of a version.',
    type: 'object',
    required: ['groupVersion', 'version'],
    properties: { groupVersion: str('"group/version".', { default: '' }), version: str('"version".', { default: '' }) },
  },
  [`${META}.ServerAddressByClientCIDR`]: {
    description: 'Which server address a client should use for a client CIDR.',
    type: 'object',
    required: ['clientCIDR', 'serverAddress'],
    properties: { clientCIDR: str('The CIDR the client must match.', { default: '' }), serverAddress: str('host:port of the server.', { default: '' }) },
  },
  [`${META}.APIGroup`]: {
    description: 'APIGroup contains the name, the supported versions, and the preferred version of a group.',
    type: 'object',
    required: ['name', 'versions'],
    properties: {
      apiVersion: API_VERSION,
      kind: KIND,
      name: str('The name of the group.', { default: '' }),
      preferredVersion: r.object(`${META}.GroupVersionForDiscovery`, 'The version preferred by the server.'),
      serverAddressByClientCIDRs: arrayOf('Server addresses by client CIDR.', r.object(`${META}.ServerAddressByClientCIDR`), { 'x-kubernetes-list-type': 'atomic' }),
      versions: arrayOf('The versions supported in this group.', r.object(`${META}.GroupVersionForDiscovery`), { 'x-kubernetes-list-type': 'atomic' }),
    },
    ...gvkExt('', 'v1', 'APIGroup'),
  },
});

let v3Cache: Map<string, OpenAPIV3Document> | undefined;

function v3Documents(): Map<string, OpenAPIV3Document> {
  if (v3Cache) return v3Cache;
  const docs = new Map<string, OpenAPIV3Document>();
  const discovery = GROUP_VERSION_FOR_DISCOVERY(V3_REFS);
  docs.set(
    'api',
    discoveryDocument('/api/', 'getCoreAPIVersions', 'core', 'get available API versions', `${META}.APIVersions`, sortKeys({
      [`${META}.APIVersions`]: {
        description: 'APIVersions lists the versions available, at /api.',
        type: 'object',
        required: ['versions', 'serverAddressByClientCIDRs'],
        properties: {
          apiVersion: API_VERSION,
          kind: KIND,
          serverAddressByClientCIDRs: arrayOf('Server addresses by client CIDR.', V3_REFS.object(`${META}.ServerAddressByClientCIDR`), { 'x-kubernetes-list-type': 'atomic' }),
          versions: arrayOf('The versions available.', { type: 'string', default: '' }, { 'x-kubernetes-list-type': 'atomic' }),
        },
        ...gvkExt('', 'v1', 'APIVersions'),
      },
      [`${META}.ServerAddressByClientCIDR`]: discovery[`${META}.ServerAddressByClientCIDR`]!,
    })),
  );
  docs.set(
    'apis',
    discoveryDocument('/apis/', 'getAPIVersions', 'apis', 'get available API versions', `${META}.APIGroupList`, sortKeys({
      ...discovery,
      [`${META}.APIGroupList`]: {
        description: 'APIGroupList is a list of APIGroup, at /apis.',
        type: 'object',
        required: ['groups'],
        properties: {
          apiVersion: API_VERSION,
          groups: arrayOf('The groups.', V3_REFS.object(`${META}.APIGroup`), { 'x-kubernetes-list-type': 'atomic' }),
          kind: KIND,
        },
        ...gvkExt('', 'v1', 'APIGroupList'),
      },
    })),
  );
  for (const group of servedGroups()) {
    if (group === '') continue;
    const p = groupPrefix(group);
    docs.set(
      `apis/${group}`,
      discoveryDocument(`/apis/${group}/`, `get${p}APIGroup`, `${p.charAt(0).toLowerCase()}${p.slice(1)}`, 'get information of a group', `${META}.APIGroup`, sortKeys(discovery)),
    );
  }
  for (const gv of servedGroupVersions()) {
    docs.set(openapiV3PathOf(gv.group, gv.version), v3Document(v3Paths(pathsOf(gv), tagOf(gv.group, gv.version)), groupVersionSchemas(V3_REFS, gv)));
  }
  docs.set(
    'version',
    discoveryDocument('/version/', 'getCodeVersion', 'version', 'get the version information for this server', 'io.k8s.apimachinery.pkg.version.Info', {
      'io.k8s.apimachinery.pkg.version.Info': {
        description: 'Info contains versioning information.',
        type: 'object',
        required: ['major', 'minor', 'gitVersion', 'gitCommit', 'gitTreeState', 'buildDate', 'goVersion', 'compiler', 'platform'],
        properties: Object.fromEntries(
          ['buildDate', 'compiler', 'gitCommit', 'gitTreeState', 'gitVersion', 'goVersion', 'major', 'minor', 'platform'].map((k) => [k, { type: 'string', default: '' }]),
        ),
      },
    }),
  );
  v3Cache = new Map([...docs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return v3Cache;
}

/** The `/openapi/v3` index keys: `api`, `api/v1`, `apis`, `apis/apps`, `apis/apps/v1`, ..., `version`. */
export function openapiV3Paths(): string[] {
  return [...v3Documents().keys()];
}

/**
 * The OpenAPI 3.0 document served at `/openapi/v3/<path>`, for an index key (`api/v1`,
 * `apis/apps/v1`, `apis/apps`, `api`, `apis`, `version`) or a group-version (`v1`, `apps/v1`);
 * undefined when podnet serves no such document. The same object on every call: serve it as is.
 */
export function openapiV3Document(path: string): OpenAPIV3Document | undefined {
  const key = path.replace(/^\/+|\/+$/g, '');
  const docs = v3Documents();
  const doc = docs.get(key);
  if (doc || key.startsWith('api') || key === 'version') return doc;
  const gv = servedGroupVersion(key);
  return gv && docs.get(openapiV3PathOf(gv.group, gv.version));
}

const v3Hashes = new Map<string, string>();

/**
 * The content hash of a v3 document, as kube-openapi computes the `hash` of its index entries and
 * the document's ETag: upper-case hex SHA-512 of `JSON.stringify(document)` (the bytes to serve).
 */
export function openapiV3Hash(path: string): string | undefined {
  const doc = openapiV3Document(path);
  if (!doc) return undefined;
  const key = path.replace(/^\/+|\/+$/g, '');
  let hash = v3Hashes.get(key);
  if (!hash) v3Hashes.set(key, (hash = contentHash(doc)));
  return hash;
}

/**
 * The `/openapi/v3` index: one entry per document, each pointing at
 * `/openapi/v3/<path>?hash=<HASH>`. Clients cache a document by that URL, so the server should
 * answer a request whose `hash` matches with `Cache-Control: public, immutable` (and the ETag
 * `"<HASH>"`), as upstream does. `hashFor` overrides how a document's hash is computed.
 */
export function openapiV3Root(hashFor: (path: string) => string = (p) => openapiV3Hash(p)!): {
  paths: Record<string, { serverRelativeURL: string }>;
} {
  return {
    paths: Object.fromEntries(openapiV3Paths().map((p) => [p, { serverRelativeURL: `/openapi/v3/${p}?hash=${hashFor(p)}` }])),
  };
}

// ---------------------------------------------------------------------------------------------
// Swagger 2.0 (/openapi/v2)
// ---------------------------------------------------------------------------------------------

function v2Param(p: Param): JsonObject {
  return { uniqueItems: true, type: p.type, description: p.description, name: p.name, in: p.in, ...(p.required ? { required: true } : {}) };
}

function v2Operation(op: Operation, tag: string): JsonObject {
  const out: JsonObject = {
    description: op.description,
    consumes: op.body ? op.body.contentTypes : ['*/*'],
    produces: op.stream ? ['application/json', 'application/json;stream=watch'] : ['application/json'],
    schemes: ['https'],
    tags: [tag],
    operationId: op.operationId,
  };
  const params: JsonObject[] = [];
  if (op.body) params.push({ name: 'body', in: 'body', required: true, schema: V2_REFS.ref(op.body.schema) });
  params.push(...op.params.map(v2Param));
  if (params.length) out.parameters = params;
  out.responses = Object.fromEntries(op.responses.map(([code, description, schema]) => [code, schema ? { description, schema: V2_REFS.ref(schema) } : { description }]));
  if (op.action) out['x-kubernetes-action'] = op.action;
  if (op.gvk) out['x-kubernetes-group-version-kind'] = { group: op.gvk.group, kind: op.gvk.kind, version: op.gvk.version };
  return out;
}

/** A Swagger 2.0 document. */
export interface SwaggerDocument {
  swagger: '2.0';
  info: { title: string; version: string };
  paths: JsonObject;
  definitions: Record<string, JsonObject>;
}

let v2Cache: SwaggerDocument | undefined;

/**
 * The `/openapi/v2` document: every served group-version's paths and definitions in one Swagger
 * 2.0 document, with the same operations, parameters and minimal schemas as the v3 documents.
 * JSON only: a real apiserver also serves it as protobuf, which is the only form client-go asks
 * for, so the server should answer a protobuf-only `Accept` with 406.
 */
export function openapiV2(): SwaggerDocument {
  if (v2Cache) return v2Cache;
  const paths: JsonObject = {};
  let definitions: Record<string, JsonObject> = {};
  for (const gv of servedGroupVersions()) {
    const tag = tagOf(gv.group, gv.version);
    for (const item of pathsOf(gv)) {
      const body: JsonObject = {};
      for (const op of item.ops) body[op.method] = v2Operation(op, tag);
      if (item.params.length) body.parameters = item.params.map(v2Param);
      paths[item.path] = body;
    }
    const schemas = groupVersionSchemas(V2_REFS, gv);
    for (const [name, schema] of Object.entries(schemas)) {
      const known = definitions[name];
      // Shared meta types list every group-version they are served in.
      if (known && Array.isArray(known['x-kubernetes-group-version-kind']) && Array.isArray(schema['x-kubernetes-group-version-kind'])) {
        const seen = new Set((known['x-kubernetes-group-version-kind'] as JsonObject[]).map((g) => JSON.stringify(g)));
        const merged = [...(known['x-kubernetes-group-version-kind'] as JsonObject[])];
        for (const g of schema['x-kubernetes-group-version-kind'] as JsonObject[]) if (!seen.has(JSON.stringify(g))) merged.push(g);
        definitions[name] = { ...known, 'x-kubernetes-group-version-kind': merged };
      } else if (!known) {
        definitions[name] = schema;
      }
    }
  }
  definitions = sortKeys(definitions);
  v2Cache = {
    swagger: '2.0',
    info: { title: 'Kubernetes', version: KUBERNETES_VERSION },
    paths: sortKeys(paths),
    definitions,
  };
  return v2Cache;
}

/** The media type client-go asks `/openapi/v2` for (gnostic's OpenAPI v2 protobuf). */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

/**
 * The media type the answer carries: kube-openapi's form without the `@`, which Go's
 * mime.ParseMediaType (and so client-go) can parse.
 */
export const OPENAPI_V2_PROTOBUF_RESPONSE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

/**
 * `/openapi/v2` as gnostic protobuf (openapi.v2.Document), which is the only form client-go
 * asks for. podnet encodes just `swagger` (field 1) and `info` (field 2: title 1, version 2):
 * with no definitions, kubectl's client-side schema validation finds no schema for any kind and
 * leaves validation to the server, which validates every write.
 */
export function openapiV2Protobuf(gitVersion: string): Buffer {
  const str = (field: number, s: string) => {
    const bytes = Buffer.from(s, 'utf8');
    return Buffer.concat([Buffer.from([(field << 3) | 2]), varint(bytes.length), bytes]);
  };
  const info = Buffer.concat([str(1, 'Kubernetes'), str(2, gitVersion)]);
  return Buffer.concat([str(1, '2.0'), Buffer.from([(2 << 3) | 2]), varint(info.length), info]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
