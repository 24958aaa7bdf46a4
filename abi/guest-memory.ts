/**
 * Bounds-checked access to a guest's linear memory.
 *
 * STYLE.md "Crossing into WebAssembly": never keep a view over guest memory across a guest call.
 * Any call into the guest (the allocator above all, §3.1) can grow memory, which detaches the old
 * `memory.buffer`. So GuestMemory keeps only the memory object and derives a fresh view from
 * `memory.buffer` on every call; what it returns is a copy, never a view.
 *
 * Pointers and sizes are guest-supplied and untrusted. Call sites convert each incoming i32 to
 * unsigned (`x >>> 0`, §1) before passing it. Every method accepts any number (NaN, ±Infinity,
 * fractions, negatives, ≥ 2^32, ptr + len past the end) without throwing: only integers in
 * [0, 2^32) whose range lies inside the current memory are accepted.
 *
 * Contract: `undefined` / `false` from any method means the guest's pointer/size pair is outside
 * linear memory; the host call answers WasmResult.InvalidMemoryAccess (6) (WASI calls: errno
 * FAULT, 21) and has no other effect. `(0, 0)` is always in bounds (the guest's "empty", §1).
 *
 * Pure: no project or `node:*` imports.
 */

/** What GuestMemory needs: a `WebAssembly.Memory`, or `{ buffer: new ArrayBuffer(n) }` in tests. */
export interface MemoryLike {
  readonly buffer: ArrayBufferLike;
}

const U32_LIMIT = 2 ** 32;

function isAddress(x: number): boolean {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < U32_LIMIT;
}

/**
 * True when `[ptr, ptr + len)` lies within a memory of `size` bytes. ptr and len are each u32
 * integers; the sum is exact (< 2^33), so it cannot wrap as it would in 32-bit arithmetic.
 * `ptr === size` with `len === 0` is in bounds (an empty range at the end).
 */
export function inBounds(size: number, ptr: number, len: number): boolean {
  return isAddress(ptr) && isAddress(len) && ptr + len <= size;
}

const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

export class GuestMemory {
  readonly #memory: MemoryLike;
  /** A DataView of the current buffer; rebuilt when the guest grows its memory (a new buffer). */
  #view: DataView | undefined;

  constructor(memory: MemoryLike) {
    this.#memory = memory;
  }

  /** Current size in bytes (changes when the guest grows its memory). */
  get size(): number {
    return this.#memory.buffer.byteLength;
  }

  /** A copy of `len` bytes at `ptr`; `undefined` when out of bounds. */
  read(ptr: number, len: number): Uint8Array | undefined {
    const bytes = new Uint8Array(this.#memory.buffer);
    if (!inBounds(bytes.byteLength, ptr, len)) return undefined;
    return bytes.slice(ptr, ptr + len);
  }

  /**
   * A view (no copy) of `len` bytes at `ptr`; `undefined` when out of bounds. Valid only until the
   * guest runs again (it may write there or grow its memory): read it at once.
   */
  view(ptr: number, len: number): Uint8Array | undefined {
    const buffer = this.#memory.buffer;
    if (!inBounds(buffer.byteLength, ptr, len)) return undefined;
    return new Uint8Array(buffer, ptr, len);
  }

  /**
   * Writes a byte string (one char per byte, code 0..255) at `ptr`; `false` (nothing written) when
   * out of bounds. Char codes above 255 keep their low 8 bits.
   */
  writeLatin1(ptr: number, s: string): boolean {
    const buffer = this.#memory.buffer;
    if (!inBounds(buffer.byteLength, ptr, s.length)) return false;
    const target = new Uint8Array(buffer, ptr, s.length);
    for (let i = 0; i < s.length; i++) target[i] = s.charCodeAt(i);
    return true;
  }

  #dataView(buffer: ArrayBufferLike): DataView {
    let v = this.#view;
    if (v === undefined || v.buffer !== buffer) {
      v = new DataView(buffer);
      this.#view = v;
    }
    return v;
  }

  /** Copies `bytes` to `ptr`; `false` (nothing written) when out of bounds. */
  write(ptr: number, bytes: Uint8Array): boolean {
    const target = new Uint8Array(this.#memory.buffer);
    if (!inBounds(target.byteLength, ptr, bytes.byteLength)) return false;
    target.set(bytes, ptr);
    return true;
  }

  /** The u32 (little-endian) at `ptr`; `undefined` when any of its 4 bytes is out of bounds. */
  readU32(ptr: number): number | undefined {
    const buffer = this.#memory.buffer;
    if (!inBounds(buffer.byteLength, ptr, 4)) return undefined;
    return this.#dataView(buffer).getUint32(ptr, true);
  }

  /**
   * Writes `value` as a little-endian u32 (e.g. through a `return_*` pointer). `value` may be a u32
   * or a signed i32 (an allocator result read without `>>> 0`); it is stored as `value >>> 0`.
   * `false` (nothing written) when out of bounds, or when `value` is not an integer in
   * [-2^31, 2^32), which is a host bug rather than a guest one.
   */
  writeU32(ptr: number, value: number): boolean {
    const buffer = this.#memory.buffer;
    if (!inBounds(buffer.byteLength, ptr, 4)) return false;
    if (!Number.isInteger(value) || value < -(2 ** 31) || value >= U32_LIMIT) return false;
    this.#dataView(buffer).setUint32(ptr, value >>> 0, true);
    return true;
  }

  /**
   * `len` bytes at `ptr` decoded as UTF-8, invalid sequences replaced by U+FFFD (fit for log
   * messages and names in errors). Where exact bytes matter (keys, values), use `read`.
   * `undefined` when out of bounds.
   */
  readString(ptr: number, len: number): string | undefined {
    const bytes = this.read(ptr, len);
    return bytes === undefined ? undefined : decoder.decode(bytes);
  }
}
