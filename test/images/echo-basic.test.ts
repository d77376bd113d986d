// The conformance echo servers against real clients. Formats follow kubernetes-sigs/gateway-api
// conformance/echo-basic/echo-basic.go (json.MarshalIndent(v, "", " ") of RequestAssertions),
// its tcpserver/tcpserver.go and udpechoserver/udpechoserver.go, and
// kubernetes-sigs/ingress-controller-conformance images/echoserver/echoserver.go.
import t from 'tap';
import net from 'node:net';
import { echoBasic, ingressEchoserver } from '../../lib/images/echo-basic.js';
import type { BuiltinImage } from '../../lib/images/types.js';
import { curl, curlResponse, FakeNetwork, NO_CURL, rawExchange, udpAsk } from './fake-context.js';

const ENV = { NAMESPACE: 'gateway-conformance-infra', POD_NAME: 'infra-backend-v1-7d9b', SERVICE_NAME: 'infra-backend-v1' };

async function start(t: { teardown(fn: () => unknown): void }, image: BuiltinImage, env: Record<string, string>) {
  const network = new FakeNetwork();
  const ctx = network.pod({ name: env['POD_NAME'] ?? 'echo', ip: '10.244.1.30', env, args: [] });
  const container = await image.start(ctx);
  t.teardown(async () => {
    await container.stop();
    await network.close();
  });
  return ctx;
}

/** curl with only the headers a test names. */
const quiet = ['-H', 'User-Agent:', '-H', 'Accept:'];

t.test('echo-basic.go: the request echoed as indented JSON', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, echoBasic, ENV);
  const res = await curlResponse([...quiet, '-H', 'Host: backend.example.com', '-H', 'x-forwarded-for: 203.0.113.9', '-H', 'X-Multi: a', '-H', 'x-multi: <b>', `http://127.0.0.1:${ctx.port(3000)}/some//path?x=1&y=2`]);
  t.equal(res.status, 200);
  t.equal(res.header('content-type'), 'application/json');
  t.equal(res.header('x-content-type-options'), 'nosniff');
  t.equal(
    res.body,
    [
      '{',
      ' "path": "/some//path?x=1\\u0026y=2",',
      ' "host": "backend.example.com",',
      ' "method": "GET",',
      ' "proto": "HTTP/1.1",',
      ' "headers": {',
      '  "X-Forwarded-For": [',
      '   "203.0.113.9"',
      '  ],',
      '  "X-Multi": [',
      '   "a",',
      '   "\\u003cb\\u003e"',
      '  ]',
      ' },',
      ' "httpPort": "3000",',
      ' "namespace": "gateway-conformance-infra",',
      ' "ingress": "",',
      ' "service": "infra-backend-v1",',
      ' "pod": "infra-backend-v1-7d9b"',
      '}',
    ].join('\n'),
  );
});

t.test('echo-basic.go: X-Echo-Set-Header, /health, /status/<code>, ?delay=', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, echoBasic, ENV);
  const url = (p: string) => `http://127.0.0.1:${ctx.port(3000)}${p}`;
  const set = await curlResponse(['-H', 'X-Echo-Set-Header: X-Foo: one, X-Bar: two, X-Foo: three', url('/')]);
  t.equal(set.header('x-foo'), 'one,three');
  t.equal(set.header('x-bar'), 'two');
  t.equal((await curl([url('/health')])).stdout, 'OK');
  t.equal((await curlResponse([url('/status/418')])).status, 418);
  t.equal((await curlResponse([url('/status/abc')])).status, 400);
  const delay = await curlResponse([url('/?delay=soon')]);
  t.equal(delay.status, 500);
  t.equal(delay.body, '{"message":"time: invalid duration \\"soon\\""}');
  t.equal(JSON.parse((await curl([url('/?delay=0s')])).stdout).path, '/?delay=0s');
});

t.test('echo-basic.go: /retry/ fails the first attempts of a uuid, then echoes', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, echoBasic, ENV);
  const url = `http://127.0.0.1:${ctx.port(3000)}/retry/x?uuid=u1&succeedAfter=1&responseCode=503`;
  t.equal((await curlResponse([url])).status, 503);
  t.equal((await curlResponse([url])).status, 200);
  const reset = await curl([`http://127.0.0.1:${ctx.port(3000)}/retry/x?uuid=u2&succeedAfter=1`]);
  t.not(reset.code, 0, 'the TCP failure mode resets the connection');
  const noUuid = await curlResponse([`http://127.0.0.1:${ctx.port(3000)}/retry/x?succeedAfter=1`]);
  t.equal(noUuid.status, 400);
  t.equal(noUuid.body, 'uuid is required');
});

