import t from 'tap';
import { InvalidObjectError } from '../../../lib/core/errors.js';
import type { KubeObject } from '../../../lib/api/meta.js';
import { lookupKind } from '../../../lib/api/scheme.js';
import { ObjectStore, type AdmissionContext } from '../../../lib/apiserver/store.js';
import { defaulting } from '../../../lib/apiserver/defaults.js';
import { validation } from '../../../lib/apiserver/validation/index.js';

const SERVICE = lookupKind('v1', 'Service')!;
const POD = lookupKind('v1', 'Pod')!;
const NAMESPACE = lookupKind('v1', 'Namespace')!;

function newStore(): ObjectStore {
  const store = new ObjectStore().use(defaulting).use(validation);
  store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  return store;
}

/** The "Service" concept page's my-service, with a port out of range. */
const badService: KubeObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'my-service' },
  spec: { selector: { 'app.kubernetes.io/name': 'MyApp' }, ports: [{ protocol: 'TCP', port: 70000, targetPort: 9376 }] },
};

t.test('an invalid create throws InvalidObjectError and leaves the store unchanged', async (t) => {
  const store = newStore();
  const rv = store.resourceVersion;
  const events: string[] = [];
  store.watch(undefined, { resourceVersion: rv }, (e) => events.push(`${e.type} ${e.object.kind}`));
  const err = t.throws(() => store.create(badService)) as InvalidObjectError;
  t.type(err, InvalidObjectError);
  t.equal(err.code, 'PODNET_INVALID_OBJECT');
  t.same(err.object, { kind: 'Service', namespace: 'default', name: 'my-service' });
  t.same(err.causes.map((c) => c.field), ['spec.ports[0].port']);
  t.match(err.message, /The Service "my-service" is invalid: spec\.ports\[0\]\.port: Invalid value: 70000: must be between 1 and 65535, inclusive$/);
  t.equal(store.resourceVersion, rv, 'no resourceVersion consumed');
  t.equal(store.get(SERVICE, 'default', 'my-service'), undefined, 'nothing stored');
  t.same(events, [], 'no watch event');
});

t.test('a valid create is defaulted, then stored', async (t) => {
  const store = newStore();
  const svc = store.create({ ...badService, spec: { ...badService.spec, ports: [{ port: 80, targetPort: 9376 }] } });
  t.equal(svc.spec.type, 'ClusterIP');
  t.equal(svc.spec.sessionAffinity, 'None');
  t.same(svc.spec.ports, [{ port: 80, targetPort: 9376, protocol: 'TCP' }]);
  const ns = store.get(NAMESPACE, undefined, 'default')!;
  t.equal(ns.metadata.labels?.['kubernetes.io/metadata.name'], 'default');
  t.equal(ns.status?.phase, 'Active');
});

t.test('updates: pod spec immutability and status writes are validated', async (t) => {
  const store = newStore();
  const pod = store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'web', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] } });
  t.equal(pod.status?.phase, 'Pending');
  const moved = structuredClone(pod);
  moved.spec.containers[0].ports[0].containerPort = 8080;
  const err = t.throws(() => store.update(moved)) as InvalidObjectError;
  t.match(err.message, /spec: Forbidden: pod updates may not change fields other than `spec\.containers\[\*\]\.image`/);
  t.equal(store.get(POD, 'default', 'web')!.spec.containers[0].ports[0].containerPort, 80);
  const bound = structuredClone(pod);
  bound.spec.nodeName = 'worker-1';
  t.equal(store.update(bound).spec.nodeName, 'worker-1', 'binding to a node is an allowed update');
  const status = store.get(POD, 'default', 'web')!;
  status.status = { phase: 'Running', podIP: '10.244.1.300' };
  const statusErr = t.throws(() => store.update(status, { subresource: 'status' })) as InvalidObjectError;
  t.same(statusErr.causes.map((c) => c.field), ['status.podIP']);
  status.status = { phase: 'Running', podIP: '10.244.1.3', podIPs: [{ ip: '10.244.1.3' }] };
  t.equal(store.update(status, { subresource: 'status' }).status.podIP, '10.244.1.3');
});

t.test('the namespace label cannot be removed', async (t) => {
  const store = newStore();
  const ns = store.get(NAMESPACE, undefined, 'default')!;
  ns.metadata.labels = {};
  t.equal(store.update(ns).metadata.labels?.['kubernetes.io/metadata.name'], 'default');
});

t.test('the plugins leave deletes alone', async (t) => {
  const ctx = { op: 'DELETE', object: badService, old: badService } as unknown as AdmissionContext;
  t.doesNotThrow(() => validation.admit(ctx));
  t.doesNotThrow(() => defaulting.admit(ctx));
  t.equal(badService.spec.ports[0].port, 70000);
  t.equal(validation.name, 'validation');
  t.equal(defaulting.name, 'defaulting');
});
