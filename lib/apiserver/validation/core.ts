/**
 * Validation of the core (v1) kinds podnet stores: Pod, Service, Node, Namespace, ConfigMap,
 * Secret and Event — k8s.io/kubernetes/pkg/apis/core/validation (validation.go, events.go),
 * with the apiserver's wording and field paths in kubectl's notation.
 *
 * The objects validated are the ones the store is about to write, after defaulting
 * (lib/apiserver/defaults.ts): fields the defaulting fills in (`dnsPolicy`, `protocol`,
 * `sessionAffinity`, ...) are required here, as they are upstream.
 *
 * Deliberate differences from upstream, each for the emulator's sake:
 * - A Pod's `spec.nodeName` may go from unset to set by an ordinary update: podnet's scheduler
 *   binds that way instead of through the `binding` subresource.
 * - `spec.terminationGracePeriodSeconds` must be >= 0 (upstream tolerates negatives and later
 *   rewrites them to 1).
 * - Field paths upstream spells oddly (`spec.LoadBalancerSourceRanges`, `metadata.taints`,
 *   `allocateLoadBalancerNodePorts`) use the field's real JSON path.
 * - Node `InternalIP`/`ExternalIP` addresses must be IP addresses: podnet routes by them.
 */

import { field, type FieldError } from '../../core/errors.js';
import { parseCIDRSloppy, parseIPSloppy } from '../../core/ipnet.js';
import type { KubeObject } from '../../api/meta.js';
import {
  FIELD_IMMUTABLE,
  SUPPORTED_PORT_PROTOCOLS,
  arr,
  child,
  inclusiveRangeError,
  invalidEach,
  isConfigMapKey,
  isDNS1123Label,
  isDNS1123Subdomain,
  isHTTPHeaderName,
  isLabelKey,
  isObject,
  isValidCIDR,
  isValidIP,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
  jsonEqual,
  nameIsDNSLabel,
  nameIsDNSSubdomain,
  obj,
  regexError,
  str,
  validateAnnotations,
  validateImmutableField,
  validateLabelName,
  validateLabelSelector,
  validateLabelSelectorRequirement,
  validateLabels,
  validateMetadata,
  validateNonSpecialIP,
  validateNonnegativeField,
  validatePortNumOrName,
  type NameFn,
} from './names.js';

const MAX_INT32 = 2147483647;

// ------------------------------------------------------------------------------------------------
// Metadata of built-in kinds (core's ValidateObjectMeta adds the legacy finalizer-name rule)

const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

/** Metadata validation on create, and additionally the update rules when there is an old object. */
export function validateMeta(o: KubeObject, old: KubeObject | undefined, namespaced: boolean, nameFn: NameFn): FieldError[] {
  const errs = validateMetadata(o, old, namespaced, nameFn);
  // Core's ValidateObjectMeta for built-in kinds: a bare finalizer name must be a standard one.
  arr(o.metadata?.finalizers).forEach((f, i) => {
    const name = str(f);
    if (!name.includes('/') && !STANDARD_FINALIZERS.has(name)) {
      errs.push(field.invalid(`metadata.finalizers[${i}]`, name, 'name is neither a standard finalizer name nor is it fully qualified'));
    }
  });
  return errs;
}

// ------------------------------------------------------------------------------------------------
// Pod spec

/** Options that distinguish a Pod from a pod template embedded in a workload. */
export interface PodSpecOptions {
  /** The spec belongs to a Pod itself (not a template). */
  resourceIsPod: boolean;
}

function validateContainerPorts(ports: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  arr(ports).forEach((raw, i) => {
    const p = obj(raw);
    const idx = `${path}[${i}]`;
    const name = str(p.name);
    if (name.length > 0) {
      const msgs = isValidPortName(name);
      if (msgs.length) errs.push(...invalidEach(child(idx, 'name'), name, msgs));
      else if (names.has(name)) errs.push(field.duplicate(child(idx, 'name'), name));
      else names.add(name);
    }
    if (p.containerPort === undefined || p.containerPort === 0) errs.push(field.required(child(idx, 'containerPort')));
    else errs.push(...invalidEach(child(idx, 'containerPort'), p.containerPort, isValidPortNum(p.containerPort as number)));
    if (p.hostPort !== undefined && p.hostPort !== 0) {
      errs.push(...invalidEach(child(idx, 'hostPort'), p.hostPort, isValidPortNum(p.hostPort as number)));
    }
    if (p.hostIP !== undefined && p.hostIP !== '') errs.push(...isValidIP(child(idx, 'hostIP'), p.hostIP));
    if (!str(p.protocol)) errs.push(field.required(child(idx, 'protocol')));
    else if (!SUPPORTED_PORT_PROTOCOLS.includes(str(p.protocol))) {
      errs.push(field.notSupported(child(idx, 'protocol'), p.protocol, SUPPORTED_PORT_PROTOCOLS));
    }
  });
  return errs;
}

function validateHandler(handler: Record<string, unknown>, path: string, kinds: string[]): FieldError[] {
  const errs: FieldError[] = [];
  let n = 0;
  for (const kind of kinds) {
    const h = handler[kind];
    if (h === undefined || h === null) continue;
    if (n > 0) {
      errs.push(field.forbidden(child(path, kind), 'may not specify more than 1 handler type'));
      continue;
    }
    n++;
    const p = child(path, kind);
    const o = obj(h);
    switch (kind) {
      case 'exec':
        if (arr(o.command).length === 0) errs.push(field.required(child(p, 'command')));
        break;
      case 'httpGet': {
        if (!str(o.path)) errs.push(field.required(child(p, 'path')));
        errs.push(...validatePortNumOrName(o.port, child(p, 'port')));
        if (o.scheme !== 'HTTP' && o.scheme !== 'HTTPS') errs.push(field.notSupported(child(p, 'scheme'), o.scheme ?? '', ['HTTP', 'HTTPS']));
        for (const header of arr(o.httpHeaders)) {
          const name = str(obj(header).name);
          errs.push(...invalidEach(child(p, 'httpHeaders'), name, isHTTPHeaderName(name)));
        }
        break;
      }
      case 'tcpSocket':
        errs.push(...validatePortNumOrName(o.port, child(p, 'port')));
        break;
      case 'grpc':
        errs.push(...invalidEach(child(p, 'port'), o.port, isValidPortNum(o.port as number)));
        break;
      case 'sleep':
        errs.push(...validateNonnegativeField(o.seconds, child(p, 'seconds')));
        break;
    }
  }
  if (n === 0) errs.push(field.required(path, 'must specify a handler type'));
  return errs;
}

const PROBE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc'];
const LIFECYCLE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'sleep'];

function validateProbe(probe: unknown, path: string, which: 'liveness' | 'readiness' | 'startup'): FieldError[] {
  if (probe === undefined || probe === null) return [];
  const p = obj(probe);
  const errs = validateHandler(p, path, PROBE_HANDLERS);
  for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
    errs.push(...validateNonnegativeField(p[f], child(path, f)));
  }
  const tgps = p.terminationGracePeriodSeconds;
  if (typeof tgps === 'number' && tgps <= 0) errs.push(field.invalid(child(path, 'terminationGracePeriodSeconds'), tgps, 'must be greater than 0'));
  if (which !== 'readiness' && p.successThreshold !== undefined && p.successThreshold !== 1) {
    errs.push(field.invalid(child(path, 'successThreshold'), p.successThreshold, 'must be 1'));
  }
  if (which === 'readiness' && tgps !== undefined && tgps !== null) {
    errs.push(field.invalid(child(path, 'terminationGracePeriodSeconds'), tgps, 'must not be set for readinessProbes'));
  }
  return errs;
}

function validateLifecycle(lifecycle: unknown, path: string): FieldError[] {
  const l = obj(lifecycle);
  const errs: FieldError[] = [];
  if (l.postStart) errs.push(...validateHandler(obj(l.postStart), child(path, 'postStart'), LIFECYCLE_HANDLERS));
  if (l.preStop) errs.push(...validateHandler(obj(l.preStop), child(path, 'preStop'), LIFECYCLE_HANDLERS));
  return errs;
}

