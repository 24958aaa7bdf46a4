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
}

export interface RotationPlan {
  children: ChildProcesses;
  wrkPath: string;
  wrkCpus: string | undefined;
  connections: number;
  threads: number;
  durationS: number;
  warmupS: number;
  rounds: number;
  busyRetries: number;
  workloads: readonly Workload[];
  /** Lua script path per workload name, where one is needed. */
  scripts: ReadonlyMap<string, string>;
  /** Targets per workload that passed the sanity check, in table order. */
  targetsFor(workload: Workload): RotationTarget[];
  /** Aborted on SIGINT or the overall timeout: no further run starts. */
  signal: AbortSignal;
  log(line: string): void;
}

export async function runRotation(plan: RotationPlan): Promise<Measurement[]> {
  const measurements: Measurement[] = [];
  for (const workload of plan.workloads) {
    const targets = plan.targetsFor(workload);
    for (let round = 0; round < plan.rounds; round++) {
      for (const target of rotate(targets, round)) {
        if (plan.signal.aborted) return measurements;
        let m = await measure(plan, workload, target, round);
        for (let retry = 1; retry <= plan.busyRetries && isBusy(m) && !plan.signal.aborted; retry++) {
          plan.log(`${progressLine(plan, workload, round, target.name, m)}  busy machine, repeating (${retry}/${plan.busyRetries})`);
          m = await measure(plan, workload, target, round);
        }
        measurements.push(m);
        plan.log(progressLine(plan, workload, round, target.name, m));
      }
    }
  }
  return measurements;
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
    if (plan.warmupS > 0) await runWrk(plan.children, { ...run, durationS: plan.warmupS });
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
