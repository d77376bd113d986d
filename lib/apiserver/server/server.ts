/**
 * The Kubernetes API server of a running podnet: HTTPS on a loopback address with a generated CA
 * and serving certificate (plain HTTP only when asked), optional bearer-token authentication,
 * the version, health, discovery and OpenAPI endpoints, and REST on every stored kind at its
 * real path — so kubectl and client libraries work against podnet as against a cluster.
 */

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { PodnetError } from '../../core/errors.js';
import { assertLoopback, isLoopbackAddress } from '../../core/sockets.js';
import type { ObjectStore } from '../store.js';
import { negotiate, parseQuery, parseResourcePath } from './request.js';
import { statusErrors } from './status.js';
import {
  createObject,
  deleteCollection,
  deleteObject,
  fail,
  getObject,
  listObjects,
  patchObject,
  send,
  updateObject,
  watchObjects,
  type RequestContext,
} from './resources.js';
import { aggregatedDiscovery, apiGroup, apiGroupList, apiResourceList, apiVersions, discoveryContentType, negotiateDiscovery, versionInfo } from './discovery.js';
import { OPENAPI_V2_PROTOBUF, OPENAPI_V2_PROTOBUF_RESPONSE, openapiV2, openapiV2Protobuf, openapiV3Document, openapiV3Hash, openapiV3Root } from './openapi.js';
import { generateServingCertificates } from '../../core/certs.js';
import { ExecEndpoint, isExecPath, type ContainerRunning, type ExecHandler } from './exec.js';
import { isPodnetPath, servePodnet, type PodnetControl } from './podnet.js';

/** Options of {@link ApiServer}. */
export interface ApiServerOptions {
  /** Loopback address to bind (127.0.0.0/8 or ::1). Default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. Default 6443. */
  port?: number;
  /** Serve plain HTTP instead of HTTPS. */
  insecureHttp?: boolean;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Runs `pods/exec` commands (the kubelets' streaming server); without it exec answers 503. */
  exec?: ExecHandler;
  /** Whether a pod's container is running, checked before an exec upgrade. */
  execRunning?: ContainerRunning;
  /** What podnet's own control endpoint (`/apis/podnet.dev/v1alpha1`, podnet.ts) drives. */
  podnet?: PodnetControl;
}

/** Where a started server listens. */
export interface ApiServerAddress {
  url: string;
  host: string;
  port: number;
  /** The CA that signed the serving certificate (HTTPS only). */
  caPem?: string;
}

/** The states of an API server. */
export type ApiServerState = 'created' | 'listening' | 'closed';

/** True for addresses a podnet socket may bind: 127.0.0.0/8 and ::1 (the socket layer's guard). */
export function isLoopback(host: string): boolean {
  return isLoopbackAddress(host);
}

/** A Kubernetes API server over an object store. */
export class ApiServer {
  readonly #store: ObjectStore;
  readonly #options: ApiServerOptions;
  #server: http.Server | undefined;
  #state: ApiServerState = 'created';
  #address: ApiServerAddress | undefined;
  readonly #watches = new Set<() => void>();
  readonly #sockets = new Set<Socket>();
  #exec: ExecEndpoint | undefined;

  constructor(store: ObjectStore, options: ApiServerOptions = {}) {
    this.#store = store;
    this.#options = options;
  }

  /** The lifecycle state. */
  get state(): ApiServerState {
    return this.#state;
  }

  /** Where the server listens, once it does. */
  get address(): ApiServerAddress | undefined {
    return this.#address;
  }

