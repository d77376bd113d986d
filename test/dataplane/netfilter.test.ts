// The netfilter model (lib/dataplane/netfilter.ts): evaluation as iptables(8) "TARGETS" and
// iptables-extensions(8) define it — jump/RETURN/goto, chain policies, `!` negation, marks,
// -m statistic with a seeded RNG, NAT rewrites, counters — and iptables-save rendering checked
// against real iptables-save output.
import t from 'tap';
import { Netfilter, type TableName } from '../../lib/dataplane/netfilter.js';
import { NodeNetwork } from '../../lib/dataplane/node.js';
import { Pipeline, type FlowContext, type TraceStep } from '../../lib/dataplane/pipeline.js';
import type { Hook } from '../../lib/dataplane/hooks.js';
import type { FlowTuple } from '../../lib/dataplane/conntrack.js';
import { SeededRng } from '../../lib/core/rng.js';
import { ManualClock } from '../../lib/core/clock.js';
import { PodnetError } from '../../lib/core/errors.js';
import { programFlannelNode } from '../../plugins/flannel/daemon.js';

const TUPLE: FlowTuple = { protocol: 'TCP', src: '10.244.1.2', sport: 40000, dst: '10.96.0.10', dport: 53 };

/** A flow context on a node with eth0 172.18.0.3/16 and cni0 10.244.1.1/24. */
function context(hook: Hook, over: Partial<FlowContext> = {}, tuple: FlowTuple = TUPLE): { ctx: FlowContext; steps: Omit<TraceStep, 'node' | 'stage'>[] } {
  const node = new NodeNetwork('worker');
  node.addInterface({ name: 'eth0', kind: 'ethernet', mtu: 1500, addresses: ['172.18.0.3/16'], up: true });
  node.addInterface({ name: 'cni0', kind: 'bridge', mtu: 1450, addresses: ['10.244.1.1/24'], up: true });
  const steps: Omit<TraceStep, 'node' | 'stage'>[] = [];
  const ctx: FlowContext = { node, hook, tuple: { ...tuple }, original: { ...tuple }, mark: 0, trace: (s) => void steps.push(s), ...over };
  return { ctx, steps };
}

function tables(text: string): Netfilter {
  const nf = new Netfilter();
  nf.restore(text);
  return nf;
}

t.test('jump, RETURN, end of a user chain, and the built-in policy (iptables(8) TARGETS)', async (t) => {
  const nf = tables(`*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
-A FORWARD -j A
-A FORWARD -d 10.96.0.10/32 -j ACCEPT
-A A -j B
-A A -s 10.244.1.0/24 -j RETURN
-A A -j DROP
-A B -p udp -j ACCEPT
COMMIT
`);
  const { ctx, steps } = context('FORWARD');
  // FORWARD → A → B (no match, falls off: back to A) → RETURN → back to FORWARD → ACCEPT.
  t.same(nf.evaluate('filter', 'FORWARD', ctx), { verdict: 'ACCEPT' });
  t.same(
    steps.map((s) => `${s.chain} ${s.action}`),
    ['FORWARD A', 'A B', 'A RETURN', 'FORWARD ACCEPT'],
  );
  t.equal(steps[3]!.rule, '-A FORWARD -d 10.96.0.10/32 -j ACCEPT', 'the trace carries the rule text');

  const other = context('FORWARD', {}, { ...TUPLE, dst: '10.96.0.11' });
  const v = nf.evaluate('filter', 'FORWARD', other.ctx);
  t.equal(v?.verdict, 'DROP', 'no rule accepts: the FORWARD policy DROP decides');
  t.match(nf.save({ counters: true }), /:FORWARD DROP \[1:0\]/, 'the policy counter counts it');
  t.match(nf.save({ counters: true }), /\[2:0\] -A FORWARD -j A\n\[1:0\] -A FORWARD -d 10\.96\.0\.10\/32 -j ACCEPT/);
});

