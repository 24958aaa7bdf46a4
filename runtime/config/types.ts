/**
 * The validated, normalized configuration Sluice runs on: the Envoy v3 bootstrap subset.
 *
 * Contract:
 * - Produced only by `runtime/config/load.ts` after validation; consumers never see raw YAML.
 * - Field names are Envoy's snake_case names (camelCase input is normalized to them).
 * - Every `Duration` field is a number of **milliseconds** (Envoy's `"0.25s"` → 250). `0` means
 *   "disabled" where Envoy says so; `undefined` means "unset" and the consumer applies Envoy's
 *   default (the defaults are named in `defaults.ts`, never re-typed by consumers).
 * - Enums are upper-case names (`ROUND_ROBIN`), whatever case the YAML used.
 * - Objects are frozen after load: a snapshot is immutable; a reload builds a new one.
 */

export type DurationMs = number;

export interface SocketAddress {
  address: string;
  port_value: number;
}

export interface NodeInfo {
  id?: string;
  cluster?: string;
  metadata?: Record<string, unknown>;
  locality?: { region?: string; zone?: string; sub_zone?: string };
  user_agent_name?: string;
}

export interface AdminConfig {
  /** Unset address = no admin server (Envoy). */
  address?: SocketAddress;
  access_log?: AccessLogConfig[];
}

/** `google.protobuf.Any`-shaped extension config after unwrapping TypedStruct. */
export interface TypedConfig {
  /** Full type URL, e.g. `type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`. */
  type_url: string;
  /** The message body without `@type`, snake_case keys. */
  value: Record<string, unknown>;
}

// ---------- matchers ----------

export interface StringMatcher {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  /** RE2 syntax; compiled as a full-string match. */
  safe_regex?: { regex: string };
  ignore_case?: boolean;
}

export interface HeaderMatcher {
  name: string;
  /** Deprecated direct forms are folded into string_match by the loader. */
  string_match?: StringMatcher;
  present_match?: boolean;
  range_match?: { start: number; end: number };
  invert_match?: boolean;
  treat_missing_header_as_empty?: boolean;
}

export interface QueryParameterMatcher {
  name: string;
  string_match?: StringMatcher;
  present_match?: boolean;
}

export interface FractionalPercent {
  numerator: number;
  denominator: 'HUNDRED' | 'TEN_THOUSAND' | 'MILLION';
}

export interface RuntimeFractionalPercent {
  default_value: FractionalPercent;
  runtime_key?: string;
}

export interface RegexMatchAndSubstitute {
  pattern: { regex: string };
  substitution: string;
}

// ---------- headers ----------

export type AppendAction =
  | 'APPEND_IF_EXISTS_OR_ADD'
  | 'ADD_IF_ABSENT'
  | 'OVERWRITE_IF_EXISTS_OR_ADD'
  | 'OVERWRITE_IF_EXISTS';

export interface HeaderValueOption {
  header: { key: string; value: string };
  /** The loader folds the deprecated `append` bool into this. */
  append_action: AppendAction;
  keep_empty_value?: boolean;
}

export interface HeaderMutations {
  request_headers_to_add?: HeaderValueOption[];
  request_headers_to_remove?: string[];
  response_headers_to_add?: HeaderValueOption[];
  response_headers_to_remove?: string[];
}

// ---------- routes ----------

export interface RouteMatch {
  /** Exactly one of prefix / path / safe_regex / path_separated_prefix is set. */
  prefix?: string;
  path?: string;
  safe_regex?: { regex: string };
  path_separated_prefix?: string;
  case_sensitive?: boolean; // default true
  headers?: HeaderMatcher[];
  query_parameters?: QueryParameterMatcher[];
  runtime_fraction?: RuntimeFractionalPercent;
}

export interface WeightedClusterEntry extends HeaderMutations {
  name?: string;
  cluster_header?: string;
  weight: number;
  host_rewrite_literal?: string;
  typed_per_filter_config?: Record<string, TypedConfig>;
}

export interface UpgradeConfig {
  upgrade_type: string; // lower-cased by the loader
  enabled?: boolean; // default true
}

