/**
 * The kubeconfig file, as client-go's `tools/clientcmd` reads and writes it (`apiVersion: v1`,
 * `kind: Config`; clusters, contexts and users as lists of named entries; `current-context`;
 * `preferences`), and the loading rules kubectl applies to find the server it talks to.
 *
 * Loading follows the Kubernetes documentation page "Organizing Cluster Access Using kubeconfig
 * Files" (kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/) and
 * clientcmd's `ClientConfigLoadingRules`:
 * - `--kubeconfig` names the only file read, and it must exist;
 * - else `$KUBECONFIG` is a list of files (`:`-separated, `;` on Windows): empty entries and
 *   missing files are skipped, and the files are merged so that the first file to set a value or
 *   map key wins, and a map entry (a cluster, context or user) is taken whole from that file;
 * - else `~/.kube/config`, if it exists;
 * - the context is `--context`, else `current-context`; `--server`, `--insecure-skip-tls-verify`
 *   and `--token` override what the context's cluster and user say;
 * - file references (`certificate-authority`, `tokenFile`) are relative to the file that holds
 *   them.
 *
 * Where kubectl would quietly fall back to `http://localhost:8080`, podnet stops with an error
 * that says what it looked for. Files are parsed as YAML 1.1, the dialect client-go's
 * `sigs.k8s.io/yaml` speaks, and written so that kubectl reads back every string as a string.
 */

import { chmodSync, mkdirSync, readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { LineCounter, parseDocument, stringify, type Document } from 'yaml';
import { PodnetError } from '../core/errors.js';

// --- the file format (k8s.io/client-go/tools/clientcmd/api/v1/types.go) ----------------------

/** A cluster entry's `cluster` (clientcmd v1 `Cluster`). */
export interface KubeconfigCluster {
  server?: string;
  /** Path to a PEM CA bundle, relative to the kubeconfig file. */
  'certificate-authority'?: string;
  /** Base64 of a PEM CA bundle; wins over `certificate-authority`. */
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
  'disable-compression'?: boolean;
  extensions?: unknown[];
}

/** A user entry's `user` (clientcmd v1 `AuthInfo`). podnet's client uses the bearer token only. */
export interface KubeconfigUser {
  token?: string;
  /** Path to a file holding the token, relative to the kubeconfig file; wins over `token`. */
  tokenFile?: string;
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  username?: string;
  password?: string;
  'auth-provider'?: unknown;
  exec?: unknown;
  extensions?: unknown[];
}

/** A context entry's `context`: which cluster, as which user, in which namespace. */
export interface KubeconfigContext {
  cluster: string;
  user: string;
  namespace?: string;
  extensions?: unknown[];
}

/** A kubeconfig file (clientcmd v1 `Config`). */
export interface Kubeconfig {
  apiVersion: 'v1';
  kind: 'Config';
  clusters: Array<{ name: string; cluster: KubeconfigCluster }>;
  contexts: Array<{ name: string; context: KubeconfigContext }>;
  'current-context': string;
  preferences: { colors?: boolean; extensions?: unknown[] };
  users: Array<{ name: string; user: KubeconfigUser }>;
  extensions?: unknown[];
}

/** What a client needs to reach the API server, resolved from kubeconfig files and flags. */
export interface ClientConfig {
  /** The API server URL, with its scheme. */
  server: string;
  /** PEM CA bundle to verify the server with; absent means the system roots. */
  caPem?: string;
  insecureSkipTLSVerify: boolean;
  /** Bearer token. */
  token?: string;
  /** The context's namespace, `default` if it names none. */
  namespace: string;
  /** The context used; absent when the config was built from `--server` alone. */
  context?: string;
  /** The kubeconfig files read, first (highest precedence) first. */
  files: string[];
}

/** A kubeconfig problem; `file` names the kubeconfig it is about, when there is one. */
export class KubeconfigError extends PodnetError {
  readonly file?: string;
  constructor(code: 'PODNET_KUBECONFIG_INVALID' | 'PODNET_KUBECONFIG_EXISTS' | 'PODNET_NO_CLUSTER', message: string, file?: string, options?: { cause?: unknown }) {
    super(code, message, options);
    if (file !== undefined) {
      this.file = file;
      this.source = { file };
    }
  }
}

function invalid(message: string, file?: string, cause?: unknown): KubeconfigError {
  return new KubeconfigError('PODNET_KUBECONFIG_INVALID', message, file, cause === undefined ? undefined : { cause });
}

// --- building and writing --------------------------------------------------------------------

/** Options of {@link buildKubeconfig}. */
export interface BuildKubeconfigOptions {
  /** Name of the cluster, the user and the context alike. */
  name: string;
  server: string;
  /** The CA to trust, written as `certificate-authority-data`. */
  caPem?: string;
  insecureSkipTLSVerify?: boolean;
  token?: string;
  namespace?: string;
}

/**
 * A kubeconfig with one cluster, one user and one context, all named `name`, the context current;
 * as `kind get kubeconfig` and `kubeadm kubeconfig user` produce them.
 */
export function buildKubeconfig(options: BuildKubeconfigOptions): Kubeconfig {
  const { name, server } = options;
  if (!name) throw invalid('a kubeconfig needs a name for its cluster, user and context');
  checkServerURL(server);
  if (options.caPem && options.insecureSkipTLSVerify) {
    throw invalid('specifying a root certificates file with the insecure flag is not allowed: pass caPem or insecureSkipTLSVerify, not both');
  }
  const cluster: KubeconfigCluster = {
    ...(options.caPem ? { 'certificate-authority-data': Buffer.from(options.caPem, 'utf8').toString('base64') } : {}),
    ...(options.insecureSkipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}),
    server,
  };
  return {
    apiVersion: 'v1',
    clusters: [{ cluster, name }],
    contexts: [{ context: { cluster: name, ...(options.namespace ? { namespace: options.namespace } : {}), user: name }, name }],
    'current-context': name,
    kind: 'Config',
    preferences: {},
    users: [{ name, user: options.token ? { token: options.token } : {} }],
  };
}

