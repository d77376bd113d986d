/**
 * The skeleton a standalone podnet CNI plugin runs under, as libcni's `pkg/skel` is for the
 * upstream plugins: it reads the CNI_* environment (SPEC section "Parameters") and the network
 * configuration on stdin, validates both, gates each operation on the configuration's version,
 * calls the plugin and renders the answer — the result on stdout and exit code 0, or the SPEC's
 * error object on stdout and exit code 1 (section "Error").
 *
 * What skel requires per command (CNI_ARGS and CNI_NETNS_OVERRIDE are never required):
 *
 * | variable        | ADD | CHECK | DEL | GC | STATUS | VERSION |
 * |-----------------|-----|-------|-----|----|--------|---------|
 * | CNI_COMMAND     |  ✓  |   ✓   |  ✓  | ✓  |   ✓    |    ✓    |
 * | CNI_CONTAINERID |  ✓  |   ✓   |  ✓  |    |        |         |
 * | CNI_NETNS       |  ✓  |   ✓   |     |    |        |         |
 * | CNI_IFNAME      |  ✓  |   ✓   |  ✓  |    |        |         |
 * | CNI_PATH        |  ✓  |   ✓   |  ✓  | ✓  |   ✓    |         |
 *
 * Missing ones are reported together: code 4, `required env variables [A,B] missing`. With no
 * CNI_COMMAND at all the plugin prints what it is to stderr and exits 0, as skel does.
 *
 * Version gates: CHECK needs a configuration of 0.4.0 or later, GC and STATUS 1.1.0 or later
 * (code 1, `config version does not allow CHECK`); any other version the plugin does not list is
 * code 1, `incompatible CNI versions`.
 */

import { delimiter } from 'node:path';

import {
  CniError,
  CniErrorCode,
  CURRENT_VERSION,
  SUPPORTED_VERSIONS,
  checkVersion,
  parseCniArgs,
  resultForVersion,
  versionAtLeast,
  type CniCommand,
  type CniInvocation,
  type CniResult,
  type NetConf,
} from './spec.js';

/** One invocation as the plugin's functions see it: the environment parsed, the config decoded. */
export interface CmdArgs extends Omit<CniInvocation, 'command'> {
  conf: NetConf;
}

/** A plugin's operations. Errors are thrown; a {@link CniError} keeps its code, anything else is 999. */
export interface PluginFuncs {
  add(args: CmdArgs): CniResult;
  del(args: CmdArgs): void;
  check(args: CmdArgs): void;
  gc(args: CmdArgs): void;
  status(args: CmdArgs): void;
}

/** What a plugin process receives: its environment and its stdin (read lazily if a function). */
export interface PluginInput {
  env: Readonly<Record<string, string | undefined>>;
  stdin: string | (() => string);
}

/** What a plugin process answers with. */
export interface PluginOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const REQUIRED: Record<string, readonly string[]> = {
  CNI_COMMAND: ['ADD', 'CHECK', 'DEL', 'GC', 'STATUS'],
  CNI_CONTAINERID: ['ADD', 'CHECK', 'DEL'],
  CNI_NETNS: ['ADD', 'CHECK'],
  CNI_IFNAME: ['ADD', 'CHECK', 'DEL'],
  CNI_ARGS: [],
  CNI_PATH: ['ADD', 'CHECK', 'DEL', 'GC', 'STATUS'],
};

/** The SPEC's rule for container ids and network names. */
const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** libcni `ValidateContainerID`. */
export function validateContainerId(id: string): void {
  if (!id) throw new CniError(CniErrorCode.UnknownContainer, 'missing containerID');
  if (!VALID_NAME.test(id)) throw new CniError(CniErrorCode.InvalidEnvironment, 'invalid characters in containerID', id);
}

/** libcni `ValidateInterfaceName`: the kernel's `dev_valid_name()`. */
export function validateInterfaceName(name: string): void {
  if (!name) throw new CniError(CniErrorCode.InvalidEnvironment, 'interface name is empty');
  if (Buffer.byteLength(name) > 15) throw new CniError(CniErrorCode.InvalidEnvironment, 'interface name is too long', 'interface name should be less than 16 characters');
  if (name === '.' || name === '..') throw new CniError(CniErrorCode.InvalidEnvironment, 'interface name is . or ..');
  if (/[/:\s]/.test(name)) throw new CniError(CniErrorCode.InvalidEnvironment, 'interface name contains / or : or whitespace characters');
}

/** libcni `ValidateNetworkName`. */
export function validateNetworkName(name: unknown): void {
  if (typeof name !== 'string' || !name) throw new CniError(CniErrorCode.InvalidNetworkConfig, 'missing network name');
  if (!VALID_NAME.test(name)) throw new CniError(CniErrorCode.InvalidNetworkConfig, 'invalid characters found in network name', name);
}

/** The versions this skeleton's plugins speak, oldest first, as VERSION lists them. */
export function supportedVersions(): string[] {
  return [...SUPPORTED_VERSIONS];
}

