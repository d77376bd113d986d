import t from 'tap';
import type { KubeObject } from '../../lib/api/meta.js';
import { applyDefaults, imageTag } from '../../lib/apiserver/defaults.js';

const d = (o: KubeObject, old?: KubeObject) => applyDefaults(structuredClone(o), old);

// "Images" concept page, "Default image pull policy": Always when the tag is :latest or omitted
// (and no digest), IfNotPresent otherwise (SetDefaults_Container).
t.test('Images: default imagePullPolicy', async (t) => {
  const table: [string, string][] = [
    ['nginx', 'Always'],
    ['nginx:latest', 'Always'],
    ['nginx:1.25', 'IfNotPresent'],
    ['registry.k8s.io/pause:3.10', 'IfNotPresent'],
    ['localhost:5000/app', 'Always'],
    ['localhost:5000/app:v2', 'IfNotPresent'],
    ['nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31', 'IfNotPresent'],
  ];
  for (const [image, policy] of table) {
    const pod = d({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image }] } });
    t.equal(pod.spec.containers[0].imagePullPolicy, policy, image);
  }
  t.equal(imageTag('localhost:5000/app'), 'latest');
});

// k8s.io/kubernetes pkg/apis/core/v1/defaults.go: SetDefaults_PodSpec, SetDefaults_Pod,
// SetDefaults_Container, SetDefaults_Probe, SetDefaults_HTTPGetAction; ContainerPort protocol
// (+default=TCP); the pod strategy's Pending phase.
t.test('Pod defaults', async (t) => {
  const pod = d({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web' },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'nginx:1.25',
          ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }],
          livenessProbe: { httpGet: { port: 80 } },
          readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 5 },
          resources: { limits: { cpu: '1' } },
        },
      ],
    },
  });
  t.same(pod.spec, {
    containers: [
      {
        name: 'web',
        image: 'nginx:1.25',
        ports: [
          { containerPort: 80, protocol: 'TCP' },
          { containerPort: 53, protocol: 'UDP' },
        ],
        livenessProbe: { httpGet: { port: 80, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 },
        readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 5, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
        resources: { limits: { cpu: '1' }, requests: { cpu: '1' } },
        imagePullPolicy: 'IfNotPresent',
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
      },
    ],
    dnsPolicy: 'ClusterFirst',
    restartPolicy: 'Always',
    securityContext: {},
    terminationGracePeriodSeconds: 30,
    schedulerName: 'default-scheduler',
    enableServiceLinks: true,
  });
  t.same(pod.status, { phase: 'Pending' });
  const hostNet = d({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'h' }, spec: { hostNetwork: true, containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 9100 }] }] } });
  t.equal(hostNet.spec.containers[0].ports[0].hostPort, 9100, 'host network: hostPort defaults to containerPort');
  const explicit = d({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'e' }, spec: { restartPolicy: 'Never', dnsPolicy: 'Default', terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: 'x' }] } });
  t.same([explicit.spec.restartPolicy, explicit.spec.dnsPolicy, explicit.spec.terminationGracePeriodSeconds], ['Never', 'Default', 0], 'set values are kept');
});

