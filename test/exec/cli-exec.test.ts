// `podnet exec -f topologies/quickstart.yaml POD -- COMMAND` as a user runs it: a real child
// process of bin/podnet.js (built to dist/ by `npm test`'s compile step) brings the topology up,
// runs the command in the pod's sandbox, prints its output as it is and exits with its exit code,
// adding kubectl's `command terminated with exit code N` on stderr when it is not 0.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import type { Pod } from '../../lib/api/types.js';

const BIN = 'bin/podnet.js';

function podnet(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('podnet exec -f quickstart.yaml client -- curl ... names the web pod; failures exit with curl\'s code', async (t) => {
  const list = podnet('get', 'pods', '-l', 'app=web', '-o', 'json', '-f', 'topologies/quickstart.yaml');
  t.equal(list.code, 0, list.stderr);
  const web = (JSON.parse(list.stdout) as { items: Pod[] }).items[0]!;
  const ip = web.status!.podIP!;
  const ok = podnet('exec', '-f', 'topologies/quickstart.yaml', 'client', '--', 'curl', '-s', '-w', ' %{http_code}', `http://${ip}:8080/hostname`);
  t.same(ok, { code: 0, stdout: `${web.metadata.name} 200`, stderr: '' });
  const refused = podnet('exec', '-f', 'topologies/quickstart.yaml', 'client', '--', 'curl', '-sS', `http://${ip}:9999/`);
  t.equal(refused.code, 7);
  t.equal(refused.stdout, '');
  t.match(refused.stderr, /^curl: \(7\) Failed to connect to [\d.]+ port 9999 after \d+ ms: Couldn't connect to server\ncommand terminated with exit code 7\n$/);
  const missing = podnet('exec', '-f', 'topologies/quickstart.yaml', 'client', '--', 'dig', 'web');
  t.equal(missing.code, 1, 'a program the image lacks: the runtime error, exit 1 (as kubectl)');
  t.match(missing.stderr, /^error: Internal error occurred: .*exec: "dig": executable file not found in \$PATH: unknown\n$/);
});
