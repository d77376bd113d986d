import t from 'tap';
import { ManualClock } from '../../../lib/core/clock.js';
import { SeededRng } from '../../../lib/core/rng.js';
import { InvalidObjectError, formatFieldError } from '../../../lib/core/errors.js';
import type { NetworkSpec } from '../../../lib/api/cluster.js';
import type { Service, ServiceSpec } from '../../../lib/api/types.js';
import { lookupKind } from '../../../lib/api/scheme.js';
import {
  ServiceRangeFullError,
  createServiceAllocation,
  type LoadBalancerPendingNotice,
  type ServiceAllocationOptions,
} from '../../../lib/apiserver/allocators/index.js';
import { clusterSpec, namespacedStore } from '../../controllers/harness.js';

const SERVICE = lookupKind('v1', 'Service')!;

function setup(network: Partial<NetworkSpec> = {}, options: ServiceAllocationOptions = {}, seed = 42) {
  const plugin = createServiceAllocation(clusterSpec({ name: 'test', network: { loadBalancerPool: ['172.18.255.200-172.18.255.202'], ...network } }), options);
  const store = namespacedStore({ rng: new SeededRng(seed), clock: new ManualClock(), plugins: [plugin] });
  const create = (name: string, spec: ServiceSpec = {}, extra: Partial<Service> = {}, namespace = 'default') =>
    store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ port: 80 }], ...spec }, ...extra }) as Service;
  const get = (name: string, namespace = 'default') => store.get(SERVICE, namespace, name) as Service;
  return { store, plugin, create, get };
}

