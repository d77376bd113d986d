import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { applyDefaults } from '../../../lib/apiserver/defaults.js';
import { POD_UPDATE_FORBIDDEN } from '../../../lib/apiserver/validation/core.js';
import { errorsOf, merge } from './helpers.js';

// ------------------------------------------------------------------------------------------------
// Pods

/** The "Pods" concept page's first example (pods/simple-pod.yaml). */
const nginxPod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'nginx' },
  spec: { containers: [{ name: 'nginx', image: 'nginx:1.14.2', ports: [{ containerPort: 80 }] }] },
};

// Upstream examples that must validate: "Pods" (simple-pod), "DNS for Services and Pods"
// (Pod's DNS Config `dns-example`; hostname and subdomain `busybox1`), "Taints and Tolerations"
// (both toleration forms), "Configure Liveness, Readiness and Startup Probes" (liveness-http with
// a header; a named port), "Assigning Pods to Nodes" (node affinity `with-node-affinity`).
t.test('upstream Pod examples are valid', async (t) => {
  const examples: [string, KubeObject][] = [
    ['Pods: simple-pod', nginxPod],
    [
      'DNS for Services and Pods: dns-example',
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { namespace: 'default', name: 'dns-example' },
        spec: {
          containers: [{ name: 'test', image: 'nginx' }],
          dnsPolicy: 'None',
          dnsConfig: {
            nameservers: ['192.0.2.1'],
            searches: ['ns1.svc.cluster-domain.example', 'my.dns.search.suffix'],
            options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
          },
        },
      },
    ],
    [
      'DNS for Services and Pods: busybox1 with hostname and subdomain',
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'busybox1', labels: { name: 'busybox' } },
        spec: {
          hostname: 'busybox-1',
          subdomain: 'busybox-subdomain',
          containers: [{ image: 'busybox:1.28', command: ['sleep', '3600'], name: 'busybox' }],
        },
      },
    ],
    [
      'Taints and Tolerations: Equal and Exists tolerations',
      merge(nginxPod, {
        spec: {
          tolerations: [
            { key: 'key1', operator: 'Equal', value: 'value1', effect: 'NoSchedule' },
            { key: 'key1', operator: 'Exists', effect: 'NoSchedule' },
            { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 6000 },
          ],
        },
      }),
    ],
    [
      'Configure Probes: liveness-http and a named port',
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { labels: { test: 'liveness' }, name: 'liveness-http' },
        spec: {
          containers: [
            {
              name: 'liveness',
              image: 'registry.k8s.io/e2e-test-images/agnhost:2.40',
              args: ['liveness'],
              ports: [{ name: 'liveness-port', containerPort: 8080 }],
              livenessProbe: {
                httpGet: { path: '/healthz', port: 8080, httpHeaders: [{ name: 'Custom-Header', value: 'Awesome' }] },
                initialDelaySeconds: 3,
                periodSeconds: 3,
              },
              readinessProbe: { httpGet: { path: '/healthz', port: 'liveness-port' } },
              startupProbe: { tcpSocket: { port: 8080 }, failureThreshold: 30, periodSeconds: 10 },
            },
          ],
        },
      },
    ],
    [
      'Assigning Pods to Nodes: with-node-affinity',
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'with-node-affinity' },
        spec: {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['antarctica-east1', 'antarctica-west1'] }] }],
              },
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 1, preference: { matchExpressions: [{ key: 'another-node-label-key', operator: 'In', values: ['another-node-label-value'] }] } },
              ],
            },
          },
          containers: [{ name: 'with-node-affinity', image: 'registry.k8s.io/pause:3.8' }],
        },
      },
    ],
  ];
  for (const [name, pod] of examples) t.same(errorsOf(pod), [], name);
});

