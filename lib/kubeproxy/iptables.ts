/**
 * kube-proxy's iptables mode, the rule compiler: Services and EndpointSlices in, the
 * `iptables-restore` input a node's kube-proxy would write for the filter and nat tables out —
 * the same chains, rule lines, comments, order and probabilities as upstream's `syncProxyRules`
 * (kubernetes/kubernetes pkg/proxy/iptables/proxier.go), so `iptables-save` in podnet shows what a
 * real node shows for the same objects. Pure functions: no clock, no I/O, no randomness.
 *
 * What it compiles (one IPv4 proxier, as kube-proxy runs one per family):
 * - the fixed chains: filter KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-FORWARD, KUBE-NODEPORTS,
 *   KUBE-PROXY-FIREWALL (+ KUBE-FIREWALL's localnet guard when localhost NodePorts are on, the
 *   default); nat KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING (mark check, `--xor-mark`,
 *   MASQUERADE) and KUBE-MARK-MASQ (`--or-mark`, 0x4000 for the default masquerade bit 14);
 * - per ClusterIP service port: `KUBE-SERVICES → KUBE-SVC-…` on `-d clusterIP --dport port`, the
 *   masquerade rule in KUBE-SVC (`! -s clusterCIDR`, or every packet with masqueradeAll), one
 *   rule per endpoint with `-m statistic --mode random --probability 1/(n-i)` printed `%0.10f`
 *   on all but the last, and per endpoint a KUBE-SEP chain (hairpin `-s ip -j KUBE-MARK-MASQ`,
 *   then DNAT `--to-destination ip:port`);
 * - sessionAffinity ClientIP: `-m recent --rcheck --seconds T --reap` rules ahead of the
 *   statistic rules, and `-m recent --set` in each KUBE-SEP's DNAT rule;
 * - NodePorts with externalTrafficPolicy Cluster: `KUBE-NODEPORTS → KUBE-EXT-…` (masquerade,
 *   then KUBE-SVC) and the `--dst-type LOCAL` jump closing KUBE-SERVICES;
 * - a service port without usable endpoints: no nat chains, a filter REJECT in KUBE-SERVICES
 *   ("… has no endpoints"), and in KUBE-EXTERNAL-SERVICES for its NodePort;
 * - KUBE-FORWARD: INVALID drop, accept marked traffic, accept RELATED,ESTABLISHED.
 *
 * Endpoints (pkg/proxy/endpointslicecache.go, topology.go CategorizeEndpoints): from the
 * EndpointSlices labelled `kubernetes.io/service-name`, port matched by name and protocol — so a
 * named targetPort resolves per slice, to whatever number that slice's pods use; conditions
 * default as upstream reads them (ready and serving unless false, terminating only if true); the
 * ready endpoints are used, or, when none is ready, the serving terminating ones; each list is
 * sorted by its `ip:port` text, which is the order kube-proxy writes them.
 *
 * Service ports are written in the order of their `ns/name:port` name (upstream walks a Go map,
 * whose order is random; its tests sort; sorting here makes the output reproducible).
 *
 * Not yet (they throw PODNET_KUBEPROXY_UNSUPPORTED naming the service, rather than compile
 * wrong rules): LoadBalancer ingress IPs and loadBalancerSourceRanges (KUBE-FW-…,
 * KUBE-PROXY-FIREWALL), externalIPs, externalTrafficPolicy and internalTrafficPolicy Local
 * (KUBE-SVL-…, the EXT short-circuit rules), topology-aware routing (trafficDistribution). The
 * code is laid out as upstream's so each slots in where upstream writes it: the per-port
 * {@link ServicePortPlan} already carries the SVL/EXT/FW chain names, {@link usableEndpoints} is
 * where local/topology filtering goes, and {@link writeServicePort} follows syncProxyRules'
 * sections (capture clusterIP, externalIPs, LB IPs, NodePorts; internal, external, firewall,
 * policy and endpoint chains). The jump rules from the built-in chains (PREROUTING, OUTPUT,
 * POSTROUTING, INPUT, FORWARD → KUBE-*) are installed by kube-proxy with `iptables -I`, not in
 * this restore input, and are not produced here.
 *
 * The output is meant for `iptables-restore --noflush` (kube-proxy's RestoreAll with
 * NoFlushTables), so other programs' chains (flanneld's) survive it.
 */

