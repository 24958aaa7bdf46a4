import type { Counter, Gauge, Histogram, Stats } from './types.ts';
import {
  ENTRY_INTS,
  H_COUNT,
  H_ENTRIES,
  H_MAGIC,
  H_NAME_BYTES,
  H_SLOTS,
  H_VERSION,
  HIST_COUNT,
  HIST_MAX,
  HIST_MIN,
  HIST_SLOTS,
  HIST_SUM,
  HISTOGRAM_BOUNDS,
  MAGIC,
  StatKind,
  VERSION,
  geometry,
} from './layout.ts';

/** Counted (in this store) every time a stat cannot be allocated because the segment is full. */
export const OVERFLOW_STAT = 'stats.overflow';

const DEFAULT_SLOTS = 8192;
const DEFAULT_NAME_BYTES_PER_SLOT = 48;

class SlotCounter implements Counter {
  readonly #v: Float64Array;
  readonly #slot: number;
  constructor(values: Float64Array, slot: number) {
    this.#v = values;
    this.#slot = slot;
  }
  inc(): void {
    this.#v[this.#slot] += 1;
  }
  add(n: number): void {
    this.#v[this.#slot] += n;
  }
}

class SlotGauge implements Gauge {
  readonly #v: Float64Array;
  readonly #slot: number;
  constructor(values: Float64Array, slot: number) {
    this.#v = values;
    this.#slot = slot;
  }
  inc(): void {
    this.#v[this.#slot] += 1;
  }
  dec(): void {
    this.#v[this.#slot] -= 1;
  }
  add(n: number): void {
    this.#v[this.#slot] += n;
  }
  sub(n: number): void {
    this.#v[this.#slot] -= n;
  }
  set(n: number): void {
    this.#v[this.#slot] = n;
  }
}

const BOUNDS = HISTOGRAM_BOUNDS;
const NBOUNDS = BOUNDS.length;

class SlotHistogram implements Histogram {
  readonly #v: Float64Array;
  readonly #base: number;
  constructor(values: Float64Array, base: number) {
    this.#v = values;
    this.#base = base;
  }
  record(value: number): void {
    const v = this.#v;
    const base = this.#base;
    let i = 0;
    while (i < NBOUNDS && value > BOUNDS[i]) i++;
    v[base + i] += 1; // i === NBOUNDS is the overflow slot
    v[base + HIST_COUNT] += 1;
    v[base + HIST_SUM] += value;
    if (value < v[base + HIST_MIN]) v[base + HIST_MIN] = value;
    if (value > v[base + HIST_MAX]) v[base + HIST_MAX] = value;
  }
}

const NOOP_COUNTER: Counter = Object.freeze({ inc() {}, add() {} });
const NOOP_GAUGE: Gauge = Object.freeze({ inc() {}, dec() {}, add() {}, sub() {}, set() {} });
const NOOP_HISTOGRAM: Histogram = Object.freeze({ record() {} });

/**
 * One thread's stats, in one SharedArrayBuffer segment (layout in `layout.ts`). Only the owning
 * thread writes; the main thread's `StatsReader` reads it through `buffer`.
 *
 * Handles are cached by name, so `counter(name)` returns the same object every time; look them up
 * once (config load) and keep them. A full segment never throws: the caller gets a no-op handle
 * and `stats.overflow` counts the failed allocation.
 */
export class StatsStore implements Stats {
  readonly #sab: SharedArrayBuffer;
  readonly #header: Int32Array;
  readonly #values: Float64Array;
  readonly #entries: Int32Array;
  readonly #names: Uint8Array;
  readonly #encoder = new TextEncoder();
  #slotsUsed = 0;
  #entryCount = 0;
  #nameBytesUsed = 0;
  readonly #counters = new Map<string, Counter>();
  readonly #gauges = new Map<string, Gauge>();
  readonly #histograms = new Map<string, Histogram>();
  readonly #overflow: Counter;

