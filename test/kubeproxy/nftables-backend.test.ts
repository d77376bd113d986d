// kube-proxy's nftables backend (lib/kubeproxy/nftables.ts createNftablesBackend) on a node:
// partial syncs as upstream's TestSyncProxyRulesRepeated expects them (pkg/proxy/nftables/
// proxier_test.go: the tables after each step and the number of operations of each transaction,
// stale chains flushed and deleted a second later), numgen's endpoint choice replayed from a seed,
// ClientIP affinity pinning a client until its set element expires, the failed-sync recovery,
// cleanup, and the registry.
import t from 'tap';
import { createNftablesBackend, NFT_TABLE } from '../../lib/kubeproxy/nftables.js';
import { createBackend, registeredModes } from '../../lib/kubeproxy/backend.js';
import type { NodeNetwork } from '../../lib/dataplane/node.js';
import { Nftables, type NftVerdict } from '../../lib/dataplane/nftables.js';
import { formatTrace, type FlowContext, type HookVerdict } from '../../lib/dataplane/pipeline.js';
import type { Hook } from '../../lib/dataplane/hooks.js';
import { ManualClock } from '../../lib/core/clock.js';
import { SeededRng } from '../../lib/core/rng.js';
import { PodnetError } from '../../lib/core/errors.js';
import type { EndpointSlice, Service } from '../../lib/api/types.js';
import type { ProxyInput } from '../../lib/kubeproxy/model.js';
import { NFT_FAKE_PROXIER, TEST_NODE_NAME, WORKER_LEASES, flannelCluster, hostNode, makeService, makeSlice, newFlow, runHooks, type FlowStep } from './fixtures.js';

const MAPS = ['cluster-ips', 'service-ips', 'service-nodeports', 'no-endpoint-services', 'no-endpoint-nodeports', 'firewall-ips'];

/** NewFakeProxier's host, its conntrack on the given clock. */
const node = (clock = new ManualClock()): NodeNetwork => hostNode(TEST_NODE_NAME, undefined, clock);

function verdictText(v: NftVerdict | undefined): string {
  return v ? (v.kind === 'jump' || v.kind === 'goto' ? `${v.kind} ${v.chain}` : v.kind) : '';
}

/** The per-service part of a table: service and endpoint chains with their rules, and the shared maps' elements. */
function serviceState(nft: Nftables): { chains: Record<string, string[]>; elements: Record<string, string[]> } {
  const t = nft.table(NFT_TABLE)!;
  const chains = [...t.chains.values()].filter((c) => c.name.includes('/')).sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    chains: Object.fromEntries(chains.map((c) => [c.name, c.rules.map((r) => r.text)])),
    elements: Object.fromEntries(
      MAPS.map((m) => [m, [...(t.sets.get(m)?.elements.values() ?? [])].map((e) => `${e.text}${e.comment !== undefined ? ` comment "${e.comment}"` : ''}${e.verdict ? ` : ${verdictText(e.verdict)}` : ''}`).sort()]),
    ),
  };
}

/** The objects upstream's per-service expectations refer to, declared so they load on their own. */
const DECLARATIONS = `
add table ip kube-proxy
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy reject-chain
add set ip kube-proxy cluster-ips { type ipv4_addr ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }
add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
`;

/** An upstream expectation loaded into a fresh table (chains first, then sets, rules, elements). */
function expected(text: string): ReturnType<typeof serviceState> {
  const order = ['table', 'chain', 'set', 'map', 'rule', 'element'];
  const lines = (DECLARATIONS + text).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  lines.sort((a, b) => order.indexOf(a.split(' ')[1]!) - order.indexOf(b.split(' ')[1]!));
  const nft = new Nftables();
  nft.load(lines.join('\n'));
  return serviceState(nft);
}

