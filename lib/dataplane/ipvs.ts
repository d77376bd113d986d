/**
 * A node's IP Virtual Server table, as the kernel's IPVS (net/netfilter/ipvs/) holds it and
 * `ipvsadm -Ln` prints it: virtual servers (TCP/UDP/SCTP address:port, a scheduler, an optional
 * persistence timeout), each with real servers (address:port, weight, forwarding method Masq —
 * the only one kube-proxy uses) and their active/inactive connection counts. kube-proxy's ipvs
 * mode (lib/kubeproxy/ipvs.ts) programs it; the flow pipeline consults it at two hooks, as
 * ip_vs_core.c registers them:
 *   LOCAL_IN  (INPUT)  at NF_IP_PRI_NAT_SRC - 1 (99): ip_vs_remote_request4 — after the filter
 *             table, for packets routed to a local address (Service VIPs live on the dummy
 *             kube-ipvs0, so routing says local);
 *   LOCAL_OUT (OUTPUT) at NF_IP_PRI_NAT_DST + 2 (-98): ip_vs_local_request4 — for flows the node
 *             itself starts.
 * A packet to a virtual server gets a real server from the scheduler and is DNATed to it
 * (ip_vs_nat_xmit), and IPVS takes the packet (NF_STOLEN): the rest of the hook does not see it,
 * and the pipeline sends it on from this node (route lookup, POSTROUTING, where kube-proxy's
 * masquerade applies — kube-proxy sets net.ipv4.vs.conntrack=1). The kernel re-sends it through
 * LOCAL_OUT first; podnet skips that walk (its nat rules would not run again anyway, the
 * connection's DNAT being set; only filter OUTPUT rules would). With no real server
 * available the kernel answers ICMP port unreachable whatever the protocol (ip_vs_leave: "the TCP
 * RST packet cannot be sent, instead that ICMP_PORT_UNREACH is sent"), which a TCP client reports
 * as ECONNREFUSED: the flow is rejected at once.
 *
 * Schedulers, as the kernel's ip_vs_<name>.c define them. The destination list keeps the kernel's
 * order: a new real server goes to its head (list_add_rcu in __ip_vs_update_dest).
 *   rr   round robin from the last pick, skipping weight 0 (ip_vs_rr.c);
 *   wrr  weighted round robin over passes of decreasing weight steps of gcd(weights) (ip_vs_wrr.c);
 *   lc   least connections: overhead = activeconns * 256 + inactconns, first lowest (ip_vs_lc.c);
 *   wlc  least overhead / weight (ip_vs_wlc.c);
 *   sh   source hashing: 256 buckets filled from the destination list, each real server taking
 *        `weight` consecutive buckets (ip_vs_sh_reassign); the bucket is Linux's hash_32 of the
 *        client address — (addr * 0x61C88647) >> 24, the address as a host-order integer, an IPv6
 *        address folded by XOR of its four 32-bit words — with the port left out (kube-proxy does
 *        not set sh-port); a bucket whose server has weight 0 gives no server (no sh-fallback).
 *
 * Persistence (`persistent N`, kube-proxy's ClientIP affinity): the first connection from a client
 * address to a virtual server creates a template (ip_vs_sched_persist) that sends the client's
 * later connections to the same real server. A template lives N seconds after its last use and
 * never while connections it controls live; a template whose real server is gone or has weight 0
 * is dropped and the client scheduled afresh (ip_vs_check_template with
 * net.ipv4.vs.expire_quiescent_template=1, which kube-proxy sets).
 *
 * Connections: the pipeline decides each new flow once, so IPVS sees each connection's first
 * packet. A TCP or SCTP connection counts as active (ESTABLISHED) from then on, for the kernel's
 * 15-minute established timeout, or until {@link Ipvs.closeConnection} moves it to TIME_WAIT
 * (inactive, 2 minutes); a UDP connection is inactive for 5 minutes (ip_vs_proto_*.c default
 * timeouts). Time is the node clock's. Counters (`--stats`): Conns counts connections scheduled;
 * InPkts/OutPkts/InBytes/OutBytes stay 0 — the pipeline never sees later packets or their sizes
 * (the convention netfilter.ts follows for its counters).
 *
 * Looking up a virtual server by (protocol, address, port) is one Map lookup.
 */

