// kube-proxy iptables mode, Service semantics: each case is one of upstream's tests in
// kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go (the v1.28-v1.30 series, before the
// nfacct counters were added to two rules), its expected restore input compared chain by chain
// (assertIPTablesRulesEqual) and its packet-flow cases (runPacketFlowTests) run through the node's
// real netfilter hooks after the backend's sync.
import t, { type Test } from 'tap';
import { compileIptables, LARGE_CLUSTER_ENDPOINTS_THRESHOLD } from '../../lib/kubeproxy/iptables.js';
import type { ProxyInput } from '../../lib/kubeproxy/model.js';
import type { Endpoint, EndpointSlice, ServiceSpec } from '../../lib/api/types.js';
import {
  FAKE_PROXIER,
  FILTER_CHAINS,
  FILTER_TAIL,
  IPTABLES_FLOWS,
  NAT_TAIL,
  NODEPORTS_JUMP,
  P80,
  TEST_EXTERNAL_CLIENT,
  TEST_EXTERNAL_CLIENT_BLOCKED,
  TEST_HOSTNAME,
  TEST_NODE_IP,
  byChain,
  ep,
  makeService,
  makeSlice,
  runPacketFlowTests,
  type PacketFlowTest,
} from './fixtures.js';

function check(t: Test, input: ProxyInput, expected: string, flows: PacketFlowTest[] = []): void {
  t.same(byChain(compileIptables(input)), byChain(expected), 'restore input as upstream expects');
  runPacketFlowTests(t, IPTABLES_FLOWS, input, flows);
}

t.test('TestOverallIPTablesRulesWithMultipleServices: ClusterIP, LB ETP Local, NodePort, externalIP, LB with source ranges, no endpoints', async (t) => {
  const input: ProxyInput = {
    ...FAKE_PROXIER,
    services: [
      makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: P80 }),
      makeService('ns2', 'svc2', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', clusterIP: '172.30.0.42', ports: [{ ...P80[0]!, nodePort: 3001 }], externalIPs: ['192.168.99.22'], healthCheckNodePort: 30000 }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } }),
      makeService('ns3', 'svc3', { type: 'NodePort', clusterIP: '172.30.0.43', ports: [{ ...P80[0]!, nodePort: 3003 }] }),
      makeService('ns4', 'svc4', { type: 'NodePort', clusterIP: '172.30.0.44', externalIPs: ['192.168.99.33'], ports: [{ ...P80[0]!, targetPort: 80 }] }),
      // " 203.0.113.0/25": extra whitespace is ignored, for backward compatibility.
      makeService('ns5', 'svc5', { type: 'LoadBalancer', externalTrafficPolicy: 'Cluster', clusterIP: '172.30.0.45', ports: [{ ...P80[0]!, nodePort: 3002 }], healthCheckNodePort: 30000, loadBalancerSourceRanges: [' 203.0.113.0/25'] }, { loadBalancer: { ingress: [{ ip: '5.6.7.8' }] } }),
      makeService('ns6', 'svc6', { type: 'ClusterIP', clusterIP: '172.30.0.46', ports: [{ ...P80[0]!, targetPort: 80 }] }),
    ],
    endpointSlices: [
      makeSlice('ns1', 'svc1', ['10.180.0.1'], P80),
      // No NodeName: not local, so ETP Local has no endpoint on this node.
      makeSlice('ns2', 'svc2', ['10.180.0.2'], P80),
      makeSlice('ns3', 'svc3', ['10.180.0.3'], P80),
      makeSlice('ns4', 'svc4', ['10.180.0.4', ep('10.180.0.5', TEST_HOSTNAME)], P80),
      makeSlice('ns5', 'svc5', ['10.180.0.3'], P80),
    ],
  };
  check(
    t,
    input,
    `*filter
${FILTER_CHAINS}
-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
${FILTER_TAIL}
-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
:KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
:KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
:KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
:KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
${NODEPORTS_JUMP}
-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
${NAT_TAIL}
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
`,
    // TestTracePackets' cases, which run on this same rule set.
    [
      { name: 'no match', sourceIP: '10.0.0.2', destIP: '10.0.0.3', destPort: 80, output: '' },
      { name: 'single endpoint', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80' },
      { name: 'multiple endpoints', sourceIP: '10.0.0.2', destIP: '172.30.0.44', destPort: 80, output: '10.180.0.4:80, 10.180.0.5:80' },
      { name: 'LOCAL, KUBE-MARK-MASQ', sourceIP: TEST_NODE_IP, destIP: '192.168.99.22', destPort: 80, output: '10.180.0.2:80', masq: true },
      { name: 'DROP', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '192.168.99.22', destPort: 80, output: 'DROP' },
      { name: 'ACCEPT (NodePortHealthCheck)', sourceIP: TEST_NODE_IP, destIP: TEST_NODE_IP, destPort: 30000, output: 'ACCEPT' },
      { name: 'REJECT', sourceIP: '10.0.0.2', destIP: '172.30.0.46', destPort: 80, output: 'REJECT' },
    ],
  );
});