t.test('goto: a RETURN from the chain entered with -g goes back past it (iptables(8) --goto)', async (t) => {
  const nf = tables(`*filter
:FORWARD ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
-A FORWARD -j A
-A FORWARD -j REJECT --reject-with icmp-port-unreachable
-A A -g B
-A A -j DROP
-A B -j RETURN
COMMIT
`);
  const { ctx, steps } = context('FORWARD');
  // FORWARD -j A, A -g B, B RETURN → back to FORWARD (not A): the next rule rejects.
  const v = nf.evaluate('filter', 'FORWARD', ctx);
  t.equal(v?.verdict, 'REJECT');
  t.same(steps.map((s) => s.action), ['A', 'goto B', 'RETURN', 'REJECT']);
  t.match(v && 'reason' in v ? v.reason : '', /icmp-port-unreachable/);
  const host = tables(`*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j REJECT --reject-with icmp-host-unreachable\nCOMMIT\n`);
  t.same(host.evaluate('filter', 'OUTPUT', context('OUTPUT').ctx), { verdict: 'REJECT', reason: 'no route to host' }, 'host-unreachable reads as EHOSTUNREACH');
});

t.test('negation, interfaces, protocols, ports, addrtype, conntrack state', async (t) => {
  const cases: [string, Partial<FlowContext>, FlowTuple, boolean][] = [
    ['! -s 10.244.0.0/16', {}, TUPLE, false],
    ['! -s 10.245.0.0/16', {}, TUPLE, true],
    ['-s 10.244.1.2', {}, TUPLE, true],
    ['-d 10.96.0.0/12 -p tcp -m tcp --dport 53', {}, TUPLE, true],
    ['-p tcp -m tcp ! --dport 53', {}, TUPLE, false],
    ['-p udp', {}, TUPLE, false],
    ['! -p udp', {}, TUPLE, true],
    ['-p tcp --sport 32768:60999', {}, TUPLE, true],
    ['-i veth+', { inDev: 'veth1234' }, TUPLE, true],
    ['-i cni0', { inDev: 'veth1234' }, TUPLE, false],
    ['! -o eth0', { outDev: 'flannel.1' }, TUPLE, true],
    ['-m addrtype --dst-type LOCAL', {}, { ...TUPLE, dst: '172.18.0.3' }, true],
    ['-m addrtype --dst-type LOCAL', {}, TUPLE, false],
    ['-m addrtype ! --dst-type LOCAL', {}, TUPLE, true],
    ['-m conntrack --ctstate NEW', {}, TUPLE, true],
    ['-m conntrack --ctstate RELATED,ESTABLISHED', {}, TUPLE, false],
    ['-m conntrack ! --ctstate INVALID', {}, TUPLE, true],
    ['-m mark --mark 0x4000/0x4000', { mark: 0x4001 }, TUPLE, true],
    ['-m mark ! --mark 0x4000/0x4000', { mark: 0x4001 }, TUPLE, false],
    ['-m mark --mark 0x1', { mark: 0x4001 }, TUPLE, false],
  ];
  for (const [spec, over, tuple, expected] of cases) {
    const nf = new Netfilter();
    nf.newChain('filter', 'HIT');
    nf.append('filter', 'FORWARD', `${spec} -j HIT`);
    const { ctx, steps } = context('FORWARD', over, tuple);
    nf.evaluate('filter', 'FORWARD', ctx);
    t.equal(steps.length === 1, expected, `${spec} ${expected ? 'matches' : 'does not match'} ${tuple.src}→${tuple.dst}:${tuple.dport}`);
  }
});

t.test('MARK sets the mark and goes on; a mark match sees it (kube-proxy KUBE-MARK-MASQ)', async (t) => {
  const nf = tables(`*nat
:PREROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
-A PREROUTING -j KUBE-MARK-MASQ
-A PREROUTING -m mark --mark 0x4000/0x4000 -j DNAT --to-destination 10.244.2.5:8080
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
COMMIT
`);
  const { ctx } = context('PREROUTING');
  nf.evaluate('nat', 'PREROUTING', ctx);
  t.equal(ctx.mark, 0x4000);
  t.same(ctx.tuple, { ...TUPLE, dst: '10.244.2.5', dport: 8080 }, 'DNAT rewrote the destination and port');
  t.match(nf.save(), /-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000\/0x4000/, '--or-mark is saved as --set-xmark v/v, as iptables-save prints it');
});

