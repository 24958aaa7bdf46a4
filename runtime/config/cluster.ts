/**
 * `config.cluster.v3.Cluster`: STATIC / STRICT_DNS / LOGICAL_DNS with an inline `load_assignment`.
 * Upstream protocol options come from the typed `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`
 * or from the deprecated cluster-level fields (not both, as in Envoy).
 */
import { isIP } from 'node:net';
import type { Cluster, LbEndpoint, LocalityLbEndpoints } from './types.ts';
import { ADDRESS, SOCKET_ADDRESSES } from './address.ts';
import type { SocketAddressFact } from './address.ts';
import { CLUSTER_DECLS } from './cross-checks.ts';
import type { NamedFact } from './cross-checks.ts';
import {
  bool, collected, double, duration, enumOf, keyAt, list, mapOf, message, report, scoped, str, struct, uint32,
} from './schema.ts';
import type { MessageCtx, Parser } from './schema.ts';
import { registerTypedSchema, TYPED_CONFIG } from './typed-config.ts';
import { lineOf } from './yaml-source.ts';

export const UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const UPSTREAM_HTTP_PROTOCOL_OPTIONS_TYPE_URL = `type.googleapis.com/${UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY}`;

const LOCALITY = message({ fields: { region: str(), zone: str(), sub_zone: str() } });

const ENDPOINT = message({
  fields: { address: ADDRESS, hostname: str() },
  unsupported: ['health_check_config', 'additional_addresses'],
  required: ['address'],
});

const LB_ENDPOINT: Parser<LbEndpoint> = message({
  fields: { endpoint: ENDPOINT, load_balancing_weight: uint32({ min: 1 }) },
  unsupported: ['endpoint_name', 'health_status', 'metadata'],
  required: ['endpoint'],
  build(f) {
    if (f.endpoint?.address === undefined) return undefined;
    const out: LbEndpoint = { ...f.endpoint, address: f.endpoint.address };
    if (f.load_balancing_weight !== undefined) out.load_balancing_weight = f.load_balancing_weight;
    return out;
  },
});

const LOCALITY_LB_ENDPOINTS: Parser<LocalityLbEndpoints> = message({
  fields: {
    locality: LOCALITY,
    lb_endpoints: list(LB_ENDPOINT),
    load_balancing_weight: uint32({ min: 1 }),
    priority: uint32({ max: 128 }),
  },
  unsupported: ['proximity', 'metadata', 'leds_cluster_locality_config'],
  build: (f) => ({ ...f, lb_endpoints: f.lb_endpoints ?? [] }),
});

const LOAD_ASSIGNMENT = message({
  fields: { cluster_name: str({ minLen: 1 }), endpoints: list(LOCALITY_LB_ENDPOINTS) },
  unsupported: ['named_endpoints', 'policy'],
  required: ['cluster_name'],
  build: (f) => (f.cluster_name === undefined ? undefined : { cluster_name: f.cluster_name, endpoints: f.endpoints ?? [] }),
});

const THRESHOLDS = message({
  fields: {
    priority: enumOf(['DEFAULT', 'HIGH'] as const),
    max_connections: uint32(),
    max_pending_requests: uint32(),
    max_requests: uint32(),
    max_retries: uint32(),
  },
  unsupported: ['retry_budget', 'track_remaining', 'max_connection_pools'],
  build: (f) => ({ ...f, priority: f.priority ?? 'DEFAULT' }),
});

const CIRCUIT_BREAKERS = message({
  fields: { thresholds: list(THRESHOLDS) },
  unsupported: ['per_host_thresholds'],
  build: (f) => ({ thresholds: f.thresholds ?? [] }),
});

const RUNTIME_DOUBLE = message({
  fields: { default_value: double, runtime_key: str() },
  required: ['default_value'],
  build: (f) => f.default_value,
});

const LEAST_REQUEST_LB_CONFIG = message({
  fields: { choice_count: uint32({ min: 2 }), active_request_bias: RUNTIME_DOUBLE },
  unsupported: ['slow_start_config', 'selection_method'],
});

