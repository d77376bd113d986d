/**
 * flannel's CNI plugin (flannel-io/cni-plugin), the meta-plugin of kube-flannel's conflist: it
 * reads the subnet file flanneld writes for the node (`/run/flannel/subnet.env`: FLANNEL_NETWORK,
 * FLANNEL_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ and their IPv6 forms), turns its own configuration
 * into the delegate's — `bridge` with host-local IPAM over the node's subnet, routes to the
 * cluster network, the MTU and masquerading flanneld decided — saves that under its `dataDir`
 * (`/var/lib/cni/flannel`) for DEL, and runs the delegate.
 *
 * {@link FlannelCni} is the plugin itself; the node it runs on is a {@link FlannelHost}. The
 * in-process cluster gives it one in memory per node (plugins/flannel/flannel.ts); the standalone
 * executable ({@link invokeFlannelCni}, bin/podnet-cni-flannel.js) gives it the real files and a
 * host-local store on disk, so separate invocations share state as upstream's do.
 *
 * Beyond upstream: CHECK is run through the delegate (SPEC section "CHECK": "The plugin should
 * call CHECK on any delegated plugins"), GC and STATUS (CNI 1.1.0) are implemented, and the
 * saved delegate configuration is keyed by container id and interface, the SPEC's attachment key.
 */

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

import { parseCIDR } from '../../lib/core/ipnet.js';
import { BridgePlugin, type BridgeNetConf } from '../bridge/bridge.js';
import { pluginMain, type PluginInput, type PluginOutput } from '../cni/skel.js';
import { CniError, CniErrorCode, type CniInvocation, type CniResult, type CniRoute, type GcAttachment, type NetConf } from '../cni/spec.js';
import { directoryStores, HostLocalIpam, type DirectoryStoreOptions } from '../ipam/host-local.js';

/** Where flanneld writes the node's lease. */
export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';
/** Where the plugin keeps the delegate configuration of each attachment. */
export const DEFAULT_SCRATCH_DIR = '/var/lib/cni/flannel';

/** What the plugin prints to stderr when run without CNI_COMMAND. */
export const ABOUT = 'CNI Plugin flannel (podnet)';

/** The flannel plugin's network configuration. */
export interface FlannelNetConf extends NetConf {
  subnetFile?: string;
  dataDir?: string;
  delegate?: Record<string, unknown>;
}

/** `subnet.env`, parsed. */
export interface SubnetEnv {
  /** FLANNEL_NETWORK: the cluster's pod network(s). */
  networks: string[];
  /** FLANNEL_SUBNET: the node's lease, written as its gateway address and prefix length. */
  subnet?: string;
  ipv6Networks: string[];
  ipv6Subnet?: string;
  mtu: number;
  ipmasq: boolean;
}

/** Renders `subnet.env` as flanneld writes it. */
export function formatSubnetEnv(env: SubnetEnv): string {
  return [
    ...(env.networks.length ? [`FLANNEL_NETWORK=${env.networks.join(',')}`] : []),
    ...(env.subnet ? [`FLANNEL_SUBNET=${env.subnet}`] : []),
    ...(env.ipv6Networks.length ? [`FLANNEL_IPV6_NETWORK=${env.ipv6Networks.join(',')}`] : []),
    ...(env.ipv6Subnet ? [`FLANNEL_IPV6_SUBNET=${env.ipv6Subnet}`] : []),
    `FLANNEL_MTU=${env.mtu}`,
    `FLANNEL_IPMASQ=${env.ipmasq}`,
    '',
  ].join('\n');
}

