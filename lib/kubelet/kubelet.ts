/**
 * The kubelet of one emulated node: it runs the pods bound to its node.
 *
 * For each pod it sets up the sandbox through the node's CNI plugin (CNI ADD on eth0, the pod's
 * IP from the result), reports status as the real kubelet does (phase, podIP/podIPs,
 * hostIP/hostIPs, startTime, the PodReadyToStartContainers / Initialized / ContainersReady /
 * Ready / PodScheduled conditions and containerStatuses), and finishes graceful deletion: once
 * a deleting pod's containers are stopped it tears the sandbox down (CNI DEL) and removes the
 * pod with grace period 0.
 *
 * A pod that arrives with an IP (a snapshot import) keeps it: the address is asked of IPAM as a
 * static request, like the `cni.projectcalico.org/ipAddrs` annotation.
 *
 * The containers themselves — init containers, probes, restarts with back-off, graceful
 * termination — are run by a {@link PodWorker} per pod; the kubelet writes the status it reports.
 * A pod that is done (Succeeded or Failed) keeps its object but gives its sandbox and IP back.
 */

import { createHash } from 'node:crypto';
import { PodnetError } from '../core/errors.js';
import { requireKind } from '../api/scheme.js';
import { WellKnown, type Node, type Pod } from '../api/types.js';
import { Controller, splitKey } from '../controllers/controller.js';
import type { NetworkPlugin } from '../../plugins/registry.js';
import type { CniResult } from '../../plugins/cni/spec.js';
import { attachPod, detachPod } from '../../plugins/flannel/daemon.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { BuiltinImage } from '../images/types.js';
import { PodSandbox } from './sandbox.js';
import { brief, PodWorker } from './pod-worker.js';
import { canonicalJson } from '../core/json.js';

const POD = requireKind('v1', 'Pod');
const NODE = requireKind('v1', 'Node');

/** The component name kubelet events carry. */
export const KUBELET = 'kubelet';

/** What the kubelet keeps per running sandbox. */
export interface Sandbox {
  uid: string;
  containerId: string;
  result: CniResult;
  ips: string[];
  /** The real sandbox (sockets, containers) when the kubelet runs with a data plane. */
  sandbox?: PodSandbox;
  /** The pod worker running its containers. */
  worker?: PodWorker;
  /** Graceful termination has begun. */
  terminating?: boolean;
  /** CNI DEL has been done (the pod finished; its object may remain). */
  released?: boolean;
}

/** What a kubelet needs to run real sandboxes: the data plane and the built-in images. */
export interface KubeletRuntime {
  dataplane: Dataplane;
  lookupImage(image: string): BuiltinImage | undefined;
  /** Keep the given status of pods that arrive running (a snapshot import); see {@link PodWorker}. */
  adoptRunningPods?: boolean;
}

/** One node's kubelet. */
export class Kubelet extends Controller {
  readonly name: string;
  readonly nodeName: string;
  readonly #network: NetworkPlugin;
  readonly #runtime: KubeletRuntime | undefined;
  readonly #sandboxes = new Map<string, Sandbox>();

  constructor(nodeName: string, network: NetworkPlugin, runtime?: KubeletRuntime) {
    super();
    this.nodeName = nodeName;
    this.name = `kubelet/${nodeName}`;
    this.#network = network;
    this.#runtime = runtime;
  }

  /** The real sandbox of a pod on this node. */
  sandbox(key: string): PodSandbox | undefined {
    return this.#sandboxes.get(key)?.sandbox;
  }

  /** The sandboxes running on this node, by `namespace/name`. */
  get sandboxes(): ReadonlyMap<string, Sandbox> {
    return this.#sandboxes;
  }

