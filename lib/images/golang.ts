/**
 * What the built-in images inherit from being Go programs, so their wire output matches the real
 * ones byte for byte where a client could tell:
 *
 * - command lines: spf13/pflag as cobra uses it (agnhost) and the standard library's `flag`
 *   package (traefik/whoami), with their error texts;
 * - values: `time.ParseDuration`, `strconv.Atoi` / `ParseInt(s, 0, 64)` / `ParseBool`;
 * - net/http: canonical header keys (`textproto.CanonicalMIMEHeaderKey`), `Request.Header`
 *   (Host and Transfer-Encoding removed, `Pragma: no-cache` implying `Cache-Control`),
 *   `RemoteAddr` as `net.JoinHostPort`, `http.Error`, `http.Redirect`, `ServeMux`'s redirect of
 *   unclean paths, status lines for unknown codes, `DetectContentType` sniffing;
 * - encoding/json: map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped.
 */

import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { posix } from 'node:path';

// --- values ------------------------------------------------------------------------------------

/** Go's `strconv.Quote` for the strings error messages quote (ASCII-safe approximation). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** `strconv.Atoi`: optional sign, decimal digits. Throws with Go's message. */
export function goAtoi(s: string): number {
  if (!/^[+-]?\d+$/.test(s)) throw new Error(`strconv.Atoi: parsing ${goQuote(s)}: invalid syntax`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`strconv.Atoi: parsing ${goQuote(s)}: value out of range`);
  return n;
}

/** `strconv.ParseInt(s, 0, 64)` (pflag's IntVar): decimal, 0x, 0o, 0b, leading-0 octal, underscores. */
export function goParseIntBase0(s: string): number {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(s);
  const fail = (): never => {
    throw new Error(`strconv.ParseInt: parsing ${goQuote(s)}: invalid syntax`);
  };
  if (!m) return fail();
  const body = m[2]!;
  if (body.includes('_') && (body.startsWith('_') || body.endsWith('_') || body.includes('__'))) return fail();
  const digits = body.replace(/_/g, '');
  let n: number;
  if (/^0[xXoObB]/.test(digits)) n = Number(digits.toLowerCase());
  else if (digits.length > 1 && digits.startsWith('0')) n = parseInt(digits.slice(1), 8);
  else n = Number(digits);
  if (!Number.isSafeInteger(n)) throw new Error(`strconv.ParseInt: parsing ${goQuote(s)}: value out of range`);
  return m[1] === '-' ? -n : n;
}

/** `strconv.ParseBool`. */
export function goParseBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new Error(`strconv.ParseBool: parsing ${goQuote(s)}: invalid syntax`);
}

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5
  'μs': 1e-3, // U+03BC
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** `time.ParseDuration`, in milliseconds. Throws with Go's message (`time: invalid duration "x"`). */
export function goParseDuration(text: string): number {
  const invalid = (): never => {
    throw new Error(`time: invalid duration ${goQuote(text)}`);
  };
  let s = text;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return invalid();
  let total = 0;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    const whole = m[1]!;
    const frac = m[2];
    if (whole === '' && (frac === undefined || frac === '')) return invalid();
    s = s.slice(m[0].length);
    const unit = /^[^\d.]*/.exec(s)![0];
    if (unit === '') throw new Error(`time: missing unit in duration ${goQuote(text)}`);
    const scale = DURATION_UNITS_MS[unit];
    if (scale === undefined) throw new Error(`time: unknown unit ${goQuote(unit)} in duration ${goQuote(text)}`);
    s = s.slice(unit.length);
    total += Number(`${whole || '0'}.${frac ?? '0'}`) * scale;
  }
  return negative ? -total : total;
}

// --- command lines -----------------------------------------------------------------------------

/** The kinds of flag the images define. */
export type FlagKind = 'bool' | 'int' | 'string' | 'duration';
/** A parsed flag value: a boolean, an int, a string, or a duration in milliseconds. */
export type FlagValue = boolean | number | string;

/** One flag: its kind, default and (pflag only) one-letter shorthand. */
export interface FlagSpec {
  kind: FlagKind;
  default: FlagValue;
  shorthand?: string;
}

