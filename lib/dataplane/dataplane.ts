/**
 * The cluster's data plane: every node's network state, the flow pipeline that decides each new
 * flow, and the sockets that then carry it.
 *
 * A flow from a pod is decided by the {@link Pipeline} (hooks, routing, overlay, links); if it is
 * accepted, a real socket is opened from the loopback address that stands for the flow's source
 * *after* NAT to the loopback address and real port of the destination sandbox — so the server
 * sees the source address Kubernetes would show it, mapped back to its virtual IP. A dropped flow
 * fails as the kernel's would: after a timeout (ETIMEDOUT; the emulated timeout is an option so
 * tests can shorten it); a rejected one fails at once (ECONNREFUSED / EHOSTUNREACH).
 *
 * An SCTP flow is decided as SCTP and carried over a real TCP connection (lib/dataplane/sctp.ts).
 */

import type { Socket } from 'node:net';
import type dgram from 'node:dgram';
import { PodnetError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import { SeededRng, type Rng } from '../core/rng.js';
import { createSocketFactory, type SocketFactory } from '../core/sockets.js';
import type { ClusterSpec, LinkSpec } from '../api/cluster.js';
import { Conntrack, type FlowTuple } from './conntrack.js';
import { NodeNetwork } from './node.js';
import { NODE_DOWN, Pipeline, type Attachment, type FlowDecision, type FlowOrigin } from './pipeline.js';
import { TCP_SYN_RETRIES, datagramDelayMs, describeShape, planHandshake, relayTcp } from './shaping.js';
import { LoopbackAllocator } from './addressing.js';
import { SctpAssociation, trackAssociation } from './sctp.js';

/** A flow that did not get through, with the errno a real socket would report. */
export class FlowError extends PodnetError {
  readonly errno: 'ECONNREFUSED' | 'EHOSTUNREACH' | 'ETIMEDOUT';
  readonly decision: FlowDecision | undefined;
  constructor(errno: FlowError['errno'], message: string, decision?: FlowDecision) {
    super('PODNET_FLOW_FAILED', `${errno}: ${message}`);
    this.errno = errno;
    this.decision = decision;
  }
}

/** What the data plane needs to know about a running sandbox. */
export interface SandboxEndpoint {
  /** `namespace/name`. */
  readonly key: string;
  readonly node: string;
  /** Virtual IPs, primary first. */
  readonly ips: readonly string[];
  /** The loopback address its sockets use. */
  readonly loopback: string;
  /** The real port a container port listens on, if something listens there (SCTP: a TCP port). */
  listeningPort(port: number, protocol: 'TCP' | 'UDP' | 'SCTP'): number | undefined;
}

/** A node's own listener (the kubelet's healthz; later kube-proxy's): reachable at the node's IP. */
export interface HostEndpoint {
  /** The node's loopback address. */
  readonly loopback: string;
  /** The real port a node port listens on, if something listens there. */
  listeningPort(port: number, protocol: 'TCP' | 'UDP' | 'SCTP'): number | undefined;
}

/** Options of {@link Dataplane}. */
export interface DataplaneOptions {
  clock?: Clock;
  rng?: Rng;
  sockets?: SocketFactory;
  /** How long a dropped flow hangs before failing with ETIMEDOUT (default 10 s). */
  dropTimeoutMs?: number;
}

/** The cluster's data plane. */
export class Dataplane {
  readonly nodes = new Map<string, NodeNetwork>();
  readonly addresses = new LoopbackAllocator();
  readonly pipeline: Pipeline;
  readonly sockets: SocketFactory;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #links: LinkSpec[];
  readonly #hosts = new Map<string, string>(); // node IP -> node name
  readonly #sandboxes = new Map<string, SandboxEndpoint>(); // key -> sandbox
  readonly #byIp = new Map<string, SandboxEndpoint>();
  readonly #dropTimeoutMs: number;
  readonly #down = new Set<string>();
  readonly #hostEndpoints = new Map<string, Set<HostEndpoint>>(); // node -> its listeners
  /** The kubelet's listeners per node (setHostEndpoint), one of the node's host endpoints. */
  readonly #kubeletEndpoints = new Map<string, HostEndpoint>();
  #ephemeral = 0;
  /**
   * The address a client outside the cluster has as the nodes see it: the node network's
   * gateway (kind's docker bridge, 172.18.0.1), the source of host traffic to NodePorts and
   * load-balancer IPs.
   */
  readonly externalClient: string;

  constructor(cluster: ClusterSpec, options: DataplaneOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#rng = options.rng ?? new SeededRng(cluster.seed ?? 0);
    this.sockets = options.sockets ?? createSocketFactory();
    this.#links = cluster.links;
    this.#dropTimeoutMs = options.dropTimeoutMs ?? 10_000;
    for (const n of cluster.nodes) {
      this.nodes.set(n.name, new NodeNetwork(n.name, new Conntrack(this.#clock)));
      this.#hosts.set(n.address, n.name);
      this.addresses.allocate(n.address, `node/${n.name}`);
    }
    this.externalClient = gatewayOf(cluster.nodes.map((n) => n.address));
    // Every node's default route leaves through eth0 to the node network's gateway (kind's docker
    // bridge): where a packet for an address nothing on the node routes goes — and where it
    // crosses FORWARD, so kube-proxy's REJECT for a Service without endpoints is reached.
    for (const net of this.nodes.values()) net.replaceRoute({ dst: 'default', via: this.externalClient, dev: 'eth0' });
    this.pipeline = new Pipeline({
      nodes: this.nodes,
      resolve: (ip) => this.resolve(ip),
      link: (a, b) => this.#link(a, b),
      isDown: (node) => this.#down.has(node),
      rng: this.#rng,
    });
  }

  /**
   * Powers a node off (or on again): nothing on it sends, and flows towards it get no answer —
   * through the overlay they time out, routed straight to its address they fail as ARP does
   * (EHOSTUNREACH after the drop timeout). Its sandboxes are the kubelet's to close.
   */
  setNodeDown(node: string, down: boolean): void {
    if (!this.nodes.has(node)) throw new PodnetError('PODNET_NODE_NOT_FOUND', `node ${node} not found`);
    if (down) this.#down.add(node);
    else this.#down.delete(node);
  }

  /** True while a node is down. */
  isNodeDown(node: string): boolean {
    return this.#down.has(node);
  }

  /** Makes the kubelet's listeners reachable at its node's IP (undefined: none any more). */
  setHostEndpoint(node: string, endpoint: HostEndpoint | undefined): void {
    const previous = this.#kubeletEndpoints.get(node);
    if (previous) this.#hostEndpoints.get(node)?.delete(previous);
    if (endpoint) {
      this.#kubeletEndpoints.set(node, endpoint);
      this.addHostEndpoint(node, endpoint);
    } else this.#kubeletEndpoints.delete(node);
  }

  /** Adds listeners of another node agent (kube-proxy's health checks) at a node's IP; returns the undo. */
  addHostEndpoint(node: string, endpoint: HostEndpoint): () => void {
    let set = this.#hostEndpoints.get(node);
    if (!set) this.#hostEndpoints.set(node, (set = new Set()));
    set.add(endpoint);
    return () => void this.#hostEndpoints.get(node)?.delete(endpoint);
  }

  #hostListener(node: string, port: number, protocol: 'TCP' | 'UDP' | 'SCTP'): { loopback: string; realPort: number } | undefined {
    for (const ep of this.#hostEndpoints.get(node) ?? []) {
      const realPort = ep.listeningPort(port, protocol);
      if (realPort !== undefined) return { loopback: ep.loopback, realPort };
    }
    return undefined;
  }

  /** Who holds a virtual address. */
  resolve(ip: string): Attachment | undefined {
    const sandbox = this.#byIp.get(ip);
    if (sandbox) {
      const net = this.nodes.get(sandbox.node);
      const veth = net?.vethOf(sandbox.key);
      return { kind: 'pod', node: sandbox.node, pod: sandbox.key, dev: veth?.name ?? 'cni0' };
    }
    const node = this.#hosts.get(ip);
    return node ? { kind: 'host', node } : undefined;
  }

  /** Makes a sandbox reachable at its IPs. */
  addSandbox(sandbox: SandboxEndpoint): void {
    this.#sandboxes.set(sandbox.key, sandbox);
    for (const ip of sandbox.ips) this.#byIp.set(ip, sandbox);
  }

  /** Forgets a sandbox. */
  removeSandbox(key: string): void {
    const sandbox = this.#sandboxes.get(key);
    if (!sandbox) return;
    this.#sandboxes.delete(key);
    for (const ip of sandbox.ips) if (this.#byIp.get(ip) === sandbox) this.#byIp.delete(ip);
  }

  /** A node's InternalIP. */
  hostIP(node: string): string | undefined {
    return [...this.#hosts].find(([, n]) => n === node)?.[0];
  }

  /** The sandbox holding a virtual IP. */
  sandboxAt(ip: string): SandboxEndpoint | undefined {
    return this.#byIp.get(ip);
  }

  /** The virtual address a loopback address stands for (a server's view of its peer). */
  virtualOf(loopback: string): string {
    return this.addresses.virtualsOf(loopback)[0] ?? loopback;
  }

  /** Decides a new flow without opening anything (`podnet trace`). */
  decide(origin: FlowOrigin, tuple: FlowTuple): FlowDecision {
    return this.pipeline.decide(origin, tuple);
  }

  #link(a: string, b: string): LinkSpec | undefined {
    return this.#links.find((l) => (l.between[0] === a && l.between[1] === b) || (l.between[0] === b && l.between[1] === a));
  }

  #sourceOf(origin: FlowOrigin): string {
    if (origin.kind === 'external') return this.externalClient;
    if (origin.kind === 'pod') {
      const sandbox = this.#sandboxes.get(origin.pod);
      if (!sandbox?.ips[0]) throw new PodnetError('PODNET_NO_SANDBOX', `pod ${origin.pod} has no running sandbox`);
      return sandbox.ips[0];
    }
    const ip = this.hostIP(origin.node);
    if (!ip) throw new PodnetError('PODNET_NODE_NOT_FOUND', `node ${origin.node} not found`);
    return ip;
  }

  #nextEphemeralPort(): number {
    // Linux's default ip_local_port_range, 32768-60999, walked from a seeded start.
    if (this.#ephemeral === 0) this.#ephemeral = 32768 + this.#rng.int(28232);
    this.#ephemeral = this.#ephemeral >= 60999 ? 32768 : this.#ephemeral + 1;
    return this.#ephemeral;
  }

  /** Decides a flow and resolves where its bytes go, or fails as a socket would. */
  async #route(origin: FlowOrigin, dst: string, dport: number, protocol: FlowTuple['protocol'], timeoutMs?: number, sport?: number) {
    if (this.#down.has(origin.node)) throw new PodnetError('PODNET_NODE_DOWN', `node ${origin.node} is down: nothing on it can open a connection`);
    const tuple: FlowTuple = { protocol, src: this.#sourceOf(origin), sport: sport ?? this.#nextEphemeralPort(), dst, dport };
    const decision = this.pipeline.decide(origin, tuple);
    if (decision.verdict === 'DROP') {
      // The kernel retransmits into the void until the caller gives up.
      await this.#hang(timeoutMs);
      if (decision.reason === NODE_DOWN.neighbour) throw new FlowError('EHOSTUNREACH', `${dst}:${dport}: no route to host (${decision.reason})`, decision);
      throw new FlowError('ETIMEDOUT', `connection to ${dst}:${dport} timed out (${decision.reason})`, decision);
    }
    if (decision.verdict === 'REJECT') {
      const errno = decision.reason === 'no route to host' ? 'EHOSTUNREACH' : 'ECONNREFUSED';
      throw new FlowError(errno, `${dst}:${dport}: ${decision.reason}`, decision);
    }
    const target = decision.destination!;
    const final = decision.tuple;
    let loopback: string | undefined;
    let realPort: number | undefined;
    if (target.kind === 'pod') {
      const sandbox = this.#sandboxes.get(target.pod);
      loopback = sandbox?.loopback;
      realPort = sandbox?.listeningPort(final.dport, protocol);
    } else {
      const host = this.#hostListener(target.node, final.dport, protocol);
      loopback = host?.loopback;
      realPort = host?.realPort;
    }
    if (!loopback || realPort === undefined) {
      // Nothing listens there: the peer's kernel answers with a RST (or ICMP port unreachable).
      throw new FlowError('ECONNREFUSED', `connect ECONNREFUSED ${final.dst}:${final.dport}`, decision);
    }
    const source = this.addresses.loopbackOf(final.src) ?? this.addresses.allocate(final.src, `source/${final.src}`);
    return { decision, loopback, realPort, source };
  }

  /** Opens a TCP connection from a pod (or node) to a virtual address, through the data plane. */
  async dialTcp(origin: FlowOrigin, dst: string, dport: number, options: { timeoutMs?: number; sport?: number } = {}): Promise<{ socket: Socket; decision: FlowDecision }> {
    const { decision, loopback, realPort, source } = await this.#route(origin, dst, dport, 'TCP', options.timeoutMs, options.sport);
    if (decision.link) return this.#dialShaped(origin, decision, { host: loopback, port: realPort, localAddress: source }, options.timeoutMs);
    const socket = await this.sockets.connectTcp({ host: loopback, port: realPort, localAddress: source, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
    this.#trackClose(socket, decision);
    return { socket, decision };
  }

  /** When the connection closes, conntrack (and IPVS, where it scheduled it) see it end: TIME_WAIT. */
  #trackClose(socket: Socket, decision: FlowDecision): void {
    socket.once('close', () => {
      for (const name of new Set(decision.hops)) {
        const node = this.nodes.get(name);
        node?.conntrack.closeTcp(decision.original);
        node?.ipvs.closeConnection(decision.original);
      }
    });
  }

  /** A flow across a shaped link: the handshake's retransmissions, then a relay (shaping.ts). */
  async #dialShaped(origin: FlowOrigin, decision: FlowDecision, to: { host: string; port: number; localAddress: string }, timeoutMs?: number): Promise<{ socket: Socket; decision: FlowDecision }> {
    const link = decision.link!;
    const plan = planHandshake(link, this.#rng);
    // The relay sits where tc's qdisc would: on the origin node.
    const relayNode = origin.node;
    if ('gaveUp' in plan) {
      decision.trace.push({ node: relayNode, stage: 'link', action: 'DROP', detail: `SYN lost ${1 + TCP_SYN_RETRIES} times on ${describeShape(link)}: connect gives up` });
      await this.#hang(timeoutMs);
      throw new FlowError('ETIMEDOUT', `connection to ${decision.original.dst}:${decision.original.dport} timed out (SYN retransmits exhausted)`, decision);
    }
    if (timeoutMs !== undefined && plan.delayMs > timeoutMs) {
      await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, timeoutMs));
      throw new FlowError('ETIMEDOUT', `connection to ${decision.original.dst}:${decision.original.dport} timed out after ${timeoutMs}ms (handshake takes ${Math.round(plan.delayMs)}ms)`, decision);
    }
    await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, plan.delayMs));
    const upstream = await this.sockets.connectTcp(to);
    const relayHost = this.addresses.loopbackOf(this.hostIP(relayNode)!)!;
    const { socket, relay } = await relayTcp({ link, clock: this.#clock, rng: this.#rng, sockets: this.sockets, relayHost, upstream });
    const retried = plan.retransmits ? `, SYN retransmitted ${plan.retransmits}×` : '';
    decision.trace.push({ node: relayNode, stage: 'link', action: 'relay', detail: `shaping relay ${relay.address} (${describeShape(link)}${retried})` });
    return { socket, decision };
  }

  /** Waits as a dropped flow does before the caller's socket gives up. */
  async #hang(timeoutMs?: number): Promise<void> {
    const wait = Math.min(timeoutMs ?? this.#dropTimeoutMs, this.#dropTimeoutMs);
    await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, wait));
  }

  /**
   * Opens an SCTP association from a pod (or node) to a virtual address, through the data plane:
   * decided as SCTP, carried over a real TCP connection; the flow's conntrack entries move to
   * CLOSED when it ends.
   */
  async dialSctp(origin: FlowOrigin, dst: string, dport: number, options: { timeoutMs?: number } = {}): Promise<{ association: SctpAssociation; decision: FlowDecision }> {
    const { decision, loopback, realPort, source } = await this.#route(origin, dst, dport, 'SCTP', options.timeoutMs);
    const socket = await this.sockets.connectTcp({ host: loopback, port: realPort, localAddress: source, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
    const association = new SctpAssociation(socket, { localAddress: decision.original.src, localPort: socket.localPort ?? 0, remoteAddress: dst, remotePort: dport });
    trackAssociation(association, decision, this.nodes);
    return { association, decision };
  }

  /** Sends one UDP datagram from a pod and resolves with the first answer. */
  async exchangeUdp(origin: FlowOrigin, dst: string, dport: number, data: Buffer | string, options: { timeoutMs?: number; sport?: number } = {}): Promise<{ reply: Buffer; decision: FlowDecision }> {
    const { decision, loopback, realPort, source } = await this.#route(origin, dst, dport, 'UDP', options.timeoutMs, options.sport);
    const socket: dgram.Socket = await this.sockets.bindUdp({ host: source, port: 0 });
    try {
      const reply = await new Promise<Buffer>((resolve, reject) => {
        let settled = false;
        const timer = this.#clock.setTimeout(() => {
          settled = true;
          reject(new FlowError('ETIMEDOUT', `no answer from ${dst}:${dport}/UDP`, decision));
        }, options.timeoutMs ?? this.#dropTimeoutMs);
        const payload = typeof data === 'string' ? Buffer.from(data) : data;
        const link = decision.link;
        // Across a shaped link the datagram and the reply may each be lost, and arrive late.
        const cross = (bytes: number, then: () => void) => {
          if (!link) return then();
          const delay = datagramDelayMs(link, this.#rng, bytes);
          if (delay !== undefined) this.#clock.setTimeout(then, delay);
        };
        socket.on('message', (msg: Buffer) =>
          cross(msg.length, () => {
            if (settled) return;
            settled = true;
            timer.cancel();
            resolve(msg);
          }),
        );
        cross(payload.length, () => void (settled || socket.send(payload, realPort, loopback)));
      });
      return { reply, decision };
    } finally {
      socket.close();
    }
  }

  /** Closes every socket the data plane opened. */
  async close(): Promise<void> {
    await this.sockets.closeAll();
  }
}

/** The gateway of the nodes' network: `.1` of the first node's /24 (kind: 172.18.0.1). */
function gatewayOf(nodeAddresses: readonly string[]): string {
  const first = nodeAddresses.find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a));
  if (!first) return '172.18.0.1';
  const base = first.split('.').slice(0, 3).join('.');
  for (let last = 1; last < 255; last++) {
    const candidate = `${base}.${last}`;
    if (!nodeAddresses.includes(candidate)) return candidate;
  }
  return `${base}.254`;
}
