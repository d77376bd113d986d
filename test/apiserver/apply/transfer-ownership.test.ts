import t from 'tap';
import type { KubeObject } from '../../../lib/api/meta.js';
import { applyObject, ApplyConflictError } from '../../../lib/apiserver/apply/ssa.js';
import { entryOf, nginxDeployment, owners, update } from './helpers.js';

// Kubernetes docs, "Server-Side Apply" (reference/using-api/server-side-apply), section
// "Transferring ownership": handing `.spec.replicas` from a user to the HorizontalPodAutoscaler,
// which writes it as kube-controller-manager through the scale subresource.

function apply(live: KubeObject | undefined, applied: KubeObject, manager: string, now: string, force = false): KubeObject {
  return applyObject({ live, applied, manager, force, kind: 'Deployment', now }).object;
}

const replicasOnly: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'nginx-deployment' }, spec: { replicas: 3 } };
const noReplicas = (): KubeObject => nginxDeployment((d) => delete d.spec.replicas);
const hpaScales = (live: KubeObject, replicas: number, now: string): KubeObject =>
  update(live, 'kube-controller-manager', (o) => (o.spec.replicas = replicas), now, 'scale');

t.test('the race: removing replicas before the HPA owns it removes the field', async (t) => {
  const created = apply(undefined, nginxDeployment(), 'kubectl', '2024-01-01T00:00:00Z');
  const object = apply(created, noReplicas(), 'kubectl', '2024-01-01T00:01:00Z');
  t.notOk('replicas' in object.spec, 'replicas is gone (the API server then defaults it to 1)');
});

t.test('(basic) leave replicas in the configuration: the HPA write gives the user a conflict', async (t) => {
  const created = apply(undefined, nginxDeployment(), 'kubectl', '2024-01-01T00:00:00Z');
  const scaled = hpaScales(created, 5, '2024-01-01T00:01:00Z');
  t.notMatch(owners(scaled)['kubectl/Apply'], /replicas/, 'the change took the field from the user');
  t.throws(() => apply(scaled, nginxDeployment(), 'kubectl', '2024-01-01T00:02:00Z'), {
    constructor: ApplyConflictError,
    message: 'Apply failed with 1 conflict: conflict with "kube-controller-manager" with subresource "scale" using apps/v1: .spec.replicas',
  });
  // "At that point, it is safe to remove from the configuration."
  const object = apply(scaled, noReplicas(), 'kubectl', '2024-01-01T00:02:00Z');
  t.equal(object.spec.replicas, 5);
});

t.test('(more advanced) hand over through a private field manager', async (t) => {
  const created = apply(undefined, nginxDeployment(), 'kubectl', '2024-01-01T00:00:00Z');
  // kubectl apply -f nginx-deployment-replicas-only.yaml --server-side --field-manager=handover-to-hpa
  const handedOver = apply(created, replicasOnly, 'handover-to-hpa', '2024-01-01T00:01:00Z');
  t.equal(owners(handedOver)['handover-to-hpa/Apply'], '.spec.replicas', 'the private manager shares replicas');
  t.match(owners(handedOver)['kubectl/Apply'], /\.spec\.replicas/);

  // "At this point the user may remove the replicas field from their manifest."
  const removed = apply(handedOver, noReplicas(), 'kubectl', '2024-01-01T00:02:00Z');
  t.equal(removed.spec.replicas, 3, 'another applier still owns replicas: it stays');
  t.notMatch(owners(removed)['kubectl/Apply'], /replicas/);

  // "whenever the HPA controller sets the replicas field to a new value, the temporary field
  // manager will no longer own any fields and will be automatically deleted."
  const scaled = hpaScales(removed, 7, '2024-01-01T00:03:00Z');
  t.equal(entryOf(scaled, 'handover-to-hpa'), undefined);
  t.equal(owners(scaled)['kube-controller-manager/Update/scale'], '.spec.replicas');
  t.same(Object.keys(owners(scaled)).sort(), ['kube-controller-manager/Update/scale', 'kubectl/Apply']);
});

// Section "Transferring ownership", "Transferring ownership between managers": set the field to
// the same value in both configurations, then drop it from one.
t.test('between managers: share by applying the same value, then drop it from one', async (t) => {
  let live = apply(undefined, nginxDeployment(), 'alice', '2024-01-01T00:00:00Z');
  live = apply(live, replicasOnly, 'bob', '2024-01-01T00:01:00Z');
  t.match(owners(live)['alice/Apply'], /\.spec\.replicas/);
  t.equal(owners(live)['bob/Apply'], '.spec.replicas');
  live = apply(live, noReplicas(), 'alice', '2024-01-01T00:02:00Z');
  t.equal(live.spec.replicas, 3);
  t.notMatch(owners(live)['alice/Apply'], /replicas/);
  t.equal(owners(live)['bob/Apply'], '.spec.replicas', 'bob is now the only owner');
  t.throws(() => apply(live, nginxDeployment((d) => (d.spec.replicas = 4)), 'alice', '2024-01-01T00:03:00Z'), {
    message: 'Apply failed with 1 conflict: conflict with "bob": .spec.replicas',
  });
});
