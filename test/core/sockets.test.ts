// The one loopback guard (DESIGN invariant 2: "a single guard in the socket layer refuses any
// real bind or connect outside 127.0.0.0/8 and ::1, and a test proves it"), the socket factory it
// guards, and the suite-wide guard every test process runs under (test/setup/loopback-guard.mjs).
// Nothing here sends a byte to a non-loopback address: refused calls throw before the socket call,
// and the child-process checks run over a tripwire that stands in for the real socket calls.
import t, { type Test } from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { assertLoopback, boundPort, createSocketFactory, isLoopbackAddress, NotLoopbackError } from '../../lib/core/sockets.js';
import { isLoopbackAddress as suiteGuardIsLoopback, violations } from '../setup/loopback-guard.mjs';

const GUARD = './test/setup/loopback-guard.mjs';

// [address, loopback?]
const ADDRESSES: [string, boolean][] = [
  ['127.0.0.1', true],
  ['127.244.1.5', true],
  ['127.255.255.254', true],
  ['127.0.0.0', true],
  ['::1', true],
  ['0:0:0:0:0:0:0:1', true],
  ['[::1]', true],
  ['::ffff:127.0.0.1', true],
  ['::ffff:7f00:1', true],
  ['localhost', true],
  ['10.244.1.5', false],
  ['172.18.0.2', false],
  ['192.168.1.1', false],
  ['192.0.2.1', false],
  ['0.0.0.0', false],
  ['::', false],
  ['[::]', false],
  ['126.255.255.255', false],
  ['128.0.0.1', false],
  ['::2', false],
  ['::127.0.0.1', false],
  ['::ffff:10.244.1.5', false],
  ['fd00:10:244:1::5', false],
  ['fe80::1', false],
  ['::1%lo', false],
  ['127.1', false],
  ['127.000.000.001', false],
  ['2130706433', false],
  ['localhost.', false],
  ['example.com', false],
  ['web.default.svc.cluster.local', false],
  ['', false],
];

const REFUSED = ['10.244.1.5', '172.18.0.2', '0.0.0.0', '::', '192.168.1.1'];

t.test('isLoopbackAddress accepts 127.0.0.0/8, ::1 and localhost, and nothing else', async (t) => {
  for (const [address, want] of ADDRESSES) t.equal(isLoopbackAddress(address), want, JSON.stringify(address));
  t.equal(isLoopbackAddress(undefined), false);
});

t.test('the suite-wide guard and the production guard agree on every address', async (t) => {
  for (const [address] of ADDRESSES) t.equal(suiteGuardIsLoopback(address), isLoopbackAddress(address), JSON.stringify(address));
});

t.test('assertLoopback names the address and why it is refused', async (t) => {
  t.throws(() => assertLoopback('10.244.1.5', 'connect'), {
    name: 'NotLoopbackError',
    code: 'PODNET_NOT_LOOPBACK',
    address: '10.244.1.5',
    operation: 'connect',
    message:
      'refusing to connect 10.244.1.5: podnet only binds and connects inside 127.0.0.0/8 and ::1; 10.244.1.5 is a virtual address (or one on the host\'s network) — it must be mapped to its loopback address first',
  });
  t.throws(() => assertLoopback('0.0.0.0', 'bind'), { message: /refusing to bind 0\.0\.0\.0: .*0\.0\.0\.0 is the unspecified address, which binds every interface/ });
  t.throws(() => assertLoopback('::', 'bind'), { message: /:: is the unspecified address/ });
  t.throws(() => assertLoopback('example.com', 'connect'), { message: /example\.com is a host name, .*only "localhost" is accepted/ });
  t.throws(() => assertLoopback(undefined, 'bind'), { message: /refusing to bind \(no address\): .*no address was given, and a socket without one binds every interface/ });
  t.ok(new NotLoopbackError('10.0.0.1', 'send', 'x') instanceof Error);
  t.equal(assertLoopback('localhost', 'connect'), '127.0.0.1', 'localhost is pinned to 127.0.0.1, not resolved');
  t.equal(assertLoopback('[::1]', 'bind'), '::1');
  t.equal(assertLoopback('127.244.1.5', 'bind'), '127.244.1.5');
});

/** Counts calls that reach node's socket methods (beneath the factory, above the suite guard). */
function spyOnSocketCalls(t: Test): { calls: string[] } {
  const calls: string[] = [];
  const spied: [object, string][] = [
    [net.Socket.prototype, 'connect'],
    [net.Server.prototype, 'listen'],
    [dgram.Socket.prototype, 'bind'],
    [dgram.Socket.prototype, 'send'],
    [dgram.Socket.prototype, 'connect'],
  ];
  for (const [proto, name] of spied) {
    const target = proto as Record<string, (...args: unknown[]) => unknown>;
    const original = target[name]!;
    target[name] = function (this: unknown, ...args: unknown[]) {
      calls.push(name);
      return original.apply(this, args);
    };
    t.teardown(() => {
      target[name] = original;
    });
  }
  return { calls };
}

