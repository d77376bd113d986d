/**
 * Shaped links: what `tc qdisc add dev eth0 root netem delay … loss … rate …` on a node's uplink
 * does to the traffic between two nodes, realized on podnet's real sockets.
 *
 * A link of the Cluster document (`spec.links[]`) carries a one-way latency, jitter, loss,
 * bandwidth and a partition. Connectivity is the pipeline's decision (pipeline.ts): a partition
 * or 100% loss leaves a cross-node flow no path, so it times out. Everything else is timing,
 * realized here, and only for flows that cross a shaped link — an unshaped path stays a direct
 * socket with nothing in between:
 *
 * - **TCP goes through a relay.** The caller's socket is connected to a one-shot listener on the
 *   origin node's loopback address (where tc's qdisc would sit: the node's egress), and the
 *   relay's socket to the destination is opened from the flow's source address, so the server
 *   still sees the client's IP. Each direction is a {@link ShapedPipe}: every chunk waits for the
 *   link's transmitter (serialization at the link rate, as tc's `rate`), then the link's latency
 *   ± jitter (netem's default distribution is uniform over [latency − jitter, latency + jitter),
 *   sch_netem.c `tabledist`), and chunks leave in order — TCP reassembles what netem reorders.
 * - **Loss on TCP is retransmission, not failure.** A lost SYN or SYN-ACK is sent again after
 *   the initial RTO of 1 s, doubling (RFC 6298 §2.1 and §5.5; Linux `TCP_TIMEOUT_INIT`), at most
 *   `net.ipv4.tcp_syn_retries` = 6 times — then connect fails with ETIMEDOUT. A chunk that loses
 *   a segment arrives one retransmission timeout late (Linux's `TCP_RTO_MIN`, 200 ms, doubling
 *   while the retransmission is lost too).
 * - **UDP has no retransmission.** A datagram and its reply are each lost with the link's
 *   probability, and delayed like a TCP chunk, in the exchange itself (no relay).
 *
 * Time comes from the injected clock: on a ManualClock bytes move through a relay only as the
 * test advances it. Random draws (jitter, loss) come from the data plane's seeded RNG.
 */

import net from 'node:net';
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../core/clock.js';
import { PodnetError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import { boundPort, type SocketFactory } from '../core/sockets.js';
import type { LinkSpec } from '../api/cluster.js';

/** Linux `TCP_TIMEOUT_INIT`: the RTO before any RTT is measured, so a lost SYN's retry (RFC 6298 §2.1). */
export const TCP_TIMEOUT_INIT_MS = 1000;
/** Linux `TCP_RTO_MIN`: the smallest retransmission timeout. */
export const TCP_RTO_MIN_MS = 200;
/** `net.ipv4.tcp_syn_retries`' default: SYN retransmissions before connect gives up. */
export const TCP_SYN_RETRIES = 6;
/** The MSS of a 1500-byte Ethernet path (1500 − 20 IP − 20 TCP − 12 timestamps). */
export const TCP_MSS = 1448;
/** A relay direction stops reading once this much waits on the link (the qdisc's queue is full). */
const QUEUE_HIGH_WATER = 1 << 20;

/**
 * A tc rate (tc(8), "RATES") in bits per second: a number with an optional unit, case-insensitive:
 * `bit` (or none), `kbit`, `mbit`, `gbit`, `tbit` in bits per second; `bps`, `kbps`, `mbps`,
 * `gbps`, `tbps` in bytes per second; `kibit`, `mibit`, ... and `kibps`, ... in IEC units.
 */
export function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m?.[2]?.toLowerCase() ?? '';
  const scale = m ? RATE_UNITS[unit] : undefined;
  const value = m ? Number(m[1]) * (scale ?? NaN) : NaN;
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new PodnetError('PODNET_INVALID_RATE', `${JSON.stringify(text)} is not a rate: use a number with a tc unit such as 10mbit, 512kbit, 1gbit or 125kbps`);
  }
  return value;
}

const RATE_UNITS: Record<string, number> = (() => {
  const units: Record<string, number> = { '': 1, bit: 1, bps: 8 };
  const si = { k: 1e3, m: 1e6, g: 1e9, t: 1e12 };
  const iec = { ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30, ti: 2 ** 40 };
  for (const [prefix, factor] of [...Object.entries(si), ...Object.entries(iec)]) {
    units[`${prefix}bit`] = factor;
    units[`${prefix}bps`] = factor * 8;
  }
  return units;
})();

/** True when a link changes the timing of what crosses it (not only whether it crosses). */
export function isShaped(link: LinkSpec | undefined): link is LinkSpec {
  if (!link || link.partitioned || (link.lossPercent ?? 0) >= 100) return false;
  return !!(link.latencyMs || link.jitterMs || link.bandwidthMbit || link.lossPercent);
}

