// Host access (lib/kubeproxy/host-access.ts): real loopback listeners that stand for each node's
// NodePorts, each load-balancer IP's ports and each node's healthCheckNodePort, and the Service's
// podnet.dev/host-addresses annotation that maps each virtual `ip:port/TCP` to its real address.
// On a three-node cluster driven by a ManualClock (nothing here waits on time):
// - listeners and annotation follow the Service: created for NodePort and LoadBalancer, gone when
//   the Service is deleted or turned into a ClusterIP;
// - a stopped node's NodePorts close and leave the annotation; started again, they come back;
// - a LoadBalancer IP is announced by one node, as MetalLB's L2 mode does; with
//   externalTrafficPolicy Local, by a node with a ready local endpoint (and by none without one);
// - a connection the node's rules REJECT (a NodePort without endpoints: kube-proxy's
//   KUBE-EXTERNAL-SERVICES "has no endpoints" REJECT) is reset at once;
// - bytes are carried, not parsed: a malformed HTTP request reaches the pod, whose server answers 400;
// - a listener that finishes opening after its Service is gone is closed, not leaked.
import t from 'tap';
import { AGNHOST, startThreeNodes, threeNodeSpec } from './fixtures.js';
import net from 'node:net';
import { Cluster } from '../../lib/cluster.js';
import { ManualClock } from '../../lib/core/clock.js';
import { SeededRng } from '../../lib/core/rng.js';
import { requireKind } from '../../lib/api/scheme.js';
import { ObjectStore } from '../../lib/apiserver/store.js';
import { ControllerManager } from '../../lib/controllers/controller.js';
import { EventRecorder } from '../../lib/controllers/events.js';
import { Dataplane } from '../../lib/dataplane/dataplane.js';
import { HostAccessController, type HostAccessEntry } from '../../lib/kubeproxy/host-access.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { Pod, Service } from '../../lib/api/types.js';

const SERVICE = requireKind('v1', 'Service');
const NODES = ['control-plane', 'worker', 'worker2'];

function spec() {
  return threeNodeSpec('host-access', 9);
}

type Test = { teardown(fn: () => unknown): void };

function start(t: Test, objects: KubeObject[]) {
  return startThreeNodes(t, 'host-access', 9, objects);
}

function netexec(name: string, node: string, labels: Record<string, string>): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: { nodeSelector: { 'kubernetes.io/hostname': node }, containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080'], ports: [{ name: 'http', containerPort: 8080 }] }] },
  } as Pod;
}

function service(name: string, extra: Partial<Service['spec']>): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port: 80, targetPort: 8080 }], ...extra } } as Service;
}

const WEB = [netexec('web-a', 'worker', { app: 'web' }), netexec('web-b', 'worker2', { app: 'web' })];

/** The Service's podnet.dev/host-addresses annotation, parsed (undefined without one). */
function annotation(cluster: Cluster, name: string): Record<string, string> | undefined {
  const text = (cluster.get('services', name, 'default') as Service).metadata.annotations?.['podnet.dev/host-addresses'];
  return text === undefined ? undefined : (JSON.parse(text) as Record<string, string>);
}

function mapOf(entries: HostAccessEntry[]): Record<string, string> {
  return Object.fromEntries(entries.map((e) => [e.virtual, e.real]));
}

function split(real: string): { host: string; port: number } {
  const i = real.lastIndexOf(':');
  return { host: real.slice(0, i), port: Number(real.slice(i + 1)) };
}

/** Sends raw bytes to a host address and reads until the peer closes; or the socket error. */
function exchange(real: string, bytes: string): Promise<{ data: string; error?: NodeJS.ErrnoException; connected: boolean }> {
  return new Promise((resolve) => {
    let data = '';
    let connected = false;
    const socket = net.connect(split(real));
    socket.setEncoding('latin1');
    socket.on('connect', () => {
      connected = true;
      socket.write(bytes);
    });
    socket.on('data', (d: string) => (data += d));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ data, error, connected }));
    socket.on('close', () => resolve({ data, connected }));
  });
}

