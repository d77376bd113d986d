import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { applyObject, ApplyConflictError, buildLastApplied, LAST_APPLIED_ANNOTATION, updateManagedFields } from '../../../lib/apiserver/apply/ssa.js';
import { canonicalJson } from '../../../lib/apiserver/apply/fieldset.js';
import { owners } from './helpers.js';

// `kubectl apply --server-side` (kubectl 1.32) on an object created by client-side `kubectl apply`:
//
//   1. PATCH apply-patch+yaml, fieldManager=kubectl: the configuration.
//   2. PATCH apply-patch+yaml, fieldManager=kubectl-last-applied: only the last-applied annotation.
//   3. PATCH json-patch+json, fieldManager=kubectl: `replace /metadata/managedFields` with the
//      entries csaupgrade.UpgradeManagedFields computes (client-side apply's Update entry folded
//      into the `kubectl` Apply entry, `.` markers included), `test` on the resourceVersion.
//   4. PATCH apply-patch+yaml, fieldManager=kubectl: the configuration again.
//
// Step 4 used to drop `spec.template.metadata.labels` (and `metadata.labels`): the folded-in
// entry owns the labels map itself (`.: {}`), the new configuration only its keys, and pruning
// removed the map as a whole although the configuration still sets `app` in it. Upstream's
// prune (structured-merge-diff `Updater.prune`, `addBackOwnedItems`, `addBackDanglingItems`) only
// removes what the applier owned before and no manager owns now, with a struct field counting as
// owned when a field below it is (`EnsureNamedFieldsAreMembers`).

/** The Deployment from the Kubernetes "Deployments" concept page. */
function nginx(replicas = 3): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'nginx-deployment', labels: { app: 'nginx' } },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'nginx' } },
      template: {
        metadata: { labels: { app: 'nginx' } },
        spec: { containers: [{ name: 'nginx', image: 'nginx:1.14.2', ports: [{ containerPort: 80 }] }] },
      },
    },
  } as KubeObject;
}

const LAST_APPLIED = `${canonicalJson({ ...nginx(), metadata: { ...nginx().metadata, namespace: 'default' } } as never)}\n`;

/** The live object after step 3, as `kubectl get --show-managed-fields -o json` showed it from podnet. */
function afterMigration(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      annotations: { 'deployment.kubernetes.io/revision': '1', [LAST_APPLIED_ANNOTATION]: LAST_APPLIED },
      creationTimestamp: '2026-11-22T20:53:25Z',
      generation: 1,
      labels: { app: 'nginx' },
      managedFields: [
        {
          apiVersion: 'apps/v1',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': {
              'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} },
              'f:labels': { '.': {}, 'f:app': {} },
            },
            'f:spec': {
              'f:replicas': {},
              'f:selector': {},
              'f:template': {
                'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
                'f:spec': {
                  'f:containers': {
                    'k:{"name":"nginx"}': {
                      '.': {},
                      'f:image': {},
                      'f:name': {},
                      'f:ports': { '.': {}, 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
                    },
                  },
                },
              },
            },
          },
          manager: 'kubectl',
          operation: 'Apply',
        },
        {
          apiVersion: 'apps/v1',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:kubectl.kubernetes.io/last-applied-configuration': {} } } },
          manager: 'kubectl-last-applied',
          operation: 'Apply',
        },
      ],
      name: 'nginx-deployment',
      namespace: 'default',
      resourceVersion: '93',
      uid: 'e7760b91-7e71-47c0-9fb7-98f2d57a02e9',
    },
    spec: {
      progressDeadlineSeconds: 600,
      replicas: 3,
      revisionHistoryLimit: 10,
      selector: { matchLabels: { app: 'nginx' } },
      strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' }, type: 'RollingUpdate' },
      template: {
        metadata: { labels: { app: 'nginx' } },
        spec: {
          containers: [
            {
              image: 'nginx:1.14.2',
              imagePullPolicy: 'IfNotPresent',
              name: 'nginx',
              ports: [{ containerPort: 80, protocol: 'TCP' }],
              terminationMessagePath: '/dev/termination-log',
              terminationMessagePolicy: 'File',
            },
          ],
          dnsPolicy: 'ClusterFirst',
          restartPolicy: 'Always',
          schedulerName: 'default-scheduler',
          securityContext: {},
          terminationGracePeriodSeconds: 30,
        },
      },
    },
  } as KubeObject;
}

