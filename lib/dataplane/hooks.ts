/**
 * The netfilter hook points a flow passes, in order, as on a Linux node running a CNI bridge
 * and an overlay. A flow from pod A (node 1) to pod B (node 2) walks:
 *
 *   pod A eth0 ──veth──► node 1: PREROUTING ─► routing ─► FORWARD ─► POSTROUTING ─► flannel.1 (encap)
 *                                                                                      │ VXLAN/UDP 8472
 *   pod B eth0 ◄──veth── node 2: POSTROUTING ◄─ FORWARD ◄─ routing ◄─ PREROUTING ◄─ flannel.1 (decap)
 *
 * A flow to a local process (a NodePort, a hostNetwork pod) ends in INPUT instead of FORWARD;
 * a flow a node process starts begins in OUTPUT. Handlers (kube-proxy's rule tables, policy,
 * masquerade) register at a hook with a priority, and run in priority order as netfilter runs
 * its tables (raw -300, mangle -150, dnat -100, filter 0, snat 100).
 */

/** The five netfilter hooks. */
export const HOOKS = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'] as const;

/** One of {@link HOOKS}. */
export type Hook = (typeof HOOKS)[number];

/** Netfilter's table priorities (include/uapi/linux/netfilter_ipv4.h). */
export const PRIORITY = {
  raw: -300,
  mangle: -150,
  dnat: -100,
  filter: 0,
  security: 50,
  snat: 100,
} as const;

/** The order hooks are walked for each path a flow can take through one node. */
export const PATHS = {
  /** Arrives on an interface, leaves on another: a routed (forwarded) flow. */
  forward: ['PREROUTING', 'FORWARD', 'POSTROUTING'],
  /** Arrives on an interface, is delivered to a local socket. */
  input: ['PREROUTING', 'INPUT'],
  /** Starts in a local process and leaves on an interface. */
  output: ['OUTPUT', 'POSTROUTING'],
  /** Starts and ends in local processes (loopback on the node). */
  local: ['OUTPUT', 'POSTROUTING', 'PREROUTING', 'INPUT'],
} as const satisfies Record<string, readonly Hook[]>;
