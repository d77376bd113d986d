import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLUSTER_API_VERSION, KIND_API_VERSION, defaultClusterSpec, nodeLabels, parseClusterDocument } from '../../lib/topology/cluster.js';
import { loadTopologyFiles, parseTopology } from '../../lib/topology/load.js';
import { TopologyError, formatFieldError, type FieldError } from '../../lib/core/errors.js';
import { KUBERNETES_VERSION, type ClusterSpec } from '../../lib/api/cluster.js';

// The Cluster document (podnet.dev/v1alpha1) and kind's cluster config (kind.x-k8s.io/v1alpha4),
// against kind's documented defaults and examples (kind.sigs.k8s.io/docs/user/configuration) and
// the published JSON Schema, topologies/cluster.schema.json.

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

function cluster(spec: unknown, name?: string): ClusterSpec {
  return parseClusterDocument({ apiVersion: CLUSTER_API_VERSION, kind: 'Cluster', metadata: name ? { name } : {}, spec });
}

/** The field errors a document is rejected with, rendered as kubectl prints them. */
function problems(doc: () => unknown): string[] {
  try {
    doc();
  } catch (err) {
    if (err instanceof TopologyError) return err.causes.map(formatFieldError);
    throw err;
  }
  return [];
}

const causes = (spec: unknown): string[] => problems(() => cluster(spec));
const kindProblems = (yaml: string): string[] => problems(() => parseTopology(yaml, 'kind.yaml'));
const kindCluster = (yaml: string): ClusterSpec => parseTopology(yaml, 'kind.yaml').cluster;
const nodeNames = (c: ClusterSpec) => c.nodes.map((n) => n.name);

// ------------------------------------------------------------------------------------ defaults

t.test("defaults are kind's: pod and service subnets, a /24 per node, node addresses and names", async (t) => {
  const d = defaultClusterSpec();
  t.equal(d.name, 'podnet');
  t.same(
    d.nodes.map((n) => [n.name, n.role, n.address]),
    [['podnet-control-plane', 'control-plane', '172.18.0.2']],
    'one control-plane node, as kind creates by default',
  );
  t.same(d.network, {
    plugin: 'flannel',
    mtu: 1500,
    podSubnet: '10.244.0.0/16',
    nodeCIDRMaskSize: 24,
    serviceSubnet: '10.96.0.0/12',
    loadBalancerPool: ['172.18.255.200-172.18.255.250'],
    serviceNodePortRange: '30000-32767',
  });
  t.same(d.kubeProxy, { mode: 'iptables' });
  t.same(d.dns, { domain: 'cluster.local' });
  t.same(d.links, []);
  t.equal(d.kubernetesVersion, KUBERNETES_VERSION);
  t.equal(d.seed, undefined, 'no seed: entropy');

  const c = cluster({ nodes: [{ role: 'control-plane' }, { role: 'worker' }, { role: 'worker' }, {}] }, 'demo');
  t.same(nodeNames(c), ['demo-control-plane', 'demo-worker', 'demo-worker2', 'demo-worker3'], 'a node without a role is a worker');
  t.same(
    c.nodes.map((n) => n.address),
    ['172.18.0.2', '172.18.0.3', '172.18.0.4', '172.18.0.5'],
    'kind\'s docker network hands out .2, .3, ... in node order',
  );
  t.same(nodeNames(cluster({ nodes: [{ role: 'control-plane' }, { role: 'control-plane' }, { role: 'worker' }] }, 'ha')), [
    'ha-control-plane',
    'ha-control-plane2',
    'ha-worker',
  ]);
  const named = cluster({ nodes: [{ role: 'control-plane', name: 'cp', address: '10.0.0.10' }, { role: 'worker' }] });
  t.same(named.nodes.map((n) => [n.name, n.address]), [
    ['cp', '10.0.0.10'],
    ['podnet-worker', '172.18.0.3'],
  ]);
  t.same(cluster({}), d, 'an empty spec is the default cluster');
  t.same(cluster(null), d, 'and so is none');

  t.same(nodeLabels(c.nodes[0]!), {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': 'demo-control-plane',
    'kubernetes.io/os': 'linux',
    'node-role.kubernetes.io/control-plane': '',
  });
});

