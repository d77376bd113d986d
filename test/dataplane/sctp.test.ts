// SCTP in the data plane, carried over TCP (lib/dataplane/sctp.ts): pod to pod on the quickstart
// topology, same node and across the VXLAN overlay, decided as SCTP at every hook, tracked by
// conntrack in the kernel's SCTP states, traced as SCTP, with message boundaries kept.
//
// Specs: RFC 9260 (SCTP) §3.3.1 (a DATA chunk carries user data: no empty messages), §9.1 (ABORT),
// §9.2 (SHUTDOWN, no half-open association); Linux nf_conntrack_proto_sctp.c and
// Documentation/networking/nf_conntrack-sysctl.rst (states; ESTABLISHED 210 s, CLOSED 10 s);
// conntrack(8) `-L` line format; core/v1 ContainerPort.protocol (SCTP is a port protocol, keyed
// apart from TCP: the same number may be used by both).
import t from 'tap';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { Cluster } from '../../lib/cluster.js';
import { parseTopology } from '../../lib/topology/load.js';
import { ManualClock } from '../../lib/core/clock.js';
import { createSocketFactory } from '../../lib/core/sockets.js';
import { SctpAssociation, SctpMessageDecoder, encodeSctpMessage, SCTP_MAX_MESSAGE_BYTES, type SctpCloseInfo } from '../../lib/dataplane/sctp.js';
import { main } from '../../lib/cli/main.js';
import { PRIORITY } from '../../lib/dataplane/hooks.js';
import type { Pod } from '../../lib/api/types.js';

const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';

/** An agnhost netexec pod pinned to a node, serving HTTP and SCTP on the same port number. */
function sctpServer(name: string, node: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'sctp' } },
    spec: {
      nodeName: node,
      containers: [
        {
          name: 'netexec',
          image: AGNHOST,
          args: ['netexec', '--http-port=8080', '--udp-port=8081', '--sctp-port=8080'],
          ports: [
            { containerPort: 8080, protocol: 'TCP' },
            { containerPort: 8081, protocol: 'UDP' },
            { containerPort: 8080, protocol: 'SCTP' },
          ],
        },
      ],
    },
  };
}

async function quickstart(t: { teardown(fn: () => unknown): void }, options: { clock?: ManualClock; links?: string } = {}) {
  const text = readFileSync('topologies/quickstart.yaml', 'utf8').replace('  kubeProxy:', `${options.links ?? ''}  kubeProxy:`);
  const cluster = await Cluster.fromTopology(parseTopology(text, 'quickstart.yaml'), { dropTimeoutMs: 50, ...(options.clock ? { clock: options.clock } : {}) });
  t.teardown(() => cluster.stop());
  const client = cluster.get('pods', 'client', 'default') as Pod;
  const near = client.spec.nodeName!;
  const far = near === 'worker' ? 'worker2' : 'worker';
  cluster.apply([sctpServer('sctp-near', near), sctpServer('sctp-far', far)]);
  await cluster.settle();
  const pod = (name: string) => cluster.get('pods', name, 'default') as Pod;
  const origin = { kind: 'pod' as const, node: near, pod: 'default/client' };
  return { cluster, client, near, far, origin, pod };
}

const closed = (a: SctpAssociation) => new Promise<SctpCloseInfo>((resolve) => (a.closeInfo ? resolve(a.closeInfo) : a.once('close', resolve)));

t.test('frames are reassembled into whole messages whatever chunks the carrier delivers', async (t) => {
  const messages = [Buffer.from('a'), Buffer.from('hostname\n'), Buffer.alloc(70_000, 7), Buffer.from('échos ☃')];
  const stream = Buffer.concat(messages.map(encodeSctpMessage));
  for (const size of [1, 3, 4, 5, 1000, stream.length]) {
    const decoder = new SctpMessageDecoder();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += size) out.push(...decoder.push(stream.subarray(i, i + size)));
    t.same(out, messages, `chunks of ${size} bytes`);
    t.equal(decoder.pending, 0);
  }
  t.throws(() => new SctpMessageDecoder().push(Buffer.from([0, 0, 0, 0])), { code: 'PODNET_SCTP_PROTOCOL_VIOLATION' }, 'an empty DATA chunk');
  t.throws(() => new SctpMessageDecoder(16).push(encodeSctpMessage(Buffer.alloc(17))), { code: 'PODNET_SCTP_PROTOCOL_VIOLATION' }, 'over the limit');
});

