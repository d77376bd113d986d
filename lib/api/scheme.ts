/**
 * The scheme: every kind podnet stores, with its group, version, plural resource name, scope and
 * short names — the table `kubectl api-resources` prints. Lookups by kind, by resource and by any
 * alias kubectl accepts (`po`, `svc`, `deploy`, `endpointslices.discovery.k8s.io`, ...).
 */

import { PodnetError, UnknownKindError, type SourceLocation } from '../core/errors.js';
import { parseApiVersion } from './meta.js';

/** One stored kind. */
export interface KindInfo {
  group: string;
  version: string;
  kind: string;
  /** Plural, lower-case resource name as in the URL path. */
  resource: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  /** Subresources served for this kind. */
  subresources: { status?: boolean; scale?: boolean };
  /** Categories (`all`) as kubectl uses them. */
  categories: string[];
  /** Whether `spec` changes bump metadata.generation (kinds with a spec/status split). */
  hasGeneration: boolean;
}

/** `group/version` or `version` for the core group. */
export function apiVersionOf(info: Pick<KindInfo, 'group' | 'version'>): string {
  return info.group ? `${info.group}/${info.version}` : info.version;
}

function k(
  group: string,
  version: string,
  kind: string,
  resource: string,
  namespaced: boolean,
  shortNames: string[] = [],
  extra: Partial<Pick<KindInfo, 'subresources' | 'categories' | 'hasGeneration'>> = {},
): KindInfo {
  return {
    group,
    version,
    kind,
    resource,
    singular: kind.toLowerCase(),
    namespaced,
    shortNames,
    subresources: extra.subresources ?? {},
    categories: extra.categories ?? [],
    hasGeneration: extra.hasGeneration ?? false,
  };
}

const withStatus = { subresources: { status: true }, hasGeneration: true };
const all = ['all'];

/** Every kind podnet stores. Order is the order `podnet get all` and discovery list them. */
export const KINDS: readonly KindInfo[] = [
  k('', 'v1', 'Namespace', 'namespaces', false, ['ns'], { subresources: { status: true } }),
  k('', 'v1', 'Node', 'nodes', false, ['no'], { subresources: { status: true } }),
  k('', 'v1', 'Pod', 'pods', true, ['po'], { subresources: { status: true }, categories: all }),
  k('', 'v1', 'Service', 'services', true, ['svc'], { subresources: { status: true }, categories: all }),
  k('', 'v1', 'ConfigMap', 'configmaps', true, ['cm']),
  k('', 'v1', 'Secret', 'secrets', true),
  k('', 'v1', 'Event', 'events', true, ['ev']),
  k('coordination.k8s.io', 'v1', 'Lease', 'leases', true),
  k('discovery.k8s.io', 'v1', 'EndpointSlice', 'endpointslices', true),
  k('apps', 'v1', 'Deployment', 'deployments', true, ['deploy'], {
    subresources: { status: true, scale: true },
    categories: all,
    hasGeneration: true,
  }),
  k('apps', 'v1', 'ReplicaSet', 'replicasets', true, ['rs'], {
    subresources: { status: true, scale: true },
    categories: all,
    hasGeneration: true,
  }),
  k('apps', 'v1', 'StatefulSet', 'statefulsets', true, ['sts'], {
    subresources: { status: true, scale: true },
    categories: all,
    hasGeneration: true,
  }),
  k('apps', 'v1', 'DaemonSet', 'daemonsets', true, ['ds'], { ...withStatus, categories: all }),
  k('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', true, ['netpol'], { hasGeneration: true }),
  k('networking.k8s.io', 'v1', 'Ingress', 'ingresses', true, ['ing'], withStatus),
  k('networking.k8s.io', 'v1', 'IngressClass', 'ingressclasses', false, [], { hasGeneration: true }),
  k('gateway.networking.k8s.io', 'v1', 'GatewayClass', 'gatewayclasses', false, ['gc'], withStatus),
  k('gateway.networking.k8s.io', 'v1', 'Gateway', 'gateways', true, ['gtw'], withStatus),
  k('gateway.networking.k8s.io', 'v1', 'HTTPRoute', 'httproutes', true, [], withStatus),
  k('gateway.networking.k8s.io', 'v1beta1', 'ReferenceGrant', 'referencegrants', true, ['refgrant'], { hasGeneration: true }),
  k('projectcalico.org', 'v3', 'NetworkPolicy', 'networkpolicies', true, ['cnp', 'caliconetworkpolicy'], { hasGeneration: true }),
  k('projectcalico.org', 'v3', 'GlobalNetworkPolicy', 'globalnetworkpolicies', false, ['gnp'], { hasGeneration: true }),
  k('projectcalico.org', 'v3', 'IPPool', 'ippools', false, [], { hasGeneration: true }),
];

