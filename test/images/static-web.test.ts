// nginx and httpd as their official images serve out of the box, checked with curl. nginx's
// error pages are src/http/ngx_http_special_response.c's; httpd's index.html is the one the
// httpd image ships in htdocs.
import t from 'tap';
import net from 'node:net';
import { lookupImage } from '../../lib/images/registry.js';
import { DEFAULT_NGINX_VERSION, HTTPD_INDEX_HTML, NGINX_INDEX_HTML } from '../../lib/images/static-web.js';
import { curl, curlResponse, FakeNetwork, NO_CURL, rawExchange } from './fake-context.js';

async function start(t: { teardown(fn: () => unknown): void }, image: string) {
  const network = new FakeNetwork();
  const ctx = network.pod({ name: 'web', ip: '10.244.1.50', args: [] });
  const container = await lookupImage(image)!.start(ctx);
  t.teardown(async () => {
    await container.stop();
    await network.close();
  });
  return ctx;
}

t.test('nginx: the welcome page on port 80, with nginx\'s headers', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, 'nginx:1.27.3-alpine');
  const res = await curlResponse([`http://127.0.0.1:${ctx.port(80)}/`]);
  t.equal(res.statusLine, 'HTTP/1.1 200 OK');
  t.equal(res.body, NGINX_INDEX_HTML);
  t.equal(Buffer.byteLength(res.body), 615);
  t.same(
    res.headers.map(([k]) => k),
    ['server', 'date', 'content-type', 'content-length', 'last-modified', 'connection', 'etag', 'accept-ranges'],
    'nginx header order',
  );
  t.equal(res.header('server'), 'nginx/1.27.3', 'the version the tag names');
  t.equal(res.header('content-type'), 'text/html');
  t.equal(res.header('connection'), 'keep-alive');
  t.match(res.header('etag'), /^"[0-9a-f]+-267"$/, 'hex mtime and hex size');
  t.match((await curl([`http://127.0.0.1:${ctx.port(80)}/index.html`])).stdout, /<title>Welcome to nginx!<\/title>/);
});

t.test('nginx: 404, 405 and 400 are nginx\'s own pages', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, 'docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');
  const url = `http://127.0.0.1:${ctx.port(80)}`;
  const missing = await curlResponse([`${url}/missing`]);
  t.equal(missing.statusLine, 'HTTP/1.1 404 Not Found');
  t.equal(
    missing.body,
    `<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/${DEFAULT_NGINX_VERSION}</center>\r\n</body>\r\n</html>\r\n`,
  );
  t.same(missing.headers.map(([k]) => k), ['server', 'date', 'content-type', 'content-length', 'connection']);
  const post = await curlResponse(['-X', 'POST', `${url}/`]);
  t.equal(post.statusLine, 'HTTP/1.1 405 Not Allowed');
  t.match(post.body, /<center><h1>405 Not Allowed<\/h1><\/center>/);
  t.equal((await curlResponse(['-X', 'POST', `${url}/nope`])).status, 404, 'POST to a missing file is 404');
  t.equal((await curlResponse(['-X', 'DELETE', `${url}/`])).status, 405);
  const climbing = await curlResponse(['--path-as-is', `${url}/../etc/passwd`]);
  t.equal(climbing.status, 400);
  t.equal(climbing.header('connection'), 'close');
  const chrome = await curl(['-H', 'User-Agent: Mozilla/5.0 Chrome/126.0', `${url}/missing`]);
  t.match(chrome.stdout, /<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n$/);
});

t.test('nginx: conditional GET and HEAD', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, 'nginx');
  const url = `http://127.0.0.1:${ctx.port(80)}/`;
  const first = await curlResponse([url]);
  const again = await curlResponse(['-H', `If-None-Match: ${first.header('etag')}`, url]);
  t.equal(again.statusLine, 'HTTP/1.1 304 Not Modified');
  t.equal(again.body, '');
  t.equal((await curlResponse(['-H', `If-Modified-Since: ${first.header('last-modified')}`, url])).status, 304);
  const head = await curlResponse(['--head', url]);
  t.equal(head.header('content-length'), '615');
  t.equal(head.body, '');
});

t.test('nginx: malformed HTTP gets node\'s 400 and the server keeps serving', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, 'nginx');
  t.match(await rawExchange(ctx.port(80), '\x16\x03\x01 not http at all\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.equal((await curlResponse([`http://127.0.0.1:${ctx.port(80)}/`])).status, 200);
});

t.test('nginxinc/nginx-unprivileged listens on 8080', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, 'nginxinc/nginx-unprivileged:stable-alpine');
  t.same([...ctx.tcpPorts.keys()], [8080]);
  t.equal((await curl([`http://127.0.0.1:${ctx.port(8080)}/`])).stdout, NGINX_INDEX_HTML);
});

t.test('httpd: "It works!" on port 80, with Apache\'s headers', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, 'httpd:2.4.62');
  const res = await curlResponse([`http://127.0.0.1:${ctx.port(80)}/`]);
  t.equal(res.statusLine, 'HTTP/1.1 200 OK');
  t.equal(res.body, HTTPD_INDEX_HTML);
  t.equal(res.body, '<html><body><h1>It works!</h1></body></html>\n');
  t.same(res.headers, [
    ['date', res.header('date')],
    ['server', 'Apache/2.4.62 (Unix)'],
    ['last-modified', 'Mon, 11 Jun 2007 18:53:14 GMT'],
    ['etag', '"2d-432a5e4a73a80"'],
    ['accept-ranges', 'bytes'],
    ['content-length', '45'],
    ['content-type', 'text/html'],
  ]);
});

t.test('httpd: Keep-Alive only for clients that ask; 404 and 405 pages', { skip: NO_CURL }, async (t) => {
  const ctx = await start(t, 'httpd:2.4');
  const url = `http://127.0.0.1:${ctx.port(80)}`;
  const ka = await curlResponse(['-H', 'Connection: keep-alive', `${url}/`]);
  t.equal(ka.header('keep-alive'), 'timeout=5, max=100');
  t.equal(ka.header('connection'), 'Keep-Alive');
  const missing = await curlResponse([`${url}/missing`]);
  t.equal(missing.status, 404);
  t.equal(missing.header('content-type'), 'text/html; charset=iso-8859-1');
  t.equal(
    missing.body,
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n</body></html>\n',
  );
  const put = await curlResponse(['-X', 'PUT', `${url}/`]);
  t.equal(put.status, 405);
  t.match(put.body, /<p>The requested method PUT is not allowed for this URL.<\/p>/);
  t.equal((await curlResponse(['-X', 'POST', `${url}/`])).status, 200, 'Apache serves a static file to POST');
});

t.test('httpd: counts keep-alive requests per connection', async (t) => {
  const ctx = await start(t, 'httpd');
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(ctx.port(80), '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (data += c));
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
    const req = 'GET / HTTP/1.1\r\nHost: web\r\nConnection: keep-alive\r\n\r\n';
    socket.write(`${req}${req}GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n`);
  });
  t.same(
    [...answer.matchAll(/^(Keep-Alive|Connection): (.*)\r$/gm)].map((m) => `${m[1]}: ${m[2]}`),
    ['Keep-Alive: timeout=5, max=100', 'Connection: Keep-Alive', 'Keep-Alive: timeout=5, max=99', 'Connection: Keep-Alive', 'Connection: close'],
  );
});
