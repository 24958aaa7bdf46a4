import { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus } from '../../abi/enums.ts';
import type { WasmPluginConfig } from '../config/wasm.ts';
import type { FilterCallbacks, HttpFilter, HttpFilterFactory } from '../http/filter.ts';
import type { Counter } from '../stats/types.ts';
import type { CompiledModule } from './module.ts';
import type { RootContext } from './root-context.ts';
import { FailurePolicy, WasmStreamContext, type StreamPlugin } from './stream-context.ts';
import { WasmVm, type VmServices } from './vm.ts';

/** Consecutive failures within the reload window after which the plugin is marked failed. */
export const CRASH_LOOP_LIMIT = 5;
/** A VM that served this long before failing starts the failure count afresh. */
export const CRASH_LOOP_WINDOW_MS = 30_000;

/**
 * The VM shared by every plugin with the same VM key (vm_id, code, VM configuration,
 * environment) on one worker, as Envoy shares VMs. A failed VM is replaced by a fresh instance of
 * the same module on the next stream that needs it, with exponential backoff between consecutive
 * failures; after CRASH_LOOP_LIMIT of them the slot stays failed and every stream gets its
 * plugin's failure policy. Streams keep the VM they started on; a replaced VM is closed when its
 * last stream ends.
 */
export class VmSlot {
  readonly key: string;
  #compiled: CompiledModule;
  /** Module version: 1 at load, +1 per committed swap (the supervisor numbers them). */
  generation = 1;
  loadedAt = Date.now();
  readonly #generationOf = new Map<WasmVm, number>();
  #prepared: { vm: WasmVm; roots: Map<WasmPlugin, RootContext>; compiled: CompiledModule; generation: number } | undefined;
  readonly #services: VmServices;
  readonly #opts: { vmId: string; vmConfiguration: Uint8Array; environment: Array<[string, string]>; backoff: { baseMs: number; maxMs: number } };
  #vm: WasmVm | undefined;
  #roots = new Map<WasmPlugin, RootContext>();
  readonly #plugins: WasmPlugin[] = [];
  readonly #retired = new Set<WasmVm>();
  #consecutiveFailures = 0;
  #nextAttempt = 0;
  /** Why the slot is failed (crash loop or a reload that could not start), for admin and logs. */
  lastError: string | undefined;
  crashLooping = false;
  reloads = 0;
  readonly #created: Counter;
  readonly #active: { inc(): void; dec(): void };

  constructor(
    key: string,
    compiled: CompiledModule,
    services: VmServices,
    opts: { vmId: string; vmConfiguration: Uint8Array; environment: Array<[string, string]>; backoff: { baseMs: number; maxMs: number }; runtime: string },
  ) {
    this.key = key;
    this.#compiled = compiled;
    this.#services = services;
    this.#opts = opts;
    this.#created = services.stats.counter(`wasm.${opts.runtime}.created`);
    this.#active = services.stats.gauge(`wasm.${opts.runtime}.active`);
  }

  get vm(): WasmVm | undefined {
    return this.#vm;
  }

  get compiled(): CompiledModule {
    return this.#compiled;
  }

  get plugins(): readonly WasmPlugin[] {
    return this.#plugins;
  }

  /** Live streams per module generation (admin: a swap's old generation drains to zero). */
  streamsByGeneration(): Record<number, number> {
    const out: Record<number, number> = {};
    for (const [vm, g] of this.#generationOf) {
      if (vm.streams > 0) out[g] = (out[g] ?? 0) + vm.streams;
    }
    return out;
  }

