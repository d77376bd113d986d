/**
 * The NodePort allocator, as k8s.io/kubernetes/pkg/registry/core/service/portallocator does it
 * for `--service-node-port-range` (30000-32767 by default):
 *
 * - The range is written `base-max`, `base+offset` or a single port (`net.ParsePortRange`).
 * - KEP-3668 splits it: the lower `min(max(16, size/32), 128)` ports form the static band that
 *   dynamic allocation uses only when the upper band is full.
 * - Errors carry upstream's text: `provided port is not in the valid range. The range of valid
 *   ports is 30000-32767`, `provided port is already allocated`, `range is full`.
 */

import { TopologyError, field } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';
import { AllocationBitmap, AllocatorError } from './bitmap.js';

/** A port range: `base` and `size` ports from it. */
export interface PortRange {
  base: number;
  size: number;
}

/** Parses `30000-32767`, `30000+2767` or `30000`; undefined if malformed (net.ParsePortRange). */
export function parsePortRange(text: string): PortRange | undefined {
  const t = text.trim();
  const m = /^(\d{1,5})(?:([-+])(\d{1,5}))?$/.exec(t);
  if (!m) return undefined;
  const base = Number(m[1]);
  if (base > 65535) return undefined;
  if (!m[2]) return { base, size: 1 };
  const n = Number(m[3]);
  if (m[2] === '+') {
    if (base + n > 65535) return undefined;
    return { base, size: n + 1 };
  }
  if (n < base || n > 65535) return undefined;
  return { base, size: n - base + 1 };
}

/** `base-max`, as Go's `PortRange.String()` prints it. */
export function formatPortRange(range: PortRange): string {
  return range.size === 0 ? '' : `${range.base}-${range.base + range.size - 1}`;
}

/** Size of the static band of a port range (upstream's `calculateRangeOffset`). */
export function nodePortStaticBand(size: number): number {
  if (size <= 16) return 0;
  const offset = Math.floor(size / 32);
  if (offset < 16) return 16;
  if (offset > 128) return 128;
  return offset;
}

/** Allocates NodePorts (and health-check NodePorts) from one range. */
export class NodePortAllocator {
  readonly range: PortRange;
  /** The range as `base-max`. */
  readonly text: string;
  readonly staticBand: number;
  readonly #bitmap: AllocationBitmap;

  constructor(range: string | PortRange = '30000-32767') {
    const parsed = typeof range === 'string' ? parsePortRange(range) : range;
    if (!parsed) {
      throw new TopologyError([field.invalid('network.serviceNodePortRange', range, 'must be a port range such as 30000-32767')]);
    }
    this.range = parsed;
    this.text = formatPortRange(parsed);
    this.staticBand = nodePortStaticBand(parsed.size);
    this.#bitmap = new AllocationBitmap(parsed.size, { staticBand: this.staticBand });
  }

  get used(): number {
    return this.#bitmap.used;
  }

  get free(): number {
    return this.#bitmap.free;
  }

  /** Whether the port lies in the range. */
  contains(port: number): boolean {
    return Number.isInteger(port) && port >= this.range.base && port < this.range.base + this.range.size;
  }

  /** Whether the port is allocated. */
  has(port: number): boolean {
    return this.contains(port) && this.#bitmap.has(port - this.range.base);
  }

  /** Takes a specific port; throws {@link AllocatorError} (NotInRange, Allocated). */
  allocate(port: number): void {
    if (!this.contains(port)) {
      throw new AllocatorError(
        'NotInRange',
        this.text,
        `provided port is not in the valid range. The range of valid ports is ${this.text}`,
      );
    }
    if (!this.#bitmap.allocate(port - this.range.base)) {
      throw new AllocatorError('Allocated', this.text, 'provided port is already allocated');
    }
  }

  /** Takes a free port, upper band first, chosen with `rng`; throws Full. */
  allocateNext(rng: Rng): number {
    const i = this.#bitmap.allocateNext(rng);
    if (i === undefined) throw new AllocatorError('Full', this.text, 'range is full');
    return this.range.base + i;
  }

  /** Frees a port; false if it was not allocated. */
  release(port: number): boolean {
    return this.contains(port) && this.#bitmap.release(port - this.range.base);
  }

  reset(): void {
    this.#bitmap.reset();
  }

  /** Calls `fn` with every allocated port, in order. */
  forEach(fn: (port: number) => void): void {
    this.#bitmap.forEach((i) => fn(this.range.base + i));
  }
}
