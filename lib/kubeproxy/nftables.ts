/**
 * kube-proxy's nftables mode: Services and EndpointSlices in, the `nft -f` transaction a node's
 * kube-proxy writes out — the same table, chains, sets, maps, rules and elements, in the same
 * operations, as upstream's syncProxyRules (kubernetes/kubernetes pkg/proxy/nftables/proxier.go,
 * the release with the filter-output-post-dnat chain; knftables' transaction syntax) — and the
 * backend that loads it into the node's nftables ruleset (lib/dataplane/nftables.ts).
 *
 * The table `ip kube-proxy` (setupNFTables):
 * - base chains filter-prerouting, filter-input, filter-forward, filter-output (filter, dstnat-10,
 *   written -110 as knftables writes priorities), filter-output-post-dnat (filter, dstnat+10 = -90),
 *   nat-prerouting and nat-output (nat, -100), nat-postrouting (nat, 100), each jumping to its
 *   regular chains (nftablesJumpChains): nodeport-endpoints-check and service-endpoints-check
 *   (`ct state new`), firewall-check, cluster-ips-check, services, masquerading;
 * - mark-for-masquerade (`mark set mark or 0x00004000`: the masquerade bit, formatted as Go's
 *   `%#08x`) and masquerading (`mark and … == 0 return`, clear the bit, `masquerade fully-random`);
 * - the cluster-ips set and cluster-ips-check (reject to a ClusterIP's undefined ports, drop to
 *   unallocated addresses of the service CIDRs), the nodeport-ips set (the node's addresses, or —
 *   with no nodeIPs given, `--nodeport-addresses` unset — every local address but 127/8 through
 *   `fib daddr type local`), the verdict maps service-ips, service-nodeports, no-endpoint-services,
 *   no-endpoint-nodeports, firewall-ips and the reject-chain helper.
 * Per service port (names as servicePortChainNameBase / servicePortEndpointChainNameBase: the
 * first 8 base32 characters of sha256 of `ns/svc/proto/port[__ip/port]`, a dash, then that text):
 * `service-…` (Cluster policy endpoints), `local-…` (Local policy endpoints), `external-…`
 * (NodePort, LoadBalancer and externalIP traffic: masquerade, or for externalTrafficPolicy Local
 * the pod and host short-circuits), `firewall-…` (loadBalancerSourceRanges, with the LB IPs added
 * when a range holds the node IP), `endpoint-…` (hairpin masquerade, affinity `update`, DNAT),
 * `affinity-…` timeout sets; `numgen random mod N vmap { … }` picks an endpoint; a port without
 * usable endpoints gets `goto reject-chain` (none anywhere) or `drop` (none for its Local policy)
 * in the no-endpoint maps. Endpoints are categorized by model.ts's categorizeEndpoints (topology.go).
 *
 * Syncs are upstream's: the first sync and any after a failure are full (setupNFTables, every
 * chain rewritten, every map flushed and refilled); later ones are partial — only the chains of
 * the Services named as changed are flushed and rewritten, and the maps' elements are diffed
 * (nftElementStorage: add new, delete+add changed, delete leftover). A chain no longer used is
 * flushed and deleted in a separate transaction once it has been stale for a second (the node's
 * clock; kernels before 6.2 need the delay); stale affinity sets are deleted at once. Service
 * ports are synced in name order (upstream walks a Go map; sorting makes the output reproducible).
 */

import { createHash } from 'node:crypto';
import { PodnetError } from '../core/errors.js';
import { parseCIDR, parseIP } from '../core/ipnet.js';
import type { NodeNetwork } from '../dataplane/node.js';
import { registerProxyMode, type BackendOptions, type ProxyBackend, type RulesFormat, type SyncStats } from './backend.js';
import { externallyAccessible, kubeProxyInvalid, proxyState, serviceKey, usableInput, usesClusterEndpoints, usesLocalEndpoints, type EndpointInfo, type ProxyInput, type ServicePortInfo, type ServicePortState } from './model.js';
import { base32 } from './naming.js';

/** kube-proxy's table (family ip). */
export const NFT_TABLE = 'kube-proxy';

/** The fixed chains, sets and maps of the table (proxier.go's constants). */
export const NFT_NAMES = {
  filterPrerouting: 'filter-prerouting',
  filterInput: 'filter-input',
  filterForward: 'filter-forward',
  filterOutput: 'filter-output',
  filterOutputPostDNAT: 'filter-output-post-dnat',
  natPrerouting: 'nat-prerouting',
  natOutput: 'nat-output',
  natPostrouting: 'nat-postrouting',
  services: 'services',
  serviceIPs: 'service-ips',
  serviceNodePorts: 'service-nodeports',
  nodePortIPs: 'nodeport-ips',
  clusterIPs: 'cluster-ips',
  serviceEndpointsCheck: 'service-endpoints-check',
  nodePortEndpointsCheck: 'nodeport-endpoints-check',
  noEndpointServices: 'no-endpoint-services',
  noEndpointNodePorts: 'no-endpoint-nodeports',
  rejectChain: 'reject-chain',
  clusterIPsCheck: 'cluster-ips-check',
  firewallIPs: 'firewall-ips',
  firewallCheck: 'firewall-check',
  markMasq: 'mark-for-masquerade',
  masquerading: 'masquerading',
} as const;

