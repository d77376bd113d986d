/**
 * Containers that run as real local processes.
 *
 * A pod marks containers with the annotation `podnet.dev/local-process: "name[,name]"`; for each,
 * the runtime starts the container's `command` + `args` as a child process (no shell, as a
 * container runtime does) instead of a built-in image. The process cannot be put in a network
 * namespace, so podnet tells it where the pod lives through its environment, next to the
 * container's own `env`:
 *
 * | variable                         | value                                                      |
 * |----------------------------------|------------------------------------------------------------|
 * | `PODNET_POD_IP`, `PODNET_POD_IPS`| the pod's virtual IP(s)                                    |
 * | `PODNET_BIND_ADDRESS`            | the sandbox's loopback address: bind here                  |
 * | `PODNET_PORT_<port>_<PROTO>`     | the real port that stands for container port `<port>`      |
 * | `HOSTNAME`                       | the pod's hostname                                         |
 *
 * Every declared container port is mapped before the process starts, so flows to the pod reach
 * `PODNET_BIND_ADDRESS:PODNET_PORT_<port>_<PROTO>` once the process listens there (before that,
 * the kernel refuses them, as it would refuse a container that has not bound yet). What the
 * process binds or connects is its own business: podnet's loopback guard covers podnet's sockets,
 * not a child's.
 *
 * Lifecycle as a container runtime reports it: a command that cannot be started ends the
 * container with exit code 128 (`StartError`); SIGTERM on stop, SIGKILL at the end of the grace
 * period; an exit by itself is reported with its code (128 + signal number when killed by one).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Container } from '../api/types.js';
import type { PortMapper, PortProtocol } from '../dataplane/addressing.js';
import type { ContainerContext, RunningContainer } from '../images/types.js';

/** A container that could not be started: the runtime's message and exit code. */
export class StartError extends Error {
  readonly exitCode = 128;
  readonly reason = 'StartError';
}

/** What {@link startLocalProcess} needs from the sandbox. */
export interface LocalProcessOptions {
  ctx: ContainerContext;
  container: Container;
  loopback: string;
  ports: PortMapper;
  /** Records that container port `port` is served on real port `real`. */
  listening(port: number, protocol: 'TCP' | 'UDP', real: number): void;
}

/** The exit code of a child that ended with `code` or by `signal`. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? (constants.signals as Record<string, number>)[signal] : undefined;
  return 128 + (n ?? 0);
}

/** Starts the container's command as a local process (see the module comment). */
export async function startLocalProcess(options: LocalProcessOptions): Promise<RunningContainer> {
  const { ctx, container } = options;
  const argv = [...(container.command ?? []), ...(container.args ?? [])];
  if (argv.length === 0) {
    throw new StartError(`failed to start container "${container.name}": podnet runs a local process from the container's command and args, and this container has none`);
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOSTNAME: ctx.hostname,
    PODNET_POD_IP: ctx.podIPs[0] ?? '',
    PODNET_POD_IPS: ctx.podIPs.join(','),
    PODNET_BIND_ADDRESS: options.loopback,
  };
  for (const p of container.ports ?? []) {
    const protocol = (p.protocol ?? 'TCP') as PortProtocol;
    if (protocol !== 'TCP' && protocol !== 'UDP') continue;
    const real = await options.ports.map(p.containerPort, protocol, container.name);
    options.listening(p.containerPort, protocol, real);
    env[`PODNET_PORT_${p.containerPort}_${protocol}`] = String(real);
  }
  Object.assign(env, ctx.env);

  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? `exec: "${argv[0]}": executable file not found in $PATH` : `exec: "${argv[0]}": ${err.message}`;
      reject(new StartError(`failed to start container "${container.name}": ${why}`));
    });
  });
  child.on('error', () => {});
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const line of lines) ctx.log(line);
    });
    stream?.on('end', () => rest && ctx.log(rest));
  }

  let stopping = false;
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(exitCodeOf(code, signal));
      if (!stopping) ctx.exit(exitCodeOf(code, signal));
    });
  });
  return {
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
