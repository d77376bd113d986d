/**
 * curl (8.x, as in curlimages/curl, netshoot and agnhost's Alpine packages), for HTTP and HTTPS
 * from inside a pod: the connection is dialed through the data plane from the pod, names resolve
 * through the pod's /etc/hosts and resolv.conf, and TLS is a real handshake over the dialed socket.
 *
 * Options (curl's own parser: short flags combine, `-ofile`/`-o file`, options and URLs
 * intermix, long options take the next argument and never `=value`, `--no-` negates):
 * `-s -S -i -I -o -O -w -H -X -d/--data/--data-raw/--data-binary -k -f --fail-with-body -L -v
 * -A -e -m/--max-time --connect-timeout --resolve --compressed -4 -6 --http1.1 -N -g --noproxy
 * --retry` (accepted; no retry is made), `--url`.
 *
 * Output and exit codes follow curl's (docs/libcurl/libcurl-errors.md):
 * 1 unsupported protocol, 2 bad usage (`curl: option --x: is unknown`), 3 malformed URL,
 * 6 `Could not resolve host: NAME`, 7 `Failed to connect to HOST port P after N ms: Couldn't
 * connect to server`, 22 `The requested URL returned error: 404` (with -f), 28 `Connection timed
 * out after N milliseconds` / `Operation timed out after N milliseconds with M bytes received`,
 * 35 TLS handshake failure, 52 `Empty reply from server`, 56 `Recv failure: Connection reset by
 * peer`, 60 `SSL certificate problem: ...`. Errors print as `curl: (N) message` unless `-s`
 * without `-S`. `-o FILE` writes nothing anywhere (a container file system is not emulated), so
 * `-o /dev/null` behaves as on a real pod; `-o -` is stdout.
 *
 * Without `-s`, curl draws a progress meter on stderr when stdout is not a terminal (it never is
 * under exec without a TTY); podnet prints the meter's header and final line only.
 */

import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import { dialTcp, type DialFailure } from '../images/dial.js';
import { exchange, HttpFailure, startTls, type HttpResponse } from './http.js';
import { all, has, last, OptionError, parseOptions, type OptionSpec } from './options.js';
import { resolveHost, ResolveError } from './resolver.js';
import { Output, type ExecContext, type ExecResult } from './types.js';

/** The version curlimages/curl:8.11.0 reports, sent as its User-Agent. */
export const CURL_VERSION = '8.11.0';

const SPECS: OptionSpec[] = [
  { key: 'silent', short: 's', long: ['silent'] },
  { key: 'show-error', short: 'S', long: ['show-error'] },
  { key: 'include', short: 'i', long: ['include', 'show-headers'] },
  { key: 'head', short: 'I', long: ['head'] },
  { key: 'output', short: 'o', long: ['output'], arg: true },
  { key: 'remote-name', short: 'O', long: ['remote-name'] },
  { key: 'write-out', short: 'w', long: ['write-out'], arg: true },
  { key: 'header', short: 'H', long: ['header'], arg: true },
  { key: 'request', short: 'X', long: ['request'], arg: true },
  { key: 'data', short: 'd', long: ['data', 'data-ascii', 'data-raw', 'data-binary'], arg: true },
  { key: 'insecure', short: 'k', long: ['insecure'] },
  { key: 'fail', short: 'f', long: ['fail'] },
  { key: 'fail-with-body', long: ['fail-with-body'] },
  { key: 'location', short: 'L', long: ['location'] },
  { key: 'verbose', short: 'v', long: ['verbose'] },
  { key: 'user-agent', short: 'A', long: ['user-agent'], arg: true },
  { key: 'referer', short: 'e', long: ['referer'], arg: true },
  { key: 'max-time', short: 'm', long: ['max-time'], arg: true },
  { key: 'connect-timeout', long: ['connect-timeout'], arg: true },
  { key: 'resolve', long: ['resolve'], arg: true },
  { key: 'compressed', long: ['compressed'] },
  { key: 'url', long: ['url'], arg: true },
  { key: 'max-redirs', long: ['max-redirs'], arg: true },
  { key: 'retry', long: ['retry'], arg: true },
  { key: 'noproxy', long: ['noproxy'], arg: true },
  { key: 'ipv4', short: '4', long: ['ipv4'] },
  { key: 'ipv6', short: '6', long: ['ipv6'] },
  { key: 'http1.1', long: ['http1.1'] },
  { key: 'no-buffer', short: 'N', long: ['no-buffer'] },
  { key: 'globoff', short: 'g', long: ['globoff'] },
  { key: 'no-progress-meter', long: ['no-progress-meter'] },
  { key: 'help', short: 'h', long: ['help'] },
  { key: 'version', short: 'V', long: ['version'] },
];

