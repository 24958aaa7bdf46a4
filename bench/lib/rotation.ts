import type { ChildProcesses } from './child-processes.ts';
import { foreignCpuDuring } from './foreign-cpu.ts';
import { cpuUsPerRequest, groupTicks } from './process-cpu.ts';
import type { Measurement } from './summary.ts';
import { runWrk, errorCount, type WrkReport } from './wrk.ts';
import type { PacingSlice, Workload } from './workloads.ts';

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
 * With `pacing`, the group is then measured at a fixed, lower load (`PacingPlan`), all members at
 * once in turns of a few tens of ms (`measureSliced`).
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
 *
 * The members take that load in turns (`measureSliced`): one wrk per member, all running at once,
 * each sending only in its member's windows of `windowMs`, so over a run every member is offered
 * the load in `durationS` of windows spread evenly across the same wall-clock time. This host's
 * CPU slows down in phases of tens of ms to about a second (see cpu-steadiness.ts), and a paced
 * p99 is the queue those phases build: measured one after the other, two rows of a round met
 * different phases (an A/A control's paired p99 differences spread over ±4 ms); measured in
 * turns, they meet the same ones.
 */
export interface PacingPlan {
  /** Offered load as a fraction of the base's saturated req/s in the same round. */
  fraction: number;
  /** The group member whose req/s sets the load (the budgets' base row). */
  base: string;
  /** Path of a wrk Lua script for `workload` whose connections think `meanDelayMs` on average, sending in `slice` only. */
  script(workload: Workload, meanDelayMs: number, slice: PacingSlice): string;
  /** Measured seconds of windows per member and round (see pacedDurationS). */
  durationS: number;
  /** Length of one member's turn, ms. */
  windowMs: number;
}

/**
 * Measured seconds of a row's paced turns: its saturated runs' duration divided by the load
 * fraction, so they collect about as many requests as the saturated runs and the paced p99
 * rests on as many samples.
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
      const run = async (target: RotationTarget, round: number): Promise<Measurement> => {
        if (plan.freezeIdle) isolateTargets([target], targets, frozen, signalGroup);
        // The long first warm-up comes before a target's first run of the workload only.
        const warmupS = warmed.has(target) ? plan.warmupS : Math.max(plan.warmupS, plan.firstWarmupS);
        warmed.add(target);
        return measureWithRetries(plan, workload, target, round, warmupS);
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
          if (plan.freezeIdle) isolateTargets(unit, targets, frozen, signalGroup);
          measurements.push(...(await measureSlicedWithRetries(plan, pacing, workload, unit, round, meanDelayMs)));
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

/**
 * Continues the process groups of the `measured` targets if they were stopped and stops every
 * other target's group that is not stopped yet; `frozen` holds the stopped groups across calls.
 */
export function isolateTargets(
  measured: readonly { processGroup?: number }[],
  targets: readonly { processGroup?: number }[],
  frozen: Set<number>,
  signal: (group: number, signal: 'SIGSTOP' | 'SIGCONT') => void,
): void {
  for (const t of targets) {
    const g = t.processGroup;
    if (g === undefined) continue;
    if (measured.includes(t)) {
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

/** A saturated run of `target` after `warmupS` of warm-up, repeated while the machine was busy. */
async function measureWithRetries(plan: RotationPlan, workload: Workload, target: RotationTarget, round: number, warmupS: number): Promise<Measurement> {
  let m = await measure(plan, workload, target, round, warmupS);
  for (let retry = 1; retry <= plan.busyRetries && isBusy(m) && !plan.signal.aborted; retry++) {
    plan.log(`${progressLine(plan, workload, round, target.name, m)}  busy machine, repeating (${retry}/${plan.busyRetries})`);
    m = await measure(plan, workload, target, round, warmupS);
  }
  plan.log(progressLine(plan, workload, round, target.name, m));
  return m;
}

async function measure(plan: RotationPlan, workload: Workload, target: RotationTarget, round: number, warmupS: number): Promise<Measurement> {
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
    if (warmupS > 0) await runWrk(plan.children, { ...run, durationS: warmupS });
    // The target's CPU counts from just before the measured run to just after: no warm-up.
    const targetTicks = (): number | undefined => (target.processGroup === undefined ? undefined : groupTicks(target.processGroup));
    const ticksBefore = targetTicks();
    // Sample other processes' CPU inside the run, away from wrk's start and exit.
    const durationS = plan.durationS;
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

/** `measureSliced`, repeated while the machine was busy (as measureWithRetries). */
async function measureSlicedWithRetries(
  plan: RotationPlan,
  pacing: PacingPlan,
  workload: Workload,
  unit: readonly RotationTarget[],
  round: number,
  meanDelayMs: number,
): Promise<Measurement[]> {
  let ms = await measureSliced(plan, pacing, workload, unit, round, meanDelayMs);
  for (let retry = 1; retry <= plan.busyRetries && ms.some(isBusy) && !plan.signal.aborted; retry++) {
    plan.log(`[${workload.name} round ${round + 1}/${plan.rounds}] paced in turns: busy machine, repeating (${retry}/${plan.busyRetries})`);
    ms = await measureSliced(plan, pacing, workload, unit, round, meanDelayMs);
  }
  for (let i = 0; i < unit.length; i++) plan.log(progressLine(plan, workload, round, unit[i]!.name, ms[i]!));
  return ms;
}

/**
 * The paced measurement of a budget unit (see PacingPlan): one wrk per member, started together,
 * member i sending in slot i of `unit.length` windows. First a warm-up the same way
 * (`plan.warmupS` of windows each: the members were stopped while others ran, and what they put
 * off, timers and deferred GC work, should not land in the measured run), then the measured run.
 * Each member's report covers its own windows: the run's wall time × 1/members is the time it
 * was offered load, and its req/s is over that. CPU per request is the member's process CPU over
 * the whole run (it idles outside its windows) divided by its requests.
 */
async function measureSliced(
  plan: RotationPlan,
  pacing: PacingPlan,
  workload: Workload,
  unit: readonly RotationTarget[],
  round: number,
  meanDelayMs: number,
): Promise<Measurement[]> {
  const slots = unit.length;
  const baseOf = (t: RotationTarget) => ({ workload: workload.name, target: t.name, round, pacedDelayMs: meanDelayMs });
  const runOf = (t: RotationTarget, slot: number) => ({
    wrkPath: plan.wrkPath,
    url: `http://127.0.0.1:${t.port}${workload.path}`,
    connections: plan.connections,
    threads: plan.threads,
    scriptPath: pacing.script(workload, meanDelayMs, { slot, slots, windowMs: pacing.windowMs }),
    cpus: plan.wrkCpus,
  });
  // A dead member's slot stays empty; the others keep their windows.
  const live = unit.flatMap((t, slot) => (t.exitReason?.() === undefined ? [{ t, slot }] : []));
  const ticksOf = (t: RotationTarget): number | undefined => (t.processGroup === undefined ? undefined : groupTicks(t.processGroup));
  const wallS = pacing.durationS * slots;
  let warmupError: Error | undefined;
  if (plan.warmupS > 0) {
    const warm = await Promise.allSettled(live.map(({ t, slot }) => runWrk(plan.children, { ...runOf(t, slot), durationS: plan.warmupS * slots })));
    const failed = warm.find((r) => r.status === 'rejected');
    if (failed !== undefined) warmupError = (failed as PromiseRejectedResult).reason as Error;
  }
  const before = live.map(({ t }) => ticksOf(t));
  const margin = Math.min(300, (wallS * 1000) / 4);
  const [runs, foreignCpuCores] = await Promise.all([
    Promise.allSettled(
      live.map(({ t, slot }, i) => runWrk(plan.children, { ...runOf(t, slot), durationS: wallS }).then((r) => ({ report: r, after: ticksOf(t), before: before[i] }))),
    ),
    warmupError === undefined ? foreignCpuDuring(() => plan.children.groupIds(), margin, wallS * 1000 - 2 * margin) : Promise.resolve(undefined),
  ]);
  return unit.map((t): Measurement => {
    const base = baseOf(t);
    const dead = t.exitReason?.();
    if (dead !== undefined) return { ...base, error: dead };
    const at = live.findIndex((l) => l.t === t);
    const run = runs[at]!;
    if (run.status === 'rejected') return { ...base, error: ((run.reason as Error)?.message ?? String(run.reason)) };
    if (warmupError !== undefined) return { ...base, error: `warm-up: ${warmupError.message}` };
    const { report: whole, before: b, after: a } = run.value;
    const activeS = whole.durationS / slots;
    const report: WrkReport = { ...whole, durationS: activeS, requestsPerSec: activeS > 0 ? whole.requests / activeS : 0 };
    const cpu = cpuUsPerRequest(b, a, whole.requests);
    return {
      ...base,
      report,
      ...(foreignCpuCores !== undefined ? { foreignCpuCores } : {}),
      ...(cpu !== undefined ? { cpuUsPerRequest: cpu } : {}),
    };
  });
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
