import type { Bootstrap, HttpConnectionManager, Listener } from '../config/types.ts';
import { ConnectionManager } from '../http/connection-manager.ts';
import { hcmStats, listenerHttpStats, runtimeLimits, type HcmRuntime } from '../http/hcm-runtime.ts';
import { ClusterManager } from '../upstream/cluster.ts';
import { RouteTable } from '../router/route-table.ts';
import { AccessLogger } from '../accesslog/logger.ts';
import { compileHeaderValueTemplate } from '../accesslog/formatter.ts';
import { buildHttpFilters } from '../http/filter-registry.ts';
import type { Stats } from '../stats/types.ts';
import type { Logger } from '../log.ts';
import { WasmRuntime, type WasmWorkerInit } from '../wasm/wasm-runtime.ts';

/** `listener.<name>.` stat segment: the stat_prefix, else the bound address with `:` → `_`. */
export function listenerStatName(l: Listener, address = l.address.address, port = l.address.port_value): string {
  return l.stat_prefix ?? `${address}_${port}`.replaceAll(':', '_');
}

export interface BoundListener {
  name: string;
  address: string;
  port: number;
}

/**
 * Everything one worker serves: its listeners (one HTTP server each, sharing the port with the
 * other workers through reusePort), the cluster manager with its pools, and the per-HCM runtimes.
 */
export class DataPlane {
  readonly #stats: Stats;
  readonly #log: Logger;
  readonly #workerIndex: number;
  readonly #concurrency: number;
  #clusters: ClusterManager | undefined;
  readonly #managers = new Map<string, ConnectionManager>();
  readonly #loggers: AccessLogger[] = [];
  #shuttingDown = false;
  readonly #wasmInit: WasmWorkerInit | undefined;
  readonly #globalStatValue: ((name: string, kind: 'counter' | 'gauge') => number | undefined) | undefined;
  #wasm: WasmRuntime | undefined;

  constructor(opts: {
    stats: Stats;
    log: Logger;
    workerIndex: number;
    concurrency: number;
    wasm?: WasmWorkerInit;
    globalStatValue?: (name: string, kind: 'counter' | 'gauge') => number | undefined;
  }) {
    this.#stats = opts.stats;
    this.#log = opts.log;
    this.#workerIndex = opts.workerIndex;
    this.#concurrency = opts.concurrency;
    this.#wasmInit = opts.wasm;
    this.#globalStatValue = opts.globalStatValue;
  }

  /** The worker's wasm runtime (VMs, shared data and queues), made on first use. */
  get wasm(): WasmRuntime | undefined {
    return this.#wasm;
  }

  #wasmRuntime = (): WasmRuntime => {
    if (this.#wasm === undefined) {
      this.#wasm = new WasmRuntime({ log: this.#log, stats: this.#stats, init: this.#wasmInit, globalStatValue: this.#globalStatValue });
      this.#wasm.clusters = this.#clusters;
    }
    return this.#wasm;
  };

  get clusters(): ClusterManager | undefined {
    return this.#clusters;
  }

  /**
   * Builds clusters (waiting for the first DNS resolution), then listens on every listener.
   * `ports` pins listeners configured with port 0 to the port the first worker got.
   */
  async start(bootstrap: Bootstrap, ports: Record<string, number> | undefined): Promise<BoundListener[]> {
    const clusters = new ClusterManager(bootstrap.static_resources.clusters, this.#stats, this.#log);
    this.#clusters = clusters;
    await clusters.init();
    const bound: BoundListener[] = [];
    for (const l of bootstrap.static_resources.listeners) {
      const hcm = l.filter_chains[0]?.filters[0]?.http_connection_manager;
      if (hcm === undefined) continue;
      const rt = this.#runtime(l, hcm, clusters);
      const cm = new ConnectionManager(rt, {
        host: l.address.address,
        port: ports?.[l.name] ?? l.address.port_value,
        reusePort: l.enable_reuse_port ?? true,
        listenerStats: (address, port) => {
          const statName = listenerStatName(l, address, port);
          rt.stats.listener_rq_xx = listenerHttpStats(this.#stats, statName, hcm.stat_prefix);
          return {
            downstream_cx_total: this.#stats.counter(`listener.${statName}.downstream_cx_total`),
            downstream_cx_active: this.#stats.gauge(`listener.${statName}.downstream_cx_active`),
            downstream_cx_destroy: this.#stats.counter(`listener.${statName}.downstream_cx_destroy`),
            worker_cx_total: this.#stats.counter(`listener.${statName}.worker_${this.#workerIndex}.downstream_cx_total`),
            worker_cx_active: this.#stats.gauge(`listener.${statName}.worker_${this.#workerIndex}.downstream_cx_active`),
          };
        },
        connectionIdBase: this.#workerIndex,
        connectionIdStride: this.#concurrency,
      });
      const addr = await cm.listen();
      this.#managers.set(l.name, cm);
      bound.push({ name: l.name, address: addr.address, port: addr.port });
    }
    return bound;
  }

  #runtime(l: Listener, hcm: HttpConnectionManager, clusters: ClusterManager): HcmRuntime {
    const limits = runtimeLimits(hcm, l.per_connection_buffer_limit_bytes);
    const accessLog = hcm.access_log.length > 0 ? new AccessLogger(hcm.access_log) : undefined;
    if (accessLog) this.#loggers.push(accessLog);
    const router = hcm.http_filters[hcm.http_filters.length - 1];
    const routerCfg = (router?.typed_config?.value ?? {}) as { suppress_envoy_headers?: boolean };
    return {
      config: hcm,
      stats: hcmStats(this.#stats, hcm.stat_prefix),
      routeTable: RouteTable.compile(hcm.route_config, { compileValue: compileHeaderValueTemplate }),
      filters: buildHttpFilters(hcm.http_filters.slice(0, -1), { log: this.#log, stats: this.#stats, wasm: this.#wasmRuntime }),
      clusters,
      accessLog,
      log: this.#log,
      suppressEnvoyHeaders: routerCfg.suppress_envoy_headers === true,
      draining: false,
      ...limits,
    };
  }

  /** Drains every listener (Connection: close, in-flight requests finish) within `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    this.#shuttingDown = true;
    await Promise.all([...this.#managers.values()].map((m) => m.drain(timeoutMs)));
    await this.#clusters?.close();
    this.#wasm?.close();
    await Promise.all(this.#loggers.map((l) => l.close()));
  }

  /** `/healthcheck/fail|ok`: responses carry `connection: close` while failed (never undone by `ok` during shutdown). */
  setHealthFailed(failed: boolean): void {
    for (const m of this.#managers.values()) m.runtime.draining = failed || this.#shuttingDown;
  }
}
