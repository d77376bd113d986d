import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { applyObject, ApplyConflictError, buildLastApplied, LAST_APPLIED_ANNOTATION } from '../../../lib/apiserver/apply/ssa.js';
import { clientSideApplyCreate, nginxDeployment, owners, update } from './helpers.js';

// Kubernetes docs, "Server-Side Apply" (reference/using-api/server-side-apply).

const T0 = '2024-01-01T00:00:00Z';
const T1 = '2024-01-01T00:01:00Z';
const T2 = '2024-01-01T00:02:00Z';

function apply(live: KubeObject | undefined, applied: KubeObject, manager: string, force = false, now = T1): KubeObject {
  return applyObject({ live, applied, manager, force, kind: applied.kind, now }).object;
}

function conflictOf(fn: () => unknown): ApplyConflictError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApplyConflictError) return e;
    throw e;
  }
  throw new Error('expected an apply conflict');
}

// Section "Migration between client-side and server-side apply", "Upgrading from client-side
// apply to server-side apply": with a non-default field manager, fields client-side apply set are
// another manager's, and changing one is a conflict.
t.test('Upgrading from client-side apply: a non-default field manager conflicts over .spec.replicas', async (t) => {
  const live = clientSideApplyCreate(nginxDeployment(), T0);
  t.same(owners(live)['kubectl-client-side-apply/Update']?.split('\n').includes('.spec.replicas'), true);

  const e = conflictOf(() => apply(live, nginxDeployment((d) => (d.spec.replicas = 5)), 'my-manager'));
  t.equal(e.code, 'PODNET_APPLY_CONFLICT');
  t.equal(e.message, 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
  t.same(e.conflicts, [{ manager: 'kubectl-client-side-apply', field: '.spec.replicas' }]);
  t.same(e.causes, [{ type: 'FieldManagerConflict', message: 'conflict with "kubectl-client-side-apply" using apps/v1', field: '.spec.replicas' }]);

  // Applying the values the object already has is no conflict: ownership is shared.
  const shared = apply(live, nginxDeployment(), 'my-manager');
  t.match(owners(shared)['my-manager/Apply'], /\.spec\.replicas/);
  t.match(owners(shared)['kubectl-client-side-apply/Update'], /\.spec\.replicas/);
});

t.test('Conflicts: several fields, grouped by manager in the apiserver\'s format', async (t) => {
  let live = clientSideApplyCreate(nginxDeployment(), T0);
  live = update(live, 'kubectl-edit', (o) => (o.metadata.labels!['app.kubernetes.io/name'] = 'web'), T1);
  const applied = nginxDeployment((d) => {
    d.spec.replicas = 5;
    d.spec.template.spec.containers[0].image = 'nginx:1.16.1';
    d.metadata.labels!['app.kubernetes.io/name'] = 'nginx2';
  });
  const e = conflictOf(() => apply(live, applied, 'my-manager', false, T2));
  t.equal(
    e.message,
    [
      'Apply failed with 3 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:',
      '- .spec.replicas',
      '- .spec.template.spec.containers[name="nginx"].image',
      'conflicts with "kubectl-edit" using apps/v1:',
      '- .metadata.labels.app.kubernetes.io/name',
    ].join('\n'),
  );
  t.same(e.conflicts.map((c) => c.manager), ['kubectl-client-side-apply', 'kubectl-client-side-apply', 'kubectl-edit']);
});

// Section "Migration between client-side and server-side apply", "Upgrading from client-side
// apply to server-side apply": with the default manager `kubectl`, ownership moves from
// client-side apply without conflicts; "Downgrading from server-side apply to client-side apply":
// kubectl keeps the last-applied-configuration annotation up to date.
t.test('Upgrading from client-side apply: `kubectl` takes over without conflicts and keeps the annotation', async (t) => {
  const live = clientSideApplyCreate(nginxDeployment(), T0);
  const applied = nginxDeployment((d) => {
    d.spec.replicas = 5;
    d.spec.template.spec.containers[0].image = 'nginx:1.16.1';
  });
  const object = apply(live, applied, 'kubectl');
  t.equal(object.spec.replicas, 5);
  t.equal(object.spec.template.spec.containers[0].image, 'nginx:1.16.1');
  const csa = owners(object)['kubectl-client-side-apply/Update']!.split('\n');
  t.notOk(csa.includes('.spec.replicas'), 'client-side apply lost the fields that changed');
  t.notOk(csa.includes('.spec.template.spec.containers[name="nginx"].image'));
  t.ok(csa.includes('.spec.selector'), 'and shares the rest');
  t.match(owners(object)['kubectl/Apply'], /\.spec\.replicas/);
  t.equal(object.metadata.annotations![LAST_APPLIED_ANNOTATION], buildLastApplied(applied), 'annotation now holds the applied configuration');
  t.equal(
    buildLastApplied(applied),
    '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app.kubernetes.io/name":"nginx"},"name":"nginx-deployment"},"spec":{"replicas":5,"selector":{"matchLabels":{"app.kubernetes.io/name":"nginx"}},"template":{"metadata":{"labels":{"app.kubernetes.io/name":"nginx"}},"spec":{"containers":[{"image":"nginx:1.16.1","name":"nginx"}]}}}}\n',
  );
});

// Same section, the caution: "if you used kubectl scale to update the replicas field after
// client-side apply, then this field is not owned by client-side apply and creates conflicts on
// kubectl apply --server-side".
t.test('Upgrading from client-side apply: a field changed by kubectl scale still conflicts', async (t) => {
  let live = clientSideApplyCreate(nginxDeployment(), T0);
  live = update(live, 'kubectl-scale', (o) => (o.spec.replicas = 5), T1, 'scale');
  const e = conflictOf(() => apply(live, nginxDeployment(), 'kubectl', false, T2));
  t.equal(e.message, 'Apply failed with 1 conflict: conflict with "kubectl-scale" with subresource "scale" using apps/v1: .spec.replicas');
});

// Section "Conflicts": the three ways to resolve one.
t.test('Conflicts: overwrite value, become sole manager (force)', async (t) => {
  const live = clientSideApplyCreate(nginxDeployment(), T0);
  const object = apply(live, nginxDeployment((d) => (d.spec.replicas = 5)), 'my-manager', true);
  t.equal(object.spec.replicas, 5, 'the value changes');
  t.notMatch(owners(object)['kubectl-client-side-apply/Update'], /\.spec\.replicas/, 'and leaves every other manager');
  t.match(owners(object)['my-manager/Apply'], /\.spec\.replicas/);
});

t.test("Conflicts: don't overwrite value, give up management claim", async (t) => {
  const base = apply(undefined, nginxDeployment(), 'kubectl', false, T0);
  const live = update(base, 'kube-controller-manager', (o) => (o.spec.replicas = 7), T1, 'scale');
  const applied = nginxDeployment((d) => delete d.spec.replicas);
  const object = apply(live, applied, 'kubectl', false, T2);
  t.equal(object.spec.replicas, 7, 'the value is unchanged');
  t.notMatch(owners(object)['kubectl/Apply'], /replicas/, "and not in the applier's entry");
});

t.test("Conflicts: don't overwrite value, become shared manager", async (t) => {
  const base = apply(undefined, nginxDeployment(), 'kubectl', false, T0);
  const live = update(base, 'kube-controller-manager', (o) => (o.spec.replicas = 7), T1, 'scale');
  t.throws(() => apply(live, nginxDeployment(), 'kubectl', false, T2), ApplyConflictError);
  const object = apply(live, nginxDeployment((d) => (d.spec.replicas = 7)), 'kubectl', false, T2);
  t.equal(object.spec.replicas, 7);
  t.match(owners(object)['kubectl/Apply'], /\.spec\.replicas/, 'shared by the applier');
  t.match(owners(object)['kube-controller-manager/Update/scale'], /\.spec\.replicas/, 'and the manager that already had it');
});

// Section "Field management": "When two or more appliers set a field to the same value, they
// share ownership of that field. Any subsequent attempt to change the value of the shared field,
// by any of the appliers, results in a conflict."
t.test('Field management: appliers sharing a field conflict when one changes it', async (t) => {
  let live = apply(undefined, nginxDeployment(), 'alice', false, T0);
  live = apply(live, nginxDeployment(), 'bob', false, T1);
  const e = conflictOf(() => apply(live, nginxDeployment((d) => (d.spec.replicas = 4)), 'alice', false, T2));
  t.equal(e.message, 'Apply failed with 1 conflict: conflict with "bob": .spec.replicas', 'an applier is named without version');
});

// Section "Field managers": the fieldManager is required for apply; section "Operations in scope
// for field management": "when using the Apply operation you cannot define managedFields".
t.test('an apply needs a field manager and must not carry managedFields', async (t) => {
  t.throws(() => apply(undefined, nginxDeployment(), ''), { code: 'PODNET_BAD_REQUEST' });
  t.throws(() => apply(undefined, nginxDeployment((d) => (d.metadata.managedFields = [])), 'kubectl'), {
    code: 'PODNET_BAD_REQUEST',
    message: 'metadata.managedFields must be nil',
  });
});
