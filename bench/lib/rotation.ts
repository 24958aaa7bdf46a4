import type { ChildProcesses } from './child-processes.ts';
import { foreignCpuDuring } from './foreign-cpu.ts';
import { cpuUsPerRequest, groupTicks } from './process-cpu.ts';
import type { Measurement } from './summary.ts';
import { runWrk, errorCount, type WrkReport } from './wrk.ts';
import type { Workload } from './workloads.ts';

/**
 * The interleaved schedule: per workload, R rounds; each round runs every target once (a
 * warm-up run, discarded, then the measured run). The starting target shifts by one each
 * round, so no target is always first after a pause or always right after a heavy one.
 *
 * Targets that share a `group` (a row and the base its cost budget compares it with) run back
 * to back in every round, their order shifting too, and each of them twice: the group in order,
 * then reversed (A B C C B A). The two runs make the round's one measurement (`combineRuns`), so
 * a machine that speeds up or slows down steadily during the round moves every member of the
 * group alike instead of favouring whoever ran last; summary.ts pairs the members by round.
 * With `pacing`, the group then runs once more the same way at a fixed, lower load (`PacingPlan`),
 * each run after a warm-up at that load and measured for longer (`pacedDurationS`).
 *
 * Every `restartEvery` rounds, the grouped targets' processes are replaced by fresh ones
 * (`replaceGroupProcesses`), which then get the long first warm-up again. Two processes started
 * from the same config differ by a few % in req/s for their whole life (measured on this VM:
 * 0.97× to 1.07× between two identical no-filter Sluice processes, in alternating slices), so a
 * group measured on one process per row carries one draw of that offset into every round's
 * pair; over several processes per row, the median of the pairs no longer rests on one draw.
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
  /** Replace the grouped targets' processes before every this many rounds; 0 = never. */
  restartEvery: number;
  /**
   * Stops `target`'s process and starts a fresh one with the same config, checked as at the start;
   * resolves to the new target, or to one whose `exitReason` says why it could not be replaced.
   */
  restart?(workload: Workload, target: RotationTarget): Promise<RotationTarget>;
  /** Latency runs for grouped targets at a fixed load below saturation; undefined = none. */
  pacing?: PacingPlan;
  /** Aborted on SIGINT or the overall timeout: no further run starts. */
  signal: AbortSignal;
  log(line: string): void;
}

/**
 * How a group's latency is measured. At saturation, 50 closed-loop connections queue behind each
 * other, so p99 there is mostly connections ÷ throughput (Little's law): a filter that costs 5 %
 * of throughput adds 5 % to a 12 ms p99. To see the latency a filter itself adds, each round also
 * runs the group at a fixed offered load: every connection waits a random think time (uniform,
 * mean `connections ÷ (fraction × the base's req/s this round)`) before each request, so the
 * 50 connections do not fall into step and arrive in bursts.
 */
export interface PacingPlan {
  /** Offered load as a fraction of the base's saturated req/s in the same round. */
  fraction: number;
  /** The group member whose req/s sets the load (the budgets' base row). */
  base: string;
  /** Path of a wrk Lua script for `workload` whose connections think `meanDelayMs` on average. */
  script(workload: Workload, meanDelayMs: number): string;
  /** Measured seconds per paced run (see pacedDurationS). */
  durationS: number;
}

/**
 * Measured seconds of a paced run: the saturated runs' duration divided by the load fraction,
 * so a paced run collects about as many requests as a saturated one and its p99 rests on as
 * many samples. A host stall of tens of ms delays every request that arrives during it; in a
 * short run at half the load those are a larger share of the run and can set its p99 alone.
 */
export function pacedDurationS(durationS: number, fraction: number): number {
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`the paced load fraction must be in (0, 1], got ${fraction}`);
  return Math.ceil(durationS / fraction);
}

