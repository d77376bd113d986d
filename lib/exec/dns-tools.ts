/**
 * The DNS lookup tools of pod images, sending real queries (dns2's wire format) from the pod
 * through the data plane to the nameservers of its /etc/resolv.conf (or `@server`):
 *
 * - `dig` (BIND 9.18, from Alpine's bind-tools in netshoot and agnhost): `dig [@server] [-p port]
 *   [-t type] [-x addr] [-q name] [name] [type] [+short] [+search|+nosearch] [+time=N] [+tries=N]
 *   [+retry=N] [+[no]cmd|comments|question|answer|authority|additional|stats|all|rec]`. The
 *   output has dig's sections (`;; ->>HEADER<<-`, `;; QUESTION SECTION:`, `;; ANSWER SECTION:`,
 *   records in dig's tab columns, `;; SERVER: ip#53(ip) (UDP)`). dig does not apply the search
 *   list unless `+search` (then with `ndots`, as the resolver does). When no server answers it
 *   prints `;; communications error to IP#53: timed out` per try and `;; no servers could be
 *   reached`, and exits 9; defaults are `+time=5 +tries=3`. Any answer (NXDOMAIN included) exits 0.
 * - `nslookup`, busybox's (networking/nslookup.c, 1.36: `Server:`/`Address: ip:53`, A and AAAA
 *   queried unless `-type=`, `** server can't find NAME: NXDOMAIN` per failed query) or BIND's
 *   (netshoot, agnhost: `Address: ip#53`, A only unless `-type=`). Both apply the search list
 *   (busybox with musl's order, BIND with its own, glibc-like one) and exit 1 when the name is
 *   not found or no server answers (`;; connection timed out; no servers could be reached`).
 */

import { isIP } from 'node:net';
import { Packet } from 'dns2';
import type { Resource as DnsResource } from 'dns2';
import { candidateNames, parseResolvConf, queryServers, QueryFailure, RR_TYPES, typeName, type DnsResponse, type TryLog } from './resolver.js';
import { Output, type ExecContext, type ExecResult } from './types.js';

/** The BIND version dig and nslookup report. */
export const BIND_VERSION = '9.18.33';

/** The reverse-lookup name of an address (in-addr.arpa / ip6.arpa nibbles). */
export function reverseName(address: string): string | undefined {
  if (isIP(address) === 4) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  if (isIP(address) === 6) {
    const [head, tail = ''] = address.split('::');
    const groups = (s: string): string[] => (s ? s.split(':') : []);
    const h = groups(head ?? '');
    const t = groups(tail);
    const full = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
    return `${full.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.')}.ip6.arpa`;
  }
  return undefined;
}

/** A record's data in presentation format, as dig prints it. */
export function rdataText(r: DnsResource): string {
  const fqdn = (n: string | undefined): string => `${n ?? ''}.`.replace(/\.\.$/, '.');
  switch (r.type) {
    case Packet.TYPE.A:
    case Packet.TYPE.AAAA:
      return r.address ?? '';
    case Packet.TYPE.CNAME:
    case Packet.TYPE.PTR:
      return fqdn(r.domain);
    case Packet.TYPE.NS:
      return fqdn(r.ns ?? r.domain);
    case Packet.TYPE.MX:
      return `${r.priority ?? 0} ${fqdn(r.exchange)}`;
    case Packet.TYPE.SRV:
      return `${r.priority ?? 0} ${r.weight ?? 0} ${r.port ?? 0} ${fqdn(r.target)}`;
    case Packet.TYPE.TXT: {
      const data = Array.isArray(r.data) ? r.data : [String(r.data ?? '')];
      return data.map((d: string) => `"${d}"`).join(' ');
    }
    case Packet.TYPE.SOA:
      return `${fqdn(r.primary)} ${fqdn(r.admin)} ${r.serial ?? 0} ${r.refresh ?? 0} ${r.retry ?? 0} ${r.expiration ?? 0} ${r.minimum ?? 0}`;
    default:
      return Buffer.isBuffer(r.data) ? `\\# ${r.data.length} ${r.data.toString('hex')}` : '';
  }
}

