// Probes and container lifecycle as the kubelet runs them, on a real cluster with real sockets and
// a hand-driven clock. References (kubernetes.io, "Pod Lifecycle" and "Configure Liveness, Readiness
// and Startup Probes"; pkg/kubelet/prober, kuberuntime_manager.go, kubelet_pods.go getPhase):
// - "Container probes": readiness starts as Failure, liveness as Success; startup gates both;
//   httpGet succeeds for 200 <= status < 400; failureThreshold failures in a row flip the verdict.
// - "Container restarts": back-off 10s, 20s, 40s ... capped at 300s (CrashLoopBackOff meanwhile).
// - "Pod phase": Succeeded / Failed once all containers ended for good under the restartPolicy.
// - "Termination of Pods": SIGTERM, then SIGKILL after terminationGracePeriodSeconds; a terminating
//   endpoint stays serving (EndpointSlice conditions serving=true, terminating=true, ready=false).
import t from 'tap';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Cluster } from '../../lib/cluster.js';
import { ManualClock } from '../../lib/core/clock.js';
import { parseTopology } from '../../lib/topology/load.js';
import { toTable } from '../../lib/printers/printers.js';
import type { EndpointSlice, Pod } from '../../lib/api/types.js';
import type { KubeObject } from '../../lib/api/meta.js';
import { httpGet } from '../helpers/http.js';

const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';

async function cluster(t: { teardown(fn: () => unknown): void }) {
  const clock = new ManualClock();
  const c = await Cluster.fromTopology(parseTopology(readFileSync('topologies/quickstart.yaml', 'utf8'), 'quickstart.yaml'), { clock, dropTimeoutMs: 50 });
  t.teardown(() => c.stop());
  const advance = async (seconds: number) => {
    // One second at a time, letting the probes' real sockets answer in between.
    for (let i = 0; i < seconds; i++) {
      clock.advance(1000);
      await c.settle();
    }
  };
  return { c, clock, advance };
}

function pod(name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels }, spec: { nodeName: 'worker', ...spec } } as KubeObject;
}

const get = (c: Cluster, name: string) => c.get('pods', name, 'default') as Pod;
const statusOf = (p: Pod, container = 0) => (p.status!.containerStatuses as Record<string, any>[])[container]!;
const condition = (p: Pod, type: string) => p.status!.conditions!.find((x) => x.type === type);
const events = (c: Cluster, name: string) =>
  c
    .list('events', { namespace: 'default' })
    .filter((e: any) => e.involvedObject.name === name)
    .map((e: any) => `${e.reason}: ${e.message}`);


const client = { kind: 'pod' as const, node: 'worker', pod: 'default/client' };

t.test('readiness probe: not ready until initialDelaySeconds pass and the probe succeeds; readiness feeds the EndpointSlice', async (t) => {
  const { c, advance } = await cluster(t);
  c.apply([
    pod(
      'probed',
      {
        containers: [
          {
            name: 'netexec',
            image: AGNHOST,
            args: ['netexec', '--http-port=8080'],
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 5, periodSeconds: 2 },
          },
        ],
      },
      { app: 'web' },
    ),
  ]);
  await c.settle();
  let p = get(c, 'probed');
  t.equal(p.status!.phase, 'Running');
  t.equal(condition(p, 'Ready')!.status, 'False', 'readiness starts as Failure');
  t.equal(condition(p, 'Ready')!.message, 'containers with unready status: [netexec]');
  t.equal(statusOf(p).ready, false);
  t.equal(statusOf(p).started, true, 'no startup probe: started once running');
  const endpoint = () =>
    (c.list('endpointslices', { namespace: 'default' }) as EndpointSlice[]).flatMap((s) => s.endpoints).find((e) => e.targetRef?.name === 'probed');
  t.same(endpoint()?.conditions, { ready: false, serving: false, terminating: false }, 'the unready pod is listed, not ready');
  await advance(4);
  t.equal(condition(get(c, 'probed'), 'Ready')!.status, 'False', 'still inside initialDelaySeconds');
  await advance(1);
  p = get(c, 'probed');
  t.equal(condition(p, 'Ready')!.status, 'True', 'ready after the first successful probe');
  t.equal(statusOf(p).ready, true);
  t.same(endpoint()?.conditions, { ready: true, serving: true, terminating: false });
});