import { PodnetError } from '../core/errors.js';
import { parseCIDR, parseIP } from '../core/ipnet.js';
import type { Endpoint, EndpointSlice, Service, ServicePort } from '../api/types.js';
import { WellKnown } from '../api/types.js';
import {
  endpointString,
  serviceExternalChainName,
  serviceFirewallChainName,
  servicePortEndpointChainName,
  servicePortName,
  servicePortPolicyClusterChain,
  servicePortPolicyLocalChainName,
} from './naming.js';

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

/** v1.DefaultClientIPServiceAffinitySeconds. */
export const DEFAULT_AFFINITY_SECONDS = 10800;

/** What one node's kube-proxy compiles from. */
export interface IptablesInput {
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  /** The node kube-proxy runs on (for Local traffic policies, later). */
  nodeName?: string;
  /** `--cluster-cidr`: traffic to a ClusterIP from outside it is masqueraded (LocalDetector by CIDR). */
  clusterCIDR?: string;
  /** `--masquerade-all`: masquerade every packet to a ClusterIP. Default false. */
  masqueradeAll?: boolean;
  /** `--iptables-masquerade-bit` (0-31). Default 14, the mark 0x4000. */
  masqueradeBit?: number;
  /** `--iptables-localhost-nodeports`. Default true, which adds KUBE-FIREWALL's localnet guard. */
  localhostNodePorts?: boolean;
}

/** One service port, with everything its rules need. */
export interface ServicePortPlan {
  /** `ns/name:port` (ServicePortName.String()). */
  name: string;
  /** Lower-case, as kube-proxy writes it in `-p` and `-m`. */
  protocol: 'tcp' | 'udp' | 'sctp';
  clusterIP: string;
  port: number;
  /** 0 when the port has none. */
  nodePort: number;
  /** ClientIP affinity timeout in seconds, or undefined without affinity. */
  affinitySeconds?: number;
  clusterChain: string;
  localChain: string;
  externalChain: string;
  firewallChain: string;
}

/** One endpoint of a service port, as the EndpointSlice cache holds it. */
export interface EndpointInfo {
  ip: string;
  port: number;
  /** `ip:port` (endpointInfo.String()). */
  text: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  /** Its KUBE-SEP chain. */
  chain: string;
}

function invalid(message: string): PodnetError {
  return new PodnetError('PODNET_KUBEPROXY_INVALID', `kube-proxy: ${message}`);
}

function unsupported(svc: string, what: string): PodnetError {
  return new PodnetError('PODNET_KUBEPROXY_UNSUPPORTED', `kube-proxy: Service ${svc}: ${what} is not compiled by podnet's iptables proxier yet`);
}

/** `fmt.Sprintf("%0.10f", 1.0/float64(n))` (proxier.go computeProbability). */
export function computeProbability(n: number): string {
  return (1 / n).toFixed(10);
}

const PROTOCOLS = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' } as const;

/** The IPv4 ClusterIP of a service, or undefined when it has none (headless, ExternalName, IPv6-only). */
function ipv4ClusterIP(svc: Service, ref: string): string | undefined {
  const ips = svc.spec.clusterIPs?.length ? svc.spec.clusterIPs : svc.spec.clusterIP ? [svc.spec.clusterIP] : [];
  for (const text of ips) {
    if (text === 'None' || text === '') return undefined;
    const ip = parseIP(text);
    if (!ip) throw invalid(`Service ${ref}: spec.clusterIP "${text}" is not an IP address`);
    if (ip.family === 'IPv4') return text;
  }
  return undefined;
}

