/**
 * The controller pattern of kube-controller-manager: each controller watches the store, maps
 * events to keys on its work queue and reconciles one key at a time towards the desired state.
 *
 * Keys are deduplicated while queued. A reconcile that throws is retried with exponential
 * back-off (5 ms doubling to 30 s, as client-go's default rate limiter), through the injected
 * clock. The {@link ControllerManager} drains all queues from one scheduler and can report when
 * the whole system is idle — that is what "the controllers have converged" means.
 */

import type { Clock, TimerHandle } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import { channels } from '../core/diagnostics.js';
import type { KindInfo } from '../api/scheme.js';
import type { ClusterSpec } from '../api/cluster.js';
import type { ObjectStore, WatchEvent } from '../apiserver/store.js';
import type { EventRecorder } from './events.js';

/** What every controller is handed. */
export interface ControllerContext {
  store: ObjectStore;
  clock: Clock;
  rng: Rng;
  cluster: ClusterSpec;
  recorder: EventRecorder;
}

/** The base class of every controller. */
export abstract class Controller {
  /** The controller's name, as kube-controller-manager names it (`deployment`, `endpointslice`). */
  abstract readonly name: string;
  protected ctx!: ControllerContext;
  #manager!: ControllerManager;
  #queue = new Set<string>();
  #failures = new Map<string, number>();
  #timers = new Map<string, TimerHandle>();
  #stops: (() => void)[] = [];

  /** Registers watches; called once by the manager. */
  protected abstract setup(): void;

  /** Brings the object named by `key` to its desired state. */
  protected abstract reconcile(key: string): void;

  /**
   * Tracks asynchronous work a reconcile started (binding sockets, starting containers), so that
   * the manager is only idle once it has finished. Its failure is retried like a reconcile's.
   */
  protected trackAsync(key: string, work: Promise<unknown>): void {
    this.#manager.track(
      work.then(
        () => this.#failures.delete(key),
        () => {
          const n = (this.#failures.get(key) ?? 0) + 1;
          this.#failures.set(key, n);
          this.enqueueAfter(key, Math.min(5 * 2 ** (n - 1), 30_000));
        },
      ),
    );
  }

  /** @internal */
  attach(manager: ControllerManager, ctx: ControllerContext): void {
    this.#manager = manager;
    this.ctx = ctx;
    this.setup();
  }

  /** Watches a kind; `toKeys` maps each event to the keys to reconcile. */
  protected watch(info: KindInfo, toKeys: (event: WatchEvent) => string | string[] | undefined): void {
    const stop = this.ctx.store.watch(info, {}, (event) => {
      const keys = toKeys(event);
      if (keys === undefined) return;
      for (const key of Array.isArray(keys) ? keys : [keys]) this.enqueue(key);
    });
    this.#stops.push(stop);
  }

  /** Queues a key for reconciling. */
  enqueue(key: string): void {
    this.#queue.add(key);
    this.#manager.schedule();
  }

  /** Queues a key after `ms` milliseconds of the cluster clock. */
  protected enqueueAfter(key: string, ms: number): void {
    if (this.#timers.has(key)) return;
    this.#timers.set(
      key,
      this.ctx.clock.setTimeout(() => {
        this.#timers.delete(key);
        this.enqueue(key);
      }, ms),
    );
  }

  /** @internal Takes the next key, or undefined. */
  take(): string | undefined {
    const next = this.#queue.values().next();
    if (next.done) return undefined;
    this.#queue.delete(next.value);
    return next.value;
  }

  /** @internal */
  get pending(): number {
    return this.#queue.size;
  }

  /** @internal Runs one reconcile, handling failure and back-off. */
  process(key: string): void {
    try {
      this.reconcile(key);
      this.#failures.delete(key);
      if (channels.controllerSync.hasSubscribers) channels.controllerSync.publish({ controller: this.name, key });
    } catch (error) {
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      if (channels.controllerSync.hasSubscribers) channels.controllerSync.publish({ controller: this.name, key, error });
      this.enqueueAfter(key, Math.min(5 * 2 ** (n - 1), 30_000));
    }
  }

  /** Stops watching and cancels timers. */
  stop(): void {
    for (const stop of this.#stops) stop();
    this.#stops = [];
    for (const t of this.#timers.values()) t.cancel();
    this.#timers.clear();
    this.#queue.clear();
  }
}

/** Runs controllers and knows when they are all idle. */
export class ControllerManager {
  readonly #controllers: Controller[] = [];
  readonly #ctx: ControllerContext;
  #scheduled = false;
  #running = false;
  #idleWaiters: (() => void)[] = [];
  #stopped = false;
  readonly #inflight = new Set<Promise<unknown>>();

  constructor(ctx: ControllerContext) {
    this.#ctx = ctx;
  }

  /** Adds and starts a controller. */
  add(controller: Controller): this {
    this.#controllers.push(controller);
    controller.attach(this, this.#ctx);
    return this;
  }

  /** Stops a controller and takes it out (a node's kubelet when the node goes down). */
  remove(controller: Controller): this {
    const i = this.#controllers.indexOf(controller);
    if (i >= 0) this.#controllers.splice(i, 1);
    controller.stop();
    return this;
  }

  /** The controllers, in the order added. */
  get controllers(): readonly Controller[] {
    return this.#controllers;
  }

  /** @internal Arranges for the queues to be drained soon. */
  schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(() => this.#drain());
  }

  /** Drains every queue now, synchronously, until all are empty. */
  runUntilIdle(): void {
    if (this.#running) return;
    this.#running = true;
    try {
      for (let busy = true; busy && !this.#stopped; ) {
        busy = false;
        for (const c of this.#controllers) {
          const key = c.take();
          if (key === undefined) continue;
          busy = true;
          c.process(key);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /** @internal Asynchronous work that must finish before the manager is idle. */
  track(work: Promise<unknown>): void {
    const p = work.finally(() => {
      this.#inflight.delete(p);
      this.schedule();
    });
    this.#inflight.add(p);
  }

  #drain(): void {
    this.#scheduled = false;
    this.runUntilIdle();
    if (this.#inflight.size) return; // the work's completion schedules the next drain
    if (this.#controllers.every((c) => c.pending === 0)) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    } else {
      this.schedule();
    }
  }

  /** True when no controller has queued work. */
  get idle(): boolean {
    return this.#inflight.size === 0 && this.#controllers.every((c) => c.pending === 0);
  }

  /** Resolves once every queue is empty (work scheduled on timers does not count). */
  whenIdle(): Promise<void> {
    if (this.idle && !this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      this.schedule();
    });
  }

  /** Stops every controller. */
  stop(): void {
    this.#stopped = true;
    for (const c of this.#controllers) c.stop();
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** `namespace/name` key of an event's object. */
export function keyOfEvent(event: WatchEvent): string {
  const m = event.object.metadata;
  return m.namespace ? `${m.namespace}/${m.name}` : `${m.name}`;
}

/** Splits a `namespace/name` key. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
