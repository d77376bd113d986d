// The IPVS model (lib/dataplane/ipvs.ts): the kernel's schedulers (net/netfilter/ipvs/ip_vs_rr.c,
// ip_vs_wrr.c, ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sh.c) over the destination list in the kernel's order
// (a new real server at the head: list_add_rcu in ip_vs_ctl.c __ip_vs_update_dest), persistence
// templates (ip_vs_core.c ip_vs_sched_persist, ip_vs_check_template), connection counts and
// timeouts, `ipvsadm -Ln [--stats]` as ipvsadm.c print_title/print_service_entry format them, and
// the hooks: a flow to a Service VIP on kube-ipvs0 is DNATed at INPUT and routed on from the node.
// Every expected sequence below was worked out by hand from the kernel functions named.
import t from 'tap';
import { Ipvs, shBucket, type VirtualServer } from '../../lib/dataplane/ipvs.js';
import { formatTrace } from '../../lib/dataplane/pipeline.js';
import type { FlowTuple } from '../../lib/dataplane/conntrack.js';
import { ManualClock } from '../../lib/core/clock.js';
import { PodnetError } from '../../lib/core/errors.js';
import { WORKER_LEASES, flannelCluster } from '../kubeproxy/fixtures.js';

let sport = 40000;
const tcp = (src: string, dst = '10.96.0.10', dport = 80): FlowTuple => ({ protocol: 'TCP', src, sport: sport++, dst, dport });
const udp = (src: string, dst = '10.96.0.10', dport = 53): FlowTuple => ({ protocol: 'UDP', src, sport: sport++, dst, dport });

/** A virtual server with real servers added in the order given (so the list holds them reversed). */
function table(scheduler: 'rr' | 'wrr' | 'lc' | 'wlc' | 'sh', dests: [string, number][], extra: { persistent?: number; protocol?: 'TCP' | 'UDP' } = {}) {
  const clock = new ManualClock();
  const ipvs = new Ipvs({ clock });
  const vs = ipvs.addService({ protocol: extra.protocol ?? 'TCP', address: '10.96.0.10', port: extra.protocol === 'UDP' ? 53 : 80, scheduler, ...(extra.persistent ? { persistent: extra.persistent } : {}) });
  for (const [address, weight] of dests) ipvs.addDest(vs, { address, port: 8080, weight });
  return { clock, ipvs, vs };
}

function picks(ipvs: Ipvs, tuples: FlowTuple[]): string[] {
  return tuples.map((tu) => ipvs.schedule(tu)?.dest?.address ?? 'none');
}

t.test('rr: round robin over the list (newest first), skipping weight 0 (ip_vs_rr.c)', async (t) => {
  const { ipvs, vs } = table('rr', [['10.0.0.1', 1], ['10.0.0.2', 1], ['10.0.0.3', 1]]);
  t.same(vs.dests.map((d) => d.address), ['10.0.0.3', '10.0.0.2', '10.0.0.1'], 'each new real server goes to the head');
  t.same(picks(ipvs, Array.from({ length: 6 }, () => tcp('10.244.1.2'))), ['10.0.0.3', '10.0.0.2', '10.0.0.1', '10.0.0.3', '10.0.0.2', '10.0.0.1']);
  ipvs.editDest(vs, { address: '10.0.0.2', port: 8080, weight: 0 });
  t.same(picks(ipvs, Array.from({ length: 4 }, () => tcp('10.244.1.2'))), ['10.0.0.3', '10.0.0.1', '10.0.0.3', '10.0.0.1'], 'a quiesced (weight 0) server gets nothing');
  // The last pick was 10.0.0.1 (the tail); deleting it resumes from its predecessor (ip_vs_rr_del_dest).
  ipvs.deleteDest(vs, '10.0.0.1', 8080);
  t.same(picks(ipvs, [tcp('10.244.1.2'), tcp('10.244.1.2')]), ['10.0.0.3', '10.0.0.3'], 'after the predecessor (weight 0) comes the head');
});

