/**
 * Defaulting: the values the apiserver fills in before anything else sees an object, so that
 * `podnet get -o yaml` shows what `kubectl get -o yaml` would, and controllers never meet an
 * unset field that Kubernetes always sets.
 *
 * Follows k8s.io/kubernetes/pkg/apis/{core,apps,networking,discovery}/v1/defaults.go (and the
 * `+default=` markers of k8s.io/api), the Gateway API CRDs' OpenAPI defaults, Calico's
 * documented defaults, and the few normalizations the apiserver's registry strategies make
 * (Secret `stringData` folded into `data`, Service `clusterIP`/`clusterIPs` kept in step,
 * type-dependent Service fields dropped on a type change, a new Pod's `status.phase` Pending).
 *
 * Defaulting is idempotent and runs on CREATE and UPDATE (including status writes): an unset
 * field is filled, a set one is never changed — except the Namespace's
 * `kubernetes.io/metadata.name` label, which is always forced to the name.
 */

import type { KubeObject } from '../api/meta.js';
import type { AdmissionContext, AdmissionPlugin } from './store.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function objects(v: unknown): Obj[] {
  return Array.isArray(v) ? v.filter(isObj) : [];
}

function setDefault(o: Obj, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ------------------------------------------------------------------------------------------------
// core/v1: pods and pod templates

/** The image's tag as the kubelet's image name parser reads it: `latest` when there is neither tag nor digest. */
export function imageTag(image: string): string {
  if (image.includes('@')) {
    const name = image.slice(0, image.indexOf('@'));
    const slash = name.lastIndexOf('/');
    const colon = name.lastIndexOf(':');
    return colon > slash ? name.slice(colon + 1) : '';
  }
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? image.slice(colon + 1) : 'latest';
}

function defaultHTTPGet(handler: unknown): void {
  if (!isObj(handler) || !isObj(handler.httpGet)) return;
  if (!handler.httpGet.path) handler.httpGet.path = '/';
  if (!handler.httpGet.scheme) handler.httpGet.scheme = 'HTTP';
}

function defaultProbe(probe: unknown): void {
  if (!isObj(probe)) return;
  if (!probe.timeoutSeconds) probe.timeoutSeconds = 1;
  if (!probe.periodSeconds) probe.periodSeconds = 10;
  if (!probe.successThreshold) probe.successThreshold = 1;
  if (!probe.failureThreshold) probe.failureThreshold = 3;
  defaultHTTPGet(probe);
}

function defaultContainer(c: Obj, hostNetwork: boolean): void {
  if (!c.imagePullPolicy) c.imagePullPolicy = imageTag(typeof c.image === 'string' ? c.image : '') === 'latest' ? 'Always' : 'IfNotPresent';
  if (!c.terminationMessagePath) c.terminationMessagePath = '/dev/termination-log';
  if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
  for (const port of objects(c.ports)) {
    if (!port.protocol) port.protocol = 'TCP';
    if (hostNetwork && !port.hostPort) port.hostPort = port.containerPort;
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  if (isObj(c.lifecycle)) {
    defaultHTTPGet(c.lifecycle.postStart);
    defaultHTTPGet(c.lifecycle.preStop);
  }
  for (const env of objects(c.env)) {
    const fieldRef = isObj(env.valueFrom) ? env.valueFrom.fieldRef : undefined;
    if (isObj(fieldRef)) setDefault(fieldRef, 'apiVersion', 'v1');
  }
}

/** SetDefaults_PodSpec and the defaults of everything a PodSpec contains. */
export function defaultPodSpec(spec: unknown): void {
  if (!isObj(spec)) return;
  if (!spec.dnsPolicy) spec.dnsPolicy = 'ClusterFirst';
  if (!spec.restartPolicy) spec.restartPolicy = 'Always';
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  if (!spec.schedulerName) spec.schedulerName = 'default-scheduler';
  const hostNetwork = spec.hostNetwork === true;
  for (const c of objects(spec.containers)) defaultContainer(c, hostNetwork);
  for (const c of objects(spec.initContainers)) defaultContainer(c, hostNetwork);
  for (const c of objects(spec.ephemeralContainers)) defaultContainer(c, false);
  for (const v of objects(spec.volumes)) {
    const sources = Object.keys(v).filter((k) => k !== 'name');
    if (sources.length === 0) v.emptyDir = {};
  }
}

function defaultPodTemplate(template: unknown): void {
  if (isObj(template)) defaultPodSpec(template.spec);
}

function defaultPod(pod: KubeObject, op: AdmissionContext['op']): void {
  const spec = pod.spec;
  if (!isObj(spec)) return;
  defaultPodSpec(spec);
  // SetDefaults_Pod (Pods only, not templates): requests default to limits.
  for (const c of [...objects(spec.containers), ...objects(spec.initContainers)]) {
    const resources = c.resources;
    if (!isObj(resources) || !isObj(resources.limits)) continue;
    if (!isObj(resources.requests)) resources.requests = {};
    const requests = resources.requests as Obj;
    for (const [k, v] of Object.entries(resources.limits)) setDefault(requests, k, v);
  }
  setDefault(spec, 'enableServiceLinks', true);
  // The pod registry strategy starts every new pod Pending.
  if (op === 'CREATE') {
    if (!isObj(pod.status)) pod.status = {};
    setDefault(pod.status as Obj, 'phase', 'Pending');
  }
}

// ------------------------------------------------------------------------------------------------
// core/v1: Service, Namespace, Secret, ConfigMap

function externallyAccessible(spec: Obj): boolean {
  const externalIPs = Array.isArray(spec.externalIPs) ? spec.externalIPs.length : 0;
  return spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && externalIPs > 0);
}

/**
 * The service registry's dropTypeDependentFields: when an update makes a field no longer apply
 * (a type change, allocateLoadBalancerNodePorts turned off, externalIPs removed, ...), the field is
 * cleared — but only if the user left it as it was, so an explicit change still gets validated.
 */
function dropTypeDependentFields(spec: Obj, prev: Obj): void {
  const same = (key: string) => jsonEqual(spec[key], prev[key]);
  const needsClusterIP = (s: Obj) => s.type !== 'ExternalName';
  const needsNodePort = (s: Obj) => s.type === 'NodePort' || (s.type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts !== false);
  const needsHealthCheck = (s: Obj) => s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
  if (needsClusterIP(prev) && !needsClusterIP(spec)) {
    if (same('clusterIP') && same('clusterIPs')) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (same('ipFamilies')) delete spec.ipFamilies;
    if (same('ipFamilyPolicy')) delete spec.ipFamilyPolicy;
  }
  const nodePortsOf = (s: Obj) => objects(s.ports).map((p) => p.nodePort);
  if (needsNodePort(prev) && !needsNodePort(spec) && jsonEqual(nodePortsOf(spec), nodePortsOf(prev))) {
    for (const p of objects(spec.ports)) delete p.nodePort;
  }
  if (needsHealthCheck(prev) && !needsHealthCheck(spec) && same('healthCheckNodePort')) delete spec.healthCheckNodePort;
  if (prev.type === 'LoadBalancer' && spec.type !== 'LoadBalancer') {
    if (same('allocateLoadBalancerNodePorts')) delete spec.allocateLoadBalancerNodePorts;
    if (same('loadBalancerClass')) delete spec.loadBalancerClass;
  }
  if (externallyAccessible(prev) && !externallyAccessible(spec) && same('externalTrafficPolicy')) delete spec.externalTrafficPolicy;
}

function defaultService(svc: KubeObject, old: KubeObject | undefined): void {
  const spec = svc.spec;
  if (!isObj(spec)) return;
  if (isObj(old?.spec)) dropTypeDependentFields(spec, old.spec);
  if (!spec.sessionAffinity) spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP') {
    const cfg = isObj(spec.sessionAffinityConfig) ? spec.sessionAffinityConfig : undefined;
    const clientIP = cfg && isObj(cfg.clientIP) ? cfg.clientIP : undefined;
    if (!clientIP || clientIP.timeoutSeconds === undefined || clientIP.timeoutSeconds === null) {
      spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
    }
  }
  if (!spec.type) spec.type = 'ClusterIP';
  for (const port of objects(spec.ports)) {
    if (!port.protocol) port.protocol = 'TCP';
    if (port.targetPort === undefined || port.targetPort === null || port.targetPort === 0 || port.targetPort === '') port.targetPort = port.port;
  }
  if (externallyAccessible(spec) && !spec.externalTrafficPolicy) spec.externalTrafficPolicy = 'Cluster';
  if (spec.internalTrafficPolicy === undefined || spec.internalTrafficPolicy === null) {
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer' || spec.type === 'ClusterIP') spec.internalTrafficPolicy = 'Cluster';
  }
  if (spec.type === 'LoadBalancer') {
    setDefault(spec, 'allocateLoadBalancerNodePorts', true);
    const ingress = isObj(svc.status) && isObj(svc.status.loadBalancer) ? objects(svc.status.loadBalancer.ingress) : [];
    for (const ing of ingress) if (ing.ip && !ing.ipMode) ing.ipMode = 'VIP';
  }
  // The service strategy keeps clusterIP and clusterIPs[0] in step.
  if (spec.type !== 'ExternalName') {
    const ips = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
    const oldSpec = isObj(old?.spec) ? old.spec : undefined;
    if (oldSpec && spec.clusterIP !== oldSpec.clusterIP && jsonEqual(spec.clusterIPs, oldSpec.clusterIPs)) {
      if (spec.clusterIP) spec.clusterIPs = [spec.clusterIP];
      else delete spec.clusterIPs;
    } else if (spec.clusterIP && ips.length === 0) spec.clusterIPs = [spec.clusterIP];
    else if (!spec.clusterIP && ips.length > 0 && typeof ips[0] === 'string') spec.clusterIP = ips[0];
  }
}

