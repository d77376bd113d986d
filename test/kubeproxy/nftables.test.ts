// kube-proxy's nftables compiler (lib/kubeproxy/nftables.ts) against upstream's expected dumps
// (kubernetes/kubernetes pkg/proxy/nftables/proxier_test.go TestOverallNFTablesRules, compared
// the way upstream compares them: the transaction applied to a knftables-Fake-like table, dumped,
// and both sides sorted as helpers_test.go sortNFTablesTransaction sorts them), chain names
// against the hashes those dumps show, and the transaction loaded into a real nftables model.
//
// The revision followed is the proxier.go with filter-output-post-dnat (base chains at -110 and
// -90). Against the newest proxier_test.go two kinds of line differ, on purpose:
// - baseRules has that revision's base chains (filter-prerouting/-input/-forward/-output at
//   -110, filter-output-post-dnat at -90), as the copy of kube-proxy's dump in knftables'
//   fake_test.go TestFakeParseDump shows them;
// - the ClusterIP masquerade rule carries `tcp dport 80` (`ip daddr CIP proto dport PORT …`,
//   proxier.go at that revision; the same knftables copy shows it);
// and the mark is 0x00004000, as NewProxier formats it (`%#08x`), where NewFakeProxier
// hard-codes "0x4000".
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileNftables, masqueradeMark, servicePortChainNameBase, servicePortEndpointChainNameBase, NftablesProxier } from '../../lib/kubeproxy/nftables.js';
import { Nftables } from '../../lib/dataplane/nftables.js';
import { PodnetError } from '../../lib/core/errors.js';
import type { ProxyInput } from '../../lib/kubeproxy/model.js';
import { NFT_FAKE_PROXIER, P80, ep, makeService, makeSlice } from './fixtures.js';

/** baseRules, at the revision followed (see the header). */
const BASE_RULES = `
add table ip kube-proxy { comment "rules for kube-proxy" ; }

add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }

add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }

add chain ip kube-proxy cluster-ips-check
add chain ip kube-proxy filter-prerouting { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority -110 ; }
add chain ip kube-proxy filter-input { type filter hook input priority -110 ; }
add chain ip kube-proxy filter-output { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-output-post-dnat { type filter hook output priority -90 ; }
add chain ip kube-proxy firewall-check
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nodeport-endpoints-check
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-endpoints-check

add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
add rule ip kube-proxy cluster-ips-check ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"
add rule ip kube-proxy filter-prerouting ct state new jump firewall-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump firewall-check
add rule ip kube-proxy filter-output-post-dnat ct state new jump cluster-ips-check
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x00004000
add rule ip kube-proxy masquerading mark and 0x00004000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x00004000
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports

add element ip kube-proxy nodeport-ips { 192.168.0.2 }
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
`;

/** TestOverallNFTablesRules' Services and EndpointSlices. */
const OVERALL_INPUT: ProxyInput = {
  ...NFT_FAKE_PROXIER,
  services: [
    // create ClusterIP service
    makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: P80 }),
    // create LoadBalancer service with Local traffic policy
    makeService(
      'ns2',
      'svc2',
      { type: 'LoadBalancer', externalTrafficPolicy: 'Local', clusterIP: '172.30.0.42', ports: [{ ...P80[0]!, nodePort: 3001 }], externalIPs: ['192.168.99.22'], healthCheckNodePort: 30000 },
      { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } },
    ),
    // create NodePort service
    makeService('ns3', 'svc3', { type: 'NodePort', clusterIP: '172.30.0.43', ports: [{ ...P80[0]!, nodePort: 3003 }] }),
    // create ExternalIP service
    makeService('ns4', 'svc4', { type: 'NodePort', clusterIP: '172.30.0.44', externalIPs: ['192.168.99.33'], ports: [{ ...P80[0]!, targetPort: 80 }] }),
    // create LoadBalancer service with Cluster traffic policy, source ranges, and session affinity
    makeService(
      'ns5',
      'svc5',
      {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Cluster',
        clusterIP: '172.30.0.45',
        ports: [{ ...P80[0]!, nodePort: 3002 }],
        healthCheckNodePort: 30000,
        // Extra whitespace to ensure that invalid value will not result in a crash.
        loadBalancerSourceRanges: [' 203.0.113.0/25'],
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
      },
      { loadBalancer: { ingress: [{ ip: '5.6.7.8' }] } },
    ),
    // create ClusterIP service with no endpoints
    makeService('ns6', 'svc6', { type: 'ClusterIP', clusterIP: '172.30.0.46', ports: [{ ...P80[0]!, targetPort: 80 }] }),
  ],
  endpointSlices: [
    makeSlice('ns1', 'svc1', ['10.180.0.1'], P80),
    // no NodeName: considered non-local and ignored for the Local policy
    makeSlice('ns2', 'svc2', ['10.180.0.2'], P80),
    makeSlice('ns3', 'svc3', ['10.180.0.3'], P80),
    makeSlice('ns4', 'svc4', ['10.180.0.4', ep('10.180.0.5', 'test-node')], P80),
    makeSlice('ns5', 'svc5', ['10.180.0.3'], P80),
  ],
};

