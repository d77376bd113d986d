/**
 * The EndpointSlice controller (kube-controller-manager's `endpointslice`), following
 * k8s.io/kubernetes/pkg/controller/endpointslice and its reconciler in
 * k8s.io/endpointslice:
 *
 * - Every Service with a selector gets slices named `<service>-<5 chars>` (generateName), one set
 *   per address type of its `ipFamilies`, labelled `kubernetes.io/service-name`,
 *   `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io` (plus the Service's
 *   own labels, and `service.kubernetes.io/headless` for headless Services) and controlled by the
 *   Service (ownerReference with controller and blockOwnerDeletion).
 * - An endpoint per pod that has an address of the family and is not Succeeded/Failed:
 *   conditions `ready` (Ready and not terminating, or `publishNotReadyAddresses`), `serving`
 *   (Ready, whether terminating or not), `terminating` (deletionTimestamp set); `hostname` only
 *   when the pod's `hostname` is set and its `subdomain` is the Service's name; `targetRef`,
 *   `nodeName`, `zone` from the node's `topology.kubernetes.io/zone` label.
 * - Hints (k8s.io/endpointslice trafficdist.go): with `trafficDistribution` PreferClose or
 *   PreferSameZone, each *ready* endpoint that has a zone gets `hints.forZones: [{name: zone}]`;
 *   PreferSameNode adds `hints.forNodes: [{name: nodeName}]` as well; otherwise endpoints have no
 *   hints (a Service that drops trafficDistribution loses them). The
 *   `service.kubernetes.io/topology-mode: Auto` annotation takes precedence (upstream's topology
 *   cache) and is approximated by each endpoint's own zone.
 * - Ports are the Service's ports with `targetPort` resolved per pod (numbers as they are, names
 *   looked up by name and protocol in the pod's container ports — a port that does not resolve
 *   is left out for that pod); pods whose resolved ports differ go into different slices.
 * - At most `maxEndpointsPerSlice` (100) endpoints a slice. Existing slices are updated in place:
 *   endpoints that went away are removed, changed ones replaced, new ones fill slices that are
 *   being updated anyway, then one existing slice that can take them all, then new slices; a
 *   slice that would be deleted while another is created is reused instead (upstream's
 *   `finalize`). A Service with no endpoints keeps one empty placeholder slice per address type.
 *   Endpoints are kept sorted (by address, then pod name) inside a slice.
 * - Nothing is written when nothing changed; managed slices that someone else edits or deletes
 *   are repaired, extra ones deleted. Slices of selectorless Services that this controller does
 *   not manage are left alone; managed slices of a Service that lost its selector or became
 *   ExternalName are removed (upstream leaves them stale).
 * - With `kubernetesEndpoint`, it also keeps the `kubernetes` Service's slice (named
 *   `kubernetes`, labelled only `kubernetes.io/service-name`, as the apiserver's endpoint
 *   reconciler writes it) pointing at the API server's address.
 *
 * Not done: the `endpoints.kubernetes.io/last-change-trigger-time` annotation (it would change
 * every slice on every write), topology hints' capacity-based allocation across zones, and
 * EndpointSlice mirroring of user-written Endpoints.
 */

import { deepCopy, type KubeObject } from '../api/meta.js';
import { lookupKind } from '../api/scheme.js';
import { WellKnown, type Endpoint, type EndpointPort, type EndpointSlice, type Pod, type Service, type ServicePort } from '../api/types.js';
import { NotFoundError } from '../core/errors.js';
import { compareIPs, parseIP, type IPFamily } from '../core/ipnet.js';
import type { WatchEvent } from '../apiserver/store.js';
import { Controller, keyOfEvent, splitKey } from './controller.js';

/** The value of the managed-by label on slices this controller owns. */
export const ENDPOINTSLICE_CONTROLLER_NAME = WellKnown.endpointSliceController;

/** Default of {@link EndpointSliceControllerOptions.maxEndpointsPerSlice} (kube-controller-manager's). */
export const DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100;

/** Options of {@link EndpointSliceController}. */
export interface EndpointSliceControllerOptions {
  /** `--max-endpoints-per-slice`, 100 by default. */
  maxEndpointsPerSlice?: number;
  /** The API server's address and port: maintain the `kubernetes` Service's slice with it. */
  kubernetesEndpoint?: { address: string; port: number };
}