import { PodnetError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import { formatIP, parseIP } from '../core/ipnet.js';
import { PRIORITY } from './hooks.js';
import type { FlowTuple } from './conntrack.js';
import type { NodeNetwork } from './node.js';
import type { FlowContext, HookHandler, HookVerdict } from './pipeline.js';

/** The IPVS version and connection table size `ipvsadm` reports (CONFIG_IP_VS_TAB_BITS=12). */
export const IPVS_VERSION = '1.2.1';
export const IPVS_CONN_TAB_SIZE = 4096;

/** The schedulers podnet models. */
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'sh'] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

export type IpvsProtocol = FlowTuple['protocol'];

/** Seconds a connection lives in each state (the kernel's default IPVS timeouts). */
export const IPVS_TIMEOUTS = {
  tcpEstablished: 15 * 60,
  tcpTimeWait: 2 * 60,
  udp: 5 * 60,
  sctpEstablished: 15 * 60,
} as const;

/** The hook priorities of ip_vs_core.c's ip_vs_ops4. */
export const IPVS_PRIORITY = {
  /** ip_vs_remote_request4 at LOCAL_IN: NF_IP_PRI_NAT_SRC - 1. */
  localIn: PRIORITY.snat - 1,
  /** ip_vs_local_request4 at LOCAL_OUT: NF_IP_PRI_NAT_DST + 2. */
  localOut: PRIORITY.dnat + 2,
} as const;

/** A virtual server's definition (`ipvsadm -A -t|-u|--sctp-service ADDR:PORT -s SCHED [-p N]`). */
export interface VirtualServerSpec {
  protocol: IpvsProtocol;
  address: string;
  port: number;
  scheduler: Scheduler;
  /** Persistence timeout in seconds; undefined: not persistent. */
  persistent?: number;
}

/** A real server's definition (`ipvsadm -a ... -r ADDR:PORT -m -w WEIGHT`). */
export interface RealServerSpec {
  address: string;
  port: number;
  weight: number;
}

/** `ipvsadm --stats` counters. */
export interface IpvsStats {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}

/** A real server of a virtual server. */
export class RealServer {
  readonly address: string;
  readonly port: number;
  /** Forwarding method; kube-proxy's real servers are all NAT ("Masq"). */
  readonly forward = 'Masq' as const;
  weight: number;
  /** Connections in ESTABLISHED. */
  activeConns = 0;
  /** Other connections (UDP, TIME_WAIT). */
  inactiveConns = 0;
  /** Persistence templates pointing here. */
  persistConns = 0;
  readonly stats: IpvsStats = zeroStats();

  constructor(spec: RealServerSpec) {
    this.address = spec.address;
    this.port = spec.port;
    this.weight = spec.weight;
  }

  /** `ip:port` (`[ip]:port` for IPv6), as ipvsadm -n prints it. */
  get name(): string {
    return hostPort(this.address, this.port);
  }
}

/** A virtual server. */
export class VirtualServer {
  readonly protocol: IpvsProtocol;
  readonly address: string;
  readonly port: number;
  scheduler: Scheduler;
  persistent: number | undefined;
  /** Real servers in the kernel's list order (newest first). */
  readonly dests: RealServer[] = [];
  readonly stats: IpvsStats = zeroStats();
  /** Scheduler state: rr's last pick; wrr's mark (cl, cw, mw, di); sh's buckets. */
  rrLast: RealServer | undefined;
  wrr = { cl: -1, cw: 0, mw: 0, di: 1 };
  shBuckets: (RealServer | undefined)[] = [];

  constructor(spec: VirtualServerSpec) {
    this.protocol = spec.protocol;
    this.address = spec.address;
    this.port = spec.port;
    this.scheduler = spec.scheduler;
    this.persistent = spec.persistent;
  }

