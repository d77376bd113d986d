// kube-proxy iptables mode, partial syncs (upstream since 1.27: syncProxyRules with
// tryPartialSync, pkg/proxy/iptables/proxier.go): the restore input holds every fixed chain but
// only the changed Services' SVC/SVL/EXT/FW/SEP chains, deletes stale ones with `-X`, and leaves
// the rest — rules and counters — as they are. TestSyncProxyRulesRepeated is upstream's own walk
// through such syncs; its expected restore inputs are compared chain by chain.
import t from 'tap';
import { createIptablesBackend, compileIptables } from '../../lib/kubeproxy/iptables.js';
import type { ProxyInput } from '../../lib/kubeproxy/model.js';
import type { EndpointSlice, Service } from '../../lib/api/types.js';
import { FAKE_PROXIER, FILTER_CHAINS, FILTER_TAIL, IPTABLES_FLOWS, NAT_FIXED_CHAINS, NAT_TAIL, NODEPORTS_JUMP, TEST_HOSTNAME, byChain, hostNode, makeService, makeSlice, traceOnce } from './fixtures.js';

const FILTER = (extra = '') => `*filter\n${FILTER_CHAINS}\n${extra}${FILTER_TAIL}\nCOMMIT\n`;
const NAT_FIXED_RULES = `${NODEPORTS_JUMP}\n${NAT_TAIL}`;
const testNode = () => hostNode(TEST_HOSTNAME);
const capture = (n: number, chain: string, port = 80, pname = 'p80') => `-A KUBE-SERVICES -m comment --comment "ns${n}/svc${n}:${pname} cluster IP" -m tcp -p tcp -d 172.30.0.4${n} --dport ${port} -j ${chain}`;
const nat = (chains: string, rules: string) => `*nat\n${NAT_FIXED_CHAINS}\n${chains}${chains ? '\n' : ''}${rules}\n${NAT_FIXED_RULES}\nCOMMIT\n`;

function svc(n: number, port = 80, pname = 'p80'): Service {
  return makeService(`ns${n}`, `svc${n}`, { type: 'ClusterIP', clusterIP: `172.30.0.4${n}`, ports: [{ name: pname, port, protocol: 'TCP' }] });
}
function eps(n: number, ips: string[], port = 80, pname = 'p80'): EndpointSlice {
  return makeSlice(`ns${n}`, `svc${n}`, ips, [{ name: pname, port, protocol: 'TCP' }]);
}

