// The API server's REST layer over real HTTPS requests, per the Kubernetes "API Concepts" page:
// Status errors, pagination with limit/continue, watch from a resourceVersion (410 Expired as an
// ERROR event), bookmarks, Table and PartialObjectMetadata rendering, and bearer-token auth.
import t from 'tap';
import https from 'node:https';
import { Cluster } from '../../../lib/cluster.js';
import { ApiServer, isLoopback, managerFromUserAgent } from '../../../lib/apiserver/server/server.js';
import { parseResourcePath, negotiate } from '../../../lib/apiserver/server/request.js';

interface Reply {
  code: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => any;
}

async function boot(t: { teardown(fn: () => unknown): void }, options: { token?: string; historyLimit?: number } = {}) {
  const cluster = await Cluster.fromFiles(['topologies/quickstart.yaml'], options.historyLimit ? { historyLimit: options.historyLimit } : {});
  const server = new ApiServer(cluster.store, { port: 0, ...(options.token ? { token: options.token } : {}) });
  const address = await server.listen();
  t.teardown(async () => {
    await server.close();
    await cluster.stop();
  });
  const request = (method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = https.request(new URL(path, address.url), { method, ca: address.caPem, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ code: res.statusCode!, headers: res.headers, body: text, json: () => JSON.parse(text) });
        });
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  return { cluster, server, address, request };
}

t.test('paths parse as the apiserver RequestInfo does', async (t) => {
  t.match(parseResourcePath('/api/v1/namespaces/default/pods/web-1/status'), { namespace: 'default', name: 'web-1', subresource: 'status', info: { kind: 'Pod' } });
  t.match(parseResourcePath('/api/v1/namespaces/default'), { name: 'default', namespace: undefined, info: { kind: 'Namespace' } });
  t.match(parseResourcePath('/apis/apps/v1/namespaces/x/deployments/d/scale'), { subresource: 'scale', info: { kind: 'Deployment' } });
  t.match(parseResourcePath('/apis/gateway.networking.k8s.io/v1beta1/namespaces/x/httproutes'), { info: { kind: 'HTTPRoute' } });
  t.equal(parseResourcePath('/api/v1/namespaces/default/widgets'), undefined);
  t.equal(parseResourcePath('/api/v1/namespaces/default/services/x/scale'), undefined, 'no scale subresource on Services');
  t.same(negotiate('application/json;as=Table;v=v1;g=meta.k8s.io,application/json'), { as: 'table', version: 'v1' });
  t.same(negotiate('application/vnd.kubernetes.protobuf, */*'), { as: 'json' });
  t.equal(managerFromUserAgent('kubectl/v1.32.4 (linux/amd64) kubernetes/abc'), 'kubectl');
  t.ok(isLoopback('127.0.0.5') && isLoopback('::1') && !isLoopback('10.0.0.1') && !isLoopback('0.0.0.0'));
});

t.test('the API server refuses to bind outside loopback', async (t) => {
  const cluster = await Cluster.fromFiles(['topologies/quickstart.yaml']);
  t.teardown(() => cluster.stop());
  await t.rejects(new ApiServer(cluster.store, { host: '0.0.0.0', port: 0 }).listen(), { code: 'PODNET_NOT_LOOPBACK' });
});

t.test('Status errors: 404, 409, 422, 400 for malformed JSON and a mismatched kind, 415 for an unknown patch type', async (t) => {
  const { request, cluster } = await boot(t);
  const rv = cluster.store.resourceVersion;
  const missing = await request('GET', '/api/v1/namespaces/default/pods/nope');
  t.equal(missing.code, 404);
  t.match(missing.json(), { kind: 'Status', status: 'Failure', reason: 'NotFound', message: 'pods "nope" not found', details: { name: 'nope', kind: 'pods' }, code: 404 });
  const unknown = await request('GET', '/api/v1/namespaces/default/widgets');
  t.match(unknown.json(), { reason: 'NotFound', message: 'the server could not find the requested resource', code: 404 });
  const malformed = await request('POST', '/api/v1/namespaces/default/configmaps', '{"apiVersion": "v1", "kind": ', { 'Content-Type': 'application/json' });
  t.equal(malformed.code, 400);
  t.match(malformed.json(), { reason: 'BadRequest' });
  const mismatch = await request(
    'POST',
    '/api/v1/namespaces/default/configmaps',
    JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } }),
    { 'Content-Type': 'application/json' },
  );
  t.equal(mismatch.code, 400);
  t.match(mismatch.json().message, 'the object provided is unrecognized (must be of type ConfigMap)');
  const invalid = await request(
    'POST',
    '/api/v1/namespaces/default/services',
    JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'bad' }, spec: { ports: [{ port: 70000, targetPort: 80 }] } }),
    { 'Content-Type': 'application/json' },
  );
  t.equal(invalid.code, 422);
  t.match(invalid.json(), {
    reason: 'Invalid',
    message: 'Service "bad" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive',
    details: { name: 'bad', kind: 'Service', causes: [{ reason: 'FieldValueInvalid', field: 'spec.ports[0].port' }] },
  });
  const exists = await request('POST', '/api/v1/namespaces/default/services', JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } }), {
    'Content-Type': 'application/json',
  });
  t.match(exists.json(), { reason: 'AlreadyExists', code: 409, message: 'services "web" already exists' });
  const patch = await request('PATCH', '/api/v1/namespaces/default/services/web', '{}', { 'Content-Type': 'text/plain' });
  t.equal(patch.code, 415);
  t.match(patch.json(), { reason: 'UnsupportedMediaType' });
  t.equal(cluster.store.resourceVersion, rv, 'none of the failed requests changed anything');
});

