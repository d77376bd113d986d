/**
 * A node's IP sets, as the kernel's ip_set modules hold them (net/netfilter/ipset/) and the
 * `ipset` tool (ipset 7.x) creates, fills, saves and lists them. These are the sets kube-proxy's
 * ipvs mode writes (pkg/proxy/ipvs/ipset.go) and its iptables rules match with `-m set`
 * (netfilter.ts evaluates those through {@link IpSets.match}).
 *
 * Set types (the ones kube-proxy uses, plus hash:net), with the element each one stores:
 *   hash:ip            IP                      (KUBE-IPVS-IPS)
 *   hash:net           IP[/CIDR]
 *   hash:ip,port       IP,[PROTO:]PORT         (KUBE-CLUSTER-IP, KUBE-EXTERNAL-IP, KUBE-LOAD-BALANCER…)
 *   hash:ip,port,ip    IP,[PROTO:]PORT,IP      (KUBE-LOOP-BACK, KUBE-LOAD-BALANCER-SOURCE-IP)
 *   hash:ip,port,net   IP,[PROTO:]PORT,IP/CIDR (KUBE-LOAD-BALANCER-SOURCE-CIDR)
 *   bitmap:port        [PROTO:]PORT[-PORT]     (KUBE-NODE-PORT-TCP/UDP, KUBE-HEALTH-CHECK-NODE-PORT)
 * PROTO is tcp (the default), udp or sctp. Membership is a Map lookup for every type; the types
 * with a net part look up once per prefix length the set holds, most specific first, as the
 * kernel's hash:*net* types do.
 *
 * Commands are `ipset restore`'s lines: `create NAME TYPE [family inet|inet6] [hashsize N]
 * [maxelem N] [range FROM-TO]`, `add NAME ELEM`, `del NAME ELEM`, `flush [NAME]`, `destroy
 * [NAME]`, each with an optional `-exist`. A whole input applies all or nothing (real `ipset
 * restore` stops at the first bad line, keeping the lines before it); a bad line is named.
 * A set an iptables rule still references cannot be destroyed ("Set cannot be destroyed: it is in
 * use by a kernel component"), which is why kube-proxy removes its rules first.
 *
 * Rendering:
 * - `ipset save`: `create` lines with the options as ipset prints them (family, hashsize rounded up
 *   to a power of two, maxelem; range for bitmap:port), then the `add` lines. Kernels since 5.11
 *   also print `bucketsize 12 initval 0x…` (a random hash seed); podnet prints the header of the
 *   kernels before that, which every ipset accepts.
 * - `ipset list`: Name, Type, Revision (the type revisions of those kernels), Header, Size in
 *   memory (0: podnet does not model kernel memory, as netfilter.ts prints 0 bytes), References
 *   (the iptables rules that match the set), Number of entries, Members.
 * Sets are listed in the kernel's index order (creation order; a destroyed set's index is reused).
 * bitmap:port members come in port order as the kernel walks the bitmap; a hash set's members come
 * in the kernel's bucket order, which depends on that random seed — podnet lists them sorted
 * (addresses numerically, then protocol, port and the second address), so output is reproducible.
 */

import { PodnetError } from '../core/errors.js';
import { familyBits, formatIP, ipFromValue, parseIP, type IPAddress, type IPFamily } from '../core/ipnet.js';
import type { FlowTuple } from './conntrack.js';