// k8s.io/kubernetes pkg/apis/core/validation: validateContainers, validateContainerPorts,
// validateProbe, validateRestartPolicy, validateDNSPolicy, validatePodDNSConfig,
// ValidateTolerations, ValidateNodeSelectorRequirement, ValidatePodSpec.
t.test('Pod spec errors, worded as the apiserver words them', async (t) => {
  const searches33 = Array.from({ length: 33 }, (_, i) => `s${i}.example`);
  const c0 = (patch: Record<string, unknown>) => merge(nginxPod, { spec: { containers: [{ name: 'nginx', image: 'nginx:1.14.2', ...patch }] } });
  const table: [string, KubeObject, string[]][] = [
    ['no containers', merge(nginxPod, { spec: { containers: [] } }), ['spec.containers: Required value']],
    [
      'containerPort out of range',
      c0({ ports: [{ containerPort: 70000 }] }),
      ['spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive'],
    ],
    ['hostPort out of range', c0({ ports: [{ containerPort: 80, hostPort: 70000 }] }), ['spec.containers[0].ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive']],
    ['containerPort missing', c0({ ports: [{ name: 'http' }] }), ['spec.containers[0].ports[0].containerPort: Required value']],
    [
      'port name not an IANA_SVC_NAME',
      c0({ ports: [{ name: 'http_web', containerPort: 80 }] }),
      ['spec.containers[0].ports[0].name: Invalid value: "http_web": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'],
    ],
    [
      'duplicate port names',
      c0({ ports: [{ name: 'http', containerPort: 80 }, { name: 'http', containerPort: 8080 }] }),
      ['spec.containers[0].ports[1].name: Duplicate value: "http"'],
    ],
    [
      'unsupported protocol',
      c0({ ports: [{ containerPort: 80, protocol: 'HTTP' }] }),
      ['spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'],
    ],
    [
      'duplicate container names',
      merge(nginxPod, { spec: { containers: [{ name: 'a', image: 'x' }, { name: 'a', image: 'y' }] } }),
      ['spec.containers[1].name: Duplicate value: "a"'],
    ],
    [
      'container name not a DNS label',
      merge(nginxPod, { spec: { containers: [{ name: 'Web_1', image: 'x' }] } }),
      [
        "spec.containers[0].name: Invalid value: \"Web_1\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      ],
    ],
    ['image missing', merge(nginxPod, { spec: { containers: [{ name: 'a' }] } }), ['spec.containers[0].image: Required value']],
    [
      'probe port name invalid',
      c0({ livenessProbe: { tcpSocket: { port: 'Not_A_Name' } } }),
      [
        'spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: "Not_A_Name": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
      ],
    ],
    ['probe port number invalid', c0({ readinessProbe: { httpGet: { port: 0 } } }), ['spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive']],
    ['probe without handler', c0({ livenessProbe: { periodSeconds: 5 } }), ['spec.containers[0].livenessProbe: Required value: must specify a handler type']],
    [
      'probe with two handlers',
      c0({ livenessProbe: { exec: { command: ['true'] }, tcpSocket: { port: 80 } } }),
      ['spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type'],
    ],
    ['liveness successThreshold', c0({ livenessProbe: { exec: { command: ['true'] }, successThreshold: 2 } }), ['spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1']],
    [
      'restartPolicy',
      merge(nginxPod, { spec: { restartPolicy: 'Sometimes' } }),
      ['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'],
    ],
    [
      'dnsPolicy',
      merge(nginxPod, { spec: { dnsPolicy: 'ClusterLast' } }),
      ['spec.dnsPolicy: Unsupported value: "ClusterLast": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"'],
    ],
    ['dnsPolicy None without dnsConfig', merge(nginxPod, { spec: { dnsPolicy: 'None' } }), ['spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None']],
    [
      'dnsPolicy None without nameservers',
      merge(nginxPod, { spec: { dnsPolicy: 'None', dnsConfig: { searches: ['a.example'] } } }),
      ['spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None'],
    ],
    [
      'more than 3 nameservers',
      merge(nginxPod, { spec: { dnsConfig: { nameservers: ['1.1.1.1', '8.8.8.8', '9.9.9.9', '1.0.0.1'] } } }),
      ['spec.dnsConfig.nameservers: Invalid value: ["1.1.1.1","8.8.8.8","9.9.9.9","1.0.0.1"]: must not have more than 3 nameservers'],
    ],
    [
      'more than 32 searches',
      merge(nginxPod, { spec: { dnsConfig: { searches: searches33 } } }),
      [`spec.dnsConfig.searches: Invalid value: ${JSON.stringify(searches33)}: must not have more than 32 search paths`],
    ],
    ['nameserver not an IP', merge(nginxPod, { spec: { dnsConfig: { nameservers: ['dns.example'] } } }), ['spec.dnsConfig.nameservers[0]: Invalid value: "dns.example": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']],
    [
      'hostname not a DNS label',
      merge(nginxPod, { spec: { hostname: 'busybox.1' } }),
      ['spec.hostname: Invalid value: "busybox.1": must not contain dots'],
    ],
    [
      'subdomain not a DNS label',
      merge(nginxPod, { spec: { subdomain: 'Busybox' } }),
      [
        "spec.subdomain: Invalid value: \"Busybox\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      ],
    ],
    [
      'toleration Exists with a value',
      merge(nginxPod, { spec: { tolerations: [{ key: 'key1', operator: 'Exists', value: 'value1', effect: 'NoSchedule' }] } }),
      ['spec.tolerations[0].operator: Invalid value: "value1": value must be empty when `operator` is \'Exists\''],
    ],
    [
      'toleration effect',
      merge(nginxPod, { spec: { tolerations: [{ key: 'key1', operator: 'Exists', effect: 'NoPlease' }] } }),
      ['spec.tolerations[0].effect: Unsupported value: "NoPlease": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"'],
    ],
    [
      'toleration without key must be Exists',
      merge(nginxPod, { spec: { tolerations: [{ operator: 'Equal', value: 'x' }] } }),
      ['spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"'],
    ],
    [
      'tolerationSeconds needs NoExecute',
      merge(nginxPod, { spec: { tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 10 }] } }),
      ["spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"],
    ],
    [
      'node affinity operator',
      merge(nginxPod, {
        spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'Near', values: ['a'] }] }] } } } },
      }),
      ['spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator'],
    ],
    [
      'node affinity Gt needs one value',
      merge(nginxPod, {
        spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'cpus', operator: 'Gt', values: ['1', '2'] }] }] } } } },
      }),
      ["spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"],
    ],
    [
      'nodeSelector label value',
      merge(nginxPod, { spec: { nodeSelector: { disktype: 'ssd!' } } }),
      [
        "spec.nodeSelector: Invalid value: \"ssd!\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      ],
    ],
    ['terminationGracePeriodSeconds negative', merge(nginxPod, { spec: { terminationGracePeriodSeconds: -1 } }), ['spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0']],
    [
      'hostNetwork: hostPort must match containerPort',
      merge(nginxPod, { spec: { hostNetwork: true, containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80, hostPort: 8080 }] }] } }),
      ['spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true'],
    ],
    [
      'conflicting hostPorts',
      merge(nginxPod, {
        spec: { containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 80, hostPort: 8080 }] }, { name: 'b', image: 'x', ports: [{ containerPort: 81, hostPort: 8080 }] }] },
      }),
      ['spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"'],
    ],
    [
      'status.podIPs must be IPs, one per family',
      merge(nginxPod, { status: { podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }, { ip: '10.244.1.6' }] } }),
      ['status.podIPs: Invalid value: [{"ip":"10.244.1.5"},{"ip":"10.244.1.6"}]: may specify no more than one IP for each IP family'],
    ],
    ['status.podIP', merge(nginxPod, { status: { podIP: '10.244.1' } }), ['status.podIP: Invalid value: "10.244.1": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']],
  ];
  for (const [name, pod, want] of table) t.same(errorsOf(pod), want, name);
});

