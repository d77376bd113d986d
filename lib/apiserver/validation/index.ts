/**
 * API validation: every object is checked against Kubernetes' own rules before the store writes
 * it, and rejected with kubectl's wording — `The Service "web" is invalid: spec.ports[0].port:
 * Invalid value: 70000: must be between 1 and 65535, inclusive`.
 *
 * One module per API group, as k8s.io/kubernetes/pkg/apis/<group>/validation is laid out:
 * `core.ts`, `apps.ts`, `discovery.ts`, `networking.ts`, `gateway.ts` (Gateway API CRD schema
 * and CEL rules), `calico.ts`, over the shared checks in `names.ts`. Kinds without rules of their
 * own get the generic metadata checks.
 *
 * The plugin runs last in the admission chain (defaulting → allocation → validation), on CREATE
 * and UPDATE, status writes included, as the apiserver validates after defaulting and
 * allocation; deletes are not validated.
 */

import { InvalidObjectError, type FieldError } from '../../core/errors.js';
import { parseApiVersion, type KubeObject } from '../../api/meta.js';
import { lookupKind } from '../../api/scheme.js';
import type { AdmissionContext, AdmissionPlugin } from '../store.js';
import { validateApps } from './apps.js';
import { validateCalico } from './calico.js';
import { validateCore } from './core.js';
import { validateDiscovery } from './discovery.js';
import { validateGatewayAPI } from './gateway.js';
import { validateNetworking } from './networking.js';
import { validateMetadata } from './names.js';

/**
 * Validates an object (already defaulted, see lib/apiserver/defaults.ts) as the apiserver would
 * on create, or on update when `old` — the stored object — is given. Returns every problem found;
 * an empty list means the object is valid.
 */
export function validateObject(obj: KubeObject, old?: KubeObject): FieldError[] {
  const { group } = parseApiVersion(obj.apiVersion ?? '');
  let errs: FieldError[] | undefined;
  switch (group) {
    case '':
      errs = validateCore(obj, old);
      break;
    case 'apps':
      errs = validateApps(obj, old);
      break;
    case 'discovery.k8s.io':
      errs = validateDiscovery(obj, old);
      break;
    case 'networking.k8s.io':
      errs = validateNetworking(obj, old);
      break;
    case 'gateway.networking.k8s.io':
      errs = validateGatewayAPI(obj, old, lookupKind(obj.apiVersion, obj.kind)?.namespaced ?? true);
      break;
    case 'projectcalico.org':
      errs = validateCalico(obj, old);
      break;
  }
  if (errs) return errs;
  const namespaced = lookupKind(obj.apiVersion ?? '', obj.kind ?? '')?.namespaced ?? true;
  return validateMetadata(obj, old, namespaced);
}

/** The validation admission plugin: rejects an invalid write with {@link InvalidObjectError}. */
export const validation: AdmissionPlugin = {
  name: 'validation',
  admit(ctx: AdmissionContext): void {
    if (ctx.op === 'DELETE') return;
    const errors = validateObject(ctx.object, ctx.op === 'UPDATE' ? ctx.old : undefined);
    if (errors.length === 0) return;
    const { kind, metadata } = ctx.object;
    throw new InvalidObjectError({ kind, namespace: metadata?.namespace, name: metadata?.name }, errors);
  },
};