const SERVICE = lookupKind('v1', 'Service')!;
const POD = lookupKind('v1', 'Pod')!;
const NODE = lookupKind('v1', 'Node')!;
const ENDPOINTSLICE = lookupKind('discovery.k8s.io/v1', 'EndpointSlice')!;

const TOPOLOGY_MODE = 'service.kubernetes.io/topology-mode';
const TOPOLOGY_AWARE_HINTS = 'service.kubernetes.io/topology-aware-hints';
const KUBERNETES_KEY = 'default/kubernetes';

type AddressType = 'IPv4' | 'IPv6';
type Labels = Record<string, string>;

/** One slice-to-be: an address type, a port set and its endpoints keyed by pod. */
interface Group {
  addressType: AddressType;
  ports: EndpointPort[];
  portKey: string;
  endpoints: Map<string, Endpoint>;
}

/** The EndpointSlice controller. See the module header for the behaviour followed. */
export class EndpointSliceController extends Controller {
  readonly name = 'endpointslice';
  readonly #max: number;
  readonly #kubernetesEndpoint: { address: string; port: number } | undefined;

  /** Last seen labels of every pod, by `namespace/name`. */
  #podLabels = new Map<string, Labels>();
  /** namespace → `key=value` → pod names carrying that label. */
  #podIndex = new Map<string, Map<string, Set<string>>>();
  /** Selector of every Service that has one, by `namespace/name`. */
  #selectors = new Map<string, Labels>();
  /** namespace → `key=value` (the selector's first pair) → Service names. */
  #serviceIndex = new Map<string, Map<string, Set<string>>>();
  /** Managed slices by the Service key they name, and the reverse. */
  #slicesOf = new Map<string, Set<string>>();
  #serviceOfSlice = new Map<string, string>();
  /** Node zones as last seen, and the nodes each Service has endpoints on. */
  #zones = new Map<string, string | undefined>();
  #nodesOf = new Map<string, Set<string>>();
  /** True while this controller writes, so its own slice events are not queued again. */
  #writing = false;

  constructor(options: EndpointSliceControllerOptions = {}) {
    super();
    this.#max = Math.max(1, options.maxEndpointsPerSlice ?? DEFAULT_MAX_ENDPOINTS_PER_SLICE);
    this.#kubernetesEndpoint = options.kubernetesEndpoint;
  }

