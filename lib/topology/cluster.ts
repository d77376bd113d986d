/**
 * Topology documents: podnet's own `Cluster` (apiVersion podnet.dev/v1alpha1) and kind's cluster
 * config (kind.x-k8s.io/v1alpha4), both turned into one validated {@link ClusterSpec}.
 *
 * Naming follows kind: nodes are `<cluster>-control-plane`, `<cluster>-worker`,
 * `<cluster>-worker2`, ... unless named; node addresses are 172.18.0.2, .3, ... in node order
 * unless given. The published JSON Schema is topologies/cluster.schema.json.
 */

import { ipFamilyOf, parseCIDR, parseIPRange } from '../core/ipnet.js';
import { TopologyError, field, type FieldError, type SourceLocation } from '../core/errors.js';
import { CLUSTER_DEFAULTS, KUBERNETES_VERSION, NODE_LIFECYCLE_DEFAULTS, type ClusterSpec, type LinkSpec, type NodeSpec } from '../api/cluster.js';
import { WellKnown } from '../api/types.js';
import { parseRate } from '../dataplane/shaping.js';
import type { KubeObject } from '../api/meta.js';

/** apiVersion of podnet's Cluster document. */
export const CLUSTER_API_VERSION = 'podnet.dev/v1alpha1';
/** apiVersion of kind's cluster config. */
export const KIND_API_VERSION = 'kind.x-k8s.io/v1alpha4';

/** True for the documents this module reads. */
export function isTopologyDocument(obj: { apiVersion?: unknown; kind?: unknown }): boolean {
  return (obj.apiVersion === CLUSTER_API_VERSION || obj.apiVersion === KIND_API_VERSION) && obj.kind === 'Cluster';
}

/** The cluster podnet runs when no topology document is given: kind's default single node. */
export function defaultClusterSpec(): ClusterSpec {
  return parseClusterDocument({ apiVersion: CLUSTER_API_VERSION, kind: 'Cluster', metadata: { name: 'podnet' }, spec: {} });
}

/** Parses and validates a topology document; throws {@link TopologyError} with every problem. */
export function parseClusterDocument(doc: KubeObject | Record<string, unknown>, source?: SourceLocation): ClusterSpec {
  const errors: FieldError[] = [];
  const isKind = doc.apiVersion === KIND_API_VERSION;
  const spec = isKind ? fromKindConfig(doc, errors) : fromClusterDocument(doc, errors);
  if (spec) {
    const checked = errors.length;
    validate(spec, errors, isKind ? '' : 'spec.');
    // Name the kind config's own fields, not the ones they were mapped onto.
    if (isKind) for (const e of errors.slice(checked)) e.field = KIND_FIELD_PATHS[e.field] ?? e.field;
  }
  if (errors.length || !spec) throw new TopologyError(errors, source);
  return spec;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Obj, key: string, path: string, errors: FieldError[]): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    errors.push(field.invalid(`${path}${key}`, v, 'must be a string'));
    return undefined;
  }
  return v;
}

function num(o: Obj, key: string, path: string, errors: FieldError[]): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    errors.push(field.invalid(`${path}${key}`, v, 'must be a number'));
    return undefined;
  }
  return v;
}

function bool(o: Obj, key: string, path: string, errors: FieldError[]): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') {
    errors.push(field.invalid(`${path}${key}`, v, 'must be true or false'));
    return undefined;
  }
  return v;
}

function stringMap(o: Obj, key: string, path: string, errors: FieldError[]): Record<string, string> {
  const v = o[key];
  if (v === undefined || v === null) return {};
  if (!isObj(v)) {
    errors.push(field.invalid(`${path}${key}`, v, 'must be a map of strings'));
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') errors.push(field.invalid(`${path}${key}[${k}]`, val, 'must be a string'));
    else out[k] = val;
  }
  return out;
}

function checkKnown(o: Obj, known: string[], path: string, errors: FieldError[]): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) errors.push({ type: 'Not found', field: `${path}${k}`, detail: `unknown field "${k}"; known fields: ${known.join(', ')}` });
  }
}

