import { test } from 'node:test';
import assert from 'node:assert/strict';
import { medianInterval, summarize, type CostBudget, type Measurement, type SummaryInput } from '../../bench/lib/summary.ts';
import type { WrkReport } from '../../bench/lib/wrk.ts';
import { WORKLOADS } from '../../bench/lib/workloads.ts';

const WORKLOAD = WORKLOADS.find((w) => w.name === 'get-100b')!;
const TARGETS = [
  { name: 'direct', label: 'direct (no proxy)' },
  { name: 'sluice1', label: 'Sluice, 1 worker' },
  { name: 'fastify', label: '@fastify/http-proxy' },
];

function report(requestsPerSec: number): WrkReport {
  return {
    requests: requestsPerSec * 5,
    durationS: 5,
    requestsPerSec,
    latencyUs: { p50: 500, p75: 600, p90: 700, p99: 1000 },
    errors: { connect: 0, read: 0, write: 0, timeout: 0, non2xx: 0 },
  };
}

function run(target: string, round: number, rps: number, cpuUsPerRequest?: number): Measurement {
  return {
    workload: WORKLOAD.name,
    target,
    round,
    report: report(rps),
    ...(cpuUsPerRequest !== undefined ? { cpuUsPerRequest } : {}),
  };
}

function input(measurements: Measurement[]): SummaryInput {
  return {
    workloads: [WORKLOAD],
    targets: TARGETS,
    measurements,
    failures: new Map(),
    rounds: 3,
    isBusy: () => false,
    ids: { direct: 'direct', fastify: 'fastify', sluice1: 'sluice1', sluice2: 'sluice2' },
  };
}

/** summarize() with a `wasm` row and, by default, one budget comparing it with sluice1. */
function summarizeWasm(measurements: Measurement[], budgets: CostBudget[] = [{ target: 'wasm', base: 'sluice1', minRatio: 0.9, maxAddedP99Us: 500 }]) {
  return summarize({ ...input(measurements), targets: [...TARGETS, { name: 'wasm', label: 'Sluice 1w + wasm' }], budgets });
}

const MEASUREMENTS = [
  run('direct', 0, 30_000),
  run('direct', 1, 31_000),
  run('direct', 2, 29_000),
  run('sluice1', 0, 14_000, 70),
  run('sluice1', 1, 9_000, 72), // a noisy round: req/s down, CPU per request barely moves
  run('sluice1', 2, 13_000, 68),
  run('fastify', 0, 10_000, 100),
  run('fastify', 1, 9_500, 105),
  run('fastify', 2, 10_500, 99),
];

test('a row reports the median CPU per request of its runs; direct, without a process, reports none', () => {
  const [s] = summarize(input(MEASUREMENTS));
  const row = (name: string) => s!.rows.find((r) => r.target === name)!;
  assert.equal(row('sluice1').cpuUsPerRequest, 70);
  assert.equal(row('fastify').cpuUsPerRequest, 100);
  assert.equal(row('direct').cpuUsPerRequest, undefined);
});

test('sluiceVsFastifyCpu is fastify CPU per request / Sluice 1 worker CPU per request (> 1: Sluice is cheaper)', () => {
  const [s] = summarize(input(MEASUREMENTS));
  assert.equal(s!.sluiceVsFastifyCpu, 100 / 70);
  assert.equal(s!.sluiceVsFastify, 13_000 / 10_000);
});

test('runs without a CPU number are left out of the median, and no number gives no ratio', () => {
  const partial = MEASUREMENTS.map((m) => (m.target === 'sluice1' && m.round === 1 ? { ...m, cpuUsPerRequest: undefined } : m));
  const [s] = summarize(input(partial));
  assert.equal(s!.rows.find((r) => r.target === 'sluice1')!.cpuUsPerRequest, 69);

  const none = MEASUREMENTS.map(({ cpuUsPerRequest: _, ...m }) => m);
  const [t] = summarize(input(none));
  assert.equal(t!.sluiceVsFastifyCpu, undefined);
  assert.equal(t!.sluiceVsFastify, 1.3);
});

