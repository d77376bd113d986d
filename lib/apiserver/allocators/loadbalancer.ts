/**
 * The load-balancer address pool, as a bare-metal LB controller (MetalLB's `IPAddressPool`,
 * kind's cloud-provider-kind) hands out Service `status.loadBalancer.ingress` addresses:
 *
 * - The pool is a list of CIDRs (`172.18.255.0/28`: every address, network and broadcast
 *   included, as MetalLB does without `avoidBuggyIPs`) and `first-last` ranges, of either family.
 * - Addresses are handed out lowest first, per family, so allocation is reproducible without any
 *   randomness; a requested address (`spec.loadBalancerIP`) is honoured when it is in the pool
 *   and free.
 * - Each pool entry is capped at 65536 addresses (a bitmap is kept per family).
 */

import { TopologyError, field } from '../../core/errors.js';
import { formatIP, parseIP, parseIPRange, type IPAddress, type IPFamily, type IPRange } from '../../core/ipnet.js';
import { AllocationBitmap, AllocatorError } from './bitmap.js';

const MAX_ENTRY = 65536n;

interface Segment {
  range: IPRange;
  /** Addresses of the range that are used (after the cap). */
  size: number;
  /** Index of the segment's first address in its family's bitmap. */
  offset: number;
}

/** The pool of load-balancer addresses. */
export class LoadBalancerPool {
  /** The pool entries, canonicalized. */
  readonly entries: readonly string[];
  readonly #segments = new Map<IPFamily, Segment[]>();
  readonly #bitmaps = new Map<IPFamily, AllocationBitmap>();

  constructor(entries: readonly string[]) {
    const texts: string[] = [];
    const errors = [];
    for (const [i, entry] of entries.entries()) {
      const range = parseIPRange(entry);
      if (!range) {
        errors.push(field.invalid(`network.loadBalancerPool[${i}]`, entry, 'must be a CIDR or a first-last address range'));
        continue;
      }
      texts.push(range.text);
      const segments = this.#segments.get(range.family) ?? [];
      const last = segments[segments.length - 1];
      const offset = last ? last.offset + last.size : 0;
      segments.push({ range, size: Number(range.size > MAX_ENTRY ? MAX_ENTRY : range.size), offset });
      this.#segments.set(range.family, segments);
    }
    if (errors.length) throw new TopologyError(errors);
    this.entries = texts;
    for (const [family, segments] of this.#segments) {
      const last = segments[segments.length - 1]!;
      this.#bitmaps.set(family, new AllocationBitmap(last.offset + last.size));
    }
  }

  /** The families the pool has addresses of. */
  get families(): IPFamily[] {
    return [...this.#segments.keys()];
  }

  /** Addresses in the pool. */
  get size(): number {
    let n = 0;
    for (const b of this.#bitmaps.values()) n += b.size;
    return n;
  }

  /** Addresses handed out. */
  get used(): number {
    let n = 0;
    for (const b of this.#bitmaps.values()) n += b.used;
    return n;
  }

  /** Whether the address belongs to the pool. */
  contains(ip: string | IPAddress): boolean {
    return this.#locate(ip) !== undefined;
  }

  /** Whether the address is handed out. */
  has(ip: string | IPAddress): boolean {
    const at = this.#locate(ip);
    return !!at && at.bitmap.has(at.index);
  }

  /** Takes a specific address; throws {@link AllocatorError} (NotInRange, Allocated). */
  allocate(ip: string): void {
    const at = this.#locate(ip);
    if (!at) throw new AllocatorError('NotInRange', this.entries.join(','), `${JSON.stringify([ip])} is not allowed in config`);
    if (!at.bitmap.allocate(at.index)) throw new AllocatorError('Allocated', this.entries.join(','), `${JSON.stringify([ip])} is already in use`);
  }

  /** Takes the lowest free address of the family, or undefined when none is left. */
  allocateNext(family: IPFamily): string | undefined {
    const bitmap = this.#bitmaps.get(family);
    const i = bitmap?.allocateFirst();
    if (i === undefined) return undefined;
    return this.#format(family, i);
  }

  /** Frees an address; false if it was not handed out. */
  release(ip: string): boolean {
    const at = this.#locate(ip);
    return !!at && at.bitmap.release(at.index);
  }

  reset(): void {
    for (const b of this.#bitmaps.values()) b.reset();
  }

  /** Calls `fn` with every address handed out. */
  forEach(fn: (ip: string) => void): void {
    for (const [family, bitmap] of this.#bitmaps) bitmap.forEach((i) => fn(this.#format(family, i)));
  }

  #locate(ip: string | IPAddress): { bitmap: AllocationBitmap; index: number } | undefined {
    const addr = typeof ip === 'string' ? parseIP(ip) : ip;
    if (!addr) return undefined;
    const segments = this.#segments.get(addr.family);
    if (!segments) return undefined;
    for (const s of segments) {
      const off = addr.value - s.range.first;
      if (off >= 0n && off < BigInt(s.size)) return { bitmap: this.#bitmaps.get(addr.family)!, index: s.offset + Number(off) };
    }
    return undefined;
  }

  #format(family: IPFamily, index: number): string {
    for (const s of this.#segments.get(family)!) {
      if (index < s.offset + s.size) return formatIP({ family, value: s.range.first + BigInt(index - s.offset) });
    }
    throw new RangeError(`pool index ${index} out of range`);
  }
}
