/**
 * kube-proxy's ipvs mode (kubernetes/kubernetes pkg/proxy/ipvs/proxier.go syncProxyRules, with
 * ipset.go, graceful_termination.go and cleanup): Services and EndpointSlices in; out, on one
 * node, what a real node running `kube-proxy --proxy-mode=ipvs` holds:
 * - the dummy interface kube-ipvs0 (created down, as the proxier leaves it) with every ClusterIP,
 *   externalIP and load-balancer VIP bound as a /32 — so routing says "local" for them — except
 *   addresses the node already has on another interface;
 * - the ipsets of ipset.go's ipsetInfo, with kube-proxy's names, types and entries (Entry.String():
 *   `ip,proto:port`, `ip,proto:port,ip`, `ip,proto:port,cidr`, bitmap ports);
 * - the iptables rules writeIptablesRules writes (nat KUBE-SERVICES, KUBE-POSTROUTING,
 *   KUBE-NODE-PORT, KUBE-LOAD-BALANCER, KUBE-MARK-MASQ; filter KUBE-FORWARD, KUBE-NODE-PORT,
 *   KUBE-PROXY-FIREWALL, KUBE-SOURCE-RANGES-FIREWALL, KUBE-IPVS-FILTER, KUBE-IPVS-OUT-FILTER),
 *   restored with --noflush, and the jump rules from the built-in chains (iptablesJumpChain,
 *   prepended once as EnsureRule(Prepend) does);
 * - the IPVS virtual servers: the ClusterIP, each externalIP, each LB VIP and one per node IP
 *   (ProxyInput.nodeIPs) for a NodePort; the scheduler from `--ipvs-scheduler` (rr by default);
 *   `persistent <timeoutSeconds>` for ClientIP affinity; real servers of weight 1 — the Cluster
 *   endpoints, or for a Local policy the local ones (and, as upstream's syncEndpoint does since
 *   kubernetes#97081, the Cluster ones when there is no local endpoint).
 * Endpoints come from model.ts (the EndpointSlice cache and topology.go CategorizeEndpoints), so
 * ready endpoints are used, serving-terminating ones when none is ready, topology hints apply.
 *
 * Graceful termination (graceful_termination.go): a real server that leaves the list keeps its
 * connections: a TCP one with live connections gets weight 0 (the schedulers skip it) and is
 * deleted once they are gone — checked every minute on the node clock (rsCheckDeleteInterval);
 * a UDP or SCTP one, or one without connections, is deleted at once. One that comes back while
 * waiting gets weight 1 again.
 *
 * Syncs: upstream's ipvs proxier has no partial sync, so every sync is a full one
 * (SyncStats.full = true); but it only applies differences — an unchanged virtual server keeps its
 * real servers, connection counts and counters; stale virtual servers and addresses go.
 *
 * Rules upstream writes that podnet does not: KUBE-IPVS-OUT-FILTER's `-m ipvs --vaddr … -j DROP`
 * rules (kubernetes#119656: nodes reaching an LB VIP whose loadBalancerSourceRanges leave the node
 * out) — the ipvs match is not modelled, so such a node is not kept from the VIP.
 */

import { PodnetError } from '../core/errors.js';
import { parseCIDR, parseIP } from '../core/ipnet.js';
import type { TimerHandle } from '../core/clock.js';
import type { NodeNetwork } from '../dataplane/node.js';
import type { TableName } from '../dataplane/netfilter.js';
import { SCHEDULERS, type IpvsProtocol, type RealServer, type Scheduler, type VirtualServer, type VirtualServerSpec } from '../dataplane/ipvs.js';
import { registerProxyMode, type BackendOptions, type ProxyBackend, type RulesFormat, type SyncStats } from './backend.js';
import { kubeProxyInvalid, proxyState, usableInput, type EndpointInfo, type ProxyInput, type ServicePortState } from './model.js';

/** The dummy interface Service addresses are bound to (proxier.go defaultDummyDevice). */
export const DUMMY_DEVICE = 'kube-ipvs0';

/** proxier.go defaultScheduler. */
export const DEFAULT_SCHEDULER: Scheduler = 'rr';

/** The ipvs proxier's chains (proxier.go). */
export const IPVS_CHAINS = {
  services: 'KUBE-SERVICES',
  proxyFirewall: 'KUBE-PROXY-FIREWALL',
  sourceRangesFirewall: 'KUBE-SOURCE-RANGES-FIREWALL',
  postrouting: 'KUBE-POSTROUTING',
  markMasq: 'KUBE-MARK-MASQ',
  nodePort: 'KUBE-NODE-PORT',
  forward: 'KUBE-FORWARD',
  loadBalancer: 'KUBE-LOAD-BALANCER',
  ipvsFilter: 'KUBE-IPVS-FILTER',
  ipvsOutFilter: 'KUBE-IPVS-OUT-FILTER',
} as const;

