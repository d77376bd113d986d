/**
 * A node's netfilter rule tables, as iptables (legacy and nft-backed alike) shows them: the tables
 * raw, mangle, nat and filter, each with its built-in chains (a policy and policy counters) and
 * user chains; rules made of matches and a target, each with packet and byte counters.
 *
 * Who writes here: flanneld (FLANNEL-POSTRTG, FLANNEL-FWD; plugins/flannel/daemon.ts) and, next,
 * kube-proxy (KUBE-SERVICES, KUBE-SVC-*, KUBE-SEP-*, KUBE-MARK-MASQ, KUBE-POSTROUTING). They write
 * rules as iptables arguments (`-s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld
 * masq" -j RETURN`) or as a whole `iptables-restore` input, exactly as the real programs do.
 *
 * Evaluation (iptables(8) "TARGETS", iptables-extensions(8)): the built-in chain of each table is
 * registered at its hook with the table's priority (raw -300, mangle -150, nat -100 at PREROUTING
 * and OUTPUT and +100 at INPUT and POSTROUTING, filter 0; include/uapi/linux/netfilter_ipv4.h), so
 * a flow walks the tables in the kernel's order. In a chain, rules are tried in order; a rule
 * whose matches all hold counts the flow and runs its target:
 *   ACCEPT          ends this table's walk for the hook (the next table still runs);
 *   DROP, REJECT    end the flow;
 *   RETURN          back to the rule after the jump that entered this chain; in a built-in
 *                   chain, the policy decides;
 *   -j CHAIN        enters a user chain, returning after it ends or RETURNs;
 *   -g CHAIN        enters it without a return point: its RETURN goes back to the last -j;
 *   DNAT, SNAT, MASQUERADE   rewrite the flow and end the nat table's walk (they are terminating);
 *   MARK            sets the packet mark and goes on.
 * Falling off the end of a user chain is a RETURN; of a built-in chain, its policy (counted).
 *
 * The pipeline sees the first packet of each flow only (later packets follow conntrack, as the
 * nat table never sees them on a real node either). So counters count **flows**: packets = new
 * flows that matched the rule (or hit the policy), bytes = 0 always — the pipeline never sees a
 * packet's size, and podnet does not invent one.
 *
 * `-m statistic --mode random` draws from the pipeline's seeded RNG (the flow context's `rng`),
 * with the kernel's arithmetic: the probability is stored as a 31-bit fraction and a draw below
 * it matches (net/netfilter/xt_statistic.c), so a seed replays the same choices.
 *
 * These are iptables' IPv4 tables: IPv6 flows (dual-stack pods) pass them untouched; ip6tables'
 * tables are not modelled yet.
 *
 * Rendering is `iptables-save`'s: `*table`, `:CHAIN POLICY [packets:bytes]`, `-A` lines with the
 * options in the order iptables-save prints them (-s -d -i -o -p, then each `-m` in order, then
 * the target), `COMMIT`; with counters, each rule is prefixed `[packets:bytes]` (iptables-save -c).
 */

import { PodnetError } from '../core/errors.js';
import { familyBits, formatIP, ipFromValue, parseIP, type IPFamily } from '../core/ipnet.js';
import { SeededRng, type Rng } from '../core/rng.js';
import { systemClock, type Clock } from '../core/clock.js';
import { PRIORITY, type Hook } from './hooks.js';
import type { NodeNetwork } from './node.js';
import type { FlowContext, HookHandler, HookVerdict } from './pipeline.js';

/** The tables, in the order iptables-save prints them here. */
export const TABLES = ['raw', 'mangle', 'nat', 'filter'] as const;
export type TableName = (typeof TABLES)[number];

/** Each table's built-in chains (= the hooks it is registered at), in hook order. */
export const BUILTIN_CHAINS: Readonly<Record<TableName, readonly Hook[]>> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** The priority a table's chain runs at on a hook (NF_IP_PRI_*). */
export function tablePriority(table: TableName, hook: Hook): number {
  switch (table) {
    case 'raw':
      return PRIORITY.raw;
    case 'mangle':
      return PRIORITY.mangle;
    case 'filter':
      return PRIORITY.filter;
    case 'nat':
      return hook === 'PREROUTING' || hook === 'OUTPUT' ? PRIORITY.dnat : PRIORITY.snat;
  }
}

/** Packet and byte counters. */
export interface Counters {
  packets: number;
  bytes: number;
}

/** A value with iptables' `!` in front of it. */
export interface Negatable<T> {
  value: T;
  negate: boolean;
}

/** The conntrack states `-m conntrack --ctstate` knows, in the order iptables prints them. */
export const CT_STATES = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'] as const;
export type CtState = (typeof CT_STATES)[number];

/** The address types `-m addrtype` knows (the ones a node's flows can have). */
export const ADDR_TYPES = ['UNSPEC', 'UNICAST', 'LOCAL', 'BROADCAST', 'ANYCAST', 'MULTICAST', 'BLACKHOLE', 'UNREACHABLE', 'PROHIBIT'] as const;

/** A port or a `first:last` range. */
export interface PortRange {
  first: number;
  last: number;
}

/**
 * A `-m` match. `-m recent` (kube-proxy's ClientIP affinity) and `-m set` (the node's ipsets,
 * kube-proxy's ipvs mode) keep state beyond the flow; other such modules can come in as
 * `extension`s: parsed by their owner, saved as given.
 */
export type Match =
  | { module: 'tcp' | 'udp' | 'sctp'; sport?: Negatable<PortRange>; dport?: Negatable<PortRange> }
  | { module: 'mark'; mark: number; mask: number; negate: boolean }
  | { module: 'comment'; comment: string }
  | { module: 'conntrack'; ctstate: Negatable<CtState[]> }
  | { module: 'addrtype'; srcType?: Negatable<string>; dstType?: Negatable<string> }
  | { module: 'statistic'; mode: 'random'; /** The kernel's 31-bit fraction. */ probability: number; negate: boolean }
  | RecentMatch
  | SetMatch
  | { module: 'physdev'; isIn?: boolean; isOut?: boolean; isBridged?: boolean }
  | ExtensionMatch;

/**
 * `-m set --match-set NAME FLAGS` (net/netfilter/xt_set.c): the packet's element, built from the
 * fields FLAGS names (`dst,dst` = destination address and port), is in the node's ipset NAME
 * (ipset.ts) — kube-proxy's ipvs mode matches Services this way. `!` inverts.
 */
export interface SetMatch {
  module: 'set';
  name: string;
  flags: ('src' | 'dst')[];
  negate: boolean;
}

/** What `-m set` asks of a node's ipsets (lib/dataplane/ipset.ts implements it). */
export interface IpSetLookup {
  has(name: string): boolean;
  match(name: string, flags: readonly ('src' | 'dst')[], tuple: FlowContext['tuple']): boolean;
}

/**
 * `-m recent` (net/netfilter/xt_recent.c): named lists of addresses with the time each was last
 * seen — kube-proxy's ClientIP affinity (`--set` in the endpoint chain, `--rcheck --seconds T
 * --reap` in the service chain). One list per name per node, timed by the node's clock.
 */
export interface RecentMatch {
  module: 'recent';
  name: string;
  op: 'set' | 'rcheck' | 'update' | 'remove' | undefined;
  seconds: number;
  reap: boolean;
  /** Which address is recorded and checked. */
  side: 'rsource' | 'rdest';
  /** The address mask (`255.255.255.255` by default). */
  mask: string;
  negate: boolean;
}

