/**
 * flanneld's data-plane side on each node, as flannel programs a Linux node:
 *
 * - `eth0` with the node's InternalIP, `cni0` (the bridge the CNI `bridge` plugin creates, with
 *   the subnet's first address as the pods' gateway), and per backend:
 * - vxlan: `flannel.1` (VNI 1, UDP 8472, MTU = underlay - 50, address <subnet>.0/32, a MAC per
 *   node), and for every other node's lease the three entries flannel's vxlan backend writes:
 *     route  <lease subnet> via <lease subnet>.0 dev flannel.1 onlink
 *     neigh  <lease subnet>.0 lladdr <remote VTEP MAC> dev flannel.1 PERMANENT
 *     fdb    <remote VTEP MAC> dev flannel.1 dst <remote node IP> self permanent
 * - host-gw: for every other lease, `route <lease subnet> via <remote node IP> dev eth0`.
 *
 * Pod veths are added as the CNI bridge plugin adds them: `veth…` enslaved to cni0.
 *
 * With the flannel Network known (net-conf.json `Network`, podnet's `podSubnet`), flanneld's
 * iptables rules too (pkg/trafficmngr/iptables/iptables.go, flannel v0.25+, `--ip-masq`):
 * nat FLANNEL-POSTRTG from POSTROUTING (no masquerade for kube-proxy-marked flows, nor pod↔pod
 * inside the Network, nor outside→this node's pods; MASQUERADE --random-fully for pods → outside
 * and host → pods), and filter FLANNEL-FWD from FORWARD (ACCEPT to and from the Network).
 */

import { createHash } from 'node:crypto';
import { bounds, formatIP, ipFromValue, mustParseCIDR } from '../../lib/core/ipnet.js';
import type { NodeNetwork } from '../../lib/dataplane/node.js';
import type { CniResult } from '../cni/spec.js';
import type { SubnetLease } from './flannel.js';

/** flannel's VXLAN defaults. */
export const VXLAN = { vni: 1, port: 8472, device: 'flannel.1' } as const;

