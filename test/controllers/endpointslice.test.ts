import t from 'tap';
import { ManualClock } from '../../lib/core/clock.js';
import { SeededRng } from '../../lib/core/rng.js';
import type { KubeObject } from '../../lib/api/meta.js';
import { lookupKind } from '../../lib/api/scheme.js';
import type { ContainerPort, EndpointSlice, Pod, Service, ServiceSpec } from '../../lib/api/types.js';
import type { WatchEvent } from '../../lib/apiserver/store.js';
import { createServiceAllocation } from '../../lib/apiserver/allocators/index.js';
import { EndpointSliceController, type EndpointSliceControllerOptions } from '../../lib/controllers/endpointslice.js';
import { clusterSpec, namespacedStore, reportPodStatus, startControllers } from './harness.js';

const SERVICE = lookupKind('v1', 'Service')!;
const POD = lookupKind('v1', 'Pod')!;
const NODE = lookupKind('v1', 'Node')!;
const SLICE = lookupKind('discovery.k8s.io/v1', 'EndpointSlice')!;

const cluster = clusterSpec({ name: 'test', network: { serviceSubnetV6: 'fd00:10:96::/112' } });

interface PodOptions {
  labels?: Record<string, string>;
  node?: string;
  ip?: string | string[];
  ready?: boolean;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  ports?: ContainerPort[];
  hostname?: string;
  subdomain?: string;
  namespace?: string;
}

async function setup(options: EndpointSliceControllerOptions = {}, { allocation = true } = {}) {
  const clock = new ManualClock();
  // One generator for the store and the controllers.
  const rng = new SeededRng(1);
  const store = namespacedStore({ clock, rng, plugins: allocation ? [createServiceAllocation(cluster)] : [] });
  const zones: Record<string, string | undefined> = { 'node-a': 'zone-a', 'node-b': 'zone-b', 'node-c': undefined };
  for (const [name, zone] of Object.entries(zones)) {
    store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: zone ? { 'topology.kubernetes.io/zone': zone } : {} }, spec: {} });
  }
  const manager = startControllers(store, { clock, rng, cluster, controllers: [new EndpointSliceController(options)] });

  const service = (name: string, spec: ServiceSpec, extra: Partial<Service> = {}, namespace = 'default') =>
    store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, ...(extra.metadata ?? {}) }, spec }) as Service;

  /** Creates a pod, then sets its IP and Ready condition through the status subresource, as the kubelet would. */
  const pod = (name: string, o: PodOptions = {}): Pod => {
    const namespace = o.namespace ?? 'default';
    store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: o.labels ?? { app: 'web' } },
      spec: {
        nodeName: o.node ?? 'node-a',
        ...(o.hostname ? { hostname: o.hostname } : {}),
        ...(o.subdomain ? { subdomain: o.subdomain } : {}),
        containers: [{ name: 'app', image: 'nginx', ...(o.ports ? { ports: o.ports } : {}) }],
      },
    });
    const ips = o.ip === undefined ? [] : Array.isArray(o.ip) ? o.ip : [o.ip];
    return reportPodStatus(store, store.get(POD, namespace, name) as Pod, { phase: o.phase, ips, ready: o.ready });
  };

  const setReady = (name: string, ready: boolean, namespace = 'default') => {
    const current = store.get(POD, namespace, name)!;
    current.status.conditions = [{ type: 'Ready', status: ready ? 'True' : 'False' }];
    store.update(current, { subresource: 'status' });
  };

  const slices = (svc: string, namespace = 'default') =>
    store.list(SLICE, { namespace, labelSelector: `kubernetes.io/service-name=${svc}` }).items as EndpointSlice[];

  /** Counts EndpointSlice writes from now on. */
  const countWrites = () => {
    const events: WatchEvent[] = [];
    const stop = store.watch(SLICE, { resourceVersion: store.resourceVersion }, (e) => events.push(e));
    return { events, stop };
  };

  await manager.whenIdle();
  return { store, manager, service, pod, setReady, slices, countWrites, idle: () => manager.whenIdle() };
}

const endpointsOf = (s: EndpointSlice) => s.endpoints.map((e) => e.targetRef?.name);

