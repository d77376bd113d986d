/**
 * The `pods/exec` subresource: `GET /api/v1/namespaces/{ns}/pods/{name}/exec?command=...` upgraded
 * to a WebSocket speaking the Kubernetes remote-command protocol, as kube-apiserver (proxying the
 * kubelet's streaming server) does for `kubectl exec` — kubectl 1.30+ uses WebSockets first
 * (KEP-4006) and falls back to SPDY only when the upgrade is refused.
 *
 * Protocol (k8s.io/apimachinery/pkg/util/remotecommand, httpstream/wsstream): subprotocols
 * `v5.channel.k8s.io` and `v4.channel.k8s.io` (the client offers them in `Sec-WebSocket-Protocol`
 * and the server echoes the one it picks). Every binary message starts with a channel byte:
 * 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; with v5 the client sends `[255, 0]` to close
 * stdin. When the command ends the server writes a `v1` Status on channel 3 — `Success`, or
 * `Failure` with reason `NonZeroExitCode` and a cause `{reason: ExitCode, message: "<code>"}` (kubectl
 * exits with that code), or `Failure` with the runtime's error (kubectl prints `error: <message>`
 * and exits 1) — and closes the connection.
 *
 * Query parameters: `command` (repeated, one per argv word), `container`, `stdin`, `stdout`,
 * `stderr`, `tty`. Problems found before the upgrade (no such pod, an invalid container, a
 * container that is not running) are answered as plain HTTP with the Status the real server
 * sends. kubectl then retries over SPDY, and hears the same Status; only a valid request that is
 * not a WebSocket upgrade (SPDY, or none) is told that podnet speaks WebSockets only.
 *
 * With `stdin=true` the command runs once the client closes stdin (v5) or the connection; with v4,
 * which cannot signal the end of stdin, it runs at once without stdin. `tty=true` is accepted, and
 * the output goes to stdout as a terminal would merge it; there is no terminal (no resize).
 */

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { PodnetError } from '../../core/errors.js';
import type { ObjectStore } from '../store.js';
import { requireKind } from '../../api/scheme.js';
import type { Pod } from '../../api/types.js';
import { ExecStartError, type ExecResult } from '../../exec/types.js';
import { selectContainer } from '../../exec/target.js';
import { failure, success, type Status } from './status.js';

/** The subprotocols podnet speaks, preferred first. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

/** Channel numbers of the remote-command protocol. */
export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** Runs a command in a pod's container; rejects with an {@link ExecStartError} (or PodnetError) when it cannot start. */
export type ExecHandler = (namespace: string, pod: string, container: string, argv: readonly string[], stdin: Buffer) => Promise<ExecResult>;

/** A running container check, before the upgrade (the kubelet's `container not found`). */
export type ContainerRunning = (namespace: string, pod: string, container: string) => boolean;

const EXEC_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/;

/** Whether a path is a pod's exec subresource. */
export function isExecPath(path: string): boolean {
  return EXEC_PATH.test(path);
}

/** Options of {@link ExecEndpoint}. */
export interface ExecEndpointOptions {
  store: ObjectStore;
  exec?: ExecHandler | undefined;
  running?: ContainerRunning | undefined;
}

/** Serves `pods/exec` upgrades for an API server. */
export class ExecEndpoint {
  readonly #options: ExecEndpointOptions;
  readonly #wss: WebSocketServer;

