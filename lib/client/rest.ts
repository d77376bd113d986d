/**
 * A small REST client for podnet's own CLI verbs against a running podnet (or any API server on
 * loopback): it finds the server the way kubectl does (lib/kubeconfig), speaks JSON, and turns a
 * failure Status back into a podnet error carrying the server's message.
 *
 * Like every podnet socket it connects to loopback only: a kubeconfig that points anywhere else
 * is refused, so podnet never reaches out of the machine.
 */

import http from 'node:http';
import https from 'node:https';
import { PodnetError } from '../core/errors.js';
import { isLoopbackAddress } from '../core/sockets.js';
import { apiVersionOf, type KindInfo } from '../api/scheme.js';
import type { KubeObject } from '../api/meta.js';
import type { ClientConfig } from '../kubeconfig/kubeconfig.js';

/** A failure the server answered with a Status. */
export class ApiError extends PodnetError {
  readonly status: { code?: number; reason?: string; message?: string };
  constructor(status: { code?: number; reason?: string; message?: string }) {
    super(apiErrorCode(status.reason), status.message ?? status.reason ?? `HTTP ${status.code}`);
    this.status = status;
  }
}

function apiErrorCode(reason: string | undefined): string {
  switch (reason) {
    case 'NotFound':
      return 'PODNET_NOT_FOUND';
    case 'AlreadyExists':
      return 'PODNET_ALREADY_EXISTS';
    case 'Conflict':
      return 'PODNET_CONFLICT';
    case 'Invalid':
      return 'PODNET_INVALID_OBJECT';
    case 'BadRequest':
      return 'PODNET_BAD_REQUEST';
    case 'Unauthorized':
      return 'PODNET_UNAUTHORIZED';
    default:
      return 'PODNET_API_ERROR';
  }
}

/** The URL path of a kind's collection or one object. */
export function resourcePath(info: KindInfo, namespace: string | undefined, name?: string, subresource?: string): string {
  const base = info.group ? `/apis/${apiVersionOf(info)}` : `/api/${info.version}`;
  const ns = info.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${info.resource}${name ? `/${encodeURIComponent(name)}` : ''}${subresource ? `/${subresource}` : ''}`;
}

/** A client bound to one server. */
export class RestClient {
  readonly config: ClientConfig;
  readonly #url: URL;

  constructor(config: ClientConfig) {
    this.config = config;
    let url: URL;
    try {
      url = new URL(config.server);
    } catch {
      throw new PodnetError('PODNET_KUBECONFIG_INVALID', `the server "${config.server}" is not a valid URL`);
    }
    if (!isLoopbackAddress(url.hostname)) {
      throw new PodnetError(
        'PODNET_NOT_LOOPBACK',
        `refusing to connect to ${config.server}: podnet talks to API servers on loopback (127.0.0.0/8, ::1) only`,
      );
    }
    this.#url = url;
  }

  /** Sends a request and parses the JSON answer; a failure Status becomes an {@link ApiError}. */
  request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const url = new URL(path, this.#url);
    const isHttps = url.protocol === 'https:';
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const options: https.RequestOptions = {
      method,
      headers: {
        Accept: 'application/json',
        'User-Agent': 'podnet/0.1.0',
        ...(payload !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...(this.config.token ? { Authorization: `Bearer ${this.config.token}` } : {}),
        ...headers,
      },
    };
    if (isHttps) {
      if (this.config.caPem) options.ca = this.config.caPem;
      if (this.config.insecureSkipTLSVerify) options.rejectUnauthorized = false;
    }
    return new Promise<T>((resolve, reject) => {
      const req = (isHttps ? https : http).request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          const code = res.statusCode ?? 0;
          if (code >= 400) {
            const status = (parsed && typeof parsed === 'object' ? parsed : { code, message: text.trim() || `HTTP ${code}` }) as ApiError['status'];
            reject(new ApiError({ code, ...status }));
          } else resolve(parsed as T);
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        reject(
          new PodnetError(
            'PODNET_CONNECTION_FAILED',
            err.code === 'ECONNREFUSED'
              ? `The connection to the server ${this.#url.host} was refused - is podnet up running?`
              : `cannot reach ${this.config.server}: ${err.message}`,
          ),
        );
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** GET one object. */
  get(info: KindInfo, namespace: string | undefined, name: string): Promise<KubeObject> {
    return this.request<KubeObject>('GET', resourcePath(info, namespace, name));
  }

  /** LIST a kind (in a namespace, or across all when `namespace` is undefined). */
  async list(info: KindInfo, namespace: string | undefined, options: { labelSelector?: string; fieldSelector?: string } = {}): Promise<KubeObject[]> {
    const q = new URLSearchParams();
    if (options.labelSelector) q.set('labelSelector', options.labelSelector);
    if (options.fieldSelector) q.set('fieldSelector', options.fieldSelector);
    const qs = q.toString();
    const list = await this.request<{ items: KubeObject[] }>('GET', `${resourcePath(info, namespace)}${qs ? `?${qs}` : ''}`);
    return list.items.map((o) => ({ ...o, apiVersion: o.apiVersion ?? apiVersionOf(info), kind: o.kind ?? info.kind }));
  }
}
