// agnhost connect (connect/connect.go): exit 0 on success, 1 on any failure with a fixed prefix
// on stderr; as an exec in a running agnhost container and as a container's command.
import t from 'tap';
import { agnhost, agnhostConnect } from '../../lib/images/agnhost.js';
import { FakeNetwork } from './fake-context.js';

async function cluster(t: { teardown(fn: () => unknown): void }) {
  const network = new FakeNetwork();
  const server = network.pod({ name: 'server', ip: '10.244.2.2', args: ['netexec', '--http-port=8080', '--udp-port=8081'] });
  const client = network.pod({ name: 'client', ip: '10.244.1.1', args: ['pause'] });
  const s = await agnhost.start(server);
  const c = await agnhost.start(client);
  t.teardown(async () => {
    await s.stop();
    await c.stop();
    await network.close();
  });
  network.drop('10.244.3.3');
  return { network, client, c };
}

t.test('agnhost connect.go: exit codes and stderr', async (t) => {
  const { c } = await cluster(t);
  const exec = (...args: string[]) => c.exec!(['/agnhost', 'connect', ...args]);
  const table: Array<[string[], number, string]> = [
    [['10.244.2.2:8080', '--timeout=1s'], 0, ''],
    [['10.244.2.2:8080', '--timeout=1s', '--protocol=tcp'], 0, ''],
    [['10.244.2.2:9999', '--timeout=1s'], 1, 'REFUSED\n'],
    [['10.244.3.3:8080', '--timeout=1s'], 1, 'TIMEOUT\n'],
    [['10.244.2.2:8081', '--timeout=1s', '--protocol=udp'], 0, ''],
    [['10.244.3.3:8081', '--timeout=1s', '--protocol=udp'], 1, 'TIMEOUT: read udp 10.244.1.1->10.244.3.3:8081: i/o timeout\n'],
    [['10.244.2.2:9999', '--timeout=1s', '--protocol=udp'], 1, 'REFUSED: read udp 10.244.1.1->10.244.2.2:9999: connection refused\n'],
    [['10.244.2.2', '--timeout=1s'], 1, 'UNKNOWN: address 10.244.2.2: missing port in address\n'],
    [['10.244.2.2:8080', '--protocol=carrier-pigeon'], 1, 'Unsupported protocol\ncarrier-pigeon'],
    [['10.244.2.2:8080', '--timeout=soon'], 1, 'Error: invalid argument "soon" for "--timeout" flag: time: invalid duration "soon"\n'],
    [[], 1, 'Error: accepts 1 arg(s), received 0\n'],
  ];
  for (const [args, exitCode, stderr] of table) {
    const result = await exec(...args);
    t.same(result, { exitCode, stdout: '', stderr }, args.join(' ') || '(no arguments)');
  }
});

t.test('agnhost connect.go: --protocol=sctp where the sandbox has no SCTP (the fake context) fails as OTHER', async (t) => {
  const { client } = await cluster(t);
  const result = await agnhostConnect(client, ['10.244.2.2:8080', '--protocol=sctp']);
  t.equal(result.exitCode, 1);
  t.match(result.stderr, /^OTHER: /);
});

t.test('agnhost connect as the container command: the container exits with its code', async (t) => {
  const { network } = await cluster(t);
  const ok = network.pod({ name: 'job-ok', ip: '10.244.1.2', args: ['connect', '10.244.2.2:8080', '--timeout=1s'] });
  await agnhost.start(ok);
  t.equal(await ok.exited(), 0);
  const refused = network.pod({ name: 'job-refused', ip: '10.244.1.3', args: ['/agnhost', 'connect', '10.244.2.2:1', '--timeout=1s'] });
  await agnhost.start(refused);
  t.equal(await refused.exited(), 1);
  t.same(refused.logs, ['REFUSED']);
});

t.test('exec of a program the agnhost image does not have', async (t) => {
  const { c } = await cluster(t);
  const result = await c.exec!(['wget', '-qO-', 'http://10.244.2.2:8080']);
  t.equal(result.exitCode, 127);
  t.match(result.stderr, /exec: "wget": executable file not found in \$PATH/);
});
