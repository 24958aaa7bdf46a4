/**
 * Shared data (proxy-wasm-abi.md §3.11): a key/value store shared by every VM with the same vm_id
 * (every worker, every plugin of that VM), with compare-and-swap.
 *
 * Every value carries a `cas` number that changes on each write. To update without losing a
 * concurrent write: read (value + cas), compute, write with that cas; CasMismatch means someone
 * wrote in between: read again and retry (`updateSharedDataString` does this loop). A write with
 * cas 0 is unconditional, and so is the first write of a new key: create keys in onConfigure.
 */
import { WasmResult } from "./enums";
import { proxy_get_shared_data, proxy_set_shared_data } from "./imports";
import { clearReturned, dropReturned, RET_NUMBER, RET_PTR, RET_SIZE, takeReturnedBytes } from "./memory";

/** A value read from shared data and the cas to write it back with. */
export class SharedData {
  constructor(public value: ArrayBuffer, public cas: u32) {}

  /** The value as UTF-8 text. */
  valueString(): string {
    return String.UTF8.decode(this.value);
  }
}

/** The value and cas stored under `key`, or null when the key does not exist. */
export function getSharedData(key: string): SharedData | null {
  const k = String.UTF8.encode(key);
  clearReturned();
  store<u32>(RET_NUMBER, 0);
  if (proxy_get_shared_data(changetype<usize>(k), <usize>k.byteLength, RET_PTR, RET_SIZE, RET_NUMBER) != WasmResult.Ok) {
    dropReturned();
    return null;
  }
  const cas = load<u32>(RET_NUMBER);
  return new SharedData(takeReturnedBytes(), cas);
}

/**
 * Stores `value` under `key` if the stored cas still equals `cas` (0: unconditionally). Returns Ok,
 * or CasMismatch when another write came first.
 */
export function setSharedData(key: string, value: ArrayBuffer, cas: u32 = 0): WasmResult {
  const k = String.UTF8.encode(key);
  return <WasmResult>proxy_set_shared_data(changetype<usize>(k), <usize>k.byteLength, changetype<usize>(value), <usize>value.byteLength, cas);
}

/** `setSharedData` with a UTF-8 string value. */
export function setSharedDataString(key: string, value: string, cas: u32 = 0): WasmResult {
  return setSharedData(key, String.UTF8.encode(value), cas);
}

/**
 * Read-modify-write of a string value with CAS retries: `update(current)` (null when the key does
 * not exist) returns the new value. Returns the value stored, or null if every one of `maxAttempts`
 * attempts lost the race (or the host refused). `update` must not capture locals.
 */
export function updateSharedDataString(key: string, update: (current: string | null) => string, maxAttempts: i32 = 32): string | null {
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const current = getSharedData(key);
    const next = update(current == null ? null : current.valueString());
    const result = setSharedDataString(key, next, current == null ? 0 : current.cas);
    if (result == WasmResult.Ok) return next;
    if (result != WasmResult.CasMismatch) return null;
  }
  return null;
}
