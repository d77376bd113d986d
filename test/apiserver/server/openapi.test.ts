import { createHash } from 'node:crypto';
import t from 'tap';
import { KINDS, type KindInfo } from '../../../lib/api/scheme.js';
import { servedGroupVersions, servedVersionsOf } from '../../../lib/apiserver/server/discovery.js';
import {
  openapiV2,
  openapiV3Document,
  openapiV3Hash,
  openapiV3PathOf,
  openapiV3Paths,
  openapiV3Root,
  schemaName,
  type JsonObject,
} from '../../../lib/apiserver/server/openapi.js';

type Op = JsonObject & { parameters?: { name: string; in: string }[]; 'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string } };

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

function operations(paths: JsonObject): { path: string; method: string; op: Op }[] {
  return Object.entries(paths).flatMap(([path, item]) =>
    METHODS.filter((m) => (item as JsonObject)[m]).map((method) => ({ path, method, op: (item as JsonObject)[method] as Op })),
  );
}

/** Every `$ref` in a document, to check that each resolves. */
function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) refs(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

const sameGvk = (a: { group: string; version: string; kind: string } | undefined, group: string, version: string, kind: string) =>
  a?.group === group && a.version === version && a.kind === kind;

/**
 * cli-runtime query_param_verifier_v3.go `supportsQueryParamV3`: walks the paths (in Go map
 * order), takes the first PATCH whose GVK matches and answers whether its own parameters name
 * the query parameter. Map order is random, so the answer must be the same for every match.
 */
function supportsQueryParamV3(doc: { paths: JsonObject }, group: string, version: string, kind: string, param: string): boolean[] {
  return operations(doc.paths)
    .filter(({ method, op }) => method === 'patch' && sameGvk(op['x-kubernetes-group-version-kind'], group, version, kind))
    .map(({ op }) => (op.parameters ?? []).some((p) => p.name === param));
}

// "The Kubernetes API" concept page, "OpenAPI interface definition" → "OpenAPI V3": `/openapi/v3`
// lists every group-version as `"apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=..."}`;
// the hash identifies an immutable document (kube-openapi handler3: hex SHA-512, upper-case).
t.test('OpenAPI V3: the /openapi/v3 index', async (t) => {
  const root = openapiV3Root();
  const keys = Object.keys(root.paths);
  for (const k of ['api', 'api/v1', 'apis', 'apis/apps', 'apis/apps/v1', 'apis/discovery.k8s.io/v1', 'apis/networking.k8s.io/v1', 'apis/gateway.networking.k8s.io/v1', 'apis/gateway.networking.k8s.io/v1beta1', 'apis/projectcalico.org/v3', 'version']) {
    t.ok(keys.includes(k), k);
  }
  t.strictSame(keys, [...keys].sort(), 'keys sorted, as Go encodes a map');
  t.strictSame(keys, openapiV3Paths());
  for (const gv of servedGroupVersions()) t.ok(keys.includes(openapiV3PathOf(gv.group, gv.version)), gv.groupVersion);
  for (const [key, { serverRelativeURL }] of Object.entries(root.paths)) {
    const m = /^\/openapi\/v3\/(.+)\?hash=([0-9A-F]{128})$/.exec(serverRelativeURL);
    t.ok(m, serverRelativeURL);
    t.equal(m![1], key);
    const doc = openapiV3Document(key)!;
    t.equal(m![2], createHash('sha512').update(JSON.stringify(doc)).digest('hex').toUpperCase(), `${key}: hash of the served JSON`);
  }
  t.strictSame(openapiV3Root(), root, 'stable');
  t.equal(openapiV3Root((p) => `h-${p}`).paths['api/v1']!.serverRelativeURL, '/openapi/v3/api/v1?hash=h-api/v1');
  t.equal(openapiV3Hash('nope/v1'), undefined);
});

t.test('OpenAPI V3: document lookup', async (t) => {
  t.equal(openapiV3Document('apps/v1'), openapiV3Document('apis/apps/v1'), 'by group-version');
  t.equal(openapiV3Document('v1'), openapiV3Document('api/v1'));
  t.equal(openapiV3Document('/apis/apps/v1/'), openapiV3Document('apis/apps/v1'));
  t.equal(openapiV3Document('apis/batch/v1'), undefined);
  t.equal(openapiV3Document('apps/v1beta2'), undefined);
  const doc = openapiV3Document('apis/apps/v1')!;
  t.equal(doc.openapi, '3.0.0');
  t.strictSame(doc.info, { title: 'Kubernetes', version: 'v1.32.0' });
  t.ok(openapiV3Document('version')!.paths['/version/']);
  t.ok(openapiV3Document('apis/apps')!.paths['/apis/apps/']);
});

// "API Concepts", "Field validation": POST, PUT and PATCH take `fieldValidation` (Ignore, Warn,
// Strict); kubectl sends it only when the OpenAPI v3 document shows the PATCH operation of the
// object's GVK with that parameter (cli-runtime query_param_verifier_v3.go).
t.test('Field validation: every kind passes kubectl\'s OpenAPI v3 fieldValidation check', async (t) => {
  for (const info of KINDS) {
    for (const version of servedVersionsOf(info)) {
      const doc = openapiV3Document(info.group ? `${info.group}/${version}` : version)!;
      const answers = supportsQueryParamV3(doc, info.group, version, info.kind, 'fieldValidation');
      t.ok(answers.length > 0, `${info.kind}.${info.group || 'core'}/${version}: has PATCH operations`);
      t.ok(answers.every(Boolean), `${info.kind}.${info.group || 'core'}/${version}: every PATCH takes fieldValidation`);
    }
  }
});

// "API Concepts" ("Field validation", "Dry-run", "Server Side Apply" for fieldManager and force)
// and the upstream OpenAPI: create (POST), replace (PUT) and patch (PATCH) carry dryRun,
// fieldManager, fieldValidation on the operation; PATCH also force and the patch body types.
t.test('OpenAPI V3: POST, PUT and PATCH parameters and PATCH body types', async (t) => {
  for (const gv of servedGroupVersions()) {
    const doc = openapiV3Document(openapiV3PathOf(gv.group, gv.version))!;
    const ops = operations(doc.paths);
    for (const info of gv.kinds) {
      const mine = ops.filter(({ op }) => sameGvk(op['x-kubernetes-group-version-kind'], gv.group, gv.version, info.kind));
      const post = mine.filter(({ method }) => method === 'post');
      const patch = mine.filter(({ method }) => method === 'patch');
      t.equal(post.length, 1, `${gv.groupVersion} ${info.kind}: one create`);
      t.equal(patch.length, 1 + (info.subresources.status ? 1 : 0), `${gv.groupVersion} ${info.kind}: patch, and status patch`);
      for (const { method, op, path } of mine.filter(({ method }) => method === 'post' || method === 'put' || method === 'patch')) {
        const names = (op.parameters ?? []).map((p) => p.name);
        const want = method === 'patch' ? ['dryRun', 'fieldManager', 'fieldValidation', 'force'] : ['dryRun', 'fieldManager', 'fieldValidation'];
        t.strictSame(names, want, `${method} ${path}`);
        t.ok(op.parameters!.every((p) => p.in === 'query'));
      }
      for (const { op, path } of patch) {
        const content = Object.keys((op.requestBody as { content: JsonObject }).content);
        t.strictSame(content, ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json'], path);
        t.equal(op['x-kubernetes-action'], 'patch');
      }
      t.equal(post[0]!.op['x-kubernetes-action'], 'post');
    }
  }
});

// "API Concepts", "Efficient detection of changes" and "Retrieving large results sets in chunks":
// collections list (namespaced and across namespaces), watch, and per-object paths; subresources
// `/status` and `/scale` (autoscaling/v1 Scale).
t.test('OpenAPI V3: the served paths of apps/v1 and core/v1', async (t) => {
  const apps = openapiV3Document('apis/apps/v1')!.paths as Record<string, JsonObject>;
  const d = '/apis/apps/v1/namespaces/{namespace}/deployments';
  const actions = (path: string) =>
    Object.fromEntries(METHODS.filter((m) => apps[path]?.[m]).map((m) => [m, (apps[path]![m] as Op)['x-kubernetes-action']]));
  t.strictSame(actions(d), { get: 'list', post: 'post', delete: 'deletecollection' });
  t.strictSame(actions(`${d}/{name}`), { get: 'get', put: 'put', delete: 'delete', patch: 'patch' });
  t.strictSame(actions(`${d}/{name}/status`), { get: 'get', put: 'put', patch: 'patch' });
  t.strictSame(actions(`${d}/{name}/scale`), { get: 'get', put: 'put', patch: 'patch' });
  t.strictSame(actions('/apis/apps/v1/deployments'), { get: 'list' });
  t.strictSame(actions('/apis/apps/v1/watch/namespaces/{namespace}/deployments'), { get: 'watchlist' });
  t.strictSame(actions('/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}'), { get: 'watch' });
  t.strictSame(actions('/apis/apps/v1/watch/deployments'), { get: 'watchlist' });
  t.notOk(apps['/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}/scale']);

  const scalePatch = apps[`${d}/{name}/scale`]!.patch as Op;
  t.strictSame(scalePatch['x-kubernetes-group-version-kind'], { group: 'autoscaling', kind: 'Scale', version: 'v1' });
  t.equal(scalePatch.operationId, 'patchAppsV1NamespacedDeploymentScale');
  t.equal((apps[`${d}/{name}`]!.patch as Op).operationId, 'patchAppsV1NamespacedDeployment');
  t.strictSame(
    (apps[`${d}/{name}`]!.parameters as { name: string }[]).map((p) => p.name),
    ['name', 'namespace', 'pretty'],
    'path-level parameters',
  );
  const list = apps[d]!.get as Op;
  t.strictSame(
    list.parameters!.map((p) => p.name),
    ['allowWatchBookmarks', 'continue', 'fieldSelector', 'labelSelector', 'limit', 'resourceVersion', 'resourceVersionMatch', 'sendInitialEvents', 'timeoutSeconds', 'watch'],
  );

  const core = openapiV3Document('api/v1')!.paths as Record<string, JsonObject>;
  t.ok(core['/api/v1/namespaces/{namespace}/pods/{name}/status']);
  t.ok(core['/api/v1/pods'], 'pods across namespaces');
  t.ok(core['/api/v1/nodes/{name}'], 'cluster-scoped item path');
  t.notOk(core['/api/v1/namespaces/{namespace}/nodes'], 'no namespaced path for a cluster-scoped kind');
  t.equal((core['/api/v1/nodes']!.get as Op).operationId, 'listCoreV1Node');
  t.equal((core['/api/v1/pods']!.get as Op).operationId, 'listCoreV1PodForAllNamespaces');

  for (const gv of servedGroupVersions()) {
    const ids = operations(openapiV3Document(openapiV3PathOf(gv.group, gv.version))!.paths).map(({ op }) => op.operationId);
    t.equal(new Set(ids).size, ids.length, `${gv.groupVersion}: operationIds unique`);
  }
});

// Upstream OpenAPI component names and the `x-kubernetes-group-version-kind` extension on
// definitions (kubernetes api/openapi-spec README, "Vendor Extensions"); schemas are outlines.
t.test('OpenAPI V3: component schemas per kind', async (t) => {
  t.equal(schemaName('', 'v1', 'Pod'), 'io.k8s.api.core.v1.Pod');
  t.equal(schemaName('apps', 'v1', 'Deployment'), 'io.k8s.api.apps.v1.Deployment');
  t.equal(schemaName('discovery.k8s.io', 'v1', 'EndpointSlice'), 'io.k8s.api.discovery.v1.EndpointSlice');
  t.equal(schemaName('networking.k8s.io', 'v1', 'NetworkPolicy'), 'io.k8s.api.networking.v1.NetworkPolicy');
  t.equal(schemaName('gateway.networking.k8s.io', 'v1beta1', 'HTTPRoute'), 'io.k8s.networking.gateway.v1beta1.HTTPRoute');
  t.equal(schemaName('projectcalico.org', 'v3', 'NetworkPolicy'), 'org.projectcalico.v3.NetworkPolicy');

  const schemas = openapiV3Document('api/v1')!.components.schemas;
  const pod = schemas['io.k8s.api.core.v1.Pod']!;
  t.strictSame(pod['x-kubernetes-group-version-kind'], [{ group: '', kind: 'Pod', version: 'v1' }]);
  const props = pod.properties as Record<string, JsonObject>;
  t.strictSame(Object.keys(props), ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  t.strictSame(props.metadata!.allOf, [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' }]);
  t.equal(props.spec!.type, 'object');
  t.equal(props.spec!['x-kubernetes-preserve-unknown-fields'], true);
  t.equal(props.status!['x-kubernetes-preserve-unknown-fields'], true);
  t.strictSame(Object.keys(schemas['io.k8s.api.core.v1.ConfigMap']!.properties as JsonObject), ['apiVersion', 'binaryData', 'data', 'immutable', 'kind', 'metadata']);
  t.ok(schemas['io.k8s.api.core.v1.PodList'], 'list schema');

  // ObjectMeta is a real schema: kubectl apply walks metadata.annotations and ownerReferences.
  const meta = schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta']!.properties as Record<string, JsonObject>;
  t.equal(meta.ownerReferences!['x-kubernetes-patch-merge-key'], 'uid');
  t.equal(meta.finalizers!['x-kubernetes-patch-strategy'], 'merge');

  for (const info of KINDS) {
    for (const version of servedVersionsOf(info)) {
      const doc = openapiV3Document(info.group ? `${info.group}/${version}` : version)!;
      const matching = Object.values(doc.components.schemas).filter((s) =>
        ((s['x-kubernetes-group-version-kind'] ?? []) as { group: string; version: string; kind: string }[]).some((g) => sameGvk(g, info.group, version, info.kind)),
      );
      t.equal(matching.length, 1, `${info.kind}.${info.group || 'core'}/${version}: exactly one schema`);
    }
  }
  t.ok(openapiV3Document('apis/apps/v1')!.components.schemas['io.k8s.api.autoscaling.v1.Scale'], 'Scale, for the scale subresource');
});

// The kubectl apply decision (kubectl patcher.go gvkSupportsPatchOpenAPIV3): with no strategic
// merge patch advertised, kubectl builds the patch from its compiled-in types (built-in kinds) or
// as a JSON merge patch (custom resources), not from these outline schemas.
t.test('OpenAPI V3: no strategic merge patch advertised, so kubectl apply does not use the outline schemas', async (t) => {
  for (const gv of servedGroupVersions()) {
    for (const { op, method } of operations(openapiV3Document(openapiV3PathOf(gv.group, gv.version))!.paths)) {
      if (method !== 'patch') continue;
      t.notOk('application/strategic-merge-patch+json' in (op.requestBody as { content: JsonObject }).content);
    }
  }
});

t.test('OpenAPI V3 and V2: every $ref resolves in its own document', async (t) => {
  for (const key of openapiV3Paths()) {
    const doc = openapiV3Document(key)!;
    for (const ref of refs(doc)) {
      const name = ref.replace('#/components/schemas/', '');
      t.ok(ref.startsWith('#/components/schemas/') && doc.components.schemas[name], `${key}: ${ref}`);
    }
  }
  const v2 = openapiV2();
  const missing = refs(v2).filter((ref) => !(ref.startsWith('#/definitions/') && v2.definitions[ref.slice('#/definitions/'.length)]));
  t.strictSame(missing, [], 'v2');
});

// "The Kubernetes API", "OpenAPI V2": one Swagger 2.0 document at /openapi/v2; kubectl's v2
// fallback verifier (query_param_verifier.go) reads the PATCH operation's inline query
// parameters, and `consumes` lists the patch types.
t.test('OpenAPI V2: a Swagger 2.0 document with the same operations', async (t) => {
  const doc = openapiV2();
  t.equal(doc.swagger, '2.0');
  const deployment = doc.definitions['io.k8s.api.apps.v1.Deployment']!;
  t.strictSame(deployment['x-kubernetes-group-version-kind'], [{ group: 'apps', kind: 'Deployment', version: 'v1' }]);
  t.strictSame((deployment.properties as Record<string, JsonObject>).metadata, {
    description: 'Standard object metadata.',
    $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta',
  });
  const byKind = (info: KindInfo, version: string) =>
    operations(doc.paths).filter(({ method, op }) => method === 'patch' && sameGvk(op['x-kubernetes-group-version-kind'], info.group, version, info.kind));
  for (const info of KINDS) {
    for (const version of servedVersionsOf(info)) {
      const patches = byKind(info, version);
      t.ok(patches.length > 0, `${info.kind}.${info.group || 'core'}/${version}`);
      for (const { op } of patches) {
        t.ok((op.parameters ?? []).some((p) => p.name === 'fieldValidation' && p.in === 'query'));
        t.strictSame(op.consumes, ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json']);
      }
      t.ok(doc.definitions[schemaName(info.group, version, info.kind)]);
    }
  }
  const post = (doc.paths['/api/v1/namespaces/{namespace}/pods'] as JsonObject).post as Op;
  t.strictSame(post.parameters![0], { name: 'body', in: 'body', required: true, schema: { $ref: '#/definitions/io.k8s.api.core.v1.Pod' } });
  const status = doc.definitions['io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions']!['x-kubernetes-group-version-kind'] as unknown[];
  t.ok(status.length > 1, 'shared meta types list every group-version');
  t.equal(openapiV2(), doc, 'built once');
});