const N = NFT_NAMES;

/** nftablesBaseChains, with the priorities as knftables writes them (numbers). */
export const NFT_BASE_CHAINS: readonly { name: string; type: 'filter' | 'nat'; hook: string; priority: number }[] = [
  { name: N.filterPrerouting, type: 'filter', hook: 'prerouting', priority: -110 },
  { name: N.filterInput, type: 'filter', hook: 'input', priority: -110 },
  { name: N.filterForward, type: 'filter', hook: 'forward', priority: -110 },
  { name: N.filterOutput, type: 'filter', hook: 'output', priority: -110 },
  { name: N.filterOutputPostDNAT, type: 'filter', hook: 'output', priority: -90 },
  { name: N.natPrerouting, type: 'nat', hook: 'prerouting', priority: -100 },
  { name: N.natOutput, type: 'nat', hook: 'output', priority: -100 },
  { name: N.natPostrouting, type: 'nat', hook: 'postrouting', priority: 100 },
];

/** nftablesJumpChains: the regular chains the base chains jump to. */
export const NFT_JUMP_CHAINS: readonly { dst: string; src: string; extra: string }[] = [
  { dst: N.nodePortEndpointsCheck, src: N.filterInput, extra: 'ct state new' },
  { dst: N.serviceEndpointsCheck, src: N.filterInput, extra: 'ct state new' },
  { dst: N.serviceEndpointsCheck, src: N.filterForward, extra: 'ct state new' },
  { dst: N.serviceEndpointsCheck, src: N.filterOutput, extra: 'ct state new' },
  { dst: N.firewallCheck, src: N.filterPrerouting, extra: 'ct state new' },
  { dst: N.firewallCheck, src: N.filterOutput, extra: 'ct state new' },
  { dst: N.services, src: N.natOutput, extra: '' },
  { dst: N.services, src: N.natPrerouting, extra: '' },
  { dst: N.masquerading, src: N.natPostrouting, extra: '' },
  { dst: N.clusterIPsCheck, src: N.filterForward, extra: 'ct state new' },
  { dst: N.clusterIPsCheck, src: N.filterOutputPostDNAT, extra: 'ct state new' },
];

/** The per-service and per-endpoint name prefixes. */
export const NFT_PREFIX = { cluster: 'service-', local: 'local-', external: 'external-', endpoint: 'endpoint-', affinity: 'affinity-', firewall: 'firewall-' } as const;

/** knftables.NameLengthMax minus the longest prefix (chainNameBaseLengthMax). */
const CHAIN_NAME_BASE_MAX = 256 - 16;

/** How long a stale chain waits before it is deleted (kernels before 6.2 notice unreferenced chains late). */
export const STALE_CHAIN_DELAY_MS = 1000;

/** hashAndTruncate: 8 base32 characters of sha256(name), a dash, the name; truncated with `...`. */
function hashAndTruncate(name: string): string {
  const out = `${base32(createHash('sha256').update(name, 'utf8').digest()).slice(0, 8)}-${name}`;
  return out.length > CHAIN_NAME_BASE_MAX ? `${out.slice(0, CHAIN_NAME_BASE_MAX - 3)}...` : out;
}

/** servicePortChainNameBase: `HASH-ns/svc/proto/port` (the port's name, empty when unnamed). */
export function servicePortChainNameBase(sp: Pick<ServicePortInfo, 'namespace' | 'serviceName' | 'portName' | 'protocol'>): string {
  return hashAndTruncate(`${sp.namespace}/${sp.serviceName}/${sp.protocol}/${sp.portName}`);
}

/** servicePortEndpointChainNameBase: `HASH-ns/svc/proto/port__ip/port` (IPv6 colons as dots). */
export function servicePortEndpointChainNameBase(sp: Pick<ServicePortInfo, 'namespace' | 'serviceName' | 'portName' | 'protocol'>, ip: string, port: number): string {
  return hashAndTruncate(`${sp.namespace}/${sp.serviceName}/${sp.protocol}/${sp.portName}__${ip.replaceAll(':', '.')}/${port}`);
}

/** A service port's chain names (newServiceInfo). */
export function nftServiceChains(sp: ServicePortInfo): { cluster: string; local: string; external: string; firewall: string } {
  const base = servicePortChainNameBase(sp);
  return { cluster: NFT_PREFIX.cluster + base, local: NFT_PREFIX.local + base, external: NFT_PREFIX.external + base, firewall: NFT_PREFIX.firewall + base };
}