/** The link's impairments as a trace shows them: `20ms ± 5ms, 1% loss, 10mbit`. */
export function describeShape(link: LinkSpec): string {
  const parts: string[] = [];
  if (link.latencyMs) parts.push(`${link.latencyMs}ms${link.jitterMs ? ` ± ${link.jitterMs}ms` : ''}`);
  else if (link.jitterMs) parts.push(`0ms ± ${link.jitterMs}ms`);
  if (link.lossPercent) parts.push(`${link.lossPercent}% loss`);
  if (link.bandwidthMbit) parts.push(`${link.bandwidthMbit}mbit`);
  return parts.join(', ');
}

/** One crossing's delay: latency ± jitter, uniform as netem draws it, never below zero. */
export function propagationDelayMs(link: LinkSpec, rng: Rng): number {
  const latency = link.latencyMs ?? 0;
  const jitter = link.jitterMs ?? 0;
  if (!jitter) return latency;
  return Math.max(0, latency - jitter + rng.next() * 2 * jitter);
}

/** How long `bytes` take to leave at the link's rate (tc's `rate`): 0 when the link has none. */
export function serializationMs(link: LinkSpec, bytes: number): number {
  return link.bandwidthMbit ? (bytes * 8) / (link.bandwidthMbit * 1000) : 0;
}

/** True with the link's loss probability (one packet lost). */
export function lost(link: LinkSpec, rng: Rng): boolean {
  const p = link.lossPercent ?? 0;
  return p > 0 && rng.next() * 100 < p;
}

/** How a TCP handshake across a lossy link goes: the retransmissions it took, or that it gave up. */
export type HandshakePlan = { retransmits: number; delayMs: number } | { gaveUp: true; afterMs: number };

/**
 * Draws a TCP handshake across the link: each attempt sends a SYN one way and a SYN-ACK back,
 * each lost with the link's probability; a failed attempt is retried after the RTO (1 s, 2 s,
 * 4 s, ...). `delayMs` is the time spent on retransmissions plus the final attempt's round trip.
 */
export function planHandshake(link: LinkSpec, rng: Rng): HandshakePlan {
  let waited = 0;
  for (let attempt = 0; attempt <= TCP_SYN_RETRIES; attempt++) {
    const synLost = lost(link, rng);
    const synAckLost = !synLost && lost(link, rng);
    if (!synLost && !synAckLost) {
      return { retransmits: attempt, delayMs: waited + propagationDelayMs(link, rng) + propagationDelayMs(link, rng) };
    }
    waited += TCP_TIMEOUT_INIT_MS * 2 ** attempt;
  }
  return { gaveUp: true, afterMs: waited };
}

/** Delay a datagram of `bytes` takes across the link, or undefined when it is lost. */
export function datagramDelayMs(link: LinkSpec, rng: Rng, bytes: number): number | undefined {
  if (lost(link, rng)) return undefined;
  return serializationMs(link, bytes) + propagationDelayMs(link, rng);
}

/** Options of {@link ShapedPipe}. */
export interface ShapedPipeOptions {
  link: LinkSpec;
  clock: Clock;
  rng: Rng;
  /** Hands a chunk to the far side once it has crossed. */
  deliver(chunk: Buffer): void;
  /** Called when the queue is full (stop reading) and drained again (read on). */
  backpressure?(full: boolean): void;
}

/**
 * One direction of a shaped link: an ordered queue that releases each chunk when it has been
 * serialized at the link rate, crossed the link's latency ± jitter, and — if one of its segments
 * was lost — been retransmitted.
 */
export class ShapedPipe {
  readonly #o: ShapedPipeOptions;
  readonly #queue: { at: number; chunk: Buffer }[] = [];
  #timer: TimerHandle | undefined;
  /** When the link's transmitter is free again (bandwidth). */
  #txFree = 0;
  /** The last scheduled delivery: nothing overtakes it. */
  #lastAt = 0;
  #queued = 0;
  #full = false;
  #onEnd: (() => void) | undefined;
  #closed = false;
  /** Bytes and chunks that have crossed. */
  delivered = { bytes: 0, chunks: 0 };

  constructor(options: ShapedPipeOptions) {
    this.#o = options;
  }

