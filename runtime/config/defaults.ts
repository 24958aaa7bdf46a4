/**
 * Envoy's defaults for fields the loader leaves `undefined`. Consumers import these instead of
 * re-typing numbers; durations are milliseconds like everywhere in `ConfigSnapshot`.
 */

// ---- HTTP connection manager ----
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;
/** HCM and upstream `common_http_protocol_options.idle_timeout`. */
export const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;
export const DEFAULT_DELAYED_CLOSE_TIMEOUT_MS = 1_000;
export const DEFAULT_MAX_REQUEST_HEADERS_KB = 60;
export const MAX_REQUEST_HEADERS_KB_LIMIT = 8192;
export const DEFAULT_MAX_HEADERS_COUNT = 100;
export const DEFAULT_SERVER_NAME = 'envoy';
export const DEFAULT_CODEC_TYPE = 'AUTO';
export const DEFAULT_GENERATE_REQUEST_ID = true;
export const DEFAULT_USE_REMOTE_ADDRESS = false;
export const DEFAULT_XFF_NUM_TRUSTED_HOPS = 0;
export const DEFAULT_SERVER_HEADER_TRANSFORMATION = 'OVERWRITE';
export const DEFAULT_HEADERS_WITH_UNDERSCORES_ACTION = 'ALLOW';

// ---- routes ----
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES = 4096;
export const DEFAULT_CLUSTER_NOT_FOUND_RESPONSE_CODE = 'SERVICE_UNAVAILABLE';
export const DEFAULT_REDIRECT_RESPONSE_CODE = 'MOVED_PERMANENTLY';
export const DEFAULT_CASE_SENSITIVE = true;
/** For inline `route_config` (RDS would default to false). */
export const DEFAULT_VALIDATE_CLUSTERS = true;
export const DEFAULT_UPGRADE_ENABLED = true;

// ---- listeners ----
export const DEFAULT_PER_CONNECTION_BUFFER_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_ENABLE_REUSE_PORT = true;

// ---- clusters ----
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_CLUSTER_TYPE = 'STATIC';
export const DEFAULT_LB_POLICY = 'ROUND_ROBIN';
export const DEFAULT_DNS_REFRESH_RATE_MS = 5_000;
export const DEFAULT_DNS_LOOKUP_FAMILY = 'AUTO';
export const DEFAULT_LB_ENDPOINT_WEIGHT = 1;
export const DEFAULT_LEAST_REQUEST_CHOICE_COUNT = 2;
export const DEFAULT_ACTIVE_REQUEST_BIAS = 1.0;
export const DEFAULT_CIRCUIT_BREAKERS = Object.freeze({
  max_connections: 1024,
  max_pending_requests: 1024,
  max_requests: 1024,
  max_retries: 3,
});

// ---- bootstrap ----
export const DEFAULT_STATS_FLUSH_INTERVAL_MS = 5_000;

// ---- access log ----
/** Envoy's default access-log format (note the trailing newline). */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" ' +
  '"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';
