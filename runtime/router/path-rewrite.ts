import { pathEnd } from './ascii.ts';
import type { RegexSubstitution } from './regex-substitution.ts';

/**
 * A compiled `prefix_rewrite` or `regex_rewrite` (route action or redirect), as Envoy's
 * `currentUrlPathAfterRewriteWithMatchedPath` applies it to `:path`:
 * - `prefix_rewrite` replaces the first `matchedLength` characters — the configured `prefix`,
 *   `path` or `path_separated_prefix` — and keeps the rest, query included. For a `safe_regex`
 *   route the "matched prefix" is the whole path before `?`. No slash is added or removed: prefix
 *   `/api` rewritten to `/` turns `/api/x` into `//x` (use `/api/` → `/` plus `/api` → `/`).
 * - `regex_rewrite` substitutes every match in the path before `?`/`#` and keeps the query.
 */
export class PathRewrite {
  readonly #prefix: string | undefined;
  readonly #matchedLength: number;
  readonly #regex: RegexSubstitution | undefined;

  private constructor(prefix: string | undefined, matchedLength: number, regex: RegexSubstitution | undefined) {
    this.#prefix = prefix;
    this.#matchedLength = matchedLength;
    this.#regex = regex;
  }

  /** `matchedLength` -1 means "the whole path before the query". */
  static prefix(rewrite: string, matchedLength: number): PathRewrite {
    return new PathRewrite(rewrite, matchedLength, undefined);
  }

  static regex(sub: RegexSubstitution): PathRewrite {
    return new PathRewrite(undefined, -1, sub);
  }

  apply(path: string): string {
    if (this.#regex !== undefined) {
      const end = pathEnd(path);
      return this.#regex.replaceAll(end === path.length ? path : path.slice(0, end)) + path.slice(end);
    }
    const cut = this.#matchedLength < 0 ? pathEnd(path) : this.#matchedLength;
    return (this.#prefix as string) + path.slice(cut);
  }
}