export interface RouteAction {
  /** Exactly one of cluster / cluster_header / weighted_clusters. */
  cluster?: string;
  cluster_header?: string;
  weighted_clusters?: { clusters: WeightedClusterEntry[] };
  cluster_not_found_response_code?: 'SERVICE_UNAVAILABLE' | 'NOT_FOUND' | 'INTERNAL_SERVER_ERROR';
  prefix_rewrite?: string;
  regex_rewrite?: RegexMatchAndSubstitute;
  host_rewrite_literal?: string;
  auto_host_rewrite?: boolean;
  /** Route timeout in ms; undefined = 15 s; 0 = disabled. */
  timeout?: DurationMs;
  idle_timeout?: DurationMs;
  upgrade_configs?: UpgradeConfig[];
}

export type RedirectResponseCode =
  | 'MOVED_PERMANENTLY'
  | 'FOUND'
  | 'SEE_OTHER'
  | 'TEMPORARY_REDIRECT'
  | 'PERMANENT_REDIRECT';

export interface RedirectAction {
  https_redirect?: boolean;
  scheme_redirect?: string;
  host_redirect?: string;
  port_redirect?: number;
  path_redirect?: string;
  prefix_rewrite?: string;
  regex_rewrite?: RegexMatchAndSubstitute;
  response_code?: RedirectResponseCode; // default MOVED_PERMANENTLY
  strip_query?: boolean;
}

export interface DirectResponseAction {
  status: number;
  /** DataSource resolved at load time (filename read, inline_bytes decoded). */
  body?: string;
}

export interface Route extends HeaderMutations {
  name?: string;
  match: RouteMatch;
  /** Exactly one of route / redirect / direct_response. */
  route?: RouteAction;
  redirect?: RedirectAction;
  direct_response?: DirectResponseAction;
  metadata?: Record<string, unknown>;
  typed_per_filter_config?: Record<string, TypedConfig>;
}

export interface VirtualHost extends HeaderMutations {
  name: string;
  domains: string[];
  routes: Route[];
  typed_per_filter_config?: Record<string, TypedConfig>;
}

export interface RouteConfiguration extends HeaderMutations {
  name?: string;
  virtual_hosts: VirtualHost[];
  validate_clusters?: boolean;
  max_direct_response_body_size_bytes?: number;
  internal_only_headers?: string[];
  typed_per_filter_config?: Record<string, TypedConfig>;
}

// ---------- access log ----------

export interface AccessLogConfig {
  name: string;
  /** `file` writes to `path`; `stdout` / `stderr` write to the process streams. */
  sink: 'file' | 'stdout' | 'stderr';
  path?: string;
  /** Text format; undefined = Envoy's default format. Mutually exclusive with json_format. */
  text_format?: string;
  /** Envoy `json_format` (Struct): values are format strings, nested objects allowed. */
  json_format?: Record<string, unknown>;
  omit_empty_values?: boolean;
  /** SubstitutionFormatString `content_type` (Envoy default: text/plain or application/json). */
  content_type?: string;
}

// ---------- HTTP connection manager ----------

export interface HttpFilterConfig {
  name: string;
  /** Undefined for filters that accept an empty default config (the router). */
  typed_config?: TypedConfig;
  disabled?: boolean;
  is_optional?: boolean;
}

export interface HttpConnectionManager {
  stat_prefix: string;
  codec_type: 'AUTO' | 'HTTP1' | 'HTTP2';
  route_config: RouteConfiguration;
  http_filters: HttpFilterConfig[];
  access_log: AccessLogConfig[];
  generate_request_id?: boolean; // default true
  preserve_external_request_id?: boolean;
  always_set_request_id_in_response?: boolean;
  use_remote_address?: boolean; // default false
  xff_num_trusted_hops?: number; // default 0
  skip_xff_append?: boolean;
  server_name?: string; // default "envoy"
  server_header_transformation?: 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';
  stream_idle_timeout?: DurationMs; // default 5 min
  request_timeout?: DurationMs; // default disabled
  request_headers_timeout?: DurationMs; // default disabled
  drain_timeout?: DurationMs;
  max_request_headers_kb?: number; // default 60
  common_http_protocol_options?: {
    idle_timeout?: DurationMs; // default 1 h
    max_headers_count?: number; // default 100
    max_connection_duration?: DurationMs;
    max_requests_per_connection?: number;
    headers_with_underscores_action?: 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER';
  };
  upgrade_configs?: UpgradeConfig[];
  via?: string;
}