/** A failed transfer: curl's exit code and message. */
class CurlError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** What `-w` reads after a transfer. */
interface TransferInfo {
  url: string;
  urlEffective: string;
  method: string;
  scheme: string;
  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
  response?: HttpResponse | undefined;
  sizeRequest: number;
  sizeUpload: number;
  numConnects: number;
  numRedirects: number;
  redirectUrl: string;
  times: { namelookup: number; connect: number; appconnect: number; pretransfer: number; starttransfer: number; total: number };
  exitCode: number;
  errorMessage: string;
}

/** The usage error curl prints for a bad command line. */
function usageError(out: Output, message: string): ExecResult {
  out.err(`curl: ${message}\ncurl: try 'curl --help' or 'curl --manual' for more information\n`);
  return out.exit(2);
}

/** Runs `curl ARGS` in the pod. */
export async function curl(ctx: ExecContext, args: readonly string[]): Promise<ExecResult> {
  const out = new Output();
  // curl's `--no-X` negation of boolean long options.
  const negated = new Set<string>();
  const filtered: string[] = [];
  for (const a of args) {
    const m = /^--no-(.+)$/.exec(a);
    if (m && a !== '--no-progress-meter' && a !== '--no-buffer' && SPECS.some((s) => !s.arg && s.long?.includes(m[1]!))) {
      negated.add(SPECS.find((s) => s.long?.includes(m[1]!))!.key);
      continue;
    }
    filtered.push(a);
  }
  let parsed;
  try {
    parsed = parseOptions(filtered, SPECS, { permute: true });
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    if (e.kind === 'missing-argument') return usageError(out, `option ${e.option}: requires parameter`);
    return usageError(out, `option ${e.option}: is unknown`);
  }
  for (const k of negated) parsed.values.delete(k);
  if (has(parsed, 'help')) {
    out.out('Usage: curl [options...] <url>\n');
    return out.exit(0);
  }
  if (has(parsed, 'version')) {
    out.out(`curl ${CURL_VERSION} (x86_64-pc-linux-musl) libcurl/${CURL_VERSION} OpenSSL/3.3.2 zlib/1.3.1\nProtocols: http https\n`);
    return out.exit(0);
  }
  const urls = [...all(parsed, 'url'), ...parsed.operands];
  if (urls.length === 0) return usageError(out, 'no URL specified');
  const seconds = (key: string): number | undefined | 'bad' => {
    const v = last(parsed, key);
    if (v === undefined) return undefined;
    if (!/^(\d+(\.\d*)?|\.\d+)$/.test(v)) return 'bad';
    return Number(v) * 1000;
  };
  const maxTime = seconds('max-time');
  const connectTimeout = seconds('connect-timeout');
  if (maxTime === 'bad') return usageError(out, 'option --max-time: expected a proper numerical parameter');
  if (connectTimeout === 'bad') return usageError(out, 'option --connect-timeout: expected a proper numerical parameter');
  const resolves = new Map<string, string>();
  for (const r of all(parsed, 'resolve')) {
    const m = /^([^:]+):(\d+):(.+)$/.exec(r);
    if (!m) {
      out.err(`Warning: Couldn't parse CURLOPT_RESOLVE entry '${r}'\n`);
      continue;
    }
    resolves.set(`${m[1]!.toLowerCase()}:${m[2]}`, m[3]!.split(',')[0]!.replace(/^\[(.*)\]$/, '$1'));
  }
  const silent = has(parsed, 'silent');
  const showError = !silent || has(parsed, 'show-error');
  const progress = !silent && !has(parsed, 'no-progress-meter') && !has(parsed, 'verbose');
  const toStdout = (() => {
    const o = last(parsed, 'output');
    return o === undefined ? !has(parsed, 'remote-name') : o === '-';
  })();
  let exitCode = 0;
  for (const url of urls) {
    const info = await transfer(ctx, url, parsed, { maxTime, connectTimeout, resolves, verbose: has(parsed, 'verbose'), out });
    const res = info.response;
    const failOn = has(parsed, 'fail') || has(parsed, 'fail-with-body');
    if (res && failOn && res.statusCode >= 400) {
      info.exitCode = 22;
      info.errorMessage = `The requested URL returned error: ${res.statusCode}`;
    }
    if (res && toStdout) {
      const showHead = has(parsed, 'include') || has(parsed, 'head');
      if (!(info.exitCode === 22 && !has(parsed, 'fail-with-body'))) {
        if (showHead) out.out(res.head);
        if (!has(parsed, 'head')) out.out(res.body);
      }
    }
    if (progress) out.err(progressMeter(res?.body.length ?? 0, info.times.total));
    if (info.exitCode !== 0 && showError) out.err(`curl: (${info.exitCode}) ${info.errorMessage}\n`);
    const w = last(parsed, 'write-out');
    if (w !== undefined) writeOut(w, info, out);
    if (info.exitCode !== 0) exitCode = info.exitCode;
  }
  return out.exit(exitCode);
}

