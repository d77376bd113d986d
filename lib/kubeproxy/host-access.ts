/**
 * The host's way into the cluster: real TCP listeners that stand for each node's NodePorts (and
 * health-check node ports) and for each load-balancer IP's ports, so `curl` on the host reaches
 * pods through the node's kube-proxy rules — the way a machine next to a kind cluster reaches
 * `172.18.0.2:30080` or a MetalLB address.
 *
 * A connection accepted on a listener becomes a flow from outside the cluster (source: the node
 * network's gateway, {@link Dataplane.externalClient}, with the client's real port) arriving on a
 * node's eth0, decided by that node's tables like any other packet: DNAT by kube-proxy, SNAT
 * under externalTrafficPolicy Cluster, a DROP or REJECT where kube-proxy writes one. An accepted
 * flow is spliced to the pod's real socket; a rejected one is reset at once; a dropped one is held
 * without an answer until the data plane's drop timeout, then reset (the host's client sees a
 * timeout, as it would).
 *
 * - NodePorts (TCP): one listener per node that is up, on the node's loopback address, at the
 *   NodePort number itself when free (else another real port).
 * - Load-balancer IPs (status ingress IPs with ipMode VIP): one loopback address per IP, one
 *   listener per TCP port. The IP is announced by one node, as MetalLB's L2 mode does: for
 *   externalTrafficPolicy Local, the first node (in node order) with a ready local endpoint;
 *   otherwise the first node that is up.
 * - healthCheckNodePort: one listener per node, carried to kube-proxy's health server on that node.
 *
 * The Service's `podnet.dev/host-addresses` annotation maps each virtual `ip:port/TCP` to the
 * real `address:port`, and `podnet up` / `podnet get svc -o wide` print the same map.
 * UDP and SCTP ports are reachable from pods only: no host listener is opened for them.
 */

import type net from 'node:net';
import { PodnetError } from '../core/errors.js';
import { requireKind } from '../api/scheme.js';
import { WellKnown, type EndpointSlice, type Service } from '../api/types.js';
import type { ClusterSpec } from '../api/cluster.js';
import { Controller, keyOfEvent, splitKey } from '../controllers/controller.js';
import { PortMapper } from '../dataplane/addressing.js';
import { FlowError, type Dataplane } from '../dataplane/dataplane.js';

const SERVICE = requireKind('v1', 'Service');
const ENDPOINT_SLICE = requireKind('discovery.k8s.io/v1', 'EndpointSlice');

/** One virtual address the host can reach, and where it really listens. */
export interface HostAccessEntry {
  /** The Service, `ns/name`. */
  service: string;
  /** `ip:port/TCP` as the cluster sees it. */
  virtual: string;
  /** `address:port` on the host. */
  real: string;
  /** The node whose eth0 the flow arrives on. */
  node: string;
  kind: 'NodePort' | 'LoadBalancer' | 'HealthCheckNodePort';
}

interface Listener {
  entry: HostAccessEntry;
  server: net.Server;
  mapper: PortMapper;
  port: number;
  sockets: Set<net.Socket>;
}

/** Options of {@link HostAccessController}. */
export interface HostAccessOptions {
  dataplane: Dataplane;
  /** Nodes currently powered on. */
  isUp(node: string): boolean;
}

/** Opens and closes the host listeners of every Service. States: `created` → `running` → `stopped`. */
export class HostAccessController extends Controller {
  readonly name = 'podnet/host-access';
  readonly #dataplane: Dataplane;
  readonly #isUp: (node: string) => boolean;
  #state: 'created' | 'running' | 'stopped' = 'created';
  /** Port mappers per loopback address (a node's, or a load-balancer IP's). */
  readonly #mappers = new Map<string, PortMapper>();
  /** Listeners per Service key, by virtual. */
  readonly #listeners = new Map<string, Map<string, Listener>>();
  /** Listeners being opened per Service key (`virtual@node`), so a reconcile meanwhile does not open them twice. */
  readonly #opening = new Map<string, Set<string>>();

  constructor(options: HostAccessOptions) {
    super();
    this.#dataplane = options.dataplane;
    this.#isUp = options.isUp;
  }

  protected setup(): void {
    this.#state = 'running';
    this.watch(SERVICE, keyOfEvent);
    this.watch(ENDPOINT_SLICE, (e) => {
      const svc = e.object.metadata.labels?.[WellKnown.serviceName];
      return svc ? `${e.object.metadata.namespace}/${svc}` : undefined;
    });
  }

