import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Compiles AssemblyScript guest fixtures at test time with the project's `assemblyscript@0.28`
 * (in process, through `asc.main`, output kept in memory) and caches the binary on disk.
 *
 * Flags, and why:
 * - `--runtime incremental` (the AS default, stated explicitly): a real GC, so a fixture that runs
 *   thousands of requests does not grow without bound as it would with `stub`. Memory handed to the
 *   host is safe because guests allocate it with `heap.alloc` (outside the GC), see
 *   test/fixtures/wasm/lib/guest.ts. The incremental GC uses AS's shadow stack, so it needs nothing
 *   from the host.
 * - `--exportStart _initialize`: without it AS puts top-level code (static initialisers, the GC's
 *   setup) in the wasm start section, which runs inside `new WebAssembly.Instance` before the host
 *   has the instance's exports; a host call from there (e.g. proxy_log) could not even read guest
 *   memory. Exported as `_initialize`, it is the usual WASI-reactor shape: the host instantiates,
 *   takes `memory`, then calls `_initialize` once (proxy-wasm-abi.md §6) — like Rust/Go/C++ modules.
 * - `env.abort(msg, file, line, col)` is left as an import (no `--use abort=`): the host decodes the
 *   AS string arguments to log the abort text when it turns the trap into a fail-open/closed decision.
 * - optimize: `-O3 --converge`; otherwise `--debug` (a name section, so traps show function names).
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Shared by every build helper; one file per cache key, written atomically. */
export const WASM_CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'sluice-wasm');

export interface AssemblyScriptBuildOptions {
  /** `-O3 --converge` instead of an unoptimised `--debug` build. Default false (faster to compile). */
  optimize?: boolean;
  /** Adds `--exportRuntime` (`__new`, `__pin`, `__unpin`, `__collect`, `__rtti_base`). */
  exportRuntime?: boolean;
  /** Appended verbatim to the asc command line (and part of the cache key). */
  extraArgs?: string[];
}

/** The asc flags used for `opts` (exported so tests and reports can show them). */
export function assemblyScriptFlags(opts: AssemblyScriptBuildOptions = {}): string[] {
  const flags = ['--runtime', 'incremental', '--exportStart', '_initialize', '--noColors'];
  if (opts.optimize) flags.push('-O3', '--converge');
  else flags.push('--debug');
  if (opts.exportRuntime) flags.push('--exportRuntime');
  flags.push(...(opts.extraArgs ?? []));
  return flags;
}

/** Thrown for compile failures; the message carries every diagnostic as `file:line:col: ERROR TSnnnn: text`. */
export class WasmBuildError extends Error {
  readonly entry: string;
  constructor(entry: string, message: string) {
    super(message);
    this.name = 'WasmBuildError';
    this.entry = entry;
  }
}

/**
 * Compiles `entry` (absolute path of an AssemblyScript `.ts` file) and returns the wasm binary.
 * Results are cached under node_modules/.cache/sluice-wasm keyed by the compiler version, the flags
 * and the contents (and relative paths) of the entry and every file it imports relatively.
 */
export async function buildAssemblyScript(entry: string, opts: AssemblyScriptBuildOptions = {}): Promise<Uint8Array> {
  if (!isAbsolute(entry)) throw new Error(`buildAssemblyScript: entry must be an absolute path, got "${entry}"`);
  const flags = assemblyScriptFlags(opts);
  const asc = await ascPackageVersion();
  const closure = sourceClosure(entry);
  const key = cacheKey(['assemblyscript', asc, ...flags], closure);
  return withCache(key, async () => {
    const { wasm, readOutsideClosure } = await compileInProcess(entry, flags, closure);
    // A file the compiler read that the key does not cover (an import form the scanner missed)
    // would make the cache stale; better to rebuild every time than to return an old binary.
    return { wasm, cacheable: !readOutsideClosure };
  });
}

