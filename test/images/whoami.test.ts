// traefik/whoami (github.com/traefik/whoami app.go) against curl: the text answer, including the
// request as Go's Request.Write renders it (CRLF, Host then User-Agent, other headers sorted).
import t from 'tap';
import { whoami } from '../../lib/images/whoami.js';
import { ContainerArgsError } from '../../lib/images/errors.js';
import { curl, curlResponse, FakeNetwork, NO_CURL, rawExchange } from './fake-context.js';

async function start(t: { teardown(fn: () => unknown): void }, args: string[] = [], env: Record<string, string> = {}) {
  const network = new FakeNetwork();
  const ctx = network.pod({ name: 'whoami-5f7b', ip: '10.244.1.40', args, env });
  const container = await whoami.start(ctx);
  t.teardown(async () => {
    await container.stop();
    await network.close();
  });
  return ctx;
}

t.test('whoami app.go: Hostname, IPs, RemoteAddr, then the request', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t);
  const res = await curlResponse(['-H', 'User-Agent:', '-H', 'Accept:', '-H', 'Host: whoami.example', '-H', 'x-zeta: z', '-H', 'X-Alpha: a1', '-H', 'x-alpha: a2', `http://127.0.0.1:${ctx.port(80)}/path?x=1`]);
  t.equal(res.header('content-type'), 'text/plain; charset=utf-8');
  const remote = /RemoteAddr: (10\.244\.1\.9:\d+)\n/.exec(res.body)?.[1];
  t.ok(remote, 'the virtual client address');
  t.equal(
    res.body,
    'Hostname: whoami-5f7b\nIP: 127.0.0.1\nIP: ::1\nIP: 10.244.1.40\n' +
      `RemoteAddr: ${remote}\n` +
      'GET /path?x=1 HTTP/1.1\r\nHost: whoami.example\r\nUser-Agent: Go-http-client/1.1\r\nX-Alpha: a1\r\nX-Alpha: a2\r\nX-Zeta: z\r\n\r\n',
  );
});

t.test('whoami app.go: a POST body follows the headers, with Content-Length', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, [], { WHOAMI_NAME: 'blue' });
  const res = await curl(['-H', 'User-Agent: curl-test', '-H', 'Accept:', '-H', 'Host: w', '-d', 'hello', `http://127.0.0.1:${ctx.port(80)}/`]);
  t.match(res.stdout, /^Name: blue\nHostname: whoami-5f7b\n/);
  t.match(
    res.stdout,
    /\nPOST \/ HTTP\/1\.1\r\nHost: w\r\nUser-Agent: curl-test\r\nContent-Length: 5\r\nContent-Type: application\/x-www-form-urlencoded\r\n\r\nhello$/,
  );
});

t.test('whoami app.go: --port and WHOAMI_PORT_NUMBER', { skip: NO_CURL }, async (t) => {
  const byFlag = await start(t, ['--port=2001']);
  t.match((await curl([`http://127.0.0.1:${byFlag.port(2001)}/`])).stdout, /^Hostname: /);
  const byEnv = await start(t, [], { WHOAMI_PORT_NUMBER: '8080' });
  t.ok(byEnv.tcpPorts.has(8080));
  const both = await start(t, ['/whoami', '-port', '9000'], { WHOAMI_PORT_NUMBER: '8080' });
  t.same([...both.tcpPorts.keys()], [9000], 'the flag wins over the variable');
});

t.test('whoami app.go: /api, /health, /bench, /data', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, ['--name', 'green']);
  const url = (p: string) => `http://127.0.0.1:${ctx.port(80)}${p}`;
  const api = await curlResponse(['-H', 'User-Agent:', '-H', 'Accept:', '-H', 'Host: api.example', url('/api')]);
  t.equal(api.header('content-type'), 'application/json');
  const remote = (JSON.parse(api.body) as { remoteAddr: string }).remoteAddr;
  t.equal(api.body, `{"hostname":"whoami-5f7b","ip":["127.0.0.1","::1","10.244.1.40"],"url":"/api","host":"api.example","method":"GET","name":"green","remoteAddr":"${remote}"}\n`);
  t.equal((await curlResponse([url('/health')])).status, 200);
  t.equal((await curlResponse(['-d', '503', url('/health')])).status, 200);
  t.equal((await curlResponse([url('/health')])).status, 503);
  t.equal((await curl([url('/bench')])).stdout, '1');
  t.equal((await curl([url('/data?size=5')])).stdout, '|ABC|');
  t.equal((await curl([url('/data?size=30')])).stdout, '|ABCDEFGHIJKLMNOPQRSTUVWXYZ-A|');
});

t.test('whoami: malformed HTTP gets node\'s 400 and the server keeps serving', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t);
  t.match(await rawExchange(ctx.port(80), 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.match((await curl([`http://127.0.0.1:${ctx.port(80)}/`])).stdout, /^Hostname: whoami-5f7b\n/);
});

t.test('whoami app.go: Go flag errors exit 2', async (t) => {
  const network = new FakeNetwork();
  t.teardown(() => network.close());
  const err = (await whoami.start(network.pod({ name: 'w', ip: '10.244.1.41', args: ['--bogus'] })).catch((e: unknown) => e)) as ContainerArgsError;
  t.type(err, ContainerArgsError);
  t.equal(err.exitCode, 2);
  t.match(err.output, /^flag provided but not defined: -bogus\n/);
});
