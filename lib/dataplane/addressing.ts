/**
 * How virtual addresses become real ones: podnet's addressing conventions, written once.
 *
 * Pod, node, Service and load-balancer IPs are virtual (DESIGN invariant 2). Whatever carries real
 * bytes for them — a pod sandbox, a node, a load-balancer listener — gets its own IPv4 loopback
 * address, and its ports get real ports on that address, without root (invariant 3):
 *
 * **Loopback addresses** ({@link LoopbackAllocator})
 * - `127.0.0.0/16` is the host's: podnet's API server listens on `127.0.0.1`
 *   ({@link API_SERVER_LOOPBACK}), and the user's own services (a stub resolver on `127.0.0.53`,
 *   ...) live there too. No sandbox is ever mapped into it.
 * - The natural mapping keeps the three low octets: `a.b.c.d → 127.b.c.d`, so pod `10.244.1.5`
 *   is `127.244.1.5` and node `172.18.0.2` is `127.18.0.2` — an address in `ss` or a packet
 *   capture says which pod it is.
 * - When the natural address is taken (`10.18.0.2` after `172.18.0.2`), falls in the host's
 *   `127.0.0.0/16` or in the fallback pool, the address takes the lowest free address of the
 *   fallback pool `127.255.0.0/16` ({@link FALLBACK_POOL}), counting up from `127.255.0.1`.
 *   Allocation is deterministic: the same allocations and releases, in the same order, give the
 *   same addresses.
 * - Virtual IPv6 addresses ride on IPv4 loopback too: the virtual family and the real transport are
 *   independent. An IPv6 address has no natural image in `127/8`, so an IPv6-only sandbox takes a
 *   fallback address; a dual-stack sandbox has one loopback address shared by both its IPs (its
 *   natural mapping comes from the IPv4 one).
 * - Linux routes all of `127.0.0.0/8` to `lo`, so every such address binds without setup. (macOS
 *   answers only on `127.0.0.1` unless others are aliased onto `lo0`.)
 *
 * **Ports** ({@link PortMapper}, one per loopback address; TCP and UDP are separate spaces)
 * - SCTP ports are mapped too, keyed by protocol like the others (SCTP 8080 and TCP 8080 of one
 *   pod are two mappings), but their real transport is TCP (lib/dataplane/sctp.ts): an SCTP
 *   port's real port is a *TCP* port, drawn from the same real port space as the pod's TCP ports,
 *   so SCTP 8080 next to TCP 8080 gets another real port (whichever is mapped first keeps 8080).
 * - A container port at or above the machine's unprivileged port start
 *   (`/proc/sys/net/ipv4/ip_unprivileged_port_start`, 1024 by default) keeps its number when that
 *   port is free on the sandbox's loopback address: 8080 is 8080.
 * - A port below it (80, 53, 443) — or one that is not free — is mapped to an unprivileged port:
 *   `10000 + port` when that is free (80 → 10080, 53 → 10053: readable, and the same run to run),
 *   otherwise one the kernel picks (bind to port 0), which is then kept. This holds as root too,
 *   so a run behaves the same whoever starts it.
 * - "Free" is probed by really binding the address and port (through the {@link SocketFactory},
 *   so the loopback guard applies), then closing.
 * - A second container of the same pod claiming a (port, protocol) already taken fails as its
 *   process would in a real pod, whose containers share one network namespace:
 *   `listen tcp 10.244.1.5:80: bind: address already in use` ({@link PortInUseError}).
 * - The map is visible: {@link PortMapper.entries} gives `{ "10.244.1.5:80/TCP":
 *   "127.244.1.5:10080" }`, the value of the {@link HOST_ADDRESSES_ANNOTATION} annotation
 *   (an `/SCTP` entry names a real TCP address: connect to it with TCP, framing each message as
 *   lib/dataplane/sctp.ts does).
 */

import { readFileSync } from 'node:fs';
import { IpamExhaustedError, PodnetError } from '../core/errors.js';
import { formatIP, parseIP } from '../core/ipnet.js';
import { assertLoopback, boundPort, createSocketFactory, type SocketFactory } from '../core/sockets.js';

