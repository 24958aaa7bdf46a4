import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Cluster as ClusterConfig, LbEndpoint } from '../config/types.ts';
import { Host, HOST_STAT_NAMES, hostKey, type HostStats, type PoolOptions, type ResolvedEndpoint } from './host.ts';
import { createLoadBalancer, type LoadBalancer } from './load-balancer.ts';
import { UpstreamErrorCode } from './h1-pool.ts';
import type { Counter, Gauge, Histogram, Stats } from '../stats/types.ts';
import type { Logger } from '../log.ts';
import * as defaults from '../config/defaults.ts';

/** The `cluster.<name>.*` stats the router and pools write. Created once per cluster. */
export interface ClusterStats {
  upstream_rq_total: Counter;
  upstream_rq_active: Gauge;
  upstream_rq_completed: Counter;
  upstream_rq_timeout: Counter;
  upstream_rq_rx_reset: Counter;
  upstream_rq_cancelled: Counter;
  upstream_rq_pending_overflow: Counter;
  upstream_rq_pending_total: Counter;
  upstream_rq_pending_active: Gauge;
  upstream_rq_time: Histogram;
  upstream_cx_total: Counter;
  upstream_cx_active: Gauge;
  upstream_cx_connect_fail: Counter;
  upstream_cx_connect_timeout: Counter;
  upstream_cx_none_healthy: Counter;
  upstream_cx_destroy: Counter;
  membership_total: Gauge;
  membership_healthy: Gauge;
  /** `upstream_rq_<code>` and `upstream_rq_<N>xx`, indexed by status code. */
  responseCode(code: number): void;
}

function clusterStats(stats: Stats, prefix: string): ClusterStats {
  const codes = new Map<number, Counter>();
  const classes: Counter[] = [];
  for (let c = 1; c <= 5; c++) classes[c] = stats.counter(`${prefix}upstream_rq_${c}xx`);
  return {
    upstream_rq_total: stats.counter(`${prefix}upstream_rq_total`),
    upstream_rq_active: stats.gauge(`${prefix}upstream_rq_active`),
    upstream_rq_completed: stats.counter(`${prefix}upstream_rq_completed`),
    upstream_rq_timeout: stats.counter(`${prefix}upstream_rq_timeout`),
    upstream_rq_rx_reset: stats.counter(`${prefix}upstream_rq_rx_reset`),
    upstream_rq_cancelled: stats.counter(`${prefix}upstream_rq_cancelled`),
    upstream_rq_pending_overflow: stats.counter(`${prefix}upstream_rq_pending_overflow`),
    upstream_rq_pending_total: stats.counter(`${prefix}upstream_rq_pending_total`),
    upstream_rq_pending_active: stats.gauge(`${prefix}upstream_rq_pending_active`),
    upstream_rq_time: stats.histogram(`${prefix}upstream_rq_time`),
    upstream_cx_total: stats.counter(`${prefix}upstream_cx_total`),
    upstream_cx_active: stats.gauge(`${prefix}upstream_cx_active`),
    upstream_cx_connect_fail: stats.counter(`${prefix}upstream_cx_connect_fail`),
    upstream_cx_connect_timeout: stats.counter(`${prefix}upstream_cx_connect_timeout`),
    upstream_cx_none_healthy: stats.counter(`${prefix}upstream_cx_none_healthy`),
    upstream_cx_destroy: stats.counter(`${prefix}upstream_cx_destroy`),
    membership_total: stats.gauge(`${prefix}membership_total`),
    membership_healthy: stats.gauge(`${prefix}membership_healthy`),
    responseCode(code: number) {
      let c = codes.get(code);
      if (c === undefined) {
        c = stats.counter(`${prefix}upstream_rq_${code}`);
        codes.set(code, c);
      }
      c.inc();
      const cls = (code / 100) | 0;
      if (cls >= 1 && cls <= 5) classes[cls].inc();
    },
  };
}

/** Per-host stats live under a prefix the stats renderers hide (see HOST_STATS_PREFIX). */
export const HOST_STATS_PREFIX = 'sluice_host.';

function hostStats(stats: Stats, cluster: string, key: string): HostStats {
  const p = `${HOST_STATS_PREFIX}${cluster}.${key}.`;
  const s = {} as Record<(typeof HOST_STAT_NAMES)[number], Counter | Gauge>;
  for (const n of HOST_STAT_NAMES) s[n] = n.endsWith('_active') ? stats.gauge(p + n) : stats.counter(p + n);
  return s as unknown as HostStats;
}

export interface CircuitBreakers {
  max_connections: number;
  max_pending_requests: number;
  max_requests: number;
  max_retries: number;
}


/**
 * One upstream cluster on one worker: its hosts (resolved for DNS types), load balancer,
 * circuit-breaker thresholds, connection pools and stats.
 */