t.test('wrr: weight steps of gcd from the max weight (ip_vs_wrr.c)', async (t) => {
  // Added C(2), B(3), A(4): the list is A, B, C. ip_vs_wrr_dest_changed leaves cw at 1 after the
  // adds (cw was set to the first mw, 1, and never exceeds the later mw), so the first pass is
  // "weight >= 1": A, B, C. Then cw = mw = 4 and the period A A B A B C A B C (4:3:2) repeats.
  const { ipvs } = table('wrr', [['10.0.0.3', 2], ['10.0.0.2', 3], ['10.0.0.1', 4]]);
  const seq = picks(ipvs, Array.from({ length: 21 }, () => tcp('10.244.1.2'))).map((a) => ({ '10.0.0.1': 'A', '10.0.0.2': 'B', '10.0.0.3': 'C' })[a]);
  t.equal(seq.join(''), 'ABC' + 'AABABCABC'.repeat(2));
});

t.test('wrr: no destination when every weight is 0', async (t) => {
  const { ipvs } = table('wrr', [['10.0.0.1', 0], ['10.0.0.2', 0]]);
  t.same(picks(ipvs, [tcp('10.244.1.2')]), ['none']);
});

t.test('lc: least overhead = active * 256 + inactive, first in list order on ties (ip_vs_lc.c)', async (t) => {
  const { ipvs } = table('lc', [['10.0.0.1', 1], ['10.0.0.2', 1]]); // list: .2, .1
  const first = tcp('10.244.1.2');
  t.same(picks(ipvs, [first, tcp('10.244.1.2'), tcp('10.244.1.2')]), ['10.0.0.2', '10.0.0.1', '10.0.0.2'], 'ties go to the head; then the one with fewer');
  // .2 has 2 active (512), .1 has 1 (256). Closing one of .2's makes it 256 + 1 = 257 > 256.
  ipvs.closeConnection(first);
  t.same(picks(ipvs, [tcp('10.244.1.2')]), ['10.0.0.1']);
  // Now .2: 1 active + 1 inactive (257), .1: 2 active (512).
  t.same(picks(ipvs, [tcp('10.244.1.2')]), ['10.0.0.2']);
});

t.test('wlc: least overhead per weight, compared by cross-multiplying (ip_vs_wlc.c)', async (t) => {
  const { ipvs } = table('wlc', [['10.0.0.1', 3], ['10.0.0.2', 1]]); // list: .2 (w1), .1 (w3)
  // (b, a) active counts: (0,0) → .2; (1,0) → .1; (1,1), (1,2) → .1; (1,3): 256*3 = 768*1 → .2; …
  t.same(
    picks(ipvs, Array.from({ length: 8 }, () => tcp('10.244.1.2'))),
    ['10.0.0.2', '10.0.0.1', '10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.1', '10.0.0.1', '10.0.0.1'],
    '3:1 by weight',
  );
});

t.test('sh: a client always hashes to the same bucket; buckets filled by weight from the list (ip_vs_sh.c)', async (t) => {
  const { ipvs, vs } = table('sh', [['10.0.0.1', 1], ['10.0.0.2', 1]]); // list: .2, .1
  // hash_32(addr, 8) = (addr * 0x61C88647 mod 2^32) >> 24 (include/linux/hash.h); ip_vs_sh_reassign
  // gives buckets 0, 2, 4, … to the head (.2) and 1, 3, 5, … to .1 at weight 1 each.
  const bucket = (ip: string) => Number(((BigInt(ip.split('.').reduce((v, o) => v * 256 + Number(o), 0)) * 0x61c88647n) % 2n ** 32n) >> 24n);
  for (const client of ['10.244.1.2', '10.244.1.6', '192.168.1.9', '10.244.1.8']) {
    t.equal(shBucket(client), bucket(client), `bucket of ${client}`);
    const expected = bucket(client) % 2 === 0 ? '10.0.0.2' : '10.0.0.1';
    t.same(picks(ipvs, [tcp(client), tcp(client), tcp(client)]), [expected, expected, expected], `${client} sticks to ${expected}`);
  }
  // A weight-0 server's buckets give no server (no sh-fallback flag): 10.244.1.6 hashes to an even
  // bucket (.2's), 10.244.1.2 to an odd one (.1's).
  t.same([bucket('10.244.1.6') % 2, bucket('10.244.1.2') % 2], [0, 1]);
  ipvs.editDest(vs, { address: '10.0.0.2', port: 8080, weight: 0 });
  t.same(picks(ipvs, [tcp('10.244.1.6'), tcp('10.244.1.2')]), ['none', '10.0.0.1']);
  // Weight 2 takes two consecutive buckets: with .2 at 2 and .1 at 1, buckets go .2 .2 .1 .2 .2 .1 …
  ipvs.editDest(vs, { address: '10.0.0.2', port: 8080, weight: 2 });
  t.same(vs.shBuckets.slice(0, 6).map((d) => d?.address), ['10.0.0.2', '10.0.0.2', '10.0.0.1', '10.0.0.2', '10.0.0.2', '10.0.0.1']);
});

