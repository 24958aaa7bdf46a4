import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, SluiceError } from '../errors.ts';

/**
 * Compiles an AssemblyScript filter written with `@sluice/sdk` into a proxy-wasm module: what
 * `sluice build` runs, and what test helpers run to build fixtures.
 *
 * Flags: the SDK's asconfig.json `options` (the ones a filter cannot work without: the incremental
 * GC, `_initialize` instead of a start section, abort/trace/seed routed through proxy_log so the
 * module imports nothing Envoy lacks), then `-O3s` for an optimised build or `--debug` otherwise.
 * Why `-O3s` (optimizeLevel 3, shrinkLevel 1, no `--converge`): measured on the scaffold's filter
 * and on test/fixtures/sdk/kitchen-sink.ts it is 11-13% smaller than the SDK's own release target
 * (`-O3 --converge`) and compiles 3-5× faster, with no per-request difference through the harness;
 * docs/TOOLCHAIN.md has the table. A project's own asconfig.json is not read (it exists for `npx asc`
 * and editors): a stray option there cannot silently break the module.
 *
 * `@sluice/sdk` resolves the way asc resolves any package, from the project's node_modules (the
 * nearest `node_modules/@sluice/sdk` above `baseDir`); a filter with no such directory above it (a
 * loose file, a temp dir) gets the SDK that ships with this Sluice.
 */

/** Root of the Sluice installation this file belongs to. */
export const SLUICE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The SDK shipped with this Sluice: the fallback when a filter's project installs none. */
export const BUNDLED_SDK_DIR = join(SLUICE_ROOT, 'sdk');

const SDK_SEGMENT = `${sep}node_modules${sep}@sluice${sep}sdk${sep}`;
const NODE_MODULES_SEGMENT = `${sep}node_modules${sep}`;

/** binaryen levels for an optimised build (`-O3s`); see the header comment for the measurement. */
export const OPTIMIZE_FLAGS: readonly string[] = ['--optimizeLevel', '3', '--shrinkLevel', '1'];
/** An unoptimised build with a name section, so traps show function names. */
export const DEBUG_FLAGS: readonly string[] = ['--debug'];

export interface BuildOptions {
  /** `-O3s` (default true); false builds with `--debug` (names in traps, faster to compile). */
  optimize?: boolean;
  /** Also write the module here (directories created; written to a temp file and renamed into place). */
  outFile?: string;
  /**
   * The directory asc works from: packages resolve from its node_modules upwards, and source paths
   * in abort messages (`at assembly/index.ts:12:5`) are relative to it. Default: the entry's directory.
   */
  baseDir?: string;
  /** Use this SDK directory instead of resolving `@sluice/sdk` from `baseDir`. */
  sdkDir?: string;
}

export interface BuildResult {
  wasm: Uint8Array;
  /** Bytes in `wasm`. */
  size: number;
  /** Compiler warnings, each `file:line:col: warning ASnnn: text` (paths relative to the cwd). */
  warnings: string[];
  /** Absolute path of every source file the compiler read (entry, its imports, the SDK's files). */
  sources: string[];
  /** The SDK the filter was compiled against. */
  sdkDir: string;
  /** The asc flags used. */
  flags: string[];
}

interface Asconfig {
  options?: Record<string, boolean | number | string | string[]>;
}

/**
 * The `@sluice/sdk` directory a filter whose asc base directory is `baseDir` compiles against:
 * the nearest `node_modules/@sluice/sdk` above it (real path), else the bundled SDK.
 */
