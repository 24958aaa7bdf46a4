import type binaryenNamespace from 'binaryen';
import { parseWasmModule, WasmParseError, type Limits, type WasmModuleInfo } from '../../abi/wasm-binary.ts';
import { ErrorCode, SluiceError } from '../errors.ts';

/**
 * Per-plugin sandbox: which host functions a module may import (Envoy's
 * `capability_restriction_config`), how much linear memory it may grow to, and how much work one
 * callback may do before it is stopped.
 *
 * Who must do what:
 * - Config load (main thread): `await loadSandbox()` once before the first `sandboxModule` call
 *   that meters (binaryen is loaded lazily: see `loadSandbox`), then `sandboxModule(bytes, policy)`
 *   and compile `result.bytes` instead of the original. Refuse the module when
 *   `checkCapabilities(WebAssembly.Module.imports(module), allowed)` returns anything.
 * - The VM, for a metered module: `refillFuel(instance, policy.fuelPerCallback)` (or the function
 *   `fuelSetterOf` returns, with a `clampFuel`ed value) before every
 *   OUTERMOST guest call (not before nested ones, such as the allocator called from inside a host
 *   call: refilling there would let a guest reset its own budget by calling the host), and, when a
 *   guest call throws a `WebAssembly.RuntimeError`, `fuelExhausted(instance)` tells an out-of-fuel
 *   stop ("CPU budget exhausted") from any other trap. Either way the instance has trapped and is
 *   treated like any other trapped instance.
 * - A module whose memory is imported keeps its bytes; the host that creates the memory must give it
 *   `maximum: memoryMaxPages`.
 *
 * This file does not import binaryen at module load: it costs seconds of CPU and ~80 MB per thread,
 * and workers only need `refillFuel`/`fuelExhausted`.
 */

export interface SandboxPolicy {
  /** Max linear memory in bytes (rounded up to 64 KiB pages); the module's own maximum is lowered to it (never raised). */
  maxMemoryBytes: number;
  /**
   * Fuel per callback: units ≈ loop iterations + function calls; undefined = no metering. Calls of
   * a function that neither loops nor calls are free: its work is bounded by its size, and whoever
   * calls it repeatedly is a loop or a call that pays.
   */
  fuelPerCallback: number | undefined;
}

export interface SandboxedModule {
  /** The module to compile: the input itself when nothing had to change. */
  bytes: Uint8Array;
  /** Whether loops and function entries were instrumented (the fuel global and its setter are exported). */
  metered: boolean;
  /** Export name of the mutable i32 fuel global (set when metered). */
  fuelGlobal?: string;
  /** Maximum pages of memory 0 after rewriting (for an imported memory: what the host must create it with); 0 without memory. */
  memoryMaxPages: number;
  /** Memory 0 is imported: its bytes were left alone, the host applies `memoryMaxPages`. */
  memoryImported: boolean;
}

export const WASM_PAGE_BYTES = 65536;
/** Export name of the fuel global added to a metered module. */
export const FUEL_EXPORT = '__sluice_fuel';
/**
 * Export name of the function added with it that sets the counter: `(param i32)`. The VM refills
 * through it, not through `WebAssembly.Global#value`, whose setter is a call into V8's C++ (measured
 * in a hot loop on Node 24: 14 ns against 3 ns for a call of this export, which V8 inlines).
 */
export const REFUEL_EXPORT = '__sluice_refuel';
/** The fuel counter is an i32 (so refills are plain numbers, no BigInt per callback). */
export const MAX_FUEL_PER_CALLBACK = 2 ** 31 - 1;