/** An endpoint's chain and affinity set names (newEndpointInfo). */
export function nftEndpointNames(sp: ServicePortInfo, ep: Pick<EndpointInfo, 'ip' | 'port'>): { chain: string; affinitySet: string } {
  const base = servicePortEndpointChainNameBase(sp, ep.ip, ep.port);
  return { chain: NFT_PREFIX.endpoint + base, affinitySet: NFT_PREFIX.affinity + base };
}

/** isServiceChainName: service and endpoint chains, and only they, have a `/`. */
export function isServiceChainName(chain: string): boolean {
  return chain.includes('/');
}

/** Go's `fmt.Sprintf("%#08x", 1<<bit)`: eight zero-padded digits after the 0x. */
export function masqueradeMark(bit: number): string {
  return `0x${(2 ** bit).toString(16).padStart(8, '0')}`;
}

// ---- the transaction -----------------------------------------------------------------------

/** knftables' Transaction: one operation per line, written as knftables writes them. */
class Transaction {
  readonly lines: string[] = [];
  rules = 0;
  elements = 0;
  readonly #p = `ip ${NFT_TABLE}`;

  table(comment: string): void {
    this.lines.push(`add table ${this.#p} { comment ${quote(comment)} ; }`);
  }
  addChain(name: string, spec?: { type: string; hook: string; priority: number } | { comment: string }): void {
    let body = '';
    if (spec && 'type' in spec) body = ` { type ${spec.type} hook ${spec.hook} priority ${spec.priority} ; }`;
    else if (spec) body = ` { comment ${quote(spec.comment)} ; }`;
    this.lines.push(`add chain ${this.#p} ${name}${body}`);
  }
  flushChain(name: string): void {
    this.lines.push(`flush chain ${this.#p} ${name}`);
  }
  deleteChain(name: string): void {
    this.lines.push(`delete chain ${this.#p} ${name}`);
  }
  rule(chain: string, rule: string, comment?: string): void {
    this.lines.push(`add rule ${this.#p} ${chain} ${rule}${comment !== undefined ? ` comment ${quote(comment)}` : ''}`);
    this.rules++;
  }
  addSet(kind: 'set' | 'map', name: string, type: string, opts: { flags?: string[]; timeoutSeconds?: number; comment?: string } = {}): void {
    let body = ` { type ${type} ;`;
    if (opts.flags?.length) body += ` flags ${opts.flags.join(',')} ;`;
    if (opts.timeoutSeconds !== undefined) body += ` timeout ${opts.timeoutSeconds}s ;`;
    if (opts.comment !== undefined) body += ` comment ${quote(opts.comment)} ;`;
    this.lines.push(`add ${kind} ${this.#p} ${name}${body} }`);
  }
  flushSet(kind: 'set' | 'map', name: string): void {
    this.lines.push(`flush ${kind} ${this.#p} ${name}`);
  }
  deleteSet(kind: 'set' | 'map', name: string): void {
    this.lines.push(`delete ${kind} ${this.#p} ${name}`);
  }
  addElement(name: string, key: readonly string[], value?: readonly string[], comment?: string): void {
    this.lines.push(`add element ${this.#p} ${name} { ${key.join(' . ')}${comment !== undefined ? ` comment ${quote(comment)}` : ''}${value?.length ? ` : ${value.join(' . ')}` : ''} }`);
    this.elements++;
  }
  deleteElement(name: string, key: readonly string[]): void {
    this.lines.push(`delete element ${this.#p} ${name} { ${key.join(' . ')} }`);
  }
  text(): string {
    return this.lines.length ? `${this.lines.join('\n')}\n` : '';
  }
}

/** Go's %q for the ASCII text kube-proxy writes. */
function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** nftElementStorage: what a set or map holds, to write only the differences on a partial sync. */
class ElementStorage {
  readonly #elements = new Map<string, string>();
  #leftover = new Set<string>();
  constructor(
    readonly kind: 'set' | 'map',
    readonly name: string,
  ) {}

  /** Forgets everything and flushes the container. */
  reset(tx: Transaction): void {
    this.#elements.clear();
    tx.flushSet(this.kind, this.name);
    this.#leftover = new Set();
  }

  ensure(tx: Transaction, key: readonly string[], value?: readonly string[], comment?: string): void {
    const k = key.join(' . ');
    const v = (value ?? []).join(' . ');
    const existing = this.#elements.get(k);
    if (existing !== undefined) {
      if (existing !== v) {
        tx.deleteElement(this.name, key);
        tx.addElement(this.name, key, value, comment);
        this.#elements.set(k, v);
      }
      this.#leftover.delete(k);
    } else {
      tx.addElement(this.name, key, value, comment);
      this.#elements.set(k, v);
    }
  }

