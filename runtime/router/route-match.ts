import { DEFAULT_CASE_SENSITIVE } from '../config/defaults.ts';
import type { RouteMatch } from '../config/types.ts';
import type { HeaderMap } from '../http/header-map.ts';
import { asciiLower } from './ascii.ts';
import type { CompileContext } from './compile-context.ts';
import { CompiledHeaderMatcher, matchAllHeaders } from './header-matcher.ts';
import { CompiledQueryMatcher, matchAllQuery } from './query-matcher.ts';
import { compileRe2 } from '../re2.ts';

export const PathKind = {
  Prefix: 0,
  Path: 1,
  Regex: 2,
  SeparatedPrefix: 3,
} as const;
export type PathKind = (typeof PathKind)[keyof typeof PathKind];

const DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

/**
 * A compiled `RouteMatch`. Every path specifier matches the path **without** its query string and
 * fragment (Envoy's `PathMatcher` strips both, `prefix` included):
 * - `prefix`: starts with; `""` and `"/"` match every path;
 * - `path`: equals;
 * - `safe_regex`: RE2 full match (`case_sensitive` does not apply);
 * - `path_separated_prefix`: equals, or starts with it followed by `/`.
 * `case_sensitive: false` compares ASCII-case-insensitively for the three literal kinds.
 *
 * `runtime_fraction` is not evaluated here: the table draws one random value per request and
 * shares it between all routes, as Envoy shares the stream's random value (see `route-table.ts`).
 */
export class CompiledRouteMatch {
  readonly kind: PathKind;
  /** True when the path must be compared lower-cased. */
  readonly caseInsensitive: boolean;
  /** Configured path value (lower-cased when case-insensitive); unused for regex. */
  readonly value: string;
  /** Chars of `:path` that `prefix_rewrite` replaces; -1 = the whole path before `?` (regex). */
  readonly rewriteLength: number;
  /** `runtime_fraction` numerator and denominator; denominator 0 = no runtime fraction. */
  readonly runtimeNumerator: number;
  readonly runtimeDenominator: number;
  readonly #regex: RegExp | undefined;
  readonly #headers: readonly CompiledHeaderMatcher[];
  readonly #query: readonly CompiledQueryMatcher[];

  constructor(m: RouteMatch, ctx: CompileContext, path: string) {
    const cs = m.case_sensitive ?? DEFAULT_CASE_SENSITIVE;
    let regex: RegExp | undefined;
    if (m.prefix !== undefined) {
      this.kind = PathKind.Prefix;
      this.value = m.prefix;
    } else if (m.path !== undefined) {
      this.kind = PathKind.Path;
      this.value = m.path;
    } else if (m.path_separated_prefix !== undefined) {
      this.kind = PathKind.SeparatedPrefix;
      this.value = m.path_separated_prefix;
    } else if (m.safe_regex !== undefined) {
      this.kind = PathKind.Regex;
      this.value = m.safe_regex.regex;
      const source = m.safe_regex.regex;
      regex = ctx.regex(`${path}.safe_regex.regex`, () => compileRe2(source).full);
    } else {
      ctx.problem(path, 'expected one of prefix, path, safe_regex, path_separated_prefix');
      this.kind = PathKind.Prefix;
      this.value = '';
    }
    this.#regex = regex;
    this.rewriteLength = this.kind === PathKind.Regex ? -1 : this.value.length;
    // Without letters in the value, lower-casing the request path cannot change the outcome.
    this.caseInsensitive = !cs && this.kind !== PathKind.Regex && /[A-Za-z]/.test(this.value);
    if (this.caseInsensitive) this.value = asciiLower(this.value);
    this.#headers = (m.headers ?? []).map((h, i) => new CompiledHeaderMatcher(h, ctx, `${path}.headers[${i}]`));
    this.#query = (m.query_parameters ?? []).map(
      (q, i) => new CompiledQueryMatcher(q, ctx, `${path}.query_parameters[${i}]`),
    );
    const rf = m.runtime_fraction?.default_value;
    this.runtimeNumerator = rf?.numerator ?? 0;
    this.runtimeDenominator = rf === undefined ? 0 : DENOMINATORS[rf.denominator];
  }

  /**
   * `fullPath` is `:path`; `pathOnly` the part before `?`/`#`; `pathOnlyLower` its ASCII lower-case
   * form (only read when this match is case-insensitive).
   */
  matches(headers: HeaderMap, fullPath: string, pathOnly: string, pathOnlyLower: string): boolean {
    return (
      this.#matchesPath(pathOnly, pathOnlyLower) &&
      matchAllHeaders(this.#headers, headers) &&
      matchAllQuery(this.#query, fullPath)
    );
  }

  #matchesPath(pathOnly: string, pathOnlyLower: string): boolean {
    const p = this.caseInsensitive ? pathOnlyLower : pathOnly;
    const v = this.value;
    switch (this.kind) {
      case PathKind.Prefix:
        return p.startsWith(v);
      case PathKind.Path:
        return p === v;
      case PathKind.SeparatedPrefix:
        return p.startsWith(v) && (p.length === v.length || p.charCodeAt(v.length) === 47 /* / */);
      default:
        return this.#regex !== undefined && this.#regex.test(pathOnly);
    }
  }
}