/** The one field error of an InvalidObjectError, rendered as kubectl prints it. */
function fieldErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidObjectError) return err.causes.map(formatFieldError).join('; ');
    throw err;
  }
  throw new Error('expected an InvalidObjectError');
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function ipNumber(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

t.test('ClusterIP: dynamic allocation from the upper band fills the family fields', async (t) => {
  const { create } = setup();
  const base = ipNumber('10.96.0.0');
  for (let i = 0; i < 20; i++) {
    const svc = create(`web-${i}`);
    const offset = ipNumber(svc.spec.clusterIP!) - base;
    t.ok(offset > 256 && offset < 1 << 20, `${svc.spec.clusterIP} above the static band 10.96.0.1-10.96.1.0`);
    t.same(svc.spec.clusterIPs, [svc.spec.clusterIP]);
    t.same(svc.spec.ipFamilies, ['IPv4']);
    t.equal(svc.spec.ipFamilyPolicy, 'SingleStack');
  }
});

t.test('ClusterIP: the kubernetes Service gets the first address and kube-dns the tenth', async (t) => {
  const { create } = setup();
  t.equal(create('kubernetes', { ports: [{ name: 'https', port: 443, targetPort: 6443 }] }).spec.clusterIP, '10.96.0.1');
  t.equal(create('kube-dns', { selector: { 'k8s-app': 'kube-dns' } }, {}, 'kube-system').spec.clusterIP, '10.96.0.10');
  // Anyone else named so elsewhere is an ordinary Service.
  t.not(create('kube-dns').spec.clusterIP, '10.96.0.10');

  const other = setup();
  t.equal(other.create('kube-dns', { clusterIP: '10.96.0.53' }, {}, 'kube-system').spec.clusterIP, '10.96.0.53', 'explicit wins');
  t.equal(other.create('pinned', { clusterIP: '10.96.0.10' }).spec.clusterIP, '10.96.0.10', 'the tenth can be asked for');
});

t.test('ClusterIP: explicit addresses are honoured, or refused with upstream text', async (t) => {
  const { create, get } = setup();
  t.equal(create('static', { clusterIP: '10.96.0.50' }).spec.clusterIP, '10.96.0.50');
  t.same(get('static').spec.clusterIPs, ['10.96.0.50']);
  t.equal(
    fieldErrorOf(() => create('outside', { clusterIP: '10.0.0.5' })),
    'spec.clusterIPs: Invalid value: ["10.0.0.5"]: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12',
  );
  t.equal(
    fieldErrorOf(() => create('clash', { clusterIP: '10.96.0.50' })),
    'spec.clusterIPs: Invalid value: ["10.96.0.50"]: failed to allocate IP 10.96.0.50: provided IP is already allocated',
  );
  t.equal(
    fieldErrorOf(() => create('network', { clusterIP: '10.96.0.0' })),
    'spec.clusterIPs: Invalid value: ["10.96.0.0"]: failed to allocate IP 10.96.0.0: the provided IP (10.96.0.0) is not in the valid range. The range of valid IPs is 10.96.0.0/12',
    'the network address is reserved',
  );
  t.equal(
    fieldErrorOf(() => create('bad', { clusterIP: '10.96.0.300' })),
    'spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
  );
  t.throws(() => create('outside', { clusterIP: '10.0.0.5' }), {
    message: /^Service default\/outside: The Service "outside" is invalid: spec\.clusterIPs: Invalid value/,
  });
});

t.test('ClusterIP: headless and ExternalName Services get none', async (t) => {
  const { create, plugin } = setup();
  const headless = create('db', { clusterIP: 'None', selector: { app: 'db' } });
  t.equal(headless.spec.clusterIP, 'None');
  t.same(headless.spec.clusterIPs, ['None']);
  t.same(headless.spec.ipFamilies, ['IPv4']);
  t.equal(headless.spec.ipFamilyPolicy, 'SingleStack');
  // Upstream: headless and selectorless defaults to RequireDualStack with both families.
  const bare = create('bare', { clusterIP: 'None' });
  t.equal(bare.spec.ipFamilyPolicy, 'RequireDualStack');
  t.same(bare.spec.ipFamilies, ['IPv4', 'IPv6']);
  const ext = create('ext', { type: 'ExternalName', externalName: 'example.com' });
  t.equal(ext.spec.clusterIP, undefined);
  t.equal(ext.spec.ipFamilies, undefined);
  t.equal(plugin.clusterIPs.get('IPv4')!.used, 0);
});

t.test('ClusterIP: exhaustion, release on delete and reuse', async (t) => {
  const { store, create, plugin } = setup({ serviceSubnet: '10.96.0.0/28' });
  t.equal(create('kubernetes').spec.clusterIP, '10.96.0.1');
  const ips = new Set<string>();
  for (let i = 0; i < 12; i++) ips.add(create(`s${i}`).spec.clusterIP!);
  t.equal(ips.size, 12);
  t.notOk(ips.has('10.96.0.10'), 'kube-dns keeps its address');
  const err = t.throws(() => create('one-too-many')) as ServiceRangeFullError;
  t.ok(err instanceof ServiceRangeFullError);
  t.equal(err.message, 'Internal error occurred: failed to allocate a serviceIP: range is full');
  t.equal(err.code, 'PODNET_IPAM_EXHAUSTED');
  t.equal(store.get(SERVICE, 'default', 'one-too-many'), undefined, 'nothing was stored');
  const freed = (store.get(SERVICE, 'default', 's3') as Service).spec.clusterIP!;
  store.delete(SERVICE, 'default', 's3');
  t.equal(create('again').spec.clusterIP, freed, 'the only free address is handed out again');
  t.equal(plugin.clusterIPs.get('IPv4')!.used, 13);
});

t.test('ClusterIP: dual-stack families and policies', async (t) => {
  const { create, store, get, plugin } = setup({ serviceSubnetV6: 'fd00:10:96::/112' });
  const single = create('single');
  t.same(single.spec.ipFamilies, ['IPv4']);
  const dual = create('dual', { ipFamilyPolicy: 'PreferDualStack' });
  t.same(dual.spec.ipFamilies, ['IPv4', 'IPv6']);
  t.equal(dual.spec.clusterIPs!.length, 2);
  t.match(dual.spec.clusterIPs![1], /^fd00:10:96::[0-9a-f]+$/);
  const v6first = create('v6first', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6'] });
  t.same(v6first.spec.ipFamilies, ['IPv6', 'IPv4']);
  t.equal(v6first.spec.clusterIP, v6first.spec.clusterIPs![0]);
  t.match(v6first.spec.clusterIP, /^fd00:/);
  const v6 = create('v6', { clusterIP: 'fd00:10:96::53' });
  t.same(v6.spec.ipFamilies, ['IPv6'], 'family inferred from the address');
  // Downgrading to SingleStack releases the secondary address.
  const secondary = dual.spec.clusterIPs![1]!;
  t.ok(plugin.clusterIPs.get('IPv6')!.has(secondary));
  const cur = get('dual');
  cur.spec.ipFamilyPolicy = 'SingleStack';
  store.update(cur);
  t.same(get('dual').spec.clusterIPs, [dual.spec.clusterIP]);
  t.same(get('dual').spec.ipFamilies, ['IPv4']);
  t.notOk(plugin.clusterIPs.get('IPv6')!.has(secondary));

  const single4 = setup();
  t.equal(
    fieldErrorOf(() => single4.create('req', { ipFamilyPolicy: 'RequireDualStack' })),
    'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services',
  );
  t.equal(
    fieldErrorOf(() => single4.create('v6', { ipFamilies: ['IPv6'] })),
    'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster',
  );
  t.same(single4.create('prefer', { ipFamilyPolicy: 'PreferDualStack' }).spec.ipFamilies, ['IPv4'], 'PreferDualStack falls back');
});

t.test('NodePort: allocation, range and clash errors with upstream text', async (t) => {
  const { create, plugin } = setup();
  const np = create('np', { type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] });
  const [a, b] = np.spec.ports!.map((p) => p.nodePort!);
  t.ok(a! >= 30086 && b! >= 30086 && a !== b, 'two ports from the upper band');
  t.equal(plugin.nodePorts.used, 2);
  t.equal(
    fieldErrorOf(() => create('low', { type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] })),
    'spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767',
  );
  create('web', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] });
  t.equal(
    fieldErrorOf(() => create('web-dup', { type: 'NodePort', ports: [{ port: 8080, nodePort: 30080 }] })),
    'spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated',
  );
  t.equal(plugin.nodePorts.used, 3, 'the failed creates left nothing behind');
  t.equal(create('cip', { type: 'ClusterIP' }).spec.ports![0]!.nodePort, undefined);
});