function apply(live: KubeObject | undefined, applied: KubeObject, manager: string, now: string, force = false): KubeObject {
  return applyObject({ live, applied, manager, force, kind: 'Deployment', now }).object;
}

t.test('after the migration rewrote managedFields, re-applying the same configuration keeps the labels', async (t) => {
  const live = afterMigration();
  const object = apply(live, nginx(), 'kubectl', '2026-11-22T20:54:00Z');
  t.same(object.spec.template.metadata.labels, { app: 'nginx' }, 'the template labels stay');
  t.same(object.metadata.labels, { app: 'nginx' });
  t.same(object.spec, live.spec, 'nothing in spec changes');
  t.equal(object.metadata.annotations![LAST_APPLIED_ANNOTATION], buildLastApplied(nginx()), 'kubectl keeps the annotation current');
  t.equal(object.metadata.annotations!['deployment.kubernetes.io/revision'], '1', 'an unowned annotation stays');
  const kubectl = owners(object)['kubectl/Apply']!.split('\n');
  t.ok(kubectl.includes('.spec.template.metadata.labels.app'));
  t.notOk(kubectl.includes('.spec.template.metadata.labels'), 'the configuration owns the keys, not the map itself');
  t.notOk(kubectl.includes('.metadata.annotations.kubectl.kubernetes.io/last-applied-configuration'), 'left to kubectl-last-applied');
  t.equal(owners(object)['kubectl-last-applied/Apply'], '.metadata.annotations.kubectl.kubernetes.io/last-applied-configuration');
});

t.test('after the migration, an apply with replicas 2 changes only replicas', async (t) => {
  const live = afterMigration();
  const object = apply(live, nginx(2), 'kubectl', '2026-11-22T20:54:00Z');
  t.equal(object.spec.replicas, 2);
  t.same(object.spec.template.metadata.labels, { app: 'nginx' });
  t.same(object.spec.selector, { matchLabels: { app: 'nginx' } });
  t.same({ ...object.spec, replicas: 3 }, live.spec);

  // Another manager changing replicas now conflicts with `kubectl`, the only owner left.
  t.throws(() => apply(object, nginx(3), 'other', '2026-11-22T20:55:00Z'), {
    constructor: ApplyConflictError,
    message: 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas',
  });
  const forced = apply(object, nginx(3), 'other', '2026-11-22T20:55:00Z', true);
  t.equal(forced.spec.replicas, 3);
  t.notOk(owners(forced)['kubectl/Apply']!.split('\n').includes('.spec.replicas'));
  t.ok(owners(forced)['other/Apply']!.split('\n').includes('.spec.replicas'));
  t.same(forced.spec.template.metadata.labels, { app: 'nginx' });
});

