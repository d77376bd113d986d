/**
 * The kubectl end-to-end harness: one `podnet up topologies/quickstart.yaml` child process per
 * test file (the real bin/podnet.js, built to dist/ by `npm test`'s compile step), serving the
 * Kubernetes API over HTTPS on 127.0.0.1 with the kubeconfig it writes into a temp dir, and the
 * real `kubectl` run against it with a fresh `--cache-dir` per test, so no test leans on
 * discovery another test cached. Not a test file: tap's include pattern is `test/**\/*.test.ts`.
 *
 * Where no kubectl is on PATH the whole file is skipped with the reason (`.ci/run` installs
 * Debian's kubernetes-client there).
 */

import type { Test } from 'tap';
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The repository root: bin/podnet.js and topologies/ are resolved from it, not from the cwd. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'podnet.js');
const QUICKSTART = join(ROOT, 'topologies', 'quickstart.yaml');

/** The line `podnet up` prints once the API is served and the kubeconfig written. */
const READY_LINE = 'podnet is running. Press Ctrl-C to stop.';

/** Bounds on failures, never waits: each resolves as soon as the thing it guards happens. */
const START_TIMEOUT_MS = 30_000;
const KUBECTL_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

/** What one kubectl run printed and exited with. */
export interface KubectlResult {
  /** The exit code; null when kubectl was killed (by the timeout guard). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A long-running kubectl (such as `get -w`), read as it prints. */
export interface KubectlStream {
  /** Everything printed to stdout so far. */
  readonly stdout: string;
  /** Everything printed to stderr so far. */
  readonly stderr: string;
  /**
   * Resolves with stdout once it matches `pattern`; rejects if kubectl exits first or the
   * failure guard of `timeoutMs` passes.
   */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Kills kubectl (SIGTERM) and resolves once it has exited. */
  stop(): Promise<void>;
}

/** kubectl bound to the podnet under test and to one test's cache and scratch directories. */
export interface Kubectl {
  /** Runs `kubectl --kubeconfig <cfg> --cache-dir <this test's> ...args` to completion. */
  (...args: string[]): KubectlResult;
  /** The same, with `input` on stdin (for `-f -`). */
  withInput(input: string, ...args: string[]): KubectlResult;
  /** Starts kubectl without waiting for it to end. The test's teardown stops it. */
  spawn(...args: string[]): KubectlStream;
  /** Writes `content` to `name` in this test's scratch directory; returns the path. */
  file(name: string, content: string): string;
  /** This test's scratch directory; its `cache/` is kubectl's --cache-dir. */
  readonly dir: string;
}

/** The running `podnet up` a test file drives. */
export interface Podnet {
  /** `https://127.0.0.1:PORT`, as `podnet up` printed it. */
  readonly url: string;
  /** The kubeconfig `podnet up` wrote. */
  readonly kubeconfig: string;
  /** What `podnet up` has printed so far. */
  readonly stdout: string;
  /** kubectl for test `t`, with a fresh cache directory removed at the end of `t`. */
  kubectl(t: Test): Kubectl;
}

/** Why kubectl cannot be run, or undefined when it can. */
export function kubectlMissing(): string | undefined {
  const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: KUBECTL_TIMEOUT_MS, env: kubectlEnv() });
  if (r.error) return `${r.error.message} (PATH=${process.env.PATH ?? ''})`;
  return undefined;
}

/** kubectl's environment: no KUBECONFIG of the user's, and no proxy for the loopback API. */
function kubectlEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' };
  delete env.KUBECONFIG;
  return env;
}

/**
 * Declares a kubectl suite on the file's root test: `body` registers the tests, which run
 * against one `podnet up` started before the first of them; a last test stops it with SIGINT and
 * asserts it exits 0. Without kubectl on PATH the file is skipped, loudly.
 */
export function kubectlSuite(t: Test, body: (podnet: Podnet) => void): void {
  const missing = kubectlMissing();
  if (missing) {
    t.plan(0, `kubectl not found on PATH: ${missing}; install kubectl (Debian: kubernetes-client) to run the kubectl end-to-end tests`);
    return;
  }
  const server = new PodnetProcess();
  t.before(() => server.start());
  t.teardown(() => server.kill());
  body(server);
  t.test('podnet up stops on SIGINT with exit 0', async (t) => {
    const code = await server.stop();
    t.equal(code, 0, 'exit code', { stderr: server.stderr });
    t.match(server.stdout, /podnet stopped\.\n$/);
  });
}

class PodnetProcess implements Podnet {
  #child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  #dir = '';
  #url = '';
  #stdout = '';
  #stderr = '';
  #exit: Promise<number | null> | undefined;

  get url(): string {
    return this.#url;
  }