t.test('NodePort: TCP and UDP ports of one Service share a nodePort', async (t) => {
  const { create, plugin } = setup();
  const dns = create('dns', {
    type: 'NodePort',
    ports: [
      { name: 'dns-tcp', port: 53, protocol: 'TCP' },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ],
  });
  t.equal(dns.spec.ports![0]!.nodePort, dns.spec.ports![1]!.nodePort, 'same service port, same nodePort');
  t.equal(plugin.nodePorts.used, 1);
  const mixed = create('mixed', {
    type: 'NodePort',
    ports: [
      { name: 'tcp', port: 80, protocol: 'TCP', nodePort: 30053 },
      { name: 'udp', port: 81, protocol: 'UDP', nodePort: 30053 },
    ],
  });
  t.same(mixed.spec.ports!.map((p) => p.nodePort), [30053, 30053]);
  t.equal(plugin.nodePorts.used, 2);
  t.equal(
    fieldErrorOf(() =>
      create('twice', {
        type: 'NodePort',
        ports: [
          { name: 'a', port: 80, nodePort: 30054 },
          { name: 'b', port: 81, nodePort: 30054 },
        ],
      }),
    ),
    'spec.ports[1].nodePort: Duplicate value: 30054',
  );
});

t.test('NodePort: kept on update, released when the type goes back to ClusterIP', async (t) => {
  const { store, create, get, plugin } = setup();
  const np = create('np', { type: 'NodePort', selector: { app: 'x' } });
  const port = np.spec.ports![0]!.nodePort!;
  const ip = np.spec.clusterIP;
  // A client resubmitting its manifest without the allocated values keeps them (patchAllocatedValues).
  store.update({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'np', namespace: 'default' }, spec: { type: 'NodePort', selector: { app: 'y' }, ports: [{ port: 80 }] } });
  t.equal(get('np').spec.ports![0]!.nodePort, port);
  t.equal(get('np').spec.clusterIP, ip);
  t.equal(plugin.nodePorts.used, 1);
  const cur = get('np');
  cur.spec.type = 'ClusterIP';
  store.update(cur);
  t.equal(get('np').spec.ports![0]!.nodePort, undefined, 'dropped with the type change');
  t.notOk(plugin.nodePorts.has(port), 'released');
  t.equal(get('np').spec.clusterIP, ip, 'the ClusterIP stays');
  // Now someone else may take it.
  t.equal(create('taker', { type: 'NodePort', ports: [{ port: 80, nodePort: port }] }).spec.ports![0]!.nodePort, port);
  store.delete(SERVICE, 'default', 'taker');
  t.notOk(plugin.nodePorts.has(port), 'released on delete');
  t.ok(plugin.clusterIPs.get('IPv4')!.has(get('np').spec.clusterIP!), 'np still holds its IP');
});

