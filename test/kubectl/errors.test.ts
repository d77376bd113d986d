// What the real kubectl prints when a running `podnet up` refuses a request: every refusal is the
// Status the apiserver answers with (k8s.io/apimachinery/pkg/api/errors: reason and code), kubectl
// renders it as it does against a real cluster, exits 1, and the cluster is left unchanged.
import t from 'tap';
import { kubectlSuite, type Kubectl } from './harness.js';

/** Every Service and Pod in `default` with its uid and resourceVersion. */
function snapshot(kubectl: Kubectl): string[] {
  const r = kubectl('get', 'services,pods', '--no-headers', '-o', 'custom-columns=KIND:.kind,NAME:.metadata.name,UID:.metadata.uid,RV:.metadata.resourceVersion');
  if (r.code !== 0) throw new Error(`get services,pods: ${r.stderr}`);
  return r.stdout.trimEnd().split('\n');
}

const SERVICES = '/api/v1/namespaces/default/services';

/**
 * Where kubectl's OpenAPI v3 lookup finds no path for a kind (an unknown kind, a v1 List) it
 * validates against /openapi/v2, which client-go asks for as protobuf only; podnet answers 406, so
 * kubectl fails with "error validating data" instead of going on as it does against a cluster.
 */

function service(name: string, port: number | string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ port, targetPort: 8080 }] } };
}

