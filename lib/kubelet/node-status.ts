/**
 * The kubelet's side of node health: the heartbeat Lease, the Node's status, and the healthz
 * endpoint — what the node lifecycle controller watches to tell a running node from a dead one.
 *
 * - **Lease** (pkg/kubelet/nodelease, component-helpers/apimachinery/lease): the kubelet keeps
 *   `kube-node-lease/<node>` (coordination.k8s.io/v1), owned by its Node, with `holderIdentity`
 *   the node name and `leaseDurationSeconds` 40 (`nodeLeaseDurationSeconds`), and renews
 *   `spec.renewTime` every leaseDuration × 0.25 = 10 s (`NodeLeaseRenewIntervalFraction`).
 * - **Node status** (pkg/kubelet/kubelet_node_status.go): every `nodeStatusUpdateFrequency`
 *   (10 s) the kubelet computes its conditions — MemoryPressure, DiskPressure and PIDPressure
 *   False, Ready True with reason KubeletReady, "kubelet is posting ready status" — and posts them
 *   only if they changed or `nodeStatusReportFrequency` (5 min) passed since the last post, each
 *   condition's `lastHeartbeatTime` stamped at the post and `lastTransitionTime` kept unless its
 *   status changed. A node that comes back after being marked Unknown therefore reports Ready at
 *   its first tick.
 * - **healthz**: a real HTTP listener on the node's loopback address, port 10248
 *   (`healthzBindAddress`/`healthzPort`), `GET /healthz` → `ok`. The Node's
 *   `podnet.dev/host-addresses` annotation maps `<InternalIP>:10248/TCP` to the real
 *   `address:port`, so `curl` from the host reaches the node; pods reach it at the node's IP
 *   through the data plane. {@link NodeStatusAgent.serve} is the hook other node agents (kube-proxy's
 *   healthz on 10256) use to add their own listeners to the same map.
 *
 * The agent runs while its node is up: stopping the node stops it, and the heartbeat stops with it.
 */

import http from 'node:http';
import type net from 'node:net';
import { rfc3339, type TimerHandle } from '../core/clock.js';
import { PodnetError } from '../core/errors.js';
import { requireKind } from '../api/scheme.js';
import type { KubeObject } from '../api/meta.js';
import { WellKnown, type Lease, type Node, type NodeCondition } from '../api/types.js';
import { Controller } from '../controllers/controller.js';
import { PortMapper } from '../dataplane/addressing.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import { KUBELET } from './kubelet.js';

const NODE = requireKind('v1', 'Node');
const LEASE = requireKind('coordination.k8s.io/v1', 'Lease');

/** The namespace of node heartbeats. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** kubelet `nodeLeaseDurationSeconds`. */
export const NODE_LEASE_DURATION_SECONDS = 40;
/** `NodeLeaseRenewIntervalFraction`: the lease is renewed every quarter of its duration. */
export const NODE_LEASE_RENEW_INTERVAL_FRACTION = 0.25;
/** kubelet `nodeStatusUpdateFrequency`. */
export const NODE_STATUS_UPDATE_FREQUENCY_MS = 10_000;
/** kubelet `nodeStatusReportFrequency`: post an unchanged status at least this often. */
export const NODE_STATUS_REPORT_FREQUENCY_MS = 5 * 60_000;
/** kubelet `healthzPort`. */
export const KUBELET_HEALTHZ_PORT = 10248;
/** The kubelet's API port, as `status.daemonEndpoints` reports it. */
export const KUBELET_PORT = 10250;


