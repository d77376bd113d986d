// The kube-proxy agent (lib/kubeproxy/agent.ts) on a three-node cluster driven by a ManualClock:
// - syncs as upstream's proxiers schedule them (pkg/proxy/iptables/proxier.go syncProxyRules,
//   `tryPartialSync := !proxier.needFullSync`): the first sync is full, later ones are partial and
//   name only the Services that changed (ServiceChangeTracker / EndpointsChangeTracker); a
//   metadata-only write is no change; a change of the node's zone label forces a full sync
//   (OnTopologyChange: `proxier.needFullSync = true`); a failed sync leaves needFullSync set
//   (`defer func() { if !success { ... proxier.needFullSync = true } }`), so the next one is full;
// - the sync history is bounded at SYNC_HISTORY and each record is published on
//   `podnet:kube-proxy:sync`;
// - stale UDP conntrack entries (pkg/proxy/conntrack/cleanup.go CleanStaleEntries): a UDP flow
//   pinned to an endpoint whose pod is deleted is decided afresh, onto a live endpoint;
// - the Service health server (pkg/proxy/healthcheck/service_health.go hcHandler, checked as
//   healthcheck_test.go tHandler does) answered at nodeIP:healthCheckNodePort from a pod,
//   through the data plane.
import t from 'tap';
import { AGNHOST, startThreeNodes, threeNodeSpec } from './fixtures.js';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { Cluster } from '../../lib/cluster.js';
import { ManualClock } from '../../lib/core/clock.js';
import { PodnetError } from '../../lib/core/errors.js';
import { requireKind } from '../../lib/api/scheme.js';
import { ControllerManager } from '../../lib/controllers/controller.js';
import { NodeNetwork } from '../../lib/dataplane/node.js';
import { Conntrack } from '../../lib/dataplane/conntrack.js';
import { KubeProxyAgent, KUBE_PROXY_SYNC_CHANNEL, SYNC_HISTORY, type SyncRecord } from '../../lib/kubeproxy/agent.js';
import { createBackend, registerProxyMode, type ProxyMode } from '../../lib/kubeproxy/backend.js';
import '../../lib/kubeproxy/modes.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { ClusterSpec } from '../../lib/api/cluster.js';
import type { Pod, Service } from '../../lib/api/types.js';

const SERVICE = requireKind('v1', 'Service');
const NODE = requireKind('v1', 'Node');

function spec() {
  return threeNodeSpec('agent', 5);
}

type Test = { teardown(fn: () => unknown): void };

function start(t: Test, objects: KubeObject[] = []) {
  return startThreeNodes(t, 'agent', 5, objects);
}

function service(name: string, extra: Partial<Service['spec']> = {}): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...extra } } as Service;
}

function netexec(name: string, node: string, labels: Record<string, string>): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': node },
      containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080', '--udp-port=8081'], ports: [{ name: 'http', containerPort: 8080 }, { name: 'udp', containerPort: 8081, protocol: 'UDP' }] }],
    },
  } as Pod;
}

function client(node: string): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', namespace: 'default' }, spec: { nodeSelector: { 'kubernetes.io/hostname': node }, containers: [{ name: 'c', image: 'curlimages/curl:8.11.0', command: ['sleep', 'infinity'] }] } } as Pod;
}

/** The records after `seq`. */
const since = (history: readonly SyncRecord[], seq: number) => history.filter((r) => r.seq > seq);

