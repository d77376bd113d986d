/**
 * The allocation bitmap behind the Service IP, NodePort and load-balancer allocators, as
 * k8s.io/kubernetes/pkg/registry/core/service/allocator's `AllocationBitmap` keeps one: bit `i`
 * set means item `i` of the range is taken.
 *
 * Dynamic allocation follows upstream's `randomScanStrategyWithOffset`: the range is split at
 * `staticBand` (KEP-3070 for Service IPs, KEP-3668 for NodePorts); a random start is drawn in the
 * upper band and the scan moves forward, wrapping inside the band; only when the upper band is
 * full does it scan the lower band the same way. Explicit (static) requests may take any item.
 * That keeps the lower band free for users who pick their addresses by hand.
 *
 * Scans go a 32-bit word at a time, so an allocation in a nearly empty range is O(1) and a full
 * range costs size/32 word reads.
 */

import { PodnetError } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';

/** Why an allocation failed: the item is outside the range, already taken, or nothing is left. */
export type AllocatorErrorReason = 'NotInRange' | 'Allocated' | 'Full';

const CODES: Record<AllocatorErrorReason, string> = {
  NotInRange: 'PODNET_ALLOCATION_NOT_IN_RANGE',
  Allocated: 'PODNET_ALLOCATION_ALREADY_ALLOCATED',
  Full: 'PODNET_IPAM_EXHAUSTED',
};

/**
 * An allocator refused a request. The message is upstream's error text (`range is full`,
 * `provided IP is already allocated`, ...), which the Service allocation wraps in a field error.
 */
export class AllocatorError extends PodnetError {
  readonly reason: AllocatorErrorReason;
  /** The range the allocator serves, e.g. `10.96.0.0/12` or `30000-32767`. */
  readonly range: string;
  constructor(reason: AllocatorErrorReason, range: string, message: string) {
    super(CODES[reason], message);
    this.reason = reason;
    this.range = range;
  }
}

/** Options of {@link AllocationBitmap}. */
export interface AllocationBitmapOptions {
  /** Size of the lower band that dynamic allocation uses only when the upper band is full. */
  staticBand?: number;
  /** Items dynamic allocation never hands out (explicit requests may still take them). */
  reserved?: Iterable<number>;
}

/** A fixed-size set of allocated items `0 .. size-1`. */
export class AllocationBitmap {
  readonly size: number;
  readonly staticBand: number;
  #words: Uint32Array;
  #reserved: Uint32Array;
  #used = 0;

  constructor(size: number, options: AllocationBitmapOptions = {}) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`invalid bitmap size ${size}`);
    this.size = size;
    const band = options.staticBand ?? 0;
    this.staticBand = band > 0 && band < size ? band : 0;
    this.#words = new Uint32Array(Math.ceil(size / 32));
    this.#reserved = new Uint32Array(Math.ceil(size / 32));
    for (const i of options.reserved ?? []) {
      if (Number.isInteger(i) && i >= 0 && i < size) this.#reserved[i >>> 5]! |= 1 << (i & 31);
    }
  }

  /** Number of allocated items. */
  get used(): number {
    return this.#used;
  }

  /** Number of free items (reserved ones included). */
  get free(): number {
    return this.size - this.#used;
  }

  /** Whether item `i` is allocated. */
  has(i: number): boolean {
    if (!(i >= 0 && i < this.size)) return false;
    return (this.#words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  /** Takes item `i`; false if it is out of range or already taken. */
  allocate(i: number): boolean {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) return false;
    const w = i >>> 5;
    const bit = 1 << (i & 31);
    if (this.#words[w]! & bit) return false;
    this.#words[w]! |= bit;
    this.#used++;
    return true;
  }

  /** Frees item `i`; false if it was not taken. */
  release(i: number): boolean {
    if (!this.has(i)) return false;
    this.#words[i >>> 5]! &= ~(1 << (i & 31));
    this.#used--;
    return true;
  }

  /** Frees everything. */
  reset(): void {
    this.#words.fill(0);
    this.#used = 0;
  }

  /**
   * The first item in `[from, to)` that is neither allocated nor reserved, or -1.
   * Reads whole words, so a run of full words is skipped 32 items at a time.
   */
  nextFree(from: number, to: number = this.size): number {
    const end = Math.min(to, this.size);
    let i = Math.max(0, from);
    while (i < end) {
      const w = i >>> 5;
      // Free bits of this word at or after i.
      let free = ~(this.#words[w]! | this.#reserved[w]!) & (~0 << (i & 31));
      const wordEnd = (w + 1) << 5;
      if (end < wordEnd) free &= (1 << (end & 31)) - 1;
      if (free !== 0) {
        const low = free & -free;
        return (w << 5) + (31 - Math.clz32(low));
      }
      i = wordEnd;
    }
    return -1;
  }

  /** Takes the lowest free, unreserved item (MetalLB's order for pool addresses); undefined when full. */
  allocateFirst(): number | undefined {
    const i = this.nextFree(0);
    if (i < 0) return undefined;
    this.allocate(i);
    return i;
  }

  /**
   * Takes a free item chosen as upstream's `randomScanStrategyWithOffset` does (see the module
   * comment); undefined when nothing unreserved is left.
   */
  allocateNext(rng: Rng): number | undefined {
    const bands: [number, number][] = this.staticBand
      ? [
          [this.staticBand, this.size],
          [0, this.staticBand],
        ]
      : [[0, this.size]];
    for (const [lo, hi] of bands) {
      if (hi <= lo) continue;
      const start = lo + rng.int(hi - lo);
      let i = this.nextFree(start, hi);
      if (i < 0) i = this.nextFree(lo, start);
      if (i >= 0) {
        this.allocate(i);
        return i;
      }
    }
    return undefined;
  }

  /** Calls `fn` for every allocated item, in order. */
  forEach(fn: (i: number) => void): void {
    for (let w = 0; w < this.#words.length; w++) {
      let word = this.#words[w]!;
      while (word !== 0) {
        const low = word & -word;
        fn((w << 5) + (31 - Math.clz32(low)));
        word ^= low;
      }
    }
  }
}
