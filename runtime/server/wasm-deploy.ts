import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConfigSnapshot } from '../config/types.ts';
import { WASM_FILTER_TYPE_URL, wasmPluginConfig, type WasmPluginConfig } from '../config/wasm.ts';
import type { Logger } from '../log.ts';
import type { Counter, Stats } from '../stats/types.ts';
import { canaryPlugin } from '../wasm/canary.ts';
import { compileSandboxed, type CompiledModule } from '../wasm/module.ts';
import { codeKey, pluginSandbox, type WasmPluginWorkerStatus } from '../wasm/wasm-runtime.ts';

/** How the deployer talks to workers (one request, one reply each). */
export interface WorkerChannel {
  /** Sends `msg` (without `id`) to every worker and resolves with each worker's reply, in worker order. */
  ask(msg: WasmRequest): Promise<WasmReply[]>;
}

export type WasmRequest =
  | { type: 'wasm-prepare'; plugin: string; module: CompiledModule; generation: number }
  | { type: 'wasm-commit'; plugin: string }
  | { type: 'wasm-abort'; plugin: string }
  | { type: 'wasm-status' };

export interface WasmReply {
  ok: boolean;
  error?: string;
  status?: WasmPluginWorkerStatus[];
}

/** One module version a plugin has run. */
interface Version {
  readonly generation: number;
  readonly module: CompiledModule;
  readonly loadedAt: number;
  readonly source: string;
}

interface PluginState {
  readonly name: string;
  readonly configs: WasmPluginConfig[];
  /** Newest last; the last entry is live. Bounded history for rollback. */
  readonly versions: Version[];
  lastError: string | undefined;
  swaps: number;
  readonly swapFailed: Counter;
  readonly swapSuccess: Counter;
}

export type DeployResult =
  | { ok: true; plugin: string; generation: number; sha256: string; unchanged?: boolean }
  | { ok: false; plugin: string; error: string; status: number };

const HISTORY = 10;

/**
 * Hot deploy of wasm modules (DESIGN.md "Swap"), run on the main thread. A new version is compiled
 * and canaried here, then prepared on every worker (instantiated, `proxy_on_vm_start`,
 * `proxy_on_configure`); only when every worker prepared it does any worker flip. A stream keeps
 * the generation it started on; the old generation is retired on each worker when its last stream
 * ends. A failure at any step leaves the current version serving and is reported (log,
 * `wasm.<plugin>.swap_failed`, admin). Deploys of one plugin are serialized.
 */
export class WasmDeployer {
  readonly #log: Logger;
  readonly #stats: Stats;
  readonly #channel: WorkerChannel;
  readonly #counterValue: (name: string) => number;
  readonly #exclusive: (<T>(fn: () => Promise<T>) => Promise<T>) | undefined;
  readonly #plugins = new Map<string, PluginState>();
  #queue: Promise<unknown> = Promise.resolve();
  /** Content hash last read from each watched file. */
  readonly #fileSha = new Map<string, string>();

  constructor(opts: {
    log: Logger;
    /** The main thread's store (swap counters are written here). */
    stats: Stats;
    /** Process-wide value of a counter (summed over threads). */
    counterValue: (name: string) => number;
    channel: WorkerChannel;
    config: ConfigSnapshot;
    modules: Record<string, CompiledModule>;
    /** Runs worker-changing operations one at a time, shared with config reloads. */
    exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  }) {
    this.#exclusive = opts.exclusive;
    this.#log = opts.log;
    this.#stats = opts.stats;
    this.#counterValue = opts.counterValue;
    this.#channel = opts.channel;
    this.setConfig(opts.config, opts.modules);
  }