t.test('readiness probe failing: Unhealthy events with the kubelet wording; the pod stays unready', async (t) => {
  const { c, advance } = await cluster(t);
  c.apply([
    pod('notfound', {
      containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080'], readinessProbe: { httpGet: { path: '/echo?code=404', port: 8080 }, periodSeconds: 1 } }],
    }),
    pod('refused', {
      containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080'], readinessProbe: { tcpSocket: { port: 9999 }, periodSeconds: 1 } }],
    }),
  ]);
  await c.settle();
  await advance(3);
  t.equal(condition(get(c, 'notfound'), 'Ready')!.status, 'False');
  t.ok(events(c, 'notfound').includes('Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 404'), 'HTTP status in the event');
  const ip = get(c, 'refused').status!.podIP!;
  t.ok(events(c, 'refused').includes(`Unhealthy: Readiness probe failed: dial tcp ${ip}:9999: connect: connection refused`), 'dial error in the event');
  t.equal(statusOf(get(c, 'refused')).restartCount, 0, 'readiness failures never restart');
});

t.test('liveness probe failing: killed after failureThreshold, restarted, then CrashLoopBackOff with the growing back-off', async (t) => {
  const { c, advance } = await cluster(t);
  c.apply([
    pod('sick', {
      containers: [
        { name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080'], livenessProbe: { httpGet: { path: '/echo?code=500', port: 8080 }, periodSeconds: 1, failureThreshold: 2 } },
      ],
      terminationGracePeriodSeconds: 5,
    }),
  ]);
  await c.settle();
  // Probe at t=0 fails (1), t=1 fails (2): killed and restarted at once (the first restart has no back-off).
  await advance(1);
  let p = get(c, 'sick');
  t.equal(statusOf(p).restartCount, 1, 'restarted once');
  t.equal(statusOf(p).lastState.terminated.reason, 'Error');
  t.equal(statusOf(p).lastState.terminated.exitCode, 143, 'netexec has no SIGTERM handler: the signal ends it');
  t.ok(statusOf(p).state.running, 'running again');
  const ev = events(c, 'sick');
  t.ok(ev.includes('Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 500'));
  t.ok(ev.includes('Killing: Container netexec failed liveness probe, will be restarted'));
  // The second failure lands inside the 10s back-off: CrashLoopBackOff.
  await advance(1);
  p = get(c, 'sick');
  t.equal(statusOf(p).state.waiting?.reason, 'CrashLoopBackOff');
  t.match(statusOf(p).state.waiting.message, /^back-off 10s restarting failed container=netexec pod=sick_default\(.+\)$/);
  t.equal(p.status!.phase, 'Running', 'a pod restarting its containers is Running');
  t.equal(condition(p, 'Ready')!.status, 'False');
  t.ok(events(c, 'sick').some((e) => /^BackOff: Back-off restarting failed container netexec in pod sick_default/.test(e)));
  await advance(10);
  p = get(c, 'sick');
  t.equal(statusOf(p).restartCount, 2, 'restarted after 10s');
  await advance(2);
  t.match(statusOf(get(c, 'sick')).state.waiting?.message ?? '', /^back-off 20s /, 'the back-off doubles');
  // kubectl get pods: STATUS is the waiting reason, RESTARTS counts with the time since the last one.
  const row = toTable(c.resolveKind('pods'), [get(c, 'sick')], c.clock.now()).rows[0]!.cells;
  // Two restarts so far (t=1s, t=12s); the third crash waits out its back-off.
  t.same(row.slice(0, 4), ['sick', '0/1', 'CrashLoopBackOff', '2 (1s ago)']);
});

t.test('startup probe gates liveness and readiness; exec probes run a built-in command in the container', async (t) => {
  const { c, advance } = await cluster(t);
  c.apply([
    pod('slow', {
      containers: [
        {
          name: 'netexec',
          image: AGNHOST,
          args: ['netexec', '--http-port=8080'],
          startupProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 3, periodSeconds: 1 },
          readinessProbe: { exec: { command: ['/agnhost', 'connect', 'localhost:8080', '--timeout=1s'] }, periodSeconds: 1 },
        },
      ],
    }),
    pod('toolbox', {
      containers: [
        { name: 'ok', image: 'busybox:1.36', command: ['sleep', 'infinity'], readinessProbe: { exec: { command: ['cat', '/etc/resolv.conf'] }, periodSeconds: 1 } },
        { name: 'missing', image: 'busybox:1.36', command: ['sleep', 'infinity'], readinessProbe: { exec: { command: ['curl', '-s', 'http://localhost'] }, periodSeconds: 1 } },
      ],
    }),
  ]);
  await c.settle();
  // exec probes run what `podnet exec` runs: busybox has cat, but no curl.
  const toolbox = get(c, 'toolbox');
  t.equal(statusOf(toolbox, 0).ready, true, 'cat /etc/resolv.conf exits 0 in busybox');
  t.equal(statusOf(toolbox, 1).ready, false, 'busybox has no curl');
  t.ok(events(c, 'toolbox').some((e) => e.startsWith('Unhealthy: Readiness probe failed: ') && /curl/.test(e)), 'the failure names the missing program');
  let p = get(c, 'slow');
  t.equal(statusOf(p).started, false, 'not started before the startup probe succeeds');
  t.equal(statusOf(p).ready, false);
  await advance(3);
  p = get(c, 'slow');
  t.equal(statusOf(p).started, true, 'started');
  t.equal(statusOf(p).ready, true, 'the exec readiness probe (agnhost connect to localhost) succeeded');
});

