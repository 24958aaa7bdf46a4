import { ErrorCode, SluiceError } from '../errors.ts';
import { ENTRY_INTS, H_COUNT, H_ENTRIES, H_MAGIC, H_NAME_BYTES, H_SLOTS, H_VERSION, HEADER_BYTES, MAGIC, StatKind, VERSION, geometry } from './layout.ts';
import { REPLICATED_GAUGE } from './reader.ts';

/**
 * Process-wide value of one counter or gauge, read from any thread.
 *
 * Envoy's `proxy_get_metric` returns the value of the one global stat, but Sluice's stats live in
 * per-thread segments (`StatsStore`), each written only by its own thread. A worker that answers
 * `proxy_get_metric` keeps one `GlobalStatsReader` holding every thread's segment (its own
 * included) and sums the name over them, with the same rules as the main thread's `StatsReader`:
 * counters and gauges add up, replicated cluster gauges (`REPLICATED_GAUGE`) report their largest
 * copy, and the final counter values of a detached segment stay in the total.
 *
 * Cost: the first lookup of a name in a segment indexes the names published there since the last
 * miss (each decoded once); after that a lookup is one Map hit and one f64 read per segment. Names
 * are read from shared memory with the segment's publication protocol (layout.ts), so a stat
 * created by another thread after `attach` is found as soon as it is published.
 *
 * Lifecycle contract (the owner of the worker pool wires it):
 * - Post every thread's `StatsStore.buffer` to every worker, which calls `attach(id, buffer)`;
 *   attaching an id again replaces that segment (its counters are folded in first).
 * - When a thread exits or is replaced, every worker calls `detach(id)`: its counters are kept in
 *   a base, its gauges drop out (as `StatsReader.detach`).
 * - `/reset_counters` only moves the main thread's baseline (`StatsReader.resetCounters`); values
 *   read here are not reset.
 * Values are those of the moment: another thread may be mid-update (a slightly stale number,
 * never a torn entry).
 */
export class GlobalStatsReader {
  readonly #segments = new Map<string, IndexedSegment>();
  readonly #baseCounters = new Map<string, number>();

  attach(id: string, buffer: SharedArrayBuffer): void {
    const segment = new IndexedSegment(id, buffer);
    if (this.#segments.has(id)) this.detach(id);
    this.#segments.set(id, segment);
  }

  detach(id: string): void {
    const segment = this.#segments.get(id);
    if (segment === undefined) return;
    for (const [name, value] of segment.counterValues()) {
      this.#baseCounters.set(name, (this.#baseCounters.get(name) ?? 0) + value);
    }
    this.#segments.delete(id);
  }

  /** Ids currently attached. */
  get ids(): string[] {
    return [...this.#segments.keys()];
  }

  /** Sum of the counter `name` over every segment, detached ones included; 0 if no thread has it. */
  counter(name: string): number {
    let sum = this.#baseCounters.get(name) ?? 0;
    for (const segment of this.#segments.values()) {
      const slot = segment.slot(StatKind.Counter, name);
      if (slot >= 0) sum += segment.values[slot];
    }
    return sum;
  }

  /** Sum of the gauge `name` over attached segments (largest copy for replicated gauges); 0 if none. */
  gauge(name: string): number {
    const replicated = REPLICATED_GAUGE.test(name);
    let result: number | undefined;
    for (const segment of this.#segments.values()) {
      const slot = segment.slot(StatKind.Gauge, name);
      if (slot < 0) continue;
      const v = segment.values[slot];
      result = result === undefined ? v : replicated ? Math.max(result, v) : result + v;
    }
    return result ?? 0;
  }
}

/** One thread's segment with a lazily grown name → slot index for its counters and gauges. */
class IndexedSegment {
  readonly values: Float64Array;
  readonly #header: Int32Array;
  readonly #entries: Int32Array;
  readonly #names: Uint8Array;
  readonly #counters = new Map<string, number>();
  readonly #gauges = new Map<string, number>();
  #indexed = 0;
  readonly #decoder = new TextDecoder();

  constructor(id: string, sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < HEADER_BYTES) {
      throw new SluiceError(ErrorCode.INTERNAL, `stats segment "${id}": expected a SharedArrayBuffer from StatsStore`);
    }
    const h = new Int32Array(sab, 0, 16);
    if (h[H_MAGIC] !== MAGIC || h[H_VERSION] !== VERSION) {
      throw new SluiceError(
        ErrorCode.INTERNAL,
        `stats segment "${id}": bad header (magic ${h[H_MAGIC]}, version ${h[H_VERSION]}); expected a StatsStore v${VERSION} segment`,
      );
    }
    const g = geometry(h[H_SLOTS], h[H_ENTRIES], h[H_NAME_BYTES]);
    if (g.totalBytes !== sab.byteLength) {
      throw new SluiceError(ErrorCode.INTERNAL, `stats segment "${id}": header describes ${g.totalBytes} bytes, buffer has ${sab.byteLength}`);
    }
    this.#header = h;
    this.values = new Float64Array(sab, g.valuesOffset, g.slots);
    this.#entries = new Int32Array(sab, g.entriesOffset, g.entries * ENTRY_INTS);
    this.#names = new Uint8Array(sab, g.namesOffset, g.nameBytes);
  }

  /** Value slot of the stat, or -1 if this segment has not published it (yet). */
  slot(kind: StatKind, name: string): number {
    const index = kind === StatKind.Counter ? this.#counters : this.#gauges;
    let slot = index.get(name);
    if (slot === undefined && this.#catchUp()) slot = index.get(name);
    return slot ?? -1;
  }

  /** Final counter values, for folding into the reader's base on detach. */
  counterValues(): Array<[string, number]> {
    this.#catchUp();
    return [...this.#counters].map(([name, slot]) => [name, this.values[slot]]);
  }

  /** Indexes entries published since the last call; true if there were any. */
  #catchUp(): boolean {
    const n = Atomics.load(this.#header, H_COUNT);
    if (n === this.#indexed) return false;
    const t = this.#entries;
    for (let i = this.#indexed; i < n; i++) {
      const e = i * ENTRY_INTS;
      const kind = t[e];
      if (kind !== StatKind.Counter && kind !== StatKind.Gauge) continue;
      // slice() copies out of shared memory; TextDecoder is not required to accept shared views.
      const name = this.#decoder.decode(this.#names.slice(t[e + 2], t[e + 2] + t[e + 3]));
      (kind === StatKind.Counter ? this.#counters : this.#gauges).set(name, t[e + 1]);
    }
    this.#indexed = n;
    return true;
  }
}