t.test('persistence: a client keeps its real server through a template (ip_vs_sched_persist)', async (t) => {
  const { ipvs, vs, clock } = table('rr', [['10.0.0.1', 1], ['10.0.0.2', 1]], { persistent: 60 });
  const a = picks(ipvs, [tcp('10.244.1.2'), tcp('10.244.1.2'), tcp('10.244.1.2')]);
  t.same(new Set(a).size, 1, 'every connection of the client goes to one server');
  const b = picks(ipvs, [tcp('10.244.1.3')]);
  t.not(b[0], a[0], 'another client is scheduled by rr');
  t.equal(ipvs.schedule(tcp('10.244.1.2'))!.persistent, true, 'the result says it came from the template');
  // The template's timeout (60 s) has passed, but its TCP connections (15 min) still live: it stays.
  clock.advance(120_000);
  t.same(picks(ipvs, [tcp('10.244.1.2')]), [a[0]], 'a template never expires while it controls connections');
  // Past every connection and the timeout after the last use: the template is gone.
  clock.advance(16 * 60_000);
  t.same(ipvs.connections().filter((c) => c.state === 'TEMPLATE'), [], 'templates expire with their connections gone');
  const dest = vs.dest(a[0]!, 8080)!;
  t.equal(dest.activeConns, 0);
  // A template to a weight-0 server is dropped (expire_quiescent_template=1, as kube-proxy sets).
  const pinned = picks(ipvs, [tcp('10.244.1.9')])[0]!;
  ipvs.editDest(vs, { address: pinned, port: 8080, weight: 0 });
  t.not(picks(ipvs, [tcp('10.244.1.9')])[0], pinned, 'the client is scheduled afresh, away from the quiesced server');
});

t.test('connection counts: TCP active until closed, then TIME_WAIT; UDP inactive for 5 minutes', async (t) => {
  const { ipvs, vs, clock } = table('rr', [['10.0.0.1', 1]]);
  const conn = tcp('10.244.1.2');
  ipvs.schedule(conn);
  const d = vs.dests[0]!;
  t.same([d.activeConns, d.inactiveConns], [1, 0]);
  ipvs.closeConnection(conn);
  t.same([d.activeConns, d.inactiveConns], [0, 1], 'TIME_WAIT counts as inactive');
  clock.advance(121_000);
  ipvs.expire();
  t.same([d.activeConns, d.inactiveConns], [0, 0], 'gone after 2 minutes');
  ipvs.schedule(tcp('10.244.1.2'));
  clock.advance(15 * 60_000 + 1);
  ipvs.expire();
  t.equal(d.activeConns, 0, 'an established TCP connection expires after 15 minutes idle');

  const u = table('rr', [['10.0.0.1', 1]], { protocol: 'UDP' });
  u.ipvs.schedule(udp('10.244.1.2'));
  const ud = u.vs.dests[0]!;
  t.same([ud.activeConns, ud.inactiveConns], [0, 1]);
  u.clock.advance(300_001);
  u.ipvs.expire();
  t.equal(ud.inactiveConns, 0);
  t.equal(ud.stats.conns, 1, 'Conns counts connections scheduled, not live ones');
});

t.test('bad definitions are refused by name and change nothing', async (t) => {
  const { ipvs, vs } = table('rr', [['10.0.0.1', 1]]);
  const before = ipvs.render();
  const cases: [() => unknown, RegExp][] = [
    [() => ipvs.addService({ protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'rr' }), /Service already exists/],
    [() => ipvs.addService({ protocol: 'TCP', address: '10.96.0.11', port: 80, scheduler: 'sed' as never }), /Scheduler not found: ip_vs_sed/],
    [() => ipvs.addService({ protocol: 'TCP', address: 'ten', port: 80, scheduler: 'rr' }), /not an IP address/],
    [() => ipvs.addService({ protocol: 'TCP', address: '10.96.0.11', port: 80, scheduler: 'rr', persistent: 0 }), /persistence timeout/],
    [() => ipvs.addDest(vs, { address: '10.0.0.1', port: 8080, weight: 1 }), /Destination already exists/],
    [() => ipvs.addDest(vs, { address: '10.0.0.2', port: 70000, weight: 1 }), /port must be between/],
    [() => ipvs.addDest(vs, { address: '10.0.0.2', port: 80, weight: -1 }), /weight must be/],
    [() => ipvs.editDest(vs, { address: '10.0.0.9', port: 8080, weight: 1 }), /No such destination/],
    [() => ipvs.deleteService('UDP', '10.96.0.10', 80), /No such service/],
  ];
  for (const [f, message] of cases) {
    const err = t.throws(f, message) as unknown;
    t.ok(err instanceof PodnetError && err.code === 'PODNET_IPVS_INVALID');
  }
  t.equal(ipvs.render(), before);
});