/** TestOverallNFTablesRules' expected per-service lines (see the header for the two adaptations). */
const OVERALL_EXPECTED = `
# svc1
add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 }

add chain ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 ip saddr 10.180.0.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 meta l4proto tcp dnat to 10.180.0.1:80

add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }

# svc2
add chain ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80
add rule ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80 ip daddr 172.30.0.42 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 }
add chain ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 ip saddr 10.0.0.0/8 goto service-42NFTM6N-ns2/svc2/tcp/p80 comment "short-circuit pod traffic"
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 fib saddr type local goto service-42NFTM6N-ns2/svc2/tcp/p80 comment "short-circuit local traffic"
add chain ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80
add rule ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 ip saddr 10.180.0.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 meta l4proto tcp dnat to 10.180.0.2:80

add element ip kube-proxy cluster-ips { 172.30.0.42 }
add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 80 : goto service-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-ips { 192.168.99.22 . tcp . 80 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-ips { 1.2.3.4 . tcp . 80 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3001 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }

add element ip kube-proxy no-endpoint-nodeports { tcp . 3001 comment "ns2/svc2:p80" : drop }
add element ip kube-proxy no-endpoint-services { 1.2.3.4 . tcp . 80 comment "ns2/svc2:p80" : drop }
add element ip kube-proxy no-endpoint-services { 192.168.99.22 . tcp . 80 comment "ns2/svc2:p80" : drop }

# svc3
add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 }
add chain ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80 goto service-4AT6LBPK-ns3/svc3/tcp/p80
add chain ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80
add rule ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 ip saddr 10.180.0.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 meta l4proto tcp dnat to 10.180.0.3:80

add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3003 : goto external-4AT6LBPK-ns3/svc3/tcp/p80 }

# svc4
add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 , 1 : goto endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 }
add chain ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80 goto service-LAUZTJTB-ns4/svc4/tcp/p80
add chain ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80
add rule ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 ip saddr 10.180.0.5 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 meta l4proto tcp dnat to 10.180.0.5:80
add chain ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 ip saddr 10.180.0.4 jump mark-for-masquerade
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 meta l4proto tcp dnat to 10.180.0.4:80

add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }
add element ip kube-proxy service-ips { 192.168.99.33 . tcp . 80 : goto external-LAUZTJTB-ns4/svc4/tcp/p80 }

# svc5
add set ip kube-proxy affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add chain ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 ip daddr 172.30.0.45 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr @affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 }
add chain ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80 goto service-HVFWP5L3-ns5/svc5/tcp/p80

add chain ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 ip saddr 10.180.0.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 update @affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { ip saddr }
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 meta l4proto tcp dnat to 10.180.0.3:80

add chain ip kube-proxy firewall-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy firewall-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr != { 203.0.113.0/25 } drop

add element ip kube-proxy cluster-ips { 172.30.0.45 }
add element ip kube-proxy service-ips { 172.30.0.45 . tcp . 80 : goto service-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy service-ips { 5.6.7.8 . tcp . 80 : goto external-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3002 : goto external-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy firewall-ips { 5.6.7.8 . tcp . 80 : goto firewall-HVFWP5L3-ns5/svc5/tcp/p80 }

# svc6
add element ip kube-proxy cluster-ips { 172.30.0.46 }
add element ip kube-proxy no-endpoint-services { 172.30.0.46 . tcp . 80 comment "ns6/svc6:p80" : goto reject-chain }
`;

/**
 * knftables' Fake, as far as dumping goes: applies a transaction's operations to a table held
 * as text (declarations, rule lines per chain, element lines per set) and dumps it.
 */
