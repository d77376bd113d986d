/**
 * busybox wget (networking/wget.c, busybox 1.36 as in Alpine and the busybox image): HTTP and
 * HTTPS from inside the pod, through the data plane. The point is `wget -qO- URL` in scripts.
 *
 * Options (getopt_long: `-qO-`, `-O FILE`, `--header=A: b` or `--header 'A: b'`, unambiguous
 * prefixes): `-q -O -S -T SEC -U AGENT --header --post-data --spider --no-check-certificate
 * -Y -P -c` (the last three accepted, without effect here).
 *
 * Every failure exits 1 with busybox's wording: `wget: bad address 'HOST'`, `wget: can't connect
 * to remote host (IP): Connection refused`, `wget: server returned error: HTTP/1.1 404 Not Found`,
 * `wget: download timed out`. Without `-q` it says `Connecting to HOST:PORT (IP:PORT)` first. A
 * file named by `-O` (or taken from the URL) is not written: container file systems are not
 * emulated; `-O -` writes to stdout. busybox's TLS does not verify the server certificate.
 */

import type { Socket } from 'node:net';
import { dialTcp, type DialFailure } from '../images/dial.js';
import { exchange, HttpFailure, startTls } from './http.js';
import { all, has, last, OptionError, parseOptions, type OptionSpec } from './options.js';
import { resolveHost, ResolveError } from './resolver.js';
import { Output, type ExecContext, type ExecResult } from './types.js';

const SPECS: OptionSpec[] = [
  { key: 'continue', short: 'c', long: ['continue'] },
  { key: 'quiet', short: 'q', long: ['quiet'] },
  { key: 'server-response', short: 'S', long: ['server-response'] },
  { key: 'output-document', short: 'O', long: ['output-document'], arg: true },
  { key: 'output-file', short: 'o', long: ['output-file'], arg: true },
  { key: 'directory-prefix', short: 'P', long: ['directory-prefix'], arg: true },
  { key: 'user-agent', short: 'U', long: ['user-agent'], arg: true },
  { key: 'timeout', short: 'T', long: ['timeout'], arg: true },
  { key: 'proxy', short: 'Y', long: ['proxy'], arg: true },
  { key: 'header', long: ['header'], arg: true },
  { key: 'post-data', long: ['post-data'], arg: true },
  { key: 'spider', long: ['spider'] },
  { key: 'no-check-certificate', long: ['no-check-certificate'] },
];

/** Runs busybox `wget ARGS` in the pod. */
export async function wget(ctx: ExecContext, args: readonly string[]): Promise<ExecResult> {
  const out = new Output();
  let parsed;
  try {
    parsed = parseOptions(args, SPECS, { permute: true, longEquals: true, longPrefixes: true });
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    const opt = e.option.replace(/^-+/, '');
    out.err(
      e.kind === 'missing-argument'
        ? `wget: option requires an argument -- '${opt}'\n`
        : e.option.startsWith('--')
          ? `wget: unrecognized option '${e.option}'\n`
          : `wget: invalid option -- '${opt}'\n`,
    );
    out.err(USAGE);
    return out.exit(1);
  }
  if (parsed.operands.length === 0) {
    out.err(USAGE);
    return out.exit(1);
  }
  const quiet = has(parsed, 'quiet');
  const timeoutSec = last(parsed, 'timeout');
  const timeoutMs = timeoutSec !== undefined && /^\d+$/.test(timeoutSec) && Number(timeoutSec) > 0 ? Number(timeoutSec) * 1000 : undefined;
  const say = (text: string): void => {
    if (!quiet) out.err(text);
  };
  for (const raw of parsed.operands) {
    const code = await fetchOne(ctx, raw, parsed, { quiet, timeoutMs, say, out });
    if (code !== 0) return out.exit(code);
  }
  return out.exit(0);
}

const USAGE = 'BusyBox v1.36.1 multi-call binary.\n\nUsage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]\n\t[--post-data STR | --post-file FILE] [-Y on/off]\n\t[--no-check-certificate] [-P DIR] [-U AGENT] [-T SEC] URL...\n';

