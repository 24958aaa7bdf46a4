/**
 * Matchers shared by routes: StringMatcher, RegexMatcher (RE2, compiled here to reject bad patterns), HeaderMatcher
 * (deprecated `*_match` forms folded into `string_match`), QueryParameterMatcher, (Runtime)FractionalPercent.
 */
import type {
  FractionalPercent,
  HeaderMatcher,
  QueryParameterMatcher,
  RuntimeFractionalPercent,
  StringMatcher,
} from './types.ts';
import { compileRe2 } from '../re2.ts';
import { bool, enumOf, int, message, refine, str, struct, uint32 } from './schema.ts';
import type { Parser } from './schema.ts';

/** Compiled with the router's RE2 translator, so every pattern the loader accepts is one the router can run. */
const RE2_PATTERN: Parser<string> = refine(str(), (pattern) => {
  try {
    compileRe2(pattern);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
});

export const REGEX_MATCHER: Parser<{ regex: string }> = message({
  // `google_re2 {max_program_size}` is deprecated and has no effect on a JS engine.
  fields: { regex: RE2_PATTERN, google_re2: struct },
  required: ['regex'],
  build: (f) => (f.regex === undefined ? undefined : { regex: f.regex }),
});

const STRING_MATCHER_KINDS = ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'custom'];

export const STRING_MATCHER: Parser<StringMatcher> = message({
  fields: {
    exact: str(),
    prefix: str({ minLen: 1 }),
    suffix: str({ minLen: 1 }),
    contains: str({ minLen: 1 }),
    safe_regex: REGEX_MATCHER,
    ignore_case: bool,
  },
  unsupported: ['custom'],
  oneOf: [{ fields: STRING_MATCHER_KINDS, required: true }],
});

const INT64_RANGE = message({
  fields: { start: int(), end: int() },
  build: (f) => ({ start: f.start ?? 0, end: f.end ?? 0 }),
});

const DEPRECATED_HEADER_FORMS = ['exact_match', 'prefix_match', 'suffix_match', 'contains_match', 'safe_regex_match'] as const;

export const HEADER_MATCHER: Parser<HeaderMatcher> = message({
  fields: {
    name: str({ minLen: 1 }),
    string_match: STRING_MATCHER,
    present_match: bool,
    range_match: INT64_RANGE,
    invert_match: bool,
    treat_missing_header_as_empty: bool,
    exact_match: str(),
    prefix_match: str({ minLen: 1 }),
    suffix_match: str({ minLen: 1 }),
    contains_match: str({ minLen: 1 }),
    safe_regex_match: REGEX_MATCHER,
  },
  unsupported: ['regex_match'],
  required: ['name'],
  oneOf: [{ fields: ['string_match', 'present_match', 'range_match', ...DEPRECATED_HEADER_FORMS] }],
  build(f) {
    if (f.name === undefined) return undefined;
    const { exact_match, prefix_match, suffix_match, contains_match, safe_regex_match, ...rest } = f;
    const folded: StringMatcher | undefined =
      exact_match !== undefined ? { exact: exact_match }
      : prefix_match !== undefined ? { prefix: prefix_match }
      : suffix_match !== undefined ? { suffix: suffix_match }
      : contains_match !== undefined ? { contains: contains_match }
      : safe_regex_match !== undefined ? { safe_regex: safe_regex_match }
      : undefined;
    return folded === undefined ? { ...rest, name: f.name } : { ...rest, name: f.name, string_match: folded };
  },
});

export const QUERY_PARAMETER_MATCHER: Parser<QueryParameterMatcher> = message({
  fields: { name: str({ minLen: 1 }), string_match: STRING_MATCHER, present_match: bool },
  required: ['name'],
  oneOf: [{ fields: ['string_match', 'present_match'] }],
  build: (f) => (f.name === undefined ? undefined : { ...f, name: f.name }),
});

export const FRACTIONAL_PERCENT: Parser<FractionalPercent> = message({
  fields: { numerator: uint32(), denominator: enumOf(['HUNDRED', 'TEN_THOUSAND', 'MILLION'] as const) },
  build: (f) => ({ numerator: f.numerator ?? 0, denominator: f.denominator ?? 'HUNDRED' }),
});

export const RUNTIME_FRACTIONAL_PERCENT: Parser<RuntimeFractionalPercent> = message({
  fields: { default_value: FRACTIONAL_PERCENT, runtime_key: str() },
  required: ['default_value'],
  build: (f) => (f.default_value === undefined ? undefined : { ...f, default_value: f.default_value }),
});