/** Parses `subnet.env` as the plugin's `loadFlannelSubnetEnv` does. */
export function parseSubnetEnv(text: string, file: string): SubnetEnv {
  const cidr = (value: string): string => {
    if (!parseCIDR(value)) throw new CniError(CniErrorCode.Internal, `invalid CIDR address: ${value}`, file);
    return value;
  };
  let networks: string[] | undefined;
  let ipv6Networks: string[] | undefined;
  let subnet: string | undefined;
  let ipv6Subnet: string | undefined;
  let mtu: number | undefined;
  let ipmasq: boolean | undefined;
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    const value = line.slice(i + 1).trim();
    switch (line.slice(0, i).trim()) {
      case 'FLANNEL_NETWORK':
        networks = value.split(',').map(cidr);
        break;
      case 'FLANNEL_SUBNET':
        subnet = cidr(value);
        break;
      case 'FLANNEL_IPV6_NETWORK':
        ipv6Networks = value.split(',').map(cidr);
        break;
      case 'FLANNEL_IPV6_SUBNET':
        ipv6Subnet = cidr(value);
        break;
      case 'FLANNEL_MTU':
        if (!/^\d+$/.test(value)) throw new CniError(CniErrorCode.Internal, `invalid FLANNEL_MTU "${value}"`, file);
        mtu = Number(value);
        break;
      case 'FLANNEL_IPMASQ':
        ipmasq = value === 'true';
        break;
    }
  }
  const missing = [
    ...(networks || ipv6Networks ? [] : ['FLANNEL_NETWORK', 'FLANNEL_IPV6_NETWORK']),
    ...(subnet || ipv6Subnet ? [] : ['FLANNEL_SUBNET', 'FLANNEL_IPV6_SUBNET']),
    ...(mtu === undefined ? ['FLANNEL_MTU'] : []),
    ...(ipmasq === undefined ? ['FLANNEL_IPMASQ'] : []),
  ];
  if (missing.length) throw new CniError(CniErrorCode.Internal, `${file} is missing ${missing.join(', ')}`);
  return { networks: networks ?? [], ipv6Networks: ipv6Networks ?? [], subnet, ipv6Subnet, mtu: mtu!, ipmasq: ipmasq! };
}

/** The host-local section of the delegate: the plugin's own `ipam` with the node's ranges and routes. */
function delegateIpam(conf: FlannelNetConf, env?: SubnetEnv): NonNullable<NetConf['ipam']> {
  const ipam: NonNullable<NetConf['ipam']> = { ...(conf.ipam ?? {}), type: conf.ipam?.type || 'host-local' };
  if (!env) return ipam;
  const subnets = [env.subnet, env.ipv6Subnet].filter((s): s is string => !!s);
  ipam.ranges = subnets.map((s) => [{ subnet: parseCIDR(s)!.text }]);
  ipam.routes = [...((conf.ipam?.routes ?? []) as CniRoute[]), ...[...env.networks, ...env.ipv6Networks].map((dst) => ({ dst }))];
  return ipam;
}

/**
 * The delegate's configuration, as the plugin's `doCmdAdd` builds it: `delegate` from the
 * plugin's configuration with the network name, type `bridge` unless given, `ipMasq` when flannel
 * does not masquerade itself, flannel's MTU, `isGateway` for a bridge, the plugin's cniVersion
 * and host-local IPAM over the node's subnet.
 */
export function delegateConf(conf: FlannelNetConf, env: SubnetEnv): BridgeNetConf {
  const given = conf.delegate ?? {};
  if (typeof given !== 'object' || Array.isArray(given)) throw new CniError(CniErrorCode.InvalidNetworkConfig, "'delegate' must be a dictionary");
  if ('type' in given && typeof given.type !== 'string') {
    throw new CniError(CniErrorCode.InvalidNetworkConfig, "'delegate' dictionary, if present, must have (string) 'type' field");
  }
  if ('name' in given) throw new CniError(CniErrorCode.InvalidNetworkConfig, "'delegate' dictionary must not have 'name' field, it'll be set by flannel");
  if ('ipam' in given) throw new CniError(CniErrorCode.InvalidNetworkConfig, "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel");
  const d: Record<string, unknown> = { ...given };
  if (conf.runtimeConfig) d.runtimeConfig = conf.runtimeConfig;
  d.name = conf.name;
  d.type ??= 'bridge';
  d.ipMasq ??= !env.ipmasq;
  d.mtu ??= env.mtu;
  if (d.type === 'bridge') d.isGateway ??= true;
  if (conf.cniVersion) d.cniVersion = conf.cniVersion;
  d.ipam = delegateIpam(conf, env);
  return d as unknown as BridgeNetConf;
}

