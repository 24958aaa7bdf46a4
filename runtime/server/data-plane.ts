import type { Cluster as ClusterConfig, HttpConnectionManager, Listener } from '../config/types.ts';
import { ConnectionManager } from '../http/connection-manager.ts';
import { hcmStats, listenerHttpStats, runtimeLimits, type HcmRuntime } from '../http/hcm-runtime.ts';
import { ClusterManager, type Cluster, type ClusterUpdate } from '../upstream/cluster.ts';
import { RouteTable } from '../router/route-table.ts';
import { AccessLogger } from '../accesslog/logger.ts';
import { compileHeaderValueTemplate } from '../accesslog/formatter.ts';
import { buildHttpFilters } from '../http/filter-registry.ts';
import type { HttpFilterFactory } from '../http/filter.ts';
import type { Stats } from '../stats/types.ts';
import type { Logger } from '../log.ts';
import type { CompiledModule } from '../wasm/module.ts';
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

/** What a worker serves: every listener and cluster of a snapshot, static and LDS/CDS alike. */
export interface Resources {
  listeners: Listener[];
  clusters: ClusterConfig[];
}

interface ActiveListener {
  config: Listener;
  readonly cm: ConnectionManager;
  readonly bound: BoundListener;
  /** `listener.<statName>.`: fixed when the listener is bound. */
  readonly statName: string;
}

/** A snapshot built on this worker (clusters initialized, new listeners bound) but not yet in use. */
interface Prepared {
  readonly update: ClusterUpdate;
  /** Listeners that stay (same name and address): they get the new runtime at commit. */
  readonly kept: Array<{ active: ActiveListener; config: Listener; rt: HcmRuntime }>;
  /** Listeners bound for this snapshot: already accepting, on the new runtime. */
  readonly created: ActiveListener[];
  readonly runtimes: HcmRuntime[];
  readonly loggers: AccessLogger[];
  readonly bound: BoundListener[];
}

/** What a replaced snapshot leaves behind, released once no stream of an older runtime is left. */
interface Retirement {
  readonly waitFor: Set<HcmRuntime>;
  readonly clusters: Cluster[];
  readonly loggers: AccessLogger[];
  readonly factories: HttpFilterFactory[];
}

/**
 * A filter factory that holds resources beyond its streams (a wasm plugin's root context) may
 * implement `close()`: it is called once the snapshot that built it is retired and its last
 * stream has ended.
 */
interface ClosableFactory {
  close?(): void;
}

/** Lets a reload hand the worker's wasm runtime the modules the main thread compiled for it. */
interface ModuleSink {
  addModules?(modules: Record<string, CompiledModule>): void;
}

/**
 * Everything one worker serves: its listeners (one HTTP server each, sharing the port with the
 * other workers through reusePort), the cluster manager with its pools, and the per-HCM runtimes.
 *
 * A config snapshot is applied in two steps, so every worker can build it before any switches:
 * `prepare` builds the clusters (sharing unchanged ones), a runtime per listener (route table,
 * filters, access log) and binds new listeners; `commit` gives kept listeners their new runtime,
 * starts draining removed ones and retires the old runtimes. A stream keeps the runtime (and so
 * the route table, filters and clusters) it started with; removed clusters, old access logs and
 * old filter factories are released when the last stream of an older runtime ends. Keep-alive
 * connections of kept listeners are never closed by a reload.
 */
export class DataPlane {
  readonly #stats: Stats;
  readonly #log: Logger;
  readonly #workerIndex: number;
  readonly #concurrency: number;
  #clusters: ClusterManager | undefined;
  #listeners = new Map<string, ActiveListener>();
  #loggers: AccessLogger[] = [];
  #prepared: Prepared | undefined;
  /** Retired runtimes that still have streams. */
  readonly #retired = new Set<HcmRuntime>();
  #retirements: Retirement[] = [];
  /** Removed listeners still draining. */
  readonly #stopping = new Set<Promise<void>>();
  #shuttingDown = false;
  #healthFailed = false;
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