/** `5ms`, `1.5s`, `200us` or a bare number of milliseconds. */
function parseDuration(v: unknown, path: string, errors: FieldError[]): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && v >= 0) return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(us|ms|s)$/.exec(v.trim()) : null;
  if (!m) {
    errors.push(field.invalid(path, v, 'must be a duration such as 5ms, 1.5s or 200us'));
    return undefined;
  }
  const n = Number(m[1]);
  return m[2] === 's' ? n * 1000 : m[2] === 'us' ? n / 1000 : n;
}

/** `1%`, `0.5%` or a bare number of percent. */
function parsePercent(v: unknown, path: string, errors: FieldError[]): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d+)?%$/.test(v.trim()) ? Number(v.trim().slice(0, -1)) : NaN;
  if (!(n >= 0 && n <= 100)) {
    errors.push(field.invalid(path, v, 'must be a percentage between 0 and 100, such as 1% or 0.5%'));
    return undefined;
  }
  return n;
}

/** A tc rate (`100mbit`, `1gbit`, `512kbit`, `125kbps`; see shaping.ts) or a number of Mbit/s. */
function parseBandwidth(v: unknown, path: string, errors: FieldError[]): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && v > 0) return v;
  try {
    if (typeof v === 'string') return parseRate(v) / 1e6;
  } catch {
    // reported below
  }
  errors.push(field.invalid(path, v, 'must be a bandwidth such as 100mbit, 1gbit or 512kbit (a tc rate)'));
  return undefined;
}

const CLUSTER_FIELDS = ['seed', 'nodes', 'network', 'kubeProxy', 'dns', 'links', 'kubernetesVersion', 'nodeLifecycle'];
const NODE_FIELDS = ['name', 'role', 'labels', 'zone', 'region', 'address', 'taints', 'schedulable', 'podCIDR', 'down'];
const NETWORK_FIELDS = [
  'plugin',
  'backend',
  'mtu',
  'podSubnet',
  'nodeCIDRMaskSize',
  'podSubnetV6',
  'nodeCIDRMaskSizeV6',
  'serviceSubnet',
  'serviceSubnetV6',
  'loadBalancerPool',
  'serviceNodePortRange',
];
const LINK_FIELDS = ['between', 'latency', 'jitter', 'loss', 'bandwidth', 'partitioned'];
const DOCUMENT_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec'];
const KUBE_PROXY_FIELDS = ['mode', 'ipvsScheduler'];
const DNS_FIELDS = ['domain'];
const NODE_LIFECYCLE_FIELDS = ['nodeMonitorGracePeriodSeconds', 'evictionTimeoutSeconds'];

/** An optional object field: absent or null is `{}`; anything but an object is an error. */
function section(o: Obj, key: string, path: string, known: string[], errors: FieldError[]): Obj {
  const v = o[key];
  if (v === undefined || v === null) return {};
  if (!isObj(v)) {
    errors.push(field.invalid(`${path}${key}`, v, 'must be an object'));
    return {};
  }
  checkKnown(v, known, `${path}${key}.`, errors);
  return v;
}