t.test('TestNoEndpointsReject: a service without endpoints rejects on its ClusterIP, externalIP, NodePort and LB IP', async (t) => {
  const input: ProxyInput = {
    ...FAKE_PROXIER,
    services: [makeService('ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.0.41', externalIPs: ['192.168.99.11'], ports: [{ ...P80[0]!, nodePort: 3001 }] }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } })],
    endpointSlices: [],
  };
  runPacketFlowTests(t, IPTABLES_FLOWS, input, [
    { name: 'pod to cluster IP with no endpoints', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: 'REJECT' },
    { name: 'external to external IP with no endpoints', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '192.168.99.11', destPort: 80, output: 'REJECT' },
    { name: 'pod to NodePort with no endpoints', sourceIP: '10.0.0.2', destIP: TEST_NODE_IP, destPort: 3001, output: 'REJECT' },
    { name: 'external to NodePort with no endpoints', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3001, output: 'REJECT' },
    { name: 'pod to LoadBalancer IP with no endpoints', sourceIP: '10.0.0.2', destIP: '1.2.3.4', destPort: 80, output: 'REJECT' },
    { name: 'external to LoadBalancer IP with no endpoints', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: 'REJECT' },
  ]);
});

t.test('TestClusterIPGeneral: several ports, TargetPort, TCP and SCTP on one port number, hairpin', async (t) => {
  const input: ProxyInput = {
    ...FAKE_PROXIER,
    services: [
      makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }),
      makeService('ns2', 'svc2', {
        clusterIP: '172.30.0.42',
        ports: [
          { name: 'http', port: 80, protocol: 'TCP' },
          { name: 'https', port: 443, protocol: 'TCP', targetPort: 8443 },
          { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 5353 },
        ],
      }),
    ],
    endpointSlices: [
      makeSlice('ns1', 'svc1', [ep('10.180.0.1', TEST_HOSTNAME)], [{ name: 'http', port: 80, protocol: 'TCP' }]),
      makeSlice('ns2', 'svc2', [ep('10.180.0.1', TEST_HOSTNAME), ep('10.180.2.1', 'host2')], [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'https', port: 8443, protocol: 'TCP' },
        { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
        { name: 'dns-tcp', port: 5353, protocol: 'TCP' },
      ]),
    ],
  };
  runPacketFlowTests(t, IPTABLES_FLOWS, input, [
    { name: 'simple clusterIP', sourceIP: '10.180.0.2', destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80' },
    { name: 'hairpin to cluster IP', sourceIP: '10.180.0.1', destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80', masq: true },
    { name: 'clusterIP with multiple endpoints', sourceIP: '10.180.0.2', destIP: '172.30.0.42', destPort: 80, output: '10.180.0.1:80, 10.180.2.1:80' },
    { name: 'clusterIP with TargetPort', sourceIP: '10.180.0.2', destIP: '172.30.0.42', destPort: 443, output: '10.180.0.1:8443, 10.180.2.1:8443' },
    { name: 'clusterIP with TCP and SCTP on same port (TCP)', sourceIP: '10.180.0.2', protocol: 'TCP', destIP: '172.30.0.42', destPort: 53, output: '10.180.0.1:5353, 10.180.2.1:5353' },
    { name: 'clusterIP with TCP and SCTP on same port (SCTP)', sourceIP: '10.180.0.2', protocol: 'SCTP', destIP: '172.30.0.42', destPort: 53, output: '10.180.0.1:53, 10.180.2.1:53' },
    { name: 'TCP-only port does not match UDP traffic', sourceIP: '10.180.0.2', protocol: 'UDP', destIP: '172.30.0.42', destPort: 80, output: '' },
    { name: "svc1 does not accept svc2's ports", sourceIP: '10.180.0.2', destIP: '172.30.0.41', destPort: 443, output: '' },
  ]);
});

