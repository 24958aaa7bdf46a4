/**
 * Metrics (proxy-wasm-abi.md §3.12): counters, gauges and histograms the proxy exports with its own
 * stats (Envoy and Sluice: `wasmcustom.<name>` in /stats, `<name>` in Prometheus).
 *
 * Create them as module-level constants or fields; the SDK defines each with the host on first use,
 * inside a callback (Envoy refuses host calls during top-level code). The same name used from
 * several plugins or workers is one stat.
 */
import { MetricType, WasmResult } from "./enums";
import { proxy_define_metric, proxy_get_metric, proxy_increment_metric, proxy_record_metric } from "./imports";
import { RET_NUMBER } from "./memory";

class Metric {
  private id: u32 = 0;

  constructor(public readonly name: string, public readonly type: MetricType) {}

  /** The host's id, defining the metric on first use; 0 if the host refused. */
  metricId(): u32 {
    if (this.id != 0) return this.id;
    const n = String.UTF8.encode(this.name);
    store<u32>(RET_NUMBER, 0);
    if (proxy_define_metric(this.type, changetype<usize>(n), <usize>n.byteLength, RET_NUMBER) == WasmResult.Ok) {
      this.id = load<u32>(RET_NUMBER);
    }
    return this.id;
  }

  protected read(): u64 {
    const id = this.metricId();
    store<u64>(RET_NUMBER, 0);
    if (id == 0 || proxy_get_metric(id, RET_NUMBER) != WasmResult.Ok) return 0;
    return load<u64>(RET_NUMBER);
  }
}

/** A monotonically increasing count. */
export class Counter extends Metric {
  constructor(name: string) {
    super(name, MetricType.Counter);
  }

  /** Adds `delta` (must be > 0). */
  increment(delta: u64 = 1): WasmResult {
    const id = this.metricId();
    if (id == 0) return WasmResult.InternalFailure;
    return <WasmResult>proxy_increment_metric(id, <i64>delta);
  }

  /** Current value, summed over every worker. */
  get(): u64 {
    return this.read();
  }
}

/** A value that goes up and down. */
export class Gauge extends Metric {
  constructor(name: string) {
    super(name, MetricType.Gauge);
  }

  /** Adds `delta` (negative to subtract). */
  add(delta: i64): WasmResult {
    const id = this.metricId();
    if (id == 0) return WasmResult.InternalFailure;
    return <WasmResult>proxy_increment_metric(id, delta);
  }

  /** Sets the value. */
  set(value: u64): WasmResult {
    const id = this.metricId();
    if (id == 0) return WasmResult.InternalFailure;
    return <WasmResult>proxy_record_metric(id, value);
  }

  /** Current value. */
  get(): u64 {
    return this.read();
  }
}

/** A distribution of recorded values (e.g. sizes, latencies in ms). */
export class Histogram extends Metric {
  constructor(name: string) {
    super(name, MetricType.Histogram);
  }

  /** Records one value. */
  record(value: u64): WasmResult {
    const id = this.metricId();
    if (id == 0) return WasmResult.InternalFailure;
    return <WasmResult>proxy_record_metric(id, value);
  }
}
