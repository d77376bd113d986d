/**
 * The flow pipeline: gives every new flow a verdict and a trace by walking it through the nodes
 * it crosses — netfilter hooks (where kube-proxy's tables and policy are registered), the
 * routing table, the overlay (VXLAN encapsulation to the VTEP the FDB names, decapsulation on
 * the far node), links with their impairments — until it is delivered to a pod or a node, or
 * dropped or rejected on the way. The socket layer then opens the real connection that the
 * decision describes; this module never touches a socket.
 */

import type { Rng } from '../core/rng.js';
import { SeededRng } from '../core/rng.js';
import type { LinkSpec } from '../api/cluster.js';
import { PATHS, type Hook } from './hooks.js';
import type { NodeNetwork, Route } from './node.js';
import type { FlowTuple } from './conntrack.js';
import { describeShape, isShaped } from './shaping.js';

/** One line of a trace: what happened where. */
export interface TraceStep {
  node: string;
  /** Hook, or a non-netfilter stage: `route`, `vxlan`, `link`, `deliver`, `pod`. */
  stage: Hook | 'route' | 'vxlan' | 'link' | 'deliver' | 'pod' | 'conntrack' | 'ipvs';
  /** Table and chain for rule matches (`nat`, `KUBE-SERVICES`). */
  table?: string;
  chain?: string;
  rule?: string;
  /** What was done: ACCEPT, DNAT, SNAT, encap, decap, route, DROP, ... */
  action: string;
  detail?: string;
}

/** The state a handler sees and may change (NAT rewrites `tuple`). */
export interface FlowContext {
  readonly node: NodeNetwork;
  readonly hook: Hook;
  /** The flow as it is now (after any NAT so far). */
  tuple: FlowTuple;
  /** The flow as it started. */
  readonly original: FlowTuple;
  /** Interface the flow came in on / will leave on, when known. */
  inDev?: string;
  outDev?: string;
  /** The packet mark (kube-proxy's 0x4000 masquerade mark). */
  mark: number;
  /** The cluster's seeded RNG, for random choices a rule makes (`-m statistic --mode random`). */
  readonly rng?: Rng;
  /** Appends to the trace. */
  trace(step: Omit<TraceStep, 'node' | 'stage'> & { stage?: TraceStep['stage'] }): void;
}

/**
 * What a handler decides: continue (undefined), or a final verdict for the flow. STOLEN is the
 * kernel's NF_STOLEN: the handler took the packet and sends it on itself (IPVS after its DNAT),
 * so the handlers after it at this hook do not see it.
 */
export type HookVerdict = { verdict: 'ACCEPT' } | { verdict: 'DROP'; reason: string } | { verdict: 'REJECT'; reason: string } | { verdict: 'STOLEN' } | undefined;

/** A handler registered at a hook (kube-proxy's tables, policy, masquerade). */
export interface HookHandler {
  /** Shown in traces: `kube-proxy/iptables`, `flannel/masquerade`, `calico/policy`. */
  readonly name: string;
  readonly priority: number;
  run(ctx: FlowContext): HookVerdict | void;
}

/** Who holds an address: a pod attached to a node's bridge, or the node itself. */
export type Attachment = { kind: 'pod'; node: string; pod: string; dev: string } | { kind: 'host'; node: string };

/**
 * Where a flow starts: a pod, a node's own process, or a client outside the cluster whose packet
 * arrives on a node's eth0 (the host reaching a NodePort or a load-balancer IP).
 */
export type FlowOrigin = { kind: 'pod'; node: string; pod: string } | { kind: 'host'; node: string } | { kind: 'external'; node: string };

/** The outcome of a new flow. */
export interface FlowDecision {
  verdict: 'ACCEPT' | 'DROP' | 'REJECT';
  /** Why it was dropped or rejected: `no route to host`, `link partitioned`, a rule. */
  reason?: string;
  /** The flow as the destination sees it (after every NAT). */
  tuple: FlowTuple;
  original: FlowTuple;
  /** Where it was delivered. */
  destination?: Attachment;
  /** Nodes crossed, in order. */
  hops: string[];
  trace: TraceStep[];
  /** The shaped link the flow crossed (latency, jitter, loss or bandwidth): the socket layer realizes it. */
  link?: LinkSpec;
}

/** Why a flow to a node that is down is dropped (its kernel answers nothing). */
export const NODE_DOWN = {
  /** Encapsulated towards a dead VTEP: the inner flow hears nothing and times out. */
  overlay: 'node down',
  /** Routed straight to a dead node's address: ARP gets no reply, the kernel reports EHOSTUNREACH. */
  neighbour: 'node down: no ARP reply',
} as const;

