/**
 * Validation of the Gateway API (gateway.networking.k8s.io): GatewayClass, Gateway, HTTPRoute and
 * ReferenceGrant. Upstream these are CRDs validated by their OpenAPI schema (patterns, enums,
 * bounds, list sizes) and CEL rules (sigs.k8s.io/gateway-api apis/v1 `+kubebuilder` markers), so
 * the messages are the apiextensions apiserver's: `spec.listeners[0].port in body should be less
 * than or equal to 65535`, `Unsupported value`, `Too many`, and CEL rule messages reported
 * against the object, list or string they are declared on (`Invalid value: "object": ...`).
 *
 * Beyond the CRDs: an HTTPS or TLS listener must carry `tls` (the project's former webhook rule),
 * and a listener protocol outside HTTP/HTTPS/TLS/TCP/UDP must be domain-prefixed
 * (`example.com/PROTO`) — the API reserves bare names for the standard protocols.
 */

import { field, type FieldError } from '../../core/errors.js';
import { parseIPSloppy } from '../../core/ipnet.js';
import type { KubeObject } from '../../api/meta.js';
import {
  arr,
  child,
  isObject,
  jsonEqual,
  obj,
  str,
  validateLabelSelector,
  validateMetadata,
} from './names.js';

// ------------------------------------------------------------------------------------------------
// OpenAPI schema checks, worded as k8s.io/kube-openapi's validator words them

const compiled = new Map<string, RegExp>();

function pattern(path: string, value: unknown, re: string): FieldError[] {
  if (typeof value !== 'string') return [field.invalid(path, value, `${path} in body must be of type string`)];
  let regexp = compiled.get(re);
  if (!regexp) compiled.set(re, (regexp = new RegExp(re)));
  return regexp.test(value) ? [] : [field.invalid(path, value, `${path} in body should match '${re}'`)];
}

function maxLength(path: string, value: unknown, max: number): FieldError[] {
  return typeof value === 'string' && value.length > max ? [field.tooLong(path, max)] : [];
}

function minLength(path: string, value: unknown, min: number): FieldError[] {
  return typeof value === 'string' && value.length < min ? [field.invalid(path, value, `${path} in body should be at least ${min} chars long`)] : [];
}

function intRange(path: string, value: unknown, min: number, max: number): FieldError[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'number' || !Number.isInteger(value)) return [field.invalid(path, value, `${path} in body must be of type integer`)];
  if (value < min) return [field.invalid(path, value, `${path} in body should be greater than or equal to ${min}`)];
  if (value > max) return [field.invalid(path, value, `${path} in body should be less than or equal to ${max}`)];
  return [];
}

function listBounds(path: string, list: unknown[], min: number, max: number): FieldError[] {
  if (list.length > max) return [field.tooMany(path, list.length, max)];
  if (list.length < min) return [field.invalid(path, list.length, `${path} in body should have at least ${min} items`)];
  return [];
}

function enumValue(path: string, value: unknown, allowed: string[]): FieldError[] {
  return allowed.includes(value as string) ? [] : [field.notSupported(path, value, allowed)];
}

/** A CEL rule's failure, reported against the value it is declared on ("object", "array", "string"). */
function cel(path: string, type: 'object' | 'array' | 'string', message: string): FieldError {
  return field.invalid(path, type, message);
}

// The Gateway API's string types (apis/v1/shared_types.go).
const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
/** Hostname: an RFC 1123 name, optionally with a leading `*.` wildcard label; no IPs. */
export const HOSTNAME_PATTERN = `^(\\*\\.)?${DNS_LABEL}(\\.${DNS_LABEL})*$`;
/** PreciseHostname: a hostname without wildcard. */
export const PRECISE_HOSTNAME_PATTERN = `^${DNS_LABEL}(\\.${DNS_LABEL})*$`;
const GROUP_PATTERN = `^$|^${DNS_LABEL}(\\.${DNS_LABEL})*$`;
const KIND_PATTERN = '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$';
const NAMESPACE_PATTERN = `^${DNS_LABEL}$`;
const SECTION_NAME_PATTERN = `^${DNS_LABEL}(\\.${DNS_LABEL})*$`;
const HEADER_NAME_PATTERN = "^[A-Za-z0-9!#$%&'*+\\-.^_\\x60|~]+$";
const PROTOCOL_PATTERN = `^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|${DNS_LABEL}(\\.${DNS_LABEL})*\\/[A-Za-z0-9]+$`;
const CONTROLLER_PATTERN = `^${DNS_LABEL}(\\.${DNS_LABEL})*\\/[A-Za-z0-9\\/\\-._~%!$&'()*+,;=:]+$`;
const PATH_CHARS_PATTERN = "^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$";
const pathCharsRe = new RegExp(PATH_CHARS_PATTERN);