const ENV_NAME_FMT = '[-._a-zA-Z][-._a-zA-Z0-9]*';
const envNameRe = new RegExp(`^${ENV_NAME_FMT}$`);

function validateEnv(env: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  arr(env).forEach((raw, i) => {
    const e = obj(raw);
    const p = `${path}[${i}]`;
    const name = str(e.name);
    if (!name) errs.push(field.required(child(p, 'name')));
    else if (!envNameRe.test(name)) {
      const msg = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit";
      errs.push(field.invalid(child(p, 'name'), name, regexError(msg, ENV_NAME_FMT, 'my.env-name', 'MY_ENV.NAME', 'MyEnvName1')));
    }
  });
  return errs;
}

/** validateContainerCommon: what every kind of container must satisfy. */
function validateContainerCommon(c: Record<string, unknown>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const name = str(c.name);
  if (!name) errs.push(field.required(child(path, 'name')));
  else errs.push(...invalidEach(child(path, 'name'), name, isDNS1123Label(name)));
  if (!str(c.image)) errs.push(field.required(child(path, 'image')));
  const tmp = c.terminationMessagePolicy;
  if (!tmp) errs.push(field.required(child(path, 'terminationMessagePolicy')));
  else if (tmp !== 'File' && tmp !== 'FallbackToLogsOnError') {
    errs.push(field.notSupported(child(path, 'terminationMessagePolicy'), tmp, ['File', 'FallbackToLogsOnError']));
  }
  errs.push(...validateContainerPorts(c.ports, child(path, 'ports')));
  errs.push(...validateEnv(c.env, child(path, 'env')));
  const pull = c.imagePullPolicy;
  if (!pull) errs.push(field.required(child(path, 'imagePullPolicy')));
  else if (!['Always', 'IfNotPresent', 'Never'].includes(str(pull))) {
    errs.push(field.notSupported(child(path, 'imagePullPolicy'), pull, ['Always', 'IfNotPresent', 'Never']));
  }
  return errs;
}

function hostPortConflicts(containers: unknown[], path: string, seen = new Set<string>()): FieldError[] {
  const errs: FieldError[] = [];
  containers.forEach((raw, ci) => {
    arr(obj(raw).ports).forEach((rp, pi) => {
      const p = obj(rp);
      if (!p.hostPort) return;
      const key = `${str(p.protocol)}/${str(p.hostIP)}/${String(p.hostPort)}`;
      if (seen.has(key)) errs.push(field.duplicate(`${path}[${ci}].ports[${pi}].hostPort`, key));
      else seen.add(key);
    });
  });
  return errs;
}

function validateContainers(containers: unknown, path: string): FieldError[] {
  const list = arr(containers);
  if (list.length === 0) return [field.required(path)];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  list.forEach((raw, i) => {
    const c = obj(raw);
    const p = `${path}[${i}]`;
    errs.push(...validateContainerCommon(c, p));
    const name = str(c.name);
    if (names.has(name)) errs.push(field.duplicate(child(p, 'name'), name));
    else names.add(name);
    if (c.lifecycle) errs.push(...validateLifecycle(c.lifecycle, child(p, 'lifecycle')));
    errs.push(...validateProbe(c.livenessProbe, child(p, 'livenessProbe'), 'liveness'));
    errs.push(...validateProbe(c.readinessProbe, child(p, 'readinessProbe'), 'readiness'));
    errs.push(...validateProbe(c.startupProbe, child(p, 'startupProbe'), 'startup'));
    if (c.restartPolicy !== undefined && c.restartPolicy !== null) {
      errs.push(field.forbidden(child(p, 'restartPolicy'), 'may not be set for non-init containers'));
    }
  });
  errs.push(...hostPortConflicts(list, path));
  return errs;
}

function validateInitContainers(init: unknown, containers: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set(arr(containers).map((c) => str(obj(c).name)));
  arr(init).forEach((raw, i) => {
    const c = obj(raw);
    const p = `${path}[${i}]`;
    errs.push(...validateContainerCommon(c, p));
    let sidecar = false;
    if (c.restartPolicy !== undefined && c.restartPolicy !== null) {
      if (c.restartPolicy !== 'Always') errs.push(field.notSupported(child(p, 'restartPolicy'), c.restartPolicy, ['Always']));
      sidecar = c.restartPolicy === 'Always';
    }
    const name = str(c.name);
    if (names.has(name)) errs.push(field.duplicate(child(p, 'name'), name));
    else if (name) names.add(name);
    errs.push(...hostPortConflicts([c], path));
    if (sidecar) {
      if (c.lifecycle) errs.push(...validateLifecycle(c.lifecycle, child(p, 'lifecycle')));
      errs.push(...validateProbe(c.livenessProbe, child(p, 'livenessProbe'), 'liveness'));
      errs.push(...validateProbe(c.readinessProbe, child(p, 'readinessProbe'), 'readiness'));
      errs.push(...validateProbe(c.startupProbe, child(p, 'startupProbe'), 'startup'));
    } else {
      for (const f of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe']) {
        if (c[f] !== undefined && c[f] !== null) {
          errs.push(field.forbidden(child(p, f), 'may not be set for init containers without restartPolicy=Always'));
        }
      }
    }
  });
  return errs;
}

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

function validateTaintEffect(effect: unknown, allowEmpty: boolean, path: string): FieldError[] {
  if (!allowEmpty && !effect) return [field.required(path)];
  if (!TAINT_EFFECTS.includes(str(effect))) return [field.notSupported(path, effect, TAINT_EFFECTS)];
  return [];
}

