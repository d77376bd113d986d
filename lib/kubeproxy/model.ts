/**
 * What every kube-proxy mode compiles from: the service ports and endpoints of one node's view,
 * in upstream's terms (kubernetes/kubernetes pkg/proxy): `ServicePort` (serviceport.go,
 * servicechangetracker.go), the EndpointSlice cache (endpointslicecache.go) and
 * `CategorizeEndpoints` (topology.go). The iptables, nftables and ipvs compilers
 * (iptables.ts, nftables.ts, ipvs.ts) each turn this into their own tables; nothing here is
 * mode-specific, and nothing here has a clock, I/O or randomness.
 *
 * Upstream's behaviour reproduced here:
 * - A service port exists for each port of a Service with an IPv4 ClusterIP (one proxier per
 *   family; ExternalName and headless Services have none). Its `ns/name:port` name keys it.
 * - Externally accessible = a NodePort, LoadBalancer VIPs or externalIPs. The external policy is
 *   Local only for an externally accessible Service with externalTrafficPolicy Local; the internal
 *   policy is Local with internalTrafficPolicy Local.
 * - LoadBalancer VIPs are the status ingress IPs of this family whose ipMode is VIP (or unset);
 *   ipMode Proxy means the load balancer proxies and the node must not capture the VIP.
 * - Endpoints come from the EndpointSlices labelled with the Service name, matched by port name
 *   and protocol; ready and serving default to true, terminating to false; a duplicate ip:port
 *   keeps a non-terminating copy; lists are ordered by `ip:port` text.
 * - `categorizeEndpoints` picks the Cluster-policy endpoints (ready, filtered by topology hints
 *   when every ready endpoint carries them and one names this node/zone; else serving and
 *   terminating), the Local-policy ones (this node's ready, else this node's serving and
 *   terminating) and whether the Service has usable endpoints anywhere.
 *
 * Service ports are returned sorted by name then protocol: upstream walks a Go map (random
 * order); sorting makes podnet's output reproducible.
 */

import { PodnetError } from '../core/errors.js';
import { parseCIDRSloppy, parseIP } from '../core/ipnet.js';
import type { Endpoint, EndpointSlice, Service, ServicePort } from '../api/types.js';
import { WellKnown } from '../api/types.js';
import { endpointString, servicePortName } from './naming.js';

/** v1.DefaultClientIPServiceAffinitySeconds. */
export const DEFAULT_AFFINITY_SECONDS = 10800;

/** The lower-case protocol names kube-proxy writes. */
export const PROTOCOLS = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' } as const;
export type Protocol = (typeof PROTOCOLS)[keyof typeof PROTOCOLS];

/** What one node's kube-proxy compiles from, in any mode. */
export interface ProxyInput {
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  /** The node kube-proxy runs on: decides which endpoints are local. */
  nodeName?: string;
  /** The node's `topology.kubernetes.io/zone`, for zone hints. */
  zone?: string;
  /** The node's addresses NodePorts answer on (`--nodeport-addresses` default: all of them). */
  nodeIPs?: readonly string[];
  /** `--cluster-cidr`: traffic to a ClusterIP from outside it is masqueraded (LocalDetector by CIDR). */
  clusterCIDR?: string;
  /** The ServiceCIDRs (OnServiceCIDRsChanged): the nftables mode drops traffic to their unallocated IPs. */
  serviceCIDRs?: readonly string[];
  /** `--masquerade-all`. Default false. */
  masqueradeAll?: boolean;
  /** `--iptables-masquerade-bit` (0-31). Default 14: the mark 0x4000. */
  masqueradeBit?: number;
  /** `--iptables-localhost-nodeports`. Default true. */
  localhostNodePorts?: boolean;
}

/** One service port as kube-proxy holds it (serviceport.go BaseServicePortInfo). */
export interface ServicePortInfo {
  /** `ns/name:port` (ServicePortName.String()). */
  name: string;
  namespace: string;
  serviceName: string;
  /** The ServicePort's name, `""` when unnamed. */
  portName: string;
  protocol: Protocol;
  clusterIP: string;
  port: number;
  /** 0 when the port has none. */
  nodePort: number;
  externalIPs: string[];
  /** Status ingress IPs with ipMode VIP. */
  loadBalancerVIPs: string[];
  /** CIDRs, normalized (`spec.loadBalancerSourceRanges`, spaces trimmed). */
  loadBalancerSourceRanges: string[];
  /** 0 when the Service has none. */
  healthCheckNodePort: number;
  /** ClientIP affinity timeout in seconds; undefined without affinity. */
  affinitySeconds?: number;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  /** `spec.trafficDistribution`, as given. */
  trafficDistribution?: string;
}

