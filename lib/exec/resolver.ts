/**
 * The stub resolver inside a pod: /etc/resolv.conf (resolv.conf(5): `nameserver`, `search`,
 * `domain`, `options ndots:n timeout:n attempts:n`), the order in which a name is tried against
 * the search list, and DNS queries sent as real datagrams (wire format by `dns2`) from the pod
 * through the data plane (`ContainerContext.exchangeUdp`) to the nameserver.
 *
 * The order of candidate names follows the libc the image is built on:
 * - glibc (`resolv/res_query.c`, `__res_context_search`): a name with at least `ndots` dots is
 *   tried as given first, then with each search domain; one with fewer dots gets the search
 *   domains first and the name as given last. A trailing dot means: as given, only. Searching
 *   stops on an answer, or on an error other than NXDOMAIN/NODATA (a timeout ends it).
 * - musl (`src/network/lookup_name.c`, `name_from_dns_search`): search domains only when the name
 *   has fewer than `ndots` dots (and no trailing dot), then the name as given; never the search
 *   list after the name. A timeout or SERVFAIL ends the search.
 * - Go's pure resolver (`net/dnsconfig_unix.go` `nameList`): glibc's order; temporary errors
 *   do not end the search (non-strict mode).
 *
 * Timeouts and retries: every candidate is asked of each nameserver in turn, `attempts` rounds of
 * `timeout` seconds (defaults 5 and 2, as both libcs set them; ndots defaults to 1, capped at 15).
 * A dropped datagram fails after the data plane's drop timeout, which tests shorten.
 */

import { isIP } from 'node:net';
import { Packet } from 'dns2';
import type { Question as DnsQuestion } from 'dns2';
import type { ContainerContext } from '../images/types.js';
import { lookupHosts } from './hosts.js';
import type { ExecContext, ResolverFlavor } from './types.js';

/** The parsed /etc/resolv.conf. */
export interface ResolvConf {
  nameservers: string[];
  search: string[];
  ndots: number;
  /** Seconds per try. */
  timeout: number;
  attempts: number;
}

/** Parses resolv.conf as glibc's res_init does (at most 3 nameservers; the last `search`/`domain` wins). */
export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], search: [], ndots: 1, timeout: 5, attempts: 2 };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*/, '').trim();
    const [keyword, ...rest] = line.split(/\s+/);
    switch (keyword) {
      case 'nameserver':
        if (rest[0] && isIP(rest[0]) && conf.nameservers.length < 3) conf.nameservers.push(rest[0]);
        break;
      case 'search':
        conf.search = rest.filter((s) => s !== '');
        break;
      case 'domain':
        if (rest[0]) conf.search = [rest[0]];
        break;
      case 'options':
        for (const opt of rest) {
          const [name, value] = opt.split(':');
          const n = Number(value);
          if (!Number.isInteger(n) || n < 0) continue;
          if (name === 'ndots') conf.ndots = Math.min(n, 15);
          else if (name === 'timeout') conf.timeout = Math.max(1, Math.min(n, 30));
          else if (name === 'attempts') conf.attempts = Math.max(1, Math.min(n, 5));
        }
        break;
    }
  }
  // No nameserver line: the resolver asks the local host (glibc and musl both default to 127.0.0.1).
  if (conf.nameservers.length === 0) conf.nameservers.push('127.0.0.1');
  return conf;
}

/** The fully-qualified names a resolver of `flavor` tries for `name`, in order. */
export function candidateNames(name: string, conf: Pick<ResolvConf, 'search' | 'ndots'>, flavor: ResolverFlavor): string[] {
  if (name.endsWith('.')) return [name.slice(0, -1)];
  const dots = name.split('.').length - 1;
  const searched = conf.search.map((d) => `${name}.${d.replace(/\.$/, '')}`);
  if (flavor === 'musl') return dots >= conf.ndots ? [name] : [...searched, name];
  return dots >= conf.ndots ? [name, ...searched] : [...searched, name];
}

/** Record types by name, as dig and nslookup spell them. */
export const RR_TYPES: Record<string, number> = {
  A: Packet.TYPE.A,
  NS: Packet.TYPE.NS,
  CNAME: Packet.TYPE.CNAME,
  SOA: Packet.TYPE.SOA,
  PTR: Packet.TYPE.PTR,
  MX: Packet.TYPE.MX,
  TXT: Packet.TYPE.TXT,
  AAAA: Packet.TYPE.AAAA,
  SRV: Packet.TYPE.SRV,
  ANY: Packet.TYPE.ANY,
};

/** The name of a record type (`A`, `SRV`, or `TYPE65`). */
export function typeName(type: number): string {
  return Object.entries(RR_TYPES).find(([, v]) => v === type)?.[0] ?? `TYPE${type}`;
}

/** Why a query got no answer from a server. */
export type QueryFailureKind = 'timeout' | 'refused' | 'unreachable';

/** A query that got no answer. */
export class QueryFailure extends Error {
  readonly kind: QueryFailureKind;
  readonly server: string;
  readonly port: number;
  constructor(kind: QueryFailureKind, server: string, port: number) {
    super(kind === 'timeout' ? 'timed out' : kind === 'refused' ? 'connection refused' : 'host unreachable');
    this.kind = kind;
    this.server = server;
    this.port = port;
  }
}

/** An answer from a server. */
export interface DnsResponse {
  packet: Packet;
  server: string;
  port: number;
  /** Size of the answer in bytes. */
  size: number;
  elapsedMs: number;
}

