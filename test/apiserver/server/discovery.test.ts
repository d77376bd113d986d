import t from 'tap';
import { KINDS } from '../../../lib/api/scheme.js';
import {
  AGGREGATED_DISCOVERY_CONTENT_TYPE,
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  compareKubeAwareVersions,
  contentHash,
  discoveryContentType,
  negotiateDiscovery,
  servedGroupVersions,
  servedResource,
  storageVersionHash,
  versionInfo,
} from '../../../lib/apiserver/server/discovery.js';

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const CRD_VERBS = ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];

// `curl https://<apiserver>/version` on a v1.32.0 control plane (the Kubernetes The Hard Way
// "Verification" step shows this body); k8s.io/apimachinery/pkg/version.Info.
t.test('/version: the v1.32.0 release as its apiserver reports it', async (t) => {
  t.strictSame(versionInfo(), {
    major: '1',
    minor: '32',
    gitVersion: 'v1.32.0',
    gitCommit: '70d3cc986aa8221cd1dfb1121852688902d3bf53',
    gitTreeState: 'clean',
    buildDate: '2024-12-11T17:59:15Z',
    goVersion: 'go1.23.3',
    compiler: 'gc',
    platform: 'linux/amd64',
  });
  const other = versionInfo('v1.31.4');
  t.equal(other.major, '1');
  t.equal(other.minor, '31');
  t.equal(other.gitVersion, 'v1.31.4');
});

// "The Kubernetes API" concept page, "Discovery API" → "Unaggregated discovery": `/api` lists the
// core versions (APIVersions), `/apis` the named groups (APIGroupList), each with its preferred
// version; meta/v1 APIVersions carries serverAddressByClientCIDRs.
t.test('Unaggregated discovery: /api and /apis', async (t) => {
  t.strictSame(apiVersions('127.0.0.1:6443'), {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }],
  });

  const list = apiGroupList();
  t.equal(list.kind, 'APIGroupList');
  t.equal(list.apiVersion, 'v1');
  const names = list.groups.map((g) => g.name);
  for (const g of ['apps', 'discovery.k8s.io', 'networking.k8s.io', 'gateway.networking.k8s.io', 'projectcalico.org']) {
    t.ok(names.includes(g), `${g} listed`);
  }
  t.notOk(names.includes(''), 'the core group is not in /apis');
  // Built-in groups come before custom-resource groups (APIService priorities), by name after that.
  t.strictSame(names, ['apps', 'networking.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io', 'gateway.networking.k8s.io', 'projectcalico.org']);

  const gateway = list.groups.find((g) => g.name === 'gateway.networking.k8s.io')!;
  t.strictSame(gateway, {
    name: 'gateway.networking.k8s.io',
    versions: [
      { groupVersion: 'gateway.networking.k8s.io/v1', version: 'v1' },
      { groupVersion: 'gateway.networking.k8s.io/v1beta1', version: 'v1beta1' },
    ],
    preferredVersion: { groupVersion: 'gateway.networking.k8s.io/v1', version: 'v1' },
  });
  t.strictSame(apiGroup('apps'), {
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: 'apps',
    versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
    preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
  });
  t.equal(apiGroup('batch'), undefined, 'a group podnet does not serve');
  t.equal(apiGroup(''), undefined);
});

// "The Kubernetes API", "Unaggregated discovery": `/api/v1` is an APIResourceList; the entries
// below are what `kubectl get --raw /api/v1` shows for pods on a real cluster (meta/v1 APIResource:
// singularName always present, empty for subresources; storageVersionHash only on resources).
t.test('Unaggregated discovery: /api/v1 pods and pods/status', async (t) => {
  const list = apiResourceList('', 'v1')!;
  t.equal(list.kind, 'APIResourceList');
  t.equal(list.groupVersion, 'v1');
  t.notOk('apiVersion' in list, 'core /api/v1 has no apiVersion, as upstream');
  const pods = list.resources.find((r) => r.name === 'pods');
  t.strictSame(pods, {
    name: 'pods',
    singularName: 'pod',
    namespaced: true,
    kind: 'Pod',
    verbs: ALL_VERBS,
    shortNames: ['po'],
    categories: ['all'],
    storageVersionHash: 'xPOwRZ+Yhw8=',
  });
  t.strictSame(
    list.resources.find((r) => r.name === 'pods/status'),
    { name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] },
  );
  // The namespace registry has no deletecollection.
  t.strictSame(list.resources.find((r) => r.name === 'namespaces')!.verbs, ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']);
  t.strictSame(list.resources.find((r) => r.name === 'nodes')!.namespaced, false);
  // Sorted by name, subresources after their resource; only what podnet serves.
  const names = list.resources.map((r) => r.name);
  t.strictSame(names, [...names].sort());
  t.notOk(names.includes('pods/log'));
  t.notOk(names.includes('namespaces/finalize'));
  t.notOk(names.some((n) => n.startsWith('endpoints')), 'no core Endpoints: podnet stores EndpointSlices');
});

