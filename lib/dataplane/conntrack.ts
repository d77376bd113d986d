/**
 * Connection tracking, as nf_conntrack keeps it: one entry per flow with its original and reply
 * tuples (the reply tuple carries the NAT that was applied), a state and a timeout. A new flow
 * is evaluated by every hook once; packets of a tracked flow (the datagrams of a UDP flow, the
 * reply direction) follow the entry without being evaluated again. `conntrack -L` prints it.
 *
 * Timeouts are the kernel's defaults (net.netfilter.nf_conntrack_*_timeout*): TCP established
 * 432000 s (kube-proxy sets 86400 s), UDP 30 s, and 120 s once a UDP flow has seen replies
 * ("stream"). SCTP entries carry the SCTP state machine's state (nf_conntrack_proto_sctp.c) with
 * its per-state timeout (Documentation/networking/nf_conntrack-sysctl.rst, Linux 6.3 and later).
 */

import { systemClock, type Clock } from '../core/clock.js';

/** A 5-tuple. */
export interface FlowTuple {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

/** The states `conntrack -L` shows. */
export type ConntrackState = 'NEW' | 'ESTABLISHED' | 'UNREPLIED' | 'ASSURED';

/** The states of an SCTP entry (nf_conntrack_proto_sctp.c `sctp_conntrack_names`). */
export type SctpConntrackState = 'CLOSED' | 'COOKIE_WAIT' | 'COOKIE_ECHOED' | 'ESTABLISHED' | 'SHUTDOWN_SENT' | 'SHUTDOWN_RECD' | 'SHUTDOWN_ACK_SENT' | 'HEARTBEAT_SENT';

/** Seconds an SCTP entry lives in each state (`nf_conntrack_sctp_timeout_*` defaults). */
export const SCTP_CONNTRACK_TIMEOUTS: Record<SctpConntrackState, number> = {
  CLOSED: 10,
  COOKIE_WAIT: 3,
  COOKIE_ECHOED: 3,
  ESTABLISHED: 210,
  SHUTDOWN_SENT: 3,
  SHUTDOWN_RECD: 3,
  SHUTDOWN_ACK_SENT: 3,
  HEARTBEAT_SENT: 30,
};

/** One tracked flow. */
export interface ConntrackEntry {
  original: FlowTuple;
  /** The tuple replies carry: source and destination swapped, after NAT. */
  reply: FlowTuple;
  state: ConntrackState;
  /** Milliseconds of the cluster clock when the entry expires. */
  expiresAt: number;
  mark: number;
  /** For SCTP: the SCTP state machine's state, which `conntrack -L` prints. */
  sctpState?: SctpConntrackState;
  /** What the flow was decided to be, kept for replays and traces. */
  verdict?: unknown;
}

/** Default timeouts in seconds. */
export const CONNTRACK_TIMEOUTS = {
  tcpEstablished: 86_400,
  udp: 30,
  udpStream: 120,
  /** 210 s since Linux 6.3 (hb_interval * path_max_retrans + rto_max); 432000 s before. */
  sctpEstablished: SCTP_CONNTRACK_TIMEOUTS.ESTABLISHED,
} as const;

/** nf_conntrack_tcp_timeout_time_wait. */
const TCP_TIME_WAIT_SECONDS = 120;

function key(t: FlowTuple): string {
  return `${t.protocol} ${t.src}:${t.sport} ${t.dst}:${t.dport}`;
}

/** A node's conntrack table. */
export class Conntrack {
  readonly #clock: Clock;
  /** The clock entries are timed by (the node's tables share it). */
  readonly clock: Clock;
  readonly #byOriginal = new Map<string, ConntrackEntry>();
  readonly #byReply = new Map<string, ConntrackEntry>();
  #sweepAt = 1024;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
    this.clock = clock;
  }

  /** Records a new flow; the reply tuple reflects the NAT applied to it. */
  confirm(original: FlowTuple, natted: FlowTuple, mark = 0, verdict?: unknown): ConntrackEntry {
    // Expired entries are swept when the table has doubled since the last sweep: amortized O(1).
    if (this.#byOriginal.size >= this.#sweepAt) {
      this.#expire();
      this.#sweepAt = Math.max(1024, this.#byOriginal.size * 2);
    }
    const reply: FlowTuple = { protocol: natted.protocol, src: natted.dst, sport: natted.dport, dst: natted.src, dport: natted.sport };
    const entry: ConntrackEntry = {
      original,
      reply,
      state: original.protocol === 'UDP' ? 'UNREPLIED' : 'ESTABLISHED',
      expiresAt: this.#clock.now() + this.#timeoutSeconds(original.protocol, false) * 1000,
      mark,
      ...(original.protocol === 'SCTP' ? { sctpState: 'ESTABLISHED' as const } : {}),
      ...(verdict !== undefined ? { verdict } : {}),
    };
    this.#byOriginal.set(key(original), entry);
    this.#byReply.set(key(reply), entry);
    return entry;
  }