t.test('the whole migration sequence, from a client-side apply create', async (t) => {
  // Client-side `kubectl apply`: a create with the annotation, by kubectl-client-side-apply.
  const manifest = nginx();
  manifest.metadata.namespace = 'default';
  const created = structuredClone(manifest);
  created.metadata.annotations = { [LAST_APPLIED_ANNOTATION]: LAST_APPLIED };
  let live = updateManagedFields({ live: undefined, updated: created, manager: 'kubectl-client-side-apply', kind: 'Deployment', now: '2026-11-22T20:53:00Z' }).object;
  const csa = owners(live)['kubectl-client-side-apply/Update']!.split('\n');
  t.ok(csa.includes('.spec.template.metadata.labels'), 'an update owns the maps it creates');

  // Step 1 and 2.
  live = apply(live, manifest, 'kubectl', '2026-11-22T20:53:10Z');
  t.ok(owners(live)['kubectl/Apply'], 'the apply recorded its manager');
  t.ok((live.metadata.managedFields as Array<Record<string, unknown>>).find((e) => e.manager === 'kubectl')!.time, 'with a time, as its fields changed');
  const annotationOnly = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'nginx-deployment', namespace: 'default', annotations: { [LAST_APPLIED_ANNOTATION]: LAST_APPLIED } } } as KubeObject;
  live = apply(live, annotationOnly, 'kubectl-last-applied', '2026-11-22T20:53:10Z');

  // Step 3: csaupgrade folds the client-side apply entry into kubectl's Apply entry.
  const entries = live.metadata.managedFields as Array<Record<string, unknown>>;
  const kubectlEntry = entries.find((e) => e.manager === 'kubectl')!;
  const csaEntry = entries.find((e) => e.manager === 'kubectl-client-side-apply')!;
  const folded = structuredClone(afterMigration().metadata.managedFields as Array<Record<string, unknown>>);
  folded[0]!.time = kubectlEntry.time;
  t.ok(csaEntry, 'client-side apply still owns fields before the upgrade');
  const requested = [folded[0]!, entries.find((e) => e.manager === 'kubectl-last-applied')!];
  const patched = structuredClone(live);
  patched.metadata.managedFields = requested as never;
  live = updateManagedFields({ live, updated: patched, manager: 'kubectl', kind: 'Deployment', now: '2026-11-22T20:53:11Z' }).object;
  t.same(live.metadata.managedFields, requested, 'a request that sets managedFields gets exactly those, and owns nothing for it');

  // Step 4, then an apply with replicas 2.
  live = apply(live, manifest, 'kubectl', '2026-11-22T20:53:12Z');
  t.same(live.spec.template.metadata.labels, { app: 'nginx' });
  t.same(live.metadata.labels, { app: 'nginx' });
  const two = nginx(2);
  two.metadata.namespace = 'default';
  live = apply(live, two, 'kubectl', '2026-11-22T20:54:00Z');
  t.equal(live.spec.replicas, 2);
  t.same(live.spec.template.metadata.labels, { app: 'nginx' });
});

// structured-merge-diff's `addBackOwnedItems`: "adds back any fields, list and map items that were
// removed by prune, but other appliers or updaters (or the current applier's new config) claim to own".
t.test('a field dropped from the configuration stays while any other manager, an updater too, owns it', async (t) => {
  let live = apply(undefined, nginx(), 'alice', '2024-01-01T00:00:00Z');
  const shared = structuredClone(live);
  shared.spec.replicas = 3;
  // An updater that shares .spec.replicas (as csaupgrade or a managedFields write can leave it).
  const entries = structuredClone(live.metadata.managedFields as Array<Record<string, unknown>>);
  entries.push({ manager: 'bob', operation: 'Update', apiVersion: 'apps/v1', time: '2024-01-01T00:00:30Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } });
  shared.metadata.managedFields = entries as never;
  live = updateManagedFields({ live, updated: shared, manager: 'carol', kind: 'Deployment', now: '2024-01-01T00:00:30Z' }).object;
  const noReplicas = nginx();
  delete noReplicas.spec.replicas;
  const object = apply(live, noReplicas, 'alice', '2024-01-01T00:01:00Z');
  t.equal(object.spec.replicas, 3, 'bob still owns replicas');
  t.equal(owners(object)['bob/Update'], '.spec.replicas');

  // Without another owner, the whole struct a dropped field was in goes once no one owns anything in it.
  const noTemplateLabels = nginx();
  delete noTemplateLabels.spec.template.metadata.labels;
  const dropped = apply(object, noTemplateLabels, 'alice', '2024-01-01T00:02:00Z');
  t.notOk('labels' in (dropped.spec.template.metadata ?? {}), 'the template labels are removed');
});
