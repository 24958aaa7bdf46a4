import type { ChildProcesses } from './child-processes.ts';

/**
 * How steady the proxy's CPU is: a child pinned where the single-worker proxies run repeats one
 * fixed piece of arithmetic (calibrated to about 1 ms) for a few seconds and reports how long
 * each repetition took. On a steady CPU they all take about as long as the fastest. On a shared
 * VM they do not (seen with the same kind of loop in C on this project's idle machine: p99 3.4×
 * and max 13× the fastest over 10 s, while a loop reading the clock saw no gap over 1.5 ms, so
 * the vCPU was running slower, not descheduled). The slowness comes in phases: a C loop counting
 * clock reads per 1 ms window on the idle proxy CPU (2026-11-29, 10,000-window tries) found
 * 2.5-5 % of the windows over 3× slower than the median one, in runs of up to 68 ms, and no gap
 * over 0.3 ms between two reads. A proxy's paced-load p99 is set by such phases, so the report
 * prints this probe before and after the timed runs, with the share of its time spent
 * ≥ SLOW_FACTOR× slower and the longest such phase.
 */

export interface CpuSteadiness {
  chunks: number;
  /** The fastest repetition, ms: the work's cost on this CPU at its best. */
  fastestMs: number;
  /** Percentiles of every repetition's time divided by the fastest. */
  p50: number;
  p99: number;
  max: number;
  /** Share of the probe's time spent in repetitions at least SLOW_FACTOR × the fastest. */
  slowShare: number;
  /** The longest run of such consecutive repetitions, ms: how long one slow phase lasted. */
  longestSlowMs: number;
}

/**
 * A repetition this many times the fastest counts as slow. Scheduling noise on a steady CPU
 * stays well under it (p50 1.1-1.2× here); a proxy whose CPU runs 3× slower for a while is
 * pushed past saturation at the paced load, and its requests queue.
 */
export const SLOW_FACTOR = 3;

/**
 * Summarizes repetition times (ms), given in the order they ran (slow phases are runs of
 * consecutive slow repetitions); undefined for fewer than 2 or a non-positive fastest time.
 */
export function summarizeChunks(durationsMs: readonly number[]): CpuSteadiness | undefined {
  if (durationsMs.length < 2) return undefined;
  const sorted = [...durationsMs].sort((a, b) => a - b);
  const fastest = sorted[0]!;
  if (!(fastest > 0)) return undefined;
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / fastest;
  let total = 0;
  let slow = 0;
  let phase = 0;
  let longest = 0;
  for (const d of durationsMs) {
    total += d;
    if (d >= SLOW_FACTOR * fastest) {
      slow += d;
      phase += d;
      if (phase > longest) longest = phase;
    } else {
      phase = 0;
    }
  }
  return {
    chunks: sorted.length,
    fastestMs: fastest,
    p50: at(0.5),
    p99: at(0.99),
    max: sorted[sorted.length - 1]! / fastest,
    slowShare: slow / total,
    longestSlowMs: longest,
  };
}

export function formatSteadiness(s: CpuSteadiness | undefined): string {
  if (s === undefined) return 'not measured';
  const x = (v: number): string => `${v.toFixed(v >= 10 ? 0 : 2)}×`;
  const slow =
    s.slowShare === 0
      ? `never ${SLOW_FACTOR}× slower`
      : `${(s.slowShare * 100).toFixed(1)} % of the time ≥ ${SLOW_FACTOR}× slower, in phases of up to ${s.longestSlowMs.toFixed(0)} ms`;
  return `${s.chunks} repetitions of ${s.fastestMs.toFixed(2)} ms of work: p50 ${x(s.p50)}, p99 ${x(s.p99)}, max ${x(s.max)} the fastest; ${slow}`;
}

/**
 * At most this many repetitions are kept, so the probe's output (whole µs, up to 6 bytes each)
 * stays under what ChildProcesses keeps of a child's stdout (256 KiB). A calibration that ran in a
 * slow phase makes every repetition shorter than 1 ms, and more of them: printed as full
 * doubles, 5 s of them could overflow that, and the report then said "not measured". The cap
 * still covers the bench's 5 s with repetitions down to 0.125 ms, an eighth of the intended 1 ms.
 */
const MAX_REPETITIONS = 40_000;

/**
 * The child's program. It calibrates the repetition count to about 1 ms after a warm-up (so the
 * loop runs optimized), then times repetitions until `seconds` have passed and prints their
 * durations as JSON, in whole µs (at most MAX_REPETITIONS of them). An integer hash keeps the
 * work in registers: no allocation, no GC.
 */
function probeProgram(seconds: number): string {
  return `
const now = () => performance.now();
let sink = 0;
const work = (n) => { let x = 1; for (let i = 0; i < n; i++) x = (Math.imul(x, 1664525) + 1013904223) | 0; sink ^= x; };
let n = 1000;
for (const end = now() + 200; now() < end; ) work(n);
for (;;) { const t = now(); work(n); const d = now() - t; if (d >= 1) break; n = Math.ceil(n * Math.min(4, 1.2 / Math.max(d, 0.01))); }
const out = [];
for (const end = now() + ${seconds * 1000}; now() < end && out.length < ${MAX_REPETITIONS}; ) { const t = now(); work(n); out.push(Math.round((now() - t) * 1000)); }
process.stdout.write(JSON.stringify({ durationsUs: out, sink }));
`;
}

/** Runs the probe on `cpus` (a `taskset` list; undefined = unpinned) for `seconds`. */
export async function measureCpuSteadiness(
  children: ChildProcesses,
  nodePath: string,
  cpus: string | undefined,
  seconds: number,
): Promise<CpuSteadiness | undefined> {
  const r = await children.run({
    name: 'cpu-steadiness',
    command: nodePath,
    args: ['-e', probeProgram(seconds)],
    cpus,
    timeoutMs: seconds * 1000 + 15_000,
  });
  if (r.timedOut || r.code !== 0) return undefined;
  try {
    const parsed = JSON.parse(r.stdout) as { durationsUs?: unknown };
    if (!Array.isArray(parsed.durationsUs) || !parsed.durationsUs.every((d) => typeof d === 'number')) return undefined;
    return summarizeChunks((parsed.durationsUs as number[]).map((us) => us / 1000));
  } catch {
    return undefined;
  }
}