function defaultNamespace(ns: KubeObject): void {
  const name = ns.metadata?.name;
  if (name) {
    ns.metadata.labels = { ...(ns.metadata.labels ?? {}), 'kubernetes.io/metadata.name': name };
  }
  if (!isObj(ns.status)) ns.status = {};
  setDefault(ns.status as Obj, 'phase', 'Active');
}

function defaultSecret(secret: KubeObject): void {
  if (!secret.type) secret.type = 'Opaque';
  // Conversion writes stringData into data (base64) and drops it.
  if (isObj(secret.stringData)) {
    const data: Obj = isObj(secret.data) ? secret.data : {};
    for (const [k, v] of Object.entries(secret.stringData)) {
      if (typeof v === 'string') data[k] = Buffer.from(v, 'utf8').toString('base64');
    }
    secret.data = data;
    delete secret.stringData;
  }
}

function defaultNode(node: KubeObject): void {
  // SetDefaults_NodeStatus: allocatable defaults to capacity.
  if (isObj(node.status) && isObj(node.status.capacity) && node.status.allocatable === undefined) {
    node.status.allocatable = { ...node.status.capacity };
  }
}

// ------------------------------------------------------------------------------------------------
// apps/v1

function defaultDeployment(d: KubeObject): void {
  const spec = d.spec;
  if (!isObj(spec)) return;
  setDefault(spec, 'replicas', 1);
  if (!isObj(spec.strategy)) spec.strategy = {};
  const strategy = spec.strategy as Obj;
  if (!strategy.type) strategy.type = 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    if (!isObj(strategy.rollingUpdate)) strategy.rollingUpdate = {};
    const ru = strategy.rollingUpdate as Obj;
    setDefault(ru, 'maxUnavailable', '25%');
    setDefault(ru, 'maxSurge', '25%');
  }
  setDefault(spec, 'revisionHistoryLimit', 10);
  setDefault(spec, 'progressDeadlineSeconds', 600);
  defaultPodTemplate(spec.template);
}

