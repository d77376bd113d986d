/**
 * The contract between a pod sandbox and the built-in images that run in it.
 *
 * A built-in image is an in-process implementation of a real container image (agnhost, an echo
 * server, nginx, ...). It never opens sockets itself: the sandbox hands it a
 * {@link ContainerContext} whose `listen*` calls bind real sockets on the sandbox's loopback
 * address (through the one loopback guard), and whose `dial` sends a connection through the
 * emulated data plane, so every byte it serves or sends is real and every decision is traced.
 */

import type { Socket } from 'node:net';
import type { SctpAssociation } from '../dataplane/sctp.js';

/** A datagram received by a UDP listener, and the way to answer it. */
export interface UdpMessage {
  data: Buffer;
  /** The sender's virtual address (what the pod would see), e.g. 10.244.1.5. */
  remoteAddress: string;
  remotePort: number;
  reply(data: Buffer | string): void;
}

/** A TCP connection accepted by a listener, with the peer as the pod sees it. */
export interface AcceptedConnection {
  socket: Socket;
  /** The client's virtual address after NAT (what `/clientip` reports). */
  remoteAddress: string;
  remotePort: number;
}

/** A connection opened through the data plane. */
export interface DialedConnection {
  socket: Socket;
}

/** What a container of a built-in image can do. */
export interface ContainerContext {
  /** The pod's name, namespace and hostname (as `hostname` in the pod prints it). */
  readonly podName: string;
  readonly namespace: string;
  readonly hostname: string;
  /** The pod's IPs (virtual), primary first. */
  readonly podIPs: readonly string[];
  /** The container's name, arguments (command + args as the kubelet runs them) and environment. */
  readonly containerName: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Listens on a container port (TCP); resolves once the real socket is bound. */
  listenTcp(port: number, onConnection: (conn: AcceptedConnection) => void): Promise<void>;
  /** Listens on a container port (UDP). */
  listenUdp(port: number, onMessage: (msg: UdpMessage) => void): Promise<void>;
  /** Opens a TCP connection from this pod to a virtual address, through the data plane. */
  dialTcp(host: string, port: number, options?: { timeoutMs?: number }): Promise<DialedConnection>;
  /**
   * Listens on a container port (SCTP); each association the pod accepts is handed over whole
   * (message boundaries kept; carried over a real TCP connection, see lib/dataplane/sctp.ts).
   * Absent in a context that cannot carry SCTP: an image then fails as it would on a node
   * without the kernel's sctp module (`protocol not supported`).
   */
  listenSctp?(port: number, onAssociation: (association: SctpAssociation) => void): Promise<void>;
  /** Opens an SCTP association from this pod to a virtual address, through the data plane. Absent as {@link listenSctp} is. */
  dialSctp?(host: string, port: number, options?: { timeoutMs?: number }): Promise<SctpAssociation>;
  /** Sends one UDP request from this pod and waits for one answer, through the data plane. */
  exchangeUdp(host: string, port: number, data: Buffer | string, options?: { timeoutMs?: number }): Promise<Buffer>;
  /** Ends the container with an exit code (as agnhost netexec's /exit does). */
  exit(code: number): void;
  /** Writes to the container's log. */
  log(line: string): void;
}

/** A running container of a built-in image. */
export interface RunningContainer {
  /**
   * Stops listening and closes every connection (SIGTERM); may take its time, as a real program
   * may. Resolves with the program's exit code when it knows it (a program that handles SIGTERM
   * and exits 0); otherwise the runtime reports 143, death by SIGTERM.
   */
  stop(): Promise<void | number>;
  /** Ends the program at once (SIGKILL, after the grace period); without it the runtime only closes its sockets. */
  kill?(): void;
  /** Runs a built-in command inside the container (`exec` probes, `podnet exec`). */
  exec?(argv: readonly string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

/** A built-in image implementation. */
export interface BuiltinImage {
  /** Short name, e.g. `agnhost`. */
  readonly name: string;
  /** Whether the image name (with registry and tag) is this image. */
  matches(image: string): boolean;
  /** Starts a container; rejects when the arguments are not ones the real image accepts. */
  start(ctx: ContainerContext): Promise<RunningContainer>;
}
