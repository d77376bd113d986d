/**
 * Service allocation: ClusterIPs, NodePorts, health-check NodePorts and load-balancer addresses,
 * as an admission plugin of the object store.
 *
 * Upstream does this synchronously in the Service REST storage (k8s.io/kubernetes/pkg/registry/
 * core/service/storage: `beginCreate`/`beginUpdate` → `allocateCreate`/`allocateUpdate`), so a
 * clash is a 422 at create time and an apply is all-or-nothing. podnet follows the same steps
 * in the same order:
 *
 * 1. on update, `dropTypeDependentFields` (a type change clears the allocated values the user
 *    did not change), `patchAllocatedValues` (a re-submitted manifest without the allocated
 *    values keeps them) and `normalizeClusterIPs` (clusterIP ↔ clusterIPs);
 * 2. `initIPFamilyFields`: ipFamilyPolicy (SingleStack unless asked; headless selectorless
 *    Services default to RequireDualStack) and ipFamilies from the cluster's ranges;
 * 3. ClusterIPs per family (explicit ones honoured, `None` is headless, ExternalName gets none);
 *    the `kubernetes` Service in `default` gets the range's first address and `kube-dns` in
 *    `kube-system` the tenth when they do not name one (both are kept out of dynamic allocation);
 * 4. NodePorts for NodePort and LoadBalancer Services (unless `allocateLoadBalancerNodePorts:
 *    false`), one per service port number and shared between protocols; a health-check NodePort
 *    for LoadBalancer Services with `externalTrafficPolicy: Local`;
 * 5. load-balancer ingress addresses from the cluster's pool into `status.loadBalancer.ingress`
 *    (a bare-metal LB controller's job, done here so the address is there when the create
 *    returns). A Service with a `loadBalancerClass` is left to that implementation.
 *
 * Bookkeeping: allocator state is derived from the Services in the store. `admit` takes what it
 * hands out at once (so two items of one object never collide), `committed` settles the
 * Service's holdings against what it now stores (releasing what it no longer holds — on delete,
 * on a type change back to ClusterIP, on a dual-stack downgrade), and `resync` rebuilds
 * everything from the store after a rolled-back transaction (which is also what undoes the
 * provisional allocations of a write that admission later rejected).
 *
 * A LoadBalancer Service the pool cannot serve does not fail: its ingress stays empty (pending,
 * as with MetalLB) and, after the write commits, a {@link LoadBalancerPendingNotice} goes to
 * `options.onLoadBalancerPending` and to the {@link LOAD_BALANCER_PENDING_CHANNEL} diagnostics
 * channel — turn it into an `AllocationFailed` Warning Event there. Pending Services are served
 * as soon as pool addresses are released.
 */

import diagnosticsChannel from 'node:diagnostics_channel';
import {
  IpamExhaustedError,
  InvalidObjectError,
  PodnetError,
  TopologyError,
  field,
  type FieldError,
  type ObjectRef,
} from '../../core/errors.js';
import { canonicalIP, otherFamily, parseIP, type IPFamily } from '../../core/ipnet.js';
import type { Rng } from '../../core/rng.js';
import { deepCopy, objectKey } from '../../api/meta.js';
import type { ClusterSpec } from '../../api/cluster.js';
import type { Service, ServicePort, ServiceSpec } from '../../api/types.js';
import { lookupKind, type KindInfo } from '../../api/scheme.js';
import type { AdmissionContext, AdmissionPlugin, ObjectStore } from '../store.js';
import { AllocatorError } from './bitmap.js';
import { ClusterIPAllocator, DNS_SERVICE_INDEX, KUBERNETES_SERVICE_INDEX } from './clusterip.js';
import { NodePortAllocator } from './nodeport.js';
import { LoadBalancerPool } from './loadbalancer.js';

export { AllocationBitmap, AllocatorError, type AllocatorErrorReason, type AllocationBitmapOptions } from './bitmap.js';
export { ClusterIPAllocator, clusterIPStaticBand, KUBERNETES_SERVICE_INDEX, DNS_SERVICE_INDEX } from './clusterip.js';
export { NodePortAllocator, nodePortStaticBand, parsePortRange, formatPortRange, type PortRange } from './nodeport.js';
export { LoadBalancerPool } from './loadbalancer.js';

/** Diagnostics channel a {@link LoadBalancerPendingNotice} is published on. */
export const LOAD_BALANCER_PENDING_CHANNEL = 'podnet:apiserver:loadbalancer-pending';

const pendingChannel = diagnosticsChannel.channel(LOAD_BALANCER_PENDING_CHANNEL);

