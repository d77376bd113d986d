/**
 * Command-line option parsing the way the real tools do it: POSIX `getopt` (busybox applets,
 * OpenBSD netcat: combined short flags `-zv`, an argument attached `-w1` or next `-w 1`, parsing
 * stops at `--`), GNU `getopt_long` (busybox wget: `--header=A:b` or `--header A:b`, unambiguous
 * prefixes), and curl's own parser (options and URLs intermixed, long options never take
 * `=value`, `--no-` negates a boolean).
 */

/** One option a tool knows. */
export interface OptionSpec {
  /** The key the value is stored under. */
  key: string;
  /** Single-letter name, without the dash. */
  short?: string;
  /** Long names, without the dashes. */
  long?: readonly string[];
  /** Whether the option takes an argument. */
  arg?: boolean;
}

/** What a parse found. */
export interface ParsedOptions {
  /** Every value of each option in order (`''` for a flag given once; repeated flags repeat). */
  values: Map<string, string[]>;
  /** Operands (non-options) in order. */
  operands: string[];
}

/** A usage error, with the offending option as the tool spells it. */
export class OptionError extends Error {
  readonly kind: 'unknown' | 'missing-argument' | 'ambiguous';
  readonly option: string;
  constructor(kind: OptionError['kind'], option: string) {
    super(`${kind} option ${option}`);
    this.kind = kind;
    this.option = option;
  }
}

/** Options of {@link parseOptions}. */
export interface ParseStyle {
  /** Operands may come between options (GNU permutation, curl); else the first operand ends options (POSIX). */
  permute?: boolean;
  /** Long options accept `--name=value` (getopt_long); curl does not. */
  longEquals?: boolean;
  /** Long options may be abbreviated to an unambiguous prefix (getopt_long). */
  longPrefixes?: boolean;
  /** A single `-` is an operand (stdin), as getopt treats it. */
}

/** Parses `args` against `specs`. Throws {@link OptionError}. */
export function parseOptions(args: readonly string[], specs: readonly OptionSpec[], style: ParseStyle = {}): ParsedOptions {
  const values = new Map<string, string[]>();
  const operands: string[] = [];
  const add = (key: string, value: string) => values.set(key, [...(values.get(key) ?? []), value]);
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      let name = a.slice(2);
      let value: string | undefined;
      const eq = name.indexOf('=');
      if (style.longEquals && eq >= 0) {
        value = name.slice(eq + 1);
        name = name.slice(0, eq);
      }
      const spec = findLong(specs, name, !!style.longPrefixes, a);
      if (spec.arg) {
        if (value === undefined) {
          if (i + 1 >= args.length) throw new OptionError('missing-argument', a);
          value = args[++i]!;
        }
        add(spec.key, value);
      } else {
        if (value !== undefined) throw new OptionError('unknown', a);
        add(spec.key, '');
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const spec = byShort.get(c);
        if (!spec) throw new OptionError('unknown', `-${c}`);
        if (!spec.arg) {
          add(spec.key, '');
          continue;
        }
        if (j + 1 < a.length) add(spec.key, a.slice(j + 1));
        else if (i + 1 < args.length) add(spec.key, args[++i]!);
        else throw new OptionError('missing-argument', `-${c}`);
        break;
      }
      continue;
    }
    if (!style.permute) break;
    operands.push(a);
  }
  operands.push(...args.slice(i));
  return { values, operands };
}

function findLong(specs: readonly OptionSpec[], name: string, prefixes: boolean, given: string): OptionSpec {
  const exact = specs.find((s) => s.long?.includes(name));
  if (exact) return exact;
  if (prefixes && name !== '') {
    const matches = specs.filter((s) => s.long?.some((l) => l.startsWith(name)));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new OptionError('ambiguous', given);
  }
  throw new OptionError('unknown', given);
}

/** The last value of an option, or undefined. */
export function last(parsed: ParsedOptions, key: string): string | undefined {
  const all = parsed.values.get(key);
  return all?.[all.length - 1];
}

/** Whether a flag was given. */
export function has(parsed: ParsedOptions, key: string): boolean {
  return parsed.values.has(key);
}

/** Every value of an option. */
export function all(parsed: ParsedOptions, key: string): string[] {
  return parsed.values.get(key) ?? [];
}

/**
 * Splits a shell command line into words: single and double quotes, backslash escapes, as
 * `sh -c` would before running a simple command. Returns undefined for an unterminated quote.
 */
export function shellWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length && '$`"\\\n'.includes(line[j + 1]!)) j++;
        word += line[j]!;
      }
      if (j >= line.length) return undefined;
      inWord = true;
      i = j;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i]!;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
