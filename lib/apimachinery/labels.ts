/**
 * Label selectors, as k8s.io/apimachinery/pkg/labels parses, prints and matches them.
 *
 * Follows upstream `labels.Parse` token for token (the lexer, the parser's error wording, `in`/`notin`
 * read as plain values inside parentheses, values deduplicated and sorted, requirements sorted by
 * key), `Requirement.Matches` (`!=` and `notin` match when the key is absent), `Requirement.String`,
 * and `metav1.LabelSelectorAsSelector` (a nil selector selects nothing, an empty one everything).
 * Keys and values are checked with apimachinery's validation rules (`IsQualifiedName`,
 * `IsValidLabelValue`, in `validation.ts`) and errors are worded as the API server words them, e.g.
 * `unable to parse requirement: <nil>: Invalid value: "app:web": name part must consist of ...`.
 */

import type { LabelSelector } from '../api/meta.js';
import { BadRequestError } from '../core/errors.js';
import { isQualifiedName, isValidLabelValue } from './validation.js';

/**
 * A requirement's operator, spelled as apimachinery's `selection.Operator`: `=`, `==`, `!=`, `in`,
 * `notin`, `exists`, `!` (does not exist), `gt`, `lt`.
 */
export type Operator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

/** One clause of a selector (`labels.Requirement`): a key, an operator and its values. */
export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  /** Empty for `exists` and `!`; exactly one for `=`, `==`, `!=`, `gt`, `lt`; at least one for `in`/`notin`. */
  readonly values: readonly string[];
}

/** A label set, as stored in `metadata.labels`. */
export type Labels = Readonly<Record<string, string>>;

/**
 * A parsed label selector (`labels.Selector`): the AND of its requirements. Immutable.
 *
 * The selector that selects nothing (from a nil `LabelSelector`) has no requirements, is not
 * {@link Selector.empty}, matches no label set and prints as `''`.
 */