/** The conditions a healthy kubelet reports, in the kubelet's order. */
export const KUBELET_CONDITIONS: readonly Pick<NodeCondition, 'type' | 'status' | 'reason' | 'message'>[] = [
  { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
  { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
  { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
  { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
];

/**
 * The kubelet's conditions at `now`, merged over the Node's current ones: every condition's
 * heartbeat is now, its transition time kept unless its status changes; conditions the kubelet
 * does not own (NetworkUnavailable) are kept as they are.
 */
export function kubeletConditions(current: readonly NodeCondition[], now: string): NodeCondition[] {
  const ours = new Set(KUBELET_CONDITIONS.map((c) => c.type));
  const kept = current.filter((c) => !ours.has(c.type));
  return [
    ...kept,
    ...KUBELET_CONDITIONS.map((c) => {
      const prev = current.find((p) => p.type === c.type);
      const transition = prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now;
      return { ...c, lastHeartbeatTime: now, lastTransitionTime: transition };
    }),
  ];
}

/** `metav1.MicroTime` as it serializes: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** True when two condition lists differ in anything but heartbeat times (`nodeStatusHasChanged`). */
function conditionsChanged(a: readonly NodeCondition[], b: readonly NodeCondition[]): boolean {
  const strip = (cs: readonly NodeCondition[]) => JSON.stringify(cs.map(({ lastHeartbeatTime: _h, ...rest }) => rest));
  return strip(a) !== strip(b);
}

/** Options of {@link NodeStatusAgent}. */
export interface NodeStatusOptions {
  /** Where the healthz listener lives; without one, no listener (and no host-addresses). */
  dataplane?: Dataplane;
  leaseDurationSeconds?: number;
}

/** One node's heartbeat, status and healthz. States: `created` → `running` → `stopped`. */
export class NodeStatusAgent extends Controller {
  readonly name: string;
  readonly nodeName: string;
  readonly #dataplane: Dataplane | undefined;
  readonly #leaseDurationSeconds: number;
  #state: 'created' | 'running' | 'stopped' = 'created';
  #ports: PortMapper | undefined;
  readonly #servers: net.Server[] = [];
  #lastReport = -Infinity;
  #leaseTimer: TimerHandle | undefined;

  constructor(nodeName: string, options: NodeStatusOptions = {}) {
    super();
    this.nodeName = nodeName;
    this.name = `kubelet/${nodeName}/node-status`;
    this.#dataplane = options.dataplane;
    this.#leaseDurationSeconds = options.leaseDurationSeconds ?? NODE_LEASE_DURATION_SECONDS;
  }

  /** The lease renew interval, in milliseconds. */
  get renewIntervalMs(): number {
    return this.#leaseDurationSeconds * 1000 * NODE_LEASE_RENEW_INTERVAL_FRACTION;
  }

  protected setup(): void {
    this.#state = 'running';
    this.enqueue('lease');
    this.enqueue('status');
    if (this.#dataplane) this.trackAsync('healthz', this.serve(KUBELET_HEALTHZ_PORT, http.createServer(healthz)));
  }

  protected reconcile(key: string): void {
    if (this.#state !== 'running') return;
    if (key === 'lease') {
      this.#renewLease();
      this.#armLease();
    } else if (key === 'status') {
      this.#syncStatus();
      this.enqueueAfter('status', NODE_STATUS_UPDATE_FREQUENCY_MS);
    } else if (key === 'host-addresses') {
      this.#publishHostAddresses();
    }
  }

  /**
   * The lease is renewed in the timer itself, at the moment it falls due, as the kubelet's lease
   * controller does on its own clock — so a ManualClock moved a long way at once renews it all
   * along, and the node lifecycle controller (which also runs on the clock) never sees a gap.
   */
  #armLease(): void {
    this.#leaseTimer?.cancel();
    this.#leaseTimer = this.ctx.clock.setTimeout(() => {
      this.#leaseTimer = undefined;
      if (this.#state !== 'running') return;
      try {
        this.#renewLease();
        this.#armLease();
      } catch {
        this.enqueue('lease'); // retried with back-off by the work queue
      }
    }, this.renewIntervalMs);
  }

  /**
   * Serves a node port with a real listener on the node's loopback address (the same port when it
   * is free, as for pods), reachable from pods at the node's IP and from the host through the
   * Node's `podnet.dev/host-addresses`.
   */
  async serve(port: number, server: net.Server): Promise<number> {
    const dataplane = this.#dataplane;
    if (!dataplane) throw new PodnetError('PODNET_NO_DATAPLANE', `node ${this.nodeName} has no data plane to listen on`);
    const nodeIP = dataplane.hostIP(this.nodeName);
    const loopback = nodeIP ? dataplane.addresses.loopbackOf(nodeIP) : undefined;
    if (!nodeIP || !loopback) throw new PodnetError('PODNET_NODE_NOT_FOUND', `node ${this.nodeName} has no address in the data plane`);
    const ports = (this.#ports ??= new PortMapper({ loopback, virtual: nodeIP, sockets: dataplane.sockets }));
    const realPort = await ports.map(port, 'TCP', `node ${this.nodeName}`);
    if (this.#state !== 'running') {
      ports.release(port, 'TCP');
      return realPort;
    }
    await dataplane.sockets.listenTcp({ host: loopback, port: realPort, server });
    if (this.#state !== 'running') {
      server.close();
      return realPort;
    }
    this.#servers.push(server);
    dataplane.setHostEndpoint(this.nodeName, { loopback, listeningPort: (p, protocol) => (protocol === 'SCTP' ? undefined : ports.lookup(p, protocol)) });
    this.enqueue('host-addresses');
    return realPort;
  }

  /** Stops the heartbeat and closes the listeners (the node is powered off). */
  async shutdown(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#leaseTimer?.cancel();
    super.stop();
    this.#dataplane?.setHostEndpoint(this.nodeName, undefined);
    this.#ports?.releaseAll();
    const servers = this.#servers.splice(0);
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }

  override stop(): void {
    void this.shutdown();
  }

  #node(): Node | undefined {
    return this.ctx.store.get(NODE, undefined, this.nodeName) as Node | undefined;
  }

  #renewLease(): void {
    const node = this.#node();
    if (!node) return;
    const now = microTime(this.ctx.clock.now());
    const lease = this.ctx.store.get(LEASE, NODE_LEASE_NAMESPACE, this.nodeName) as Lease | undefined;
    if (!lease) {
      const fresh: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name: this.nodeName,
          namespace: NODE_LEASE_NAMESPACE,
          ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid: node.metadata.uid! }],
        },
        spec: { holderIdentity: this.nodeName, leaseDurationSeconds: this.#leaseDurationSeconds, renewTime: now },
      };
      this.ctx.store.create(fresh as KubeObject);
      return;
    }
    const spec = { ...lease.spec, holderIdentity: this.nodeName, leaseDurationSeconds: this.#leaseDurationSeconds, renewTime: now };
    this.ctx.store.update({ ...lease, spec } as KubeObject);
  }

  #syncStatus(): void {
    const node = this.#node();
    if (!node) return;
    const nowMs = this.ctx.clock.now();
    const now = rfc3339(nowMs);
    const current = (node.status?.conditions ?? []) as NodeCondition[];
    const conditions = kubeletConditions(current, now);
    const changed = conditionsChanged(current, conditions);
    if (!changed && nowMs < this.#lastReport + NODE_STATUS_REPORT_FREQUENCY_MS) return;
    const ready = current.find((c) => c.type === 'Ready');
    const status = { ...(node.status ?? {}), conditions, daemonEndpoints: { kubeletEndpoint: { Port: KUBELET_PORT } } };
    this.ctx.store.update({ ...node, status } as KubeObject, { subresource: 'status' });
    this.#lastReport = nowMs;
    // recordNodeStatusEvent: a node that was NotReady (or Unknown) says it is back.
    if (ready && ready.status !== 'True') {
      this.ctx.recorder.record(node, 'Normal', 'NodeReady', `Node ${this.nodeName} status is now: NodeReady`, KUBELET, this.nodeName);
    }
  }

  #publishHostAddresses(): void {
    const node = this.#node();
    if (!node || !this.#ports) return;
    const value = JSON.stringify(this.#ports.entries());
    if (node.metadata.annotations?.[WellKnown.hostAddresses] === value) return;
    this.ctx.store.patch(NODE, undefined, this.nodeName, 'merge', { metadata: { annotations: { [WellKnown.hostAddresses]: value } } });
  }
}

/** The kubelet's healthz handler: `/healthz` (and its checks) answer `ok`, anything else 404 as Go's mux does. */
function healthz(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://kubelet');
  const checks = ['ping', 'log', 'syncloop'];
  const path = url.pathname;
  const ok = path === '/healthz' || checks.some((c) => path === `/healthz/${c}`);
  const body = !ok ? '404 page not found\n' : path === '/healthz' && url.searchParams.has('verbose') ? `${checks.map((c) => `[+]${c} ok`).join('\n')}\nhealthz check passed\n` : 'ok';
  res.writeHead(ok ? 200 : 404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

