/**
 * The flannel CNI plugin's process entry (bin/podnet-cni-flannel.js): the CNI_* environment and
 * stdin in, the answer on stdout (and stderr), the exit code out — as a runtime such as
 * containerd or CRI-O executes `/opt/cni/bin/flannel`.
 */

import { readSync } from 'node:fs';

import { invokeFlannelCni } from './cni.js';

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** All of stdin, synchronously (retrying while a non-blocking pipe has nothing yet). */
function readAllStdin(): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(PAUSE, 0, 0, 5);
        continue;
      }
      if (code === 'EOF') break;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs one invocation of the plugin in this process; returns the exit code. */
export function main(): number {
  const env = process.env;
  // skel does not read stdin for VERSION; a terminal is not waited on for an optional input.
  const stdin = () => (env.CNI_COMMAND === 'VERSION' && process.stdin.isTTY ? '' : readAllStdin());
  const out = invokeFlannelCni({ env, stdin });
  if (out.stdout) process.stdout.write(out.stdout);
  if (out.stderr) process.stderr.write(out.stderr);
  return out.exitCode;
}