/** A LoadBalancer Service got no address from the pool (yet). */
export interface LoadBalancerPendingNotice {
  /** The Service as stored by the write that left it pending. */
  service: Service;
  /** The Event reason MetalLB uses. */
  reason: 'AllocationFailed';
  /** E.g. `Failed to allocate IP for "default/web": no available IPs`. */
  message: string;
}

/** Options of {@link createServiceAllocation}. */
export interface ServiceAllocationOptions {
  /**
   * Called (from a microtask, after the write committed) when a LoadBalancer Service is left
   * without an address. It may write to the store, e.g. record a Warning Event.
   */
  onLoadBalancerPending?: (notice: LoadBalancerPendingNotice) => void;
}

/** The Service allocation admission plugin, with its allocators open for inspection. */
export interface ServiceAllocationPlugin extends AdmissionPlugin {
  /** The ClusterIP allocator of each configured family. */
  readonly clusterIPs: ReadonlyMap<IPFamily, ClusterIPAllocator>;
  /** The family of `network.serviceSubnet`, the default for new Services. */
  readonly primaryFamily: IPFamily;
  readonly nodePorts: NodePortAllocator;
  /** The load-balancer pool, if the cluster has one. */
  readonly loadBalancer: LoadBalancerPool | undefined;
  /** `namespace/name` of LoadBalancer Services waiting for an address. */
  readonly pendingLoadBalancers: ReadonlySet<string>;
  /**
   * Gives free pool addresses to pending LoadBalancer Services, writing them through the
   * status subresource. Runs by itself after pool addresses are released.
   */
  retryPending(store: ObjectStore): void;
}

/**
 * A dynamic allocation found its range full. Upstream answers 500 InternalError with this text
 * (`Internal error occurred: failed to allocate a serviceIP: range is full`).
 */
export class ServiceRangeFullError extends IpamExhaustedError {
  constructor(range: string, what: string, detail: string, object: ObjectRef) {
    super(range, what, object);
    this.message = `Internal error occurred: ${detail}`;
  }
}

/**
 * An allocation failed in a way upstream reports as 500 InternalError, such as a requested
 * health-check NodePort that is taken.
 */
export class ServiceAllocationError extends PodnetError {
  readonly object: ObjectRef;
  constructor(object: ObjectRef, detail: string) {
    super('PODNET_SERVICE_ALLOCATION_FAILED', `Internal error occurred: ${detail}`);
    this.object = object;
  }
}

/** Creates the Service allocation plugin for a cluster's ranges. */
export function createServiceAllocation(cluster: ClusterSpec, options: ServiceAllocationOptions = {}): ServiceAllocationPlugin {
  return new ServiceAllocation(cluster, options);
}

// ------------------------------------------------------------------ helpers over Services

type ServiceType = NonNullable<ServiceSpec['type']>;

const NONE = 'None';
const SERVICE = lookupKind('v1', 'Service')!;

function isServiceKind(info: KindInfo): boolean {
  return info.kind === 'Service' && info.group === '';
}

function typeOf(svc: Service): ServiceType {
  return svc.spec?.type ?? 'ClusterIP';
}

function needsClusterIP(svc: Service): boolean {
  return typeOf(svc) !== 'ExternalName';
}

function needsNodePort(svc: Service): boolean {
  const t = typeOf(svc);
  return t === 'NodePort' || t === 'LoadBalancer';
}

function needsHealthCheck(svc: Service): boolean {
  return typeOf(svc) === 'LoadBalancer' && svc.spec?.externalTrafficPolicy === 'Local';
}

function shouldAllocateNodePorts(svc: Service): boolean {
  const t = typeOf(svc);
  if (t === 'NodePort') return true;
  if (t === 'LoadBalancer') return svc.spec.allocateLoadBalancerNodePorts !== false;
  return false;
}

function hasSelector(svc: Service): boolean {
  const s = svc.spec?.selector;
  return !!s && Object.keys(s).length > 0;
}

function isHeadless(svc: Service): boolean {
  return svc.spec.clusterIP === NONE || svc.spec.clusterIPs?.[0] === NONE;
}

function sameList<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function nodePortsOf(svc: Service): number[] {
  return (svc.spec?.ports ?? []).map((p) => p?.nodePort ?? 0);
}

function refOf(svc: Service): ObjectRef {
  return { kind: 'Service', namespace: svc.metadata.namespace, name: svc.metadata.name };
}

function invalid(svc: Service, errors: FieldError[]): InvalidObjectError {
  return new InvalidObjectError(refOf(svc), errors);
}

function lbIngress(svc: Service): { ip?: string; hostname?: string; ipMode?: string }[] {
  return svc.status?.loadBalancer?.ingress ?? [];
}