t.test('a stale resourceVersion on update is a 409 Conflict', async (t) => {
  const { request } = await boot(t);
  const svc = (await request('GET', '/api/v1/namespaces/default/services/web')).json();
  svc.metadata.labels = { a: 'b' };
  const ok = await request('PUT', '/api/v1/namespaces/default/services/web', JSON.stringify(svc), { 'Content-Type': 'application/json' });
  t.equal(ok.code, 200);
  const stale = await request('PUT', '/api/v1/namespaces/default/services/web', JSON.stringify(svc), { 'Content-Type': 'application/json' });
  t.equal(stale.code, 409);
  t.match(stale.json(), { reason: 'Conflict', message: /the object has been modified; please apply your changes to the latest version and try again/ });
});

t.test('API Concepts "Retrieving large results sets in chunks": limit and continue', async (t) => {
  const { request } = await boot(t);
  const all = (await request('GET', '/api/v1/pods')).json();
  t.equal(all.kind, 'PodList');
  t.equal(all.items.length, 4);
  const names: string[] = [];
  let cont = '';
  let pages = 0;
  do {
    const page = (await request('GET', `/api/v1/pods?limit=3${cont ? `&continue=${cont}` : ''}`)).json();
    pages++;
    names.push(...page.items.map((p: any) => p.metadata.name));
    if (page.metadata.continue) t.equal(page.metadata.remainingItemCount, all.items.length - names.length);
    cont = page.metadata.continue ?? '';
  } while (cont);
  t.equal(pages, 2);
  t.same(names, all.items.map((p: any) => p.metadata.name));
  const bad = await request('GET', '/api/v1/pods?limit=1&continue=garbage!');
  t.equal(bad.code, 400);
});

function readEvents(res: import('node:http').IncomingMessage, until: (events: any[]) => boolean): Promise<any[]> {
  return new Promise((resolve) => {
    const events: any[] = [];
    let buffer = '';
    res.on('data', (c: Buffer) => {
      buffer += c.toString();
      let i;
      while ((i = buffer.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buffer.slice(0, i)));
        buffer = buffer.slice(i + 1);
      }
      if (until(events)) {
        res.destroy();
        resolve(events);
      }
    });
    res.on('end', () => resolve(events));
  });
}

