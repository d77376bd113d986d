/**
 * SCTP associations, carried over TCP.
 *
 * Node has no SCTP socket, and an unprivileged process cannot open a raw one; so podnet carries
 * each SCTP association over one real TCP connection between the same loopback addresses a TCP
 * flow would use, while everything the emulation decides and shows speaks SCTP: the flow tuple's
 * protocol is `SCTP` (protocol number 132) at every netfilter hook, so rules, policy and
 * `podnet trace --protocol SCTP` see SCTP; conntrack keeps `sctp` entries in the kernel's SCTP
 * states (ESTABLISHED, then CLOSED once the association ends; nf_conntrack_proto_sctp.c); and a
 * pod's SCTP ports have their own real ports, listed as `ip:port/SCTP` in the pod's
 * `podnet.dev/host-addresses` annotation — real *TCP* ports, since TCP is the real transport.
 *
 * What SCTP gives a one-to-one (SOCK_STREAM) socket user, and how it is kept here:
 * - **Association setup**: the four-way INIT / INIT-ACK / COOKIE-ECHO / COOKIE-ACK handshake
 *   (RFC 9260 §5.1) is the carrier's TCP handshake. A port nobody listens on refuses the
 *   association (the peer's ABORT: `ECONNREFUSED`), a dropped flow times out.
 * - **Message boundaries**: SCTP is message-oriented — each send is one user message, and the
 *   receiver reads whole messages, never parts of two. On the carrier each message travels as a
 *   frame: a 4-byte big-endian length, then the message ({@link encodeSctpMessage}); the
 *   receiving end reassembles frames, so `on('message')` always sees exactly what one `send`
 *   sent. Empty messages are refused, as Linux refuses a zero-length `sendmsg` on SCTP
 *   (a DATA chunk without user data is a protocol violation, RFC 9260 §3.3.1).
 * - **Reliable, ordered delivery** within the association (the carrier's).
 * - **Graceful shutdown** (`close`: SHUTDOWN after the queued messages, RFC 9260 §9.2) and
 *   **abort** (`abort`: ABORT, the carrier is reset). SCTP has no half-closed state: once either
 *   end shuts down, the other stops sending too, and both see `close`.
 *
 * Not emulated: multi-streaming (every message is on stream 0, so one slow message delays the
 * rest, as TCP's head-of-line blocking does; no stream ids in the API), multi-homing (one address
 * per end: no alternate paths, no HEARTBEATs, no path failover), the payload protocol identifier
 * (PPID, always 0), unordered delivery and partial reliability (PR-SCTP), one-to-many
 * (SOCK_SEQPACKET) sockets, and the wire format itself (chunks, TSNs, checksums): a packet
 * capture of the loopback shows TCP.
 */

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { PodnetError } from '../core/errors.js';
import type { NodeNetwork } from './node.js';
import type { FlowDecision } from './pipeline.js';

/** Bytes of the length prefix in front of each message on the carrier. */
export const SCTP_FRAME_HEADER_BYTES = 4;

/**
 * The largest message an association sends or accepts: 4 MiB, the largest SCTP send buffer
 * Linux allows by default (`net.sctp.sctp_wmem` max); a larger `sendmsg` fails with EMSGSIZE.
 */
export const SCTP_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** The association states a user sees (RFC 9260 §4, the states a one-to-one socket passes). */
export type SctpAssociationState = 'ESTABLISHED' | 'SHUTDOWN-PENDING' | 'CLOSED';

/** The two ends of an association, as the pods see them (virtual addresses). */
export interface SctpEndpoints {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** How an association ended. */
export interface SctpCloseInfo {
  /** Ended by an ABORT (either end's, or a protocol violation) rather than a SHUTDOWN. */
  aborted: boolean;
  /** Why, for an abort: `ECONNRESET`, `message too long`, ... */
  reason?: string;
}

/** A message could not be sent; `errno` is what Linux's `sendmsg` would set. */
export class SctpSendError extends PodnetError {
  readonly errno: 'EINVAL' | 'EMSGSIZE' | 'EPIPE';
  constructor(errno: SctpSendError['errno'], message: string) {
    super('PODNET_SCTP_SEND_FAILED', `sendmsg: ${message}`);
    this.errno = errno;
  }
}

/** Frames one message for the carrier: its length (4 bytes, big-endian), then the message. */
export function encodeSctpMessage(message: Buffer): Buffer {
  const header = Buffer.allocUnsafe(SCTP_FRAME_HEADER_BYTES);
  header.writeUInt32BE(message.length, 0);
  return Buffer.concat([header, message]);
}

/**
 * Reassembles the messages of a carrier's byte stream, whatever the chunks it arrives in.
 * `push` returns the messages completed by a chunk, or throws on a frame no sender would write
 * (empty, or longer than {@link SCTP_MAX_MESSAGE_BYTES}).
 */
export class SctpMessageDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the message being received, once its header is in. */
  #expect: number | undefined;
  readonly #max: number;