// Kubernetes docs, "EndpointSlices" concept page (concepts/services-networking/endpoint-slices):
// the example slice for Service `example`, with its labels, owner, addressType, ports and
// endpoints carrying conditions, nodeName and zone.
t.test('the EndpointSlice concept page example', async (t) => {
  const { store, service, pod, slices, idle } = await setup();
  const svc = service('example', { selector: { app: 'web' }, ports: [{ name: 'http', protocol: 'TCP', port: 80 }] });
  pod('web-1', { ip: '10.1.2.3', node: 'node-a' });
  await idle();
  const [slice, ...rest] = slices('example');
  t.equal(rest.length, 0);
  t.match(slice!.metadata.name, /^example-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  t.equal(slice!.metadata.generateName, 'example-');
  t.same(slice!.metadata.labels, {
    'kubernetes.io/service-name': 'example',
    'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
  });
  t.same(slice!.metadata.ownerReferences, [
    { apiVersion: 'v1', kind: 'Service', name: 'example', uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true },
  ]);
  t.equal(slice!.addressType, 'IPv4');
  t.same(slice!.ports, [{ name: 'http', protocol: 'TCP', port: 80 }]);
  const web1 = store.get(POD, 'default', 'web-1')!;
  t.same(slice!.endpoints, [
    {
      addresses: ['10.1.2.3'],
      conditions: { ready: true, serving: true, terminating: false },
      targetRef: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: web1.metadata.uid },
      nodeName: 'node-a',
      zone: 'zone-a',
    },
  ]);
});

// The concept page's "Conditions" section: ready, serving and terminating.
t.test('ready, serving and terminating conditions', async (t) => {
  const { store, service, pod, setReady, slices, idle } = await setup();
  service('web', { selector: { app: 'web' }, ports: [{ port: 80 }] });
  pod('ready', { ip: '10.244.0.2' });
  pod('not-ready', { ip: '10.244.0.3', ready: false });
  pod('no-ip-yet');
  pod('succeeded', { ip: '10.244.0.4', phase: 'Succeeded' });
  pod('failed', { ip: '10.244.0.5', phase: 'Failed' });
  pod('leaving', { ip: '10.244.0.6' });
  pod('leaving-unready', { ip: '10.244.0.7', ready: false });
  store.delete(POD, 'default', 'leaving'); // graceful: bound to a node, the kubelet would finish it
  store.delete(POD, 'default', 'leaving-unready');
  await idle();
  const [slice] = slices('web');
  const conditions = Object.fromEntries(slice!.endpoints.map((e) => [e.targetRef!.name, e.conditions]));
  t.same(conditions, {
    ready: { ready: true, serving: true, terminating: false },
    'not-ready': { ready: false, serving: false, terminating: false },
    leaving: { ready: false, serving: true, terminating: true },
    'leaving-unready': { ready: false, serving: false, terminating: true },
  });
  setReady('not-ready', true);
  await idle();
  t.same(slices('web')[0]!.endpoints.find((e) => e.targetRef!.name === 'not-ready')!.conditions, { ready: true, serving: true, terminating: false });
  store.delete(POD, 'default', 'leaving', { gracePeriodSeconds: 0 });
  await idle();
  t.notOk(endpointsOf(slices('web')[0]!).includes('leaving'), 'gone once deleted');
});

t.test('publishNotReadyAddresses marks every endpoint ready', async (t) => {
  const { service, pod, slices, idle } = await setup();
  service('peers', { clusterIP: 'None', publishNotReadyAddresses: true, selector: { app: 'db' }, ports: [{ port: 5432 }] });
  pod('db-0', { labels: { app: 'db' }, ip: '10.244.0.10', ready: false });
  await idle();
  t.same(slices('peers')[0]!.endpoints[0]!.conditions, { ready: true, serving: false, terminating: false });
});