t.test('LoadBalancer: ingress from the pool, health-check port, no nodePorts when asked', async (t) => {
  const { create, get, store, plugin } = setup();
  const lb = create('lb', { type: 'LoadBalancer', externalTrafficPolicy: 'Local' });
  t.same(lb.status?.loadBalancer?.ingress, [{ ip: '172.18.255.200', ipMode: 'VIP' }]);
  t.ok(lb.spec.ports![0]!.nodePort! >= 30000);
  t.ok(lb.spec.healthCheckNodePort! >= 30086, 'health-check NodePort for externalTrafficPolicy Local');
  t.equal(plugin.nodePorts.used, 2);
  const noNp = create('nonp', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false });
  t.equal(noNp.spec.ports![0]!.nodePort, undefined);
  t.same(noNp.status?.loadBalancer?.ingress, [{ ip: '172.18.255.201', ipMode: 'VIP' }]);
  const pinned = create('pinned', { type: 'LoadBalancer', loadBalancerIP: '172.18.255.202' });
  t.same(pinned.status?.loadBalancer?.ingress, [{ ip: '172.18.255.202', ipMode: 'VIP' }]);
  const classed = create('classed', { type: 'LoadBalancer', loadBalancerClass: 'example.com/lb' });
  t.equal(classed.status?.loadBalancer?.ingress, undefined, 'another implementation serves it');
  // Back to ClusterIP: status cleared, address and ports released.
  const held = [lb.spec.ports![0]!.nodePort!, lb.spec.healthCheckNodePort!];
  const cur = get('lb');
  cur.spec.type = 'ClusterIP';
  store.update(cur);
  t.same(get('lb').status?.loadBalancer, {});
  t.equal(get('lb').spec.healthCheckNodePort, undefined);
  t.notOk(plugin.loadBalancer!.has('172.18.255.200'));
  t.notOk(held.some((p) => plugin.nodePorts.has(p)), 'its node ports are free');
  t.equal(plugin.nodePorts.used, 2, "pinned's and classed's remain");
  // And a ClusterIP Service that becomes a LoadBalancer gets the freed address on that update.
  create('grow');
  const grow = get('grow');
  grow.spec.type = 'LoadBalancer';
  store.update(grow);
  t.same(get('grow').status?.loadBalancer?.ingress, [{ ip: '172.18.255.200', ipMode: 'VIP' }]);
  t.ok(get('grow').spec.ports![0]!.nodePort);
});

t.test('LoadBalancer: an exhausted pool leaves the Service pending and says so', async (t) => {
  const notices: LoadBalancerPendingNotice[] = [];
  const { create, get, store, plugin } = setup({ loadBalancerPool: ['172.18.255.200/31'] }, { onLoadBalancerPending: (n) => notices.push(n) });
  create('a', { type: 'LoadBalancer' });
  create('b', { type: 'LoadBalancer' });
  const c = create('c', { type: 'LoadBalancer' });
  t.equal(c.status?.loadBalancer?.ingress, undefined, 'created, without an address');
  t.ok(c.spec.clusterIP, 'the rest of the allocation happened');
  t.same([...plugin.pendingLoadBalancers], ['default/c']);
  const wrong = create('wrong', { type: 'LoadBalancer', loadBalancerIP: '10.1.2.3' });
  t.equal(wrong.status?.loadBalancer?.ingress, undefined);
  t.equal(notices.length, 0, 'notices wait for the write to settle');
  await tick();
  t.same(
    notices.map((n) => [n.service.metadata.name, n.reason, n.message]),
    [
      ['c', 'AllocationFailed', 'Failed to allocate IP for "default/c": no available IPs'],
      ['wrong', 'AllocationFailed', 'Failed to allocate IP for "default/wrong": ["10.1.2.3"] is not allowed in config'],
    ],
  );
  // A released address goes to the oldest pending Service.
  store.delete(SERVICE, 'default', 'a');
  await tick();
  t.same(get('c').status?.loadBalancer?.ingress, [{ ip: '172.18.255.200', ipMode: 'VIP' }]);
  t.same([...plugin.pendingLoadBalancers], ['default/wrong']);
  // Asking for a pool address that another Service has: still pending, told why.
  const w = get('wrong');
  w.spec.loadBalancerIP = '172.18.255.201';
  store.update(w);
  await tick();
  t.equal(notices.at(-1)!.message, 'Failed to allocate IP for "default/wrong": ["172.18.255.201"] is already in use');
  store.delete(SERVICE, 'default', 'b');
  await tick();
  t.same(get('wrong').status?.loadBalancer?.ingress, [{ ip: '172.18.255.201', ipMode: 'VIP' }], 'served once it is free');
  t.equal(plugin.pendingLoadBalancers.size, 0);
});

