/**
 * Validation of networking.k8s.io/v1 NetworkPolicy, Ingress and IngressClass —
 * k8s.io/kubernetes/pkg/apis/networking/validation, with upstream's wording.
 *
 * Beyond upstream: a NetworkPolicy must spell out `spec.podSelector` (an empty `{}` selects every
 * pod in the namespace), so that a policy never selects everything by omission. Ingress backend
 * Service names follow the relaxed (DNS-1123 label) rule, as Service names do.
 */

import { field, type FieldError } from '../../core/errors.js';
import { contains, parseCIDRSloppy, parseIPSloppy } from '../../core/ipnet.js';
import type { KubeObject } from '../../api/meta.js';
import { validateMeta } from './core.js';
import {
  arr,
  child,
  invalidEach,
  isDNS1123Subdomain,
  isDomainPrefixedPath,
  isObject,
  isValidCIDR,
  isValidIP,
  isValidPortName,
  isValidPortNum,
  isWildcardDNS1123Subdomain,
  nameIsDNSLabel,
  nameIsDNSSubdomain,
  obj,
  str,
  validateImmutableField,
  validateLabelSelector,
} from './names.js';

// ------------------------------------------------------------------------------------------------
// NetworkPolicy

const NETPOL_PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

function validateNetworkPolicyPort(raw: unknown, path: string): FieldError[] {
  const port = obj(raw);
  const errs: FieldError[] = [];
  if (port.protocol !== undefined && port.protocol !== null && !NETPOL_PROTOCOLS.includes(str(port.protocol))) {
    errs.push(field.notSupported(child(path, 'protocol'), port.protocol, NETPOL_PROTOCOLS));
  }
  const endPort = port.endPort;
  const hasEnd = endPort !== undefined && endPort !== null;
  if (port.port !== undefined && port.port !== null) {
    if (typeof port.port === 'number') {
      errs.push(...invalidEach(child(path, 'port'), port.port, isValidPortNum(port.port)));
      if (hasEnd) {
        if ((endPort as number) < port.port) errs.push(field.invalid(child(path, 'endPort'), endPort, 'must be greater than or equal to `port`'));
        errs.push(...invalidEach(child(path, 'endPort'), endPort, isValidPortNum(endPort as number)));
      }
    } else {
      if (hasEnd) errs.push(field.invalid(child(path, 'endPort'), endPort, 'may not be specified when `port` is non-numeric'));
      errs.push(...invalidEach(child(path, 'port'), port.port, isValidPortName(str(port.port))));
    }
  } else if (hasEnd) {
    errs.push(field.invalid(child(path, 'endPort'), endPort, 'may not be specified when `port` is not specified'));
  }
  return errs;
}

function validateIPBlock(raw: unknown, path: string): FieldError[] {
  const ipb = obj(raw);
  const cidr = str(ipb.cidr);
  if (!cidr) return [field.required(child(path, 'cidr'))];
  const errs = isValidCIDR(child(path, 'cidr'), cidr);
  const parsed = parseCIDRSloppy(cidr);
  if (!parsed) return errs;
  arr(ipb.except).forEach((raw2, i) => {
    const p = `${child(path, 'except')}[${i}]`;
    const except = str(raw2);
    const e = isValidCIDR(p, raw2);
    errs.push(...e);
    const ex = parseCIDRSloppy(except);
    if (!ex) return;
    if (!contains(parsed, { family: ex.family, value: ex.base }) || parsed.prefix >= ex.prefix) {
      errs.push(field.invalid(p, except, 'must be a strict subset of `cidr`'));
    }
  });
  return errs;
}

