// kube-proxy's nftables mode, Service semantics: upstream's packet-flow cases
// (kubernetes/kubernetes pkg/proxy/nftables/proxier_test.go runPacketFlowTests: TestClusterIPGeneral,
// TestLoadBalancer, TestNodePorts, TestExternalTrafficPolicyLocal/Cluster, TestInternalExternalMasquerade,
// TestNoEndpointsReject and the terminating-endpoints cases) run through the node's real hooks with
// the tables the backend loaded, instead of upstream's regexp tracer (helpers_test.go tracePacket).
// Upstream's tracer follows every numgen branch and lists all endpoints; here each case runs on
// fresh nodes with several seeds and the endpoints the draws picked are collected.
import t from 'tap';
import type { ProxyInput } from '../../lib/kubeproxy/model.js';
import {
  NFT_FAKE_PROXIER,
  NFTABLES_FLOWS,
  TEST_EXTERNAL_CLIENT,
  TEST_EXTERNAL_CLIENT_BLOCKED,
  TEST_EXTERNAL_IP,
  TEST_NODE_IP,
  TEST_NODE_IP_ALT,
  TEST_NODE_NAME,
  ep,
  makeService,
  makeSlice,
  port,
  runPacketFlowTests,
  traceOnce,
  type PacketFlowTest,
} from './fixtures.js';

t.test('TestClusterIPGeneral', async (t) => {
  const input: ProxyInput = {
    ...NFT_FAKE_PROXIER,
    services: [
      makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [port('http', 80)] }),
      makeService('ns2', 'svc2', {
        clusterIP: '172.30.0.42',
        ports: [port('http', 80), port('https', 443, 'TCP', { targetPort: 8443 }), port('dns-udp', 53, 'UDP'), port('dns-tcp', 53, 'TCP', { targetPort: 5353 }), port('dns-sctp', 53, 'SCTP')],
      }),
    ],
    endpointSlices: [
      makeSlice('ns1', 'svc1', [ep('10.180.0.1', TEST_NODE_NAME)], [port('http', 80)]),
      makeSlice('ns2', 'svc2', [ep('10.180.0.1', TEST_NODE_NAME), ep('10.180.2.1', 'node2')], [port('http', 80), port('https', 8443), port('dns-udp', 53, 'UDP'), port('dns-tcp', 5353), port('dns-sctp', 53, 'SCTP')]),
    ],
  };
  runPacketFlowTests(t, NFTABLES_FLOWS, input, [
    { name: 'simple clusterIP', sourceIP: '10.180.0.2', destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80', masq: false },
    { name: 'hairpin to cluster IP', sourceIP: '10.180.0.1', destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80', masq: true },
    { name: 'clusterIP with multiple endpoints', sourceIP: '10.180.0.2', destIP: '172.30.0.42', destPort: 80, output: '10.180.0.1:80, 10.180.2.1:80', masq: false },
    { name: 'clusterIP with TargetPort', sourceIP: '10.180.0.2', destIP: '172.30.0.42', destPort: 443, output: '10.180.0.1:8443, 10.180.2.1:8443', masq: false },
    { name: 'clusterIP with TCP, UDP, and SCTP on same port (TCP)', sourceIP: '10.180.0.2', protocol: 'TCP', destIP: '172.30.0.42', destPort: 53, output: '10.180.0.1:5353, 10.180.2.1:5353', masq: false },
    { name: 'clusterIP with TCP, UDP, and SCTP on same port (UDP)', sourceIP: '10.180.0.2', protocol: 'UDP', destIP: '172.30.0.42', destPort: 53, output: '10.180.0.1:53, 10.180.2.1:53', masq: false },
    { name: 'clusterIP with TCP, UDP, and SCTP on same port (SCTP)', sourceIP: '10.180.0.2', protocol: 'SCTP', destIP: '172.30.0.42', destPort: 53, output: '10.180.0.1:53, 10.180.2.1:53', masq: false },
    { name: 'TCP-only port does not match UDP traffic', sourceIP: '10.180.0.2', protocol: 'UDP', destIP: '172.30.0.42', destPort: 80, output: 'REJECT' },
    { name: "svc1 does not accept svc2's ports", sourceIP: '10.180.0.2', destIP: '172.30.0.41', destPort: 443, output: 'REJECT' },
    { name: 'packet to unallocated cluster ip', sourceIP: '10.180.0.2', destIP: '172.30.0.50', destPort: 80, output: 'DROP' },
  ]);
});