/** ValidateTolerations. */
export function validateTolerations(tolerations: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  arr(tolerations).forEach((raw, i) => {
    const t = obj(raw);
    const p = `${path}[${i}]`;
    const key = str(t.key);
    if (key.length > 0) errs.push(...validateLabelName(key, child(p, 'key')));
    if (key.length === 0 && t.operator !== 'Exists') {
      errs.push(
        field.invalid(child(p, 'operator'), t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"'),
      );
    }
    if (t.tolerationSeconds !== undefined && t.tolerationSeconds !== null && t.effect !== 'NoExecute') {
      errs.push(field.invalid(child(p, 'effect'), t.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    const value = str(t.value);
    switch (t.operator ?? '') {
      case 'Equal':
      case '': {
        const msgs = isValidLabelValue(value);
        if (msgs.length) errs.push(field.invalid(child(p, 'operator'), value, msgs.join(';')));
        break;
      }
      case 'Exists':
        if (value.length > 0) errs.push(field.invalid(child(p, 'operator'), value, "value must be empty when `operator` is 'Exists'"));
        break;
      default:
        errs.push(field.notSupported(child(p, 'operator'), t.operator, ['Equal', 'Exists']));
    }
    if (t.effect) errs.push(...validateTaintEffect(t.effect, true, child(p, 'effect')));
  });
  return errs;
}

function validateNodeFieldSelectorRequirement(raw: unknown, path: string): FieldError[] {
  const rq = obj(raw);
  const errs: FieldError[] = [];
  if (rq.operator === 'In' || rq.operator === 'NotIn') {
    if (arr(rq.values).length !== 1) {
      errs.push(field.required(child(path, 'values'), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"));
    }
  } else {
    errs.push(field.invalid(child(path, 'operator'), rq.operator ?? '', 'not a valid selector operator'));
  }
  if (rq.key !== 'metadata.name') errs.push(field.invalid(child(path, 'key'), rq.key ?? '', 'not a valid field selector key'));
  else arr(rq.values).forEach((v, i) => errs.push(...invalidEach(`${child(path, 'values')}[${i}]`, v, nameIsDNSSubdomain(str(v), false))));
  return errs;
}

function validateNodeSelectorTerm(raw: unknown, path: string): FieldError[] {
  const term = obj(raw);
  const errs: FieldError[] = [];
  arr(term.matchExpressions).forEach((r, j) => errs.push(...validateLabelSelectorRequirement(r, `${child(path, 'matchExpressions')}[${j}]`, { gtLt: true })));
  arr(term.matchFields).forEach((r, j) => errs.push(...validateNodeFieldSelectorRequirement(r, `${child(path, 'matchFields')}[${j}]`)));
  return errs;
}

function validatePodAffinityTerm(raw: unknown, path: string): FieldError[] {
  const t = obj(raw);
  const errs = validateLabelSelector(t.labelSelector, child(path, 'labelSelector'));
  errs.push(...validateLabelSelector(t.namespaceSelector, child(path, 'namespaceSelector')));
  arr(t.namespaces).forEach((ns) => errs.push(...invalidEach(child(path, 'namespace'), ns, nameIsDNSLabel(str(ns), false))));
  if (!str(t.topologyKey)) errs.push(field.required(child(path, 'topologyKey'), 'can not be empty'));
  else errs.push(...validateLabelName(t.topologyKey, child(path, 'topologyKey')));
  return errs;
}

function validateWeightedTerms(terms: unknown, path: string, termField: string, check: (t: unknown, p: string) => FieldError[]): FieldError[] {
  const errs: FieldError[] = [];
  arr(terms).forEach((raw, i) => {
    const t = obj(raw);
    const p = `${path}[${i}]`;
    const w = t.weight;
    if (typeof w !== 'number' || w <= 0 || w > 100) errs.push(field.invalid(child(p, 'weight'), w ?? 0, 'must be in the range 1-100'));
    errs.push(...check(t[termField], child(p, termField)));
  });
  return errs;
}

function validateAffinity(affinity: unknown, path: string): FieldError[] {
  if (!isObject(affinity)) return [];
  const errs: FieldError[] = [];
  if (isObject(affinity.nodeAffinity)) {
    const na = affinity.nodeAffinity;
    const p = child(path, 'nodeAffinity');
    const req = na.requiredDuringSchedulingIgnoredDuringExecution;
    if (isObject(req)) {
      const termsPath = child(child(p, 'requiredDuringSchedulingIgnoredDuringExecution'), 'nodeSelectorTerms');
      const terms = arr(req.nodeSelectorTerms);
      if (terms.length === 0) errs.push(field.required(termsPath, 'must have at least one node selector term'));
      terms.forEach((t, i) => errs.push(...validateNodeSelectorTerm(t, `${termsPath}[${i}]`)));
    }
    const preferred = 'preferredDuringSchedulingIgnoredDuringExecution';
    errs.push(...validateWeightedTerms(na[preferred], child(p, preferred), 'preference', validateNodeSelectorTerm));
  }
  for (const kind of ['podAffinity', 'podAntiAffinity']) {
    const pa = affinity[kind];
    if (!isObject(pa)) continue;
    const p = child(path, kind);
    arr(pa.requiredDuringSchedulingIgnoredDuringExecution).forEach((t, i) => {
      errs.push(...validatePodAffinityTerm(t, `${child(p, 'requiredDuringSchedulingIgnoredDuringExecution')}[${i}]`));
    });
    const preferred = 'preferredDuringSchedulingIgnoredDuringExecution';
    errs.push(...validateWeightedTerms(pa[preferred], child(p, preferred), 'podAffinityTerm', validatePodAffinityTerm));
  }
  return errs;
}

/** Limits derived from libc's resolver: nameservers and search domains in a pod's resolv.conf. */
export const MAX_DNS_NAMESERVERS = 3;
/** Max number of search domains. */
export const MAX_DNS_SEARCH_PATHS = 32;
/** Max characters of the search list (including spaces). */
export const MAX_DNS_SEARCH_LIST_CHARS = 2048;

function validatePodDNSConfig(dnsConfig: unknown, dnsPolicy: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (dnsPolicy === 'None') {
    if (!isObject(dnsConfig)) return [field.required(path, 'must provide `dnsConfig` when `dnsPolicy` is None')];
    if (arr(dnsConfig.nameservers).length === 0) {
      return [field.required(child(path, 'nameservers'), 'must provide at least one DNS nameserver when `dnsPolicy` is None')];
    }
  }
  if (!isObject(dnsConfig)) return errs;
  const ns = arr(dnsConfig.nameservers);
  if (ns.length > MAX_DNS_NAMESERVERS) {
    errs.push(field.invalid(child(path, 'nameservers'), ns, `must not have more than ${MAX_DNS_NAMESERVERS} nameservers`));
  }
  ns.forEach((n, i) => errs.push(...isValidIP(`${child(path, 'nameservers')}[${i}]`, n)));
  const searches = arr(dnsConfig.searches);
  if (searches.length > MAX_DNS_SEARCH_PATHS) {
    errs.push(field.invalid(child(path, 'searches'), searches, `must not have more than ${MAX_DNS_SEARCH_PATHS} search paths`));
  }
  if (searches.map(str).join(' ').length > MAX_DNS_SEARCH_LIST_CHARS) {
    errs.push(
      field.invalid(child(path, 'searches'), searches, `must not have more than ${MAX_DNS_SEARCH_LIST_CHARS} characters (including spaces) in the search list`),
    );
  }
  searches.forEach((s, i) => {
    const search = str(s).replace(/\.$/, '');
    errs.push(...invalidEach(`${child(path, 'searches')}[${i}]`, search, isDNS1123Subdomain(search)));
  });
  arr(dnsConfig.options).forEach((o, i) => {
    if (!str(obj(o).name)) errs.push(field.required(`${child(path, 'options')}[${i}]`, 'must not be empty'));
  });
  return errs;
}

function validateTopologySpreadConstraints(constraints: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const list = arr(constraints).map(obj);
  list.forEach((c, i) => {
    const p = `${path}[${i}]`;
    if (typeof c.maxSkew !== 'number' || c.maxSkew <= 0) errs.push(field.invalid(child(p, 'maxSkew'), c.maxSkew ?? 0, 'must be greater than zero'));
    if (!str(c.topologyKey)) errs.push(field.required(child(p, 'topologyKey'), 'can not be empty'));
    if (c.whenUnsatisfiable !== 'DoNotSchedule' && c.whenUnsatisfiable !== 'ScheduleAnyway') {
      errs.push(field.notSupported(child(p, 'whenUnsatisfiable'), c.whenUnsatisfiable ?? '', ['DoNotSchedule', 'ScheduleAnyway']));
    }
    if (list.slice(i + 1).some((o) => o.topologyKey === c.topologyKey && o.whenUnsatisfiable === c.whenUnsatisfiable)) {
      errs.push(field.duplicate(child(p, '{topologyKey, whenUnsatisfiable}'), `{${str(c.topologyKey)}, ${str(c.whenUnsatisfiable)}}`));
    }
    errs.push(...validateLabelSelector(c.labelSelector, child(p, 'labelSelector')));
  });
  return errs;
}

/**
 * ValidatePodSpec: containers, init containers, restart and DNS policy, DNS config, node
 * selector, affinity, tolerations, hostname/subdomain, topology spread and the rest podnet reads.
 */
export function validatePodSpec(spec: unknown, path: string, opts: PodSpecOptions): FieldError[] {
  if (!isObject(spec)) return [field.required(path)];
  const s = spec;
  const errs: FieldError[] = [];
  if (s.terminationGracePeriodSeconds === undefined || s.terminationGracePeriodSeconds === null) {
    errs.push(field.required(child(path, 'terminationGracePeriodSeconds')));
  } else {
    errs.push(...validateNonnegativeField(s.terminationGracePeriodSeconds, child(path, 'terminationGracePeriodSeconds')));
  }
  errs.push(...validateContainers(s.containers, child(path, 'containers')));
  errs.push(...validateInitContainers(s.initContainers, s.containers, child(path, 'initContainers')));
  if (s.hostNetwork === true) {
    arr(s.containers).forEach((c, i) => {
      arr(obj(c).ports).forEach((rp, j) => {
        const p = obj(rp);
        const hp = p.hostPort ?? 0;
        if ((opts.resourceIsPod || hp !== 0) && hp !== p.containerPort) {
          errs.push(field.invalid(`${path}.containers[${i}].ports[${j}].hostPort`, hp, 'must match `containerPort` when `hostNetwork` is true'));
        }
      });
    });
  }
  const rp = s.restartPolicy;
  if (!rp) errs.push(field.required(child(path, 'restartPolicy')));
  else if (!['Always', 'OnFailure', 'Never'].includes(str(rp))) {
    errs.push(field.notSupported(child(path, 'restartPolicy'), rp, ['Always', 'OnFailure', 'Never']));
  }
  const dp = s.dnsPolicy;
  if (!dp) errs.push(field.required(child(path, 'dnsPolicy')));
  else if (!['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'].includes(str(dp))) {
    errs.push(field.notSupported(child(path, 'dnsPolicy'), dp, ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None']));
  }
  errs.push(...validateLabels(s.nodeSelector, child(path, 'nodeSelector')));
  errs.push(...validateAffinity(s.affinity, child(path, 'affinity')));
  errs.push(...validatePodDNSConfig(s.dnsConfig, s.dnsPolicy, child(path, 'dnsConfig')));
  errs.push(...validateTopologySpreadConstraints(s.topologySpreadConstraints, child(path, 'topologySpreadConstraints')));
  if (str(s.serviceAccountName)) {
    errs.push(...invalidEach(child(path, 'serviceAccountName'), s.serviceAccountName, nameIsDNSSubdomain(str(s.serviceAccountName), false)));
  }
  if (str(s.nodeName)) errs.push(...invalidEach(child(path, 'nodeName'), s.nodeName, nameIsDNSSubdomain(str(s.nodeName), false)));
  if (s.activeDeadlineSeconds !== undefined && s.activeDeadlineSeconds !== null) {
    const v = s.activeDeadlineSeconds;
    if (typeof v !== 'number' || v < 1 || v > MAX_INT32) {
      errs.push(field.invalid(child(path, 'activeDeadlineSeconds'), v, inclusiveRangeError(1, MAX_INT32)));
    }
  }
  if (str(s.hostname)) errs.push(...invalidEach(child(path, 'hostname'), s.hostname, isDNS1123Label(str(s.hostname))));
  if (str(s.subdomain)) errs.push(...invalidEach(child(path, 'subdomain'), s.subdomain, isDNS1123Label(str(s.subdomain))));
  errs.push(...validateTolerations(s.tolerations, child(path, 'tolerations')));
  arr(s.hostAliases).forEach((raw, i) => {
    const a = obj(raw);
    const p = `${child(path, 'hostAliases')}[${i}]`;
    errs.push(...isValidIP(child(p, 'ip'), a.ip ?? ''));
    arr(a.hostnames).forEach((h, j) => errs.push(...invalidEach(`${child(p, 'hostnames')}[${j}]`, h, isDNS1123Subdomain(str(h)))));
  });
  arr(s.readinessGates).forEach((g, i) => {
    const t = str(obj(g).conditionType);
    errs.push(...invalidEach(`${child(path, 'readinessGates')}[${i}].conditionType`, t, isLabelKey(t)));
  });
  return errs;
}

/** ValidatePodTemplateSpec: template labels and annotations, and the pod spec (as a template). */
export function validatePodTemplateSpec(template: unknown, path: string): FieldError[] {
  if (!isObject(template)) return [field.required(path)];
  const meta = obj(template.metadata);
  const errs = validateLabels(meta.labels, child(path, 'labels'));
  errs.push(...validateAnnotations(meta.annotations, child(path, 'annotations')));
  errs.push(...validatePodSpec(template.spec, child(path, 'spec'), { resourceIsPod: false }));
  if (arr(obj(template.spec).ephemeralContainers).length > 0) {
    errs.push(field.forbidden(`${path}.spec.ephemeralContainers`, 'ephemeral containers not allowed in pod template'));
  }
  return errs;
}

// ------------------------------------------------------------------------------------------------
// Pod

function validatePodIPList(ips: unknown, single: unknown, path: string, singlePath: string, equalMsg: string | undefined): FieldError[] {
  const errs: FieldError[] = [];
  if (typeof single === 'string' && single !== '') errs.push(...isValidIP(singlePath, single));
  const list = arr(ips).map((x) => str(obj(x).ip));
  if (list.length === 0) return errs;
  if (equalMsg && single !== list[0]) errs.push(field.invalid(`${path}[0].ip`, list[0], equalMsg));
  list.forEach((ip, i) => errs.push(...isValidIP(`${path}[${i}].ip`, ip)));
  if (list.length > 1 && list.every((ip) => parseIPSloppy(ip))) {
    const families = new Set(list.map((ip) => parseIPSloppy(ip)?.family));
    if (families.size !== list.length || list.length > 2) {
      errs.push(field.invalid(path, arr(ips), 'may specify no more than one IP for each IP family'));
    }
    const seen = new Set<string>();
    list.forEach((ip, i) => {
      if (seen.has(ip)) errs.push(field.duplicate(`${path}[${i}]`, { ip }));
      seen.add(ip);
    });
  }
  return errs;
}

function validatePodStatus(status: unknown): FieldError[] {
  if (!isObject(status)) return [];
  const errs = validatePodIPList(status.podIPs, status.podIP, 'status.podIPs', 'status.podIP', undefined);
  if (arr(status.hostIPs).length > 0 || (typeof status.hostIP === 'string' && status.hostIP !== '')) {
    errs.push(...validatePodIPList(status.hostIPs, status.hostIP, 'status.hostIPs', 'status.hostIP', 'must be equal to `hostIP`'));
  }
  const phase = status.phase;
  if (phase !== undefined && !['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'].includes(str(phase))) {
    errs.push(field.notSupported('status.phase', phase, ['Failed', 'Pending', 'Running', 'Succeeded', 'Unknown']));
  }
  return errs;
}

const UPDATABLE_POD_SPEC_FIELDS = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];

/** The detail of the Forbidden error for a pod spec update that touches an immutable field. */
export const POD_UPDATE_FORBIDDEN = `pod updates may not change fields other than ${UPDATABLE_POD_SPEC_FIELDS.join(',')}`;

function validateContainerUpdates(next: unknown, prev: unknown, path: string): { errs: FieldError[]; stop: boolean } {
  const n = arr(next);
  const o = arr(prev);
  if (n.length !== o.length) return { errs: [field.forbidden(path, 'pod updates may not add or remove containers')], stop: true };
  const errs: FieldError[] = [];
  n.forEach((c, i) => {
    const image = str(obj(c).image);
    if (!image) errs.push(field.required(`${path}[${i}].image`));
    if (image.trim().length !== image.length) errs.push(field.invalid(`${path}[${i}].image`, image, 'must not have leading or trailing whitespace'));
  });
  return { errs, stop: false };
}

/** A one-line account of which top-level spec fields differ, standing in for upstream's cmp.Diff. */
function specDiff(a: Record<string, unknown>, b: Record<string, unknown>): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !jsonEqual(a[k], b[k])).sort();
  return keys.map((k) => `  core.PodSpec.${k}: ${JSON.stringify(a[k] ?? null)} -> ${JSON.stringify(b[k] ?? null)}`).join('\n');
}

function validatePodUpdate(pod: KubeObject, old: KubeObject): FieldError[] {
  const spec = obj(pod.spec);
  const prev = obj(old.spec);
  const errs: FieldError[] = [];
  let r = validateContainerUpdates(spec.containers, prev.containers, 'spec.containers');
  errs.push(...r.errs);
  if (r.stop) return errs;
  r = validateContainerUpdates(spec.initContainers, prev.initContainers, 'spec.initContainers');
  errs.push(...r.errs);
  if (r.stop) return errs;
  const ads = spec.activeDeadlineSeconds;
  if (ads !== undefined && ads !== null) {
    if (typeof ads !== 'number' || ads < 0 || ads > MAX_INT32) {
      errs.push(field.invalid('spec.activeDeadlineSeconds', ads, inclusiveRangeError(0, MAX_INT32)));
      return errs;
    }
    if (typeof prev.activeDeadlineSeconds === 'number' && prev.activeDeadlineSeconds < ads) {
      errs.push(field.invalid('spec.activeDeadlineSeconds', ads, 'must be less than or equal to previous value'));
      return errs;
    }
  } else if (prev.activeDeadlineSeconds !== undefined && prev.activeDeadlineSeconds !== null) {
    errs.push(field.invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
  }
  // Only additions to tolerations (an existing one may change its tolerationSeconds).
  const newTols = arr(spec.tolerations).map(obj);
  for (const oldTol of arr(prev.tolerations).map(obj)) {
    const found = newTols.some((t) => jsonEqual({ ...oldTol, tolerationSeconds: t.tolerationSeconds }, t));
    if (!found) {
      errs.push(field.forbidden('spec.tolerations', 'existing toleration can not be modified except its tolerationSeconds'));
      break;
    }
  }
  // Only deletions of scheduling gates.
  const oldGates = new Set(arr(prev.schedulingGates).map((g) => str(obj(g).name)));
  arr(spec.schedulingGates).forEach((g, i) => {
    const name = str(obj(g).name);
    if (!oldGates.has(name)) errs.push(field.forbidden(`spec.schedulingGates[${i}].name`, `only deletion is allowed, but found new scheduling gate '${name}'`));
  });
  if (jsonEqual(spec, prev)) return errs;
  // Munge the updatable fields to their old values, then any remaining difference is forbidden.
  const munged: Record<string, unknown> = structuredClone(spec);
  const mungeImages = (key: string) => {
    if (!Array.isArray(munged[key])) return;
    munged[key] = (munged[key] as unknown[]).map((c, i) => {
      const copy = { ...obj(c) };
      const oldImage = obj(arr(prev[key])[i]).image;
      if (oldImage === undefined) delete copy.image;
      else copy.image = oldImage;
      return copy;
    });
  };
  mungeImages('containers');
  mungeImages('initContainers');
  const restore = (key: string) => {
    if (prev[key] === undefined) delete munged[key];
    else munged[key] = prev[key];
  };
  restore('activeDeadlineSeconds');
  restore('schedulingGates');
  restore('tolerations');
  const oldGrace = prev.terminationGracePeriodSeconds;
  if (typeof oldGrace === 'number' && oldGrace < 0 && munged.terminationGracePeriodSeconds === 1) restore('terminationGracePeriodSeconds');
  // podnet's scheduler binds with an ordinary update: a first nodeName is allowed.
  if (!str(prev.nodeName) && str(munged.nodeName)) restore('nodeName');
  if (!jsonEqual(munged, prev)) {
    errs.push(field.forbidden('spec', `${POD_UPDATE_FORBIDDEN}\n${specDiff(prev, munged)}`));
  }
  return errs;
}

function validatePod(pod: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(pod, old, true, nameIsDNSSubdomain);
  errs.push(...validatePodSpec(pod.spec, 'spec', { resourceIsPod: true }));
  const spec = obj(pod.spec);
  for (const key of ['containers', 'initContainers']) {
    arr(spec[key]).forEach((c, i) => {
      const image = str(obj(c).image);
      if (image.length !== image.trim().length) {
        errs.push(field.invalid(`spec.${key}[${i}].image`, image, 'must not have leading or trailing whitespace'));
      }
    });
  }
  if (!old) {
    if (arr(spec.ephemeralContainers).length > 0) errs.push(field.forbidden('spec.ephemeralContainers', 'cannot be set on create'));
    if (str(spec.nodeName) && arr(spec.schedulingGates).length > 0) {
      errs.push(field.forbidden('spec.nodeName', 'cannot be set until all schedulingGates have been cleared'));
    }
  } else {
    errs.push(...validatePodUpdate(pod, old));
  }
  errs.push(...validatePodStatus(pod.status));
  return errs;
}

// ------------------------------------------------------------------------------------------------
// Service

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const IP_FAMILIES = ['IPv4', 'IPv6'];
const IP_FAMILY_POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];
const TRAFFIC_DISTRIBUTIONS = ['PreferClose', 'PreferSameNode', 'PreferSameZone'];
/** The longest ClientIP session affinity timeout (a day). */
export const MAX_CLIENT_IP_AFFINITY_SECONDS = 86400;

/** Whether a Service is reachable from outside the cluster (NodePort, LoadBalancer, externalIPs). */
export function externallyAccessible(spec: Record<string, unknown>): boolean {
  return (
    spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && arr(spec.externalIPs).length > 0)
  );
}

/** Whether a Service needs a health-check node port (LoadBalancer with externalTrafficPolicy Local). */
export function needsHealthCheck(spec: Record<string, unknown>): boolean {
  return spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
}

function clusterIPsOf(spec: Record<string, unknown>): string[] {
  const ips = arr(spec.clusterIPs).map(str);
  if (ips.length === 0 && str(spec.clusterIP)) return [str(spec.clusterIP)];
  return ips;
}

function isHeadless(spec: Record<string, unknown>): boolean {
  const ips = clusterIPsOf(spec);
  return ips.length === 1 && ips[0] === 'None';
}

function validateServicePort(raw: unknown, requireName: boolean, names: Set<string>, path: string): FieldError[] {
  const sp = obj(raw);
  const errs: FieldError[] = [];
  const name = str(sp.name);
  if (requireName && !name) errs.push(field.required(child(path, 'name')));
  else if (name) {
    errs.push(...invalidEach(child(path, 'name'), name, isDNS1123Label(name)));
    if (names.has(name)) errs.push(field.duplicate(child(path, 'name'), name));
    else names.add(name);
  }
  errs.push(...invalidEach(child(path, 'port'), sp.port ?? 0, isValidPortNum(sp.port as number)));
  if (!str(sp.protocol)) errs.push(field.required(child(path, 'protocol')));
  else if (!SUPPORTED_PORT_PROTOCOLS.includes(str(sp.protocol))) {
    errs.push(field.notSupported(child(path, 'protocol'), sp.protocol, SUPPORTED_PORT_PROTOCOLS));
  }
  errs.push(...validatePortNumOrName(sp.targetPort ?? 0, child(path, 'targetPort')));
  if (sp.appProtocol !== undefined && sp.appProtocol !== null) {
    errs.push(...invalidEach(child(path, 'appProtocol'), sp.appProtocol, isLabelKey(str(sp.appProtocol))));
  }
  if (sp.nodePort !== undefined && sp.nodePort !== null && sp.nodePort !== 0) {
    errs.push(...invalidEach(child(path, 'nodePort'), sp.nodePort, isValidPortNum(sp.nodePort as number)));
  }
  return errs;
}

function validateClusterIPs(spec: Record<string, unknown>): FieldError[] {
  if (spec.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const clusterIP = str(spec.clusterIP);
  const ips = arr(spec.clusterIPs).map(str);
  let invalid = false;
  if (clusterIP && clusterIP !== 'None' && !parseIPSloppy(clusterIP)) {
    errs.push(field.invalid('spec.clusterIP', clusterIP, "must be empty, 'None', or a valid IP address"));
    invalid = true;
  }
  if (clusterIP) {
    if (ips.length && ips[0] !== clusterIP) errs.push(field.invalid('spec.clusterIPs', ips, 'first value must match `clusterIP`'));
  } else if (ips.length) {
    errs.push(field.invalid('spec.clusterIPs', ips, 'must be empty when `clusterIP` is not specified'));
  }
  const seen = new Set<string>();
  arr(spec.ipFamilies).forEach((f, i) => {
    if (!IP_FAMILIES.includes(str(f))) errs.push(field.notSupported(`spec.ipFamilies[${i}]`, f, IP_FAMILIES));
    if (seen.has(str(f))) errs.push(field.duplicate(`spec.ipFamilies[${i}]`, f));
    seen.add(str(f));
  });
  if (spec.ipFamilyPolicy !== undefined && spec.ipFamilyPolicy !== null && !IP_FAMILY_POLICIES.includes(str(spec.ipFamilyPolicy))) {
    errs.push(field.notSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, IP_FAMILY_POLICIES));
  }
  ips.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (ips.length > 1) {
        invalid = true;
        errs.push(field.invalid('spec.clusterIPs', ips, "'None' must be the first and only value"));
      }
      return;
    }
    if (i === 0 && ip === clusterIP) return; // reported at spec.clusterIP
    const e = isValidIP(`spec.clusterIPs[${i}]`, ip);
    if (e.length) invalid = true;
    errs.push(...e);
  });
  if (ips.length > 2) errs.push(field.invalid('spec.clusterIPs', ips, 'may only hold up to 2 values'));
  if (invalid) return errs;
  if (ips.length > 1 && new Set(ips.map((ip) => parseIPSloppy(ip)?.family)).size !== ips.length) {
    errs.push(field.invalid('spec.clusterIPs', ips, 'may specify no more than one IP for each IP family'));
  }
  const families = arr(spec.ipFamilies).map(str);
  if (!isHeadless(spec) && families.length) {
    ips.forEach((ip, i) => {
      if (i >= families.length) return;
      const fam = parseIPSloppy(ip)?.family;
      if (families[i] === 'IPv4' && fam === 'IPv6') {
        errs.push(field.invalid(`spec.clusterIPs[${i}]`, ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      }
      if (families[i] === 'IPv6' && fam !== 'IPv6') {
        errs.push(field.invalid(`spec.clusterIPs[${i}]`, ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
      }
    });
  }
  return errs;
}

function validateServiceSpec(spec: Record<string, unknown>, annotations: Record<string, unknown>): FieldError[] {
  const errs: FieldError[] = [];
  const type = spec.type;
  const ports = arr(spec.ports);
  const headless = isHeadless(spec);
  if (ports.length === 0 && !headless && type !== 'ExternalName') errs.push(field.required('spec.ports'));
  if (type === 'LoadBalancer' && headless) {
    errs.push(field.invalid('spec.clusterIPs[0]', 'None', "may not be set to 'None' for LoadBalancer services"));
  }
  if (type === 'NodePort' && headless) errs.push(field.invalid('spec.clusterIPs[0]', 'None', "may not be set to 'None' for NodePort services"));
  if (type === 'ExternalName') {
    if (str(spec.clusterIP)) errs.push(field.forbidden('spec.clusterIP', 'must be empty for ExternalName services'));
    else if (arr(spec.clusterIPs).length) errs.push(field.forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
    if (arr(spec.ipFamilies).length) errs.push(field.forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
    if (spec.ipFamilyPolicy !== undefined && spec.ipFamilyPolicy !== null) {
      errs.push(field.forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
    }
    const cname = str(spec.externalName).replace(/\.$/, '');
    if (cname) errs.push(...invalidEach('spec.externalName', cname, isDNS1123Subdomain(cname)));
    else errs.push(field.required('spec.externalName'));
  }
  const names = new Set<string>();
  ports.forEach((p, i) => errs.push(...validateServicePort(p, ports.length > 1, names, `spec.ports[${i}]`)));
  if (spec.selector !== undefined && spec.selector !== null) errs.push(...validateLabels(spec.selector, 'spec.selector'));
  const affinity = spec.sessionAffinity;
  if (!affinity) errs.push(field.required('spec.sessionAffinity'));
  else if (affinity !== 'ClientIP' && affinity !== 'None') errs.push(field.notSupported('spec.sessionAffinity', affinity, ['ClientIP', 'None']));
  if (affinity === 'ClientIP') {
    const cfg = spec.sessionAffinityConfig;
    const when = 'when session affinity type is ClientIP';
    if (!isObject(cfg)) errs.push(field.required('spec.sessionAffinityConfig', when));
    else if (!isObject(cfg.clientIP)) errs.push(field.required('spec.sessionAffinityConfig.clientIP', when));
    else {
      const t = cfg.clientIP.timeoutSeconds;
      if (t === undefined || t === null) errs.push(field.required('spec.sessionAffinityConfig.clientIP.timeoutSeconds', when));
      else if (typeof t !== 'number' || t <= 0 || t > MAX_CLIENT_IP_AFFINITY_SECONDS) {
        errs.push(
          field.invalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', t, `must be greater than 0 and less than ${MAX_CLIENT_IP_AFFINITY_SECONDS}`),
        );
      }
    }
  } else if (affinity === 'None' && spec.sessionAffinityConfig !== undefined && spec.sessionAffinityConfig !== null) {
    errs.push(field.forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));
  }
  errs.push(...validateClusterIPs(spec));
  arr(spec.externalIPs).forEach((ip, i) => {
    const path = `spec.externalIPs[${i}]`;
    const e = isValidIP(path, ip);
    errs.push(...(e.length ? e : validateNonSpecialIP(str(ip), path)));
  });
  if (!type) errs.push(field.required('spec.type'));
  else if (!SERVICE_TYPES.includes(str(type))) errs.push(field.notSupported('spec.type', type, SERVICE_TYPES));
  if (type === 'ClusterIP') {
    ports.forEach((p, i) => {
      const np = obj(p).nodePort;
      if (np !== undefined && np !== null && np !== 0) errs.push(field.forbidden(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"));
    });
  }
  const nodePorts = new Set<string>();
  const portKeys = new Set<string>();
  ports.forEach((raw, i) => {
    const p = obj(raw);
    if (p.nodePort) {
      const key = `${str(p.protocol)}/${String(p.nodePort)}`;
      if (nodePorts.has(key)) errs.push(field.duplicate(`spec.ports[${i}].nodePort`, p.nodePort));
      nodePorts.add(key);
    }
    const key = `${str(p.protocol)}/${String(p.port)}`;
    if (portKeys.has(key)) errs.push(field.duplicate(`spec.ports[${i}]`, { protocol: p.protocol, port: p.port }));
    portKeys.add(key);
  });
  const ranges = arr(spec.loadBalancerSourceRanges);
  const rangesAnnotation = annotations['service.beta.kubernetes.io/load-balancer-source-ranges'];
  if (ranges.length > 0) {
    if (type !== 'LoadBalancer') errs.push(field.forbidden('spec.loadBalancerSourceRanges', "may only be used when `type` is 'LoadBalancer'"));
    ranges.forEach((r, i) => errs.push(...isValidCIDR(`spec.loadBalancerSourceRanges[${i}]`, str(r).trim())));
  } else if (typeof rangesAnnotation === 'string') {
    const path = 'metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]';
    if (type !== 'LoadBalancer') errs.push(field.forbidden(path, "may only be used when `type` is 'LoadBalancer'"));
    const val = rangesAnnotation.trim();
    if (val) for (const r of val.split(',')) errs.push(...isValidCIDR(path, r.trim()));
  }
  if (spec.allocateLoadBalancerNodePorts !== undefined && spec.allocateLoadBalancerNodePorts !== null && type !== 'LoadBalancer') {
    errs.push(field.forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (type === 'LoadBalancer' && (spec.allocateLoadBalancerNodePorts === undefined || spec.allocateLoadBalancerNodePorts === null)) {
    errs.push(field.required('spec.allocateLoadBalancerNodePorts'));
  }
  if (spec.loadBalancerClass !== undefined && spec.loadBalancerClass !== null) {
    if (type === 'LoadBalancer') errs.push(...invalidEach('spec.loadBalancerClass', spec.loadBalancerClass, isLabelKey(str(spec.loadBalancerClass))));
    else errs.push(field.forbidden('spec.loadBalancerClass', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (!externallyAccessible(spec)) {
    if (spec.externalTrafficPolicy) {
      errs.push(field.invalid('spec.externalTrafficPolicy', spec.externalTrafficPolicy, 'may only be set for externally-accessible services'));
    }
  } else if (!spec.externalTrafficPolicy) errs.push(field.required('spec.externalTrafficPolicy'));
  else if (spec.externalTrafficPolicy !== 'Cluster' && spec.externalTrafficPolicy !== 'Local') {
    errs.push(field.notSupported('spec.externalTrafficPolicy', spec.externalTrafficPolicy, ['Cluster', 'Local']));
  }
  const hc = spec.healthCheckNodePort;
  if (!needsHealthCheck(spec)) {
    if (hc) {
      errs.push(
        field.invalid('spec.healthCheckNodePort', hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"),
      );
    }
  } else if (!hc) errs.push(field.required('spec.healthCheckNodePort'));
  else errs.push(...invalidEach('spec.healthCheckNodePort', hc, isValidPortNum(hc as number)));
  const itp = spec.internalTrafficPolicy;
  if ((itp === undefined || itp === null) && (type === 'NodePort' || type === 'LoadBalancer' || type === 'ClusterIP')) {
    errs.push(field.required('spec.internalTrafficPolicy'));
  }
  if (itp !== undefined && itp !== null && itp !== 'Cluster' && itp !== 'Local') {
    errs.push(field.notSupported('spec.internalTrafficPolicy', itp, ['Cluster', 'Local']));
  }
  if (spec.trafficDistribution !== undefined && spec.trafficDistribution !== null && !TRAFFIC_DISTRIBUTIONS.includes(str(spec.trafficDistribution))) {
    errs.push(field.notSupported('spec.trafficDistribution', spec.trafficDistribution, TRAFFIC_DISTRIBUTIONS));
  }
  return errs;
}

function validateServiceUpdate(spec: Record<string, unknown>, prev: Record<string, unknown>): FieldError[] {
  const errs: FieldError[] = [];
  if (spec.type !== 'ExternalName' && prev.type !== 'ExternalName') {
    if (str(prev.clusterIP)) errs.push(...validateImmutableField(spec.clusterIP ?? '', prev.clusterIP, 'spec.clusterIP'));
    const newHeadless = isHeadless(spec);
    const oldHeadless = isHeadless(prev);
    if (!(newHeadless && oldHeadless)) {
      const n = clusterIPsOf(spec);
      const o = clusterIPsOf(prev);
      // The primary (index 0) mirrors spec.clusterIP and is reported there.
      if (n.length === o.length) {
        o.forEach((ip, i) => {
          if (i > 0 && ip !== n[i]) errs.push(field.invalid(`spec.clusterIPs[${i}]`, n, 'may not change once set'));
        });
      } else if (o.length > n.length && n.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
        errs.push(field.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary clusterIP"));
      }
      if (newHeadless === oldHeadless) {
        const nf = arr(spec.ipFamilies);
        const of = arr(prev.ipFamilies);
        if (nf.length && of.length && nf[0] !== of[0]) errs.push(field.invalid('spec.ipFamilies[0]', nf, 'may not change once set'));
      }
    }
  }
  if (spec.type === 'LoadBalancer' && prev.type === 'LoadBalancer' && !jsonEqual(spec.loadBalancerClass, prev.loadBalancerClass)) {
    errs.push(field.invalid('spec.loadBalancerClass', spec.loadBalancerClass ?? null, 'may not change once set'));
  }
  if (needsHealthCheck(spec) && needsHealthCheck(prev) && spec.healthCheckNodePort !== prev.healthCheckNodePort) {
    errs.push(field.forbidden('spec.healthCheckNodePort', FIELD_IMMUTABLE));
  }
  return errs;
}

function validateServiceStatus(svc: KubeObject): FieldError[] {
  const lb = obj(obj(svc.status).loadBalancer);
  const ingress = arr(lb.ingress);
  if (ingress.length === 0) return [];
  if (obj(svc.spec).type !== 'LoadBalancer') {
    return [field.forbidden('status.loadBalancer.ingress', "may only be used when `spec.type` is 'LoadBalancer'")];
  }
  const errs: FieldError[] = [];
  ingress.forEach((raw, i) => {
    const ing = obj(raw);
    const p = `status.loadBalancer.ingress[${i}]`;
    if (str(ing.ip)) errs.push(...isValidIP(child(p, 'ip'), ing.ip));
    if (ing.ipMode !== undefined && ing.ipMode !== null) {
      if (!str(ing.ip)) errs.push(field.forbidden(child(p, 'ipMode'), 'may not be specified when `ip` is not set'));
      else if (ing.ipMode !== 'VIP' && ing.ipMode !== 'Proxy') errs.push(field.notSupported(child(p, 'ipMode'), ing.ipMode, ['Proxy', 'VIP']));
    }
    if (str(ing.hostname)) {
      errs.push(...invalidEach(child(p, 'hostname'), ing.hostname, isDNS1123Subdomain(str(ing.hostname))));
      if (parseIPSloppy(str(ing.hostname))) errs.push(field.invalid(child(p, 'hostname'), ing.hostname, 'must be a DNS name, not an IP address'));
    }
  });
  return errs;
}

/**
 * Service names are DNS-1123 labels of at most 63 characters. (Kubernetes v1.32 requires a
 * DNS-1035 label, starting with a letter; the RelaxedServiceNameValidation change that later
 * releases turn on allows a leading digit. podnet follows the relaxed rule.)
 */
export const validateServiceName: NameFn = nameIsDNSLabel;

function validateService(svc: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(svc, old, true, validateServiceName);
  const spec = obj(svc.spec);
  if (old) errs.push(...validateServiceUpdate(spec, obj(old.spec)));
  errs.push(...validateServiceSpec(spec, obj(svc.metadata?.annotations)));
  errs.push(...validateServiceStatus(svc));
  return errs;
}

// ------------------------------------------------------------------------------------------------
// Node

function validateNodeTaints(taints: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const unique = new Map<string, Set<string>>();
  arr(taints).forEach((raw, i) => {
    const t = obj(raw);
    const p = `${path}[${i}]`;
    errs.push(...validateLabelName(t.key ?? '', child(p, 'key')));
    const msgs = isValidLabelValue(str(t.value));
    if (msgs.length) errs.push(field.invalid(child(p, 'value'), t.value ?? '', msgs.join(';')));
    errs.push(...validateTaintEffect(t.effect, false, child(p, 'effect')));
    const effect = str(t.effect);
    const keys = unique.get(effect) ?? new Set<string>();
    if (keys.has(str(t.key))) {
      errs.push({ type: 'Duplicate value', field: p, badValue: raw, detail: 'taints must be unique by key and effect pair' });
      return;
    }
    keys.add(str(t.key));
    unique.set(effect, keys);
  });
  return errs;
}

const NODE_ADDRESS_TYPES = ['ExternalDNS', 'ExternalIP', 'Hostname', 'InternalDNS', 'InternalIP'];

function validateNode(node: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(node, old, false, nameIsDNSSubdomain);
  const spec = obj(node.spec);
  errs.push(...validateNodeTaints(spec.taints, 'spec.taints'));
  if (str(spec.podCIDR)) errs.push(...isValidCIDR('spec.podCIDR', spec.podCIDR));
  const cidrs = arr(spec.podCIDRs);
  cidrs.forEach((c, i) => errs.push(...isValidCIDR(`spec.podCIDRs[${i}]`, c)));
  if (cidrs.length > 1 && cidrs.every((c) => parseCIDRSloppy(str(c)))) {
    const families = new Set(cidrs.map((c) => parseCIDRSloppy(str(c))!.family));
    if (families.size !== cidrs.length || cidrs.length > 2) {
      errs.push(field.invalid('spec.podCIDRs', cidrs, 'may specify no more than one CIDR for each IP family'));
    }
    const seen = new Set<string>();
    cidrs.forEach((c, i) => {
      if (seen.has(str(c))) errs.push(field.duplicate(`spec.podCIDRs[${i}]`, c));
      seen.add(str(c));
    });
  }
  const addresses = arr(obj(node.status).addresses);
  const seen = new Set<string>();
  addresses.forEach((raw, i) => {
    const a = obj(raw);
    const p = `status.addresses[${i}]`;
    if (!NODE_ADDRESS_TYPES.includes(str(a.type))) errs.push(field.notSupported(child(p, 'type'), a.type ?? '', NODE_ADDRESS_TYPES));
    if (a.type === 'InternalIP' || a.type === 'ExternalIP') errs.push(...isValidIP(child(p, 'address'), a.address ?? ''));
    const key = `${str(a.type)}/${str(a.address)}`;
    if (seen.has(key)) errs.push(field.duplicate(p, raw));
    seen.add(key);
  });
  if (old) {
    const prev = obj(old.spec);
    const message = 'node updates may not change podCIDR except from "" to valid';
    const oldCidrs = arr(prev.podCIDRs);
    if (oldCidrs.length > 0 && !jsonEqual(oldCidrs, cidrs)) errs.push(field.forbidden('spec.podCIDRs', message));
    if (str(prev.podCIDR) && prev.podCIDR !== spec.podCIDR) errs.push(field.forbidden('spec.podCIDR', message));
    if (str(prev.providerID) && prev.providerID !== spec.providerID) {
      errs.push(field.forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'));
    }
  }
  return errs;
}

// ------------------------------------------------------------------------------------------------
// Namespace, ConfigMap, Secret, Event

function validateNamespace(ns: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(ns, old, false, nameIsDNSLabel);
  arr(obj(ns.spec).finalizers).forEach((f) => {
    const name = str(f);
    errs.push(...invalidEach('spec.finalizers', name, isLabelKey(name)));
    if (!name.includes('/') && !STANDARD_FINALIZERS.has(name)) {
      errs.push(field.invalid('spec.finalizers', name, 'name is neither a standard finalizer name nor is it fully qualified'));
    }
  });
  const phase = obj(ns.status).phase;
  if (phase !== undefined && phase !== null) {
    if (ns.metadata?.deletionTimestamp) {
      if (phase !== 'Terminating') errs.push(field.invalid('status.phase', phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"));
    } else if (phase !== 'Active') {
      errs.push(field.invalid('status.phase', phase, "may only be 'Active' if `deletionTimestamp` is empty"));
    }
  }
  return errs;
}

/** Max total size of a ConfigMap's or Secret's data (1 MiB). */
export const MAX_DATA_SIZE = 1024 * 1024;

function validateDataKeys(data: unknown, path: string, errs: FieldError[]): string[] {
  if (data === undefined || data === null) return [];
  if (!isObject(data)) {
    errs.push(field.invalid(path, data, 'must be a map of string keys to string values'));
    return [];
  }
  for (const key of Object.keys(data)) errs.push(...invalidEach(`${path}[${key}]`, key, isConfigMapKey(key)));
  return Object.keys(data);
}

function validateImmutableData(o: KubeObject, old: KubeObject | undefined, keys: string[]): FieldError[] {
  if (!old || old.immutable !== true) return [];
  const errs: FieldError[] = [];
  if (o.immutable !== true) errs.push(field.forbidden('immutable', 'field is immutable when `immutable` is set'));
  for (const key of keys) {
    if (!jsonEqual(o[key], old[key])) errs.push(field.forbidden(key, 'field is immutable when `immutable` is set'));
  }
  return errs;
}

function validateConfigMap(cm: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(cm, old, true, nameIsDNSSubdomain);
  const keys = validateDataKeys(cm.data, 'data', errs);
  const binary = validateDataKeys(cm.binaryData, 'binaryData', errs);
  let size = 0;
  for (const key of binary) {
    if (keys.includes(key)) errs.push(field.invalid(`binaryData[${key}]`, key, 'duplicate of key present in data'));
  }
  for (const v of Object.values(obj(cm.data))) size += Buffer.byteLength(str(v));
  for (const v of Object.values(obj(cm.binaryData))) size += Buffer.from(str(v), 'base64').length;
  if (size > MAX_DATA_SIZE) errs.push(field.tooLong('', MAX_DATA_SIZE));
  errs.push(...validateImmutableData(cm, old, ['data', 'binaryData']));
  return errs;
}

/** Where a base64 string stops being valid standard base64 (Go's CorruptInputError offset), or -1. */
function base64ErrorAt(value: string): number {
  const bad = value.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return bad;
  const firstPad = value.indexOf('=');
  if (firstPad >= 0 && !/^=+$/.test(value.slice(firstPad))) return firstPad;
  if (value.length % 4 !== 0) return value.length - (value.length % 4);
  if (firstPad >= 0 && value.length - firstPad > 2) return firstPad;
  return -1;
}

const SECRET_REQUIRED_KEYS: Record<string, string[]> = {
  'kubernetes.io/dockercfg': ['.dockercfg'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
  'kubernetes.io/ssh-auth': ['ssh-privatekey'],
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
};

function validateSecret(secret: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(secret, old, true, nameIsDNSSubdomain);
  validateDataKeys(secret.data, 'data', errs);
  validateDataKeys(secret.stringData, 'stringData', errs);
  let size = 0;
  for (const [key, value] of Object.entries(obj(secret.data))) {
    const v = str(value);
    const at = base64ErrorAt(v);
    if (typeof value !== 'string' || at >= 0) errs.push(field.invalid(`data[${key}]`, value, `illegal base64 data at input byte ${Math.max(at, 0)}`));
    size += Buffer.from(v, 'base64').length;
  }
  if (size > MAX_DATA_SIZE) errs.push(field.tooLong('data', MAX_DATA_SIZE));
  const type = str(secret.type);
  const data = obj(secret.data);
  for (const key of SECRET_REQUIRED_KEYS[type] ?? []) {
    if (!(key in data)) errs.push(field.required(`data[${key}]`));
  }
  if (type === 'kubernetes.io/service-account-token' && !str(obj(secret.metadata?.annotations)['kubernetes.io/service-account.name'])) {
    errs.push(field.required('metadata.annotations[kubernetes.io/service-account.name]'));
  }
  if (type === 'kubernetes.io/basic-auth' && !('username' in data) && !('password' in data)) {
    errs.push(field.required('data[username]', 'either username or password is required'));
  }
  if (old) {
    errs.push(...validateImmutableField(secret.type ?? '', old.type ?? '', 'type'));
    errs.push(...validateImmutableData(secret, old, ['data']));
  }
  return errs;
}

function validateEvent(event: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const ns = str(event.metadata?.namespace);
  const involvedNs = str(obj(event.involvedObject).namespace);
  if (!event.eventTime) {
    if (!involvedNs) {
      if (ns !== '' && ns !== 'default') errs.push(field.invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    } else if (ns !== involvedNs) {
      errs.push(field.invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    }
  } else {
    if (!involvedNs && ns !== 'default' && ns !== 'kube-system') {
      errs.push(field.invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    }
    const rc = str(event.reportingComponent ?? event.reportingController);
    if (!rc) errs.push(field.required('reportingController'));
    else errs.push(...invalidEach('reportingController', rc, isLabelKey(rc)));
    if (!str(event.reportingInstance)) errs.push(field.required('reportingInstance'));
    if (str(event.reportingInstance).length > 128) errs.push(field.invalid('reportingInstance', '', 'can have at most 128 characters'));
    if (!str(event.action)) errs.push(field.required('action'));
    if (str(event.action).length > 128) errs.push(field.invalid('action', '', 'can have at most 128 characters'));
    if (!str(event.reason)) errs.push(field.required('reason'));
    if (str(event.reason).length > 128) errs.push(field.invalid('reason', '', 'can have at most 128 characters'));
    if (str(event.message).length > 1024) errs.push(field.invalid('message', '', 'can have at most 1024 characters'));
  }
  errs.push(...invalidEach('namespace', ns, isDNS1123Subdomain(ns)));
  return errs;
}

// ------------------------------------------------------------------------------------------------

/** Validates a core/v1 object of a kind podnet stores; undefined for other kinds. */
export function validateCore(o: KubeObject, old?: KubeObject): FieldError[] | undefined {
  switch (o.kind) {
    case 'Pod':
      return validatePod(o, old);
    case 'Service':
      return validateService(o, old);
    case 'Node':
      return validateNode(o, old);
    case 'Namespace':
      return validateNamespace(o, old);
    case 'ConfigMap':
      return validateConfigMap(o, old);
    case 'Secret':
      return validateSecret(o, old);
    case 'Event':
      return validateEvent(o);
    default:
      return undefined;
  }
}
