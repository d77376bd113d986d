/**
 * A small stand-in for a pod sandbox, for testing built-in images against real clients.
 *
 * Each fake pod binds its container ports on 127.0.0.1 port 0 and records the real port, so a
 * test can point curl, node's http or dgram at it. Connections from outside any fake pod (from
 * 127.0.0.1) appear to the image as coming from {@link CLIENT_IP}; connections one fake pod
 * dials to another (its `dialTcp` / `exchangeUdp`) leave from that pod's own loopback address
 * (127.0.10.n), reach the other pod's real port, and appear as coming from the dialing pod's IP. A virtual address can be made to drop packets (`network.drop(ip)`), which
 * fails a dial at once with ETIMEDOUT, as the data plane reports a dropped SYN.
 */

import dgram from 'node:dgram';
import net from 'node:net';
import { execFile, spawnSync } from 'node:child_process';
import type { AcceptedConnection, ContainerContext, DialedConnection, UdpMessage } from '../../lib/images/types.js';

/** The virtual address of clients that are not fake pods (curl, node's http client in the test). */
export const CLIENT_IP = '10.244.1.9';

function errno(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Options for a fake pod. */
export interface FakePodOptions {
  name: string;
  ip: string;
  namespace?: string;
  hostname?: string;
  args?: string[];
  env?: Record<string, string>;
}

/** A set of fake pods that can reach each other. */
export class FakeNetwork {
  readonly #pods = new Map<string, FakeContext>();
  /** A fake pod's loopback address → its virtual IP. */
  readonly #sources = new Map<string, string>();
  readonly #dropped = new Set<string>();

  /** Creates a fake pod. */
  pod(options: FakePodOptions): FakeContext {
    const loopback = `127.0.10.${this.#pods.size + 1}`;
    const ctx = new FakeContext(this, options, loopback);
    this.#pods.set(options.ip, ctx);
    this.#sources.set(loopback, options.ip);
    return ctx;
  }

  /** Makes every packet to `ip` vanish. */
  drop(ip: string): void {
    this.#dropped.add(ip);
  }

  isDropped(ip: string): boolean {
    return this.#dropped.has(ip);
  }

  podByIP(ip: string): FakeContext | undefined {
    return this.#pods.get(ip);
  }

  /** The virtual IP behind a real peer address. */
  sourceOf(realAddress: string | undefined): string {
    return (realAddress !== undefined && this.#sources.get(realAddress)) || CLIENT_IP;
  }

  /** Closes every fake pod's listeners and connections. */
  async close(): Promise<void> {
    await Promise.all([...this.#pods.values()].map((p) => p.close()));
  }
}

/** A fake {@link ContainerContext}. */
export class FakeContext implements ContainerContext {
  readonly podName: string;
  readonly namespace: string;
  readonly hostname: string;
  readonly podIPs: readonly string[];
  readonly containerName = 'main';
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Container port → real port on 127.0.0.1. */
  readonly tcpPorts = new Map<number, number>();
  readonly udpPorts = new Map<number, number>();
  readonly logs: string[] = [];
  readonly exits: number[] = [];
  /** The loopback address this pod's outgoing connections leave from. */
  readonly loopback: string;
  readonly #network: FakeNetwork;
  readonly #servers: net.Server[] = [];
  readonly #udp: dgram.Socket[] = [];
  readonly #sockets = new Set<net.Socket>();
  #exitWaiters: Array<(code: number) => void> = [];

  constructor(network: FakeNetwork, options: FakePodOptions, loopback: string) {
    this.#network = network;
    this.loopback = loopback;
    this.podName = options.name;
    this.namespace = options.namespace ?? 'default';
    this.hostname = options.hostname ?? options.name;
    this.podIPs = [options.ip];
    this.args = options.args ?? [];
    this.env = options.env ?? {};
  }

  /** The real port of a container TCP port (throws when nothing listens there). */
  port(containerPort: number): number {
    const real = this.tcpPorts.get(containerPort);
    if (real === undefined) throw new Error(`${this.podName}: nothing listens on TCP ${containerPort}`);
    return real;
  }

  udpPort(containerPort: number): number {
    const real = this.udpPorts.get(containerPort);
    if (real === undefined) throw new Error(`${this.podName}: nothing listens on UDP ${containerPort}`);
    return real;
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  async listenTcp(port: number, onConnection: (conn: AcceptedConnection) => void): Promise<void> {
    if (this.tcpPorts.has(port)) throw errno('EADDRINUSE', `listen EADDRINUSE: address already in use :${port}`);
    const server = net.createServer((socket) => {
      this.#track(socket);
      onConnection({ socket, remoteAddress: this.#network.sourceOf(socket.remoteAddress), remotePort: socket.remotePort ?? 0 });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#servers.push(server);
    this.tcpPorts.set(port, (server.address() as net.AddressInfo).port);
  }

  async listenUdp(port: number, onMessage: (msg: UdpMessage) => void): Promise<void> {
    if (this.udpPorts.has(port)) throw errno('EADDRINUSE', `bind EADDRINUSE: address already in use :${port}`);
    const socket = dgram.createSocket('udp4');
    socket.on('message', (data, rinfo) => {
      onMessage({
        data,
        remoteAddress: this.#network.sourceOf(rinfo.address),
        remotePort: rinfo.port,
        reply: (answer) => socket.send(answer, rinfo.port, rinfo.address),
      });
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    this.#udp.push(socket);
    this.udpPorts.set(port, socket.address().port);
  }

  async dialTcp(host: string, port: number): Promise<DialedConnection> {
    if (this.#network.isDropped(host)) throw errno('ETIMEDOUT', `connect ETIMEDOUT ${host}:${port}`);
    const real = this.#network.podByIP(host)?.tcpPorts.get(port);
    if (real === undefined) throw errno('ECONNREFUSED', `connect ECONNREFUSED ${host}:${port}`);
    return new Promise<DialedConnection>((resolve, reject) => {
      const socket = net.connect({ port: real, host: '127.0.0.1', localAddress: this.loopback });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        this.#track(socket);
        resolve({ socket });
      });
    });
  }

  async exchangeUdp(host: string, port: number, data: Buffer | string, options?: { timeoutMs?: number }): Promise<Buffer> {
    if (this.#network.isDropped(host)) throw errno('ETIMEDOUT', `read udp: i/o timeout`);
    const real = this.#network.podByIP(host)?.udpPorts.get(port);
    if (real === undefined) throw errno('ECONNREFUSED', `read udp: connection refused`);
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, this.loopback, () => resolve()));
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(errno('ETIMEDOUT', 'read udp: i/o timeout')), options?.timeoutMs ?? 5000);
        socket.once('message', (answer) => {
          clearTimeout(timer);
          resolve(answer);
        });
        socket.send(data, real, '127.0.0.1');
      });
    } finally {
      socket.close();
    }
  }

  exit(code: number): void {
    this.exits.push(code);
    for (const w of this.#exitWaiters.splice(0)) w(code);
  }

  /** Resolves with the exit code once the container exits (at once if it already has). */
  exited(): Promise<number> {
    if (this.exits.length > 0) return Promise.resolve(this.exits[0]!);
    return new Promise((resolve) => this.#exitWaiters.push(resolve));
  }

  log(line: string): void {
    this.logs.push(line);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    for (const u of this.#udp) u.close();
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

// --- real clients ------------------------------------------------------------------------------

/** Whether curl is on PATH (tests that need it skip loudly when not). */
export const HAVE_CURL = spawnSync('curl', ['--version'], { encoding: 'utf8' }).status === 0;

/** The reason a curl test is skipped, or false. */
export const NO_CURL: string | false = HAVE_CURL ? false : 'curl is not on PATH: install curl to run the real-client tests';

/**
 * Runs curl asynchronously (the servers under test live in this process, so a blocking
 * spawnSync would deadlock) and returns its exit code and output.
 */
export function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['--silent', '--show-error', '--max-time', '10', ...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `curl -i` split into status line, headers (lower-case names, in order) and body. */
export async function curlResponse(args: string[]): Promise<{ status: number; statusLine: string; headers: Array<[string, string]>; header: (name: string) => string | undefined; body: string }> {
  const out = await curl(['--include', ...args]);
  if (out.code !== 0) throw new Error(`curl ${args.join(' ')} failed (${out.code}): ${out.stderr}`);
  const split = out.stdout.indexOf('\r\n\r\n');
  const head = out.stdout.slice(0, split).split('\r\n');
  const statusLine = head[0]!;
  const headers = head.slice(1).map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  return {
    status: Number(statusLine.split(' ')[1]),
    statusLine,
    headers,
    header: (name) => headers.find(([k]) => k === name.toLowerCase())?.[1],
    body: out.stdout.slice(split + 4),
  };
}

/** Sends bytes on a fresh TCP connection and collects everything until the server closes it. */
export function rawExchange(port: number, data: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.write(data);
  });
}

/** Sends one datagram from 127.0.0.1 and waits for one answer. */
export function udpAsk(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.once('message', (answer) => {
      socket.close();
      resolve(answer.toString('utf8'));
    });
    socket.bind(0, '127.0.0.1', () => socket.send(data, port, '127.0.0.1'));
  });
}