function validateNetworkPolicyPeer(raw: unknown, path: string): FieldError[] {
  const peer = obj(raw);
  const errs: FieldError[] = [];
  let n = 0;
  if (peer.podSelector !== undefined && peer.podSelector !== null) {
    n++;
    errs.push(...validateLabelSelector(peer.podSelector, child(path, 'podSelector')));
  }
  if (peer.namespaceSelector !== undefined && peer.namespaceSelector !== null) {
    n++;
    errs.push(...validateLabelSelector(peer.namespaceSelector, child(path, 'namespaceSelector')));
  }
  const hasIPBlock = peer.ipBlock !== undefined && peer.ipBlock !== null;
  if (hasIPBlock) {
    n++;
    errs.push(...validateIPBlock(peer.ipBlock, child(path, 'ipBlock')));
  }
  if (n === 0) errs.push(field.required(path, 'must specify a peer'));
  else if (n > 1 && hasIPBlock) errs.push(field.forbidden(path, 'may not specify both ipBlock and another peer'));
  return errs;
}

function validateNetworkPolicy(np: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(np, old, true, nameIsDNSSubdomain);
  const spec = obj(np.spec);
  if (spec.podSelector === undefined || spec.podSelector === null) errs.push(field.required('spec.podSelector'));
  else errs.push(...validateLabelSelector(spec.podSelector, 'spec.podSelector'));
  for (const [dir, peers] of [
    ['ingress', 'from'],
    ['egress', 'to'],
  ] as const) {
    arr(spec[dir]).forEach((raw, i) => {
      const rule = obj(raw);
      const p = `spec.${dir}[${i}]`;
      arr(rule.ports).forEach((port, j) => errs.push(...validateNetworkPolicyPort(port, `${p}.ports[${j}]`)));
      arr(rule[peers]).forEach((peer, j) => errs.push(...validateNetworkPolicyPeer(peer, `${p}.${peers}[${j}]`)));
    });
  }
  const types = arr(spec.policyTypes);
  if (types.length > 2) {
    errs.push(field.invalid('spec.policyTypes', types, 'may not specify more than two policyTypes'));
    return errs;
  }
  types.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') errs.push(field.notSupported(`spec.policyTypes[${i}]`, t, ['Ingress', 'Egress']));
  });
  return errs;
}

// ------------------------------------------------------------------------------------------------
// Ingress

const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];
const INVALID_PATH_SEQUENCES = ['//', '/./', '/../', '%2f', '%2F'];
const INVALID_PATH_SUFFIXES = ['/..', '/.'];

/** content.IsPathSegmentName: a name that can appear as one URL path segment. */
function isPathSegmentName(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  const errs: string[] = [];
  if (name.includes('/')) errs.push("may not contain '/'");
  if (name.includes('%')) errs.push("may not contain '%'");
  return errs;
}

function validateTypedLocalObjectReference(raw: unknown, path: string): FieldError[] {
  const ref = obj(raw);
  const errs: FieldError[] = [];
  if (ref.apiGroup !== undefined && ref.apiGroup !== null) {
    errs.push(...invalidEach(child(path, 'apiGroup'), ref.apiGroup, isDNS1123Subdomain(str(ref.apiGroup))));
  }
  for (const key of ['kind', 'name']) {
    if (!str(ref[key])) errs.push(field.required(child(path, key)));
    else errs.push(...invalidEach(child(path, key), ref[key], isPathSegmentName(str(ref[key]))));
  }
  return errs;
}

function validateIngressBackend(raw: unknown, path: string): FieldError[] {
  const backend = obj(raw);
  const hasResource = backend.resource !== undefined && backend.resource !== null;
  const hasService = backend.service !== undefined && backend.service !== null;
  if (hasResource && hasService) return [field.invalid(path, '', 'cannot set both resource and service backends')];
  if (hasResource) return validateTypedLocalObjectReference(backend.resource, child(path, 'resource'));
  if (!hasService) return [field.invalid(path, '', 'resource or service backend is required')];
  const svc = obj(backend.service);
  const errs: FieldError[] = [];
  const name = str(svc.name);
  if (!name) errs.push(field.required(`${path}.service.name`));
  else errs.push(...invalidEach(`${path}.service.name`, name, nameIsDNSLabel(name, false)));
  const port = obj(svc.port);
  const hasName = str(port.name).length > 0;
  const hasNumber = port.number !== undefined && port.number !== null && port.number !== 0;
  if (hasName && hasNumber) errs.push(field.invalid(path, '', 'cannot set both port name & port number'));
  else if (hasName) errs.push(...invalidEach(`${path}.service.port.name`, port.name, isValidPortName(str(port.name))));
  else if (hasNumber) errs.push(...invalidEach(`${path}.service.port.number`, port.number, isValidPortNum(port.number as number)));
  else errs.push(field.required(path, 'port name or number is required'));
  return errs;
}

