import t from 'tap';
import { ObjectStore, type AdmissionPlugin, type WatchEvent, type WatchOptions } from '../../lib/apiserver/store.js';
import { lookupKind, type KindInfo } from '../../lib/api/scheme.js';
import type { KubeObject, OwnerReference } from '../../lib/api/meta.js';
import { ManualClock, rfc3339 } from '../../lib/core/clock.js';
import { SeededRng } from '../../lib/core/rng.js';
import { InvalidObjectError, field } from '../../lib/core/errors.js';
import { parseSelector, selectorFromLabelSelector } from '../../lib/apimachinery/labels.js';
import { parseFieldSelector } from '../../lib/apimachinery/fields.js';

// The object store against the Kubernetes API conventions: each test names the section of the
// Kubernetes documentation (kubernetes.io/docs) or API convention it pins.

const NAMESPACE = lookupKind('v1', 'Namespace')!;
const POD = lookupKind('v1', 'Pod')!;
const SERVICE = lookupKind('v1', 'Service')!;
const CONFIGMAP = lookupKind('v1', 'ConfigMap')!;
const DEPLOYMENT = lookupKind('apps/v1', 'Deployment')!;
const REPLICASET = lookupKind('apps/v1', 'ReplicaSet')!;

const T0 = Date.UTC(2026, 0, 1);

function newStore(options: { seed?: number; historyLimit?: number } = {}): { store: ObjectStore; clock: ManualClock } {
  const clock = new ManualClock(T0);
  const store = new ObjectStore({
    clock,
    rng: new SeededRng(options.seed ?? 1),
    ...(options.historyLimit ? { historyLimit: options.historyLimit } : {}),
  });
  store.create(namespace('default'));
  return { store, clock };
}

function namespace(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

interface PodOptions {
  namespace?: string;
  labels?: Record<string, string>;
  nodeName?: string;
  owners?: OwnerReference[];
  finalizers?: string[];
  terminationGracePeriodSeconds?: number;
}

function pod(name: string, o: PodOptions = {}): KubeObject {
  const p: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: o.namespace ?? 'default' },
    spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] },
  };
  if (o.labels) p.metadata.labels = o.labels;
  if (o.owners) p.metadata.ownerReferences = o.owners;
  if (o.finalizers) p.metadata.finalizers = o.finalizers;
  if (o.nodeName) p.spec.nodeName = o.nodeName;
  if (o.terminationGracePeriodSeconds !== undefined) p.spec.terminationGracePeriodSeconds = o.terminationGracePeriodSeconds;
  return p;
}

function deployment(name: string, containers = [{ name: 'app', image: 'app:1' }]): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers } },
    },
  };
}

function replicaSet(name: string, owner: KubeObject): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: 'default', ownerReferences: [ownerRef(owner)] },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app' }] } },
    },
  };
}

/** The controller reference a workload controller puts on what it creates. */
function ownerRef(owner: KubeObject, controller = true): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller,
    blockOwnerDeletion: true,
  };
}

function record(store: ObjectStore, info: KindInfo | undefined, options: WatchOptions = {}): { events: WatchEvent[]; stop: () => void } {
  const events: WatchEvent[] = [];
  const stop = store.watch(info, options, (e) => events.push(e));
  return { events, stop };
}

const summary = (events: WatchEvent[]): string[] => events.map((e) => `${e.type} ${e.object.kind} ${e.object.metadata.name}`);
const names = (objects: readonly KubeObject[]): string[] => objects.map((o) => o.metadata.name!);
const exists = (store: ObjectStore, info: KindInfo, name: string, ns: string | undefined = 'default'): boolean =>
  store.get(info, info.namespaced ? ns : undefined, name) !== undefined;

function setPhase(store: ObjectStore, name: string, phase: string): KubeObject {
  const p = store.getOrThrow(POD, 'default', name);
  return store.update({ ...p, status: { ...(p.status ?? {}), phase } }, { subresource: 'status' });
}

// ------------------------------------------------------------------------------------ create

t.test('Object Names and IDs, API Concepts "Resource versions": create fills uid, resourceVersion, creationTimestamp and generation', async (t) => {
  const { store } = newStore();
  const before = Number(store.resourceVersion);
  const p = store.create({ ...pod('web'), metadata: { name: 'web', namespace: 'default', uid: 'mine', resourceVersion: '999', deletionTimestamp: 'x' } });
  t.match(p.metadata.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a server-chosen UUID, not the client one');
  t.not(p.metadata.uid, 'mine');
  t.equal(p.metadata.resourceVersion, String(before + 1), 'the next cluster-wide resourceVersion');
  t.equal(store.resourceVersion, p.metadata.resourceVersion);
  t.equal(p.metadata.creationTimestamp, rfc3339(T0));
  t.equal(p.metadata.deletionTimestamp, undefined, 'deletionTimestamp cannot be set on create');
  t.equal(p.metadata.generation, undefined, 'Pod is not a kind with a generation here');

  const d = store.create(deployment('web'));
  t.equal(d.metadata.generation, 1, 'metadata.generation starts at 1 for kinds with a spec/status split');
  t.equal(d.apiVersion, 'apps/v1');
  t.equal(Number(d.metadata.resourceVersion), before + 2);

  const c = store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { a: '1' } });
  t.equal(c.metadata.namespace, 'default', 'a namespaced object without a namespace goes to "default"');
  const n = store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team', namespace: 'ignored' } });
  t.equal(n.metadata.namespace, undefined, 'cluster-scoped objects have no namespace');
});