t.test('snapshot import: allocated values and status are kept exactly', async (t) => {
  const { create, plugin } = setup();
  const imported = create(
    'imported',
    {
      type: 'LoadBalancer',
      clusterIP: '10.96.12.34',
      clusterIPs: ['10.96.12.34'],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 31999,
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 31080 }],
    },
    { status: { loadBalancer: { ingress: [{ ip: '172.18.255.201', ipMode: 'VIP' }] } } },
  );
  t.equal(imported.spec.clusterIP, '10.96.12.34');
  t.equal(imported.spec.ports![0]!.nodePort, 31080);
  t.equal(imported.spec.healthCheckNodePort, 31999);
  t.same(imported.status?.loadBalancer?.ingress, [{ ip: '172.18.255.201', ipMode: 'VIP' }]);
  t.ok(plugin.loadBalancer!.has('172.18.255.201'), 'the pool knows it is taken');
  const foreign = create('foreign', { type: 'LoadBalancer' }, { status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } } });
  t.same(foreign.status?.loadBalancer?.ingress, [{ ip: '203.0.113.7' }], 'an address outside the pool is kept too');
  t.equal(create('next', { type: 'LoadBalancer' }).status?.loadBalancer?.ingress?.[0]?.ip, '172.18.255.200');
});

t.test('a rolled-back transaction restores the allocators', async (t) => {
  const { store, create, plugin } = setup();
  const keep = create('keep', { clusterIP: '10.96.0.60', type: 'NodePort', ports: [{ port: 80, nodePort: 30060 }] });
  const before = { ips: plugin.clusterIPs.get('IPv4')!.used, ports: plugin.nodePorts.used };
  let fresh: Service | undefined;
  t.throws(() =>
    store.transaction(() => {
      fresh = create('fresh', { type: 'NodePort', ports: [{ port: 80, nodePort: 30061 }] });
      store.delete(SERVICE, 'default', 'keep');
      // Fails: 30062 is fine, but the clusterIP clashes with the one just created.
      create('clash', { clusterIP: fresh.spec.clusterIP!, type: 'NodePort', ports: [{ port: 80, nodePort: 30062 }] });
    }),
  );
  t.equal(store.get(SERVICE, 'default', 'fresh'), undefined);
  t.ok(store.get(SERVICE, 'default', 'keep'));
  t.same({ ips: plugin.clusterIPs.get('IPv4')!.used, ports: plugin.nodePorts.used }, before);
  t.notOk(plugin.nodePorts.has(30061), "fresh's port is free again");
  t.notOk(plugin.nodePorts.has(30062), 'the provisional port of the failed create is free');
  t.ok(plugin.nodePorts.has(30060), "keep's port is held again");
  t.equal(
    fieldErrorOf(() => create('steal', { clusterIP: keep.spec.clusterIP! })),
    'spec.clusterIPs: Invalid value: ["10.96.0.60"]: failed to allocate IP 10.96.0.60: provided IP is already allocated',
  );
  t.equal(create('reuse', { clusterIP: fresh!.spec.clusterIP! }).spec.clusterIP, fresh!.spec.clusterIP);

  // A dry run allocates nothing.
  const dry = store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'dry' }, spec: { type: 'NodePort', ports: [{ port: 80 }] } }, { dryRun: true }) as Service;
  t.ok(dry.spec.clusterIP);
  t.notOk(plugin.clusterIPs.get('IPv4')!.has(dry.spec.clusterIP!));
  t.notOk(plugin.nodePorts.has(dry.spec.ports![0]!.nodePort!));
});

t.test('allocation is reproducible under a seed', async (t) => {
  const run = () => {
    const { create } = setup({}, {}, 7);
    return Array.from({ length: 20 }, (_, i) => {
      const s = create(`s${i}`, { type: 'NodePort' });
      return `${s.spec.clusterIP}:${s.spec.ports![0]!.nodePort}`;
    });
  };
  t.same(run(), run());
});

t.test('10k Services allocate and release cleanly', async (t) => {
  // Timing is the benchmarks' business; this pins correctness at that scale.
  const { store, create, plugin } = setup();
  for (let i = 0; i < 10_000; i++) create(`svc-${i}`, { type: i % 10 === 0 ? 'NodePort' : 'ClusterIP' });
  t.equal(plugin.clusterIPs.get('IPv4')!.used, 10_000);
  t.equal(plugin.nodePorts.used, 1_000);
  const ips = new Set((store.select(SERVICE) as Service[]).map((s) => s.spec.clusterIP));
  t.equal(ips.size, 10_000, 'all distinct');
  for (let i = 0; i < 10_000; i += 10) store.delete(SERVICE, 'default', `svc-${i}`);
  t.equal(plugin.clusterIPs.get('IPv4')!.used, 9_000);
  t.equal(plugin.nodePorts.used, 0, 'every NodePort Service was deleted');
});
