import type { HeaderMatcher } from '../config/types.ts';
import type { HeaderMap } from '../http/header-map.ts';
import type { CompileContext } from './compile-context.ts';
import { compileStringMatcher, type CompiledStringMatcher } from './string-matcher.ts';

/**
 * A compiled route `HeaderMatcher`, following Envoy's `HeaderUtility::matchHeaders`:
 * - the value is every entry of the header joined with `,` (pseudo-headers work the same way);
 * - a missing header (without `treat_missing_header_as_empty`) matches only `present_match: false`,
 *   or `present_match: true` inverted — in particular an inverted value matcher does **not** match
 *   a missing header;
 * - with `treat_missing_header_as_empty` a missing header is matched as `""`;
 * - no specifier means `present_match: true`;
 * - `range_match` needs the whole value to parse as a base-10 int64 (`absl::SimpleAtoi`: optional
 *   surrounding ASCII whitespace and sign) within `[start, end)`.
 */
export class CompiledHeaderMatcher {
  readonly name: string;
  readonly #invert: boolean;
  readonly #missingAsEmpty: boolean;
  /** Set for presence matching. */
  readonly #present: boolean | undefined;
  readonly #string: CompiledStringMatcher | undefined;
  readonly #range: { start: number; end: number } | undefined;

  constructor(m: HeaderMatcher, ctx: CompileContext, path: string) {
    this.name = m.name.toLowerCase();
    this.#invert = m.invert_match === true;
    this.#missingAsEmpty = m.treat_missing_header_as_empty === true;
    this.#string = m.string_match === undefined ? undefined : compileStringMatcher(m.string_match, ctx, `${path}.string_match`);
    this.#range = m.range_match;
    this.#present = this.#string === undefined && this.#range === undefined ? (m.present_match ?? true) : undefined;
  }

  matches(headers: HeaderMap): boolean {
    let value = headers.getJoined(this.name);
    if (value === undefined) {
      if (!this.#missingAsEmpty) return this.#missingResult();
      value = '';
    }
    let match: boolean;
    if (this.#present !== undefined) match = this.#present;
    else if (this.#string !== undefined) match = this.#string.match(value);
    else match = inRange(value, this.#range as { start: number; end: number });
    return match !== this.#invert;
  }

  #missingResult(): boolean {
    // Envoy: missing → true only for (present_match: false) or (present_match: true, inverted).
    if (this.#present === undefined) return false;
    return this.#invert ? this.#present : !this.#present;
  }
}

const SIMPLE_ATOI = /^[\t\n\v\f\r ]*([+-]?)(\d+)[\t\n\v\f\r ]*$/;
const INT64_MAX = 9223372036854775807n;

function inRange(value: string, range: { start: number; end: number }): boolean {
  const m = SIMPLE_ATOI.exec(value);
  if (m === null) return false;
  const digits = m[2];
  if (digits.length <= 15) {
    const n = m[1] === '-' ? -Number(digits) : Number(digits);
    return n >= range.start && n < range.end;
  }
  // Beyond 2^53: compare exactly, and reject what does not fit an int64 (SimpleAtoi fails).
  const big = m[1] === '-' ? -BigInt(digits) : BigInt(digits);
  if (big > INT64_MAX || big < -INT64_MAX - 1n) return false;
  return big >= BigInt(Math.trunc(range.start)) && big < BigInt(Math.trunc(range.end));
}

/** True when every matcher matches (an empty list matches). */
export function matchAllHeaders(matchers: readonly CompiledHeaderMatcher[], headers: HeaderMap): boolean {
  for (let i = 0; i < matchers.length; i++) if (!matchers[i].matches(headers)) return false;
  return true;
}