t.test('TestLoadBalancer', async (t) => {
  const input: ProxyInput = {
    ...NFT_FAKE_PROXIER,
    services: [
      makeService(
        'ns1',
        'svc1',
        { type: 'LoadBalancer', clusterIP: '172.30.0.41', ports: [port('p80', 80, 'TCP', { nodePort: 3001 })], loadBalancerSourceRanges: ['192.168.0.0/24', ' 203.0.113.0/25'] },
        { loadBalancer: { ingress: [{ ip: '1.2.3.4' }, { ip: '5.6.7.8' }] } },
      ),
    ],
    endpointSlices: [makeSlice('ns1', 'svc1', ['10.180.0.1'], [port('p80', 80)])],
  };
  const EP = '10.180.0.1:80';
  runPacketFlowTests(t, NFTABLES_FLOWS, input, [
    { name: 'pod to cluster IP', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: EP, masq: false },
    { name: 'external to nodePort', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3001, output: EP, masq: true },
    { name: 'nodePort bypasses LoadBalancerSourceRanges', sourceIP: TEST_EXTERNAL_CLIENT_BLOCKED, destIP: TEST_NODE_IP, destPort: 3001, output: EP, masq: true },
    { name: 'accepted external to LB1', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: EP, masq: true },
    { name: 'accepted external to LB2', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '5.6.7.8', destPort: 80, output: EP, masq: true },
    { name: 'blocked external to LB1', sourceIP: TEST_EXTERNAL_CLIENT_BLOCKED, destIP: '1.2.3.4', destPort: 80, output: 'DROP' },
    { name: 'blocked external to LB2', sourceIP: TEST_EXTERNAL_CLIENT_BLOCKED, destIP: '5.6.7.8', destPort: 80, output: 'DROP' },
    { name: 'pod to LB1 (blocked by LoadBalancerSourceRanges)', sourceIP: '10.0.0.2', destIP: '1.2.3.4', destPort: 80, output: 'DROP' },
    { name: 'pod to LB2 (blocked by LoadBalancerSourceRanges)', sourceIP: '10.0.0.2', destIP: '5.6.7.8', destPort: 80, output: 'DROP' },
    { name: 'node to LB1 (allowed by LoadBalancerSourceRanges)', sourceIP: TEST_NODE_IP, destIP: '1.2.3.4', destPort: 80, output: EP, masq: true },
    { name: 'node to LB2 (allowed by LoadBalancerSourceRanges)', sourceIP: TEST_NODE_IP, destIP: '5.6.7.8', destPort: 80, output: EP, masq: true },
    { name: 'same node to LB1, SNATted to LB1 (implicitly allowed)', sourceIP: '1.2.3.4', destIP: '1.2.3.4', destPort: 80, output: EP, masq: true },
    { name: 'same node to LB2, SNATted to LB2 (implicitly allowed)', sourceIP: '5.6.7.8', destIP: '5.6.7.8', destPort: 80, output: EP, masq: true },
  ]);
});

t.test('TestNodePorts (ipv4): only --nodeport-addresses take NodePorts', async (t) => {
  const services = [makeService('ns1', 'svc1', { type: 'NodePort', clusterIP: '172.30.0.41', ports: [port('p80', 80, 'TCP', { nodePort: 3001 })] })];
  const endpointSlices = [makeSlice('ns1', 'svc1', ['10.180.0.1', ep('10.180.2.1', TEST_NODE_NAME)], [port('p80', 80)])];
  const both = '10.180.0.1:80, 10.180.2.1:80';
  const basic: PacketFlowTest[] = [
    { name: 'pod to cluster IP', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: both, masq: false },
    { name: 'external to nodePort', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3001, output: both, masq: true },
    { name: 'node to nodePort', sourceIP: TEST_NODE_IP, destIP: TEST_NODE_IP, destPort: 3001, output: both, masq: true },
  ];
  t.test('ipv4', async (t) => {
    const input = { ...NFT_FAKE_PROXIER, services, endpointSlices };
    runPacketFlowTests(t, NFTABLES_FLOWS, input, [...basic, { name: 'secondary nodeIP ignores NodePorts', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP_ALT, destPort: 3001, output: '' }]);
  });
  t.test('ipv4, multiple nodeport-addresses', async (t) => {
    const input = { ...NFT_FAKE_PROXIER, nodeIPs: [TEST_NODE_IP, TEST_NODE_IP_ALT], services, endpointSlices };
    runPacketFlowTests(t, NFTABLES_FLOWS, input, [...basic, { name: 'external to nodePort on secondary IP', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP_ALT, destPort: 3001, output: both, masq: true }]);
  });
  t.test('nodeport-addresses unset: fib daddr type local takes every local address', async (t) => {
    const { nodeIPs: _n, ...all } = NFT_FAKE_PROXIER;
    const input = { ...all, services, endpointSlices };
    runPacketFlowTests(t, NFTABLES_FLOWS, input, [...basic, { name: 'external to nodePort on secondary IP', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP_ALT, destPort: 3001, output: both, masq: true }]);
    const r = traceOnce(NFTABLES_FLOWS.syncedNode(input), basic[1]!, 0);
    t.ok(r.steps.some((s) => s.rule === 'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports' && s.chain === 'services'), 'the NodePort was captured by fib daddr type local');
  });
});