interface TransferOptions {
  maxTime: number | undefined;
  connectTimeout: number | undefined;
  resolves: Map<string, string>;
  verbose: boolean;
  out: Output;
}

/** One URL (following redirects with -L). Never throws: failures land in the info's exit code. */
async function transfer(ctx: ExecContext, rawUrl: string, parsed: ReturnType<typeof parseOptions>, options: TransferOptions): Promise<TransferInfo> {
  const started = Date.now();
  const deadline = options.maxTime !== undefined && options.maxTime > 0 ? started + options.maxTime : undefined;
  const info: TransferInfo = {
    url: rawUrl,
    urlEffective: rawUrl,
    method: 'GET',
    scheme: '',
    remoteIp: '',
    remotePort: 0,
    localIp: '',
    localPort: 0,
    sizeRequest: 0,
    sizeUpload: 0,
    numConnects: 0,
    numRedirects: 0,
    redirectUrl: '',
    times: { namelookup: 0, connect: 0, appconnect: 0, pretransfer: 0, starttransfer: 0, total: 0 },
    exitCode: 0,
    errorMessage: '',
  };
  const maxRedirs = Number(last(parsed, 'max-redirs') ?? '50');
  let url = rawUrl;
  let method = last(parsed, 'request') ?? (has(parsed, 'head') ? 'HEAD' : all(parsed, 'data').length ? 'POST' : 'GET');
  let body: Buffer | undefined = all(parsed, 'data').length ? Buffer.from(all(parsed, 'data').join('&')) : undefined;
  try {
    for (;;) {
      const res = await once(ctx, url, method, body, parsed, options, info, deadline, started);
      info.response = res;
      const location = res.rawHeaders.find(([k]) => k.toLowerCase() === 'location')?.[1];
      if (location && res.statusCode >= 300 && res.statusCode < 400) info.redirectUrl = new URL(location, info.urlEffective).toString();
      if (!has(parsed, 'location') || !location || ![301, 302, 303, 307, 308].includes(res.statusCode)) break;
      if (info.numRedirects >= maxRedirs) throw new CurlError(47, `Maximum (${maxRedirs}) redirects followed`);
      info.numRedirects++;
      url = info.redirectUrl;
      if ([301, 302, 303].includes(res.statusCode) && method === 'POST' && !last(parsed, 'request')) {
        method = 'GET';
        body = undefined;
      }
    }
  } catch (e) {
    if (!(e instanceof CurlError)) throw e;
    info.exitCode = e.code;
    info.errorMessage = e.message;
  }
  info.times.total = (Date.now() - started) / 1000;
  return info;
}