// ------------------------------------------------------------------------------------ kind configs

t.test('kind configs (kind.x-k8s.io/v1alpha4): the documented examples', async (t) => {
  // "A minimal valid config"
  const minimal = kindCluster('kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n');
  t.equal(minimal.name, 'kind');
  t.same(minimal.nodes.map((n) => [n.name, n.role, n.address]), [['kind-control-plane', 'control-plane', '172.18.0.2']]);
  t.equal(minimal.network.podSubnet, '10.244.0.0/16');
  t.equal(minimal.kubeProxy.mode, 'iptables');

  // "Name Your Cluster"
  t.same(nodeNames(kindCluster('kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: app-1-cluster\n')), ['app-1-cluster-control-plane']);

  // "Nodes": one control plane node and three "workers"
  const multi = kindCluster(`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
- role: worker
- role: worker
- role: worker
`);
  t.same(nodeNames(multi), ['kind-control-plane', 'kind-worker', 'kind-worker2', 'kind-worker3']);
  t.same(multi.nodes.map((n) => n.address), ['172.18.0.2', '172.18.0.3', '172.18.0.4', '172.18.0.5']);

  // A node without a role is a control-plane node in kind (SetDefaultsNode); images are accepted and ignored.
  const ha = kindCluster(`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
- {}
- role: control-plane
- role: worker
  image: kindest/node:v1.32.0
`);
  t.same(ha.nodes.map((n) => [n.name, n.role]), [
    ['kind-control-plane', 'control-plane'],
    ['kind-control-plane2', 'control-plane'],
    ['kind-control-plane3', 'control-plane'],
    ['kind-worker', 'worker'],
  ]);

  // "Extra Labels"
  const labelled = kindCluster(`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
- role: worker
  labels:
    tier: frontend
- role: worker
  labels:
    tier: backend
`);
  t.same(labelled.nodes.map((n) => n.labels.tier), [undefined, 'frontend', 'backend']);
  t.equal(nodeLabels(labelled.nodes[1]!).tier, 'frontend');

  // "Pod Subnet", "Service Subnet", "kube-proxy mode"
  const net = kindCluster(`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  podSubnet: "10.240.0.0/16"
  serviceSubnet: "10.96.0.0/12"
  kubeProxyMode: "ipvs"
`);
  t.equal(net.network.podSubnet, '10.240.0.0/16');
  t.equal(net.network.serviceSubnet, '10.96.0.0/12');
  t.equal(net.kubeProxy.mode, 'ipvs');
  t.equal(kindCluster('kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  kubeProxyMode: "nftables"\n').kubeProxy.mode, 'nftables');

  // "IP Family": dual-stack, with kind's default IPv6 subnets or given ones
  const dual = kindCluster('kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  ipFamily: dual\n');
  t.equal(dual.network.podSubnet, '10.244.0.0/16');
  t.equal(dual.network.podSubnetV6, 'fd00:10:244::/56');
  t.equal(dual.network.serviceSubnetV6, 'fd00:10:96::/112');
  t.equal(dual.network.nodeCIDRMaskSizeV6, 64);
  const dualGiven = kindCluster(`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  ipFamily: dual
  podSubnet: "10.1.0.0/16,fd00:1::/56"
  serviceSubnet: "fd00:2::/112,10.2.0.0/16"
`);
  t.same(
    [dualGiven.network.podSubnet, dualGiven.network.podSubnetV6, dualGiven.network.serviceSubnet, dualGiven.network.serviceSubnetV6],
    ['10.1.0.0/16', 'fd00:1::/56', '10.2.0.0/16', 'fd00:2::/112'],
  );
  t.equal(kindCluster('kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n').network.podSubnetV6, undefined, 'ipv4 by default');

  // "API Server", "Disable Default CNI", feature gates, patches: accepted, nothing to emulate.
  t.doesNotThrow(() =>
    kindCluster(`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
featureGates:
  "CSIMigration": true
runtimeConfig:
  "api/alpha": "false"
networking:
  apiServerAddress: "127.0.0.1"
  apiServerPort: 6443
  disableDefaultCNI: true
nodes:
- role: control-plane
  kubeadmConfigPatches:
  - |
    kind: InitConfiguration
  extraPortMappings:
  - containerPort: 80
    hostPort: 80
    protocol: TCP
  extraMounts:
  - hostPath: /path/to/my/files
    containerPath: /files
`),
  );
});

