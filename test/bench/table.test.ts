import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headlineLines, renderMarkdown, renderText, type ReportHeader } from '../../bench/lib/table.ts';
import type { BudgetCheck, RowSummary, WorkloadSummary } from '../../bench/lib/summary.ts';
import { WORKLOADS } from '../../bench/lib/workloads.ts';

const HEADER: ReportHeader = { title: 'bench', setup: [['cpus', '2']], targets: [['Sluice, 1 worker', 'sluice run']] };

function row(target: string, label: string, fields: Partial<RowSummary>): RowSummary {
  return { target, label, runs: 3, plannedRuns: 3, errors: 0, busyRuns: 0, ...fields };
}

const SUMMARY: WorkloadSummary = {
  workload: WORKLOADS.find((w) => w.name === 'get-100b')!,
  rows: [
    row('direct', 'direct (no proxy)', { requestsPerSec: 30_000, p50Us: 800, p99Us: 2000 }),
    row('sluice1', 'Sluice, 1 worker', { requestsPerSec: 13_000, p50Us: 3700, p99Us: 6000, cpuUsPerRequest: 70.04 }),
    row('fastify', '@fastify/http-proxy', { requestsPerSec: 10_000, p50Us: 4900, p99Us: 9000, cpuUsPerRequest: 101.96 }),
    row('nginx', 'nginx', { failure: 'failed to start: nginx not found' }),
  ],
  sluiceVsFastify: 1.3,
  sluiceVsFastifyCpu: 101.96 / 70.04,
  budgets: [],
};

test('the text table has a CPU µs/req column: one decimal per proxy row, — for direct', () => {
  const lines = renderText(HEADER, [SUMMARY]).split('\n');
  const header = lines.find((l) => l.startsWith('target  '))!;
  assert.match(header, /p99 +CPU µs\/req +vs direct/);
  const cells = (label: string): string[] => lines.find((l) => l.startsWith(label))!.slice(label.length).trim().split(/ {2,}/);
  assert.equal(cells('Sluice, 1 worker')[3], '70.0');
  assert.equal(cells('@fastify/http-proxy')[3], '102.0');
  assert.equal(cells('direct (no proxy)')[3], '—');
});

test('the line under each table gives Sluice vs fastify by req/s and by CPU per request', () => {
  assert.equal(headlineLines(SUMMARY)[0], 'Sluice 1 worker / @fastify/http-proxy = 1.30× (req/s), 1.46× (CPU per request)');
  const { sluiceVsFastifyCpu: _, ...withoutCpu } = SUMMARY;
  assert.equal(headlineLines(withoutCpu)[0], 'Sluice 1 worker / @fastify/http-proxy = 1.30× (req/s), — (CPU per request)');
});

test('the Markdown table has the CPU µs/req column and every row as many cells as the header', () => {
  const md = renderMarkdown(HEADER, [SUMMARY]);
  const tableLines = md.split('\n').filter((l) => l.startsWith('|'));
  const width = (l: string): number => l.split(' | ').length;
  assert.match(tableLines[0]!, /\| p99 \| CPU µs\/req \| vs direct \|/);
  for (const l of tableLines.slice(2)) assert.equal(width(l), width(tableLines[0]!), l);
  assert.ok(tableLines.some((l) => l.startsWith('| Sluice, 1 worker |') && l.includes('| 70.0 |')));
  assert.match(md, /- Sluice 1 worker \/ @fastify\/http-proxy = 1\.30× \(req\/s\), 1\.46× \(CPU per request\)/);
});