/** upstream `dropTypeDependentFields`: a type change clears what the user left unchanged. */
function dropTypeDependentFields(svc: Service, old: Service): void {
  const spec = svc.spec;
  if (needsClusterIP(old) && !needsClusterIP(svc)) {
    if (sameList(spec.clusterIPs, old.spec.clusterIPs) && spec.clusterIP === old.spec.clusterIP) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (sameList(spec.ipFamilies, old.spec.ipFamilies)) delete spec.ipFamilies;
    if (spec.ipFamilyPolicy === old.spec.ipFamilyPolicy) delete spec.ipFamilyPolicy;
  }
  if (needsNodePort(old) && !needsNodePort(svc) && sameList(nodePortsOf(svc), nodePortsOf(old))) {
    for (const p of spec.ports ?? []) if (p) delete p.nodePort;
  }
  if (needsHealthCheck(old) && !needsHealthCheck(svc) && spec.healthCheckNodePort === old.spec.healthCheckNodePort) {
    delete spec.healthCheckNodePort;
  }
  if (typeOf(old) === 'LoadBalancer' && typeOf(svc) !== 'LoadBalancer') {
    if (spec.allocateLoadBalancerNodePorts === old.spec.allocateLoadBalancerNodePorts) delete spec.allocateLoadBalancerNodePorts;
    if (spec.loadBalancerClass === old.spec.loadBalancerClass) delete spec.loadBalancerClass;
  }
}

/** upstream `patchAllocatedValues`: keep what was allocated when a client resubmits without it. */
function patchAllocatedValues(svc: Service, old: Service): void {
  const spec = svc.spec;
  if (needsClusterIP(old) && needsClusterIP(svc)) {
    if (!spec.clusterIP && old.spec.clusterIP) spec.clusterIP = old.spec.clusterIP;
    if (!spec.clusterIPs?.length && old.spec.clusterIPs?.length) spec.clusterIPs = [...old.spec.clusterIPs];
  }
  if (needsNodePort(old) && needsNodePort(svc)) {
    const newUsed = new Set(nodePortsOf(svc).filter((n) => n));
    const used = new Set(nodePortsOf(old).filter((n) => n && newUsed.has(n)));
    const byName = new Map<string, number>();
    for (const p of old.spec.ports ?? []) if (p) byName.set(p.name ?? '', p.nodePort ?? 0);
    for (const p of spec.ports ?? []) {
      if (!p || p.nodePort) continue;
      const oldVal = byName.get(p.name ?? '') ?? 0;
      if (oldVal && !used.has(oldVal)) p.nodePort = oldVal;
    }
  }
  if (needsHealthCheck(old) && needsHealthCheck(svc) && !spec.healthCheckNodePort && old.spec.healthCheckNodePort) {
    spec.healthCheckNodePort = old.spec.healthCheckNodePort;
  }
}

/** upstream `normalizeClusterIPs`: keep clusterIP and clusterIPs in step. */
function normalizeClusterIPs(svc: Service, old: Service | undefined): void {
  const spec = svc.spec;
  if (!old) {
    if (spec.clusterIP && !spec.clusterIPs?.length) spec.clusterIPs = [spec.clusterIP];
    return;
  }
  if (old.spec.clusterIPs?.length && !spec.clusterIPs?.length && old.spec.clusterIP === spec.clusterIP) {
    spec.clusterIPs = [...old.spec.clusterIPs];
  }
  if (old.spec.clusterIP !== spec.clusterIP) {
    const same = sameList(old.spec.clusterIPs, spec.clusterIPs);
    if (old.spec.clusterIP && !spec.clusterIP) {
      if (same) delete spec.clusterIPs;
    } else if (same) {
      spec.clusterIPs = spec.clusterIP ? [spec.clusterIP] : [];
    }
  }
}

interface Holdings {
  ips: string[];
  ports: number[];
  lb: string[];
}

const EMPTY: Holdings = { ips: [], ports: [], lb: [] };

interface QueuedNotice {
  store: ObjectStore;
  namespace: string | undefined;
  name: string;
  uid: string | undefined;
  resourceVersion: string | undefined;
  message: string;
}

// ------------------------------------------------------------------ the plugin

class ServiceAllocation implements ServiceAllocationPlugin {
  readonly name = 'ServiceAllocation';
  readonly clusterIPs: Map<IPFamily, ClusterIPAllocator>;
  readonly primaryFamily: IPFamily;
  readonly nodePorts: NodePortAllocator;
  readonly loadBalancer: LoadBalancerPool | undefined;
  readonly #options: ServiceAllocationOptions;
  /** What each Service holds, by `namespace/name`. */
  #held = new Map<string, Holdings>();
  #ipOwner = new Map<string, string>();
  #portOwner = new Map<number, string>();
  #lbOwner = new Map<string, string>();
  #pending = new Set<string>();
  /** Pending messages decided in admit, delivered once the write commits. */
  #decided = new WeakMap<AdmissionContext, string>();
  #outbox: QueuedNotice[] = [];
  #flushQueued = false;
  #retryStore: ObjectStore | undefined;
  /** Whether the allocators were built from the store (the plugin may be added to a full store). */
  #synced = false;