/** A parsed command line. */
export interface ParsedFlags {
  /** Every defined flag, set or defaulted. */
  values: Record<string, FlagValue>;
  /** The flags written on the command line. */
  set: Set<string>;
  positional: string[];
  /** `-h`/`--help` was given: the program prints its usage and exits 0. */
  help: boolean;
}

/** A command line the program rejects, with the message it prints. */
export class GoFlagError extends Error {}

function convert(kind: FlagKind, value: string): FlagValue {
  switch (kind) {
    case 'bool':
      return goParseBool(value);
    case 'int':
      return goParseIntBase0(value);
    case 'duration':
      return goParseDuration(value);
    case 'string':
      return value;
  }
}

function defaults(specs: Record<string, FlagSpec>): Record<string, FlagValue> {
  const values: Record<string, FlagValue> = {};
  for (const [name, spec] of Object.entries(specs)) values[name] = spec.default;
  return values;
}

/**
 * Parses a command line as spf13/pflag does for a cobra command: flags and positional arguments
 * may interleave, `--` ends the flags, `--name=value`, `--name value`, `--bool`, `-x value`.
 * With `normalize`, `_` in a flag name reads as `-` (component-base's `WordSepNormalizeFunc`,
 * which agnhost's `cli.Run` installs). Throws {@link GoFlagError} with pflag's message.
 */
export function parsePflags(args: readonly string[], specs: Record<string, FlagSpec>, options: { normalize?: boolean } = {}): ParsedFlags {
  const normalize = (name: string): string => (options.normalize ? name.replace(/_/g, '-') : name);
  const byShorthand = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.shorthand) byShorthand.set(spec.shorthand, name);
  const result: ParsedFlags = { values: defaults(specs), set: new Set(), positional: [], help: false };
  const display = (name: string): string => {
    const sh = specs[name]?.shorthand;
    return sh ? `-${sh}, --${name}` : `--${name}`;
  };
  const assign = (name: string, value: string): void => {
    try {
      result.values[name] = convert(specs[name]!.kind, value);
    } catch (e) {
      throw new GoFlagError(`invalid argument ${goQuote(value)} for ${goQuote(display(name))} flag: ${(e as Error).message}`);
    }
    result.set.add(name);
  };
  for (let i = 0; i < args.length; i++) {
    const s = args[i]!;
    if (s.length < 2 || !s.startsWith('-')) {
      result.positional.push(s);
      continue;
    }
    if (s.startsWith('--')) {
      if (s === '--') {
        result.positional.push(...args.slice(i + 1));
        break;
      }
      const body = s.slice(2);
      if (body.startsWith('-') || body.startsWith('=')) throw new GoFlagError(`bad flag syntax: ${s}`);
      const eq = body.indexOf('=');
      const name = normalize(eq >= 0 ? body.slice(0, eq) : body);
      if (!(name in specs)) {
        if (name === 'help') {
          result.help = true;
          continue;
        }
        throw new GoFlagError(`unknown flag: --${name}`);
      }
      if (eq >= 0) assign(name, body.slice(eq + 1));
      else if (specs[name]!.kind === 'bool') assign(name, 'true');
      else if (i + 1 < args.length) assign(name, args[++i]!);
      else throw new GoFlagError(`flag needs an argument: ${s}`);
      continue;
    }
    // Shorthands: -x, -xvalue, -x=value, -x value, -abc for bools.
    let shorthands = s.slice(1);
    while (shorthands.length > 0) {
      const c = shorthands[0]!;
      const name = byShorthand.get(c);
      if (name === undefined) {
        if (c === 'h') {
          result.help = true;
          shorthands = shorthands.slice(1);
          continue;
        }
        throw new GoFlagError(`unknown shorthand flag: '${c}' in -${s.slice(1)}`);
      }
      if (shorthands.length > 2 && shorthands[1] === '=') {
        assign(name, shorthands.slice(2));
        shorthands = '';
      } else if (specs[name]!.kind === 'bool') {
        assign(name, 'true');
        shorthands = shorthands.slice(1);
      } else if (shorthands.length > 1) {
        assign(name, shorthands.slice(1));
        shorthands = '';
      } else if (i + 1 < args.length) {
        assign(name, args[++i]!);
        shorthands = '';
      } else {
        throw new GoFlagError(`flag needs an argument: '${c}' in -${s.slice(1)}`);
      }
    }
  }
  return result;
}

