/**
 * The podnet error catalogue.
 *
 * Every error podnet raises is a {@link PodnetError} with a stable `code` that users match on, and
 * structured data (object, field path, CIDR, ...). A retired code is never reused.
 *
 * Validation errors follow apimachinery's `field.Error` (k8s.io/apimachinery/pkg/util/validation/field):
 * a type ("Invalid value", "Required value", ...), a field path in kubectl's notation
 * (`spec.ports[0].port`), the bad value and a detail, rendered exactly as kubectl prints them:
 * `spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive`.
 */

/** Where an object came from: a manifest file and the line its document starts on. */
export interface SourceLocation {
  file: string;
  line?: number;
}

/** A reference to an object, enough to name it in a message. */
export interface ObjectRef {
  kind: string;
  namespace?: string;
  name?: string;
}

/** Renders `Kind namespace/name` (or `Kind name` for cluster-scoped objects). */
export function describeRef(ref: ObjectRef): string {
  const name = ref.name ?? '<unnamed>';
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${name}` : `${ref.kind} ${name}`;
}

/** Base class of every podnet error. */
export class PodnetError extends Error {
  /** Stable, machine-matchable code, e.g. `PODNET_INVALID_OBJECT`. */
  readonly code: string;
  /** The manifest location the error is about, once known. */
  source?: SourceLocation;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
  /**
   * Places the error in a manifest: prefixes the message with `file:line: Kind ns/name: `, the
   * way kubectl names the document an error came from. Returns the same error.
   */
  locate(source: SourceLocation, object?: ObjectRef): this {
    if (this.source) return this;
    this.source = source;
    const where = `${source.file}${source.line ? `:${source.line}` : ''}`;
    this.message = `${where}: ${object ? `${describeRef(object)}: ` : ''}${this.message}`;
    return this;
  }
}

/** apimachinery's field.ErrorType strings, as kubectl prints them. */
export type FieldErrorType =
  | 'Invalid value'
  | 'Required value'
  | 'Unsupported value'
  | 'Duplicate value'
  | 'Forbidden'
  | 'Too long'
  | 'Too many'
  | 'Not found'
  | 'Internal error';

/** Kubernetes' `CauseType` reason for each field error type (used by API Status causes). */
export const FIELD_ERROR_REASON: Record<FieldErrorType, string> = {
  'Invalid value': 'FieldValueInvalid',
  'Required value': 'FieldValueRequired',
  'Unsupported value': 'FieldValueNotSupported',
  'Duplicate value': 'FieldValueDuplicate',
  Forbidden: 'FieldValueForbidden',
  'Too long': 'FieldValueTooLong',
  'Too many': 'FieldValueTooMany',
  'Not found': 'FieldValueNotFound',
  'Internal error': 'InternalError',
};

/** One problem with one field of an object. */
export interface FieldError {
  type: FieldErrorType;
  /** kubectl-style path: `spec.ports[0].port`, `metadata.labels[app]`. */
  field: string;
  /** The offending value, omitted for Required/Forbidden. */
  badValue?: unknown;
  detail?: string;
  /** For Unsupported value: the values that would have been accepted. */
  supported?: string[];
}

function renderBadValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Renders a field error as apimachinery's `field.Error.Error()` does. */
export function formatFieldError(e: FieldError): string {
  let s = `${e.field}: ${e.type}`;
  if (e.type === 'Required value' || e.type === 'Forbidden' || e.type === 'Too long' || e.type === 'Internal error') {
    if (e.detail) s += `: ${e.detail}`;
    return s;
  }
  if (e.type === 'Unsupported value') {
    s += `: ${renderBadValue(e.badValue)}`;
    if (e.supported?.length) s += `: supported values: ${e.supported.map((v) => JSON.stringify(v)).join(', ')}`;
    else if (e.detail) s += `: ${e.detail}`;
    return s;
  }
  if (e.badValue !== undefined) s += `: ${renderBadValue(e.badValue)}`;
  if (e.detail) s += `: ${e.detail}`;
  return s;
}

/** Small helpers to build field errors the way apimachinery's field package does. */
export const field = {
  invalid: (path: string, badValue: unknown, detail: string): FieldError => ({ type: 'Invalid value', field: path, badValue, detail }),
  required: (path: string, detail = ''): FieldError => ({ type: 'Required value', field: path, detail }),
  notSupported: (path: string, badValue: unknown, supported: string[]): FieldError => ({
    type: 'Unsupported value',
    field: path,
    badValue,
    supported,
  }),
  duplicate: (path: string, badValue: unknown): FieldError => ({ type: 'Duplicate value', field: path, badValue }),
  forbidden: (path: string, detail: string): FieldError => ({ type: 'Forbidden', field: path, detail }),
  tooMany: (path: string, actual: number, max: number): FieldError => ({
    type: 'Too many',
    field: path,
    badValue: actual,
    detail: `must have at most ${max} items`,
  }),
  tooLong: (path: string, max: number): FieldError => ({ type: 'Too long', field: path, detail: `must have at most ${max} bytes` }),
};

/**
 * An object failed validation (HTTP 422 Invalid). Carries every field error, the object and,
 * when it came from a file, where.
 */
export class InvalidObjectError extends PodnetError {
  readonly object: ObjectRef;
  readonly causes: FieldError[];
  constructor(object: ObjectRef, causes: FieldError[], source?: SourceLocation) {
    super('PODNET_INVALID_OBJECT', InvalidObjectError.render(object, causes, source));
    this.object = object;
    this.causes = causes;
    if (source) this.source = source;
  }
  /** Places the error in a manifest file (the object is already named in the message). */
  override locate(source: SourceLocation): this {
    if (this.source) return this;
    this.source = source;
    this.message = InvalidObjectError.render(this.object, this.causes, source);
    return this;
  }
  /** kubectl's wording: `The Service "web" is invalid: spec.ports[0].port: Invalid value: ...`. */
  static render(object: ObjectRef, causes: FieldError[], source?: SourceLocation): string {
    const where = source ? `${source.file}${source.line ? `:${source.line}` : ''}: ` : '';
    const subject = `${where}${describeRef(object)}: The ${object.kind} "${object.name ?? ''}" is invalid`;
    const lines = causes.map(formatFieldError);
    if (lines.length === 1) return `${subject}: ${lines[0]}`;
    return `${subject}: \n${lines.map((l) => `* ${l}`).join('\n')}`;
  }
}

/** A manifest could not be parsed (bad YAML/JSON, not an object, missing apiVersion/kind). */
export class ManifestError extends PodnetError {
  override source: SourceLocation;
  constructor(source: SourceLocation, message: string) {
    super('PODNET_MANIFEST_INVALID', `${source.file}${source.line ? `:${source.line}` : ''}: ${message}`);
    this.source = source;
  }
}

/** apiVersion/kind is not one podnet stores. Lists the known kinds. */
export class UnknownKindError extends PodnetError {
  readonly apiVersion: string;
  readonly kind: string;
  readonly known: string[];
  constructor(apiVersion: string, kind: string, known: string[], source?: SourceLocation) {
    const where = source ? `${source.file}${source.line ? `:${source.line}` : ''}: ` : '';
    super(
      'PODNET_UNKNOWN_KIND',
      `${where}no matches for kind "${kind}" in version "${apiVersion}"; known kinds: ${known.join(', ')}`,
    );
    this.apiVersion = apiVersion;
    this.kind = kind;
    this.known = known;
    if (source) this.source = source;
  }
}

/** The object does not exist (HTTP 404). */
export class NotFoundError extends PodnetError {
  readonly object: ObjectRef;
  constructor(object: ObjectRef, resource: string) {
    super('PODNET_NOT_FOUND', `${resource} "${object.name ?? ''}" not found`);
    this.object = object;
  }
}

/** An object with that name already exists (HTTP 409 AlreadyExists). */
export class AlreadyExistsError extends PodnetError {
  readonly object: ObjectRef;
  constructor(object: ObjectRef, resource: string) {
    super('PODNET_ALREADY_EXISTS', `${resource} "${object.name ?? ''}" already exists`);
    this.object = object;
  }
}

/** An update carried a stale resourceVersion (HTTP 409 Conflict). */
export class ConflictError extends PodnetError {
  readonly object: ObjectRef;
  constructor(object: ObjectRef, resource: string, detail: string) {
    super('PODNET_CONFLICT', `Operation cannot be fulfilled on ${resource} "${object.name ?? ''}": ${detail}`);
    this.object = object;
  }
}

/** A watch asked for a resourceVersion older than the store keeps (HTTP 410 Gone, "Expired"). */
export class ResourceVersionTooOldError extends PodnetError {
  readonly requested: number;
  readonly oldest: number;
  constructor(requested: number, oldest: number) {
    super('PODNET_RESOURCE_VERSION_TOO_OLD', `too old resource version: ${requested} (${oldest})`);
    this.requested = requested;
    this.oldest = oldest;
  }
}

/** An address range has no free address or block left. */
export class IpamExhaustedError extends PodnetError {
  readonly cidr: string;
  readonly object?: ObjectRef;
  constructor(cidr: string, what: string, object?: ObjectRef) {
    super('PODNET_IPAM_EXHAUSTED', `${object ? `${describeRef(object)}: ` : ''}no ${what} left in ${cidr}`);
    this.cidr = cidr;
    if (object) this.object = object;
  }
}

/** The request itself is malformed (HTTP 400). */
export class BadRequestError extends PodnetError {
  constructor(message: string) {
    super('PODNET_BAD_REQUEST', message);
  }
}

/** A wait for a condition ran out of time. */
export class TimeoutError extends PodnetError {
  constructor(message: string) {
    super('PODNET_TIMEOUT', message);
  }
}

/** A topology (Cluster document or kind config) is not usable. */
export class TopologyError extends PodnetError {
  readonly causes: FieldError[];
  constructor(causes: FieldError[], source?: SourceLocation) {
    const where = source ? `${source.file}${source.line ? `:${source.line}` : ''}: ` : '';
    super('PODNET_TOPOLOGY_INVALID', `${where}Cluster is invalid: ${causes.map(formatFieldError).join('; ')}`);
    this.causes = causes;
    if (source) this.source = source;
  }
}

/** Several errors found together (a whole apply or validate run), reported at once. */
export class AggregateApplyError extends PodnetError {
  readonly errors: PodnetError[];
  constructor(errors: PodnetError[]) {
    super('PODNET_APPLY_FAILED', errors.map((e) => e.message).join('\n'));
    this.errors = errors;
  }
}
