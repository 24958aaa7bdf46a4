import { ErrorCode, SluiceError } from '../errors.ts';
import {
  ENTRY_INTS,
  H_COUNT,
  H_ENTRIES,
  H_MAGIC,
  H_NAME_BYTES,
  H_SLOTS,
  H_VERSION,
  HEADER_BYTES,
  HIST_COUNT,
  HIST_MAX,
  HIST_MIN,
  HIST_SUM,
  HISTOGRAM_BOUNDS,
  MAGIC,
  StatKind,
  VERSION,
  geometry,
} from './layout.ts';
import {
  addHistogramData,
  emptyHistogramData,
  type HistogramData,
  type HistogramSnapshot,
  type StatsSnapshot,
} from './snapshot.ts';

interface Entry {
  kind: StatKind;
  slot: number;
  name: string;
  /** A gauge matching REPLICATED_GAUGE (decided once, when the entry is read). */
  replicated: boolean;
}

const NBUCKETS = HISTOGRAM_BOUNDS.length + 1;

/** Read-only view of one thread's segment; decodes names once, as they are published. */
class Segment {
  readonly header: Int32Array;
  readonly values: Float64Array;
  readonly entryTable: Int32Array;
  readonly names: Uint8Array;
  readonly entries: Entry[] = [];
  readonly #decoder = new TextDecoder();

  constructor(id: string, sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < HEADER_BYTES) {
      throw new SluiceError(ErrorCode.INTERNAL, `stats segment "${id}": expected a SharedArrayBuffer from StatsStore`);
    }
    this.header = new Int32Array(sab, 0, 16);
    const h = this.header;
    if (h[H_MAGIC] !== MAGIC || h[H_VERSION] !== VERSION) {
      throw new SluiceError(
        ErrorCode.INTERNAL,
        `stats segment "${id}": bad header (magic ${h[H_MAGIC]}, version ${h[H_VERSION]}); expected a StatsStore v${VERSION} segment`,
      );
    }
    const g = geometry(h[H_SLOTS], h[H_ENTRIES], h[H_NAME_BYTES]);
    if (g.totalBytes !== sab.byteLength) {
      throw new SluiceError(
        ErrorCode.INTERNAL,
        `stats segment "${id}": header describes ${g.totalBytes} bytes, buffer has ${sab.byteLength}`,
      );
    }
    this.values = new Float64Array(sab, g.valuesOffset, g.slots);
    this.entryTable = new Int32Array(sab, g.entriesOffset, g.entries * ENTRY_INTS);
    this.names = new Uint8Array(sab, g.namesOffset, g.nameBytes);
  }

  /** Picks up entries published since the last call. */
  refresh(): void {
    const n = Atomics.load(this.header, H_COUNT);
    const t = this.entryTable;
    for (let i = this.entries.length; i < n; i++) {
      const e = i * ENTRY_INTS;
      const off = t[e + 2];
      // slice() copies out of shared memory; TextDecoder is not required to accept shared views.
      const name = this.#decoder.decode(this.names.slice(off, off + t[e + 3]));
      const kind = t[e] as StatKind;
      this.entries.push({ kind, slot: t[e + 1], name, replicated: kind === StatKind.Gauge && REPLICATED_GAUGE.test(name) });
    }
  }

  histogram(slot: number): HistogramData {
    const v = this.values;
    const buckets = new Array<number>(NBUCKETS);
    for (let i = 0; i < NBUCKETS; i++) buckets[i] = v[slot + i];
    return { buckets, count: v[slot + HIST_COUNT], sum: v[slot + HIST_SUM], min: v[slot + HIST_MIN], max: v[slot + HIST_MAX] };
  }
}

function addTo(map: Map<string, number>, name: string, n: number): void {
  map.set(name, (map.get(name) ?? 0) + n);
}

/**
 * Gauges that describe shared state rather than per-thread activity: every worker computes the
 * same cluster membership, so summing their copies would multiply it by the concurrency. Envoy
 * keeps one copy per cluster; the reader reports one (the largest, should workers briefly differ
 * during an update).
 */
export const REPLICATED_GAUGE =
  /^cluster\..+\.(?:membership_(?:total|healthy|degraded|excluded)|max_host_weight|version|warming_state)$/;

function maxTo(map: Map<string, number>, name: string, n: number): void {
  const v = map.get(name);
  map.set(name, v === undefined || n > v ? n : v);
}

function addHistTo(map: Map<string, HistogramData>, name: string, data: HistogramData): void {
  let h = map.get(name);
  if (h === undefined) {
    h = emptyHistogramData();
    map.set(name, h);
  }
  addHistogramData(h, data);
}

