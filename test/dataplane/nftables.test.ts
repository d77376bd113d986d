// The nftables model (lib/dataplane/nftables.ts): `nft -f` loading (knftables' transaction
// syntax and nft's block syntax), all-or-nothing transactions with errors naming the line,
// `nft list ruleset` as nft 1.0.6 (Debian 12) prints it — checked against a listing that real nft
// printed for the same input — and evaluation at the node's hooks: jump/goto/return, policies,
// verdict maps and sets, numgen from the seeded RNG, timeout sets on the node clock, NAT.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Nftables, formatPriority, formatTime, parseTime } from '../../lib/dataplane/nftables.js';
import type { NodeNetwork } from '../../lib/dataplane/node.js';
import type { Hook } from '../../lib/dataplane/hooks.js';
import type { FlowTuple } from '../../lib/dataplane/conntrack.js';
import { ManualClock } from '../../lib/core/clock.js';
import { SeededRng } from '../../lib/core/rng.js';
import { PodnetError } from '../../lib/core/errors.js';
import { hostNode, newFlow, runHooks } from '../kubeproxy/fixtures.js';

/** Input of the listing vector below. */
const VECTOR_INPUT = `add table ip t { comment "vector" ; }
add chain ip t pre { type filter hook prerouting priority -110 ; policy drop ; }
add chain ip t out { type nat hook output priority -100 ; }
add chain ip t post { type nat hook postrouting priority srcnat + 5 ; }
add chain ip t c { comment "a regular chain" ; }
add chain ip t c2
add set ip t iv { type ipv4_addr ; flags interval ; }
add element ip t iv { 10.0.0.0/8, 192.168.1.0/24, 1.2.3.4 }
add set ip t ports { type inet_service ; }
add element ip t ports { 7, 6, 5, 4, 3, 2, 1 }
add set ip t aff { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add element ip t aff { 10.0.0.9 }
add element ip t aff { 10.0.0.10 timeout 10s comment "x" }
add map ip t m { type ipv4_addr . inet_proto . inet_service : verdict ; comment "m" ; }
add element ip t m { 10.0.0.2 . tcp . 80 : goto c2 }
add element ip t m { 10.0.0.1 . udp . 53 comment "dns" : drop }
add element ip t m { 10.0.0.1 . tcp . 53 : jump c2 }
add rule ip t pre ct state new jump c
add rule ip t c ip saddr 10.0.0.1 goto c2
add rule ip t c ip daddr . meta l4proto . th dport vmap @m
add rule ip t c ct state established,related accept
add rule ip t c ct state { established, related } accept
add rule ip t c meta l4proto { tcp, udp } th dport 53 accept
add rule ip t c tcp dport 1000-2000 accept
add rule ip t c ip daddr != { 10.0.0.0/8, 192.168.0.0/16 } drop
add rule ip t c ip saddr @iv return
add rule ip t c ct status dnat accept
add rule ip t c mark 0x10 accept
add rule ip t c mark and 0x4000 == 0 continue
add rule ip t c mark set mark or 0x4000
add rule ip t c reject with icmp type host-unreachable
add rule ip t c numgen random mod 10 offset 5 vmap { 5-9 : accept, 10-14 : drop }
add rule ip t c2 update @aff { ip saddr }
add rule ip t c2 fib daddr type local ip daddr != 127.0.0.0/8 accept comment "local"
add rule ip t out meta l4proto tcp dnat to 1.2.3.4:80
add rule ip t post masquerade random,persistent
`;

