/**
 * API discovery documents, derived from the scheme: what a kube-apiserver answers on `/version`,
 * `/api`, `/apis`, `/apis/<group>`, `/api/v1` and `/apis/<group>/<version>`, in both the legacy
 * shapes (APIVersions, APIGroupList, APIGroup, APIResourceList) and the aggregated shape of
 * KEP-3352 (`apidiscovery.k8s.io/v2` APIGroupDiscoveryList, and `v2beta1` with the same fields).
 *
 * Pure functions returning plain JSON; the HTTP server wires them in. Field names, omissions and
 * ordering follow the upstream Go types and handlers:
 * - k8s.io/apimachinery/pkg/apis/meta/v1 types.go (APIVersions, APIGroup, APIResource),
 * - k8s.io/api/apidiscovery/v2 types.go (APIGroupDiscovery, APIResourceDiscovery, ...),
 * - k8s.io/apiserver/pkg/endpoints/discovery/aggregated (handler.go: group order by APIService
 *   priority, versions by priority then kube-aware version order; wrapper.go and negotiation.go:
 *   `Accept` parameters `g`, `v`, `as` select the aggregated document; etag.go: the ETag is the
 *   upper-case hex SHA-512 of the JSON body),
 * - k8s.io/apiserver/pkg/endpoints/discovery storageversionhash.go (StorageVersionHash).
 *
 * Only what podnet serves is advertised: every kind in {@link KINDS}, its `status` and `scale`
 * subresources as KINDS declares them, and the extra versions the scheme accepts for a kind (the
 * Gateway API kinds at `v1beta1`). No `pods/log`, `namespaces/finalize`, `events.k8s.io`, ...
 */

import { createHash } from 'node:crypto';
import { KINDS, lookupKind, type KindInfo } from '../../api/scheme.js';
import { KUBERNETES_VERSION } from '../../api/cluster.js';

// ---------------------------------------------------------------------------------------------
// Served group-versions
// ---------------------------------------------------------------------------------------------

/** One served group-version and the kinds served in it. */
export interface ServedGroupVersion {
  group: string;
  version: string;
  /** `v1` for the core group, `group/version` otherwise. */
  groupVersion: string;
  /** The kinds served here, sorted by resource name as the apiserver lists them. */
  kinds: KindInfo[];
}

/**
 * Versions the scheme probes for extra served versions of a kind. The scheme keeps its table of
 * extra versions private; {@link lookupKind} answers for any version it accepts, so asking it
 * about the usual Kubernetes version names finds them.
 */
const CANDIDATE_VERSIONS = ['v1', 'v1beta1', 'v1beta2', 'v1beta3', 'v1alpha1', 'v1alpha2', 'v1alpha3', 'v2', 'v2beta1', 'v2beta2', 'v3'];

/** Every version a kind is served at: its own (the storage version) first, then the extra ones. */
export function servedVersionsOf(info: KindInfo): string[] {
  const extra = CANDIDATE_VERSIONS.filter(
    (v) => v !== info.version && lookupKind(info.group ? `${info.group}/${v}` : v, info.kind) === info,
  );
  return [info.version, ...extra];
}

/**
 * Group priorities, as kube-aggregator's APIService priorities order `/apis` (higher first, ties by
 * name). Custom resource groups get 1000, like every CRD.
 */
const GROUP_PRIORITY: Record<string, number> = {
  '': 18000,
  apps: 17800,
  'networking.k8s.io': 17200,
  'coordination.k8s.io': 16500,
  'discovery.k8s.io': 16200,
};

/**
 * Groups podnet serves as custom resources, as a cluster with the Gateway API and Calico CRDs
 * does: listed after the built-in groups, with the CRD handler's verb order, no strategic merge
 * patch (the resource handlers refuse it for these groups too).
 */
const CUSTOM_RESOURCE_GROUPS = new Set(['gateway.networking.k8s.io', 'projectcalico.org']);

/** Whether a group is served as custom resources (see {@link CUSTOM_RESOURCE_GROUPS}). */
export function isCustomResourceGroup(group: string): boolean {
  return CUSTOM_RESOURCE_GROUPS.has(group);
}

/**
 * Kube-aware version order (apimachinery CompareKubeAwareVersionStrings): GA before beta before
 * alpha, higher numbers first, anything else after, by name.
 */
