/**
 * The network plugin's node agent (flanneld as a DaemonSet, calico-node): it watches Nodes,
 * learns every node's lease (podCIDR and address), and programs each node's interfaces,
 * routes, neighbour and FDB entries through the plugin. One controller serves every node,
 * because each node's programming depends on all leases.
 */

import { requireKind } from '../api/scheme.js';
import type { Node } from '../api/types.js';
import { Controller } from '../controllers/controller.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { NetworkPlugin } from '../../plugins/registry.js';

const NODE = requireKind('v1', 'Node');

/** Programs the data plane of every node from the Node objects. */
export class NetworkAgentController extends Controller {
  readonly name: string;
  readonly #network: NetworkPlugin;
  readonly #dataplane: Dataplane;

  constructor(network: NetworkPlugin, dataplane: Dataplane) {
    super();
    this.name = `${network.name}-agent`;
    this.#network = network;
    this.#dataplane = dataplane;
  }

  protected setup(): void {
    this.watch(NODE, () => 'nodes');
  }

  protected reconcile(): void {
    for (const node of this.ctx.store.select(NODE) as readonly Node[]) this.#network.syncNode(node);
    this.#network.program(this.#dataplane.nodes);
  }
}