/** What `nft list ruleset` (nftables v1.0.6, Debian 12) printed 12 ms after `nft -f` of VECTOR_INPUT. */
const VECTOR_LISTING = `table ip t {
	comment "vector"
	set iv {
		type ipv4_addr
		flags interval
		elements = { 1.2.3.4, 10.0.0.0/8,
			     192.168.1.0/24 }
	}

	set ports {
		type inet_service
		elements = { 1, 2, 3, 4, 5,
			     6, 7 }
	}

	set aff {
		type ipv4_addr
		size 65535
		flags dynamic,timeout
		timeout 3h
		elements = { 10.0.0.9 expires 2h59m59s988ms, 10.0.0.10 timeout 10s expires 9s988ms comment "x" }
	}

	map m {
		type ipv4_addr . inet_proto . inet_service : verdict
		comment "m"
		elements = { 10.0.0.1 . tcp . 53 : jump c2,
			     10.0.0.1 . udp . 53 comment "dns" : drop,
			     10.0.0.2 . tcp . 80 : goto c2 }
	}

	chain pre {
		type filter hook prerouting priority dstnat - 10; policy drop;
		ct state new jump c
	}

	chain out {
		type nat hook output priority -100; policy accept;
		meta l4proto tcp dnat to 1.2.3.4:80
	}

	chain post {
		type nat hook postrouting priority srcnat + 5; policy accept;
		masquerade random,persistent
	}

	chain c {
		comment "a regular chain"
		ip saddr 10.0.0.1 goto c2
		ip daddr . meta l4proto . th dport vmap @m
		ct state established,related accept
		ct state { established, related } accept
		meta l4proto { tcp, udp } th dport 53 accept
		tcp dport 1000-2000 accept
		ip daddr != { 10.0.0.0/8, 192.168.0.0/16 } drop
		ip saddr @iv return
		ct status dnat accept
		meta mark 0x00000010 accept
		meta mark & 0x00004000 == 0x00000000 continue
		meta mark set meta mark | 0x00004000
		reject with icmp host-unreachable
		numgen random mod 10 offset 5 vmap { 5-9 : accept, 10-14 : drop }
	}

	chain c2 {
		update @aff { ip saddr }
		fib daddr type local ip daddr != 127.0.0.0/8 accept comment "local"
	}
}
`;

const TUPLE: FlowTuple = { protocol: 'TCP', src: '10.244.1.2', sport: 40000, dst: '10.96.0.10', dport: 53 };

/** A flow context at a hook (the test tuple unless given); a seed gives it a seeded rng. */
const context = (node: NodeNetwork, hook: Hook, tuple: FlowTuple = TUPLE, seed?: number) => newFlow(node, tuple, { hook, seed });

/** A node with eth0 172.18.0.3/16. */
const testNode = (clock = new ManualClock()): NodeNetwork => hostNode('worker', ['172.18.0.3/16'], clock);

t.test('nft list ruleset prints what nft 1.0.6 printed for the same input', async (t) => {
  const clock = new ManualClock();
  const nft = new Nftables({ clock });
  nft.load(VECTOR_INPUT);
  clock.advance(12);
  t.equal(nft.list(), VECTOR_LISTING);
  t.equal(nft.list({ table: 't' }), VECTOR_LISTING, 'nft list table ip t');
  t.throws(() => nft.list({ table: 'nope' }), /No such file or directory/);
});

t.test('a listing loads back into the same ruleset (render → load → render)', async (t) => {
  const clock = new ManualClock();
  const nft = new Nftables({ clock });
  nft.load(VECTOR_INPUT);
  const listing = nft.list();
  const again = new Nftables({ clock });
  const result = again.load(listing);
  t.equal(again.list(), listing);
  t.ok(result.operations > 20, 'the block expands to one command per object and rule');
  // With counters: `counter packets N bytes 0` before each rule's last statement, and it loads back.
  const counted = nft.list({ counters: true });
  t.match(counted, /\t\tip saddr 10\.0\.0\.1 counter packets 0 bytes 0 goto c2\n/);
  t.match(counted, /\t\tmeta l4proto tcp counter packets 0 bytes 0 dnat to 1\.2\.3\.4:80\n/);
  const back = new Nftables({ clock });
  back.load(counted);
  t.equal(back.list({ counters: true }), counted);
});

t.test('formats: priorities, times', async (t) => {
  t.equal(formatPriority(-110, 'prerouting'), 'dstnat - 10');
  t.equal(formatPriority(-110, 'input'), '-110', 'dstnat is not a name for the input hook: the number');
  t.equal(formatPriority(-90, 'output'), '-90');
  t.equal(formatPriority(0, 'forward'), 'filter');
  t.equal(formatPriority(105, 'postrouting'), 'srcnat + 5');
  t.equal(formatPriority(-200, 'prerouting'), '-200', 'more than 10 from any name');
  t.equal(formatTime(10_800_000), '3h');
  t.equal(formatTime(93_784_005), '1d2h3m4s5ms');
  t.equal(parseTime('10800s'), 10_800_000);
  t.equal(parseTime('1d2h3m4s5ms'), 93_784_005);
  t.equal(parseTime('30'), 30_000, 'a bare number is seconds');
  t.throws(() => parseTime('3x'), PodnetError);
});

