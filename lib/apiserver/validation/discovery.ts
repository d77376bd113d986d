/**
 * Validation of discovery.k8s.io/v1 EndpointSlices — k8s.io/kubernetes/pkg/apis/discovery/validation:
 * the address type (immutable), at most 1000 endpoints with 1..100 addresses of that type each,
 * at most 100 uniquely named ports with supported protocols, DNS-label hostnames, zone hints.
 */

import { field, type FieldError } from '../../core/errors.js';
import type { KubeObject } from '../../api/meta.js';
import { validateMeta } from './core.js';
import {
  SUPPORTED_PORT_PROTOCOLS,
  arr,
  child,
  invalidEach,
  isDNS1123Label,
  isFullyQualifiedDomainName,
  isLabelKey,
  isValidIPv4Address,
  isValidIPv6Address,
  isValidPortNum,
  nameIsDNSSubdomain,
  obj,
  str,
  validateImmutableField,
  validateNonSpecialIP,
} from './names.js';

/** The address types an EndpointSlice may have. */
export const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];
/** Most endpoints in one slice. */
export const MAX_ENDPOINTS = 1000;
/** Most addresses of one endpoint. */
export const MAX_ADDRESSES = 100;
/** Most ports in one slice. */
export const MAX_PORTS = 100;
const MAX_ZONE_HINTS = 8;

function validateEndpoints(endpoints: unknown, addressType: string, errs: FieldError[]): void {
  const list = arr(endpoints);
  if (list.length > MAX_ENDPOINTS) {
    errs.push(field.tooMany('endpoints', list.length, MAX_ENDPOINTS));
    return;
  }
  list.forEach((raw, i) => {
    const ep = obj(raw);
    const p = `endpoints[${i}]`;
    const addressPath = child(p, 'addresses');
    const addresses = arr(ep.addresses);
    if (addresses.length === 0) errs.push(field.required(addressPath, 'must contain at least 1 address'));
    else if (addresses.length > MAX_ADDRESSES) errs.push(field.tooMany(addressPath, addresses.length, MAX_ADDRESSES));
    addresses.forEach((address, j) => {
      const ap = `${addressPath}[${j}]`;
      switch (addressType) {
        case 'IPv4': {
          const e = isValidIPv4Address(ap, address);
          errs.push(...(e.length ? e : validateNonSpecialIP(str(address), ap)));
          break;
        }
        case 'IPv6': {
          const e = isValidIPv6Address(ap, address);
          errs.push(...(e.length ? e : validateNonSpecialIP(str(address), ap)));
          break;
        }
        case 'FQDN':
          errs.push(...isFullyQualifiedDomainName(ap, str(address)));
          break;
      }
    });
    if (ep.hostname !== undefined && ep.hostname !== null) {
      errs.push(...invalidEach(child(p, 'hostname'), ep.hostname, isDNS1123Label(str(ep.hostname))));
    }
    if (ep.nodeName !== undefined && ep.nodeName !== null) {
      errs.push(...invalidEach(child(p, 'nodeName'), ep.nodeName, nameIsDNSSubdomain(str(ep.nodeName), false)));
    }
    const conditions = ep.conditions;
    if (conditions !== undefined && conditions !== null) {
      for (const c of ['ready', 'serving', 'terminating']) {
        const v = obj(conditions)[c];
        if (v !== undefined && v !== null && typeof v !== 'boolean') errs.push(field.invalid(`${p}.conditions.${c}`, v, 'must be a boolean'));
      }
    }
    const zones = arr(obj(ep.hints).forZones);
    if (zones.length > MAX_ZONE_HINTS) errs.push(field.tooMany(`${p}.hints.forZones`, zones.length, MAX_ZONE_HINTS));
    const seenZones = new Set<string>();
    zones.forEach((z, j) => {
      const name = str(obj(z).name);
      if (seenZones.has(name)) errs.push(field.duplicate(`${p}.hints.forZones[${j}].name`, name));
      seenZones.add(name);
    });
  });
}

function validatePorts(ports: unknown, errs: FieldError[]): void {
  const list = arr(ports);
  if (list.length > MAX_PORTS) {
    errs.push(field.tooMany('ports', list.length, MAX_PORTS));
    return;
  }
  const names = new Set<string>();
  list.forEach((raw, i) => {
    const port = obj(raw);
    const p = `ports[${i}]`;
    const name = str(port.name);
    if (name) errs.push(...invalidEach(child(p, 'name'), name, isDNS1123Label(name)));
    if (names.has(name)) errs.push(field.duplicate(child(p, 'name'), name));
    else names.add(name);
    if (port.port !== undefined && port.port !== null) errs.push(...invalidEach(child(p, 'port'), port.port, isValidPortNum(port.port as number)));
    if (!port.protocol) errs.push(field.required(child(p, 'protocol')));
    else if (!SUPPORTED_PORT_PROTOCOLS.includes(str(port.protocol))) {
      errs.push(field.notSupported(child(p, 'protocol'), port.protocol, SUPPORTED_PORT_PROTOCOLS));
    }
    if (port.appProtocol !== undefined && port.appProtocol !== null) {
      errs.push(...invalidEach(child(p, 'appProtocol'), port.appProtocol, isLabelKey(str(port.appProtocol))));
    }
  });
}

function validateEndpointSlice(slice: KubeObject, old: KubeObject | undefined): FieldError[] {
  const errs = validateMeta(slice, old, true, nameIsDNSSubdomain);
  const addressType = slice.addressType;
  if (!addressType) errs.push(field.required('addressType'));
  else if (!ADDRESS_TYPES.includes(str(addressType))) errs.push(field.notSupported('addressType', addressType, ADDRESS_TYPES));
  validateEndpoints(slice.endpoints, str(addressType), errs);
  validatePorts(slice.ports, errs);
  if (old) errs.push(...validateImmutableField(slice.addressType, old.addressType, 'addressType'));
  return errs;
}

/** Validates a discovery.k8s.io/v1 object; undefined for kinds this group does not define. */
export function validateDiscovery(o: KubeObject, old?: KubeObject): FieldError[] | undefined {
  return o.kind === 'EndpointSlice' ? validateEndpointSlice(o, old) : undefined;
}
