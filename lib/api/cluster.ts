/**
 * The `Cluster` document (apiVersion podnet.dev/v1alpha1): the shape of an emulated cluster —
 * its nodes, network plugin, address ranges, kube-proxy mode, DNS domain and links. It is plain
 * data, parsed and validated once (lib/topology) and then realized by lib/cluster.ts.
 *
 * Defaults are kind's: pods 10.244.0.0/16 with a /24 per node, services 10.96.0.0/12, node
 * addresses 172.18.0.2, .3, ... in node order.
 */

/** One emulated node. */
export interface NodeSpec {
  name: string;
  role: 'control-plane' | 'worker';
  labels: Record<string, string>;
  zone?: string;
  region?: string;
  /** The node's InternalIP (virtual). */
  address: string;
  /** Extra taints; the control-plane taint is added to control-plane nodes unless `schedulable`. */
  taints: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  /** Allow ordinary pods on a control-plane node (removes the control-plane taint). */
  schedulable?: boolean;
  /** A given podCIDR (snapshot or explicit); otherwise node IPAM allocates one. */
  podCIDR?: string;
  /** Start with the node stopped. */
  down?: boolean;
}

/** A link between two nodes with its impairments. */
export interface LinkSpec {
  between: [string, string];
  latencyMs?: number;
  jitterMs?: number;
  lossPercent?: number;
  bandwidthMbit?: number;
  partitioned?: boolean;
}

/** The network plugin and its options. */
export interface NetworkSpec {
  plugin: 'flannel' | 'calico';
  /** flannel: vxlan | host-gw; calico: ipip | vxlan | none. */
  backend?: string;
  /** Underlay MTU; pod MTU is derived by the plugin. */
  mtu: number;
  podSubnet: string;
  /** Per-node podCIDR prefix length (kube-controller-manager --node-cidr-mask-size). */
  nodeCIDRMaskSize: number;
  /** IPv6 pod subnet for dual-stack, if any. */
  podSubnetV6?: string;
  nodeCIDRMaskSizeV6?: number;
  serviceSubnet: string;
  serviceSubnetV6?: string;
  /** Load-balancer address pool (CIDR or start-end ranges). */
  loadBalancerPool: string[];
  /** NodePort range, `30000-32767` by default. */
  serviceNodePortRange: string;
}

/**
 * How the control plane reacts to a node that stops answering (kube-controller-manager's node
 * lifecycle controller and kube-apiserver's DefaultTolerationSeconds admission plugin).
 */
export interface NodeLifecycleSpec {
  /** `--node-monitor-grace-period`: without a heartbeat for this long a node goes Ready=Unknown. */
  nodeMonitorGracePeriodSeconds: number;
  /**
   * `--default-not-ready-toleration-seconds` and `--default-unreachable-toleration-seconds`: how
   * long pods stay bound to a NotReady or unreachable node before they are evicted.
   */
  evictionTimeoutSeconds: number;
}

/** The whole cluster description. */
export interface ClusterSpec {
  name: string;
  nodes: NodeSpec[];
  network: NetworkSpec;
  kubeProxy: { mode: 'iptables' | 'nftables' | 'ipvs'; ipvsScheduler?: string };
  dns: { domain: string };
  links: LinkSpec[];
  /** Node failure detection and eviction; {@link NODE_LIFECYCLE_DEFAULTS} when unset. */
  nodeLifecycle?: NodeLifecycleSpec;
  /** Seed for every random choice; unset means entropy. */
  seed?: number;
  /** Kubernetes version podnet reports. */
  kubernetesVersion: string;
}

/** The Kubernetes release podnet follows. */
export const KUBERNETES_VERSION = 'v1.32.0';

/**
 * Upstream's defaults for v1.32: node-monitor-grace-period 50s (kubernetes/kubernetes#126287,
 * 40s before 1.32) and 300s default tolerations (plugin/pkg/admission/defaulttolerationseconds).
 */
export const NODE_LIFECYCLE_DEFAULTS: NodeLifecycleSpec = { nodeMonitorGracePeriodSeconds: 50, evictionTimeoutSeconds: 300 };

/** kind's defaults. */
export const CLUSTER_DEFAULTS = {
  name: 'podnet',
  podSubnet: '10.244.0.0/16',
  nodeCIDRMaskSize: 24,
  podSubnetV6: 'fd00:10:244::/56',
  nodeCIDRMaskSizeV6: 64,
  serviceSubnet: '10.96.0.0/12',
  serviceSubnetV6: 'fd00:10:96::/112',
  nodeAddressBase: '172.18.0.',
  loadBalancerPool: ['172.18.255.200-172.18.255.250'],
  serviceNodePortRange: '30000-32767',
  mtu: 1500,
  dnsDomain: 'cluster.local',
  plugin: 'flannel',
  kubeProxyMode: 'iptables',
} as const;