kubectlSuite(t, (podnet) => {
  // Each case POSTs a raw body with `kubectl create --raw PATH -f FILE`, which prints the
  // Status message behind `Error from server (Reason): ` as it prints any API error.
  const raw: { name: string; path?: string; body: string; stderr: string | RegExp; gone?: string }[] = [
    {
      name: 'malformed JSON is a BadRequest',
      body: '{"apiVersion":"v1","kind":"Service",\n',
      stderr: /^Error from server \(BadRequest\): error decoding JSON: .+\n$/,
    },
    {
      name: 'a kind that does not match its path is a BadRequest',
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'mismatched' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }),
      stderr: 'Error from server (BadRequest): the object provided is unrecognized (must be of type Service): kind "Pod" does not match the resource "services"\n',
      gone: 'pod/mismatched',
    },
    {
      name: 'an apiVersion that does not match its path is a BadRequest',
      body: JSON.stringify({ ...service('versioned', 80), apiVersion: 'apps/v1' }),
      stderr: 'Error from server (BadRequest): the API version in the data (apps/v1) does not match the expected API version (v1)\n',
      gone: 'service/versioned',
    },
    {
      name: 'an unknown resource is NotFound',
      path: '/api/v1/namespaces/default/foos',
      body: JSON.stringify(service('foo', 80)),
      stderr: 'Error from server (NotFound): the server could not find the requested resource\n',
      gone: 'service/foo',
    },
    {
      name: 'an unknown group is NotFound',
      path: '/apis/example.com/v1/namespaces/default/foos',
      body: JSON.stringify({ apiVersion: 'example.com/v1', kind: 'Foo', metadata: { name: 'foo' } }),
      stderr: 'Error from server (NotFound): the server could not find the requested resource\n',
    },
    {
      name: 'an invalid object is Invalid, naming the field',
      body: JSON.stringify(service('bad', 70000)),
      stderr: 'The Service "bad" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive\n',
      gone: 'service/bad',
    },
    {
      name: 'an object with several errors lists each cause',
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'worse' }, spec: { ports: [{ port: 0, targetPort: 0 }] } }),
      stderr:
        'The Service "worse" is invalid: \n' +
        '* spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive\n' +
        '* spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive\n',
      gone: 'service/worse',
    },
    {
      name: 'a name that is taken is AlreadyExists',
      body: JSON.stringify(service('web', 80)),
      stderr: 'Error from server (AlreadyExists): services "web" already exists\n',
    },
    {
      name: 'POST to an object rather than its collection is MethodNotAllowed',
      path: `${SERVICES}/web`,
      body: JSON.stringify(service('web', 80)),
      stderr: 'Error from server (MethodNotAllowed): the server does not allow this method on the requested resource\n',
    },
  ];

  for (const c of raw) {
    t.test(`create --raw: ${c.name}, and changes nothing`, async (t) => {
      const kubectl = podnet.kubectl(t);
      const before = snapshot(kubectl);
      const r = kubectl('create', '--raw', c.path ?? SERVICES, '-f', kubectl.file('body.json', c.body));
      t.equal(r.code, 1, 'exit code');
      t.equal(r.stdout, '');
      if (typeof c.stderr === 'string') t.equal(r.stderr, c.stderr);
      else t.match(r.stderr, c.stderr);
      t.same(snapshot(kubectl), before, 'every Service and Pod as it was');
      if (c.gone) {
        const [kind, name] = c.gone.split('/') as [string, string];
        t.same(kubectl('get', kind, name), { code: 1, stdout: '', stderr: `Error from server (NotFound): ${kind}s "${name}" not found\n` });
      }
    });
  }

  t.test('create -f and apply -f of an invalid object print the same Invalid Status and change nothing', async (t) => {
    const kubectl = podnet.kubectl(t);
    const before = snapshot(kubectl);
    const file = kubectl.file('bad.yaml', 'apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  ports:\n    - port: 70000\n      targetPort: 8080\n');
    const invalid = 'The Service "bad" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive\n';
    t.same(kubectl('create', '-f', file), { code: 1, stdout: '', stderr: invalid }, 'create');
    t.same(kubectl('apply', '-f', file), { code: 1, stdout: '', stderr: invalid }, 'apply');
    t.same(kubectl('apply', '--server-side', '-f', file), { code: 1, stdout: '', stderr: invalid }, 'apply --server-side');
    t.same(kubectl('create', '-f', file, '--dry-run=server'), { code: 1, stdout: '', stderr: invalid }, 'create --dry-run=server');
    t.same(snapshot(kubectl), before, 'every Service and Pod as it was');
  });

  t.test('an unknown resource type: kubectl says the server does not have it, exit 1', async (t) => {
    const kubectl = podnet.kubectl(t);
    t.same(kubectl('get', 'foo'), { code: 1, stdout: '', stderr: 'error: the server doesn\'t have a resource type "foo"\n' });
    t.same(kubectl('get', 'foos.example.com', 'x'), { code: 1, stdout: '', stderr: 'error: the server doesn\'t have a resource type "foos"\n' });
    t.same(kubectl('delete', 'foo', 'x'), { code: 1, stdout: '', stderr: 'error: the server doesn\'t have a resource type "foo"\n' });
    t.same(kubectl('get', '--raw', '/api/v1/namespaces/default/foos'), { code: 1, stdout: '', stderr: 'Error from server (NotFound): the server could not find the requested resource\n' });
  });

  t.test('create -f of a kind the server does not serve: no matches for kind, exit 1', async (t) => {
    const kubectl = podnet.kubectl(t);
    const file = kubectl.file('foo.yaml', 'apiVersion: example.com/v1\nkind: Foo\nmetadata:\n  name: x\n');
    t.same(kubectl('create', '-f', file), {
      code: 1,
      stdout: '',
      stderr: `error: resource mapping not found for name: "x" namespace: "" from "${file}": no matches for kind "Foo" in version "example.com/v1"\nensure CRDs are installed first\n`,
    });
  });

  t.test('NotFound on get, describe, patch, label, scale and delete of a missing object', async (t) => {
    const kubectl = podnet.kubectl(t);
    const before = snapshot(kubectl);
    const notFound = { code: 1, stdout: '', stderr: 'Error from server (NotFound): services "nope" not found\n' };
    t.same(kubectl('get', 'service', 'nope'), notFound, 'get');
    t.same(kubectl('get', '--raw', `${SERVICES}/nope`), notFound, 'get --raw');
    t.same(kubectl('patch', 'service', 'nope', '-p', '{"metadata":{"labels":{"a":"b"}}}'), notFound, 'patch');
    t.same(kubectl('label', 'service', 'nope', 'a=b'), notFound, 'label');
    t.same(kubectl('delete', 'service', 'nope'), notFound, 'delete');
    // kubectl scale wraps the Status in its own message (kubectl/pkg/cmd/scale: "no objects passed to scale %w").
    t.same(kubectl('scale', 'deployment', 'nope', '--replicas=2'), { code: 1, stdout: '', stderr: 'error: no objects passed to scale deployments.apps "nope" not found\n' }, 'scale');
    t.same(kubectl('describe', 'service', 'nope'), { code: 1, stdout: '', stderr: 'Error from server (NotFound): services "nope" not found\n' }, 'describe');
    t.same(snapshot(kubectl), before, 'every Service and Pod as it was');
  });

  t.test('a malformed patch is a BadRequest and changes nothing', async (t) => {
    const kubectl = podnet.kubectl(t);
    const before = snapshot(kubectl);
    const r = kubectl('patch', 'service', 'web', '--type=merge', '-p', '{"spec":');
    t.equal(r.code, 1);
    t.equal(r.stdout, '');
    t.match(r.stderr, /^Error from server \(BadRequest\): /);
    const invalid = kubectl('patch', 'service', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/ports/0/port","value":70000}]');
    t.same(invalid, { code: 1, stdout: '', stderr: 'The Service "web" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive\n' });
    t.same(snapshot(kubectl), before, 'every Service and Pod as it was');
  });
});