  /** Starts listening. */
  async listen(): Promise<ApiServerAddress> {
    if (this.#state !== 'created') throw new PodnetError('PODNET_APISERVER_STATE', `the API server is ${this.#state}`);
    const host = this.#options.host ?? '127.0.0.1';
    assertLoopback(host, 'bind');
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.#handle(req, res);
    let caPem: string | undefined;
    if (this.#options.insecureHttp) {
      this.#server = http.createServer(handler);
    } else {
      const certs = generateServingCertificates({ ips: host === 'localhost' ? [] : [host] });
      caPem = certs.caCertPem;
      this.#server = https.createServer({ key: certs.keyPem, cert: `${certs.certPem}${certs.caCertPem}` }, handler);
    }
    const server = this.#server;
    // pods/exec: a WebSocket upgrade (exec.ts); any other upgrade is refused with a Status.
    this.#exec = new ExecEndpoint({ store: this.#store, exec: this.#options.exec, running: this.#options.execRunning });
    server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      socket.on('error', () => {});
      const path = new URL(req.url ?? '/', 'http://podnet').pathname.replace(/\/+$/, '');
      if (!this.#authorized(req)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n' + JSON.stringify(statusErrors.unauthorized().status));
      } else if (isExecPath(path)) this.#exec!.handle(req, socket, head, path);
      else socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    });
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EADDRINUSE'
            ? new PodnetError('PODNET_PORT_IN_USE', `cannot serve the API on ${host}:${this.#options.port ?? 6443}: the port is in use (choose another with --api-port, or 0 for any free port)`)
            : err,
        );
      };
      server.once('error', onError);
      server.listen(this.#options.port ?? 6443, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const urlHost = host.includes(':') ? `[${host}]` : host;
    this.#address = { url: `${this.#options.insecureHttp ? 'http' : 'https'}://${urlHost}:${port}`, host, port, ...(caPem ? { caPem } : {}) };
    this.#state = 'listening';
    return this.#address;
  }

  /** Ends every watch, closes every connection and stops listening. */
  async close(): Promise<void> {
    if (this.#state !== 'listening') {
      this.#state = 'closed';
      return;
    }
    this.#state = 'closed';
    for (const stop of [...this.#watches]) stop();
    this.#exec?.close();
    const server = this.#server!;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  #authorized(req: http.IncomingMessage): boolean {
    const token = this.#options.token;
    if (!token) return true;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m) return false;
    const given = Buffer.from(m[1]!.trim());
    const want = Buffer.from(token);
    return given.length === want.length && timingSafeEqual(given, want);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://podnet');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    let info;
    try {
      if (!this.#authorized(req)) throw statusErrors.unauthorized();
      if (isPodnetPath(path)) return await servePodnet(path, method, this.#options.podnet, res, url.searchParams);
      if (isExecPath(path)) throw statusErrors.badRequest('Upgrade request required');
      if (method === 'GET' && this.#serveNonResource(path, url, req, res)) return;
      const target = parseResourcePath(path);
      if (!target) throw statusErrors.notFoundPath();
      info = target.info;
      const query = parseQuery(url.searchParams);
      const ctx: RequestContext = {
        store: this.#store,
        req,
        res,
        target,
        query,
        rendering: negotiate(req.headers.accept),
        defaultManager: managerFromUserAgent(req.headers['user-agent']),
        track: (stop) => {
          this.#watches.add(stop);
          return () => void this.#watches.delete(stop);
        },
      };
      const collection = target.name === undefined;
      if (collection && target.info.namespaced && target.namespace === undefined && method !== 'GET') {
        throw statusErrors.methodNotAllowed(method);
      }
      switch (method) {
        case 'GET':
          if (query.watch) return watchObjects(ctx);
          return collection ? listObjects(ctx) : getObject(ctx);
        case 'POST':
          if (!collection || target.subresource) throw statusErrors.methodNotAllowed(method);
          return await createObject(ctx);
        case 'PUT':
          if (collection) throw statusErrors.methodNotAllowed(method);
          return await updateObject(ctx);
        case 'PATCH':
          if (collection) throw statusErrors.methodNotAllowed(method);
          return await patchObject(ctx);
        case 'DELETE':
          if (target.subresource) throw statusErrors.methodNotAllowed(method);
          return collection ? await deleteCollection(ctx) : await deleteObject(ctx);
        default:
          throw statusErrors.methodNotAllowed(method);
      }
    } catch (err) {
      fail(res, err, info);
    }
  }

  /** Version, health, discovery and OpenAPI; true when the path was one of them. */
  #serveNonResource(path: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const serverAddress = `${this.#address?.host ?? '127.0.0.1'}:${this.#address?.port ?? 0}`;
    switch (path) {
      case '/version':
        send(res, 200, versionInfo());
        return true;
      case '/healthz':
      case '/readyz':
      case '/livez':
      case '/healthz/ping':
      case '/readyz/ping':
      case '/livez/ping': {
        const verbose = url.searchParams.has('verbose');
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
        res.end(verbose ? `[+]ping ok\n[+]etcd ok\n${path.slice(1)} check passed\n` : 'ok');
        return true;
      }
      case '/api':
      case '/apis': {
        const which = path === '/api' ? 'api' : 'apis';
        const wanted = negotiateDiscovery(req.headers.accept ?? '');
        if (wanted.kind === 'aggregated') {
          const body = aggregatedDiscovery(which, wanted.version);
          res.writeHead(200, { 'Content-Type': discoveryContentType(wanted.version), Vary: 'Accept' });
          res.end(JSON.stringify(body));
        } else {
          res.setHeader('Vary', 'Accept');
          send(res, 200, which === 'api' ? apiVersions(serverAddress) : apiGroupList());
        }
        return true;
      }
      case '/openapi/v2':
        // client-go asks for v2 as protobuf only.
        const accept = req.headers.accept ?? '';
        if (accept.includes(OPENAPI_V2_PROTOBUF) || accept.includes(OPENAPI_V2_PROTOBUF_RESPONSE)) {
          res.writeHead(200, { 'Content-Type': OPENAPI_V2_PROTOBUF_RESPONSE });
          res.end(openapiV2Protobuf(versionInfo().gitVersion));
          return true;
        }
        send(res, 200, openapiV2());
        return true;
      case '/openapi/v3':
        send(res, 200, openapiV3Root());
        return true;
    }
    if (path.startsWith('/openapi/v3/')) {
      const key = path.slice('/openapi/v3/'.length);
      const doc = openapiV3Document(key);
      if (!doc) return false;
      const hash = openapiV3Hash(key);
      const headers: Record<string, string> = { 'Content-Type': 'application/json', ...(hash ? { ETag: `"${hash}"` } : {}) };
      if (hash && url.searchParams.get('hash') === hash) headers['Cache-Control'] = 'public, immutable';
      res.writeHead(200, headers);
      res.end(JSON.stringify(doc));
      return true;
    }
    const gv = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (gv) {
      const list = gv[1] ? apiResourceList('', 'v1') : apiResourceList(gv[2]!, gv[3]!);
      if (!list) return false;
      send(res, 200, list);
      return true;
    }
    const group = /^\/apis\/([^/]+)$/.exec(path);
    if (group) {
      const g = apiGroup(group[1]!);
      if (!g) return false;
      send(res, 200, g);
      return true;
    }
    return false;
  }
}

/** The default field manager: the program name in the User-Agent (`kubectl/v1.32.4 ...` → `kubectl`). */
export function managerFromUserAgent(ua: string | undefined): string {
  if (!ua) return 'unknown';
  const first = ua.split(' ')[0] ?? ua;
  return first.split('/')[0] || 'unknown';
}
