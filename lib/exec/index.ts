/**
 * `exec` into a pod's container: what the container runtime does for CRI `Exec` (kubectl exec,
 * exec probes, `podnet exec`) — find the program in the image, run it with the container's
 * network and files, and report its output and exit code.
 *
 * argv[0] is looked up in the image's toolbox (see toolbox.ts for the table of which image has
 * which tool) by its base name, so `curl`, `/usr/bin/curl` and `/bin/sh` all work. A program the
 * image does not have fails to start with containerd's error ({@link executableNotFound}); inside
 * `sh -c` the shell's `not found` and exit 127 instead.
 *
 * The shell is minimal on purpose: `sh -c` (and `bash -c`) run simple commands joined by `;`,
 * `&&`, `||` and `|`, with `exit N`, the redirections `>/dev/null`, `2>/dev/null`, `2>&1`, `>&2`,
 * and `$?`. Anything else (loops, `$(...)`, variables, other redirections) is reported as
 * unsupported with exit 2 rather than run wrongly.
 */

import { createHash } from 'node:crypto';
import { curl } from './curl.js';
import { dig, nslookup } from './dns-tools.js';
import { nc } from './nc.js';
import { shellWords } from './options.js';
import { wget } from './wget.js';
import { executableNotFound, Output, result, type ExecContext, type ExecResult } from './types.js';

export { etcHosts, lookupHosts, parseHosts } from './hosts.js';
export { toolboxFor } from './toolbox.js';
export { candidateNames, parseResolvConf, resolveHost } from './resolver.js';
export { ExecStartError, executableNotFound, type ExecContext, type ExecResult, type Toolbox } from './types.js';

/** A built-in image's own exec (agnhost's `connect`), when the container runs one. */
export type ImageExec = (argv: readonly string[]) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

/** Runs `argv` in the container; throws {@link ExecStartError} when the program does not exist. */
export async function runCommand(ctx: ExecContext, argv: readonly string[], imageExec?: ImageExec): Promise<ExecResult> {
  const argv0 = argv[0] ?? '';
  const program = find(ctx, argv0);
  if (!program) throw executableNotFound(argv0, execId(ctx, argv));
  return program(ctx, argv.slice(1), imageExec);
}

type Runner = (ctx: ExecContext, args: readonly string[], imageExec?: ImageExec) => Promise<ExecResult>;

/** The implementation of `argv0` in this image, if the image has it. */
function find(ctx: ExecContext, argv0: string): Runner | undefined {
  const base = argv0.slice(argv0.lastIndexOf('/') + 1);
  const flavor = ctx.toolbox.programs.get(base);
  if (!flavor || base === '') return undefined;
  switch (base) {
    case 'curl':
      return curl;
    case 'wget':
      return wget;
    case 'nc':
      return (c, a) => nc(c, a, flavor === 'openbsd' ? 'openbsd' : 'busybox');
    case 'nslookup':
      return (c, a) => nslookup(c, a, flavor === 'bind' ? 'bind' : 'busybox');
    case 'dig':
      return dig;
    case 'agnhost':
    case 'agnhost-2':
      return async (_c, a, imageExec) => {
        if (!imageExec) return result(1, '', 'podnet: the agnhost process of this container is not running\n');
        const r = await imageExec([argv0, ...a]);
        return result(r.exitCode, r.stdout, r.stderr);
      };
    case 'sh':
    case 'ash':
    case 'dash':
    case 'bash':
      return (c, a, imageExec) => shell(c, a, flavor, base, imageExec);
    case 'hostname':
      return hostname;
    case 'cat':
      return (c, a) => cat(c, a, flavor);
    case 'echo':
      return async (_c, a) => result(0, echo(a));
    case 'true':
      return async () => result(0);
    case 'false':
      return async () => result(1);
    case 'sleep':
      return sleep;
    case 'env':
      return async (c) => result(0, Object.entries({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOSTNAME: c.container.hostname, ...c.container.env }).map(([k, v]) => `${k}=${v}\n`).join(''));
    default:
      return undefined;
  }
}

/** The runtime's id for an exec (stable for a command, as containerd's is random). */
function execId(ctx: ExecContext, argv: readonly string[]): string {
  return createHash('sha256').update(`${ctx.container.namespace}/${ctx.container.podName}/${ctx.container.containerName}/${argv.join(' ')}`).digest('hex');
}

