/**
 * `envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`.
 * Inline `route_config` only; the router must be the last HTTP filter.
 */
import type { HttpConnectionManager, HttpFilterConfig } from './types.ts';
import { ACCESS_LOG } from './access-log.ts';
import { HTTP_FILTER, isRouterFilter, ROUTER_FILTER_NAME } from './http-filters.ts';
import { ROUTE_CONFIGURATION } from './route.ts';
import { UPGRADE_CONFIG } from './route-action.ts';
import { bool, duration, enumOf, fieldAt, list, message, report, str, uint32 } from './schema.ts';
import type { MessageCtx, Parser } from './schema.ts';
import { registerTypedSchema } from './typed-config.ts';

export const HCM_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const HCM_FILTER_NAME = 'envoy.filters.network.http_connection_manager';

const HTTP_PROTOCOL_OPTIONS = message({
  fields: {
    idle_timeout: duration(),
    max_headers_count: uint32({ min: 1 }),
    max_connection_duration: duration(),
    max_requests_per_connection: uint32(),
    headers_with_underscores_action: enumOf(['ALLOW', 'REJECT_REQUEST', 'DROP_HEADER'] as const),
  },
  unsupported: ['max_stream_duration', 'max_response_headers_kb'],
});

export const HTTP_CONNECTION_MANAGER: Parser<HttpConnectionManager> = message({
  fields: {
    stat_prefix: str({ minLen: 1 }),
    // HTTP2 is accepted so Envoy configs load; the listener does not serve h2 yet.
    codec_type: enumOf(['AUTO', 'HTTP1', 'HTTP2'] as const, ['HTTP3']),
    route_config: ROUTE_CONFIGURATION,
    http_filters: list(HTTP_FILTER),
    access_log: list(ACCESS_LOG),
    generate_request_id: bool,
    preserve_external_request_id: bool,
    always_set_request_id_in_response: bool,
    use_remote_address: bool,
    xff_num_trusted_hops: uint32(),
    skip_xff_append: bool,
    server_name: str(),
    server_header_transformation: enumOf(['OVERWRITE', 'APPEND_IF_ABSENT', 'PASS_THROUGH'] as const),
    stream_idle_timeout: duration(),
    request_timeout: duration(),
    request_headers_timeout: duration(),
    drain_timeout: duration(),
    max_request_headers_kb: uint32({ min: 1, max: 8192 }),
    common_http_protocol_options: HTTP_PROTOCOL_OPTIONS,
    upgrade_configs: list(UPGRADE_CONFIG),
    via: str(),
  },
  unsupported: [
    'rds', 'scoped_routes', 'access_log_options', 'access_log_flush_interval', 'flush_access_log_on_new_request',
    'request_id_extension', 'internal_address_config', 'scheme_header_transformation', 'add_user_agent',
    'stream_flush_timeout', 'delayed_close_timeout', 'http_protocol_options', 'http2_protocol_options',
    'http3_protocol_options', 'normalize_path', 'merge_slashes', 'path_with_escaped_slashes_action',
    'path_normalization_options', 'strip_matching_host_port', 'strip_any_host_port', 'strip_trailing_host_dot',
    'stream_error_on_invalid_http_message', 'proxy_100_continue', 'local_reply_config',
    'forward_client_cert_details', 'set_current_client_cert_details', 'tracing', 'proxy_status_config',
    'append_x_forwarded_port', 'append_local_overload', 'early_header_mutation_extensions',
    'original_ip_detection_extensions', 'typed_header_validation_config', 'forward_proto_config',
    'represent_ipv4_remote_address_as_ipv4_mapped_ipv6', 'max_request_headers_count', 'user_agent',
  ],
  required: ['stat_prefix'],
  oneOf: [{ fields: ['route_config', 'rds', 'scoped_routes'], required: true }],
  build(f, m) {
    const http_filters = checkRouterLast(f.http_filters ?? [], m);
    if (f.stat_prefix === undefined || f.route_config === undefined) return undefined;
    return {
      ...f,
      stat_prefix: f.stat_prefix,
      codec_type: f.codec_type ?? 'AUTO',
      route_config: f.route_config,
      http_filters,
      access_log: f.access_log ?? [],
    };
  },
});
registerTypedSchema(HCM_TYPE_URL, HTTP_CONNECTION_MANAGER);

/**
 * Reports a missing or misplaced router; returns the list without skipped optional filters.
 * Indices are those of the parsed list (an invalid entry, already reported, is not in it).
 */
function checkRouterLast(filters: readonly (HttpFilterConfig | null)[], m: MessageCtx): HttpFilterConfig[] {
  const kept = filters.filter((f): f is HttpFilterConfig => f !== null);
  const last = kept[kept.length - 1];
  filters.forEach((f, i) => {
    if (f !== null && f !== last && isRouterFilter(f)) {
      report(m.ctx, m.loc('http_filters', i), 'the router filter must be the last http filter');
    }
  });
  if (last !== undefined && isRouterFilter(last)) return kept;
  const at = m.has('http_filters') ? m.loc('http_filters') : fieldAt(m.at, 'http_filters');
  const entryFailed = m.ctx.problems.some((p) => p.path.startsWith(`${at.path}[`));
  if (!entryFailed) report(m.ctx, at, `the last http filter must be the router (${ROUTER_FILTER_NAME})`);
  return kept;
}
