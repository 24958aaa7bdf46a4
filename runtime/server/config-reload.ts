import { createHash } from 'node:crypto';
import { changedOnDisk, changedSources, type ConfigSourceKind } from '../config/config-sources.ts';
import { reloadConfig } from '../config/load.ts';
import type { ConfigSnapshot } from '../config/types.ts';
import { ConfigError, SluiceError, formatProblem, type ConfigProblem } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Stats } from '../stats/types.ts';
import type { BoundListener } from './data-plane.ts';
import type { HostsByCluster, ReloadReply, ReloadRequest } from './messages.ts';
import { prepareValidation, validateSnapshot, type ValidatedSnapshot } from './validate.ts';

export type ReloadResult = { ok: true; version: string } | { ok: false; problems: ConfigProblem[] };

/** A snapshot every worker switched to. */
export interface AppliedReload {
  snapshot: ConfigSnapshot;
  validated: ValidatedSnapshot;
  /** Worker 0's listeners after the switch (the real ports of port-0 listeners). */
  listeners: BoundListener[];
  hosts: HostsByCluster;
}

/**
 * Counters and gauges per input, in Envoy's subscription-stat pattern (`update_attempt`,
 * `update_success`, `update_rejected`, `update_time`, `version`). LDS and CDS use Envoy's trees;
 * the bootstrap file, which Envoy never reloads, gets `server.bootstrap.*`.
 */
const STAT_TREE: Record<ConfigSourceKind, string> = {
  bootstrap: 'server.bootstrap',
  lds: 'listener_manager.lds',
  cds: 'cluster_manager.cds',
};

export interface ConfigReloaderOptions {
  log: Logger;
  /** The main thread's store. */
  stats: Stats;
  /** How long removed listeners drain. */
  drainTimeoutMs: number;
  workers: () => number;
  /** Sends one reload step to worker `worker` and resolves with its reply (a failed one on timeout). */
  ask: (worker: number, msg: ReloadRequest) => Promise<ReloadReply>;
  /** The live snapshot. */
  current: () => ConfigSnapshot;
  /** Why a reload cannot run now (not live yet, draining), else undefined. */
  refusal: () => string | undefined;
  /** Every worker switched: make `applied.snapshot` the live config. */
  onApplied: (applied: AppliedReload) => void;
}

/** A worker that does not answer a reload step in this long counts as having failed it. */
export const RELOAD_STEP_TIMEOUT_MS = 30_000;

/**
 * Config reload on the main thread. A new snapshot is validated here (route tables, access-log
 * formats, wasm modules compiled and canaried), then applied in two steps: every worker prepares
 * it (worker 0 first, so new port-0 listeners get one port all workers share), and only when all
 * of them did, every worker commits; otherwise every worker drops it. So the old config keeps
 * serving everywhere after any failure, and `onApplied` (which makes the snapshot what
 * /config_dump shows) runs only once every worker switched. Reloads run one at a time.
 */
