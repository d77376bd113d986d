/**
 * The `podnet` command: a thin layer over the library API (lib/index.ts).
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or validation error.
 */

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { PodnetError, AggregateApplyError } from '../core/errors.js';
import { Cluster } from '../cluster.js';
import { loadTopologyFiles } from '../topology/load.js';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { KubeObject } from '../api/meta.js';
import { resolveKind, type KindInfo } from '../api/scheme.js';
import { ApiServer, type ApiServerAddress } from '../apiserver/server/server.js';
import { buildKubeconfig, writeKubeconfig } from '../kubeconfig/kubeconfig.js';
import { RestClient } from '../client/rest.js';
import { NODE_TABLES, type NodeTable } from '../apiserver/server/podnet.js';
import { readManifestFile, type SourcedObject } from '../topology/manifests.js';
import { splitTopology } from '../topology/load.js';
import { formatObjects, OUTPUT_FORMATS, type OutputFormat } from './output.js';
import { renderSummary } from './summary.js';
import { execEndpointOptions, execIO, registerExec } from './exec.js';
import { registerNodeCommand } from './node.js';
import { registerRulesCommand } from './rules.js';
import { podnetGet, remoteConfig, withRemoteOptions, type RemoteOptions } from './remote.js';

/** Exit codes of the `podnet` command. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Error codes that mean the user's input was wrong (exit 2) rather than a runtime failure. */
const INPUT_ERRORS = new Set([
  'PODNET_KUBECONFIG_INVALID',
  'PODNET_KUBECONFIG_EXISTS',
  'PODNET_NO_CLUSTER',
  'PODNET_NOT_LOOPBACK',
  'PODNET_UNKNOWN_PLUGIN',
  'PODNET_INVALID_OBJECT',
  'PODNET_MANIFEST_INVALID',
  'PODNET_UNKNOWN_KIND',
  'PODNET_UNKNOWN_RESOURCE',
  'PODNET_TOPOLOGY_INVALID',
  'PODNET_APPLY_FAILED',
  'PODNET_IPAM_EXHAUSTED',
  'PODNET_ALREADY_EXISTS',
  'PODNET_NOT_FOUND',
  'PODNET_BAD_REQUEST',
  'PODNET_USAGE',
  'PODNET_NAMESPACE_TERMINATING',
]);

/**
 * Where the CLI writes, and the environment it reads; injectable, so tests can run the command
 * in-process (`main(argv, io)`) with output identical to bin/podnet.js's.
 */
export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** The environment `KUBECONFIG` and `HOME` are read from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

const defaultIO: CliIO = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

function parseSeed(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n >= 2 ** 32) throw new InvalidArgumentError('must be an integer between 0 and 4294967295');
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function usage(message: string): PodnetError {
  return new PodnetError('PODNET_USAGE', message);
}

