/**
 * The socket layer: the one place where podnet touches a real socket, and the one guard that
 * keeps every such socket on loopback (DESIGN invariant 2: virtual addresses never reach a real
 * socket; an emulator must never leak traffic onto the user's network).
 *
 * Pod, Service, node and load-balancer IPs are virtual. Before anything is bound or dialled, a
 * virtual address is mapped onto its loopback address (lib/dataplane/addressing.ts); the socket
 * factory then refuses — before any system call — every address outside 127.0.0.0/8 and ::1:
 *
 * - IPv4 `127.0.0.0/8`, IPv6 `::1` in any spelling, and IPv4-mapped `::ffff:127.x.y.z` pass;
 * - the unspecified addresses `0.0.0.0` and `::` are refused (they bind every interface), and so is
 *   a missing host (Node binds `::`/`0.0.0.0` when `listen(port)` is given none);
 * - host names are refused, except `localhost`, which the factory pins to `127.0.0.1` rather
 *   than asking a resolver;
 * - every other address — a virtual one, or a real one on the host's network — is refused with
 *   {@link NotLoopbackError} (`PODNET_NOT_LOOPBACK`).
 *
 * Every real socket podnet opens — listeners, dials, UDP sockets, in the library and the CLI —
 * goes through a {@link SocketFactory}, injected as an option with {@link createSocketFactory}'s
 * Node implementation as the default (as a clock and an RNG are). Nothing here patches `node:net`
 * globally; the test suite does that on its own (test/setup/loopback-guard.mjs) to catch a socket
 * that bypasses the factory.
 */

import dgram from 'node:dgram';
import net from 'node:net';
import { PodnetError, TimeoutError } from './errors.js';
import { parseIP } from './ipnet.js';

/** What a socket is about to do with an address. */
export type SocketOperation = 'bind' | 'connect' | 'send';

/** The loopback ranges podnet may use, as printed in messages. */
export const LOOPBACK_RANGES = '127.0.0.0/8 and ::1';

/** The one host name the guard accepts, and the address it stands for. */
const LOCALHOST = 'localhost';
const LOCALHOST_ADDRESS = '127.0.0.1';

/** An address outside loopback was about to be bound, dialled or sent to. */
export class NotLoopbackError extends PodnetError {
  /** The refused address, as given (`''` when none was). */
  readonly address: string;
  readonly operation: SocketOperation;
  constructor(address: string, operation: SocketOperation, reason: string) {
    super('PODNET_NOT_LOOPBACK', `refusing to ${operation} ${address === '' ? '(no address)' : address}: podnet only binds and connects inside ${LOOPBACK_RANGES}; ${reason}`);
    this.address = address;
    this.operation = operation;
  }
}

function unbracket(address: string): string {
  return address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
}

/**
 * True for an address a real podnet socket may use: an IPv4 address in 127.0.0.0/8, `::1` (any
 * spelling, brackets allowed), an IPv4-mapped `::ffff:127.x.y.z`, or the name `localhost`.
 * False for the unspecified addresses, every other address and every other host name.
 */
export function isLoopbackAddress(address: string | undefined | null): boolean {
  if (typeof address !== 'string') return false;
  const text = unbracket(address);
  if (text.toLowerCase() === LOCALHOST) return true;
  const ip = parseIP(text);
  if (!ip) return false;
  return ip.family === 'IPv4' ? ip.value >> 24n === 127n : ip.value === 1n;
}

/** Why an address is not loopback, in words for the error message. */
function refusalReason(address: string | undefined | null): string {
  if (typeof address !== 'string' || address === '') {
    return 'no address was given, and a socket without one binds every interface — pass the loopback address';
  }
  const ip = parseIP(unbracket(address));
  if (!ip) {
    return `${address} is a host name, and a name could resolve outside loopback — only "localhost" is accepted; map virtual names to loopback addresses first`;
  }
  if (ip.value === 0n) return `${address} is the unspecified address, which binds every interface — pass the loopback address instead`;
  return `${address} is a virtual address (or one on the host's network) — it must be mapped to its loopback address first`;
}

/**
 * Throws {@link NotLoopbackError} unless {@link isLoopbackAddress} accepts the address; returns
 * the address to hand to the socket call (`localhost` becomes `127.0.0.1`, brackets are dropped).
 */
export function assertLoopback(address: string | undefined | null, operation: SocketOperation): string {
  if (!isLoopbackAddress(address)) throw new NotLoopbackError(typeof address === 'string' ? address : '', operation, refusalReason(address));
  const text = unbracket(address as string);
  return text.toLowerCase() === LOCALHOST ? LOCALHOST_ADDRESS : text;
}

/** Where to listen. */
export interface ListenOptions {
  /** A loopback address (required: there is no "every interface" default). */
  host: string;
  /** A port; 0 lets the kernel choose a free one. */
  port: number;
  backlog?: number;
  /**
   * A server to start (an `http.Server`, `https.Server`, ...); a bare `net.Server` is created
   * when omitted.
   */
  server?: net.Server;
}

/** Where to dial. */
export interface ConnectOptions {
  /** A loopback address. */
  host: string;
  port: number;
  /** The loopback address to dial from (how SNAT picks the source a server sees). */
  localAddress?: string;
  localPort?: number;
  /** Give up if not connected within this many milliseconds. */
  timeoutMs?: number;
}