  cleanup(tx: Transaction): void {
    for (const k of this.#leftover) {
      tx.deleteElement(this.name, k.split(' . '));
      this.#elements.delete(k);
    }
    this.#leftover = new Set(this.#elements.keys());
  }

  get size(): number {
    return this.#elements.size;
  }
}

// ---- the proxier ---------------------------------------------------------------------------

/** What one compiled sync holds. */
export interface NftablesCompilation {
  /** The main transaction (`nft -f` input). */
  text: string;
  /** Its operations (knftables Transaction.NumOperations()). */
  operations: number;
  /** `add rule` and `add element` operations. */
  rulesWritten: number;
  /** Service ports whose chains were written. */
  servicePortsSynced: number;
  full: boolean;
}

/** What the proxier needs to know of the node's current table. */
export interface NftablesExisting {
  chains: Iterable<string>;
  sets: Iterable<string>;
}

/**
 * The nftables proxier's state between syncs (upstream's Proxier fields that syncProxyRules
 * keeps): whether the next sync must be full, whether the base chains were recreated once, the
 * stale chains and when they went stale, and the element storages of the shared sets and maps.
 */
export class NftablesProxier {
  #needFullSync = true;
  #flushed = false;
  /** Stale chain → cluster-clock time (ms) it was last found stale. */
  readonly #staleChains = new Map<string, number>();
  readonly #clusterIPs = new ElementStorage('set', N.clusterIPs);
  readonly #serviceIPs = new ElementStorage('map', N.serviceIPs);
  readonly #firewallIPs = new ElementStorage('map', N.firewallIPs);
  readonly #noEndpointServices = new ElementStorage('map', N.noEndpointServices);
  readonly #noEndpointNodePorts = new ElementStorage('map', N.noEndpointNodePorts);
  readonly #serviceNodePorts = new ElementStorage('map', N.serviceNodePorts);
  /** Chain names by service port and endpoint (upstream keeps them in its servicePortInfo and endpointInfo). */
  #serviceNames = new Map<string, ReturnType<typeof nftServiceChains>>();
  #endpointNames = new Map<string, ReturnType<typeof nftEndpointNames>>();

  /** The chains waiting to be deleted. */
  get staleChains(): ReadonlyMap<string, number> {
    return this.#staleChains;
  }

  /** Forces the next sync to be full (after a failed load, or a cleanup). */
  requireFullSync(): void {
    this.#needFullSync = true;
  }

  /** Forgets everything: the next sync starts as a new kube-proxy would. */
  reset(): void {
    this.#needFullSync = true;
    this.#flushed = false;
    this.#staleChains.clear();
  }

  /** The transaction deleting chains stale for over a second, or undefined (they leave staleChains). */
  staleChainDeletion(now: number): string | undefined {
    const tx = new Transaction();
    for (const [chain, since] of this.#staleChains) {
      if (since < now - STALE_CHAIN_DELAY_MS) {
        tx.deleteChain(chain);
        this.#staleChains.delete(chain);
      }
    }
    return tx.lines.length ? tx.text() : undefined;
  }

  /** Called after the main transaction loaded: the next sync may be partial. */
  succeeded(): void {
    this.#needFullSync = false;
  }

  /** Called after the main transaction failed: staleChains is wrong, the next sync is full. */
  failed(): void {
    this.#needFullSync = true;
    this.#staleChains.clear();
  }