t.test('ipvsadm -Ln and -Ln --stats, as ipvsadm prints them', async (t) => {
  const ipvs = new Ipvs({ clock: new ManualClock() });
  const add = (protocol: 'TCP' | 'UDP' | 'SCTP', address: string, port: number, dests: [string, number][], persistent?: number): VirtualServer => {
    const vs = ipvs.addService({ protocol, address, port, scheduler: 'rr', ...(persistent ? { persistent } : {}) });
    for (const [a, p] of dests) ipvs.addDest(vs, { address: a, port: p, weight: 1 });
    return vs;
  };
  add('UDP', '10.96.0.10', 53, [['10.244.0.3', 53], ['10.244.0.2', 53]]);
  add('TCP', '10.96.0.10', 53, [['10.244.0.2', 53], ['10.244.0.3', 53]]);
  add('TCP', '10.96.0.1', 443, [['172.18.0.2', 6443]]);
  add('TCP', '10.96.0.50', 80, [['10.244.1.5', 8080]], 10800);
  add('SCTP', '10.96.0.60', 9999, []);
  add('TCP', '172.18.0.3', 30080, [['10.244.1.5', 8080]]);
  ipvs.schedule({ protocol: 'TCP', src: '10.244.1.9', sport: 1, dst: '10.96.0.1', dport: 443 });
  // print_title and print_service_entry: "%s  %s" service names, "  -> %-28s %-7s %-6d %-10u %-10u"
  // real servers (trailing blanks included), services sorted by protocol number, then address as
  // libipvs's wrapping int difference (172.18.0.3 before 10.96.x), then port; real servers by address.
  t.equal(
    ipvs.render(),
    [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  172.18.0.3:30080 rr',
      '  -> 10.244.1.5:8080              Masq    1      0          0         ',
      'TCP  10.96.0.1:443 rr',
      '  -> 172.18.0.2:6443              Masq    1      1          0         ',
      'TCP  10.96.0.10:53 rr',
      '  -> 10.244.0.2:53                Masq    1      0          0         ',
      '  -> 10.244.0.3:53                Masq    1      0          0         ',
      'TCP  10.96.0.50:80 rr persistent 10800',
      '  -> 10.244.1.5:8080              Masq    1      0          0         ',
      'UDP  10.96.0.10:53 rr',
      '  -> 10.244.0.2:53                Masq    1      0          0         ',
      '  -> 10.244.0.3:53                Masq    1      0          0         ',
      'SCTP  10.96.0.60:9999 rr',
      '',
    ].join('\n'),
  );
  const stats = ipvs.render({ stats: true }).split('\n');
  t.equal(stats[1], 'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes');
  t.equal(stats[2], '  -> RemoteAddress:Port');
  const nine = (n: number) => ' '.repeat(9 - String(n).length) + n; // "%9llu"
  t.equal(stats[5], 'TCP  10.96.0.1:443'.padEnd(33) + [1, 0, 0, 0, 0].map(nine).join(''), 'service: "%-33s" then five "%9llu"');
  t.equal(stats[6], '  -> ' + '172.18.0.2:6443'.padEnd(28) + [1, 0, 0, 0, 0].map(nine).join(''), 'real server: "  -> %-28s" then five "%9llu"');
});

// A two-node flannel cluster whose worker holds the Service VIP 10.96.0.10 on kube-ipvs0, with one
// real server on each node: the flow walks PREROUTING → route local → INPUT (IPVS DNAT, NF_STOLEN)
// → route → POSTROUTING → delivered (locally over cni0, or over the VXLAN to the other node).
function cluster() {
  const { nodes, pipeline } = flannelCluster({
    leases: WORKER_LEASES,
    pods: {
      '10.244.1.2': { node: 'worker', pod: 'default/client' },
      '10.244.1.5': { node: 'worker', pod: 'default/web-a' },
      '10.244.2.5': { node: 'worker2', pod: 'default/web-b' },
    },
  });
  const worker = nodes.get('worker')!;
  worker.addInterface({ name: 'kube-ipvs0', kind: 'dummy', mtu: 1500, addresses: ['10.96.0.10/32'], up: false });
  return { nodes, worker, pipeline };
}