// ---------------------------------------------------------------------------------------------
// Source closure and cache (shared with solo-build.ts)
// ---------------------------------------------------------------------------------------------

export interface SourceFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the entry's directory (AS embeds it in abort messages, so it is keyed too). */
  rel: string;
  content: string;
}

export interface SourceClosure {
  files: SourceFile[];
  /** Non-relative import specifiers (packages), with the version of the package found for each. */
  packages: { specifier: string; version: string | undefined }[];
}

const IMPORT_RE = /\b(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]/g;
const MAX_CLOSURE_FILES = 1000;

/**
 * The entry plus every file reachable through relative imports (`./x`, `../lib/y`), resolved the
 * way asc does (`x.ts`, then `x/index.ts`). Package imports are recorded with their installed
 * version; `~lib/` imports belong to the compiler and are covered by its version.
 */
export function sourceClosure(entry: string): SourceClosure {
  const base = dirname(entry);
  const files: SourceFile[] = [];
  const packages = new Map<string, string | undefined>();
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    if (files.length >= MAX_CLOSURE_FILES) throw new Error(`${entry}: more than ${MAX_CLOSURE_FILES} imported files`);
    const path = queue.shift()!;
    if (seen.has(path)) continue;
    seen.add(path);
    const content = readFileSync(path, 'utf8');
    files.push({ path, rel: relative(base, path).split(sep).join('/'), content });
    for (const m of content.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('./') || spec.startsWith('../')) {
        const target = resolveAsImport(dirname(path), spec);
        if (target !== undefined) queue.push(target);
      } else if (!spec.startsWith('~lib/') && !packages.has(spec)) {
        packages.set(spec, packageVersion(base, spec));
      }
    }
  }
  return { files, packages: [...packages].map(([specifier, version]) => ({ specifier, version })) };
}

function resolveAsImport(fromDir: string, spec: string): string | undefined {
  const bare = resolve(fromDir, spec).replace(/\.ts$/, '');
  for (const candidate of [`${bare}.ts`, join(bare, 'index.ts')]) if (existsSync(candidate)) return candidate;
  return undefined;
}

/** Version of the package a specifier like `@scope/pkg/assembly/x` resolves to from `dir`, if installed. */
function packageVersion(dir: string, spec: string): string | undefined {
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  let d = dir;
  for (let i = 0; i < 64; i++) {
    const pj = join(d, 'node_modules', name, 'package.json');
    if (existsSync(pj)) return (JSON.parse(readFileSync(pj, 'utf8')) as { version?: string }).version;
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  return undefined;
}

/** sha256 over the tool identity/flags and the closure (relative paths and contents). */
export function cacheKey(tool: readonly string[], closure: SourceClosure): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(tool));
  for (const f of [...closure.files].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))) {
    h.update(`\0file\0${f.rel}\0${f.content.length}\0`);
    h.update(f.content);
  }
  h.update(JSON.stringify(closure.packages));
  return h.digest('hex');
}

/**
 * Returns the cached binary for `key`, or builds, stores and returns it. Stores by writing a
 * unique temp file and renaming it into place, so concurrent test processes never see a partial
 * file (rename is atomic within one directory); the last writer wins with identical content.
 * Set SLUICE_WASM_NO_CACHE=1 to bypass reading the cache.
 */
