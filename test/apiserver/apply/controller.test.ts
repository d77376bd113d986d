import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { applyObject } from '../../../lib/apiserver/apply/ssa.js';
import { owners, update } from './helpers.js';

// Kubernetes docs, "Server-Side Apply" (reference/using-api/server-side-apply), section "Using
// Server-Side Apply in a controller".

const controller = 'example.com/endpoints-controller';

function apply(live: KubeObject | undefined, applied: KubeObject, manager: string, force = false): KubeObject {
  return applyObject({ live, applied, manager, force, kind: applied.kind, now: '2024-01-01T00:00:00Z' }).object;
}

function service(spec: Record<string, unknown>, meta: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default', ...meta }, spec };
}

const stored = (): KubeObject => {
  const s = apply(undefined, service({ selector: { app: 'web' }, ports: [{ port: 80 }] }), 'kubectl');
  s.metadata.uid = 'uid-1';
  s.metadata.resourceVersion = '42';
  s.metadata.creationTimestamp = '2024-01-01T00:00:00Z';
  return s;
};

t.test('the object does not have to be read first; resourceVersion need not be given', async (t) => {
  const live = stored();
  const object = apply(live, service({}, { annotations: { 'example.com/owner': 'ctl' } }), controller);
  t.equal(object.metadata.annotations!['example.com/owner'], 'ctl');
  t.equal(object.metadata.resourceVersion, '42', 'the server keeps its own identity fields');
  t.equal(object.metadata.uid, 'uid-1');
  t.same(object.spec, live.spec, 'fields the controller did not mention are untouched');
});

t.test('the applied object must contain all the fields the controller cares about', async (t) => {
  let live = apply(stored(), service({}, { labels: { 'example.com/a': '1', 'example.com/b': '2' } }), controller);
  live = apply(live, service({}, { labels: { 'example.com/a': '1' } }), controller);
  t.same(live.metadata.labels, { 'example.com/a': '1' }, 'a field left out of the next apply is removed');
});

t.test('there is no way to remove fields the controller has not applied before', async (t) => {
  let live = update(stored(), 'kubectl-edit', (o) => (o.metadata.labels = { hand: 'made' }), '2024-01-01T00:01:00Z');
  live = apply(live, service({}, { labels: { 'example.com/a': '1' } }), controller);
  live = apply(live, service({}, { labels: {} }), controller);
  t.same(live.metadata.labels, { hand: 'made' }, 'the edited label stays');
});

t.test('controllers should force conflicts on objects they own', async (t) => {
  const live = update(stored(), 'kubectl-edit', (o) => (o.spec.selector = { app: 'other' }), '2024-01-01T00:01:00Z');
  t.throws(() => apply(live, service({ selector: { app: 'web' } }), controller), {
    message: 'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .spec.selector',
  });
  const object = apply(live, service({ selector: { app: 'web' } }), controller, true);
  t.same(object.spec.selector, { app: 'web' });
  t.equal(owners(object)[`${controller}/Apply`], '.spec.selector');
  t.equal(owners(object)['kubectl-edit/Update'], undefined, 'the other manager had nothing else and is gone');
});