/** Where to bind a UDP socket. */
export interface BindUdpOptions {
  /** A loopback address; its family picks `udp4` or `udp6`. */
  host: string;
  /** A port; 0 lets the kernel choose. */
  port: number;
}

/**
 * The factory every real socket of podnet is made by. Each method checks its addresses with
 * {@link assertLoopback} before any system call, so a refused address never reaches the kernel.
 */
export interface SocketFactory {
  /** Starts a TCP listener; resolves once bound (`server.address().port` is the bound port). */
  listenTcp(options: ListenOptions): Promise<net.Server>;
  /** Opens a TCP connection; resolves once connected. */
  connectTcp(options: ConnectOptions): Promise<net.Socket>;
  /** Binds a UDP socket whose `send` and `connect` check their destination too. */
  bindUdp(options: BindUdpOptions): Promise<dgram.Socket>;
  /** Closes every listener and socket this factory opened that is still open. */
  closeAll(): Promise<void>;
}

/** The bound port of a listening server or bound UDP socket. */
export function boundPort(socket: net.Server | dgram.Socket): number {
  const address = socket.address();
  if (address && typeof address === 'object') return address.port;
  throw new PodnetError('PODNET_SOCKET_NOT_BOUND', 'the socket is not bound to a port');
}

/**
 * The destination a `dgram.Socket.send` call names, or undefined when it names none (node then
 * sends to the family's loopback). Mirrors node's own shuffle of
 * `send(msg, [offset, length,] port, [address,] [callback])`.
 */
function udpSendAddress(args: unknown[]): unknown {
  const [, , length, port, address] = args;
  const to = address || (port && typeof port !== 'function') ? address : length;
  return typeof to === 'function' || to === null || to === '' ? undefined : to;
}

function isConnected(socket: dgram.Socket): boolean {
  try {
    socket.remoteAddress();
    return true;
  } catch {
    return false;
  }
}

/** The Node implementation of {@link SocketFactory}, over `node:net` and `node:dgram`. */
class NodeSocketFactory implements SocketFactory {
  readonly #servers = new Set<net.Server>();
  readonly #sockets = new Set<net.Socket>();
  readonly #udp = new Set<dgram.Socket>();

  async listenTcp(options: ListenOptions): Promise<net.Server> {
    const host = assertLoopback(options.host, 'bind');
    const server = options.server ?? net.createServer();
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen({ host, port: options.port, ...(options.backlog !== undefined ? { backlog: options.backlog } : {}) }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    this.#servers.add(server);
    server.on('connection', (socket: net.Socket) => this.#track(socket));
    server.once('close', () => this.#servers.delete(server));
    return server;
  }

  async connectTcp(options: ConnectOptions): Promise<net.Socket> {
    const host = assertLoopback(options.host, 'connect');
    const localAddress = options.localAddress === undefined ? undefined : assertLoopback(options.localAddress, 'bind');
    const socket = new net.Socket();
    this.#track(socket);
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        socket.setTimeout(0);
        socket.destroy();
        reject(err);
      };
      socket.once('error', fail);
      if (options.timeoutMs !== undefined) {
        socket.setTimeout(options.timeoutMs, () => fail(new TimeoutError(`connect ${host}:${options.port}: timed out after ${options.timeoutMs}ms`)));
      }
      socket.connect(
        {
          host,
          port: options.port,
          ...(localAddress !== undefined ? { localAddress } : {}),
          ...(options.localPort !== undefined ? { localPort: options.localPort } : {}),
        },
        () => {
          socket.off('error', fail);
          socket.setTimeout(0);
          resolve();
        },
      );
    });
    return socket;
  }

  async bindUdp(options: BindUdpOptions): Promise<dgram.Socket> {
    const host = assertLoopback(options.host, 'bind');
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    // The destination of each datagram is checked too (a connected socket was checked at connect).
    const send = socket.send;
    socket.send = function guardedSend(this: dgram.Socket, ...args: unknown[]) {
      if (!isConnected(this)) {
        const to = udpSendAddress(args);
        if (to !== undefined) assertLoopback(String(to), 'send');
      }
      return (send as (...a: unknown[]) => void).apply(this, args);
    } as typeof socket.send;
    const connect = socket.connect;
    socket.connect = function guardedConnect(this: dgram.Socket, ...args: unknown[]) {
      // connect(port, [address,] [callback]); no address means the family's loopback.
      if (typeof args[1] === 'string' && args[1] !== '') assertLoopback(args[1], 'connect');
      return (connect as (...a: unknown[]) => void).apply(this, args);
    } as typeof socket.connect;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind({ address: host, port: options.port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    this.#udp.add(socket);
    socket.once('close', () => this.#udp.delete(socket));
    return socket;
  }

  async closeAll(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    const closing: Promise<void>[] = [];
    for (const server of this.#servers) {
      if (server.listening) closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
    }
    this.#servers.clear();
    for (const socket of this.#udp) {
      closing.push(
        new Promise<void>((resolve) => {
          try {
            socket.close(() => resolve());
          } catch {
            resolve(); // already closed by its owner
          }
        }),
      );
    }
    this.#udp.clear();
    await Promise.all(closing);
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }
}

/** A {@link SocketFactory} over the real `node:net` and `node:dgram`: the default of every option. */
export function createSocketFactory(): SocketFactory {
  return new NodeSocketFactory();
}
