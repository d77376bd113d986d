/**
 * traefik/whoami (github.com/traefik/whoami app.go): a Go server printing who it is and the
 * request it received.
 *
 * Flags (Go's `flag` package): `--port` (default `$WHOAMI_PORT_NUMBER`, else 80), `--name`
 * (default `$WHOAMI_NAME`), `--verbose`, `--cert`/`--key`/`--cacert`.
 *
 * `/` answers, one `fmt.Fprintln` per line:
 * ```
 * Name: <name>                 (only when a name is set)
 * Hostname: <hostname>
 * IP: 127.0.0.1
 * IP: ::1
 * IP: <each pod IP>
 * RemoteAddr: <client ip:port>
 * <the request as Go's Request.Write renders it: CRLF lines, Host, User-Agent, sorted headers>
 * ```
 * plus `?wait=<duration>` and `?env=true`; `/api` is the same as JSON, `/bench` is `1`,
 * `/health` the settable health status, `/data?size=&unit=&attachment=` generated content.
 *
 * Not emulated: the WebSocket echo on `/echo` (a non-WebSocket request gets gorilla's 400), the
 * gRPC service, client certificates, and the eth0 link-local IPv6 address a real pod also
 * lists (podnet does not model link-local addresses).
 */

import { ContainerProcess, exitSoon, processTimer, remoteAddrOf } from './container.js';
import { ContainerArgsError } from './errors.js';
import {
  goAtoi,
  goHttpError,
  goMarshal,
  goParseBool,
  goParseDuration,
  goRequest,
  goServeMuxRedirect,
  goWrite,
  GoFlagError,
  headerObject,
  parseGoFlags,
  readBody,
  type AnyRequest,
  type AnyResponse,
  type FlagSpec,
  type GoRequest,
} from './golang.js';
import { parseImageReference, repositoryEndsWith } from './reference.js';
import type { BuiltinImage, ContainerContext, RunningContainer } from './types.js';

/** The interface addresses whoami lists: loopback first, then eth0's pod IPs. */
function interfaceIPs(ctx: ContainerContext): string[] {
  return ['127.0.0.1', '::1', ...ctx.podIPs];
}

/** Header values as `Header.Write` writes them: CR and LF become spaces, surrounding blanks trimmed. */
function sanitize(value: string): string {
  return value.replace(/[\r\n]/g, ' ').replace(/^[ \t]+|[ \t]+$/g, '');
}

/**
 * The request as Go's `Request.Write` serializes it: request line with `RequestURI()`, `Host`,
 * `User-Agent` (Go's default when the client sent none), `Connection: close` for a closing
 * request, `Content-Length`/`Transfer-Encoding`, the other headers sorted by key, a blank line,
 * then the body (re-chunked when it came chunked).
 */
