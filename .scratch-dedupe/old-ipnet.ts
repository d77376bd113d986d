/**
 * IP addresses, CIDRs and address ranges: the address math every allocator shares (Service
 * ClusterIPs and load-balancer pools, node IPAM, the CNI IPAM plugins).
 *
 * Parsing and validation go through `ip-num` (both families, bigint values) and `netmask` (fast
 * IPv4 long conversion); printing follows Go's `net.IP.String()`, which is what Kubernetes writes
 * into objects: dotted quads for IPv4 (also for IPv4-mapped IPv6 input) and RFC 5952 text for
 * IPv6 (lower case, longest run of two or more zero groups folded into `::`).
 *
 * Every address is an {@link IPAddress}: its family and its value as a bigint, so arithmetic and
 * comparison work the same for both families.
 */

import { IPv6, Validator } from 'ip-num';
import netmask from 'netmask';
import { BadRequestError } from '../lib/core/errors.js';

const { ip2long, long2ip } = netmask;

/** The IP family, spelled as core/v1 `IPFamily`. */
export type IPFamily = 'IPv4' | 'IPv6';

/** A parsed IP address. */
export interface IPAddress {
  readonly family: IPFamily;
  /** The address as an unsigned integer (32 or 128 bits). */
  readonly value: bigint;
}

/** A parsed CIDR, host bits cleared (as Go's `net.ParseCIDR` returns the network). */
export interface CIDR {
  readonly family: IPFamily;
  /** The network address. */
  readonly base: bigint;
  readonly prefix: number;
  /** 32 or 128. */
  readonly bits: number;
  /** Number of addresses, network and broadcast included. */
  readonly size: bigint;
  /** Canonical text, e.g. `10.96.0.0/12`, `fd00:10:96::/112`. */
  readonly text: string;
}

/** An inclusive range of addresses of one family: a CIDR or `first-last`. */
export interface IPRange {
  readonly family: IPFamily;
  readonly first: bigint;
  readonly last: bigint;
  /** Number of addresses in the range. */
  readonly size: bigint;
  /** The text it was given as (canonicalized). */
  readonly text: string;
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAX_V4 = 0xffffffffn;

/** The number of bits in an address of the family. */
export function familyBits(family: IPFamily): number {
  return family === 'IPv4' ? 32 : 128;
}

/**
 * Parses an IP address the way Go's `net.ParseIP` does (no leading zeros in IPv4 octets, no
 * zones, no brackets). An IPv4-mapped IPv6 address is an IPv4 address, as in Kubernetes
 * (`netutils.IsIPv6` is false for it). Returns undefined for anything else.
 */
export function parseIP(text: string): IPAddress | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 45) return undefined;
  if (IPV4_RE.test(text)) return { family: 'IPv4', value: BigInt(ip2long(text) >>> 0) };
  if (!text.includes(':') || text.includes('%') || text.includes('/')) return undefined;
  if (!Validator.isValidIPv6String(text)[0]) return undefined;
  let value: bigint;
  try {
    value = IPv6.fromString(text).value;
  } catch {
    return undefined;
  }
  if (value >> 32n === 0xffffn) return { family: 'IPv4', value: value & MAX_V4 };
  return { family: 'IPv6', value };
}

/** Like {@link parseIP}, but throws {@link BadRequestError} as Go's parsers word it. */
export function mustParseIP(text: string): IPAddress {
  const ip = parseIP(text);
  if (!ip) throw new BadRequestError(`ParseIP(${JSON.stringify(text)}): invalid IP address`);
  return ip;
}

/** True if the text is an IP address. */
export function isIP(text: string): boolean {
  return parseIP(text) !== undefined;
}

/** The family of an address text, or undefined if it is not an address. */
export function ipFamilyOf(text: string): IPFamily | undefined {
  return parseIP(text)?.family;
}

/** The other family. */
export function otherFamily(family: IPFamily): IPFamily {
  return family === 'IPv4' ? 'IPv6' : 'IPv4';
}

/** Prints an address as Go's `net.IP.String()` does. */
export function formatIP(ip: IPAddress): string {
  if (ip.family === 'IPv4') return long2ip(Number(ip.value & MAX_V4));
  return formatIPv6(ip.value);
}

