/**
 * The kubelet's pod worker: runs one pod's containers through their lifecycle on a running
 * sandbox (pkg/kubelet/pod_workers.go and kuberuntime_manager.go, as far as the network sees).
 *
 * - Init containers run one at a time, each to completion, before the others start; a failed
 *   one is restarted (unless restartPolicy is Never, which fails the pod).
 * - Containers start in order; each gets its startup, liveness and readiness probes
 *   ({@link ProbeWorker}). A container is ready when it runs, has started and its readiness probe
 *   (if any) succeeds — readiness feeds the pod's Ready condition and so the EndpointSlices.
 * - A container that exits, or that fails its liveness or startup probe (killed: SIGTERM, then
 *   SIGKILL after the grace period), is restarted under the pod's restartPolicy with the
 *   kubelet's back-off: the first restart at once, then 10s, 20s, 40s … capped at 5 minutes,
 *   forgotten after 10 minutes without a crash (CrashLoopBackOff while it waits).
 * - Graceful termination: preStop hooks (exec, httpGet, sleep), then SIGTERM to every container,
 *   SIGKILL when the grace period runs out. Readiness probes keep running meanwhile, so a
 *   terminating endpoint still reports whether it is serving.
 *
 * Times come from the cluster clock; probe runs and restarts are tracked as async work so
 * `Cluster.settle()` waits for them.
 */

import type { Clock, TimerHandle } from '../core/clock.js';
import { rfc3339 } from '../core/clock.js';
import { WellKnown, type Container, type Pod, type PodStatus, type Probe } from '../api/types.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import { ProbeWorker, runProbe, type ProbeKind, type ProbeTarget } from './prober.js';
import type { PodSandbox } from './sandbox.js';
import { containerId, containerStatus, newRecord, podConditions, podPhase, restarts, type ContainerRecord, type TerminatedRun } from './status.js';

/** The kubelet's container restart back-off (MaxContainerBackOff and its initial step). */
export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;

/** What a pod worker needs from its kubelet. */
export interface PodWorkerHost {
  clock: Clock;
  node: string;
  /** The Kubernetes version (major.minor) probes announce. */
  version: string;
  dataplane: Dataplane | undefined;
  /** Whether a pod that arrives running keeps its given container states (a snapshot import). */
  adopt: boolean;
  /** Records an event on the pod. */
  event(type: 'Normal' | 'Warning', reason: string, message: string): void;
  /** The worker's view changed: write the pod status. */
  changed(): void;
  /** Tracks async work (probe runs, restarts) so the cluster can wait for it to settle. */
  track(work: Promise<unknown>): void;
}

/**
 * Work to wait for only if it ends in this turn of the event loop: stopping a container may last
 * its whole grace period (a program that drains), and the cluster must not wait for that to settle.
 */
export function brief(work: Promise<unknown>): Promise<unknown> {
  return Promise.race([work, new Promise<void>((resolve) => setImmediate(resolve))]);
}

