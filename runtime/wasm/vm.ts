import { randomFillSync } from 'node:crypto';
import { AbiVersion } from '../../abi/abi-version.ts';
import { BufferType, LogLevel, MapType, MetricType, WasmResult, type StreamType } from '../../abi/enums.ts';
import { GuestMemory } from '../../abi/guest-memory.ts';
import { latin1ToBytes } from '../../abi/header-pairs.ts';
import type {
  Answer,
  GrpcCallRequest,
  HostBuffer,
  HostContext,
  HostHeaderMap,
  HttpCallRequest,
  LocalResponse,
} from '../../abi/host-context.ts';
import { ProcExit } from '../../abi/wasi.ts';
import { clampFuel, fuelExhausted, fuelSetterOf } from './sandbox.ts';
import { ErrorCode, SluiceError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Counter, Gauge, Histogram, Stats } from '../stats/types.ts';
import type { WasmContext } from './context.ts';
import { callForeignFunction } from './foreign.ts';
import type { HttpCallOutcome } from './http-call.ts';
import { buildImports } from './imports.ts';
import type { CompiledModule } from './module.ts';
import { RootContext, type PluginInfo } from './root-context.ts';
import type { WasmGrpc } from './vm-grpc.ts';
import type { SharedData } from './shared-data.ts';
import type { SharedQueues } from './shared-queues.ts';
import { PairsMap } from './pairs-map.ts';
import { ContextRegistry } from './context-registry.ts';

/** Per-worker facilities every VM on that worker uses. */
export interface VmServices {
  readonly log: Logger;
  readonly stats: Stats;
  /**
   * Starts an http call to `request.upstream`; `done` is called later from the event loop (never
   * inside this call). undefined = no such cluster. Returns a cancel function.
   */
  httpCall(request: HttpCallRequest, done: (outcome: HttpCallOutcome) => void): (() => void) | undefined;
  readonly sharedData: SharedData | undefined;
  readonly sharedQueues: SharedQueues | undefined;
  /** Process-wide value of a stat (summed over workers), for `proxy_get_metric`. */
  globalStatValue?(name: string, kind: 'counter' | 'gauge'): number | undefined;
  readonly grpc?: WasmGrpc;
  /** Tick timers are not armed; ticks happen only through `tickNow()` (the test harness). */
  readonly manualTicks?: boolean;
  /** Told of every trap, with the plugin whose context was running (counted as `wasm.<plugin>.traps`). */
  onTrap?(vm: WasmVm, callback: string, message: string, pluginName: string | undefined): void;
}

export interface VmOptions {
  readonly vmId: string;
  readonly vmConfiguration: Uint8Array;
  readonly environment: ReadonlyArray<readonly [string, string]>;
  readonly services: VmServices;
}

/** Envoy's stat namespace for metrics a plugin defines (`proxy_define_metric`). */
export const WASM_CUSTOM_STAT_PREFIX = 'wasmcustom.';

/** A trap, abort or `proc_exit` inside a guest call. The VM that threw it is failed for good. */
export class WasmTrap extends Error {
  readonly callback: string;
  constructor(callback: string, message: string, options?: { cause?: unknown }) {
    super(`${callback}: ${message}`, options);
    this.name = 'WasmTrap';
    this.callback = callback;
  }
}

/** Thrown by `env.abort` (AssemblyScript) with the decoded message and location. */
class GuestAbort extends Error {}

interface Metric {
  readonly type: MetricType;
  readonly statName: string;
  readonly counter?: Counter;
  readonly gauge?: Gauge;
  readonly histogram?: Histogram;
  /** This thread's contribution (counters, gauges), for get/record without a global reader; shared by every id of the same stat. */
  readonly tally: { local: number };
}

/** What a callback delivery exposes besides the current context (§3.5, §3.6: maps 4–7, buffers 4, 5, 8). */
interface CallData {
  httpHeaders?: HostHeaderMap;
  httpTrailers?: HostHeaderMap;
  httpBody?: Uint8Array;
  grpcMetadata?: HostHeaderMap;
  grpcMessage?: Uint8Array;
  foreignArgs?: Uint8Array;
}

const LEVEL_METHODS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const PINO_TO_ABI: Record<string, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, fatal: 5, silent: 5 };
const TOKEN_STEP = 4;
const EMPTY = new Uint8Array(0);

