/**
 * The shared building blocks of API validation: name, label, port, IP and CIDR checks and the
 * ObjectMeta rules, with Kubernetes' exact wording.
 *
 * Follows k8s.io/apimachinery/pkg/util/validation (validation.go, ip.go),
 * k8s.io/apimachinery/pkg/api/validation (objectmeta.go, generic.go) and
 * k8s.io/apimachinery/pkg/apis/meta/v1/validation (labels, label selectors). The name and label
 * syntax itself lives in lib/apimachinery/validation.ts and address parsing in lib/core/ipnet.ts.
 *
 * The `is*` functions return the list of problems as strings, like their Go counterparts, so a
 * caller can wrap each in a {@link FieldError} at its own path. Everything that takes a path
 * returns field errors directly. Objects are untrusted JSON, so every accessor tolerates a value
 * of the wrong shape.
 */

import { field, type FieldError } from '../../core/errors.js';
import { ipBytes, parseCIDRSloppy, parseIPSloppy } from '../../core/ipnet.js';
import type { KubeObject, ObjectMeta } from '../../api/meta.js';
import {
  DNS1123_SUBDOMAIN_MAX_LENGTH,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isLabelKey,
  isValidLabelValue,
  isWildcardDNS1123Subdomain,
  maxLenError,
  regexError,
} from '../../apimachinery/validation.js';

// ------------------------------------------------------------------------------------------------
// Messages, DNS names, label keys and values: lib/apimachinery/validation.ts, shared with label
// selectors, and re-exported for the validators here.

export { isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isLabelKey, isValidLabelValue, isWildcardDNS1123Subdomain, regexError };

/** `must be between LO and HI, inclusive`. */
export function inclusiveRangeError(lo: number, hi: number): string {
  return `must be between ${lo} and ${hi}, inclusive`;
}

/** `field is immutable` (FieldImmutableErrorMsg). */
export const FIELD_IMMUTABLE = 'field is immutable';
/** `must be greater than or equal to 0` (IsNegativeErrorMsg). */
export const IS_NEGATIVE = 'must be greater than or equal to 0';

// ------------------------------------------------------------------------------------------------
// DNS names

/** IsFullyQualifiedDomainName: a DNS subdomain with at least two labels; a trailing dot is allowed. */
export function isFullyQualifiedDomainName(path: string, name: string): FieldError[] {
  if (name.length === 0) return [field.required(path)];
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  const errs = isDNS1123Subdomain(trimmed);
  if (errs.length) return [field.invalid(path, trimmed, errs.join(','))];
  const labels = trimmed.split('.');
  if (labels.length < 2) return [field.invalid(path, trimmed, 'should be a domain with at least two segments separated by dots')];
  for (const label of labels) {
    const le = isDNS1123Label(label);
    if (le.length) return [field.invalid(path, label, le.join(','))];
  }
  return [];
}

const HTTP_PATH_FMT = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+";
const httpPathRe = new RegExp(`^${HTTP_PATH_FMT}$`);

