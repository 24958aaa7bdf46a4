import { Worker } from 'node:worker_threads';
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
import { prepareValidation, validateSnapshot, type ValidatedSnapshot } from './validate.ts';
import { SharedData } from '../wasm/shared-data.ts';
import { SharedQueues } from '../wasm/shared-queues.ts';
import type { WasmWorkerInit } from '../wasm/wasm-runtime.ts';
import { WasmDeployer, type WasmReply, type WasmRequest } from './wasm-deploy.ts';
import { WasmFileWatcher } from './wasm-watch.ts';
import { ConfigReloader, RELOAD_STEP_TIMEOUT_MS, type AppliedReload, type ReloadResult } from './config-reload.ts';
import { ConfigFileWatcher } from './config-watch.ts';
import { watchTargets } from '../config/config-sources.ts';
import { buildConfigDump, ResourceTimes } from '../admin/config-dump.ts';
import type { ReloadReply, ReloadRequest } from './messages.ts';
import { prepareWorkerHeaps, WORKER_YOUNG_GENERATION_MB } from './worker-heap.ts';

export type { ReloadResult } from './config-reload.ts';

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
  /**
   * Watch wasm code files, the config file and its LDS/CDS files, and apply changes live
   * (`sluice run --no-watch` turns it off). Default true.
   */
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
  #config: ConfigSnapshot;
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
    this.#config = opts.config;
    this.#logLevel = opts.logLevel ?? 'info';
    this.log = opts.log ?? createLogger(this.#logLevel);
    this.concurrency = Math.max(1, opts.concurrency ?? availableParallelism());
    this.#reader.attach('main', this.#mainStats.buffer);
  }

  static async start(opts: SluiceOptions): Promise<Sluice> {
    await prepareValidation(opts.config);
    const validated = validateSnapshot(opts.config, opts.log);
    prepareWorkerHeaps();
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

  /** The live config: what every worker serves and /config_dump shows (replaced by a reload). */
  get config(): ConfigSnapshot {
    return this.#config;
  }

  /**
   * Applies a new snapshot on every worker: routes, clusters, listeners, filter chains (wasm
   * plugins included). Keep-alive connections stay open and streams in flight finish on the config
   * they started with. An invalid snapshot, or one a worker cannot apply, is rejected with its
   * problems and the old config keeps serving. The file watcher reloads through here too.
   */
  reload(snapshot: ConfigSnapshot): Promise<ReloadResult> {
    if (this.#reloader === undefined) {
      return Promise.resolve({ ok: false, problems: [{ path: '(root)', message: `cannot reload while ${this.#state}` }] });
    }
    const reloader = this.#reloader;
    return this.#exclusive(() => reloader.reload(snapshot));
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
    await this.#startConfigReload();
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
      exclusive: (fn) => this.#exclusive(fn),
    });
    this.#deployer = deployer;
    await this.#watchWasmFiles();
  }

  /** (Re)starts watching the code files of the live config's wasm plugins. */
  async #watchWasmFiles(): Promise<void> {
    await this.#wasmWatcher?.close();
    this.#wasmWatcher = undefined;
    const deployer = this.#deployer;
    if (this.#opts.watch === false || deployer === undefined || deployer.files().length === 0) return;
    this.#wasmWatcher = new WasmFileWatcher(deployer, this.log);
    await this.#wasmWatcher.ready();
  }

  #workerOps: Promise<unknown> = Promise.resolve();

  /**
   * Config reloads and wasm deploys both prepare and commit on every worker; they run one at a
   * time so a reload never builds a plugin in the middle of a swap.
   */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#workerOps.then(fn, fn);
    this.#workerOps = run.catch(() => undefined);
    return run;
  }
  #wasmInit: WasmWorkerInit | undefined;
  #reloader: ConfigReloader | undefined;
  #configWatcher: ConfigFileWatcher | undefined;
  readonly #times = new ResourceTimes();
  readonly #reloadReplies = new Map<number, (r: ReloadReply) => void>();
  #nextReloadRequest = 0;

  async #startConfigReload(): Promise<void> {
    this.#times.record(this.#config, new Date(this.#startedAt));
    const reloader = new ConfigReloader({
      log: this.log,
      stats: this.#mainStats,
      drainTimeoutMs: this.#opts.drainTimeoutMs ?? defaults.DEFAULT_DRAIN_TIMEOUT_MS,
      workers: () => this.#workers.length,
      ask: (worker, msg) => this.#askWorker(worker, msg),
      current: () => this.#config,
      refusal: () => (this.#state === 'LIVE' ? undefined : `cannot reload while ${this.#state}`),
      onApplied: (applied) => this.#onReloaded(applied),
    });
    reloader.recordInitial(this.#config);
    this.#reloader = reloader;
    if (this.#opts.watch === false) return;
    this.#configWatcher = new ConfigFileWatcher({
      log: this.log,
      onChange: () => {
        this.#exclusive(() => reloader.reloadFromFiles()).catch((err: Error) => this.log.error({ err: err.message }, 'config reload failed'));
      },
    });
    await this.#configWatcher.watch(watchTargets(this.#config));
  }

  /** Every worker switched to `applied.snapshot`: it is the live config from now on. */
  #onReloaded(applied: AppliedReload): void {
    const before = this.#config;
    this.#config = applied.snapshot;
    this.#validated = applied.validated;
    this.listeners = applied.listeners;
    this.#hosts = applied.hosts;
    this.#times.record(applied.snapshot);
    this.#deployer?.setConfig(applied.snapshot, applied.validated.wasmModules);
    this.#watchWasmFiles().catch((err: Error) => this.log.warn({ err: err.message }, 'wasm file watcher error'));
    const interval = applied.snapshot.bootstrap.stats_flush_interval;
    if (interval !== before.bootstrap.stats_flush_interval && this.#flushTimer !== undefined) {
      clearInterval(this.#flushTimer);
      this.#flushTimer = setInterval(() => this.#reader.latchIntervals(), interval ?? defaults.DEFAULT_STATS_FLUSH_INTERVAL_MS);
      this.#flushTimer.unref();
    }
    // A reload may name other LDS/CDS files (or symlinks may now resolve elsewhere).
    this.#configWatcher?.watch(watchTargets(applied.snapshot)).catch((err: Error) => this.log.warn({ err: err.message }, 'config file watcher error'));
  }

  /** One reload step to one worker; no answer in time counts as a failure. */
  #askWorker(index: number, msg: ReloadRequest): Promise<ReloadReply> {
    const w = this.#workers[index];
    const id = ++this.#nextReloadRequest;
    return new Promise<ReloadReply>((resolve) => {
      const timer = setTimeout(() => {
        this.#reloadReplies.delete(id);
        resolve({ type: 'reload-reply', id, ok: false, error: `worker ${index} did not answer ${msg.type}` });
      }, RELOAD_STEP_TIMEOUT_MS);
      timer.unref();
      this.#reloadReplies.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      w.worker.postMessage({ ...msg, id } satisfies MainToWorker);
    });
  }

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
      resources: { listeners: this.config.listeners, clusters: this.config.clusters },
      workerIndex: index,
      concurrency: this.concurrency,
      logLevel: this.#logLevel,
      statsSlots: STATS_SLOTS,
      ports,
      preload: this.#opts.preload ?? [],
      wasm: this.#wasmWorkerInit(),
    };
    const worker = new Worker(new URL('./worker.ts', import.meta.url), {
      workerData: init,
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    const handle = { index, worker } as WorkerHandle;
    handle.ready = new Promise((resolve, reject) => {
      worker.on('message', (msg: WorkerToMain) => {
        switch (msg.type) {
          case 'reload-reply': {
            const reply = this.#reloadReplies.get(msg.id);
            this.#reloadReplies.delete(msg.id);
            reply?.(msg);
            break;
          }
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
    await this.#configWatcher?.close();
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
    return buildConfigDump(this.#config, this.#times);
  }

  #clusterStatuses(): ClusterStatus[] {
    const snap = this.#reader.snapshot();
    const out: ClusterStatus[] = [];
    const statics = this.config.bootstrap.static_resources.clusters.length;
    for (const [i, c] of this.config.clusters.entries()) {
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
        added_via_api: i >= statics,
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
