/**
 * A running emulated cluster: the library API that the CLI and tests drive.
 *
 * Realizing a {@link ClusterSpec} (describe, then realize): the object store with its admission
 * chain (defaulting → allocation → validation), the bootstrap objects every cluster has
 * (namespaces, Nodes, the `kubernetes` Service), the controllers of kube-controller-manager, and
 * one kubelet per node. Everything a user sees is derived from the store by those watchers.
 *
 * Lifecycle states: `created` → `running` → `stopped` (a failed start ends in `stopped` too).
 */

import { AggregateApplyError, NotFoundError, PodnetError, TimeoutError, type SourceLocation } from './core/errors.js';
import { rfc3339, systemClock, type Clock } from './core/clock.js';
import { SeededRng } from './core/rng.js';
import type { KubeObject } from './api/meta.js';
import { KINDS, FIRST_KINDS, resolveKind, type KindInfo } from './api/scheme.js';
import { NODE_LIFECYCLE_DEFAULTS, type ClusterSpec } from './api/cluster.js';
import { WellKnown, type Node, type Pod } from './api/types.js';
import { ObjectStore, type DeleteOptions, type ListOptions, type WatchEvent, type WatchOptions } from './apiserver/store.js';
import { defaulting } from './apiserver/defaults.js';
import { defaultTolerationSeconds } from './apiserver/defaulttolerationseconds.js';
import type { NodeTable, PodnetControl, NodePowerState, RulesOptions } from './apiserver/server/podnet.js';
import { validation } from './apiserver/validation/index.js';
import { createServiceAllocation } from './apiserver/allocators/index.js';
import { ControllerManager, type ControllerContext } from './controllers/controller.js';
import { EventRecorder } from './controllers/events.js';
import { createNodeIpam } from './controllers/nodeipam.js';
import { SchedulerController } from './controllers/scheduler.js';
import { ReplicaSetController } from './controllers/replicaset.js';
import { DeploymentController } from './controllers/deployment.js';
import { StatefulSetController } from './controllers/statefulset.js';
import { DaemonSetController } from './controllers/daemonset.js';
import { EndpointSliceController } from './controllers/endpointslice.js';
import { NodeLifecycleController, TaintEvictionController } from './controllers/nodelifecycle.js';
import { Kubelet } from './kubelet/kubelet.js';
import { KubeProxyAgent } from './kubeproxy/agent.js';
import { HostAccessController, type HostAccessEntry } from './kubeproxy/host-access.js';
import './kubeproxy/modes.js';
import { formatColumns } from './printers/printers.js';
import { NetworkAgentController } from './kubelet/network-agent.js';
import { NodeStatusAgent, kubeletConditions } from './kubelet/node-status.js';
import { Dataplane } from './dataplane/dataplane.js';
import { formatTrace, type FlowDecision } from './dataplane/pipeline.js';
import { isIP } from 'node:net';
import { lookupImage } from './images/registry.js';
import { createNetworkPlugin, type NetworkPlugin } from '../plugins/registry.js';
import { defaultClusterSpec, nodeLabels } from './topology/cluster.js';
import { adoptSnapshotNodes, loadTopologyFiles, type Topology } from './topology/load.js';
import type { SourcedObject } from './topology/manifests.js';
import { applyPatch, withLastApplied } from './kubectl/apply.js';
import { ExecStartError, type ExecResult } from './exec/index.js';
import { selectContainer } from './exec/target.js';

/** Options for starting a cluster. */
export interface ClusterOptions {
  /** Overrides the topology's seed. */
  seed?: number;
  clock?: Clock;
  /** How long a dropped flow hangs before it fails with ETIMEDOUT (the kernel's retransmits). */
  dropTimeoutMs?: number;
  /** How many changes watches can replay (the store's compaction window). */
  historyLimit?: number;
  /**
   * Virtual address and port the `kubernetes` Service's endpoint names (the kube-apiserver);
   * by default the first control-plane node's address and 6443, as on a kind cluster.
   */
  apiServerEndpoint?: { address: string; port: number };
}

/** What `apply` did to each object. */
export interface ApplyResult {
  object: KubeObject;
  action: 'created' | 'configured' | 'unchanged';
}