  /**
   * Builds one sync's main transaction (syncProxyRules). `changed` names the Services
   * (`ns/name`) that changed since the last successful sync; undefined, or a pending full sync,
   * makes it full. `existing` is the node's table as it is before this transaction.
   */
  compile(input: ProxyInput, options: { changed?: ReadonlySet<string>; now: number; existing: NftablesExisting; state?: ServicePortState[] }): NftablesCompilation {
    const tryPartial = !this.#needFullSync && options.changed !== undefined;
    const changed = options.changed ?? new Set<string>();
    const bit = input.masqueradeBit ?? 14;
    if (!Number.isInteger(bit) || bit < 0 || bit > 31) throw kubeProxyInvalid(`masqueradeBit must be between 0 and 31: ${bit}`);
    const mark = masqueradeMark(bit);
    if (input.clusterCIDR !== undefined && parseCIDR(input.clusterCIDR)?.family !== 'IPv4') throw kubeProxyInvalid(`clusterCIDR "${input.clusterCIDR}" is not an IPv4 CIDR`);
    const serviceCIDRs = (input.serviceCIDRs ?? []).filter((c) => {
      const cidr = parseCIDR(c);
      if (!cidr) throw kubeProxyInvalid(`serviceCIDRs: "${c}" is not a CIDR`);
      return cidr.family === 'IPv4';
    });
    // nodePortAddresses: the node's IPv4 addresses, or (none given) every local address.
    const nodeIPs = input.nodeIPs?.filter((ip) => parseIP(ip)?.family === 'IPv4');
    const matchAll = nodeIPs === undefined;
    const states = options.state ?? proxyState(input);

    const tx = new Transaction();
    if (!tryPartial) {
      this.#setup(tx, { mark, serviceCIDRs, nodeIPs, matchAll });
      // A full sync forgets the names of what went away.
      this.#serviceNames = new Map();
      this.#endpointNames = new Map();
    }
    const serviceNames = (sp: ServicePortInfo) => {
      const k = `${sp.name}\u0000${sp.protocol}`;
      let names = this.#serviceNames.get(k);
      if (!names) this.#serviceNames.set(k, (names = nftServiceChains(sp)));
      return names;
    };
    const endpointNames = (sp: ServicePortInfo, ep: EndpointInfo) => {
      const k = `${sp.name}\u0000${sp.protocol}\u0000${ep.text}`;
      let names = this.#endpointNames.get(k);
      if (!names) this.#endpointNames.set(k, (names = nftEndpointNames(sp, ep)));
      return names;
    };

    const activeChains = new Set<string>();
    const activeAffinitySets = new Set<string>();
    // ensureChain: add and flush a chain once per transaction (or just note it, when skipped).
    const ensureChain = (chain: string, skip: boolean) => {
      if (activeChains.has(chain)) return;
      activeChains.add(chain);
      if (skip) return;
      tx.addChain(chain);
      tx.flushChain(chain);
    };
    const detectLocal = input.clusterCIDR;
    let synced = 0;

    for (const { port: sp, categorized } of states) {
      const protocol = sp.protocol;
      const chains = serviceNames(sp);
      const { cluster: clusterEndpoints, local: localEndpoints, allReachable, hasAny: hasEndpoints } = categorized;
      const skip = tryPartial && !changed.has(serviceKey(sp));
      const affinity = sp.affinitySeconds !== undefined;

      for (const ep of allReachable) {
        const names = endpointNames(sp, ep);
        ensureChain(names.chain, skip);
        if (affinity) activeAffinitySets.add(names.affinitySet);
      }
      const usesClusterPolicyChain = clusterEndpoints.length > 0 && usesClusterEndpoints(sp);
      if (usesClusterPolicyChain) ensureChain(chains.cluster, skip);
      const usesLocalPolicyChain = localEndpoints.length > 0 && usesLocalEndpoints(sp);
      if (usesLocalPolicyChain) ensureChain(chains.local, skip);

      let internalTrafficChain = chains.cluster;
      let hasInternalEndpoints = hasEndpoints;
      if (sp.internalPolicyLocal) {
        internalTrafficChain = chains.local;
        if (!localEndpoints.length) hasInternalEndpoints = false;
      }
      let externalPolicyChain = chains.cluster;
      let hasExternalEndpoints = hasEndpoints;
      if (sp.externalPolicyLocal) {
        externalPolicyChain = chains.local;
        if (!localEndpoints.length) hasExternalEndpoints = false;
      }
      const externalTrafficChain = chains.external;
      // Based on hasEndpoints, not hasExternalEndpoints: the short-circuit rules are needed
      // even when no endpoint serves external traffic.
      const usesExternalTrafficChain = hasEndpoints && externallyAccessible(sp);
      if (usesExternalTrafficChain) ensureChain(externalTrafficChain, skip);

      let internalVerdict = '';
      let externalVerdict = '';
      if (!hasEndpoints) {
        internalVerdict = `goto ${N.rejectChain}`;
        externalVerdict = `goto ${N.rejectChain}`;
      } else {
        if (!hasInternalEndpoints) internalVerdict = 'drop';
        if (!hasExternalEndpoints) externalVerdict = 'drop';
      }

      const port = String(sp.port);
      // Capture the clusterIP.
      this.#clusterIPs.ensure(tx, [sp.clusterIP]);
      if (hasInternalEndpoints) this.#serviceIPs.ensure(tx, [sp.clusterIP, protocol, port], [`goto ${internalTrafficChain}`]);
      else this.#noEndpointServices.ensure(tx, [sp.clusterIP, protocol, port], [internalVerdict], sp.name);

      // Capture externalIPs.
      for (const ip of sp.externalIPs) {
        if (hasEndpoints) this.#serviceIPs.ensure(tx, [ip, protocol, port], [`goto ${externalTrafficChain}`]);
        if (!hasExternalEndpoints) this.#noEndpointServices.ensure(tx, [ip, protocol, port], [externalVerdict], sp.name);
      }

      const usesFWChain = sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
      if (usesFWChain) ensureChain(chains.firewall, skip);

      // Capture load-balancer ingress.
      for (const ip of sp.loadBalancerVIPs) {
        if (hasEndpoints) this.#serviceIPs.ensure(tx, [ip, protocol, port], [`goto ${externalTrafficChain}`]);
        if (usesFWChain) this.#firewallIPs.ensure(tx, [ip, protocol, port], [`goto ${chains.firewall}`]);
      }
      if (!hasExternalEndpoints) {
        for (const ip of sp.loadBalancerVIPs) this.#noEndpointServices.ensure(tx, [ip, protocol, port], [externalVerdict], sp.name);
      }

      // Capture nodeports (not subject to loadBalancerSourceRanges, as upstream).
      if (sp.nodePort !== 0) {
        if (hasEndpoints) this.#serviceNodePorts.ensure(tx, [protocol, String(sp.nodePort)], [`goto ${externalTrafficChain}`]);
        if (!hasExternalEndpoints) this.#noEndpointNodePorts.ensure(tx, [protocol, String(sp.nodePort)], [externalVerdict], sp.name);
      }

      if (skip) continue;
      synced++;

      // Internal traffic: masquerade what does not come from the cluster's pods.
      if (hasInternalEndpoints) {
        const head = `ip daddr ${sp.clusterIP} ${protocol} dport ${sp.port}`;
        if (input.masqueradeAll) tx.rule(internalTrafficChain, `${head} jump ${N.markMasq}`);
        else if (detectLocal) tx.rule(internalTrafficChain, `${head} ip saddr != ${detectLocal} jump ${N.markMasq}`);
      }

      // External traffic.
      if (usesExternalTrafficChain) {
        if (!sp.externalPolicyLocal) {
          // Endpoints may be on other nodes: masquerade.
          tx.rule(externalTrafficChain, `jump ${N.markMasq}`);
        } else {
          if (detectLocal) tx.rule(externalTrafficChain, `ip saddr ${detectLocal} goto ${chains.cluster}`, 'short-circuit pod traffic');
          tx.rule(externalTrafficChain, `fib saddr type local jump ${N.markMasq}`, 'masquerade local traffic');
          tx.rule(externalTrafficChain, `fib saddr type local goto ${chains.cluster}`, 'short-circuit local traffic');
        }
        if (hasExternalEndpoints) tx.rule(externalTrafficChain, `goto ${externalPolicyChain}`);
      }

      if (usesFWChain) {
        const sources = [...sp.loadBalancerSourceRanges];
        const nodeIP = input.nodeIPs?.[0];
        const allowFromNode = nodeIP !== undefined && sp.loadBalancerSourceRanges.some((r) => cidrContains(r, nodeIP));
        // A VIP the node holds loops requests from the node back with the VIP as source.
        if (allowFromNode) sources.push(...sp.loadBalancerVIPs);
        tx.rule(chains.firewall, `ip saddr != { ${sources.join(' , ')} } drop`);
      }

      if (affinity) {
        for (const ep of allReachable) {
          tx.addSet('set', endpointNames(sp, ep).affinitySet, 'ipv4_addr', { flags: ['dynamic', 'timeout'], timeoutSeconds: sp.affinitySeconds! });
        }
      }

      if (usesClusterPolicyChain) this.#writeServiceToEndpointRules(tx, sp, chains.cluster, clusterEndpoints, endpointNames);
      if (usesLocalPolicyChain) this.#writeServiceToEndpointRules(tx, sp, chains.local, localEndpoints, endpointNames);

      for (const ep of allReachable) {
        const names = endpointNames(sp, ep);
        // Hairpin: a pod reaching itself through the Service is masqueraded.
        tx.rule(names.chain, `ip saddr ${ep.ip} jump ${N.markMasq}`);
        if (affinity) tx.rule(names.chain, `update @${names.affinitySet} { ip saddr }`);
        tx.rule(names.chain, `meta l4proto ${protocol} dnat to ${ep.text}`);
      }
    }

    // Chains no longer used: flushed now, deleted once stale for a while.
    for (const chain of options.existing.chains) {
      if (!isServiceChainName(chain)) continue;
      if (!activeChains.has(chain)) {
        tx.flushChain(chain);
        this.#staleChains.set(chain, options.now);
      } else this.#staleChains.delete(chain);
    }
    // Stale affinity sets go at once.
    for (const set of options.existing.sets) {
      if (set.startsWith(NFT_PREFIX.affinity) && !activeAffinitySets.has(set)) tx.deleteSet('set', set);
    }
    for (const s of this.#storages()) s.cleanup(tx);

    return { text: tx.text(), operations: tx.lines.length, rulesWritten: tx.rules + tx.elements, servicePortsSynced: synced, full: !tryPartial };
  }

  #storages(): ElementStorage[] {
    return [this.#clusterIPs, this.#serviceIPs, this.#firewallIPs, this.#noEndpointServices, this.#noEndpointNodePorts, this.#serviceNodePorts];
  }

  /** writeServiceToEndpointRules: affinity first, then the numgen dispatch. */
  #writeServiceToEndpointRules(tx: Transaction, sp: ServicePortInfo, chain: string, endpoints: readonly EndpointInfo[], names: (sp: ServicePortInfo, ep: EndpointInfo) => ReturnType<typeof nftEndpointNames>): void {
    if (sp.affinitySeconds !== undefined) {
      for (const ep of endpoints) {
        const n = names(sp, ep);
        tx.rule(chain, `ip saddr @${n.affinitySet} goto ${n.chain}`);
      }
    }
    const elements = endpoints.map((ep, i) => `${i} : goto ${names(sp, ep).chain}`).join(' , ');
    tx.rule(chain, `numgen random mod ${endpoints.length} vmap { ${elements} }`);
  }