function fakeDump(tx: string): string {
  let table = '';
  const chains = new Map<string, { decl: string; rules: string[] }>();
  const sets = new Map<string, { decl: string; elements: Map<string, string> }>();
  for (const line of tx.split('\n')) {
    if (!line) continue;
    const m = /^(add|flush|delete) (table|chain|rule|set|map|element) ip kube-proxy ?(\S*)(.*)$/.exec(line);
    if (!m) throw new Error(`fakeDump: unexpected line ${line}`);
    const [, verb, obj, name, rest] = m as unknown as [string, string, string, string, string];
    if (obj === 'table') table ||= line;
    else if (obj === 'chain') {
      if (verb === 'add' && !chains.has(name)) chains.set(name, { decl: line, rules: [] });
      if (verb === 'flush') chains.get(name)!.rules = [];
      if (verb === 'delete') chains.delete(name);
    } else if (obj === 'rule') chains.get(name)!.rules.push(line);
    else if (obj === 'set' || obj === 'map') {
      if (verb === 'add' && !sets.has(name)) sets.set(name, { decl: line, elements: new Map() });
      if (verb === 'flush') sets.get(name)!.elements.clear();
      if (verb === 'delete') sets.delete(name);
    } else {
      const key = /^ \{ (.*?)(?: comment "[^"]*")?(?: : .*)? \}$/.exec(rest)![1]!;
      if (verb === 'add') sets.get(name)!.elements.set(key, line);
      else sets.get(name)!.elements.delete(key);
    }
  }
  return [table, ...[...chains.values()].map((c) => c.decl), ...[...sets.values()].map((s) => s.decl), ...[...chains.values()].flatMap((c) => c.rules), ...[...sets.values()].flatMap((s) => [...s.elements.values()])].join('\n');
}

const OBJECT_ORDER: Record<string, number> = { table: 10, chain: 9, rule: 8, set: 7, map: 6, element: 5 };

/** helpers_test.go sortNFTablesTransaction: by object type, then name; rules keep their order. */
function sortTransaction(tx: string): string[] {
  const lines = tx.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#')).map((l) => l.trim());
  return lines
    .map((line, i) => ({ line, i, w: line.split(' ') }))
    .sort((a, b) => {
      const [ti, tj] = [a.w[1]!, b.w[1]!];
      if (ti !== tj) return (OBJECT_ORDER[tj] ?? 0) - (OBJECT_ORDER[ti] ?? 0);
      if (a.w[4] !== b.w[4]) return a.w[4]! < b.w[4]! ? -1 : 1;
      if (ti === 'rule') return a.i - b.i;
      return a.line < b.line ? -1 : a.line > b.line ? 1 : 0;
    })
    .map((x) => x.line);
}

t.test('chain names: servicePortChainNameBase and servicePortEndpointChainNameBase hashes as proxier_test.go shows them', async (t) => {
  const sp = (namespace: string, serviceName: string, portName: string, protocol: 'tcp' | 'udp' | 'sctp' = 'tcp') => ({ namespace, serviceName, portName, protocol });
  t.equal(servicePortChainNameBase(sp('ns1', 'svc1', 'p80')), 'ULMVA6XW-ns1/svc1/tcp/p80');
  t.equal(servicePortChainNameBase(sp('ns2', 'svc2', 'p80')), '42NFTM6N-ns2/svc2/tcp/p80');
  t.equal(servicePortChainNameBase(sp('ns5', 'svc5', 'p80')), 'HVFWP5L3-ns5/svc5/tcp/p80');
  t.equal(servicePortChainNameBase(sp('ns2', 'svc2', 'p8080')), 'MHHHYRWA-ns2/svc2/tcp/p8080', 'TestSyncProxyRulesRepeated');
  t.equal(servicePortEndpointChainNameBase(sp('ns1', 'svc1', 'p80'), '10.180.0.1', 80), '5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80');
  t.equal(servicePortEndpointChainNameBase(sp('ns1', 'svc1', 'p80'), '10.0.1.1', 80), '5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80');
  t.equal(servicePortEndpointChainNameBase(sp('ns3', 'svc3', 'p80'), '10.0.3.2', 80), 'SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80');
  // An IPv6 endpoint's colons become dots (knftables TestFakeParseDump's ip6 copy).
  t.equal(servicePortEndpointChainNameBase(sp('ns1', 'svc1', 'p80'), 'fd00:10:180::1', 80), 'ZVRFLKHO-ns1/svc1/tcp/p80__fd00.10.180..1/80');
  // An unnamed port leaves the last part empty (a real node's `nft list`: service-P6J77WGM-riset/hellopod-np-svc/tcp/).
  t.equal(servicePortChainNameBase(sp('riset', 'hellopod-np-svc', '')), 'P6J77WGM-riset/hellopod-np-svc/tcp/');
  // The longest service name base is 205 characters (never truncated); an endpoint base with a
  // long IPv6 address can pass 240 and is cut to 237 characters plus "...".
  const longest = sp('n'.repeat(63), 's'.repeat(63), 'p'.repeat(63), 'sctp');
  t.equal(servicePortChainNameBase(longest).length, 205);
  const cut = servicePortEndpointChainNameBase(longest, 'fd00:1111:2222:3333:4444:5555:6666:7777', 65535);
  t.equal(cut.length, 240);
  t.ok(cut.endsWith('...'));
  t.equal(masqueradeMark(14), '0x00004000', 'Go %#08x pads eight digits after 0x');
});

t.test('TestOverallNFTablesRules: the first sync of a new proxier dumps as upstream expects', async (t) => {
  const tx = compileNftables(OVERALL_INPUT);
  t.same(sortTransaction(fakeDump(tx)), sortTransaction(BASE_RULES + OVERALL_EXPECTED));
  // setupNFTables on the first sync: every base chain added and deleted once, then re-added.
  t.match(tx, /^add table ip kube-proxy \{ comment "rules for kube-proxy" ; \}\nadd chain ip kube-proxy filter-prerouting\ndelete chain ip kube-proxy filter-prerouting\n/);
});

t.test('TestNoEndpointsReject / nodeport-addresses unset: fib daddr type local captures NodePorts and nodeport-ips is deleted', async (t) => {
  const { nodeIPs: _unused, ...all } = NFT_FAKE_PROXIER;
  const input: ProxyInput = {
    ...all,
    services: [makeService('ns1', 'svc1', { type: 'NodePort', clusterIP: '172.30.0.41', ports: [{ ...P80[0]!, nodePort: 3001 }] })],
    endpointSlices: [],
  };
  const dump = fakeDump(compileNftables(input));
  t.match(dump, /add rule ip kube-proxy services fib daddr type local ip daddr != 127\.0\.0\.0\/8 meta l4proto \. th dport vmap @service-nodeports/);
  t.match(dump, /add rule ip kube-proxy nodeport-endpoints-check ip daddr != 127\.0\.0\.0\/8 meta l4proto \. th dport vmap @no-endpoint-nodeports/);
  t.notMatch(dump, /nodeport-ips/, 'add+delete leaves no nodeport-ips set');
  t.match(dump, /add element ip kube-proxy no-endpoint-nodeports \{ tcp \. 3001 comment "ns1\/svc1:p80" : goto reject-chain \}/);
  t.match(dump, /add element ip kube-proxy no-endpoint-services \{ 172\.30\.0\.41 \. tcp \. 80 comment "ns1\/svc1:p80" : goto reject-chain \}/);
});

t.test('masqueradeAll, no local detector, source ranges holding the node IP (proxier.go branches)', async (t) => {
  const lb = makeService(
    'ns1',
    'svc1',
    { type: 'LoadBalancer', clusterIP: '172.30.0.41', ports: [{ ...P80[0]!, nodePort: 3001 }], loadBalancerSourceRanges: ['192.168.0.0/24', ' 203.0.113.0/25'] },
    { loadBalancer: { ingress: [{ ip: '1.2.3.4' }, { ip: '5.6.7.8' }] } },
  );
  const slices = [makeSlice('ns1', 'svc1', ['10.180.0.1'], P80)];
  const all = fakeDump(compileNftables({ ...NFT_FAKE_PROXIER, masqueradeAll: true, services: [lb], endpointSlices: slices }));
  t.match(all, /service-ULMVA6XW-ns1\/svc1\/tcp\/p80 ip daddr 172\.30\.0\.41 tcp dport 80 jump mark-for-masquerade/, '--masquerade-all: every packet to the ClusterIP');
  // TestLoadBalancer: the node IP is in a source range, so the LB IPs are allowed too.
  t.match(all, /add rule ip kube-proxy firewall-ULMVA6XW-ns1\/svc1\/tcp\/p80 ip saddr != \{ 192\.168\.0\.0\/24 , 203\.0\.113\.0\/25 , 1\.2\.3\.4 , 5\.6\.7\.8 \} drop/);
  const { clusterCIDR: _c, ...noDetector } = NFT_FAKE_PROXIER;
  const none = fakeDump(compileNftables({ ...noDetector, services: [lb], endpointSlices: slices }));
  t.notMatch(none, /ip daddr 172\.30\.0\.41 tcp dport 80/, 'no LocalTrafficDetector: no masquerade rule for the ClusterIP');
});

t.test('internalTrafficPolicy Local without local endpoints: ClusterIP traffic is dropped, not rejected', async (t) => {
  const svc = makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', internalTrafficPolicy: 'Local', ports: P80 });
  const dump = fakeDump(compileNftables({ ...NFT_FAKE_PROXIER, services: [svc], endpointSlices: [makeSlice('ns1', 'svc1', [ep('10.180.0.1', 'other-node')], P80)] }));
  t.match(dump, /add element ip kube-proxy no-endpoint-services \{ 172\.30\.0\.41 \. tcp \. 80 comment "ns1\/svc1:p80" : drop \}/);
  t.notMatch(dump, /service-ips \{ 172\.30\.0\.41/);
});

t.test('the transaction loads into the node model, and nft list shows what a real node shows', async (t) => {
  const nft = new Nftables();
  const result = nft.load(compileNftables(OVERALL_INPUT));
  t.equal(result.operations, compileNftables(OVERALL_INPUT).trim().split('\n').length, 'one operation per line');
  const listing = nft.list();
  // Lines as nft prints kube-proxy's table on a real node (priorities named only where the hook
  // allows the name; marks in canonical hex; one-element anonymous sets as plain values; an
  // affinity set as nft 1.0.6 shows it).
  for (const line of [
    '\t\ttype filter hook prerouting priority dstnat - 10; policy accept;',
    '\t\ttype filter hook input priority -110; policy accept;',
    '\t\ttype filter hook output priority -90; policy accept;',
    '\t\ttype nat hook prerouting priority dstnat; policy accept;',
    '\t\ttype nat hook output priority -100; policy accept;',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    '\t\tmeta mark & 0x00004000 == 0x00000000 return',
    '\t\tmeta mark set meta mark ^ 0x00004000',
    '\t\tmeta mark set meta mark | 0x00004000',
    '\t\tip daddr 172.30.0.0/16 drop comment "Drop traffic to unallocated ClusterIPs"',
    '\t\tip saddr != 203.0.113.0/25 drop',
    '\t\tcomment "helper for @no-endpoint-services / @no-endpoint-nodeports"',
    '\t\tsize 65535',
    '\t\tflags dynamic,timeout',
    '\t\ttimeout 3h',
  ]) {
    t.ok(listing.includes(`${line}\n`), `lists ${line.trim()}`);
  }
  // A fresh table loaded from the listing lists the same (render round trip).
  const again = new Nftables();
  again.load(listing);
  t.equal(again.list(), listing);
});

t.test('a bad input is refused before anything is written', async (t) => {
  const proxier = new NftablesProxier();
  t.throws(() => proxier.compile({ ...NFT_FAKE_PROXIER, masqueradeBit: 40, services: [], endpointSlices: [] }, { now: 0, existing: { chains: [], sets: [] } }), PodnetError);
  t.throws(() => proxier.compile({ ...NFT_FAKE_PROXIER, clusterCIDR: 'nope', services: [], endpointSlices: [] }, { now: 0, existing: { chains: [], sets: [] } }), /clusterCIDR/);
  t.throws(() => proxier.compile({ ...NFT_FAKE_PROXIER, serviceCIDRs: ['x'], services: [], endpointSlices: [] }, { now: 0, existing: { chains: [], sets: [] } }), /serviceCIDRs/);
});

/** Why real nft cannot load tables here (Debian's nft, root, and a throwaway network namespace), or undefined. */
function realNftUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (spawnSync('sh', ['-c', 'command -v nft']).status !== 0) return 'no nft binary (apt-get install nftables)';
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) return 'no unshare -n (CAP_SYS_ADMIN)';
  return undefined;
}
const NO_REAL_NFT = realNftUnavailable();

t.test('real nft loads the transaction (in a throwaway network namespace) and lists exactly what podnet lists', { skip: NO_REAL_NFT ? `SKIPPED: needs Debian's nft, root and a network namespace: ${NO_REAL_NFT}` : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-kp-nft-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tx = compileNftables(OVERALL_INPUT);
  writeFileSync(join(dir, 'tx.nft'), tx);
  const real = execFileSync('unshare', ['-n', 'sh', '-c', `nft -f ${join(dir, 'tx.nft')} && nft list ruleset`], { encoding: 'utf8' });
  const nft = new Nftables();
  nft.load(tx);
  t.equal(nft.list(), real);
});
