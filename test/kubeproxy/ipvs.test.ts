// kube-proxy's ipvs mode (lib/kubeproxy/ipvs.ts) against upstream's own tests,
// kubernetes/kubernetes pkg/proxy/ipvs/proxier_test.go: the virtual servers and real servers
// (upstream compares the fake IPVS with reflect.DeepEqual), the ipset entries (checkIPSet) and the
// iptables rules as (jump, match-set) pairs per chain (checkIptables), for TestNodePortIPv4,
// TestClusterIP, TestExternalIPs*, TestOnlyLocal*, TestLoadBalancer*, TestHealthCheckNodePort,
// TestAcceptIPVSTraffic, TestSessionAffinity, TestTestInternalTrafficPolicyE2E,
// Test_EndpointSlice*Terminating*, Test_HealthCheckNodePortE2E, TestCreateAndLinkKubeChain and
// TestCleanupLeftovers. The fake proxier there runs on node "test-node" with no local detector (so
// KUBE-CLUSTER-IP is matched src,dst) and the rr scheduler; the same is used here unless a test says.
import t from 'tap';
import { createIpvsBackend, compileIpvs, DUMMY_DEVICE, IPSET_INFO, RS_CHECK_DELETE_INTERVAL_MS, type IpvsProxyBackend } from '../../lib/kubeproxy/ipvs.js';
import { createBackend } from '../../lib/kubeproxy/backend.js';
import type { ProxyInput } from '../../lib/kubeproxy/model.js';
import { NodeNetwork } from '../../lib/dataplane/node.js';
import { Conntrack } from '../../lib/dataplane/conntrack.js';
import { formatTrace } from '../../lib/dataplane/pipeline.js';
import type { FlowTuple } from '../../lib/dataplane/conntrack.js';
import { ManualClock } from '../../lib/core/clock.js';
import { PodnetError } from '../../lib/core/errors.js';
import type { EndpointPort, EndpointSlice, Service, ServicePort, ServiceSpec } from '../../lib/api/types.js';
import { TEST_NODE_NAME as NODE, WORKER_LEASES, ep, flannelCluster, makeSlice, port, service } from './fixtures.js';

const p80 = (protocol: ServicePort['protocol'] = 'TCP'): EndpointPort[] => [port('p80', 80, protocol)];
const port80 = (protocol: ServicePort['protocol'] = 'TCP', nodePort?: number): ServicePort[] => [port('p80', 80, protocol, nodePort ? { nodePort } : {})];

/** A node with the ipvs backend, synced once. */
function proxier(services: Service[], endpointSlices: EndpointSlice[], extra: Partial<ProxyInput> = {}, clock = new ManualClock()) {
  const node = new NodeNetwork(NODE, new Conntrack(clock));
  const backend = createIpvsBackend(node);
  const input: ProxyInput = { services, endpointSlices, nodeName: NODE, ...extra };
  const stats = backend.sync(input);
  return { node, backend, stats, input, clock };
}

/** The IPVS table as upstream's FakeIPVS holds it: `PROTO ip:port scheduler [persistent N]` → real servers. */
function ipvsState(node: NodeNetwork): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const vs of node.ipvs.services()) {
    const key = `${vs.protocol} ${vs.address}:${vs.port} ${vs.scheduler}${vs.persistent !== undefined ? ` persistent ${vs.persistent}` : ''}`;
    out[key] = vs.dests.map((d) => `${d.name} w${d.weight}`).sort();
  }
  return out;
}

/** checkIptables: each rule of a chain (nat, then filter) as its jump and the set it matches. */
function chain(node: NodeNetwork, name: string): string[] {
  const out: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    for (const r of node.netfilter.table(table).chains.get(name)?.rules ?? []) {
      const set = r.matches.find((m) => m.module === 'set');
      const target = r.target;
      const jump = !target ? '' : target.kind === 'jump' || target.kind === 'goto' ? target.chain : target.kind;
      out.push(`${jump}${set && set.module === 'set' ? ` ${set.name}` : ''}${r.source ? ` -s ${r.source.value}` : ''}`);
    }
  }
  return out;
}

function members(node: NodeNetwork, set: string): string[] {
  return node.ipsets.get(set)?.members() ?? [];
}

t.test('TestNodePortIPv4: 1 service with node port, has 2 endpoints (one of them IPv6, ignored)', async (t) => {
  const { node } = proxier(
    [service('ns1', 'svc1', '10.20.30.41', port80('TCP', 3001), { type: 'NodePort' })],
    [makeSlice('ns1', 'svc1', ['10.180.0.1'], p80()), makeSlice('ns1', 'svc1', ['1002:ab8::2:10'], p80(), '2', 'IPv6')],
    { nodeIPs: ['100.101.102.103', '2001:db8::1:1'] },
  );
  t.same(ipvsState(node), {
    'TCP 10.20.30.41:80 rr': ['10.180.0.1:80 w1'],
    'TCP 100.101.102.103:3001 rr': ['10.180.0.1:80 w1'],
  });
});

t.test('TestNodePortIPv4: 1 UDP service with node port, has endpoints', async (t) => {
  const { node } = proxier([service('ns1', 'svc1', '10.20.30.41', port80('UDP', 3001), { type: 'NodePort' })], [makeSlice('ns1', 'svc1', ['10.180.0.1'], p80('UDP'))], { nodeIPs: ['100.101.102.103'] });
  t.same(ipvsState(node), {
    'UDP 10.20.30.41:80 rr': ['10.180.0.1:80 w1'],
    'UDP 100.101.102.103:3001 rr': ['10.180.0.1:80 w1'],
  });
  t.same(members(node, 'KUBE-NODE-PORT-UDP'), ['3001']);
  t.same(chain(node, 'KUBE-NODE-PORT'), ['KUBE-MARK-MASQ KUBE-NODE-PORT-UDP', 'ACCEPT KUBE-HEALTH-CHECK-NODE-PORT']);
  t.same(chain(node, 'KUBE-SERVICES'), ['RETURN -s 127.0.0.0/8', 'KUBE-MARK-MASQ KUBE-CLUSTER-IP', 'KUBE-NODE-PORT', 'ACCEPT KUBE-CLUSTER-IP']);
});

