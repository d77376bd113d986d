// `podnet trace` and `podnet get routes|neigh|fdb|conntrack --node` against a running podnet:
// without -f they ask the API server's podnet endpoint (/apis/podnet.dev/v1alpha1/trace,
// /nodes/NAME/TABLE), and print exactly what the one-shot form prints for the same topology.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Cluster } from '../../lib/cluster.js';
import { ApiServer } from '../../lib/apiserver/server/server.js';
import { parseTopology } from '../../lib/topology/load.js';
import type { Pod } from '../../lib/api/types.js';
import { inProcess } from './harness.js';

const env = { ...process.env, KUBECONFIG: '', HOME: tmpdir() };

t.test('trace and node tables come from the running cluster', async (t) => {
  const cluster = await Cluster.fromTopology(parseTopology(readFileSync('topologies/quickstart.yaml', 'utf8'), 'quickstart.yaml'));
  const api = new ApiServer(cluster.store, { host: '127.0.0.1', port: 0, insecureHttp: true, token: 'secret', podnet: cluster });
  const { url } = await api.listen();
  t.teardown(async () => {
    await api.close();
    await cluster.stop();
  });
  const remote = ['--server', url, '--token', 'secret'];
  const web = (cluster.list('pods', { namespace: 'default', labelSelector: 'app=web' }) as Pod[]).find((p) => p.spec.nodeName === 'worker')!;

  const trace = await inProcess(['trace', '--from', 'client', '--to', web.status!.podIP!, '--port', '8080', ...remote], env);
  t.equal(trace.code, 0, trace.stderr);
  t.equal(trace.stdout, cluster.trace('client', web.status!.podIP!, 8080).text, 'the running cluster decided it');
  t.match(trace.stdout, /^trace default\/client \(10\.244\.\d+\.\d+\) → 10\.244\.\d+\.\d+:8080\/TCP\n/);
  const oneShot = await inProcess(['trace', '--from', 'client', '--to', web.status!.podIP!, '--port', '8080', '-f', 'topologies/quickstart.yaml'], env);
  t.equal(trace.stdout, oneShot.stdout, 'the same text as the one-shot form for the same topology and seed');

  const byName = await inProcess(['trace', '--from', 'default/client', '--to', `default/${web.metadata.name}`, '--port', '8080', '--protocol', 'UDP', ...remote], env);
  t.equal(byName.code, 0);
  t.match(byName.stdout, /\/UDP\n/, 'a pod as destination, another protocol');

  const routes = await inProcess(['get', 'routes', '--node', 'worker', ...remote], env);
  t.equal(routes.code, 0);
  t.equal(routes.stdout, cluster.nodeTable('worker', 'routes'), 'ip route of the node');
  t.match(routes.stdout, /dev flannel\.1/);
  for (const table of ['neigh', 'fdb', 'conntrack']) {
    const r = await inProcess(['get', table, '--node', 'worker2', ...remote], env);
    t.equal(r.code, 0, `${table}: ${r.stderr}`);
    t.equal(r.stdout, cluster.nodeTable('worker2', table as 'neigh'), table);
  }

  const missingNode = await inProcess(['get', 'routes', '--node', 'nope', ...remote], env);
  t.equal(missingNode.code, 2, 'as podnet get exits for a missing object');
  t.equal(missingNode.stderr, 'error: nodes "nope" not found\n');
  const missingPod = await inProcess(['trace', '--from', 'ghost', '--to', '10.244.1.2', '--port', '80', ...remote], env);
  t.equal(missingPod.code, 2);
  t.equal(missingPod.stderr, 'error: pods "ghost" not found\n');
  const noNode = await inProcess(['get', 'routes', ...remote], env);
  t.equal(noNode.code, 2, 'usage error');
  t.match(noNode.stderr, /needs --node NAME/);
});
