/**
 * Typed views of the kinds podnet's controllers and agents read (k8s.io/api). Only the fields
 * podnet uses are spelled out; everything else passes through untouched as plain JSON.
 */

import type { KubeObject, LabelSelector, ObjectMeta } from './meta.js';

/** core/v1 ContainerPort. */
export interface ContainerPort {
  name?: string;
  containerPort: number;
  hostPort?: number;
  hostIP?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/** core/v1 Probe (the parts podnet runs). */
export interface Probe {
  httpGet?: { path?: string; port: number | string; host?: string; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number | string; host?: string };
  exec?: { command?: string[] };
  grpc?: { port: number; service?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

/** core/v1 Container. */
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: ContainerPort[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  [field: string]: unknown;
}

/** core/v1 Toleration. */
export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' | '';
  tolerationSeconds?: number;
}

/** core/v1 NodeSelectorRequirement. */
export interface NodeSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  values?: string[];
}

/** core/v1 NodeSelectorTerm. */
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

/** core/v1 PodSpec (the parts podnet uses). */
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: NodeSelectorTerm[] };
      preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; preference: NodeSelectorTerm }[];
    };
    podAntiAffinity?: unknown;
    podAffinity?: unknown;
  };
  tolerations?: Toleration[];
  topologySpreadConstraints?: unknown[];
  hostname?: string;
  subdomain?: string;
  hostNetwork?: boolean;
  dnsPolicy?: 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';
  dnsConfig?: { nameservers?: string[]; searches?: string[]; options?: { name: string; value?: string }[] };
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  terminationGracePeriodSeconds?: number;
  schedulerName?: string;
  serviceAccountName?: string;
  [field: string]: unknown;
}

/** core/v1 PodCondition. */
export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/** core/v1 PodStatus (the parts podnet writes). */
export interface PodStatus {
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  conditions?: PodCondition[];
  hostIP?: string;
  hostIPs?: { ip: string }[];
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime?: string;
  containerStatuses?: unknown[];
  reason?: string;
  message?: string;
  [field: string]: unknown;
}

/** core/v1 Pod. */
export interface Pod extends KubeObject {
  spec: PodSpec;
  status?: PodStatus;
}

/** core/v1 PodTemplateSpec. */
export interface PodTemplateSpec {
  metadata?: ObjectMeta;
  spec: PodSpec;
}

/** core/v1 ServicePort. */
export interface ServicePort {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

/** core/v1 ServiceSpec. */
export interface ServiceSpec {
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  selector?: Record<string, string>;
  ports?: ServicePort[];
  clusterIP?: string;
  clusterIPs?: string[];
  ipFamilies?: ('IPv4' | 'IPv6')[];
  ipFamilyPolicy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  externalName?: string;
  externalIPs?: string[];
  loadBalancerIP?: string;
  loadBalancerSourceRanges?: string[];
  loadBalancerClass?: string;
  allocateLoadBalancerNodePorts?: boolean;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  internalTrafficPolicy?: 'Cluster' | 'Local';
  healthCheckNodePort?: number;
  sessionAffinity?: 'None' | 'ClientIP';
  sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
  publishNotReadyAddresses?: boolean;
  trafficDistribution?: string;
  [field: string]: unknown;
}

/** core/v1 Service. */
export interface Service extends KubeObject {
  spec: ServiceSpec;
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string; ipMode?: string }[] }; conditions?: unknown[] };
}

/** discovery/v1 Endpoint. */
export interface Endpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  hostname?: string;
  targetRef?: { kind: string; namespace?: string; name: string; uid?: string };
  nodeName?: string;
  zone?: string;
  hints?: { forZones?: { name: string }[]; forNodes?: { name: string }[] };
}

/** discovery/v1 EndpointPort. */
export interface EndpointPort {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port?: number;
  appProtocol?: string;
}

/** discovery/v1 EndpointSlice. */
export interface EndpointSlice extends KubeObject {
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: Endpoint[];
  ports?: EndpointPort[];
}

/** core/v1 Taint. */
export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  timeAdded?: string;
}