/** The plugin's per-attachment scratch records (its `dataDir`). */
export interface ScratchStore {
  save(key: string, text: string): void;
  load(key: string): string | undefined;
  remove(key: string): void;
  keys(): string[];
}

/** The node the plugin runs on. */
export interface FlannelHost {
  /** flanneld's subnet file, or undefined while flanneld has not written it. */
  readSubnetFile(path: string): string | undefined;
  /** The scratch store at a `dataDir`. */
  scratch(dataDir: string): ScratchStore;
  /** The node's `bridge` plugin (and through it, host-local). */
  readonly bridge: BridgePlugin;
}

/** The key of an attachment's scratch record. */
function scratchKey(containerId: string, ifName: string): string {
  return `${containerId}-${ifName}`;
}

type Invocation = Omit<CniInvocation, 'command'>;

/** The flannel CNI plugin on one node. */
export class FlannelCni {
  readonly #host: FlannelHost;

  constructor(host: FlannelHost) {
    this.#host = host;
  }

  #subnetEnv(conf: FlannelNetConf): SubnetEnv {
    const file = conf.subnetFile || DEFAULT_SUBNET_FILE;
    const text = this.#host.readSubnetFile(file);
    if (text === undefined) {
      // Transient: flanneld writes the file once the node has its lease.
      throw new CniError(CniErrorCode.TryAgainLater, `failed to load flannel 'subnet.env' file: open ${file}: no such file or directory`, 'Check the flannel pod log for this node.');
    }
    return parseSubnetEnv(text, file);
  }

  #scratch(conf: FlannelNetConf): ScratchStore {
    return this.#host.scratch(conf.dataDir || DEFAULT_SCRATCH_DIR);
  }

  /** The delegate a configuration names; podnet runs `bridge`. */
  #delegate(d: BridgeNetConf): BridgePlugin {
    if (d.type !== 'bridge') {
      throw new CniError(CniErrorCode.UnsupportedField, `unsupported field "delegate.type": "${String(d.type)}"`, 'podnet runs the bridge delegate only');
    }
    return this.#host.bridge;
  }

  #saved(inv: Invocation, conf: FlannelNetConf): BridgeNetConf | undefined {
    const text = this.#scratch(conf).load(scratchKey(inv.containerId, inv.ifName));
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as BridgeNetConf;
    } catch {
      return undefined;
    }
  }

  /** The delegate configuration this node would use now (for the in-process cluster's view). */
  delegateConf(conf: FlannelNetConf): BridgeNetConf {
    return delegateConf(conf, this.#subnetEnv(conf));
  }

  /** ADD: build the delegate configuration, save it for DEL, run the delegate. */
  add(inv: Invocation, conf: FlannelNetConf): CniResult {
    const d = this.delegateConf(conf);
    const bridge = this.#delegate(d);
    this.#scratch(conf).save(scratchKey(inv.containerId, inv.ifName), JSON.stringify(d));
    return bridge.add(inv, d);
  }

  /** DEL: run the delegate with the configuration saved at ADD; nothing saved is success. */
  del(inv: Invocation, conf: FlannelNetConf): void {
    const d = this.#saved(inv, conf);
    if (d) this.#delegate(d).del(inv, d);
    this.#scratch(conf).remove(scratchKey(inv.containerId, inv.ifName));
  }

  /** CHECK: the `prevResult` against the delegate (and through it, host-local). */
  check(inv: Invocation, conf: FlannelNetConf): void {
    if (!conf.prevResult) throw new CniError(CniErrorCode.InvalidNetworkConfig, 'required prevResult missing');
    const d = this.#saved(inv, conf);
    if (!d) throw new CniError(CniErrorCode.UnknownContainer, `container ${inv.containerId} is unknown to flannel`, `no delegate configuration for ${inv.ifName} was saved at ADD`);
    this.#delegate(d).check(inv, { ...d, prevResult: conf.prevResult });
  }

  /**
   * GC (CNI 1.1.0): forget the attachments not in `cni.dev/valid-attachments` — their saved
   * delegate configurations, and through the delegate their address reservations.
   */
  gc(conf: FlannelNetConf): void {
    const valid = validAttachments(conf);
    const keep = new Set(valid.map((a) => scratchKey(a.containerID, a.ifname)));
    const scratch = this.#scratch(conf);
    for (const key of scratch.keys()) if (!keep.has(key)) scratch.remove(key);
    const d = { cniVersion: conf.cniVersion, name: conf.name, type: String(conf.delegate?.type ?? 'bridge'), ipam: delegateIpam(conf) } as BridgeNetConf;
    this.#delegate(d).gc(d, valid);
  }

  /** STATUS (CNI 1.1.0): ready once flanneld has written the lease and the delegate is ready. */
  status(conf: FlannelNetConf): void {
    try {
      const d = this.delegateConf(conf);
      this.#delegate(d).status(d);
    } catch (err) {
      const e = err as CniError;
      throw new CniError(CniErrorCode.PluginNotAvailable, 'plugin not available', e.msg ? `${e.msg}${e.details ? `: ${e.details}` : ''}` : e.message);
    }
  }
}

