/**
 * Property path encoding (proxy-wasm-abi.md §5.2), the `path_ptr/path_size` argument of
 * `proxy_get_property` and `proxy_set_property`:
 *
 *   segment 0x00 segment 0x00 … segment        (no trailing 0x00; Envoy also tolerates one)
 *
 * `["request","headers","x-foo"]` ⇒ `request\0headers\0x-foo`. A dotted single segment such as
 * `"request.path"` is NOT split: it names filter-state key `wasm.request.path` and is NotFound
 * unless a guest set it.
 *
 * Pure: no project or `node:*` imports. Segments are UTF-8.
 */

export type DecodePropertyPathResult =
  | { ok: true; segments: string[] }
  | { ok: false; error: string };

const encoder = new TextEncoder();
// fatal: a path that decodes ok re-encodes to exactly the guest's bytes.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Joins segments with a single 0x00 and no trailing 0x00, as the Rust and Go SDKs do. Never throws.
 *
 * A 0x00 inside a segment is written as-is and therefore acts as a separator (this is how
 * AssemblyScript users spell multi-segment paths), so `["a\0b"]` and `["a","b"]` encode alike.
 * `[]` and `[""]` both encode to zero bytes, which `decodePropertyPath` refuses; a trailing empty
 * segment (`["a",""]`) encodes to `a\0`, which decodes as `["a"]` (the tolerated trailing 0x00).
 */
export function encodePropertyPath(segments: readonly string[]): Uint8Array {
  return encoder.encode(segments.join('\0'));
}

/**
 * Splits a guest path into segments. Never throws.
 *
 * - Exactly one trailing 0x00 is dropped (Envoy tolerates it); a second one yields an empty last
 *   segment, as in Envoy's split loop.
 * - Empty segments elsewhere (`\0a`, `a\0\0b`) are kept: Envoy looks them up and finds nothing,
 *   so the caller's lookup answers NotFound.
 * - Zero bytes, or a lone 0x00, is refused as an empty path; so is invalid UTF-8.
 *
 * Contract for the call site: `ok: false` is answered with WasmResult.NotFound, not ParseFailure.
 * The Rust SDK's `get_property` accepts only Ok/NotFound/SerializationFailure/InternalFailure and
 * panics on anything else (§3.7), and Envoy itself answers NotFound for a path it cannot resolve.
 */
export function decodePropertyPath(bytes: Uint8Array): DecodePropertyPathResult {
  let end = bytes.byteLength;
  if (end > 0 && bytes[end - 1] === 0) end--;
  if (end === 0) return { ok: false, error: 'empty property path' };
  let text: string;
  try {
    text = decoder.decode(bytes.subarray(0, end));
  } catch {
    return { ok: false, error: `property path of ${bytes.byteLength} bytes is not valid UTF-8` };
  }
  return { ok: true, segments: text.split('\0') };
}

/**
 * The dotted form of a path (`["request","headers"]` ⇒ `"request.headers"`), the key of the host's
 * built-in property tables (`ENVOY_PROPERTY_KINDS` in property-values.ts).
 *
 * `undefined` when a segment is empty or contains a `.`: such a path cannot name a built-in
 * property, and refusing it keeps the mapping one-to-one, so the single segment `"request.path"`
 * never collides with `["request","path"]` (§5.2: Envoy does not split it). Callers indexing a map
 * value (a header name may contain `.`) compute the key of the prefix only, e.g.
 * `propertyKey(segments.slice(0, 2))` for `request.headers`, and use the last segment verbatim.
 */
export function propertyKey(segments: readonly string[]): string | undefined {
  if (segments.length === 0) return undefined;
  for (const s of segments) if (s === '' || s.includes('.')) return undefined;
  return segments.join('.');
}
