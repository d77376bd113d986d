// @kubernetes/client-node (the official JavaScript client) against podnet's API server over HTTPS,
// verified with the CA from the kubeconfig podnet writes: typed reads of what the quickstart
// topology runs, ConfigMap create/replace/merge-patch/delete with optimistic concurrency
// (API Concepts "Resource versions"), EndpointSlices, and Status errors as ApiExceptions.
import t from 'tap';
import { KubeConfig, CoreV1Api, PatchStrategy, setHeaderOptions, type V1ConfigMap } from '@kubernetes/client-node';
import { contains, mustParseCIDR } from '../../lib/core/ipnet.js';
import { bootClients, statusOf } from './harness.js';

t.test('the client trusts the API server through the kubeconfig CA, and only through it', async (t) => {
  const { kc, address } = await bootClients(t);
  const cluster = kc.getCurrentCluster();
  t.equal(cluster?.server, address.url);
  t.notOk(cluster?.skipTLSVerify, 'no insecure-skip-tls-verify');
  t.equal(Buffer.from(cluster!.caData!, 'base64').toString(), address.caPem, 'certificate-authority-data is the generated CA');

  // The same server without the CA: TLS verification fails before any HTTP is spoken.
  const bare = new KubeConfig();
  bare.loadFromOptions({
    clusters: [{ name: 'podnet', server: address.url, skipTLSVerify: false }],
    users: [{ name: 'podnet' }],
    contexts: [{ name: 'podnet', cluster: 'podnet', user: 'podnet' }],
    currentContext: 'podnet',
  });
  const err = await bare
    .makeApiClient(CoreV1Api)
    .listNamespace()
    .then(
      () => undefined,
      (e: unknown) => e as Error & { code?: unknown },
    );
  t.ok(err, 'an untrusted server certificate is refused');
  t.notOk(typeof err?.code === 'number', 'no HTTP status: the TLS handshake failed');
  t.match(err?.message, /certificate/i);
});