// SetDefaults_Service: type ClusterIP, sessionAffinity None (ClientIP gets 10800 s), protocol TCP,
// targetPort = port, externalTrafficPolicy Cluster when externally accessible,
// internalTrafficPolicy Cluster, allocateLoadBalancerNodePorts for LoadBalancer.
t.test('Service defaults', async (t) => {
  const svc = d({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'my-service' }, spec: { selector: { app: 'MyApp' }, ports: [{ port: 80 }, { port: 443, targetPort: 'https' }] } });
  t.same(svc.spec, {
    selector: { app: 'MyApp' },
    ports: [
      { port: 80, protocol: 'TCP', targetPort: 80 },
      { port: 443, targetPort: 'https', protocol: 'TCP' },
    ],
    sessionAffinity: 'None',
    type: 'ClusterIP',
    internalTrafficPolicy: 'Cluster',
  });
  const lb = d({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'lb' }, spec: { type: 'LoadBalancer', sessionAffinity: 'ClientIP', ports: [{ port: 80 }] } });
  t.equal(lb.spec.externalTrafficPolicy, 'Cluster');
  t.equal(lb.spec.allocateLoadBalancerNodePorts, true);
  t.same(lb.spec.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } });
  const np = d({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'np' }, spec: { type: 'NodePort', ports: [{ port: 80 }] } });
  t.equal(np.spec.externalTrafficPolicy, 'Cluster');
  t.equal(np.spec.allocateLoadBalancerNodePorts, undefined);
  const ext = d({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext' }, spec: { type: 'ExternalName', externalName: 'db.example.com' } });
  t.equal(ext.spec.internalTrafficPolicy, undefined, 'no internalTrafficPolicy for ExternalName');
  const none = d({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'n' }, spec: { sessionAffinity: 'None', sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } }, clusterIP: 'None' } });
  t.equal(none.spec.sessionAffinityConfig, undefined, 'sessionAffinityConfig dropped for None');
  t.same(none.spec.clusterIPs, ['None'], 'clusterIPs follows clusterIP');
  const old = d({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'np' }, spec: { type: 'NodePort', clusterIP: '10.96.0.5', ports: [{ port: 80, nodePort: 30080 }] } });
  const toExternal = d({ ...old, spec: { ...old.spec, type: 'ExternalName', externalName: 'db.example.com' } }, old);
  t.same(
    [toExternal.spec.clusterIP, toExternal.spec.clusterIPs, toExternal.spec.ports[0].nodePort, toExternal.spec.externalTrafficPolicy],
    [undefined, undefined, undefined, undefined],
    'a type change drops what the new type cannot have',
  );
});

// apps/v1 defaults.go: SetDefaults_Deployment, SetDefaults_ReplicaSet, SetDefaults_StatefulSet,
// SetDefaults_DaemonSet, and the pod template's PodSpec defaults.
t.test('workload defaults', async (t) => {
  const template = { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'x:1', ports: [{ containerPort: 80 }] }] } };
  const selector = { matchLabels: { app: 'x' } };
  const deploy = d({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { selector, template } });
  t.equal(deploy.spec.replicas, 1);
  t.same(deploy.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
  t.equal(deploy.spec.revisionHistoryLimit, 10);
  t.equal(deploy.spec.progressDeadlineSeconds, 600);
  t.equal(deploy.spec.template.spec.restartPolicy, 'Always');
  t.equal(deploy.spec.template.spec.containers[0].ports[0].protocol, 'TCP');
  t.equal(deploy.spec.template.spec.enableServiceLinks, undefined, 'enableServiceLinks is a Pod-only default');
  const recreate = d({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { selector, template, strategy: { type: 'Recreate' } } });
  t.same(recreate.spec.strategy, { type: 'Recreate' });
  const rs = d({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'r' }, spec: { selector, template } });
  t.equal(rs.spec.replicas, 1);
  const sts = d({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's' }, spec: { selector, template, serviceName: 's' } });
  t.equal(sts.spec.replicas, 1);
  t.equal(sts.spec.podManagementPolicy, 'OrderedReady');
  t.same(sts.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
  t.equal(sts.spec.revisionHistoryLimit, 10);
  t.same(sts.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: 'Retain', whenScaled: 'Retain' });
  const ds = d({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'ds' }, spec: { selector, template } });
  t.same(ds.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
  t.equal(ds.spec.revisionHistoryLimit, 10);
});

