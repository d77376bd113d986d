/**
 * The controller tests' cluster: an ObjectStore on a manual clock with the `default` and
 * `kube-system` namespaces, kind's three Ready nodes, a ControllerManager, and a fake kubelet
 * that does what a real one reports through the status subresource (pods Running and Ready,
 * terminating pods gone). Not a test file: tap's include pattern is `test/**\/*.test.ts`.
 */

import { ObjectStore, type AdmissionPlugin, type ObjectStoreOptions } from '../../lib/apiserver/store.js';
import { ManualClock, rfc3339, type Clock } from '../../lib/core/clock.js';
import { SeededRng, type Rng } from '../../lib/core/rng.js';
import { requireKind } from '../../lib/api/scheme.js';
import type { ClusterSpec, NetworkSpec } from '../../lib/api/cluster.js';
import type { KubeObject } from '../../lib/api/meta.js';
import type { Node, Pod, PodStatus, Taint } from '../../lib/api/types.js';
import { ControllerManager, type Controller } from '../../lib/controllers/controller.js';
import { EventRecorder } from '../../lib/controllers/events.js';

const POD = requireKind('v1', 'Pod');
const EVENT = requireKind('v1', 'Event');

/** The taint kubeadm puts on a control-plane node. */
export const CONTROL_PLANE_TAINT: Taint = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };

/** A cluster spec with kind's network defaults (single-stack, no load-balancer pool unless given). */
export function clusterSpec(overrides: { name?: string; network?: Partial<NetworkSpec> } = {}): ClusterSpec {
  return {
    name: overrides.name ?? 'podnet',
    nodes: [],
    network: {
      plugin: 'flannel',
      mtu: 1500,
      podSubnet: '10.244.0.0/16',
      nodeCIDRMaskSize: 24,
      serviceSubnet: '10.96.0.0/12',
      loadBalancerPool: [],
      serviceNodePortRange: '30000-32767',
      ...overrides.network,
    },
    kubeProxy: { mode: 'iptables' },
    dns: { domain: 'cluster.local' },
    links: [],
    kubernetesVersion: 'v1.32.0',
  };
}