test('a cost budget pairs the row with its base round by round and reports the medians of the pairs', () => {
  const wasm = (round: number, rps: number, p99: number, cpu: number): Measurement => ({
    ...run('wasm', round, rps, cpu),
    report: { ...report(rps), latencyUs: { p50: 500, p75: 600, p90: 700, p99 } },
  });
  const base = (round: number, rps: number, p99: number, cpu: number): Measurement => ({
    ...run('sluice1', round, rps, cpu),
    report: { ...report(rps), latencyUs: { p50: 500, p75: 600, p90: 700, p99 } },
  });
  // Round 1 is a slow phase that hits both runs of its pair. By medians of rows, the wasm row
  // would be 9,000 / 14,000 = 0.64× and its p99 3,000 µs above; paired, each round says ~0.9×.
  const measurements = [
    base(0, 14_000, 4_000, 60),
    wasm(0, 12_600, 4_300, 66),
    base(1, 6_000, 12_000, 140),
    wasm(1, 5_500, 12_600, 150),
    base(2, 15_000, 3_800, 58),
    wasm(2, 9_000, 7_000, 64),
    wasm(3, 9_000, 4_000, 60), // its base run failed: no pair
  ];
  const [s] = summarizeWasm(measurements);
  const b = s!.budgets[0]!;
  assert.equal(b.pairs, 3);
  assert.equal(b.ratio, 0.9); // 0.9, 0.9167, 0.6
  assert.equal(b.ratioMin, 0.6);
  assert.equal(b.ratioMax, 5_500 / 6_000);
  assert.equal(b.addedP99SaturatedUs, 600); // 300, 600, 3,200
  assert.equal(b.cpuRatio, 60 / 66); // 60/66, 140/150, 58/64
  assert.equal(b.label, 'Sluice 1w + wasm');
  assert.equal(b.baseLabel, 'Sluice, 1 worker');
  // No paced runs: the latency budget has no number, whatever saturation said.
  assert.equal(b.pacedPairs, 0);
  assert.equal(b.addedP99Us, undefined);
});

test('the latency budget pairs paced runs with paced runs, and they stay out of the row table', () => {
  const at = (target: string, round: number, rps: number, p99: number, pacedDelayMs?: number, cpu?: number): Measurement => ({
    ...run(target, round, rps, cpu),
    report: { ...report(rps), latencyUs: { p50: 500, p75: 600, p90: 700, p99 } },
    ...(pacedDelayMs !== undefined ? { pacedDelayMs } : {}),
  });
  const measurements = [
    at('sluice1', 0, 14_000, 9_000),
    at('wasm', 0, 13_000, 10_000),
    at('sluice1', 0, 7_000, 1_000, 7, 60),
    at('wasm', 0, 6_900, 1_100, 7, 66),
    at('sluice1', 1, 12_000, 8_000),
    at('wasm', 1, 11_000, 9_500),
    at('sluice1', 1, 6_000, 2_000, 8, 80),
    at('wasm', 1, 5_900, 2_300, 8, 84),
    at('sluice1', 2, 13_000, 8_500),
    at('wasm', 2, 12_000, 9_000),
    at('sluice1', 2, 6_500, 1_500, 8, 50),
    at('wasm', 2, 6_400, 1_550, 8, 56),
    at('wasm', 3, 6_400, 9_999, 8, 500), // no paced base run in round 3
  ];
  const [s] = summarizeWasm(measurements);
  const b = s!.budgets[0]!;
  assert.equal(b.pairs, 3);
  assert.equal(b.pacedPairs, 3);
  assert.equal(b.addedP99Us, 100); // 100, 300, 50
  assert.equal(b.addedP99IntervalUs, undefined); // three pairs are too few for a 95 % interval
  assert.equal(b.pacedRequestsPerSec, 6_500);
  assert.equal(b.pacedCpuCost, 1.1); // 66/60, 84/80, 56/50: the paced runs' own CPU, paired by round
  assert.equal(b.cpuRatio, undefined); // the saturated runs reported no CPU
  assert.equal(b.addedP99SaturatedUs, 1_000); // 1,000, 1,500, 500
  assert.equal(b.ratio, 12_000 / 13_000); // 0.929, 0.917, 0.923
  const row = s!.rows.find((r) => r.target === 'sluice1')!;
  assert.equal(row.runs, 3);
  assert.equal(row.requestsPerSec, 13_000);
  assert.equal(row.p99Us, 8_500);
});

