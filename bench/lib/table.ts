import type { BudgetCheck, RowSummary, WorkloadSummary } from './summary.ts';

/** Renders the summaries as a plain-text table (terminal) and as Markdown (.bench/latest.md). */

export interface ReportHeader {
  title: string;
  /** `key: value` lines describing the setup. */
  setup: readonly [string, string][];
  /** Row label and how that target was configured. */
  targets: readonly [string, string][];
}

interface Grid {
  header: string[];
  /** Right-aligned columns (numbers). */
  numeric: boolean[];
  rows: string[][];
  notes: string[];
}

const HEADER = ['target', 'req/s', 'p50', 'p99', 'CPU µs/req', 'vs direct', 'vs fastify', 'vs sluice1', 'req/s range', 'errors'];
const NUMERIC = [false, true, true, true, true, true, true, true, true, true];

function grid(s: WorkloadSummary): Grid {
  const notes: string[] = [];
  const rows = s.rows.map((r) => {
    if (r.failure !== undefined) {
      const first = r.failure.split('\n')[0] ?? '';
      const startFailure = first.startsWith(START_FAILURE);
      // A start failure is the same for every workload: noted once, without the workload.
      notes.push(startFailure ? `${r.label}: ${first}` : `${s.workload.name}, ${r.label}: ${first}`);
      return [r.label, startFailure ? 'FAILED to start (see notes)' : 'FAILED (see notes)', ...HEADER.slice(2).map(() => '')];
    }
    if (r.runs < r.plannedRuns) notes.push(`${s.workload.name}, ${r.label}: ${r.plannedRuns - r.runs} of ${r.plannedRuns} runs failed`);
    if (r.errors > 0) notes.push(`${s.workload.name}, ${r.label}: ${r.errors} socket errors or non-2xx responses`);
    if (r.busyRuns > 0) {
      notes.push(
        `${s.workload.name}, ${r.label}: other processes used up to ${r.foreignCpuMaxCores?.toFixed(2)} cores ` +
          `during ${r.busyRuns} of its ${r.runs} runs; its numbers are low by an unknown amount`,
      );
    }
    return [
      r.label,
      formatCount(r.requestsPerSec),
      formatLatency(r.p50Us),
      formatLatency(r.p99Us),
      formatCpu(r.cpuUsPerRequest),
      formatRatio(r.vsDirect),
      formatRatio(r.vsFastify),
      formatRatio(r.vsSluice1),
      formatRange(r),
      String(r.errors),
    ];
  });
  return { header: HEADER, numeric: NUMERIC, rows, notes };
}

/** The prefix main gives to the failure of a target that did not start. */
export const START_FAILURE = 'failed to start';

function allNotes(summaries: readonly WorkloadSummary[]): string[] {
  return [...new Set(summaries.flatMap((s) => grid(s).notes))];
}

export function headlineLines(s: WorkloadSummary): string[] {
  return [
    `Sluice 1 worker / @fastify/http-proxy = ${formatRatio(s.sluiceVsFastify)} (req/s), ${formatRatio(s.sluiceVsFastifyCpu)} (CPU per request)`,
    `Sluice 2 workers / 1 worker = ${formatRatio(s.sluice2VsSluice1)}`,
    ...s.budgets.map(budgetLine),
  ];
}

/**
 * `Sluice 1w + no-op wasm / Sluice, 1 worker = 0.93× (5 paired rounds 0.88–0.97×; by CPU 0.94×)
 * (target ≥ 0.90×, met); p99 at 5,012 req/s +0.12 ms (95 % CI −0.31 ms to +0.44 ms; target < 0.50 ms, met);
 * CPU per request there +6.2 %; p99 at saturation +0.40 ms`;
 * a control (no targets) says so in place of the verdicts.
 */
