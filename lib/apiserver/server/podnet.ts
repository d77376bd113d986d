/**
 * podnet's own control endpoint on the API server: what has no Kubernetes API — powering an
 * emulated node off and on (`podnet node stop|start NAME`).
 *
 *   GET  /apis/podnet.dev/v1alpha1/nodes               every node's power state
 *   POST /apis/podnet.dev/v1alpha1/nodes/{name}/stop   power a node off
 *   POST /apis/podnet.dev/v1alpha1/nodes/{name}/start  power it on again
 *
 * Answers are `NodePower` objects (`status.state` running | stopped, `status.changed` false when
 * the node already was in that state); failures are Kubernetes `Status`es — an unknown node is
 * 404 NotFound `nodes "x" not found`, as `kubectl get node x` says. The paths are served but not
 * advertised in discovery, so kubectl and client libraries never see a group they cannot use.
 *
 * The server only knows the {@link NodePowerControl} interface; the running cluster implements it
 * (lib/cluster.ts), so nothing here depends on the layers above.
 */

import type http from 'node:http';
import { statusErrors } from './status.js';
import { send } from './resources.js';

/** The path prefix of podnet's control endpoint. */
export const PODNET_API_PREFIX = '/apis/podnet.dev/v1alpha1';

/** A node's power state. */
export interface NodePowerState {
  node: string;
  state: 'running' | 'stopped';
  /** False when the node already was in this state. */
  changed: boolean;
}

/** What the control endpoint drives: the running cluster. */
export interface NodePowerControl {
  stopNode(name: string): Promise<NodePowerState>;
  startNode(name: string): Promise<NodePowerState>;
  nodePowerStates(): NodePowerState[];
}

/** The `NodePower` object a power state is answered as. */
export function nodePowerObject(s: NodePowerState): Record<string, unknown> {
  return { apiVersion: 'podnet.dev/v1alpha1', kind: 'NodePower', metadata: { name: s.node }, status: { state: s.state, changed: s.changed } };
}

/** True for a path of the control endpoint. */
export function isPodnetPath(path: string): boolean {
  return path === PODNET_API_PREFIX || path.startsWith(`${PODNET_API_PREFIX}/`);
}

/** Serves one request on the control endpoint; throws a StatusError (or PodnetError) to fail. */
export async function servePodnet(path: string, method: string, control: NodePowerControl | undefined, res: http.ServerResponse): Promise<void> {
  if (!control) throw statusErrors.notFoundPath();
  const rest = path.slice(PODNET_API_PREFIX.length).split('/').filter(Boolean).map(decodeURIComponent);
  if (rest.length === 1 && rest[0] === 'nodes') {
    if (method !== 'GET') throw statusErrors.methodNotAllowed(method);
    send(res, 200, { apiVersion: 'podnet.dev/v1alpha1', kind: 'NodePowerList', metadata: {}, items: control.nodePowerStates().map(nodePowerObject) });
    return;
  }
  if (rest.length === 3 && rest[0] === 'nodes' && (rest[2] === 'stop' || rest[2] === 'start')) {
    if (method !== 'POST') throw statusErrors.methodNotAllowed(method);
    const name = rest[1]!;
    const state = rest[2] === 'stop' ? await control.stopNode(name) : await control.startNode(name);
    send(res, 200, nodePowerObject(state));
    return;
  }
  throw statusErrors.notFoundPath();
}
