import { join } from 'node:path';
import { watch } from 'chokidar';
import { buildFilter } from '../../runtime/toolchain/build.ts';

/**
 * Builds the quickstart filter from source, and rebuilds it whenever a source file changes. The
 * running Sluice watches the built file and hot-swaps it (its file watcher), so a save is live in
 * about a second without dropping a connection. A build error is printed and the running version
 * keeps serving.
 */
export const FILTER_DIR = join(import.meta.dirname, 'filter');

/** Where a filter project's entry and built module live. */
export function filterPaths(dir: string): { entry: string; wasm: string } {
  return { entry: join(dir, 'assembly', 'index.ts'), wasm: join(dir, 'build', 'quickstart.wasm') };
}

/** One build (debug flags: fast to compile, names in trap messages); returns the module size. */
export async function buildDevFilter(dir = FILTER_DIR): Promise<number> {
  const { entry, wasm } = filterPaths(dir);
  const r = await buildFilter(entry, { optimize: false, outFile: wasm, baseDir: dir });
  return r.size;
}

/** Rebuilds on every change under `dir`/assembly/ until `close()`. */
export function watchDevFilter(log: (line: string) => void, dir = FILTER_DIR): { ready: Promise<void>; close(): Promise<void> } {
  const watcher = watch(join(dir, 'assembly'), { ignoreInitial: true });
  let timer: NodeJS.Timeout | undefined;
  let building: Promise<void> = Promise.resolve();
  const rebuild = () => {
    building = building.then(async () => {
      const started = Date.now();
      try {
        const size = await buildDevFilter(dir);
        log(`filter rebuilt (${size} bytes, ${Date.now() - started} ms); Sluice swaps it in now`);
      } catch (err) {
        log(`filter build failed; the running version keeps serving:\n${(err as Error).message}`);
      }
    });
  };
  watcher.on('all', () => {
    clearTimeout(timer);
    timer = setTimeout(rebuild, 100);
  });
  return {
    ready: new Promise((resolve) => watcher.once('ready', () => resolve())),
    async close() {
      clearTimeout(timer);
      await watcher.close();
      await building;
    },
  };
}