/** GET `path` from the host through a host address: status and body. */
async function get(real: string, path: string): Promise<{ status: number; body: string }> {
  const { data, error } = await exchange(real, `GET ${path} HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n`);
  if (error) throw error;
  const at = data.indexOf('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1]), body: data.slice(at + 4) };
}

/** True when nothing listens at a host address any more. */
async function refused(real: string): Promise<boolean> {
  const { error, connected } = await exchange(real, '');
  return !connected && error?.code === 'ECONNREFUSED';
}

t.test('NodePort and LoadBalancer Services get listeners and the annotation; deleted or made ClusterIP, they lose them', async (t) => {
  const { cluster } = await start(t, [...WEB, service('np', { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] }), service('lb', { type: 'LoadBalancer', selector: { app: 'web' } })]);
  const nodes = cluster.spec.nodes;

  const np = cluster.hostAccess('default/np');
  t.same(
    np.map((e) => ({ virtual: e.virtual, node: e.node, kind: e.kind })),
    nodes.map((n) => ({ virtual: `${n.address}:30080/TCP`, node: n.name, kind: 'NodePort' })),
    'one NodePort listener per node, at the node IP and nodePort',
  );
  t.same(annotation(cluster, 'np'), mapOf(np), 'the annotation holds the same map');
  for (const e of np) {
    t.match(split(e.real).host, /^127\./, `${e.virtual} listens on loopback (${e.real})`);
    const r = await get(e.real, '/hostname');
    t.equal(r.status, 200, `${e.virtual} answers from the host`);
    t.ok(['web-a', 'web-b'].includes(r.body), `a web pod answered through ${e.node}: ${r.body}`);
  }

  const lbSvc = cluster.get('services', 'lb', 'default') as Service;
  const vip = lbSvc.status?.loadBalancer?.ingress?.[0]?.ip;
  const nodePort = lbSvc.spec.ports![0]!.nodePort;
  t.ok(vip && nodePort, `the LoadBalancer got ${vip} and nodePort ${nodePort}`);
  const lb = cluster.hostAccess('default/lb');
  t.same(
    lb.map((e) => ({ virtual: e.virtual, node: e.node, kind: e.kind })).sort((a, b) => a.virtual.localeCompare(b.virtual)),
    [...nodes.map((n) => ({ virtual: `${n.address}:${nodePort}/TCP`, node: n.name, kind: 'NodePort' })), { virtual: `${vip}:80/TCP`, node: 'control-plane', kind: 'LoadBalancer' }].sort((a, b) => a.virtual.localeCompare(b.virtual)),
    'its NodePorts, and the LB IP announced by the first node (Cluster policy)',
  );
  t.same(annotation(cluster, 'lb'), mapOf(lb));
  const vipReal = lb.find((e) => e.kind === 'LoadBalancer')!.real;
  t.not(split(vipReal).host, split(np[0]!.real).host, 'the LB IP has a loopback address of its own');
  t.equal((await get(vipReal, '/hostname')).status, 200, 'the LB IP answers from the host');

  cluster.store.patch(SERVICE, 'default', 'np', 'merge', { spec: { type: 'ClusterIP', ports: [{ port: 80, targetPort: 8080 }] } });
  await cluster.settle();
  t.same(cluster.hostAccess('default/np'), [], 'made ClusterIP: no listeners');
  t.equal(annotation(cluster, 'np'), undefined, 'and no annotation');
  for (const e of np) t.ok(await refused(e.real), `${e.real} is closed`);

  cluster.delete('services', 'lb', 'default');
  await cluster.settle();
  t.same(cluster.hostAccess('default/lb'), [], 'deleted: no listeners');
  for (const e of lb) t.ok(await refused(e.real), `${e.real} (${e.virtual}) is closed`);
  t.same(cluster.hostAccess(), [], 'nothing is left open');
});

