// Shaped links (lib/dataplane/shaping.ts): tc's rate units, netem's delay/jitter/loss realized on
// real sockets through a relay, TCP loss as retransmission, UDP loss as loss; and what the
// pipeline decides for a link (a partition or 100% loss: no connectivity; an unshaped path: a
// direct socket). Time is a ManualClock: bytes cross a relay only as the test advances it, so
// every timing assertion is on virtual time — a lower bound that cannot flake.
import t from 'tap';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { ManualClock } from '../../lib/core/clock.js';
import { SeededRng, type Rng } from '../../lib/core/rng.js';
import { boundPort, createSocketFactory } from '../../lib/core/sockets.js';
import { Cluster } from '../../lib/cluster.js';
import { parseTopology } from '../../lib/topology/load.js';
import { parseClusterDocument } from '../../lib/topology/cluster.js';
import type { LinkSpec } from '../../lib/api/cluster.js';
import type { Pod } from '../../lib/api/types.js';
import { TCP_SYN_RETRIES, parseRate, planHandshake, datagramDelayMs, relayTcp, isShaped } from '../../lib/dataplane/shaping.js';
import { httpGet } from '../helpers/http.js';

/** Resolves once `cond` holds, giving real I/O event-loop turns in between (no virtual time passes). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

/** Advances the clock 1 ms per event-loop turn until `p` settles. */
async function pump<T>(clock: ManualClock, p: Promise<T>, maxMs = 120_000): Promise<T> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let ms = 0; !settled && ms < maxMs; ms++) {
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
  }
  return p;
}

/** A fixed sequence of draws. */
function script(...values: number[]): Rng {
  return { seed: 0, next: () => values.shift() ?? 0.99, int: (n) => Math.floor((values.shift() ?? 0) * n) };
}

const link = (extra: Partial<LinkSpec>): LinkSpec => ({ between: ['a', 'b'], ...extra });

// tc(8), "RATES": SI and IEC units, bits or bytes, case-insensitive; a bare number is bits/s.
const RATES: [string, number][] = [
  ['10mbit', 10e6],
  ['10Mbit', 10e6],
  ['512kbit', 512e3],
  ['1gbit', 1e9],
  ['1tbit', 1e12],
  ['100', 100],
  ['100bit', 100],
  ['1bps', 8],
  ['125kbps', 1e6],
  ['1mbps', 8e6],
  ['1kibit', 1024],
  ['1mibit', 2 ** 20],
  ['1kibps', 8192],
  ['1.5mbit', 1.5e6],
];

t.test('parseRate reads tc rates', async (t) => {
  for (const [text, bits] of RATES) t.equal(parseRate(text), bits, text);
  for (const bad of ['fast', '', '0mbit', '-1mbit', '10mbits', 'mbit', '10 m bit']) {
    t.throws(() => parseRate(bad), { code: 'PODNET_INVALID_RATE' }, JSON.stringify(bad));
  }
});

t.test('the Cluster document takes tc rates for bandwidth', async (t) => {
  const doc = (bandwidth: unknown) =>
    parseClusterDocument({ apiVersion: 'podnet.dev/v1alpha1', kind: 'Cluster', spec: { nodes: [{ name: 'a' }, { name: 'b' }], links: [{ between: ['a', 'b'], bandwidth }] } });
  t.equal(doc('10Mbit').links[0]!.bandwidthMbit, 10);
  t.equal(doc('125kbps').links[0]!.bandwidthMbit, 1);
  t.equal(doc(100).links[0]!.bandwidthMbit, 100, 'a number is Mbit/s');
  t.throws(() => doc('lots'), { message: /spec\.links\[0\]\.bandwidth: Invalid value: "lots": must be a bandwidth such as 100mbit/ });
});

t.test('what counts as shaped: timing impairments; a partition or 100% loss is connectivity, not shape', async (t) => {
  t.equal(isShaped(link({ latencyMs: 5 })), true);
  t.equal(isShaped(link({ bandwidthMbit: 10 })), true);
  t.equal(isShaped(link({ lossPercent: 1 })), true);
  t.equal(isShaped(link({})), false);
  t.equal(isShaped(link({ latencyMs: 5, partitioned: true })), false);
  t.equal(isShaped(link({ lossPercent: 100 })), false);
});

