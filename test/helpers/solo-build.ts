import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheKey, sourceClosure, withCache, WasmBuildError } from './wasm-build.ts';

/**
 * Builds filters written with the third-party AssemblyScript SDK `@solo-io/proxy-runtime@0.1.8`,
 * which compiles only with `assemblyscript@0.14.9`. Both live in the test-only npm workspace
 * test/compat/solo-io (the root keeps assemblyscript 0.28), so `npm ci` installs them.
 *
 * The compiler runs as a child process of the pinned Node (process.execPath): 0.14.9 is CommonJS
 * from 2020 and must not share module state with the in-process 0.28 compiler.
 *
 * Flags are the SDK README's (`--use abort=abort_proc_exit`, so `abort` logs at CRITICAL through
 * proxy_log and calls `wasi_unstable.proc_exit(255)` instead of importing `env.abort`) with the
 * default `full` (reference-counting) runtime its `malloc` export needs. No `--explicitStart`:
 * like real SDK users' builds, top-level code (the `registerRootContext` call) runs in the wasm
 * start section, which calls no host function.
 *
 * Binaries are cached like buildAssemblyScript's (same directory, key over compiler version,
 * flags, SDK version and the filter's source closure).
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMPAT = join(ROOT, 'test', 'compat', 'solo-io');
const COMPAT_MODULES = join(COMPAT, 'node_modules');
const ASC = join(COMPAT_MODULES, 'assemblyscript', 'bin', 'asc');

export interface SoloBuildOptions {
  /** `--optimize` (the SDK README's release build). Default true; false gives `--debug`. */
  optimize?: boolean;
}

export function soloIoFlags(opts: SoloBuildOptions = {}): string[] {
  return ['--use', 'abort=abort_proc_exit', '--runtime', 'full', '--noColors', ...(opts.optimize === false ? ['--debug'] : ['--optimize'])];
}

function installedVersion(pkgDir: string): string {
  try {
    return (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    throw new Error(
      `${pkgDir} is not installed: run \`npm ci\` (or \`npm install\`) at the repository root; ` +
        'the test/compat/solo-io workspace provides assemblyscript 0.14.9 for @solo-io/proxy-runtime',
    );
  }
}

/** Compiles `entry` (absolute path of an AS 0.14 source importing @solo-io/proxy-runtime) to wasm. */
export async function buildSoloIoFilter(entry: string, opts: SoloBuildOptions = {}): Promise<Uint8Array> {
  if (!isAbsolute(entry)) throw new Error(`buildSoloIoFilter: entry must be an absolute path, got "${entry}"`);
  const ascVersion = installedVersion(join(COMPAT_MODULES, 'assemblyscript'));
  if (ascVersion !== '0.14.9') throw new Error(`test/compat/solo-io has assemblyscript ${ascVersion}, expected 0.14.9`);
  const flags = soloIoFlags(opts);
  const closure = sourceClosure(entry);
  const key = cacheKey(['assemblyscript', ascVersion, 'solo-io', ...flags], closure);
  return withCache(key, async () => ({ wasm: await compile(entry, flags), cacheable: true }));
}

async function compile(entry: string, flags: string[]): Promise<Uint8Array> {
  const baseDir = dirname(entry);
  const out = mkdtempSync(join(tmpdir(), 'sluice-solo-'));
  try {
    const outFile = join(out, 'filter.wasm');
    // asc 0.14 joins -b and --path onto --baseDir, so both are given relative to it.
    const args = [
      ASC,
      basename(entry),
      '--baseDir',
      baseDir,
      '-b',
      relative(baseDir, outFile),
      '--path',
      relative(baseDir, COMPAT_MODULES),
      ...flags,
    ];
    const result = await new Promise<{ code: number | null; stderr: string }>((resolveRun) => {
      execFile(process.execPath, args, { cwd: baseDir, maxBuffer: 16 << 20, timeout: 300_000 }, (err, _stdout, stderr) => {
        resolveRun({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stderr: String(stderr) });
      });
    });
    let wasm: Uint8Array | undefined;
    try {
      wasm = new Uint8Array(readFileSync(outFile));
    } catch {
      wasm = undefined;
    }
    if (result.code !== 0 || wasm === undefined) {
      throw new WasmBuildError(entry, `asc 0.14.9 compile of ${entry} failed (exit ${result.code}):\n${withFileLines(result.stderr, baseDir)}`);
    }
    return wasm;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/**
 * asc 0.14 ends each diagnostic with ` in deny.ts(12,5)`; add a `path:line:col` line a terminal
 * can open, keeping the original text.
 */
function withFileLines(stderr: string, baseDir: string): string {
  return stderr.replace(/^(\s*in )([^\s(]+\.ts)\((\d+),(\d+)\)$/gm, (_m, prefix: string, file: string, line: string, col: string) => {
    const path = file.startsWith('~lib/') ? file : resolve(baseDir, file);
    return `${prefix}${file}(${line},${col})\n  at ${path}:${line}:${col}`;
  });
}
