// `exec` into pods of topologies/quickstart.yaml through the library API (Cluster.exec): the
// client pod (curlimages/curl, Alpine: curl plus busybox wget/nc/nslookup) reaches the web pods
// (agnhost netexec) through the data plane, and the tools answer with the real tools' output and
// exit codes (curl's libcurl-errors.md, busybox wget/nc, BIND dig), for scripts.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { Cluster } from '../../lib/cluster.js';
import { parseTopology } from '../../lib/topology/load.js';
import type { Pod } from '../../lib/api/types.js';

async function quickstart(t: { teardown(fn: () => unknown): void }, extra: object[] = []) {
  const cluster = await Cluster.fromTopology(parseTopology(readFileSync('topologies/quickstart.yaml', 'utf8'), 'quickstart.yaml'), { dropTimeoutMs: 50 });
  t.teardown(() => cluster.stop());
  if (extra.length) {
    cluster.apply(extra as never);
    await cluster.settle();
  }
  const pods = cluster.list('pods', { namespace: 'default' }) as Pod[];
  const web = pods.filter((p) => p.metadata.labels?.app === 'web');
  const exec = async (pod: string, ...argv: string[]) => {
    const r = await cluster.exec('default', pod, { argv });
    return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
  };
  return { cluster, web, exec };
}