async function fetchOne(
  ctx: ExecContext,
  raw: string,
  parsed: ReturnType<typeof parseOptions>,
  o: { quiet: boolean; timeoutMs: number | undefined; say: (s: string) => void; out: Output },
): Promise<number> {
  const die = (message: string): number => {
    o.out.err(`wget: ${message}\n`);
    return 1;
  };
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return die(`bad address '${raw}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return die(`not an http or ftp url: ${raw}`);
  const https = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (https ? 443 : 80));
  const authority = url.port ? `${url.hostname}:${url.port}` : url.hostname;
  const deadline = o.timeoutMs !== undefined ? Date.now() + o.timeoutMs : undefined;
  let ip: string;
  try {
    ip = await resolveHost(ctx, host, deadline !== undefined ? { deadline } : {});
  } catch (e) {
    if (!(e instanceof ResolveError)) throw e;
    return die(`bad address '${authority}'`);
  }
  o.say(`Connecting to ${authority} (${ip}:${port})\n`);
  let socket: Socket;
  try {
    socket = await dialTcp(ctx.container, ip, port, o.timeoutMs);
  } catch (e) {
    const f = e as DialFailure;
    if (f.kind === 'timeout' && o.timeoutMs !== undefined) return die('download timed out');
    const reason = f.kind === 'timeout' ? 'Connection timed out' : f.kind === 'refused' ? 'Connection refused' : f.detail.includes('network') ? 'Network unreachable' : 'Host is unreachable';
    return die(`can't connect to remote host (${ip}): ${reason}`);
  }
  let conn: Socket = socket;
  if (https) {
    try {
      conn = await startTls(socket, { servername: url.hostname, verify: false, deadline });
    } catch (e) {
      socket.destroy();
      if ((e as HttpFailure).kind === 'timeout') return die('download timed out');
      return die('error getting response: Connection reset by peer');
    }
  }
  const postData = last(parsed, 'post-data');
  const headers: [string, string][] = [
    ['Host', authority],
    ['User-Agent', last(parsed, 'user-agent') ?? 'Wget'],
  ];
  for (const h of all(parsed, 'header')) {
    const m = /^([^:]+):\s*(.*)$/.exec(h);
    if (!m) continue;
    const i = headers.findIndex(([k]) => k.toLowerCase() === m[1]!.trim().toLowerCase());
    if (i >= 0) headers[i] = [m[1]!.trim(), m[2]!];
    else headers.push([m[1]!.trim(), m[2]!]);
  }
  if (postData !== undefined) {
    headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
    headers.push(['Content-Length', String(Buffer.byteLength(postData))]);
  }
  headers.push(['Connection', 'close']);
  const spider = has(parsed, 'spider');
  let res;
  try {
    res = await exchange(conn, {
      method: postData !== undefined ? 'POST' : spider ? 'HEAD' : 'GET',
      path: `${url.pathname || '/'}${url.search}`,
      headers,
      body: postData !== undefined ? Buffer.from(postData) : undefined,
      deadline,
    });
  } catch (e) {
    const f = e as HttpFailure;
    if (f.kind === 'timeout') return die('download timed out');
    return die('error getting response');
  }
  if (has(parsed, 'server-response')) o.out.err(res.head.replace(/\r/g, '').replace(/\n\n$/, '\n').replace(/^/gm, '  ').replace(/ {2}$/, ''));
  if (res.statusCode >= 400 || res.statusCode < 200) return die(`server returned error: HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage}`);
  if (spider) {
    o.say('remote file exists\n');
    return 0;
  }
  const target = last(parsed, 'output-document') ?? (url.pathname.split('/').pop() || 'index.html');
  if (target === '-') {
    o.say('writing to stdout\n');
    o.out.out(res.body);
    o.say(`-                    100% |********************************| ${String(res.body.length).padStart(5)}  0:00:00 ETA\nwritten to stdout\n`);
  } else {
    o.say(`saving to '${target}'\n`);
    o.say(`${target.padEnd(20)} 100% |********************************| ${String(res.body.length).padStart(5)}  0:00:00 ETA\n'${target}' saved\n`);
  }
  return 0;
}