/** A VM-level buffer (configuration, call data) as headerMap's caller wants it; absent = NotFound. */
function bufferAnswer(bytes: Uint8Array | undefined): Answer<HostBuffer> {
  return bytes === undefined ? { result: WasmResult.NotFound } : { result: WasmResult.Ok, value: { bytes: () => bytes } };
}

/** A call's header map (http-call response, gRPC metadata); absent = BadArgument. */
function mapAnswer(m: HostHeaderMap | undefined): Answer<HostHeaderMap> {
  return m === undefined ? { result: WasmResult.BadArgument } : { result: WasmResult.Ok, value: m };
}

/**
 * One instance of a plugin module on one worker (a proxy-wasm "VM"), shared by every plugin
 * configured with the same vm_id, configuration and code. It is the HostContext of its own
 * import table: host calls act on the current context (the one the host called into) or on the
 * effective context the guest selected.
 *
 * STYLE: one active-context slot, set for each guest call and restored after it (nested calls:
 * the allocator); actions that re-enter a stream run after the outermost call returns. A trap
 * fails the VM for good: it is logged once with the callback and the decoded abort text, and
 * every later call is refused (the plugin replaces the VM).
 */
export class WasmVm implements HostContext {
  readonly abiVersion: AbiVersion;
  readonly compiled: CompiledModule;
  readonly vmId: string;
  readonly createdAt = Date.now();
  /** Streams running on this VM; kept by its VmSlot (a field, not a Map entry: it changes twice per request). */
  streams = 0;
  readonly #opts: VmOptions;
  readonly #log: Logger;
  #instance!: WebAssembly.Instance;
  #exports: Record<string, unknown> = {};
  #memory: GuestMemory | undefined;
  #allocator: ((size: number) => number) | undefined;
  readonly #contexts = new ContextRegistry();
  #nextContextId = 1;
  #current: WasmContext | undefined;
  #effective: WasmContext | undefined;
  #depth = 0;
  readonly #touched = new Set<WasmContext>();
  #callData: CallData | undefined;
  #failure: { callback: string; message: string } | undefined;
  #lastCritical: string | undefined;
  #pendingDone: RootContext | undefined;
  readonly #metrics = new Map<number, Metric>();
  #nextMetricId = 0;
  #nextHttpToken = 0;
  #closed = false;
  /** The fuel a callback starts with (clamped once), and the instance's counter (undefined = unmetered). */
  readonly #fuel: number;
  #refuel: ((fuel: number) => void) | undefined;

  constructor(compiled: CompiledModule, opts: VmOptions) {
    this.compiled = compiled;
    this.abiVersion = compiled.abiVersion;
    this.vmId = opts.vmId;
    this.#opts = opts;
    this.#log = opts.services.log;
    this.#fuel = clampFuel(compiled.fuelPerCallback ?? 0);
    this.#instantiate();
  }

  get manualTicks(): boolean {
    return this.#opts.services.manualTicks === true;
  }