/** `cni.dev/valid-attachments` (or `cni.dev/attachments`, the name 1.1.0 first shipped with). */
function validAttachments(conf: FlannelNetConf): GcAttachment[] {
  const raw = conf['cni.dev/valid-attachments'] ?? conf['cni.dev/attachments'] ?? [];
  const ok =
    Array.isArray(raw) &&
    raw.every((a) => a && typeof a === 'object' && typeof (a as GcAttachment).containerID === 'string' && typeof (a as GcAttachment).ifname === 'string');
  if (!ok) throw new CniError(CniErrorCode.InvalidNetworkConfig, 'invalid cni.dev/valid-attachments', 'expected a list of {"containerID", "ifname"}');
  return raw as GcAttachment[];
}

/** A scratch directory on disk: one file per attachment holding the delegate configuration. */
export class DirectoryScratch implements ScratchStore {
  readonly #dir: string;
  constructor(dir: string) {
    this.#dir = dir;
  }
  save(key: string, text: string): void {
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(this.#dir, key), text, { mode: 0o600 });
  }
  load(key: string): string | undefined {
    try {
      return readFileSync(join(this.#dir, key), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
  remove(key: string): void {
    rmSync(join(this.#dir, key), { force: true });
  }
  keys(): string[] {
    try {
      return readdirSync(this.#dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }
}

/** Scratch records in memory (the in-process cluster's nodes). */
export class MemoryScratch implements ScratchStore {
  readonly #records = new Map<string, string>();
  save(key: string, text: string): void {
    this.#records.set(key, text);
  }
  load(key: string): string | undefined {
    return this.#records.get(key);
  }
  remove(key: string): void {
    this.#records.delete(key);
  }
  keys(): string[] {
    return [...this.#records.keys()];
  }
}

/** Options of the standalone plugin. */
export interface FlannelCniOptions extends DirectoryStoreOptions {
  /** The node's name, which keys interface MACs; the hostname unless given. */
  hostname?: string;
}

/** A node with real files: the subnet file, the scratch directory and host-local's data directory. */
export function diskHost(options: FlannelCniOptions = {}): FlannelHost {
  return {
    readSubnetFile(path) {
      try {
        return readFileSync(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new CniError(CniErrorCode.IoFailure, `failed to load flannel 'subnet.env' file: ${(err as Error).message}`);
      }
    },
    scratch: (dir) => new DirectoryScratch(dir),
    bridge: new BridgePlugin({ ipam: new HostLocalIpam({ store: directoryStores(options) }), host: options.hostname ?? hostname() }),
  };
}

/**
 * One invocation of the flannel CNI plugin as an executable: the CNI_* environment and the
 * configuration on stdin in, the result or the SPEC's error JSON on stdout and the exit code out.
 */
export function invokeFlannelCni(input: PluginInput, options: FlannelCniOptions = {}): PluginOutput {
  let plugin: FlannelCni | undefined;
  const flannel = () => (plugin ??= new FlannelCni(diskHost(options)));
  return pluginMain(
    {
      add: (a) => flannel().add(a, a.conf),
      del: (a) => flannel().del(a, a.conf),
      check: (a) => flannel().check(a, a.conf),
      gc: (a) => flannel().gc(a.conf),
      status: (a) => flannel().status(a.conf),
    },
    input,
    ABOUT,
  );
}