t.test('traffic to a ClusterIP from outside the cluster CIDR is masqueraded (the KUBE-SVC "cluster IP" rule)', async (t) => {
  const input: ProxyInput = { ...FAKE_PROXIER, services: [makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: P80 })], endpointSlices: [makeSlice('ns1', 'svc1', ['10.180.0.1'], P80)] };
  runPacketFlowTests(t, IPTABLES_FLOWS, input, [
    { name: 'a pod: not masqueraded', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80' },
    { name: 'the node itself', sourceIP: TEST_NODE_IP, destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80', masq: true },
    { name: 'a client routed in from outside', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80', masq: true },
  ]);
  runPacketFlowTests(t, IPTABLES_FLOWS, { ...input, masqueradeAll: true }, [{ name: '--masquerade-all: a pod too', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80', masq: true }]);
});

t.test('TestLoadBalancer: two LB IPs behind loadBalancerSourceRanges (KUBE-FW, KUBE-PROXY-FIREWALL)', async (t) => {
  const input: ProxyInput = {
    ...FAKE_PROXIER,
    services: [
      makeService('ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.0.41', ports: [{ ...P80[0]!, nodePort: 3001 }], loadBalancerSourceRanges: ['192.168.0.0/24', ' 203.0.113.0/25'] }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }, { ip: '5.6.7.8' }] } }),
    ],
    endpointSlices: [makeSlice('ns1', 'svc1', ['10.180.0.1'], P80)],
  };
  const epOut = '10.180.0.1:80';
  check(
    t,
    input,
    `*filter
${FILTER_CHAINS}
${FILTER_TAIL}
-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by KUBE-FW-XPGD46QRK7WJZT7O" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by KUBE-FW-XPGD46QRK7WJZT7O" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]
:KUBE-FW-XPGD46QRK7WJZT7O - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-FW-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-XPGD46QRK7WJZT7O
${NODEPORTS_JUMP}
-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade traffic for ns1/svc1:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 192.168.0.0/24 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 1.2.3.4 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 5.6.7.8 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"
${NAT_TAIL}
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
`,
    [
      { name: 'pod to cluster IP', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: epOut },
      { name: 'external to nodePort', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3001, output: epOut, masq: true },
      { name: 'nodePort bypasses LoadBalancerSourceRanges', sourceIP: TEST_EXTERNAL_CLIENT_BLOCKED, destIP: TEST_NODE_IP, destPort: 3001, output: epOut, masq: true },
      { name: 'accepted external to LB1', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: epOut, masq: true },
      { name: 'accepted external to LB2', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '5.6.7.8', destPort: 80, output: epOut, masq: true },
      { name: 'blocked external to LB1', sourceIP: TEST_EXTERNAL_CLIENT_BLOCKED, destIP: '1.2.3.4', destPort: 80, output: 'DROP' },
      { name: 'blocked external to LB2', sourceIP: TEST_EXTERNAL_CLIENT_BLOCKED, destIP: '5.6.7.8', destPort: 80, output: 'DROP' },
      { name: 'pod to LB1 (blocked by LoadBalancerSourceRanges)', sourceIP: '10.0.0.2', destIP: '1.2.3.4', destPort: 80, output: 'DROP' },
      { name: 'pod to LB2 (blocked by LoadBalancerSourceRanges)', sourceIP: '10.0.0.2', destIP: '5.6.7.8', destPort: 80, output: 'DROP' },
      { name: 'node to LB1 (allowed by LoadBalancerSourceRanges)', sourceIP: TEST_NODE_IP, destIP: '1.2.3.4', destPort: 80, output: epOut, masq: true },
      { name: 'node to LB2 (allowed by LoadBalancerSourceRanges)', sourceIP: TEST_NODE_IP, destIP: '5.6.7.8', destPort: 80, output: epOut, masq: true },
      { name: 'same node to LB1, SNATted to LB1 (implicitly allowed)', sourceIP: '1.2.3.4', destIP: '1.2.3.4', destPort: 80, output: epOut, masq: true },
      { name: 'same node to LB2, SNATted to LB2 (implicitly allowed)', sourceIP: '5.6.7.8', destIP: '5.6.7.8', destPort: 80, output: epOut, masq: true },
    ],
  );
});

t.test('TestNodePort: external, node and localhost clients of a NodePort are masqueraded', async (t) => {
  const input: ProxyInput = {
    ...FAKE_PROXIER,
    services: [makeService('ns1', 'svc1', { type: 'NodePort', clusterIP: '172.30.0.41', ports: [{ ...P80[0]!, nodePort: 3001 }] })],
    endpointSlices: [makeSlice('ns1', 'svc1', ['10.180.0.1'], P80)],
  };
  runPacketFlowTests(t, IPTABLES_FLOWS, input, [
    { name: 'pod to cluster IP', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80' },
    { name: 'external to nodePort', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3001, output: '10.180.0.1:80', masq: true },
    { name: 'node to nodePort', sourceIP: TEST_NODE_IP, destIP: TEST_NODE_IP, destPort: 3001, output: '10.180.0.1:80', masq: true },
    { name: 'localhost to nodePort gets masqueraded', sourceIP: '127.0.0.1', destIP: '127.0.0.1', destPort: 3001, output: '10.180.0.1:80', masq: true },
  ]);
});

t.test('TestHealthCheckNodePort: the health check node port is accepted, and its rule goes with the service', async (t) => {
  // Upstream runs this one with --nodeport-addresses 127.0.0.0/8, which podnet does not model;
  // the health check rule and flow do not depend on it.
  const svc = makeService('ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.0.42', ports: [{ ...P80[0]!, nodePort: 3001 }], healthCheckNodePort: 30000, externalTrafficPolicy: 'Local' });
  const input: ProxyInput = { ...FAKE_PROXIER, services: [svc], endpointSlices: [] };
  const filter = byChain(compileIptables(input)).filter!.rules;
  t.same(filter['KUBE-NODEPORTS'], ['-A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT']);
  t.same(filter['KUBE-SERVICES'], ['-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j REJECT']);
  t.same(filter['KUBE-EXTERNAL-SERVICES'], ['-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j REJECT']);
  runPacketFlowTests(t, IPTABLES_FLOWS, input, [{ name: 'firewall accepts HealthCheckNodePort', sourceIP: '1.2.3.4', destIP: TEST_NODE_IP, destPort: 30000, output: 'ACCEPT' }]);
  runPacketFlowTests(t, IPTABLES_FLOWS, { ...input, services: [] }, [{ name: 'HealthCheckNodePort no longer has any rule', sourceIP: '1.2.3.4', destIP: TEST_NODE_IP, destPort: 30000, output: '' }]);
});

