/**
 * Field selectors, as k8s.io/apimachinery/pkg/fields parses and matches them, and the fields each
 * kind exposes to them, as the API server's registries do.
 *
 * Parsing follows `fields.ParseSelector`: comma-separated `field=value`, `field==value` and
 * `field!=value` terms, a backslash escaping `\`, `,` and `=` in values, terms sorted as strings.
 * A field the object does not have reads as the empty string, so `f!=x` matches it.
 *
 * Which fields a kind supports follows the field-label conversion functions the API server
 * registers (pkg/apis/core/v1/conversion.go, pkg/apis/batch/v1/conversion.go) and the field sets
 * its registries build (`ToSelectableFields` in pkg/registry/...); other kinds get
 * `runtime.DefaultMetaV1FieldSelectorConversion` (only `metadata.name` and `metadata.namespace`).
 * Rejections are worded as the API server words them.
 */

import type { KubeObject } from '../api/meta.js';
import { BadRequestError } from '../core/errors.js';

/** One term of a field selector. `==` is read as `=`, as upstream does. */
export interface FieldRequirement {
  readonly field: string;
  readonly operator: '=' | '!=';
  readonly value: string;
}

/** The selectable fields of one object: field path to its string value. */
export type Fields = Readonly<Record<string, string>>;

/** A parsed field selector (`fields.Selector`): the AND of its terms. Immutable. */
export interface FieldSelector {
  /** The terms, in the order upstream keeps them (sorted by their source text). */
  readonly requirements: readonly FieldRequirement[];
  /** Whether every term holds; a field missing from `fields` reads as `''`. */
  matches(fields: Fields): boolean;
  /** Whether the selector does not restrict anything. */
  empty(): boolean;
  /** The string form with values escaped, e.g. `metadata.name=web,status.phase!=Running`. */
  toString(): string;
  /** The value `field` must equal for the selector to match, if a `=` term pins it. */
  requiresExactMatch(field: string): string | undefined;
}

const ESCAPES = /[\\,=]/g;

/** Escapes `\`, `,` and `=` in a literal value for use in a field selector (`fields.EscapeValue`). */
export function escapeFieldValue(value: string): string {
  return value.replace(ESCAPES, (c) => `\\${c}`);
}

/**
 * Unescapes a field selector value (`fields.UnescapeValue`). Throws {@link BadRequestError} for an
 * unknown escape sequence or an unescaped `,` or `=`.
 */