/** Options for `apply`. */
export interface ApplyOptions {
  /**
   * Snapshot import: keep uid, creationTimestamp and status as given (objects as
   * `kubectl get -o yaml` prints them), so IPs, CIDRs and conditions stay exactly as they were.
   * By default an object is restored this way when it carries a status or a uid.
   */
  snapshot?: boolean;
  dryRun?: boolean;
}

/** The states a cluster moves through. */
export type ClusterState = 'created' | 'running' | 'stopped';


/** The namespaces every cluster starts with. */
export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** An emulated cluster. */
export class Cluster implements PodnetControl {
  readonly spec: ClusterSpec;
  readonly store: ObjectStore;
  readonly clock: Clock;
  readonly recorder: EventRecorder;
  readonly network: NetworkPlugin;
  /** Every node's network state, the flow pipeline, and the sockets that carry flows. */
  readonly dataplane: Dataplane;
  #manager: ControllerManager;
  #kubelets = new Map<string, Kubelet>();
  #nodeAgents = new Map<string, NodeStatusAgent>();
  #kubeProxies = new Map<string, KubeProxyAgent>();
  #hostAccess: HostAccessController | undefined;
  /** Nodes powered off (`down: true`, `stopNode`). */
  #down = new Set<string>();
  #state: ClusterState = 'created';
  #options: ClusterOptions;

  constructor(spec: ClusterSpec, options: ClusterOptions = {}) {
    this.spec = options.seed === undefined ? spec : { ...spec, seed: options.seed };
    this.#options = options;
    this.clock = options.clock ?? systemClock;
    const rng = new SeededRng(this.spec.seed);
    this.store = new ObjectStore({ clock: this.clock, rng, ...(options.historyLimit ? { historyLimit: options.historyLimit } : {}) });
    this.network = createNetworkPlugin(this.spec);
    this.dataplane = new Dataplane(this.spec, { clock: this.clock, rng: new SeededRng((this.spec.seed ?? rng.seed) + 1), ...(options.dropTimeoutMs ? { dropTimeoutMs: options.dropTimeoutMs } : {}) });
    this.recorder = new EventRecorder(this.store);
    const serviceAllocation = createServiceAllocation(this.spec, {
      // The load-balancer IPAM (MetalLB's role) reports a Service it cannot serve yet.
      onLoadBalancerPending: (n) => this.recorder.record(n.service, 'Warning', n.reason, n.message, 'metallb-controller'),
    });
    const lifecycle = this.spec.nodeLifecycle ?? NODE_LIFECYCLE_DEFAULTS;
    const tolerationSeconds = { notReadySeconds: lifecycle.evictionTimeoutSeconds, unreachableSeconds: lifecycle.evictionTimeoutSeconds };
    this.store.use(defaulting).use(defaultTolerationSeconds(tolerationSeconds)).use(createNodeIpam(this.spec)).use(serviceAllocation).use(validation);
    const ctx: ControllerContext = { store: this.store, clock: this.clock, rng, cluster: this.spec, recorder: this.recorder };
    this.#manager = new ControllerManager(ctx);
  }

  /** Reads topology files and starts the cluster they describe with their objects in it. */
  static async fromFiles(files: string[], options: ClusterOptions = {}): Promise<Cluster> {
    return Cluster.fromTopology(loadTopologyFiles(files), options);
  }

  /** Starts a cluster of the given shape (default: kind's single node) with objects in it. */
  static async fromObjects(objects: KubeObject[], spec: ClusterSpec = defaultClusterSpec(), options: ClusterOptions = {}): Promise<Cluster> {
    const cluster = new Cluster(spec, options);
    await cluster.start(objects);
    return cluster;
  }

  /** Starts a cluster from a parsed topology. */
  static async fromTopology(topology: Topology, options: ClusterOptions = {}): Promise<Cluster> {
    const cluster = new Cluster(topology.cluster, options);
    await cluster.start(topology.objects);
    return cluster;
  }

  /** The lifecycle state. */
  get state(): ClusterState {
    return this.#state;
  }

  /** The seed in force (the topology's, the option's, or the one drawn from entropy). */
  get seed(): number {
    return this.store.rng.seed;
  }