t.test('TestExternalTrafficPolicyLocal: external traffic reaches only the local endpoint, unmasqueraded', async (t) => {
  const input: ProxyInput = {
    ...FAKE_PROXIER,
    services: [
      makeService('ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.0.41', ports: [{ ...P80[0]!, nodePort: 3001 }], healthCheckNodePort: 30000, externalIPs: ['192.168.99.11'], externalTrafficPolicy: 'Local' }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } }),
    ],
    endpointSlices: [makeSlice('ns1', 'svc1', ['10.180.0.1', ep('10.180.2.1', TEST_HOSTNAME)], P80)],
  };
  check(
    t,
    input,
    `*filter
${FILTER_CHAINS}
-A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
${FILTER_TAIL}
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-ZX7GRIZKSNUQ3LAJ - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SVL-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 external IP" -m tcp -p tcp -d 192.168.99.11 --dport 80 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-XPGD46QRK7WJZT7O
${NODEPORTS_JUMP}
-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "pod traffic for ns1/svc1:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVL-XPGD46QRK7WJZT7O
${NAT_TAIL}
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -s 10.180.2.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.2.1:80
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ
-A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ
COMMIT
`,
    [
      { name: 'pod to cluster IP hits both endpoints', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80, 10.180.2.1:80' },
      { name: 'external to external IP hits only local endpoint, unmasqueraded', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '192.168.99.11', destPort: 80, output: '10.180.2.1:80' },
      { name: 'external to LB IP hits only local endpoint, unmasqueraded', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: '10.180.2.1:80' },
      { name: 'external to NodePort hits only local endpoint, unmasqueraded', sourceIP: TEST_EXTERNAL_CLIENT, destIP: TEST_NODE_IP, destPort: 3001, output: '10.180.2.1:80' },
    ],
  );
});

t.test('TestNonLocalExternalIPs: externalIP traffic with Cluster policy is masqueraded and spread', async (t) => {
  const input: ProxyInput = {
    ...FAKE_PROXIER,
    services: [makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', externalIPs: ['192.168.99.11'], ports: [{ ...P80[0]!, targetPort: 80 }] })],
    endpointSlices: [makeSlice('ns1', 'svc1', ['10.180.0.1', ep('10.180.2.1', TEST_HOSTNAME)], P80)],
  };
  const nat = byChain(compileIptables(input)).nat!;
  t.same(nat.rules['KUBE-EXT-XPGD46QRK7WJZT7O'], [
    '-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade traffic for ns1/svc1:p80 external destinations" -j KUBE-MARK-MASQ',
    '-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVC-XPGD46QRK7WJZT7O',
  ]);
  t.same(nat.rules['KUBE-SERVICES']!.slice(0, 2), [
    '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O',
    '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 external IP" -m tcp -p tcp -d 192.168.99.11 --dport 80 -j KUBE-EXT-XPGD46QRK7WJZT7O',
  ]);
  runPacketFlowTests(t, IPTABLES_FLOWS, input, [
    { name: 'pod to cluster IP', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: '10.180.0.1:80, 10.180.2.1:80' },
    { name: 'external to external IP', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '192.168.99.11', destPort: 80, output: '10.180.0.1:80, 10.180.2.1:80', masq: true },
  ]);
});

t.test('TestEnableLocalhostNodePortsIPv4 / TestDisableLocalhostNodePortsIPv4: no local detector, ETP Local NodePort', async (t) => {
  // Without a cluster CIDR there is no "pod traffic" short-circuit and no ClusterIP masquerade rule.
  const input = (localhostNodePorts: boolean): ProxyInput => ({
    nodeName: TEST_HOSTNAME,
    localhostNodePorts,
    services: [makeService('ns1', 'svc1', { type: 'NodePort', clusterIP: '10.69.0.10', ports: [{ ...P80[0]!, nodePort: 30001 }], externalTrafficPolicy: 'Local' })],
    endpointSlices: [makeSlice('ns1', 'svc1', ['10.244.0.1', ep('10.244.2.1', TEST_HOSTNAME)], P80)],
  });
  const nat = (jump: string) => `*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-6KG6DFHVBKBK53RU - [0:0]
:KUBE-SEP-KDGX2M2ONE25PSWH - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SVL-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 30001 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 10.69.0.10 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
${jump}
-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVL-XPGD46QRK7WJZT7O
${NAT_TAIL}
-A KUBE-SEP-6KG6DFHVBKBK53RU -m comment --comment ns1/svc1:p80 -s 10.244.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-6KG6DFHVBKBK53RU -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.0.1:80
-A KUBE-SEP-KDGX2M2ONE25PSWH -m comment --comment ns1/svc1:p80 -s 10.244.2.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-KDGX2M2ONE25PSWH -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.2.1:80
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.244.0.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-6KG6DFHVBKBK53RU
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.244.2.1:80" -j KUBE-SEP-KDGX2M2ONE25PSWH
-A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.244.2.1:80" -j KUBE-SEP-KDGX2M2ONE25PSWH
COMMIT
`;
  check(t, input(true), `*filter\n${FILTER_CHAINS}\n${FILTER_TAIL}\nCOMMIT\n${nat(NODEPORTS_JUMP)}`);
  const withoutFirewall = FILTER_CHAINS.split('\n').filter((l) => !l.includes('KUBE-FIREWALL')).join('\n');
  const forwardOnly = FILTER_TAIL.split('\n').filter((l) => !l.includes('KUBE-FIREWALL')).join('\n');
  check(
    t,
    input(false),
    `*filter\n${withoutFirewall}\n${forwardOnly}\nCOMMIT\n${nat('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS')}`,
  );
});

t.test('TestInternalTrafficPolicyE2E: internalTrafficPolicy Cluster, Local with and without local endpoints', async (t) => {
  const cases: { name: string; itp: 'Cluster' | 'Local'; hosts: string[]; chains: string[]; nat: Record<string, string[]>; filterServices?: string[]; flows: PacketFlowTest[] }[] = [
    {
      name: 'internalTrafficPolicy is cluster',
      itp: 'Cluster',
      hosts: [TEST_HOSTNAME, 'host1', 'host2'],
      chains: ['KUBE-SEP-3JOIVZTXZZRGORX4', 'KUBE-SEP-IO5XOSKPAXIFQXAJ', 'KUBE-SEP-XGJFVO3L2O5SRFNT', 'KUBE-SVC-AQI2S6QIMU7PVVRP'],
      nat: {
        'KUBE-SERVICES': ['-A KUBE-SERVICES -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j KUBE-SVC-AQI2S6QIMU7PVVRP', NODEPORTS_JUMP],
        'KUBE-SVC-AQI2S6QIMU7PVVRP': [
          '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
          '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-3JOIVZTXZZRGORX4',
          '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-IO5XOSKPAXIFQXAJ',
          '-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.3:80" -j KUBE-SEP-XGJFVO3L2O5SRFNT',
        ],
      },
      flows: [{ name: 'pod to ClusterIP hits all endpoints', sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output: '10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80' }],
    },
    {
      name: 'internalTrafficPolicy is local and there are local endpoints',
      itp: 'Local',
      hosts: [TEST_HOSTNAME, 'host1', 'host2'],
      chains: ['KUBE-SEP-3JOIVZTXZZRGORX4', 'KUBE-SVL-AQI2S6QIMU7PVVRP'],
      nat: {
        'KUBE-SERVICES': ['-A KUBE-SERVICES -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j KUBE-SVL-AQI2S6QIMU7PVVRP', NODEPORTS_JUMP],
        'KUBE-SVL-AQI2S6QIMU7PVVRP': [
          '-A KUBE-SVL-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
          '-A KUBE-SVL-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -j KUBE-SEP-3JOIVZTXZZRGORX4',
        ],
      },
      flows: [{ name: 'pod to ClusterIP hits only local endpoint', sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output: '10.0.1.1:80' }],
    },
    {
      name: 'internalTrafficPolicy is local and there are no local endpoints',
      itp: 'Local',
      hosts: ['host0', 'host1', 'host2'],
      chains: [],
      nat: { 'KUBE-SERVICES': [NODEPORTS_JUMP] },
      filterServices: ['-A KUBE-SERVICES -m comment --comment "ns1/svc1 has no local endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j DROP'],
      flows: [{ name: 'no endpoints', sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output: 'DROP' }],
    },
  ];
  for (const c of cases) {
    const svc = makeService('ns1', 'svc1', { clusterIP: '172.30.1.1', selector: { foo: 'bar' }, ports: [{ name: '', port: 80, protocol: 'TCP' }], internalTrafficPolicy: c.itp });
    const slice = makeSlice('ns1', 'svc1', c.hosts.map((h, i) => ({ addresses: [`10.0.1.${i + 1}`], conditions: { ready: true }, nodeName: h })), [{ name: '', port: 80, protocol: 'TCP' }]);
    const input: ProxyInput = { ...FAKE_PROXIER, services: [svc], endpointSlices: [slice] };
    const got = byChain(compileIptables(input));
    for (const [chain, rules] of Object.entries(c.nat)) t.same(got.nat!.rules[chain], rules, `${c.name}: nat ${chain}`);
    t.same(got.filter!.rules['KUBE-SERVICES'], c.filterServices, `${c.name}: filter KUBE-SERVICES`);
    t.same(got.nat!.chains.filter((l) => /KUBE-(SVC|SVL|SEP)-/.test(l)), c.chains.map((ch) => `:${ch} - [0:0]`), `${c.name}: nat chains`);
    runPacketFlowTests(t, IPTABLES_FLOWS, input, c.flows);
    // Endpoints deleted: REJECT.
    runPacketFlowTests(t, IPTABLES_FLOWS, { ...input, endpointSlices: [] }, [{ name: `${c.name}, endpoints deleted`, sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output: 'REJECT' }]);
  }
});

/** TestTerminatingEndpointsTrafficPolicyLocal / …Cluster's service: LB 1.2.3.4, ClientIP affinity, health check 30000. */
function terminatingService(etp: 'Local' | 'Cluster'): ProxyInput['services'][number] {
  return makeService(
    'ns1',
    'svc1',
    { clusterIP: '172.30.1.1', type: 'LoadBalancer', externalTrafficPolicy: etp, selector: { foo: 'bar' }, ports: [{ name: '', targetPort: 80, port: 80, protocol: 'TCP' }], healthCheckNodePort: 30000, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } },
    { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } },
  );
}