t.test('TCP handshake over a lossy link: a lost SYN or SYN-ACK is retried after 1 s, 2 s, 4 s ... (RFC 6298)', async (t) => {
  const lossy = link({ lossPercent: 50, latencyMs: 10 });
  t.same(planHandshake(lossy, script(0.9, 0.9)), { retransmits: 0, delayMs: 20 }, 'no loss: one round trip');
  t.same(planHandshake(lossy, script(0.1, 0.9, 0.9)), { retransmits: 1, delayMs: 1020 }, 'SYN lost once: 1 s later');
  t.same(planHandshake(lossy, script(0.9, 0.1, 0.1, 0.9, 0.9)), { retransmits: 2, delayMs: 3020 }, 'SYN-ACK lost, then SYN lost: 1 s + 2 s');
  const never = planHandshake(link({ lossPercent: 99.9 }), script(...Array(2 * (TCP_SYN_RETRIES + 1)).fill(0)));
  t.same(never, { gaveUp: true, afterMs: 127_000 }, `tcp_syn_retries=${TCP_SYN_RETRIES}: 1+2+4+...+64 s, then ETIMEDOUT`);
});

t.test('UDP over a lossy link: each datagram is lost with the link probability, else delayed', async (t) => {
  const l = link({ lossPercent: 30, latencyMs: 10, bandwidthMbit: 8 });
  t.equal(datagramDelayMs(l, script(0.1), 1000), undefined, 'lost');
  t.equal(datagramDelayMs(l, script(0.5), 1000), 11, 'kept: 1 ms to serialize 1000 bytes at 8 Mbit/s, then 10 ms');
});

/** A real echo server and a relay in front of it, all on 127.0.0.1, timed by a ManualClock. */
async function relayed(t: { teardown(fn: () => unknown): void }, l: LinkSpec, rng: Rng = new SeededRng(7)) {
  const clock = new ManualClock();
  const sockets = createSocketFactory();
  t.teardown(() => sockets.closeAll());
  const server = await sockets.listenTcp({ host: '127.0.0.1', port: 0 });
  const received: Buffer[] = [];
  const ends: string[] = [];
  server.on('connection', (s: Socket) => {
    s.on('data', (d: Buffer) => {
      received.push(d);
      s.write(d);
    });
    s.on('end', () => {
      ends.push('server saw FIN');
      s.end();
    });
    s.on('error', (err: NodeJS.ErrnoException) => ends.push(`server ${err.code}`));
    s.on('close', () => ends.push('server closed'));
  });
  const upstream = await sockets.connectTcp({ host: '127.0.0.1', port: boundPort(server) });
  const { socket, relay } = await relayTcp({ link: l, clock, rng, sockets, relayHost: '127.0.0.1', upstream });
  const echoed: Buffer[] = [];
  socket.on('data', (d: Buffer) => echoed.push(d));
  const total = (bufs: Buffer[]) => bufs.reduce((n, b) => n + b.length, 0);
  return { clock, socket, relay, received, echoed, ends, total };
}

t.test('the relay holds bytes for the link latency each way', async (t) => {
  const r = await relayed(t, link({ latencyMs: 20 }));
  t.match(r.relay.address, /^127\.0\.0\.1:\d+$/);
  r.socket.write('hello');
  await until(() => r.relay.forward.queuedBytes === 5, 'the relay has the bytes');
  t.equal(r.total(r.received), 0, 'nothing reaches the server at t=0');
  r.clock.advance(19);
  t.equal(r.total(r.received), 0, 'nor at 19 ms');
  r.clock.advance(1);
  await until(() => r.total(r.received) === 5, 'the server has them');
  await until(() => r.relay.reverse.queuedBytes === 5, 'the echo is on the link back');
  r.clock.advance(19);
  t.equal(r.total(r.echoed), 0);
  r.clock.advance(1);
  await until(() => r.total(r.echoed) === 5, 'the echo arrives');
  t.equal(Buffer.concat(r.echoed).toString(), 'hello');
});