export function goRequestWrite(r: GoRequest, body: Buffer): Buffer {
  const lines: string[] = [];
  let ruri = r.requestURI;
  const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(ruri);
  if (absolute) ruri = absolute[1] || '/';
  lines.push(`${r.method || 'GET'} ${ruri} HTTP/1.1`);
  lines.push(`Host: ${r.host.replace(/%25[^\]]*/, '')}`);
  const ua = r.header.has('User-Agent') ? (r.header.get('User-Agent')![0] ?? '') : 'Go-http-client/1.1';
  if (ua !== '') lines.push(`User-Agent: ${sanitize(ua)}`);
  const connection = (r.header.get('Connection') ?? []).join(',');
  if (r.close && !/\bclose\b/i.test(connection)) lines.push('Connection: close');
  const chunked = r.contentLength < 0;
  const length = chunked ? -1 : body.length;
  const sendLength = !chunked && (length > 0 || ['POST', 'PUT', 'PATCH'].includes(r.method));
  if (sendLength) lines.push(`Content-Length: ${length}`);
  else if (chunked) lines.push('Transfer-Encoding: chunked');
  const excluded = new Set(['Host', 'User-Agent', 'Content-Length', 'Transfer-Encoding', 'Trailer']);
  for (const key of [...r.header.keys()].sort()) {
    if (excluded.has(key)) continue;
    for (const v of r.header.get(key)!) lines.push(`${key}: ${sanitize(v)}`);
  }
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
  if (!chunked) return Buffer.concat([head, body]);
  const parts: Buffer[] = [head];
  if (body.length > 0) parts.push(Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n'));
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

const FLAGS = (env: Readonly<Record<string, string>>): Record<string, FlagSpec> => ({
  verbose: { kind: 'bool', default: false },
  cert: { kind: 'string', default: '' },
  key: { kind: 'string', default: '' },
  cacert: { kind: 'string', default: '' },
  port: { kind: 'string', default: env['WHOAMI_PORT_NUMBER'] || '80' },
  name: { kind: 'string', default: env['WHOAMI_NAME'] ?? '' },
});

/** whoami's argv without the binary (its ENTRYPOINT is `/whoami`). */
function whoamiArgv(args: readonly string[]): string[] {
  const argv = [...args];
  if (argv.length > 0 && /(^|\/)whoami$/.test(argv[0]!)) argv.shift();
  return argv;
}

/** `/data`'s generated content: `-ABC…Z` repeated, the first and last byte `|`. */
function* dataChunks(size: number): Generator<Buffer> {
  const charset = '-ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const block = 64 * 1024;
  for (let offset = 0; offset < size; offset += block) {
    const n = Math.min(block, size - offset);
    const chunk = Buffer.alloc(n);
    for (let i = 0; i < n; i++) chunk[i] = charset.charCodeAt((offset + i) % charset.length);
    if (offset === 0) chunk[0] = 0x7c;
    if (offset + n === size) chunk[n - 1] = 0x7c;
    yield chunk;
  }
}

async function start(ctx: ContainerContext): Promise<RunningContainer> {
  let flags;
  try {
    flags = parseGoFlags(whoamiArgv(ctx.args), FLAGS(ctx.env));
  } catch (e) {
    if (e instanceof GoFlagError) throw new ContainerArgsError('whoami', ctx.args, 2, `${e.message}\nUsage of /whoami:\n`);
    throw e;
  }
  const proc = new ContainerProcess(ctx);
  if (flags.help) {
    exitSoon(proc, 0);
    return proc.handle();
  }
  const port = flags.values['port'] as string;
  const name = flags.values['name'] as string;
  if (!/^\d+$/.test(port) || Number(port) > 65535) {
    throw new ContainerArgsError('whoami', ctx.args, 1, `whoami terminated: serving: listen tcp: lookup tcp/${port}: unknown port\n`);
  }
  const withTLS = flags.values['cert'] !== '' && flags.values['key'] !== '';
  let healthStatus = 200;

  const whoami = async (req: AnyRequest, res: AnyResponse, r: GoRequest): Promise<void> => {
    const wait = r.query.get('wait') ?? '';
    if (wait !== '') {
      let ms = 0;
      try {
        ms = goParseDuration(wait);
      } catch {
        ms = 0;
      }
      if (ms > 0) await new Promise<void>((resolve) => processTimer(proc, ms, resolve));
    }
    const body = await readBody(req);
    let text = '';
    if (name !== '') text += `Name: ${name}\n`;
    text += `Hostname: ${ctx.hostname}\n`;
    for (const ip of interfaceIPs(ctx)) text += `IP: ${ip}\n`;
    text += `RemoteAddr: ${r.remoteAddr}\n`;
    let out = Buffer.concat([Buffer.from(text), goRequestWrite(r, body)]);
    let showEnv = false;
    try {
      showEnv = goParseBool(r.query.get('env') ?? '');
    } catch {
      showEnv = false;
    }
    if (showEnv) {
      const env = Object.entries(ctx.env).map(([k, v]) => `${k}=${v}\n`).join('');
      out = Buffer.concat([out, Buffer.from(env)]);
    }
    goWrite(res, 200, out);
  };

  const api = (res: AnyResponse, r: GoRequest): void => {
    let showEnv = false;
    try {
      showEnv = goParseBool(r.query.get('env') ?? '');
    } catch {
      showEnv = false;
    }
    // Data's fields in order, each omitempty.
    const data: Record<string, unknown> = { hostname: ctx.hostname, ip: interfaceIPs(ctx) };
    if (r.header.size > 0) data['headers'] = headerObject(r.header);
    const url = r.requestURI.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/, '') || '/';
    data['url'] = url;
    if (r.host !== '') data['host'] = r.host;
    data['method'] = r.method;
    if (name !== '') data['name'] = name;
    if (r.remoteAddr !== '') data['remoteAddr'] = r.remoteAddr;
    if (showEnv && Object.keys(ctx.env).length > 0) {
      const environ: Record<string, string> = {};
      for (const k of Object.keys(ctx.env).sort()) environ[k] = ctx.env[k]!;
      data['environ'] = environ;
    }
    goWrite(res, 200, `${goMarshal(data)}\n`, { 'Content-Type': 'application/json' });
  };

  const health = async (req: AnyRequest, res: AnyResponse, r: GoRequest): Promise<void> => {
    if (r.method !== 'POST') return goWrite(res, healthStatus < 100 || healthStatus > 999 ? 200 : healthStatus);
    const text = (await readBody(req)).toString('utf8').trim();
    if (text === '') return goHttpError(res, 'EOF', 400);
    let code: number;
    try {
      code = goAtoi(text);
    } catch {
      return goHttpError(res, `invalid character ${JSON.stringify(text[0]).replace(/"/g, "'")} looking for beginning of value`, 400);
    }
    ctx.log(`Update health check status code [${code}]`);
    healthStatus = code;
    goWrite(res, 200);
  };

  const data = (res: AnyResponse, r: GoRequest): void => {
    let size: number;
    try {
      size = goAtoi(r.query.get('size') ?? '');
    } catch {
      size = 1;
    }
    if (size < 0) size = 0;
    const unit = (r.query.get('unit') ?? '').toLowerCase();
    size *= { kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 }[unit] ?? 1;
    let attachment = false;
    try {
      attachment = goParseBool(r.query.get('attachment') ?? '');
    } catch {
      attachment = false;
    }
    const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8' };
    if (attachment) {
      headers['Content-Disposition'] = 'Attachment';
      headers['Accept-Ranges'] = 'bytes';
    }
    headers['Content-Length'] = String(size);
    res.writeHead(200, headers);
    const out = res as unknown as NodeJS.WritableStream;
    const chunks = dataChunks(size);
    const pump = (): void => {
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        if (!out.write(next.value)) {
          out.once('drain', pump);
          return;
        }
      }
      out.end();
    };
    pump();
  };

  await proc.serveHttp(
    Number(port),
    async (req, res) => {
      const r = goRequest(req, remoteAddrOf(req));
      if (goServeMuxRedirect(res, r)) return;
      if (flags.values['verbose']) ctx.log(`${r.method} ${r.path} ${r.remoteAddr}`);
      switch (r.path) {
        case '/api':
          return api(res, r);
        case '/bench':
          return goWrite(res, 200, '1', { Connection: 'keep-alive', 'Content-Type': 'text/plain' });
        case '/health':
          return health(req, res, r);
        case '/data':
          return data(res, r);
        case '/echo':
          // gorilla/websocket's Upgrader answers a request that is not a WebSocket handshake.
          return goWrite(res, 400, 'Bad Request\n', { 'Content-Type': 'text/plain; charset=utf-8', 'Sec-Websocket-Version': '13', 'X-Content-Type-Options': 'nosniff' });
        default:
          return whoami(req, res, r);
      }
    },
    { tls: withTLS },
  );
  ctx.log(`Starting up on port ${port}`);
  return proc.handle();
}

/** traefik/whoami (and its former name containous/whoami), under any registry. */
export const whoami: BuiltinImage = {
  name: 'whoami',
  matches(image) {
    const ref = parseImageReference(image);
    return repositoryEndsWith(ref, 'traefik/whoami') || repositoryEndsWith(ref, 'containous/whoami');
  },
  start,
};
