/**
 * flannel (flannel-io/flannel with its CNI plugin): a subnet lease per node taken from
 * Node.spec.podCIDR (the kube subnet manager, `--kube-subnet-mgr`), the `/run/flannel/subnet.env`
 * flanneld writes from it, and the CNI plugin that reads subnet.env and delegates to `bridge`
 * with host-local IPAM over the node's subnet — the gateway (.1) on cni0, pods from .2 on.
 *
 * Backends: `vxlan` (VNI 1, UDP 8472, MTU = underlay MTU - 50) and `host-gw` (direct routes,
 * MTU = underlay MTU). The data-plane side of the backends (VTEPs, FDB, routes) lives with the
 * node data plane.
 *
 * The CNI plugin is the one the standalone executable runs (plugins/flannel/cni.ts); here each
 * node gets an instance over that node's subnet.env, scratch records and host-local store, all
 * in memory.
 */

import type { ClusterSpec } from '../../lib/api/cluster.js';
import type { Node } from '../../lib/api/types.js';
import { formatIP, ipFromValue, mustParseCIDR, bounds } from '../../lib/core/ipnet.js';
import { BridgePlugin, type BridgeNetConf } from '../bridge/bridge.js';
import { HostLocalIpam } from '../ipam/host-local.js';
import { CURRENT_VERSION, type CniInvocation, type CniResult, type NetConfList } from '../cni/spec.js';
import type { NetworkPlugin } from '../registry.js';
import type { NodeNetwork } from '../../lib/dataplane/node.js';
import { programFlannelNode } from './daemon.js';
import { DEFAULT_SUBNET_FILE, FlannelCni, formatSubnetEnv, MemoryScratch, type FlannelNetConf } from './cni.js';

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
  /** The flannel CNI plugin of each node, over that node's own subnet file and /var/lib/cni. */
  readonly #cni = new Map<string, { plugin: FlannelCni; ipam: HostLocalIpam }>();

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
  /** flanneld on every node: programs its node from all leases (see ./daemon.ts). */
  program(nets: ReadonlyMap<string, NodeNetwork>): void {
    const leases = this.leases();
    for (const lease of leases) {
      const net = nets.get(lease.node);
      if (net) programFlannelNode(net, lease, leases, { backend: this.backend, underlayMtu: this.#cluster.network.mtu, podMtu: this.mtu, network: this.#cluster.network.podSubnet });
    }
  }

  leases(): SubnetLease[] {
    return [...this.#leases.values()];
  }

  /** `/run/flannel/subnet.env` on a node; undefined until the node has a lease. */
  subnetEnv(node: string): string | undefined {
    const lease = this.#leases.get(node);
    if (!lease) return undefined;
    const cidr = mustParseCIDR(lease.subnet);
    const gateway = formatIP(ipFromValue(cidr.family, bounds(cidr).first + 1n));
    return formatSubnetEnv({ networks: [this.#cluster.network.podSubnet], subnet: `${gateway}/${cidr.prefix}`, ipv6Networks: [], mtu: this.mtu, ipmasq: true });
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

  /**
   * The flannel plugin's configuration as the kubelet's runtime hands it over: the conflist's
   * flannel entry with the list's name (podnet speaks the current CNI version in-process).
   */
  #pluginConf(): FlannelNetConf {
    const list = this.confList();
    return { ...(list.plugins[0] as Omit<FlannelNetConf, 'cniVersion' | 'name'>), cniVersion: CURRENT_VERSION, name: list.name, type: 'flannel' };
  }

  /** The bridge configuration the flannel CNI plugin delegates to on a node. */
  delegateConf(node: string): BridgeNetConf {
    return this.#plugin(node).delegateConf(this.#pluginConf());
  }

  #plugin(node: string): FlannelCni {
    return this.#node(node).plugin;
  }

  #node(node: string): { plugin: FlannelCni; ipam: HostLocalIpam } {
    let entry = this.#cni.get(node);
    if (!entry) {
      const ipam = new HostLocalIpam();
      const scratch = new MemoryScratch();
      const plugin = new FlannelCni({
        readSubnetFile: (path) => (path === DEFAULT_SUBNET_FILE ? this.subnetEnv(node) : undefined),
        scratch: () => scratch,
        bridge: new BridgePlugin({ ipam, host: node }),
      });
      this.#cni.set(node, (entry = { plugin, ipam }));
    }
    return entry;
  }

  /** CNI ADD on a node: the flannel plugin, delegating to bridge + host-local. */
  add(node: string, inv: Omit<CniInvocation, 'command'>): CniResult {
    return this.#plugin(node).add(inv, this.#pluginConf());
  }

  /** CNI DEL on a node: releases the pod's address; unknown containers succeed. */
  del(node: string, inv: Omit<CniInvocation, 'command'>): void {
    this.#plugin(node).del(inv, this.#pluginConf());
  }

  /** Addresses reserved on a node (for inspection). */
  reservations(node: string): ReadonlyMap<string, string> {
    return this.#node(node).ipam.reservations('cbr0');
  }
}
