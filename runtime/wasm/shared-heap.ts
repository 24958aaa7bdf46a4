/**
 * A lock and a bounded memory allocator inside one SharedArrayBuffer, so that every worker thread of
 * the process can read and change the same structures synchronously (proxy-wasm shared data and
 * shared queues, /work/shared/docs/proxy-wasm-abi.md §3.11).
 *
 * Contract for users of this module (the shared-data and shared-queue stores):
 * - Every read or write of the heap or of the user region happens between `lock()` and `unlock()`,
 *   written as `heap.lock(); try { … } finally { heap.unlock(); }`. The lock's Atomics operations
 *   order the plain typed-array accesses between threads, so no other atomics are needed inside.
 * - Inside the lock, change shared state only with integer arithmetic on the typed arrays,
 *   `alloc`/`free`/`resize` and copies from views checked with `assertAttached` before locking,
 *   none of which can throw. Anything that can throw (allocating a JS result, pushing to an
 *   array) comes before the first change of the operation, so a throw leaves the store as it was
 *   and the `finally` releases the lock.
 * - `alloc` answers 0 when no block is large enough: the store is full. Callers turn that into
 *   WasmResult.InternalFailure after undoing nothing (they allocate before they change anything).
 *
 * The lock cannot protect against `worker.terminate()` landing inside a critical section (V8
 * termination skips `finally`). Instead of hanging every thread forever, `lock()` throws a
 * SluiceError (SLUICE_ERR_INTERNAL) when no thread has released the lock for `lockTimeoutMs`.
 *
 * Layout (byte offsets; words are u32/i32 in the platform's byte order, the same for every thread):
 *   [0, HEADER_WORDS*4)       header: lock, release counter, magic, kind, bounds, counters, free lists
 *   [USER, USER + userBytes)  the user region, owned by the store (its counters and hash tables)
 *   [heapStart, heapEnd)      blocks, each `header | payload | footer`
 *
 * Blocks use boundary tags: the header and the footer word both hold `size | used`, sizes are
 * multiples of 8 (so bit 0 is free for the flag), payloads start 8-aligned. Free blocks are kept in
 * 32 doubly linked lists segregated by floor(log2(size)) and are coalesced with free neighbours on
 * free, so two free blocks are never adjacent. A used sentinel footer before the first block and a
 * used sentinel header after the last one stop coalescing at the ends.
 */
import { ErrorCode, SluiceError } from '../errors.ts';

const W_LOCK = 0; // 0 unlocked, 1 locked, 2 locked with waiters (Drepper's futex mutex)
const W_RELEASES = 1; // bumped on every unlock; lets a waiter tell "busy" from "stuck"
const W_MAGIC = 2;
const W_KIND = 3; // which store owns this buffer
const W_HEAP_START = 4;
const W_HEAP_END = 5;
const W_USED = 6; // bytes in used blocks, headers included
const W_BLOCKS = 7; // number of used blocks
const W_LOCK_TIMEOUT_MS = 8;
const W_USER_WORDS = 9;
const W_FREE_HEADS = 16; // 32 list heads (block offsets, 0 = empty)
const FREE_CLASSES = 32;
const HEADER_WORDS = W_FREE_HEADS + FREE_CLASSES;

const MAGIC = 0x50484c53; // "SLHP"
const USED = 1;
const MIN_BLOCK = 16; // header + next + prev + footer
const BLOCK_OVERHEAD = 8; // header + footer
/** The lock waits in slices of this many ms so that it can notice a holder that never releases. */
const LOCK_SLICE_MS = 50;

/** Word index (into `u32`/`i32`) of the user region; fixed, so stores can lay out their words as constants. */
export const USER_WORD = HEADER_WORDS;
const USER_REGION_OFFSET = HEADER_WORDS * 4;

/** Exposed for fault-injection tests only: the index of the lock word in an Int32Array over the buffer. */
export const LOCK_WORD_INDEX = W_LOCK;

/** Smallest buffer that holds the header, a tiny user region and a few blocks. */
export const MIN_BUFFER_BYTES = 4096;
/** Offsets are u32 and sizes carry a flag bit, so a heap stays below 2 GiB. */
export const MAX_BUFFER_BYTES = 0x7fff_fff8;

export interface FormatOptions {
  /** Total SharedArrayBuffer size in bytes (header, user region and heap). */
  bufferBytes: number;
  /** Identifies the store that owns the buffer; `open` refuses a buffer of another kind. */
  kind: number;
  /** Words the store needs for its own counters and tables, zero-filled. */
  userWords: number;
  /** See the module comment; default 10 s. */
  lockTimeoutMs?: number;
}

