/**
 * agnhost (`registry.k8s.io/e2e-test-images/agnhost`), the Kubernetes e2e toolbox, with the
 * subcommands upstream network tests use. Behaviour, flags, defaults and output follow
 * kubernetes/kubernetes test/images/agnhost:
 *
 * - `agnhost.go`: a cobra root command run through component-base's `cli.Run`, so an unknown
 *   subcommand or flag prints `Error: …` and exits 1, `_` in flag names reads as `-`, and klog's
 *   flags (`--v`, `--vmodule`, …) are accepted everywhere. The image's ENTRYPOINT is `/agnhost`
 *   and its CMD `pause`.
 * - `netexec/netexec.go`: HTTP on `--http-port` (8080) with `/`, `/clientip`, `/header`, `/dial`,
 *   `/echo`, `/exit`, `/healthz`, `/readyz`, `/hostname`, `/hostName`, `/redirect`, `/shell`,
 *   `/upload`, `/shutdown`; UDP on `--udp-port` (8081) answering `hostname`, `echo <msg>` and
 *   `clientip` (the command is trimmed and lower-cased first, so echoed text comes back lower
 *   case); `/healthz` is 200 only once the UDP (or SCTP) server runs. With `--sctp-port`, an SCTP
 *   server answers the UDP server's commands: one message per association, answered, then the
 *   association is closed (a client that closes without sending ends netexec: `log.Fatalf`).
 *   `/dial?protocol=sctp` sends `request` as one SCTP message and returns the answer.
 * - `serve-hostname/serve_hostname.go`: the hostname over HTTP (default), raw TCP (`--tcp`) or
 *   UDP (`--udp`) on `--port` (9376); HTTP cannot be combined with TCP/UDP (`--http=false`).
 * - `porter/porter.go`: for each `SERVE_PORT_<n>` / `SERVE_TLS_PORT_<n>` variable, HTTP / HTTPS
 *   on port n answering the variable's value to any request (`--json-response` wraps it); for
 *   `SERVE_SCTP_PORT_<n>`, the value as one SCTP message to each association.
 * - `connect/connect.go`: `connect host:port [--timeout=1s] [--protocol=tcp|udp|sctp]
 *   [--udp-data=hostname] [--sctp-data=hostname]` exits 0 on success and 1 on any failure,
 *   printing `TIMEOUT`, `REFUSED`, `DNS: …`, `OTHER: …` or `UNKNOWN: …` on stderr. SCTP sends
 *   `<sctp-data>\n` and waits for one answer; every failure but the deadline is `OTHER: <errno
 *   text>` (a refused association is `OTHER: connection refused`, not `REFUSED`), and without
 *   `--timeout` the deadline is `time.After(0)`, which always wins: `TIMEOUT`. Usable as the
 *   container's command and through `exec` (exec probes, `podnet exec`).
 * - `pause/pause.go`: waits to be stopped.
 *
 * SCTP goes through the sandbox's `listenSctp` / `dialSctp` (carried over TCP, message boundaries
 * kept: lib/dataplane/sctp.ts); a context without them gets `protocol not supported`, as on a
 * node without the sctp module. Upstream's SCTP server takes one association at a time; here they
 * are served side by side.
 *
 * What podnet cannot do is said, not faked: `/shell` answers the error a
 * container without `/bin/sh` gives, and TLS (`--tls-cert-file`, `SERVE_TLS_PORT_<n>`) uses a
 * certificate podnet generates for localhost, the hostname and the pod IPs instead of reading the
 * image's files.
 */