/**
 * Safe defaults for a plugin whose config says nothing.
 * - 256 MiB of linear memory: a quarter of Envoy's 1 GiB V8 cap (proxy-wasm-abi.md §9.4); far above
 *   what header/body filters use (the Istio/Higress numbers in §10 are 16–92 MB per VM including
 *   the runtime), and low enough that a leaking plugin is stopped before it takes the host down.
 * - 50 M fuel units per callback. Measured on the 2-core development machine with a tight loop
 *   (test/wasm/sandbox.test.ts prints the numbers): about 1 ns per unit in optimised code and
 *   5–10 ns in V8's baseline tier, where a long first call stays (V8 tiers wasm up between
 *   calls, not inside a running one). So a runaway callback stops after roughly 50–500 ms, while real filter callbacks use
 *   thousands of units (a 1 MiB body scanned byte by byte: about a million). Fuel counts work, not
 *   time: a loop with a long body, or bulk memory operations (memory.fill/copy cost one unit
 *   whatever their length), run longer per unit.
 */
export const DEFAULT_SANDBOX: SandboxPolicy = Object.freeze({
  maxMemoryBytes: 256 * 1024 * 1024,
  fuelPerCallback: 50_000_000,
});

// ---------------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------------

const WASI_MODULES: ReadonlySet<string> = new Set(['wasi_snapshot_preview1', 'wasi_unstable']);

/**
 * `env` imports that are not capabilities, or that stand for one under another name:
 * - `abort` (AssemblyScript): can only end the call with a trap, so there is nothing to restrict;
 *   refusing it would refuse every AS module.
 * - `pthread_equal`, `emscripten_notify_memory_growth`, `envoy_resolve_dns`: cpp-host and Envoy
 *   link these unconditionally (proxy-wasm-abi.md §3.14), whatever the restriction says.
 * - `trace` (AssemblyScript) writes to the proxy's log: allowed when `proxy_log` is.
 * - `seed` (AssemblyScript) is the guest's randomness source: allowed when WASI `random_get` is.
 */
const ENV_HELPER_CAPABILITY: ReadonlyMap<string, string | null> = new Map([
  ['abort', null],
  ['pthread_equal', null],
  ['emscripten_notify_memory_growth', null],
  ['envoy_resolve_dns', null],
  ['trace', 'proxy_log'],
  ['seed', 'random_get'],
]);

/**
 * Whether `name` (a `proxy_*` host function or callback, or a bare WASI function name, as Envoy's
 * `allowed_capabilities` keys are written) is allowed. An absent or empty set allows everything.
 * The VM may use it for callbacks too: Envoy treats a non-allowed `proxy_on_*` export as absent.
 */
export function capabilityAllowed(name: string, allowed: readonly string[] | ReadonlySet<string> | undefined): boolean {
  if (allowed === undefined) return true;
  const set = allowed instanceof Set ? allowed : new Set(allowed as readonly string[]);
  return set.size === 0 || set.has(name);
}

/**
 * The function imports outside `allowed`, as `module.name` in import order (each once). Envoy's
 * keys are `proxy_*` names and bare WASI names (one key covers `wasi_snapshot_preview1` and
 * `wasi_unstable`). Other `env` helpers follow ENV_HELPER_CAPABILITY. Imports from other modules
 * are not capabilities: module loading refuses them anyway, so they are not listed here.
 *
 * Envoy links a non-allowed import to a stub that fails at call time; Sluice refuses the module at
 * load instead, so the operator sees the whole list before any traffic.
 */
