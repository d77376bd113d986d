/**
 * Validation of the Calico resources podnet's calico-like plugin reads (projectcalico.org/v3):
 * NetworkPolicy, GlobalNetworkPolicy and IPPool, after Calico's documented field rules
 * (docs.tigera.io, "NetworkPolicy", "GlobalNetworkPolicy", "IP pool" resource references).
 *
 * Calico's own validator words its errors differently; podnet reports them in kubectl's field
 * notation like every other kind. Selectors are checked for shape only (non-blank, balanced
 * parentheses and quotes); the selector language itself is parsed by the plugin.
 */

import { field, type FieldError } from '../../core/errors.js';
import { parseCIDRSloppy } from '../../core/ipnet.js';
import type { KubeObject } from '../../api/meta.js';
import {
  arr,
  child,
  invalidEach,
  isObject,
  isValidCIDR,
  isValidPortName,
  obj,
  str,
  validateMetadata,
} from './names.js';

/** Rule actions. */
export const CALICO_ACTIONS = ['Allow', 'Deny', 'Log', 'Pass'];
/** Named protocols a rule may match. */
export const CALICO_PROTOCOLS = ['TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'UDPLite'];
const PORT_PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'UDPLite', 6, 17, 132, 136];
/** IPIP and VXLAN encapsulation modes of an IPPool. */
export const ENCAP_MODES = ['Always', 'CrossSubnet', 'Never'];

/** Whether a Calico selector expression is well-formed enough to hand to the plugin. */
export function selectorShapeErrors(selector: string): string[] {
  if (selector.trim() === '') return ['must be a non-empty selector expression (use all() to select everything)'];
  let depth = 0;
  let quote: string | undefined;
  for (const ch of selector) {
    if (quote) {
      if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')' && --depth < 0) return ['unbalanced parentheses in selector'];
  }
  if (quote) return ['unterminated string in selector'];
  if (depth !== 0) return ['unbalanced parentheses in selector'];
  return [];
}

function validateSelector(value: unknown, path: string): FieldError[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'string') return [field.invalid(path, value, 'must be a string')];
  return invalidEach(path, value, selectorShapeErrors(value));
}

function validateCalicoPort(port: unknown, path: string): FieldError[] {
  if (typeof port === 'number') {
    return Number.isInteger(port) && port >= 0 && port <= 65535 ? [] : [field.invalid(path, port, 'must be between 0 and 65535, inclusive')];
  }
  if (typeof port !== 'string') return [field.invalid(path, port, 'must be a port number, a range "min:max" or a port name')];
  const range = /^([0-9]+):([0-9]+)$/.exec(port);
  if (range) {
    const lo = Number(range[1]);
    const hi = Number(range[2]);
    if (lo > 65535 || hi > 65535) return [field.invalid(path, port, 'port range bounds must be between 0 and 65535, inclusive')];
    if (lo > hi) return [field.invalid(path, port, 'port range minimum must not be greater than its maximum')];
    return [];
  }
  if (/^[0-9]+$/.test(port)) return validateCalicoPort(Number(port), path);
  return invalidEach(path, port, isValidPortName(port));
}

function validateEntityRule(raw: unknown, path: string, portsAllowed: boolean): FieldError[] {
  if (raw === undefined || raw === null) return [];
  const e = obj(raw);
  const errs = [...validateSelector(e.selector, child(path, 'selector')), ...validateSelector(e.namespaceSelector, child(path, 'namespaceSelector'))];
  for (const key of ['nets', 'notNets']) arr(e[key]).forEach((n, i) => errs.push(...isValidCIDR(`${child(path, key)}[${i}]`, n)));
  for (const key of ['ports', 'notPorts']) {
    const ports = arr(e[key]);
    if (ports.length > 0 && !portsAllowed) errs.push(field.forbidden(child(path, key), 'may only be used with protocol TCP, UDP, SCTP or UDPLite'));
    ports.forEach((p, i) => errs.push(...validateCalicoPort(p, `${child(path, key)}[${i}]`)));
  }
  return errs;
}

function validateProtocol(value: unknown, path: string): FieldError[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 1 && value <= 255 ? [] : [field.invalid(path, value, 'must be between 1 and 255, inclusive')];
  }
  return CALICO_PROTOCOLS.includes(str(value)) ? [] : [field.notSupported(path, value, CALICO_PROTOCOLS)];
}

function validateRule(raw: unknown, path: string): FieldError[] {
  const r = obj(raw);
  const errs: FieldError[] = [];
  if (!r.action) errs.push(field.required(child(path, 'action')));
  else if (!CALICO_ACTIONS.includes(str(r.action))) errs.push(field.notSupported(child(path, 'action'), r.action, CALICO_ACTIONS));
  errs.push(...validateProtocol(r.protocol, child(path, 'protocol')), ...validateProtocol(r.notProtocol, child(path, 'notProtocol')));
  if (r.ipVersion !== undefined && r.ipVersion !== 4 && r.ipVersion !== 6) errs.push(field.notSupported(child(path, 'ipVersion'), r.ipVersion, ['4', '6']));
  const portsAllowed = PORT_PROTOCOLS.includes(r.protocol as string);
  errs.push(...validateEntityRule(r.source, child(path, 'source'), portsAllowed));
  errs.push(...validateEntityRule(r.destination, child(path, 'destination'), portsAllowed));
  for (const key of ['icmp', 'notICMP']) {
    if (!isObject(r[key])) continue;
    const icmp = r[key] as Record<string, unknown>;
    if (r.protocol !== 'ICMP' && r.protocol !== 'ICMPv6') errs.push(field.forbidden(child(path, key), 'may only be used with protocol ICMP or ICMPv6'));
    if (icmp.type !== undefined && (typeof icmp.type !== 'number' || icmp.type < 0 || icmp.type > 254)) {
      errs.push(field.invalid(`${child(path, key)}.type`, icmp.type, 'must be between 0 and 254, inclusive'));
    }
    if (icmp.code !== undefined) {
      if (icmp.type === undefined) errs.push(field.forbidden(`${child(path, key)}.code`, 'may only be specified with type'));
      if (typeof icmp.code !== 'number' || icmp.code < 0 || icmp.code > 255) {
        errs.push(field.invalid(`${child(path, key)}.code`, icmp.code, 'must be between 0 and 255, inclusive'));
      }
    }
  }
  return errs;
}

