/**
 * One emulated node's network state, in the terms `ip` and `bridge` show it: interfaces
 * (lo, eth0, cni0, flannel.1, veths), the main routing table, neighbour (ARP) entries, the
 * VXLAN forwarding database, conntrack, the netfilter tables (netfilter.ts), the IP sets
 * (ipset.ts) and the IPVS table (ipvs.ts), and the handlers
 * registered at each netfilter hook.
 *
 * The state is plain data that CNI plugins and kube-proxy program, and that `podnet get
 * routes|neigh|fdb|conntrack --node` prints in the real tools' formats.
 */

import { parseCIDR, parseIP, type CIDR } from '../core/ipnet.js';
import { PodnetError } from '../core/errors.js';
import { HOOKS, type Hook } from './hooks.js';
import { Conntrack } from './conntrack.js';
import type { HookHandler } from './pipeline.js';
import { Netfilter } from './netfilter.js';
import { IpSets } from './ipset.js';
import { Ipvs } from './ipvs.js';
import { Nftables } from './nftables.js';

/** A network interface. */
export interface NetInterface {
  name: string;
  kind: 'loopback' | 'ethernet' | 'bridge' | 'veth' | 'vxlan' | 'dummy';
  mac?: string;
  mtu: number;
  /** Addresses in CIDR notation (`10.244.1.1/24`). */
  addresses: string[];
  up: boolean;
  /** For veths: the bridge they are enslaved to. */
  master?: string;
  /** For veths: the pod (namespace/name) whose eth0 is the other end. */
  peerPod?: string;
  /** For VXLAN devices: VNI, UDP port and the local VTEP address. */
  vxlan?: { vni: number; port: number; local: string; dev: string };
}

/** A route in the main table. */
export interface Route {
  /** A CIDR, or `default`. */
  dst: string;
  dev: string;
  via?: string;
  src?: string;
  scope?: 'link' | 'host' | 'global';
  proto?: 'kernel' | 'static' | 'boot';
  onlink?: boolean;
}

/** A neighbour (ARP/NDP) entry. */
export interface Neighbor {
  ip: string;
  lladdr: string;
  dev: string;
  state: 'PERMANENT' | 'REACHABLE';
}

/** A bridge/VXLAN forwarding database entry. */
export interface FdbEntry {
  mac: string;
  dev: string;
  /** The remote VTEP (underlay) address. */
  dst: string;
  permanent: boolean;
}

interface InterfaceIndex {
  byAddress: Map<string, NetInterface>;
  vethByPod: Map<string, NetInterface>;
}

/** The network of one node. */
export class NodeNetwork {
  readonly name: string;
  readonly interfaces = new Map<string, NetInterface>();
  routes: Route[] = [];
  neigh: Neighbor[] = [];
  fdb: FdbEntry[] = [];
  readonly conntrack: Conntrack;
  /** The node's iptables tables (raw, mangle, nat, filter), registered at their hooks. */
  readonly netfilter: Netfilter;
  /** The node's IP sets (`ipset`), which `-m set` rules match. */
  readonly ipsets: IpSets;
  /** The node's IPVS table (`ipvsadm`), registered at INPUT and OUTPUT; empty unless kube-proxy runs in ipvs mode. */
  readonly ipvs: Ipvs;
  /** The node's nftables ruleset (`nft`), its base chains registered at their hooks; empty unless kube-proxy runs in nftables mode. */
  readonly nftables: Nftables;
  readonly #hooks = new Map<Hook, HookHandler[]>();

  constructor(name: string, conntrack: Conntrack = new Conntrack()) {
    this.name = name;
    this.conntrack = conntrack;
    for (const h of HOOKS) this.#hooks.set(h, []);
    this.ipsets = new IpSets({ references: (set) => this.netfilter.setReferences(set) });
    this.netfilter = new Netfilter({ clock: conntrack.clock, ipsets: this.ipsets });
    this.netfilter.attach(this);
    this.ipvs = new Ipvs({ clock: conntrack.clock });
    this.ipvs.attach(this);
    this.nftables = new Nftables({ clock: conntrack.clock });
    this.nftables.attach(this);
    this.addInterface({ name: 'lo', kind: 'loopback', mtu: 65536, addresses: ['127.0.0.1/8'], up: true });
  }

  /** Adds (or replaces) an interface. */
  addInterface(iface: NetInterface): void {
    this.interfaces.set(iface.name, iface);
    this.#index = undefined;
  }

  /** Removes an interface and every route and neighbour that used it. */
  removeInterface(name: string): void {
    this.interfaces.delete(name);
    this.#index = undefined;
    this.routes = this.routes.filter((r) => r.dev !== name);
    this.neigh = this.neigh.filter((n) => n.dev !== name);
    this.fdb = this.fdb.filter((f) => f.dev !== name);
  }

