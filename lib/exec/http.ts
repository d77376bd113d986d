/**
 * One HTTP/1.1 exchange over a connection a tool dialed from the pod (optionally TLS over it),
 * shared by curl and wget. Node's own client parses the response; the request carries exactly
 * the headers the tool sends (node's automatic `Connection` header is removed).
 */

import http from 'node:http';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';

/** A response as the tool sees it. */
export interface HttpResponse {
  httpVersion: string;
  statusCode: number;
  statusMessage: string;
  /** Header lines as received: name with its case, value. */
  rawHeaders: [string, string][];
  body: Buffer;
  /** The status line and header block as received, ending with the blank line (`\r\n` separated). */
  head: string;
}

/** How an exchange failed. */
export type HttpFailureKind = 'empty-reply' | 'reset' | 'timeout' | 'tls-verify' | 'tls-handshake' | 'tls-hostname' | 'other';

/** A failed exchange. */
export class HttpFailure extends Error {
  readonly kind: HttpFailureKind;
  /** Bytes of body received before the failure. */
  readonly received: number;
  /** Content-Length of the response, when it was known. */
  readonly expected: number | undefined;
  constructor(kind: HttpFailureKind, message: string, received = 0, expected?: number) {
    super(message);
    this.kind = kind;
    this.received = received;
    this.expected = expected;
  }
}

/** Options of {@link startTls}. */
export interface TlsOptions {
  servername: string | undefined;
  verify: boolean;
  deadline?: number | undefined;
}

/** Node's certificate-verification codes as OpenSSL words them (what curl prints after `SSL certificate problem: `). */
const VERIFY_TEXT: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get local issuer certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
};

/** Performs a TLS handshake over a dialed socket. */
export function startTls(socket: Socket, options: TlsOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket,
      ...(options.servername ? { servername: options.servername } : {}),
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = deadlineTimer(options.deadline, () => {
      secure.destroy();
      reject(new HttpFailure('timeout', 'TLS handshake timed out'));
    });
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      if (options.verify) {
        if (!secure.authorized) {
          const code = String((secure.authorizationError as unknown as { code?: string } | string | null) ?? '');
          secure.destroy();
          reject(new HttpFailure('tls-verify', VERIFY_TEXT[code] ?? code.toLowerCase().replace(/_/g, ' ')));
          return;
        }
        const host = options.servername;
        if (host) {
          const err = tls.checkServerIdentity(host, secure.getPeerCertificate());
          if (err) {
            secure.destroy();
            reject(new HttpFailure('tls-hostname', `no alternative certificate subject name matches target host name '${host}'`));
            return;
          }
        }
      }
      resolve(secure);
    });
    secure.once('error', (e) => {
      clearTimeout(timer);
      reject(new HttpFailure('tls-handshake', e.message));
    });
  });
}

function deadlineTimer(deadline: number | undefined, fn: () => void): NodeJS.Timeout | undefined {
  if (deadline === undefined) return undefined;
  return setTimeout(fn, Math.max(0, deadline - Date.now()));
}

/** A request to send. */
export interface HttpRequest {
  method: string;
  /** The request target (path and query). */
  path: string;
  /** Header lines in order. */
  headers: [string, string][];
  body?: Buffer | undefined;
  deadline?: number | undefined;
  /** Decode a gzip/deflate body (curl --compressed). */
  decode?: boolean;
}

/** Sends one request on `socket` and reads the whole response; the socket is closed afterwards. */
export function exchange(socket: Socket, request: HttpRequest): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    let received = 0;
    let expected: number | undefined;
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = deadlineTimer(request.deadline, () => finish(() => reject(new HttpFailure('timeout', 'timed out', received, expected))));
    const req = http.request({ createConnection: () => socket, method: request.method, path: request.path, setHost: false });
    for (const [name, value] of request.headers) {
      const prev = req.getHeader(name);
      req.setHeader(name, prev === undefined ? value : [...(Array.isArray(prev) ? prev.map(String) : [String(prev)]), value]);
    }
    req.removeHeader('Connection');
    req.on('response', (res) => {
      expected = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        received += c.length;
        chunks.push(c);
      });
      res.on('end', () =>
        finish(() => {
          const rawHeaders: [string, string][] = [];
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) rawHeaders.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
          let body = Buffer.concat(chunks);
          if (request.decode) {
            const enc = String(res.headers['content-encoding'] ?? '').toLowerCase();
            try {
              if (enc === 'gzip') body = gunzipSync(body);
              else if (enc === 'deflate') body = inflateSync(body);
            } catch {
              // curl reports a bad encoding as error 61; the raw body is kept here.
            }
          }
          const statusMessage = res.statusMessage ?? '';
          const head = `HTTP/${res.httpVersion} ${res.statusCode}${statusMessage ? ` ${statusMessage}` : ''}\r\n${rawHeaders.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
          resolve({ httpVersion: res.httpVersion, statusCode: res.statusCode ?? 0, statusMessage, rawHeaders, body, head });
        }),
      );
      res.on('error', (e) => finish(() => reject(new HttpFailure('reset', e.message, received, expected))));
      res.on('aborted', () => finish(() => reject(new HttpFailure('reset', 'Connection reset by peer', received, expected))));
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      // A connection closed before any response byte: "Empty reply from server" (curl 52).
      const empty = e.code === 'ECONNRESET' && /socket hang up/.test(e.message);
      finish(() => reject(new HttpFailure(empty ? 'empty-reply' : e.code === 'ECONNRESET' ? 'reset' : 'other', e.message, received, expected)));
    });
    if (request.body && request.body.length > 0) req.end(request.body);
    else req.end();
  });
}
