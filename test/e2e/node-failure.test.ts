// Node failure end to end on topologies/quickstart.yaml (the data-plane issue, "Links and
// failures"): stopping a worker makes its pods stop answering at once; the node goes
// Ready=Unknown after node-monitor-grace-period (50 s, v1.32) and is tainted unreachable; after
// the eviction timeout (tolerationSeconds 300 from DefaultTolerationSeconds) its pods are evicted
// — Terminating while the kubelet is away, as in Kubernetes — and the web Deployment's
// replacements run on the other worker and answer real HTTP; starting the node again brings it
// Ready, lifts the taints and lets the kubelet finish the evicted pods. Then: a node that starts
// `down: true`, the eviction timeout from the Cluster document, and `podnet node stop|start`
// against a running `podnet up`.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import { ManualClock } from '../../lib/core/clock.js';
import { Cluster } from '../../lib/cluster.js';
import { parseTopology } from '../../lib/topology/load.js';
import { parseClusterDocument } from '../../lib/topology/cluster.js';
import type { Node, Pod } from '../../lib/api/types.js';
import { main } from '../../lib/cli/main.js';
import { RestClient } from '../../lib/client/rest.js';
import { loadClientConfig } from '../../lib/kubeconfig/kubeconfig.js';
import { httpGet } from '../helpers/http.js';
import { startPodnetUp } from '../helpers/podnet-up.js';


async function quickstart(t: { teardown(fn: () => unknown): void }, edit: (text: string) => string = (x) => x) {
  const clock = new ManualClock();
  const text = edit(readFileSync('topologies/quickstart.yaml', 'utf8'));
  const cluster = await Cluster.fromTopology(parseTopology(text, 'quickstart.yaml'), { clock, dropTimeoutMs: 50 });
  t.teardown(() => cluster.stop());
  /** Moves the cluster clock in 5 s steps (the node monitor period), letting everything react. */
  const advance = async (ms: number) => {
    for (let done = 0; done < ms; done += 5000) {
      clock.advance(Math.min(5000, ms - done));
      await cluster.settle();
    }
  };
  const pods = () => cluster.list('pods', { namespace: 'default' }) as Pod[];
  const node = (name: string) => cluster.get('nodes', name) as Node;
  const ready = (name: string) => node(name).status!.conditions!.find((c) => c.type === 'Ready')!;
  const client = pods().find((p) => p.metadata.name === 'client')!;
  const origin = { kind: 'pod' as const, node: client.spec.nodeName!, pod: 'default/client' };
  return { cluster, clock, advance, pods, node, ready, client, origin };
}