export function resolveSdkDir(baseDir: string): string {
  let dir = resolve(baseDir);
  for (let i = 0; i < 256; i++) {
    const candidate = join(dir, 'node_modules', '@sluice', 'sdk');
    if (existsSync(join(candidate, 'asconfig.json'))) return realpathSync(candidate);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return BUNDLED_SDK_DIR;
}

/** The asc flags `buildFilter` uses with `sdkDir` (default: the bundled SDK). */
export function filterBuildFlags(opts: { optimize?: boolean; sdkDir?: string } = {}): string[] {
  const sdkDir = opts.sdkDir ?? BUNDLED_SDK_DIR;
  const file = join(sdkDir, 'asconfig.json');
  let config: Asconfig;
  try {
    config = JSON.parse(readFileSync(file, 'utf8')) as Asconfig;
  } catch (err) {
    throw new SluiceError(ErrorCode.BUILD_FAILED, `${display(file)}: cannot read the SDK's compiler options: ${(err as Error).message}`, { source: file, cause: err });
  }
  const flags: string[] = [];
  for (const [key, value] of Object.entries(config.options ?? {})) {
    if (value === false) continue;
    if (value === true) flags.push(`--${key}`);
    else if (Array.isArray(value)) for (const v of value) flags.push(`--${key}`, v);
    else flags.push(`--${key}`, String(value));
  }
  flags.push(...(opts.optimize === false ? DEBUG_FLAGS : OPTIMIZE_FLAGS), '--noColors');
  return flags;
}

/**
 * Compiles `entry` (an AssemblyScript file that imports `@sluice/sdk` and re-exports
 * `@sluice/sdk/exports`). Compile errors throw a SluiceError `SLUICE_ERR_BUILD` whose message has
 * one `file:line:col: error TSnnnn: text` line per diagnostic, paths relative to the cwd.
 */
export async function buildFilter(entry: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const entryPath = resolve(entry);
  if (!isFile(entryPath)) {
    throw new SluiceError(ErrorCode.BUILD_FAILED, `cannot build ${display(entryPath)}: no such file`, { source: entryPath });
  }
  const baseDir = resolve(opts.baseDir ?? dirname(entryPath));
  const sdkDir = opts.sdkDir !== undefined ? resolve(opts.sdkDir) : resolveSdkDir(baseDir);
  const flags = filterBuildFlags({ optimize: opts.optimize, sdkDir });
  const out = await serialized(() => compile(entryPath, baseDir, sdkDir, flags));
  const errors = out.diagnostics.filter((d) => d.category === CATEGORY_ERROR).map((d) => formatDiagnostic(d, out));
  if (out.wasm === undefined || errors.length > 0 || out.failure !== undefined) {
    const lines = errors.length > 0 ? [...errors] : [out.failure ?? 'the compiler produced no module', out.stderr.trim()].filter((l) => l !== '');
    if (errors.some((l) => /'__sluice_(abort|trace|seed)' not found/.test(l))) lines.push(EXPORTS_HINT);
    const count = errors.length > 0 ? `${errors.length} error${errors.length === 1 ? '' : 's'}` : 'compiler failure';
    throw new SluiceError(ErrorCode.BUILD_FAILED, `build of ${display(entryPath)} failed (${count}):\n${lines.join('\n')}`, { source: entryPath });
  }
  const missing = missingProxyWasmExport(out.wasm);
  if (missing !== undefined) {
    throw new SluiceError(ErrorCode.BUILD_FAILED, `build of ${display(entryPath)} failed: the module ${missing}\n${EXPORTS_HINT}`, { source: entryPath });
  }
  const warnings = out.diagnostics.filter((d) => d.category === CATEGORY_WARNING).map((d) => formatDiagnostic(d, out));
  if (opts.outFile !== undefined) writeAtomically(resolve(opts.outFile), out.wasm);
  return { wasm: out.wasm, size: out.wasm.byteLength, warnings, sources: [...out.sources], sdkDir, flags };
}

const EXPORTS_HINT = 'hint: the entry file must re-export the SDK\'s proxy-wasm callbacks, once: export * from "@sluice/sdk/exports";';

/** Why `wasm` is not a proxy-wasm module (an entry that forgot the SDK's exports compiles fine), or undefined. */
function missingProxyWasmExport(wasm: Uint8Array): string | undefined {
  let names: string[];
  try {
    names = WebAssembly.Module.exports(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>)).map((e) => e.name);
  } catch (err) {
    return `is not valid WebAssembly: ${(err as Error).message}`;
  }
  if (!names.some((n) => n.startsWith('proxy_abi_version_'))) return 'exports no proxy_abi_version_* marker, so no proxy will load it';
  return undefined;
}

/** Version of the AssemblyScript compiler `buildFilter` uses (read without loading the compiler). */
export function assemblyScriptVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.resolve('assemblyscript/asc')));
  for (let i = 0; i < 8; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      const pkg = JSON.parse(readFileSync(pj, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'assemblyscript' && pkg.version !== undefined) return pkg.version;
    }
    dir = dirname(dir);
  }
  throw new SluiceError(ErrorCode.INTERNAL, 'cannot find the assemblyscript package Sluice builds with');
}

// ---------------------------------------------------------------------------------------------

type AscModule = typeof import('assemblyscript/asc');
let ascModule: Promise<AscModule> | undefined;

// One compile at a time in a process: asc keeps per-run state in module globals.
let queue: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

const CATEGORY_WARNING = 2;
const CATEGORY_ERROR = 3;
const CATEGORY_NAMES: Record<number, string> = { 0: 'pedantic', 1: 'info', 2: 'warning', 3: 'error' };

interface AscDiagnostic {
  message: string;
  code: number;
  category: number;
  range: { start: number; end: number; source: { normalizedPath: string } } | null;
}

