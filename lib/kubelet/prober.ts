/**
 * The kubelet's prober: liveness, readiness and startup probes (pkg/kubelet/prober).
 *
 * Each probe of each container has a {@link ProbeWorker} that runs it every `periodSeconds`,
 * starting after `initialDelaySeconds`, and turns results into a verdict once `successThreshold`
 * successes or `failureThreshold` failures in a row are seen. Initial verdicts are the kubelet's:
 * readiness starts as failure (a container is not ready until its probe says so), liveness as
 * success, startup as unknown — liveness and readiness wait until startup has succeeded.
 *
 * Probes are made the way the kubelet makes them, from the node (the host network namespace):
 * - `httpGet`: an HTTP/1.1 GET through the data plane from the node to the pod IP (or `host`),
 *   with `User-Agent: kube-probe/<major.minor>` and an `Accept` of any type; 200 ≤ status < 400 succeeds;
 *   redirects on the same host are followed, a redirect elsewhere counts as success; HTTPS skips
 *   certificate checks. Failures read as the kubelet's: `HTTP probe failed with statuscode: 500`,
 *   `Get "http://10.244.1.4:8080/healthz": dial tcp 10.244.1.4:8080: connect: connection refused`.
 * - `tcpSocket`: a TCP connect through the data plane; success when it is established.
 * - `exec`: a built-in command run in the container; exit 0 succeeds.
 * - `grpc`: not emulated: reported once as a Warning event and counted as success.
 *
 * Every run is timed out after `timeoutSeconds` (default 1).
 */

import http from 'node:http';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Container, Probe } from '../api/types.js';
import type { Dataplane } from '../dataplane/dataplane.js';

/** The three kinds of probe. */
export type ProbeKind = 'liveness' | 'readiness' | 'startup';

/** One probe run's outcome, with the message the kubelet's event would carry. */
export interface ProbeOutcome {
  ok: boolean;
  output: string;
}

/** What running a probe needs: where the pod is and how to run a command in the container. */
export interface ProbeTarget {
  dataplane: Dataplane;
  node: string;
  podIP: string;
  container: Container;
  exec(argv: readonly string[], timeoutMs: number): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** The Kubernetes version the cluster reports (for the User-Agent). */
  version: string;
}

/** The kubelet's probe defaults (core/v1 defaults). */
export function probeSettings(probe: Probe): { initialDelayMs: number; periodMs: number; timeoutMs: number; successThreshold: number; failureThreshold: number } {
  return {
    initialDelayMs: (probe.initialDelaySeconds ?? 0) * 1000,
    periodMs: (probe.periodSeconds || 10) * 1000,
    timeoutMs: (probe.timeoutSeconds || 1) * 1000,
    successThreshold: probe.successThreshold || 1,
    failureThreshold: probe.failureThreshold || 3,
  };
}

/** A probe's port: a number, or the name of one of the container's ports. */
function resolvePort(port: number | string, container: Container): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** `host:port` as Go's net.JoinHostPort writes it. */
function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The message Go's dialer gives for a failed connect, from the data plane's errno. */
function dialError(err: unknown, host: string, port: number, timedOut: boolean): string {
  const code = (err as { errno?: string; code?: string }).errno ?? (err as { code?: string }).code;
  const addr = joinHostPort(host, port);
  if (timedOut || code === 'ETIMEDOUT') return `dial tcp ${addr}: i/o timeout`;
  if (code === 'EHOSTUNREACH') return `dial tcp ${addr}: connect: no route to host`;
  if (code === 'ECONNREFUSED') return `dial tcp ${addr}: connect: connection refused`;
  return `dial tcp ${addr}: ${(err as Error).message}`;
}

/** Runs `fn` with a deadline; resolves `onTimeout()` when it passes first. */
function withDeadline<T>(clock: Clock, ms: number, fn: (signal: { expired: boolean }) => Promise<T>, onTimeout: () => T): Promise<T> {
  const signal = { expired: false };
  return new Promise<T>((resolve) => {
    const timer = clock.setTimeout(() => {
      signal.expired = true;
      resolve(onTimeout());
    }, ms);
    fn(signal).then(
      (v) => {
        timer.cancel();
        if (!signal.expired) resolve(v);
      },
      () => {
        timer.cancel();
        if (!signal.expired) resolve(onTimeout());
      },
    );
  });
}

