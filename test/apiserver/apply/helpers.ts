/** Fixtures shared by the server-side apply tests: the docs' example Deployment and small helpers. */
import { parse } from 'yaml';
import type { KubeObject } from '../../../lib/api/meta.js';
import { canonicalJson, decodeFieldsV1 } from '../../../lib/apiserver/apply/fieldset.js';
import { LAST_APPLIED_ANNOTATION, updateManagedFields } from '../../../lib/apiserver/apply/ssa.js';

/** k8s.io/examples/application/ssa/nginx-deployment.yaml, as the "Transferring ownership" section uses it. */
export const NGINX_DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app.kubernetes.io/name: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: nginx
  template:
    metadata:
      labels:
        app.kubernetes.io/name: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
`;

/** The example Deployment, optionally changed. */
export function nginxDeployment(change: (d: KubeObject) => void = () => {}): KubeObject {
  const d = parse(NGINX_DEPLOYMENT) as KubeObject;
  change(d);
  return d;
}

/** Who owns what: manager (with subresource) → its fields, one path a line. */
export function owners(obj: KubeObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of (obj.metadata.managedFields ?? []) as Array<Record<string, unknown>>) {
    const name = `${e.manager as string}/${e.operation as string}${e.subresource ? `/${e.subresource as string}` : ''}`;
    out[name] = decodeFieldsV1(e.fieldsV1).toString();
  }
  return out;
}

/** The managed fields entry of `manager`, if any. */
export function entryOf(obj: KubeObject, manager: string): Record<string, unknown> | undefined {
  return (obj.metadata.managedFields as Array<Record<string, unknown>> | undefined)?.find((e) => e.manager === manager);
}

/**
 * What client-side `kubectl apply` does to create an object: store the manifest with its
 * last-applied annotation, as manager `kubectl-client-side-apply` (an update, not an apply).
 */
export function clientSideApplyCreate(manifest: KubeObject, now: string): KubeObject {
  const obj = structuredClone(manifest);
  obj.metadata.annotations = { ...obj.metadata.annotations, [LAST_APPLIED_ANNOTATION]: `${canonicalJson(manifest as never)}\n` };
  return updateManagedFields({ live: undefined, updated: obj, manager: 'kubectl-client-side-apply', kind: manifest.kind, now }).object;
}

/** A plain update (`kubectl edit`, a controller's PUT) by `manager`: `change` applied to a copy of `live`. */
export function update(live: KubeObject, manager: string, change: (o: KubeObject) => void, now: string, subresource?: string): KubeObject {
  const updated = structuredClone(live);
  change(updated);
  return updateManagedFields({ live, updated, manager, kind: live.kind, now, ...(subresource ? { subresource } : {}) }).object;
}
