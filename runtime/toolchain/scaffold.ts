import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, SluiceError } from '../errors.ts';
import { assemblyScriptVersion, BUNDLED_SDK_DIR, SLUICE_ROOT } from './build.ts';

/**
 * `sluice new`: writes a filter project from the files in ./template (`.tpl` suffix so neither tsc
 * nor asc sees them; `_gitignore` becomes `.gitignore`, which npm would drop from a package).
 * Placeholders are `{{name}}`; an unknown one is a bug in the template and throws.
 *
 * The project depends on `sluice` and `@sluice/sdk` as `file:` links to this installation (neither
 * is on the npm registry): npm symlinks them, so `npm install` needs only the registry or cache for
 * assemblyscript, and `sluice/testing` runs from its real path (Node strips types only outside
 * node_modules).
 */

const TEMPLATE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'template');
const MAX_TEMPLATE_FILES = 64;

/** `[a-z][a-z0-9_-]*`, at most 64 characters: a package name, a file name and a plugin name at once. */
const NAME_RE = /^[a-z][a-z0-9_-]{0,63}$/;

/** Why `name` cannot name a project, or undefined when it can. */
export function projectNameProblem(name: string): string | undefined {
  if (NAME_RE.test(name)) return undefined;
  return `invalid project name "${name}": use 1-64 characters of a-z, 0-9, "-" and "_", starting with a letter`;
}

export interface ScaffoldResult {
  /** Absolute path of the new project. */
  dir: string;
  /** Paths written, relative to `dir`, sorted. */
  files: string[];
}

export interface ScaffoldOptions {
  /** Parent directory (default: the cwd); the project is `<parent>/<name>`. */
  parent?: string;
  /** What `sluice` and `@sluice/sdk` point at (default: this installation and its sdk/). */
  sluiceDir?: string;
  sdkDir?: string;
}

/** Creates `<parent>/<name>`; refuses an invalid name or a non-empty existing directory. */
export function scaffoldProject(name: string, opts: ScaffoldOptions = {}): ScaffoldResult {
  const problem = projectNameProblem(name);
  if (problem !== undefined) throw new SluiceError(ErrorCode.CLI_USAGE, problem);
  const dir = resolve(opts.parent ?? '.', name);
  if (!isEmptyOrMissing(dir)) {
    throw new SluiceError(ErrorCode.CLI_USAGE, `${dir} already exists and is not empty: choose another NAME or --dir`, { source: dir });
  }
  const sluiceDir = resolve(opts.sluiceDir ?? SLUICE_ROOT);
  const sdkDir = resolve(opts.sdkDir ?? BUNDLED_SDK_DIR);
  const values: Record<string, string> = {
    name,
    rootId: name,
    className: className(name),
    // Inside a JSON string in package.json.
    sluiceDependency: jsonStringBody(`file:${sluiceDir}`),
    sdkDependency: jsonStringBody(`file:${sdkDir}`),
    ascVersion: assemblyScriptVersion(),
    sluiceDir,
  };
  const files: string[] = [];
  for (const template of templateFiles()) {
    const rel = outputPath(template);
    const target = join(dir, rel);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, render(readFileSync(join(TEMPLATE_DIR, template), 'utf8'), values, template));
    files.push(rel.split(sep).join('/'));
  }
  return { dir, files: files.sort() };
}

function isEmptyOrMissing(dir: string): boolean {
  let st;
  try {
    st = statSync(dir);
  } catch {
    return true;
  }
  return st.isDirectory() && readdirSync(dir).length === 0;
}

/** `my-filter` ⇒ `MyFilter`. */
function className(name: string): string {
  return name
    .split(/[-_]/)
    .filter((p) => p !== '')
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
}

function jsonStringBody(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

/** Template paths relative to TEMPLATE_DIR. */
function templateFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.tpl')) {
        if (out.length >= MAX_TEMPLATE_FILES) throw new SluiceError(ErrorCode.INTERNAL, `${TEMPLATE_DIR}: more than ${MAX_TEMPLATE_FILES} template files`);
        out.push(relative(TEMPLATE_DIR, path));
      }
    }
  };
  walk(TEMPLATE_DIR);
  return out.sort();
}

function outputPath(template: string): string {
  const path = template.slice(0, -'.tpl'.length);
  const base = path.split(sep).pop() ?? path;
  return base.startsWith('_') ? join(dirname(path), `.${base.slice(1)}`) : path;
}

function render(text: string, values: Record<string, string>, template: string): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = values[key];
    if (v === undefined) throw new SluiceError(ErrorCode.INTERNAL, `template ${template} uses unknown placeholder {{${key}}}`);
    return v;
  });
}