export function checkCapabilities(imports: readonly WebAssembly.ModuleImportDescriptor[], allowed: readonly string[] | undefined): string[] {
  if (allowed === undefined || allowed.length === 0) return [];
  const set = new Set(allowed);
  const out: string[] = [];
  const seen = new Set<string>();
  for (const imp of imports) {
    if (imp.kind !== 'function') continue;
    let key: string | null;
    if (WASI_MODULES.has(imp.module)) key = imp.name;
    else if (imp.module === 'env') key = ENV_HELPER_CAPABILITY.has(imp.name) ? ENV_HELPER_CAPABILITY.get(imp.name)! : imp.name;
    else continue;
    if (key === null || set.has(key)) continue;
    const qualified = `${imp.module}.${imp.name}`;
    if (!seen.has(qualified)) {
      seen.add(qualified);
      out.push(qualified);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Fuel at run time (no binaryen needed)
// ---------------------------------------------------------------------------------------------

/** The instance's fuel counter, or undefined for an unmetered instance. */
export function fuelGlobalOf(instance: WebAssembly.Instance): WebAssembly.Global | undefined {
  const g = instance.exports[FUEL_EXPORT];
  return g instanceof WebAssembly.Global ? g : undefined;
}

/** `fuel` as the counter holds it: a whole number in 0..MAX_FUEL_PER_CALLBACK. */
export function clampFuel(fuel: number): number {
  return Math.max(0, Math.min(MAX_FUEL_PER_CALLBACK, Math.floor(fuel)));
}

/** The instance's refuel function (takes a value `clampFuel` returned), or undefined for an unmetered instance. */
export function fuelSetterOf(instance: WebAssembly.Instance): ((fuel: number) => void) | undefined {
  const f = instance.exports[REFUEL_EXPORT];
  return typeof f === 'function' ? (f as (fuel: number) => void) : undefined;
}

/** Sets the instance's fuel to `fuel` (clamped to the i32 range); no-op for an unmetered instance. */
export function refillFuel(instance: WebAssembly.Instance, fuel: number): void {
  fuelSetterOf(instance)?.(clampFuel(fuel));
}

/**
 * True when the instance ran out of fuel: the instrumentation traps exactly when the counter goes
 * below zero, and nothing else can write it (the guest's code predates the global). Read it right
 * after a guest call threw; the next refill clears it.
 */
export function fuelExhausted(instance: WebAssembly.Instance): boolean {
  const g = fuelGlobalOf(instance);
  return g !== undefined && (g.value as number) < 0;
}

/** Fuel left (negative once exhausted), or undefined for an unmetered instance. */
export function fuelRemaining(instance: WebAssembly.Instance): number | undefined {
  return fuelGlobalOf(instance)?.value as number | undefined;
}

// ---------------------------------------------------------------------------------------------
// Rewriting a module
// ---------------------------------------------------------------------------------------------

type Binaryen = typeof binaryenNamespace;
let binaryen: Binaryen | undefined;
let loading: Promise<void> | undefined;

/**
 * Loads binaryen (measured: ~1–3 s of CPU and ~80 MB RSS the first time in a thread) so that
 * `sandboxModule` can meter. Idempotent; call it on the thread that compiles modules.
 */
export function loadSandbox(): Promise<void> {
  loading ??= import('binaryen').then(
    (m) => {
      binaryen = m.default;
    },
    (err: unknown) => {
      loading = undefined;
      throw err;
    },
  );
  return loading;
}

/** Whether `loadSandbox()` has completed (metering is available synchronously). */
export function sandboxLoaded(): boolean {
  return binaryen !== undefined;
}

/**
 * Applies `policy` to a module: lowers the memory maximum to the cap and, when
 * `fuelPerCallback` is set, meters it (every loop iteration, and every entry into a function that
 * loops or calls, costs one unit; below zero the guest executes `unreachable`; the counter starts
 * full, so a start function runs under the same budget). Start function, exports, imports,
 * data and element segments are kept. Throws SluiceError: WASM_LOAD for bytes that are not a
 * module or a module that cannot fit the cap, WASM_SANDBOX when binaryen cannot read, meter or
 * validate it, CONFIG_INVALID for a bad policy, INTERNAL when metering is asked before loadSandbox().
 */
export function sandboxModule(bytes: Uint8Array, policy: SandboxPolicy, source = 'module'): SandboxedModule {
  const capPages = checkPolicy(policy, source);
  if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) {
    let detail = 'invalid';
    try {
      new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
    } catch (err) {
      detail = (err as Error).message;
    }
    throw new SluiceError(ErrorCode.WASM_LOAD, `${source}: not a valid WebAssembly module: ${detail}`, { source });
  }
  let out = bytes;
  let metered = false;
  if (policy.fuelPerCallback !== undefined) {
    out = meter(bytes, policy.fuelPerCallback, source);
    metered = true;
  }
  const mem = capMemory(out, capPages, source);
  return {
    bytes: mem.bytes,
    metered,
    ...(metered ? { fuelGlobal: FUEL_EXPORT } : {}),
    memoryMaxPages: mem.maxPages,
    memoryImported: mem.imported,
  };
}

function checkPolicy(policy: SandboxPolicy, source: string): number {
  const { maxMemoryBytes, fuelPerCallback } = policy;
  if (!Number.isSafeInteger(maxMemoryBytes) || maxMemoryBytes <= 0) {
    throw new SluiceError(ErrorCode.CONFIG_INVALID, `${source}: sandbox maxMemoryBytes must be a positive integer, got ${maxMemoryBytes}`, { source });
  }
  if (fuelPerCallback !== undefined && (!Number.isSafeInteger(fuelPerCallback) || fuelPerCallback < 1 || fuelPerCallback > MAX_FUEL_PER_CALLBACK)) {
    throw new SluiceError(
      ErrorCode.CONFIG_INVALID,
      `${source}: sandbox fuelPerCallback must be an integer from 1 to ${MAX_FUEL_PER_CALLBACK}, got ${fuelPerCallback}`,
      { source },
    );
  }
  return Math.ceil(maxMemoryBytes / WASM_PAGE_BYTES);
}

// ---- memory cap (binary level: the memory section is tiny and its encoding is fixed) -------

/** memory32 cannot address more than 4 GiB. */
const MAX_PAGES_32 = 65536;

function capMemory(bytes: Uint8Array, capPages: number, source: string): { bytes: Uint8Array; maxPages: number; imported: boolean } {
  let info: WasmModuleInfo;
  try {
    info = parseWasmModule(bytes);
  } catch (err) {
    if (!(err instanceof WasmParseError)) throw err;
    throw new SluiceError(ErrorCode.WASM_SANDBOX, `${source}: cannot read the memory limits: ${err.message}`, { source, cause: err });
  }
  const first = info.memories[0];
  const defined = info.memories.filter((m) => m.import === undefined);
  const newLimits = defined.map((m) => {
    const cap = m.limits.index64 ? capPages : Math.min(capPages, MAX_PAGES_32);
    if (m.limits.initial > cap) {
      throw new SluiceError(
        ErrorCode.WASM_LOAD,
        `${source}: memory ${m.index} needs ${m.limits.initial} pages (${m.limits.initial * 64} KiB) at start, more than the sandbox cap of ${cap} pages; raise the plugin's memory limit`,
        { source },
      );
    }
    return { ...m.limits, maximum: Math.min(m.limits.maximum ?? cap, cap) };
  });
  const capOf = (l: Limits): number => Math.min(l.maximum ?? Infinity, l.index64 ? capPages : Math.min(capPages, MAX_PAGES_32));
  const maxPages = first === undefined ? 0 : first.import !== undefined ? capOf(first.limits) : newLimits[0].maximum!;
  const imported = first?.import !== undefined;
  const changed = defined.some((m, i) => m.limits.maximum !== newLimits[i].maximum);
  if (!changed) return { bytes, maxPages, imported };

  const at = info.sections.findIndex((s) => s.id === 5);
  const section = info.sections[at];
  const end = at + 1 < info.sections.length ? info.sections[at + 1].offset : bytes.length;
  const payload: number[] = [];
  uleb(payload, newLimits.length);
  for (const l of newLimits) {
    payload.push((l.index64 ? 0x04 : 0) | (l.shared ? 0x02 : 0) | 0x01);
    uleb(payload, l.initial);
    uleb(payload, l.maximum!);
  }
  const head: number[] = [5];
  uleb(head, payload.length);
  const result = new Uint8Array(section.offset + head.length + payload.length + (bytes.length - end));
  result.set(bytes.subarray(0, section.offset), 0);
  result.set(head, section.offset);
  result.set(payload, section.offset + head.length);
  result.set(bytes.subarray(end), section.offset + head.length + payload.length);
  return { bytes: result, maxPages, imported };
}

/** Unsigned LEB128 of a safe integer (u32 and u64 limits share the encoding). */
function uleb(out: number[], value: number): void {
  let v = value;
  for (let i = 0; i < 10; i++) {
    const byte = v % 128;
    v = Math.floor(v / 128);
    if (v === 0) {
      out.push(byte);
      return;
    }
    out.push(byte | 0x80);
  }
}

// ---- metering (binaryen) ------------------------------------------------------------------

/** The raw binaryen C API (exported by binaryen.js, partly missing from its typings). */
type RawApi = Record<string, ((...args: number[]) => number) | undefined>;

/**
 * Child getters per expression kind, by the C API's names: `_Binaryen<Kind>Get<Child>` for single
 * children and `[Num, At]` pairs for lists. Only loops are rewritten (in place, through
 * `_BinaryenLoopSetBody`), so the walk only needs to read; but it must reach every child, or a loop
 * would escape metering. Kinds binaryen 132 exposes no child getters for (table.fill/copy/init,
 * try_table, throw_ref, GC atomics, stack switching, ...) are accepted only when no loop is under
 * them, and otherwise refused rather than half-metered.
 */
const CHILDREN: Readonly<Record<string, readonly (string | readonly [string, string])[]>> = {
  Block: [['GetNumChildren', 'GetChildAt']],
  If: ['GetCondition', 'GetIfTrue', 'GetIfFalse'],
  Loop: ['GetBody'],
  Break: ['GetCondition', 'GetValue'],
  Switch: ['GetCondition', 'GetValue'],
  Call: [['GetNumOperands', 'GetOperandAt']],
  CallIndirect: ['GetTarget', ['GetNumOperands', 'GetOperandAt']],
  LocalSet: ['GetValue'],
  GlobalSet: ['GetValue'],
  TableGet: ['GetIndex'],
  TableSet: ['GetIndex', 'GetValue'],
  TableGrow: ['GetValue', 'GetDelta'],
  MemoryGrow: ['GetDelta'],
  Load: ['GetPtr'],
  Store: ['GetPtr', 'GetValue'],
  Unary: ['GetValue'],
  Binary: ['GetLeft', 'GetRight'],
  WideIntAddSub: ['GetLeftLow', 'GetLeftHigh', 'GetRightLow', 'GetRightHigh'],
  WideIntMul: ['GetLeft', 'GetRight'],
  Select: ['GetIfTrue', 'GetIfFalse', 'GetCondition'],
  Drop: ['GetValue'],
  Return: ['GetValue'],
  AtomicRMW: ['GetPtr', 'GetValue'],
  AtomicCmpxchg: ['GetPtr', 'GetExpected', 'GetReplacement'],
  AtomicWait: ['GetPtr', 'GetExpected', 'GetTimeout'],
  AtomicNotify: ['GetPtr', 'GetNotifyCount'],
  SIMDExtract: ['GetVec'],
  SIMDReplace: ['GetVec', 'GetValue'],
  SIMDShuffle: ['GetLeft', 'GetRight'],
  SIMDTernary: ['GetA', 'GetB', 'GetC'],
  SIMDShift: ['GetVec', 'GetShift'],
  SIMDLoad: ['GetPtr'],
  SIMDLoadStoreLane: ['GetPtr', 'GetVec'],
  MemoryInit: ['GetDest', 'GetOffset', 'GetSize'],
  MemoryCopy: ['GetDest', 'GetSource', 'GetSize'],
  MemoryFill: ['GetDest', 'GetValue', 'GetSize'],
  RefIsNull: ['GetValue'],
  RefAs: ['GetValue'],
  RefEq: ['GetLeft', 'GetRight'],
  Try: ['GetBody', ['GetNumCatchBodies', 'GetCatchBodyAt']],
  Throw: [['GetNumOperands', 'GetOperandAt']],
  TupleMake: [['GetNumOperands', 'GetOperandAt']],
  TupleExtract: ['GetTuple'],
  RefI31: ['GetValue'],
  I31Get: ['GetI31'],
  CallRef: ['GetTarget', ['GetNumOperands', 'GetOperandAt']],
  RefTest: ['GetRef'],
  RefCast: ['GetRef'],
  BrOn: ['GetRef'],
  StructNew: [['GetNumOperands', 'GetOperandAt']],
  StructGet: ['GetRef'],
  StructSet: ['GetRef', 'GetValue'],
  ArrayNew: ['GetInit', 'GetSize'],
  ArrayNewFixed: [['GetNumValues', 'GetValueAt']],
  ArrayNewData: ['GetOffset', 'GetSize'],
  ArrayNewElem: ['GetOffset', 'GetSize'],
  ArrayGet: ['GetRef', 'GetIndex'],
  ArraySet: ['GetRef', 'GetIndex', 'GetValue'],
  ArrayLen: ['GetRef'],
  ArrayFill: ['GetRef', 'GetIndex', 'GetValue', 'GetSize'],
  ArrayCopy: ['GetDestRef', 'GetDestIndex', 'GetSrcRef', 'GetSrcIndex', 'GetLength'],
  ArrayInitData: ['GetRef', 'GetIndex', 'GetOffset', 'GetSize'],
  ArrayInitElem: ['GetRef', 'GetIndex', 'GetOffset', 'GetSize'],
  StringNew: ['GetRef', 'GetStart', 'GetEnd'],
  StringMeasure: ['GetRef'],
  StringEncode: ['GetStr', 'GetArray', 'GetStart'],
  StringConcat: ['GetLeft', 'GetRight'],
  StringEq: ['GetLeft', 'GetRight'],
  StringWTF16Get: ['GetRef', 'GetPos'],
  StringSliceWTF: ['GetRef', 'GetStart', 'GetEnd'],
};

/** Kinds without expression children. */
const LEAVES = [
  'Nop', 'Unreachable', 'Pop', 'RefNull', 'LocalGet', 'GlobalGet', 'MemorySize', 'TableSize', 'Const', 'AtomicFence',
  'DataDrop', 'ElemDrop', 'RefFunc', 'Rethrow', 'StringConst', 'Pause',
] as const;

/** Kinds without child getters, named for the refusal message. */
const UNSUPPORTED = [
  'TableFill', 'TableCopy', 'TableInit', 'TryTable', 'ThrowRef', 'StructRMW', 'StructCmpxchg', 'ArrayRMW', 'ArrayCmpxchg',
  'ArrayLoad', 'ArrayStore', 'RefGetDesc', 'ContNew', 'ContBind', 'Suspend', 'Resume', 'ResumeThrow', 'StackSwitch',
  'StructWait', 'StructNotify', 'StringTest',
] as const;

interface Walker {
  /** expression id → pushes its non-null children; null for a leaf. */
  readonly children: ReadonlyMap<number, ((expr: number, out: number[]) => void) | null>;
  readonly names: ReadonlyMap<number, string>;
  readonly loopId: number;
  /** call, call_indirect, call_ref (return_call* are the same nodes with a flag). */
  readonly callIds: ReadonlySet<number>;
  readonly getId: (expr: number) => number;
  readonly getType: (expr: number) => number;
  readonly print: (expr: number) => string;
  readonly getLoopBody: (loop: number) => number;
  readonly setFunctionBody: (fn: number, body: number) => number;
  readonly setLoopBody: (loop: number, body: number) => number;
}
let walker: Walker | undefined;

function rawFn(raw: RawApi, name: string): ((...args: number[]) => number) | undefined {
  const fn = raw[name];
  return typeof fn === 'function' ? fn : undefined;
}

function buildWalker(b: Binaryen): Walker {
  const raw = b as unknown as RawApi;
  const need = (name: string) => {
    const fn = rawFn(raw, name);
    if (fn === undefined) throw new SluiceError(ErrorCode.INTERNAL, `binaryen lacks ${name}: the sandbox needs binaryen 132`);
    return fn;
  };
  const idOf = (kind: string): number | undefined => rawFn(raw, `_Binaryen${kind}Id`)?.();
  const children = new Map<number, ((expr: number, out: number[]) => void) | null>();
  const names = new Map<number, string>();
  for (const kind of LEAVES) {
    const id = idOf(kind);
    if (id === undefined) continue;
    children.set(id, null);
    names.set(id, kind);
  }
  for (const [kind, spec] of Object.entries(CHILDREN)) {
    const id = idOf(kind);
    if (id === undefined) continue;
    names.set(id, kind);
    const getters = spec.map((s) =>
      typeof s === 'string' ? { one: need(`_Binaryen${kind}${s}`) } : { num: need(`_Binaryen${kind}${s[0]}`), at: need(`_Binaryen${kind}${s[1]}`) },
    );
    children.set(id, (expr, out) => {
      for (const g of getters) {
        if (g.one !== undefined) {
          const c = g.one(expr);
          if (c !== 0) out.push(c);
        } else {
          const n = g.num!(expr);
          for (let i = 0; i < n; i++) {
            const c = g.at!(expr, i);
            if (c !== 0) out.push(c);
          }
        }
      }
    });
  }
  for (const kind of UNSUPPORTED) {
    const id = idOf(kind);
    if (id !== undefined && !names.has(id)) names.set(id, kind);
  }
  return {
    children,
    names,
    loopId: need('_BinaryenLoopId')(),
    callIds: new Set(['Call', 'CallIndirect', 'CallRef'].map((k) => idOf(k)).filter((id) => id !== undefined)),
    getId: need('_BinaryenExpressionGetId'),
    getType: need('_BinaryenExpressionGetType'),
    print: (expr) => b.emitText(expr),
    getLoopBody: need('_BinaryenLoopGetBody'),
    setFunctionBody: need('_BinaryenFunctionSetBody'),
    setLoopBody: need('_BinaryenLoopSetBody'),
  };
}

function meter(bytes: Uint8Array, fuel: number, source: string): Uint8Array {
  const b = binaryen;
  if (b === undefined) {
    throw new SluiceError(ErrorCode.INTERNAL, `${source}: metering needs binaryen: await loadSandbox() before sandboxModule()`, { source });
  }
  walker ??= buildWalker(b);
  const w = walker;
  const features = featuresFor(b);
  let module: binaryenNamespace.Module;
  try {
    // The typings declare one parameter; binaryen.js takes the features as a second one.
    module = (b.readBinary as (data: Uint8Array, features?: number) => binaryenNamespace.Module)(bytes, features);
  } catch (err) {
    throw new SluiceError(ErrorCode.WASM_SANDBOX, `${source}: binaryen cannot read the module: ${(err as Error).message}`, { source, cause: err });
  }
  const prevDebugInfo = b.getDebugInfo();
  try {
    module.setFeatures(features);
    for (const name of [FUEL_EXPORT, REFUEL_EXPORT]) {
      if (module.getExport(name) !== 0) {
        throw new SluiceError(ErrorCode.WASM_LOAD, `${source}: already exports ${name} (sandboxed twice?)`, { source });
      }
    }
    const global = uniqueName('sluice$fuel', (name) => module.getGlobal(name) !== 0);
    module.addGlobal(global, b.i32, true, module.i32.const(fuel));
    module.addGlobalExport(global, FUEL_EXPORT);
    const charge = (body: number): number =>
      module.block(
        null,
        [
          module.global.set(global, module.i32.sub(module.global.get(global, b.i32), module.i32.const(1))),
          module.if(module.i32.lt_s(module.global.get(global, b.i32), module.i32.const(0)), module.unreachable()),
          body,
        ],
        w.getType(body),
      );
    const unsupported = new Set<string>();
    // Binaryen IR is a tree: every node is visited once, so the walk is bounded by the node count,
    // which is bounded by the input size (each node comes from at least one byte of code, plus the
    // implicit blocks binaryen adds; 4 per byte is far above any real ratio).
    const budget = { left: bytes.length * 4 + 1_000_000 };
    const n = module.getNumFunctions();
    for (let i = 0; i < n; i++) {
      const fn = module.getFunctionByIndex(i);
      const info = b.getFunctionInfo(fn);
      if (info.module || info.body === 0) continue; // imported
      const scan = scanBody(w, info.body, unsupported, budget, source);
      for (const loop of scan.loops) w.setLoopBody(loop, charge(w.getLoopBody(loop)));
      if (scan.calls) w.setFunctionBody(fn, charge(info.body));
    }
    // Added after the walk: it neither loops nor calls, so it would not be charged anyway.
    const refuel = uniqueName('sluice$refuel', (name) => module.getFunction(name) !== 0);
    module.addFunction(refuel, b.createType([b.i32]), b.none, [], module.global.set(global, module.local.get(0, b.i32)));
    module.addFunctionExport(refuel, REFUEL_EXPORT);
    if (unsupported.size > 0) {
      throw new SluiceError(
        ErrorCode.WASM_SANDBOX,
        `${source}: cannot meter this module: it has loops inside ${[...unsupported].join(', ')}, which binaryen's API cannot reach; run this plugin without fuel metering`,
        { source },
      );
    }
    if (!module.validate()) {
      throw new SluiceError(ErrorCode.WASM_SANDBOX, `${source}: the metered module does not validate (binaryen printed the reason)`, { source });
    }
    // Keeps the name section, so traps still name the guest's functions.
    b.setDebugInfo(true);
    return module.emitBinary();
  } finally {
    b.setDebugInfo(prevDebugInfo);
    module.dispose();
  }
}

/**
 * Every feature binaryen knows (the input already passed V8's validation, so whatever it uses is
 * something V8 runs), except CompactImports: enabling it makes binaryen 132 re-encode the import
 * section in the compact-imports proposal's form, which V8 in Node 24 rejects.
 */
function featuresFor(b: Binaryen): number {
  const compactImports = (b.Features as unknown as Record<string, number | undefined>).CompactImports ?? 0;
  return b.Features.All & ~compactImports;
}

/** `base`, or `base` with the lowest numeric suffix that `taken` says is free. */
function uniqueName(base: string, taken: (name: string) => boolean): string {
  for (let i = 0; i < 1000; i++) {
    const name = i === 0 ? base : `${base}${i}`;
    if (!taken(name)) return name;
  }
  throw new SluiceError(ErrorCode.INTERNAL, `no free name for ${base}`);
}

/**
 * Every loop under `root`, and whether the body calls anything (or holds a node the walk cannot
 * see into, which counts as a call). Explicit stack: bodies can nest thousands deep.
 */
function scanBody(w: Walker, root: number, unsupported: Set<string>, budget: { left: number }, source: string): { loops: number[]; calls: boolean } {
  const loops: number[] = [];
  let calls = false;
  const stack = [root];
  while (stack.length > 0) {
    if (--budget.left < 0) throw new SluiceError(ErrorCode.WASM_SANDBOX, `${source}: more expressions than the module size allows`, { source });
    const expr = stack.pop()!;
    const id = w.getId(expr);
    if (id === w.loopId) loops.push(expr);
    else if (w.callIds.has(id)) calls = true;
    const push = w.children.get(id);
    if (push === undefined) {
      // No child getters for this kind: its subtree is fine only if it holds no loop. The printer
      // is the one binaryen API that reaches every child; "(loop" in a string constant or name
      // would only make this refuse a module it could have metered.
      calls = true;
      if (/\(loop\b/.test(w.print(expr))) unsupported.add(w.names.get(id) ?? `expression id ${id}`);
      continue;
    }
    if (push !== null) push(expr, stack);
  }
  return { loops, calls };
}