t.test('loading is all or nothing; an error names its line', async (t) => {
  const nft = new Nftables({ clock: new ManualClock() });
  nft.load(VECTOR_INPUT);
  const before = nft.list();
  const cases: [string, RegExp][] = [
    ['add rule ip t c jump nowhere', /line 2: Could not process rule: No such file or directory: chain "nowhere"/],
    ['add rule ip t c jump pre', /line 2: .*cannot jump or goto base chain "pre"/],
    ['delete chain ip t c2', /line 2: Device or resource busy: chain c2 is still referenced/],
    ['delete set ip t aff', /line 2: Device or resource busy: set aff is still used/],
    ['delete chain ip t nope', /line 2: No such file or directory: chain nope/],
    ['add chain ip t pre { type filter hook input priority -110 ; }', /line 2: .*different type, hook or priority/],
    ['add rule ip t c ip daddr @ports drop', /line 2: datatype mismatch, lookup @ports expects inet_service, expression has type ipv4_addr/],
    ['add element ip t ports { 1000-2000 }', /line 2: you must add 'flags interval'/],
    ['add element ip t m { 10.0.0.2 . tcp . 80 : drop }', /line 2: File exists: element 10\.0\.0\.2 \. tcp \. 80 is already in map m with a different value/],
    ['delete element ip t m { 10.0.0.3 . tcp . 80 }', /line 2: No such file or directory: element 10\.0\.0\.3/],
    ['add rule ip t c2 jump c', /line 2: Could not process rule: Too many links: a chain loop c → c2 → c/],
    ['add rule ip t pre meta l4proto tcp dnat to 1.2.3.4:80', /line 2: Operation not supported: "dnat to 1\.2\.3\.4:80" in chain pre is reached from base chain pre \(type filter hook prerouting\)/],
    ['add rule ip t c2 masquerade', /line 2: Operation not supported: "masquerade" in chain c2 is reached from base chain pre/],
    ['add rule ip t out dnat to 1.2.3.4:80', /line 2: transport protocol mapping is only valid after transport protocol match/],
    ['add rule ip t c frobnicate', /line 2: unsupported expression or statement "frobnicate"/],
    ['add table ip6 t6', /line 2: family "ip6" is not modelled/],
    ['add chain ip t n { type nat hook forward priority 0 ; }', /line 2: .*nat chains cannot use the forward hook/],
    ['add chain ip t n2 { type filter hook output priority dstnat ; }', /line 2: 'dstnat' is invalid priority in this context/],
    ['add rule ip t c comment "x" drop', /line 2: syntax error: the comment must come last/],
    [`add rule ip t c drop comment "${'x'.repeat(129)}"`, /line 2: comment too long, 128 characters maximum allowed/],
    ['add rule ip t c ip daddr 10.0.0.300 drop', /line 2: address "10\.0\.0\.300" is not a valid ipv4_addr/],
  ];
  for (const [i, [bad, message]] of cases.entries()) {
    // A good command first: it must be rolled back with the rest.
    const err = t.throws(() => nft.load(`add chain ip t fresh-${i}\n${bad}\n`), PodnetError, bad) as PodnetError;
    t.match(err?.message, message, bad);
    t.equal(nft.list(), before, `${bad}: nothing changed`);
  }
  // Rolled back mid-way: a deleted chain, a flushed set and added elements all come back.
  t.throws(() => nft.load('flush chain ip t c\ndelete chain ip t out\nflush set ip t ports\nadd element ip t iv { 172.16.0.0/12 }\nadd rule ip t c jump missing\n'), /line 5/);
  t.equal(nft.list(), before);
});