// ValidatePodUpdate: only images, activeDeadlineSeconds, added tolerations and a negative grace
// period set to 1 may change; anything else is `pod updates may not change fields other than ...`.
t.test('Pod updates', async (t) => {
  const stored = merge(nginxPod, { metadata: { namespace: 'default', resourceVersion: '5' } });
  t.same(errorsOf(merge(stored, { spec: { containers: [{ name: 'nginx', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] } }), stored), [], 'image change');
  t.same(errorsOf(merge(stored, { spec: { activeDeadlineSeconds: 60 } }), stored), [], 'activeDeadlineSeconds from unset');
  t.same(errorsOf(merge(stored, { spec: { tolerations: [{ key: 'a', operator: 'Exists' }] } }), stored), [], 'toleration added');
  t.same(errorsOf(merge(stored, { spec: { nodeName: 'worker-1' } }), stored), [], 'binding to a node (podnet scheduler)');
  t.same(errorsOf(merge(stored, { metadata: { labels: { app: 'x' } } }), stored), [], 'labels are metadata');
  const changed = errorsOf(merge(stored, { spec: { containers: [{ name: 'nginx', image: 'nginx:1.14.2', ports: [{ containerPort: 8080 }] }] } }), stored);
  t.equal(changed.length, 1);
  t.ok(changed[0]!.startsWith(`spec: Forbidden: ${POD_UPDATE_FORBIDDEN}\n`), changed[0]);
  t.equal(
    POD_UPDATE_FORBIDDEN,
    'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
  );
  t.same(errorsOf(merge(stored, { spec: { containers: [...stored.spec.containers, { name: 'b', image: 'x' }] } }), stored), ['spec.containers: Forbidden: pod updates may not add or remove containers']);
  const bound = merge(stored, { spec: { nodeName: 'worker-1' } });
  t.match(errorsOf(merge(bound, { spec: { nodeName: 'worker-2' } }), bound)[0], /^spec: Forbidden: pod updates may not change fields other than/, 'rebinding is forbidden');
  const tolerated = merge(stored, { spec: { tolerations: [{ key: 'a', operator: 'Exists' }] } });
  t.same(errorsOf(stored, tolerated), ['spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds']);
});

// ------------------------------------------------------------------------------------------------
// Services

const myService: KubeObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'my-service' },
  spec: { selector: { 'app.kubernetes.io/name': 'MyApp' }, ports: [{ protocol: 'TCP', port: 80, targetPort: 9376 }] },
};