/** The set types podnet models. */
export const SET_TYPES = ['hash:ip', 'hash:net', 'hash:ip,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'bitmap:port'] as const;
export type SetType = (typeof SET_TYPES)[number];

/** Which address/port of a packet a `-m set` flag takes (xt_set's `src`/`dst`). */
export type SetDirection = 'src' | 'dst';

/** Each type's revision before bucketsize support (Linux 4.x–5.10), as `ipset list` prints it. */
export const SET_REVISIONS: Readonly<Record<SetType, number>> = {
  'hash:ip': 4,
  'hash:net': 6,
  'hash:ip,port': 5,
  'hash:ip,port,ip': 5,
  'hash:ip,port,net': 7,
  'bitmap:port': 3,
};

/** How many packet fields an element of each type has (the kernel's set dimension). */
const DIMENSION: Readonly<Record<SetType, number>> = {
  'hash:ip': 1,
  'hash:net': 1,
  'hash:ip,port': 2,
  'hash:ip,port,ip': 3,
  'hash:ip,port,net': 3,
  'bitmap:port': 1,
};

/** The longest set name (IPSET_MAXNAMELEN 32, with the NUL). */
export const MAX_SET_NAME = 31;

const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
type PortProtocol = (typeof PROTOCOLS)[number];

/** A set's creation options, as `ipset save` prints them. */
export interface IpSetHeader {
  /** Hash types: `inet` (IPv4) or `inet6`. */
  family?: 'inet' | 'inet6';
  /** Hash types: the hash table size (a power of two, at least 64). */
  hashsize?: number;
  /** Hash types: the most elements the set takes. */
  maxelem?: number;
  /** bitmap:port: the port range. */
  range?: { first: number; last: number };
}

/** One member. */
interface Member {
  /** Its text, as ipset prints it (and the key it is stored under). */
  text: string;
  /** Sort key parts (see the module header). */
  order: readonly (bigint | number | string)[];
}

/** One IP set. */
export class IpSet {
  readonly name: string;
  readonly type: SetType;
  readonly header: Readonly<IpSetHeader>;
  readonly #members = new Map<string, Member>();
  /** Prefix lengths present, for the types with a net part (most specific first when matching). */
  readonly #prefixes = new Map<number, number>();

  constructor(name: string, type: SetType, header: IpSetHeader) {
    this.name = name;
    this.type = type;
    this.header = header;
  }

  /** Number of members. */
  get size(): number {
    return this.#members.size;
  }

  /** Whether a member (in any accepted spelling) is in the set (`ipset test`). */
  test(entry: string): boolean {
    return parseElements(this, entry).every((m) => this.#members.has(m.text));
  }

  /** Members' texts, in listing order (see the module header). */
  members(): string[] {
    return [...this.#members.values()].sort(compareMembers).map((m) => m.text);
  }

  /**
   * xt_set's test for a packet: the element built from the packet's fields the flags name. Fewer
   * flags than the set's dimension never match (ip_set_test); a family mismatch never matches.
   */
  match(flags: readonly SetDirection[], tuple: FlowTuple): boolean {
    if (flags.length < DIMENSION[this.type]) return false;
    const ip = (i: number) => (flags[i] === 'src' ? tuple.src : tuple.dst);
    const port = (i: number) => (flags[i] === 'src' ? tuple.sport : tuple.dport);
    const proto = tuple.protocol.toLowerCase();
    const family = this.header.family === 'inet6' ? 'IPv6' : 'IPv4';
    const addr = (i: number) => {
      const a = parseIP(ip(i));
      return a && a.family === family ? a : undefined;
    };
    switch (this.type) {
      case 'bitmap:port':
        return this.#members.has(String(port(0)));
      case 'hash:ip': {
        const a = addr(0);
        return !!a && this.#members.has(formatIP(a));
      }
      case 'hash:ip,port': {
        const a = addr(0);
        return !!a && this.#members.has(`${formatIP(a)},${proto}:${port(1)}`);
      }
      case 'hash:ip,port,ip': {
        const a = addr(0);
        const b = addr(2);
        return !!a && !!b && this.#members.has(`${formatIP(a)},${proto}:${port(1)},${formatIP(b)}`);
      }
      case 'hash:net': {
        const a = addr(0);
        return !!a && this.#prefixMatch(a, (net) => net);
      }
      case 'hash:ip,port,net': {
        const a = addr(0);
        const b = addr(2);
        if (!a || !b) return false;
        const head = `${formatIP(a)},${proto}:${port(1)},`;
        return this.#prefixMatch(b, (net) => head + net);
      }
    }
  }

  #prefixMatch(ip: IPAddress, text: (net: string) => string): boolean {
    const bits = familyBits(ip.family);
    for (const prefix of [...this.#prefixes.keys()].sort((x, y) => y - x)) {
      if (this.#members.has(text(netText(ip, prefix, bits)))) return true;
    }
    return false;
  }

  /** Adds parsed members; false when one was there already. */
  add(members: readonly Member[], exist: boolean): void {
    for (const m of members) {
      if (this.#members.has(m.text)) {
        if (exist) continue;
        throw ipsetError(`${this.name}: Element cannot be added to the set: it's already added (${m.text})`);
      }
      if (this.header.maxelem !== undefined && this.#members.size >= this.header.maxelem) {
        throw ipsetError(`${this.name}: Hash is full, cannot add more elements (maxelem ${this.header.maxelem})`);
      }
      this.#members.set(m.text, m);
      const prefix = memberPrefix(this.type, m);
      if (prefix !== undefined) this.#prefixes.set(prefix, (this.#prefixes.get(prefix) ?? 0) + 1);
    }
  }

  /** Deletes parsed members. */
  del(members: readonly Member[], exist: boolean): void {
    for (const m of members) {
      const had = this.#members.get(m.text);
      if (!had) {
        if (exist) continue;
        throw ipsetError(`${this.name}: Element cannot be deleted from the set: it's not added (${m.text})`);
      }
      this.#members.delete(m.text);
      const prefix = memberPrefix(this.type, had);
      if (prefix !== undefined) {
        const n = (this.#prefixes.get(prefix) ?? 1) - 1;
        if (n) this.#prefixes.set(prefix, n);
        else this.#prefixes.delete(prefix);
      }
    }
  }

  /** `ipset flush NAME`. */
  flush(): void {
    this.#members.clear();
    this.#prefixes.clear();
  }

  /** A deep copy (for all-or-nothing restores). */
  clone(): IpSet {
    const s = new IpSet(this.name, this.type, this.header);
    s.add([...this.#members.values()], false);
    return s;
  }

  /** The header as `ipset save`/`list` print it. */
  headerText(): string {
    const h = this.header;
    if (this.type === 'bitmap:port') return `range ${h.range!.first}-${h.range!.last}`;
    return `family ${h.family} hashsize ${h.hashsize} maxelem ${h.maxelem}`;
  }
}

/** Options of {@link IpSets}. */
export interface IpSetsOptions {
  /** How many kernel objects (iptables rules) reference a set: such a set cannot be destroyed. */
  references?: (name: string) => number;
}

/** The options of one `ipset` command. */
interface CommandOptions {
  exist?: boolean;
}

/** A node's IP sets: what `ipset` creates, changes, saves and lists. */
export class IpSets {
  /** Sets by kernel index; a destroyed set leaves a hole the next create reuses. */
  #slots: (IpSet | undefined)[] = [];
  #byName = new Map<string, IpSet>();
  readonly #references: (name: string) => number;

  constructor(options: IpSetsOptions = {}) {
    this.#references = options.references ?? (() => 0);
  }

  /** A set by name. */
  get(name: string): IpSet | undefined {
    return this.#byName.get(name);
  }

  /** Whether a set exists (iptables checks this when a `-m set` rule is loaded). */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** The sets, in index order. */
  sets(): IpSet[] {
    return this.#slots.filter((s): s is IpSet => !!s);
  }

  /** xt_set's match: is the packet's element in the set? A missing set matches nothing. */
  match(name: string, flags: readonly SetDirection[], tuple: FlowTuple): boolean {
    return this.#byName.get(name)?.match(flags, tuple) ?? false;
  }

  /** `ipset create NAME TYPE [options...] [-exist]`. */
  create(name: string, type: string, options: readonly string[] = [], command: CommandOptions = {}): void {
    this.#apply(() => this.#create(name, type, options, command.exist === true));
  }

  /** `ipset add NAME ENTRY [-exist]`. Each call is all or nothing; for many entries, one {@link restore} is cheaper. */
  add(name: string, entry: string, command: CommandOptions = {}): void {
    this.#apply(() => this.#mustGet(name).add(parseElements(this.#mustGet(name), entry), command.exist === true));
  }

  /** `ipset del NAME ENTRY [-exist]`. */
  del(name: string, entry: string, command: CommandOptions = {}): void {
    this.#apply(() => this.#mustGet(name).del(parseElements(this.#mustGet(name), entry), command.exist === true));
  }

  /** `ipset test NAME ENTRY`. */
  test(name: string, entry: string): boolean {
    return this.#mustGet(name).test(entry);
  }

  /** `ipset flush [NAME]`. */
  flush(name?: string): void {
    if (name === undefined) for (const s of this.sets()) s.flush();
    else this.#mustGet(name).flush();
  }

  /** `ipset destroy [NAME]`: only sets no iptables rule references. */
  destroy(name?: string): void {
    this.#apply(() => this.#destroy(name));
  }

  /**
   * `ipset restore [-exist]`: applies a whole input (`ipset save`'s format, or any command lines),
   * all or nothing. A bad line is named and nothing changes.
   */
  restore(text: string, command: CommandOptions = {}): void {
    this.#apply(() => {
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!.trim();
        if (!line || line.startsWith('#') || line === 'COMMIT') continue;
        try {
          this.#command(splitWords(line), command.exist === true);
        } catch (err) {
          if (err instanceof PodnetError) throw ipsetError(`restore: line ${i + 1}: ${err.message.replace(/^ipset: /, '')}`);
          throw err;
        }
      }
    });
  }

  /** `ipset save [NAME]`. */
  save(name?: string): string {
    const sets = name === undefined ? this.sets() : [this.#mustGet(name)];
    const out: string[] = [];
    for (const s of sets) {
      out.push(`create ${s.name} ${s.type} ${s.headerText()}`);
      for (const m of s.members()) out.push(`add ${s.name} ${m}`);
    }
    return out.length ? out.join('\n') + '\n' : '';
  }

  /** `ipset list [NAME]`. */
  list(name?: string): string {
    const sets = name === undefined ? this.sets() : [this.#mustGet(name)];
    return sets
      .map((s) => {
        const members = s.members();
        return [
          `Name: ${s.name}`,
          `Type: ${s.type}`,
          `Revision: ${SET_REVISIONS[s.type]}`,
          `Header: ${s.headerText()}`,
          'Size in memory: 0',
          `References: ${this.#references(s.name)}`,
          `Number of entries: ${members.length}`,
          'Members:',
          ...members,
        ].join('\n') + '\n';
      })
      .join('\n');
  }

  /** Runs a change on copies of the sets, keeping it only if every step succeeds. */
  #apply(change: () => void): void {
    const slots = this.#slots;
    const byName = this.#byName;
    this.#slots = slots.map((s) => s?.clone());
    this.#byName = new Map(this.#slots.filter((s): s is IpSet => !!s).map((s) => [s.name, s]));
    try {
      change();
    } catch (err) {
      this.#slots = slots;
      this.#byName = byName;
      throw err;
    }
  }

  #mustGet(name: string): IpSet {
    const s = this.#byName.get(name);
    if (!s) throw ipsetError(`The set with the given name does not exist (${name})`);
    return s;
  }

  #command(words: string[], exist: boolean): void {
    const args = words.filter((w) => w !== '-exist' && w !== '--exist');
    const ex = exist || args.length !== words.length;
    const [verb, name, ...rest] = args;
    switch (verb) {
      case 'create':
      case '-N':
      case 'n':
        if (!name || !rest[0]) throw ipsetError('create needs NAME TYPE');
        this.#create(name, rest[0], rest.slice(1), ex);
        return;
      case 'add':
      case '-A':
      case 'a':
      case 'del':
      case '-D':
      case 'd': {
        if (!name || rest.length !== 1) throw ipsetError(`${verb} needs NAME ENTRY`);
        const set = this.#mustGet(name);
        const members = parseElements(set, rest[0]!);
        if (verb === 'add' || verb === '-A' || verb === 'a') set.add(members, ex);
        else set.del(members, ex);
        return;
      }
      case 'flush':
      case '-F':
        if (rest.length) throw ipsetError('flush takes at most a set name');
        this.flush(name);
        return;
      case 'destroy':
      case '-X':
      case 'x':
        if (rest.length) throw ipsetError('destroy takes at most a set name');
        this.#destroy(name);
        return;
      default:
        throw ipsetError(`unknown command "${verb ?? ''}" (create, add, del, flush, destroy)`);
    }
  }

  #create(name: string, typeText: string, options: readonly string[], exist: boolean): void {
    if (!name || name.length > MAX_SET_NAME) throw ipsetError(`Syntax error: setname '${name}' is longer than ${MAX_SET_NAME} characters`);
    if (!(SET_TYPES as readonly string[]).includes(typeText)) throw ipsetError(`Syntax error: typename '${typeText}' is unknown (podnet models ${SET_TYPES.join(', ')})`);
    const type = typeText as SetType;
    const header = parseHeader(type, options);
    const existing = this.#byName.get(name);
    if (existing) {
      // -exist accepts an identical create; a different one is still an error (the kernel's IPSET_ERR_EXIST check).
      if (exist && existing.type === type && existing.headerText() === new IpSet(name, type, header).headerText()) return;
      throw ipsetError(`Set cannot be created: set with the same name already exists (${name})`);
    }
    const set = new IpSet(name, type, header);
    const free = this.#slots.findIndex((s) => !s);
    if (free >= 0) this.#slots[free] = set;
    else this.#slots.push(set);
    this.#byName.set(name, set);
  }

  #destroy(name: string | undefined): void {
    const targets = name === undefined ? this.sets() : [this.#mustGet(name)];
    for (const s of targets) {
      if (this.#references(s.name) > 0) throw ipsetError(`Set cannot be destroyed: it is in use by a kernel component (${s.name})`);
    }
    for (const s of targets) {
      this.#slots[this.#slots.indexOf(s)] = undefined;
      this.#byName.delete(s.name);
    }
    while (this.#slots.length && !this.#slots.at(-1)) this.#slots.pop();
  }
}

// ---- parsing -------------------------------------------------------------------------------

function ipsetError(message: string): PodnetError {
  return new PodnetError('PODNET_IPSET_INVALID', `ipset: ${message}`);
}

function splitWords(line: string): string[] {
  return line.split(/\s+/).filter(Boolean);
}

function parseHeader(type: SetType, options: readonly string[]): IpSetHeader {
  const opts = new Map<string, string>();
  for (let i = 0; i < options.length; i++) {
    const key = options[i]!;
    const value = options[i + 1];
    if (value === undefined) throw ipsetError(`Syntax error: option '${key}' needs a value`);
    if (opts.has(key)) throw ipsetError(`Syntax error: option '${key}' given twice`);
    opts.set(key, value);
    i++;
  }
  const allowed = type === 'bitmap:port' ? ['range'] : ['family', 'hashsize', 'maxelem'];
  for (const k of opts.keys()) {
    if (!allowed.includes(k)) throw ipsetError(`Syntax error: ${type} takes ${allowed.join(', ')}; option '${k}' is not supported`);
  }
  if (type === 'bitmap:port') {
    const range = opts.get('range');
    if (range === undefined) throw ipsetError('Syntax error: Argument `range` is missing for bitmap:port');
    const r = parsePortRange(range);
    return { range: r };
  }
  const family = opts.get('family') ?? 'inet';
  if (family !== 'inet' && family !== 'inet6') throw ipsetError(`Syntax error: unknown family '${family}' (inet, inet6)`);
  const hashsize = positiveInt(opts.get('hashsize') ?? '1024', 'hashsize');
  const maxelem = positiveInt(opts.get('maxelem') ?? '65536', 'maxelem');
  // The kernel sizes the table to a power of two, at least IPSET_MIMINAL_HASHSIZE (64).
  let size = 64;
  while (size < hashsize) size *= 2;
  return { family, hashsize: size, maxelem };
}

function positiveInt(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 0xffffffff) throw ipsetError(`Syntax error: '${text}' is invalid as number for ${what}`);
  return Number(text);
}

function parsePort(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 65535) throw ipsetError(`Syntax error: '${text}' is invalid as port number`);
  return Number(text);
}

function parsePortRange(text: string): { first: number; last: number } {
  const [a, b, extra] = text.split('-');
  if (extra !== undefined || a === undefined) throw ipsetError(`Syntax error: '${text}' is not a port range`);
  const first = parsePort(a);
  const last = b === undefined ? first : parsePort(b);
  // ipset swaps a reversed range.
  return first <= last ? { first, last } : { first: last, last: first };
}

/** `[PROTO:]PORT`, PROTO defaulting to tcp. */
function parseProtoPort(text: string): { proto: PortProtocol; port: number } {
  const colon = text.indexOf(':');
  const proto = (colon >= 0 ? text.slice(0, colon) : 'tcp').toLowerCase();
  if (!(PROTOCOLS as readonly string[]).includes(proto)) throw ipsetError(`Syntax error: protocol '${proto}' is not supported (tcp, udp, sctp)`);
  return { proto: proto as PortProtocol, port: parsePort(colon >= 0 ? text.slice(colon + 1) : text) };
}

function parseAddress(text: string, family: IPFamily): IPAddress {
  const a = parseIP(text);
  if (!a || text.includes('/') || text.includes('-')) {
    throw ipsetError(`Syntax error: '${text}' is not an IP address (ranges and CIDRs in IP parts are not supported by podnet)`);
  }
  if (a.family !== family) throw ipsetError(`Syntax error: '${text}' is not an ${family === 'IPv4' ? 'inet' : 'inet6'} address`);
  return a;
}

function netText(ip: IPAddress, prefix: number, bits: number): string {
  const host = BigInt(bits - prefix);
  const base = formatIP(ipFromValue(ip.family, (ip.value >> host) << host));
  // libipset prints a host-length prefix without the /CIDR.
  return prefix === bits ? base : `${base}/${prefix}`;
}

function parseNet(text: string, family: IPFamily): { text: string; value: bigint; prefix: number } {
  const [addr, prefixText, extra] = text.split('/');
  const a = addr !== undefined ? parseIP(addr) : undefined;
  const bits = family === 'IPv6' ? 128 : 32;
  const prefix = prefixText === undefined ? bits : /^\d+$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!a || extra !== undefined || a.family !== family) throw ipsetError(`Syntax error: '${text}' is not an ${family === 'IPv4' ? 'inet' : 'inet6'} network`);
  if (!(prefix >= 1 && prefix <= bits)) throw ipsetError(`Syntax error: the CIDR of '${text}' must be between 1 and ${bits}`);
  const host = BigInt(bits - prefix);
  return { text: netText(a, prefix, bits), value: (a.value >> host) << host, prefix };
}

/** The members an entry denotes in a set (a bitmap:port range denotes several). */
function parseElements(set: IpSet, entry: string): Member[] {
  const family: IPFamily = set.header.family === 'inet6' ? 'IPv6' : 'IPv4';
  const parts = entry.split(',');
  const need = DIMENSION[set.type];
  if (parts.length !== need) throw ipsetError(`Syntax error: '${entry}' is not a ${set.type} element (${need} part${need > 1 ? 's' : ''} separated by commas)`);
  switch (set.type) {
    case 'bitmap:port': {
      const colon = parts[0]!.indexOf(':');
      // A protocol is accepted and ignored: the bitmap holds ports only.
      if (colon >= 0) parseProtoPort(`${parts[0]!.slice(0, colon)}:0`);
      const { first, last } = parsePortRange(colon >= 0 ? parts[0]!.slice(colon + 1) : parts[0]!);
      const range = set.header.range!;
      if (first < range.first || last > range.last) throw ipsetError(`Syntax error: element is out of the range of the set (${entry} not in ${range.first}-${range.last})`);
      const out: Member[] = [];
      for (let p = first; p <= last; p++) out.push({ text: String(p), order: [p] });
      return out;
    }
    case 'hash:ip': {
      const a = parseAddress(parts[0]!, family);
      return [{ text: formatIP(a), order: [a.value] }];
    }
    case 'hash:net': {
      const n = parseNet(parts[0]!, family);
      return [{ text: n.text, order: [n.value, n.prefix] }];
    }
    case 'hash:ip,port':
    case 'hash:ip,port,ip':
    case 'hash:ip,port,net': {
      const a = parseAddress(parts[0]!, family);
      const { proto, port } = parseProtoPort(parts[1]!);
      const head = `${formatIP(a)},${proto}:${port}`;
      if (set.type === 'hash:ip,port') return [{ text: head, order: [a.value, proto, port] }];
      if (set.type === 'hash:ip,port,ip') {
        const b = parseAddress(parts[2]!, family);
        return [{ text: `${head},${formatIP(b)}`, order: [a.value, proto, port, b.value] }];
      }
      const n = parseNet(parts[2]!, family);
      return [{ text: `${head},${n.text}`, order: [a.value, proto, port, n.value, n.prefix] }];
    }
  }
}

/** The prefix length of a member of a type with a net part (the last sort key). */
function memberPrefix(type: SetType, m: Member): number | undefined {
  if (type !== 'hash:net' && type !== 'hash:ip,port,net') return undefined;
  return m.order.at(-1) as number;
}

function compareMembers(a: Member, b: Member): number {
  for (let i = 0; i < Math.min(a.order.length, b.order.length); i++) {
    const x = a.order[i]!;
    const y = b.order[i]!;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return a.order.length - b.order.length;
}
