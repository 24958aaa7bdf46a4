import type { HttpConnectionManager } from '../config/types.ts';
import type { RouteTable } from '../router/route-table.ts';
import type { ClusterManager } from '../upstream/cluster.ts';
import type { Counter, Gauge, Histogram, Stats } from '../stats/types.ts';
import type { HttpFilterFactory } from './filter.ts';
import type { AccessLogger } from '../accesslog/logger.ts';
import type { Logger } from '../log.ts';
import * as defaults from '../config/defaults.ts';
import { IdleSweeper } from './idle-sweeper.ts';

/** `http.<stat_prefix>.*` (and the per-listener copies Envoy keeps). */
export interface HcmStats {
  downstream_cx_total: Counter;
  downstream_cx_active: Gauge;
  downstream_cx_http1_total: Counter;
  downstream_cx_http1_active: Gauge;
  downstream_cx_destroy: Counter;
  downstream_cx_protocol_error: Counter;
  downstream_cx_drain_close: Counter;
  downstream_cx_idle_timeout: Counter;
  downstream_cx_max_duration_reached: Counter;
  downstream_cx_upgrades_total: Counter;
  downstream_cx_upgrades_active: Gauge;
  downstream_rq_total: Counter;
  downstream_rq_http1_total: Counter;
  downstream_rq_active: Gauge;
  downstream_rq_completed: Counter;
  downstream_rq_xx: Counter[];
  downstream_rq_time: Histogram;
  downstream_rq_rx_reset: Counter;
  downstream_rq_tx_reset: Counter;
  downstream_rq_too_large: Counter;
  downstream_rq_timeout: Counter;
  downstream_rq_idle_timeout: Counter;
  downstream_rq_ws_on_non_ws_route: Counter;
  no_route: Counter;
  no_cluster: Counter;
  rq_total: Counter;
  rq_redirect: Counter;
  rq_direct_response: Counter;
  rs_too_large: Counter;
  dropped_headers_with_underscores: Counter;
  requests_rejected_with_underscores_in_headers: Counter;
  /** `listener.<addr>.http.<prefix>.downstream_rq_<N>xx`. */
  listener_rq_xx: Counter[];
}

/** `listener.<addr>.http.<prefix>.downstream_rq_<N>xx`, named once the listener's bound address is known. */
export function listenerHttpStats(stats: Stats, listenerStatName: string, prefix: string): Counter[] {
  const lxx: Counter[] = [];
  for (let i = 1; i <= 5; i++) lxx[i] = stats.counter(`listener.${listenerStatName}.http.${prefix}.downstream_rq_${i}xx`);
  return lxx;
}

export function hcmStats(stats: Stats, prefix: string): HcmStats {
  const p = `http.${prefix}.`;
  const c = (n: string) => stats.counter(p + n);
  const g = (n: string) => stats.gauge(p + n);
  const xx: Counter[] = [];
  for (let i = 1; i <= 5; i++) xx[i] = c(`downstream_rq_${i}xx`);
  return {
    downstream_cx_total: c('downstream_cx_total'),
    downstream_cx_active: g('downstream_cx_active'),
    downstream_cx_http1_total: c('downstream_cx_http1_total'),
    downstream_cx_http1_active: g('downstream_cx_http1_active'),
    downstream_cx_destroy: c('downstream_cx_destroy'),
    downstream_cx_protocol_error: c('downstream_cx_protocol_error'),
    downstream_cx_drain_close: c('downstream_cx_drain_close'),
    downstream_cx_idle_timeout: c('downstream_cx_idle_timeout'),
    downstream_cx_max_duration_reached: c('downstream_cx_max_duration_reached'),
    downstream_cx_upgrades_total: c('downstream_cx_upgrades_total'),
    downstream_cx_upgrades_active: g('downstream_cx_upgrades_active'),
    downstream_rq_total: c('downstream_rq_total'),
    downstream_rq_http1_total: c('downstream_rq_http1_total'),
    downstream_rq_active: g('downstream_rq_active'),
    downstream_rq_completed: c('downstream_rq_completed'),
    downstream_rq_xx: xx,
    downstream_rq_time: stats.histogram(p + 'downstream_rq_time'),
    downstream_rq_rx_reset: c('downstream_rq_rx_reset'),
    downstream_rq_tx_reset: c('downstream_rq_tx_reset'),
    downstream_rq_too_large: c('downstream_rq_too_large'),
    downstream_rq_timeout: c('downstream_rq_timeout'),
    downstream_rq_idle_timeout: c('downstream_rq_idle_timeout'),
    downstream_rq_ws_on_non_ws_route: c('downstream_rq_ws_on_non_ws_route'),
    no_route: c('no_route'),
    no_cluster: c('no_cluster'),
    rq_total: c('rq_total'),
    rq_redirect: c('rq_redirect'),
    rq_direct_response: c('rq_direct_response'),
    rs_too_large: c('rs_too_large'),
    // Envoy roots its HTTP/1 codec stats at `http1.`.
    dropped_headers_with_underscores: stats.counter('http1.dropped_headers_with_underscores'),
    requests_rejected_with_underscores_in_headers: stats.counter('http1.requests_rejected_with_underscores_in_headers'),
    listener_rq_xx: [], // set by the data plane once the listener is bound (listenerHttpStats)
  };
}