t.test('an association over real loopback TCP keeps message boundaries, shuts down and aborts as SCTP does', async (t) => {
  const sockets = createSocketFactory();
  t.teardown(() => sockets.closeAll());
  const accepted: SctpAssociation[] = [];
  const server = await sockets.listenTcp({ host: '127.0.0.1', port: 0 });
  server.on('connection', (s: net.Socket) => accepted.push(new SctpAssociation(s, { localAddress: '10.244.2.2', localPort: 7, remoteAddress: '10.244.1.2', remotePort: s.remotePort ?? 0 })));
  const port = (server.address() as net.AddressInfo).port;
  const dial = async () => {
    const s = await sockets.connectTcp({ host: '127.0.0.1', port });
    return new SctpAssociation(s, { localAddress: '10.244.1.2', localPort: s.localPort ?? 0, remoteAddress: '10.244.2.2', remotePort: 7 });
  };

  // Many messages of many sizes, written back to back so the TCP stream coalesces and splits them.
  const client = await dial();
  const sizes = [1, 2, 3, 4, 5, 100, 1023, 1024, 1025, 65_535, 65_536, 1_000_000, 1, 7];
  const sent = sizes.map((n, i) => Buffer.alloc(n, i + 1));
  for (const m of sent) client.send(m);
  client.close();
  t.equal(client.state, 'SHUTDOWN-PENDING');
  t.throws(() => client.send('late'), { code: 'PODNET_SCTP_SEND_FAILED', errno: 'EPIPE' }, 'no sending after SHUTDOWN');
  while (accepted.length === 0) await new Promise((r) => setImmediate(r));
  const peer = accepted[0]!;
  const got: Buffer[] = [];
  for (let i = 0; i < sent.length; i++) got.push(await peer.receive());
  t.same(
    got.map((m) => m.length),
    sizes,
  );
  t.ok(got.every((m, i) => m.equals(sent[i]!)), 'every message arrives whole, in order');
  t.same(await closed(peer), { aborted: false }, 'the peer sees a graceful shutdown (no half-open association)');
  t.same(await closed(client), { aborted: false });
  await t.rejects(peer.receive(), { code: 'PODNET_SCTP_CLOSED', message: 'EOF' }, 'reading past the end is EOF');

  // Bad input is refused and changes nothing.
  const second = await dial();
  t.throws(() => second.send(''), { code: 'PODNET_SCTP_SEND_FAILED', errno: 'EINVAL' }, 'an empty message');
  t.throws(() => second.send(Buffer.alloc(SCTP_MAX_MESSAGE_BYTES + 1)), { code: 'PODNET_SCTP_SEND_FAILED', errno: 'EMSGSIZE' }, 'a message over the limit');
  t.equal(second.state, 'ESTABLISHED');
  second.send('still fine');
  while (accepted.length < 2) await new Promise((r) => setImmediate(r));
  t.equal((await accepted[1]!.receive()).toString(), 'still fine');

  // ABORT: the peer sees the association aborted.
  second.abort();
  t.match(await closed(accepted[1]!), { aborted: true, reason: 'ECONNRESET' });
  t.match(await closed(second), { aborted: true });

  // A peer that writes a malformed frame gets ABORTed.
  const raw = await sockets.connectTcp({ host: '127.0.0.1', port });
  while (accepted.length < 3) await new Promise((r) => setImmediate(r));
  raw.on('error', () => {});
  raw.write(Buffer.from([0, 0, 0, 0]));
  t.match(await closed(accepted[2]!), { aborted: true, reason: 'a DATA chunk with no user data' });
});