test('a budget line gives the ratio, the p99 added at the paced load with its verdict, and the p99 added at saturation', () => {
  const budget: BudgetCheck = {
    target: 'wasm',
    base: 'sluice1',
    minRatio: 0.9,
    maxAddedP99Us: 500,
    label: 'Sluice 1w + no-op wasm',
    baseLabel: 'Sluice, 1 worker',
    pairs: 8,
    ratio: 0.934,
    ratioMin: 0.881,
    ratioMax: 1.02,
    cpuRatio: 0.95,
    pacedPairs: 8,
    addedP99Us: 120,
    pacedRequestsPerSec: 5012.4,
    addedP99SaturatedUs: -400,
  };
  const [line] = headlineLines({ ...SUMMARY, budgets: [budget] }).slice(2);
  assert.equal(
    line,
    'Sluice 1w + no-op wasm / Sluice, 1 worker = 0.93× (8 paired rounds 0.88–1.02×; by CPU 0.95×) (target ≥ 0.90×, met); ' +
      'p99 at 5,012 req/s +0.12 ms (target < 0.50 ms, met); p99 at saturation −0.40 ms',
  );
  const missed = headlineLines({ ...SUMMARY, budgets: [{ ...budget, ratio: 0.85, addedP99Us: 700 }] })[2]!;
  assert.match(missed, /0\.85× .*\(target ≥ 0\.90×, MISSED\); p99 at 5,012 req\/s \+0\.70 ms \(target < 0\.50 ms, MISSED\)/);
  const withInterval = headlineLines({ ...SUMMARY, budgets: [{ ...budget, addedP99IntervalUs: [-310, 440] }] })[2]!;
  assert.match(withInterval, /p99 at 5,012 req\/s \+0\.12 ms \(95 % CI −0\.31 ms to \+0\.44 ms; target < 0\.50 ms, met\)/);
  const withCost = headlineLines({ ...SUMMARY, budgets: [{ ...budget, pacedCpuCost: 1.0623 }] })[2]!;
  assert.match(withCost, /\(target < 0\.50 ms, met\); CPU per request there \+6\.2 %; p99 at saturation −0\.40 ms$/);
  const cheaper = headlineLines({ ...SUMMARY, budgets: [{ ...budget, pacedCpuCost: 0.98 }] })[2]!;
  assert.match(cheaper, /CPU per request there −2\.0 %;/);
  const { addedP99Us: _a, pacedRequestsPerSec: _b, ...unpaced } = budget;
  assert.match(headlineLines({ ...SUMMARY, budgets: [{ ...unpaced, pacedPairs: 0 }] })[2]!, /p99 at paced — \(target < 0\.50 ms, no number\)/);
});

test('a control budget (no targets) prints its numbers with no verdict', () => {
  const control: BudgetCheck = {
    target: 'sluice1-control',
    base: 'sluice1',
    label: 'Sluice, 1 worker (A/A control)',
    baseLabel: 'Sluice, 1 worker',
    pairs: 16,
    ratio: 1.012,
    ratioMin: 0.9,
    ratioMax: 1.11,
    cpuRatio: 1.004,
    pacedPairs: 16,
    addedP99Us: -730,
    pacedRequestsPerSec: 8_700,
    addedP99SaturatedUs: 250,
  };
  const line = headlineLines({ ...SUMMARY, budgets: [control] })[2]!;
  assert.equal(
    line,
    'Sluice, 1 worker (A/A control) / Sluice, 1 worker = 1.01× (16 paired rounds 0.90–1.11×; by CPU 1.00×) ' +
      '(A/A control: the same program on both sides, so any distance from 1× and 0 ms is the run\'s noise); ' +
      'p99 at 8,700 req/s −0.73 ms; p99 at saturation +0.25 ms',
  );
  assert.doesNotMatch(line, /met|MISSED|target/);
  const withInterval = headlineLines({ ...SUMMARY, budgets: [{ ...control, addedP99IntervalUs: [-2_100, 1_900] }] })[2]!;
  assert.match(withInterval, /p99 at 8,700 req\/s −0\.73 ms \(95 % CI −2\.10 ms to \+1\.90 ms\); p99 at saturation/);
  const withCost = headlineLines({ ...SUMMARY, budgets: [{ ...control, pacedCpuCost: 1.004 }] })[2]!;
  assert.match(withCost, /p99 at 8,700 req\/s −0\.73 ms; CPU per request there \+0\.4 %; p99 at saturation/);
});
