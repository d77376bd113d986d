/**
 * kube-proxy on one node: watches Services and EndpointSlices (and its own Node, for the zone
 * topology hints are matched against) and programs the node's tables through the backend of the
 * Cluster document's mode (backend.ts) — as cmd/kube-proxy runs one proxier per node.
 *
 * Syncs follow upstream's shape (pkg/proxy/iptables/proxier.go syncProxyRules,
 * pkg/proxy/nftables/proxier.go): the first sync, and any sync after a failed one, is full; after
 * that a sync is partial — the backend rewrites only the chains of the Services that changed
 * since the previous sync (tracked here from watch events, as the ServiceChangeTracker and
 * EndpointsChangeTracker do) plus the shared dispatch chains. Changes that arrive together are
 * synced together: a sync is one work-queue item, deduplicated while queued.
 *
 * Each sync is recorded (time, wall-clock duration of the compile-and-load, full or partial,
 * rules written and held, Services synced, error) in a bounded history that `podnet get
 * kube-proxy --node N` prints, and published on the `podnet:kube-proxy:sync` channel.
 *
 * Stale UDP flows (pkg/proxy/conntrack/cleanup.go): when an endpoint of a UDP service port goes
 * away, the node's conntrack entries whose reply comes from it are deleted, so a client that keeps
 * its source port is sent to a live endpoint instead of into the void until the entry times out.
 */

import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dataplane } from '../dataplane/dataplane.js';
import { canonicalJson } from '../core/json.js';
import { requireKind } from '../api/scheme.js';
import { WellKnown, type EndpointSlice, type Node, type Service } from '../api/types.js';
import type { ClusterSpec } from '../api/cluster.js';
import { Controller, keyOfEvent } from '../controllers/controller.js';
import type { WatchEvent } from '../apiserver/store.js';
import type { NodeNetwork } from '../dataplane/node.js';
import { createBackend, type ProxyBackend, type RulesFormat, type SyncStats } from './backend.js';
import { usableInput, type ProxyInput, type ServicePortState } from './model.js';
import { endpointString } from './naming.js';

const SERVICE = requireKind('v1', 'Service');
const ENDPOINT_SLICE = requireKind('discovery.k8s.io/v1', 'EndpointSlice');
const NODE = requireKind('v1', 'Node');

/** The channel each sync is published on: a {@link SyncRecord} plus `node`. */
export const KUBE_PROXY_SYNC_CHANNEL = 'podnet:kube-proxy:sync';
const syncChannel = diagnosticsChannel.channel(KUBE_PROXY_SYNC_CHANNEL);

/** How many syncs a node keeps in its history. */
export const SYNC_HISTORY = 50;

/** One sync, as recorded. */
export interface SyncRecord extends Partial<SyncStats> {
  /** Sequence number on this node, from 1. */
  seq: number;
  /** Cluster-clock time the sync ran (ms). */
  at: number;
  /** Wall-clock time the compile and load took (ms). */
  durationMs: number;
  full: boolean;
  /** The Services (`ns/name`) it was for; empty for a full sync. */
  services: string[];
  /** Why it failed; the tables were left as they were. */
  error?: string;
}

/** Options of {@link KubeProxyAgent}. */
export interface KubeProxyOptions {
  /** The node's network the backend programs. */
  network: NodeNetwork;
  /** Overrides the Cluster document's mode. */
  mode?: ClusterSpec['kubeProxy']['mode'];
  /** Where the health-check node port servers listen; without it, none. */
  dataplane?: Dataplane;
}

interface HealthServer {
  port: number;
  server: http.Server;
  /** Ready local endpoints, as the last sync counted them. */
  endpoints: number;
}

/** One node's kube-proxy. States: `created` → `running` → `stopped`. */
export class KubeProxyAgent extends Controller {
  readonly name: string;
  readonly nodeName: string;
  readonly #network: NodeNetwork;
  readonly #modeOverride: KubeProxyOptions['mode'];
  #backend: ProxyBackend | undefined;
  #state: 'created' | 'running' | 'stopped' = 'created';
  /** Services changed since the last successful sync; undefined: the next sync is full. */
  #changed: Set<string> | undefined;
  #history: SyncRecord[] = [];
  #seq = 0;
  /** UDP endpoints (`ip:port`) per UDP service port name at the last sync, for conntrack cleanup. */
  #udpEndpoints = new Map<string, Set<string>>();
  /** The node's zone label as last seen. */
  #zone: string | undefined;
  /** What kube-proxy reads of each Service (spec, status), to ignore metadata-only writes. */
  #seen = new Map<string, string>();
  /** What kube-proxy reads of each EndpointSlice, by slice key. */
  #seenSlices = new Map<string, SliceInfo>();
  readonly #dataplane: Dataplane | undefined;
  /** Health-check node port servers per Service key (pkg/proxy/healthcheck/service_health.go). */
  readonly #health = new Map<string, HealthServer>();
  #unregisterHealth: (() => void) | undefined;

