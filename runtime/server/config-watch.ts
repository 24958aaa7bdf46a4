import { watch, type FSWatcher } from 'chokidar';
import { basename, dirname } from 'node:path';
import type { WatchTargets } from '../config/config-sources.ts';
import type { Logger } from '../log.ts';

/** Quiet time after the last relevant event before the files are read (writers finish in bursts). */
export const CONFIG_WATCH_DEBOUNCE_MS = 150;
/** A steady stream of events still gets a look at least this often. */
export const CONFIG_WATCH_MAX_WAIT_MS = 1000;

/**
 * Watches the config inputs (the -c file, LDS/CDS files and their `watched_directory`) and calls
 * `onChange` once things have settled. It says only "something may have changed": the caller
 * compares file contents with what is live, so extra events cost a read and a hash.
 *
 * Directories are watched (depth 0), not the files themselves, so that every way of updating a
 * file is seen: written in place, renamed over (write-temp-then-mv, Envoy's recipe), or swapped
 * in by a Kubernetes ConfigMap (`..data` symlink renamed inside the directory). Relevant events:
 * one naming a watched file (or its real path, for symlinked files edited in place), anything in
 * a `watched_directory`, and the `..`-prefixed entries of Kubernetes' atomic writer next to a
 * watched file. Other files in those directories (an access log, say) are ignored.
 */
export class ConfigFileWatcher {
  #watcher: FSWatcher | undefined;
  readonly #onChange: () => void;
  readonly #log: Logger;
  #files = new Set<string>();
  #directories = new Set<string>();
  #watched = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #firstEventAt = 0;
  #closed = false;

  constructor(opts: { onChange: () => void; log: Logger }) {
    this.#onChange = opts.onChange;
    this.#log = opts.log;
  }

  /** Watches `targets` from now on (the set changes when a reload names other LDS/CDS files). */
  async watch(targets: WatchTargets): Promise<void> {
    if (this.#closed) return;
    this.#files = new Set(targets.files);
    this.#directories = new Set(targets.directories);
    const dirs = new Set([...targets.files.map((f) => dirname(f)), ...targets.directories]);
    const added = [...dirs].filter((d) => !this.#watched.has(d));
    const removed = [...this.#watched].filter((d) => !dirs.has(d));
    this.#watched = dirs;
    if (this.#watcher !== undefined) {
      if (removed.length > 0) this.#watcher.unwatch(removed);
      if (added.length > 0) this.#watcher.add(added);
      return;
    }
    if (dirs.size === 0) return;
    const watcher = watch([...dirs], { ignoreInitial: true, depth: 0, followSymlinks: false });
    this.#watcher = watcher;
    watcher.on('all', (_event, path) => this.#onEvent(path));
    watcher.on('error', (err) => this.#log.warn({ err: (err as Error).message }, 'config file watcher error'));
    // Events before the first scan completes may be missed: callers wait for it.
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  }

  #onEvent(path: string): void {
    if (this.#closed || !this.#relevant(path)) return;
    const now = Date.now();
    if (this.#timer === undefined) this.#firstEventAt = now;
    else clearTimeout(this.#timer);
    const wait = Math.min(CONFIG_WATCH_DEBOUNCE_MS, Math.max(0, this.#firstEventAt + CONFIG_WATCH_MAX_WAIT_MS - now));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#onChange();
    }, wait);
    this.#timer.unref();
  }

  #relevant(path: string): boolean {
    if (this.#files.has(path)) return true;
    const dir = dirname(path);
    if (this.#directories.has(dir) || this.#directories.has(path)) return true;
    if (!basename(path).startsWith('..')) return false;
    for (const f of this.#files) if (dirname(f) === dir) return true;
    return false;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#watcher?.close();
  }
}