  /** Adds a route, replacing one with the same destination (`ip route replace`). */
  replaceRoute(route: Route): void {
    this.routes = this.routes.filter((r) => r.dst !== route.dst);
    this.routes.push(route);
  }

  /** Removes the route to a destination. */
  deleteRoute(dst: string): void {
    this.routes = this.routes.filter((r) => r.dst !== dst);
  }

  /** Adds or replaces a neighbour entry (`ip neigh replace`). */
  replaceNeighbor(entry: Neighbor): void {
    this.neigh = this.neigh.filter((n) => !(n.ip === entry.ip && n.dev === entry.dev));
    this.neigh.push(entry);
  }

  /** Adds or replaces an FDB entry (`bridge fdb replace`). */
  replaceFdb(entry: FdbEntry): void {
    this.fdb = this.fdb.filter((f) => !(f.mac === entry.mac && f.dev === entry.dev));
    this.fdb.push(entry);
  }

  /**
   * Addresses and veths by key, rebuilt after an interface is added or removed (interfaces are
   * replaced, not edited in place), so a flow's hop does not scan every interface — kube-ipvs0
   * alone holds one address per Service.
   */
  #index: InterfaceIndex | undefined;

  #lookup(): InterfaceIndex {
    if (this.#index) return this.#index;
    const byAddress = new Map<string, NetInterface>();
    const vethByPod = new Map<string, NetInterface>();
    for (const iface of this.interfaces.values()) {
      for (const a of iface.addresses) {
        const ip = a.split('/')[0]!;
        if (!byAddress.has(ip)) byAddress.set(ip, iface);
      }
      if (iface.kind === 'veth' && iface.peerPod && !vethByPod.has(iface.peerPod)) vethByPod.set(iface.peerPod, iface);
    }
    return (this.#index = { byAddress, vethByPod });
  }

  /** Whether an address is configured on one of this node's interfaces. */
  ownsAddress(ip: string): NetInterface | undefined {
    return this.#lookup().byAddress.get(ip);
  }

  /** The host end of a pod's veth pair. */
  vethOf(pod: string): NetInterface | undefined {
    return this.#lookup().vethByPod.get(pod);
  }

  /** The route the kernel would pick: longest prefix match; `default` matches everything. */
  routeLookup(dst: string): Route | undefined {
    const addr = parseIP(dst);
    if (!addr) throw new PodnetError('PODNET_BAD_ADDRESS', `not an IP address: ${dst}`);
    let best: { route: Route; prefix: number } | undefined;
    for (const route of this.routes) {
      let prefix: number;
      if (route.dst === 'default') {
        if (addr.family !== 'IPv4') continue;
        prefix = 0;
      } else {
        const cidr: CIDR | undefined = parseCIDR(route.dst);
        if (!cidr || cidr.family !== addr.family) continue;
        const bits = BigInt(cidr.bits - cidr.prefix);
        if (addr.value >> bits !== cidr.base >> bits) continue;
        prefix = cidr.prefix;
      }
      if (!best || prefix > best.prefix) best = { route, prefix };
    }
    return best?.route;
  }

  /** Registers a handler at a hook; handlers run in priority order. */
  register(hook: Hook, handler: HookHandler): () => void {
    const list = this.#hooks.get(hook)!;
    list.push(handler);
    list.sort((a, b) => a.priority - b.priority);
    return () => {
      const i = list.indexOf(handler);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** The handlers at a hook, in the order they run. */
  handlers(hook: Hook): readonly HookHandler[] {
    return this.#hooks.get(hook)!;
  }

  /** `ip route show`. */
  formatRoutes(): string {
    return (
      this.routes
        .map((r) => {
          const parts = [r.dst];
          if (r.via) parts.push('via', r.via);
          parts.push('dev', r.dev);
          if (r.proto) parts.push('proto', r.proto);
          if (r.scope && r.scope !== 'global') parts.push('scope', r.scope);
          if (r.src) parts.push('src', r.src);
          if (r.onlink) parts.push('onlink');
          return parts.join(' ');
        })
        .join('\n') + '\n'
    );
  }

  /** `ip neigh show`. */
  formatNeighbors(): string {
    return this.neigh.map((n) => `${n.ip} dev ${n.dev} lladdr ${n.lladdr} ${n.state}`).join('\n') + (this.neigh.length ? '\n' : '');
  }

  /** `bridge fdb show`. */
  formatFdb(): string {
    return this.fdb.map((f) => `${f.mac} dev ${f.dev} dst ${f.dst} self${f.permanent ? ' permanent' : ''}`).join('\n') + (this.fdb.length ? '\n' : '');
  }
}
