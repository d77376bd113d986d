// agnhost serve-hostname (serve-hostname/serve_hostname.go) and porter (porter/porter.go)
// against real clients.
import t from 'tap';
import net from 'node:net';
import { agnhost } from '../../lib/images/agnhost.js';
import { curl, curlResponse, FakeNetwork, NO_CURL, udpAsk } from './fake-context.js';

async function start(t: { teardown(fn: () => unknown): void }, args: string[], env: Record<string, string> = {}) {
  const network = new FakeNetwork();
  const ctx = network.pod({ name: 'backend-7d4f9', ip: '10.244.1.20', args, env });
  const container = await agnhost.start(ctx);
  t.teardown(async () => {
    await container.stop();
    await network.close();
  });
  return ctx;
}

/** Reads a TCP connection to its end without sending anything. */
function readAll(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (data += c));
    socket.on('error', reject);
    socket.on('end', () => resolve(data));
  });
}

t.test('agnhost serve_hostname.go: HTTP on 9376 by default', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, ['serve-hostname']);
  const res = await curlResponse([`http://127.0.0.1:${ctx.port(9376)}/anything`]);
  t.equal(res.status, 200);
  t.equal(res.body, 'backend-7d4f9');
  t.equal(res.header('content-type'), 'text/plain; charset=utf-8');
  t.ok(ctx.logs.includes('Serving on port 9376.'));
  t.ok(ctx.logs.some((l) => /^HTTP request from 10\.244\.1\.9:\d+$/.test(l)), 'logs the virtual client');
});

t.test('agnhost serve_hostname.go: --close adds Connection: close', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, ['serve-hostname', '--port=8000', '--close']);
  const res = await curlResponse([`http://127.0.0.1:${ctx.port(8000)}/`]);
  t.equal(res.header('connection'), 'close');
});

t.test('agnhost serve_hostname.go: raw TCP and UDP with --http=false', async (t) => {
  const ctx = await start(t, ['serve-hostname', '--tcp', '--udp', '--http=false', '--port', '12345']);
  t.equal(await readAll(ctx.port(12345)), 'backend-7d4f9', 'TCP: the hostname, then the server closes');
  t.equal(await udpAsk(ctx.udpPort(12345), 'anything at all'), 'backend-7d4f9', 'UDP: any datagram gets the hostname');
});

t.test('agnhost porter.go: SERVE_PORT_<n> serves the value, SERVE_TLS_PORT_<n> over TLS', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, ['porter'], {
    SERVE_PORT_9001: 'foo',
    SERVE_PORT_9002: 'bar',
    SERVE_TLS_PORT_9443: 'secret',
    SERVE_SCTP_PORT_9003: 'sctp',
    UNRELATED: 'x',
  });
  t.equal((await curl([`http://127.0.0.1:${ctx.port(9001)}/`])).stdout, 'foo');
  t.equal((await curl(['-X', 'POST', `http://127.0.0.1:${ctx.port(9002)}/any/path?q=1`])).stdout, 'bar');
  t.equal((await curl(['--insecure', `https://127.0.0.1:${ctx.port(9443)}/`])).stdout, 'secret');
  t.notOk(ctx.tcpPorts.has(9003), 'SCTP is not emulated');
  t.ok(ctx.logs.some((l) => l.includes('SERVE_SCTP_PORT_9003')), 'and says so');
});

t.test('agnhost porter.go: --json-response', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, ['porter', '--json-response'], { SERVE_PORT_9001: 'foo' });
  const res = await curlResponse(['-X', 'PUT', `http://127.0.0.1:${ctx.port(9001)}/`]);
  t.equal(res.header('content-type'), 'application/json');
  t.equal(res.body, '{"Method":"PUT","Body":"foo"}');
});