// "Network Policies" concept page, "The NetworkPolicy resource": policyTypes defaults to Ingress,
// plus Egress when the policy has egress rules; ports default to TCP (networking/v1 defaults.go).
t.test('NetworkPolicy defaults', async (t) => {
  const np = (spec: Record<string, unknown>) => d({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p' }, spec: { podSelector: {}, ...spec } });
  t.same(np({}).spec.policyTypes, ['Ingress']);
  t.same(np({ ingress: [{}] }).spec.policyTypes, ['Ingress']);
  t.same(np({ egress: [{ ports: [{ port: 53 }] }] }).spec.policyTypes, ['Ingress', 'Egress']);
  t.same(np({ egress: [{ ports: [{ port: 53 }] }] }).spec.egress[0].ports, [{ port: 53, protocol: 'TCP' }]);
  t.same(np({ policyTypes: ['Egress'] }).spec.policyTypes, ['Egress'], 'given policyTypes are kept');
});

t.test('EndpointSlice, Namespace, Secret, IngressClass defaults', async (t) => {
  const slice = d({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's' }, addressType: 'IPv4', endpoints: [], ports: [{ port: 80 }] });
  t.same(slice.ports, [{ port: 80, name: '', protocol: 'TCP' }]);
  const ns = d({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'spoofed', team: 'a' } } });
  t.same(ns.metadata.labels, { 'kubernetes.io/metadata.name': 'team-a', team: 'a' }, 'the name label is always the name');
  t.same(ns.status, { phase: 'Active' });
  const secret = d({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { username: 'admin' } });
  t.same([secret.type, secret.data, secret.stringData], ['Opaque', { username: 'YWRtaW4=' }, undefined]);
  const ic = d({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'i' }, spec: { controller: 'example.com/c', parameters: { kind: 'P', name: 'p' } } });
  t.equal(ic.spec.parameters.scope, 'Cluster');
});

// The Gateway API CRDs' OpenAPI defaults: parentRefs group/kind, a rule matching PathPrefix "/",
// backendRefs group ""/kind Service/weight 1, listener allowedRoutes from Same.
t.test('Gateway API defaults', async (t) => {
  const route = d({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' }, spec: { parentRefs: [{ name: 'gw' }] } });
  t.same(route.spec, {
    parentRefs: [{ name: 'gw', group: 'gateway.networking.k8s.io', kind: 'Gateway' }],
    rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }],
  });
  const route2 = d({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'r' },
    spec: {
      rules: [
        {
          matches: [{ headers: [{ name: 'env', value: 'canary' }] }, { path: { value: '/api' } }],
          backendRefs: [{ name: 'svc', port: 8080 }],
          filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }],
        },
      ],
    },
  });
  t.same(route2.spec.rules[0].matches, [
    { headers: [{ name: 'env', value: 'canary', type: 'Exact' }], path: { type: 'PathPrefix', value: '/' } },
    { path: { value: '/api', type: 'PathPrefix' } },
  ]);
  t.same(route2.spec.rules[0].backendRefs, [{ name: 'svc', port: 8080, group: '', kind: 'Service', weight: 1 }]);
  t.equal(route2.spec.rules[0].filters[0].requestRedirect.statusCode, 302);
  const gw = d({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'g' }, spec: { gatewayClassName: 'c', listeners: [{ name: 'http', protocol: 'HTTP', port: 80 }] } });
  t.same(gw.spec.listeners[0].allowedRoutes, { namespaces: { from: 'Same' } });
});

// Calico resource references: IPPool blockSize 26 (122 for IPv6), encapsulation Never,
// nodeSelector all(); policy types from the rules present.
t.test('Calico defaults', async (t) => {
  const pool = d({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '192.168.0.0/16' } });
  t.same(pool.spec, { cidr: '192.168.0.0/16', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', nodeSelector: 'all()' });
  t.equal(d({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: 'fd00::/48' } }).spec.blockSize, 122);
  const policy = (spec: Record<string, unknown>) => d({ apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'p' }, spec }).spec.types;
  t.same(policy({ ingress: [{ action: 'Allow' }] }), ['Ingress']);
  t.same(policy({ egress: [{ action: 'Allow' }] }), ['Egress']);
  t.same(policy({ ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] }), ['Ingress', 'Egress']);
});