  /** The lookup key: protocol, address, port. */
  get key(): string {
    return vsKey(this.protocol, this.address, this.port);
  }

  /** `10.96.0.10:53/udp`, as traces print it. */
  get name(): string {
    return `${hostPort(this.address, this.port)}/${this.protocol.toLowerCase()}`;
  }

  /** A real server by address and port. */
  dest(address: string, port: number): RealServer | undefined {
    return this.dests.find((d) => d.address === address && d.port === port);
  }
}

interface Template {
  key: string;
  vs: VirtualServer;
  dest: RealServer;
  expiresAt: number;
  /** Live connections it controls. */
  controlled: number;
}

interface Connection {
  key: string;
  vs: VirtualServer;
  dest: RealServer;
  active: boolean;
  expiresAt: number;
  template?: Template;
}

/** Options of {@link Ipvs}. */
export interface IpvsOptions {
  /** The clock connection and template timeouts run on (the node's). */
  clock?: Clock;
}

/** What scheduling a new connection gave. */
export interface IpvsScheduleResult {
  vs: VirtualServer;
  /** The real server, or undefined when none is available (the kernel answers ICMP port unreachable). */
  dest: RealServer | undefined;
  /** The real server came from a persistence template. */
  persistent: boolean;
}

/** A node's IPVS table. */
export class Ipvs {
  readonly #clock: Clock;
  readonly #services = new Map<string, VirtualServer>();
  readonly #conns = new Map<string, Connection>();
  readonly #templates = new Map<string, Template>();
  #nextExpiry = Infinity;