/** A match module podnet does not parse itself: its saved text and its test. */
export interface ExtensionMatch {
  module: 'extension';
  /** The module's name after `-m` (`recent`, `set`). */
  name: string;
  /** Its options as iptables-save prints them (`--name KUBE-SEP-X --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap`). */
  options: string;
  test(ctx: FlowContext): boolean;
}

/** What a rule does when it matches. */
export type Target =
  | { kind: 'ACCEPT' | 'DROP' | 'RETURN' }
  | { kind: 'REJECT'; rejectWith: string }
  | { kind: 'jump'; chain: string }
  | { kind: 'goto'; chain: string }
  | { kind: 'DNAT'; to: string }
  | { kind: 'SNAT'; to: string; randomFully: boolean }
  | { kind: 'MASQUERADE'; randomFully: boolean; toPorts?: string }
  | { kind: 'MARK'; value: number; mask: number };

/** One rule. */
export interface Rule {
  source?: Negatable<string>;
  destination?: Negatable<string>;
  inInterface?: Negatable<string>;
  outInterface?: Negatable<string>;
  protocol?: Negatable<'tcp' | 'udp' | 'sctp'>;
  matches: Match[];
  /** None: the rule only counts. */
  target?: Target;
  counters: Counters;
}

/** A chain: built-in ones have a policy. */
export interface Chain {
  name: string;
  builtin: boolean;
  policy?: 'ACCEPT' | 'DROP';
  policyCounters: Counters;
  rules: Rule[];
}

/** One table's chains. */
export class Table {
  readonly name: TableName;
  readonly chains = new Map<string, Chain>();

  constructor(name: TableName) {
    this.name = name;
    for (const hook of BUILTIN_CHAINS[name]) this.chains.set(hook, { name: hook, builtin: true, policy: 'ACCEPT', policyCounters: zero(), rules: [] });
  }

  /** A chain, or a clear error naming the table (iptables: "No chain/target/match by that name"). */
  chain(name: string): Chain {
    const c = this.chains.get(name);
    if (!c) throw netfilterError(`${this.name}: no chain "${name}" (iptables: No chain/target/match by that name)`);
    return c;
  }

  /**
   * A copy sharing every chain object (iptables-restore --noflush copies a chain before it changes
   * it, so a 100k-rule table is not deep-copied to rewrite a few chains).
   */
  shallowClone(): Table {
    const t = new Table(this.name);
    t.chains.clear();
    for (const [k, c] of this.chains) t.chains.set(k, c);
    return t;
  }

  /** A deep copy (for iptables-restore's all-or-nothing COMMIT). */
  clone(): Table {
    const t = new Table(this.name);
    t.chains.clear();
    for (const [k, c] of this.chains) t.chains.set(k, { ...c, policyCounters: { ...c.policyCounters }, rules: c.rules.map((r) => ({ ...r, counters: { ...r.counters } })) });
    return t;
  }
}

/** Options of {@link Netfilter}. */
export interface NetfilterOptions {
  /** The RNG `-m statistic` draws from when the flow context carries none. */
  rng?: Rng;
  /** The clock `-m recent` lists are timed by. */
  clock?: Clock;
  /** The node's ipsets `-m set` matches against; rules naming a set it lacks are refused, as iptables refuses them. */
  ipsets?: IpSetLookup;
}

/** How iptables-save output is asked for. */
export interface SaveOptions {
  /** Rule and policy counters (`iptables-save -c`). */
  counters?: boolean;
  /** Only these tables (`iptables-save -t nat`). */
  tables?: readonly TableName[];
}

/** The most rule steps one table walk takes before podnet calls it a loop (iptables refuses loops at load); a 10k-Service KUBE-SERVICES walk takes ~10k. */
const MAX_STEPS = 1_000_000;

/** A node's netfilter tables. */
export class Netfilter {
  readonly #tables = new Map<TableName, Table>();
  readonly #rng: Rng;
  readonly #clock: Clock;
  readonly #ipsets: IpSetLookup | undefined;
  /** `-m recent` lists: name → masked address → when it was last seen (ms). */
  readonly #recent = new Map<string, Map<string, number>>();

  constructor(options: NetfilterOptions = {}) {
    this.#rng = options.rng ?? new SeededRng(0);
    this.#clock = options.clock ?? systemClock;
    this.#ipsets = options.ipsets;
    for (const t of TABLES) this.#tables.set(t, new Table(t));
  }

  /** A table. */
  table(name: TableName): Table {
    const t = this.#tables.get(checkTable(name));
    return t!;
  }

  /** `iptables -t T -N CHAIN`: creates a user chain; an existing one is an error, as in iptables. */
  newChain(table: TableName, chain: string): void {
    const t = this.table(table);
    if (t.chains.has(chain)) throw netfilterError(`${table}: chain "${chain}" already exists`);
    checkChainName(chain);
    t.chains.set(chain, { name: chain, builtin: false, policyCounters: zero(), rules: [] });
  }

  /** Creates a user chain unless it exists (go-iptables `ClearChain` without the clearing). */
  ensureChain(table: TableName, chain: string): void {
    if (!this.table(table).chains.has(chain)) this.newChain(table, chain);
  }

  /** `iptables -t T -F CHAIN`. */
  flushChain(table: TableName, chain: string): void {
    this.table(table).chain(chain).rules = [];
  }

  /** `iptables -t T -X CHAIN`: only an empty, unreferenced user chain. */
  deleteChain(table: TableName, chain: string): void {
    const t = this.table(table);
    const c = t.chain(chain);
    if (c.builtin) throw netfilterError(`${table}: cannot delete built-in chain ${chain}`);
    if (c.rules.length) throw netfilterError(`${table}: chain ${chain} is not empty`);
    if (referencesTo(t, chain)) throw netfilterError(`${table}: chain ${chain} is still referenced`);
    t.chains.delete(chain);
  }

  /** `iptables -t T -P CHAIN POLICY`. */
  setPolicy(table: TableName, chain: string, policy: 'ACCEPT' | 'DROP'): void {
    const c = this.table(table).chain(chain);
    if (!c.builtin) throw netfilterError(`${table}: only built-in chains have a policy (${chain})`);
    if (policy !== 'ACCEPT' && policy !== 'DROP') throw netfilterError(`bad policy "${String(policy)}": ACCEPT or DROP`);
    c.policy = policy;
  }

  /** `iptables -t T -A CHAIN rule...`: the rule as arguments or as one string. */
  append(table: TableName, chain: string, spec: string | readonly string[]): Rule {
    const t = this.table(table);
    const rule = this.#checkSets(parseRule(typeof spec === 'string' ? tokenize(spec) : spec, t));
    t.chain(chain).rules.push(rule);
    return rule;
  }

  /** `iptables -t T -I CHAIN [N] rule...` (N counts from 1). */
  insert(table: TableName, chain: string, spec: string | readonly string[], position = 1): Rule {
    const t = this.table(table);
    const c = t.chain(chain);
    if (!Number.isInteger(position) || position < 1 || position > c.rules.length + 1) throw netfilterError(`${table} ${chain}: index ${position} out of range`);
    const rule = this.#checkSets(parseRule(typeof spec === 'string' ? tokenize(spec) : spec, t));
    c.rules.splice(position - 1, 0, rule);
    return rule;
  }

  /** `iptables -t T -C CHAIN rule...`: whether an identical rule exists. */
  check(table: TableName, chain: string, spec: string | readonly string[]): boolean {
    const t = this.table(table);
    const text = formatRuleSpec(parseRule(typeof spec === 'string' ? tokenize(spec) : spec, t));
    return t.chain(chain).rules.some((r) => formatRuleSpec(r) === text);
  }

