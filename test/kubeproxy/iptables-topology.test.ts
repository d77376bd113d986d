// kube-proxy iptables mode, topology-aware routing: EndpointSlice hints (as the EndpointSlice
// controller writes them for trafficDistribution, trafficdist.go) decide which endpoints a node's
// KUBE-SVC chain uses — kubernetes/kubernetes pkg/proxy/topology.go CategorizeEndpoints and
// topologyModeFromHints, whose cases (topology_test.go TestCategorizeEndpoints) are replayed here
// through the whole compiler and the node's hooks.
import t from 'tap';
import { compileIptables } from '../../lib/kubeproxy/iptables.js';
import type { ProxyInput } from '../../lib/kubeproxy/model.js';
import type { Endpoint, ServiceSpec } from '../../lib/api/types.js';
import { FAKE_PROXIER, IPTABLES_FLOWS, P80, TEST_EXTERNAL_CLIENT, TEST_HOSTNAME, byChain, makeService, makeSlice, runPacketFlowTests } from './fixtures.js';

/** An endpoint as the controller writes it for PreferClose (zone hint = its zone) or PreferSameNode (plus node hint). */
function hinted(ip: string, zone: string | undefined, node: string, opts: { node?: boolean; ready?: boolean } = {}): Endpoint {
  const forZones = zone ? [{ name: zone }] : undefined;
  const forNodes = opts.node ? [{ name: node }] : undefined;
  return {
    addresses: [ip],
    conditions: { ready: opts.ready ?? true, serving: opts.ready ?? true, terminating: false },
    nodeName: node,
    ...(zone ? { zone } : {}),
    ...(forZones || forNodes ? { hints: { ...(forZones ? { forZones } : {}), ...(forNodes ? { forNodes } : {}) } } : {}),
  };
}

function input(zone: string | undefined, endpoints: Endpoint[], spec: Partial<ServiceSpec> = {}): ProxyInput {
  return {
    ...FAKE_PROXIER,
    ...(zone ? { zone } : {}),
    services: [makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: P80, trafficDistribution: 'PreferClose', ...spec })],
    endpointSlices: [makeSlice('ns1', 'svc1', endpoints, P80)],
  };
}

