// The `podnet` command as a user runs it (built to dist/ by `npm test`'s compile step), asserting
// on what it prints and exits with. The binary itself — exit codes, stdout and stderr apart, Ctrl-C —
// is proved on real child processes of bin/podnet.js (`podnet`); the other cases run the same built
// `main` in-process (`inProcess`, test/cli/harness.ts), which prints what the child prints.
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BIN, inProcess, podnet } from './harness.js';

function rows(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/ {3,}|(?<=\S) {2,}(?=\S)/).map((c) => c.trim()));
}

t.test('get pods -o wide shows every pod with its IP and node, in kubectl columns', async (t) => {
  const r = await inProcess(['get', 'pods', '-o', 'wide', '-f', 'topologies/quickstart.yaml']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  t.match(lines[0], /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/);
  t.equal(lines.length, 5, 'header and four pods');
  const ips = new Set<string>();
  for (const line of lines.slice(1)) {
    const m = /^(\S+)\s+1\/1\s+Running\s+0\s+\S+\s+(10\.244\.(\d+)\.\d+)\s+(worker2?)\s+<none>\s+<none>$/.exec(line);
    t.ok(m, `row: ${line}`);
    if (!m) continue;
    ips.add(m[2]!);
    t.equal(m[3], m[4] === 'worker' ? '1' : '2', `${m[2]} lies in ${m[4]}'s podCIDR`);
  }
  t.equal(ips.size, 4, 'distinct IPs');
});

t.test('get endpointslices -A shows the web Service endpoints', async (t) => {
  const r = await inProcess(['get', 'endpointslices', '-A', '-f', 'topologies/quickstart.yaml']);
  t.equal(r.code, 0, r.stderr);
  const table = rows(r.stdout);
  t.same(table[0], ['NAMESPACE', 'NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE']);
  const web = table.find((row) => /^web-/.test(row[1] ?? ''));
  t.ok(web, 'a slice for web');
  t.equal(web![2], 'IPv4');
  t.equal(web![3], '8080');
  t.equal(web![4]!.split(',').length, 3, 'three endpoints');
});

t.test('get -o yaml prints one object; -o json a List for several; -o name', async (t) => {
  const one = await inProcess(['get', 'svc', 'web', '-o', 'yaml', '-f', 'topologies/quickstart.yaml']);
  t.equal(one.code, 0, one.stderr);
  t.match(one.stdout, /^apiVersion: v1\nkind: Service\nmetadata:\n/);
  const many = await inProcess(['get', 'deploy', '-o', 'json', '-f', 'topologies/quickstart.yaml']);
  const list = JSON.parse(many.stdout);
  t.equal(list.kind, 'List');
  t.equal(list.items[0].status.readyReplicas, 3);
  const names = ['get', 'nodes', '-o', 'name', '-f', 'topologies/quickstart.yaml'];
  const child = podnet(names);
  t.equal(child.stdout, 'node/control-plane\nnode/worker\nnode/worker2\n');
  t.same(await inProcess(names), child, 'in-process, the same command prints the same bytes and exits the same');
});

t.test('get of a missing object or unknown resource exits 2 with kubectl wording', async (t) => {
  const missing = podnet(['get', 'pod', 'nope', '-f', 'topologies/quickstart.yaml']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, 'error: pods "nope" not found');
  t.equal(missing.stdout, '', 'the error goes to stderr only');
  const unknown = await inProcess(['get', 'widgets', '-f', 'topologies/quickstart.yaml']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, `the server doesn't have a resource type "widgets"`);
});

t.test('validate: ok files exit 0; bad ones exit 2 with every error', async (t) => {
  const ok = await inProcess(['validate', 'topologies/quickstart.yaml']);
  t.equal(ok.code, 0, ok.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'podnet-cli-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{port: 70000}]
---
apiVersion: apps/v1
kind: Deploymnt
metadata: {name: web}
`,
  );
  const r = await inProcess(['validate', bad]);
  t.equal(r.code, 2);
  t.match(r.stderr, `${bad}:1: `);
  t.match(r.stderr, 'spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive');
  t.match(r.stderr, `${bad}:7: Deploymnt web: no matches for kind "Deploymnt" in version "apps/v1"`);
  const yaml = join(dir, 'broken.yaml');
  writeFileSync(yaml, 'kind: Pod\n  bad: indentation\n');
  const y = await inProcess(['validate', yaml]);
  t.equal(y.code, 2);
  t.match(y.stderr, `${yaml}:`);
});

t.test('usage errors exit 2; --help on every verb exits 0', async (t) => {
  t.equal(podnet(['frobnicate']).code, 2);
  t.equal((await inProcess(['get', 'pods'])).code, 2, 'no cluster to ask');
  t.equal((await inProcess(['up', '--seed', 'abc', 'x.yaml'])).code, 2);
  for (const verb of ['up', 'validate', 'get']) {
    const r = await inProcess([verb, '--help']);
    t.equal(r.code, 0, `${verb} --help`);
    t.match(r.stdout, `Usage: podnet ${verb}`);
  }
});

t.test('up prints the summary, then stops cleanly on SIGINT with exit 0', async (t) => {
  const child = spawn(process.execPath, [BIN, 'up', 'topologies/quickstart.yaml'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Press Ctrl-C to stop.')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`exited early with ${code}: ${out}`)));
  });
  t.match(out, /podnet: cluster "quickstart" up in \d+ms/);
  t.match(out, /NODES\n.*\ncontrol-plane\s+control-plane\s+zone-a\s+172\.18\.0\.2\s+10\.244\.0\.0\/24\s+Ready/);
  t.match(out, /default\s+web\s+ClusterIP\s+10\.\d+\.\d+\.\d+\s+80\/TCP\s+3/);
  t.match(out, /default\s+client\s+10\.244\.\d+\.\d+\s+worker2?\s+Running/);
  const code = await new Promise<number | null>((resolve) => {
    child.removeAllListeners('exit');
    child.on('close', (c) => resolve(c)); // 'close': after stdout has been read to the end
    child.kill('SIGINT');
  });
  t.equal(code, 0);
  t.match(out, 'podnet stopped.', 'it was still running and stopped because of the signal');
});

t.test('trace shows a cross-node pod flow hop by hop; get routes/fdb print the node tables', async (t) => {
  const r = await inProcess(['trace', '--from', 'client', '--to', '10.244.1.2', '--port', '8080', '-f', 'topologies/quickstart.yaml']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^trace default\/client \(10\.244\.2\.2\) → 10\.244\.1\.2:8080\/TCP\n/);
  t.match(r.stdout, /worker2\s+vxlan\s+encap\s+flannel\.1 vni 1: outer 172\.18\.0\.4 → 172\.18\.0\.3 udp\/8472/);
  t.match(r.stdout, /worker\s+vxlan\s+decap/);
  t.match(r.stdout, /worker\s+deliver\s+ACCEPT\s+cni0 → veth\w+ → default\/web-/);
  t.match(r.stdout, /verdict: ACCEPT\n$/);
  const routes = await inProcess(['get', 'routes', '--node', 'worker', '-f', 'topologies/quickstart.yaml']);
  t.equal(routes.code, 0, routes.stderr);
  t.match(routes.stdout, '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink\n');
  t.match(routes.stdout, '10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1\n');
  const noNode = await inProcess(['get', 'routes', '-f', 'topologies/quickstart.yaml']);
  t.equal(noNode.code, 2);
  t.match(noNode.stderr, 'needs --node NAME');
});