t.test('NAT: SNAT, and MASQUERADE to the out interface address; NAT ends the nat walk', async (t) => {
  const nf = tables(`*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE --random-fully
-A POSTROUTING -j SNAT --to-source 1.2.3.4
COMMIT
`);
  const out = context('POSTROUTING', { outDev: 'eth0' }, { ...TUPLE, dst: '172.18.0.4' });
  t.same(nf.evaluate('nat', 'POSTROUTING', out.ctx), { verdict: 'ACCEPT' });
  t.equal(out.ctx.tuple.src, '172.18.0.3', "eth0's address");
  t.equal(out.steps.length, 1, 'the SNAT rule after it never ran');
  const inside = context('POSTROUTING', { outDev: 'cni0' }, { ...TUPLE, src: '172.18.0.3', dst: '10.244.1.9' });
  nf.evaluate('nat', 'POSTROUTING', inside.ctx);
  t.equal(inside.ctx.tuple.src, '1.2.3.4', 'SNAT --to-source');
  t.match(inside.steps[0]!.detail, /172\.18\.0\.3:40000 → 10\.244\.1\.9:53 ⇒ 1\.2\.3\.4:40000/);
});

t.test('-m statistic --mode random draws from the seeded RNG: a seed replays the same choices', async (t) => {
  // kube-proxy's three-endpoint Service: 1/3, then 1/2 of the rest, then the last.
  const text = `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
:KUBE-SEP-3 - [0:0]
:KUBE-SVC-X - [0:0]
-A PREROUTING -j KUBE-SVC-X
-A KUBE-SEP-1 -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SEP-2 -p tcp -m tcp -j DNAT --to-destination 10.244.2.5:8080
-A KUBE-SEP-3 -p tcp -m tcp -j DNAT --to-destination 10.244.3.5:8080
-A KUBE-SVC-X -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-1
-A KUBE-SVC-X -m statistic --mode random --probability 0.5 -j KUBE-SEP-2
-A KUBE-SVC-X -j KUBE-SEP-3
COMMIT
`;
  const pick = (seed: number) => {
    const nf = tables(text);
    const rng = new SeededRng(seed);
    return Array.from({ length: 300 }, () => {
      const { ctx } = context('PREROUTING', { rng });
      nf.evaluate('nat', 'PREROUTING', ctx);
      return ctx.tuple.dst;
    });
  };
  const a = pick(7);
  t.same(pick(7), a, 'same seed, same endpoints');
  t.notSame(pick(8), a, 'another seed, other choices');
  for (const ip of ['10.244.1.5', '10.244.2.5', '10.244.3.5']) {
    const n = a.filter((x) => x === ip).length;
    t.ok(n > 60 && n < 140, `${ip} gets about a third (${n}/300)`);
  }
  // libxt_statistic stores lround(p * 2^31) and prints it back with %.11f: the well-known
  // 0.33333333349 of kube-proxy's iptables-save output.
  t.match(tables(text).save(), /-A KUBE-SVC-X -m statistic --mode random --probability 0\.33333333349 -j KUBE-SEP-1\n-A KUBE-SVC-X -m statistic --mode random --probability 0\.50000000000 -j KUBE-SEP-2/);
});

// Lines from real `iptables-save` v1.8.4 output on a kind node (https://ericpuwang.github.io/blog/kubernetes/iptables.html)
// and kube-proxy's iptables rules, in the canonical order iptables-save prints options.
const REAL = `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-KUBELET-CANARY - [0:0]
:KUBE-PROXY-CANARY - [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-IT2ZTR26TO4XFPTO - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-IT2ZTR26TO4XFPTO -s 10.244.0.2/32 -m comment --comment "kube-system/kube-dns:dns-tcp" -j KUBE-MARK-MASQ
-A KUBE-SEP-IT2ZTR26TO4XFPTO -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp" -m tcp -j DNAT --to-destination 10.244.0.2:53
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-NPX46M4PTMTKRN6Y ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-MARK-MASQ
-A KUBE-SVC-NPX46M4PTMTKRN6Y -m comment --comment "default/kubernetes:https -> 172.18.0.2:6443" -j KUBE-SEP-IT2ZTR26TO4XFPTO
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/web has no endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30080 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`;

