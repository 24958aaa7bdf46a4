/** Wall-clock time from the host (proxy-wasm-abi.md §3.2). */
import { WasmResult } from "./enums";
import { proxy_get_current_time_nanoseconds } from "./imports";
import { RET_NUMBER } from "./memory";

/**
 * Nanoseconds since the Unix epoch (0 if the host refuses, e.g. during top-level code in Envoy).
 * Use this instead of `Date.now()`, which imports a JavaScript-only function no proxy provides.
 */
export function getCurrentTimeNanoseconds(): u64 {
  store<u64>(RET_NUMBER, 0);
  if (proxy_get_current_time_nanoseconds(RET_NUMBER) != WasmResult.Ok) return 0;
  return load<u64>(RET_NUMBER);
}

/** Milliseconds since the Unix epoch. */
export function getCurrentTimeMilliseconds(): u64 {
  return getCurrentTimeNanoseconds() / 1_000_000;
}
