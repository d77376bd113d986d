// agnhost netexec against real clients: curl for HTTP, dgram for UDP, a raw socket for malformed
// requests. Expected bytes follow kubernetes/kubernetes test/images/agnhost/netexec/netexec.go.
import t from 'tap';
import { agnhost } from '../../lib/images/agnhost.js';
import { ContainerArgsError, ImageFeatureUnsupportedError } from '../../lib/images/errors.js';
import { CLIENT_IP, curl, curlResponse, FakeNetwork, NO_CURL, rawExchange, udpAsk } from './fake-context.js';

const A_IP = '10.244.1.5';
const B_IP = '10.244.2.7';

async function twoPods(t: { teardown(fn: () => unknown): void }, argsA: string[] = ['netexec', '--http-port=8080', '--udp-port=8081']) {
  const network = new FakeNetwork();
  const a = network.pod({ name: 'netexec-a', ip: A_IP, args: argsA });
  // The kubelet may pass the image's entrypoint too.
  const b = network.pod({ name: 'netexec-b', ip: B_IP, args: ['/agnhost', 'netexec', '--http-port', '8080', '--udp-port=8081'] });
  const ca = await agnhost.start(a);
  const cb = await agnhost.start(b);
  t.teardown(async () => {
    await ca.stop();
    await cb.stop();
    await network.close();
  });
  return { network, a, b, ca, url: (path: string) => `http://127.0.0.1:${a.port(8080)}${path}` };
}

t.test('agnhost netexec.go: /hostname, /hostName, /clientip, /echo, /healthz, /readyz', { skip: NO_CURL }, async (t) => {
  const { url } = await twoPods(t);
  const hostname = await curlResponse([url('/hostname')]);
  t.equal(hostname.status, 200);
  t.equal(hostname.body, 'netexec-a');
  t.equal(hostname.header('content-type'), 'text/plain; charset=utf-8', 'Go sniffs text');
  t.equal(hostname.header('content-length'), '9');
  t.equal((await curl([url('/hostName')])).stdout, 'netexec-a');
  // /clientip is r.RemoteAddr: the client's virtual address, not the loopback it came from.
  t.match((await curl([url('/clientip')])).stdout, new RegExp(`^${CLIENT_IP.replace(/\./g, '\\.')}:\\d+$`));
  t.equal((await curl([url('/echo?msg=hello%20world')])).stdout, 'hello world');
  const teapot = await curlResponse([url('/echo?msg=short%20and%20stout&code=418')]);
  t.equal(teapot.statusLine, "HTTP/1.1 418 I'm a Teapot");
  t.equal(teapot.body, 'short and stout');
  t.equal((await curl([url('/echo?msg=x&code=abc')])).stdout, `argument 'code' must be an integer or empty, got "abc"\n`);
  const healthz = await curlResponse([url('/healthz')]);
  t.equal(healthz.status, 200, 'healthy once the UDP server runs');
  t.equal(healthz.body, '');
  t.equal((await curl([url('/readyz')])).stdout, 'ok');
  t.match((await curl([url('/')])).stdout, /^NOW: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC m=\+\d+\.\d{9}$/);
});

t.test('agnhost netexec.go: /header returns one header or r.Header as JSON', { skip: NO_CURL }, async (t) => {
  const { url } = await twoPods(t);
  const plain = ['-H', 'User-Agent:', '-H', 'Accept:', '-H', 'X-Forwarded-For: 203.0.113.7', '-H', 'x-multi: 1', '-H', 'X-Multi: <2>'];
  t.equal((await curl([...plain, url('/header?key=x-forwarded-for')])).stdout, '203.0.113.7');
  // json.Marshal(http.Header): canonical keys in order, values as lists, Host excluded, HTML escaped.
  t.equal((await curl([...plain, url('/header')])).stdout, '{"X-Forwarded-For":["203.0.113.7"],"X-Multi":["1","\\u003c2\\u003e"]}');
});