  #wasmRuntime(clusters: ClusterManager): WasmRuntime {
    if (this.#wasm === undefined) {
      this.#wasm = new WasmRuntime({ log: this.#log, stats: this.#stats, init: this.#wasmInit, globalStatValue: this.#globalStatValue });
      // Until the first commit, root contexts starting up see the clusters being prepared.
      this.#wasm.clusters = this.#clusters ?? clusters;
    }
    return this.#wasm;
  }

  get clusters(): ClusterManager | undefined {
    return this.#clusters;
  }

  /** The listeners serving now, in config order. */
  get listeners(): BoundListener[] {
    return [...this.#listeners.values()].map((a) => a.bound);
  }

  /**
   * Builds clusters (waiting for the first DNS resolution), then listens on every listener.
   * `ports` pins listeners configured with port 0 to the port the first worker got.
   */
  async start(resources: Resources, ports: Record<string, number> | undefined): Promise<BoundListener[]> {
    const bound = await this.prepare(resources, ports);
    this.commit(0);
    return bound;
  }

  /**
   * Step 1 of applying a snapshot: builds everything it needs and binds its new listeners, without
   * changing what existing connections get. Returns the listeners as they will be after `commit`.
   * Throws (leaving nothing behind) when a cluster, filter or listener cannot be built or bound.
   */
  async prepare(resources: Resources, ports?: Record<string, number>, modules?: Record<string, CompiledModule>): Promise<BoundListener[]> {
    await this.abort();
    const base = this.#clusters ?? new ClusterManager([], this.#stats, this.#log);
    const update = base.derive(resources.clusters);
    const p: Prepared = { update, kept: [], created: [], runtimes: [], loggers: [], bound: [] };
    try {
      if (modules !== undefined && this.#wasm !== undefined) (this.#wasm as WasmRuntime & ModuleSink).addModules?.(modules);
      await Promise.all(update.created.map((c) => c.init()));
      for (const l of resources.listeners) {
        const hcm = l.filter_chains[0]?.filters[0]?.http_connection_manager;
        if (hcm === undefined) continue;
        const rt = this.#runtime(l, hcm, update.manager, p.loggers);
        p.runtimes.push(rt);
        const active = this.#listeners.get(l.name);
        if (active !== undefined && sameAddress(active.config, l)) {
          rt.stats.listener_rq_xx = listenerHttpStats(this.#stats, active.statName, hcm.stat_prefix);
          p.kept.push({ active, config: l, rt });
          p.bound.push(active.bound);
        } else {
          const created = await this.#listen(l, rt, ports);
          p.created.push(created);
          p.bound.push(created.bound);
        }
      }
    } catch (err) {
      await this.#discard(p);
      throw err;
    }
    this.#prepared = p;
    return p.bound;
  }

  /**
   * Step 2: new streams get the prepared snapshot. Removed (or moved) listeners drain within
   * `drainTimeoutMs`; the old runtimes are retired.
   */
  commit(drainTimeoutMs: number): void {
    const p = this.#prepared;
    if (p === undefined) return;
    this.#prepared = undefined;
    const oldRuntimes = [...this.#listeners.values()].map((a) => a.cm.runtime);
    const oldLoggers = this.#loggers;
    for (const rt of p.runtimes) rt.draining = this.#healthFailed || this.#shuttingDown;
    const next = new Map<string, ActiveListener>();
    for (const k of p.kept) {
      k.active.cm.setRuntime(k.rt);
      k.active.config = k.config;
      next.set(k.config.name, k.active);
    }
    for (const c of p.created) next.set(c.config.name, c);
    for (const [name, a] of this.#listeners) {
      if (next.get(name) !== a) this.#stopListener(a, drainTimeoutMs);
    }
    this.#listeners = next;
    this.#loggers = p.loggers;
    this.#clusters = p.update.manager;
    if (this.#wasm !== undefined) this.#wasm.clusters = p.update.manager;
    this.#retire(oldRuntimes, p.update.retired, oldLoggers);
  }

  /** Drops a prepared snapshot (another worker could not prepare it). */
  async abort(): Promise<void> {
    const p = this.#prepared;
    if (p === undefined) return;
    this.#prepared = undefined;
    await this.#discard(p);
  }

  async #discard(p: Prepared): Promise<void> {
    await Promise.all(
      p.created.map(
        (a) =>
          a.cm.close(),
      ),
    );
    await Promise.all(p.update.created.map((c) => c.close()));
    closeFactories(p.runtimes.flatMap((rt) => rt.filters), this.#log);
    await Promise.all(p.loggers.map((l) => l.close()));
  }

  #stopListener(a: ActiveListener, drainTimeoutMs: number): void {
    const done: Promise<void> = a.cm.drain(drainTimeoutMs).catch((err: Error) => {
      this.#log.warn({ listener: a.config.name, err: err.message }, 'draining a removed listener failed');
    });
    this.#stopping.add(done);
    void done.finally(() => this.#stopping.delete(done));
  }

  /**
   * Releases what only the replaced runtimes used once every runtime retired so far (earlier
   * reloads included: their streams may hold these clusters too) has no stream left.
   */
  #retire(runtimes: HcmRuntime[], clusters: Cluster[], loggers: AccessLogger[]): void {
    for (const rt of runtimes) {
      if (rt.activeStreams === 0) continue;
      this.#retired.add(rt);
      rt.onIdle = () => this.#runtimeIdle(rt);
    }
    const r: Retirement = { waitFor: new Set(this.#retired), clusters, loggers, factories: runtimes.flatMap((rt) => rt.filters) };
    if (r.waitFor.size === 0) this.#release(r);
    else this.#retirements.push(r);
  }

  #runtimeIdle(rt: HcmRuntime): void {
    rt.onIdle = undefined;
    if (!this.#retired.delete(rt)) return;
    const ready: Retirement[] = [];
    for (const r of this.#retirements) {
      r.waitFor.delete(rt);
      if (r.waitFor.size === 0) ready.push(r);
    }
    if (ready.length === 0) return;
    this.#retirements = this.#retirements.filter((r) => r.waitFor.size > 0);
    for (const r of ready) this.#release(r);
  }

  /** Pools close gracefully: a request still on one (an upgrade, say) finishes first. */
  #release(r: Retirement): Promise<void> {
    closeFactories(r.factories, this.#log);
    return Promise.all([...r.clusters.map((c) => c.close()), ...r.loggers.map((l) => l.close())]).then(() => undefined);
  }

  async #listen(l: Listener, rt: HcmRuntime, ports: Record<string, number> | undefined): Promise<ActiveListener> {
    const hcm = rt.config;
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
    return {
      config: l,
      cm,
      bound: { name: l.name, address: addr.address, port: addr.port },
      statName: listenerStatName(l, addr.address, addr.port),
    };
  }

  #runtime(l: Listener, hcm: HttpConnectionManager, clusters: ClusterManager, loggers: AccessLogger[]): HcmRuntime {
    const limits = runtimeLimits(hcm, l.per_connection_buffer_limit_bytes);
    const accessLog = hcm.access_log.length > 0 ? new AccessLogger(hcm.access_log) : undefined;
    if (accessLog) loggers.push(accessLog);
    const router = hcm.http_filters[hcm.http_filters.length - 1];
    const routerCfg = (router?.typed_config?.value ?? {}) as { suppress_envoy_headers?: boolean };
    return {
      config: hcm,
      stats: hcmStats(this.#stats, hcm.stat_prefix),
      routeTable: RouteTable.compile(hcm.route_config, { compileValue: compileHeaderValueTemplate }),
      filters: buildHttpFilters(hcm.http_filters.slice(0, -1), { log: this.#log, stats: this.#stats, wasm: () => this.#wasmRuntime(clusters) }),
      clusters,
      accessLog,
      log: this.#log,
      suppressEnvoyHeaders: routerCfg.suppress_envoy_headers === true,
      draining: false,
      activeStreams: 0,
      onIdle: undefined,
      ...limits,
    };
  }

  /** Drains every listener (Connection: close, in-flight requests finish) within `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    this.#shuttingDown = true;
    await this.abort();
    for (const rt of this.#retired) rt.draining = true;
    await Promise.all([...[...this.#listeners.values()].map((a) => a.cm.drain(timeoutMs)), ...this.#stopping]);
    await this.#clusters?.close();
    const pending = this.#retirements;
    this.#retirements = [];
    await Promise.all(pending.map((r) => this.#release(r)));
    this.#wasm?.close();
    await Promise.all(this.#loggers.map((l) => l.close()));
  }

  /** `/healthcheck/fail|ok`: responses carry `connection: close` while failed (never undone by `ok` during shutdown). */
  setHealthFailed(failed: boolean): void {
    this.#healthFailed = failed;
    const draining = failed || this.#shuttingDown;
    for (const a of this.#listeners.values()) a.cm.runtime.draining = draining;
    for (const rt of this.#retired) rt.draining = draining;
  }
}

/** A listener is kept across a reload when its name and the address it binds are unchanged. */
function sameAddress(a: Listener, b: Listener): boolean {
  return (
    a.address.address === b.address.address &&
    a.address.port_value === b.address.port_value &&
    (a.enable_reuse_port ?? true) === (b.enable_reuse_port ?? true)
  );
}

function closeFactories(factories: readonly HttpFilterFactory[], log: Logger): void {
  for (const f of factories) {
    try {
      (f as HttpFilterFactory & ClosableFactory).close?.();
    } catch (err) {
      log.warn({ filter: f.name, err: (err as Error).message }, 'closing a retired filter failed');
    }
  }
}