const cond = (ready: boolean, serving: boolean, terminating: boolean) => ({ ready, serving, terminating });
const ports0 = [{ name: '', port: 80, protocol: 'TCP' as const }];
const affinity = (chain: string, ip: string, sep: string) => `-A ${chain} -m comment --comment "ns1/svc1 -> ${ip}:80" -m recent --name ${sep} --rcheck --seconds 10800 --reap -j ${sep}`;
const sepRules = (sep: string, ip: string) => [`-A ${sep} -m comment --comment ns1/svc1 -s ${ip} -j KUBE-MARK-MASQ`, `-A ${sep} -m comment --comment ns1/svc1 -m recent --name ${sep} --set -m tcp -p tcp -j DNAT --to-destination ${ip}:80`];
const SEP = { '10.0.1.1': 'KUBE-SEP-3JOIVZTXZZRGORX4', '10.0.1.2': 'KUBE-SEP-IO5XOSKPAXIFQXAJ', '10.0.1.3': 'KUBE-SEP-XGJFVO3L2O5SRFNT', '10.0.1.5': 'KUBE-SEP-EQCHZ7S2PJ72OHAY' } as const;
const SVC = 'KUBE-SVC-AQI2S6QIMU7PVVRP';
const SVL = 'KUBE-SVL-AQI2S6QIMU7PVVRP';
const EXT = 'KUBE-EXT-AQI2S6QIMU7PVVRP';
const SVC_MASQ = `-A ${SVC} -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`;
const EXT_LOCAL = [
  `-A ${EXT} -m comment --comment "pod traffic for ns1/svc1 external destinations" -s 10.0.0.0/8 -j ${SVC}`,
  `-A ${EXT} -m comment --comment "masquerade LOCAL traffic for ns1/svc1 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
  `-A ${EXT} -m comment --comment "route LOCAL traffic for ns1/svc1 external destinations" -m addrtype --src-type LOCAL -j ${SVC}`,
];
const HEALTH = '-A KUBE-NODEPORTS -m comment --comment "ns1/svc1 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT';
const LB_CAPTURE = (to: string) => [
  `-A KUBE-SERVICES -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j ${SVC}`,
  `-A KUBE-SERVICES -m comment --comment "ns1/svc1 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j ${to}`,
  NODEPORTS_JUMP,
];