t.test('jump returns, goto does not; the end of a base chain is its policy; accept ends the chain', async (t) => {
  const node = testNode();
  node.nftables.load(`table ip f {
	chain fwd {
		type filter hook forward priority 0; policy drop;
		jump a
		ip daddr 10.96.0.10 accept
	}
	chain a {
		goto b
		drop
	}
	chain b {
		return
	}
}
`);
  const { ctx, steps } = context(node, 'FORWARD');
  t.same(node.nftables.evaluate('f', 'fwd', ctx), { verdict: 'ACCEPT' });
  t.same(
    steps.map((s) => `${s.chain}: ${s.action}`),
    ['fwd: jump a', 'a: goto b', 'b: RETURN', 'fwd: ACCEPT'],
    'b returns past a (entered by goto) to fwd',
  );
  t.equal(steps[3]!.rule, 'ip daddr 10.96.0.10 accept');
  t.equal(steps[0]!.table, 'ip f');
  const other = context(node, 'FORWARD', { ...TUPLE, dst: '10.96.0.11' });
  t.same(node.nftables.evaluate('f', 'fwd', other.ctx), { verdict: 'DROP', reason: 'ip f fwd policy drop' }, 'nothing accepts: policy drop');
  t.match(node.nftables.list({ counters: true }), /jump a counter packets 2 bytes 0|counter packets 2 bytes 0 jump a/, 'the jump rule counted both flows');
});

t.test('verdict maps and sets are hash lookups on the concatenated key; anonymous sets; !=', async (t) => {
  const node = testNode();
  node.nftables.load(`add table ip k
add chain ip k pre { type filter hook prerouting priority -110 ; }
add chain ip k svc
add chain ip k rej
add rule ip k rej reject
add map ip k m { type ipv4_addr . inet_proto . inet_service : verdict ; }
add set ip k allowed { type ipv4_addr ; }
add element ip k m { 10.96.0.10 . tcp . 53 : goto svc, 10.96.0.10 . udp . 53 : goto rej }
add element ip k allowed { 10.244.1.2 }
add rule ip k pre ip saddr != { 10.244.0.0/16, 192.168.0.0/16 } drop
add rule ip k pre ip daddr . meta l4proto . th dport vmap @m
add rule ip k pre drop
add rule ip k svc ip saddr @allowed accept
add rule ip k svc drop
`);
  const run = (tuple: FlowTuple) => {
    const { ctx, steps } = context(node, 'PREROUTING', tuple);
    return { v: runHooks(node, ['PREROUTING'], ctx), steps };
  };
  t.equal(run(TUPLE).v, undefined, 'tcp/53 → svc → @allowed → accept');
  t.match(run(TUPLE).steps.find((s) => s.chain === 'pre' && s.action === 'goto svc')?.detail, '@m: 10.96.0.10 . tcp . 53');
  t.equal(run({ ...TUPLE, protocol: 'UDP' }).v?.verdict, 'REJECT', 'udp/53 → rej');
  t.equal(run({ ...TUPLE, dport: 54 }).v?.verdict, 'DROP', 'no element: the vmap rule does not match, the next rule drops');
  t.equal(run({ ...TUPLE, src: '10.244.1.3' }).v?.verdict, 'DROP', 'not in @allowed');
  t.equal(run({ ...TUPLE, src: '172.17.0.2' }).v?.verdict, 'DROP', 'outside the anonymous set');
  // A large map: the lookup finds its element among many.
  const lines = ['add map ip k big { type ipv4_addr . inet_proto . inet_service : verdict ; }'];
  for (let i = 0; i < 20000; i++) lines.push(`add element ip k big { 10.${(i >> 8) & 255}.${i & 255}.1 . tcp . 80 : goto svc }`);
  lines.push('flush chain ip k pre', 'add rule ip k pre ip daddr . meta l4proto . th dport vmap @big', 'add rule ip k pre drop');
  node.nftables.load(lines.join('\n'));
  t.equal(run({ ...TUPLE, dst: '10.78.31.1', dport: 80 }).v, undefined, '10.78.31.1 . tcp . 80 found among 20000 elements');
  t.equal(run({ ...TUPLE, dst: '10.78.31.2', dport: 80 }).v?.verdict, 'DROP');
});

