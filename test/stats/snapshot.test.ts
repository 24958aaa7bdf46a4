import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HISTOGRAM_BOUNDS } from '../../runtime/stats/layout.ts';
import { computeQuantiles, cumulativeBuckets, emptyHistogramData, SUPPORTED_QUANTILES } from '../../runtime/stats/snapshot.ts';

function data(values: number[]) {
  const d = emptyHistogramData();
  for (const v of values) {
    let i = 0;
    while (i < HISTOGRAM_BOUNDS.length && v > HISTOGRAM_BOUNDS[i]) i++;
    d.buckets[i]++;
    d.count++;
    d.sum += v;
    d.min = Math.min(d.min, v);
    d.max = Math.max(d.max, v);
  }
  return d;
}

test('quantiles of an empty histogram are NaN', () => {
  assert.ok(computeQuantiles(emptyHistogramData()).every(Number.isNaN));
});

test('P0 is the minimum and P100 the maximum', () => {
  const q = computeQuantiles(data([3, 7, 40, 900]));
  assert.equal(q[0], 3);
  assert.equal(q[SUPPORTED_QUANTILES.length - 1], 900);
});

test('a single value gives that value at every quantile', () => {
  assert.deepEqual(computeQuantiles(data([42])), new Array(SUPPORTED_QUANTILES.length).fill(42));
});

test('interpolates linearly inside the bucket that holds the rank', () => {
  // 4 values in (1, 5]: min 2, max 5 → bucket clamped to [2, 5]; P50 = 2 + 3 * (2/4).
  const [p50] = computeQuantiles(data([2, 3, 4, 5]), [0.5]);
  assert.equal(p50, 3.5);
  // 100 values ≤ 10 and 100 values in (250, 500]: P75 is halfway through the upper bucket.
  const values = [...new Array(100).fill(10), ...new Array(100).fill(400)];
  const [p75] = computeQuantiles(data(values), [0.75]);
  assert.equal(p75, 325);
});

test('quantiles never decrease', () => {
  const q = computeQuantiles(data([0.2, 1, 1, 3, 8, 20, 120, 700, 4000, 70000]));
  for (let i = 1; i < q.length; i++) assert.ok(q[i] >= q[i - 1], `P${SUPPORTED_QUANTILES[i]}`);
});

test('cumulative buckets count values at or below each bound', () => {
  const c = cumulativeBuckets(data([0.1, 1, 2, 5000]));
  assert.equal(c[0], 1);
  assert.equal(c[1], 2);
  assert.equal(c[2], 3);
  assert.equal(c[HISTOGRAM_BOUNDS.indexOf(5000)], 4);
  assert.equal(c[HISTOGRAM_BOUNDS.length - 1], 4);
});
