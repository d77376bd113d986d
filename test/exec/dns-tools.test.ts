// The pod's stub resolver and DNS tools against a real DNS server (dns2 listening on loopback):
// the queries leave through the container context's exchangeUdp as real datagrams, here wired
// straight to that server (the data-plane path is covered in exec-quickstart.test.ts; there is no
// cluster DNS to answer through it yet). Checked: resolv.conf(5) parsing, the search-list order of
// glibc (res_query.c __res_context_search), musl (lookup_name.c name_from_dns_search) and Go
// (dnsconfig nameList), nslookup's and dig's output, and curl resolving a name over DNS.
import t from 'tap';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import dns2 from 'dns2';
import type { AddressInfo } from 'node:net';
import type { ContainerContext } from '../../lib/images/types.js';
import { candidateNames, parseResolvConf } from '../../lib/exec/resolver.js';
import { runCommand } from '../../lib/exec/index.js';
import { toolboxFor } from '../../lib/exec/toolbox.js';
import { etcHosts } from '../../lib/exec/hosts.js';
import type { ExecContext } from '../../lib/exec/types.js';

const { Packet } = dns2;
const NAMESERVER = '10.96.0.10';
const RESOLV = 'nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n';

t.test('resolv.conf parsing and the search order of each libc', async (t) => {
  const conf = parseResolvConf('# comment\nnameserver 10.96.0.10\nnameserver bogus\nsearch a.b c\noptions ndots:5 timeout:2 attempts:3 rotate\n');
  t.same(conf, { nameservers: ['10.96.0.10'], search: ['a.b', 'c'], ndots: 5, timeout: 2, attempts: 3 });
  t.same(parseResolvConf('options ndots:30\n'), { nameservers: ['127.0.0.1'], search: [], ndots: 15, timeout: 5, attempts: 2 }, 'ndots capped at 15; no nameserver means the local host');
  const k8s = { search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], ndots: 5 };
  // Fewer dots than ndots: search domains first, the name as given last (all three).
  const web = ['web.default.svc.cluster.local', 'web.svc.cluster.local', 'web.cluster.local', 'web'];
  t.same(candidateNames('web', k8s, 'glibc'), web);
  t.same(candidateNames('web', k8s, 'musl'), web);
  t.same(candidateNames('web', k8s, 'go'), web);
  // ndots reached: glibc and Go try the name first, then the search list; musl only the name.
  const ndots1 = { search: ['svc.cluster.local'], ndots: 1 };
  t.same(candidateNames('example.com', ndots1, 'glibc'), ['example.com', 'example.com.svc.cluster.local']);
  t.same(candidateNames('example.com', ndots1, 'go'), ['example.com', 'example.com.svc.cluster.local']);
  t.same(candidateNames('example.com', ndots1, 'musl'), ['example.com']);
  // A trailing dot: the name only.
  t.same(candidateNames('web.default.svc.cluster.local.', k8s, 'glibc'), ['web.default.svc.cluster.local']);
});

t.test('/etc/hosts as the kubelet writes it: FQDN with a subdomain, hostAliases section', async (t) => {
  t.equal(
    etcHosts({ podIPs: ['10.244.1.5'], hostname: 'web-0', hostDomain: 'nginx.default.svc.cluster.local', hostAliases: [{ ip: '1.2.3.4', hostnames: ['a', 'b'] }] }),
    '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n' +
      '10.244.1.5\tweb-0.nginx.default.svc.cluster.local\tweb-0\n\n# Entries added by HostAliases.\n1.2.3.4\ta\tb\n',
  );
});

interface Fixture {
  run(image: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }>;
  queries: string[];
}