// "DNS for Services and Pods", "A/AAAA records" for Pods' hostname and subdomain: the
// `busybox-subdomain` headless Service, `busybox1` with hostname `busybox-1` and the subdomain,
// `busybox2` with hostname `busybox-2` and the subdomain; a pod whose subdomain names another
// Service gets no hostname.
t.test('hostname only when the subdomain is the Service (DNS page example)', async (t) => {
  const { service, pod, slices, idle } = await setup();
  service('busybox-subdomain', { clusterIP: 'None', selector: { name: 'busybox' }, ports: [{ name: 'foo', port: 1234 }] });
  pod('busybox1', { labels: { name: 'busybox' }, ip: '10.244.0.21', hostname: 'busybox-1', subdomain: 'busybox-subdomain' });
  pod('busybox2', { labels: { name: 'busybox' }, ip: '10.244.0.22', hostname: 'busybox-2', subdomain: 'busybox-subdomain' });
  pod('busybox3', { labels: { name: 'busybox' }, ip: '10.244.0.23', hostname: 'busybox-3', subdomain: 'elsewhere' });
  pod('busybox4', { labels: { name: 'busybox' }, ip: '10.244.0.24' });
  await idle();
  const [slice] = slices('busybox-subdomain');
  t.same(
    slice!.endpoints.map((e) => [e.targetRef!.name, e.hostname]),
    [
      ['busybox1', 'busybox-1'],
      ['busybox2', 'busybox-2'],
      ['busybox3', undefined],
      ['busybox4', undefined],
    ],
  );
  t.equal(slice!.metadata.labels!['service.kubernetes.io/headless'], '', 'headless label');
  t.same(slice!.ports, [{ name: 'foo', protocol: 'TCP', port: 1234 }]);
});

// "Service" concept page, "Port definitions": `targetPort: http-web-svc` names the pod's port.
t.test('named targetPort resolved per pod (Service page example)', async (t) => {
  const { service, pod, slices, idle } = await setup();
  service('nginx-service', {
    selector: { 'app.kubernetes.io/name': 'proxy' },
    ports: [{ name: 'name-of-service-port', protocol: 'TCP', port: 80, targetPort: 'http-web-svc' }],
  });
  const labels = { 'app.kubernetes.io/name': 'proxy' };
  pod('nginx', { labels, ip: '10.244.0.31', ports: [{ containerPort: 80, name: 'http-web-svc' }] });
  await idle();
  t.same(slices('nginx-service')[0]!.ports, [{ name: 'name-of-service-port', protocol: 'TCP', port: 80 }]);

  // A pod that serves the named port elsewhere goes to a slice of its own; one without the
  // port (or with it for another protocol) lands in a slice without that port.
  pod('nginx-alt', { labels, ip: '10.244.0.32', ports: [{ containerPort: 8080, name: 'http-web-svc' }] });
  pod('nginx-udp', { labels, ip: '10.244.0.33', ports: [{ containerPort: 80, name: 'http-web-svc', protocol: 'UDP' }] });
  await idle();
  const byPorts = Object.fromEntries(slices('nginx-service').map((s) => [JSON.stringify((s.ports ?? []).map((p) => p.port)), endpointsOf(s)]));
  t.same(byPorts, { '[80]': ['nginx'], '[8080]': ['nginx-alt'], '[]': ['nginx-udp'] });
});

t.test('250 pods make three slices of at most 100, endpoints sorted', async (t) => {
  const { service, pod, slices, idle } = await setup();
  service('big', { selector: { app: 'big' }, ports: [{ port: 80 }] });
  for (let i = 0; i < 250; i++) pod(`big-${i}`, { labels: { app: 'big' }, ip: `10.244.${Math.floor(i / 200)}.${(i % 200) + 10}` });
  await idle();
  const all = slices('big');
  t.same(all.map((s) => s.endpoints.length).sort((a, b) => b - a), [100, 100, 50]);
  for (const s of all) {
    const ips = s.endpoints.map((e) => e.addresses[0]!);
    const sorted = [...ips].sort((a, b) => a.split('.').reduce((n, o) => n * 256 + +o, 0) - b.split('.').reduce((n, o) => n * 256 + +o, 0));
    t.same(ips, sorted, `${s.metadata.name} sorted by address`);
  }
  t.equal(new Set(all.flatMap(endpointsOf)).size, 250, 'every pod once');

  // Pods arriving a batch at a time fill the slices they find before new ones are made.
  service('gradual', { selector: { app: 'gradual' }, ports: [{ port: 80 }] });
  for (let batch = 0; batch < 10; batch++) {
    for (let i = 0; i < 25; i++) pod(`g-${batch}-${i}`, { labels: { app: 'gradual' }, ip: `10.245.${batch}.${i + 1}` });
    await idle();
  }
  t.same(slices('gradual').map((s) => s.endpoints.length).sort((a, b) => b - a), [100, 100, 50]);
});