  /**
   * Creates the bootstrap objects and the given ones (all-or-nothing), starts the controllers
   * and kubelets, and resolves once they have converged.
   */
  async start(input: (KubeObject | SourcedObject)[] = []): Promise<void> {
    if (this.#state !== 'created') throw new PodnetError('PODNET_CLUSTER_STATE', `cannot start a cluster that is ${this.#state}`);
    const objects = input.map(toSourced);
    adoptSnapshotNodes(this.spec, objects);
    try {
      this.store.transaction(() => {
        // Nodes that come as objects (a snapshot) are created from those objects instead.
        const given = new Set(objects.filter((o) => o.object.kind === 'Node').map((o) => o.object.metadata?.name));
        this.#bootstrap(given);
        this.#applyAll(objects, {});
      });
    } catch (err) {
      this.#state = 'stopped';
      throw err;
    }
    this.#manager
      .add(new NetworkAgentController(this.network, this.dataplane))
      .add(new SchedulerController())
      .add(new ReplicaSetController())
      .add(new DeploymentController())
      .add(new StatefulSetController())
      .add(new DaemonSetController())
      .add(new EndpointSliceController({ kubernetesEndpoint: this.#options.apiServerEndpoint ?? this.#defaultApiServerEndpoint() }))
      .add(new NodeLifecycleController({ nodeMonitorGracePeriodMs: (this.spec.nodeLifecycle ?? NODE_LIFECYCLE_DEFAULTS).nodeMonitorGracePeriodSeconds * 1000 }))
      .add(new TaintEvictionController());
    this.#hostAccess = new HostAccessController({ dataplane: this.dataplane, isUp: (n) => !this.#down.has(n) });
    this.#manager.add(this.#hostAccess);
    for (const node of this.spec.nodes) {
      if (node.down) {
        this.#down.add(node.name);
        this.dataplane.setNodeDown(node.name, true);
      } else this.#powerOn(node.name);
    }
    this.#state = 'running';
    await this.settle();
  }

  /** Resolves once every controller and kubelet has nothing left to do. */
  async settle(): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      await this.#manager.whenIdle();
      // A reconcile may have scheduled follow-up work on the next tick; settle means quiet.
      await new Promise((r) => setImmediate(r));
      if (this.#manager.idle) return;
    }
  }

  /** Starts a node's kubelet and its heartbeat. */
  #powerOn(name: string, restart = false): void {
    // At the cluster's start the kubelet adopts pods that arrive running (a snapshot keeps its
    // states); a node powered on again recomputes every status, as a restarted kubelet does.
    const kubelet = new Kubelet(name, this.network, { dataplane: this.dataplane, lookupImage, adoptRunningPods: !restart });
    const agent = new NodeStatusAgent(name, { dataplane: this.dataplane });
    const proxy = new KubeProxyAgent(name, { network: this.dataplane.nodes.get(name)!, dataplane: this.dataplane });
    this.#kubelets.set(name, kubelet);
    this.#nodeAgents.set(name, agent);
    this.#kubeProxies.set(name, proxy);
    this.#manager.add(kubelet).add(agent).add(proxy);
    this.#hostAccess?.resyncAll();
  }

  /**
   * Powers a node off, as pulling its plug would: its kubelet and heartbeat stop, its sandboxes
   * close (nothing listens on their addresses any more), and the data plane treats it as gone —
   * flows to it get no answer, nothing on it sends. The control plane finds out the way it
   * would: the node lifecycle controller marks it Ready=Unknown once its lease is not renewed for
   * the grace period, and evicts its pods after their tolerationSeconds.
   */
  async stopNode(name: string): Promise<NodePowerState> {
    this.#requireRunning();
    this.#requireNode(name);
    if (this.#down.has(name)) return { node: name, state: 'stopped', changed: false };
    this.#down.add(name);
    this.dataplane.setNodeDown(name, true);
    const agent = this.#nodeAgents.get(name);
    const kubelet = this.#kubelets.get(name);
    this.#nodeAgents.delete(name);
    this.#kubelets.delete(name);
    if (agent) {
      await agent.shutdown();
      this.#manager.remove(agent);
    }
    if (kubelet) this.#manager.remove(kubelet);
    const proxy = this.#kubeProxies.get(name);
    this.#kubeProxies.delete(name);
    if (proxy) this.#manager.remove(proxy);
    this.#hostAccess?.resyncAll();
    await this.settle();
    return { node: name, state: 'stopped', changed: true };
  }

  /**
   * Powers a node on again: its kubelet comes back and runs the pods still bound to it (pods
   * evicted meanwhile are gone, or finish terminating now), and its heartbeat brings it Ready.
   */
  async startNode(name: string): Promise<NodePowerState> {
    this.#requireRunning();
    this.#requireNode(name);
    if (!this.#down.has(name)) return { node: name, state: 'running', changed: false };
    this.#down.delete(name);
    this.dataplane.setNodeDown(name, false);
    this.#powerOn(name, true);
    await this.settle();
    return { node: name, state: 'running', changed: true };
  }

  /** Whether each node is running or stopped, in node order. */
  nodePowerStates(): NodePowerState[] {
    return this.spec.nodes.map((n) => ({ node: n.name, state: this.#down.has(n.name) ? 'stopped' : 'running', changed: false }));
  }

  #requireNode(name: string): void {
    if (!this.spec.nodes.some((n) => n.name === name)) throw new NotFoundError({ kind: 'Node', name }, 'nodes');
  }

  /** Stops every controller and kubelet and releases their resources. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    for (const kubelet of this.#kubelets.values()) kubelet.stop();
    this.#manager.stop();
    await this.dataplane.close();
  }

  /** The kube-apiserver's virtual endpoint: the first control-plane node's address, port 6443. */
  #defaultApiServerEndpoint(): { address: string; port: number } {
    const cp = this.spec.nodes.find((n) => n.role === 'control-plane') ?? this.spec.nodes[0]!;
    return { address: cp.address, port: 6443 };
  }

  #bootstrap(givenNodes: Set<string | undefined>): void {
    for (const name of SYSTEM_NAMESPACES) {
      this.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
    for (const node of this.spec.nodes) if (!givenNodes.has(node.name)) this.store.create(this.#nodeObject(node));
    this.store.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: { type: 'ClusterIP', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }], sessionAffinity: 'None' },
    });
  }

  #nodeObject(node: ClusterSpec['nodes'][number]): Node {
    const taints = [...node.taints];
    if (node.role === 'control-plane' && !node.schedulable) {
      taints.unshift({ key: WellKnown.controlPlaneTaint, effect: 'NoSchedule' });
    }
    const now = rfc3339(this.clock.now());
    // A node that starts powered off is one whose kubelet went quiet: what the node lifecycle
    // controller writes (nodelifecycle.ts), so nothing is scheduled there from the start.
    const unknown = { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' };
    const obj: Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: node.name, labels: nodeLabels(node), annotations: { 'node.alpha.kubernetes.io/ttl': '0' } },
      spec: { ...(node.podCIDR ? { podCIDR: node.podCIDR, podCIDRs: [node.podCIDR] } : {}), ...(taints.length ? { taints } : {}) },
      status: {
        addresses: [
          { type: 'InternalIP', address: node.address },
          { type: 'Hostname', address: node.name },
        ],
        conditions: kubeletConditions([], now).map((c) => (node.down ? { ...c, ...unknown } : c)),
        capacity: { cpu: '2', memory: '8Gi', pods: '110', 'ephemeral-storage': '100Gi' },
        allocatable: { cpu: '2', memory: '8Gi', pods: '110', 'ephemeral-storage': '100Gi' },
        nodeInfo: {
          architecture: 'amd64',
          operatingSystem: 'linux',
          osImage: 'podnet',
          kernelVersion: 'podnet',
          containerRuntimeVersion: 'podnet://0.1.0',
          kubeletVersion: this.spec.kubernetesVersion,
          kubeProxyVersion: this.spec.kubernetesVersion,
          machineID: '',
          systemUUID: '',
          bootID: '',
        },
      },
    };
    return obj;
  }