  constructor(maxMessageBytes = SCTP_MAX_MESSAGE_BYTES) {
    this.#max = maxMessageBytes;
  }

  /** Bytes received but not yet part of a whole message. */
  get pending(): number {
    return this.#buffered;
  }

  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.#expect === undefined) {
        if (this.#buffered < SCTP_FRAME_HEADER_BYTES) break;
        const length = this.#take(SCTP_FRAME_HEADER_BYTES).readUInt32BE(0);
        if (length === 0) throw new PodnetError('PODNET_SCTP_PROTOCOL_VIOLATION', 'a DATA chunk with no user data');
        if (length > this.#max) throw new PodnetError('PODNET_SCTP_PROTOCOL_VIOLATION', `a ${length}-byte message exceeds the ${this.#max}-byte limit`);
        this.#expect = length;
      }
      if (this.#buffered < this.#expect) break;
      out.push(this.#take(this.#expect));
      this.#expect = undefined;
    }
    return out;
  }

  /** Removes the first `n` buffered bytes (n <= buffered) and returns them as one buffer. */
  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let result: Buffer;
    if (first.length >= n) {
      result = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      result = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const head = this.#chunks[0]!;
        const used = Math.min(head.length, n - filled);
        head.copy(result, filled, 0, used);
        filled += used;
        if (used === head.length) this.#chunks.shift();
        else this.#chunks[0] = head.subarray(used);
      }
    }
    this.#buffered -= n;
    return result;
  }
}

/** Events of an {@link SctpAssociation}. */
export interface SctpAssociationEvents {
  /** One whole message from the peer. */
  message: [message: Buffer];
  /** The carrier's send buffer emptied after `send` returned false. */
  drain: [];
  /** The association ended (once). Messages received before it stay readable with `receive`. */
  close: [info: SctpCloseInfo];
  /** EventEmitter's own: a listener is being added. */
  newListener: [event: string | symbol, listener: (...args: never[]) => void];
}

/**
 * One end of an SCTP association (a connected one-to-one socket), over a TCP carrier; see the
 * module comment for what is and is not SCTP about it.
 *
 * Messages that arrive while nobody listens for `message` are kept, in order, until a listener
 * is added or {@link receive} takes them — as a socket's receive buffer holds them — so no
 * message is lost between accepting an association and reading from it. It never emits `error`:
 * a reset carrier or a malformed frame ends the association with `close` (`aborted: true`).
 */
export class SctpAssociation extends EventEmitter<SctpAssociationEvents> {
  /** The real TCP connection that carries the association (for diagnostics and tests). */
  readonly carrier: Socket;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  #state: SctpAssociationState = 'ESTABLISHED';
  readonly #decoder: SctpMessageDecoder;
  readonly #maxMessageBytes: number;
  readonly #inbox: Buffer[] = [];
  readonly #waiting: { resolve: (m: Buffer) => void; reject: (e: Error) => void }[] = [];
  #closeInfo: SctpCloseInfo | undefined;
  #abortReason: string | undefined;