t.test('TestSyncProxyRulesRepeated: add, delete, endpoint changes and a failed partial restore', async (t) => {
  const node = testNode();
  const backend = createIptablesBackend(node, {});
  let services = [svc(1), svc(2, 8080, 'p8080')];
  let slices = [eps(1, ['10.0.1.1']), eps(2, ['10.0.2.1'], 8080, 'p8080')];
  const input = (): ProxyInput => ({ ...FAKE_PROXIER, services, endpointSlices: slices });
  const step = (name: string, changed: string[] | undefined, expected: string, full = false) => {
    const stats = backend.sync(input(), changed && new Set(changed));
    t.same(byChain(backend.lastRestoreInput), byChain(expected), name);
    t.equal(stats.full, full, `${name}: ${full ? 'full' : 'partial'}`);
  };

  step(
    'initial sync',
    undefined,
    FILTER() +
      nat(
        ':KUBE-SEP-SNQ3ZNILQDEJNDQO - [0:0]\n:KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]\n:KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]\n:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]',
        `${capture(1, 'KUBE-SVC-XPGD46QRK7WJZT7O')}
${capture(2, 'KUBE-SVC-2VJB64SDSIJUP5T6', 8080, 'p8080')}
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -s 10.0.2.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -m tcp -p tcp -j DNAT --to-destination 10.0.2.1:8080
-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 -> 10.0.2.1:8080" -j KUBE-SEP-UHEGFW77JX3KXTOV
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO`,
      ),
    true,
  );

  // Add a new service and its endpoints: only its SVC and SEP chains are written.
  services = [...services, svc(3)];
  slices = [...slices, eps(3, ['10.0.3.1'])];
  step(
    'add a service',
    ['ns3/svc3'],
    FILTER() +
      nat(
        ':KUBE-SEP-BSWRHOQ77KEXZLNL - [0:0]\n:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]',
        `${capture(1, 'KUBE-SVC-XPGD46QRK7WJZT7O')}
${capture(2, 'KUBE-SVC-2VJB64SDSIJUP5T6', 8080, 'p8080')}
${capture(3, 'KUBE-SVC-X27LE4BHSL4DOUIK')}
-A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -s 10.0.3.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.1:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.1:80" -j KUBE-SEP-BSWRHOQ77KEXZLNL`,
      ),
  );

  // Delete a service: its chains are flushed and deleted, the others untouched.
  services = services.filter((s) => s.metadata.name !== 'svc2');
  slices = slices.filter((s) => s.metadata.name !== 'svc2-1');
  step(
    'delete a service',
    ['ns2/svc2'],
    FILTER() +
      nat(
        ':KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]\n:KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]',
        `${capture(1, 'KUBE-SVC-XPGD46QRK7WJZT7O')}
${capture(3, 'KUBE-SVC-X27LE4BHSL4DOUIK')}
-X KUBE-SEP-UHEGFW77JX3KXTOV
-X KUBE-SVC-2VJB64SDSIJUP5T6`,
      ),
  );

  // Add a service without endpoints: only its REJECT rule.
  services = [...services, svc(4)];
  step(
    'add a service without endpoints',
    ['ns4/svc4'],
    FILTER('-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j REJECT\n') +
      nat('', `${capture(1, 'KUBE-SVC-XPGD46QRK7WJZT7O')}\n${capture(3, 'KUBE-SVC-X27LE4BHSL4DOUIK')}`),
  );

  slices = [...slices, eps(4, ['10.0.4.1'])];
  step(
    'then its endpoints',
    ['ns4/svc4'],
    FILTER() +
      nat(
        ':KUBE-SEP-AYCN5HPXMIRJNJXU - [0:0]\n:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]',
        `${capture(1, 'KUBE-SVC-XPGD46QRK7WJZT7O')}
${capture(3, 'KUBE-SVC-X27LE4BHSL4DOUIK')}
${capture(4, 'KUBE-SVC-4SW47YFZTEDKD3PK')}
-A KUBE-SEP-AYCN5HPXMIRJNJXU -m comment --comment ns4/svc4:p80 -s 10.0.4.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-AYCN5HPXMIRJNJXU -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.4.1:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.0.4.1:80" -j KUBE-SEP-AYCN5HPXMIRJNJXU`,
      ),
  );

  // Change an endpoint of an existing service: its SVC and SEP chains are rewritten.
  slices = slices.map((s) => (s.metadata.name === 'svc3-1' ? eps(3, ['10.0.3.2']) : s));
  const svc34 = `${capture(1, 'KUBE-SVC-XPGD46QRK7WJZT7O')}\n${capture(3, 'KUBE-SVC-X27LE4BHSL4DOUIK')}\n${capture(4, 'KUBE-SVC-4SW47YFZTEDKD3PK')}`;
  step(
    'change an endpoint',
    ['ns3/svc3'],
    FILTER() +
      nat(
        ':KUBE-SEP-BSWRHOQ77KEXZLNL - [0:0]\n:KUBE-SEP-DKCFIS26GWF2WLWC - [0:0]\n:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]',
        `${svc34}
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -j KUBE-SEP-DKCFIS26GWF2WLWC
-X KUBE-SEP-BSWRHOQ77KEXZLNL`,
      ),
  );

  // Add an endpoint to a service.
  slices = slices.map((s) => (s.metadata.name === 'svc3-1' ? eps(3, ['10.0.3.2', '10.0.3.3']) : s));
  step(
    'add an endpoint',
    ['ns3/svc3'],
    FILTER() +
      nat(
        ':KUBE-SEP-DKCFIS26GWF2WLWC - [0:0]\n:KUBE-SEP-JVVZVJ7BSEPPRNBS - [0:0]\n:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]',
        `${svc34}
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -s 10.0.3.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.3:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-DKCFIS26GWF2WLWC
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.3:80" -j KUBE-SEP-JVVZVJ7BSEPPRNBS`,
      ),
  );

  step('sync with no new changes: no SVC or SEP chain is rewritten', [], FILTER() + nat('', svc34));

  // A rule jumping from svc3's chain to svc4's endpoint makes deleting svc4 fail in a partial
  // sync (svc3's chain is not rewritten, so -X meets a dangling reference). The failed restore
  // changes nothing and the next sync is a full one, which rewrites svc3 and succeeds.
  node.netfilter.append('nat', 'KUBE-SVC-X27LE4BHSL4DOUIK', '-j KUBE-SEP-AYCN5HPXMIRJNJXU');
  services = services.filter((s) => s.metadata.name !== 'svc4');
  slices = slices.filter((s) => s.metadata.name !== 'svc4-1');
  const before = node.netfilter.save({ counters: true });
  t.throws(() => backend.sync(input(), new Set(['ns4/svc4'])), /KUBE-SEP-AYCN5HPXMIRJNJXU.*still referenced/, 'the partial restore fails');
  t.equal(node.netfilter.save({ counters: true }), before, 'and changes nothing');
  t.ok(node.netfilter.table('nat').chains.has('KUBE-SEP-AYCN5HPXMIRJNJXU'), "svc4's endpoint chain is still there");
  step(
    'on retry, a full resync that deletes svc4',
    ['ns4/svc4'],
    FILTER() +
      nat(
        ':KUBE-SEP-AYCN5HPXMIRJNJXU - [0:0]\n:KUBE-SEP-DKCFIS26GWF2WLWC - [0:0]\n:KUBE-SEP-JVVZVJ7BSEPPRNBS - [0:0]\n:KUBE-SEP-SNQ3ZNILQDEJNDQO - [0:0]\n:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]\n:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]\n:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]',
        `${capture(1, 'KUBE-SVC-XPGD46QRK7WJZT7O')}
${capture(3, 'KUBE-SVC-X27LE4BHSL4DOUIK')}
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -s 10.0.3.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.3:80
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-DKCFIS26GWF2WLWC
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.3:80" -j KUBE-SEP-JVVZVJ7BSEPPRNBS
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO
-X KUBE-SEP-AYCN5HPXMIRJNJXU
-X KUBE-SVC-4SW47YFZTEDKD3PK`,
      ),
    true,
  );
});

