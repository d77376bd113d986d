// Shared by the kube-proxy tests of all three modes and by the data-plane tests that walk flows.
// - Upstream's fake proxier: its constants and object builders (kubernetes/kubernetes
//   pkg/proxy/{iptables,nftables,ipvs}/proxier_test.go: NewFakeProxier, makeTestService,
//   makeTestEndpointSlice).
// - iptables' comparison of restore inputs (assertIPTablesRulesEqual: chains sorted, each chain's
//   rules in order) and the fixed lines every expected restore input there shares.
// - runPacketFlowTests (iptables and nftables proxier_test.go; helpers_test.go tracePacket), done
//   by walking a flow through the node's real hooks instead of upstream's rule tracers.
// - A small kind-like cluster programmed as flanneld programs it, with a Pipeline, for flows
//   across nodes.
import type { Test } from 'tap';
import { NodeNetwork } from '../../lib/dataplane/node.js';
import { Conntrack, type FlowTuple } from '../../lib/dataplane/conntrack.js';
import { Pipeline, type Attachment, type FlowContext, type HookVerdict, type TraceStep } from '../../lib/dataplane/pipeline.js';
import type { Hook } from '../../lib/dataplane/hooks.js';
import type { Clock } from '../../lib/core/clock.js';
import { SeededRng, type Rng } from '../../lib/core/rng.js';
import type { LinkSpec } from '../../lib/api/cluster.js';
import type { Endpoint, EndpointPort, EndpointSlice, Service, ServicePort, ServiceSpec } from '../../lib/api/types.js';
import type { ProxyInput } from '../../lib/kubeproxy/model.js';
import type { ClusterSpec } from '../../lib/api/cluster.js';
import type { KubeObject } from '../../lib/api/meta.js';
import { Cluster } from '../../lib/cluster.js';
import { ManualClock } from '../../lib/core/clock.js';
import { parseClusterDocument } from '../../lib/topology/cluster.js';
import { createIptablesBackend } from '../../lib/kubeproxy/iptables.js';
import { createNftablesBackend } from '../../lib/kubeproxy/nftables.js';
import { attachPod, programFlannelNode } from '../../plugins/flannel/daemon.js';
import type { SubnetLease } from '../../plugins/flannel/flannel.js';

// ---- upstream's fake proxier ---------------------------------------------------------------

/** iptables proxier_test.go's testHostname. */
export const TEST_HOSTNAME = 'test-hostname';
/** The node the nftables and ipvs fake proxiers run on. */
export const TEST_NODE_NAME = 'test-node';
/** proxier_test.go's testNodeIP, testNodeIPAlt, testExternalIP, testExternalClient(Blocked). */
export const TEST_NODE_IP = '192.168.0.2';
export const TEST_NODE_IP_ALT = '192.168.1.2';
export const TEST_EXTERNAL_IP = '192.168.99.11';
export const TEST_EXTERNAL_CLIENT = '203.0.113.2';
export const TEST_EXTERNAL_CLIENT_BLOCKED = '203.0.113.130';

/** iptables NewFakeProxier: pod CIDR 10.0.0.0/8 as the local detector, masquerade bit 14, localhost NodePorts on. */
export const FAKE_PROXIER = { clusterCIDR: '10.0.0.0/8', nodeName: TEST_HOSTNAME, nodeIPs: [TEST_NODE_IP] } as const;

/** nftables NewFakeProxier: pod CIDR 10.0.0.0/8, service CIDR 172.30.0.0/16, --nodeport-addresses the node IP. */
export const NFT_FAKE_PROXIER = { clusterCIDR: '10.0.0.0/8', serviceCIDRs: ['172.30.0.0/16'], nodeName: TEST_NODE_NAME, nodeIPs: [TEST_NODE_IP] } as const;

/** makeTestService: a Service with the given spec fields (and status). */
export function makeService(ns: string, name: string, spec: Partial<ServiceSpec>, status?: Service['status']): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec: { type: 'ClusterIP', ...spec }, ...(status ? { status } : {}) };
}

/** A Service by its ClusterIP and ports, with more spec fields and LoadBalancer ingress IPs. */
export function service(ns: string, name: string, clusterIP: string, ports: ServicePort[], spec: Partial<ServiceSpec> = {}, lbIPs: readonly string[] = []): Service {
  return makeService(ns, name, { clusterIP, ports, ...spec }, lbIPs.length ? { loadBalancer: { ingress: lbIPs.map((ip) => ({ ip })) } } : undefined);
}

