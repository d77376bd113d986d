// kube-proxy's iptables backend (lib/kubeproxy/iptables.ts createIptablesBackend) on a node's
// netfilter tables: the restore input loaded with --noflush, the jump rules from the built-in
// chains as upstream's iptablesJumpChains / EnsureRule(Prepend) install them
// (pkg/proxy/iptables/proxier.go), and `kube-proxy --cleanup` (cleanup.go).
import t from 'tap';
import { createIptablesBackend, IPTABLES_JUMP_CHAINS, jumpRuleArgs } from '../../lib/kubeproxy/iptables.js';
import { createBackend, registeredModes } from '../../lib/kubeproxy/backend.js';
import { NodeNetwork } from '../../lib/dataplane/node.js';
import type { FlowContext, HookVerdict } from '../../lib/dataplane/pipeline.js';
import type { Hook } from '../../lib/dataplane/hooks.js';
import type { FlowTuple } from '../../lib/dataplane/conntrack.js';
import type { ProxyInput } from '../../lib/kubeproxy/model.js';
import { PodnetError } from '../../lib/core/errors.js';
import { makeSlice, newFlow, port, runHooks, service } from './fixtures.js';

/** Runs a flow through every handler registered at a hook, as the pipeline does; `chains` are the chains it walked. */
function runHook(node: NodeNetwork, hook: Hook, tuple: FlowTuple): { verdict: HookVerdict; ctx: FlowContext; chains: string[] } {
  const { ctx, steps } = newFlow(node, tuple, { hook });
  const verdict = runHooks(node, [hook], ctx);
  return { verdict, ctx, chains: steps.flatMap((s) => (s.chain ? [`${s.table} ${s.chain}`] : [])) };
}

const INPUT: ProxyInput = {
  clusterCIDR: '10.244.0.0/16',
  nodeName: 'worker',
  services: [service('default', 'web', '10.96.0.20', [port('http', 80)]), service('default', 'empty', '10.96.0.21', [port('http', 80)])],
  endpointSlices: [makeSlice('default', 'web', ['10.244.2.5'], [port('http', 8080)])],
};

t.test('the iptables mode is registered and created through the registry', async (t) => {
  t.ok(registeredModes().includes('iptables'));
  const backend = createBackend('iptables', new NodeNetwork('worker'));
  t.equal(backend.mode, 'iptables');
  t.same(backend.formats, ['iptables-save']);
});

t.test('sync loads the rules and the jump rules: a ClusterIP is DNATed at nat OUTPUT, an empty service REJECTed', async (t) => {
  const node = new NodeNetwork('worker');
  const backend = createIptablesBackend(node, {});
  const stats = backend.sync(INPUT);
  t.equal(stats.full, true);
  t.equal(stats.servicePortsSynced, 2);

  const out = runHook(node, 'OUTPUT', { protocol: 'TCP', src: '10.244.1.2', sport: 40000, dst: '10.96.0.20', dport: 80 });
  t.equal(out.verdict, undefined, 'accepted');
  t.same({ dst: out.ctx.tuple.dst, dport: out.ctx.tuple.dport }, { dst: '10.244.2.5', dport: 8080 });
  t.match(out.chains, ['nat OUTPUT', 'nat KUBE-SERVICES', /^nat KUBE-SVC-/, /^nat KUBE-SEP-/], 'OUTPUT → KUBE-SERVICES → KUBE-SVC → KUBE-SEP');

  const empty = runHook(node, 'OUTPUT', { protocol: 'TCP', src: '10.244.1.2', sport: 40001, dst: '10.96.0.21', dport: 80 });
  t.equal(empty.verdict?.verdict, 'REJECT', 'filter OUTPUT → KUBE-SERVICES "has no endpoints" REJECT');

  // From a pod on this node, arriving on PREROUTING (nat PREROUTING → KUBE-SERVICES).
  const pre = runHook(node, 'PREROUTING', { protocol: 'TCP', src: '10.244.1.3', sport: 40002, dst: '10.96.0.20', dport: 80 });
  t.equal(pre.ctx.tuple.dst, '10.244.2.5');
});

t.test('jump rules are those of iptablesJumpChains, prepended, and a second sync adds none', async (t) => {
  const node = new NodeNetwork('worker');
  const backend = createIptablesBackend(node, {});
  const first = backend.sync(INPUT);
  const save = () => node.netfilter.save();
  const builtin = (text: string) => text.split('\n').filter((l) => /^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) /.test(l));
  // What iptables-save shows for them: EnsureRule(Prepend) puts each at the top, so the last
  // ensured comes first; kubelet's KUBE-FIREWALL jumps (ensured last) lead INPUT and OUTPUT.
  t.same(builtin(save()), [
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A INPUT -j KUBE-FIREWALL',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A OUTPUT -j KUBE-FIREWALL',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  ]);
  const restoreRules = backend.lastRestoreInput.split('\n').filter((l) => l.startsWith('-A ')).length;
  t.equal(first.rulesWritten, restoreRules + IPTABLES_JUMP_CHAINS.length + 2, 'restore rules plus 14 jump rules');

  const before = save();
  const second = backend.sync(INPUT);
  t.equal(save(), before, 'an identical sync changes nothing');
  t.equal(second.rulesWritten, restoreRules, 'no jump rule added twice');
  const kubeChains = node.netfilter.save({ tables: ['nat', 'filter'] }).split('\n').filter((l) => /^-A KUBE-/.test(l)).length;
  t.equal(second.totalRules, kubeChains, 'totalRules counts the rules of kube-proxy\'s chains');
});

