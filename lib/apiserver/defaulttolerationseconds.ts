/**
 * The DefaultTolerationSeconds admission plugin of kube-apiserver
 * (plugin/pkg/admission/defaulttolerationseconds): every pod that does not already tolerate
 * `node.kubernetes.io/not-ready:NoExecute` or `node.kubernetes.io/unreachable:NoExecute` gets
 * a toleration for it with `tolerationSeconds` (300 by default,
 * `--default-not-ready-toleration-seconds` / `--default-unreachable-toleration-seconds`).
 *
 * That toleration is what makes a pod on a failed node stay bound for five minutes before the
 * taint eviction controller deletes it. A toleration with an empty key (Exists) or an empty
 * effect already covers the taint, as upstream reads it. Runs on CREATE and UPDATE of pods, not on
 * their subresources; it only ever adds, which pod validation allows on update.
 */

import { WellKnown, type Toleration } from '../api/types.js';
import type { AdmissionContext, AdmissionPlugin } from './store.js';

/** Upstream's default for both tolerations. */
export const DEFAULT_TOLERATION_SECONDS = 300;

/** Options of {@link defaultTolerationSeconds}. */
export interface DefaultTolerationSecondsOptions {
  notReadySeconds?: number;
  unreachableSeconds?: number;
}

/** True when a toleration covers the NoExecute taint `key` (upstream's check: key or empty key, NoExecute or empty effect). */
function covers(t: Toleration, key: string): boolean {
  return (t.key === key || !t.key) && (t.effect === 'NoExecute' || !t.effect);
}

/** The DefaultTolerationSeconds admission plugin. */
export function defaultTolerationSeconds(options: DefaultTolerationSecondsOptions = {}): AdmissionPlugin {
  const seconds = {
    [WellKnown.notReadyTaint]: options.notReadySeconds ?? DEFAULT_TOLERATION_SECONDS,
    [WellKnown.unreachableTaint]: options.unreachableSeconds ?? DEFAULT_TOLERATION_SECONDS,
  };
  return {
    name: 'DefaultTolerationSeconds',
    admit(ctx: AdmissionContext): void {
      if (ctx.op === 'DELETE' || ctx.subresource || ctx.info.kind !== 'Pod' || ctx.info.group !== '') return;
      const spec = ctx.object.spec as { tolerations?: Toleration[] } | undefined;
      if (!spec || typeof spec !== 'object') return;
      const tolerations = Array.isArray(spec.tolerations) ? spec.tolerations : [];
      const added: Toleration[] = [];
      for (const key of [WellKnown.notReadyTaint, WellKnown.unreachableTaint]) {
        if (tolerations.some((t) => t && typeof t === 'object' && covers(t, key))) continue;
        added.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: seconds[key] });
      }
      if (added.length) spec.tolerations = [...tolerations, ...added];
    },
  };
}