function echo(args: readonly string[]): string {
  let a = [...args];
  let newline = true;
  if (a[0] === '-n') {
    newline = false;
    a = a.slice(1);
  }
  return `${a.join(' ')}${newline ? '\n' : ''}`;
}

async function hostname(ctx: ExecContext, args: readonly string[]): Promise<ExecResult> {
  const c = ctx.container;
  if (args.length === 0) return result(0, `${c.hostname}\n`);
  if (args[0] === '-i') return result(0, `${c.podIPs.join(' ')}\n`);
  if (args[0] === '-f' || args[0] === '--fqdn') {
    const line = ctx.hosts.split('\n').find((l) => l.split(/\s+/).slice(1).includes(c.hostname));
    const fqdn = line?.split(/\s+/).slice(1).find((n) => n.startsWith(`${c.hostname}.`));
    return result(0, `${fqdn ?? c.hostname}\n`);
  }
  if (args[0] === '-s' || args[0] === '--short') return result(0, `${c.hostname.split('.')[0]}\n`);
  return result(1, '', 'hostname: you must be root to change the host name\n');
}

/** The files a container has that podnet knows the content of. */
function readFile(ctx: ExecContext, path: string): string | undefined {
  switch (path.replace(/\/+/g, '/')) {
    case '/etc/resolv.conf':
      return ctx.resolvConf;
    case '/etc/hosts':
      return ctx.hosts;
    case '/etc/hostname':
      return `${ctx.container.hostname}\n`;
    default:
      return undefined;
  }
}

async function cat(ctx: ExecContext, args: readonly string[], flavor: string): Promise<ExecResult> {
  const out = new Output();
  let code = 0;
  const files = args.filter((a) => a !== '--');
  if (files.length === 0) out.out(ctx.stdin);
  for (const f of files) {
    if (f === '-') {
      out.out(ctx.stdin);
      continue;
    }
    const text = readFile(ctx, f);
    if (text === undefined) {
      out.err(flavor === 'busybox' ? `cat: can't open '${f}': No such file or directory\n` : `cat: ${f}: No such file or directory\n`);
      code = 1;
    } else out.out(text);
  }
  return out.exit(code);
}

async function sleep(_ctx: ExecContext, args: readonly string[]): Promise<ExecResult> {
  const n = Number(args[0]);
  if (args.length === 0 || !Number.isFinite(n) || n < 0) return result(1, '', args.length === 0 ? 'sleep: missing operand\n' : `sleep: invalid number '${args[0]}'\n`);
  await new Promise((r) => setTimeout(r, n * 1000));
  return result(0);
}

// --- sh -c ------------------------------------------------------------------------------------

/** One simple command of a `sh -c` line and how it joins the next. */
interface Step {
  words: string[];
  /** How this command's status is combined with the previous one. */
  op: ';' | '&&' | '||' | '|';
  stdoutTo: 'stdout' | 'null' | 'stderr';
  stderrTo: 'stderr' | 'null' | 'stdout';
}

/** How a shell words "not found". */
function notFound(flavor: string, name: string, argv0: string): string {
  if (flavor === 'bash') return `${argv0}: line 1: ${name}: command not found\n`;
  if (flavor === 'dash') return `${argv0}: 1: ${name}: not found\n`;
  return `${argv0}: ${name}: not found\n`;
}