/**
 * The YAML text of a kubeconfig, laid out as `kubectl config view --raw` prints it (keys sorted,
 * as Go marshals them), with strings that YAML 1.1 would read as something else quoted.
 * `header` lines become `#` comments at the top.
 */
export function formatKubeconfig(config: Kubeconfig, header?: string): string {
  const body = stringify(config, { version: '1.1', sortMapEntries: true, lineWidth: 0, minContentWidth: 0 });
  if (!header) return body;
  const comments = header
    .split('\n')
    .map((line) => (line.startsWith('#') ? line : `# ${line}`.trimEnd()))
    .join('\n');
  return `${comments}\n${body}`;
}

/** Options of {@link writeKubeconfig}. */
export interface WriteKubeconfigOptions {
  /** Replace an existing file (and allow writing `~/.kube/config`). */
  overwrite?: boolean;
  /** A comment written above the YAML (see {@link formatKubeconfig}). */
  header?: string;
  /** The home directory whose `.kube/config` is protected (default `$HOME`, then `os.homedir()`). */
  home?: string;
}

/** `~/.kube/config` under `home`, or the current user's. */
function defaultKubeconfigPath(home?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(home ?? (env.HOME || homedir()), '.kube', 'config');
}

/** The same file? Compares real paths where they exist, so a symlink does not slip past. */
function samePath(a: string, b: string): boolean {
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      try {
        return path.join(realpathSync(path.dirname(p)), path.basename(p));
      } catch {
        return path.resolve(p);
      }
    }
  };
  return path.resolve(a) === path.resolve(b) || real(a) === real(b);
}

/**
 * Writes a kubeconfig as YAML with mode 0600 (as clientcmd does), creating parent directories.
 * Throws {@link KubeconfigError} `PODNET_KUBECONFIG_EXISTS` if the file exists, or if it is
 * `~/.kube/config` (which holds the user's other clusters), unless `overwrite` is set; an
 * overwrite replaces the file atomically.
 */
