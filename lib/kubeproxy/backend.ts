/**
 * The extension point of kube-proxy's modes: one {@link ProxyBackend} per node programs that
 * node's tables (iptables, nftables or ipvs) from the mode-neutral {@link ProxyInput}. The agent
 * (agent.ts) watches Services and EndpointSlices, decides full or partial syncs, times them and
 * records them; a backend only writes tables. Backends are looked up by mode name in
 * {@link PROXY_MODES}, which rejects an unknown mode with the list of known ones.
 */

import { PodnetError } from '../core/errors.js';
import type { NodeNetwork } from '../dataplane/node.js';
import type { ProxyInput } from './model.js';

/** kube-proxy's modes. */
export const MODES = ['iptables', 'nftables', 'ipvs'] as const;
export type ProxyMode = (typeof MODES)[number];

/** The text formats `podnet rules --format` prints. */
export type RulesFormat = 'iptables-save' | 'nft' | 'ipvs';

/** What one sync wrote. */
export interface SyncStats {
  /** A full sync rewrote everything; a partial one only the changed Services' rules. */
  full: boolean;
  /** Rules (iptables rules, nft rules + set/map elements, ipvs real servers + iptables rules) written by this sync. */
  rulesWritten: number;
  /** Rules the backend's tables hold after the sync. */
  totalRules: number;
  /** Service ports whose own chains/sets/virtual servers were (re)written. */
  servicePortsSynced: number;
  /** Objects left out of this sync because they cannot be proxied (upstream logs and skips them). */
  errors?: string[];
}

/** Options every backend gets. */
export interface BackendOptions {
  /** `--ipvs-scheduler` (ipvs only): rr (default), lc, sh, ... */
  ipvsScheduler?: string;
}

/** One node's kube-proxy tables in one mode. */
export interface ProxyBackend {
  readonly mode: ProxyMode;
  /**
   * Programs the node from the whole current state. `changed` names the Services (`ns/name`)
   * that changed since the previous sync: a backend that can (iptables, nftables) rewrites only
   * their own chains and the shared dispatch chains; undefined asks for a full sync. Throws
   * without changing anything when the input cannot be compiled.
   */
  sync(input: ProxyInput, changed?: ReadonlySet<string>): SyncStats;
  /** Removes everything this backend installed on the node (mode switch, shutdown). */
  cleanup(): void;
  /** The node's tables in a real tool's text format, with counters on request. */
  render(format: RulesFormat, options?: { counters?: boolean }): string;
  /** The formats this backend can render; the first is its own. */
  readonly formats: readonly RulesFormat[];
}

/** Makes a backend for a node. */
export type BackendFactory = (node: NodeNetwork, options: BackendOptions) => ProxyBackend;

const registry = new Map<ProxyMode, BackendFactory>();

/** Registers a mode's backend (each mode's module does this once). */
export function registerProxyMode(mode: ProxyMode, factory: BackendFactory): void {
  registry.set(mode, factory);
}

/** Creates the backend of a mode, or fails naming the known modes. */
export function createBackend(mode: string, node: NodeNetwork, options: BackendOptions = {}): ProxyBackend {
  const factory = registry.get(mode as ProxyMode);
  if (!factory) {
    throw new PodnetError('PODNET_KUBEPROXY_UNKNOWN_MODE', `kube-proxy: unknown mode "${mode}" (known: ${[...registry.keys()].join(', ') || 'none registered'})`);
  }
  return factory(node, options);
}

/** The modes with a registered backend. */
export function registeredModes(): ProxyMode[] {
  return [...registry.keys()];
}
