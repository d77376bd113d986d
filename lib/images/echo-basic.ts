/**
 * The conformance echo servers that Gateway API and Ingress conformance suites route to, which
 * answer every request with a JSON description of it so a test can assert what the backend saw.
 *
 * - {@link echoBasic}: `gcr.io/k8s-staging-gateway-api/echo-basic` (kubernetes-sigs/gateway-api
 *   conformance/echo-basic/echo-basic.go, now kubernetes-sigs/gateway-api-conformance-images
 *   echo-basic/echo-basic.go). HTTP on `HTTP_PORT` (3000), h2c on `H2C_PORT` (3001), HTTPS on
 *   `HTTPS_PORT` (8443) when `TLS_SERVER_CERT` and `TLS_SERVER_PRIVKEY` are set. The answer is
 *   `json.MarshalIndent(v, "", " ")` of
 *   `{path, host, method, proto, headers, httpPort, namespace, ingress, service, pod, tls?}` where
 *   `path` is the request target as sent, `headers` Go's `r.Header` (canonical keys sorted, each a
 *   list of values, no Host) and the context comes from `NAMESPACE`, `INGRESS_NAME`,
 *   `SERVICE_NAME`, `POD_NAME`. Also `/health` (`OK`), `/status/<code>`, `/retry/…`, `?delay=`,
 *   `X-Echo-Set-Header: Name: value, …`. With `TCP_ECHO_SERVER` it is the TCP echo server
 *   (tcpserver/tcpserver.go), with `UDP_ECHO_SERVER` the UDP one (udpechoserver/udpechoserver.go).
 * - {@link ingressEchoserver}: `gcr.io/k8s-staging-ingressconformance/echoserver`
 *   (kubernetes-sigs/ingress-controller-conformance images/echoserver/echoserver.go): the same
 *   answer without `httpPort` and `pod`, on `PORT` (3000).
 *
 * Not emulated: the WebSocket echo on `/ws`, the gRPC echo server (`GRPC_ECHO_SERVER`), client
 * certificates (`TLS_CLIENT_CACERTS`) and the h2c upgrade from HTTP/1.1 (an `Upgrade: h2c`
 * request is answered over HTTP/1.1, which RFC 9110 §7.8 allows; HTTP/2 with prior knowledge
 * works). TLS uses a certificate podnet generates instead of the files the variables name.
 */

import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ContainerProcess, processTimer, remoteAddrOf } from './container.js';
import { ContainerArgsError, ImageFeatureUnsupportedError } from './errors.js';
import {
  dropConnection,
  goAtoi,
  goForm,
  goMarshal,
  goParseDuration,
  goRequest,
  goServeMuxRedirect,
  goWrite,
  headerObject,
  joinHostPort,
  type AnyRequest,
  type AnyResponse,
  type GoRequest,
} from './golang.js';
import { imageBaseName, parseImageReference } from './reference.js';
import type { BuiltinImage, ContainerContext, RunningContainer } from './types.js';

/** Where the echo server runs, from its environment (echo-basic.go's `Context`). */
interface EchoContext {
  namespace: string;
  ingress: string;
  service: string;
  pod: string;
}

function echoContext(env: Readonly<Record<string, string>>): EchoContext {
  return {
    namespace: env['NAMESPACE'] ?? '',
    ingress: env['INGRESS_NAME'] ?? '',
    service: env['SERVICE_NAME'] ?? '',
    pod: env['POD_NAME'] ?? '',
  };
}

/** echo-basic.go's TLSAssertions (peer certificates are not requested, so never present). */
function tlsAssertions(req: AnyRequest): Record<string, string> | undefined {
  const socket = req.socket as TLSSocket | null;
  if (!socket || !('encrypted' in socket) || !socket.encrypted) return undefined;
  const out: Record<string, string> = { version: socket.getProtocol() ?? '', serverName: typeof socket.servername === 'string' ? socket.servername : '' };
  if (socket.alpnProtocol) out['negotiatedProtocol'] = socket.alpnProtocol;
  out['cipherSuite'] = socket.getCipher()?.standardName ?? '';
  return out;
}

/** `preserveSlashes`: `//` in the path becomes `/` before routing (strings.ReplaceAll, left to right). */
function preserveSlashes(r: GoRequest): GoRequest {
  return { ...r, path: r.path.replaceAll('//', '/') };
}