  /** setupNFTables. */
  #setup(tx: Transaction, o: { mark: string; serviceCIDRs: string[]; nodeIPs: string[] | undefined; matchAll: boolean }): void {
    tx.table('rules for kube-proxy');
    // Once per proxier: recreate the base chains, so a changed priority does not fail the transaction.
    if (!this.#flushed) {
      for (const bc of NFT_BASE_CHAINS) {
        tx.addChain(bc.name);
        tx.deleteChain(bc.name);
      }
      this.#flushed = true;
    }
    for (const bc of NFT_BASE_CHAINS) {
      tx.addChain(bc.name, bc);
      tx.flushChain(bc.name);
    }
    const created = new Set<string>();
    const ensure = (chain: string) => {
      if (created.has(chain)) return;
      created.add(chain);
      tx.addChain(chain);
      tx.flushChain(chain);
    };
    for (const jc of NFT_JUMP_CHAINS) {
      ensure(jc.dst);
      tx.rule(jc.src, `${jc.extra ? `${jc.extra} ` : ''}jump ${jc.dst}`);
    }
    for (const chain of [N.services, N.clusterIPsCheck, N.masquerading, N.markMasq]) ensure(chain);

    tx.rule(N.markMasq, `mark set mark or ${o.mark}`);
    tx.rule(N.masquerading, `mark and ${o.mark} == 0 return`);
    tx.rule(N.masquerading, `mark set mark xor ${o.mark}`);
    tx.rule(N.masquerading, 'masquerade fully-random');