t.test('numgen random mod N offset O: reciprocal_scale of a 32-bit draw, replayed by the seed', async (t) => {
  const node = testNode();
  node.nftables.load(`table ip n {
	chain c { type filter hook forward priority 0; policy accept; numgen random mod 4 offset 10 vmap { 10 : jump a, 11 : jump b, 12-13 : drop } }
	chain a { mark set 0x1 }
	chain b { mark set 0x2 }
}
`);
  node.nftables.load('flush chain ip n c\nadd rule ip n c numgen random mod 4 offset 10 vmap { 10 : jump a, 11 : jump b, 12-13 : drop }\n');
  const seen = new Map<string, number>();
  for (let seed = 0; seed < 400; seed++) {
    const n = 10 + Math.floor((Math.floor(new SeededRng(seed).next() * 2 ** 32) * 4) / 2 ** 32);
    const { ctx } = context(node, 'FORWARD', TUPLE, seed);
    const v = runHooks(node, ['FORWARD'], ctx);
    const got = v?.verdict === 'DROP' ? 'drop' : ctx.mark === 1 ? 'a' : ctx.mark === 2 ? 'b' : '?';
    const want = n === 10 ? 'a' : n === 11 ? 'b' : 'drop';
    if (got !== want) {
      t.fail(`seed ${seed}: numgen ${n} → ${want}, got ${got}`);
      return;
    }
    seen.set(got, (seen.get(got) ?? 0) + 1);
  }
  t.ok(seen.get('a')! > 70 && seen.get('b')! > 70 && seen.get('drop')! > 160, `uniform over 4 values: ${JSON.stringify([...seen])}`);
});

t.test('timeout sets: update adds or refreshes the source, lookups ignore expired elements (node clock)', async (t) => {
  const clock = new ManualClock();
  const node = testNode(clock);
  node.nftables.load(`table ip a {
	set seen {
		type ipv4_addr
		flags dynamic,timeout
		timeout 1m
	}
	chain c {
		type filter hook forward priority 0; policy accept;
		ip saddr @seen mark set 0x7 accept
		update @seen { ip saddr }
	}
}
`);
  const flow = () => {
    const { ctx, steps } = context(node, 'FORWARD');
    runHooks(node, ['FORWARD'], ctx);
    return { mark: ctx.mark, steps };
  };
  const first = flow();
  t.equal(first.mark, 0, 'first flow: not yet seen');
  t.match(first.steps.at(-1), { action: 'UPDATE', detail: '@seen added 10.244.1.2' });
  clock.advance(30_000);
  t.equal(flow().mark, 7, 'seen 30 s later');
  t.match(node.nftables.list(), /elements = \{ 10\.244\.1\.2 expires 30s \}/, 'the lookup rule accepted it before update refreshed it');
  clock.advance(60_001);
  t.equal(flow().mark, 0, 'expired after the timeout: not seen; update adds it again');
  t.match(node.nftables.list(), /elements = \{ 10\.244\.1\.2 expires 1m \}/);
});

t.test('NAT: dnat rewrites the destination, masquerade takes the out interface address, ct status dnat sees it', async (t) => {
  const node = testNode();
  node.nftables.load(`table ip nat {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 10.96.0.10 meta l4proto tcp dnat to 10.244.2.5:8053
	}
	chain fwd {
		type filter hook forward priority filter; policy accept;
		ct status dnat mark set mark or 0x4000
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		mark and 0x4000 == 0 return
		masquerade fully-random
	}
}
`);
  const { ctx, steps } = context(node, 'PREROUTING');
  t.equal(runHooks(node, ['PREROUTING'], ctx), undefined);
  t.same({ dst: ctx.tuple.dst, dport: ctx.tuple.dport }, { dst: '10.244.2.5', dport: 8053 });
  t.match(steps.at(-1), { chain: 'pre', action: 'DNAT', detail: '10.244.1.2:40000 → 10.96.0.10:53 ⇒ 10.244.1.2:40000 → 10.244.2.5:8053' });
  runHooks(node, ['FORWARD'], ctx);
  t.equal(ctx.mark, 0x4000, 'ct status dnat matched after the DNAT');
  ctx.outDev = 'eth0';
  runHooks(node, ['POSTROUTING'], ctx);
  t.equal(ctx.tuple.src, '172.18.0.3', "masqueraded to eth0's address");
  // fib daddr type local: the node's own address.
  node.nftables.load('add table ip l\nadd chain ip l in { type filter hook prerouting priority -200 ; }\nadd rule ip l in fib daddr type local drop\n');
  const local = context(node, 'PREROUTING', { ...TUPLE, dst: '172.18.0.3' });
  t.equal(runHooks(node, ['PREROUTING'], local.ctx)?.verdict, 'DROP');
  t.equal(runHooks(node, ['PREROUTING'], context(node, 'PREROUTING').ctx), undefined, 'not local: not dropped');
});