  constructor(options: IpvsOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  /** A virtual server by protocol, address and port. */
  service(protocol: IpvsProtocol, address: string, port: number): VirtualServer | undefined {
    return this.#services.get(vsKey(protocol, canonical(address), port));
  }

  /** Every virtual server, in the order ipvsadm lists them (see {@link render}). */
  services(): VirtualServer[] {
    this.#expire();
    return [...this.#services.values()].sort(compareServices);
  }

  /** `ipvsadm -A`: adds a virtual server. */
  addService(spec: VirtualServerSpec): VirtualServer {
    const s = checkService(spec);
    if (this.#services.has(s.key)) throw ipvsError(`Service already exists (${s.name})`);
    this.#services.set(s.key, s);
    return s;
  }

  /** `ipvsadm -E`: changes a virtual server's scheduler or persistence; its real servers and counters stay. */
  editService(spec: VirtualServerSpec): VirtualServer {
    const want = checkService(spec);
    const s = this.#services.get(want.key);
    if (!s) throw ipvsError(`No such service (${want.name})`);
    if (s.scheduler !== want.scheduler) {
      // The new scheduler starts from its init_service state.
      s.scheduler = want.scheduler;
      s.rrLast = undefined;
      s.wrr = { cl: -1, cw: 0, mw: 0, di: 1 };
      this.#schedulerChanged(s);
    }
    s.persistent = want.persistent;
    return s;
  }

  /** `ipvsadm -D`: deletes a virtual server, its real servers, connections and templates. */
  deleteService(protocol: IpvsProtocol, address: string, port: number): void {
    const s = this.service(protocol, address, port);
    if (!s) throw ipvsError(`No such service (${hostPort(address, port)}/${protocol.toLowerCase()})`);
    this.#services.delete(s.key);
    for (const [k, c] of this.#conns) if (c.vs === s) this.#conns.delete(k);
    for (const [k, t] of this.#templates) if (t.vs === s) this.#templates.delete(k);
  }

  /** `ipvsadm -C`: removes every virtual server. */
  flush(): void {
    this.#services.clear();
    this.#conns.clear();
    this.#templates.clear();
    this.#nextExpiry = Infinity;
  }

  /** `ipvsadm -a`: adds a real server (at the head of the list, as the kernel does). */
  addDest(vs: VirtualServer, spec: RealServerSpec): RealServer {
    const d = checkDest(spec);
    if (vs.dest(d.address, d.port)) throw ipvsError(`Destination already exists (${d.name} in ${vs.name})`);
    vs.dests.unshift(d);
    this.#schedulerChanged(vs);
    return d;
  }

  /** `ipvsadm -e`: changes a real server's weight. */
  editDest(vs: VirtualServer, spec: RealServerSpec): RealServer {
    const want = checkDest(spec);
    const d = vs.dest(want.address, want.port);
    if (!d) throw ipvsError(`No such destination (${want.name} in ${vs.name})`);
    d.weight = want.weight;
    this.#schedulerChanged(vs);
    return d;
  }

  /** `ipvsadm -d`: deletes a real server; its connections and templates go with it. */
  deleteDest(vs: VirtualServer, address: string, port: number): void {
    const i = vs.dests.findIndex((d) => d.address === canonical(address) && d.port === port);
    if (i < 0) throw ipvsError(`No such destination (${hostPort(address, port)} in ${vs.name})`);
    const [d] = vs.dests.splice(i, 1);
    // ip_vs_rr_del_dest: the round robin goes on from the previous entry.
    if (vs.rrLast === d) vs.rrLast = i > 0 ? vs.dests[i - 1] : undefined;
    for (const [k, c] of this.#conns) if (c.dest === d) this.#conns.delete(k);
    for (const [k, t] of this.#templates) if (t.dest === d) this.#templates.delete(k);
    this.#schedulerChanged(vs);
  }

  /**
   * Schedules a new connection to a virtual server (ip_vs_schedule / ip_vs_sched_persist), or
   * undefined when the tuple's destination is no virtual server.
   */
  schedule(tuple: FlowTuple): IpvsScheduleResult | undefined {
    const vs = this.service(tuple.protocol, tuple.dst, tuple.dport);
    if (!vs) return undefined;
    this.#expire();
    const now = this.#clock.now();
    let template: Template | undefined;
    let dest: RealServer | undefined;
    let persistent = false;
    if (vs.persistent !== undefined) {
      const tkey = `${vs.key}|${canonical(tuple.src)}`;
      template = this.#templates.get(tkey);
      if (template && !this.#templateValid(template)) {
        this.#dropTemplate(template);
        template = undefined;
      }
      if (template) {
        dest = template.dest;
        persistent = true;
      } else {
        dest = pick(vs, tuple);
        if (!dest) return { vs, dest: undefined, persistent: false };
        template = { key: tkey, vs, dest, expiresAt: 0, controlled: 0 };
        this.#templates.set(tkey, template);
        dest.persistConns++;
      }
      // ip_vs_conn_put: each use restarts the template's timer.
      template.expiresAt = now + vs.persistent * 1000;
      this.#nextExpiry = Math.min(this.#nextExpiry, template.expiresAt);
    } else {
      dest = pick(vs, tuple);
      if (!dest) return { vs, dest: undefined, persistent: false };
    }
    const key = connKey(tuple);
    const old = this.#conns.get(key);
    if (old) this.#dropConnection(old);
    const active = tuple.protocol !== 'UDP';
    const seconds = tuple.protocol === 'UDP' ? IPVS_TIMEOUTS.udp : tuple.protocol === 'SCTP' ? IPVS_TIMEOUTS.sctpEstablished : IPVS_TIMEOUTS.tcpEstablished;
    const conn: Connection = { key, vs, dest, active, expiresAt: now + seconds * 1000, ...(template ? { template } : {}) };
    this.#conns.set(key, conn);
    this.#nextExpiry = Math.min(this.#nextExpiry, conn.expiresAt);
    if (active) dest.activeConns++;
    else dest.inactiveConns++;
    if (template) template.controlled++;
    dest.stats.conns++;
    vs.stats.conns++;
    return { vs, dest, persistent };
  }

  /** A TCP connection closed: TIME_WAIT, inactive for 2 minutes (the socket layer reports closes). */
  closeConnection(tuple: FlowTuple): void {
    const c = this.#conns.get(connKey(tuple));
    if (!c || !c.active) return;
    c.active = false;
    c.dest.activeConns--;
    c.dest.inactiveConns++;
    c.expiresAt = this.#clock.now() + IPVS_TIMEOUTS.tcpTimeWait * 1000;
    this.#nextExpiry = Math.min(this.#nextExpiry, c.expiresAt);
  }

  /** Connections and templates live now (`ipvsadm -Lnc` would list them). */
  connections(): { client: string; vs: string; dest: string; state: 'ACTIVE' | 'INACTIVE' | 'TEMPLATE' }[] {
    this.#expire();
    return [
      ...[...this.#conns.values()].map((c) => ({ client: c.key, vs: c.vs.name, dest: c.dest.name, state: c.active ? ('ACTIVE' as const) : ('INACTIVE' as const) })),
      ...[...this.#templates.values()].map((t) => ({ client: t.key.split('|')[1]!, vs: t.vs.name, dest: t.dest.name, state: 'TEMPLATE' as const })),
    ];
  }

  /** Refreshes connection counts for the clock's time (expired connections and templates go). */
  expire(): void {
    this.#expire();
  }

  /** `ipvsadm -Ln`, or `ipvsadm -Ln --stats` with counters. */
  render(options: { stats?: boolean } = {}): string {
    const lines = [`IP Virtual Server version ${IPVS_VERSION} (size=${IPVS_CONN_TAB_SIZE})`];
    if (options.stats) {
      lines.push(`${'Prot LocalAddress:Port'.padEnd(33)} ${'Conns'.padStart(8)} ${'InPkts'.padStart(8)} ${'OutPkts'.padStart(8)} ${'InBytes'.padStart(8)} ${'OutBytes'.padStart(8)}`, '  -> RemoteAddress:Port');
    } else {
      lines.push('Prot LocalAddress:Port Scheduler Flags', '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn');
    }
    for (const vs of this.services()) {
      const proto = vs.protocol;
      const name = `${proto}  ${hostPort(vs.address, vs.port)}`.slice(0, 33);
      if (options.stats) {
        lines.push(name.padEnd(33) + statsColumns(vs.stats));
      } else {
        lines.push(`${name} ${vs.scheduler}${vs.persistent !== undefined ? ` persistent ${vs.persistent}` : ''}`);
      }
      for (const d of [...vs.dests].sort(compareDests)) {
        const dname = d.name.slice(0, 28);
        if (options.stats) lines.push(`  -> ${dname.padEnd(28)}${statsColumns(d.stats)}`);
        else lines.push(`  -> ${dname.padEnd(28)} ${d.forward.padEnd(7)} ${String(d.weight).padEnd(6)} ${String(d.activeConns).padEnd(10)} ${String(d.inactiveConns).padEnd(10)}`);
      }
    }
    return lines.join('\n') + '\n';
  }

  /**
   * Registers IPVS at the node's hooks (ip_vs_remote_request4 at INPUT, ip_vs_local_request4 at
   * OUTPUT). Returns the function that unregisters them.
   */
  attach(node: NodeNetwork): () => void {
    const handler = (name: string, priority: number): HookHandler => ({ name, priority, run: (ctx) => this.#handle(ctx) });
    const undo = [node.register('INPUT', handler('ipvs/ip_vs_remote_request4', IPVS_PRIORITY.localIn)), node.register('OUTPUT', handler('ipvs/ip_vs_local_request4', IPVS_PRIORITY.localOut))];
    return () => undo.forEach((u) => u());
  }

  #handle(ctx: FlowContext): HookVerdict | void {
    if (this.#services.size === 0) return undefined;
    const result = this.schedule(ctx.tuple);
    if (!result) return undefined;
    const { vs, dest } = result;
    if (!dest) {
      ctx.trace({ stage: 'ipvs', action: 'REJECT', detail: `vs ${vs.name} ${vs.scheduler}: no destination available (icmp-port-unreachable)` });
      return { verdict: 'REJECT', reason: `IPVS: no destination available for ${vs.name}` };
    }
    ctx.tuple = { ...ctx.tuple, dst: dest.address, dport: dest.port };
    ctx.trace({ stage: 'ipvs', action: 'DNAT', detail: `vs ${vs.name} ${vs.scheduler}${result.persistent ? ' (persistent template)' : ''} → ${dest.name}` });
    return { verdict: 'STOLEN' };
  }

  #templateValid(t: Template): boolean {
    if (!t.vs.dests.includes(t.dest) || t.dest.weight === 0) return false;
    return t.controlled > 0 || t.expiresAt > this.#clock.now();
  }

  #dropTemplate(t: Template): void {
    if (this.#templates.get(t.key) !== t) return;
    this.#templates.delete(t.key);
    t.dest.persistConns--;
  }

  #dropConnection(c: Connection): void {
    if (this.#conns.get(c.key) !== c) return;
    this.#conns.delete(c.key);
    if (c.active) c.dest.activeConns--;
    else c.dest.inactiveConns--;
    if (c.template) c.template.controlled--;
  }

  #expire(): void {
    const now = this.#clock.now();
    if (now < this.#nextExpiry) return;
    let next = Infinity;
    for (const c of [...this.#conns.values()]) {
      if (c.expiresAt <= now) this.#dropConnection(c);
      else next = Math.min(next, c.expiresAt);
    }
    for (const t of [...this.#templates.values()]) {
      // A template outlives its timeout while connections it controls live (ip_vs_conn_expire).
      if (t.expiresAt <= now && t.controlled === 0) this.#dropTemplate(t);
      else if (t.controlled === 0) next = Math.min(next, t.expiresAt);
    }
    this.#nextExpiry = next;
  }

  /** The scheduler's add_dest/del_dest/upd_dest. */
  #schedulerChanged(vs: VirtualServer): void {
    if (vs.scheduler === 'wrr') {
      // ip_vs_wrr_dest_changed.
      const w = vs.wrr;
      w.cl = -1;
      w.di = gcdWeight(vs);
      w.mw = maxWeight(vs) - (w.di - 1);
      if (w.cw > w.mw || !w.cw) w.cw = w.mw;
      else if (w.di > 1) w.cw = Math.floor(w.cw / w.di) * w.di + 1;
    } else if (vs.scheduler === 'sh') {
      shReassign(vs);
    }
  }
}

// ---- schedulers ----------------------------------------------------------------------------

function pick(vs: VirtualServer, tuple: FlowTuple): RealServer | undefined {
  switch (vs.scheduler) {
    case 'rr':
      return pickRr(vs);
    case 'wrr':
      return pickWrr(vs);
    case 'lc':
      return pickLc(vs);
    case 'wlc':
      return pickWlc(vs);
    case 'sh':
      return pickSh(vs, tuple);
  }
}

/** ip_vs_rr_schedule: the next real server after the last pick (wrapping), weight above 0. */
function pickRr(vs: VirtualServer): RealServer | undefined {
  const list = vs.dests;
  const start = vs.rrLast ? list.indexOf(vs.rrLast) : -1;
  const n = list.length;
  // From the head: one pass over the list; from an entry: on to the tail, then round to it again.
  for (let k = 1; k <= n; k++) {
    const i = start < 0 ? k - 1 : (start + k) % n;
    const d = list[i]!;
    if (d.weight > 0) {
      vs.rrLast = d;
      return d;
    }
  }
  return undefined;
}

/** ip_vs_wrr_schedule, with the list head as position -1. */
function pickWrr(vs: VirtualServer): RealServer | undefined {
  const m = vs.wrr;
  const list = vs.dests;
  if (m.mw === 0) return undefined;
  let dest = m.cl;
  const last = dest;
  let stop: number | undefined;
  let lastPass = false;
  let restarted = false;
  for (;;) {
    for (let i = dest + 1; i < list.length; i++) {
      dest = i;
      if (list[i]!.weight >= m.cw) {
        m.cl = i;
        return list[i];
      }
      if (i === stop) {
        m.cl = i;
        return undefined;
      }
    }
    dest = -1;
    m.cw -= m.di;
    if (m.cw <= 0) {
      m.cw = m.mw;
      if (lastPass || last === -1) {
        m.cl = -1;
        return undefined;
      }
      restarted = true;
    }
    lastPass = m.cw <= m.di;
    if (lastPass && restarted && last !== -1) stop = last;
  }
}

/** ip_vs_dest_conn_overhead. */
function overhead(d: RealServer): number {
  return d.activeConns * 256 + d.inactiveConns;
}

/** ip_vs_lc_schedule. */
function pickLc(vs: VirtualServer): RealServer | undefined {
  let least: RealServer | undefined;
  for (const d of vs.dests) {
    if (d.weight === 0) continue;
    if (!least || overhead(d) < overhead(least)) least = d;
  }
  return least;
}

/** ip_vs_wlc_schedule: least overhead per weight, compared by cross-multiplying. */
function pickWlc(vs: VirtualServer): RealServer | undefined {
  const first = vs.dests.findIndex((d) => d.weight > 0);
  if (first < 0) return undefined;
  let least = vs.dests[first]!;
  for (const d of vs.dests.slice(first + 1)) {
    if (overhead(least) * d.weight > overhead(d) * least.weight) least = d;
  }
  return least;
}

const SH_TAB_BITS = 8;
const SH_TAB_SIZE = 1 << SH_TAB_BITS;

/** ip_vs_sh_reassign: each real server in list order takes `weight` buckets (at least one). */
function shReassign(vs: VirtualServer): void {
  const buckets: (RealServer | undefined)[] = [];
  const list = vs.dests;
  let p = 0;
  let count = 0;
  for (let i = 0; i < SH_TAB_SIZE; i++) {
    if (list.length === 0) {
      buckets.push(undefined);
      continue;
    }
    const d = list[p % list.length]!;
    buckets.push(d);
    if (++count >= d.weight) {
      p++;
      count = 0;
    }
  }
  vs.shBuckets = buckets;
}

/** Linux's hash_32 (include/linux/hash.h, GOLDEN_RATIO_32 since 4.7). */
export function hash32(value: number, bits: number): number {
  return (Math.imul(value >>> 0, 0x61c88647) >>> 0) >>> (32 - bits);
}

/** The sh bucket of a client address (ip_vs_sh_hashkey without the port). */
export function shBucket(address: string): number {
  const a = parseIP(address);
  if (!a) return 0;
  let fold: number;
  if (a.family === 'IPv4') fold = Number(a.value);
  else {
    fold = 0;
    for (let i = 0; i < 4; i++) fold ^= Number((a.value >> BigInt(96 - 32 * i)) & 0xffffffffn);
  }
  return hash32(fold, SH_TAB_BITS) & (SH_TAB_SIZE - 1);
}

/** ip_vs_sh_schedule (no sh-fallback): the bucket's server, unless it has weight 0. */
function pickSh(vs: VirtualServer, tuple: FlowTuple): RealServer | undefined {
  const d = vs.shBuckets[shBucket(tuple.src)];
  return d && d.weight > 0 ? d : undefined;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** ip_vs_wrr_gcd_weight. */
function gcdWeight(vs: VirtualServer): number {
  let g = 0;
  for (const d of vs.dests) if (d.weight > 0) g = g > 0 ? gcd(d.weight, g) : d.weight;
  return g || 1;
}

function maxWeight(vs: VirtualServer): number {
  return vs.dests.reduce((m, d) => Math.max(m, d.weight), 0);
}

// ---- helpers -------------------------------------------------------------------------------

function ipvsError(message: string): PodnetError {
  return new PodnetError('PODNET_IPVS_INVALID', `ipvs: ${message}`);
}

function zeroStats(): IpvsStats {
  return { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
}

function canonical(address: string): string {
  const a = parseIP(address);
  return a ? formatIP(a) : address;
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function vsKey(protocol: IpvsProtocol, address: string, port: number): string {
  return `${protocol} ${address} ${port}`;
}

function connKey(t: FlowTuple): string {
  return `${t.protocol} ${hostPort(canonical(t.src), t.sport)} ${hostPort(canonical(t.dst), t.dport)}`;
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw ipvsError(`${what} port must be between 0 and 65535: ${port}`);
}

function checkService(spec: VirtualServerSpec): VirtualServer {
  if (spec.protocol !== 'TCP' && spec.protocol !== 'UDP' && spec.protocol !== 'SCTP') throw ipvsError(`unknown protocol "${String(spec.protocol)}" (TCP, UDP, SCTP)`);
  const a = parseIP(spec.address);
  if (!a) throw ipvsError(`not an IP address: "${spec.address}"`);
  checkPort(spec.port, 'service');
  if (!(SCHEDULERS as readonly string[]).includes(spec.scheduler)) throw ipvsError(`Scheduler not found: ip_vs_${spec.scheduler} (podnet models ${SCHEDULERS.join(', ')})`);
  if (spec.persistent !== undefined && (!Number.isInteger(spec.persistent) || spec.persistent < 1)) throw ipvsError(`persistence timeout must be a positive number of seconds: ${spec.persistent}`);
  return new VirtualServer({ ...spec, address: formatIP(a) });
}

function checkDest(spec: RealServerSpec): RealServer {
  const a = parseIP(spec.address);
  if (!a) throw ipvsError(`not an IP address: "${spec.address}"`);
  checkPort(spec.port, 'real server');
  if (!Number.isInteger(spec.weight) || spec.weight < 0 || spec.weight > 0x7fffffff) throw ipvsError(`weight must be between 0 and 2147483647: ${spec.weight}`);
  return new RealServer({ ...spec, address: formatIP(a) });
}

const PROTO_NUMBER: Record<IpvsProtocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };

/**
 * Two addresses as libipvs compares them: `ntohl(a) - ntohl(b)` per 32-bit word (one for IPv4,
 * four for IPv6) stored in a C int, so words more than 2^31 apart compare the wrong way round
 * (172.18.0.2 sorts before 10.96.0.1). For the address sets a node has, that is still a
 * consistent order, so any sort gives ipvsadm's result.
 */
function addressDiff(a: string, b: string): number {
  const x = parseIP(a)!;
  const y = parseIP(b)!;
  if (x.family !== y.family) return x.family === 'IPv4' ? -1 : 1;
  const words = x.family === 'IPv4' ? 1 : 4;
  for (let i = words - 1; i >= 0; i--) {
    const shift = BigInt(32 * i);
    const r = (Number((x.value >> shift) & 0xffffffffn) - Number((y.value >> shift) & 0xffffffffn)) | 0;
    if (r !== 0) return r;
  }
  return 0;
}

/** libipvs ipvs_cmp_services: family, protocol, address, port. */
function compareServices(a: VirtualServer, b: VirtualServer): number {
  const fam = (s: VirtualServer) => (s.address.includes(':') ? 1 : 0);
  return fam(a) - fam(b) || PROTO_NUMBER[a.protocol] - PROTO_NUMBER[b.protocol] || addressDiff(a.address, b.address) || a.port - b.port;
}

/** libipvs ipvs_cmp_dests: address, port. */
function compareDests(a: RealServer, b: RealServer): number {
  return addressDiff(a.address, b.address) || a.port - b.port;
}

/** ipvsadm's print_largenum (without --exact). */
function largenum(n: number): string {
  if (n < 100_000_000) return String(n).padStart(9);
  if (n < 1_000_000_000) return `${Math.floor(n / 1000)}K`.padStart(9);
  if (n < 100_000_000_000) return `${Math.floor(n / 1_000_000)}M`.padStart(9);
  if (n < 100_000_000_000_000) return `${Math.floor(n / 1_000_000_000)}G`.padStart(9);
  return `${Math.floor(n / 1_000_000_000_000)}T`.padStart(9);
}

function statsColumns(s: IpvsStats): string {
  return [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes].map(largenum).join('');
}
