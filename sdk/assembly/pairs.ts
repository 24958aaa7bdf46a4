/**
 * Header/metadata pairs and their wire encoding (proxy-wasm-abi.md §5.1):
 *
 *   u32 N | N × (u32 name_len, u32 value_len) | N × (name bytes, 0x00, value bytes, 0x00)
 *
 * all little-endian. Names and values are UTF-8 here; hosts keep header bytes as they are, so text
 * that arrived as UTF-8 reads back as the same string.
 */

/** One header (or trailer, or gRPC metadata entry). Names are lower-case on the wire. */
export class HeaderPair {
  constructor(public name: string, public value: string) {}
}

/** Shorthand for `new HeaderPair(name, value)`, handy in array literals. */
export function pair(name: string, value: string): HeaderPair {
  return new HeaderPair(name, value);
}

/** Encodes `pairs` (§5.1). An empty list encodes as the 4-byte count 0. */
export function serializePairs(pairs: Array<HeaderPair>): ArrayBuffer {
  const n = pairs.length;
  const names = new Array<ArrayBuffer>(n);
  const values = new Array<ArrayBuffer>(n);
  let size = 4 + n * 8;
  for (let i = 0; i < n; i++) {
    names[i] = String.UTF8.encode(pairs[i].name);
    values[i] = String.UTF8.encode(pairs[i].value);
    size += names[i].byteLength + values[i].byteLength + 2;
  }
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, <u32>n);
  let data = base + 4 + <usize>n * 8;
  for (let i = 0; i < n; i++) {
    const name = names[i];
    const value = values[i];
    store<u32>(base + 4 + <usize>i * 8, <u32>name.byteLength);
    store<u32>(base + 8 + <usize>i * 8, <u32>value.byteLength);
    memory.copy(data, changetype<usize>(name), <usize>name.byteLength);
    data += <usize>name.byteLength;
    store<u8>(data++, 0);
    memory.copy(data, changetype<usize>(value), <usize>value.byteLength);
    data += <usize>value.byteLength;
    store<u8>(data++, 0);
  }
  return out;
}

/**
 * Decodes §5.1 bytes. Anything shorter than the 4-byte count is an empty list; a malformed buffer
 * yields the pairs that fit before the first inconsistency (never reads past the buffer).
 */
export function deserializePairs(bytes: ArrayBuffer): Array<HeaderPair> {
  const out = new Array<HeaderPair>();
  const total = <usize>bytes.byteLength;
  if (total < 4) return out;
  const base = changetype<usize>(bytes);
  const n = <usize>load<u32>(base);
  if (n > (total - 4) / 8) return out;
  let data = base + 4 + n * 8;
  const end = base + total;
  for (let i: usize = 0; i < n; i++) {
    const nameLen = <usize>load<u32>(base + 4 + i * 8);
    const valueLen = <usize>load<u32>(base + 8 + i * 8);
    if (nameLen + valueLen + 2 > end - data) break;
    const name = String.UTF8.decodeUnsafe(data, nameLen);
    data += nameLen + 1;
    const value = String.UTF8.decodeUnsafe(data, valueLen);
    data += valueLen + 1;
    out.push(new HeaderPair(name, value));
  }
  return out;
}

/** First value of `name` (case-insensitive) in `pairs`, or null. */
export function findPair(pairs: Array<HeaderPair>, name: string): string | null {
  const wanted = name.toLowerCase();
  for (let i = 0; i < pairs.length; i++) {
    if (pairs[i].name.toLowerCase() == wanted) return pairs[i].value;
  }
  return null;
}
