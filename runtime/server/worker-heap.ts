import { setFlagsFromString } from 'node:v8';

/**
 * How a worker's V8 heap is sized. A proxy worker's heap is small and flat (about 13-20 MB live
 * in the old generation, nearly everything per request dying young); with V8's default sizing it
 * ran frequent mark-compacts that freed next to nothing, and their pauses became the p99.
 */

/**
 * A worker's young generation, in MB (V8 makes each semi-space a third of it: 8 MB).
 *
 * V8's default for a heap this size lets a semi-space grow to 16 MB. V8 starts an incremental
 * mark-compact whenever the old generation's headroom is smaller than the new space, and a proxy
 * worker's old generation is small (about 20 MB live, limit about 40 MB): so with a 16 MB new
 * space it ran a 5-9 ms mark-compact every few hundred milliseconds under load, with next to
 * nothing promoted, and those pauses were the p99 of a GET 16 KiB run. With 8 MB semi-spaces
 * the same load ran no mark-compact at all (docs/RATIONALE.md, "Why workers have a smaller
 * young generation").
 */
export const WORKER_YOUNG_GENERATION_MB = 24;

/**
 * V8's `--initial-old-space-size` for the isolates created after start (the workers), in MB. Set
 * by the embedder, it is also a floor: V8 skips full collections while the old generation is
 * smaller. Without it, once a worker had run its first mark-compact, V8 sized the next limit from
 * the small live set (about 13-20 MB), the headroom stayed under the new space's capacity, and the
 * worker ran a 4-9 ms mark-compact every 200-400 ms under load for the rest of its life, each
 * freeing about 0.5 MB: at half load, GET 16 KiB p99 went from 1.8 ms to 9-24 ms
 * (docs/RATIONALE.md, "Why workers have an old-generation floor").
 */
export const WORKER_OLD_SPACE_FLOOR_MB = 64;

/**
 * Sets the V8 flags every worker isolate created from now on starts with: `gc` (used to bound
 * body-buffer memory, http/body-gc.ts) and the old-generation floor. V8 flags are process-wide
 * and read when an isolate is created, so the main thread, already running, keeps its defaults.
 */
export function prepareWorkerHeaps(): void {
  setFlagsFromString('--expose-gc');
  setFlagsFromString(`--initial-old-space-size=${WORKER_OLD_SPACE_FLOOR_MB}`);
}