/**
 * Parses a command line as Go's standard `flag` package does: flags first (`-name`, `--name`,
 * `-name=value`, `-name value`), parsing stops at the first non-flag argument or `--`.
 * Throws {@link GoFlagError} with the package's message (the program then exits 2).
 */
export function parseGoFlags(args: readonly string[], specs: Record<string, FlagSpec>): ParsedFlags {
  const result: ParsedFlags = { values: defaults(specs), set: new Set(), positional: [], help: false };
  let i = 0;
  for (; i < args.length; i++) {
    const s = args[i]!;
    if (s.length < 2 || !s.startsWith('-')) break;
    let minuses = 1;
    if (s[1] === '-') {
      minuses = 2;
      if (s.length === 2) {
        i++;
        break;
      }
    }
    const body = s.slice(minuses);
    if (body === '' || body.startsWith('-') || body.startsWith('=')) throw new GoFlagError(`bad flag syntax: ${s}`);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const value = eq >= 0 ? body.slice(eq + 1) : undefined;
    const spec = specs[name];
    if (!spec) {
      if (name === 'help' || name === 'h') {
        result.help = true;
        continue;
      }
      throw new GoFlagError(`flag provided but not defined: -${name}`);
    }
    if (spec.kind === 'bool') {
      if (value === undefined) result.values[name] = true;
      else {
        try {
          result.values[name] = goParseBool(value);
        } catch {
          throw new GoFlagError(`invalid boolean value ${goQuote(value)} for -${name}: parse error`);
        }
      }
    } else {
      let v = value;
      if (v === undefined) {
        if (i + 1 >= args.length) throw new GoFlagError(`flag needs an argument: -${name}`);
        v = args[++i]!;
      }
      try {
        result.values[name] = convert(spec.kind, v);
      } catch {
        throw new GoFlagError(`invalid value ${goQuote(v)} for flag -${name}: parse error`);
      }
    }
    result.set.add(name);
  }
  result.positional.push(...args.slice(i));
  return result;
}

// --- net ---------------------------------------------------------------------------------------

/** `net.JoinHostPort`: brackets around an IPv6 host. */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `net.SplitHostPort`, with Go's error texts (`address x: missing port in address`). */
export function splitHostPort(hostport: string): { host: string; port: string } {
  const fail = (why: string): never => {
    throw new Error(`address ${hostport}: ${why}`);
  };
  const colon = hostport.lastIndexOf(':');
  if (colon < 0) return fail('missing port in address');
  let host: string;
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end < 0) return fail("missing ']' in address");
    if (end + 1 === hostport.length) return fail('missing port in address');
    if (end + 1 !== colon) return fail(hostport[end + 1] === ':' ? 'too many colons in address' : 'missing port in address');
    host = hostport.slice(1, end);
    if (hostport.slice(end + 1).indexOf('[') >= 0) return fail("unexpected '[' in address");
  } else {
    host = hostport.slice(0, colon);
    if (host.includes(':')) return fail('too many colons in address');
    if (host.includes('[') || host.includes(']')) return fail("unexpected '[' in address");
  }
  return { host, port: hostport.slice(colon + 1) };
}

// --- net/http ----------------------------------------------------------------------------------

/** `textproto.CanonicalMIMEHeaderKey`: `x-forwarded-for` → `X-Forwarded-For`; invalid keys unchanged. */
export function canonicalHeaderKey(key: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key)) return key;
  let upper = true;
  let out = '';
  for (const c of key) {
    out += upper ? c.toUpperCase() : c.toLowerCase();
    upper = c === '-';
  }
  return out;
}

/** Either HTTP/1 or HTTP/2 (compatibility API) server request. */
export type AnyRequest = IncomingMessage | Http2ServerRequest;
/** Either HTTP/1 or HTTP/2 (compatibility API) server response. */
export type AnyResponse = ServerResponse | Http2ServerResponse;