/** Options of {@link query}. */
export interface QueryOptions {
  timeoutMs: number;
  /** Recursion desired (dig +rec, the default). */
  recursion?: boolean;
  /** Add an EDNS OPT record advertising this UDP size (dig sends 1232). */
  ednsUdpSize?: number;
}

/** The wire bytes of a query. */
export function encodeQuery(name: string, type: number, options: { id: number; recursion?: boolean; ednsUdpSize?: number }): Buffer {
  const packet = new Packet();
  packet.header.id = options.id;
  packet.header.rd = options.recursion === false ? 0 : 1;
  packet.questions.push({ name, type, class: Packet.CLASS.IN } as DnsQuestion);
  if (options.ednsUdpSize) packet.additionals.push(Packet.Resource.EDNS([], { udpPayloadSize: options.ednsUdpSize }));
  return packet.toBuffer();
}

/** Sends one query to one server from the pod and waits for the answer. */
export async function query(ctx: ContainerContext, server: string, port: number, name: string, type: number, options: QueryOptions): Promise<DnsResponse> {
  const id = Math.floor(Math.random() * 0x10000);
  const started = Date.now();
  let reply: Buffer;
  try {
    reply = await withTimeout(ctx.exchangeUdp(server, port, encodeQuery(name, type, { id, ...options }), { timeoutMs: options.timeoutMs }), options.timeoutMs);
  } catch (e) {
    const code = (e as { code?: string; errno?: string; message?: string }).errno ?? (e as { code?: string }).code ?? '';
    const message = (e as Error).message ?? '';
    if (code === 'ECONNREFUSED' || /^ECONNREFUSED/.test(message)) throw new QueryFailure('refused', server, port);
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || /^EHOSTUNREACH/.test(message)) throw new QueryFailure('unreachable', server, port);
    throw new QueryFailure('timeout', server, port);
  }
  const packet = Packet.parse(reply);
  if (packet.header.id !== id) throw new QueryFailure('timeout', server, port);
  return { packet, server, port, size: reply.length, elapsedMs: Date.now() - started };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Every failed try, in order (for dig's `;; communications error` lines). */
export type TryLog = QueryFailure[];

/**
 * Asks the nameservers in turn (`attempts` rounds) until one answers; rejects with the last
 * failure when none does. Failed tries are appended to `log`.
 */
export async function queryServers(
  ctx: ContainerContext,
  servers: readonly { address: string; port: number }[],
  name: string,
  type: number,
  options: QueryOptions & { attempts: number; deadline?: number },
  log: TryLog = [],
): Promise<DnsResponse> {
  let lastFailure: QueryFailure | undefined;
  for (let round = 0; round < options.attempts; round++) {
    for (const s of servers) {
      const left = options.deadline === undefined ? options.timeoutMs : Math.min(options.timeoutMs, options.deadline - Date.now());
      if (left <= 0) throw lastFailure ?? new QueryFailure('timeout', s.address, s.port);
      try {
        return await query(ctx, s.address, s.port, name, type, { ...options, timeoutMs: left });
      } catch (e) {
        if (!(e instanceof QueryFailure)) throw e;
        lastFailure = e;
        log.push(e);
      }
    }
  }
  throw lastFailure ?? new QueryFailure('timeout', servers[0]?.address ?? '', servers[0]?.port ?? 53);
}

/** Why a host name did not resolve, as getaddrinfo reports it. */
export class ResolveError extends Error {
  /** `notfound`: EAI_NONAME (NXDOMAIN or no address); `temporary`: EAI_AGAIN (no server answered, SERVFAIL). */
  readonly kind: 'notfound' | 'temporary';
  readonly host: string;
  constructor(kind: ResolveError['kind'], host: string) {
    super(kind === 'notfound' ? `${host}: Name does not resolve` : `${host}: Try again`);
    this.kind = kind;
    this.host = host;
  }
}

/**
 * getaddrinfo for one host as the image's libc does it: an address literal as is, then
 * /etc/hosts, then DNS A (then AAAA) queries over the search list. Resolves with the first
 * address; rejects with {@link ResolveError}.
 */
export async function resolveHost(ctx: ExecContext, host: string, options: { deadline?: number } = {}): Promise<string> {
  const literal = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(literal)) return literal;
  const fromHosts = lookupHosts(ctx.hosts, host);
  const v4 = fromHosts.find((a) => isIP(a) === 4);
  if (v4 ?? fromHosts[0]) return (v4 ?? fromHosts[0])!;
  if (host === '' || host.length > 253) throw new ResolveError('notfound', host);
  const conf = parseResolvConf(ctx.resolvConf);
  const servers = conf.nameservers.map((address) => ({ address, port: 53 }));
  const flavor = ctx.toolbox.resolver;
  let temporary = false;
  for (const candidate of candidateNames(host, conf, flavor)) {
    let stop = false;
    for (const type of [Packet.TYPE.A, Packet.TYPE.AAAA]) {
      let response: DnsResponse;
      try {
        response = await queryServers(ctx.container, servers, candidate, type, {
          timeoutMs: conf.timeout * 1000,
          attempts: conf.attempts,
          ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
        });
      } catch (e) {
        if (!(e instanceof QueryFailure)) throw e;
        temporary = true;
        stop = flavor !== 'go';
        break;
      }
      const rcode = response.packet.header.rcode;
      if (rcode === Packet.RCODE.NXDOMAIN) break;
      if (rcode !== Packet.RCODE.NOERROR) {
        temporary = true;
        stop = flavor !== 'go';
        break;
      }
      const address = response.packet.answers.find((a) => a.type === type && a.address)?.address;
      if (address) return address;
    }
    if (stop) break;
  }
  throw new ResolveError(temporary ? 'temporary' : 'notfound', host);
}
