import { createHash } from 'node:crypto';
import { loadPluginCode, type WasmPluginConfig } from '../config/wasm.ts';
import type { Logger } from '../log.ts';
import type { Counter, Stats } from '../stats/types.ts';
import type { ClusterManager } from '../upstream/cluster.ts';
import { compileSandboxed, type CompiledModule, type PluginSandbox } from './module.ts';
import { dispatchHttpCall } from './http-call.ts';
import { WorkerGrpc } from './vm-grpc.ts';
import { VmSlot, WasmPlugin } from './plugin.ts';
import { SharedData, type SharedDataHandle } from './shared-data.ts';
import { SharedQueues, type SharedQueuesHandle } from './shared-queues.ts';
import type { VmServices, WasmVm } from './vm.ts';

/** What the main thread hands every worker: modules compiled once, and the shared stores. */
export interface WasmWorkerInit {
  /** codeKey(config) → compiled module (WebAssembly.Module crosses threads by structured clone). */
  modules: Record<string, CompiledModule>;
  sharedData?: SharedDataHandle;
  sharedQueues?: SharedQueuesHandle;
}

/** One plugin on one worker, as /wasm/plugins reports it. */
export interface WasmPluginWorkerStatus {
  name: string;
  vmId: string;
  rootId: string;
  generation: number;
  sha256: string;
  loadedAt: number;
  streamsByGeneration: Record<number, number>;
  vmFailed: string | undefined;
  crashLooping: boolean;
  lastError: string | undefined;
  reloads: number;
}

/** The key under which the main thread compiles a plugin's code and a worker finds it. */
export function codeKey(c: WasmPluginConfig): string {
  // The sandbox policy is part of the compiled module, so it is part of the key.
  const policy = `${c.sandbox.maxMemoryBytes ?? '-'}/${c.sandbox.fuelPerCallback ?? '-'}/${(c.allowedCapabilities ?? []).join(',')}`;
  if (c.code.kind === 'file') return `file:${c.code.path}|${policy}`;
  return `sha256:${createHash('sha256').update(c.code.bytes).digest('hex')}|${policy}`;
}

/** The sandbox a plugin's config asks for. */
export function pluginSandbox(c: WasmPluginConfig): PluginSandbox {
  return { allowedCapabilities: c.allowedCapabilities, maxMemoryBytes: c.sandbox.maxMemoryBytes, fuelPerCallback: c.sandbox.fuelPerCallback };
}

/** Loads and compiles a plugin's code (main thread at config load; a worker only as a fallback). */
export function compilePluginCode(c: WasmPluginConfig): CompiledModule {
  const bytes = loadPluginCode(c);
  const source = c.code.kind === 'file' ? c.code.path : `inline:${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}`;
  return compileSandboxed(bytes, source, pluginSandbox(c));
}

function vmKey(c: WasmPluginConfig, compiled: CompiledModule): string {
  const cfg = Buffer.from(c.vmConfiguration).toString('base64');
  return JSON.stringify([c.vmId, compiled.sha256, cfg, c.environment, c.runtime]);
}

/**
 * Everything wasm on one worker: the VM slots (one per VM key, shared by plugins as Envoy shares
 * VMs by vm_id), the services VMs use (clusters for http calls, the process-wide shared data and
 * queues, stats), and the delivery of shared-queue notifications to the VM that registered the queue.
 */
export class WasmRuntime {
  readonly #log: Logger;
  readonly #stats: Stats;
  readonly #modules: Map<string, CompiledModule>;
  readonly #slots = new Map<string, VmSlot>();
  readonly #services: VmServices;
  readonly #traps = new Map<string, Counter>();
  readonly #sharedQueues: SharedQueues | undefined;
  readonly #grpc: WorkerGrpc;
  #clusters: ClusterManager | undefined;

