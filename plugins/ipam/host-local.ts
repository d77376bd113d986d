/**
 * host-local IPAM (containernetworking/plugins ipam/host-local): addresses from configured
 * range sets, one per family, handed out round-robin after the last reserved address, with the
 * gateway and the network and broadcast addresses never handed out. Reservations are kept per
 * network name and (container id, interface), as the plugin's files under
 * /var/lib/cni/networks/<name>/ keep them — here in memory, one {@link HostLocalStore} per node.
 *
 * Requested addresses come from `runtimeConfig.ips` (the `ips` capability) or `IP=` in
 * CNI_ARGS; a second ADD for the same container and interface is refused, as upstream does
 * ("duplicate allocation is not allowed in SPEC").
 */

import { addToIP, bounds, contains, formatIP, ipFromValue, mustParseCIDR, parseCIDR, parseIP, type CIDR, type IPAddress } from '../../lib/core/ipnet.js';
import { CniError, CniErrorCode, type CniInvocation, type CniIpConfig, type CniRoute, type IpamRange, type NetConf } from '../cni/spec.js';

/** One resolved range of a range set. */
interface Range {
  subnet: CIDR;
  start: IPAddress;
  end: IPAddress;
  gateway: IPAddress | undefined;
}

/** The reservations of one network (upstream's disk store for `<dataDir>/<name>`). */
export class HostLocalStore {
  /** IP text → `containerId\nifName`. */
  readonly reserved = new Map<string, string>();
  /** Range set index → last reserved IP. */
  readonly lastReserved = new Map<number, string>();
}

/** The result of an IPAM ADD. */
export interface IpamResult {
  ips: CniIpConfig[];
  routes: CniRoute[];
}

function resolveRange(r: IpamRange, path: string): Range {
  const subnet = parseCIDR(r.subnet);
  if (!subnet) throw new CniError(CniErrorCode.InvalidNetworkConfig, `invalid CIDR ${r.subnet} in ${path}.subnet`);
  const { first, last } = bounds(subnet);
  const v4 = subnet.family === 'IPv4';
  // Network address never; IPv4 broadcast never.
  const defaultStart = ipFromValue(subnet.family, first + 1n);
  const defaultEnd = ipFromValue(subnet.family, v4 && subnet.prefix < 31 ? last - 1n : last);
  const parse = (text: string | undefined, field: string): IPAddress | undefined => {
    if (text === undefined) return undefined;
    const ip = parseIP(text);
    if (!ip || !contains(subnet, ip)) {
      throw new CniError(CniErrorCode.InvalidNetworkConfig, `${path}.${field} ${text} not in network ${subnet.text}`);
    }
    return ip;
  };
  const start = parse(r.rangeStart, 'rangeStart') ?? defaultStart;
  const end = parse(r.rangeEnd, 'rangeEnd') ?? defaultEnd;
  const gateway = parse(r.gateway, 'gateway') ?? defaultStart;
  if (start.value > end.value) throw new CniError(CniErrorCode.InvalidNetworkConfig, `${path}: rangeStart is after rangeEnd`);
  return { subnet, start, end, gateway };
}

function rangeSetText(set: Range[]): string {
  return set.map((r) => `${formatIP(r.start)}-${formatIP(r.end)}`).join(',');
}

/** Runs host-local IPAM for one invocation. */
export class HostLocalIpam {
  readonly #stores = new Map<string, HostLocalStore>();