/** core/v1 Node. */
/** core/v1 NodeCondition. */
export interface NodeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

export interface Node extends KubeObject {
  spec: { podCIDR?: string; podCIDRs?: string[]; taints?: Taint[]; unschedulable?: boolean; providerID?: string };
  status?: {
    addresses?: { type: string; address: string }[];
    conditions?: NodeCondition[];
    capacity?: Record<string, string>;
    allocatable?: Record<string, string>;
    nodeInfo?: Record<string, string>;
    [field: string]: unknown;
  };
}

/** coordination.k8s.io/v1 Lease (a node's heartbeat in kube-node-lease). */
export interface Lease extends KubeObject {
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    /** metav1.MicroTime: RFC 3339 with microseconds. */
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** apps/v1 Deployment. */
export interface Deployment extends KubeObject {
  spec: {
    replicas?: number;
    selector: LabelSelector;
    template: PodTemplateSpec;
    strategy?: { type?: 'RollingUpdate' | 'Recreate'; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    minReadySeconds?: number;
    revisionHistoryLimit?: number;
    paused?: boolean;
    progressDeadlineSeconds?: number;
  };
  status?: Record<string, unknown>;
}

/** apps/v1 ReplicaSet. */
export interface ReplicaSet extends KubeObject {
  spec: { replicas?: number; selector: LabelSelector; template: PodTemplateSpec; minReadySeconds?: number };
  status?: Record<string, unknown>;
}

/** apps/v1 StatefulSet. */
export interface StatefulSet extends KubeObject {
  spec: {
    replicas?: number;
    selector: LabelSelector;
    template: PodTemplateSpec;
    serviceName?: string;
    podManagementPolicy?: 'OrderedReady' | 'Parallel';
    updateStrategy?: { type?: 'RollingUpdate' | 'OnDelete'; rollingUpdate?: { partition?: number; maxUnavailable?: number | string } };
    ordinals?: { start?: number };
    minReadySeconds?: number;
  };
  status?: Record<string, unknown>;
}

/** apps/v1 DaemonSet. */
export interface DaemonSet extends KubeObject {
  spec: {
    selector: LabelSelector;
    template: PodTemplateSpec;
    updateStrategy?: { type?: 'RollingUpdate' | 'OnDelete'; rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string } };
    minReadySeconds?: number;
  };
  status?: Record<string, unknown>;
}

/** Well-known label, annotation and taint keys (k8s.io/api/core/v1 well_known_labels.go). */
export const WellKnown = {
  hostname: 'kubernetes.io/hostname',
  zone: 'topology.kubernetes.io/zone',
  region: 'topology.kubernetes.io/region',
  os: 'kubernetes.io/os',
  arch: 'kubernetes.io/arch',
  controlPlaneRole: 'node-role.kubernetes.io/control-plane',
  controlPlaneTaint: 'node-role.kubernetes.io/control-plane',
  notReadyTaint: 'node.kubernetes.io/not-ready',
  unreachableTaint: 'node.kubernetes.io/unreachable',
  unschedulableTaint: 'node.kubernetes.io/unschedulable',
  namespaceName: 'kubernetes.io/metadata.name',
  serviceName: 'kubernetes.io/service-name',
  managedBy: 'endpointslice.kubernetes.io/managed-by',
  endpointSliceController: 'endpointslice-controller.k8s.io',
  podTemplateHash: 'pod-template-hash',
  controllerRevisionHash: 'controller-revision-hash',
  statefulSetPodName: 'statefulset.kubernetes.io/pod-name',
  podIndex: 'apps.kubernetes.io/pod-index',
  headless: 'service.kubernetes.io/headless',
  calicoIpAddrs: 'cni.projectcalico.org/ipAddrs',
  hostAddresses: 'podnet.dev/host-addresses',
  /** Pod annotation: names of containers to run as real local processes (comma-separated). */
  localProcess: 'podnet.dev/local-process',
  lastApplied: 'kubectl.kubernetes.io/last-applied-configuration',
} as const;