  constructor(opts: { log: Logger; stats: Stats; init?: WasmWorkerInit; globalStatValue?: (name: string, kind: 'counter' | 'gauge') => number | undefined }) {
    this.#log = opts.log;
    this.#stats = opts.stats;
    this.#modules = new Map(Object.entries(opts.init?.modules ?? {}));
    const sharedData = opts.init?.sharedData !== undefined ? SharedData.attach(opts.init.sharedData) : SharedData.create();
    this.#sharedQueues = opts.init?.sharedQueues !== undefined ? SharedQueues.attach(opts.init.sharedQueues) : SharedQueues.create();
    this.#sharedQueues.onReady((queueId) => this.#queueReady(queueId));
    this.#grpc = new WorkerGrpc(() => this.#clusters, opts.log);
    this.#services = {
      grpc: this.#grpc,
      log: opts.log,
      stats: opts.stats,
      httpCall: (request, done) => {
        const cluster = this.#clusters?.get(request.upstream);
        return cluster === undefined ? undefined : dispatchHttpCall(cluster, request, done);
      },
      sharedData,
      sharedQueues: this.#sharedQueues,
      globalStatValue: opts.globalStatValue,
      onTrap: (_vm, _callback, _message, pluginName) => this.#trapCounter(pluginName).inc(),
    };
  }

  set clusters(c: ClusterManager | undefined) {
    this.#clusters = c;
  }

  #trapCounter(plugin: string | undefined): Counter {
    const name = `wasm.${plugin ?? 'unknown'}.traps`;
    let c = this.#traps.get(name);
    if (c === undefined) {
      c = this.#stats.counter(name);
      this.#traps.set(name, c);
    }
    return c;
  }

  /** A plugin for one `envoy.filters.http.wasm` filter: its VM started and configured now. */
  plugin(filterName: string, config: WasmPluginConfig): WasmPlugin {
    const key = codeKey(config);
    let compiled = this.#modules.get(key);
    if (compiled === undefined) {
      compiled = compilePluginCode(config);
      this.#modules.set(key, compiled);
    }
    const vk = vmKey(config, compiled);
    let slot = this.#slots.get(vk);
    if (slot === undefined) {
      slot = new VmSlot(vk, compiled, this.#services, {
        vmId: config.vmId,
        vmConfiguration: config.vmConfiguration,
        environment: config.environment,
        backoff: config.reloadBackoff,
        runtime: config.runtime,
      });
      this.#slots.set(vk, slot);
    }
    const plugin = new WasmPlugin(filterName, config, slot, this.#services);
    const owner = slot;
    plugin.onClose = (p) => {
      if (!owner.detach(p)) return;
      owner.close();
      if (this.#slots.get(vk) === owner) this.#slots.delete(vk);
    };
    return plugin;
  }

  /** Modules the main thread compiled for a reload (keyed like `codeKey`). */
  addModules(modules: Record<string, CompiledModule>): void {
    for (const [key, m] of Object.entries(modules)) this.#modules.set(key, m);
  }

  get slots(): IterableIterator<VmSlot> {
    return this.#slots.values();
  }

  /** Slots holding a plugin named `name` (PluginConfig.name; the admin and deploy key). */
  #slotsOf(name: string): VmSlot[] {
    return [...this.#slots.values()].filter((s) => s.plugins.some((p) => p.config.name === name));
  }

  /**
   * Swap step 1 on this worker: instantiate and start the new module for every slot of plugin
   * `name`. On failure nothing stays prepared and the error says why.
   */
  prepareSwap(name: string, compiled: CompiledModule, generation: number): { ok: true; slots: number } | { ok: false; error: string } {
    const slots = this.#slotsOf(name);
    if (slots.length === 0) return { ok: false, error: `no wasm plugin named "${name}" on this worker` };
    try {
      for (const slot of slots) slot.prepare(compiled, generation);
      return { ok: true, slots: slots.length };
    } catch (err) {
      for (const slot of slots) slot.abortPrepared();
      return { ok: false, error: (err as Error).message };
    }
  }

  /** Swap step 2: flip every prepared slot of plugin `name`. */
  commitSwap(name: string): void {
    for (const slot of this.#slotsOf(name)) slot.commit();
  }

  abortSwap(name: string): void {
    for (const slot of this.#slotsOf(name)) slot.abortPrepared();
  }

  /** Per plugin: generation, module, live streams per generation, failure state (for /wasm/plugins). */
  status(): WasmPluginWorkerStatus[] {
    const out: WasmPluginWorkerStatus[] = [];
    for (const slot of this.#slots.values()) {
      for (const p of slot.plugins) {
        out.push({
          name: p.config.name,
          vmId: p.config.vmId,
          rootId: p.config.rootId,
          generation: slot.generation,
          sha256: slot.compiled.sha256,
          loadedAt: slot.loadedAt,
          streamsByGeneration: slot.streamsByGeneration(),
          vmFailed: slot.vm?.failed?.message,
          crashLooping: slot.crashLooping,
          lastError: slot.lastError,
          reloads: slot.reloads,
        });
      }
    }
    return out;
  }

  #queueReady(queueId: number): void {
    for (const slot of this.#slots.values()) {
      const vm: WasmVm | undefined = slot.vm;
      if (vm !== undefined && vm.failed === undefined && vm.queueReady(queueId)) return;
    }
  }

  close(): void {
    for (const slot of this.#slots.values()) slot.close();
    this.#slots.clear();
    this.#sharedQueues?.close();
    void this.#grpc.shutdown();
  }
}
