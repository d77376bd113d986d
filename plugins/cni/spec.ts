/**
 * The shapes of the CNI SPEC (containernetworking/cni SPEC.md, versions 0.3.0 to 1.1.0): network
 * configuration, the runtime's invocation (the CNI_* environment), the ADD result, the VERSION
 * answer and the error object with the SPEC's well-known codes. Plugins in this folder speak
 * exactly these, in-process and as standalone executables.
 */

import { PodnetError } from '../../lib/core/errors.js';

/** CNI versions the plugins accept, oldest first. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** The version plugins answer with by default. */
export const CURRENT_VERSION = '1.1.0';

/** The operations of SPEC section "CNI Operations". */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';

/** The SPEC's well-known error codes (section "Error"). */
export const CniErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  PluginNotAvailableLimited: 51,
} as const;

/** An IPAM range (host-local `ranges` entry). */
export interface IpamRange {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

/** A route in config or result. */
export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

/** DNS settings in config or result. */
export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A network configuration (one plugin's object in a conflist, with name and cniVersion). */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  ipam?: { type: string; ranges?: IpamRange[][]; routes?: CniRoute[]; dataDir?: string; [key: string]: unknown };
  dns?: CniDns;
  args?: Record<string, unknown>;
  runtimeConfig?: { ips?: string[]; portMappings?: unknown[]; mac?: string; [key: string]: unknown };
  prevResult?: CniResult;
  [key: string]: unknown;
}

/** A network configuration list (`.conflist`). */
export interface NetConfList {
  cniVersion: string;
  cniVersions?: string[];
  name: string;
  disableCheck?: boolean;
  disableGC?: boolean;
  plugins: Omit<NetConf, 'cniVersion' | 'name'>[];
}

/** The runtime's side of one invocation: the CNI_* environment variables. */
export interface CniInvocation {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS, parsed: `K8S_POD_NAMESPACE`, `K8S_POD_NAME`, `IP`, ... */
  args: Record<string, string>;
  path: string[];
}

/** An interface in an ADD result. */
export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

/** An address in an ADD result. */
export interface CniIpConfig {
  /** CIDR notation: the address and its subnet's prefix length, `10.244.1.5/24`. */
  address: string;
  gateway?: string;
  interface?: number;
}

/** The ADD result (SPEC section "Success"). */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/** The VERSION answer. */
export interface CniVersionResult {
  cniVersion: string;
  supportedVersions: string[];
}

/** A CNI error: the SPEC's error object, carried as a podnet error. */
export class CniError extends PodnetError {
  readonly cniCode: number;
  readonly details: string;
  constructor(cniCode: number, msg: string, details = '') {
    super('PODNET_CNI_ERROR', `CNI error ${cniCode}: ${msg}${details ? ` (${details})` : ''}`);
    this.cniCode = cniCode;
    this.details = details;
  }
  /** The SPEC's error JSON. */
  toJSON(cniVersion: string = CURRENT_VERSION): { cniVersion: string; code: number; msg: string; details?: string } {
    const msg = this.message.replace(/^CNI error \d+: /, '').replace(/ \(.*\)$/, '');
    return { cniVersion, code: this.cniCode, msg, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Parses `CNI_ARGS` (`K1=V1;K2=V2`). */
export function parseCniArgs(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const pair of raw.split(';')) {
    if (!pair) continue;
    const i = pair.indexOf('=');
    if (i <= 0) throw new CniError(CniErrorCode.InvalidEnvironment, `invalid CNI_ARGS pair "${pair}"`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

/** Checks a config's cniVersion is one the plugins speak. */
export function checkVersion(conf: { cniVersion?: unknown }): string {
  const v = conf.cniVersion;
  if (typeof v !== 'string' || !(SUPPORTED_VERSIONS as readonly string[]).includes(v)) {
    throw new CniError(
      CniErrorCode.IncompatibleVersion,
      `incompatible CNI versions; config is "${String(v)}", plugin supports [${SUPPORTED_VERSIONS.map((s) => `"${s}"`).join(' ')}]`,
    );
  }
  return v;
}