t.test('kind configs: errors name the kind config\'s own fields', async (t) => {
  const head = 'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n';
  t.same(kindProblems(`${head}networking:\n  podSubnet: banana\n`), ['networking.podSubnet: Invalid value: "banana": must be a valid IPv4 CIDR'], 'not silently replaced by the default');
  t.same(kindProblems(`${head}networking:\n  serviceSubnet: 10.96.0.0/40\n`), ['networking.serviceSubnet: Invalid value: "10.96.0.0/40": must be a valid IPv4 CIDR']);
  t.same(kindProblems(`${head}networking:\n  kubeProxyMode: userspace\n`), [
    'networking.kubeProxyMode: Unsupported value: "userspace": supported values: "iptables", "nftables", "ipvs"',
  ]);
  t.same(kindProblems(`${head}networking:\n  ipFamily: ipv6\n`), ['networking.ipFamily: Unsupported value: "ipv6": supported values: "ipv4", "dual"']);
  t.same(kindProblems(`${head}nodes:\n- role: control-plane\n- role: master\n`), ['nodes[1].role: Unsupported value: "master": supported values: "control-plane", "worker"']);
  // kind decodes its config strictly: an unknown field is an error, wherever it is.
  t.same(kindProblems(`${head}nodez: []\n`).map((p) => p.split(';')[0]), ['nodez: Not found: unknown field "nodez"']);
  t.same(kindProblems(`${head}nodes:\n- role: worker\n  rol: worker\n`).map((p) => p.split(';')[0]), ['nodes[0].rol: Not found: unknown field "rol"']);
  t.same(kindProblems(`${head}networking:\n  podSubnets: 10.0.0.0/16\n`).map((p) => p.split(';')[0]), [
    'networking.podSubnets: Not found: unknown field "podSubnets"',
  ]);
  t.same(kindProblems(`${head}networking: ipv4\n`), ['networking: Invalid value: "ipv4": must be an object']);
  const err = t.throws(() => parseTopology(`# kind\n${head}networking:\n  podSubnet: banana\n`, 'kind.yaml')) as TopologyError;
  t.equal(err.code, 'PODNET_TOPOLOGY_INVALID');
  t.same(err.source, { file: 'kind.yaml', line: 2 });
  t.equal(err.message, 'kind.yaml:2: Cluster is invalid: networking.podSubnet: Invalid value: "banana": must be a valid IPv4 CIDR');
});

// ------------------------------------------------------------------------------------ validation