function budgetLine(b: BudgetCheck): string {
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'no number' : ok ? 'met' : 'MISSED');
  const signedMs = (us: number | undefined): string => (us === undefined ? '—' : `${us >= 0 ? '+' : '−'}${(Math.abs(us) / 1e3).toFixed(2)} ms`);
  const load = b.pacedRequestsPerSec === undefined ? 'paced' : `${formatCount(b.pacedRequestsPerSec)} req/s`;
  const interval = b.addedP99IntervalUs === undefined ? '' : `95 % CI ${signedMs(b.addedP99IntervalUs[0])} to ${signedMs(b.addedP99IntervalUs[1])}`;
  const cost =
    b.pacedCpuCost === undefined ? '' : `; CPU per request there ${b.pacedCpuCost >= 1 ? '+' : '−'}${(Math.abs(b.pacedCpuCost - 1) * 100).toFixed(1)} %`;
  const spread =
    b.ratioMin === undefined || b.ratioMax === undefined
      ? ''
      : ` (${b.pairs} paired ${b.pairs === 1 ? 'round' : 'rounds'} ${b.ratioMin.toFixed(2)}–${formatRatio(b.ratioMax)}` +
        `${b.cpuRatio === undefined ? '' : `; by CPU ${formatRatio(b.cpuRatio)}`})`;
  const ratioPart = `${b.label} / ${b.baseLabel} = ${formatRatio(b.ratio)}${spread}`;
  const saturated = `p99 at saturation ${signedMs(b.addedP99SaturatedUs)}`;
  if (b.minRatio === undefined || b.maxAddedP99Us === undefined) {
    return (
      `${ratioPart} (A/A control: the same program on both sides, so any distance from 1× and 0 ms is the run's noise); ` +
      `p99 at ${load} ${signedMs(b.addedP99Us)}${interval === '' ? '' : ` (${interval})`}${cost}; ${saturated}`
    );
  }
  const ratioOk = b.ratio === undefined ? undefined : b.ratio >= b.minRatio;
  const p99Ok = b.addedP99Us === undefined ? undefined : b.addedP99Us < b.maxAddedP99Us;
  return (
    `${ratioPart} (target ≥ ${formatRatio(b.minRatio)}, ${verdict(ratioOk)}); ` +
    `p99 at ${load} ${signedMs(b.addedP99Us)} (${interval === '' ? '' : `${interval}; `}target < ${(b.maxAddedP99Us / 1e3).toFixed(2)} ms, ${verdict(p99Ok)})${cost}; ${saturated}`
  );
}

export function renderText(header: ReportHeader, summaries: readonly WorkloadSummary[]): string {
  const out: string[] = [header.title, ''];
  const keyWidth = Math.max(...[...header.setup, ...header.targets].map(([k]) => k.length));
  for (const [k, v] of header.setup) out.push(`${k.padEnd(keyWidth)}  ${v}`);
  out.push('', 'targets:');
  for (const [k, v] of header.targets) out.push(`  ${k.padEnd(keyWidth)}  ${v}`);
  for (const s of summaries) {
    const g = grid(s);
    out.push('', `== ${s.workload.label} (${s.workload.name}) ==`);
    const widths = g.header.map((h, i) => Math.max(h.length, ...g.rows.map((r) => failureAware(r, i).length)));
    const line = (cells: string[]): string =>
      cells
        .map((c, i) => {
          if (c.startsWith('FAILED')) return c;
          return g.numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!);
        })
        .join('  ')
        .trimEnd();
    out.push(line(g.header), widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of g.rows) out.push(line(r));
    out.push('', ...headlineLines(s));
  }
  const notes = allNotes(summaries);
  if (notes.length > 0) out.push('', 'notes:', ...notes.map((n) => `  - ${n}`));
  return out.join('\n') + '\n';
}

/** A FAILED cell spills over the empty columns after it instead of widening its own. */
function failureAware(row: string[], i: number): string {
  return row[1]?.startsWith('FAILED') && i >= 1 ? '' : (row[i] ?? '');
}

export function renderMarkdown(header: ReportHeader, summaries: readonly WorkloadSummary[]): string {
  const out: string[] = [`# ${header.title}`, ''];
  for (const [k, v] of header.setup) out.push(`- **${k}**: ${v}`);
  out.push('', 'Targets:', '');
  for (const [k, v] of header.targets) out.push(`- **${k}**: ${v}`);
  for (const s of summaries) {
    const g = grid(s);
    out.push('', `## ${s.workload.label} (\`${s.workload.name}\`)`, '');
    out.push(`| ${g.header.join(' | ')} |`);
    out.push(`|${g.numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`);
    for (const r of g.rows) out.push(`| ${r.map(escapeCell).join(' | ')} |`);
    out.push('', ...headlineLines(s).map((l) => `- ${l}`));
  }
  const notes = allNotes(summaries);
  if (notes.length > 0) out.push('', '## Notes', '', ...notes.map((n) => `- ${escapeCell(n)}`));
  return out.join('\n') + '\n';
}

function escapeCell(s: string): string {
  return s.replaceAll('|', '\\|');
}

function formatCount(n: number | undefined): string {
  return n === undefined ? '—' : Math.round(n).toLocaleString('en-US');
}

function formatLatency(us: number | undefined): string {
  if (us === undefined) return '—';
  return us >= 1e6 ? `${(us / 1e6).toFixed(2)} s` : `${(us / 1e3).toFixed(2)} ms`;
}

export function formatRatio(x: number | undefined): string {
  return x === undefined ? '—' : `${x.toFixed(2)}×`;
}

/** One decimal, about what 10 ms ticks resolve: a 5 s run near one core at ~100 µs/req is 0.2 µs a tick. */
function formatCpu(us: number | undefined): string {
  return us === undefined ? '—' : us.toFixed(1);
}

function formatRange(r: RowSummary): string {
  if (r.requestsPerSecMin === undefined || r.requestsPerSecMax === undefined || r.runs < 2) return '—';
  return `${formatCount(r.requestsPerSecMin)}–${formatCount(r.requestsPerSecMax)}`;
}