// TestSyncProxyRulesRepeated's expected per-service lines (the ClusterIP masquerade rule with the
// `tcp dport`, as the proxier.go revision followed writes it; see nftables.test.ts).
const SVC1 = `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80
`;
const SVC2 = `
add element ip kube-proxy cluster-ips { 172.30.0.42 }
add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 8080 : goto service-MHHHYRWA-ns2/svc2/tcp/p8080 }
add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080
add rule ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080 ip daddr 172.30.0.42 tcp dport 8080 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080 numgen random mod 1 vmap { 0 : goto endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 }
add chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080
add rule ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 ip saddr 10.0.2.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 meta l4proto tcp dnat to 10.0.2.1:8080
`;
const SVC3 = `
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 }
add chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 ip saddr 10.0.3.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 meta l4proto tcp dnat to 10.0.3.1:80
`;
const SVC4 = `
add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }
add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 }
add chain ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 ip saddr 10.0.4.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 meta l4proto tcp dnat to 10.0.4.1:80
`;
/** svc3 with its endpoints 10.0.3.2 and 10.0.3.3. */
const SVC3_TWO = `
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 , 1 : goto endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 }
add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 ip saddr 10.0.3.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 meta l4proto tcp dnat to 10.0.3.2:80
add chain ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80
add rule ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 ip saddr 10.0.3.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 meta l4proto tcp dnat to 10.0.3.3:80
`;