  constructor(nodeName: string, options: KubeProxyOptions) {
    super();
    this.nodeName = nodeName;
    this.name = `kube-proxy/${nodeName}`;
    this.#network = options.network;
    this.#modeOverride = options.mode;
    this.#dataplane = options.dataplane;
  }

  /** The mode this agent programs. */
  get mode(): string {
    return this.#backend?.mode ?? this.#modeOverride ?? this.ctx.cluster.kubeProxy.mode;
  }

  /** The backend (for rendering and tests). */
  get backend(): ProxyBackend | undefined {
    return this.#backend;
  }

  /** The recorded syncs, oldest first. */
  get history(): readonly SyncRecord[] {
    return this.#history;
  }

  protected setup(): void {
    const spec = this.ctx.cluster;
    this.#backend = createBackend(this.#modeOverride ?? spec.kubeProxy.mode, this.#network, { ...(spec.kubeProxy.ipvsScheduler ? { ipvsScheduler: spec.kubeProxy.ipvsScheduler } : {}) });
    this.#state = 'running';
    this.#changed = undefined;
    this.watch(SERVICE, (e) => {
      const key = keyOfEvent(e);
      // A write that changes only metadata (an annotation) does not concern kube-proxy.
      const seen = e.type === 'DELETED' ? undefined : canonicalJson({ spec: e.object.spec, status: e.object.status });
      if (seen !== undefined && this.#seen.get(key) === seen) return undefined;
      if (seen === undefined) this.#seen.delete(key);
      else this.#seen.set(key, seen);
      return this.#noteChange(key);
    });
    this.watch(ENDPOINT_SLICE, (e) => {
      // As EndpointSliceCache.esInfoChanged: only the endpoints and ports matter, so a write that
      // changes nothing else (the labels the controller copies from its Service) is no change.
      const key = keyOfEvent(e);
      const before = this.#seenSlices.get(key);
      const after = e.type === 'DELETED' ? undefined : sliceInfo(e.object as EndpointSlice);
      if (after === undefined) this.#seenSlices.delete(key);
      else this.#seenSlices.set(key, after);
      if (before?.info === after?.info) return undefined;
      const keys = new Set([before?.service, after?.service].filter((k): k is string => !!k));
      for (const k of keys) this.#noteChange(k);
      return keys.size ? 'sync' : undefined;
    });
    // The node's zone decides which topology hints apply: a label change resyncs everything.
    this.watch(NODE, (e: WatchEvent) => {
      if (e.object.metadata.name !== this.nodeName || e.type === 'DELETED') return undefined;
      const zone = e.object.metadata.labels?.[WellKnown.zone];
      if (zone === this.#zone) return undefined;
      this.#zone = zone;
      this.#changed = undefined;
      return 'sync';
    });
    this.enqueue('sync');
  }

  #noteChange(service: string): string {
    this.#changed?.add(service);
    return 'sync';
  }

  protected reconcile(key: string): void {
    if (key !== 'sync' || this.#state !== 'running' || !this.#backend) return;
    this.#sync(this.#backend);
  }

  #input(): ProxyInput {
    const store = this.ctx.store;
    const node = store.get(NODE, undefined, this.nodeName) as Node | undefined;
    const zone = node?.metadata.labels?.[WellKnown.zone];
    this.#zone = zone;
    const nodeIPs = (node?.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address);
    return {
      services: store.list(SERVICE).items as Service[],
      endpointSlices: store.list(ENDPOINT_SLICE).items as EndpointSlice[],
      nodeName: this.nodeName,
      ...(zone ? { zone } : {}),
      nodeIPs,
      clusterCIDR: this.ctx.cluster.network.podSubnet,
      serviceCIDRs: [this.ctx.cluster.network.serviceSubnet],
    };
  }

  #sync(backend: ProxyBackend): void {
    const changed = this.#changed;
    const input = this.#input();
    const started = performance.now();
    const record: SyncRecord = { seq: ++this.#seq, at: this.ctx.clock.now(), durationMs: 0, full: changed === undefined, services: changed ? [...changed].sort() : [] };
    try {
      const stats = backend.sync(input, changed);
      Object.assign(record, stats);
      record.durationMs = performance.now() - started;
      this.#changed = new Set();
      // The backend skipped what does not compile; so do these (one pass over the state for both).
      const { state } = usableInput(input);
      this.#cleanupStaleUdp(state);
      this.#syncHealthServers(state);
    } catch (err) {
      record.durationMs = performance.now() - started;
      record.error = err instanceof Error ? err.message : String(err);
      // The tables were left as they were: the next sync must rewrite everything.
      this.#changed = undefined;
      this.#push(record);
      throw err;
    }
    this.#push(record);
  }

  #push(record: SyncRecord): void {
    this.#history.push(record);
    if (this.#history.length > SYNC_HISTORY) this.#history.splice(0, this.#history.length - SYNC_HISTORY);
    if (syncChannel.hasSubscribers) syncChannel.publish({ node: this.nodeName, ...record });
  }

  /** Deletes conntrack entries of UDP flows whose endpoint is gone (conntrack.CleanStaleEntries). */
  #cleanupStaleUdp(state: readonly ServicePortState[]): void {
    const now = new Map<string, Set<string>>();
    for (const { port: sp, endpoints } of state) {
      if (sp.protocol !== 'udp') continue;
      now.set(sp.name, new Set(endpoints.filter((e) => e.ready || (e.serving && e.terminating)).map((e) => e.text)));
    }
    const gone = new Set<string>();
    for (const [name, before] of this.#udpEndpoints) {
      const after = now.get(name);
      for (const text of before) if (!after?.has(text)) gone.add(text);
    }
    if (gone.size) this.#network.conntrack.deleteWhere((e) => e.original.protocol === 'UDP' && gone.has(endpointString(e.reply.src, e.reply.sport)));
    this.#udpEndpoints = now;
  }