export class Cluster {
  readonly name: string;
  readonly config: ClusterConfig;
  readonly stats: ClusterStats;
  readonly circuitBreakers: CircuitBreakers;
  readonly highPriorityCircuitBreakers: CircuitBreakers;
  /** Requests in flight on this worker (for max_requests). */
  activeRequests = 0;
  /** Requests waiting for a pooled connection on this worker (for max_pending_requests). */
  pendingRequests = 0;
  #hosts: Host[] = [];
  #lb: LoadBalancer = { pick: () => undefined };
  #statsApi: Stats;
  #log: Logger;
  #poolOptions: PoolOptions;
  #dnsTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(config: ClusterConfig, stats: Stats, log: Logger) {
    this.name = config.name;
    this.config = config;
    this.#statsApi = stats;
    this.#log = log;
    this.stats = clusterStats(stats, `cluster.${config.alt_stat_name ?? config.name}.`);
    const thresholds = config.circuit_breakers?.thresholds ?? [];
    const pick = (priority: 'DEFAULT' | 'HIGH'): CircuitBreakers => {
      const t = thresholds.find((x) => x.priority === priority);
      return {
        max_connections: t?.max_connections ?? defaults.DEFAULT_CIRCUIT_BREAKERS.max_connections,
        max_pending_requests: t?.max_pending_requests ?? defaults.DEFAULT_CIRCUIT_BREAKERS.max_pending_requests,
        max_requests: t?.max_requests ?? defaults.DEFAULT_CIRCUIT_BREAKERS.max_requests,
        max_retries: t?.max_retries ?? defaults.DEFAULT_CIRCUIT_BREAKERS.max_retries,
      };
    };
    this.circuitBreakers = pick('DEFAULT');
    this.highPriorityCircuitBreakers = pick('HIGH');
    this.#poolOptions = {
      connectTimeoutMs: config.connect_timeout ?? defaults.DEFAULT_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: config.idle_timeout ?? defaults.DEFAULT_IDLE_TIMEOUT_MS,
      maxConnections: this.circuitBreakers.max_connections,
      maxRequestsPerConnection: config.max_requests_per_connection,
    };
  }

  get hosts(): readonly Host[] {
    return this.#hosts;
  }

  /** Resolves endpoints (DNS types) and builds pools. Resolves once the first resolution is done. */
  async init(): Promise<void> {
    if (this.config.type === 'STATIC') {
      this.#setEndpoints(this.#staticEndpoints());
      return;
    }
    await this.#refreshDns();
    const rate = this.config.dns_refresh_rate ?? defaults.DEFAULT_DNS_REFRESH_RATE_MS;
    const loop = () => {
      this.#dnsTimer = setTimeout(() => {
        this.#refreshDns().finally(() => {
          if (!this.#closed) loop();
        });
      }, rate);
      this.#dnsTimer.unref();
    };
    loop();
  }

  /** Picks a host with the configured policy; undefined when the cluster has no hosts. */
  pickHost(): Host | undefined {
    return this.#lb.pick();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#dnsTimer) clearTimeout(this.#dnsTimer);
    await Promise.all(this.#hosts.map((h) => h.close()));
  }

  #staticEndpoints(): ResolvedEndpoint[] {
    const out: ResolvedEndpoint[] = [];
    for (const loc of this.config.load_assignment.endpoints) {
      for (const ep of loc.lb_endpoints) out.push(this.#endpoint(ep, ep.address.address, loc.priority, loc.locality));
    }
    return out;
  }

  #endpoint(
    ep: LbEndpoint,
    address: string,
    priority: number | undefined,
    locality: ResolvedEndpoint['locality'],
  ): ResolvedEndpoint {
    return {
      address,
      port: ep.address.port_value,
      hostname: ep.hostname ?? (isIP(ep.address.address) ? undefined : ep.address.address),
      weight: ep.load_balancing_weight ?? 1,
      priority: priority ?? 0,
      locality,
    };
  }

  async #refreshDns(): Promise<void> {
    const family = this.config.dns_lookup_family;
    const opts =
      family === 'V4_ONLY' ? { family: 4 } : family === 'V6_ONLY' ? { family: 6 } : { family: 0 };
    const logical = this.config.type === 'LOGICAL_DNS';
    const out: ResolvedEndpoint[] = [];
    for (const loc of this.config.load_assignment.endpoints) {
      for (const ep of loc.lb_endpoints) {
        const name = ep.address.address;
        if (isIP(name)) {
          out.push(this.#endpoint(ep, name, loc.priority, loc.locality));
          continue;
        }
        try {
          let addrs = await lookup(name, { all: true, ...opts, order: family === 'V4_PREFERRED' ? 'ipv4first' : 'verbatim' });
          if (logical) addrs = addrs.slice(0, 1);
          const seen = new Set<string>();
          for (const a of addrs) {
            if (seen.has(a.address)) continue;
            seen.add(a.address);
            out.push(this.#endpoint(ep, a.address, loc.priority, loc.locality));
          }
        } catch (err) {
          this.#log.warn({ cluster: this.name, hostname: name, err: (err as Error).message }, 'dns resolution failed');
          // Keep the hosts we had for this name (Envoy keeps the last good resolution).
          for (const h of this.#hosts) {
            if (h.hostname === name) {
              out.push({ address: h.address, port: h.port, hostname: h.hostname, weight: h.weight, priority: h.priority, locality: h.locality });
            }
          }
        }
      }
    }
    this.#setEndpoints(out);
  }

  #setEndpoints(endpoints: ResolvedEndpoint[]): void {
    if (this.#closed) return;
    const old = new Map(this.#hosts.map((h) => [`${h.key}|${h.weight}|${h.priority}|${h.hostname ?? ''}`, h]));
    const next: Host[] = [];
    for (const ep of endpoints) {
      const key = hostKey(ep.address, ep.port);
      const id = `${key}|${ep.weight}|${ep.priority}|${ep.hostname ?? ''}`;
      const existing = old.get(id);
      if (existing) {
        old.delete(id);
        next.push(existing);
        continue;
      }
      next.push(
        new Host({
          ...ep,
          pool: this.#poolOptions,
          stats: hostStats(this.#statsApi, this.name, key),
          onConnect: () => {
            this.stats.upstream_cx_total.inc();
            this.stats.upstream_cx_active.inc();
          },
          onDisconnect: () => {
            this.stats.upstream_cx_active.dec();
            this.stats.upstream_cx_destroy.inc();
          },
          onConnectFail: (err) => {
            this.stats.upstream_cx_connect_fail.inc();
            if ((err as { code?: string }).code === UpstreamErrorCode.ConnectTimeout) this.stats.upstream_cx_connect_timeout.inc();
          },
        }),
      );
    }
    for (const gone of old.values()) void gone.close();
    this.#hosts = next;
    const top = Math.min(...next.map((h) => h.priority));
    const usable = next.filter((h) => h.priority === top);
    this.#lb = createLoadBalancer(this.config.lb_policy, usable, {
      choiceCount: this.config.least_request_lb_config?.choice_count,
      activeRequestBias: this.config.least_request_lb_config?.active_request_bias,
    });
    this.stats.membership_total.set(next.length);
    this.stats.membership_healthy.set(next.length);
  }
}