export async function withCache(
  key: string,
  build: () => Promise<{ wasm: Uint8Array; cacheable: boolean }>,
): Promise<Uint8Array> {
  const file = join(WASM_CACHE_DIR, `${key}.wasm`);
  if (process.env.SLUICE_WASM_NO_CACHE !== '1') {
    try {
      const bytes = new Uint8Array(readFileSync(file));
      if (WebAssembly.validate(bytes)) return bytes;
    } catch {
      // not cached yet
    }
  }
  const { wasm, cacheable } = await build();
  if (cacheable) {
    mkdirSync(WASM_CACHE_DIR, { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, wasm);
      renameSync(tmp, file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }
  return wasm;
}

// ---------------------------------------------------------------------------------------------
// In-process compile
// ---------------------------------------------------------------------------------------------

type AscModule = typeof import('assemblyscript/asc');
let ascModule: Promise<AscModule> | undefined;
/** Loaded on the first cache miss only: importing the compiler costs about a second. */
function loadAsc(): Promise<AscModule> {
  ascModule ??= import('assemblyscript/asc');
  return ascModule;
}

async function ascPackageVersion(): Promise<string> {
  const pj = join(ROOT, 'node_modules', 'assemblyscript', 'package.json');
  return (JSON.parse(readFileSync(pj, 'utf8')) as { version: string }).version;
}

// One compile at a time per process: asc keeps per-run state in module globals (e.g. the
// package-path map) and the machine is small anyway.
let queue: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

const CATEGORY = ['PEDANTIC', 'INFO', 'WARNING', 'ERROR'] as const;

async function compileInProcess(
  entry: string,
  flags: string[],
  closure: SourceClosure,
): Promise<{ wasm: Uint8Array; readOutsideClosure: boolean }> {
  return serialized(async () => {
    const asc = await loadAsc();
    const baseDir = dirname(entry);
    const known = new Set(closure.files.map((f) => f.path));
    let readOutsideClosure = false;
    const outputs = new Map<string, Uint8Array | string>();
    const diagnostics: string[] = [];
    const result = await asc.main(
      [relative(baseDir, entry), '--baseDir', baseDir, '--outFile', 'out.wasm', ...flags],
      {
        readFile: (name, dir) => {
          // asconfig.json would silently change flags without changing the cache key.
          if (name === 'asconfig.json') return null;
          const path = resolve(dir, name);
          let text: string;
          try {
            text = readFileSync(path, 'utf8');
          } catch {
            return null;
          }
          if (!known.has(path) && !path.split(sep).includes('node_modules')) readOutsideClosure = true;
          return text;
        },
        writeFile: (name, contents) => {
          outputs.set(name, contents);
        },
        listFiles: () => [],
        reportDiagnostic: (d) => {
          diagnostics.push(formatDiagnostic(baseDir, d));
        },
      },
    );
    const wasm = outputs.get('out.wasm');
    if (result.error !== null || !(wasm instanceof Uint8Array)) {
      const errors = diagnostics.filter((l) => / ERROR /.test(l));
      throw new WasmBuildError(
        entry,
        `AssemblyScript compile of ${entry} failed: ${result.error?.message ?? 'no output'}\n` +
          (errors.length > 0 ? errors : diagnostics).join('\n') +
          `\n--- asc output ---\n${result.stderr.toString()}`,
      );
    }
    return { wasm: new Uint8Array(wasm), readOutsideClosure };
  });
}

interface AscDiagnostic {
  code: number;
  category: number;
  message: string;
  range: { start: number; source: { normalizedPath: string } } | null;
}

/** `path:line:col: ERROR TS2304: Cannot find name 'x'.` with a path a terminal can open. */
function formatDiagnostic(baseDir: string, d: AscDiagnostic): string {
  const kind = `${CATEGORY[d.category] ?? 'ERROR'} TS${d.code}: ${d.message}`;
  if (d.range === null) return kind;
  const p = d.range.source.normalizedPath;
  if (p.startsWith('~lib/')) return `${p}: ${kind}`;
  const path = resolve(baseDir, p);
  let line = 1;
  let col = 1;
  try {
    const text = readFileSync(path, 'utf8');
    const end = Math.min(d.range.start, text.length);
    for (let i = 0; i < end; i++) {
      if (text.charCodeAt(i) === 10) {
        line++;
        col = 1;
      } else col++;
    }
  } catch {
    return `${path}: ${kind}`;
  }
  return `${path}:${line}:${col}: ${kind}`;
}