// The "Service" concept page's examples: my-service (Defining a Service), nginx-service with a
// named targetPort, Multi-port Services, type NodePort (nodePort 30007), type LoadBalancer with
// a clusterIP and status, type ExternalName, External IPs; and the "DNS for Services and Pods"
// headless `busybox-subdomain`.
t.test('upstream Service examples are valid', async (t) => {
  const examples: [string, KubeObject][] = [
    ['Defining a Service: my-service', myService],
    [
      'named targetPort: nginx-service',
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'nginx-service' },
        spec: { selector: { 'app.kubernetes.io/name': 'proxy' }, ports: [{ name: 'name-of-service-port', protocol: 'TCP', port: 80, targetPort: 'http-web-svc' }] },
      },
    ],
    [
      'Multi-port Services',
      merge(myService, {
        spec: {
          ports: [
            { name: 'http', protocol: 'TCP', port: 80, targetPort: 9376 },
            { name: 'https', protocol: 'TCP', port: 443, targetPort: 9377 },
          ],
        },
      }),
    ],
    ['type NodePort', merge(myService, { spec: { type: 'NodePort', ports: [{ port: 80, targetPort: 80, nodePort: 30007 }] } })],
    [
      'type LoadBalancer',
      merge(myService, { spec: { clusterIP: '10.0.171.239', type: 'LoadBalancer' }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.127' }] } } }),
    ],
    [
      'type ExternalName',
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'my-service', namespace: 'prod' }, spec: { type: 'ExternalName', externalName: 'my.database.example.com' } },
    ],
    [
      'External IPs',
      merge(myService, { spec: { ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 49152 }], externalIPs: ['198.51.100.32'] } }),
    ],
    [
      'headless busybox-subdomain',
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'busybox-subdomain' }, spec: { selector: { name: 'busybox' }, clusterIP: 'None', ports: [{ name: 'foo', port: 1234 }] } },
    ],
    ['headless without ports', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'headless' }, spec: { clusterIP: 'None', selector: { app: 'x' } } }],
    ['session affinity ClientIP', merge(myService, { spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } } })],
    ['dual-stack clusterIPs', merge(myService, { spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00:10:96::a'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack' } })],
    ['a name starting with a digit (relaxed Service names)', merge(myService, { metadata: { name: '1st-service' } })],
  ];
  for (const [name, svc] of examples) t.same(errorsOf(svc), [], name);
});

