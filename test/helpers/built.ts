/**
 * The build (dist/, compiled by `npm test`'s tsc step) in tests that run what the executables
 * run: bin/podnet.js and bin/podnet-cni-flannel.js import dist/, so a test that drives one of
 * them both as a child process and in-process loads the same compiled modules for the latter.
 * Such a test needs a build anyway for its child processes, and loading dist/ costs none of the
 * per-process TypeScript compilation that importing the sources does.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Loads a module of the build, typed as its source: `built<typeof import('../../lib/x.js')>('lib/x.js')`.
 * The specifier is computed, so the type checker never resolves into dist/ (which a clean checkout
 * does not have before its first build).
 */
export async function built<T>(relative: string): Promise<T> {
  const file = join(ROOT, 'dist', relative);
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: this test runs the built podnet; run \`npm run build\` first (\`npm test\` builds before tap runs)`);
  }
  return (await import(pathToFileURL(file).href)) as T;
}
