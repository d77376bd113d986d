// The real kubectl writing to a running `podnet up topologies/quickstart.yaml`: create, apply
// (client-side and --server-side, first and second time, field-manager conflicts), patch (strategic
// merge, JSON merge, JSON patch), label, scale, set image with rollout status, and delete,
// asserting on what kubectl prints and exits with and on what the API then holds.
import t from 'tap';
import { contains, mustParseCIDR } from '../../lib/core/ipnet.js';
import { deployment, kubectlSuite, table, type Kubectl } from './harness.js';

const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
const AGNHOST_NEXT = 'registry.k8s.io/e2e-test-images/agnhost:2.52';
const POD_CIDR: Record<string, string> = { worker: '10.244.1.0/24', worker2: '10.244.2.0/24' };

/** The object as JSON, read back through kubectl. */
function getJson(kubectl: Kubectl, ...args: string[]): any {
  const r = kubectl('get', ...args, '-o', 'json');
  if (r.code !== 0) throw new Error(`kubectl get ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** `kubectl rollout status` to completion: what it prints last, and its exit code. */
function rolledOut(kubectl: Kubectl, name: string): { code: number | null; last: string | undefined; stderr: string } {
  const r = kubectl('rollout', 'status', `deployment/${name}`, '--timeout=60s');
  return { code: r.code, last: r.stdout.trimEnd().split('\n').at(-1), stderr: r.stderr };
}

function ok(name: string) {
  return { code: 0, last: `deployment "${name}" successfully rolled out`, stderr: '' };
}

kubectlSuite(t, (podnet) => {
  t.test('create: created, then AlreadyExists; the pods run inside their node podCIDRs', async (t) => {
    const kubectl = podnet.kubectl(t);
    const file = kubectl.file('created.yaml', deployment('created'));
    t.same(kubectl('create', '-f', file), { code: 0, stdout: 'deployment.apps/created created\n', stderr: '' });
    t.same(kubectl('create', '-f', file), {
      code: 1,
      stdout: '',
      stderr: `Error from server (AlreadyExists): error when creating "${file}": deployments.apps "created" already exists\n`,
    });
    t.same(rolledOut(kubectl, 'created'), ok('created'));
    const deploy = table(kubectl('get', 'deployment', 'created').stdout);
    t.match(deploy, [{ NAME: 'created', READY: '2/2', 'UP-TO-DATE': '2', AVAILABLE: '2' }]);
    const pods = table(kubectl('get', 'pods', '-l', 'app=created', '-o', 'wide').stdout);
    t.equal(pods.length, 2);
    for (const p of pods) {
      t.match(p, { NAME: /^created-[a-z0-9]{1,10}-[a-z0-9]{5}$/, READY: '1/1', STATUS: 'Running', RESTARTS: '0' });
      const cidr = POD_CIDR[p.NODE!];
      t.ok(cidr && contains(mustParseCIDR(cidr), p.IP!), `${p.NAME}: ${p.IP} is inside ${p.NODE}'s podCIDR`);
    }

    const svc = kubectl.file('svc.yaml', 'apiVersion: v1\nkind: Service\nmetadata:\n  name: created\nspec:\n  selector:\n    app: created\n  ports:\n    - port: 80\n      targetPort: 8080\n');
    t.same(kubectl('create', '-f', svc), { code: 0, stdout: 'service/created created\n', stderr: '' });
    const row = table(kubectl('get', 'service', 'created').stdout)[0]!;
    t.match(row, { NAME: 'created', TYPE: 'ClusterIP', 'EXTERNAL-IP': '<none>', 'PORT(S)': '80/TCP' });
    t.ok(contains(mustParseCIDR('10.96.0.0/12'), row['CLUSTER-IP']!), `ClusterIP ${row['CLUSTER-IP']} from the service range`);
  });

  t.test('apply (client-side): created, unchanged, configured; over a created object, a warning', async (t) => {
    const kubectl = podnet.kubectl(t);
    const file = kubectl.file('applied.yaml', deployment('applied'));
    t.same(kubectl('apply', '-f', file), { code: 0, stdout: 'deployment.apps/applied created\n', stderr: '' });
    t.same(kubectl('apply', '-f', file), { code: 0, stdout: 'deployment.apps/applied unchanged\n', stderr: '' });
    const before = getJson(kubectl, 'deployment', 'applied');
    t.equal(before.metadata.generation, 1, 'an unchanged apply sends nothing');
    t.match(JSON.parse(before.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']), { kind: 'Deployment', spec: { replicas: 2 } });

    kubectl.file('applied.yaml', deployment('applied', { replicas: 3 }));
    t.same(kubectl('apply', '-f', file), { code: 0, stdout: 'deployment.apps/applied configured\n', stderr: '' });
    t.same(rolledOut(kubectl, 'applied'), ok('applied'));
    const after = getJson(kubectl, 'deployment', 'applied');
    t.equal(after.metadata.generation, 2);
    t.equal(after.spec.replicas, 3);
    t.match(JSON.parse(after.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']), { spec: { replicas: 3 } });
    t.match(table(kubectl('get', 'deployment', 'applied').stdout), [{ NAME: 'applied', READY: '3/3', AVAILABLE: '3' }]);

    // Apply over an object that `create` made: kubectl warns, then patches it anyway.
    const other = kubectl.file('made.yaml', deployment('made'));
    t.equal(kubectl('create', '-f', other).code, 0);
    kubectl.file('made.yaml', deployment('made', { replicas: 1 }));
    const r = kubectl('apply', '-f', other);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'deployment.apps/made configured\n');
    t.match(r.stderr, /^Warning: resource deployments\/made is missing the kubectl\.kubernetes\.io\/last-applied-configuration annotation which is required by kubectl apply\./);
    t.equal(getJson(kubectl, 'deployment', 'made').spec.replicas, 1);
  });

  t.test('apply -f of a v1 List applies each item', async (t) => {
    const kubectl = podnet.kubectl(t);
    const list = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: listed
    data:
      a: b
`;
    t.same(kubectl('apply', '-f', kubectl.file('list.yaml', list)), { code: 0, stdout: 'configmap/listed created\n', stderr: '' });
    t.same(kubectl('get', 'configmap', 'listed', '-o', 'jsonpath={.data.a}'), { code: 0, stdout: 'b', stderr: '' });
  });

  t.test('apply --server-side: serverside-applied, and a second identical apply changes nothing', async (t) => {
    const kubectl = podnet.kubectl(t);
    const file = kubectl.file('ssa.yaml', deployment('ssa'));
    t.same(kubectl('apply', '--server-side', '-f', file), { code: 0, stdout: 'deployment.apps/ssa serverside-applied\n', stderr: '' });
    t.same(rolledOut(kubectl, 'ssa'), ok('ssa'));
    const first = getJson(kubectl, 'deployment', 'ssa', '--show-managed-fields');
    t.equal(first.metadata.generation, 1);
    t.match(first.metadata.managedFields, [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } }]);
    t.notOk(first.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], 'server-side apply keeps no last-applied annotation');

    t.same(kubectl('apply', '--server-side', '-f', file), { code: 0, stdout: 'deployment.apps/ssa serverside-applied\n', stderr: '' });
    const second = getJson(kubectl, 'deployment', 'ssa', '--show-managed-fields');
    t.equal(second.metadata.generation, 1, 'the spec did not change');
    t.equal(second.metadata.resourceVersion, first.metadata.resourceVersion, 'a no-op apply writes nothing');
    t.same(second.metadata.managedFields, first.metadata.managedFields, 'nor touches managedFields');
  });

  t.test('apply --server-side by a second manager: 1 conflict with "a", exit 1; --force-conflicts takes the field', async (t) => {
    const kubectl = podnet.kubectl(t);
    const a = kubectl.file('a.yaml', deployment('owned'));
    const b = kubectl.file('b.yaml', deployment('owned', { replicas: 3 }));
    t.same(kubectl('apply', '--server-side', '--field-manager=a', '-f', a), { code: 0, stdout: 'deployment.apps/owned serverside-applied\n', stderr: '' });
    const conflict = kubectl('apply', '--server-side', '--field-manager=b', '-f', b);
    t.equal(conflict.code, 1);
    t.equal(conflict.stdout, '');
    t.match(conflict.stderr, /^error: Apply failed with 1 conflict: conflict with "a": \.spec\.replicas\n/);
    t.match(conflict.stderr, /re-run the apply\n {2}command with the `--force-conflicts` flag/);
    t.equal(getJson(kubectl, 'deployment', 'owned').spec.replicas, 2, 'the conflicting apply changed nothing');

    t.same(kubectl('apply', '--server-side', '--field-manager=b', '--force-conflicts', '-f', b), { code: 0, stdout: 'deployment.apps/owned serverside-applied\n', stderr: '' });
    const owned = getJson(kubectl, 'deployment', 'owned', '--show-managed-fields');
    t.equal(owned.spec.replicas, 3);
    const byManager = Object.fromEntries(owned.metadata.managedFields.map((m: any) => [m.manager, m]));
    t.ok(byManager.b?.fieldsV1['f:spec']['f:replicas'], 'b now manages spec.replicas');
    t.notOk(byManager.a?.fieldsV1['f:spec']['f:replicas'], 'a no longer does');
    t.ok(byManager.a?.fieldsV1['f:spec']['f:template'], 'a still co-owns the fields both applied with equal values');
    t.same(rolledOut(kubectl, 'owned'), ok('owned'));
  });

  t.test('patch: strategic merge keys containers by name, merge patch sets labels, JSON patch replaces', async (t) => {
    const kubectl = podnet.kubectl(t);
    t.equal(kubectl('create', '-f', kubectl.file('patched.yaml', deployment('patched'))).code, 0);

    const strategic = JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'netexec', image: AGNHOST_NEXT }] } } } });
    t.same(kubectl('patch', 'deployment', 'patched', '-p', strategic), { code: 0, stdout: 'deployment.apps/patched patched\n', stderr: '' });
    let d = getJson(kubectl, 'deployment', 'patched');
    t.same(
      d.spec.template.spec.containers.map((c: any) => [c.name, c.image, c.args]),
      [['netexec', AGNHOST_NEXT, ['netexec', '--http-port=8080']]],
      'the container list was merged by name, its args kept',
    );

    const merge = JSON.stringify({ metadata: { labels: { tier: 'backend' } } });
    t.same(kubectl('patch', 'deployment', 'patched', '--type=merge', '-p', merge), { code: 0, stdout: 'deployment.apps/patched patched\n', stderr: '' });
    t.same(getJson(kubectl, 'deployment', 'patched').metadata.labels, { app: 'patched', tier: 'backend' });

    const json = JSON.stringify([{ op: 'replace', path: '/spec/replicas', value: 3 }]);
    t.same(kubectl('patch', 'deployment', 'patched', '--type=json', '-p', json), { code: 0, stdout: 'deployment.apps/patched patched\n', stderr: '' });
    t.same(kubectl('patch', 'deployment', 'patched', '--type=json', '-p', json), { code: 0, stdout: 'deployment.apps/patched patched (no change)\n', stderr: '' });
    t.same(rolledOut(kubectl, 'patched'), ok('patched'));
    d = getJson(kubectl, 'deployment', 'patched');
    t.equal(d.spec.replicas, 3);
    t.equal(d.metadata.generation, 3, 'two spec changes after create; the label and the no-op did not bump it');
    const images = kubectl('get', 'pods', '-l', 'app=patched', '-o', 'jsonpath={.items[*].spec.containers[0].image}');
    t.same(images.stdout.split(' '), [AGNHOST_NEXT, AGNHOST_NEXT, AGNHOST_NEXT]);

    const failed = kubectl('patch', 'deployment', 'patched', '--type=json', '-p', JSON.stringify([{ op: 'test', path: '/spec/replicas', value: 9 }]));
    t.equal(failed.code, 1, 'a failing JSON patch test op');
    t.match(failed.stderr, /^Error from server \(\w+\): /);
    t.equal(getJson(kubectl, 'deployment', 'patched').metadata.resourceVersion, d.metadata.resourceVersion, 'changed nothing');
  });

  t.test('label: labeled, refused without --overwrite, overwritten, unlabeled', async (t) => {
    const kubectl = podnet.kubectl(t);
    t.equal(kubectl('create', '-f', kubectl.file('labeled.yaml', deployment('labeled', { replicas: 1 }))).code, 0);
    t.same(kubectl('label', 'deployment', 'labeled', 'tier=a'), { code: 0, stdout: 'deployment.apps/labeled labeled\n', stderr: '' });
    t.same(kubectl('label', 'deployment', 'labeled', 'tier=b'), { code: 1, stdout: '', stderr: "error: 'tier' already has a value (a), and --overwrite is false\n" });
    t.same(kubectl('label', 'deployment', 'labeled', 'tier=b', '--overwrite'), { code: 0, stdout: 'deployment.apps/labeled labeled\n', stderr: '' });
    t.match(table(kubectl('get', 'deployment', 'labeled', '--show-labels').stdout), [{ NAME: 'labeled', LABELS: 'app=labeled,tier=b' }]);
    t.same(kubectl('label', 'deployment', 'labeled', 'tier-'), { code: 0, stdout: 'deployment.apps/labeled unlabeled\n', stderr: '' });
    t.same(getJson(kubectl, 'deployment', 'labeled').metadata.labels, { app: 'labeled' });

    t.same(rolledOut(kubectl, 'labeled'), ok('labeled'));
    const pod = table(kubectl('get', 'pods', '-l', 'app=labeled').stdout)[0]!.NAME!;
    t.same(kubectl('label', 'pods', '-l', 'app=labeled', 'role=picked'), { code: 0, stdout: `pod/${pod} labeled\n`, stderr: '' });
    t.match(table(kubectl('get', 'pods', '-l', 'role=picked').stdout), [{ NAME: pod }]);
    t.same(kubectl('label', 'pod', 'nope', 'x=y'), { code: 1, stdout: '', stderr: 'Error from server (NotFound): pods "nope" not found\n' });
  });

  t.test('scale: scaled up and down through the scale subresource; a wrong --current-replicas refused', async (t) => {
    const kubectl = podnet.kubectl(t);
    t.equal(kubectl('create', '-f', kubectl.file('scaled.yaml', deployment('scaled'))).code, 0);
    t.same(kubectl('scale', 'deployment', 'scaled', '--replicas=4'), { code: 0, stdout: 'deployment.apps/scaled scaled\n', stderr: '' });
    t.same(rolledOut(kubectl, 'scaled'), ok('scaled'));
    t.match(table(kubectl('get', 'deployment', 'scaled').stdout), [{ NAME: 'scaled', READY: '4/4', 'UP-TO-DATE': '4', AVAILABLE: '4' }]);
    const pods = table(kubectl('get', 'pods', '-l', 'app=scaled').stdout);
    t.same(pods.map((p) => [p.READY, p.STATUS]), Array(4).fill(['1/1', 'Running']));

    t.same(kubectl('scale', 'deployment', 'scaled', '--current-replicas=3', '--replicas=1'), { code: 1, stdout: '', stderr: 'error: Expected replicas to be 3, was 4\n' });
    t.same(kubectl('scale', 'deployment', 'scaled', '--current-replicas=4', '--replicas=1'), { code: 0, stdout: 'deployment.apps/scaled scaled\n', stderr: '' });
    t.same(rolledOut(kubectl, 'scaled'), ok('scaled'));
    t.match(table(kubectl('get', 'deployment', 'scaled').stdout), [{ NAME: 'scaled', READY: '1/1', 'UP-TO-DATE': '1', AVAILABLE: '1' }]);
    t.same(table(kubectl('get', 'replicasets', '-l', 'app=scaled').stdout).map((r) => [r.DESIRED, r.CURRENT, r.READY]), [['1', '1', '1']]);
  });

  t.test('set image, then rollout status waits for the new ReplicaSet; the old one is scaled to 0', async (t) => {
    const kubectl = podnet.kubectl(t);
    t.equal(kubectl('create', '-f', kubectl.file('rolled.yaml', deployment('rolled', { replicas: 3 }))).code, 0);
    t.same(rolledOut(kubectl, 'rolled'), ok('rolled'));
    const oldRs = table(kubectl('get', 'replicasets', '-l', 'app=rolled').stdout)[0]!.NAME!;

    t.same(kubectl('set', 'image', 'deployment/rolled', `netexec=${AGNHOST_NEXT}`), { code: 0, stdout: 'deployment.apps/rolled image updated\n', stderr: '' });
    t.same(rolledOut(kubectl, 'rolled'), ok('rolled'));
    const rs = table(kubectl('get', 'replicasets', '-l', 'app=rolled', '-o', 'wide').stdout);
    t.equal(rs.length, 2);
    t.match(rs.find((r) => r.NAME === oldRs), { DESIRED: '0', CURRENT: '0', READY: '0', IMAGES: AGNHOST });
    t.match(rs.find((r) => r.NAME !== oldRs), { NAME: /^rolled-[a-z0-9]{1,10}$/, DESIRED: '3', CURRENT: '3', READY: '3', IMAGES: AGNHOST_NEXT });
    const newRs = rs.find((r) => r.NAME !== oldRs)!.NAME!;
    const pods = table(kubectl('get', 'pods', '-l', 'app=rolled').stdout);
    t.same(pods.map((p) => [p.NAME!.slice(0, newRs.length + 1), p.READY, p.STATUS]), Array(3).fill([`${newRs}-`, '1/1', 'Running']), 'every pod is from the new ReplicaSet');
    t.match(table(kubectl('get', 'deployment', 'rolled').stdout), [{ READY: '3/3', 'UP-TO-DATE': '3', AVAILABLE: '3' }]);
    t.equal(getJson(kubectl, 'deployment', 'rolled').metadata.annotations['deployment.kubernetes.io/revision'], '2');
  });

  t.test('delete: deleted by name, by file and by selector; NotFound, or nothing with --ignore-not-found', async (t) => {
    const kubectl = podnet.kubectl(t);
    const file = kubectl.file('deleted.yaml', deployment('deleted'));
    t.equal(kubectl('create', '-f', file).code, 0);
    t.same(rolledOut(kubectl, 'deleted'), ok('deleted'));

    const [first] = table(kubectl('get', 'pods', '-l', 'app=deleted').stdout);
    t.same(kubectl('delete', 'pod', first!.NAME!), { code: 0, stdout: `pod "${first!.NAME}" deleted\n`, stderr: '' });
    t.same(rolledOut(kubectl, 'deleted'), ok('deleted'));
    const replaced = table(kubectl('get', 'pods', '-l', 'app=deleted').stdout);
    t.equal(replaced.length, 2, 'the ReplicaSet replaced the deleted pod');
    t.notOk(replaced.some((p) => p.NAME === first!.NAME));

    t.same(kubectl('delete', '-f', file), { code: 0, stdout: 'deployment.apps "deleted" deleted\n', stderr: '' });
    t.same(kubectl('get', 'deployment', 'deleted'), { code: 1, stdout: '', stderr: 'Error from server (NotFound): deployments.apps "deleted" not found\n' });
    // The garbage collector takes the ReplicaSet and its pods.
    const waited = kubectl('wait', '--for=delete', 'pods', '-l', 'app=deleted', '--timeout=30s');
    t.equal(waited.code, 0, waited.stderr);
    t.same(kubectl('get', 'replicasets,pods', '-l', 'app=deleted'), { code: 0, stdout: '', stderr: 'No resources found in default namespace.\n' });

    t.equal(kubectl('create', '-f', kubectl.file('gone.yaml', deployment('gone', { replicas: 1 }))).code, 0);
    t.same(kubectl('delete', 'deployments', '-l', 'app=gone'), { code: 0, stdout: 'deployment.apps "gone" deleted\n', stderr: '' });
    t.same(kubectl('delete', 'deployment', 'gone'), { code: 1, stdout: '', stderr: 'Error from server (NotFound): deployments.apps "gone" not found\n' });
    t.same(kubectl('delete', 'deployment', 'gone', '--ignore-not-found'), { code: 0, stdout: '', stderr: '' });
  });
});
