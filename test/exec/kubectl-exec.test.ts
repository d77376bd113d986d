// `kubectl exec` against `podnet up topologies/quickstart.yaml` with the real kubectl (1.32, which
// speaks the remote-command protocol over WebSockets, v5.channel.k8s.io, KEP-4006): the command's
// output comes back on stdout/stderr, kubectl exits with the command's exit code (the NonZeroExitCode
// Status on the error channel) and says `command terminated with exit code N`; stdin reaches the
// command (-i); the API server's and the runtime's errors read as on a real cluster. `podnet exec`
// without -f uses the same endpoint.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { kubectlSuite } from '../kubectl/harness.js';

kubectlSuite(t, (podnet) => {
  t.test('kubectl exec runs curl in the client pod, and exits with the command\'s code', async (t) => {
    const kubectl = podnet.kubectl(t);
    const pods = JSON.parse(kubectl('get', 'pods', '-l', 'app=web', '-o', 'json').stdout) as { items: { metadata: { name: string }; status: { podIP: string } }[] };
    const web = pods.items[0]!;
    const ok = kubectl('exec', 'client', '--', 'curl', '-s', `http://${web.status.podIP}:8080/hostname`);
    t.same(ok, { code: 0, stdout: web.metadata.name, stderr: '' });
    const failed = kubectl('exec', 'client', '--', 'curl', '-sS', `http://${web.status.podIP}:9999/`);
    t.equal(failed.code, 7, 'kubectl exits with curl\'s exit code');
    t.match(failed.stderr, /^curl: \(7\) Failed to connect to .+ port 9999 after \d+ ms: Couldn't connect to server\ncommand terminated with exit code 7\n$/);
    const shell = kubectl('exec', 'client', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3');
    t.same(shell, { code: 3, stdout: 'out\n', stderr: 'err\ncommand terminated with exit code 3\n' });
    const udp = kubectl.withInput('hostname', 'exec', '-i', 'client', '--', 'nc', '-u', '-w1', web.status.podIP, '8081');
    t.same(udp, { code: 0, stdout: web.metadata.name, stderr: '' }, 'stdin (-i) reaches nc, whose datagram netexec answers');
  });

  t.test('kubectl exec errors: missing program, invalid container, unknown pod', async (t) => {
    const kubectl = podnet.kubectl(t);
    const missing = kubectl('exec', 'client', '--', 'dig', 'web');
    t.equal(missing.code, 1);
    t.match(missing.stderr, /^error: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "[0-9a-f]+": OCI runtime exec failed: exec failed: unable to start container process: exec: "dig": executable file not found in \$PATH: unknown\n$/);
    const container = kubectl('exec', 'client', '-c', 'nope', '--', 'true');
    t.equal(container.code, 1);
    t.match(container.stderr, /container nope is not valid for pod client/);
    const pod = kubectl('exec', 'ghost', '--', 'true');
    t.equal(pod.code, 1);
    t.match(pod.stderr, /pods "ghost" not found/);
  });

  t.test('podnet exec without -f goes through the same pods/exec WebSocket', async (t) => {
    const r = spawnSync(process.execPath, ['bin/podnet.js', 'exec', '--kubeconfig', podnet.kubeconfig, 'client', '--', 'sh', '-c', 'hostname; exit 4'], { encoding: 'utf8', timeout: 30_000 });
    t.same({ code: r.status, stdout: r.stdout, stderr: r.stderr }, { code: 4, stdout: 'client\n', stderr: 'command terminated with exit code 4\n' });
  });
});