t.test('the first sync is full; later syncs are partial and name only the Service that changed', async (t) => {
  const { cluster } = await start(t, [netexec('web-0', 'worker', { app: 'web' }), service('web', { selector: { app: 'web' } }), service('other', { selector: { app: 'other' } })]);
  for (const node of ['control-plane', 'worker', 'worker2']) {
    const history = cluster.kubeProxy(node)!.history;
    t.equal(history[0]?.seq, 1, `${node}: the history starts at 1`);
    t.equal(history[0]?.full, true, `${node}: the first sync is full`);
    t.same(history[0]?.services, [], `${node}: a full sync names no Services`);
    t.equal(history[0]?.error, undefined);
    for (const r of history.slice(1)) t.equal(r.full, false, `${node}: sync ${r.seq} is partial (${r.services.join(',')})`);
  }
  const proxy = cluster.kubeProxy('worker')!;

  let last = proxy.history.at(-1)!.seq;
  cluster.apply([service('extra')]);
  await cluster.settle();
  t.match(since(proxy.history, last), [{ full: false, services: ['default/extra'] }], 'a new Service: one partial sync of that Service');
  t.equal(since(proxy.history, last).length, 1);
  t.match(proxy.render(), /default\/extra:http has no endpoints/, 'and its rules are written');

  last = proxy.history.at(-1)!.seq;
  cluster.store.patch(SERVICE, 'default', 'other', 'merge', { spec: { ports: [{ name: 'http', port: 8081, targetPort: 8080 }] } });
  await cluster.settle();
  const syncs = since(proxy.history, last);
  t.ok(syncs.length >= 1, 'a spec change syncs');
  for (const r of syncs) t.match(r, { full: false, services: ['default/other'] }, `sync ${r.seq}: partial, default/other only`);

  last = proxy.history.at(-1)!.seq;
  cluster.delete('services', 'extra', 'default');
  await cluster.settle();
  t.match(since(proxy.history, last), [{ full: false, services: ['default/extra'] }], 'a deleted Service: one partial sync naming it');
  t.notMatch(proxy.render(), /default\/extra/, 'its rules are gone');
});

t.test('a metadata-only write does not sync; a node zone label change forces a full sync', async (t) => {
  const { cluster, clock } = await start(t, [service('web', { selector: { app: 'web' } })]);
  const proxy = cluster.kubeProxy('worker')!;
  const other = cluster.kubeProxy('worker2')!;
  const last = proxy.history.at(-1)!.seq;

  cluster.store.patch(SERVICE, 'default', 'web', 'merge', { metadata: { annotations: { 'example.com/owner': 'team-a' } } });
  await cluster.settle();
  t.same(since(proxy.history, last), [], 'an annotation on the Service: no sync');
  // The EndpointSlice controller copies the Service's labels onto its slices: neither write is a
  // change for kube-proxy (EndpointSliceCache.esInfoChanged compares endpoints and ports only).
  const sliceTier = () => (cluster.list('endpointslices', { namespace: 'default', labelSelector: 'kubernetes.io/service-name=web' })[0]!.metadata.labels ?? {})['tier'];
  cluster.store.patch(SERVICE, 'default', 'web', 'merge', { metadata: { labels: { tier: 'front' } } });
  await cluster.settle();
  t.equal(sliceTier(), 'front', 'the slice was rewritten with the label');
  t.same(since(proxy.history, last), [], 'a label on the Service (and so on its slice): no sync');

  // The kubelet posts the Node's status again after 5 minutes; that is no topology change either.
  const version = cluster.get('nodes', 'worker')!.metadata.resourceVersion;
  clock.advance(300_000);
  await cluster.settle();
  t.not(cluster.get('nodes', 'worker')!.metadata.resourceVersion, version, 'the Node was written');
  cluster.store.patch(NODE, undefined, 'worker', 'merge', { metadata: { labels: { 'example.com/rack': 'r1' } } });
  await cluster.settle();
  t.same(since(proxy.history, last), [], 'a Node status update and a non-topology label: no sync');

  const otherLast = other.history.at(-1)!.seq;
  cluster.store.patch(NODE, undefined, 'worker', 'merge', { metadata: { labels: { 'topology.kubernetes.io/zone': 'zone-c' } } });
  await cluster.settle();
  t.match(since(proxy.history, last), [{ full: true, services: [] }], 'the zone label of its own node: one full sync');
  t.same(since(other.history, otherLast), [], 'another node’s kube-proxy does not care');

  const after = proxy.history.at(-1)!.seq;
  cluster.apply([service('extra')]);
  await cluster.settle();
  t.match(since(proxy.history, after), [{ full: false, services: ['default/extra'] }], 'and the next change is partial again');
});