const C = IPVS_CHAINS;

/** proxier.go iptablesChains: the chains the proxier declares, per table, in order. */
export const IPVS_IPTABLES_CHAINS: readonly { table: 'nat' | 'filter'; chain: string }[] = [
  { table: 'nat', chain: C.services },
  { table: 'nat', chain: C.postrouting },
  { table: 'nat', chain: C.nodePort },
  { table: 'nat', chain: C.loadBalancer },
  { table: 'nat', chain: C.markMasq },
  { table: 'filter', chain: C.forward },
  { table: 'filter', chain: C.nodePort },
  { table: 'filter', chain: C.proxyFirewall },
  { table: 'filter', chain: C.sourceRangesFirewall },
  { table: 'filter', chain: C.ipvsFilter },
  { table: 'filter', chain: C.ipvsOutFilter },
];

/** proxier.go iptablesJumpChain: `-m comment --comment COMMENT -j TO` prepended to FROM. */
export const IPVS_JUMP_CHAINS: readonly { table: 'nat' | 'filter'; from: string; to: string; comment: string }[] = [
  { table: 'nat', from: 'OUTPUT', to: C.services, comment: 'kubernetes service portals' },
  { table: 'nat', from: 'PREROUTING', to: C.services, comment: 'kubernetes service portals' },
  { table: 'nat', from: 'POSTROUTING', to: C.postrouting, comment: 'kubernetes postrouting rules' },
  { table: 'filter', from: 'FORWARD', to: C.forward, comment: 'kubernetes forwarding rules' },
  { table: 'filter', from: 'INPUT', to: C.nodePort, comment: 'kubernetes health check rules' },
  { table: 'filter', from: 'INPUT', to: C.proxyFirewall, comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'FORWARD', to: C.proxyFirewall, comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'INPUT', to: C.ipvsFilter, comment: 'kubernetes ipvs access filter' },
  { table: 'filter', from: 'OUTPUT', to: C.ipvsOutFilter, comment: 'kubernetes ipvs access filter' },
];

/** ipset.go's set names. */
export const IPSETS = {
  loopBack: 'KUBE-LOOP-BACK',
  clusterIP: 'KUBE-CLUSTER-IP',
  externalIP: 'KUBE-EXTERNAL-IP',
  externalIPLocal: 'KUBE-EXTERNAL-IP-LOCAL',
  loadBalancer: 'KUBE-LOAD-BALANCER',
  loadBalancerFW: 'KUBE-LOAD-BALANCER-FW',
  loadBalancerLocal: 'KUBE-LOAD-BALANCER-LOCAL',
  loadBalancerSourceIP: 'KUBE-LOAD-BALANCER-SOURCE-IP',
  loadBalancerSourceCIDR: 'KUBE-LOAD-BALANCER-SOURCE-CIDR',
  nodePortTCP: 'KUBE-NODE-PORT-TCP',
  nodePortLocalTCP: 'KUBE-NODE-PORT-LOCAL-TCP',
  nodePortUDP: 'KUBE-NODE-PORT-UDP',
  nodePortLocalUDP: 'KUBE-NODE-PORT-LOCAL-UDP',
  nodePortSCTP: 'KUBE-NODE-PORT-SCTP-HASH',
  nodePortLocalSCTP: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH',
  healthCheckNodePort: 'KUBE-HEALTH-CHECK-NODE-PORT',
  ipvs: 'KUBE-IPVS-IPS',
} as const;

const S = IPSETS;

