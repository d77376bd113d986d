/**
 * The `podnet` command: a thin layer over the library API (lib/index.ts).
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or validation error.
 */

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { PodnetError, AggregateApplyError } from '../core/errors.js';
import { Cluster } from '../cluster.js';
import { loadTopologyFiles } from '../topology/load.js';
import { readManifestFile, type SourcedObject } from '../topology/manifests.js';
import { splitTopology } from '../topology/load.js';
import { formatObjects, OUTPUT_FORMATS, type OutputFormat } from './output.js';
import { renderSummary } from './summary.js';

/** Exit codes of the `podnet` command. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Error codes that mean the user's input was wrong (exit 2) rather than a runtime failure. */
const INPUT_ERRORS = new Set([
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

/** Where the CLI writes; injectable for tests. */
export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
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
    .description('start a cluster from topology files and run until interrupted (Ctrl-C)')
    .argument('<file...>', 'topology and manifest files (YAML or JSON)')
    .option('--seed <n>', 'seed for allocation order, generated names and every random choice', parseSeed)
    .action(async (files: string[], opts: { seed?: number }) => {
      const started = Date.now();
      const cluster = await Cluster.fromFiles(files, opts.seed === undefined ? {} : { seed: opts.seed });
      io.stdout(renderSummary(cluster, Date.now() - started));
      io.stdout('\npodnet is running. Press Ctrl-C to stop.\n');
      await waitForSignal();
      await cluster.stop();
      io.stdout('podnet stopped.\n');
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

  program
    .command('get')
    .description('print objects of a kind after the controllers have converged, as kubectl get does')
    .argument('<kind>', 'resource type: pods, svc, deploy, endpointslices, nodes, ...')
    .argument('[name]', 'object name')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-A, --all-namespaces', 'list across all namespaces')
    .addOption(new Option('-o, --output <format>', 'output format').choices([...OUTPUT_FORMATS]))
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
    .option('--field-selector <selector>', 'field selector, e.g. spec.nodeName=worker')
    .option('--show-labels', 'show labels as the last column')
    .option('--no-headers', 'omit the header row')
    .option('-f, --filename <file>', 'topology/manifest file to run one-shot (repeatable)', collect)
    .option('--seed <n>', 'seed for allocation order and generated names', parseSeed)
    .action(async (kind: string, name: string | undefined, opts: GetOptions) => {
      if (!opts.filename?.length) {
        throw usage('no cluster to ask: pass -f FILE to run a topology one-shot');
      }
      const cluster = await Cluster.fromTopology(loadTopologyFiles(opts.filename), opts.seed === undefined ? {} : { seed: opts.seed });
      try {
        const info = cluster.resolveKind(kind);
        const namespace = info.namespaced && !opts.allNamespaces ? opts.namespace : undefined;
        let objects;
        if (name) {
          const obj = cluster.get(info, name, namespace);
          if (!obj) {
            throw new PodnetError('PODNET_NOT_FOUND', `${info.group ? `${info.resource}.${info.group}` : info.resource} "${name}" not found`);
          }
          objects = [obj];
        } else {
          const listOptions: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {};
          if (namespace) listOptions.namespace = namespace;
          if (opts.selector) listOptions.labelSelector = opts.selector;
          if (opts.fieldSelector) listOptions.fieldSelector = opts.fieldSelector;
          objects = cluster.list(info, listOptions);
        }
        if (!objects.length && !opts.output) {
          io.stderr(namespace ? `No resources found in ${namespace} namespace.\n` : 'No resources found\n');
        } else {
          io.stdout(
            formatObjects(info, objects, opts.output, {
              now: cluster.clock.now(),
              single: !!name,
              allNamespaces: !!opts.allNamespaces,
              showLabels: !!opts.showLabels,
              noHeaders: opts.headers === false,
            }),
          );
        }
      } finally {
        await cluster.stop();
      }
    });

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

interface GetOptions {
  namespace: string;
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