t.test('every validation error carries its field path', async (t) => {
  const table: Array<[what: string, spec: unknown, expected: string]> = [
    ['unknown spec field', { nodez: [] }, 'spec.nodez: Not found: unknown field "nodez"; known fields: seed, nodes, network, kubeProxy, dns, links, kubernetesVersion'],
    ['unknown node field', { nodes: [{ role: 'worker', zonee: 'a' }] }, 'spec.nodes[0].zonee: Not found: unknown field "zonee"'],
    ['unknown network field', { network: { podCidr: '10.0.0.0/16' } }, 'spec.network.podCidr: Not found: unknown field "podCidr"'],
    ['unknown kubeProxy field', { kubeProxy: { moed: 'ipvs' } }, 'spec.kubeProxy.moed: Not found: unknown field "moed"; known fields: mode, ipvsScheduler'],
    ['unknown dns field', { dns: { zone: 'x' } }, 'spec.dns.zone: Not found: unknown field "zone"; known fields: domain'],
    ['unknown link field', { nodes: [{ name: 'a' }, { name: 'b' }], links: [{ between: ['a', 'b'], delay: '5ms' }] }, 'spec.links[0].delay: Not found: unknown field "delay"'],
    ['bad pod CIDR', { network: { podSubnet: '10.244.0.0/33' } }, 'spec.network.podSubnet: Invalid value: "10.244.0.0/33": must be a valid IPv4 CIDR'],
    ['bad service CIDR', { network: { serviceSubnet: '10.96.0.0' } }, 'spec.network.serviceSubnet: Invalid value: "10.96.0.0": must be a valid IPv4 CIDR'],
    ['too big a service CIDR', { network: { serviceSubnet: '10.0.0.0/8' } }, 'spec.network.serviceSubnet: Invalid value: "10.0.0.0/8": must be /12 or smaller'],
    ['bad IPv6 CIDR', { network: { podSubnetV6: '10.0.0.0/8' } }, 'spec.network.podSubnetV6: Invalid value: "10.0.0.0/8": must be a valid IPv6 CIDR'],
    ['bad node podCIDR', { nodes: [{ role: 'control-plane' }, { podCIDR: '10.244.1.0' }] }, 'spec.nodes[1].podCIDR: Invalid value: "10.244.1.0": must be a valid CIDR'],
    ['mask size', { network: { nodeCIDRMaskSize: 8 } }, "spec.network.nodeCIDRMaskSize: Invalid value: 8: must be between the pod subnet's prefix length (16) and 30"],
    ['duplicate node name', { nodes: [{ name: 'n1' }, { name: 'n1' }] }, 'spec.nodes[1].name: Duplicate value: "n1"'],
    ['duplicate address', { nodes: [{ name: 'a', address: '172.18.0.3' }, { name: 'b' }] }, 'spec.nodes[1].address: Duplicate value: "172.18.0.3"'],
    ['bad node name', { nodes: [{ name: 'Node_1' }] }, 'spec.nodes[0].name: Invalid value: "Node_1": must be a lowercase RFC 1123 subdomain'],
    ['loopback node address', { nodes: [{ address: '127.0.0.5' }] }, 'spec.nodes[0].address: Invalid value: "127.0.0.5": is a virtual node address and may not be a loopback address'],
    ['bad role', { nodes: [{ role: 'master' }] }, 'spec.nodes[0].role: Unsupported value: "master": supported values: "control-plane", "worker"'],
    ['bad taint effect', { nodes: [{ taints: [{ key: 'k', effect: 'NoRun' }] }] }, 'spec.nodes[0].taints[0].effect: Unsupported value: "NoRun": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"'],
    ['non-boolean schedulable', { nodes: [{ role: 'control-plane', schedulable: 'yes' }] }, 'spec.nodes[0].schedulable: Invalid value: "yes": must be true or false'],
    ['non-boolean down', { nodes: [{ down: 1 }] }, 'spec.nodes[0].down: Invalid value: 1: must be true or false'],
    ['unknown link node', { nodes: [{ name: 'a' }, { name: 'b' }], links: [{ between: ['a', 'nope'] }] }, 'spec.links[0].between[1]: Invalid value: "nope": no such node; nodes are a, b'],
    ['link to itself', { nodes: [{ name: 'a' }], links: [{ between: ['a', 'a'] }] }, 'spec.links[0].between: Invalid value: ["a","a"]: must name two different nodes'],
    ['bad plugin', { network: { plugin: 'cilium' } }, 'spec.network.plugin: Unsupported value: "cilium": supported values: "flannel", "calico"'],
    ['backend of another plugin', { network: { plugin: 'flannel', backend: 'ipip' } }, 'spec.network.backend: Unsupported value: "ipip": supported values: "vxlan", "host-gw"'],
    ['bad proxy mode', { kubeProxy: { mode: 'userspace' } }, 'spec.kubeProxy.mode: Unsupported value: "userspace": supported values: "iptables", "nftables", "ipvs"'],
    [
      'bad ipvs scheduler',
      { kubeProxy: { mode: 'ipvs', ipvsScheduler: 'random' } },
      'spec.kubeProxy.ipvsScheduler: Unsupported value: "random": supported values: "rr", "lc", "sh", "wrr", "wlc", "dh", "sed", "nq"',
    ],
    ['bad latency', { nodes: [{ name: 'a' }, { name: 'b' }], links: [{ between: ['a', 'b'], latency: 'fast' }] }, 'spec.links[0].latency: Invalid value: "fast": must be a duration such as 5ms, 1.5s or 200us'],
    ['bad jitter', { nodes: [{ name: 'a' }, { name: 'b' }], links: [{ between: ['a', 'b'], jitter: '-1ms' }] }, 'spec.links[0].jitter: Invalid value: "-1ms": must be a duration'],
    ['bad loss', { nodes: [{ name: 'a' }, { name: 'b' }], links: [{ between: ['a', 'b'], loss: '150%' }] }, 'spec.links[0].loss: Invalid value: "150%": must be a percentage between 0 and 100'],
    ['bad bandwidth', { nodes: [{ name: 'a' }, { name: 'b' }], links: [{ between: ['a', 'b'], bandwidth: 'fast' }] }, 'spec.links[0].bandwidth: Invalid value: "fast": must be a bandwidth such as 100mbit'],
    ['bad partitioned', { nodes: [{ name: 'a' }, { name: 'b' }], links: [{ between: ['a', 'b'], partitioned: 'yes' }] }, 'spec.links[0].partitioned: Invalid value: "yes": must be true or false'],
    ['a link names one node', { nodes: [{ name: 'a' }], links: [{ between: ['a'] }] }, 'spec.links[0].between: Invalid value: ["a"]: must name exactly two nodes'],
    ['bad mtu', { network: { mtu: 100 } }, 'spec.network.mtu: Invalid value: 100: must be between 576 and 9000'],
    ['bad NodePort range', { network: { serviceNodePortRange: '30000' } }, 'spec.network.serviceNodePortRange: Invalid value: "30000": must be a port range such as 30000-32767'],
    ['bad load-balancer pool', { network: { loadBalancerPool: ['172.18.255.200-x'] } }, 'spec.network.loadBalancerPool[0]: Invalid value: "172.18.255.200-x"'],
    ['bad DNS domain', { dns: { domain: 'Cluster.Local' } }, 'spec.dns.domain: Invalid value: "Cluster.Local": must be a valid DNS domain'],
    ['bad seed', { seed: -1 }, 'spec.seed: Invalid value: -1: must be an integer between 0 and 4294967295'],
    ['wrong type', { network: { mtu: '1500' } }, 'spec.network.mtu: Invalid value: "1500": must be a number'],
    ['kubeProxy not an object', { kubeProxy: 'ipvs' }, 'spec.kubeProxy: Invalid value: "ipvs": must be an object'],
    ['no nodes', { nodes: [] }, 'spec.nodes: Required value: a cluster needs at least one node'],
  ];
  for (const [what, spec, expected] of table) {
    const found = causes(spec);
    t.ok(
      found.some((p) => p.startsWith(expected)),
      `${what}: ${expected}`,
      { found },
    );
  }
  t.same(
    problems(() => parseClusterDocument({ apiVersion: CLUSTER_API_VERSION, kind: 'Cluster', metadata: {}, sepc: {} })).map((p) => p.split(';')[0]),
    ['sepc: Not found: unknown field "sepc"'],
    'a misspelt top-level field is not silently ignored',
  );

  // Every problem at once, each with its path.
  const all = causes({
    nodes: [{ name: 'a' }, { name: 'a', role: 'boss' }],
    network: { plugin: 'weave', podSubnet: 'x' },
    links: [{ between: ['a', 'z'], latency: 'fast' }],
  });
  t.same(
    all.map((p) => p.split(':')[0]),
    ['spec.nodes[1].role', 'spec.links[0].latency', 'spec.network.plugin', 'spec.network.podSubnet', 'spec.links[0].between[1]'],
  );
  const err = t.throws(() => parseTopology('apiVersion: podnet.dev/v1alpha1\nkind: Cluster\nspec:\n  network: {plugin: weave}\n', 'lab.yaml')) as TopologyError;
  t.equal(err.message, 'lab.yaml:1: Cluster is invalid: spec.network.plugin: Unsupported value: "weave": supported values: "flannel", "calico"');
  t.same(err.causes, [{ type: 'Unsupported value', field: 'spec.network.plugin', badValue: 'weave', supported: ['flannel', 'calico'] }] satisfies FieldError[]);
});