/** The standard listener protocols; anything else must be domain-prefixed. */
export const CORE_PROTOCOLS = ['HTTP', 'HTTPS', 'TLS', 'TCP', 'UDP'];
/** HTTP methods an HTTPRoute may match. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];
/** HTTPRoute filter types. */
export const HTTP_ROUTE_FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'RequestRedirect', 'URLRewrite', 'ExtensionRef'];

function hostname(path: string, value: unknown): FieldError[] {
  return [...minLength(path, value, 1), ...maxLength(path, value, 253), ...pattern(path, value, HOSTNAME_PATTERN)];
}

function preciseHostname(path: string, value: unknown): FieldError[] {
  return [...minLength(path, value, 1), ...maxLength(path, value, 253), ...pattern(path, value, PRECISE_HOSTNAME_PATTERN)];
}

function objectName(path: string, value: unknown): FieldError[] {
  if (value === undefined || value === null || value === '') return [field.required(path)];
  return [...maxLength(path, value, 253)];
}

function optional(path: string, value: unknown, check: (p: string, v: unknown) => FieldError[]): FieldError[] {
  return value === undefined || value === null ? [] : check(path, value);
}

function group(path: string, value: unknown): FieldError[] {
  return [...maxLength(path, value, 253), ...pattern(path, value, GROUP_PATTERN)];
}

function kind(path: string, value: unknown): FieldError[] {
  return [...minLength(path, value, 1), ...maxLength(path, value, 63), ...pattern(path, value, KIND_PATTERN)];
}

function namespace(path: string, value: unknown): FieldError[] {
  return [...minLength(path, value, 1), ...maxLength(path, value, 63), ...pattern(path, value, NAMESPACE_PATTERN)];
}

function sectionName(path: string, value: unknown): FieldError[] {
  return [...minLength(path, value, 1), ...maxLength(path, value, 253), ...pattern(path, value, SECTION_NAME_PATTERN)];
}

function headerName(path: string, value: unknown): FieldError[] {
  if (value === undefined || value === null || value === '') return [field.required(path)];
  return [...maxLength(path, value, 256), ...pattern(path, value, HEADER_NAME_PATTERN)];
}

function requiredString(path: string, value: unknown, max: number): FieldError[] {
  if (value === undefined || value === null) return [field.required(path)];
  return [...minLength(path, value, 1), ...maxLength(path, value, max)];
}

// ------------------------------------------------------------------------------------------------
// Shared references

function validateParentRefs(spec: Record<string, unknown>): FieldError[] {
  const refs = arr(spec.parentRefs);
  const errs = listBounds('spec.parentRefs', refs, 0, 32);
  refs.forEach((raw, i) => {
    const r = obj(raw);
    const p = `spec.parentRefs[${i}]`;
    errs.push(...optional(child(p, 'group'), r.group, group));
    errs.push(...optional(child(p, 'kind'), r.kind, kind));
    errs.push(...optional(child(p, 'namespace'), r.namespace, namespace));
    errs.push(...objectName(child(p, 'name'), r.name));
    errs.push(...optional(child(p, 'sectionName'), r.sectionName, sectionName));
    errs.push(...intRange(child(p, 'port'), r.port, 1, 65535));
  });
  // Two references to the same parent must each say which listener (sectionName or port).
  const byParent = new Map<string, Record<string, unknown>[]>();
  for (const raw of refs) {
    const r = obj(raw);
    const key = [str(r.group), str(r.kind), str(r.namespace), str(r.name)].join('/');
    byParent.set(key, [...(byParent.get(key) ?? []), r]);
  }
  for (const same of byParent.values()) {
    if (same.length < 2) continue;
    if (same.some((r) => !r.sectionName && !r.port)) {
      errs.push(cel('spec.parentRefs', 'array', 'sectionName or port must be specified when parentRefs includes 2 or more references to the same parent'));
      break;
    }
    const keys = same.map((r) => `${str(r.sectionName)}:${String(r.port ?? '')}`);
    if (new Set(keys).size !== keys.length) {
      errs.push(cel('spec.parentRefs', 'array', 'sectionName or port must be unique when parentRefs includes 2 or more references to the same parent'));
      break;
    }
  }
  return errs;
}