  protected setup(): void {
    this.watch(SERVICE, (e) => this.#onService(e));
    this.watch(POD, (e) => this.#onPod(e));
    this.watch(NODE, (e) => this.#onNode(e));
    this.watch(ENDPOINTSLICE, (e) => this.#onSlice(e));
  }

  // ---------------------------------------------------------------- event handlers

  #onService(e: WatchEvent): string {
    const svc = e.object as Service;
    const key = keyOfEvent(e);
    const ns = svc.metadata.namespace ?? '';
    const previous = this.#selectors.get(key);
    if (previous) removeFromIndex(this.#serviceIndex, ns, firstPair(previous), svc.metadata.name!);
    const selector = e.type === 'DELETED' ? undefined : svc.spec?.selector;
    if (selector && Object.keys(selector).length) {
      this.#selectors.set(key, { ...selector });
      addToIndex(this.#serviceIndex, ns, firstPair(selector), svc.metadata.name!);
    } else {
      this.#selectors.delete(key);
    }
    return key;
  }

  #onPod(e: WatchEvent): string[] {
    const pod = e.object;
    const ns = pod.metadata.namespace ?? '';
    const name = pod.metadata.name!;
    const key = `${ns}/${name}`;
    const before = this.#podLabels.get(key);
    const after = e.type === 'DELETED' ? undefined : { ...(pod.metadata.labels ?? {}) };
    if (before) for (const pair of pairs(before)) removeFromIndex(this.#podIndex, ns, pair, name);
    if (after) {
      this.#podLabels.set(key, after);
      for (const pair of pairs(after)) addToIndex(this.#podIndex, ns, pair, name);
    } else {
      this.#podLabels.delete(key);
    }
    const keys = new Set<string>();
    for (const labels of [before, after]) if (labels) for (const k of this.#servicesSelecting(ns, labels)) keys.add(k);
    return [...keys];
  }

  #onNode(e: WatchEvent): string[] | undefined {
    const name = e.object.metadata.name!;
    const zone = e.type === 'DELETED' ? undefined : e.object.metadata.labels?.[WellKnown.zone];
    const known = this.#zones.has(name);
    const before = this.#zones.get(name);
    if (e.type === 'DELETED') this.#zones.delete(name);
    else this.#zones.set(name, zone);
    if (known && before === zone) return undefined;
    const keys: string[] = [];
    for (const [svcKey, nodes] of this.#nodesOf) if (nodes.has(name)) keys.push(svcKey);
    return keys;
  }

  #onSlice(e: WatchEvent): string[] | undefined {
    const slice = e.object;
    const sliceKey = keyOfEvent(e);
    const ns = slice.metadata.namespace ?? '';
    const labels = slice.metadata.labels ?? {};
    const before = this.#serviceOfSlice.get(sliceKey);
    const managed = labels[WellKnown.managedBy] === ENDPOINTSLICE_CONTROLLER_NAME && !!labels[WellKnown.serviceName];
    const after = e.type !== 'DELETED' && managed ? `${ns}/${labels[WellKnown.serviceName]}` : undefined;
    if (before !== after) {
      if (before) this.#slicesOf.get(before)?.delete(slice.metadata.name!);
      if (before && !this.#slicesOf.get(before)?.size) this.#slicesOf.delete(before);
      if (after) {
        const set = this.#slicesOf.get(after) ?? new Set();
        set.add(slice.metadata.name!);
        this.#slicesOf.set(after, set);
        this.#serviceOfSlice.set(sliceKey, after);
      } else {
        this.#serviceOfSlice.delete(sliceKey);
      }
    }
    if (this.#writing) return undefined;
    const keys = new Set<string>();
    if (before) keys.add(before);
    if (after) keys.add(after);
    if (this.#kubernetesEndpoint && sliceKey === KUBERNETES_KEY) keys.add(KUBERNETES_KEY);
    return [...keys];
  }

  /** Keys of the Services in `ns` whose selector matches `labels`. */
  #servicesSelecting(ns: string, labels: Labels): string[] {
    const index = this.#serviceIndex.get(ns);
    if (!index) return [];
    const out: string[] = [];
    for (const pair of pairs(labels)) {
      for (const name of index.get(pair) ?? []) {
        const key = `${ns}/${name}`;
        if (selectorMatches(this.#selectors.get(key), labels)) out.push(key);
      }
    }
    return out;
  }

  /** The pods in `ns` that `selector` matches, by name. */
  #podsSelected(ns: string, selector: Labels): Pod[] {
    const index = this.#podIndex.get(ns);
    if (!index) return [];
    let candidates: Set<string> | undefined;
    for (const pair of pairs(selector)) {
      const set = index.get(pair);
      if (!set) return [];
      if (!candidates || set.size < candidates.size) candidates = set;
    }
    const out: Pod[] = [];
    for (const name of [...(candidates ?? [])].sort()) {
      if (!selectorMatches(selector, this.#podLabels.get(`${ns}/${name}`))) continue;
      const pod = this.ctx.store.peek(POD, ns, name) as Pod | undefined;
      if (pod) out.push(pod);
    }
    return out;
  }

  // ---------------------------------------------------------------- reconcile

  protected reconcile(key: string): void {
    if (key === KUBERNETES_KEY && this.#kubernetesEndpoint) {
      this.#reconcileKubernetes();
      return;
    }
    const { namespace, name } = splitKey(key);
    const svc = this.ctx.store.peek(SERVICE, namespace, name) as Service | undefined;
    const existing = this.#managedSlices(key);
    if (svc?.metadata.deletionTimestamp) return; // the garbage collector takes the slices
    if (!svc || svc.spec?.type === 'ExternalName' || !this.#selectors.has(key)) {
      for (const slice of existing) this.#delete(slice);
      this.#nodesOf.delete(key);
      return;
    }

    const groups = this.#desiredGroups(svc);
    const labels = sliceLabels(svc);
    const owner = {
      apiVersion: 'v1',
      kind: 'Service',
      name: svc.metadata.name!,
      uid: svc.metadata.uid!,
      controller: true,
      blockOwnerDeletion: true,
    };
    const addressTypes = addressTypesOf(svc);
    const toCreate: EndpointSlice[] = [];
    const toUpdate: EndpointSlice[] = [];
    const toDelete: EndpointSlice[] = [];
    const unchanged: EndpointSlice[] = [];

    for (const slice of existing) {
      // Slices of an older Service of the same name, or of an address type no longer served.
      const owned = slice.metadata.ownerReferences?.some((r) => r.uid === svc.metadata.uid && r.controller);
      if (!owned || !addressTypes.includes(slice.addressType as AddressType)) toDelete.push(slice);
    }
    const live = existing.filter((s) => !toDelete.includes(s));

    for (const addressType of addressTypes) {
      const mine = live.filter((s) => s.addressType === addressType);
      const wanted = [...groups.values()].filter((g) => g.addressType === addressType);
      const plan = this.#planAddressType(mine, wanted, addressType);
      toCreate.push(...plan.create);
      toUpdate.push(...plan.update);
      toDelete.push(...plan.delete);
      unchanged.push(...plan.keep);
    }

    // Reuse slices that would be deleted for slices that would be created (upstream's finalize).
    for (let i = 0; i < toDelete.length && toCreate.length; ) {
      const old = toDelete[i]!;
      const owned = old.metadata.ownerReferences?.some((r) => r.uid === svc.metadata.uid);
      const j = toCreate.findIndex((c) => c.addressType === old.addressType);
      if (owned && j >= 0) {
        const recycled = deepCopy(old) as EndpointSlice;
        recycled.endpoints = toCreate[j]!.endpoints;
        recycled.ports = toCreate[j]!.ports;
        toCreate.splice(j, 1);
        toUpdate.push(recycled);
        toDelete.splice(i, 1);
      } else {
        i++;
      }
    }

    for (const slice of [...toUpdate, ...unchanged]) {
      const stored = this.ctx.store.peek(ENDPOINTSLICE, namespace, slice.metadata.name!) as EndpointSlice | undefined;
      if (!stored) continue;
      const next = deepCopy(stored) as EndpointSlice;
      next.metadata.labels = { ...labels };
      next.metadata.ownerReferences = [owner];
      next.endpoints = slice.endpoints;
      next.ports = slice.ports;
      if (sameSlice(stored, next)) continue;
      this.#write(() => this.ctx.store.update(next));
    }
    for (const slice of toCreate) {
      const obj: EndpointSlice = {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { generateName: `${svc.metadata.name}-`, namespace, labels: { ...labels }, ownerReferences: [owner] },
        addressType: slice.addressType,
        endpoints: slice.endpoints,
        ports: slice.ports,
      };
      this.#write(() => this.ctx.store.create(obj));
    }
    for (const slice of toDelete) this.#delete(slice);

    const nodes = new Set<string>();
    for (const g of groups.values()) for (const ep of g.endpoints.values()) if (ep.nodeName) nodes.add(ep.nodeName);
    if (nodes.size) this.#nodesOf.set(key, nodes);
    else this.#nodesOf.delete(key);
  }

  /**
   * Plans the slices of one address type (upstream's `reconcileByAddressType` and
   * `reconcileByPortMapping`). Slices in `update`/`keep` carry their new endpoints and ports;
   * `create` entries are unnamed.
   */
  #planAddressType(
    existing: EndpointSlice[],
    groups: Group[],
    addressType: AddressType,
  ): { create: EndpointSlice[]; update: EndpointSlice[]; delete: EndpointSlice[]; keep: EndpointSlice[] } {
    const create: EndpointSlice[] = [];
    const update: EndpointSlice[] = [];
    const del: EndpointSlice[] = [];
    const keep: EndpointSlice[] = [];
    const byPorts = new Map<string, EndpointSlice[]>();
    for (const slice of existing) {
      const k = portKey(slice.ports ?? []);
      byPorts.set(k, [...(byPorts.get(k) ?? []), slice]);
    }
    const wanted = new Set(groups.map((g) => g.portKey));
    for (const [k, slices] of byPorts) if (!wanted.has(k)) del.push(...slices);

    for (const group of groups) {
      const slices = byPorts.get(group.portKey) ?? [];
      const placed = new Set<string>();
      const work: { slice: EndpointSlice; endpoints: Endpoint[]; changed: boolean }[] = [];
      for (const slice of slices) {
        const kept: Endpoint[] = [];
        let changed = false;
        for (const ep of slice.endpoints ?? []) {
          const pk = endpointKey(ep);
          const want = pk === undefined ? undefined : group.endpoints.get(pk);
          if (!want || placed.has(pk!)) {
            changed = true;
            continue;
          }
          placed.add(pk!);
          if (!deepEqual(ep, want)) changed = true;
          kept.push(want);
        }
        work.push({ slice, endpoints: kept, changed });
      }
      const remaining = [...group.endpoints].filter(([pk]) => !placed.has(pk)).map(([, ep]) => ep);
      remaining.sort(compareEndpoints);
      // 1. Fill slices that are being rewritten anyway, fullest first.
      for (const w of work.filter((w) => w.changed).sort((a, b) => b.endpoints.length - a.endpoints.length)) {
        while (remaining.length && w.endpoints.length < this.#max) w.endpoints.push(remaining.shift()!);
      }
      // 2. One untouched slice that can take all that is left.
      if (remaining.length) {
        const fit = work
          .filter((w) => !w.changed && w.endpoints.length + remaining.length <= this.#max)
          .sort((a, b) => b.endpoints.length - a.endpoints.length)[0];
        if (fit) {
          fit.endpoints.push(...remaining.splice(0));
          fit.changed = true;
        }
      }
      // 3. New slices for the rest.
      while (remaining.length) {
        create.push(newSlice(addressType, group.ports, remaining.splice(0, this.#max)));
      }
      for (const w of work) {
        if (!w.endpoints.length) {
          del.push(w.slice);
          continue;
        }
        w.endpoints.sort(compareEndpoints);
        const planned = { ...w.slice, endpoints: w.endpoints, ports: group.ports } as EndpointSlice;
        (w.changed ? update : keep).push(planned);
      }
    }

    // A Service without endpoints keeps one empty placeholder slice of the address type.
    if (!create.length && !update.length && !keep.length) {
      const placeholder = del.find((s) => !(s.endpoints ?? []).length && !(s.ports ?? []).length);
      if (placeholder) {
        del.splice(del.indexOf(placeholder), 1);
        keep.push({ ...placeholder, endpoints: [], ports: [] } as EndpointSlice);
      } else {
        create.push(newSlice(addressType, [], []));
      }
    }
    return { create, update, delete: del, keep };
  }

  /** The endpoints the Service should have, grouped by address type and resolved ports. */
  #desiredGroups(svc: Service): Map<string, Group> {
    const ns = svc.metadata.namespace ?? '';
    const pods = this.#podsSelected(ns, this.#selectors.get(`${ns}/${svc.metadata.name}`)!);
    const hints = hintMode(svc);
    const groups = new Map<string, Group>();
    for (const addressType of addressTypesOf(svc)) {
      for (const pod of pods) {
        if (!shouldPodBeInEndpoints(pod)) continue;
        const addresses = podAddresses(pod, addressType);
        if (!addresses.length) continue;
        const ports = endpointPorts(svc, pod);
        const pk = portKey(ports);
        const gk = `${addressType}|${pk}`;
        let group = groups.get(gk);
        if (!group) {
          group = { addressType, ports, portKey: pk, endpoints: new Map() };
          groups.set(gk, group);
        }
        group.endpoints.set(`${ns}/${pod.metadata.name}`, this.#podToEndpoint(pod, svc, addresses, hints));
      }
    }
    return groups;
  }

  /** upstream `podToEndpoint`. */
  #podToEndpoint(pod: Pod, svc: Service, addresses: string[], hints: HintMode): Endpoint {
    const serving = isPodReady(pod);
    const terminating = !!pod.metadata.deletionTimestamp;
    const ready = !!svc.spec.publishNotReadyAddresses || (serving && !terminating);
    const ep: Endpoint = { addresses, conditions: { ready, serving, terminating } };
    if (pod.spec?.hostname && pod.spec.subdomain === svc.metadata.name) ep.hostname = pod.spec.hostname;
    ep.targetRef = { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name!, uid: pod.metadata.uid };
    const nodeName = pod.spec?.nodeName;
    if (nodeName) {
      ep.nodeName = nodeName;
      const zone = this.ctx.store.peek(NODE, undefined, nodeName)?.metadata.labels?.[WellKnown.zone];
      if (zone) ep.zone = zone;
      // trafficdist's preferCloseHeuristic hints ready endpoints only; Auto hints every zoned one.
      if (hints === 'auto' ? zone : hints && ready) {
        const forZones = zone ? [{ name: zone }] : undefined;
        const forNodes = hints === 'zone+node' ? [{ name: nodeName }] : undefined;
        if (forZones || forNodes) ep.hints = { ...(forZones ? { forZones } : {}), ...(forNodes ? { forNodes } : {}) };
      }
    }
    return ep;
  }

  /** The slice the apiserver's endpoint reconciler keeps for the `kubernetes` Service. */
  #reconcileKubernetes(): void {
    const { store } = this.ctx;
    const endpoint = this.#kubernetesEndpoint!;
    const svc = store.peek(SERVICE, 'default', 'kubernetes') as Service | undefined;
    const existing = store.peek(ENDPOINTSLICE, 'default', 'kubernetes') as EndpointSlice | undefined;
    if (!svc) {
      if (existing && !existing.metadata.ownerReferences?.length) this.#delete(existing);
      return;
    }
    const addressType: AddressType = parseIP(endpoint.address)?.family === 'IPv6' ? 'IPv6' : 'IPv4';
    const portName = svc.spec?.ports?.[0]?.name ?? 'https';
    const desired: EndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { [WellKnown.serviceName]: 'kubernetes' } },
      addressType,
      endpoints: [{ addresses: [endpoint.address], conditions: { ready: true } }],
      ports: [{ name: portName, port: endpoint.port, protocol: 'TCP' }],
    };
    if (!existing) {
      this.#write(() => store.create(desired));
      return;
    }
    if (existing.addressType !== addressType) {
      // addressType is immutable.
      this.#delete(existing);
      this.#write(() => store.create(desired));
      return;
    }
    const next = deepCopy(existing) as EndpointSlice;
    next.metadata.labels = desired.metadata.labels;
    next.endpoints = desired.endpoints;
    next.ports = desired.ports;
    if (!sameSlice(existing, next)) this.#write(() => store.update(next));
  }

  #managedSlices(serviceKey: string): EndpointSlice[] {
    const { namespace } = splitKey(serviceKey);
    const out: EndpointSlice[] = [];
    for (const name of [...(this.#slicesOf.get(serviceKey) ?? [])].sort()) {
      const slice = this.ctx.store.peek(ENDPOINTSLICE, namespace, name);
      if (slice) out.push(slice as EndpointSlice);
    }
    return out;
  }

  #delete(slice: KubeObject): void {
    try {
      this.#write(() => this.ctx.store.delete(ENDPOINTSLICE, slice.metadata.namespace, slice.metadata.name!));
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  #write<T>(fn: () => T): T {
    const outer = this.#writing;
    this.#writing = true;
    try {
      return fn();
    } finally {
      this.#writing = outer;
    }
  }
}

// ------------------------------------------------------------------ helpers

function pairs(labels: Labels): string[] {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`);
}

function firstPair(selector: Labels): string {
  const k = Object.keys(selector).sort()[0]!;
  return `${k}=${selector[k]}`;
}

function addToIndex(index: Map<string, Map<string, Set<string>>>, ns: string, pair: string, name: string): void {
  let byPair = index.get(ns);
  if (!byPair) index.set(ns, (byPair = new Map()));
  let names = byPair.get(pair);
  if (!names) byPair.set(pair, (names = new Set()));
  names.add(name);
}

function removeFromIndex(index: Map<string, Map<string, Set<string>>>, ns: string, pair: string, name: string): void {
  const byPair = index.get(ns);
  const names = byPair?.get(pair);
  if (!names) return;
  names.delete(name);
  if (!names.size) byPair!.delete(pair);
  if (!byPair!.size) index.delete(ns);
}

/** `labels.SelectorFromSet(selector).Matches(labels)`: every pair present. */
function selectorMatches(selector: Labels | undefined, labels: Labels | undefined): boolean {
  if (!selector || !labels) return false;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** upstream `getAddressTypesForService`. */
function addressTypesOf(svc: Service): AddressType[] {
  const out: AddressType[] = [];
  for (const fam of svc.spec?.ipFamilies ?? []) if ((fam === 'IPv4' || fam === 'IPv6') && !out.includes(fam)) out.push(fam);
  if (out.length) return out;
  const ip = svc.spec?.clusterIP;
  if (ip && ip !== 'None') return [parseIP(ip)?.family === 'IPv6' ? 'IPv6' : 'IPv4'];
  // Headless and not yet defaulted: either family may come.
  if (ip === 'None') return ['IPv4', 'IPv6'];
  return ['IPv4'];
}

/** upstream `setEndpointSliceLabels`: the Service's labels plus the reserved ones. */
function sliceLabels(svc: Service): Labels {
  const labels: Labels = {};
  const reserved = new Set<string>([WellKnown.serviceName, WellKnown.managedBy, WellKnown.headless]);
  for (const [k, v] of Object.entries(svc.metadata.labels ?? {})) if (!reserved.has(k)) labels[k] = v;
  if (svc.spec?.clusterIP === 'None' || svc.spec?.clusterIPs?.[0] === 'None') labels[WellKnown.headless] = '';
  labels[WellKnown.serviceName] = svc.metadata.name!;
  labels[WellKnown.managedBy] = ENDPOINTSLICE_CONTROLLER_NAME;
  return labels;
}

/** Which hints a Service's endpoints get: none, zone, zone and node (PreferSameNode), or Auto's. */
type HintMode = '' | 'zone' | 'zone+node' | 'auto';

/** The reconciler's choice: the topology-mode annotation (topology cache), else trafficdist's heuristic. */
function hintMode(svc: Service): HintMode {
  const a = svc.metadata.annotations ?? {};
  const mode = a[TOPOLOGY_MODE] ?? a[TOPOLOGY_AWARE_HINTS];
  if (mode === 'Auto' || mode === 'auto') return 'auto';
  const td = svc.spec?.trafficDistribution;
  if (td === 'PreferClose' || td === 'PreferSameZone') return 'zone';
  if (td === 'PreferSameNode') return 'zone+node';
  return '';
}

/** upstream `ShouldPodBeInEndpoints` with terminating pods included. */
function shouldPodBeInEndpoints(pod: Pod): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  return !!(pod.status?.podIP || pod.status?.podIPs?.length);
}

function isPodReady(pod: Pod): boolean {
  return !!pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** upstream `getEndpointAddresses`: the pod's IPs of the family. */
function podAddresses(pod: Pod, addressType: AddressType): string[] {
  const ips = pod.status?.podIPs?.length ? pod.status.podIPs.map((p) => p.ip) : pod.status?.podIP ? [pod.status.podIP] : [];
  const out: string[] = [];
  for (const ip of ips) {
    const fam: IPFamily | undefined = parseIP(ip)?.family;
    if (fam === addressType && !out.includes(ip)) out.push(ip);
  }
  return out;
}

/** upstream `getEndpointPorts` with `podutil.FindPort`. */
function endpointPorts(svc: Service, pod: Pod): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of (svc.spec.ports ?? []) as ServicePort[]) {
    if (!sp) continue;
    const protocol = sp.protocol ?? 'TCP';
    const port = findPort(pod, sp, protocol);
    if (port === undefined) continue;
    const ep: EndpointPort = { name: sp.name ?? '', protocol, port };
    if (sp.appProtocol) ep.appProtocol = sp.appProtocol;
    out.push(ep);
  }
  return out;
}

function findPort(pod: Pod, sp: ServicePort, protocol: string): number | undefined {
  const target = sp.targetPort ?? sp.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  const sidecars = (pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  for (const c of [...(pod.spec?.containers ?? []), ...sidecars]) {
    for (const p of c.ports ?? []) {
      if (p.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
    }
  }
  return undefined;
}

function portKey(ports: readonly EndpointPort[]): string {
  return JSON.stringify(ports.map((p) => [p.name ?? '', p.protocol ?? 'TCP', p.port ?? 0, p.appProtocol ?? '']));
}

function endpointKey(ep: Endpoint): string | undefined {
  const ref = ep.targetRef;
  return ref?.kind === 'Pod' && ref.name ? `${ref.namespace ?? ''}/${ref.name}` : undefined;
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  const c = compareIPs(a.addresses[0] ?? '', b.addresses[0] ?? '');
  if (c) return c;
  const na = a.targetRef?.name ?? '';
  const nb = b.targetRef?.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

function newSlice(addressType: AddressType, ports: EndpointPort[], endpoints: Endpoint[]): EndpointSlice {
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: {}, addressType, endpoints, ports };
}

/** Whether two slices agree on everything this controller writes. */
function sameSlice(a: EndpointSlice, b: EndpointSlice): boolean {
  return (
    a.addressType === b.addressType &&
    deepEqual(a.metadata.labels ?? {}, b.metadata.labels ?? {}) &&
    deepEqual(a.metadata.ownerReferences ?? [], b.metadata.ownerReferences ?? []) &&
    deepEqual(a.endpoints ?? [], b.endpoints ?? []) &&
    deepEqual(a.ports ?? [], b.ports ?? [])
  );
}

/** Structural equality of JSON-shaped data, ignoring key order and undefined members. */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => deepEqual(v, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => deepEqual(ao[k], bo[k]));
}
