/**
 * Benchmarks (not tests): podnet next to a real peer on the same machine, in the same run,
 * printed as a table with the ratio. Run with `npm run bench` (after `npm run build`).
 *
 * - new TCP connections per second: pod to pod through podnet's data plane (pipeline decision,
 *   conntrack, real socket from the client pod's loopback address to the server pod's), against
 *   raw connects to a plain server on loopback.
 * - TCP throughput (MB/s, 10^6 bytes): `BENCH_THROUGHPUT_MIB` (256) MiB from the client pod to a
 *   discard sink in a server pod on the same node and on the other worker, through the data
 *   plane's `dialTcp`, against the same transfer to the same sink program on 127.0.0.1. The sink
 *   is bench/discard.ts run as its own process — in the pods as a `podnet.dev/local-process`
 *   container listening where podnet maps its container port 9 — so both sides of each transfer
 *   are the same programs and only the path differs. The time runs from the first byte written
 *   until the sink has acknowledged the last one; each figure is the median of `BENCH_ROUNDS` (5)
 *   rounds, raw and podnet interleaved.
 */

import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Cluster } from '../lib/cluster.js';
import { WellKnown, type Pod } from '../lib/api/types.js';
import { formatColumns } from '../lib/printers/printers.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 2000);
const THROUGHPUT_MIB = Number(process.env.BENCH_THROUGHPUT_MIB ?? 256);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CHUNK = 64 * 1024;
const DISCARD = fileURLToPath(new URL('./discard.js', import.meta.url));
const SINK_PORT = 9; // discard (RFC 863)

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

/**
 * Writes `bytes` on a connected socket (honouring backpressure), ends it, and resolves with the
 * seconds until the sink acknowledged every byte.
 */
async function transfer(socket: net.Socket, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  const acknowledged = new Promise<number>((resolve, reject) => {
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (answer += d));
    socket.on('end', () => resolve(Number(answer.trim())));
    socket.on('error', reject);
  });
  const start = performance.now();
  for (let left = bytes; left > 0; left -= CHUNK) {
    if (!socket.write(left >= CHUNK ? chunk : chunk.subarray(0, left))) await once(socket, 'drain');
  }
  socket.end();
  const received = await acknowledged;
  const seconds = (performance.now() - start) / 1000;
  socket.destroy();
  if (received !== bytes) throw new Error(`the sink acknowledged ${received} of ${bytes} bytes`);
  return seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Starts the discard sink on 127.0.0.1 (the raw peer) and resolves with its port. */
async function rawSink(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [DISCARD, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('exit', (code) => reject(new Error(`the discard sink exited with ${code}`)));
  });
  return { port: Number(line.slice(line.lastIndexOf(':') + 1)), child };
}

/** A pod on `node` whose container runs the discard sink as a local process on container port 9. */
function sinkPod(name: string, node: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', annotations: { [WellKnown.localProcess]: 'discard' } },
    spec: { nodeName: node, containers: [{ name: 'discard', image: 'node:20', command: [process.execPath, DISCARD], ports: [{ containerPort: SINK_PORT }] }] },
  } as Pod;
}

/** Resolves once a pod's sink logged that it listens (the process binds after it starts). */
async function sinkListening(cluster: Cluster, node: string, key: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const sandbox = cluster.kubelet(node)?.sandbox(key);
    if (sandbox?.logs.some((l) => l.startsWith('[discard] listening '))) return;
    if (performance.now() > deadline) throw new Error(`the discard sink of ${key} did not start: ${JSON.stringify(sandbox?.logs ?? [])}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** MB/s of the client pod → sink transfers (same node, cross node) and of raw loopback, medians. */
async function throughput(bytes: number, rounds: number): Promise<{ near: number; far: number; raw: number }> {
  const raw = await rawSink();
  const cluster = await Cluster.fromFiles(['topologies/quickstart.yaml']);
  try {
    const client = cluster.get('pods', 'client', 'default') as Pod;
    const near = client.spec.nodeName!;
    const far = near === 'worker' ? 'worker2' : 'worker';
    cluster.apply([sinkPod('sink-near', near), sinkPod('sink-far', far)]);
    await cluster.settle();
    await sinkListening(cluster, near, 'default/sink-near');
    await sinkListening(cluster, far, 'default/sink-far');
    const ip = (name: string) => (cluster.get('pods', name, 'default') as Pod).status!.podIP!;
    const origin = { kind: 'pod' as const, node: near, pod: 'default/client' };
    const seconds = { near: [] as number[], far: [] as number[], raw: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      const direct = net.connect({ host: '127.0.0.1', port: raw.port });
      await once(direct, 'connect');
      seconds.raw.push(await transfer(direct, bytes));
      seconds.near.push(await transfer((await cluster.dataplane.dialTcp(origin, ip('sink-near'), SINK_PORT)).socket, bytes));
      seconds.far.push(await transfer((await cluster.dataplane.dialTcp(origin, ip('sink-far'), SINK_PORT)).socket, bytes));
    }
    const rate = (s: number[]) => bytes / median(s) / 1e6;
    return { near: rate(seconds.near), far: rate(seconds.far), raw: rate(seconds.raw) };
  } finally {
    await cluster.stop();
    raw.child.kill('SIGTERM');
  }
}

const started = performance.now();
const raw = await rawConnections(CONNECTIONS);
const pod = await podnetConnections(CONNECTIONS);
const mbps = await throughput(THROUGHPUT_MIB * 1024 * 1024, ROUNDS);
process.stdout.write(
  formatColumns([
    ['benchmark', 'podnet', 'raw loopback', 'ratio'],
    [`new TCP connections/s (${CONNECTIONS}, cross-node pod to pod, sequential)`, pod.toFixed(0), raw.toFixed(0), (pod / raw).toFixed(2)],
    [`TCP throughput MB/s (${THROUGHPUT_MIB} MiB to a discard sink, same-node pod to pod)`, mbps.near.toFixed(0), mbps.raw.toFixed(0), (mbps.near / mbps.raw).toFixed(2)],
    [`TCP throughput MB/s (${THROUGHPUT_MIB} MiB to a discard sink, cross-node pod to pod)`, mbps.far.toFixed(0), mbps.raw.toFixed(0), (mbps.far / mbps.raw).toFixed(2)],
  ]),
);
process.stdout.write(`(${ROUNDS} rounds each, medians; whole run ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