function validatePolicy(p: KubeObject): FieldError[] {
  const spec = obj(p.spec);
  const errs: FieldError[] = [];
  if (spec.order !== undefined && spec.order !== null && (typeof spec.order !== 'number' || !Number.isFinite(spec.order))) {
    errs.push(field.invalid('spec.order', spec.order, 'must be a number'));
  }
  errs.push(...validateSelector(spec.selector, 'spec.selector'));
  if (p.kind === 'GlobalNetworkPolicy') errs.push(...validateSelector(spec.namespaceSelector, 'spec.namespaceSelector'));
  const types = arr(spec.types);
  if (types.length > 2) errs.push(field.tooMany('spec.types', types.length, 2));
  types.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') errs.push(field.notSupported(`spec.types[${i}]`, t, ['Ingress', 'Egress']));
    else if (types.indexOf(t) !== i) errs.push(field.duplicate(`spec.types[${i}]`, t));
  });
  arr(spec.ingress).forEach((r, i) => errs.push(...validateRule(r, `spec.ingress[${i}]`)));
  arr(spec.egress).forEach((r, i) => errs.push(...validateRule(r, `spec.egress[${i}]`)));
  return errs;
}

function validateIPPool(pool: KubeObject): FieldError[] {
  const spec = obj(pool.spec);
  const errs: FieldError[] = [];
  const cidr = parseCIDRSloppy(str(spec.cidr));
  if (!str(spec.cidr)) errs.push(field.required('spec.cidr'));
  else errs.push(...isValidCIDR('spec.cidr', spec.cidr));
  const v6 = cidr?.family === 'IPv6';
  const blockSize = spec.blockSize;
  if (blockSize !== undefined && blockSize !== null) {
    const [lo, hi] = v6 ? [116, 128] : [20, 32];
    if (typeof blockSize !== 'number' || !Number.isInteger(blockSize) || blockSize < lo || blockSize > hi) {
      errs.push(field.invalid('spec.blockSize', blockSize, `must be between ${lo} and ${hi}, inclusive, for an IPv${v6 ? 6 : 4} pool`));
    } else if (cidr && blockSize < cidr.prefix) {
      errs.push(field.invalid('spec.blockSize', blockSize, `must not be smaller than the pool's prefix length (${cidr.prefix})`));
    }
  }
  for (const key of ['ipipMode', 'vxlanMode']) {
    if (spec[key] !== undefined && spec[key] !== null && !ENCAP_MODES.includes(str(spec[key]))) {
      errs.push(field.notSupported(`spec.${key}`, spec[key], ENCAP_MODES));
    }
  }
  const encap = (k: string) => spec[k] === 'Always' || spec[k] === 'CrossSubnet';
  if (encap('ipipMode') && encap('vxlanMode')) errs.push(field.invalid('spec.vxlanMode', spec.vxlanMode, 'may not be enabled together with ipipMode'));
  if (v6 && encap('ipipMode')) errs.push(field.invalid('spec.ipipMode', spec.ipipMode, 'IPIP is not supported for an IPv6 pool'));
  for (const key of ['natOutgoing', 'disabled']) {
    if (spec[key] !== undefined && spec[key] !== null && typeof spec[key] !== 'boolean') {
      errs.push(field.invalid(`spec.${key}`, spec[key], 'must be a boolean'));
    }
  }
  errs.push(...validateSelector(spec.nodeSelector, 'spec.nodeSelector'));
  return errs;
}

/** Validates a projectcalico.org/v3 object; undefined for kinds this group does not define. */
export function validateCalico(o: KubeObject, old?: KubeObject): FieldError[] | undefined {
  let body: FieldError[];
  let namespaced = false;
  switch (o.kind) {
    case 'NetworkPolicy':
      namespaced = true;
      body = validatePolicy(o);
      break;
    case 'GlobalNetworkPolicy':
      body = validatePolicy(o);
      break;
    case 'IPPool':
      body = validateIPPool(o);
      break;
    default:
      return undefined;
  }
  const meta = validateMetadata(o, old, namespaced);
  if (o.kind === 'IPPool' && old) {
    const spec = obj(o.spec);
    const prev = obj(old.spec);
    if (str(prev.cidr) && spec.cidr !== prev.cidr) body.push(field.invalid('spec.cidr', spec.cidr, 'field is immutable'));
    if (prev.blockSize !== undefined && spec.blockSize !== prev.blockSize) body.push(field.invalid('spec.blockSize', spec.blockSize, 'field is immutable'));
  }
  return [...meta, ...body];
}