/** Go's time.Duration.String for whole seconds: `10s`, `1m20s`, `5m0s`. */
export function goDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h ? `${h}h` : ''}${m}m${s % 60}s`;
}

/** One pod's containers on one node. */
export class PodWorker {
  readonly records: ContainerRecord[];
  #pod: Pod;
  readonly #sandbox: PodSandbox | undefined;
  readonly #host: PodWorkerHost;
  readonly #probes = new Map<string, ProbeWorker[]>();
  readonly #backoff = new Map<string, { durationMs: number; lastUpdate: number }>();
  readonly #pending = new Map<string, TimerHandle>();
  #sandboxReady = false;
  /** Given container states of a pod restored from a snapshot (kept until something changes). */
  readonly #adopted = new Map<string, { ready: boolean; started: boolean; restartCount: number; startedAt: string }>();
  #adopting = false;
  #terminating = false;
  #terminal = false;
  #killed = false;

  constructor(pod: Pod, sandbox: PodSandbox | undefined, host: PodWorkerHost) {
    this.#pod = pod;
    this.#sandbox = sandbox;
    this.#host = host;
    const init = pod.spec.initContainers ?? [];
    this.records = [...init.map((c) => newRecord(c, true, true)), ...pod.spec.containers.map((c) => newRecord(c, false, init.length > 0))];
    sandbox?.onContainerExit((name, code) => this.#exited(name, code, code === 0 ? 'Completed' : 'Error'));
    // A pod that arrives running (a snapshot import) keeps the states it was given: readiness,
    // restarts, start times — and its status is not rewritten until something really changes.
    if (host.adopt && pod.status?.phase === 'Running' && pod.status.podIP) {
      this.#adopting = true;
      for (const cs of (pod.status.containerStatuses ?? []) as { name?: string; ready?: boolean; started?: boolean; restartCount?: number; state?: { running?: { startedAt?: string } } }[]) {
        if (cs.name && cs.state?.running?.startedAt) {
          this.#adopted.set(cs.name, { ready: !!cs.ready, started: cs.started ?? true, restartCount: cs.restartCount ?? 0, startedAt: cs.state.running.startedAt });
        }
      }
    }
  }

  #changed(): void {
    if (!this.#adopting) this.#host.changed();
  }

  /** Whether the pod is done (Succeeded or Failed): nothing runs or will run again. */
  get terminal(): boolean {
    return this.#terminal;
  }

  /** The kubelet's status for the pod, from the containers' records. */
  status(old: PodStatus, now: number): PodStatus {
    const phase = podPhase(this.#pod.spec, this.records, this.#terminating && this.#settled());
    const uid = this.#pod.metadata.uid!;
    const status: PodStatus = { ...old, phase };
    delete status.reason;
    delete status.message;
    status.conditions = podConditions({ records: this.records, phase, sandboxReady: this.#sandboxReady, now: rfc3339(now), old: old.conditions ?? [] });
    const init = this.records.filter((r) => r.init);
    if (init.length) status.initContainerStatuses = init.map((r) => containerStatus(uid, r));
    status.containerStatuses = this.records.filter((r) => !r.init).map((r) => containerStatus(uid, r));
    if (!status.startTime) status.startTime = rfc3339(now);
    return status;
  }

  /** Sets the sandbox up and starts the containers (init containers first). */
  async run(): Promise<void> {
    const named = (this.#pod.metadata.annotations?.[WellKnown.localProcess] ?? '').split(',').map((n) => n.trim()).filter(Boolean);
    const unknown = named.filter((n) => !this.records.some((r) => r.name === n));
    if (unknown.length) {
      this.#host.event('Warning', 'FailedLocalProcess', `${WellKnown.localProcess} names containers the pod does not have: ${unknown.join(', ')} (containers: ${this.records.map((r) => r.name).join(', ')})`);
    }
    this.#sandbox?.open();
    this.#sandboxReady = true;
    this.#changed();
    await this.#next();
    this.#adopting = false;
  }

  /** Starts whatever should run next: the first unfinished init container, or every container. */
  async #next(): Promise<void> {
    if (this.#terminating || this.#killed) return;
    for (const r of this.records.filter((x) => x.init)) {
      if (r.state.kind === 'terminated' && r.state.run.exitCode === 0) continue;
      if (r.state.kind === 'waiting' && r.state.reason !== 'CrashLoopBackOff') await this.#start(r);
      return;
    }
    for (const r of this.records.filter((x) => !x.init)) {
      if (r.state.kind === 'waiting' && r.state.reason !== 'CrashLoopBackOff') await this.#start(r);
    }
  }

  #spec(r: ContainerRecord): Container {
    return (r.init ? this.#pod.spec.initContainers! : this.#pod.spec.containers).find((c) => c.name === r.name)!;
  }

  async #start(r: ContainerRecord): Promise<void> {
    const c = this.#spec(r);
    const now = rfc3339(this.#host.clock.now());
    const adopted = this.#adopted.get(r.name);
    this.#adopted.delete(r.name);
    r.state = { kind: 'running', startedAt: adopted?.startedAt ?? now };
    r.started = adopted?.started ?? (!c.startupProbe || r.init);
    r.ready = adopted?.ready ?? (!c.readinessProbe && r.started);
    if (adopted) r.restartCount = adopted.restartCount;
    const probesDecide = !adopted;
    const outcome = this.#sandbox ? await this.#sandbox.startContainer(this.#pod, c) : { state: 'running' as const, message: undefined, exitCode: undefined };
    if (this.#terminating || this.#killed) return;
    if (outcome.state === 'failed') {
      this.#host.event('Warning', 'Failed', `Error: ${outcome.message}`);
      this.#exited(r.name, outcome.exitCode ?? 1, outcome.exitCode === 128 ? 'StartError' : 'Error', outcome.message);
      return;
    }
    this.#host.event('Normal', 'Created', `Created container ${r.name}`);
    this.#host.event('Normal', 'Started', `Started container ${r.name}`);
    if (outcome.state === 'no-image') {
      this.#host.event('Warning', 'ImageNotEmulated', `Container ${r.name}: ${outcome.message}`);
      if (r.init) {
        // An init container podnet cannot run would block the pod forever: it is taken as done.
        this.#host.event('Warning', 'ImageNotEmulated', `Init container ${r.name} has no built-in image: podnet counts it as completed (exit 0)`);
        this.#exited(r.name, 0, 'Completed');
        return;
      }
    }
    if (!r.init) this.#startProbes(r, c, probesDecide);
    this.#changed();
  }

  /**
   * Where probes and lifecycle hooks of a container are made from: the node, through the data
   * plane; `exec` runs in the container as `podnet exec` does (built-in tools and the image's own
   * commands). Undefined without a data plane or a pod IP.
   */
  #probeTarget(c: Container): ProbeTarget | undefined {
    const dataplane = this.#host.dataplane;
    const sandbox = this.#sandbox;
    const podIP = sandbox?.ips[0];
    if (!dataplane || !sandbox || !podIP) return undefined;
    return {
      dataplane,
      node: this.#host.node,
      podIP,
      container: c,
      version: this.#host.version,
      exec: async (argv) => {
        try {
          const r = await sandbox.exec(c.name, argv);
          return { exitCode: r.exitCode, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
        } catch (err) {
          return { exitCode: 126, stdout: '', stderr: `OCI runtime exec failed: ${(err as Error).message}` };
        }
      },
    };
  }

  #startProbes(r: ContainerRecord, c: Container, decide: boolean): void {
    const target = this.#probeTarget(c);
    if (!target) {
      // Nothing to probe through: a started container counts as started and ready.
      if (decide) {
        r.started = true;
        r.ready = true;
      }
      return;
    }
    const workers: ProbeWorker[] = [];
    const make = (kind: ProbeKind, probe: Probe): ProbeWorker => {
      const label = `${kind[0]!.toUpperCase()}${kind.slice(1)}`;
      const worker = new ProbeWorker({
        kind,
        probe,
        clock: this.#host.clock,
        run: () => runProbe(probe, target, this.#host.clock),
        track: (work) => this.#host.track(work),
        onFailedRun: (output) => this.#host.event('Warning', 'Unhealthy', `${label} probe failed: ${output}`),
        onVerdict: (ok) => this.#verdict(r, kind, ok),
      });
      workers.push(worker);
      return worker;
    };
    const startup = c.startupProbe ? make('startup', c.startupProbe) : undefined;
    const later = [c.livenessProbe && make('liveness', c.livenessProbe), c.readinessProbe && make('readiness', c.readinessProbe)].filter((w): w is ProbeWorker => !!w);
    this.#probes.set(r.name, workers);
    if (startup) startup.start();
    else for (const w of later) w.start();
  }

  #verdict(r: ContainerRecord, kind: ProbeKind, ok: boolean): void {
    if (r.state.kind !== 'running' || this.#killed) return;
    const workers = this.#probes.get(r.name) ?? [];
    const c = this.#spec(r);
    if (kind === 'readiness') {
      r.ready = ok && r.started;
      this.#changed();
      return;
    }
    if (kind === 'startup' && ok) {
      r.started = true;
      r.ready = !c.readinessProbe;
      for (const w of workers) if (w.kind !== 'startup') w.start();
      this.#changed();
      return;
    }
    if (ok || this.#terminating) return;
    // A failed liveness or startup probe: the container is killed and restarted under the policy.
    this.#host.event('Normal', 'Killing', `Container ${r.name} failed ${kind} probe, will be restarted`);
    this.#stopProbes(r.name);
    r.ready = false;
    const grace = (c[`${kind}Probe`] as { terminationGracePeriodSeconds?: number } | undefined)?.terminationGracePeriodSeconds ?? this.#pod.spec.terminationGracePeriodSeconds ?? 30;
    this.#host.track(
      brief(
        this.#stop(r.name, grace * 1000).then((code) => {
          // Killed for a failed probe: restarted unless the policy is Never, whatever the exit code.
          this.#exited(r.name, code, code === 0 ? 'Completed' : 'Error', undefined, true, this.#pod.spec.restartPolicy !== 'Never');
        }),
      ),
    );
  }

  #stopProbes(name: string): void {
    for (const w of this.#probes.get(name) ?? []) w.stop();
    this.#probes.delete(name);
  }

  async #stop(name: string, graceMs: number): Promise<number> {
    if (!this.#sandbox) return 143;
    return this.#sandbox.stopContainer(name, graceMs, (fn, ms) => this.#host.clock.setTimeout(fn, ms));
  }

  /** A container ended (by itself, by failing to start, or killed after a failed probe). */
  #exited(name: string, exitCode: number, reason: string, message?: string, force = false, restart?: boolean): void {
    const r = this.records.find((x) => x.name === name);
    if (!r || this.#killed || (this.#terminating && !force)) return;
    if (r.state.kind !== 'running' && !force) return;
    const now = this.#host.clock.now();
    const startedAt = r.state.kind === 'running' ? r.state.startedAt : rfc3339(now);
    const run: TerminatedRun = { exitCode, reason, ...(message ? { message } : {}), startedAt, finishedAt: rfc3339(now), containerID: containerId(this.#pod.metadata.uid!, r.name, r.restartCount) };
    this.#stopProbes(name);
    r.state = { kind: 'terminated', run };
    r.ready = false;
    r.started = false;
    const policy = r.init && this.#pod.spec.restartPolicy !== 'Never' ? 'OnFailure' : this.#pod.spec.restartPolicy;
    if (restart ?? restarts(policy, exitCode)) this.#restart(r, run, now);
    else if (r.init && exitCode === 0) this.#host.track(this.#next());
    this.#checkTerminal();
    this.#changed();
  }

  /** Restarts a container now or after its back-off (CrashLoopBackOff meanwhile). */
  #restart(r: ContainerRecord, run: TerminatedRun, finishedAt: number): void {
    const entry = this.#backoff.get(r.name);
    const expired = !entry || finishedAt - entry.lastUpdate > 2 * BACKOFF_MAX_MS;
    const wait = expired ? 0 : Math.max(0, finishedAt + entry.durationMs - this.#host.clock.now());
    const go = (): void => {
      this.#pending.delete(r.name);
      if (this.#terminating || this.#killed) return;
      const current = this.#backoff.get(r.name);
      const fresh = !current || this.#host.clock.now() - current.lastUpdate > 2 * BACKOFF_MAX_MS;
      this.#backoff.set(r.name, { durationMs: fresh ? BACKOFF_INITIAL_MS : Math.min(current.durationMs * 2, BACKOFF_MAX_MS), lastUpdate: this.#host.clock.now() });
      r.lastTerminated = run;
      r.restartCount++;
      r.state = { kind: 'waiting', reason: 'ContainerCreating' };
      this.#host.track(this.#start(r));
    };
    if (wait === 0) {
      go();
      return;
    }
    const pod = `${this.#pod.metadata.name}_${this.#pod.metadata.namespace}(${this.#pod.metadata.uid})`;
    r.lastTerminated = run;
    r.state = { kind: 'waiting', reason: 'CrashLoopBackOff', message: `back-off ${goDuration(entry!.durationMs)} restarting failed container=${r.name} pod=${pod}` };
    this.#host.event('Warning', 'BackOff', `Back-off restarting failed container ${r.name} in pod ${pod}`);
    this.#pending.set(
      r.name,
      this.#host.clock.setTimeout(() => this.#host.track(Promise.resolve().then(go)), wait),
    );
  }

  /** Whether nothing runs any more. */
  #settled(): boolean {
    return this.records.every((r) => r.state.kind !== 'running');
  }

  #checkTerminal(): void {
    const phase = podPhase(this.#pod.spec, this.records, false);
    if (phase !== 'Succeeded' && phase !== 'Failed') return;
    this.#terminal = true;
    for (const name of [...this.#probes.keys()]) this.#stopProbes(name);
    for (const t of this.#pending.values()) t.cancel();
    this.#pending.clear();
  }

  /**
   * Graceful termination: preStop hooks, SIGTERM, SIGKILL after `graceSeconds` (counted from
   * now, hooks included). Readiness probes keep running until each container has stopped.
   */
  async terminate(graceSeconds: number): Promise<void> {
    if (this.#terminating) return;
    this.#terminating = true;
    for (const t of this.#pending.values()) t.cancel();
    this.#pending.clear();
    for (const [name, workers] of this.#probes) {
      for (const w of workers) if (w.kind !== 'readiness') w.stop();
      this.#probes.set(name, workers.filter((w) => w.kind === 'readiness'));
    }
    const deadline = this.#host.clock.now() + graceSeconds * 1000;
    await Promise.all(
      this.records.map(async (r) => {
        if (r.state.kind !== 'running') return;
        const c = this.#spec(r);
        await this.#preStop(c, deadline);
        const code = await this.#stop(r.name, Math.max(0, deadline - this.#host.clock.now()));
        this.#exited(r.name, code, code === 0 ? 'Completed' : 'Error', undefined, true);
        this.#stopProbes(r.name);
      }),
    );
  }

  async #preStop(c: Container, deadline: number): Promise<void> {
    const hook = (c.lifecycle as { preStop?: { exec?: { command?: string[] }; httpGet?: Probe['httpGet']; sleep?: { seconds: number } } } | undefined)?.preStop;
    if (!hook) return;
    const left = Math.max(0, deadline - this.#host.clock.now());
    if (hook.sleep) {
      await new Promise<void>((resolve) => this.#host.clock.setTimeout(resolve, Math.min(hook.sleep!.seconds * 1000, left)));
      return;
    }
    const target = this.#probeTarget(c);
    if (!target) return;
    // A hook runs as a probe does (the same handlers), bounded by what is left of the grace period.
    const probe: Probe = { ...(hook.exec ? { exec: hook.exec } : {}), ...(hook.httpGet ? { httpGet: hook.httpGet } : {}), timeoutSeconds: Math.max(1, Math.ceil(left / 1000)) };
    const outcome = await runProbe(probe, target, this.#host.clock);
    if (!outcome.ok) {
      const what = hook.exec ? `Exec lifecycle hook (${JSON.stringify(hook.exec.command ?? [])})` : `HTTP lifecycle hook (${hook.httpGet?.path ?? '/'})`;
      this.#host.event('Warning', 'FailedPreStopHook', `${what} for Container "${c.name}" in Pod "${this.#pod.metadata.name}_${this.#pod.metadata.namespace}(${this.#pod.metadata.uid})" failed - error: ${outcome.output}`);
    }
  }

  /** Stops everything at once (the pod is gone, or the kubelet stops). */
  kill(): void {
    this.#killed = true;
    for (const name of [...this.#probes.keys()]) this.#stopProbes(name);
    for (const t of this.#pending.values()) t.cancel();
    this.#pending.clear();
  }
}