  protected setup(): void {
    this.watch(POD, (e) => {
      const m = e.object.metadata;
      const key = `${m.namespace}/${m.name}`;
      if (e.object.spec?.nodeName === this.nodeName || this.#sandboxes.has(key)) return key;
      return undefined;
    });
    this.watch(NODE, (e) => {
      if (e.object.metadata.name !== this.nodeName) return undefined;
      // A podCIDR that arrives late lets pods waiting for it start.
      return [...this.ctx.store.select(POD, { fieldSelector: `spec.nodeName=${this.nodeName}` })]
        .filter((p) => !p.status?.podIP)
        .map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    });
  }

  protected reconcile(key: string): void {
    const { namespace, name } = splitKey(key);
    const pod = this.ctx.store.get(POD, namespace, name) as Pod | undefined;
    const sandbox = this.#sandboxes.get(key);
    if (!pod || pod.spec.nodeName !== this.nodeName || (sandbox && sandbox.uid !== pod.metadata.uid)) {
      if (sandbox) this.#teardown(key, sandbox);
      if (!pod || pod.spec.nodeName !== this.nodeName) return;
    }
    if (pod.metadata.deletionTimestamp) return this.#terminate(key, pod);
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const entry = this.#sandboxes.get(key);
    if (!entry) return this.#runSandbox(key, pod);
    // The status manager's reconcile: a status someone else rewrote (the node lifecycle controller
    // marking pods not ready) is put back to what the kubelet sees.
    if (entry.worker && !entry.terminating && pod.status?.podIP) this.#writeStatus(key, entry);
  }

  #node(): Node {
    const node = this.ctx.store.get(NODE, undefined, this.nodeName) as Node | undefined;
    if (!node) throw new PodnetError('PODNET_NODE_NOT_FOUND', `node ${this.nodeName} not found`);
    return node;
  }