export function compareKubeAwareVersions(a: string, b: string): number {
  const key = (v: string): [number, number, number, number] | undefined => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return undefined;
    const stability = m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2;
    return [0, Number(m[1]), stability, Number(m[3] ?? 0)];
  };
  const ka = key(a);
  const kb = key(b);
  if (!ka && !kb) return a < b ? -1 : a > b ? 1 : 0;
  if (!ka) return 1;
  if (!kb) return -1;
  if (ka[2] !== kb[2]) return kb[2] - ka[2];
  if (ka[1] !== kb[1]) return kb[1] - ka[1];
  return kb[3] - ka[3];
}

function groupPriority(group: string): number {
  return GROUP_PRIORITY[group] ?? 1000;
}

let servedCache: ServedGroupVersion[] | undefined;

/**
 * Every served group-version in discovery order: the core group first, then groups by priority
 * (ties by name), each group's versions preferred first.
 */
export function servedGroupVersions(): ServedGroupVersion[] {
  if (servedCache) return servedCache;
  const byGv = new Map<string, ServedGroupVersion>();
  for (const info of KINDS) {
    for (const version of servedVersionsOf(info)) {
      const groupVersion = info.group ? `${info.group}/${version}` : version;
      let gv = byGv.get(groupVersion);
      if (!gv) byGv.set(groupVersion, (gv = { group: info.group, version, groupVersion, kinds: [] }));
      gv.kinds.push(info);
    }
  }
  const list = [...byGv.values()];
  for (const gv of list) gv.kinds.sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
  list.sort(
    (a, b) =>
      groupPriority(b.group) - groupPriority(a.group) ||
      (a.group < b.group ? -1 : a.group > b.group ? 1 : 0) ||
      compareKubeAwareVersions(a.version, b.version),
  );
  servedCache = list;
  return list;
}

/** The served group names in discovery order, the core group (`""`) first. */
export function servedGroups(): string[] {
  return [...new Set(servedGroupVersions().map((gv) => gv.group))];
}

/** The served group-version for `v1` or `group/version`, if any. */
export function servedGroupVersion(groupVersion: string): ServedGroupVersion | undefined {
  return servedGroupVersions().find((gv) => gv.groupVersion === groupVersion);
}

/**
 * The kind behind a URL's group, version and plural resource — including the extra versions a
 * kind is served at (`/apis/gateway.networking.k8s.io/v1beta1/httproutes`).
 */
export function servedResource(group: string, version: string, resource: string): KindInfo | undefined {
  return servedGroupVersion(group ? `${group}/${version}` : version)?.kinds.find((k) => k.resource === resource);
}

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

/** The verbs of a subresource (`status`, `scale`): get, patch, update. */
export const SUBRESOURCE_VERBS = ['get', 'patch', 'update'];

/** The verbs the apiserver lists for a resource, in its order. */
export function verbsOf(info: KindInfo): string[] {
  if (isCustomResourceGroup(info.group)) {
    // apiextensions-apiserver's CRD discovery lists verbs in this (unsorted) order.
    return ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];
  }
  // The namespace registry has no DeleteCollection (a namespace is deleted one at a time).
  if (info.group === '' && info.resource === 'namespaces') return ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
  return ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
}

/** A kind's served subresources, sorted by name as the apiserver lists them. */
export function subresourcesOf(info: KindInfo): ('scale' | 'status')[] {
  const out: ('scale' | 'status')[] = [];
  if (info.subresources.scale) out.push('scale');
  if (info.subresources.status) out.push('status');
  return out;
}

/** The group, version and kind a subresource returns: the parent kind, or autoscaling/v1 Scale. */
export function subresourceKind(info: KindInfo, version: string, sub: 'scale' | 'status'): { group: string; version: string; kind: string } {
  return sub === 'scale' ? { group: 'autoscaling', version: 'v1', kind: 'Scale' } : { group: info.group, version, kind: info.kind };
}

/**
 * StorageVersionHash: base64 of the first 8 bytes of sha256("group/version/kind") of the storage
 * version, so a kind served at several versions has one hash (storageversionhash.go).
 */
export function storageVersionHash(info: KindInfo): string {
  return createHash('sha256').update(`${info.group}/${info.version}/${info.kind}`).digest().subarray(0, 8).toString('base64');
}

