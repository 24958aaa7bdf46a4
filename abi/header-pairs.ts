/**
 * Header-map / metadata pair serialization (proxy-wasm-abi.md §5.1), used by
 * `proxy_get_header_map_pairs`, `proxy_set_header_map_pairs`, `proxy_send_local_response`,
 * `proxy_http_call` and the gRPC metadata calls:
 *
 *   u32 N                                  number of pairs, little-endian
 *   N × { u32 key_len, u32 value_len }     all sizes first
 *   N × { key bytes, 0x00, value bytes, 0x00 }
 *
 * Pure: no project or `node:*` imports. Strings are UTF-8 by default; with `{ latin1: true }` they are
 * byte strings (one char per byte, code 0..255), which is how Node hands HTTP header names and values
 * to the proxy, so a guest's bytes reach the wire unchanged and invalid UTF-8 is not refused.
 */

/** cpp-host `PairsUtil::toPairs` refuses more than this many pairs. */
export const DEFAULT_MAX_PAIRS = 1024;

export type DecodePairsResult =
  | { ok: true; pairs: Array<[string, string]> }
  | { ok: false; error: string };

export interface DecodePairsOptions {
  /** Upper bound on N; larger counts are rejected before any allocation. Default 1024 (cpp-host). */
  maxPairs?: number;
  /** Decode keys and values as byte strings instead of UTF-8 (nothing is refused as invalid). */
  latin1?: boolean;
}

export interface EncodePairsOptions {
  /** Encode keys and values as byte strings: each char code's low 8 bits are one byte. */
  latin1?: boolean;
}

/** Node's Buffer when this runs on Node (a global, not an import): its latin1 decoder is native. */
const NodeBuffer = (globalThis as unknown as { Buffer?: { from(b: ArrayBufferLike, off: number, len: number): { latin1Slice(start: number, end: number): string } } }).Buffer;

/** Byte string (one char per byte) of `bytes`. */
export function bytesToLatin1(bytes: Uint8Array): string {
  const n = bytes.length;
  // Short strings (header names, most values): a loop beats the native call's fixed cost.
  if (n <= 16) {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(bytes[i]);
    return s;
  }
  if (NodeBuffer !== undefined) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, n).latin1Slice(0, n);
  let out = '';
  const CHUNK = 8192;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK) as unknown as number[]);
  }
  return out;
}

/** Bytes of a byte string; char codes above 255 keep their low 8 bits. */
export function latin1ToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const encoder = new TextEncoder();
// fatal: a pair that decodes ok re-encodes to exactly the guest's bytes; invalid UTF-8 is refused
// rather than silently replaced with U+FFFD.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Serializes pairs in the order given (duplicates kept). An empty list gives the 4-byte `N = 0`
 * encoding; a host returning an empty map to a guest writes ptr 0 / size 0 instead (§1), which is
 * the caller's decision. Lone surrogates in a string are encoded as U+FFFD by TextEncoder.
 */
export function encodePairs(pairs: ReadonlyArray<readonly [string, string]>, opts: EncodePairsOptions = {}): Uint8Array {
  const enc = opts.latin1 === true ? latin1ToBytes : (s: string) => encoder.encode(s);
  const encoded = pairs.map(([k, v]) => [enc(k), enc(v)] as const);
  let total = 4 + 8 * encoded.length;
  for (const [k, v] of encoded) total += k.length + 1 + v.length + 1;

  const out = new Uint8Array(total); // zero-filled, so the NUL terminators need no writes
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(0, encoded.length, true);
  let sizeAt = 4;
  let dataAt = 4 + 8 * encoded.length;
  for (const [k, v] of encoded) {
    view.setUint32(sizeAt, k.length, true);
    view.setUint32(sizeAt + 4, v.length, true);
    sizeAt += 8;
    out.set(k, dataAt);
    dataAt += k.length + 1;
    out.set(v, dataAt);
    dataAt += v.length + 1;
  }
  return out;
}

/**
 * Parses a pairs buffer. Never throws and never reads outside `bytes`.
 *
 * Accepted as an empty map: a zero-length buffer (the host convention for "no map") and the single
 * byte 0x00 the spec allows. Everything else must follow the layout exactly, as cpp-host's parser
 * requires: every key and value followed by 0x00, no bytes left over, N ≤ maxPairs, valid UTF-8.
 * cpp-host turns a violation into an empty list silently; here the caller gets the reason and
 * decides (e.g. answer the guest with a WasmResult).
 */
export function decodePairs(bytes: Uint8Array, opts: DecodePairsOptions = {}): DecodePairsResult {
  const maxPairs = opts.maxPairs ?? DEFAULT_MAX_PAIRS;
  const len = bytes.byteLength;
  if (len === 0 || (len === 1 && bytes[0] === 0)) return { ok: true, pairs: [] };
  if (len < 4) return { ok: false, error: `pairs buffer of ${len} bytes is too short for the 4-byte count` };

  const view = new DataView(bytes.buffer, bytes.byteOffset, len);
  const count = view.getUint32(0, true);
  if (count > maxPairs) return { ok: false, error: `pairs count ${count} exceeds the limit of ${maxPairs}` };
  // Each pair needs 8 size bytes and 2 terminators; checking first bounds the work done below.
  if (4 + count * 10 > len) {
    return { ok: false, error: `pairs count ${count} needs at least ${4 + count * 10} bytes, buffer has ${len}` };
  }

  const pairs: Array<[string, string]> = [];
  let dataAt = 4 + count * 8;
  for (let i = 0; i < count; i++) {
    const keyLen = view.getUint32(4 + i * 8, true);
    const valueLen = view.getUint32(8 + i * 8, true);
    const key = readTerminated(bytes, dataAt, keyLen, opts.latin1 === true);
    if (typeof key !== 'string') return { ok: false, error: `pair ${i} key: ${key.error}` };
    dataAt += keyLen + 1;
    const value = readTerminated(bytes, dataAt, valueLen, opts.latin1 === true);
    if (typeof value !== 'string') return { ok: false, error: `pair ${i} value: ${value.error}` };
    dataAt += valueLen + 1;
    pairs.push([key, value]);
  }
  if (dataAt !== len) return { ok: false, error: `pairs end at byte ${dataAt} but buffer has ${len} bytes` };
  return { ok: true, pairs };
}

function readTerminated(bytes: Uint8Array, at: number, size: number, latin1: boolean): string | { error: string } {
  // Numbers here stay below 2^53 (u32 sizes), so plain arithmetic cannot wrap.
  if (at + size + 1 > bytes.byteLength) {
    return { error: `${size} bytes at offset ${at} plus terminator run past the end (${bytes.byteLength})` };
  }
  if (bytes[at + size] !== 0) return { error: `missing 0x00 terminator at offset ${at + size}` };
  if (latin1) return bytesToLatin1(bytes.subarray(at, at + size));
  try {
    return decoder.decode(bytes.subarray(at, at + size));
  } catch {
    return { error: `invalid UTF-8 in ${size} bytes at offset ${at}` };
  }
}
