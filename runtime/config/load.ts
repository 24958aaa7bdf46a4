/**
 * Public entry points: Envoy v3 bootstrap YAML/JSON → validated, frozen `ConfigSnapshot`.
 *
 * Every problem in the input is reported at once in one `ConfigError` (code
 * `SLUICE_ERR_CONFIG_INVALID`), each with its YAML path and line, sorted by file (the bootstrap,
 * then the LDS and CDS files) and line. A file that cannot be read is a `SluiceError` with code
 * `SLUICE_ERR_CONFIG_READ`. With `dynamic_resources`, the LDS/CDS files are read as part of the
 * load: a snapshot is everything the data plane serves, static and dynamic.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, ErrorCode, SluiceError } from '../errors.ts';
import type { ConfigProblem } from '../errors.ts';
import type { Bootstrap, Cluster, ConfigSnapshot, DynamicResourceFile, Listener } from './types.ts';
import { BOOTSTRAP } from './bootstrap.ts';
import { checkCrossReferences } from './cross-checks.ts';
import { DYNAMIC_FILE_PATHS, DYNAMIC_FILES, parseSubscriptions, type DynamicFileFact } from './dynamic-resources.ts';
import { collected, newCtx, report } from './schema.ts';
import { parseYaml } from './yaml-source.ts';

export interface LoadOptions {
  /** Directory relative DataSource `filename`s resolve against; default: the source's directory, else cwd. */
  baseDir?: string;
}

/** Validates and normalizes config text; throws `ConfigError` listing every problem. */
export function loadConfigText(text: string, source?: string, options: LoadOptions = {}): ConfigSnapshot {
  const baseDir = baseDirFor(source, options);
  const result = analyze(text, baseDir);
  if (result.problems.length > 0 || result.bootstrap === undefined) throw new ConfigError(result.problems, source);
  const bootstrapHash = sha256(text);
  const { lds, cds } = result.dynamic;
  const snapshot: ConfigSnapshot = {
    bootstrap: result.bootstrap,
    raw: result.raw,
    version: lds === undefined && cds === undefined ? bootstrapHash : sha256([bootstrapHash, lds?.hash ?? '', cds?.hash ?? ''].join('\n')),
    bootstrapHash,
    listeners: [...result.bootstrap.static_resources.listeners, ...result.listeners],
    clusters: [...result.bootstrap.static_resources.clusters, ...result.clusters],
    dynamic: result.dynamic,
  };
  if (source !== undefined) snapshot.source = source;
  SOURCES.set(snapshot, { text, baseDir });
  return deepFreeze(snapshot);
}

/** The bootstrap text a snapshot was loaded from (kept for reloads of snapshots that have no file). */
const SOURCES = new WeakMap<ConfigSnapshot, { text: string; baseDir: string }>();

/**
 * Loads the current state of everything `snapshot` was loaded from: its bootstrap file (or, for a
 * snapshot loaded from text, the same text) and the LDS/CDS files that bootstrap names now.
 */
export function reloadConfig(snapshot: ConfigSnapshot): ConfigSnapshot {
  if (snapshot.source !== undefined) return loadConfigFile(snapshot.source);
  const kept = SOURCES.get(snapshot);
  if (kept === undefined) throw new SluiceError(ErrorCode.CONFIG_READ, 'this snapshot was not made by loadConfigText; it cannot be reloaded');
  return loadConfigText(kept.text, undefined, { baseDir: kept.baseDir });
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
  listeners: Listener[];
  clusters: Cluster[];
  dynamic: { lds?: DynamicResourceFile; cds?: DynamicResourceFile };
}

function analyze(text: string, baseDir: string): Analysis {
  const none = { raw: {}, listeners: [], clusters: [], dynamic: {} };
  const parsed = parseYaml(text);
  if (parsed.problems.length > 0) return { problems: parsed.problems, ...none };
  const ctx = newCtx([], baseDir);
  if (parsed.value === null || parsed.value === undefined) {
    report(ctx, { path: '' }, 'the config is empty; expected a Bootstrap object');
    return { problems: ctx.problems, ...none };
  }
  const bootstrap = BOOTSTRAP.parse(parsed.value, { path: '' }, ctx);
  parseSubscriptions(ctx);
  checkCrossReferences(ctx);
  const files = collected<DynamicFileFact>(ctx, DYNAMIC_FILES);
  const problems = sortProblems(ctx.problems, collected<string>(ctx, DYNAMIC_FILE_PATHS));
  if (problems.length > 0) return { problems, ...none };
  const out: Analysis = { ...none, problems, bootstrap, raw: BOOTSTRAP.raw?.(parsed.value) as Record<string, unknown>, dynamic: {} };
  for (const f of files) {
    out.dynamic[f.kind] = f.file;
    out.listeners.push(...f.listeners);
    out.clusters.push(...f.clusters);
  }
  return out;
}

function baseDirFor(source: string | undefined, options: LoadOptions): string {
  if (options.baseDir !== undefined) return resolve(options.baseDir);
  return source === undefined ? process.cwd() : dirname(resolve(source));
}

/** The bootstrap's problems first, then each LDS/CDS file's (their paths start with the file); by line within a file. */
function sortProblems(problems: ConfigProblem[], files: string[]): ConfigProblem[] {
  const rank = (p: ConfigProblem) => 1 + files.findIndex((f) => p.path === f || p.path.startsWith(`${f}:`));
  return problems
    .map((p, i) => ({ p, i, r: rank(p) }))
    .sort((a, b) => a.r - b.r || (a.p.line ?? Infinity) - (b.p.line ?? Infinity) || a.i - b.i)
    .map(({ p }) => p);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
  return value;
}
