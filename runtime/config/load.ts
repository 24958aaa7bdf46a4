/**
 * Public entry points: Envoy v3 bootstrap YAML/JSON → validated, frozen `ConfigSnapshot`.
 *
 * Every problem in the input is reported at once in one `ConfigError` (code
 * `SLUICE_ERR_CONFIG_INVALID`), each with its YAML path and line, sorted by line. A file that cannot
 * be read is a `SluiceError` with code `SLUICE_ERR_CONFIG_READ`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, ErrorCode, SluiceError } from '../errors.ts';
import type { ConfigProblem } from '../errors.ts';
import type { Bootstrap, ConfigSnapshot } from './types.ts';
import { BOOTSTRAP } from './bootstrap.ts';
import { newCtx, report } from './schema.ts';
import { parseYaml } from './yaml-source.ts';

export interface LoadOptions {
  /** Directory relative DataSource `filename`s resolve against; default: the source's directory, else cwd. */
  baseDir?: string;
}

/** Validates and normalizes config text; throws `ConfigError` listing every problem. */
export function loadConfigText(text: string, source?: string, options: LoadOptions = {}): ConfigSnapshot {
  const result = analyze(text, baseDirFor(source, options));
  if (result.problems.length > 0 || result.bootstrap === undefined) throw new ConfigError(result.problems, source);
  const snapshot: ConfigSnapshot = {
    bootstrap: result.bootstrap,
    raw: result.raw,
    version: createHash('sha256').update(text).digest('hex'),
  };
  if (source !== undefined) snapshot.source = source;
  return deepFreeze(snapshot);
}

/** Reads and loads a config file; relative file names inside it resolve against its directory. */
export function loadConfigFile(path: string): ConfigSnapshot {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new SluiceError(ErrorCode.CONFIG_READ, `cannot read config file ${absolute}: ${reason}`, { source: absolute, cause: e });
  }
  return loadConfigText(text, absolute, { baseDir: dirname(absolute) });
}

/** Every problem in the text; empty means it loads. */
export function validateConfigText(text: string, source?: string, options: LoadOptions = {}): ConfigProblem[] {
  return analyze(text, baseDirFor(source, options)).problems;
}

interface Analysis {
  problems: ConfigProblem[];
  bootstrap?: Bootstrap;
  raw: Record<string, unknown>;
}

function analyze(text: string, baseDir: string): Analysis {
  const parsed = parseYaml(text);
  if (parsed.problems.length > 0) return { problems: parsed.problems, raw: {} };
  const ctx = newCtx([], baseDir);
  if (parsed.value === null || parsed.value === undefined) {
    report(ctx, { path: '' }, 'the config is empty; expected a Bootstrap object');
    return { problems: ctx.problems, raw: {} };
  }
  const bootstrap = BOOTSTRAP.parse(parsed.value, { path: '' }, ctx);
  const problems = sortByLine(ctx.problems);
  if (problems.length > 0) return { problems, raw: {} };
  return { problems, bootstrap, raw: BOOTSTRAP.raw?.(parsed.value) as Record<string, unknown> };
}

function baseDirFor(source: string | undefined, options: LoadOptions): string {
  if (options.baseDir !== undefined) return resolve(options.baseDir);
  return source === undefined ? process.cwd() : dirname(resolve(source));
}

function sortByLine(problems: ConfigProblem[]): ConfigProblem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.line ?? Infinity) - (b.p.line ?? Infinity) || a.i - b.i)
    .map(({ p }) => p);
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
  return value;
}