export class ConfigReloader {
  readonly #log: Logger;
  readonly #stats: Stats;
  readonly #opts: ConfigReloaderOptions;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ConfigReloaderOptions) {
    this.#log = opts.log;
    this.#stats = opts.stats;
    this.#opts = opts;
  }

  /** Stats for the snapshot the server started with (Envoy counts the initial LDS/CDS fetch too). */
  recordInitial(snapshot: ConfigSnapshot): void {
    this.#gauge('server.bootstrap.version', versionNumber(snapshot.bootstrapHash));
    for (const kind of ['lds', 'cds'] as const) {
      const file = snapshot.dynamic[kind];
      if (file === undefined) continue;
      this.#counter(`${STAT_TREE[kind]}.update_attempt`);
      this.#counter(`${STAT_TREE[kind]}.update_success`);
      this.#gauge(`${STAT_TREE[kind]}.version`, versionNumber(file.version_info));
      this.#gauge(`${STAT_TREE[kind]}.update_time`, Date.now());
    }
    this.#counter('listener_manager.listener_added', snapshot.listeners.length);
    this.#counter('cluster_manager.cluster_added', snapshot.clusters.length);
    this.#gauge('listener_manager.total_listeners_active', snapshot.listeners.length);
    this.#gauge('cluster_manager.active_clusters', snapshot.clusters.length);
  }

  /** Applies `snapshot` (already loaded). A snapshot identical to the live one changes nothing. */
  reload(snapshot: ConfigSnapshot): Promise<ReloadResult> {
    return this.#serial(() => this.#apply(snapshot));
  }

  /**
   * Re-reads the files the live snapshot came from and applies them when any now holds something
   * else. Resolves undefined when nothing changed.
   */
  reloadFromFiles(): Promise<ReloadResult | undefined> {
    return this.#serial(async () => {
      const current = this.#opts.current();
      const changed = changedOnDisk(current);
      if (changed.length === 0) return undefined;
      let next: ConfigSnapshot;
      try {
        next = reloadConfig(current);
      } catch (err) {
        this.#count(changed, 'update_attempt');
        return this.#reject(changed, problemsOf(err), current.source);
      }
      return this.#apply(next);
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #apply(snapshot: ConfigSnapshot): Promise<ReloadResult> {
    const current = this.#opts.current();
    const changed = changedSources(current, snapshot);
    if (changed.length === 0) return { ok: true, version: current.version };
    this.#count(changed, 'update_attempt');
    const refusal = this.#opts.refusal();
    if (refusal !== undefined) return this.#reject(changed, [{ path: '(root)', message: refusal }], snapshot.source);
    let validated: ValidatedSnapshot;
    try {
      await prepareValidation(snapshot);
      validated = validateSnapshot(snapshot, this.#log);
    } catch (err) {
      return this.#reject(changed, problemsOf(err), snapshot.source);
    }
    const fixed = fixedFieldProblems(current, snapshot);
    if (fixed.length > 0) return this.#reject(changed, fixed, snapshot.source);
    const applied = await this.#applyToWorkers(snapshot, validated);
    if ('problems' in applied) return this.#reject(changed, applied.problems, snapshot.source);
    this.#count(changed, 'update_success');
    this.#recordApplied(current, snapshot, changed);
    this.#opts.onApplied(applied);
    this.#log.info(
      { version: snapshot.version, changed, listeners: snapshot.listeners.length, clusters: snapshot.clusters.length },
      'config reloaded',
    );
    return { ok: true, version: snapshot.version };
  }

  async #applyToWorkers(snapshot: ConfigSnapshot, validated: ValidatedSnapshot): Promise<AppliedReload | { problems: ConfigProblem[] }> {
    const ask = this.#opts.ask;
    const resources = { listeners: snapshot.listeners, clusters: snapshot.clusters };
    const prepare = { type: 'reload-prepare', resources, wasmModules: validated.wasmModules } as const;
    const workers = [...Array(this.#opts.workers()).keys()];
    const first = await ask(0, prepare);
    const replies = [first];
    if (first.ok) {
      const ports: Record<string, number> = {};
      for (const l of first.listeners ?? []) ports[l.name] = l.port;
      replies.push(...(await Promise.all(workers.slice(1).map((i) => ask(i, { ...prepare, ports })))));
    }
    const failed = replies.flatMap((r, i) => (r.ok ? [] : [{ path: '(root)', message: `worker ${i} could not apply the config: ${r.error ?? 'no reason given'}` }]));
    if (failed.length > 0) {
      await Promise.all(workers.map((i) => ask(i, { type: 'reload-abort' })));
      return { problems: failed };
    }
    const committed = await Promise.all(workers.map((i) => ask(i, { type: 'reload-commit', drainTimeoutMs: this.#opts.drainTimeoutMs })));
    committed.forEach((r, i) => {
      // Prepare succeeded, so this is a worker that died or hung since: the others have switched.
      if (!r.ok) this.#log.error({ worker: i, err: r.error }, 'a worker did not confirm the config switch');
    });
    return { snapshot, validated, listeners: committed[0].listeners ?? [], hosts: committed[0].hosts ?? {} };
  }

  #reject(changed: ConfigSourceKind[], problems: ConfigProblem[], source: string | undefined): ReloadResult {
    this.#count(changed, 'update_rejected');
    this.#log.warn({ source, changed, problems: problems.length }, 'config update rejected; the previous config keeps serving');
    // One line per problem, as `sluice validate` prints them.
    for (const p of problems) this.#log.warn(formatProblem(p));
    return { ok: false, problems };
  }

  #recordApplied(from: ConfigSnapshot, to: ConfigSnapshot, changed: ConfigSourceKind[]): void {
    const now = Date.now();
    for (const kind of changed) {
      const version = kind === 'bootstrap' ? to.bootstrapHash : to.dynamic[kind]?.version_info;
      this.#gauge(`${STAT_TREE[kind]}.version`, version === undefined ? 0 : versionNumber(version));
      this.#gauge(`${STAT_TREE[kind]}.update_time`, now);
    }
    const diff = (a: ReadonlyArray<{ name: string }>, b: ReadonlyArray<{ name: string }>) => {
      const before = new Map(a.map((x) => [x.name, JSON.stringify(x)]));
      const after = new Map(b.map((x) => [x.name, JSON.stringify(x)]));
      let added = 0;
      let modified = 0;
      for (const [name, json] of after) {
        const old = before.get(name);
        if (old === undefined) added++;
        else if (old !== json) modified++;
      }
      return { added, modified, removed: [...before.keys()].filter((n) => !after.has(n)).length };
    };
    const l = diff(from.listeners, to.listeners);
    this.#counter('listener_manager.listener_added', l.added);
    this.#counter('listener_manager.listener_modified', l.modified);
    this.#counter('listener_manager.listener_removed', l.removed);
    this.#gauge('listener_manager.total_listeners_active', to.listeners.length);
    const c = diff(from.clusters, to.clusters);
    this.#counter('cluster_manager.cluster_added', c.added);
    this.#counter('cluster_manager.cluster_modified', c.modified);
    this.#counter('cluster_manager.cluster_removed', c.removed);
    this.#gauge('cluster_manager.active_clusters', to.clusters.length);
  }

  #count(changed: ConfigSourceKind[], stat: 'update_attempt' | 'update_success' | 'update_rejected'): void {
    for (const kind of changed) this.#counter(`${STAT_TREE[kind]}.${stat}`);
  }

  #counter(name: string, n = 1): void {
    this.#stats.counter(name).add(n);
  }

  #gauge(name: string, value: number): void {
    this.#stats.gauge(name).set(value);
  }
}

/**
 * Parts of the bootstrap a running server cannot change: the admin server (its address and
 * access log are bound at start). Everything else is applied live.
 */
function fixedFieldProblems(from: ConfigSnapshot, to: ConfigSnapshot): ConfigProblem[] {
  if (JSON.stringify(from.bootstrap.admin ?? null) === JSON.stringify(to.bootstrap.admin ?? null)) return [];
  return [{ path: 'admin', message: 'the admin server cannot change while Sluice runs; restart Sluice to apply it' }];
}

function problemsOf(err: unknown): ConfigProblem[] {
  if (err instanceof ConfigError) return [...err.problems];
  if (err instanceof SluiceError) return [{ path: err.source ?? '(root)', message: err.message }];
  return [{ path: '(root)', message: (err as Error).message }];
}

/** Envoy's `version` gauges hold a hash of the version; 48 bits fit a gauge exactly. */
function versionNumber(version: string): number {
  return Number.parseInt(createHash('sha256').update(version).digest('hex').slice(0, 12), 16);
}
