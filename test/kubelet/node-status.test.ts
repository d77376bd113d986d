// The kubelet's node heartbeat and healthz (lib/kubelet/node-status.ts), on a one-node cluster
// driven by a ManualClock:
// - the Lease kube-node-lease/<node> (pkg/kubelet/nodelease: holderIdentity, leaseDurationSeconds
//   40, renewed every 40 × 0.25 = 10 s, owned by the Node), renewTime as a metav1.MicroTime;
// - the Node status (pkg/kubelet/kubelet_node_status.go): KubeletReady "kubelet is posting ready
//   status", posted when something changed or every nodeStatusReportFrequency (5 min);
// - healthz on 10248 of the node's loopback address, published in podnet.dev/host-addresses, and
//   reached from the host with curl and from a pod at the node's IP through the data plane.
import t from 'tap';
import http from 'node:http';
import { spawnSync, execFile } from 'node:child_process';
import { Cluster } from '../../lib/cluster.js';
import { ManualClock } from '../../lib/core/clock.js';
import { parseClusterDocument } from '../../lib/topology/cluster.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { Node } from '../../lib/api/types.js';

const NODE = 'podnet-control-plane';

async function cluster(t: { teardown(fn: () => unknown): void }, objects: KubeObject[] = []) {
  const clock = new ManualClock();
  const spec = parseClusterDocument({ apiVersion: 'podnet.dev/v1alpha1', kind: 'Cluster', metadata: { name: 'podnet' }, spec: { nodes: [{ role: 'control-plane', schedulable: true }] } });
  const c = await Cluster.fromObjects(objects, spec, { clock, dropTimeoutMs: 50 });
  t.teardown(() => c.stop());
  /** Moves the clock in one-second steps, letting every controller react after each. */
  const advance = async (ms: number) => {
    for (let done = 0; done < ms; done += 1000) {
      clock.advance(Math.min(1000, ms - done));
      await c.settle();
    }
  };
  return { c, clock, advance };
}

const lease = (c: Cluster) => c.get('leases.coordination.k8s.io', NODE, 'kube-node-lease') as KubeObject & { spec: Record<string, unknown> };
const ready = (c: Cluster) => (c.get('nodes', NODE) as Node).status!.conditions!.find((x) => x.type === 'Ready')!;

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

t.test('the kubelet holds a Lease in kube-node-lease and renews it every 10 s', async (t) => {
  const { c, clock, advance } = await cluster(t);
  const node = c.get('nodes', NODE)!;
  const first = lease(c);
  t.match(first, {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: NODE, namespace: 'kube-node-lease', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: node.metadata.uid }] },
    spec: { holderIdentity: NODE, leaseDurationSeconds: 40 },
  });
  t.equal(first.spec.renewTime, new Date(clock.now()).toISOString().replace('.000Z', '.000000Z'), 'renewTime is a MicroTime (six fractional digits)');
  await advance(9000);
  t.equal(lease(c).spec.renewTime, first.spec.renewTime, 'not renewed before 10 s');
  await advance(1000);
  t.equal(Date.parse(lease(c).spec.renewTime as string) - Date.parse(first.spec.renewTime as string), 10_000, 'renewed at 10 s');
  await advance(30_000);
  t.equal(Date.parse(lease(c).spec.renewTime as string) - Date.parse(first.spec.renewTime as string), 40_000, 'and every 10 s after');
});

t.test('a ManualClock moved ten minutes at once: the lease was renewed all along, the node is still Ready', async (t) => {
  const { c, clock } = await cluster(t);
  clock.advance(600_000);
  await c.settle();
  t.equal(Date.parse(lease(c).spec.renewTime as string), clock.now(), 'renewed at the last 10 s mark');
  t.equal(ready(c).status, 'True');
  t.same((c.get('nodes', NODE) as Node).spec.taints ?? [], []);
});