/** A Ready Node labelled `kubernetes.io/hostname=<name>`, with extra labels, taints and spec fields. */
export function readyNode(name: string, labels: Record<string, string> = {}, taints: Taint[] = [], extra: Partial<Node['spec']> = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    spec: { ...(taints.length ? { taints } : {}), ...extra },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

/** kind's three-node layout: a tainted control plane and two workers, all Ready. */
export function kindNodes(workerLabels: [Record<string, string>, Record<string, string>] = [{}, {}]): Node[] {
  return [
    readyNode('podnet-control-plane', { 'node-role.kubernetes.io/control-plane': '' }, [CONTROL_PLANE_TAINT]),
    readyNode('podnet-worker', workerLabels[0]),
    readyNode('podnet-worker2', workerLabels[1]),
  ];
}

/** An ObjectStore with its admission plugins (in order) and the `default` and `kube-system` namespaces. */
export function namespacedStore(options: ObjectStoreOptions & { plugins?: AdmissionPlugin[] } = {}): ObjectStore {
  const { plugins = [], ...storeOptions } = options;
  const store = new ObjectStore(storeOptions);
  for (const plugin of plugins) store.use(plugin);
  for (const name of ['default', 'kube-system']) store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return store;
}

/** A ControllerManager over `store`, recording Events into it, with `controllers` added in order. */
export function startControllers(
  store: ObjectStore,
  options: { clock: Clock; rng: Rng; cluster?: ClusterSpec; controllers: Controller[] },
): ControllerManager {
  const recorder = new EventRecorder(store);
  const manager = new ControllerManager({ store, clock: options.clock, rng: options.rng, cluster: options.cluster ?? clusterSpec(), recorder });
  for (const c of options.controllers) manager.add(c);
  return manager;
}

/**
 * A cluster on a manual clock: the namespaces, `nodes` (kind's three by default), then
 * `controllers`. The store and the manager each get their own generator seeded with `seed`, as
 * kube-apiserver and kube-controller-manager are separate processes.
 */
export function controllerCluster(controllers: Controller[], options: { seed?: number; nodes?: Node[] } = {}) {
  const seed = options.seed ?? 1;
  const clock = new ManualClock();
  const store = namespacedStore({ clock, rng: new SeededRng(seed) });
  for (const n of options.nodes ?? kindNodes()) store.create(n);
  const manager = startControllers(store, { clock, rng: new SeededRng(seed), controllers });
  return { store, clock, manager };
}

/** What the kubelet reports for a pod: phase, addresses and the Ready condition. */
export interface PodReport {
  phase?: NonNullable<PodStatus['phase']>;
  /** podIP is the first; none leaves both podIP and podIPs out. */
  ips?: string[];
  ready?: boolean;
  /** The Ready condition's lastTransitionTime, if any. */
  readySince?: string;
}

/** Replaces `pod`'s status through the status subresource, as the kubelet does; Running and Ready by default. */
export function reportPodStatus(store: ObjectStore, pod: Pod, report: PodReport = {}): Pod {
  const ips = report.ips ?? [];
  const status: PodStatus = {
    phase: report.phase ?? 'Running',
    ...(ips.length ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
    conditions: [
      { type: 'Ready', status: report.ready === false ? 'False' : 'True', ...(report.readySince ? { lastTransitionTime: report.readySince } : {}) },
    ],
  };
  return store.update({ ...pod, status }, { subresource: 'status' }) as Pod;
}

/**
 * The kubelets of every node, for one namespace: bound pods start Running and Ready (stamped with
 * the clock), terminating pods finish at once. Pods whose image does not match `starts` never start.
 */
export class FakeKubelet {
  readonly #store: ObjectStore;
  readonly #clock: Clock;
  readonly #namespace: string;
  readonly #starts: (image: string) => boolean;

  constructor(store: ObjectStore, clock: Clock, options: { namespace?: string; starts?: (image: string) => boolean } = {}) {
    this.#store = store;
    this.#clock = clock;
    this.#namespace = options.namespace ?? 'default';
    this.#starts = options.starts ?? (() => true);
  }

  /** The namespace's pods, by name. */
  pods(): Pod[] {
    return this.#store.list(POD, { namespace: this.#namespace }).items as Pod[];
  }

  /** Terminating pods finish (grace period 0). Returns whether any did. */
  finishTerminating(): boolean {
    let changed = false;
    for (const p of this.pods()) {
      if (!p.metadata.deletionTimestamp) continue;
      this.#store.delete(POD, this.#namespace, p.metadata.name!, { gracePeriodSeconds: 0 });
      changed = true;
    }
    return changed;
  }

  /** Bound pods not yet Running start Running and Ready, at most `limit` of them, by name. Returns whether any did. */
  startBound(limit = Infinity): boolean {
    let started = 0;
    for (const p of this.pods()) {
      if (started >= limit) break;
      if (!p.spec.nodeName || p.metadata.deletionTimestamp || p.status?.phase === 'Running') continue;
      if (!this.#starts(p.spec.containers[0]?.image ?? '')) continue;
      reportPodStatus(this.#store, p, { readySince: rfc3339(this.#clock.now()) });
      started++;
    }
    return started > 0;
  }

  /** Terminating pods finish, then bound pods start: all of them, or just the first. Returns whether anything changed. */
  step(all = true): boolean {
    const finished = this.finishTerminating();
    const started = this.startBound(all ? Infinity : 1);
    return finished || started;
  }
}

/** Alternates controllers and `step` until `step` changes nothing (at most `rounds` times), then lets the controllers finish. */
export async function converge(manager: ControllerManager, step: () => boolean, rounds = 100): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await manager.whenIdle();
    if (!step()) break;
  }
  await manager.whenIdle();
}

/** The Events with `reason`, in the order they were recorded. */
export function eventsWithReason(store: ObjectStore, reason: string): KubeObject[] {
  return store
    .list(EVENT)
    .items.filter((e) => e.reason === reason)
    .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
}
