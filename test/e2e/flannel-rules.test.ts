// flanneld's iptables rules on topologies/quickstart.yaml (flannel-io/flannel
// pkg/trafficmngr/iptables/iptables.go `masqRules` and `forwardRules`, v0.25+): each node's nat
// table holds FLANNEL-POSTRTG (hooked from POSTROUTING) and its filter table FLANNEL-FWD (hooked
// from FORWARD); `podnet rules NODE` prints them as iptables-save does; a pod→pod flow is
// accepted by FLANNEL-FWD and RETURNs from FLANNEL-POSTRTG (the server still sees the pod IP),
// while a pod→other node flow is masqueraded to the node's address, as on a real cluster.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { Cluster } from '../../lib/cluster.js';
import { parseTopology } from '../../lib/topology/load.js';
import type { Pod } from '../../lib/api/types.js';
import { tmpdir } from 'node:os';
import { ApiServer } from '../../lib/apiserver/server/server.js';
import { inProcess } from '../cli/harness.js';

function httpGet(socket: Socket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (raw += d));
    socket.on('end', () => resolve(raw.split('\r\n\r\n').slice(1).join('\r\n\r\n')));
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}

const cluster = await Cluster.fromTopology(parseTopology(readFileSync('topologies/quickstart.yaml', 'utf8'), 'quickstart.yaml'), { dropTimeoutMs: 50 });
t.teardown(() => cluster.stop());
const pods = cluster.list('pods', { namespace: 'default' }) as Pod[];
const client = pods.find((p) => p.metadata.name === 'client')!;
const web = pods.filter((p) => p.metadata.labels?.app === 'web');
const clientNode = client.spec.nodeName!;
const podCIDR = (node: string) => (cluster.get('nodes', node) as unknown as { spec: { podCIDR: string } }).spec.podCIDR;

/** The `[packets:bytes]` iptables-save -c prints before a rule. */
function counter(save: string, rule: string): { packets: number; bytes: number } {
  const line = save.split('\n').find((l) => l.endsWith(`] ${rule}`));
  const m = line && /^\[(\d+):(\d+)\]/.exec(line);
  if (!m) throw new Error(`no rule ${rule} in\n${save}`);
  return { packets: Number(m[1]), bytes: Number(m[2]) };
}

/** The tables without kube-proxy's chains and rules (test/kubeproxy covers those). */
function flannelOnly(save: string): string {
  return save
    .split('\n')
    .filter((l) => !/KUBE-/.test(l))
    .join('\n');
}

t.test('podnet rules NODE prints flannel chains as iptables-save does', async (t) => {
  const text = flannelOnly(cluster.rules('worker'));
  const cidr = podCIDR('worker');
  // The rules flanneld writes, in iptables-save's canonical option order (comment quoted, as
  // libxtables' xtables_save_string prints it).
  t.equal(
    text,
    [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':INPUT ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      ':FLANNEL-POSTRTG - [0:0]',
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
      '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
      `-A FLANNEL-POSTRTG -s ${cidr} -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d ${cidr} -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d ${cidr} -m comment --comment "flanneld masq" -j RETURN`,
      '-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
      '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
      'COMMIT',
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':FLANNEL-FWD - [0:0]',
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
      '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      'COMMIT',
      '',
    ].join('\n'),
  );
  t.not(flannelOnly(cluster.rules('worker2')), text, 'each node RETURNs for its own pod subnet');
  // A resync (another Node event) leaves the chains as they are: no duplicate jump rules.
  cluster.network.program(cluster.dataplane.nodes);
  t.equal(flannelOnly(cluster.rules('worker')), text, 'programming again is idempotent');
});

t.test("a pod→pod flow's trace names FLANNEL-FWD and FLANNEL-POSTRTG RETURN; counters move; the server sees the pod IP", async (t) => {
  const remote = web.find((p) => p.spec.nodeName !== clientNode)!;
  const before = cluster.rules(clientNode, { format: 'iptables-save', counters: true });
  t.match(before, /\[0:0\] -A FLANNEL-FWD -s 10\.244\.0\.0\/16 /);
  const { text } = cluster.trace('client', remote.status!.podIP!, 8080);
  t.match(text, new RegExp(`${clientNode}\\s+FORWARD filter FLANNEL-FWD\\s+ACCEPT\\s+-A FLANNEL-FWD -s 10\\.244\\.0\\.0/16`));
  t.match(text, new RegExp(`${clientNode}\\s+POSTROUTING nat FLANNEL-POSTRTG\\s+RETURN\\s+-A FLANNEL-POSTRTG -s ${podCIDR(clientNode).replace(/\./g, '\\.')} -d 10\\.244\\.0\\.0/16`));
  t.match(text, new RegExp(`${remote.spec.nodeName}\\s+POSTROUTING nat FLANNEL-POSTRTG\\s+RETURN\\s+-A FLANNEL-POSTRTG -s 10\\.244\\.0\\.0/16 -d ${podCIDR(remote.spec.nodeName!).replace(/\./g, '\\.')}`), 'the far node RETURNs for flows into its own pods');
  const after = cluster.rules(clientNode, { format: 'iptables-save', counters: true });
  // Deltas: the kubelet's probes (node → pod) cross nat POSTROUTING too, but never FORWARD nor a
  // rule that needs a pod source.
  const moved = (line: string) => counter(after, line).packets - counter(before, line).packets;
  t.equal(moved('-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD'), 1, 'one new flow, one packet');
  t.equal(moved('-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT'), 1);
  t.equal(moved('-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT'), 0, 'the first ACCEPT ended the walk');
  t.equal(moved(`-A FLANNEL-POSTRTG -s ${podCIDR(clientNode)} -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN`), 1);
  t.equal(counter(after, '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT').bytes, 0, 'bytes are not counted (the pipeline sees no packet sizes)');

  const { socket, decision } = await cluster.dataplane.dialTcp({ kind: 'pod', node: clientNode, pod: 'default/client' }, remote.status!.podIP!, 8080);
  t.equal(decision.tuple.src, client.status!.podIP, 'not masqueraded');
  t.match(await httpGet(socket, '/clientip'), new RegExp(`^${client.status!.podIP!.replace(/\./g, '\\.')}:\\d+$`));
});