/** makeTestEndpointSlice: `svc-n` labelled with its service; a string endpoint is a bare address. */
export function makeSlice(ns: string, svc: string, endpoints: (string | Endpoint)[], ports: EndpointPort[], n: number | string = 1, addressType: EndpointSlice['addressType'] = 'IPv4'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name: `${svc}-${n}`, labels: { 'kubernetes.io/service-name': svc } },
    addressType,
    endpoints: endpoints.map((e) => (typeof e === 'string' ? { addresses: [e] } : e)),
    ports,
  };
}

/** An endpoint with a node and conditions, as upstream's tables spell them. */
export function ep(ip: string, nodeName?: string, conditions?: Endpoint['conditions']): Endpoint {
  return { addresses: [ip], ...(nodeName ? { nodeName } : {}), ...(conditions ? { conditions } : {}) };
}

/** A named service port (also usable as an EndpointSlice port). */
export function port(name: string, number: number, protocol: ServicePort['protocol'] = 'TCP', extra: Partial<ServicePort> = {}): ServicePort {
  return { name, port: number, protocol, ...extra };
}

/** The port most upstream cases use: `p80`, TCP 80. */
export const P80: ServicePort[] = [port('p80', 80)];

// ---- iptables restore inputs ----------------------------------------------------------------

/** table → its declared chains (sorted) and each chain's lines in order, as assertIPTablesRulesEqual compares. */
export function byChain(text: string): Record<string, { chains: string[]; rules: Record<string, string[]> }> {
  const out: Record<string, { chains: string[]; rules: Record<string, string[]> }> = {};
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      table = line.slice(1);
      out[table] = { chains: [], rules: {} };
    } else if (line.startsWith(':')) {
      out[table]!.chains.push(line);
    } else {
      const chain = line.split(' ')[1]!;
      (out[table]!.rules[chain] ??= []).push(line);
    }
  }
  for (const t of Object.values(out)) t.chains.sort();
  return out;
}

/** The filter chains every expected restore input in iptables proxier_test.go declares. */
export const FILTER_CHAINS = `:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]`;
/** The fixed filter rules every expected restore input ends with. */
export const FILTER_TAIL = `-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`;
/** The fixed nat chains every expected restore input declares. */
export const NAT_FIXED_CHAINS = `:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]`;
/** The last rule of nat KUBE-SERVICES. */
export const NODEPORTS_JUMP = '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS';
/** The masquerade mark rules (bit 14) every expected restore input holds. */
export const NAT_TAIL = `-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE`;

// ---- flows through a node's hooks -----------------------------------------------------------

/** A trace step as a handler reports it (the pipeline adds node and stage). */
export type FlowStep = Omit<TraceStep, 'node' | 'stage'>;

/** A new flow's context at a hook of a node, with its trace steps collected; a seed gives it a seeded rng. */
export function newFlow(node: NodeNetwork, tuple: FlowTuple, options: { hook?: Hook; seed?: number } = {}): { ctx: FlowContext; steps: FlowStep[] } {
  const steps: FlowStep[] = [];
  const ctx: FlowContext = {
    node,
    hook: options.hook ?? 'PREROUTING',
    tuple: { ...tuple },
    original: { ...tuple },
    mark: 0,
    ...(options.seed !== undefined ? { rng: new SeededRng(options.seed) } : {}),
    trace: (s) => void steps.push(s),
  };
  return { ctx, steps };
}

/** Runs the flow through every handler registered at each hook in turn, as the pipeline does; stops at the first verdict other than ACCEPT. */
export function runHooks(node: NodeNetwork, hooks: readonly Hook[], ctx: FlowContext): HookVerdict {
  for (const hook of hooks) {
    (ctx as { hook: Hook }).hook = hook;
    for (const h of node.handlers(hook)) {
      const v = h.run(ctx);
      if (v && v.verdict !== 'ACCEPT') return v;
    }
  }
  return undefined;
}

/** A fake proxier's host: a node whose eth0 holds the given addresses (the node IP by default). */
export function hostNode(name: string, addresses: readonly string[] = [`${TEST_NODE_IP}/24`], clock?: Clock): NodeNetwork {
  const node = new NodeNetwork(name, new Conntrack(clock));
  node.addInterface({ name: 'eth0', kind: 'ethernet', mtu: 1500, addresses: [...addresses], up: true });
  return node;
}