/** `core.v3.HttpProtocolOptions` as used upstream. */
const UPSTREAM_COMMON_OPTIONS = message({
  fields: { idle_timeout: duration(), max_requests_per_connection: uint32() },
  unsupported: [
    'max_connection_duration', 'max_headers_count', 'max_stream_duration', 'headers_with_underscores_action',
    'max_response_headers_kb',
  ],
});

const EXPLICIT_HTTP_CONFIG = message({
  fields: { http_protocol_options: struct, http2_protocol_options: struct },
  unsupported: ['http3_protocol_options'],
  oneOf: [{ fields: ['http_protocol_options', 'http2_protocol_options', 'http3_protocol_options'], required: true }],
});

interface UpstreamOptions {
  idle_timeout?: number;
  max_requests_per_connection?: number;
  http2_protocol_options?: Record<string, unknown>;
}

const UPSTREAM_HTTP_PROTOCOL_OPTIONS: Parser<UpstreamOptions> = message({
  fields: { common_http_protocol_options: UPSTREAM_COMMON_OPTIONS, explicit_http_config: EXPLICIT_HTTP_CONFIG },
  unsupported: [
    'upstream_http_protocol_options', 'use_downstream_protocol_config', 'auto_config', 'http_filters',
    'header_validation_config', 'outlier_detection',
  ],
  build: (f) => ({ ...f.common_http_protocol_options, http2_protocol_options: f.explicit_http_config?.http2_protocol_options }),
});
registerTypedSchema(UPSTREAM_HTTP_PROTOCOL_OPTIONS_TYPE_URL, UPSTREAM_HTTP_PROTOCOL_OPTIONS);

/** `typed_extension_protocol_options`: only the upstream HTTP options key is understood. */
const TYPED_EXTENSION_PROTOCOL_OPTIONS: Parser<UpstreamOptions> = {
  parse(node, at, ctx) {
    const entries = mapOf(TYPED_CONFIG).parse(node, at, ctx);
    if (entries === undefined) return undefined;
    let options: UpstreamOptions | undefined;
    for (const [key, config] of Object.entries(entries)) {
      const keyLoc = keyAt(at, key, lineOf(node, key));
      if (key !== UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY) {
        report(ctx, keyLoc, `protocol options "${key}" are not supported by Sluice; supported: ${UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY}`);
      } else if (config.type_url !== UPSTREAM_HTTP_PROTOCOL_OPTIONS_TYPE_URL) {
        report(ctx, keyLoc, `expected "@type" ${UPSTREAM_HTTP_PROTOCOL_OPTIONS_TYPE_URL}, got ${config.type_url}`);
      } else {
        options = UPSTREAM_HTTP_PROTOCOL_OPTIONS.parse(config.value, keyLoc, ctx);
      }
    }
    return options;
  },
  raw: (node) => mapOf(TYPED_CONFIG).raw?.(node),
};

const LEGACY_PROTOCOL_FIELDS = [
  'common_http_protocol_options', 'http_protocol_options', 'http2_protocol_options', 'max_requests_per_connection',
] as const;