/** The service ports kube-proxy programs for these services, sorted by name. */
export function servicePortPlans(services: readonly Service[]): ServicePortPlan[] {
  const plans: ServicePortPlan[] = [];
  for (const svc of services) {
    const ns = svc.metadata?.namespace;
    const name = svc.metadata?.name;
    if (!ns || !name) throw invalid('a Service needs metadata.namespace and metadata.name');
    const ref = `${ns}/${name}`;
    if (!svc.spec) throw invalid(`Service ${ref}: spec is required`);
    if (svc.spec.type === 'ExternalName') continue;
    const clusterIP = ipv4ClusterIP(svc, ref);
    if (!clusterIP) continue;
    checkSupported(svc, ref);
    const affinity = svc.spec.sessionAffinity === 'ClientIP';
    const seconds = svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS;
    if (affinity && (!Number.isInteger(seconds) || seconds < 1 || seconds > 86400)) {
      throw invalid(`Service ${ref}: spec.sessionAffinityConfig.clientIP.timeoutSeconds must be between 1 and 86400: ${seconds}`);
    }
    (svc.spec.ports ?? []).forEach((p: ServicePort, i) => {
      const protocol = PROTOCOLS[p.protocol ?? 'TCP'];
      if (!protocol) throw invalid(`Service ${ref}: spec.ports[${i}].protocol "${String(p.protocol)}" is not TCP, UDP or SCTP`);
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw invalid(`Service ${ref}: spec.ports[${i}].port must be between 1 and 65535: ${p.port}`);
      const nodePort = p.nodePort ?? 0;
      if (!Number.isInteger(nodePort) || nodePort < 0 || nodePort > 65535) throw invalid(`Service ${ref}: spec.ports[${i}].nodePort must be between 1 and 65535: ${nodePort}`);
      const spn = servicePortName({ namespace: ns, name, port: p.name ?? '' });
      plans.push({
        name: spn,
        protocol,
        clusterIP,
        port: p.port,
        nodePort,
        ...(affinity ? { affinitySeconds: seconds } : {}),
        clusterChain: servicePortPolicyClusterChain(spn, protocol),
        localChain: servicePortPolicyLocalChainName(spn, protocol),
        externalChain: serviceExternalChainName(spn, protocol),
        firewallChain: serviceFirewallChainName(spn, protocol),
      });
    });
  }
  return plans.sort((a, b) => (a.name === b.name ? a.protocol.localeCompare(b.protocol) : a.name < b.name ? -1 : 1));
}

/** Refuses the features this slice does not compile yet, by name. */
function checkSupported(svc: Service, ref: string): void {
  const s = svc.spec;
  if (s.externalIPs?.length) throw unsupported(ref, 'spec.externalIPs');
  if (svc.status?.loadBalancer?.ingress?.some((i) => i.ip)) throw unsupported(ref, 'a LoadBalancer ingress IP');
  if (s.loadBalancerSourceRanges?.length) throw unsupported(ref, 'spec.loadBalancerSourceRanges');
  if (s.externalTrafficPolicy === 'Local' && (s.type === 'NodePort' || s.type === 'LoadBalancer')) throw unsupported(ref, 'externalTrafficPolicy Local');
  if (s.internalTrafficPolicy === 'Local') throw unsupported(ref, 'internalTrafficPolicy Local');
  if (s.trafficDistribution) throw unsupported(ref, 'spec.trafficDistribution (topology-aware routing)');
}

/** Key of a service port in the endpoints map: its name and protocol (ServicePortName). */
function key(name: string, protocol: string): string {
  return `${name}\u0000${protocol}`;
}

/**
 * The endpoints of every service port, from the EndpointSlices (endpointslicecache.go): IPv4
 * slices of a named service, each port with a name (`""` for an unnamed one) and a number, each
 * endpoint's first address; an `ip:port` in several slices is kept once, a non-terminating copy
 * preferred. Lists are sorted by `ip:port` text (byEndpoint).
 */
export function endpointsByServicePort(slices: readonly EndpointSlice[]): Map<string, EndpointInfo[]> {
  const sets = new Map<string, Map<string, EndpointInfo>>();
  for (const slice of slices) {
    const ns = slice.metadata?.namespace;
    const svcName = slice.metadata?.labels?.[WellKnown.serviceName];
    if (!ns || !svcName) continue;
    if (slice.addressType !== 'IPv4') continue;
    if (!Array.isArray(slice.endpoints)) throw invalid(`EndpointSlice ${ns}/${slice.metadata.name ?? ''}: endpoints must be a list`);
    (slice.ports ?? []).forEach((port, i) => {
      // Upstream ignores a port without a name (nil, not "") or without a number.
      if (port.name === undefined || port.port === undefined || port.port === 0) return;
      if (!Number.isInteger(port.port) || port.port < 1 || port.port > 65535) {
        throw invalid(`EndpointSlice ${ns}/${slice.metadata.name ?? ''}: ports[${i}].port must be between 1 and 65535: ${port.port}`);
      }
      const protocol = PROTOCOLS[port.protocol ?? 'TCP'];
      if (!protocol) throw invalid(`EndpointSlice ${ns}/${slice.metadata.name ?? ''}: ports[${i}].protocol "${String(port.protocol)}" is not TCP, UDP or SCTP`);
      const spn = servicePortName({ namespace: ns, name: svcName, port: port.name });
      const k = key(spn, protocol);
      let set = sets.get(k);
      if (!set) sets.set(k, (set = new Map()));
      for (const ep of slice.endpoints) {
        const info = endpointInfo(ep, port.port, spn, protocol, `${ns}/${slice.metadata.name ?? ''}`);
        // The same ip:port in two slices: a non-terminating one wins (a reused pod IP).
        if (info && (!set.has(info.text) || !info.terminating)) set.set(info.text, info);
      }
    });
  }
  const out = new Map<string, EndpointInfo[]>();
  for (const [k, set] of sets) out.set(k, [...set.values()].sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0)));
  return out;
}