t.test('TestTerminatingEndpointsTrafficPolicyLocal: local ready endpoints first, else local serving-terminating ones', async (t) => {
  const cases: { name: string; endpoints: Endpoint[]; nat: Record<string, string[]>; filter: Record<string, string[]>; flows: PacketFlowTest[] }[] = [
    {
      name: 'ready endpoints exist',
      endpoints: [ep('10.0.1.1', TEST_HOSTNAME, cond(true, true, false)), ep('10.0.1.2', TEST_HOSTNAME, cond(true, true, false)), ep('10.0.1.3', TEST_HOSTNAME, cond(false, true, true)), ep('10.0.1.4', TEST_HOSTNAME, cond(false, false, true)), ep('10.0.1.5', 'host-1', cond(true, true, false))],
      filter: { 'KUBE-NODEPORTS': [HEALTH] },
      nat: {
        'KUBE-SERVICES': LB_CAPTURE(EXT),
        [EXT]: [...EXT_LOCAL, `-A ${EXT} -j ${SVL}`],
        [SVC]: [SVC_MASQ, affinity(SVC, '10.0.1.1', SEP['10.0.1.1']), affinity(SVC, '10.0.1.2', SEP['10.0.1.2']), affinity(SVC, '10.0.1.5', SEP['10.0.1.5']),
          `-A ${SVC} -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.3333333333 -j ${SEP['10.0.1.1']}`,
          `-A ${SVC} -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m statistic --mode random --probability 0.5000000000 -j ${SEP['10.0.1.2']}`,
          `-A ${SVC} -m comment --comment "ns1/svc1 -> 10.0.1.5:80" -j ${SEP['10.0.1.5']}`],
        [SVL]: [affinity(SVL, '10.0.1.1', SEP['10.0.1.1']), affinity(SVL, '10.0.1.2', SEP['10.0.1.2']),
          `-A ${SVL} -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.5000000000 -j ${SEP['10.0.1.1']}`,
          `-A ${SVL} -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -j ${SEP['10.0.1.2']}`],
        [SEP['10.0.1.1']]: sepRules(SEP['10.0.1.1'], '10.0.1.1'),
        [SEP['10.0.1.2']]: sepRules(SEP['10.0.1.2'], '10.0.1.2'),
        [SEP['10.0.1.5']]: sepRules(SEP['10.0.1.5'], '10.0.1.5'),
      },
      flows: [
        { name: 'pod to clusterIP', sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output: '10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80' },
        { name: 'external to LB', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: '10.0.1.1:80, 10.0.1.2:80' },
      ],
    },
    {
      name: 'only terminating endpoints exist',
      endpoints: [ep('10.0.1.2', TEST_HOSTNAME, cond(false, true, true)), ep('10.0.1.3', TEST_HOSTNAME, cond(false, true, true)), ep('10.0.1.4', TEST_HOSTNAME, cond(false, false, true)), ep('10.0.1.5', 'host-1', cond(true, true, false))],
      filter: { 'KUBE-NODEPORTS': [HEALTH] },
      nat: {
        'KUBE-SERVICES': LB_CAPTURE(EXT),
        [EXT]: [...EXT_LOCAL, `-A ${EXT} -j ${SVL}`],
        [SVC]: [SVC_MASQ, affinity(SVC, '10.0.1.5', SEP['10.0.1.5']), `-A ${SVC} -m comment --comment "ns1/svc1 -> 10.0.1.5:80" -j ${SEP['10.0.1.5']}`],
        [SVL]: [affinity(SVL, '10.0.1.2', SEP['10.0.1.2']), affinity(SVL, '10.0.1.3', SEP['10.0.1.3']),
          `-A ${SVL} -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m statistic --mode random --probability 0.5000000000 -j ${SEP['10.0.1.2']}`,
          `-A ${SVL} -m comment --comment "ns1/svc1 -> 10.0.1.3:80" -j ${SEP['10.0.1.3']}`],
        [SEP['10.0.1.2']]: sepRules(SEP['10.0.1.2'], '10.0.1.2'),
        [SEP['10.0.1.3']]: sepRules(SEP['10.0.1.3'], '10.0.1.3'),
        [SEP['10.0.1.5']]: sepRules(SEP['10.0.1.5'], '10.0.1.5'),
      },
      flows: [
        { name: 'pod to clusterIP', sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output: '10.0.1.5:80' },
        { name: 'external to LB', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: '10.0.1.2:80, 10.0.1.3:80' },
      ],
    },
    {
      name: 'terminating endpoints on remote node',
      endpoints: [ep('10.0.1.5', 'host-1', cond(false, true, true))],
      filter: { 'KUBE-NODEPORTS': [HEALTH], 'KUBE-EXTERNAL-SERVICES': ['-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP'] },
      nat: {
        'KUBE-SERVICES': LB_CAPTURE(EXT),
        [EXT]: EXT_LOCAL,
        [SVC]: [SVC_MASQ, affinity(SVC, '10.0.1.5', SEP['10.0.1.5']), `-A ${SVC} -m comment --comment "ns1/svc1 -> 10.0.1.5:80" -j ${SEP['10.0.1.5']}`],
        [SEP['10.0.1.5']]: sepRules(SEP['10.0.1.5'], '10.0.1.5'),
      },
      flows: [
        { name: 'pod to clusterIP', sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output: '10.0.1.5:80' },
        { name: 'external to LB, no locally-usable endpoints', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: 'DROP' },
      ],
    },
    {
      name: 'no usable endpoints on any node',
      endpoints: [ep('10.0.1.5', TEST_HOSTNAME, cond(false, false, true)), ep('10.0.1.5', 'host-1', cond(false, false, true))],
      filter: {
        'KUBE-NODEPORTS': [HEALTH],
        'KUBE-SERVICES': ['-A KUBE-SERVICES -m comment --comment "ns1/svc1 has no endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j REJECT'],
        'KUBE-EXTERNAL-SERVICES': ['-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1 has no endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j REJECT'],
      },
      nat: { 'KUBE-SERVICES': [NODEPORTS_JUMP] },
      flows: [
        { name: 'pod to clusterIP, no usable endpoints', sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output: 'REJECT' },
        { name: 'external to LB, no usable endpoints', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: 'REJECT' },
      ],
    },
  ];
  for (const c of cases) {
    const input: ProxyInput = { ...FAKE_PROXIER, services: [terminatingService('Local')], endpointSlices: [makeSlice('ns1', 'svc1', c.endpoints, ports0)] };
    const got = byChain(compileIptables(input));
    const serviceChains = (rules: Record<string, string[]>) => Object.fromEntries(Object.entries(rules).filter(([k]) => !/^KUBE-(MARK-MASQ|POSTROUTING|FIREWALL|FORWARD)$/.test(k)));
    t.same(serviceChains(got.nat!.rules), c.nat, `${c.name}: nat`);
    t.same(serviceChains(got.filter!.rules), c.filter, `${c.name}: filter`);
    runPacketFlowTests(t, IPTABLES_FLOWS, input, c.flows);
    runPacketFlowTests(t, IPTABLES_FLOWS, { ...input, endpointSlices: [] }, [
      { name: `${c.name}: pod to clusterIP after endpoints deleted`, sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output: 'REJECT' },
      { name: `${c.name}: external to LB after endpoints deleted`, sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: 'REJECT' },
    ]);
  }
});

