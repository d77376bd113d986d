/**
 * host-local IPAM (containernetworking/plugins ipam/host-local): addresses from configured
 * range sets, one per family, handed out round-robin after the last reserved address, with the
 * gateway and the network and broadcast addresses never handed out. Reservations are kept per
 * network name and attachment (container id, interface) in a {@link HostLocalStore}:
 *
 * - {@link MemoryStore}: in memory, one per node, for the in-process cluster;
 * - {@link DirectoryStore}: upstream's disk backend, so that separate invocations of a standalone
 *   plugin share state: `<dataDir>/<network>/<ip>` holding `<containerID>\r\n<ifname>`,
 *   `last_reserved_ip.<range set index>` holding the last address handed out, and a `lock` file.
 *
 * Requested addresses come from `runtimeConfig.ips` (the `ips` capability) or `IP=` in
 * CNI_ARGS; a second ADD for the same container and interface is refused, as upstream does
 * ("duplicate allocation is not allowed in SPEC").
 */

import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import { addToIP, bounds, contains, formatIP, ipFromValue, mustParseCIDR, parseCIDR, parseIP, type CIDR, type IPAddress } from '../../lib/core/ipnet.js';
import { CniError, CniErrorCode, type CniInvocation, type CniIpConfig, type CniRoute, type GcAttachment, type IpamRange, type NetConf } from '../cni/spec.js';

/** One resolved range of a range set. */
interface Range {
  subnet: CIDR;
  start: IPAddress;
  end: IPAddress;
  gateway: IPAddress | undefined;
}

/** The attachment a reservation belongs to (the SPEC's `(CNI_CONTAINERID, CNI_IFNAME)`). */
export interface Attachment {
  containerId: string;
  /** Undefined for reservations written before host-local recorded the interface. */
  ifName?: string;
}

/**
 * Where host-local keeps one network's reservations (upstream's `backend.Store`). Addresses are
 * in their canonical text form.
 */
export interface HostLocalStore {
  /** Runs `fn` holding the network's lock, as every host-local command does. */
  withLock<T>(fn: () => T): T;
  /**
   * Reserves `ip` for the attachment and records it as the last address of range set
   * `rangeSet`. False if another attachment holds it; re-reserving an address the same
   * attachment holds succeeds (a static request replayed after a restart).
   */
  reserve(owner: Attachment, ip: string, rangeSet: number): boolean;
  /** The last address reserved in range set `rangeSet`. */
  lastReserved(rangeSet: number): string | undefined;
  /** The attachment holding `ip`. */
  holder(ip: string): Attachment | undefined;
  /** Releases one address. */
  release(ip: string): void;
  /** Every reservation. */
  entries(): [ip: string, owner: Attachment][];
}

/** Upstream's on-disk separator between container id and interface name. */
const LINE_BREAK = '\r\n';
const LAST_IP_PREFIX = 'last_reserved_ip.';
/** host-local's default `dataDir`. */
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

function ownerKey(a: Attachment): string {
  return `${a.containerId.trim()}${LINE_BREAK}${a.ifName ?? ''}`;
}

/**
 * Whether a stored reservation belongs to an attachment. A reservation without an interface
 * name (upstream's pre-0.7 format, the container id alone) matches on the container id.
 */
function sameAttachment(stored: Attachment, a: Attachment): boolean {
  return stored.containerId === a.containerId.trim() && (stored.ifName === undefined || stored.ifName === a.ifName);
}

function parseOwner(text: string): Attachment {
  const i = text.indexOf(LINE_BREAK);
  return i < 0 ? { containerId: text.trim() } : { containerId: text.slice(0, i).trim(), ifName: text.slice(i + LINE_BREAK.length).trim() };
}

/** Reservations in memory: one node's host-local state in the in-process cluster. */
export class MemoryStore implements HostLocalStore {
  readonly #reserved = new Map<string, Attachment>();
  readonly #last = new Map<number, string>();

  withLock<T>(fn: () => T): T {
    return fn();
  }

