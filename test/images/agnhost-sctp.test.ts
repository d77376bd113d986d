// agnhost over SCTP in a running cluster (quickstart topology, SCTP carried over TCP by the data
// plane): `connect --protocol=sctp` exit codes and stderr (test/images/agnhost/connect/connect.go
// connectSCTP), netexec's SCTP server (netexec.go startSCTPServer: `hostname`, `echo <msg>`,
// `clientip`, one message per association, log.Fatalf on a failed read), netexec's
// `/dial?protocol=sctp` (dialSCTP), and porter's SERVE_SCTP_PORT_<n> (porter.go serveSCTPPort).
// Errno texts are Go's syscall.Errno strings; ResolveSCTPAddr resolves through net.ResolveTCPAddr.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { Cluster } from '../../lib/cluster.js';
import { parseTopology } from '../../lib/topology/load.js';
import type { Pod } from '../../lib/api/types.js';
import { curl, NO_CURL } from './fake-context.js';

const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';

function pod(name: string, node: string, container: { name: string; args: string[]; env?: { name: string; value: string }[]; ports?: { containerPort: number; protocol: string }[] }) {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: node, containers: [{ image: AGNHOST, ...container }] } };
}

const netexec = (name: string, node: string) =>
  pod(name, node, {
    name: 'netexec',
    args: ['netexec', '--http-port=8080', '--udp-port=8081', '--sctp-port=8080'],
    ports: [
      { containerPort: 8080, protocol: 'TCP' },
      { containerPort: 8080, protocol: 'SCTP' },
    ],
  });

/** Quickstart with the two workers partitioned: cross-node flows are dropped (time out). */
async function cluster(t: { teardown(fn: () => unknown): void }) {
  const text = readFileSync('topologies/quickstart.yaml', 'utf8').replace('  kubeProxy:', '  links:\n    - between: [worker, worker2]\n      partitioned: true\n  kubeProxy:');
  const c = await Cluster.fromTopology(parseTopology(text, 'quickstart.yaml'), { dropTimeoutMs: 50 });
  t.teardown(() => c.stop());
  c.apply([
    pod('sctp-client', 'worker', { name: 'agnhost', args: ['pause'] }),
    netexec('sctp-near', 'worker'),
    netexec('sctp-far', 'worker2'),
    pod('porter', 'worker', { name: 'porter', args: ['porter'], env: [{ name: 'SERVE_SCTP_PORT_9004', value: 'foo' }], ports: [{ containerPort: 9004, protocol: 'SCTP' }] }),
  ]);
  await c.settle();
  const ip = (name: string) => (c.get('pods', name, 'default') as Pod).status!.podIP!;
  const sandbox = (name: string, node = name === 'sctp-far' ? 'worker2' : 'worker') => c.kubelet(node)!.sandbox(`default/${name}`)!;
  const exec = (...args: string[]) => sandbox('sctp-client').container('agnhost')!.exec!(['/agnhost', 'connect', ...args]);
  const origin = { kind: 'pod' as const, node: 'worker', pod: 'default/sctp-client' };
  return { c, ip, sandbox, exec, origin };
}

t.test('agnhost connect --protocol=sctp: exit codes and stderr as connect.go', async (t) => {
  const { ip, exec } = await cluster(t);
  const near = ip('sctp-near');
  const far = ip('sctp-far');
  const table: Array<[string[], number, string, string]> = [
    [[`${near}:8080`, '--timeout=1s', '--protocol=sctp'], 0, '', 'open: the association is up and netexec answers'],
    [[`${near}:8080`, '--timeout=1s', '--protocol=sctp', '--sctp-data=echo hi'], 0, '', 'any answer will do'],
    [[`${near}:9999`, '--timeout=1s', '--protocol=sctp'], 1, 'OTHER: connection refused\n', 'refused: the ABORT is OTHER, not REFUSED'],
    [[`${near}:8081`, '--timeout=1s', '--protocol=sctp'], 1, 'OTHER: connection refused\n', 'UDP 8081 is no SCTP port'],
    [[`${far}:8080`, '--timeout=1s', '--protocol=sctp'], 1, 'TIMEOUT\n', 'dropped on the partitioned link'],
    [[`${near}:8080`, '--protocol=sctp'], 1, 'TIMEOUT\n', 'no --timeout: time.After(0) wins the select'],
    [[`${near}:8080`, '--timeout=1s', '--protocol=sctp', '--sctp-data=nonsense'], 1, 'OTHER: EOF\n', 'netexec closes without answering an unknown command'],
    [[near, '--timeout=1s', '--protocol=sctp'], 1, `DNS: address ${near}: missing port in address\n`, 'ResolveSCTPAddr fails'],
  ];
  for (const [args, exitCode, stderr, why] of table) t.same(await exec(...args), { exitCode, stdout: '', stderr }, `${args.join(' ')}: ${why}`);
});