const LB_LOCAL: ProxyInput = {
  ...NFT_FAKE_PROXIER,
  services: [
    makeService(
      'ns1',
      'svc1',
      { type: 'LoadBalancer', externalTrafficPolicy: 'Local', clusterIP: '172.30.0.41', externalIPs: [TEST_EXTERNAL_IP], ports: [port('p80', 80, 'TCP', { nodePort: 3001, targetPort: 80 })], healthCheckNodePort: 30000 },
      { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } },
    ),
  ],
  endpointSlices: [makeSlice('ns1', 'svc1', ['10.180.0.1', ep('10.180.2.1', TEST_NODE_NAME)], [port('p80', 80)])],
};

t.test('TestExternalTrafficPolicyLocal', async (t) => {
  const both = '10.180.0.1:80, 10.180.2.1:80';
  runPacketFlowTests(t, NFTABLES_FLOWS, LB_LOCAL, [
    { name: 'pod to cluster IP hits both endpoints, unmasqueraded', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: both, masq: false },
    { name: 'pod to external IP hits both endpoints, unmasqueraded', sourceIP: '10.0.0.2', destIP: TEST_EXTERNAL_IP, destPort: 80, output: both, masq: false },
    { name: 'external to external IP hits only local endpoint, unmasqueraded', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_EXTERNAL_IP, destPort: 80, output: '10.180.2.1:80', masq: false },
    { name: 'pod to LB IP hits only both endpoints, unmasqueraded', sourceIP: '10.0.0.2', destIP: '1.2.3.4', destPort: 80, output: both, masq: false },
    { name: 'external to LB IP hits only local endpoint, unmasqueraded', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: '10.180.2.1:80', masq: false },
    { name: 'pod to NodePort hits both endpoints, unmasqueraded', sourceIP: '10.0.0.2', destIP: TEST_NODE_IP, destPort: 3001, output: both, masq: false },
    { name: 'external to NodePort hits only local endpoint, unmasqueraded', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3001, output: '10.180.2.1:80', masq: false },
  ]);
});

t.test('TestExternalTrafficPolicyCluster', async (t) => {
  const svc = LB_LOCAL.services[0]!;
  const input: ProxyInput = { ...LB_LOCAL, services: [{ ...svc, spec: { ...svc.spec, externalTrafficPolicy: 'Cluster' } }] };
  const both = '10.180.0.1:80, 10.180.2.1:80';
  runPacketFlowTests(t, NFTABLES_FLOWS, input, [
    { name: 'pod to cluster IP hits both endpoints, unmasqueraded', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: both, masq: false },
    { name: 'pod to external IP hits both endpoints, masqueraded', sourceIP: '10.0.0.2', destIP: TEST_EXTERNAL_IP, destPort: 80, output: both, masq: true },
    { name: 'external to external IP hits both endpoints, masqueraded', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_EXTERNAL_IP, destPort: 80, output: both, masq: true },
    { name: 'pod to LB IP hits both endpoints, masqueraded', sourceIP: '10.0.0.2', destIP: '1.2.3.4', destPort: 80, output: both, masq: true },
    { name: 'external to LB IP hits both endpoints, masqueraded', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: both, masq: true },
    { name: 'pod to NodePort hits both endpoints, masqueraded', sourceIP: '10.0.0.2', destIP: TEST_NODE_IP, destPort: 3001, output: both, masq: true },
    { name: 'external to NodePort hits both endpoints, masqueraded', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3001, output: both, masq: true },
  ]);
});