/** IsDomainPrefixedPath: `acme.io/foo` — a DNS subdomain, a slash, then HTTP path characters. */
export function isDomainPrefixedPath(path: string, value: string): FieldError[] {
  if (value.length === 0) return [field.required(path)];
  const slash = value.indexOf('/');
  const host = slash < 0 ? value : value.slice(0, slash);
  const rest = slash < 0 ? '' : value.slice(slash + 1);
  if (slash < 0 || host.length === 0 || rest.length === 0) {
    return [field.invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')];
  }
  const errs = isDNS1123Subdomain(host).map((m) => field.invalid(path, host, m));
  if (!httpPathRe.test(rest)) errs.push(field.invalid(path, rest, regexError('Invalid path', HTTP_PATH_FMT)));
  return errs;
}

// ------------------------------------------------------------------------------------------------
// Keys

const CONFIG_MAP_KEY_FMT = '[-._a-zA-Z0-9]+';
const CONFIG_MAP_KEY_ERR = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const configMapKeyRe = new RegExp(`^${CONFIG_MAP_KEY_FMT}$`);

/** IsConfigMapKey: a key of a ConfigMap or Secret. */
export function isConfigMapKey(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX_LENGTH) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX_LENGTH));
  if (!configMapKeyRe.test(value)) errs.push(regexError(CONFIG_MAP_KEY_ERR, CONFIG_MAP_KEY_FMT, 'key.name', 'KEY_NAME', 'key-name'));
  if (value === '.') errs.push("must not be '.'");
  else if (value === '..') errs.push("must not be '..'");
  else if (value.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

const HTTP_HEADER_NAME_FMT = '[-A-Za-z0-9]+';
const httpHeaderNameRe = new RegExp(`^${HTTP_HEADER_NAME_FMT}$`);

/** IsHTTPHeaderName: Go's net/http notion of a header name. */
export function isHTTPHeaderName(value: string): string[] {
  if (httpHeaderNameRe.test(value)) return [];
  return [regexError("a valid HTTP header must consist of alphanumeric characters or '-'", HTTP_HEADER_NAME_FMT, 'X-Header-Name')];
}

const PERCENT_FMT = '[0-9]+%';
const percentRe = new RegExp(`^${PERCENT_FMT}$`);

/** IsValidPercent: `25%`. */
export function isValidPercent(value: string): string[] {
  if (percentRe.test(value)) return [];
  return [regexError("a valid percent string must be a numeric string followed by an ending '%'", PERCENT_FMT, '1%', '93%')];
}

// ------------------------------------------------------------------------------------------------
// Ports

/** IsValidPortNum: 1..65535. */
export function isValidPortNum(port: number): string[] {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? [] : [inclusiveRangeError(1, 65535)];
}

/** IsInRange: lo..hi inclusive. */
export function isInRange(value: number, lo: number, hi: number): string[] {
  return value >= lo && value <= hi ? [] : [inclusiveRangeError(lo, hi)];
}

/**
 * IsValidPortName: an IANA_SVC_NAME (RFC 6335) — at most 15 of `[-a-z0-9]`, at least one letter,
 * no leading, trailing or doubled hyphen.
 */
export function isValidPortName(port: string): string[] {
  const errs: string[] = [];
  if (port.length > 15) errs.push(maxLenError(15));
  if (!/^[-a-z0-9]+$/.test(port)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(port)) errs.push('must contain at least one letter (a-z)');
  if (port.includes('--')) errs.push('must not contain consecutive hyphens');
  if (port.length > 0 && (port.startsWith('-') || port.endsWith('-'))) errs.push('must not begin or end with a hyphen');
  return errs;
}

/** ValidatePortNumOrName: an int-or-string port, a number 1..65535 or an IANA service name. */
export function validatePortNumOrName(port: unknown, path: string): FieldError[] {
  if (typeof port === 'number') return isValidPortNum(port).map((m) => field.invalid(path, port, m));
  if (typeof port === 'string') return isValidPortName(port).map((m) => field.invalid(path, port, m));
  return [{ type: 'Internal error', field: path, detail: `unknown type: ${typeof port}` }];
}

/** The protocols Kubernetes ports speak. */
export const SUPPORTED_PORT_PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

// ------------------------------------------------------------------------------------------------
// IP addresses and CIDRs, read as k8s.io/utils/net's ParseIPSloppy and ParseCIDRSloppy read them
// (lib/core/ipnet.ts)

const IP_MESSAGE = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';
const CIDR_MESSAGE = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';

/** IsValidIP. */
export function isValidIP(path: string, value: unknown): FieldError[] {
  return typeof value === 'string' && parseIPSloppy(value) ? [] : [field.invalid(path, value, IP_MESSAGE)];
}

/** IsValidIPv4Address. */
export function isValidIPv4Address(path: string, value: unknown): FieldError[] {
  const ip = typeof value === 'string' ? parseIPSloppy(value) : undefined;
  return ip?.family === 'IPv4' ? [] : [field.invalid(path, value, 'must be a valid IPv4 address')];
}

/** IsValidIPv6Address. */
export function isValidIPv6Address(path: string, value: unknown): FieldError[] {
  const ip = typeof value === 'string' ? parseIPSloppy(value) : undefined;
  return ip?.family === 'IPv6' ? [] : [field.invalid(path, value, 'must be a valid IPv6 address')];
}

/** IsValidCIDR. */
export function isValidCIDR(path: string, value: unknown): FieldError[] {
  return typeof value === 'string' && parseCIDRSloppy(value) ? [] : [field.invalid(path, value, CIDR_MESSAGE)];
}

/**
 * ValidateNonSpecialIP: used for endpoints and external IPs, which may not be unspecified,
 * loopback or link-local.
 */
export function validateNonSpecialIP(value: string, path: string): FieldError[] {
  const ip = parseIPSloppy(value);
  if (!ip) return [field.invalid(path, value, 'must be a valid IP address')];
  const v4 = ip.family === 'IPv4';
  const b = ipBytes(ip);
  const errs: FieldError[] = [];
  if (ip.value === 0n) errs.push(field.invalid(path, value, `may not be unspecified (${value})`));
  const loopback = v4 ? b[0] === 127 : ip.value === 1n;
  if (loopback) errs.push(field.invalid(path, value, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
  const linkLocal = v4 ? b[0] === 169 && b[1] === 254 : b[0] === 0xfe && (b[1]! & 0xc0) === 0x80;
  if (linkLocal) errs.push(field.invalid(path, value, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'));
  const llMulticast = v4 ? b[0] === 224 && b[1] === 0 && b[2] === 0 : b[0] === 0xff && (b[1]! & 0x0f) === 0x02;
  if (llMulticast) {
    errs.push(field.invalid(path, value, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'));
  }
  return errs;
}

// ------------------------------------------------------------------------------------------------
// Object names (k8s.io/apimachinery/pkg/api/validation/generic.go)

/**
 * Validates a name for one kind. `prefix` is true for `generateName`, where a trailing dash is
 * allowed because random characters follow.
 */
export type NameFn = (name: string, prefix: boolean) => string[];

function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? `${name.slice(0, -1)}a` : name;
}

/** NameIsDNSSubdomain: most kinds. */
export const nameIsDNSSubdomain: NameFn = (name, prefix) => isDNS1123Subdomain(prefix ? maskTrailingDash(name) : name);
/** NameIsDNSLabel: Namespaces, StatefulSets, Services. */
export const nameIsDNSLabel: NameFn = (name, prefix) => isDNS1123Label(prefix ? maskTrailingDash(name) : name);
/** NameIsDNS1035Label. */
export const nameIsDNS1035Label: NameFn = (name, prefix) => isDNS1035Label(prefix ? maskTrailingDash(name) : name);

// ------------------------------------------------------------------------------------------------
// Generic field helpers

/** `a.b` in kubectl's path notation (`b` alone when `a` is the root). */
export function child(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/** A plain JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `v` as an array, or [] for anything else. */
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** `v` as an object, or {} for anything else. */
export function obj(v: unknown): Record<string, unknown> {
  return isObject(v) ? v : {};
}

/** `v` as a string, or '' for anything else. */
export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Deep equality of JSON-shaped values (apimachinery's Semantic.DeepEqual, without quantities). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

/** ValidateImmutableField: `field is immutable` when the value changed. */
export function validateImmutableField(newVal: unknown, oldVal: unknown, path: string): FieldError[] {
  return jsonEqual(newVal, oldVal) ? [] : [field.invalid(path, newVal, FIELD_IMMUTABLE)];
}

/** ValidateNonnegativeField. */
export function validateNonnegativeField(value: unknown, path: string): FieldError[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'number' || !Number.isInteger(value)) return [field.invalid(path, value, 'must be an integer')];
  return value < 0 ? [field.invalid(path, value, IS_NEGATIVE)] : [];
}

/** An optional integer field; reports a non-integer. Returns the errors and the number (if any). */
export function intField(value: unknown, path: string): { errs: FieldError[]; n: number | undefined } {
  if (value === undefined || value === null) return { errs: [], n: undefined };
  if (typeof value !== 'number' || !Number.isInteger(value)) return { errs: [field.invalid(path, value, 'must be an integer')], n: undefined };
  return { errs: [], n: value };
}

/** A `Required value` error when the string is empty or missing. */
export function requireString(value: unknown, path: string): FieldError[] {
  return typeof value === 'string' && value.length > 0 ? [] : [field.required(path)];
}

/** Each problem string as an `Invalid value` error at `path`. */
export function invalidEach(path: string, value: unknown, msgs: string[]): FieldError[] {
  return msgs.map((m) => field.invalid(path, value, m));
}

// ------------------------------------------------------------------------------------------------
// Labels, annotations and label selectors (k8s.io/apimachinery/pkg/apis/meta/v1/validation)

/** ValidateLabelName: a label key is a qualified name (worded as IsLabelKey words it). */
export function validateLabelName(name: unknown, path: string): FieldError[] {
  return invalidEach(path, name, isLabelKey(str(name)));
}

/** ValidateLabels: every key a qualified name, every value a label value (reported at `path`). */
export function validateLabels(labels: unknown, path: string): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (!isObject(labels)) return [field.invalid(path, labels, 'must be a map of string keys to string values')];
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels)) {
    errs.push(...validateLabelName(k, path));
    if (typeof v !== 'string') errs.push(field.invalid(path, v, 'must be a string'));
    else errs.push(...invalidEach(path, v, isValidLabelValue(v)));
  }
  return errs;
}

/** Total size limit of an object's annotations (256 KiB). */
export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

/** ValidateAnnotations: keys are qualified names (case-insensitive); total size at most 256 KiB. */
export function validateAnnotations(annotations: unknown, path: string): FieldError[] {
  if (annotations === undefined || annotations === null) return [];
  if (!isObject(annotations)) return [field.invalid(path, annotations, 'must be a map of string keys to string values')];
  const errs: FieldError[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) {
    errs.push(...invalidEach(path, k, isLabelKey(k.toLowerCase())));
    if (typeof v !== 'string') errs.push(field.invalid(`${path}[${k}]`, v, 'must be a string'));
    size += Buffer.byteLength(k) + Buffer.byteLength(typeof v === 'string' ? v : '');
  }
  if (size > TOTAL_ANNOTATION_SIZE_LIMIT) {
    errs.push(field.tooLong(path, TOTAL_ANNOTATION_SIZE_LIMIT));
  }
  return errs;
}

/**
 * ValidateLabelSelectorRequirement: values given for In and NotIn, none for Exists and
 * DoesNotExist; the key a label name, each value a label value. With `gtLt` (core's
 * validateNodeSelectorRequirement, the same rules plus two operators) Gt and Lt take one value.
 */
export function validateLabelSelectorRequirement(req: unknown, path: string, { gtLt = false } = {}): FieldError[] {
  const r = obj(req);
  const errs: FieldError[] = [];
  const n = arr(r.values).length;
  const op = r.operator;
  if (op === 'In' || op === 'NotIn') {
    if (n === 0) errs.push(field.required(child(path, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"));
  } else if (op === 'Exists' || op === 'DoesNotExist') {
    if (n > 0) errs.push(field.forbidden(child(path, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
  } else if (gtLt && (op === 'Gt' || op === 'Lt')) {
    if (n !== 1) errs.push(field.required(child(path, 'values'), "must be specified single value when `operator` is 'Lt' or 'Gt'"));
  } else {
    errs.push(field.invalid(child(path, 'operator'), op ?? '', 'not a valid selector operator'));
  }
  errs.push(...validateLabelName(r.key ?? '', child(path, 'key')));
  arr(r.values).forEach((v, i) => {
    errs.push(...invalidEach(`${child(path, 'values')}[${i}]`, v, isValidLabelValue(str(v))));
  });
  return errs;
}

/** ValidateLabelSelector: matchLabels are labels, matchExpressions are requirements. */
export function validateLabelSelector(selector: unknown, path: string): FieldError[] {
  if (selector === undefined || selector === null) return [];
  if (!isObject(selector)) return [field.invalid(path, selector, 'must be a label selector')];
  const errs = validateLabels(selector.matchLabels, child(path, 'matchLabels'));
  arr(selector.matchExpressions).forEach((e, i) => {
    errs.push(...validateLabelSelectorRequirement(e, `${child(path, 'matchExpressions')}[${i}]`));
  });
  return errs;
}

// ------------------------------------------------------------------------------------------------
// ObjectMeta (k8s.io/apimachinery/pkg/api/validation/objectmeta.go)

const BANNED_OWNERS = new Set(['v1/Event']);

/** ValidateOwnerReferences. */
export function validateOwnerReferences(refs: unknown, path: string): FieldError[] {
  if (refs === undefined || refs === null) return [];
  if (!Array.isArray(refs)) return [field.invalid(path, refs, 'must be a list of owner references')];
  const errs: FieldError[] = [];
  let firstController = '';
  for (const raw of refs) {
    const ref = obj(raw);
    const apiVersion = str(ref.apiVersion);
    const version = apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;
    if (!version) errs.push(field.invalid(child(path, 'apiVersion'), ref.apiVersion ?? '', 'version must not be empty'));
    if (!str(ref.kind)) errs.push(field.invalid(child(path, 'kind'), ref.kind ?? '', 'must not be empty'));
    if (!str(ref.name)) errs.push(field.invalid(child(path, 'name'), ref.name ?? '', 'must not be empty'));
    if (!str(ref.uid)) errs.push(field.invalid(child(path, 'uid'), ref.uid ?? '', 'must not be empty'));
    if (BANNED_OWNERS.has(`${apiVersion}/${str(ref.kind)}`)) {
      errs.push(field.invalid(path, raw, `/${apiVersion}, Kind=${str(ref.kind)} is disallowed from being an owner`));
    }
    if (ref.controller === true) {
      const name = `${str(ref.kind)}/${str(ref.name)}`;
      if (firstController) {
        errs.push(
          field.invalid(
            path,
            refs,
            `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${name}`,
          ),
        );
      } else {
        firstController = name;
      }
    }
  }
  return errs;
}

/** ValidateFinalizers: each a qualified name; orphan and foregroundDeletion are exclusive. */
export function validateFinalizers(finalizers: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const list = arr(finalizers);
  for (const f of list) errs.push(...invalidEach(path, f, isLabelKey(str(f))));
  if (list.includes('orphan') && list.includes('foregroundDeletion')) {
    errs.push(field.invalid(path, list, 'finalizer orphan and foregroundDeletion cannot be both set'));
  }
  return errs;
}

/**
 * ValidateObjectMeta: name (by `nameFn`), generateName, namespace presence and format, labels,
 * annotations, owner references and finalizers.
 */
export function validateObjectMeta(meta: ObjectMeta | undefined, namespaced: boolean, nameFn: NameFn, path = 'metadata'): FieldError[] {
  const m = obj(meta) as ObjectMeta & Record<string, unknown>;
  const errs: FieldError[] = [];
  if (typeof m.generateName === 'string' && m.generateName.length) {
    errs.push(...invalidEach(child(path, 'generateName'), m.generateName, nameFn(m.generateName, true)));
  }
  if (!str(m.name)) errs.push(field.required(child(path, 'name'), 'name or generateName is required'));
  else errs.push(...invalidEach(child(path, 'name'), m.name, nameFn(m.name!, false)));
  if (namespaced) {
    if (!str(m.namespace)) errs.push(field.required(child(path, 'namespace')));
    else errs.push(...invalidEach(child(path, 'namespace'), m.namespace, nameIsDNSLabel(m.namespace!, false)));
  } else if (str(m.namespace)) {
    errs.push(field.forbidden(child(path, 'namespace'), 'not allowed on this type'));
  }
  errs.push(...validateNonnegativeField(m.generation, child(path, 'generation')));
  errs.push(...validateLabels(m.labels, child(path, 'labels')));
  errs.push(...validateAnnotations(m.annotations, child(path, 'annotations')));
  errs.push(...validateOwnerReferences(m.ownerReferences, child(path, 'ownerReferences')));
  errs.push(...validateFinalizers(m.finalizers, child(path, 'finalizers')));
  return errs;
}

/**
 * The metadata rules for a write: ValidateObjectMetaUpdate against the stored object, when there
 * is one, then ValidateObjectMeta. All a custom resource's metadata gets; built-in kinds add
 * core's finalizer rule (core.ts `validateMeta`).
 */
export function validateMetadata(o: KubeObject, old: KubeObject | undefined, namespaced: boolean, nameFn: NameFn = nameIsDNSSubdomain): FieldError[] {
  const errs = old ? validateObjectMetaUpdate(o.metadata, old.metadata) : [];
  errs.push(...validateObjectMeta(o.metadata, namespaced, nameFn));
  return errs;
}

/**
 * ValidateObjectMetaUpdate: identity fields are immutable; no finalizer may be added once the
 * object is being deleted. (The store itself carries uid, creationTimestamp and deletion fields
 * over, and accepts an update without a resourceVersion as an unconditional update.)
 */
export function validateObjectMetaUpdate(meta: ObjectMeta | undefined, old: ObjectMeta | undefined, path = 'metadata'): FieldError[] {
  const m = obj(meta) as ObjectMeta;
  const o = obj(old) as ObjectMeta;
  const errs: FieldError[] = [];
  if (o.deletionTimestamp) {
    const before = new Set(arr(o.finalizers));
    const extra = arr(m.finalizers).filter((f) => !before.has(f));
    if (extra.length) {
      errs.push(
        field.forbidden(
          child(path, 'finalizers'),
          `no new finalizers can be added if the object is being deleted, found new finalizers []string{${extra.map((f) => JSON.stringify(f)).join(', ')}}`,
        ),
      );
    }
  }
  if (typeof m.generation === 'number' && typeof o.generation === 'number' && m.generation < o.generation) {
    errs.push(field.invalid(child(path, 'generation'), m.generation, 'must not be decremented'));
  }
  errs.push(...validateImmutableField(m.name ?? '', o.name ?? '', child(path, 'name')));
  errs.push(...validateImmutableField(m.namespace ?? '', o.namespace ?? '', child(path, 'namespace')));
  if (o.uid && m.uid) errs.push(...validateImmutableField(m.uid, o.uid, child(path, 'uid')));
  return errs;
}