import http from 'node:http';
import type { Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { ContainerProcess, exitSoon, processTimer, remoteAddrOf } from './container.js';
import { checkPort, dialTcp, exchangeUdp, DialFailure } from './dial.js';
import { ContainerArgsError, ImageFeatureUnsupportedError } from './errors.js';
import {
  dropConnection,
  goAtoi,
  goForm,
  goHttpError,
  goMarshal,
  goParseDuration,
  goQuote,
  goRedirect,
  goRequest,
  goServeMuxRedirect,
  goTimeString,
  goWrite,
  GoFlagError,
  headerGet,
  headerObject,
  joinHostPort,
  parsePflags,
  splitHostPort,
  type AnyRequest,
  type AnyResponse,
  type FlagSpec,
  type GoRequest,
  type ParsedFlags,
} from './golang.js';
import { imageBaseName, parseImageReference } from './reference.js';
import type { BuiltinImage, ContainerContext, RunningContainer } from './types.js';
import type { SctpAssociation } from '../dataplane/sctp.js';

/** The image's name in messages. */
const IMAGE = 'agnhost';

/** Subcommands podnet runs. */
export const AGNHOST_EMULATED_SUBCOMMANDS = ['connect', 'netexec', 'pause', 'porter', 'serve-hostname'] as const;

/** Every subcommand of the real agnhost (agnhost.go), for telling "unknown" from "not emulated". */
const AGNHOST_SUBCOMMANDS = new Set([
  'audit-proxy',
  'connect',
  'crd-conversion-webhook',
  'dns-suffix',
  'dns-server-list',
  'etc-hosts',
  'entrypoint-tester',
  'fake-gitserver',
  'grpc-health-checking',
  'guestbook',
  'inclusterclient',
  'liveness',
  'logs-generator',
  'mounttest',
  'net',
  'netexec',
  'nettest',
  'no-snat-test',
  'no-snat-test-proxy',
  'pause',
  'porter',
  'port-forward-tester',
  'resource-consumer-controller',
  'serve-hostname',
  'stress',
  'tcp-reset',
  'test-webserver',
  'test-service-account-issuer-discovery',
  'webhook',
  'help',
  'completion',
]);

/** klog's flags, which `cli.Run` adds to every agnhost command (`-v` is also a shorthand). */
const KLOG_FLAGS: Record<string, FlagSpec> = {
  v: { kind: 'int', default: 0, shorthand: 'v' },
  vmodule: { kind: 'string', default: '' },
  logtostderr: { kind: 'bool', default: true },
  alsologtostderr: { kind: 'bool', default: false },
  'log-dir': { kind: 'string', default: '' },
  'log-file': { kind: 'string', default: '' },
  'log-file-max-size': { kind: 'int', default: 1800 },
  'log-flush-frequency': { kind: 'duration', default: 5000 },
  'log-backtrace-at': { kind: 'string', default: '' },
  stderrthreshold: { kind: 'string', default: '2' },
  'skip-headers': { kind: 'bool', default: false },
  'skip-log-headers': { kind: 'bool', default: false },
  'add-dir-header': { kind: 'bool', default: false },
  'one-output': { kind: 'bool', default: false },
};

const NETEXEC_FLAGS: Record<string, FlagSpec> = {
  'http-port': { kind: 'int', default: 8080 },
  'tls-cert-file': { kind: 'string', default: '' },
  'tls-private-key-file': { kind: 'string', default: '' },
  'udp-port': { kind: 'int', default: 8081 },
  'sctp-port': { kind: 'int', default: -1 },
  'http-override': { kind: 'string', default: '' },
  'udp-listen-addresses': { kind: 'string', default: '' },
  'delay-shutdown': { kind: 'int', default: 0 },
};

const SERVE_HOSTNAME_FLAGS: Record<string, FlagSpec> = {
  tcp: { kind: 'bool', default: false },
  udp: { kind: 'bool', default: false },
  http: { kind: 'bool', default: true },
  close: { kind: 'bool', default: false },
  port: { kind: 'int', default: 9376 },
};

const PORTER_FLAGS: Record<string, FlagSpec> = {
  'json-response': { kind: 'bool', default: false },
};

const CONNECT_FLAGS: Record<string, FlagSpec> = {
  timeout: { kind: 'duration', default: 0 },
  protocol: { kind: 'string', default: 'tcp' },
  'udp-data': { kind: 'string', default: 'hostname' },
  'sctp-data': { kind: 'string', default: 'hostname' },
};

/** The result of a command run to completion (a `connect`, an exec). */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Whether an argv[0] is the agnhost binary (`/agnhost`, `agnhost`, the `agnhost-2` symlink). */
function isAgnhostBinary(arg: string): boolean {
  return /^agnhost(-2)?$/.test(arg.slice(arg.lastIndexOf('/') + 1));
}

/** A cobra/pflag error, as `cli.Run` prints it: `Error: …` on stderr, exit code 1. */
function cobraError(ctx: ContainerContext, message: string): ContainerArgsError {
  return new ContainerArgsError(IMAGE, ctx.args, 1, `Error: ${message}\n`);
}

function parse(ctx: ContainerContext, args: readonly string[], specs: Record<string, FlagSpec>, maxArgs: number): ParsedFlags {
  let flags: ParsedFlags;
  try {
    flags = parsePflags(args, { ...KLOG_FLAGS, ...specs }, { normalize: true });
  } catch (e) {
    if (e instanceof GoFlagError) throw cobraError(ctx, e.message);
    throw e;
  }
  if (!flags.help && flags.positional.length > maxArgs) {
    throw cobraError(ctx, `accepts at most ${maxArgs} arg(s), received ${flags.positional.length}`);
  }
  return flags;
}

/**
 * Splits agnhost's argv into the subcommand and its arguments the way cobra finds it: flags of
 * the root command (klog's) may come first.
 */
function findSubcommand(argv: readonly string[]): { sub?: string; args: string[] } {
  const rest = [...argv];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--') break;
    if (!a.startsWith('-') || a === '-') {
      rest.splice(i, 1);
      return { sub: a, args: rest };
    }
    const name = a.replace(/^--?/, '').split('=')[0]!.replace(/_/g, '-');
    const spec = KLOG_FLAGS[name];
    if (spec && spec.kind !== 'bool' && !a.includes('=')) i++;
  }
  return { args: rest };
}

/** Programs of the image a command may name instead of /agnhost; podnet does not run them. */
const SHELLS = new Set(['sh', 'bash', 'ash']);

/** agnhost's argv without the binary; the image CMD (`pause`) when empty. */
function agnhostArgv(args: readonly string[]): string[] {
  const argv = [...args];
  if (argv.length > 0 && isAgnhostBinary(argv[0]!)) argv.shift();
  else if (argv.length > 0 && (argv[0]!.includes('/') || SHELLS.has(argv[0]!))) {
    throw new ImageFeatureUnsupportedError(IMAGE, `command ${JSON.stringify(argv[0])}`, 'podnet runs agnhost itself, not other programs of the image');
  }
  return argv.length === 0 ? ['pause'] : argv;
}

// --- connect -----------------------------------------------------------------------------------