/**
 * Everything one HTTP connection manager needs to serve a stream, built once per config snapshot.
 * A stream captures the runtime it started with and keeps it to the end (a reload only changes
 * what new streams get): it counts itself in `activeStreams` from the moment it is started (or
 * rejected) until it completes.
 */
export interface HcmRuntime {
  readonly config: HttpConnectionManager;
  readonly stats: HcmStats;
  readonly routeTable: RouteTable;
  /** Filters before the router, in config order. */
  readonly filters: readonly HttpFilterFactory[];
  readonly clusters: ClusterManager;
  readonly accessLog: AccessLogger | undefined;
  readonly log: Logger;
  readonly serverName: string;
  readonly generateRequestId: boolean;
  readonly bufferLimit: number;
  readonly streamIdleTimeoutMs: number;
  /** Undefined when stream_idle_timeout is 0 (disabled). */
  readonly idleSweeper: IdleSweeper | undefined;
  readonly requestTimeoutMs: number;
  readonly upgradeTypes: readonly string[];
  readonly maxHeadersCount: number;
  /** Router options. */
  readonly suppressEnvoyHeaders: boolean;
  /** Set while the server drains: responses carry `connection: close`. */
  draining: boolean;
  /**
   * Streams that started on this runtime and have not completed. A reload retires the runtime;
   * what only it used (removed clusters, its access logs, its filter factories) is released when
   * this reaches 0.
   */
  activeStreams: number;
  /** Called by the stream that brings `activeStreams` to 0 (set when the runtime is retired). */
  onIdle: (() => void) | undefined;
}

export function runtimeLimits(config: HttpConnectionManager, listenerBufferLimit: number | undefined) {
  const idle = config.stream_idle_timeout ?? defaults.DEFAULT_STREAM_IDLE_TIMEOUT_MS;
  const timeouts = [idle];
  for (const vh of config.route_config.virtual_hosts) for (const r of vh.routes) if (r.route?.idle_timeout) timeouts.push(r.route.idle_timeout);
  const shortest = Math.min(...timeouts.filter((t) => t > 0));
  return {
    idleSweeper: Number.isFinite(shortest) ? new IdleSweeper(shortest) : undefined,
    serverName: config.server_name ?? defaults.DEFAULT_SERVER_NAME,
    generateRequestId: config.generate_request_id ?? true,
    bufferLimit: listenerBufferLimit ?? defaults.DEFAULT_PER_CONNECTION_BUFFER_LIMIT_BYTES,
    streamIdleTimeoutMs: config.stream_idle_timeout ?? defaults.DEFAULT_STREAM_IDLE_TIMEOUT_MS,
    requestTimeoutMs: config.request_timeout ?? 0,
    upgradeTypes: (config.upgrade_configs ?? []).filter((u) => u.enabled !== false).map((u) => u.upgrade_type),
    maxHeadersCount: config.common_http_protocol_options?.max_headers_count ?? defaults.DEFAULT_MAX_HEADERS_COUNT,
  };
}
