import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheKey, sourceClosure, withCache, WasmBuildError, type SourceClosure, type SourceFile } from './wasm-build.ts';

/**
 * Compiles a filter written with the Sluice SDK (sdk/, package `@sluice/sdk`) at test time, the way
 * a filter author's project builds it: the filter imports `@sluice/sdk` and re-exports
 * `@sluice/sdk/exports`, and the asc flags are the ones sdk/asconfig.json declares (a filter's own
 * asconfig.json `extends` it).
 *
 * The repository does not install sdk/ into node_modules, so the compiler's file reader answers
 * any `…/node_modules/@sluice/sdk/<rest>` path asc probes with `sdk/<rest>`; asc resolves the
 * package exactly as it would after `npm install`.
 *
 * Binaries are cached like test/helpers/wasm-build.ts's (same directory; the key covers the
 * compiler version, the flags, the filter's relative-import closure and every file of sdk/).
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SDK_DIR = join(ROOT, 'sdk');
const SDK_PACKAGE = '@sluice/sdk';
const PACKAGE_SEGMENT = `${sep}node_modules${sep}@sluice${sep}sdk${sep}`;

export type SdkTarget = 'debug' | 'release';

export interface SdkBuildOptions {
  /** asconfig target: `debug` (default, faster to compile, names in traps) or `release`. */
  target?: SdkTarget;
}

type AsconfigValue = boolean | number | string | string[];
interface Asconfig {
  options?: Record<string, AsconfigValue>;
  targets?: Record<string, Record<string, AsconfigValue>>;
}

/** sdk/asconfig.json, parsed. */
export function sdkAsconfig(): Asconfig {
  return JSON.parse(readFileSync(join(SDK_DIR, 'asconfig.json'), 'utf8')) as Asconfig;
}

/**
 * The asc command-line flags sdk/asconfig.json stands for (its `options`, then the target's
 * entries), as asc's own asconfig loader would apply them; `outFile`/`textFile` are left out
 * (the build keeps output in memory).
 */
export function sdkFlags(opts: SdkBuildOptions = {}): string[] {
  const config = sdkAsconfig();
  const target = opts.target ?? 'debug';
  const entries = { ...(config.options ?? {}), ...(config.targets?.[target] ?? {}) };
  const flags: string[] = [];
  for (const [key, value] of Object.entries(entries)) {
    if (key === 'outFile' || key === 'textFile') continue;
    if (value === false) continue;
    if (value === true) flags.push(`--${key}`);
    else if (Array.isArray(value)) for (const v of value) flags.push(`--${key}`, v);
    else flags.push(`--${key}`, String(value));
  }
  flags.push('--noColors');
  return flags;
}

const MAX_SDK_FILES = 200;

/** Every file of sdk/ that can affect a build (sources and asconfig), keyed as `@sluice/sdk/<path>`. */
function sdkFiles(): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') || name === 'asconfig.json' || name === 'package.json') {
        if (out.length >= MAX_SDK_FILES) throw new Error(`sdk/ has more than ${MAX_SDK_FILES} source files`);
        out.push({ path, rel: `${SDK_PACKAGE}/${relative(SDK_DIR, path).split(sep).join('/')}`, content: readFileSync(path, 'utf8') });
      }
    }
  };
  walk(SDK_DIR);
  return out;
}

/** Compiles `entry` (absolute path of an AssemblyScript filter using @sluice/sdk) and returns the wasm binary. */
export async function buildSdkFilter(entry: string, opts: SdkBuildOptions = {}): Promise<Uint8Array> {
  const flags = sdkFlags(opts);
  const own = sourceClosure(entry);
  const closure: SourceClosure = {
    files: [...own.files, ...sdkFiles()],
    packages: own.packages.filter((p) => p.specifier !== SDK_PACKAGE && !p.specifier.startsWith(`${SDK_PACKAGE}/`)),
  };
  const asc = ascVersion();
  const key = cacheKey(['assemblyscript', asc, 'sluice-sdk', ...flags], closure);
  return withCache(key, async () => {
    const { wasm, readOutsideClosure } = await compile(entry, flags, closure);
    return { wasm, cacheable: !readOutsideClosure };
  });
}

function ascVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'assemblyscript', 'package.json'), 'utf8')) as { version: string }).version;
}

/** Where a path asc probes really lives: `…/node_modules/@sluice/sdk/x` ⇒ `sdk/x`. */
function mapSdkPath(path: string): string {
  const i = path.lastIndexOf(PACKAGE_SEGMENT);
  return i < 0 ? path : join(SDK_DIR, path.slice(i + PACKAGE_SEGMENT.length));
}

type AscModule = typeof import('assemblyscript/asc');
let ascModule: Promise<AscModule> | undefined;

// One compile at a time in this process: asc keeps per-run state in module globals.
let queue: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

async function compile(entry: string, flags: string[], closure: SourceClosure): Promise<{ wasm: Uint8Array; readOutsideClosure: boolean }> {
  return serialized(async () => {
    ascModule ??= import('assemblyscript/asc');
    const asc = await ascModule;
    const baseDir = dirname(entry);
    const known = new Set(closure.files.map((f) => f.path));
    let readOutsideClosure = false;
    const outputs = new Map<string, Uint8Array | string>();
    const result = await asc.main([relative(baseDir, entry), '--baseDir', baseDir, '--outFile', 'out.wasm', ...flags], {
      readFile: (name, dir) => {
        // The flags come from sdk/asconfig.json (and are in the cache key); a stray asconfig.json
        // next to a fixture must not change them behind the key's back.
        if (name === 'asconfig.json') return null;
        const path = mapSdkPath(resolve(dir, name));
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
    });
    const wasm = outputs.get('out.wasm');
    if (result.error !== null || !(wasm instanceof Uint8Array)) {
      // asc's own report names each file (package files as ~lib/@sluice/sdk/...) with line and column.
      throw new WasmBuildError(entry, `AssemblyScript compile of ${entry} against sdk/ failed: ${result.error?.message ?? 'no output'}\n${result.stderr.toString()}`);
    }
    return { wasm: new Uint8Array(wasm), readOutsideClosure };
  });
}
