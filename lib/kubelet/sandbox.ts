/**
 * A pod sandbox: what the container runtime creates for a pod before its containers run — the
 * network namespace with eth0 (the pod's IPs, MAC, MTU and routes from the CNI result), the
 * pod's resolv.conf and hostname, and (podnet's own part) the loopback address the pod's real
 * sockets use and the map from its container ports to real ports. All containers of the pod
 * share it: they reach each other on localhost and clash on ports, as real containers do.
 *
 * States: `created` → `running` → `stopping` → `stopped`.
 */

import type { Socket } from 'node:net';
import type dgram from 'node:dgram';
import { PodnetError } from '../core/errors.js';
import { WellKnown, type Container, type Pod } from '../api/types.js';
import type { ClusterSpec } from '../api/cluster.js';
import { nthAddress, formatIP, mustParseCIDR } from '../core/ipnet.js';
import type { CniResult, CniRoute } from '../../plugins/cni/spec.js';
import { PortMapper } from '../dataplane/addressing.js';
import type { Dataplane, SandboxEndpoint } from '../dataplane/dataplane.js';
import { SctpAssociation } from '../dataplane/sctp.js';
import type { AcceptedConnection, BuiltinImage, ContainerContext, RunningContainer, UdpMessage } from '../images/types.js';
import { startLocalProcess } from './process.js';
import { etcHosts, ExecStartError, runCommand, toolboxFor, type ExecContext, type ExecResult } from '../exec/index.js';

/** Lifecycle states of a sandbox. */
export type SandboxState = 'created' | 'running' | 'stopping' | 'stopped';

/** The pod's eth0 as the CNI result describes it. */
export interface PodInterface {
  name: string;
  mac: string | undefined;
  mtu: number | undefined;
  addresses: string[];
  routes: CniRoute[];
}

/** What happened to one container when the sandbox started it. */
export interface ContainerOutcome {
  name: string;
  image: string;
  /** `running`, or why it is not: the image is unknown, or it failed to start. */
  state: 'running' | 'no-image' | 'failed';
  message?: string;
  /** For `failed`: the exit code the program ended with. */
  exitCode?: number;
}

/** The kube-dns Service address: the tenth address of the service range (as kubeadm and kind set it). */
export function clusterDnsAddress(cluster: ClusterSpec): string {
  return formatIP(nthAddress(mustParseCIDR(cluster.network.serviceSubnet), 10));
}

/**
 * The pod's /etc/resolv.conf as the kubelet writes it for each dnsPolicy (ClusterFirst: the
 * cluster DNS, search `<ns>.svc.<domain> svc.<domain> <domain>`, `ndots:5`; Default: the node's;
 * None: only dnsConfig), with dnsConfig's nameservers, searches and options merged in.
 */