t.test("a pod→another node's IP flow is masqueraded to the client node's address", async (t) => {
  const other = cluster.spec.nodes.find((n) => n.name !== clientNode)!;
  const me = cluster.spec.nodes.find((n) => n.name === clientNode)!;
  const { text, decision } = cluster.trace('client', other.address, 10250);
  t.match(text, /POSTROUTING nat FLANNEL-POSTRTG\s+MASQUERADE\s+-A FLANNEL-POSTRTG -s 10\.244\.0\.0\/16 ! -d 224\.0\.0\.0\/4 .*--random-fully/);
  t.equal(decision.tuple.src, me.address, 'the source is the node IP on eth0, as the server on a real cluster sees it');
  t.equal(decision.original.src, client.status!.podIP);
});

t.test('podnet rules through the CLI (one-shot) and its errors', async (t) => {
  const r = await inProcess(['rules', 'worker', '-f', 'topologies/quickstart.yaml']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, cluster.rules('worker'), 'the same seeded topology prints the same tables');
  const bad = await inProcess(['rules', 'worker', '--format', 'pf', '-f', 'topologies/quickstart.yaml']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /Allowed choices are iptables-save, nft, ipvs/);
  const otherMode = await inProcess(['rules', 'worker', '--format', 'nft', '-f', 'topologies/quickstart.yaml']);
  t.not(otherMode.code, 0);
  t.match(otherMode.stderr, /runs kube-proxy in iptables mode: its tables print as iptables-save, not nft/);
  const missing = await inProcess(['rules', 'nope', '-f', 'topologies/quickstart.yaml']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /nodes "nope" not found/);
});

t.test('podnet rules against a running podnet: the control endpoint answers, bad queries are 400', async (t) => {
  const api = new ApiServer(cluster.store, { host: '127.0.0.1', port: 0, insecureHttp: true, token: 'secret', podnet: cluster });
  const { url } = await api.listen();
  t.teardown(() => api.close());
  const env = { ...process.env, KUBECONFIG: '', HOME: tmpdir() };
  const r = await inProcess(['rules', 'worker2', '--counters', '--server', url, '--token', 'secret'], env);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, cluster.rules('worker2', { format: 'iptables-save', counters: true }));
  const missing = await inProcess(['rules', 'nope', '--server', url, '--token', 'secret'], env);
  t.equal(missing.code, 2);
  t.equal(missing.stderr, 'error: nodes "nope" not found\n');
  const bad = await fetch(`${url}/apis/podnet.dev/v1alpha1/nodes/worker/rules?format=pf`, { headers: { authorization: 'Bearer secret' } });
  t.equal(bad.status, 400);
  t.match(((await bad.json()) as { message: string }).message, /format=iptables-save\|nft\|ipvs/);
  const otherMode = await fetch(`${url}/apis/podnet.dev/v1alpha1/nodes/worker/rules?format=ipvs`, { headers: { authorization: 'Bearer secret' } });
  t.equal(otherMode.status, 400, 'a format of another mode is a bad request');
});

// The real parser, where it can run unprivileged; it needs root (CAP_NET_ADMIN) on most machines,
// and podnet never uses sudo.
const restoreSkip = ((): string | false => {
  if (spawnSync('sh', ['-c', 'command -v iptables-restore']).status !== 0) return 'SKIPPED LOUDLY: iptables-restore is not installed on this machine; the output is not checked by the real parser';
  const probe = spawnSync('iptables-restore', ['--test'], { input: '*filter\nCOMMIT\n', encoding: 'utf8' });
  if (probe.status !== 0) return `SKIPPED LOUDLY: iptables-restore --test does not run without root here (${probe.stderr.trim()}); not using sudo`;
  return false;
})();

t.test('iptables-restore --test accepts the output', { skip: restoreSkip }, async (t) => {
  const run = spawnSync('iptables-restore', ['--test'], { input: cluster.rules('worker', { format: 'iptables-save', counters: true }), encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
});