t.test('a compile error leaves the tables as they were', async (t) => {
  const node = new NodeNetwork('worker');
  const backend = createIptablesBackend(node, {});
  backend.sync(INPUT);
  const before = node.netfilter.save({ counters: true });
  let caught: unknown;
  try {
    backend.sync({ ...INPUT, clusterCIDR: 'not-a-cidr' });
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof PodnetError && caught.code === 'PODNET_KUBEPROXY_INVALID', 'PODNET_KUBEPROXY_INVALID');
  t.equal(node.netfilter.save({ counters: true }), before);
});

t.test('an invalid Service is skipped and reported; the others are synced (upstream logs and skips)', async (t) => {
  const node = new NodeNetwork('worker');
  const backend = createIptablesBackend(node, {});
  const bad = service('default', 'bad', '10.96.0.999', [port('http', 80)]);
  const badSlice = { ...makeSlice('default', 'web2', ['10.244.2.x'], [port('http', 80)]) };
  const stats = backend.sync({ ...INPUT, services: [...INPUT.services, bad], endpointSlices: [...INPUT.endpointSlices, badSlice] });
  t.equal(stats.servicePortsSynced, 2);
  t.match(stats.errors, [/Service default\/bad: spec.clusterIP "10.96.0.999"/, /EndpointSlice default\/web2-1: endpoint address "10.244.2.x"/]);
  t.equal(runHook(node, 'OUTPUT', { protocol: 'TCP', src: '10.244.1.2', sport: 40000, dst: '10.96.0.20', dport: 80 }).ctx.tuple.dst, '10.244.2.5');
});

t.test('render is iptables-save, with counters on request', async (t) => {
  const node = new NodeNetwork('worker');
  const backend = createIptablesBackend(node, {});
  backend.sync(INPUT);
  runHook(node, 'OUTPUT', { protocol: 'TCP', src: '10.244.1.2', sport: 40000, dst: '10.96.0.20', dport: 80 });
  t.equal(backend.render('iptables-save'), node.netfilter.save());
  t.match(backend.render('iptables-save', { counters: true }), /\[1:0\] -A KUBE-SERVICES -d 10\.96\.0\.20\/32 -p tcp -m comment --comment "default\/web:http cluster IP"/);
  t.throws(() => backend.render('nft'), /renders iptables-save/);
});

t.test('cleanup removes the jump rules and kube-proxy\'s chains, and leaves others\' (kube-proxy --cleanup)', async (t) => {
  const node = new NodeNetwork('worker');
  const nf = node.netfilter;
  nf.newChain('nat', 'FLANNEL-POSTRTG');
  nf.append('nat', 'POSTROUTING', '-m comment --comment "flanneld masq" -j FLANNEL-POSTRTG');
  const pristine = nf.save({ tables: ['nat'] });
  const backend = createIptablesBackend(node, {});
  backend.sync(INPUT);
  backend.cleanup();
  for (const jump of IPTABLES_JUMP_CHAINS) t.notOk(nf.table(jump.table).chains.has(jump.dstChain) && nf.check(jump.table, jump.srcChain, jumpRuleArgs(jump)), `${jump.srcChain} → ${jump.dstChain} gone`);
  // kubelet's KUBE-FIREWALL is kubelet's: cleanup leaves it (cleanup.go never touches it).
  const left = nf.save().split('\n').filter((l) => /KUBE-/.test(l));
  t.same(left.filter((l) => !/KUBE-FIREWALL/.test(l)), [], 'no other KUBE- chain or rule is left');
  t.equal(nf.save({ tables: ['nat'] }), pristine, 'the nat table is back as it was: flanneld\'s chain and jump stay');
  t.equal(runHook(node, 'OUTPUT', { protocol: 'TCP', src: '10.244.1.2', sport: 40000, dst: '10.96.0.20', dport: 80 }).ctx.tuple.dst, '10.96.0.20', 'no DNAT after cleanup');

  // And a sync after cleanup puts everything back (a full sync).
  const again = backend.sync(INPUT, new Set());
  t.equal(again.full, true);
  t.equal(runHook(node, 'OUTPUT', { protocol: 'TCP', src: '10.244.1.2', sport: 40000, dst: '10.96.0.20', dport: 80 }).ctx.tuple.dst, '10.244.2.5');
});