/** Pads with tabs to BIND's output columns (owner 24, TTL 32, class 40, type 48), a space when past them. */
function columns(fields: string[], stops: readonly number[] = [24, 32, 40, 48]): string {
  let line = '';
  let col = 0;
  fields.forEach((f, i) => {
    line += f;
    col += f.length;
    if (i === fields.length - 1) return;
    const stop = stops[i]!;
    if (col >= stop) {
      line += ' ';
      col++;
      return;
    }
    while (col < stop) {
      line += '\t';
      col = (Math.floor(col / 8) + 1) * 8;
    }
  });
  return line;
}

const CLASS_NAMES: Record<number, string> = { 1: 'IN', 3: 'CH', 4: 'HS', 255: 'ANY' };
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

function recordLine(r: DnsResource): string {
  return columns([`${r.name}.`.replace(/\.\.$/, '.'), String(r.ttl), CLASS_NAMES[r.class] ?? `CLASS${r.class}`, typeName(r.type), rdataText(r)]);
}

/** dig's display switches. */
interface DigDisplay {
  cmd: boolean;
  comments: boolean;
  question: boolean;
  answer: boolean;
  authority: boolean;
  additional: boolean;
  stats: boolean;
  short: boolean;
}

/** Runs `dig ARGS` in the pod. */
export async function dig(ctx: ExecContext, args: readonly string[]): Promise<ExecResult> {
  const out = new Output();
  const conf = parseResolvConf(ctx.resolvConf);
  const display: DigDisplay = { cmd: true, comments: true, question: true, answer: true, authority: true, additional: true, stats: true, short: false };
  let server: string | undefined;
  let port = 53;
  let name: string | undefined;
  let type: number | undefined;
  let search = false;
  let recursion = true;
  let timeSec = 5;
  let tries = 3;
  const usage = (message: string): ExecResult => {
    out.err(`${message}\n`);
    return out.exit(1);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = (): string | undefined => args[++i];
    if (a.startsWith('@')) server = a.slice(1);
    else if (a.startsWith('+')) {
      const m = /^\+(no)?([a-z]+)(?:=(.*))?$/.exec(a);
      if (!m) return usage(`Invalid option: ${a}`);
      const on = !m[1];
      const opt = m[2]!;
      const value = m[3];
      const known = Object.keys(display).find((k) => k.startsWith(opt) && opt.length >= 2);
      if (opt === 'all') {
        for (const k of ['cmd', 'comments', 'question', 'answer', 'authority', 'additional', 'stats'] as const) display[k] = on;
      } else if (opt === 'search' || opt === 'sea') search = on;
      else if (opt === 'time' || opt === 'timeout') {
        if (!value || !/^\d+$/.test(value)) return usage(`Invalid option: ${a}`);
        timeSec = Math.max(1, Number(value));
      } else if (opt === 'tries' || opt === 'retry') {
        if (!value || !/^\d+$/.test(value)) return usage(`Invalid option: ${a}`);
        tries = Math.max(1, Number(value) + (opt === 'retry' ? 1 : 0));
      } else if (opt === 'recurse' || opt === 'rec') recursion = on;
      else if (opt === 'tcp' || opt === 'vc') {
        if (on) return usage(`podnet: dig +${opt}: DNS over TCP is not emulated in exec`);
      } else if (known) display[known as keyof DigDisplay] = on;
      else if (!['edns', 'cookie', 'identify', 'ttlid', 'class', 'multiline', 'nssearch', 'trace', 'besteffort', 'defname', 'showsearch', 'ignore', 'fail', 'qr', 'nsid', 'adflag', 'cdflag', 'dnssec'].includes(opt)) {
        return usage(`Invalid option: ${a}`);
      }
    } else if (a === '-t') {
      const t = next();
      if (!t || !(t.toUpperCase() in RR_TYPES)) return usage(`;; Warning, ignoring invalid type ${t ?? ''}`);
      type = RR_TYPES[t.toUpperCase()];
    } else if (a.startsWith('-t') && a.length > 2) {
      const t = a.slice(2).toUpperCase();
      if (!(t in RR_TYPES)) return usage(`;; Warning, ignoring invalid type ${a.slice(2)}`);
      type = RR_TYPES[t];
    } else if (a === '-p' || (a.startsWith('-p') && a.length > 2)) {
      const p = a === '-p' ? next() : a.slice(2);
      if (!p || !/^\d+$/.test(p) || Number(p) > 65535) return usage(`port number out of range: ${p ?? ''}`);
      port = Number(p);
    } else if (a === '-x') {
      const addr = next();
      const rev = addr ? reverseName(addr) : undefined;
      if (!rev) return usage(`Invalid IP address ${addr ?? ''}`);
      name = rev;
      type ??= Packet.TYPE.PTR;
    } else if (a === '-q') {
      name = next();
    } else if (a === '-c') {
      next();
    } else if (a === '-4' || a === '-6') {
      // address family of the transport: loopback carries both.
    } else if (a.startsWith('-')) {
      return usage(`Invalid option: ${a}\nUsage:  dig [@global-server] [domain] [q-type] [q-class] {q-opt}`);
    } else if (name !== undefined && type === undefined && a.toUpperCase() in RR_TYPES) {
      type = RR_TYPES[a.toUpperCase()];
    } else if (a.toUpperCase() === 'IN') {
      // the only class
    } else if (name === undefined) name = a;
    else if (a.toUpperCase() in RR_TYPES) type = RR_TYPES[a.toUpperCase()];
    else name = a;
  }
  // Without a name dig asks for the root's NS records.
  const qname = name ?? '.';
  const qtype = type ?? (name === undefined ? Packet.TYPE.NS : Packet.TYPE.A);
  const servers = server !== undefined ? [server] : conf.nameservers;
  for (const s of servers) if (!isIP(s)) return usage(`couldn't get address for '${s}': not found`);

  const header = `\n; <<>> DiG ${BIND_VERSION} <<>> ${args.join(' ')}\n;; global options: +cmd\n`;
  const names = search && !qname.endsWith('.') ? candidateNames(qname, conf, 'glibc') : [qname.replace(/\.$/, '') || '.'];
  const log: TryLog = [];
  let response: DnsResponse | undefined;
  let lastFailure: QueryFailure | undefined;
  for (const n of names) {
    try {
      const before = log.length;
      response = await queryServers(ctx.container, servers.map((address) => ({ address, port })), n === '.' ? '' : n, qtype, { timeoutMs: timeSec * 1000, attempts: tries, recursion, ednsUdpSize: 1232 }, log);
      for (const f of log.slice(before)) out.out(`;; communications error to ${f.server}#${f.port}: ${f.message}\n`);
      // +search goes on past NXDOMAIN (and NODATA) to the next candidate.
      const rcode = response.packet.header.rcode;
      if (n === names[names.length - 1] || (rcode !== Packet.RCODE.NXDOMAIN && response.packet.answers.length > 0)) break;
    } catch (e) {
      if (!(e instanceof QueryFailure)) throw e;
      lastFailure = e;
      for (const f of log) out.out(`;; communications error to ${f.server}#${f.port}: ${f.message}\n`);
      response = undefined;
      break;
    }
  }
  if (!response) {
    if (!display.short && display.cmd) out.out(header);
    out.out(';; no servers could be reached\n');
    if (!display.short) out.out('\n');
    void lastFailure;
    return out.exit(9);
  }
  const p = response.packet;
  if (display.short) {
    for (const r of p.answers) out.out(`${rdataText(r)}\n`);
    return out.exit(0);
  }
  if (display.cmd) out.out(header);
  const h = p.header;
  if (display.comments) {
    const flags = (['qr', 'aa', 'tc', 'rd', 'ra'] as const).filter((f) => h[f]);
    const opt = p.additionals.filter((r) => r.type === Packet.TYPE.EDNS);
    out.out(`;; Got answer:\n;; ->>HEADER<<- opcode: QUERY, status: ${RCODE_NAMES[h.rcode] ?? `RESERVED${h.rcode}`}, id: ${h.id}\n`);
    out.out(`;; flags: ${flags.join(' ')}; QUERY: ${p.questions.length}, ANSWER: ${p.answers.length}, AUTHORITY: ${p.authorities.length}, ADDITIONAL: ${p.additionals.length}\n`);
    if (h.rd && !h.ra) out.out(';; WARNING: recursion requested but not available\n');
    out.out('\n');
    if (opt.length) out.out(`;; OPT PSEUDOSECTION:\n; EDNS: version: 0, flags:; udp: ${opt[0]!.class}\n`);
  }
  if (display.question) {
    if (display.comments) out.out(';; QUESTION SECTION:\n');
    for (const q of p.questions) out.out(`${columns([`;${q.name}.`.replace(/\.\.$/, '.'), CLASS_NAMES[q.class] ?? 'IN', typeName(q.type)], [32, 40])}\n`);
    out.out('\n');
  }
  const section = (title: string, records: DnsResource[], on: boolean): void => {
    const shown = records.filter((r) => r.type !== Packet.TYPE.EDNS);
    if (!on || shown.length === 0) return;
    if (display.comments) out.out(`;; ${title} SECTION:\n`);
    for (const r of shown) out.out(`${recordLine(r)}\n`);
    out.out('\n');
  };
  section('ANSWER', p.answers, display.answer);
  section('AUTHORITY', p.authorities, display.authority);
  section('ADDITIONAL', p.additionals, display.additional);
  if (display.stats) {
    out.out(`;; Query time: ${response.elapsedMs} msec\n`);
    out.out(`;; SERVER: ${response.server}#${response.port}(${response.server}) (UDP)\n`);
    out.out(`;; WHEN: ${digDate(new Date())}\n`);
    out.out(`;; MSG SIZE  rcvd: ${response.size}\n\n`);
  }
  return out.exit(0);
}

