/**
 * kube-proxy benchmarks (not tests), printed as tables: for each mode (iptables, nftables, ipvs)
 * and 1k / 10k Services with 3 endpoints each, on one node programmed as flannel programs it:
 *
 * - compile: the first (full) sync — compile plus load into the node's tables — and the rules it
 *   leaves (iptables rules; nft rules + set/map elements; ipvs real servers + iptables rules);
 * - lookup: the pipeline's decision for one new connection from a pod to a ClusterIP (hooks,
 *   routing, delivery), for the first Service in kube-proxy's order, the last one, and a seeded
 *   random mix. iptables walks KUBE-SERVICES rule by rule, so its cost grows with the number of
 *   Services; nftables' verdict map and IPVS's service table are hash lookups and should not;
 * - incremental: a partial sync after one Service's endpoints changed among all of them.
 *
 * The real peer: where this machine lets it run (root, iptables-restore / nft installed), the
 * real parser is timed on the same text (`iptables-restore --test`, `nft -c -f`); elsewhere the
 * column says why it is missing. Run with `npm run bench` (after `npm run build`);
 * `BENCH_KP_SIZES=1000,10000`, `BENCH_KP_LOOKUPS=2000` and `BENCH_KP_MODES=iptables,ipvs` narrow it.
 */

import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { NodeNetwork } from '../lib/dataplane/node.js';
import { Conntrack } from '../lib/dataplane/conntrack.js';
import { Pipeline, type Attachment } from '../lib/dataplane/pipeline.js';
import { SeededRng } from '../lib/core/rng.js';
import { createBackend, type ProxyMode, MODES } from '../lib/kubeproxy/backend.js';
import '../lib/kubeproxy/modes.js';
import type { ProxyInput } from '../lib/kubeproxy/model.js';
import type { EndpointSlice, Service } from '../lib/api/types.js';
import { programFlannelNode } from '../plugins/flannel/daemon.js';
import { formatColumns } from '../lib/printers/printers.js';

const SIZES = (process.env.BENCH_KP_SIZES ?? '1000,10000').split(',').map(Number);
const LOOKUPS = Number(process.env.BENCH_KP_LOOKUPS ?? 2000);
const ONLY = process.env.BENCH_KP_MODES?.split(',');
const NODE = 'bench';
const NODE_IP = '172.18.0.2';
const CLIENT_IP = '10.244.255.254';

function ipOf(base: number, i: number): string {
  const v = base + i;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

const SERVICE_BASE = (10 << 24) + (96 << 16) + 10; // 10.96.0.10
const POD_BASE = (10 << 24) + (244 << 16) + 2; // 10.244.0.2

/** n Services of one TCP port each, 3 ready endpoints each, all on this node. */
function objects(n: number, version = 0): { input: ProxyInput; endpoints: Set<string> } {
  const services: Service[] = [];
  const endpointSlices: EndpointSlice[] = [];
  const endpoints = new Set<string>();
  for (let i = 0; i < n; i++) {
    const name = `svc-${String(i).padStart(5, '0')}`;
    services.push({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'bench', name }, spec: { type: 'ClusterIP', clusterIP: ipOf(SERVICE_BASE, i), ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] } });
    const ips = [0, 1, 2].map((k) => ipOf(POD_BASE, i * 3 + k + (i === 0 ? version * 3 * n : 0)));
    ips.forEach((ip) => endpoints.add(ip));
    endpointSlices.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { namespace: 'bench', name: `${name}-abcde`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, nodeName: NODE })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
  }
  return { input: { services, endpointSlices, nodeName: NODE, nodeIPs: [NODE_IP], clusterCIDR: '10.244.0.0/16' }, endpoints };
}

function node(): NodeNetwork {
  const net = new NodeNetwork(NODE, new Conntrack());
  programFlannelNode(net, { node: NODE, subnet: '10.244.0.0/16', publicIP: NODE_IP }, [{ node: NODE, subnet: '10.244.0.0/16', publicIP: NODE_IP }], { backend: 'vxlan', underlayMtu: 1500, podMtu: 1450, network: '10.244.0.0/16' });
  return net;
}