  reserve(owner: Attachment, ip: string, rangeSet: number): boolean {
    const held = this.#reserved.get(ip);
    if (held && !sameAttachment(held, owner)) return false;
    this.#reserved.set(ip, { containerId: owner.containerId.trim(), ifName: owner.ifName });
    this.#last.set(rangeSet, ip);
    return true;
  }

  lastReserved(rangeSet: number): string | undefined {
    return this.#last.get(rangeSet);
  }

  holder(ip: string): Attachment | undefined {
    return this.#reserved.get(ip);
  }

  release(ip: string): void {
    this.#reserved.delete(ip);
  }

  entries(): [string, Attachment][] {
    return [...this.#reserved];
  }
}

/** Options of a {@link DirectoryStore}. */
export interface DirectoryStoreOptions {
  /** How long to wait for another invocation's lock before answering "try again later". */
  lockTimeoutMs?: number;
  /** Whether a process id is alive (to break a lock its holder left behind); injectable for tests. */
  isAlive?: (pid: number) => boolean;
}

/**
 * upstream's disk backend (`backend/disk`): `<dataDir>/<network>/` holds one file per reserved
 * address, named by the address and holding `<containerID>\r\n<ifname>`, plus
 * `last_reserved_ip.<range set index>` and `lock`.
 *
 * Upstream takes flock(2) on a `lock` file that stays in place; Node has no flock, so here the
 * lock is the exclusive creation of `lock` holding the holder's pid, removed on unlock. A lock
 * whose holder is gone is broken; one held longer than `lockTimeoutMs` is a "try again later"
 * (code 11).
 */
export class DirectoryStore implements HostLocalStore {
  /** The network's directory. */
  readonly dir: string;
  readonly #lockTimeoutMs: number;
  readonly #isAlive: (pid: number) => boolean;
  #depth = 0;

  constructor(dataDir: string, network: string, options: DirectoryStoreOptions = {}) {
    this.dir = join(dataDir, network);
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.#isAlive = options.isAlive ?? pidAlive;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new CniError(CniErrorCode.IoFailure, `failed to create host-local data directory ${this.dir}`, (err as Error).message);
    }
  }