/** One endpoint of a service port (endpointslicecache.go BaseEndpointInfo). */
export interface EndpointInfo {
  ip: string;
  port: number;
  /** `ip:port` (endpointInfo.String()). */
  text: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** On the node this kube-proxy runs on. */
  local: boolean;
  nodeName?: string;
  zone?: string;
  zoneHints: ReadonlySet<string>;
  nodeHints: ReadonlySet<string>;
}

/** The endpoints a service port uses on this node (topology.go CategorizeEndpoints). */
export interface CategorizedEndpoints {
  /** Cluster-policy endpoints; empty when the port never uses the Cluster policy. */
  cluster: EndpointInfo[];
  /** Local-policy endpoints; empty when the port never uses the Local policy. */
  local: EndpointInfo[];
  /** Union of the two, ordered by `ip:port`. */
  allReachable: EndpointInfo[];
  /** Usable endpoints exist somewhere in the cluster (even if none is reachable from here). */
  hasAny: boolean;
  /** The topology mode used for the Cluster endpoints: '' (none), PreferSameZone or PreferSameNode. */
  topologyMode: '' | 'PreferSameZone' | 'PreferSameNode';
}

/** A bad input to a proxier. */
export function kubeProxyInvalid(message: string): PodnetError {
  return new PodnetError('PODNET_KUBEPROXY_INVALID', `kube-proxy: ${message}`);
}

/** `ExternallyAccessible()`: reachable other than through its ClusterIP. */
export function externallyAccessible(sp: ServicePortInfo): boolean {
  return sp.nodePort !== 0 || sp.loadBalancerVIPs.length > 0 || sp.externalIPs.length > 0;
}

/** `UsesClusterEndpoints()`. */
export function usesClusterEndpoints(sp: ServicePortInfo): boolean {
  return !sp.internalPolicyLocal || (externallyAccessible(sp) && !sp.externalPolicyLocal);
}

/** `UsesLocalEndpoints()`. */
export function usesLocalEndpoints(sp: ServicePortInfo): boolean {
  return sp.internalPolicyLocal || (externallyAccessible(sp) && sp.externalPolicyLocal);
}

/** The IPv4 ClusterIP of a service, or undefined when it has none (headless, ExternalName, IPv6-only). */
function ipv4ClusterIP(svc: Service, ref: string): string | undefined {
  const ips = svc.spec.clusterIPs?.length ? svc.spec.clusterIPs : svc.spec.clusterIP ? [svc.spec.clusterIP] : [];
  for (const text of ips) {
    if (text === 'None' || text === '') return undefined;
    const ip = parseIP(text);
    if (!ip) throw kubeProxyInvalid(`Service ${ref}: spec.clusterIP "${text}" is not an IP address`);
    if (ip.family === 'IPv4') return text;
  }
  return undefined;
}

function ipv4Only(texts: readonly (string | undefined)[]): string[] {
  return texts.filter((t): t is string => !!t && parseIP(t)?.family === 'IPv4');
}

/** Service keys (`ns/name`) of a list of service ports, for partial syncs. */
export function serviceKey(sp: Pick<ServicePortInfo, 'namespace' | 'serviceName'>): string {
  return `${sp.namespace}/${sp.serviceName}`;
}

