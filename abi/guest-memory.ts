/**
 * Bounds-checked access to a guest's linear memory.
 *
 * STYLE.md "Crossing into WebAssembly": never keep a view over guest memory across a guest call.
 * Any call into the guest (the allocator above all, §3.1) can grow memory, which detaches the old
 * `memory.buffer`. So GuestMemory checks on every call that its cached byte view is still the
 * current buffer (rebuilt once it is not: see #detachesOnGrow); what it returns is a copy or a
 * string, never a view, except from `view`, which says so.
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

/** Up to this many bytes, `latin1` builds its string char by char (cheaper than a native call's fixed cost). */
const LATIN1_LOOP_MAX = 32;
/** Node's Buffer when this runs on Node (a global, not an import): its latin1 decoder is native. */
const NodeBuffer = (globalThis as unknown as { Buffer?: { from(b: ArrayBufferLike, off: number, len: number): { latin1Slice(start: number, end: number): string } } }).Buffer;
/** Chunk for `String.fromCharCode.apply`: well under any engine's argument-count limit. */
const LATIN1_CHUNK = 8192;
/** Slots of `latin1Name`'s cache (a power of two) and the longest name it keeps. */
const NAME_SLOTS = 32;
const NAME_MAX = 64;

export class GuestMemory {
  readonly #memory: MemoryLike;
  /**
   * A byte view and a DataView of the whole current buffer, made together and kept while that
   * buffer is current. Host calls read and write a few bytes at a time (header names, return
   * slots): indexing one view is cheaper than making a typed array per argument, and than asking
   * `memory.buffer` (a native getter) for every argument.
   */
  #bytes: Uint8Array | undefined;
  #view: DataView | undefined;
  /**
   * Growing a non-shared WebAssembly.Memory detaches its old buffer (the views then read length
   * 0), so while #bytes has a length it is current. A shared memory keeps its old, shorter buffer
   * when it grows: for one, `memory.buffer` is asked on every call.
   */
  readonly #detachesOnGrow: boolean;
  /** `latin1Name`'s cache: the last name decoded per slot. */
  readonly #names: (string | undefined)[] = [];

  constructor(memory: MemoryLike) {
    this.#memory = memory;
    const buffer: ArrayBufferLike = memory.buffer;
    this.#detachesOnGrow = buffer instanceof ArrayBuffer && !buffer.resizable;
    for (let i = 0; i < NAME_SLOTS; i++) this.#names.push(undefined);
  }

  /** Current size in bytes (changes when the guest grows its memory). */
  get size(): number {
    return this.#u8().byteLength;
  }

  #u8(): Uint8Array {
    let b = this.#bytes;
    if (b !== undefined && b.byteLength !== 0 && this.#detachesOnGrow) return b;
    const buffer = this.#memory.buffer;
    if (b === undefined || b.buffer !== buffer) {
      b = new Uint8Array(buffer);
      this.#bytes = b;
      this.#view = new DataView(buffer);
    }
    return b;
  }

  #dataView(): DataView {
    this.#u8();
    return this.#view as DataView;
  }

  /** A copy of `len` bytes at `ptr`; `undefined` when out of bounds. */
  read(ptr: number, len: number): Uint8Array | undefined {
    const bytes = this.#u8();
    if (!inBounds(bytes.byteLength, ptr, len)) return undefined;
    return bytes.slice(ptr, ptr + len);
  }

  /**
   * The byte string (one char per byte) of `len` bytes at `ptr`: how header names and values,
   * cluster names and the like cross the ABI (§5.1). `undefined` when out of bounds.
   */
  latin1(ptr: number, len: number): string | undefined {
    const bytes = this.#u8();
    if (!inBounds(bytes.byteLength, ptr, len)) return undefined;
    if (len <= LATIN1_LOOP_MAX) {
      let s = '';
      for (let i = ptr, end = ptr + len; i < end; i++) s += String.fromCharCode(bytes[i]);
      return s;
    }
    if (NodeBuffer !== undefined) return NodeBuffer.from(bytes.buffer, ptr, len).latin1Slice(0, len);
    let out = '';
    for (let i = ptr, end = ptr + len; i < end; i += LATIN1_CHUNK) {
      out += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(i + LATIN1_CHUNK, end)) as unknown as number[]);
    }
    return out;
  }

  /**
   * `latin1` for the strings a guest passes on every request (header names): the last name
   * decoded in each of a few slots is kept, and the same bytes again get that same string back,
   * compared byte by byte instead of built anew (and already hashed from the header map lookup
   * it went to). Same answer as `latin1`, out of bounds included.
   */
  latin1Name(ptr: number, len: number): string | undefined {
    if (len === 0 || len > NAME_MAX) return this.latin1(ptr, len);
    const bytes = this.#u8();
    if (!inBounds(bytes.byteLength, ptr, len)) return undefined;
    const slot = (len * 31 + bytes[ptr] * 17 + bytes[ptr + len - 1]) & (NAME_SLOTS - 1);
    const cached = this.#names[slot];
    if (cached !== undefined && cached.length === len) {
      let i = 0;
      while (i < len && cached.charCodeAt(i) === bytes[ptr + i]) i++;
      if (i === len) return cached;
    }
    const s = this.latin1(ptr, len) as string;
    this.#names[slot] = s;
    return s;
  }

  /**
   * A view (no copy) of `len` bytes at `ptr`; `undefined` when out of bounds. Valid only until the
   * guest runs again (it may write there or grow its memory): read it at once.
   */
  view(ptr: number, len: number): Uint8Array | undefined {
    const bytes = this.#u8();
    if (!inBounds(bytes.byteLength, ptr, len)) return undefined;
    return new Uint8Array(bytes.buffer, ptr, len);
  }

  /**
   * Writes a byte string (one char per byte, code 0..255) at `ptr`; `false` (nothing written) when
   * out of bounds. Char codes above 255 keep their low 8 bits.
   */
  writeLatin1(ptr: number, s: string): boolean {
    const bytes = this.#u8();
    if (!inBounds(bytes.byteLength, ptr, s.length)) return false;
    for (let i = 0; i < s.length; i++) bytes[ptr + i] = s.charCodeAt(i);
    return true;
  }

  /** Copies `bytes` to `ptr`; `false` (nothing written) when out of bounds. */
  write(ptr: number, bytes: Uint8Array): boolean {
    const target = this.#u8();
    if (!inBounds(target.byteLength, ptr, bytes.byteLength)) return false;
    target.set(bytes, ptr);
    return true;
  }

  /** The u32 (little-endian) at `ptr`; `undefined` when any of its 4 bytes is out of bounds. */
  readU32(ptr: number): number | undefined {
    const view = this.#dataView();
    if (!inBounds(view.byteLength, ptr, 4)) return undefined;
    return view.getUint32(ptr, true);
  }

  /**
   * Writes `value` as a little-endian u32 (e.g. through a `return_*` pointer). `value` may be a u32
   * or a signed i32 (an allocator result read without `>>> 0`); it is stored as `value >>> 0`.
   * `false` (nothing written) when out of bounds, or when `value` is not an integer in
   * [-2^31, 2^32), which is a host bug rather than a guest one.
   */
  writeU32(ptr: number, value: number): boolean {
    const view = this.#dataView();
    if (!inBounds(view.byteLength, ptr, 4)) return false;
    if (!Number.isInteger(value) || value < -(2 ** 31) || value >= U32_LIMIT) return false;
    view.setUint32(ptr, value >>> 0, true);
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
