/**
 * How the kubelet reports a pod: container states, the pod phase and the pod conditions, built
 * from what the pod worker knows about each container (pkg/kubelet/kubelet_pods.go:
 * `convertToAPIContainerStatuses`, `getPhase`; pkg/kubelet/status/generate.go).
 *
 * - A container is `waiting` (ContainerCreating, PodInitializing, CrashLoopBackOff), `running`
 *   or `terminated` (Completed for exit 0, Error otherwise, StartError when it could not start);
 *   `lastState` holds the previous run once it restarted.
 * - The phase follows `getPhase`: Pending while a container has never started; Running while one
 *   runs or will be restarted; Succeeded / Failed when all ended and none will be restarted.
 * - Conditions: PodReadyToStartContainers (sandbox up), Initialized (init containers done),
 *   ContainersReady and Ready (every container ready; `PodCompleted` once the pod is done),
 *   PodScheduled.
 */

import { createHash } from 'node:crypto';
import type { Container, PodCondition, PodSpec, PodStatus } from '../api/types.js';

/** One run of a container that ended. */
export interface TerminatedRun {
  exitCode: number;
  reason: string;
  message?: string;
  startedAt: string;
  finishedAt: string;
  containerID: string;
}

/** What the pod worker knows about one container. */
export interface ContainerRecord {
  name: string;
  image: string;
  /** Init containers run to completion before the others start. */
  init: boolean;
  state:
    | { kind: 'waiting'; reason: 'ContainerCreating' | 'PodInitializing' | 'CrashLoopBackOff'; message?: string }
    | { kind: 'running'; startedAt: string }
    | { kind: 'terminated'; run: TerminatedRun };
  lastTerminated: TerminatedRun | undefined;
  restartCount: number;
  /** The readiness probe's verdict (true without a readiness probe once running). */
  ready: boolean;
  /** The startup probe's verdict (true without a startup probe once running). */
  started: boolean;
}

/** The container id the runtime reports for a container's `restartCount`-th run. */
export function containerId(podUid: string, name: string, restartCount: number): string {
  return `podnet://${createHash('sha256').update(`${podUid}/${name}/${restartCount}`).digest('hex')}`;
}

/** The image id the runtime reports (a digest of the image name: podnet pulls nothing). */
export function imageId(image: string): string {
  return `${image}@sha256:${createHash('sha256').update(image).digest('hex')}`;
}

/** core/v1 ContainerStatus for a record. */
export function containerStatus(podUid: string, c: ContainerRecord): Record<string, unknown> {
  const ran = c.state.kind !== 'waiting' || c.lastTerminated !== undefined;
  const status: Record<string, unknown> = { name: c.name, image: c.image, imageID: ran ? imageId(c.image) : '' };
  if (c.state.kind === 'running') status.containerID = containerId(podUid, c.name, c.restartCount);
  else if (c.state.kind === 'terminated') status.containerID = c.state.run.containerID;
  else if (c.lastTerminated) status.containerID = c.lastTerminated.containerID;
  status.ready = c.ready;
  status.started = c.state.kind === 'running' && c.started;
  status.restartCount = c.restartCount;
  if (c.state.kind === 'waiting') status.state = { waiting: { reason: c.state.reason, ...(c.state.message ? { message: c.state.message } : {}) } };
  else if (c.state.kind === 'running') status.state = { running: { startedAt: c.state.startedAt } };
  else status.state = { terminated: c.state.run };
  status.lastState = c.lastTerminated ? { terminated: c.lastTerminated } : {};
  return status;
}

/** Whether a container that ended with `exitCode` is started again under the pod's restartPolicy. */
export function restarts(policy: PodSpec['restartPolicy'], exitCode: number): boolean {
  return policy === 'Always' || policy === undefined || (policy === 'OnFailure' && exitCode !== 0);
}

/**
 * The pod phase from its containers (`getPhase`): init containers still to finish keep it
 * Pending; a container that never started keeps it Pending; any running container makes it
 * Running; when all have ended, Always (or OnFailure with a failure) restarts them — Running —
 * and otherwise the pod is done: Succeeded if every container exited 0, else Failed.
 */
export function podPhase(spec: PodSpec, records: readonly ContainerRecord[], terminal: boolean): NonNullable<PodStatus['phase']> {
  const init = records.filter((r) => r.init);
  const main = records.filter((r) => !r.init);
  const initFailedForGood = init.some((r) => r.state.kind === 'terminated' && r.state.run.exitCode !== 0 && !restarts(spec.restartPolicy === 'Always' ? 'OnFailure' : spec.restartPolicy, r.state.run.exitCode));
  if (initFailedForGood) return 'Failed';
  const initPending = init.some((r) => !(r.state.kind === 'terminated' && r.state.run.exitCode === 0));
  if (initPending) return 'Pending';
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const r of main) {
    if (r.state.kind === 'running') running++;
    else if (r.state.kind === 'terminated') {
      stopped++;
      if (r.state.run.exitCode === 0) succeeded++;
    } else if (r.lastTerminated) {
      stopped++;
      if (r.lastTerminated.exitCode === 0) succeeded++;
    } else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (terminal) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if (spec.restartPolicy === 'Always' || spec.restartPolicy === undefined) return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (spec.restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

/** The kubelet's pod conditions (generate.go), with the transition times kept where nothing changed. */
export function podConditions(options: {
  records: readonly ContainerRecord[];
  phase: NonNullable<PodStatus['phase']>;
  sandboxReady: boolean;
  now: string;
  old: readonly PodCondition[];
}): PodCondition[] {
  const { records, phase, now } = options;
  // Only a Succeeded pod reports PodCompleted; a Failed one names what did not finish or is not ready.
  const done = phase === 'Succeeded';
  const init = records.filter((r) => r.init);
  const main = records.filter((r) => !r.init);
  const initUnfinished = init.filter((r) => !(r.state.kind === 'terminated' && r.state.run.exitCode === 0)).map((r) => r.name);
  const unready = main.filter((r) => !r.ready).map((r) => r.name);
  const fresh: PodCondition[] = [
    { type: 'PodReadyToStartContainers', status: options.sandboxReady ? 'True' : 'False' },
    initUnfinished.length && !done
      ? { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', message: `containers with incomplete status: [${initUnfinished.join(' ')}]` }
      : { type: 'Initialized', status: 'True', ...(done && init.length ? { reason: 'PodCompleted' } : {}) },
  ];
  const readiness = (type: string): PodCondition => {
    if (done) return { type, status: 'False', reason: 'PodCompleted' };
    if (initUnfinished.length) return { type, status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${main.map((r) => r.name).join(' ')}]` };
    return unready.length ? { type, status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]` } : { type, status: 'True' };
  };
  fresh.push(readiness('Ready'), readiness('ContainersReady'), { type: 'PodScheduled', status: 'True' });
  return fresh.map((c) => {
    const prev = options.old.find((o) => o.type === c.type);
    const since = prev && prev.status === c.status ? (prev.lastTransitionTime ?? now) : now;
    return { type: c.type, status: c.status, lastProbeTime: null, lastTransitionTime: since, ...(c.reason ? { reason: c.reason } : {}), ...(c.message ? { message: c.message } : {}) };
  });
}

/** A record for a container that has not started yet. */
export function newRecord(c: Container, init: boolean, hasInit: boolean): ContainerRecord {
  return {
    name: c.name,
    image: c.image ?? '',
    init,
    state: { kind: 'waiting', reason: !init && hasInit ? 'PodInitializing' : 'ContainerCreating' },
    lastTerminated: undefined,
    restartCount: 0,
    ready: false,
    started: false,
  };
}