t.test('TestSyncProxyRulesRepeated: partial syncs rewrite only the changed Services, with upstream\'s operation counts', async (t) => {
  const clock = new ManualClock();
  const n = node(clock);
  const backend = createNftablesBackend(n);
  const ageStaleChains = () => clock.advance(2000);
  const svc = (ns: string, name: string, ip: string, portName: string, port: number): Service => makeService(ns, name, { clusterIP: ip, ports: [{ name: portName, port, protocol: 'TCP' }] });
  const eps = (ns: string, name: string, ips: string[], portName: string, port: number): EndpointSlice => makeSlice(ns, name, ips, [{ name: portName, port, protocol: 'TCP' }]);
  let services = [svc('ns1', 'svc1', '172.30.0.41', 'p80', 80), svc('ns2', 'svc2', '172.30.0.42', 'p8080', 8080)];
  let slices = [eps('ns1', 'svc1', ['10.0.1.1'], 'p80', 80), eps('ns2', 'svc2', ['10.0.2.1'], 'p8080', 8080)];
  const input = (): ProxyInput => ({ ...NFT_FAKE_PROXIER, services, endpointSlices: slices });
  const sync = (...changed: string[]) => backend.sync(input(), new Set(changed));

  const first = backend.sync(input());
  t.equal(first.full, true);
  t.same(serviceState(n.nftables), expected(SVC1 + SVC2), 'initial state');

  // Add a new service and its endpoints.
  services = [...services, svc('ns3', 'svc3', '172.30.0.43', 'p80', 80)];
  slices = [...slices, eps('ns3', 'svc3', ['10.0.3.1'], 'p80', 80)];
  const second = sync('ns3/svc3');
  t.same(serviceState(n.nftables), expected(SVC1 + SVC2 + SVC3));
  t.equal(backend.lastOperations, 10, 'add 1 element to cluster-ips and service-ips, add+flush 2 chains, 2 rules in each');
  t.same({ full: second.full, servicePortsSynced: second.servicePortsSynced, rulesWritten: second.rulesWritten }, { full: false, servicePortsSynced: 1, rulesWritten: 6 });

  // Delete a service; its chains will be flushed, but not immediately deleted.
  services = services.filter((s) => s.metadata.name !== 'svc2');
  sync('ns2/svc2');
  t.same(
    serviceState(n.nftables),
    expected(`${SVC1}${SVC3}
      add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080
      add chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080`),
  );
  t.equal(backend.lastOperations, 4, 'delete 1 element from cluster-ips and service-ips, flush 2 chains');

  // Fake the passage of time and confirm that the stale chains get deleted.
  ageStaleChains();
  sync();
  t.same(serviceState(n.nftables), expected(SVC1 + SVC3));
  t.equal(backend.lastOperations, 0, 'stale chains are deleted in a separate transaction; nothing else changed');

  // Add a service, sync, then add its endpoints.
  services = [...services, svc('ns4', 'svc4', '172.30.0.44', 'p80', 80)];
  sync('ns4/svc4');
  t.same(
    serviceState(n.nftables),
    expected(`${SVC1}${SVC3}
      add element ip kube-proxy cluster-ips { 172.30.0.44 }
      add element ip kube-proxy no-endpoint-services { 172.30.0.44 . tcp . 80 comment "ns4/svc4:p80" : goto reject-chain }`),
  );
  t.equal(backend.lastOperations, 2, 'add 1 element to cluster-ips and no-endpoint-services');

  slices = [...slices, eps('ns4', 'svc4', ['10.0.4.1'], 'p80', 80)];
  sync('ns4/svc4');
  t.same(serviceState(n.nftables), expected(SVC1 + SVC3 + SVC4));
  t.equal(backend.lastOperations, 10, 'add 1 element to service-ips, remove 1 from no-endpoint-services, add+flush 2 chains with 2 rules each');

  // Change an endpoint of an existing service: the old endpoint chain is not deleted yet.
  slices = slices.map((s) => (s.metadata.name === 'svc3-1' ? eps('ns3', 'svc3', ['10.0.3.2'], 'p80', 80) : s));
  sync('ns3/svc3');
  t.same(
    serviceState(n.nftables),
    expected(`${SVC1}${SVC4}
      add element ip kube-proxy cluster-ips { 172.30.0.43 }
      add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
      add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
      add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
      add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 }
      add chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80
      add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
      add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 ip saddr 10.0.3.2 jump mark-for-masquerade
      add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 meta l4proto tcp dnat to 10.0.3.2:80`),
  );
  t.equal(backend.lastOperations, 9, 'add+flush 2 chains with 2 rules each, flush the old endpoint chain');

  // Add an endpoint to a service (and the old svc3 chain is deleted first).
  ageStaleChains();
  slices = slices.map((s) => (s.metadata.name === 'svc3-1' ? eps('ns3', 'svc3', ['10.0.3.2', '10.0.3.3'], 'p80', 80) : s));
  sync('ns3/svc3');
  const full = expected(SVC1 + SVC3_TWO + SVC4);
  t.same(serviceState(n.nftables), full);
  t.equal(backend.lastOperations, 12, 'add+flush 3 chains for 1 service and 2 endpoints, 2 rules in each');

  // Empty a service's endpoints; its chains will be flushed, but not immediately deleted.
  const withEndpoints = slices;
  slices = slices.map((s) => (s.metadata.name === 'svc3-1' ? eps('ns3', 'svc3', [], 'p80', 80) : s));
  sync('ns3/svc3');
  t.same(
    serviceState(n.nftables),
    expected(`${SVC1}${SVC4}
      add element ip kube-proxy cluster-ips { 172.30.0.43 }
      add element ip kube-proxy no-endpoint-services { 172.30.0.43 . tcp . 80 comment "ns3/svc3:p80" : goto reject-chain }
      add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
      add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
      add chain ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80`),
  );
  t.equal(backend.lastOperations, 5, 'remove 1 element from service-ips, add 1 to no-endpoint-services, flush 3 chains');
  t.same([...backend.proxier.staleChains.keys()].sort(), ['endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80', 'endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80', 'service-4AT6LBPK-ns3/svc3/tcp/p80']);

  // Restore endpoints immediately: its chains are restored and leave staleChains.
  slices = withEndpoints;
  sync('ns3/svc3');
  t.same(serviceState(n.nftables), full);
  t.equal(backend.lastOperations, 14, 'remove 1 element from no-endpoint-services, add 1 to service-ips, add+flush 3 chains with 2 rules each');
  t.equal(backend.proxier.staleChains.size, 0);

  // Empty and restore after the stale chains aged: deleted first, then recreated.
  slices = slices.map((s) => (s.metadata.name === 'svc3-1' ? eps('ns3', 'svc3', [], 'p80', 80) : s));
  sync('ns3/svc3');
  ageStaleChains();
  slices = withEndpoints;
  sync('ns3/svc3');
  t.same(serviceState(n.nftables), full);

  // Sync with no new changes.
  sync();
  t.same(serviceState(n.nftables), full);
  t.equal(backend.lastOperations, 0);
});

/** One flow through the node's hooks from a pod (PREROUTING, then FORWARD). */
function podFlow(n: NodeNetwork, src: string, dst: string, dport: number, seed: number): { ctx: FlowContext; verdict: HookVerdict; steps: FlowStep[] } {
  const { ctx, steps } = newFlow(n, { protocol: 'TCP', src, sport: 30000 + seed, dst, dport }, { seed });
  return { ctx, verdict: runHooks(n, ['PREROUTING', 'FORWARD'], ctx), steps };
}

