/**
 * Benchmarks (not tests): podnet next to a real peer on the same machine, in the same run,
 * printed as a table with the ratio. Run with `npm run bench` (after `npm run build`).
 *
 * - new TCP connections per second: pod to pod through podnet's data plane (pipeline decision,
 *   conntrack, real socket from the client pod's loopback address to the server pod's), against
 *   raw connects to a plain server on loopback.
 */

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Cluster } from '../lib/cluster.js';
import type { Pod } from '../lib/api/types.js';
import { formatColumns } from '../lib/printers/printers.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 2000);

async function rawConnections(n: number): Promise<number> {
  const server = net.createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve();
      });
      s.on('error', reject);
    });
  }
  const seconds = (performance.now() - start) / 1000;
  server.close();
  return n / seconds;
}

async function podnetConnections(n: number): Promise<number> {
  const cluster = await Cluster.fromFiles(['topologies/quickstart.yaml']);
  try {
    const pods = cluster.list('pods', { namespace: 'default' }) as Pod[];
    const client = pods.find((p) => p.metadata.name === 'client')!;
    const web = pods.find((p) => p.metadata.labels?.app === 'web' && p.spec.nodeName !== client.spec.nodeName)!;
    const origin = { kind: 'pod' as const, node: client.spec.nodeName!, pod: 'default/client' };
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const { socket } = await cluster.dataplane.dialTcp(origin, web.status!.podIP!, 8080);
      socket.destroy();
    }
    return n / ((performance.now() - start) / 1000);
  } finally {
    await cluster.stop();
  }
}

const raw = await rawConnections(CONNECTIONS);
const pod = await podnetConnections(CONNECTIONS);
process.stdout.write(
  formatColumns([
    ['benchmark', 'podnet', 'raw loopback', 'ratio'],
    [`new TCP connections/s (${CONNECTIONS}, cross-node pod to pod, sequential)`, pod.toFixed(0), raw.toFixed(0), (pod / raw).toFixed(2)],
  ]),
);