  /** `iptables -t T -D CHAIN rule...`: deletes the first identical rule; false if none. */
  delete(table: TableName, chain: string, spec: string | readonly string[]): boolean {
    const t = this.table(table);
    const text = formatRuleSpec(parseRule(typeof spec === 'string' ? tokenize(spec) : spec, t));
    const c = t.chain(chain);
    const i = c.rules.findIndex((r) => formatRuleSpec(r) === text);
    if (i < 0) return false;
    c.rules.splice(i, 1);
    return true;
  }

  /** A chain's rules. */
  rules(table: TableName, chain: string): readonly Rule[] {
    return this.table(table).chain(chain).rules;
  }

  /**
   * Makes a chain hold exactly these rules, in order: untouched (counters kept) when it already
   * does, else flushed and rewritten — as flanneld's resync rebuilds its chains.
   */
  ensureRules(table: TableName, chain: string, specs: readonly (string | readonly string[])[]): void {
    this.ensureChain(table, chain);
    const t = this.table(table);
    const wanted = specs.map((s) => this.#checkSets(parseRule(typeof s === 'string' ? tokenize(s) : s, t)));
    const c = t.chain(chain);
    if (c.rules.length === wanted.length && c.rules.every((r, i) => formatRuleSpec(r) === formatRuleSpec(wanted[i]!))) return;
    c.rules = wanted;
  }

  /** `iptables -Z`: zeroes every counter. */
  zeroCounters(): void {
    for (const t of this.#tables.values()) {
      for (const c of t.chains.values()) {
        c.policyCounters = zero();
        for (const r of c.rules) r.counters = zero();
      }
    }
  }

  /**
   * `iptables-restore [--noflush]`: applies a whole input, all or nothing. Every table the input
   * names is replaced (its chains flushed, user chains it does not declare deleted) unless
   * `noflush`; a parse error anywhere changes nothing and names the line.
   */
  restore(text: string, options: { noflush?: boolean } = {}): void {
    const staged = new Map<TableName, Table>();
    // Chains this restore created or copied: only these may change (the others are shared with
    // the live tables, which must stay as they are if the restore fails).
    const owned = new Set<Chain>();
    const own = (name: string): Chain => {
      const c = current!.chain(name);
      if (owned.has(c)) return c;
      const copy: Chain = { ...c, policyCounters: { ...c.policyCounters }, rules: [...c.rules] };
      current!.chains.set(name, copy);
      owned.add(copy);
      return copy;
    };
    const add = (chain: Chain): void => {
      current!.chains.set(chain.name, chain);
      owned.add(chain);
    };
    let current: Table | undefined;
    let committed = true;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      const at = (msg: string) => netfilterError(`iptables-restore: line ${i + 1}: ${msg}`);
      if (!line || line.startsWith('#')) continue;
      try {
        if (line.startsWith('*')) {
          if (!committed) throw at(`table ${current!.name} not committed before *${line.slice(1)}`);
          const name = checkTable(line.slice(1));
          current = staged.get(name) ?? (options.noflush ? this.table(name).shallowClone() : new Table(name));
          if (!options.noflush && !staged.has(name)) for (const c of current.chains.values()) owned.add(c);
          committed = false;
          continue;
        }
        if (!current || committed) throw at('a rule or chain outside a *table … COMMIT block');
        if (line === 'COMMIT') {
          staged.set(current.name, current);
          committed = true;
          continue;
        }
        if (line.startsWith(':')) {
          const m = /^:(\S+)\s+(\S+)(?:\s+\[(\d+):(\d+)\])?$/.exec(line);
          if (!m) throw at(`bad chain line "${line}"`);
          const [, name, policy, p, b] = m as unknown as [string, string, string, string?, string?];
          const counters = { packets: Number(p ?? 0), bytes: Number(b ?? 0) };
          const existing = current.chains.get(name);
          if (existing?.builtin) {
            if (policy !== 'ACCEPT' && policy !== 'DROP') throw at(`bad policy "${policy}" for ${name}`);
            const chain = own(name);
            chain.policy = policy;
            chain.policyCounters = counters;
            if (!options.noflush) chain.rules = [];
          } else {
            if (policy !== '-') throw at(`user chain ${name} cannot have a policy ("${policy}")`);
            checkChainName(name);
            add({ name, builtin: false, policyCounters: existing?.policyCounters ? { ...existing.policyCounters } : zero(), rules: [] });
          }
          continue;
        }
        let tokens = tokenize(line);
        let counters: Counters | undefined;
        const bracket = /^\[(\d+):(\d+)\]$/.exec(tokens[0] ?? '');
        if (bracket) {
          counters = { packets: Number(bracket[1]), bytes: Number(bracket[2]) };
          tokens = tokens.slice(1);
        }
        const [verb, chainName, ...rest] = tokens;
        if (!chainName) throw at(`bad line "${line}"`);
        if (verb === '-A' || verb === '-I') {
          let args = rest;
          let position = 1;
          if (verb === '-I' && /^\d+$/.test(args[0] ?? '')) {
            position = Number(args[0]);
            args = args.slice(1);
          }
          // `-c PACKETS BYTES` inside the rule (iptables-restore's other counter form).
          const c = args.indexOf('-c');
          if (c >= 0) {
            counters = { packets: Number(args[c + 1]), bytes: Number(args[c + 2]) };
            if (!Number.isFinite(counters.packets) || !Number.isFinite(counters.bytes)) throw at('-c needs PACKETS BYTES');
            args = [...args.slice(0, c), ...args.slice(c + 3)];
          }
          const rule = this.#checkSets(parseRule(args, current, true));
          if (counters) rule.counters = counters;
          const chain = own(chainName);
          if (verb === '-A') chain.rules.push(rule);
          else chain.rules.splice(Math.min(position - 1, chain.rules.length), 0, rule);
        } else if (verb === '-N') {
          if (current.chains.has(chainName)) throw at(`chain ${chainName} already exists`);
          checkChainName(chainName);
          add({ name: chainName, builtin: false, policyCounters: zero(), rules: [] });
        } else if (verb === '-F') {
          own(chainName).rules = [];
        } else if (verb === '-X') {
          const c = current.chain(chainName);
          if (c.builtin) throw at(`cannot delete built-in chain ${chainName}`);
          // As libiptc: a chain a rule still jumps to cannot go (iptables-restore fails, nothing changes).
          if (referencesTo(current, chainName)) throw at(`cannot delete chain ${chainName}: it is still referenced`);
          current.chains.delete(chainName);
        } else {
          throw at(`unsupported command "${verb}"`);
        }
      } catch (err) {
        if (err instanceof PodnetError && !err.message.startsWith('iptables-restore:')) throw at(err.message);
        throw err;
      }
    }
    if (!committed) throw netfilterError(`iptables-restore: table ${current!.name} has no COMMIT`);
    // Every jump must land on a chain of its table once everything is in. Chains the restore did
    // not touch were checked when they were loaded, and -X refuses a chain still jumped to.
    for (const t of staged.values()) {
      for (const c of t.chains.values()) {
        if (!owned.has(c)) continue;
        for (const r of c.rules) {
          const to = r.target?.kind === 'jump' || r.target?.kind === 'goto' ? r.target.chain : undefined;
          if (to && !t.chains.has(to)) throw netfilterError(`iptables-restore: ${t.name} ${c.name}: no chain "${to}" to jump to`);
        }
      }
    }
    for (const [name, t] of staged) this.#tables.set(name, t);
  }