/** A DNS server with a few cluster records, and a pod context whose UDP to 10.96.0.10:53 reaches it. */
async function fixture(t: { teardown(fn: () => unknown): void }, options: { silent?: boolean } = {}): Promise<Fixture> {
  const queries: string[] = [];
  const web = http.createServer((_req, res) => res.end('hello from web'));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  t.teardown(() => web.close());
  const webPort = (web.address() as AddressInfo).port;
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const q = request.questions[0]!;
      queries.push(`${q.name} ${Packet.typeName(q.type)}`);
      if (options.silent) return;
      const response = Packet.createResponseFromRequest(request);
      response.header.aa = 1;
      const add = (record: object) => response.answers.push({ name: q.name, class: Packet.CLASS.IN, ttl: 30, ...record } as never);
      if (q.name === 'web.default.svc.cluster.local' && q.type === Packet.TYPE.A) add({ type: Packet.TYPE.A, address: '10.96.0.20' });
      else if (q.name === '_http._tcp.web.default.svc.cluster.local' && q.type === Packet.TYPE.SRV) add({ type: Packet.TYPE.SRV, priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' });
      else if (q.name === '20.0.96.10.in-addr.arpa' && q.type === Packet.TYPE.PTR) add({ type: Packet.TYPE.PTR, domain: 'web.default.svc.cluster.local' });
      else if (q.name !== 'web.default.svc.cluster.local') response.header.rcode = Packet.RCODE.NXDOMAIN;
      void send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  t.teardown(() => server.close());
  const dnsPort = addresses.udp!.port;
  const container: ContainerContext = {
    podName: 'client',
    namespace: 'default',
    hostname: 'client',
    podIPs: ['10.244.2.2'],
    containerName: 'c',
    args: [],
    env: {},
    listenTcp: async () => {},
    listenUdp: async () => {},
    exit: () => {},
    log: () => {},
    dialTcp: async (host, port) => {
      if (host !== '10.96.0.20' || port !== 80) throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
      const socket = net.connect(webPort, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      return { socket };
    },
    exchangeUdp: (host, port, data, opts) =>
      new Promise<Buffer>((resolve, reject) => {
        if (host !== NAMESERVER || port !== 53) return reject(Object.assign(new Error('unreachable'), { code: 'EHOSTUNREACH' }));
        const socket = dgram.createSocket('udp4');
        const timer = setTimeout(() => (socket.close(), reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }))), Math.min(opts?.timeoutMs ?? 50, 50));
        socket.once('message', (msg) => {
          clearTimeout(timer);
          socket.close();
          resolve(msg);
        });
        socket.bind(0, '127.0.0.1', () => socket.send(data, dnsPort, '127.0.0.1'));
      }),
  };
  return {
    queries,
    async run(image, ...argv) {
      const ctx: ExecContext = { container, resolvConf: RESOLV, hosts: etcHosts({ podIPs: ['10.244.2.2'], hostname: 'client' }), stdin: Buffer.alloc(0), toolbox: toolboxFor(image) };
      const r = await runCommand(ctx, argv);
      return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
    },
  };
}

t.test('busybox nslookup: search list in musl order, then the answer; NXDOMAIN per query type', async (t) => {
  const f = await fixture(t);
  const found = await f.run('curlimages/curl', 'nslookup', 'web');
  t.same(found, { code: 0, out: 'Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\nName:\tweb.default.svc.cluster.local\nAddress: 10.96.0.20\n\n', err: '' });
  t.same(f.queries.slice(0, 1), ['web.default.svc.cluster.local A'], 'the first search domain answers');
  const missing = await f.run('busybox', 'nslookup', 'nothing.example.');
  t.same(missing, { code: 1, out: "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n** server can't find nothing.example.: NXDOMAIN\n\n** server can't find nothing.example.: NXDOMAIN\n\n", err: '' });
  const reverse = await f.run('busybox', 'nslookup', '10.96.0.20');
  t.match(reverse.out, '20.0.96.10.in-addr.arpa\tname = web.default.svc.cluster.local.\n');
});