/**
 * Upper-case hex SHA-512 of a body's JSON, as the apiserver computes discovery and OpenAPI ETags
 * (aggregated/etag.go `calculateETag`, kube-openapi handler3). The ETag header is this, quoted.
 */
export function contentHash(body: unknown): string {
  return createHash('sha512').update(JSON.stringify(body)).digest('hex').toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// /version
// ---------------------------------------------------------------------------------------------

/** `/version` body: k8s.io/apimachinery/pkg/version.Info. */
export interface VersionInfo {
  major: string;
  minor: string;
  gitVersion: string;
  gitCommit: string;
  gitTreeState: string;
  buildDate: string;
  goVersion: string;
  compiler: string;
  platform: string;
}

/** Build facts of released kube-apiservers, as their `/version` reports them. */
const RELEASES: Record<string, Pick<VersionInfo, 'gitCommit' | 'buildDate' | 'goVersion'>> = {
  'v1.32.0': { gitCommit: '70d3cc986aa8221cd1dfb1121852688902d3bf53', buildDate: '2024-12-11T17:59:15Z', goVersion: 'go1.23.3' },
};

/**
 * The `/version` body of a kube-apiserver of `gitVersion` (default {@link KUBERNETES_VERSION}),
 * with the real release's commit, build date and Go version when podnet knows them. Clients
 * (the kubectl version dispatcher, client-go's skew checks) read `major`, `minor`, `gitVersion`.
 */
export function versionInfo(gitVersion: string = KUBERNETES_VERSION): VersionInfo {
  const m = /^v?(\d+)\.(\d+)/.exec(gitVersion);
  const release = RELEASES[gitVersion];
  return {
    major: m?.[1] ?? '',
    minor: m?.[2] ?? '',
    gitVersion,
    gitCommit: release?.gitCommit ?? '',
    gitTreeState: 'clean',
    buildDate: release?.buildDate ?? '1970-01-01T00:00:00Z',
    goVersion: release?.goVersion ?? 'go1.23.3',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

// ---------------------------------------------------------------------------------------------
// Legacy discovery (meta/v1 APIVersions, APIGroupList, APIGroup, APIResourceList)
// ---------------------------------------------------------------------------------------------

/** `/api`: the core group's versions. As upstream, the body has a kind but no apiVersion. */
export function apiVersions(serverAddress: string): {
  kind: 'APIVersions';
  versions: string[];
  serverAddressByClientCIDRs: { clientCIDR: string; serverAddress: string }[];
} {
  return {
    kind: 'APIVersions',
    versions: servedGroupVersions()
      .filter((gv) => gv.group === '')
      .map((gv) => gv.version),
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

/** meta/v1 GroupVersionForDiscovery. */
export interface GroupVersionForDiscovery {
  groupVersion: string;
  version: string;
}

/** meta/v1 APIGroup as listed in an APIGroupList. */
export interface APIGroupEntry {
  name: string;
  versions: GroupVersionForDiscovery[];
  preferredVersion: GroupVersionForDiscovery;
}

function groupEntry(group: string): APIGroupEntry | undefined {
  const versions = servedGroupVersions()
    .filter((gv) => gv.group === group)
    .map((gv) => ({ groupVersion: gv.groupVersion, version: gv.version }));
  if (versions.length === 0) return undefined;
  return { name: group, versions, preferredVersion: versions[0]! };
}

/** `/apis`: every named group with its versions, the preferred version first. */
export function apiGroupList(): { kind: 'APIGroupList'; apiVersion: 'v1'; groups: APIGroupEntry[] } {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: servedGroups()
      .filter((g) => g !== '')
      .map((g) => groupEntry(g)!),
  };
}

/** `/apis/<group>`: one named group, or undefined when podnet does not serve it. */
export function apiGroup(group: string): ({ kind: 'APIGroup'; apiVersion: 'v1' } & APIGroupEntry) | undefined {
  if (group === '') return undefined;
  const entry = groupEntry(group);
  return entry && { kind: 'APIGroup', apiVersion: 'v1', ...entry };
}

/** meta/v1 APIResource, with upstream's field order and omissions. */
export interface APIResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  group?: string;
  version?: string;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  storageVersionHash?: string;
}

/** The APIResourceList entries of one kind: the resource, then its subresources. */
function resourceEntries(info: KindInfo, version: string): APIResource[] {
  const main: APIResource = {
    name: info.resource,
    singularName: info.singular,
    namespaced: info.namespaced,
    kind: info.kind,
    verbs: verbsOf(info),
  };
  if (info.shortNames.length) main.shortNames = [...info.shortNames];
  if (info.categories.length) main.categories = [...info.categories];
  main.storageVersionHash = storageVersionHash(info);
  const out = [main];
  for (const sub of subresourcesOf(info)) {
    const gvk = subresourceKind(info, version, sub);
    // A subresource returning another group's kind (scale: autoscaling/v1 Scale) names its group
    // and version; one returning the parent kind leaves them out.
    const other = gvk.group !== info.group || gvk.version !== version;
    out.push({
      name: `${info.resource}/${sub}`,
      singularName: '',
      namespaced: info.namespaced,
      ...(other ? { group: gvk.group, version: gvk.version } : {}),
      kind: gvk.kind,
      verbs: [...SUBRESOURCE_VERBS],
    });
  }
  return out;
}

/**
 * `/api/v1` (group `""`) or `/apis/<group>/<version>`: the resources of one group-version, sorted
 * by name with subresources after their resource (`pods`, `pods/status`). Core `/api/v1` carries
 * no apiVersion, as upstream. Undefined when the group-version is not served.
 */
export function apiResourceList(
  group: string,
  version: string,
): { kind: 'APIResourceList'; apiVersion?: 'v1'; groupVersion: string; resources: APIResource[] } | undefined {
  const gv = servedGroupVersion(group ? `${group}/${version}` : version);
  if (!gv) return undefined;
  const resources = gv.kinds.flatMap((info) => resourceEntries(info, gv.version));
  return gv.group === ''
    ? { kind: 'APIResourceList', groupVersion: gv.groupVersion, resources }
    : { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv.groupVersion, resources };
}

// ---------------------------------------------------------------------------------------------
// Aggregated discovery (KEP-3352, apidiscovery.k8s.io/v2 and v2beta1)
// ---------------------------------------------------------------------------------------------

/** The aggregated discovery versions podnet serves, preferred first. */
export type AggregatedDiscoveryVersion = 'v2' | 'v2beta1';

/** metav1.GroupVersionKind (no omitempty: the core group is `""`). */
export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** apidiscovery APISubresourceDiscovery. */
export interface APISubresourceDiscovery {
  subresource: string;
  responseKind?: GroupVersionKind;
  acceptedTypes?: GroupVersionKind[];
  verbs: string[];
}

/** apidiscovery APIResourceDiscovery. */
export interface APIResourceDiscovery {
  resource: string;
  responseKind?: GroupVersionKind;
  scope: 'Cluster' | 'Namespaced';
  singularResource: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  subresources?: APISubresourceDiscovery[];
}

/** apidiscovery APIVersionDiscovery. */
export interface APIVersionDiscovery {
  version: string;
  resources?: APIResourceDiscovery[];
  freshness?: 'Current' | 'Stale';
}

/** apidiscovery APIGroupDiscovery. Metadata is an ObjectMeta with only the name. */
export interface APIGroupDiscovery {
  metadata: { name?: string; creationTimestamp: null };
  versions?: APIVersionDiscovery[];
}

/** apidiscovery APIGroupDiscoveryList. */
export interface APIGroupDiscoveryList {
  kind: 'APIGroupDiscoveryList';
  apiVersion: `apidiscovery.k8s.io/${AggregatedDiscoveryVersion}`;
  metadata: Record<string, never>;
  items: APIGroupDiscovery[];
}

function resourceDiscovery(info: KindInfo, version: string): APIResourceDiscovery {
  const out: APIResourceDiscovery = {
    resource: info.resource,
    responseKind: { group: info.group, version, kind: info.kind },
    scope: info.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: info.singular,
    verbs: verbsOf(info),
  };
  if (info.shortNames.length) out.shortNames = [...info.shortNames];
  if (info.categories.length) out.categories = [...info.categories];
  const subs = subresourcesOf(info);
  if (subs.length) {
    out.subresources = subs.map((sub) => ({
      subresource: sub,
      responseKind: subresourceKind(info, version, sub),
      verbs: [...SUBRESOURCE_VERBS],
    }));
  }
  return out;
}

/**
 * The aggregated discovery document for `/api` (the core group, whose name is empty) or `/apis`
 * (every named group), as an APIGroupDiscoveryList of `version` (v2 by default; v2beta1 has the
 * same fields). Groups and versions come in {@link servedGroupVersions} order.
 */
export function aggregatedDiscovery(root: 'api' | 'apis', version: AggregatedDiscoveryVersion = 'v2'): APIGroupDiscoveryList {
  const items: APIGroupDiscovery[] = [];
  for (const group of servedGroups()) {
    if ((group === '') !== (root === 'api')) continue;
    items.push({
      metadata: group === '' ? { creationTimestamp: null } : { name: group, creationTimestamp: null },
      versions: servedGroupVersions()
        .filter((gv) => gv.group === group)
        .map((gv) => ({
          version: gv.version,
          resources: gv.kinds.map((info) => resourceDiscovery(info, gv.version)),
          freshness: 'Current',
        })),
    });
  }
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}

/** The Content-Type an aggregated discovery response of `version` must carry. */
export function discoveryContentType(version: AggregatedDiscoveryVersion = 'v2'): string {
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
}

/** `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`. */
export const AGGREGATED_DISCOVERY_CONTENT_TYPE = discoveryContentType('v2');

/** What a discovery request's `Accept` header asks for, and the Content-Type to answer with. */
export type DiscoveryNegotiation =
  | { kind: 'aggregated'; version: AggregatedDiscoveryVersion; contentType: string }
  | { kind: 'legacy'; contentType: 'application/json' };

interface AcceptClause {
  type: string;
  subType: string;
  q: number;
  params: Record<string, string>;
}

/** Parses an `Accept` header as goautoneg does: clauses sorted by q, then by specificity (stably). */
function parseAccept(header: string): AcceptClause[] {
  const clauses: AcceptClause[] = [];
  for (const part of header.split(',')) {
    const [range, ...rest] = part.split(';').map((s) => s.trim());
    if (!range) continue;
    const slash = range.indexOf('/');
    const type = (slash < 0 ? range : range.slice(0, slash)).toLowerCase();
    const subType = (slash < 0 ? '*' : range.slice(slash + 1)).toLowerCase();
    const params: Record<string, string> = {};
    let q = 1;
    for (const p of rest) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const key = p.slice(0, eq).trim();
      const value = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      if (key === 'q') q = Number.parseFloat(value);
      else params[key] = value;
    }
    if (Number.isNaN(q)) q = 0;
    clauses.push({ type, subType, q, params });
  }
  const rank = (c: AcceptClause) => (c.type === '*' ? 0 : c.subType === '*' ? 1 : 2);
  return clauses.sort((a, b) => b.q - a.q || rank(b) - rank(a));
}

/**
 * Negotiates a discovery response from the request's `Accept` header, as the apiserver's
 * discovery wrapper does: the first acceptable clause (by q, then specificity, then order) that
 * names JSON wins; `g=apidiscovery.k8s.io;v=v2|v2beta1;as=APIGroupDiscoveryList` selects the
 * aggregated document, a clause asking for any other conversion is skipped, a plain one selects
 * the legacy document. Unknown parameters (`profile=nopeer`) are ignored. podnet serves JSON
 * only, so protobuf clauses are skipped; with nothing acceptable the answer is legacy JSON, as
 * upstream falls back to its first media type.
 */
export function negotiateDiscovery(acceptHeader: string | undefined): DiscoveryNegotiation {
  const legacy: DiscoveryNegotiation = { kind: 'legacy', contentType: 'application/json' };
  for (const c of parseAccept(acceptHeader ?? '')) {
    if (c.q <= 0) continue;
    const json = (c.type === 'application' && (c.subType === 'json' || c.subType === '*')) || (c.type === '*' && c.subType === '*');
    if (!json) continue;
    const { g, v, as } = c.params;
    if (g === undefined && v === undefined && as === undefined) return legacy;
    if (g === 'apidiscovery.k8s.io' && as === 'APIGroupDiscoveryList' && (v === 'v2' || v === 'v2beta1')) {
      return { kind: 'aggregated', version: v, contentType: discoveryContentType(v) };
    }
  }
  return legacy;
}
