/**
 * The Service ClusterIP allocator of one family, as k8s.io/kubernetes/pkg/registry/core/service/
 * ipallocator's bitmap `Range` does it (the in-memory allocator of `--service-cluster-ip-range`):
 *
 * - The network address is never handed out, nor the broadcast address of an IPv4 range; an IPv6
 *   range is capped at 65536 addresses, since the allocator keeps a bitmap of that size.
 * - The range is split (KEP-3070, `calculateRangeOffset`): the lower `min(max(16, size/16), 256)`
 *   addresses form the static band that dynamic allocation uses only when the upper band is full.
 *   Ranges of 16 addresses or fewer have no static band.
 * - Dynamic allocation never picks the first address (the `kubernetes` Service's, as the
 *   apiserver's `GetIndexedIP(range, 1)`) or the tenth (kube-dns's, as kubeadm's `clusterDNS`);
 *   an explicit request may take them.
 * - Errors carry upstream's text: `the provided IP (10.0.0.5) is not in the valid range. The
 *   range of valid IPs is 10.96.0.0/12`, `provided IP is already allocated`, `range is full`.
 */

import { TopologyError, field } from '../../core/errors.js';
import { formatIP, mustParseCIDR, parseIP, type CIDR, type IPAddress, type IPFamily } from '../../core/ipnet.js';
import type { Rng } from '../../core/rng.js';
import { AllocationBitmap, AllocatorError } from './bitmap.js';

/** Largest range a bitmap is kept for (upstream caps IPv6 ranges the same way). */
const MAX_IPV6_RANGE = 65536;

/** Index of the kubernetes Service's address in the range (the first usable one). */
export const KUBERNETES_SERVICE_INDEX = 1;
/** Index of the cluster DNS Service's address in the range (the tenth, as kubeadm picks it). */
export const DNS_SERVICE_INDEX = 10;

/**
 * Size of the static band of a range of `cidrSize` addresses (upstream's
 * `calculateRangeOffset`: `min(max(16, size/16), 256)`, 0 for ranges of at most 16).
 */
export function clusterIPStaticBand(cidrSize: bigint): number {
  if (cidrSize <= 16n) return 0;
  const offset = cidrSize / 16n;
  if (offset < 16n) return 16;
  if (offset > 256n) return 256;
  return Number(offset);
}

/** Allocates ClusterIPs from one Service CIDR. */
export class ClusterIPAllocator {
  readonly cidr: CIDR;
  readonly family: IPFamily;
  /** Usable addresses (network and IPv4 broadcast excluded). */
  readonly size: number;
  /** Addresses in the lower, static band. */
  readonly staticBand: number;
  /** The first usable address (offset 0 of the bitmap). */
  readonly #base: bigint;
  readonly #bitmap: AllocationBitmap;

  constructor(cidr: string | CIDR) {
    this.cidr = typeof cidr === 'string' ? mustParseCIDR(cidr) : cidr;
    this.family = this.cidr.family;
    if (this.family === 'IPv4' && this.cidr.prefix < 12) {
      throw new TopologyError([
        field.invalid('network.serviceSubnet', this.cidr.text, 'specified --service-cluster-ip-range is too large; for 32-bit addresses, the mask must be >= 12'),
      ]);
    }
    let max = this.cidr.size;
    if (this.family === 'IPv6') {
      if (max > BigInt(MAX_IPV6_RANGE)) max = BigInt(MAX_IPV6_RANGE);
    } else {
      max -= 1n; // broadcast
    }
    max -= 1n; // network address
    this.size = Math.max(0, Number(max));
    this.#base = this.cidr.base + 1n;
    this.staticBand = clusterIPStaticBand(this.cidr.size);
    this.#bitmap = new AllocationBitmap(this.size, {
      staticBand: this.staticBand,
      reserved: [KUBERNETES_SERVICE_INDEX - 1, DNS_SERVICE_INDEX - 1],
    });
  }

  /** Allocated addresses. */
  get used(): number {
    return this.#bitmap.used;
  }

  /** Free addresses. */
  get free(): number {
    return this.#bitmap.free;
  }

  /** The bitmap offset of an address, or -1 when it is not allocatable in this range. */
  offsetOf(ip: string | IPAddress): number {
    const addr = typeof ip === 'string' ? parseIP(ip) : ip;
    if (!addr || addr.family !== this.family) return -1;
    const offset = addr.value - this.#base;
    if (offset < 0n || offset >= BigInt(this.size)) return -1;
    return Number(offset);
  }

  /** Whether the address can be allocated from this range at all. */
  contains(ip: string | IPAddress): boolean {
    return this.offsetOf(ip) >= 0;
  }

  /** Whether the address is allocated. */
  has(ip: string | IPAddress): boolean {
    const i = this.offsetOf(ip);
    return i >= 0 && this.#bitmap.has(i);
  }

  /** The address at `index` of the range (1 is the first usable), or undefined if outside it. */
  indexed(index: number): string | undefined {
    if (index < 1 || index > this.size) return undefined;
    return this.#format(index - 1);
  }

  /** Takes a specific address; throws {@link AllocatorError} (NotInRange, Allocated). */
  allocate(ip: string): void {
    const i = this.offsetOf(ip);
    if (i < 0) {
      throw new AllocatorError(
        'NotInRange',
        this.cidr.text,
        `the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${this.cidr.text}`,
      );
    }
    if (!this.#bitmap.allocate(i)) throw new AllocatorError('Allocated', this.cidr.text, 'provided IP is already allocated');
  }

  /** Takes a free address, upper band first, chosen with `rng`; throws Full. */
  allocateNext(rng: Rng): string {
    const i = this.#bitmap.allocateNext(rng);
    if (i === undefined) throw new AllocatorError('Full', this.cidr.text, 'range is full');
    return this.#format(i);
  }

  /** Frees an address; false if it was not allocated (or is not in the range). */
  release(ip: string): boolean {
    const i = this.offsetOf(ip);
    return i >= 0 && this.#bitmap.release(i);
  }

  /** Frees everything. */
  reset(): void {
    this.#bitmap.reset();
  }

  /** Calls `fn` with every allocated address, in order. */
  forEach(fn: (ip: string) => void): void {
    this.#bitmap.forEach((i) => fn(this.#format(i)));
  }

  #format(offset: number): string {
    return formatIP({ family: this.family, value: this.#base + BigInt(offset) });
  }
}
