// `podnet exec -f topologies/quickstart.yaml POD -- COMMAND` as a user runs it (built to dist/ by
// `npm test`'s compile step): it brings the topology up, runs the command in the pod's sandbox,
// prints its output as it is and exits with its exit code, adding kubectl's `command terminated
// with exit code N` on stderr when it is not 0. The failing run is a real child process of
// bin/podnet.js (exit code and stderr as the shell sees them); the passing one runs the same built
// `main` in-process (test/cli/harness.ts).
import t from 'tap';
import type { Pod } from '../../lib/api/types.js';
import type * as ClusterModule from '../../lib/cluster.js';
import { inProcess, podnet } from '../cli/harness.js';
import { built } from '../helpers/built.js';

const { Cluster } = await built<typeof ClusterModule>('lib/cluster.js');

t.test('podnet exec -f quickstart.yaml client -- curl ... names the web pod; a failure exits with curl\'s code', async (t) => {
  // The topology's seed makes names and IPs the same in every run: read them here, in-process.
  const cluster = await Cluster.fromFiles(['topologies/quickstart.yaml']);
  const web = (cluster.list('pods', { namespace: 'default', labelSelector: 'app=web' }) as Pod[])[0]!;
  await cluster.stop();
  const ip = web.status!.podIP!;
  const ok = await inProcess(['exec', '-f', 'topologies/quickstart.yaml', 'client', '--', 'curl', '-s', '-w', ' %{http_code}', `http://${ip}:8080/hostname`]);
  t.same(ok, { code: 0, stdout: `${web.metadata.name} 200`, stderr: '' });
  const refused = podnet(['exec', '-f', 'topologies/quickstart.yaml', 'client', '--', 'curl', '-sS', `http://${ip}:9999/`]);
  t.equal(refused.code, 7);
  t.equal(refused.stdout, '');
  t.match(refused.stderr, /^curl: \(7\) Failed to connect to [\d.]+ port 9999 after \d+ ms: Couldn't connect to server\ncommand terminated with exit code 7\n$/);
});