t.test('bandwidth: bytes leave at the link rate (12500 bytes at 1 Mbit/s take 100 ms)', async (t) => {
  const r = await relayed(t, link({ bandwidthMbit: 1 }));
  const payload = Buffer.alloc(12_500, 'x');
  r.socket.write(payload);
  await until(() => r.relay.forward.queuedBytes === payload.length, 'all queued');
  r.clock.advance(99);
  t.ok(r.relay.forward.delivered.bytes < payload.length, `at 99 ms only ${r.relay.forward.delivered.bytes} bytes have crossed`);
  r.clock.advance(1);
  t.equal(r.relay.forward.delivered.bytes, payload.length, 'all of it at 100 ms');
  await until(() => r.total(r.received) === payload.length, 'the server has it all');
});

t.test('jitter reorders packets, but TCP bytes arrive in order; a FIN follows the data', async (t) => {
  const r = await relayed(t, link({ latencyMs: 30, jitterMs: 25 }));
  const chunks = Array.from({ length: 20 }, (_, i) => `<${i}>`);
  for (const [i, c] of chunks.entries()) {
    r.socket.write(c);
    await until(() => r.relay.forward.delivered.bytes + r.relay.forward.queuedBytes >= chunks.slice(0, i + 1).join('').length, `chunk ${i} queued`);
  }
  r.socket.end();
  r.clock.advance(60);
  await until(() => r.total(r.received) === chunks.join('').length, 'everything crossed');
  t.equal(Buffer.concat(r.received).toString(), chunks.join(''), 'in order');
  await until(() => r.ends.includes('server saw FIN'), 'the FIN');
  r.clock.advance(60);
  await until(() => r.total(r.echoed) === chunks.join('').length, 'the echo came back');
  t.equal(Buffer.concat(r.echoed).toString(), chunks.join(''));
});

t.test('a reset on one side resets the other at once', async (t) => {
  const r = await relayed(t, link({ latencyMs: 1000 }));
  r.socket.write('lost with the reset');
  await until(() => r.relay.forward.queuedBytes > 0, 'queued');
  r.socket.resetAndDestroy();
  await until(() => r.ends.includes('server closed'), 'the server side closes');
  t.same(r.ends, ['server ECONNRESET', 'server closed'], 'reset, not closed');
  r.clock.advance(2000);
  t.equal(r.total(r.received), 0, 'what was on the link died with the connection');
});

// ------------------------------------------------------------------------------------------------
// Through the data plane, on topologies/quickstart.yaml with a link between the two workers.

async function quickstart(t: { teardown(fn: () => unknown): void }, links: string) {
  const text = readFileSync('topologies/quickstart.yaml', 'utf8').replace('  kubeProxy:', `  links:\n${links}  kubeProxy:`);
  const clock = new ManualClock();
  const cluster = await Cluster.fromTopology(parseTopology(text, 'quickstart.yaml'), { clock, dropTimeoutMs: 50 });
  t.teardown(() => cluster.stop());
  const pods = cluster.list('pods', { namespace: 'default' }) as Pod[];
  const client = pods.find((p) => p.metadata.name === 'client')!;
  const web = pods.filter((p) => p.metadata.labels?.app === 'web');
  const near = web.find((p) => p.spec.nodeName === client.spec.nodeName)!;
  const far = web.find((p) => p.spec.nodeName !== client.spec.nodeName && p.spec.nodeName !== 'control-plane')!;
  const origin = { kind: 'pod' as const, node: client.spec.nodeName!, pod: 'default/client' };
  return { cluster, clock, client, near, far, origin };
}


