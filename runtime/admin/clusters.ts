/**
 * `/clusters` in Envoy's two shapes (`source/server/admin/clusters_handler.cc`): the `::`-separated
 * text lines tools grep, and `envoy.admin.v3.Clusters` JSON (proto3 JSON: default values omitted,
 * uint64 as strings, fields in proto order).
 */

export interface CircuitBreakerThresholdsStatus {
  max_connections: number;
  max_pending_requests: number;
  max_requests: number;
  max_retries: number;
}

/** Envoy's per-host stats (`ALL_HOST_STATS`): counters first, then the two gauges. */
export interface HostStats {
  cx_connect_fail: number;
  cx_total: number;
  rq_error: number;
  rq_success: number;
  rq_timeout: number;
  rq_total: number;
  cx_active: number;
  rq_active: number;
}

export interface HostStatus {
  /** `ip:port` (`[v6]:port`). */
  address: string;
  /** '' when the endpoint has no hostname. */
  hostname: string;
  weight: number;
  /**
   * Envoy's health flags string: `healthy`, or flags each prefixed by `/`, e.g.
   * `/failed_active_hc/failed_outlier_check`. Known flags: failed_active_hc, failed_outlier_check,
   * failed_eds_health, degraded_active_hc, degraded_eds_health, pending_dynamic_removal,
   * pending_active_hc, excluded_via_immediate_hc_fail, active_hc_timeout, eds_status_draining.
   */
  health: string;
  priority: number;
  region?: string;
  zone?: string;
  sub_zone?: string;
  canary?: boolean;
  /** Outlier-detection success rate in percent; -1 (default) = not computed. */
  success_rate?: number;
  local_origin_success_rate?: number;
  stats: HostStats;
}

export interface ClusterStatus {
  name: string;
  /** `alt_stat_name` if set; defaults to `name`. */
  observability_name?: string;
  added_via_api: boolean;
  circuit_breakers: { default: CircuitBreakerThresholdsStatus; high: CircuitBreakerThresholdsStatus };
  hosts: HostStatus[];
}

const COUNTERS = ['cx_connect_fail', 'cx_total', 'rq_error', 'rq_success', 'rq_timeout', 'rq_total'] as const;
const GAUGES = ['cx_active', 'rq_active'] as const;
const TEXT_STATS = [...COUNTERS, ...GAUGES].sort();

function thresholdsText(name: string, priority: string, t: CircuitBreakerThresholdsStatus): string {
  return (
    `${name}::${priority}_priority::max_connections::${t.max_connections}\n` +
    `${name}::${priority}_priority::max_pending_requests::${t.max_pending_requests}\n` +
    `${name}::${priority}_priority::max_requests::${t.max_requests}\n` +
    `${name}::${priority}_priority::max_retries::${t.max_retries}\n`
  );
}

export function renderClustersText(clusters: readonly ClusterStatus[]): string {
  let out = '';
  for (const c of clusters) {
    const n = c.name;
    out += `${n}::observability_name::${c.observability_name ?? n}\n`;
    out += thresholdsText(n, 'default', c.circuit_breakers.default);
    out += thresholdsText(n, 'high', c.circuit_breakers.high);
    out += `${n}::added_via_api::${c.added_via_api}\n`;
    for (const h of c.hosts) {
      const p = `${n}::${h.address}::`;
      for (const s of TEXT_STATS) out += `${p}${s}::${h.stats[s]}\n`;
      out += `${p}hostname::${h.hostname}\n`;
      out += `${p}health_flags::${h.health}\n`;
      out += `${p}weight::${h.weight}\n`;
      out += `${p}region::${h.region ?? ''}\n`;
      out += `${p}zone::${h.zone ?? ''}\n`;
      out += `${p}sub_zone::${h.sub_zone ?? ''}\n`;
      out += `${p}canary::${h.canary ?? false}\n`;
      out += `${p}priority::${h.priority}\n`;
      out += `${p}success_rate::${h.success_rate ?? -1}\n`;
      out += `${p}local_origin_success_rate::${h.local_origin_success_rate ?? -1}\n`;
    }
  }
  return out;
}