// "The Kubernetes API", "Unaggregated discovery": `/apis/apps/v1`; deployments/scale is the
// autoscaling/v1 Scale subresource and names its group and version.
t.test('Unaggregated discovery: /apis/apps/v1 deployments, deployments/scale, deployments/status', async (t) => {
  const list = apiResourceList('apps', 'v1')!;
  t.equal(list.apiVersion, 'v1');
  t.equal(list.groupVersion, 'apps/v1');
  const byName = new Map(list.resources.map((r) => [r.name, r]));
  t.strictSame(byName.get('deployments'), {
    name: 'deployments',
    singularName: 'deployment',
    namespaced: true,
    kind: 'Deployment',
    verbs: ALL_VERBS,
    shortNames: ['deploy'],
    categories: ['all'],
    storageVersionHash: '8aSe+NMegvE=',
  });
  t.strictSame(byName.get('deployments/scale'), {
    name: 'deployments/scale',
    singularName: '',
    namespaced: true,
    group: 'autoscaling',
    version: 'v1',
    kind: 'Scale',
    verbs: ['get', 'patch', 'update'],
  });
  t.strictSame(byName.get('deployments/status'), {
    name: 'deployments/status',
    singularName: '',
    namespaced: true,
    kind: 'Deployment',
    verbs: ['get', 'patch', 'update'],
  });
  t.ok(byName.has('statefulsets/scale') && byName.has('replicasets/scale'));
  t.notOk(byName.has('daemonsets/scale'), 'DaemonSets have no scale subresource');
  t.equal(apiResourceList('apps', 'v1beta2'), undefined);
  t.equal(apiResourceList('batch', 'v1'), undefined);
});

// "The Kubernetes API", "Unaggregated discovery", for the other groups: every KINDS entry is
// listed once in its group-version, and the Gateway API kinds also at v1beta1 (Gateway API
// "Versioning": HTTPRoute, Gateway and GatewayClass are served at v1 and v1beta1).
t.test('Unaggregated discovery: every stored kind, and the v1beta1 Gateway API versions', async (t) => {
  for (const info of KINDS) {
    const list = apiResourceList(info.group, info.version)!;
    const entry = list.resources.find((r) => r.name === info.resource);
    t.ok(entry, `${info.resource}.${info.group || 'core'}`);
    t.equal(entry!.kind, info.kind);
    t.equal(entry!.namespaced, info.namespaced);
    t.strictSame(entry!.shortNames ?? [], info.shortNames);
  }
  const v1beta1 = apiResourceList('gateway.networking.k8s.io', 'v1beta1')!;
  t.strictSame(
    v1beta1.resources.map((r) => r.name),
    ['gatewayclasses', 'gatewayclasses/status', 'gateways', 'gateways/status', 'httproutes', 'httproutes/status', 'referencegrants'],
  );
  const httproutes = v1beta1.resources.find((r) => r.name === 'httproutes')!;
  t.strictSame(httproutes.verbs, CRD_VERBS, 'custom resources list verbs in the CRD handler order');
  t.equal(
    httproutes.storageVersionHash,
    storageVersionHash(KINDS.find((k) => k.kind === 'HTTPRoute')!),
    'one storage version hash whatever the served version',
  );
  t.equal(servedResource('gateway.networking.k8s.io', 'v1beta1', 'httproutes')?.kind, 'HTTPRoute');
  t.equal(servedResource('gateway.networking.k8s.io', 'v1', 'referencegrants'), undefined);
  const calico = apiResourceList('projectcalico.org', 'v3')!.resources.find((r) => r.name === 'networkpolicies')!;
  t.strictSame(calico.shortNames, ['cnp', 'caliconetworkpolicy']);
});

