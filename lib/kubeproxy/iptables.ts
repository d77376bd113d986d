/**
 * kube-proxy's iptables mode: the rule compiler and the node backend. Services and EndpointSlices
 * in (through the mode-neutral model, model.ts), the `iptables-restore` input a node's kube-proxy
 * would write for the filter and nat tables out — the same chains, rule lines, comments, order and
 * probabilities as upstream's `syncProxyRules` (kubernetes/kubernetes
 * pkg/proxy/iptables/proxier.go), so `iptables-save` in podnet shows what a real node shows for
 * the same objects. The compiler is pure: no clock, no I/O, no randomness.
 *
 * What it compiles (one IPv4 proxier, as kube-proxy runs one per family), per service port, in
 * syncProxyRules' order:
 * - capture: `KUBE-SERVICES` rules for the ClusterIP ("cluster IP" → the internal policy chain),
 *   each externalIP ("external IP" → KUBE-EXT), each LoadBalancer VIP ("loadbalancer IP" →
 *   KUBE-EXT, or KUBE-FW with loadBalancerSourceRanges), the NodePort (`KUBE-NODEPORTS` → KUBE-EXT)
 *   and the healthCheckNodePort (filter `KUBE-NODEPORTS` ACCEPT);
 * - without usable endpoints anywhere: no nat chains, filter REJECTs "has no endpoints"; with a
 *   Local policy and no local endpoint: filter DROPs "has no local endpoints" for that traffic;
 * - KUBE-SVC (Cluster policy: masquerade of traffic from outside the cluster CIDR, or of all with
 *   `--masquerade-all`, then ClientIP affinity `-m recent --rcheck` rules and the
 *   `-m statistic --probability 1/(n-i)` cascade), KUBE-SVL (Local policy, same shape), KUBE-EXT
 *   (masquerade for Cluster external policy; for Local, the "pod traffic", "masquerade LOCAL" and
 *   "route LOCAL" short-circuits, then the policy chain), KUBE-FW (allowed source ranges → KUBE-EXT,
 *   the rest falls through to filter KUBE-PROXY-FIREWALL's "traffic not accepted by KUBE-FW-…" DROP)
 *   and one KUBE-SEP per reachable endpoint (hairpin `-s ip -j KUBE-MARK-MASQ`, DNAT);
 * - the fixed chains: filter KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-FORWARD, KUBE-NODEPORTS,
 *   KUBE-PROXY-FIREWALL (+ kubelet's KUBE-FIREWALL localnet guard when localhost NodePorts are on,
 *   the default); nat KUBE-SERVICES (closed by the `--dst-type LOCAL` jump to KUBE-NODEPORTS),
 *   KUBE-NODEPORTS, KUBE-POSTROUTING and KUBE-MARK-MASQ;
 * - "large cluster mode": past 1000 endpoints the per-endpoint comments are left out, as upstream.
 *
 * Which endpoints each policy uses is topology.go's CategorizeEndpoints (model.ts): ready ones,
 * topology hints for this node's zone (or node) when every ready endpoint has them, serving
 * terminating ones as a fallback, this node's for a Local policy.
 *
 * Partial sync (upstream since 1.27): given the Services that changed, the restore input still
 * holds every fixed chain in full, but the SVC/SVL/EXT/FW/SEP chains of unchanged Services are left
 * out — `--noflush` keeps them, rules and counters — and chains no Service uses any more are
 * flushed and deleted (`:CHAIN - [0:0]` then `-X CHAIN`), as upstream finds them in the table.
 *
 * The backend ({@link createIptablesBackend}) restores that input into a node's netfilter tables
 * with `--noflush` (kube-proxy's RestoreAll with NoFlushTables, so flanneld's chains survive) and,
 * on full syncs, ensures kube-proxy's jump rules from the built-in chains (`iptablesJumpChains`,
 * prepended as `EnsureRule(Prepend)` does). A Service or EndpointSlice that cannot be compiled is
 * left out and reported in `SyncStats.errors` (upstream logs and skips it); a bad global option
 * fails the sync with the tables untouched; a failed restore makes the next sync a full one. Its
 * cleanup is `kube-proxy --cleanup` (cleanup.go cleanupLeftoversForFamily). The node IP that
 * loadBalancerSourceRanges are checked against (KUBE-FW's "allow from node") is the first IPv4
 * address of `input.nodeIPs`.
 *
 * Not modelled: the KUBE-PROXY-CANARY chains (iptables Monitor), `--random-fully`,
 * `--nodeport-addresses` other than all addresses, `nf_conntrack_tcp_be_liberal`, the nfacct
 * matches newer releases add to two rules, the IPv6 proxier.
 */