t.test('TestNodePortIPv4: service has node port but no endpoints', async (t) => {
  const { node } = proxier([service('ns1', 'svc1', '10.20.30.41', port80('TCP', 3001), { type: 'NodePort' })], [], { nodeIPs: ['100.101.102.103'] });
  t.same(ipvsState(node), { 'TCP 10.20.30.41:80 rr': [], 'TCP 100.101.102.103:3001 rr': [] });
});

t.test('TestNodePortIPv4: node port service with protocol sctp on a node with multiple nodeIPs', async (t) => {
  const { node } = proxier([service('ns1', 'svc1', '10.20.30.41', port80('SCTP', 3001), { type: 'NodePort' })], [makeSlice('ns1', 'svc1', ['10.180.0.1'], p80('SCTP'))], {
    nodeIPs: ['100.101.102.103', '100.101.102.104', '100.101.102.105', '2001:db8::1:1', '2001:db8::1:2', '2001:db8::1:3'],
  });
  t.same(ipvsState(node), {
    'SCTP 10.20.30.41:80 rr': ['10.180.0.1:80 w1'],
    'SCTP 100.101.102.103:3001 rr': ['10.180.0.1:80 w1'],
    'SCTP 100.101.102.104:3001 rr': ['10.180.0.1:80 w1'],
    'SCTP 100.101.102.105:3001 rr': ['10.180.0.1:80 w1'],
  });
  t.same(members(node, 'KUBE-NODE-PORT-SCTP-HASH'), ['100.101.102.103,sctp:3001', '100.101.102.104,sctp:3001', '100.101.102.105,sctp:3001']);
});

t.test('TestNodePortIPv4: node port service with protocol sctp and externalTrafficPolicy local', async (t) => {
  const { node } = proxier(
    [service('ns1', 'svc1', '10.20.30.41', port80('SCTP', 3001), { type: 'NodePort', externalTrafficPolicy: 'Local' })],
    [makeSlice('ns1', 'svc1', [ep('10.180.0.1', NODE), ep('10.180.1.1', 'other-node')], p80('SCTP'))],
    { nodeIPs: ['100.101.102.103'] },
  );
  t.same(ipvsState(node), {
    'SCTP 10.20.30.41:80 rr': ['10.180.0.1:80 w1', '10.180.1.1:80 w1'],
    'SCTP 100.101.102.103:3001 rr': ['10.180.0.1:80 w1'],
  });
  t.same(members(node, 'KUBE-NODE-PORT-SCTP-HASH'), ['100.101.102.103,sctp:3001']);
  t.same(members(node, 'KUBE-NODE-PORT-LOCAL-SCTP-HASH'), ['100.101.102.103,sctp:3001']);
  t.same(chain(node, 'KUBE-NODE-PORT'), ['RETURN KUBE-NODE-PORT-LOCAL-SCTP-HASH', 'KUBE-MARK-MASQ KUBE-NODE-PORT-SCTP-HASH', 'ACCEPT KUBE-HEALTH-CHECK-NODE-PORT']);
});

t.test('TestClusterIP: 2 services with Cluster IP (the IPv6 one is the other proxier\'s); one without endpoints', async (t) => {
  const { node } = proxier(
    [service('ns1', 'svc1', '10.20.30.41', port80()), service('ns2', 'svc2', '1002:ab8::2:1', [{ name: 'p8080', port: 8080, protocol: 'TCP' }])],
    [makeSlice('ns1', 'svc1', ['10.180.0.1'], p80()), makeSlice('ns2', 'svc2', ['1009:ab8::5:6'], [{ name: 'p8080', port: 8080, protocol: 'TCP' }], '1', 'IPv6')],
  );
  t.same(ipvsState(node), { 'TCP 10.20.30.41:80 rr': ['10.180.0.1:80 w1'] });
  const empty = proxier([service('ns1', 'svc1', '10.20.30.41', port80())], []);
  t.same(ipvsState(empty.node), { 'TCP 10.20.30.41:80 rr': [] });
});

t.test('TestExternalIPs, TestExternalIPsNoEndpoint, TestOnlyLocalExternalIPs', async (t) => {
  const externalIPs = ['50.60.70.81', '2012::51', '127.0.0.1'];
  // The endpoint port is UDP, the Service's TCP: no real server matches.
  const a = proxier([service('ns1', 'svc1', '10.20.30.41', port80(), { externalIPs })], [makeSlice('ns1', 'svc1', ['10.180.0.1'], p80('UDP'))]);
  t.same(Object.keys(ipvsState(a.node)).sort(), ['TCP 10.20.30.41:80 rr', 'TCP 127.0.0.1:80 rr', 'TCP 50.60.70.81:80 rr'], 'the IPv6 external IP is left to the IPv6 proxier');
  t.same(members(a.node, 'KUBE-EXTERNAL-IP'), ['50.60.70.81,tcp:80', '127.0.0.1,tcp:80']);
  const none = proxier([service('ns1', 'svc1', '10.20.30.41', port80(), { externalIPs: ['50.60.70.81'] })], []);
  t.same(ipvsState(none.node), { 'TCP 10.20.30.41:80 rr': [], 'TCP 50.60.70.81:80 rr': [] });

  const local = proxier(
    [service('ns1', 'svc1', '10.20.30.41', port80(), { type: 'NodePort', externalIPs, externalTrafficPolicy: 'Local' })],
    [makeSlice('ns1', 'svc1', [ep('10.180.0.1', NODE), ep('10.180.1.1', 'other-node')], p80())],
  );
  const state = ipvsState(local.node);
  t.equal(Object.keys(state).length, 3, 'no node IPs: no NodePort virtual servers');
  t.same(state['TCP 50.60.70.81:80 rr'], ['10.180.0.1:80 w1'], 'only the local endpoint behind an external IP');
  t.same(state['TCP 10.20.30.41:80 rr'], ['10.180.0.1:80 w1', '10.180.1.1:80 w1'], 'the ClusterIP keeps both');
  t.same(members(local.node, 'KUBE-EXTERNAL-IP-LOCAL').sort(), ['127.0.0.1,tcp:80', '50.60.70.81,tcp:80']);
  t.same(members(local.node, 'KUBE-EXTERNAL-IP'), []);
});

