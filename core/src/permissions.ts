// Permission expressions: what a route requires of a key's scopes, as one boolean expression
// ("orders.read AND (refunds.write OR admin)"), where `requiredScopes` can only say "all of these".
//
// Grammar (AND binds tighter than OR; AND and OR in any letter case):
//   expression := term ( OR term )*
//   term       := factor ( AND factor )*
//   factor     := scope | "(" expression ")"
// A scope is what SCOPE_PATTERN admits, and is satisfied as a required scope is: a key scope
// equal to it, or a key scope ending in `*` that covers it ("orders:*", "*"). A key without
// scopes satisfies every expression, as it satisfies every requiredScopes list: its access level
// is what limits it.
//
// Bounded so a caller cannot make a verification expensive: at most MAX_EXPRESSION_LENGTH
// characters, MAX_EXPRESSION_SCOPES scopes and MAX_EXPRESSION_DEPTH nested parentheses. Each
// distinct text is parsed once (the last PARSED_CACHE_SIZE texts are kept).
import { MAX_SCOPES, SCOPE_PATTERN } from './requirements.ts';
import { type Grants, grantsOf } from './verification.ts';

export const MAX_EXPRESSION_LENGTH = 1000;
export const MAX_EXPRESSION_DEPTH = 8;
export const MAX_EXPRESSION_SCOPES = MAX_SCOPES;
const PARSED_CACHE_SIZE = 1000;

export type PermissionNode = { scope: string } | { and: PermissionNode[] } | { or: PermissionNode[] };

/** A parsed expression, ready to check keys against. */
export interface PermissionExpression {
  readonly tree: PermissionNode;
  /** The expression in its normal form: upper-case operators, single spaces, needed parentheses only. */
  readonly text: string;
  /** Whether a key with these scopes satisfies it. */
  allows(keyScopes: readonly string[]): boolean;
  /** Every scope it names, once each (what observed use records of a verification that passed). */
  readonly scopes: readonly string[];
}

export interface PermissionSyntaxError {
  /** Zero-based index into the text where the problem is. */
  position: number;
  message: string;
}

export type ParsedPermissions = { ok: true; value: PermissionExpression } | { ok: false; error: PermissionSyntaxError };

const cache = new Map<string, ParsedPermissions>();