/** One HTTP GET over a socket the data plane opened; resolves with the status and Location. */
function httpGet(socket: Socket, options: { scheme: string; host: string; port: number; path: string; headers: Record<string, string> }): Promise<{ status: number; location: string | undefined }> {
  const stream = options.scheme === 'HTTPS' ? tls.connect({ socket, rejectUnauthorized: false, servername: /^[\d.]+$|:/.test(options.host) ? undefined : options.host }) : socket;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { method: 'GET', path: options.path, headers: options.headers, createConnection: () => stream },
      (res) => {
        let read = 0;
        // The kubelet reads at most 10 KiB of the body.
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > 10 * 1024) res.destroy();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
        res.on('close', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Runs one probe once. */
export async function runProbe(probe: Probe, target: ProbeTarget, clock: Clock): Promise<ProbeOutcome> {
  const { timeoutMs } = probeSettings(probe);
  const origin = { kind: 'host' as const, node: target.node };
  if (probe.exec) {
    const argv = probe.exec.command ?? [];
    return withDeadline(
      clock,
      timeoutMs,
      async () => {
        const r = await target.exec(argv, timeoutMs);
        const output = `${r.stdout}${r.stderr}`;
        return { ok: r.exitCode === 0, output: r.exitCode === 0 ? output : output || `command ${JSON.stringify(argv.join(' '))} exited with ${r.exitCode}` };
      },
      () => ({ ok: false, output: `command ${JSON.stringify(argv.join(' '))} timed out` }),
    );
  }
  if (probe.tcpSocket) {
    const host = probe.tcpSocket.host || target.podIP;
    const port = resolvePort(probe.tcpSocket.port, target.container);
    if (port === undefined) return { ok: false, output: `couldn't find port: ${probe.tcpSocket.port} in ${target.container.name}` };
    let socket: Socket | undefined;
    const outcome = await withDeadline(
      clock,
      timeoutMs,
      async (signal) => {
        try {
          socket = (await target.dataplane.dialTcp(origin, host, port, { timeoutMs })).socket;
          return { ok: true, output: '' };
        } catch (err) {
          return { ok: false, output: dialError(err, host, port, signal.expired) };
        }
      },
      () => ({ ok: false, output: dialError(undefined, host, port, true) }),
    );
    (socket as Socket | undefined)?.destroy();
    return outcome;
  }
  if (probe.httpGet) {
    const g = probe.httpGet;
    const scheme = (g.scheme ?? 'HTTP').toUpperCase();
    let host = g.host || target.podIP;
    const port = resolvePort(g.port, target.container);
    if (port === undefined) return { ok: false, output: `couldn't find port: ${g.port} in ${target.container.name}` };
    let path = g.path || '/';
    if (!path.startsWith('/')) path = `/${path}`;
    const headers: Record<string, string> = { 'User-Agent': `kube-probe/${target.version}`, Accept: '*/*', Connection: 'close' };
    for (const h of g.httpHeaders ?? []) {
      for (const k of Object.keys(headers)) if (k.toLowerCase() === h.name.toLowerCase()) delete headers[k];
      headers[h.name] = h.value;
    }
    const url = () => `${scheme.toLowerCase()}://${joinHostPort(host, port)}${path}`;
    return withDeadline(
      clock,
      timeoutMs,
      async () => {
        for (let hops = 0; ; hops++) {
          let socket: Socket;
          try {
            socket = (await target.dataplane.dialTcp(origin, host, port, { timeoutMs })).socket;
          } catch (err) {
            return { ok: false, output: `Get "${url()}": ${dialError(err, host, port, false)}` };
          }
          const hostHeader = (scheme === 'HTTP' && port === 80) || (scheme === 'HTTPS' && port === 443) ? host : joinHostPort(host, port);
          let res;
          try {
            res = await httpGet(socket, { scheme, host, port, path, headers: { Host: hostHeader, ...headers } });
          } catch (err) {
            socket.destroy();
            return { ok: false, output: `Get "${url()}": ${(err as Error).message}` };
          }
          socket.destroy();
          if (res.status >= 300 && res.status < 400 && res.location && hops < 10) {
            const next = new URL(res.location, url());
            if (next.hostname.replace(/^\[|\]$/g, '') === host && Number(next.port || (next.protocol === 'https:' ? 443 : 80)) === port) {
              path = `${next.pathname}${next.search}`;
              host = next.hostname.replace(/^\[|\]$/g, '');
              continue;
            }
            // A redirect to another host is not followed: the 3xx itself counts as success.
            return { ok: true, output: 'Probe terminated redirects' };
          }
          if (res.status >= 200 && res.status < 400) return { ok: true, output: '' };
          return { ok: false, output: `HTTP probe failed with statuscode: ${res.status}` };
        }
      },
      () => ({ ok: false, output: `Get "${url()}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` }),
    );
  }
  return { ok: true, output: 'grpc probes are not emulated by podnet' };
}

/** Runs one probe of one container on its schedule and reports verdict changes. */
export class ProbeWorker {
  readonly kind: ProbeKind;
  readonly probe: Probe;
  #verdict: boolean | undefined;
  #successes = 0;
  #failures = 0;
  #timer: TimerHandle | undefined;
  #stopped = false;
  readonly #clock: Clock;
  readonly #run: () => Promise<ProbeOutcome>;
  readonly #onVerdict: (ok: boolean, output: string) => void;
  readonly #onFailedRun: ((output: string) => void) | undefined;
  readonly #track: (work: Promise<void>) => void;

  constructor(options: {
    kind: ProbeKind;
    probe: Probe;
    clock: Clock;
    run: () => Promise<ProbeOutcome>;
    /** Called when the verdict changes. */
    onVerdict: (ok: boolean, output: string) => void;
    /** Called with each failed run's output (the kubelet's `Unhealthy` event). */
    onFailedRun?: (output: string) => void;
    track: (work: Promise<void>) => void;
  }) {
    this.kind = options.kind;
    this.probe = options.probe;
    this.#clock = options.clock;
    this.#run = options.run;
    this.#onVerdict = options.onVerdict;
    this.#onFailedRun = options.onFailedRun;
    this.#track = options.track;
    this.#verdict = options.kind === 'readiness' ? false : options.kind === 'liveness' ? true : undefined;
  }

  /** The current verdict: true (success), false (failure), undefined (unknown). */
  get verdict(): boolean | undefined {
    return this.#verdict;
  }

  /** Starts probing after `initialDelaySeconds`. */
  start(): void {
    const delay = probeSettings(this.probe).initialDelayMs;
    // Without an initial delay the first run starts now (and the cluster waits for it to settle).
    if (delay === 0) this.#track(this.#tick());
    else this.#schedule(delay);
  }

  /** Stops probing (the container stopped, or the probe is done). */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => this.#track(this.#tick()), ms);
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const settings = probeSettings(this.probe);
    const outcome = await this.#run();
    if (this.#stopped) return;
    if (outcome.ok) {
      this.#failures = 0;
      this.#successes++;
      if (this.#verdict !== true && this.#successes >= settings.successThreshold) this.#set(true, outcome.output);
    } else {
      this.#successes = 0;
      this.#failures++;
      this.#onFailedRun?.(outcome.output);
      if (this.#verdict !== false && this.#failures >= settings.failureThreshold) this.#set(false, outcome.output);
    }
    // A succeeded startup probe is done for this run of the container.
    if (this.kind === 'startup' && this.#verdict === true) return;
    this.#schedule(settings.periodMs);
  }

  #set(ok: boolean, output: string): void {
    this.#verdict = ok;
    this.#onVerdict(ok, output);
  }
}