t.test('iptables-save round trip of real output: restore then save prints the same text', async (t) => {
  t.equal(tables(REAL).save(), REAL);
  // The command-line forms are normalized as iptables-save prints them.
  const nf = new Netfilter();
  nf.newChain('nat', 'KUBE-SVC-X');
  nf.append('nat', 'PREROUTING', ['-p', 'tcp', '-d', '10.96.0.5', '--dport', '80', '-j', 'KUBE-SVC-X']);
  nf.append('nat', 'KUBE-SVC-X', '-s 10.244.1.7/24 -j MARK --set-mark 0x1');
  t.match(nf.save({ tables: ['nat'] }), /-A PREROUTING -d 10\.96\.0\.5\/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X\n-A KUBE-SVC-X -s 10\.244\.1\.0\/24 -j MARK --set-xmark 0x1\/0xffffffff\n/);
  t.match(nf.save({ counters: true }), /^\*nat\n:PREROUTING ACCEPT \[0:0\]/, 'only tables in use are printed');
  t.notMatch(nf.save(), /\*filter/);
});

t.test('counters: iptables-save -c form, restored counters, -Z', async (t) => {
  const nf = tables('*filter\n:FORWARD ACCEPT [5:300]\n[3:180] -A FORWARD -s 10.0.0.0/8 -j ACCEPT\n-A FORWARD -c 2 120 -j DROP\nCOMMIT\n');
  t.equal(nf.save({ counters: true }), '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [5:300]\n:OUTPUT ACCEPT [0:0]\n[3:180] -A FORWARD -s 10.0.0.0/8 -j ACCEPT\n[2:120] -A FORWARD -j DROP\nCOMMIT\n');
  nf.zeroCounters();
  t.match(nf.save({ counters: true }), /:FORWARD ACCEPT \[0:0\]\n:OUTPUT ACCEPT \[0:0\]\n\[0:0\] -A FORWARD -s 10\.0\.0\.0\/8 -j ACCEPT/);
});

t.test('bad input gets a clear error and changes nothing', async (t) => {
  const nf = tables(REAL);
  const before = nf.save();
  const bad: [() => unknown, RegExp][] = [
    [() => nf.append('filter', 'FORWARD', '-j NOPE-CHAIN'), /no chain "NOPE-CHAIN" to jump to/],
    [() => nf.append('filter', 'FORWARD', '-j MASQUERADE'), /only valid in the nat table/],
    [() => nf.append('filter', 'FORWARD', '-m recentish --foo -j ACCEPT'), /unsupported match "-m recentish"/],
    [() => nf.append('filter', 'FORWARD', '--dport 80 -j ACCEPT'), /--dport needs -p tcp\|udp\|sctp/],
    [() => nf.append('filter', 'FORWARD', '-s 10.0.0.300 -j ACCEPT'), /host\/network "10\.0\.0\.300" not found/],
    [() => nf.append('nat', 'PREROUTING', '-m statistic --mode random --probability 1.5 -j RETURN'), /between 0 and 1/],
    [() => nf.append('filter', 'NOPE', '-j ACCEPT'), /no chain "NOPE"/],
    [() => nf.append('bogus' as TableName, 'INPUT', '-j ACCEPT'), /unknown table "bogus"/],
    [() => nf.setPolicy('filter', 'KUBE-FORWARD', 'DROP'), /only built-in chains have a policy/],
    [() => nf.deleteChain('filter', 'KUBE-FORWARD'), /not empty/],
    [() => nf.restore('*filter\n-A FORWARD -j ACCEPT\n'), /has no COMMIT/],
    [() => nf.restore('*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j GHOST\nCOMMIT\n'), /no chain "GHOST" to jump to/],
    [() => nf.restore('*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n-A FORWARD -x\nCOMMIT\n'), /line 5: unknown option "-x"/],
  ];
  for (const [fn, message] of bad) {
    let caught: unknown;
    try {
      fn();
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof PodnetError && caught.code === 'PODNET_NETFILTER_INVALID', `PODNET_NETFILTER_INVALID for ${message}`);
    t.match((caught as Error | undefined)?.message, message);
  }
  t.equal(nf.save(), before, 'the tables are as they were, including the nat table of the failed restore');
});