  /** `iptables-save [-c] [-t table]`. */
  save(options: SaveOptions = {}): string {
    const out: string[] = [];
    for (const name of options.tables ?? TABLES) {
      const t = this.table(name);
      if (!options.tables && !inUse(t)) continue;
      out.push(`*${name}`);
      const chains = [...t.chains.values()];
      const ordered = [...chains.filter((c) => c.builtin), ...chains.filter((c) => !c.builtin).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))];
      for (const c of ordered) {
        const counters = options.counters ? c.policyCounters : zero();
        out.push(`:${c.name} ${c.builtin ? c.policy : '-'} [${counters.packets}:${counters.bytes}]`);
      }
      for (const c of ordered) {
        for (const r of c.rules) out.push(`${options.counters ? `[${r.counters.packets}:${r.counters.bytes}] ` : ''}-A ${c.name} ${formatRuleSpec(r)}`.trimEnd());
      }
      out.push('COMMIT');
    }
    return out.length ? out.join('\n') + '\n' : '';
  }

  /**
   * Walks a flow through one table's built-in chain for a hook. Matched rules add trace steps
   * (table, chain, rule text); the verdict is the pipeline's: undefined or ACCEPT to go on.
   */
  evaluate(table: TableName, hook: Hook, ctx: FlowContext): HookVerdict {
    const t = this.table(table);
    const builtin = t.chains.get(hook);
    // These are iptables' (IPv4) tables: an IPv6 flow is ip6tables' business, not modelled yet.
    if (!builtin || familyOf(ctx.tuple.dst) !== 'IPv4') return undefined;
    const stack: { chain: Chain; next: number }[] = [];
    let chain = builtin;
    let index = 0;
    for (let steps = 0; steps < MAX_STEPS; steps++) {
      const rule = chain.rules[index];
      if (!rule) {
        // End of a user chain: back to the caller; of the built-in chain: the policy.
        const frame = stack.pop();
        if (frame && !chain.builtin) {
          chain = frame.chain;
          index = frame.next;
          continue;
        }
        return this.#policy(t, builtin, ctx);
      }
      index++;
      if (!this.#matches(rule, ctx)) continue;
      rule.counters.packets++;
      const target = rule.target;
      const text = `-A ${chain.name} ${formatRuleSpec(rule)}`;
      if (!target) {
        ctx.trace({ table, chain: chain.name, rule: text, action: 'count' });
        continue;
      }
      switch (target.kind) {
        case 'ACCEPT':
          ctx.trace({ table, chain: chain.name, rule: text, action: 'ACCEPT' });
          return { verdict: 'ACCEPT' };
        case 'DROP':
          ctx.trace({ table, chain: chain.name, rule: text, action: 'DROP' });
          return { verdict: 'DROP', reason: `dropped by ${table} ${chain.name}` };
        case 'REJECT':
          ctx.trace({ table, chain: chain.name, rule: text, action: 'REJECT', detail: target.rejectWith });
          return { verdict: 'REJECT', reason: /host-unreach|net-unreach/.test(target.rejectWith) ? 'no route to host' : `rejected by ${table} ${chain.name} (${target.rejectWith})` };
        case 'RETURN': {
          ctx.trace({ table, chain: chain.name, rule: text, action: 'RETURN' });
          const frame = stack.pop();
          if (!frame || chain.builtin) return this.#policy(t, builtin, ctx);
          chain = frame.chain;
          index = frame.next;
          continue;
        }
        case 'jump':
        case 'goto':
          ctx.trace({ table, chain: chain.name, rule: text, action: target.kind === 'jump' ? target.chain : `goto ${target.chain}` });
          if (target.kind === 'jump') stack.push({ chain, next: index });
          else if (chain.builtin) stack.push({ chain, next: chain.rules.length }); // a RETURN from a goto'd chain ends at the policy
          chain = t.chain(target.chain);
          index = 0;
          continue;
        case 'MARK':
          ctx.mark = ((ctx.mark & ~target.mask) ^ target.value) >>> 0;
          ctx.trace({ table, chain: chain.name, rule: text, action: 'MARK', detail: `mark 0x${ctx.mark.toString(16)}` });
          continue;
        case 'DNAT':
        case 'SNAT':
        case 'MASQUERADE':
          return this.#nat(table, chain.name, text, target, ctx);
      }
    }
    throw netfilterError(`${table} ${hook}: more than ${MAX_STEPS} rule steps (a chain loop?)`);
  }

  /**
   * Registers each table's built-in chains at their hooks on a node (the kernel does this when
   * the table module loads). Returns the function that unregisters them.
   */
  attach(node: NodeNetwork): () => void {
    const undo: (() => void)[] = [];
    for (const table of TABLES) {
      for (const hook of BUILTIN_CHAINS[table]) {
        const handler: HookHandler = { name: `iptables/${table}`, priority: tablePriority(table, hook), run: (ctx) => this.evaluate(table, hook, ctx) };
        undo.push(node.register(hook, handler));
      }
    }
    return () => undo.forEach((u) => u());
  }

  #policy(t: Table, builtin: Chain, ctx: FlowContext): HookVerdict {
    builtin.policyCounters.packets++;
    if (builtin.policy === 'DROP') {
      ctx.trace({ table: t.name, chain: builtin.name, action: 'DROP', detail: 'chain policy' });
      return { verdict: 'DROP', reason: `${t.name} ${builtin.name} policy DROP` };
    }
    return undefined;
  }

  #nat(table: TableName, chain: string, text: string, target: Extract<Target, { kind: 'DNAT' | 'SNAT' | 'MASQUERADE' }>, ctx: FlowContext): HookVerdict {
    const before = `${ctx.tuple.src}:${ctx.tuple.sport} → ${ctx.tuple.dst}:${ctx.tuple.dport}`;
    if (target.kind === 'DNAT') {
      const { ip, port } = splitHostPort(target.to);
      ctx.tuple = { ...ctx.tuple, dst: ip, ...(port !== undefined ? { dport: port } : {}) };
    } else if (target.kind === 'SNAT') {
      const { ip, port } = splitHostPort(target.to);
      ctx.tuple = { ...ctx.tuple, src: ip, ...(port !== undefined ? { sport: port } : {}) };
    } else {
      // MASQUERADE: the address of the interface the flow leaves on (the kernel's
      // inet_select_addr on the out device). The source port is kept: the real socket's port is
      // the kernel's to choose anyway, so --random-fully changes nothing visible here.
      const address = ctx.outDev ? primaryAddress(ctx.node, ctx.outDev, familyOf(ctx.tuple.src)) : undefined;
      if (!address) {
        ctx.trace({ table, chain, rule: text, action: 'MASQUERADE', detail: `no address on ${ctx.outDev ?? '(no out interface)'}: unchanged` });
        return { verdict: 'ACCEPT' };
      }
      ctx.tuple = { ...ctx.tuple, src: address };
    }
    ctx.trace({ table, chain, rule: text, action: target.kind, detail: `${before} ⇒ ${ctx.tuple.src}:${ctx.tuple.sport} → ${ctx.tuple.dst}:${ctx.tuple.dport}` });
    return { verdict: 'ACCEPT' };
  }

  #matches(rule: Rule, ctx: FlowContext): boolean {
    const tuple = ctx.tuple;
    if (rule.source && inCidr(tuple.src, rule.source.value) === rule.source.negate) return false;
    if (rule.destination && inCidr(tuple.dst, rule.destination.value) === rule.destination.negate) return false;
    if (rule.inInterface && ifaceMatches(ctx.inDev, rule.inInterface.value) === rule.inInterface.negate) return false;
    if (rule.outInterface && ifaceMatches(ctx.outDev, rule.outInterface.value) === rule.outInterface.negate) return false;
    if (rule.protocol && (tuple.protocol.toLowerCase() === rule.protocol.value) === rule.protocol.negate) return false;
    for (const m of rule.matches) if (!this.#match(m, ctx)) return false;
    return true;
  }

  #match(m: Match, ctx: FlowContext): boolean {
    const tuple = ctx.tuple;
    switch (m.module) {
      case 'tcp':
      case 'udp':
      case 'sctp':
        if (tuple.protocol.toLowerCase() !== m.module) return false;
        if (m.sport && inRange(tuple.sport, m.sport.value) === m.sport.negate) return false;
        if (m.dport && inRange(tuple.dport, m.dport.value) === m.dport.negate) return false;
        return true;
      case 'mark':
        return ((ctx.mark & m.mask) >>> 0 === m.mark) !== m.negate;
      case 'comment':
        return true;
      case 'conntrack': {
        // The pipeline sees each flow's first packet: NEW, plus the NAT already done to it.
        const states = new Set<CtState>(['NEW']);
        if (ctx.tuple.dst !== ctx.original.dst || ctx.tuple.dport !== ctx.original.dport) states.add('DNAT');
        if (ctx.tuple.src !== ctx.original.src || ctx.tuple.sport !== ctx.original.sport) states.add('SNAT');
        return m.ctstate.value.some((s) => states.has(s)) !== m.ctstate.negate;
      }
      case 'addrtype': {
        if (m.srcType && (addrType(ctx, tuple.src) === m.srcType.value) === m.srcType.negate) return false;
        if (m.dstType && (addrType(ctx, tuple.dst) === m.dstType.value) === m.dstType.negate) return false;
        return true;
      }
      case 'statistic': {
        const rng = ctx.rng ?? this.#rng;
        const draw = Math.floor(rng.next() * 0x80000000);
        return draw < m.probability !== m.negate;
      }
      case 'recent':
        return this.#recentMatch(m, ctx) !== m.negate;
      case 'set':
        return (this.#ipsets?.match(m.name, m.flags, ctx.tuple) ?? false) !== m.negate;
      case 'physdev': {
        // Bridged in: the flow entered through a bridge port (a pod's veth) or the bridge itself.
        const inDev = ctx.inDev === undefined ? undefined : ctx.node.interfaces.get(ctx.inDev);
        const bridgedIn = !!inDev && (inDev.master !== undefined || inDev.kind === 'bridge');
        const outDev = ctx.outDev === undefined ? undefined : ctx.node.interfaces.get(ctx.outDev);
        const bridgedOut = !!outDev && (outDev.master !== undefined || outDev.kind === 'bridge');
        if (m.isIn !== undefined && bridgedIn !== m.isIn) return false;
        if (m.isOut !== undefined && bridgedOut !== m.isOut) return false;
        if (m.isBridged !== undefined && (bridgedIn && bridgedOut) !== m.isBridged) return false;
        return true;
      }
      case 'extension':
        return m.test(ctx);
    }
  }

  /** Refuses a rule whose `-m set` names a set the node lacks (iptables: "Set NAME doesn't exist"). */
  #checkSets(rule: Rule): Rule {
    for (const m of rule.matches) {
      if (m.module === 'set' && this.#ipsets && !this.#ipsets.has(m.name)) throw netfilterError(`Set ${m.name} doesn't exist.`);
    }
    return rule;
  }

  /** How many rules match an ipset (`ipset list`'s References; a referenced set cannot be destroyed). */
  setReferences(name: string): number {
    let n = 0;
    for (const t of this.#tables.values()) for (const c of t.chains.values()) for (const r of c.rules) for (const m of r.matches) if (m.module === 'set' && m.name === name) n++;
    return n;
  }

  /** xt_recent's match: what `--set`, `--rcheck`, `--update` and `--remove` do to the named list. */
  #recentMatch(m: RecentMatch, ctx: FlowContext): boolean {
    const address = maskAddress(m.side === 'rsource' ? ctx.tuple.src : ctx.tuple.dst, m.mask);
    let list = this.#recent.get(m.name);
    if (!list) this.#recent.set(m.name, (list = new Map()));
    const now = this.#clock.now();
    if (m.op === 'set') {
      list.set(address, now);
      return true;
    }
    if (m.reap && m.seconds > 0) for (const [a, at] of list) if (now - at > m.seconds * 1000) list.delete(a);
    const seen = list.get(address);
    if (seen === undefined) return false;
    if (m.op === 'remove') {
      list.delete(address);
      return true;
    }
    if (m.seconds > 0 && now - seen > m.seconds * 1000) return false;
    if (m.op === 'update') list.set(address, now);
    return true;
  }
}

