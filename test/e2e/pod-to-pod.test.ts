// The data-plane issue's end-to-end checks on topologies/quickstart.yaml: a client pod reaches
// web pods on the same and the other worker by pod IP with real HTTP (agnhost netexec /hostname
// names the right pod, /clientip returns the client pod's IP); UDP answers; a partitioned link
// breaks cross-node flows while same-node flows pass.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { Cluster } from '../../lib/cluster.js';
import { parseTopology } from '../../lib/topology/load.js';
import { readFileSync } from 'node:fs';
import type { Pod } from '../../lib/api/types.js';
import { httpGet } from '../helpers/http.js';


async function quickstart(t: { teardown(fn: () => unknown): void }, extra = '') {
  const text = readFileSync('topologies/quickstart.yaml', 'utf8').replace('  kubeProxy:', `${extra}  kubeProxy:`);
  const cluster = await Cluster.fromTopology(parseTopology(text, 'quickstart.yaml'), { dropTimeoutMs: 50 });
  t.teardown(() => cluster.stop());
  const pods = cluster.list('pods', { namespace: 'default' }) as Pod[];
  const client = pods.find((p) => p.metadata.name === 'client')!;
  const web = pods.filter((p) => p.metadata.labels?.app === 'web');
  const origin = { kind: 'pod' as const, node: client.spec.nodeName!, pod: 'default/client' };
  return { cluster, client, web, origin };
}

t.test('a client pod reaches every web pod by pod IP with real HTTP, same node and across nodes', async (t) => {
  const { cluster, client, web, origin } = await quickstart(t);
  t.ok(web.some((p) => p.spec.nodeName === client.spec.nodeName), 'one web pod shares the client node');
  t.ok(web.some((p) => p.spec.nodeName !== client.spec.nodeName), 'one is on the other worker');
  for (const pod of web) {
    const ip = pod.status!.podIP!;
    const { socket, decision } = await cluster.dataplane.dialTcp(origin, ip, 8080);
    const hostname = await httpGet(socket, '/hostname');
    t.equal(hostname.status, 200);
    t.equal(hostname.body, pod.metadata.name, `/hostname from ${ip} names ${pod.metadata.name}`);
    t.same(decision.hops, pod.spec.nodeName === client.spec.nodeName ? [client.spec.nodeName] : [client.spec.nodeName, pod.spec.nodeName]);
    const again = await cluster.dataplane.dialTcp(origin, ip, 8080);
    const clientip = await httpGet(again.socket, '/clientip');
    t.match(clientip.body, new RegExp(`^${client.status!.podIP!.replace(/\./g, '\\.')}:\\d+$`), '/clientip is the client pod IP');
  }
});

t.test('UDP to netexec answers hostname', async (t) => {
  const { cluster, web, origin } = await quickstart(t);
  const { reply } = await cluster.dataplane.exchangeUdp(origin, web[0]!.status!.podIP!, 8081, 'hostname');
  t.equal(reply.toString(), web[0]!.metadata.name);
});

t.test('nothing listening: connection refused at once; an unknown address: no route to host', async (t) => {
  const { cluster, web, origin } = await quickstart(t);
  await t.rejects(cluster.dataplane.dialTcp(origin, web[0]!.status!.podIP!, 9999), { code: 'PODNET_FLOW_FAILED', message: /^ECONNREFUSED/ });
  await t.rejects(cluster.dataplane.dialTcp(origin, '10.244.7.7', 80), { code: 'PODNET_FLOW_FAILED', message: /^EHOSTUNREACH/ });
});

t.test('a partitioned link: cross-node flows time out, same-node flows pass', async (t) => {
  const { cluster, client, web, origin } = await quickstart(t, '  links:\n    - between: [worker, worker2]\n      partitioned: true\n');
  for (const pod of web) {
    const ip = pod.status!.podIP!;
    if (pod.spec.nodeName === client.spec.nodeName) {
      const { socket } = await cluster.dataplane.dialTcp(origin, ip, 8080);
      t.equal((await httpGet(socket, '/hostname')).body, pod.metadata.name);
    } else {
      await t.rejects(cluster.dataplane.dialTcp(origin, ip, 8080), { code: 'PODNET_FLOW_FAILED', message: /^ETIMEDOUT/ });
    }
  }
});

t.test('the downward API fills env: the Gateway API echo server reports its pod and namespace', async (t) => {
  const { cluster, origin } = await quickstart(t);
  cluster.apply([
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'echo', namespace: 'default' },
      spec: {
        containers: [
          {
            name: 'echo',
            image: 'gcr.io/k8s-staging-gateway-api/echo-basic:v20240412-v1.0.0-394-g40c666fd',
            env: [
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            ],
          },
        ],
      },
    },
  ]);
  await cluster.settle();
  const echo = cluster.get('pods', 'echo', 'default') as Pod;
  const { socket } = await cluster.dataplane.dialTcp(origin, echo.status!.podIP!, 3000);
  const res = await httpGet(socket, '/some/path');
  t.equal(res.status, 200);
  t.match(JSON.parse(res.body), { path: '/some/path', method: 'GET', namespace: 'default', pod: 'echo' });
});

const curlMissing = spawnSync('curl', ['--version']).error ? 'curl not found on PATH (.ci/run installs it)' : false;

t.test('podnet.dev/host-addresses tells the host where each pod port is; curl from the host reaches it', { skip: curlMissing }, async (t) => {
  const { cluster, web } = await quickstart(t);
  const pod = cluster.get('pods', web[0]!.metadata.name!, 'default') as Pod;
  const map = JSON.parse(pod.metadata.annotations!['podnet.dev/host-addresses']!) as Record<string, string>;
  const ip = pod.status!.podIP!;
  t.same(Object.keys(map).sort(), [`${ip}:8080/TCP`, `${ip}:8081/UDP`]);
  // The natural loopback address; the port is 8080 unless another process (a parallel test run
  // of the same topology) holds 127.x.y.z:8080 already, when the mapper takes a free one.
  t.equal(map[`${ip}:8080/TCP`]!.split(':')[0], `127.${ip.split('.').slice(1).join('.')}`, 'the natural loopback mapping');
  const { execFile } = await import('node:child_process');
  const curl = await new Promise<{ code: number | null; out: string }>((resolve) =>
    execFile('curl', ['-s', '--max-time', '5', `http://${map[`${ip}:8080/TCP`]}/hostname`], (err, out) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out })),
  );
  t.equal(curl.code, 0);
  t.equal(curl.out, pod.metadata.name);
});