t.test('agnhost netexec.go: /dial over HTTP reaches the other pod and reports its answers', { skip: NO_CURL }, async (t) => {
  const { url } = await twoPods(t);
  t.equal((await curl([url(`/dial?host=${B_IP}&port=8080&request=hostname&protocol=http&tries=2`)])).stdout, '{"responses":["netexec-b","netexec-b"]}');
  // The request path is appended as is; the far pod sees this pod's address as the client.
  const echoed = JSON.parse((await curl([url(`/dial?host=${B_IP}&port=8080&request=clientip`)])).stdout) as { responses: string[] };
  t.match(echoed.responses[0], new RegExp(`^${A_IP.replace(/\./g, '\\.')}:\\d+$`));
  t.equal((await curl([url(`/dial?host=${B_IP}&port=8080&request=echo%3Fmsg%3Dhi`)])).stdout, '{"responses":["hi"]}');
});

t.test('agnhost netexec.go: /dial over UDP', { skip: NO_CURL }, async (t) => {
  const { url } = await twoPods(t);
  t.equal((await curl([url(`/dial?host=${B_IP}&port=8081&request=hostname&protocol=udp`)])).stdout, '{"responses":["netexec-b"]}');
  // The UDP server lower-cases the command before answering.
  t.equal((await curl([url(`/dial?host=${B_IP}&port=8081&request=echo%20Hello%20There&protocol=UDP`)])).stdout, '{"responses":["hello there"]}');
});

t.test('agnhost netexec.go: /dial failures', { skip: NO_CURL }, async (t) => {
  const { url, network } = await twoPods(t);
  t.equal(
    (await curl([url('/dial?host=10.244.3.3&port=8080&request=hostname')])).stdout,
    '{"errors":["Get \\"http://10.244.3.3:8080/hostname\\": dial tcp 10.244.3.3:8080: connect: connection refused"]}',
  );
  network.drop('10.244.4.4');
  t.equal(
    (await curl([url('/dial?host=10.244.4.4&port=8080&request=hostname')])).stdout,
    '{"errors":["Get \\"http://10.244.4.4:8080/hostname\\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"]}',
  );
  t.equal(
    (await curl([url('/dial?host=10.244.4.4&port=8081&request=hostname&protocol=udp')])).stdout,
    `{"errors":["reading from udp connection failed. err:'read udp ${A_IP}-\\u003e10.244.4.4:8081: i/o timeout'"]}`,
  );
  const noRequest = await curlResponse([url(`/dial?host=${B_IP}&port=8080`)]);
  t.equal(noRequest.status, 400);
  t.equal(noRequest.body, 'request parameter not specified. <nil>\n');
  t.equal(noRequest.header('x-content-type-options'), 'nosniff');
  const badTries = await curlResponse([url(`/dial?host=${B_IP}&port=8080&request=hostname&tries=x`)]);
  t.equal(badTries.status, 400);
  t.equal(badTries.body, 'tries parameter is invalid. strconv.Atoi: parsing "x": invalid syntax\n');
  const badProtocol = await curlResponse([url(`/dial?host=${B_IP}&port=8080&request=hostname&protocol=quic`)]);
  t.equal(badProtocol.status, 400);
  t.equal(badProtocol.body, 'unsupported protocol. quic\n');
});

t.test('agnhost netexec.go: the UDP server answers hostname, echo and clientip', async (t) => {
  const { a } = await twoPods(t);
  const port = a.udpPort(8081);
  t.equal(await udpAsk(port, 'hostname'), 'netexec-a');
  t.equal(await udpAsk(port, '  HOSTNAME\n'), 'netexec-a', 'trimmed and lower-cased');
  t.equal(await udpAsk(port, 'echo Hello World'), 'hello world');
  t.match(await udpAsk(port, 'clientip'), new RegExp(`^${CLIENT_IP.replace(/\./g, '\\.')}:\\d+$`));
});

t.test('agnhost netexec: malformed HTTP gets node\'s 400 and the server keeps serving', { skip: NO_CURL }, async (t) => {
  const { a, url } = await twoPods(t);
  const answer = await rawExchange(a.port(8080), 'THIS IS NOT HTTP\r\n\r\n');
  t.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.equal((await curl([url('/hostname')])).stdout, 'netexec-a');
});