// KEP-3352 "Aggregated Discovery", the APIGroupDiscoveryList example, and k8s.io/api
// apidiscovery/v2 types.go: items carry metadata.name, versions with resources (resource,
// responseKind, scope, singularResource, verbs, shortNames, categories, subresources) and
// freshness "Current".
t.test('Aggregated discovery: /apis as an APIGroupDiscoveryList', async (t) => {
  const doc = aggregatedDiscovery('apis');
  t.equal(doc.kind, 'APIGroupDiscoveryList');
  t.equal(doc.apiVersion, 'apidiscovery.k8s.io/v2');
  t.strictSame(doc.metadata, {});
  const apps = doc.items.find((i) => i.metadata.name === 'apps')!;
  t.strictSame(apps.metadata, { name: 'apps', creationTimestamp: null });
  t.equal(apps.versions!.length, 1);
  t.equal(apps.versions![0]!.version, 'v1');
  t.equal(apps.versions![0]!.freshness, 'Current');
  t.strictSame(
    apps.versions![0]!.resources!.find((r) => r.resource === 'deployments'),
    {
      resource: 'deployments',
      responseKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      scope: 'Namespaced',
      singularResource: 'deployment',
      verbs: ALL_VERBS,
      shortNames: ['deploy'],
      categories: ['all'],
      subresources: [
        { subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: ['get', 'patch', 'update'] },
        { subresource: 'status', responseKind: { group: 'apps', version: 'v1', kind: 'Deployment' }, verbs: ['get', 'patch', 'update'] },
      ],
    },
  );
  const gateway = doc.items.find((i) => i.metadata.name === 'gateway.networking.k8s.io')!;
  t.strictSame(
    gateway.versions!.map((v) => v.version),
    ['v1', 'v1beta1'],
    'versions in descending order of preference',
  );
  const ippools = doc.items.find((i) => i.metadata.name === 'projectcalico.org')!.versions![0]!.resources!.find((r) => r.resource === 'ippools')!;
  t.equal(ippools.scope, 'Cluster');
  t.notOk('shortNames' in ippools, 'empty shortNames are omitted (omitempty)');
  t.notOk('subresources' in ippools);
  t.notOk(doc.items.some((i) => i.metadata.name === undefined), 'the core group is only in /api');
});

// KEP-3352: `/api` answers with the core group, whose name is empty (omitted in metadata).
t.test('Aggregated discovery: /api, the core group', async (t) => {
  const doc = aggregatedDiscovery('api');
  t.equal(doc.items.length, 1);
  t.strictSame(doc.items[0]!.metadata, { creationTimestamp: null });
  const pods = doc.items[0]!.versions![0]!.resources!.find((r) => r.resource === 'pods')!;
  t.strictSame(pods, {
    resource: 'pods',
    responseKind: { group: '', version: 'v1', kind: 'Pod' },
    scope: 'Namespaced',
    singularResource: 'pod',
    verbs: ALL_VERBS,
    shortNames: ['po'],
    categories: ['all'],
    subresources: [{ subresource: 'status', responseKind: { group: '', version: 'v1', kind: 'Pod' }, verbs: ['get', 'patch', 'update'] }],
  });
  const nodes = doc.items[0]!.versions![0]!.resources!.find((r) => r.resource === 'nodes')!;
  t.equal(nodes.scope, 'Cluster');
});

// KEP-3352, "Graduation": v2beta1 and v2 have the same fields; only apiVersion differs.
t.test('Aggregated discovery: v2beta1 has the v2 shape', async (t) => {
  const v2 = aggregatedDiscovery('apis', 'v2');
  const v2beta1 = aggregatedDiscovery('apis', 'v2beta1');
  t.equal(v2beta1.apiVersion, 'apidiscovery.k8s.io/v2beta1');
  t.strictSame(v2beta1.items, v2.items);
});

