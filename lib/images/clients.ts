/**
 * Client-only images: sandboxes that listen on nothing and from which connections are made
 * (`kubectl exec`, exec probes). busybox, curlimages/curl, alpine, ubuntu, debian,
 * nicolaka/netshoot, and the pause image.
 *
 * Their command is interpreted only as far as it decides the container's lifecycle:
 * - no command: the image's default runs; a shell with no terminal exits 0 at once (so a bare
 *   `busybox` pod restarts, as on a real node), curl without arguments exits 2, pause runs on;
 * - `sleep N` (busybox units s, m, h, d; fractions; several operands add up) exits 0 after N
 *   seconds, `sleep infinity` never; `true` exits 0, `false` 1; `sh -c "sleep N"` likewise;
 * - anything else (a shell loop, `tail -f /dev/null`, a curl command) keeps the container
 *   running without a process, with a log line saying what was not run.
 *
 * `exec` into these containers (curl, wget, nc, nslookup, dig, sh -c, ...) is lib/exec's: which
 * programs each image has is its toolbox table (lib/exec/toolbox.ts).
 */

import { ContainerProcess, exitSoon, processTimer } from './container.js';
import { imageBaseName, parseImageReference, repositoryEndsWith } from './reference.js';
import type { BuiltinImage, ContainerContext, RunningContainer } from './types.js';

/** What an image runs when the pod gives no command. */
type DefaultCommand = 'shell' | 'curl' | 'pause';

/** busybox `sleep` operands: `1`, `0.5`, `2m`, `1h`, `1d`; undefined when invalid; Infinity for `infinity`. */
export function parseSleep(operands: readonly string[]): number | undefined {
  if (operands.length === 0) return undefined;
  let total = 0;
  for (const op of operands) {
    if (/^inf(inity)?$/i.test(op)) return Infinity;
    const m = /^(\d+(?:\.\d*)?|\.\d+)([smhd]?)$/.exec(op);
    if (!m) return undefined;
    total += Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'] * 1000;
  }
  return total;
}

const SHELLS = /^(sh|ash|bash|zsh|dash)$/;
const base = (arg: string): string => arg.slice(arg.lastIndexOf('/') + 1);

/** Runs a client container's command as far as its lifecycle goes (see the module comment). */
function run(proc: ContainerProcess, argv: readonly string[], defaults: DefaultCommand): void {
  const ctx = proc.ctx;
  if (argv.length === 0) {
    if (defaults === 'pause') return;
    if (defaults === 'curl') {
      ctx.log("curl: try 'curl --help' or 'curl --manual' for more information");
      exitSoon(proc, 2);
      return;
    }
    exitSoon(proc, 0);
    return;
  }
  const program = base(argv[0]!);
  if (SHELLS.test(program) && argv[1] === '-c' && argv.length >= 3) {
    const words = argv[2]!.trim().replace(/^exec\s+/, '').split(/\s+/);
    if (['sleep', 'true', 'false'].includes(words[0]!) && !/[;&|`$()<>]/.test(argv[2]!)) return run(proc, words, defaults);
  }
  switch (program) {
    case 'true':
      exitSoon(proc, 0);
      return;
    case 'false':
      exitSoon(proc, 1);
      return;
    case 'sleep': {
      const ms = parseSleep(argv.slice(1));
      if (ms === undefined) {
        ctx.log(argv.length < 2 ? 'sleep: missing operand' : `sleep: invalid number '${argv[1]}'`);
        exitSoon(proc, 1);
      } else if (ms !== Infinity) {
        processTimer(proc, ms, () => proc.exit(0));
      }
      return;
    }
    case 'pause':
      return;
  }
  if (SHELLS.test(program) && argv.length === 1) {
    // A shell without a terminal reads end-of-file and exits.
    exitSoon(proc, 0);
    return;
  }
  ctx.log(`podnet: ${JSON.stringify(argv)} is not run; the container stays Running without a process`);
}

function clientImage(name: string, matches: (image: string) => boolean, defaults: DefaultCommand): BuiltinImage {
  return {
    name,
    matches,
    async start(ctx: ContainerContext): Promise<RunningContainer> {
      const proc = new ContainerProcess(ctx);
      let argv = [...ctx.args];
      // curlimages/curl's entrypoint prepends curl to arguments that start with a flag.
      if (defaults === 'curl' && argv.length > 0 && argv[0]!.startsWith('-')) argv = ['curl', ...argv];
      if (defaults === 'pause') argv = [];
      run(proc, argv, defaults);
      return proc.handle();
    },
  };
}

const onHub = (...paths: string[]) => (image: string) => {
  const ref = parseImageReference(image);
  return paths.some((p) => repositoryEndsWith(ref, p));
};

/** busybox (official and the e2e copy). */
export const busybox = clientImage('busybox', onHub('library/busybox', 'e2e-test-images/busybox'), 'shell');
/** curlimages/curl. */
export const curl = clientImage('curl', onHub('curlimages/curl'), 'curl');
/** alpine. */
export const alpine = clientImage('alpine', onHub('library/alpine'), 'shell');
/** ubuntu and debian. */
export const ubuntu = clientImage('ubuntu', onHub('library/ubuntu', 'library/debian'), 'shell');
/** nicolaka/netshoot, the network troubleshooting image. */
export const netshoot = clientImage('netshoot', onHub('nicolaka/netshoot'), 'shell');
/** The pause image (`registry.k8s.io/pause`, `k8s.gcr.io/pause`, `gcr.io/google_containers/pause-amd64`). */
export const pause = clientImage('pause', (image) => /^pause(-(amd64|arm|arm64|ppc64le|s390x))?$/.test(imageBaseName(parseImageReference(image))), 'pause');

/**
 * The image of a container podnet has no built-in for: the sandbox runs (it has its IP and can be
 * connected from), but nothing listens in it.
 */
export function noListenerImage(image: string): BuiltinImage {
  return {
    name: 'unknown',
    matches: (other) => other === image,
    async start(ctx: ContainerContext): Promise<RunningContainer> {
      const proc = new ContainerProcess(ctx);
      ctx.log(`podnet: no built-in image for ${JSON.stringify(image)}; the container runs with no listener`);
      return proc.handle();
    },
  };
}