/** processError: `{"message": …}` with the JSON content type. */
function processError(res: AnyResponse, message: string, code: number): void {
  goWrite(res, code, goMarshal({ message }), { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
}

/** A valid HTTP field name (Go's server drops headers whose names are not). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** writeEchoResponseHeaders: `X-Echo-Set-Header: A: 1, B: 2` sets A and B on the response. */
function echoResponseHeaders(r: GoRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const list of r.header.get('X-Echo-Set-Header') ?? []) {
    for (const kv of list.split(',')) {
      const trimmed = kv.trim();
      const colon = trimmed.indexOf(':');
      const name = colon >= 0 ? trimmed.slice(0, colon) : trimmed;
      const value = colon >= 0 ? trimmed.slice(colon + 1) : '';
      if (!TOKEN.test(name)) continue;
      out[name] = name in out ? `${out[name]},${value.trim()}` : value.trim();
    }
  }
  return out;
}

/** Sleeps for `?<key>=<duration>`; answers 500 and returns false on a bad duration. */
async function delayResponse(proc: ContainerProcess, form: URLSearchParams, key: string, res: AnyResponse): Promise<boolean> {
  const d = form.get(key) ?? '';
  if (d === '') return true;
  let ms: number;
  try {
    ms = goParseDuration(d);
  } catch (e) {
    processError(res, (e as Error).message, 500);
    return false;
  }
  if (ms > 0) await new Promise<void>((resolve) => processTimer(proc, ms, resolve));
  return true;
}

interface EchoServer {
  proc: ContainerProcess;
  context: EchoContext;
  /** `httpPort` in the answer; undefined for the Ingress echoserver, which has no such field. */
  httpPort?: string;
  /** Whether the context includes `pod` (echo-basic) or not (Ingress echoserver). */
  withPod: boolean;
}

async function echoHandler(server: EchoServer, req: AnyRequest, res: AnyResponse, r: GoRequest, form: URLSearchParams): Promise<void> {
  server.proc.ctx.log(`Echoing back request made to ${r.requestURI} to client (${r.remoteAddr})`);
  if (server.httpPort !== undefined && !(await delayResponse(server.proc, form, 'delay', res))) return;
  const body: Record<string, unknown> = {
    path: r.requestURI,
    host: r.host,
    method: r.method,
    proto: r.proto,
    headers: headerObject(r.header),
  };
  if (server.httpPort !== undefined) body['httpPort'] = server.httpPort;
  body['namespace'] = server.context.namespace;
  body['ingress'] = server.context.ingress;
  body['service'] = server.context.service;
  if (server.withPod) body['pod'] = server.context.pod;
  const tls = server.httpPort !== undefined ? tlsAssertions(req) : undefined;
  if (tls) body['tls'] = tls;
  const headers = server.httpPort !== undefined ? echoResponseHeaders(r) : {};
  goWrite(res, 200, goMarshal(body, ' '), { ...headers, 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
}

/** retrySimulationHandler: fail the first `succeedAfter` attempts of a `uuid`, then echo. */
async function retryHandler(server: EchoServer, attempts: Map<string, number>, req: AnyRequest, res: AnyResponse, r: GoRequest, form: URLSearchParams): Promise<void> {
  const uuid = r.query.get('uuid') ?? '';
  if (uuid === '') return goWrite(res, 400, 'uuid is required');
  let succeedAfter: number;
  try {
    succeedAfter = goAtoi(r.query.get('succeedAfter') ?? '');
  } catch {
    return goWrite(res, 400, 'succeedAfter is required');
  }
  let responseCode: number | undefined;
  try {
    responseCode = goAtoi(r.query.get('responseCode') ?? '');
  } catch {
    responseCode = undefined;
  }
  const seen = attempts.get(uuid) ?? 0;
  if (seen < succeedAfter) {
    attempts.set(uuid, seen + 1);
    if (!(await delayResponse(server.proc, form, 'delayRetry', res))) return;
    if (responseCode === undefined) {
      // Hijack, SO_LINGER 0, close: the client sees a TCP RST instead of a response.
      if ('stream' in res) res.stream.close();
      else req.socket.resetAndDestroy();
      return;
    }
    if (responseCode < 100 || responseCode > 999) return dropConnection(res);
    goWrite(res, responseCode < 200 ? 200 : responseCode);
    return;
  }
  await echoHandler(server, req, res, r, form);
}

function portOf(env: Readonly<Record<string, string>>, name: string, fallback: string): string {
  return env[name] || fallback;
}

/** `http.ListenAndServe(":"+port)` refuses a port that is not a number; the server panics (exit 2). */
function checkListenPort(ctx: ContainerContext, image: string, port: string, message: (detail: string) => string): number {
  if (!/^\d+$/.test(port) || Number(port) > 65535) {
    throw new ContainerArgsError(image, ctx.args, 2, `panic: ${message(`listen tcp: lookup tcp/${port}: unknown port`)}\n`);
  }
  return Number(port);
}

async function startEchoBasic(ctx: ContainerContext): Promise<RunningContainer> {
  const env = ctx.env;
  if (env['GRPC_ECHO_SERVER']) throw new ImageFeatureUnsupportedError('echo-basic', 'GRPC_ECHO_SERVER', 'the gRPC echo server is not emulated');
  if (env['TCP_ECHO_SERVER']) return startTcpEcho(ctx);
  if (env['UDP_ECHO_SERVER']) return startUdpEcho(ctx);

  const httpPort = portOf(env, 'HTTP_PORT', '3000');
  const h2cPort = portOf(env, 'H2C_PORT', '3001');
  const httpsPort = portOf(env, 'HTTPS_PORT', '8443');
  const failed = (detail: string): string => `Failed to start listening: ${detail}\n`;
  const proc = new ContainerProcess(ctx);
  const server: EchoServer = { proc, context: echoContext(env), httpPort, withPod: true };
  const attempts = new Map<string, number>();

  const handler = async (req: AnyRequest, res: AnyResponse): Promise<void> => {
    const r = preserveSlashes(goRequest(req, remoteAddrOf(req)));
    if (goServeMuxRedirect(res, r)) return;
    const form = await goForm(req, r);
    if (r.path === '/health') return goWrite(res, 200, 'OK');
    if (r.path.startsWith('/status/')) {
      const m = /^\/status\/(\d\d\d)$/.exec(r.requestURI);
      const code = m ? Number(m[1]) : 400;
      if (code < 100) return dropConnection(res);
      return goWrite(res, code < 200 ? 200 : code);
    }
    if (r.path.startsWith('/retry/')) return retryHandler(server, attempts, req, res, r, form);
    if (r.path === '/ws') {
      // golang.org/x/net/websocket answers a request that is not a WebSocket handshake on the raw connection.
      if ('stream' in res) return goWrite(res, 400, 'not websocket protocol');
      res.socket?.end('HTTP/1.1 400 Bad Request\r\n\r\nnot websocket protocol');
      return;
    }
    return echoHandler(server, req, res, r, form);
  };

  await proc.serveHttp(checkListenPort(ctx, 'echo-basic', httpPort, failed), handler);
  ctx.log(`Starting server, listening on port ${httpPort} (http)`);
  await proc.serveHttp(
    checkListenPort(ctx, 'echo-basic', h2cPort, failed),
    (req, res) => {
      if (req.httpVersionMajor !== 2 && String(req.headers['upgrade'] ?? '') !== 'h2c') return goWrite(res, 400, 'Expected h2c request');
      const r = goRequest(req, remoteAddrOf(req));
      return goForm(req, r).then((form) => echoHandler(server, req, res, r, form));
    },
    { h2c: true },
  );
  ctx.log(`Starting server, listening on port ${h2cPort} (h2c)`);
  if (env['TLS_SERVER_CERT'] && env['TLS_SERVER_PRIVKEY']) {
    await proc.serveHttp(checkListenPort(ctx, 'echo-basic', httpsPort, failed), handler, { tls: true });
    ctx.log(`Starting server, listening on port ${httpsPort} (https)`);
  }
  return proc.handle();
}

/** tcpserver.go: a welcome line, then `TEST`, `IS_TLS` and `PING` answered line by line. */
async function startTcpEcho(ctx: ContainerContext): Promise<RunningContainer> {
  const env = ctx.env;
  const portFrom = (name: string, fallback: string): string => {
    const value = env[name] ?? '';
    if (value === '') return fallback;
    try {
      goAtoi(value);
    } catch (e) {
      throw new ContainerArgsError('echo-basic', ctx.args, 2, `panic: Failed to start tcp server: non-integer value in ${name}: ${value}. Error: ${(e as Error).message}\n`);
    }
    return value;
  };
  const tcpPort = portFrom('TCP_PORT', '3000');
  const tlsPort = portFrom('TLS_PORT', '8443');
  const withTLS = Boolean(env['TLS_SERVER_CERT'] && env['TLS_SERVER_PRIV_KEY']);
  const reset = env['TCP_MODE'] === 'RESET';
  const context = { ...echoContext(env), tcpport: tcpPort, tlsport: tlsPort };
  const proc = new ContainerProcess(ctx);

  const handle = (socket: Socket, isTLS: boolean): void => {
    if (reset) {
      socket.resetAndDestroy();
      return;
    }
    const assertions: Record<string, unknown> = { ...context, isTLS };
    if (isTLS) {
      const t = socket as TLSSocket;
      const state: Record<string, string> = {
        version: (t.getProtocol() ?? '').replace(/^TLSv/, 'TLS '),
        serverName: typeof t.servername === 'string' ? t.servername : '',
      };
      if (t.alpnProtocol) state['negotiatedProtocol'] = t.alpnProtocol;
      state['cipherSuite'] = t.getCipher()?.standardName ?? '';
      assertions['tls'] = state;
    }
    const payload = goMarshal(assertions);
    socket.write('Gateway API Test TCP Server\n');
    let buffered = '';
    const answer = (line: string): void => {
      const text = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (text === 'TEST') socket.write(`${payload}\n`);
      else if (text === 'IS_TLS') socket.write(`${isTLS}\n`);
      else if (text === 'PING') socket.write('PONG\n');
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        answer(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    });
    socket.on('end', () => {
      if (buffered !== '') answer(buffered);
      socket.end();
    });
  };

  await proc.listenTcp(Number(tcpPort), (conn) => handle(conn.socket, false));
  ctx.log(`Starting server (tcp) protocol=tcp port=${tcpPort}`);
  if (withTLS) {
    await proc.listenTcp(Number(tlsPort), (conn) => handle(conn.socket, true), { tls: true, alpn: [] });
    ctx.log(`Starting server (tcp) protocol=tls port=${tlsPort}`);
  }
  return proc.handle();
}

/** udpechoserver.go: every datagram is answered with `{"request": …, namespace, ingress, service, pod}`. */
async function startUdpEcho(ctx: ContainerContext): Promise<RunningContainer> {
  const port = ctx.env['UDP_PORT'] || '8080';
  if (!/^\d+$/.test(port) || Number(port) > 65535) {
    throw new ContainerArgsError('echo-basic', ctx.args, 1, `echo server error: resolving UDP address: address ${port}: invalid port\n`);
  }
  const context = echoContext(ctx.env);
  const proc = new ContainerProcess(ctx);
  await proc.listenUdp(Number(port), (msg) => {
    const request = msg.data.subarray(0, 1024).toString('utf8');
    ctx.log(`Received UDP ${request} from ${joinHostPort(msg.remoteAddress, msg.remotePort)}`);
    msg.reply(goMarshal({ request, ...context }));
  });
  ctx.log(`UDP server listening on :${port}`);
  return proc.handle();
}

async function startIngressEchoserver(ctx: ContainerContext): Promise<RunningContainer> {
  const port = ctx.env['PORT'] || '3000';
  const proc = new ContainerProcess(ctx);
  const server: EchoServer = { proc, context: echoContext(ctx.env), withPod: false };
  await proc.serveHttp(
    checkListenPort(ctx, 'echoserver', port, (d) => `Failed to start listening: ${d}\n`),
    async (req, res) => {
      const r = preserveSlashes(goRequest(req, remoteAddrOf(req)));
      if (goServeMuxRedirect(res, r)) return;
      if (r.path === '/health') return goWrite(res, 200, 'OK');
      return echoHandler(server, req, res, r, new URLSearchParams());
    },
  );
  ctx.log(`Starting server, listening on port ${port}`);
  return proc.handle();
}

/** The Gateway API conformance echo server, matched on the repository name `echo-basic`. */
export const echoBasic: BuiltinImage = {
  name: 'echo-basic',
  matches: (image) => imageBaseName(parseImageReference(image)) === 'echo-basic',
  start: startEchoBasic,
};

/** The Ingress conformance echo server, matched on `…ingressconformance/echoserver`. */
export const ingressEchoserver: BuiltinImage = {
  name: 'ingress-echoserver',
  matches(image) {
    const parts = parseImageReference(image).repository.split('/');
    return parts.at(-1) === 'echoserver' && (parts.at(-2) ?? '').includes('ingressconformance');
  },
  start: startIngressEchoserver,
};
