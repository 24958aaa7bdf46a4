import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcesses } from '../../bench/lib/child-processes.ts';
import { formatSteadiness, measureCpuSteadiness, summarizeChunks } from '../../bench/lib/cpu-steadiness.ts';

test('summarizeChunks gives each percentile as a multiple of the fastest repetition', () => {
  // 100 repetitions: 97 at 1.0 ms, then 2.0, 3.0 and 12.0 ms; unsorted on purpose.
  const d = [12, ...Array.from({ length: 97 }, () => 1), 3, 2];
  // 12 and 3 are slow (≥ 3× the fastest): 15 of the 114 ms; the phases (12) and (3) are apart.
  assert.deepEqual(summarizeChunks(d), { chunks: 100, fastestMs: 1, p50: 1, p99: 12, max: 12, slowShare: 15 / 114, longestSlowMs: 12 });
  const e = [2, 4, ...Array.from({ length: 198 }, () => 2)]; // 200: p99 is the 198th (0-based) sorted value
  assert.deepEqual(summarizeChunks(e), { chunks: 200, fastestMs: 2, p50: 1, p99: 1, max: 2, slowShare: 0, longestSlowMs: 0 });
});

test('summarizeChunks measures a slow phase as consecutive slow repetitions, in the order they ran', () => {
  // Fastest 1 ms; two phases: 3+4 (7 ms) and 5+6+8 (19 ms); 2.9 is under 3× and ends nothing slow.
  const d = [1, 3, 4, 1, 2.9, 5, 6, 8, 1, 1];
  const s = summarizeChunks(d)!;
  assert.equal(s.longestSlowMs, 19);
  assert.equal(s.slowShare, 26 / 32.9);
  // The same times sorted would merge the phases: order matters.
  assert.equal(summarizeChunks([...d].sort((a, b) => a - b))!.longestSlowMs, 26);
});

test('summarizeChunks refuses too few repetitions or a zero fastest time', () => {
  assert.equal(summarizeChunks([]), undefined);
  assert.equal(summarizeChunks([1]), undefined);
  assert.equal(summarizeChunks([0, 1, 2]), undefined);
});

test('formatSteadiness prints the fastest time and the ratios, or says it was not measured', () => {
  assert.equal(
    formatSteadiness({ chunks: 2950, fastestMs: 0.934, p50: 1.0912, p99: 3.404, max: 12.96, slowShare: 0.0412, longestSlowMs: 62.7 }),
    '2950 repetitions of 0.93 ms of work: p50 1.09×, p99 3.40×, max 13× the fastest; 4.1 % of the time ≥ 3× slower, in phases of up to 63 ms',
  );
  assert.equal(
    formatSteadiness({ chunks: 3000, fastestMs: 1, p50: 1, p99: 1.2, max: 2, slowShare: 0, longestSlowMs: 0 }),
    '3000 repetitions of 1.00 ms of work: p50 1.00×, p99 1.20×, max 2.00× the fastest; never 3× slower',
  );
  assert.equal(formatSteadiness(undefined), 'not measured');
});

test('measureCpuSteadiness runs the probe in a child and summarizes what it timed', async (t) => {
  const children = new ChildProcesses();
  t.after(() => children.close());
  const s = await measureCpuSteadiness(children, process.execPath, undefined, 0.3);
  assert.ok(s !== undefined, 'the probe reported its repetitions');
  assert.ok(s.chunks >= 2);
  assert.ok(s.fastestMs > 0);
  assert.ok(s.p50 >= 1 && s.p99 >= s.p50 && s.max >= s.p99);
  assert.ok(s.slowShare >= 0 && s.slowShare <= 1);
  assert.ok(s.longestSlowMs >= 0);
});