  get failed(): { callback: string; message: string } | undefined {
    return this.#failure;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Live contexts (roots and streams), for admin and tests. */
  get contextCount(): number {
    return this.#contexts.size;
  }

  #instantiate(): void {
    const imports = buildImports(this, this.#wasiHost(), this.#asHost());
    try {
      // A start section (AssemblyScript top-level code) runs here, before exports are bound:
      // host calls made from it see no memory and answer InvalidMemoryAccess.
      this.#instance = new WebAssembly.Instance(this.compiled.module, imports);
    } catch (err) {
      throw this.#startError('instantiate', err);
    }
    this.#exports = this.#instance.exports as Record<string, unknown>;
    this.#refuel = this.compiled.fuelPerCallback !== undefined ? fuelSetterOf(this.#instance) : undefined;
    this.#exported = new Set(Object.keys(this.#exports).filter((k) => typeof this.#exports[k] === 'function'));
    const memory = this.#exports.memory;
    if (memory instanceof WebAssembly.Memory) this.#memory = new GuestMemory(memory);
    // The spec's order (§3.1, Appendix A #1): proxy_on_memory_allocate, else malloc.
    const alloc = this.#exports.proxy_on_memory_allocate ?? this.#exports.malloc;
    if (typeof alloc === 'function') this.#allocator = alloc as (size: number) => number;
    try {
      if (typeof this.#exports._initialize === 'function') {
        this.call(undefined, '_initialize', []);
        if (typeof this.#exports.main === 'function') this.call(undefined, 'main', [0, 0]);
        else if (typeof this.#exports.__main_void === 'function') this.call(undefined, '__main_void', []);
      } else if (typeof this.#exports._start === 'function') {
        this.call(undefined, '_start', []);
      }
    } catch (err) {
      throw this.#startError('_initialize', err);
    }
  }

  #startError(step: string, err: unknown): SluiceError {
    const msg = err instanceof WasmTrap ? err.message : `${step}: ${(err as Error).message}`;
    return new SluiceError(ErrorCode.WASM_PLUGIN_START, `${this.compiled.source}: ${msg}`, { source: this.compiled.source, cause: err });
  }

  // ---- calling into the guest -------------------------------------------------------------

  /** Whether the guest exports `name` (absent callbacks are skipped with their default). */
  has(name: string): boolean {
    return this.#exported.has(name);
  }

  #exported: ReadonlySet<string> = new Set();

  /**
   * Calls export `name` with `ctx` as the current context. Returns the i32 result (0 for void or
   * a missing export). A trap fails the VM and throws WasmTrap; the caller applies its fail policy.
   */
  call(ctx: WasmContext | undefined, name: string, args: number[]): number {
    return this.invoke(ctx, name, args[0], args[1], args[2], args[3], args[4]);
  }

  /** `call` with the arguments spread: no array per call, for the per-stream callbacks. */
  invoke(ctx: WasmContext | undefined, name: string, a0?: number, a1?: number, a2?: number, a3?: number, a4?: number): number {
    if (this.#failure !== undefined) throw new WasmTrap(name, `VM already failed (${this.#failure.message})`);
    const fn = this.#exports[name];
    if (typeof fn !== 'function') return 0;
    const prevCurrent = this.#current;
    const prevEffective = this.#effective;
    this.#current = ctx;
    this.#effective = undefined;
    // The CPU budget is per callback: refilled on entry from the host, never on a nested call (a
    // guest could otherwise reset its own budget through a host call that calls back in).
    if (this.#depth === 0) {
      if (this.#refuel !== undefined) this.#refuel(this.#fuel);
      this.#lastCritical = undefined;
    }
    this.#depth++;
    try {
      // Extra arguments are ignored by a wasm function, missing (undefined) ones read as 0.
      const r = (fn as (...a: (number | undefined)[]) => unknown)(a0, a1, a2, a3, a4);
      return typeof r === 'number' ? r : 0;
    } catch (err) {
      throw this.#trap(name, err);
    } finally {
      this.#current = prevCurrent;
      this.#effective = prevEffective;
      this.#depth--;
      if (this.#depth === 0) this.#afterOutermostCall();
    }
  }

  /**
   * An event-loop callback (tick, http-call response, queue ready, gRPC): a trap is logged and
   * fails the VM but is not rethrown (there is no stream to fail).
   */
  deliver(ctx: WasmContext, name: string, args: number[], data?: CallData): void {
    if (this.#failure !== undefined || this.#closed) return;
    this.#callData = data;
    try {
      this.call(ctx, name, args);
    } catch (err) {
      if (!(err instanceof WasmTrap)) throw err;
    } finally {
      this.#callData = undefined;
      if (ctx instanceof RootContext) ctx.statusMessage = EMPTY;
    }
  }

  #afterOutermostCall(): void {
    if (this.#touched.size === 0 && this.#pendingDone === undefined) return;
    const touched = [...this.#touched];
    this.#touched.clear();
    if (this.#failure !== undefined) return;
    for (const ctx of touched) ctx.afterVmCall();
    const pending = this.#pendingDone;
    if (pending !== undefined) {
      this.#pendingDone = undefined;
      this.deleteContext(pending);
    }
  }

  #trap(callback: string, err: unknown): WasmTrap {
    if (err instanceof WasmTrap) return err;
    let message: string;
    // SDKs that cannot import env.abort log their panic at Critical, then trap (Rust's panic hook,
    // the Sluice SDK, solo-io's runtime via proc_exit): that line is the trap's readable text.
    const said = this.#lastCritical !== undefined ? `: ${this.#lastCritical}` : '';
    if (err instanceof GuestAbort) message = err.message;
    else if (err instanceof ProcExit) {
      message = `proc_exit(${err.code})${said}`;
    } else if (err instanceof WebAssembly.RuntimeError && fuelExhausted(this.#instance)) {
      message = `CPU budget exhausted (${this.#fuel} units per callback)`;
    } else if (err instanceof WebAssembly.RuntimeError) message = `trap: ${err.message}${said}`;
    else if (err instanceof RangeError && /call stack/i.test(err.message)) message = `trap: ${err.message}`;
    else message = `host error: ${(err as Error)?.message ?? String(err)}`;
    if (this.#failure === undefined) {
      this.#failure = { callback, message };
      this.#log.error({ vm_id: this.vmId, module: this.compiled.source, callback, err: message }, `wasm VM failed in ${callback}: ${message}`);
      this.#opts.services.onTrap?.(this, callback, message, this.#current?.root.plugin.name);
      this.#shutdownAfterFailure();
    }
    return new WasmTrap(callback, message, { cause: err });
  }

  #shutdownAfterFailure(): void {
    for (const ctx of this.#contexts.roots()) ctx.close();
  }

  // ---- contexts ---------------------------------------------------------------------------

  allocContextId(): number {
    return this.#nextContextId++;
  }

  registerContext(ctx: WasmContext): void {
    this.#contexts.add(ctx);
  }

  /** `proxy_on_delete` has been called (or the VM is going away): forget the context. */
  deleteContext(ctx: WasmContext): void {
    this.#contexts.delete(ctx);
    if (ctx instanceof RootContext) {
      ctx.close();
      if (this.#failure === undefined && !this.#closed) {
        try {
          this.call(ctx, 'proxy_on_delete', [ctx.id]);
        } catch {
          // Logged by #trap.
        }
      }
    }
  }

  /**
   * Starts a plugin's root context (§6.1 step 3): on_context_create(R, 0) → on_vm_start(R, n) →
   * on_configure(R, n). Refused (SluiceError) when either returns false or anything traps.
   */
  startRoot(plugin: PluginInfo): RootContext {
    const root = new RootContext(this.allocContextId(), this, plugin);
    this.registerContext(root);
    const what = `plugin "${plugin.name}" (root_id "${plugin.rootId}") in ${this.compiled.source}`;
    try {
      root.configuring = true;
      this.call(root, 'proxy_on_context_create', [root.id, 0]);
      root.configuring = false;
      if (this.has('proxy_on_vm_start') && this.call(root, 'proxy_on_vm_start', [root.id, this.#opts.vmConfiguration.byteLength]) === 0) {
        throw new SluiceError(ErrorCode.WASM_PLUGIN_START, `${what}: proxy_on_vm_start returned false (VM configuration rejected)`);
      }
      root.configuring = true;
      const ok = !this.has('proxy_on_configure') || this.call(root, 'proxy_on_configure', [root.id, plugin.configuration.byteLength]) !== 0;
      root.configuring = false;
      if (!ok) throw new SluiceError(ErrorCode.WASM_PLUGIN_START, `${what}: proxy_on_configure returned false (plugin configuration rejected)`);
    } catch (err) {
      root.configuring = false;
      this.#contexts.delete(root);
      root.close();
      if (err instanceof SluiceError) throw err;
      throw new SluiceError(ErrorCode.WASM_PLUGIN_START, `${what}: ${(err as Error).message}`, { cause: err });
    }
    return root;
  }

  /**
   * Shuts a root context down: proxy_on_done(R); true ⇒ proxy_on_delete(R); false ⇒ wait for the
   * plugin's proxy_done() (§7.7).
   */
  stopRoot(root: RootContext): void {
    if (this.#failure !== undefined || this.#closed) {
      this.#contexts.delete(root);
      root.close();
      return;
    }
    let finished = true;
    try {
      finished = this.call(root, 'proxy_on_done', [root.id]) !== 0 || !this.has('proxy_on_done');
    } catch {
      finished = true;
    }
    if (finished) this.deleteContext(root);
    else this.#awaitingDone.add(root.id);
  }

  /** The VM is no longer used by any plugin or stream. */
  close(): void {
    if (this.#closed) return;
    for (const ctx of this.#contexts.roots()) this.stopRoot(ctx);
    this.#closed = true;
    for (const ctx of this.#contexts.roots()) ctx.close();
    this.#contexts.clear();
  }

  /** Delivers `proxy_on_tick` now to every root context with a tick period (the test harness's clock). */
  tickNow(): void {
    for (const ctx of this.#contexts.roots()) {
      if (ctx.tickPeriodMs > 0) this.deliver(ctx, 'proxy_on_tick', [ctx.id]);
    }
  }

  /** Drops the VM without calling the guest (a canary, or a VM that never served). */
  discard(): void {
    this.#closed = true;
    for (const ctx of this.#contexts.roots()) ctx.close();
    this.#contexts.clear();
  }

  #ctx(): WasmContext | undefined {
    const e = this.#effective;
    if (e !== undefined && e.registered) return e;
    return this.#current;
  }

  // ---- HostContext: memory, logging, time -------------------------------------------------

  memory(): GuestMemory | undefined {
    return this.#memory;
  }

  allocate(size: number): number {
    const alloc = this.#allocator;
    if (alloc === undefined || size <= 0) return 0;
    // The allocator runs with no current context (cpp-host's VM context 0).
    const prevCurrent = this.#current;
    const prevEffective = this.#effective;
    this.#current = undefined;
    this.#effective = undefined;
    try {
      return alloc(size) >>> 0;
    } finally {
      this.#current = prevCurrent;
      this.#effective = prevEffective;
    }
  }

  #pluginName(): string | undefined {
    return this.#ctx()?.root.plugin.name;
  }

  log(level: LogLevel, message: string): void {
    if (level === LogLevel.Critical) this.#lastCritical = message;
    const method = LEVEL_METHODS[level] ?? 'info';
    this.#log[method]({ plugin: this.#pluginName(), vm_id: this.vmId }, `wasm log: ${message}`);
  }

  logLevel(): number {
    return PINO_TO_ABI[this.#log.level] ?? LogLevel.Info;
  }

  currentTimeNanoseconds(): bigint {
    return BigInt(Date.now()) * 1_000_000n;
  }

  setTickPeriodMilliseconds(periodMs: number): WasmResult {
    const ctx = this.#ctx();
    if (ctx === undefined) return WasmResult.BadArgument;
    ctx.root.setTickPeriod(periodMs);
    return WasmResult.Ok;
  }

  setEffectiveContext(contextId: number): WasmResult {
    const ctx = this.#contexts.get(contextId);
    if (ctx === undefined) return WasmResult.BadArgument;
    this.#effective = ctx;
    return WasmResult.Ok;
  }

  done(): WasmResult {
    const ctx = this.#ctx();
    // Only a root context that answered false from proxy_on_done is pending deletion (§7.7).
    if (!(ctx instanceof RootContext) || !this.#awaitingDone.has(ctx.id)) return WasmResult.NotFound;
    this.#awaitingDone.delete(ctx.id);
    this.#pendingDone = ctx;
    return WasmResult.Ok;
  }

  readonly #awaitingDone = new Set<number>();

  // ---- configuration and buffers ----------------------------------------------------------

  configuration(): Uint8Array {
    const root = this.#ctx()?.root;
    if (root !== undefined && root.configuring) return root.plugin.configuration;
    return this.#opts.vmConfiguration;
  }

  buffer(type: BufferType): Answer<HostBuffer> {
    const data = this.#callData;
    switch (type) {
      case BufferType.VmConfiguration:
        return bufferAnswer(this.#opts.vmConfiguration);
      case BufferType.HttpCallResponseBody:
        return bufferAnswer(data?.httpBody);
      case BufferType.GrpcCallMessage:
        return bufferAnswer(data?.grpcMessage);
      case BufferType.ForeignFunctionArguments:
        return bufferAnswer(data?.foreignArgs);
      default: {
        const ctx = this.#ctx();
        return ctx === undefined ? { result: WasmResult.NotFound } : ctx.buffer(type);
      }
    }
  }

  headerMap(type: MapType, forWrite: boolean): Answer<HostHeaderMap> {
    const data = this.#callData;
    switch (type) {
      case MapType.HttpCallResponseHeaders:
        return mapAnswer(data?.httpHeaders);
      case MapType.HttpCallResponseTrailers:
        return mapAnswer(data?.httpTrailers);
      case MapType.GrpcCallInitialMetadata:
      case MapType.GrpcCallTrailingMetadata:
        return mapAnswer(data?.grpcMetadata);
      default: {
        const ctx = this.#ctx();
        return ctx === undefined ? { result: WasmResult.BadArgument } : ctx.headerMap(type, forWrite);
      }
    }
  }

  // ---- properties -------------------------------------------------------------------------

  getProperty(path: string[]): Answer<Uint8Array> {
    const ctx = this.#ctx();
    const root = ctx?.root;
    if (root !== undefined && path.length === 1) {
      // Readable from every context, including a root context's proxy_on_context_create (§5.4).
      switch (path[0]) {
        case 'plugin_name':
          return { result: WasmResult.Ok, value: latin1ToBytes(root.plugin.name) };
        case 'plugin_root_id':
          return { result: WasmResult.Ok, value: latin1ToBytes(root.plugin.rootId) };
        case 'plugin_vm_id':
          return { result: WasmResult.Ok, value: latin1ToBytes(this.vmId) };
      }
    }
    if (ctx === undefined) return { result: WasmResult.NotFound };
    return ctx.getProperty(path);
  }

  setProperty(path: string[], value: Uint8Array): WasmResult {
    const ctx = this.#ctx();
    return ctx === undefined ? WasmResult.NotFound : ctx.setProperty(path, value);
  }

  // ---- stream control ---------------------------------------------------------------------

  continueStream(type: StreamType): WasmResult {
    const ctx = this.#ctx();
    return ctx === undefined ? WasmResult.NotFound : ctx.continueStream(type);
  }

  closeStream(type: StreamType): WasmResult {
    const ctx = this.#ctx();
    return ctx === undefined ? WasmResult.NotFound : ctx.closeStream(type);
  }

  clearRouteCache(): WasmResult {
    const ctx = this.#ctx();
    return ctx === undefined ? WasmResult.Ok : ctx.clearRouteCache();
  }

  sendLocalResponse(response: LocalResponse): WasmResult {
    const ctx = this.#ctx();
    if (ctx === undefined) return WasmResult.BadArgument;
    this.#touched.add(ctx);
    return ctx.sendLocalResponse(response);
  }

  /** Marks a context so its queued actions run after the current outermost guest call. */
  touch(ctx: WasmContext): void {
    this.#touched.add(ctx);
  }

  status(): { code: number; message: Uint8Array } {
    const root = this.#ctx()?.root;
    if (root === undefined) return { code: 0, message: EMPTY };
    return { code: root.statusCode, message: root.statusMessage };
  }

  // ---- http calls -------------------------------------------------------------------------

  httpCall(request: HttpCallRequest): Answer<number> {
    const root = this.#ctx()?.root;
    if (root === undefined) return { result: WasmResult.BadArgument };
    this.#nextHttpToken += TOKEN_STEP;
    const token = this.#nextHttpToken;
    const cancel = this.#opts.services.httpCall(request, (outcome) => {
      root.calls.delete(token);
      this.#onHttpCallDone(root, token, outcome);
    });
    // No such cluster (Envoy: BadArgument, and the token is not used).
    if (cancel === undefined) return { result: WasmResult.BadArgument };
    root.calls.set(token, cancel);
    return { result: WasmResult.Ok, value: token };
  }

  #onHttpCallDone(root: RootContext, token: number, outcome: HttpCallOutcome): void {
    if (root.closed || !root.registered) return;
    if (outcome.kind === 'reset') {
      root.statusCode = WasmResult.BrokenConnection;
      root.statusMessage = latin1ToBytes('reset');
      this.deliver(root, 'proxy_on_http_call_response', [root.id, token, 0, 0, 0], {});
      return;
    }
    root.statusCode = WasmResult.Ok;
    this.deliver(root, 'proxy_on_http_call_response', [root.id, token, outcome.headers.length, outcome.body.byteLength, outcome.trailers.length], {
      httpHeaders: new PairsMap(outcome.headers, false),
      httpTrailers: new PairsMap(outcome.trailers, false),
      httpBody: outcome.body,
    });
  }

  // ---- gRPC (vm-grpc.ts) ------------------------------------------------------------------

  grpcCall(request: GrpcCallRequest, message: Uint8Array, timeoutMs: number): Answer<number> {
    const root = this.#ctx()?.root;
    const grpc = this.#opts.services.grpc;
    if (root === undefined || grpc === undefined) return { result: WasmResult.BadArgument };
    return grpc.call(this, root, request, message, timeoutMs);
  }

  grpcStream(request: GrpcCallRequest): Answer<number> {
    const root = this.#ctx()?.root;
    const grpc = this.#opts.services.grpc;
    if (root === undefined || grpc === undefined) return { result: WasmResult.BadArgument };
    return grpc.stream(this, root, request);
  }

  grpcSend(token: number, message: Uint8Array, endStream: boolean): WasmResult {
    return this.#opts.services.grpc?.send(this, token, message, endStream) ?? WasmResult.NotFound;
  }

  grpcCancel(token: number): WasmResult {
    return this.#opts.services.grpc?.cancel(this, token) ?? WasmResult.NotFound;
  }

  grpcClose(token: number): WasmResult {
    return this.#opts.services.grpc?.close(this, token) ?? WasmResult.NotFound;
  }

  /** Delivers a gRPC event to a root context with the message or metadata readable. */
  deliverGrpc(root: RootContext, name: string, args: number[], data: CallData, status?: { code: number; message: string }): void {
    if (status !== undefined) {
      root.statusCode = status.code >>> 0;
      root.statusMessage = latin1ToBytes(status.message);
    }
    this.deliver(root, name, args, data);
  }

  // ---- shared data and queues -------------------------------------------------------------

  getSharedData(key: Uint8Array): Answer<{ value: Uint8Array; cas: number }> {
    const store = this.#opts.services.sharedData;
    if (store === undefined) return { result: WasmResult.InternalFailure };
    const got = store.get(this.vmId, key);
    return got === undefined ? { result: WasmResult.NotFound } : { result: WasmResult.Ok, value: got };
  }

  setSharedData(key: Uint8Array, value: Uint8Array, cas: number): WasmResult {
    const store = this.#opts.services.sharedData;
    if (store === undefined) return WasmResult.InternalFailure;
    return store.set(this.vmId, key, value, cas);
  }

  registerSharedQueue(name: string): Answer<number> {
    const queues = this.#opts.services.sharedQueues;
    const root = this.#ctx()?.root;
    if (queues === undefined || root === undefined) return { result: WasmResult.InternalFailure };
    const id = queues.register(this.vmId, name);
    if (id === 0) return { result: WasmResult.InternalFailure };
    this.#queueOwners.set(id, root);
    return { result: WasmResult.Ok, value: id };
  }

  readonly #queueOwners = new Map<number, RootContext>();

  /** A queue this VM registered has an item (delivered from the event loop by the plugin registry). */
  queueReady(queueId: number): boolean {
    const root = this.#queueOwners.get(queueId);
    if (root === undefined || root.closed) return false;
    this.deliver(root, 'proxy_on_queue_ready', [root.id, queueId]);
    return true;
  }

  resolveSharedQueue(vmId: string, name: string): Answer<number> {
    const queues = this.#opts.services.sharedQueues;
    if (queues === undefined) return { result: WasmResult.NotFound };
    const id = queues.resolve(vmId === '' ? this.vmId : vmId, name);
    return id === undefined ? { result: WasmResult.NotFound } : { result: WasmResult.Ok, value: id };
  }

  enqueueSharedQueue(queueId: number, value: Uint8Array): WasmResult {
    const queues = this.#opts.services.sharedQueues;
    return queues === undefined ? WasmResult.NotFound : queues.enqueue(queueId, value);
  }

  dequeueSharedQueue(queueId: number): Answer<Uint8Array> {
    const queues = this.#opts.services.sharedQueues;
    if (queues === undefined) return { result: WasmResult.NotFound };
    const got = queues.dequeue(queueId);
    if (got instanceof Uint8Array) return { result: WasmResult.Ok, value: got };
    return { result: got };
  }

  // ---- metrics ----------------------------------------------------------------------------

  defineMetric(type: MetricType, name: string): Answer<number> {
    const stats = this.#opts.services.stats;
    const statName = WASM_CUSTOM_STAT_PREFIX + name;
    // Id = next += 4 with the type in the low 2 bits (Envoy): counters 4, 8…; gauges 5, 9…
    this.#nextMetricId += 4;
    const id = this.#nextMetricId | type;
    const existing = [...this.#metrics.values()].find((m) => m.statName === statName && m.type === type);
    const tally = existing?.tally ?? { local: 0 };
    const metric: Metric =
      type === MetricType.Counter
        ? { type, statName, counter: existing?.counter ?? stats.counter(statName), tally }
        : type === MetricType.Gauge
          ? { type, statName, gauge: existing?.gauge ?? stats.gauge(statName), tally }
          : { type, statName, histogram: existing?.histogram ?? stats.histogram(statName), tally };
    this.#metrics.set(id, metric);
    return { result: WasmResult.Ok, value: id };
  }

  incrementMetric(metricId: number, delta: bigint): WasmResult {
    const m = this.#metrics.get(metricId);
    if (m === undefined) return WasmResult.NotFound;
    const d = Number(delta);
    if (m.type === MetricType.Counter) {
      if (d <= 0) return WasmResult.BadArgument;
      m.counter!.add(d);
      m.tally.local += d;
      return WasmResult.Ok;
    }
    if (m.type === MetricType.Gauge) {
      m.gauge!.add(d);
      m.tally.local += d;
      return WasmResult.Ok;
    }
    return WasmResult.BadArgument;
  }

  recordMetric(metricId: number, value: bigint): WasmResult {
    const m = this.#metrics.get(metricId);
    if (m === undefined) return WasmResult.NotFound;
    const v = Number(value);
    if (m.type === MetricType.Counter) {
      m.counter!.add(v);
      m.tally.local += v;
    } else if (m.type === MetricType.Gauge) {
      // Gauges are summed over workers: setting one to v moves this worker's share so that the
      // process-wide sum becomes v (Envoy's gauge is one process-wide value).
      const global = this.#globalValue(m);
      m.gauge!.add(v - global);
      m.tally.local += v - global;
    } else {
      m.histogram!.record(v);
    }
    return WasmResult.Ok;
  }

  getMetric(metricId: number): Answer<bigint> {
    const m = this.#metrics.get(metricId);
    if (m === undefined) return { result: WasmResult.NotFound };
    if (m.type === MetricType.Histogram) return { result: WasmResult.BadArgument };
    return { result: WasmResult.Ok, value: BigInt(Math.max(0, Math.round(this.#globalValue(m)))) };
  }

  #globalValue(m: Metric): number {
    return this.#opts.services.globalStatValue?.(m.statName, m.type === MetricType.Counter ? 'counter' : 'gauge') ?? m.tally.local;
  }

  // ---- foreign functions, DNS -------------------------------------------------------------

  callForeignFunction(name: string, args: Uint8Array): Answer<Uint8Array> {
    const ctx = this.#ctx();
    return callForeignFunction(name, args, {
      clearRouteCache: () => {
        ctx?.clearRouteCache();
      },
    });
  }

  resolveDns(_address: string): Answer<number> {
    // Envoy-only extension (§3.14): Sluice does not deliver envoy_on_resolve_dns.
    return { result: WasmResult.Unimplemented };
  }

  // ---- WASI and AssemblyScript hosts ------------------------------------------------------

  #wasiHost() {
    return {
      memory: () => this.#memory,
      log: (level: LogLevel, message: string) => this.log(level, message),
      realtimeNs: () => BigInt(Date.now()) * 1_000_000n,
      monotonicNs: () => process.hrtime.bigint(),
      randomFill: (bytes: Uint8Array) => {
        randomFillSync(bytes);
      },
      environ: () => this.#opts.environment,
      procExit: (code: number): never => {
        throw new ProcExit(code);
      },
    };
  }

  #asHost() {
    return {
      memory: () => this.#memory,
      abort: (message: string, file: string, line: number, column: number): never => {
        throw new GuestAbort(`abort: ${message} at ${file}:${line}:${column}`);
      },
      trace: (message: string, values: number[]) => {
        this.#log.debug({ plugin: this.#pluginName(), vm_id: this.vmId }, `wasm trace: ${message} ${values.join(', ')}`.trim());
      },
      seed: () => Date.now() * Math.random(),
    };
  }
}
