// @kubernetes/client-node's watch machinery against podnet's API server, per the Kubernetes API
// Concepts page, "Efficient detection of changes": an informer (list, then watch from the list's
// resourceVersion) and the Watch class with a label selector, and a Deployment rollout followed
// through watch events until readNamespacedDeploymentStatus reports it ready, then scaled through
// the scale subresource. Every wait resolves from a watch or informer callback; the timeouts only
// bound a failure.
import t from 'tap';
import {
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type V1ConfigMap,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { bootClients, within, type ClientHarness } from './harness.js';

const FAILURE_TIMEOUT_MS = 10_000;
const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';

t.test('API Concepts "Efficient detection of changes": an informer sees ADDED, MODIFIED and DELETED in order', async (t) => {
  const { kc, core } = await bootClients(t);
  const namespace = 'default';
  const name = 'informed';
  const informer = makeInformer<V1ConfigMap>(kc, '/api/v1/namespaces/default/configmaps', () => core.listNamespacedConfigMap({ namespace }));

  // Each informer callback for our ConfigMap is recorded and settles whoever waits for that verb.
  const seen: Array<{ verb: string; resourceVersion?: string; data?: Record<string, string> }> = [];
  const waiters: Array<{ verb: string; resolve: (cm: V1ConfigMap) => void }> = [];
  const record = (verb: string) => (cm: V1ConfigMap) => {
    if (cm.metadata?.name !== name) return;
    seen.push({ verb, resourceVersion: cm.metadata.resourceVersion, ...(cm.data ? { data: cm.data } : {}) });
    for (const w of waiters.splice(0).filter((w) => (w.verb === verb ? (w.resolve(cm), false) : true))) waiters.push(w);
  };
  informer.on('add', record('add'));
  informer.on('update', record('update'));
  informer.on('delete', record('delete'));
  let stopped = false;
  const failed = new Promise<never>((_, reject) => informer.on('error', (err) => !stopped && reject(err)));
  failed.catch(() => {});
  t.teardown(async () => {
    stopped = true;
    await informer.stop();
  });
  const next = (verb: string): Promise<V1ConfigMap> =>
    within(Promise.race([new Promise<V1ConfigMap>((resolve) => waiters.push({ verb, resolve })), failed]), FAILURE_TIMEOUT_MS, `the informer's ${verb} of ${name}`);

  await informer.start();
  const listed = informer.list(namespace).map((cm) => cm.metadata?.name);
  t.notOk(listed.includes(name), 'the initial list does not have it yet');

  const added = next('add');
  const created = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: { step: 'one' } } });
  t.same((await added).data, { step: 'one' });

  const updated = next('update');
  const replaced = await core.replaceNamespacedConfigMap({ name, namespace, body: { ...created, data: { step: 'two' } } });
  t.same((await updated).data, { step: 'two' });
  t.same(informer.get(name, namespace)?.data, { step: 'two' }, 'the informer cache holds the latest version');

  const deleted = next('delete');
  await core.deleteNamespacedConfigMap({ name, namespace });
  await deleted;
  t.equal(informer.get(name, namespace), undefined, 'and forgets it once deleted');

  t.same(
    seen,
    [
      { verb: 'add', resourceVersion: created.metadata?.resourceVersion, data: { step: 'one' } },
      { verb: 'update', resourceVersion: replaced.metadata?.resourceVersion, data: { step: 'two' } },
      // The DELETED event carries the last state of the object.
      { verb: 'delete', resourceVersion: seen[2]?.resourceVersion, data: { step: 'two' } },
    ],
    'ADDED, MODIFIED, DELETED, each with the resourceVersion the write returned',
  );
  t.not(seen[2]?.resourceVersion, replaced.metadata?.resourceVersion, 'the deletion is a change with a resourceVersion of its own');
});

