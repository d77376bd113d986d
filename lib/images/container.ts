/**
 * The process inside a built-in container: its lifecycle, the sockets it holds, and how it
 * serves TCP, UDP, HTTP/1.1, HTTP/2 cleartext and TLS over what the sandbox hands it.
 *
 * An image never binds or connects a socket itself. `ctx.listenTcp` gives it accepted sockets
 * (bound by the sandbox on its loopback address, through the loopback guard) together with the
 * peer's *virtual* address; HTTP is served by a node `http.Server` that never listens: each
 * accepted socket is handed to it with `server.emit('connection', socket)`, so node's parser,
 * keep-alive and its `400 Bad Request` for malformed requests are the real ones. The virtual
 * peer travels on the socket (see {@link peerOf}), because the real peer is a loopback address
 * that a pod must never see.
 *
 * States: `running` → `stopping` (SIGTERM: stop accepting, close every connection) → `stopped`;
 * or `running` → `exited` when the program ends by itself (`/exit`, a finished `connect`), which
 * also reports the code through `ctx.exit`.
 */

import http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { generateServingCertificates } from '../core/certs.js';
import type { AcceptedConnection, ContainerContext, RunningContainer, UdpMessage } from './types.js';
import { joinHostPort, type AnyRequest } from './golang.js';

/** Lifecycle states of a built-in container's process. */
export type ProcessState = 'running' | 'stopping' | 'stopped' | 'exited';

/** The peer of a connection as the pod sees it (virtual address). */
export interface Peer {
  address: string;
  port: number;
}

const PEER = Symbol('podnet.image.peer');

type PeerCarrier = { [PEER]?: Peer };

/** Records the virtual peer on a socket (and on whatever wraps it: TLS, HTTP/2's socket proxy reads through). */
function setPeer(socket: Socket, peer: Peer): void {
  (socket as unknown as PeerCarrier)[PEER] = peer;
}

/** HTTP/2 sessions → the virtual peer of the connection they run on. */
const SESSION_PEERS = new WeakMap<http2.Http2Session, Peer>();

/** The virtual peer of an HTTP request served by {@link ContainerProcess.serveHttp}. */
export function peerOf(req: AnyRequest): Peer {
  const session = 'stream' in req ? req.stream.session : undefined;
  const peer = session ? SESSION_PEERS.get(session) : (req.socket as unknown as PeerCarrier | null)?.[PEER];
  return peer ?? { address: '', port: 0 };
}

/**
 * A stream that replays `first` and then relays `socket`, for handing a connection whose first
 * bytes were already read to node's HTTP/2 server (which otherwise reads the socket's handle
 * directly and would miss them).
 */