export function unescapeFieldValue(value: string): string {
  if (!/[\\,=]/.test(value)) return value;
  let out = '';
  let inSlash = false;
  for (const c of value) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') {
        throw new BadRequestError(`invalid field selector: invalid escape sequence: \\${c}`);
      }
      out += c;
      inSlash = false;
      continue;
    }
    if (c === '\\') inSlash = true;
    else if (c === ',' || c === '=') {
      // Upstream prints the rune with %v, i.e. its code point.
      throw new BadRequestError(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`);
    } else out += c;
  }
  if (inSlash) throw new BadRequestError('invalid field selector: invalid escape sequence: \\');
  return out;
}

class AndSelector implements FieldSelector {
  readonly requirements: readonly FieldRequirement[];

  constructor(requirements: readonly FieldRequirement[]) {
    this.requirements = Object.freeze(requirements.map((r) => Object.freeze({ ...r })));
  }

  matches(fields: Fields): boolean {
    return this.requirements.every((r) => {
      const actual = Object.prototype.hasOwnProperty.call(fields, r.field) ? fields[r.field] : '';
      return r.operator === '=' ? actual === r.value : actual !== r.value;
    });
  }

  empty(): boolean {
    return this.requirements.length === 0;
  }

  toString(): string {
    return this.requirements.map((r) => `${r.field}${r.operator}${escapeFieldValue(r.value)}`).join(',');
  }

  requiresExactMatch(field: string): string | undefined {
    return this.requirements.find((r) => r.field === field && r.operator === '=')?.value;
  }
}

/** The field selector that matches every object (`fields.Everything`). */
export function everythingFields(): FieldSelector {
  return new AndSelector([]);
}

/** A selector requiring each field to equal the given value (`fields.SelectorFromSet`). */
export function fieldSelectorFromSet(set: Fields): FieldSelector {
  return new AndSelector(Object.entries(set).map(([field, value]) => ({ field, operator: '=' as const, value })));
}

/** Splits on commas not escaped by a backslash, keeping the escapes (`splitTerms`). */
function splitTerms(selector: string): string[] {
  if (selector.length === 0) return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms;
}

// `==` is tried before `=` so it does not leave a leading `=` on the value.
const TERM_OPERATORS = ['!=', '==', '='] as const;

/** Splits a term at the first operator; the field part supports no escaping (`splitTerm`). */
function splitTerm(term: string): { lhs: string; op: (typeof TERM_OPERATORS)[number]; rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of TERM_OPERATORS) {
      if (term.startsWith(op, i)) return { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) };
    }
  }
  return undefined;
}

/** Go's byte-wise string order. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Parses a field selector (`fields.ParseSelector`), e.g. `status.phase=Running,spec.nodeName!=n1`.
 * The empty string selects everything. Throws {@link BadRequestError} with upstream's wording,
 * e.g. `invalid selector: 'a'; can't understand 'a'`.
 */
export function parseFieldSelector(selector: string): FieldSelector {
  const parts = splitTerms(selector).sort(compareStrings);
  const requirements: FieldRequirement[] = [];
  for (const part of parts) {
    if (part === '') continue;
    const term = splitTerm(part);
    if (!term) throw new BadRequestError(`invalid selector: '${selector}'; can't understand '${part}'`);
    requirements.push({ field: term.lhs, operator: term.op === '!=' ? '!=' : '=', value: unescapeFieldValue(term.rhs) });
  }
  return new AndSelector(requirements);
}

// ---------------------------------------------------------------------------------------------
// Which fields each kind supports, and their values.

/** How one kind's field labels are checked: the labels accepted, renames, and the rejection text. */
interface FieldLabelRules {
  readonly supported: readonly string[];
  /** Legacy labels the API server rewrites (`spec.host` → `spec.nodeName` on Pods). */
  readonly renames?: Readonly<Record<string, string>>;
  readonly reject: (label: string) => string;
}

const notSupported = (label: string): string => `field label not supported: ${label}`;

/** pkg/apis/core/v1/conversion.go and pkg/apis/batch/v1/conversion.go, by kind. */
const FIELD_LABELS: Readonly<Record<string, FieldLabelRules>> = {
  Pod: {
    supported: [
      'metadata.name',
      'metadata.namespace',
      'spec.nodeName',
      'spec.restartPolicy',
      'spec.schedulerName',
      'spec.serviceAccountName',
      'spec.hostNetwork',
      'status.phase',
      'status.podIP',
      'status.podIPs',
      'status.nominatedNodeName',
    ],
    renames: { 'spec.host': 'spec.nodeName' },
    reject: notSupported,
  },
  Node: { supported: ['metadata.name', 'spec.unschedulable'], reject: notSupported },
  ReplicationController: { supported: ['metadata.name', 'metadata.namespace', 'status.replicas'], reject: notSupported },
  Event: {
    supported: [
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
      'metadata.namespace',
      'metadata.name',
    ],
    reject: notSupported,
  },
  Namespace: { supported: ['status.phase', 'metadata.name'], reject: notSupported },
  Secret: { supported: ['type', 'metadata.namespace', 'metadata.name'], reject: notSupported },
  Service: { supported: ['metadata.namespace', 'metadata.name', 'spec.clusterIP', 'spec.type'], reject: notSupported },
  Job: {
    supported: ['metadata.name', 'metadata.namespace', 'status.successful'],
    reject: (label) => `field label ${JSON.stringify(label)} not supported for batchv1.Job`,
  },
};

/** runtime.DefaultMetaV1FieldSelectorConversion, for every other kind. */
const DEFAULT_FIELD_LABELS: FieldLabelRules = {
  supported: ['metadata.name', 'metadata.namespace'],
  reject: (label) => `${JSON.stringify(label)} is not a known field selector: only "metadata.name", "metadata.namespace"`,
};

function rulesFor(kind: string): FieldLabelRules {
  return Object.prototype.hasOwnProperty.call(FIELD_LABELS, kind) ? FIELD_LABELS[kind]! : DEFAULT_FIELD_LABELS;
}

/** The field labels the API server accepts in a field selector for `kind`. */
export function supportedFieldLabels(kind: string): readonly string[] {
  return rulesFor(kind).supported;
}

/**
 * Checks a field selector against the fields `kind` supports, as the API server does before
 * listing or watching, and returns it with legacy labels rewritten (`spec.host` becomes
 * `spec.nodeName` on Pods). Throws {@link BadRequestError} naming the field, e.g.
 * `field label not supported: spec.foo` for a Pod or
 * `"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"`.
 */
export function validateFieldSelector(kind: string, selector: FieldSelector | string): FieldSelector {
  const parsed = typeof selector === 'string' ? parseFieldSelector(selector) : selector;
  const rules = rulesFor(kind);
  const requirements = parsed.requirements.map((r) => {
    const renamed = rules.renames?.[r.field];
    if (renamed) return { ...r, field: renamed };
    if (!rules.supported.includes(r.field)) throw new BadRequestError(rules.reject(r.field));
    return r;
  });
  return new AndSelector(requirements);
}

/** Kinds whose field set has no `metadata.namespace` (their registries build it cluster-scoped). */
const WITHOUT_NAMESPACE_FIELD = new Set(['Node', 'Namespace']);

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/**
 * The fields of `obj` a field selector can test, as the API server's registry for its kind builds
 * them (`ToSelectableFields`): `metadata.name` and `metadata.namespace` for every kind, plus the
 * kind's own (Pod, Event, Secret, Node, Namespace, Service, ReplicationController, Job).
 */
export function objectFields(obj: KubeObject): Record<string, string> {
  const meta = obj.metadata ?? {};
  const fields: Record<string, string> = { 'metadata.name': str(meta.name) };
  if (!WITHOUT_NAMESPACE_FIELD.has(obj.kind)) fields['metadata.namespace'] = str(meta.namespace);
  const spec = obj.spec ?? {};
  const status = obj.status ?? {};
  switch (obj.kind) {
    case 'Pod': {
      const podIPs: unknown = status.podIPs;
      const firstIP = Array.isArray(podIPs) && podIPs.length > 0 ? str(podIPs[0]?.ip) : str(status.podIP);
      Object.assign(fields, {
        'spec.nodeName': str(spec.nodeName),
        'spec.restartPolicy': str(spec.restartPolicy),
        'spec.schedulerName': str(spec.schedulerName),
        'spec.serviceAccountName': str(spec.serviceAccountName),
        'spec.hostNetwork': String(spec.hostNetwork === true),
        'status.phase': str(status.phase),
        'status.podIP': firstIP,
        'status.nominatedNodeName': str(status.nominatedNodeName),
      });
      break;
    }
    case 'Event': {
      const involved = obj.involvedObject ?? {};
      const source = str(obj.source?.component) || str(obj.reportingComponent);
      Object.assign(fields, {
        'involvedObject.kind': str(involved.kind),
        'involvedObject.namespace': str(involved.namespace),
        'involvedObject.name': str(involved.name),
        'involvedObject.uid': str(involved.uid),
        'involvedObject.apiVersion': str(involved.apiVersion),
        'involvedObject.resourceVersion': str(involved.resourceVersion),
        'involvedObject.fieldPath': str(involved.fieldPath),
        reason: str(obj.reason),
        reportingComponent: str(obj.reportingComponent),
        source,
        type: str(obj.type),
      });
      break;
    }
    case 'Secret':
      fields.type = str(obj.type);
      break;
    case 'Node':
      fields['spec.unschedulable'] = String(spec.unschedulable === true);
      break;
    case 'Namespace':
      fields['status.phase'] = str(status.phase);
      break;
    case 'Service':
      fields['spec.clusterIP'] = str(spec.clusterIP);
      fields['spec.type'] = str(spec.type);
      break;
    case 'ReplicationController':
      fields['status.replicas'] = String(typeof status.replicas === 'number' ? status.replicas : 0);
      break;
    case 'Job':
      fields['status.successful'] = String(typeof status.succeeded === 'number' ? status.succeeded : 0);
      break;
  }
  return fields;
}