t.test('pod to pod SCTP, same node and across nodes: decided as SCTP, carried over TCP to the pod', async (t) => {
  const { cluster, client, near, far, origin, pod } = await quickstart(t);
  for (const [name, node] of [
    ['sctp-near', near],
    ['sctp-far', far],
  ] as const) {
    const server = pod(name);
    const ip = server.status!.podIP!;
    const { association, decision } = await cluster.dataplane.dialSctp(origin, ip, 8080);
    t.equal(decision.verdict, 'ACCEPT');
    t.equal(decision.tuple.protocol, 'SCTP', 'every hook saw SCTP');
    t.same(decision.hops, node === near ? [near] : [near, far]);
    // The real transport: TCP from the client pod's loopback address to the SCTP port's real port.
    const hostAddresses = JSON.parse(server.metadata.annotations!['podnet.dev/host-addresses']!) as Record<string, string>;
    t.equal(`${association.carrier.remoteAddress}:${association.carrier.remotePort}`, hostAddresses[`${ip}:8080/SCTP`]);
    t.equal(association.carrier.localAddress, cluster.dataplane.addresses.loopbackOf(client.status!.podIP!));
    association.send('hostname');
    t.equal((await association.receive()).toString(), name, `netexec on ${node} answers its hostname over SCTP`);
    t.same(await closed(association), { aborted: false }, 'and shuts the association down');

    const again = (await cluster.dataplane.dialSctp(origin, ip, 8080)).association;
    again.send('clientip');
    t.match((await again.receive()).toString(), new RegExp(`^${client.status!.podIP!.replace(/\./g, '\\.')}:\\d+$`), 'the server sees the client pod IP');
  }
});

