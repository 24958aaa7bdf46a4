/**
 * The HCM `http_filters` list and the registry of HTTP filter types Sluice can run.
 *
 * Contract for filter modules: register a filter type before configs are loaded, with
 * `registerHttpFilter(typeUrl, parser)` (preferred: a `message()` parser from `schema.ts`, which also
 * gives /config_dump snake_case names) or directly in `KNOWN_HTTP_FILTERS`. A validator reports
 * problems into `problems` (path-prefixed, with lines from `lineOf`), never throws, and may return
 * the normalized body that becomes `typed_config.value`. The router is registered here.
 *
 * Envoy semantics kept: filters are selected by `typed_config` `@type`, `name` is a label (and the
 * key of `typed_per_filter_config`); an unknown type with `is_optional: true` is skipped; only the
 * router may omit `typed_config`.
 */
import type { ConfigProblem } from '../errors.ts';
import type { HttpFilterConfig } from './types.ts';
import { bool, message, newCtx, report, str } from './schema.ts';
import type { Parser } from './schema.ts';
import { registerTypedSchema, TYPED_CONFIG, typeUrl } from './typed-config.ts';

export const ROUTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const ROUTER_FILTER_NAME = 'envoy.filters.http.router';

export interface HttpFilterValidationContext {
  /** Line of the filter's `typed_config`. */
  line?: number;
  /** Directory for relative file names in the filter's config. */
  baseDir: string;
}

export type HttpFilterValidator = (
  value: Record<string, unknown>,
  path: string,
  problems: ConfigProblem[],
  context: HttpFilterValidationContext,
) => Record<string, unknown> | void;

/** Type URL (`type.googleapis.com/...`) → validator. */
export const KNOWN_HTTP_FILTERS = new Map<string, HttpFilterValidator>();

export function registerHttpFilter(url: string, parser: Parser<Record<string, unknown>>): void {
  KNOWN_HTTP_FILTERS.set(typeUrl(url), (value, path, problems, c) =>
    parser.parse(value, c.line === undefined ? { path } : { path, line: c.line }, newCtx(problems, c.baseDir)),
  );
  registerTypedSchema(url, parser);
}

const ROUTER: Parser<Record<string, unknown>> = message({
  fields: { dynamic_stats: bool, suppress_envoy_headers: bool, start_child_span: bool },
  unsupported: [
    'upstream_log',
    'upstream_log_options',
    'strict_check_headers',
    'respect_expected_rq_timeout',
    'suppress_grpc_request_failure_code_stats',
    'upstream_http_filters',
    'reject_connect_request_early_data',
  ],
});
registerHttpFilter(ROUTER_TYPE_URL, ROUTER);

export function isRouterFilter(f: HttpFilterConfig): boolean {
  return f.typed_config === undefined ? f.name === ROUTER_FILTER_NAME : f.typed_config.type_url === ROUTER_TYPE_URL;
}

/** `null` = an optional filter of an unknown type, skipped as Envoy does. */
export const HTTP_FILTER: Parser<HttpFilterConfig | null> = message({
  fields: { name: str({ minLen: 1 }), typed_config: TYPED_CONFIG, disabled: bool, is_optional: bool },
  unsupported: ['config_discovery'],
  required: ['name'],
  build(f, m): HttpFilterConfig | null | undefined {
    if (f.name === undefined) return undefined;
    const { typed_config, ...base } = f;
    const filter = { ...base, name: f.name };
    if (!m.has('typed_config')) {
      if (f.name === ROUTER_FILTER_NAME) return filter;
      if (f.is_optional) return null;
      report(m.ctx, m.at, `http filter "${f.name}" has no typed_config; Sluice selects filters by their "@type" (only ${ROUTER_FILTER_NAME} may omit it)`);
      return undefined;
    }
    if (typed_config === undefined) return undefined;
    const validate = KNOWN_HTTP_FILTERS.get(typed_config.type_url);
    if (validate === undefined) {
      if (f.is_optional) return null;
      report(m.ctx, m.loc('typed_config'), `http filter type "${typed_config.type_url}" is not supported by Sluice`);
      return undefined;
    }
    const at = m.loc('typed_config');
    const context = at.line === undefined ? { baseDir: m.ctx.baseDir } : { baseDir: m.ctx.baseDir, line: at.line };
    const value = validate(typed_config.value, at.path, m.ctx.problems, context) ?? typed_config.value;
    return { ...filter, typed_config: { type_url: typed_config.type_url, value } };
  },
});