  constructor(carrier: Socket, endpoints: SctpEndpoints, options: { maxMessageBytes?: number } = {}) {
    super();
    this.carrier = carrier;
    this.localAddress = endpoints.localAddress;
    this.localPort = endpoints.localPort;
    this.remoteAddress = endpoints.remoteAddress;
    this.remotePort = endpoints.remotePort;
    this.#maxMessageBytes = options.maxMessageBytes ?? SCTP_MAX_MESSAGE_BYTES;
    this.#decoder = new SctpMessageDecoder(this.#maxMessageBytes);
    carrier.setNoDelay(true);
    carrier.on('data', (chunk: Buffer) => this.#received(chunk));
    carrier.on('drain', () => this.emit('drain'));
    // The peer's SHUTDOWN: SCTP has no half-open association, so this end shuts down too.
    carrier.on('end', () => {
      if (this.#state === 'ESTABLISHED') this.#state = 'SHUTDOWN-PENDING';
      carrier.end();
    });
    carrier.on('error', (err: NodeJS.ErrnoException) => {
      this.#abortReason ??= err.code ?? err.message;
    });
    carrier.once('close', (hadError: boolean) => this.#closed(hadError || this.#abortReason !== undefined));
    this.on('newListener', (event: string | symbol) => {
      if (event === 'message') queueMicrotask(() => this.#flush());
    });
    if (carrier.destroyed) queueMicrotask(() => this.#closed(true));
  }

  /** The association's state. */
  get state(): SctpAssociationState {
    return this.#state;
  }

  /** How the association ended, once it has. */
  get closeInfo(): SctpCloseInfo | undefined {
    return this.#closeInfo;
  }

  /**
   * Sends one message. Returns false when the carrier's send buffer is full (wait for `drain`),
   * as `socket.write` does; throws {@link SctpSendError} for an empty or oversized message or
   * once the association is shutting down or closed (Linux: EINVAL, EMSGSIZE, EPIPE).
   */
  send(message: Buffer | string): boolean {
    const data = typeof message === 'string' ? Buffer.from(message) : message;
    if (this.#state !== 'ESTABLISHED') throw new SctpSendError('EPIPE', 'broken pipe: the association is shut down');
    if (data.length === 0) throw new SctpSendError('EINVAL', 'invalid argument: an SCTP message cannot be empty');
    if (data.length > this.#maxMessageBytes) {
      throw new SctpSendError('EMSGSIZE', `message too long: ${data.length} bytes, the limit is ${this.#maxMessageBytes}`);
    }
    return this.carrier.write(encodeSctpMessage(data));
  }

  /**
   * The next message: one already received and not yet read, else the next to arrive. Rejects
   * with `PODNET_SCTP_CLOSED` when the association ends first (a read's EOF).
   */
  receive(): Promise<Buffer> {
    const queued = this.#inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closeInfo) return Promise.reject(this.#eof());
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Graceful shutdown: the messages already sent are delivered, then the association ends. */
  close(): void {
    if (this.#state !== 'ESTABLISHED') return;
    this.#state = 'SHUTDOWN-PENDING';
    this.carrier.end();
  }

  /** Ends the association at once (ABORT): unsent messages are lost; the peer sees it aborted. */
  abort(reason = 'ABORT'): void {
    if (this.#state === 'CLOSED') return;
    this.#abortReason ??= reason;
    this.carrier.resetAndDestroy();
  }

  #received(chunk: Buffer): void {
    let messages: Buffer[];
    try {
      messages = this.#decoder.push(chunk);
    } catch (err) {
      // A malformed frame: the receiving end ABORTs the association (RFC 9260 §9.1).
      this.abort((err as Error).message);
      return;
    }
    for (const m of messages) this.#deliver(m);
  }

  #deliver(message: Buffer): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve(message);
    else if (this.#inbox.length === 0 && this.listenerCount('message') > 0) this.emit('message', message);
    else this.#inbox.push(message);
  }

  #flush(): void {
    while (this.#inbox.length > 0 && this.listenerCount('message') > 0) this.emit('message', this.#inbox.shift()!);
  }

  #eof(): PodnetError {
    return new PodnetError('PODNET_SCTP_CLOSED', this.#closeInfo?.aborted ? `the association was aborted (${this.#closeInfo.reason ?? 'ABORT'})` : 'EOF');
  }

  #closed(aborted: boolean): void {
    if (this.#closeInfo) return;
    this.#state = 'CLOSED';
    this.#closeInfo = aborted ? { aborted: true, reason: this.#abortReason ?? 'ECONNRESET' } : { aborted: false };
    for (const w of this.#waiting.splice(0)) w.reject(this.#eof());
    this.emit('close', this.#closeInfo);
  }
}

/**
 * Keeps the conntrack entries of an association's flow in step with it: when the association
 * ends, every node the flow crossed moves its entry to CLOSED (which then expires after the
 * kernel's 10 s), as the SHUTDOWN / SHUTDOWN-ACK / SHUTDOWN-COMPLETE chunks move it on a node.
 */
export function trackAssociation(association: SctpAssociation, decision: FlowDecision, nodes: ReadonlyMap<string, NodeNetwork>): void {
  association.once('close', () => {
    for (const name of new Set(decision.hops)) {
      const conntrack = nodes.get(name)?.conntrack;
      const hit = conntrack?.lookup(decision.original);
      if (conntrack && hit) conntrack.setSctpState(hit.entry, 'CLOSED');
    }
  });
}