/** The MAC flannel's VTEP on a node gets (stable per node name). */
export function vtepMac(node: string): string {
  const b = [...createHash('sha256').update(`vtep/${node}`).digest().subarray(0, 6)];
  b[0] = (b[0]! & 0xfe) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function gatewayOf(subnet: string): string {
  const cidr = mustParseCIDR(subnet);
  return formatIP(ipFromValue(cidr.family, bounds(cidr).first + 1n));
}

function networkAddressOf(subnet: string): string {
  const cidr = mustParseCIDR(subnet);
  return formatIP(ipFromValue(cidr.family, cidr.base));
}

/** Programs one node from the leases flannel knows (its own and every other node's). */
export function programFlannelNode(
  net: NodeNetwork,
  self: SubnetLease,
  leases: readonly SubnetLease[],
  options: { backend: 'vxlan' | 'host-gw'; underlayMtu: number; podMtu: number; underlayPrefix?: number; network?: string },
): void {
  const prefix = options.underlayPrefix ?? 16;
  net.addInterface({ name: 'eth0', kind: 'ethernet', mtu: options.underlayMtu, addresses: [`${self.publicIP}/${prefix}`], up: true, mac: vtepMac(`${self.node}/eth0`) });
  const gateway = gatewayOf(self.subnet);
  const subnetPrefix = mustParseCIDR(self.subnet).prefix;
  net.addInterface({ name: 'cni0', kind: 'bridge', mtu: options.podMtu, addresses: [`${gateway}/${subnetPrefix}`], up: true, mac: vtepMac(`${self.node}/cni0`) });
  const underlay = mustParseCIDR(`${self.publicIP}/${prefix}`);
  net.replaceRoute({ dst: `${formatIP(ipFromValue(underlay.family, underlay.base))}/${prefix}`, dev: 'eth0', proto: 'kernel', scope: 'link', src: self.publicIP });
  net.replaceRoute({ dst: mustParseCIDR(self.subnet).text, dev: 'cni0', proto: 'kernel', scope: 'link', src: gateway });
  if (options.backend === 'vxlan') {
    net.addInterface({
      name: VXLAN.device,
      kind: 'vxlan',
      mtu: options.podMtu,
      addresses: [`${networkAddressOf(self.subnet)}/32`],
      up: true,
      mac: vtepMac(self.node),
      vxlan: { vni: VXLAN.vni, port: VXLAN.port, local: self.publicIP, dev: 'eth0' },
    });
  }
  for (const lease of leases) {
    if (lease.node === self.node) continue;
    const subnet = mustParseCIDR(lease.subnet).text;
    if (options.backend === 'vxlan') {
      const gw = networkAddressOf(lease.subnet);
      net.replaceRoute({ dst: subnet, via: gw, dev: VXLAN.device, onlink: true });
      net.replaceNeighbor({ ip: gw, lladdr: vtepMac(lease.node), dev: VXLAN.device, state: 'PERMANENT' });
      net.replaceFdb({ mac: vtepMac(lease.node), dev: VXLAN.device, dst: lease.publicIP, permanent: true });
    } else {
      net.replaceRoute({ dst: subnet, via: lease.publicIP, dev: 'eth0' });
    }
  }
  // Leases that went away take their entries with them.
  const known = new Set(leases.map((l) => mustParseCIDR(l.subnet).text));
  for (const r of [...net.routes]) {
    if ((r.dev === VXLAN.device || (r.dev === 'eth0' && r.via && r.dst !== 'default')) && !known.has(r.dst)) net.deleteRoute(r.dst);
  }
  if (options.network) programFlannelRules(net, mustParseCIDR(options.network).text, mustParseCIDR(self.subnet).text);
}

/** kube-proxy's masquerade mark, which flannel leaves alone (trafficmngr.KubeProxyMark). */
export const KUBE_PROXY_MARK = '0x4000/0x4000';

/**
 * flanneld's iptables rules for one node, as its iptables traffic manager writes them
 * (`masqRules` and `forwardRules`, with --random-fully as on any kernel that has it). Idempotent:
 * a chain that already holds exactly these rules keeps them and their counters.
 */
export function programFlannelRules(net: NodeNetwork, network: string, podCIDR: string): void {
  const nf = net.netfilter;
  const masq = ['-m', 'comment', '--comment', 'flanneld masq'];
  nf.ensureRules('nat', 'FLANNEL-POSTRTG', [
    ['-m', 'mark', '--mark', KUBE_PROXY_MARK, ...masq, '-j', 'RETURN'],
    ['-s', podCIDR, '-d', network, ...masq, '-j', 'RETURN'],
    ['-s', network, '-d', podCIDR, ...masq, '-j', 'RETURN'],
    ['!', '-s', network, '-d', podCIDR, ...masq, '-j', 'RETURN'],
    ['-s', network, '!', '-d', '224.0.0.0/4', ...masq, '-j', 'MASQUERADE', '--random-fully'],
    ['!', '-s', network, '-d', network, ...masq, '-j', 'MASQUERADE', '--random-fully'],
  ]);
  const jumpMasq = [...masq, '-j', 'FLANNEL-POSTRTG'];
  if (!nf.check('nat', 'POSTROUTING', jumpMasq)) nf.append('nat', 'POSTROUTING', jumpMasq);
  const fwd = ['-m', 'comment', '--comment', 'flanneld forward'];
  nf.ensureRules('filter', 'FLANNEL-FWD', [
    ['-s', network, ...fwd, '-j', 'ACCEPT'],
    ['-d', network, ...fwd, '-j', 'ACCEPT'],
  ]);
  const jumpFwd = [...fwd, '-j', 'FLANNEL-FWD'];
  if (!nf.check('filter', 'FORWARD', jumpFwd)) nf.append('filter', 'FORWARD', jumpFwd);
}

/** Adds a pod's veth on the node side, as the bridge plugin does on CNI ADD. */
export function attachPod(net: NodeNetwork, pod: string, result: CniResult): string {
  const host = result.interfaces?.find((i) => i.name.startsWith('veth'));
  const name = host?.name ?? `veth${createHash('sha256').update(pod).digest('hex').slice(0, 8)}`;
  net.addInterface({ name, kind: 'veth', mtu: result.interfaces?.find((i) => i.sandbox)?.mtu ?? 1450, addresses: [], up: true, master: 'cni0', peerPod: pod, ...(host?.mac ? { mac: host.mac } : {}) });
  return name;
}

/** Removes a pod's veth (CNI DEL). */
export function detachPod(net: NodeNetwork, pod: string): void {
  for (const iface of [...net.interfaces.values()]) if (iface.peerPod === pod) net.removeInterface(iface.name);
}