t.test('TestInternalExternalMasquerade (base, no LocalTrafficDetector, masqueradeAll, both)', async (t) => {
  const lb = (ns: string, name: string, ip: string, nodePort: number, hc: number, vip: string, spec: object = {}) =>
    makeService(ns, name, { type: 'LoadBalancer', clusterIP: ip, ports: [port('p80', 80, 'TCP', { nodePort })], healthCheckNodePort: hc, ...spec }, { loadBalancer: { ingress: [{ ip: vip }] } });
  const services = [
    lb('ns1', 'svc1', '172.30.0.41', 3001, 30001, '1.2.3.4'),
    lb('ns2', 'svc2', '172.30.0.42', 3002, 30002, '5.6.7.8', { externalTrafficPolicy: 'Local' }),
    lb('ns3', 'svc3', '172.30.0.43', 3003, 30003, '9.10.11.12', { internalTrafficPolicy: 'Local' }),
  ];
  const endpointSlices = [1, 2, 3].map((i) => makeSlice(`ns${i}`, `svc${i}`, [ep(`10.180.0.${i}`, TEST_NODE_NAME), ep(`10.180.1.${i}`, 'remote')], [port('p80', 80)]));
  const flows: PacketFlowTest[] = [
    { name: 'pod to ClusterIP', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80, 10.180.1.1:80', masq: false },
    { name: 'pod to NodePort', sourceIP: '10.0.0.2', destIP: TEST_NODE_IP, destPort: 3001, output: '10.180.0.1:80, 10.180.1.1:80', masq: true },
    { name: 'pod to LB', sourceIP: '10.0.0.2', destIP: '1.2.3.4', destPort: 80, output: '10.180.0.1:80, 10.180.1.1:80', masq: true },
    { name: 'node to ClusterIP', sourceIP: TEST_NODE_IP, destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80, 10.180.1.1:80', masq: true },
    { name: 'node to NodePort', sourceIP: TEST_NODE_IP, destIP: TEST_NODE_IP, destPort: 3001, output: '10.180.0.1:80, 10.180.1.1:80', masq: true },
    { name: 'node to LB', sourceIP: TEST_NODE_IP, destIP: '1.2.3.4', destPort: 80, output: '10.180.0.1:80, 10.180.1.1:80', masq: true },
    { name: 'external to ClusterIP', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80, 10.180.1.1:80', masq: true },
    { name: 'external to NodePort', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3001, output: '10.180.0.1:80, 10.180.1.1:80', masq: true },
    { name: 'external to LB', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: '10.180.0.1:80, 10.180.1.1:80', masq: true },
    { name: 'pod to ClusterIP with eTP:Local', sourceIP: '10.0.0.2', destIP: '172.30.0.42', destPort: 80, output: '10.180.0.2:80, 10.180.1.2:80', masq: false },
    { name: 'pod to NodePort with eTP:Local', sourceIP: '10.0.0.2', destIP: TEST_NODE_IP, destPort: 3002, output: '10.180.0.2:80, 10.180.1.2:80', masq: false },
    { name: 'pod to LB with eTP:Local', sourceIP: '10.0.0.2', destIP: '5.6.7.8', destPort: 80, output: '10.180.0.2:80, 10.180.1.2:80', masq: false },
    { name: 'node to ClusterIP with eTP:Local', sourceIP: TEST_NODE_IP, destIP: '172.30.0.42', destPort: 80, output: '10.180.0.2:80, 10.180.1.2:80', masq: true },
    { name: 'node to NodePort with eTP:Local', sourceIP: TEST_NODE_IP, destIP: TEST_NODE_IP, destPort: 3001, output: '10.180.0.1:80, 10.180.1.1:80', masq: true },
    { name: 'node to LB with eTP:Local', sourceIP: TEST_NODE_IP, destIP: '5.6.7.8', destPort: 80, output: '10.180.0.2:80, 10.180.1.2:80', masq: true },
    { name: 'external to ClusterIP with eTP:Local', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '172.30.0.42', destPort: 80, output: '10.180.0.2:80, 10.180.1.2:80', masq: true },
    { name: 'external to NodePort with eTP:Local', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3002, output: '10.180.0.2:80', masq: false },
    { name: 'external to LB with eTP:Local', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '5.6.7.8', destPort: 80, output: '10.180.0.2:80', masq: false },
    { name: 'pod to ClusterIP with iTP:Local', sourceIP: '10.0.0.2', destIP: '172.30.0.43', destPort: 80, output: '10.180.0.3:80', masq: false },
    { name: 'pod to NodePort with iTP:Local', sourceIP: '10.0.0.2', destIP: TEST_NODE_IP, destPort: 3003, output: '10.180.0.3:80, 10.180.1.3:80', masq: true },
    { name: 'pod to LB with iTP:Local', sourceIP: '10.0.0.2', destIP: '9.10.11.12', destPort: 80, output: '10.180.0.3:80, 10.180.1.3:80', masq: true },
    { name: 'node to ClusterIP with iTP:Local', sourceIP: TEST_NODE_IP, destIP: '172.30.0.43', destPort: 80, output: '10.180.0.3:80', masq: true },
    { name: 'node to NodePort with iTP:Local', sourceIP: TEST_NODE_IP, destIP: TEST_NODE_IP, destPort: 3003, output: '10.180.0.3:80, 10.180.1.3:80', masq: true },
    { name: 'node to LB with iTP:Local', sourceIP: TEST_NODE_IP, destIP: '9.10.11.12', destPort: 80, output: '10.180.0.3:80, 10.180.1.3:80', masq: true },
    { name: 'external to ClusterIP with iTP:Local', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '172.30.0.43', destPort: 80, output: '10.180.0.3:80', masq: true },
    { name: 'external to NodePort with iTP:Local', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3003, output: '10.180.0.3:80, 10.180.1.3:80', masq: true },
    { name: 'external to LB with iTP:Local', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '9.10.11.12', destPort: 80, output: '10.180.0.3:80, 10.180.1.3:80', masq: true },
  ];
  const override = (over: Record<string, Partial<PacketFlowTest>>) => flows.map((f) => ({ ...f, ...over[f.name] }));
  const noDetectorOverrides = {
    // With no LocalTrafficDetector, all traffic to a ClusterIP is assumed to be from a pod.
    'node to ClusterIP': { masq: false },
    'node to ClusterIP with eTP:Local': { masq: false },
    'node to ClusterIP with iTP:Local': { masq: false },
    'external to ClusterIP': { masq: false },
    'external to ClusterIP with eTP:Local': { masq: false },
    'external to ClusterIP with iTP:Local': { masq: false },
    // And there's no eTP:Local short-circuit for pod traffic, so pods get only the local endpoints.
    'pod to NodePort with eTP:Local': { output: '10.180.0.2:80' },
    'pod to LB with eTP:Local': { output: '10.180.0.2:80' },
  };
  const masqueradeAllOverrides = {
    'pod to ClusterIP': { masq: true },
    'pod to ClusterIP with eTP:Local': { masq: true },
    'pod to ClusterIP with iTP:Local': { masq: true },
  };
  const { clusterCIDR: _c, ...noDetector } = NFT_FAKE_PROXIER;
  t.test('base', async (t) => runPacketFlowTests(t, NFTABLES_FLOWS, { ...NFT_FAKE_PROXIER, services, endpointSlices }, flows, 12));
  t.test('no LocalTrafficDetector', async (t) => runPacketFlowTests(t, NFTABLES_FLOWS, { ...noDetector, services, endpointSlices }, override(noDetectorOverrides), 12));
  t.test('masqueradeAll', async (t) => runPacketFlowTests(t, NFTABLES_FLOWS, { ...NFT_FAKE_PROXIER, masqueradeAll: true, services, endpointSlices }, override(masqueradeAllOverrides), 12));
  t.test('masqueradeAll, no LocalTrafficDetector', async (t) =>
    runPacketFlowTests(t, NFTABLES_FLOWS, { ...noDetector, masqueradeAll: true, services, endpointSlices }, override({ ...masqueradeAllOverrides, 'pod to NodePort with eTP:Local': { output: '10.180.0.2:80' }, 'pod to LB with eTP:Local': { output: '10.180.0.2:80' } }), 12));
});

t.test('TestNoEndpointsReject: ClusterIP, externalIP, NodePort and LB IP of a Service without endpoints reject', async (t) => {
  const input: ProxyInput = {
    ...NFT_FAKE_PROXIER,
    services: [makeService('ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.0.41', externalIPs: [TEST_EXTERNAL_IP], ports: [port('p80', 80, 'TCP', { nodePort: 3001 })] }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } })],
    endpointSlices: [],
  };
  runPacketFlowTests(t, NFTABLES_FLOWS, input, [
    { name: 'pod to cluster IP with no endpoints', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: 'REJECT' },
    { name: 'external to external IP with no endpoints', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_EXTERNAL_IP, destPort: 80, output: 'REJECT' },
    { name: 'pod to NodePort with no endpoints', sourceIP: '10.0.0.2', destIP: TEST_NODE_IP, destPort: 3001, output: 'REJECT' },
    { name: 'external to NodePort with no endpoints', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3001, output: 'REJECT' },
    { name: 'pod to LoadBalancer IP with no endpoints', sourceIP: '10.0.0.2', destIP: '1.2.3.4', destPort: 80, output: 'REJECT' },
    { name: 'external to LoadBalancer IP with no endpoints', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: 'REJECT' },
  ]);
  const r = traceOnce(NFTABLES_FLOWS.syncedNode(input), { name: '', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: '' }, 0);
  t.same(
    r.steps.map((s) => `${s.chain}: ${s.action}`),
    // PREROUTING: the jumps run, the maps hold nothing for it; FORWARD: @no-endpoint-services.
    ['filter-prerouting: jump firewall-check', 'nat-prerouting: jump services', 'filter-forward: jump service-endpoints-check', 'service-endpoints-check: goto reject-chain', 'reject-chain: REJECT'],
    'rejected at FORWARD through @no-endpoint-services and reject-chain',
  );
});