function endpointInfo(ep: Endpoint, port: number, spn: string, protocol: string, slice: string): EndpointInfo | undefined {
  const ip = ep.addresses?.[0];
  if (!ip) return undefined;
  const parsed = parseIP(ip);
  if (!parsed || parsed.family !== 'IPv4') throw invalid(`EndpointSlice ${slice}: endpoint address "${ip}" is not an IPv4 address`);
  const text = endpointString(ip, port);
  const c = ep.conditions ?? {};
  return {
    ip,
    port,
    text,
    ready: c.ready !== false,
    serving: c.serving !== false,
    terminating: c.terminating === true,
    ...(ep.nodeName ? { nodeName: ep.nodeName } : {}),
    chain: servicePortEndpointChainName(spn, protocol, text),
  };
}

/**
 * The endpoints a `Cluster`-policy service port sends to (topology.go CategorizeEndpoints): the
 * ready ones, or — when none is ready — the serving terminating ones.
 */
export function usableEndpoints(all: readonly EndpointInfo[]): EndpointInfo[] {
  const ready = all.filter((e) => e.ready);
  return ready.length ? ready : all.filter((e) => e.serving && e.terminating);
}

/** Quotes an argument as kube-proxy writes it into the restore input (comments with spaces). */
function q(text: string): string {
  return /\s/.test(text) ? `"${text}"` : text;
}

/** The four line buffers of syncProxyRules: chain lines and rule lines per table. */
interface Buffers {
  filterChains: string[];
  filterRules: string[];
  natChains: string[];
  natRules: string[];
}

interface Options {
  mark: string;
  clusterCIDR?: string;
  masqueradeAll: boolean;
}

