import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/**
 * Compiles the bench's AssemblyScript filters (bench/filters/) with the project's
 * `assemblyscript@0.28`, in process through `asc.main`, output kept in memory. No cache: two
 * small filters compile in a few seconds, once per bench run, before anything is timed.
 *
 * The flags are the ones a user would ship with:
 * - `-O3 --converge`: the optimized build, since the rows measure the per-request cost.
 * - `--runtime incremental`: a real GC, so a filter running millions of requests stays bounded.
 * - `--exportStart _initialize`: top-level initialisers run when the host calls `_initialize`
 *   after instantiation (the WASI-reactor shape), not inside `new WebAssembly.Instance`.
 */

export const BENCH_ASC_FLAGS: readonly string[] = [
  '-O3', '--converge', '--runtime', 'incremental', '--exportStart', '_initialize', '--noColors',
];

type AscModule = typeof import('assemblyscript/asc');

/** Absolute path of an AssemblyScript entry file → its wasm binary; throws with the diagnostics. */
export async function compileAssemblyScript(entry: string, flags: readonly string[] = BENCH_ASC_FLAGS): Promise<Uint8Array> {
  // Imported here, not at the top: loading the compiler takes about a second and a run without
  // wasm rows does not need it.
  const asc: AscModule = await import('assemblyscript/asc');
  const baseDir = dirname(entry);
  const outputs = new Map<string, Uint8Array | string>();
  const diagnostics: string[] = [];
  const result = await asc.main([basename(entry), '--baseDir', baseDir, '--outFile', 'out.wasm', ...flags], {
    readFile: (name, dir) => {
      // An asconfig.json found on the way would change the flags behind the bench's back.
      if (name === 'asconfig.json') return null;
      try {
        return readFileSync(resolve(dir, name), 'utf8');
      } catch {
        return null;
      }
    },
    writeFile: (name, contents) => {
      outputs.set(name, contents);
    },
    listFiles: () => [],
    reportDiagnostic: (d) => {
      diagnostics.push(d.message);
    },
  });
  const wasm = outputs.get('out.wasm');
  if (result.error !== null || !(wasm instanceof Uint8Array)) {
    throw new Error(
      `AssemblyScript compile of ${entry} failed: ${result.error?.message ?? 'no output'}\n` +
        `${diagnostics.join('\n')}\n${result.stderr.toString()}`,
    );
  }
  return new Uint8Array(wasm);
}
