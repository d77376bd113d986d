/**
 * kube-proxy's names for what it programs: the service port name (`ns/name:port`) and the
 * iptables chain names derived from it, computed exactly as upstream does, so a chain seen in
 * podnet is the chain a real node shows for the same objects.
 *
 * Upstream (kubernetes/kubernetes):
 * - pkg/proxy/types.go `ServicePortName.String()`: `namespace/name` followed by `:port` when the
 *   port has a name (an unnamed single port gives just `namespace/name`).
 * - pkg/proxy/iptables/proxier.go `portProtoHash`: sha256 over `servicePortName + protocol`,
 *   base32 (RFC 4648 standard alphabet, as Go's `base32.StdEncoding`), first 16 characters; the
 *   protocol is the lower-case one (`tcp`, `udp`, `sctp`).
 * - the same file's `servicePortPolicyClusterChain` (KUBE-SVC-), `servicePortPolicyLocalChainName`
 *   (KUBE-SVL-), `serviceFirewallChainName` (KUBE-FW-), `serviceExternalChainName` (KUBE-EXT-) put
 *   a prefix before that hash; `servicePortEndpointChainName` (KUBE-SEP-) hashes
 *   `servicePortName + protocol + endpoint`, the endpoint being `ip:port` (`[ip]:port` for IPv6,
 *   Go's net.JoinHostPort).
 * The longest result, `KUBE-SVC-` + 16, stays inside iptables' 28-character chain name limit.
 */

import { createHash } from 'node:crypto';

/** The prefixes of kube-proxy's per-service chains (proxier.go). */
export const CHAIN_PREFIX = {
  cluster: 'KUBE-SVC-',
  local: 'KUBE-SVL-',
  firewall: 'KUBE-FW-',
  external: 'KUBE-EXT-',
  endpoint: 'KUBE-SEP-',
} as const;

/** A service port's identity as kube-proxy keys it (pkg/proxy/types.go ServicePortName). */
export interface ServicePortNameParts {
  namespace: string;
  name: string;
  /** The ServicePort's `name`; empty for an unnamed port. */
  port?: string;
}

/** `ServicePortName.String()`: `ns/name:port`, or `ns/name` for an unnamed port. */
export function servicePortName(spn: ServicePortNameParts): string {
  return `${spn.namespace}/${spn.name}${spn.port ? `:${spn.port}` : ''}`;
}

/** RFC 4648 base32 with padding (Go's base32.StdEncoding). */
export function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  while (out.length % 8) out += '=';
  return out;
}

function hash16(text: string): string {
  return base32(createHash('sha256').update(text, 'utf8').digest()).slice(0, 16);
}

/** kube-proxy's `portProtoHash`: 16 base32 characters of sha256(servicePortName + protocol). */
export function portProtoHash(servicePortName: string, protocol: string): string {
  return hash16(servicePortName + protocol.toLowerCase());
}

/** `KUBE-SVC-…`: the service port's dispatch chain for `Cluster` traffic policy. */
export function servicePortPolicyClusterChain(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.cluster + portProtoHash(servicePortName, protocol);
}

/** `KUBE-SVL-…`: the dispatch chain over local endpoints for `Local` traffic policy. */
export function servicePortPolicyLocalChainName(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.local + portProtoHash(servicePortName, protocol);
}

/** `KUBE-FW-…`: the loadBalancerSourceRanges firewall chain. */
export function serviceFirewallChainName(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.firewall + portProtoHash(servicePortName, protocol);
}

/** `KUBE-EXT-…`: the chain external (NodePort, LoadBalancer, externalIP) traffic enters. */
export function serviceExternalChainName(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.external + portProtoHash(servicePortName, protocol);
}

/** An endpoint as kube-proxy prints it (`endpointInfo.String()`): `ip:port`, `[ip]:port` for IPv6. */
export function endpointString(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** `KUBE-SEP-…`: one endpoint's DNAT chain; `endpoint` is {@link endpointString}'s form. */
export function servicePortEndpointChainName(servicePortName: string, protocol: string, endpoint: string): string {
  return CHAIN_PREFIX.endpoint + hash16(servicePortName + protocol.toLowerCase() + endpoint);
}