t.test('agnhost netexec: ServeMux redirects an unclean path', { skip: NO_CURL }, async (t) => {
  const { url } = await twoPods(t);
  const res = await curlResponse(['--path-as-is', url('//hostname?x=1')]);
  t.equal(res.status, 301);
  t.equal(res.header('location'), '/hostname?x=1');
  t.equal(res.body, '<a href="/hostname?x=1">Moved Permanently</a>.\n\n');
});

t.test('agnhost netexec.go: /shell and /redirect', { skip: NO_CURL }, async (t) => {
  const { url } = await twoPods(t);
  t.equal((await curl([url('/shell?cmd=hostname')])).stdout, '{"error":"fork/exec /bin/sh: no such file or directory"}');
  const res = await curlResponse([url('/redirect?location=/echo%3Fmsg%3Dfoobar&code=307')]);
  t.equal(res.status, 307);
  t.equal(res.header('location'), '/echo?msg=foobar');
});

t.test('agnhost netexec.go: /exit ends the container with the code', { skip: NO_CURL }, async (t) => {
  const { a, url } = await twoPods(t);
  const res = await curl([url('/exit?code=3')]);
  t.not(res.code, 0, 'os.Exit: no response is written');
  t.equal(await a.exited(), 3);
  t.not((await curl([url('/hostname')])).code, 0, 'nothing serves after the exit');
});

t.test('agnhost netexec.go: /exit with a timeout answers, then exits', { skip: NO_CURL }, async (t) => {
  const { a, url } = await twoPods(t);
  const res = await curlResponse([url('/exit?code=4&timeout=1s')]);
  t.equal(res.status, 200);
  t.equal(res.body, '');
  t.equal(await a.exited(), 4);
});

t.test('agnhost netexec.go: /healthz is 412 while no UDP server runs', { skip: NO_CURL }, async (t) => {
  const { url } = await twoPods(t, ['netexec', '--http_port=8080', '--udp-port=-1']);
  t.equal((await curlResponse([url('/healthz')])).status, 412);
  t.equal((await curlResponse([url('/readyz')])).status, 412);
});

t.test('agnhost.go: command lines the real image rejects', async (t) => {
  const network = new FakeNetwork();
  t.teardown(() => network.close());
  const reject = async (args: string[]) => {
    const err = await agnhost.start(network.pod({ name: 'bad', ip: '10.244.9.9', args })).then(
      () => undefined,
      (e: unknown) => e,
    );
    return err as ContainerArgsError;
  };
  const cases: Array<[string[], string]> = [
    [['netexec', '--http-port=abc'], 'Error: invalid argument "abc" for "--http-port" flag: strconv.ParseInt: parsing "abc": invalid syntax\n'],
    [['netexec', '--bogus'], 'Error: unknown flag: --bogus\n'],
    [['netexec', 'extra'], 'Error: accepts at most 0 arg(s), received 1\n'],
    [['bogus'], 'Error: unknown command "bogus" for "app"\n'],
    [['serve-hostname', '--tcp'], "Can't serve TCP/UDP mode and HTTP mode at the same time\n"],
  ];
  for (const [args, output] of cases) {
    const err = await reject(args);
    t.type(err, ContainerArgsError, args.join(' '));
    t.equal(err.code, 'PODNET_CONTAINER_ARGS_INVALID');
    t.equal(err.exitCode, 1);
    t.equal(err.output, output);
  }
  const unsupported = (await reject(['webhook'])) as unknown as ImageFeatureUnsupportedError;
  t.type(unsupported, ImageFeatureUnsupportedError);
  t.match(unsupported.message, /emulated subcommands: connect, netexec, pause, porter, serve-hostname/);
});

t.test('agnhost Dockerfile: no arguments run the CMD, pause', async (t) => {
  const network = new FakeNetwork();
  t.teardown(() => network.close());
  const ctx = network.pod({ name: 'paused', ip: '10.244.9.8' });
  const container = await agnhost.start(ctx);
  t.same(ctx.logs, ['Paused']);
  t.equal(ctx.tcpPorts.size + ctx.udpPorts.size, 0, 'nothing listens');
  await container.stop();
  t.same(ctx.exits, [], 'stopping is not exiting by itself');
});