t.test('maxEndpointsPerSlice is configurable; slices shrink and are reused', async (t) => {
  const { store, service, pod, slices, idle } = await setup({ maxEndpointsPerSlice: 5 });
  service('small', { selector: { app: 'small' }, ports: [{ port: 80 }] });
  for (let i = 0; i < 12; i++) pod(`p-${String(i).padStart(2, '0')}`, { labels: { app: 'small' }, ip: `10.244.0.${i + 10}` });
  await idle();
  t.same(slices('small').map((s) => s.endpoints.length).sort(), [2, 5, 5]);
  for (let i = 0; i < 12; i++) store.delete(POD, 'default', `p-${String(i).padStart(2, '0')}`, { gracePeriodSeconds: 0 });
  await idle();
  const left = slices('small');
  t.equal(left.length, 1, 'one placeholder slice stays');
  t.same(left[0]!.endpoints, []);
  t.same(left[0]!.ports, []);
  const name = left[0]!.metadata.name;
  pod('again', { labels: { app: 'small' }, ip: '10.244.0.99' });
  await idle();
  t.same(slices('small').map((s) => s.metadata.name), [name], 'the placeholder is reused');
  t.same(slices('small')[0]!.ports, [{ name: '', protocol: 'TCP', port: 80 }]);
});

t.test('a Service without pods gets a placeholder slice', async (t) => {
  const { service, slices, idle } = await setup();
  service('lonely', { selector: { app: 'nobody' }, ports: [{ port: 80 }] }, { metadata: { labels: { team: 'a', 'kubernetes.io/service-name': 'spoof' } } });
  await idle();
  const [slice, ...rest] = slices('lonely');
  t.equal(rest.length, 0);
  t.same(slice!.metadata.labels, {
    team: 'a',
    'kubernetes.io/service-name': 'lonely',
    'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
  }, "the Service's labels, reserved keys overridden");
  t.same(slice!.endpoints, []);
  t.equal(slice!.addressType, 'IPv4');
});

t.test('selectorless Services keep the slices users write; ExternalName gets none', async (t) => {
  const { store, service, pod, slices, idle } = await setup();
  service('external-db', { ports: [{ port: 5432 }] });
  const user: KubeObject = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'external-db-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'external-db', 'endpointslice.kubernetes.io/managed-by': 'staff' } },
    addressType: 'IPv4',
    ports: [{ name: '', protocol: 'TCP', port: 5432 }],
    endpoints: [{ addresses: ['192.0.2.10'] }],
  };
  const created = store.create(user);
  await idle();
  t.same(slices('external-db').map((s) => s.metadata.resourceVersion), [created.metadata.resourceVersion], 'untouched');

  service('web', { selector: { app: 'web' }, ports: [{ port: 80 }] });
  pod('web-0', { ip: '10.244.0.40' });
  await idle();
  t.equal(slices('web').length, 1);
  const web = store.get(SERVICE, 'default', 'web') as Service;
  web.spec = { type: 'ExternalName', externalName: 'example.com' };
  store.update(web);
  await idle();
  t.equal(slices('web').length, 0, 'managed slices go when the Service becomes ExternalName');
  service('ext', { type: 'ExternalName', externalName: 'example.com', selector: { app: 'web' } });
  await idle();
  t.equal(slices('ext').length, 0);
});

t.test('no writes when nothing changed', async (t) => {
  const { store, manager, service, pod, setReady, slices, countWrites, idle } = await setup();
  service('web', { selector: { app: 'web' }, ports: [{ port: 80 }] });
  for (let i = 0; i < 3; i++) pod(`web-${i}`, { ip: `10.244.0.${50 + i}` });
  await idle();
  const before = slices('web').map((s) => s.metadata.resourceVersion);
  const { events, stop } = countWrites();
  // Things the slices do not depend on.
  const p = store.get(POD, 'default', 'web-0')!;
  p.metadata.annotations = { note: 'touched' };
  store.update(p);
  const svc = store.get(SERVICE, 'default', 'web')!;
  svc.metadata.annotations = { note: 'touched' };
  store.update(svc);
  const node = store.get(NODE, undefined, 'node-a')!;
  node.metadata.annotations = { note: 'touched' };
  store.update(node);
  pod('other', { labels: { app: 'other' }, ip: '10.244.0.60' });
  await idle();
  t.same(events, [], 'no EndpointSlice was written');
  t.same(slices('web').map((s) => s.metadata.resourceVersion), before);
  // One change, one write.
  setReady('web-1', false);
  await idle();
  t.equal(events.length, 1);
  t.equal(events[0]!.type, 'MODIFIED');
  // A restarted controller rebuilds its state from the store and finds nothing to do.
  manager.stop();
  const restarted = startControllers(store, { clock: store.clock, rng: store.rng, cluster, controllers: [new EndpointSliceController()] });
  await restarted.whenIdle();
  t.equal(events.length, 1, 'no writes after a restart');
  restarted.stop();
  stop();
});

