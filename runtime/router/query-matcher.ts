import type { QueryParameterMatcher } from '../config/types.ts';
import type { CompileContext } from './compile-context.ts';
import { compileStringMatcher, type CompiledStringMatcher } from './string-matcher.ts';

/**
 * A compiled route `QueryParameterMatcher`, following Envoy's `QueryParamsMulti::parseQueryString`
 * and `QueryParameterMatcher::matches`:
 * - the query is everything after the first `?` of `:path`, split on `&`; a key without `=` has
 *   the value `""`; only the **first** value of a repeated key is matched;
 * - names and values are compared **raw**: no percent-decoding and no `+` → space (route matching
 *   uses the non-decoding parser), and a `#fragment` is not cut off;
 * - `present_match: true|false` matches presence|absence (Envoy's
 *   `enable_new_query_param_present_match_behavior`, on by default); a `string_match` needs the
 *   parameter to be present; no specifier is a presence check.
 */
export class CompiledQueryMatcher {
  readonly name: string;
  readonly #present: boolean | undefined;
  readonly #string: CompiledStringMatcher | undefined;

  constructor(m: QueryParameterMatcher, ctx: CompileContext, path: string) {
    this.name = m.name;
    this.#present = m.present_match;
    this.#string =
      m.present_match === undefined && m.string_match !== undefined
        ? compileStringMatcher(m.string_match, ctx, `${path}.string_match`)
        : undefined;
  }

  /** `path` is the full `:path`; `queryStart` the index just after its `?` (or -1 without one). */
  matches(path: string, queryStart: number): boolean {
    const value = queryStart < 0 ? undefined : firstQueryValue(path, queryStart, this.name);
    if (this.#present !== undefined) return (value !== undefined) === this.#present;
    if (value === undefined) return false;
    return this.#string === undefined ? true : this.#string.match(value);
  }
}

/** First value of `name` in `path[start..]` (`a=1&b&c=3`), or undefined when absent. */
export function firstQueryValue(path: string, start: number, name: string): string | undefined {
  const n = path.length;
  const len = name.length;
  while (start < n) {
    let end = path.indexOf('&', start);
    if (end < 0) end = n;
    if (path.startsWith(name, start)) {
      const after = start + len;
      if (after === end) return '';
      if (after < end && path.charCodeAt(after) === 61 /* = */) return path.slice(after + 1, end);
    }
    start = end + 1;
  }
  return undefined;
}

export function matchAllQuery(matchers: readonly CompiledQueryMatcher[], path: string): boolean {
  if (matchers.length === 0) return true;
  const q = path.indexOf('?');
  const start = q < 0 ? -1 : q + 1;
  for (let i = 0; i < matchers.length; i++) if (!matchers[i].matches(path, start)) return false;
  return true;
}
