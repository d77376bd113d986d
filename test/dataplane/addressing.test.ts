// Addressing conventions (DESIGN invariants 2 and 3): each sandbox and node on its own loopback
// address, virtual IPv6 riding on IPv4 loopback, and ports below the unprivileged start mapped to
// unprivileged real ports, visibly. Every bind here is a real one, on 127.0.0.0/8 only.
import t, { type Test } from 'tap';
import type net from 'node:net';
import { boundPort, createSocketFactory } from '../../lib/core/sockets.js';
import {
  API_SERVER_LOOPBACK,
  HOST_ADDRESSES_ANNOTATION,
  LoopbackAllocator,
  PortInUseError,
  PortMapper,
  joinHostPort,
  naturalLoopback,
  unprivilegedPortStart,
} from '../../lib/dataplane/addressing.js';

t.test('the natural mapping keeps the three low octets, outside the host\'s 127.0.0.0/16 and the fallback pool', async (t) => {
  const cases: [string, string | undefined][] = [
    ['10.244.1.5', '127.244.1.5'],
    ['172.18.0.2', '127.18.0.2'],
    ['172.18.255.200', '127.18.255.200'],
    ['10.96.0.10', '127.96.0.10'],
    ['10.0.0.1', undefined], // would be 127.0.0.1, the host's
    ['192.0.5.1', undefined],
    ['10.255.0.1', undefined], // would be in the fallback pool
    ['fd00:10:244:1::5', undefined], // IPv6 has no natural image
  ];
  for (const [virtual, want] of cases) t.equal(naturalLoopback(virtual), want, virtual);
  t.equal(API_SERVER_LOOPBACK, '127.0.0.1');
});

t.test('LoopbackAllocator: natural addresses, collisions to the fallback pool, lookups both ways', async (t) => {
  const a = new LoopbackAllocator();
  t.equal(a.allocate('10.244.1.5', 'pod default/web-0'), '127.244.1.5');
  t.equal(a.allocate('172.18.0.2', 'node kind-worker'), '127.18.0.2');
  t.equal(a.allocate('10.18.0.2', 'pod default/db-0'), '127.255.0.1', 'natural address taken: first fallback address');
  t.equal(a.allocate('10.0.0.7', 'pod default/x'), '127.255.0.2', 'natural address in 127.0.0.0/16: fallback');
  t.equal(a.allocate('10.255.3.4', 'pod default/y'), '127.255.0.3', 'natural address in the fallback pool: fallback');
  t.equal(a.allocate('10.244.1.5', 'pod default/web-0'), '127.244.1.5', 'allocating again returns the same address');
  t.equal(a.loopbackOf('10.18.0.2'), '127.255.0.1');
  t.same(a.virtualsOf('127.255.0.1'), ['10.18.0.2']);
  t.equal(a.ownerOf('127.18.0.2'), 'node kind-worker');
  t.equal(a.size, 5);
  t.throws(() => a.allocate('10.244.1.5', 'pod other/web-0'), { code: 'PODNET_ADDRESS_IN_USE', message: '10.244.1.5 is already mapped to 127.244.1.5 for pod default/web-0' });

  t.ok(a.release('10.18.0.2'), 'release by virtual address');
  t.equal(a.loopbackOf('10.18.0.2'), undefined);
  t.same(a.virtualsOf('127.255.0.1'), []);
  t.ok(a.release('127.18.0.2'), 'release by loopback address');
  t.notOk(a.release('127.18.0.2'), 'a second release finds nothing');
  t.equal(a.allocate('10.18.0.2', 'pod default/db-0'), '127.18.0.2', 'the natural address is free again');
  t.equal(a.allocate('10.1.0.9'), '127.1.0.9');
  t.equal(a.allocate('192.1.0.9'), '127.255.0.1', 'the lowest free fallback address is reused');
  t.equal(a.allocate('11.244.1.5'), '127.255.0.4', 'then the next one');
});

t.test('LoopbackAllocator is deterministic in allocation order', async (t) => {
  const run = () => {
    const a = new LoopbackAllocator();
    const out = ['10.244.1.5', '10.244.2.5', '172.18.0.2', '10.18.0.2', 'fd00::1', '10.244.2.5'].map((v) => a.allocate(v));
    a.release('172.18.0.2');
    out.push(a.allocate('192.168.0.2'), a.allocate('fd00::2'));
    return out;
  };
  t.same(run(), run());
  t.same(run(), ['127.244.1.5', '127.244.2.5', '127.18.0.2', '127.255.0.1', '127.255.0.2', '127.244.2.5', '127.168.0.2', '127.255.0.3']);
});

