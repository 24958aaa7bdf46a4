import type { WrkReport } from './wrk.ts';
import { errorCount } from './wrk.ts';
import type { Workload } from './workloads.ts';

/**
 * Turns the individual runs into one row per (workload, target): medians over the rounds,
 * ratios against the direct, @fastify/http-proxy and Sluice 1-worker rows, the headline
 * ratios (Sluice vs fastify by req/s and by CPU per request), and the cost of each wasm-filter
 * row against its budget.
 */

export interface Measurement {
  workload: string;
  target: string;
  round: number;
  report?: WrkReport;
  /** Cores used by processes outside the bench during the measured run (foreign-cpu.ts). */
  foreignCpuCores?: number;
  /** CPU time the target's process group spent per request in the measured run (process-cpu.ts). */
  cpuUsPerRequest?: number;
  /** Why this run produced no report. */
  error?: string;
  /** Set for a latency run at a fixed load (rotation.ts PacingPlan): each connection's mean think time, ms. */
  pacedDelayMs?: number;
}

export interface RowSummary {
  target: string;
  label: string;
  /** Runs that produced a report, of `plannedRuns`. */
  runs: number;
  plannedRuns: number;
  /** Set when the row has no number: failed to start, failed the sanity check, or every run failed. */
  failure?: string;
  /** Medians over the runs. */
  requestsPerSec?: number;
  p50Us?: number;
  p99Us?: number;
  /** Median CPU microseconds per request of the target's processes; none for `direct`. */
  cpuUsPerRequest?: number;
  /** Lowest and highest req/s of the runs, to judge the noise. */
  requestsPerSecMin?: number;
  requestsPerSecMax?: number;
  /** Socket errors plus non-2xx responses, summed over the runs. */
  errors: number;
  /** Runs during which other processes used more CPU than the rotation tolerates. */
  busyRuns: number;
  /** Most cores used by other processes during any of the runs. */
  foreignCpuMaxCores?: number;
  vsDirect?: number;
  vsFastify?: number;
  vsSluice1?: number;
}

/**
 * How much slower a row may be than its base row (a wasm filter against the same Sluice without
 * it). Without targets it is an A/A control: both rows run the same program, so its numbers are
 * what the estimators read for a cost of zero on this run's machine.
 */
export interface CostBudget {
  target: string;
  base: string;
  /** Lowest acceptable req/s ratio target / base; absent on a control. */
  minRatio?: number;
  /** Highest acceptable p99 of target minus p99 of base, microseconds; absent on a control. */
  maxAddedP99Us?: number;
}

/**
 * A budget with what this workload measured; undefined numbers when no round has both rows.
 *
 * The numbers are paired: each round runs the row and its base close together (rotation.ts: in
 * order then reversed, at saturation and then paced), so every round gives one req/s ratio and
 * one p99 difference at each load, and the check reports the medians of those. A slow phase of
 * a shared VM (tens of seconds long, up to ±40 % here) then moves both runs of a pair instead of
 * whichever row's median it happened to fall on.
 */
export interface BudgetCheck extends CostBudget {
  label: string;
  baseLabel: string;
  /** Rounds in which both rows produced a report. */
  pairs: number;
  /** Median over the rounds of req/s(row) / req/s(base). */
  ratio?: number;
  /** Lowest and highest of those per-round ratios. */
  ratioMin?: number;
  ratioMax?: number;
  /** Median over the rounds of base CPU per request / row CPU per request (> 1: the row is cheaper). */
  cpuRatio?: number;
  /**
   * Median over the rounds of p99(row) − p99(base) at the paced load (rotation.ts PacingPlan),
   * microseconds: the latency the filter adds, which the budget's `maxAddedP99Us` is about.
   */
  addedP99Us?: number;
  /**
   * A 95 % confidence interval for the median behind `addedP99Us` (medianInterval), microseconds:
   * where the interval holds the budget's limit, this run cannot tell a met budget from a missed one.
   */
  addedP99IntervalUs?: [number, number];
  /** Rounds in which both rows produced a paced report. */
  pacedPairs: number;
  /** Median of the base's req/s in its paced runs: the load the paced p99 was measured at. */
  pacedRequestsPerSec?: number;
  /**
   * Median over the rounds of row CPU per request / base CPU per request in the paced runs (> 1:
   * the row costs more). On a host whose CPU slows down in phases, the paced p99 is the queue
   * such a phase builds, and it grows with each request's CPU: this is what moves that p99.
   */
  pacedCpuCost?: number;
  /** Median over the rounds of p99(row) − p99(base) at saturation, microseconds (mostly queueing: see PacingPlan). */
  addedP99SaturatedUs?: number;
}