/** Everything the pipeline needs to know about the cluster. */
export interface PipelineOptions {
  nodes: ReadonlyMap<string, NodeNetwork>;
  /** Who holds a (virtual) address. */
  resolve(ip: string): Attachment | undefined;
  /** The link between two nodes, if the topology shapes it. */
  link?(a: string, b: string): LinkSpec | undefined;
  /** True for a node that is down (powered off: `podnet node stop`). */
  isDown?(node: string): boolean;
  rng?: Rng;
}

const MAX_HOPS = 8;

/** Decides new flows. */
export class Pipeline {
  readonly #o: PipelineOptions;
  readonly #rng: Rng;

  constructor(options: PipelineOptions) {
    this.#o = options;
    this.#rng = options.rng ?? new SeededRng(0);
  }

  /** Walks a new flow from its origin to its destination. */
  decide(origin: FlowOrigin, tuple: FlowTuple): FlowDecision {
    const trace: TraceStep[] = [];
    const original = { ...tuple };
    const state = { tuple: { ...tuple }, mark: 0 };
    const hops: string[] = [];
    let shaped: LinkSpec | undefined;
    const done = (verdict: FlowDecision['verdict'], reason?: string, destination?: Attachment): FlowDecision => ({
      verdict,
      ...(reason ? { reason } : {}),
      tuple: state.tuple,
      original,
      ...(destination ? { destination } : {}),
      hops,
      trace,
      ...(shaped && verdict === 'ACCEPT' ? { link: shaped } : {}),
    });

    let node = this.#node(origin.node);
    if (this.#o.isDown?.(node.name)) {
      trace.push({ node: node.name, stage: 'pod', action: 'DROP', detail: `${node.name} is down: nothing on it sends` });
      return done('DROP', NODE_DOWN.overlay);
    }
    // A datagram of a UDP flow conntrack already knows is not evaluated again: it follows the
    // entry's NAT to where the first one went (a client that keeps its source port), until the
    // entry times out or kube-proxy deletes it. (A TCP flow is pinned by its real socket.)
    const tracked = tuple.protocol === 'UDP' ? node.conntrack.lookup(state.tuple) : undefined;
    if (tracked?.direction === 'original') {
      const entry = tracked.entry;
      const natted = { protocol: entry.reply.protocol, src: entry.reply.dst, sport: entry.reply.dport, dst: entry.reply.src, dport: entry.reply.sport };
      const destination = this.#o.resolve(natted.dst);
      if (!destination) {
        // The endpoint is gone but the entry is not (kube-proxy deletes it at its next sync):
        // the kernel keeps sending there, and the datagrams are lost.
        hops.push(node.name);
        trace.push({ node: node.name, stage: 'conntrack', action: 'DROP', detail: `follows ${fmt(entry.original)} ⇒ ${fmt(natted)}, but nothing holds ${natted.dst} any more` });
        return done('DROP', `stale conntrack entry to ${natted.dst}`);
      }
      const pinned = destination.kind === 'pod' || destination.node === node.name || !this.#o.isDown?.(destination.node);
      if (pinned) {
        node.conntrack.touch(entry, 'original');
        state.tuple = natted;
        state.mark = entry.mark;
        hops.push(node.name);
        trace.push({ node: node.name, stage: 'conntrack', action: 'ESTABLISHED', detail: `follows ${fmt(entry.original)} ⇒ ${fmt(natted)}` });
        return done('ACCEPT', undefined, destination);
      }
    }
    let inDev: string | undefined;
    let path: readonly Hook[];
    if (origin.kind === 'external') {
      inDev = 'eth0';
      trace.push({ node: node.name, stage: 'pod', action: 'receive', detail: `from outside on eth0 (${fmt(state.tuple)})` });
      path = PATHS.forward;
    } else if (origin.kind === 'pod') {
      const veth = node.vethOf(origin.pod);
      inDev = veth?.name ?? 'cni0';
      trace.push({ node: node.name, stage: 'pod', action: 'send', detail: `${origin.pod} eth0 → ${inDev} (${fmt(state.tuple)})` });
      path = PATHS.forward;
    } else {
      path = PATHS.output;
    }

    for (let hop = 0; hop < MAX_HOPS; hop++) {
      hops.push(node.name);
      // The first hook of the path (PREROUTING or OUTPUT) runs before routing: DNAT happens here.
      const first = path[0]!;
      const pre = this.#runHook(node, first, state, original, trace, inDev);
      if (pre) return done(pre.verdict, pre.verdict === 'ACCEPT' ? undefined : pre.reason);

      const local = node.ownsAddress(state.tuple.dst) || this.#isLocalHost(node, state.tuple.dst);
      let middle: readonly Hook[] = first === 'OUTPUT' ? ['POSTROUTING'] : ['FORWARD', 'POSTROUTING'];
      if (local) {
        trace.push({ node: node.name, stage: 'route', action: 'local', detail: `${state.tuple.dst} is local to ${node.name}` });
        const rest: readonly Hook[] = first === 'OUTPUT' ? ['POSTROUTING', 'PREROUTING', 'INPUT'] : ['INPUT'];
        for (const h of rest) {
          const v = this.#runHook(node, h, state, original, trace, inDev);
          if (v) return done(v.verdict, v.verdict === 'ACCEPT' ? undefined : v.reason);
        }
        if (node.ownsAddress(state.tuple.dst) || this.#isLocalHost(node, state.tuple.dst)) {
          this.#confirm(hops, original, state.tuple, state.mark);
          trace.push({ node: node.name, stage: 'deliver', action: 'ACCEPT', detail: `to ${node.name} ${state.tuple.dst}:${state.tuple.dport}/${state.tuple.protocol}` });
          return done('ACCEPT', undefined, { kind: 'host', node: node.name });
        }
        // DNATed away at INPUT (IPVS's ip_vs_nat_xmit): the packet is sent again from this node,
        // routed and through POSTROUTING (where kube-proxy's masquerade applies), then onward.
        middle = ['POSTROUTING'];
      }

      const route = node.routeLookup(state.tuple.dst);
      if (!route) {
        trace.push({ node: node.name, stage: 'route', action: 'unreachable', detail: `no route to ${state.tuple.dst}` });
        return done('REJECT', 'no route to host');
      }
      trace.push({ node: node.name, stage: 'route', action: 'route', detail: describeRoute(route) });
      for (const h of middle) {
        const v = this.#runHook(node, h, state, original, trace, inDev, route.dev);
        if (v) return done(v.verdict, v.verdict === 'ACCEPT' ? undefined : v.reason);
      }

      const target = this.#o.resolve(state.tuple.dst);
      const iface = node.interfaces.get(route.dev);
      if (iface?.kind === 'bridge') {
        // A pod on this node's bridge.
        if (!target || target.kind !== 'pod' || target.node !== node.name) {
          trace.push({ node: node.name, stage: 'deliver', action: 'unreachable', detail: `no pod holds ${state.tuple.dst} on ${route.dev}` });
          return done('REJECT', 'no route to host');
        }
        this.#confirm(hops, original, state.tuple, state.mark);
        trace.push({ node: node.name, stage: 'deliver', action: 'ACCEPT', detail: `${route.dev} → ${target.dev} → ${target.pod} eth0 (${fmt(state.tuple)})` });
        return done('ACCEPT', undefined, target);
      }

      // Leaving the node: overlay or direct routing to the next node.
      const next = this.#nextNode(node, route, state.tuple, trace);
      if (!next) return done('REJECT', 'no route to host');
      if (this.#o.isDown?.(next.name)) {
        const overlay = node.interfaces.get(route.dev)?.kind === 'vxlan';
        // Encapsulated, but nothing on the dead node decapsulates it.
        if (trace.at(-1)?.node === next.name && trace.at(-1)?.action === 'decap') trace.pop();
        trace.push({ node: node.name, stage: overlay ? 'vxlan' : 'route', action: 'DROP', detail: `${next.name} is down (${overlay ? 'the VTEP answers nothing' : 'no ARP reply'})` });
        return done('DROP', overlay ? NODE_DOWN.overlay : NODE_DOWN.neighbour);
      }
      const impaired = this.#crossLink(node.name, next.name, trace);
      if (typeof impaired === 'string') return done('DROP', impaired);
      shaped = impaired ?? shaped;
      node = next.node;
      inDev = next.inDev;
      path = PATHS.forward;
    }
    return done('DROP', 'routing loop');
  }

