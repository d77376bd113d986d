// The flow pipeline over nodes programmed as flannel programs them (flannel's vxlan and host-gw
// backends, "Backends" in flannel's docs): same-node and cross-node pod flows, flows to a node,
// unroutable addresses, link partitions, and hook handlers that rewrite a flow (DNAT) or drop it.
import t from 'tap';
import { formatTrace } from '../../lib/dataplane/pipeline.js';
import { PRIORITY } from '../../lib/dataplane/hooks.js';
import { vtepMac } from '../../plugins/flannel/daemon.js';
import type { LinkSpec } from '../../lib/api/cluster.js';
import { KIND_LEASES, flannelCluster } from '../kubeproxy/fixtures.js';

const PODS: Record<string, { node: string; pod: string }> = {
  '10.244.1.2': { node: 'worker', pod: 'default/client' },
  '10.244.1.3': { node: 'worker', pod: 'default/web-a' },
  '10.244.2.2': { node: 'worker2', pod: 'default/web-b' },
};

function cluster(backend: 'vxlan' | 'host-gw', links: LinkSpec[] = []) {
  return flannelCluster({ leases: KIND_LEASES, pods: PODS, backend, links });
}

const tcp = (src: string, dst: string, dport = 8080) => ({ protocol: 'TCP' as const, src, sport: 40000, dst, dport });

t.test('flannel vxlan programs the route, neighbour and FDB entries on every other node', async (t) => {
  const { nodes } = cluster('vxlan');
  const worker = nodes.get('worker')!;
  t.match(worker.formatRoutes(), '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink');
  t.match(worker.formatRoutes(), '10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1');
  t.match(worker.formatNeighbors(), `10.244.2.0 dev flannel.1 lladdr ${vtepMac('worker2')} PERMANENT`);
  t.match(worker.formatFdb(), `${vtepMac('worker2')} dev flannel.1 dst 172.18.0.4 self permanent`);
  t.equal(worker.interfaces.get('flannel.1')!.mtu, 1450, 'VXLAN MTU is the underlay MTU minus 50');
});

t.test('same-node pod to pod: PREROUTING, route to cni0, FORWARD, POSTROUTING, delivered', async (t) => {
  const { pipeline } = cluster('vxlan');
  const d = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.244.1.3'));
  t.equal(d.verdict, 'ACCEPT');
  t.match(d.destination, { kind: 'pod', pod: 'default/web-a', node: 'worker' });
  t.same(d.hops, ['worker']);
  t.notMatch(formatTrace(d), 'encap');
});

t.test('cross-node pod to pod over vxlan: both hops, encap and decap in the trace', async (t) => {
  const { pipeline, nodes } = cluster('vxlan');
  const d = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.244.2.2'));
  t.equal(d.verdict, 'ACCEPT');
  t.same(d.hops, ['worker', 'worker2']);
  t.match(d.destination, { pod: 'default/web-b' });
  const text = formatTrace(d);
  t.match(text, /worker\s+vxlan\s+encap\s+flannel\.1 vni 1: outer 172\.18\.0\.3 → 172\.18\.0\.4 udp\/8472/);
  t.match(text, /worker2\s+vxlan\s+decap/);
  t.equal(d.tuple.src, '10.244.1.2', 'pod-to-pod traffic keeps its source (no masquerade)');
  t.equal(nodes.get('worker')!.conntrack.entries().length, 1, 'conntrack entry on the first node');
  t.equal(nodes.get('worker2')!.conntrack.entries().length, 1, 'and on the second');
});

t.test('host-gw routes directly via the node address', async (t) => {
  const { pipeline, nodes } = cluster('host-gw');
  t.match(nodes.get('worker')!.formatRoutes(), '10.244.2.0/24 via 172.18.0.4 dev eth0');
  const d = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.244.2.2'));
  t.equal(d.verdict, 'ACCEPT');
  t.match(formatTrace(d), /route\s+forward\s+via 172\.18\.0\.4 dev eth0 → worker2/);
});

t.test('pod to a node address ends in INPUT on that node', async (t) => {
  const { pipeline } = cluster('vxlan');
  const d = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '172.18.0.4', 30080));
  t.equal(d.verdict, 'ACCEPT');
  t.same(d.destination, { kind: 'host', node: 'worker2' });
});

t.test('an address no route covers is rejected at once (EHOSTUNREACH)', async (t) => {
  const { pipeline } = cluster('vxlan');
  const d = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '192.0.2.7'));
  t.equal(d.verdict, 'REJECT');
  t.equal(d.reason, 'no route to host');
  const hole = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.244.2.99'));
  t.equal(hole.verdict, 'REJECT', 'a pod address nobody holds on the far bridge');
});

t.test('a partitioned link drops cross-node flows; same-node flows still pass', async (t) => {
  const { pipeline } = cluster('vxlan', [{ between: ['worker', 'worker2'], partitioned: true }]);
  const cross = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.244.2.2'));
  t.equal(cross.verdict, 'DROP');
  t.equal(cross.reason, 'link partitioned');
  const local = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.244.1.3'));
  t.equal(local.verdict, 'ACCEPT');
});

t.test('a 100% loss link loses every cross-node flow', async (t) => {
  const { pipeline } = cluster('vxlan', [{ between: ['worker', 'worker2'], lossPercent: 100 }]);
  for (let i = 0; i < 5; i++) {
    t.equal(pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.244.2.2')).reason, 'packet loss');
  }
});

t.test('hook handlers run in priority order and can DNAT or reject a flow', async (t) => {
  const { pipeline, nodes } = cluster('vxlan');
  const order: string[] = [];
  const worker = nodes.get('worker')!;
  worker.register('PREROUTING', {
    name: 'test/filter',
    priority: PRIORITY.filter,
    run: (ctx) => void order.push(`filter saw ${ctx.tuple.dst}`),
  });
  worker.register('PREROUTING', {
    name: 'test/dnat',
    priority: PRIORITY.dnat,
    run(ctx) {
      order.push('dnat');
      if (ctx.tuple.dst === '10.96.0.50') {
        ctx.trace({ table: 'nat', chain: 'KUBE-SERVICES', action: 'DNAT', detail: 'to 10.244.2.2:8080' });
        ctx.tuple = { ...ctx.tuple, dst: '10.244.2.2', dport: 8080 };
      }
    },
  });
  const d = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.96.0.50', 80));
  t.same(order, ['dnat', 'filter saw 10.244.2.2'], 'DNAT (-100) runs before filter (0), and routing sees the new destination');
  t.equal(d.verdict, 'ACCEPT');
  t.match(d.destination, { pod: 'default/web-b' });
  t.same(d.original.dst, '10.96.0.50');
  const [entry] = worker.conntrack.entries();
  t.match(worker.conntrack.format(), 'src=10.244.1.2 dst=10.96.0.50 sport=40000 dport=80 src=10.244.2.2 dst=10.244.1.2 sport=8080 dport=40000');
  t.ok(entry);
  worker.register('FORWARD', { name: 'test/reject', priority: PRIORITY.filter, run: () => ({ verdict: 'REJECT', reason: 'icmp-port-unreachable' }) });
  const rejected = pipeline.decide({ kind: 'pod', node: 'worker', pod: 'default/client' }, tcp('10.244.1.2', '10.244.1.3'));
  t.equal(rejected.verdict, 'REJECT');
  t.match(formatTrace(rejected), 'test/reject: icmp-port-unreachable');
});