import { PodnetError } from '../core/errors.js';
import { parseCIDR, parseIP } from '../core/ipnet.js';
import type { NodeNetwork } from '../dataplane/node.js';
import type { TableName } from '../dataplane/netfilter.js';
import { registerProxyMode, type BackendOptions, type ProxyBackend, type RulesFormat, type SyncStats } from './backend.js';
import {
  externallyAccessible,
  kubeProxyInvalid,
  proxyState,
  serviceKey,
  usesClusterEndpoints,
  usesLocalEndpoints,
  usableInput,
  type EndpointInfo,
  type ProxyInput,
  type ServicePortInfo,
  type ServicePortState,
} from './model.js';
import {
  CHAIN_PREFIX,
  serviceExternalChainName,
  serviceFirewallChainName,
  servicePortEndpointChainName,
  servicePortPolicyClusterChain,
  servicePortPolicyLocalChainName,
} from './naming.js';

export { DEFAULT_AFFINITY_SECONDS } from './model.js';

/** kube-proxy's fixed chain names (proxier.go). */
export const KUBE_CHAINS = {
  services: 'KUBE-SERVICES',
  externalServices: 'KUBE-EXTERNAL-SERVICES',
  nodePorts: 'KUBE-NODEPORTS',
  postrouting: 'KUBE-POSTROUTING',
  markMasq: 'KUBE-MARK-MASQ',
  forward: 'KUBE-FORWARD',
  proxyFirewall: 'KUBE-PROXY-FIREWALL',
  kubeletFirewall: 'KUBE-FIREWALL',
} as const;

/** What the iptables compiler reads: the mode-neutral {@link ProxyInput}. */
export type IptablesInput = ProxyInput;

/** proxier.go largeClusterEndpointsThreshold: past this many endpoints, comments are dropped. */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;

/** A jump rule from a built-in chain into one of kube-proxy's (proxier.go iptablesJumpChain). */
export interface JumpChain {
  table: 'filter' | 'nat';
  /** The built-in chain the rule is in. */
  srcChain: string;
  /** The chain it jumps to. */
  dstChain: string;
  /** Its `-m comment`, empty for none. */
  comment: string;
  /** Matches ahead of the comment. */
  extraArgs: readonly string[];
}

const NEW_ONLY = ['-m', 'conntrack', '--ctstate', 'NEW'] as const;

/** proxier.go iptablesJumpChains, in upstream's order. */
export const IPTABLES_JUMP_CHAINS: readonly JumpChain[] = [
  { table: 'filter', dstChain: KUBE_CHAINS.externalServices, srcChain: 'INPUT', comment: 'kubernetes externally-visible service portals', extraArgs: NEW_ONLY },
  { table: 'filter', dstChain: KUBE_CHAINS.externalServices, srcChain: 'FORWARD', comment: 'kubernetes externally-visible service portals', extraArgs: NEW_ONLY },
  { table: 'filter', dstChain: KUBE_CHAINS.nodePorts, srcChain: 'INPUT', comment: 'kubernetes health check service ports', extraArgs: [] },
  { table: 'filter', dstChain: KUBE_CHAINS.services, srcChain: 'FORWARD', comment: 'kubernetes service portals', extraArgs: NEW_ONLY },
  { table: 'filter', dstChain: KUBE_CHAINS.services, srcChain: 'OUTPUT', comment: 'kubernetes service portals', extraArgs: NEW_ONLY },
  { table: 'filter', dstChain: KUBE_CHAINS.forward, srcChain: 'FORWARD', comment: 'kubernetes forwarding rules', extraArgs: [] },
  { table: 'filter', dstChain: KUBE_CHAINS.proxyFirewall, srcChain: 'INPUT', comment: 'kubernetes load balancer firewall', extraArgs: NEW_ONLY },
  { table: 'filter', dstChain: KUBE_CHAINS.proxyFirewall, srcChain: 'OUTPUT', comment: 'kubernetes load balancer firewall', extraArgs: NEW_ONLY },
  { table: 'filter', dstChain: KUBE_CHAINS.proxyFirewall, srcChain: 'FORWARD', comment: 'kubernetes load balancer firewall', extraArgs: NEW_ONLY },
  { table: 'nat', dstChain: KUBE_CHAINS.services, srcChain: 'OUTPUT', comment: 'kubernetes service portals', extraArgs: [] },
  { table: 'nat', dstChain: KUBE_CHAINS.services, srcChain: 'PREROUTING', comment: 'kubernetes service portals', extraArgs: [] },
  { table: 'nat', dstChain: KUBE_CHAINS.postrouting, srcChain: 'POSTROUTING', comment: 'kubernetes postrouting rules', extraArgs: [] },
];