  /** Bytes waiting on the link. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** Sends a chunk across. */
  push(chunk: Buffer): void {
    if (this.#closed || this.#onEnd) return;
    const { link, clock, rng } = this.#o;
    const now = clock.now();
    const start = Math.max(now, this.#txFree);
    this.#txFree = start + serializationMs(link, chunk.length);
    let at = this.#txFree + propagationDelayMs(link, rng);
    const segments = Math.max(1, Math.ceil(chunk.length / TCP_MSS));
    const p = 1 - (1 - (link.lossPercent ?? 0) / 100) ** segments;
    for (let k = 0; p > 0 && k < 16 && rng.next() < p; k++) at += TCP_RTO_MIN_MS * 2 ** k;
    at = Math.max(at, this.#lastAt);
    this.#lastAt = at;
    this.#queue.push({ at, chunk });
    this.#queued += chunk.length;
    if (!this.#full && this.#queued > QUEUE_HIGH_WATER) {
      this.#full = true;
      this.#o.backpressure?.(true);
    }
    this.#schedule();
  }

  /** Calls `done` once everything queued has crossed (a FIN follows the data). */
  end(done: () => void): void {
    this.#onEnd = done;
    if (!this.#queue.length) this.#finish();
  }

  /** Drops whatever is still on the link (the connection was reset). */
  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#queue.length = 0;
    this.#queued = 0;
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    const head = this.#queue[0];
    if (!head) return;
    this.#timer = this.#o.clock.setTimeout(() => this.#flush(), Math.max(0, head.at - this.#o.clock.now()));
  }

  #flush(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    const now = this.#o.clock.now();
    while (this.#queue.length && this.#queue[0]!.at <= now) {
      const { chunk } = this.#queue.shift()!;
      this.#queued -= chunk.length;
      this.delivered.bytes += chunk.length;
      this.delivered.chunks++;
      this.#o.deliver(chunk);
    }
    if (this.#full && this.#queued <= QUEUE_HIGH_WATER / 2) {
      this.#full = false;
      this.#o.backpressure?.(false);
    }
    if (!this.#queue.length && this.#onEnd) return this.#finish();
    this.#schedule();
  }

  #finish(): void {
    const done = this.#onEnd;
    this.#onEnd = () => {};
    this.#closed = true;
    done?.();
  }
}

/** A TCP relay in the middle of a shaped flow. */
export interface ShapedRelay {
  readonly link: LinkSpec;
  /** `address:port` the relay listened on (on the origin node's loopback address). */
  readonly address: string;
  /** Client → server. */
  readonly forward: ShapedPipe;
  /** Server → client. */
  readonly reverse: ShapedPipe;
}

/** Options of {@link relayTcp}. */
export interface RelayOptions {
  link: LinkSpec;
  clock: Clock;
  rng: Rng;
  sockets: SocketFactory;
  /** Loopback address of the origin node: where the relay listens. */
  relayHost: string;
  /** The relay's connected socket to the destination (opened from the flow's source). */
  upstream: Socket;
}

/**
 * Puts a relay between the caller and `upstream`: returns the caller's socket, connected to a
 * one-shot listener on `relayHost`, and pumps bytes both ways through {@link ShapedPipe}s. A FIN
 * follows the data that preceded it; a reset on either side resets the other at once.
 */
export async function relayTcp(options: RelayOptions): Promise<{ socket: Socket; relay: ShapedRelay }> {
  const { sockets, relayHost, upstream, link, clock, rng } = options;
  const listener = await sockets.listenTcp({ host: relayHost, port: 0, server: net.createServer({ allowHalfOpen: true }) });
  const port = boundPort(listener);
  let inner: Socket;
  let socket: Socket;
  try {
    const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
    socket = await sockets.connectTcp({ host: relayHost, port });
    inner = await accepted;
  } catch (err) {
    upstream.destroy();
    throw err;
  } finally {
    listener.close();
  }
  // A FIN from one side must not close the other direction, which may still carry data.
  upstream.allowHalfOpen = true;
  const forward: ShapedPipe = new ShapedPipe({
    link,
    clock,
    rng,
    deliver: (c) => void upstream.write(c),
    backpressure: (full) => void (full ? inner.pause() : inner.resume()),
  });
  const reverse: ShapedPipe = new ShapedPipe({
    link,
    clock,
    rng,
    deliver: (c) => void inner.write(c),
    backpressure: (full) => void (full ? upstream.pause() : upstream.resume()),
  });
  splice(inner, forward, upstream, reverse);
  splice(upstream, reverse, inner, forward);
  return { socket, relay: { link, address: `${relayHost}:${port}`, forward, reverse } };
}

/** Feeds `from`'s bytes into `pipe` towards `to`; `back` is the opposite direction. */
function splice(from: Socket, pipe: ShapedPipe, to: Socket, back: ShapedPipe): void {
  let finished = false;
  from.on('data', (chunk: Buffer) => pipe.push(chunk));
  from.on('end', () => {
    finished = true;
    pipe.end(() => to.end());
  });
  from.on('error', () => {});
  from.on('close', () => {
    if (finished) return;
    // Closed without a FIN: a reset. What was still on the link is gone with it.
    pipe.close();
    back.close();
    if (!to.destroyed) to.resetAndDestroy();
  });
}