// ValidateService and validateServicePort (pkg/apis/core/validation), with their messages.
t.test('Service errors', async (t) => {
  const table: [string, KubeObject, string[]][] = [
    ['port out of range', merge(myService, { spec: { ports: [{ port: 70000, targetPort: 9376 }] } }), ['spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive']],
    ['ports required', merge(myService, { spec: { ports: [] } }), ['spec.ports: Required value']],
    [
      'names required with several ports',
      merge(myService, { spec: { ports: [{ port: 80 }, { name: 'https', port: 443 }] } }),
      ['spec.ports[0].name: Required value'],
    ],
    [
      'duplicate port names',
      merge(myService, { spec: { ports: [{ name: 'http', port: 80 }, { name: 'http', port: 8080 }] } }),
      ['spec.ports[1].name: Duplicate value: "http"'],
    ],
    [
      'duplicate port and protocol',
      merge(myService, { spec: { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80, targetPort: 81 }] } }),
      ['spec.ports[1]: Duplicate value: {"protocol":"TCP","port":80}'],
    ],
    ['targetPort name', merge(myService, { spec: { ports: [{ port: 80, targetPort: 'web_http' }] } }), ['spec.ports[0].targetPort: Invalid value: "web_http": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)']],
    ['targetPort number', merge(myService, { spec: { ports: [{ port: 80, targetPort: 65536 }] } }), ['spec.ports[0].targetPort: Invalid value: 65536: must be between 1 and 65535, inclusive']],
    [
      'protocol',
      merge(myService, { spec: { ports: [{ port: 80, protocol: 'ICMP' }] } }),
      ['spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'],
    ],
    [
      'type',
      merge(myService, { spec: { type: 'Internal' } }),
      ['spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'],
    ],
    ['nodePort on ClusterIP', merge(myService, { spec: { ports: [{ port: 80, nodePort: 30007 }] } }), ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]],
    ['clusterIP', merge(myService, { spec: { clusterIP: '10.96.0.300' } }), ['spec.clusterIP: Invalid value: "10.96.0.300": must be empty, \'None\', or a valid IP address']],
    ['ExternalName needs externalName', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext' }, spec: { type: 'ExternalName' } }, ['spec.externalName: Required value']],
    [
      'ExternalName with a clusterIP',
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext' }, spec: { type: 'ExternalName', externalName: 'db.example.com', clusterIP: '10.96.0.5' } },
      ['spec.clusterIP: Forbidden: must be empty for ExternalName services'],
    ],
    [
      'ExternalName not a DNS name',
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext' }, spec: { type: 'ExternalName', externalName: 'DB_HOST' } },
      [
        "spec.externalName: Invalid value: \"DB_HOST\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ],
    ],
    ['externalTrafficPolicy on ClusterIP', merge(myService, { spec: { externalTrafficPolicy: 'Local' } }), ['spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services']],
    [
      'externalTrafficPolicy value',
      merge(myService, { spec: { type: 'NodePort', externalTrafficPolicy: 'Global' } }),
      ['spec.externalTrafficPolicy: Unsupported value: "Global": supported values: "Cluster", "Local"'],
    ],
    ['sessionAffinity', merge(myService, { spec: { sessionAffinity: 'Sticky' } }), ['spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"']],
    [
      'affinity timeout',
      merge(myService, { spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } } } }),
      ['spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400'],
    ],
    [
      'ipFamilies and policy',
      merge(myService, { spec: { ipFamilies: ['IPv5'], ipFamilyPolicy: 'DualStack' } }),
      [
        'spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"',
        'spec.ipFamilyPolicy: Unsupported value: "DualStack": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"',
      ],
    ],
    [
      'clusterIPs of one family',
      merge(myService, { spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', '10.96.0.11'] } }),
      ['spec.clusterIPs: Invalid value: ["10.96.0.10","10.96.0.11"]: may specify no more than one IP for each IP family'],
    ],
    [
      'loadBalancerSourceRanges',
      merge(myService, { spec: { type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/8', '130.211.204.1/33'] } }),
      ['spec.loadBalancerSourceRanges[1]: Invalid value: "130.211.204.1/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
    ],
    [
      'loadBalancerSourceRanges on ClusterIP',
      merge(myService, { spec: { loadBalancerSourceRanges: ['10.0.0.0/8'] } }),
      ["spec.loadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"],
    ],
    ['externalIPs', merge(myService, { spec: { externalIPs: ['198.51.100'] } }), ['spec.externalIPs[0]: Invalid value: "198.51.100": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']],
    ['externalIPs loopback', merge(myService, { spec: { externalIPs: ['127.0.0.1'] } }), ['spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)']],
    [
      'selector',
      merge(myService, { spec: { selector: { app: 'my app' } } }),
      [
        "spec.selector: Invalid value: \"my app\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      ],
    ],
    ['name longer than 63', merge(myService, { metadata: { name: 'a'.repeat(64) } }), [`metadata.name: Invalid value: "${'a'.repeat(64)}": must be no more than 63 characters`]],
    ['name with dots', merge(myService, { metadata: { name: 'my.service' } }), ['metadata.name: Invalid value: "my.service": must not contain dots']],
    ['LoadBalancer headless', merge(myService, { spec: { type: 'LoadBalancer', clusterIP: 'None' } }), ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services"]],
  ];
  for (const [name, svc, want] of table) t.same(errorsOf(svc), want, name);
});

// ValidateServiceUpdate: the clusterIP cannot change once set, except to or from ExternalName.
t.test('Service updates', async (t) => {
  const stored = merge(myService, { spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'] } });
  t.same(errorsOf(merge(stored, { spec: { clusterIP: '10.96.0.11' } }), stored), ['spec.clusterIP: Invalid value: "10.96.0.11": field is immutable']);
  t.same(errorsOf(merge(stored, { spec: { ports: [{ port: 8080 }] } }), stored), [], 'ports may change');
  const ext = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'my-service' }, spec: { type: 'ExternalName', externalName: 'db.example.com' } };
  t.same(errorsOf(ext, stored), [], 'ClusterIP → ExternalName drops the clusterIP');
  t.same(errorsOf(stored, ext), [], 'ExternalName → ClusterIP may set one');
  const np = merge(myService, { spec: { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ port: 80, nodePort: 30007 }] } });
  t.same(errorsOf(merge(np, { spec: { type: 'ClusterIP' } }), np), [], 'NodePort → ClusterIP drops the nodePort and externalTrafficPolicy');
  const withExternalIP = applyDefaults(merge(stored, { spec: { externalIPs: ['198.51.100.32'] } }));
  t.equal(withExternalIP.spec.externalTrafficPolicy, 'Cluster');
  t.same(errorsOf(merge(withExternalIP, { spec: { externalIPs: undefined } }), withExternalIP), [], 'removing externalIPs drops the defaulted externalTrafficPolicy');
  t.same(errorsOf(merge(withExternalIP, { spec: { externalIPs: undefined, externalTrafficPolicy: 'Local' } }), withExternalIP), [
    'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services',
  ]);
});

// ------------------------------------------------------------------------------------------------
// Nodes, Namespaces, ConfigMaps, Secrets, Events

t.test('Node: podCIDRs, taints, addresses', async (t) => {
  const node: KubeObject = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'kind-worker', labels: { 'kubernetes.io/hostname': 'kind-worker' } },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] },
    status: { addresses: [{ type: 'InternalIP', address: '172.18.0.3' }, { type: 'Hostname', address: 'kind-worker' }] },
  };
  t.same(errorsOf(node), []);
  t.same(errorsOf(merge(node, { spec: { podCIDR: '10.244.1.0', podCIDRs: ['10.244.1.0'] } })), [
    'spec.podCIDR: Invalid value: "10.244.1.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
    'spec.podCIDRs[0]: Invalid value: "10.244.1.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
  ]);
  t.same(errorsOf(merge(node, { spec: { podCIDRs: ['10.244.1.0/24', '10.244.2.0/24'] } })), ['spec.podCIDRs: Invalid value: ["10.244.1.0/24","10.244.2.0/24"]: may specify no more than one CIDR for each IP family']);
  t.same(errorsOf(merge(node, { spec: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoWork' }] } })), [
    'spec.taints[0].effect: Unsupported value: "NoWork": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
  ]);
  t.same(errorsOf(merge(node, { spec: { taints: [{ key: 'a', effect: 'NoSchedule' }, { key: 'a', value: 'x', effect: 'NoSchedule' }] } })), [
    'spec.taints[1]: Duplicate value: {"key":"a","value":"x","effect":"NoSchedule"}: taints must be unique by key and effect pair',
  ]);
  t.same(errorsOf(merge(node, { status: { addresses: [{ type: 'InternalIP', address: 'kind-worker' }] } })), [
    'status.addresses[0].address: Invalid value: "kind-worker": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
  ]);
  t.same(errorsOf(merge(node, { spec: { podCIDR: '10.244.9.0/24', podCIDRs: ['10.244.9.0/24'] } }), node), [
    'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid',
    'spec.podCIDR: Forbidden: node updates may not change podCIDR except from "" to valid',
  ]);
});

t.test('Namespace: DNS-1123 label names', async (t) => {
  const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } };
  t.same(errorsOf(ns), []);
  t.same(errorsOf(merge(ns, { metadata: { name: 'my.namespace' } })), ['metadata.name: Invalid value: "my.namespace": must not contain dots']);
  // The defaulted kubernetes.io/metadata.name label is then too long as well, as upstream reports.
  t.same(errorsOf(merge(ns, { metadata: { name: 'a'.repeat(64) } })), [
    `metadata.name: Invalid value: "${'a'.repeat(64)}": must be no more than 63 characters`,
    `metadata.labels: Invalid value: "${'a'.repeat(64)}": must be no more than 63 characters`,
  ]);
});

