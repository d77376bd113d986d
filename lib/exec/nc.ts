/**
 * netcat from inside a pod, in the two flavours pod images carry:
 *
 * - busybox `nc` (networking/nc_bloaty.c, the netcat-1.10-compatible applet Alpine and the
 *   busybox image build): `nc [-zuvn] [-w SEC] HOST PORT`. `-z` connects and closes; with `-v` it
 *   says `HOST (IP:PORT) open` on stderr, or `nc: HOST (IP:PORT): Connection refused`. A name
 *   that does not resolve: `nc: bad address 'HOST'`. Exit 0 on success, 1 on failure.
 * - OpenBSD `nc` (netcat-openbsd, installed in netshoot and agnhost): `-zv` says `Connection to
 *   HOST PORT port [tcp/SERVICE] succeeded!`, a failure `nc: connect to HOST port PORT (tcp)
 *   failed: Connection refused`; a name that does not resolve `nc: getaddrinfo for host "HOST"
 *   port PORT: Name does not resolve`.
 *
 * Without `-z`, TCP: stdin is sent, then whatever the server sends is printed until it closes the
 * connection (or, with `-w`, until it has been quiet that long). `-u`: stdin goes out as one
 * datagram and the first answer is printed; with `-w` the wait is bounded, without it the data
 * plane's timeout bounds it (a real nc would wait for Ctrl-C). `-zu` sends one probe datagram and
 * reports the port open unless an ICMP port-unreachable (ECONNREFUSED) comes back, as netcat does.
 */

import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import { dialTcp, exchangeUdp, type DialFailure } from '../images/dial.js';
import { has, last, OptionError, parseOptions, type OptionSpec } from './options.js';
import { resolveHost, ResolveError } from './resolver.js';
import { Output, type ExecContext, type ExecResult } from './types.js';

/** Which netcat. */
export type NcFlavor = 'busybox' | 'openbsd';

const BUSYBOX_SPECS: OptionSpec[] = [
  { key: 'z', short: 'z' },
  { key: 'u', short: 'u' },
  { key: 'v', short: 'v' },
  { key: 'n', short: 'n' },
  { key: 'l', short: 'l' },
  { key: 'k', short: 'k' },
  { key: 'b', short: 'b' },
  { key: 'w', short: 'w', arg: true },
  { key: 'i', short: 'i', arg: true },
  { key: 'p', short: 'p', arg: true },
  { key: 's', short: 's', arg: true },
  { key: 'o', short: 'o', arg: true },
  { key: 'e', short: 'e', arg: true },
];

const OPENBSD_SPECS: OptionSpec[] = [
  ...BUSYBOX_SPECS.filter((s) => !['e', 'o', 'b'].includes(s.key)),
  { key: 'N', short: 'N' },
  { key: '4', short: '4' },
  { key: '6', short: '6' },
  { key: 'q', short: 'q', arg: true },
];

/** Service names of /etc/services for the ports people probe (OpenBSD nc prints them). */
const SERVICES: Record<string, string> = { '22': 'ssh', '53': 'domain', '80': 'http', '443': 'https', '8080': 'http-alt', '6443': 'sun-sr-https' };