t.test('a shaped link: cross-node TCP goes through a relay on the sending node, same-node stays direct', async (t) => {
  const q = await quickstart(t, '    - between: [worker, worker2]\n      latency: 20ms\n      bandwidth: 10mbit\n');
  t.ok(q.near && q.far, 'a web pod on each worker');
  const start = q.clock.now();
  const { socket, decision } = await pump(q.clock, q.cluster.dataplane.dialTcp(q.origin, q.far.status!.podIP!, 8080));
  t.ok(q.clock.now() - start >= 40, 'the handshake took a round trip: 2 × 20 ms of virtual time');
  t.match(decision.link, { latencyMs: 20, bandwidthMbit: 10 });
  t.match(
    decision.trace.filter((s) => s.stage === 'link'),
    [
      { node: q.client.spec.nodeName, action: 'shape', detail: /^link worker2?↔worker2?: 20ms, 10mbit$/ },
      { node: q.client.spec.nodeName, action: 'relay', detail: /^shaping relay 127\.18\.0\.\d+:\d+ \(20ms, 10mbit\)$/ },
    ],
  );
  const sent = q.clock.now();
  t.equal(await pump(q.clock, httpGet(socket, '/hostname').then((r) => r.body)), q.far.metadata.name, 'the right pod answers through the relay');
  t.ok(q.clock.now() - sent >= 40, 'request and answer each crossed the link');
  const again = await pump(q.clock, q.cluster.dataplane.dialTcp(q.origin, q.far.status!.podIP!, 8080));
  t.match(await pump(q.clock, httpGet(again.socket, '/clientip').then((r) => r.body)), new RegExp(`^${q.client.status!.podIP!.replace(/\./g, '\\.')}:\\d+$`), 'the server still sees the client pod IP');

  const direct = await q.cluster.dataplane.dialTcp(q.origin, q.near.status!.podIP!, 8080);
  t.equal(direct.decision.link, undefined, 'same node: no link');
  t.notOk(direct.decision.trace.some((s) => s.stage === 'link'), 'no relay: a direct socket');
  t.equal((await httpGet(direct.socket, '/hostname')).body, q.near.metadata.name, 'answered without the clock moving');
});

t.test('100% loss: cross-node flows time out, same-node flows pass', async (t) => {
  const q = await quickstart(t, '    - between: [worker, worker2]\n      loss: 100%\n');
  const failing = q.cluster.dataplane.dialTcp(q.origin, q.far.status!.podIP!, 8080);
  q.clock.advance(50);
  await t.rejects(failing, { code: 'PODNET_FLOW_FAILED', message: /^ETIMEDOUT: .*\(packet loss\)$/ });
  const udp = q.cluster.dataplane.exchangeUdp(q.origin, q.far.status!.podIP!, 8081, 'hostname');
  q.clock.advance(50);
  await t.rejects(udp, { message: /^ETIMEDOUT/ });
  const { socket } = await q.cluster.dataplane.dialTcp(q.origin, q.near.status!.podIP!, 8080);
  t.equal((await httpGet(socket, '/hostname')).body, q.near.metadata.name);
  t.equal((await q.cluster.dataplane.exchangeUdp(q.origin, q.near.status!.podIP!, 8081, 'hostname')).reply.toString(), q.near.metadata.name);
});

t.test('partial loss: TCP still connects (retransmitting), UDP exchanges are sometimes lost', async (t) => {
  const q = await quickstart(t, '    - between: [worker, worker2]\n      loss: 20%\n');
  for (let i = 0; i < 5; i++) {
    const { socket } = await pump(q.clock, q.cluster.dataplane.dialTcp(q.origin, q.far.status!.podIP!, 8080), 400_000);
    t.equal(await pump(q.clock, httpGet(socket, '/hostname').then((r) => r.body)), q.far.metadata.name, `connection ${i} answered`);
  }
  let answered = 0;
  let lost = 0;
  for (let i = 0; i < 20; i++) {
    try {
      await pump(q.clock, q.cluster.dataplane.exchangeUdp(q.origin, q.far.status!.podIP!, 8081, 'hostname', { timeoutMs: 1000 }));
      answered++;
    } catch (err) {
      t.match(err, { message: /^ETIMEDOUT: no answer/ });
      lost++;
    }
  }
  // Each exchange survives two crossings at 80%: 64% on average. The topology's seed fixes the draws.
  t.ok(answered > 0 && lost > 0, `${answered} answered, ${lost} lost`);
});