/** `agnhost connect`: one connection attempt, exit 0 on success and 1 otherwise (connect.go). */
export async function agnhostConnect(ctx: ContainerContext, args: readonly string[]): Promise<CommandResult> {
  let flags: ParsedFlags;
  try {
    flags = parsePflags(args, { ...KLOG_FLAGS, ...CONNECT_FLAGS }, { normalize: true });
  } catch (e) {
    if (e instanceof GoFlagError) return { exitCode: 1, stdout: '', stderr: `Error: ${e.message}\n` };
    throw e;
  }
  if (flags.help) return { exitCode: 0, stdout: 'Usage:\n  app connect [host:port] [flags]\n', stderr: '' };
  if (flags.positional.length !== 1) {
    return { exitCode: 1, stdout: '', stderr: `Error: accepts 1 arg(s), received ${flags.positional.length}\n` };
  }
  const dest = flags.positional[0]!;
  const timeoutMs = flags.values['timeout'] as number;
  const protocol = flags.values['protocol'] as string;
  const fail = (stderr: string): CommandResult => ({ exitCode: 1, stdout: '', stderr });
  switch (protocol) {
    case '':
    case 'tcp':
      return connectTcp(ctx, dest, timeoutMs, fail);
    case 'udp':
      return connectUdp(ctx, dest, timeoutMs, flags.values['udp-data'] as string, fail);
    case 'sctp':
      return connectSctp(ctx, dest, timeoutMs, flags.values['sctp-data'] as string, fail);
    default:
      // fmt.Fprint(os.Stderr, "Unsupported protocol\n", protocol): the operands are concatenated.
      return fail(`Unsupported protocol\n${protocol}`);
  }
}

async function connectTcp(ctx: ContainerContext, dest: string, timeoutMs: number, fail: (s: string) => CommandResult): Promise<CommandResult> {
  let host: string;
  let port: string;
  try {
    ({ host, port } = splitHostPort(dest));
  } catch (e) {
    return fail(`UNKNOWN: ${(e as Error).message}\n`);
  }
  const bad = checkPort('tcp', port);
  if (bad) return fail(`DNS: ${bad}\n`);
  try {
    const socket = await dialTcp(ctx, host, Number(port), timeoutMs || undefined);
    socket.destroy();
    return { exitCode: 0, stdout: '', stderr: '' };
  } catch (e) {
    const f = e as DialFailure;
    if (f.kind === 'timeout') return fail('TIMEOUT\n');
    if (f.kind === 'refused') return fail('REFUSED\n');
    if (f.kind === 'dns') return fail(`DNS: lookup ${host}: no such host\n`);
    return fail(`OTHER: dial tcp ${joinHostPort(host, port)}: ${f.detail}\n`);
  }
}

async function connectUdp(
  ctx: ContainerContext,
  dest: string,
  timeoutMs: number,
  data: string,
  fail: (s: string) => CommandResult,
): Promise<CommandResult> {
  let host: string;
  let port: string;
  try {
    ({ host, port } = splitHostPort(dest));
  } catch (e) {
    return fail(`DNS: ${(e as Error).message}\n`);
  }
  const bad = checkPort('udp', port);
  if (bad) return fail(`DNS: ${bad}\n`);
  let answer: Buffer;
  try {
    answer = await exchangeUdp(ctx, host, Number(port), `${data}\n`, timeoutMs || undefined);
  } catch (e) {
    const f = e as DialFailure;
    const where = `read udp ${ctx.podIPs[0] ?? ''}->${joinHostPort(host, port)}`;
    if (f.kind === 'timeout') return fail(`TIMEOUT: ${where}: i/o timeout\n`);
    if (f.kind === 'refused') return fail(`REFUSED: ${where}: connection refused\n`);
    if (f.kind === 'dns') return fail(`DNS: lookup ${host}: no such host\n`);
    return fail(`UNKNOWN: ${where}: ${f.detail}\n`);
  }
  if (answer.length === 0) return fail('OTHER: No data received from the server. Cannot guarantee the server received the request.\n');
  return { exitCode: 0, stdout: '', stderr: '' };
}

/** `exec` in an agnhost container: `/agnhost connect …`; anything else is not a program podnet has. */
async function agnhostExec(ctx: ContainerContext, argv: readonly string[]): Promise<CommandResult> {
  if (argv.length === 0 || !isAgnhostBinary(argv[0]!)) return execNotFound(argv[0] ?? '');
  const { sub, args } = findSubcommand(argv.slice(1));
  if (sub === 'connect') return agnhostConnect(ctx, args);
  if (sub !== undefined && !AGNHOST_SUBCOMMANDS.has(sub)) {
    return { exitCode: 1, stdout: '', stderr: `Error: unknown command ${goQuote(sub)} for "app"\n` };
  }
  return {
    exitCode: 126,
    stdout: '',
    stderr: `podnet: agnhost ${sub ?? ''} is not emulated in exec (emulated: connect)\n`,
  };
}

/**
 * The answer to exec'ing a program the container does not have, as the runtime words it; 127
 * is the shell's "command not found".
 */
export function execNotFound(argv0: string): CommandResult {
  return {
    exitCode: 127,
    stdout: '',
    stderr: `OCI runtime exec failed: exec failed: unable to start container process: exec: ${goQuote(argv0)}: executable file not found in $PATH: unknown\n`,
  };
}

