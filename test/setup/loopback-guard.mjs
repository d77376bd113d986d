/**
 * The suite-wide loopback guard (DESIGN invariant 2: an emulator must never leak traffic onto
 * the user's network).
 *
 * Loaded into every test process with `node --import` (see .taprc `node-arg`), before any test
 * code runs. It wraps the socket calls of `node:net` and `node:dgram` —
 * `net.Socket#connect`, `net.Server#listen` (so `http`, `https` and `tls` too), `dgram.Socket#bind`,
 * `#send` and `#connect` — and refuses, by throwing before the real call, every address outside
 * 127.0.0.0/8 and ::1:
 *
 * - a virtual or real non-loopback address, or a host name other than `localhost`;
 * - the unspecified addresses `0.0.0.0` and `::`;
 * - no address at all where node would bind every interface: `server.listen(port)`, `listen()`,
 *   `listen({ port })`, `dgram.bind(port)`, and the implicit bind of `send`/`connect` on an
 *   unbound UDP socket.
 *
 * Unix-domain sockets (a path) and listening on an existing handle or fd pass.
 *
 * Every refused attempt is also recorded: when the process exits, a loud report goes to stderr
 * and the exit code becomes 1, so the test file fails even if the code under test swallowed the
 * error. Production code has its own guard, `assertLoopback` in lib/core/sockets.ts, applied by
 * the socket factory every podnet socket is made by; this file catches whatever bypasses it.
 *
 * Plain JavaScript on purpose: it runs before the TypeScript loader and must not depend on the
 * build. Its address test is kept equal to lib/core/sockets.ts's by test/core/sockets.test.ts.
 */

import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';

const INSTALLED = Symbol.for('podnet.loopbackGuard');

const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * True for an address a socket may use: IPv4 127.0.0.0/8, `::1` in any spelling (brackets
 * allowed), IPv4-mapped `::ffff:127.x.y.z`, or the name `localhost`.
 * @param {unknown} address
 * @returns {boolean}
 */
export function isLoopbackAddress(address) {
  if (typeof address !== 'string') return false;
  const text = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (text.toLowerCase() === 'localhost') return true;
  if (text.includes('%')) return false;
  const family = net.isIP(text);
  if (family === 0) return false;
  return loopback.check(text, family === 4 ? 'ipv4' : 'ipv6');
}

/** @type {{ operation: string, address: string, detail: string, stack: string }[]} */
const recorded = [];

/** The refused attempts so far (a copy). */
export function violations() {
  return recorded.map((v) => ({ ...v }));
}

/**
 * Records and refuses an attempt.
 * @param {string} operation
 * @param {unknown} address
 * @param {string} detail
 * @returns {never}
 */
function refuse(operation, address, detail) {
  const shown = typeof address === 'string' && address !== '' ? address : '(no address)';
  const err = new Error(
    `loopback guard: refusing to ${operation} ${shown}: ${detail}; podnet only binds and connects inside 127.0.0.0/8 and ::1`,
  );
  // @ts-ignore -- a plain Error with the code podnet's own guard uses
  err.code = 'PODNET_NOT_LOOPBACK';
  Error.captureStackTrace(err, refuse);
  const stack = (err.stack ?? '').split('\n').slice(1).join('\n');
  recorded.push({ operation, address: shown, detail, stack });
  throw err;
}

/**
 * @param {string} operation
 * @param {unknown} address
 * @param {string} [missing] why a missing address is refused; a missing address is fine without it
 */
function check(operation, address, missing) {
  if (address === undefined || address === null || address === '') {
    if (missing) refuse(operation, address, missing);
    return;
  }
  if (isLoopbackAddress(address)) return;
  const text = String(address);
  const detail =
    net.isIP(text.replace(/^\[|\]$/g, '')) === 0
      ? 'a host name could resolve outside loopback (only "localhost" is allowed)'
      : /^(0\.0\.0\.0|::|\[::\])$/.test(text)
        ? 'the unspecified address binds every interface'
        : 'not a loopback address (map virtual addresses to their loopback address first)';
  refuse(operation, address, detail);
}

/** node's isPipeName: a string that is not a number names a pipe or Unix-domain socket. */
function isPipeName(value) {
  return typeof value === 'string' && !/^\s*\d+\s*$/.test(value) && Number.isNaN(Number(value));
}