  constructor(cluster: ClusterSpec, options: ServiceAllocationOptions) {
    this.#options = options;
    const net = cluster.network;
    this.clusterIPs = new Map();
    const subnets: [string, string | undefined][] = [
      ['network.serviceSubnet', net.serviceSubnet],
      ['network.serviceSubnetV6', net.serviceSubnetV6],
    ];
    for (const [path, text] of subnets) {
      if (!text) continue;
      const alloc = new ClusterIPAllocator(text);
      if (this.clusterIPs.has(alloc.family)) {
        throw new TopologyError([field.invalid(path, text, `a second ${alloc.family} service range; dual-stack needs one range of each family`)]);
      }
      this.clusterIPs.set(alloc.family, alloc);
    }
    const primary = this.clusterIPs.values().next().value;
    if (!primary) throw new TopologyError([field.required('network.serviceSubnet', 'a Service CIDR is required')]);
    this.primaryFamily = primary.family;
    this.nodePorts = new NodePortAllocator(net.serviceNodePortRange || '30000-32767');
    this.loadBalancer = net.loadBalancerPool?.length ? new LoadBalancerPool(net.loadBalancerPool) : undefined;
  }

  get pendingLoadBalancers(): ReadonlySet<string> {
    return this.#pending;
  }

  // ---------------------------------------------------------------- admission