t.test('TestTerminatingEndpointsTrafficPolicyCluster "ready endpoints exist": Cluster policy ignores terminating endpoints', async (t) => {
  const input: ProxyInput = {
    ...FAKE_PROXIER,
    services: [terminatingService('Cluster')],
    endpointSlices: [makeSlice('ns1', 'svc1', [ep('10.0.1.1', TEST_HOSTNAME, cond(true, true, false)), ep('10.0.1.2', TEST_HOSTNAME, cond(true, true, false)), ep('10.0.1.3', 'another-host', cond(false, true, true)), ep('10.0.1.4', 'another-host', cond(false, false, true)), ep('10.0.1.5', 'another-host', cond(true, true, false))], ports0)],
  };
  const nat = byChain(compileIptables(input)).nat!;
  t.same(nat.rules[EXT], [`-A ${EXT} -m comment --comment "masquerade traffic for ns1/svc1 external destinations" -j KUBE-MARK-MASQ`, `-A ${EXT} -j ${SVC}`]);
  t.notOk(nat.rules[SVL], 'no Local chain');
  t.same(Object.keys(nat.rules).filter((k) => k.startsWith('KUBE-SEP-')).sort(), [SEP['10.0.1.1'], SEP['10.0.1.2'], SEP['10.0.1.5']].sort());
  t.same(byChain(compileIptables(input)).filter!.rules['KUBE-NODEPORTS'], undefined, 'no health check node port with ETP Cluster');
  runPacketFlowTests(t, IPTABLES_FLOWS, input, [
    { name: 'pod to clusterIP', sourceIP: '10.0.0.2', destIP: '172.30.1.1', destPort: 80, output: '10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80' },
    { name: 'external to LB', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.4', destPort: 80, output: '10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80', masq: true },
  ]);
});

t.test('LoadBalancer variants: allocateLoadBalancerNodePorts false has no NodePort rule; ipMode Proxy VIPs are not captured', async (t) => {
  const input: ProxyInput = {
    ...FAKE_PROXIER,
    services: [
      makeService('ns1', 'nonp', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, clusterIP: '172.30.0.50', ports: P80 }, { loadBalancer: { ingress: [{ ip: '1.2.3.10' }] } }),
      makeService('ns1', 'proxied', { type: 'LoadBalancer', clusterIP: '172.30.0.51', ports: [{ ...P80[0]!, nodePort: 3005 }] }, { loadBalancer: { ingress: [{ ip: '1.2.3.11', ipMode: 'Proxy' }, { ip: '1.2.3.12', ipMode: 'VIP' }] } }),
    ],
    endpointSlices: [makeSlice('ns1', 'nonp', ['10.180.0.1'], P80), makeSlice('ns1', 'proxied', ['10.180.0.2'], P80)],
  };
  const nat = byChain(compileIptables(input)).nat!;
  t.same(nat.rules['KUBE-NODEPORTS'], ['-A KUBE-NODEPORTS -m comment --comment ns1/proxied:p80 -m tcp -p tcp --dport 3005 -j KUBE-EXT-' + /KUBE-EXT-(\S+)/.exec(nat.rules['KUBE-NODEPORTS']![0]!)![1]], 'only the service with a nodePort has a KUBE-NODEPORTS rule');
  const lb = nat.rules['KUBE-SERVICES']!.filter((r) => r.includes('loadbalancer IP')).map((r) => /-d (\S+)/.exec(r)![1]);
  t.same(lb, ['1.2.3.10', '1.2.3.12'], 'the VIP with ipMode Proxy is left to the load balancer (serviceport.go)');
  runPacketFlowTests(t, IPTABLES_FLOWS, input, [
    { name: 'external to LB without node ports', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.10', destPort: 80, output: '10.180.0.1:80', masq: true },
    { name: 'external to an ipMode Proxy address is not DNATed here', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '1.2.3.11', destPort: 80, output: '' },
  ]);
});

t.test('loadBalancerSourceRanges as MapCIDRsByIPFamily reads them: canonical form, IPv4 ones only', async (t) => {
  const input: ProxyInput = {
    ...FAKE_PROXIER,
    services: [makeService('ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.0.41', ports: P80, loadBalancerSourceRanges: [' 203.0.113.5/25', '2001:db8::/64'] }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } })],
    endpointSlices: [makeSlice('ns1', 'svc1', ['10.180.0.1'], P80)],
  };
  t.same(byChain(compileIptables(input)).nat!.rules['KUBE-FW-XPGD46QRK7WJZT7O'], [
    '-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-XPGD46QRK7WJZT7O',
    '-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"',
  ]);
});