// "The Kubernetes API", "Discovery API": aggregated and unaggregated discovery describe the same
// resources.
t.test('Aggregated and unaggregated discovery agree', async (t) => {
  for (const gv of servedGroupVersions()) {
    const legacy = apiResourceList(gv.group, gv.version)!.resources;
    const doc = aggregatedDiscovery(gv.group === '' ? 'api' : 'apis');
    const item = doc.items.find((i) => (i.metadata.name ?? '') === gv.group)!;
    const resources = item.versions!.find((v) => v.version === gv.version)!.resources!;
    const flattened = resources.flatMap((r) => [r.resource, ...(r.subresources ?? []).map((s) => `${r.resource}/${s.subresource}`)]);
    t.strictSame(flattened, legacy.map((r) => r.name), gv.groupVersion);
    for (const r of resources) {
      const l = legacy.find((x) => x.name === r.resource)!;
      t.strictSame(r.verbs, l.verbs);
      t.equal(r.scope === 'Namespaced', l.namespaced);
      t.equal(r.singularResource, l.singularName);
      t.equal(r.responseKind!.kind, l.kind);
    }
  }
});

// "The Kubernetes API", "Aggregated discovery": the Accept header selects the aggregated document;
// without it the answer is the unaggregated one. Headers are the ones client-go sends
// (discovery_client.go acceptDiscoveryFormats; v1.27 sent only v2beta1; v1.33 adds profile=nopeer).
t.test('Aggregated discovery: Accept negotiation', async (t) => {
  const v2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
  const v2beta1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';
  const table: [string, string, ReturnType<typeof negotiateDiscovery>][] = [
    ['kubectl 1.32', `${v2},${v2beta1},application/json`, { kind: 'aggregated', version: 'v2', contentType: v2 }],
    ['kubectl 1.27', `${v2beta1},application/json`, { kind: 'aggregated', version: 'v2beta1', contentType: v2beta1 }],
    ['nopeer profile', `${v2};profile=nopeer,${v2},application/json`, { kind: 'aggregated', version: 'v2', contentType: v2 }],
    ['plain JSON', 'application/json', { kind: 'legacy', contentType: 'application/json' }],
    ['kubectl get --raw', 'application/json, */*', { kind: 'legacy', contentType: 'application/json' }],
    ['no Accept', '', { kind: 'legacy', contentType: 'application/json' }],
    [
      'protobuf first (podnet serves JSON only)',
      `application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json`,
      { kind: 'legacy', contentType: 'application/json' },
    ],
    ['unknown discovery version', 'application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList', { kind: 'legacy', contentType: 'application/json' }],
    ['another conversion (Table)', 'application/json;as=Table;v=v1;g=meta.k8s.io', { kind: 'legacy', contentType: 'application/json' }],
    ['q values order clauses', `application/json;q=0.5,${v2}`, { kind: 'aggregated', version: 'v2', contentType: v2 }],
    ['q=0 is not acceptable', `${v2};q=0,application/json`, { kind: 'legacy', contentType: 'application/json' }],
    ['parameter order does not matter', 'application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io', { kind: 'aggregated', version: 'v2', contentType: v2 }],
  ];
  for (const [name, header, want] of table) t.strictSame(negotiateDiscovery(header), want, name);
  t.equal(AGGREGATED_DISCOVERY_CONTENT_TYPE, 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
  t.equal(discoveryContentType('v2beta1'), v2beta1);
});

// k8s.io/apiserver aggregated/etag.go: the ETag is the upper-case hex SHA-512 of the JSON body.
t.test('Discovery ETag: upper-case hex SHA-512, stable', async (t) => {
  const hash = contentHash(aggregatedDiscovery('apis'));
  t.match(hash, /^[0-9A-F]{128}$/);
  t.equal(contentHash(aggregatedDiscovery('apis')), hash);
  t.not(contentHash(aggregatedDiscovery('api')), hash);
});

// "Versions in CustomResourceDefinitions", "Version priority": the documented example order.
t.test('Version priority: kube-aware version order', async (t) => {
  const want = ['v10', 'v2', 'v1', 'v11beta2', 'v10beta3', 'v3beta1', 'v12alpha1', 'v11alpha2', 'foo1', 'foo10'];
  const shuffled = ['foo10', 'v1', 'v11alpha2', 'v3beta1', 'foo1', 'v12alpha1', 'v10', 'v10beta3', 'v2', 'v11beta2'];
  t.strictSame([...shuffled].sort(compareKubeAwareVersions), want);
});