/** Splits a command line at `;`, `&&`, `||`, `|` outside quotes; undefined on what the minimal shell does not do. */
function parseLine(line: string): Step[] | undefined {
  if (/[`<]|\$\(|\$\{|\$[A-Za-z_]|\b(for|while|if|case|until|function)\b/.test(line.replace(/'[^']*'/g, ''))) return undefined;
  const steps: Step[] = [];
  let current = '';
  let op: Step['op'] = ';';
  let quote: string | undefined;
  const push = (next: Step['op']): boolean => {
    const text = current.trim();
    current = '';
    if (!text) return false;
    const step = simple(text, op);
    if (!step) return false;
    steps.push(step);
    op = next;
    return true;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      current += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      current += c;
      continue;
    }
    const two = line.slice(i, i + 2);
    if (two === '&&' || two === '||') {
      if (!push(two)) return undefined;
      i++;
      continue;
    }
    if (c === ';' || c === '\n') {
      if (!current.trim()) continue;
      if (!push(';')) return undefined;
      continue;
    }
    if (c === '|') {
      if (!push('|')) return undefined;
      continue;
    }
    if (c === '&' && line[i - 1] !== '>' && line[i + 1] !== '>') return undefined;
    current += c;
  }
  if (quote) return undefined;
  if (current.trim()) {
    if (!push(';')) return undefined;
  } else if (op !== ';') return undefined;
  return steps;
}

function simple(text: string, op: Step['op']): Step | undefined {
  const redirections: [RegExp, Partial<Step>][] = [
    [/(^|\s)(&>|>&)\s*\/dev\/null(?=\s|$)/, { stdoutTo: 'null', stderrTo: 'null' }],
    [/(^|\s)2>\s*\/dev\/null(?=\s|$)/, { stderrTo: 'null' }],
    [/(^|\s)1?>\s*\/dev\/null(?=\s|$)/, { stdoutTo: 'null' }],
    [/(^|\s)2>&1(?=\s|$)/, { stderrTo: 'stdout' }],
    [/(^|\s)1?>&2(?=\s|$)/, { stdoutTo: 'stderr' }],
  ];
  const step: Step = { words: [], op, stdoutTo: 'stdout', stderrTo: 'stderr' };
  let rest = text;
  for (const [re, effect] of redirections) {
    while (re.test(rest)) {
      rest = rest.replace(re, ' ');
      Object.assign(step, effect);
    }
  }
  if (/[<>]/.test(rest.replace(/'[^']*'|"[^"]*"/g, ''))) return undefined;
  const words = shellWords(rest);
  if (!words || words.length === 0) return undefined;
  step.words = words;
  return step;
}

async function shell(ctx: ExecContext, args: readonly string[], flavor: string, argv0: string, imageExec?: ImageExec): Promise<ExecResult> {
  const out = new Output();
  if (args.length === 0 || args[0] !== '-c') {
    // No command string: the shell reads commands from stdin; exec without a terminal gives it none.
    if (args.length === 0 && ctx.stdin.length === 0) return out.exit(0);
    if (args.length === 0) return shell(ctx, ['-c', ctx.stdin.toString('utf8')], flavor, argv0, imageExec);
    out.err(`podnet: ${argv0} ${args[0]}: only \`${argv0} -c COMMAND\` is emulated\n`);
    return out.exit(2);
  }
  if (args.length < 2) {
    out.err(flavor === 'bash' ? `${argv0}: -c: option requires an argument\n` : `${argv0}: -c requires an argument\n`);
    return out.exit(2);
  }
  const line = args[1]!;
  const steps = parseLine(line.replace(/\$\?/g, '\u0000STATUS\u0000'));
  if (!steps) {
    out.err(`podnet: ${argv0} -c ${JSON.stringify(line)}: this shell syntax is not emulated (simple commands joined by ; && || | only)\n`);
    return out.exit(2);
  }
  let status = 0;
  let piped: Buffer | undefined;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if (step.op === '&&' && status !== 0) continue;
    if (step.op === '||' && status === 0) continue;
    const words = step.words.map((w) => w.replace(/\u0000STATUS\u0000/g, String(status)));
    if (words[0] === 'exit') {
      const code = words[1] === undefined ? status : Number(words[1]);
      return out.exit(Number.isInteger(code) ? code & 255 : 2);
    }
    const stdin = step.op === '|' && piped !== undefined ? piped : ctx.stdin;
    let r: ExecResult;
    if (words[0] === ':') r = result(0);
    else {
      const program = find(ctx, words[0]!);
      r = program ? await program({ ...ctx, stdin }, words.slice(1), imageExec) : result(127, '', notFound(flavor, words[0]!, argv0));
    }
    status = r.exitCode;
    const next = steps[i + 1];
    const stdoutData = step.stdoutTo === 'null' ? Buffer.alloc(0) : r.stdout;
    const stderrData = step.stderrTo === 'null' ? Buffer.alloc(0) : r.stderr;
    const toOut = Buffer.concat([step.stdoutTo === 'stdout' ? stdoutData : Buffer.alloc(0), step.stderrTo === 'stdout' ? stderrData : Buffer.alloc(0)]);
    const toErr = Buffer.concat([step.stdoutTo === 'stderr' ? stdoutData : Buffer.alloc(0), step.stderrTo === 'stderr' ? stderrData : Buffer.alloc(0)]);
    if (next?.op === '|') piped = toOut;
    else {
      piped = undefined;
      out.out(toOut);
    }
    out.err(toErr);
  }
  return out.exit(status);
}