/** Result of `verify()`: the first inconsistency found, or undefined when the heap is sound. */
export type HeapProblem = string | undefined;

export class SharedHeap {
  readonly buffer: SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly #lockTimeoutMs: number;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.u8 = new Uint8Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.#lockTimeoutMs = this.u32[W_LOCK_TIMEOUT_MS];
  }

  /** Creates a new buffer and lays out an empty heap in it. Throws SluiceError on bad sizes. */
  static create(opts: FormatOptions): SharedHeap {
    const { bufferBytes, kind, userWords } = opts;
    const lockTimeoutMs = opts.lockTimeoutMs ?? 10_000;
    if (!Number.isSafeInteger(bufferBytes) || bufferBytes < MIN_BUFFER_BYTES || bufferBytes > MAX_BUFFER_BYTES) {
      throw new SluiceError(
        ErrorCode.INTERNAL,
        `shared store capacity must be an integer between ${MIN_BUFFER_BYTES} and ${MAX_BUFFER_BYTES} bytes, got ${bufferBytes}`,
      );
    }
    if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 1 || lockTimeoutMs > 0x7fffffff) {
      throw new SluiceError(ErrorCode.INTERNAL, `shared store lockTimeoutMs must be a positive integer, got ${lockTimeoutMs}`);
    }
    const heapStart = align8(USER_REGION_OFFSET + userWords * 4);
    const heapEnd = bufferBytes & ~7;
    if (heapEnd - heapStart < 4 * MIN_BLOCK) {
      throw new SluiceError(
        ErrorCode.INTERNAL,
        `shared store capacity ${bufferBytes} leaves no room for data after ${heapStart} bytes of tables`,
      );
    }
    // Typed-array views need a whole number of words: drop a ragged tail.
    const buffer = new SharedArrayBuffer(heapEnd);
    const u32 = new Uint32Array(buffer);
    u32[W_MAGIC] = MAGIC;
    u32[W_KIND] = kind;
    u32[W_HEAP_START] = heapStart;
    u32[W_HEAP_END] = heapEnd;
    u32[W_LOCK_TIMEOUT_MS] = lockTimeoutMs;
    u32[W_USER_WORDS] = userWords;
    const heap = new SharedHeap(buffer);
    // Sentinels: a used footer just before the first block, a used zero-size header at the end.
    u32[heapStart >> 2] = USED;
    u32[(heapEnd - 4) >> 2] = USED;
    const first = heapStart + 4;
    heap.#setTags(first, heapEnd - 4 - first, 0);
    heap.#pushFree(first);
    return heap;
  }

  /** Re-attaches to a buffer made by `create` (in this or another thread). Throws SluiceError if it is not one. */
  static open(buffer: unknown, kind: number): SharedHeap {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < MIN_BUFFER_BYTES || buffer.byteLength % 8 !== 0) {
      throw new SluiceError(ErrorCode.INTERNAL, 'shared store handle does not carry a SharedArrayBuffer made by create()');
    }
    const u32 = new Uint32Array(buffer, 0, HEADER_WORDS);
    if (u32[W_MAGIC] !== MAGIC || u32[W_KIND] !== kind) {
      throw new SluiceError(
        ErrorCode.INTERNAL,
        `shared store handle is of kind ${u32[W_KIND].toString(16)} (magic ${u32[W_MAGIC].toString(16)}), expected kind ${kind.toString(16)}`,
      );
    }
    return new SharedHeap(buffer);
  }

  /** Bytes available to blocks (capacity minus header and user tables). */
  get heapBytes(): number {
    return this.u32[W_HEAP_END] - this.u32[W_HEAP_START];
  }

  /** Bytes in used blocks, block overhead included. Read under the lock for an exact figure. */
  get usedBytes(): number {
    return this.u32[W_USED];
  }

  get usedBlocks(): number {
    return this.u32[W_BLOCKS];
  }

  lock(): void {
    const i32 = this.i32;
    let c = Atomics.compareExchange(i32, W_LOCK, 0, 1);
    if (c === 0) return;
    let lastReleases = Atomics.load(i32, W_RELEASES);
    let stuckMs = 0;
    // Bounded: each pass either takes the lock, or observes a release (progress by other threads),
    // or adds LOCK_SLICE_MS to stuckMs, which ends in a throw after lockTimeoutMs.
    for (;;) {
      if (c === 2 || Atomics.compareExchange(i32, W_LOCK, 1, 2) !== 0) {
        Atomics.wait(i32, W_LOCK, 2, LOCK_SLICE_MS);
      }
      c = Atomics.compareExchange(i32, W_LOCK, 0, 2);
      if (c === 0) return;
      const releases = Atomics.load(i32, W_RELEASES);
      if (releases !== lastReleases) {
        lastReleases = releases;
        stuckMs = 0;
      } else if ((stuckMs += LOCK_SLICE_MS) >= this.#lockTimeoutMs) {
        throw new SluiceError(
          ErrorCode.INTERNAL,
          `shared store lock not released for ${stuckMs} ms: a thread was probably terminated inside a store operation`,
        );
      }
    }
  }

  unlock(): void {
    const i32 = this.i32;
    Atomics.add(i32, W_RELEASES, 1);
    if (Atomics.exchange(i32, W_LOCK, 0) === 2) Atomics.notify(i32, W_LOCK, 1);
  }

  /**
   * Allocates a block with at least `payloadBytes` of payload and returns the payload's byte offset
   * (8-aligned, never 0), or 0 when no free block is large enough. Caller holds the lock.
   */
  alloc(payloadBytes: number): number {
    if (payloadBytes > this.heapBytes) return 0;
    const need = blockSize(payloadBytes);
    const u32 = this.u32;
    let cls = sizeClass(need);
    // First fit inside the class of `need` (its blocks may be smaller), then any block of a higher class.
    for (let b = u32[W_FREE_HEADS + cls]; b !== 0; b = u32[(b + 4) >> 2]) {
      if (u32[b >> 2] >= need) return this.#take(b, need);
    }
    for (cls++; cls < FREE_CLASSES; cls++) {
      const b = u32[W_FREE_HEADS + cls];
      if (b !== 0) return this.#take(b, need);
    }
    return 0;
  }

  /** Frees the block whose payload starts at `p`. Caller holds the lock. */
  free(p: number): void {
    const u32 = this.u32;
    let b = p - 4;
    let size = u32[b >> 2] & ~USED;
    u32[W_USED] -= size;
    u32[W_BLOCKS]--;
    const next = b + size;
    const nextTag = u32[next >> 2];
    if ((nextTag & USED) === 0) {
      this.#unlinkFree(next);
      size += nextTag;
    }
    const prevTag = u32[(b - 4) >> 2];
    if ((prevTag & USED) === 0) {
      b -= prevTag;
      this.#unlinkFree(b);
      size += prevTag;
    }
    this.#setTags(b, size, 0);
    this.#pushFree(b);
  }

  /** Payload bytes the block at `p` can hold (at least what was asked for). */
  capacityOf(p: number): number {
    return (this.u32[(p - 4) >> 2] & ~USED) - BLOCK_OVERHEAD;
  }

  /**
   * Resizes the block at `p` in place to hold `payloadBytes`: shrinking gives the tail back,
   * growing takes the free block right after it. Returns false (and changes nothing) when that is
   * not enough; the payload never moves. Caller holds the lock.
   */
  resize(p: number, payloadBytes: number): boolean {
    if (payloadBytes > this.heapBytes) return false;
    const u32 = this.u32;
    const b = p - 4;
    const need = blockSize(payloadBytes);
    let size = u32[b >> 2] & ~USED;
    if (need > size) {
      const next = b + size;
      const nextTag = u32[next >> 2];
      if ((nextTag & USED) !== 0 || size + nextTag < need) return false;
      this.#unlinkFree(next);
      size += nextTag;
      u32[W_USED] += nextTag;
      this.#setTags(b, size, USED);
    }
    this.#split(b, size, need);
    return true;
  }

  /**
   * Walks every block and every free list and reports the first inconsistency. For tests; takes
   * the lock itself.
   */
  verify(): HeapProblem {
    this.lock();
    try {
      return this.#verify();
    } finally {
      this.unlock();
    }
  }

  #verify(): HeapProblem {
    const u32 = this.u32;
    const start = u32[W_HEAP_START] + 4;
    const end = u32[W_HEAP_END] - 4;
    let used = 0;
    let blocks = 0;
    let free = 0;
    let prevFree = false;
    let b = start;
    for (; b < end; ) {
      const tag = u32[b >> 2];
      const size = tag & ~USED;
      if (size < MIN_BLOCK || size % 8 !== 0 || b + size > end) return `block ${b}: bad size ${size}`;
      if (u32[(b + size - 4) >> 2] !== tag) return `block ${b}: footer ${u32[(b + size - 4) >> 2]} != header ${tag}`;
      const isFree = (tag & USED) === 0;
      if (isFree && prevFree) return `block ${b}: two adjacent free blocks`;
      if (isFree) free++;
      else {
        used += size;
        blocks++;
      }
      prevFree = isFree;
      b += size;
    }
    if (b !== end) return `blocks end at ${b}, heap at ${end}`;
    if (used !== u32[W_USED]) return `used bytes ${u32[W_USED]} recorded, ${used} found`;
    if (blocks !== u32[W_BLOCKS]) return `used blocks ${u32[W_BLOCKS]} recorded, ${blocks} found`;
    let listed = 0;
    for (let cls = 0; cls < FREE_CLASSES; cls++) {
      let prev = 0;
      for (let f = u32[W_FREE_HEADS + cls]; f !== 0; f = u32[(f + 4) >> 2]) {
        if (++listed > free) return `free lists hold more blocks than the ${free} free blocks`;
        const tag = u32[f >> 2];
        if ((tag & USED) !== 0) return `used block ${f} on free list ${cls}`;
        if (sizeClass(tag) !== cls) return `block ${f} of size ${tag} on free list ${cls}`;
        if (u32[(f + 8) >> 2] !== prev) return `block ${f}: prev link ${u32[(f + 8) >> 2]} != ${prev}`;
        prev = f;
      }
    }
    if (listed !== free) return `${free} free blocks, ${listed} on free lists`;
    return undefined;
  }

  #take(b: number, need: number): number {
    this.#unlinkFree(b);
    const size = this.u32[b >> 2];
    this.#setTags(b, size, USED);
    this.u32[W_USED] += size;
    this.u32[W_BLOCKS]++;
    this.#split(b, size, need);
    return b + 4;
  }

  /** Used block `b` of `size` keeps `need` bytes; a tail of at least MIN_BLOCK becomes free. */
  #split(b: number, size: number, need: number): void {
    const rest = size - need;
    if (rest < MIN_BLOCK) return;
    const u32 = this.u32;
    this.#setTags(b, need, USED);
    u32[W_USED] -= rest;
    let tail = b + need;
    let tailSize = rest;
    const next = tail + tailSize;
    const nextTag = u32[next >> 2];
    if ((nextTag & USED) === 0) {
      this.#unlinkFree(next);
      tailSize += nextTag;
    }
    this.#setTags(tail, tailSize, 0);
    this.#pushFree(tail);
  }

  #setTags(b: number, size: number, flag: number): void {
    this.u32[b >> 2] = size | flag;
    this.u32[(b + size - 4) >> 2] = size | flag;
  }

  #pushFree(b: number): void {
    const u32 = this.u32;
    const head = W_FREE_HEADS + sizeClass(u32[b >> 2]);
    const first = u32[head];
    u32[(b + 4) >> 2] = first;
    u32[(b + 8) >> 2] = 0;
    if (first !== 0) u32[(first + 8) >> 2] = b;
    u32[head] = b;
  }

  #unlinkFree(b: number): void {
    const u32 = this.u32;
    const next = u32[(b + 4) >> 2];
    const prev = u32[(b + 8) >> 2];
    if (prev !== 0) u32[(prev + 4) >> 2] = next;
    else u32[W_FREE_HEADS + sizeClass(u32[b >> 2])] = next;
    if (next !== 0) u32[(next + 8) >> 2] = prev;
  }
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function blockSize(payloadBytes: number): number {
  return Math.max(MIN_BLOCK, align8(payloadBytes + BLOCK_OVERHEAD));
}