/** An IPv4 address under a dotted mask (xt_recent keys its lists by the masked address). */
function maskAddress(address: string, mask: string): string {
  const a = address.split('.').map(Number);
  const k = mask.split('.').map(Number);
  if (a.length !== 4 || k.length !== 4) return address;
  return a.map((o, i) => o & k[i]!).join('.');
}

// ---- parsing -------------------------------------------------------------------------------

/** Splits an iptables command line into arguments, honouring double quotes (and `\"` inside). */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    let tok = '';
    while (i < text.length && !/\s/.test(text[i]!)) {
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          tok += text[i++];
        }
        if (text[i] !== '"') throw netfilterError(`unterminated quote in: ${text}`);
        i++;
      } else {
        tok += text[i++];
      }
    }
    out.push(tok);
  }
  return out;
}

/**
 * Parses a rule's arguments (what follows `-A CHAIN`). Unknown options and modules are refused
 * by name, as iptables refuses them; a jump to a chain the table lacks is refused unless
 * `deferJumps` (iptables-restore checks jumps after the whole table is read).
 */
export function parseRule(args: readonly string[], table: Table, deferJumps = false): Rule {
  const rule: Rule = { matches: [], counters: zero() };
  let negate = false;
  let module: Match | undefined;
  const take = (i: number, opt: string): string => {
    const v = args[i];
    if (v === undefined || (v.startsWith('-') && !/^-\d/.test(v))) throw netfilterError(`option "${opt}" requires an argument`);
    return v;
  };
  const neg = <T>(value: T): Negatable<T> => {
    const n = { value, negate };
    negate = false;
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '!') {
      negate = true;
      continue;
    }
    switch (a) {
      case '-s':
      case '--source':
        rule.source = neg(canonicalCidr(take(++i, a)));
        break;
      case '-d':
      case '--destination':
        rule.destination = neg(canonicalCidr(take(++i, a)));
        break;
      case '-i':
      case '--in-interface':
        rule.inInterface = neg(take(++i, a));
        break;
      case '-o':
      case '--out-interface':
        rule.outInterface = neg(take(++i, a));
        break;
      case '-p':
      case '--protocol': {
        const p = take(++i, a).toLowerCase();
        if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw netfilterError(`unsupported protocol "${p}" (tcp, udp, sctp)`);
        rule.protocol = neg(p);
        break;
      }
      case '-m':
      case '--match': {
        const name = take(++i, a);
        module = newMatch(name);
        rule.matches.push(module);
        break;
      }
      case '--sport':
      case '--source-port':
      case '--dport':
      case '--destination-port': {
        // `-p tcp --dport 80` loads the tcp match implicitly, as iptables does.
        let m = module && (module.module === 'tcp' || module.module === 'udp' || module.module === 'sctp') ? module : undefined;
        if (!m) {
          if (!rule.protocol || rule.protocol.negate) throw netfilterError(`${a} needs -p tcp|udp|sctp`);
          m = newMatch(rule.protocol.value) as Extract<Match, { module: 'tcp' }>;
          rule.matches.push(m);
          module = m;
        }
        const range = neg(parsePortRange(take(++i, a)));
        if (a === '--sport' || a === '--source-port') m.sport = range;
        else m.dport = range;
        break;
      }
      case '--mark': {
        if (module?.module !== 'mark') throw netfilterError('--mark needs -m mark');
        const { value, mask } = parseMarkMask(take(++i, a));
        module.mark = value;
        module.mask = mask;
        module.negate = negate;
        negate = false;
        break;
      }
      case '--comment':
        if (module?.module !== 'comment') throw netfilterError('--comment needs -m comment');
        module.comment = take(++i, a);
        if (module.comment.length > 256) throw netfilterError('comment is longer than 256 characters');
        break;
      case '--ctstate': {
        if (module?.module !== 'conntrack') throw netfilterError('--ctstate needs -m conntrack');
        const states = take(++i, a).split(',');
        for (const s of states) if (!(CT_STATES as readonly string[]).includes(s)) throw netfilterError(`bad ctstate "${s}" (${CT_STATES.join(', ')})`);
        module.ctstate = neg([...new Set(states as CtState[])].sort((x, y) => CT_STATES.indexOf(x) - CT_STATES.indexOf(y)));
        break;
      }
      case '--src-type':
      case '--dst-type': {
        if (module?.module !== 'addrtype') throw netfilterError(`${a} needs -m addrtype`);
        const type = take(++i, a).toUpperCase();
        if (!(ADDR_TYPES as readonly string[]).includes(type)) throw netfilterError(`bad address type "${type}" (${ADDR_TYPES.join(', ')})`);
        if (a === '--src-type') module.srcType = neg(type);
        else module.dstType = neg(type);
        break;
      }
      case '--mode':
        if (module?.module !== 'statistic') throw netfilterError('--mode needs -m statistic');
        if (take(++i, a) !== 'random') throw netfilterError('only --mode random is supported');
        break;
      case '--probability': {
        if (module?.module !== 'statistic') throw netfilterError('--probability needs -m statistic');
        const text = take(++i, a);
        const p = Number(text);
        if (!/^[0-9.eE+-]+$/.test(text) || !(p >= 0 && p <= 1)) throw netfilterError(`--probability must be between 0 and 1: "${text}"`);
        // libxt_statistic: lround(0x80000000 * prob).
        module.probability = Math.round(0x80000000 * p);
        module.negate = negate;
        negate = false;
        break;
      }
      case '--set':
      case '--rcheck':
      case '--update':
      case '--remove': {
        if (module?.module !== 'recent') throw netfilterError(`${a} needs -m recent`);
        if (module.op) throw netfilterError('-m recent takes one of --set, --rcheck, --update, --remove');
        module.op = a.slice(2) as RecentMatch['op'];
        module.negate = negate;
        negate = false;
        break;
      }
      case '--name':
      case '--seconds':
      case '--mask': {
        if (module?.module !== 'recent') throw netfilterError(`${a} needs -m recent`);
        const v = take(++i, a);
        if (a === '--name') {
          if (!/^[\w.-]{1,200}$/.test(v)) throw netfilterError(`bad recent list name "${v}"`);
          module.name = v;
        } else if (a === '--seconds') {
          if (!/^\d+$/.test(v)) throw netfilterError(`--seconds must be a whole number: "${v}"`);
          module.seconds = Number(v);
        } else {
          if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(v)) throw netfilterError(`bad --mask "${v}"`);
          module.mask = v;
        }
        break;
      }
      case '--reap':
      case '--rsource':
      case '--rdest':
        if (module?.module !== 'recent') throw netfilterError(`${a} needs -m recent`);
        if (a === '--reap') module.reap = true;
        else module.side = a.slice(2) as RecentMatch['side'];
        break;
      case '--match-set': {
        if (module?.module !== 'set') throw netfilterError('--match-set needs -m set');
        const name = take(++i, a);
        const flags = take(++i, a).split(',');
        if (!/^[\w.:-]{1,31}$/.test(name)) throw netfilterError(`bad set name "${name}"`);
        if (flags.length > 6 || !flags.every((f) => f === 'src' || f === 'dst')) throw netfilterError(`--match-set ${name}: bad flags "${flags.join(',')}" (src or dst, comma separated, at most 6)`);
        module.name = name;
        module.flags = flags as SetMatch['flags'];
        module.negate = negate;
        negate = false;
        break;
      }
      case '--physdev-is-in':
      case '--physdev-is-out':
      case '--physdev-is-bridged': {
        if (module?.module !== 'physdev') throw netfilterError(`${a} needs -m physdev`);
        const key = a === '--physdev-is-in' ? 'isIn' : a === '--physdev-is-out' ? 'isOut' : 'isBridged';
        module[key] = !negate;
        negate = false;
        break;
      }
      case '-j':
      case '--jump':
      case '-g':
      case '--goto':
        i = parseTarget(args, i, rule, table, deferJumps);
        break;
      default:
        throw netfilterError(`unknown option "${a}"`);
    }
  }
  if (negate) throw netfilterError('"!" must come before an option');
  for (const m of rule.matches) {
    if (m.module === 'set' && !m.name) throw netfilterError('-m set needs --match-set NAME FLAGS');
    if (m.module === 'physdev' && m.isIn === undefined && m.isOut === undefined && m.isBridged === undefined) throw netfilterError('-m physdev needs --physdev-is-in, --physdev-is-out or --physdev-is-bridged');
  }
  if (rule.matches.some((m) => m.module === 'statistic' && m.probability < 0)) throw netfilterError('-m statistic needs --probability');
  for (const m of rule.matches) {
    if (m.module !== 'recent') continue;
    if (!m.op) throw netfilterError('-m recent needs one of --set, --rcheck, --update, --remove');
    if (m.reap && !m.seconds) throw netfilterError('-m recent: --reap needs --seconds');
  }
  return rule;
}