t.test('API Concepts "Efficient detection of changes": watch from a resourceVersion streams changes in order', async (t) => {
  const { address, request } = await boot(t);
  const list = (await request('GET', '/api/v1/namespaces/default/configmaps')).json();
  const res = await new Promise<import('node:http').IncomingMessage>((resolve) =>
    https.get(new URL(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${list.metadata.resourceVersion}`, address.url), { ca: address.caPem }, resolve),
  );
  t.equal(res.statusCode, 200);
  const events = readEvents(res, (e) => e.length >= 3);
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w' }, data: { a: '1' } };
  await request('POST', '/api/v1/namespaces/default/configmaps', JSON.stringify(cm), { 'Content-Type': 'application/json' });
  await request('PATCH', '/api/v1/namespaces/default/configmaps/w', JSON.stringify({ data: { a: '2' } }), { 'Content-Type': 'application/merge-patch+json' });
  await request('DELETE', '/api/v1/namespaces/default/configmaps/w');
  const got = await events;
  t.same(got.map((e) => [e.type, e.object.data?.a]), [['ADDED', '1'], ['MODIFIED', '2'], ['DELETED', '2']]);
});

t.test('API Concepts "Resource versions": a compacted resourceVersion gets a 410 Expired ERROR event', async (t) => {
  const { address, cluster } = await boot(t, { historyLimit: 5 });
  for (let i = 0; i < 10; i++) cluster.store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}`, namespace: 'default' } });
  const watch = async (rv: string) => {
    const res = await new Promise<import('node:http').IncomingMessage>((resolve) =>
      https.get(new URL(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}`, address.url), { ca: address.caPem }, resolve),
    );
    t.equal(res.statusCode, 200, 'a watch answers 200 and reports the error in the stream');
    return readEvents(res, (e) => e.length >= 1);
  };
  const [expired] = await watch('1');
  t.match(expired, { type: 'ERROR', object: { kind: 'Status', reason: 'Expired', code: 410, message: /^too old resource version: 1 \(\d+\)$/ } });
  const [invalid] = await watch('abc');
  t.match(invalid, { type: 'ERROR', object: { kind: 'Status', code: 400 } }, 'an invalid resourceVersion is an ERROR event too');
});

t.test('watch with allowWatchBookmarks and sendInitialEvents ends the initial list with a bookmark', async (t) => {
  const { address } = await boot(t);
  const res = await new Promise<import('node:http').IncomingMessage>((resolve) =>
    https.get(new URL('/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan', address.url), { ca: address.caPem }, resolve),
  );
  const events = await readEvents(res, (e) => e.some((x) => x.type === 'BOOKMARK'));
  t.same(events.slice(0, -1).map((e) => e.type), ['ADDED', 'ADDED', 'ADDED', 'ADDED']);
  t.match(events.at(-1), { type: 'BOOKMARK', object: { kind: 'Pod', metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } } });
});

t.test('watch ends after timeoutSeconds', async (t) => {
  const { address } = await boot(t);
  const res = await new Promise<import('node:http').IncomingMessage>((resolve) =>
    https.get(new URL('/api/v1/namespaces/default/services?watch=true&timeoutSeconds=1', address.url), { ca: address.caPem }, resolve),
  );
  const events = await readEvents(res, () => false);
  t.same(events.map((e) => e.type), ['ADDED', 'ADDED'], 'the initial state, then the stream closed by itself');
});

t.test('Table and PartialObjectMetadata rendering', async (t) => {
  const { request } = await boot(t);
  const table = (await request('GET', '/api/v1/namespaces/default/pods', undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' })).json();
  t.equal(table.kind, 'Table');
  t.same(table.columnDefinitions.map((c: any) => c.name), ['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node', 'Nominated Node', 'Readiness Gates']);
  t.same(table.columnDefinitions.filter((c: any) => c.priority === 1).map((c: any) => c.name), ['IP', 'Node', 'Nominated Node', 'Readiness Gates']);
  t.equal(table.rows.length, 4);
  t.equal(table.rows[0].object.kind, 'PartialObjectMetadata');
  const partial = (await request('GET', '/api/v1/namespaces/default/services', undefined, { Accept: 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io' })).json();
  t.equal(partial.kind, 'PartialObjectMetadataList');
  t.same(partial.items.map((i: any) => i.metadata.name), ['kubernetes', 'web']);
});

t.test('scale subresource reads and writes autoscaling/v1 Scale', async (t) => {
  const { request, cluster } = await boot(t);
  const scale = (await request('GET', '/apis/apps/v1/namespaces/default/deployments/web/scale')).json();
  t.match(scale, { kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 3 }, status: { replicas: 3, selector: 'app=web' } });
  const patched = await request('PATCH', '/apis/apps/v1/namespaces/default/deployments/web/scale', JSON.stringify({ spec: { replicas: 5 } }), { 'Content-Type': 'application/merge-patch+json' });
  t.equal(patched.code, 200);
  await cluster.settle();
  t.equal(cluster.list('pods', { labelSelector: 'app=web' }).length, 5);
});

t.test('--token: requests without the bearer token get 401 Unauthorized', async (t) => {
  const { request } = await boot(t, { token: 'sekret' });
  const denied = await request('GET', '/api/v1/namespaces/default/pods');
  t.equal(denied.code, 401);
  t.match(denied.json(), { kind: 'Status', reason: 'Unauthorized', code: 401 });
  t.equal((await request('GET', '/version', undefined, { Authorization: 'Bearer wrong' })).code, 401);
  const ok = await request('GET', '/version', undefined, { Authorization: 'Bearer sekret' });
  t.equal(ok.code, 200);
  t.equal(ok.json().gitVersion, 'v1.32.0');
});