export interface WorkloadSummary {
  workload: Workload;
  rows: RowSummary[];
  /** Sluice 1 worker / @fastify/http-proxy, req/s. */
  sluiceVsFastify?: number;
  /**
   * @fastify/http-proxy's CPU per request / Sluice 1 worker's: > 1 means Sluice is cheaper. The
   * req/s ratio both would reach on a saturated core, and much steadier than req/s here.
   */
  sluiceVsFastifyCpu?: number;
  /** Sluice 2 workers / Sluice 1 worker, req/s. */
  sluice2VsSluice1?: number;
  /** One per budget whose target row was selected. */
  budgets: BudgetCheck[];
}

export interface SummaryInput {
  workloads: readonly Workload[];
  targets: readonly { name: string; label: string }[];
  measurements: readonly Measurement[];
  /** Rows that never ran, keyed by `failureKey(workload, target)`. */
  failures: ReadonlyMap<string, string>;
  rounds: number;
  isBusy: (m: Measurement) => boolean;
  ids: { direct: string; fastify: string; sluice1: string; sluice2: string };
  budgets?: readonly CostBudget[];
}

export function failureKey(workload: string, target: string): string {
  return `${workload}/${target}`;
}

export function summarize(input: SummaryInput): WorkloadSummary[] {
  return input.workloads.map((workload) => {
    const rows = input.targets.map((t) => summarizeRow(input, workload.name, t));
    const rps = (name: string): number | undefined => rows.find((r) => r.target === name)?.requestsPerSec;
    const direct = rps(input.ids.direct);
    const fastify = rps(input.ids.fastify);
    const sluice1 = rps(input.ids.sluice1);
    for (const row of rows) {
      row.vsDirect = ratio(row.requestsPerSec, direct);
      row.vsFastify = ratio(row.requestsPerSec, fastify);
      row.vsSluice1 = ratio(row.requestsPerSec, sluice1);
    }
    const budgets = (input.budgets ?? []).flatMap((b): BudgetCheck[] => {
      // A budget is checked only when both its rows were selected.
      const row = rows.find((r) => r.target === b.target);
      const base = rows.find((r) => r.target === b.base);
      if (!row || !base) return [];
      return [checkBudget(input, workload.name, b, row.label, base.label)];
    });
    const summary: WorkloadSummary = { workload, rows, budgets };
    const cpu = (name: string): number | undefined => rows.find((r) => r.target === name)?.cpuUsPerRequest;
    const a = ratio(rps(input.ids.sluice1), fastify);
    // Inverted on purpose: less CPU per request is better, so fastify's cost is the numerator.
    const aCpu = ratio(cpu(input.ids.fastify), cpu(input.ids.sluice1));
    const b = ratio(rps(input.ids.sluice2), rps(input.ids.sluice1));
    if (a !== undefined) summary.sluiceVsFastify = a;
    if (aCpu !== undefined) summary.sluiceVsFastifyCpu = aCpu;
    if (b !== undefined) summary.sluice2VsSluice1 = b;
    return summary;
  });
}

