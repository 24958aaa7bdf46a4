import { availableParallelism } from 'node:os';

/**
 * Where each process runs. On two cores the load generator and the proxy under test must not
 * fight for the same core, so wrk gets CPU 0 and a single-worker proxy gets CPU 1, alone.
 *
 * The upstream (nginx, one worker) shares CPU 0 with wrk: it answers the same requests for
 * every target, so it taxes wrk's core the same way in every row, and the proxy's core stays
 * the proxy's. The direct row therefore measures the ceiling of CPU 0 (wrk plus upstream);
 * a proxy that reaches it is bounded by the load side, not by itself.
 *
 * A multi-worker proxy gets both cores: it then shares with wrk and the upstream, which is the
 * only way to give it a second core on this machine.
 */

export interface PinPlan {
  wrk?: string;
  upstream?: string;
  /** A single-worker proxy. */
  proxy?: string;
  /** A proxy with several workers. */
  multi?: string;
  description: string;
}

export function planPinning(opts: { enabled: boolean; tasksetPath: string | undefined }): PinPlan {
  if (!opts.enabled) return { description: 'not pinned (--no-pin)' };
  if (opts.tasksetPath === undefined) return { description: 'not pinned (taskset not found)' };
  const cores = availableParallelism();
  if (cores < 2) return { description: `not pinned (only ${cores} CPU available)` };
  const all = `0-${cores - 1}`;
  return {
    wrk: '0',
    upstream: '0',
    proxy: '1',
    multi: all,
    description:
      `taskset: wrk and the upstream on CPU 0, single-worker proxies alone on CPU 1, ` +
      `multi-worker proxies on CPUs ${all} (shared with wrk and the upstream)`,
  };
}