const CLUSTER_MESSAGE: Parser<Cluster> = message({
  fields: {
    name: str({ minLen: 1 }),
    alt_stat_name: str(),
    type: enumOf(['STATIC', 'STRICT_DNS', 'LOGICAL_DNS'] as const, ['EDS', 'ORIGINAL_DST']),
    connect_timeout: duration({ positive: true }),
    lb_policy: enumOf(['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'] as const, [
      'RING_HASH', 'MAGLEV', 'CLUSTER_PROVIDED', 'LOAD_BALANCING_POLICY_CONFIG',
    ]),
    least_request_lb_config: LEAST_REQUEST_LB_CONFIG,
    load_assignment: LOAD_ASSIGNMENT,
    dns_refresh_rate: duration({ min: 1 }),
    dns_lookup_family: enumOf(['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL'] as const),
    respect_dns_ttl: bool,
    circuit_breakers: CIRCUIT_BREAKERS,
    per_connection_buffer_limit_bytes: uint32(),
    typed_extension_protocol_options: TYPED_EXTENSION_PROTOCOL_OPTIONS,
    common_http_protocol_options: UPSTREAM_COMMON_OPTIONS,
    // Deprecated Http1ProtocolOptions: accepted; Sluice's HTTP/1.1 client has no knobs for it yet.
    http_protocol_options: struct,
    http2_protocol_options: struct,
    max_requests_per_connection: uint32(),
  },
  unsupported: [
    'health_checks', 'outlier_detection', 'transport_socket', 'transport_socket_matches', 'eds_cluster_config',
    'lb_subset_config', 'ring_hash_lb_config', 'maglev_lb_config', 'original_dst_lb_config', 'round_robin_lb_config',
    'common_lb_config', 'cluster_type', 'load_balancing_policy', 'upstream_bind_config', 'upstream_connection_options',
    'close_connections_on_host_health_failure', 'ignore_health_on_host_removal', 'filters', 'track_cluster_stats',
    'track_timeout_budgets', 'preconnect_policy', 'metadata', 'dns_failure_refresh_rate', 'dns_resolvers',
    'use_tcp_for_dns_lookups', 'dns_resolution_config', 'typed_dns_resolver_config', 'dns_jitter',
    'wait_for_warm_on_init', 'cleanup_interval', 'lrs_server', 'upstream_http_protocol_options', 'protocol_selection',
    'connection_pool_per_downstream_connection', 'lrs_report_endpoint_metrics', 'upstream_config',
  ],
  required: ['name', 'load_assignment'],
  build(f, m) {
    // Declared even when the rest is invalid, so routes to it do not add "unknown cluster" noise.
    if (f.name !== undefined) collected<NamedFact>(m.ctx, CLUSTER_DECLS).push({ name: f.name, at: m.loc('name') });
    if (f.name === undefined || f.load_assignment === undefined) return undefined;
    const { typed_extension_protocol_options: typed, common_http_protocol_options: common, http_protocol_options: _, ...rest } = f;
    const protocol = protocolOptions(f, m);
    return {
      ...rest,
      name: f.name,
      type: f.type ?? 'STATIC',
      lb_policy: f.lb_policy ?? 'ROUND_ROBIN',
      load_assignment: f.load_assignment,
      ...protocol,
    };
  },
});

function protocolOptions(
  f: { typed_extension_protocol_options?: UpstreamOptions; common_http_protocol_options?: UpstreamOptions } & UpstreamOptions,
  m: MessageCtx,
): UpstreamOptions {
  const out: UpstreamOptions = {};
  if (m.has('typed_extension_protocol_options')) {
    for (const legacy of LEGACY_PROTOCOL_FIELDS.filter((name) => m.has(name))) {
      report(m.ctx, m.loc(legacy), `"${legacy}" cannot be combined with typed_extension_protocol_options ${UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY}`);
    }
  }
  const from = f.typed_extension_protocol_options ?? {
    ...f.common_http_protocol_options,
    max_requests_per_connection: f.common_http_protocol_options?.max_requests_per_connection ?? f.max_requests_per_connection,
    http2_protocol_options: f.http2_protocol_options,
  };
  for (const key of ['idle_timeout', 'max_requests_per_connection', 'http2_protocol_options'] as const) {
    if (from[key] !== undefined) Object.assign(out, { [key]: from[key] });
  }
  return out;
}

/** STATIC endpoints must be IP literals; LOGICAL_DNS takes exactly one endpoint; ports are 1..65535. */
export const CLUSTER: Parser<Cluster> = scoped(CLUSTER_MESSAGE, (cluster, scope, at, ctx) => {
  if (cluster === undefined) return;
  const endpoints = scope.found<SocketAddressFact>(SOCKET_ADDRESSES);
  for (const e of endpoints) {
    if (cluster.type === 'STATIC' && isIP(e.value.address) === 0) {
      report(ctx, e.addressAt, `STATIC cluster endpoints must be IP addresses, got "${e.value.address}" (use type STRICT_DNS or LOGICAL_DNS for host names)`);
    }
    if (e.value.port_value === 0) report(ctx, e.portAt, 'an endpoint port_value must be between 1 and 65535');
  }
  if (cluster.type === 'LOGICAL_DNS' && endpoints.length !== 1) {
    report(ctx, { path: `${at.path}.load_assignment`, line: at.line }, `a LOGICAL_DNS cluster takes exactly one endpoint, got ${endpoints.length}`);
  }
});