/** dig's `WHEN:` date, `Thu Jan 01 00:00:00 UTC 2026`. */
function digDate(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${p2(d.getUTCDate())} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
}

/** Which nslookup. */
export type NslookupFlavor = 'busybox' | 'bind';

/** Runs `nslookup ARGS` of the given flavour in the pod. */
export async function nslookup(ctx: ExecContext, args: readonly string[], flavor: NslookupFlavor): Promise<ExecResult> {
  const out = new Output();
  const conf = parseResolvConf(ctx.resolvConf);
  let types: number[] | undefined;
  let port = 53;
  let timeoutSec = flavor === 'bind' ? 2 : 5;
  const operands: string[] = [];
  for (const a of args) {
    const m = /^-(type|query|q|t|port|timeout|retry|debug|nodebug|d2)(?:=(.*))?$/i.exec(a);
    if (m) {
      const key = m[1]!.toLowerCase();
      const value = m[2] ?? '';
      if (['type', 'query', 'q', 't'].includes(key)) {
        const t = RR_TYPES[value.toUpperCase()];
        if (t === undefined) {
          out.err(flavor === 'busybox' ? `nslookup: invalid query type "${value}"\n` : `unknown query type: ${value}\n`);
          return out.exit(1);
        }
        types = [t];
      } else if (key === 'port' && /^\d+$/.test(value)) port = Number(value);
      else if (key === 'timeout' && /^\d+$/.test(value)) timeoutSec = Math.max(1, Number(value));
      continue;
    }
    if (a.startsWith('-') && a !== '-') {
      out.err(flavor === 'busybox' ? `nslookup: unrecognized option '${a}'\n${NSLOOKUP_USAGE}` : `*** Invalid option: ${a.slice(1)}\n`);
      return out.exit(1);
    }
    operands.push(a);
  }
  const [host, serverArg] = operands;
  if (host === undefined || operands.length > 2) {
    out.err(flavor === 'busybox' ? NSLOOKUP_USAGE : 'Usage: nslookup [-opt ...] host server\n');
    return out.exit(1);
  }
  const server = serverArg ?? conf.nameservers[0]!;
  if (!isIP(server)) {
    out.out(`;; Couldn't resolve server ${server}: not found\n`);
    return out.exit(1);
  }
  const servers = (serverArg ? [serverArg] : conf.nameservers).map((address) => ({ address, port }));
  const reverse = reverseName(host);
  const queryTypes = reverse ? [Packet.TYPE.PTR] : (types ?? (flavor === 'busybox' ? [Packet.TYPE.A, Packet.TYPE.AAAA] : [Packet.TYPE.A]));
  const names = reverse ? [reverse] : candidateNames(host, conf, flavor === 'busybox' ? 'musl' : 'glibc');
  out.out(flavor === 'busybox' ? `Server:\t\t${server}\nAddress:\t${server}:${port}\n\n` : `Server:\t\t${server}\nAddress:\t${server}#${port}\n\n`);
  let found = false;
  let nonAuthoritativePrinted = false;
  for (const qtype of queryTypes) {
    let answered: DnsResponse | undefined;
    let nxdomain = false;
    let nodata = false;
    for (const n of names) {
      let response: DnsResponse;
      try {
        response = await queryServers(ctx.container, servers, n, qtype, { timeoutMs: timeoutSec * 1000, attempts: flavor === 'bind' ? 3 : conf.attempts });
      } catch (e) {
        if (!(e instanceof QueryFailure)) throw e;
        out.out(';; connection timed out; no servers could be reached\n\n');
        return out.exit(1);
      }
      const rcode = response.packet.header.rcode;
      if (rcode === Packet.RCODE.NOERROR && response.packet.answers.length > 0) {
        answered = response;
        break;
      }
      if (rcode === Packet.RCODE.NOERROR) {
        // The name exists without records of this type (NODATA): the search ends here; busybox
        // prints nothing for it, BIND says so.
        if (flavor === 'bind') out.out(`*** Can't find ${n}: No answer\n\n`);
        nodata = true;
        break;
      }
      if (rcode === Packet.RCODE.NXDOMAIN) nxdomain = true;
      else if (rcode !== Packet.RCODE.NOERROR) {
        out.out(`** server can't find ${host}: ${RCODE_NAMES[rcode] ?? rcode}\n\n`);
        return out.exit(1);
      }
    }
    if (!answered) {
      if (nodata) continue;
      if (nxdomain || flavor === 'bind') out.out(`** server can't find ${host}: ${nxdomain ? 'NXDOMAIN' : 'NODATA'}\n\n`);
      continue;
    }
    found = true;
    const p = answered.packet;
    if (flavor === 'bind' && !p.header.aa && !nonAuthoritativePrinted) {
      out.out('Non-authoritative answer:\n');
      nonAuthoritativePrinted = true;
    }
    for (const r of p.answers) {
      if (r.type === Packet.TYPE.A || r.type === Packet.TYPE.AAAA) out.out(`Name:\t${r.name}\nAddress: ${r.address}\n`);
      else if (r.type === Packet.TYPE.CNAME) out.out(`${r.name}\tcanonical name = ${rdataText(r)}\n`);
      else if (r.type === Packet.TYPE.PTR) out.out(`${r.name}\tname = ${rdataText(r)}\n`);
      else if (r.type === Packet.TYPE.SRV) out.out(`${r.name}\tservice = ${rdataText(r)}\n`);
      else if (r.type === Packet.TYPE.MX) out.out(`${r.name}\tmail exchanger = ${rdataText(r)}\n`);
      else if (r.type === Packet.TYPE.TXT) out.out(`${r.name}\ttext = ${rdataText(r)}\n`);
      else out.out(`${r.name}\t${typeName(r.type).toLowerCase()} = ${rdataText(r)}\n`);
    }
    out.out('\n');
  }
  return out.exit(found ? 0 : 1);
}

const NSLOOKUP_USAGE = 'BusyBox v1.36.1 multi-call binary.\n\nUsage: nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]\n\nQuery DNS about HOST\n';
