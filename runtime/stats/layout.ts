/**
 * The byte layout of one stats segment (a SharedArrayBuffer owned by one thread). Shared by the
 * writer (`store.ts`, any thread) and the reader (`reader.ts`, main thread); nothing else should
 * depend on it.
 *
 *   [0, 64)              header, Int32 words (see H_*)
 *   [64, +slots*8)       values, Float64Array; one slot per counter/gauge, HIST_SLOTS per histogram
 *   [.., +entries*16)    name table, Int32 quadruples (kind, first slot, name offset, name length)
 *   [.., +nameBytes)     UTF-8 names
 *
 * Publication protocol: the writer fills the values, the entry and the name bytes first, then
 * stores the new entry count with `Atomics.store(header, H_COUNT, n)`. A reader that loads the
 * count with `Atomics.load` sees every entry below it complete. Values themselves are plain
 * (non-atomic) f64 writes by the single owning thread; the reader tolerates reading a value
 * mid-update (it reads a slightly stale number, never a torn entry).
 */

export const MAGIC = 0x534c5354; // 'SLST'
export const VERSION = 1;

export const HEADER_BYTES = 64;
export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_SLOTS = 2;
export const H_ENTRIES = 3;
export const H_NAME_BYTES = 4;
/** Published entry count: written with Atomics.store, read with Atomics.load. */
export const H_COUNT = 5;

export const ENTRY_INTS = 4;

export const StatKind = {
  Counter: 1,
  Gauge: 2,
  Histogram: 3,
} as const;
export type StatKind = (typeof StatKind)[keyof typeof StatKind];

/**
 * Envoy's default histogram bucket upper bounds (ms), as in `stats_config.histogram_bucket_settings`
 * defaults and Envoy's Prometheus output.
 */
export const HISTOGRAM_BOUNDS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000,
]);

/** Histogram slot offsets from its first slot. Buckets hold disjoint counts (value ≤ bound). */
export const HIST_OVERFLOW = HISTOGRAM_BOUNDS.length; // values above the last bound
export const HIST_COUNT = HIST_OVERFLOW + 1;
export const HIST_SUM = HIST_OVERFLOW + 2;
export const HIST_MIN = HIST_OVERFLOW + 3;
export const HIST_MAX = HIST_OVERFLOW + 4;
export const HIST_SLOTS = HIST_OVERFLOW + 5;

export interface SegmentGeometry {
  slots: number;
  entries: number;
  nameBytes: number;
  valuesOffset: number;
  entriesOffset: number;
  namesOffset: number;
  totalBytes: number;
}

export function geometry(slots: number, entries: number, nameBytes: number): SegmentGeometry {
  const valuesOffset = HEADER_BYTES;
  const entriesOffset = valuesOffset + slots * 8;
  const namesOffset = entriesOffset + entries * ENTRY_INTS * 4;
  return {
    slots,
    entries,
    nameBytes,
    valuesOffset,
    entriesOffset,
    namesOffset,
    totalBytes: namesOffset + nameBytes,
  };
}