// --- netexec -----------------------------------------------------------------------------------

interface NetexecState {
  /** The UDP server runs (netexec's serverReady). */
  ready: boolean;
  /** SIGTERM was received (readyz answers 503). */
  terminating: boolean;
}

async function netexec(ctx: ContainerContext, args: readonly string[]): Promise<RunningContainer> {
  const flags = parse(ctx, args, NETEXEC_FLAGS, 0);
  const proc = new ContainerProcess(ctx);
  if (flags.help) {
    exitSoon(proc, 0);
    return proc.handle();
  }
  const httpPort = flags.values['http-port'] as number;
  const udpPort = flags.values['udp-port'] as number;
  const sctpPort = flags.values['sctp-port'] as number;
  const override = flags.values['http-override'] as string;
  const tlsCert = flags.values['tls-cert-file'] as string;
  const delayShutdown = flags.values['delay-shutdown'] as number;
  const state: NetexecState = { ready: false, terminating: false };

  if (udpPort !== -1) {
    const addresses = (flags.values['udp-listen-addresses'] as string).split(',').filter((a) => a !== '');
    for (const a of addresses) {
      if (!/^[\d.]+$|:/.test(a)) throw new ContainerArgsError(IMAGE, ctx.args, 1, `parseAddress: invalid address ${a}\n`);
    }
    await proc.listenUdp(udpPort, (msg) => {
      const text = msg.data.toString('utf8').trim().toLowerCase();
      if (text === 'hostname') msg.reply(ctx.hostname);
      else if (text.startsWith('echo ')) msg.reply(text.slice(5));
      else if (text === 'clientip') msg.reply(joinHostPort(msg.remoteAddress, msg.remotePort));
      else if (text.length > 0) ctx.log(`Unknown UDP command received from ${joinHostPort(msg.remoteAddress, msg.remotePort)}: ${text}`);
    });
    ctx.log(`Started UDP server on port  ${udpPort}`);
    state.ready = true;
  }

  await proc.serveHttp(httpPort, (req, res) => netexecHandler(proc, state, override, req, res), { tls: tlsCert !== '' });
  ctx.log(`Started HTTP server on port ${httpPort}`);
  // After HTTP, so that HTTP keeps its port number when both use the same one (SCTP rides on TCP).
  if (sctpPort !== -1) await netexecSctp(proc, sctpPort, state);

  return {
    async stop() {
      state.terminating = true;
      // Only with --delay-shutdown does netexec catch SIGTERM (and then exits 0); otherwise the signal ends it.
      if (delayShutdown <= 0) {
        await proc.stop();
        return;
      }
      if (proc.running) {
        ctx.log(`Sleeping ${delayShutdown} seconds before terminating...`);
        await new Promise<void>((resolve) => {
          processTimer(proc, delayShutdown * 1000, resolve);
          proc.onStop(resolve);
        });
      }
      await proc.stop();
      return 0;
    },
    // SIGKILL ends the --delay-shutdown sleep too: stopping the process clears its timers.
    kill: () => void proc.stop(),
    exec: (argv) => agnhostExec(ctx, argv),
  };
}

async function netexecHandler(proc: ContainerProcess, state: NetexecState, override: string, req: AnyRequest, res: AnyResponse): Promise<void> {
  const ctx = proc.ctx;
  let r = goRequest(req, remoteAddrOf(req));
  if (goServeMuxRedirect(res, r)) return;
  if (override !== '') {
    // http.NewRequest("GET", override, nil): a fresh request, without the client's address or headers.
    const q = override.indexOf('?');
    const rawQuery = q >= 0 ? override.slice(q + 1) : '';
    const path = q >= 0 ? override.slice(0, q) : override;
    r = { ...r, method: 'GET', requestURI: override, path, rawQuery, query: new URLSearchParams(rawQuery), header: new Map(), remoteAddr: '' };
  }
  const form = await goForm(req, r);
  const value = (key: string): string => form.get(key) ?? '';
  const ok = (body: string): void => goWrite(res, 200, body);

  switch (r.path) {
    case '/clientip':
      ok(r.remoteAddr);
      return;
    case '/header': {
      const key = value('key');
      ok(key !== '' ? headerGet(r.header, key) : goMarshal(headerObject(r.header)));
      return;
    }
    case '/dial':
      await dialHandler(ctx, r, res);
      return;
    case '/echo': {
      const msg = value('msg');
      const codeString = value('code');
      if (codeString === '') return ok(msg);
      let code: number;
      try {
        code = goAtoi(codeString);
      } catch {
        return ok(`argument 'code' must be an integer or empty, got ${goQuote(codeString)}\n`);
      }
      // WriteHeader panics on a code outside 100–999: the server drops the connection.
      if (code < 100 || code > 999) {
        dropConnection(res);
        return;
      }
      // A 1xx is informational; the body then goes out under 200.
      goWrite(res, code < 200 ? 200 : code, msg);
      return;
    }
    case '/exit':
      exitHandler(proc, form, res);
      return;
    case '/healthz':
      goWrite(res, state.ready ? 200 : 412);
      return;
    case '/readyz':
      if (state.terminating) goWrite(res, 503, 'shutting down');
      else if (state.ready) ok('ok');
      else goWrite(res, 412);
      return;
    case '/hostname':
    case '/hostName':
      ok(ctx.hostname);
      return;
    case '/redirect': {
      const location = value('location');
      const codeString = value('code');
      let code = 302;
      if (codeString !== '') {
        try {
          code = goAtoi(codeString);
        } catch {
          return ok(`argument 'code' must be an integer or empty, got ${goQuote(codeString)}\n`);
        }
      }
      goRedirect(res, r, location, code);
      return;
    }
    case '/shell':
      // exec.Command("/bin/sh", "-c", cmd) in a container that has no /bin/sh.
      ok(goMarshal({ error: 'fork/exec /bin/sh: no such file or directory' }));
      return;
    case '/upload': {
      const multipart = /^multipart\/form-data/i.test(headerGet(r.header, 'Content-Type'));
      ok(goMarshal({ error: multipart ? 'Unable to open file for write' : 'Unable to upload file.' }));
      return;
    }
    case '/shutdown':
      ctx.log('GET /shutdown');
      dropConnection(res);
      proc.exit(0);
      return;
    default:
      ok(`NOW: ${goTimeString(new Date(), proc.uptimeSeconds())}`);
  }
}

