/**
 * Properties (proxy-wasm-abi.md §3.7, §5.2–5.4): request, response, connection, upstream, source,
 * destination, xds and plugin attributes, with Envoy's value encodings decoded.
 *
 * A path is written with dots (`"request.path"`, `"source.address"`), which the SDK splits into
 * segments. When a segment itself contains a dot (a metadata key such as `envoy.lb`), use the
 * `*Path` form with explicit segments. Which names exist and their types: sdk/README.md.
 *
 * Encodings (Envoy): string/bytes raw; int, duration (ns) and timestamp (ns since the epoch)
 * 8 bytes little-endian signed; uint 8 bytes unsigned; double 8 bytes IEEE; bool 1 byte; maps and
 * lists as header pairs (lists: every value empty).
 */
import { WasmResult } from "./enums";
import { proxy_get_property, proxy_set_property } from "./imports";
import { clearReturned, dropReturned, RET_PTR, RET_SIZE, takeReturnedBytes } from "./memory";
import { deserializePairs } from "./pairs";

/** Encodes segments as the host expects: joined with 0x00. */
function encodePath(segments: Array<string>): ArrayBuffer {
  return String.UTF8.encode(segments.join("\0"));
}

/** The raw value at `segments`, or null when the host has no such property (or it is not available now). */
export function getPropertyPath(segments: Array<string>): ArrayBuffer | null {
  const path = encodePath(segments);
  clearReturned();
  if (proxy_get_property(changetype<usize>(path), <usize>path.byteLength, RET_PTR, RET_SIZE) != WasmResult.Ok) {
    dropReturned();
    return null;
  }
  return takeReturnedBytes();
}

/** The raw value at a dotted `path` (`"request.headers"`), or null. */
export function getProperty(path: string): ArrayBuffer | null {
  return getPropertyPath(path.split("."));
}

/** A string property (`request.path`, `source.address`, `plugin_name`, …), or null. */
export function getPropertyString(path: string): string | null {
  const bytes = getProperty(path);
  return bytes == null ? null : String.UTF8.decode(bytes);
}

/** A signed integer property (`source.port`, `response.code`, `request.size`), or `fallback`. */
export function getPropertyI64(path: string, fallback: i64 = 0): i64 {
  const bytes = getProperty(path);
  return bytes == null ? fallback : decodeI64(bytes, fallback);
}

/** An unsigned integer property (`connection.id`, `upstream.num_endpoints`), or `fallback`. */
export function getPropertyU64(path: string, fallback: u64 = 0): u64 {
  const bytes = getProperty(path);
  return bytes == null ? fallback : decodeU64(bytes, fallback);
}

/** A floating-point property, or `fallback`. */
export function getPropertyF64(path: string, fallback: f64 = 0): f64 {
  const bytes = getProperty(path);
  return bytes == null ? fallback : decodeF64(bytes, fallback);
}

/** A boolean property (`connection.mtls`), or `fallback`. */
export function getPropertyBool(path: string, fallback: bool = false): bool {
  const bytes = getProperty(path);
  return bytes == null ? fallback : decodeBool(bytes, fallback);
}

/** A duration property (`request.duration`, `response.backend_latency`) in nanoseconds, or `fallback`. */
export function getPropertyDuration(path: string, fallback: i64 = 0): i64 {
  return getPropertyI64(path, fallback);
}

/** A timestamp property (`request.time`) in nanoseconds since the Unix epoch, or `fallback`. */
export function getPropertyTimestamp(path: string, fallback: i64 = 0): i64 {
  return getPropertyI64(path, fallback);
}

/** A string map property (`request.headers`, `response.trailers`), or null. */
export function getPropertyMap(path: string): Map<string, string> | null {
  const bytes = getProperty(path);
  return bytes == null ? null : decodeMap(bytes);
}

/** A list property (e.g. a SAN list), or null. */
export function getPropertyList(path: string): Array<string> | null {
  const bytes = getProperty(path);
  return bytes == null ? null : decodeList(bytes);
}

/**
 * Stores `value` under `segments` for this stream (Envoy: filter state `wasm.<path>`); later
 * `getProperty` of the same name reads it back, also from other filters. NotFound outside a stream.
 */
export function setPropertyPath(segments: Array<string>, value: ArrayBuffer): WasmResult {
  const path = encodePath(segments);
  return <WasmResult>proxy_set_property(changetype<usize>(path), <usize>path.byteLength, changetype<usize>(value), <usize>value.byteLength);
}

/** `setPropertyPath` with a dotted path. */
export function setProperty(path: string, value: ArrayBuffer): WasmResult {
  return setPropertyPath(path.split("."), value);
}

/** `setProperty` with a UTF-8 string value. */
export function setPropertyString(path: string, value: string): WasmResult {
  return setProperty(path, String.UTF8.encode(value));
}

// ---- decoders for raw values (use with getPropertyPath) -------------------------------------

/** 8 bytes LE signed (int, duration, timestamp); `fallback` for any other length. */
export function decodeI64(bytes: ArrayBuffer, fallback: i64 = 0): i64 {
  return bytes.byteLength == 8 ? load<i64>(changetype<usize>(bytes)) : fallback;
}

/** 8 bytes LE unsigned; `fallback` for any other length. */
export function decodeU64(bytes: ArrayBuffer, fallback: u64 = 0): u64 {
  return bytes.byteLength == 8 ? load<u64>(changetype<usize>(bytes)) : fallback;
}

/** 8 bytes IEEE-754 LE; `fallback` for any other length. */
export function decodeF64(bytes: ArrayBuffer, fallback: f64 = 0): f64 {
  return bytes.byteLength == 8 ? load<f64>(changetype<usize>(bytes)) : fallback;
}

/** 1 byte, non-zero = true; `fallback` for any other length. */
export function decodeBool(bytes: ArrayBuffer, fallback: bool = false): bool {
  return bytes.byteLength == 1 ? load<u8>(changetype<usize>(bytes)) != 0 : fallback;
}

/** A map serialized as header pairs. Repeated keys: the last wins. */
export function decodeMap(bytes: ArrayBuffer): Map<string, string> {
  const pairs = deserializePairs(bytes);
  const out = new Map<string, string>();
  for (let i = 0; i < pairs.length; i++) out.set(pairs[i].name, pairs[i].value);
  return out;
}

/** A list serialized as header pairs whose keys are the elements. */
export function decodeList(bytes: ArrayBuffer): Array<string> {
  const pairs = deserializePairs(bytes);
  const out = new Array<string>(pairs.length);
  for (let i = 0; i < pairs.length; i++) out[i] = pairs[i].name;
  return out;
}

// ---- plugin identity (readable in every callback, including the root context's creation) ----

/** The plugin's name from the configuration (Envoy `config.name`). */
export function pluginName(): string {
  const v = getPropertyString("plugin_name");
  return v == null ? "" : v;
}

/** The plugin's root_id from the configuration; selects the registered root context. */
export function pluginRootId(): string {
  const v = getPropertyString("plugin_root_id");
  return v == null ? "" : v;
}

/** The plugin's vm_id from the configuration (scopes shared data and queues). */
export function pluginVmId(): string {
  const v = getPropertyString("plugin_vm_id");
  return v == null ? "" : v;
}