export interface Selector {
  /** The requirements, sorted by key as apimachinery keeps them. */
  readonly requirements: readonly Requirement[];
  /** Whether every requirement holds for `labels` (absent labels are an empty set). */
  matches(labels: Labels | undefined | null): boolean;
  /** Whether the selector does not restrict anything (it selects everything). */
  empty(): boolean;
  /** The canonical string form, e.g. `environment in (production,qa),tier!=frontend`. */
  toString(): string;
  /** A new selector with `requirements` added (the receiver is unchanged). */
  add(...requirements: Requirement[]): Selector;
  /**
   * The value `label` must have for the selector to match, when one requirement pins it to exactly
   * one value (`=`, `==`, or `in` with a single value); `undefined` otherwise.
   */
  requiresExactMatch(label: string): string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Field errors in the exact shape apimachinery prints them (field.Error and its aggregate).
// A path of `undefined` is Go's nil *field.Path, which prints as `<nil>`.

type Path = string | undefined;

function child(path: Path, name: string): string {
  return path === undefined ? name : `${path}.${name}`;
}

/** Go's `%q` for the ASCII strings selectors deal in, close enough for the rest. */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Go's `%#v` of a `[]string`. */
function goStringSlice(values: readonly string[]): string {
  return values.length === 0 ? '[]string(nil)' : `[]string{${values.map(goQuote).join(', ')}}`;
}

function invalid(path: Path, badValue: string, detail: string): string {
  return `${path ?? '<nil>'}: Invalid value: ${badValue}: ${detail}`;
}

/** `utilerrors.NewAggregate(...).Error()`: one message alone, several deduplicated in brackets. */
function aggregate(messages: string[]): string {
  const unique = [...new Set(messages)];
  return unique.length === 1 ? unique[0]! : `[${unique.join(', ')}]`;
}

function validateLabelKey(key: string, path: Path): string | undefined {
  const errs = isQualifiedName(key);
  return errs.length ? invalid(path, goQuote(key), errs.join('; ')) : undefined;
}

const BINARY_OPERATORS: readonly Operator[] = ['in', 'notin', '=', '==', '!=', 'gt', 'lt'];
const UNARY_OPERATORS: readonly Operator[] = ['exists', '!'];

/** strconv.ParseInt(s, 10, 64) succeeds. */
function isInt64(s: string): boolean {
  if (!/^[+-]?[0-9]+$/.test(s)) return false;
  const n = BigInt(s);
  return n >= -(2n ** 63n) && n < 2n ** 63n;
}

function requirementErrors(key: string, operator: string, values: readonly string[], path: Path): string[] {
  const errs: string[] = [];
  const keyErr = validateLabelKey(key, child(path, 'key'));
  if (keyErr) errs.push(keyErr);
  const valuesPath = child(path, 'values');
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) {
        errs.push(invalid(valuesPath, goStringSlice(values), "for 'in', 'notin' operators, values set can't be empty"));
      }
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) {
        errs.push(invalid(valuesPath, goStringSlice(values), 'exact-match compatibility requires one single value'));
      }
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) {
        errs.push(invalid(valuesPath, goStringSlice(values), 'values set must be empty for exists and does not exist'));
      }
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) {
        errs.push(invalid(valuesPath, goStringSlice(values), "for 'Gt', 'Lt' operators, exactly one value is required"));
      }
      values.forEach((v, i) => {
        if (!isInt64(v)) {
          errs.push(invalid(`${valuesPath}[${i}]`, goQuote(v), "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      });
      break;
    default: {
      const supported = [...BINARY_OPERATORS, ...UNARY_OPERATORS].map(goQuote).join(', ');
      errs.push(`${child(path, 'operator')}: Unsupported value: ${goQuote(operator)}: supported values: ${supported}`);
    }
  }
  values.forEach((v, i) => {
    const valueErrs = isValidLabelValue(v);
    if (valueErrs.length) errs.push(invalid(`${valuesPath}[${i}][${key}]`, goQuote(v), valueErrs.join('; ')));
  });
  return errs;
}

function freezeRequirement(key: string, operator: Operator, values: readonly string[]): Requirement {
  return Object.freeze({ key, operator, values: Object.freeze([...values]) });
}

/**
 * Builds a validated requirement (`labels.NewRequirement`). Throws {@link BadRequestError} with
 * apimachinery's message when the key, operator or values are not valid.
 */
export function newRequirement(key: string, operator: Operator, values: readonly string[] = []): Requirement {
  const errs = requirementErrors(key, operator, values, undefined);
  if (errs.length) throw new BadRequestError(aggregate(errs));
  return freezeRequirement(key, operator, values);
}

// ---------------------------------------------------------------------------------------------
// Matching and printing.

function has(labels: Labels, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(labels, key);
}

/** Whether one requirement holds for a label set (`Requirement.Matches`). */
export function requirementMatches(r: Requirement, labels: Labels | undefined | null): boolean {
  const ls = labels ?? {};
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return has(ls, r.key) && r.values.includes(ls[r.key]!);
    case 'notin':
    case '!=':
      return !has(ls, r.key) || !r.values.includes(ls[r.key]!);
    case 'exists':
      return has(ls, r.key);
    case '!':
      return !has(ls, r.key);
    case 'gt':
    case 'lt': {
      if (!has(ls, r.key) || r.values.length !== 1) return false;
      const actual = ls[r.key]!;
      const wanted = r.values[0]!;
      if (!isInt64(actual) || !isInt64(wanted)) return false;
      return r.operator === 'gt' ? BigInt(actual) > BigInt(wanted) : BigInt(actual) < BigInt(wanted);
    }
    default:
      return false;
  }
}

/** The string form of one requirement (`Requirement.String`); several values print sorted. */
export function requirementString(r: Requirement): string {
  let s = r.operator === '!' ? `!${r.key}` : r.key;
  switch (r.operator) {
    case 'exists':
    case '!':
      return s;
    case '=':
    case '==':
    case '!=':
      s += r.operator;
      break;
    case 'in':
    case 'notin':
      s += ` ${r.operator} `;
      break;
    case 'gt':
      s += '>';
      break;
    case 'lt':
      s += '<';
      break;
  }
  const values = r.values.length === 1 ? r.values[0]! : [...r.values].sort(compareStrings).join(',');
  return r.operator === 'in' || r.operator === 'notin' ? `${s}(${values})` : s + values;
}

/** Go's byte-wise string order (sort.Strings), which differs from localeCompare. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortByKey(reqs: readonly Requirement[]): Requirement[] {
  // Array.prototype.sort is stable, so equal keys keep their order.
  return [...reqs].sort((a, b) => compareStrings(a.key, b.key));
}

class InternalSelector implements Selector {
  readonly requirements: readonly Requirement[];

  constructor(requirements: readonly Requirement[]) {
    this.requirements = Object.freeze(sortByKey(requirements));
  }

  matches(labels: Labels | undefined | null): boolean {
    return this.requirements.every((r) => requirementMatches(r, labels));
  }

  empty(): boolean {
    return this.requirements.length === 0;
  }

  toString(): string {
    return this.requirements.map(requirementString).join(',');
  }

  add(...requirements: Requirement[]): Selector {
    return new InternalSelector([...this.requirements, ...requirements.map((r) => freezeRequirement(r.key, r.operator, r.values))]);
  }

  requiresExactMatch(label: string): string | undefined {
    const r = this.requirements.find((x) => x.key === label);
    if (!r) return undefined;
    if ((r.operator === '=' || r.operator === '==' || r.operator === 'in') && r.values.length === 1) return r.values[0];
    return undefined;
  }
}

class NothingSelector implements Selector {
  readonly requirements: readonly Requirement[] = Object.freeze([]);
  matches(): boolean {
    return false;
  }
  empty(): boolean {
    return false;
  }
  toString(): string {
    return '';
  }
  add(): Selector {
    return this;
  }
  requiresExactMatch(): string | undefined {
    return undefined;
  }
}

const EVERYTHING: Selector = new InternalSelector([]);
const NOTHING: Selector = new NothingSelector();

/** The selector that matches every label set (`labels.Everything`). */
export function everything(): Selector {
  return EVERYTHING;
}

/** The selector that matches no label set (`labels.Nothing`). */
export function nothing(): Selector {
  return NOTHING;
}

/**
 * A selector requiring exactly the given labels (`labels.SelectorFromSet`), e.g. a Service's
 * `spec.selector`. An empty set selects everything. Like upstream, the set is not validated.
 */
export function selectorFromSet(labels: Labels | undefined | null): Selector {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return EVERYTHING;
  return new InternalSelector(entries.map(([k, v]) => freezeRequirement(k, '=', [v])));
}

const LABEL_SELECTOR_OPERATORS: Readonly<Record<string, Operator>> = {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!',
};

/**
 * Converts a `metav1.LabelSelector` (`metav1.LabelSelectorAsSelector`): `undefined`/`null` selects
 * nothing, `{}` selects everything, otherwise the AND of `matchLabels` and `matchExpressions`.
 * Throws {@link BadRequestError} for an unknown operator, `In`/`NotIn` without values,
 * `Exists`/`DoesNotExist` with values, or a bad key or value.
 */
export function selectorFromLabelSelector(ls: LabelSelector | undefined | null): Selector {
  if (ls === undefined || ls === null) return NOTHING;
  const matchLabels = Object.entries(ls.matchLabels ?? {}).sort(([a], [b]) => compareStrings(a, b));
  const matchExpressions = ls.matchExpressions ?? [];
  if (matchLabels.length + matchExpressions.length === 0) return EVERYTHING;
  const requirements: Requirement[] = [];
  for (const [key, value] of matchLabels) {
    const errs = requirementErrors(key, '=', [value], undefined);
    if (errs.length) throw new BadRequestError(aggregate(errs));
    requirements.push(freezeRequirement(key, '=', [value]));
  }
  for (const expr of matchExpressions) {
    const op = LABEL_SELECTOR_OPERATORS[expr.operator];
    if (!op) throw new BadRequestError(`${goQuote(String(expr.operator))} is not a valid label selector operator`);
    const values = expr.values ?? [];
    const errs = requirementErrors(expr.key, op, values, undefined);
    if (errs.length) throw new BadRequestError(aggregate(errs));
    requirements.push(freezeRequirement(expr.key, op, values));
  }
  return new InternalSelector(requirements);
}

// ---------------------------------------------------------------------------------------------
// The lexer and parser of labels.Parse, kept close to upstream so errors read the same.

type Token = 'error' | 'end' | 'identifier' | ')' | ',' | '!' | '==' | '=' | '>' | 'in' | '<' | '!=' | 'notin' | '(';

const STRING_TO_TOKEN: Readonly<Record<string, Token>> = {
  ')': ')',
  ',': ',',
  '!': '!',
  '==': '==',
  '=': '=',
  '>': '>',
  in: 'in',
  '<': '<',
  '!=': '!=',
  notin: 'notin',
  '(': '(',
};

function tokenOf(literal: string): Token | undefined {
  return Object.prototype.hasOwnProperty.call(STRING_TO_TOKEN, literal) ? STRING_TO_TOKEN[literal] : undefined;
}

function isWhitespace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
}

function isSpecialSymbol(ch: string): boolean {
  return ch === '=' || ch === '!' || ch === '(' || ch === ')' || ch === ',' || ch === '>' || ch === '<';
}

interface ScannedItem {
  tok: Token;
  literal: string;
}

class Lexer {
  #s: string;
  #pos = 0;

  constructor(s: string) {
    this.#s = s;
  }

  /** The next character, or '' at the end (Go reads a 0 byte there, and stops at a NUL too). */
  #read(): string {
    if (this.#pos < this.#s.length) {
      const ch = this.#s[this.#pos++]!;
      return ch === '\0' ? '' : ch;
    }
    return '';
  }

  #unread(): void {
    this.#pos--;
  }

  #scanIdOrKeyword(): ScannedItem {
    let buffer = '';
    for (;;) {
      const ch = this.#read();
      if (ch === '') break;
      if (isSpecialSymbol(ch) || isWhitespace(ch)) {
        this.#unread();
        break;
      }
      buffer += ch;
    }
    const tok = tokenOf(buffer);
    return { tok: tok ?? 'identifier', literal: buffer };
  }

  #scanSpecialSymbol(): ScannedItem {
    let last: ScannedItem | undefined;
    let buffer = '';
    for (;;) {
      const ch = this.#read();
      if (ch === '') break;
      if (!isSpecialSymbol(ch)) {
        this.#unread();
        break;
      }
      buffer += ch;
      const tok = tokenOf(buffer);
      if (tok) {
        last = { tok, literal: buffer };
      } else if (last) {
        this.#unread();
        break;
      }
    }
    return last ?? { tok: 'error', literal: `error expected: keyword found '${buffer}'` };
  }

  lex(): ScannedItem {
    let ch = this.#read();
    while (isWhitespace(ch)) ch = this.#read();
    if (ch === '') return { tok: 'end', literal: '' };
    this.#unread();
    return isSpecialSymbol(ch) ? this.#scanSpecialSymbol() : this.#scanIdOrKeyword();
  }
}

