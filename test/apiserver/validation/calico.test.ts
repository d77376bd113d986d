import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { errorsOf, merge } from './helpers.js';

/** Calico "NetworkPolicy" resource reference, sample YAML (allow-tcp-6379). */
const allowTcp6379: KubeObject = {
  apiVersion: 'projectcalico.org/v3',
  kind: 'NetworkPolicy',
  metadata: { name: 'allow-tcp-6379', namespace: 'production' },
  spec: {
    selector: "role == 'database'",
    types: ['Ingress', 'Egress'],
    ingress: [
      {
        action: 'Allow',
        metadata: { annotations: { from: 'frontend', to: 'database' } },
        protocol: 'TCP',
        source: { selector: "role == 'frontend'" },
        destination: { ports: [6379] },
      },
    ],
    egress: [{ action: 'Allow' }],
  },
};

/** Calico "IP pool" resource reference, sample YAML (my.ippool-1). */
const ippool: KubeObject = {
  apiVersion: 'projectcalico.org/v3',
  kind: 'IPPool',
  metadata: { name: 'my.ippool-1' },
  spec: { cidr: '10.1.0.0/16', ipipMode: 'CrossSubnet', natOutgoing: true, disabled: false, nodeSelector: 'all()', allowedUses: ['Workload', 'Tunnel'] },
};

t.test('Calico reference examples are valid', async (t) => {
  t.same(errorsOf(allowTcp6379), [], 'NetworkPolicy allow-tcp-6379');
  t.same(
    errorsOf({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'allow-ping-in-cluster' },
      spec: { selector: 'all()', types: ['Ingress'], ingress: [{ action: 'Allow', protocol: 'ICMP', source: { selector: 'all()' }, icmp: { type: 8 } }] },
    }),
    [],
    'GlobalNetworkPolicy allow-ping-in-cluster',
  );
  t.same(errorsOf(ippool), [], 'IPPool my.ippool-1');
  t.same(errorsOf(merge(allowTcp6379, { spec: { ingress: [{ action: 'Deny', protocol: 'UDP', destination: { ports: ['1000:2000', 'dns'] } }] } })), [], 'port ranges and names');
});

// Calico's field rules (resource references): actions, protocols, ports, types, IPPool block size
// and encapsulation modes.
t.test('Calico errors', async (t) => {
  const rule = (r: Record<string, unknown>) => merge(allowTcp6379, { spec: { ingress: [r] } });
  const table: [string, KubeObject, string[]][] = [
    ['action required', rule({ protocol: 'TCP' }), ['spec.ingress[0].action: Required value']],
    ['action value', rule({ action: 'Reject' }), ['spec.ingress[0].action: Unsupported value: "Reject": supported values: "Allow", "Deny", "Log", "Pass"']],
    ['protocol', rule({ action: 'Allow', protocol: 'GRE' }), ['spec.ingress[0].protocol: Unsupported value: "GRE": supported values: "TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite"']],
    ['protocol number', rule({ action: 'Allow', protocol: 256 }), ['spec.ingress[0].protocol: Invalid value: 256: must be between 1 and 255, inclusive']],
    ['port range backwards', rule({ action: 'Allow', protocol: 'TCP', destination: { ports: ['2000:1000'] } }), ['spec.ingress[0].destination.ports[0]: Invalid value: "2000:1000": port range minimum must not be greater than its maximum']],
    ['ports need a port protocol', rule({ action: 'Allow', destination: { ports: [80] } }), ['spec.ingress[0].destination.ports: Forbidden: may only be used with protocol TCP, UDP, SCTP or UDPLite']],
    ['nets', rule({ action: 'Allow', source: { nets: ['10.0.0.0/33'] } }), ['spec.ingress[0].source.nets[0]: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)']],
    ['types', merge(allowTcp6379, { spec: { types: ['Inbound'] } }), ['spec.types[0]: Unsupported value: "Inbound": supported values: "Ingress", "Egress"']],
    ['selector unbalanced', merge(allowTcp6379, { spec: { selector: "has(role" } }), ['spec.selector: Invalid value: "has(role": unbalanced parentheses in selector']],
    ['order', merge(allowTcp6379, { spec: { order: 'first' } }), ['spec.order: Invalid value: "first": must be a number']],
    ['IPPool cidr', merge(ippool, { spec: { cidr: '10.1.0.0' } }), ['spec.cidr: Invalid value: "10.1.0.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)']],
    ['IPPool blockSize', merge(ippool, { spec: { blockSize: 33 } }), ['spec.blockSize: Invalid value: 33: must be between 20 and 32, inclusive, for an IPv4 pool']],
    ['IPPool ipipMode', merge(ippool, { spec: { ipipMode: 'Sometimes' } }), ['spec.ipipMode: Unsupported value: "Sometimes": supported values: "Always", "CrossSubnet", "Never"']],
    ['IPPool IPIP and VXLAN', merge(ippool, { spec: { vxlanMode: 'Always' } }), ['spec.vxlanMode: Invalid value: "Always": may not be enabled together with ipipMode']],
    ['IPPool natOutgoing', merge(ippool, { spec: { natOutgoing: 'yes' } }), ['spec.natOutgoing: Invalid value: "yes": must be a boolean']],
  ];
  for (const [name, o, want] of table) t.same(errorsOf(o), want, name);
});
