/**
 * The `podnet` command in tests, two ways: as a real child process of bin/podnet.js (what a user
 * runs: its exit code, its stdout and stderr as separate streams, signals), and in-process through
 * `main(argv, io)` of the very module bin/podnet.js imports (dist/lib/cli/main.js), which writes
 * the same text the child would print without paying a Node start-up and a module load per call.
 * Each test file keeps a few child processes to prove the binary itself and runs the other cases
 * in-process. Not a test file: tap's include pattern is `test/**\/*.test.ts`.
 *
 * Relative paths in arguments resolve against the test's working directory in both ways (the
 * child inherits it), so `-f topologies/quickstart.yaml` means the same file to each.
 */

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import type * as CliMain from '../../lib/cli/main.js';
import { built, ROOT } from '../helpers/built.js';

export { built, ROOT };

/** The executable, as package.json's `bin` names it. */
export const BIN = join(ROOT, 'bin', 'podnet.js');

/** What one run of the command printed and exited with. */
export interface CliResult {
  /** The exit code; null when the child was killed (by the timeout guard or a signal). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A bound on failures, never a wait: a child that hangs is killed and the test fails on its code. */
const SPAWN_TIMEOUT_MS = 60_000;

const cli = await built<typeof CliMain>('lib/cli/main.js');

/** `node bin/podnet.js ...args` as a child process, to completion. `env` replaces the environment. */
export function podnet(args: string[], env?: NodeJS.ProcessEnv): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: SPAWN_TIMEOUT_MS, ...(env ? { env } : {}) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The same command run in this process by bin/podnet.js's own `main`: what it writes to stdout
 * and stderr, and its exit code. `env` stands for the environment the child would have had
 * (KUBECONFIG, HOME); by default this process's.
 */
export async function inProcess(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await cli.main(args, {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    ...(env ? { env } : {}),
  });
  return { code, stdout, stderr };
}