  /**
   * kube-proxy's service health server: for each LoadBalancer Service with externalTrafficPolicy
   * Local, an HTTP server at the node's IP and the Service's healthCheckNodePort answering with
   * the number of ready local endpoints — 200 when there are some, 503 when none — so a load
   * balancer sends traffic only to nodes that have endpoints.
   */
  #syncHealthServers(state: readonly ServicePortState[]): void {
    const dp = this.#dataplane;
    if (!dp) return;
    const wanted = new Map<string, { port: number; endpoints: number }>();
    for (const { port: sp, endpoints } of state) {
      if (!sp.healthCheckNodePort) continue;
      const key = `${sp.namespace}/${sp.serviceName}`;
      const local = endpoints.filter((e) => e.local && e.ready).length;
      // Upstream keeps one count per Service; the last port read wins there too.
      wanted.set(key, { port: sp.healthCheckNodePort, endpoints: local });
    }
    for (const [key, h] of this.#health) {
      if (wanted.get(key)?.port === h.port) continue;
      h.server.close();
      this.#health.delete(key);
    }
    const nodeIP = dp.hostIP(this.nodeName);
    const loopback = nodeIP ? dp.addresses.loopbackOf(nodeIP) : undefined;
    if (!loopback) return;
    for (const [key, w] of wanted) {
      const existing = this.#health.get(key);
      if (existing) {
        existing.endpoints = w.endpoints;
        continue;
      }
      const [namespace, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
      const entry: HealthServer = { port: w.port, endpoints: w.endpoints, server: http.createServer((_req, res) => serviceHealth(res, namespace, name, entry.endpoints)) };
      this.#health.set(key, entry);
      this.trackAsync(`health/${key}`, dp.sockets.listenTcp({ host: loopback, port: 0, server: entry.server }));
    }
    this.#unregisterHealth ??= dp.addHostEndpoint(this.nodeName, {
      loopback,
      listeningPort: (port, protocol) => {
        if (protocol !== 'TCP') return undefined;
        for (const h of this.#health.values()) {
          const address = h.server.address();
          if (h.port === port && address && typeof address === 'object') return address.port;
        }
        return undefined;
      },
    });
  }

  /** The node's tables as a real tool prints them. */
  render(format?: RulesFormat, options: { counters?: boolean } = {}): string {
    const backend = this.#backend;
    if (!backend) return '';
    return backend.render(format ?? backend.formats[0]!, options);
  }

  /** Removes what this kube-proxy installed (the node goes down or the cluster stops). */
  override stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    super.stop();
    this.#unregisterHealth?.();
    for (const h of this.#health.values()) h.server.close();
    this.#health.clear();
  }
}

/** service_health.go hcHandler: the JSON body, dedented and trimmed as upstream prints it. */
function serviceHealth(res: http.ServerResponse, namespace: string, name: string, endpoints: number): void {
  const body = ['{', '\t"service": {', `\t\t"namespace": ${JSON.stringify(namespace)},`, `\t\t"name": ${JSON.stringify(name)}`, '\t},', `\t"localEndpoints": ${endpoints},`, '\t"serviceProxyHealthy": true', '}'].join('\n');
  // X-Load-Balancing-Endpoint-Weight: the same count, for weighted load balancers (kubernetes#118999, v1.28).
  res.writeHead(endpoints > 0 ? 200 : 503, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff', 'X-Load-Balancing-Endpoint-Weight': String(endpoints), 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

interface SliceInfo {
  /** The Service (`ns/name`) the slice belongs to. */
  service: string | undefined;
  /** Its address type, ports and endpoints, in a canonical order (endpointSliceInfo). */
  info: string;
}

/** What kube-proxy reads of a slice (endpointslicecache.go newEndpointSliceInfo: ports and endpoints, sorted). */
function sliceInfo(slice: EndpointSlice): SliceInfo {
  const name = slice.metadata.labels?.[WellKnown.serviceName];
  const ports = (slice.ports ?? []).map(canonicalJson).sort();
  const endpoints = (slice.endpoints ?? []).map(canonicalJson).sort();
  return { service: name ? `${slice.metadata.namespace}/${name}` : undefined, info: canonicalJson({ service: name, addressType: slice.addressType, ports, endpoints }) };
}