/** A BackendObjectReference: name required, a Service reference must have a port. */
function validateBackendObjectRef(raw: unknown, path: string): FieldError[] {
  const r = obj(raw);
  const errs = [
    ...optional(child(path, 'group'), r.group, group),
    ...optional(child(path, 'kind'), r.kind, kind),
    ...objectName(child(path, 'name'), r.name),
    ...optional(child(path, 'namespace'), r.namespace, namespace),
    ...intRange(child(path, 'port'), r.port, 1, 65535),
  ];
  const isService = str(r.group) === '' && (r.kind === undefined || r.kind === 'Service');
  if (isService && (r.port === undefined || r.port === null)) errs.push(cel(path, 'object', 'Must have port for Service reference'));
  return errs;
}

function validateLocalObjectRef(raw: unknown, path: string): FieldError[] {
  const r = obj(raw);
  const errs: FieldError[] = [];
  if (r.group === undefined || r.group === null) errs.push(field.required(child(path, 'group')));
  else errs.push(...group(child(path, 'group'), r.group));
  if (r.kind === undefined || r.kind === null || r.kind === '') errs.push(field.required(child(path, 'kind')));
  else errs.push(...kind(child(path, 'kind'), r.kind));
  errs.push(...objectName(child(path, 'name'), r.name));
  return errs;
}

// ------------------------------------------------------------------------------------------------
// GatewayClass

function validateGatewayClass(gc: KubeObject, old: KubeObject | undefined): FieldError[] {
  const spec = obj(gc.spec);
  const errs: FieldError[] = [];
  const controller = spec.controllerName;
  if (controller === undefined || controller === null || controller === '') errs.push(field.required('spec.controllerName'));
  else errs.push(...maxLength('spec.controllerName', controller, 253), ...pattern('spec.controllerName', controller, CONTROLLER_PATTERN));
  if (old && !jsonEqual(controller, obj(old.spec).controllerName)) errs.push(cel('spec.controllerName', 'string', 'Value is immutable'));
  if (isObject(spec.parametersRef)) {
    const r = spec.parametersRef;
    const p = 'spec.parametersRef';
    if (r.group === undefined || r.group === null) errs.push(field.required(child(p, 'group')));
    else errs.push(...group(child(p, 'group'), r.group));
    if (!r.kind) errs.push(field.required(child(p, 'kind')));
    else errs.push(...kind(child(p, 'kind'), r.kind));
    if (!r.name) errs.push(field.required(child(p, 'name')));
    errs.push(...optional(child(p, 'namespace'), r.namespace, namespace));
  }
  return errs;
}

// ------------------------------------------------------------------------------------------------
// Gateway

