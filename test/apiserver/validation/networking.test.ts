import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { errorsOf, merge } from './helpers.js';

// ------------------------------------------------------------------------------------------------
// NetworkPolicy

/** "Network Policies" concept page, "The NetworkPolicy resource" (service/networking/networkpolicy.yaml). */
const testNetworkPolicy: KubeObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'test-network-policy', namespace: 'default' },
  spec: {
    podSelector: { matchLabels: { role: 'db' } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [
      {
        from: [
          { ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } },
          { namespaceSelector: { matchLabels: { project: 'myproject' } } },
          { podSelector: { matchLabels: { role: 'frontend' } } },
        ],
        ports: [{ protocol: 'TCP', port: 6379 }],
      },
    ],
    egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] }],
  },
};

// The same page's other examples: "Default deny all ingress traffic", "Allow all ingress
// traffic", "Targeting a range of ports" (multi-port-egress), and a namespaceSelector combined
// with a podSelector in one peer ("Behavior of to and from selectors").
t.test('upstream NetworkPolicy examples are valid', async (t) => {
  t.same(errorsOf(testNetworkPolicy), [], 'test-network-policy');
  const base = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' };
  t.same(errorsOf({ ...base, metadata: { name: 'default-deny-ingress' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } }), [], 'default-deny-ingress');
  t.same(errorsOf({ ...base, metadata: { name: 'allow-all-ingress' }, spec: { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] } }), [], 'allow-all-ingress');
  t.same(
    errorsOf({
      ...base,
      metadata: { name: 'multi-port-egress', namespace: 'default' },
      spec: {
        podSelector: { matchLabels: { role: 'db' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }] }],
      },
    }),
    [],
    'multi-port-egress',
  );
  t.same(
    errorsOf(merge(testNetworkPolicy, { spec: { ingress: [{ from: [{ namespaceSelector: { matchLabels: { user: 'alice' } }, podSelector: { matchLabels: { role: 'client' } } }] }] } })),
    [],
    'namespaceSelector and podSelector in one peer',
  );
});

