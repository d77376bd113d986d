import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { applyObject, updateManagedFields } from '../../../lib/apiserver/apply/ssa.js';
import { ANCIENT_CHANGES_MANAGER, MAX_UPDATE_MANAGERS } from '../../../lib/apiserver/apply/managers.js';
import { clientSideApplyCreate, entryOf, nginxDeployment, owners, update } from './helpers.js';

// Kubernetes docs, "Server-Side Apply" (reference/using-api/server-side-apply): writes other than
// apply ("Operations in scope for field management", "Clearing managedFields").

const T0 = '2024-01-01T00:00:00Z';
const T1 = '2024-01-01T00:01:00Z';
const T2 = '2024-01-01T00:02:00Z';

// "Operations in scope for field management": an update never fails on a conflict; "Field
// management": "Whenever a field's value does change, ownership moves from its current manager
// to the manager making the change."
t.test('an update takes the fields it changes, without conflicts', async (t) => {
  const created = applyObject({ live: undefined, applied: nginxDeployment(), manager: 'kubectl', force: false, kind: 'Deployment', now: T0 }).object;
  const edited = update(created, 'kubectl-edit', (o) => (o.spec.template.spec.containers[0].image = 'nginx:1.16.1'), T1);
  t.equal(owners(edited)['kubectl-edit/Update'], '.spec.template.spec.containers[name="nginx"].image');
  t.notMatch(owners(edited)['kubectl/Apply'], /image/);
  t.equal(entryOf(edited, 'kubectl-edit')!.time, T1);
  t.equal(entryOf(edited, 'kubectl')!.time, T0, "a manager losing fields keeps its time");
  t.same(
    edited.metadata.managedFields!.map((e) => (e as { manager: string }).manager),
    ['kubectl', 'kubectl-edit'],
    'Apply entries first, then Update entries, oldest first',
  );

  const unchanged = update(edited, 'kubectl-edit', () => {}, T2);
  t.same(unchanged.metadata.managedFields, edited.metadata.managedFields, 'a no-op update changes no entry');

  const removed = update(edited, 'kubectl-edit', (o) => delete o.metadata.labels, T2);
  t.notMatch(owners(removed)['kubectl/Apply'], /^\.metadata\.labels/m, 'a removed field leaves every manager');
});

