/**
 * The network plugin registry: the extension point for CNI plugins. A topology names a plugin;
 * an unknown name is rejected with the list of known ones.
 */

import { PodnetError } from '../lib/core/errors.js';
import type { ClusterSpec } from '../lib/api/cluster.js';
import type { Node } from '../lib/api/types.js';
import type { CniInvocation, CniResult } from './cni/spec.js';
import type { NodeNetwork } from '../lib/dataplane/node.js';
import { FlannelNetwork } from './flannel/flannel.js';

/**
 * A cluster network: its per-node daemon side (leases, routes) and the CNI operations the
 * kubelet of each node invokes.
 */
export interface NetworkPlugin {
  readonly name: string;
  /** The MTU pod interfaces get. */
  readonly mtu: number;
  /** The node's daemon learns its Node object (podCIDR, addresses). */
  syncNode(node: Node): void;
  /** CNI ADD of a pod sandbox on a node. */
  add(node: string, inv: Omit<CniInvocation, 'command'>): CniResult;
  /** CNI DEL of a pod sandbox on a node; succeeds for unknown containers. */
  del(node: string, inv: Omit<CniInvocation, 'command'>): void;
  /** The plugin's daemon programs every node's interfaces, routes, neighbours and FDB. */
  program(nets: ReadonlyMap<string, NodeNetwork>): void;
}

const REGISTRY: Record<string, (cluster: ClusterSpec) => NetworkPlugin> = {
  flannel: (cluster) => new FlannelNetwork(cluster),
};

/** Names of the plugins podnet can run. */
export function knownNetworkPlugins(): string[] {
  return Object.keys(REGISTRY).sort();
}

/** Creates the plugin a topology names. */
export function createNetworkPlugin(cluster: ClusterSpec): NetworkPlugin {
  const factory = REGISTRY[cluster.network.plugin];
  if (!factory) {
    throw new PodnetError(
      'PODNET_UNKNOWN_PLUGIN',
      `network plugin "${cluster.network.plugin}" is not available; available plugins: ${knownNetworkPlugins().join(', ')}`,
    );
  }
  return factory(cluster);
}