// pkg/apis/networking/validation: ValidateNetworkPolicySpec, ValidateNetworkPolicyPeer,
// ValidateNetworkPolicyPort, ValidateIPBlock.
t.test('NetworkPolicy errors', async (t) => {
  const ingressFrom = (peer: unknown) => merge(testNetworkPolicy, { spec: { ingress: [{ from: [peer] }] } });
  const ingressPort = (port: unknown) => merge(testNetworkPolicy, { spec: { ingress: [{ ports: [port] }] } });
  const table: [string, KubeObject, string[]][] = [
    ['podSelector required', merge(testNetworkPolicy, { spec: { podSelector: undefined } }), ['spec.podSelector: Required value']],
    ['policyTypes', merge(testNetworkPolicy, { spec: { policyTypes: ['Inbound'] } }), ['spec.policyTypes[0]: Unsupported value: "Inbound": supported values: "Ingress", "Egress"']],
    [
      'more than two policyTypes',
      merge(testNetworkPolicy, { spec: { policyTypes: ['Ingress', 'Egress', 'Ingress'] } }),
      ['spec.policyTypes: Invalid value: ["Ingress","Egress","Ingress"]: may not specify more than two policyTypes'],
    ],
    ['empty peer', ingressFrom({}), ['spec.ingress[0].from[0]: Required value: must specify a peer']],
    [
      'ipBlock with a selector',
      ingressFrom({ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }),
      ['spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer'],
    ],
    ['ipBlock cidr required', ingressFrom({ ipBlock: {} }), ['spec.ingress[0].from[0].ipBlock.cidr: Required value']],
    [
      'ipBlock cidr',
      ingressFrom({ ipBlock: { cidr: '172.17.0.0' } }),
      ['spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "172.17.0.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
    ],
    [
      'except outside cidr',
      ingressFrom({ ipBlock: { cidr: '172.17.0.0/16', except: ['172.18.1.0/24'] } }),
      ['spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "172.18.1.0/24": must be a strict subset of `cidr`'],
    ],
    [
      'except equal to cidr',
      ingressFrom({ ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.0.0/16'] } }),
      ['spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "172.17.0.0/16": must be a strict subset of `cidr`'],
    ],
    ['port number', ingressPort({ port: 70000 }), ['spec.ingress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive']],
    [
      'port name',
      ingressPort({ port: 'Redis_Port' }),
      ['spec.ingress[0].ports[0].port: Invalid value: "Redis_Port": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'],
    ],
    ['endPort below port', ingressPort({ port: 32000, endPort: 31000 }), ['spec.ingress[0].ports[0].endPort: Invalid value: 31000: must be greater than or equal to `port`']],
    ['endPort with a named port', ingressPort({ port: 'http', endPort: 32000 }), ['spec.ingress[0].ports[0].endPort: Invalid value: 32000: may not be specified when `port` is non-numeric']],
    ['endPort without port', ingressPort({ endPort: 32000 }), ['spec.ingress[0].ports[0].endPort: Invalid value: 32000: may not be specified when `port` is not specified']],
    ['protocol', ingressPort({ protocol: 'ICMP', port: 80 }), ['spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"']],
    [
      'selector operator',
      merge(testNetworkPolicy, { spec: { podSelector: { matchLabels: undefined, matchExpressions: [{ key: 'role', operator: 'Equals', values: ['db'] }] } } }),
      ['spec.podSelector.matchExpressions[0].operator: Invalid value: "Equals": not a valid selector operator'],
    ],
  ];
  for (const [name, o, want] of table) t.same(errorsOf(o), want, name);
});

// ------------------------------------------------------------------------------------------------
// Ingress and IngressClass

/** "Ingress" concept page, "The Ingress resource" (service/networking/minimal-ingress.yaml). */
const minimalIngress: KubeObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'minimal-ingress', annotations: { 'nginx.ingress.kubernetes.io/rewrite-target': '/' } },
  spec: {
    ingressClassName: 'nginx-example',
    rules: [{ http: { paths: [{ path: '/testpath', pathType: 'Prefix', backend: { service: { name: 'test', port: { number: 80 } } } }] } }],
  },
};

/** "Ingress" concept page, "Hostname wildcards" (service/networking/ingress-wildcard-host.yaml). */
const wildcardIngress: KubeObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'ingress-wildcard-host' },
  spec: {
    rules: [
      { host: 'foo.bar.com', http: { paths: [{ pathType: 'Prefix', path: '/bar', backend: { service: { name: 'service1', port: { number: 80 } } } }] } },
      { host: '*.foo.com', http: { paths: [{ pathType: 'Prefix', path: '/foo', backend: { service: { name: 'service2', port: { number: 80 } } } }] } },
    ],
  },
};

// The Ingress page's examples: minimal-ingress, ingress-wildcard-host, ingress-resource-backend
// ("Resource backends"), tls-example-ingress ("TLS"), and the IngressClass external-lb
// ("Ingress class").
t.test('upstream Ingress examples are valid', async (t) => {
  t.same(errorsOf(minimalIngress), [], 'minimal-ingress');
  t.same(errorsOf(wildcardIngress), [], 'ingress-wildcard-host');
  t.same(
    errorsOf({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'ingress-resource-backend' },
      spec: {
        defaultBackend: { resource: { apiGroup: 'k8s.example.com', kind: 'StorageBucket', name: 'static-assets' } },
        rules: [{ http: { paths: [{ path: '/icons', pathType: 'ImplementationSpecific', backend: { resource: { apiGroup: 'k8s.example.com', kind: 'StorageBucket', name: 'icon-assets' } } }] } }],
      },
    }),
    [],
    'ingress-resource-backend',
  );
  t.same(
    errorsOf({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'tls-example-ingress' },
      spec: {
        tls: [{ hosts: ['https-example.foo.com'], secretName: 'testsecret-tls' }],
        rules: [{ host: 'https-example.foo.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'service1', port: { number: 80 } } } }] } }],
      },
    }),
    [],
    'tls-example-ingress',
  );
  t.same(
    errorsOf({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: { name: 'external-lb' },
      spec: { controller: 'example.com/ingress-controller', parameters: { apiGroup: 'k8s.example.com', kind: 'IngressParameters', name: 'external-lb' } },
    }),
    [],
    'IngressClass external-lb',
  );
});

