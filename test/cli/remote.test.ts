// podnet's own verbs against a running podnet, found the way kubectl finds a cluster:
// --kubeconfig, the KUBECONFIG environment variable, or --server (+ --token). `podnet up` runs as
// a real child process of bin/podnet.js; so does one `get` that finds it through the environment
// it inherits. The other `get`s run the same built `main` in-process (test/cli/harness.ts) with the
// environment the child would have had.
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { inProcess, podnet as spawnPodnet } from './harness.js';
import { startPodnetUp } from '../helpers/podnet-up.js';

/** No kubeconfig of the user's: neither KUBECONFIG nor ~/.kube/config. */
function environment(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, KUBECONFIG: '', HOME: tmpdir(), ...env };
}

/** bin/podnet.js as a child process. */
function podnet(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnPodnet(args, environment(env));
}

/** The same command in-process. */
function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return inProcess(args, environment(env));
}

const up = startPodnetUp;

t.test('up writes a kubeconfig that podnet get (and kubectl) can use', async (t) => {
  const { kubeconfig, url, out } = await up(t);
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.match(out, `kubeconfig:     ${kubeconfig}`);
  const text = readFileSync(kubeconfig, 'utf8');
  t.match(text, /^# Written by podnet up/);
  t.match(text, `server: ${url}`);
  t.match(text, 'certificate-authority-data:');
  const viaFlag = await run(['get', 'pods', '-o', 'wide', '--kubeconfig', kubeconfig]);
  t.equal(viaFlag.code, 0, viaFlag.stderr);
  t.equal(viaFlag.stdout.trim().split('\n').length, 5, 'header and four pods');
  t.match(viaFlag.stdout, /client\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.\d+\.\d+\s+worker/);
  const viaEnv = podnet(['get', 'deploy', 'web', '-o', 'json'], { KUBECONFIG: kubeconfig });
  t.equal(viaEnv.code, 0, viaEnv.stderr);
  t.equal(JSON.parse(viaEnv.stdout).status.readyReplicas, 3);
  const missing = await run(['get', 'pods', 'nope', '--kubeconfig', kubeconfig]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, 'error: pods "nope" not found');
});

t.test('--token: the server demands it, and get passes it with --server', async (t) => {
  const { url } = await up(t, ['--token', 'sekret']);
  const denied = await run(['get', 'nodes', '--server', url, '--insecure-skip-tls-verify', '--token', 'wrong']);
  t.not(denied.code, 0);
  t.match(denied.stderr, 'Unauthorized');
  const ok = await run(['get', 'nodes', '-o', 'name', '--server', url, '--insecure-skip-tls-verify', '--token', 'sekret']);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, 'node/control-plane\nnode/worker\nnode/worker2\n');
});

t.test('get refuses a server outside loopback without connecting, and says when nothing is configured', async (t) => {
  const far = await run(['get', 'pods', '--server', 'https://10.0.0.1:6443']);
  t.equal(far.code, 2);
  t.match(far.stderr, 'refusing to connect to https://10.0.0.1:6443: podnet talks to API servers on loopback');
  const none = await run(['get', 'pods']);
  t.equal(none.code, 2);
  t.match(none.stderr, /kubeconfig/i);
});

t.test('up never replaces a kubeconfig it did not write unless asked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-kc-'));
  const theirs = join(dir, 'config');
  writeFileSync(theirs, 'apiVersion: v1\nkind: Config\nclusters: []\n');
  const r = await run(['up', 'topologies/quickstart.yaml', '--api-port', '0', '--kubeconfig', theirs]);
  t.equal(r.code, 2);
  t.match(r.stderr, theirs);
  t.equal(readFileSync(theirs, 'utf8'), 'apiVersion: v1\nkind: Config\nclusters: []\n', 'left as it was');
  const replaced = await up(t, ['--overwrite-kubeconfig']);
  t.match(readFileSync(replaced.kubeconfig, 'utf8'), /^# Written by podnet up/);
});