/** Runs `nc ARGS` of the given flavour in the pod. */
export async function nc(ctx: ExecContext, args: readonly string[], flavor: NcFlavor): Promise<ExecResult> {
  const out = new Output();
  let parsed;
  try {
    parsed = parseOptions(args, flavor === 'busybox' ? BUSYBOX_SPECS : OPENBSD_SPECS, { permute: flavor === 'openbsd' });
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    const c = e.option.replace(/^-+/, '');
    out.err(flavor === 'busybox' ? `nc: invalid option -- '${c}'\n${BUSYBOX_USAGE}` : `nc: ${e.kind === 'missing-argument' ? 'option requires an argument' : 'invalid option'} -- '${c}'\n${OPENBSD_USAGE}`);
    return out.exit(1);
  }
  if (has(parsed, 'l')) {
    out.err('podnet: nc -l (listening) is not emulated in exec; run a server image instead\n');
    return out.exit(1);
  }
  const [host, port, ...extra] = parsed.operands;
  if (host === undefined || port === undefined || extra.length > 0) {
    out.err(flavor === 'busybox' ? BUSYBOX_USAGE : OPENBSD_USAGE);
    return out.exit(1);
  }
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    out.err(flavor === 'busybox' ? `nc: bad port '${port}'\n` : `nc: port number invalid: ${port}\n`);
    return out.exit(1);
  }
  const w = last(parsed, 'w');
  if (w !== undefined && !/^\d+$/.test(w)) {
    out.err(flavor === 'busybox' ? `nc: invalid number '${w}'\n` : `nc: timeout invalid: ${w}\n`);
    return out.exit(1);
  }
  const waitMs = w !== undefined && Number(w) > 0 ? Number(w) * 1000 : undefined;
  const udp = has(parsed, 'u');
  const verbose = has(parsed, 'v');
  const proto = udp ? 'udp' : 'tcp';

  let ip: string;
  if (has(parsed, 'n') && !isIP(host)) {
    out.err(flavor === 'busybox' ? `nc: bad address '${host}'\n` : `nc: getaddrinfo for host "${host}" port ${port}: Name does not resolve\n`);
    return out.exit(1);
  }
  try {
    ip = await resolveHost(ctx, host);
  } catch (e) {
    if (!(e instanceof ResolveError)) throw e;
    out.err(
      flavor === 'busybox'
        ? `nc: bad address '${host}'\n`
        : `nc: getaddrinfo for host "${host}" port ${port}: ${e.kind === 'temporary' ? 'Try again' : 'Name does not resolve'}\n`,
    );
    return out.exit(1);
  }
  const succeeded = (): void => {
    if (!verbose) return;
    out.err(flavor === 'busybox' ? `${host} (${ip}:${port}) open\n` : `Connection to ${host} ${port} port [${proto}/${SERVICES[port] ?? '*'}] succeeded!\n`);
  };
  const failed = (reason: string, timedOut = false): ExecResult => {
    if (verbose) {
      out.err(
        flavor === 'busybox'
          ? `nc: ${host} (${ip}:${port}): ${reason}\n`
          : timedOut
            ? `nc: connect to ${host} port ${port} (${proto}) timed out: Operation now in progress\n`
            : `nc: connect to ${host} port ${port} (${proto}) failed: ${reason}\n`,
      );
    }
    return out.exit(1);
  };

  if (udp) {
    const probe = has(parsed, 'z');
    const data = probe ? Buffer.from('X') : ctx.stdin;
    if (!probe && data.length === 0) {
      // Nothing to send: netcat waits for the network (or -w) and prints what arrives; nothing will.
      return out.exit(0);
    }
    try {
      const reply = await exchangeUdp(ctx.container, ip, Number(port), data, waitMs);
      succeeded();
      if (!probe) out.out(reply);
    } catch (e) {
      const f = e as DialFailure;
      if (f.kind === 'refused') return failed('Connection refused');
      if (f.kind === 'unreachable') return failed('Host is unreachable');
      // No answer: for UDP that is not a failure, the datagram went out.
      succeeded();
    }
    return out.exit(0);
  }

  let socket: Socket;
  try {
    socket = await dialTcp(ctx.container, ip, Number(port), waitMs);
  } catch (e) {
    const f = e as DialFailure;
    if (f.kind === 'timeout') return failed('Connection timed out', true);
    if (f.kind === 'refused') return failed('Connection refused');
    return failed(f.detail.includes('network') ? 'Network is unreachable' : 'No route to host');
  }
  succeeded();
  if (has(parsed, 'z')) {
    socket.destroy();
    return out.exit(0);
  }
  out.out(await converse(socket, ctx.stdin, waitMs, has(parsed, 'N')));
  return out.exit(0);
}

/** Sends `input`, then collects what arrives until the peer closes or `idleMs` of quiet after the input is sent. */
function converse(socket: Socket, input: Buffer, idleMs: number | undefined, shutdownOnEof: boolean): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    const arm = (): void => {
      if (idleMs === undefined) return;
      clearTimeout(timer);
      timer = setTimeout(done, idleMs);
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      arm();
    });
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', done);
    if (input.length > 0) socket.write(input);
    if (shutdownOnEof) socket.end();
    arm();
  });
}

const BUSYBOX_USAGE =
  'BusyBox v1.36.1 multi-call binary.\n\nUsage: nc [OPTIONS] HOST PORT  - connect\nnc [OPTIONS] -l -p PORT [HOST] [PORT]  - listen\n';

const OPENBSD_USAGE =
  'usage: nc [-46CDdFhklNnrStUuvZz] [-I length] [-i interval] [-M ttl]\n\t  [-m minttl] [-O length] [-P proxy_username] [-p source_port]\n\t  [-q seconds] [-s sourceaddr] [-T keyword] [-V rtable] [-W recvlimit]\n\t  [-w timeout] [-X proxy_protocol] [-x proxy_address[:port]]\n\t  [destination] [port]\n';