function sizeClass(size: number): number {
  return 31 - Math.clz32(size);
}

/**
 * Throws a TypeError when `view` sits on a detached ArrayBuffer (e.g. guest memory that grew),
 * which `Uint8Array.prototype.set` would otherwise throw halfway through a store operation. Stores
 * call it before taking the lock for every caller-supplied view they copy in.
 */
export function assertAttached(view: Uint8Array, what: string): void {
  if ((view.buffer as ArrayBuffer).detached === true) {
    throw new TypeError(`${what} is a view over a detached ArrayBuffer: re-create views after guest memory grows`);
  }
}

/** Whether `bytes` equals the buffer bytes starting at `at`. */
export function bytesEqual(u8: Uint8Array, at: number, bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (u8[at + i] !== bytes[i]) return false;
  return true;
}

/**
 * FNV-1a over a two-part key (vm_id, then key or queue name), with the first part's length mixed
 * in so that ("ab", "c") and ("a", "bc") differ. Stores compare the bytes too; collisions cost time only.
 */
export function hashOf(first: Uint8Array, second: Uint8Array): number {
  let h = Math.imul(0x811c9dc5 ^ first.length, 0x01000193);
  for (let i = 0; i < first.length; i++) h = Math.imul(h ^ first[i], 0x01000193);
  for (let i = 0; i < second.length; i++) h = Math.imul(h ^ second[i], 0x01000193);
  return h >>> 0;
}

/** The smallest power of two ≥ n, clamped to [min, max] (min and max powers of two). */
export function pow2Between(n: number, min: number, max: number): number {
  let p = min;
  while (p < n && p < max) p *= 2;
  return p;
}