  constructor(options: ExecEndpointOptions) {
    this.#options = options;
    this.#wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => EXEC_PROTOCOLS.find((p) => protocols.has(p)) ?? false,
    });
  }

  /** Closes every exec connection. */
  close(): void {
    for (const client of this.#wss.clients) client.terminate();
    this.#wss.close();
  }

  /** Handles an HTTP upgrade (or a plain request) to an exec path; `path` has no trailing slash. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, path: string): void {
    const m = EXEC_PATH.exec(path)!;
    const namespace = decodeURIComponent(m[1]!);
    const name = decodeURIComponent(m[2]!);
    const query = new URL(req.url ?? '/', 'http://podnet').searchParams;
    const reject = (status: Status): void => {
      const body = JSON.stringify(status);
      socket.end(`HTTP/1.1 ${status.code} ${httpText(status.code ?? 500)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    const argv = query.getAll('command');
    const flag = (key: string): boolean => ['true', '1'].includes((query.get(key) ?? '').toLowerCase());
    const streams = { stdin: flag('stdin'), stdout: flag('stdout'), stderr: flag('stderr'), tty: flag('tty') };
    let container: string;
    try {
      const pod = this.#options.store.get(requireKind('v1', 'Pod'), namespace, name) as Pod | undefined;
      if (!pod) throw Object.assign(new PodnetError('PODNET_NOT_FOUND', `pods "${name}" not found`), { status: failure(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' }) });
      container = selectContainer(pod, query.get('container') ?? undefined, 'apiserver').container;
      if (argv.length === 0) throw new ExecStartError('PODNET_BAD_REQUEST', 'you must specify at least one command for the container', 400, 'BadRequest');
      if (!streams.stdin && !streams.stdout && !streams.stderr) throw new ExecStartError('PODNET_BAD_REQUEST', 'you must specify at least 1 of stdin, stdout, stderr', 400, 'BadRequest');
      if (!this.#options.exec) throw new ExecStartError('PODNET_EXEC_UNAVAILABLE', 'this API server runs no kubelets: exec is not available', 503, 'ServiceUnavailable');
      if (this.#options.running && !this.#options.running(namespace, name, container)) {
        throw new ExecStartError('PODNET_CONTAINER_NOT_RUNNING', `container not found (${JSON.stringify(container)})`, 404, 'NotFound');
      }
    } catch (e) {
      const status = (e as { status?: Status }).status ?? (e instanceof ExecStartError ? failure(e.httpCode, e.reason, e.message) : failure(500, 'InternalError', (e as Error).message));
      reject(status);
      return;
    }
    // Checked after the request itself, so kubectl's SPDY fallback still hears the real error.
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    if (upgrade !== 'websocket') {
      reject(failure(400, 'BadRequest', upgrade ? `podnet serves exec over WebSockets (${EXEC_PROTOCOLS.join(', ')}) only, not ${req.headers.upgrade}` : 'Upgrade request required'));
      return;
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    if (!EXEC_PROTOCOLS.some((p) => offered.includes(p))) {
      reject(failure(400, 'BadRequest', `unable to upgrade: none of the offered subprotocols [${offered.join(' ')}] is supported; podnet speaks ${EXEC_PROTOCOLS.join(', ')}`));
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#session(ws, namespace, name, container, argv, streams));
  }

  #session(ws: WebSocket, namespace: string, pod: string, container: string, argv: string[], streams: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }): void {
    const v5 = ws.protocol === 'v5.channel.k8s.io';
    const stdin: Buffer[] = [];
    let started = false;
    const send = (channel: number, data: Buffer | string): void => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(Buffer.concat([Buffer.from([channel]), typeof data === 'string' ? Buffer.from(data) : data]));
    };
    const start = (): void => {
      if (started) return;
      started = true;
      const exec = this.#options.exec!;
      exec(namespace, pod, container, argv, Buffer.concat(stdin)).then(
        (r) => {
          const out = streams.tty ? Buffer.concat([r.stdout, r.stderr]) : r.stdout;
          if (streams.stdout && out.length) send(CHANNEL.stdout, out);
          if (streams.stderr && !streams.tty && r.stderr.length) send(CHANNEL.stderr, r.stderr);
          send(CHANNEL.error, JSON.stringify(r.exitCode === 0 ? success() : nonZeroExit(argv, r.exitCode)));
          ws.close(1000);
        },
        (e: unknown) => {
          const status = e instanceof ExecStartError ? failure(e.httpCode, e.reason, e.message) : failure(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`);
          send(CHANNEL.error, JSON.stringify(status));
          ws.close(1000);
        },
      );
    };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const msg = isBinary ? data : Buffer.from(data);
      if (msg.length === 0) return;
      const channel = msg[0]!;
      if (channel === CHANNEL.stdin) stdin.push(msg.subarray(1));
      else if (v5 && channel === CHANNEL.close && msg[1] === CHANNEL.stdin) start();
      // resize (4) and anything else: no terminal to resize.
    });
    ws.on('close', () => start());
    ws.on('error', () => {});
    if (!streams.stdin || !v5) start();
  }
}

/** The Status the kubelet reports for a command that exited non-zero (pkg/kubelet/cri/streaming/remotecommand). */
export function nonZeroExit(argv: readonly string[], code: number): Status {
  return {
    ...failure(500, 'NonZeroExitCode', `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${code}`, {
      causes: [{ reason: 'ExitCode', message: String(code) }],
    }),
  };
}

function httpText(code: number): string {
  return { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error', 503: 'Service Unavailable' }[code] ?? 'Error';
}