/** Runs the CLI with `argv` (without node and script). Resolves to the exit code. */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command('podnet')
    .description('A Kubernetes networking data-plane emulator: a whole cluster network in one process, over loopback.')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)');
  program.version(process.env.npm_package_version ?? '0.1.0', '--version');

  program
    .command('up')
    .description('start a cluster from topology files, serve the Kubernetes API, and run until interrupted (Ctrl-C)')
    .argument('<file...>', 'topology and manifest files (YAML or JSON)')
    .option('--seed <n>', 'seed for allocation order, generated names and every random choice', parseSeed)
    .option('--api-port <port>', 'port of the Kubernetes API on 127.0.0.1 (0 for any free port)', parsePort, 6443)
    .option('--api-address <address>', 'loopback address of the Kubernetes API', '127.0.0.1')
    .option('--insecure-http', 'serve the API over plain HTTP instead of HTTPS')
    .option('--token <token>', 'require this bearer token on every API request')
    .option('--kubeconfig <path>', 'where to write the kubeconfig (default: a file in the temp directory named after the cluster)')
    .option('--overwrite-kubeconfig', 'allow replacing an existing kubeconfig that podnet did not write (such as ~/.kube/config)')
    .action(async (files: string[], opts: UpOptions) => {
      const started = Date.now();
      const cluster = await Cluster.fromFiles(files, opts.seed === undefined ? {} : { seed: opts.seed });
      const api = new ApiServer(cluster.store, {
        host: opts.apiAddress,
        port: opts.apiPort,
        ...(opts.insecureHttp ? { insecureHttp: true } : {}),
        ...(opts.token ? { token: opts.token } : {}),
        ...execEndpointOptions(cluster),
        podnet: cluster,
      });
      try {
        const address = await api.listen();
        const kubeconfigPath = opts.kubeconfig ? resolve(opts.kubeconfig) : join(tmpdir(), `podnet-${cluster.spec.name}`, 'kubeconfig');
        writePodnetKubeconfig(kubeconfigPath, cluster.spec.name, address, opts);
        io.stdout(renderSummary(cluster, Date.now() - started));
        io.stdout(`\nKubernetes API: ${address.url}\nkubeconfig:     ${kubeconfigPath}\n`);
        io.stdout(`  export KUBECONFIG=${kubeconfigPath}   # then: kubectl get pods -o wide\n`);
        io.stdout('\npodnet is running. Press Ctrl-C to stop.\n');
        await waitForSignal();
      } finally {
        await api.close();
        await cluster.stop();
      }
      io.stdout('podnet stopped.\n');
    });

  const trace = program
    .command('trace')
    .description('show the path a new flow takes, hop by hop: hooks, rules, NAT, routes, encapsulation, verdict')
    .requiredOption('--from <ns/pod>', 'the client pod (namespace/name, or name in default)')
    .requiredOption('--to <ip|ns/pod>', 'destination IP or pod')
    .requiredOption('--port <n>', 'destination port', parsePort)
    .addOption(new Option('--protocol <p>', 'protocol').choices(['TCP', 'UDP', 'SCTP']).default('TCP'))
    .option('-f, --filename <file>', 'topology/manifest file to run one-shot (repeatable); without it, ask a running podnet', collect)
    .option('--seed <n>', 'seed for allocation order and generated names (with -f)', parseSeed);
  withRemoteOptions(trace).action(async (opts: TraceOptions) => {
      const source = opts.filename?.length ? await oneShot(opts) : remote(opts, io.env);
      try {
        io.stdout(await source.trace(opts.from, opts.to, opts.port, opts.protocol));
      } finally {
        await source.close();
      }
    });

  program
    .command('validate')
    .description('check topology and manifest files; print every error found')
    .argument('<file...>', 'topology and manifest files')
    .action(async (files: string[]) => {
      const objects: SourcedObject[] = [];
      const errors: PodnetError[] = [];
      for (const file of files) {
        try {
          objects.push(...readManifestFile(file));
        } catch (err) {
          if (!(err instanceof PodnetError)) throw err;
          errors.push(err);
        }
      }
      if (!errors.length) {
        try {
          const topology = splitTopology(objects);
          const cluster = new Cluster(topology.cluster);
          await cluster.start(topology.objects);
          await cluster.stop();
          io.stdout(`${files.join(', ')}: ${topology.objects.length} object(s) valid\n`);
        } catch (err) {
          if (!(err instanceof PodnetError)) throw err;
          errors.push(...(err instanceof AggregateApplyError ? err.errors : [err]));
        }
      }
      if (errors.length) {
        for (const e of errors) io.stderr(`error: ${e.message}\n`);
        exitCode = EXIT.usage;
      }
    });

  const get = program
    .command('get')
    .description('print objects of a kind after the controllers have converged, as kubectl get does')
    .argument('<kind>', 'resource type: pods, svc, deploy, endpointslices, nodes, ...')
    .argument('[name]', 'object name')
    .option('-n, --namespace <ns>', 'namespace (default: the context\'s, or "default")')
    .option('-A, --all-namespaces', 'list across all namespaces')
    .addOption(new Option('-o, --output <format>', 'output format').choices([...OUTPUT_FORMATS]))
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
    .option('--field-selector <selector>', 'field selector, e.g. spec.nodeName=worker')
    .option('--show-labels', 'show labels as the last column')
    .option('--no-headers', 'omit the header row')
    .option('-f, --filename <file>', 'topology/manifest file to run one-shot (repeatable); without it, ask a running podnet', collect)
    .option('--seed <n>', 'seed for allocation order and generated names (with -f)', parseSeed)
    .option('--node <name>', 'the node whose routes, neigh, fdb, conntrack or kube-proxy (sync history) table to print');
  withRemoteOptions(get).action(async (kind: string, name: string | undefined, opts: GetOptions) => {
      if (NODE_TABLES.includes(kind as NodeTable)) {
        if (!opts.node) throw usage(`get ${kind} needs --node NAME`);
        const source = opts.filename?.length ? await oneShot(opts) : remote(opts, io.env);
        try {
          io.stdout(await source.nodeTable(opts.node, kind as NodeTable));
        } finally {
          await source.close();
        }
        return;
      }
      const info = resolveKind(kind);
      const source = opts.filename?.length ? await oneShot(opts) : remote(opts, io.env);
      try {
        const namespace = info.namespaced && !opts.allNamespaces ? (opts.namespace ?? source.namespace) : undefined;
        let objects: KubeObject[];
        if (name) {
          objects = [await source.get(info, namespace, name)];
        } else {
          objects = await source.list(info, namespace, {
            ...(opts.selector ? { labelSelector: opts.selector } : {}),
            ...(opts.fieldSelector ? { fieldSelector: opts.fieldSelector } : {}),
          });
        }
        if (!objects.length && !opts.output) {
          io.stderr(namespace ? `No resources found in ${namespace} namespace.\n` : 'No resources found\n');
        } else {
          io.stdout(
            formatObjects(info, objects, opts.output, {
              now: Date.now(),
              single: !!name,
              allNamespaces: !!opts.allNamespaces,
              showLabels: !!opts.showLabels,
              noHeaders: opts.headers === false,
            }),
          );
        }
      } finally {
        await source.close();
      }
    });

  registerNodeCommand(program, io.stdout);

  registerRulesCommand(program, io.stdout, io.env, parseSeed);

  registerExec(program, execIO(io, io === defaultIO), (code) => (exitCode = code), parseSeed);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof PodnetError) {
      const list = err instanceof AggregateApplyError ? err.errors : [err];
      for (const e of list) io.stderr(`error: ${e.message}\n`);
      return INPUT_ERRORS.has(err.code) ? EXIT.usage : EXIT.failure;
    }
    io.stderr(`error: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.failure;
  }
  return exitCode;
}

interface TraceOptions extends GetOptions {
  from: string;
  to: string;
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

interface UpOptions {
  seed?: number;
  apiPort: number;
  apiAddress: string;
  insecureHttp?: boolean;
  token?: string;
  kubeconfig?: string;
  overwriteKubeconfig?: boolean;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be a port number between 0 and 65535');
  return n;
}

/** The marker on the first line of a kubeconfig podnet wrote, so podnet may replace it later. */
const KUBECONFIG_MARKER = '# Written by podnet up';

function writePodnetKubeconfig(path: string, clusterName: string, address: ApiServerAddress, opts: UpOptions): void {
  let ours = false;
  try {
    ours = readFileSync(path, 'utf8').startsWith(KUBECONFIG_MARKER);
  } catch {
    ours = false;
  }
  const config = buildKubeconfig({
    name: `podnet-${clusterName}`,
    server: address.url,
    ...(address.caPem ? { caPem: address.caPem } : {}),
    // kubectl prompts for a username when a user entry has no credentials at all; a server
    // started without --token accepts any token, so one is always written.
    token: opts.token ?? randomBytes(16).toString('hex'),
  });
  writeKubeconfig(path, config, { overwrite: ours || !!opts.overwriteKubeconfig, header: `${KUBECONFIG_MARKER} for cluster "${clusterName}" at ${address.url}` });
}

/** Where `get` reads objects from: a one-shot cluster or a running podnet. */
interface ObjectSource {
  namespace: string;
  get(info: KindInfo, namespace: string | undefined, name: string): Promise<KubeObject>;
  list(info: KindInfo, namespace: string | undefined, options: { labelSelector?: string; fieldSelector?: string }): Promise<KubeObject[]>;
  /** A node's routes, neigh, fdb or conntrack table as text. */
  nodeTable(node: string, table: NodeTable): Promise<string>;
  /** `podnet trace`'s text. */
  trace(from: string, to: string, port: number, protocol: 'TCP' | 'UDP' | 'SCTP'): Promise<string>;
  close(): Promise<void>;
}



async function oneShot(opts: GetOptions): Promise<ObjectSource> {
  const cluster = await Cluster.fromTopology(loadTopologyFiles(opts.filename!), opts.seed === undefined ? {} : { seed: opts.seed });
  return {
    namespace: 'default',
    async get(info, namespace, name) {
      const obj = cluster.get(info, name, namespace);
      if (!obj) throw new PodnetError('PODNET_NOT_FOUND', `${info.group ? `${info.resource}.${info.group}` : info.resource} "${name}" not found`);
      return obj;
    },
    async list(info, namespace, options) {
      return cluster.list(info, { ...(namespace ? { namespace } : {}), ...options });
    },
    nodeTable: async (node, table) => cluster.nodeTable(node, table),
    trace: async (from, to, port, protocol) => cluster.trace(from, to, port, protocol).text,
    close: () => cluster.stop(),
  };
}

function remote(opts: GetOptions, env?: NodeJS.ProcessEnv): ObjectSource {
  const config = remoteConfig(opts, env);
  const client = new RestClient(config);
  return {
    namespace: config.namespace || 'default',
    get: (info, namespace, name) => client.get(info, namespace, name),
    list: (info, namespace, options) => client.list(info, namespace, options),
    // podnet's own endpoint on the API server (lib/apiserver/server/podnet.ts).
    nodeTable: async (node, table) => (await podnetGet<{ text: string }>(client, `/nodes/${encodeURIComponent(node)}/${table}`)).text,
    trace: async (from, to, port, protocol) => (await podnetGet<{ text: string }>(client, `/trace?${new URLSearchParams({ from, to, port: String(port), protocol })}`)).text,
    close: async () => {},
  };
}

interface GetOptions extends RemoteOptions {
  namespace?: string;
  node?: string;
  allNamespaces?: boolean;
  output?: OutputFormat;
  selector?: string;
  fieldSelector?: string;
  showLabels?: boolean;
  headers?: boolean;
  filename?: string[];
  seed?: number;
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    // Signal listeners do not keep the event loop alive; a cluster with no sockets open would
    // otherwise let the process end on its own.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const onSignal = (signal: NodeJS.Signals) => {
      clearInterval(keepAlive);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