t.test('links: durations, percentages and bandwidths in their units', async (t) => {
  const c = cluster({
    nodes: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
    links: [
      { between: ['a', 'b'], latency: '5ms', jitter: '200us', loss: '0.5%', bandwidth: '1gbit' },
      { between: ['b', 'c'], latency: '1.5s', loss: 2, bandwidth: 100, partitioned: true },
      { between: ['a', 'c'], latency: 7, bandwidth: '512kbit' },
    ],
  });
  t.same(c.links, [
    { between: ['a', 'b'], latencyMs: 5, jitterMs: 0.2, lossPercent: 0.5, bandwidthMbit: 1000 },
    { between: ['b', 'c'], latencyMs: 1500, lossPercent: 2, bandwidthMbit: 100, partitioned: true },
    { between: ['a', 'c'], latencyMs: 7, bandwidthMbit: 0.512 },
  ]);
});

t.test('at most one Cluster document per topology', async (t) => {
  const doc = 'apiVersion: podnet.dev/v1alpha1\nkind: Cluster\nmetadata: {name: one}\n';
  const err = t.throws(() => parseTopology(`${doc}---\n${doc}`, 'two.yaml')) as TopologyError;
  t.equal(err.code, 'PODNET_TOPOLOGY_INVALID');
  t.same(err.source, { file: 'two.yaml', line: 5 }, 'the error points at the second one');
  t.match(err.message, 'two.yaml:5: Cluster is invalid: kind: Forbidden: only one Cluster document is allowed; the first is at two.yaml:1');
  t.throws(() => parseTopology(`${doc}---\nkind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n`, 'mixed.yaml'), { code: 'PODNET_TOPOLOGY_INVALID' }, 'a kind config counts too');

  const none = parseTopology('apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n', 'ns.yaml');
  t.equal(none.explicitCluster, false);
  t.same(none.cluster, defaultClusterSpec(), 'no Cluster document: the default cluster');
  t.same(none.objects.map((o) => o.object.kind), ['Namespace']);
});

