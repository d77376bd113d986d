// The ipset model (lib/dataplane/ipset.ts) and iptables' `-m set` match (lib/dataplane/netfilter.ts):
// element syntax per set type as ipset(8) "SET TYPES" defines it and as kube-proxy writes it
// (pkg/proxy/ipvs/ipset/ipset.go Entry.String(): `192.168.1.1,udp:53`, `192.168.1.2,tcp:8080,192.168.1.2`,
// `192.168.1.2,udp:80,10.0.1.0/24`, bitmap ports as numbers), `ipset save`/`list` rendering,
// all-or-nothing restore, and xt_set's packet match (flags `src`/`dst` per dimension,
// iptables-extensions(8) "set").
import t from 'tap';
import { IpSets } from '../../lib/dataplane/ipset.js';
import { Netfilter } from '../../lib/dataplane/netfilter.js';
import { NodeNetwork } from '../../lib/dataplane/node.js';
import type { FlowContext } from '../../lib/dataplane/pipeline.js';
import type { FlowTuple } from '../../lib/dataplane/conntrack.js';
import { PodnetError } from '../../lib/core/errors.js';

const tcp = (src: string, sport: number, dst: string, dport: number): FlowTuple => ({ protocol: 'TCP', src, sport, dst, dport });

t.test('kube-proxy element syntax per set type, saved as `ipset save` prints it', async (t) => {
  const s = new IpSets();
  // pkg/proxy/ipvs/ipset/ipset.go createSet: hash types get family/hashsize/maxelem, bitmap:port a range.
  s.restore(`create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 -exist
create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536 -exist
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536 -exist
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535 -exist
create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536 -exist
add KUBE-CLUSTER-IP 10.96.0.10,udp:53 -exist
add KUBE-CLUSTER-IP 10.96.0.10,tcp:53 -exist
add KUBE-CLUSTER-IP 10.96.0.1,tcp:443 -exist
add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5 -exist
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.0.0.0/8 -exist
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,192.168.7.9/32 -exist
add KUBE-NODE-PORT-TCP 30080 -exist
add KUBE-NODE-PORT-TCP 3001 -exist
add KUBE-IPVS-IPS 10.96.0.10 -exist
add KUBE-IPVS-IPS 10.96.0.1 -exist
`);
  t.equal(
    s.save(),
    `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
add KUBE-CLUSTER-IP 10.96.0.10,tcp:53
add KUBE-CLUSTER-IP 10.96.0.10,udp:53
create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.0.0.0/8
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,192.168.7.9
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 3001
add KUBE-NODE-PORT-TCP 30080
create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536
add KUBE-IPVS-IPS 10.96.0.1
add KUBE-IPVS-IPS 10.96.0.10
`,
    'sets in creation order; members sorted (bitmap ports numerically); a /32 net printed as a host',
  );
  // The save output restores to the same sets (ipset restore < save).
  const again = new IpSets();
  again.restore(s.save());
  t.equal(again.save(), s.save());
});