t.test('a create records what the creator set, as upstream does from the Go zero value', async (t) => {
  const created = clientSideApplyCreate(nginxDeployment(), T0);
  const entry = entryOf(created, 'kubectl-client-side-apply')!;
  t.same(entry, {
    manager: 'kubectl-client-side-apply',
    operation: 'Update',
    apiVersion: 'apps/v1',
    time: T0,
    fieldsType: 'FieldsV1',
    fieldsV1: {
      'f:metadata': {
        'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} },
        'f:labels': { '.': {}, 'f:app.kubernetes.io/name': {} },
      },
      'f:spec': {
        'f:replicas': {},
        'f:selector': {},
        'f:template': {
          'f:metadata': { 'f:labels': { '.': {}, 'f:app.kubernetes.io/name': {} } },
          'f:spec': { 'f:containers': { 'k:{"name":"nginx"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
        },
      },
    },
  });
  const cm = updateManagedFields({ live: undefined, updated: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { key: 'v' } }, manager: 'kubectl-create', kind: 'ConfigMap', now: T0 }).object;
  t.same(entryOf(cm, 'kubectl-create')!.fieldsV1, { 'f:data': { '.': {}, 'f:key': {} } }, 'a ConfigMap has no data in its zero value');
});

// "Clearing managedFields": a patch or update that sets managedFields to `[{}]` strips them;
// an empty list does not; the writer then owns what it changed in the same request.
t.test('Clearing managedFields', async (t) => {
  const created = applyObject({ live: undefined, applied: nginxDeployment(), manager: 'kubectl', force: false, kind: 'Deployment', now: T0 }).object;
  const cleared = update(created, 'kubectl-patch', (o) => (o.metadata.managedFields = [{}]), T1);
  t.notOk('managedFields' in cleared.metadata, 'stripped entirely');

  const emptyList = update(created, 'kubectl-patch', (o) => (o.metadata.managedFields = []), T1);
  t.same(emptyList.metadata.managedFields, created.metadata.managedFields, 'an empty list keeps them');

  const combined = update(created, 'kubectl-patch', (o) => {
    o.metadata.managedFields = [{}];
    o.spec.replicas = 4;
  }, T1);
  t.same(owners(combined), { 'kubectl-patch/Update': '.spec.replicas' }, 'reset first, then the change is recorded');
});

// Status is owned only through the status subresource (upstream's reset fields).
t.test('status: ignored on the main resource, owned through the subresource', async (t) => {
  const created = applyObject({
    live: undefined,
    applied: nginxDeployment((d) => (d.status = { replicas: 99 })),
    manager: 'kubectl',
    force: false,
    kind: 'Deployment',
    now: T0,
  }).object;
  t.notOk('status' in created, 'the status an apply to the main resource carries is dropped');
  t.notMatch(owners(created)['kubectl/Apply'], /status/);

  const withStatus = update(created, 'kube-controller-manager', (o) => (o.status = { replicas: 3, conditions: [{ type: 'Available', status: 'True' }] }), T1, 'status');
  t.same(entryOf(withStatus, 'kube-controller-manager'), {
    manager: 'kube-controller-manager',
    operation: 'Update',
    apiVersion: 'apps/v1',
    time: T1,
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:status': { 'f:conditions': { '.': {}, 'k:{"type":"Available"}': { '.': {}, 'f:status': {}, 'f:type': {} } }, 'f:replicas': {} } },
    subresource: 'status',
  });

  const spec = update(withStatus, 'kubectl-edit', (o) => {
    o.status.replicas = 0;
    o.spec.replicas = 2;
  }, T2);
  t.equal(owners(spec)['kubectl-edit/Update'], '.spec.replicas', 'a main-resource update owns no status field');
  t.match(owners(spec)['kube-controller-manager/Update/status'], /\.status\.replicas/);
});

t.test('more than ten updaters: the oldest are merged into ancient-changes', async (t) => {
  let live: KubeObject = applyObject({ live: undefined, applied: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, manager: 'kubectl', force: false, kind: 'ConfigMap', now: T0 }).object;
  for (let i = 0; i < MAX_UPDATE_MANAGERS + 2; i++) {
    live = update(live, `writer-${String(i).padStart(2, '0')}`, (o) => (o.data = { ...o.data, [`k${i}`]: 'v' }), `2024-01-01T00:${String(i).padStart(2, '0')}:00Z`);
  }
  const managers = live.metadata.managedFields!.map((e) => (e as { manager: string }).manager);
  t.equal(managers.length, MAX_UPDATE_MANAGERS);
  t.equal(managers.filter((m) => m === ANCIENT_CHANGES_MANAGER).length, 1);
  t.match(owners(live)[`${ANCIENT_CHANGES_MANAGER}/Update`], /\.data\.k0\n\.data\.k1\n\.data\.k2/);
});

// "Custom resources and Server-Side Apply": a custom resource starts from an empty object, so its
// creator owns `spec` itself; lists without a schema marker are atomic.
t.test('custom resources: created from an empty object', async (t) => {
  const route: KubeObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'r', namespace: 'default' },
    spec: { parentRefs: [{ name: 'gw' }], hostnames: ['example.com'] },
  };
  const created = updateManagedFields({ live: undefined, updated: route, manager: 'kubectl-create', kind: 'HTTPRoute', now: T0 }).object;
  t.same(entryOf(created, 'kubectl-create')!.fieldsV1, { 'f:spec': { '.': {}, 'f:hostnames': {}, 'f:parentRefs': {} } });
});