function validateHTTPIngressPath(raw: unknown, path: string): FieldError[] {
  const p = obj(raw);
  const errs: FieldError[] = [];
  const pathType = p.pathType;
  if (pathType === undefined || pathType === null) return [field.required(child(path, 'pathType'), 'pathType must be specified')];
  const value = str(p.path);
  switch (pathType) {
    case 'Exact':
    case 'Prefix':
      if (!value.startsWith('/')) errs.push(field.invalid(child(path, 'path'), value, 'must be an absolute path'));
      for (const seq of INVALID_PATH_SEQUENCES) {
        if (value.includes(seq)) errs.push(field.invalid(child(path, 'path'), value, `must not contain '${seq}'`));
      }
      for (const suffix of INVALID_PATH_SUFFIXES) {
        if (value.endsWith(suffix)) errs.push(field.invalid(child(path, 'path'), value, `cannot end with '${suffix}'`));
      }
      break;
    case 'ImplementationSpecific':
      if (value.length > 0 && !value.startsWith('/')) errs.push(field.invalid(child(path, 'path'), value, 'must be an absolute path'));
      break;
    default:
      errs.push(field.notSupported(child(path, 'pathType'), pathType, PATH_TYPES));
  }
  errs.push(...validateIngressBackend(p.backend, child(path, 'backend')));
  return errs;
}

function validateIngressHost(host: string, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (parseIPSloppy(host)) errs.push(field.invalid(path, host, 'must be a DNS name, not an IP address'));
  if (host.includes('*')) errs.push(...invalidEach(path, host, isWildcardDNS1123Subdomain(host)));
  else errs.push(...invalidEach(path, host, isDNS1123Subdomain(host)));
  return errs;
}

function validateIngressStatus(ing: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  arr(obj(obj(ing.status).loadBalancer).ingress).forEach((raw, i) => {
    const s = obj(raw);
    const p = `status.loadBalancer.ingress[${i}]`;
    if (str(s.ip)) errs.push(...isValidIP(child(p, 'ip'), s.ip));
    if (str(s.hostname)) {
      errs.push(...invalidEach(child(p, 'hostname'), s.hostname, isDNS1123Subdomain(str(s.hostname))));
      if (parseIPSloppy(str(s.hostname))) errs.push(field.invalid(child(p, 'hostname'), s.hostname, 'must be a DNS name, not an IP address'));
    }
  });
  return errs;
}

