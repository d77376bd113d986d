/**
 * flannel (flannel-io/flannel with its CNI plugin): a subnet lease per node taken from
 * Node.spec.podCIDR (the kube subnet manager, `--kube-subnet-mgr`), the `/run/flannel/subnet.env`
 * flanneld writes from it, and the CNI plugin that reads subnet.env and delegates to `bridge`
 * with host-local IPAM over the node's subnet — the gateway (.1) on cni0, pods from .2 on.
 *
 * Backends: `vxlan` (VNI 1, UDP 8472, MTU = underlay MTU - 50) and `host-gw` (direct routes,
 * MTU = underlay MTU). The data-plane side of the backends (VTEPs, FDB, routes) lives with the
 * node data plane.
 */

import { createHash } from 'node:crypto';

import type { ClusterSpec } from '../../lib/api/cluster.js';
import type { Node } from '../../lib/api/types.js';
import { formatIP, ipFromValue, mustParseCIDR, bounds } from '../../lib/core/ipnet.js';
import { HostLocalIpam } from '../ipam/host-local.js';
import { CniError, CniErrorCode, CURRENT_VERSION, type CniInvocation, type CniResult, type NetConf, type NetConfList } from '../cni/spec.js';
import type { NetworkPlugin } from '../registry.js';

/** flannel's VXLAN overhead: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

/** A node's lease, as flanneld sees it. */
export interface SubnetLease {
  node: string;
  subnet: string;
  publicIP: string;
}

/** The flannel network plugin. */
export class FlannelNetwork implements NetworkPlugin {
  readonly name = 'flannel';
  readonly backend: 'vxlan' | 'host-gw';
  readonly #cluster: ClusterSpec;
  readonly #leases = new Map<string, SubnetLease>();
  /** One host-local store per node: each node's /var/lib/cni is its own. */
  readonly #ipam = new Map<string, HostLocalIpam>();

  constructor(cluster: ClusterSpec) {
    this.#cluster = cluster;
    this.backend = (cluster.network.backend ?? 'vxlan') as 'vxlan' | 'host-gw';
  }

  /** The MTU pods get. */
  get mtu(): number {
    return this.backend === 'vxlan' ? this.#cluster.network.mtu - VXLAN_OVERHEAD : this.#cluster.network.mtu;
  }

  /** Takes the node's lease from its podCIDR (kube subnet manager). */
  syncNode(node: Node): void {
    const name = node.metadata.name!;
    const subnet = node.spec?.podCIDR;
    if (!subnet) {
      this.#leases.delete(name);
      return;
    }
    const publicIP = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
    this.#leases.set(name, { node: name, subnet, publicIP });
  }

  /** The node's lease, if it has one. */
  lease(node: string): SubnetLease | undefined {
    return this.#leases.get(node);
  }

  /** Every lease, as flanneld on each node learns them. */
  leases(): SubnetLease[] {
    return [...this.#leases.values()];
  }

  /** `/run/flannel/subnet.env` on a node. */
  subnetEnv(node: string): string {
    const lease = this.#requireLease(node);
    const cidr = mustParseCIDR(lease.subnet);
    const gateway = formatIP(ipFromValue(cidr.family, bounds(cidr).first + 1n));
    return [
      `FLANNEL_NETWORK=${this.#cluster.network.podSubnet}`,
      `FLANNEL_SUBNET=${gateway}/${cidr.prefix}`,
      `FLANNEL_MTU=${this.mtu}`,
      'FLANNEL_IPMASQ=true',
      '',
    ].join('\n');
  }

  /** `/etc/cni/net.d/10-flannel.conflist`, as kube-flannel.yml installs it. */
  confList(): NetConfList {
    return {
      name: 'cbr0',
      cniVersion: '0.3.1',
      plugins: [
        { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    };
  }

  /** The bridge configuration the flannel CNI plugin delegates to on a node. */
  delegateConf(node: string): NetConf {
    const lease = this.#requireLease(node);
    const cidr = mustParseCIDR(lease.subnet);
    const gateway = formatIP(ipFromValue(cidr.family, bounds(cidr).first + 1n));
    return {
      cniVersion: CURRENT_VERSION,
      name: 'cbr0',
      type: 'bridge',
      bridge: 'cni0',
      mtu: this.mtu,
      isGateway: true,
      isDefaultGateway: true,
      hairpinMode: true,
      ipMasq: false,
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet: cidr.text, gateway }]],
        routes: [{ dst: this.#cluster.network.podSubnet }],
      },
    };
  }

  #requireLease(node: string): SubnetLease {
    const lease = this.#leases.get(node);
    if (!lease) {
      throw new CniError(CniErrorCode.TryAgainLater, `failed to load flannel 'subnet.env' file: open /run/flannel/subnet.env: no such file or directory (node ${node} has no podCIDR yet)`);
    }
    return lease;
  }

  #hostLocal(node: string): HostLocalIpam {
    let ipam = this.#ipam.get(node);
    if (!ipam) this.#ipam.set(node, (ipam = new HostLocalIpam()));
    return ipam;
  }

  /** CNI ADD on a node: bridge + host-local, as the flannel plugin's delegate does. */
  add(node: string, inv: Omit<CniInvocation, 'command'>): CniResult {
    const conf = this.delegateConf(node);
    const ipam = this.#hostLocal(node).add(inv, conf);
    const hash = createHash('sha256').update(`${node}/${inv.containerId}/${inv.ifName}`).digest();
    const gateway = ipam.ips[0]?.gateway;
    return {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: 'cni0', mac: macFrom(createHash('sha256').update(`${node}/cni0`).digest()) },
        { name: `veth${hash.subarray(6, 10).toString('hex')}`, mac: macFrom(hash.subarray(10)) },
        { name: inv.ifName, mac: macFrom(hash), mtu: this.mtu, sandbox: inv.netns },
      ],
      ips: ipam.ips.map((ip) => ({ ...ip, interface: 2 })),
      routes: [...ipam.routes, ...(gateway ? [{ dst: '0.0.0.0/0', gw: gateway }] : [])],
      dns: {},
    };
  }

  /** CNI DEL on a node: releases the pod's address; unknown containers succeed. */
  del(node: string, inv: Omit<CniInvocation, 'command'>): void {
    this.#hostLocal(node).del(inv, { name: 'cbr0' });
  }

  /** Addresses reserved on a node (for inspection). */
  reservations(node: string): ReadonlyMap<string, string> {
    return this.#hostLocal(node).reservations('cbr0');
  }
}

/** A locally administered unicast MAC from hash bytes. */
function macFrom(bytes: Uint8Array): string {
  const b = [...bytes.subarray(0, 6)];
  b[0] = (b[0]! & 0xfe) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