t.test('10 services, one endpoint changes: the restore input names only that service, and the result equals a full sync', async (t) => {
  const services = Array.from({ length: 10 }, (_, i) => makeService('default', `web${i}`, { clusterIP: `10.96.1.${i + 1}`, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
  const slicesFor = (ip5: string) =>
    services.map((s, i) => makeSlice('default', s.metadata.name ?? '', [`10.244.${i}.1`, `10.244.${i}.2`, i === 5 ? ip5 : `10.244.${i}.3`], [{ name: 'http', port: 8080, protocol: 'TCP' }]));
  const before: ProxyInput = { ...FAKE_PROXIER, services, endpointSlices: slicesFor('10.244.5.3') };
  const after: ProxyInput = { ...before, endpointSlices: slicesFor('10.244.5.9') };

  const node = testNode();
  const backend = createIptablesBackend(node, {});
  const first = backend.sync(before);
  t.equal(first.servicePortsSynced, 10);

  // A flow through an unchanged service, so its rules have counters to keep.
  const flow = traceOnce(node, { name: 'web2', sourceIP: '10.0.0.2', destIP: '10.96.1.3', destPort: 80, output: '' }, 1, IPTABLES_FLOWS);
  t.match(flow.output, /^10\.244\.2\.\d:8080$/);
  const counted = (text: string) => text.split('\n').filter((l) => /^\[[1-9]\d*:\d+\] -A KUBE-(SVC|SEP)-/.test(l));
  const countersBefore = counted(node.netfilter.save({ counters: true }));
  t.equal(countersBefore.length, 2, 'the KUBE-SVC rule and the KUBE-SEP DNAT rule of web2 counted the flow');

  const second = backend.sync(after, new Set(['default/web5']));
  t.equal(second.full, false);
  t.equal(second.servicePortsSynced, 1);
  const input = backend.lastRestoreInput;
  // Chains the input declares, writes rules into or deletes (KUBE-SERVICES still jumps to the others).
  const perService = [...new Set([...input.matchAll(/^(?::|-A |-X )(KUBE-(?:SVC|SVL|EXT|FW|SEP)-[A-Z0-9]+)/gm)].map((m) => m[1]!))];
  const web5Chains = new Set(perService.filter((c) => new RegExp(`^:${c} |^-A ${c} .*default/web5:http|^-X ${c}$`, 'm').test(input)));
  t.same(perService.filter((c) => !web5Chains.has(c)), [], 'every per-service chain written or deleted belongs to web5');
  t.equal(web5Chains.size, 5, "web5's KUBE-SVC, its three KUBE-SEP and the replaced endpoint's");
  const written = new Set(input.split('\n').filter((l) => l.startsWith('-A ')).map((l) => l.split(' ')[1] ?? ''));
  const fixed = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-PROXY-FIREWALL', 'KUBE-FIREWALL'];
  t.same([...written].filter((c) => !web5Chains.has(c) && !fixed.includes(c)), [], 'the other rules are in the fixed chains');
  t.match(input, /-X KUBE-SEP-\w+\n/, "the replaced endpoint's chain is deleted");
  t.ok(second.rulesWritten < first.rulesWritten / 3, `a small sync: ${second.rulesWritten} rules written, ${first.rulesWritten} in the full one`);

  // Same tables as a full sync of the new state on a fresh node (counters aside).
  const fresh = testNode();
  createIptablesBackend(fresh, {}).sync(after);
  t.equal(node.netfilter.save(), fresh.netfilter.save(), 'iptables-save equals a full sync of the new state');
  t.same(byChain(compileIptables(after)).nat!.rules['KUBE-SERVICES'], byChain(input).nat!.rules['KUBE-SERVICES'], 'KUBE-SERVICES rewritten in full');
  t.same(counted(node.netfilter.save({ counters: true })), countersBefore, "web2's counters survive the partial sync");
  t.equal(second.totalRules, first.totalRules, 'same number of rules held (one endpoint replaced by one)');
});

t.test('a partial sync before any full one is a full one', async (t) => {
  const node = testNode();
  const backend = createIptablesBackend(node, {});
  const stats = backend.sync({ ...FAKE_PROXIER, services: [svc(1)], endpointSlices: [eps(1, ['10.0.1.1'])] }, new Set(['ns9/other']));
  t.equal(stats.full, true);
  t.equal(stats.servicePortsSynced, 1);
  t.ok(node.netfilter.check('nat', 'OUTPUT', ['-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES']), 'jump rules installed');
});