/** Parses a URL as curl does: a missing scheme means http; only http and https are spoken. */
function parseUrl(raw: string): URL {
  const withScheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CurlError(3, 'URL rejected: Malformed input to a URL function');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CurlError(1, `Protocol "${url.protocol.slice(0, -1)}" not supported`);
  if (url.hostname === '') throw new CurlError(3, 'URL rejected: No host part in the URL');
  return url;
}

async function once(
  ctx: ExecContext,
  rawUrl: string,
  method: string,
  body: Buffer | undefined,
  parsed: ReturnType<typeof parseOptions>,
  options: TransferOptions,
  info: TransferInfo,
  deadline: number | undefined,
  started: number,
): Promise<HttpResponse> {
  const url = parseUrl(rawUrl);
  const https = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (https ? 443 : 80));
  info.urlEffective = url.toString();
  info.scheme = https ? 'https' : 'http';
  info.method = method;
  const elapsed = (): number => Date.now() - started;
  const verbose = (line: string): void => {
    if (options.verbose) options.out.err(`${line}\n`);
  };

  // Resolve: --resolve entries, then /etc/hosts and DNS.
  let ip = options.resolves.get(`${host.toLowerCase()}:${port}`);
  if (!ip) {
    try {
      ip = await resolveHost(ctx, host, deadline !== undefined ? { deadline } : {});
    } catch (e) {
      if (!(e instanceof ResolveError)) throw e;
      if (deadline !== undefined && Date.now() >= deadline) throw new CurlError(28, `Resolving timed out after ${elapsed()} milliseconds`);
      throw new CurlError(6, `Could not resolve host: ${host}`);
    }
  }
  info.times.namelookup = elapsed() / 1000;
  info.remoteIp = ip;
  info.remotePort = port;
  verbose(`*   Trying ${isIP(ip) === 6 ? `[${ip}]` : ip}:${port}...`);

  // Connect, through the data plane from the pod.
  const connectDeadline = Math.min(deadline ?? Infinity, options.connectTimeout !== undefined && options.connectTimeout > 0 ? started + options.connectTimeout : Infinity);
  let socket: Socket;
  try {
    socket = await dialTcp(ctx.container, ip, port, Number.isFinite(connectDeadline) ? Math.max(1, connectDeadline - Date.now()) : undefined);
  } catch (e) {
    const f = e as DialFailure;
    if (f.kind === 'timeout') throw new CurlError(28, `Connection timed out after ${elapsed()} milliseconds`);
    throw new CurlError(7, `Failed to connect to ${host} port ${port} after ${elapsed()} ms: Couldn't connect to server`);
  }
  info.numConnects++;
  info.times.connect = elapsed() / 1000;
  info.localIp = ctx.container.podIPs[0] ?? '';
  info.localPort = socket.localPort ?? 0;
  verbose(`* Connected to ${host} (${ip}) port ${port}`);

  let conn: Socket = socket;
  if (https) {
    try {
      conn = await startTls(socket, { servername: isIP(host) ? undefined : host, verify: !has(parsed, 'insecure'), deadline });
    } catch (e) {
      socket.destroy();
      const f = e as HttpFailure;
      if (f.kind === 'timeout') throw new CurlError(28, `SSL connection timeout`);
      if (f.kind === 'tls-verify') throw new CurlError(60, `SSL certificate problem: ${f.message}`);
      if (f.kind === 'tls-hostname') throw new CurlError(60, `SSL: ${f.message}`);
      throw new CurlError(35, `TLS connect error: ${f.message}`);
    }
    info.times.appconnect = elapsed() / 1000;
  }

  const headers = requestHeaders(url, parsed, body);
  const target = `${url.pathname || '/'}${url.search}`;
  if (options.verbose) {
    options.out.err(`> ${method} ${target} HTTP/1.1\n${headers.map(([k, v]) => `> ${k}: ${v}\n`).join('')}> \n`);
  }
  info.sizeRequest = Buffer.byteLength(`${method} ${target} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  info.sizeUpload = body?.length ?? 0;
  info.times.pretransfer = elapsed() / 1000;
  try {
    const res = await exchange(conn, { method, path: target, headers, body, deadline, decode: has(parsed, 'compressed') });
    info.times.starttransfer = elapsed() / 1000;
    if (options.verbose) options.out.err(res.head.replace(/^/gm, '< ').replace(/\r/g, '').replace(/< $/, ''));
    return res;
  } catch (e) {
    const f = e as HttpFailure;
    if (f.kind === 'timeout') {
      const of = f.expected !== undefined ? ` out of ${f.expected}` : '';
      throw new CurlError(28, `Operation timed out after ${elapsed()} milliseconds with ${f.received}${of} bytes received`);
    }
    if (f.kind === 'empty-reply') throw new CurlError(52, 'Empty reply from server');
    if (f.kind === 'reset') throw new CurlError(56, 'Recv failure: Connection reset by peer');
    throw new CurlError(56, `Recv failure: ${f.message}`);
  }
}

/** The request headers curl sends: Host, User-Agent, Accept, then -H (which replace, remove with `Name:`, or send empty with `Name;`). */
function requestHeaders(url: URL, parsed: ReturnType<typeof parseOptions>, body: Buffer | undefined): [string, string][] {
  const defaultPort = url.protocol === 'https:' ? '443' : '80';
  const hostHeader = url.port && url.port !== defaultPort ? `${url.hostname}:${url.port}` : url.hostname;
  const headers: [string, string][] = [
    ['Host', hostHeader],
    ['User-Agent', last(parsed, 'user-agent') ?? `curl/${CURL_VERSION}`],
    ['Accept', '*/*'],
  ];
  const referer = last(parsed, 'referer');
  if (referer) headers.push(['Referer', referer]);
  if (has(parsed, 'compressed')) headers.push(['Accept-Encoding', 'deflate, gzip']);
  if (body) {
    headers.push(['Content-Length', String(body.length)]);
    headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
  }
  for (const h of all(parsed, 'header')) {
    const empty = /^([^:;\s]+);\s*$/.exec(h);
    if (empty) {
      replace(headers, empty[1]!, '');
      continue;
    }
    const m = /^([^:]+):\s*(.*)$/.exec(h);
    if (!m) continue;
    const name = m[1]!.trim();
    if (m[2] === '') remove(headers, name);
    else replace(headers, name, m[2]!);
  }
  return headers;
}

function remove(headers: [string, string][], name: string): void {
  for (let i = headers.length - 1; i >= 0; i--) if (headers[i]![0].toLowerCase() === name.toLowerCase()) headers.splice(i, 1);
}

function replace(headers: [string, string][], name: string, value: string): void {
  const i = headers.findIndex(([k]) => k.toLowerCase() === name.toLowerCase());
  if (i >= 0 && ['host', 'user-agent', 'accept', 'content-type', 'content-length', 'referer'].includes(name.toLowerCase())) headers[i] = [name, value];
  else headers.push([name, value]);
}

/** The meter's header and its final line (curl's --progress-meter format, tool_progress.c). */
function progressMeter(bytes: number, seconds: number): string {
  const size = (n: number): string => (n < 100000 ? String(n) : n < 1024 * 10000 ? `${Math.round(n / 1024)}k` : `${Math.round(n / 1048576)}M`).padStart(5);
  const speed = size(seconds > 0 ? Math.round(bytes / seconds) : bytes);
  const pct = (bytes > 0 ? '100' : '  0').padStart(3);
  return (
    '  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n' +
    '                                 Dload  Upload   Total   Spent    Left  Speed\n' +
    `\r${pct} ${size(bytes)} ${pct} ${size(bytes)}    0     0 ${speed}      0 --:--:-- --:--:-- --:--:-- ${speed}\n`
  );
}

/** `-w FORMAT`: `%{var}`, `%header{name}`, `%%`, and `\n \r \t \\` escapes (tool_writeout.c). */
function writeOut(format: string, info: TransferInfo, out: Output): void {
  const res = info.response;
  const secs = (n: number): string => n.toFixed(6);
  const vars: Record<string, () => string> = {
    http_code: () => String(res?.statusCode ?? 0).padStart(3, '0'),
    response_code: () => String(res?.statusCode ?? 0).padStart(3, '0'),
    http_version: () => (res ? (res.httpVersion === '1.1' ? '1.1' : res.httpVersion) : '0'),
    remote_ip: () => info.remoteIp,
    remote_port: () => String(info.remotePort || ''),
    local_ip: () => info.localIp,
    local_port: () => String(info.localPort || ''),
    size_download: () => String(res?.body.length ?? 0),
    size_header: () => String(res ? Buffer.byteLength(res.head) : 0),
    size_request: () => String(info.sizeRequest),
    size_upload: () => String(info.sizeUpload),
    content_type: () => res?.rawHeaders.find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '',
    url: () => info.url,
    url_effective: () => info.urlEffective,
    redirect_url: () => info.redirectUrl,
    method: () => info.method,
    scheme: () => info.scheme,
    num_connects: () => String(info.numConnects),
    num_redirects: () => String(info.numRedirects),
    exitcode: () => String(info.exitCode),
    errormsg: () => info.errorMessage,
    time_namelookup: () => secs(info.times.namelookup),
    time_connect: () => secs(info.times.connect),
    time_appconnect: () => secs(info.times.appconnect),
    time_pretransfer: () => secs(info.times.pretransfer),
    time_starttransfer: () => secs(info.times.starttransfer),
    time_total: () => secs(info.times.total),
    speed_download: () => String(info.times.total > 0 ? Math.round((res?.body.length ?? 0) / info.times.total) : 0),
    speed_upload: () => '0',
  };
  let stream: 'out' | 'err' = 'out';
  let text = '';
  const flush = (): void => {
    if (text) (stream === 'out' ? out.out.bind(out) : out.err.bind(out))(text);
    text = '';
  };
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c === '\\' && i + 1 < format.length) {
      const n = format[++i]!;
      text += n === 'n' ? '\n' : n === 'r' ? '\r' : n === 't' ? '\t' : n === '\\' ? '\\' : `\\${n}`;
      continue;
    }
    if (c !== '%') {
      text += c;
      continue;
    }
    if (format[i + 1] === '%') {
      text += '%';
      i++;
      continue;
    }
    const header = /^%header\{([^}]*)\}/.exec(format.slice(i));
    if (header) {
      text += res?.rawHeaders.filter(([k]) => k.toLowerCase() === header[1]!.toLowerCase()).map(([, v]) => v).join(', ') ?? '';
      i += header[0].length - 1;
      continue;
    }
    const m = /^%\{([^}]*)\}/.exec(format.slice(i));
    if (!m) {
      text += c;
      continue;
    }
    i += m[0].length - 1;
    const name = m[1]!;
    if (name === 'stdout' || name === 'stderr') {
      flush();
      stream = name === 'stdout' ? 'out' : 'err';
      continue;
    }
    const hm = /^header\{(.*)\}$/.exec(name);
    if (hm) {
      text += res?.rawHeaders.filter(([k]) => k.toLowerCase() === hm[1]!.toLowerCase()).map(([, v]) => v).join(', ') ?? '';
      continue;
    }
    const fn = vars[name];
    if (fn) text += fn();
    else {
      flush();
      out.err(`curl: unknown --write-out variable: '${name}'\n`);
    }
  }
  flush();
}
