/**
 * The official web server images as they come out of the box: a static page on port 80.
 *
 * - {@link nginx} (`nginx`, `nginx:1.27-alpine`, `registry.k8s.io/e2e-test-images/nginx`): the
 *   image's default.conf serves /usr/share/nginx/html, which holds `index.html` ("Welcome to
 *   nginx!", 615 bytes) and `50x.html`. Responses carry `Server: nginx/<version>`, nginx's
 *   ETag (`"<hex mtime>-<hex size>"`) and Last-Modified; errors are nginx's built-in pages
 *   (src/http/ngx_http_special_response.c, CRLF lines, `<hr><center>nginx/<version></center>`).
 *   Methods other than GET, HEAD and POST, and POST to a file, get 405 (ngx_http_static_module).
 *   {@link nginxUnprivileged} (`nginxinc/nginx-unprivileged`) is the same on port 8080.
 * - {@link httpd} (`httpd:2.4`): htdocs/index.html is `<html><body><h1>It works!</h1></body></html>`
 *   (45 bytes, Last-Modified Mon, 11 Jun 2007 18:53:14 GMT, ETag `"2d-432a5e4a73a80"`);
 *   `Server: Apache/<version> (Unix)`, `Keep-Alive: timeout=5, max=N` to clients that ask for it;
 *   errors are Apache's HTML 2.0 pages in ISO-8859-1.
 *
 * The version in `Server` comes from the tag when it names one (`nginx:1.27.3-alpine`,
 * `httpd:2.4.62`), otherwise it is {@link DEFAULT_NGINX_VERSION} / {@link DEFAULT_HTTPD_VERSION}.
 * Configuration mounted into the container (custom nginx.conf, htdocs volumes) is not read:
 * these are the images' defaults only.
 */

import { ContainerProcess } from './container.js';
import { parseImageReference, repositoryEndsWith, tagVersion } from './reference.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BuiltinImage, ContainerContext, RunningContainer } from './types.js';

/** nginx version announced when the tag does not name one (the mainline `nginx:latest` follows). */
export const DEFAULT_NGINX_VERSION = '1.29.3';
/** Apache httpd version announced when the tag does not name one. */
export const DEFAULT_HTTPD_VERSION = '2.4.65';

/** nginx's /usr/share/nginx/html/index.html. */
export const NGINX_INDEX_HTML = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
`;

/** nginx's /usr/share/nginx/html/50x.html. */
const NGINX_50X_HTML = `<!DOCTYPE html>
<html>
<head>
<title>Error</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p>If you are the system administrator of this resource then you should check
the error log for details.</p>
<p><em>Faithfully yours, nginx.</em></p>
</body>
</html>
`;

/** httpd's htdocs/index.html. */
export const HTTPD_INDEX_HTML = '<html><body><h1>It works!</h1></body></html>\n';

/** A file the image serves. */
interface StaticFile {
  body: Buffer;
  type: string;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
  etag: string;
}

/**
 * nginx's files get a fixed modification time (podnet's, not a particular image build's);
 * the ETag is derived from it as nginx derives it.
 */
const NGINX_MTIME = Date.UTC(2025, 9, 28, 12, 0, 0) / 1000;
/** httpd's index.html has carried this mtime and ETag since 2007. */
const HTTPD_MTIME = Date.UTC(2007, 5, 11, 18, 53, 14) / 1000;

function nginxFile(text: string): StaticFile {
  const body = Buffer.from(text);
  return { body, type: 'text/html', mtime: NGINX_MTIME, etag: `"${NGINX_MTIME.toString(16)}-${body.length.toString(16)}"` };
}

const NGINX_FILES = new Map<string, StaticFile>([
  ['/index.html', nginxFile(NGINX_INDEX_HTML)],
  ['/50x.html', nginxFile(NGINX_50X_HTML)],
]);

const HTTPD_FILES = new Map<string, StaticFile>([
  ['/index.html', { body: Buffer.from(HTTPD_INDEX_HTML), type: 'text/html', mtime: HTTPD_MTIME, etag: '"2d-432a5e4a73a80"' }],
]);

const httpDate = (seconds: number): string => new Date(seconds * 1000).toUTCString();

/**
 * The request path as both servers map it to a file: percent-decoded, `//` merged, `.` and `..`
 * resolved. Undefined when it cannot be decoded or climbs above the root (a 400 in both).
 */
function mapPath(url: string): string | undefined {
  let raw = url;
  const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(raw);
  if (absolute) raw = absolute[1] || '/';
  raw = raw.split('?')[0]!.split('#')[0]!;
  if (!raw.startsWith('/')) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  const out: string[] = [];
  const segments = decoded.split('/');
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '' || seg === '.') {
      if (last) out.push('');
      continue;
    }
    if (seg === '..') {
      if (out.length === 0 || (out.length === 1 && out[0] === '')) return undefined;
      out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(seg);
  }
  return `/${out.join('/')}`;
}