function exitHandler(proc: ContainerProcess, form: URLSearchParams, res: AnyResponse): void {
  const waitString = form.get('wait') ?? '';
  const timeoutString = form.get('timeout') ?? '';
  const codeString = form.get('code') ?? '';
  const ok = (body: string): void => goWrite(res, 200, body);
  let timeout = 0;
  let wait = 0;
  let code = 0;
  try {
    if (timeoutString !== '') timeout = goParseDuration(timeoutString);
  } catch {
    return ok(`argument 'timeout' must be a valid golang duration or empty, got ${goQuote(timeoutString)}\n`);
  }
  try {
    if (waitString !== '') wait = goParseDuration(waitString);
  } catch {
    return ok(`argument 'wait' must be a valid golang duration or empty, got ${goQuote(waitString)}\n`);
  }
  try {
    if (codeString !== '') code = goAtoi(codeString);
  } catch {
    return ok(`argument 'code' must be an integer [0-127] or empty, got ${goQuote(codeString)}\n`);
  }
  proc.ctx.log(`GET /exit?code=${codeString}&timeout=${timeoutString}&wait=${waitString}`);
  const shutdown = (): void => {
    if (timeout === 0) {
      // os.Exit: the process is gone before any response is written.
      proc.exit(code);
      return;
    }
    // Graceful: the handler returns (an empty 200), then the server shuts down and the process exits.
    ok('');
    res.once('finish', () => setImmediate(() => proc.exit(code)));
  };
  if (wait > 0) processTimer(proc, wait, shutdown);
  else shutdown();
}

async function dialHandler(ctx: ContainerContext, r: GoRequest, res: AnyResponse): Promise<void> {
  const q = r.query;
  const host = q.get('host') ?? '';
  const port = q.get('port') ?? '';
  const request = q.get('request') ?? '';
  const protocol = q.get('protocol') ?? '';
  const tryParam = q.get('tries') ?? '';
  ctx.log(`GET /dial?host=${host}&protocol=${protocol}&port=${port}&request=${request}&tries=${tryParam}`);
  let tries = 1;
  if (tryParam.length > 0) {
    try {
      tries = goAtoi(tryParam);
    } catch (e) {
      return goHttpError(res, `tries parameter is invalid. ${(e as Error).message}`, 400);
    }
  }
  // err is nil here in netexec.go, and %v prints it as <nil>.
  if (request.length === 0) return goHttpError(res, 'request parameter not specified. <nil>', 400);
  const proto = protocol.toLowerCase();
  if (!['', 'http', 'udp', 'sctp'].includes(proto)) return goHttpError(res, `unsupported protocol. ${protocol}`, 400);
  const bad = checkPort(proto === 'udp' ? 'udp' : 'tcp', port);
  if (bad) return goHttpError(res, `host and/or port param are invalid. ${bad}`, 400);
  const portNumber = Number(port || '0');
  const target = host === '' ? '127.0.0.1' : host;

  const dialer = async (): Promise<string> => {
    if (proto === 'udp') return dialUDP(ctx, request, target, portNumber);
    if (proto === 'sctp') return dialSCTP(ctx, request, target, portNumber);
    return dialHTTP(ctx, request, target, portNumber);
  };
  const errors: string[] = [];
  const responses: string[] = [];
  let response = '';
  for (let i = 0; i < tries; i++) {
    try {
      response = await dialer();
      responses.push(response);
    } catch (e) {
      response = '';
      errors.push((e as Error).message);
    }
  }
  // json.Marshal(map[string][]string) sorts the keys; "responses" is kept only when the last try answered.
  const output: Record<string, string[]> = {};
  if (errors.length > 0) output['errors'] = errors;
  if (response.length > 0) output['responses'] = responses;
  goWrite(res, 200, goMarshal(output));
}