/** What changes when a cluster manager is derived for a new snapshot (see ClusterManager.derive). */
export interface ClusterUpdate {
  manager: ClusterManager;
  /** Clusters built for this update: they need `init()` (and `close()` if the update is dropped). */
  created: Cluster[];
  /** Clusters of the old manager that the new one does not have (removed, or changed and rebuilt). */
  retired: Cluster[];
}

/**
 * The clusters of one config snapshot on one worker. A manager never changes: a reload derives a
 * new one that shares every unchanged cluster (same config, so same hosts and pools) with the old
 * one, so streams that started before the reload keep the clusters they started with.
 */
export class ClusterManager {
  readonly #clusters = new Map<string, Cluster>();
  readonly #stats: Stats;
  readonly #log: Logger;

  constructor(configs: readonly ClusterConfig[], stats: Stats, log: Logger) {
    this.#stats = stats;
    this.#log = log;
    for (const c of configs) this.#clusters.set(c.name, new Cluster(c, stats, log));
  }

  get(name: string): Cluster | undefined {
    return this.#clusters.get(name);
  }

  all(): IterableIterator<Cluster> {
    return this.#clusters.values();
  }

  init(): Promise<void> {
    return Promise.all([...this.#clusters.values()].map((c) => c.init())).then(() => undefined);
  }

  close(): Promise<void> {
    return Promise.all([...this.#clusters.values()].map((c) => c.close())).then(() => undefined);
  }

  /**
   * The manager for `configs`: a cluster whose config is unchanged is the same object (its pools
   * and DNS state carry on); a new or changed one is built afresh. Nothing is initialized or
   * closed here: the caller inits `created` before use and closes `retired` once no stream of
   * this (old) manager can still use them.
   */
  derive(configs: readonly ClusterConfig[]): ClusterUpdate {
    const manager = new ClusterManager([], this.#stats, this.#log);
    const created: Cluster[] = [];
    for (const config of configs) {
      const current = this.#clusters.get(config.name);
      if (current !== undefined && sameConfig(current.config, config)) {
        manager.#clusters.set(config.name, current);
        continue;
      }
      const cluster = new Cluster(config, this.#stats, this.#log);
      created.push(cluster);
      manager.#clusters.set(config.name, cluster);
    }
    const kept = new Set(manager.#clusters.values());
    const retired = [...this.#clusters.values()].filter((c) => !kept.has(c));
    return { manager, created, retired };
  }
}

/** Configs come from the same loader, so equal configs serialize identically. */
function sameConfig(a: ClusterConfig, b: ClusterConfig): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
