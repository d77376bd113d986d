/**
 * `podnet up` as a real child process of bin/podnet.js, for tests that talk to a running podnet:
 * started with a free API port and its own kubeconfig, awaited until it says it is running, and
 * stopped with SIGINT at teardown. Not a test file: tap's include pattern is `test/**\/*.test.ts`.
 */

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/podnet.js', import.meta.url));

/** A running `podnet up`: its scratch directory, kubeconfig, API URL and what it printed. */
export interface RunningPodnet {
  dir: string;
  kubeconfig: string;
  url: string;
  out: string;
}

/** Starts `podnet up FILE --api-port 0 --kubeconfig <scratch>/config ...extra`; stops it at teardown. */
export async function startPodnetUp(t: { teardown(fn: () => unknown): void }, extra: string[] = [], file = 'topologies/quickstart.yaml'): Promise<RunningPodnet> {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-up-'));
  const kubeconfig = join(dir, 'config');
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, [BIN, 'up', file, '--api-port', '0', '--kubeconfig', kubeconfig, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Press Ctrl-C to stop.')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`podnet up exited early (${code}): ${out}`)));
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners('exit');
        child.on('close', () => resolve());
        child.kill('SIGINT');
      }),
  );
  const url = /Kubernetes API: (\S+)/.exec(out)![1]!;
  return { dir, kubeconfig, url, out };
}
