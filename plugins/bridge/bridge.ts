/**
 * The `bridge` plugin (containernetworking/plugins main/bridge), as flannel delegates to it: a
 * Linux bridge on the host (`cni0` unless `bridge` names another), a veth pair per attachment
 * with the host end enslaved to the bridge and the container end named CNI_IFNAME inside the
 * sandbox, addresses from the IPAM plugin (host-local), and with `isDefaultGateway` a default
 * route via each address's gateway. No kernel is touched: the result describes the interfaces
 * and the node data plane realizes them.
 *
 * Interface names and MACs are derived from the host, container id and interface name, so the
 * same attachment on the same node always gets the same ones.
 */

import { createHash } from 'node:crypto';

import { CniError, CniErrorCode, parsePrevResult, type CniInvocation, type CniResult, type CniRoute, type GcAttachment, type NetConf } from '../cni/spec.js';
import type { HostLocalIpam } from '../ipam/host-local.js';

/** The bridge plugin's configuration (the fields podnet reads). */
export interface BridgeNetConf extends NetConf {
  bridge?: string;
  mtu?: number;
  isGateway?: boolean;
  isDefaultGateway?: boolean;
  hairpinMode?: boolean;
  ipMasq?: boolean;
}

/** The bridge's default name. */
export const DEFAULT_BRIDGE = 'cni0';

/** One node's bridge plugin. */
export class BridgePlugin {
  readonly #ipam: HostLocalIpam;
  readonly #host: string;

  /**
   * @param options.ipam the node's host-local IPAM.
   * @param options.host the node's name (on a real node, its hostname), which keys MACs.
   */
  constructor(options: { ipam: HostLocalIpam; host: string }) {
    this.#ipam = options.ipam;
    this.#host = options.host;
  }

  /** The IPAM plugin of a configuration; podnet runs host-local only. No `ipam` is L2-only. */
  #ipamFor(conf: NetConf): HostLocalIpam | undefined {
    const type = conf.ipam?.type;
    if (type === undefined || type === '') return undefined;
    if (type !== 'host-local') {
      throw new CniError(CniErrorCode.UnsupportedField, `unsupported field "ipam.type": "${String(type)}"`, 'podnet runs the host-local IPAM plugin only');
    }
    return this.#ipam;
  }

  /** ADD: the bridge, the veth pair and the container interface, addressed by IPAM. */
  add(inv: Omit<CniInvocation, 'command'>, conf: BridgeNetConf): CniResult {
    const ipam = this.#ipamFor(conf)?.add(inv, conf) ?? { ips: [], routes: [] };
    const bridge = conf.bridge ?? DEFAULT_BRIDGE;
    const hash = createHash('sha256').update(`${this.#host}/${inv.containerId}/${inv.ifName}`).digest();
    const routes: CniRoute[] = [...ipam.routes];
    if (conf.isDefaultGateway) {
      for (const ip of ipam.ips) {
        if (ip.gateway) routes.push({ dst: ip.gateway.includes(':') ? '::/0' : '0.0.0.0/0', gw: ip.gateway });
      }
    }
    return {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: bridge, mac: macFrom(createHash('sha256').update(`${this.#host}/${bridge}`).digest()) },
        { name: `veth${hash.subarray(6, 10).toString('hex')}`, mac: macFrom(hash.subarray(10)) },
        { name: inv.ifName, mac: macFrom(hash), ...(conf.mtu ? { mtu: conf.mtu } : {}), sandbox: inv.netns },
      ],
      ips: ipam.ips.map((ip) => ({ ...ip, interface: 2 })),
      routes,
      dns: conf.dns ?? {},
    };
  }

  /** DEL: releases the addresses; the interfaces go with the sandbox. Unknown containers succeed. */
  del(inv: Omit<CniInvocation, 'command'>, conf: BridgeNetConf): void {
    this.#ipamFor(conf)?.del(inv, conf);
  }

  /**
   * CHECK: IPAM's CHECK first (the addresses of the container interface in `prevResult` must
   * still be reserved), then the container interface itself must be in `prevResult`, in the
   * sandbox CNI_NETNS names.
   */
  check(inv: Omit<CniInvocation, 'command'>, conf: BridgeNetConf): void {
    if (!conf.prevResult) throw new CniError(CniErrorCode.InvalidNetworkConfig, 'required prevResult missing');
    const prev = parsePrevResult(conf.prevResult, conf.cniVersion);
    const index = (prev.interfaces ?? []).findIndex((i) => i.name === inv.ifName && i.sandbox);
    const expected = (prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === index).map((ip) => ip.address.split('/')[0]!);
    this.#ipamFor(conf)?.check(inv, conf, expected);
    for (const i of prev.interfaces ?? []) {
      if (i.sandbox && i.sandbox !== inv.netns) {
        throw new CniError(CniErrorCode.Internal, `Sandbox in prevResult ${i.sandbox} doesn't match configured netns: ${inv.netns}`);
      }
    }
    if (index < 0) throw new CniError(CniErrorCode.Internal, `Container interface name missing in prevResult: ${inv.ifName}`);
  }

  /** GC (CNI 1.1.0): IPAM releases every reservation not in `valid`. */
  gc(conf: BridgeNetConf, valid: readonly GcAttachment[]): void {
    this.#ipamFor(conf)?.gc(conf, valid);
  }

  /** STATUS (CNI 1.1.0): ready when IPAM is. */
  status(conf: BridgeNetConf): void {
    this.#ipamFor(conf)?.status(conf);
  }
}

/** A locally administered unicast MAC from hash bytes. */
export function macFrom(bytes: Uint8Array): string {
  const b = [...bytes.subarray(0, 6)];
  b[0] = (b[0]! & 0xfe) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