export async function runRotation(plan: RotationPlan): Promise<Measurement[]> {
  const measurements: Measurement[] = [];
  const frozen = new Set<number>();
  try {
    for (const workload of plan.workloads) {
      const targets = plan.targetsFor(workload);
      // A fresh process is not in `warmed`: its first run gets the long first warm-up.
      const warmed = new Set<RotationTarget>();
      const run = async (target: RotationTarget, round: number, how?: RunHow): Promise<Measurement> => {
        if (plan.freezeIdle) isolateTarget(target, targets, frozen, signalGroup);
        // The long first warm-up comes before a target's first run of the workload only.
        const warmupS = how?.warmupS ?? (warmed.has(target) ? plan.warmupS : Math.max(plan.warmupS, plan.firstWarmupS));
        warmed.add(target);
        return measureWithRetries(plan, workload, target, round, { ...how, warmupS });
      };
      for (let round = 0; round < plan.rounds; round++) {
        const restart = plan.restart;
        if (restart !== undefined && restartDue(round, plan.restartEvery) && !plan.signal.aborted) {
          await replaceGroupProcesses(targets, frozen, signalGroup, async (t) => {
            const fresh = await restart(workload, t);
            plan.log(`[${workload.name} round ${round + 1}/${plan.rounds}] ${t.name.padEnd(10)} ${describeReplacement(fresh)}`);
            return fresh;
          });
        }
        for (const unit of roundUnits(targets, round)) {
          if (plan.signal.aborted) return measurements;
          if (unit.length === 1) {
            measurements.push(await run(unit[0]!, round));
            continue;
          }
          const saturated = await runPalindrome(unit, plan.signal, (t) => run(t, round));
          measurements.push(...saturated);
          const pacing = plan.pacing;
          const baseRate = saturated.find((m) => m.target === pacing?.base)?.report?.requestsPerSec;
          if (pacing === undefined || baseRate === undefined || baseRate <= 0 || plan.signal.aborted) continue;
          const meanDelayMs = pacedDelayMs(plan.connections, pacing.fraction * baseRate);
          // A warm-up at the paced load first, as before every saturated run: the target was
          // stopped while the others ran, and what it put off (timers, deferred GC work) should
          // not land in the measured run. The host's own stalls remain (see combineRuns).
          const how: RunHow = {
            scriptPath: pacing.script(workload, meanDelayMs),
            warmupS: plan.warmupS,
            durationS: pacing.durationS,
            pacedDelayMs: meanDelayMs,
          };
          measurements.push(...(await runPalindrome(unit, plan.signal, (t) => run(t, round, how))));
        }
      }
    }
  } finally {
    for (const g of frozen) signalGroup(g, 'SIGCONT');
  }
  return measurements;
}

/** Whether the grouped targets' processes are replaced before round `round` (0-based) when replaced every `every` rounds. */
export function restartDue(round: number, every: number): boolean {
  return every > 0 && round > 0 && round % every === 0;
}

/**
 * Replaces, in place, every grouped target of `targets` with what `restart` returns for it, one
 * after the other. A stopped (frozen) process group is continued first, so the old process can
 * act on the SIGTERM that stops it; the new one is not frozen until another target is measured.
 */
export async function replaceGroupProcesses(
  targets: RotationTarget[],
  frozen: Set<number>,
  signal: (group: number, signal: 'SIGSTOP' | 'SIGCONT') => void,
  restart: (target: RotationTarget) => Promise<RotationTarget>,
): Promise<void> {
  for (let i = 0; i < targets.length; i++) {
    const old = targets[i]!;
    if (old.group === undefined) continue;
    if (old.processGroup !== undefined && frozen.delete(old.processGroup)) signal(old.processGroup, 'SIGCONT');
    targets[i] = await restart(old);
  }
}

function describeReplacement(t: RotationTarget): string {
  const dead = t.exitReason?.();
  return dead === undefined ? `replaced by a fresh process (group ${t.processGroup ?? 'none'})` : `could not be replaced: ${dead.split('\n')[0]}`;
}

/** Mean think time per connection (ms, at least 1) that offers `requestsPerSec` over `connections`. */
export function pacedDelayMs(connections: number, requestsPerSec: number): number {
  return Math.max(1, Math.round((connections * 1000) / requestsPerSec));
}

/** Runs `unit` in order, then reversed, and combines each member's two runs; a member whose runs were cut short by `signal` is left out. */
async function runPalindrome(
  unit: readonly RotationTarget[],
  signal: AbortSignal,
  measureOne: (t: RotationTarget) => Promise<Measurement>,
): Promise<Measurement[]> {
  const runs = new Map<RotationTarget, Measurement[]>();
  for (const t of palindrome(unit)) {
    if (signal.aborted) break;
    const list = runs.get(t) ?? [];
    list.push(await measureOne(t));
    runs.set(t, list);
  }
  return unit.flatMap((t) => {
    const list = runs.get(t);
    return list === undefined || list.length < 2 ? [] : [combineRuns(list[0]!, list[1]!)];
  });
}

/** `unit` followed by `unit` reversed: every member's two positions average to the same time. */
export function palindrome<T>(unit: readonly T[]): T[] {
  return [...unit, ...[...unit].reverse()];
}

/**
 * One measurement from two runs of the same target: requests, time and errors add up, CPU per
 * request is weighted by requests, and each latency percentile is the lower of the two. wrk
 * prints percentiles, not its histogram, so they cannot be merged; and this VM stalls for tens of
 * ms now and then, which sets a short run's p99 by itself (seen: one target's two paced 2 s runs
 * in one round gave p99 56.2 and 5.2 ms). A stall only ever adds latency, so the lower run is the
 * better estimate of what the proxy does; every member of a group is treated the same way. A
 * failed run leaves the other one; two failed runs keep the later error.
 */
