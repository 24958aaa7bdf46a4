import type { StringMatcher } from '../config/types.ts';
import { asciiLower } from './ascii.ts';
import type { CompileContext } from './compile-context.ts';
import { compileRe2 } from '../re2.ts';

/** A compiled Envoy `StringMatcher`: exact / prefix / suffix / contains / safe_regex. */
export interface CompiledStringMatcher {
  match(value: string): boolean;
}

const Kind = {
  Exact: 0,
  Prefix: 1,
  Suffix: 2,
  Contains: 3,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/**
 * `ignore_case` compares ASCII-case-insensitively (Envoy uses absl's ASCII helpers); the configured
 * value is lower-cased once here, the request value once per match.
 */
class TextMatcher implements CompiledStringMatcher {
  readonly #kind: Kind;
  readonly #value: string;
  readonly #ignoreCase: boolean;

  constructor(kind: Kind, value: string, ignoreCase: boolean) {
    this.#kind = kind;
    this.#ignoreCase = ignoreCase;
    this.#value = ignoreCase ? asciiLower(value) : value;
  }

  match(value: string): boolean {
    const v = this.#ignoreCase ? asciiLower(value) : value;
    switch (this.#kind) {
      case Kind.Exact:
        return v === this.#value;
      case Kind.Prefix:
        return v.startsWith(this.#value);
      case Kind.Suffix:
        return v.endsWith(this.#value);
      default:
        return v.includes(this.#value);
    }
  }
}

/** RE2 full match; `ignore_case` has no effect on regexes (Envoy). */
class RegexMatcher implements CompiledStringMatcher {
  readonly #re: RegExp;
  constructor(re: RegExp) {
    this.#re = re;
  }
  match(value: string): boolean {
    return this.#re.test(value);
  }
}

const NEVER: CompiledStringMatcher = { match: () => false };

/**
 * Compiles one matcher. A broken regex is recorded on `ctx` at `path` and yields a matcher that
 * never matches (the table is rejected anyway).
 */
export function compileStringMatcher(m: StringMatcher, ctx: CompileContext, path: string): CompiledStringMatcher {
  const ic = m.ignore_case === true;
  if (m.exact !== undefined) return new TextMatcher(Kind.Exact, m.exact, ic);
  if (m.prefix !== undefined) return new TextMatcher(Kind.Prefix, m.prefix, ic);
  if (m.suffix !== undefined) return new TextMatcher(Kind.Suffix, m.suffix, ic);
  if (m.contains !== undefined) return new TextMatcher(Kind.Contains, m.contains, ic);
  const safeRegex = m.safe_regex;
  if (safeRegex !== undefined) {
    const program = ctx.regex(`${path}.safe_regex.regex`, () => compileRe2(safeRegex.regex));
    return program === undefined ? NEVER : new RegexMatcher(program.full);
  }
  ctx.problem(path, 'expected one of exact, prefix, suffix, contains, safe_regex');
  return NEVER;
}
