// kube-proxy's iptables rule compiler (lib/kubeproxy/iptables.ts) against the expected
// iptables-restore outputs of upstream's own tests, kubernetes/kubernetes
// pkg/proxy/iptables/proxier_test.go. Upstream compares with assertIPTablesRulesEqual, which
// sorts the chains and keeps each chain's rules in order; {@link byChain} does the same here.
// The fake proxier there runs with clusterCIDR 10.0.0.0/8, masquerade bit 14 and localhost
// NodePorts on, so the same options are used.
import t from 'tap';
import { compileIptables, computeProbability, type IptablesInput } from '../../lib/kubeproxy/iptables.js';
import { Netfilter } from '../../lib/dataplane/netfilter.js';
import { NodeNetwork } from '../../lib/dataplane/node.js';
import { PodnetError } from '../../lib/core/errors.js';
import { servicePortPolicyClusterChain } from '../../lib/kubeproxy/naming.js';
import type { Endpoint } from '../../lib/api/types.js';
import { programFlannelNode } from '../../plugins/flannel/daemon.js';
import { byChain, makeSlice, newFlow, service } from './fixtures.js';

const FAKE_PROXIER = { clusterCIDR: '10.0.0.0/8' } as const;

t.test('TestSyncProxyRulesRepeated, first sync: two ClusterIP services, one endpoint each', async (t) => {
  const got = compileIptables({
    ...FAKE_PROXIER,
    services: [
      service('ns1', 'svc1', '172.30.0.41', [{ name: 'p80', port: 80, protocol: 'TCP' }]),
      service('ns2', 'svc2', '172.30.0.42', [{ name: 'p8080', port: 8080, protocol: 'TCP' }]),
    ],
    endpointSlices: [
      makeSlice('ns1', 'svc1', ['10.0.1.1'], [{ name: 'p80', port: 80, protocol: 'TCP' }]),
      makeSlice('ns2', 'svc2', ['10.0.2.1'], [{ name: 'p8080', port: 8080, protocol: 'TCP' }]),
    ],
  });
  // proxier_test.go TestSyncProxyRulesRepeated, the first `expected`, verbatim.
  const expected = `
*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-SNQ3ZNILQDEJNDQO - [0:0]
:KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]
:KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 -j KUBE-SVC-2VJB64SDSIJUP5T6
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -s 10.0.2.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -m tcp -p tcp -j DNAT --to-destination 10.0.2.1:8080
-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 -> 10.0.2.1:8080" -j KUBE-SEP-UHEGFW77JX3KXTOV
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO
COMMIT
`;
  t.same(byChain(got), byChain(expected));
  t.match(got, /^\*filter\n/, 'filter first, then nat, as syncProxyRules writes them');
  t.ok(got.indexOf('*nat') > got.indexOf('COMMIT'));
});

t.test('TestOverallIPTablesRules, the ClusterIP, NodePort (ETP Cluster) and no-endpoints services', async (t) => {
  // ns1/svc1 ClusterIP, ns3/svc3 NodePort 3003, ns6/svc6 ClusterIP without endpoints. Expected:
  // the lines of proxier_test.go TestOverallIPTablesRules' `expected` for these three services
  // and the fixed chains, verbatim (the whole six-service case, with svc2/svc4/svc5's
  // externalIPs, LoadBalancer and ETP Local, is in iptables-semantics.test.ts).
  const got = compileIptables({
    ...FAKE_PROXIER,
    services: [
      service('ns1', 'svc1', '172.30.0.41', [{ name: 'p80', port: 80, protocol: 'TCP', targetPort: 80 }]),
      service('ns3', 'svc3', '172.30.0.43', [{ name: 'p80', port: 80, protocol: 'TCP', targetPort: 80, nodePort: 3003 }], { type: 'NodePort' }),
      service('ns6', 'svc6', '172.30.0.46', [{ name: 'p80', port: 80, protocol: 'TCP', targetPort: 80 }]),
    ],
    endpointSlices: [
      makeSlice('ns1', 'svc1', ['10.180.0.1'], [{ name: 'p80', port: 80, protocol: 'TCP' }]),
      makeSlice('ns3', 'svc3', ['10.180.0.3'], [{ name: 'p80', port: 80, protocol: 'TCP' }]),
    ],
  });
  const expected = `
*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
`;
  t.same(byChain(got), byChain(expected));
});