t.test('virtual IPv6 addresses ride on IPv4 loopback; a dual-stack sandbox has one address', async (t) => {
  const a = new LoopbackAllocator();
  t.equal(a.allocate('fd00:10:244:1::5', 'pod v6/web-0'), '127.255.0.1', 'IPv6-only: a fallback IPv4 loopback address');
  t.equal(a.loopbackOf('fd00:10:244:1:0:0:0:5'), '127.255.0.1', 'any spelling of the address finds it');
  t.equal(a.allocate(['fd00:10:244:2::7', '10.244.2.7'], 'pod dual/web-0'), '127.244.2.7', 'dual-stack: the natural mapping of its IPv4 address');
  t.equal(a.loopbackOf('fd00:10:244:2::7'), '127.244.2.7');
  t.same(a.virtualsOf('127.244.2.7'), ['fd00:10:244:2::7', '10.244.2.7']);
  t.equal(a.allocate(['10.244.2.7', 'fd00:10:244:2::8'], 'pod dual/web-0'), '127.244.2.7', 'a new address of the same sandbox joins it');
  t.throws(() => a.allocate(['10.244.2.7', 'fd00:10:244:1::5']), { code: 'PODNET_ADDRESS_IN_USE' }, 'addresses of two sandboxes cannot be merged');
  t.same(a.allocations().map((x) => x.loopback), ['127.255.0.1', '127.244.2.7']);
});

t.test('LoopbackAllocator refuses what is not a virtual address', async (t) => {
  const a = new LoopbackAllocator();
  for (const bad of ['web-0', '127.0.0.5', '::1', '0.0.0.0', '::', '10.244.1.5/24']) {
    t.throws(() => a.allocate(bad), { code: 'PODNET_INVALID_ADDRESS' }, bad);
  }
  t.throws(() => a.allocate([]), { code: 'PODNET_INVALID_ADDRESS' });
});

t.test('the unprivileged port start comes from the kernel, 1024 by default', async (t) => {
  const start = unprivilegedPortStart();
  t.ok(Number.isInteger(start) && start >= 0 && start <= 65536);
  t.equal(joinHostPort('fd00::5', 80), '[fd00::5]:80');
  t.equal(joinHostPort('10.244.1.5', 80), '10.244.1.5:80');
});

/** A fresh loopback address per test, so tests never share ports. */
let nextSandbox = 1;
function sandbox(t: Test, virtual = `10.77.${nextSandbox}.9`) {
  const allocator = new LoopbackAllocator();
  const loopback = allocator.allocate(virtual);
  nextSandbox++;
  const sockets = createSocketFactory();
  t.teardown(() => sockets.closeAll());
  const mapper = new PortMapper({ loopback, virtual, sockets, unprivilegedPortStart: 1024 });
  return { loopback, sockets, mapper };
}

t.test('PortMapper: 80 is mapped to an unprivileged port, 8080 keeps its number, and the map is visible', async (t) => {
  const { loopback, sockets, mapper } = sandbox(t, '10.244.1.5');
  t.equal(loopback, '127.244.1.5');
  t.equal(await mapper.map(80, 'TCP', 'nginx'), 10080, 'privileged: 10000 + port');
  t.equal(await mapper.map(8080, 'TCP', 'sidecar'), 8080, 'unprivileged and free: the same number');
  t.equal(await mapper.map(53, 'UDP', 'dns'), 10053);
  t.equal(mapper.lookup(80), 10080);
  t.equal(mapper.containerPortOf(10053, 'UDP'), 53);
  t.equal(mapper.lookup(53, 'TCP'), undefined, 'UDP 53 says nothing about TCP 53');
  t.same(mapper.entries(), {
    '10.244.1.5:53/UDP': '127.244.1.5:10053',
    '10.244.1.5:80/TCP': '127.244.1.5:10080',
    '10.244.1.5:8080/TCP': '127.244.1.5:8080',
  });
  t.equal(HOST_ADDRESSES_ANNOTATION, 'podnet.dev/host-addresses');
  t.same(JSON.parse(mapper.annotation()), mapper.entries());

  // The mapped ports really bind on the sandbox's address.
  const tcp = await sockets.listenTcp({ host: loopback, port: mapper.lookup(80)! });
  t.equal(boundPort(tcp), 10080);
  const web = await sockets.listenTcp({ host: loopback, port: mapper.lookup(8080)! });
  t.same(web.address(), { address: '127.244.1.5', family: 'IPv4', port: 8080 });
  const udp = await sockets.bindUdp({ host: loopback, port: mapper.lookup(53, 'UDP')! });
  t.same(udp.address(), { address: '127.244.1.5', family: 'IPv4', port: 10053 });
});

t.test('PortMapper: a port taken on the address gets a kernel-chosen unprivileged port, kept', async (t) => {
  const { loopback, sockets, mapper } = sandbox(t);
  const squatter = await sockets.listenTcp({ host: loopback, port: 0 });
  const taken = boundPort(squatter);
  const real = await mapper.map(taken, 'TCP', 'app');
  t.not(real, taken, 'not the taken number');
  t.ok(real >= 1024, 'an unprivileged port');
  t.equal(await mapper.map(taken, 'TCP', 'app'), real, 'kept: asking again gives the same port');

  const squatter80 = await sockets.listenTcp({ host: loopback, port: 10080 });
  const real80 = await mapper.map(80, 'TCP', 'app');
  t.not(real80, 10080, '10080 taken: the kernel chooses');
  t.ok(real80 >= 1024);
  const server = await sockets.listenTcp({ host: loopback, port: real80 });
  t.equal(boundPort(server), real80, 'the chosen port binds');
  void squatter80;
});