t.test('selectorless Service with a user EndpointSlice, headless and ExternalName Services', async (t) => {
  const spec: Partial<ServiceSpec> = { clusterIP: '172.30.0.60', ports: [{ name: 'db', port: 5432, protocol: 'TCP' }] };
  // No selector: the EndpointSlice controller leaves it alone and the user writes the slice.
  const userSlice: EndpointSlice = { ...makeSlice('ns1', 'external-db', ['192.168.50.10'], [{ name: 'db', port: 5432, protocol: 'TCP' }]), metadata: { namespace: 'ns1', name: 'external-db-manual', labels: { 'kubernetes.io/service-name': 'external-db' } } };
  const input: ProxyInput = {
    ...FAKE_PROXIER,
    services: [
      makeService('ns1', 'external-db', spec),
      makeService('ns1', 'headless', { clusterIP: 'None', selector: { app: 'x' }, ports: P80 }),
      makeService('ns1', 'ext', { type: 'ExternalName', externalName: 'example.com' }),
    ],
    endpointSlices: [userSlice, makeSlice('ns1', 'headless', ['10.180.0.9'], P80)],
  };
  const text = compileIptables(input);
  t.notMatch(text, /ns1\/headless|ns1\/ext\b/, 'headless and ExternalName Services get no rules');
  runPacketFlowTests(t, IPTABLES_FLOWS, input, [{ name: 'pod to the selectorless service', sourceIP: '10.0.0.2', destIP: '172.30.0.60', destPort: 5432, output: '192.168.50.10:5432' }]);
});

t.test('TestSyncProxyRulesLargeClusterMode: past 1000 endpoints the per-endpoint comments are dropped', async (t) => {
  const n = LARGE_CLUSTER_ENDPOINTS_THRESHOLD + 1;
  const ips = Array.from({ length: n }, (_, i) => `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  const input = (count: number): ProxyInput => ({ ...FAKE_PROXIER, services: [makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: P80 })], endpointSlices: [makeSlice('ns1', 'svc1', ips.slice(0, count), P80)] });
  const small = byChain(compileIptables(input(n - 1))).nat!;
  const large = byChain(compileIptables(input(n))).nat!;
  const sep = (nat: typeof small) => Object.entries(nat.rules).find(([k]) => k.startsWith('KUBE-SEP-'))![1];
  t.match(sep(small)[0], /^-A KUBE-SEP-\S+ -m comment --comment ns1\/svc1:p80 -s /, 'at 1000 endpoints: comments');
  t.match(sep(large)[0], /^-A KUBE-SEP-\S+ -s 10\.1\.\d+\.\d+ -j KUBE-MARK-MASQ$/, 'at 1001: none in KUBE-SEP');
  t.notMatch(large.rules['KUBE-SVC-XPGD46QRK7WJZT7O']!.slice(1).join('\n'), /--comment/, 'nor in the KUBE-SVC → KUBE-SEP rules');
  t.match(large.rules['KUBE-SVC-XPGD46QRK7WJZT7O']![0], /"ns1\/svc1:p80 cluster IP"/, 'the masquerade rule keeps its comment');
});
