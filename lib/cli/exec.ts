/**
 * `podnet exec [-n NS] POD [-c CONTAINER] [-f FILE...] -- COMMAND...`: runs a client tool inside a
 * pod's sandbox (lib/exec), as `kubectl exec` does.
 *
 * With `-f` it brings the topology up one-shot, waits for the controllers to settle, runs the
 * command, prints its stdout and stderr as they are, stops the cluster and exits with the
 * command's exit code. Without `-f` it finds a running podnet the way `podnet get` does
 * (`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`; `--server`, `--token`, `--context`) and runs the
 * command through the API server's `pods/exec` WebSocket (lib/exec/remote.ts).
 *
 * kubectl's conventions are kept: without `-c` the `kubectl.kubernetes.io/default-container`
 * annotation's container or the first (with `Defaulted container ...` on stderr when there were
 * several); a non-zero exit adds `command terminated with exit code N` on stderr; a command that
 * cannot start prints `error: ...` and exits 1.
 */

import type { Command } from 'commander';
import { Cluster } from '../cluster.js';
import { PodnetError } from '../core/errors.js';
import { loadTopologyFiles } from '../topology/load.js';
import { RestClient } from '../client/rest.js';
import { requireKind } from '../api/scheme.js';
import type { Pod } from '../api/types.js';
import { remoteExec } from '../exec/remote.js';
import { selectContainer } from '../exec/target.js';
import type { ExecHandler, ContainerRunning } from '../apiserver/server/exec.js';
import { remoteConfig, withRemoteOptions, type RemoteOptions } from './remote.js';

/** Where the CLI writes. */
export interface ExecIO {
  stdout: (s: string | Buffer) => void;
  stderr: (s: string | Buffer) => void;
  /** Reads all of the CLI's stdin (for `-i`). */
  readStdin?: () => Promise<Buffer>;
}

interface ExecOptions extends RemoteOptions {
  namespace?: string;
  container?: string;
  filename?: string[];
  seed?: number;
  stdin?: boolean;
}

/** What `podnet up` hands its API server so `pods/exec` reaches the cluster's sandboxes. */
export function execEndpointOptions(cluster: Cluster): { exec: ExecHandler; execRunning: ContainerRunning } {
  return {
    exec: async (namespace, pod, container, argv, stdin) => cluster.exec(namespace, pod, { container, argv, stdin }),
    execRunning: (namespace, pod, container) => {
      const object = cluster.get('pods', pod, namespace) as Pod | undefined;
      const node = object?.spec.nodeName;
      return !!node && !!cluster.kubelet(node)?.sandbox(`${namespace}/${pod}`)?.isRunning(container);
    },
  };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Registers `exec` on the program; `setExitCode` receives the command's exit code. */
export function registerExec(program: Command, io: ExecIO, setExitCode: (code: number) => void, parseSeed: (v: string) => number): void {
  const cmd = program
    .command('exec')
    .description('run a command (curl, wget, nc, nslookup, dig, ...) inside a pod\'s sandbox, as kubectl exec does')
    .usage('[-n NS] POD [-c CONTAINER] [-f FILE...] -- COMMAND [ARGS...]')
    .argument('<pod>', 'the pod')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-n, --namespace <ns>', 'namespace (default: the context\'s, or "default")')
    .option('-c, --container <name>', 'container (default: the kubectl.kubernetes.io/default-container annotation, else the first)')
    .option('-i, --stdin', 'pass stdin to the command')
    .option('-f, --filename <file>', 'topology/manifest file to run one-shot (repeatable); without it, use a running podnet', collect)
    .option('--seed <n>', 'seed for allocation order and generated names (with -f)', parseSeed);
  withRemoteOptions(cmd).action(async (pod: string, argv: string[], opts: ExecOptions) => {
      const stdin = opts.stdin ? await (io.readStdin ?? readProcessStdin)() : undefined;
      const code = opts.filename?.length ? await oneShot(pod, argv, opts, io, stdin) : await remote(pod, argv, opts, io, stdin);
      if (code !== 0) io.stderr(`command terminated with exit code ${code}\n`);
      setExitCode(code);
    });
}

async function oneShot(pod: string, argv: string[], opts: ExecOptions, io: ExecIO, stdin: Buffer | undefined): Promise<number> {
  const cluster = await Cluster.fromTopology(loadTopologyFiles(opts.filename!), opts.seed === undefined ? {} : { seed: opts.seed });
  try {
    await cluster.settle();
    const r = await cluster.exec(opts.namespace ?? 'default', pod, { ...(opts.container ? { container: opts.container } : {}), argv, ...(stdin ? { stdin } : {}) });
    if (r.notice) io.stderr(`${r.notice}\n`);
    if (r.stdout.length) io.stdout(r.stdout);
    if (r.stderr.length) io.stderr(r.stderr);
    return r.exitCode;
  } finally {
    await cluster.stop();
  }
}

async function remote(pod: string, argv: string[], opts: ExecOptions, io: ExecIO, stdin: Buffer | undefined): Promise<number> {
  const config = remoteConfig(opts);
  const namespace = opts.namespace ?? (config.namespace || 'default');
  const object = (await new RestClient(config).get(requireKind('v1', 'Pod'), namespace, pod)) as Pod;
  const target = selectContainer(object, opts.container, 'kubectl');
  if (target.notice) io.stderr(`${target.notice}\n`);
  try {
    const { exitCode } = await remoteExec(config, namespace, pod, { container: target.container, argv, stdin, onStdout: (d) => io.stdout(d), onStderr: (d) => io.stderr(d) });
    return exitCode;
  } catch (e) {
    if (e instanceof PodnetError) throw e;
    throw new PodnetError('PODNET_EXEC_FAILED', (e as Error).message);
  }
}

function readProcessStdin(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
}

/**
 * The exec verb's output: the process's own streams get the command's bytes as they are; an
 * injected text IO (tests) gets them decoded.
 */
export function execIO(io: { stdout: (s: string) => void; stderr: (s: string) => void }, raw: boolean): ExecIO {
  if (raw) return { stdout: (s) => void process.stdout.write(s), stderr: (s) => void process.stderr.write(s) };
  return { stdout: (s) => io.stdout(s.toString()), stderr: (s) => io.stderr(s.toString()) };
}