  admit(ctx: AdmissionContext): void {
    if (!isServiceKind(ctx.info) || ctx.op === 'DELETE' || ctx.subresource) return;
    if (!this.#synced) this.resync(ctx.store);
    const svc = ctx.object as Service;
    svc.spec ??= {};
    const old = ctx.op === 'UPDATE' ? (ctx.old as Service | undefined) : undefined;
    if (old) {
      old.spec ??= {};
      dropTypeDependentFields(svc, old);
      patchAllocatedValues(svc, old);
    }
    normalizeClusterIPs(svc, old);
    const key = objectKey(svc);
    const rng = ctx.store.rng;
    this.#initIPFamilyFields(svc, old);
    this.#allocateClusterIPs(svc, key, rng);
    this.#allocateNodePorts(svc, key, rng);
    this.#allocateHealthCheckNodePort(svc, key, rng);
    const pending = this.#assignLoadBalancer(svc, old, key);
    if (pending) this.#decided.set(ctx, pending);
  }

  /** upstream `initIPFamilyFields` (without the cluster-reconfiguration special case). */
  #initIPFamilyFields(svc: Service, old: Service | undefined): void {
    if (typeOf(svc) === 'ExternalName') return;
    const spec = svc.spec;
    const errors: FieldError[] = [];
    for (const [i, ip] of (spec.clusterIPs ?? []).entries()) {
      if (ip && ip !== NONE && !parseIP(ip)) {
        errors.push(field.invalid(`spec.clusterIPs[${i}]`, ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
      }
    }
    for (const [i, fam] of (spec.ipFamilies ?? []).entries()) {
      if (fam !== 'IPv4' && fam !== 'IPv6') errors.push(field.notSupported(`spec.ipFamilies[${i}]`, fam, ['IPv4', 'IPv6']));
    }
    if (errors.length) throw invalid(svc, errors);

    if (!spec.ipFamilyPolicy) {
      if (old?.spec.ipFamilyPolicy) spec.ipFamilyPolicy = old.spec.ipFamilyPolicy;
      else if (isHeadless(svc) && !hasSelector(svc)) spec.ipFamilyPolicy = 'RequireDualStack';
      else spec.ipFamilyPolicy = 'SingleStack';
    }
    const policy = spec.ipFamilyPolicy;

    if (old) {
      if (policy === 'SingleStack') {
        if (sameList(old.spec.clusterIPs, spec.clusterIPs) && (spec.clusterIPs?.length ?? 0) > 1) spec.clusterIPs = spec.clusterIPs!.slice(0, 1);
        if (sameList(old.spec.ipFamilies, spec.ipFamilies) && (spec.ipFamilies?.length ?? 0) > 1) spec.ipFamilies = spec.ipFamilies!.slice(0, 1);
      } else {
        if (spec.clusterIPs?.length && spec.clusterIPs.length < (old.spec.clusterIPs?.length ?? 0)) {
          errors.push(field.invalid('spec.ipFamilyPolicy', policy, "must be 'SingleStack' to release the secondary cluster IP"));
        }
        if (spec.ipFamilies?.length && spec.ipFamilies.length < (old.spec.ipFamilies?.length ?? 0)) {
          errors.push(field.invalid('spec.ipFamilyPolicy', policy, "must be 'SingleStack' to release the secondary IP family"));
        }
      }
    }
    if (policy === 'SingleStack') {
      if (spec.clusterIPs?.length === 2) {
        errors.push(field.invalid('spec.ipFamilyPolicy', policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"));
      }
      if (spec.ipFamilies?.length === 2) {
        errors.push(field.invalid('spec.ipFamilyPolicy', policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"));
      }
    }
    // Infer ipFamilies from clusterIPs.
    for (const [i, ip] of (spec.clusterIPs ?? []).entries()) {
      if (ip === NONE) break;
      if (!ip) continue;
      const fam = parseIP(ip)!.family;
      if (i >= (spec.ipFamilies?.length ?? 0)) {
        if (!this.clusterIPs.has(fam)) {
          errors.push(field.invalid(`spec.clusterIPs[${i}]`, spec.clusterIPs, `${fam} is not configured on this cluster`));
        } else {
          spec.ipFamilies = [...(spec.ipFamilies ?? []), fam];
        }
      }
    }
    if (errors.length) throw invalid(svc, errors);

    // Headless and selectorless: any families are allowed, even ones the cluster lacks.
    if (isHeadless(svc) && !hasSelector(svc)) {
      if (!spec.ipFamilies?.length) spec.ipFamilies = [this.primaryFamily];
      if (spec.ipFamilies.length < 2 && policy !== 'SingleStack') spec.ipFamilies = [spec.ipFamilies[0]!, otherFamily(spec.ipFamilies[0]!)];
      return;
    }
    if (policy === 'RequireDualStack' && this.clusterIPs.size < 2) {
      errors.push(field.invalid('spec.ipFamilyPolicy', policy, 'this cluster is not configured for dual-stack services'));
    }
    for (const [i, fam] of (spec.ipFamilies ?? []).entries()) {
      if (!this.clusterIPs.has(fam)) errors.push(field.invalid(`spec.ipFamilies[${i}]`, fam, 'not configured on this cluster'));
    }
    if (errors.length) throw invalid(svc, errors);
    if (!spec.ipFamilies?.length) spec.ipFamilies = [this.primaryFamily];
    if (policy !== 'SingleStack' && spec.ipFamilies.length === 1 && this.clusterIPs.size === 2) {
      spec.ipFamilies = [spec.ipFamilies[0]!, otherFamily(spec.ipFamilies[0]!)];
    }
  }

  #allocateClusterIPs(svc: Service, key: string, rng: Rng): void {
    const spec = svc.spec;
    if (typeOf(svc) === 'ExternalName') return;
    if (isHeadless(svc)) {
      spec.clusterIP = NONE;
      spec.clusterIPs = [NONE];
      return;
    }
    const families = spec.ipFamilies ?? [this.primaryFamily];
    const given = spec.clusterIPs ?? [];
    const ips = [...given];
    while (ips.length < families.length) ips.push('');
    for (const [i, fam] of families.entries()) {
      const alloc = this.clusterIPs.get(fam)!;
      const ip = ips[i]!;
      if (ip) {
        try {
          this.#claimIP(alloc, ip, key);
        } catch (err) {
          if (!(err instanceof AllocatorError)) throw err;
          throw invalid(svc, [field.invalid('spec.clusterIPs', given.length ? given : ips, `failed to allocate IP ${ip}: ${err.message}`)]);
        }
        continue;
      }
      const wellKnown = this.#wellKnownAddress(svc, alloc);
      if (wellKnown) {
        ips[i] = wellKnown;
        continue;
      }
      try {
        ips[i] = alloc.allocateNext(rng);
      } catch (err) {
        if (!(err instanceof AllocatorError)) throw err;
        throw new ServiceRangeFullError(alloc.cidr.text, 'service IPs', `failed to allocate a serviceIP: ${err.message}`, refOf(svc));
      }
      this.#ipOwner.set(ips[i]!, key);
    }
    spec.clusterIPs = ips;
    spec.clusterIP = ips[0];
  }

  /** The kubernetes and kube-dns Services' well-known addresses, taken if still free. */
  #wellKnownAddress(svc: Service, alloc: ClusterIPAllocator): string | undefined {
    const { namespace, name } = svc.metadata;
    let index: number | undefined;
    if (namespace === 'default' && name === 'kubernetes') index = KUBERNETES_SERVICE_INDEX;
    else if (namespace === 'kube-system' && name === 'kube-dns') index = DNS_SERVICE_INDEX;
    if (index === undefined) return undefined;
    const ip = alloc.indexed(index);
    if (!ip || alloc.has(ip)) return undefined;
    alloc.allocate(ip);
    this.#ipOwner.set(ip, objectKey(svc));
    return ip;
  }

  #claimIP(alloc: ClusterIPAllocator, ip: string, key: string): void {
    const canonical = canonicalIP(ip) ?? ip;
    if (this.#ipOwner.get(canonical) === key) return;
    alloc.allocate(canonical);
    this.#ipOwner.set(canonical, key);
  }

  #claimPort(port: number, key: string): void {
    if (this.#portOwner.get(port) === key) return;
    this.nodePorts.allocate(port);
    this.#portOwner.set(port, key);
  }

  #nextPort(rng: Rng, key: string): number {
    const port = this.nodePorts.allocateNext(rng);
    this.#portOwner.set(port, key);
    return port;
  }

  /** upstream `initNodePorts`/`updateNodePorts`, one nodePort per service port number. */
  #allocateNodePorts(svc: Service, key: string, rng: Rng): void {
    if (!needsNodePort(svc)) return;
    const ports: ServicePort[] = svc.spec.ports ?? [];
    const allocateNew = shouldAllocateNodePorts(svc);
    const byServicePort = new Map<number, number>();
    /** nodePort → protocols using it in this Service. */
    const protocols = new Map<number, Set<string>>();
    const errors: FieldError[] = [];
    for (const [i, p] of ports.entries()) {
      if (!p) continue;
      const protocol = p.protocol ?? 'TCP';
      let np = p.nodePort ?? 0;
      if (!np) {
        if (!allocateNew) continue;
        np = byServicePort.get(p.port) ?? ports.slice(i + 1).find((q) => q?.port === p.port && q.nodePort)?.nodePort ?? 0;
        if (!np) {
          try {
            np = this.#nextPort(rng, key);
          } catch (err) {
            if (!(err instanceof AllocatorError)) throw err;
            throw new ServiceRangeFullError(this.nodePorts.text, 'node ports', `failed to allocate a nodePort: ${err.message}`, refOf(svc));
          }
        }
        p.nodePort = np;
      }
      const seen = protocols.get(np);
      if (seen?.has(protocol)) {
        errors.push(field.duplicate(`spec.ports[${i}].nodePort`, np));
        continue;
      }
      if (!seen) {
        try {
          this.#claimPort(np, key);
        } catch (err) {
          if (!(err instanceof AllocatorError)) throw err;
          throw invalid(svc, [field.invalid(`spec.ports[${i}].nodePort`, np, err.message)]);
        }
      }
      protocols.set(np, (seen ?? new Set()).add(protocol));
      if (!byServicePort.has(p.port)) byServicePort.set(p.port, np);
    }
    if (errors.length) throw invalid(svc, errors);
  }

  /** upstream `allocHealthCheckNodePort`. */
  #allocateHealthCheckNodePort(svc: Service, key: string, rng: Rng): void {
    if (!needsHealthCheck(svc)) return;
    const requested = svc.spec.healthCheckNodePort ?? 0;
    try {
      if (requested) this.#claimPort(requested, key);
      else svc.spec.healthCheckNodePort = this.#nextPort(rng, key);
    } catch (err) {
      if (!(err instanceof AllocatorError)) throw err;
      if (requested) throw new ServiceAllocationError(refOf(svc), `failed to allocate requested HealthCheck NodePort ${requested}: ${err.message}`);
      throw new ServiceRangeFullError(this.nodePorts.text, 'node ports', `failed to allocate a HealthCheck NodePort 0: ${err.message}`, refOf(svc));
    }
  }

  /**
   * Fills `status.loadBalancer.ingress` from the pool. Returns the pending message when the
   * Service is left without an address and should be told so.
   */
  #assignLoadBalancer(svc: Service, old: Service | undefined, key: string): string | undefined {
    const wasLB = !!old && typeOf(old) === 'LoadBalancer';
    if (typeOf(svc) !== 'LoadBalancer') {
      // The LB controller clears the status of a Service that is no longer a LoadBalancer.
      if (wasLB && svc.status?.loadBalancer && Object.keys(svc.status.loadBalancer).length) {
        svc.status = { ...svc.status, loadBalancer: {} };
      }
      return undefined;
    }
    if (svc.spec.loadBalancerClass) return undefined;
    const requested = svc.spec.loadBalancerIP ? (canonicalIP(svc.spec.loadBalancerIP) ?? svc.spec.loadBalancerIP) : undefined;
    const ingress = lbIngress(svc);
    const current = ingress.map((i) => (i.ip ? (canonicalIP(i.ip) ?? i.ip) : undefined));
    if (ingress.length && (!requested || current.includes(requested))) return undefined;
    // Tell about a pending Service when it becomes one, not on every later update.
    const announce = !wasLB || old?.spec.loadBalancerIP !== svc.spec.loadBalancerIP;
    const result = this.#pickLoadBalancerIPs(svc, key, requested);
    if (typeof result === 'string') return announce ? `Failed to allocate IP for "${key}": ${result}` : undefined;
    svc.status = { ...(svc.status ?? {}), loadBalancer: { ingress: result.map((ip) => ({ ip, ipMode: 'VIP' })) } };
    return undefined;
  }