/** Parsing context: inside a value list `in` and `notin` are plain identifiers. */
type Context = 'keyAndOperator' | 'values';

class ParseError extends Error {}

class Parser {
  #items: ScannedItem[] = [];
  #position = 0;

  constructor(selector: string) {
    const lexer = new Lexer(selector);
    for (;;) {
      const item = lexer.lex();
      this.#items.push(item);
      if (item.tok === 'end') break;
    }
  }

  #view(item: ScannedItem, context: Context): ScannedItem {
    if (context === 'values' && (item.tok === 'in' || item.tok === 'notin')) return { tok: 'identifier', literal: item.literal };
    return item;
  }

  #lookahead(context: Context): ScannedItem {
    return this.#view(this.#items[this.#position]!, context);
  }

  #consume(context: Context): ScannedItem {
    return this.#view(this.#items[this.#position++]!, context);
  }

  parse(): Requirement[] {
    const requirements: Requirement[] = [];
    for (;;) {
      const { tok, literal } = this.#lookahead('values');
      switch (tok) {
        case 'identifier':
        case '!': {
          let r: Requirement;
          try {
            r = this.#parseRequirement();
          } catch (e) {
            if (e instanceof ParseError) throw new ParseError(`unable to parse requirement: ${e.message}`);
            throw e;
          }
          requirements.push(r);
          const next = this.#consume('values');
          if (next.tok === 'end') return requirements;
          if (next.tok === ',') {
            const after = this.#lookahead('values');
            if (after.tok !== 'identifier' && after.tok !== '!') {
              throw new ParseError(`found '${after.literal}', expected: identifier after ','`);
            }
            break;
          }
          throw new ParseError(`found '${next.literal}', expected: ',' or 'end of string'`);
        }
        case 'end':
          return requirements;
        default:
          throw new ParseError(`found '${literal}', expected: !, identifier, or 'end of string'`);
      }
    }
  }

  #parseRequirement(): Requirement {
    const { key, operator: inferred } = this.#parseKeyAndInferOperator();
    let operator: Operator;
    let values: string[];
    if (inferred === 'exists' || inferred === '!') {
      operator = inferred;
      values = [];
    } else {
      operator = this.#parseOperator();
      values = operator === 'in' || operator === 'notin' ? this.#parseValues() : this.#parseExactValue();
    }
    // sets.String.List(): deduplicated and sorted.
    values = [...new Set(values)].sort(compareStrings);
    const errs = requirementErrors(key, operator, values, undefined);
    if (errs.length) throw new ParseError(aggregate(errs));
    return freezeRequirement(key, operator, values);
  }

  #parseKeyAndInferOperator(): { key: string; operator: Operator | undefined } {
    let operator: Operator | undefined;
    let item = this.#consume('values');
    if (item.tok === '!') {
      operator = '!';
      item = this.#consume('values');
    }
    if (item.tok !== 'identifier') throw new ParseError(`found '${item.literal}', expected: identifier`);
    const keyErr = validateLabelKey(item.literal, undefined);
    if (keyErr) throw new ParseError(keyErr);
    const next = this.#lookahead('values').tok;
    if ((next === 'end' || next === ',') && operator !== '!') operator = 'exists';
    return { key: item.literal, operator };
  }

  #parseOperator(): Operator {
    const { tok, literal } = this.#consume('keyAndOperator');
    switch (tok) {
      case 'in':
        return 'in';
      case '=':
        return '=';
      case '==':
        return '==';
      case '>':
        return 'gt';
      case '<':
        return 'lt';
      case 'notin':
        return 'notin';
      case '!=':
        return '!=';
      default:
        throw new ParseError(`found '${literal}', expected: ${BINARY_OPERATORS.join(', ')}`);
    }
  }

  #parseValues(): string[] {
    const open = this.#consume('values');
    if (open.tok !== '(') throw new ParseError(`found '${open.literal}' expected: '('`);
    const { tok, literal } = this.#lookahead('values');
    switch (tok) {
      case 'identifier':
      case ',': {
        const values = this.#parseIdentifiersList();
        if (this.#consume('values').tok !== ')') throw new ParseError(`found '${literal}', expected: ')'`);
        return values;
      }
      case ')':
        this.#consume('values');
        return [''];
      default:
        throw new ParseError(`found '${literal}', expected: ',', ')' or identifier`);
    }
  }

  #parseIdentifiersList(): string[] {
    const values: string[] = [];
    for (;;) {
      const { tok, literal } = this.#consume('values');
      switch (tok) {
        case 'identifier': {
          values.push(literal);
          const next = this.#lookahead('values');
          if (next.tok === ',') continue;
          if (next.tok === ')') return values;
          throw new ParseError(`found '${next.literal}', expected: ',' or ')'`);
        }
        case ',': {
          // "(,", ",)" and ",," each stand for an empty value.
          if (values.length === 0) values.push('');
          const next = this.#lookahead('values').tok;
          if (next === ')') {
            values.push('');
            return values;
          }
          if (next === ',') {
            this.#consume('values');
            values.push('');
          }
          break;
        }
        default:
          throw new ParseError(`found '${literal}', expected: ',', or identifier`);
      }
    }
  }

  #parseExactValue(): string[] {
    const next = this.#lookahead('values').tok;
    if (next === 'end' || next === ',') return [''];
    const { tok, literal } = this.#consume('values');
    if (tok === 'identifier') return [literal];
    throw new ParseError(`found '${literal}', expected: identifier`);
  }
}

/**
 * Parses a label selector string exactly as `kubectl -l` and the API server's `labelSelector`
 * parameter accept it (`labels.Parse`):
 *
 * ```
 * <selector>    ::= <requirement> | <requirement> "," <selector>
 * <requirement> ::= [!] KEY [ ("in" | "notin") "(" VALUE ("," VALUE)* ")" | ("=" | "==" | "!=" | ">" | "<") VALUE ]
 * ```
 *
 * Whitespace separates tokens; the empty string selects everything. Throws
 * {@link BadRequestError} with the API server's wording for bad syntax, keys or values.
 */
export function parseSelector(s: string): Selector {
  try {
    return new InternalSelector(new Parser(s).parse());
  } catch (e) {
    if (e instanceof ParseError) throw new BadRequestError(e.message);
    throw e;
  }
}