export function writeKubeconfig(file: string, config: Kubeconfig, options: WriteKubeconfigOptions = {}): void {
  const target = path.resolve(file);
  const home = defaultKubeconfigPath(options.home);
  if (!options.overwrite && samePath(target, home)) {
    throw new KubeconfigError(
      'PODNET_KUBECONFIG_EXISTS',
      `refusing to write ${target}: it is kubectl's default kubeconfig (~/.kube/config), which holds your other clusters too; ` +
        `write podnet's kubeconfig to a file of its own and use it with --kubeconfig or KUBECONFIG, or allow overwriting to replace ~/.kube/config`,
      target,
    );
  }
  const text = formatKubeconfig(config, options.header);
  const dir = path.dirname(target);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw invalid(`cannot create the directory ${dir} for the kubeconfig: ${(err as Error).message}`, target, err);
  }
  if (!options.overwrite) {
    try {
      writeFileSync(target, text, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new KubeconfigError(
          'PODNET_KUBECONFIG_EXISTS',
          `refusing to overwrite the existing kubeconfig ${target}; remove it, choose another path, or allow overwriting`,
          target,
        );
      }
      throw invalid(`cannot write kubeconfig ${target}: ${(err as Error).message}`, target, err);
    }
    chmodSync(target, 0o600);
    return;
  }
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
    chmodSync(tmp, 0o600);
    renameSync(tmp, target);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw invalid(`cannot write kubeconfig ${target}: ${(err as Error).message}`, target, err);
  }
}

// --- reading ---------------------------------------------------------------------------------

type Path = Array<string | number>;

/** Checks one parsed document against the v1 Config shape, naming file:line and field path. */
class Reader {
  readonly #file: string;
  readonly #doc: Document;
  readonly #lines: LineCounter;
  constructor(file: string, doc: Document, lines: LineCounter) {
    this.#file = file;
    this.#doc = doc;
    this.#lines = lines;
  }

  fail(at: Path, message: string): KubeconfigError {
    let line: number | undefined;
    for (let p = at; line === undefined && p.length > 0; p = p.slice(0, -1)) {
      const node = this.#doc.getIn(p, true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) line = this.#lines.linePos(node.range[0]).line;
    }
    const err = invalid(
      `${this.#file}${line ? `:${line}` : ''}: ${at.length ? `${renderPath(at)}: ` : ''}${message}`,
      this.#file,
    );
    if (line) err.source = { file: this.#file, line };
    return err;
  }

  string(value: unknown, at: Path): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw this.fail(at, `expected a string, got ${describe(value)}`);
    return value;
  }

  boolean(value: unknown, at: Path): boolean | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw this.fail(at, `expected true or false, got ${describe(value)}`);
    return value;
  }

  mapping(value: unknown, at: Path): Record<string, unknown> | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value) || value instanceof Date) {
      throw this.fail(at, `expected a mapping, got ${describe(value)}`);
    }
    return value as Record<string, unknown>;
  }

  /** A list of `{ name, <key>: {...} }`, names unique (clientcmd's v1 → internal conversion). */
  named(root: Record<string, unknown>, list: 'clusters' | 'contexts' | 'users', key: 'cluster' | 'context' | 'user'): Array<{ name: string; body: Record<string, unknown>; at: Path }> {
    const value = root[list];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw this.fail([list], `expected a list of named ${key}s, got ${describe(value)}`);
    const seen = new Set<string>();
    return value.map((item: unknown, i) => {
      const entry = this.mapping(item, [list, i]) ?? {};
      const name = this.string(entry.name, [list, i, 'name']);
      if (name === undefined) throw this.fail([list, i], 'name: Required value');
      if (seen.has(name)) throw this.fail([list, i, 'name'], `duplicate name ${JSON.stringify(name)} in ${list}`);
      seen.add(name);
      return { name, body: this.mapping(entry[key], [list, i, key]) ?? {}, at: [list, i, key] };
    });
  }
}

function renderPath(at: Path): string {
  return at.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return `a timestamp (quote it to make it a string)`;
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'boolean' || typeof value === 'number') return `${typeof value} ${String(value)} (quote it to make it a string)`;
  return typeof value;
}