  /** Re-evaluates every Service (a node went down or came back). */
  resyncAll(): void {
    for (const svc of this.ctx.store.list(SERVICE).items) this.enqueue(keyOfEvent({ type: 'MODIFIED', object: svc }));
    for (const key of this.#listeners.keys()) this.enqueue(key);
  }

  /**
   * What the host can reach for one Service (or all), in a stable order: per Service, node by
   * node (NodePorts, then the health check), then the load-balancer IPs — not the order in which
   * listeners happened to finish opening.
   */
  entries(serviceKey?: string): HostAccessEntry[] {
    const keys = serviceKey ? [serviceKey] : [...this.#listeners.keys()].sort();
    const nodes = new Map(this.ctx.cluster.nodes.map((n, i) => [n.name, i]));
    const rank = (e: HostAccessEntry) => (e.kind === 'LoadBalancer' ? [1, 0, 0] : [0, nodes.get(e.node) ?? 0, e.kind === 'HealthCheckNodePort' ? 1 : 0]);
    const order = (a: HostAccessEntry, b: HostAccessEntry) => {
      const [ra, rb] = [rank(a), rank(b)];
      for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
      const [ia, pa] = splitVirtual(a.virtual);
      const [ib, pb] = splitVirtual(b.virtual);
      return ia < ib ? -1 : ia > ib ? 1 : pa - pb;
    };
    return keys.flatMap((k) => [...(this.#listeners.get(k)?.values() ?? [])].map((l) => l.entry).sort(order));
  }

  protected reconcile(key: string): void {
    if (this.#state !== 'running') return;
    const { namespace, name } = splitKey(key);
    const svc = this.ctx.store.get(SERVICE, namespace, name) as Service | undefined;
    const wanted = svc ? this.#wanted(svc) : [];
    const current = this.#listeners.get(key) ?? new Map<string, Listener>();
    const wantedKeys = new Set(wanted.map((w) => `${w.virtual}@${w.node}`));
    for (const [k, l] of current) {
      if (wantedKeys.has(k)) continue;
      current.delete(k);
      this.#close(l);
    }
    const pending = this.#opening.get(key) ?? new Set<string>();
    const opening = wanted.filter((w) => !current.has(`${w.virtual}@${w.node}`) && !pending.has(`${w.virtual}@${w.node}`));
    if (current.size) this.#listeners.set(key, current);
    else this.#listeners.delete(key);
    if (!opening.length) {
      if (svc) this.#publish(svc, key);
      return;
    }
    for (const w of opening) pending.add(`${w.virtual}@${w.node}`);
    this.#opening.set(key, pending);
    this.trackAsync(
      key,
      Promise.allSettled(opening.map((w) => this.#open(w, key))).then((results) => {
        for (const w of opening) pending.delete(`${w.virtual}@${w.node}`);
        if (!pending.size && this.#opening.get(key) === pending) this.#opening.delete(key);
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason; // retried after back-off
        // The Service may have changed (or gone) while they opened: look again, which also
        // closes what is no longer wanted and publishes the annotation.
        if (this.#state === 'running') this.enqueue(key);
      }),
    );
  }

  /** The listeners a Service should have now. */
  #wanted(svc: Service): { virtual: string; ip: string; port: number; node: string; kind: HostAccessEntry['kind'] }[] {
    const spec = this.ctx.cluster as ClusterSpec;
    const out: { virtual: string; ip: string; port: number; node: string; kind: HostAccessEntry['kind'] }[] = [];
    if (svc.spec.type !== 'NodePort' && svc.spec.type !== 'LoadBalancer') return out;
    const up = spec.nodes.filter((n) => this.#isUp(n.name));
    const tcp = (svc.spec.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP');
    for (const node of up) {
      for (const p of tcp) if (p.nodePort) out.push({ virtual: `${node.address}:${p.nodePort}/TCP`, ip: node.address, port: p.nodePort, node: node.name, kind: 'NodePort' });
      const hc = svc.spec.type === 'LoadBalancer' && svc.spec.externalTrafficPolicy === 'Local' ? svc.spec.healthCheckNodePort : undefined;
      if (hc) out.push({ virtual: `${node.address}:${hc}/TCP`, ip: node.address, port: hc, node: node.name, kind: 'HealthCheckNodePort' });
    }
    if (svc.spec.type === 'LoadBalancer') {
      const announcer = this.#announcer(svc, up.map((n) => n.name));
      const vips = (svc.status?.loadBalancer?.ingress ?? []).filter((i) => i.ip && (i.ipMode === undefined || i.ipMode === 'VIP')).map((i) => i.ip!);
      if (announcer) for (const ip of vips) for (const p of tcp) out.push({ virtual: `${ip}:${p.port}/TCP`, ip, port: p.port, node: announcer, kind: 'LoadBalancer' });
    }
    return out;
  }

  /** MetalLB L2: the node that answers ARP for the Service's IPs. */
  #announcer(svc: Service, up: string[]): string | undefined {
    if (svc.spec.externalTrafficPolicy !== 'Local') return up[0];
    const slices = this.ctx.store.list(ENDPOINT_SLICE, { namespace: svc.metadata.namespace!, labelSelector: `${WellKnown.serviceName}=${svc.metadata.name}` }).items as EndpointSlice[];
    const ready = new Set(slices.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready !== false && e.nodeName).map((e) => e.nodeName!));
    return up.find((n) => ready.has(n));
  }

  async #open(w: { virtual: string; ip: string; port: number; node: string; kind: HostAccessEntry['kind'] }, key: string): Promise<void> {
    const dp = this.#dataplane;
    const loopback = dp.addresses.loopbackOf(w.ip) ?? dp.addresses.allocate(w.ip, `loadbalancer/${w.ip}`);
    let mapper = this.#mappers.get(loopback);
    if (!mapper) this.#mappers.set(loopback, (mapper = new PortMapper({ loopback, virtual: w.ip, sockets: dp.sockets })));
    const owner = `${key} ${w.kind}`;
    const realPort = await mapper.map(w.port, 'TCP', owner);
    const sockets = new Set<net.Socket>();
    const server = await dp.sockets.listenTcp({ host: loopback, port: realPort });
    server.on('connection', (socket) => this.#accept(socket, w.node, w.ip, w.port, sockets));
    const listener: Listener = { entry: { service: key, virtual: w.virtual, real: `${loopback}:${realPort}`, node: w.node, kind: w.kind }, server, mapper, port: w.port, sockets };
    const set = this.#listeners.get(key) ?? new Map<string, Listener>();
    if (this.#state !== 'running') return this.#close(listener);
    const k = `${w.virtual}@${w.node}`;
    const previous = set.get(k);
    if (previous) this.#close(previous);
    set.set(k, listener);
    this.#listeners.set(key, set);
  }

  /** Carries one host connection into the cluster as a flow arriving on `node`'s eth0. */
  #accept(client: net.Socket, node: string, ip: string, port: number, sockets: Set<net.Socket>): void {
    sockets.add(client);
    client.pause();
    client.on('error', () => client.destroy());
    client.on('close', () => sockets.delete(client));
    this.#dataplane
      .dialTcp({ kind: 'external', node }, ip, port, { ...(client.remotePort ? { sport: client.remotePort } : {}) })
      .then(({ socket: upstream }) => {
        if (client.destroyed) return void upstream.destroy();
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      })
      .catch((err: unknown) => {
        // A REJECT (or nothing listening) resets at once; a DROP has already waited out its timeout.
        if (err instanceof FlowError || err instanceof PodnetError) client.resetAndDestroy();
        else client.destroy();
      });
  }

  #close(l: Listener): void {
    l.mapper.release(l.port, 'TCP');
    for (const s of l.sockets) s.destroy();
    l.server.close();
  }

  /** Writes the Service's host-addresses annotation when it changed. */
  #publish(svc: Service, key: string): void {
    const map: Record<string, string> = {};
    for (const e of this.entries(key)) map[e.virtual] = e.real;
    const value = Object.keys(map).length ? JSON.stringify(map) : undefined;
    if (svc.metadata.annotations?.[WellKnown.hostAddresses] === value) return;
    this.ctx.store.patch(SERVICE, svc.metadata.namespace, svc.metadata.name!, 'merge', { metadata: { annotations: { [WellKnown.hostAddresses]: value ?? null } } });
  }

  override stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    super.stop();
    for (const set of this.#listeners.values()) for (const l of set.values()) this.#close(l);
    this.#listeners.clear();
  }
}

/** `ip:port/TCP` → [ip, port]. */
function splitVirtual(virtual: string): [string, number] {
  const slash = virtual.lastIndexOf('/');
  const colon = virtual.lastIndexOf(':', slash);
  return [virtual.slice(0, colon), Number(virtual.slice(colon + 1, slash))];
}