t.test('a stopped node runs no kube-proxy; started again, its new kube-proxy begins with a full sync', async (t) => {
  const { cluster } = await start(t, [service('web')]);
  const old = cluster.kubeProxy('worker2')!;
  cluster.apply([service('extra')]);
  await cluster.settle();
  t.ok(old.history.length >= 2, 'it had synced more than once');

  await cluster.stopNode('worker2');
  t.equal(cluster.kubeProxy('worker2'), undefined, 'no kube-proxy while the node is down');
  t.equal(cluster.nodeTable('worker2', 'kube-proxy'), 'kube-proxy on worker2 is not running (node stopped)\n');
  const seq = old.history.at(-1)!.seq;
  cluster.apply([service('while-down')]);
  await cluster.settle();
  t.equal(old.history.at(-1)!.seq, seq, 'the stopped agent no longer syncs');

  await cluster.startNode('worker2');
  const fresh = cluster.kubeProxy('worker2')!;
  t.not(fresh, old, 'a new kube-proxy');
  t.match(fresh.history, [{ seq: 1, full: true, services: [] }], 'whose first sync is full');
  t.match(fresh.render(), /default\/while-down:http has no endpoints/, 'and includes what changed while the node was down');
  t.match(cluster.nodeTable('worker2', 'kube-proxy'), /^1\s+iptables\s+full\s/m);
});

/** A backend that records what it is asked and fails on demand, over the real iptables backend. */
const FLAKY = 'podnet-test-flaky' as ProxyMode;
const flaky = { fail: false, calls: [] as (string[] | undefined)[] };
registerProxyMode(FLAKY, (node, options) => {
  const real = createBackend('iptables', node, options);
  return {
    mode: FLAKY,
    formats: real.formats,
    sync(input, changed) {
      flaky.calls.push(changed ? [...changed].sort() : undefined);
      if (flaky.fail) throw new PodnetError('PODNET_TEST_RESTORE_FAILED', 'iptables-restore: line 7 failed');
      return real.sync(input, changed);
    },
    cleanup: () => real.cleanup(),
    render: (format, options) => real.render(format, options),
  };
});

/** A second kube-proxy for `worker` in the flaky mode, on a node network of its own (the cluster's stays untouched). */
async function flakyAgent(t: Test, cluster: Cluster) {
  flaky.fail = false;
  flaky.calls = [];
  const manager = new ControllerManager({ store: cluster.store, clock: cluster.clock, rng: cluster.store.rng, cluster: cluster.spec, recorder: cluster.recorder });
  const agent = new KubeProxyAgent('worker', { network: new NodeNetwork('worker', new Conntrack(cluster.clock)), mode: FLAKY as ClusterSpec['kubeProxy']['mode'] });
  manager.add(agent);
  t.teardown(() => manager.stop());
  await manager.whenIdle();
  const settle = async () => {
    await cluster.settle();
    await manager.whenIdle();
  };
  return { agent, settle };
}

t.test('a failed sync is recorded with its error, retried after back-off, and the next sync is full', async (t) => {
  const { cluster, clock } = await start(t, [service('web')]);
  const { agent, settle } = await flakyAgent(t, cluster);
  t.equal(agent.mode, FLAKY);
  t.same(flaky.calls, [undefined], 'the backend was asked for a full sync first');

  cluster.apply([service('a')]);
  await settle();
  t.same(flaky.calls.at(-1), ['default/a'], 'then for a partial sync naming the changed Service');

  const published: (SyncRecord & { node: string })[] = [];
  const onSync = (m: unknown) => void published.push(m as SyncRecord & { node: string });
  diagnosticsChannel.subscribe(KUBE_PROXY_SYNC_CHANNEL, onSync);
  t.teardown(() => diagnosticsChannel.unsubscribe(KUBE_PROXY_SYNC_CHANNEL, onSync));

  flaky.fail = true;
  cluster.apply([service('b')]);
  await settle();
  const failed = agent.history.at(-1)!;
  t.match(failed, { full: false, services: ['default/b'], error: 'iptables-restore: line 7 failed' }, 'the failure is recorded with its error');
  t.equal(failed.rulesWritten, undefined, 'nothing was written');
  t.ok(published.some((m) => m.node === 'worker' && m.seq === failed.seq && m.error === failed.error), 'and published');
  t.notMatch(agent.render(), /default\/b/, 'the tables are as they were');

  const calls = flaky.calls.length;
  await settle();
  t.equal(flaky.calls.length, calls, 'no retry before the back-off has passed on the clock');

  flaky.fail = false;
  clock.advance(5); // client-go's rate limiter: 5 ms for the first failure
  await settle();
  t.same(flaky.calls.at(-1), undefined, 'the retry asks the backend for a full sync');
  t.match(agent.history.at(-1), { seq: failed.seq + 1, full: true, services: [] }, 'recorded as full');
  t.equal(agent.history.at(-1)!.error, undefined);
  t.match(agent.render(), /default\/b:http has no endpoints/, 'and the change that failed is in the tables now');

  cluster.apply([service('c')]);
  await settle();
  t.same(flaky.calls.at(-1), ['default/c'], 'after a good full sync, partial again');
});