/** Kinds created before everything else when applying a set of objects. */
export const FIRST_KINDS = new Set(['Namespace', 'IngressClass', 'GatewayClass']);

/** `Kind` or `Kind.group` for messages and error listings. */
export function kindLabel(info: KindInfo): string {
  return info.group && KINDS.some((o) => o !== info && o.kind === info.kind) ? `${info.kind}.${info.group}` : info.kind;
}

/** The sorted list of known kinds, as shown in an unknown-kind error. */
export function knownKindNames(): string[] {
  return KINDS.map((i) => `${i.kind} (${apiVersionOf(i)})`).sort();
}

/** Also served, for the same kind, under these older or newer versions. */
const EXTRA_VERSIONS: Record<string, string[]> = {
  'gateway.networking.k8s.io/HTTPRoute': ['v1beta1'],
  'gateway.networking.k8s.io/Gateway': ['v1beta1'],
  'gateway.networking.k8s.io/GatewayClass': ['v1beta1'],
};

/** Finds the kind for an apiVersion and kind, as an object in a manifest names it. */
export function lookupKind(apiVersion: string, kind: string): KindInfo | undefined {
  const { group, version } = parseApiVersion(apiVersion);
  return KINDS.find(
    (i) =>
      i.group === group &&
      i.kind === kind &&
      (i.version === version || (EXTRA_VERSIONS[`${group}/${kind}`] ?? []).includes(version)),
  );
}

/** Like {@link lookupKind}, but throws {@link UnknownKindError} listing the known kinds. */
export function requireKind(apiVersion: string, kind: string, source?: SourceLocation): KindInfo {
  const info = lookupKind(apiVersion, kind);
  if (!info) throw new UnknownKindError(apiVersion, kind, knownKindNames(), source);
  return info;
}

/** Finds a kind by its resource, in the URL's group and version. */
export function lookupResource(group: string, version: string, resource: string): KindInfo | undefined {
  return KINDS.find((i) => i.group === group && i.resource === resource && i.version === version);
}

/**
 * Like {@link resolveResourceName}, but throws the error kubectl prints for an unknown resource
 * type (code PODNET_UNKNOWN_RESOURCE), listing the known kinds.
 */
export function resolveKind(name: string): KindInfo {
  const info = resolveResourceName(name);
  if (!info) {
    throw new PodnetError('PODNET_UNKNOWN_RESOURCE', `the server doesn't have a resource type "${name}"; known: ${knownKindNames().join(', ')}`);
  }
  return info;
}

/**
 * Resolves what a user types after `get`: a plural, singular, short name or kind, optionally
 * qualified by group (`networkpolicies.projectcalico.org`). Unqualified names prefer the
 * built-in Kubernetes groups over CRD-like ones, as kubectl's discovery ordering does.
 */
export function resolveResourceName(name: string): KindInfo | undefined {
  const lower = name.toLowerCase();
  const dot = lower.indexOf('.');
  const base = dot < 0 ? lower : lower.slice(0, dot);
  const group = dot < 0 ? undefined : lower.slice(dot + 1);
  const candidates = KINDS.filter(
    (i) =>
      (group === undefined || i.group === group || (group === 'core' && i.group === '')) &&
      (i.resource === base || i.singular === base || i.kind.toLowerCase() === base || i.shortNames.includes(base)),
  );
  return candidates[0];
}
