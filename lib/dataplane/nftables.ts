/**
 * A node's nftables ruleset (the `ip` family), as much of nftables as kube-proxy's nftables mode
 * uses (kubernetes/kubernetes pkg/proxy/nftables/proxier.go, written through sigs.k8s.io/knftables):
 * tables, base chains (type filter|nat|route, hook, priority — numbers, or the standard names
 * `raw` `mangle` `dstnat` `filter` `security` `srcnat` with `± offset`), regular chains, rules with
 * comments, named sets and verdict maps with typed (and concatenated) keys, elements with comments
 * and timeouts, and the expressions and statements kube-proxy's rules are made of:
 *   `ip saddr|daddr [!=] ADDR|CIDR|{ … }|@set`, `meta l4proto`, `th|tcp|udp|sctp dport|sport`,
 *   `ct state`, `ct status`, `fib saddr|daddr type local`, `(meta) mark [and|&|or|xor X] == V`,
 *   `KEY . KEY … vmap @map`, `numgen random mod N vmap { 0 : goto a, 1 : goto b }`,
 *   `update|add @set { ip saddr }`, `jump`, `goto`, `return`, `accept`, `drop`, `continue`,
 *   `reject`, `dnat to ADDR[:PORT]`, `masquerade [fully-random]`, `mark set mark or|xor X`,
 *   `counter [packets N bytes M]`.
 * Anything else is refused by name, as nft refuses what it cannot parse.
 *
 * Loading (`nft -f`): the transaction text knftables writes — `add|create|delete|destroy|flush
 * table|chain|set|map`, `add|insert|replace|delete rule`, `add|create|delete|destroy element`,
 * `flush ruleset` — and the block syntax `nft list ruleset` prints (`table ip t { chain c { … } }`),
 * so a listing loads back. A transaction is atomic, as nft's netlink batch is: the commands run in
 * order against the live tables while an undo log records each change; an error anywhere (a parse
 * error, a missing chain or set, a jump to a base chain, deleting a chain or set something still
 * refers to, a changed base chain, a datatype mismatch, a chain loop, a NAT or reject statement a
 * base chain of the wrong type or hook reaches) rolls everything back and names the line.
 *
 * Rendering (`nft list ruleset` / `nft list table ip NAME`) follows nftables' src/rule.c and
 * src/expression.c as nft 1.0.6 (Debian 12) prints them: tab indentation; the table's comment;
 * sets and maps first, then chains, each in creation order, separated by blank lines; elements
 * sorted by key (src/mergesort.c); a dynamic set with nft's default `size 65535`; base chains
 * print `type … hook … priority …; policy …;`
 * with the priority as nft names it (`dstnat - 10` only where the name is valid for the hook, else
 * the number, prio2str); rules print in nft's canonical form (`meta mark set meta mark | 0x00004000`,
 * `meta mark & 0x00004000 == 0x00000000`, a one-element anonymous set as a plain value); set
 * elements wrap as calculate_delim does (two addresses per line, one concatenation per line);
 * elements of timeout sets print `expires` with the remaining time. With counters on request, every
 * rule shows `counter packets N bytes 0` before its last statement. As in netfilter.ts, the pipeline
 * sees the first packet of each flow only, so packets count the new flows that matched the rule (a
 * verdict-map rule: the flows its map had an element for) and bytes stay 0.
 *
 * Evaluation: each base chain is a HookHandler at its hook with its numeric priority (dstnat -100,
 * filter 0, srcnat 100; kube-proxy's filter chains at -110 run before iptables' nat tables).
 * Rules run in order; `jump` pushes a return point, `goto` does not, `return` (or the end of a
 * regular chain) pops, the end of a base chain applies its policy; `accept` ends this base chain;
 * `drop` and `reject` end the flow; NAT statements rewrite the flow and end the chain, as nft_nat's
 * NF_ACCEPT does. Verdict map and set lookups are hash lookups on the concatenated key (O(1) per
 * Service, whatever the number of Services); only `flags interval` sets are scanned.
 * `numgen random mod N` is nft_numgen.c's `reciprocal_scale(prandom_u32(), N) + offset`: a 32-bit
 * draw from the flow's seeded RNG times N, shifted right by 32 — a uniform pick in [0, N), replayed
 * by the same seed. Timeout sets are timed by the node's clock: `update @set { ip saddr }` adds the
 * source or refreshes its timeout, a lookup ignores expired elements. `ct state` is `new` (the
 * pipeline decides new flows); `ct status dnat|snat` holds once this flow was NATed; `fib … type`
 * is `local` for the node's own addresses and 127/8; `masquerade` takes the out interface's address.
 * Each rule that matched adds a trace step: table `ip NAME`, chain, the rule's text, what it did.
 */

import { PodnetError } from '../core/errors.js';
import { SeededRng, type Rng } from '../core/rng.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Hook } from './hooks.js';
import type { NodeNetwork } from './node.js';
import type { FlowContext, HookHandler, HookVerdict } from './pipeline.js';

// ---- constants -----------------------------------------------------------------------------

/** nft's hook names and the pipeline's hooks. */
export const NFT_HOOKS = { prerouting: 'PREROUTING', input: 'INPUT', forward: 'FORWARD', output: 'OUTPUT', postrouting: 'POSTROUTING' } as const satisfies Record<string, Hook>;
/** A hook name as nft spells it. */
export type NftHook = keyof typeof NFT_HOOKS;

/** Base chain types. */
export type NftChainType = 'filter' | 'nat' | 'route';

/** nft's standard priority names (src/rule.c std_prios), in the order nft tries them. */
export const NFT_STD_PRIORITIES = [
  { name: 'raw', value: -300 },
  { name: 'mangle', value: -150 },
  { name: 'dstnat', value: -100 },
  { name: 'filter', value: 0 },
  { name: 'security', value: 50 },
  { name: 'srcnat', value: 100 },
] as const;

/** The value types podnet's nftables knows. */
export type NftType = 'ipv4_addr' | 'inet_proto' | 'inet_service' | 'mark' | 'integer' | 'ct_state' | 'ct_status' | 'fib_addrtype';

/** Types a named set key may have. */
const SET_KEY_TYPES: readonly NftType[] = ['ipv4_addr', 'inet_proto', 'inet_service', 'mark'];

const PROTO_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, sctp: 132 };
const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp' };
/** ct state bits (include/uapi/linux/netfilter/nf_conntrack_common.h), in nft's print order. */
const CT_STATE_BITS: readonly [string, number][] = [['invalid', 1], ['established', 2], ['related', 4], ['new', 8], ['untracked', 64]];
const CT_STATUS_BITS: readonly [string, number][] = [['expected', 1], ['seen-reply', 2], ['assured', 4], ['confirmed', 8], ['snat', 16], ['dnat', 32], ['dying', 512]];
const FIB_ADDRTYPES = ['unspec', 'unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit'] as const;

/** NFT_NAME_MAXLEN - 1 and NFT_USERDATA comment limit as nft enforces them. */
const NAME_MAX = 255;
const COMMENT_MAX = 128;
/** The most rule steps one base chain walk takes before podnet calls it a loop. */
const MAX_STEPS = 100_000;
const TWO_32 = 0x1_0000_0000;

// ---- model ---------------------------------------------------------------------------------

/** Packet and byte counters. */
export interface NftCounters {
  packets: number;
  bytes: number;
}

/** A typed constant: an inclusive numeric range (a single value when lo === hi), and its nft text. */
export interface NftValue {
  lo: number;
  hi: number;
  text: string;
}

/** What a rule or a map element decides. */
export type NftVerdict = { kind: 'accept' | 'drop' | 'return' | 'continue' } | { kind: 'jump' | 'goto'; chain: string };

/** A packet field (a selector) and the type of its value. */
export interface NftSelector {
  /** The canonical nft name: `ip daddr`, `meta l4proto`, `th dport`, `meta mark`, `ct state`, `fib daddr type`, … */
  name: string;
  type: NftType;
  /** For `tcp dport` and the like: the protocol the packet must carry. */
  proto?: number;
}

/** The left side of a relation or map lookup. */
export type NftLeft =
  | { kind: 'sel'; sels: NftSelector[] }
  | { kind: 'binop'; sel: NftSelector; op: '&' | '|' | '^'; value: number }
  | { kind: 'numgen'; mod: number; offset: number };

/** One entry of an anonymous verdict map (`numgen random mod 2 vmap { 0 : goto a, 1 : goto b }`). */
export interface NftInlineEntry {
  key: NftValue;
  verdict: NftVerdict;
}

/** A statement of a rule. Matches (`rel`, `vmap` misses) stop the rule when they fail. */
export type NftStmt =
  | { kind: 'rel'; left: NftLeft; op: 'eq' | 'ne' | 'implicit'; rhs: { kind: 'value'; value: NftValue } | { kind: 'set'; values: NftValue[] } | { kind: 'ref'; set: string } }
  | { kind: 'vmap'; left: NftLeft; map?: string; entries?: NftInlineEntry[] }
  | { kind: 'verdict'; verdict: NftVerdict }
  | { kind: 'reject'; with?: string }
  | { kind: 'dnat'; ip: number; port?: number; text: string }
  | { kind: 'masquerade'; flags: string[] }
  | { kind: 'mark'; op: 'set' | '|' | '&' | '^'; value: number }
  | { kind: 'setop'; op: 'update' | 'add'; set: string; sels: NftSelector[]; timeout?: number };

/** A rule: its statements, comment, counters and canonical text (as `nft list` prints it). */
export interface NftRule {
  handle: number;
  stmts: NftStmt[];
  comment?: string;
  counters: NftCounters;
  /** The canonical text, without counters. */
  readonly text: string;
  /** The chains it jumps or goes to and the sets and maps it uses. */
  readonly refs: { readonly chains: readonly string[]; readonly sets: readonly string[] };
}

/** A base chain's hook attachment. */
export interface NftBaseSpec {
  type: NftChainType;
  hook: NftHook;
  priority: number;
  policy: 'accept' | 'drop';
}

/** A chain: regular, or a base chain with a hook. */
export interface NftChain {
  name: string;
  handle: number;
  comment?: string;
  base?: NftBaseSpec;
  rules: NftRule[];
}

/** A set or map element. */
export interface NftElement {
  /** The key's fields. */
  key: NftValue[];
  /** Canonical key text (`172.30.0.41 . tcp . 80`). */
  text: string;
  /** For verdict maps. */
  verdict?: NftVerdict;
  comment?: string;
  /** An element timeout different from the set's (ms). */
  timeout?: number;
  /** Cluster-clock time (ms) it expires at, for timeout sets. */
  expiresAt?: number;
}

/** A named set (`map` false) or verdict map. */
export interface NftSet {
  name: string;
  handle: number;
  map: boolean;
  keyTypes: NftType[];
  flags: Set<'constant' | 'dynamic' | 'interval' | 'timeout'>;
  /** Default element timeout (ms). */
  timeout?: number;
  gcInterval?: number;
  size?: number;
  policy?: 'performance' | 'memory';
  autoMerge?: boolean;
  comment?: string;
  /** Elements by lookup key (the fields' numbers joined). */
  elements: Map<string, NftElement>;
}

/** A table. */
export interface NftTable {
  family: 'ip';
  name: string;
  comment?: string;
  flags: string[];
  chains: Map<string, NftChain>;
  sets: Map<string, NftSet>;
  /** Who refers to each chain (`c:NAME`) or set (`s:NAME`): referrer node → count. */
  refs: Map<string, Map<string, number>>;
}

/** What one `load` did. */
export interface NftLoadResult {
  /** Commands run (knftables' Transaction.NumOperations()). */
  operations: number;
}

/** Options of {@link Nftables}. */
export interface NftablesOptions {
  /** The RNG `numgen random` draws from when the flow context carries none. */
  rng?: Rng;
  /** The clock timeout sets are timed by. */
  clock?: Clock;
}

// ---- values --------------------------------------------------------------------------------