t.test('dig: sections, +short, -t SRV, -x, no search list unless +search', async (t) => {
  const f = await fixture(t);
  const full = await f.run('nicolaka/netshoot', 'dig', 'web.default.svc.cluster.local');
  t.equal(full.code, 0);
  t.match(
    full.out,
    new RegExp(
      '^\\n; <<>> DiG 9\\.18\\.\\d+ <<>> web\\.default\\.svc\\.cluster\\.local\\n;; global options: \\+cmd\\n;; Got answer:\\n' +
        ';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: \\d+\\n;; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: \\d\\n' +
        ';; WARNING: recursion requested but not available\\n\\n(;; OPT PSEUDOSECTION:\\n; EDNS: version: 0, flags:; udp: \\d+\\n)?' +
        ';; QUESTION SECTION:\\n;web\\.default\\.svc\\.cluster\\.local\\.\\tIN\\tA\\n\\n' +
        // BIND tabs the owner, TTL, class and type out to columns 24/32/40/48, one space once past a column.
        ';; ANSWER SECTION:\\nweb\\.default\\.svc\\.cluster\\.local\\. 30 IN\\tA\\t10\\.96\\.0\\.20\\n\\n' +
        ';; Query time: \\d+ msec\\n;; SERVER: 10\\.96\\.0\\.10#53\\(10\\.96\\.0\\.10\\) \\(UDP\\)\\n;; WHEN: \\w{3} \\w{3} \\d\\d \\d\\d:\\d\\d:\\d\\d UTC \\d{4}\\n;; MSG SIZE  rcvd: \\d+\\n\\n$',
    ),
  );
  t.same(await f.run('nicolaka/netshoot', 'dig', '+short', 'web.default.svc.cluster.local'), { code: 0, out: '10.96.0.20\n', err: '' });
  t.same(await f.run('nicolaka/netshoot', 'dig', '+short', '-t', 'SRV', '_http._tcp.web.default.svc.cluster.local'), { code: 0, out: '0 100 80 web.default.svc.cluster.local.\n', err: '' });
  t.same(await f.run('nicolaka/netshoot', 'dig', '+short', '-x', '10.96.0.20'), { code: 0, out: 'web.default.svc.cluster.local.\n', err: '' });
  const bare = await f.run('nicolaka/netshoot', 'dig', '+short', 'web');
  t.same(bare, { code: 0, out: '', err: '' }, 'dig asks for "web." only: NXDOMAIN, exit 0');
  t.same(await f.run('nicolaka/netshoot', 'dig', '+short', '+search', 'web'), { code: 0, out: '10.96.0.20\n', err: '' }, '+search applies the search list');
  const nx = await f.run('nicolaka/netshoot', 'dig', 'nothing.example');
  t.match(nx.out, ';; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN');
});

t.test('dig and nslookup when no server answers: dig exits 9, nslookup 1', async (t) => {
  const f = await fixture(t, { silent: true });
  const dig = await f.run('agnhost', 'dig', '+tries=2', 'web');
  t.same(dig, {
    code: 9,
    out: ';; communications error to 10.96.0.10#53: timed out\n;; communications error to 10.96.0.10#53: timed out\n\n; <<>> DiG 9.18.33 <<>> +tries=2 web\n;; global options: +cmd\n;; no servers could be reached\n\n',
    err: '',
  });
  const ns = await f.run('agnhost', 'nslookup', 'web');
  t.same(ns, { code: 1, out: 'Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\n;; connection timed out; no servers could be reached\n\n', err: '' }, "BIND's nslookup says #53");
});

t.test('curl and wget resolve a service name through the search list and connect to the answer', async (t) => {
  const f = await fixture(t);
  t.same(await f.run('curlimages/curl', 'curl', '-s', '-w', ' %{remote_ip}', 'http://web/'), { code: 0, out: 'hello from web 10.96.0.20', err: '' });
  t.same(await f.run('busybox', 'wget', '-qO-', 'http://web.default/'), { code: 0, out: 'hello from web', err: '' });
  t.same(await f.run('curlimages/curl', 'curl', '-sS', 'http://nothing.example/'), { code: 6, out: '', err: 'curl: (6) Could not resolve host: nothing.example\n' });
  t.same(await f.run('curlimages/curl', 'curl', '-s', '-w', '%{http_code}', '--resolve', 'fake.test:80:10.96.0.20', 'http://fake.test/'), { code: 0, out: 'hello from web200', err: '' }, '--resolve skips DNS');
});