/**
 * A request as a Go handler sees it (`*http.Request`): the fields the images print.
 */
export interface GoRequest {
  method: string;
  /** `r.RequestURI`: the request target exactly as sent. */
  requestURI: string;
  /** `r.URL.Path`, decoded. */
  path: string;
  /** `r.URL.RawQuery`. */
  rawQuery: string;
  query: URLSearchParams;
  /** `r.Host`: the Host header, or the authority of an absolute-form target or of HTTP/2. */
  host: string;
  /** `HTTP/1.1`, `HTTP/1.0`, `HTTP/2.0`. */
  proto: string;
  /** `r.Header`: canonical keys, values in order, Host and Transfer-Encoding removed. */
  header: Map<string, string[]>;
  /** `r.RemoteAddr`: the virtual peer as `ip:port` (`[ip]:port` for IPv6). */
  remoteAddr: string;
  /** `r.Close`: the client asked to close the connection after this request. */
  close: boolean;
  /** `r.ContentLength`: -1 when chunked, 0 when there is no body. */
  contentLength: number;
}

/** Builds the Go view of a request. `remoteAddr` is the virtual `ip:port` of the peer. */
export function goRequest(req: AnyRequest, remoteAddr: string): GoRequest {
  const raw = req.rawHeaders;
  const header = new Map<string, string[]>();
  let hostHeader: string | undefined;
  let authority: string | undefined;
  let chunked = false;
  let connection = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name === ':authority') authority = value;
    if (name.startsWith(':')) continue;
    const key = canonicalHeaderKey(name);
    if (key === 'Host') {
      hostHeader ??= value;
      continue;
    }
    if (key === 'Transfer-Encoding') {
      if (/chunked/i.test(value)) chunked = true;
      continue;
    }
    if (key === 'Connection') connection += `${value},`;
    const list = header.get(key);
    if (list) list.push(value);
    else header.set(key, [value]);
  }
  // net/http's fixPragmaCacheControl (RFC 7234 §5.4).
  if (header.get('Pragma')?.[0] === 'no-cache' && !header.has('Cache-Control')) header.set('Cache-Control', ['no-cache']);

  const requestURI = req.url ?? '/';
  let pathPart = requestURI;
  let rawQuery = '';
  let urlHost: string | undefined;
  const absolute = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(requestURI);
  if (absolute) {
    urlHost = absolute[2];
    pathPart = absolute[3] || '/';
  }
  const q = pathPart.indexOf('?');
  if (q >= 0) {
    rawQuery = pathPart.slice(q + 1);
    pathPart = pathPart.slice(0, q);
  }
  let path = pathPart;
  try {
    path = decodeURIComponent(pathPart);
  } catch {
    // Keep the raw path; Go would have answered 400, node's parser let it through.
  }
  const major = req.httpVersionMajor;
  const minor = req.httpVersionMinor;
  const proto = `HTTP/${major}.${minor}`;
  const tokens = connection.toLowerCase();
  const close = major === 1 && (minor === 0 ? !/\bkeep-alive\b/.test(tokens) : /\bclose\b/.test(tokens));
  const cl = header.get('Content-Length')?.[0];
  return {
    method: req.method ?? 'GET',
    requestURI,
    path,
    rawQuery,
    query: new URLSearchParams(rawQuery),
    host: urlHost ?? hostHeader ?? authority ?? '',
    proto,
    header,
    remoteAddr,
    close,
    contentLength: chunked ? -1 : cl !== undefined ? Number(cl) || 0 : 0,
  };
}

/** `http.Header.Get`: the first value of a key, canonicalized. */
export function headerGet(header: Map<string, string[]>, key: string): string {
  return header.get(canonicalHeaderKey(key))?.[0] ?? '';
}

/** A header map as encoding/json writes `map[string][]string`: keys sorted. */
export function headerObject(header: Map<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const key of [...header.keys()].sort()) out[key] = header.get(key)!;
  return out;
}