t.test('TestLoadBalancer', async (t) => {
  const { node } = proxier(
    [service('ns1', 'svc1', '10.20.30.41', port80('TCP', 3001), { type: 'LoadBalancer' }, ['1.2.3.4'])],
    [makeSlice('ns1', 'svc1', ['10.180.0.1'], p80('UDP'))],
  );
  t.same(Object.keys(ipvsState(node)), ['TCP 1.2.3.4:80 rr', 'TCP 10.20.30.41:80 rr'], '2 virtual servers (no node IPs: no NodePort ones)');
  t.same(members(node, 'KUBE-LOAD-BALANCER'), ['1.2.3.4,tcp:80']);
  t.same(chain(node, 'KUBE-SERVICES'), ['RETURN -s 127.0.0.0/8', 'KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ KUBE-CLUSTER-IP', 'KUBE-NODE-PORT', 'ACCEPT KUBE-CLUSTER-IP', 'ACCEPT KUBE-LOAD-BALANCER']);
  t.same(chain(node, 'KUBE-LOAD-BALANCER'), ['KUBE-MARK-MASQ']);
});

t.test('TestOnlyLocalNodePorts', async (t) => {
  const { node } = proxier(
    [service('ns1', 'svc1', '10.20.30.41', port80('TCP', 3001), { type: 'NodePort', externalTrafficPolicy: 'Local' })],
    [makeSlice('ns1', 'svc1', [ep('10.180.0.1', NODE), ep('10.180.1.1', 'other-node')], p80())],
    { nodeIPs: ['100.101.102.103'] },
  );
  const state = ipvsState(node);
  t.equal(Object.keys(state).length, 2);
  t.same(state['TCP 100.101.102.103:3001 rr'], ['10.180.0.1:80 w1']);
  t.same(members(node, 'KUBE-NODE-PORT-TCP'), ['3001']);
  t.same(members(node, 'KUBE-NODE-PORT-LOCAL-TCP'), ['3001']);
  t.same(chain(node, 'KUBE-SERVICES'), ['RETURN -s 127.0.0.0/8', 'KUBE-MARK-MASQ KUBE-CLUSTER-IP', 'KUBE-NODE-PORT', 'ACCEPT KUBE-CLUSTER-IP']);
  t.same(chain(node, 'KUBE-NODE-PORT'), ['RETURN KUBE-NODE-PORT-LOCAL-TCP', 'KUBE-MARK-MASQ KUBE-NODE-PORT-TCP', 'ACCEPT KUBE-HEALTH-CHECK-NODE-PORT']);
});

t.test('TestHealthCheckNodePort: only the ETP=Local Services\' health check node ports', async (t) => {
  const lb = (name: string, etp: 'Local' | 'Cluster', hc: number) => service('ns1', name, '10.20.30.41', [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3000 }], { type: 'LoadBalancer', externalTrafficPolicy: etp, healthCheckNodePort: hc });
  const { node } = proxier([lb('valid-svc1', 'Local', 30000), lb('valid-svc2', 'Local', 30001), lb('invalid-svc3', 'Cluster', 30002)], [], { nodeIPs: ['100.101.102.103'] });
  t.same(members(node, 'KUBE-HEALTH-CHECK-NODE-PORT'), ['30000', '30001']);
  t.same(chain(node, 'KUBE-NODE-PORT'), ['RETURN KUBE-NODE-PORT-LOCAL-TCP', 'KUBE-MARK-MASQ KUBE-NODE-PORT-TCP', 'ACCEPT KUBE-HEALTH-CHECK-NODE-PORT']);
});