t.test('API Concepts "Efficient detection of changes": the Watch class with a label selector sees a pod ADDED, Running and DELETED', async (t) => {
  const { kc, core } = await bootClients(t);
  const namespace = 'default';
  const pod = (name: string, labels: Record<string, string>): V1Pod => ({
    metadata: { name, labels },
    spec: { containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080'] }] },
  });

  const events: Array<{ type: string; name?: string; phase?: string }> = [];
  let sawRunning!: () => void;
  let sawDeleted!: () => void;
  let failed!: (err: unknown) => void;
  const running = new Promise<void>((resolve) => (sawRunning = resolve));
  const gone = new Promise<void>((resolve) => (sawDeleted = resolve));
  const failure = new Promise<never>((_, reject) => (failed = reject));
  failure.catch(() => {});
  const controller = await new Watch(kc).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    { labelSelector: 'watch=me' },
    (type, obj: V1Pod) => {
      events.push({ type, name: obj.metadata?.name, phase: obj.status?.phase });
      if (type === 'MODIFIED' && obj.status?.phase === 'Running') sawRunning();
      if (type === 'DELETED') sawDeleted();
    },
    (err) => {
      if (err && !controller?.signal.aborted) failed(err);
    },
  );
  t.teardown(() => controller.abort());

  // A pod the selector does not match, created first: its events would arrive before ours.
  await core.createNamespacedPod({ namespace, body: pod('unwatched', { watch: 'not-me' }) });
  await core.createNamespacedPod({ namespace, body: pod('watched', { watch: 'me' }) });
  await within(Promise.race([running, failure]), FAILURE_TIMEOUT_MS, 'the watched pod to be Running');
  const deleted = await core.deleteNamespacedPod({ name: 'watched', namespace });
  t.equal(deleted.kind, 'Pod', "a pod's DELETE answers with the pod, terminating");
  await within(Promise.race([gone, failure]), FAILURE_TIMEOUT_MS, 'the watched pod to be DELETED');

  t.ok(events.every((e) => e.name === 'watched'), 'only the pod the label selector matches');
  t.equal(events[0]?.type, 'ADDED');
  t.equal(events.at(-1)?.type, 'DELETED');
  t.ok(events.slice(1, -1).every((e) => e.type === 'MODIFIED'), 'scheduling, status and graceful deletion in between are MODIFIED');
  t.ok(events.some((e) => e.type === 'MODIFIED' && e.phase === 'Running'), 'the kubelet reported the pod Running');
});

/** kubectl rollout status's test: the controller saw this generation and every replica is updated, ready and available. */
function rolledOut(d: V1Deployment, replicas: number): boolean {
  const s = d.status;
  return (
    (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
    d.spec?.replicas === replicas &&
    s?.replicas === replicas &&
    s?.updatedReplicas === replicas &&
    s?.readyReplicas === replicas &&
    s?.availableReplicas === replicas
  );
}

/**
 * Watches the Deployment from `resourceVersion` on and, on each event, reads its status subresource
 * with readNamespacedDeploymentStatus until it is rolled out with `replicas` replicas.
 */
async function rollout(h: ClientHarness, name: string, replicas: number, resourceVersion: string): Promise<V1Deployment> {
  const namespace = 'default';
  let controller: AbortController | undefined;
  const done = new Promise<V1Deployment>((resolve, reject) => {
    const check = () =>
      h.apps.readNamespacedDeploymentStatus({ name, namespace }).then((d) => {
        if (rolledOut(d, replicas)) resolve(d);
      }, reject);
    new Watch(h.kc)
      .watch(
        `/apis/apps/v1/namespaces/${namespace}/deployments`,
        { fieldSelector: `metadata.name=${name}`, resourceVersion },
        (type) => {
          if (type === 'ADDED' || type === 'MODIFIED') void check();
        },
        (err) => {
          if (err && !controller?.signal.aborted) reject(err);
        },
      )
      .then((c) => {
        controller = c;
        return check();
      }, reject);
  });
  try {
    return await within(done, FAILURE_TIMEOUT_MS, `deployment ${name} to roll out ${replicas} replicas`);
  } finally {
    controller?.abort();
  }
}

t.test('AppsV1Api: a Deployment rolls out (followed by watch), scales through a merge patch of its scale subresource', async (t) => {
  const h = await bootClients(t);
  const { apps, core } = h;
  const namespace = 'default';
  const created = await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: 'api', labels: { app: 'api' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'api' } },
        template: {
          metadata: { labels: { app: 'api' } },
          spec: { containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080'], ports: [{ name: 'http', containerPort: 8080 }] }] },
        },
      },
    },
  });
  t.equal(created.kind, 'Deployment');
  t.match(created.spec?.strategy, { type: 'RollingUpdate' }, 'defaulted as the apiserver does');

  const ready = await rollout(h, 'api', 2, created.metadata!.resourceVersion!);
  t.match(ready.status?.conditions?.find((c) => c.type === 'Available'), { status: 'True' });

  const scale = await apps.patchNamespacedDeploymentScale(
    { name: 'api', namespace, body: { spec: { replicas: 3 } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  t.equal(scale.kind, 'Scale');
  t.equal(scale.spec?.replicas, 3);
  t.equal(scale.status?.selector, 'app=api');
  t.equal((await apps.readNamespacedDeploymentScale({ name: 'api', namespace })).spec?.replicas, 3);

  const scaled = await rollout(h, 'api', 3, scale.metadata!.resourceVersion!);
  t.equal(scaled.status?.readyReplicas, 3);
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: 'app=api' })).items;
  t.equal(pods.length, 3);
  t.ok(pods.every((p) => p.status?.phase === 'Running'), 'every replica is Running');

});