/**
 * encoding/json's output for a value whose objects are already in Go's field order (and maps
 * sorted): `json.Marshal`, or `json.MarshalIndent(v, "", indent)` when an indent is given.
 * Go escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings; they can only occur there.
 */
export function goMarshal(value: unknown, indent?: string): string {
  const text = indent === undefined ? JSON.stringify(value) : JSON.stringify(value, null, indent);
  return text.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The reason phrase Go writes: `http.StatusText`, or `status code N` for a code it does not name. */
export function goStatusText(code: number): string {
  return STATUS_CODES[code] ?? `status code ${code}`;
}

const HTML_SIGNATURES = [
  '<!DOCTYPE HTML',
  '<HTML',
  '<HEAD',
  '<SCRIPT',
  '<IFRAME',
  '<H1',
  '<DIV',
  '<FONT',
  '<TABLE',
  '<A',
  '<STYLE',
  '<TITLE',
  '<B',
  '<BODY',
  '<BR',
  '<P',
  '<!--',
];

/**
 * `http.DetectContentType` for the bodies these images write: HTML and XML by signature, text
 * when no byte is a binary control byte, otherwise `application/octet-stream`.
 */
export function goSniff(body: Buffer): string {
  const head = body.subarray(0, 512);
  let i = 0;
  while (i < head.length && [0x09, 0x0a, 0x0c, 0x0d, 0x20].includes(head[i]!)) i++;
  const rest = head.subarray(i).toString('latin1');
  const upper = rest.toUpperCase();
  for (const sig of HTML_SIGNATURES) {
    if (upper.startsWith(sig)) {
      const next = rest.charCodeAt(sig.length);
      if (next === 0x20 || next === 0x3e) return 'text/html; charset=utf-8';
    }
  }
  if (rest.startsWith('<?xml')) return 'text/xml; charset=utf-8';
  if (rest.startsWith('%PDF-')) return 'application/pdf';
  for (const b of head) {
    if (b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f)) return 'application/octet-stream';
  }
  return 'text/plain; charset=utf-8';
}

/**
 * Writes a complete response as a Go handler that calls `w.WriteHeader(status)` then writes
 * `body` would: the Content-Type is sniffed when the handler set none and there is a body, and
 * the reason phrase is Go's.
 */
export function goWrite(res: AnyResponse, status: number, body: string | Buffer = '', headers: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  const out: Record<string, string> = { ...headers };
  const hasType = Object.keys(out).some((k) => k.toLowerCase() === 'content-type');
  if (!hasType && buf.length > 0) out['Content-Type'] = goSniff(buf);
  out['Content-Length'] = String(buf.length);
  if ('stream' in res) {
    // HTTP/2 has no reason phrase and no Connection header.
    res.writeHead(status, out);
  } else {
    if (!Object.keys(out).some((k) => k.toLowerCase() === 'connection')) {
      // Go names the connection's fate only when it differs from the protocol's default
      // (net/http chunkWriter.writeHeader): `close` on HTTP/1.1, `keep-alive` on HTTP/1.0.
      const http10 = res.req?.httpVersion === '1.0';
      if (res.shouldKeepAlive === http10) out['Connection'] = http10 ? 'keep-alive' : 'close';
      else res.removeHeader('Connection');
    }
    res.writeHead(status, goStatusText(status), out);
  }
  res.end(buf);
}

/** Drops the connection under a response without answering (what a panicking Go handler leaves). */
export function dropConnection(res: AnyResponse): void {
  if ('stream' in res) res.stream.destroy();
  else res.destroy();
}

/** `http.Error`: text/plain, nosniff, the message and a newline. */
export function goHttpError(res: AnyResponse, message: string, status: number): void {
  goWrite(res, status, `${message}\n`, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
  });
}

/** `path.Clean` keeping a trailing slash, as ServeMux's `cleanPath` does. */
export function goCleanPath(p: string): string {
  if (p === '') return '/';
  const rooted = p.startsWith('/') ? p : `/${p}`;
  let cleaned = posix.normalize(rooted);
  // posix.normalize keeps a trailing slash; path.Clean drops it, cleanPath puts it back.
  if (cleaned.length > 1 && cleaned.endsWith('/') && !p.endsWith('/')) cleaned = cleaned.slice(0, -1);
  if (p.endsWith('/') && cleaned !== '/' && !cleaned.endsWith('/')) cleaned += '/';
  return cleaned.replace(/\/{2,}/g, '/');
}