/** One of upstream's packetFlowTest cases. */
export interface PacketFlowTest {
  name: string;
  sourceIP: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  destIP: string;
  destPort: number;
  /** `ip:port` destinations (comma-separated, sorted), ACCEPT, DROP, REJECT, or '' for no match. */
  output: string;
  masq?: boolean;
}

/** How one proxy mode's packet-flow cases run. */
export interface PacketFlowMode {
  /** A fresh fake-proxier host with the mode's backend synced from the input. */
  syncedNode(input: ProxyInput): NodeNetwork;
  /** Whether an undecided, un-DNATed flow was accepted by one of kube-proxy's own rules (upstream's tracer then says ACCEPT). */
  accepted?(steps: readonly FlowStep[]): boolean;
}

/** The iptables mode on iptables NewFakeProxier's host; a KUBE- filter chain's ACCEPT (not KUBE-FORWARD's) counts. */
export const IPTABLES_FLOWS: PacketFlowMode = {
  syncedNode(input) {
    const node = hostNode(input.nodeName ?? TEST_HOSTNAME);
    createIptablesBackend(node, {}).sync(input);
    return node;
  },
  accepted: (steps) => steps.some((s) => s.table === 'filter' && s.action === 'ACCEPT' && s.chain?.startsWith('KUBE-') && s.chain !== 'KUBE-FORWARD'),
};

/** The nftables mode on nftables NewFakeProxier's host, whose interface holds testNodeIPs (the IPv4 ones) and the external IP. */
export const NFTABLES_FLOWS: PacketFlowMode = {
  syncedNode(input) {
    const node = hostNode(TEST_NODE_NAME, [`${TEST_NODE_IP}/24`, `${TEST_NODE_IP_ALT}/24`, `${TEST_EXTERNAL_IP}/24`]);
    createNftablesBackend(node).sync(input);
    return node;
  },
};

/**
 * One new flow through a node's hooks, as tracePacket walks it: a packet from the node itself (its
 * address or loopback) starts at OUTPUT, any other at PREROUTING; then INPUT if it is (still) for
 * the node, else FORWARD when it came in. Returns what upstream's tracer reports: the DNAT
 * destination, a DROP/REJECT, an ACCEPT (see {@link PacketFlowMode.accepted}) or '' — and whether
 * the flow was marked for masquerade (read before POSTROUTING, which clears the mark).
 */
export function traceOnce(node: NodeNetwork, test: PacketFlowTest, seed: number, mode: Pick<PacketFlowMode, 'accepted'> = {}): { output: string; masq: boolean; steps: FlowStep[] } {
  const tuple: FlowTuple = { protocol: test.protocol ?? 'TCP', src: test.sourceIP, sport: 40000 + seed, dst: test.destIP, dport: test.destPort };
  const { ctx, steps } = newFlow(node, tuple, { seed });
  const local = (ip: string) => node.ownsAddress(ip) !== undefined || ip.startsWith('127.');
  const fromHost = local(tuple.src);
  let verdict = runHooks(node, [fromHost ? 'OUTPUT' : 'PREROUTING'], ctx);
  if (!verdict) {
    const next: Hook | undefined = local(ctx.tuple.dst) ? 'INPUT' : fromHost ? undefined : 'FORWARD';
    if (next) verdict = runHooks(node, [next], ctx);
  }
  const masq = (ctx.mark & 0x4000) !== 0;
  if (verdict) return { output: verdict.verdict, masq, steps };
  if (ctx.tuple.dst !== tuple.dst || ctx.tuple.dport !== tuple.dport) return { output: `${ctx.tuple.dst}:${ctx.tuple.dport}`, masq, steps };
  return { output: mode.accepted?.(steps) ? 'ACCEPT' : '', masq, steps };
}

/**
 * runPacketFlowTests: each case on fresh nodes, several times with different seeds (fresh, so
 * ClientIP affinity does not pin the later tries), collecting every destination the random picks
 * (iptables statistic, nftables numgen) make; upstream's tracers follow every probabilistic
 * branch and list them all.
 */