// ------------------------------------------------------------------------------------ schema

interface Schema {
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: boolean | Schema;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
}

const schema = JSON.parse(readFileSync(root('topologies/cluster.schema.json'), 'utf8')) as Schema;
const specSchema = schema.properties!.spec!;
const at = (path: string): Schema =>
  path.split('.').reduce<Schema>((s, part) => (part === '[]' ? s.items! : s.properties![part]!), specSchema);

/** A Cluster document that sets every field the schema describes. */
const EVERYTHING = {
  apiVersion: CLUSTER_API_VERSION,
  kind: 'Cluster',
  metadata: { name: 'lab' },
  spec: {
    seed: 7,
    kubernetesVersion: 'v1.31.2',
    nodes: [
      {
        name: 'cp',
        role: 'control-plane',
        labels: { rack: 'r1' },
        zone: 'zone-a',
        region: 'eu',
        address: '10.0.0.2',
        podCIDR: '10.244.7.0/24',
        schedulable: true,
        down: false,
        taints: [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }],
      },
      { name: 'w1', role: 'worker' },
    ],
    network: {
      plugin: 'calico',
      backend: 'vxlan',
      mtu: 9000,
      podSubnet: '10.244.0.0/16',
      nodeCIDRMaskSize: 26,
      podSubnetV6: 'fd00:10:244::/56',
      nodeCIDRMaskSizeV6: 80,
      serviceSubnet: '10.96.0.0/16',
      serviceSubnetV6: 'fd00:10:96::/112',
      loadBalancerPool: ['172.18.255.0/28', '172.18.254.1-172.18.254.9'],
      serviceNodePortRange: '31000-31999',
    },
    kubeProxy: { mode: 'ipvs', ipvsScheduler: 'wrr' },
    dns: { domain: 'lab.example' },
    links: [{ between: ['cp', 'w1'], latency: '2ms', jitter: '1ms', loss: '1%', bandwidth: '10mbit', partitioned: false }],
    nodeLifecycle: { nodeMonitorGracePeriodSeconds: 20, evictionTimeoutSeconds: 60 },
  },
};