t.test('PortMapper: a second container claiming a taken port fails as its bind would', async (t) => {
  const { mapper } = sandbox(t, '10.244.3.4');
  await mapper.map(80, 'TCP', 'nginx');
  await t.rejects(mapper.map(80, 'TCP', 'httpd'), {
    name: 'PortInUseError',
    code: 'PODNET_PORT_IN_USE',
    message: 'listen tcp 10.244.3.4:80: bind: address already in use',
    holder: 'nginx',
    port: 80,
    protocol: 'TCP',
  });
  await t.rejects(Promise.all([mapper.map(9000, 'UDP', 'a'), mapper.map(9000, 'UDP', 'b')]), new PortInUseError('10.244.3.4', 9000, 'UDP', 'a'), 'a concurrent claim loses too');
  t.equal(await mapper.map(9000, 'UDP', 'a'), 9000);
  t.equal(await mapper.map(80, 'UDP', 'httpd'), 10080, 'UDP 80 is another port');

  t.ok(mapper.release(80, 'TCP'));
  t.equal(await mapper.map(80, 'TCP', 'httpd'), 10080, 'free again once released');
  mapper.releaseAll('httpd');
  t.same(mapper.mappings().map((m) => `${m.containerPort}/${m.protocol}`), ['9000/UDP']);
});

t.test('PortMapper: TCP and UDP ports are independent', async (t) => {
  const { loopback, sockets, mapper } = sandbox(t);
  const udpSquatter = await sockets.bindUdp({ host: loopback, port: 0 });
  const port = boundPort(udpSquatter);
  t.equal(await mapper.map(port, 'TCP', 'app'), port, 'a UDP socket does not take the TCP port');
  const udp = await mapper.map(port, 'UDP', 'app');
  t.not(udp, port, 'but it does take the UDP one');
  t.ok(udp >= 1024);
});

t.test('PortMapper: two container ports never share a real port', async (t) => {
  const { mapper } = sandbox(t);
  t.equal(await mapper.map(80, 'TCP', 'a'), 10080);
  const real = await mapper.map(10080, 'TCP', 'b');
  t.not(real, 10080, 'container port 10080 cannot have 10080: it is 80\'s');
  t.equal(mapper.containerPortOf(real), 10080);
});

t.test('PortMapper: dual-stack entries, validation, and a loopback-only address', async (t) => {
  const sockets = createSocketFactory();
  t.teardown(() => sockets.closeAll());
  const allocator = new LoopbackAllocator();
  const loopback = allocator.allocate(['10.78.0.5', 'fd00:10:78::5']);
  const mapper = new PortMapper({ loopback, virtual: allocator.virtualsOf(loopback), sockets, unprivilegedPortStart: 1024 });
  await mapper.map(443, 'TCP', 'app');
  t.same(mapper.entries(), { '10.78.0.5:443/TCP': '127.78.0.5:10443', '[fd00:10:78::5]:443/TCP': '127.78.0.5:10443' });
  await t.rejects(mapper.map(0, 'TCP'), { code: 'PODNET_INVALID_PORT' });
  await t.rejects(mapper.map(65536, 'TCP'), { code: 'PODNET_INVALID_PORT' });
  await t.rejects(mapper.map(80, 'ICMP' as 'TCP'), { code: 'PODNET_UNSUPPORTED_PROTOCOL' });
  t.throws(() => new PortMapper({ loopback: '10.244.1.5', sockets }), { code: 'PODNET_NOT_LOOPBACK' }, 'a mapper lives on a loopback address');
});

t.test('PortMapper: with the unprivileged start at 0, low ports keep their number', async (t) => {
  const sockets = createSocketFactory();
  t.teardown(() => sockets.closeAll());
  const mapper = new PortMapper({ loopback: '127.79.0.1', sockets, unprivilegedPortStart: 0 });
  // Probing port 80 needs either root or a permissive kernel; otherwise the kernel chooses.
  const real = await mapper.map(80, 'TCP', 'app');
  t.ok(real === 80 || real >= 1024, `got ${real}`);
  t.same(Object.keys(mapper.entries()), ['127.79.0.1:80/TCP'], 'without a virtual address the entry names the loopback one');
});

t.test('PortMapper probes through its socket factory', async (t) => {
  const probes: number[] = [];
  const real = createSocketFactory();
  t.teardown(() => real.closeAll());
  const recording = {
    listenTcp: async (o: { host: string; port: number }): Promise<net.Server> => {
      probes.push(o.port);
      return real.listenTcp(o);
    },
    connectTcp: real.connectTcp.bind(real),
    bindUdp: real.bindUdp.bind(real),
    closeAll: real.closeAll.bind(real),
  };
  const mapper = new PortMapper({ loopback: '127.80.0.1', sockets: recording, unprivilegedPortStart: 1024 });
  t.equal(await mapper.map(80), 10080);
  t.equal(await mapper.map(8443), 8443);
  t.same(probes, [10080, 8443]);
});