const THREE: ProxyInput = {
  ...NFT_FAKE_PROXIER,
  services: [makeService('default', 'web', { clusterIP: '172.30.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] })],
  endpointSlices: [makeSlice('default', 'web', ['10.1.0.3', '10.1.0.1', '10.1.0.2'], [{ name: 'http', port: 8080, protocol: 'TCP' }])],
};

t.test('a ClusterIP is DNATed to the endpoint numgen picks: reciprocal_scale of a 32-bit draw of the seeded rng', async (t) => {
  const n = node();
  createNftablesBackend(n).sync(THREE);
  // Endpoints in the vmap are in ip:port order; numgen random mod 3 = floor(u32 * 3 / 2^32).
  const endpoints = ['10.1.0.1', '10.1.0.2', '10.1.0.3'];
  const counts = new Map<string, number>();
  for (let seed = 0; seed < 300; seed++) {
    const u32 = Math.floor(new SeededRng(seed).next() * 2 ** 32);
    const want = endpoints[Math.floor((u32 * 3) / 2 ** 32)]!;
    const { ctx, verdict, steps } = podFlow(n, '10.0.0.2', '172.30.0.10', 80, seed);
    if (verdict !== undefined || ctx.tuple.dst !== want || ctx.tuple.dport !== 8080) {
      t.fail(`seed ${seed}: expected ${want}:8080, got ${ctx.tuple.dst}:${ctx.tuple.dport} (${verdict?.verdict ?? 'accepted'})`);
      break;
    }
    counts.set(want, (counts.get(want) ?? 0) + 1);
    if (seed === 0) {
      t.match(
        steps.map((s) => `${s.chain}: ${s.action}`),
        ['filter-prerouting: jump firewall-check', 'nat-prerouting: jump services', /^services: goto service-/, /^service-.*: goto endpoint-/, /^endpoint-.*: DNAT$/],
        'nat-prerouting → services (@service-ips) → service chain (numgen) → endpoint chain (dnat)',
      );
      t.match(steps.find((s) => s.action.startsWith('goto endpoint-'))?.detail, /^numgen random mod 3 = [012]$/);
    }
  }
  // Uniform: each endpoint gets about a third of 300 flows.
  for (const e of endpoints) t.ok((counts.get(e) ?? 0) > 70, `${e} picked ${counts.get(e) ?? 0} times of 300`);
  const other = node();
  createNftablesBackend(other).sync(THREE);
  t.equal(podFlow(other, '10.0.0.2', '172.30.0.10', 80, 7).ctx.tuple.dst, podFlow(n, '10.0.0.2', '172.30.0.10', 80, 7).ctx.tuple.dst, 'same seed, same pick on another node');
});

t.test('ClientIP affinity pins a client to its endpoint until the affinity element expires (node clock)', async (t) => {
  const clock = new ManualClock();
  const n = node(clock);
  const svc = THREE.services[0]!;
  const input: ProxyInput = { ...THREE, services: [{ ...svc, spec: { ...svc.spec, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } } }] };
  createNftablesBackend(n).sync(input);
  const first = podFlow(n, '10.0.0.9', '172.30.0.10', 80, 1).ctx.tuple.dst;
  const picks = new Set<string>();
  for (let seed = 2; seed < 40; seed++) {
    const r = podFlow(n, '10.0.0.9', '172.30.0.10', 80, seed);
    picks.add(r.ctx.tuple.dst);
    if (seed === 2) t.ok(r.steps.some((s) => /^ip saddr @affinity-.* goto endpoint-/.test(s.rule ?? '')), 'the affinity rule sends it');
    clock.advance(1000);
  }
  t.same([...picks], [first], 'every later flow of the client goes to the first pick');
  const listing = n.nftables.list();
  t.match(listing, new RegExp(`elements = \\{ 10\\.0\\.0\\.9 expires (\\d+s|\\d+m\\d+s) \\}`), 'the affinity set lists the client with its expiry');
  // Other clients are not pinned to it.
  const others = new Set<string>();
  for (let seed = 0; seed < 40; seed++) others.add(podFlow(n, `10.0.1.${seed + 1}`, '172.30.0.10', 80, seed).ctx.tuple.dst);
  t.equal(others.size, 3, 'other clients spread over all endpoints');
  // 60 s without a new flow: the element times out and the client is drawn anew.
  clock.advance(61_000);
  t.notMatch(n.nftables.list(), /10\.0\.0\.9 expires/, 'expired');
  const after = podFlow(n, '10.0.0.9', '172.30.0.10', 80, 99);
  t.notOk(after.steps.some((s) => /^ip saddr @affinity-/.test(s.rule ?? '')), 'no affinity rule matched after expiry');
});

t.test('a failed partial sync changes nothing and the next sync is full', async (t) => {
  const n = node();
  const backend = createNftablesBackend(n);
  backend.sync(THREE);
  // Someone removes cluster-ips by hand (its rule first, as nft requires).
  n.nftables.load('flush chain ip kube-proxy cluster-ips-check\ndelete set ip kube-proxy cluster-ips\n');
  const before = n.nftables.list();
  const more: ProxyInput = { ...THREE, services: [...THREE.services, makeService('default', 'api', { clusterIP: '172.30.0.11', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] })] };
  t.throws(() => backend.sync(more, new Set(['default/api'])), PodnetError);
  t.equal(n.nftables.list(), before, 'the failed transaction changed nothing');
  const stats = backend.sync(more, new Set(['default/api']));
  t.equal(stats.full, true, 'the sync after a failure is full');
  t.same([...n.nftables.table(NFT_TABLE)!.sets.get('cluster-ips')!.elements.values()].map((e) => e.text).sort(), ['172.30.0.10', '172.30.0.11'], 'cluster-ips recreated and filled');
});

t.test('a stale chain someone still jumps to is deleted once they stop', async (t) => {
  const clock = new ManualClock();
  const n = node(clock);
  const backend = createNftablesBackend(n);
  backend.sync(THREE);
  const chain = [...n.nftables.table(NFT_TABLE)!.chains.keys()].find((c) => c.startsWith('service-') && c.includes('/'))!;
  n.nftables.load(`add chain ip kube-proxy user-chain\nadd rule ip kube-proxy user-chain jump ${chain}\n`);
  backend.sync({ ...THREE, services: [] }, new Set(['default/web']));
  clock.advance(2000);
  t.doesNotThrow(() => backend.sync({ ...THREE, services: [] }, new Set()), 'the deletion failing (still referenced) does not fail the sync');
  t.ok(n.nftables.table(NFT_TABLE)!.chains.has(chain), 'still there');
  n.nftables.load('delete chain ip kube-proxy user-chain\n');
  clock.advance(2000);
  backend.sync({ ...THREE, services: [] }, new Set());
  t.notOk(n.nftables.table(NFT_TABLE)!.chains.has(chain), 'deleted once nothing refers to it');
});

t.test('the nftables mode is registered; render is nft list ruleset; cleanup deletes the table and its hooks', async (t) => {
  t.ok(registeredModes().includes('nftables'));
  const n = node();
  const backend = createBackend('nftables', n);
  t.equal(backend.mode, 'nftables');
  t.same(backend.formats, ['nft']);
  const stats = backend.sync(THREE);
  t.same({ full: stats.full, servicePortsSynced: stats.servicePortsSynced }, { full: true, servicePortsSynced: 1 });
  const table = n.nftables.table(NFT_TABLE)!;
  const rules = [...table.chains.values()].reduce((a, c) => a + c.rules.length, 0);
  const elements = [...table.sets.values()].reduce((a, s) => a + s.elements.size, 0);
  t.equal(stats.totalRules, rules + elements, 'totalRules counts rules and set/map elements');
  t.ok(stats.rulesWritten > 0 && stats.rulesWritten <= stats.totalRules + 20);
  t.equal(backend.render('nft'), n.nftables.list());
  podFlow(n, '10.0.0.2', '172.30.0.10', 80, 0);
  t.match(backend.render('nft', { counters: true }), /counter packets 1 bytes 0 numgen random mod 3 vmap/, 'counters on request count the flow');
  t.throws(() => backend.render('iptables-save'), /renders nft/);
  const hooked = () => (['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'] as Hook[]).flatMap((h) => n.handlers(h).filter((x) => x.name === `nftables/ip ${NFT_TABLE}`).map((x) => `${h}/${x.priority}`));
  t.same(hooked().sort(), ['FORWARD/-110', 'INPUT/-110', 'OUTPUT/-100', 'OUTPUT/-110', 'OUTPUT/-90', 'POSTROUTING/100', 'PREROUTING/-100', 'PREROUTING/-110'], 'eight base chains at their hooks and priorities');
  backend.cleanup();
  t.equal(n.nftables.table(NFT_TABLE), undefined);
  t.same(hooked(), [], 'no handlers left');
  t.equal(podFlow(n, '10.0.0.2', '172.30.0.10', 80, 0).ctx.tuple.dst, '172.30.0.10', 'no DNAT after cleanup');
  t.equal(backend.sync(THREE).full, true, 'a sync after cleanup starts over');
  t.equal(podFlow(n, '10.0.0.2', '172.30.0.10', 80, 0).ctx.tuple.dport, 8080);
});

t.test('through the pipeline: a pod reaches a ClusterIP on another node; the trace names the nft chains; a hairpin is masqueraded', async (t) => {
  const { nodes, pipeline } = flannelCluster({
    leases: WORKER_LEASES,
    pods: {
      '10.244.1.2': { node: 'worker', pod: 'default/client' },
      '10.244.2.2': { node: 'worker2', pod: 'default/web' },
      '10.244.1.3': { node: 'worker', pod: 'default/self' },
    },
    rng: new SeededRng(1),
  });
  const input: ProxyInput = {
    clusterCIDR: '10.244.0.0/16',
    serviceCIDRs: ['10.96.0.0/12'],
    nodeName: 'worker',
    nodeIPs: ['172.18.0.3'],
    services: [
      makeService('default', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }),
      makeService('default', 'self', { clusterIP: '10.96.0.21', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }),
    ],
    endpointSlices: [makeSlice('default', 'web', ['10.244.2.2'], [{ name: 'http', port: 8080, protocol: 'TCP' }]), makeSlice('default', 'self', ['10.244.1.3'], [{ name: 'http', port: 8080, protocol: 'TCP' }])],
  };
  createNftablesBackend(nodes.get('worker')!).sync(input);

  const d = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, { protocol: 'TCP', src: '10.244.1.2', sport: 40000, dst: '10.96.0.20', dport: 80 });
  t.equal(d.verdict, 'ACCEPT');
  t.match(d.destination, { kind: 'pod', pod: 'default/web', node: 'worker2' });
  t.same({ src: d.tuple.src, dst: d.tuple.dst, dport: d.tuple.dport }, { src: '10.244.1.2', dst: '10.244.2.2', dport: 8080 }, 'DNATed, source kept (pod traffic is not masqueraded)');
  const text = formatTrace(d);
  t.match(text, /worker\s+PREROUTING ip kube-proxy nat-prerouting\s+jump services/);
  t.match(text, /PREROUTING ip kube-proxy services\s+goto service-[A-Z0-9]{8}-default\/web\/tcp\/http ip daddr \. meta l4proto \. th dport vmap @service-ips @service-ips: 10\.96\.0\.20 \. tcp \. 80/);
  t.match(text, /PREROUTING ip kube-proxy endpoint-[A-Z0-9]{8}-default\/web\/tcp\/http__10\.244\.2\.2\/8080 DNAT/);
  t.match(text, /worker\s+vxlan\s+encap/);

  const hairpin = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/self' }, { protocol: 'TCP', src: '10.244.1.3', sport: 40001, dst: '10.96.0.21', dport: 80 });
  t.equal(hairpin.verdict, 'ACCEPT');
  t.match(hairpin.destination, { pod: 'default/self' });
  t.equal(hairpin.tuple.src, '10.244.1.1', "a pod reaching itself through its Service is masqueraded to cni0's address");
  t.match(formatTrace(hairpin), /POSTROUTING ip kube-proxy masquerading\s+MASQUERADE\s+masquerade fully-random 10\.244\.1\.3:40001 → 10\.244\.1\.3:8080 ⇒ 10\.244\.1\.1:40001/);
  t.equal(hairpin.trace.filter((s) => s.chain === 'masquerading').length, 2, 'mark cleared, then masqueraded');
});
