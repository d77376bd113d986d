/**
 * Kubernetes Events for what podnet does, as client-go's tools/record writes them: a core/v1
 * Event named `<object>.<hex nanoseconds>`, with involvedObject, reason, message, type, source,
 * and repeated identical events folded into one with a rising `count`.
 */

import { rfc3339 } from '../core/clock.js';
import { channels } from '../core/diagnostics.js';
import type { KubeObject } from '../api/meta.js';
import { lookupKind } from '../api/scheme.js';
import type { ObjectStore } from '../apiserver/store.js';

/** Normal or Warning, as core/v1 Event.type. */
export type EventType = 'Normal' | 'Warning';

const EVENT = lookupKind('v1', 'Event')!;

/** Records Events into the store. */
export class EventRecorder {
  readonly #store: ObjectStore;
  #seq = 0;
  /** Identical events seen before, to fold repeats (client-go's EventCorrelator). */
  readonly #seen = new Map<string, string>();

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /** Records an event about `object` from `component` (e.g. `default-scheduler`, `kubelet`). */
  record(object: KubeObject, type: EventType, reason: string, message: string, component: string, host?: string): void {
    const m = object.metadata;
    const namespace = m.namespace || 'default';
    const fold = [object.kind, namespace, m.name, m.uid, type, reason, message, component, host ?? ''].join('\u0000');
    const now = rfc3339(this.#store.clock.now());
    const existingName = this.#seen.get(fold);
    const existing = existingName ? this.#store.get(EVENT, namespace, existingName) : undefined;
    try {
      if (existing) {
        existing.count = (existing.count ?? 1) + 1;
        existing.lastTimestamp = now;
        this.#store.update(existing);
        return;
      }
      const nanos = BigInt(this.#store.clock.now()) * 1_000_000n + BigInt(this.#seq++);
      const name = `${m.name}.${nanos.toString(16)}`;
      const event: KubeObject = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: object.apiVersion,
          kind: object.kind,
          namespace: m.namespace,
          name: m.name,
          uid: m.uid,
          resourceVersion: m.resourceVersion,
        },
        reason,
        message,
        type,
        source: host ? { component, host } : { component },
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        reportingComponent: component,
        reportingInstance: host ?? '',
      };
      if (!m.namespace) delete event.involvedObject.namespace;
      const stored = this.#store.create(event);
      this.#seen.set(fold, stored.metadata.name!);
      if (channels.event.hasSubscribers) channels.event.publish({ event: stored });
    } catch {
      // Events are best effort, as in client-go: a namespace being deleted must not fail the caller.
    }
  }
}
