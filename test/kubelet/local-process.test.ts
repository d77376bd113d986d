// Containers marked `podnet.dev/local-process` run their command as a real local process, told
// where the pod lives through its environment; flows to the pod IP reach it through the data plane,
// its exits are container exits (restarted under the policy), and a command that cannot start
// ends the container as the runtime reports it (StartError, exit 128).
import t from 'tap';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Cluster } from '../../lib/cluster.js';
import { parseTopology } from '../../lib/topology/load.js';
import type { Pod } from '../../lib/api/types.js';
import type { KubeObject } from '../../lib/api/meta.js';
import { httpGet } from '../helpers/http.js';

// A small HTTP server written the way a user's program would be: it binds where podnet says.
const SERVER = `
const http = require('node:http');
const port = Number(process.env.PODNET_PORT_8080_TCP);
http.createServer((req, res) => {
  if (req.url === '/exit') { res.end('bye'); setImmediate(() => process.exit(7)); return; }
  res.end(process.env.HOSTNAME + ' ' + process.env.PODNET_POD_IP + ' ' + process.env.GREETING);
}).listen(port, process.env.PODNET_BIND_ADDRESS);
`;


const ready = (o: KubeObject | undefined) => !!(o as Pod | undefined)?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

t.test('a local-process container serves on the pod IP, and its exit is a container exit', async (t) => {
  const cluster = await Cluster.fromTopology(parseTopology(readFileSync('topologies/quickstart.yaml', 'utf8'), 'quickstart.yaml'), { dropTimeoutMs: 50 });
  t.teardown(() => cluster.stop());
  cluster.apply([
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'app', namespace: 'default', annotations: { 'podnet.dev/local-process': 'server' } },
      spec: {
        nodeName: 'worker2',
        containers: [
          {
            name: 'server',
            image: 'example.com/my-app:1.0',
            command: [process.execPath, '-e', SERVER],
            env: [{ name: 'GREETING', value: 'hello' }],
            ports: [{ containerPort: 8080 }],
            readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
          },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'missing', namespace: 'default', annotations: { 'podnet.dev/local-process': 'server' } },
      spec: { nodeName: 'worker', restartPolicy: 'Never', containers: [{ name: 'server', image: 'x', command: ['/nonexistent/podnet-test-binary'] }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'typo', namespace: 'default', annotations: { 'podnet.dev/local-process': 'sever' } },
      spec: { nodeName: 'worker', containers: [{ name: 'server', image: 'busybox:1.36', command: ['sleep', 'infinity'] }] },
    },
  ]);
  await cluster.settle();
  // The process binds in its own time: the readiness probe (every second) says when.
  const pod = (await cluster.waitFor('pods', 'app', 'default', ready, 20_000)) as Pod;
  const ip = pod.status!.podIP!;
  const origin = { kind: 'pod' as const, node: 'worker', pod: 'default/client' };
  const { socket } = await cluster.dataplane.dialTcp(origin, ip, 8080);
  t.equal((await httpGet(socket, '/')).body, `app ${ip} hello`, 'the process got HOSTNAME, PODNET_POD_IP and the container env, and is reached by pod IP across nodes');
  const bye = await cluster.dataplane.dialTcp(origin, ip, 8080);
  t.equal((await httpGet(bye.socket, '/exit')).body, 'bye');
  const restarted = (await cluster.waitFor('pods', 'app', 'default', (o) => ((o as Pod).status?.containerStatuses as any[])?.[0]?.restartCount === 1, 20_000)) as Pod;
  t.equal((restarted.status!.containerStatuses as any[])[0].lastState.terminated.exitCode, 7, 'the exit code of the process');

  const missing = cluster.get('pods', 'missing', 'default') as Pod;
  const state = (missing.status!.containerStatuses as any[])[0].state.terminated;
  t.equal(state.exitCode, 128);
  t.equal(state.reason, 'StartError');
  t.match(state.message, /exec: "\/nonexistent\/podnet-test-binary": executable file not found in \$PATH/);
  t.equal(missing.status!.phase, 'Failed');
  const typo = cluster.list('events', { namespace: 'default' }).find((e: any) => e.involvedObject.name === 'typo' && e.reason === 'FailedLocalProcess') as any;
  t.equal(typo?.message, 'podnet.dev/local-process names containers the pod does not have: sever (containers: server)', 'a misspelt container name is reported, not ignored');
});