  #store(network: string): HostLocalStore {
    let s = this.#stores.get(network);
    if (!s) this.#stores.set(network, (s = new HostLocalStore()));
    return s;
  }

  #rangeSets(conf: NetConf): Range[][] {
    const ranges = conf.ipam?.ranges;
    if (!Array.isArray(ranges) || !ranges.length) {
      throw new CniError(CniErrorCode.InvalidNetworkConfig, 'no IP ranges specified');
    }
    return ranges.map((set, i) => {
      if (!Array.isArray(set) || !set.length) throw new CniError(CniErrorCode.InvalidNetworkConfig, `ranges[${i}] is empty`);
      return set.map((r, j) => resolveRange(r, `ranges[${i}][${j}]`));
    });
  }

  /** ADD: one address from every range set. */
  add(inv: Pick<CniInvocation, 'containerId' | 'ifName' | 'args'>, conf: NetConf): IpamResult {
    const sets = this.#rangeSets(conf);
    const store = this.#store(conf.name);
    const owner = `${inv.containerId}\n${inv.ifName}`;
    const requested = [...(conf.runtimeConfig?.ips ?? []), ...(inv.args.IP ? inv.args.IP.split(',') : [])].map((s) => s.split('/')[0]!.trim());
    const taken: string[] = [];
    const ips: CniIpConfig[] = [];
    try {
      sets.forEach((set, index) => {
        const want = requested.map((t) => parseIP(t)).find((ip) => ip && set.some((r) => inRange(r, ip)));
        let ip: IPAddress;
        const range = (addr: IPAddress) => set.find((r) => inRange(r, addr))!;
        if (want) {
          const text = formatIP(want);
          const holder = store.reserved.get(text);
          if (holder !== undefined && holder !== owner) {
            throw new CniError(CniErrorCode.TryAgainLater, `requested IP address ${text} is not available in range set ${rangeSetText(set)}`);
          }
          if (set.some((r) => r.gateway && r.gateway.value === want.value)) {
            throw new CniError(CniErrorCode.InvalidNetworkConfig, `requested IP address ${text} is the gateway of range set ${rangeSetText(set)}`);
          }
          ip = want;
        } else {
          for (const [ipText, holder] of store.reserved) {
            const existing = parseIP(ipText)!;
            if (holder === owner && set.some((r) => inRange(r, existing))) {
              throw new CniError(CniErrorCode.InvalidNetworkConfig, `${ipText} has been allocated to ${inv.containerId}, duplicate allocation is not allowed`);
            }
          }
          ip = this.#next(set, store, index);
        }
        const text = formatIP(ip);
        store.reserved.set(text, owner);
        store.lastReserved.set(index, text);
        taken.push(text);
        const r = range(ip);
        ips.push({ address: `${text}/${r.subnet.prefix}`, ...(r.gateway ? { gateway: formatIP(r.gateway) } : {}) });
      });
    } catch (err) {
      for (const t of taken) store.reserved.delete(t);
      throw err;
    }
    const unmatched = requested.filter((t) => !ips.some((ip) => ip.address.startsWith(`${t}/`)));
    if (unmatched.length) {
      for (const t of taken) store.reserved.delete(t);
      throw new CniError(CniErrorCode.InvalidNetworkConfig, `requested IP address ${unmatched[0]} is not in any configured range`);
    }
    const routes = (conf.ipam?.routes ?? []) as CniRoute[];
    return { ips, routes };
  }

  #next(set: Range[], store: HostLocalStore, index: number): IPAddress {
    // Round-robin: begin after the last reserved address, wrap once through the whole set.
    const last = store.lastReserved.get(index);
    const lastIp = last ? parseIP(last) : undefined;
    let startRange = 0;
    if (lastIp) startRange = Math.max(0, set.findIndex((r) => inRange(r, lastIp)));
    for (let k = 0; k <= set.length; k++) {
      const r = set[(startRange + k) % set.length]!;
      let cursor: IPAddress | undefined = r.start;
      if (k === 0 && lastIp && inRange(r, lastIp)) cursor = addToIP(lastIp, 1);
      const stopAt = k === set.length ? lastIp : undefined;
      while (cursor && cursor.value <= r.end.value) {
        if (stopAt && cursor.value > stopAt.value) break;
        const text = formatIP(cursor);
        if (!store.reserved.has(text) && !(r.gateway && r.gateway.value === cursor.value)) return cursor;
        cursor = addToIP(cursor, 1);
      }
    }
    throw new CniError(CniErrorCode.TryAgainLater, `no IP addresses available in range set: ${rangeSetText(set)}`);
  }

  /** DEL: releases whatever the container holds on that interface; unknown containers succeed. */
  del(inv: Pick<CniInvocation, 'containerId' | 'ifName'>, conf: Pick<NetConf, 'name'>): void {
    const store = this.#store(conf.name);
    const owner = `${inv.containerId}\n${inv.ifName}`;
    for (const [ip, holder] of [...store.reserved]) if (holder === owner) store.reserved.delete(ip);
  }

  /** CHECK: the container must still hold its addresses. */
  check(inv: Pick<CniInvocation, 'containerId' | 'ifName'>, conf: Pick<NetConf, 'name'>, expected: string[]): void {
    const store = this.#store(conf.name);
    const owner = `${inv.containerId}\n${inv.ifName}`;
    for (const ip of expected) {
      if (store.reserved.get(ip) !== owner) {
        throw new CniError(CniErrorCode.UnknownContainer, `host-local: Failed to find address added by container ${inv.containerId}`);
      }
    }
  }

  /** Addresses currently reserved in a network (for inspection and tests). */
  reservations(network: string): ReadonlyMap<string, string> {
    return this.#store(network).reserved;
  }
}

function inRange(r: Range, ip: IPAddress): boolean {
  return ip.family === r.subnet.family && ip.value >= r.start.value && ip.value <= r.end.value;
}

/** A range set covering a whole podCIDR, gateway first, as flannel writes it for host-local. */
export function rangeForSubnet(cidr: string): IpamRange {
  const subnet = mustParseCIDR(cidr);
  const gateway = formatIP(ipFromValue(subnet.family, bounds(subnet).first + 1n));
  return { subnet: subnet.text, gateway };
}