export interface NetworkFilter {
  name: string;
  /** Sluice implements exactly one network filter: the HTTP connection manager. */
  http_connection_manager: HttpConnectionManager;
}

export interface FilterChain {
  name?: string;
  filters: NetworkFilter[];
}

export interface Listener {
  name: string;
  address: SocketAddress;
  stat_prefix?: string;
  filter_chains: FilterChain[];
  per_connection_buffer_limit_bytes?: number;
  enable_reuse_port?: boolean;
}

// ---------- clusters ----------

export type ClusterDiscoveryType = 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS';
export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM';

export interface LbEndpoint {
  address: SocketAddress;
  hostname?: string;
  load_balancing_weight?: number; // default 1
}

export interface LocalityLbEndpoints {
  lb_endpoints: LbEndpoint[];
  load_balancing_weight?: number;
  priority?: number;
  locality?: { region?: string; zone?: string; sub_zone?: string };
}

export interface CircuitBreakerThresholds {
  priority: 'DEFAULT' | 'HIGH';
  max_connections?: number;
  max_pending_requests?: number;
  max_requests?: number;
  max_retries?: number;
}

export interface Cluster {
  name: string;
  type: ClusterDiscoveryType;
  connect_timeout?: DurationMs; // default 5 s
  lb_policy: LbPolicy;
  least_request_lb_config?: { choice_count?: number; active_request_bias?: number };
  load_assignment: { cluster_name: string; endpoints: LocalityLbEndpoints[] };
  dns_refresh_rate?: DurationMs; // default 5 s
  dns_lookup_family?: 'AUTO' | 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'ALL';
  /** Use the DNS record TTL as the refresh rate (default false). */
  respect_dns_ttl?: boolean;
  circuit_breakers?: { thresholds: CircuitBreakerThresholds[] };
  per_connection_buffer_limit_bytes?: number;
  /** Upstream connection idle timeout (from common_http_protocol_options or the typed HttpProtocolOptions). */
  idle_timeout?: DurationMs; // default 1 h
  max_requests_per_connection?: number;
  /** Accepted (HTTP/2 upstream) for configs that carry it; Sluice speaks HTTP/1.1 upstream today. */
  http2_protocol_options?: Record<string, unknown>;
  alt_stat_name?: string;
}

// ---------- bootstrap ----------

/**
 * A filesystem xDS subscription (`ConfigSource.path_config_source`, or the deprecated `path`).
 * Paths are absolute (relative ones resolve against the bootstrap file's directory).
 */
export interface PathConfigSource {
  path: string;
  /** A move into this directory reloads `path` (Kubernetes ConfigMap symlink swaps). */
  watched_directory?: string;
}

export interface DynamicResources {
  lds_config?: PathConfigSource;
  cds_config?: PathConfigSource;
}

export interface Bootstrap {
  node?: NodeInfo;
  admin?: AdminConfig;
  static_resources: { listeners: Listener[]; clusters: Cluster[] };
  dynamic_resources?: DynamicResources;
  stats_flush_interval?: DurationMs;
}

/** What one LDS or CDS file held when the snapshot was loaded. */
export interface DynamicResourceFile {
  /** Absolute path of the file. */
  path: string;
  watched_directory?: string;
  /** The DiscoveryResponse's `version_info`, else `hash`. */
  version_info: string;
  /** sha256 of the file text. */
  hash: string;
  /** The resources as written (snake_case, with `@type`), for /config_dump. */
  raw: Record<string, unknown>[];
}

/** What `loadConfig` returns: the typed config plus what /config_dump shows. */
export interface ConfigSnapshot {
  bootstrap: Bootstrap;
  /** The bootstrap input after camelCase → snake_case normalization, for /config_dump. */
  raw: Record<string, unknown>;
  /** Absolute path of the file it came from, when it came from a file. */
  source?: string;
  /**
   * sha256 of the bootstrap text; with LDS/CDS files, of the bootstrap text and every file's
   * hash. Changes whenever anything the snapshot was built from changes.
   */
  version: string;
  /** sha256 of the bootstrap text alone. */
  bootstrapHash: string;
  /** What the data plane serves: `static_resources` first, then the LDS / CDS file resources. */
  listeners: Listener[];
  clusters: Cluster[];
  /** The filesystem xDS files (absent when the bootstrap has no such subscription). */
  dynamic: { lds?: DynamicResourceFile; cds?: DynamicResourceFile };
}