/** Writes a response with headers in the order given (node keeps insertion order). */
function send(res: ServerResponse, status: number, reason: string, headers: Array<[string, string]>, body?: Buffer): void {
  res.sendDate = false;
  // No Connection header in the list means none on the wire (node would add its own).
  if (!headers.some(([k]) => k.toLowerCase() === 'connection')) res.removeHeader('Connection');
  for (const [k, v] of headers) res.setHeader(k, v);
  res.writeHead(status, reason);
  if (body) res.end(body);
  else res.end();
}

/** Whether this response leaves the connection open (node decided from the request). */
function keepAlive(res: ServerResponse): boolean {
  return res.shouldKeepAlive;
}

/** Conditional GET (RFC 9110 §13.1): If-None-Match by ETag, else If-Modified-Since exactly. */
function notModified(req: IncomingMessage, file: StaticFile): boolean {
  const inm = req.headers['if-none-match'];
  if (typeof inm === 'string') return inm.split(',').some((t) => t.trim() === file.etag || t.trim() === '*');
  const ims = req.headers['if-modified-since'];
  return typeof ims === 'string' && ims === httpDate(file.mtime);
}

// --- nginx -------------------------------------------------------------------------------------

const NGINX_REASONS: Record<number, string> = {
  200: 'OK',
  304: 'Not Modified',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Not Allowed',
};

/** nginx's built-in error page (ngx_http_special_response.c), with the MSIE/Chrome padding for 4xx/5xx. */
function nginxErrorPage(status: number, version: string, userAgent: string): string {
  const title = `${status} ${NGINX_REASONS[status]}`;
  let page = `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n`;
  page += `<hr><center>nginx/${version}</center>\r\n</body>\r\n</html>\r\n`;
  if (status >= 400 && ((/MSIE [4-9]/.test(userAgent) && !/Opera/.test(userAgent)) || userAgent.includes('Chrome/'))) {
    page += '<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n'.repeat(6);
  }
  return page;
}

function nginxHandler(version: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const server = `nginx/${version}`;
    const date = new Date().toUTCString();
    const connection = (): [string, string] => ['Connection', keepAlive(res) ? 'keep-alive' : 'close'];
    const error = (status: number): void => {
      const body = Buffer.from(nginxErrorPage(status, version, String(req.headers['user-agent'] ?? '')));
      if (status === 400) res.shouldKeepAlive = false;
      send(res, status, NGINX_REASONS[status]!, [['Server', server], ['Date', date], ['Content-Type', 'text/html'], ['Content-Length', String(body.length)], connection()], body);
    };
    const method = req.method ?? 'GET';
    const path = mapPath(req.url ?? '/');
    if (path === undefined) return error(400);
    if (!['GET', 'HEAD', 'POST'].includes(method)) return error(405);
    const file = NGINX_FILES.get(path.endsWith('/') ? `${path}index.html` : path);
    if (!file) return error(404);
    if (method === 'POST') return error(405);
    const lastModified = httpDate(file.mtime);
    if (notModified(req, file)) {
      return send(res, 304, 'Not Modified', [['Server', server], ['Date', date], ['Last-Modified', lastModified], connection(), ['ETag', file.etag]]);
    }
    send(
      res,
      200,
      'OK',
      [
        ['Server', server],
        ['Date', date],
        ['Content-Type', file.type],
        ['Content-Length', String(file.body.length)],
        ['Last-Modified', lastModified],
        connection(),
        ['ETag', file.etag],
        ['Accept-Ranges', 'bytes'],
      ],
      file.body,
    );
  };
}

// --- httpd -------------------------------------------------------------------------------------

/** MaxKeepAliveRequests. */
const HTTPD_KEEPALIVE_MAX = 100;
const HTTPD_ALLOW = 'OPTIONS,HEAD,GET,POST';

function apacheErrorPage(status: number, method: string): string {
  const texts: Record<number, [string, string]> = {
    400: ['Bad Request', '<p>Your browser sent a request that this server could not understand.<br />\n</p>\n'],
    404: ['Not Found', '<p>The requested URL was not found on this server.</p>\n'],
    405: ['Method Not Allowed', `<p>The requested method ${method} is not allowed for this URL.</p>\n`],
  };
  const [reason, text] = texts[status]!;
  return `<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>${status} ${reason}</title>\n</head><body>\n<h1>${reason}</h1>\n${text}</body></html>\n`;
}