function newMatch(name: string): Match {
  switch (name) {
    case 'tcp':
    case 'udp':
    case 'sctp':
      return { module: name };
    case 'mark':
      return { module: 'mark', mark: 0, mask: 0xffffffff, negate: false };
    case 'comment':
      return { module: 'comment', comment: '' };
    case 'conntrack':
      return { module: 'conntrack', ctstate: { value: [], negate: false } };
    case 'addrtype':
      return { module: 'addrtype' };
    case 'statistic':
      return { module: 'statistic', mode: 'random', probability: -1, negate: false };
    case 'recent':
      return { module: 'recent', name: 'DEFAULT', op: undefined, seconds: 0, reap: false, side: 'rsource', mask: '255.255.255.255', negate: false };
    case 'set':
      return { module: 'set', name: '', flags: [], negate: false };
    case 'physdev':
      return { module: 'physdev' };
    default:
      throw netfilterError(`unsupported match "-m ${name}" (tcp, udp, sctp, mark, comment, conntrack, addrtype, statistic, recent, set, physdev)`);
  }
}

/** Reads `-j TARGET [options]` or `-g CHAIN`; returns the index of the last argument used. */
function parseTarget(args: readonly string[], i: number, rule: Rule, table: Table, deferJumps: boolean): number {
  const opt = args[i]!;
  const name = args[i + 1];
  if (!name) throw netfilterError(`option "${opt}" requires an argument`);
  i++;
  const opts: Record<string, string | true> = {};
  while (i + 1 < args.length && args[i + 1]!.startsWith('--')) {
    const key = args[++i]!;
    const next = args[i + 1];
    if (next !== undefined && !next.startsWith('-')) {
      opts[key] = next;
      i++;
    } else {
      opts[key] = true;
    }
  }
  const only = (allowed: string[]) => {
    for (const k of Object.keys(opts)) if (!allowed.includes(k)) throw netfilterError(`${name}: unknown option "${k}"`);
  };
  const str = (k: string) => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined);
  if (opt === '-g' || opt === '--goto') {
    only([]);
    rule.target = { kind: 'goto', chain: checkJump(table, name, deferJumps) };
    return i;
  }
  switch (name) {
    case 'ACCEPT':
    case 'DROP':
    case 'RETURN':
      only([]);
      rule.target = { kind: name };
      break;
    case 'REJECT': {
      only(['--reject-with']);
      const w = str('--reject-with') ?? 'icmp-port-unreachable';
      const known = ['icmp-net-unreachable', 'icmp-host-unreachable', 'icmp-port-unreachable', 'icmp-proto-unreachable', 'icmp-net-prohibited', 'icmp-host-prohibited', 'icmp-admin-prohibited', 'tcp-reset'];
      if (!known.includes(w)) throw netfilterError(`REJECT: bad --reject-with "${w}" (${known.join(', ')})`);
      rule.target = { kind: 'REJECT', rejectWith: w };
      break;
    }
    case 'DNAT':
    case 'SNAT': {
      const key = name === 'DNAT' ? '--to-destination' : '--to-source';
      only(name === 'DNAT' ? [key] : [key, '--random-fully']);
      if (table.name !== 'nat') throw netfilterError(`${name} is only valid in the nat table`);
      const to = str(key);
      if (!to) throw netfilterError(`${name} needs ${key}`);
      splitHostPort(to);
      rule.target = name === 'DNAT' ? { kind: 'DNAT', to } : { kind: 'SNAT', to, randomFully: opts['--random-fully'] === true };
      break;
    }
    case 'MASQUERADE': {
      only(['--random-fully', '--to-ports']);
      if (table.name !== 'nat') throw netfilterError('MASQUERADE is only valid in the nat table');
      const toPorts = str('--to-ports');
      rule.target = { kind: 'MASQUERADE', randomFully: opts['--random-fully'] === true, ...(toPorts ? { toPorts } : {}) };
      break;
    }
    case 'MARK': {
      only(['--set-xmark', '--set-mark', '--or-mark', '--and-mark', '--xor-mark']);
      const k = Object.keys(opts)[0];
      const v = k ? str(k) : undefined;
      if (!k || !v) throw netfilterError('MARK needs --set-xmark, --set-mark, --or-mark, --and-mark or --xor-mark');
      const { value, mask } = parseMarkMask(v);
      // libxt_MARK's translations to --set-xmark value/mask.
      if (k === '--set-xmark') rule.target = { kind: 'MARK', value, mask };
      else if (k === '--set-mark') rule.target = { kind: 'MARK', value, mask: v.includes('/') ? mask : 0xffffffff };
      else if (k === '--or-mark') rule.target = { kind: 'MARK', value, mask: value };
      else if (k === '--and-mark') rule.target = { kind: 'MARK', value: 0, mask: ~value >>> 0 };
      else rule.target = { kind: 'MARK', value, mask: 0 };
      break;
    }
    default:
      if (/^[A-Z]+$/.test(name) && !table.chains.has(name) && !deferJumps) {
        throw netfilterError(`unsupported target "${name}" (ACCEPT, DROP, REJECT, RETURN, DNAT, SNAT, MASQUERADE, MARK, or a chain)`);
      }
      only([]);
      rule.target = { kind: 'jump', chain: checkJump(table, name, deferJumps) };
  }
  return i;
}