function replay(socket: Socket, first: Buffer): Duplex {
  const duplex = new Duplex({
    read: () => {
      socket.resume();
    },
    write: (chunk: Buffer, _encoding, callback) => {
      socket.write(chunk, callback);
    },
    final: (callback) => {
      socket.end();
      callback();
    },
    destroy: (err, callback) => {
      socket.destroy();
      callback(err);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.once('end', () => duplex.push(null));
  socket.once('close', () => duplex.destroy());
  duplex.push(first);
  return duplex;
}

/** `RemoteAddr` of a request: the virtual peer as `ip:port`. */
export function remoteAddrOf(req: AnyRequest): string {
  const p = peerOf(req);
  return joinHostPort(p.address, p.port);
}

/** Options of {@link ContainerProcess.serveHttp}. */
export interface ServeHttpOptions {
  /** Serve HTTPS with the container's generated certificate. */
  tls?: boolean;
  /**
   * How long an idle keep-alive connection is kept, in ms. 0 (the default) keeps it until the
   * client closes it, as Go's `http.Server` does with no IdleTimeout.
   */
  keepAliveTimeoutMs?: number;
  /**
   * Also serve HTTP/2 with prior knowledge (h2c): a connection opening with the HTTP/2 preface
   * goes to an HTTP/2 server running the same handler.
   */
  h2c?: boolean;
}

/** Handler of {@link ContainerProcess.serveHttp}; may be async (a rejection answers 500). */
export type HttpHandler = (req: AnyRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void | Promise<void>;

/**
 * One running program in a built-in container: tracks every socket so `stop` closes them, drops
 * connections and datagrams that arrive after it stopped, and ends the container once.
 */
export class ContainerProcess {
  readonly ctx: ContainerContext;
  #state: ProcessState = 'running';
  #sockets = new Set<Socket>();
  #cleanups: Array<() => void> = [];
  #secureContext?: tls.SecureContext;
  readonly #startedAt = process.hrtime.bigint();

  constructor(ctx: ContainerContext) {
    this.ctx = ctx;
  }

  get state(): ProcessState {
    return this.#state;
  }

  /** Whether the process still accepts work. */
  get running(): boolean {
    return this.#state === 'running';
  }

  /** Seconds since the process started (Go's monotonic clock reading). */
  uptimeSeconds(): number {
    return Number(process.hrtime.bigint() - this.#startedAt) / 1e9;
  }

  /** Runs `fn` when the process stops or exits (timers, servers). */
  onStop(fn: () => void): void {
    this.#cleanups.push(fn);
  }

  /** Tracks a socket so stopping closes it; errors on it never crash podnet. */
  track(socket: Socket): Socket {
    this.#sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => this.#sockets.delete(socket));
    return socket;
  }

  /** The container's TLS credentials: a certificate for localhost, the hostname and the pod IPs. */
  secureContext(): tls.SecureContext {
    if (!this.#secureContext) {
      let certs;
      try {
        certs = generateServingCertificates({ hosts: [this.ctx.hostname], ips: [...this.ctx.podIPs] });
      } catch {
        certs = generateServingCertificates({});
      }
      this.#secureContext = tls.createSecureContext({ key: certs.keyPem, cert: certs.certPem });
    }
    return this.#secureContext;
  }

  /**
   * Listens on a container port (TCP). With `tls`, each connection is a server-side TLS socket,
   * handed over once the handshake is done.
   */
  async listenTcp(port: number, onConnection: (conn: AcceptedConnection) => void, options: { tls?: boolean; alpn?: string[] } = {}): Promise<void> {
    await this.ctx.listenTcp(port, (conn) => {
      if (!this.running) {
        conn.socket.destroy();
        return;
      }
      const peer = { address: conn.remoteAddress, port: conn.remotePort };
      this.track(conn.socket);
      setPeer(conn.socket, peer);
      if (!options.tls) {
        onConnection(conn);
        return;
      }
      const secure = new tls.TLSSocket(conn.socket, {
        isServer: true,
        secureContext: this.secureContext(),
        ALPNProtocols: options.alpn ?? ['http/1.1'],
      });
      this.track(secure);
      setPeer(secure, peer);
      secure.once('secure', () => onConnection({ ...conn, socket: secure }));
    });
  }

  /** Listens on a container port (UDP); datagrams after the process stopped are dropped. */
  async listenUdp(port: number, onMessage: (msg: UdpMessage) => void): Promise<void> {
    await this.ctx.listenUdp(port, (msg) => {
      if (this.running) onMessage(msg);
    });
  }

  /**
   * Serves HTTP on a container port with node's own server and parser (see the module comment).
   * Returns the HTTP/1 server.
   */
  async serveHttp(port: number, handler: HttpHandler, options: ServeHttpOptions = {}): Promise<http.Server> {
    const run = (req: AnyRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
      let result: void | Promise<void>;
      try {
        result = handler(req, res);
      } catch (e) {
        this.#failed(res, e);
        return;
      }
      if (result instanceof Promise) result.catch((e: unknown) => this.#failed(res, e));
    };
    const server = http.createServer(run);
    server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 0;
    let h2: http2.Http2Server | undefined;
    // The peer of the connection being handed to the HTTP/2 server, which creates its session synchronously.
    let handing: Peer | undefined;
    if (options.h2c) {
      h2 = http2.createServer(run);
      h2.on('sessionError', () => {});
      h2.on('session', (session) => {
        if (handing) SESSION_PEERS.set(session, handing);
      });
    }
    await this.listenTcp(
      port,
      (conn) => {
        const socket = conn.socket;
        if (!h2) {
          server.emit('connection', socket);
          return;
        }
        // HTTP/2 with prior knowledge starts with the connection preface "PRI * HTTP/2.0".
        socket.once('data', (chunk: Buffer) => {
          socket.pause();
          if (chunk.subarray(0, 4).toString('latin1') === 'PRI ') {
            handing = { address: conn.remoteAddress, port: conn.remotePort };
            h2!.emit('connection', replay(socket, chunk));
            handing = undefined;
            return;
          }
          socket.unshift(chunk);
          server.emit('connection', socket);
          socket.resume();
        });
      },
      { tls: options.tls },
    );
    return server;
  }

  /**
   * A handler threw, which is a podnet bug rather than image behaviour: it is logged, and the
   * client gets a 500 if nothing was sent yet, else the connection is dropped.
   */
  #failed(res: http.ServerResponse | http2.Http2ServerResponse, e: unknown): void {
    this.ctx.log(`http: panic serving request: ${(e as Error)?.message ?? String(e)}`);
    if (!res.headersSent) {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Internal Server Error\n');
    } else {
      res.destroy?.();
    }
  }

  #shutdown(): void {
    for (const fn of this.#cleanups.splice(0)) {
      try {
        fn();
      } catch {
        // A cleanup failing must not keep the rest from running.
      }
    }
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  /** SIGTERM: stop accepting and close every connection. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'exited') return;
    this.#state = 'stopping';
    this.#shutdown();
    this.#state = 'stopped';
  }

  /** The program ends by itself with `code`: close everything and tell the sandbox, once. */
  exit(code: number): void {
    if (this.#state === 'stopped' || this.#state === 'exited') return;
    this.#state = 'exited';
    this.#shutdown();
    this.ctx.exit(code);
  }

  /** The {@link RunningContainer} handle for the kubelet. */
  handle(exec?: RunningContainer['exec']): RunningContainer {
    const container: RunningContainer = { stop: () => this.stop(), kill: () => void this.stop() };
    if (exec) container.exec = exec;
    return container;
  }
}

/**
 * Runs `fn` after `ms` (a program's sleep: `sleep 30`, `?delay=1s`); the timer is cleared when
 * the process stops, so a stopped container leaves nothing pending.
 */
export function processTimer(proc: ContainerProcess, ms: number, fn: () => void): void {
  // setTimeout holds at most 2^31-1 ms (24.8 days); longer sleeps wait in steps.
  const MAX = 2 ** 31 - 1;
  let timer: NodeJS.Timeout;
  const wait = (left: number): void => {
    timer = setTimeout(() => (left > MAX ? wait(left - MAX) : fn()), Math.min(Math.max(left, 0), MAX));
  };
  wait(ms);
  proc.onStop(() => clearTimeout(timer));
}

/**
 * Ends the process with `code` on the next turn of the event loop: after `start` has resolved,
 * so the sandbox holds the container's handle before it hears that it exited.
 */
export function exitSoon(proc: ContainerProcess, code: number): void {
  const immediate = setImmediate(() => proc.exit(code));
  proc.onStop(() => clearImmediate(immediate));
}
