import { createHash } from 'node:crypto';
import { scanAbiVersion, type AbiVersion } from '../../abi/abi-version.ts';
import { ErrorCode, SluiceError } from '../errors.ts';
import { PROVIDED_IMPORT_MODULES, providedImportNames } from './imports.ts';
import { checkCapabilities, DEFAULT_SANDBOX, sandboxModule, type SandboxPolicy } from './sandbox.ts';

/**
 * A compiled plugin module: compiled once (on the main thread), shared with every worker, checked
 * before any instance exists. The checks are the ones Envoy makes at load (ABI marker, allocator,
 * memory, every import resolvable), so a module that cannot run is refused with one message naming
 * the file and each missing piece, instead of failing later on a worker.
 */
export interface CompiledModule {
  readonly module: WebAssembly.Module;
  readonly abiVersion: AbiVersion;
  /** File name or `inline:<sha256 prefix>`: what errors and logs call the module. */
  readonly source: string;
  /** sha256 of the module as supplied (before sandbox rewriting): what admin and logs show. */
  readonly sha256: string;
  readonly size: number;
  /** Fuel per callback when the module is metered (refilled before every outermost guest call). */
  readonly fuelPerCallback?: number;
  /** The linear-memory cap in pages after rewriting. */
  readonly memoryMaxPages?: number;
}

export function compileModule(bytes: Uint8Array, source: string): CompiledModule {
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  } catch (err) {
    throw new SluiceError(ErrorCode.WASM_LOAD, `${source}: not a valid WebAssembly module: ${(err as Error).message}`, {
      source,
      cause: err,
    });
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { module, abiVersion: checkModule(module, source), source, sha256, size: bytes.byteLength };
}

/** Refuses a module that cannot run; returns its ABI version. */
export function checkModule(module: WebAssembly.Module, source: string): AbiVersion {
  const problems: string[] = [];
  const exports = WebAssembly.Module.exports(module);
  const exportNames = exports.map((e) => e.name);
  const scan = scanAbiVersion(exportNames);
  let version: AbiVersion | undefined;
  if (scan.kind === 'found') version = scan.version;
  else if (scan.kind === 'multiple') problems.push(`declares several ABI versions (${scan.versions.join(', ')})`);
  else {
    const extra = scan.unknown.length > 0 ? ` (found unsupported ${scan.unknown.join(', ')})` : '';
    problems.push(`missing export proxy_abi_version_0_2_1, _0_2_0 or _0_1_0: not a proxy-wasm module${extra}`);
  }
  const fn = new Set(exports.filter((e) => e.kind === 'function').map((e) => e.name));
  if (!fn.has('proxy_on_memory_allocate') && !fn.has('malloc')) {
    problems.push('missing export proxy_on_memory_allocate (or malloc): the host cannot return memory to the guest');
  }
  const imports = WebAssembly.Module.imports(module);
  if (!exports.some((e) => e.kind === 'memory' && e.name === 'memory')) {
    problems.push('missing export memory (Sluice does not provide memory to import; build without --importMemory)');
  }
  for (const i of imports) {
    if (i.kind !== 'function') {
      problems.push(`imports ${i.kind} ${i.module}.${i.name}, which Sluice does not provide`);
      continue;
    }
    if (!PROVIDED_IMPORT_MODULES.has(i.module)) {
      problems.push(`imports ${i.module}.${i.name}: Sluice provides no module "${i.module}"`);
      continue;
    }
    if (!providedImportNames(i.module).has(i.name)) problems.push(`imports ${i.module}.${i.name}, which Sluice does not provide`);
  }
  if (problems.length > 0 || version === undefined) {
    throw new SluiceError(ErrorCode.WASM_LOAD, `${source}: cannot load this module:\n  ${problems.join('\n  ')}`, { source });
  }
  return version;
}

/** What a plugin's config asks of the sandbox (defaults where it says nothing). */
export interface PluginSandbox {
  /** `capability_restriction_config.allowed_capabilities` keys; undefined = no restriction. */
  allowedCapabilities: readonly string[] | undefined;
  maxMemoryBytes: number | undefined;
  /** undefined = the default budget; null = no metering. */
  fuelPerCallback: number | undefined | null;
}

export function sandboxPolicy(p: PluginSandbox): SandboxPolicy {
  return {
    maxMemoryBytes: p.maxMemoryBytes ?? DEFAULT_SANDBOX.maxMemoryBytes,
    fuelPerCallback: p.fuelPerCallback === null ? undefined : (p.fuelPerCallback ?? DEFAULT_SANDBOX.fuelPerCallback),
  };
}

/**
 * Compiles a plugin module inside its sandbox: checked as supplied (so errors name what the author
 * wrote), refused when it imports a capability the plugin is not allowed, then rewritten (memory
 * cap, fuel metering; runtime/wasm/sandbox.ts) and compiled. Needs `loadSandbox()` first when the
 * policy meters.
 */
export function compileSandboxed(bytes: Uint8Array, source: string, p: PluginSandbox): CompiledModule {
  const original = compileModule(bytes, source);
  const denied = checkCapabilities(WebAssembly.Module.imports(original.module), p.allowedCapabilities);
  if (denied.length > 0) {
    throw new SluiceError(
      ErrorCode.WASM_LOAD,
      `${source}: imports functions outside capability_restriction_config.allowed_capabilities: ${denied.join(', ')}`,
      { source },
    );
  }
  const policy = sandboxPolicy(p);
  const sandboxed = sandboxModule(bytes, policy, source);
  const module = sandboxed.bytes === bytes ? original.module : new WebAssembly.Module(sandboxed.bytes as Uint8Array<ArrayBuffer>);
  return {
    ...original,
    module,
    fuelPerCallback: sandboxed.metered ? policy.fuelPerCallback : undefined,
    memoryMaxPages: sandboxed.memoryMaxPages,
  };
}