t.test('CoreV1Api reads what the quickstart runs: pods in their node podCIDRs, the web Service, the nodes', async (t) => {
  const { core } = await bootClients(t);
  const nodes = (await core.listNode()).items;
  t.same(
    nodes.map((n) => [n.metadata?.name, n.spec?.podCIDR]),
    [
      ['control-plane', '10.244.0.0/24'],
      ['worker', '10.244.1.0/24'],
      ['worker2', '10.244.2.0/24'],
    ],
  );
  for (const n of nodes) {
    t.equal(n.kind, 'Node');
    t.match(n.status?.conditions?.find((c) => c.type === 'Ready'), { status: 'True' }, `${n.metadata?.name} is Ready`);
  }

  const podList = await core.listNamespacedPod({ namespace: 'default' });
  t.equal(podList.kind, 'PodList');
  t.ok(podList.metadata?.resourceVersion, 'the list carries a resourceVersion');
  t.same(podList.items.map((p) => p.metadata?.labels?.app).sort(), ['client', 'web', 'web', 'web']);
  const ips = new Set<string>();
  for (const pod of podList.items) {
    const name = pod.metadata?.name;
    t.equal(pod.status?.phase, 'Running', `${name} is Running`);
    const node = nodes.find((n) => n.metadata?.name === pod.spec?.nodeName);
    t.ok(node, `${name} is bound to a node`);
    const podIP = pod.status!.podIP!;
    t.ok(contains(mustParseCIDR(node!.spec!.podCIDR!), podIP), `${name} ${podIP} is inside ${node!.metadata?.name}'s podCIDR ${node!.spec?.podCIDR}`);
    t.same(pod.status?.podIPs, [{ ip: podIP }]);
    t.equal(pod.status?.hostIP, node!.status?.addresses?.find((a) => a.type === 'InternalIP')?.address);
    t.ok(pod.metadata?.creationTimestamp instanceof Date, 'timestamps deserialize to Dates');
    ips.add(podIP);
  }
  t.equal(ips.size, podList.items.length, 'pod IPs are distinct');

  const web = await core.readNamespacedService({ name: 'web', namespace: 'default' });
  t.equal(web.spec?.type, 'ClusterIP');
  t.ok(contains(mustParseCIDR('10.96.0.0/12'), web.spec!.clusterIP!), `ClusterIP ${web.spec?.clusterIP} is in the service subnet`);
  t.same(web.spec?.clusterIPs, [web.spec?.clusterIP]);
  t.match(web.spec?.ports, [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
  t.same(web.spec?.selector, { app: 'web' });
});

t.test('DiscoveryV1Api lists the web Service EndpointSlice: one ready endpoint per web pod', async (t) => {
  const { core, discovery } = await bootClients(t);
  const slices = await discovery.listNamespacedEndpointSlice({ namespace: 'default', labelSelector: 'kubernetes.io/service-name=web' });
  t.equal(slices.kind, 'EndpointSliceList');
  t.equal(slices.items.length, 1);
  const slice = slices.items[0]!;
  t.equal(slice.addressType, 'IPv4');
  t.match(slice.metadata?.ownerReferences, [{ kind: 'Service', name: 'web', controller: true }]);
  t.same(slice.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }], 'the named targetPort resolved to the container port');
  const pods = (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' })).items;
  t.equal(pods.length, 3);
  t.same(
    slice.endpoints.map((e) => [e.addresses[0], e.targetRef?.name, e.nodeName]).sort(),
    pods.map((p) => [p.status?.podIP, p.metadata?.name, p.spec?.nodeName]).sort(),
  );
  for (const e of slice.endpoints) t.same(e.conditions, { ready: true, serving: true, terminating: false });
});

t.test('API Concepts "Resource versions": ConfigMap create, replace with the fetched resourceVersion, stale replace is 409 Conflict, merge patch, delete', async (t) => {
  const { core } = await bootClients(t);
  const namespace = 'default';
  const created = await core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: 'settings', labels: { app: 'web' } }, data: { mode: 'blue', replicas: '3' } },
  });
  t.equal(created.kind, 'ConfigMap');
  t.ok(created.metadata?.uid && created.metadata.resourceVersion, 'the server set uid and resourceVersion');

  const fetched = await core.readNamespacedConfigMap({ name: 'settings', namespace });
  t.equal(fetched.metadata?.resourceVersion, created.metadata?.resourceVersion, 'a read returns the version just written');

  // Replace: the body carries the fetched resourceVersion as its precondition.
  const replaced = await core.replaceNamespacedConfigMap({
    name: 'settings',
    namespace,
    body: { ...fetched, data: { mode: 'green', replicas: '3' } },
  });
  t.same(replaced.data, { mode: 'green', replicas: '3' });
  t.not(replaced.metadata?.resourceVersion, fetched.metadata?.resourceVersion, 'every write gets a new resourceVersion');
  t.equal(replaced.metadata?.uid, created.metadata?.uid);

  // Replaying the replace with the now-stale resourceVersion loses the race: 409 Conflict.
  const stale = await core.replaceNamespacedConfigMap({ name: 'settings', namespace, body: { ...fetched, data: { mode: 'red' } } }).then(
    () => undefined,
    (e: unknown) => statusOf(e),
  );
  t.equal(stale?.code, 409, 'ApiException code 409');
  t.match(stale?.status, {
    kind: 'Status',
    status: 'Failure',
    reason: 'Conflict',
    code: 409,
    message: /Operation cannot be fulfilled on configmaps "settings": the object has been modified; please apply your changes to the latest version and try again/,
    details: { name: 'settings', kind: 'configmaps' },
  });
  t.same((await core.readNamespacedConfigMap({ name: 'settings', namespace })).data, { mode: 'green', replicas: '3' }, 'the stale write changed nothing');

  // JSON merge patch (RFC 7386), chosen with the Content-Type header as client-node 1.x documents:
  // a map merges key by key and null removes a key.
  const patched: V1ConfigMap = await core.patchNamespacedConfigMap(
    { name: 'settings', namespace, body: { metadata: { labels: { tier: 'config' } }, data: { replicas: null, zone: 'zone-b' } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  t.same(patched.data, { mode: 'green', zone: 'zone-b' });
  t.same(patched.metadata?.labels, { app: 'web', tier: 'config' });
  t.not(patched.metadata?.resourceVersion, replaced.metadata?.resourceVersion);

  // Removed at once, a ConfigMap's DELETE answers with the V1Status the client decodes it as.
  const deleted = await core.deleteNamespacedConfigMap({ name: 'settings', namespace });
  t.match(deleted, { kind: 'Status', status: 'Success', details: { name: 'settings', group: '', kind: 'configmaps', uid: created.metadata?.uid } });
  const gone = await core.readNamespacedConfigMap({ name: 'settings', namespace }).then(
    () => undefined,
    (e: unknown) => statusOf(e),
  );
  t.equal(gone?.code, 404, 'the deleted ConfigMap is gone');
  t.notOk(
    (await core.listNamespacedConfigMap({ namespace })).items.some((c) => c.metadata?.name === 'settings'),
    'and no longer listed',
  );
});

t.test('errors arrive as ApiExceptions carrying the Status: 404 NotFound, 422 Invalid with a field cause', async (t) => {
  const { core, cluster } = await bootClients(t);
  const rv = cluster.store.resourceVersion;

  const missing = await core.readNamespacedPod({ name: 'nope', namespace: 'default' }).then(
    () => undefined,
    (e: unknown) => statusOf(e),
  );
  t.equal(missing?.code, 404);
  t.same(missing?.status, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'pods "nope" not found',
    reason: 'NotFound',
    details: { name: 'nope', group: '', kind: 'pods' },
    code: 404,
  });

  const invalid = await core
    .createNamespacedService({ namespace: 'default', body: { metadata: { name: 'bad' }, spec: { selector: { app: 'web' }, ports: [{ port: 70000 }] } } })
    .then(
      () => undefined,
      (e: unknown) => statusOf(e),
    );
  t.equal(invalid?.code, 422);
  t.match(invalid?.status, {
    kind: 'Status',
    status: 'Failure',
    reason: 'Invalid',
    code: 422,
    // As on a real cluster, the defaulted targetPort (= port) is reported too.
    message:
      'Service "bad" is invalid: [spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive, ' +
      'spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive]',
    details: {
      name: 'bad',
      group: '',
      kind: 'Service',
      causes: [
        { reason: 'FieldValueInvalid', message: 'Invalid value: 70000: must be between 1 and 65535, inclusive', field: 'spec.ports[0].port' },
        { reason: 'FieldValueInvalid', field: 'spec.ports[0].targetPort' },
      ],
    },
  });
  t.equal(cluster.store.resourceVersion, rv, 'neither request changed anything');
});