t.test('a change arriving before the retry is synced in full, not partially', async (t) => {
  const { cluster } = await start(t);
  const { agent, settle } = await flakyAgent(t, cluster);
  flaky.fail = true;
  cluster.apply([service('a')]);
  await settle();
  t.match(agent.history.at(-1), { services: ['default/a'], error: /line 7 failed/ });
  flaky.fail = false;
  cluster.apply([service('b')]);
  await settle();
  t.same(flaky.calls.at(-1), undefined, 'full');
  t.match(agent.history.at(-1), { full: true, services: [] });
  t.match(agent.render(), /default\/a:http has no endpoints/);
  t.match(agent.render(), /default\/b:http has no endpoints/);
});

t.test(`the history keeps the last ${SYNC_HISTORY} syncs, each published on ${KUBE_PROXY_SYNC_CHANNEL}`, async (t) => {
  const { cluster } = await start(t);
  const proxy = cluster.kubeProxy('worker')!;
  const published: (SyncRecord & { node: string })[] = [];
  const onSync = (m: unknown) => void published.push(m as SyncRecord & { node: string });
  diagnosticsChannel.subscribe(KUBE_PROXY_SYNC_CHANNEL, onSync);
  t.teardown(() => diagnosticsChannel.unsubscribe(KUBE_PROXY_SYNC_CHANNEL, onSync));
  const first = proxy.history.at(-1)!.seq;
  const n = SYNC_HISTORY + 5;
  for (let i = 0; i < n; i++) {
    cluster.apply([service(`s${i}`)]);
    await cluster.settle();
  }
  const total = first + n;
  t.equal(proxy.history.length, SYNC_HISTORY, `${SYNC_HISTORY} records kept`);
  t.same(
    proxy.history.map((r) => r.seq),
    Array.from({ length: SYNC_HISTORY }, (_, i) => total - SYNC_HISTORY + 1 + i),
    'the newest ones, in order',
  );
  t.same(proxy.history.at(-1)!.services, [`default/s${n - 1}`]);
  const mine = published.filter((m) => m.node === 'worker');
  t.equal(mine.length, n, 'one message per sync of this node');
  t.same(
    mine.slice(-SYNC_HISTORY).map(({ node: _node, ...record }) => record),
    proxy.history.map((r) => ({ ...r })),
    'each message is the record as kept (plus the node)',
  );
  t.same(new Set(published.map((m) => m.node)), new Set(['control-plane', 'worker', 'worker2']), 'every node publishes');
  t.match(cluster.nodeTable('worker', 'kube-proxy'), new RegExp(`^${total}\\s+iptables\\s+partial\\s.*default/s${n - 1}`, 'm'), 'podnet get kube-proxy prints the same');
});

/** One UDP exchange from the client pod to the Service, from a fixed source port. */
async function udpHostname(cluster: Cluster, ip: string, sport: number): Promise<string> {
  const { reply } = await cluster.dataplane.exchangeUdp({ kind: 'pod', node: 'worker2', pod: 'default/client' }, ip, 81, 'hostname', { sport });
  return reply.toString();
}

