/**
 * The inputs a snapshot was built from — the bootstrap file and the LDS/CDS files it names — as
 * reload bookkeeping sees them: which of them changed (between two snapshots, or on disk since a
 * snapshot was loaded), and which paths a watcher must watch to notice.
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import type { ConfigSnapshot } from './types.ts';

export type ConfigSourceKind = 'bootstrap' | 'lds' | 'cds';

/** Inputs that differ between `from` and `to` (a subscription added or removed counts as changed). */
export function changedSources(from: ConfigSnapshot, to: ConfigSnapshot): ConfigSourceKind[] {
  const out: ConfigSourceKind[] = [];
  if (from.bootstrapHash !== to.bootstrapHash) out.push('bootstrap');
  for (const kind of ['lds', 'cds'] as const) {
    const a = from.dynamic[kind];
    const b = to.dynamic[kind];
    if (a?.hash !== b?.hash || a?.path !== b?.path) out.push(kind);
  }
  return out;
}

/**
 * Inputs of `snapshot` whose file now holds something else (or cannot be read). A snapshot loaded
 * from text has no bootstrap file: only its LDS/CDS files are compared.
 */
export function changedOnDisk(snapshot: ConfigSnapshot): ConfigSourceKind[] {
  const out: ConfigSourceKind[] = [];
  if (snapshot.source !== undefined && hashOf(snapshot.source) !== snapshot.bootstrapHash) out.push('bootstrap');
  for (const kind of ['lds', 'cds'] as const) {
    const file = snapshot.dynamic[kind];
    if (file !== undefined && hashOf(file.path) !== file.hash) out.push(kind);
  }
  return out;
}

export interface WatchTargets {
  /**
   * Files whose own events matter: each input by the path configured, and by its real path when
   * that is a symlink (an in-place edit of the target shows up there).
   */
  files: string[];
  /** Directories in which any event matters (`watched_directory`). */
  directories: string[];
}

export function watchTargets(snapshot: ConfigSnapshot): WatchTargets {
  const files = new Set<string>();
  const directories = new Set<string>();
  const addFile = (path: string) => {
    files.add(path);
    try {
      files.add(realpathSync(path));
    } catch {
      // Missing right now: the configured path is watched; it may appear later.
    }
  };
  if (snapshot.source !== undefined) addFile(snapshot.source);
  for (const kind of ['lds', 'cds'] as const) {
    const file = snapshot.dynamic[kind];
    if (file === undefined) continue;
    addFile(file.path);
    if (file.watched_directory !== undefined) directories.add(file.watched_directory);
  }
  return { files: [...files], directories: [...directories] };
}

function hashOf(path: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(path, 'utf8')).digest('hex');
  } catch {
    return undefined;
  }
}

/**
 * The config path of `snapshot.listeners[index]` / `snapshot.clusters[index]`, as load problems
 * name it: `static_resources.listeners[1]`, or `/etc/sluice/lds.yaml:resources[0]`.
 */
export function resourcePath(snapshot: ConfigSnapshot, kind: 'listeners' | 'clusters', index: number): string {
  const statics = snapshot.bootstrap.static_resources[kind].length;
  if (index < statics) return `static_resources.${kind}[${index}]`;
  const file = snapshot.dynamic[kind === 'listeners' ? 'lds' : 'cds'];
  return `${file?.path ?? '(dynamic)'}:resources[${index - statics}]`;
}
