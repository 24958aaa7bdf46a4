/**
 * Route actions: `route` (RouteAction, WeightedClusters), `redirect`, `direct_response`.
 * Cluster names are recorded for the unknown-cluster check; direct-response bodies for the
 * `max_direct_response_body_size_bytes` check of the enclosing route table.
 */
import type {
  DirectResponseAction,
  RedirectAction,
  RegexMatchAndSubstitute,
  RouteAction,
  UpgradeConfig,
  WeightedClusterEntry,
} from './types.ts';
import { CLUSTER_REFS } from './cross-checks.ts';
import type { NamedFact } from './cross-checks.ts';
import { DATA_SOURCE } from './data-source.ts';
import { HEADER_MUTATION_FIELDS } from './headers.ts';
import { REGEX_MATCHER } from './matchers.ts';
import { bool, collected, duration, enumOf, list, mapOf, message, report, str, uint32 } from './schema.ts';
import type { At, Parser } from './schema.ts';
import { TYPED_CONFIG } from './typed-config.ts';

export const DIRECT_RESPONSE_BODIES = 'direct_response_bodies';
export interface BodyFact {
  bytes: number;
  at: At;
}

export const REGEX_MATCH_AND_SUBSTITUTE: Parser<RegexMatchAndSubstitute> = message({
  fields: { pattern: REGEX_MATCHER, substitution: str() },
  required: ['pattern'],
  build: (f) => (f.pattern === undefined ? undefined : { pattern: f.pattern, substitution: f.substitution ?? '' }),
});

/** Shared by the HCM (`filters` unsupported) and RouteAction (`connect_config` unsupported). */
export const UPGRADE_CONFIG: Parser<UpgradeConfig> = message({
  fields: { upgrade_type: str({ minLen: 1 }), enabled: bool },
  unsupported: ['filters', 'connect_config'],
  required: ['upgrade_type'],
  build: (f) => (f.upgrade_type === undefined ? undefined : { ...f, upgrade_type: f.upgrade_type.toLowerCase() }),
});

const CLUSTER_WEIGHT: Parser<WeightedClusterEntry> = message({
  fields: {
    name: str({ minLen: 1 }),
    cluster_header: str({ minLen: 1 }),
    weight: uint32(),
    host_rewrite_literal: str(),
    typed_per_filter_config: mapOf(TYPED_CONFIG),
    ...HEADER_MUTATION_FIELDS,
  },
  unsupported: ['metadata_match', 'runtime_key'],
  oneOf: [{ fields: ['name', 'cluster_header'], required: true }],
  build(f, m) {
    if (f.name !== undefined) collected<NamedFact>(m.ctx, CLUSTER_REFS).push({ name: f.name, at: m.loc('name') });
    return { ...f, weight: f.weight ?? 0 };
  },
});

const WEIGHTED_CLUSTERS = message({
  fields: { clusters: list(CLUSTER_WEIGHT, { min: 1 }), total_weight: uint32({ min: 1 }) },
  unsupported: ['runtime_key_prefix', 'header_name', 'random_value_specifier', 'use_hash_policy'],
  required: ['clusters'],
  build(f, m) {
    if (f.clusters === undefined) return undefined;
    const sum = f.clusters.reduce((s, c) => s + c.weight, 0);
    if (f.total_weight !== undefined && f.total_weight !== sum) {
      report(m.ctx, m.loc('total_weight'), `total_weight ${f.total_weight} does not equal the sum of the weights (${sum})`);
    } else if (sum === 0 && f.clusters.length > 0) {
      report(m.ctx, m.loc('clusters'), 'the sum of the weights must be greater than 0');
    }
    return { clusters: f.clusters };
  },
});

export const ROUTE_ACTION: Parser<RouteAction> = message({
  fields: {
    cluster: str({ minLen: 1 }),
    cluster_header: str({ minLen: 1 }),
    weighted_clusters: WEIGHTED_CLUSTERS,
    cluster_not_found_response_code: enumOf(['SERVICE_UNAVAILABLE', 'NOT_FOUND', 'INTERNAL_SERVER_ERROR'] as const),
    prefix_rewrite: str(),
    regex_rewrite: REGEX_MATCH_AND_SUBSTITUTE,
    host_rewrite_literal: str(),
    auto_host_rewrite: bool,
    timeout: duration(),
    idle_timeout: duration(),
    upgrade_configs: list(UPGRADE_CONFIG),
  },
  unsupported: [
    'cluster_specifier_plugin', 'inline_cluster_specifier_plugin', 'metadata_match', 'path_rewrite',
    'path_rewrite_policy', 'host_rewrite_header', 'host_rewrite_path_regex', 'append_x_forwarded_host',
    'flush_timeout', 'retry_policy', 'retry_policy_typed_config', 'request_mirror_policies', 'priority',
    'rate_limits', 'include_vh_rate_limits', 'hash_policy', 'cors', 'max_grpc_timeout', 'grpc_timeout_offset',
    'max_stream_duration', 'internal_redirect_policy', 'internal_redirect_action', 'max_internal_redirects',
    'hedge_policy', 'early_data_policy',
  ],
  oneOf: [
    {
      fields: ['cluster', 'cluster_header', 'weighted_clusters', 'cluster_specifier_plugin', 'inline_cluster_specifier_plugin'],
      required: true,
    },
    { fields: ['prefix_rewrite', 'regex_rewrite', 'path_rewrite', 'path_rewrite_policy'] },
    { fields: ['host_rewrite_literal', 'auto_host_rewrite', 'host_rewrite_header', 'host_rewrite_path_regex'] },
  ],
  build(f, m) {
    if (f.cluster !== undefined) collected<NamedFact>(m.ctx, CLUSTER_REFS).push({ name: f.cluster, at: m.loc('cluster') });
    return f;
  },
});

export const REDIRECT_ACTION: Parser<RedirectAction> = message({
  fields: {
    https_redirect: bool,
    scheme_redirect: str({ minLen: 1 }),
    host_redirect: str({ minLen: 1 }),
    port_redirect: uint32({ max: 65535 }),
    path_redirect: str(),
    prefix_rewrite: str(),
    regex_rewrite: REGEX_MATCH_AND_SUBSTITUTE,
    response_code: enumOf(['MOVED_PERMANENTLY', 'FOUND', 'SEE_OTHER', 'TEMPORARY_REDIRECT', 'PERMANENT_REDIRECT'] as const),
    strip_query: bool,
  },
  oneOf: [
    { fields: ['https_redirect', 'scheme_redirect'] },
    { fields: ['path_redirect', 'prefix_rewrite', 'regex_rewrite'] },
  ],
});

export const DIRECT_RESPONSE_ACTION: Parser<DirectResponseAction> = message({
  fields: { status: uint32({ min: 200, max: 599 }), body: DATA_SOURCE },
  unsupported: ['body_format'],
  required: ['status'],
  build(f, m) {
    if (f.body !== undefined) {
      collected<BodyFact>(m.ctx, DIRECT_RESPONSE_BODIES).push({ bytes: Buffer.byteLength(f.body), at: m.loc('body') });
    }
    return f.status === undefined ? undefined : { ...f, status: f.status };
  },
});