  #node(name: string): NodeNetwork {
    const n = this.#o.nodes.get(name);
    if (!n) throw new Error(`unknown node ${name}`);
    return n;
  }

  #isLocalHost(node: NodeNetwork, ip: string): boolean {
    const a = this.#o.resolve(ip);
    return a?.kind === 'host' && a.node === node.name;
  }

  #runHook(
    node: NodeNetwork,
    hook: Hook,
    state: { tuple: FlowTuple; mark: number },
    original: FlowTuple,
    trace: TraceStep[],
    inDev?: string,
    outDev?: string,
  ): Exclude<HookVerdict, { verdict: 'STOLEN' }> {
    for (const handler of node.handlers(hook)) {
      const ctx: FlowContext = {
        node,
        hook,
        tuple: state.tuple,
        original,
        mark: state.mark,
        rng: this.#rng,
        ...(inDev ? { inDev } : {}),
        ...(outDev ? { outDev } : {}),
        trace: (step) => trace.push({ node: node.name, stage: step.stage ?? hook, ...step }),
      };
      const v = handler.run(ctx);
      state.tuple = ctx.tuple;
      state.mark = ctx.mark;
      if (v?.verdict === 'STOLEN') break;
      if (v && v.verdict !== 'ACCEPT') {
        trace.push({ node: node.name, stage: hook, action: v.verdict, detail: `${handler.name}: ${v.reason}` });
        return v;
      }
    }
    return undefined;
  }

  /** Finds where a routed flow goes next: across the overlay, or to a directly routed node. */
  #nextNode(node: NodeNetwork, route: Route, tuple: FlowTuple, trace: TraceStep[]): { node: NodeNetwork; name: string; inDev: string } | undefined {
    const iface = node.interfaces.get(route.dev);
    if (iface?.kind === 'vxlan' && iface.vxlan) {
      const gw = route.via;
      const neigh = node.neigh.find((n) => n.ip === gw && n.dev === route.dev);
      const fdb = neigh && node.fdb.find((f) => f.mac === neigh.lladdr && f.dev === route.dev);
      if (!neigh || !fdb) {
        trace.push({ node: node.name, stage: 'vxlan', action: 'unreachable', detail: `no neighbour/FDB entry for ${gw ?? '?'} on ${route.dev}` });
        return undefined;
      }
      const remote = this.#o.resolve(fdb.dst);
      if (!remote || remote.kind !== 'host') {
        trace.push({ node: node.name, stage: 'vxlan', action: 'unreachable', detail: `no node holds VTEP ${fdb.dst}` });
        return undefined;
      }
      trace.push({
        node: node.name,
        stage: 'vxlan',
        action: 'encap',
        detail: `${route.dev} vni ${iface.vxlan.vni}: outer ${iface.vxlan.local} → ${fdb.dst} udp/${iface.vxlan.port}, inner ${fmt(tuple)} (dst mac ${neigh.lladdr})`,
      });
      const far = this.#node(remote.node);
      trace.push({ node: far.name, stage: 'vxlan', action: 'decap', detail: `${route.dev} vni ${iface.vxlan.vni} from ${iface.vxlan.local}` });
      return { node: far, name: far.name, inDev: route.dev };
    }
    // Direct routing (host-gw), or an on-link destination: the next hop is the node that holds
    // the gateway address, or the destination itself for a route without a gateway.
    const via = route.via ?? tuple.dst;
    const remote = via ? this.#o.resolve(via) : undefined;
    if (!remote || remote.kind !== 'host' || remote.node === node.name) {
      trace.push({ node: node.name, stage: 'route', action: 'unreachable', detail: `next hop ${via ?? '(none)'} is not a node` });
      return undefined;
    }
    const far = this.#node(remote.node);
    trace.push({ node: node.name, stage: 'route', action: 'forward', detail: `via ${via} dev ${route.dev} → ${far.name}` });
    return { node: far, name: far.name, inDev: 'eth0' };
  }

  /**
   * Applies a link to a cross-node flow: why it is lost (a partition, or 100% loss: no packet
   * crosses), or the shaped link it crosses. Lesser loss is not a verdict: TCP retransmits and a
   * datagram may or may not make it, which the socket layer draws per packet (shaping.ts).
   */
  #crossLink(a: string, b: string, trace: TraceStep[]): string | LinkSpec | undefined {
    const link = this.#o.link?.(a, b);
    if (!link) return undefined;
    if (link.partitioned) {
      trace.push({ node: a, stage: 'link', action: 'DROP', detail: `link ${a}↔${b} is partitioned` });
      return 'link partitioned';
    }
    if ((link.lossPercent ?? 0) >= 100) {
      trace.push({ node: a, stage: 'link', action: 'DROP', detail: `lost on link ${a}↔${b} (100% loss)` });
      return 'packet loss';
    }
    if (!isShaped(link)) return undefined;
    trace.push({ node: a, stage: 'link', action: 'shape', detail: `link ${a}↔${b}: ${describeShape(link)}` });
    return link;
  }

  #confirm(hops: string[], original: FlowTuple, natted: FlowTuple, mark: number): void {
    for (const name of new Set(hops)) this.#node(name).conntrack.confirm(original, natted, mark);
  }
}

function fmt(t: FlowTuple): string {
  return `${t.src}:${t.sport} → ${t.dst}:${t.dport}/${t.protocol}`;
}

function describeRoute(r: Route): string {
  return `${r.dst}${r.via ? ` via ${r.via}` : ''} dev ${r.dev}`;
}

/** Renders a trace as `podnet trace` prints it. */
export function formatTrace(decision: FlowDecision): string {
  const lines = decision.trace.map((s) => {
    const where = [s.stage, s.table, s.chain].filter(Boolean).join(' ');
    return `${s.node.padEnd(14)} ${where.padEnd(28)} ${s.action.padEnd(11)} ${s.rule ? `${s.rule} ` : ''}${s.detail ?? ''}`.trimEnd();
  });
  lines.push(`verdict: ${decision.verdict}${decision.reason ? ` (${decision.reason})` : ''}`);
  return lines.join('\n') + '\n';
}
