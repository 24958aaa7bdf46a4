import { Worker } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { availableParallelism, hostname } from 'node:os';
import type { ConfigSnapshot } from '../config/types.ts';
import { createLogger, type Logger, type LogLevel } from '../log.ts';
import { StatsStore } from '../stats/store.ts';
import { StatsReader } from '../stats/reader.ts';
import type { StatsSnapshot } from '../stats/snapshot.ts';
import { startAdminServer, type AdminDeps, type ClusterStatus } from '../admin/admin-server.ts';
import { HOST_STATS_PREFIX } from '../upstream/cluster.ts';
import { HOST_STAT_NAMES } from '../upstream/host.ts';
import { SluiceError, ErrorCode } from '../errors.ts';
import * as defaults from '../config/defaults.ts';
import type { BoundListener } from './data-plane.ts';
import type { HostsByCluster, MainToWorker, WorkerInit, WorkerToMain } from './messages.ts';
import { SLUICE_VERSION } from '../version.ts';
import '../http/builtin-filters.ts';
import '../wasm/wasm-filter.ts';
import { validateSnapshot, type ValidatedSnapshot } from './validate.ts';
import { SharedData } from '../wasm/shared-data.ts';
import { SharedQueues } from '../wasm/shared-queues.ts';
import type { WasmWorkerInit } from '../wasm/wasm-runtime.ts';
import { WasmDeployer, type WasmReply, type WasmRequest } from './wasm-deploy.ts';
import { WasmFileWatcher } from './wasm-watch.ts';

export interface SluiceOptions {
  config: ConfigSnapshot;
  /** Worker threads; default: CPU count. */
  concurrency?: number;
  logLevel?: LogLevel;
  /** How long in-flight requests may take to finish on shutdown. Default 5 s. */
  drainTimeoutMs?: number;
  /** Modules each worker imports first (filter extensions). */
  preload?: string[];
  /** Called when the admin asks the process to exit (/quitquitquit). */
  onQuit?: () => void;
  log?: Logger;
  /** Watch wasm code files (and the config file) and apply changes live. Default true. */
  watch?: boolean;
}

type State = 'PRE_INITIALIZING' | 'INITIALIZING' | 'LIVE' | 'DRAINING';

interface WorkerHandle {
  index: number;
  worker: Worker;
  ready: Promise<{ listeners: BoundListener[]; hosts: HostsByCluster }>;
}

const STATS_SLOTS = 16384;

/** Envoy's `server.state` gauge values (envoy.admin.v3.ServerInfo.State). */
const SERVER_STATE = { LIVE: 0, DRAINING: 1, PRE_INITIALIZING: 2, INITIALIZING: 3 } as const;

/** Envoy's /logging level names → pino's. */
const ENVOY_TO_PINO_LEVEL: Record<string, LogLevel> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
  critical: 'fatal',
  off: 'silent',
};

/**
 * The main thread: validates nothing itself (it is given a snapshot), starts the data-plane
 * workers, serves admin, reads stats from the workers' shared segments, and drains on stop.
 * It never touches request data.
 */
export class Sluice {
  readonly config: ConfigSnapshot;
  readonly log: Logger;
  readonly concurrency: number;
  listeners: BoundListener[] = [];
  admin: { address: string; port: number } | undefined;
  #state: State = 'PRE_INITIALIZING';
  #workers: WorkerHandle[] = [];
  readonly #segments = new Map<string, SharedArrayBuffer>();
  #reader = new StatsReader();
  #mainStats = new StatsStore(1024);
  #adminServer: { close(): Promise<void> } | undefined;
  #hosts: HostsByCluster = {};
  #startedAt = Date.now();
  #opts: SluiceOptions;
  #logLevel: LogLevel;
  #stopping: Promise<void> | undefined;
  #healthFailed = false;
  #flushTimer: NodeJS.Timeout | undefined;