  /** The entry a packet belongs to, in either direction, if it has not expired. */
  lookup(tuple: FlowTuple): { entry: ConntrackEntry; direction: 'original' | 'reply' } | undefined {
    // Only the entry found is checked for expiry: a flow's decision must not scan the table.
    const k = key(tuple);
    const original = this.#live(this.#byOriginal.get(k));
    if (original) return { entry: original, direction: 'original' };
    const reply = this.#live(this.#byReply.get(k));
    return reply ? { entry: reply, direction: 'reply' } : undefined;
  }

  #live(entry: ConntrackEntry | undefined): ConntrackEntry | undefined {
    if (!entry || entry.expiresAt > this.#clock.now()) return entry;
    this.delete(entry);
    return undefined;
  }

  /** Notes traffic on an entry: a reply makes a UDP flow ASSURED and extends its timeout. */
  touch(entry: ConntrackEntry, direction: 'original' | 'reply'): void {
    if (direction === 'reply' && entry.state === 'UNREPLIED') entry.state = 'ASSURED';
    const stream = entry.state === 'ASSURED';
    const seconds = entry.sctpState ? SCTP_CONNTRACK_TIMEOUTS[entry.sctpState] : this.#timeoutSeconds(entry.original.protocol, stream);
    entry.expiresAt = this.#clock.now() + seconds * 1000;
  }

  /** Moves an SCTP entry to another state of the SCTP state machine, with that state's timeout. */
  setSctpState(entry: ConntrackEntry, state: SctpConntrackState): void {
    if (entry.original.protocol !== 'SCTP') return;
    entry.sctpState = state;
    entry.expiresAt = this.#clock.now() + SCTP_CONNTRACK_TIMEOUTS[state] * 1000;
  }

  /** Forgets an entry (a closed TCP connection, `conntrack -D`). */
  delete(entry: ConntrackEntry): void {
    this.#byOriginal.delete(key(entry.original));
    this.#byReply.delete(key(entry.reply));
  }

  /** Forgets every entry whose original destination or reply source matches (as kube-proxy clears stale UDP flows). */
  deleteByDestination(ip: string, protocol?: FlowTuple['protocol']): number {
    let n = 0;
    for (const e of [...this.#byOriginal.values()]) {
      if ((e.original.dst === ip || e.reply.src === ip) && (!protocol || e.original.protocol === protocol)) {
        this.delete(e);
        n++;
      }
    }
    return n;
  }

  /** A TCP connection closed: its entry goes to TIME_WAIT and expires after 120 s (nf_conntrack_tcp_timeout_time_wait). */
  closeTcp(original: FlowTuple): void {
    const entry = this.#byOriginal.get(key(original));
    if (!entry || entry.original.protocol !== 'TCP') return;
    entry.expiresAt = Math.min(entry.expiresAt, this.#clock.now() + TCP_TIME_WAIT_SECONDS * 1000);
  }

  /** Forgets every entry a predicate picks (`conntrack -D` with filters); returns how many. */
  deleteWhere(pick: (entry: ConntrackEntry) => boolean): number {
    let n = 0;
    for (const e of [...this.#byOriginal.values()]) {
      if (!pick(e)) continue;
      this.delete(e);
      n++;
    }
    return n;
  }

  /** Live entries. */
  entries(): ConntrackEntry[] {
    this.#expire();
    return [...this.#byOriginal.values()];
  }

  /** `conntrack -L`. */
  format(): string {
    const now = this.#clock.now();
    return this.entries()
      .map((e) => {
        const proto = e.original.protocol.toLowerCase();
        const num = proto === 'tcp' ? 6 : proto === 'udp' ? 17 : 132;
        const ttl = Math.max(0, Math.round((e.expiresAt - now) / 1000));
        const state = e.original.protocol === 'TCP' ? ' ESTABLISHED' : e.sctpState ? ` ${e.sctpState}` : '';
        const t = (x: FlowTuple) => `src=${x.src} dst=${x.dst} sport=${x.sport} dport=${x.dport}`;
        const flags = e.state === 'UNREPLIED' ? ' [UNREPLIED]' : e.state === 'ASSURED' || e.original.protocol !== 'UDP' ? ' [ASSURED]' : '';
        return `${proto.padEnd(8)} ${num} ${ttl}${state} ${t(e.original)}${e.state === 'UNREPLIED' ? ' [UNREPLIED]' : ''} ${t(e.reply)}${flags === ' [UNREPLIED]' ? '' : flags} mark=${e.mark} use=1`;
      })
      .join('\n') + (this.#byOriginal.size ? '\n' : '');
  }

  #timeoutSeconds(protocol: FlowTuple['protocol'], stream: boolean): number {
    if (protocol === 'UDP') return stream ? CONNTRACK_TIMEOUTS.udpStream : CONNTRACK_TIMEOUTS.udp;
    if (protocol === 'SCTP') return SCTP_CONNTRACK_TIMEOUTS.ESTABLISHED;
    return CONNTRACK_TIMEOUTS.tcpEstablished;
  }

  #expire(): void {
    const now = this.#clock.now();
    for (const e of [...this.#byOriginal.values()]) if (e.expiresAt <= now) this.delete(e);
  }
}