function fromClusterDocument(doc: Obj, errors: FieldError[]): ClusterSpec | undefined {
  checkKnown(doc, DOCUMENT_FIELDS, '', errors);
  const metadata = isObj(doc.metadata) ? doc.metadata : {};
  const name = typeof metadata.name === 'string' && metadata.name ? metadata.name : CLUSTER_DEFAULTS.name;
  const spec = doc.spec === undefined || doc.spec === null ? {} : doc.spec;
  if (!isObj(spec)) {
    errors.push(field.invalid('spec', spec, 'must be an object'));
    return undefined;
  }
  checkKnown(spec, CLUSTER_FIELDS, 'spec.', errors);

  const net = section(spec, 'network', 'spec.', NETWORK_FIELDS, errors);

  const rawNodes = spec.nodes ?? [{ role: 'control-plane' }];
  const nodes: NodeSpec[] = [];
  if (!Array.isArray(rawNodes)) errors.push(field.invalid('spec.nodes', rawNodes, 'must be a list'));
  else {
    const counts = { 'control-plane': 0, worker: 0 };
    rawNodes.forEach((raw, i) => {
      const path = `spec.nodes[${i}].`;
      if (!isObj(raw)) {
        errors.push(field.invalid(`spec.nodes[${i}]`, raw, 'must be an object'));
        return;
      }
      checkKnown(raw, NODE_FIELDS, path, errors);
      const node = nodeFrom(raw, path, name, counts, nodes.length, errors);
      if (node) nodes.push(node);
    });
  }

  const kubeProxy = section(spec, 'kubeProxy', 'spec.', KUBE_PROXY_FIELDS, errors);
  const dns = section(spec, 'dns', 'spec.', DNS_FIELDS, errors);
  const lifecycle = section(spec, 'nodeLifecycle', 'spec.', NODE_LIFECYCLE_FIELDS, errors);
  const links: LinkSpec[] = [];
  if (spec.links !== undefined && spec.links !== null) {
    if (!Array.isArray(spec.links)) errors.push(field.invalid('spec.links', spec.links, 'must be a list'));
    else
      spec.links.forEach((raw, i) => {
        const path = `spec.links[${i}]`;
        if (!isObj(raw)) return void errors.push(field.invalid(path, raw, 'must be an object'));
        checkKnown(raw, LINK_FIELDS, `${path}.`, errors);
        const between = raw.between;
        if (!Array.isArray(between) || between.length !== 2 || !between.every((b) => typeof b === 'string')) {
          errors.push(field.invalid(`${path}.between`, between, 'must name exactly two nodes'));
          return;
        }
        const link: LinkSpec = { between: [between[0] as string, between[1] as string] };
        const latency = parseDuration(raw.latency, `${path}.latency`, errors);
        const jitter = parseDuration(raw.jitter, `${path}.jitter`, errors);
        const loss = parsePercent(raw.loss, `${path}.loss`, errors);
        const bandwidth = parseBandwidth(raw.bandwidth, `${path}.bandwidth`, errors);
        if (latency !== undefined) link.latencyMs = latency;
        if (jitter !== undefined) link.jitterMs = jitter;
        if (loss !== undefined) link.lossPercent = loss;
        if (bandwidth !== undefined) link.bandwidthMbit = bandwidth;
        const partitioned = bool(raw, 'partitioned', `${path}.`, errors);
        if (partitioned !== undefined) link.partitioned = partitioned;
        links.push(link);
      });
  }
  const pool = net.loadBalancerPool;
  const loadBalancerPool =
    pool === undefined
      ? [...CLUSTER_DEFAULTS.loadBalancerPool]
      : Array.isArray(pool) && pool.every((p) => typeof p === 'string')
        ? (pool as string[])
        : (errors.push(field.invalid('spec.network.loadBalancerPool', pool, 'must be a list of CIDRs or address ranges')), []);

  const seed = num(spec, 'seed', 'spec.', errors);
  const result: ClusterSpec = {
    name,
    nodes,
    network: {
      plugin: (str(net, 'plugin', 'spec.network.', errors) ?? CLUSTER_DEFAULTS.plugin) as 'flannel',
      mtu: num(net, 'mtu', 'spec.network.', errors) ?? CLUSTER_DEFAULTS.mtu,
      podSubnet: str(net, 'podSubnet', 'spec.network.', errors) ?? CLUSTER_DEFAULTS.podSubnet,
      nodeCIDRMaskSize: num(net, 'nodeCIDRMaskSize', 'spec.network.', errors) ?? CLUSTER_DEFAULTS.nodeCIDRMaskSize,
      serviceSubnet: str(net, 'serviceSubnet', 'spec.network.', errors) ?? CLUSTER_DEFAULTS.serviceSubnet,
      loadBalancerPool,
      serviceNodePortRange: str(net, 'serviceNodePortRange', 'spec.network.', errors) ?? CLUSTER_DEFAULTS.serviceNodePortRange,
    },
    kubeProxy: { mode: (str(kubeProxy, 'mode', 'spec.kubeProxy.', errors) ?? CLUSTER_DEFAULTS.kubeProxyMode) as 'iptables' },
    dns: { domain: str(dns, 'domain', 'spec.dns.', errors) ?? CLUSTER_DEFAULTS.dnsDomain },
    links,
    kubernetesVersion: str(spec, 'kubernetesVersion', 'spec.', errors) ?? KUBERNETES_VERSION,
  };
  const backend = str(net, 'backend', 'spec.network.', errors);
  if (backend) result.network.backend = backend;
  const v6 = str(net, 'podSubnetV6', 'spec.network.', errors);
  if (v6) {
    result.network.podSubnetV6 = v6;
    result.network.nodeCIDRMaskSizeV6 = num(net, 'nodeCIDRMaskSizeV6', 'spec.network.', errors) ?? CLUSTER_DEFAULTS.nodeCIDRMaskSizeV6;
  }
  const svc6 = str(net, 'serviceSubnetV6', 'spec.network.', errors);
  if (svc6) result.network.serviceSubnetV6 = svc6;
  const scheduler = str(kubeProxy, 'ipvsScheduler', 'spec.kubeProxy.', errors);
  if (scheduler) result.kubeProxy.ipvsScheduler = scheduler;
  if (seed !== undefined) result.seed = seed;
  if (spec.nodeLifecycle !== undefined && spec.nodeLifecycle !== null) {
    result.nodeLifecycle = {
      nodeMonitorGracePeriodSeconds: num(lifecycle, 'nodeMonitorGracePeriodSeconds', 'spec.nodeLifecycle.', errors) ?? NODE_LIFECYCLE_DEFAULTS.nodeMonitorGracePeriodSeconds,
      evictionTimeoutSeconds: num(lifecycle, 'evictionTimeoutSeconds', 'spec.nodeLifecycle.', errors) ?? NODE_LIFECYCLE_DEFAULTS.evictionTimeoutSeconds,
    };
  }
  return result;
}