t.test('a container that exits is restarted under Always; run-to-completion pods end Succeeded or Failed and give their IP back', async (t) => {
  const { c, advance } = await cluster(t);
  c.apply([
    pod('exits', { containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080'] }] }),
    pod('done', { restartPolicy: 'Never', containers: [{ name: 'ok', image: 'busybox:1.36', command: ['true'] }] }),
    pod('broken', { restartPolicy: 'Never', containers: [{ name: 'fails', image: 'busybox:1.36', command: ['sh', '-c', 'false'] }] }),
    pod('retry', { restartPolicy: 'OnFailure', containers: [{ name: 'ok', image: 'busybox:1.36', command: ['true'] }] }),
  ]);
  await c.settle();
  const ip = get(c, 'exits').status!.podIP!;
  const { socket } = await c.dataplane.dialTcp(client, ip, 8080);
  await httpGet(socket, '/exit?code=3');
  await c.settle();
  await advance(0);
  let p = get(c, 'exits');
  t.equal(statusOf(p).restartCount, 1, '/exit ended the container and the kubelet restarted it');
  t.same(statusOf(p).lastState.terminated.exitCode, 3);
  t.equal(statusOf(p).lastState.terminated.reason, 'Error');
  const again = await c.dataplane.dialTcp(client, ip, 8080);
  t.equal((await httpGet(again.socket, '/hostname')).body, 'exits', 'the restarted container serves on the same pod IP');

  const done = get(c, 'done');
  t.equal(done.status!.phase, 'Succeeded');
  t.equal(statusOf(done).state.terminated.reason, 'Completed');
  t.equal(condition(done, 'Ready')!.reason, 'PodCompleted');
  t.equal(get(c, 'broken').status!.phase, 'Failed');
  t.equal(statusOf(get(c, 'broken')).state.terminated.exitCode, 1);
  t.equal(get(c, 'retry').status!.phase, 'Succeeded', 'OnFailure does not restart a container that exited 0');
  t.equal(c.dataplane.sandboxAt(done.status!.podIP!), undefined, 'a finished pod holds no sandbox');
});

t.test('init containers run to completion first; a failing one under Never fails the pod', async (t) => {
  const { c } = await cluster(t);
  c.apply([
    pod('initialized', { initContainers: [{ name: 'setup', image: 'busybox:1.36', command: ['true'] }], containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080'] }] }),
    pod('init-fails', { restartPolicy: 'Never', initContainers: [{ name: 'setup', image: 'busybox:1.36', command: ['false'] }], containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec'] }] }),
  ]);
  await c.settle();
  const ok = get(c, 'initialized');
  t.equal(ok.status!.phase, 'Running');
  t.equal(condition(ok, 'Initialized')!.status, 'True');
  t.equal((ok.status!.initContainerStatuses as any[])[0].state.terminated.reason, 'Completed');
  const bad = get(c, 'init-fails');
  t.equal(bad.status!.phase, 'Failed');
  t.equal(condition(bad, 'Initialized')!.status, 'False');
  t.equal(statusOf(bad).state.waiting.reason, 'PodInitializing', 'the app container never started');
  const cells = (p: Pod) => toTable(c.resolveKind('pods'), [p], c.clock.now()).rows[0]!.cells.slice(1, 3);
  t.same(cells(ok), ['1/1', 'Running']);
  t.same(cells(bad), ['0/1', 'Init:Error'], 'kubectl shows the failed init container');
});

t.test('graceful termination: the endpoint turns terminating but keeps serving until SIGKILL at the end of the grace period', async (t) => {
  const { c, advance } = await cluster(t);
  c.apply([
    pod(
      'draining',
      { terminationGracePeriodSeconds: 10, containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080', '--delay-shutdown=3600'], ports: [{ name: 'http', containerPort: 8080 }] }] },
      { app: 'web' },
    ),
  ]);
  await c.settle();
  const ip = get(c, 'draining').status!.podIP!;
  c.delete('pods', 'draining', 'default');
  await c.settle();
  const endpoint = () =>
    (c.list('endpointslices', { namespace: 'default' }) as EndpointSlice[]).flatMap((s) => s.endpoints).find((e) => e.targetRef?.name === 'draining');
  t.same(endpoint()?.conditions, { ready: false, serving: true, terminating: true }, 'KEP-1672 terminating endpoint');
  const { socket } = await c.dataplane.dialTcp(client, ip, 8080);
  t.equal((await httpGet(socket, '/readyz')).status, 503, 'netexec still answers (shutting down) during the grace period');
  await advance(9);
  t.ok(get(c, 'draining'), 'still terminating before the grace period ends');
  await advance(1);
  t.notOk(c.get('pods', 'draining', 'default'), 'SIGKILL at 10s, then the kubelet removes the pod');
  t.equal(endpoint(), undefined);
  const gone = await c.dataplane.dialTcp(client, ip, 8080).then(
    () => undefined,
    (err: { errno?: string }) => err.errno,
  );
  t.equal(gone, 'EHOSTUNREACH', 'the old IP has no host behind it (ARP on cni0 fails: no route to host)');
});

t.test('two containers of a pod share localhost; a second container binding a taken port fails as in Kubernetes', async (t) => {
  const { c } = await cluster(t);
  c.apply([
    pod('pair', {
      containers: [
        { name: 'server', image: AGNHOST, args: ['netexec', '--http-port=8080', '--udp-port=-1'] },
        { name: 'sidecar', image: AGNHOST, args: ['netexec', '--http-port=9090', '--udp-port=-1'] },
      ],
    }),
    pod('clash', {
      restartPolicy: 'Never',
      containers: [
        { name: 'first', image: AGNHOST, args: ['netexec', '--http-port=8080', '--udp-port=-1'] },
        { name: 'second', image: AGNHOST, args: ['netexec', '--http-port=8080', '--udp-port=-1'] },
      ],
    }),
  ]);
  await c.settle();
  const ip = get(c, 'pair').status!.podIP!;
  // Ask the sidecar to dial the server over localhost (netexec /dial).
  const { socket } = await c.dataplane.dialTcp(client, ip, 9090);
  const res = await httpGet(socket, '/dial?request=hostname&protocol=http&host=localhost&port=8080&tries=1');
  t.same(JSON.parse(res.body), { responses: ['pair'] }, 'the sidecar reached the server on localhost:8080');
  const clash = get(c, 'clash');
  t.ok(statusOf(clash, 0).state.running, 'the first container holds 8080');
  t.equal(statusOf(clash, 1).state.terminated?.exitCode, 1, 'the second cannot bind it and exits');
  t.match(events(c, 'clash').join('\n'), /address already in use/);
});