/** Pairs the row's and the base's runs by round, saturated with saturated and paced with paced (see BudgetCheck). */
function checkBudget(input: SummaryInput, workload: string, b: CostBudget, label: string, baseLabel: string): BudgetCheck {
  // [row's run, base's run] for each round in which both reported, at one load.
  const pairsAt = (paced: boolean): [Measurement, Measurement][] => {
    const mine = (target: string): Measurement[] =>
      input.measurements.filter((m) => m.workload === workload && m.target === target && m.report && (m.pacedDelayMs !== undefined) === paced);
    const base = new Map(mine(b.base).map((m) => [m.round, m]));
    return mine(b.target).flatMap((m): [Measurement, Measurement][] => {
      const o = base.get(m.round);
      return o === undefined ? [] : [[m, o]];
    });
  };
  const p99Added = ([m, o]: [Measurement, Measurement]): number => m.report!.latencyUs.p99 - o.report!.latencyUs.p99;
  const saturated = pairsAt(false);
  const paced = pairsAt(true);
  const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined);
  const ratios = defined(saturated.map(([m, o]) => ratio(m.report!.requestsPerSec, o.report!.requestsPerSec)));
  const cpuRatios = defined(saturated.map(([m, o]) => ratio(o.cpuUsPerRequest, m.cpuUsPerRequest)));
  const addedSaturated = saturated.map(p99Added);
  const added = paced.map(p99Added);
  const pacedRates = paced.map(([, o]) => o.report!.requestsPerSec);
  const pacedCosts = defined(paced.map(([m, o]) => ratio(m.cpuUsPerRequest, o.cpuUsPerRequest)));
  const check: BudgetCheck = { ...b, label, baseLabel, pairs: addedSaturated.length, pacedPairs: added.length };
  if (ratios.length > 0) {
    check.ratio = median(ratios);
    check.ratioMin = Math.min(...ratios);
    check.ratioMax = Math.max(...ratios);
  }
  if (cpuRatios.length > 0) check.cpuRatio = median(cpuRatios);
  if (addedSaturated.length > 0) check.addedP99SaturatedUs = median(addedSaturated);
  if (added.length > 0) {
    check.addedP99Us = median(added);
    const interval = medianInterval(added);
    if (interval !== undefined) check.addedP99IntervalUs = interval;
    check.pacedRequestsPerSec = median(pacedRates);
  }
  if (pacedCosts.length > 0) check.pacedCpuCost = median(pacedCosts);
  return check;
}

function summarizeRow(input: SummaryInput, workload: string, t: { name: string; label: string }): RowSummary {
  // The table is about saturated runs; paced runs only feed the budgets' latency.
  const mine = input.measurements.filter((m) => m.workload === workload && m.target === t.name && m.pacedDelayMs === undefined);
  const reports = mine.flatMap((m) => (m.report ? [m.report] : []));
  const row: RowSummary = { target: t.name, label: t.label, runs: reports.length, plannedRuns: input.rounds, errors: 0, busyRuns: 0 };
  const failure = input.failures.get(failureKey(workload, t.name));
  if (failure !== undefined) {
    row.failure = failure;
    return row;
  }
  if (reports.length === 0) {
    row.failure = mine.findLast((m) => m.error)?.error ?? 'no run completed';
    return row;
  }
  const rps = reports.map((r) => r.requestsPerSec);
  row.requestsPerSec = median(rps);
  row.requestsPerSecMin = Math.min(...rps);
  row.requestsPerSecMax = Math.max(...rps);
  row.p50Us = median(reports.map((r) => r.latencyUs.p50));
  row.p99Us = median(reports.map((r) => r.latencyUs.p99));
  row.errors = reports.reduce((sum, r) => sum + errorCount(r), 0);
  const measured = mine.filter((m) => m.report);
  row.busyRuns = measured.filter(input.isBusy).length;
  const cpu = measured.flatMap((m) => (m.cpuUsPerRequest === undefined ? [] : [m.cpuUsPerRequest]));
  if (cpu.length > 0) row.cpuUsPerRequest = median(cpu);
  const foreign = measured.flatMap((m) => (m.foreignCpuCores === undefined ? [] : [m.foreignCpuCores]));
  if (foreign.length > 0) row.foreignCpuMaxCores = Math.max(...foreign);
  return row;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * A distribution-free confidence interval of at least `confidence` for the median of the
 * population `values` were drawn from (the sign test's interval): the k-th smallest and k-th
 * largest value, k the largest with P(Binomial(n, ½) < k) ≤ (1 − confidence) / 2. It assumes only
 * independent draws, not a shape: paced p99 differences on a shared VM are far from normal.
 * undefined when n is too small for any such k (fewer than 6 values at 95 %).
 */
export function medianInterval(values: readonly number[], confidence = 0.95): [number, number] | undefined {
  const n = values.length;
  const tail = (1 - confidence) / 2;
  // P(X <= j) for X ~ Binomial(n, 1/2), accumulated until it would exceed the tail.
  let k = 0;
  let cumulative = 0;
  let term = 0.5 ** n; // C(n, 0) / 2^n
  for (let j = 0; j < n; j++) {
    if (cumulative + term > tail) break;
    cumulative += term;
    k = j + 1;
    term = (term * (n - j)) / (j + 1);
  }
  if (k === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return [sorted[k - 1]!, sorted[n - k]!];
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}