  /** Takes pool addresses for a Service: the requested one, or one per family. A string is why not. */
  #pickLoadBalancerIPs(svc: Service, key: string, requested: string | undefined): string[] | string {
    const pool = this.loadBalancer;
    if (!pool) return 'no load-balancer address pool is configured';
    if (requested) {
      if (this.#lbOwner.get(requested) === key) return [requested];
      try {
        pool.allocate(requested);
      } catch (err) {
        if (!(err instanceof AllocatorError)) throw err;
        return err.message;
      }
      this.#lbOwner.set(requested, key);
      return [requested];
    }
    const families = svc.spec.ipFamilies?.length ? svc.spec.ipFamilies : [this.primaryFamily];
    const got: string[] = [];
    for (const fam of families) {
      if (!pool.families.includes(fam)) continue;
      const ip = pool.allocateNext(fam);
      if (!ip) continue;
      this.#lbOwner.set(ip, key);
      got.push(ip);
    }
    return got.length ? got : 'no available IPs';
  }

  // ---------------------------------------------------------------- bookkeeping

  committed(ctx: AdmissionContext): void {
    if (!isServiceKind(ctx.info)) return;
    if (!this.#synced) this.resync(ctx.store);
    const svc = ctx.object as Service;
    const key = objectKey(svc);
    let releasedPool: boolean;
    if (ctx.op === 'DELETE') {
      releasedPool = this.#settle(key, EMPTY);
      this.#pending.delete(key);
    } else {
      releasedPool = this.#settle(key, this.#holdingsOf(svc));
      if (this.#isPending(svc)) this.#pending.add(key);
      else this.#pending.delete(key);
      const message = this.#decided.get(ctx);
      if (message) this.#queueNotice(ctx.store, svc, message);
    }
    if (releasedPool && this.#pending.size) this.#queueRetry(ctx.store);
  }

  resync(store: ObjectStore): void {
    for (const alloc of this.clusterIPs.values()) alloc.reset();
    this.nodePorts.reset();
    this.loadBalancer?.reset();
    this.#held.clear();
    this.#ipOwner.clear();
    this.#portOwner.clear();
    this.#lbOwner.clear();
    this.#pending.clear();
    this.#synced = true;
    for (const obj of store.select(SERVICE)) {
      const svc = obj as Service;
      const key = objectKey(svc);
      this.#settle(key, this.#holdingsOf(svc));
      if (this.#isPending(svc)) this.#pending.add(key);
    }
  }

  /** What a stored Service holds from the allocators. */
  #holdingsOf(svc: Service): Holdings {
    const spec = svc.spec ?? {};
    const ips = new Set<string>();
    if (needsClusterIP(svc)) {
      for (const ip of [...(spec.clusterIPs ?? []), spec.clusterIP]) {
        if (!ip || ip === NONE) continue;
        const canonical = canonicalIP(ip);
        if (canonical) ips.add(canonical);
      }
    }
    const ports = new Set<number>();
    if (needsNodePort(svc)) {
      for (const p of spec.ports ?? []) if (p?.nodePort) ports.add(p.nodePort);
      if (typeOf(svc) === 'LoadBalancer' && spec.healthCheckNodePort) ports.add(spec.healthCheckNodePort);
    }
    const lb = new Set<string>();
    if (this.loadBalancer) {
      for (const ing of lbIngress(svc)) {
        const canonical = ing.ip && canonicalIP(ing.ip);
        if (canonical && this.loadBalancer.contains(canonical)) lb.add(canonical);
      }
    }
    return { ips: [...ips], ports: [...ports], lb: [...lb] };
  }

  #isPending(svc: Service): boolean {
    return typeOf(svc) === 'LoadBalancer' && !svc.spec.loadBalancerClass && lbIngress(svc).length === 0 && !!this.loadBalancer;
  }

  /**
   * Makes the allocators agree with what `key` now holds: releases what it no longer holds,
   * takes what it newly holds (unless another Service has it). Returns whether pool addresses
   * were released.
   */
  #settle(key: string, now: Holdings): boolean {
    const before = this.#held.get(key) ?? EMPTY;
    let releasedPool = false;
    const nowIPs = new Set(now.ips);
    for (const ip of before.ips) {
      if (nowIPs.has(ip) || this.#ipOwner.get(ip) !== key) continue;
      this.#ipOwner.delete(ip);
      this.#clusterIPAllocatorFor(ip)?.release(ip);
    }
    const nowPorts = new Set(now.ports);
    for (const port of before.ports) {
      if (nowPorts.has(port) || this.#portOwner.get(port) !== key) continue;
      this.#portOwner.delete(port);
      this.nodePorts.release(port);
    }
    const nowLB = new Set(now.lb);
    for (const ip of before.lb) {
      if (nowLB.has(ip) || this.#lbOwner.get(ip) !== key) continue;
      this.#lbOwner.delete(ip);
      this.loadBalancer?.release(ip);
      releasedPool = true;
    }
    // Provisional allocations of this write are already owned; anything else is taken now.
    for (const ip of now.ips) {
      if (this.#ipOwner.has(ip)) continue;
      const alloc = this.#clusterIPAllocatorFor(ip);
      if (!alloc?.contains(ip)) continue;
      if (!alloc.has(ip)) alloc.allocate(ip);
      this.#ipOwner.set(ip, key);
    }
    for (const port of now.ports) {
      if (this.#portOwner.has(port) || !this.nodePorts.contains(port)) continue;
      if (!this.nodePorts.has(port)) this.nodePorts.allocate(port);
      this.#portOwner.set(port, key);
    }
    for (const ip of now.lb) {
      if (this.#lbOwner.has(ip)) continue;
      if (!this.loadBalancer!.has(ip)) this.loadBalancer!.allocate(ip);
      this.#lbOwner.set(ip, key);
    }
    if (now.ips.length || now.ports.length || now.lb.length) this.#held.set(key, now);
    else this.#held.delete(key);
    return releasedPool;
  }

  #clusterIPAllocatorFor(ip: string): ClusterIPAllocator | undefined {
    const fam = parseIP(ip)?.family;
    return fam && this.clusterIPs.get(fam);
  }

  // ---------------------------------------------------------------- pending load balancers

  #queueNotice(store: ObjectStore, svc: Service, message: string): void {
    this.#outbox.push({
      store,
      namespace: svc.metadata.namespace,
      name: svc.metadata.name!,
      uid: svc.metadata.uid,
      resourceVersion: svc.metadata.resourceVersion,
      message,
    });
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    const notices = this.#outbox;
    this.#outbox = [];
    for (const n of notices) {
      const stored = n.store.peek(SERVICE, n.namespace, n.name);
      // A write rolled back (dry run, failed transaction) never happened: say nothing.
      if (!stored || stored.metadata.uid !== n.uid || stored.metadata.resourceVersion !== n.resourceVersion) continue;
      const notice: LoadBalancerPendingNotice = { service: deepCopy(stored) as Service, reason: 'AllocationFailed', message: n.message };
      if (pendingChannel.hasSubscribers) pendingChannel.publish(notice);
      try {
        this.#options.onLoadBalancerPending?.(notice);
      } catch {
        // A listener's failure must not break the store.
      }
    }
  }

  #queueRetry(store: ObjectStore): void {
    if (this.#retryStore) return;
    this.#retryStore = store;
    queueMicrotask(() => {
      this.#retryStore = undefined;
      this.retryPending(store);
    });
  }

  /**
   * Gives pool addresses to pending LoadBalancer Services (oldest key first), writing them
   * through the status subresource. Runs by itself after pool addresses are released.
   */
  retryPending(store: ObjectStore): void {
    if (!this.loadBalancer) return;
    for (const key of [...this.#pending].sort()) {
      const slash = key.indexOf('/');
      const stored = store.peek(SERVICE, key.slice(0, slash), key.slice(slash + 1)) as Service | undefined;
      if (!stored || !this.#isPending(stored)) {
        this.#pending.delete(key);
        continue;
      }
      const requested = stored.spec.loadBalancerIP ? (canonicalIP(stored.spec.loadBalancerIP) ?? stored.spec.loadBalancerIP) : undefined;
      const result = this.#pickLoadBalancerIPs(stored, key, requested);
      if (typeof result === 'string') continue;
      const update = deepCopy(stored) as Service;
      update.status = { ...(update.status ?? {}), loadBalancer: { ingress: result.map((ip) => ({ ip, ipMode: 'VIP' })) } };
      try {
        store.update(update, { subresource: 'status' });
      } catch {
        // Give back what was taken for it; the Service stays pending.
        const held = new Set(this.#held.get(key)?.lb ?? []);
        for (const ip of result) {
          if (held.has(ip) || this.#lbOwner.get(ip) !== key) continue;
          this.#lbOwner.delete(ip);
          this.loadBalancer.release(ip);
        }
      }
    }
  }
}