function defaultReplicaSet(rs: KubeObject): void {
  if (!isObj(rs.spec)) return;
  setDefault(rs.spec, 'replicas', 1);
  defaultPodTemplate(rs.spec.template);
}

function defaultStatefulSet(sts: KubeObject): void {
  const spec = sts.spec;
  if (!isObj(spec)) return;
  if (!spec.podManagementPolicy) spec.podManagementPolicy = 'OrderedReady';
  if (!isObj(spec.updateStrategy)) spec.updateStrategy = {};
  const strategy = spec.updateStrategy as Obj;
  if (!strategy.type) strategy.type = 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    if (!isObj(strategy.rollingUpdate)) strategy.rollingUpdate = {};
    setDefault(strategy.rollingUpdate as Obj, 'partition', 0);
  }
  if (!isObj(spec.persistentVolumeClaimRetentionPolicy)) spec.persistentVolumeClaimRetentionPolicy = {};
  const retention = spec.persistentVolumeClaimRetentionPolicy as Obj;
  if (!retention.whenDeleted) retention.whenDeleted = 'Retain';
  if (!retention.whenScaled) retention.whenScaled = 'Retain';
  setDefault(spec, 'replicas', 1);
  setDefault(spec, 'revisionHistoryLimit', 10);
  defaultPodTemplate(spec.template);
}