  private constructor(opts: SluiceOptions) {
    this.#opts = opts;
    this.config = opts.config;
    this.#logLevel = opts.logLevel ?? 'info';
    this.log = opts.log ?? createLogger(this.#logLevel);
    this.concurrency = Math.max(1, opts.concurrency ?? availableParallelism());
    this.#reader.attach('main', this.#mainStats.buffer);
  }

  static async start(opts: SluiceOptions): Promise<Sluice> {
    const validated = validateSnapshot(opts.config, opts.log);
    // Workers created from now on get `gc`, used to bound body-buffer memory (http/body-gc.ts).
    setFlagsFromString('--expose-gc');
    const s = new Sluice(opts);
    s.#validated = validated;
    try {
      await s.#start();
    } catch (err) {
      await s.stop().catch(() => undefined);
      throw err;
    }
    return s;
  }

  get state(): State {
    return this.#state;
  }

  async #start(): Promise<void> {
    this.#state = 'INITIALIZING';
    const boot = this.config.bootstrap;
    const m = this.#mainStats;
    m.gauge('server.state').set(SERVER_STATE.INITIALIZING);
    m.gauge('server.concurrency').set(this.concurrency);
    m.gauge('server.live').set(0);
    // Worker 0 binds first so that port-0 listeners get one port every worker then shares.
    const first = this.#spawn(0, undefined);
    const r0 = await first.ready;
    this.#hosts = r0.hosts;
    const ports: Record<string, number> = {};
    for (const l of r0.listeners) ports[l.name] = l.port;
    const rest: WorkerHandle[] = [];
    for (let i = 1; i < this.concurrency; i++) rest.push(this.#spawn(i, ports));
    await Promise.all(rest.map((w) => w.ready));
    this.listeners = r0.listeners;
    await this.#startWasmDeploys();
    if (boot.admin?.address) {
      const a = await startAdminServer({ address: boot.admin.address, deps: this.#adminDeps() });
      this.#adminServer = a;
      this.admin = { address: a.address.address, port: a.address.port };
    }
    this.#state = 'LIVE';
    m.gauge('server.live').set(1);
    // Histogram "interval" values in /stats cover the last flush period, as Envoy's do.
    this.#flushTimer = setInterval(() => this.#reader.latchIntervals(), boot.stats_flush_interval ?? defaults.DEFAULT_STATS_FLUSH_INTERVAL_MS);
    this.#flushTimer.unref();
    m.gauge('server.state').set(SERVER_STATE.LIVE);
    this.log.info(
      { listeners: this.listeners.map((l) => `${l.name}=${l.address}:${l.port}`), admin: this.admin, concurrency: this.concurrency },
      'sluice is live',
    );
  }

  #validated: ValidatedSnapshot | undefined;
  #deployer: WasmDeployer | undefined;
  #wasmWatcher: WasmFileWatcher | undefined;
  readonly #wasmReplies = new Map<number, (r: WasmReply) => void>();
  #nextWasmRequest = 0;

  /** Hot deploy of wasm modules (admin `/wasm/plugins`, `sluice deploy`, file watching). */
  get wasm(): WasmDeployer | undefined {
    return this.#deployer;
  }

  /** Sends a hot-deploy step to every worker; a worker that does not answer in 30 s counts as a failure. */
  #askWorkers(msg: WasmRequest): Promise<WasmReply[]> {
    return Promise.all(
      this.#workers.map(
        (w) =>
          new Promise<WasmReply>((resolve) => {
            const id = ++this.#nextWasmRequest;
            const timer = setTimeout(() => {
              this.#wasmReplies.delete(id);
              resolve({ ok: false, error: `worker ${w.index} did not answer ${msg.type}` });
            }, 30_000);
            timer.unref();
            this.#wasmReplies.set(id, (r) => {
              clearTimeout(timer);
              resolve(r);
            });
            w.worker.postMessage({ ...msg, id } satisfies MainToWorker);
          }),
      ),
    );
  }

  async #startWasmDeploys(): Promise<void> {
    const deployer = new WasmDeployer({
      log: this.log,
      stats: this.#mainStats,
      counterValue: (name) => this.#reader.snapshot().counters.get(name) ?? 0,
      channel: { ask: (m) => this.#askWorkers(m) },
      config: this.config,
      modules: this.#validated?.wasmModules ?? {},
    });
    this.#deployer = deployer;
    if (this.#opts.watch !== false && deployer.files().length > 0) {
      this.#wasmWatcher = new WasmFileWatcher(deployer, this.log);
      await this.#wasmWatcher.ready();
    }
  }
  #wasmInit: WasmWorkerInit | undefined;

  /** Modules compiled at validation plus the process-wide shared data and queues, made once. */
  #wasmWorkerInit(): WasmWorkerInit {
    this.#wasmInit ??= {
      modules: this.#validated?.wasmModules ?? {},
      sharedData: SharedData.create().handle,
      sharedQueues: SharedQueues.create().handle,
    };
    return this.#wasmInit;
  }

  #spawn(index: number, ports: Record<string, number> | undefined): WorkerHandle {
    const init: WorkerInit = {
      bootstrap: this.config.bootstrap,
      workerIndex: index,
      concurrency: this.concurrency,
      logLevel: this.#logLevel,
      statsSlots: STATS_SLOTS,
      ports,
      preload: this.#opts.preload ?? [],
      wasm: this.#wasmWorkerInit(),
    };
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: init });
    const handle = { index, worker } as WorkerHandle;
    handle.ready = new Promise((resolve, reject) => {
      worker.on('message', (msg: WorkerToMain) => {
        switch (msg.type) {
          case 'wasm-reply': {
            const reply = this.#wasmReplies.get(msg.id);
            this.#wasmReplies.delete(msg.id);
            reply?.(msg);
            break;
          }
          case 'stats':
            this.#reader.attach(`worker-${index}`, msg.buffer);
            this.#segments.set(`worker-${index}`, msg.buffer);
            // Every worker sees every segment: wasm metrics read process-wide values (proxy_get_metric).
            this.#broadcast({ type: 'stats-segments', segments: [...this.#segments].map(([id, buffer]) => ({ id, buffer })) });
            break;
          case 'ready':
            resolve({ listeners: msg.listeners, hosts: msg.hosts });
            break;
          case 'hosts':
            if (index === 0) this.#hosts = msg.hosts;
            break;
          case 'error':
            reject(new SluiceError(ErrorCode.LISTEN, `worker ${index} failed to start: ${msg.message}`));
            break;
        }
      });
      worker.once('error', (err) => {
        this.log.error({ err, worker: index }, 'worker crashed');
        reject(err);
      });
      worker.once('exit', (code) => {
        if (this.#state !== 'DRAINING' && code !== 0) {
          this.log.error({ worker: index, code }, 'worker exited');
          reject(new Error(`worker ${index} exited with code ${code}`));
        }
      });
    });
    this.#workers.push(handle);
    return handle;
  }

  #broadcast(m: MainToWorker): void {
    for (const w of this.#workers) w.worker.postMessage(m);
  }

  /** Drains every worker (in-flight requests finish, bounded by the drain timeout), then stops. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#state = 'DRAINING';
    this.#mainStats.gauge('server.state').set(SERVER_STATE.DRAINING);
    if (this.#flushTimer) clearInterval(this.#flushTimer);
    await this.#wasmWatcher?.close();
    this.#mainStats.gauge('server.live').set(0);
    const timeout = this.#opts.drainTimeoutMs ?? defaults.DEFAULT_DRAIN_TIMEOUT_MS;
    const drained = this.#workers.map(async (w) => {
      const done = new Promise<void>((resolve) => {
        w.worker.on('message', (m: WorkerToMain) => {
          if (m.type === 'drained') resolve();
        });
        w.worker.once('exit', () => resolve());
      });
      w.worker.postMessage({ type: 'drain', timeoutMs: timeout } satisfies MainToWorker);
      // A worker that does not report back in time is terminated anyway.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, timeout + 2000)))]);
      clearTimeout(timer);
      this.#reader.detach(`worker-${w.index}`);
      await w.worker.terminate();
    });
    await Promise.all(drained);
    await this.#adminServer?.close();
    this.log.info('sluice stopped');
    this.log.flush?.();
  }

  // ---- admin ----

  #adminDeps(): AdminDeps {
    const deployer = this.#deployer;
    return {
      wasm:
        deployer === undefined
          ? undefined
          : {
              status: () => deployer.status(),
              deploy: (name, bytes, source) => deployer.deploy(name, bytes, source),
              rollback: (name) => deployer.rollback(name),
            },
      stats: () => {
        this.#mainStats.gauge('server.uptime').set(Math.floor((Date.now() - this.#startedAt) / 1000));
        return withoutPrefix(this.#reader.snapshot(), HOST_STATS_PREFIX);
      },
      resetCounters: () => this.#reader.resetCounters(),
      // Envoy: a failed health check reports DRAINING (and /ready answers 503) while serving on.
      state: () => this.#reportedState(),
      serverInfo: () => ({
        version: `sluice/${SLUICE_VERSION}`,
        state: this.#reportedState(),
        hot_restart_version: 'disabled',
        command_line_options: {
          concurrency: this.concurrency,
          log_level: this.#logLevel,
          config_path: this.config.source ?? '',
          drain_time: `${(this.#opts.drainTimeoutMs ?? defaults.DEFAULT_DRAIN_TIMEOUT_MS) / 1000}s`,
          service_node: this.config.bootstrap.node?.id ?? '',
          service_cluster: this.config.bootstrap.node?.cluster ?? '',
        },
        uptime_current_epoch: `${Math.floor((Date.now() - this.#startedAt) / 1000)}s`,
        uptime_all_epochs: `${Math.floor((Date.now() - this.#startedAt) / 1000)}s`,
        node: this.config.bootstrap.node ?? {},
        hostname: hostname(),
      }),
      configDump: () => this.#configDump(),
      clusters: () => this.#clusterStatuses(),
      listeners: () => this.listeners.map((l) => ({ name: l.name, address: `${l.address}:${l.port}` })),
      healthcheckFail: () => {
        this.#healthFailed = true;
        this.#mainStats.gauge('server.state').set(SERVER_STATE.DRAINING);
        this.#mainStats.gauge('server.live').set(0);
        this.#broadcast({ type: 'healthcheck', failed: true });
      },
      healthcheckOk: () => {
        this.#healthFailed = false;
        if (this.#state === 'LIVE') {
          this.#mainStats.gauge('server.state').set(SERVER_STATE.LIVE);
          this.#mainStats.gauge('server.live').set(1);
        }
        this.#broadcast({ type: 'healthcheck', failed: false });
      },
      logging: () => ({
        levels: { sluice: this.#logLevel },
        set: (logger: string | undefined, level: string) => {
          if (logger !== undefined && logger !== 'sluice' && logger !== 'admin' && logger !== 'all') return false;
          const pinoLevel = ENVOY_TO_PINO_LEVEL[level];
          if (pinoLevel === undefined) return false;
          this.#logLevel = pinoLevel;
          this.log.level = pinoLevel;
          this.#broadcast({ type: 'log-level', level: pinoLevel });
          return true;
        },
      }),
      quit: () => {
        if (this.#opts.onQuit) this.#opts.onQuit();
        else void this.stop();
      },
    };
  }

  /** Envoy: a failed health check reports DRAINING (and /ready answers 503) while it serves on. */
  #reportedState(): State {
    return this.#state === 'LIVE' && this.#healthFailed ? 'DRAINING' : this.#state;
  }


  #configDump(): Record<string, unknown> {
    const raw = this.config.raw as Record<string, any>;
    const lastUpdated = new Date(this.#startedAt).toISOString();
    return {
      configs: [
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
          bootstrap: raw,
          last_updated: lastUpdated,
        },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
          version_info: this.config.version,
          static_clusters: (raw.static_resources?.clusters ?? []).map((c: unknown) => ({
            cluster: { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', ...(c as object) },
            last_updated: lastUpdated,
          })),
          dynamic_active_clusters: [],
        },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
          version_info: this.config.version,
          static_listeners: (raw.static_resources?.listeners ?? []).map((l: unknown) => ({
            listener: { '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener', ...(l as object) },
            last_updated: lastUpdated,
          })),
          dynamic_listeners: [],
        },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
          static_route_configs: (raw.static_resources?.listeners ?? []).flatMap((l: any) =>
            (l.filter_chains ?? []).flatMap((fc: any) =>
              (fc.filters ?? [])
                .map((f: any) => f.typed_config?.route_config)
                .filter((rc: unknown) => rc !== undefined)
                .map((rc: unknown) => ({
                  route_config: { '@type': 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration', ...(rc as object) },
                  last_updated: lastUpdated,
                })),
            ),
          ),
          dynamic_route_configs: [],
        },
      ],
    };
  }

  #clusterStatuses(): ClusterStatus[] {
    const snap = this.#reader.snapshot();
    const out: ClusterStatus[] = [];
    for (const c of this.config.bootstrap.static_resources.clusters) {
      const def = c.circuit_breakers?.thresholds.find((t) => t.priority === 'DEFAULT');
      const high = c.circuit_breakers?.thresholds.find((t) => t.priority === 'HIGH');
      const thresholds = (t: typeof def) => ({
        max_connections: t?.max_connections ?? defaults.DEFAULT_CIRCUIT_BREAKERS.max_connections,
        max_pending_requests: t?.max_pending_requests ?? defaults.DEFAULT_CIRCUIT_BREAKERS.max_pending_requests,
        max_requests: t?.max_requests ?? defaults.DEFAULT_CIRCUIT_BREAKERS.max_requests,
        max_retries: t?.max_retries ?? defaults.DEFAULT_CIRCUIT_BREAKERS.max_retries,
      });
      const hosts = (this.#hosts[c.name] ?? []).map((h) => {
        const stats: Record<string, number> = {};
        for (const n of HOST_STAT_NAMES) {
          const name = `${HOST_STATS_PREFIX}${c.name}.${h.address}.${n}`;
          stats[n] = snap.counters.get(name) ?? snap.gauges.get(name) ?? 0;
        }
        return {
          address: h.address,
          hostname: h.hostname ?? '',
          weight: h.weight,
          priority: h.priority,
          health: 'healthy',
          region: '',
          zone: '',
          sub_zone: '',
          stats,
        };
      });
      out.push({
        name: c.name,
        added_via_api: false,
        circuit_breakers: { default: thresholds(def), high: thresholds(high) },
        hosts,
      } as unknown as ClusterStatus);
    }
    return out;
  }
}

/** Per-host stats feed /clusters only; /stats and /stats/prometheus show Envoy's names alone. */
function withoutPrefix(snap: StatsSnapshot, prefix: string): StatsSnapshot {
  const keep = <V>(m: ReadonlyMap<string, V>) => {
    const out = new Map<string, V>();
    for (const [k, v] of m) if (!k.startsWith(prefix)) out.set(k, v);
    return out;
  };
  return { counters: keep(snap.counters), gauges: keep(snap.gauges), histograms: keep(snap.histograms) };
}