  #runSandbox(key: string, pod: Pod): void {
    const node = this.#node();
    this.#network.syncNode(node);
    const containerId = sandboxId(pod);
    const requested = requestedIps(pod);
    let result: CniResult;
    try {
      result = this.#network.add(this.nodeName, {
        containerId,
        netns: `/var/run/netns/cni-${pod.metadata.uid}`,
        ifName: 'eth0',
        args: {
          IgnoreUnknown: 'true',
          K8S_POD_NAMESPACE: pod.metadata.namespace!,
          K8S_POD_NAME: pod.metadata.name!,
          K8S_POD_INFRA_CONTAINER_ID: containerId,
          K8S_POD_UID: pod.metadata.uid!,
          ...(requested.length ? { IP: requested.join(',') } : {}),
        },
        path: [],
      });
    } catch (err) {
      const message = `Failed to create pod sandbox: plugin type="${this.#network.name}" failed (add): ${(err as Error).message}`;
      this.ctx.recorder.record(pod, 'Warning', 'FailedCreatePodSandBox', message, KUBELET, this.nodeName);
      throw err;
    }
    const ips = (result.ips ?? []).map((ip) => ip.address.split('/')[0]!);
    const entry: Sandbox = { uid: pod.metadata.uid!, containerId, result, ips };
    this.#sandboxes.set(key, entry);
    const runtime = this.#runtime;
    let sandbox: PodSandbox | undefined;
    if (runtime) {
      const net = runtime.dataplane.nodes.get(this.nodeName);
      if (net) attachPod(net, key, result);
      sandbox = new PodSandbox({ pod, node: this.nodeName, result, cluster: this.ctx.cluster, dataplane: runtime.dataplane, lookupImage: runtime.lookupImage });
      entry.sandbox = sandbox;
    }
    const worker = new PodWorker(pod, sandbox, {
      clock: this.ctx.clock,
      node: this.nodeName,
      version: this.ctx.cluster.kubernetesVersion.replace(/^v/, '').split('.').slice(0, 2).join('.'),
      dataplane: runtime?.dataplane,
      adopt: runtime?.adoptRunningPods ?? true,
      event: (type, reason, message) => {
        const current = this.#current(key, entry);
        if (current) this.ctx.recorder.record(current, type, reason, message, KUBELET, this.nodeName);
      },
      changed: () => this.#writeStatus(key, entry),
      track: (work) => this.trackAsync(key, work),
    });
    entry.worker = worker;
    this.trackAsync(
      key,
      worker.run().then(() => {
        const current = this.#current(key, entry);
        if (current && sandbox) this.#publishHostAddresses(current, sandbox);
      }),
    );
  }

  /** The pod a sandbox entry still belongs to (undefined once it is gone or replaced). */
  #current(key: string, entry: Sandbox): Pod | undefined {
    const { namespace, name } = splitKey(key);
    const pod = this.ctx.store.get(POD, namespace, name) as Pod | undefined;
    if (!pod || pod.metadata.uid !== entry.uid || this.#sandboxes.get(key) !== entry) return undefined;
    return pod;
  }

  /** Writes the pod status as the worker sees it (only when something changed). */
  #writeStatus(key: string, entry: Sandbox): void {
    const pod = this.#current(key, entry);
    if (!pod || !entry.worker) return;
    const old = pod.status ?? {};
    const status = entry.worker.status(old, this.ctx.clock.now());
    const hostIP = this.#hostIP();
    if (hostIP) {
      status.hostIP = hostIP;
      status.hostIPs = [{ ip: hostIP }];
    }
    if (entry.ips[0]) {
      status.podIP = entry.ips[0];
      status.podIPs = entry.ips.map((ip) => ({ ip }));
    }
    if (canonicalJson(status) === canonicalJson(old)) return;
    this.ctx.store.update({ ...pod, status }, { subresource: 'status' });
    if (entry.worker.terminal && entry.sandbox) {
      // A pod that is done keeps its object but not its sandbox: the IP goes back to IPAM.
      this.#teardown(key, entry, false);
    }
  }

  #hostIP(): string | undefined {
    return this.#node().status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  }

  /**
   * Writes where the host reaches the pod's ports (`podnet.dev/host-addresses`: virtual
   * `ip:port/protocol` to the real `address:port`), so scripts and kubectl users find them.
   */
  #publishHostAddresses(pod: Pod, sandbox: PodSandbox): void {
    const entries = sandbox.ports.entries();
    if (!Object.keys(entries).length) return;
    const value = JSON.stringify(entries);
    if (pod.metadata.annotations?.[WellKnown.hostAddresses] === value) return;
    this.ctx.store.patch(POD, pod.metadata.namespace, pod.metadata.name!, 'merge', { metadata: { annotations: { [WellKnown.hostAddresses]: value } } });
  }

  #terminate(key: string, pod: Pod): void {
    const entry = this.#sandboxes.get(key);
    const remove = (): void => {
      if (entry && this.#sandboxes.get(key) === entry) this.#teardown(key, entry);
      // Containers are stopped: the kubelet removes the pod object for good.
      try {
        this.ctx.store.delete(POD, pod.metadata.namespace, pod.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid! } });
      } catch (err) {
        if ((err as PodnetError).code !== 'PODNET_NOT_FOUND' && (err as PodnetError).code !== 'PODNET_CONFLICT') throw err;
      }
    };
    if (!entry?.worker) return remove();
    if (entry.terminating) return;
    entry.terminating = true;
    for (const r of entry.worker.records) {
      if (r.state.kind === 'running') this.ctx.recorder.record(pod, 'Normal', 'Killing', `Stopping container ${r.name}`, KUBELET, this.nodeName);
    }
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    this.trackAsync(key, brief(entry.worker.terminate(grace).then(remove)));
  }

  /** Tears a sandbox down: containers killed, sockets closed, CNI DEL; `forget` drops the entry. */
  #teardown(key: string, sandbox: Sandbox, forget = true): void {
    const [namespace, name] = key.split('/') as [string, string];
    sandbox.worker?.kill();
    if (sandbox.sandbox) {
      this.trackAsync(key, sandbox.sandbox.stop());
      const net = this.#runtime?.dataplane.nodes.get(this.nodeName);
      if (net) detachPod(net, key);
      delete sandbox.sandbox;
    }
    if (!sandbox.released) {
      sandbox.released = true;
      this.#network.del(this.nodeName, {
        containerId: sandbox.containerId,
        netns: '',
        ifName: 'eth0',
        args: { IgnoreUnknown: 'true', K8S_POD_NAMESPACE: namespace, K8S_POD_NAME: name },
        path: [],
      });
    }
    if (forget) this.#sandboxes.delete(key);
  }

  override stop(): void {
    super.stop();
    for (const [key, sandbox] of [...this.#sandboxes]) this.#teardown(key, sandbox);
  }
}

/** The id the runtime gives a pod sandbox (a stable hash of the pod's uid). */
function sandboxId(pod: Pod): string {
  return createHash('sha256').update(`sandbox/${pod.metadata.uid}`).digest('hex');
}

/** IPs a pod asks for: its snapshot status, or calico's ipAddrs annotation. */
function requestedIps(pod: Pod): string[] {
  const fromStatus = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  if (fromStatus.length) return fromStatus;
  const annotation = pod.metadata.annotations?.[WellKnown.calicoIpAddrs];
  if (!annotation) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(annotation);
  } catch {
    throw new PodnetError('PODNET_INVALID_ANNOTATION', `${WellKnown.calicoIpAddrs} must be a JSON list of IP addresses, got ${annotation}`);
  }
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) {
    throw new PodnetError('PODNET_INVALID_ANNOTATION', `${WellKnown.calicoIpAddrs} must be a JSON list of IP addresses, got ${annotation}`);
  }
  return parsed;
}