interface CompileOutput {
  wasm: Uint8Array | undefined;
  diagnostics: AscDiagnostic[];
  /** Real paths read, in read order. */
  sources: Set<string>;
  /** Source text by asc's normalized path (`assembly/index.ts`, `~lib/@sluice/sdk/assembly/x.ts`), with its real path. */
  texts: Map<string, { path: string; text: string }>;
  baseDir: string;
  /** asc's own error when it failed without a diagnostic (bad option, missing runtime). */
  failure: string | undefined;
  stderr: string;
  libraryFiles: Record<string, string>;
}

async function compile(entry: string, baseDir: string, sdkDir: string, flags: string[]): Promise<CompileOutput> {
  ascModule ??= import('assemblyscript/asc');
  const asc = await ascModule;
  const out: CompileOutput = {
    wasm: undefined,
    diagnostics: [],
    sources: new Set(),
    texts: new Map(),
    baseDir,
    failure: undefined,
    stderr: '',
    libraryFiles: asc.libraryFiles as Record<string, string>,
  };
  const outputs = new Map<string, Uint8Array | string>();
  let result: Awaited<ReturnType<AscModule['main']>>;
  try {
    result = await asc.main([relative(baseDir, entry), '--baseDir', baseDir, '--outFile', 'out.wasm', ...flags], {
      readFile: (name, dir) => {
        // The flags are the SDK's plus ours; an asconfig.json next to the filter is for `npx asc`.
        if (name.endsWith('asconfig.json')) return null;
        const requested = resolve(dir, name);
        const path = mapSdkPath(requested, sdkDir);
        let text: string;
        try {
          text = readFileSync(path, 'utf8');
        } catch {
          return null;
        }
        out.sources.add(path);
        const i = requested.lastIndexOf(NODE_MODULES_SEGMENT);
        const key = i >= 0 ? `~lib/${toSlashes(requested.slice(i + NODE_MODULES_SEGMENT.length))}` : toSlashes(relative(baseDir, requested));
        out.texts.set(key, { path, text });
        return text;
      },
      writeFile: (name, contents) => {
        outputs.set(name, contents);
      },
      listFiles: () => [],
      reportDiagnostic: (d) => {
        out.diagnostics.push(d as AscDiagnostic);
      },
    });
  } catch (err) {
    out.failure = `the AssemblyScript compiler failed: ${(err as Error).message}`;
    return out;
  }
  out.stderr = result.stderr.toString();
  const wasm = outputs.get('out.wasm');
  if (wasm instanceof Uint8Array) out.wasm = new Uint8Array(wasm);
  if (result.error !== null && !out.diagnostics.some((d) => d.category === CATEGORY_ERROR)) out.failure = result.error.message;
  return out;
}

/** Where a path asc probes really lives: `…/node_modules/@sluice/sdk/x` ⇒ `<sdkDir>/x`. */
function mapSdkPath(path: string, sdkDir: string): string {
  const i = path.lastIndexOf(SDK_SEGMENT);
  return i < 0 ? path : join(sdkDir, path.slice(i + SDK_SEGMENT.length));
}

/** `assembly/index.ts:12:5: error TS2304: Cannot find name 'x'.` (path relative to the cwd). */
function formatDiagnostic(d: AscDiagnostic, out: CompileOutput): string {
  const kind = `${CATEGORY_NAMES[d.category] ?? 'error'} ${d.code < 1000 ? 'AS' : 'TS'}${d.code}: ${d.message}`;
  if (d.range === null) return kind;
  const normalized = d.range.source.normalizedPath;
  let where: string;
  let text: string | undefined;
  const known = out.texts.get(normalized);
  if (known !== undefined) {
    where = display(known.path);
    text = known.text;
  } else if (normalized.startsWith('~lib/')) {
    where = normalized;
    text = out.libraryFiles[normalized.slice('~lib/'.length).replace(/\.ts$/, '')];
  } else {
    where = display(resolve(out.baseDir, normalized));
  }
  if (text === undefined) return `${where}: ${kind}`;
  const { line, column } = lineAndColumn(text, d.range.start);
  return `${where}:${line}:${column}: ${kind}`;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(Math.max(offset, 0), text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

/** A path as the user should see it: relative to the cwd when under it, else absolute (no `../../`). */
export function display(path: string): string {
  const rel = relative(process.cwd(), path);
  if (rel === '') return '.';
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

function toSlashes(p: string): string {
  return p.split(sep).join('/');
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Writes to a temp file in the same directory and renames it over `path`, so a watcher never sees half a module. */
function writeAtomically(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new SluiceError(ErrorCode.BUILD_FAILED, `cannot write ${display(path)}: ${(err as Error).message}`, { source: path, cause: err });
  }
}