t.test('a NodePort without endpoints is rejected in KUBE-EXTERNAL-SERVICES (proxier.go "Capture nodeports")', async (t) => {
  const got = compileIptables({ ...FAKE_PROXIER, services: [service('ns2', 'svc2', '172.30.0.42', [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }], { type: 'NodePort' })], endpointSlices: [] });
  const filter = byChain(got).filter!.rules;
  t.same(filter['KUBE-SERVICES'], ['-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j REJECT']);
  // Same shape as TestOverallIPTablesRules' "has no local endpoints" NodePort line, with REJECT.
  t.same(filter['KUBE-EXTERNAL-SERVICES'], ['-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j REJECT']);
  const nat = byChain(got).nat!;
  t.notOk(nat.chains.some((c) => /KUBE-(SVC|EXT|SEP)-/.test(c)), 'no nat chains for a service without endpoints');
  t.notOk(nat.rules['KUBE-NODEPORTS'], 'and no NodePort capture');
});

t.test('TestTerminatingEndpointsTrafficPolicyLocal "ready endpoints exist": ClientIP affinity, 3 endpoints, ready ones only', async (t) => {
  // The same service and slice as upstream's, as a plain ClusterIP service: its KUBE-SVC (Cluster
  // policy) chain and KUBE-SEP chains are the ones upstream expects, verbatim.
  const ep = (ip: string, ready: boolean, serving: boolean, terminating: boolean, nodeName = 'test-hostname'): Endpoint => ({ addresses: [ip], conditions: { ready, serving, terminating }, nodeName });
  const got = compileIptables({
    ...FAKE_PROXIER,
    services: [service('ns1', 'svc1', '172.30.1.1', [{ name: '', port: 80, protocol: 'TCP', targetPort: 80 }], { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } })],
    endpointSlices: [
      makeSlice('ns1', 'svc1', [ep('10.0.1.1', true, true, false), ep('10.0.1.2', true, true, false), ep('10.0.1.3', false, true, true), ep('10.0.1.4', false, false, true), ep('10.0.1.5', true, true, false, 'host-1')], [{ name: '', port: 80, protocol: 'TCP' }]),
    ],
  });
  const nat = byChain(got).nat!;
  t.same(nat.rules['KUBE-SVC-AQI2S6QIMU7PVVRP'], [
    '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
    '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m recent --name KUBE-SEP-3JOIVZTXZZRGORX4 --rcheck --seconds 10800 --reap -j KUBE-SEP-3JOIVZTXZZRGORX4',
    '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m recent --name KUBE-SEP-IO5XOSKPAXIFQXAJ --rcheck --seconds 10800 --reap -j KUBE-SEP-IO5XOSKPAXIFQXAJ',
    '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.5:80" -m recent --name KUBE-SEP-EQCHZ7S2PJ72OHAY --rcheck --seconds 10800 --reap -j KUBE-SEP-EQCHZ7S2PJ72OHAY',
    '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-3JOIVZTXZZRGORX4',
    '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-IO5XOSKPAXIFQXAJ',
    '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.5:80" -j KUBE-SEP-EQCHZ7S2PJ72OHAY',
  ]);
  t.same(nat.rules['KUBE-SEP-3JOIVZTXZZRGORX4'], [
    '-A KUBE-SEP-3JOIVZTXZZRGORX4 -m comment --comment ns1/svc1 -s 10.0.1.1 -j KUBE-MARK-MASQ',
    '-A KUBE-SEP-3JOIVZTXZZRGORX4 -m comment --comment ns1/svc1 -m recent --name KUBE-SEP-3JOIVZTXZZRGORX4 --set -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80',
  ]);
  t.same(nat.rules['KUBE-SEP-EQCHZ7S2PJ72OHAY'], [
    '-A KUBE-SEP-EQCHZ7S2PJ72OHAY -m comment --comment ns1/svc1 -s 10.0.1.5 -j KUBE-MARK-MASQ',
    '-A KUBE-SEP-EQCHZ7S2PJ72OHAY -m comment --comment ns1/svc1 -m recent --name KUBE-SEP-EQCHZ7S2PJ72OHAY --set -m tcp -p tcp -j DNAT --to-destination 10.0.1.5:80',
  ]);
  t.same(
    nat.chains.filter((c) => c.startsWith(':KUBE-SEP-')),
    [':KUBE-SEP-3JOIVZTXZZRGORX4 - [0:0]', ':KUBE-SEP-EQCHZ7S2PJ72OHAY - [0:0]', ':KUBE-SEP-IO5XOSKPAXIFQXAJ - [0:0]'],
    'terminating 10.0.1.3 and not-serving 10.0.1.4 get no chain while ready endpoints exist',
  );
});