function validateIngress(ing: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(ing, old, true, nameIsDNSSubdomain);
  const spec = obj(ing.spec);
  const rules = arr(spec.rules);
  const hasDefault = spec.defaultBackend !== undefined && spec.defaultBackend !== null;
  if (rules.length === 0 && !hasDefault) errs.push(field.invalid('spec', spec.rules ?? null, 'either `defaultBackend` or `rules` must be specified'));
  if (hasDefault) errs.push(...validateIngressBackend(spec.defaultBackend, 'spec.defaultBackend'));
  rules.forEach((raw, i) => {
    const rule = obj(raw);
    const p = `spec.rules[${i}]`;
    if (str(rule.host)) errs.push(...validateIngressHost(str(rule.host), child(p, 'host')));
    if (isObject(rule.http)) {
      const paths = arr(rule.http.paths);
      if (paths.length === 0) errs.push(field.required(`${p}.http.paths`));
      paths.forEach((hp, j) => errs.push(...validateHTTPIngressPath(hp, `${p}.http.paths[${j}]`)));
    }
  });
  arr(spec.tls).forEach((raw, i) => {
    const tls = obj(raw);
    const p = `spec.tls[${i}]`;
    arr(tls.hosts).forEach((h, j) => {
      const host = str(h);
      const hp = `${p}.hosts[${j}]`;
      errs.push(...invalidEach(hp, host, host.includes('*') ? isWildcardDNS1123Subdomain(host) : isDNS1123Subdomain(host)));
    });
    if (str(tls.secretName)) errs.push(...invalidEach(child(p, 'secretName'), tls.secretName, nameIsDNSSubdomain(str(tls.secretName), false)));
  });
  if (spec.ingressClassName !== undefined && spec.ingressClassName !== null) {
    errs.push(...invalidEach('spec.ingressClassName', spec.ingressClassName, nameIsDNSSubdomain(str(spec.ingressClassName), false)));
  }
  const annotation = ing.metadata?.annotations?.['kubernetes.io/ingress.class'];
  if (!old && annotation !== undefined && spec.ingressClassName !== undefined && spec.ingressClassName !== null && annotation !== spec.ingressClassName) {
    errs.push(field.invalid('metadata.annotations[kubernetes.io/ingress.class]', annotation, 'must match `ingressClassName` when both are specified'));
  }
  errs.push(...validateIngressStatus(ing));
  return errs;
}

// ------------------------------------------------------------------------------------------------
// IngressClass

/** Max length of an IngressClass controller name. */
export const MAX_INGRESS_CLASS_CONTROLLER_LENGTH = 250;

function validateIngressClass(ic: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(ic, old, false, nameIsDNSSubdomain);
  const spec = obj(ic.spec);
  const controller = str(spec.controller);
  if (!controller) errs.push(field.required('spec.controller'));
  else {
    if (controller.length > MAX_INGRESS_CLASS_CONTROLLER_LENGTH) errs.push(field.tooLong('spec.controller', MAX_INGRESS_CLASS_CONTROLLER_LENGTH));
    errs.push(...isDomainPrefixedPath('spec.controller', controller));
  }
  if (isObject(spec.parameters)) {
    const params = spec.parameters;
    const p = 'spec.parameters';
    errs.push(...validateTypedLocalObjectReference(params, p));
    const scope = params.scope;
    if (scope === undefined || scope === null) errs.push(field.required(child(p, 'scope')));
    else if (scope !== 'Namespace' && scope !== 'Cluster') errs.push(field.notSupported(child(p, 'scope'), scope, ['Cluster', 'Namespace']));
    else if (scope === 'Namespace') {
      if (params.namespace === undefined || params.namespace === null) {
        errs.push(field.required(child(p, 'namespace'), "`parameters.scope` is set to 'Namespace'"));
      } else errs.push(...invalidEach(child(p, 'namespace'), params.namespace, nameIsDNSLabel(str(params.namespace), false)));
    } else if (params.namespace !== undefined && params.namespace !== null) {
      errs.push(field.forbidden(child(p, 'namespace'), "`parameters.scope` is set to 'Cluster'"));
    }
  }
  if (old) errs.push(...validateImmutableField(spec.controller, obj(old.spec).controller, 'spec.controller'));
  return errs;
}

/** Validates a networking.k8s.io/v1 object; undefined for kinds this group does not define. */
export function validateNetworking(o: KubeObject, old?: KubeObject): FieldError[] | undefined {
  switch (o.kind) {
    case 'NetworkPolicy':
      return validateNetworkPolicy(o, old);
    case 'Ingress':
      return validateIngress(o, old);
    case 'IngressClass':
      return validateIngressClass(o, old);
    default:
      return undefined;
  }
}