t.test('managed slices are repaired when someone else changes them', async (t) => {
  const { store, service, pod, slices, idle } = await setup();
  service('web', { selector: { app: 'web' }, ports: [{ port: 80 }] });
  pod('web-0', { ip: '10.244.0.70' });
  pod('web-1', { ip: '10.244.0.71' });
  await idle();
  const [slice] = slices('web');
  const edited = structuredClone(slice!);
  edited.endpoints = [];
  store.update(edited);
  await idle();
  t.same(endpointsOf(slices('web')[0]!), ['web-0', 'web-1'], 'edited slice restored');
  store.delete(SLICE, 'default', slice!.metadata.name!);
  await idle();
  t.same(slices('web').flatMap(endpointsOf), ['web-0', 'web-1'], 'deleted slice recreated');
  // An extra managed slice for the Service is removed.
  store.create({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-extra', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.9.9.9'] }],
  });
  await idle();
  t.equal(slices('web').length, 1);
  t.notOk(store.get(SLICE, 'default', 'web-extra'));
});

t.test('pods moving in and out of the selector', async (t) => {
  const { store, service, pod, slices, idle } = await setup();
  service('web', { selector: { app: 'web', tier: 'front' }, ports: [{ port: 80 }] });
  pod('a', { labels: { app: 'web', tier: 'front' }, ip: '10.244.0.80' });
  pod('b', { labels: { app: 'web' }, ip: '10.244.0.81' });
  await idle();
  t.same(endpointsOf(slices('web')[0]!), ['a']);
  const a = store.get(POD, 'default', 'a')!;
  a.metadata.labels = { app: 'web' };
  store.update(a);
  const b = store.get(POD, 'default', 'b')!;
  b.metadata.labels = { app: 'web', tier: 'front' };
  store.update(b);
  await idle();
  t.same(endpointsOf(slices('web')[0]!), ['b']);
  const svc = store.get(SERVICE, 'default', 'web')!;
  svc.spec.selector = { app: 'web' };
  store.update(svc);
  await idle();
  t.same(endpointsOf(slices('web')[0]!), ['a', 'b']);
});

t.test('dual-stack Services get a slice per address type', async (t) => {
  const { service, pod, slices, idle } = await setup();
  service('dual', { ipFamilyPolicy: 'PreferDualStack', selector: { app: 'web' }, ports: [{ port: 80 }] });
  pod('web-0', { ip: ['10.244.0.90', 'fd00:10:244::90'] });
  await idle();
  const byType = Object.fromEntries(slices('dual').map((s) => [s.addressType, s.endpoints.map((e) => e.addresses)]));
  t.same(byType, { IPv4: [['10.244.0.90']], IPv6: [['fd00:10:244::90']] });
});

t.test('zones follow the nodes; PreferClose adds zone hints', async (t) => {
  const { store, service, pod, slices, idle } = await setup();
  service('web', { selector: { app: 'web' }, ports: [{ port: 80 }], trafficDistribution: 'PreferClose' });
  pod('a', { ip: '10.244.0.100', node: 'node-a' });
  pod('c', { ip: '10.244.0.101', node: 'node-c' });
  await idle();
  t.same(
    slices('web')[0]!.endpoints.map((e) => [e.targetRef!.name, e.zone, e.hints]),
    [
      ['a', 'zone-a', { forZones: [{ name: 'zone-a' }] }],
      ['c', undefined, undefined],
    ],
  );
  const node = store.get(NODE, undefined, 'node-c')!;
  node.metadata.labels = { 'topology.kubernetes.io/zone': 'zone-c' };
  store.update(node);
  await idle();
  t.same(slices('web')[0]!.endpoints[1]!.hints, { forZones: [{ name: 'zone-c' }] });
  t.equal(slices('web')[0]!.endpoints[1]!.zone, 'zone-c');

  service('auto', { selector: { app: 'web' }, ports: [{ port: 80 }] }, { metadata: { annotations: { 'service.kubernetes.io/topology-mode': 'Auto' } } });
  service('plain', { selector: { app: 'web' }, ports: [{ port: 80 }] });
  await idle();
  t.ok(slices('auto')[0]!.endpoints.every((e) => e.hints), 'topology-mode Auto');
  t.ok(slices('plain')[0]!.endpoints.every((e) => !e.hints), 'no hints by default');
});

