/**
 * Errors at the API edge: every failure is answered with a `kind: Status` (meta/v1) carrying the
 * reason and HTTP code the real apiserver uses (k8s.io/apimachinery/pkg/api/errors), so kubectl
 * and client libraries print and classify it exactly as they do against a real cluster.
 */

import {
  FIELD_ERROR_REASON,
  InvalidObjectError,
  NotFoundError,
  AlreadyExistsError,
  ConflictError,
  PodnetError,
  formatFieldError,
  type ObjectRef,
} from '../../core/errors.js';
import { lookupKind, type KindInfo } from '../../api/scheme.js';
import { qualifiedResource } from '../store.js';

/** meta/v1 StatusCause. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** meta/v1 Status. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
  code: number;
}

/** An error already shaped as an API Status. */
export class StatusError extends PodnetError {
  readonly status: Status;
  constructor(status: Status) {
    super(`PODNET_API_${(status.reason ?? 'Unknown').toUpperCase()}`, status.message ?? status.reason ?? 'error');
    this.status = status;
  }
}

/** Builds a failure Status. */
export function failure(code: number, reason: string, message: string, details?: Status['details']): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** A success Status (e.g. for deletecollection). */
export function success(details?: Status['details']): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', ...(details ? { details } : {}), code: 200 };
}

/** Shorthands for the errors the handlers raise themselves. */
export const statusErrors = {
  badRequest: (message: string) => new StatusError(failure(400, 'BadRequest', message)),
  notFoundPath: () => new StatusError(failure(404, 'NotFound', 'the server could not find the requested resource', {})),
  methodNotAllowed: (method: string) =>
    new StatusError(failure(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`, { causes: [{ message: method }] })),
  unsupportedMediaType: (type: string) =>
    new StatusError(failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${type || 'none'})`)),
  notAcceptable: (accept: string) =>
    new StatusError(failure(406, 'NotAcceptable', `only the following media types are accepted: application/json, application/yaml (got ${accept})`)),
  unauthorized: () => new StatusError(failure(401, 'Unauthorized', 'Unauthorized')),
  timeout: (message: string) => new StatusError(failure(504, 'Timeout', message)),
};

function qualifiedKind(info: KindInfo | undefined, kind: string): { kind: string; group: string; label: string } {
  const group = info?.group ?? '';
  return { kind, group, label: group ? `${kind}.${group}` : kind };
}

function resourceLabel(info: KindInfo | undefined, fallback: string): string {
  return info ? qualifiedResource(info) : fallback;
}

function kindInfoOf(ref: ObjectRef, hint?: KindInfo): KindInfo | undefined {
  if (hint && hint.kind === ref.kind) return hint;
  return hint;
}

/**
 * Turns any error into the Status the apiserver would answer with. `info` is the kind the
 * request was about, used for `details.group` and `details.kind`.
 */
export function toStatus(err: unknown, info?: KindInfo): Status {
  if (err instanceof StatusError) return err.status;
  if (err instanceof InvalidObjectError) {
    const { kind, group, label } = qualifiedKind(kindInfoOf(err.object, info), err.object.kind);
    const lines = err.causes.map(formatFieldError);
    const aggregate = lines.length === 1 ? lines[0]! : `[${lines.join(', ')}]`;
    return failure(422, 'Invalid', `${label} "${err.object.name ?? ''}" is invalid: ${aggregate}`, {
      name: err.object.name ?? '',
      group,
      kind: kind,
      causes: err.causes.map((c) => ({ reason: FIELD_ERROR_REASON[c.type], message: formatFieldError(c).slice(c.field.length + 2), field: c.field })),
    });
  }
  if (err instanceof NotFoundError) {
    return failure(404, 'NotFound', err.message, { name: err.object.name ?? '', group: info?.group ?? '', kind: resourceLabel(info, err.object.kind).split('.')[0] });
  }
  if (err instanceof AlreadyExistsError) {
    return failure(409, 'AlreadyExists', err.message, { name: err.object.name ?? '', group: info?.group ?? '', kind: info?.resource ?? err.object.kind });
  }
  if (err instanceof ConflictError) {
    return failure(409, 'Conflict', err.message, { name: err.object.name ?? '', group: info?.group ?? '', kind: info?.resource ?? err.object.kind });
  }
  if (err instanceof PodnetError) {
    const conflicts = (err as PodnetError & { conflicts?: { manager: string; field: string }[] }).conflicts;
    switch (err.code) {
      case 'PODNET_APPLY_CONFLICT':
        return failure(409, 'Conflict', err.message, {
          ...(info ? { group: info.group, kind: info.resource } : {}),
          causes: (conflicts ?? []).map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}"`, field: c.field })),
        });
      case 'PODNET_RESOURCE_VERSION_TOO_OLD':
        return failure(410, 'Expired', err.message);
      case 'PODNET_BAD_REQUEST':
      case 'PODNET_MANIFEST_INVALID':
      case 'PODNET_INVALID_ANNOTATION':
        return failure(400, 'BadRequest', err.message);
      case 'PODNET_UNKNOWN_KIND':
        return failure(400, 'BadRequest', err.message);
      case 'PODNET_NAMESPACE_TERMINATING':
        return failure(403, 'Forbidden', err.message, { name: '', group: info?.group ?? '', kind: info?.resource ?? '', causes: [{ reason: 'NamespaceTerminating', message: err.message, field: 'metadata.namespace' }] });
      case 'PODNET_IPAM_EXHAUSTED':
      case 'PODNET_SERVICE_ALLOCATION_FAILED':
        return failure(500, 'InternalError', err.message.startsWith('Internal error occurred') ? err.message : `Internal error occurred: ${err.message}`);
      case 'PODNET_TIMEOUT':
        return failure(504, 'Timeout', err.message);
      default:
        return failure(500, 'InternalError', `Internal error occurred: ${err.message}`);
    }
  }
  return failure(500, 'InternalError', `Internal error occurred: ${(err as Error)?.message ?? String(err)}`);
}

/** The kind info for an object body, when it names a known kind. */
export function infoOfBody(body: { apiVersion?: unknown; kind?: unknown }): KindInfo | undefined {
  return typeof body.apiVersion === 'string' && typeof body.kind === 'string' ? lookupKind(body.apiVersion, body.kind) : undefined;
}