/** `now - then`, bucket by bucket; min/max become the bounds of the outermost non-empty buckets. */
function subtractHistogram(now: HistogramData, then: HistogramData | undefined): HistogramData {
  if (then === undefined) return { ...now, buckets: [...now.buckets] };
  const out = emptyHistogramData();
  let first = -1;
  let last = -1;
  for (let i = 0; i < NBUCKETS; i++) {
    const n = now.buckets[i] - then.buckets[i];
    out.buckets[i] = n;
    if (n > 0) {
      if (first < 0) first = i;
      last = i;
    }
  }
  out.count = now.count - then.count;
  out.sum = now.sum - then.sum;
  if (out.count > 0 && first >= 0) {
    out.min = Math.max(first === 0 ? now.min : HISTOGRAM_BOUNDS[first - 1], now.min);
    out.max = last < HISTOGRAM_BOUNDS.length ? Math.min(HISTOGRAM_BOUNDS[last], now.max) : now.max;
  }
  return out;
}

/**
 * The main thread's view of every thread's stats segment. Attach each worker's
 * `StatsStore.buffer` (and the main thread's own store) under an id; `snapshot()` sums by name,
 * except the replicated gauges (`REPLICATED_GAUGE`), of which it reports one copy.
 *
 * Lifecycle contract:
 * - `attach(id, buffer)` when a worker reports its segment; attaching an id again replaces it
 *   (the old segment is detached first, so nothing it counted is lost).
 * - `detach(id)` when a worker exits or is replaced: its final counter and histogram values are
 *   folded into a retained base so totals never go backwards; its gauges drop out.
 * - `resetCounters()` (admin `/reset_counters`) only moves a baseline; segments are never written.
 * - `latchIntervals()` should be called every `stats_flush_interval` (Envoy default 5 s); it
 *   defines the histogram "interval" values Envoy prints next to the cumulative ones.
 */
export class StatsReader {
  readonly #segments = new Map<string, Segment>();
  readonly #baseCounters = new Map<string, number>();
  readonly #baseHistograms = new Map<string, HistogramData>();
  #counterBaseline = new Map<string, number>();
  #latched: Map<string, HistogramData> | undefined;
  #intervals = new Map<string, HistogramData>();

  attach(id: string, buffer: SharedArrayBuffer): void {
    const seg = new Segment(id, buffer);
    if (this.#segments.has(id)) this.detach(id);
    this.#segments.set(id, seg);
  }

  detach(id: string): void {
    const seg = this.#segments.get(id);
    if (seg === undefined) return;
    seg.refresh();
    for (const e of seg.entries) {
      if (e.kind === StatKind.Counter) addTo(this.#baseCounters, e.name, seg.values[e.slot]);
      else if (e.kind === StatKind.Histogram) addHistTo(this.#baseHistograms, e.name, seg.histogram(e.slot));
    }
    this.#segments.delete(id);
  }

  /** Ids currently attached. */
  get ids(): string[] {
    return [...this.#segments.keys()];
  }

  snapshot(): StatsSnapshot {
    const counters = new Map(this.#baseCounters);
    const gauges = new Map<string, number>();
    const hist = this.#rawHistograms(counters, gauges);
    for (const [name, base] of this.#counterBaseline) {
      const v = counters.get(name);
      if (v !== undefined) counters.set(name, Math.max(0, v - base));
    }
    const histograms = new Map<string, HistogramSnapshot>();
    for (const [name, cumulative] of hist) {
      const interval = this.#latched === undefined ? undefined : (this.#intervals.get(name) ?? emptyHistogramData());
      histograms.set(name, { cumulative, interval });
    }
    return { counters, gauges, histograms };
  }

  /** Admin `/reset_counters`: counters read as 0 from now on, without touching any segment. */
  resetCounters(): void {
    const counters = new Map(this.#baseCounters);
    this.#rawHistograms(counters, new Map());
    this.#counterBaseline = counters;
  }

  /** Closes a histogram flush interval: the next snapshots report what was recorded in it. */
  latchIntervals(): void {
    const now = this.#rawHistograms(new Map(), new Map());
    const intervals = new Map<string, HistogramData>();
    for (const [name, data] of now) intervals.set(name, subtractHistogram(data, this.#latched?.get(name)));
    this.#intervals = intervals;
    this.#latched = now;
  }

  /** Sums every attached segment (plus the retained histogram base); fills counters and gauges. */
  #rawHistograms(counters: Map<string, number>, gauges: Map<string, number>): Map<string, HistogramData> {
    const hist = new Map<string, HistogramData>();
    for (const [name, data] of this.#baseHistograms) addHistTo(hist, name, data);
    for (const seg of this.#segments.values()) {
      seg.refresh();
      const v = seg.values;
      for (const e of seg.entries) {
        switch (e.kind) {
          case StatKind.Counter:
            addTo(counters, e.name, v[e.slot]);
            break;
          case StatKind.Gauge:
            if (e.replicated) maxTo(gauges, e.name, v[e.slot]);
            else addTo(gauges, e.name, v[e.slot]);
            break;
          case StatKind.Histogram:
            addHistTo(hist, e.name, seg.histogram(e.slot));
            break;
        }
      }
    }
    return hist;
  }
}
