/**
 * The structural schema server-side apply needs: for each field path of a kind, whether a list is a
 * list-map (and by which keys), a set, or atomic, and whether a map is owned as a whole. Upstream
 * reads this from the OpenAPI schema's `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and
 * `x-kubernetes-map-type` (the Go markers `+listType`, `+listMapKey`, `+mapType`, `+structType`);
 * where a list has no `+listType`, it reads `patchStrategy=merge` as `listType=map` with the
 * `patchMergeKey` as its key ("Server-Side Apply", section "Merge strategy").
 *
 * podnet has no OpenAPI schema, so it derives the same from the strategic-merge-patch tables in
 * `lib/apimachinery/patch.ts`: a `merge` list with a merge key is a list-map keyed by it, a `merge`
 * list of scalars is a set, and every other list is atomic. {@link LIST_MAP_KEY_OVERRIDES} lists the
 * few places where upstream's `+listMapKey` differs from `patchMergeKey`.
 *
 * Paths use patch.ts's notation: fields joined by `.`, `[]` for the elements of a list
 * (`spec.template.spec.containers[].ports`).
 */

import { patchStrategiesFor, type JsonValue } from '../../apimachinery/patch.js';

/** How a list's elements are identified and owned. */
export type ListType =
  /** Owned and replaced as a whole (`+listType=atomic`, and every list without a strategy). */
  | { readonly type: 'atomic' }
  /** A set of scalars, each element owned separately (`+listType=set`). */
  | { readonly type: 'set' }
  /**
   * A list of objects identified by `keys` (`+listType=map`, `+listMapKey`), each element owned
   * separately. `defaults` supplies a key field an element leaves out, as the schema's default does
   * (a port's `protocol` is `TCP`).
   */
  | { readonly type: 'map'; readonly keys: readonly string[]; readonly defaults: Readonly<Record<string, JsonValue>> };

const ATOMIC: ListType = { type: 'atomic' };
const SET: ListType = { type: 'set' };

/** One place where upstream's `+listMapKey` markers differ from the field's `patchMergeKey`. */
export interface ListMapKeyOverride {
  /** Only for these kinds; every kind when absent. */
  readonly kinds?: readonly string[];
  /** The path, or its tail after a `.`. */
  readonly suffix: string;
  readonly keys: readonly string[];
  readonly defaults?: Readonly<Record<string, JsonValue>>;
}

const TCP = { protocol: 'TCP' };

/**
 * Where SSA's list-map keys are not the patch merge key (k8s.io/api/core/v1/types.go):
 *
 * - `Container.ports` (and init/ephemeral containers): `patchMergeKey=containerPort`, but
 *   `+listMapKey=containerPort +listMapKey=protocol`, with `protocol` defaulting to `TCP`.
 * - `ServiceSpec.ports`: `patchMergeKey=port`, but `+listMapKey=port +listMapKey=protocol`.
 * - `PodSpec.topologySpreadConstraints`: `patchMergeKey=topologyKey`, but
 *   `+listMapKey=topologyKey +listMapKey=whenUnsatisfiable`.
 */
export const LIST_MAP_KEY_OVERRIDES: readonly ListMapKeyOverride[] = [
  { suffix: 'containers[].ports', keys: ['containerPort', 'protocol'], defaults: TCP },
  { suffix: 'initContainers[].ports', keys: ['containerPort', 'protocol'], defaults: TCP },
  { suffix: 'ephemeralContainers[].ports', keys: ['containerPort', 'protocol'], defaults: TCP },
  { suffix: 'topologySpreadConstraints', keys: ['topologyKey', 'whenUnsatisfiable'] },
  { kinds: ['Service'], suffix: 'spec.ports', keys: ['port', 'protocol'], defaults: TCP },
];

function matchesSuffix(path: string, suffix: string): boolean {
  return path === suffix || path.endsWith(`.${suffix}`);
}

/** The list type of the list at `path` in an object of `kind`. */
export function listTypeOf(kind: string, path: string): ListType {
  const table = patchStrategiesFor(kind);
  const strategy = Object.hasOwn(table, path) ? table[path] : undefined;
  if (strategy?.strategy !== 'merge') return ATOMIC;
  if (!strategy.mergeKey) return SET;
  const override = LIST_MAP_KEY_OVERRIDES.find((o) => (!o.kinds || o.kinds.includes(kind)) && matchesSuffix(path, o.suffix));
  return { type: 'map', keys: override?.keys ?? [strategy.mergeKey], defaults: override?.defaults ?? {} };
}

