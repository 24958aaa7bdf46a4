import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ErrorCode, SluiceError } from '../errors.ts';

/**
 * What `sluice build [PATH]` compiles and where the module goes.
 *
 * PATH is a project directory or a filter source file. A directory's entry is its package.json
 * `ascMain` (asc's own field), else `main` when it names a `.ts` file, else `assembly/index.ts`.
 * The module is named after the project (package.json `name` without its scope, else the
 * directory name) and written to `<project>/build/<name>.wasm`. A file is compiled from its
 * project (the nearest directory above it with a package.json, else its own directory) and named
 * after itself, unless it is that project's entry.
 */
export interface FilterProject {
  /** Absolute path of the entry source file. */
  entry: string;
  /** The project directory: asc's base directory and home of `build/`. */
  dir: string;
  /** Module name: `build/<name>.wasm`. */
  name: string;
  /** Default output: `<dir>/build/<name>.wasm` (`<name>.debug.wasm` for a debug build). */
  outFile: string;
}

interface PackageJson {
  name?: unknown;
  ascMain?: unknown;
  main?: unknown;
}

export function resolveFilterProject(path: string, opts: { debug?: boolean } = {}): FilterProject {
  const target = resolve(path);
  let stat;
  try {
    stat = statSync(target);
  } catch {
    throw new SluiceError(ErrorCode.CLI_USAGE, `${path}: no such file or directory`, { source: target });
  }
  let entry: string;
  let dir: string;
  let name: string;
  if (stat.isDirectory()) {
    dir = target;
    const pkg = readPackageJson(dir);
    entry = projectEntry(dir, pkg);
    if (!existsSync(entry)) {
      throw new SluiceError(
        ErrorCode.CLI_USAGE,
        `${path}: no filter entry found: expected ${pkg?.ascMain !== undefined ? `package.json ascMain "${String(pkg.ascMain)}"` : 'assembly/index.ts (or "ascMain" in package.json)'}`,
        { source: dir },
      );
    }
    name = projectName(dir, pkg);
  } else {
    entry = target;
    dir = projectDirOf(target);
    const pkg = readPackageJson(dir);
    name = pkg !== undefined && projectEntry(dir, pkg) === entry ? projectName(dir, pkg) : basename(entry).replace(/\.ts$/, '');
  }
  return { entry, dir, name, outFile: join(dir, 'build', `${name}${opts.debug === true ? '.debug' : ''}.wasm`) };
}

function readPackageJson(dir: string): PackageJson | undefined {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
  } catch (err) {
    throw new SluiceError(ErrorCode.CLI_USAGE, `${file}: not valid JSON: ${(err as Error).message}`, { source: file });
  }
}

function projectEntry(dir: string, pkg: PackageJson | undefined): string {
  if (typeof pkg?.ascMain === 'string') return resolve(dir, pkg.ascMain);
  if (typeof pkg?.main === 'string' && pkg.main.endsWith('.ts')) return resolve(dir, pkg.main);
  return join(dir, 'assembly', 'index.ts');
}

function projectName(dir: string, pkg: PackageJson | undefined): string {
  const raw = typeof pkg?.name === 'string' && pkg.name !== '' ? pkg.name.replace(/^@[^/]+\//, '') : basename(dir);
  // A file name, whatever the package is called.
  return raw.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The nearest directory at or above `file`'s with a package.json; the file's own directory if none. */
function projectDirOf(file: string): string {
  let dir = dirname(file);
  for (let i = 0; i < 256; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dirname(file);
}