/** The endpoints the KUBE-SVC chain sends to, in order. */
function clusterTargets(i: ProxyInput): string[] {
  return (byChain(compileIptables(i)).nat!.rules['KUBE-SVC-XPGD46QRK7WJZT7O'] ?? []).flatMap((r) => /-> (\S+)"/.exec(r)?.[1] ?? []);
}

const fourZoned = [hinted('10.1.2.3', 'zone-a', 'node-1'), hinted('10.1.2.4', 'zone-b', 'node-2'), hinted('10.1.2.5', 'zone-c', 'node-3'), hinted('10.1.2.6', 'zone-a', 'node-4')];

t.test('a zone-a node programs only the zone-a endpoints of a PreferClose Service', async (t) => {
  const zoneA = input('zone-a', fourZoned);
  t.same(clusterTargets(zoneA), ['10.1.2.3:80', '10.1.2.6:80']);
  const nat = byChain(compileIptables(zoneA)).nat!;
  t.same(Object.keys(nat.rules).filter((c) => c.startsWith('KUBE-SEP-')).length, 2, 'and only their KUBE-SEP chains');
  runPacketFlowTests(t, IPTABLES_FLOWS, zoneA, [{ name: 'pod to cluster IP stays in zone-a', sourceIP: '10.0.0.2', destIP: '172.30.0.41', destPort: 80, output: '10.1.2.3:80, 10.1.2.6:80' }]);
  t.same(clusterTargets(input('zone-b', fourZoned)), ['10.1.2.4:80'], 'a zone-b node: the zone-b endpoint');
});

/** An endpoint hinted for some zones (a user-written slice may name several). */
function zones(ip: string, hinted: string[] | undefined, opts: { ready?: boolean; node?: string } = {}): Endpoint {
  return { addresses: [ip], conditions: { ready: opts.ready ?? true }, nodeName: opts.node ?? 'node-x', ...(hinted ? { hints: { forZones: hinted.map((name) => ({ name })) } } : {}) };
}

t.test('TestCategorizeEndpoints (topology_test.go) cases through the compiler', async (t) => {
  const cases: [string, string | undefined, Endpoint[], string[]][] = [
    ['normal endpoint filtering', 'zone-a', [zones('10.1.2.3', ['zone-a']), zones('10.1.2.4', ['zone-b']), zones('10.1.2.5', ['zone-c']), zones('10.1.2.6', ['zone-a'])], ['10.1.2.3', '10.1.2.6']],
    ['unready endpoint', 'zone-a', [zones('10.1.2.3', ['zone-a']), zones('10.1.2.4', ['zone-b']), zones('10.1.2.5', ['zone-c']), zones('10.1.2.6', ['zone-a'], { ready: false })], ['10.1.2.3']],
    ['only unready endpoints in same zone (should not filter)', 'zone-a', [zones('10.1.2.3', ['zone-a'], { ready: false }), zones('10.1.2.4', ['zone-b']), zones('10.1.2.5', ['zone-c']), zones('10.1.2.6', ['zone-a'], { ready: false })], ['10.1.2.4', '10.1.2.5']],
    ['missing hints, no filtering applied', 'zone-a', [zones('10.1.2.3', ['zone-a']), zones('10.1.2.4', ['zone-b']), zones('10.1.2.5', undefined), zones('10.1.2.6', ['zone-a'])], ['10.1.2.3', '10.1.2.4', '10.1.2.5', '10.1.2.6']],
    ['multiple hints per endpoint, filtering includes any endpoint with zone included', 'zone-c', [zones('10.1.2.3', ['zone-a', 'zone-b', 'zone-c']), zones('10.1.2.4', ['zone-b', 'zone-c']), zones('10.1.2.5', ['zone-b', 'zone-d']), zones('10.1.2.6', ['zone-c'])], ['10.1.2.3', '10.1.2.4', '10.1.2.6']],
    ['node in different zone, no endpoint filtering', 'zone-b', [zones('10.1.2.3', ['zone-a'])], ['10.1.2.3']],
    ['empty node labels', undefined, [zones('10.1.2.3', ['zone-a'])], ['10.1.2.3']],
  ];
  for (const [name, zone, endpoints, want] of cases) t.same(clusterTargets(input(zone, endpoints)), want.map((ip) => `${ip}:80`), name);
});

t.test('"conflicting topology and localness require merging allEndpoints" (ETP Local)', async (t) => {
  const eps = [zones('10.0.0.0', ['zone-a'], { node: TEST_HOSTNAME }), zones('10.0.0.1', ['zone-b'], { node: TEST_HOSTNAME }), zones('10.0.0.2', ['zone-a']), zones('10.0.0.3', ['zone-b'])];
  const i = input('zone-a', eps, { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ ...P80[0]!, nodePort: 3001 }] });
  const nat = byChain(compileIptables(i)).nat!;
  t.same(clusterTargets(i), ['10.0.0.0:80', '10.0.0.2:80'], 'clusterEndpoints: zone-a');
  t.same((nat.rules['KUBE-SVL-XPGD46QRK7WJZT7O'] ?? []).map((r) => /-> (\S+)"/.exec(r)![1]), ['10.0.0.0:80', '10.0.0.1:80'], 'localEndpoints: this node\'s, whatever their zone');
  t.same(
    Object.values(nat.rules).flat().filter((r) => r.includes('DNAT')).map((r) => /--to-destination (\S+)/.exec(r)![1]).sort(),
    ['10.0.0.0:80', '10.0.0.1:80', '10.0.0.2:80'],
    'allEndpoints: a KUBE-SEP for each of the union',
  );
  runPacketFlowTests(t, IPTABLES_FLOWS, i, [
    { name: 'pod to cluster IP: zone-a', sourceIP: '10.0.0.9', destIP: '172.30.0.41', destPort: 80, output: '10.0.0.0:80, 10.0.0.2:80' },
    { name: 'external to NodePort: local endpoints, unmasqueraded', sourceIP: TEST_EXTERNAL_CLIENT, destIP: '192.168.0.2', destPort: 3001, output: '10.0.0.0:80, 10.0.0.1:80' },
  ]);
});

t.test('PreferSameNode: node hints win over zone hints when every ready endpoint has one', async (t) => {
  const sameNode = [hinted('10.1.2.3', 'zone-a', TEST_HOSTNAME, { node: true }), hinted('10.1.2.4', 'zone-a', 'node-2', { node: true }), hinted('10.1.2.5', 'zone-b', 'node-3', { node: true })];
  t.same(clusterTargets(input('zone-a', sameNode, { trafficDistribution: 'PreferSameNode' })), ['10.1.2.3:80'], 'this node\'s endpoint only');
  const elsewhere = sameNode.map((e, i) => (i === 0 ? hinted('10.1.2.3', 'zone-a', 'node-1', { node: true }) : e));
  t.same(clusterTargets(input('zone-a', elsewhere, { trafficDistribution: 'PreferSameNode' })), ['10.1.2.3:80', '10.1.2.4:80'], 'none on this node: the zone hints apply');
});