test('a cost budget whose rows never ran in the same round has no numbers', () => {
  const [s] = summarizeWasm([run('sluice1', 0, 10_000), run('wasm', 1, 9_000)]);
  const b = s!.budgets[0]!;
  assert.equal(b.pairs, 0);
  assert.equal(b.ratio, undefined);
  assert.equal(b.addedP99Us, undefined);
  assert.equal(b.cpuRatio, undefined);
});

test('a budget whose base row was not selected gets no line', () => {
  const [s] = summarizeWasm(
    [run('sluice1', 0, 10_000), run('wasm', 0, 9_000)],
    [
      { target: 'wasm', base: 'sluice1', minRatio: 0.9, maxAddedP99Us: 500 },
      { target: 'wasm', base: 'wasm-unmetered', minRatio: 0.9, maxAddedP99Us: 500 },
    ],
  );
  assert.deepEqual(s!.budgets.map((b) => b.base), ['sluice1']);
});

test('medianInterval is the sign test\'s interval: order statistics chosen from the binomial tail', () => {
  // n = 16: P(X <= 3) = 697/65536 = 0.0106 <= 0.025 < P(X <= 4) = 0.0384, so the 4th smallest and 4th largest.
  const sixteen = [16, 3, 9, 1, 14, 7, 12, 5, 10, 2, 15, 8, 4, 13, 6, 11].map((x) => x * 100);
  assert.deepEqual(medianInterval(sixteen), [400, 1300]);
  // n = 6: P(X = 0) = 1/64 <= 0.025 < 7/64, so the extremes; n = 5: 1/32 > 0.025, no interval.
  assert.deepEqual(medianInterval([5, -1, 3, 9, 2, 0]), [-1, 9]);
  assert.equal(medianInterval([1, 2, 3, 4, 5]), undefined);
  assert.equal(medianInterval([]), undefined);
  // A lower confidence narrows it: n = 16 at 80 %, P(X <= 5) = 0.105 <= 0.1 is false, P(X <= 4) = 0.038, so the 5th.
  assert.deepEqual(medianInterval(sixteen, 0.8), [500, 1200]);
  // The input is not reordered.
  assert.equal(sixteen[0], 1600);
});

test('a budget with enough paced pairs carries the interval of its paced p99 difference', () => {
  const at = (target: string, round: number, p99: number): Measurement => ({
    ...run(target, round, 5_000),
    report: { ...report(5_000), latencyUs: { p50: 500, p75: 600, p90: 700, p99 } },
    pacedDelayMs: 8,
  });
  // Differences over 8 rounds: −400, −200, 0, 100, 300, 500, 700, 900 (in shuffled rounds).
  const diffs = [300, -400, 900, 0, 700, -200, 500, 100];
  const measurements = diffs.flatMap((d, round) => [at('sluice1', round, 5_000), at('wasm', round, 5_000 + d)]);
  const b = summarizeWasm(measurements)[0]!.budgets[0]!;
  assert.equal(b.pacedPairs, 8);
  assert.equal(b.addedP99Us, 200);
  // n = 8: P(X = 0) = 1/256, P(X <= 1) = 9/256 = 0.035 > 0.025, so the extremes.
  assert.deepEqual(b.addedP99IntervalUs, [-400, 900]);
});