t.test('TestLoadBalancerSourceRanges', async (t) => {
  const { node } = proxier([service('ns1', 'svc1', '10.20.30.41', port80(), { type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/8'] }, ['1.2.3.4'])], [makeSlice('ns1', 'svc1', ['10.180.0.1'], p80())]);
  t.same(ipvsState(node), { 'TCP 1.2.3.4:80 rr': ['10.180.0.1:80 w1'], 'TCP 10.20.30.41:80 rr': ['10.180.0.1:80 w1'] });
  t.same(members(node, 'KUBE-LOAD-BALANCER'), ['1.2.3.4,tcp:80']);
  t.same(members(node, 'KUBE-LOAD-BALANCER-FW'), ['1.2.3.4,tcp:80']);
  t.same(members(node, 'KUBE-LOAD-BALANCER-SOURCE-CIDR'), ['1.2.3.4,tcp:80,10.0.0.0/8']);
  t.same(chain(node, 'KUBE-SERVICES'), ['RETURN -s 127.0.0.0/8', 'KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ KUBE-CLUSTER-IP', 'KUBE-NODE-PORT', 'ACCEPT KUBE-CLUSTER-IP', 'ACCEPT KUBE-LOAD-BALANCER']);
  t.same(chain(node, 'KUBE-PROXY-FIREWALL'), ['KUBE-SOURCE-RANGES-FIREWALL KUBE-LOAD-BALANCER-FW']);
  t.same(chain(node, 'KUBE-SOURCE-RANGES-FIREWALL'), ['RETURN KUBE-LOAD-BALANCER-SOURCE-CIDR', 'DROP']);
  // A node IP inside a source range may reach the VIP itself (KUBE-LOAD-BALANCER-SOURCE-IP).
  const fromNode = proxier([service('ns1', 'svc1', '10.20.30.41', port80(), { type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/8'] }, ['1.2.3.4'])], [], { nodeIPs: ['10.1.1.1'] });
  t.same(members(fromNode.node, 'KUBE-LOAD-BALANCER-SOURCE-IP'), ['1.2.3.4,tcp:80,1.2.3.4']);
  t.same(chain(fromNode.node, 'KUBE-SOURCE-RANGES-FIREWALL'), ['RETURN KUBE-LOAD-BALANCER-SOURCE-CIDR', 'RETURN KUBE-LOAD-BALANCER-SOURCE-IP', 'DROP']);
});

t.test('TestAcceptIPVSTraffic', async (t) => {
  const svc = (name: string, ip: string, type: ServiceSpec['type'], extra: Partial<ServiceSpec> = {}, lb: string[] = []) => service('ns1', name, ip, [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 80 }], { type, ...extra }, lb);
  const { node } = proxier([svc('svc1', '10.20.30.40', 'ClusterIP', { externalIPs: ['5.6.7.8'] }), svc('svc2', '10.20.30.41', 'LoadBalancer', {}, ['1.2.3.4']), svc('svc3', '10.20.30.42', 'NodePort')], []);
  t.same(chain(node, 'KUBE-SERVICES'), [
    'RETURN -s 127.0.0.0/8',
    'KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER',
    'KUBE-MARK-MASQ KUBE-CLUSTER-IP',
    'KUBE-MARK-MASQ KUBE-EXTERNAL-IP',
    'ACCEPT KUBE-EXTERNAL-IP', // with externalTrafficOnlyArgs
    'ACCEPT KUBE-EXTERNAL-IP', // with dstLocalOnlyArgs
    'KUBE-NODE-PORT',
    'ACCEPT KUBE-CLUSTER-IP',
    'ACCEPT KUBE-LOAD-BALANCER',
  ]);
});

t.test('TestOnlyLocalLoadBalancing', async (t) => {
  const { node } = proxier(
    [service('ns1', 'svc1', '10.20.30.41', port80('TCP', 3001), { type: 'LoadBalancer', externalTrafficPolicy: 'Local' }, ['1.2.3.4'])],
    [makeSlice('ns1', 'svc1', [ep('10.180.0.1', NODE), ep('10.180.1.1', 'other-node')], p80())],
  );
  const state = ipvsState(node);
  t.equal(Object.keys(state).length, 2);
  t.same(state['TCP 1.2.3.4:80 rr'], ['10.180.0.1:80 w1'], 'the local endpoint only');
  t.same(members(node, 'KUBE-LOAD-BALANCER'), ['1.2.3.4,tcp:80']);
  t.same(members(node, 'KUBE-LOAD-BALANCER-LOCAL'), ['1.2.3.4,tcp:80']);
  t.same(chain(node, 'KUBE-LOAD-BALANCER'), ['RETURN KUBE-LOAD-BALANCER-LOCAL', 'KUBE-MARK-MASQ']);
});

t.test('TestSessionAffinity: every virtual server of the Service is persistent for timeoutSeconds', async (t) => {
  const { node } = proxier(
    [service('ns1', 'svc1', '10.20.30.41', port80('TCP', 3001), { type: 'NodePort', externalIPs: ['50.60.70.81'], sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } })],
    [],
    { nodeIPs: ['100.101.102.103'] },
  );
  t.same(Object.keys(ipvsState(node)).sort(), ['TCP 10.20.30.41:80 rr persistent 10800', 'TCP 100.101.102.103:3001 rr persistent 10800', 'TCP 50.60.70.81:80 rr persistent 10800']);
  t.match(node.ipvs.render(), 'TCP  10.20.30.41:80 rr persistent 10800\n');
});

t.test('TestTestInternalTrafficPolicyE2E', async (t) => {
  const cases = [
    { name: 'cluster with non-zero local endpoints', itp: 'Cluster', nodes: [NODE, 'node1', 'node2'], loopback: 1, rs: ['10.0.1.1:80', '10.0.1.2:80', '10.0.1.3:80'] },
    { name: 'cluster with zero local endpoints', itp: 'Cluster', nodes: ['node0', 'node1', 'node2'], loopback: 0, rs: ['10.0.1.1:80', '10.0.1.2:80', '10.0.1.3:80'] },
    { name: 'local with non-zero local endpoints', itp: 'Local', nodes: [NODE, 'node1', 'node2'], loopback: 1, rs: ['10.0.1.1:80'] },
    { name: 'local with zero local endpoints', itp: 'Local', nodes: ['node0', 'node1', 'node2'], loopback: 0, rs: [] },
  ] as const;
  for (const c of cases) {
    const eps = c.nodes.map((n, i) => ep(`10.0.1.${i + 1}`, n, { ready: true }));
    const svc = service('ns1', 'svc1', '172.20.1.1', [{ name: '', port: 80, protocol: 'TCP' }], { internalTrafficPolicy: c.itp });
    const { node, backend, input } = proxier([svc], [makeSlice('ns1', 'svc1', eps, [{ name: '', port: 80, protocol: 'TCP' }])]);
    t.equal(members(node, 'KUBE-LOOP-BACK').length, c.loopback, `${c.name}: KUBE-LOOP-BACK`);
    t.same(node.ipvs.services()[0]!.dests.map((d) => d.name).sort(), c.rs, `${c.name}: real servers`);
    // The EndpointSlice deleted: no hairpin entries, the virtual server stays without real servers.
    backend.sync({ ...input, endpointSlices: [] });
    t.same(members(node, 'KUBE-LOOP-BACK'), [], `${c.name}: KUBE-LOOP-BACK after the slice is gone`);
    t.same(ipvsState(node), { 'TCP 172.20.1.1:80 rr': [] });
  }
});

t.test('Test_EndpointSliceReadyAndTerminating{Cluster,Local}, Test_EndpointSliceOnlyReadyAndTerminatingCluster', async (t) => {
  const conds = (ready: boolean, serving: boolean, terminating: boolean) => ({ ready, serving, terminating });
  const svc = (etp: 'Cluster' | 'Local') => service('ns1', 'svc1', '172.20.1.1', [{ name: '', port: 80, protocol: 'TCP' }], { type: 'NodePort', externalTrafficPolicy: etp, internalTrafficPolicy: 'Cluster', externalIPs: ['1.2.3.4'] });
  const mixed = [
    ep('10.0.1.1', NODE, conds(true, true, false)),
    ep('10.0.1.2', NODE, conds(true, true, false)),
    ep('10.0.1.3', NODE, conds(false, true, true)),
    ep('10.0.1.4', NODE, conds(false, false, true)),
    ep('10.0.1.5', 'another-node', conds(true, true, false)),
  ];
  const port = [{ name: '', port: 80, protocol: 'TCP' as const }];
  const rs = (node: NodeNetwork, ip: string) => node.ipvs.service('TCP', ip, 80)!.dests.map((d) => d.name).sort();

  const cluster = proxier([svc('Cluster')], [makeSlice('ns1', 'svc1', mixed, port)]);
  t.same(members(cluster.node, 'KUBE-LOOP-BACK'), ['10.0.1.1,tcp:80,10.0.1.1', '10.0.1.2,tcp:80,10.0.1.2', '10.0.1.3,tcp:80,10.0.1.3', '10.0.1.4,tcp:80,10.0.1.4'], 'every local endpoint, ready or not');
  t.equal(cluster.node.ipvs.services().length, 2);
  t.same(rs(cluster.node, '172.20.1.1'), ['10.0.1.1:80', '10.0.1.2:80', '10.0.1.5:80'], 'clusterIP: cluster-wide ready endpoints');
  t.same(rs(cluster.node, '1.2.3.4'), ['10.0.1.1:80', '10.0.1.2:80', '10.0.1.5:80'], 'externalIP: cluster-wide ready endpoints');

  const local = proxier([svc('Local')], [makeSlice('ns1', 'svc1', mixed, port)]);
  t.same(rs(local.node, '172.20.1.1'), ['10.0.1.1:80', '10.0.1.2:80', '10.0.1.5:80']);
  t.same(rs(local.node, '1.2.3.4'), ['10.0.1.1:80', '10.0.1.2:80'], 'externalIP: local ready endpoints');

  const terminating = [
    ep('10.0.1.1', NODE, conds(false, true, true)),
    ep('10.0.1.2', NODE, conds(false, true, true)),
    ep('10.0.1.3', NODE, conds(false, false, true)),
    ep('10.0.1.4', 'another-node', conds(false, true, true)),
    ep('10.0.1.5', 'another-node', conds(false, false, false)),
  ];
  const only = proxier([svc('Cluster')], [makeSlice('ns1', 'svc1', terminating, port)]);
  t.equal(members(only.node, 'KUBE-LOOP-BACK').length, 3);
  t.same(rs(only.node, '172.20.1.1'), ['10.0.1.1:80', '10.0.1.2:80', '10.0.1.4:80'], 'falls back to serving terminating endpoints');
  t.same(rs(only.node, '1.2.3.4'), ['10.0.1.1:80', '10.0.1.2:80', '10.0.1.4:80']);
});

t.test('Test_HealthCheckNodePortE2E: the health check port follows the Service', async (t) => {
  const svc = (hc: number) => service('ns1', 'svc1', '172.20.1.1', [{ name: '', port: 80, protocol: 'TCP', nodePort: 30080 }], { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: hc });
  const { node, backend, input } = proxier([svc(30000)], [], { nodeIPs: ['10.0.0.5'] });
  t.same(members(node, 'KUBE-HEALTH-CHECK-NODE-PORT'), ['30000']);
  backend.sync({ ...input, services: [svc(30001)] });
  t.same(members(node, 'KUBE-HEALTH-CHECK-NODE-PORT'), ['30001']);
  backend.sync({ ...input, services: [] });
  t.same(members(node, 'KUBE-HEALTH-CHECK-NODE-PORT'), []);
  t.same(ipvsState(node), {}, 'the Service gone: its virtual servers are gone');
  t.same(node.interfaces.get(DUMMY_DEVICE)!.addresses, [], 'and its address is unbound');
});

t.test('TestCreateAndLinkKubeChain: the chains, and iptables-save of a ClusterIP Service (writeIptablesRules)', async (t) => {
  const { node, backend } = proxier([service('ns1', 'svc1', '10.96.0.10', port80())], [makeSlice('ns1', 'svc1', [ep('10.244.1.5', NODE)], [{ name: 'p80', port: 8080, protocol: 'TCP' }])], { clusterCIDR: '10.244.0.0/16' });
  t.match(backend.lastRestoreInput, `*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
`);
  t.match(backend.lastRestoreInput, `*filter
:KUBE-FORWARD - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SOURCE-RANGES-FIREWALL - [0:0]
:KUBE-IPVS-FILTER - [0:0]
:KUBE-IPVS-OUT-FILTER - [0:0]
`);
  // Upstream's rule lines as iptables-save prints them back (options reordered, marks as --set-xmark).
  t.equal(
    node.netfilter.save({ tables: ['nat'] }),
    `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN
-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
COMMIT
`,
  );
  t.match(
    node.netfilter.save({ tables: ['filter'] }),
    `-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER
-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT
-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable
-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT
-A KUBE-SOURCE-RANGES-FIREWALL -j DROP
COMMIT
`,
    'the jumps prepended in iptablesJumpChain order (so the last comes first), then the filter rules',
  );
  t.same(members(node, 'KUBE-IPVS-IPS'), ['10.96.0.10']);
  t.same(node.interfaces.get(DUMMY_DEVICE), { name: 'kube-ipvs0', kind: 'dummy', mtu: 1500, addresses: ['10.96.0.10/32'], up: false });
  t.equal(node.ipsets.sets().map((s) => s.name).join(' '), IPSET_INFO.map((i) => i.name).join(' '), "every set of ipsetInfo exists, in upstream's order");
  t.equal(
    backend.render('ipvs'),
    [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  10.96.0.10:80 rr',
      '  -> 10.244.1.5:8080              Masq    1      0          0         ',
      '',
    ].join('\n'),
  );
  t.equal(backend.render('iptables-save'), node.netfilter.save());
  t.throws(() => backend.render('nft'), { code: 'PODNET_KUBEPROXY_FORMAT' });
});

t.test('syncs apply differences only: counters survive, stale virtual servers and addresses go', async (t) => {
  const svc1 = service('ns1', 'svc1', '10.96.0.10', port80());
  const svc2 = service('ns1', 'svc2', '10.96.0.11', port80());
  const eps = makeSlice('ns1', 'svc1', ['10.244.1.5'], p80());
  const { node, backend, input, stats } = proxier([svc1, svc2], [eps]);
  t.equal(stats.full, true, 'the ipvs proxier has no partial sync');
  t.equal(stats.servicePortsSynced, 2);
  node.ipvs.schedule({ protocol: 'TCP', src: '10.244.2.2', sport: 1234, dst: '10.96.0.10', dport: 80 });
  const again = backend.sync({ ...input, services: [svc1] }, new Set(['ns1/svc2']));
  t.equal(again.full, true, 'a changed-Services hint still gives a full sync');
  const vs = node.ipvs.service('TCP', '10.96.0.10', 80)!;
  t.equal(vs.stats.conns, 1, 'the unchanged virtual server kept its counters');
  t.equal(vs.dests[0]!.activeConns, 1, 'and its connections');
  t.equal(node.ipvs.service('TCP', '10.96.0.11', 80), undefined, 'the stale one is gone');
  t.same(node.interfaces.get(DUMMY_DEVICE)!.addresses, ['10.96.0.10/32']);
  t.same(members(node, 'KUBE-CLUSTER-IP'), ['10.96.0.10,tcp:80']);
  // nat: KUBE-SERVICES 4, KUBE-POSTROUTING 3, KUBE-MARK-MASQ 1, KUBE-LOAD-BALANCER 1; filter: KUBE-FORWARD 2,
  // KUBE-NODE-PORT 1, KUBE-SOURCE-RANGES-FIREWALL 1, KUBE-IPVS-FILTER 6; and one real server.
  t.equal(again.totalRules, 9 + 10 + 1, "the rules in kube-proxy's chains plus the real servers");
});

t.test('graceful termination: a TCP real server with connections drains at weight 0 (graceful_termination.go)', async (t) => {
  const clock = new ManualClock();
  const svc = service('ns1', 'svc1', '10.96.0.10', port80());
  const two = makeSlice('ns1', 'svc1', ['10.244.1.5', '10.244.2.5'], p80());
  const { node, backend, input } = proxier([svc], [two], {}, clock);
  const vs = node.ipvs.service('TCP', '10.96.0.10', 80)!;
  const conn: FlowTuple = { protocol: 'TCP', src: '10.244.3.3', sport: 5555, dst: '10.96.0.10', dport: 80 };
  const picked = node.ipvs.schedule(conn)!.dest!;
  const other = picked.address === '10.244.1.5' ? '10.244.2.5' : '10.244.1.5';

  // The picked endpoint leaves the slice (its pod terminates).
  backend.sync({ ...input, endpointSlices: [makeSlice('ns1', 'svc1', [other], p80())] });
  t.same(ipvsState(node)['TCP 10.96.0.10:80 rr'], [`${other}:80 w1`, `${picked.address}:80 w0`].sort(), 'kept at weight 0 while its connection lives');
  t.same((backend as IpvsProxyBackend).gracefulTerminationList(), [`10.96.0.10:80/TCP/${picked.address}:80`]);
  t.same([1, 2, 3].map((i) => node.ipvs.schedule({ ...conn, sport: conn.sport + i })!.dest!.address), [other, other, other], 'new connections avoid it');

  clock.advance(RS_CHECK_DELETE_INTERVAL_MS);
  t.ok(vs.dest(picked.address, 80), 'still there a minute later: the connection is open');
  node.ipvs.closeConnection(conn);
  clock.advance(RS_CHECK_DELETE_INTERVAL_MS);
  t.ok(vs.dest(picked.address, 80), 'closed, but TIME_WAIT (2 minutes) is still a connection');
  clock.advance(2 * RS_CHECK_DELETE_INTERVAL_MS);
  t.equal(vs.dest(picked.address, 80), undefined, 'deleted at the first check after the connections are gone');
  t.same((backend as IpvsProxyBackend).gracefulTerminationList(), []);

  // Back while draining: weight 1 again.
  const held: FlowTuple = { ...conn, sport: 7777 };
  const heldDest = node.ipvs.schedule(held)!.dest!.address;
  backend.sync({ ...input, endpointSlices: [makeSlice('ns1', 'svc1', [heldDest === '10.244.1.5' ? '10.244.2.5' : '10.244.1.5'], p80())] });
  backend.sync({ ...input, endpointSlices: [two] });
  t.same(ipvsState(node)['TCP 10.96.0.10:80 rr'], ['10.244.1.5:80 w1', '10.244.2.5:80 w1']);
  t.same((backend as IpvsProxyBackend).gracefulTerminationList(), []);
});

t.test('graceful termination: UDP real servers, and ones without connections, go at once', async (t) => {
  const udpSvc = service('ns1', 'dns', '10.96.0.10', [{ name: 'dns', port: 53, protocol: 'UDP' }]);
  const { node, backend, input } = proxier([udpSvc], [makeSlice('ns1', 'dns', ['10.244.1.5', '10.244.2.5'], [{ name: 'dns', port: 53, protocol: 'UDP' }])]);
  node.ipvs.schedule({ protocol: 'UDP', src: '10.244.3.3', sport: 5353, dst: '10.96.0.10', dport: 53 });
  node.ipvs.schedule({ protocol: 'UDP', src: '10.244.3.3', sport: 5354, dst: '10.96.0.10', dport: 53 });
  backend.sync({ ...input, endpointSlices: [makeSlice('ns1', 'dns', ['10.244.1.5'], [{ name: 'dns', port: 53, protocol: 'UDP' }])] });
  t.same(ipvsState(node), { 'UDP 10.96.0.10:53 rr': ['10.244.1.5:53 w1'] }, 'IsRsGracefulTerminationNeeded is false for UDP');
});

t.test('--ipvs-scheduler, and bad input refused without touching the node', async (t) => {
  const node = new NodeNetwork(NODE);
  t.throws(() => createIpvsBackend(node, { ipvsScheduler: 'mh' }), /--ipvs-scheduler "mh" is not supported \(podnet models rr, wrr, lc, wlc, sh\)/);
  const sh = createBackend('ipvs', node, { ipvsScheduler: 'sh' });
  t.equal(sh.mode, 'ipvs', 'registered as the ipvs mode');
  t.same(sh.formats, ['ipvs', 'iptables-save']);
  const input: ProxyInput = { services: [service('ns1', 'svc1', '10.96.0.10', port80())], endpointSlices: [], nodeName: NODE };
  sh.sync(input);
  t.equal(node.ipvs.services()[0]!.scheduler, 'sh');
  const before = [node.netfilter.save(), node.ipsets.save(), node.ipvs.render()];
  const err = t.throws(() => sh.sync({ ...input, clusterCIDR: '10.0.0.0/33' })) as unknown;
  t.ok(err instanceof PodnetError && err.code === 'PODNET_KUBEPROXY_INVALID');
  t.throws(() => sh.sync({ ...input, masqueradeBit: 32 }), /masqueradeBit/);
  t.same([node.netfilter.save(), node.ipsets.save(), node.ipvs.render()], before, 'nothing changed');
  // A Service that cannot be proxied is left out and reported; the rest is programmed.
  const stats = sh.sync({ ...input, services: [...input.services, service('ns1', 'bad', 'not-an-ip', port80())] });
  t.match(stats.errors, [/spec.clusterIP "not-an-ip"/]);
  t.equal(node.ipvs.services().length, 1);
});

t.test('TestCleanupLeftovers: cleanup leaves nothing of the ipvs proxier', async (t) => {
  const { node, backend } = proxier([service('ns1', 'svc1', '10.20.30.41', port80('TCP', 3001), { type: 'NodePort' })], [makeSlice('ns1', 'svc1', ['10.180.0.1'], p80())], { nodeIPs: ['100.101.102.103'] });
  node.netfilter.restore('*nat\n:FLANNEL-POSTRTG - [0:0]\n-A POSTROUTING -j FLANNEL-POSTRTG\nCOMMIT\n', { noflush: true });
  backend.cleanup();
  t.same(node.ipvs.services(), []);
  t.equal(node.interfaces.get(DUMMY_DEVICE), undefined);
  t.same(node.ipsets.sets(), []);
  t.equal(node.netfilter.save(), '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:FLANNEL-POSTRTG - [0:0]\n-A POSTROUTING -j FLANNEL-POSTRTG\nCOMMIT\n', "others' rules stay");
  backend.cleanup();
  t.pass('a second cleanup is a no-op');
});

t.test('compileIpvs is pure: the same input twice gives the same output', async (t) => {
  const input: ProxyInput = { services: [service('ns1', 'svc1', '10.96.0.10', port80('TCP', 30080), { type: 'NodePort' })], endpointSlices: [makeSlice('ns1', 'svc1', ['10.244.1.5'], p80())], nodeIPs: ['172.18.0.3'] };
  const a = compileIpvs(input);
  const b = compileIpvs(input);
  t.equal(a.iptables, b.iptables);
  t.same(a.virtualServers, b.virtualServers);
});

// ---- the data plane: flows through a node programmed by the ipvs proxier ----------------------

const PODS: Record<string, { node: string; pod: string }> = {
  '10.244.1.2': { node: 'worker', pod: 'default/client' },
  '10.244.1.5': { node: 'worker', pod: 'default/web-a' },
  '10.244.2.5': { node: 'worker2', pod: 'default/web-b' },
};

/** The two flannel workers and their pods; the worker's kube-proxy runs in ipvs mode. */
function cluster(services: Service[], slices: EndpointSlice[]) {
  const { nodes, pipeline } = flannelCluster({ leases: WORKER_LEASES, pods: PODS });
  const worker = nodes.get('worker')!;
  const backend = createIpvsBackend(worker);
  backend.sync({ services, endpointSlices: slices, nodeName: 'worker', nodeIPs: ['172.18.0.3'], clusterCIDR: '10.244.0.0/16' });
  return { worker, backend, pipeline };
}

const web = (ports: ServicePort[] = [{ name: 'http', port: 80, protocol: 'TCP' }], spec: Partial<ServiceSpec> = {}, lb: string[] = []) => service('default', 'web', '10.96.0.10', ports, spec, lb);
const webEndpoints = (ips = ['10.244.1.5', '10.244.2.5']) => makeSlice('default', 'web', ips.map((ip) => ep(ip, PODS[ip]!.node)), [{ name: 'http', port: 8080, protocol: 'TCP' }]);
let sport = 41000;
const tcp = (src: string, dst: string, dport: number): FlowTuple => ({ protocol: 'TCP', src, sport: sport++, dst, dport });

t.test('a pod to a ClusterIP: PREROUTING → route local (kube-ipvs0) → INPUT/IPVS → POSTROUTING → the chosen pod', async (t) => {
  const { pipeline, worker } = cluster([web()], [webEndpoints()]);
  const d = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.96.0.10', 80));
  t.equal(d.verdict, 'ACCEPT');
  const text = formatTrace(d);
  const steps = d.trace.map((s) => `${s.stage}${s.chain ? ` ${s.chain}` : ''}:${s.action}`);
  const at = (step: string) => steps.indexOf(step);
  t.ok(at('PREROUTING KUBE-SERVICES:ACCEPT') >= 0, 'nat KUBE-SERVICES accepts the ClusterIP (acceptIPVSTraffic)');
  t.match(text, /route\s+local\s+10\.96\.0\.10 is local to worker/);
  t.ok(at('INPUT KUBE-IPVS-FILTER:RETURN') > at('route:local'), 'filter INPUT: KUBE-IPVS-FILTER lets a ClusterIP:port through');
  t.ok(at('ipvs:DNAT') > at('INPUT KUBE-IPVS-FILTER:RETURN'), 'then IPVS (after the filter table)');
  t.ok(at('route:route') > at('ipvs:DNAT'), 'then the DNATed packet is routed');
  t.ok(steps.some((s, i) => s.startsWith('POSTROUTING') && i > at('route:route')), 'and walks POSTROUTING');
  t.match(text, /ipvs\s+DNAT\s+vs 10\.96\.0\.10:80\/tcp rr → 10\.244\.\d\.5:8080/);
  t.equal(d.tuple.src, '10.244.1.2', 'a pod source is not masqueraded');
  t.match(d.destination, { kind: 'pod' });
  const second = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.96.0.10', 80));
  t.not((second.destination as { pod: string }).pod, (d.destination as { pod: string }).pod, 'rr: the next connection goes to the other endpoint');
  t.match(worker.ipvs.render(), /-> 10\.244\.1\.5:8080\s+Masq\s+1\s+1\s+0/);
});

t.test('hairpin: a pod reaching itself through its Service is masqueraded (KUBE-LOOP-BACK)', async (t) => {
  const { pipeline } = cluster([web()], [webEndpoints(['10.244.1.5'])]);
  const d = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/web-a' }, tcp('10.244.1.5', '10.96.0.10', 80));
  t.equal(d.verdict, 'ACCEPT');
  t.match(d.destination, { pod: 'default/web-a' });
  t.equal(d.tuple.src, '10.244.1.1', 'the source is cni0\'s address, so the reply comes back through the node');
  t.match(formatTrace(d), /KUBE-POSTROUTING\s+MASQUERADE\s+-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE/);
});

t.test('a client outside the cluster to a NodePort is masqueraded to the node (KUBE-NODE-PORT-TCP → KUBE-MARK-MASQ)', async (t) => {
  const { pipeline } = cluster([web([{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }], { type: 'NodePort' })], [webEndpoints(['10.244.2.5'])]);
  const d = pipeline.decide({ kind: 'external', node: 'worker' }, tcp('192.168.5.5', '172.18.0.3', 30080));
  t.equal(d.verdict, 'ACCEPT');
  t.match(d.destination, { pod: 'default/web-b' });
  t.same(d.hops, ['worker', 'worker2']);
  t.equal(d.tuple.src, '10.244.1.0', 'masqueraded to the address of the interface it leaves on (flannel.1)');
  t.match(formatTrace(d), /ipvs\s+DNAT\s+vs 172\.18\.0\.3:30080\/tcp rr → 10\.244\.2\.5:8080/);
});

t.test('rejections: no endpoints (IPVS), a VIP port without a Service (KUBE-IPVS-FILTER), a source outside loadBalancerSourceRanges', async (t) => {
  const { pipeline } = cluster(
    [web(), service('default', 'lb', '10.96.0.20', [{ name: 'http', port: 80, protocol: 'TCP' }], { type: 'LoadBalancer', loadBalancerSourceRanges: ['192.168.5.0/24'] }, ['203.0.113.7'])],
    [makeSlice('default', 'lb', [ep('10.244.2.5', 'worker2')], [{ name: 'http', port: 8080, protocol: 'TCP' }])],
  );
  const empty = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.96.0.10', 80));
  t.equal(empty.verdict, 'REJECT', 'a Service without endpoints refuses at once');
  t.match(empty.reason, /IPVS: no destination available/);
  const otherPort = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.96.0.10', 22));
  t.equal(otherPort.verdict, 'REJECT');
  t.match(formatTrace(otherPort), /KUBE-IPVS-FILTER\s+REJECT/, 'no host port through a VIP (kubernetes#72236)');
  const allowed = pipeline.decide({ kind: 'external', node: 'worker' }, tcp('192.168.5.5', '203.0.113.7', 80));
  t.equal(allowed.verdict, 'ACCEPT');
  t.match(allowed.destination, { pod: 'default/web-b' });
  const denied = pipeline.decide({ kind: 'external', node: 'worker' }, tcp('198.51.100.9', '203.0.113.7', 80));
  t.equal(denied.verdict, 'DROP');
  t.match(formatTrace(denied), /KUBE-SOURCE-RANGES-FIREWALL\s+DROP/);
});