t.test('the factory refuses bind and connect outside loopback before any socket call', async (t) => {
  const sockets = createSocketFactory();
  t.teardown(() => sockets.closeAll());
  const spy = spyOnSocketCalls(t);
  for (const address of REFUSED) {
    await t.rejects(sockets.listenTcp({ host: address, port: 0 }), { code: 'PODNET_NOT_LOOPBACK', operation: 'bind', address }, `listenTcp ${address}`);
    await t.rejects(sockets.connectTcp({ host: address, port: 80 }), { code: 'PODNET_NOT_LOOPBACK', operation: 'connect', address }, `connectTcp ${address}`);
    await t.rejects(sockets.connectTcp({ host: '127.0.0.1', port: 80, localAddress: address }), { code: 'PODNET_NOT_LOOPBACK', operation: 'bind' }, `connectTcp from ${address}`);
    await t.rejects(sockets.bindUdp({ host: address, port: 0 }), { code: 'PODNET_NOT_LOOPBACK', operation: 'bind', address }, `bindUdp ${address}`);
  }
  await t.rejects(sockets.listenTcp({ host: '', port: 0 }), { code: 'PODNET_NOT_LOOPBACK' }, 'no host is refused, not defaulted to every interface');
  await t.rejects(sockets.connectTcp({ host: 'example.com', port: 80 }), { code: 'PODNET_NOT_LOOPBACK' }, 'host names are not resolved');
  t.same(spy.calls, [], 'no socket call was made');
  t.same(violations(), [], 'nothing reached the suite-wide guard');
});

t.test('the factory listens, dials and sends on 127.0.0.0/8 and ::1', async (t) => {
  const sockets = createSocketFactory();
  t.teardown(() => sockets.closeAll());

  const server = await sockets.listenTcp({ host: '127.244.1.5', port: 0 });
  const port = boundPort(server);
  t.ok(port > 0, 'port 0 gives a kernel-chosen port');
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = await sockets.connectTcp({ host: '127.244.1.5', port, localAddress: '127.10.0.7', timeoutMs: 5000 });
  const peer = await accepted;
  t.equal(peer.remoteAddress, '127.10.0.7', 'the server sees the loopback source the dial chose');
  client.write('ping');
  t.equal(String(await new Promise<Buffer>((resolve) => peer.once('data', resolve))), 'ping');

  const v6 = await sockets.listenTcp({ host: '::1', port: 0 });
  const v6client = await sockets.connectTcp({ host: '::1', port: boundPort(v6) });
  t.equal(v6client.remoteAddress, '::1');

  const viaLocalhost = await sockets.listenTcp({ host: 'localhost', port: 0 });
  t.equal((viaLocalhost.address() as net.AddressInfo).address, '127.0.0.1', 'localhost binds 127.0.0.1');

  await t.rejects(sockets.connectTcp({ host: '127.0.0.1', port: await closedPort() }), { code: 'ECONNREFUSED' });

  const receiver = await sockets.bindUdp({ host: '127.0.0.2', port: 0 });
  const sender = await sockets.bindUdp({ host: '127.0.0.3', port: 0 });
  const got = new Promise<[Buffer, dgram.RemoteInfo]>((resolve) => receiver.once('message', (msg, rinfo) => resolve([msg, rinfo])));
  sender.send('hello', boundPort(receiver), '127.0.0.2');
  const [msg, rinfo] = await got;
  t.equal(String(msg), 'hello');
  t.equal(rinfo.address, '127.0.0.3');

  await sockets.closeAll();
  t.equal(server.listening, false, 'closeAll closes listeners');
  t.equal(client.destroyed, true, 'closeAll closes connections');
});

t.test('a factory UDP socket checks every destination before sending', async (t) => {
  const sockets = createSocketFactory();
  t.teardown(() => sockets.closeAll());
  const socket = await sockets.bindUdp({ host: '127.0.0.1', port: 0 });
  const spy = spyOnSocketCalls(t);
  for (const address of REFUSED) {
    t.throws(() => socket.send('x', 53, address), { code: 'PODNET_NOT_LOOPBACK', operation: 'send', address }, `send to ${address}`);
    t.throws(() => socket.send(Buffer.from('xy'), 0, 1, 53, address), { code: 'PODNET_NOT_LOOPBACK' }, `send(msg, offset, length, port, ${address})`);
    t.throws(() => socket.connect(53, address), { code: 'PODNET_NOT_LOOPBACK', operation: 'connect' }, `connect to ${address}`);
  }
  t.same(spy.calls, [], 'nothing reached node:dgram');
  t.same(violations(), []);
});

async function closedPort(): Promise<number> {
  const sockets = createSocketFactory();
  const s = await sockets.listenTcp({ host: '127.0.0.1', port: 0 });
  const port = boundPort(s);
  await sockets.closeAll();
  return port;
}

// A tripwire loaded before the guard stands in for node's real socket calls in the child: it
// records what reaches it and opens nothing, so even a broken guard could not send a packet.
const TRIPWIRE = `data:text/javascript,${encodeURIComponent(`
import net from 'node:net';
import dgram from 'node:dgram';
const stub = (proto, name) => { proto[name] = function (...args) { process.stderr.write('TRIPWIRE ' + name + ' ' + JSON.stringify(args.filter((a) => typeof a !== 'function')) + '\\n'); return this; }; };
stub(net.Socket.prototype, 'connect');
stub(net.Server.prototype, 'listen');
stub(dgram.Socket.prototype, 'bind');
stub(dgram.Socket.prototype, 'send');
stub(dgram.Socket.prototype, 'connect');
`)}`;