t.test('a stopped node’s NodePorts close and leave the annotation; started again, they come back', async (t) => {
  // The node stopped runs no endpoint, so every other listener must keep answering.
  const { cluster } = await start(t, [
    ...WEB,
    service('np', { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] }),
    service('lb', { type: 'LoadBalancer', selector: { app: 'web' } }),
  ]);
  const stopped = cluster.spec.nodes.find((n) => n.name === 'control-plane')!;
  const key = `${stopped.address}:30080/TCP`;
  const before = cluster.hostAccess('default/np').find((e) => e.node === stopped.name)!;
  const vip = (cluster.get('services', 'lb', 'default') as Service).status!.loadBalancer!.ingress![0]!.ip!;
  const announcer = () => cluster.hostAccess('default/lb').find((e) => e.kind === 'LoadBalancer');
  t.ok(before, `${stopped.name} has a NodePort listener`);
  t.equal(announcer()?.node, stopped.name, `and announces ${vip} (the first node)`);

  await cluster.stopNode(stopped.name);
  t.same(cluster.hostAccess('default/np').map((e) => e.node), ['worker', 'worker2'], 'the listeners of the nodes still up');
  t.notOk(key in annotation(cluster, 'np')!, `${key} left the annotation`);
  t.same(annotation(cluster, 'np'), mapOf(cluster.hostAccess('default/np')));
  t.ok(await refused(before.real), `${before.real} is closed`);
  for (const e of cluster.hostAccess('default/np')) t.equal((await get(e.real, '/hostname')).status, 200, `${e.virtual} still answers`);
  t.equal(announcer()?.node, 'worker', `${vip} is announced by the next node up`);
  t.same(annotation(cluster, 'lb'), mapOf(cluster.hostAccess('default/lb')));
  t.equal((await get(announcer()!.real, '/hostname')).status, 200, 'and answers through it');

  await cluster.startNode(stopped.name);
  t.same(cluster.hostAccess('default/np').map((e) => e.node), NODES, 'every node listens again');
  t.ok(key in annotation(cluster, 'np')!, `${key} is back in the annotation`);
  t.same(annotation(cluster, 'np'), mapOf(cluster.hostAccess('default/np')));
  t.same(Object.keys(annotation(cluster, 'np')!), cluster.spec.nodes.map((n) => `${n.address}:30080/TCP`), 'in node order, as on a fresh start (not the order listeners reopened in)');
  const again = cluster.hostAccess('default/np').find((e) => e.node === stopped.name)!;
  t.equal((await get(again.real, '/hostname')).status, 200, `and answers through ${stopped.name}`);
  t.equal(announcer()?.node, stopped.name, `${vip} is announced by the first node again`);
});

t.test('externalTrafficPolicy Local: the LB IP is announced by a node with a ready local endpoint', async (t) => {
  const { cluster } = await start(t, [netexec('local-0', 'worker2', { app: 'local' }), service('local', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'local' } })]);
  const svc = cluster.get('services', 'local', 'default') as Service;
  const vip = svc.status!.loadBalancer!.ingress![0]!.ip!;
  const announced = () => cluster.hostAccess('default/local').filter((e) => e.kind === 'LoadBalancer');
  t.match(announced(), [{ virtual: `${vip}:80/TCP`, node: 'worker2' }], 'worker2, the node with the endpoint (not the first node)');
  t.equal(announced().length, 1);
  const hc = cluster.hostAccess('default/local').filter((e) => e.kind === 'HealthCheckNodePort');
  t.same(hc.map((e) => e.virtual), cluster.spec.nodes.map((n) => `${n.address}:${svc.spec.healthCheckNodePort}/TCP`), 'a health check listener per node');
  const r = await get(announced()[0]!.real, '/clientip');
  t.equal(r.status, 200);
  t.match(r.body, new RegExp(`^${cluster.dataplane.externalClient.replace(/\./g, '\\.')}:\\d+$`), 'the pod sees the outside client: no SNAT under Local');

  cluster.apply([netexec('local-1', 'worker', { app: 'local' })]);
  await cluster.settle();
  cluster.delete('pods', 'local-0', 'default', { gracePeriodSeconds: 0 });
  await cluster.settle();
  t.match(announced(), [{ virtual: `${vip}:80/TCP`, node: 'worker' }], 'the endpoint moved to worker: so did the announcement');
  t.same(annotation(cluster, 'local'), mapOf(cluster.hostAccess('default/local')));
  t.equal((await get(announced()[0]!.real, '/hostname')).body, 'local-1', 'and the LB IP reaches it');

  cluster.delete('pods', 'local-1', 'default', { gracePeriodSeconds: 0 });
  await cluster.settle();
  t.same(announced(), [], 'no ready endpoint anywhere: no node announces the IP');
  t.notOk(`${vip}:80/TCP` in annotation(cluster, 'local')!, 'and it leaves the annotation');
});