t.test('terminating endpoints with externalTrafficPolicy Cluster (proxier_test.go TestEndpointSliceWithTerminatingEndpointsTrafficPolicyCluster)', async (t) => {
  const svc = makeService('ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.1.1', externalTrafficPolicy: 'Cluster', ports: [{ name: '', port: 80, protocol: 'TCP', targetPort: 80 }], healthCheckNodePort: 30000 }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } });
  const ports = [{ name: '', port: 80, protocol: 'TCP' as const }];
  const cond = (ready: boolean, serving: boolean, terminating: boolean) => ({ ready, serving, terminating });
  const cases: [string, ProxyInput['endpointSlices'], string][] = [
    [
      'ready endpoints exist',
      [makeSlice('ns1', 'svc1', [ep('10.0.1.1', TEST_NODE_NAME, cond(true, true, false)), ep('10.0.1.2', TEST_NODE_NAME, cond(true, true, false)), ep('10.0.1.3', 'another-node', cond(false, true, true)), ep('10.0.1.4', 'another-node', cond(false, false, true)), ep('10.0.1.5', 'another-node', cond(true, true, false))], ports)],
      '10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80',
    ],
    [
      'only terminating endpoints exist',
      [makeSlice('ns1', 'svc1', [ep('10.0.1.2', TEST_NODE_NAME, cond(false, true, true)), ep('10.0.1.3', TEST_NODE_NAME, cond(false, true, true)), ep('10.0.1.4', 'another-node', cond(false, false, true)), ep('10.0.1.5', 'another-node', cond(false, true, true))], ports)],
      '10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80',
    ],
    ['terminating endpoints on remote node', [makeSlice('ns1', 'svc1', [ep('10.0.1.5', 'node-1', cond(false, true, true))], ports)], '10.0.1.5:80'],
    ['no usable endpoints on any node', [makeSlice('ns1', 'svc1', [ep('10.0.1.5', TEST_NODE_NAME, cond(false, false, true)), ep('10.0.1.5', 'node-1', cond(false, false, true))], ports)], 'REJECT'],
  ];
  for (const [name, endpointSlices, output] of cases) {
    t.test(name, async (t) => {
      const input = { ...NFT_FAKE_PROXIER, services: [svc], endpointSlices };
      runPacketFlowTests(t, NFTABLES_FLOWS, input, [
        { name: 'pod to clusterIP', sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output, masq: false },
        { name: 'external to LB', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output, masq: output !== 'REJECT' },
      ]);
      // After the slice is deleted, both reject.
      runPacketFlowTests(t, NFTABLES_FLOWS, { ...input, endpointSlices: [] }, [
        { name: 'pod to clusterIP after endpoints deleted', sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output: 'REJECT' },
        { name: 'external to LB after endpoints deleted', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: 'REJECT' },
      ], 4);
    });
  }
});