function nftError(message: string): PodnetError {
  return new PodnetError('PODNET_NFTABLES_INVALID', message);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** A dotted quad as an unsigned 32-bit number, or undefined. */
export function ipv4ToNumber(text: string): number | undefined {
  if (!IPV4.test(text)) return undefined;
  const p = text.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

/** An unsigned 32-bit number as a dotted quad. */
export function numberToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function hex8(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** A number as the type prints it. */
function formatNumber(type: NftType, n: number): string {
  switch (type) {
    case 'ipv4_addr':
      return numberToIpv4(n);
    case 'inet_proto':
      return PROTO_NAMES[n] ?? String(n);
    case 'mark':
      return hex8(n);
    case 'ct_state':
      return formatBits(CT_STATE_BITS, n);
    case 'ct_status':
      return formatBits(CT_STATUS_BITS, n);
    case 'fib_addrtype':
      return FIB_ADDRTYPES[n] ?? String(n);
    default:
      return String(n);
  }
}

function formatBits(bits: readonly [string, number][], n: number): string {
  return bits.filter(([, b]) => (n & b) !== 0).map(([name]) => name).join(',');
}

function parseUint(text: string, max: number): number | undefined {
  if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

/** Parses a constant of a type: `10.0.0.0/8`, `tcp`, `80`, `1000-2000`, `0x4000`, `new`, `local`. */
export function parseValue(type: NftType, text: string): NftValue {
  const bad = (what: string) => nftError(`${what} "${text}" is not a valid ${type}`);
  switch (type) {
    case 'ipv4_addr': {
      const [addr, prefixText, extra] = text.split('/');
      const ip = addr === undefined ? undefined : ipv4ToNumber(addr);
      if (ip === undefined || extra !== undefined) throw bad('address');
      if (prefixText === undefined) return { lo: ip, hi: ip, text: numberToIpv4(ip) };
      const prefix = /^\d+$/.test(prefixText) ? Number(prefixText) : NaN;
      if (!(prefix >= 0 && prefix <= 32)) throw bad('prefix');
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      const lo = (ip & mask) >>> 0;
      const hi = (lo | (~mask >>> 0)) >>> 0;
      return { lo, hi, text: prefix === 32 ? numberToIpv4(lo) : `${numberToIpv4(lo)}/${prefix}` };
    }
    case 'inet_proto': {
      const n = PROTO_NUMBERS[text] ?? parseUint(text, 255);
      if (n === undefined) throw bad('protocol');
      return { lo: n, hi: n, text: formatNumber(type, n) };
    }
    case 'inet_service':
    case 'integer': {
      const max = type === 'inet_service' ? 65535 : 0xffffffff;
      const m = /^([^-]+)(?:-([^-]+))?$/.exec(text);
      const lo = m ? parseUint(m[1]!, max) : undefined;
      const hi = m?.[2] !== undefined ? parseUint(m[2], max) : lo;
      if (lo === undefined || hi === undefined || hi < lo) throw bad(type === 'integer' ? 'number' : 'port');
      return { lo, hi, text: lo === hi ? String(lo) : `${lo}-${hi}` };
    }
    case 'mark': {
      const n = parseUint(text, 0xffffffff);
      if (n === undefined) throw bad('mark');
      return { lo: n, hi: n, text: hex8(n) };
    }
    case 'ct_state':
    case 'ct_status': {
      const table = type === 'ct_state' ? CT_STATE_BITS : CT_STATUS_BITS;
      let n = 0;
      for (const part of text.split(',')) {
        const bit = table.find(([name]) => name === part)?.[1];
        if (bit === undefined) throw nftError(`"${part}" is not a valid ${type === 'ct_state' ? 'ct state' : 'ct status'} (${table.map(([s]) => s).join(', ')})`);
        n |= bit;
      }
      return { lo: n, hi: n, text: formatNumber(type, n) };
    }
    case 'fib_addrtype': {
      const n = (FIB_ADDRTYPES as readonly string[]).indexOf(text);
      if (n < 0) throw nftError(`"${text}" is not a valid fib address type (${FIB_ADDRTYPES.join(', ')})`);
      return { lo: n, hi: n, text };
    }
  }
}

/** nft's time_print: `3h`, `1d2h3m4s`, `250ms`. */
export function formatTime(ms: number): string {
  let rest = Math.max(0, Math.floor(ms));
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n}${unit}`);
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join('') || '0s';
}

/** Parses nft's time syntax (`10800s`, `3h`, `1d2h`, `500ms`; a bare number is seconds). */
export function parseTime(text: string): number {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+)(ms|d|h|m|s)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const n = Number(m[1]);
    total += n * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : m[2] === 'h' ? 3_600_000 : 86_400_000);
    at = re.lastIndex;
  }
  if (at !== text.length || text.length === 0) throw nftError(`"${text}" is not a valid time (e.g. 10800s, 3h, 1d2h)`);
  return total;
}

/** A priority as nft prints it for a hook (src/rule.c prio2str). */
export function formatPriority(priority: number, hook: NftHook): string {
  for (const std of NFT_STD_PRIORITIES) {
    if (Math.abs(priority - std.value) > 10) continue;
    if (!priorityNameValid(std.name, hook)) break;
    const offset = priority - std.value;
    return offset > 0 ? `${std.name} + ${offset}` : offset < 0 ? `${std.name} - ${-offset}` : std.name;
  }
  return String(priority);
}

/** std_prio_family_hook_compat for the ip family. */
function priorityNameValid(name: string, hook: NftHook): boolean {
  if (name === 'dstnat') return hook === 'prerouting';
  if (name === 'srcnat') return hook === 'postrouting';
  return true;
}

// ---- tokens --------------------------------------------------------------------------------

interface Token {
  /** The text; a quoted string keeps its quotes off and sets `quoted`. */
  t: string;
  line: number;
  quoted?: boolean;
}

const NL = '\n';
const WORD = /[^\s{};,"#]+/y;

/** Splits nft input into words, quoted strings, `{ } ; , = :` punctuation and newlines. */
function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      out.push({ t: NL, line });
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      const nl = text.indexOf('\n', i + 1);
      if (end < 0 || (nl >= 0 && nl < end)) throw nftError(`nft -f: line ${line}: unterminated string`);
      out.push({ t: text.slice(i + 1, end), line, quoted: true });
      i = end + 1;
    } else if (c === '{' || c === '}' || c === ';' || c === ',') {
      out.push({ t: c, line });
      i++;
    } else {
      WORD.lastIndex = i;
      WORD.exec(text);
      out.push({ t: text.slice(i, WORD.lastIndex), line });
      i = WORD.lastIndex;
    }
  }
  out.push({ t: NL, line });
  return out;
}

/** A cursor over tokens. */
class Tokens {
  readonly #toks: Token[];
  #i = 0;
  constructor(toks: Token[], from = 0) {
    this.#toks = toks;
    this.#i = from;
  }
  get pos(): number {
    return this.#i;
  }
  peek(k = 0): Token | undefined {
    return this.#toks[this.#i + k];
  }
  next(): Token {
    const t = this.#toks[this.#i];
    if (!t) throw nftError('unexpected end of input');
    this.#i++;
    return t;
  }
  done(): boolean {
    return this.#i >= this.#toks.length;
  }
  /** The next word, or an error naming what was wanted. */
  word(what: string): string {
    const t = this.peek();
    if (!t || t.t === NL || (!t.quoted && /^[{};,]$/.test(t.t))) throw nftError(`syntax error: expected ${what}${t && t.t !== NL ? `, got "${t.t}"` : ''}`);
    this.#i++;
    return t.t;
  }
  string(what: string): string {
    const t = this.peek();
    if (!t?.quoted) throw nftError(`syntax error: expected ${what} (a quoted string)`);
    this.#i++;
    return t.t;
  }
  expect(p: string): void {
    const t = this.peek();
    if (t?.t !== p || t.quoted) throw nftError(`syntax error: expected "${p}"${t && t.t !== NL ? `, got "${t.t}"` : ''}`);
    this.#i++;
  }
  accept(p: string): boolean {
    const t = this.peek();
    if (t && !t.quoted && t.t === p) {
      this.#i++;
      return true;
    }
    return false;
  }
  skipNewlines(): void {
    while (this.peek()?.t === NL && !this.peek()?.quoted) this.#i++;
  }
  /** Skips newlines and `;`. */
  skipSeparators(): void {
    while (this.peek() && !this.peek()!.quoted && (this.peek()!.t === NL || this.peek()!.t === ';')) this.#i++;
  }
  /** At a statement end: newline, `;` or `}` (unquoted), or the end. */
  atEnd(): boolean {
    const t = this.peek();
    return !t || (!t.quoted && (t.t === NL || t.t === ';' || t.t === '}'));
  }
  line(): number {
    return this.peek()?.line ?? this.#toks.at(-1)?.line ?? 0;
  }
}

// ---- parsed commands -----------------------------------------------------------------------

/** A set's properties as written; flags and elements are checked when the command runs. */
interface SetSpec extends Partial<Pick<NftSet, 'keyTypes' | 'map' | 'timeout' | 'gcInterval' | 'size' | 'policy' | 'autoMerge' | 'comment'>> {
  flags: string[];
  elements?: ParsedElement[];
}

interface ChainSpec {
  base?: { type: NftChainType; hook: NftHook; priority: number };
  policy?: 'accept' | 'drop';
  comment?: string;
  rules: { line: number; toks: Token[] }[];
}

interface ParsedElement {
  line: number;
  keyTexts: string[];
  verdictToks?: Token[];
  comment?: string;
  timeout?: number;
  expires?: number;
}

type Command = { line: number } & (
  | { op: 'add' | 'create'; obj: 'table'; table: string; comment?: string; flags?: string[] }
  | { op: 'delete' | 'destroy' | 'flush'; obj: 'table'; table: string }
  | { op: 'flush'; obj: 'ruleset' }
  | { op: 'add' | 'create'; obj: 'chain'; table: string; name: string; spec?: ChainSpec }
  | { op: 'delete' | 'destroy' | 'flush'; obj: 'chain'; table: string; name: string }
  | { op: 'add' | 'insert'; obj: 'rule'; table: string; chain: string; where?: { kind: 'index' | 'handle' | 'position'; n: number }; toks: Token[] }
  | { op: 'replace'; obj: 'rule'; table: string; chain: string; handle: number; toks: Token[] }
  | { op: 'delete'; obj: 'rule'; table: string; chain: string; handle: number }
  | { op: 'add' | 'create'; obj: 'set'; table: string; name: string; spec: SetSpec; map: boolean }
  | { op: 'delete' | 'destroy' | 'flush'; obj: 'set'; table: string; name: string; map: boolean }
  | { op: 'add' | 'create' | 'delete' | 'destroy'; obj: 'element'; table: string; name: string; elements: ParsedElement[] }
);

const FAMILIES = ['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev'];

/** Reads `[family] name`: only the ip family is modelled. */
function tableRef(ts: Tokens): string {
  const first = ts.word('a table name');
  if (FAMILIES.includes(first) && !ts.atEnd()) {
    if (first !== 'ip') throw nftError(`family "${first}" is not modelled by podnet's nftables (ip only)`);
    return checkName(ts.word('a table name'), 'table');
  }
  return checkName(first, 'table');
}

function checkName(name: string, what: string): string {
  if (!/^[A-Za-z_.][A-Za-z0-9_./-]*$/.test(name)) throw nftError(`"${name}" is not a valid ${what} name`);
  if (name.length > NAME_MAX) throw nftError(`${what} name "${name.slice(0, 32)}…" is longer than ${NAME_MAX} characters`);
  return name;
}

function checkComment(comment: string): string {
  if (comment.length > COMMENT_MAX) throw nftError(`comment too long, ${COMMENT_MAX} characters maximum allowed`);
  return comment;
}

/** Reads rule tokens up to the end of the statement (newlines inside braces are skipped). */
function ruleTokens(ts: Tokens): Token[] {
  const out: Token[] = [];
  let depth = 0;
  for (;;) {
    const t = ts.peek();
    if (!t) break;
    if (!t.quoted) {
      if (t.t === NL) {
        if (depth === 0) break;
        ts.next();
        continue;
      }
      if (t.t === ';' && depth === 0) break;
      if (t.t === '{') depth++;
      if (t.t === '}') {
        if (depth === 0) break;
        depth--;
      }
    }
    out.push(ts.next());
  }
  if (depth > 0) throw nftError('syntax error: unbalanced "{"');
  return out;
}

function parsePriority(ts: Tokens, hook: NftHook): number {
  const first = ts.word('a priority');
  const direct = /^([a-z]+)([+-]\d+)$/.exec(first);
  let name: string | undefined;
  let offset = 0;
  if (/^-?\d+$/.test(first)) return Number(first);
  if (direct) {
    name = direct[1]!;
    offset = Number(direct[2]);
  } else {
    name = first;
    const sign = ts.peek()?.t;
    if (sign === '+' || sign === '-') {
      ts.next();
      const n = ts.word('a priority offset');
      if (!/^\d+$/.test(n)) throw nftError(`bad priority offset "${n}"`);
      offset = sign === '-' ? -Number(n) : Number(n);
    }
  }
  const std = NFT_STD_PRIORITIES.find((p) => p.name === name);
  if (!std) throw nftError(`unknown priority "${name}" (a number, or ${NFT_STD_PRIORITIES.map((p) => p.name).join(', ')})`);
  if (!priorityNameValid(std.name, hook)) throw nftError(`'${std.name}' is invalid priority in this context (hook ${hook})`);
  return std.value + offset;
}

/**
 * Reads a braced block `{ ITEM … }` whose items are separated by newlines or `;`, calling `item`
 * at the first token of each; an error inside an item names that item's line.
 */
function parseBlock(ts: Tokens, item: (first: Token) => void): void {
  ts.expect('{');
  for (;;) {
    ts.skipSeparators();
    const t = ts.peek();
    if (!t) throw nftError('syntax error: missing "}"');
    if (t.t === '}' && !t.quoted) {
      ts.next();
      return;
    }
    try {
      item(t);
    } catch (err) {
      throw atLine(err, t.line);
    }
  }
}

function parseChainBody(ts: Tokens): ChainSpec {
  const spec: ChainSpec = { rules: [] };
  parseBlock(ts, (t) => {
    if (t.t === 'type' && !t.quoted) {
      ts.next();
      const type = ts.word('a chain type');
      if (type !== 'filter' && type !== 'nat' && type !== 'route') throw nftError(`unknown chain type "${type}" (filter, nat, route)`);
      ts.expect('hook');
      const hook = ts.word('a hook');
      if (!(hook in NFT_HOOKS)) throw nftError(`unknown hook "${hook}" (${Object.keys(NFT_HOOKS).join(', ')})`);
      if (ts.peek()?.t === 'device') throw nftError('netdev/ingress device chains are not modelled');
      ts.expect('priority');
      spec.base = { type, hook: hook as NftHook, priority: parsePriority(ts, hook as NftHook) };
    } else if (t.t === 'policy' && !t.quoted) {
      ts.next();
      const p = ts.word('a policy');
      if (p !== 'accept' && p !== 'drop') throw nftError(`bad chain policy "${p}" (accept, drop)`);
      spec.policy = p;
    } else if (t.t === 'comment' && !t.quoted) {
      ts.next();
      spec.comment = checkComment(ts.string('a comment'));
    } else {
      spec.rules.push({ line: t.line, toks: ruleTokens(ts) });
    }
  });
  return spec;
}

function parseTypeList(ts: Tokens): { keyTypes: NftType[]; map: boolean } {
  const keyTypes: NftType[] = [];
  for (;;) {
    const w = ts.word('a data type');
    if (!(SET_KEY_TYPES as readonly string[]).includes(w)) throw nftError(`unsupported set key type "${w}" (${SET_KEY_TYPES.join(', ')})`);
    keyTypes.push(w as NftType);
    if (!ts.accept('.')) break;
  }
  let map = false;
  if (ts.accept(':')) {
    const data = ts.word('a map data type');
    if (data !== 'verdict') throw nftError(`unsupported map data type "${data}" (podnet models verdict maps only)`);
    map = true;
  }
  return { keyTypes, map };
}

function parseSetBody(ts: Tokens): SetSpec {
  const spec: SetSpec = { flags: [] };
  parseBlock(ts, () => {
    const w = ts.word('a set property');
    switch (w) {
      case 'type': {
        const { keyTypes, map } = parseTypeList(ts);
        spec.keyTypes = keyTypes;
        spec.map = map;
        break;
      }
      case 'typeof':
        throw nftError('"typeof" set declarations are not modelled (use "type")');
      case 'flags':
        do {
          const f = ts.word('a set flag');
          if (!['constant', 'dynamic', 'interval', 'timeout'].includes(f)) throw nftError(`unknown set flag "${f}" (constant, dynamic, interval, timeout)`);
          spec.flags.push(f);
        } while (ts.accept(','));
        break;
      case 'timeout':
        spec.timeout = parseTime(ts.word('a timeout'));
        break;
      case 'gc-interval':
        spec.gcInterval = parseTime(ts.word('a gc-interval'));
        break;
      case 'size': {
        const n = ts.word('a size');
        if (!/^\d+$/.test(n)) throw nftError(`bad set size "${n}"`);
        spec.size = Number(n);
        break;
      }
      case 'policy': {
        const p = ts.word('a set policy');
        if (p !== 'performance' && p !== 'memory') throw nftError(`bad set policy "${p}" (performance, memory)`);
        spec.policy = p;
        break;
      }
      case 'auto-merge':
        spec.autoMerge = true;
        break;
      case 'comment':
        spec.comment = checkComment(ts.string('a comment'));
        break;
      case 'elements':
        ts.expect('=');
        spec.elements = parseElements(ts);
        break;
      default:
        throw nftError(`unknown set property "${w}"`);
    }
  });
  return spec;
}

/** Reads `{ KEY [timeout T] [expires T] [comment "c"] [: VERDICT], … }`. */
function parseElements(ts: Tokens): ParsedElement[] {
  ts.expect('{');
  const out: ParsedElement[] = [];
  for (;;) {
    ts.skipNewlines();
    if (ts.accept('}')) return out;
    const el: ParsedElement = { line: ts.line(), keyTexts: [] };
    el.keyTexts.push(ts.word('an element key'));
    while (ts.accept('.')) el.keyTexts.push(ts.word('an element key'));
    for (;;) {
      if (ts.accept('timeout')) el.timeout = parseTime(ts.word('a timeout'));
      else if (ts.accept('expires')) el.expires = parseTime(ts.word('an expiry'));
      else if (ts.accept('comment')) el.comment = checkComment(ts.string('a comment'));
      else if (ts.accept('counter')) throw nftError('element counters are not modelled');
      else break;
    }
    if (ts.accept(':')) {
      el.verdictToks = [];
      while (ts.peek() && !ts.peek()!.quoted && ![',', '}', NL].includes(ts.peek()!.t)) el.verdictToks.push(ts.next());
    }
    out.push(el);
    ts.skipNewlines();
    if (ts.accept(',')) continue;
    ts.skipNewlines();
    ts.expect('}');
    return out;
  }
}

function atLine(err: unknown, line: number): unknown {
  if (err instanceof PodnetError && !/^nft -f: line \d+:/.test(err.message)) err.message = `nft -f: line ${line}: ${err.message}`;
  return err;
}

/** Parses an `nft -f` file into commands (block forms expanded as nft's cmd_expand does). */
function parseCommands(text: string): Command[] {
  const ts = new Tokens(tokenize(text));
  const out: Command[] = [];
  for (;;) {
    ts.skipSeparators();
    if (ts.done()) return out;
    const line = ts.line();
    try {
      parseCommand(ts, out, line);
      if (!ts.atEnd()) throw nftError(`syntax error: unexpected "${ts.peek()!.t}"`);
      if (ts.peek()?.t === '}' && !ts.peek()!.quoted) throw nftError('syntax error: unexpected "}"');
    } catch (err) {
      throw atLine(err, line);
    }
  }
}

function parseCommand(ts: Tokens, out: Command[], line: number): void {
  const verb = ts.word('a command');
  if (verb === 'table') {
    parseTableBlock(ts, out, line, 'add');
    return;
  }
  if (verb === 'define' || verb === 'include') throw nftError(`"${verb}" is not modelled`);
  if (!['add', 'create', 'insert', 'replace', 'delete', 'destroy', 'flush'].includes(verb)) throw nftError(`unknown command "${verb}"`);
  const obj = ts.word('an object (table, chain, rule, set, map, element)');
  if (obj === 'ruleset') {
    if (verb !== 'flush') throw nftError(`"${verb} ruleset" is not a command`);
    out.push({ line, op: 'flush', obj: 'ruleset' });
    return;
  }
  if (obj === 'table') {
    if (verb === 'add' || verb === 'create') return parseTableBlock(ts, out, line, verb);
    if (verb !== 'delete' && verb !== 'destroy' && verb !== 'flush') throw nftError(`"${verb} table" is not a command`);
    out.push({ line, op: verb, obj: 'table', table: tableRef(ts) });
    return;
  }
  if (obj !== 'rule' && ts.peek()?.t === 'handle') throw nftError('objects are named, not addressed by handle, in podnet');
  const table = tableRef(ts);
  switch (obj) {
    case 'chain': {
      const name = checkName(ts.word('a chain name'), 'chain');
      if (verb === 'add' || verb === 'create') {
        const spec = ts.peek()?.t === '{' ? parseChainBody(ts) : undefined;
        out.push({ line, op: verb, obj: 'chain', table, name, ...(spec ? { spec } : {}) });
        for (const r of spec?.rules ?? []) out.push({ line: r.line, op: 'add', obj: 'rule', table, chain: name, toks: r.toks });
      } else if (verb === 'delete' || verb === 'destroy' || verb === 'flush') {
        out.push({ line, op: verb, obj: 'chain', table, name });
      } else throw nftError(`"${verb} chain" is not a command`);
      return;
    }
    case 'rule': {
      const chain = checkName(ts.word('a chain name'), 'chain');
      let where: { kind: 'index' | 'handle' | 'position'; n: number } | undefined;
      const k = ts.peek()?.t;
      if (k === 'index' || k === 'handle' || k === 'position') {
        ts.next();
        const n = ts.word(`a rule ${k}`);
        if (!/^\d+$/.test(n)) throw nftError(`bad rule ${k} "${n}"`);
        where = { kind: k, n: Number(n) };
      }
      if (verb === 'add' || verb === 'insert') {
        const toks = ruleTokens(ts);
        if (!toks.length) throw nftError('a rule needs at least one statement');
        out.push({ line, op: verb, obj: 'rule', table, chain, ...(where ? { where } : {}), toks });
      } else if (verb === 'replace' || verb === 'delete') {
        if (where?.kind !== 'handle') throw nftError(`"${verb} rule" needs "handle N"`);
        if (verb === 'delete') out.push({ line, op: 'delete', obj: 'rule', table, chain, handle: where.n });
        else out.push({ line, op: 'replace', obj: 'rule', table, chain, handle: where.n, toks: ruleTokens(ts) });
      } else throw nftError(`"${verb} rule" is not a command`);
      return;
    }
    case 'set':
    case 'map': {
      const name = checkName(ts.word(`a ${obj} name`), obj);
      if (verb === 'add' || verb === 'create') {
        const spec = parseSetBody(ts);
        out.push({ line, op: verb, obj: 'set', table, name, spec, map: obj === 'map' });
      } else if (verb === 'delete' || verb === 'destroy' || verb === 'flush') {
        out.push({ line, op: verb, obj: 'set', table, name, map: obj === 'map' });
      } else throw nftError(`"${verb} ${obj}" is not a command`);
      return;
    }
    case 'element': {
      const name = checkName(ts.word('a set or map name'), 'set');
      if (verb !== 'add' && verb !== 'create' && verb !== 'delete' && verb !== 'destroy') throw nftError(`"${verb} element" is not a command`);
      out.push({ line, op: verb, obj: 'element', table, name, elements: parseElements(ts) });
      return;
    }
    default:
      throw nftError(`unknown object "${obj}" (table, chain, rule, set, map, element)`);
  }
}

/** `table ip NAME { … }` / `add table ip NAME [{ … }]`: the table, then its chains, sets, rules. */
function parseTableBlock(ts: Tokens, out: Command[], line: number, op: 'add' | 'create'): void {
  const table = tableRef(ts);
  const cmd: Extract<Command, { obj: 'table'; op: 'add' | 'create' }> = { line, op, obj: 'table', table };
  out.push(cmd);
  if (ts.peek()?.t !== '{') return;
  const chains: { line: number; name: string; spec: ChainSpec }[] = [];
  const sets: Extract<Command, { obj: 'set' }>[] = [];
  const rules: Command[] = [];
  parseBlock(ts, ({ line: at }) => {
    const w = ts.word('a table item (chain, set, map, comment, flags)');
    if (w === 'comment') cmd.comment = checkComment(ts.string('a comment'));
    else if (w === 'flags') {
      cmd.flags = [];
      do {
        const f = ts.word('a table flag');
        if (f !== 'dormant') throw nftError(`unknown table flag "${f}" (dormant)`);
        cmd.flags.push(f);
      } while (ts.accept(','));
    } else if (w === 'chain') {
      const name = checkName(ts.word('a chain name'), 'chain');
      const spec = parseChainBody(ts);
      chains.push({ line: at, name, spec });
      for (const r of spec.rules) rules.push({ line: r.line, op: 'add', obj: 'rule', table, chain: name, toks: r.toks });
    } else if (w === 'set' || w === 'map') {
      const name = checkName(ts.word(`a ${w} name`), w);
      sets.push({ line: at, op: 'add', obj: 'set', table, name, spec: parseSetBody(ts), map: w === 'map' });
    } else throw nftError(`unknown table item "${w}"`);
  });
  // nft adds a table block's chains, then its sets (with their elements), then the rules.
  for (const c of chains) out.push({ line: c.line, op: 'add', obj: 'chain', table, name: c.name, spec: { ...c.spec, rules: [] } });
  out.push(...sets, ...rules);
}

// ---- rule statements -----------------------------------------------------------------------

interface RuleCtx {
  table: NftTable;
  /** Set by a protocol match: `dnat to ADDR:PORT` needs one, as nft requires. */
  l4: boolean;
}

const SELECTORS: Record<string, NftSelector> = {
  'ip saddr': { name: 'ip saddr', type: 'ipv4_addr' },
  'ip daddr': { name: 'ip daddr', type: 'ipv4_addr' },
  'ip protocol': { name: 'ip protocol', type: 'inet_proto' },
  'meta l4proto': { name: 'meta l4proto', type: 'inet_proto' },
  'meta mark': { name: 'meta mark', type: 'mark' },
  'th sport': { name: 'th sport', type: 'inet_service' },
  'th dport': { name: 'th dport', type: 'inet_service' },
  'ct state': { name: 'ct state', type: 'ct_state' },
  'ct status': { name: 'ct status', type: 'ct_status' },
  'fib saddr type': { name: 'fib saddr type', type: 'fib_addrtype' },
  'fib daddr type': { name: 'fib daddr type', type: 'fib_addrtype' },
};
for (const p of ['tcp', 'udp', 'sctp']) {
  for (const f of ['sport', 'dport']) SELECTORS[`${p} ${f}`] = { name: `${p} ${f}`, type: 'inet_service', proto: PROTO_NUMBERS[p]! };
}

/** Reads a selector at the cursor, or undefined when the next words are not one. */
function readSelector(ts: Tokens): NftSelector | undefined {
  const a = ts.peek()?.t;
  const b = ts.peek(1)?.t;
  if (ts.peek()?.quoted || a === undefined) return undefined;
  if (a === 'mark' && b !== 'set') {
    ts.next();
    return SELECTORS['meta mark'];
  }
  if (a === 'fib') {
    ts.next();
    const which = ts.word('saddr or daddr');
    if (which !== 'saddr' && which !== 'daddr') throw nftError(`fib ${which}: podnet models "fib saddr type" and "fib daddr type"`);
    ts.expect('type');
    return SELECTORS[`fib ${which} type`];
  }
  const sel = b !== undefined ? SELECTORS[`${a} ${b}`] : undefined;
  if (sel && !(a === 'meta' && b === 'mark' && ts.peek(2)?.t === 'set')) {
    ts.next();
    ts.next();
    return sel;
  }
  return undefined;
}

function parseVerdict(ts: Tokens, ctx: RuleCtx): NftVerdict | undefined {
  const w = ts.peek()?.t;
  if (ts.peek()?.quoted) return undefined;
  if (w === 'accept' || w === 'drop' || w === 'return' || w === 'continue') {
    ts.next();
    return { kind: w };
  }
  if (w === 'jump' || w === 'goto') {
    ts.next();
    const chain = ts.word('a chain name');
    checkJumpTarget(ctx.table, chain);
    return { kind: w, chain };
  }
  return undefined;
}

function checkJumpTarget(t: NftTable, chain: string): void {
  const c = t.chains.get(chain);
  if (!c) throw nftError(`Could not process rule: No such file or directory: chain "${chain}" does not exist in table ip ${t.name}`);
  if (c.base) throw nftError(`Could not process rule: Operation not supported: cannot jump or goto base chain "${chain}"`);
}

function setRef(ctx: RuleCtx, name: string, keyTypes: NftType[], how: string): NftSet {
  const set = ctx.table.sets.get(name);
  if (!set) throw nftError(`Could not process rule: No such file or directory: set "${name}" does not exist in table ip ${ctx.table.name}`);
  if (set.keyTypes.join(' . ') !== keyTypes.join(' . ')) {
    throw nftError(`datatype mismatch, ${how} @${name} expects ${set.keyTypes.join(' . ')}, expression has type ${keyTypes.join(' . ')}`);
  }
  return set;
}

function leftType(left: NftLeft): NftType[] {
  if (left.kind === 'sel') return left.sels.map((s) => s.type);
  if (left.kind === 'binop') return [left.sel.type];
  return ['integer'];
}

/** Reads a value token, or a `a,b` comma list for flag types. */
function readValueText(ts: Tokens, type: NftType): string {
  let text = ts.word('a value');
  if (type === 'ct_state' || type === 'ct_status') {
    while (ts.peek()?.t === ',' && ts.peek(1) && /^[a-z-]+$/.test(ts.peek(1)!.t)) {
      ts.next();
      text += `,${ts.next().t}`;
    }
  }
  return text;
}

/** Reads `{ v, v, … }` of a type. */
function readAnonSet(ts: Tokens, type: NftType): NftValue[] {
  ts.expect('{');
  const values: NftValue[] = [];
  for (;;) {
    if (ts.accept('}')) break;
    values.push(parseValue(type, ts.word('a set element')));
    if (ts.accept(',')) continue;
    ts.expect('}');
    break;
  }
  if (!values.length) throw nftError('empty anonymous set');
  return values;
}

function readMapEntries(ts: Tokens, type: NftType, ctx: RuleCtx): NftInlineEntry[] {
  ts.expect('{');
  const entries: NftInlineEntry[] = [];
  for (;;) {
    if (ts.accept('}')) break;
    const key = parseValue(type, ts.word('a map key'));
    ts.expect(':');
    const verdict = parseVerdict(ts, ctx);
    if (!verdict) throw nftError('a verdict map entry needs a verdict (accept, drop, return, continue, jump CHAIN, goto CHAIN)');
    entries.push({ key, verdict });
    if (ts.accept(',')) continue;
    ts.expect('}');
    break;
  }
  if (!entries.length) throw nftError('empty verdict map');
  return entries;
}

/** Parses one rule's tokens into statements (and its comment and counters). */
function parseRule(toks: Token[], ctx: RuleCtx): { stmts: NftStmt[]; comment?: string; counters?: NftCounters } {
  const ts = new Tokens(toks);
  const stmts: NftStmt[] = [];
  let comment: string | undefined;
  let counters: NftCounters | undefined;
  while (!ts.done()) {
    if (ts.accept('comment')) {
      comment = checkComment(ts.string('a comment'));
      if (!ts.done()) throw nftError('syntax error: the comment must come last');
      break;
    }
    const verdict = parseVerdict(ts, ctx);
    if (verdict) {
      stmts.push({ kind: 'verdict', verdict });
      continue;
    }
    const w = ts.peek()!.t;
    if (ts.peek()!.quoted) throw nftError(`syntax error: unexpected string "${w}"`);
    if (w === 'counter') {
      ts.next();
      counters = { packets: 0, bytes: 0 };
      if (ts.accept('packets')) {
        const p = ts.word('a packet count');
        ts.expect('bytes');
        const b = ts.word('a byte count');
        if (!/^\d+$/.test(p) || !/^\d+$/.test(b)) throw nftError('counter packets N bytes M needs numbers');
        counters = { packets: Number(p), bytes: Number(b) };
      }
      continue;
    }
    if (w === 'reject') {
      ts.next();
      if (ts.accept('with')) {
        const kind = ts.word('icmp, icmpx or tcp');
        if (kind === 'tcp') {
          ts.expect('reset');
          stmts.push({ kind: 'reject', with: 'tcp reset' });
        } else if (kind === 'icmp' || kind === 'icmpx') {
          ts.accept('type');
          stmts.push({ kind: 'reject', with: `${kind} ${ts.word('an icmp reject type')}` });
        } else throw nftError(`bad reject type "${kind}"`);
      } else stmts.push({ kind: 'reject' });
      continue;
    }
    if (w === 'dnat') {
      ts.next();
      ts.accept('ip');
      ts.expect('to');
      const to = ts.word('an address');
      const m = /^([\d.]+)(?::(\d+))?$/.exec(to);
      const ip = m ? ipv4ToNumber(m[1]!) : undefined;
      const port = m?.[2] !== undefined ? Number(m[2]) : undefined;
      if (ip === undefined || (port !== undefined && (port < 1 || port > 65535))) throw nftError(`bad dnat address "${to}" (IP[:PORT])`);
      if (port !== undefined && !ctx.l4) throw nftError('transport protocol mapping is only valid after transport protocol match');
      stmts.push({ kind: 'dnat', ip, ...(port !== undefined ? { port } : {}), text: to });
      continue;
    }
    if (w === 'masquerade') {
      ts.next();
      const flags: string[] = [];
      if (!ts.done() && ['random', 'fully-random', 'persistent'].includes(ts.peek()!.t)) {
        do {
          const f = ts.word('a masquerade flag');
          if (!['random', 'fully-random', 'persistent'].includes(f)) throw nftError(`bad masquerade flag "${f}"`);
          flags.push(f);
        } while (ts.accept(','));
      }
      stmts.push({ kind: 'masquerade', flags });
      continue;
    }
    if (w === 'update' || w === 'add') {
      ts.next();
      const ref = ts.word('@set');
      const name = ref.startsWith('@') ? ref.slice(1) || ts.word('a set name') : undefined;
      if (!name) throw nftError(`${w} needs @set`);
      ts.expect('{');
      const sels: NftSelector[] = [];
      for (;;) {
        const sel = readSelector(ts);
        if (!sel) throw nftError(`${w} @${name}: expected a key expression (ip saddr, ip daddr, …)`);
        sels.push(sel);
        if (!ts.accept('.')) break;
      }
      let timeout: number | undefined;
      if (ts.accept('timeout')) timeout = parseTime(ts.word('a timeout'));
      ts.expect('}');
      const set = setRef(ctx, name, sels.map((s) => s.type), w);
      if (set.map) throw nftError(`${w} @${name}: a map cannot be updated from the packet path here`);
      if (!set.flags.has('dynamic') && !set.flags.has('timeout')) throw nftError(`${w} @${name}: the set needs "flags dynamic" to be updated from the packet path`);
      stmts.push({ kind: 'setop', op: w, set: name, sels, ...(timeout !== undefined ? { timeout } : {}) });
      continue;
    }
    // `mark set …` / `meta mark set …`
    if ((w === 'mark' && ts.peek(1)?.t === 'set') || (w === 'meta' && ts.peek(1)?.t === 'mark' && ts.peek(2)?.t === 'set')) {
      if (w === 'meta') ts.next();
      ts.next();
      ts.next();
      let op: 'set' | '|' | '&' | '^' = 'set';
      if (ts.peek()?.t === 'mark' || (ts.peek()?.t === 'meta' && ts.peek(1)?.t === 'mark')) {
        if (ts.peek()?.t === 'meta') ts.next();
        ts.next();
        const o = ts.word('or, and, xor');
        op = o === 'or' || o === '|' ? '|' : o === 'and' || o === '&' ? '&' : o === 'xor' || o === '^' ? '^' : (() => {
          throw nftError(`bad mark operator "${o}" (or, and, xor)`);
        })();
      }
      stmts.push({ kind: 'mark', op, value: parseValue('mark', ts.word('a mark')).lo });
      continue;
    }
    // An expression: selector(s) or numgen, then a relation or a vmap.
    let left: NftLeft;
    if (w === 'numgen') {
      ts.next();
      const mode = ts.word('random');
      if (mode !== 'random') throw nftError(`numgen ${mode}: podnet models "numgen random"`);
      ts.expect('mod');
      const mod = parseUint(ts.word('a modulus'), 0xffffffff);
      if (!mod) throw nftError('numgen random mod N needs N > 0');
      let offset = 0;
      if (ts.accept('offset')) offset = parseUint(ts.word('an offset'), 0xffffffff) ?? NaN;
      if (Number.isNaN(offset)) throw nftError('bad numgen offset');
      left = { kind: 'numgen', mod, offset };
    } else {
      const first = readSelector(ts);
      if (!first) throw nftError(`unsupported expression or statement "${w}"`);
      const sels = [first];
      while (ts.accept('.')) {
        const sel = readSelector(ts);
        if (!sel) throw nftError('syntax error: expected an expression after "."');
        sels.push(sel);
      }
      const opWord = ts.peek()?.t;
      const binop = opWord === 'and' || opWord === '&' ? '&' : opWord === 'or' || opWord === '|' ? '|' : opWord === 'xor' || opWord === '^' ? '^' : undefined;
      if (binop && sels.length === 1) {
        ts.next();
        if (first.type !== 'mark') throw nftError(`bitwise "${opWord}" is modelled for meta mark only`);
        left = { kind: 'binop', sel: first, op: binop, value: parseValue('mark', ts.word('a mask')).lo };
      } else left = { kind: 'sel', sels };
      for (const s of sels) {
        if (s.proto !== undefined || s.name === 'meta l4proto' || s.name === 'ip protocol' || s.name.startsWith('th ')) ctx.l4 = true;
      }
    }
    if (ts.accept('vmap')) {
      const types = leftType(left);
      if (ts.peek()?.t === '{') {
        if (types.length !== 1) throw nftError('anonymous verdict maps with concatenated keys are not modelled');
        stmts.push({ kind: 'vmap', left, entries: readMapEntries(ts, types[0]!, ctx) });
      } else {
        const ref = ts.word('@map');
        if (!ref.startsWith('@')) throw nftError(`vmap needs @map or { … }, got "${ref}"`);
        const name = ref.slice(1) || ts.word('a map name');
        const set = setRef(ctx, name, types, 'vmap');
        if (!set.map) throw nftError(`@${name} is a set, not a verdict map`);
        stmts.push({ kind: 'vmap', left, map: name });
      }
      continue;
    }
    if (left.kind === 'numgen') throw nftError('numgen is modelled in "numgen random mod N vmap { … }" only');
    let op: 'eq' | 'ne' | 'implicit' = 'implicit';
    if (ts.accept('!=')) op = 'ne';
    else if (ts.accept('==') || ts.accept('eq')) op = 'eq';
    const types = leftType(left);
    const next = ts.peek();
    if (!next || next.t === NL) throw nftError(`syntax error: ${w} needs a value`);
    if (next.t.startsWith('@') && !next.quoted) {
      ts.next();
      const name = next.t.slice(1) || ts.word('a set name');
      setRef(ctx, name, types, 'lookup');
      if (op === 'eq') op = 'implicit';
      stmts.push({ kind: 'rel', left, op, rhs: { kind: 'ref', set: name } });
    } else if (next.t === '{' && !next.quoted) {
      if (types.length !== 1) throw nftError('anonymous sets with concatenated keys are not modelled');
      const values = readAnonSet(ts, types[0]!);
      // nft turns a one-element anonymous set into a plain comparison.
      stmts.push({ kind: 'rel', left, op, rhs: values.length === 1 ? { kind: 'value', value: values[0]! } : { kind: 'set', values } });
    } else {
      if (types.length !== 1) throw nftError('a concatenation needs a set or map on its right');
      stmts.push({ kind: 'rel', left, op, rhs: { kind: 'value', value: parseValue(types[0]!, readValueText(ts, types[0]!)) } });
    }
  }
  if (!stmts.length && !counters) throw nftError('a rule needs at least one statement');
  return { stmts, ...(comment !== undefined ? { comment } : {}), ...(counters ? { counters } : {}) };
}

// ---- printing ------------------------------------------------------------------------------

/** A verdict as a trace action: `jump CHAIN`, `goto CHAIN`, or ACCEPT, DROP, RETURN, CONTINUE. */
function verdictAction(v: NftVerdict): string {
  return v.kind === 'jump' || v.kind === 'goto' ? verdictText(v) : v.kind.toUpperCase();
}

function verdictText(v: NftVerdict): string {
  return v.kind === 'jump' || v.kind === 'goto' ? `${v.kind} ${v.chain}` : v.kind;
}

function leftText(left: NftLeft): string {
  if (left.kind === 'sel') return left.sels.map((s) => s.name).join(' . ');
  if (left.kind === 'binop') return `${left.sel.name} ${left.op} ${hex8(left.value)}`;
  return `numgen random mod ${left.mod}${left.offset ? ` offset ${left.offset}` : ''}`;
}

function sortedValues(values: readonly NftValue[]): NftValue[] {
  return [...values].sort((a, b) => a.lo - b.lo || a.hi - b.hi);
}

/** A statement as `nft list` prints it. */
export function stmtText(s: NftStmt): string {
  switch (s.kind) {
    case 'rel': {
      const rhs = s.rhs.kind === 'value' ? s.rhs.value.text : s.rhs.kind === 'ref' ? `@${s.rhs.set}` : `{ ${sortedValues(s.rhs.values).map((v) => v.text).join(', ')} }`;
      const flagValue = s.rhs.kind === 'value' && s.left.kind === 'sel' && (s.left.sels[0]!.type === 'ct_state' || s.left.sels[0]!.type === 'ct_status');
      const op = s.op === 'ne' ? ' != ' : s.left.kind === 'binop' || (s.op === 'eq' && flagValue) ? ' == ' : ' ';
      return `${leftText(s.left)}${op}${rhs}`;
    }
    case 'vmap':
      return `${leftText(s.left)} vmap ${s.map !== undefined ? `@${s.map}` : `{ ${s.entries!.map((e) => `${e.key.text} : ${verdictText(e.verdict)}`).join(', ')} }`}`;
    case 'verdict':
      return verdictText(s.verdict);
    case 'reject':
      return s.with ? `reject with ${s.with}` : 'reject';
    case 'dnat':
      return `dnat to ${s.text}`;
    case 'masquerade':
      return s.flags.length ? `masquerade ${s.flags.join(',')}` : 'masquerade';
    case 'mark':
      return s.op === 'set' ? `meta mark set ${hex8(s.value)}` : `meta mark set meta mark ${s.op} ${hex8(s.value)}`;
    case 'setop':
      return `${s.op} @${s.set} { ${s.sels.map((x) => x.name).join(' . ')}${s.timeout !== undefined ? ` timeout ${formatTime(s.timeout)}` : ''} }`;
  }
}

function ruleText(stmts: readonly NftStmt[], comment: string | undefined, counters?: NftCounters): string {
  const parts = stmts.map(stmtText);
  if (!parts.length && !counters) parts.push('counter');
  if (counters) parts.splice(Math.max(0, parts.length - 1), 0, `counter packets ${counters.packets} bytes ${counters.bytes}`);
  return parts.join(' ') + (comment !== undefined ? ` comment "${comment}"` : '');
}

/** The verdicts and sets a rule refers to. */
function ruleRefs(stmts: readonly NftStmt[]): { chains: string[]; sets: string[] } {
  const chains: string[] = [];
  const sets: string[] = [];
  for (const s of stmts) {
    if (s.kind === 'verdict' && (s.verdict.kind === 'jump' || s.verdict.kind === 'goto')) chains.push(s.verdict.chain);
    if (s.kind === 'vmap') {
      if (s.map !== undefined) sets.push(s.map);
      for (const e of s.entries ?? []) if (e.verdict.kind === 'jump' || e.verdict.kind === 'goto') chains.push(e.verdict.chain);
    }
    if (s.kind === 'rel' && s.rhs.kind === 'ref') sets.push(s.rhs.set);
    if (s.kind === 'setop') sets.push(s.set);
  }
  return { chains, sets };
}

/** A base chain reaching a chain: its name, type and hook. */
interface NftContext {
  chain: string;
  type: NftChainType;
  hook: NftHook;
}

/** Refuses a rule whose NAT or reject statement a base chain of the wrong type or hook reaches. */
function checkRule(chain: string, rule: NftRule, contexts: readonly NftContext[]): void {
  for (const s of rule.stmts) {
    const need = stmtConstraint(s);
    if (!need) continue;
    for (const ctx of contexts) {
      if ((need.types && !need.types.includes(ctx.type)) || !need.hooks.includes(ctx.hook)) {
        throw nftError(`Operation not supported: "${stmtText(s)}" in chain ${chain} is reached from base chain ${ctx.chain} (type ${ctx.type} hook ${ctx.hook}); ${need.what} needs ${need.types ? `a ${need.types.join('/')} chain at ` : ''}hook ${need.hooks.join(', ')}`);
      }
    }
  }
}

/** The hooks and chain types a statement may run in (nft_*_validate in the kernel). */
function stmtConstraint(s: NftStmt): { what: string; types?: NftChainType[]; hooks: NftHook[] } | undefined {
  if (s.kind === 'dnat') return { what: 'dnat', types: ['nat'], hooks: ['prerouting', 'output'] };
  if (s.kind === 'masquerade') return { what: 'masquerade', types: ['nat'], hooks: ['postrouting', 'input'] };
  if (s.kind === 'reject') return { what: 'reject', hooks: ['prerouting', 'input', 'forward', 'output'] };
  return undefined;
}

// ---- the ruleset ---------------------------------------------------------------------------

/** What a transaction added, for the commit checks. */
interface Added {
  table: NftTable;
  chain: string;
  rule?: NftRule;
  element?: { set: string; verdict: NftVerdict };
  line: number;
}

type Outcome = { kind: 'nomatch' } | { kind: 'next' } | { kind: 'verdict'; verdict: NftVerdict } | { kind: 'final'; result: HookVerdict };

/** A node's nftables ruleset. */
export class Nftables {
  readonly #tables = new Map<string, NftTable>();
  readonly #rng: Rng;
  readonly #clock: Clock;
  #handle = 0;
  /** The undo log of the transaction being applied. */
  #undo: (() => void)[] | undefined;
  /** What the running transaction added, for the commit checks. */
  #added: Added[] = [];
  #node: NodeNetwork | undefined;
  readonly #registered = new Map<string, { hook: NftHook; priority: number; undo: () => void }>();

  constructor(options: NftablesOptions = {}) {
    this.#rng = options.rng ?? new SeededRng(0);
    this.#clock = options.clock ?? systemClock;
  }

  /** A table (`ip`, name). */
  table(name: string): NftTable | undefined {
    return this.#tables.get(name);
  }

  /** The tables, in creation order. */
  tables(): NftTable[] {
    return [...this.#tables.values()];
  }

  /**
   * `nft -f`: applies a whole file atomically. Returns the number of commands run; on any error
   * nothing changes and the error names the line.
   */
  load(text: string): NftLoadResult {
    const commands = parseCommands(text);
    const undo: (() => void)[] = [];
    const handle = this.#handle;
    this.#undo = undo;
    this.#added = [];
    try {
      for (const cmd of commands) {
        try {
          this.#run(cmd);
        } catch (err) {
          throw atLine(err, cmd.line);
        }
      }
      this.#validate();
    } catch (err) {
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
      this.#handle = handle;
      throw err;
    } finally {
      this.#undo = undefined;
      this.#added = [];
    }
    this.#syncHooks();
    return { operations: commands.length };
  }

  /** `nft list ruleset` (every table) or `nft list table ip NAME`. */
  list(options: { counters?: boolean; table?: string } = {}): string {
    const tables = options.table !== undefined ? [this.#tables.get(options.table)].filter((t): t is NftTable => !!t) : [...this.#tables.values()];
    if (options.table !== undefined && !tables.length) throw nftError(`Error: No such file or directory: table ip ${options.table}`);
    return tables.map((t) => this.#printTable(t, options.counters === true)).join('');
  }

  /** Zeroes every rule counter (`nft reset counters`-like). */
  zeroCounters(): void {
    for (const t of this.#tables.values()) for (const c of t.chains.values()) for (const r of c.rules) r.counters = { packets: 0, bytes: 0 };
  }

  /**
   * Registers the base chains at their hooks on a node (and keeps them registered as loads add,
   * change or remove base chains). Returns the function that unregisters them.
   */
  attach(node: NodeNetwork): () => void {
    this.#node = node;
    this.#syncHooks();
    return () => {
      for (const r of this.#registered.values()) r.undo();
      this.#registered.clear();
      this.#node = undefined;
    };
  }

  /** Walks a flow through one base chain (what its hook handler runs). */
  evaluate(tableName: string, chainName: string, ctx: FlowContext): HookVerdict {
    const t = this.#tables.get(tableName);
    const base = t?.chains.get(chainName);
    if (!t || !base?.base || t.flags.includes('dormant')) return undefined;
    // The ip family sees IPv4 packets only.
    if (ipv4ToNumber(ctx.tuple.dst) === undefined || ipv4ToNumber(ctx.tuple.src) === undefined) return undefined;
    const label = `ip ${t.name}`;
    const stack: { chain: NftChain; next: number }[] = [];
    let chain = base;
    let index = 0;
    for (let steps = 0; steps < MAX_STEPS; steps++) {
      const rule = chain.rules[index];
      if (!rule) {
        const frame = stack.pop();
        if (frame) {
          chain = frame.chain;
          index = frame.next;
          continue;
        }
        return this.#policy(label, base, ctx);
      }
      index++;
      const out = this.#runRule(t, label, chain, rule, ctx);
      if (out.kind === 'nomatch' || out.kind === 'next') continue;
      if (out.kind === 'final') return out.result;
      const v = out.verdict;
      switch (v.kind) {
        case 'continue':
          continue;
        case 'accept':
          return { verdict: 'ACCEPT' };
        case 'drop':
          return { verdict: 'DROP', reason: `dropped by ${label} ${chain.name}` };
        case 'return': {
          const frame = stack.pop();
          if (!frame) return this.#policy(label, base, ctx);
          chain = frame.chain;
          index = frame.next;
          continue;
        }
        case 'jump':
        case 'goto': {
          const target = t.chains.get(v.chain);
          if (!target) return undefined;
          if (v.kind === 'jump') stack.push({ chain, next: index });
          chain = target;
          index = 0;
          continue;
        }
      }
    }
    throw nftError(`${label} ${chainName}: more than ${MAX_STEPS} rule steps (a chain loop?)`);
  }

  // ---- evaluation internals ----

  #policy(label: string, base: NftChain, ctx: FlowContext): HookVerdict {
    if (base.base?.policy === 'drop') {
      ctx.trace({ table: label, chain: base.name, action: 'DROP', detail: 'chain policy drop' });
      return { verdict: 'DROP', reason: `${label} ${base.name} policy drop` };
    }
    return undefined;
  }

  #runRule(t: NftTable, label: string, chain: NftChain, rule: NftRule, ctx: FlowContext): Outcome {
    const details: string[] = [];
    let action = 'count';
    let outcome: Outcome = { kind: 'next' };
    for (const s of rule.stmts) {
      switch (s.kind) {
        case 'rel':
          if (!this.#relation(t, s, ctx)) return { kind: 'nomatch' };
          break;
        case 'vmap': {
          const hit = this.#vmapLookup(t, s, ctx);
          if (!hit) return { kind: 'nomatch' };
          details.push(hit.detail);
          outcome = { kind: 'verdict', verdict: hit.verdict };
          action = verdictAction(hit.verdict);
          break;
        }
        case 'verdict':
          outcome = { kind: 'verdict', verdict: s.verdict };
          action = verdictAction(s.verdict);
          break;
        case 'reject':
          outcome = { kind: 'final', result: { verdict: 'REJECT', reason: /host-unreachable|net-unreachable/.test(s.with ?? '') ? 'no route to host' : `rejected by ${label} ${chain.name}${s.with ? ` (${s.with})` : ''}` } };
          action = 'REJECT';
          break;
        case 'dnat':
        case 'masquerade': {
          const before = `${ctx.tuple.src}:${ctx.tuple.sport} → ${ctx.tuple.dst}:${ctx.tuple.dport}`;
          if (s.kind === 'dnat') {
            ctx.tuple = { ...ctx.tuple, dst: numberToIpv4(s.ip), ...(s.port !== undefined ? { dport: s.port } : {}) };
          } else {
            // The address of the interface the flow leaves on (inet_select_addr on the out device).
            const address = ctx.outDev ? primaryIPv4(ctx.node, ctx.outDev) : undefined;
            if (!address) details.push(`no address on ${ctx.outDev ?? '(no out interface)'}: unchanged`);
            else ctx.tuple = { ...ctx.tuple, src: address };
          }
          if (!details.length) details.push(`${before} ⇒ ${ctx.tuple.src}:${ctx.tuple.sport} → ${ctx.tuple.dst}:${ctx.tuple.dport}`);
          action = s.kind.toUpperCase();
          outcome = { kind: 'final', result: { verdict: 'ACCEPT' } };
          break;
        }
        case 'mark':
          ctx.mark = (s.op === 'set' ? s.value : s.op === '|' ? ctx.mark | s.value : s.op === '&' ? ctx.mark & s.value : ctx.mark ^ s.value) >>> 0;
          action = 'MARK';
          details.push(`mark ${hex8(ctx.mark)}`);
          break;
        case 'setop': {
          const set = t.sets.get(s.set);
          const values = s.sels.map((sel) => selectorValue(sel, ctx));
          if (!set || values.some((v) => v === undefined)) return { kind: 'nomatch' };
          const key = (values as number[]).join(':');
          const now = this.#clock.now();
          const existing = liveElement(set, key, now);
          const timeout = s.timeout ?? set.timeout;
          if (existing && s.op === 'update' && timeout !== undefined) existing.expiresAt = now + timeout;
          if (!existing) {
            const keyValues = (values as number[]).map((n, i) => ({ lo: n, hi: n, text: formatNumber(set.keyTypes[i]!, n) }));
            set.elements.set(key, { key: keyValues, text: keyValues.map((k) => k.text).join(' . '), ...(timeout !== undefined ? { expiresAt: now + timeout } : {}), ...(s.timeout !== undefined && s.timeout !== set.timeout ? { timeout: s.timeout } : {}) });
          }
          action = s.op.toUpperCase();
          details.push(`@${s.set} ${existing ? 'refreshed' : 'added'} ${(values as number[]).map((n, i) => formatNumber(set.keyTypes[i]!, n)).join(' . ')}`);
          break;
        }
      }
      if (outcome.kind === 'verdict' || outcome.kind === 'final') break;
    }
    rule.counters.packets++;
    ctx.trace({ table: label, chain: chain.name, rule: rule.text, action, ...(details.length ? { detail: details.join('; ') } : {}) });
    return outcome;
  }

  #relation(t: NftTable, s: Extract<NftStmt, { kind: 'rel' }>, ctx: FlowContext): boolean {
    let matched: boolean;
    if (s.rhs.kind === 'ref') {
      const set = t.sets.get(s.rhs.set);
      if (!set || s.left.kind !== 'sel') return false;
      const values = s.left.sels.map((sel) => selectorValue(sel, ctx));
      if (values.some((v) => v === undefined)) return false;
      matched = lookup(set, values as number[], this.#clock.now()) !== undefined;
      return matched !== (s.op === 'ne');
    }
    let v: number | undefined;
    if (s.left.kind === 'sel') v = selectorValue(s.left.sels[0]!, ctx);
    else if (s.left.kind === 'binop') {
      const raw = selectorValue(s.left.sel, ctx);
      v = raw === undefined ? undefined : (s.left.op === '&' ? raw & s.left.value : s.left.op === '|' ? raw | s.left.value : raw ^ s.left.value) >>> 0;
    }
    if (v === undefined) return false;
    const type = leftType(s.left)[0]!;
    const flags = type === 'ct_state' || type === 'ct_status';
    const one = (x: NftValue) => (flags && s.op === 'implicit' ? (v! & x.lo) !== 0 : v! >= x.lo && v! <= x.hi);
    matched = s.rhs.kind === 'value' ? one(s.rhs.value) : s.rhs.values.some(one);
    return matched !== (s.op === 'ne');
  }

  #vmapLookup(t: NftTable, s: Extract<NftStmt, { kind: 'vmap' }>, ctx: FlowContext): { verdict: NftVerdict; detail: string } | undefined {
    if (s.left.kind === 'numgen') {
      const rng = ctx.rng ?? this.#rng;
      // nft_numgen.c: reciprocal_scale(prandom_u32(), modulus) + offset.
      const draw = Math.floor(rng.next() * TWO_32);
      const n = Math.floor((draw * s.left.mod) / TWO_32) + s.left.offset;
      const entry = s.entries?.find((e) => n >= e.key.lo && n <= e.key.hi);
      return entry && { verdict: entry.verdict, detail: `numgen random mod ${s.left.mod} = ${n}` };
    }
    if (s.left.kind !== 'sel') return undefined;
    const values = s.left.sels.map((sel) => selectorValue(sel, ctx));
    if (values.some((v) => v === undefined)) return undefined;
    if (s.entries) {
      const n = values[0]!;
      const entry = s.entries.find((e) => n >= e.key.lo && n <= e.key.hi);
      return entry && { verdict: entry.verdict, detail: `${s.left.sels[0]!.name} ${entry.key.text}` };
    }
    const set = t.sets.get(s.map!);
    const el = set && lookup(set, values as number[], this.#clock.now());
    return el?.verdict && { verdict: el.verdict, detail: `@${s.map}: ${el.text}` };
  }

  // ---- hooks ----

  #syncHooks(): void {
    const node = this.#node;
    if (!node) return;
    const wanted = new Map<string, { table: string; chain: string; hook: NftHook; priority: number }>();
    for (const t of this.#tables.values()) {
      if (t.flags.includes('dormant')) continue;
      for (const c of t.chains.values()) if (c.base) wanted.set(`${t.name}\u0000${c.name}`, { table: t.name, chain: c.name, hook: c.base.hook, priority: c.base.priority });
    }
    for (const [key, reg] of this.#registered) {
      const w = wanted.get(key);
      if (!w || w.hook !== reg.hook || w.priority !== reg.priority) {
        reg.undo();
        this.#registered.delete(key);
      }
    }
    for (const [key, w] of wanted) {
      if (this.#registered.has(key)) continue;
      const handler: HookHandler = { name: `nftables/ip ${w.table}`, priority: w.priority, run: (ctx) => this.evaluate(w.table, w.chain, ctx) };
      this.#registered.set(key, { hook: w.hook, priority: w.priority, undo: node.register(NFT_HOOKS[w.hook], handler) });
    }
  }

  // ---- transaction internals ----

  #record(fn: () => void): void {
    this.#undo?.push(fn);
  }

  #table(name: string): NftTable {
    const t = this.#tables.get(name);
    if (!t) throw nftError(`No such file or directory: table ip ${name} does not exist`);
    return t;
  }

  #chain(t: NftTable, name: string): NftChain {
    const c = t.chains.get(name);
    if (!c) throw nftError(`No such file or directory: chain ${name} does not exist in table ip ${t.name}`);
    return c;
  }

  #set(t: NftTable, name: string, map?: boolean): NftSet {
    const s = t.sets.get(name);
    if (!s || (map !== undefined && s.map !== map)) throw nftError(`No such file or directory: ${map ? 'map' : 'set'} ${name} does not exist in table ip ${t.name}`);
    return s;
  }

  #ref(t: NftTable, from: string, to: string, delta: 1 | -1): void {
    let m = t.refs.get(to);
    if (!m) t.refs.set(to, (m = new Map()));
    const n = (m.get(from) ?? 0) + delta;
    if (n <= 0) m.delete(from);
    else m.set(from, n);
    if (!m.size) t.refs.delete(to);
    this.#record(() => this.#ref(t, from, to, delta === 1 ? -1 : 1));
  }

  #ruleRefs(t: NftTable, chain: string, rule: NftRule, delta: 1 | -1): void {
    const { chains, sets } = rule.refs;
    for (const c of chains) this.#ref(t, `c:${chain}`, `c:${c}`, delta);
    for (const s of sets) this.#ref(t, `c:${chain}`, `s:${s}`, delta);
  }

  #elementRefs(t: NftTable, set: string, el: NftElement, delta: 1 | -1): void {
    if (el.verdict && (el.verdict.kind === 'jump' || el.verdict.kind === 'goto')) this.#ref(t, `s:${set}`, `c:${el.verdict.chain}`, delta);
  }

  #referrers(t: NftTable, node: string, exceptSelf = true): string[] {
    return [...(t.refs.get(node)?.keys() ?? [])].filter((r) => !exceptSelf || r !== node);
  }

  #run(cmd: Command): void {
    if (cmd.obj === 'ruleset') {
      for (const name of [...this.#tables.keys()]) this.#deleteKeepingOrder(this.#tables, name);
      return;
    }
    if (cmd.obj === 'table') {
      const existing = this.#tables.get(cmd.table);
      if (cmd.op === 'add' || cmd.op === 'create') {
        if (existing) {
          if (cmd.op === 'create') throw nftError(`File exists: table ip ${cmd.table}`);
          const old = { comment: existing.comment, flags: existing.flags };
          if (cmd.comment !== undefined) existing.comment = cmd.comment;
          if (cmd.flags) existing.flags = cmd.flags;
          this.#record(() => {
            existing.comment = old.comment;
            existing.flags = old.flags;
          });
          return;
        }
        const t: NftTable = { family: 'ip', name: cmd.table, flags: cmd.flags ?? [], chains: new Map(), sets: new Map(), refs: new Map(), ...(cmd.comment !== undefined ? { comment: cmd.comment } : {}) };
        this.#tables.set(cmd.table, t);
        this.#record(() => this.#tables.delete(cmd.table));
        return;
      }
      if (!existing) {
        if (cmd.op === 'destroy') return;
        throw nftError(`No such file or directory: table ip ${cmd.table}`);
      }
      if (cmd.op === 'flush') {
        for (const c of existing.chains.values()) this.#flushChain(existing, c);
        for (const s of existing.sets.values()) this.#flushSet(existing, s);
      } else this.#deleteKeepingOrder(this.#tables, cmd.table);
      return;
    }
    const t = this.#table(cmd.table);
    switch (cmd.obj) {
      case 'chain':
        return this.#runChain(t, cmd);
      case 'rule':
        return this.#runRule2(t, cmd);
      case 'set':
        return this.#runSet(t, cmd);
      case 'element':
        return this.#runElements(t, cmd);
    }
  }

  /** Deletes `key` from `map`; a rollback puts it back where it stood (nft lists in insertion order). */
  #deleteKeepingOrder<V>(map: Map<string, V>, key: string): void {
    const order = [...map.entries()];
    map.delete(key);
    this.#record(() => {
      map.clear();
      for (const [k, v] of order) map.set(k, v);
    });
  }

  #runChain(t: NftTable, cmd: Extract<Command, { obj: 'chain' }>): void {
    const existing = t.chains.get(cmd.name);
    if (cmd.op === 'add' || cmd.op === 'create') {
      const spec = 'spec' in cmd ? cmd.spec : undefined;
      if (spec?.policy && !spec.base) throw nftError(`chain ${cmd.name}: a policy needs a base chain (type … hook … priority …)`);
      if (spec?.base) {
        const { type, hook, priority } = spec.base;
        if (type === 'nat' && hook === 'forward') throw nftError('Operation not supported: nat chains cannot use the forward hook');
        if (type === 'route' && hook !== 'output') throw nftError('Operation not supported: route chains use the output hook only');
        if (type === 'nat' && priority <= -200) throw nftError('Operation not supported: nat chains need a priority above -200 (after conntrack)');
      }
      if (existing) {
        if (cmd.op === 'create') throw nftError(`File exists: chain ${cmd.name}`);
        const was = existing.base;
        const want = spec?.base;
        if ((want && !was) || (was && want && (was.type !== want.type || was.hook !== want.hook || was.priority !== want.priority))) {
          throw nftError(`Device or resource busy: chain ${cmd.name} exists with a different type, hook or priority (delete it first)`);
        }
        const old = { comment: existing.comment, policy: existing.base?.policy };
        if (spec?.comment !== undefined) existing.comment = spec.comment;
        if (spec?.policy && existing.base) existing.base.policy = spec.policy;
        this.#record(() => {
          existing.comment = old.comment;
          if (existing.base && old.policy) existing.base.policy = old.policy;
        });
        return;
      }
      const chain: NftChain = {
        name: cmd.name,
        handle: ++this.#handle,
        rules: [],
        ...(spec?.comment !== undefined ? { comment: spec.comment } : {}),
        ...(spec?.base ? { base: { ...spec.base, policy: spec.policy ?? 'accept' } } : {}),
      };
      t.chains.set(cmd.name, chain);
      this.#record(() => t.chains.delete(cmd.name));
      return;
    }
    if (!existing) {
      if (cmd.op === 'destroy') return;
      throw nftError(`No such file or directory: chain ${cmd.name} does not exist in table ip ${t.name}`);
    }
    if (cmd.op === 'flush') return this.#flushChain(t, existing);
    const users = this.#referrers(t, `c:${cmd.name}`);
    if (users.length) throw nftError(`Device or resource busy: chain ${cmd.name} is still referenced (by ${users.map(nodeName).join(', ')})`);
    this.#flushChain(t, existing);
    this.#deleteKeepingOrder(t.chains, cmd.name);
  }

  #flushChain(t: NftTable, chain: NftChain): void {
    const old = chain.rules;
    for (const r of old) this.#ruleRefs(t, chain.name, r, -1);
    chain.rules = [];
    this.#record(() => (chain.rules = old));
  }

  #newRule(t: NftTable, toks: Token[]): NftRule {
    const parsed = parseRule(toks, { table: t, l4: false });
    return {
      handle: ++this.#handle,
      stmts: parsed.stmts,
      ...(parsed.comment !== undefined ? { comment: parsed.comment } : {}),
      counters: parsed.counters ?? { packets: 0, bytes: 0 },
      text: ruleText(parsed.stmts, parsed.comment),
      refs: ruleRefs(parsed.stmts),
    };
  }

  #runRule2(t: NftTable, cmd: Extract<Command, { obj: 'rule' }>): void {
    const chain = this.#chain(t, cmd.chain);
    const findHandle = (h: number) => {
      const i = chain.rules.findIndex((r) => r.handle === h);
      if (i < 0) throw nftError(`No such file or directory: no rule with handle ${h} in chain ${chain.name}`);
      return i;
    };
    if (cmd.op === 'delete' || cmd.op === 'replace') {
      const i = findHandle(cmd.handle);
      const old = chain.rules[i]!;
      this.#ruleRefs(t, chain.name, old, -1);
      const rules = [...chain.rules];
      if (cmd.op === 'replace') {
        const rule = this.#newRule(t, cmd.toks);
        rule.handle = old.handle;
        rules[i] = rule;
        this.#ruleRefs(t, chain.name, rule, 1);
        this.#added.push({ table: t, chain: chain.name, rule, line: cmd.line });
      } else rules.splice(i, 1);
      const before = chain.rules;
      chain.rules = rules;
      this.#record(() => (chain.rules = before));
      return;
    }
    const rule = this.#newRule(t, cmd.toks);
    let at: number;
    if (!cmd.where) at = cmd.op === 'add' ? chain.rules.length : 0;
    else if (cmd.where.kind === 'index') {
      if (cmd.where.n >= chain.rules.length) throw nftError(`No such file or directory: chain ${chain.name} has no rule at index ${cmd.where.n}`);
      at = cmd.op === 'add' ? cmd.where.n + 1 : cmd.where.n;
    } else {
      const i = findHandle(cmd.where.n);
      at = cmd.op === 'add' ? i + 1 : i;
    }
    const before = chain.rules;
    chain.rules = [...before.slice(0, at), rule, ...before.slice(at)];
    this.#record(() => (chain.rules = before));
    this.#ruleRefs(t, chain.name, rule, 1);
    this.#added.push({ table: t, chain: chain.name, rule, line: cmd.line });
  }

  #runSet(t: NftTable, cmd: Extract<Command, { obj: 'set' }>): void {
    const existing = t.sets.get(cmd.name);
    const kind = cmd.map ? 'map' : 'set';
    if (cmd.op === 'add' || cmd.op === 'create') {
      const spec = cmd.spec;
      if (!spec.keyTypes) throw nftError(`${kind} ${cmd.name}: a type is required ("type ipv4_addr", …)`);
      if (!!spec.map !== cmd.map) throw nftError(`${kind} ${cmd.name}: ${cmd.map ? 'a map needs "type KEY : verdict"' : 'a set type has no ": data"'}`);
      const flags: NftSet['flags'] = new Set(spec.flags as ('constant' | 'dynamic' | 'interval' | 'timeout')[]);
      if (spec.timeout !== undefined) flags.add('timeout');
      if (existing) {
        if (cmd.op === 'create') throw nftError(`File exists: ${kind} ${cmd.name}`);
        const same = existing.map === cmd.map && existing.keyTypes.join(' . ') === spec.keyTypes.join(' . ') && [...flags].sort().join() === [...existing.flags].sort().join() && existing.timeout === spec.timeout;
        if (!same) throw nftError(`File exists: ${kind} ${cmd.name} exists with a different type, flags or timeout`);
        this.#addElements(t, existing, spec.elements ?? [], false);
        return;
      }
      const set: NftSet = {
        name: cmd.name,
        handle: ++this.#handle,
        map: cmd.map,
        keyTypes: spec.keyTypes,
        flags,
        elements: new Map(),
        ...(spec.timeout !== undefined ? { timeout: spec.timeout } : {}),
        ...(spec.gcInterval !== undefined ? { gcInterval: spec.gcInterval } : {}),
        // nft gives a dynamic set without a size the default 65535 (it lists it).
        ...(spec.size !== undefined ? { size: spec.size } : flags.has('dynamic') ? { size: 65535 } : {}),
        ...(spec.policy ? { policy: spec.policy } : {}),
        ...(spec.autoMerge ? { autoMerge: true } : {}),
        ...(spec.comment !== undefined ? { comment: spec.comment } : {}),
      };
      t.sets.set(cmd.name, set);
      this.#record(() => t.sets.delete(cmd.name));
      this.#addElements(t, set, spec.elements ?? [], false);
      return;
    }
    if (!existing || existing.map !== cmd.map) {
      if (cmd.op === 'destroy') return;
      throw nftError(`No such file or directory: ${kind} ${cmd.name} does not exist in table ip ${t.name}`);
    }
    if (cmd.op === 'flush') return this.#flushSet(t, existing);
    const users = this.#referrers(t, `s:${cmd.name}`);
    if (users.length) throw nftError(`Device or resource busy: ${kind} ${cmd.name} is still used (by ${users.map(nodeName).join(', ')})`);
    this.#flushSet(t, existing);
    this.#deleteKeepingOrder(t.sets, cmd.name);
  }

  #flushSet(t: NftTable, set: NftSet): void {
    const old = set.elements;
    for (const el of old.values()) this.#elementRefs(t, set.name, el, -1);
    set.elements = new Map();
    this.#record(() => (set.elements = old));
  }

  #runElements(t: NftTable, cmd: Extract<Command, { obj: 'element' }>): void {
    const set = this.#set(t, cmd.name);
    if (cmd.op === 'add' || cmd.op === 'create') return this.#addElements(t, set, cmd.elements, cmd.op === 'create');
    for (const p of cmd.elements) {
      const el = this.#element(set, p, false);
      const key = elementKey(set, el);
      const old = set.elements.get(key);
      if (!old) {
        if (cmd.op === 'destroy') continue;
        throw nftError(`No such file or directory: element ${el.text} is not in ${set.map ? 'map' : 'set'} ${set.name}`);
      }
      set.elements.delete(key);
      this.#record(() => set.elements.set(key, old));
      this.#elementRefs(t, set.name, old, -1);
    }
  }

  #addElements(t: NftTable, set: NftSet, parsed: ParsedElement[], exclusive: boolean): void {
    const now = this.#clock.now();
    for (const p of parsed) {
      try {
        const el = this.#element(set, p, true, t);
        const key = elementKey(set, el);
        const old = set.elements.get(key);
        if (old) {
          const same = !set.map || (old.verdict && el.verdict && verdictText(old.verdict) === verdictText(el.verdict));
          if (exclusive || !same) throw nftError(`File exists: element ${el.text} is already in ${set.map ? 'map' : 'set'} ${set.name}${same ? '' : ` with a different value (${old.verdict ? verdictText(old.verdict) : ''})`}`);
          continue;
        }
        const timeout = el.timeout ?? set.timeout;
        if (p.expires !== undefined) el.expiresAt = now + p.expires;
        else if (timeout !== undefined) el.expiresAt = now + timeout;
        if ((el.timeout !== undefined || p.expires !== undefined) && !set.flags.has('timeout')) throw nftError(`${set.name}: element timeouts need a set with "flags timeout"`);
        set.elements.set(key, el);
        this.#record(() => set.elements.delete(key));
        this.#elementRefs(t, set.name, el, 1);
        if (el.verdict) this.#added.push({ table: t, chain: '', element: { set: set.name, verdict: el.verdict }, line: p.line });
      } catch (err) {
        throw atLine(err, p.line);
      }
    }
  }

  /** Builds an element of a set from its parsed text. */
  #element(set: NftSet, p: ParsedElement, withValue: boolean, t?: NftTable): NftElement {
    if (p.keyTexts.length !== set.keyTypes.length) throw nftError(`datatype mismatch: ${set.name} keys are ${set.keyTypes.join(' . ')}, element has ${p.keyTexts.length} field(s)`);
    const key = p.keyTexts.map((text, i) => parseValue(set.keyTypes[i]!, text));
    if (!set.flags.has('interval') && key.some((k) => k.lo !== k.hi)) throw nftError(`you must add 'flags interval' to ${set.name}'s declaration to add prefix or range elements`);
    const el: NftElement = { key, text: key.map((k) => k.text).join(' . '), ...(p.comment !== undefined ? { comment: p.comment } : {}), ...(p.timeout !== undefined && p.timeout !== set.timeout ? { timeout: p.timeout } : {}) };
    if (!withValue) return el;
    if (set.map) {
      if (!p.verdictToks?.length) throw nftError(`map ${set.name}: element ${el.text} needs ": VERDICT"`);
      const ts = new Tokens(p.verdictToks);
      const verdict = parseVerdict(ts, { table: t!, l4: false });
      if (!verdict || !ts.done()) throw nftError(`map ${set.name}: bad verdict "${p.verdictToks.map((x) => x.t).join(' ')}"`);
      el.verdict = verdict;
    } else if (p.verdictToks) throw nftError(`set ${set.name} is not a map: element ${el.text} cannot have ": value"`);
    return el;
  }

  /**
   * The commit checks nft's kernel side makes (nf_tables_api.c nft_chain_validate): no chain
   * loops, and statements only where their base chains allow them. Only what this transaction
   * added is walked — the chains a new rule or map element makes reachable, and the base chains
   * that reach a new rule — each chain once per pass, so a partial sync costs what it changed.
   */
  #validate(): void {
    if (!this.#added.length) return;
    const byTable = new Map<NftTable, Added[]>();
    for (const a of this.#added) {
      let list = byTable.get(a.table);
      if (!list) byTable.set(a.table, (list = []));
      list.push(a);
    }
    for (const [t, added] of byTable) {
      const mapTargets = new Map<string, string[]>();
      const next = (chain: string): string[] => {
        const out: string[] = [];
        for (const r of t.chains.get(chain)?.rules ?? []) {
          out.push(...r.refs.chains);
          for (const set of r.refs.sets) {
            let targets = mapTargets.get(set);
            if (!targets) mapTargets.set(set, (targets = this.#mapTargets(t, set)));
            out.push(...targets);
          }
        }
        return out;
      };
      const users = new Map<string, string[]>();
      const usersOf = (set: string) => {
        let u = users.get(set);
        if (!u) users.set(set, (u = this.#referrers(t, `s:${set}`, false).filter((r) => r.startsWith('c:')).map((r) => r.slice(2))));
        return u;
      };
      const edges = added.map((a) => ({
        a,
        froms: a.element ? usersOf(a.element.set) : [a.chain],
        targets: a.element ? [(a.element.verdict as { chain?: string }).chain].filter((c): c is string => !!c) : [...a.rule!.refs.chains, ...a.rule!.refs.sets.flatMap((set) => this.#mapTargets(t, set))],
      }));
      // Loops: a depth-first walk from every new edge's target (white/grey/black); a grey chain
      // met again closes a loop, which must run through a new edge.
      const colour = new Map<string, 1 | 2>();
      for (const { a, targets } of edges) {
        for (const target of targets) {
          if (colour.has(target)) continue;
          colour.set(target, 1);
          const stack = [{ chain: target, next: next(target), i: 0 }];
          while (stack.length) {
            const top = stack.at(-1)!;
            if (top.i < top.next.length) {
              const n = top.next[top.i++]!;
              const c = colour.get(n);
              if (c === 1) {
                const loop = [...stack.slice(stack.findIndex((f) => f.chain === n)).map((f) => f.chain), n];
                throw atLine(nftError(`Could not process rule: Too many links: a chain loop ${loop.join(' → ')}`), a.line);
              }
              if (c === undefined) {
                colour.set(n, 1);
                stack.push({ chain: n, next: next(n), i: 0 });
              }
            } else {
              colour.set(top.chain, 2);
              stack.pop();
            }
          }
        }
      }
      // Statements: each new rule against the base chains reaching it; the chains a new edge
      // makes reachable against the base chains reaching its source.
      // The base chains reaching a chain: its own hook if it is one, else its referrers' (the
      // graph has no loops by now), memoized over the whole pass.
      const contexts = new Map<string, NftContext[]>();
      const contextsOfNode = (node: string): NftContext[] => {
        let c = contexts.get(node);
        if (c) return c;
        const base = node.startsWith('c:') ? t.chains.get(node.slice(2))?.base : undefined;
        if (base) c = [{ chain: node.slice(2), type: base.type, hook: base.hook }];
        else {
          const merged = new Map<string, NftContext>();
          for (const r of t.refs.get(node)?.keys() ?? []) for (const x of contextsOfNode(r)) merged.set(x.chain, x);
          c = [...merged.values()];
        }
        contexts.set(node, c);
        return c;
      };
      const contextsOf = (chain: string) => contextsOfNode(`c:${chain}`);
      const walked = new Set<string>();
      for (const { a, froms, targets } of edges) {
        try {
          for (const from of froms) {
            const ctxs = contextsOf(from);
            if (!ctxs.length) continue;
            if (a.rule) checkRule(from, a.rule, ctxs);
            const key = ctxs.map((c) => c.chain).join(',');
            const stack = [...targets];
            while (stack.length) {
              const chain = stack.pop()!;
              const k = `${key}\u0000${chain}`;
              if (walked.has(k)) continue;
              walked.add(k);
              for (const r of t.chains.get(chain)?.rules ?? []) checkRule(chain, r, ctxs);
              stack.push(...next(chain));
            }
          }
        } catch (err) {
          throw atLine(err, a.line);
        }
      }
    }
  }

  #mapTargets(t: NftTable, set: string): string[] {
    const s = t.sets.get(set);
    if (!s?.map) return [];
    const out = new Set<string>();
    for (const el of s.elements.values()) if (el.verdict && (el.verdict.kind === 'jump' || el.verdict.kind === 'goto')) out.add(el.verdict.chain);
    return [...out];
  }

  // ---- listing ----

  #printTable(t: NftTable, counters: boolean): string {
    const now = this.#clock.now();
    let out = `table ip ${t.name} {\n`;
    let delim = '';
    if (t.flags.length) {
      out += `\tflags ${t.flags.join(',')}\n`;
      delim = '\n';
    }
    // nft 1.0.x prints no blank line after the comment (only flags set the delimiter).
    if (t.comment !== undefined) out += `\tcomment "${t.comment}"\n`;
    for (const s of t.sets.values()) {
      out += delim + printSet(s, now);
      delim = '\n';
    }
    for (const c of t.chains.values()) {
      out += delim + printChain(c, counters);
      delim = '\n';
    }
    return `${out}}\n`;
  }
}

// ---- helpers -------------------------------------------------------------------------------

function nodeName(node: string): string {
  return node.startsWith('c:') ? `chain ${node.slice(2)}` : `map ${node.slice(2)}`;
}

function elementKey(set: NftSet, el: NftElement): string {
  return set.flags.has('interval') ? el.text : el.key.map((k) => k.lo).join(':');
}

function liveElement(set: NftSet, key: string, now: number): NftElement | undefined {
  const el = set.elements.get(key);
  if (el?.expiresAt !== undefined && el.expiresAt <= now) {
    set.elements.delete(key);
    return undefined;
  }
  return el;
}

/** A set lookup: a hash lookup on the key's numbers; interval sets are scanned. */
function lookup(set: NftSet, values: number[], now: number): NftElement | undefined {
  if (!set.flags.has('interval')) return liveElement(set, values.join(':'), now);
  for (const [key, el] of set.elements) {
    if (el.expiresAt !== undefined && el.expiresAt <= now) {
      set.elements.delete(key);
      continue;
    }
    if (el.key.every((k, i) => values[i]! >= k.lo && values[i]! <= k.hi)) return el;
  }
  return undefined;
}

/** A selector's value for a flow, or undefined when the packet has no such field. */
function selectorValue(sel: NftSelector, ctx: FlowContext): number | undefined {
  const t = ctx.tuple;
  const proto = PROTO_NUMBERS[t.protocol.toLowerCase()] ?? 0;
  switch (sel.name) {
    case 'ip saddr':
      return ipv4ToNumber(t.src);
    case 'ip daddr':
      return ipv4ToNumber(t.dst);
    case 'meta l4proto':
    case 'ip protocol':
      return proto;
    case 'th sport':
      return t.sport;
    case 'th dport':
      return t.dport;
    case 'meta mark':
      return ctx.mark >>> 0;
    case 'ct state':
      // The pipeline decides the first packet of each flow.
      return 8;
    case 'ct status': {
      let n = 0;
      if (t.dst !== ctx.original.dst || t.dport !== ctx.original.dport) n |= 32;
      if (t.src !== ctx.original.src || t.sport !== ctx.original.sport) n |= 16;
      return n;
    }
    case 'fib saddr type':
      return addrType(ctx, t.src);
    case 'fib daddr type':
      return addrType(ctx, t.dst);
  }
  if (sel.proto !== undefined) {
    if (sel.proto !== proto) return undefined;
    return sel.name.endsWith('sport') ? t.sport : t.dport;
  }
  return undefined;
}

function addrType(ctx: FlowContext, ip: string): number {
  const n = ipv4ToNumber(ip);
  if (n === undefined) return 0;
  if (ctx.node.ownsAddress(ip) || n >>> 24 === 127) return 2;
  if (n >>> 28 === 0xe) return 5;
  if (n === 0xffffffff) return 3;
  return 1;
}

function primaryIPv4(node: NodeNetwork, dev: string): string | undefined {
  return node.interfaces.get(dev)?.addresses.map((a) => a.split('/')[0]!).find((a) => ipv4ToNumber(a) !== undefined);
}

function printSet(s: NftSet, now: number): string {
  let out = `\t${s.map ? 'map' : 'set'} ${s.name} {\n\t\ttype ${s.keyTypes.join(' . ')}${s.map ? ' : verdict' : ''}\n`;
  if (s.policy === 'memory') out += '\t\tpolicy memory\n';
  if (s.size !== undefined) out += `\t\tsize ${s.size}\n`;
  const flags = (['constant', 'dynamic', 'interval', 'timeout'] as const).filter((f) => s.flags.has(f));
  if (flags.length) out += `\t\tflags ${flags.join(',')}\n`;
  if (s.autoMerge) out += '\t\tauto-merge\n';
  if (s.timeout !== undefined) out += `\t\ttimeout ${formatTime(s.timeout)}\n`;
  if (s.gcInterval !== undefined) out += `\t\tgc-interval ${formatTime(s.gcInterval)}\n`;
  if (s.comment !== undefined) out += `\t\tcomment "${s.comment}"\n`;
  const live: NftElement[] = [];
  for (const [key, el] of s.elements) {
    if (el.expiresAt !== undefined && el.expiresAt <= now) s.elements.delete(key);
    else live.push(el);
  }
  if (live.length) {
    // src/expression.c calculate_delim: addresses two per line, single small values five per
    // line, anything else (concatenations) one per line.
    const perLine = s.keyTypes.length > 1 ? 1 : s.keyTypes[0] === 'ipv4_addr' ? 2 : 5;
    const items = [...live].sort((a, b) => compareSortKeys(sortKey(s, a), sortKey(s, b))).map((el) => {
      let text = el.text;
      if (el.timeout !== undefined) text += ` timeout ${formatTime(el.timeout)}`;
      if (el.expiresAt !== undefined) text += ` expires ${formatTime(el.expiresAt - now)}`;
      if (el.comment !== undefined) text += ` comment "${el.comment}"`;
      if (el.verdict) text += ` : ${verdictText(el.verdict)}`;
      return text;
    });
    let body = '';
    items.forEach((item, i) => {
      if (i > 0) body += i % perLine === 0 ? ',\n\t\t\t     ' : ', ';
      body += item;
    });
    out += `\t\telements = { ${body} }\n`;
  }
  return `${out}\t}\n`;
}

/**
 * The order nft 1.0.x lists elements in (src/mergesort.c expr_msort_value): a single value by
 * its number; a concatenation as its fields' bytes (each in its own byte order: addresses and
 * ports big-endian, marks host-endian) read back as one little-endian number — so the last
 * byte weighs most.
 */
function sortKey(s: NftSet, el: NftElement): number[] {
  if (el.key.length === 1) return [el.key[0]!.lo, el.key[0]!.hi];
  const bytes: number[] = [];
  el.key.forEach((k, i) => {
    const v = k.lo >>> 0;
    switch (s.keyTypes[i]) {
      case 'inet_proto':
        bytes.push(v & 255);
        break;
      case 'inet_service':
        bytes.push((v >>> 8) & 255, v & 255);
        break;
      case 'mark':
        bytes.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
        break;
      default:
        bytes.push(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
    }
  });
  return bytes.reverse();
}

function compareSortKeys(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

function printChain(c: NftChain, counters: boolean): string {
  let out = `\tchain ${c.name} {\n`;
  if (c.comment !== undefined) out += `\t\tcomment "${c.comment}"\n`;
  if (c.base) out += `\t\ttype ${c.base.type} hook ${c.base.hook} priority ${formatPriority(c.base.priority, c.base.hook)}; policy ${c.base.policy};\n`;
  for (const r of c.rules) out += `\t\t${counters ? ruleText(r.stmts, r.comment, r.counters) : r.text}\n`;
  return `${out}\t}\n`;
}