t.test('Object Names and IDs: generateName appends a 5-character suffix drawn from the seeded RNG', async (t) => {
  const generated = (seed: number): string[] => {
    const { store } = newStore({ seed });
    return [0, 1, 2].map(() => store.create({ ...pod(''), metadata: { generateName: 'web-', namespace: 'default' } }).metadata.name!);
  };
  const a = generated(42);
  for (const name of a) t.match(name, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/, 'utilrand.String alphabet: no vowels, no confusable digits');
  t.equal(new Set(a).size, 3);
  t.same(generated(42), a, 'same seed, same names');
  t.notSame(generated(43), a, 'another seed, other names');

  const { store } = newStore();
  const named = store.create({ ...pod('fixed'), metadata: { name: 'fixed', generateName: 'web-', namespace: 'default' } });
  t.equal(named.metadata.name, 'fixed', 'a name wins over generateName');
  t.throws(() => store.create({ ...pod(''), metadata: { namespace: 'default' } }), { code: 'PODNET_INVALID_OBJECT', message: /metadata.name: Required value/ });
});

t.test('API Concepts "Create": a second object with the same name is AlreadyExists', async (t) => {
  const { store } = newStore();
  store.create(pod('web'));
  const rv = store.resourceVersion;
  t.throws(() => store.create(pod('web')), { code: 'PODNET_ALREADY_EXISTS', message: 'pods "web" already exists' });
  t.throws(() => store.create(namespace('default')), { message: 'namespaces "default" already exists' });
  t.equal(store.resourceVersion, rv);
  store.create(namespace('other'));
  t.equal(store.create(pod('web', { namespace: 'other' })).metadata.namespace, 'other', 'names are unique per namespace');
});

t.test('Namespaces: an object in a namespace that does not exist is NotFound and changes nothing', async (t) => {
  const { store } = newStore();
  const w = record(store, undefined, { resourceVersion: store.resourceVersion });
  const rv = store.resourceVersion;
  t.throws(() => store.create(pod('web', { namespace: 'x' })), { code: 'PODNET_NOT_FOUND', message: 'namespaces "x" not found' });
  t.throws(() => store.create({ ...deployment('web'), metadata: { name: 'web', namespace: 'x' } }), { message: 'namespaces "x" not found' });
  t.equal(store.resourceVersion, rv);
  t.same(store.list(POD).items, []);
  t.same(store.list(DEPLOYMENT).items, []);
  t.same(w.events, []);
});

// ------------------------------------------------------------------------------------ update

t.test('API Concepts "Resource versions" (optimistic concurrency): a stale resourceVersion is a 409 Conflict', async (t) => {
  const { store } = newStore();
  const d = store.create(deployment('web'));
  store.update({ ...d, metadata: { ...d.metadata, labels: { app: 'web', tier: 'fe' } } });
  const rv = store.resourceVersion;
  t.throws(() => store.update({ ...d, spec: { ...d.spec, replicas: 5 } }), {
    code: 'PODNET_CONFLICT',
    message:
      'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again',
  });
  t.equal(store.resourceVersion, rv);
  t.equal(store.getOrThrow(DEPLOYMENT, 'default', 'web').spec.replicas, 1);

  const unconditional = { ...d, metadata: { name: 'web', namespace: 'default', labels: d.metadata.labels }, spec: { ...d.spec, replicas: 2 } };
  t.equal(store.update(unconditional).spec.replicas, 2, 'an update without resourceVersion is unconditional');
  t.throws(() => store.update({ ...pod('ghost') }), { code: 'PODNET_NOT_FOUND', message: 'pods "ghost" not found' });
});

t.test('API Conventions "Metadata" (generation): generation is bumped by spec changes only', async (t) => {
  const { store } = newStore();
  let d = store.create(deployment('web'));
  d = store.update({ ...d, metadata: { ...d.metadata, labels: { app: 'web', tier: 'fe' }, annotations: { note: 'x' } } });
  t.equal(d.metadata.generation, 1, 'labels and annotations are metadata');
  d = store.update({ ...d, spec: { ...d.spec, replicas: 3 } });
  t.equal(d.metadata.generation, 2, 'spec.replicas changed');
  d = store.update({ ...d, status: { observedGeneration: 2, replicas: 3 } }, { subresource: 'status' });
  t.equal(d.metadata.generation, 2, 'status is not spec');
  d = store.update({ ...d, metadata: { ...d.metadata, generation: 40 } });
  t.equal(d.metadata.generation, 2, 'generation is system-owned: an update cannot set it');
});

t.test('API Conventions "Spec and Status": the main resource ignores status, the status subresource writes only status', async (t) => {
  const { store } = newStore();
  let d = store.create(deployment('web'));
  d = store.update({ ...d, status: { replicas: 1, observedGeneration: 1 } }, { subresource: 'status' });
  t.same(d.status, { replicas: 1, observedGeneration: 1 }, 'written through {subresource: "status"}');

  const rv = store.resourceVersion;
  const ignored = store.update({ ...d, status: { replicas: 99 } });
  t.same(ignored.status, { replicas: 1, observedGeneration: 1 }, 'status in a PUT of the main resource is ignored');
  t.equal(store.resourceVersion, rv, '...so that update changed nothing');

  const statusOnly = store.update(
    { ...d, metadata: { ...d.metadata, labels: { hacked: 'yes' } }, spec: { ...d.spec, replicas: 10 }, status: { replicas: 2 } },
    { subresource: 'status' },
  );
  t.same(statusOnly.status, { replicas: 2 });
  t.equal(statusOnly.spec.replicas, 1, 'a status update leaves spec alone');
  t.same(statusOnly.metadata.labels, { app: 'web' }, '...and metadata');

  const p = store.create(pod('p', { nodeName: 'n1' }));
  const running = store.update({ ...p, status: { phase: 'Running', podIP: '10.244.1.2' } }, { subresource: 'status' });
  t.equal(running.status.phase, 'Running');
  const withoutStatus = { ...running };
  delete withoutStatus.status;
  t.equal(store.update({ ...withoutStatus, metadata: { ...running.metadata, labels: { a: 'b' } } }).status.phase, 'Running', 'a PUT without status keeps it');
});

