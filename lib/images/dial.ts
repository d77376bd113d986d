/**
 * Outgoing connections from a built-in container, through the data plane (`ctx.dialTcp`,
 * `ctx.exchangeUdp`), with the error wording of Go's net package so a program's output reads as
 * the real one's (`dial tcp 10.96.0.10:80: connect: connection refused`, `i/o timeout`).
 *
 * The data plane reports a dropped packet as a timeout (`ETIMEDOUT`, or a podnet
 * `PODNET_TIMEOUT` error), a reset or an ICMP port-unreachable as `ECONNREFUSED`, a name it could
 * not resolve as `ENOTFOUND`, and a missing route as `EHOSTUNREACH`/`ENETUNREACH`.
 */

import type { Socket } from 'node:net';
import type { ContainerContext } from './types.js';

/** Why a connection attempt failed, as a Go program would classify it. */
export type DialFailureKind = 'timeout' | 'refused' | 'dns' | 'unreachable' | 'other';

/** A failed dial, with Go's wording of the cause (`connect: connection refused`). */
export class DialFailure extends Error {
  readonly kind: DialFailureKind;
  /** Go's text of the syscall-level error, e.g. `connect: connection refused` or `i/o timeout`. */
  readonly detail: string;
  constructor(kind: DialFailureKind, detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.kind = kind;
    this.detail = detail;
  }
}

/** Classifies an error from `ctx.dialTcp` / `ctx.exchangeUdp`. */
export function classifyDialError(e: unknown): DialFailure {
  if (e instanceof DialFailure) return e;
  const err = e as { code?: string; errno?: unknown; name?: string; message?: string };
  // The data plane's FlowError carries the socket errno next to its PODNET_FLOW_FAILED code.
  switch (typeof err?.errno === 'string' ? err.errno : err?.code) {
    case 'ETIMEDOUT':
    case 'PODNET_TIMEOUT':
      return new DialFailure('timeout', 'i/o timeout', { cause: e });
    case 'ECONNREFUSED':
    case 'ECONNRESET':
      return new DialFailure('refused', 'connect: connection refused', { cause: e });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new DialFailure('dns', 'no such host', { cause: e });
    case 'EHOSTUNREACH':
      return new DialFailure('unreachable', 'connect: no route to host', { cause: e });
    case 'ENETUNREACH':
      return new DialFailure('unreachable', 'connect: network is unreachable', { cause: e });
  }
  if (err?.name === 'TimeoutError') return new DialFailure('timeout', 'i/o timeout', { cause: e });
  return new DialFailure('other', err?.message ?? String(e), { cause: e });
}

/**
 * Races `promise` against a deadline (none when `ms` is undefined or 0). On the deadline the
 * result is a timeout {@link DialFailure}; `onLate` receives a value that arrives afterwards
 * (to close a socket nobody will use).
 */
export function withDeadline<T>(promise: Promise<T>, ms: number | undefined, onLate?: (value: T) => void): Promise<T> {
  if (!ms || ms <= 0) return promise;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new DialFailure('timeout', 'i/o timeout'));
    }, ms);
    promise.then(
      (value) => {
        if (done) onLate?.(value);
        else {
          done = true;
          clearTimeout(timer);
          resolve(value);
        }
      },
      (e: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Opens a TCP connection through the data plane, failing with a {@link DialFailure}. */
export async function dialTcp(ctx: ContainerContext, host: string, port: number, timeoutMs?: number): Promise<Socket> {
  try {
    const options = timeoutMs ? { timeoutMs } : undefined;
    const conn = await withDeadline(ctx.dialTcp(host, port, options), timeoutMs, (late) => late.socket.destroy());
    return conn.socket;
  } catch (e) {
    throw classifyDialError(e);
  }
}

/** Sends one UDP request and waits for one answer through the data plane, failing with a {@link DialFailure}. */
export async function exchangeUdp(ctx: ContainerContext, host: string, port: number, data: Buffer | string, timeoutMs?: number): Promise<Buffer> {
  try {
    const options = timeoutMs ? { timeoutMs } : undefined;
    return await withDeadline(ctx.exchangeUdp(host, port, data, options), timeoutMs);
  } catch (e) {
    throw classifyDialError(e);
  }
}

/**
 * Validates a port the way `net.ResolveTCPAddr` / `ResolveUDPAddr` would: a decimal 0–65535.
 * Returns Go's error text otherwise (service names from /etc/services are not known here).
 */
export function checkPort(network: 'tcp' | 'udp', port: string): string | undefined {
  if (port === '') return undefined;
  if (!/^\d+$/.test(port)) return `lookup ${network}/${port}: unknown port`;
  if (Number(port) > 65535) return `address ${port}: invalid port`;
  return undefined;
}