  withLock<T>(fn: () => T): T {
    if (this.#depth > 0) return fn();
    this.#lock();
    this.#depth++;
    try {
      return fn();
    } finally {
      this.#depth--;
      rmSync(join(this.dir, 'lock'), { force: true });
    }
  }

  #lock(): void {
    const path = join(this.dir, 'lock');
    const deadline = Date.now() + this.#lockTimeoutMs;
    for (;;) {
      try {
        const fd = openSync(path, 'wx', 0o644);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = Number(readText(path));
      if (Number.isInteger(holder) && holder > 0 && !this.#isAlive(holder)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw new CniError(CniErrorCode.TryAgainLater, `host-local: timed out waiting for the lock on ${this.dir}`, `held by pid ${holder || 'unknown'}`);
      }
      sleep(10);
    }
  }

  reserve(owner: Attachment, ip: string, rangeSet: number): boolean {
    const path = join(this.dir, ip);
    try {
      writeFileSync(path, ownerKey(owner), { flag: 'wx', mode: 0o644 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const held = this.holder(ip);
      if (!held || !sameAttachment(held, owner)) return false;
    }
    writeFileSync(join(this.dir, `${LAST_IP_PREFIX}${rangeSet}`), ip, { mode: 0o644 });
    return true;
  }

  lastReserved(rangeSet: number): string | undefined {
    return readText(join(this.dir, `${LAST_IP_PREFIX}${rangeSet}`))?.trim() || undefined;
  }

  holder(ip: string): Attachment | undefined {
    const text = readText(join(this.dir, ip));
    return text === undefined ? undefined : parseOwner(text);
  }

  release(ip: string): void {
    rmSync(join(this.dir, ip), { force: true });
  }

  entries(): [string, Attachment][] {
    const out: [string, Attachment][] = [];
    for (const name of readdirSync(this.dir)) {
      // Only files named by an address are reservations (not `lock`, not `last_reserved_ip.N`).
      const ip = parseIP(name);
      if (!ip || formatIP(ip) !== name) continue;
      const text = readText(join(this.dir, name));
      if (text !== undefined) out.push([name, parseOwner(text)]);
    }
    return out;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
function sleep(ms: number): void {
  Atomics.wait(SLEEPER, 0, 0, ms);
}

/** The result of an IPAM ADD. */
export interface IpamResult {
  ips: CniIpConfig[];
  routes: CniRoute[];
}

/** What host-local reads of a network configuration: its name and `ipam` section. */
export type IpamConf = Pick<NetConf, 'name' | 'ipam' | 'runtimeConfig'>;

/** Options of {@link HostLocalIpam}. */
export interface HostLocalOptions {
  /**
   * The store for a network and the configuration's `ipam.dataDir`; a {@link MemoryStore} per
   * network unless given.
   */
  store?: (network: string, dataDir: string | undefined) => HostLocalStore;
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
  readonly #factory: (network: string, dataDir: string | undefined) => HostLocalStore;

  constructor(options: HostLocalOptions = {}) {
    this.#factory = options.store ?? (() => new MemoryStore());
  }

  #store(conf: Pick<NetConf, 'name' | 'ipam'>): HostLocalStore {
    const dataDir = typeof conf.ipam?.dataDir === 'string' && conf.ipam.dataDir ? conf.ipam.dataDir : undefined;
    const key = `${dataDir ?? ''}\0${conf.name}`;
    let s = this.#stores.get(key);
    if (!s) this.#stores.set(key, (s = this.#factory(conf.name, dataDir)));
    return s;
  }

  #rangeSets(conf: IpamConf): Range[][] {
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
  add(inv: Pick<CniInvocation, 'containerId' | 'ifName' | 'args'>, conf: IpamConf): IpamResult {
    const sets = this.#rangeSets(conf);
    const store = this.#store(conf);
    const owner: Attachment = { containerId: inv.containerId, ifName: inv.ifName };
    const requested = [...(conf.runtimeConfig?.ips ?? []), ...(inv.args.IP ? inv.args.IP.split(',') : [])].map((s) => s.split('/')[0]!.trim());
    return store.withLock(() => {
      const taken: string[] = [];
      const ips: CniIpConfig[] = [];
      const rollback = () => {
        for (const t of taken) store.release(t);
      };
      try {
        sets.forEach((set, index) => {
          const want = requested.map((t) => parseIP(t)).find((ip) => ip && set.some((r) => inRange(r, ip)));
          let ip: IPAddress;
          if (want) {
            const text = formatIP(want);
            if (set.some((r) => r.gateway && r.gateway.value === want.value)) {
              throw new CniError(CniErrorCode.InvalidNetworkConfig, `requested IP address ${text} is the gateway of range set ${rangeSetText(set)}`);
            }
            if (!store.reserve(owner, text, index)) {
              throw new CniError(CniErrorCode.TryAgainLater, `requested IP address ${text} is not available in range set ${rangeSetText(set)}`);
            }
            ip = want;
          } else {
            for (const [ipText, holder] of store.entries()) {
              const existing = parseIP(ipText)!;
              if (sameAttachment(holder, owner) && set.some((r) => inRange(r, existing))) {
                throw new CniError(CniErrorCode.InvalidNetworkConfig, `${ipText} has been allocated to ${inv.containerId}, duplicate allocation is not allowed`);
              }
            }
            ip = this.#next(set, store, index, owner);
          }
          const text = formatIP(ip);
          taken.push(text);
          const r = set.find((candidate) => inRange(candidate, ip))!;
          ips.push({ address: `${text}/${r.subnet.prefix}`, ...(r.gateway ? { gateway: formatIP(r.gateway) } : {}) });
        });
      } catch (err) {
        rollback();
        throw err;
      }
      const unmatched = requested.filter((t) => !ips.some((ip) => ip.address.startsWith(`${t}/`)));
      if (unmatched.length) {
        rollback();
        throw new CniError(CniErrorCode.InvalidNetworkConfig, `requested IP address ${unmatched[0]} is not in any configured range`);
      }
      const routes = (conf.ipam?.routes ?? []) as CniRoute[];
      return { ips, routes };
    });
  }

  #next(set: Range[], store: HostLocalStore, index: number, owner: Attachment): IPAddress {
    // Round-robin: begin after the last reserved address, wrap once through the whole set.
    const last = store.lastReserved(index);
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
        const gateway = r.gateway && r.gateway.value === cursor.value;
        if (!gateway && store.reserve(owner, formatIP(cursor), index)) return cursor;
        cursor = addToIP(cursor, 1);
      }
    }
    throw new CniError(CniErrorCode.TryAgainLater, `no IP addresses available in range set: ${rangeSetText(set)}`);
  }

  /** DEL: releases whatever the container holds on that interface; unknown containers succeed. */
  del(inv: Pick<CniInvocation, 'containerId' | 'ifName'>, conf: Pick<NetConf, 'name' | 'ipam'>): void {
    const store = this.#store(conf);
    const owner: Attachment = { containerId: inv.containerId, ifName: inv.ifName };
    store.withLock(() => {
      for (const [ip, holder] of store.entries()) if (sameAttachment(holder, owner)) store.release(ip);
    });
  }

  /**
   * CHECK: the container must still hold its addresses — the `expected` ones (from the
   * `prevResult`), or at least one when none are named, as upstream checks.
   */
  check(inv: Pick<CniInvocation, 'containerId' | 'ifName'>, conf: Pick<NetConf, 'name' | 'ipam'>, expected: string[] = []): void {
    const store = this.#store(conf);
    const owner: Attachment = { containerId: inv.containerId, ifName: inv.ifName };
    const missing = () => new CniError(CniErrorCode.UnknownContainer, `host-local: Failed to find address added by container ${inv.containerId}`);
    store.withLock(() => {
      if (!expected.length && !store.entries().some(([, holder]) => sameAttachment(holder, owner))) throw missing();
      for (const ip of expected) {
        const holder = store.holder(ip);
        if (!holder || !sameAttachment(holder, owner)) throw missing();
      }
    });
  }

  /**
   * GC (CNI 1.1.0): releases every reservation whose attachment is not in `valid`, leaving the
   * lock and the last-reserved bookkeeping alone.
   */
  gc(conf: Pick<NetConf, 'name' | 'ipam'>, valid: readonly GcAttachment[]): string[] {
    const store = this.#store(conf);
    const keep = valid.map((a) => ({ containerId: a.containerID, ifName: a.ifname }));
    return store.withLock(() => {
      const released: string[] = [];
      for (const [ip, holder] of store.entries()) {
        if (keep.some((a) => sameAttachment(holder, a))) continue;
        store.release(ip);
        released.push(ip);
      }
      return released;
    });
  }

  /** STATUS (CNI 1.1.0): the store can be opened (for a directory store, its directory exists). */
  status(conf: Pick<NetConf, 'name' | 'ipam'>): void {
    this.#store(conf);
  }

  /** Addresses currently reserved in a network, as `containerId\nifName` (for inspection and tests). */
  reservations(network: string, dataDir?: string): ReadonlyMap<string, string> {
    const store = this.#store({ name: network, ...(dataDir ? { ipam: { type: 'host-local', dataDir } } : {}) });
    return new Map(store.entries().map(([ip, a]) => [ip, `${a.containerId}\n${a.ifName ?? ''}`]));
  }
}

/** A {@link HostLocalOptions.store} that keeps every network on disk under its `dataDir`. */
export function directoryStores(options: DirectoryStoreOptions = {}): (network: string, dataDir: string | undefined) => HostLocalStore {
  return (network, dataDir) => new DirectoryStore(dataDir ?? DEFAULT_DATA_DIR, network, options);
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