export function combineRuns(a: Measurement, b: Measurement): Measurement {
  if (!a.report) return b;
  if (!b.report) return a;
  const ra = a.report;
  const rb = b.report;
  const requests = ra.requests + rb.requests;
  const durationS = ra.durationS + rb.durationS;
  const report: WrkReport = {
    requests,
    durationS,
    requestsPerSec: durationS > 0 ? requests / durationS : 0,
    latencyUs: {
      p50: Math.min(ra.latencyUs.p50, rb.latencyUs.p50),
      p75: Math.min(ra.latencyUs.p75, rb.latencyUs.p75),
      p90: Math.min(ra.latencyUs.p90, rb.latencyUs.p90),
      p99: Math.min(ra.latencyUs.p99, rb.latencyUs.p99),
    },
    errors: {
      connect: ra.errors.connect + rb.errors.connect,
      read: ra.errors.read + rb.errors.read,
      write: ra.errors.write + rb.errors.write,
      timeout: ra.errors.timeout + rb.errors.timeout,
      non2xx: ra.errors.non2xx + rb.errors.non2xx,
    },
  };
  const out: Measurement = { workload: a.workload, target: a.target, round: a.round, report };
  if (a.pacedDelayMs !== undefined) out.pacedDelayMs = a.pacedDelayMs;
  if (a.foreignCpuCores !== undefined || b.foreignCpuCores !== undefined) out.foreignCpuCores = Math.max(a.foreignCpuCores ?? 0, b.foreignCpuCores ?? 0);
  if (a.cpuUsPerRequest !== undefined && b.cpuUsPerRequest !== undefined && requests > 0) {
    out.cpuUsPerRequest = (a.cpuUsPerRequest * ra.requests + b.cpuUsPerRequest * rb.requests) / requests;
  }
  return out;
}

/** How a run differs from a plain saturated run with the plan's warm-up. */
interface RunHow {
  scriptPath?: string;
  warmupS?: number;
  durationS?: number;
  pacedDelayMs?: number;
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

async function measureWithRetries(plan: RotationPlan, workload: Workload, target: RotationTarget, round: number, how?: RunHow): Promise<Measurement> {
  let m = await measure(plan, workload, target, round, how);
  for (let retry = 1; retry <= plan.busyRetries && isBusy(m) && !plan.signal.aborted; retry++) {
    plan.log(`${progressLine(plan, workload, round, target.name, m)}  busy machine, repeating (${retry}/${plan.busyRetries})`);
    m = await measure(plan, workload, target, round, how);
  }
  plan.log(progressLine(plan, workload, round, target.name, m));
  return m;
}

async function measure(plan: RotationPlan, workload: Workload, target: RotationTarget, round: number, how?: RunHow): Promise<Measurement> {
  const base = { workload: workload.name, target: target.name, round, ...(how?.pacedDelayMs !== undefined ? { pacedDelayMs: how.pacedDelayMs } : {}) };
  const dead = target.exitReason?.();
  if (dead !== undefined) return { ...base, error: dead };
  const run = {
    wrkPath: plan.wrkPath,
    url: `http://127.0.0.1:${target.port}${workload.path}`,
    connections: plan.connections,
    threads: plan.threads,
    scriptPath: how?.scriptPath ?? plan.scripts.get(workload.name),
    cpus: plan.wrkCpus,
  };
  try {
    const warmupS = how?.warmupS ?? plan.warmupS;
    if (warmupS > 0) await runWrk(plan.children, { ...run, durationS: warmupS });
    // The target's CPU counts from just before the measured run to just after: no warm-up.
    const targetTicks = (): number | undefined => (target.processGroup === undefined ? undefined : groupTicks(target.processGroup));
    const ticksBefore = targetTicks();
    // Sample other processes' CPU inside the run, away from wrk's start and exit.
    const durationS = how?.durationS ?? plan.durationS;
    const margin = Math.min(300, (durationS * 1000) / 4);
    const [[report, ticksAfter], foreignCpuCores] = await Promise.all([
      runWrk(plan.children, { ...run, durationS }).then((r) => [r, targetTicks()] as const),
      foreignCpuDuring(() => plan.children.groupIds(), margin, durationS * 1000 - 2 * margin),
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
  return roundUnits(targets, round).flat();
}

/** Round `round`'s units in order, each with its members in order (see roundOrder). */
export function roundUnits<T extends { group?: string }>(targets: readonly T[], round: number): T[][] {
  const units: T[][] = [];
  for (const t of targets) {
    const last = units.at(-1);
    if (t.group !== undefined && last !== undefined && last[0]!.group === t.group) last.push(t);
    else units.push([t]);
  }
  return rotate(units, round).map((u) => rotate(u, round));
}

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function progressLine(plan: RotationPlan, w: Workload, round: number, target: string, m: Measurement): string {
  const paced = m.pacedDelayMs === undefined ? '' : ` paced ${m.pacedDelayMs} ms`;
  const head = `[${w.name} round ${round + 1}/${plan.rounds}] ${target.padEnd(10)}${paced}`;
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
