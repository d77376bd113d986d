// The real kubectl reading a running `podnet up topologies/quickstart.yaml`: get (tables, -o wide,
// -o yaml, custom columns, -l, --show-labels, -w), describe and raw reads, asserting on what
// kubectl prints and exits with, as against a kind cluster with the same manifests.
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { contains, mustParseCIDR } from '../../lib/core/ipnet.js';
import { deployment, headers, kubectlSuite, table } from './harness.js';

/** The quickstart's nodes as its Cluster document declares them (kind's addressing). */
const NODES = [
  { name: 'control-plane', role: 'control-plane', ip: '172.18.0.2', podCIDR: '10.244.0.0/24' },
  { name: 'worker', role: '<none>', ip: '172.18.0.3', podCIDR: '10.244.1.0/24' },
  { name: 'worker2', role: '<none>', ip: '172.18.0.4', podCIDR: '10.244.2.0/24' },
];

const AGE = /^\d+[smhd]/;
const WEB_POD = /^web-[a-z0-9]{1,10}-[a-z0-9]{5}$/;

kubectlSuite(t, (podnet) => {
  t.test('get nodes -o wide: three Ready nodes with their roles and InternalIPs', async (t) => {
    const kubectl = podnet.kubectl(t);
    const r = kubectl('get', 'nodes', '-o', 'wide');
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stderr, '');
    t.same(headers(r.stdout), ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', 'INTERNAL-IP', 'EXTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION', 'CONTAINER-RUNTIME']);
    const rows = table(r.stdout);
    t.same(
      rows.map((n) => [n.NAME, n.STATUS, n.ROLES, n.VERSION, n['INTERNAL-IP'], n['EXTERNAL-IP']]),
      NODES.map((n) => [n.name, 'Ready', n.role, 'v1.32.0', n.ip, '<none>']),
    );
    for (const n of rows) t.match(n.AGE, AGE);

    const cidrs = kubectl('get', 'nodes', '-o', 'custom-columns=NAME:.metadata.name,CIDR:.spec.podCIDR');
    t.equal(cidrs.code, 0, cidrs.stderr);
    t.same(table(cidrs.stdout), NODES.map((n) => ({ NAME: n.name, CIDR: n.podCIDR })));
  });

  t.test('get pods -o wide: four Running pods, each IP inside its node podCIDR', async (t) => {
    const kubectl = podnet.kubectl(t);
    const r = kubectl('get', 'pods', '-o', 'wide');
    t.equal(r.code, 0, r.stderr);
    t.same(headers(r.stdout), ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    const rows = table(r.stdout);
    t.equal(rows.length, 4, 'three web replicas and the client');
    t.equal(rows[0]!.NAME, 'client', 'sorted by name');
    t.equal(rows.filter((p) => WEB_POD.test(p.NAME!)).length, 3);
    for (const p of rows) {
      t.same([p.READY, p.STATUS, p.RESTARTS, p['NOMINATED NODE'], p['READINESS GATES']], ['1/1', 'Running', '0', '<none>', '<none>'], p.NAME);
      t.match(p.AGE, AGE);
      const node = NODES.find((n) => n.name === p.NODE);
      t.ok(node && node.name !== 'control-plane', `${p.NAME} runs on a worker (${p.NODE})`);
      if (node) t.ok(contains(mustParseCIDR(node.podCIDR), p.IP!), `${p.NAME}: ${p.IP} is inside ${node.name}'s ${node.podCIDR}`);
    }
    t.equal(new Set(rows.map((p) => p.IP)).size, 4, 'distinct pod IPs');
  });

  t.test('get deployments, replicasets and services: READY 3/3, the Service ClusterIPs', async (t) => {
    const kubectl = podnet.kubectl(t);
    const deploy = kubectl('get', 'deployments', '-o', 'wide');
    t.equal(deploy.code, 0, deploy.stderr);
    t.same(headers(deploy.stdout), ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR']);
    t.match(table(deploy.stdout), [
      {
        NAME: 'web',
        READY: '3/3',
        'UP-TO-DATE': '3',
        AVAILABLE: '3',
        AGE,
        CONTAINERS: 'netexec',
        IMAGES: 'registry.k8s.io/e2e-test-images/agnhost:2.53',
        SELECTOR: 'app=web',
      },
    ]);
    t.equal(table(deploy.stdout).length, 1);

    const rs = kubectl('get', 'replicasets');
    t.equal(rs.code, 0, rs.stderr);
    const rsRows = table(rs.stdout);
    t.equal(rsRows.length, 1);
    t.match(rsRows[0], { NAME: /^web-[a-z0-9]{1,10}$/, DESIRED: '3', CURRENT: '3', READY: '3' });

    const svc = kubectl('get', 'services', '-o', 'wide');
    t.equal(svc.code, 0, svc.stderr);
    t.same(headers(svc.stdout), ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR']);
    const svcRows = table(svc.stdout);
    t.same(
      svcRows.map((s) => [s.NAME, s.TYPE, s['EXTERNAL-IP'], s['PORT(S)'], s.SELECTOR]),
      [
        ['kubernetes', 'ClusterIP', '<none>', '443/TCP', '<none>'],
        ['web', 'ClusterIP', '<none>', '80/TCP', 'app=web'],
      ],
    );
    t.equal(svcRows[0]!['CLUSTER-IP'], '10.96.0.1', 'the first address of the service range');
    t.ok(contains(mustParseCIDR('10.96.0.0/12'), svcRows[1]!['CLUSTER-IP']!), `web's ClusterIP ${svcRows[1]!['CLUSTER-IP']} is in 10.96.0.0/12`);

    const slices = kubectl('get', 'endpointslices', '-l', 'kubernetes.io/service-name=web');
    t.equal(slices.code, 0, slices.stderr);
    const [slice] = table(slices.stdout);
    t.match(slice, { NAME: /^web-[a-z0-9]{5}$/, ADDRESSTYPE: 'IPv4', PORTS: '8080' });
    const webIPs = table(kubectl('get', 'pods', '-l', 'app=web', '-o', 'wide').stdout).map((p) => p.IP).sort();
    t.same(slice!.ENDPOINTS!.split(',').sort(), webIPs, 'the slice lists the three web pod IPs');
  });

  t.test('get -l filters by label selector; no match prints "No resources found" and exits 0', async (t) => {
    const kubectl = podnet.kubectl(t);
    // Label selector syntax: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
    const cases: [selector: string, web: number, client: boolean][] = [
      ['app=web', 3, false],
      ['app==client', 0, true],
      ['app!=web', 0, true],
      ['app in (web,client)', 3, true],
      ['app notin (web)', 0, true],
      ['pod-template-hash', 3, false],
      ['!pod-template-hash', 0, true],
      ['app=web,app=client', 0, false],
    ];
    for (const [selector, web, client] of cases) {
      const r = kubectl('get', 'pods', '-l', selector, '--no-headers');
      t.equal(r.code, 0, `${selector}: ${r.stderr}`);
      const names = r.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0]!);
      t.equal(names.filter((n) => WEB_POD.test(n)).length, web, `${selector}: web pods`);
      t.equal(names.includes('client'), client, `${selector}: client`);
      if (!web && !client) {
        t.equal(r.stdout, '');
        t.equal(r.stderr, 'No resources found in default namespace.\n');
      }
    }
    const bad = kubectl('get', 'pods', '-l', 'app=(web');
    t.equal(bad.code, 1, 'a malformed selector is an error');
    t.match(bad.stderr, /^(Error from server \(BadRequest\): |error: )/);
  });

  t.test('get --show-labels adds LABELS; -A adds NAMESPACE', async (t) => {
    const kubectl = podnet.kubectl(t);
    const rs = table(kubectl('get', 'replicasets').stdout)[0]!.NAME!;
    const hash = rs.slice('web-'.length);
    const r = kubectl('get', 'pods', '--show-labels', '-A');
    t.equal(r.code, 0, r.stderr);
    t.same(headers(r.stdout), ['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'LABELS']);
    const rows = table(r.stdout);
    t.same(
      rows.map((p) => [p.NAMESPACE, p.NAME === 'client' ? 'client' : p.NAME!.startsWith(`${rs}-`) ? 'web' : p.NAME, p.LABELS]),
      [
        ['default', 'client', 'app=client'],
        ['default', 'web', `app=web,pod-template-hash=${hash}`],
        ['default', 'web', `app=web,pod-template-hash=${hash}`],
        ['default', 'web', `app=web,pod-template-hash=${hash}`],
      ],
      'web pods are named and labelled after their ReplicaSet',
    );
  });

  t.test('get -o yaml prints the object as stored, and a List for many', async (t) => {
    const kubectl = podnet.kubectl(t);
    const wide = table(kubectl('get', 'pod', 'client', '-o', 'wide').stdout)[0]!;
    const r = kubectl('get', 'pod', 'client', '-o', 'yaml');
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^apiVersion: v1\nkind: Pod\nmetadata:\n/);
    const pod = parseYaml(r.stdout);
    t.match(pod, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'client', namespace: 'default', labels: { app: 'client' }, uid: /^[0-9a-f-]{36}$/, resourceVersion: /^\d+$/ },
      spec: { nodeName: wide.NODE, containers: [{ name: 'curl', image: 'curlimages/curl:8.11.0', command: ['sleep', 'infinity'] }] },
      status: { phase: 'Running', podIP: wide.IP, podIPs: [{ ip: wide.IP }], hostIP: NODES.find((n) => n.name === wide.NODE)?.ip },
    });

    const list = kubectl('get', 'pods', '-l', 'app=web', '-o', 'yaml');
    t.equal(list.code, 0, list.stderr);
    const doc = parseYaml(list.stdout);
    t.equal(doc.kind, 'List');
    t.equal(doc.apiVersion, 'v1');
    t.equal(doc.items.length, 3);
    for (const item of doc.items) t.match(item, { kind: 'Pod', apiVersion: 'v1', metadata: { labels: { app: 'web' } }, status: { phase: 'Running' } });

    const ip = kubectl('get', 'svc', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP} {.spec.ports[0].port}');
    t.same(ip, { code: 0, stdout: '10.96.0.1 443', stderr: '' });
  });

  t.test('get --raw reads the API as stored', async (t) => {
    const kubectl = podnet.kubectl(t);
    const version = kubectl('get', '--raw', '/version');
    t.equal(version.code, 0, version.stderr);
    t.match(JSON.parse(version.stdout), { major: '1', minor: '32', gitVersion: /^v1\.32\./ });
    const pod = kubectl('get', '--raw', '/api/v1/namespaces/default/pods/client');
    t.equal(pod.code, 0, pod.stderr);
    t.match(JSON.parse(pod.stdout), { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'client' }, status: { phase: 'Running' } });
    const list = kubectl('get', '--raw', '/apis/apps/v1/namespaces/default/deployments');
    t.equal(list.code, 0, list.stderr);
    const deployments = JSON.parse(list.stdout);
    t.equal(deployments.kind, 'DeploymentList');
    t.same(deployments.items.map((d: { metadata: { name: string } }) => d.metadata.name), ['web']);
  });

  t.test('get pod that does not exist: NotFound, exit 1', async (t) => {
    const kubectl = podnet.kubectl(t);
    t.same(kubectl('get', 'pod', 'nope'), { code: 1, stdout: '', stderr: 'Error from server (NotFound): pods "nope" not found\n' });
    t.same(kubectl('get', 'deploy', 'nope', '-o', 'yaml'), { code: 1, stdout: '', stderr: 'Error from server (NotFound): deployments.apps "nope" not found\n' });
  });

  t.test('describe pod shows its node, IP, owner and the Scheduled and Started events', async (t) => {
    const kubectl = podnet.kubectl(t);
    const rs = table(kubectl('get', 'replicasets').stdout)[0]!.NAME!;
    const pod = table(kubectl('get', 'pods', '-l', 'app=web', '-o', 'wide').stdout)[0]!;
    const node = NODES.find((n) => n.name === pod.NODE)!;
    const r = kubectl('describe', 'pod', pod.NAME!);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stderr, '');
    const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(r.stdout)?.[1];
    t.equal(field('Name'), pod.NAME);
    t.equal(field('Namespace'), 'default');
    t.equal(field('Node'), `${node.name}/${node.ip}`);
    t.equal(field('Status'), 'Running');
    t.equal(field('IP'), pod.IP);
    t.equal(field('Controlled By'), `ReplicaSet/${rs}`);
    t.match(r.stdout, /^Containers:\n {2}netexec:\n/m);
    t.match(r.stdout, /^ {4}Image:\s+registry\.k8s\.io\/e2e-test-images\/agnhost:2\.53$/m);
    t.match(r.stdout, /^ {4}Ports:\s+8080\/TCP, 8081\/UDP$/m);
    t.match(r.stdout, /^ {4}State:\s+Running$/m);
    t.match(r.stdout, /^ {4}Ready:\s+True$/m);
    const events = r.stdout.slice(r.stdout.indexOf('\nEvents:\n') + '\nEvents:\n'.length);
    t.same(headers(events.replace(/^ +/gm, '')), ['Type', 'Reason', 'Age', 'From', 'Message']);
    const rows = table(events.replace(/^ +/gm, '')).filter((e) => e.Type !== '----');
    // Events of the same second may come in either order.
    t.match(rows.find((e) => e.Reason === 'Scheduled'), { Type: 'Normal', From: 'default-scheduler', Message: `Successfully assigned default/${pod.NAME} to ${node.name}` });
    t.match(rows.find((e) => e.Reason === 'Started'), { Type: 'Normal', From: 'kubelet', Message: 'Started container netexec' });
    for (const e of rows) t.match(e.Age, AGE);
  });

  t.test('describe service and deployment show endpoints, replicas and the scaling event', async (t) => {
    const kubectl = podnet.kubectl(t);
    const webIPs = table(kubectl('get', 'pods', '-l', 'app=web', '-o', 'wide').stdout).map((p) => p.IP);
    const svc = kubectl('describe', 'service', 'web');
    t.equal(svc.code, 0, svc.stderr);
    t.match(svc.stdout, /^Selector:\s+app=web$/m);
    t.match(svc.stdout, /^Type:\s+ClusterIP$/m);
    t.match(svc.stdout, /^Port:\s+http {2}80\/TCP$/m);
    t.match(svc.stdout, /^TargetPort:\s+http\/TCP$/m);
    const endpoints = /^Endpoints:\s+(\S+)$/m.exec(svc.stdout)?.[1]?.split(',').sort();
    t.same(endpoints, webIPs.map((ip) => `${ip}:8080`).sort());

    const rs = table(kubectl('get', 'replicasets').stdout)[0]!.NAME!;
    const deploy = kubectl('describe', 'deployment', 'web');
    t.equal(deploy.code, 0, deploy.stderr);
    t.match(deploy.stdout, /^Replicas:\s+3 desired \| 3 updated \| 3 total \| 3 available \| 0 unavailable$/m);
    t.match(deploy.stdout, new RegExp(`^NewReplicaSet:\\s+${rs} \\(3/3 replicas created\\)$`, 'm'));
    t.match(deploy.stdout, new RegExp(`^\\s+Normal\\s+ScalingReplicaSet\\s+\\S+\\s+deployment-controller\\s+Scaled up replica set ${rs} (from 0 )?to 3$`, 'm'));
  });

  t.test('get -w --output-watch-events streams ADDED, then DELETED, as a Deployment comes and goes', async (t) => {
    const kubectl = podnet.kubectl(t);
    const watch = kubectl.spawn('get', 'pods', '-l', 'app=watched', '-w', '--output-watch-events');
    // Whether kubectl's list or its watch sees the pod first, it prints it as ADDED.
    const created = kubectl('create', '-f', kubectl.file('watched.yaml', deployment('watched', { replicas: 1 })));
    t.same(created, { code: 0, stdout: 'deployment.apps/watched created\n', stderr: '' });
    await watch.waitFor(/^ADDED\s+watched-\S+\s/m);
    await watch.waitFor(/^(ADDED|MODIFIED)\s+watched-\S+\s+1\/1\s+Running\s/m);
    const deleted = kubectl('delete', 'deployment', 'watched');
    t.same(deleted, { code: 0, stdout: 'deployment.apps "watched" deleted\n', stderr: '' });
    await watch.waitFor(/^DELETED\s+watched-\S+\s/m);
    await watch.stop();

    t.same(headers(watch.stdout), ['EVENT', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    const events = watch.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/ {3,}/));
    const pods = new Set(events.map((e) => e[1]));
    t.equal(pods.size, 1, 'one pod');
    t.match([...pods][0], /^watched-[a-z0-9]{1,10}-[a-z0-9]{5}$/);
    t.equal(events[0]![0], 'ADDED', 'the first event');
    t.equal(events.at(-1)![0], 'DELETED', 'the last event');
    t.ok(events.slice(1, -1).every((e) => e[0] === 'MODIFIED'), 'MODIFIED in between');
    t.notMatch(watch.stderr, /error/i);
  });
});