function validateListener(raw: unknown, path: string): FieldError[] {
  const l = obj(raw);
  const errs: FieldError[] = [];
  if (l.name === undefined || l.name === null || l.name === '') errs.push(field.required(child(path, 'name')));
  else errs.push(...sectionName(child(path, 'name'), l.name));
  errs.push(...optional(child(path, 'hostname'), l.hostname, hostname));
  if (l.port === undefined || l.port === null) errs.push(field.required(child(path, 'port')));
  else errs.push(...intRange(child(path, 'port'), l.port, 1, 65535));
  const protocol = l.protocol;
  if (protocol === undefined || protocol === null || protocol === '') errs.push(field.required(child(path, 'protocol')));
  else {
    const e = [...maxLength(child(path, 'protocol'), protocol, 255), ...pattern(child(path, 'protocol'), protocol, PROTOCOL_PATTERN)];
    errs.push(...e);
    if (e.length === 0 && !str(protocol).includes('/') && !CORE_PROTOCOLS.includes(str(protocol))) {
      errs.push(field.notSupported(child(path, 'protocol'), protocol, CORE_PROTOCOLS));
    }
  }
  if ((protocol === 'HTTPS' || protocol === 'TLS') && !isObject(l.tls)) {
    errs.push(field.forbidden(child(path, 'tls'), `must be set for protocol ${str(protocol)}`));
  }
  if (isObject(l.tls)) {
    const tls = l.tls;
    const tp = child(path, 'tls');
    if (tls.mode !== undefined) errs.push(...enumValue(child(tp, 'mode'), tls.mode, ['Terminate', 'Passthrough']));
    const refs = arr(tls.certificateRefs);
    errs.push(...listBounds(child(tp, 'certificateRefs'), refs, 0, 64));
    refs.forEach((r, i) => {
      const ref = obj(r);
      const rp = `${child(tp, 'certificateRefs')}[${i}]`;
      errs.push(...optional(child(rp, 'group'), ref.group, group), ...optional(child(rp, 'kind'), ref.kind, kind));
      errs.push(...objectName(child(rp, 'name'), ref.name), ...optional(child(rp, 'namespace'), ref.namespace, namespace));
    });
    if ((tls.mode ?? 'Terminate') === 'Terminate' && refs.length === 0 && !isObject(tls.options)) {
      errs.push(cel(tp, 'object', 'certificateRefs or options must be specified when mode is Terminate'));
    }
  }
  if (isObject(l.allowedRoutes)) {
    const ap = child(path, 'allowedRoutes');
    const ns = obj(l.allowedRoutes.namespaces);
    if (ns.from !== undefined) errs.push(...enumValue(`${ap}.namespaces.from`, ns.from, ['All', 'Selector', 'Same']));
    if (ns.selector !== undefined) errs.push(...validateLabelSelector(ns.selector, `${ap}.namespaces.selector`));
    const kinds = arr(l.allowedRoutes.kinds);
    errs.push(...listBounds(child(ap, 'kinds'), kinds, 0, 8));
    kinds.forEach((k, i) => {
      const rk = obj(k);
      const kp = `${child(ap, 'kinds')}[${i}]`;
      errs.push(...optional(child(kp, 'group'), rk.group, group));
      if (!rk.kind) errs.push(field.required(child(kp, 'kind')));
      else errs.push(...kind(child(kp, 'kind'), rk.kind));
    });
  }
  return errs;
}

function validateGateway(gw: KubeObject): FieldError[] {
  const spec = obj(gw.spec);
  const errs: FieldError[] = [];
  errs.push(...objectName('spec.gatewayClassName', spec.gatewayClassName));
  if (spec.listeners === undefined || spec.listeners === null) {
    errs.push(field.required('spec.listeners'));
    return errs;
  }
  const listeners = arr(spec.listeners);
  errs.push(...listBounds('spec.listeners', listeners, 1, 64));
  listeners.forEach((l, i) => errs.push(...validateListener(l, `spec.listeners[${i}]`)));
  const ls = listeners.map(obj);
  if (ls.some((l) => ['HTTP', 'TCP', 'UDP'].includes(str(l.protocol)) && l.tls !== undefined && l.tls !== null)) {
    errs.push(cel('spec.listeners', 'array', "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"));
  }
  if (ls.some((l) => ['TCP', 'UDP'].includes(str(l.protocol)) && l.hostname !== undefined && l.hostname !== null && l.hostname !== '')) {
    errs.push(cel('spec.listeners', 'array', "hostname must not be specified for protocols ['TCP', 'UDP']"));
  }
  const names = ls.map((l) => str(l.name));
  if (new Set(names).size !== names.length) errs.push(cel('spec.listeners', 'array', 'Listener name must be unique within the Gateway'));
  const combos = ls.map((l) => `${String(l.port)}/${str(l.protocol)}/${str(l.hostname)}`);
  if (new Set(combos).size !== combos.length) {
    errs.push(cel('spec.listeners', 'array', 'Combination of port, protocol and hostname must be unique for each listener'));
  }
  const addresses = arr(spec.addresses);
  errs.push(...listBounds('spec.addresses', addresses, 0, 16));
  addresses.forEach((a, i) => {
    const addr = obj(a);
    const p = `spec.addresses[${i}]`;
    if (!addr.value) errs.push(field.required(child(p, 'value')));
    if ((addr.type ?? 'IPAddress') === 'IPAddress' && addr.value) {
      if (!parseIPSloppy(str(addr.value))) errs.push(cel(p, 'object', 'value must be an IP address'));
    }
    if (addr.type === 'Hostname' && addr.value) errs.push(...pattern(child(p, 'value'), addr.value, PRECISE_HOSTNAME_PATTERN));
  });
  return errs;
}

// ------------------------------------------------------------------------------------------------
// HTTPRoute