function defaultDaemonSet(ds: KubeObject): void {
  const spec = ds.spec;
  if (!isObj(spec)) return;
  if (!isObj(spec.updateStrategy)) spec.updateStrategy = {};
  const strategy = spec.updateStrategy as Obj;
  if (!strategy.type) strategy.type = 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    if (!isObj(strategy.rollingUpdate)) strategy.rollingUpdate = {};
    const ru = strategy.rollingUpdate as Obj;
    setDefault(ru, 'maxUnavailable', 1);
    setDefault(ru, 'maxSurge', 0);
  }
  setDefault(spec, 'revisionHistoryLimit', 10);
  defaultPodTemplate(spec.template);
}

// ------------------------------------------------------------------------------------------------
// discovery/v1 and networking/v1

function defaultEndpointSlice(slice: KubeObject): void {
  for (const port of objects(slice.ports)) {
    setDefault(port, 'name', '');
    if (!port.protocol) port.protocol = 'TCP';
  }
}

function defaultNetworkPolicy(np: KubeObject): void {
  const spec = np.spec;
  if (!isObj(spec)) return;
  for (const rule of [...objects(spec.ingress), ...objects(spec.egress)]) {
    for (const port of objects(rule.ports)) if (!port.protocol) port.protocol = 'TCP';
  }
  if (!Array.isArray(spec.policyTypes) || spec.policyTypes.length === 0) {
    const egress = Array.isArray(spec.egress) && spec.egress.length > 0;
    spec.policyTypes = egress ? ['Ingress', 'Egress'] : ['Ingress'];
  }
}

function defaultIngressClass(ic: KubeObject): void {
  // SetDefaults_IngressClass: parameters are cluster-scoped unless said otherwise.
  if (isObj(ic.spec) && isObj(ic.spec.parameters)) setDefault(ic.spec.parameters, 'scope', 'Cluster');
}

// ------------------------------------------------------------------------------------------------
// gateway.networking.k8s.io (the CRDs' OpenAPI defaults)

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

function defaultBackendObjectRef(ref: Obj): void {
  setDefault(ref, 'group', '');
  setDefault(ref, 'kind', 'Service');
}

function defaultHTTPRouteFilters(filters: unknown): void {
  for (const f of objects(filters)) {
    if (isObj(f.requestRedirect)) setDefault(f.requestRedirect, 'statusCode', 302);
    if (isObj(f.requestMirror) && isObj(f.requestMirror.backendRef)) defaultBackendObjectRef(f.requestMirror.backendRef);
  }
}

function defaultParentRefs(spec: Obj): void {
  for (const ref of objects(spec.parentRefs)) {
    setDefault(ref, 'group', GATEWAY_GROUP);
    setDefault(ref, 'kind', 'Gateway');
  }
}

function defaultHTTPRoute(route: KubeObject): void {
  const spec = route.spec;
  if (!isObj(spec)) return;
  defaultParentRefs(spec);
  if (!Array.isArray(spec.rules)) spec.rules = [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }];
  for (const rule of objects(spec.rules)) {
    if (!Array.isArray(rule.matches)) rule.matches = [{ path: { type: 'PathPrefix', value: '/' } }];
    for (const m of objects(rule.matches)) {
      if (m.path === undefined || m.path === null) m.path = { type: 'PathPrefix', value: '/' };
      if (isObj(m.path)) {
        setDefault(m.path, 'type', 'PathPrefix');
        setDefault(m.path, 'value', '/');
      }
      for (const h of objects(m.headers)) setDefault(h, 'type', 'Exact');
      for (const q of objects(m.queryParams)) setDefault(q, 'type', 'Exact');
    }
    defaultHTTPRouteFilters(rule.filters);
    for (const b of objects(rule.backendRefs)) {
      defaultBackendObjectRef(b);
      setDefault(b, 'weight', 1);
      defaultHTTPRouteFilters(b.filters);
    }
  }
}