t.test('pipeline: a pod flow to a VIP on kube-ipvs0 is DNATed at INPUT and sent on from the node', async (t) => {
  const { worker, pipeline } = cluster();
  const vs = worker.ipvs.addService({ protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'rr' });
  worker.ipvs.addDest(vs, { address: '10.244.2.5', port: 8080, weight: 1 });
  worker.ipvs.addDest(vs, { address: '10.244.1.5', port: 8080, weight: 1 });
  // Something at nat INPUT (after IPVS's 99) must not see the stolen packet.
  let natInputSaw = 0;
  worker.register('INPUT', { name: 'test/after-ipvs', priority: 100, run: () => void natInputSaw++ });

  const local = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2'));
  t.equal(local.verdict, 'ACCEPT');
  t.match(local.destination, { kind: 'pod', pod: 'default/web-a' }, 'rr picks the head first: the real server added last');
  t.same([local.tuple.dst, local.tuple.dport], ['10.244.1.5', 8080]);
  const text = formatTrace(local);
  t.match(text, /worker\s+route\s+local\s+10\.96\.0\.10 is local to worker/);
  t.match(text, /worker\s+ipvs\s+DNAT\s+vs 10\.96\.0\.10:80\/tcp rr → 10\.244\.1\.5:8080/);
  t.match(text, /worker\s+route\s+route\s+10\.244\.1\.0\/24 dev cni0/);
  const stages = local.trace.map((s) => `${s.stage}:${s.action}`);
  t.ok(stages.indexOf('ipvs:DNAT') < stages.indexOf('route:route'), 'the route lookup comes after the DNAT');
  t.ok(stages.indexOf('route:local') < stages.indexOf('ipvs:DNAT'), 'and the DNAT after routing said local');
  t.equal(natInputSaw, 0, 'NF_STOLEN: later INPUT handlers do not run');

  const remote = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2'));
  t.equal(remote.verdict, 'ACCEPT');
  t.match(remote.destination, { kind: 'pod', node: 'worker2', pod: 'default/web-b' });
  t.same(remote.hops, ['worker', 'worker2']);
  t.match(formatTrace(remote), /vxlan\s+encap/);
  t.equal(vs.dest('10.244.1.5', 8080)!.activeConns, 1);
  t.equal(vs.dest('10.244.2.5', 8080)!.activeConns, 1);
});

t.test('pipeline: a VIP without real servers is refused at once (ICMP port unreachable)', async (t) => {
  const { worker, pipeline } = cluster();
  worker.ipvs.addService({ protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'rr' });
  const d = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2'));
  t.equal(d.verdict, 'REJECT');
  t.match(d.reason, /IPVS: no destination available for 10\.96\.0\.10:80\/tcp/);
  t.match(formatTrace(d), /ipvs\s+REJECT\s+vs 10\.96\.0\.10:80\/tcp rr: no destination available/);
  // A port of the VIP with no virtual server is the local stack's: delivered to the node (where
  // kube-proxy's KUBE-IPVS-FILTER rejects it).
  const other = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.96.0.10', 81));
  t.match(other.destination, { kind: 'host', node: 'worker' });
});

t.test('pipeline: the node itself reaches a VIP through IPVS at OUTPUT', async (t) => {
  const { worker, pipeline } = cluster();
  const vs = worker.ipvs.addService({ protocol: 'UDP', address: '10.96.0.10', port: 53, scheduler: 'rr' });
  worker.ipvs.addDest(vs, { address: '10.244.2.5', port: 53, weight: 1 });
  const d = pipeline.decide({ kind: 'host', node: 'worker' }, udp('172.18.0.3'));
  t.equal(d.verdict, 'ACCEPT');
  t.match(d.destination, { kind: 'pod', pod: 'default/web-b' });
  t.match(formatTrace(d), /worker\s+ipvs\s+DNAT\s+vs 10\.96\.0\.10:53\/udp rr → 10\.244\.2\.5:53/);
  t.equal(vs.dests[0]!.inactiveConns, 1, 'a UDP connection counts as inactive');
});