/** netexec's dialHTTP: `GET http://host:port/<request>` with a 5 s client timeout; the body is the response. */
async function dialHTTP(ctx: ContainerContext, request: string, host: string, port: number): Promise<string> {
  const hostPort = joinHostPort(host, port);
  const url = `http://${hostPort}/${request}`;
  const deadline = Date.now() + 5000;
  let socket: Socket;
  try {
    socket = await dialTcp(ctx, host, port, 5000);
  } catch (e) {
    const f = e as DialFailure;
    if (f.kind === 'timeout') throw new Error(`Get ${goQuote(url)}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)`);
    if (f.kind === 'dns') throw new Error(`Get ${goQuote(url)}: dial tcp: lookup ${host}: no such host`);
    throw new Error(`Get ${goQuote(url)}: dial tcp ${hostPort}: ${f.detail}`);
  }
  const path = `/${request}`.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => {
        socket.destroy();
        reject(new Error(`Get ${goQuote(url)}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)`));
      },
      Math.max(deadline - Date.now(), 0),
    );
    const finish = (fn: () => void): void => {
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const req = http.request(
      {
        createConnection: () => socket,
        method: 'GET',
        path,
        setHost: false,
        headers: { Host: hostPort, 'User-Agent': 'Go-http-client/1.1', 'Accept-Encoding': 'gzip' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          finish(() => {
            let body = Buffer.concat(chunks);
            if (/gzip/i.test(String(res.headers['content-encoding'] ?? ''))) {
              try {
                body = gunzipSync(body);
              } catch (e) {
                reject(new Error(`gzip: ${(e as Error).message}`));
                return;
              }
            }
            resolve(body.toString('utf8'));
          }),
        );
        res.on('error', (e) => finish(() => reject(new Error(`Get ${goQuote(url)}: ${e.message}`))));
      },
    );
    req.on('error', (e) => finish(() => reject(new Error(`Get ${goQuote(url)}: ${(e as NodeJS.ErrnoException).code === 'ECONNRESET' ? 'EOF' : e.message}`))));
    req.end();
  });
}

/** netexec's dialUDP: one datagram, one answer within 5 s. */
async function dialUDP(ctx: ContainerContext, request: string, host: string, port: number): Promise<string> {
  try {
    const answer = await exchangeUdp(ctx, host, port, request, 5000);
    if (answer.length === 0) throw new DialFailure('other', '<nil>');
    return answer.subarray(0, 2048).toString('utf8');
  } catch (e) {
    const f = e as DialFailure;
    const where = `read udp ${ctx.podIPs[0] ?? ''}->${joinHostPort(host, port)}`;
    const detail = f.kind === 'timeout' ? `${where}: i/o timeout` : f.kind === 'refused' ? `${where}: connection refused` : f.detail;
    throw new Error(`reading from udp connection failed. err:'${detail}'`);
  }
}

// --- serve-hostname ----------------------------------------------------------------------------

async function serveHostname(ctx: ContainerContext, args: readonly string[]): Promise<RunningContainer> {
  const flags = parse(ctx, args, SERVE_HOSTNAME_FLAGS, 0);
  const proc = new ContainerProcess(ctx);
  if (flags.help) {
    exitSoon(proc, 0);
    return proc.handle();
  }
  const doTCP = flags.values['tcp'] as boolean;
  const doUDP = flags.values['udp'] as boolean;
  const doHTTP = flags.values['http'] as boolean;
  const doClose = flags.values['close'] as boolean;
  const port = flags.values['port'] as number;
  if (doHTTP && (doTCP || doUDP)) {
    throw new ContainerArgsError(IMAGE, ctx.args, 1, "Can't serve TCP/UDP mode and HTTP mode at the same time\n");
  }
  const hostname = ctx.hostname;
  if (doTCP) {
    await proc.listenTcp(port, (conn) => {
      ctx.log(`TCP request from ${joinHostPort(conn.remoteAddress, conn.remotePort)}`);
      conn.socket.end(hostname);
    });
  }
  if (doUDP) {
    await proc.listenUdp(port, (msg) => {
      ctx.log(`UDP request from ${joinHostPort(msg.remoteAddress, msg.remotePort)}`);
      msg.reply(hostname);
    });
  }
  if (doHTTP) {
    await proc.serveHttp(port, (req, res) => {
      const r = goRequest(req, remoteAddrOf(req));
      if (goServeMuxRedirect(res, r)) return;
      ctx.log(`HTTP request from ${r.remoteAddr}`);
      goWrite(res, 200, hostname, doClose ? { Connection: 'close' } : {});
    });
  }
  ctx.log(`Serving on port ${port}.`);
  return proc.handle((argv) => agnhostExec(ctx, argv));
}

// --- porter ------------------------------------------------------------------------------------

async function porter(ctx: ContainerContext, args: readonly string[]): Promise<RunningContainer> {
  const flags = parse(ctx, args, PORTER_FLAGS, 0);
  const proc = new ContainerProcess(ctx);
  if (flags.help) {
    exitSoon(proc, 0);
    return proc.handle();
  }
  const jsonResponse = flags.values['json-response'] as boolean;
  const serve = async (port: string, value: string, tls: boolean): Promise<void> => {
    if (!/^\d+$/.test(port) || Number(port) > 65535) {
      ctx.log(`${tls ? 'tls ' : ''}server on port ${goQuote(port)} failed: listen tcp: lookup tcp/${port}: unknown port`);
      return;
    }
    try {
      await proc.serveHttp(
        Number(port),
        (req, res) => {
          if (jsonResponse) {
            goWrite(res, 200, goMarshal({ Method: req.method ?? 'GET', Body: value }), { 'Content-Type': 'application/json' });
          } else {
            goWrite(res, 200, value);
          }
        },
        { tls },
      );
    } catch (e) {
      // Each port is its own goroutine in porter.go: one failing to listen is only logged.
      ctx.log(`${tls ? 'tls ' : ''}server on port ${goQuote(port)} failed: listen tcp 0.0.0.0:${port}: ${(e as Error).message}`);
    }
  };
  const pending: Promise<void>[] = [];
  for (const [key, value] of Object.entries(ctx.env)) {
    if (key.startsWith('SERVE_PORT_')) pending.push(serve(key.slice('SERVE_PORT_'.length), value, false));
    else if (key.startsWith('SERVE_SCTP_PORT_')) pending.push(porterSctp(proc, key, value));
    else if (key.startsWith('SERVE_TLS_PORT_')) pending.push(serve(key.slice('SERVE_TLS_PORT_'.length), value, true));
  }
  await Promise.all(pending);
  return proc.handle((argv) => agnhostExec(ctx, argv));
}