t.test('API Concepts "Efficient detection of changes": a no-op update keeps resourceVersion and sends no event', async (t) => {
  const { store } = newStore();
  const d = store.create(deployment('web'));
  store.update({ ...d, status: { replicas: 1 } }, { subresource: 'status' });
  const stored = store.getOrThrow(DEPLOYMENT, 'default', 'web');
  const rv = store.resourceVersion;
  const w = record(store, undefined, { resourceVersion: rv });

  const same = store.update(stored);
  t.equal(same.metadata.resourceVersion, stored.metadata.resourceVersion);
  t.equal(store.update(stored, { subresource: 'status' }).metadata.resourceVersion, stored.metadata.resourceVersion, 'same status');

  // The manifest as the user wrote it: no uid, creationTimestamp or status, keys in another order.
  const manifest: KubeObject = {
    kind: 'Deployment',
    apiVersion: 'apps/v1',
    spec: {
      template: { spec: { containers: [{ image: 'app:1', name: 'app' }] }, metadata: { labels: { app: 'web' } } },
      selector: { matchLabels: { app: 'web' } },
      replicas: 1,
    },
    metadata: { labels: { app: 'web' }, namespace: 'default', name: 'web' },
  };
  const replaced = store.update(manifest);
  t.equal(replaced.metadata.resourceVersion, stored.metadata.resourceVersion, 'the same content in another key order is no change');
  t.equal(replaced.metadata.generation, 1);
  t.equal(store.resourceVersion, rv);
  t.same(w.events, [], 'no watch event');
});

// ------------------------------------------------------------------------------------ patch

t.test('API Concepts "Patch": JSON merge patch, JSON patch and strategic merge patch through the store', async (t) => {
  const { store } = newStore();
  store.create(
    deployment('web', [
      { name: 'app', image: 'app:1' },
      { name: 'sidecar', image: 'proxy:1' },
    ]),
  );

  // application/merge-patch+json (RFC 7386): null deletes, objects merge.
  let d = store.patch(DEPLOYMENT, 'default', 'web', 'merge', { metadata: { labels: { app: null, tier: 'fe' } } });
  t.same(d.metadata.labels, { tier: 'fe' });
  t.equal(d.metadata.generation, 1);

  // application/json-patch+json (RFC 6902).
  d = store.patch(DEPLOYMENT, 'default', 'web', 'json', [
    { op: 'test', path: '/spec/replicas', value: 1 },
    { op: 'replace', path: '/spec/replicas', value: 4 },
  ]);
  t.equal(d.spec.replicas, 4);
  t.equal(d.metadata.generation, 2, 'a patched spec bumps generation');
  const rv = store.resourceVersion;
  t.throws(() => store.patch(DEPLOYMENT, 'default', 'web', 'json', [{ op: 'test', path: '/spec/replicas', value: 1 }]));
  t.equal(store.resourceVersion, rv, 'a failed test operation changes nothing');

  // application/strategic-merge-patch+json: containers merge by name.
  d = store.patch(DEPLOYMENT, 'default', 'web', 'strategic', { spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'proxy:2' }] } } } });
  t.same(
    d.spec.template.spec.containers.map((c: { name: string; image: string }) => `${c.name}=${c.image}`),
    ['app=app:1', 'sidecar=proxy:2'],
  );
  t.equal(d.metadata.generation, 3);
  // The same body as a merge patch replaces the list (RFC 7386 has no list merge).
  d = store.patch(DEPLOYMENT, 'default', 'web', 'merge', { spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'proxy:3' }] } } } });
  t.same(d.spec.template.spec.containers, [{ name: 'sidecar', image: 'proxy:3' }]);

  t.throws(() => store.patch(DEPLOYMENT, 'default', 'web', 'merge', { metadata: { name: 'other' } }), { code: 'PODNET_BAD_REQUEST' });
  t.throws(() => store.patch(DEPLOYMENT, 'default', 'web', 'merge', { metadata: { resourceVersion: '1' } }), { code: 'PODNET_CONFLICT' });
  t.throws(() => store.patch(DEPLOYMENT, 'default', 'nope', 'merge', {}), { code: 'PODNET_NOT_FOUND' });
  t.equal(store.patch(DEPLOYMENT, 'default', 'web', 'merge', { status: { replicas: 9 } }).status, undefined, 'status patches of the main resource are ignored');
  t.equal(
    store.patch(DEPLOYMENT, 'default', 'web', 'merge', { status: { replicas: 9 } }, { subresource: 'status' }).status.replicas,
    9,
    'and go through the status subresource',
  );
});

// ------------------------------------------------------------------------------------ list