/** `iptables-restore` input for the filter and nat tables of one node, as kube-proxy writes it. */
export function compileIptables(input: IptablesInput): string {
  const bit = input.masqueradeBit ?? 14;
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) throw invalid(`masqueradeBit must be between 0 and 31: ${bit}`);
  let clusterCIDR: string | undefined;
  if (input.clusterCIDR !== undefined) {
    const cidr = parseCIDR(input.clusterCIDR);
    if (!cidr || cidr.family !== 'IPv4') throw invalid(`clusterCIDR "${input.clusterCIDR}" is not an IPv4 CIDR`);
    clusterCIDR = input.clusterCIDR;
  }
  const opts: Options = { mark: `0x${(2 ** bit).toString(16)}`, masqueradeAll: input.masqueradeAll === true, ...(clusterCIDR ? { clusterCIDR } : {}) };
  const plans = servicePortPlans(input.services);
  const endpoints = endpointsByServicePort(input.endpointSlices);

  const b: Buffers = { filterChains: [], filterRules: [], natChains: [], natRules: [] };
  const C = KUBE_CHAINS;
  for (const c of [C.services, C.externalServices, C.forward, C.nodePorts, C.proxyFirewall]) b.filterChains.push(`:${c} - [0:0]`);
  for (const c of [C.services, C.nodePorts, C.postrouting, C.markMasq]) b.natChains.push(`:${c} - [0:0]`);

  b.natRules.push(
    `-A ${C.postrouting} -m mark ! --mark ${opts.mark}/${opts.mark} -j RETURN`,
    `-A ${C.postrouting} -j MARK --xor-mark ${opts.mark}`,
    `-A ${C.postrouting} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE`,
    `-A ${C.markMasq} -j MARK --or-mark ${opts.mark}`,
  );
  if (input.localhostNodePorts !== false) {
    // https://issue.k8s.io/90259: route_localnet opens localhost NodePorts to the network.
    b.filterChains.push(`:${C.kubeletFirewall} - [0:0]`);
    b.filterRules.push(`-A ${C.kubeletFirewall} -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`);
  }

  for (const plan of plans) writeServicePort(b, plan, usableEndpoints(endpoints.get(key(plan.name, plan.protocol)) ?? []), opts);

  b.natRules.push(`-A ${C.services} -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j ${C.nodePorts}`);
  b.filterRules.push(
    `-A ${C.forward} -m conntrack --ctstate INVALID -j DROP`,
    `-A ${C.forward} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${opts.mark}/${opts.mark} -j ACCEPT`,
    `-A ${C.forward} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );
  return ['*filter', ...b.filterChains, ...b.filterRules, 'COMMIT', '*nat', ...b.natChains, ...b.natRules, 'COMMIT', ''].join('\n');
}

/** One service port's rules, in syncProxyRules' order (Cluster policies only, for now). */
function writeServicePort(b: Buffers, plan: ServicePortPlan, endpoints: readonly EndpointInfo[], opts: Options): void {
  const C = KUBE_CHAINS;
  const p = plan.protocol;
  const hasEndpoints = endpoints.length > 0;
  const proto = `-m ${p} -p ${p}`;
  const capture = `${proto} -d ${plan.clusterIP} --dport ${plan.port}`;

  // Capture the clusterIP.
  if (hasEndpoints) {
    b.natRules.push(`-A ${C.services} -m comment --comment ${q(`${plan.name} cluster IP`)} ${capture} -j ${plan.clusterChain}`);
  } else {
    b.filterRules.push(`-A ${C.services} -m comment --comment ${q(`${plan.name} has no endpoints`)} ${capture} -j REJECT`);
  }

  // Capture the NodePort (externalTrafficPolicy Cluster: external traffic goes to KUBE-EXT).
  if (plan.nodePort) {
    if (hasEndpoints) {
      b.natRules.push(`-A ${C.nodePorts} -m comment --comment ${q(plan.name)} ${proto} --dport ${plan.nodePort} -j ${plan.externalChain}`);
    } else {
      b.filterRules.push(`-A ${C.externalServices} -m comment --comment ${q(`${plan.name} has no endpoints`)} -m addrtype --dst-type LOCAL ${proto} --dport ${plan.nodePort} -j REJECT`);
    }
  }
  if (!hasEndpoints) return;

  // Internal traffic: masquerade what does not come from the cluster's pods.
  if (opts.masqueradeAll) {
    b.natRules.push(`-A ${plan.clusterChain} -m comment --comment ${q(`${plan.name} cluster IP`)} ${capture} -j ${C.markMasq}`);
  } else if (opts.clusterCIDR) {
    b.natRules.push(`-A ${plan.clusterChain} -m comment --comment ${q(`${plan.name} cluster IP`)} ${capture} ! -s ${opts.clusterCIDR} -j ${C.markMasq}`);
  }

  // External traffic (NodePort): masquerade, since endpoints may be on other nodes.
  if (plan.nodePort) {
    b.natChains.push(`:${plan.externalChain} - [0:0]`);
    b.natRules.push(
      `-A ${plan.externalChain} -m comment --comment ${q(`masquerade traffic for ${plan.name} external destinations`)} -j ${C.markMasq}`,
      `-A ${plan.externalChain} -j ${plan.clusterChain}`,
    );
  }

  // The Cluster policy chain: affinity first, then the statistic cascade.
  b.natChains.push(`:${plan.clusterChain} - [0:0]`);
  writeServiceToEndpointRules(b, plan, plan.clusterChain, endpoints);

  // The endpoint chains.
  for (const ep of endpoints) {
    b.natChains.push(`:${ep.chain} - [0:0]`);
    const head = `-A ${ep.chain} -m comment --comment ${q(plan.name)}`;
    b.natRules.push(`${head} -s ${ep.ip} -j ${C.markMasq}`);
    const recent = plan.affinitySeconds !== undefined ? ` -m recent --name ${ep.chain} --set` : '';
    b.natRules.push(`${head}${recent} -m ${p} -p ${p} -j DNAT --to-destination ${ep.text}`);
  }
}

/** proxier.go writeServiceToEndpointRules. */
function writeServiceToEndpointRules(b: Buffers, plan: ServicePortPlan, chain: string, endpoints: readonly EndpointInfo[]): void {
  if (plan.affinitySeconds !== undefined) {
    for (const ep of endpoints) {
      b.natRules.push(`-A ${chain} -m comment --comment ${q(`${plan.name} -> ${ep.text}`)} -m recent --name ${ep.chain} --rcheck --seconds ${plan.affinitySeconds} --reap -j ${ep.chain}`);
    }
  }
  const n = endpoints.length;
  endpoints.forEach((ep, i) => {
    const stat = i < n - 1 ? ` -m statistic --mode random --probability ${computeProbability(n - i)}` : '';
    b.natRules.push(`-A ${chain} -m comment --comment ${q(`${plan.name} -> ${ep.text}`)}${stat} -j ${ep.chain}`);
  });
}