function defaultGateway(gw: KubeObject): void {
  const spec = gw.spec;
  if (!isObj(spec)) return;
  for (const l of objects(spec.listeners)) {
    if (!isObj(l.allowedRoutes)) l.allowedRoutes = {};
    const allowed = l.allowedRoutes as Obj;
    if (!isObj(allowed.namespaces)) allowed.namespaces = {};
    setDefault(allowed.namespaces as Obj, 'from', 'Same');
    if (isObj(l.tls)) setDefault(l.tls, 'mode', 'Terminate');
  }
  for (const a of objects(spec.addresses)) setDefault(a, 'type', 'IPAddress');
}

// ------------------------------------------------------------------------------------------------
// projectcalico.org/v3

function defaultCalicoPolicy(policy: KubeObject): void {
  const spec = policy.spec;
  if (!isObj(spec)) return;
  // Calico's defaultPolicyTypesField: by which rule lists are present.
  if (!Array.isArray(spec.types) || spec.types.length === 0) {
    const ingress = Array.isArray(spec.ingress) && spec.ingress.length > 0;
    const egress = Array.isArray(spec.egress) && spec.egress.length > 0;
    spec.types = !egress ? ['Ingress'] : ingress ? ['Ingress', 'Egress'] : ['Egress'];
  }
}

function defaultIPPool(pool: KubeObject): void {
  const spec = pool.spec;
  if (!isObj(spec)) return;
  const v6 = typeof spec.cidr === 'string' && spec.cidr.includes(':');
  setDefault(spec, 'blockSize', v6 ? 122 : 26);
  if (!spec.ipipMode) spec.ipipMode = 'Never';
  if (!spec.vxlanMode) spec.vxlanMode = 'Never';
  if (!spec.nodeSelector) spec.nodeSelector = 'all()';
}

// ------------------------------------------------------------------------------------------------

function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

/**
 * Applies the defaults of the object's kind in place and returns it. `old` is the stored object
 * on an update (used by the Service's type-change handling); `op` CREATE adds the defaults only
 * a new object gets.
 */
export function applyDefaults(o: KubeObject, old?: KubeObject, op: AdmissionContext['op'] = old ? 'UPDATE' : 'CREATE'): KubeObject {
  const group = groupOf(o.apiVersion ?? '');
  switch (`${group}/${o.kind}`) {
    case '/Pod':
      defaultPod(o, op);
      break;
    case '/Service':
      defaultService(o, old);
      break;
    case '/Namespace':
      defaultNamespace(o);
      break;
    case '/Secret':
      defaultSecret(o);
      break;
    case '/Node':
      defaultNode(o);
      break;
    case 'apps/Deployment':
      defaultDeployment(o);
      break;
    case 'apps/ReplicaSet':
      defaultReplicaSet(o);
      break;
    case 'apps/StatefulSet':
      defaultStatefulSet(o);
      break;
    case 'apps/DaemonSet':
      defaultDaemonSet(o);
      break;
    case 'discovery.k8s.io/EndpointSlice':
      defaultEndpointSlice(o);
      break;
    case 'networking.k8s.io/NetworkPolicy':
      defaultNetworkPolicy(o);
      break;
    case 'networking.k8s.io/IngressClass':
      defaultIngressClass(o);
      break;
    case `${GATEWAY_GROUP}/HTTPRoute`:
      defaultHTTPRoute(o);
      break;
    case `${GATEWAY_GROUP}/Gateway`:
      defaultGateway(o);
      break;
    case 'projectcalico.org/NetworkPolicy':
    case 'projectcalico.org/GlobalNetworkPolicy':
      defaultCalicoPolicy(o);
      break;
    case 'projectcalico.org/IPPool':
      defaultIPPool(o);
      break;
  }
  return o;
}

/** The defaulting admission plugin: Kubernetes' defaults on every create and update. */
export const defaulting: AdmissionPlugin = {
  name: 'defaulting',
  admit(ctx: AdmissionContext): void {
    if (ctx.op === 'DELETE') return;
    applyDefaults(ctx.object, ctx.old, ctx.op);
  },
};
