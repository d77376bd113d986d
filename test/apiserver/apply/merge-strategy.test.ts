import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { applyObject, ApplyConflictError } from '../../../lib/apiserver/apply/ssa.js';
import { owners } from './helpers.js';

// Kubernetes docs, "Server-Side Apply" (reference/using-api/server-side-apply), section "Merge
// strategy": the server merges the configuration into the live object, list-maps (`containers`
// keyed by `name`) element by element and atomic lists as a whole, and removes what the applier
// set last time and no longer does when no other applier manages it.

function apply(live: KubeObject | undefined, applied: KubeObject, manager: string, force = false): KubeObject {
  return applyObject({ live, applied, manager, force, kind: applied.kind, now: '2024-01-01T00:00:00Z' }).object;
}

function pod(containers: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers, ...extra } };
}

t.test('list-map: each applier manages its own container, keyed by name', async (t) => {
  let live = apply(undefined, pod([{ name: 'app', image: 'app:1' }]), 'app-team');
  live = apply(live, pod([{ name: 'sidecar', image: 'envoy:1' }]), 'mesh');
  t.same(live.spec.containers.map((c: { name: string }) => c.name), ['app', 'sidecar'], 'merged, not replaced');
  t.equal(owners(live)['mesh/Apply'], ['.spec.containers[name="sidecar"]', '.spec.containers[name="sidecar"].image', '.spec.containers[name="sidecar"].name'].join('\n'));

  live = apply(live, pod([{ name: 'app', image: 'app:2' }]), 'app-team');
  t.same(live.spec.containers, [{ name: 'app', image: 'app:2' }, { name: 'sidecar', image: 'envoy:1' }], 'one applier changes its element only');

  live = apply(live, pod([]), 'mesh');
  t.same(live.spec.containers, [{ name: 'app', image: 'app:2' }], "dropping its element removes it, and only it");
  t.equal(owners(live)['mesh/Apply'], undefined, 'mesh owns nothing any more');
});

t.test('list-map: an element field dropped from the configuration is removed; the element stays', async (t) => {
  let live = apply(undefined, pod([{ name: 'app', image: 'app:1', command: ['run'] }]), 'me');
  live = apply(live, pod([{ name: 'app', image: 'app:1' }]), 'me');
  t.same(live.spec.containers, [{ name: 'app', image: 'app:1' }]);
});

t.test('list-map: container ports are keyed by containerPort and protocol', async (t) => {
  let live = apply(undefined, pod([{ name: 'dns', image: 'coredns', ports: [{ containerPort: 53, protocol: 'UDP' }] }]), 'a');
  live = apply(live, pod([{ name: 'dns', ports: [{ containerPort: 53, protocol: 'TCP' }] }]), 'b');
  t.same(live.spec.containers[0].ports, [{ containerPort: 53, protocol: 'UDP' }, { containerPort: 53, protocol: 'TCP' }], 'same port, other protocol: a second element');
});

t.test('atomic list: replaced whole, owned by one manager', async (t) => {
  let live = apply(undefined, pod([{ name: 'app', image: 'app:1', args: ['--a', '--b'] }], { tolerations: [{ key: 'x', operator: 'Exists' }] }), 'first');
  t.match(owners(live)['first/Apply'], /^\.spec\.containers\[name="app"\]\.args$/m, 'args is one leaf');
  const e = (() => {
    try {
      apply(live, pod([{ name: 'app', args: ['--c'] }]), 'second');
    } catch (err) {
      return err as ApplyConflictError;
    }
    return undefined;
  })();
  t.equal(e?.message, 'Apply failed with 1 conflict: conflict with "first": .spec.containers[name="app"].args');
  live = apply(live, pod([{ name: 'app', args: ['--c'] }], { tolerations: [{ key: 'y', operator: 'Exists' }] }), 'second', true);
  t.same(live.spec.containers[0].args, ['--c'], 'not merged with the old elements');
  t.same(live.spec.tolerations, [{ key: 'y', operator: 'Exists' }]);
  t.notMatch(owners(live)['first/Apply'], /args|tolerations/);
});

t.test('set: finalizers from two appliers are merged as a set', async (t) => {
  const cm = (finalizers: string[]): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', finalizers } });
  let live = apply(undefined, cm(['example.com/a']), 'a');
  live = apply(live, cm(['example.com/b']), 'b');
  t.same(live.metadata.finalizers, ['example.com/a', 'example.com/b']);
  t.same(live.metadata.managedFields!.map((e) => (e as { fieldsV1: unknown }).fieldsV1), [
    { 'f:metadata': { 'f:finalizers': { 'v:"example.com/a"': {} } } },
    { 'f:metadata': { 'f:finalizers': { 'v:"example.com/b"': {} } } },
  ]);
  live = apply(live, cm([]), 'a');
  t.same(live.metadata.finalizers, ['example.com/b']);
});

t.test('granular map: labels from two appliers merge key by key', async (t) => {
  const cm = (labels: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels } });
  let live = apply(undefined, cm({ team: 'a' }), 'a');
  live = apply(live, cm({ tier: 'web' }), 'b');
  t.same(live.metadata.labels, { team: 'a', tier: 'web' });
  live = apply(live, cm({}), 'b');
  t.same(live.metadata.labels, { team: 'a' });
  live = apply(live, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, 'a');
  t.notOk('labels' in live.metadata, 'a map emptied by pruning goes');
});

t.test('atomic map: a Deployment selector is owned whole', async (t) => {
  const d = (matchLabels: Record<string, string>): KubeObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { selector: { matchLabels } } });
  const live = apply(undefined, d({ app: 'x' }), 'a');
  t.equal(owners(live)['a/Apply'], '.spec.selector');
  t.throws(() => apply(live, d({ app: 'x', extra: 'y' }), 'b'), { message: 'Apply failed with 1 conflict: conflict with "a": .spec.selector' });
});

t.test('Serialization: an apply with only apiVersion and kind is a no-change update', async (t) => {
  const live = apply(undefined, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { k: 'v' } }, 'other');
  const object = applyObject({ live, applied: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, manager: 'me', force: false, kind: 'ConfigMap', now: '2030-01-01T00:00:00Z' }).object;
  t.same(object, live);
});