t.test('element spellings ipset accepts normalize to one member', async (t) => {
  const s = new IpSets();
  s.create('A', 'hash:ip,port');
  s.add('A', '10.0.0.1,80'); // the protocol defaults to tcp
  t.ok(s.test('A', '10.0.0.1,tcp:80'));
  t.throws(() => s.add('A', '10.0.0.1,TCP:80'), /it's already added/, 'protocol names are case-insensitive');
  s.add('A', '10.0.0.1,tcp:80', { exist: true });
  t.same(s.get('A')!.members(), ['10.0.0.1,tcp:80']);
  s.create('N', 'hash:net');
  s.add('N', '10.1.2.3/16');
  t.same(s.get('N')!.members(), ['10.1.0.0/16'], 'host bits are cleared');
  s.create('P', 'bitmap:port', ['range', '30000-30010']);
  s.add('P', 'udp:30001-30003');
  t.same(s.get('P')!.members(), ['30001', '30002', '30003'], 'a bitmap:port range adds each port; a protocol is ignored');
  t.throws(() => s.add('P', '29999'), /out of the range of the set/);
  s.create('H', 'hash:ip', ['hashsize', '1000', 'maxelem', '2']);
  t.equal(s.get('H')!.headerText(), 'family inet hashsize 1024 maxelem 2', 'hashsize rounds up to a power of two');
  s.add('H', '1.1.1.1');
  s.add('H', '1.1.1.2');
  t.throws(() => s.add('H', '1.1.1.3'), /Hash is full/);
});

t.test('bad input is refused by name and changes nothing (all-or-nothing restore)', async (t) => {
  const s = new IpSets();
  s.restore('create A hash:ip,port\nadd A 10.0.0.1,tcp:80\n');
  const before = s.save();
  const bad = [
    ['create A hash:ip,port\n', /line 1: Set cannot be created: set with the same name already exists/],
    ['add A 10.0.0.2,tcp:81\nadd A 10.0.0.3,icmp:8\n', /line 2: .*protocol 'icmp' is not supported/],
    ['add A 10.0.0.2,tcp:81\nadd B 1.1.1.1\n', /line 2: The set with the given name does not exist \(B\)/],
    ['add A 10.0.0.1,tcp:80\n', /it's already added/],
    ['del A 10.9.9.9,tcp:80\n', /it's not added/],
    ['add A 10.0.0.0/24,tcp:80\n', /not an IP address/],
    ['add A 10.0.0.1\n', /not a hash:ip,port element/],
    ['create C hash:mac\n', /typename 'hash:mac' is unknown/],
    ['create D bitmap:port\n', /range` is missing/],
    ['create THIS-NAME-IS-MUCH-TOO-LONG-FOR-IPSET hash:ip\n', /longer than 31/],
    ['create E hash:ip timeout 30\n', /option 'timeout' is not supported/],
    ['frobnicate A\n', /unknown command/],
  ] as const;
  for (const [text, message] of bad) {
    const err = t.throws(() => s.restore(text), message, text.trim()) as unknown;
    t.ok(err instanceof PodnetError && err.code === 'PODNET_IPSET_INVALID', 'a PodnetError with the ipset code');
    t.equal(s.save(), before, 'nothing changed');
  }
  s.restore('add A 10.0.0.1,tcp:80\ndel A 10.9.9.9,tcp:1\n', { exist: true });
  t.equal(s.save(), before, '-exist (ipset restore -exist) tolerates present adds and absent dels');
  s.restore('create A hash:ip,port family inet hashsize 1024 maxelem 65536 -exist\n');
  t.throws(() => s.restore('create A hash:ip -exist\n'), /same name already exists/, '-exist still refuses a different create');
});

t.test('destroy: index reuse, and a set an iptables rule references cannot go', async (t) => {
  const node = new NodeNetwork('worker');
  node.ipsets.create('A', 'hash:ip');
  node.ipsets.create('B', 'hash:ip');
  node.ipsets.create('C', 'hash:ip');
  node.ipsets.destroy('B');
  node.ipsets.create('D', 'hash:ip');
  t.same(
    node.ipsets.sets().map((s) => s.name),
    ['A', 'D', 'C'],
    'the kernel gives a new set the first free index',
  );
  node.netfilter.restore('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m set --match-set A dst -j ACCEPT\nCOMMIT\n', { noflush: true });
  t.throws(() => node.ipsets.destroy('A'), /in use by a kernel component/);
  t.throws(() => node.ipsets.destroy(), /in use by a kernel component/, 'destroy-all refuses too, and destroys nothing');
  t.equal(node.ipsets.sets().length, 3);
  t.match(node.ipsets.list('A'), /References: 1\n/);
  node.netfilter.flushChain('filter', 'INPUT');
  node.ipsets.destroy();
  t.same(node.ipsets.sets(), []);
});

t.test('`ipset list` output', async (t) => {
  const s = new IpSets({ references: (name) => (name === 'KUBE-CLUSTER-IP' ? 2 : 0) });
  s.restore(`create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-CLUSTER-IP 10.96.0.10,udp:53
add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
create KUBE-NODE-PORT-UDP bitmap:port range 0-65535
`);
  t.equal(
    s.list(),
    `Name: KUBE-CLUSTER-IP
Type: hash:ip,port
Revision: 5
Header: family inet hashsize 1024 maxelem 65536
Size in memory: 0
References: 2
Number of entries: 2
Members:
10.96.0.1,tcp:443
10.96.0.10,udp:53

Name: KUBE-NODE-PORT-UDP
Type: bitmap:port
Revision: 3
Header: range 0-65535
Size in memory: 0
References: 0
Number of entries: 0
Members:
`,
  );
});

t.test('xt_set match: the flags pick each dimension from the packet', async (t) => {
  const s = new IpSets();
  s.restore(`create CIP hash:ip,port
add CIP 10.96.0.10,udp:53
add CIP 10.96.0.1,tcp:443
create LOOP hash:ip,port,ip
add LOOP 10.244.1.5,tcp:8080,10.244.1.5
create SRC hash:ip,port,net
add SRC 1.2.3.4,tcp:80,10.0.0.0/8
add SRC 1.2.3.4,tcp:80,10.1.2.0/24
create NP bitmap:port range 0-65535
add NP 30080
create V6 hash:ip family inet6
add V6 fd00::1
`);
  const toClusterIP = tcp('10.244.1.2', 40000, '10.96.0.1', 443);
  t.ok(s.match('CIP', ['dst', 'dst'], toClusterIP), 'dst,dst: destination address and port');
  t.notOk(s.match('CIP', ['dst', 'dst'], { ...toClusterIP, protocol: 'UDP' }), 'the protocol is part of the element');
  t.notOk(s.match('CIP', ['src', 'dst'], toClusterIP), 'src,dst: the source address with the destination port');
  t.ok(s.match('CIP', ['src', 'dst'], tcp('10.96.0.1', 40000, '10.244.1.9', 443)));
  t.notOk(s.match('CIP', ['dst'], toClusterIP), 'fewer flags than the set has dimensions never match (ip_set_test)');
  t.ok(s.match('LOOP', ['dst', 'dst', 'src'], tcp('10.244.1.5', 40000, '10.244.1.5', 8080)), 'hairpin: a pod reaching itself');
  t.notOk(s.match('LOOP', ['dst', 'dst', 'src'], tcp('10.244.1.6', 40000, '10.244.1.5', 8080)));
  t.ok(s.match('SRC', ['dst', 'dst', 'src'], tcp('10.200.0.1', 1, '1.2.3.4', 80)), 'a source inside a listed CIDR');
  t.ok(s.match('SRC', ['dst', 'dst', 'src'], tcp('10.1.2.3', 1, '1.2.3.4', 80)), 'the more specific CIDR matches as well');
  t.notOk(s.match('SRC', ['dst', 'dst', 'src'], tcp('11.0.0.1', 1, '1.2.3.4', 80)));
  t.ok(s.match('NP', ['dst'], tcp('1.1.1.1', 5, '172.18.0.3', 30080)), 'bitmap:port: the port alone');
  t.notOk(s.match('NP', ['src'], tcp('1.1.1.1', 5, '172.18.0.3', 30080)));
  t.notOk(s.match('V6', ['dst'], tcp('1.1.1.1', 5, '10.0.0.1', 1)), 'an IPv4 packet never matches an inet6 set');
  t.ok(s.match('V6', ['dst'], tcp('fd00::2', 5, 'fd00::1', 1)));
  t.notOk(s.match('MISSING', ['dst'], toClusterIP), 'a set that does not exist matches nothing');
});

/** A flow context on a node with the given sets. */
function context(node: NodeNetwork, tuple: FlowTuple, over: Partial<FlowContext> = {}): FlowContext {
  return { node, hook: 'PREROUTING', tuple: { ...tuple }, original: { ...tuple }, mark: 0, trace: () => undefined, ...over };
}

t.test('-m set in iptables: parse, iptables-save order and round trip, evaluation, missing sets refused', async (t) => {
  const node = new NodeNetwork('worker');
  node.ipsets.restore('create KUBE-CLUSTER-IP hash:ip,port\nadd KUBE-CLUSTER-IP 10.96.0.1,tcp:443\ncreate KUBE-NODE-PORT-TCP bitmap:port range 0-65535\nadd KUBE-NODE-PORT-TCP 30080\n');
  // As kube-proxy's ipvs proxier writes them (proxier.go writeIptablesRules).
  node.netfilter.restore(
    `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODE-PORT - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
-A KUBE-NODE-PORT -m set ! --match-set KUBE-NODE-PORT-TCP dst -j RETURN
-A KUBE-MARK-MASQ -j MARK --or-mark 0x004000
COMMIT
`,
    { noflush: true },
  );
  const saved = node.netfilter.save({ tables: ['nat'] });
  t.match(saved, '-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\n', 'iptables-save order: -s first, then each -m in order');
  t.match(saved, '-A KUBE-NODE-PORT -m set ! --match-set KUBE-NODE-PORT-TCP dst -j RETURN\n', "libxt_set prints the inversion after -m set");
  const copy = new Netfilter({ ipsets: node.ipsets });
  copy.restore(saved);
  t.equal(copy.save({ tables: ['nat'] }), saved, 'iptables-save output restores to the same rules');

  // From outside the cluster CIDR to the ClusterIP: marked for masquerade, then accepted.
  const outside = context(node, tcp('192.168.1.9', 5000, '10.96.0.1', 443));
  t.equal(node.netfilter.evaluate('nat', 'PREROUTING', outside)?.verdict, 'ACCEPT');
  t.equal(outside.mark, 0x4000);
  const pod = context(node, tcp('10.244.1.2', 5000, '10.96.0.1', 443));
  node.netfilter.evaluate('nat', 'PREROUTING', pod);
  t.equal(pod.mark, 0, 'a pod source is not masqueraded');
  const other = context(node, tcp('10.244.1.2', 5000, '10.96.0.1', 80));
  t.equal(node.netfilter.evaluate('nat', 'PREROUTING', other), undefined, 'another port of the ClusterIP is not in the set');

  t.throws(() => node.netfilter.append('nat', 'KUBE-SERVICES', '-m set --match-set KUBE-NOPE dst -j ACCEPT'), /Set KUBE-NOPE doesn't exist/);
  t.throws(() => node.netfilter.restore('*nat\n-A KUBE-SERVICES -m set --match-set KUBE-NOPE dst -j ACCEPT\nCOMMIT\n', { noflush: true }), /line 2: Set KUBE-NOPE doesn't exist/);
  t.throws(() => node.netfilter.append('nat', 'KUBE-SERVICES', '-m set --match-set KUBE-CLUSTER-IP dst,up -j ACCEPT'), /bad flags/);
  t.throws(() => node.netfilter.append('nat', 'KUBE-SERVICES', '-m set -j ACCEPT'), /needs --match-set/);
  t.equal(node.netfilter.setReferences('KUBE-CLUSTER-IP'), 2);
});

t.test('-m physdev --physdev-is-in: whether the flow came in through a bridge port', async (t) => {
  const node = new NodeNetwork('worker');
  node.addInterface({ name: 'eth0', kind: 'ethernet', mtu: 1500, addresses: ['172.18.0.3/16'], up: true });
  node.addInterface({ name: 'cni0', kind: 'bridge', mtu: 1450, addresses: ['10.244.1.1/24'], up: true });
  node.addInterface({ name: 'veth1', kind: 'veth', mtu: 1450, addresses: [], up: true, master: 'cni0', peerPod: 'default/a' });
  node.netfilter.restore('*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT\nCOMMIT\n', { noflush: true });
  t.match(node.netfilter.save({ tables: ['nat'] }), '-A PREROUTING -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT');
  const external = context(node, tcp('1.1.1.1', 1, '50.60.70.81', 80), { inDev: 'eth0' });
  node.netfilter.evaluate('nat', 'PREROUTING', external);
  t.equal(node.netfilter.rules('nat', 'PREROUTING')[0]!.counters.packets, 1, 'from eth0: not bridged, matches');
  const fromPod = context(node, tcp('10.244.1.2', 1, '50.60.70.81', 80), { inDev: 'veth1' });
  node.netfilter.evaluate('nat', 'PREROUTING', fromPod);
  t.equal(node.netfilter.rules('nat', 'PREROUTING')[0]!.counters.packets, 1, 'from a pod veth (a cni0 port): bridged, no match');
});