    tx.addSet('set', N.clusterIPs, 'ipv4_addr', { comment: 'Active ClusterIPs' });
    tx.rule(N.clusterIPsCheck, `ip daddr @${N.clusterIPs} reject`, 'Reject traffic to invalid ports of ClusterIPs');
    if (o.serviceCIDRs.length) tx.rule(N.clusterIPsCheck, `ip daddr { ${o.serviceCIDRs.join(',')} } drop`, 'Drop traffic to unallocated ClusterIPs');

    // nodeport-ips: "add+delete" to make sure it does not exist when every address takes NodePorts.
    tx.addSet('set', N.nodePortIPs, 'ipv4_addr', { comment: 'IPs that accept NodePort traffic' });
    if (o.matchAll) tx.deleteSet('set', N.nodePortIPs);
    else {
      tx.flushSet('set', N.nodePortIPs);
      for (const ip of o.nodeIPs ?? []) {
        if (ip.startsWith('127.')) continue; // localhost NodePorts are not supported
        tx.addElement(N.nodePortIPs, [ip]);
      }
    }

    tx.addSet('map', N.noEndpointServices, 'ipv4_addr . inet_proto . inet_service : verdict', { comment: 'vmap to drop or reject packets to services with no endpoints' });
    tx.addSet('map', N.noEndpointNodePorts, 'inet_proto . inet_service : verdict', { comment: 'vmap to drop or reject packets to service nodeports with no endpoints' });
    tx.addChain(N.rejectChain, { comment: 'helper for @no-endpoint-services / @no-endpoint-nodeports' });
    tx.flushChain(N.rejectChain);
    tx.rule(N.rejectChain, 'reject');
    tx.rule(N.serviceEndpointsCheck, `ip daddr . meta l4proto . th dport vmap @${N.noEndpointServices}`);
    if (o.matchAll) tx.rule(N.nodePortEndpointsCheck, `ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${N.noEndpointNodePorts}`);
    else tx.rule(N.nodePortEndpointsCheck, `ip daddr @${N.nodePortIPs} meta l4proto . th dport vmap @${N.noEndpointNodePorts}`);

    tx.addSet('map', N.firewallIPs, 'ipv4_addr . inet_proto . inet_service : verdict', { comment: 'destinations that are subject to LoadBalancerSourceRanges' });
    ensure(N.firewallCheck);
    tx.rule(N.firewallCheck, `ip daddr . meta l4proto . th dport vmap @${N.firewallIPs}`);

