import { HISTOGRAM_BOUNDS } from './layout.ts';

/**
 * A point-in-time view of every stat, summed by name over all threads' segments. Produced by
 * `StatsReader.snapshot()`, consumed by `render.ts` and the admin server. Plain data: safe to keep,
 * never updated after it is made.
 */
export interface StatsSnapshot {
  counters: ReadonlyMap<string, number>;
  gauges: ReadonlyMap<string, number>;
  histograms: ReadonlyMap<string, HistogramSnapshot>;
}

export interface HistogramSnapshot {
  /** Everything recorded since start. */
  cumulative: HistogramData;
  /**
   * What was recorded in the last completed flush interval (`StatsReader.latchIntervals()`), or
   * undefined before the first latch. Envoy prints `nan` / `null` for an empty interval.
   */
  interval: HistogramData | undefined;
}

export interface HistogramData {
  /**
   * Disjoint counts: `buckets[i]` counts values in (HISTOGRAM_BOUNDS[i-1], HISTOGRAM_BOUNDS[i]];
   * the last element (index HISTOGRAM_BOUNDS.length) counts values above the last bound.
   */
  buckets: number[];
  count: number;
  sum: number;
  /** Smallest / largest recorded value; meaningless when count is 0. */
  min: number;
  max: number;
}

/** Envoy's `supported_quantiles`, as fractions. */
export const SUPPORTED_QUANTILES: readonly number[] = Object.freeze([
  0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1,
]);

export function emptyHistogramData(): HistogramData {
  return {
    buckets: new Array<number>(HISTOGRAM_BOUNDS.length + 1).fill(0),
    count: 0,
    sum: 0,
    min: Infinity,
    max: -Infinity,
  };
}

export function addHistogramData(into: HistogramData, from: HistogramData): void {
  for (let i = 0; i < into.buckets.length; i++) into.buckets[i] += from.buckets[i];
  into.count += from.count;
  into.sum += from.sum;
  if (from.count > 0) {
    if (from.min < into.min) into.min = from.min;
    if (from.max > into.max) into.max = from.max;
  }
}

/**
 * Quantiles estimated from the buckets: find the bucket holding rank q·count and interpolate
 * linearly inside it, with the bucket clamped to [min, max] (so P0 is the minimum and P100 the
 * maximum). Envoy uses a log-linear histogram with finer bins, so values differ from Envoy's for
 * the same samples; the shape (monotonic, bounded by min/max) is the same. NaN when empty.
 */
export function computeQuantiles(
  data: HistogramData,
  quantiles: readonly number[] = SUPPORTED_QUANTILES,
): number[] {
  const out = new Array<number>(quantiles.length);
  if (data.count <= 0) return out.fill(NaN);
  const buckets = data.buckets;
  for (let qi = 0; qi < quantiles.length; qi++) {
    const rank = quantiles[qi] * data.count;
    let before = 0;
    let value = data.max;
    for (let i = 0; i < buckets.length; i++) {
      const n = buckets[i];
      if (n <= 0) continue;
      if (before + n >= rank) {
        const lo = Math.max(i === 0 ? 0 : HISTOGRAM_BOUNDS[i - 1], data.min);
        const hi = Math.min(i < HISTOGRAM_BOUNDS.length ? HISTOGRAM_BOUNDS[i] : data.max, data.max);
        const frac = Math.min(1, Math.max(0, (rank - before) / n));
        value = hi > lo ? lo + (hi - lo) * frac : lo;
        break;
      }
      before += n;
    }
    out[qi] = value;
  }
  return out;
}

/** Cumulative bucket counts (value ≤ bound) for each HISTOGRAM_BOUNDS entry; Prometheus `le`. */
export function cumulativeBuckets(data: HistogramData): number[] {
  const out = new Array<number>(HISTOGRAM_BOUNDS.length);
  let acc = 0;
  for (let i = 0; i < HISTOGRAM_BOUNDS.length; i++) {
    acc += data.buckets[i];
    out[i] = acc;
  }
  return out;
}