function validateHeaderFilter(raw: unknown, path: string): FieldError[] {
  const f = obj(raw);
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  for (const action of ['set', 'add']) {
    const list = arr(f[action]);
    errs.push(...listBounds(child(path, action), list, 0, 16));
    list.forEach((h, i) => {
      const header = obj(h);
      const hp = `${child(path, action)}[${i}]`;
      errs.push(...headerName(child(hp, 'name'), header.name), ...requiredString(child(hp, 'value'), header.value, 4096));
      const key = str(header.name).toLowerCase();
      if (seen.has(`${action}/${key}`)) errs.push(field.duplicate(hp, { name: header.name }));
      seen.add(`${action}/${key}`);
    });
  }
  const remove = arr(f.remove);
  errs.push(...listBounds(child(path, 'remove'), remove, 0, 16));
  remove.forEach((r, i) => {
    if (remove.indexOf(r) !== i) errs.push(field.duplicate(`${child(path, 'remove')}[${i}]`, r));
  });
  return errs;
}

function validatePathModifier(raw: unknown, path: string): FieldError[] {
  const m = obj(raw);
  const errs = enumValue(child(path, 'type'), m.type, ['ReplaceFullPath', 'ReplacePrefixMatch']);
  errs.push(...maxLength(child(path, 'replaceFullPath'), m.replaceFullPath, 1024), ...maxLength(child(path, 'replacePrefixMatch'), m.replacePrefixMatch, 1024));
  for (const type of ['ReplaceFullPath', 'ReplacePrefixMatch']) {
    const key = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
    const has = m[key] !== undefined && m[key] !== null;
    if (m.type === type && !has) errs.push(cel(path, 'object', `${key} must be specified when type is set to '${type}'`));
    if (has && m.type !== type) errs.push(cel(path, 'object', `type must be '${type}' when ${key} is set`));
  }
  return errs;
}

const FILTER_FIELDS: Record<string, string> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestMirror: 'requestMirror',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  ExtensionRef: 'extensionRef',
};

function validateFilters(filters: unknown, path: string): FieldError[] {
  const list = arr(filters);
  const errs = listBounds(path, list, 0, 16);
  list.forEach((raw, i) => {
    const f = obj(raw);
    const p = `${path}[${i}]`;
    if (f.type === undefined || f.type === null || f.type === '') errs.push(field.required(child(p, 'type')));
    else errs.push(...enumValue(child(p, 'type'), f.type, HTTP_ROUTE_FILTER_TYPES));
    for (const [type, key] of Object.entries(FILTER_FIELDS)) {
      const has = f[key] !== undefined && f[key] !== null;
      if (has && f.type !== type) errs.push(cel(p, 'object', `filter.${key} must be nil if the filter.type is not ${type}`));
      if (!has && f.type === type) errs.push(cel(p, 'object', `filter.${key} must be specified for ${type} filter.type`));
    }
    if (isObject(f.requestHeaderModifier)) errs.push(...validateHeaderFilter(f.requestHeaderModifier, child(p, 'requestHeaderModifier')));
    if (isObject(f.responseHeaderModifier)) errs.push(...validateHeaderFilter(f.responseHeaderModifier, child(p, 'responseHeaderModifier')));
    if (isObject(f.requestRedirect)) {
      const r = f.requestRedirect;
      const rp = child(p, 'requestRedirect');
      if (r.scheme !== undefined && r.scheme !== null) errs.push(...enumValue(child(rp, 'scheme'), r.scheme, ['http', 'https']));
      errs.push(...optional(child(rp, 'hostname'), r.hostname, preciseHostname));
      if (isObject(r.path)) errs.push(...validatePathModifier(r.path, child(rp, 'path')));
      errs.push(...intRange(child(rp, 'port'), r.port, 1, 65535));
      if (r.statusCode !== undefined && r.statusCode !== null && r.statusCode !== 301 && r.statusCode !== 302) {
        errs.push(field.notSupported(child(rp, 'statusCode'), r.statusCode, ['301', '302']));
      }
    }
    if (isObject(f.urlRewrite)) {
      const u = f.urlRewrite;
      const up = child(p, 'urlRewrite');
      errs.push(...optional(child(up, 'hostname'), u.hostname, preciseHostname));
      if (isObject(u.path)) errs.push(...validatePathModifier(u.path, child(up, 'path')));
    }
    if (isObject(f.requestMirror)) {
      const m = f.requestMirror;
      const mp = child(p, 'requestMirror');
      if (!isObject(m.backendRef)) errs.push(field.required(child(mp, 'backendRef')));
      else errs.push(...validateBackendObjectRef(m.backendRef, child(mp, 'backendRef')));
      errs.push(...intRange(child(mp, 'percent'), m.percent, 0, 100));
      if (m.percent !== undefined && m.fraction !== undefined) {
        errs.push(cel(mp, 'object', 'Only one of percent or fraction may be specified in HTTPRequestMirrorFilter'));
      }
    }
    if (isObject(f.extensionRef)) errs.push(...validateLocalObjectRef(f.extensionRef, child(p, 'extensionRef')));
  });
  const count = (t: string) => list.filter((f) => obj(f).type === t).length;
  if (count('RequestRedirect') > 0 && count('URLRewrite') > 0) {
    errs.push(cel(path, 'array', 'May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both'));
  }
  for (const t of ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite']) {
    if (count(t) > 1) errs.push(cel(path, 'array', `${t} filter cannot be repeated`));
  }
  return errs;
}