  /** (Re)reads which wasm plugins the config has; keeps the history of plugins that remain. */
  setConfig(config: ConfigSnapshot, modules: Record<string, CompiledModule>): void {
    const seen = new Map<string, WasmPluginConfig[]>();
    for (const l of config.listeners) {
      for (const fc of l.filter_chains) {
        for (const f of fc.filters) {
          for (const hf of f.http_connection_manager?.http_filters ?? []) {
            if (hf.typed_config?.type_url !== WASM_FILTER_TYPE_URL) continue;
            const cfg = wasmPluginConfig(hf.typed_config.value as Record<string, unknown>);
            const list = seen.get(cfg.name) ?? [];
            list.push(cfg);
            seen.set(cfg.name, list);
          }
        }
      }
    }
    for (const name of [...this.#plugins.keys()]) if (!seen.has(name)) this.#plugins.delete(name);
    for (const [name, configs] of seen) {
      const existing = this.#plugins.get(name);
      const module = modules[codeKey(configs[0])];
      if (existing !== undefined) {
        existing.configs.splice(0, existing.configs.length, ...configs);
        continue;
      }
      const c = configs[0];
      if (c.code.kind === 'file' && module !== undefined && !this.#fileSha.has(c.code.path)) this.#fileSha.set(c.code.path, module.sha256);
      this.#plugins.set(name, {
        name,
        configs,
        versions: module === undefined ? [] : [{ generation: 1, module, loadedAt: Date.now(), source: module.source }],
        lastError: undefined,
        swaps: 0,
        swapFailed: this.#stats.counter(`wasm.${name}.swap_failed`),
        swapSuccess: this.#stats.counter(`wasm.${name}.swap_success`),
      });
    }
  }

  /** Plugin names and the files their code comes from (what the file watcher watches). */
  files(): Array<{ plugin: string; path: string }> {
    const out: Array<{ plugin: string; path: string }> = [];
    for (const p of this.#plugins.values()) {
      const c = p.configs[0];
      if (c.code.kind === 'file') out.push({ plugin: p.name, path: c.code.path });
    }
    return out;
  }

  has(name: string): boolean {
    return this.#plugins.has(name);
  }

  /** Deploys `bytes` as the next version of plugin `name`. */
  deploy(name: string, bytes: Uint8Array, source: string): Promise<DeployResult> {
    return this.#serialize(() =>
      this.#deploy(name, () => {
        const p = this.#plugins.get(name);
        return compileSandboxed(bytes, source, pluginSandbox(p?.configs[0] as WasmPluginConfig));
      }),
    );
  }

  /** Returns plugin `name` to the version before the live one. */
  rollback(name: string): Promise<DeployResult> {
    return this.#serialize(async () => {
      const p = this.#plugins.get(name);
      if (p === undefined) return { ok: false, plugin: name, error: `no wasm plugin named "${name}"`, status: 404 };
      const previous = p.versions[p.versions.length - 2];
      if (previous === undefined) return { ok: false, plugin: name, error: `plugin "${name}" has no previous version`, status: 409 };
      const result = await this.#deploy(name, () => previous.module, true);
      if (result.ok) {
        // The rolled-back-from version is dropped so a second rollback goes one further back.
        p.versions.splice(p.versions.length - 3, 2);
      }
      return result;
    });
  }

  /** Reads the file a plugin's code comes from and deploys it if it is a complete module with new content. */
  deployFile(name: string, path: string): Promise<DeployResult | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch {
      return Promise.resolve(undefined); // gone for a moment (rename-over); the next event brings it back
    }
    // A partial write is never loaded: only a module that validates completely is a candidate.
    if (!WebAssembly.validate(bytes)) return Promise.resolve(undefined);
    // Only a change of the file's own content deploys: an event for a sibling file, or a file
    // that still holds what was loaded from it before an admin deploy, changes nothing.
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (this.#fileSha.get(path) === sha) return Promise.resolve(undefined);
    this.#fileSha.set(path, sha);
    return this.deploy(name, bytes, path);
  }

  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#exclusive !== undefined) return this.#exclusive(fn);
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #deploy(name: string, load: () => CompiledModule, isRollback = false): Promise<DeployResult> {
    const p = this.#plugins.get(name);
    if (p === undefined) return { ok: false, plugin: name, error: `no wasm plugin named "${name}"`, status: 404 };
    const fail = (error: string, status: number): DeployResult => {
      p.lastError = error;
      p.swapFailed.inc();
      this.#log.error({ plugin: name, err: error }, 'wasm swap failed; the current version keeps serving');
      return { ok: false, plugin: name, error, status };
    };
    let module: CompiledModule;
    try {
      module = load();
      const live = p.versions[p.versions.length - 1];
      if (!isRollback && live !== undefined && live.module.sha256 === module.sha256) {
        return { ok: true, plugin: name, generation: live.generation, sha256: module.sha256, unchanged: true };
      }
      for (const cfg of p.configs) canaryPlugin(cfg, module, this.#log);
    } catch (err) {
      return fail((err as Error).message, 400);
    }
    const generation = (p.versions[p.versions.length - 1]?.generation ?? 0) + 1;
    const prepared = await this.#channel.ask({ type: 'wasm-prepare', plugin: name, module, generation });
    const failed = prepared.find((r) => !r.ok);
    if (failed !== undefined) {
      await this.#channel.ask({ type: 'wasm-abort', plugin: name });
      return fail(failed.error ?? 'a worker could not prepare the new version', 500);
    }
    await this.#channel.ask({ type: 'wasm-commit', plugin: name });
    p.versions.push({ generation, module, loadedAt: Date.now(), source: module.source });
    if (p.versions.length > HISTORY) p.versions.shift();
    p.swaps++;
    p.lastError = undefined;
    p.swapSuccess.inc();
    this.#log.info({ plugin: name, generation, sha256: module.sha256, source: module.source }, isRollback ? 'wasm plugin rolled back' : 'wasm plugin swapped');
    return { ok: true, plugin: name, generation, sha256: module.sha256 };
  }

  /** `GET /wasm/plugins`: each plugin with its live version, history and per-worker state. */
  async status(): Promise<Record<string, unknown>> {
    const replies = await this.#channel.ask({ type: 'wasm-status' });
    const plugins = [...this.#plugins.values()].map((p) => {
      const live = p.versions[p.versions.length - 1];
      const workers = replies.map((r) => (r.status ?? []).filter((s) => s.name === p.name));
      const streams: Record<string, number> = {};
      for (const w of workers) for (const s of w) for (const [g, n] of Object.entries(s.streamsByGeneration)) streams[g] = (streams[g] ?? 0) + n;
      const failures = workers.flat().filter((s) => s.vmFailed !== undefined || s.crashLooping);
      return {
        name: p.name,
        vm_id: p.configs[0].vmId,
        root_id: p.configs[0].rootId,
        generation: live?.generation ?? 0,
        sha256: live?.module.sha256,
        source: live?.source,
        loaded_at: live === undefined ? undefined : new Date(live.loadedAt).toISOString(),
        active_streams: streams,
        traps: this.#counterValue(`wasm.${p.name}.traps`),
        vm_reloads: workers.flat().reduce((n, s) => n + s.reloads, 0),
        swap_failed: this.#counterValue(`wasm.${p.name}.swap_failed`),
        crash_looping: failures.some((s) => s.crashLooping),
        last_error: p.lastError ?? failures.map((s) => s.lastError ?? s.vmFailed).find((e) => e !== undefined),
        swaps: p.swaps,
        history: p.versions.map((v) => ({ generation: v.generation, sha256: v.module.sha256, loaded_at: new Date(v.loadedAt).toISOString(), source: v.source })),
      };
    });
    return { plugins };
  }
}