t.test('a UDP flow pinned to an endpoint whose pod is deleted is sent to a live endpoint after the sync', async (t) => {
  const { cluster } = await start(t, [
    netexec('udp-a', 'worker', { app: 'udp' }),
    netexec('udp-b', 'worker2', { app: 'udp' }),
    client('worker2'),
    service('udp', { selector: { app: 'udp' }, ports: [{ name: 'dns', port: 81, targetPort: 8081, protocol: 'UDP' }] }),
  ]);
  const pods = cluster.list('pods', { labelSelector: 'app=udp' }) as Pod[];
  t.same(pods.map((p) => p.status?.phase), ['Running', 'Running'], 'both UDP endpoints run');
  const ip = (cluster.get('services', 'udp', 'default') as Service).spec.clusterIP!;
  const conntrack = cluster.dataplane.nodes.get('worker2')!.conntrack;

  const first = await udpHostname(cluster, ip, 41000);
  const pinned = pods.find((p) => p.metadata.name === first)!;
  const survivor = pods.find((p) => p.metadata.name !== first)!;
  t.ok(pinned, `the flow went to ${first}`);
  for (let i = 0; i < 5; i++) t.equal(await udpHostname(cluster, ip, 41000), first, 'conntrack keeps it there');
  const entry = () => conntrack.entries().find((e) => e.original.protocol === 'UDP' && e.original.sport === 41000 && e.original.dst === ip);
  t.equal(entry()?.reply.src, pinned.status!.podIP, 'the entry replies from the pinned endpoint');

  // Another flow pinned to the survivor: not stale, so it must stay.
  let keptSport = 0;
  for (let sport = 41001; sport < 41100 && !keptSport; sport++) if ((await udpHostname(cluster, ip, sport)) === survivor.metadata.name) keptSport = sport;
  t.ok(keptSport, `a flow from port ${keptSport} went to ${survivor.metadata.name}`);

  const proxy = cluster.kubeProxy('worker2')!;
  const last = proxy.history.at(-1)!.seq;
  cluster.delete('pods', pinned.metadata.name!, 'default', { gracePeriodSeconds: 0 });
  await cluster.settle();
  t.ok(since(proxy.history, last).some((r) => r.services.includes('default/udp')), 'kube-proxy synced the endpoint change');
  t.equal(entry(), undefined, 'the stale entry is gone');
  t.ok(conntrack.entries().some((e) => e.original.protocol === 'UDP' && e.original.sport === keptSport && e.reply.src === survivor.status!.podIP), 'the entry of the live endpoint is kept');

  t.equal(await udpHostname(cluster, ip, 41000), survivor.metadata.name, 'the same source port now reaches the live endpoint');
  t.equal(entry()?.reply.src, survivor.status!.podIP, 'and is pinned there');
});

t.test('a UDP flow pinned to an endpoint that leaves the Service (its pod still running) moves after the sync', async (t) => {
  // The pod keeps its IP and keeps answering: only kube-proxy's cleanup can move the flow, as on a
  // real node, where the entry would otherwise keep DNATing to it until it times out.
  const { cluster } = await start(t, [
    netexec('udp-a', 'worker', { app: 'udp' }),
    netexec('udp-b', 'worker2', { app: 'udp' }),
    client('worker2'),
    service('udp', { selector: { app: 'udp' }, ports: [{ name: 'dns', port: 81, targetPort: 8081, protocol: 'UDP' }] }),
  ]);
  const ip = (cluster.get('services', 'udp', 'default') as Service).spec.clusterIP!;
  const pods = cluster.list('pods', { labelSelector: 'app=udp' }) as Pod[];
  const first = await udpHostname(cluster, ip, 42000);
  const leaving = pods.find((p) => p.metadata.name === first)!;
  const staying = pods.find((p) => p.metadata.name !== first)!;
  const conntrack = cluster.dataplane.nodes.get('worker2')!.conntrack;
  const entry = () => conntrack.entries().find((e) => e.original.protocol === 'UDP' && e.original.sport === 42000 && e.original.dst === ip);
  t.equal(entry()?.reply.src, leaving.status!.podIP, `pinned to ${first}`);

  cluster.store.patch(requireKind('v1', 'Pod'), 'default', first, 'merge', { metadata: { labels: { app: 'elsewhere' } } });
  await cluster.settle();
  const direct = await cluster.dataplane.exchangeUdp({ kind: 'pod', node: 'worker2', pod: 'default/client' }, leaving.status!.podIP!, 8081, 'hostname');
  t.equal(direct.reply.toString(), first, `${first} still runs and answers at its own IP`);
  t.equal(entry(), undefined, 'the entry to the endpoint that left is deleted');
  t.equal(await udpHostname(cluster, ip, 42000), staying.metadata.name, 'the same source port now reaches the remaining endpoint');
});