/** The loopback address of podnet's API server. */
export const API_SERVER_LOOPBACK = '127.0.0.1';

/** The host's part of loopback: never mapped to a sandbox. */
export const HOST_RESERVED = '127.0.0.0/16';

/** Where addresses without a free natural mapping go, lowest first. */
export const FALLBACK_POOL = '127.255.0.0/16';

/** The pod annotation that shows a sandbox's port map. */
export const HOST_ADDRESSES_ANNOTATION = 'podnet.dev/host-addresses';

/** The offset tried first for a port below the unprivileged port start (80 → 10080). */
export const PRIVILEGED_PORT_OFFSET = 10000;

const LOOPBACK_NET = 127n << 24n;
const FALLBACK_FIRST = LOOPBACK_NET | (255n << 16n) | 1n; // 127.255.0.1
const FALLBACK_LAST = LOOPBACK_NET | (255n << 16n) | 0xfffen; // 127.255.255.254

function v4(value: bigint): string {
  return formatIP({ family: 'IPv4', value });
}

/** `host:port`, with brackets around an IPv6 host, as Go's `net.JoinHostPort`. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The canonical text of a virtual address, or a `PODNET_INVALID_ADDRESS` error. */
function canonicalVirtual(text: string): string {
  const ip = parseIP(text);
  if (!ip) throw new PodnetError('PODNET_INVALID_ADDRESS', `${JSON.stringify(text)} is not an IP address`);
  if (ip.value === 0n) throw new PodnetError('PODNET_INVALID_ADDRESS', `${text} is the unspecified address, not a virtual address`);
  if ((ip.family === 'IPv4' && ip.value >> 24n === 127n) || (ip.family === 'IPv6' && ip.value === 1n)) {
    throw new PodnetError('PODNET_INVALID_ADDRESS', `${text} is a loopback address, not a virtual address`);
  }
  return formatIP(ip);
}

/**
 * The natural loopback address of a virtual IPv4 address (`a.b.c.d → 127.b.c.d`), or undefined
 * when it would fall in {@link HOST_RESERVED} or {@link FALLBACK_POOL}, or the address is IPv6.
 */
export function naturalLoopback(virtual: string): string | undefined {
  const ip = parseIP(virtual);
  if (!ip || ip.family !== 'IPv4') return undefined;
  const second = (ip.value >> 16n) & 0xffn;
  if (second === 0n || second === 255n) return undefined;
  return v4(LOOPBACK_NET | (ip.value & 0xffffffn));
}

/** One loopback address and what it stands for. */
export interface LoopbackAllocation {
  /** The real IPv4 loopback address. */
  loopback: string;
  /** The virtual addresses mapped onto it (canonical text), in the order given. */
  virtuals: string[];
  /** Who holds it, for messages: `pod default/web-0`, `node kind-worker`. */
  owner: string;
}

/**
 * Maps virtual addresses (pod, node, load-balancer; IPv4 and IPv6) onto unique IPv4 loopback
 * addresses, following the conventions in this module's header. Lookups work both ways.
 */
export class LoopbackAllocator {
  /** loopback → allocation, in allocation order. */
  readonly #byLoopback = new Map<string, LoopbackAllocation>();
  /** virtual (canonical) → loopback. */
  readonly #byVirtual = new Map<string, string>();
  /** Lowest fallback address that may be free. */
  #fallbackLow = FALLBACK_FIRST;