/** `ip:port` / `[v6]:port` → proto `Address`. */
export function socketAddressJson(address: string): { socket_address: { address: string; port_value?: number } } {
  let host = address;
  let port: number | undefined;
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    host = address.slice(1, close);
    if (address[close + 1] === ':') port = Number(address.slice(close + 2));
  } else {
    const colon = address.lastIndexOf(':');
    if (colon > 0 && address.indexOf(':') === colon) {
      host = address.slice(0, colon);
      port = Number(address.slice(colon + 1));
    }
  }
  return { socket_address: port ? { address: host, port_value: port } : { address: host } };
}

const BOOL_FLAGS: Record<string, string> = {
  failed_active_hc: 'failed_active_health_check',
  failed_outlier_check: 'failed_outlier_check',
  degraded_active_hc: 'failed_active_degraded_check',
  pending_dynamic_removal: 'pending_dynamic_removal',
  pending_active_hc: 'pending_active_hc',
  excluded_via_immediate_hc_fail: 'excluded_via_immediate_hc_fail',
  active_hc_timeout: 'active_hc_timeout',
};

function healthStatusJson(health: string): Record<string, unknown> {
  const flags = health === 'healthy' ? [] : health.split('/').filter((f) => f !== '');
  const out: Record<string, unknown> = {};
  for (const [flag, field] of Object.entries(BOOL_FLAGS)) if (flags.includes(flag)) out[field] = true;
  out.eds_health_status = flags.includes('failed_eds_health')
    ? 'UNHEALTHY'
    : flags.includes('degraded_eds_health')
      ? 'DEGRADED'
      : flags.includes('eds_status_draining')
        ? 'DRAINING'
        : 'HEALTHY';
  return out;
}

function thresholdsJson(priority: 'DEFAULT' | 'HIGH', t: CircuitBreakerThresholdsStatus): Record<string, unknown> {
  return {
    ...(priority === 'HIGH' ? { priority } : {}),
    max_connections: t.max_connections,
    max_pending_requests: t.max_pending_requests,
    max_requests: t.max_requests,
    max_retries: t.max_retries,
  };
}

function hostJson(h: HostStatus): Record<string, unknown> {
  const stats: Array<Record<string, unknown>> = [];
  for (const s of COUNTERS) stats.push({ ...(h.stats[s] ? { value: String(h.stats[s]) } : {}), name: s });
  for (const s of GAUGES) stats.push({ type: 'GAUGE', ...(h.stats[s] ? { value: String(h.stats[s]) } : {}), name: s });
  const out: Record<string, unknown> = { address: socketAddressJson(h.address), stats, health_status: healthStatusJson(h.health) };
  if (h.success_rate !== undefined && h.success_rate >= 0) out.success_rate = { value: h.success_rate };
  if (h.weight) out.weight = h.weight;
  if (h.hostname) out.hostname = h.hostname;
  if (h.priority) out.priority = h.priority;
  if (h.local_origin_success_rate !== undefined && h.local_origin_success_rate >= 0) {
    out.local_origin_success_rate = { value: h.local_origin_success_rate };
  }
  const locality: Record<string, string> = {};
  if (h.region) locality.region = h.region;
  if (h.zone) locality.zone = h.zone;
  if (h.sub_zone) locality.sub_zone = h.sub_zone;
  out.locality = locality;
  return out;
}

export function clustersJson(clusters: readonly ClusterStatus[]): Record<string, unknown> {
  return {
    cluster_statuses: clusters.map((c) => {
      const out: Record<string, unknown> = { name: c.name };
      if (c.added_via_api) out.added_via_api = true;
      if (c.hosts.length > 0) out.host_statuses = c.hosts.map(hostJson);
      out.circuit_breakers = {
        thresholds: [thresholdsJson('DEFAULT', c.circuit_breakers.default), thresholdsJson('HIGH', c.circuit_breakers.high)],
      };
      out.observability_name = c.observability_name ?? c.name;
      return out;
    }),
  };
}