t.test('echo-basic.go: HTTP/2 with prior knowledge on the h2c port; HTTP/1 there is refused', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, echoBasic, ENV);
  const h2 = await curl([...quiet, '--http2-prior-knowledge', `http://127.0.0.1:${ctx.port(3001)}/h2`]);
  t.equal(h2.code, 0, h2.stderr);
  const body = JSON.parse(h2.stdout) as { proto: string; path: string; host: string; headers: Record<string, string[]> };
  t.equal(body.proto, 'HTTP/2.0');
  t.equal(body.path, '/h2');
  t.equal(body.host, `127.0.0.1:${ctx.port(3001)}`);
  t.same(body.headers, {});
  t.ok(ctx.logs.some((l) => /^Echoing back request made to \/h2 to client \(10\.244\.1\.9:\d+\)$/.test(l)), 'the virtual client, over HTTP/2 too');
  const h1 = await curlResponse([`http://127.0.0.1:${ctx.port(3001)}/`]);
  t.equal(h1.status, 400);
  t.equal(h1.body, 'Expected h2c request');
});

t.test('echo-basic.go: HTTPS with TLS_SERVER_CERT/TLS_SERVER_PRIVKEY reports the TLS state', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, echoBasic, { ...ENV, TLS_SERVER_CERT: '/etc/tls/tls.crt', TLS_SERVER_PRIVKEY: '/etc/tls/tls.key' });
  const port = ctx.port(8443);
  const res = await curl(['--insecure', '--http1.1', '--resolve', `secure.example.com:${port}:127.0.0.1`, `https://secure.example.com:${port}/tls`]);
  t.equal(res.code, 0, res.stderr);
  const body = JSON.parse(res.stdout) as { tls: Record<string, string> };
  t.equal(body.tls['serverName'], 'secure.example.com');
  t.match(body.tls['version'], /^TLSv1\.[23]$/);
  t.equal(body.tls['negotiatedProtocol'], 'http/1.1');
  t.match(body.tls['cipherSuite'], /^TLS_/);
  t.same(Object.keys(body.tls), ['version', 'serverName', 'negotiatedProtocol', 'cipherSuite']);
});

t.test('echo-basic: malformed HTTP gets node\'s 400 and the server keeps serving', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, echoBasic, ENV);
  t.match(await rawExchange(ctx.port(3000), 'GET / HTTP/1.1\r\nBad Header Line\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.equal((await curl([`http://127.0.0.1:${ctx.port(3000)}/health`])).stdout, 'OK');
});

t.test('tcpserver.go: welcome line, then PING, IS_TLS and TEST answered line by line', async (t) => {
  const ctx = await start(t, echoBasic, { ...ENV, TCP_ECHO_SERVER: 'true' });
  const transcript = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(ctx.port(3000), '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (data += c));
    socket.on('error', reject);
    socket.on('end', () => resolve(data));
    socket.end('PING\r\nIS_TLS\nNOISE\nTEST');
  });
  t.equal(
    transcript,
    'Gateway API Test TCP Server\nPONG\nfalse\n' +
      '{"namespace":"gateway-conformance-infra","ingress":"","service":"infra-backend-v1","pod":"infra-backend-v1-7d9b","tcpport":"3000","tlsport":"8443","isTLS":false}\n',
  );
});

t.test('udpechoserver.go: each datagram answered with the request and the pod context', async (t) => {
  const ctx = await start(t, echoBasic, { ...ENV, UDP_ECHO_SERVER: '1', UDP_PORT: '5353' });
  t.equal(
    await udpAsk(ctx.udpPort(5353), 'hello <udp>'),
    '{"request":"hello \\u003cudp\\u003e","namespace":"gateway-conformance-infra","ingress":"","service":"infra-backend-v1","pod":"infra-backend-v1-7d9b"}',
  );
});

t.test('ingress-controller-conformance echoserver.go: no httpPort, no pod', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, ingressEchoserver, { NAMESPACE: 'ingress', INGRESS_NAME: 'web', SERVICE_NAME: 'echo', PORT: '8080' });
  const res = await curl([...quiet, '-H', 'Host: foo.bar.com', `http://127.0.0.1:${ctx.port(8080)}/foo`]);
  t.equal(
    res.stdout,
    '{\n "path": "/foo",\n "host": "foo.bar.com",\n "method": "GET",\n "proto": "HTTP/1.1",\n "headers": {},\n "namespace": "ingress",\n "ingress": "web",\n "service": "echo"\n}',
  );
  t.equal((await curl([`http://127.0.0.1:${ctx.port(8080)}/health`])).stdout, 'OK');
});