  /**
   * Gives the virtual addresses (one, or a dual-stack pair) one loopback address and returns it.
   * Allocating addresses that are already mapped returns their loopback address (adding any
   * not yet mapped alongside); addresses mapped to two different loopback addresses, or held by
   * another owner, are refused with `PODNET_ADDRESS_IN_USE`.
   */
  allocate(virtual: string | readonly string[], owner = ''): string {
    const virtuals = [...new Set((typeof virtual === 'string' ? [virtual] : virtual).map(canonicalVirtual))];
    if (virtuals.length === 0) throw new PodnetError('PODNET_INVALID_ADDRESS', 'no virtual address to map');
    const existing = new Set(virtuals.map((v) => this.#byVirtual.get(v)).filter((l): l is string => l !== undefined));
    if (existing.size > 1) {
      throw new PodnetError('PODNET_ADDRESS_IN_USE', `${virtuals.join(', ')} are already mapped to different loopback addresses (${[...existing].join(', ')})`);
    }
    const [held] = existing;
    if (held !== undefined) {
      const allocation = this.#byLoopback.get(held)!;
      if (owner && allocation.owner && owner !== allocation.owner) {
        throw new PodnetError('PODNET_ADDRESS_IN_USE', `${virtuals.join(', ')} is already mapped to ${held} for ${allocation.owner}`);
      }
      for (const v of virtuals) {
        if (!this.#byVirtual.has(v)) {
          allocation.virtuals.push(v);
          this.#byVirtual.set(v, held);
        }
      }
      if (!allocation.owner) allocation.owner = owner;
      return held;
    }
    const natural = virtuals.map(naturalLoopback).find((l) => l !== undefined);
    const loopback = natural !== undefined && !this.#byLoopback.has(natural) ? natural : this.#nextFallback();
    this.#byLoopback.set(loopback, { loopback, virtuals, owner });
    for (const v of virtuals) this.#byVirtual.set(v, loopback);
    return loopback;
  }

  /** Frees a loopback address (given as itself or as any virtual address mapped onto it). */
  release(address: string): boolean {
    const ip = parseIP(address);
    if (!ip) return false;
    const text = formatIP(ip);
    const loopback = this.#byLoopback.has(text) ? text : this.#byVirtual.get(text);
    if (loopback === undefined) return false;
    const allocation = this.#byLoopback.get(loopback)!;
    for (const v of allocation.virtuals) this.#byVirtual.delete(v);
    this.#byLoopback.delete(loopback);
    const value = parseIP(loopback)!.value;
    if (value >= FALLBACK_FIRST && value <= FALLBACK_LAST && value < this.#fallbackLow) this.#fallbackLow = value;
    return true;
  }

  /** The loopback address a virtual address is mapped onto. */
  loopbackOf(virtual: string): string | undefined {
    const ip = parseIP(virtual);
    return ip ? this.#byVirtual.get(formatIP(ip)) : undefined;
  }

  /** The virtual addresses a loopback address stands for (empty when unallocated). */
  virtualsOf(loopback: string): string[] {
    const ip = parseIP(loopback);
    return ip ? [...(this.#byLoopback.get(formatIP(ip))?.virtuals ?? [])] : [];
  }

  /** Who holds a loopback address. */
  ownerOf(loopback: string): string | undefined {
    const ip = parseIP(loopback);
    return ip ? this.#byLoopback.get(formatIP(ip))?.owner : undefined;
  }

  /** Every allocation, in allocation order (copies). */
  allocations(): LoopbackAllocation[] {
    return [...this.#byLoopback.values()].map((a) => ({ ...a, virtuals: [...a.virtuals] }));
  }

  /** The number of loopback addresses in use. */
  get size(): number {
    return this.#byLoopback.size;
  }

  #nextFallback(): string {
    for (let value = this.#fallbackLow; value <= FALLBACK_LAST; value++) {
      const text = v4(value);
      if (!this.#byLoopback.has(text)) {
        this.#fallbackLow = value + 1n;
        return text;
      }
    }
    throw new IpamExhaustedError(FALLBACK_POOL, 'loopback address');
  }
}

/** A transport protocol whose ports a sandbox maps (core/v1 `Protocol`). */
export type PortProtocol = 'TCP' | 'UDP' | 'SCTP';

/** The real transport a protocol's ports are bound with: SCTP rides on TCP (Node has no SCTP socket). */
export function realTransport(protocol: PortProtocol): 'TCP' | 'UDP' {
  return protocol === 'UDP' ? 'UDP' : 'TCP';
}

let cachedUnprivilegedPortStart: number | undefined;

/**
 * The lowest port an unprivileged process may bind on this machine:
 * `/proc/sys/net/ipv4/ip_unprivileged_port_start`, or 1024 where that cannot be read.
 */
export function unprivilegedPortStart(): number {
  if (cachedUnprivilegedPortStart === undefined) {
    let start = 1024;
    try {
      const n = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
      if (Number.isInteger(n) && n >= 0 && n <= 65536) start = n;
    } catch {
      // not Linux, or /proc not mounted: the traditional limit
    }
    cachedUnprivilegedPortStart = start;
  }
  return cachedUnprivilegedPortStart;
}

/** A container port is already taken in its sandbox (Go's `bind: address already in use`). */
export class PortInUseError extends PodnetError {
  readonly address: string;
  readonly port: number;
  readonly protocol: PortProtocol;
  /** Who holds the port, when known. */
  readonly holder: string;
  constructor(address: string, port: number, protocol: PortProtocol, holder: string) {
    super('PODNET_PORT_IN_USE', `listen ${protocol.toLowerCase()} ${joinHostPort(address, port)}: bind: address already in use`);
    this.address = address;
    this.port = port;
    this.protocol = protocol;
    this.holder = holder;
  }
}

/** One mapped port. */
export interface PortMapping {
  containerPort: number;
  protocol: PortProtocol;
  /** The real port on the sandbox's loopback address. */
  realPort: number;
  /** The container that holds it (a name, for messages). */
  owner: string;
}

/** Options of {@link PortMapper}. */
export interface PortMapperOptions {
  /** The sandbox's loopback address (from a {@link LoopbackAllocator}). */
  loopback: string;
  /** The virtual address(es) the sandbox's ports are reached on, for messages and entries. */
  virtual?: string | readonly string[];
  /** Opens the probe sockets; the real factory by default. */
  sockets?: SocketFactory;
  /** Overrides {@link unprivilegedPortStart}. */
  unprivilegedPortStart?: number;
}

/**
 * The port map of one sandbox: container ports to real ports on its loopback address, following
 * the conventions in this module's header.
 */
export class PortMapper {
  readonly loopback: string;
  readonly virtuals: readonly string[];
  readonly #sockets: SocketFactory;
  readonly #unprivilegedStart: number;
  readonly #mappings = new Map<string, PortMapping>();
  /** Claims whose real port is still being probed. */
  readonly #pending = new Map<string, { owner: string; done: Promise<number> }>();
  /** Real ports handed out, per real transport (so two container ports never share one). */
  readonly #real: Record<'TCP' | 'UDP', Set<number>> = { TCP: new Set(), UDP: new Set() };

  constructor(options: PortMapperOptions) {
    this.loopback = assertLoopback(options.loopback, 'bind');
    const v = options.virtual ?? [];
    this.virtuals = (typeof v === 'string' ? [v] : [...v]).map(canonicalVirtual);
    this.#sockets = options.sockets ?? createSocketFactory();
    this.#unprivilegedStart = options.unprivilegedPortStart ?? unprivilegedPortStart();
  }

  /**
   * Maps a container port to a real port and returns it. Mapping a port again for the same owner
   * returns the same real port; for another owner it fails with {@link PortInUseError}.
   */
  async map(containerPort: number, protocol: PortProtocol = 'TCP', owner = ''): Promise<number> {
    if (!Number.isInteger(containerPort) || containerPort < 1 || containerPort > 65535) {
      throw new PodnetError('PODNET_INVALID_PORT', `${containerPort} is not a valid port number: must be between 1 and 65535, inclusive`);
    }
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') {
      throw new PodnetError('PODNET_UNSUPPORTED_PROTOCOL', `protocol ${JSON.stringify(protocol)} cannot be mapped: supported values: "SCTP", "TCP", "UDP"`);
    }
    const key = `${containerPort}/${protocol}`;
    const held = this.#mappings.get(key) ?? this.#pending.get(key);
    if (held) {
      if (held.owner !== owner) throw new PortInUseError(this.virtuals[0] ?? this.loopback, containerPort, protocol, held.owner);
      return 'realPort' in held ? held.realPort : held.done;
    }
    const done = this.#choose(containerPort, protocol);
    this.#pending.set(key, { owner, done });
    try {
      const realPort = await done;
      this.#mappings.set(key, { containerPort, protocol, realPort, owner });
      return realPort;
    } finally {
      this.#pending.delete(key);
    }
  }

  /** The real port a container port is mapped to. */
  lookup(containerPort: number, protocol: PortProtocol = 'TCP'): number | undefined {
    return this.#mappings.get(`${containerPort}/${protocol}`)?.realPort;
  }

  /** The container port a real port stands for. */
  containerPortOf(realPort: number, protocol: PortProtocol = 'TCP'): number | undefined {
    for (const m of this.#mappings.values()) if (m.realPort === realPort && m.protocol === protocol) return m.containerPort;
    return undefined;
  }

  /** Frees a mapping (its container stopped). */
  release(containerPort: number, protocol: PortProtocol = 'TCP'): boolean {
    const key = `${containerPort}/${protocol}`;
    const m = this.#mappings.get(key);
    if (!m) return false;
    this.#mappings.delete(key);
    this.#real[realTransport(protocol)].delete(m.realPort);
    return true;
  }

  /** Frees every mapping held by one owner (or all of them without one). */
  releaseAll(owner?: string): void {
    for (const m of [...this.#mappings.values()]) if (owner === undefined || m.owner === owner) this.release(m.containerPort, m.protocol);
  }

  /** Every mapping, by container port then protocol. */
  mappings(): PortMapping[] {
    return [...this.#mappings.values()].sort((a, b) => a.containerPort - b.containerPort || a.protocol.localeCompare(b.protocol)).map((m) => ({ ...m }));
  }

  /**
   * The visible map, `{ "10.244.1.5:80/TCP": "127.244.1.5:10080" }`: one entry per virtual
   * address (both of a dual-stack pod; the loopback address itself when there is none).
   */
  entries(): Record<string, string> {
    const out: Record<string, string> = {};
    const hosts = this.virtuals.length > 0 ? this.virtuals : [this.loopback];
    for (const m of this.mappings()) {
      for (const host of hosts) out[`${joinHostPort(host, m.containerPort)}/${m.protocol}`] = joinHostPort(this.loopback, m.realPort);
    }
    return out;
  }

  /** The {@link HOST_ADDRESSES_ANNOTATION} value: {@link entries} as JSON. */
  annotation(): string {
    return JSON.stringify(this.entries());
  }

  /** Picks and reserves the real port for a claim. */
  async #choose(containerPort: number, protocol: PortProtocol): Promise<number> {
    const taken = this.#real[realTransport(protocol)];
    const candidates: number[] = [];
    if (containerPort >= this.#unprivilegedStart) candidates.push(containerPort);
    else if (containerPort + PRIVILEGED_PORT_OFFSET <= 65535) candidates.push(containerPort + PRIVILEGED_PORT_OFFSET);
    for (const port of candidates) {
      if (taken.has(port)) continue;
      taken.add(port);
      let free: boolean;
      try {
        free = (await this.#probe(port, protocol)) !== undefined;
      } catch (err) {
        taken.delete(port);
        throw err;
      }
      if (free) return port;
      taken.delete(port);
    }
    // Let the kernel choose; skip a port already handed out here but not bound yet.
    for (let attempt = 0; attempt < 100; attempt++) {
      const port = (await this.#probe(0, protocol))!;
      if (taken.has(port)) continue;
      taken.add(port);
      return port;
    }
    throw new PodnetError('PODNET_PORT_EXHAUSTED', `no free ${protocol} port on ${this.loopback}`);
  }

  /** Binds `port` (0: any) on the loopback address and closes again; the bound port, or undefined if taken. */
  async #probe(port: number, protocol: PortProtocol): Promise<number | undefined> {
    try {
      if (realTransport(protocol) === 'TCP') {
        const server = await this.#sockets.listenTcp({ host: this.loopback, port });
        const bound = boundPort(server);
        await new Promise<void>((resolve) => server.close(() => resolve()));
        return bound;
      }
      const socket = await this.#sockets.bindUdp({ host: this.loopback, port });
      const bound = boundPort(socket);
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      return bound;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') return undefined;
      throw err;
    }
  }
}