// --- SCTP --------------------------------------------------------------------------------------

/** Go's text of the errno behind a failed SCTP dial, read or write (`syscall.Errno.Error()`). */
function sctpErrorText(e: unknown): string {
  const err = e as { errno?: string; code?: string; message?: string };
  switch (err?.errno ?? err?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'EHOSTUNREACH':
      return 'no route to host';
    case 'ENETUNREACH':
      return 'network is unreachable';
    case 'ECONNRESET':
      return 'connection reset by peer';
    case 'EPIPE':
      return 'broken pipe';
    case 'EINVAL':
      return 'invalid argument';
    case 'PODNET_SCTP_CLOSED':
      return /aborted/.test(err.message ?? '') ? 'connection reset by peer' : 'EOF';
  }
  return err?.message ?? String(e);
}

/** Whether a failed dial was a flow the data plane dropped (the INITs went unanswered). */
function sctpDropped(e: unknown): boolean {
  const err = e as { errno?: string; code?: string; name?: string };
  return err?.errno === 'ETIMEDOUT' || err?.code === 'ETIMEDOUT' || err?.code === 'PODNET_TIMEOUT' || err?.name === 'TimeoutError';
}

/** netexec's startSCTPServer: one message per association, answered as the UDP server answers, then closed. */
async function netexecSctp(proc: ContainerProcess, port: number, state: NetexecState): Promise<void> {
  const ctx = proc.ctx;
  if (!ctx.listenSctp) {
    ctx.log(`Error occurred: failed to create listener for SCTP address :${port}:protocol not supported`);
    exitSoon(proc, 1);
    return;
  }
  await ctx.listenSctp(port, (association) => {
    if (!proc.running) {
      association.abort();
      return;
    }
    proc.track(association.carrier);
    const client = joinHostPort(association.remoteAddress, association.remotePort);
    association.receive().then(
      (message) => {
        // conn.Read into a 1024-byte buffer: a longer message is cut there.
        const text = message.subarray(0, 1024).toString('utf8').trim().toLowerCase();
        const answer = (detail: string, data: string): void => {
          try {
            association.send(data);
          } catch (e) {
            // The client shut down before the answer (EPIPE): assertNoError ends netexec.
            ctx.log(`Error occurred: ${detail}:${sctpErrorText(e)}`);
            proc.exit(1);
          }
        };
        if (text === 'hostname') {
          ctx.log('Sending SCTP hostName response');
          answer(`failed to write hostname to SCTP client ${client}`, ctx.hostname);
        } else if (text.startsWith('echo ')) {
          const resp = text.slice(5);
          ctx.log(`Echoing ${resp} to SCTP client ${client}`);
          answer(`failed to echo to SCTP client ${client}`, resp);
        } else if (text === 'clientip') {
          ctx.log(`Sending clientip back to SCTP client ${client}`);
          answer(`failed to write clientip to SCTP client ${client}`, client);
        } else if (text.length > 0) {
          ctx.log(`Unknown SCTP command received from ${client}: ${text}`);
        }
        association.close();
      },
      (e: unknown) => {
        // assertNoError → log.Fatalf: netexec ends with exit code 1.
        if (!proc.running) return;
        ctx.log(`Error occurred: failed to read from SCTP client ${client}:${sctpErrorText(e)}`);
        proc.exit(1);
      },
    );
  });
  ctx.log('Started SCTP server');
  state.ready = true;
}

/** porter's serveSCTPPort: the value, as one message, to every association. */
async function porterSctp(proc: ContainerProcess, key: string, value: string): Promise<void> {
  const ctx = proc.ctx;
  const port = key.slice('SERVE_SCTP_PORT_'.length);
  if (!ctx.listenSctp) {
    ctx.log(`podnet: this sandbox cannot carry SCTP; ${key} is ignored`);
    return;
  }
  if (!/^\d+$/.test(port) || Number(port) > 65535) {
    ctx.log(`Sctp: failed to resolve address. error:${/^\d+$/.test(port) ? `address ${port}: invalid port` : `lookup tcp/${port}: unknown port`}`);
    exitSoon(proc, 1);
    return;
  }
  try {
    await ctx.listenSctp(Number(port), (association) => {
      if (!proc.running) {
        association.abort();
        return;
      }
      proc.track(association.carrier);
      ctx.log('Sending response');
      try {
        association.send(value);
        ctx.log('Response sent');
      } catch (e) {
        ctx.log(`Failed to send response ${sctpErrorText(e)}`);
      }
      association.close();
    });
  } catch (e) {
    ctx.log(`Failed to listen SCTP. error:${(e as Error).message}`);
    exitSoon(proc, 1);
    return;
  }
  ctx.log('Started SCTP server');
}