t.test('registered at the hooks with the kernel priorities: a pipeline flow walks them in order', async (t) => {
  const leases = [
    { node: 'worker', subnet: '10.244.1.0/24', publicIP: '172.18.0.3' },
    { node: 'worker2', subnet: '10.244.2.0/24', publicIP: '172.18.0.4' },
  ];
  const nodes = new Map(leases.map((l) => [l.node, new NodeNetwork(l.node)]));
  for (const l of leases) programFlannelNode(nodes.get(l.node)!, l, leases, { backend: 'vxlan', underlayMtu: 1500, podMtu: 1450, network: '10.244.0.0/16' });
  const worker = nodes.get('worker')!;
  // A DNAT in nat PREROUTING (-100) runs before filter FORWARD (0), which sees the new address.
  worker.netfilter.append('nat', 'PREROUTING', '-d 10.96.0.50/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.2:8080');
  // A rule without a target only counts (iptables(8): "If no target is specified, …").
  worker.netfilter.insert('filter', 'FORWARD', '-d 10.244.2.2/32 -p tcp -m tcp --dport 8080');
  const pipeline = new Pipeline({
    nodes,
    resolve: (ip) => (ip === '10.244.1.2' ? { kind: 'pod', node: 'worker', pod: 'default/client', dev: 'veth1' } : ip === '10.244.2.2' ? { kind: 'pod', node: 'worker2', pod: 'default/web', dev: 'veth2' } : ip === '172.18.0.4' ? { kind: 'host', node: 'worker2' } : ip === '172.18.0.3' ? { kind: 'host', node: 'worker' } : undefined),
    rng: new SeededRng(1),
  });
  const d = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, { protocol: 'TCP', src: '10.244.1.2', sport: 40000, dst: '10.96.0.50', dport: 80 });
  t.equal(d.verdict, 'ACCEPT');
  t.same(d.tuple, { protocol: 'TCP', src: '10.244.1.2', sport: 40000, dst: '10.244.2.2', dport: 8080 });
  const rules = d.trace.filter((s) => s.table).map((s) => `${s.node} ${s.stage} ${s.table} ${s.chain} ${s.action}`);
  t.same(rules, [
    'worker PREROUTING nat PREROUTING DNAT',
    'worker FORWARD filter FORWARD count',
    'worker FORWARD filter FORWARD FLANNEL-FWD',
    'worker FORWARD filter FLANNEL-FWD ACCEPT',
    'worker POSTROUTING nat POSTROUTING FLANNEL-POSTRTG',
    'worker POSTROUTING nat FLANNEL-POSTRTG RETURN',
    'worker2 FORWARD filter FORWARD FLANNEL-FWD',
    'worker2 FORWARD filter FLANNEL-FWD ACCEPT',
    'worker2 POSTROUTING nat POSTROUTING FLANNEL-POSTRTG',
    'worker2 POSTROUTING nat FLANNEL-POSTRTG RETURN',
  ]);
  // A node process → a pod on another node: flannel's `! -s Network -d Network` MASQUERADE picks
  // flannel.1's address, as on a real node; the far node's FLANNEL-FWD accepts it even under a
  // FORWARD policy of DROP.
  nodes.get('worker2')!.netfilter.setPolicy('filter', 'FORWARD', 'DROP');
  const fromHost = pipeline.decide({ kind: 'host', node: 'worker' }, { protocol: 'TCP', src: '172.18.0.3', sport: 40001, dst: '10.244.2.2', dport: 8080 });
  t.equal(fromHost.verdict, 'ACCEPT');
  t.equal(fromHost.tuple.src, '10.244.1.0');
  nodes.get('worker2')!.netfilter.flushChain('filter', 'FLANNEL-FWD');
  const dropped = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, { protocol: 'TCP', src: '10.244.1.2', sport: 40002, dst: '10.244.2.2', dport: 8080 });
  t.same([dropped.verdict, dropped.reason], ['DROP', 'filter FORWARD policy DROP'], 'without flannel\'s ACCEPTs the policy drops it');
});

t.test('iptables-restore --noflush, as kube-proxy syncs: declared user chains are flushed, the rest kept', async (t) => {
  const nf = new Netfilter();
  nf.newChain('nat', 'FLANNEL-POSTRTG');
  nf.append('nat', 'POSTROUTING', '-m comment --comment "flanneld masq" -j FLANNEL-POSTRTG');
  nf.newChain('nat', 'KUBE-SERVICES');
  nf.append('nat', 'KUBE-SERVICES', '-d 10.96.0.9/32 -j RETURN');
  nf.restore('*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n-A KUBE-SERVICES -d 10.96.0.10/32 -j RETURN\n-A POSTROUTING -j KUBE-POSTROUTING\nCOMMIT\n', { noflush: true });
  t.same(
    nf.rules('nat', 'POSTROUTING').map((r) => (r.target?.kind === 'jump' ? r.target.chain : '')),
    ['FLANNEL-POSTRTG', 'KUBE-POSTROUTING'],
    "flannel's jump stays, kube-proxy's is added",
  );
  t.equal(nf.rules('nat', 'KUBE-SERVICES').length, 1, 'the declared chain was flushed and rewritten');
  t.match(nf.save(), /-A KUBE-SERVICES -d 10\.96\.0\.10\/32 -j RETURN/);
});