function checkJump(table: Table, chain: string, defer: boolean): string {
  if (BUILTIN_CHAINS[table.name].includes(chain as Hook)) throw netfilterError(`${table.name}: cannot jump to built-in chain ${chain}`);
  if (!defer && !table.chains.has(chain)) throw netfilterError(`${table.name}: no chain "${chain}" to jump to (create it first: -N ${chain})`);
  return chain;
}

// ---- rendering -----------------------------------------------------------------------------

/** A rule's arguments as iptables-save prints them (without `-A CHAIN`). */
export function formatRuleSpec(rule: Rule): string {
  const parts: string[] = [];
  const opt = (flag: string, n: Negatable<string> | undefined) => {
    if (n) parts.push(`${n.negate ? '! ' : ''}${flag} ${n.value}`);
  };
  opt('-s', rule.source);
  opt('-d', rule.destination);
  opt('-i', rule.inInterface);
  opt('-o', rule.outInterface);
  opt('-p', rule.protocol);
  for (const m of rule.matches) parts.push(formatMatch(m));
  if (rule.target) parts.push(formatTarget(rule.target));
  return parts.join(' ');
}

function formatMatch(m: Match): string {
  const not = (negate: boolean) => (negate ? '! ' : '');
  switch (m.module) {
    case 'tcp':
    case 'udp':
    case 'sctp': {
      const ports = [m.sport && `${not(m.sport.negate)}--sport ${formatRange(m.sport.value)}`, m.dport && `${not(m.dport.negate)}--dport ${formatRange(m.dport.value)}`].filter(Boolean);
      return [`-m ${m.module}`, ...ports].join(' ');
    }
    case 'mark':
      return `-m mark ${not(m.negate)}--mark ${hex(m.mark)}${m.mask === 0xffffffff ? '' : `/${hex(m.mask)}`}`;
    case 'comment':
      return `-m comment --comment ${quote(m.comment)}`;
    case 'conntrack':
      return `-m conntrack ${not(m.ctstate.negate)}--ctstate ${m.ctstate.value.join(',')}`;
    case 'addrtype':
      return ['-m addrtype', m.srcType && `${not(m.srcType.negate)}--src-type ${m.srcType.value}`, m.dstType && `${not(m.dstType.negate)}--dst-type ${m.dstType.value}`].filter(Boolean).join(' ');
    case 'statistic':
      // libxt_statistic prints the stored fraction with %.11f.
      return `-m statistic --mode random ${not(m.negate)}--probability ${(m.probability / 0x80000000).toFixed(11)}`;
    case 'recent':
      // libxt_recent's save order.
      return [
        '-m recent',
        `${not(m.negate)}--${m.op}`,
        m.seconds ? `--seconds ${m.seconds}` : '',
        m.reap ? '--reap' : '',
        `--name ${m.name}`,
        `--mask ${m.mask}`,
        `--${m.side}`,
      ]
        .filter(Boolean)
        .join(' ');
    case 'set':
      // libxt_set's save (revision 4): the inversion, the set, the flags.
      return `-m set ${not(m.negate)}--match-set ${m.name} ${m.flags.join(',')}`;
    case 'physdev': {
      // libxt_physdev's save order.
      const flag = (v: boolean | undefined, name: string) => (v === undefined ? '' : `${v ? '' : '! '}--physdev-${name}`);
      return ['-m physdev', flag(m.isIn, 'is-in'), flag(m.isOut, 'is-out'), flag(m.isBridged, 'is-bridged')].filter(Boolean).join(' ');
    }
    case 'extension':
      return `-m ${m.name}${m.options ? ` ${m.options}` : ''}`;
  }
}

