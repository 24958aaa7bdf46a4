import { H1Pool } from './h1-pool.ts';
import type { Counter, Gauge } from '../stats/types.ts';

/** Per-host counters, shown by /clusters (`<cluster>::<ip:port>::cx_total::N`). Not Envoy /stats names. */
export interface HostStats {
  cx_total: Counter;
  cx_active: Gauge;
  cx_connect_fail: Counter;
  rq_total: Counter;
  rq_timeout: Counter;
  rq_success: Counter;
  rq_error: Counter;
  rq_active: Gauge;
}

export const HOST_STAT_NAMES = [
  'cx_total',
  'cx_active',
  'cx_connect_fail',
  'rq_total',
  'rq_timeout',
  'rq_success',
  'rq_error',
  'rq_active',
] as const;

/** One resolved endpoint of a cluster: what a Host is made from. */
export interface ResolvedEndpoint {
  address: string;
  port: number;
  hostname?: string;
  weight: number;
  priority: number;
  locality?: { region?: string; zone?: string; sub_zone?: string };
}

/** `ip:port` (IPv6 in brackets), as Envoy prints hosts. */
export function hostKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export interface PoolOptions {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  maxRequestsPerConnection: number | undefined;
}

/**
 * One upstream endpoint: its address, LB weight, live request count (for LEAST_REQUEST) and its
 * keep-alive connection pool. Pools live as long as the host stays in the cluster.
 */
export class Host {
  readonly address: string;
  readonly port: number;
  /** `ip:port`, as Envoy prints hosts. */
  readonly key: string;
  readonly hostname: string | undefined;
  readonly weight: number;
  readonly priority: number;
  readonly locality: { region?: string; zone?: string; sub_zone?: string } | undefined;
  readonly pool: H1Pool;
  readonly stats: HostStats;
  activeRequests = 0;

  constructor(init: ResolvedEndpoint & {
    pool: PoolOptions;
    stats: HostStats;
    onConnect: () => void;
    onDisconnect: () => void;
    onConnectFail: (err: Error) => void;
  }) {
    this.address = init.address;
    this.port = init.port;
    this.key = hostKey(init.address, init.port);
    this.hostname = init.hostname;
    this.weight = init.weight;
    this.priority = init.priority;
    this.locality = init.locality;
    this.stats = init.stats;
    const p = init.pool;
    this.pool = new H1Pool({
      address: this.address,
      port: this.port,
      connections: p.maxConnections,
      connectTimeoutMs: p.connectTimeoutMs,
      // Upstream Node servers close idle connections after 5 s: closing ours first avoids sending
      // a request on a connection the upstream is closing (a Keep-Alive hint lowers it further).
      idleTimeoutMs: Math.min(p.idleTimeoutMs, 4_000),
      maxRequestsPerConnection: p.maxRequestsPerConnection,
      maxHeaderSize: 80 * 1024,
      onConnect: () => {
        this.stats.cx_total.inc();
        this.stats.cx_active.inc();
        init.onConnect();
      },
      onDisconnect: () => {
        this.stats.cx_active.dec();
        init.onDisconnect();
      },
      onConnectFail: (err) => {
        this.stats.cx_connect_fail.inc();
        init.onConnectFail(err);
      },
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