t.test('a stopped worker: its pods stop answering, it goes NotReady, its pods are evicted and replaced', async (t) => {
  const q = await quickstart(t);
  const web = q.pods().filter((p) => p.metadata.labels?.app === 'web');
  const victim = web.map((p) => p.spec.nodeName!).find((n) => n !== q.client.spec.nodeName)!;
  const survivor = q.client.spec.nodeName!;
  t.ok(victim, `a web pod runs on ${victim}, away from the client on ${survivor}`);
  const lost = web.filter((p) => p.spec.nodeName === victim);

  t.same(await q.cluster.stopNode(victim), { node: victim, state: 'stopped', changed: true });
  for (const pod of lost) {
    const dial = q.cluster.dataplane.dialTcp(q.origin, pod.status!.podIP!, 8080);
    q.clock.advance(50);
    await t.rejects(dial, { code: 'PODNET_FLOW_FAILED', message: /^ETIMEDOUT: .*\(node down\)$/ }, `${pod.metadata.name} no longer answers (the VTEP is dead)`);
  }
  const toNode = q.cluster.dataplane.dialTcp(q.origin, q.cluster.dataplane.hostIP(victim)!, 10248);
  q.clock.advance(50);
  await t.rejects(toNode, { message: /^EHOSTUNREACH: .*no ARP reply/ }, "the node's own address: no ARP reply, EHOSTUNREACH");
  await t.rejects(q.cluster.dataplane.dialTcp({ kind: 'pod', node: victim, pod: `default/${lost[0]!.metadata.name}` }, q.client.status!.podIP!, 8080), {
    code: 'PODNET_NODE_DOWN',
    message: `node ${victim} is down: nothing on it can open a connection`,
  });
  t.equal(q.ready(victim).status, 'True', 'the control plane has not noticed yet');

  await q.advance(55_000);
  t.match(q.ready(victim), { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' });
  for (const pod of lost) {
    t.match(q.cluster.get('pods', pod.metadata.name!, 'default')!.status!.conditions!.find((c: { type: string }) => c.type === 'Ready'), { status: 'False' }, `${pod.metadata.name} is marked not ready`);
  }
  const slices = q.cluster.list('endpointslices', { namespace: 'default', labelSelector: 'kubernetes.io/service-name=web' });
  const endpoints = slices.flatMap((s) => s.endpoints as { addresses: string[]; conditions: { ready: boolean } }[]);
  for (const pod of lost) t.match(endpoints.find((e) => e.addresses.includes(pod.status!.podIP!)), { conditions: { ready: false } }, 'its endpoint is not ready');
  await q.advance(5_000);
  const unreachable = q.node(victim).spec.taints!.filter((x) => x.key === 'node.kubernetes.io/unreachable');
  t.match(unreachable, [
    { effect: 'NoSchedule', timeAdded: /Z$/ },
    { effect: 'NoExecute', timeAdded: /Z$/ },
  ]);
  // tolerationSeconds count from when the taint eviction controller saw the NoExecute taint.
  const tainted = Date.parse(unreachable[1]!.timeAdded!);
  await q.advance(tainted + 295_000 - q.clock.now());
  t.notOk(q.cluster.get('pods', lost[0]!.metadata.name!, 'default')!.metadata.deletionTimestamp, 'not evicted before tolerationSeconds (300 s)');
  await q.advance(10_000);
  for (const pod of lost) {
    const now = q.cluster.get('pods', pod.metadata.name!, 'default') as Pod;
    t.ok(now.metadata.deletionTimestamp, `${pod.metadata.name} evicted: Terminating, its kubelet is not there to finish it`);
    t.match(now.status!.conditions!.find((c) => c.type === 'DisruptionTarget'), { status: 'True', reason: 'DeletionByTaintManager' });
  }
  const running = q.pods().filter((p) => p.metadata.labels?.app === 'web' && !p.metadata.deletionTimestamp);
  t.equal(running.length, 3, 'the ReplicaSet replaced them: terminating pods do not count');
  for (const pod of running) {
    t.not(pod.spec.nodeName, victim, `${pod.metadata.name} is not on the dead node`);
    t.equal(pod.status?.phase, 'Running');
    const { socket } = await q.cluster.dataplane.dialTcp(q.origin, pod.status!.podIP!, 8080);
    t.equal((await httpGet(socket, '/hostname')).body, pod.metadata.name, `${pod.metadata.name} answers HTTP`);
  }

  t.same(await q.cluster.startNode(victim), { node: victim, state: 'running', changed: true });
  t.match(q.ready(victim), { status: 'True', reason: 'KubeletReady' }, 'the kubelet posts Ready as it starts');
  for (const pod of lost) t.notOk(q.cluster.get('pods', pod.metadata.name!, 'default'), `${pod.metadata.name} finished terminating once its kubelet was back`);
  await q.advance(5_000);
  t.same((q.node(victim).spec.taints ?? []).filter((x) => x.key.startsWith('node.kubernetes.io/')), [], 'the taints are lifted at the next pass');
  t.equal(q.pods().filter((p) => p.metadata.labels?.app === 'web').length, 3);
});

t.test('a node that comes back before the eviction timeout keeps its pods, which answer again', async (t) => {
  const q = await quickstart(t);
  const far = q.pods().find((p) => p.metadata.labels?.app === 'web' && p.spec.nodeName !== q.client.spec.nodeName)!;
  await q.cluster.stopNode(far.spec.nodeName!);
  await q.advance(120_000);
  t.equal(q.ready(far.spec.nodeName!).status, 'Unknown');
  await q.cluster.startNode(far.spec.nodeName!);
  await q.advance(5_000);
  const same = q.cluster.get('pods', far.metadata.name!, 'default') as Pod;
  t.equal(same.metadata.uid, far.metadata.uid, 'the same pod');
  t.notOk(same.metadata.deletionTimestamp, 'not evicted');
  t.equal(same.status!.podIP, far.status!.podIP, 'its IP is kept');
  const { socket } = await q.cluster.dataplane.dialTcp(q.origin, far.status!.podIP!, 8080);
  t.equal((await httpGet(socket, '/hostname')).body, far.metadata.name, 'and it answers again');
  // The node controller marked it Ready=False while the node was away; the kubelet, back, reports
  // what it sees again (its status manager puts back a status someone else rewrote).
  t.match(same.status!.conditions!.find((c) => c.type === 'Ready'), { status: 'True' }, 'Ready again');
});

t.test('the Cluster document: a node that starts down, and the eviction timeout', async (t) => {
  const q = await quickstart(t, (text) =>
    text.replace('    - name: worker2\n      role: worker\n', '    - name: worker2\n      role: worker\n      down: true\n').replace('  kubeProxy:', '  nodeLifecycle:\n    evictionTimeoutSeconds: 30\n  kubeProxy:'),
  );
  t.match(q.ready('worker2'), { status: 'Unknown', reason: 'NodeStatusUnknown' }, 'down from the start');
  t.match(q.node('worker2').spec.taints, [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]);
  t.same(
    q.pods().map((p) => p.spec.nodeName),
    q.pods().map(() => 'worker'),
    'nothing was scheduled on it',
  );
  t.match(q.pods()[0]!.spec.tolerations, [{ key: 'node.kubernetes.io/not-ready', tolerationSeconds: 30 }, { key: 'node.kubernetes.io/unreachable', tolerationSeconds: 30 }], 'evictionTimeoutSeconds sets the default tolerations');
  t.same(q.cluster.nodePowerStates(), [
    { node: 'control-plane', state: 'running', changed: false },
    { node: 'worker', state: 'running', changed: false },
    { node: 'worker2', state: 'stopped', changed: false },
  ]);
  await q.cluster.startNode('worker2');
  await q.advance(5_000);
  t.match(q.ready('worker2'), { status: 'True' });
  t.same((q.node('worker2').spec.taints ?? []).filter((x) => x.key.startsWith('node.kubernetes.io/')), []);
  await t.rejects(q.cluster.stopNode('nope'), { code: 'PODNET_NOT_FOUND', message: 'nodes "nope" not found' });
  const parse = (spec: Record<string, unknown>) => () => parseClusterDocument({ apiVersion: 'podnet.dev/v1alpha1', kind: 'Cluster', spec });
  t.throws(parse({ nodeLifecycle: { evictionTimeoutSeconds: -1 } }), { code: 'PODNET_TOPOLOGY_INVALID', message: /spec\.nodeLifecycle\.evictionTimeoutSeconds: Invalid value: -1: must be a whole number of seconds, 0 or more/ });
  t.throws(parse({ nodeLifecycle: { nodeMonitorGracePeriodSeconds: 0.5 } }), { message: /spec\.nodeLifecycle\.nodeMonitorGracePeriodSeconds: Invalid value: 0\.5: must be a whole number of seconds, at least 1/ });
  t.throws(parse({ nodeLifecycle: { podEvictionTimeout: '5m' } }), { message: /spec\.nodeLifecycle\.podEvictionTimeout: Not found: unknown field "podEvictionTimeout"; known fields: nodeMonitorGracePeriodSeconds, evictionTimeoutSeconds/ });
  t.throws(parse({ nodes: [{ name: 'a', down: 'yes' }] }), { message: /spec\.nodes\[0\]\.down: Invalid value: "yes": must be true or false/ });
});

const built = existsSync('dist/lib/cli/node.js');

t.test('podnet node stop|start against a running podnet up', { skip: built ? false : 'dist is not built (npm run build)' }, async (t) => {
  const { kubeconfig } = await startPodnetUp(t);
  const run = async (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await main(args, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
    return { code, stdout, stderr };
  };
  const pods = JSON.parse((await run('get', 'pods', '-o', 'json', '--kubeconfig', kubeconfig)).stdout).items as Pod[];
  const web = pods.find((p) => p.metadata.labels?.app === 'web' && p.spec.nodeName === 'worker2')!;
  const address = JSON.parse(web.metadata.annotations!['podnet.dev/host-addresses']!)[`${web.status!.podIP}:8080/TCP`] as string;
  const [host, port] = address.split(':') as [string, string];
  const connect = () =>
    new Promise<string>((resolve) => {
      const s = net.connect({ host, port: Number(port) }, () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
  t.equal(await connect(), 'connected', `the web pod on worker2 listens at ${address}`);

  t.same(await run('node', 'stop', 'worker2', '--kubeconfig', kubeconfig), { code: 0, stdout: 'node/worker2 stopped\n', stderr: '' });
  t.equal(await connect(), 'ECONNREFUSED', "the stopped node's pod no longer listens");
  t.same(await run('node', 'stop', 'worker2', '--kubeconfig', kubeconfig), { code: 0, stdout: 'node/worker2 already stopped\n', stderr: '' });
  t.same(await run('node', 'stop', 'nope', '--kubeconfig', kubeconfig), { code: 1, stdout: '', stderr: 'error: nodes "nope" not found\n' });
  const client = new RestClient(loadClientConfig({ kubeconfig }));
  t.match(await client.request('POST', '/apis/podnet.dev/v1alpha1/nodes/nope/stop').catch((e: unknown) => e), {
    status: { kind: 'Status', status: 'Failure', code: 404, reason: 'NotFound', message: 'nodes "nope" not found' },
  });
  t.match(await client.request('GET', '/apis/podnet.dev/v1alpha1/nodes'), {
    kind: 'NodePowerList',
    items: [
      { metadata: { name: 'control-plane' }, status: { state: 'running' } },
      { metadata: { name: 'worker' }, status: { state: 'running' } },
      { metadata: { name: 'worker2' }, status: { state: 'stopped' } },
    ],
  });
  t.match(await client.request('GET', '/apis/podnet.dev/v1alpha1/nodes/worker2/stop').catch((e: unknown) => e), { status: { code: 405, reason: 'MethodNotAllowed' } });
  t.same(await run('node', 'start', 'worker2', '--kubeconfig', kubeconfig), { code: 0, stdout: 'node/worker2 started\n', stderr: '' });
  const after = JSON.parse((await run('get', 'pods', web.metadata.name!, '-o', 'json', '--kubeconfig', kubeconfig)).stdout) as Pod;
  const again = JSON.parse(after.metadata.annotations!['podnet.dev/host-addresses']!)[`${web.status!.podIP}:8080/TCP`] as string;
  const [host2, port2] = again.split(':') as [string, string];
  const reconnect = await new Promise<string>((resolve) => {
    const s = net.connect({ host: host2, port: Number(port2) }, () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
  t.equal(reconnect, 'connected', 'started again: the kubelet runs the pod again');
});