export function runPacketFlowTests(t: Test, mode: PacketFlowMode, input: ProxyInput, tests: readonly PacketFlowTest[], tries = 24): void {
  for (const test of tests) {
    const outputs = new Set<string>();
    const masqs = new Set<boolean>();
    for (let i = 0; i < tries; i++) {
      const r = traceOnce(mode.syncedNode(input), test, i, mode);
      outputs.add(r.output);
      masqs.add(r.masq);
    }
    t.equal([...outputs].sort().join(', '), test.output, `${test.name}: output`);
    t.same([...masqs], [test.masq ?? false], `${test.name}: masq`);
  }
}

// ---- a flannel-programmed cluster -----------------------------------------------------------

/** flanneld's leases on a kind-like cluster: a control plane and two workers. */
export const KIND_LEASES: readonly SubnetLease[] = [
  { node: 'control-plane', subnet: '10.244.0.0/24', publicIP: '172.18.0.2' },
  { node: 'worker', subnet: '10.244.1.0/24', publicIP: '172.18.0.3' },
  { node: 'worker2', subnet: '10.244.2.0/24', publicIP: '172.18.0.4' },
];
/** The two workers alone. */
export const WORKER_LEASES: readonly SubnetLease[] = KIND_LEASES.slice(1);

/** Pods by IP: the node each runs on and its `namespace/name`. */
export type TestPods = Readonly<Record<string, { node: string; pod: string }>>;

/**
 * Nodes programmed as flanneld programs them (vxlan by default: pod MTU 1450 over a 1500 underlay),
 * the pods attached by the CNI plugin, and a Pipeline that resolves pod IPs to their veths and
 * node IPs to their hosts.
 */
export function flannelCluster(options: { leases: readonly SubnetLease[]; pods: TestPods; backend?: 'vxlan' | 'host-gw'; links?: readonly LinkSpec[]; rng?: Rng }): {
  nodes: Map<string, NodeNetwork>;
  pipeline: Pipeline;
} {
  const { leases, pods, links } = options;
  const backend = options.backend ?? 'vxlan';
  const nodes = new Map<string, NodeNetwork>();
  for (const lease of leases) {
    const net = new NodeNetwork(lease.node);
    programFlannelNode(net, lease, leases, { backend, underlayMtu: 1500, podMtu: backend === 'vxlan' ? 1450 : 1500 });
    nodes.set(lease.node, net);
  }
  const veths = new Map(Object.values(pods).map((p) => [p.pod, attachPod(nodes.get(p.node)!, p.pod, { cniVersion: '1.0.0' })]));
  const resolve = (ip: string): Attachment | undefined => {
    const pod = pods[ip];
    if (pod) return { kind: 'pod', node: pod.node, pod: pod.pod, dev: veths.get(pod.pod)! };
    const lease = leases.find((l) => l.publicIP === ip);
    return lease ? { kind: 'host', node: lease.node } : undefined;
  };
  const link = links && ((a: string, b: string) => links.find((l) => (l.between[0] === a && l.between[1] === b) || (l.between[0] === b && l.between[1] === a)));
  const pipeline = new Pipeline({ nodes, resolve, ...(link ? { link } : {}), ...(options.rng ? { rng: options.rng } : {}) });
  return { nodes, pipeline };
}

/** The agnhost image the node-agent tests run (netexec). */
export const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';

/** A three-node Cluster document (control-plane + worker in zone-a, worker2 in zone-b), iptables mode. */
export function threeNodeSpec(name: string, seed: number): ClusterSpec {
  return parseClusterDocument({
    apiVersion: 'podnet.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name },
    spec: {
      seed,
      nodes: [
        { name: 'control-plane', role: 'control-plane', zone: 'zone-a' },
        { name: 'worker', role: 'worker', zone: 'zone-a' },
        { name: 'worker2', role: 'worker', zone: 'zone-b' },
      ],
      kubeProxy: { mode: 'iptables' },
    },
  });
}

/** Starts a cluster of {@link threeNodeSpec} on a ManualClock, stopped at the test's teardown. */
export async function startThreeNodes(t: { teardown(fn: () => unknown): void }, name: string, seed: number, objects: KubeObject[] = []): Promise<{ cluster: Cluster; clock: ManualClock }> {
  const clock = new ManualClock();
  const cluster = await Cluster.fromObjects(objects, threeNodeSpec(name, seed), { clock, dropTimeoutMs: 50 });
  t.teardown(() => cluster.stop());
  return { cluster, clock };
}