t.test('the JSON Schema describes exactly the fields the parser accepts', async (t) => {
  const keys = (o: object) => Object.keys(o).sort();
  const described = (s: Schema) => keys(s.properties!);
  // The document above uses every property the schema names, level by level ...
  t.same(keys(EVERYTHING), described(schema), 'document');
  t.same(keys(EVERYTHING.spec), described(specSchema), 'spec');
  t.same(keys(EVERYTHING.spec.nodes[0]!), described(at('nodes.[]')), 'spec.nodes[]');
  t.same(keys(EVERYTHING.spec.nodes[0]!.taints![0]!), described(at('nodes.[].taints.[]')), 'spec.nodes[].taints[]');
  t.same(keys(EVERYTHING.spec.network), described(at('network')), 'spec.network');
  t.same(keys(EVERYTHING.spec.kubeProxy), described(at('kubeProxy')), 'spec.kubeProxy');
  t.same(keys(EVERYTHING.spec.dns), described(at('dns')), 'spec.dns');
  t.same(keys(EVERYTHING.spec.links[0]!), described(at('links.[]')), 'spec.links[]');
  t.same(keys(EVERYTHING.spec.nodeLifecycle), described(at('nodeLifecycle')), 'spec.nodeLifecycle');

  // ... the parser accepts it and every value reaches the ClusterSpec ...
  const c = parseClusterDocument(EVERYTHING);
  t.same(c, {
    name: 'lab',
    seed: 7,
    kubernetesVersion: 'v1.31.2',
    nodes: [
      {
        name: 'cp',
        role: 'control-plane',
        labels: { rack: 'r1' },
        zone: 'zone-a',
        region: 'eu',
        address: '10.0.0.2',
        podCIDR: '10.244.7.0/24',
        schedulable: true,
        down: false,
        taints: [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }],
      },
      { name: 'w1', role: 'worker', labels: {}, address: '172.18.0.3', taints: [] },
    ],
    network: { ...EVERYTHING.spec.network },
    kubeProxy: { mode: 'ipvs', ipvsScheduler: 'wrr' },
    dns: { domain: 'lab.example' },
    links: [{ between: ['cp', 'w1'], latencyMs: 2, jitterMs: 1, lossPercent: 1, bandwidthMbit: 10, partitioned: false }],
    nodeLifecycle: { nodeMonitorGracePeriodSeconds: 20, evictionTimeoutSeconds: 60 },
  });

  // ... and where the schema forbids other properties, so does the parser, naming the path.
  const extra = (mutate: (d: typeof EVERYTHING & Record<string, unknown>) => void): string[] => {
    const d = structuredClone(EVERYTHING) as typeof EVERYTHING & Record<string, unknown>;
    mutate(d);
    return problems(() => parseClusterDocument(d)).map((p) => p.split(':')[0]!);
  };
  t.same(extra((d) => void (d.extra = 1)), ['extra']);
  t.same(extra((d) => void ((d.spec as Record<string, unknown>).extra = 1)), ['spec.extra']);
  t.same(extra((d) => void ((d.spec.nodes[0] as Record<string, unknown>).extra = 1)), ['spec.nodes[0].extra']);
  t.same(extra((d) => void ((d.spec.network as Record<string, unknown>).extra = 1)), ['spec.network.extra']);
  t.same(extra((d) => void ((d.spec.kubeProxy as Record<string, unknown>).extra = 1)), ['spec.kubeProxy.extra']);
  t.same(extra((d) => void ((d.spec.dns as Record<string, unknown>).extra = 1)), ['spec.dns.extra']);
  t.same(extra((d) => void ((d.spec.links[0] as Record<string, unknown>).extra = 1)), ['spec.links[0].extra']);
});