t.test('a connection the node’s rules reject is reset at once', async (t) => {
  // No pod matches: kube-proxy's filter rules REJECT the NodePort ("has no endpoints").
  const { cluster } = await start(t, [service('nothing', { type: 'NodePort', selector: { app: 'nothing' } })]);
  t.match(cluster.rules('worker'), /-A KUBE-EXTERNAL-SERVICES .*default\/nothing has no endpoints.* -j REJECT/, 'the REJECT rule is there');
  const entry = cluster.hostAccess('default/nothing').find((e) => e.node === 'worker')!;
  // The clock never moves in this test: a DROP would hang until it did; the reset comes by itself.
  const r = await exchange(entry.real, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  // ECONNRESET, not ECONNREFUSED: the listener accepted the connection, then reset it.
  t.equal(r.error?.code, 'ECONNRESET', 'the host connection is reset');
  t.equal(r.data, '', 'with nothing answered');
});

t.test('a malformed HTTP request from the host is carried to the pod, whose server answers 400', async (t) => {
  const { cluster } = await start(t, [...WEB, service('np', { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] })]);
  const entry = cluster.hostAccess('default/np').find((e) => e.node === 'worker')!;
  const r = await exchange(entry.real, 'GET / HTTP/1.1\r\nHost: web\r\nthis is not a header\r\n\r\n');
  t.equal(r.error, undefined, 'no reset: the bytes went through');
  t.match(r.data, /^HTTP\/1\.1 400 Bad Request\r\n/, 'the pod’s HTTP server answered 400');
  const garbage = await exchange(entry.real, '\x16\x03\x01\x00\xa5 not http at all\r\n\r\n');
  t.match(garbage.data, /^HTTP\/1\.1 400 Bad Request\r\n/, 'binary garbage too');
  t.equal((await get(entry.real, '/hostname')).status, 200, 'the listener goes on serving');
});

/** The controller alone, on a store of its own, so the order of events is ours to choose. */
function standalone(t: Test) {
  const clusterSpec = spec();
  const clock = new ManualClock();
  const store = new ObjectStore({ clock, rng: new SeededRng(1) });
  const dataplane = new Dataplane(clusterSpec, { clock });
  // Every listen that fails (EADDRINUSE when a port is opened twice) is noted.
  const failures: string[] = [];
  const listenTcp = dataplane.sockets.listenTcp.bind(dataplane.sockets);
  dataplane.sockets.listenTcp = (options) =>
    listenTcp(options).catch((e: unknown) => {
      failures.push(`${options.host}:${options.port}: ${(e as Error).message}`);
      throw e;
    });
  const manager = new ControllerManager({ store, clock, rng: store.rng, cluster: clusterSpec, recorder: new EventRecorder(store) });
  const controller = new HostAccessController({ dataplane, isUp: () => true });
  manager.add(controller);
  t.teardown(async () => {
    manager.stop();
    await dataplane.close();
  });
  store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  const np = () => service('np', { type: 'NodePort', clusterIP: '10.96.0.50', ports: [{ port: 80, targetPort: 8080, nodePort: 30090, protocol: 'TCP' }] });
  return { store, manager, controller, failures, np };
}

t.test('a listener that finishes opening after its Service is gone is closed, not leaked', async (t) => {
  const { store, manager, controller, failures, np } = standalone(t);
  store.create(np());
  manager.runUntilIdle(); // the reconcile starts opening the three listeners
  store.delete(SERVICE, 'default', 'np');
  manager.runUntilIdle(); // the Service is gone before they are open
  await manager.whenIdle();
  t.same(controller.entries(), [], 'no listener is kept for a Service that does not exist');

  store.create(np());
  await manager.whenIdle();
  t.same(controller.entries().map((e) => e.node), NODES, 'created again, it gets one listener per node: the ports were freed');
  t.same(failures, [], 'no listen failed');
});

t.test('an event while the listeners are opening does not open them a second time', async (t) => {
  const { store, manager, controller, failures, np } = standalone(t);
  store.create(np());
  manager.runUntilIdle();
  store.patch(SERVICE, 'default', 'np', 'merge', { metadata: { labels: { tier: 'front' } } });
  manager.runUntilIdle(); // a second reconcile of the same Service while the first one's opens are in flight
  await manager.whenIdle();
  t.same(failures, [], 'each port was opened once (no EADDRINUSE, no retry pending on the clock)');
  const entries = controller.entries();
  t.same(entries.map((e) => e.node), NODES);
  const published = JSON.parse((store.get(SERVICE, 'default', 'np') as Service).metadata.annotations!['podnet.dev/host-addresses']!) as Record<string, string>;
  t.same(published, mapOf(entries), 'the annotation is published');
});