t.test('with no ready endpoint, the serving terminating ones are used (topology.go CategorizeEndpoints)', async (t) => {
  const ep = (ip: string, ready: boolean, serving: boolean, terminating: boolean): Endpoint => ({ addresses: [ip], conditions: { ready, serving, terminating } });
  const got = compileIptables({
    ...FAKE_PROXIER,
    services: [service('ns1', 'svc1', '172.30.1.1', [{ port: 80, protocol: 'TCP' }])],
    endpointSlices: [makeSlice('ns1', 'svc1', [ep('10.0.1.2', false, true, true), ep('10.0.1.3', false, true, true), ep('10.0.1.4', false, false, true), ep('10.0.1.6', false, true, false)], [{ name: '', port: 80, protocol: 'TCP' }])],
  });
  // SEP names as in TestTerminatingEndpointsTrafficPolicyLocal "only terminating endpoints exist".
  t.same(byChain(got).nat!.rules['KUBE-SVC-AQI2S6QIMU7PVVRP']!.slice(1), [
    '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-IO5XOSKPAXIFQXAJ',
    '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.3:80" -j KUBE-SEP-XGJFVO3L2O5SRFNT',
  ]);

  const none = compileIptables({ ...FAKE_PROXIER, services: [service('ns1', 'svc1', '172.30.1.1', [{ port: 80, protocol: 'TCP' }])], endpointSlices: [makeSlice('ns1', 'svc1', [ep('10.0.1.4', false, false, true)], [{ name: '', port: 80, protocol: 'TCP' }])] });
  t.same(byChain(none).filter!.rules['KUBE-SERVICES'], ['-A KUBE-SERVICES -m comment --comment "ns1/svc1 has no endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j REJECT'], 'nothing usable: REJECT');
});

t.test('probabilities: 1/(n-i) printed %0.10f on all but the last endpoint (proxier.go computeProbability)', async (t) => {
  t.equal(computeProbability(3), '0.3333333333');
  t.equal(computeProbability(2), '0.5000000000');
  t.equal(computeProbability(7), '0.1428571429');
  const addrs = ['10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.1.4'];
  const got = compileIptables({ ...FAKE_PROXIER, services: [service('ns1', 'svc1', '172.30.0.41', [{ name: 'p80', port: 80 }])], endpointSlices: [makeSlice('ns1', 'svc1', addrs, [{ name: 'p80', port: 80 }])] });
  const rules = byChain(got).nat!.rules['KUBE-SVC-XPGD46QRK7WJZT7O']!.slice(1);
  t.same(
    rules.map((r) => /--probability (\S+)/.exec(r)?.[1] ?? 'last'),
    ['0.2500000000', '0.3333333333', '0.5000000000', 'last'],
  );
});