t.test('the JSON Schema\'s enums and defaults are the parser\'s', async (t) => {
  const supported = (spec: unknown, path: string) => {
    const err = (() => {
      try {
        cluster(spec);
      } catch (e) {
        return e as TopologyError;
      }
      return undefined;
    })();
    return err?.causes.find((c) => c.field === path)?.supported;
  };
  t.same(supported({ network: { plugin: 'x' } }, 'spec.network.plugin'), at('network.plugin').enum);
  t.same(supported({ kubeProxy: { mode: 'x' } }, 'spec.kubeProxy.mode'), at('kubeProxy.mode').enum);
  t.same(supported({ kubeProxy: { ipvsScheduler: 'x' } }, 'spec.kubeProxy.ipvsScheduler'), at('kubeProxy.ipvsScheduler').enum);
  t.same(supported({ nodes: [{ role: 'x' }] }, 'spec.nodes[0].role'), at('nodes.[].role').enum);
  t.same(supported({ nodes: [{ taints: [{ key: 'k', effect: 'x' }] }] }, 'spec.nodes[0].taints[0].effect'), at('nodes.[].taints.[].effect').enum);
  const backends = [
    ...(supported({ network: { plugin: 'flannel', backend: 'x' } }, 'spec.network.backend') ?? []),
    ...(supported({ network: { plugin: 'calico', backend: 'x' } }, 'spec.network.backend') ?? []),
  ];
  t.same([...new Set(backends)].sort(), [...at('network.backend').enum!].sort(), 'flannel\'s and calico\'s backends together');

  const d = cluster({ nodes: [{}] });
  t.equal(d.nodes[0]!.role, at('nodes.[].role').default);
  t.same(defaultClusterSpec().nodes.map((n) => ({ role: n.role })), at('nodes').default);
  t.equal(defaultClusterSpec().name, schema.properties!.metadata!.properties!.name!.default);
  t.equal(d.kubernetesVersion, at('kubernetesVersion').default);
  t.equal(d.kubeProxy.mode, at('kubeProxy.mode').default);
  t.equal(d.dns.domain, at('dns.domain').default);
  for (const f of ['plugin', 'mtu', 'podSubnet', 'nodeCIDRMaskSize', 'serviceSubnet', 'loadBalancerPool', 'serviceNodePortRange'] as const) {
    t.same(d.network[f], at(`network.${f}`).default, `network.${f}`);
  }
  t.equal(cluster({ network: { podSubnetV6: 'fd00::/56' } }).network.nodeCIDRMaskSizeV6, at('network.nodeCIDRMaskSizeV6').default);

  // Numeric bounds.
  const mtu = at('network.mtu');
  t.same(causes({ network: { mtu: mtu.minimum } }), []);
  t.same(causes({ network: { mtu: mtu.maximum } }), []);
  t.not(causes({ network: { mtu: mtu.minimum! - 1 } }).length, 0);
  t.not(causes({ network: { mtu: mtu.maximum! + 1 } }).length, 0);
  t.same(causes({ seed: at('seed').maximum }), []);
  t.not(causes({ seed: at('seed').maximum! + 1 }).length, 0);
  t.same(causes({ network: { podSubnet: '10.0.0.0/8', nodeCIDRMaskSize: at('network.nodeCIDRMaskSize').maximum } }), []);
});

// ------------------------------------------------------------------------------------ topologies/

t.test('topologies/quickstart.yaml parses: 3 nodes, a Deployment, a Service and a Pod', async (t) => {
  const file = root('topologies/quickstart.yaml');
  const topo = loadTopologyFiles([file]);
  t.equal(topo.explicitCluster, true);
  t.equal(topo.cluster.name, 'quickstart');
  t.equal(topo.cluster.seed, 42);
  t.same(topo.cluster.nodes.map((n) => [n.name, n.role, n.zone, n.address]), [
    ['control-plane', 'control-plane', 'zone-a', '172.18.0.2'],
    ['worker', 'worker', 'zone-a', '172.18.0.3'],
    ['worker2', 'worker', 'zone-b', '172.18.0.4'],
  ]);
  t.same(topo.cluster.network.backend, 'vxlan');
  t.same(topo.objects.map((o) => `${o.object.kind}/${o.object.metadata.name}`), ['Deployment/web', 'Service/web', 'Pod/client']);
  t.ok(topo.objects.every((o) => o.source.file === file && o.source.line! > 1), 'each object knows where it came from');
});

t.test('a kind config file is a topology too', async (t) => {
  const topo = parseTopology(`kind: Cluster
apiVersion: ${KIND_API_VERSION}
nodes:
- role: control-plane
- role: worker
---
apiVersion: v1
kind: Namespace
metadata: {name: demo}
`);
  t.equal(topo.explicitCluster, true);
  t.same(nodeNames(topo.cluster), ['kind-control-plane', 'kind-worker']);
  t.same(topo.objects.map((o) => o.object.kind), ['Namespace']);
});