/** One HTTP/1.1 GET over a data-plane socket, read raw to the end (bytes matter here). */
function rawGet(socket: Socket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: health\r\nConnection: close\r\n\r\n`);
  });
}

function parse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const at = raw.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = raw.slice(0, at).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)?.[1]), headers, body: raw.slice(at + 4) };
}

t.test('the health check node port answers as kube-proxy does, from a pod through the data plane', async (t) => {
  // The Service's name is the one of a real node's answer captured with nmap (a k3s node, kube-proxy
  // v1.28+): `Content-Length: 127`, `X-Load-Balancing-Endpoint-Weight: 1` and this exact body.
  const REAL_BODY = '{\n\t"service": {\n\t\t"namespace": "default",\n\t\t"name": "wp-nginx-service"\n\t},\n\t"localEndpoints": 1,\n\t"serviceProxyHealthy": true\n}';
  const { cluster } = await start(t, [
    netexec('wp-0', 'worker', { app: 'wp' }),
    client('worker2'),
    service('wp-nginx-service', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'wp' } }),
  ]);
  const svc = cluster.get('services', 'wp-nginx-service', 'default') as Service;
  const hc = svc.spec.healthCheckNodePort!;
  t.ok(hc >= 30000 && hc <= 32767, `healthCheckNodePort ${hc} allocated`);
  const origin = { kind: 'pod', node: 'worker2', pod: 'default/client' } as const;
  const ask = async (node: string) => {
    const { socket } = await cluster.dataplane.dialTcp(origin, cluster.dataplane.hostIP(node)!, hc);
    return parse(await rawGet(socket, '/healthz'));
  };

  const healthy = await ask('worker');
  t.equal(healthy.status, 200, 'a node with a ready local endpoint: 200');
  t.equal(healthy.body, REAL_BODY, 'the body, byte for byte (tabs, no trailing newline)');
  t.equal(healthy.headers['content-length'], '127');
  t.equal(healthy.headers['content-type'], 'application/json');
  t.equal(healthy.headers['x-content-type-options'], 'nosniff');
  t.equal(healthy.headers['x-load-balancing-endpoint-weight'], '1', 'the weight header (kubernetes#118999, v1.28)');

  for (const node of ['worker2', 'control-plane']) {
    const sick = await ask(node);
    t.equal(sick.status, 503, `${node} has no local endpoint: 503`);
    t.equal(sick.body, REAL_BODY.replace('"localEndpoints": 1', '"localEndpoints": 0'));
    t.equal(sick.headers['content-type'], 'application/json');
    t.equal(sick.headers['x-content-type-options'], 'nosniff');
    t.equal(sick.headers['x-load-balancing-endpoint-weight'], '0');
  }

  // The count follows the endpoints: a second pod on worker, then none there.
  cluster.apply([netexec('wp-1', 'worker', { app: 'wp' })]);
  await cluster.settle();
  t.match(await ask('worker'), { status: 200, body: /"localEndpoints": 2,/, headers: { 'x-load-balancing-endpoint-weight': '2' } }, 'two local endpoints');
  cluster.delete('pods', 'wp-0', 'default', { gracePeriodSeconds: 0 });
  cluster.delete('pods', 'wp-1', 'default', { gracePeriodSeconds: 0 });
  await cluster.settle();
  t.match(await ask('worker'), { status: 503, body: /"localEndpoints": 0,/ }, 'none left: 503');

  // externalTrafficPolicy Cluster needs no health check: the server goes away.
  cluster.store.patch(SERVICE, 'default', 'wp-nginx-service', 'merge', { spec: { externalTrafficPolicy: 'Cluster' } });
  await cluster.settle();
  t.equal((cluster.get('services', 'wp-nginx-service', 'default') as Service).spec.healthCheckNodePort, undefined, 'the API server released the port');
  await t.rejects(cluster.dataplane.dialTcp(origin, cluster.dataplane.hostIP('worker')!, hc), { code: 'PODNET_FLOW_FAILED', message: /ECONNREFUSED/ }, 'nothing answers there any more');
});