/** The service ports kube-proxy programs for one Service (serviceport.go newBaseServiceInfo). */
export function servicePortsOf(svc: Service): ServicePortInfo[] {
  const ns = svc.metadata?.namespace;
  const name = svc.metadata?.name;
  if (!ns || !name) throw kubeProxyInvalid('a Service needs metadata.namespace and metadata.name');
  const ref = `${ns}/${name}`;
  if (!svc.spec) throw kubeProxyInvalid(`Service ${ref}: spec is required`);
  const s = svc.spec;
  if (s.type === 'ExternalName') return [];
  const clusterIP = ipv4ClusterIP(svc, ref);
  if (!clusterIP) return [];
  const affinity = s.sessionAffinity === 'ClientIP';
  const seconds = s.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS;
  if (affinity && (!Number.isInteger(seconds) || seconds < 1 || seconds > 86400)) {
    throw kubeProxyInvalid(`Service ${ref}: spec.sessionAffinityConfig.clientIP.timeoutSeconds must be between 1 and 86400: ${seconds}`);
  }
  const externalIPs = ipv4Only(s.externalIPs ?? []);
  const loadBalancerVIPs =
    s.type === 'LoadBalancer' ? ipv4Only((svc.status?.loadBalancer?.ingress ?? []).filter((i) => i.ipMode === undefined || i.ipMode === 'VIP').map((i) => i.ip)) : [];
  // proxyutil.MapCIDRsByIPFamily: trimmed, read as ParseCIDRSloppy, kept in canonical form
  // (Go's IPNet.String), only this proxier's family (IPv4).
  const sourceRanges = (s.loadBalancerSourceRanges ?? []).flatMap((r, i) => {
    const cidr = parseCIDRSloppy(r.trim());
    if (!cidr) throw kubeProxyInvalid(`Service ${ref}: spec.loadBalancerSourceRanges[${i}] "${r}" is not a CIDR`);
    return cidr.family === 'IPv4' ? [cidr.text] : [];
  });
  const accessible = s.type === 'LoadBalancer' || s.type === 'NodePort' || externalIPs.length > 0;
  const out: ServicePortInfo[] = [];
  (s.ports ?? []).forEach((p: ServicePort, i) => {
    const protocol = PROTOCOLS[p.protocol ?? 'TCP'];
    if (!protocol) throw kubeProxyInvalid(`Service ${ref}: spec.ports[${i}].protocol "${String(p.protocol)}" is not TCP, UDP or SCTP`);
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw kubeProxyInvalid(`Service ${ref}: spec.ports[${i}].port must be between 1 and 65535: ${p.port}`);
    const nodePort = p.nodePort ?? 0;
    if (!Number.isInteger(nodePort) || nodePort < 0 || nodePort > 65535) throw kubeProxyInvalid(`Service ${ref}: spec.ports[${i}].nodePort must be between 1 and 65535: ${nodePort}`);
    out.push({
      name: servicePortName({ namespace: ns, name, port: p.name ?? '' }),
      namespace: ns,
      serviceName: name,
      portName: p.name ?? '',
      protocol,
      clusterIP,
      port: p.port,
      nodePort,
      externalIPs,
      loadBalancerVIPs,
      loadBalancerSourceRanges: s.type === 'LoadBalancer' ? sourceRanges : [],
      healthCheckNodePort: s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local' ? (s.healthCheckNodePort ?? 0) : 0,
      ...(affinity ? { affinitySeconds: seconds } : {}),
      externalPolicyLocal: accessible && s.externalTrafficPolicy === 'Local',
      internalPolicyLocal: s.internalTrafficPolicy === 'Local',
      ...(s.trafficDistribution ? { trafficDistribution: s.trafficDistribution } : {}),
    });
  });
  return out;
}

/** Every service port of these Services, sorted by name then protocol. */
export function servicePorts(services: readonly Service[]): ServicePortInfo[] {
  return services.flatMap(servicePortsOf).sort(compareServicePorts);
}

/** Order of service ports: by name, then protocol. */
export function compareServicePorts(a: ServicePortInfo, b: ServicePortInfo): number {
  return a.name === b.name ? (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0) : a.name < b.name ? -1 : 1;
}

/** Key of a service port in the endpoints map: its name and protocol (ServicePortName). */
export function endpointsKey(name: string, protocol: string): string {
  return `${name}\u0000${protocol}`;
}

/**
 * The endpoints of every service port, from the EndpointSlices (endpointslicecache.go): IPv4
 * slices of a named service, each port with a name (`""` for an unnamed one) and a number, each
 * endpoint's first address; an `ip:port` in several slices is kept once, a non-terminating copy
 * preferred. Lists are sorted by `ip:port` text (byEndpoint). Keyed by {@link endpointsKey}.
 */