t.test('Ready is KubeletReady; an unchanged status is posted again only after 5 minutes', async (t) => {
  const { c, clock, advance } = await cluster(t);
  const start = ready(c);
  t.match(start, { status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' });
  t.match((c.get('nodes', NODE) as Node).status, { daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } });
  await advance(60_000);
  t.equal(ready(c).lastHeartbeatTime, start.lastHeartbeatTime, 'nothing changed: no post within nodeStatusReportFrequency');
  await advance(240_000);
  t.equal(Date.parse(ready(c).lastHeartbeatTime!), clock.now(), 'posted again at 5 minutes, heartbeat now');
  t.equal(ready(c).lastTransitionTime, start.lastTransitionTime, 'no transition');
});

t.test('a node the control plane marked Unknown is Ready again at the next status tick', async (t) => {
  const { c, clock, advance } = await cluster(t);
  const node = c.get('nodes', NODE) as Node;
  const conditions = node.status!.conditions!.map((x) => (x.type === 'Ready' ? { ...x, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' } : x));
  c.store.update({ ...node, status: { ...node.status, conditions } } as KubeObject, { subresource: 'status' });
  await advance(10_000);
  t.match(ready(c), { status: 'True', reason: 'KubeletReady' });
  t.equal(Date.parse(ready(c).lastTransitionTime!), clock.now(), 'the transition is stamped');
  const events = c.list('events', { namespace: 'default' }).filter((e) => e.reason === 'NodeReady');
  t.match(events, [{ involvedObject: { kind: 'Node', name: NODE }, message: `Node ${NODE} status is now: NodeReady`, source: { component: 'kubelet' } }]);
});

const curlMissing = spawnSync('curl', ['--version']).error ? 'curl not found on PATH (.ci/run installs it)' : false;

t.test('healthz answers ok on the node; host-addresses says where; curl from the host reaches it', { skip: curlMissing }, async (t) => {
  const { c } = await cluster(t);
  const node = c.get('nodes', NODE) as Node;
  const map = JSON.parse(node.metadata.annotations!['podnet.dev/host-addresses']!) as Record<string, string>;
  t.same(Object.keys(map), ['172.18.0.2:10248/TCP']);
  // 10248 itself when free; another test process may hold it on the same loopback address.
  t.match(map['172.18.0.2:10248/TCP'], /^127\.18\.0\.2:\d+$/, "the node's loopback address");
  const curl = await new Promise<{ code: number; out: string }>((resolve) =>
    execFile('curl', ['-s', '--max-time', '5', `http://${map['172.18.0.2:10248/TCP']}/healthz`], (err, out) => resolve({ code: err ? 1 : 0, out })),
  );
  t.same(curl, { code: 0, out: 'ok' });
  t.match(await httpGet(`http://${map['172.18.0.2:10248/TCP']}/healthz?verbose`), { status: 200, body: /\[\+\]ping ok\n.*healthz check passed\n$/s });
  t.same(await httpGet(`http://${map['172.18.0.2:10248/TCP']}/metrics`), { status: 404, body: '404 page not found\n' });
});

t.test('a pod reaches the kubelet healthz at the node IP through the data plane', async (t) => {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'client', namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'curlimages/curl:8.11.0', command: ['sleep', 'infinity'] }] },
  };
  const { c } = await cluster(t, [pod]);
  const { socket, decision } = await c.dataplane.dialTcp({ kind: 'pod', node: NODE, pod: 'default/client' }, '172.18.0.2', 10248);
  t.match(decision, { verdict: 'ACCEPT', destination: { kind: 'host', node: NODE } });
  const reply = await new Promise<string>((resolve) => {
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (raw += d));
    socket.on('end', () => resolve(raw));
    socket.write('GET /healthz HTTP/1.1\r\nHost: kubelet\r\nConnection: close\r\n\r\n');
  });
  t.match(reply, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
  await t.rejects(c.dataplane.dialTcp({ kind: 'pod', node: NODE, pod: 'default/client' }, '172.18.0.2', 10256), { message: /^ECONNREFUSED/ }, "kube-proxy's healthz is not served yet");
});

t.test('a stopped node renews nothing and its healthz listener is closed', async (t) => {
  const { c, advance } = await cluster(t);
  const healthz = () => JSON.parse((c.get('nodes', NODE) as Node).metadata.annotations!['podnet.dev/host-addresses']!)['172.18.0.2:10248/TCP'] as string;
  const address = healthz();
  t.equal((await httpGet(`http://${address}/healthz`)).body, 'ok');
  const renewed = lease(c).spec.renewTime;
  t.same(await c.stopNode(NODE), { node: NODE, state: 'stopped', changed: true });
  await t.rejects(httpGet(`http://${address}/healthz`), { code: 'ECONNREFUSED' });
  await advance(30_000);
  t.equal(lease(c).spec.renewTime, renewed, 'the heartbeat stopped with the node');
  t.same(await c.stopNode(NODE), { node: NODE, state: 'stopped', changed: false }, 'stopping it again changes nothing');
  await c.startNode(NODE);
  t.equal((await httpGet(`http://${healthz()}/healthz`)).body, 'ok', 'started again: healthz answers');
  t.not(lease(c).spec.renewTime, renewed, 'and the lease is renewed');
});
