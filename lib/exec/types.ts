/**
 * What a command run by `podnet exec` / `kubectl exec` gets and gives back.
 *
 * A process started in a container by the runtime (CRI `Exec`) sees the container's network
 * namespace — here the {@link ContainerContext}, whose `dialTcp`/`exchangeUdp` go through the
 * data plane from the pod — and the files the kubelet mounts into every container:
 * `/etc/resolv.conf` and `/etc/hosts`. It reads its stdin and ends with an exit code, having
 * written to stdout and stderr.
 */

import type { ContainerContext } from '../images/types.js';
import { PodnetError } from '../core/errors.js';

/** The environment of one exec'd process. */
export interface ExecContext {
  /** The container's network view (dial through the data plane) and identity. */
  readonly container: ContainerContext;
  /** The pod's /etc/resolv.conf as the kubelet wrote it. */
  readonly resolvConf: string;
  /** The pod's /etc/hosts as the kubelet wrote it. */
  readonly hosts: string;
  /** What the process reads on stdin (empty when the exec has no stdin). */
  readonly stdin: Buffer;
  /** The image's toolbox: which programs exist and which flavour each is. */
  readonly toolbox: Toolbox;
}

/** How a process ended. */
export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** A program: its arguments (without argv[0]) → its result. */
export type Program = (ctx: ExecContext, args: readonly string[], argv0: string) => Promise<ExecResult>;

/** Which C library's resolver rules a program follows for search lists and ndots. */
export type ResolverFlavor = 'musl' | 'glibc' | 'go';

/** Which implementation a tool name is in an image. */
export interface Toolbox {
  /** The image's short name, for messages (busybox, curl, netshoot, ...). */
  readonly image: string;
  /** Programs by base name (`curl`, `nc`, `nslookup`, ...), each with the implementation it is. */
  readonly programs: ReadonlyMap<string, string>;
  /** The resolver the image's libc implements. */
  readonly resolver: ResolverFlavor;
}

/** Collects a program's output. */
export class Output {
  readonly #out: Buffer[] = [];
  readonly #err: Buffer[] = [];

  out(text: string | Buffer): void {
    this.#out.push(typeof text === 'string' ? Buffer.from(text) : text);
  }

  err(text: string | Buffer): void {
    this.#err.push(typeof text === 'string' ? Buffer.from(text) : text);
  }

  /** The result with `exitCode`. */
  exit(exitCode: number): ExecResult {
    return { exitCode, stdout: Buffer.concat(this.#out), stderr: Buffer.concat(this.#err) };
  }
}

/** A result with only text. */
export function result(exitCode: number, stdout = '', stderr = ''): ExecResult {
  return { exitCode, stdout: Buffer.from(stdout), stderr: Buffer.from(stderr) };
}

/**
 * The exec could not start a process (no such program in the image, the container is not
 * running): the runtime's error, which the API server reports as an InternalError / BadRequest
 * Status and kubectl prints as `error: ...` with exit code 1.
 */
export class ExecStartError extends PodnetError {
  /** The HTTP status the API server answers with. */
  readonly httpCode: number;
  /** The Status reason. */
  readonly reason: string;
  constructor(code: string, message: string, httpCode: number, reason: string) {
    super(code, message);
    this.httpCode = httpCode;
    this.reason = reason;
  }
}

/**
 * containerd's answer (through the kubelet and the API server) to exec'ing a program the image
 * does not have: `kubectl exec` prints it after `error: ` and exits 1.
 */
export function executableNotFound(argv0: string, execId: string): ExecStartError {
  return new ExecStartError(
    'PODNET_EXEC_NOT_FOUND',
    `Internal error occurred: error executing command in container: failed to exec in container: failed to start exec ${JSON.stringify(execId)}: ` +
      `OCI runtime exec failed: exec failed: unable to start container process: exec: ${JSON.stringify(argv0)}: executable file not found in $PATH: unknown`,
    500,
    'InternalError',
  );
}
