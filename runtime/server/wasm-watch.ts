import { watch, type FSWatcher } from 'chokidar';
import { dirname } from 'node:path';
import type { Logger } from '../log.ts';
import type { WasmDeployer } from './wasm-deploy.ts';

/** Quiet time after the last change event before the file is read (writers finish in bursts). */
export const WASM_WATCH_DEBOUNCE_MS = 150;

/**
 * Watches every plugin's `code.local.filename` and deploys a new version when the file changes:
 * written in place, or renamed over (a Kubernetes ConfigMap update swaps a symlink in the
 * directory, so the directory is watched too). Events are debounced, and WasmDeployer.deployFile
 * ignores anything that is not a complete, valid module with new content, so a partial write is
 * never loaded.
 */
export class WasmFileWatcher {
  readonly #watcher: FSWatcher;
  readonly #timers = new Map<string, NodeJS.Timeout>();

  constructor(deployer: WasmDeployer, log: Logger) {
    const files = deployer.files();
    const byPath = new Map(files.map((f) => [f.path, f.plugin]));
    const dirs = [...new Set(files.map((f) => dirname(f.path)))];
    this.#watcher = watch(dirs, { ignoreInitial: true, depth: 0, followSymlinks: true });
    const onEvent = (path: string) => {
      for (const [file, plugin] of byPath) {
        // A change to the file itself, or to anything in its directory (symlink swaps).
        if (path !== file && dirname(path) !== dirname(file)) continue;
        clearTimeout(this.#timers.get(file));
        const timer = setTimeout(() => {
          this.#timers.delete(file);
          deployer.deployFile(plugin, file).then(
            (r) => {
              if (r !== undefined && !r.ok) log.warn({ plugin, file, err: r.error }, 'wasm file changed but the new module was refused');
            },
            (err: Error) => log.error({ plugin, file, err: err.message }, 'wasm file deploy failed'),
          );
        }, WASM_WATCH_DEBOUNCE_MS);
        timer.unref();
        this.#timers.set(file, timer);
      }
    };
    this.#watcher.on('add', onEvent).on('change', onEvent).on('unlink', onEvent);
    this.#watcher.on('error', (err) => log.warn({ err: (err as Error).message }, 'wasm file watcher error'));
  }

  /** Resolves when the watcher has scanned its directories (events before that may be missed). */
  ready(): Promise<void> {
    return new Promise((resolve) => this.#watcher.once('ready', () => resolve()));
  }

  async close(): Promise<void> {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await this.#watcher.close();
  }
}