t.test('trafficDistribution hints as trafficdist.go ReconcileHints: ready endpoints only, PreferSameNode adds node hints, removed when unset', async (t) => {
  const { store, service, pod, setReady, slices, idle } = await setup();
  const hintsOf = (svc: string) => Object.fromEntries(slices(svc)[0]!.endpoints.map((e) => [e.targetRef!.name, e.hints]));
  for (const td of ['PreferClose', 'PreferSameZone', 'PreferSameNode']) service(td.toLowerCase(), { selector: { app: 'web' }, ports: [{ port: 80 }], trafficDistribution: td });
  pod('a', { ip: '10.244.0.120', node: 'node-a' });
  pod('b', { ip: '10.244.0.121', node: 'node-b' });
  pod('c', { ip: '10.244.0.122', node: 'node-c' });
  pod('d', { ip: '10.244.0.123', node: 'node-b', ready: false });
  await idle();
  // "should set zone hints with PreferClose": each ready endpoint's own zone; node-c has none.
  const zoneHints = { a: { forZones: [{ name: 'zone-a' }] }, b: { forZones: [{ name: 'zone-b' }] }, c: undefined, d: undefined };
  t.same(hintsOf('preferclose'), zoneHints, 'PreferClose');
  t.same(hintsOf('preferclose').d, undefined, '"unready endpoints should not trigger updates": no hint on a not-ready endpoint');
  t.same(hintsOf('prefersamezone'), zoneHints, 'PreferSameZone is PreferClose');
  t.same(
    hintsOf('prefersamenode'),
    {
      a: { forZones: [{ name: 'zone-a' }], forNodes: [{ name: 'node-a' }] },
      b: { forZones: [{ name: 'zone-b' }], forNodes: [{ name: 'node-b' }] },
      c: { forNodes: [{ name: 'node-c' }] },
      d: undefined,
    },
    'PreferSameNode: zone and node hints (node only without a zone)',
  );

  setReady('d', true);
  await idle();
  t.same(hintsOf('preferclose').d, { forZones: [{ name: 'zone-b' }] }, 'hinted once ready');

  // "should remove hints when trafficDistribution is unset".
  const svc = store.get(SERVICE, 'default', 'preferclose') as Service;
  delete svc.spec.trafficDistribution;
  store.update(svc);
  await idle();
  t.same(hintsOf('preferclose'), { a: undefined, b: undefined, c: undefined, d: undefined });
});

t.test('the kubernetes Service slice points at the API server', async (t) => {
  const { store, service, slices, idle } = await setup({ kubernetesEndpoint: { address: '172.18.0.2', port: 6443 } });
  service('kubernetes', { ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] }, { metadata: { labels: { component: 'apiserver', provider: 'kubernetes' } } });
  await idle();
  const slice = store.get(SLICE, 'default', 'kubernetes') as EndpointSlice;
  t.same(slice.metadata.labels, { 'kubernetes.io/service-name': 'kubernetes' });
  t.equal(slice.addressType, 'IPv4');
  t.same(slice.endpoints, [{ addresses: ['172.18.0.2'], conditions: { ready: true } }]);
  t.same(slice.ports, [{ name: 'https', port: 6443, protocol: 'TCP' }]);
  t.equal(slices('kubernetes').length, 1);
  const edited = structuredClone(slice);
  edited.endpoints = [];
  store.update(edited);
  await idle();
  t.same((store.get(SLICE, 'default', 'kubernetes') as EndpointSlice).endpoints[0]!.addresses, ['172.18.0.2'], 'repaired');
});

t.test('slices go with their Service; undefaulted Services work without the allocator', async (t) => {
  const { store, service, pod, slices, idle } = await setup({}, { allocation: false });
  const svc = service('raw', { selector: { app: 'web' }, ports: [{ port: 8080 }] });
  t.equal(svc.spec.clusterIP, undefined, 'nothing allocated');
  pod('web-0', { ip: '10.244.0.110' });
  await idle();
  const [slice] = slices('raw');
  t.equal(slice!.addressType, 'IPv4');
  t.same(slice!.ports, [{ name: '', protocol: 'TCP', port: 8080 }], 'protocol TCP and targetPort = port by default');
  store.delete(SERVICE, 'default', 'raw');
  await idle();
  t.equal(slices('raw').length, 0, 'garbage-collected with the Service');
});