  // ------------------------------------------------------------------ objects

  /**
   * Applies objects as `kubectl apply` does (create, or three-way patch of an existing object),
   * all-or-nothing: if any object fails, nothing changes and every error found is reported
   * together, each naming its file, line, object and field.
   */
  apply(input: (KubeObject | SourcedObject)[], options: ApplyOptions = {}): ApplyResult[] {
    this.#requireRunning();
    const objects = input.map(toSourced);
    if (options.dryRun) {
      let results: ApplyResult[] = [];
      try {
        this.store.transaction(() => {
          results = this.#applyAll(objects, options);
          throw DRY_RUN;
        });
      } catch (err) {
        if (err !== DRY_RUN) throw err;
      }
      return results;
    }
    return this.store.transaction(() => this.#applyAll(objects, options));
  }

  #applyAll(objects: SourcedObject[], options: ApplyOptions): ApplyResult[] {
    const ordered = [...objects].sort((a, b) => rank(a.object) - rank(b.object));
    const results: ApplyResult[] = [];
    const errors: PodnetError[] = [];
    for (const { object, source } of ordered) {
      try {
        results.push(this.#applyOne(object, options, source));
      } catch (err) {
        if (!(err instanceof PodnetError)) throw err;
        const m = object.metadata ?? {};
        errors.push(err.locate(source, { kind: object.kind, namespace: m.namespace, name: m.name }));
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length) throw new AggregateApplyError(errors);
    return results;
  }

  #applyOne(manifest: KubeObject, options: ApplyOptions, source: SourceLocation): ApplyResult {
    void source;
    const info = this.store.kindOf(manifest);
    const ns = info.namespaced ? manifest.metadata?.namespace || 'default' : undefined;
    const name = manifest.metadata?.name;
    const live = name ? this.store.get(info, ns, name) : undefined;
    if (!live) {
      const restore = options.snapshot ?? (manifest.status !== undefined || !!manifest.metadata?.uid);
      const obj = restore ? snapshotObject(manifest) : withLastApplied(stripStatus(manifest));
      const created = this.store.create(obj, { keepIdentity: restore });
      if (restore && manifest.status !== undefined && info.subresources.status) {
        // A snapshot's status is restored as it was (admission may have filled status on create).
        const restored = this.store.update({ ...created, status: manifest.status }, { subresource: 'status' });
        return { object: restored, action: 'created' };
      }
      return { object: created, action: 'created' };
    }
    const patch = applyPatch(manifest, live);
    if (!Object.keys(patch).length) return { object: live, action: 'unchanged' };
    const updated = this.store.patch(info, ns, name!, 'merge', patch);
    return { object: updated, action: updated.metadata.resourceVersion === live.metadata.resourceVersion ? 'unchanged' : 'configured' };
  }

  /** Resolves a kind the way kubectl does (`po`, `svc`, `deployments.apps`, `Pod`). */
  resolveKind(name: string): KindInfo {
    return resolveKind(name);
  }

  /** Gets one object (a copy), or undefined. */
  get(kind: string | KindInfo, name: string, namespace?: string): KubeObject | undefined {
    const info = typeof kind === 'string' ? this.resolveKind(kind) : kind;
    return this.store.get(info, info.namespaced ? namespace || 'default' : undefined, name);
  }

  /** Lists objects (copies). Without a namespace, lists across all namespaces. */
  list(kind: string | KindInfo, options: ListOptions = {}): KubeObject[] {
    const info = typeof kind === 'string' ? this.resolveKind(kind) : kind;
    return this.store.list(info, options).items;
  }

  /** Deletes one object. */
  delete(kind: string | KindInfo, name: string, namespace?: string, options: DeleteOptions = {}): KubeObject {
    this.#requireRunning();
    const info = typeof kind === 'string' ? this.resolveKind(kind) : kind;
    return this.store.delete(info, info.namespaced ? namespace || 'default' : undefined, name, options);
  }

  /** Watches a kind; returns a function that stops the watch. */
  watch(kind: string | KindInfo, options: WatchOptions, handler: (event: WatchEvent) => void): () => void {
    const info = typeof kind === 'string' ? this.resolveKind(kind) : kind;
    return this.store.watch(info, options, handler);
  }

  /**
   * Waits until an object satisfies `condition` (checked now and on every change), or rejects
   * with {@link TimeoutError} after `timeoutMs` of the cluster clock.
   */
  waitFor(
    kind: string | KindInfo,
    name: string,
    namespace: string | undefined,
    condition: (obj: KubeObject | undefined) => boolean,
    timeoutMs = 30_000,
  ): Promise<KubeObject | undefined> {
    const info = typeof kind === 'string' ? this.resolveKind(kind) : kind;
    const ns = info.namespaced ? namespace || 'default' : undefined;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        stop();
        timer.cancel();
        fn();
      };
      const check = () => {
        const obj = this.store.get(info, ns, name);
        if (condition(obj)) finish(() => resolve(obj));
      };
      const stop = this.store.watch(info, { namespace: ns, resourceVersion: this.store.resourceVersion, fieldSelector: `metadata.name=${name}` }, check);
      const timer = this.clock.setTimeout(
        () => finish(() => reject(new TimeoutError(`timed out after ${timeoutMs}ms waiting for ${info.kind} ${ns ? `${ns}/` : ''}${name}`))),
        timeoutMs,
      );
      check();
    });
  }

  /**
   * `podnet trace`: the path a new flow from a pod would take (`from` and a pod `to` are
   * `namespace/name` or a name in default; `to` may be an IP), decided without opening anything.
   */
  trace(from: string, to: string, port: number, protocol: 'TCP' | 'UDP' | 'SCTP' = 'TCP'): { text: string; decision: FlowDecision } {
    const podRef = (ref: string) => (ref.includes('/') ? ref : `default/${ref}`);
    const source = podRef(from);
    const [fns, fname] = source.split('/') as [string, string];
    const pod = this.get('pods', fname, fns) as Pod | undefined;
    if (!pod) throw new NotFoundError({ kind: 'Pod', name: fname, namespace: fns }, 'pods');
    if (!pod.status?.podIP) throw new PodnetError('PODNET_BAD_REQUEST', `pod ${source} has no IP yet`);
    let dst = to;
    if (!isIP(dst)) {
      const [tns, tname] = podRef(dst).split('/') as [string, string];
      const target = this.get('pods', tname, tns) as Pod | undefined;
      if (!target) throw new NotFoundError({ kind: 'Pod', name: tname, namespace: tns }, 'pods');
      if (!target.status?.podIP) throw new PodnetError('PODNET_BAD_REQUEST', `pod ${tns}/${tname} has no IP yet`);
      dst = target.status.podIP;
    }
    const decision = this.dataplane.decide({ kind: 'pod', node: pod.spec.nodeName!, pod: source }, { protocol, src: pod.status.podIP, sport: 40000, dst, dport: port });
    return { text: `trace ${source} (${pod.status.podIP}) → ${dst}:${port}/${protocol}\n${formatTrace(decision)}`, decision };
  }

  /** A node's routes, neighbours, FDB or conntrack table, as `ip route`, `ip neigh`, `bridge fdb` and `conntrack -L` print them. */
  nodeTable(node: string, table: NodeTable): string {
    const net = this.dataplane.nodes.get(node);
    if (!net) throw new NotFoundError({ kind: 'Node', name: node }, 'nodes');
    switch (table) {
      case 'routes':
        return net.formatRoutes();
      case 'neigh':
        return net.formatNeighbors();
      case 'fdb':
        return net.formatFdb();
      case 'conntrack':
        return net.conntrack.format();
      case 'kube-proxy':
        return this.#syncHistory(node);
    }
  }

  /** A node's kube-proxy syncs: when, how long, full or partial, rules written and held. */
  #syncHistory(node: string): string {
    const proxy = this.#kubeProxies.get(node);
    if (!proxy) return `kube-proxy on ${node} is not running (node stopped)\n`;
    const rows = [['SYNC', 'MODE', 'KIND', 'DURATION', 'RULES-WRITTEN', 'RULES', 'SERVICE-PORTS', 'SERVICES', 'ERROR']];
    for (const r of proxy.history) {
      rows.push([
        String(r.seq),
        proxy.mode,
        r.full ? 'full' : 'partial',
        `${r.durationMs.toFixed(2)}ms`,
        r.rulesWritten === undefined ? '-' : String(r.rulesWritten),
        r.totalRules === undefined ? '-' : String(r.totalRules),
        r.servicePortsSynced === undefined ? '-' : String(r.servicePortsSynced),
        r.full ? '(all)' : r.services.join(',') || '-',
        r.error ?? '',
      ]);
    }
    return formatColumns(rows);
  }

  /** The kube-proxy of a node (while the node is up). */
  kubeProxy(node: string): KubeProxyAgent | undefined {
    return this.#kubeProxies.get(node);
  }

  /** What the host reaches: NodePort, load-balancer and health-check listeners (`ns/name` for one Service). */
  hostAccess(serviceKey?: string): HostAccessEntry[] {
    return this.#hostAccess?.entries(serviceKey) ?? [];
  }

  /**
   * A node's rule tables as the real tool prints them (`podnet rules NODE`): `iptables-save [-c]`,
   * `nft list ruleset`, or `ipvsadm -Ln [--stats]`; by default the format of the kube-proxy mode.
   */
  rules(node: string, options: RulesOptions = {}): string {
    const net = this.dataplane.nodes.get(node);
    if (!net) throw new NotFoundError({ kind: 'Node', name: node }, 'nodes');
    const proxy = this.#kubeProxies.get(node);
    const format = options.format ?? (proxy?.backend?.formats[0] ?? 'iptables-save');
    const counters = options.counters ? { counters: true } : {};
    if (format === 'iptables-save') return net.netfilter.save(counters);
    if (!proxy?.backend?.formats.includes(format)) {
      throw new PodnetError('PODNET_BAD_REQUEST', `node ${node} runs kube-proxy in ${proxy?.mode ?? this.spec.kubeProxy.mode} mode: its tables print as ${(proxy?.backend?.formats ?? ['iptables-save']).join(' or ')}, not ${format}`);
    }
    return proxy.backend.render(format, counters);
  }

  /** The kubelet of a node. */
  kubelet(node: string): Kubelet | undefined {
    return this.#kubelets.get(node);
  }

  /**
   * Runs a command in a pod's container, as `kubectl exec` does (see lib/exec): the container is
   * `options.container`, else the `kubectl.kubernetes.io/default-container` annotation's, else the
   * first. Resolves with the exit code and output; rejects with a {@link PodnetError} when the
   * pod or container does not exist or is not running, or the image has no such program.
   */
  async exec(namespace: string, pod: string, options: { container?: string; argv: readonly string[]; stdin?: Buffer }): Promise<ExecResult & { container: string; notice?: string }> {
    this.#requireRunning();
    const object = this.store.get(resolveKind('pods'), namespace, pod) as Pod | undefined;
    if (!object) throw new PodnetError('PODNET_NOT_FOUND', `pods "${pod}" not found`);
    const target = selectContainer(object, options.container, 'kubectl');
    const sandbox = this.#kubelets.get(object.spec.nodeName!)?.sandbox(`${namespace}/${pod}`);
    if (!sandbox) throw new ExecStartError('PODNET_CONTAINER_NOT_RUNNING', `container not found (${JSON.stringify(target.container)})`, 400, 'BadRequest');
    const result = await sandbox.exec(target.container, options.argv, options.stdin);
    return { ...result, ...target };
  }

  #requireRunning(): void {
    if (this.#state !== 'running') throw new PodnetError('PODNET_CLUSTER_STATE', `the cluster is ${this.#state}`);
  }
}

const DRY_RUN = Symbol('dry-run');

function toSourced(o: KubeObject | SourcedObject): SourcedObject {
  return 'object' in o && 'source' in o ? (o as SourcedObject) : { object: o as KubeObject, source: { file: '<input>' } };
}

/** Order of creation within one apply: namespaces and class-like kinds first. */
function rank(obj: KubeObject): number {
  if (obj.kind === 'Namespace') return 0;
  if (FIRST_KINDS.has(obj.kind)) return 1;
  if (obj.kind === 'Node') return 2;
  const i = KINDS.findIndex((k) => k.kind === obj.kind);
  return 10 + (i < 0 ? KINDS.length : i);
}

function stripStatus(obj: KubeObject): KubeObject {
  const { status: _s, ...rest } = obj;
  void _s;
  return rest as KubeObject;
}

/** A snapshot object keeps identity; resourceVersion and managedFields are the store's own. */
function snapshotObject(obj: KubeObject): KubeObject {
  const copy = structuredClone(obj);
  delete copy.metadata.resourceVersion;
  delete copy.metadata.managedFields;
  return copy;
}