t.test('SCTP 8080 and TCP 8080 in one pod are two ports, each with its own real TCP port', async (t) => {
  const { cluster, origin, pod } = await quickstart(t);
  const server = pod('sctp-near');
  const ip = server.status!.podIP!;
  const map = JSON.parse(server.metadata.annotations!['podnet.dev/host-addresses']!) as Record<string, string>;
  t.same(Object.keys(map).sort(), [`${ip}:8080/SCTP`, `${ip}:8080/TCP`, `${ip}:8081/UDP`]);
  t.equal(map[`${ip}:8080/TCP`], `127.${ip.split('.').slice(1).join('.')}:8080`, 'TCP keeps its number');
  t.not(map[`${ip}:8080/SCTP`], map[`${ip}:8080/TCP`], 'SCTP rides on another real TCP port');

  const { socket } = await cluster.dataplane.dialTcp(origin, ip, 8080);
  const http = await new Promise<string>((resolve) => {
    let body = '';
    socket.on('data', (d: Buffer) => (body += d.toString()));
    socket.on('end', () => resolve(body));
    socket.write('GET /hostname HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
  t.match(http, /\r\n\r\nsctp-near$/, 'TCP 8080 is HTTP');
  const { association } = await cluster.dataplane.dialSctp(origin, ip, 8080);
  association.send('echo Hello SCTP');
  t.equal((await association.receive()).toString(), 'hello sctp', 'SCTP 8080 is the SCTP server (commands are lower-cased)');
});

t.test('conntrack shows sctp entries in the kernel states on every node crossed, CLOSED after shutdown', async (t) => {
  const clock = new ManualClock();
  const { cluster, client, near, far, origin, pod } = await quickstart(t, { clock });
  const ip = pod('sctp-far').status!.podIP!;
  const src = client.status!.podIP!;
  const { association } = await cluster.dataplane.dialSctp(origin, ip, 8080);
  const line = (state: string, ttl: number) =>
    new RegExp(`^sctp     132 ${ttl} ${state} src=${src} dst=${ip} sport=(\\d+) dport=8080 src=${ip} dst=${src} sport=8080 dport=\\1 \\[ASSURED\\] mark=0 use=1$`, 'm');
  for (const node of [near, far]) t.match(cluster.dataplane.nodes.get(node)!.conntrack.format(), line('ESTABLISHED', 210), `${node}: ESTABLISHED, 210 s`);
  association.send('hostname');
  await association.receive();
  await closed(association);
  for (const node of [near, far]) t.match(cluster.dataplane.nodes.get(node)!.conntrack.format(), line('CLOSED', 10), `${node}: CLOSED after the shutdown, 10 s`);
  clock.advance(10_000);
  for (const node of [near, far]) t.notMatch(cluster.dataplane.nodes.get(node)!.conntrack.format(), /^sctp/m, `${node}: expired`);
});

t.test('failures: nothing listening refuses the association, a partitioned link times it out', async (t) => {
  const { cluster, origin, pod } = await quickstart(t, { links: '  links:\n    - between: [worker, worker2]\n      partitioned: true\n' });
  await t.rejects(cluster.dataplane.dialSctp(origin, pod('sctp-near').status!.podIP!, 9999), { code: 'PODNET_FLOW_FAILED', errno: 'ECONNREFUSED' });
  await t.rejects(cluster.dataplane.dialSctp(origin, pod('sctp-near').status!.podIP!, 8081), { code: 'PODNET_FLOW_FAILED', errno: 'ECONNREFUSED' }, 'UDP 8081 is not SCTP 8081');
  await t.rejects(cluster.dataplane.dialSctp(origin, pod('sctp-far').status!.podIP!, 8080), { code: 'PODNET_FLOW_FAILED', errno: 'ETIMEDOUT' });
});

t.test('a rule at a netfilter hook sees SCTP: `-p sctp --dport 8080 -j DROP` drops SCTP and lets TCP 8080 through', async (t) => {
  const { cluster, far, origin, pod } = await quickstart(t);
  const seen: string[] = [];
  cluster.dataplane.nodes.get(far)!.register('FORWARD', {
    name: 'test/filter',
    priority: PRIORITY.filter,
    run: (ctx) => {
      seen.push(ctx.tuple.protocol);
      return ctx.tuple.protocol === 'SCTP' && ctx.tuple.dport === 8080 ? { verdict: 'DROP', reason: '-p sctp --dport 8080 -j DROP' } : undefined;
    },
  });
  const ip = pod('sctp-far').status!.podIP!;
  const dropped = await cluster.dataplane.dialSctp(origin, ip, 8080).then(
    () => undefined,
    (e: { errno?: string; decision?: { trace: { detail?: string }[] } }) => e,
  );
  t.equal(dropped?.errno, 'ETIMEDOUT');
  t.ok(dropped?.decision?.trace.some((s) => s.detail === 'test/filter: -p sctp --dport 8080 -j DROP'), 'the trace names the rule');
  const { socket } = await cluster.dataplane.dialTcp(origin, ip, 8080);
  socket.destroy();
  t.same(seen, ['SCTP', 'TCP']);
});

t.test('podnet trace --protocol SCTP walks the flow as SCTP', async (t) => {
  const { cluster, far } = await quickstart(t);
  // The CLI brings the same topology up one-shot; with the same seed the web pods get the same IPs.
  const web = (cluster.list('pods', { namespace: 'default' }) as Pod[]).find((p) => p.metadata.labels?.app === 'web' && p.spec.nodeName === far)!;
  let out = '';
  const code = await main(['trace', '--from', 'client', '--to', web.status!.podIP!, '--port', '8080', '--protocol', 'SCTP', '-f', 'topologies/quickstart.yaml'], {
    stdout: (s) => (out += s),
    stderr: (s) => (out += s),
  });
  t.equal(code, 0);
  t.match(out, `→ ${web.status!.podIP}:8080/SCTP`);
  t.match(out, /vxlan\s+encap\s+.* inner \S+ → \S+:8080\/SCTP/, 'the overlay carries SCTP');
  t.match(out, new RegExp(`deliver\\s+ACCEPT\\s+.*→ default/${web.metadata.name} eth0`), `delivered to ${web.metadata.name}`);
  t.match(out, /verdict: ACCEPT\n$/);
});