const CLUSTER_STRINGS = ['server', 'certificate-authority', 'certificate-authority-data', 'tls-server-name', 'proxy-url'] as const;
const USER_STRINGS = ['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'username', 'password'] as const;

/** Parses kubeconfig text. `file` is used in error messages. Throws {@link KubeconfigError}. */
export function parseKubeconfig(text: string, file: string): Kubeconfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { version: '1.1', lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    throw invalid(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML: ${e.message.split('\n')[0]}`, file, e);
  }
  const r = new Reader(file, doc, lines);
  const root = r.mapping(doc.toJS({ maxAliasCount: 100 }), []) ?? {};
  const kind = r.string(root.kind, ['kind']);
  const apiVersion = r.string(root.apiVersion, ['apiVersion']);
  if ((kind && kind !== 'Config') || (apiVersion && apiVersion !== 'v1')) {
    throw r.fail([], `not a kubeconfig: no kind ${JSON.stringify(kind ?? '')} is registered for version ${JSON.stringify(apiVersion ?? '')} (want apiVersion: v1, kind: Config)`);
  }
  const clusters = r.named(root, 'clusters', 'cluster').map(({ name, body, at }) => {
    const cluster: KubeconfigCluster = {};
    for (const k of CLUSTER_STRINGS) {
      const v = r.string(body[k], [...at, k]);
      if (v !== undefined) cluster[k] = v;
    }
    for (const k of ['insecure-skip-tls-verify', 'disable-compression'] as const) {
      const v = r.boolean(body[k], [...at, k]);
      if (v !== undefined) cluster[k] = v;
    }
    if (Array.isArray(body.extensions)) cluster.extensions = body.extensions;
    return { name, cluster };
  });
  const contexts = r.named(root, 'contexts', 'context').map(({ name, body, at }) => {
    const namespace = r.string(body.namespace, [...at, 'namespace']);
    const context: KubeconfigContext = {
      cluster: r.string(body.cluster, [...at, 'cluster']) ?? '',
      user: r.string(body.user, [...at, 'user']) ?? '',
      ...(namespace ? { namespace } : {}),
    };
    if (Array.isArray(body.extensions)) context.extensions = body.extensions;
    return { name, context };
  });
  const users = r.named(root, 'users', 'user').map(({ name, body, at }) => {
    const user: KubeconfigUser = {};
    for (const k of USER_STRINGS) {
      const v = r.string(body[k], [...at, k]);
      if (v !== undefined) user[k] = v;
    }
    // Other ways to authenticate are kept as read; podnet's client does not use them.
    if (body['auth-provider'] != null) user['auth-provider'] = body['auth-provider'];
    if (body.exec != null) user.exec = body.exec;
    if (Array.isArray(body.extensions)) user.extensions = body.extensions;
    return { name, user };
  });
  const preferences = r.mapping(root.preferences, ['preferences']) ?? {};
  return {
    apiVersion: 'v1',
    clusters,
    contexts,
    'current-context': r.string(root['current-context'], ['current-context']) ?? '',
    kind: 'Config',
    preferences: preferences as Kubeconfig['preferences'],
    users,
  };
}

/**
 * Reads and parses a kubeconfig file. Throws {@link KubeconfigError} `PODNET_KUBECONFIG_INVALID`
 * naming the file if it cannot be read or is not a kubeconfig.
 */
export function readKubeconfig(file: string): Kubeconfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw unreadable(file, err);
  }
  return parseKubeconfig(text, file);
}

function unreadable(file: string, err: unknown): KubeconfigError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
  return invalid(`cannot read kubeconfig ${file}: ${why}`, file, err);
}

// --- loading (clientcmd.ClientConfigLoadingRules + DirectClientConfig) ------------------------

/** Options of {@link loadClientConfig}: kubectl's flags plus injected environment and home. */
export interface LoadClientConfigOptions {
  /** `--kubeconfig`: the only file read; it must exist. */
  kubeconfig?: string;
  /** `--server`: overrides the cluster's server; enough on its own. */
  server?: string;
  /** `--token`: overrides the user's token and tokenFile. */
  token?: string;
  /** `--context`: instead of `current-context`. */
  context?: string;
  /** `--insecure-skip-tls-verify`: when true, also drops the cluster's CA (as clientcmd does). */
  insecureSkipTLSVerify?: boolean;
  /** `--namespace`: instead of the context's namespace. */
  namespace?: string;
  /** Environment for `KUBECONFIG` and `HOME` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Home directory for `~/.kube/config` (default `$HOME`, then `os.homedir()`). */
  home?: string;
}

/** A map entry and the file it came from, for relative paths and messages. */
interface Origin<T> {
  value: T;
  file: string;
}

interface Merged {
  files: string[];
  clusters: Map<string, Origin<KubeconfigCluster>>;
  contexts: Map<string, Origin<KubeconfigContext>>;
  users: Map<string, Origin<KubeconfigUser>>;
  currentContext?: Origin<string>;
}

/** The files to read, in precedence order, whether a missing one is an error, and where we looked. */
function precedence(options: LoadClientConfigOptions, env: NodeJS.ProcessEnv): { files: string[]; mustExist: boolean; looked: string } {
  if (options.kubeconfig) return { files: [path.resolve(options.kubeconfig)], mustExist: true, looked: `--kubeconfig ${options.kubeconfig}` };
  const list = env.KUBECONFIG;
  if (list) {
    const files = [...new Set(list.split(path.delimiter).filter((f) => f !== '').map((f) => path.resolve(f)))];
    return { files, mustExist: false, looked: `none of the files in KUBECONFIG=${list} exists` };
  }
  const home = defaultKubeconfigPath(options.home, env);
  return { files: [home], mustExist: false, looked: `KUBECONFIG is unset and ${home} does not exist` };
}

/** Reads the files and merges them: the first to set a map key or value wins (see module doc). */
function loadMerged(files: string[], mustExist: boolean): Merged {
  const merged: Merged = { files: [], clusters: new Map(), contexts: new Map(), users: new Map() };
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (!mustExist && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw unreadable(file, err);
    }
    const config = parseKubeconfig(text, file);
    merged.files.push(file);
    for (const { name, cluster } of config.clusters) if (!merged.clusters.has(name)) merged.clusters.set(name, { value: cluster, file });
    for (const { name, context } of config.contexts) if (!merged.contexts.has(name)) merged.contexts.set(name, { value: context, file });
    for (const { name, user } of config.users) if (!merged.users.has(name)) merged.users.set(name, { value: user, file });
    if (!merged.currentContext && config['current-context']) merged.currentContext = { value: config['current-context'], file };
  }
  return merged;
}

function checkServerURL(server: string, file?: string): void {
  try {
    const url = new URL(server);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
  } catch {
    throw invalid(`${file ? `${file}: ` : ''}the server ${JSON.stringify(server)} is not a valid http(s) URL`, file);
  }
}

/** clientcmd's `DefaultServerURL`: a bare `host:port` gets https when TLS is configured, else http. */
function withScheme(server: string, tls: boolean): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `${tls ? 'https' : 'http'}://${server}`;
}

function resolveFrom(file: string, ref: string): string {
  return path.resolve(path.dirname(file), ref);
}

function listNames(map: Map<string, unknown>): string {
  return map.size ? [...map.keys()].map((n) => JSON.stringify(n)).join(', ') : 'none';
}

/**
 * Finds the API server and credentials the way kubectl does (see the module doc) and resolves
 * them to a {@link ClientConfig}.
 *
 * Throws {@link KubeconfigError}: `PODNET_NO_CLUSTER` when there is no kubeconfig and no
 * `--server`; `PODNET_KUBECONFIG_INVALID`, naming the file, for an unreadable file, bad YAML, an
 * unknown context or cluster, a cluster without a server, an unreadable CA or token file, or a
 * CA together with insecure-skip-tls-verify.
 */
export function loadClientConfig(options: LoadClientConfigOptions = {}): ClientConfig {
  const env = options.env ?? process.env;
  const { files, mustExist, looked } = precedence(options, env);
  const merged = loadMerged(files, mustExist);
  const where = merged.files.length ? merged.files.join(', ') : looked;
  const empty = merged.clusters.size === 0 && merged.contexts.size === 0 && !merged.currentContext;

  if (empty && !options.server) {
    throw new KubeconfigError(
      'PODNET_NO_CLUSTER',
      `no cluster to talk to: ${merged.files.length ? `the kubeconfig ${where} defines no clusters or contexts` : `no kubeconfig found (${looked})`}. ` +
        'Pass --kubeconfig <file> or set KUBECONFIG=<file> to the kubeconfig of a running podnet (podnet up prints its path), or pass --server <url>',
    );
  }

  const contextName = options.context || merged.currentContext?.value || '';
  const context = contextName ? merged.contexts.get(contextName) : undefined;
  if (contextName && !context) {
    const how = options.context ? `context ${JSON.stringify(contextName)} (from --context)` : `current-context ${JSON.stringify(contextName)} (set in ${merged.currentContext?.file})`;
    throw invalid(`${where}: ${how} not found; known contexts: ${listNames(merged.contexts)}`, merged.currentContext?.file ?? merged.files[0]);
  }
  if (!context && !options.server) {
    throw invalid(
      `${where}: current-context is not set; pass --context <name> (known contexts: ${listNames(merged.contexts)}) or set one with "kubectl config use-context <name>"`,
      merged.files[0],
    );
  }

  // The cluster.
  let cluster: Origin<KubeconfigCluster> | undefined;
  if (context) {
    const name = context.value.cluster;
    cluster = name ? merged.clusters.get(name) : undefined;
    if (!cluster && !options.server) {
      throw invalid(
        name
          ? `${where}: cluster ${JSON.stringify(name)} (of context ${JSON.stringify(contextName)}) not found; known clusters: ${listNames(merged.clusters)}`
          : `${context.file}: context ${JSON.stringify(contextName)} names no cluster`,
        context.file,
      );
    }
  }
  const c = cluster?.value ?? {};
  let server = options.server || c.server;
  if (!server) {
    throw invalid(`${cluster?.file}: cluster ${JSON.stringify(context?.value.cluster)} has no server; set clusters[].cluster.server or pass --server`, cluster?.file);
  }

  // TLS: an --insecure-skip-tls-verify override clears the cluster's CA (DirectClientConfig.getCluster).
  const insecure = options.insecureSkipTLSVerify === true || (c['insecure-skip-tls-verify'] ?? false);
  let caPem: string | undefined;
  if (options.insecureSkipTLSVerify !== true && cluster) {
    caPem = clusterCA(c, cluster.file, context!.value.cluster);
    if (caPem !== undefined && insecure) {
      throw invalid(
        `${cluster.file}: cluster ${JSON.stringify(context!.value.cluster)}: specifying a root certificates file with the insecure flag is not allowed`,
        cluster.file,
      );
    }
  }
  server = withScheme(server, caPem !== undefined || insecure);
  checkServerURL(server, options.server ? undefined : cluster?.file);

  // The user: a missing user entry means anonymous, as kubectl treats it.
  const userName = context?.value.user;
  const user = userName ? merged.users.get(userName) : undefined;
  const token = options.token || (user ? userToken(user, userName!) : undefined);

  const result: ClientConfig = {
    server,
    insecureSkipTLSVerify: insecure,
    namespace: options.namespace || context?.value.namespace || 'default',
    files: merged.files,
  };
  if (caPem !== undefined) result.caPem = caPem;
  if (token) result.token = token;
  if (context) result.context = contextName;
  return result;
}

/** `certificate-authority-data` (base64 PEM) wins over `certificate-authority` (a path). */
function clusterCA(c: KubeconfigCluster, file: string, name: string): string | undefined {
  const data = c['certificate-authority-data'];
  if (data) {
    const pem = Buffer.from(data, 'base64').toString('utf8');
    if (!/^[A-Za-z0-9+/=\s]+$/.test(data) || !pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw invalid(`${file}: cluster ${JSON.stringify(name)}: certificate-authority-data is not a base64-encoded PEM certificate`, file);
    }
    return pem;
  }
  const ref = c['certificate-authority'];
  if (!ref) return undefined;
  const caFile = resolveFrom(file, ref);
  try {
    return readFileSync(caFile, 'utf8');
  } catch (err) {
    throw invalid(`${file}: unable to read certificate-authority ${caFile} for cluster ${JSON.stringify(name)}: ${(err as Error).message}`, file, err);
  }
}

/**
 * The bearer token: `tokenFile`, when readable, wins over `token` (rest.Config's
 * BearerTokenFile); an unreadable tokenFile falls back to `token`, and is an error without one.
 */
function userToken(user: Origin<KubeconfigUser>, name: string): string | undefined {
  const { token, tokenFile } = user.value;
  if (tokenFile) {
    const tokenPath = resolveFrom(user.file, tokenFile);
    try {
      return readFileSync(tokenPath, 'utf8').trim();
    } catch (err) {
      if (token) return token;
      throw invalid(`${user.file}: user ${JSON.stringify(name)}: cannot read tokenFile ${tokenPath}: ${(err as Error).message}`, user.file, err);
    }
  }
  return token || undefined;
}