t.test('Labels and Selectors, Field Selectors: list filters by label and field selectors', async (t) => {
  const { store } = newStore();
  store.create(namespace('other'));
  store.create(pod('p1', { labels: { a: 'b', e: 'x' }, nodeName: 'n1' }));
  store.create(pod('p2', { labels: { a: 'b', c: 'd', e: 'x' }, nodeName: 'n1' }));
  store.create(pod('p3', { labels: { a: 'b', e: 'z' }, nodeName: 'n2' }));
  store.create(pod('p4', { labels: { a: 'b', e: 'y', f: '' } }));
  store.create(pod('p5', { labels: { a: 'b', e: 'y', c: 'other' } }));
  store.create(pod('p6', { labels: { a: 'b', e: 'x' }, namespace: 'other', nodeName: 'n2' }));
  setPhase(store, 'p1', 'Running');
  setPhase(store, 'p3', 'Running');
  setPhase(store, 'p5', 'Pending');

  const selected = (options: Parameters<ObjectStore['list']>[1]) =>
    store.list(POD, options).items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);

  // "Set-based requirement" and "Equality-based requirement", in one selector.
  const expected = ['default/p1', 'default/p5', 'other/p6'];
  t.same(selected({ labelSelector: 'a=b,c!=d,e in (x,y),!f' }), expected, 'string form');
  t.same(selected({ labelSelector: parseSelector('a=b,c!=d,e in (x,y),!f') }), expected, 'parsed Selector');
  t.same(
    selected({
      labelSelector: selectorFromLabelSelector({
        matchLabels: { a: 'b' },
        matchExpressions: [
          { key: 'c', operator: 'NotIn', values: ['d'] },
          { key: 'e', operator: 'In', values: ['x', 'y'] },
          { key: 'f', operator: 'DoesNotExist' },
        ],
      }),
    }),
    expected,
    'metav1.LabelSelector',
  );
  t.same(selected({ labelSelector: 'a=b,c!=d,e in (x,y),!f', namespace: 'default' }), ['default/p1', 'default/p5'], 'with a namespace');

  t.same(selected({ fieldSelector: 'metadata.name=p2' }), ['default/p2']);
  t.same(selected({ fieldSelector: 'metadata.namespace=other' }), ['other/p6']);
  t.same(selected({ fieldSelector: 'metadata.namespace!=default' }), ['other/p6']);
  t.same(selected({ fieldSelector: 'spec.nodeName=n1' }), ['default/p1', 'default/p2'], 'the kubelet\'s own pods');
  t.same(selected({ fieldSelector: 'spec.nodeName=' }), ['default/p4', 'default/p5'], 'the scheduler\'s unscheduled pods');
  t.same(selected({ fieldSelector: 'status.phase=Running' }), ['default/p1', 'default/p3']);
  t.same(selected({ fieldSelector: parseFieldSelector('status.phase!=Running,spec.nodeName=n2') }), ['other/p6']);
  t.same(selected({ fieldSelector: 'spec.nodeName=n1', labelSelector: 'c' }), ['default/p2'], 'both selectors');
  t.equal(store.list(POD).resourceVersion, store.resourceVersion, 'a list carries the store\'s resourceVersion');
  t.same(names(store.list(POD).items), ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'], 'sorted by namespace, then name');
});

// ------------------------------------------------------------------------------------ watch

t.test('API Concepts "Efficient detection of changes": a watch from a resourceVersion replays every later change in order', async (t) => {
  const { store } = newStore();
  const start = store.resourceVersion;
  const a = store.create(pod('a'));
  const mid = store.resourceVersion;
  store.update({ ...a, metadata: { ...a.metadata, labels: { v: '2' } } });
  store.create(pod('b'));
  store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' } });
  store.delete(POD, 'default', 'a');

  const w = record(store, POD, { resourceVersion: start });
  t.same(summary(w.events), ['ADDED Pod a', 'MODIFIED Pod a', 'ADDED Pod b', 'DELETED Pod a']);
  const rvs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
  t.same(rvs, [...rvs].sort((x, y) => x - y), 'in resourceVersion order');
  t.equal(w.events[1]!.object.metadata.labels?.v, '2', 'each event carries the object as it was then');

  t.same(summary(record(store, POD, { resourceVersion: mid }).events), ['MODIFIED Pod a', 'ADDED Pod b', 'DELETED Pod a'], 'only changes after the given resourceVersion');
  t.same(summary(record(store, undefined, { resourceVersion: mid }).events), ['MODIFIED Pod a', 'ADDED Pod b', 'ADDED ConfigMap cfg', 'DELETED Pod a'], 'every kind');

  store.create(pod('c'));
  t.same(summary(w.events).slice(4), ['ADDED Pod c'], 'then live events');
  w.stop();
  store.create(pod('d'));
  t.equal(w.events.length, 5, 'nothing after stop');
});

t.test('API Concepts "Semantics for watch" (resourceVersion unset): ADDED for every current object first, then live events', async (t) => {
  const { store } = newStore();
  store.create(pod('b'));
  store.create(pod('a'));
  const w = record(store, POD);
  t.same(summary(w.events), ['ADDED Pod a', 'ADDED Pod b'], 'the current state, as synthetic ADDED events');
  store.delete(POD, 'default', 'a');
  store.create(pod('c'));
  t.same(summary(w.events), ['ADDED Pod a', 'ADDED Pod b', 'DELETED Pod a', 'ADDED Pod c']);
  t.same(summary(record(store, POD, { resourceVersion: '0' }).events), ['ADDED Pod b', 'ADDED Pod c'], '"0" means any: the same');
});