/** Where each kind keeps its PodSpec. */
const POD_SPEC: Readonly<Record<string, string>> = {
  Pod: 'spec',
  PodTemplate: 'template.spec',
  ReplicationController: 'spec.template.spec',
  ReplicaSet: 'spec.template.spec',
  Deployment: 'spec.template.spec',
  StatefulSet: 'spec.template.spec',
  DaemonSet: 'spec.template.spec',
  Job: 'spec.template.spec',
  CronJob: 'spec.jobTemplate.spec.template.spec',
};

/** Fields holding a metav1.LabelSelector (`+structType=atomic`) or an atomic selector map. */
const SELECTORS: Readonly<Record<string, readonly string[]>> = {
  ReplicaSet: ['spec.selector'],
  Deployment: ['spec.selector'],
  StatefulSet: ['spec.selector'],
  DaemonSet: ['spec.selector'],
  Job: ['spec.selector'],
  CronJob: ['spec.jobTemplate.spec.selector'],
  // ServiceSpec.selector is a map[string]string marked `+mapType=atomic`.
  Service: ['spec.selector'],
  NetworkPolicy: ['spec.podSelector'],
};

/**
 * Whether the map at `path` is owned as a whole: label selectors (`+structType=atomic`), the
 * Service selector and a pod's `nodeSelector` (`+mapType=atomic`), and the elements of
 * `ownerReferences` and `imagePullSecrets` (OwnerReference and LocalObjectReference are
 * `+structType=atomic`, so an element shows as `k:{"uid":"..."}: {}`). Every other map is
 * granular: each of its fields is owned separately.
 */
export function isAtomicMap(kind: string, path: string): boolean {
  if (path === 'metadata.ownerReferences[]') return true;
  if (SELECTORS[kind]?.includes(path)) return true;
  const podSpec = Object.hasOwn(POD_SPEC, kind) ? POD_SPEC[kind] : undefined;
  return podSpec !== undefined && (path === `${podSpec}.nodeSelector` || path === `${podSpec}.imagePullSecrets[]`);
}

/** A field present in the zero value of a kind's Go type, and whether it is a list. */
export type ZeroValueField = readonly [path: string, list?: 'list'];

const podTemplate = (p: string): ZeroValueField[] => [[p], [`${p}.metadata`], [`${p}.spec`], [`${p}.spec.containers`, 'list']];

/**
 * The maps and lists the zero value of each built-in kind's Go type carries (struct fields and
 * slices without `omitempty`). Upstream compares a create against that zero value, so creating
 * `spec` or a pod template's `containers` list does not make the creator own the node itself,
 * while creating `metadata.labels`, a ConfigMap's `data` or a container's `ports` does (they show
 * as `.: {}` in FieldsV1). Custom resources (Gateway API, Calico) start from an empty object.
 */
export const ZERO_VALUE_FIELDS: Readonly<Record<string, readonly ZeroValueField[]>> = {
  Pod: [['spec'], ['spec.containers', 'list'], ['status']],
  PodTemplate: podTemplate('template'),
  ReplicationController: [['spec'], ['status']],
  ReplicaSet: [['spec'], ...podTemplate('spec.template'), ['status']],
  Deployment: [['spec'], ...podTemplate('spec.template'), ['spec.strategy'], ['status']],
  StatefulSet: [['spec'], ...podTemplate('spec.template'), ['spec.updateStrategy'], ['status']],
  DaemonSet: [['spec'], ...podTemplate('spec.template'), ['spec.updateStrategy'], ['status']],
  Job: [['spec'], ...podTemplate('spec.template'), ['status']],
  CronJob: [['spec'], ['spec.jobTemplate'], ['spec.jobTemplate.metadata'], ['spec.jobTemplate.spec'], ...podTemplate('spec.jobTemplate.spec.template'), ['status']],
  Service: [['spec'], ['status'], ['status.loadBalancer']],
  Node: [['spec'], ['status'], ['status.daemonEndpoints'], ['status.daemonEndpoints.kubeletEndpoint'], ['status.nodeInfo']],
  Namespace: [['spec'], ['status']],
  Event: [['involvedObject'], ['source']],
  Ingress: [['spec'], ['status'], ['status.loadBalancer']],
  IngressClass: [['spec']],
  NetworkPolicy: [['spec'], ['spec.podSelector']],
};

/** API groups whose kinds are compiled-in Go types (the rest are custom resources). */
export const BUILTIN_GROUPS: ReadonlySet<string> = new Set(['', 'apps', 'batch', 'networking.k8s.io', 'discovery.k8s.io', 'policy']);