function httpdHandler(version: string) {
  // Keep-alive requests served on each connection so far, for Keep-Alive's max=.
  const served = new WeakMap<object, number>();
  return (req: IncomingMessage, res: ServerResponse): void => {
    const server = `Apache/${version} (Unix)`;
    const date = new Date().toUTCString();
    const before = served.get(req.socket) ?? 0;
    const left = HTTPD_KEEPALIVE_MAX - before;
    if (left <= 0) res.shouldKeepAlive = false;
    // ap_set_keepalive: Keep-Alive is announced only to a client that sent the keep-alive token;
    // an HTTP/1.1 connection about to close says so.
    const kaSent = /(^|,)\s*keep-alive\s*(,|$)/i.test(String(req.headers['connection'] ?? ''));
    const connection = (): Array<[string, string]> => {
      if (keepAlive(res)) {
        served.set(req.socket, before + 1);
        return kaSent ? [['Keep-Alive', `timeout=5, max=${left}`], ['Connection', 'Keep-Alive']] : [];
      }
      return req.httpVersion === '1.0' ? [] : [['Connection', 'close']];
    };
    const method = req.method ?? 'GET';
    const error = (status: number, extra: Array<[string, string]> = []): void => {
      const body = Buffer.from(apacheErrorPage(status, method), 'latin1');
      if (status === 400) res.shouldKeepAlive = false;
      const reason = { 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed' }[status as 400 | 404 | 405];
      send(res, status, reason, [['Date', date], ['Server', server], ...extra, ['Content-Length', String(body.length)], ...connection(), ['Content-Type', 'text/html; charset=iso-8859-1']], body);
    };
    const path = mapPath(req.url ?? '/');
    if (path === undefined) return error(400);
    if (method === 'OPTIONS') {
      return send(res, 200, 'OK', [['Date', date], ['Server', server], ['Allow', HTTPD_ALLOW], ['Content-Length', '0'], ...connection()]);
    }
    if (!['GET', 'HEAD', 'POST'].includes(method)) return error(405, [['Allow', HTTPD_ALLOW]]);
    const file = HTTPD_FILES.get(path.endsWith('/') ? `${path}index.html` : path);
    if (!file) return error(404);
    const lastModified = httpDate(file.mtime);
    if (notModified(req, file)) {
      return send(res, 304, 'Not Modified', [['Date', date], ['Server', server], ['Last-Modified', lastModified], ['ETag', file.etag], ...connection()]);
    }
    send(
      res,
      200,
      'OK',
      [
        ['Date', date],
        ['Server', server],
        ['Last-Modified', lastModified],
        ['ETag', file.etag],
        ['Accept-Ranges', 'bytes'],
        ['Content-Length', String(file.body.length)],
        ...connection(),
        ['Content-Type', file.type],
      ],
      file.body,
    );
  };
}

// --- the images --------------------------------------------------------------------------------

/** A web server image; {@link StaticWebImage.forImage} binds the version its tag names. */
export interface StaticWebImage extends BuiltinImage {
  /** The port the image's default configuration listens on. */
  readonly port: number;
  /** The image for one image name: `Server` announces the tag's version (or the default). */
  forImage(image: string): BuiltinImage;
}

function staticImage(
  name: string,
  port: number,
  paths: readonly string[],
  handler: (version: string) => (req: IncomingMessage, res: ServerResponse) => void,
  defaultVersion: string,
  keepAliveTimeoutMs: number,
): StaticWebImage {
  const matches = (image: string): boolean => {
    const ref = parseImageReference(image);
    return paths.some((p) => repositoryEndsWith(ref, p));
  };
  const withVersion = (version: string): BuiltinImage => ({
    name,
    matches,
    async start(ctx: ContainerContext): Promise<RunningContainer> {
      const proc = new ContainerProcess(ctx);
      const serve = handler(version);
      // HTTP/1 only (no h2c here), so the request and response are node's HTTP/1 ones.
      await proc.serveHttp(port, (req, res) => serve(req as IncomingMessage, res as ServerResponse), { keepAliveTimeoutMs });
      ctx.log(`podnet: ${name} ${version} serving its default page on port ${port}`);
      return proc.handle();
    },
  });
  return {
    ...withVersion(defaultVersion),
    port,
    forImage: (image) => withVersion(tagVersion(parseImageReference(image)) ?? defaultVersion),
  };
}

/** nginx, official image (and the e2e and ECR copies), port 80. */
export const nginx = staticImage('nginx', 80, ['library/nginx', 'e2e-test-images/nginx', 'kubernetes-e2e-test-images/nginx', 'nginx/nginx'], nginxHandler, DEFAULT_NGINX_VERSION, 65_000);

/** nginxinc/nginx-unprivileged: nginx on port 8080. */
export const nginxUnprivileged = staticImage('nginx-unprivileged', 8080, ['nginxinc/nginx-unprivileged'], nginxHandler, DEFAULT_NGINX_VERSION, 65_000);

/** Apache httpd, official image (and the e2e copy), port 80. */
export const httpd = staticImage('httpd', 80, ['library/httpd', 'e2e-test-images/httpd'], httpdHandler, DEFAULT_HTTPD_VERSION, 5_000);