/** Runs one plugin invocation from its environment and stdin. */
export function pluginMain(funcs: PluginFuncs, input: PluginInput, about: string): PluginOutput {
  let cniVersion = CURRENT_VERSION;
  try {
    const command = input.env.CNI_COMMAND ?? '';
    if (!command) {
      return { stdout: '', stderr: `${about}\nCNI protocol versions supported: ${supportedVersions().join(', ')}\n`, exitCode: 0 };
    }
    const env = readEnvironment(command, input.env);
    const stdin = readStdin(input.stdin);
    if (command === 'VERSION') return { stdout: `${JSON.stringify(versionResult(stdin))}\n`, stderr: '', exitCode: 0 };
    const conf = decodeConfig(stdin);
    if (typeof conf.cniVersion === 'string' && conf.cniVersion) cniVersion = conf.cniVersion;
    const args: CmdArgs = { ...env, conf };
    switch (command as CniCommand) {
      case 'ADD': {
        checkVersion(withDefaultVersion(conf));
        const result = funcs.add(args);
        return { stdout: JSON.stringify(resultForVersion(result, conf.cniVersion), null, 4), stderr: '', exitCode: 0 };
      }
      case 'DEL':
        checkVersion(withDefaultVersion(conf));
        funcs.del(args);
        break;
      case 'CHECK':
        gate(conf, 'CHECK', '0.4.0');
        funcs.check(args);
        break;
      case 'GC':
        gate(conf, 'GC', '1.1.0');
        funcs.gc(args);
        break;
      case 'STATUS':
        gate(conf, 'STATUS', '1.1.0');
        funcs.status(args);
        break;
      default:
        throw new CniError(CniErrorCode.InvalidEnvironment, `unknown CNI_COMMAND: ${command}`);
    }
    return { stdout: '', stderr: '', exitCode: 0 };
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(CniErrorCode.Internal, (err as Error).message ?? String(err));
    return { stdout: JSON.stringify(e.toJSON(cniVersion), null, 4), stderr: '', exitCode: 1 };
  }
}

/** The CNI_* variables, checked as skel checks them (in the table's order). */
function readEnvironment(command: string, env: PluginInput['env']): Omit<CniInvocation, 'command'> {
  const missing: string[] = [];
  for (const [name, commands] of Object.entries(REQUIRED)) {
    const value = env[name] ?? '';
    const required = commands.includes(command);
    if (!value) {
      if (required) missing.push(name);
    } else if (required && name === 'CNI_CONTAINERID') {
      validateContainerId(value);
    } else if (required && name === 'CNI_IFNAME') {
      validateInterfaceName(value);
    }
  }
  if (missing.length) throw new CniError(CniErrorCode.InvalidEnvironment, `required env variables [${missing.join(',')}] missing`);
  return {
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifName: env.CNI_IFNAME ?? '',
    args: parseCniArgs(env.CNI_ARGS),
    path: (env.CNI_PATH ?? '').split(delimiter).filter(Boolean),
  };
}

function readStdin(stdin: PluginInput['stdin']): string {
  try {
    return typeof stdin === 'function' ? stdin() : stdin;
  } catch (err) {
    throw new CniError(CniErrorCode.IoFailure, `error reading from stdin: ${(err as Error).message}`);
  }
}

/** The VERSION answer: the input's `cniVersion` (SPEC section "Version"), else the current one. */
function versionResult(stdin: string): { cniVersion: string; supportedVersions: string[] } {
  let cniVersion = CURRENT_VERSION;
  try {
    const input = stdin.trim() ? (JSON.parse(stdin) as { cniVersion?: unknown }) : {};
    if (input && typeof input.cniVersion === 'string' && input.cniVersion) cniVersion = input.cniVersion;
  } catch {
    // VERSION is a probe: an unreadable input still gets the answer.
  }
  return { cniVersion, supportedVersions: supportedVersions() };
}

/** skel's `validateConfig`: JSON (code 6) with a valid network name (code 7). */
function decodeConfig(stdin: string): NetConf {
  let conf: unknown;
  try {
    conf = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CniErrorCode.DecodeFailure, `error unmarshall network config: ${(err as Error).message}`);
  }
  if (!conf || typeof conf !== 'object' || Array.isArray(conf)) {
    throw new CniError(CniErrorCode.DecodeFailure, 'error unmarshall network config: not a JSON object');
  }
  const c = conf as NetConf;
  if (c.cniVersion !== undefined && typeof c.cniVersion !== 'string') {
    throw new CniError(CniErrorCode.DecodeFailure, `decoding version from network config: cniVersion is not a string`);
  }
  validateNetworkName(c.name);
  return c;
}

/** libcni reads a configuration without `cniVersion` as 0.1.0. */
function withDefaultVersion(conf: NetConf): NetConf {
  if (!conf.cniVersion) conf.cniVersion = '0.1.0';
  return conf;
}

/** An operation introduced in `since`: older configurations may not ask for it. */
function gate(conf: NetConf, op: string, since: string): void {
  withDefaultVersion(conf);
  if (!versionAtLeast(conf.cniVersion, since)) throw new CniError(CniErrorCode.IncompatibleVersion, `config version does not allow ${op}`);
  if (!SUPPORTED_VERSIONS.some((v) => versionAtLeast(v, conf.cniVersion))) {
    throw new CniError(CniErrorCode.IncompatibleVersion, `plugin version does not allow ${op}`);
  }
  checkVersion(conf);
}
