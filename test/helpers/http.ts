/**
 * HTTP/1.1 over a socket the data plane opened (a pod's connection to another pod): one GET with
 * `Connection: close`, read to the end. Not a test file: tap's include pattern is `test/**\/*.test.ts`.
 */

import type { Socket } from 'node:net';

/** The status code and body of one GET over `socket`. */
export function httpGet(socket: Socket, path: string, host = 'web'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (raw += d));
    socket.on('end', () => {
      const [head, ...rest] = raw.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head ?? '')?.[1]), body: rest.join('\r\n\r\n') });
    });
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}