/** proxier.go iptablesKubeletJumpChains: kubelet's KUBE-FIREWALL, ensured but never cleaned up. */
export const IPTABLES_KUBELET_JUMP_CHAINS: readonly JumpChain[] = [
  { table: 'filter', dstChain: KUBE_CHAINS.kubeletFirewall, srcChain: 'INPUT', comment: '', extraArgs: [] },
  { table: 'filter', dstChain: KUBE_CHAINS.kubeletFirewall, srcChain: 'OUTPUT', comment: '', extraArgs: [] },
];

/** The arguments of a jump rule, as EnsureRule gets them. */
export function jumpRuleArgs(jump: JumpChain): string[] {
  return [...jump.extraArgs, ...(jump.comment ? ['-m', 'comment', '--comment', jump.comment] : []), '-j', jump.dstChain];
}

/** proxier.go isServiceChainName: a per-service chain (SVC, SVL, EXT, FW, SEP). */
export function isServiceChainName(chain: string): boolean {
  return Object.values(CHAIN_PREFIX).some((p) => chain.startsWith(p));
}

const FILTER_FIXED = [KUBE_CHAINS.services, KUBE_CHAINS.externalServices, KUBE_CHAINS.forward, KUBE_CHAINS.nodePorts, KUBE_CHAINS.proxyFirewall] as const;
const NAT_FIXED = [KUBE_CHAINS.services, KUBE_CHAINS.nodePorts, KUBE_CHAINS.postrouting, KUBE_CHAINS.markMasq] as const;

/** `fmt.Sprintf("%0.10f", 1.0/float64(n))` (proxier.go computeProbability). */
export function computeProbability(n: number): string {
  return (1 / n).toFixed(10);
}

/** Quotes an argument as kube-proxy writes it into the restore input (comments with spaces). */
function q(text: string): string {
  return /\s/.test(text) ? `"${text}"` : text;
}

/** A proxyutil.LineBuffer: lines kept, or (for skipped services) only counted. */
class LineBuffer {
  readonly lines: string[] = [];
  count = 0;
  constructor(readonly discard = false) {}
  write(line: string): void {
    this.count++;
    if (!this.discard) this.lines.push(line);
  }
}

/** The global options of one proxier, checked. */
interface ProxierOptions {
  mark: string;
  clusterCIDR?: string;
  masqueradeAll: boolean;
  localhostNodePorts: boolean;
  /** The node's IPv4 address (proxier.nodeIP), for LoadBalancer source ranges that contain it. */
  nodeIP?: bigint;
}

function proxierOptions(input: ProxyInput): ProxierOptions {
  const bit = input.masqueradeBit ?? 14;
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) throw kubeProxyInvalid(`masqueradeBit must be between 0 and 31: ${bit}`);
  const opts: ProxierOptions = { mark: `0x${(2 ** bit).toString(16)}`, masqueradeAll: input.masqueradeAll === true, localhostNodePorts: input.localhostNodePorts !== false };
  if (input.clusterCIDR !== undefined) {
    const cidr = parseCIDR(input.clusterCIDR);
    if (!cidr || cidr.family !== 'IPv4') throw kubeProxyInvalid(`clusterCIDR "${input.clusterCIDR}" is not an IPv4 CIDR`);
    opts.clusterCIDR = input.clusterCIDR;
  }
  for (const text of input.nodeIPs ?? []) {
    const ip = parseIP(text);
    if (!ip) throw kubeProxyInvalid(`node IP "${text}" is not an IP address`);
    if (ip.family === 'IPv4' && opts.nodeIP === undefined) opts.nodeIP = ip.value;
  }
  return opts;
}

function cidrContains(cidrText: string, ip: bigint): boolean {
  const cidr = parseCIDR(cidrText);
  if (!cidr || cidr.family !== 'IPv4') return false;
  const shift = BigInt(cidr.bits - cidr.prefix);
  return ip >> shift === cidr.base >> shift;
}