  get kubeconfig(): string {
    return join(this.#dir, 'config');
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  async start(): Promise<void> {
    this.#dir = mkdtempSync(join(tmpdir(), 'podnet-kubectl-'));
    const child = spawn(process.execPath, [BIN, 'up', QUICKSTART, '--api-port', '0', '--kubeconfig', this.kubeconfig], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    // If this test process ends without its teardown (a tap timeout), take podnet with it.
    process.once('exit', () => child.kill('SIGKILL'));
    this.#exit = new Promise((resolve) => child.on('close', (code) => resolve(code)));
    child.stderr.on('data', (d: Buffer) => void (this.#stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`podnet up did not get ready within ${START_TIMEOUT_MS} ms:\n${this.#stdout}${this.#stderr}`)), START_TIMEOUT_MS);
      child.stdout.on('data', (d: Buffer) => {
        this.#stdout += d.toString();
        if (this.#stdout.includes(READY_LINE)) {
          clearTimeout(guard);
          resolve();
        }
      });
      void this.#exit!.then((code) => {
        clearTimeout(guard);
        reject(new Error(`podnet up exited with ${code} before it was ready:\n${this.#stdout}${this.#stderr}`));
      });
    });
    const m = /^Kubernetes API: (https:\/\/127\.0\.0\.1:(\d+))$/m.exec(this.#stdout);
    if (!m || m[2] === '0') throw new Error(`podnet up printed no https://127.0.0.1 API URL:\n${this.#stdout}`);
    this.#url = m[1]!;
    // Nothing may point kubectl anywhere but the loopback server podnet printed.
    const servers = [...readFileSync(this.kubeconfig, 'utf8').matchAll(/^\s*server: (\S+)$/gm)].map((s) => s[1]);
    if (servers.length !== 1 || servers[0] !== this.#url) throw new Error(`the kubeconfig names ${servers.join(', ')}, not ${this.#url}`);
  }

  /** SIGINT, as Ctrl-C; resolves with the exit code. */
  async stop(): Promise<number | null> {
    const child = this.#child;
    if (!child || !this.#exit) throw new Error('podnet up was not started');
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    let guard: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      guard = setTimeout(() => reject(new Error(`podnet up did not exit within ${STOP_TIMEOUT_MS} ms of SIGINT`)), STOP_TIMEOUT_MS);
    });
    try {
      return await Promise.race([this.#exit, timeout]);
    } finally {
      clearTimeout(guard);
    }
  }

  /** The teardown's safety net: whatever state it is in, podnet is gone and its files removed. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await this.#exit;
    }
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
  }

  kubectl(t: Test): Kubectl {
    if (!this.#url) throw new Error('podnet up is not running');
    const dir = mkdtempSync(join(tmpdir(), 'podnet-kubectl-test-'));
    const streams: KubectlStream[] = [];
    t.teardown(async () => {
      await Promise.all(streams.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    });
    const base = ['--kubeconfig', this.kubeconfig, '--cache-dir', join(dir, 'cache')];
    const run = (input: string | undefined, args: string[]): KubectlResult => {
      const r = spawnSync('kubectl', [...base, ...args], {
        encoding: 'utf8',
        timeout: KUBECTL_TIMEOUT_MS,
        env: kubectlEnv(),
        cwd: dir,
        ...(input === undefined ? { stdio: ['ignore', 'pipe', 'pipe'] } : { input }),
      });
      if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const kubectl = ((...args: string[]) => run(undefined, args)) as Kubectl;
    kubectl.withInput = (input, ...args) => run(input, args);
    kubectl.spawn = (...args) => {
      const s = streamKubectl([...base, ...args], dir);
      streams.push(s);
      return s;
    };
    kubectl.file = (name, content) => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };
    Object.defineProperty(kubectl, 'dir', { value: dir });
    return kubectl;
  }
}

function streamKubectl(args: string[], cwd: string): KubectlStream {
  const child = spawn('kubectl', args, { cwd, env: kubectlEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waiters = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    waitFor(pattern, timeoutMs = KUBECTL_TIMEOUT_MS) {
      return new Promise<string>((resolve, reject) => {
        const done = (err?: Error) => {
          waiters.delete(check);
          clearTimeout(guard);
          if (err) reject(err);
          else resolve(stdout);
        };
        const check = () => {
          if (pattern.test(stdout)) done();
        };
        const guard = setTimeout(
          () => done(new Error(`kubectl ${args.join(' ')} printed no ${pattern} within ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`)),
          timeoutMs,
        );
        waiters.add(check);
        void exited.then((code) => done(new Error(`kubectl ${args.join(' ')} exited with ${code} before printing ${pattern}; stdout:\n${stdout}\nstderr:\n${stderr}`)));
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * The rows of kubectl's table output as records keyed by header. kubectl aligns its columns with a
 * tabwriter, so every cell starts where its header does; slicing at those offsets keeps headers
 * and cells with spaces in them ("NOMINATED NODE") whole.
 */
export function table(text: string): Record<string, string>[] {
  const [header, ...lines] = text.replace(/\n+$/, '').split('\n');
  if (!header) return [];
  const starts = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], at: m.index! }));
  return lines.map((line) =>
    Object.fromEntries(starts.map((c, i) => [c.name, line.slice(c.at, starts[i + 1]?.at ?? line.length).trim()])),
  );
}

/** The header cells of kubectl's table output. */
export function headers(text: string): string[] {
  return [...(text.split('\n')[0] ?? '').matchAll(/\S+(?: \S+)*/g)].map((m) => m[0]);
}

/** A Deployment manifest (YAML) with one agnhost netexec container, labelled and selected by `app=<name>`. */
export function deployment(name: string, options: { replicas?: number; image?: string } = {}): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  replicas: ${options.replicas ?? 2}
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      containers:
        - name: netexec
          image: ${options.image ?? 'registry.k8s.io/e2e-test-images/agnhost:2.53'}
          args: ["netexec", "--http-port=8080"]
`;
}