export function endpointsByServicePort(slices: readonly EndpointSlice[], nodeName?: string): Map<string, EndpointInfo[]> {
  const sets = new Map<string, Map<string, EndpointInfo>>();
  for (const slice of slices) {
    const ns = slice.metadata?.namespace;
    const svcName = slice.metadata?.labels?.[WellKnown.serviceName];
    if (!ns || !svcName) continue;
    if (slice.addressType !== 'IPv4') continue;
    const sliceRef = `EndpointSlice ${ns}/${slice.metadata.name ?? ''}`;
    if (!Array.isArray(slice.endpoints)) throw kubeProxyInvalid(`${sliceRef}: endpoints must be a list`);
    (slice.ports ?? []).forEach((port, i) => {
      // Upstream ignores a port without a name (nil, not "") or without a number.
      if (port.name === undefined || port.port === undefined || port.port === 0) return;
      if (!Number.isInteger(port.port) || port.port < 1 || port.port > 65535) {
        throw kubeProxyInvalid(`${sliceRef}: ports[${i}].port must be between 1 and 65535: ${port.port}`);
      }
      const protocol = PROTOCOLS[port.protocol ?? 'TCP'];
      if (!protocol) throw kubeProxyInvalid(`${sliceRef}: ports[${i}].protocol "${String(port.protocol)}" is not TCP, UDP or SCTP`);
      const k = endpointsKey(servicePortName({ namespace: ns, name: svcName, port: port.name }), protocol);
      let set = sets.get(k);
      if (!set) sets.set(k, (set = new Map()));
      for (const ep of slice.endpoints) {
        const info = endpointInfo(ep, port.port, sliceRef, nodeName);
        // The same ip:port in two slices: a non-terminating one wins (a reused pod IP).
        if (info && (!set.has(info.text) || !info.terminating)) set.set(info.text, info);
      }
    });
  }
  const out = new Map<string, EndpointInfo[]>();
  for (const [k, set] of sets) out.set(k, [...set.values()].sort(compareEndpoints));
  return out;
}

function compareEndpoints(a: EndpointInfo, b: EndpointInfo): number {
  return a.text < b.text ? -1 : a.text > b.text ? 1 : 0;
}

function endpointInfo(ep: Endpoint, port: number, sliceRef: string, nodeName: string | undefined): EndpointInfo | undefined {
  const ip = ep.addresses?.[0];
  if (!ip) return undefined;
  const parsed = parseIP(ip);
  if (!parsed || parsed.family !== 'IPv4') throw kubeProxyInvalid(`${sliceRef}: endpoint address "${ip}" is not an IPv4 address`);
  const c = ep.conditions ?? {};
  return {
    ip,
    port,
    text: endpointString(ip, port),
    ready: c.ready !== false,
    serving: c.serving !== false,
    terminating: c.terminating === true,
    local: nodeName !== undefined && ep.nodeName === nodeName,
    ...(ep.nodeName ? { nodeName: ep.nodeName } : {}),
    ...(ep.zone ? { zone: ep.zone } : {}),
    zoneHints: new Set((ep.hints?.forZones ?? []).map((z) => z.name)),
    nodeHints: new Set((ep.hints?.forNodes ?? []).map((n) => n.name)),
  };
}

/** topology.go topologyModeFromHints (with PreferSameTrafficDistribution on, as since 1.34). */
function topologyModeFromHints(endpoints: readonly EndpointInfo[], nodeName: string | undefined, zone: string | undefined): CategorizedEndpoints['topologyMode'] {
  let hasReady = false;
  let forNode = false;
  let allNodeHints = true;
  let forZone = false;
  let allZoneHints = true;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    hasReady = true;
    if (ep.nodeHints.size === 0) allNodeHints = false;
    else if (nodeName !== undefined && ep.nodeHints.has(nodeName)) forNode = true;
    if (ep.zoneHints.size === 0) allZoneHints = false;
    else if (zone !== undefined && ep.zoneHints.has(zone)) forZone = true;
  }
  if (!hasReady) return '';
  if (allNodeHints && forNode) return 'PreferSameNode';
  if (allZoneHints && forZone) return 'PreferSameZone';
  return '';
}

function availableForTopology(ep: EndpointInfo, mode: CategorizedEndpoints['topologyMode'], nodeName: string | undefined, zone: string | undefined): boolean {
  if (mode === '') return true;
  if (mode === 'PreferSameNode') return nodeName !== undefined && ep.nodeHints.has(nodeName);
  return zone !== undefined && ep.zoneHints.has(zone);
}