  #newVm(compiled = this.#compiled, generation = this.generation): WasmVm {
    const vm = new WasmVm(compiled, { ...this.#opts, services: this.#services });
    this.#generationOf.set(vm, generation);
    this.#created.inc();
    this.#active.inc();
    return vm;
  }

  /**
   * Swap, step 1 (on every worker before any flips): a VM of the new module with every plugin's
   * root context started in it. Throws (the SluiceError from start-up) and leaves nothing behind
   * when the new generation cannot start.
   */
  prepare(compiled: CompiledModule, generation: number): void {
    this.abortPrepared();
    const vm = this.#newVm(compiled, generation);
    try {
      const roots = new Map<WasmPlugin, RootContext>();
      for (const p of this.#plugins) roots.set(p, vm.startRoot(p.info));
      this.#prepared = { vm, roots, compiled, generation };
    } catch (err) {
      vm.discard();
      this.#generationOf.delete(vm);
      this.#active.dec();
      throw err;
    }
  }

  /**
   * Swap, step 2: new streams get the prepared generation; streams that began on the old one finish
   * on it (their VM is closed, with on_done/on_delete for its roots, when the last one ends).
   */
  commit(): boolean {
    const p = this.#prepared;
    if (p === undefined) return false;
    this.#prepared = undefined;
    const old = this.#vm;
    this.#vm = p.vm;
    this.#roots = p.roots;
    this.#compiled = p.compiled;
    this.generation = p.generation;
    this.loadedAt = Date.now();
    this.#consecutiveFailures = 0;
    this.#nextAttempt = 0;
    this.crashLooping = false;
    this.lastError = undefined;
    if (old !== undefined) {
      this.#retired.add(old);
      if (old.streams === 0) this.#closeVm(old);
    }
    return true;
  }

  /** Drops a prepared generation that will not be committed (another worker failed to prepare). */
  abortPrepared(): void {
    const p = this.#prepared;
    if (p === undefined) return;
    this.#prepared = undefined;
    p.vm.discard();
    this.#generationOf.delete(p.vm);
    this.#active.dec();
  }

  /** Adds a plugin at config load: starts its root context (throws when the plugin is refused). */
  attach(plugin: WasmPlugin): void {
    this.#vm ??= this.#newVm();
    this.#roots.set(plugin, this.#vm.startRoot(plugin.info));
    this.#plugins.push(plugin);
  }

  /**
   * Removes a plugin whose config was retired (a reload replaced it and its last stream ended):
   * its root context gets proxy_on_done / proxy_on_delete. Returns true when the slot has no
   * plugin left (the runtime then closes it).
   */
  detach(plugin: WasmPlugin): boolean {
    const i = this.#plugins.indexOf(plugin);
    if (i < 0) return this.#plugins.length === 0;
    this.#plugins.splice(i, 1);
    const root = this.#roots.get(plugin);
    this.#roots.delete(plugin);
    const vm = this.#vm;
    if (root !== undefined && vm !== undefined) vm.stopRoot(root);
    return this.#plugins.length === 0;
  }

  /** The VM and root context a new stream of `plugin` runs on; undefined ⇒ apply the failure policy. */
  acquire(plugin: WasmPlugin): { vm: WasmVm; root: RootContext } | undefined {
    let vm = this.#vm;
    if (vm === undefined || vm.failed !== undefined) {
      if (!this.#reload()) return undefined;
      vm = this.#vm as WasmVm;
    }
    const root = this.#roots.get(plugin);
    if (root === undefined) return undefined;
    vm.streams++;
    return { vm, root };
  }

  release(vm: WasmVm): void {
    if (vm.streams > 0) vm.streams--;
    if (vm.streams === 0 && this.#retired.has(vm)) this.#closeVm(vm);
  }

  #closeVm(vm: WasmVm): void {
    this.#retired.delete(vm);
    this.#generationOf.delete(vm);
    vm.close();
    this.#active.dec();
  }

  /** A fresh VM from the same module, every plugin's root context restarted in it. */
  #reload(): boolean {
    if (this.crashLooping) return false;
    const now = Date.now();
    if (now < this.#nextAttempt) return false;
    const old = this.#vm;
    if (old !== undefined) {
      // A VM that ran a long time before failing is not part of a crash loop.
      if (now - old.createdAt > Math.max(10 * this.#opts.backoff.baseMs, CRASH_LOOP_WINDOW_MS)) this.#consecutiveFailures = 0;
      this.#consecutiveFailures++;
      this.#vm = undefined;
      this.#retired.add(old);
      if (old.streams === 0) this.#closeVm(old);
    }
    if (this.#consecutiveFailures >= CRASH_LOOP_LIMIT) {
      this.crashLooping = true;
      this.lastError = `crash loop: ${this.#consecutiveFailures} consecutive VM failures (last: ${old?.failed?.message ?? 'unknown'})`;
      this.#services.log.error({ module: this.compiled.source }, `wasm plugin marked failed: ${this.lastError}`);
      return false;
    }
    const delay = this.#consecutiveFailures <= 1 ? 0 : Math.min(this.#opts.backoff.baseMs * 2 ** (this.#consecutiveFailures - 2), this.#opts.backoff.maxMs);
    this.#nextAttempt = now + delay;
    let vm: WasmVm | undefined;
    try {
      vm = this.#newVm();
      const roots = new Map<WasmPlugin, RootContext>();
      for (const p of this.#plugins) roots.set(p, vm.startRoot(p.info));
      this.#vm = vm;
      this.#roots = roots;
      this.reloads++;
      for (const p of this.#plugins) p.reloads.inc();
      return true;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.#consecutiveFailures++;
      this.#nextAttempt = now + Math.min(this.#opts.backoff.baseMs * 2 ** Math.max(0, this.#consecutiveFailures - 2), this.#opts.backoff.maxMs);
      this.#services.log.error({ module: this.compiled.source, err: this.lastError }, 'wasm VM reload failed');
      if (vm !== undefined) {
        vm.close();
        this.#active.dec();
      }
      return false;
    }
  }

  close(): void {
    this.abortPrepared();
    const vm = this.#vm;
    this.#vm = undefined;
    if (vm !== undefined) {
      vm.close();
      this.#active.dec();
    }
    for (const r of [...this.#retired]) this.#closeVm(r);
  }
}

/**
 * One `envoy.filters.http.wasm` filter on one worker: the factory the HTTP filter chain calls per
 * stream. Each stream gets a WasmStreamContext on the slot's current VM, or, when the VM cannot be
 * had, a filter that applies the failure policy.
 */
export class WasmPlugin implements HttpFilterFactory, StreamPlugin {
  readonly name: string;
  readonly config: WasmPluginConfig;
  readonly info: { name: string; rootId: string; vmId: string; configuration: Uint8Array };
  readonly failurePolicy: FailurePolicy;
  readonly allowOnHeadersStopIteration: boolean;
  readonly reloads: Counter;
  readonly #slot: VmSlot;

  constructor(filterName: string, config: WasmPluginConfig, slot: VmSlot, services: VmServices) {
    this.name = filterName;
    this.config = config;
    this.info = { name: config.name, rootId: config.rootId, vmId: config.vmId, configuration: config.configuration };
    this.failurePolicy = config.failurePolicy as FailurePolicy;
    this.allowOnHeadersStopIteration = config.allowOnHeadersStopIteration;
    const statName = config.name === '' ? filterName : config.name;
    this.reloads = services.stats.counter(`wasm.${statName}.vm_reloads`);
    this.#slot = slot;
    slot.attach(this);
  }

  get slot(): VmSlot {
    return this.#slot;
  }

  create(callbacks: FilterCallbacks): HttpFilter {
    const lease = this.#slot.acquire(this);
    if (lease === undefined) return failedFilter(this.failurePolicy, callbacks);
    // Streams keep meeting the same VM until it is replaced: look its class up once per VM.
    if (lease.vm !== this.#classVm) {
      this.#classVm = lease.vm;
      this.#streamClass = WasmStreamContext.classFor(lease.vm);
    }
    return new this.#streamClass(lease.vm, lease.root, this, callbacks);
  }

  #classVm: WasmVm | undefined;
  #streamClass: typeof WasmStreamContext = WasmStreamContext;

  release(vm: WasmVm): void {
    this.#slot.release(vm);
  }

  /** The config that built this plugin was retired and its last stream ended (data-plane.ts). */
  close(): void {
    this.#onClose?.(this);
  }

  #onClose: ((p: WasmPlugin) => void) | undefined;

  /** Set by the runtime: what closing this plugin does to its slot. */
  set onClose(fn: (p: WasmPlugin) => void) {
    this.#onClose = fn;
  }
}

/** A stream that cannot get a VM: fail open passes it through, fail closed answers 503. */
function failedFilter(policy: FailurePolicy, cb: FilterCallbacks): HttpFilter {
  if (policy === FailurePolicy.FailOpen) return {};
  let sent = false;
  const fail = () => {
    if (sent) return;
    sent = true;
    cb.sendLocalReply({ status: 503, body: 'wasm_fail_stream', details: 'wasm_fail_stream' });
  };
  return {
    onRequestHeaders() {
      fail();
      return FilterHeadersStatus.StopAllIterationAndWatermark;
    },
    onRequestBody() {
      return FilterDataStatus.StopIterationNoBuffer;
    },
    onRequestTrailers() {
      return FilterTrailersStatus.StopIteration;
    },
  };
}