t.test('curl from the client pod reaches every web pod by IP; -w, -i, -o /dev/null, -f', async (t) => {
  const { web, exec } = await quickstart(t);
  for (const pod of web) {
    const r = await exec('client', 'curl', '-s', `http://${pod.status!.podIP}:8080/hostname`);
    t.same(r, { code: 0, out: pod.metadata.name, err: '' }, `curl names ${pod.metadata.name}`);
  }
  const ip = web[0]!.status!.podIP!;
  const code = await exec('client', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{remote_ip}:%{remote_port}\\n', `http://${ip}:8080/hostname`);
  t.same(code, { code: 0, out: `200 ${ip}:8080\n`, err: '' }, '-o /dev/null discards the body; -w prints after the transfer');
  const head = await exec('client', 'curl', '-si', `http://${ip}:8080/echo?msg=hi`);
  t.match(head.out, /^HTTP\/1\.1 200 OK\r\n(.+\r\n)*Content-Length: 2\r\n(.+\r\n)*\r\nhi$/, '-i: status line, headers as received, blank line, body');
  const missing = await exec('client', 'curl', '-sSf', `http://${ip}:8080/echo?code=404`);
  t.same(missing, { code: 22, out: '', err: 'curl: (22) The requested URL returned error: 404\n' }, '-f: exit 22, no body, the error shown with -S');
  const clientip = await exec('client', 'curl', '-s', `http://${ip}:8080/clientip`);
  const client = (await exec('client', 'hostname', '-i')).out.trim();
  t.match(clientip.out, new RegExp(`^${client.replace(/\./g, '\\.')}:\\d+$`), 'the server sees the client pod IP');
  const headers = await exec('client', 'curl', '-s', '-H', 'X-Test: one', '-A', 'probe/1', `http://${ip}:8080/header?key=X-Test`);
  t.equal(headers.out, 'one', '-H sends the header');
  const posted = await exec('client', 'curl', '-s', '-X', 'POST', '-d', 'msg=posted', `http://${ip}:8080/echo`);
  t.equal(posted.out, 'posted', '-d sends a form body');
});

t.test('curl failures: refused → 7, unresolvable → 6, dropped with --max-time → 28, usage → 2', async (t) => {
  const { web, exec, cluster } = await quickstart(t);
  const ip = web[0]!.status!.podIP!;
  const refused = await exec('client', 'curl', '-sS', `http://${ip}:9999/`);
  t.equal(refused.code, 7);
  t.match(refused.err, new RegExp(`^curl: \\(7\\) Failed to connect to ${ip.replace(/\./g, '\\.')} port 9999 after \\d+ ms: Couldn't connect to server\\n$`));
  t.equal((await exec('client', 'curl', '-s', `http://${ip}:9999/`)).err, '', '-s alone hides the error');
  const unresolvable = await exec('client', 'curl', '-sS', 'http://web-nowhere:8080/');
  t.same(unresolvable, { code: 6, out: '', err: 'curl: (6) Could not resolve host: web-nowhere\n' }, 'no DNS answers (kube-dns is not served yet): 6');
  const usage = await exec('client', 'curl', '--bogus', `http://${ip}:8080/`);
  t.same(usage, { code: 2, out: '', err: "curl: option --bogus: is unknown\ncurl: try 'curl --help' or 'curl --manual' for more information\n" });
  const equals = await exec('client', 'curl', '--max-time=3', `http://${ip}:8080/`);
  t.equal(equals.code, 2, 'curl takes no --opt=value');
});

t.test('a dropped flow times out: curl --max-time → 28', async (t) => {
  const text = readFileSync('topologies/quickstart.yaml', 'utf8').replace('  kubeProxy:', '  links:\n    - between: [worker, worker2]\n      partitioned: true\n  kubeProxy:');
  const cluster = await Cluster.fromTopology(parseTopology(text, 'quickstart.yaml'), { dropTimeoutMs: 50 });
  t.teardown(() => cluster.stop());
  const pods = cluster.list('pods', { namespace: 'default' }) as Pod[];
  const client = pods.find((p) => p.metadata.name === 'client')!;
  const far = pods.find((p) => p.metadata.labels?.app === 'web' && p.spec.nodeName !== client.spec.nodeName)!;
  const r = await cluster.exec('default', 'client', { argv: ['curl', '-sS', '--max-time', '5', `http://${far.status!.podIP}:8080/`] });
  t.equal(r.exitCode, 28);
  t.match(r.stderr.toString(), /^curl: \(28\) Connection timed out after \d+ milliseconds\n$/);
  const nc = await cluster.exec('default', 'client', { argv: ['nc', '-zv', '-w', '2', far.status!.podIP!, '8080'] });
  t.equal(nc.exitCode, 1, 'nc -z through the partition fails');
  const near = pods.find((p) => p.metadata.labels?.app === 'web' && p.spec.nodeName !== far.spec.nodeName)!;
  const connect = await cluster.exec('default', near.metadata.name!, { argv: ['/agnhost', 'connect', `${far.status!.podIP}:8080`, '--timeout=5s'] });
  t.same({ code: connect.exitCode, err: connect.stderr.toString() }, { code: 1, err: 'TIMEOUT\n' }, 'agnhost connect through the partition: TIMEOUT, exit 1');
});

t.test('busybox wget -qO-, nc -z / -zv / -u in the client pod', async (t) => {
  const { web, exec } = await quickstart(t);
  const ip = web[0]!.status!.podIP!;
  t.same(await exec('client', 'wget', '-qO-', `http://${ip}:8080/hostname`), { code: 0, out: web[0]!.metadata.name, err: '' });
  const loud = await exec('client', 'wget', '-O-', `http://${ip}:8080/hostname`);
  t.match(loud.err, new RegExp(`^Connecting to ${ip.replace(/\./g, '\\.')}:8080 \\(${ip.replace(/\./g, '\\.')}:8080\\)\\nwriting to stdout\\n`));
  t.same(await exec('client', 'wget', '-qO-', `http://${ip}:9999/`), { code: 1, out: '', err: `wget: can't connect to remote host (${ip}): Connection refused\n` });
  t.same(await exec('client', 'wget', '-qO-', `http://${ip}:8080/echo?code=503`), { code: 1, out: '', err: 'wget: server returned error: HTTP/1.1 503 Service Unavailable\n' });
  t.same(await exec('client', 'wget', '-qO-', 'http://nowhere/'), { code: 1, out: '', err: "wget: bad address 'nowhere'\n" });
  t.same(await exec('client', 'nc', '-z', ip, '8080'), { code: 0, out: '', err: '' }, 'nc -z open: 0, silent');
  t.same(await exec('client', 'nc', '-z', ip, '9999'), { code: 1, out: '', err: '' }, 'nc -z closed: 1, silent');
  t.same(await exec('client', 'nc', '-zv', ip, '8080'), { code: 0, out: '', err: `${ip} (${ip}:8080) open\n` });
  t.same(await exec('client', 'nc', '-zv', ip, '9999'), { code: 1, out: '', err: `nc: ${ip} (${ip}:9999): Connection refused\n` });
  const udp = await exec('client', 'sh', '-c', `echo hostname | nc -u -w1 ${ip} 8081`);
  t.same(udp, { code: 0, out: web[0]!.metadata.name, err: '' }, 'nc -u: netexec answers hostname over UDP');
});

t.test('agnhost connect in a web pod: exit 0 open, 1 with REFUSED / TIMEOUT', async (t) => {
  const { web, exec } = await quickstart(t);
  const [a, b] = web;
  t.same(await exec(a!.metadata.name!, '/agnhost', 'connect', `${b!.status!.podIP}:8080`, '--timeout=1s'), { code: 0, out: '', err: '' });
  t.same(await exec(a!.metadata.name!, '/agnhost', 'connect', `${b!.status!.podIP}:9999`, '--timeout=1s'), { code: 1, out: '', err: 'REFUSED\n' });
  const curl = await exec(a!.metadata.name!, 'curl', '-s', `http://${b!.status!.podIP}:8080/hostname`);
  t.equal(curl.out, b!.metadata.name, 'agnhost images have curl (Alpine + curl)');
});

t.test('DNS with no cluster DNS served: nslookup and dig fail as with no server answering', async (t) => {
  const { cluster, exec } = await quickstart(t);
  const ns = await exec('client', 'nslookup', 'web');
  t.equal(ns.code, 1);
  t.equal(ns.out, 'Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n;; connection timed out; no servers could be reached\n\n');
  cluster.apply([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shoot', namespace: 'default' }, spec: { containers: [{ name: 'shoot', image: 'nicolaka/netshoot', command: ['sleep', 'infinity'] }] } }]);
  await cluster.settle();
  const dig = await exec('shoot', 'dig', '+time=1', '+tries=2', 'web.default.svc.cluster.local');
  t.equal(dig.code, 9, 'dig exits 9 when no reply comes');
  t.match(dig.out, /^;; communications error to 10\.96\.0\.10#53: (timed out|host unreachable|connection refused)\n;; communications error to 10\.96\.0\.10#53: .+\n\n; <<>> DiG 9\.18\.\d+ <<>> \+time=1 \+tries=2 web\.default\.svc\.cluster\.local\n;; global options: \+cmd\n;; no servers could be reached\n\n$/);
  const short = await exec('shoot', 'dig', '+short', '+tries=1', 'web');
  t.equal(short.code, 9);
});

t.test('/etc/hosts and resolv.conf as the kubelet writes them; own hostname resolves through /etc/hosts', async (t) => {
  const { web, exec } = await quickstart(t);
  const pod = web[0]!;
  const hosts = await exec(pod.metadata.name!, 'cat', '/etc/hosts');
  t.equal(
    hosts.out,
    '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n' +
      `${pod.status!.podIP}\t${pod.metadata.name}\n`,
  );
  t.equal((await exec('client', 'cat', '/etc/resolv.conf')).out, 'nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');
  const own = await exec(pod.metadata.name!, 'curl', '-s', `http://${pod.metadata.name}:8080/hostname`);
  t.same(own, { code: 0, out: pod.metadata.name, err: '' }, 'the pod hostname is in /etc/hosts');
  t.same(await exec(pod.metadata.name!, 'curl', '-s', 'http://localhost:8080/hostname'), { code: 0, out: pod.metadata.name, err: '' });
  t.same(await exec('client', 'hostname'), { code: 0, out: 'client\n', err: '' });
});

t.test('hostAliases land in /etc/hosts and resolve for curl', async (t) => {
  const { web, exec, cluster } = await quickstart(t);
  const ip = web[0]!.status!.podIP!;
  cluster.apply([
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'aliased', namespace: 'default' },
      spec: { hostAliases: [{ ip, hostnames: ['backend', 'backend.local'] }], containers: [{ name: 'c', image: 'curlimages/curl', command: ['sleep', 'infinity'] }] },
    },
  ] as never);
  await cluster.settle();
  const hosts = await exec('aliased', 'cat', '/etc/hosts');
  t.match(hosts.out, `\n# Entries added by HostAliases.\n${ip}\tbackend\tbackend.local\n`);
  t.same(await exec('aliased', 'curl', '-s', 'http://backend.local:8080/hostname'), { code: 0, out: web[0]!.metadata.name, err: '' });
});

t.test('what the image lacks fails as the runtime says; shell errors as the shell says', async (t) => {
  const { cluster, exec } = await quickstart(t);
  await t.rejects(cluster.exec('default', 'client', { argv: ['dig', 'web'] }), {
    code: 'PODNET_EXEC_NOT_FOUND',
    message: /^Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "[0-9a-f]+": OCI runtime exec failed: exec failed: unable to start container process: exec: "dig": executable file not found in \$PATH: unknown$/,
  });
  t.same(await exec('client', 'sh', '-c', 'dig web'), { code: 127, out: '', err: 'sh: dig: not found\n' });
  t.same(await exec('client', 'sh', '-c', 'false || echo fallback; exit 3'), { code: 3, out: 'fallback\n', err: '' });
  t.same(await exec('client', 'true'), { code: 0, out: '', err: '' });
  t.same(await exec('client', 'false'), { code: 1, out: '', err: '' });
  await t.rejects(cluster.exec('default', 'client', { container: 'nope', argv: ['true'] }), { message: 'container nope is not valid for pod client' });
  await t.rejects(cluster.exec('default', 'ghost', { argv: ['true'] }), { code: 'PODNET_NOT_FOUND', message: 'pods "ghost" not found' });
});