function formatTarget(t: Target): string {
  switch (t.kind) {
    case 'ACCEPT':
    case 'DROP':
    case 'RETURN':
      return `-j ${t.kind}`;
    case 'REJECT':
      return `-j REJECT --reject-with ${t.rejectWith}`;
    case 'jump':
      return `-j ${t.chain}`;
    case 'goto':
      return `-g ${t.chain}`;
    case 'DNAT':
      return `-j DNAT --to-destination ${t.to}`;
    case 'SNAT':
      return `-j SNAT --to-source ${t.to}${t.randomFully ? ' --random-fully' : ''}`;
    case 'MASQUERADE':
      return `-j MASQUERADE${t.toPorts ? ` --to-ports ${t.toPorts}` : ''}${t.randomFully ? ' --random-fully' : ''}`;
    case 'MARK':
      return `-j MARK --set-xmark ${hex(t.value)}/${hex(t.mask)}`;
  }
}

/** libxtables `xtables_save_string`: always double-quoted, `"` and `\` escaped. */
function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

function formatRange(r: PortRange): string {
  return r.first === r.last ? String(r.first) : `${r.first}:${r.last}`;
}

// ---- helpers -------------------------------------------------------------------------------

function netfilterError(message: string): PodnetError {
  return new PodnetError('PODNET_NETFILTER_INVALID', message);
}

function zero(): Counters {
  return { packets: 0, bytes: 0 };
}

function checkTable(name: string): TableName {
  if (!(TABLES as readonly string[]).includes(name)) throw netfilterError(`unknown table "${name}" (${TABLES.join(', ')})`);
  return name as TableName;
}

function checkChainName(name: string): void {
  // xtables: at most 28 characters (XT_EXTENSION_MAXNAMELEN 29 with the NUL), no leading '-' or '!'.
  if (!name || name.length > 28 || /^[-!]/.test(name) || /\s/.test(name)) throw netfilterError(`invalid chain name "${name}" (1-28 characters, no spaces, not starting with - or !)`);
}

function referencesTo(t: Table, chain: string): boolean {
  for (const c of t.chains.values()) for (const r of c.rules) if ((r.target?.kind === 'jump' || r.target?.kind === 'goto') && r.target.chain === chain) return true;
  return false;
}

function inUse(t: Table): boolean {
  for (const c of t.chains.values()) if (!c.builtin || c.rules.length || c.policy === 'DROP') return true;
  return false;
}

/** `10.1.2.3` → `10.1.2.3/32`; host bits cleared (`10.1.2.3/24` → `10.1.2.0/24`), as iptables stores them. */
function canonicalCidr(text: string): string {
  const [addr, prefixText, extra] = text.split('/');
  const ip = addr ? parseIP(addr) : undefined;
  if (!ip || extra !== undefined) throw netfilterError(`host/network "${text}" not found`);
  const bits = familyBits(ip.family);
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? String(bits)) || prefix > bits) throw netfilterError(`invalid mask "${prefixText}" in ${text}`);
  const host = BigInt(bits - prefix);
  return `${formatIP(ipFromValue(ip.family, (ip.value >> host) << host))}/${prefix}`;
}

/** A `-s`/`-d` value, parsed once: IPv4 as 32-bit numbers (the hot path), IPv6 as BigInts. */
type ParsedCidr = { family: 'IPv4'; net: number; mask: number } | { family: 'IPv6'; net: bigint; shift: bigint } | null;
const cidrCache = new Map<string, ParsedCidr>();
/** The last address tested: a flow's walk tests the same address against rule after rule. */
let lastIp: { text: string; parsed: ReturnType<typeof parseIP> } | undefined;

function parseCidrCached(cidr: string): ParsedCidr {
  let c = cidrCache.get(cidr);
  if (c !== undefined) return c;
  const [base, prefixText] = cidr.split('/');
  const b = parseIP(base!);
  const prefix = Number(prefixText ?? (b ? familyBits(b.family) : 32));
  if (!b) c = null;
  else if (b.family === 'IPv4') {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    c = { family: 'IPv4', net: (Number(b.value) & mask) >>> 0, mask };
  } else {
    const shift = BigInt(128 - prefix);
    c = { family: 'IPv6', net: b.value >> shift, shift };
  }
  if (cidrCache.size >= 200_000) cidrCache.clear();
  cidrCache.set(cidr, c);
  return c;
}

function inCidr(ip: string, cidr: string): boolean {
  if (lastIp?.text !== ip) lastIp = { text: ip, parsed: parseIP(ip) };
  const a = lastIp.parsed;
  const c = parseCidrCached(cidr);
  if (!a || !c || a.family !== c.family) return false;
  if (c.family === 'IPv4') return ((Number(a.value) & c.mask) >>> 0) === c.net;
  return a.value >> c.shift === c.net;
}

/** iptables interface names: exact, or a prefix ending in `+`. */
function ifaceMatches(dev: string | undefined, pattern: string): boolean {
  if (dev === undefined) return false;
  return pattern.endsWith('+') ? dev.startsWith(pattern.slice(0, -1)) : dev === pattern;
}

function parsePortRange(text: string): PortRange {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  const first = m ? Number(m[1]) : NaN;
  const last = m?.[2] !== undefined ? Number(m[2]) : first;
  if (!m || first > 65535 || last > 65535 || first > last) throw netfilterError(`invalid port/service "${text}"`);
  return { first, last };
}

function inRange(port: number, r: PortRange): boolean {
  return port >= r.first && port <= r.last;
}

function parseMarkMask(text: string): { value: number; mask: number } {
  const [v, m] = text.split('/');
  const num = (s: string | undefined) => (s !== undefined && /^(0x[0-9a-fA-F]+|\d+)$/.test(s) ? Number(s) : NaN);
  const value = num(v);
  const mask = m === undefined ? 0xffffffff : num(m);
  if (!(value >= 0 && value <= 0xffffffff) || !(mask >= 0 && mask <= 0xffffffff)) throw netfilterError(`bad mark value "${text}"`);
  return { value: value >>> 0, mask: mask >>> 0 };
}

function splitHostPort(to: string): { ip: string; port?: number } {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(to);
  const ip = m?.[1];
  if (!ip || !parseIP(ip)) throw netfilterError(`bad NAT address "${to}" (IP[:PORT])`);
  if (m[2] !== undefined) {
    const port = Number(m[2]);
    if (port < 1 || port > 65535) throw netfilterError(`bad NAT port in "${to}"`);
    return { ip, port };
  }
  return { ip };
}

function familyOf(ip: string): IPFamily {
  return parseIP(ip)?.family ?? 'IPv4';
}

function primaryAddress(node: NodeNetwork, dev: string, family: IPFamily): string | undefined {
  const iface = node.interfaces.get(dev);
  return iface?.addresses.map((a) => a.split('/')[0]!).find((a) => parseIP(a)?.family === family);
}

function addrType(ctx: FlowContext, ip: string): string {
  const a = parseIP(ip);
  if (!a) return 'UNSPEC';
  if (ctx.node.ownsAddress(ip) || (a.family === 'IPv4' && a.value >> 24n === 127n) || ip === '::1') return 'LOCAL';
  if (a.family === 'IPv4' && a.value >> 28n === 0xen) return 'MULTICAST';
  if (a.family === 'IPv4' && a.value === 0xffffffffn) return 'BROADCAST';
  return 'UNICAST';
}
