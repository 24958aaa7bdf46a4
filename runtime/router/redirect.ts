import { DEFAULT_REDIRECT_RESPONSE_CODE } from '../config/defaults.ts';
import type { RedirectAction, RedirectResponseCode } from '../config/types.ts';
import type { HeaderMap } from '../http/header-map.ts';
import type { CompileContext } from './compile-context.ts';
import { PathRewrite } from './path-rewrite.ts';
import { RegexSubstitution } from './regex-substitution.ts';

export const REDIRECT_STATUS = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
} as const satisfies Record<RedirectResponseCode, number>;
export type RedirectStatus = (typeof REDIRECT_STATUS)[RedirectResponseCode];

function isScheme(value: string | undefined, scheme: 'http' | 'https'): boolean {
  return value !== undefined && value.length === scheme.length && value.toLowerCase() === scheme;
}

/**
 * A compiled `RedirectAction`; `location()` builds the `Location` value like Envoy's
 * `Http::Utility::newUri`:
 * - scheme: `scheme_redirect`, else `https` for `https_redirect`, else the request's `:scheme`;
 * - port: `port_redirect` replaces the request's port; without it the request's port is kept,
 *   except that a default port (`:80` for http, `:443` for https, judged by `x-forwarded-proto`) is
 *   dropped when the scheme changes — `http://a:80/` → `https://a/`, but `http://a:8080/` →
 *   `https://a:8080/`. A configured `port_redirect` is always written, even 443 with https (Envoy);
 * - host: `host_redirect` (written as configured), else the request's `:authority` minus the port
 *   rule above;
 * - path: `path_redirect` (keeps the request's query unless it has its own query), or the
 *   request path after `prefix_rewrite`/`regex_rewrite`; a missing leading `/` is added;
 * - `strip_query` removes the query, except one written in `path_redirect`.
 * Empty strings and port 0 count as unset (proto3 defaults).
 */
export class Redirect {
  readonly status: RedirectStatus;
  readonly #scheme: string | undefined;
  readonly #host: string | undefined;
  /** `:<port>` or ''. */
  readonly #port: string;
  readonly #path: string | undefined;
  readonly #pathHasQuery: boolean;
  readonly #rewrite: PathRewrite | undefined;
  readonly #stripQuery: boolean;

  /** `matchedLength` is the route match's prefix length for `prefix_rewrite` (-1: whole path). */
  constructor(r: RedirectAction, matchedLength: number, ctx: CompileContext, path: string) {
    this.status = REDIRECT_STATUS[r.response_code ?? DEFAULT_REDIRECT_RESPONSE_CODE];
    this.#scheme = r.scheme_redirect ? r.scheme_redirect : r.https_redirect ? 'https' : undefined;
    this.#host = r.host_redirect ? r.host_redirect : undefined;
    this.#port = r.port_redirect ? `:${r.port_redirect}` : '';
    this.#path = r.path_redirect ? r.path_redirect : undefined;
    this.#pathHasQuery = this.#path !== undefined && this.#path.includes('?');
    this.#stripQuery = r.strip_query === true;
    let rewrite: PathRewrite | undefined;
    if (r.prefix_rewrite) rewrite = PathRewrite.prefix(r.prefix_rewrite, matchedLength);
    const rr = r.regex_rewrite;
    if (rr !== undefined) {
      const sub = ctx.regex(`${path}.regex_rewrite`, () => RegexSubstitution.compile(rr));
      if (sub !== undefined) rewrite = PathRewrite.regex(sub);
    }
    this.#rewrite = rewrite;
  }

  location(headers: HeaderMap): string {
    const scheme = this.#scheme ?? headers.get(':scheme') ?? headers.get('x-forwarded-proto') ?? 'http';
    const host = this.#host ?? this.#requestHost(headers, scheme);

    let path: string;
    if (this.#path !== undefined) {
      if (this.#pathHasQuery) {
        path = this.#path;
      } else {
        const current = headers.get(':path') ?? '';
        const q = current.indexOf('?');
        path = q < 0 ? this.#path : this.#path + current.slice(q);
      }
    } else {
      path = headers.get(':path') ?? '';
      if (this.#rewrite !== undefined) path = this.#rewrite.apply(path);
    }
    if (path.charCodeAt(0) !== 47 /* / */) path = `/${path}`;
    if (this.#stripQuery && !this.#pathHasQuery) {
      const q = path.indexOf('?');
      if (q >= 0) path = path.slice(0, q);
    }
    return `${scheme}://${host}${this.#port}${path}`;
  }

  /** Envoy's `processRequestHost`. */
  #requestHost(headers: HeaderMap, newScheme: string): string {
    const host = headers.get(':authority') ?? headers.get('host') ?? '';
    if (host === '') return host;
    let portStart: number;
    if (host.charCodeAt(0) === 91 /* [ */) {
      portStart = host.lastIndexOf(']:');
      if (portStart >= 0) portStart += 1;
    } else {
      portStart = host.lastIndexOf(':');
    }
    if (portStart < 0) return host;
    const port = host.slice(portStart);
    // Envoy judges the request's protocol by x-forwarded-proto (set by the connection manager);
    // fall back to :scheme when it is absent.
    const proto = headers.get('x-forwarded-proto') ?? headers.get(':scheme');
    let remove = this.#port !== '';
    if (newScheme !== proto) {
      remove ||= (isScheme(proto, 'https') && port === ':443') || (isScheme(proto, 'http') && port === ':80');
    }
    return remove ? host.slice(0, portStart) : host;
  }
}
