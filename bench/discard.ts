/**
 * The sink of the throughput benchmark: a discard server (RFC 863: everything received is thrown
 * away), run as its own process. When a client ends its side, it answers the number of bytes it
 * received (a decimal line) and closes, so the client knows when the last byte has arrived.
 *
 * Where it listens:
 * - in a pod, as a `podnet.dev/local-process` container: on `PODNET_BIND_ADDRESS`, port
 *   `PODNET_PORT_9_TCP` (the real port podnet mapped container port 9 to);
 * - otherwise on `127.0.0.1` and the port given as the first argument (0: any), the raw peer.
 *
 * It prints `listening <address>:<port>` once bound. Only loopback addresses are accepted.
 */

import net from 'node:net';

const host = process.env.PODNET_BIND_ADDRESS ?? '127.0.0.1';
const port = Number(process.env.PODNET_PORT_9_TCP ?? process.argv[2] ?? 0);
if (!host.startsWith('127.')) {
  process.stderr.write(`discard: refusing to listen on ${host}: not a loopback address\n`);
  process.exit(2);
}

const server = net.createServer((socket) => {
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  socket.on('end', () => socket.end(`${received}\n`));
  socket.on('error', () => socket.destroy());
});
server.listen({ host, port }, () => {
  const address = server.address() as net.AddressInfo;
  process.stdout.write(`listening ${address.address}:${address.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