t.test('API Concepts "Resource versions" (410 Gone): a compacted resourceVersion is too old', async (t) => {
  const { store } = newStore({ historyLimit: 5 });
  for (let i = 0; i < 9; i++) store.create(pod(`p${i}`)); // resourceVersions 2..10; history keeps 6..10
  t.equal(store.resourceVersion, '10');
  t.equal(store.oldestResourceVersion, '5');
  t.throws(() => store.watch(POD, { resourceVersion: '2' }, () => undefined), {
    code: 'PODNET_RESOURCE_VERSION_TOO_OLD',
    message: 'too old resource version: 2 (5)',
    requested: 2,
  });
  t.throws(() => store.watch(POD, { resourceVersion: '4' }, () => undefined), { message: 'too old resource version: 4 (5)' });
  t.same(names(record(store, POD, { resourceVersion: '5' }).events.map((e) => e.object)), ['p4', 'p5', 'p6', 'p7', 'p8'], 'the oldest kept one still works');
  t.throws(() => store.watch(POD, { resourceVersion: 'abc' }, () => undefined), { code: 'PODNET_BAD_REQUEST' });
});

t.test('API Concepts "Watch" with a label selector: moving out of the selection is DELETED, into it ADDED', async (t) => {
  const { store } = newStore();
  const w = record(store, POD, { labelSelector: 'tier=fe' });
  let p = store.create(pod('p', { labels: { tier: 'be' } }));
  t.same(w.events, [], 'not selected');
  p = store.update({ ...p, metadata: { ...p.metadata, labels: { tier: 'fe' } } });
  p = store.update({ ...p, metadata: { ...p.metadata, labels: { tier: 'fe', v: '2' } } });
  p = store.update({ ...p, metadata: { ...p.metadata, labels: { tier: 'be' } } });
  store.delete(POD, 'default', 'p');
  t.same(summary(w.events), ['ADDED Pod p', 'MODIFIED Pod p', 'DELETED Pod p']);
  t.same(w.events[2]!.object.metadata.labels, { tier: 'be' }, 'the DELETED event carries the object as it now is');

  // The same with a field selector (the kubelet's spec.nodeName, a phase).
  const running = record(store, POD, { fieldSelector: 'status.phase=Running' });
  store.create(pod('q', { nodeName: 'n1' }));
  setPhase(store, 'q', 'Running');
  setPhase(store, 'q', 'Succeeded');
  t.same(summary(running.events), ['ADDED Pod q', 'DELETED Pod q']);

  // Replay applies the selector to history as well.
  t.same(summary(record(store, POD, { labelSelector: 'tier=fe', resourceVersion: '1' }).events), ['ADDED Pod p', 'MODIFIED Pod p', 'DELETED Pod p']);
});