/** proxier.go ipsetInfo: each set's type and comment, in upstream's order. */
export const IPSET_INFO: readonly { name: string; type: 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port'; comment: string }[] = [
  { name: S.loopBack, type: 'hash:ip,port,ip', comment: 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose' },
  { name: S.clusterIP, type: 'hash:ip,port', comment: 'Kubernetes service cluster ip + port for masquerade purpose' },
  { name: S.externalIP, type: 'hash:ip,port', comment: 'Kubernetes service external ip + port for masquerade and filter purpose' },
  { name: S.externalIPLocal, type: 'hash:ip,port', comment: 'Kubernetes service external ip + port with externalTrafficPolicy=local' },
  { name: S.loadBalancer, type: 'hash:ip,port', comment: 'Kubernetes service lb portal' },
  { name: S.loadBalancerFW, type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port for load balancer with sourceRange' },
  { name: S.loadBalancerLocal, type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local' },
  { name: S.loadBalancerSourceIP, type: 'hash:ip,port,ip', comment: 'Kubernetes service load balancer ip + port + source IP for packet filter purpose' },
  { name: S.loadBalancerSourceCIDR, type: 'hash:ip,port,net', comment: 'Kubernetes service load balancer ip + port + source cidr for packet filter purpose' },
  { name: S.nodePortTCP, type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port for masquerade purpose' },
  { name: S.nodePortLocalTCP, type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port with externalTrafficPolicy=local' },
  { name: S.nodePortUDP, type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port for masquerade purpose' },
  { name: S.nodePortLocalUDP, type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port with externalTrafficPolicy=local' },
  { name: S.nodePortSCTP, type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'" },
  { name: S.nodePortLocalSCTP, type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'" },
  { name: S.healthCheckNodePort, type: 'bitmap:port', comment: 'Kubernetes health check node port' },
  { name: S.ipvs, type: 'hash:ip', comment: 'Addresses on the ipvs interface' },
];

const COMMENT = new Map(IPSET_INFO.map((i) => [i.name, i.comment]));

/**
 * proxier.go ipsetWithIptablesChain: `-A FROM [-p PROTO] -m comment --comment C -m set
 * --match-set SET MATCH -j TO`, written for each non-empty set, in this order (the Local sets
 * ahead of the others, so their RETURN comes first).
 */
export const IPSET_WITH_IPTABLES_CHAIN: readonly { set: string; table: 'nat' | 'filter'; from: string; to: string; match: string; protocol?: string }[] = [
  { set: S.loopBack, table: 'nat', from: C.postrouting, to: 'MASQUERADE', match: 'dst,dst,src' },
  { set: S.loadBalancer, table: 'nat', from: C.services, to: C.loadBalancer, match: 'dst,dst' },
  { set: S.loadBalancerLocal, table: 'nat', from: C.loadBalancer, to: 'RETURN', match: 'dst,dst' },
  { set: S.nodePortLocalTCP, table: 'nat', from: C.nodePort, to: 'RETURN', match: 'dst', protocol: 'tcp' },
  { set: S.nodePortTCP, table: 'nat', from: C.nodePort, to: C.markMasq, match: 'dst', protocol: 'tcp' },
  { set: S.nodePortLocalUDP, table: 'nat', from: C.nodePort, to: 'RETURN', match: 'dst', protocol: 'udp' },
  { set: S.nodePortUDP, table: 'nat', from: C.nodePort, to: C.markMasq, match: 'dst', protocol: 'udp' },
  { set: S.nodePortLocalSCTP, table: 'nat', from: C.nodePort, to: 'RETURN', match: 'dst,dst', protocol: 'sctp' },
  { set: S.nodePortSCTP, table: 'nat', from: C.nodePort, to: C.markMasq, match: 'dst,dst', protocol: 'sctp' },
  { set: S.loadBalancerFW, table: 'filter', from: C.proxyFirewall, to: C.sourceRangesFirewall, match: 'dst,dst' },
  { set: S.loadBalancerSourceCIDR, table: 'filter', from: C.sourceRangesFirewall, to: 'RETURN', match: 'dst,dst,src' },
  { set: S.loadBalancerSourceIP, table: 'filter', from: C.sourceRangesFirewall, to: 'RETURN', match: 'dst,dst,src' },
];

/** How often the graceful termination manager retries deleting real servers (rsCheckDeleteInterval). */
export const RS_CHECK_DELETE_INTERVAL_MS = 60_000;

/** One virtual server the proxier wants, with its real servers. */
export interface IpvsVirtualServerPlan {
  spec: VirtualServerSpec;
  /** The service port it serves (`ns/name:port`). */
  servicePort: string;
  /** `ip:port` of each real server, sorted. */
  realServers: { address: string; port: number }[];
}

/** What one sync programs. */
export interface IpvsCompilation {
  /** The `iptables-restore --noflush` input (nat then filter, as upstream writes it). */
  iptables: string;
  /** Each set of {@link IPSET_INFO} → its entries, as kube-proxy writes them. */
  ipsets: Map<string, Set<string>>;
  /** Virtual servers by `PROTO address:port`, in the order they were written. */
  virtualServers: IpvsVirtualServerPlan[];
  /** Addresses to bind on kube-ipvs0 (KUBE-IPVS-IPS), sorted. */
  bindAddresses: string[];
  servicePortsSynced: number;
  /** `-A` lines in {@link iptables}. */
  iptablesRules: number;
}

/** Options of the compiler (the proxier's flags). */
export interface IpvsCompileOptions {
  /** `--ipvs-scheduler`. */
  scheduler?: string;
  /** The per-port state of `input`, when the caller already has it (model.ts proxyState). */
  state?: ServicePortState[];
}

/** `--ipvs-scheduler`, checked: an unknown one is refused with the ones podnet models. */
export function ipvsScheduler(name: string | undefined): Scheduler {
  const s = name === undefined || name === '' ? DEFAULT_SCHEDULER : name;
  if (!(SCHEDULERS as readonly string[]).includes(s)) throw kubeProxyInvalid(`--ipvs-scheduler "${s}" is not supported (podnet models ${SCHEDULERS.join(', ')})`);
  return s as Scheduler;
}

function ipv4(text: string): boolean {
  return parseIP(text)?.family === 'IPv4';
}

function quote(text: string): string {
  return `"${text}"`;
}

/** The ipvs proxier's state for a node: iptables rules, ipset entries, virtual servers. Pure. */
export function compileIpvs(input: ProxyInput, options: IpvsCompileOptions = {}): IpvsCompilation {
  const scheduler = ipvsScheduler(options.scheduler);
  const bit = input.masqueradeBit ?? 14;
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) throw kubeProxyInvalid(`masqueradeBit must be between 0 and 31: ${bit}`);
  let clusterCIDR: string | undefined;
  if (input.clusterCIDR !== undefined) {
    const cidr = parseCIDR(input.clusterCIDR);
    if (!cidr || cidr.family !== 'IPv4') throw kubeProxyInvalid(`clusterCIDR "${input.clusterCIDR}" is not an IPv4 CIDR`);
    clusterCIDR = input.clusterCIDR;
  }
  for (const ip of input.nodeIPs ?? []) if (!parseIP(ip)) throw kubeProxyInvalid(`node IP "${ip}" is not an IP address`);
  // One proxier per family: this one is IPv4's (the fake proxier's NodeIPs filter in proxier_test.go).
  const nodeIPs = (input.nodeIPs ?? []).filter(ipv4);
  const nodeIP = nodeIPs[0];
  // fmt.Sprintf("%#08x", 1<<bit).
  const mark = `0x${(2 ** bit).toString(16).padStart(6, '0')}`;

  const state = options.state ?? proxyState(input);
  const sets = new Map<string, Set<string>>(IPSET_INFO.map((i) => [i.name, new Set<string>()]));
  const add = (set: string, entry: string) => sets.get(set)!.add(entry);
  const servers = new Map<string, IpvsVirtualServerPlan>();
  const bind = new Set<string>();
  const nodeAddresses = new Set(nodeIPs);

  const virtualServer = (st: ServicePortState, address: string, port: number, onlyLocal: boolean, bindAddress: boolean) => {
    const sp = st.port;
    const spec: VirtualServerSpec = {
      protocol: sp.protocol.toUpperCase() as IpvsProtocol,
      address,
      port,
      scheduler,
      ...(sp.affinitySeconds !== undefined ? { persistent: sp.affinitySeconds } : {}),
    };
    // syncEndpoint: the Local endpoints when asked for and there are some, else the Cluster ones.
    const c = st.categorized;
    const eps: EndpointInfo[] = onlyLocal && c.local.length > 0 ? c.local : c.cluster;
    const realServers = [...new Map(eps.map((e) => [e.text, { address: e.ip, port: e.port }])).values()];
    servers.set(`${spec.protocol} ${address}:${port}`, { spec, servicePort: sp.name, realServers });
    if (bindAddress) bind.add(address);
  };

  for (const st of state) {
    const sp = st.port;
    const proto = sp.protocol;
    // Hairpin: every local endpoint, ready or not.
    for (const ep of st.endpoints) if (ep.local) add(S.loopBack, `${ep.ip},${proto}:${ep.port},${ep.ip}`);

    add(S.clusterIP, `${sp.clusterIP},${proto}:${sp.port}`);
    // ExternalTrafficPolicy does not affect the ClusterIP; internalTrafficPolicy does.
    virtualServer(st, sp.clusterIP, sp.port, sp.internalPolicyLocal, true);

    for (const ip of sp.externalIPs) {
      add(sp.externalPolicyLocal ? S.externalIPLocal : S.externalIP, `${ip},${proto}:${sp.port}`);
      virtualServer(st, ip, sp.port, sp.externalPolicyLocal, !nodeAddresses.has(ip));
    }

    for (const vip of sp.loadBalancerVIPs) {
      const entry = `${vip},${proto}:${sp.port}`;
      add(S.loadBalancer, entry);
      if (sp.externalPolicyLocal) add(S.loadBalancerLocal, entry);
      const ranges = sp.loadBalancerSourceRanges.map((r) => parseCIDR(r)!).filter((r) => r.family === 'IPv4');
      if (ranges.length) {
        add(S.loadBalancerFW, entry);
        let allowFromNode = false;
        for (const cidr of ranges) {
          add(S.loadBalancerSourceCIDR, `${entry},${cidr.text}`);
          const n = nodeIP ? parseIP(nodeIP) : undefined;
          const host = BigInt(32 - cidr.prefix);
          if (n && n.value >> host === cidr.base >> host) allowFromNode = true;
        }
        // Requests from the node itself (a route to the VIP on its backends) are let through.
        if (allowFromNode) add(S.loadBalancerSourceIP, `${entry},${vip}`);
      }
      virtualServer(st, vip, sp.port, sp.externalPolicyLocal, !nodeAddresses.has(vip));
    }

    if (sp.nodePort !== 0) {
      // Without node IPs upstream skips the NodePort (and, with its `continue`, the health check port).
      if (nodeIPs.length === 0) continue;
      const entries = proto === 'sctp' ? nodeIPs.map((ip) => `${ip},sctp:${sp.nodePort}`) : [String(sp.nodePort)];
      const [set, local] = proto === 'tcp' ? [S.nodePortTCP, S.nodePortLocalTCP] : proto === 'udp' ? [S.nodePortUDP, S.nodePortLocalUDP] : [S.nodePortSCTP, S.nodePortLocalSCTP];
      for (const e of entries) add(set, e);
      if (sp.externalPolicyLocal) for (const e of entries) add(local, e);
      for (const ip of nodeIPs) virtualServer(st, ip, sp.nodePort, sp.externalPolicyLocal, false);
    }

    if (sp.healthCheckNodePort !== 0) add(S.healthCheckNodePort, String(sp.healthCheckNodePort));
  }
  for (const a of bind) add(S.ipvs, a);

  const iptables = writeIptablesRules(sets, { mark, masqueradeAll: input.masqueradeAll === true, ...(clusterCIDR ? { clusterCIDR } : {}) });
  return {
    iptables,
    ipsets: sets,
    virtualServers: [...servers.values()],
    bindAddresses: [...bind].sort(),
    servicePortsSynced: state.length,
    iptablesRules: iptables.split('\n').filter((l) => l.startsWith('-A ')).length,
  };
}

/** proxier.go writeIptablesRules (with createAndLinkKubeChain's chain lines). */
function writeIptablesRules(sets: Map<string, Set<string>>, o: { mark: string; masqueradeAll: boolean; clusterCIDR?: string }): string {
  const natChains = ['*nat', ...IPVS_IPTABLES_CHAINS.filter((c) => c.table === 'nat').map((c) => `:${c.chain} - [0:0]`)];
  const filterChains = ['*filter', ...IPVS_IPTABLES_CHAINS.filter((c) => c.table === 'filter').map((c) => `:${c.chain} - [0:0]`)];
  const nat: string[] = [];
  const filter: string[] = [];
  const empty = (set: string) => sets.get(set)!.size === 0;
  const comment = (set: string) => `-m comment --comment ${quote(COMMENT.get(set)!)}`;

  // Dismiss connections to localhost early.
  nat.push(`-A ${C.services} -s 127.0.0.0/8 -j RETURN`);
  for (const r of IPSET_WITH_IPTABLES_CHAIN) {
    if (empty(r.set)) continue;
    const line = `-A ${r.from}${r.protocol ? ` -p ${r.protocol}` : ''} ${comment(r.set)} -m set --match-set ${r.set} ${r.match} -j ${r.to}`;
    (r.table === 'filter' ? filter : nat).push(line);
  }
  if (!empty(S.clusterIP)) {
    const head = `-A ${C.services} ${comment(S.clusterIP)} -m set --match-set ${S.clusterIP}`;
    if (o.masqueradeAll) nat.push(`${head} dst,dst -j ${C.markMasq}`);
    // Off-cluster traffic to a Service VIP is masqueraded (LocalDetector by cluster CIDR) …
    else if (o.clusterCIDR) nat.push(`${head} dst,dst ! -s ${o.clusterCIDR} -j ${C.markMasq}`);
    // … or, with no detector, node traffic whose source is a VIP (the dummy interface's addresses).
    else nat.push(`${head} src,dst -j ${C.markMasq}`);
  }
  // Traffic to external IPs from off the node (not bridged, not local), or to a local external IP, is accepted.
  const externalIPRules = (head: string) => {
    nat.push(`${head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
    nat.push(`${head} -m addrtype --dst-type LOCAL -j ACCEPT`);
  };
  if (!empty(S.externalIP)) {
    const head = `-A ${C.services} ${comment(S.externalIP)} -m set --match-set ${S.externalIP} dst,dst`;
    nat.push(`${head} -j ${C.markMasq}`);
    externalIPRules(head);
  }
  if (!empty(S.externalIPLocal)) externalIPRules(`-A ${C.services} ${comment(S.externalIPLocal)} -m set --match-set ${S.externalIPLocal} dst,dst`);
  nat.push(`-A ${C.services} -m addrtype --dst-type LOCAL -j ${C.nodePort}`);
  nat.push(`-A ${C.loadBalancer} -j ${C.markMasq}`);
  filter.push(`-A ${C.sourceRangesFirewall} -j DROP`);
  // acceptIPVSTraffic: the end of KUBE-SERVICES, so no later rule undoes IPVS.
  for (const set of [S.clusterIP, S.loadBalancer]) if (!empty(set)) nat.push(`-A ${C.services} -m set --match-set ${set} dst,dst -j ACCEPT`);
  filter.push(
    `-A ${C.forward} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${o.mark}/${o.mark} -j ACCEPT`,
    `-A ${C.forward} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A ${C.nodePort} ${comment(S.healthCheckNodePort)} -m set --match-set ${S.healthCheckNodePort} dst -j ACCEPT`,
    // kubernetes#72236: no host ports through the VIPs on kube-ipvs0.
    `-A ${C.ipvsFilter} -m set --match-set ${S.loadBalancer} dst,dst -j RETURN`,
    `-A ${C.ipvsFilter} -m set --match-set ${S.clusterIP} dst,dst -j RETURN`,
    `-A ${C.ipvsFilter} -m set --match-set ${S.externalIP} dst,dst -j RETURN`,
    `-A ${C.ipvsFilter} -m set --match-set ${S.externalIPLocal} dst,dst -j RETURN`,
    `-A ${C.ipvsFilter} -m set --match-set ${S.healthCheckNodePort} dst -j RETURN`,
    `-A ${C.ipvsFilter} -m conntrack --ctstate NEW -m set --match-set ${S.ipvs} dst -j REJECT`,
  );
  nat.push(
    `-A ${C.postrouting} -m mark ! --mark ${o.mark}/${o.mark} -j RETURN`,
    // Clear the mark so a packet that traverses the stack again is not masqueraded twice.
    `-A ${C.postrouting} -j MARK --xor-mark ${o.mark}`,
    // iptables >= 1.6.2 has --random-fully (HasRandomFully), as every current node does.
    `-A ${C.postrouting} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
    `-A ${C.markMasq} -j MARK --or-mark ${o.mark}`,
  );
  return [...natChains, ...nat, 'COMMIT', ...filterChains, ...filter, 'COMMIT', ''].join('\n');
}

/** The `ipset restore` input that makes the node's sets hold exactly the wanted entries (syncIPSetEntries). */
export function ipsetRestoreInput(node: NodeNetwork, wanted: ReadonlyMap<string, ReadonlySet<string>>): string {
  const lines: string[] = [];
  for (const info of IPSET_INFO) {
    // ensureIPSet: create -exist with the proxier's defaults (ipset.go setIPSetDefaults).
    lines.push(`create ${info.name} ${info.type} ${info.type === 'bitmap:port' ? 'range 0-65535' : 'family inet hashsize 1024 maxelem 65536'} -exist`);
    const want = wanted.get(info.name) ?? new Set<string>();
    const have = new Set(node.ipsets.get(info.name)?.members() ?? []);
    for (const e of have) if (!want.has(e)) lines.push(`del ${info.name} ${e}`);
    for (const e of want) if (!have.has(e)) lines.push(`add ${info.name} ${e} -exist`);
  }
  return lines.join('\n') + '\n';
}

// ---- the backend ------------------------------------------------------------------------------

/** The ipvs backend: a {@link ProxyBackend} that also shows its last inputs. */
export interface IpvsProxyBackend extends ProxyBackend {
  /** The `iptables-restore --noflush` input of the last sync. */
  readonly lastRestoreInput: string;
  /** The last compilation (virtual servers, ipset entries, bound addresses). */
  readonly lastCompilation: IpvsCompilation | undefined;
  /** Real servers waiting for their connections to end (graceful termination), `vs/rs`. */
  gracefulTerminationList(): string[];
}

interface GracefulItem {
  protocol: IpvsProtocol;
  address: string;
  port: number;
  rsAddress: string;
  rsPort: number;
}

class IpvsBackend implements IpvsProxyBackend {
  readonly mode = 'ipvs' as const;
  readonly formats: readonly RulesFormat[] = ['ipvs', 'iptables-save'];
  readonly #node: NodeNetwork;
  readonly #scheduler: Scheduler;
  readonly #graceful = new Map<string, GracefulItem>();
  #timer: TimerHandle | undefined;
  /** upstream initialSync: the first sync resets the weights of real servers it keeps. */
  #initialSync = true;
  lastRestoreInput = '';
  lastCompilation: IpvsCompilation | undefined;

  constructor(node: NodeNetwork, options: BackendOptions) {
    this.#node = node;
    this.#scheduler = ipvsScheduler(options.ipvsScheduler);
  }

  sync(input: ProxyInput, _changed?: ReadonlySet<string>): SyncStats {
    // Everything that can throw on input runs before the node is touched.
    const { input: valid, state, errors } = usableInput(input);
    const plan = compileIpvs(valid, { scheduler: this.#scheduler, state });
    const node = this.#node;
    const nf = node.netfilter;

    // createAndLinkKubeChain: the chains, and the jumps into them prepended once.
    let jumpsAdded = 0;
    for (const ch of IPVS_IPTABLES_CHAINS) nf.ensureChain(ch.table, ch.chain);
    for (const jump of IPVS_JUMP_CHAINS) {
      const args = ['-m', 'comment', '--comment', jump.comment, '-j', jump.to];
      if (!nf.check(jump.table, jump.from, args)) {
        nf.insert(jump.table, jump.from, args, 1);
        jumpsAdded++;
      }
    }
    // The dummy interface with the VIPs (EnsureDummyDevice, EnsureAddressBind, UnbindAddress).
    node.addInterface({ name: DUMMY_DEVICE, kind: 'dummy', mtu: 1500, addresses: plan.bindAddresses.map((a) => `${a}/32`), up: false });
    // The sets first: the rules match them.
    node.ipsets.restore(ipsetRestoreInput(node, plan.ipsets));
    nf.restore(plan.iptables, { noflush: true });
    this.lastRestoreInput = plan.iptables;
    this.lastCompilation = plan;

    const ipvs = node.ipvs;
    ipvs.expire();
    const active = new Set<string>();
    let realServers = 0;
    for (const p of plan.virtualServers) {
      let vs = ipvs.service(p.spec.protocol, p.spec.address, p.spec.port);
      if (!vs) vs = ipvs.addService(p.spec);
      else if (vs.scheduler !== p.spec.scheduler || vs.persistent !== p.spec.persistent) ipvs.editService(p.spec);
      active.add(vs.key);
      this.#syncRealServers(vs, p.realServers);
      realServers += p.realServers.length;
    }
    // cleanLegacyService: this family's virtual servers nobody wants any more.
    for (const vs of ipvs.services()) if (!active.has(vs.key) && ipv4(vs.address)) ipvs.deleteService(vs.protocol, vs.address, vs.port);
    this.#initialSync = false;
    return {
      full: true,
      rulesWritten: plan.iptablesRules + jumpsAdded + realServers,
      totalRules: this.#countRules(),
      servicePortsSynced: plan.servicePortsSynced,
      ...(errors.length ? { errors } : {}),
    };
  }

  /** syncEndpoint: add the wanted real servers, gracefully delete the others. */
  #syncRealServers(vs: VirtualServer, wanted: readonly { address: string; port: number }[]): void {
    const ipvs = this.#node.ipvs;
    const want = new Set(wanted.map((r) => `${r.address}:${r.port}`));
    for (const r of wanted) {
      const d = vs.dest(r.address, r.port);
      if (!d) {
        ipvs.addDest(vs, { address: r.address, port: r.port, weight: 1 });
        continue;
      }
      const key = gracefulKey(vs, d);
      if (this.#graceful.has(key)) {
        // MoveRSOutofGracefulDeleteList, then AddRealServer: back in service at weight 1.
        this.#graceful.delete(key);
        ipvs.editDest(vs, { address: d.address, port: d.port, weight: 1 });
      } else if (this.#initialSync && d.weight !== 1) {
        ipvs.editDest(vs, { address: d.address, port: d.port, weight: 1 });
      }
    }
    for (const d of [...vs.dests]) {
      if (want.has(`${d.address}:${d.port}`) || this.#graceful.has(gracefulKey(vs, d))) continue;
      this.#gracefulDelete(vs, d);
    }
  }

  /** GracefulDeleteRS: delete now if nothing uses it (or it is UDP/SCTP), else weight 0 and wait. */
  #gracefulDelete(vs: VirtualServer, d: RealServer): void {
    const ipvs = this.#node.ipvs;
    if (vs.protocol !== 'TCP' || d.activeConns + d.inactiveConns === 0) {
      ipvs.deleteDest(vs, d.address, d.port);
      return;
    }
    ipvs.editDest(vs, { address: d.address, port: d.port, weight: 0 });
    this.#graceful.set(gracefulKey(vs, d), { protocol: vs.protocol, address: vs.address, port: vs.port, rsAddress: d.address, rsPort: d.port });
    this.#arm();
  }

  /** tryDeleteRs every rsCheckDeleteInterval on the node clock, while anything waits. */
  #arm(): void {
    if (this.#timer || this.#graceful.size === 0) return;
    this.#timer = this.#node.conntrack.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#tryDelete();
      this.#arm();
    }, RS_CHECK_DELETE_INTERVAL_MS);
  }

  #tryDelete(): void {
    const ipvs = this.#node.ipvs;
    ipvs.expire();
    for (const [key, item] of [...this.#graceful]) {
      const vs = ipvs.service(item.protocol, item.address, item.port);
      const d = vs?.dest(item.rsAddress, item.rsPort);
      if (!vs || !d) {
        this.#graceful.delete(key);
        continue;
      }
      if (d.activeConns + d.inactiveConns === 0) {
        ipvs.deleteDest(vs, d.address, d.port);
        this.#graceful.delete(key);
      }
    }
  }

  gracefulTerminationList(): string[] {
    return [...this.#graceful.keys()].sort();
  }

  #countRules(): number {
    let n = 0;
    for (const ch of IPVS_IPTABLES_CHAINS) n += this.#node.netfilter.table(ch.table).chains.get(ch.chain)?.rules.length ?? 0;
    for (const vs of this.#node.ipvs.services()) n += vs.dests.length;
    return n;
  }

  /** cleanupLeftovers: IPVS flushed, kube-ipvs0 deleted, the rules and chains, then the sets. */
  cleanup(): void {
    const node = this.#node;
    const nf = node.netfilter;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#graceful.clear();
    node.ipvs.flush();
    node.removeInterface(DUMMY_DEVICE);
    for (const jump of IPVS_JUMP_CHAINS) {
      if (nf.table(jump.table).chains.has(jump.to)) nf.delete(jump.table, jump.from, ['-m', 'comment', '--comment', jump.comment, '-j', jump.to]);
    }
    // Flush every chain first (removing the links between them), then delete them.
    const block = (table: TableName) => {
      const chains = IPVS_IPTABLES_CHAINS.filter((c) => c.table === table && nf.table(table).chains.has(c.chain)).map((c) => c.chain);
      return [`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
    };
    let failure: unknown;
    for (const table of ['nat', 'filter'] as const) {
      try {
        nf.restore(block(table), { noflush: true });
      } catch (err) {
        failure ??= err;
      }
    }
    // Sets go after the rules: a set a rule still matches cannot be destroyed.
    for (const info of IPSET_INFO) {
      if (!node.ipsets.has(info.name)) continue;
      try {
        node.ipsets.destroy(info.name);
      } catch (err) {
        failure ??= err;
      }
    }
    this.#initialSync = true;
    this.lastCompilation = undefined;
    if (failure) throw failure;
  }

  render(format: RulesFormat, options: { counters?: boolean } = {}): string {
    if (format === 'ipvs') return this.#node.ipvs.render({ stats: options.counters === true });
    if (format === 'iptables-save') return this.#node.netfilter.save({ counters: options.counters === true });
    throw new PodnetError('PODNET_KUBEPROXY_FORMAT', `kube-proxy ipvs mode renders ipvs or iptables-save, not "${format}"`);
  }
}

function gracefulKey(vs: VirtualServer, d: RealServer): string {
  // GetUniqueRSName: the virtual server's String() and the real server's.
  return `${vs.address}:${vs.port}/${vs.protocol}/${d.name}`;
}

/** The ipvs mode's backend for a node (registered as `ipvs`). */
export function createIpvsBackend(node: NodeNetwork, options: BackendOptions = {}): IpvsProxyBackend {
  return new IpvsBackend(node, options);
}

registerProxyMode('ipvs', createIpvsBackend);
