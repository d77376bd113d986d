// Shared by the iptables-mode tests: upstream's fake proxier settings and object builders
// (kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go: NewFakeProxier, makeTestService,
// makeTestEndpointSlice), its comparison of restore inputs (assertIPTablesRulesEqual: chains
// sorted, each chain's rules in order), and its packet-flow checks (runPacketFlowTests), done
// here by walking a flow through the node's real hooks instead of upstream's rule tracer.
import type { Test } from 'tap';
import { createIptablesBackend } from '../../lib/kubeproxy/iptables.js';
import { NodeNetwork } from '../../lib/dataplane/node.js';
import type { FlowContext, HookVerdict, TraceStep } from '../../lib/dataplane/pipeline.js';
import type { Hook } from '../../lib/dataplane/hooks.js';
import { SeededRng } from '../../lib/core/rng.js';
import type { Endpoint, EndpointPort, EndpointSlice, Service, ServiceSpec } from '../../lib/api/types.js';
import type { ProxyInput } from '../../lib/kubeproxy/model.js';

/** proxier_test.go's constants. */
export const TEST_HOSTNAME = 'test-hostname';
export const TEST_NODE_IP = '192.168.0.2';
export const TEST_EXTERNAL_CLIENT = '203.0.113.2';
export const TEST_EXTERNAL_CLIENT_BLOCKED = '203.0.113.130';

/** NewFakeProxier: pod CIDR 10.0.0.0/8 as the local detector, masquerade bit 14, localhost NodePorts on. */
export const FAKE_PROXIER = { clusterCIDR: '10.0.0.0/8', nodeName: TEST_HOSTNAME, nodeIPs: [TEST_NODE_IP] } as const;

/** makeTestService: a Service with the given spec fields (and status). */
export function makeService(ns: string, name: string, spec: Partial<ServiceSpec>, status?: Service['status']): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec: { type: 'ClusterIP', ...spec }, ...(status ? { status } : {}) };
}

/** makeTestEndpointSlice: `name-n` labelled with its service. */
export function makeSlice(ns: string, svc: string, endpoints: (string | Endpoint)[], ports: EndpointPort[], n = 1): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name: `${svc}-${n}`, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => (typeof e === 'string' ? { addresses: [e] } : e)),
    ports,
  };
}

/** An endpoint with conditions and a node, as upstream's tables spell them. */
export function ep(ip: string, nodeName?: string, conditions?: { ready: boolean; serving: boolean; terminating: boolean }): Endpoint {
  return { addresses: [ip], ...(nodeName ? { nodeName } : {}), ...(conditions ? { conditions } : {}) };
}

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

/** A node like the fake proxier's host: eth0 holds the node IP. */
export function testNode(name = TEST_HOSTNAME): NodeNetwork {
  const node = new NodeNetwork(name);
  node.addInterface({ name: 'eth0', kind: 'ethernet', mtu: 1500, addresses: [`${TEST_NODE_IP}/24`], up: true });
  return node;
}

/** A node with the backend synced from this input. */
export function syncedNode(input: ProxyInput): NodeNetwork {
  const node = testNode(input.nodeName);
  createIptablesBackend(node, {}).sync(input);
  return node;
}

/** One of upstream's packetFlowTest cases. */
export interface PacketFlowTest {
  name: string;
  sourceIP: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  destIP: string;
  destPort: number;
  /** `ip:port` destinations (comma-separated, in endpoint order), ACCEPT, DROP, REJECT, or '' for no match. */
  output: string;
  masq?: boolean;
}

function runHook(node: NodeNetwork, hook: Hook, ctx: FlowContext): HookVerdict {
  (ctx as { hook: Hook }).hook = hook;
  for (const h of node.handlers(hook)) {
    const v = h.run(ctx);
    if (v && v.verdict !== 'ACCEPT') return v;
  }
  return undefined;
}

/**
 * One new flow through a node's hooks: a packet from the node itself (its address or loopback)
 * starts at OUTPUT, any other at PREROUTING; then INPUT if it is (still) for the node, else
 * FORWARD when it came in. Returns what upstream's tracer reports: the DNAT destination, a
 * DROP/REJECT, an ACCEPT by one of kube-proxy's filter chains, or '' — and whether the flow was
 * marked for masquerade (checked before POSTROUTING, which clears the mark).
 */
export function traceOnce(node: NodeNetwork, test: PacketFlowTest, seed: number): { output: string; masq: boolean } {
  const tuple = { protocol: test.protocol ?? 'TCP', src: test.sourceIP, sport: 40000 + seed, dst: test.destIP, dport: test.destPort };
  const steps: Omit<TraceStep, 'node' | 'stage'>[] = [];
  const ctx: FlowContext = { node, hook: 'PREROUTING', tuple: { ...tuple }, original: { ...tuple }, mark: 0, rng: new SeededRng(seed), trace: (s) => void steps.push(s) };
  const local = (ip: string) => node.ownsAddress(ip) !== undefined || ip.startsWith('127.');
  const fromHost = local(tuple.src);
  let verdict = runHook(node, fromHost ? 'OUTPUT' : 'PREROUTING', ctx);
  if (!verdict) {
    const next: Hook | undefined = local(ctx.tuple.dst) ? 'INPUT' : fromHost ? undefined : 'FORWARD';
    if (next) verdict = runHook(node, next, ctx);
  }
  const masq = (ctx.mark & 0x4000) !== 0;
  if (verdict) return { output: verdict.verdict, masq };
  if (ctx.tuple.dst !== tuple.dst || ctx.tuple.dport !== tuple.dport) return { output: `${ctx.tuple.dst}:${ctx.tuple.dport}`, masq };
  const accepted = steps.some((s) => s.table === 'filter' && s.action === 'ACCEPT' && s.chain?.startsWith('KUBE-') && s.chain !== 'KUBE-FORWARD');
  return { output: accepted ? 'ACCEPT' : '', masq };
}

/**
 * runPacketFlowTests: each case on fresh nodes, several times with different seeds (fresh, so
 * ClientIP affinity does not pin the later tries), collecting every destination the statistic
 * rules pick; upstream's tracer follows every probabilistic branch and lists them all.
 */
export function runPacketFlowTests(t: Test, input: ProxyInput, tests: readonly PacketFlowTest[], tries = 24): void {
  for (const test of tests) {
    const outputs = new Set<string>();
    const masqs = new Set<boolean>();
    for (let i = 0; i < tries; i++) {
      const r = traceOnce(syncedNode(input), test, i);
      outputs.add(r.output);
      masqs.add(r.masq);
    }
    const output = [...outputs].sort().join(', ');
    t.equal(output, test.output, `${test.name}: output`);
    t.same([...masqs], [test.masq ?? false], `${test.name}: masq`);
  }
}
