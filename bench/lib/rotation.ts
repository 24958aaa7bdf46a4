import type { ChildProcesses } from './child-processes.ts';
import { foreignCpuDuring } from './foreign-cpu.ts';
import { cpuUsPerRequest, groupTicks } from './process-cpu.ts';
import type { Measurement } from './summary.ts';
import { runWrk, errorCount } from './wrk.ts';
import type { Workload } from './workloads.ts';

/**
 * The interleaved schedule: per workload, R rounds; each round runs every target once (a
 * warm-up run, discarded, then the measured run). The starting target shifts by one each
 * round, so no target is always first after a pause or always right after a heavy one.
 * Targets that share a `group` (a row and the base its cost budget compares it with) are run
 * back to back in every round, their own order shifting too, so each round's pair sees the same
 * phase of the machine (summary.ts pairs them by round).
 *
 * While a target is measured, every other target's process group is stopped (SIGSTOP) and
 * continued after (`freezeIdle`). Idle targets are not idle to the scheduler: their timers, their
 * V8 memory reducer's collections after the load they just served and their background threads
 * all run on the core the measured proxy is pinned to.
 *
 * A run during which other processes used more than `BUSY_THRESHOLD_CORES` (another session's
 * test suite on this shared machine) is repeated, up to `busyRetries` times; the last attempt
 * is kept either way and carries the number, so the report can flag it.
 */

export const BUSY_THRESHOLD_CORES = 0.25;

export interface RotationTarget {
  name: string;
  port: number;
  /** Why the target stopped serving, once its process has exited. */
  exitReason?: () => string | undefined;
  /** The target's process group, whose CPU per request is measured; undefined for `direct`. */
  processGroup?: number;
  /** Consecutive targets with the same group stay together in every round's order. */
  group?: string;
}

export interface RotationPlan {
  children: ChildProcesses;
  wrkPath: string;
  wrkCpus: string | undefined;
  connections: number;
  threads: number;
  durationS: number;
  warmupS: number;
  /**
   * Warm-up before a target's first run of each workload. A Node target's first seconds under a
   * new load run slower and with a far worse tail while V8 compiles and optimizes the hot paths
   * on the same pinned core (measured: p99 22.8 ms in the first 5 s after a 1 s warm-up, then
   * 7.6 and 6.9 ms), which would make round 1 measure the JIT and not the proxy.
   */
  firstWarmupS: number;
  rounds: number;
  busyRetries: number;
  workloads: readonly Workload[];
  /** Lua script path per workload name, where one is needed. */
  scripts: ReadonlyMap<string, string>;
  /** Targets per workload that passed the sanity check, in table order. */
  targetsFor(workload: Workload): RotationTarget[];
  /** Stop the other targets' process groups while one is measured (see above). */
  freezeIdle: boolean;
  /** Aborted on SIGINT or the overall timeout: no further run starts. */
  signal: AbortSignal;
  log(line: string): void;
}

export async function runRotation(plan: RotationPlan): Promise<Measurement[]> {
  const measurements: Measurement[] = [];
  const frozen = new Set<number>();
  try {
    for (const workload of plan.workloads) {
      const targets = plan.targetsFor(workload);
      for (let round = 0; round < plan.rounds; round++) {
        for (const target of roundOrder(targets, round)) {
          if (plan.signal.aborted) return measurements;
          if (plan.freezeIdle) isolateTarget(target, targets, frozen, signalGroup);
          measurements.push(await measureWithRetries(plan, workload, target, round));
        }
      }
    }
  } finally {
    for (const g of frozen) signalGroup(g, 'SIGCONT');
  }
  return measurements;
}

/**
 * Continues `target`'s process group if it was stopped and stops every other target's group
 * that is not stopped yet; `frozen` holds the stopped groups across calls.
 */
export function isolateTarget(
  target: { processGroup?: number },
  targets: readonly { processGroup?: number }[],
  frozen: Set<number>,
  signal: (group: number, signal: 'SIGSTOP' | 'SIGCONT') => void,
): void {
  for (const t of targets) {
    const g = t.processGroup;
    if (g === undefined) continue;
    if (t === target) {
      if (frozen.delete(g)) signal(g, 'SIGCONT');
    } else if (!frozen.has(g)) {
      frozen.add(g);
      signal(g, 'SIGSTOP');
    }
  }
}