/** Whether an object is a handle (or holds one) rather than an options bag. */
function isHandle(value) {
  return value !== null && typeof value === 'object' && ('_handle' in value || 'handle' in value || typeof value.fd === 'number' || value.constructor?.name === 'TCP' || value.constructor?.name === 'Pipe');
}

function guardNetConnect() {
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function connect(...args) {
    // net.connect() passes its already-normalized [options, cb] array as the first argument.
    const first = Array.isArray(args[0]) ? args[0][0] : args[0];
    let options;
    if (first !== null && typeof first === 'object') options = first;
    else if (isPipeName(first)) options = { path: first };
    else options = { port: first, host: typeof args[1] === 'string' ? args[1] : undefined };
    if (options.path === undefined || options.path === null) {
      // node dials "localhost" when no host is given.
      check('connect to', options.host);
      check('connect from', options.localAddress);
    }
    return original.apply(this, args);
  };
}

function guardNetListen() {
  const original = net.Server.prototype.listen;
  net.Server.prototype.listen = function listen(...args) {
    const first = args[0];
    const everyInterface = 'listen() without a host binds every interface (0.0.0.0 / ::) — pass the loopback address, e.g. listen(0, "127.0.0.1")';
    if (isHandle(first)) {
      // an existing handle or fd: already bound elsewhere
    } else if (first !== null && typeof first === 'object') {
      if (!(first.path !== undefined && first.path !== null && (first.port === undefined || first.port === null))) check('listen on', first.host, everyInterface);
    } else if (!isPipeName(first)) {
      check('listen on', typeof args[1] === 'string' ? args[1] : undefined, everyInterface);
    }
    return original.apply(this, args);
  };
}

function guardDgram() {
  const proto = dgram.Socket.prototype;
  const bind = proto.bind;
  proto.bind = function guardedBind(...args) {
    const [first, second] = args;
    let address;
    if (first !== null && typeof first === 'object') {
      if (typeof first.fd === 'number') return bind.apply(this, args);
      address = first.address;
    } else {
      address = typeof second === 'string' ? second : undefined;
    }
    const implicit = first !== null && typeof first === 'object' && first.port === 0 && first.exclusive === true && address === undefined && second === null;
    check(
      'bind',
      address,
      implicit
        ? 'send() or connect() on an unbound UDP socket binds it to every interface — bind it to a loopback address first'
        : 'a UDP bind without an address binds every interface — pass the loopback address',
    );
    return bind.apply(this, args);
  };

  const send = proto.send;
  proto.send = function guardedSend(...args) {
    let connected = true;
    try {
      this.remoteAddress();
    } catch {
      connected = false;
    }
    if (!connected) {
      // send(msg, [offset, length,] port, [address,] [callback]); no address means loopback.
      const [, , length, port, address] = args;
      const to = address || (port && typeof port !== 'function') ? address : length;
      if (typeof to !== 'function') check('send to', to);
    }
    return send.apply(this, args);
  };

  const connect = proto.connect;
  proto.connect = function guardedConnect(...args) {
    // connect(port, [address,] [callback]); no address means loopback.
    if (typeof args[1] !== 'function') check('connect to', args[1]);
    return connect.apply(this, args);
  };
}

function report() {
  if (recorded.length === 0) return;
  const bar = '!'.repeat(78);
  const lines = [
    '',
    bar,
    `!! LOOPBACK GUARD: ${recorded.length} attempt(s) to use a socket outside 127.0.0.0/8 and ::1`,
    '!! (DESIGN invariant 2: virtual addresses never reach a real socket). Each was refused;',
    '!! this test process fails. Route sockets through lib/core/sockets.ts with loopback addresses.',
    bar,
  ];
  for (const [i, v] of recorded.entries()) {
    lines.push(`${i + 1}. ${v.operation} ${v.address}: ${v.detail}`, v.stack, '');
  }
  lines.push(bar, '');
  try {
    fs.writeSync(2, lines.join('\n'));
  } catch {
    // stderr closed: the exit code still tells
  }
  process.exitCode = 1;
}

if (!globalThis[INSTALLED]) {
  globalThis[INSTALLED] = true;
  guardNetConnect();
  guardNetListen();
  guardDgram();
  process.on('exit', report);
}