/**
 * connect.go's connectSCTP: dial, send `<data>\n`, read one answer, close — raced against
 * `time.After(timeout)`.
 */
async function connectSctp(ctx: ContainerContext, dest: string, timeoutMs: number, data: string, fail: (s: string) => CommandResult): Promise<CommandResult> {
  let host: string;
  let port: string;
  try {
    ({ host, port } = splitHostPort(dest));
  } catch (e) {
    return fail(`DNS: ${(e as Error).message}\n`);
  }
  const bad = checkPort('tcp', port);
  if (bad) return fail(`DNS: ${bad}\n`);
  // podnet's own limit comes first: a context that cannot carry SCTP says so whatever the timeout.
  if (!ctx.dialSctp) return fail('OTHER: protocol not supported\n');
  // time.After(0) is ready before the dialing goroutine can finish: the select picks it.
  if (timeoutMs <= 0) return fail('TIMEOUT\n');
  const dialSctp = ctx.dialSctp.bind(ctx);
  // os.Exit after the deadline closes whatever the goroutine still holds.
  let late = false;
  let held: SctpAssociation | undefined;
  const attempt = async (): Promise<void> => {
    const association = await dialSctp(host, Number(port), { timeoutMs });
    if (late) return association.close();
    held = association;
    try {
      association.send(`${data}\n`);
      await association.receive();
    } finally {
      association.close();
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => {
      late = true;
      held?.close();
      resolve('deadline');
    }, timeoutMs);
  });
  try {
    const outcome = await Promise.race([attempt().then(() => 'done' as const), deadline]);
    return outcome === 'deadline' ? fail('TIMEOUT\n') : { exitCode: 0, stdout: '', stderr: '' };
  } catch (e) {
    // The data plane gives up on a dropped flow no later than the deadline: the deadline's answer.
    if (sctpDropped(e)) return fail('TIMEOUT\n');
    if ((e as { code?: string }).code === 'ENOTFOUND') return fail(`DNS: lookup ${host}: no such host\n`);
    return fail(`OTHER: ${sctpErrorText(e)}\n`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * netexec's dialSCTP: `request` as one message, the answer (up to 1024 bytes) back. The sctp
 * package cannot set a read deadline (SetReadDeadline is EOPNOTSUPP, and netexec ignores that),
 * so a peer that never answers keeps the request waiting, as upstream.
 */
async function dialSCTP(ctx: ContainerContext, request: string, host: string, port: number): Promise<string> {
  if (!ctx.dialSctp) throw new Error('sctp dial failed. err:protocol not supported');
  let association: SctpAssociation;
  try {
    association = await ctx.dialSctp(host, port);
  } catch (e) {
    throw new Error(`sctp dial failed. err:${sctpErrorText(e)}`);
  }
  try {
    try {
      association.send(request);
    } catch (e) {
      throw new Error(`sctp connection write failed. err:${sctpErrorText(e)}`);
    }
    let answer: Buffer;
    try {
      answer = await association.receive();
    } catch (e) {
      throw new Error(`reading from sctp connection failed. err:'${sctpErrorText(e)}'`);
    }
    return answer.subarray(0, 1024).toString('utf8');
  } finally {
    association.close();
  }
}

// --- the image ---------------------------------------------------------------------------------

async function start(ctx: ContainerContext): Promise<RunningContainer> {
  const { sub, args } = findSubcommand(agnhostArgv(ctx.args));
  switch (sub) {
    case 'netexec':
      return netexec(ctx, args);
    case 'serve-hostname':
      return serveHostname(ctx, args);
    case 'porter':
      return porter(ctx, args);
    case 'pause': {
      parse(ctx, args, {}, 0);
      const proc = new ContainerProcess(ctx);
      ctx.log('Paused');
      return proc.handle((argv) => agnhostExec(ctx, argv));
    }
    case 'connect': {
      // connect as the container's command: run once, then the container exits with its code.
      const proc = new ContainerProcess(ctx);
      void agnhostConnect(ctx, args).then((result) => {
        for (const line of `${result.stdout}${result.stderr}`.split('\n')) if (line !== '') ctx.log(line);
        exitSoon(proc, result.exitCode);
      });
      return proc.handle();
    }
    case undefined: {
      // The root command alone prints its help and exits 0.
      const proc = new ContainerProcess(ctx);
      exitSoon(proc, 0);
      return proc.handle();
    }
    default:
      if (AGNHOST_SUBCOMMANDS.has(sub)) {
        throw new ImageFeatureUnsupportedError(IMAGE, `subcommand ${JSON.stringify(sub)}`, `emulated subcommands: ${AGNHOST_EMULATED_SUBCOMMANDS.join(', ')}`);
      }
      throw cobraError(ctx, `unknown command ${goQuote(sub)} for "app"`);
  }
}

/** agnhost, matched on the repository name `agnhost` (and its old per-architecture names) under any registry. */
export const agnhost: BuiltinImage = {
  name: 'agnhost',
  matches(image: string): boolean {
    return /^agnhost(-(amd64|arm|arm64|ppc64le|s390x))?$/.test(imageBaseName(parseImageReference(image)));
  },
  start,
};

