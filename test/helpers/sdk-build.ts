import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemblyScriptVersion, buildFilter, filterBuildFlags } from '../../runtime/toolchain/build.ts';
import { cacheKey, sourceClosure, withCache, WasmBuildError, type SourceClosure, type SourceFile } from './wasm-build.ts';

/**
 * Compiles a filter written with the Sluice SDK (sdk/, package `@sluice/sdk`) at test time with
 * the toolchain's `buildFilter` (what `sluice build` runs), always against this repository's sdk/
 * (a fixture in a temp dir has no node_modules to find it in).
 *
 * Binaries are cached like test/helpers/wasm-build.ts's (same directory; the key covers the
 * compiler version, the flags, the filter's relative-import closure and every file of sdk/). A
 * build that read a source file the key does not cover is not cached.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SDK_DIR = join(ROOT, 'sdk');
const SDK_PACKAGE = '@sluice/sdk';

export type SdkTarget = 'debug' | 'release';

export interface SdkBuildOptions {
  /** `debug` (default: faster to compile, names in traps) or `release` (what `sluice build` makes). */
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

/** The asc flags a build for `opts.target` uses (sdk/asconfig.json's options plus the toolchain's optimisation). */
export function sdkFlags(opts: SdkBuildOptions = {}): string[] {
  return filterBuildFlags({ optimize: opts.target === 'release', sdkDir: SDK_DIR });
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
  const key = cacheKey(['assemblyscript', assemblyScriptVersion(), 'sluice-sdk', ...flags], closure);
  return withCache(key, async () => {
    let built;
    try {
      built = await buildFilter(entry, { optimize: opts.target === 'release', sdkDir: SDK_DIR });
    } catch (err) {
      throw new WasmBuildError(entry, (err as Error).message);
    }
    const known = new Set(closure.files.map((f) => f.path));
    const readOutsideClosure = built.sources.some((p) => !known.has(p) && !p.split(sep).includes('node_modules'));
    return { wasm: built.wasm, cacheable: !readOutsideClosure };
  });
}

/** Builds `test/fixtures/sdk/<name>.ts` into `<dir>/<name>.wasm` and returns that path. */
export async function buildSdkFixtureInto(dir: string, name: string): Promise<string> {
  const bytes = await buildSdkFilter(join(ROOT, 'test', 'fixtures', 'sdk', `${name}.ts`));
  const file = join(dir, `${name}.wasm`);
  writeFileSync(file, bytes);
  return file;
}