    tx.addSet('map', N.serviceIPs, 'ipv4_addr . inet_proto . inet_service : verdict', { comment: 'ClusterIP, ExternalIP and LoadBalancer IP traffic' });
    tx.addSet('map', N.serviceNodePorts, 'inet_proto . inet_service : verdict', { comment: 'NodePort traffic' });
    tx.rule(N.services, `ip daddr . meta l4proto . th dport vmap @${N.serviceIPs}`);
    if (o.matchAll) tx.rule(N.services, `fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${N.serviceNodePorts}`);
    else tx.rule(N.services, `ip daddr @${N.nodePortIPs} meta l4proto . th dport vmap @${N.serviceNodePorts}`);

    for (const s of this.#storages()) s.reset(tx);
  }
}

function cidrContains(cidr: string, ip: string): boolean {
  const net = parseCIDR(cidr);
  const addr = parseIP(ip);
  if (!net || !addr || net.family !== addr.family) return false;
  const host = BigInt(net.bits - net.prefix);
  return addr.value >> host === net.base >> host;
}

/**
 * The transaction a new kube-proxy writes on its first sync of this input (a full sync against
 * a node without the table).
 */
export function compileNftables(input: ProxyInput, now = 0): string {
  return new NftablesProxier().compile(input, { now, existing: { chains: [], sets: [] } }).text;
}

// ---- the backend ---------------------------------------------------------------------------

/** The nftables backend: a {@link ProxyBackend} that also shows its last transaction. */
export interface NftablesProxyBackend extends ProxyBackend {
  /** The main `nft -f` transaction of the last successful sync. */
  readonly lastTransaction: string;
  /** Its operations (knftables' LastTransaction.NumOperations()). */
  readonly lastOperations: number;
  /** The proxier state (stale chains, for tests and `podnet get kube-proxy`). */
  readonly proxier: NftablesProxier;
}

class NftablesBackend implements NftablesProxyBackend {
  readonly mode = 'nftables' as const;
  readonly formats: readonly RulesFormat[] = ['nft'];
  readonly proxier = new NftablesProxier();
  readonly #node: NodeNetwork;
  lastTransaction = '';
  lastOperations = 0;

  constructor(node: NodeNetwork) {
    this.#node = node;
  }

  sync(input: ProxyInput, changed?: ReadonlySet<string>): SyncStats {
    const { input: valid, state, errors } = usableInput(input);
    const nft = this.#node.nftables;
    const now = this.#node.conntrack.clock.now();
    // Sufficiently stale chains go first, in their own transaction; a failure there is retried
    // later (the chains are found stale again at the end of this sync).
    const deletion = this.proxier.staleChainDeletion(now);
    if (deletion) {
      try {
        nft.load(deletion);
      } catch {
        // upstream logs "Unable to delete stale chains; will retry later"
      }
    }
    const table = nft.table(NFT_TABLE);
    let compiled: NftablesCompilation;
    try {
      compiled = this.proxier.compile(valid, {
        ...(changed ? { changed } : {}),
        state,
        now,
        existing: { chains: [...(table?.chains.keys() ?? [])], sets: [...(table?.sets.keys() ?? [])] },
      });
      nft.load(compiled.text);
    } catch (err) {
      this.proxier.failed();
      throw err;
    }
    this.proxier.succeeded();
    this.lastTransaction = compiled.text;
    this.lastOperations = compiled.operations;
    return {
      full: compiled.full,
      rulesWritten: compiled.rulesWritten,
      totalRules: this.#countRules(),
      servicePortsSynced: compiled.servicePortsSynced,
      ...(errors.length ? { errors } : {}),
    };
  }

  /** Rules plus the elements of the (non-dynamic) sets and maps the table holds. */
  #countRules(): number {
    const t = this.#node.nftables.table(NFT_TABLE);
    if (!t) return 0;
    let n = 0;
    for (const c of t.chains.values()) n += c.rules.length;
    for (const s of t.sets.values()) if (!s.flags.has('dynamic')) n += s.elements.size;
    return n;
  }

  /** CleanupLeftovers: deletes the table. */
  cleanup(): void {
    if (this.#node.nftables.table(NFT_TABLE)) this.#node.nftables.load(`delete table ip ${NFT_TABLE}\n`);
    this.proxier.reset();
  }

  render(format: RulesFormat, options: { counters?: boolean } = {}): string {
    if (format !== 'nft') throw new PodnetError('PODNET_KUBEPROXY_FORMAT', `kube-proxy nftables mode renders nft, not "${format}"`);
    return this.#node.nftables.list({ counters: options.counters === true });
  }
}

/** The nftables mode's backend for a node (registered as `nftables`). */
export function createNftablesBackend(node: NodeNetwork, _options: BackendOptions = {}): NftablesProxyBackend {
  return new NftablesBackend(node);
}

registerProxyMode('nftables', createNftablesBackend);