function nodeFrom(
  raw: Obj,
  path: string,
  clusterName: string,
  counts: Record<'control-plane' | 'worker', number>,
  index: number,
  errors: FieldError[],
): NodeSpec | undefined {
  const role = (str(raw, 'role', path, errors) ?? 'worker') as NodeSpec['role'];
  if (role !== 'control-plane' && role !== 'worker') {
    errors.push(field.notSupported(`${path}role`, role, ['control-plane', 'worker']));
    return undefined;
  }
  const n = ++counts[role];
  const name = str(raw, 'name', path, errors) ?? `${clusterName}-${role}${n > 1 ? n : ''}`;
  const labels = stringMap(raw, 'labels', path, errors);
  const node: NodeSpec = {
    name,
    role,
    labels,
    address: str(raw, 'address', path, errors) ?? `${CLUSTER_DEFAULTS.nodeAddressBase}${index + 2}`,
    taints: [],
  };
  const zone = str(raw, 'zone', path, errors);
  const region = str(raw, 'region', path, errors);
  if (zone) node.zone = zone;
  if (region) node.region = region;
  const podCIDR = str(raw, 'podCIDR', path, errors);
  if (podCIDR) node.podCIDR = podCIDR;
  const schedulable = bool(raw, 'schedulable', path, errors);
  const down = bool(raw, 'down', path, errors);
  if (schedulable !== undefined) node.schedulable = schedulable;
  if (down !== undefined) node.down = down;
  if (raw.taints !== undefined) {
    if (!Array.isArray(raw.taints)) errors.push(field.invalid(`${path}taints`, raw.taints, 'must be a list'));
    else
      raw.taints.forEach((t, i) => {
        const tp = `${path}taints[${i}]`;
        if (!isObj(t) || typeof t.key !== 'string' || typeof t.effect !== 'string') {
          errors.push(field.invalid(tp, t, 'a taint needs a key and an effect'));
          return;
        }
        if (!['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) {
          errors.push(field.notSupported(`${tp}.effect`, t.effect, ['NoSchedule', 'PreferNoSchedule', 'NoExecute']));
          return;
        }
        node.taints.push({ key: t.key, effect: t.effect as 'NoSchedule', ...(typeof t.value === 'string' ? { value: t.value } : {}) });
      });
  }
  return node;
}

const KIND_FIELDS = ['kind', 'apiVersion', 'name', 'nodes', 'networking', 'featureGates', 'runtimeConfig', 'kubeadmConfigPatches', 'kubeadmConfigPatchesJSON6902', 'containerdConfigPatches', 'containerdConfigPatchesJSON6902'];
// kind decodes its config strictly (yaml KnownFields): these are v1alpha4's Node and Networking.
const KIND_NODE_FIELDS = ['role', 'image', 'labels', 'extraMounts', 'extraPortMappings', 'kubeadmConfigPatches', 'kubeadmConfigPatchesJSON6902'];
const KIND_NETWORKING_FIELDS = ['ipFamily', 'apiServerPort', 'apiServerAddress', 'podSubnet', 'serviceSubnet', 'disableDefaultCNI', 'kubeProxyMode', 'dnsSearch'];

/** Where the fields a kind config sets live in the kind config, for validation errors. */
const KIND_FIELD_PATHS: Record<string, string> = {
  'network.podSubnet': 'networking.podSubnet',
  'network.podSubnetV6': 'networking.podSubnet',
  'network.serviceSubnet': 'networking.serviceSubnet',
  'network.serviceSubnetV6': 'networking.serviceSubnet',
  'kubeProxy.mode': 'networking.kubeProxyMode',
};

/** kind's cluster config: nodes with roles, networking.podSubnet/serviceSubnet/kubeProxyMode. */
function fromKindConfig(doc: Obj, errors: FieldError[]): ClusterSpec | undefined {
  // The manifest reader gives every document a `metadata: {}`; kind's config has no such field.
  const { metadata, ...fields } = doc;
  checkKnown(isObj(metadata) && !Object.keys(metadata).length ? fields : doc, KIND_FIELDS, '', errors);
  const name = typeof doc.name === 'string' && doc.name ? doc.name : 'kind';
  const networking = section(doc, 'networking', '', KIND_NETWORKING_FIELDS, errors);
  const rawNodes = doc.nodes ?? [{ role: 'control-plane' }];
  const nodes: NodeSpec[] = [];
  if (!Array.isArray(rawNodes)) errors.push(field.invalid('nodes', rawNodes, 'must be a list'));
  else {
    const counts = { 'control-plane': 0, worker: 0 };
    rawNodes.forEach((raw, i) => {
      if (!isObj(raw)) return void errors.push(field.invalid(`nodes[${i}]`, raw, 'must be an object'));
      checkKnown(raw, KIND_NODE_FIELDS, `nodes[${i}].`, errors);
      const kindNode: Obj = { role: raw.role ?? 'control-plane' };
      if (raw.labels !== undefined) kindNode.labels = raw.labels;
      const node = nodeFrom(kindNode, `nodes[${i}].`, name, counts, nodes.length, errors);
      if (node) nodes.push(node);
    });
  }
  const mode = str(networking, 'kubeProxyMode', 'networking.', errors);
  const ipFamily = str(networking, 'ipFamily', 'networking.', errors) ?? 'ipv4';
  const podSubnet = str(networking, 'podSubnet', 'networking.', errors);
  const serviceSubnet = str(networking, 'serviceSubnet', 'networking.', errors);
  const spec: ClusterSpec = {
    name,
    nodes,
    network: {
      plugin: 'flannel',
      mtu: CLUSTER_DEFAULTS.mtu,
      // A subnet given but unusable is reported by validate(), not replaced by the default.
      podSubnet: podSubnet === undefined ? CLUSTER_DEFAULTS.podSubnet : (firstOfFamily(podSubnet, 4) ?? podSubnet),
      nodeCIDRMaskSize: CLUSTER_DEFAULTS.nodeCIDRMaskSize,
      serviceSubnet: serviceSubnet === undefined ? CLUSTER_DEFAULTS.serviceSubnet : (firstOfFamily(serviceSubnet, 4) ?? serviceSubnet),
      loadBalancerPool: [...CLUSTER_DEFAULTS.loadBalancerPool],
      serviceNodePortRange: CLUSTER_DEFAULTS.serviceNodePortRange,
    },
    kubeProxy: { mode: (mode === 'none' || !mode ? 'iptables' : mode) as 'iptables' },
    dns: { domain: CLUSTER_DEFAULTS.dnsDomain },
    links: [],
    kubernetesVersion: KUBERNETES_VERSION,
  };
  if (ipFamily === 'dual') {
    spec.network.podSubnetV6 = firstOfFamily(podSubnet, 6) ?? CLUSTER_DEFAULTS.podSubnetV6;
    spec.network.nodeCIDRMaskSizeV6 = CLUSTER_DEFAULTS.nodeCIDRMaskSizeV6;
    spec.network.serviceSubnetV6 = firstOfFamily(serviceSubnet, 6) ?? CLUSTER_DEFAULTS.serviceSubnetV6;
  } else if (ipFamily !== 'ipv4') {
    errors.push(field.notSupported('networking.ipFamily', ipFamily, ['ipv4', 'dual']));
  }
  return spec;
}

/** kind writes dual-stack subnets as `a,b`; picks the one of the wanted family. */
function firstOfFamily(value: string | undefined, family: 4 | 6): string | undefined {
  return value
    ?.split(',')
    .map((s) => s.trim())
    .find((s) => ipFamilyOf(s.split('/')[0]!) === (family === 4 ? 'IPv4' : 'IPv6'));
}

function isCidr(s: string, family?: 4 | 6): boolean {
  const cidr = parseCIDR(s);
  return !!cidr && (!family || cidr.family === (family === 4 ? 'IPv4' : 'IPv6'));
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function validate(spec: ClusterSpec, errors: FieldError[], p: string): void {
  const net = spec.network;
  const nodesPath = p ? `${p}nodes` : 'nodes';
  if (!spec.nodes.length) errors.push(field.required(nodesPath, 'a cluster needs at least one node'));
  const names = new Set<string>();
  const addresses = new Set<string>();
  spec.nodes.forEach((n, i) => {
    if (!DNS1123_SUBDOMAIN.test(n.name) || n.name.length > 253) {
      errors.push(field.invalid(`${nodesPath}[${i}].name`, n.name, 'must be a lowercase RFC 1123 subdomain'));
    }
    if (names.has(n.name)) errors.push(field.duplicate(`${nodesPath}[${i}].name`, n.name));
    names.add(n.name);
    if (ipFamilyOf(n.address) !== 'IPv4') errors.push(field.invalid(`${nodesPath}[${i}].address`, n.address, 'must be a valid IPv4 address'));
    else if (n.address.startsWith('127.')) {
      errors.push(field.invalid(`${nodesPath}[${i}].address`, n.address, 'is a virtual node address and may not be a loopback address'));
    }
    if (addresses.has(n.address)) errors.push(field.duplicate(`${nodesPath}[${i}].address`, n.address));
    addresses.add(n.address);
    if (n.podCIDR && !isCidr(n.podCIDR)) errors.push(field.invalid(`${nodesPath}[${i}].podCIDR`, n.podCIDR, 'must be a valid CIDR'));
    if (n.zone && !DNS1123_SUBDOMAIN.test(n.zone.toLowerCase())) {
      errors.push(field.invalid(`${nodesPath}[${i}].zone`, n.zone, 'must be a valid label value'));
    }
  });
  const np = `${p}network.`;
  if (!['flannel', 'calico'].includes(net.plugin)) errors.push(field.notSupported(`${np}plugin`, net.plugin, ['flannel', 'calico']));
  const backends = net.plugin === 'calico' ? ['ipip', 'vxlan', 'none'] : ['vxlan', 'host-gw'];
  if (net.backend && !backends.includes(net.backend)) errors.push(field.notSupported(`${np}backend`, net.backend, backends));
  if (!(Number.isInteger(net.mtu) && net.mtu >= 576 && net.mtu <= 9000)) errors.push(field.invalid(`${np}mtu`, net.mtu, 'must be between 576 and 9000'));
  if (!isCidr(net.podSubnet, 4)) errors.push(field.invalid(`${np}podSubnet`, net.podSubnet, 'must be a valid IPv4 CIDR'));
  if (!isCidr(net.serviceSubnet, 4)) errors.push(field.invalid(`${np}serviceSubnet`, net.serviceSubnet, 'must be a valid IPv4 CIDR'));
  else if (Number(net.serviceSubnet.split('/')[1]) < 12) {
    errors.push(field.invalid(`${np}serviceSubnet`, net.serviceSubnet, 'must be /12 or smaller (the apiserver allows at most 2^20 service addresses)'));
  }
  const podBits = Number(net.podSubnet.split('/')[1]);
  if (isCidr(net.podSubnet, 4) && !(Number.isInteger(net.nodeCIDRMaskSize) && net.nodeCIDRMaskSize <= 30 && net.nodeCIDRMaskSize >= podBits)) {
    errors.push(field.invalid(`${np}nodeCIDRMaskSize`, net.nodeCIDRMaskSize, `must be between the pod subnet's prefix length (${podBits}) and 30`));
  }
  if (net.podSubnetV6 && !isCidr(net.podSubnetV6, 6)) errors.push(field.invalid(`${np}podSubnetV6`, net.podSubnetV6, 'must be a valid IPv6 CIDR'));
  if (net.serviceSubnetV6 && !isCidr(net.serviceSubnetV6, 6)) {
    errors.push(field.invalid(`${np}serviceSubnetV6`, net.serviceSubnetV6, 'must be a valid IPv6 CIDR'));
  }
  net.loadBalancerPool.forEach((entry, i) => {
    const ok = parseIPRange(entry)?.family === 'IPv4';
    if (!ok) errors.push(field.invalid(`${np}loadBalancerPool[${i}]`, entry, 'must be a CIDR or a range like 172.18.255.200-172.18.255.250'));
  });
  const m = /^(\d+)-(\d+)$/.exec(net.serviceNodePortRange);
  if (!m || Number(m[1]) < 1 || Number(m[2]) > 65535 || Number(m[1]) > Number(m[2])) {
    errors.push(field.invalid(`${np}serviceNodePortRange`, net.serviceNodePortRange, 'must be a port range such as 30000-32767'));
  }
  const modes = ['iptables', 'nftables', 'ipvs'];
  if (!modes.includes(spec.kubeProxy.mode)) errors.push(field.notSupported(`${p}kubeProxy.mode`, spec.kubeProxy.mode, modes));
  const schedulers = ['rr', 'lc', 'sh', 'wrr', 'wlc', 'dh', 'sed', 'nq'];
  if (spec.kubeProxy.ipvsScheduler && !schedulers.includes(spec.kubeProxy.ipvsScheduler)) {
    errors.push(field.notSupported(`${p}kubeProxy.ipvsScheduler`, spec.kubeProxy.ipvsScheduler, schedulers));
  }
  const labels = spec.dns.domain.split('.');
  if (!labels.every((l) => DNS1123_LABEL.test(l))) errors.push(field.invalid(`${p}dns.domain`, spec.dns.domain, 'must be a valid DNS domain'));
  spec.links.forEach((l, i) => {
    for (const [j, n] of l.between.entries()) {
      if (!names.has(n)) errors.push(field.invalid(`${p}links[${i}].between[${j}]`, n, `no such node; nodes are ${[...names].join(', ')}`));
    }
    if (l.between[0] === l.between[1]) errors.push(field.invalid(`${p}links[${i}].between`, l.between, 'must name two different nodes'));
  });
  const lc = spec.nodeLifecycle;
  if (lc && !(Number.isInteger(lc.nodeMonitorGracePeriodSeconds) && lc.nodeMonitorGracePeriodSeconds >= 1)) {
    errors.push(field.invalid(`${p}nodeLifecycle.nodeMonitorGracePeriodSeconds`, lc.nodeMonitorGracePeriodSeconds, 'must be a whole number of seconds, at least 1'));
  }
  if (lc && !(Number.isInteger(lc.evictionTimeoutSeconds) && lc.evictionTimeoutSeconds >= 0)) {
    errors.push(field.invalid(`${p}nodeLifecycle.evictionTimeoutSeconds`, lc.evictionTimeoutSeconds, 'must be a whole number of seconds, 0 or more'));
  }
  if (spec.seed !== undefined && !(Number.isInteger(spec.seed) && spec.seed >= 0 && spec.seed < 2 ** 32)) {
    errors.push(field.invalid(`${p}seed`, spec.seed, 'must be an integer between 0 and 4294967295'));
  }
}

/** The labels a node gets, as kubelet and kind set them. */
export function nodeLabels(node: NodeSpec): Record<string, string> {
  const labels: Record<string, string> = {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    [WellKnown.arch]: 'amd64',
    [WellKnown.hostname]: node.name,
    [WellKnown.os]: 'linux',
  };
  if (node.role === 'control-plane') labels[WellKnown.controlPlaneRole] = '';
  if (node.zone) labels[WellKnown.zone] = node.zone;
  if (node.region) labels[WellKnown.region] = node.region;
  return { ...labels, ...node.labels };
}