/** Microseconds per decision for flows to these service indexes. */
function lookups(pipeline: Pipeline, indexes: number[]): number {
  const start = performance.now();
  let sport = 20000;
  for (const i of indexes) {
    const d = pipeline.decide({ kind: 'pod', node: NODE, pod: 'bench/client' }, { protocol: 'TCP', src: CLIENT_IP, sport: sport++, dst: ipOf(SERVICE_BASE, i), dport: 80 });
    if (d.verdict !== 'ACCEPT') throw new Error(`flow to service ${i} was ${d.verdict}: ${d.reason ?? ''}`);
    if (sport > 60000) sport = 20000;
  }
  return ((performance.now() - start) * 1000) / indexes.length;
}

/** The real parser on the same text, where it can run. */
function realCheck(mode: ProxyMode, text: string): string {
  const tool = mode === 'nftables' ? ['nft', ['-c', '-f', '-']] : mode === 'iptables' ? ['iptables-restore', ['--test']] : undefined;
  if (!tool) return 'n/a (ipvsadm has no check mode)';
  const [cmd, args] = tool as [string, string[]];
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) return `n/a (${cmd} not installed)`;
  const start = performance.now();
  const r = spawnSync(cmd, args, { input: text, encoding: 'utf8' });
  if (r.status !== 0) return `n/a (${cmd}: ${(r.stderr || 'failed').trim().split('\n')[0]})`;
  return `${(performance.now() - start).toFixed(1)}ms`;
}

const rows: string[][] = [['MODE', 'SERVICES', 'FULL SYNC', 'RULES', 'REAL PARSER', 'LOOKUP FIRST', 'LOOKUP LAST', 'LOOKUP RANDOM', 'PARTIAL SYNC (1 of N)']];
for (const mode of MODES.filter((m) => !ONLY || ONLY.includes(m))) {
  for (const n of SIZES) {
    process.stderr.write(`kube-proxy bench: ${mode}, ${n} Services…\n`);
    const net = node();
    const backend = createBackend(mode, net);
    const { input, endpoints } = objects(n);
    const t0 = performance.now();
    const stats = backend.sync(input);
    const full = performance.now() - t0;
    const rng = new SeededRng(1);
    const pipeline = new Pipeline({
      nodes: new Map([[NODE, net]]),
      resolve: (ip): Attachment | undefined => (endpoints.has(ip) || ip === CLIENT_IP ? { kind: 'pod', node: NODE, pod: `bench/${ip}`, dev: 'veth' } : ip === NODE_IP ? { kind: 'host', node: NODE } : undefined),
      rng,
    });
    // Sorted by name, svc-00000 is the first Service kube-proxy writes and the last is n-1.
    const first = lookups(pipeline, Array.from({ length: LOOKUPS }, () => 0));
    const last = lookups(pipeline, Array.from({ length: LOOKUPS }, () => n - 1));
    const random = lookups(pipeline, Array.from({ length: LOOKUPS }, () => rng.int(n)));
    const changed = objects(n, 1).input;
    const t1 = performance.now();
    const partial = backend.sync(changed, new Set(['bench/svc-00000']));
    const incremental = performance.now() - t1;
    const real = realCheck(mode, backend.render(backend.formats[0]!));
    rows.push([
      mode,
      String(n),
      `${full.toFixed(1)}ms`,
      String(stats.totalRules),
      real,
      `${first.toFixed(1)}µs`,
      `${last.toFixed(1)}µs`,
      `${random.toFixed(1)}µs`,
      `${incremental.toFixed(1)}ms${partial.full ? ' (full: no partial sync in this mode)' : ''}`,
    ]);
    backend.cleanup();
  }
}
process.stdout.write(`kube-proxy: ${SIZES.join(' / ')} Services × 3 endpoints, ${LOOKUPS} new connections per lookup figure\n`);
process.stdout.write(formatColumns(rows));