function htmlEscape(s: string): string {
  return s.replace(/[&'<>"]/g, (c) => ({ '&': '&amp;', "'": '&#39;', '<': '&lt;', '>': '&gt;', '"': '&#34;' })[c]!);
}

/**
 * `http.Redirect`: a relative location is resolved against the request path and cleaned; GET
 * and HEAD get an HTML content type, GET a short body naming the status.
 */
export function goRedirect(res: AnyResponse, r: GoRequest, location: string, code: number): void {
  let url = location;
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(url) && !url.startsWith('//')) {
    const oldpath = r.path || '/';
    if (url === '' || !url.startsWith('/')) url = oldpath.slice(0, oldpath.lastIndexOf('/') + 1) + url;
    let query = '';
    const q = url.indexOf('?');
    if (q >= 0) {
      query = url.slice(q);
      url = url.slice(0, q);
    }
    const trailing = url.endsWith('/');
    url = posix.normalize(url);
    if (url.length > 1 && url.endsWith('/')) url = url.slice(0, -1);
    if (trailing && !url.endsWith('/')) url += '/';
    url += query;
  }
  const headers: Record<string, string> = { Location: url.replace(/[^\x20-\x7e]/g, (c) => encodeURIComponent(c)) };
  let body = '';
  if (r.method === 'GET' || r.method === 'HEAD') headers['Content-Type'] = 'text/html; charset=utf-8';
  if (r.method === 'GET') body = `<a href="${htmlEscape(url)}">${goStatusText(code)}</a>.\n\n`;
  goWrite(res, code, body, headers);
}

/**
 * ServeMux's answer to a request whose path is not clean (`//x`, `/a/../b`): a 301 to the clean
 * path. Returns true when it answered.
 */
export function goServeMuxRedirect(res: AnyResponse, r: GoRequest): boolean {
  if (r.method === 'CONNECT' || r.path === '*') return false;
  const clean = goCleanPath(r.path);
  if (clean === r.path) return false;
  const target = clean + (r.rawQuery ? `?${r.rawQuery}` : '');
  goRedirect(res, { ...r, path: clean }, target, 301);
  return true;
}

/** Reads a request body (up to `limit` bytes; more is cut off). */
export function readBody(req: AnyRequest, limit = 10 << 20): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size < limit) chunks.push(chunk.subarray(0, limit - size));
      size += chunk.length;
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve(Buffer.concat(chunks)));
  });
}

/**
 * `r.FormValue` sources: for POST, PUT and PATCH with an `application/x-www-form-urlencoded`
 * body the body's values come first, then the query's (`Request.ParseForm`).
 */
export async function goForm(req: AnyRequest, r: GoRequest): Promise<URLSearchParams> {
  const form = new URLSearchParams();
  if (['POST', 'PUT', 'PATCH'].includes(r.method) && /^application\/x-www-form-urlencoded/i.test(headerGet(r.header, 'Content-Type'))) {
    for (const [k, v] of new URLSearchParams((await readBody(req)).toString('utf8'))) form.append(k, v);
  }
  for (const [k, v] of r.query) form.append(k, v);
  return form;
}

/**
 * Go's `Time.String()` for a pod whose zone is UTC, with the monotonic reading Go appends:
 * `2024-05-01 10:11:12.123 +0000 UTC m=+3.500000001`.
 */
export function goTimeString(now: Date, monotonicSeconds: number): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const ms = now.getUTCMilliseconds();
  const frac = ms === 0 ? '' : `.${pad(ms, 3)}`.replace(/0+$/, '');
  return (
    `${now.getUTCFullYear()}-${pad(now.getUTCMonth() + 1)}-${pad(now.getUTCDate())} ` +
    `${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())}${frac} +0000 UTC ` +
    `m=+${monotonicSeconds.toFixed(9)}`
  );
}