// "ConfigMaps" concept page (game-demo) and "Secrets" concept page (basic-auth, TLS secrets).
t.test('ConfigMap and Secret', async (t) => {
  const gameDemo = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'game-demo' },
    data: {
      player_initial_lives: '3',
      ui_properties_file_name: 'user-interface.properties',
      'game.properties': 'enemy.types=aliens,monsters\nplayer.maximum-lives=5\n',
      'user-interface.properties': 'color.good=purple\ncolor.bad=yellow\nallow.textmode=true\n',
    },
  };
  t.same(errorsOf(gameDemo), [], 'ConfigMaps: game-demo');
  t.same(errorsOf(merge(gameDemo, { data: { 'bad key': 'x' } })), [
    "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
  ]);
  t.same(errorsOf(merge(gameDemo, { data: { '..hidden': 'x' } })), ["data[..hidden]: Invalid value: \"..hidden\": must not start with '..'"]);
  const basicAuth = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'secret-basic-auth' }, type: 'kubernetes.io/basic-auth', stringData: { username: 'admin', password: 't0p-Secret' } };
  t.same(errorsOf(basicAuth), [], 'Secrets: secret-basic-auth');
  t.same(errorsOf({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { password: 'not base64!' } }), ['data[password]: Invalid value: "not base64!": illegal base64 data at input byte 3']);
  t.same(errorsOf({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y2VydA==' } }), ['data[tls.key]: Required value']);
  const immutable = merge(gameDemo, { immutable: true });
  t.same(errorsOf(merge(immutable, { data: { player_initial_lives: '4' } }), immutable), ['data: Forbidden: field is immutable when `immutable` is set']);
});

t.test('Event: involvedObject namespace must match', async (t) => {
  const ev = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: 'web.17a', namespace: 'default' },
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web' },
    reason: 'Scheduled',
    message: 'ok',
    type: 'Normal',
  };
  t.same(errorsOf(ev), []);
  t.same(errorsOf(merge(ev, { involvedObject: { namespace: 'other' } })), ['involvedObject.namespace: Invalid value: "other": does not match event.namespace']);
  t.same(errorsOf(merge(ev, { involvedObject: { kind: 'Node', namespace: undefined, name: 'n1' } })), [], 'cluster-scoped object events live in default');
});