t.test('a handler that writes sees its write delivered after the event it is handling, to every watcher in commit order', async (t) => {
  const { store } = newStore();
  const all = record(store, undefined, { resourceVersion: store.resourceVersion });
  store.watch(POD, {}, (e) => {
    if (e.type === 'ADDED') store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${e.object.metadata.name}-cfg`, namespace: 'default' } });
  });
  const late = record(store, POD, { resourceVersion: store.resourceVersion });
  store.create(pod('a'));
  t.same(summary(all.events), ['ADDED Pod a', 'ADDED ConfigMap a-cfg']);
  t.same(summary(late.events), ['ADDED Pod a']);
});

// ------------------------------------------------------------------------------------ delete

t.test('Finalizers: deletion sets deletionTimestamp and keeps the object until its last finalizer is removed', async (t) => {
  const { store, clock } = newStore();
  store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default', finalizers: ['example.com/a', 'example.com/b'] } });
  const w = record(store, CONFIGMAP, { resourceVersion: store.resourceVersion });
  clock.advance(5000);
  const deleting = store.delete(CONFIGMAP, 'default', 'cfg');
  t.equal(deleting.metadata.deletionTimestamp, rfc3339(T0 + 5000));
  t.equal(deleting.metadata.deletionGracePeriodSeconds, 0);
  t.same(deleting.metadata.finalizers, ['example.com/a', 'example.com/b']);
  t.ok(exists(store, CONFIGMAP, 'cfg'), 'still there');

  const rv = store.resourceVersion;
  store.delete(CONFIGMAP, 'default', 'cfg');
  t.equal(store.resourceVersion, rv, 'deleting it again changes nothing');

  let cfg = store.getOrThrow(CONFIGMAP, 'default', 'cfg');
  cfg = store.update({ ...cfg, metadata: { ...cfg.metadata, finalizers: ['example.com/b'] } });
  t.ok(exists(store, CONFIGMAP, 'cfg'), 'one finalizer left');
  t.equal(cfg.metadata.deletionTimestamp, rfc3339(T0 + 5000), 'deletionTimestamp cannot be changed by an update');
  store.update({ ...cfg, metadata: { ...cfg.metadata, finalizers: [] } });
  t.notOk(exists(store, CONFIGMAP, 'cfg'), 'gone with the last finalizer');
  t.same(summary(w.events), ['MODIFIED ConfigMap cfg', 'MODIFIED ConfigMap cfg', 'DELETED ConfigMap cfg'], 'the update that empties the finalizers is the delete');
});

t.test('Pod Lifecycle "Termination of Pods": a pod bound to a node is deleted gracefully', async (t) => {
  const { store, clock } = newStore();
  store.create(pod('web', { nodeName: 'n1' }));
  const terminating = store.delete(POD, 'default', 'web');
  t.equal(terminating.metadata.deletionGracePeriodSeconds, 30, 'the default grace period');
  t.equal(terminating.metadata.deletionTimestamp, rfc3339(T0 + 30_000), 'now plus the grace period');
  t.ok(exists(store, POD, 'web'), 'the kubelet finishes the deletion');

  const status = setPhase(store, 'web', 'Running');
  t.ok(status.metadata.deletionTimestamp, 'a status update while terminating keeps the pod');
  t.ok(exists(store, POD, 'web'));
  const rv = store.resourceVersion;
  store.delete(POD, 'default', 'web');
  store.delete(POD, 'default', 'web', { gracePeriodSeconds: 60 });
  t.equal(store.resourceVersion, rv, 'a longer or default grace period leaves a pending deletion alone');
  clock.advance(1000);
  const shorter = store.delete(POD, 'default', 'web', { gracePeriodSeconds: 10 });
  t.equal(shorter.metadata.deletionGracePeriodSeconds, 10, 'only a shorter grace period may be given');
  t.equal(shorter.metadata.deletionTimestamp, rfc3339(T0 + 10_000));
  store.delete(POD, 'default', 'web', { gracePeriodSeconds: 0 });
  t.notOk(exists(store, POD, 'web'), 'grace period 0 removes it');

  store.create(pod('quick', { nodeName: 'n1', terminationGracePeriodSeconds: 5 }));
  const quick = store.delete(POD, 'default', 'quick');
  t.equal(quick.metadata.deletionGracePeriodSeconds, 5, 'spec.terminationGracePeriodSeconds');
  t.equal(quick.metadata.deletionTimestamp, rfc3339(clock.now() + 5000));

  store.create(pod('unbound'));
  store.delete(POD, 'default', 'unbound');
  t.notOk(exists(store, POD, 'unbound'), 'a pod that never reached a node goes at once');

  store.create(pod('done', { nodeName: 'n1' }));
  setPhase(store, 'done', 'Succeeded');
  store.delete(POD, 'default', 'done');
  t.notOk(exists(store, POD, 'done'), 'a terminated pod goes at once');

  store.create(pod('force', { nodeName: 'n1' }));
  store.delete(POD, 'default', 'force', { gracePeriodSeconds: 0 });
  t.notOk(exists(store, POD, 'force'), 'DeleteOptions: "The value zero indicates delete immediately"');

  store.create(pod('held', { nodeName: 'n1', finalizers: ['example.com/hold'] }));
  store.delete(POD, 'default', 'held');
  const held = store.delete(POD, 'default', 'held', { gracePeriodSeconds: 0 });
  t.equal(held.metadata.deletionGracePeriodSeconds, 0);
  t.ok(exists(store, POD, 'held'), 'finalizers keep even a force-deleted pod');
  store.update({ ...held, metadata: { ...held.metadata, finalizers: [] } });
  t.notOk(exists(store, POD, 'held'), 'until the last one goes');
});

t.test('API Concepts "Delete" preconditions: uid and resourceVersion must match', async (t) => {
  const { store } = newStore();
  const p = store.create(pod('web'));
  t.throws(() => store.delete(POD, 'default', 'web', { preconditions: { uid: 'other' } }), {
    code: 'PODNET_CONFLICT',
    message: /Precondition failed: UID in precondition: other, UID in object meta: /,
  });
  t.throws(() => store.delete(POD, 'default', 'web', { preconditions: { resourceVersion: '1' } }), {
    code: 'PODNET_CONFLICT',
    message: /Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: /,
  });
  t.ok(exists(store, POD, 'web'));
  store.delete(POD, 'default', 'web', { preconditions: { uid: p.metadata.uid!, resourceVersion: p.metadata.resourceVersion! } });
  t.notOk(exists(store, POD, 'web'));
  t.throws(() => store.delete(POD, 'default', 'web'), { code: 'PODNET_NOT_FOUND', message: 'pods "web" not found' });
});

// ------------------------------------------------------------------------------------ garbage collection

/** Deployment → ReplicaSet → two Pods, chained by controller ownerReferences, as the controllers build them. */
function chain(store: ObjectStore, o: { bound?: boolean } = {}): { d: KubeObject; rs: KubeObject; pods: KubeObject[] } {
  const d = store.create(deployment('web'));
  const rs = store.create(replicaSet('web-5d7c', d));
  const pods = ['web-5d7c-aaaaa', 'web-5d7c-bbbbb'].map((n) =>
    store.create(pod(n, { labels: { app: 'web' }, owners: [ownerRef(rs)], ...(o.bound ? { nodeName: 'n1' } : {}) })),
  );
  return { d, rs, pods };
}

t.test('Garbage Collection "Cascading deletion" (Background): dependents go, and their dependents', async (t) => {
  const { store } = newStore();
  chain(store);
  store.create(pod('unowned'));
  store.delete(DEPLOYMENT, 'default', 'web');
  t.notOk(exists(store, DEPLOYMENT, 'web'));
  t.same(store.list(REPLICASET).items, [], 'the ReplicaSet');
  t.same(names(store.list(POD).items), ['unowned'], 'and its pods');

  const { store: s2 } = newStore();
  chain(s2, { bound: true });
  s2.delete(DEPLOYMENT, 'default', 'web', { propagationPolicy: 'Background' });
  t.same(s2.list(REPLICASET).items, []);
  const pods = s2.list(POD).items;
  t.equal(pods.length, 2, 'bound pods terminate gracefully');
  t.ok(pods.every((p) => p.metadata.deletionTimestamp && p.metadata.deletionGracePeriodSeconds === 30));
});

t.test('Garbage Collection "Cascading deletion" (Orphan): dependents stay, without the ownerReference', async (t) => {
  const { store } = newStore();
  const { rs } = chain(store);
  store.delete(REPLICASET, 'default', rs.metadata.name!, { propagationPolicy: 'Orphan' });
  t.notOk(exists(store, REPLICASET, rs.metadata.name!));
  const pods = store.list(POD).items;
  t.equal(pods.length, 2);
  for (const p of pods) t.equal(p.metadata.ownerReferences, undefined, `${p.metadata.name} is an orphan`);

  const { store: s2 } = newStore();
  const c = chain(s2);
  s2.delete(DEPLOYMENT, 'default', 'web', { propagationPolicy: 'Orphan' });
  t.equal(s2.getOrThrow(REPLICASET, 'default', c.rs.metadata.name!).metadata.ownerReferences, undefined);
  t.ok(s2.list(POD).items.every((p) => p.metadata.ownerReferences?.[0]?.uid === c.rs.metadata.uid), 'grandchildren keep their own owner');
});

t.test('Garbage Collection "Foreground cascading deletion": the owner waits, with the foregroundDeletion finalizer, until its dependents are gone', async (t) => {
  const { store } = newStore();
  const { rs, pods } = chain(store, { bound: true });
  const w = record(store, undefined, { resourceVersion: store.resourceVersion });
  const owner = store.delete(DEPLOYMENT, 'default', 'web', { propagationPolicy: 'Foreground' });
  t.ok(owner.metadata.deletionTimestamp, 'the owner is "deletion in progress"');
  t.same(owner.metadata.finalizers, ['foregroundDeletion']);
  const liveRs = store.getOrThrow(REPLICASET, 'default', rs.metadata.name!);
  t.ok(liveRs.metadata.deletionTimestamp, 'the ReplicaSet is being deleted too');
  t.same(liveRs.metadata.finalizers, ['foregroundDeletion'], 'it has a dependent of its own to wait for');
  for (const p of pods) {
    const live = store.getOrThrow(POD, 'default', p.metadata.name!);
    t.ok(live.metadata.deletionTimestamp, `${p.metadata.name} terminating`);
    t.equal(live.metadata.deletionGracePeriodSeconds, 30, 'pods keep their grace period');
  }

  // The kubelet finishes one pod: everything else waits for the other.
  store.delete(POD, 'default', pods[0]!.metadata.name!, { gracePeriodSeconds: 0 });
  t.ok(exists(store, DEPLOYMENT, 'web'));
  t.ok(exists(store, REPLICASET, rs.metadata.name!));
  store.delete(POD, 'default', pods[1]!.metadata.name!, { gracePeriodSeconds: 0 });
  t.notOk(exists(store, REPLICASET, rs.metadata.name!), 'the ReplicaSet goes after its last pod');
  t.notOk(exists(store, DEPLOYMENT, 'web'), 'and the Deployment after it');
  const deleted = summary(w.events.filter((e) => e.type === 'DELETED'));
  t.same(deleted, [`DELETED Pod ${pods[0]!.metadata.name}`, `DELETED Pod ${pods[1]!.metadata.name}`, `DELETED ReplicaSet ${rs.metadata.name}`, 'DELETED Deployment web'], 'dependents first');

  const { store: s2 } = newStore();
  chain(s2);
  s2.delete(DEPLOYMENT, 'default', 'web', { propagationPolicy: 'Foreground' });
  t.same([...s2.list(DEPLOYMENT).items, ...s2.list(REPLICASET).items, ...s2.list(POD).items], [], 'with nothing to wait for, all go at once');
});

t.test('Owners and Dependents: a dependent with another live owner is not collected', async (t) => {
  for (const propagationPolicy of ['Background', 'Foreground'] as const) {
    const { store } = newStore();
    const d = store.create(deployment('web'));
    const a = store.create(replicaSet('a', d));
    const b = store.create(replicaSet('b', d));
    store.create(pod('shared', { owners: [ownerRef(a), ownerRef(b, false)] }));
    store.delete(REPLICASET, 'default', 'a', { propagationPolicy });
    t.notOk(exists(store, REPLICASET, 'a'), `${propagationPolicy}: the owner goes`);
    const shared = store.getOrThrow(POD, 'default', 'shared');
    t.notOk(shared.metadata.deletionTimestamp, `${propagationPolicy}: the shared pod stays`);
    t.same(
      shared.metadata.ownerReferences?.map((r) => r.name),
      ['b'],
      `${propagationPolicy}: the reference to the deleted owner is removed`,
    );
  }
});

t.test('Namespaces: deleting a Namespace deletes everything in it', async (t) => {
  const { store } = newStore();
  store.create(namespace('team'));
  store.create(pod('a', { namespace: 'team' }));
  store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'team' }, spec: { ports: [{ port: 80 }] } });
  store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'team' } });
  store.create({ ...deployment('web'), metadata: { name: 'web', namespace: 'team' } });
  store.create(pod('a'));
  const w = record(store, undefined, { resourceVersion: store.resourceVersion });
  store.delete(NAMESPACE, undefined, 'team');
  t.notOk(exists(store, NAMESPACE, 'team'));
  for (const info of [POD, SERVICE, CONFIGMAP, DEPLOYMENT]) t.same(store.list(info, { namespace: 'team' }).items, [], `no ${info.resource} left`);
  t.ok(exists(store, POD, 'a', 'default'), 'other namespaces are untouched');
  t.ok(w.events.every((e) => e.type === 'DELETED'));
  t.equal(w.events.length, 5);
  t.equal(w.events.at(-1)!.object.kind, 'Namespace', 'the namespace goes last');
  t.throws(() => store.create(pod('b', { namespace: 'team' })), { message: 'namespaces "team" not found' });
});

// ------------------------------------------------------------------------------------ transactions

t.test('transaction: a failed transaction leaves store, resourceVersion and watchers as they were, and resyncs plugins', async (t) => {
  const { store } = newStore();
  let resyncs = 0;
  store.use({ name: 'allocator', admit: () => undefined, resync: () => void resyncs++ });
  const a = store.create(pod('a'));
  const rv = store.resourceVersion;
  const before = JSON.stringify([store.list(POD), store.list(CONFIGMAP)]);
  const w = record(store, undefined, { resourceVersion: rv });

  t.throws(
    () =>
      store.transaction(() => {
        store.create(pod('b'));
        store.update({ ...a, metadata: { ...a.metadata, labels: { x: 'y' } } });
        store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' } });
        store.delete(POD, 'default', 'a');
        throw new Error('boom');
      }),
    { message: 'boom' },
  );
  t.equal(store.resourceVersion, rv);
  t.equal(JSON.stringify([store.list(POD), store.list(CONFIGMAP)]), before);
  t.same(w.events, [], 'no watcher saw anything');
  t.equal(resyncs, 1, 'AdmissionPlugin.resync rebuilt derived state');
  t.equal(store.create(pod('c')).metadata.resourceVersion, String(Number(rv) + 1), 'the next write continues from the old resourceVersion');
});

t.test('transaction: writes are delivered after commit, in order', async (t) => {
  const { store } = newStore();
  const w = record(store, undefined, { resourceVersion: store.resourceVersion });
  const seenInside: number[] = [];
  const result = store.transaction(() => {
    const x = store.create(pod('x'));
    store.create(pod('y'));
    seenInside.push(w.events.length);
    t.ok(exists(store, POD, 'x'), 'the transaction reads its own writes');
    store.update({ ...x, metadata: { ...x.metadata, labels: { v: '2' } } });
    store.transaction(() => store.delete(POD, 'default', 'y'));
    seenInside.push(w.events.length);
    return 'done';
  });
  t.equal(result, 'done');
  t.same(seenInside, [0, 0], 'nothing delivered inside');
  t.same(summary(w.events), ['ADDED Pod x', 'ADDED Pod y', 'MODIFIED Pod x', 'DELETED Pod y']);
  const rvs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
  t.same(rvs, [rvs[0]!, rvs[0]! + 1, rvs[0]! + 2, rvs[0]! + 3]);
});

t.test('Server-side dry run: a dryRun write returns the result and stores nothing', async (t) => {
  const { store } = newStore();
  const existing = store.create(pod('real'));
  const rv = store.resourceVersion;
  const w = record(store, undefined, { resourceVersion: rv });
  const dry = store.create(pod('dry'), { dryRun: true });
  t.equal(dry.metadata.name, 'dry');
  t.ok(dry.metadata.uid);
  t.notOk(exists(store, POD, 'dry'));
  const updated = store.update({ ...existing, metadata: { ...existing.metadata, labels: { v: '2' } } }, { dryRun: true });
  t.same(updated.metadata.labels, { v: '2' });
  t.equal(store.getOrThrow(POD, 'default', 'real').metadata.labels, undefined);
  t.throws(() => store.create(pod('real'), { dryRun: true }), { code: 'PODNET_ALREADY_EXISTS' }, 'a dry run still validates');

  store.transaction(() => {
    store.create(pod('dry-in-tx'), { dryRun: true });
    store.create(pod('real-in-tx'));
  });
  t.notOk(exists(store, POD, 'dry-in-tx'), 'a dry run inside a transaction stores nothing either');
  t.ok(exists(store, POD, 'real-in-tx'), 'while the transaction\'s own writes stay');
  t.same(summary(w.events), ['ADDED Pod real-in-tx']);
});

// ------------------------------------------------------------------------------------ admission

t.test('Admission Controllers: a plugin that throws rejects the write and changes nothing', async (t) => {
  const { store } = newStore();
  const seen: string[] = [];
  const deny: AdmissionPlugin = {
    name: 'deny',
    admit(ctx) {
      seen.push(`${ctx.op} ${ctx.object.metadata.name}${ctx.subresource ? `/${ctx.subresource}` : ''}`);
      if (ctx.object.metadata.labels?.deny || (ctx.op === 'DELETE' && ctx.object.metadata.labels?.keep)) {
        throw new InvalidObjectError({ kind: ctx.info.kind, namespace: ctx.object.metadata.namespace, name: ctx.object.metadata.name }, [
          field.forbidden('metadata.labels', 'denied'),
        ]);
      }
    },
  };
  const defaulter: AdmissionPlugin = {
    name: 'defaulter',
    admit(ctx) {
      if (ctx.op === 'CREATE') ctx.object.metadata.annotations = { defaulted: 'true' };
    },
  };
  store.use(deny).use(defaulter);
  const rv = store.resourceVersion;
  const w = record(store, undefined, { resourceVersion: rv });
  t.throws(() => store.create(pod('bad', { labels: { deny: 'yes' } })), {
    code: 'PODNET_INVALID_OBJECT',
    message: 'Pod default/bad: The Pod "bad" is invalid: metadata.labels: Forbidden: denied',
  });
  t.notOk(exists(store, POD, 'bad'));
  t.equal(store.resourceVersion, rv);

  const ok = store.create(pod('ok', { labels: { keep: 'yes' } }));
  t.same(ok.metadata.annotations, { defaulted: 'true' }, 'a mutating plugin changes what is stored');
  t.throws(() => store.update({ ...ok, metadata: { ...ok.metadata, labels: { deny: 'yes' } } }), { code: 'PODNET_INVALID_OBJECT' });
  t.same(store.getOrThrow(POD, 'default', 'ok').metadata.labels, { keep: 'yes' });
  t.throws(() => store.delete(POD, 'default', 'ok'), { code: 'PODNET_INVALID_OBJECT' });
  t.ok(exists(store, POD, 'ok'));
  t.same(summary(w.events), ['ADDED Pod ok']);
  t.same(seen, ['CREATE bad', 'CREATE ok', 'UPDATE ok', 'DELETE ok']);
});
