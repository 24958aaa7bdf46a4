import type { ChildProcesses } from './child-processes.ts';

/**
 * How steady the proxy's CPU is: a child pinned where the single-worker proxies run repeats one
 * fixed piece of arithmetic (calibrated to about 1 ms) for a few seconds and reports how long
 * each repetition took. On a steady CPU they all take about as long as the fastest. On a shared
 * VM they do not (seen with the same kind of loop in C on this project's idle machine: p99 3.4×
 * and max 13× the fastest over 10 s, while a loop reading the clock saw no gap over 1.5 ms, so
 * the vCPU was running slower, not descheduled). A proxy's paced-load p99 is set by such slow
 * phases, so the report prints this probe before and after the timed runs.
 */

export interface CpuSteadiness {
  chunks: number;
  /** The fastest repetition, ms: the work's cost on this CPU at its best. */
  fastestMs: number;
  /** Percentiles of every repetition's time divided by the fastest. */
  p50: number;
  p99: number;
  max: number;
}

/** Summarizes repetition times (ms); undefined for fewer than 2 or a non-positive fastest time. */
export function summarizeChunks(durationsMs: readonly number[]): CpuSteadiness | undefined {
  if (durationsMs.length < 2) return undefined;
  const sorted = [...durationsMs].sort((a, b) => a - b);
  const fastest = sorted[0]!;
  if (!(fastest > 0)) return undefined;
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / fastest;
  return { chunks: sorted.length, fastestMs: fastest, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]! / fastest };
}

export function formatSteadiness(s: CpuSteadiness | undefined): string {
  if (s === undefined) return 'not measured';
  const x = (v: number): string => `${v.toFixed(v >= 10 ? 0 : 2)}×`;
  return `${s.chunks} repetitions of ${s.fastestMs.toFixed(2)} ms of work: p50 ${x(s.p50)}, p99 ${x(s.p99)}, max ${x(s.max)} the fastest`;
}

/**
 * The child's program. It calibrates the repetition count to about 1 ms after a warm-up (so the
 * loop runs optimized), then times repetitions until `seconds` have passed and prints their
 * durations as JSON. An integer hash keeps the work in registers: no allocation, no GC.
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
for (const end = now() + ${seconds * 1000}; now() < end; ) { const t = now(); work(n); out.push(now() - t); }
process.stdout.write(JSON.stringify({ durationsMs: out, sink }));
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
    const parsed = JSON.parse(r.stdout) as { durationsMs?: unknown };
    if (!Array.isArray(parsed.durationsMs) || !parsed.durationsMs.every((d) => typeof d === 'number')) return undefined;
    return summarizeChunks(parsed.durationsMs as number[]);
  } catch {
    return undefined;
  }
}