/** topology.go CategorizeEndpoints, for the node the endpoints were read for. */
export function categorizeEndpoints(endpoints: readonly EndpointInfo[], sp: ServicePortInfo, nodeName?: string, zone?: string): CategorizedEndpoints {
  const result: CategorizedEndpoints = { cluster: [], local: [], allReachable: [], hasAny: false, topologyMode: '' };
  if (endpoints.length === 0) return result;
  if (usesClusterEndpoints(sp)) {
    result.topologyMode = topologyModeFromHints(endpoints, nodeName, zone);
    result.cluster = endpoints.filter((ep) => ep.ready && availableForTopology(ep, result.topologyMode, nodeName, zone));
    // None ready anywhere (topology would have been ignored otherwise): serving-terminating ones.
    if (result.cluster.length === 0) result.cluster = endpoints.filter((ep) => ep.serving && ep.terminating);
    if (result.cluster.length > 0) result.hasAny = true;
  }
  if (!usesLocalEndpoints(sp)) {
    result.allReachable = result.cluster;
    return result;
  }
  let localReady = false;
  let localServingTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      result.hasAny = true;
      if (ep.local) localReady = true;
    } else if (ep.serving && ep.terminating) {
      result.hasAny = true;
      if (ep.local) localServingTerminating = true;
    }
  }
  if (localReady) result.local = endpoints.filter((ep) => ep.local && ep.ready);
  else if (localServingTerminating) result.local = endpoints.filter((ep) => ep.local && ep.serving && ep.terminating);
  if (!usesClusterEndpoints(sp)) {
    result.allReachable = result.local;
    return result;
  }
  const usesServingTerminating = !localReady && localServingTerminating;
  if (result.topologyMode === '' && !usesServingTerminating) {
    result.allReachable = result.cluster;
    return result;
  }
  const merged = new Map<string, EndpointInfo>();
  for (const ep of [...result.cluster, ...result.local]) merged.set(ep.text, ep);
  result.allReachable = [...merged.values()].sort(compareEndpoints);
  return result;
}

/**
 * Splits an input into what can be proxied and what cannot: a Service or EndpointSlice that
 * fails to compile is left out with its error (upstream logs and skips a bad object; the rest of
 * the node keeps working).
 */
export function validInput(input: ProxyInput): { input: ProxyInput; errors: string[] } {
  const errors: string[] = [];
  const services = input.services.filter((svc) => {
    try {
      servicePortsOf(svc);
      return true;
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
      return false;
    }
  });
  const endpointSlices = input.endpointSlices.filter((slice) => {
    try {
      endpointsByServicePort([slice]);
      return true;
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
      return false;
    }
  });
  return { input: { ...input, services, endpointSlices }, errors };
}

/** What one sync can use: the input (less any object that does not compile), its per-port state, and why objects were left out. */
export interface UsableInput {
  input: ProxyInput;
  state: ServicePortState[];
  errors: string[];
}

/**
 * The input a sync works from: all of it, or — when some Service or EndpointSlice does not
 * compile — everything but those objects, as upstream skips them with a log. Objects are checked
 * one by one only when the whole input does not go through.
 */
export function usableInput(input: ProxyInput): UsableInput {
  try {
    return { input, state: proxyState(input), errors: [] };
  } catch {
    const { input: valid, errors } = validInput(input);
    return { input: valid, state: proxyState(valid), errors };
  }
}

/** Everything a proxier needs per service port: the port and its categorized endpoints. */
export interface ServicePortState {
  port: ServicePortInfo;
  /** All endpoints the slices list for it (before categorization). */
  endpoints: EndpointInfo[];
  categorized: CategorizedEndpoints;
}

/** Builds the per-port state of one node's proxier from its input. */
export function proxyState(input: ProxyInput): ServicePortState[] {
  const byPort = endpointsByServicePort(input.endpointSlices, input.nodeName);
  return servicePorts(input.services).map((port) => {
    const endpoints = byPort.get(endpointsKey(port.name, port.protocol)) ?? [];
    return { port, endpoints, categorized: categorizeEndpoints(endpoints, port, input.nodeName, input.zone) };
  });
}