/** A service port's chain names (servicePortInfo's cached names upstream). */
interface PortChains {
  cluster: string;
  local: string;
  external: string;
  firewall: string;
}

/** Chain names per service port and endpoint, memoized across syncs by a backend. */
export class ChainNameCache {
  readonly #ports = new Map<string, PortChains>();
  readonly #endpoints = new Map<string, string>();

  /** The SVC/SVL/EXT/FW names of a service port. */
  port(sp: Pick<ServicePortInfo, 'name' | 'protocol'>): PortChains {
    const k = `${sp.name}\u0000${sp.protocol}`;
    let c = this.#ports.get(k);
    if (!c) {
      c = {
        cluster: servicePortPolicyClusterChain(sp.name, sp.protocol),
        local: servicePortPolicyLocalChainName(sp.name, sp.protocol),
        external: serviceExternalChainName(sp.name, sp.protocol),
        firewall: serviceFirewallChainName(sp.name, sp.protocol),
      };
      this.#ports.set(k, c);
    }
    return c;
  }

  /** The KUBE-SEP name of an endpoint of a service port. */
  endpoint(sp: Pick<ServicePortInfo, 'name' | 'protocol'>, ep: Pick<EndpointInfo, 'text'>): string {
    const k = `${sp.name}\u0000${sp.protocol}\u0000${ep.text}`;
    let c = this.#endpoints.get(k);
    if (c === undefined) {
      c = servicePortEndpointChainName(sp.name, sp.protocol, ep.text);
      this.#endpoints.set(k, c);
    }
    return c;
  }

  /** Forgets everything (a full sync starts over, so the cache never outgrows the cluster). */
  clear(): void {
    this.#ports.clear();
    this.#endpoints.clear();
  }
}

/** How to compile: everything (default), or a partial sync. */
export interface IptablesCompileOptions {
  /**
   * The Services (`ns/name`) that changed since the last sync: only their SVC/SVL/EXT/FW/SEP
   * chains are written. Undefined: all of them (a full sync).
   */
  changed?: ReadonlySet<string>;
  /** The nat chains the node has now (iptables-save): per-service ones no longer used are deleted. */
  existingNatChains?: Iterable<string>;
  /** Memoized chain names (a backend keeps one). */
  names?: ChainNameCache;
  /** `proxyState(input)`, when the caller already has it. */
  state?: readonly ServicePortState[];
}

/** One compiled sync. */
export interface IptablesCompilation {
  /** The `iptables-restore --noflush` input. */
  text: string;
  /** Every nat chain the current state uses, written or not (upstream's activeNATChains). */
  activeNatChains: Set<string>;
  /** Stale per-service chains the input deletes. */
  deletedChains: string[];
  /** `-A` lines in the input. */
  rulesWritten: number;
  /** Rules the tables hold for kube-proxy's chains after it, written or kept (the iptables_rules_total metric). */
  totalRules: number;
  /** Service ports whose own chains were written. */
  servicePortsSynced: number;
}

/** `iptables-restore` input for the filter and nat tables of one node, as kube-proxy writes it (a full sync). */
export function compileIptables(input: ProxyInput): string {
  const opts = proxierOptions(input);
  return compileState(proxyState(input), opts, {}).text;
}

/** Compiles one sync, full or partial (see {@link IptablesCompileOptions}); throws on bad input. */
export function compileIptablesSync(input: ProxyInput, options: IptablesCompileOptions = {}): IptablesCompilation {
  const opts = proxierOptions(input);
  return compileState(options.state ?? proxyState(input), opts, options);
}

interface Buffers {
  filterChains: LineBuffer;
  filterRules: LineBuffer;
  natChains: LineBuffer;
  natRules: LineBuffer;
}