/** The canonical text of an address text (`fd00:0:0::01` → `fd00::1`), or undefined. */
export function canonicalIP(text: string): string | undefined {
  const ip = parseIP(text);
  return ip && formatIP(ip);
}

/** An address of `family` with integer value `value`. */
export function ipFromValue(family: IPFamily, value: bigint): IPAddress {
  const max = (1n << BigInt(familyBits(family))) - 1n;
  if (value < 0n || value > max) throw new RangeError(`${value} is not a valid ${family} address value`);
  return { family, value };
}

function formatIPv6(value: bigint): string {
  if (value >> 32n === 0xffffn) {
    // IPv4-mapped: Go prints the IPv4 form.
    return long2ip(Number(value & MAX_V4));
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // Longest run of two or more zero groups; the first one wins a tie (RFC 5952 4.2.3).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number) => g.toString(16);
  if (bestStart < 0) return groups.map(hex).join(':');
  const head = groups.slice(0, bestStart).map(hex).join(':');
  const tail = groups.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

/**
 * Parses a CIDR (`10.96.0.0/12`, `fd00:10:96::/112`). Host bits are cleared, as Go's
 * `net.ParseCIDR` does for the network it returns. Returns undefined if it is not a CIDR.
 */
export function parseCIDR(text: string): CIDR | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const ip = parseIP(addr);
  if (!ip) return undefined;
  // An IPv4-mapped IPv6 network keeps IPv6 prefix semantics in Go; podnet refuses it as ambiguous.
  if (ip.family === 'IPv4' && addr.includes(':')) return undefined;
  const bits = familyBits(ip.family);
  if (prefix > bits) return undefined;
  const hostBits = BigInt(bits - prefix);
  const base = (ip.value >> hostBits) << hostBits;
  const canonical = `${formatIP({ family: ip.family, value: base })}/${prefix}`;
  const valid = ip.family === 'IPv4' ? Validator.isValidIPv4CidrNotation(canonical) : Validator.isValidIPv6CidrNotation(canonical);
  if (!valid[0]) return undefined;
  return { family: ip.family, base, prefix, bits, size: 1n << hostBits, text: canonical };
}

/** Like {@link parseCIDR}, but throws {@link BadRequestError} with Go's wording. */
export function mustParseCIDR(text: string): CIDR {
  const cidr = parseCIDR(text);
  if (!cidr) throw new BadRequestError(`invalid CIDR address: ${text}`);
  return cidr;
}

/** True if the text is a CIDR. */
export function isCIDR(text: string): boolean {
  return parseCIDR(text) !== undefined;
}

/** Whether `ip` (parsed or text) is inside the CIDR or range. */
export function contains(net: CIDR | IPRange, ip: IPAddress | string): boolean {
  const addr = typeof ip === 'string' ? parseIP(ip) : ip;
  if (!addr || addr.family !== net.family) return false;
  const { first, last } = bounds(net);
  return addr.value >= first && addr.value <= last;
}

/** The first and last address of a CIDR or range. */
export function bounds(net: CIDR | IPRange): { first: bigint; last: bigint } {
  if ('base' in net) return { first: net.base, last: net.base + net.size - 1n };
  return { first: net.first, last: net.last };
}

/**
 * The address `n` places after the network address: `nthAddress(10.96.0.0/12, 1)` is
 * `10.96.0.1` (what `GetIndexedIP` computes for the kubernetes Service). Negative `n` counts
 * back from the last address (-1 is the broadcast address). Throws RangeError outside the CIDR.
 */
export function nthAddress(net: CIDR | IPRange, n: number | bigint): IPAddress {
  const { first, last } = bounds(net);
  const i = BigInt(n);
  const value = i >= 0n ? first + i : last + 1n + i;
  if (value < first || value > last) throw new RangeError(`index ${n} is outside ${net.text}`);
  return { family: net.family, value };
}

/** How far `ip` lies from the start of the CIDR or range, or undefined if outside. */
export function offsetOf(net: CIDR | IPRange, ip: IPAddress | string): bigint | undefined {
  const addr = typeof ip === 'string' ? parseIP(ip) : ip;
  if (!addr || !contains(net, addr)) return undefined;
  return addr.value - bounds(net).first;
}

/** `ip + n`, or undefined if it leaves the family's address space. */
export function addToIP(ip: IPAddress, n: number | bigint): IPAddress | undefined {
  const value = ip.value + BigInt(n);
  const max = (1n << BigInt(familyBits(ip.family))) - 1n;
  return value < 0n || value > max ? undefined : { family: ip.family, value };
}

/**
 * Compares two addresses (text or parsed): IPv4 before IPv6, then by value. Unparseable text
 * sorts last, by string. Usable as an `Array.prototype.sort` comparator.
 */
export function compareIPs(a: IPAddress | string, b: IPAddress | string): number {
  const pa = typeof a === 'string' ? parseIP(a) : a;
  const pb = typeof b === 'string' ? parseIP(b) : b;
  if (!pa || !pb) {
    if (pa) return -1;
    if (pb) return 1;
    return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  }
  if (pa.family !== pb.family) return pa.family === 'IPv4' ? -1 : 1;
  return pa.value < pb.value ? -1 : pa.value > pb.value ? 1 : 0;
}

/** Whether two CIDRs or ranges share any address. */
export function overlaps(a: CIDR | IPRange, b: CIDR | IPRange): boolean {
  if (a.family !== b.family) return false;
  const x = bounds(a);
  const y = bounds(b);
  return x.first <= y.last && y.first <= x.last;
}

/**
 * Parses an address range: a CIDR (`172.18.255.0/24`), `first-last`
 * (`172.18.255.200-172.18.255.250`, as MetalLB pools are written) or a single address.
 * Returns undefined if malformed, of mixed families, or reversed.
 */
export function parseIPRange(text: string): IPRange | undefined {
  if (typeof text !== 'string') return undefined;
  const trimmed = text.trim();
  if (trimmed.includes('/')) {
    const cidr = parseCIDR(trimmed);
    return cidr && { family: cidr.family, first: cidr.base, last: cidr.base + cidr.size - 1n, size: cidr.size, text: cidr.text };
  }
  const dash = trimmed.indexOf('-');
  const firstText = dash < 0 ? trimmed : trimmed.slice(0, dash).trim();
  const lastText = dash < 0 ? trimmed : trimmed.slice(dash + 1).trim();
  const first = parseIP(firstText);
  const last = parseIP(lastText);
  if (!first || !last || first.family !== last.family || first.value > last.value) return undefined;
  const rangeText = dash < 0 ? formatIP(first) : `${formatIP(first)}-${formatIP(last)}`;
  return { family: first.family, first: first.value, last: last.value, size: last.value - first.value + 1n, text: rangeText };
}

/** Like {@link parseIPRange}, but throws {@link BadRequestError}. */
export function mustParseIPRange(text: string): IPRange {
  const range = parseIPRange(text);
  if (!range) throw new BadRequestError(`invalid IP range: ${text} (want a CIDR or first-last)`);
  return range;
}

/**
 * Iterates the addresses of a CIDR or range in order, optionally from an offset and at most
 * `limit` of them. Lazy: iterating a /64 is fine as long as the caller stops.
 */
export function* addresses(net: CIDR | IPRange, options: { from?: bigint | number; limit?: number } = {}): Generator<IPAddress> {
  const { first, last } = bounds(net);
  let v = first + BigInt(options.from ?? 0);
  let left = options.limit ?? Infinity;
  for (; v <= last && left > 0; v++, left--) yield { family: net.family, value: v };
}

/** Subnet `index` of size /`prefix` inside `net` (node IPAM: the i-th /24 of a /16). */
export function subnet(net: CIDR, prefix: number, index: number | bigint): CIDR {
  if (prefix < net.prefix || prefix > net.bits) throw new RangeError(`/${prefix} does not fit in ${net.text}`);
  const count = 1n << BigInt(prefix - net.prefix);
  const i = BigInt(index);
  if (i < 0n || i >= count) throw new RangeError(`subnet ${index} of /${prefix} is outside ${net.text}`);
  const size = 1n << BigInt(net.bits - prefix);
  const base = net.base + i * size;
  return { family: net.family, base, prefix, bits: net.bits, size, text: `${formatIP({ family: net.family, value: base })}/${prefix}` };
}