function validatePathMatch(raw: unknown, path: string): FieldError[] {
  const m = obj(raw);
  const errs = maxLength(child(path, 'value'), m.value, 1024);
  const type = str(m.type);
  const value = str(m.value);
  if (!['Exact', 'PathPrefix', 'RegularExpression'].includes(type)) {
    errs.push(...enumValue(child(path, 'type'), m.type, ['Exact', 'PathPrefix', 'RegularExpression']));
    errs.push(cel(path, 'object', "type must be one of ['Exact', 'PathPrefix', 'RegularExpression']"));
    return errs;
  }
  if (type === 'RegularExpression') return errs;
  const when = "when type one of ['Exact', 'PathPrefix']";
  if (!value.startsWith('/')) errs.push(cel(path, 'object', `value must be an absolute path and start with '/' ${when}`));
  for (const seq of ['//', '/./', '/../', '%2f', '%2F', '#']) {
    if (value.includes(seq)) errs.push(cel(path, 'object', `must not contain '${seq}' ${when}`));
  }
  for (const suffix of ['/..', '/.']) {
    if (value.endsWith(suffix)) errs.push(cel(path, 'object', `must not end with '${suffix}' ${when}`));
  }
  if (!pathCharsRe.test(value)) {
    errs.push(cel(path, 'object', `must only contain valid characters (matching ${PATH_CHARS_PATTERN}) for types ['Exact', 'PathPrefix']`));
  }
  return errs;
}

function validateNamedMatches(list: unknown[], path: string, maxValue: number, caseInsensitive: boolean): FieldError[] {
  const errs = listBounds(path, list, 0, 16);
  const seen = new Set<string>();
  list.forEach((raw, i) => {
    const h = obj(raw);
    const p = `${path}[${i}]`;
    errs.push(...headerName(child(p, 'name'), h.name), ...requiredString(child(p, 'value'), h.value, maxValue));
    if (h.type !== undefined) errs.push(...enumValue(child(p, 'type'), h.type, ['Exact', 'RegularExpression']));
    const key = caseInsensitive ? str(h.name).toLowerCase() : str(h.name);
    if (seen.has(key)) errs.push(field.duplicate(p, { name: h.name }));
    seen.add(key);
  });
  return errs;
}

function hasOnePrefixMatch(rule: Record<string, unknown>): boolean {
  const matches = arr(rule.matches);
  return matches.length === 1 && obj(obj(matches[0]).path).type === 'PathPrefix';
}

function usesReplacePrefixMatch(filters: unknown, key: 'requestRedirect' | 'urlRewrite'): boolean {
  return arr(filters).some((f) => {
    const path = obj(obj(obj(f)[key]).path);
    return path.type === 'ReplacePrefixMatch' && path.replacePrefixMatch !== undefined;
  });
}