export function resolvConf(pod: Pod, cluster: ClusterSpec): string {
  const domain = cluster.dns.domain;
  const ns = pod.metadata.namespace ?? 'default';
  const policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
  const clusterFirst = policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.spec.hostNetwork);
  let nameservers: string[] = [];
  let searches: string[] = [];
  const options = new Map<string, string | undefined>();
  if (clusterFirst) {
    nameservers = [clusterDnsAddress(cluster)];
    searches = [`${ns}.svc.${domain}`, `svc.${domain}`, domain];
    options.set('ndots', '5');
  } else if (policy !== 'None') {
    // The node's own resolver (kind nodes use the container runtime's embedded DNS).
    nameservers = ['172.18.0.1'];
  }
  const dc = pod.spec.dnsConfig;
  if (dc) {
    nameservers = [...nameservers, ...(dc.nameservers ?? [])].slice(0, 3);
    searches = [...searches, ...(dc.searches ?? [])].filter((s, i, all) => all.indexOf(s) === i).slice(0, 32);
    for (const o of dc.options ?? []) options.set(o.name, o.value);
  }
  const lines = nameservers.map((n) => `nameserver ${n}`);
  if (searches.length) lines.push(`search ${searches.join(' ')}`);
  if (options.size) lines.push(`options ${[...options].map(([k, v]) => (v === undefined ? k : `${k}:${v}`)).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** The pod's hostname and, with a subdomain, its FQDN (`web-0.nginx.default.svc.cluster.local`). */
export function podHostname(pod: Pod, cluster: ClusterSpec): { hostname: string; fqdn: string | undefined } {
  const hostname = (pod.spec.hostname || pod.metadata.name || '').slice(0, 63);
  const fqdn = pod.spec.subdomain ? `${hostname}.${pod.spec.subdomain}.${pod.metadata.namespace ?? 'default'}.svc.${cluster.dns.domain}` : undefined;
  return { hostname, fqdn };
}

/** A pod's sandbox. */
export class PodSandbox implements SandboxEndpoint {
  readonly key: string;
  readonly uid: string;
  readonly node: string;
  readonly ips: readonly string[];
  readonly loopback: string;
  readonly ports: PortMapper;
  readonly eth0: PodInterface;
  readonly resolvConf: string;
  readonly hostname: string;
  readonly fqdn: string | undefined;
  /** The pod's /etc/hosts as the kubelet writes it (lib/exec/hosts.ts). */
  readonly hosts: string;
  #state: SandboxState = 'created';
  readonly #dataplane: Dataplane;
  readonly #listeners = new Map<string, number>();
  /** Per container: the sockets the sandbox bound for it (closed when it stops or exits). */
  readonly #servers = new Map<string, { close(): void }[]>();
  readonly #containers = new Map<string, RunningContainer>();
  /** Per started container: its image and network context, for `exec`. */
  readonly #execTargets = new Map<string, { image: string; ctx: ContainerContext }>();
  #onExit: ((container: string, code: number) => void) | undefined;
  readonly #lookupImage: (image: string) => BuiltinImage | undefined;
  readonly #logs: string[] = [];

  constructor(options: {
    pod: Pod;
    node: string;
    result: CniResult;
    cluster: ClusterSpec;
    dataplane: Dataplane;
    lookupImage: (image: string) => BuiltinImage | undefined;
  }) {
    const { pod, result, dataplane } = options;
    this.key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    this.uid = pod.metadata.uid!;
    this.node = options.node;
    this.ips = (result.ips ?? []).map((ip) => ip.address.split('/')[0]!);
    if (!this.ips.length) throw new PodnetError('PODNET_SANDBOX_NO_IP', `the CNI result for ${this.key} has no IP`);
    const eth0 = result.interfaces?.find((i) => i.sandbox) ?? result.interfaces?.[result.interfaces.length - 1];
    this.eth0 = { name: eth0?.name ?? 'eth0', mac: eth0?.mac, mtu: eth0?.mtu, addresses: (result.ips ?? []).map((ip) => ip.address), routes: result.routes ?? [] };
    this.#dataplane = dataplane;
    this.loopback = dataplane.addresses.allocate(this.ips, `pod/${this.key}`);
    this.ports = new PortMapper({ loopback: this.loopback, virtual: this.ips, sockets: dataplane.sockets });
    this.resolvConf = resolvConf(pod, options.cluster);
    const names = podHostname(pod, options.cluster);
    this.hostname = names.hostname;
    this.fqdn = names.fqdn;
    this.hosts = etcHosts({
      podIPs: this.ips,
      hostname: this.hostname,
      hostDomain: this.fqdn?.slice(this.hostname.length + 1),
      hostAliases: pod.spec.hostAliases as { ip?: string; hostnames?: string[] }[] | undefined,
      hostNetwork: pod.spec.hostNetwork,
    });
    this.#lookupImage = options.lookupImage;
  }

  /** The lifecycle state. */
  get state(): SandboxState {
    return this.#state;
  }

  /** The container log lines written so far. */
  get logs(): readonly string[] {
    return this.#logs;
  }

  /** The real port a container port listens on. */
  listeningPort(port: number, protocol: 'TCP' | 'UDP' | 'SCTP'): number | undefined {
    return this.#listeners.get(`${port}/${protocol}`);
  }

  /** Makes the sandbox reachable: the data plane delivers to its IPs from now on. */
  open(): void {
    if (this.#state !== 'created') return;
    this.#dataplane.addSandbox(this);
    this.#state = 'running';
  }

  /** Tells `fn` when a container's program ends by itself (not when the kubelet stops it). */
  onContainerExit(fn: (container: string, code: number) => void): void {
    this.#onExit = fn;
  }

  /** Whether a container of the pod has a running program. */
  isRunning(container: string): boolean {
    return this.#containers.has(container);
  }

  /** The running container (for `exec`). */
  container(name: string): RunningContainer | undefined {
    return this.#containers.get(name);
  }

  /**
   * Runs a command in a running container, as the runtime's `Exec` does (kubectl exec, exec
   * probes, `podnet exec`): the program comes from the image's toolbox (lib/exec) and shares the
   * container's network and the pod's resolv.conf and /etc/hosts. Rejects with an
   * {@link ExecStartError} when the container is not running (the kubelet's `container not found`)
   * or the image has no such program (containerd's `executable file not found in $PATH`).
   */
  async exec(containerName: string, argv: readonly string[], stdin: Buffer = Buffer.alloc(0)): Promise<ExecResult> {
    const target = this.#execTargets.get(containerName);
    if (!target || !this.isRunning(containerName) || this.#state !== 'running') {
      throw new ExecStartError('PODNET_CONTAINER_NOT_RUNNING', `container not found (${JSON.stringify(containerName)})`, 400, 'BadRequest');
    }
    if (argv.length === 0) throw new ExecStartError('PODNET_BAD_REQUEST', 'you must specify at least one command for the container', 400, 'BadRequest');
    const imageExec = this.#containers.get(containerName)?.exec;
    const ctx: ExecContext = { container: target.ctx, resolvConf: this.resolvConf, hosts: this.hosts, stdin, toolbox: toolboxFor(target.image) };
    return runCommand(ctx, argv, imageExec);
  }

  /**
   * Starts one container: its built-in image (or, marked with {@link WellKnown.localProcess}, its
   * command as a real local process). A container whose image podnet does not know runs with no
   * program (and so never exits); one that fails to start reports the exit code the real program
   * would have ended with.
   */
  async startContainer(pod: Pod, c: Container): Promise<ContainerOutcome> {
    const image = c.image ?? '';
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    const env = envOf(c.env, (path) => this.#fieldRef(pod, path));
    const ctx = this.#context(pod, c.name, argv, env);
    this.#execTargets.set(c.name, { image, ctx });
    const local = (pod.metadata.annotations?.[WellKnown.localProcess] ?? '').split(',').map((n) => n.trim());
    // A container that finishes starting after the sandbox stopped (a pod deleted meanwhile) is
    // killed at once: nothing may outlive its sandbox, least of all a real process.
    const keep = (running: RunningContainer): ContainerOutcome => {
      if (this.#state === 'stopping' || this.#state === 'stopped') {
        if (running.kill) running.kill();
        else void running.stop();
        this.#release(c.name);
        return { name: c.name, image, state: 'failed', message: `the sandbox of ${this.key} has stopped`, exitCode: 137 };
      }
      this.#containers.set(c.name, running);
      return { name: c.name, image, state: 'running' };
    };
    try {
      if (local.includes(c.name)) {
        return keep(await startLocalProcess({ ctx, container: c, loopback: this.loopback, ports: this.ports, listening: (port, protocol, real) => this.#listeners.set(`${port}/${protocol}`, real) }));
      }
      const builtin = this.#lookupImage(image);
      if (!builtin) return { name: c.name, image, state: 'no-image', message: `podnet has no built-in image for "${image}": the container runs with no listener` };
      return keep(await builtin.start(ctx));
    } catch (err) {
      this.#release(c.name);
      const exitCode = (err as { exitCode?: unknown }).exitCode;
      return { name: c.name, image, state: 'failed', message: (err as Error).message, exitCode: typeof exitCode === 'number' ? exitCode : 1 };
    }
  }

  /**
   * Stops a container as the runtime does: SIGTERM, and SIGKILL once `graceMs` has passed
   * (timed by `timer`). Resolves with the exit code: the program's own after SIGTERM (143, death
   * by the signal, unless it says otherwise), 137 when killed.
   */
  async stopContainer(name: string, graceMs: number, timer: (fn: () => void, ms: number) => { cancel(): void }): Promise<number> {
    const running = this.#containers.get(name);
    this.#containers.delete(name);
    if (!running) {
      this.#release(name);
      return 0;
    }
    const code = await new Promise<number>((resolve) => {
      const t = timer(() => {
        running.kill?.();
        resolve(137);
      }, graceMs);
      running.stop().then(
        (exit) => (t.cancel(), resolve(typeof exit === 'number' ? exit : 143)),
        () => (t.cancel(), resolve(143)),
      );
    });
    this.#release(name);
    return code;
  }

  /** Closes what the sandbox bound for a container and frees its ports. */
  #release(container: string): void {
    for (const s of this.#servers.get(container) ?? []) s.close();
    this.#servers.delete(container);
    for (const m of this.ports.mappings()) if (m.owner === container) this.#listeners.delete(`${m.containerPort}/${m.protocol}`);
    this.ports.releaseAll(container);
  }

  /** A container's program ended by itself. */
  #exited(container: string, code: number): void {
    this.#logs.push(`[${container}] exited with code ${code}`);
    if (!this.#containers.delete(container)) return;
    this.#release(container);
    this.#onExit?.(container, code);
  }

  /** Stops every container and closes every socket of the sandbox. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#state = 'stopping';
    this.#dataplane.removeSandbox(this.key);
    const running = [...this.#containers.values()];
    this.#containers.clear();
    await Promise.allSettled(running.map((c) => (c.kill ? Promise.resolve(c.kill()) : c.stop())));
    for (const servers of this.#servers.values()) for (const s of servers) s.close();
    this.#servers.clear();
    this.#listeners.clear();
    this.ports.releaseAll();
    this.#dataplane.addresses.release(this.loopback);
    this.#state = 'stopped';
  }

  /**
   * Keeps a socket bound for a container — unless the sandbox stopped while it was being bound
   * (a pod deleted as its containers start): then it is closed at once and the bind fails.
   */
  #keep(container: string, server: { close(): void }): void {
    if (this.#state === 'stopping' || this.#state === 'stopped') {
      server.close();
      throw new PodnetError('PODNET_SANDBOX_STOPPED', `the sandbox of ${this.key} has stopped`);
    }
    this.#serversOf(container).push(server);
  }

  #serversOf(container: string): { close(): void }[] {
    let list = this.#servers.get(container);
    if (!list) this.#servers.set(container, (list = []));
    return list;
  }

  /** The downward API fields the kubelet supports in env (pkg/fieldpath). */
  #fieldRef(pod: Pod, path: string): string | undefined {
    const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
    if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]!];
    switch (path) {
      case 'metadata.name':
        return pod.metadata.name;
      case 'metadata.namespace':
        return pod.metadata.namespace;
      case 'metadata.uid':
        return pod.metadata.uid;
      case 'spec.nodeName':
        return this.node;
      case 'spec.serviceAccountName':
        return (pod.spec.serviceAccountName as string | undefined) ?? 'default';
      case 'status.podIP':
        return this.ips[0];
      case 'status.podIPs':
        return this.ips.join(',');
      case 'status.hostIP':
      case 'status.hostIPs':
        return this.#dataplane.hostIP(this.node);
      default:
        return undefined;
    }
  }

  #context(pod: Pod, containerName: string, args: string[], env: Record<string, string>): ContainerContext {
    const origin = { kind: 'pod' as const, node: this.node, pod: this.key };
    const local = (host: string) => host === 'localhost' || host === '127.0.0.1' || host === '::1' || this.ips.includes(host);
    const peer = (address: string | undefined) => this.#dataplane.virtualOf(address ?? '');
    return {
      podName: pod.metadata.name!,
      namespace: pod.metadata.namespace ?? 'default',
      hostname: this.hostname,
      podIPs: this.ips,
      containerName,
      args,
      env,
      listenTcp: async (port, onConnection) => {
        const real = await this.ports.map(port, 'TCP', containerName);
        const server = await this.#dataplane.sockets.listenTcp({ host: this.loopback, port: real });
        server.on('connection', (socket: Socket) => {
          const conn: AcceptedConnection = { socket, remoteAddress: peer(socket.remoteAddress), remotePort: socket.remotePort ?? 0 };
          onConnection(conn);
        });
        this.#keep(containerName, server);
        this.#listeners.set(`${port}/TCP`, real);
      },
      listenUdp: async (port, onMessage) => {
        const real = await this.ports.map(port, 'UDP', containerName);
        const socket: dgram.Socket = await this.#dataplane.sockets.bindUdp({ host: this.loopback, port: real });
        socket.on('message', (data: Buffer, rinfo) => {
          const msg: UdpMessage = {
            data,
            remoteAddress: peer(rinfo.address),
            remotePort: rinfo.port,
            reply: (out) => socket.send(typeof out === 'string' ? Buffer.from(out) : out, rinfo.port, rinfo.address),
          };
          onMessage(msg);
        });
        this.#keep(containerName, socket);
        this.#listeners.set(`${port}/UDP`, real);
      },
      dialTcp: async (host, port, options = {}) => {
        if (local(host)) {
          // Containers of a pod share its network namespace: localhost is the pod itself.
          const real = this.listeningPort(port, 'TCP');
          if (real === undefined) throw Object.assign(new Error(`dial tcp ${host}:${port}: connect: connection refused`), { code: 'ECONNREFUSED' });
          return { socket: await this.#dataplane.sockets.connectTcp({ host: this.loopback, port: real, localAddress: this.loopback }) };
        }
        const { socket } = await this.#dataplane.dialTcp(origin, host, port, options);
        return { socket };
      },
      listenSctp: async (port, onAssociation) => {
        // SCTP's real transport is TCP: the port maps to a real TCP port of its own.
        const real = await this.ports.map(port, 'SCTP', containerName);
        const server = await this.#dataplane.sockets.listenTcp({ host: this.loopback, port: real });
        server.on('connection', (socket: Socket) => {
          onAssociation(new SctpAssociation(socket, { localAddress: this.ips[0]!, localPort: port, remoteAddress: peer(socket.remoteAddress), remotePort: socket.remotePort ?? 0 }));
        });
        this.#keep(containerName, server);
        this.#listeners.set(`${port}/SCTP`, real);
      },
      dialSctp: async (host, port, options = {}) => {
        if (local(host)) {
          const real = this.listeningPort(port, 'SCTP');
          if (real === undefined) throw Object.assign(new Error(`dial sctp ${host}:${port}: connection refused`), { code: 'ECONNREFUSED' });
          const socket = await this.#dataplane.sockets.connectTcp({ host: this.loopback, port: real, localAddress: this.loopback });
          return new SctpAssociation(socket, { localAddress: this.ips[0]!, localPort: socket.localPort ?? 0, remoteAddress: host, remotePort: port });
        }
        const { association } = await this.#dataplane.dialSctp(origin, host, port, options);
        return association;
      },
      exchangeUdp: async (host, port, data, options = {}) => {
        const { reply } = await this.#dataplane.exchangeUdp(origin, local(host) ? this.ips[0]! : host, port, data, options);
        return reply;
      },
      exit: (code) => this.#exited(containerName, code),
      log: (line) => this.#logs.push(`[${containerName}] ${line}`),
    };
  }
}

/**
 * A container's environment: literal values, and the downward API's `fieldRef` (as the kubelet
 * resolves them when it starts the container; ConfigMap and Secret references are not read).
 */
function envOf(env: { name: string; value?: string; valueFrom?: unknown }[] | undefined, field: (path: string) => string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env ?? []) {
    if (e.value !== undefined) out[e.name] = e.value;
    const path = (e.valueFrom as { fieldRef?: { fieldPath?: string } } | undefined)?.fieldRef?.fieldPath;
    if (path) {
      const v = field(path);
      if (v !== undefined) out[e.name] = v;
    }
  }
  return out;
}