t.test("netexec's SCTP server answers hostname, echo and clientip, one message per association", async (t) => {
  const { c, ip, sandbox, origin } = await cluster(t);
  const ask = async (message: string) => {
    const { association } = await c.dataplane.dialSctp(origin, ip('sctp-near'), 8080);
    association.send(message);
    const answer = (await association.receive()).toString();
    t.same(association.closeInfo ?? (await new Promise((r) => association.once('close', r))), { aborted: false }, `closed after answering ${JSON.stringify(message)}`);
    return answer;
  };
  t.equal(await ask('hostname\n'), 'sctp-near');
  t.equal(await ask('  ECHO Hello, SCTP  '), 'hello, sctp', 'trimmed and lower-cased, as the UDP server does');
  t.equal(await ask(`echo ${'x'.repeat(2000)}`), 'x'.repeat(1019), 'conn.Read into 1024 bytes: a longer message is cut there');
  t.match(await ask('clientip'), new RegExp(`^${ip('sctp-client').replace(/\./g, '\\.')}:\\d+$`));
  const logs = sandbox('sctp-near').logs;
  t.ok(logs.includes('[netexec] Started SCTP server'));
  t.ok(logs.includes('[netexec] Sending SCTP hostName response'));
  t.ok(logs.some((l) => /^\[netexec\] Echoing hello, sctp to SCTP client 10\.244\.\d+\.\d+:\d+$/.test(l)));
});

t.test('porter SERVE_SCTP_PORT_9004 sends its value to every association', async (t) => {
  const { c, ip, origin } = await cluster(t);
  for (let i = 0; i < 2; i++) {
    const { association } = await c.dataplane.dialSctp(origin, ip('porter'), 9004);
    t.equal((await association.receive()).toString(), 'foo');
  }
});

t.test('netexec /dial?protocol=sctp through the data plane, asked with curl from the host', { skip: NO_CURL }, async (t) => {
  const { c, ip } = await cluster(t);
  const near = c.get('pods', 'sctp-near', 'default') as Pod;
  const http = (JSON.parse(near.metadata.annotations!['podnet.dev/host-addresses']!) as Record<string, string>)[`${ip('sctp-near')}:8080/TCP`]!;
  const dial = async (query: string) => (await curl([`http://${http}/dial?protocol=sctp&${query}`])).stdout;
  t.equal(await dial(`host=${ip('porter')}&port=9004&request=anything`), '{"responses":["foo"]}');
  t.equal(await dial(`host=${ip('sctp-near')}&port=8080&request=hostname&tries=2`), '{"responses":["sctp-near","sctp-near"]}', 'its own SCTP server');
  t.equal(await dial(`host=${ip('porter')}&port=9999&request=hostname`), '{"errors":["sctp dial failed. err:connection refused"]}');
  t.equal(await dial(`host=${ip('sctp-far')}&port=8080&request=hostname`), '{"errors":["sctp dial failed. err:connection timed out"]}', 'dropped on the partitioned link');
});

t.test('a client that closes without sending ends netexec (log.Fatalf), as upstream', async (t) => {
  const { c, ip, sandbox, origin } = await cluster(t);
  const { association } = await c.dataplane.dialSctp(origin, ip('sctp-near'), 8080);
  association.close();
  const logs = sandbox('sctp-near').logs;
  for (let i = 0; i < 10_000 && !logs.includes('[netexec] exited with code 1'); i++) await new Promise((r) => setImmediate(r));
  t.ok(logs.some((l) => /^\[netexec\] Error occurred: failed to read from SCTP client 10\.244\.\d+\.\d+:\d+:EOF$/.test(l)), 'the fatal log line');
  t.ok(logs.includes('[netexec] exited with code 1'));
});