// pkg/apis/networking/validation: ValidateIngressSpec, validateIngressRules,
// validateHTTPIngressPath, validateIngressBackend, validateIngressTLS, validateIngressClassSpec.
t.test('Ingress errors', async (t) => {
  const path0 = (p: Record<string, unknown>) =>
    merge(minimalIngress, { spec: { rules: [{ http: { paths: [{ backend: { service: { name: 'test', port: { number: 80 } } }, ...p }] } }] } });
  const backend0 = (b: unknown) => merge(minimalIngress, { spec: { rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: b }] } }] } });
  const table: [string, KubeObject, string[]][] = [
    ['pathType required', path0({ path: '/testpath' }), ['spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified']],
    [
      'pathType value',
      path0({ path: '/', pathType: 'Regex' }),
      ['spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"'],
    ],
    ['path must be absolute', path0({ path: 'testpath', pathType: 'Prefix' }), ['spec.rules[0].http.paths[0].path: Invalid value: "testpath": must be an absolute path']],
    ['path with //', path0({ path: '/a//b', pathType: 'Exact' }), ["spec.rules[0].http.paths[0].path: Invalid value: \"/a//b\": must not contain '//'"]],
    ['path ending /..', path0({ path: '/a/..', pathType: 'Prefix' }), ["spec.rules[0].http.paths[0].path: Invalid value: \"/a/..\": cannot end with '/..'"]],
    [
      'host is an IP',
      merge(wildcardIngress, { spec: { rules: [{ host: '192.0.2.10', http: { paths: [{ pathType: 'Prefix', path: '/', backend: { service: { name: 's', port: { number: 80 } } } }] } }] } }),
      ['spec.rules[0].host: Invalid value: "192.0.2.10": must be a DNS name, not an IP address'],
    ],
    [
      'wildcard not first',
      merge(wildcardIngress, { spec: { rules: [{ host: 'foo.*.com', http: { paths: [{ pathType: 'Prefix', path: '/', backend: { service: { name: 's', port: { number: 80 } } } }] } }] } }),
      [
        "spec.rules[0].host: Invalid value: \"foo.*.com\": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ],
    ],
    ['backend port required', backend0({ service: { name: 'test', port: {} } }), ['spec.rules[0].http.paths[0].backend: Required value: port name or number is required']],
    [
      'backend port name and number',
      backend0({ service: { name: 'test', port: { name: 'http', number: 80 } } }),
      ['spec.rules[0].http.paths[0].backend: Invalid value: "": cannot set both port name & port number'],
    ],
    ['backend port number', backend0({ service: { name: 'test', port: { number: 0x10000 } } }), ['spec.rules[0].http.paths[0].backend.service.port.number: Invalid value: 65536: must be between 1 and 65535, inclusive']],
    ['backend service name', backend0({ service: { port: { number: 80 } } }), ['spec.rules[0].http.paths[0].backend.service.name: Required value']],
    ['no backend', backend0({}), ['spec.rules[0].http.paths[0].backend: Invalid value: "": resource or service backend is required']],
    [
      'both backends',
      backend0({ service: { name: 'a', port: { number: 80 } }, resource: { kind: 'Bucket', name: 'b' } }),
      ['spec.rules[0].http.paths[0].backend: Invalid value: "": cannot set both resource and service backends'],
    ],
    ['neither rules nor defaultBackend', merge(minimalIngress, { spec: { rules: [] } }), ['spec: Invalid value: []: either `defaultBackend` or `rules` must be specified']],
    ['no paths', merge(minimalIngress, { spec: { rules: [{ http: { paths: [] } }] } }), ['spec.rules[0].http.paths: Required value']],
    [
      'tls host',
      merge(minimalIngress, { spec: { tls: [{ hosts: ['Example.COM'] }] } }),
      [
        "spec.tls[0].hosts[0]: Invalid value: \"Example.COM\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ],
    ],
    [
      'ingressClassName',
      merge(minimalIngress, { spec: { ingressClassName: 'Nginx' } }),
      [
        "spec.ingressClassName: Invalid value: \"Nginx\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ],
    ],
    [
      'IngressClass controller required',
      { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'nginx' }, spec: {} },
      ['spec.controller: Required value'],
    ],
    [
      'IngressClass controller not domain-prefixed',
      { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'nginx' }, spec: { controller: 'nginx' } },
      ['spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")'],
    ],
  ];
  for (const [name, o, want] of table) t.same(errorsOf(o), want, name);
});
