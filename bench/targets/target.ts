import type { ChildProcesses, ManagedProcess } from '../lib/child-processes.ts';
import { waitUntilReady } from '../lib/http-probe.ts';
import type { PinPlan } from '../lib/cpu-pinning.ts';
import type { Tools } from '../lib/tools.ts';

/**
 * A target is one row of the table: something listening on 127.0.0.1 that forwards to the
 * upstream. Adding a row (a Sluice variant with a wasm filter, another peer) is adding a
 * `Target` to `registry.ts`.
 */

export interface Target {
  /** Short id used by `--only` and in the JSON (`sluice1`, `fastify`). */
  name: string;
  /** Row label in the table. */
  label: string;
  /** Starts the target and resolves once it answers HTTP; rejects with a reason otherwise. */
  start(env: BenchEnv): Promise<RunningTarget>;
  /** Left out of a run unless `--only` names it (a control row that only a budget run needs). */
  optIn?: boolean;
}

export interface RunningTarget {
  port: number;
  /** What the row ran with (config summary), for the report. */
  detail?: string;
  /** Set once the target's process has exited: why it stopped serving. */
  exitReason?(): string | undefined;
  /**
   * The process group the target runs in (its leader's pid), whose CPU time the bench reads per
   * request; undefined for a row without a process of its own (`direct`).
   */
  processGroup?: number;
  stop(): Promise<void>;
}

/** What a target may use to start. */
export interface BenchEnv {
  children: ChildProcesses;
  tools: Tools;
  pin: PinPlan;
  upstreamPort: number;
  /** The bench's temp dir; a target writes its config files here. */
  workDir: string;
  /** The repository root (cwd for Sluice). */
  repoDir: string;
  /** The bench/ directory. */
  benchDir: string;
  /** The Node 24 binary this bench runs on; children run `.ts` files with it. */
  nodePath: string;
}

/** Time a target gets from spawn to answering HTTP. */
export const READY_TIMEOUT_MS = 10_000;

/**
 * Waits until a started target answers every probe (e.g. Sluice's admin `/ready`, then the
 * listener), and returns its RunningTarget; stops the process and rethrows if it never does.
 */
export async function whenReady(
  env: BenchEnv,
  proc: ManagedProcess,
  o: { port: number; detail: string; probes?: Array<{ port: number; path: string; isReady?: (status: number) => boolean }> },
): Promise<RunningTarget> {
  try {
    for (const p of o.probes ?? [{ port: o.port, path: '/' }]) {
      await waitUntilReady({ ...p, timeoutMs: READY_TIMEOUT_MS, process: proc });
    }
  } catch (err) {
    await env.children.stop(proc);
    throw err;
  }
  return {
    port: o.port,
    detail: o.detail,
    exitReason: () => (proc.exitStatus ? proc.describeExit() : undefined),
    // Started `detached`, so its pid is its process group id.
    ...(proc.pid !== undefined ? { processGroup: proc.pid } : {}),
    stop: () => env.children.stop(proc),
  };
}