function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // ESRCH: the group is gone (its exit is reported by the target's exitReason).
  }
}

async function measureWithRetries(plan: RotationPlan, workload: Workload, target: RotationTarget, round: number): Promise<Measurement> {
  let m = await measure(plan, workload, target, round);
  for (let retry = 1; retry <= plan.busyRetries && isBusy(m) && !plan.signal.aborted; retry++) {
    plan.log(`${progressLine(plan, workload, round, target.name, m)}  busy machine, repeating (${retry}/${plan.busyRetries})`);
    m = await measure(plan, workload, target, round);
  }
  plan.log(progressLine(plan, workload, round, target.name, m));
  return m;
}

async function measure(plan: RotationPlan, workload: Workload, target: RotationTarget, round: number): Promise<Measurement> {
  const base = { workload: workload.name, target: target.name, round };
  const dead = target.exitReason?.();
  if (dead !== undefined) return { ...base, error: dead };
  const run = {
    wrkPath: plan.wrkPath,
    url: `http://127.0.0.1:${target.port}${workload.path}`,
    connections: plan.connections,
    threads: plan.threads,
    scriptPath: plan.scripts.get(workload.name),
    cpus: plan.wrkCpus,
  };
  try {
    const warmupS = round === 0 ? Math.max(plan.warmupS, plan.firstWarmupS) : plan.warmupS;
    if (warmupS > 0) await runWrk(plan.children, { ...run, durationS: warmupS });
    // The target's CPU counts from just before the measured run to just after: no warm-up.
    const targetTicks = (): number | undefined => (target.processGroup === undefined ? undefined : groupTicks(target.processGroup));
    const ticksBefore = targetTicks();
    // Sample other processes' CPU inside the run, away from wrk's start and exit.
    const margin = Math.min(300, (plan.durationS * 1000) / 4);
    const [[report, ticksAfter], foreignCpuCores] = await Promise.all([
      runWrk(plan.children, { ...run, durationS: plan.durationS }).then((r) => [r, targetTicks()] as const),
      foreignCpuDuring(() => plan.children.groupIds(), margin, plan.durationS * 1000 - 2 * margin),
    ]);
    const diedDuringRun = target.exitReason?.();
    if (diedDuringRun !== undefined) return { ...base, error: diedDuringRun };
    const cpu = cpuUsPerRequest(ticksBefore, ticksAfter, report.requests);
    return {
      ...base,
      report,
      ...(foreignCpuCores !== undefined ? { foreignCpuCores } : {}),
      ...(cpu !== undefined ? { cpuUsPerRequest: cpu } : {}),
    };
  } catch (err) {
    return { ...base, error: (err as Error).message };
  }
}

export function isBusy(m: Measurement): boolean {
  return (m.foreignCpuCores ?? 0) > BUSY_THRESHOLD_CORES;
}

/** The order of round `round`: units (a lone target, or a run of targets sharing a group) rotated, and each unit's members rotated. */
export function roundOrder<T extends { group?: string }>(targets: readonly T[], round: number): T[] {
  const units: T[][] = [];
  for (const t of targets) {
    const last = units.at(-1);
    if (t.group !== undefined && last !== undefined && last[0]!.group === t.group) last.push(t);
    else units.push([t]);
  }
  return rotate(units, round).flatMap((u) => rotate(u, round));
}

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function progressLine(plan: RotationPlan, w: Workload, round: number, target: string, m: Measurement): string {
  const head = `[${w.name} round ${round + 1}/${plan.rounds}] ${target.padEnd(10)}`;
  if (!m.report) return `${head} failed: ${m.error?.split('\n')[0]}`;
  const r = m.report;
  const errors = errorCount(r);
  return (
    `${head} ${Math.round(r.requestsPerSec).toString().padStart(7)} req/s` +
    `  p50 ${(r.latencyUs.p50 / 1e3).toFixed(2)} ms  p99 ${(r.latencyUs.p99 / 1e3).toFixed(2)} ms` +
    (m.cpuUsPerRequest !== undefined ? `  cpu ${m.cpuUsPerRequest.toFixed(1)} µs/req` : '') +
    (errors > 0 ? `  ${errors} errors` : '') +
    (m.foreignCpuCores !== undefined ? `  other load ${m.foreignCpuCores.toFixed(2)} cores` : '')
  );
}