function guarded(script: string, { tripwire = true } = {}) {
  const imports = [...(tripwire ? ['--import', TRIPWIRE] : []), '--import', GUARD];
  const r = spawnSync(process.execPath, [...imports, '--input-type=commonjs', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('the suite-wide guard fails a process that dials outside loopback, before the socket call', async (t) => {
  const r = guarded(`require('net').connect(80, '192.0.2.1')`);
  t.equal(r.code, 1, 'the process fails');
  t.match(r.stderr, 'LOOPBACK GUARD: 1 attempt(s) to use a socket outside 127.0.0.0/8 and ::1');
  t.match(r.stderr, '1. connect to 192.0.2.1: not a loopback address');
  t.notMatch(r.stderr, 'TRIPWIRE', 'the real connect was never called');
});

t.test('the suite-wide guard records refusals the code swallowed, and fails the process at exit', async (t) => {
  const r = guarded(`
    const net = require('net'), http = require('http'), dgram = require('dgram');
    const attempts = [
      () => net.connect({ host: '10.244.1.5', port: 80 }),
      () => net.connect({ host: '127.0.0.1', port: 80, localAddress: '172.18.0.2' }),
      () => new net.Socket().connect(53, 'example.com'),
      () => http.createServer().listen(8080),
      () => http.createServer().listen({ port: 0 }),
      () => net.createServer().listen(0, '0.0.0.0'),
      () => net.createServer().listen(0, '::'),
      () => dgram.createSocket('udp4').bind(5353),
      () => dgram.createSocket('udp4').bind(0, '127.0.0.1').send('x', 53, '192.168.1.1'),
      () => dgram.createSocket('udp6').bind(0, '::1').connect(53, 'fd00::10'),
    ];
    let refused = 0;
    for (const attempt of attempts) { try { attempt(); } catch (err) { if (err.code === 'PODNET_NOT_LOOPBACK') refused++; } }
    console.log('refused ' + refused);
  `);
  t.equal(r.code, 1, 'the process fails');
  t.equal(r.stdout.trim(), 'refused 10', 'every attempt threw');
  t.match(r.stderr, 'LOOPBACK GUARD: 10 attempt(s)');
  for (const line of [
    'connect to 10.244.1.5: not a loopback address',
    'connect from 172.18.0.2: not a loopback address',
    'connect to example.com: a host name could resolve outside loopback',
    'listen on (no address): listen() without a host binds every interface',
    'listen on 0.0.0.0: the unspecified address binds every interface',
    'listen on ::: the unspecified address binds every interface',
    'bind (no address): a UDP bind without an address binds every interface',
    'send to 192.168.1.1: not a loopback address',
    'connect to fd00::10: not a loopback address',
  ]) {
    t.match(r.stderr, line);
  }
  // Only the two loopback binds got through to the (stubbed) socket calls.
  t.same(r.stderr.match(/^TRIPWIRE .*$/gm), ['TRIPWIRE bind [0,"127.0.0.1"]', 'TRIPWIRE bind [0,"::1"]']);
});

t.test('the suite-wide guard refuses the implicit every-interface bind of an unbound UDP socket', async (t) => {
  // No tripwire: node's own send() makes the implicit bind. The destination is loopback, and the
  // guard throws inside that bind, before the datagram is handed to the kernel.
  const r = guarded(
    `
    const dgram = require('dgram');
    let refused = 0;
    for (const attempt of [() => dgram.createSocket('udp4').send('x', 9, '127.0.0.1'), () => dgram.createSocket('udp6').connect(9, '::1')]) {
      try { attempt(); } catch (err) { if (err.code === 'PODNET_NOT_LOOPBACK') refused++; }
    }
    console.log('refused ' + refused);
    process.exit(); // an explicit exit still gets the report and exit code
  `,
    { tripwire: false },
  );
  t.equal(r.code, 1, 'the process fails');
  t.equal(r.stdout.trim(), 'refused 2');
  t.match(r.stderr, 'bind (no address): send() or connect() on an unbound UDP socket binds it to every interface');
});

t.test('the suite-wide guard lets loopback through and leaves a clean process alone', async (t) => {
  const r = guarded(`
    const net = require('net'), http = require('http');
    net.connect(80, '127.0.0.1');
    net.connect({ host: 'localhost', port: 80, localAddress: '127.0.0.9' });
    net.connect(80);
    net.connect('/tmp/podnet-test.sock');
    http.createServer().listen(0, '127.244.1.5');
    http.createServer().listen({ port: 0, host: '::1' });
    net.createServer().listen('/tmp/podnet-test.sock');
  `);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, 'LOOPBACK GUARD');
  t.equal(r.stderr.match(/^TRIPWIRE /gm)?.length, 7, 'every call reached the socket layer');
});