function compileState(state: readonly ServicePortState[], opts: ProxierOptions, options: IptablesCompileOptions): IptablesCompilation {
  const names = options.names ?? new ChainNameCache();
  const C = KUBE_CHAINS;
  const b: Buffers = { filterChains: new LineBuffer(), filterRules: new LineBuffer(), natChains: new LineBuffer(), natRules: new LineBuffer() };
  const skipped = { chains: new LineBuffer(true), rules: new LineBuffer(true) };
  for (const c of FILTER_FIXED) b.filterChains.write(`:${c} - [0:0]`);
  for (const c of NAT_FIXED) b.natChains.write(`:${c} - [0:0]`);

  b.natRules.write(`-A ${C.postrouting} -m mark ! --mark ${opts.mark}/${opts.mark} -j RETURN`);
  // Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
  b.natRules.write(`-A ${C.postrouting} -j MARK --xor-mark ${opts.mark}`);
  b.natRules.write(`-A ${C.postrouting} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE`);
  b.natRules.write(`-A ${C.markMasq} -j MARK --or-mark ${opts.mark}`);
  if (opts.localhostNodePorts) {
    // https://issue.k8s.io/90259: route_localnet opens localhost NodePorts to the network.
    b.filterChains.write(`:${C.kubeletFirewall} - [0:0]`);
    b.filterRules.write(`-A ${C.kubeletFirewall} -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`);
  }

  const active = new Set<string>(NAT_FIXED);
  let totalEndpoints = 0;
  for (const s of state) totalEndpoints += s.endpoints.length;
  const largeCluster = totalEndpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;

  let synced = 0;
  for (const s of state) {
    const write = !options.changed || options.changed.has(serviceKey(s.port));
    if (write) synced++;
    writeServicePort(b, write ? { chains: b.natChains, rules: b.natRules } : skipped, s, opts, names, active, largeCluster);
  }

  const deletedChains: string[] = [];
  for (const chain of options.existingNatChains ?? []) {
    if (active.has(chain) || !isServiceChainName(chain)) continue;
    // A chain line flushes it, so the -X that follows can delete it.
    b.natChains.write(`:${chain} - [0:0]`);
    b.natRules.write(`-X ${chain}`);
    deletedChains.push(chain);
  }

  const nodePortsJump = opts.localhostNodePorts ? '-m addrtype --dst-type LOCAL' : '-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8';
  b.natRules.write(`-A ${C.services} -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" ${nodePortsJump} -j ${C.nodePorts}`);
  b.filterRules.write(`-A ${C.forward} -m conntrack --ctstate INVALID -j DROP`);
  b.filterRules.write(`-A ${C.forward} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${opts.mark}/${opts.mark} -j ACCEPT`);
  b.filterRules.write(`-A ${C.forward} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);

  const text = ['*filter', ...b.filterChains.lines, ...b.filterRules.lines, 'COMMIT', '*nat', ...b.natChains.lines, ...b.natRules.lines, 'COMMIT', ''].join('\n');
  const rulesWritten = b.filterRules.count + b.natRules.count - deletedChains.length;
  return {
    text,
    activeNatChains: active,
    deletedChains,
    rulesWritten,
    totalRules: rulesWritten + skipped.rules.count,
    servicePortsSynced: synced,
  };
}

/** One service port's rules, in syncProxyRules' order. */
function writeServicePort(
  b: Buffers,
  own: { chains: LineBuffer; rules: LineBuffer },
  s: ServicePortState,
  opts: ProxierOptions,
  names: ChainNameCache,
  active: Set<string>,
  largeCluster: boolean,
): void {
  const C = KUBE_CHAINS;
  const sp = s.port;
  const { cluster: clusterEndpoints, local: localEndpoints, allReachable, hasAny: hasEndpoints } = s.categorized;
  const chains = names.port(sp);
  const p = sp.protocol;
  const proto = `-m ${p} -p ${p}`;
  const name = sp.name;

  const usesClusterPolicyChain = clusterEndpoints.length > 0 && usesClusterEndpoints(sp);
  const usesLocalPolicyChain = localEndpoints.length > 0 && usesLocalEndpoints(sp);

  const internalTrafficChain = sp.internalPolicyLocal ? chains.local : chains.cluster;
  const hasInternalEndpoints = hasEndpoints && !(sp.internalPolicyLocal && localEndpoints.length === 0);
  const externalPolicyChain = sp.externalPolicyLocal ? chains.local : chains.cluster;
  const hasExternalEndpoints = hasEndpoints && !(sp.externalPolicyLocal && localEndpoints.length === 0);
  const externalTrafficChain = chains.external;
  // The short-circuit rules for local traffic are needed even without external endpoints.
  const usesExternalTrafficChain = hasEndpoints && externallyAccessible(sp);
  const usesFWChain = hasEndpoints && sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  const loadBalancerTrafficChain = usesFWChain ? chains.firewall : externalTrafficChain;

  let internalFilter: { target: string; comment: string } | undefined;
  let externalFilter: { target: string; comment: string } | undefined;
  if (!hasEndpoints) {
    internalFilter = externalFilter = { target: 'REJECT', comment: `"${name} has no endpoints"` };
  } else {
    if (!hasInternalEndpoints) internalFilter = { target: 'DROP', comment: `"${name} has no local endpoints"` };
    if (!hasExternalEndpoints) externalFilter = { target: 'DROP', comment: `"${name} has no local endpoints"` };
  }

  // Capture the clusterIP.
  const clusterCapture = `${proto} -d ${sp.clusterIP} --dport ${sp.port}`;
  if (hasInternalEndpoints) {
    b.natRules.write(`-A ${C.services} -m comment --comment ${q(`${name} cluster IP`)} ${clusterCapture} -j ${internalTrafficChain}`);
  } else {
    b.filterRules.write(`-A ${C.services} -m comment --comment ${internalFilter!.comment} ${clusterCapture} -j ${internalFilter!.target}`);
  }

  // Capture externalIPs.
  for (const ip of sp.externalIPs) {
    if (hasEndpoints) b.natRules.write(`-A ${C.services} -m comment --comment ${q(`${name} external IP`)} ${proto} -d ${ip} --dport ${sp.port} -j ${externalTrafficChain}`);
    // No endpoints (REJECT), or none for external traffic (DROP what the EXT chain did not short-circuit).
    if (externalFilter) b.filterRules.write(`-A ${C.externalServices} -m comment --comment ${externalFilter.comment} ${proto} -d ${ip} --dport ${sp.port} -j ${externalFilter.target}`);
  }

  // Capture load-balancer ingress.
  for (const ip of sp.loadBalancerVIPs) {
    if (hasEndpoints) b.natRules.write(`-A ${C.services} -m comment --comment ${q(`${name} loadbalancer IP`)} ${proto} -d ${ip} --dport ${sp.port} -j ${loadBalancerTrafficChain}`);
    if (usesFWChain) {
      b.filterRules.write(`-A ${C.proxyFirewall} -m comment --comment ${q(`${name} traffic not accepted by ${chains.firewall}`)} ${proto} -d ${ip} --dport ${sp.port} -j DROP`);
    }
  }
  if (externalFilter) {
    for (const ip of sp.loadBalancerVIPs) {
      b.filterRules.write(`-A ${C.externalServices} -m comment --comment ${externalFilter.comment} ${proto} -d ${ip} --dport ${sp.port} -j ${externalFilter.target}`);
    }
  }

  // Capture nodeports. (NodePorts are not subject to loadBalancerSourceRanges, upstream neither.)
  if (sp.nodePort !== 0) {
    if (hasEndpoints) b.natRules.write(`-A ${C.nodePorts} -m comment --comment ${q(name)} ${proto} --dport ${sp.nodePort} -j ${externalTrafficChain}`);
    if (externalFilter) {
      b.filterRules.write(`-A ${C.externalServices} -m comment --comment ${externalFilter.comment} -m addrtype --dst-type LOCAL ${proto} --dport ${sp.nodePort} -j ${externalFilter.target}`);
    }
  }

  // Capture healthCheckNodePorts: accepted whether or not this node has local endpoints.
  if (sp.healthCheckNodePort !== 0) {
    b.filterRules.write(`-A ${C.nodePorts} -m comment --comment ${q(`${name} health check node port`)} -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`);
  }

  // From here on: the service port's own chains (left out of a partial sync when unchanged).
  const natChains = own.chains;
  const natRules = own.rules;

  // Internal traffic: masquerade what does not come from the cluster's pods.
  if (hasInternalEndpoints) {
    const head = `-A ${internalTrafficChain} -m comment --comment ${q(`${name} cluster IP`)} ${clusterCapture}`;
    if (opts.masqueradeAll) natRules.write(`${head} -j ${C.markMasq}`);
    else if (opts.clusterCIDR) natRules.write(`${head} ! -s ${opts.clusterCIDR} -j ${C.markMasq}`);
  }

  // External traffic: everything captured for an external destination enters KUBE-EXT.
  if (usesExternalTrafficChain) {
    natChains.write(`:${externalTrafficChain} - [0:0]`);
    active.add(externalTrafficChain);
    if (!sp.externalPolicyLocal) {
      // Endpoints may be on other nodes: masquerade, so replies come back through this node.
      natRules.write(`-A ${externalTrafficChain} -m comment --comment ${q(`masquerade traffic for ${name} external destinations`)} -j ${C.markMasq}`);
    } else {
      if (opts.clusterCIDR) {
        // Pods reaching an external destination get the Cluster policy, as if via a real LB.
        natRules.write(`-A ${externalTrafficChain} -m comment --comment ${q(`pod traffic for ${name} external destinations`)} -s ${opts.clusterCIDR} -j ${chains.cluster}`);
      }
      // The host itself: its source would be the local VIP, so masquerade and use the Cluster policy.
      natRules.write(`-A ${externalTrafficChain} -m comment --comment ${q(`masquerade LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j ${C.markMasq}`);
      natRules.write(`-A ${externalTrafficChain} -m comment --comment ${q(`route LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j ${chains.cluster}`);
    }
    if (hasExternalEndpoints) natRules.write(`-A ${externalTrafficChain} -j ${externalPolicyChain}`);
  }

  // The firewall chain for loadBalancerSourceRanges.
  if (usesFWChain) {
    natChains.write(`:${chains.firewall} - [0:0]`);
    active.add(chains.firewall);
    const head = `-A ${chains.firewall} -m comment --comment ${q(`${name} loadbalancer IP`)}`;
    let allowFromNode = false;
    for (const cidr of sp.loadBalancerSourceRanges) {
      natRules.write(`${head} -s ${cidr} -j ${externalTrafficChain}`);
      if (opts.nodeIP !== undefined && cidrContains(cidr, opts.nodeIP)) allowFromNode = true;
    }
    // A node reaching a VIP it holds locally loops back with the VIP as source: allow that too.
    if (allowFromNode) for (const ip of sp.loadBalancerVIPs) natRules.write(`${head} -s ${ip} -j ${externalTrafficChain}`);
    // What reaches the end was not DNATed, so filter KUBE-PROXY-FIREWALL drops it.
    natRules.write(`-A ${chains.firewall} -m comment --comment ${q(`other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL`)}`);
  }

  if (usesClusterPolicyChain) {
    natChains.write(`:${chains.cluster} - [0:0]`);
    active.add(chains.cluster);
    writeServiceToEndpointRules(natRules, sp, chains.cluster, clusterEndpoints, names, largeCluster);
  }
  if (usesLocalPolicyChain) {
    natChains.write(`:${chains.local} - [0:0]`);
    active.add(chains.local);
    writeServiceToEndpointRules(natRules, sp, chains.local, localEndpoints, names, largeCluster);
  }

  // The per-endpoint chains.
  for (const ep of allReachable) {
    const chain = names.endpoint(sp, ep);
    natChains.write(`:${chain} - [0:0]`);
    active.add(chain);
    const head = `-A ${chain}${largeCluster ? '' : ` -m comment --comment ${q(name)}`}`;
    // Hairpin: an endpoint reaching itself through the service is masqueraded.
    natRules.write(`${head} -s ${ep.ip} -j ${C.markMasq}`);
    const recent = sp.affinitySeconds !== undefined ? ` -m recent --name ${chain} --set` : '';
    natRules.write(`${head}${recent} ${proto} -j DNAT --to-destination ${ep.text}`);
  }
}

/** proxier.go writeServiceToEndpointRules: affinity checks first, then the statistic cascade. */
function writeServiceToEndpointRules(rules: LineBuffer, sp: ServicePortInfo, chain: string, endpoints: readonly EndpointInfo[], names: ChainNameCache, largeCluster: boolean): void {
  const comment = (ep: EndpointInfo) => (largeCluster ? '' : ` -m comment --comment ${q(`${sp.name} -> ${ep.text}`)}`);
  if (sp.affinitySeconds !== undefined) {
    for (const ep of endpoints) {
      const sep = names.endpoint(sp, ep);
      rules.write(`-A ${chain}${comment(ep)} -m recent --name ${sep} --rcheck --seconds ${sp.affinitySeconds} --reap -j ${sep}`);
    }
  }
  const n = endpoints.length;
  endpoints.forEach((ep, i) => {
    const stat = i < n - 1 ? ` -m statistic --mode random --probability ${computeProbability(n - i)}` : '';
    rules.write(`-A ${chain}${comment(ep)}${stat} -j ${names.endpoint(sp, ep)}`);
  });
}

// ---- the backend ------------------------------------------------------------------------------

/** kube-proxy's chains in a table (fixed ones and per-service ones). */
function isKubeProxyChain(table: 'filter' | 'nat', chain: string): boolean {
  if (table === 'nat') return (NAT_FIXED as readonly string[]).includes(chain) || isServiceChainName(chain);
  return (FILTER_FIXED as readonly string[]).includes(chain) || chain === KUBE_CHAINS.kubeletFirewall;
}

/** The iptables backend: a {@link ProxyBackend} that also shows its last restore input. */
export interface IptablesProxyBackend extends ProxyBackend {
  /** The `iptables-restore --noflush` input of the last successful sync. */
  readonly lastRestoreInput: string;
}

class IptablesBackend implements IptablesProxyBackend {
  readonly mode = 'iptables' as const;
  readonly formats: readonly RulesFormat[] = ['iptables-save'];
  readonly #node: NodeNetwork;
  readonly #names = new ChainNameCache();
  /** upstream needFullSync: true until a sync succeeds, and again after one fails. */
  #needFullSync = true;
  lastRestoreInput = '';

  constructor(node: NodeNetwork) {
    this.#node = node;
  }

  sync(input: ProxyInput, changed?: ReadonlySet<string>): SyncStats {
    const partial = changed !== undefined && !this.#needFullSync;
    // Everything that can throw on input runs before the tables are touched.
    const { input: valid, state, errors } = usableInput(input);
    const nf = this.#node.netfilter;
    if (!partial) this.#names.clear();
    let compiled: IptablesCompilation;
    try {
      compiled = compileIptablesSync(valid, {
        state,
        ...(partial ? { changed } : {}),
        existingNatChains: nf.table('nat').chains.keys(),
        names: this.#names,
      });
      nf.restore(compiled.text, { noflush: true });
    } catch (err) {
      this.#needFullSync = true;
      throw err;
    }
    this.lastRestoreInput = compiled.text;
    let jumpsAdded = 0;
    // Jump rules are ensured on full syncs only: a partial sync trusts they are there (upstream).
    if (!partial) {
      for (const jump of [...IPTABLES_JUMP_CHAINS, ...IPTABLES_KUBELET_JUMP_CHAINS]) {
        nf.ensureChain(jump.table, jump.dstChain);
        const args = jumpRuleArgs(jump);
        if (!nf.check(jump.table, jump.srcChain, args)) {
          nf.insert(jump.table, jump.srcChain, args, 1);
          jumpsAdded++;
        }
      }
    }
    this.#needFullSync = false;
    return {
      full: !partial,
      rulesWritten: compiled.rulesWritten + jumpsAdded,
      totalRules: this.#countRules(),
      servicePortsSynced: compiled.servicePortsSynced,
      ...(errors.length ? { errors } : {}),
    };
  }

  #countRules(): number {
    let n = 0;
    for (const table of ['filter', 'nat'] as const) {
      for (const [name, chain] of this.#node.netfilter.table(table).chains) if (isKubeProxyChain(table, name)) n += chain.rules.length;
    }
    return n;
  }

  cleanup(): void {
    const nf = this.#node.netfilter;
    for (const jump of IPTABLES_JUMP_CHAINS) {
      // A rule jumping to a chain that is not there is not there either (iptables -D: not found).
      if (nf.table(jump.table).chains.has(jump.dstChain)) nf.delete(jump.table, jump.srcChain, jumpRuleArgs(jump));
    }
    const natChains = [...nf.table('nat').chains.keys()];
    const nat = natChains.filter((c) => (NAT_FIXED as readonly string[]).includes(c) || isServiceChainName(c));
    const filterChains = new Set(nf.table('filter').chains.keys());
    const filter = FILTER_FIXED.filter((c) => filterChains.has(c));
    // One restore per table, as upstream: a failure in one (a chain someone else still jumps to)
    // does not keep the other from being cleaned; the first failure is reported.
    const block = (table: TableName, chains: readonly string[]) => [`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
    let failure: unknown;
    for (const [table, chains] of [['nat', nat], ['filter', filter]] as const) {
      try {
        nf.restore(block(table, chains), { noflush: true });
      } catch (err) {
        failure ??= err;
      }
    }
    this.#needFullSync = true;
    this.#names.clear();
    if (failure) throw failure;
  }

  render(format: RulesFormat, options: { counters?: boolean } = {}): string {
    if (format !== 'iptables-save') {
      throw new PodnetError('PODNET_KUBEPROXY_FORMAT', `kube-proxy iptables mode renders iptables-save, not "${format}"`);
    }
    return this.#node.netfilter.save({ counters: options.counters === true });
  }
}

/** The iptables mode's backend for a node (registered as `iptables`). */
export function createIptablesBackend(node: NodeNetwork, _options: BackendOptions = {}): IptablesProxyBackend {
  return new IptablesBackend(node);
}

registerProxyMode('iptables', createIptablesBackend);