t.test('IPv6 flows are not evaluated by the (IPv4) iptables tables', async (t) => {
  const nf = tables('*filter\n:FORWARD DROP [0:0]\nCOMMIT\n');
  const { ctx } = context('FORWARD', {}, { protocol: 'TCP', src: 'fd00:10:244:1::2', sport: 40000, dst: 'fd00:10:244:2::2', dport: 80 });
  t.equal(nf.evaluate('filter', 'FORWARD', ctx), undefined);
  t.match(nf.save({ counters: true }), /:FORWARD DROP \[0:0\]/);
});

t.test('-m recent (xt_recent): ClientIP affinity as kube-proxy writes it pins a client until --seconds pass', async (t) => {
  const clock = new ManualClock();
  const nf = new Netfilter({ clock, rng: new SeededRng(7) });
  // The shape of kube-proxy's affinity rules (proxier.go: `-m recent --name SEP --rcheck --seconds T --reap`
  // in the service chain, `-m recent --name SEP --set` before the DNAT in the endpoint chain).
  nf.restore(`*nat
:OUTPUT ACCEPT [0:0]
:KUBE-SVC-X - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
-A OUTPUT -d 10.96.0.5/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X
-A KUBE-SVC-X -m recent --name KUBE-SEP-A --rcheck --seconds 10 --reap -j KUBE-SEP-A
-A KUBE-SVC-X -m recent --name KUBE-SEP-B --rcheck --seconds 10 --reap -j KUBE-SEP-B
-A KUBE-SVC-X -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-A
-A KUBE-SVC-X -j KUBE-SEP-B
-A KUBE-SEP-A -m recent --set --name KUBE-SEP-A --mask 255.255.255.255 --rsource -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SEP-B -m recent --set --name KUBE-SEP-B --mask 255.255.255.255 --rsource -m tcp -p tcp -j DNAT --to-destination 10.244.2.3:8080
COMMIT
`);
  const from = (src: string) => {
    const { ctx } = context('OUTPUT', {}, { protocol: 'TCP', src, sport: 40000, dst: '10.96.0.5', dport: 80 });
    nf.evaluate('nat', 'OUTPUT', ctx);
    return ctx.tuple.dst;
  };
  const first = from('10.244.1.9');
  const pinned = Array.from({ length: 20 }, () => from('10.244.1.9'));
  t.same(new Set(pinned), new Set([first]), 'every connection of the client goes to its first endpoint');
  const others = new Set(Array.from({ length: 20 }, (_, i) => from(`10.244.3.${i + 1}`)));
  t.same(others, new Set(['10.244.1.2', '10.244.2.3']), 'other clients still spread over both endpoints');
  clock.advance(11_000);
  const after = new Set(Array.from({ length: 20 }, () => {
    clock.advance(11_000);
    return from('10.244.1.9');
  }));
  t.same(after, new Set(['10.244.1.2', '10.244.2.3']), 'past --seconds the entry is reaped: the client is balanced again');
  // iptables-save prints the match in libxt_recent's order.
  t.match(nf.save(), /-A KUBE-SVC-X -m recent --rcheck --seconds 10 --reap --name KUBE-SEP-A --mask 255\.255\.255\.255 --rsource -j KUBE-SEP-A/);
  t.match(nf.save(), /-A KUBE-SEP-A -p tcp -m recent --set --name KUBE-SEP-A --mask 255\.255\.255\.255 --rsource -m tcp -j DNAT --to-destination 10\.244\.1\.2:8080/);
  const bad = (rule: string) => t.throws(() => new Netfilter().restore(`*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT ${rule} -j ACCEPT\nCOMMIT\n`), { code: 'PODNET_NETFILTER_INVALID' }, rule);
  bad('-m recent --name X');
  bad('-m recent --rcheck --reap --name X');
  bad('--rcheck');
  bad('-m recent --set --rcheck');
});
