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
  /** libcni's `ErrInternal`: what skel reports for a plugin error that carries no code. */
  Internal: 999,
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
  /** GC (1.1.0): the attachments the runtime still knows; everything else may be released. */
  'cni.dev/valid-attachments'?: GcAttachment[];
  [key: string]: unknown;
}

/** An entry of `cni.dev/valid-attachments` (SPEC section "GC"). */
export interface GcAttachment {
  containerID: string;
  ifname: string;
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
  /** The SPEC's short `msg`. */
  readonly msg: string;
  /** The SPEC's longer `details`, or empty. */
  readonly details: string;
  constructor(cniCode: number, msg: string, details = '') {
    super('PODNET_CNI_ERROR', `CNI error ${cniCode}: ${msg}${details ? ` (${details})` : ''}`);
    this.cniCode = cniCode;
    this.msg = msg;
    this.details = details;
  }
  /** The SPEC's error JSON (section "Error"). */
  toJSON(cniVersion: string = CURRENT_VERSION): CniErrorResult {
    return { cniVersion, code: this.cniCode, msg: this.msg, ...(this.details ? { details: this.details } : {}) };
  }
}

/** The SPEC's error result. */
export interface CniErrorResult {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
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

/** Checks a config's cniVersion is one the plugins speak (libcni's version reconciler). */
export function checkVersion(conf: { cniVersion?: unknown }): string {
  const v = conf.cniVersion;
  if (typeof v !== 'string' || !(SUPPORTED_VERSIONS as readonly string[]).includes(v)) {
    throw new CniError(
      CniErrorCode.IncompatibleVersion,
      'incompatible CNI versions',
      `config is "${String(v)}", plugin supports [${SUPPORTED_VERSIONS.map((s) => `"${s}"`).join(' ')}]`,
    );
  }
  return v;
}

/** A version as `[major, minor, micro]`, or undefined unless it is `x.y.z` (libcni `ParseVersion`). */
export function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** True if version `a` is `b` or later; a version that is not `x.y.z` is a decode failure. */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (!pa || !pb) throw new CniError(CniErrorCode.DecodeFailure, `failed to parse version "${pa ? b : a}"`);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! > pb[i]!;
  return true;
}

/**
 * An ADD result in the shape of the version the configuration asked for (SPEC section "Success",
 * and the result types of each released version):
 *
 * - 0.3.0, 0.3.1, 0.4.0: every `ips` entry carries `version` ("4" or "6"); interfaces have
 *   `name`, `mac`, `sandbox`; routes `dst` and `gw`.
 * - 1.0.0: `version` is gone from `ips`; otherwise as 0.4.0.
 * - 1.1.0: interfaces gain `mtu`, `socketPath`, `pciID`; routes gain `mtu`, `advmss`,
 *   `priority`, `table`, `scope`.
 */
export function resultForVersion(result: CniResult, cniVersion: string): Record<string, unknown> {
  const v11 = versionAtLeast(cniVersion, '1.1.0');
  const v1 = versionAtLeast(cniVersion, '1.0.0');
  const pick = <T extends object>(o: T, keys: readonly (keyof T)[]) => {
    const out: Record<string, unknown> = {};
    for (const k of keys) if (o[k] !== undefined) out[k as string] = o[k];
    return out;
  };
  const out: Record<string, unknown> = { cniVersion };
  if (result.interfaces) {
    out.interfaces = result.interfaces.map((i) => pick(i, v11 ? ['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID'] : ['name', 'mac', 'sandbox']));
  }
  out.ips = (result.ips ?? []).map((ip) => ({
    ...(v1 ? {} : { version: ip.address.includes(':') ? '6' : '4' }),
    ...pick(ip, ['interface', 'address', 'gateway']),
  }));
  if (result.routes) {
    out.routes = result.routes.map((r) => pick(r, v11 ? ['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'] : ['dst', 'gw']));
  }
  out.dns = result.dns ?? {};
  return out;
}

/**
 * Reads a `prevResult` of any supported version into the version-neutral {@link CniResult}.
 * Anything that is not a result is a decode failure (code 6).
 */
export function parsePrevResult(raw: unknown, cniVersion: string): CniResult {
  const bad = (why: string) => new CniError(CniErrorCode.DecodeFailure, `could not parse prevResult: ${why}`);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad('not an object');
  const r = raw as Record<string, unknown>;
  const list = (key: string): Record<string, unknown>[] | undefined => {
    const v = r[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((e) => !e || typeof e !== 'object')) throw bad(`${key} is not a list of objects`);
    return v as Record<string, unknown>[];
  };
  const interfaces = list('interfaces')?.map((i, n) => {
    if (typeof i.name !== 'string') throw bad(`interfaces[${n}].name is not a string`);
    return i as unknown as CniInterface;
  });
  const ips = list('ips')?.map((ip, n) => {
    if (typeof ip.address !== 'string') throw bad(`ips[${n}].address is not a string`);
    const { version: _version, ...rest } = ip;
    return rest as unknown as CniIpConfig;
  });
  const routes = list('routes') as CniRoute[] | undefined;
  return {
    cniVersion: typeof r.cniVersion === 'string' ? r.cniVersion : cniVersion,
    ...(interfaces ? { interfaces } : {}),
    ...(ips ? { ips } : {}),
    ...(routes ? { routes } : {}),
    ...(r.dns && typeof r.dns === 'object' ? { dns: r.dns as CniDns } : {}),
  };
}