  /**
   * @param slots value slots (a counter or gauge takes 1, a histogram 24).
   * @param nameBytes bytes for the UTF-8 names; defaults to 48 per slot.
   */
  constructor(slots = DEFAULT_SLOTS, nameBytes = slots * DEFAULT_NAME_BYTES_PER_SLOT) {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be a positive integer, got ${slots}`);
    if (!Number.isInteger(nameBytes) || nameBytes < 64) {
      throw new RangeError(`nameBytes must be an integer ≥ 64, got ${nameBytes}`);
    }
    // Every stat uses at least one slot, so `slots` entries always suffice.
    const g = geometry(slots, slots, nameBytes);
    this.#sab = new SharedArrayBuffer(g.totalBytes);
    this.#header = new Int32Array(this.#sab, 0, 16);
    this.#values = new Float64Array(this.#sab, g.valuesOffset, slots);
    this.#entries = new Int32Array(this.#sab, g.entriesOffset, g.entries * ENTRY_INTS);
    this.#names = new Uint8Array(this.#sab, g.namesOffset, nameBytes);
    const h = this.#header;
    h[H_MAGIC] = MAGIC;
    h[H_VERSION] = VERSION;
    h[H_SLOTS] = slots;
    h[H_ENTRIES] = g.entries;
    h[H_NAME_BYTES] = nameBytes;
    Atomics.store(h, H_COUNT, 0);
    this.#overflow = this.counter(OVERFLOW_STAT);
  }

  /** The segment, to post to the main thread (`StatsReader.attach`). */
  get buffer(): SharedArrayBuffer {
    return this.#sab;
  }

  counter(name: string): Counter {
    let c = this.#counters.get(name);
    if (c !== undefined) return c;
    const slot = this.#allocate(StatKind.Counter, name, 1);
    if (slot < 0) return NOOP_COUNTER;
    c = new SlotCounter(this.#values, slot);
    this.#counters.set(name, c);
    return c;
  }

  gauge(name: string): Gauge {
    let g = this.#gauges.get(name);
    if (g !== undefined) return g;
    const slot = this.#allocate(StatKind.Gauge, name, 1);
    if (slot < 0) return NOOP_GAUGE;
    g = new SlotGauge(this.#values, slot);
    this.#gauges.set(name, g);
    return g;
  }

  histogram(name: string): Histogram {
    let hist = this.#histograms.get(name);
    if (hist !== undefined) return hist;
    const base = this.#allocate(StatKind.Histogram, name, HIST_SLOTS);
    if (base < 0) return NOOP_HISTOGRAM;
    hist = new SlotHistogram(this.#values, base);
    this.#histograms.set(name, hist);
    return hist;
  }

  /** Writes value slots, entry and name, then publishes the entry. Returns the first slot or -1. */
  #allocate(kind: StatKind, name: string, nslots: number): number {
    const bytes = this.#encoder.encode(name);
    if (
      this.#slotsUsed + nslots > this.#values.length ||
      this.#entryCount * ENTRY_INTS >= this.#entries.length ||
      this.#nameBytesUsed + bytes.length > this.#names.length
    ) {
      // The overflow counter is allocated first, in the constructor, so it always exists here.
      this.#overflow?.inc();
      return -1;
    }
    const slot = this.#slotsUsed;
    const v = this.#values;
    for (let i = 0; i < nslots; i++) v[slot + i] = 0;
    if (kind === StatKind.Histogram) {
      v[slot + HIST_MIN] = Infinity;
      v[slot + HIST_MAX] = -Infinity;
    }
    const nameOffset = this.#nameBytesUsed;
    this.#names.set(bytes, nameOffset);
    const e = this.#entryCount * ENTRY_INTS;
    this.#entries[e] = kind;
    this.#entries[e + 1] = slot;
    this.#entries[e + 2] = nameOffset;
    this.#entries[e + 3] = bytes.length;
    this.#slotsUsed += nslots;
    this.#nameBytesUsed += bytes.length;
    this.#entryCount++;
    Atomics.store(this.#header, H_COUNT, this.#entryCount);
    return slot;
  }
}
