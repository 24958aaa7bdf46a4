/**
 * Inline `route_config`: RouteConfiguration → VirtualHost → Route (+ RouteMatch). Table-wide checks
 * run when the table is parsed: domain uniqueness and wildcard form, direct-response body sizes,
 * and withdrawing cluster references when `validate_clusters: false`.
 */
import type { Route, RouteConfiguration, RouteMatch, VirtualHost } from './types.ts';
import { CLUSTER_REFS } from './cross-checks.ts';
import { DEFAULT_MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES } from './defaults.ts';
import { HEADER_MUTATION_FIELDS } from './headers.ts';
import { HEADER_MATCHER, QUERY_PARAMETER_MATCHER, REGEX_MATCHER, RUNTIME_FRACTIONAL_PERCENT } from './matchers.ts';
import { DIRECT_RESPONSE_ACTION, DIRECT_RESPONSE_BODIES, REDIRECT_ACTION, ROUTE_ACTION } from './route-action.ts';
import type { BodyFact } from './route-action.ts';
import { bool, collected, list, mapOf, message, refine, report, scoped, str, struct, uint32 } from './schema.ts';
import type { At, Ctx, Parser } from './schema.ts';
import { TYPED_CONFIG } from './typed-config.ts';

const DOMAINS = 'vhost_domains';
interface DomainFact {
  domain: string;
  at: At;
}

const PATH_SEPARATED_PREFIX = refine(str({ minLen: 1 }), (v) =>
  /^[^?#]+[^?#/]$/.test(v) ? undefined : 'must not contain "?" or "#" and must not end with "/"',
);

const ROUTE_MATCH: Parser<RouteMatch> = message({
  fields: {
    prefix: str(),
    path: str(),
    safe_regex: REGEX_MATCHER,
    path_separated_prefix: PATH_SEPARATED_PREFIX,
    case_sensitive: bool,
    headers: list(HEADER_MATCHER),
    query_parameters: list(QUERY_PARAMETER_MATCHER),
    runtime_fraction: RUNTIME_FRACTIONAL_PERCENT,
  },
  unsupported: ['connect_matcher', 'path_match_policy', 'grpc', 'tls_context', 'dynamic_metadata', 'filter_state', 'cookies'],
  oneOf: [
    {
      fields: ['prefix', 'path', 'safe_regex', 'path_separated_prefix', 'connect_matcher', 'path_match_policy'],
      required: true,
    },
  ],
});

const ROUTE: Parser<Route> = message({
  fields: {
    name: str(),
    match: ROUTE_MATCH,
    route: ROUTE_ACTION,
    redirect: REDIRECT_ACTION,
    direct_response: DIRECT_RESPONSE_ACTION,
    metadata: struct,
    typed_per_filter_config: mapOf(TYPED_CONFIG),
    ...HEADER_MUTATION_FIELDS,
  },
  unsupported: [
    'filter_action', 'non_forwarding_action', 'decorator', 'tracing', 'per_request_buffer_limit_bytes',
    'request_body_buffer_limit', 'stat_prefix',
  ],
  required: ['match'],
  oneOf: [{ fields: ['route', 'redirect', 'direct_response', 'filter_action', 'non_forwarding_action'], required: true }],
  build: (f) => (f.match === undefined ? undefined : { ...f, match: f.match }),
});

/** `*`, or one `*` at the start or the end (`*.example.com`, `example.*`), never matching empty. */
const DOMAIN: Parser<string> = refine(str({ minLen: 1 }), (domain, at, ctx) => {
  const stars = domain.split('*').length - 1;
  const ok = stars === 0 || domain === '*' || (stars === 1 && (domain.startsWith('*') || domain.endsWith('*')));
  if (!ok) return `invalid domain "${domain}": a wildcard "*" is allowed only as the whole domain or at its start or end`;
  collected<DomainFact>(ctx, DOMAINS).push({ domain: domain.toLowerCase(), at });
  return undefined;
});

const VIRTUAL_HOST: Parser<VirtualHost> = message({
  fields: {
    name: str({ minLen: 1 }),
    domains: list(DOMAIN, { min: 1 }),
    routes: list(ROUTE),
    typed_per_filter_config: mapOf(TYPED_CONFIG),
    ...HEADER_MUTATION_FIELDS,
  },
  unsupported: [
    'matcher', 'require_tls', 'virtual_clusters', 'rate_limits', 'cors', 'include_request_attempt_count',
    'include_attempt_count_in_response', 'include_is_timeout_retry_header', 'retry_policy',
    'retry_policy_typed_config', 'hedge_policy', 'per_request_buffer_limit_bytes', 'request_body_buffer_limit',
    'request_mirror_policies', 'metadata',
  ],
  required: ['name', 'domains'],
  build(f) {
    if (f.name === undefined || f.domains === undefined) return undefined;
    return { ...f, name: f.name, domains: f.domains, routes: f.routes ?? [] };
  },
});

const ROUTE_CONFIGURATION_MESSAGE: Parser<RouteConfiguration> = message({
  fields: {
    name: str(),
    virtual_hosts: list(VIRTUAL_HOST),
    validate_clusters: bool,
    max_direct_response_body_size_bytes: uint32(),
    internal_only_headers: list(str({ minLen: 1 })),
    typed_per_filter_config: mapOf(TYPED_CONFIG),
    ...HEADER_MUTATION_FIELDS,
  },
  unsupported: [
    'vhds', 'most_specific_header_mutations_wins', 'request_mirror_policies', 'ignore_port_in_host_matching',
    'vhost_header', 'ignore_path_parameters_in_path_matching', 'metadata', 'cluster_specifier_plugins',
  ],
  build: (f) => ({ ...f, virtual_hosts: f.virtual_hosts ?? [] }),
});

export const ROUTE_CONFIGURATION: Parser<RouteConfiguration> = scoped(ROUTE_CONFIGURATION_MESSAGE, (table, scope, _at, ctx) => {
  checkDomains(scope.found<DomainFact>(DOMAINS), ctx);
  const limit = table?.max_direct_response_body_size_bytes ?? DEFAULT_MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES;
  for (const body of scope.found<BodyFact>(DIRECT_RESPONSE_BODIES)) {
    if (body.bytes > limit) {
      report(ctx, body.at, `body is ${body.bytes} bytes, more than max_direct_response_body_size_bytes (${limit})`);
    }
  }
  if (table?.validate_clusters === false) scope.discard(CLUSTER_REFS);
});

/** A domain may appear in one virtual host only (so `*` at most once per table). */
function checkDomains(domains: readonly DomainFact[], ctx: Ctx): void {
  const first = new Map<string, DomainFact>();
  for (const d of domains) {
    const seen = first.get(d.domain);
    if (seen === undefined) {
      first.set(d.domain, d);
      continue;
    }
    const what = d.domain === '*' ? 'only one virtual host may use the wildcard domain "*"' : `domain "${d.domain}" is used more than once`;
    report(ctx, d.at, `${what} (first at ${seen.at.path})`);
  }
}