/** Parses (once per distinct text) a permission expression. */
export function parsePermissions(text: string): ParsedPermissions {
  let parsed = cache.get(text);
  if (parsed === undefined) {
    parsed = parse(text);
    // Only texts within the bounds are kept, and never more than PARSED_CACHE_SIZE of them.
    if (text.length <= MAX_EXPRESSION_LENGTH) {
      if (cache.size >= PARSED_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      cache.set(text, parsed);
    }
  }
  return parsed;
}

/** The error as one line for people, the position counted from 1: "expected a scope or ( after AND, found the end (at character 22)". */
export function describePermissionError(error: PermissionSyntaxError): string {
  return `${error.message} (at character ${error.position + 1})`;
}

type Check = (grants: Grants) => boolean;

/** The tree as nested closures: no allocation and no recursion over node kinds per verification. */
function compile(node: PermissionNode): Check {
  if ('scope' in node) {
    const scope = node.scope;
    return (grants) => grants.covers(scope);
  }
  const parts = ('and' in node ? node.and : node.or).map(compile);
  if ('and' in node) {
    return (grants) => {
      for (const part of parts) if (!part(grants)) return false;
      return true;
    };
  }
  return (grants) => {
    for (const part of parts) if (part(grants)) return true;
    return false;
  };
}

function render(node: PermissionNode, parent: 'and' | 'or' | null): string {
  if ('scope' in node) return node.scope;
  if ('and' in node) return node.and.map((inner) => render(inner, 'and')).join(' AND ');
  const text = node.or.map((inner) => render(inner, 'or')).join(' OR ');
  return parent === 'and' ? `(${text})` : text;
}

/**
 * A cached key's scope list never changes (a change loads the key anew, with a new list), so each
 * expression remembers its answer per list: weakly, and the last one for a reference test.
 */
class Expression implements PermissionExpression {
  readonly text: string;
  readonly scopes: readonly string[];
  private readonly check: Check;
  private readonly answers = new WeakMap<readonly string[], boolean>();
  private lastScopes: readonly string[] | null = null;
  private lastAnswer = false;
  constructor(readonly tree: PermissionNode) {
    this.text = render(tree, null);
    this.check = compile(tree);
    this.scopes = [...new Set(leaves(tree))];
  }
  allows(keyScopes: readonly string[]): boolean {
    if (keyScopes === this.lastScopes) return this.lastAnswer;
    if (keyScopes.length === 0) return true;
    let answer = this.answers.get(keyScopes);
    if (answer === undefined) {
      answer = this.check(grantsOf(keyScopes));
      this.answers.set(keyScopes, answer);
    }
    this.lastScopes = keyScopes;
    this.lastAnswer = answer;
    return answer;
  }
}

function leaves(node: PermissionNode): string[] {
  if ('scope' in node) return [node.scope];
  return ('and' in node ? node.and : node.or).flatMap(leaves);
}

interface Token {
  kind: 'scope' | 'and' | 'or' | '(' | ')' | 'end';
  text: string;
  at: number;
}

class SyntaxFailure extends Error {
  constructor(
    readonly position: number,
    message: string,
  ) {
    super(message);
  }
}

function parse(text: string): ParsedPermissions {
  if (text.length > MAX_EXPRESSION_LENGTH) {
    return {
      ok: false,
      error: { position: MAX_EXPRESSION_LENGTH, message: `is longer than ${MAX_EXPRESSION_LENGTH} characters` },
    };
  }
  try {
    const tokens = tokenize(text);
    let next = 0;
    let scopes = 0;
    const peek = () => tokens[next]!;
    const describe = (token: Token) =>
      token.kind === 'end' ? 'the end' : token.kind === 'scope' ? `"${token.text}"` : token.text;
    const expression = (depth: number): PermissionNode => {
      const terms = [term(depth)];
      while (peek().kind === 'or') {
        next++;
        terms.push(term(depth));
      }
      return terms.length === 1 ? terms[0]! : { or: terms.flatMap((t) => ('or' in t ? t.or : [t])) };
    };
    const term = (depth: number): PermissionNode => {
      const factors = [factor(depth)];
      while (peek().kind === 'and') {
        next++;
        factors.push(factor(depth));
      }
      return factors.length === 1 ? factors[0]! : { and: factors.flatMap((f) => ('and' in f ? f.and : [f])) };
    };
    const factor = (depth: number): PermissionNode => {
      const token = peek();
      if (token.kind === 'scope') {
        next++;
        if (++scopes > MAX_EXPRESSION_SCOPES) {
          throw new SyntaxFailure(token.at, `names more than ${MAX_EXPRESSION_SCOPES} scopes`);
        }
        return { scope: token.text };
      }
      if (token.kind === '(') {
        if (depth >= MAX_EXPRESSION_DEPTH) {
          throw new SyntaxFailure(token.at, `nests parentheses deeper than ${MAX_EXPRESSION_DEPTH}`);
        }
        next++;
        const inner = expression(depth + 1);
        const close = peek();
        if (close.kind !== ')')
          throw new SyntaxFailure(close.at, `expected ) to close the ( at ${token.at + 1}, found ${describe(close)}`);
        next++;
        return inner;
      }
      const before = next > 0 ? tokens[next - 1]! : null;
      const after = before === null ? '' : ` after ${describe(before)}`;
      throw new SyntaxFailure(token.at, `expected a scope or (${after}, found ${describe(token)}`);
    };
    const tree = expression(0);
    const rest = peek();
    if (rest.kind !== 'end') {
      throw new SyntaxFailure(
        rest.at,
        rest.kind === ')' ? 'found ) without a matching (' : `expected AND, OR or the end, found ${describe(rest)}`,
      );
    }
    return { ok: true, value: new Expression(tree) };
  } catch (error) {
    if (error instanceof SyntaxFailure)
      return { ok: false, error: { position: error.position, message: error.message } };
    throw error;
  }
}

const WORD = /[^\s()]+/y;
/** White space as WORD sees it (so a no-break or other Unicode space is skipped, never a word). */
const SPACE = /\s/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    const char = text[at]!;
    if (SPACE.test(char)) {
      at++;
    } else if (char === '(' || char === ')') {
      tokens.push({ kind: char, text: char, at });
      at++;
    } else {
      WORD.lastIndex = at;
      const word = WORD.exec(text)![0];
      const upper = word.toUpperCase();
      if (upper === 'AND' || upper === 'OR') tokens.push({ kind: upper === 'AND' ? 'and' : 'or', text: upper, at });
      else if (SCOPE_PATTERN.test(word)) tokens.push({ kind: 'scope', text: word, at });
      else {
        const shown = word.length > 40 ? `${word.slice(0, 40)}…` : word;
        throw new SyntaxFailure(
          at,
          `"${shown}" is not a scope (1-64 letters, digits or _ . : * -, starting with a letter or digit)`,
        );
      }
      at += word.length;
    }
  }
  tokens.push({ kind: 'end', text: '', at: text.length });
  if (tokens.length === 1) throw new SyntaxFailure(0, 'is empty');
  return tokens;
}
