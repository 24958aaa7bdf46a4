/**
 * The stats API the data plane writes through. One `Stats` per thread (each worker, and the main
 * thread), backed by that thread's own SharedArrayBuffer segment: single writer, so the hot path
 * is a plain typed-array increment with no Atomics. The main thread reads every segment and sums
 * by name for /stats and /stats/prometheus.
 *
 * Names are Envoy's full dotted names (`cluster.api.upstream_rq_total`). Handles are looked up once
 * (at config load, or cached by the caller) and are cheap to use per request.
 */
export interface Counter {
  inc(): void;
  add(n: number): void;
}

export interface Gauge {
  inc(): void;
  dec(): void;
  add(n: number): void;
  sub(n: number): void;
  set(n: number): void;
}

export interface Histogram {
  /** Records one value in the histogram's unit (milliseconds for Envoy's `*_time`/`*_ms`). */
  record(value: number): void;
}

export interface Stats {
  counter(name: string): Counter;
  gauge(name: string): Gauge;
  histogram(name: string): Histogram;
}