t.test('endpoints are ordered by their ip:port text, across slices (endpointslicecache.go)', async (t) => {
  const got = compileIptables({
    ...FAKE_PROXIER,
    services: [service('ns1', 'svc1', '172.30.0.41', [{ name: 'p80', port: 80 }])],
    endpointSlices: [
      makeSlice('ns1', 'svc1', ['10.0.1.9', '10.0.1.10'], [{ name: 'p80', port: 80 }], 'b'),
      makeSlice('ns1', 'svc1', ['10.0.1.2', '10.0.1.9'], [{ name: 'p80', port: 80 }], 'a'),
    ],
  });
  const targets = byChain(got).nat!.rules['KUBE-SVC-XPGD46QRK7WJZT7O']!.slice(1).map((r) => /-> (\S+)"/.exec(r)![1]);
  // String order, not numeric: "10.0.1.10:80" < "10.0.1.2:80". A duplicate endpoint is kept once.
  t.same(targets, ['10.0.1.10:80', '10.0.1.2:80', '10.0.1.9:80']);

  // The same ip:port ready in one slice and terminating in another: the ready copy counts,
  // whichever slice comes first. (Were the terminating copy kept, 10.0.1.2 would be left out.)
  const ready = makeSlice('ns1', 'svc1', ['10.0.1.2', '10.0.1.3'], [{ name: 'p80', port: 80 }], 'a');
  const terminating = makeSlice('ns1', 'svc1', [{ addresses: ['10.0.1.2'], conditions: { ready: false, serving: true, terminating: true } }], [{ name: 'p80', port: 80 }], 'b');
  for (const endpointSlices of [[ready, terminating], [terminating, ready]]) {
    const dup = compileIptables({ ...FAKE_PROXIER, services: [service('ns1', 'svc1', '172.30.0.41', [{ name: 'p80', port: 80 }])], endpointSlices });
    const used = byChain(dup).nat!.rules['KUBE-SVC-XPGD46QRK7WJZT7O']!.slice(1).map((r) => /-> (\S+)"/.exec(r)![1]);
    t.same(used, ['10.0.1.2:80', '10.0.1.3:80'], `slices ${endpointSlices.map((e) => e.metadata.name).join(', ')}`);
  }

  // A slice port without a name (nil upstream, unlike "") is ignored, as endpointslicecache.go does.
  const unnamed = compileIptables({ ...FAKE_PROXIER, services: [service('ns1', 'svc1', '172.30.0.41', [{ port: 80 }])], endpointSlices: [makeSlice('ns1', 'svc1', ['10.0.1.2'], [{ port: 80 }])] });
  t.match(unnamed, /"ns1\/svc1 has no endpoints"/);
});

t.test('several ports, named targetPorts resolved per slice, UDP and SCTP', async (t) => {
  const got = compileIptables({
    ...FAKE_PROXIER,
    services: [
      service('ns2', 'svc2', '172.30.0.42', [
        { name: 'http', port: 80, protocol: 'TCP', targetPort: 'web' },
        { name: 'dns-udp', port: 53, protocol: 'UDP', targetPort: 5353 },
        { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
      ]),
    ],
    endpointSlices: [
      // Two slices whose pods name different numbers "web": each endpoint gets its own.
      makeSlice('ns2', 'svc2', ['10.180.0.1'], [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns-udp', port: 5353, protocol: 'UDP' }, { name: 'dns-sctp', port: 53, protocol: 'SCTP' }], 'a'),
      makeSlice('ns2', 'svc2', ['10.180.2.1'], [{ name: 'http', port: 9090, protocol: 'TCP' }], 'b'),
    ],
  });
  const nat = byChain(got).nat!;
  const dnat = Object.values(nat.rules).flat().filter((r) => r.includes('DNAT'));
  const to = dnat.map((r) => `${/-p (\w+)/.exec(r)![1]} ${/--to-destination (\S+)/.exec(r)![1]}`).sort();
  t.same(to, ['sctp 10.180.0.1:53', 'tcp 10.180.0.1:8080', 'tcp 10.180.2.1:9090', 'udp 10.180.0.1:5353']);
  // Chain names from naming.ts, whose hashing test/kubeproxy/naming.test.ts checks against upstream.
  const svc = (port: string, proto: string) => servicePortPolicyClusterChain(`ns2/svc2:${port}`, proto);
  t.same(nat.rules['KUBE-SERVICES']!.slice(0, 3), [
    `-A KUBE-SERVICES -m comment --comment "ns2/svc2:dns-sctp cluster IP" -m sctp -p sctp -d 172.30.0.42 --dport 53 -j ${svc('dns-sctp', 'sctp')}`,
    `-A KUBE-SERVICES -m comment --comment "ns2/svc2:dns-udp cluster IP" -m udp -p udp -d 172.30.0.42 --dport 53 -j ${svc('dns-udp', 'udp')}`,
    `-A KUBE-SERVICES -m comment --comment "ns2/svc2:http cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j ${svc('http', 'tcp')}`,
  ]);
  t.equal(new Set(nat.chains.filter((c) => c.startsWith(':KUBE-SVC-'))).size, 3, 'one KUBE-SVC chain per service port');
});

t.test('masqueradeAll marks every ClusterIP packet; no clusterCIDR and no masqueradeAll, none', async (t) => {
  const svc = [service('ns1', 'svc1', '172.30.0.41', [{ name: 'p80', port: 80 }])];
  const eps = [makeSlice('ns1', 'svc1', ['10.0.1.1'], [{ name: 'p80', port: 80 }])];
  const all = byChain(compileIptables({ services: svc, endpointSlices: eps, masqueradeAll: true })).nat!.rules['KUBE-SVC-XPGD46QRK7WJZT7O']!;
  t.equal(all[0], '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ');
  const bare = byChain(compileIptables({ services: svc, endpointSlices: eps })).nat!.rules['KUBE-SVC-XPGD46QRK7WJZT7O']!;
  t.same(bare, ['-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO']);
  const bit = compileIptables({ services: svc, endpointSlices: eps, masqueradeBit: 15, localhostNodePorts: false });
  t.match(bit, /-A KUBE-MARK-MASQ -j MARK --or-mark 0x8000\n/);
  t.notMatch(bit, /KUBE-FIREWALL/, 'without localhost NodePorts, no localnet guard');
});

t.test('headless, ExternalName and IPv6-only services are not proxied', async (t) => {
  const got = compileIptables({
    ...FAKE_PROXIER,
    services: [
      service('ns1', 'headless', 'None', [{ name: 'p80', port: 80 }]),
      { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'ns1', name: 'ext' }, spec: { type: 'ExternalName', externalName: 'example.com' } },
      service('ns1', 'v6', 'fd00:10:96::1', [{ name: 'p80', port: 80 }]),
    ],
    endpointSlices: [makeSlice('ns1', 'headless', ['10.0.1.1'], [{ name: 'p80', port: 80 }])],
  });
  t.notMatch(got, /ns1\//);
});

t.test('bad input: a clear error naming the object', async (t) => {
  const ok = [service('ns1', 'svc1', '172.30.0.41', [{ name: 'p80', port: 80 }])];
  const cases: [string, IptablesInput, string, RegExp][] = [
    ['bad clusterCIDR', { services: ok, endpointSlices: [], clusterCIDR: '10.0.0.0/33' }, 'PODNET_KUBEPROXY_INVALID', /clusterCIDR "10.0.0.0\/33"/],
    ['bad masquerade bit', { services: ok, endpointSlices: [], masqueradeBit: 32 }, 'PODNET_KUBEPROXY_INVALID', /masqueradeBit/],
    ['bad port', { services: [service('ns1', 'svc1', '172.30.0.41', [{ name: 'p', port: 70000 }])], endpointSlices: [] }, 'PODNET_KUBEPROXY_INVALID', /ns1\/svc1: spec.ports\[0\].port/],
    ['bad clusterIP', { services: [service('ns1', 'svc1', '172.30.0.999', [{ port: 80 }])], endpointSlices: [] }, 'PODNET_KUBEPROXY_INVALID', /not an IP address/],
    ['bad endpoint', { services: ok, endpointSlices: [makeSlice('ns1', 'svc1', ['10.0.1.x'], [{ name: 'p80', port: 80 }])] }, 'PODNET_KUBEPROXY_INVALID', /EndpointSlice ns1\/svc1-1/],
    ['bad source range', { services: [service('ns1', 'svc1', '172.30.0.41', [{ port: 80 }], { type: 'LoadBalancer', loadBalancerSourceRanges: ['203.0.113.0/33'] })], endpointSlices: [] }, 'PODNET_KUBEPROXY_INVALID', /loadBalancerSourceRanges\[0\]/],
    ['bad node IP', { services: ok, endpointSlices: [], nodeIPs: ['10.0.0.x'] }, 'PODNET_KUBEPROXY_INVALID', /node IP "10.0.0.x"/],
  ];
  for (const [name, input, code, message] of cases) {
    let caught: unknown;
    try {
      compileIptables(input);
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof PodnetError && caught.code === code, `${name}: ${code}`);
    t.match((caught as Error | undefined)?.message, message, name);
  }
});

t.test('the output loads into the netfilter model with --noflush, beside flanneld\'s chains, and DNATs', async (t) => {
  const leases = [
    { node: 'worker', subnet: '10.244.1.0/24', publicIP: '172.18.0.3' },
    { node: 'worker2', subnet: '10.244.2.0/24', publicIP: '172.18.0.4' },
  ];
  const node = new NodeNetwork('worker');
  programFlannelNode(node, leases[0]!, leases, { backend: 'vxlan', underlayMtu: 1500, podMtu: 1450, network: '10.244.0.0/16' });
  const nf = node.netfilter;
  const flannel = nf.save({ tables: ['nat'] }).split('\n').filter((l) => l.includes('FLANNEL'));
  const text = compileIptables({
    clusterCIDR: '10.244.0.0/16',
    services: [
      service('default', 'web', '10.96.0.20', [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080 }], { type: 'NodePort' }),
      service('default', 'empty', '10.96.0.21', [{ name: 'http', port: 80 }]),
    ],
    endpointSlices: [makeSlice('default', 'web', ['10.244.2.5'], [{ name: 'http', port: 8080, protocol: 'TCP' }])],
  });
  nf.restore(text, { noflush: true });
  t.same(nf.save({ tables: ['nat'] }).split('\n').filter((l) => l.includes('FLANNEL')), flannel, 'flanneld\'s rules survive');

  // kube-proxy's jump rules from the built-in chains are installed with `iptables -I`, not by the
  // restore input; add the two this flow needs.
  nf.insert('nat', 'OUTPUT', '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  nf.insert('filter', 'OUTPUT', '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  const ctx = newFlow(node, { protocol: 'TCP', src: '10.244.1.2', sport: 40000, dst: '10.96.0.20', dport: 80 }, { hook: 'OUTPUT' }).ctx;
  nf.evaluate('nat', 'OUTPUT', ctx);
  t.same({ dst: ctx.tuple.dst, dport: ctx.tuple.dport }, { dst: '10.244.2.5', dport: 8080 }, 'ClusterIP DNATed to the endpoint\'s resolved port');
  t.equal(ctx.mark & 0x4000, 0, 'a pod source inside the cluster CIDR is not marked for masquerade');

  const rejected = newFlow(node, { protocol: 'TCP', src: '10.244.1.2', sport: 40001, dst: '10.96.0.21', dport: 80 }, { hook: 'OUTPUT' }).ctx;
  t.equal(nf.evaluate('filter', 'OUTPUT', rejected)?.verdict, 'REJECT', 'a service without endpoints is rejected');
});

t.test('ClientIP affinity output loads into the netfilter model', async (t) => {
  const text = compileIptables({
    services: [service('ns1', 'svc1', '172.30.1.1', [{ port: 80 }], { sessionAffinity: 'ClientIP' })],
    endpointSlices: [makeSlice('ns1', 'svc1', ['10.0.1.1'], [{ name: '', port: 80, protocol: 'TCP' }])],
  });
  t.doesNotThrow(() => new Netfilter().restore(text, { noflush: true }));
});