function validateHTTPRoute(route: KubeObject): FieldError[] {
  const spec = obj(route.spec);
  const errs = validateParentRefs(spec);
  const hostnames = arr(spec.hostnames);
  errs.push(...listBounds('spec.hostnames', hostnames, 0, 16));
  hostnames.forEach((h, i) => errs.push(...hostname(`spec.hostnames[${i}]`, h)));
  const rules = arr(spec.rules);
  errs.push(...listBounds('spec.rules', rules, 0, 16));
  let totalMatches = 0;
  rules.forEach((raw, i) => {
    const rule = obj(raw);
    const p = `spec.rules[${i}]`;
    const matches = arr(rule.matches);
    totalMatches += matches.length;
    errs.push(...listBounds(child(p, 'matches'), matches, 0, 64));
    matches.forEach((mraw, j) => {
      const m = obj(mraw);
      const mp = `${p}.matches[${j}]`;
      if (isObject(m.path)) errs.push(...validatePathMatch(m.path, child(mp, 'path')));
      errs.push(...validateNamedMatches(arr(m.headers), child(mp, 'headers'), 4096, true));
      errs.push(...validateNamedMatches(arr(m.queryParams), child(mp, 'queryParams'), 1024, false));
      if (m.method !== undefined && m.method !== null) errs.push(...enumValue(child(mp, 'method'), m.method, HTTP_METHODS));
    });
    errs.push(...validateFilters(rule.filters, child(p, 'filters')));
    const backendRefs = arr(rule.backendRefs);
    errs.push(...listBounds(child(p, 'backendRefs'), backendRefs, 0, 16));
    backendRefs.forEach((b, j) => {
      const bp = `${p}.backendRefs[${j}]`;
      errs.push(...validateBackendObjectRef(b, bp));
      errs.push(...intRange(child(bp, 'weight'), obj(b).weight, 0, 1000000));
      errs.push(...validateFilters(obj(b).filters, child(bp, 'filters')));
    });
    const hasRedirect = arr(rule.filters).some((f) => obj(f).requestRedirect !== undefined && obj(f).requestRedirect !== null);
    if (backendRefs.length > 0 && hasRedirect) errs.push(cel(p, 'object', 'RequestRedirect filter must not be used together with backendRefs'));
    if (usesReplacePrefixMatch(rule.filters, 'requestRedirect') && !hasOnePrefixMatch(rule)) {
      errs.push(cel(p, 'object', 'When using RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified'));
    }
    if (usesReplacePrefixMatch(rule.filters, 'urlRewrite') && !hasOnePrefixMatch(rule)) {
      errs.push(cel(p, 'object', 'When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified'));
    }
  });
  if (totalMatches > 128) {
    errs.push(
      cel('spec.rules', 'array', 'While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128'),
    );
  }
  return errs;
}

// ------------------------------------------------------------------------------------------------
// ReferenceGrant

function validateReferenceGrant(rg: KubeObject): FieldError[] {
  const spec = obj(rg.spec);
  const errs: FieldError[] = [];
  for (const side of ['from', 'to'] as const) {
    const path = `spec.${side}`;
    if (spec[side] === undefined || spec[side] === null) {
      errs.push(field.required(path));
      continue;
    }
    const list = arr(spec[side]);
    errs.push(...listBounds(path, list, 1, 16));
    list.forEach((raw, i) => {
      const r = obj(raw);
      const p = `${path}[${i}]`;
      if (r.group === undefined || r.group === null) errs.push(field.required(child(p, 'group')));
      else errs.push(...group(child(p, 'group'), r.group));
      if (!r.kind) errs.push(field.required(child(p, 'kind')));
      else errs.push(...kind(child(p, 'kind'), r.kind));
      if (side === 'from') {
        if (!r.namespace) errs.push(field.required(child(p, 'namespace')));
        else errs.push(...namespace(child(p, 'namespace'), r.namespace));
      } else {
        errs.push(...optional(child(p, 'name'), r.name, (pp, v) => [...minLength(pp, v, 1), ...maxLength(pp, v, 253)]));
      }
    });
  }
  return errs;
}

// ------------------------------------------------------------------------------------------------

/** Validates a gateway.networking.k8s.io object; undefined for kinds this group does not define. */
export function validateGatewayAPI(o: KubeObject, old?: KubeObject, namespaced = true): FieldError[] | undefined {
  let body: FieldError[];
  switch (o.kind) {
    case 'GatewayClass':
      body = validateGatewayClass(o, old);
      break;
    case 'Gateway':
      body = validateGateway(o);
      break;
    case 'HTTPRoute':
      body = validateHTTPRoute(o);
      break;
    case 'ReferenceGrant':
      body = validateReferenceGrant(o);
      break;
    default:
      return undefined;
  }
  // CRDs get the generic metadata rules (names are DNS subdomains).
  return [...validateMetadata(o, old, namespaced), ...body];
}
