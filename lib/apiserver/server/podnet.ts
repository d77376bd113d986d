/**
 * podnet's own control endpoint on the API server: what has no Kubernetes API — powering an
 * emulated node off and on (`podnet node stop|start NAME`), and what `podnet trace` and
 * `podnet get routes|neigh|fdb|conntrack` show of a running podnet.
 *
 *   GET  /apis/podnet.dev/v1alpha1/nodes               every node's power state
 *   POST /apis/podnet.dev/v1alpha1/nodes/{name}/stop   power a node off
 *   POST /apis/podnet.dev/v1alpha1/nodes/{name}/start  power it on again
 *   GET  /apis/podnet.dev/v1alpha1/nodes/{name}/{routes|neigh|fdb|conntrack|kube-proxy}
 *                                                      a node's table (`NodeTable`, its `text`;
 *                                                      kube-proxy: its sync history)
 *   GET  /apis/podnet.dev/v1alpha1/nodes/{name}/rules[?format=iptables-save|nft|ipvs][&counters=true]
 *                                                      a node's rule tables (`NodeRules`, its `text`)
 *   GET  /apis/podnet.dev/v1alpha1/trace?from=NS/POD&to=IP|NS/POD&port=N[&protocol=P]
 *                                                      the path of a new flow (`Trace`: `text`
 *                                                      as `podnet trace` prints it, `decision`)
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

/** The node tables the endpoint serves. */
export const NODE_TABLES = ['routes', 'neigh', 'fdb', 'conntrack', 'kube-proxy'] as const;
export type NodeTable = (typeof NODE_TABLES)[number];

/** The formats a node's rule tables are printed in (`podnet rules --format`). */
export const RULE_FORMATS = ['iptables-save', 'nft', 'ipvs'] as const;
export type RuleFormat = (typeof RULE_FORMATS)[number];

/** How a node's rule tables are asked for. */
export interface RulesOptions {
  /** Unset: the format of the node's kube-proxy mode (iptables-save, nft or ipvs). */
  format?: RuleFormat;
  /** Rule and chain counters (`iptables-save -c`). */
  counters?: boolean;
}

/** What the control endpoint drives: the running cluster. */
export interface NodePowerControl {
  stopNode(name: string): Promise<NodePowerState>;
  startNode(name: string): Promise<NodePowerState>;
  nodePowerStates(): NodePowerState[];
}

/** Everything the control endpoint serves: node power, node tables and traces. */
export interface PodnetControl extends NodePowerControl {
  nodeTable(node: string, table: NodeTable): string;
  /** A node's rule tables in a {@link RuleFormat}. */
  rules(node: string, options: RulesOptions): string;
  trace(from: string, to: string, port: number, protocol: 'TCP' | 'UDP' | 'SCTP'): { text: string; decision: unknown };
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
export async function servePodnet(path: string, method: string, control: PodnetControl | undefined, res: http.ServerResponse, query: URLSearchParams = new URLSearchParams()): Promise<void> {
  if (!control) throw statusErrors.notFoundPath();
  const rest = path.slice(PODNET_API_PREFIX.length).split('/').filter(Boolean).map(decodeURIComponent);
  if (rest.length === 1 && rest[0] === 'trace') {
    if (method !== 'GET') throw statusErrors.methodNotAllowed(method);
    const from = query.get('from');
    const to = query.get('to');
    const port = Number(query.get('port'));
    const protocol = (query.get('protocol') ?? 'TCP').toUpperCase();
    if (!from || !to || !Number.isInteger(port) || port < 1 || port > 65535 || !['TCP', 'UDP', 'SCTP'].includes(protocol)) {
      throw statusErrors.badRequest('trace needs from=NS/POD, to=IP|NS/POD, port=1-65535 and optionally protocol=TCP|UDP|SCTP');
    }
    const { text, decision } = control.trace(from, to, port, protocol as 'TCP' | 'UDP' | 'SCTP');
    send(res, 200, { apiVersion: 'podnet.dev/v1alpha1', kind: 'Trace', metadata: {}, text, decision });
    return;
  }
  if (rest.length === 3 && rest[0] === 'nodes' && rest[2] === 'rules') {
    if (method !== 'GET') throw statusErrors.methodNotAllowed(method);
    const format = query.get('format') ?? undefined;
    const counters = query.get('counters') ?? 'false';
    if ((format !== undefined && !(RULE_FORMATS as readonly string[]).includes(format)) || !['true', 'false'].includes(counters)) {
      throw statusErrors.badRequest(`rules takes format=${RULE_FORMATS.join('|')} and counters=true|false`);
    }
    const text = control.rules(rest[1]!, { ...(format ? { format: format as RuleFormat } : {}), counters: counters === 'true' });
    send(res, 200, { apiVersion: 'podnet.dev/v1alpha1', kind: 'NodeRules', metadata: { name: rest[1] }, ...(format ? { format } : {}), text });
    return;
  }
  if (rest.length === 3 && rest[0] === 'nodes' && (NODE_TABLES as readonly string[]).includes(rest[2]!)) {
    if (method !== 'GET') throw statusErrors.methodNotAllowed(method);
    const text = control.nodeTable(rest[1]!, rest[2] as NodeTable);
    send(res, 200, { apiVersion: 'podnet.dev/v1alpha1', kind: 'NodeTable', metadata: { name: rest[1] }, table: rest[2], text });
    return;
  }
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