t.test('base chains follow loads at their hooks; a dormant table has none; IPv6 flows pass the ip family', async (t) => {
  const node = testNode();
  const names = (h: Hook) => node.handlers(h).filter((x) => x.name.startsWith('nftables/')).map((x) => `${x.name}@${x.priority}`);
  node.nftables.load('add table ip h\nadd chain ip h c { type filter hook input priority 10 ; }\nadd rule ip h c drop\n');
  t.same(names('INPUT'), ['nftables/ip h@10']);
  node.nftables.load('add chain ip h x\ndelete chain ip h c\nadd chain ip h c { type filter hook output priority -5 ; }\n');
  t.same(names('INPUT'), []);
  t.same(names('OUTPUT'), ['nftables/ip h@-5'], 're-registered at its new hook and priority');
  node.nftables.load('add table ip h { flags dormant ; }\n');
  t.same(names('OUTPUT'), [], 'dormant: unregistered');
  node.nftables.load('delete table ip h\nadd table ip v6\nadd chain ip v6 c { type filter hook forward priority 0 ; }\nadd rule ip v6 c drop\n');
  const { ctx } = context(node, 'FORWARD', { ...TUPLE, src: 'fd00::2', dst: 'fd00::10' });
  t.equal(runHooks(node, ['FORWARD'], ctx), undefined, 'an IPv6 flow does not enter an ip table');
  t.equal(runHooks(node, ['FORWARD'], context(node, 'FORWARD').ctx)?.verdict, 'DROP');
  node.nftables.load('flush ruleset\n');
  t.same(names('FORWARD'), []);
});

/** Why real nft cannot be asked (it needs Debian's nft, and root for its netlink socket), or undefined. */
function realNftUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  const which = spawnSync('sh', ['-c', 'command -v nft'], { encoding: 'utf8' });
  return which.status === 0 ? undefined : 'no nft binary (apt-get install nftables)';
}

const NO_REAL_NFT = realNftUnavailable();

t.test('real nft accepts what podnet renders (nft -c -f) and lists the same input as podnet does', { skip: NO_REAL_NFT ? `SKIPPED: the real-nft check needs Debian's nft and root: ${NO_REAL_NFT}` : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-nft-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const nft = new Nftables({ clock: new ManualClock() });
  nft.load(VECTOR_INPUT);
  for (const [name, text] of [['input', VECTOR_INPUT], ['listing', nft.list()], ['counters', nft.list({ counters: true })]] as const) {
    const file = join(dir, `${name}.nft`);
    writeFileSync(file, text);
    const r = spawnSync('nft', ['-c', '-f', file], { encoding: 'utf8' });
    t.equal(r.status, 0, `nft -c -f accepts the ${name}${r.stderr ? `: ${r.stderr}` : ''}`);
  }
  // In a throwaway network namespace (when one can be made), real nft loads the input and lists
  // it; podnet's listing of the same input is the same but for the elapsed expiry times.
  const netns = spawnSync('unshare', ['-n', 'true']).status === 0;
  t.test('listing compared in a throwaway network namespace', { skip: netns ? false : 'SKIPPED: needs unshare -n (CAP_SYS_ADMIN)' }, async (t) => {
    const real = execFileSync('unshare', ['-n', 'sh', '-c', `nft -f ${join(dir, 'input.nft')} && nft list ruleset`], { encoding: 'utf8' });
    const strip = (text: string) => text.replace(/expires [0-9dhms]+/g, 'expires …');
    t.equal(strip(nft.list()), strip(real));
  });
});
