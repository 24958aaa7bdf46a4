/**
 * Process-wide proxy-wasm shared queues (`proxy_register_shared_queue`, `proxy_resolve_shared_queue`,
 * `proxy_enqueue_shared_queue`, `proxy_dequeue_shared_queue` and the `proxy_on_queue_ready`
 * callback; /work/shared/docs/proxy-wasm-abi.md §3.11 and §6.1 "Queue"), visible synchronously to
 * every worker thread.
 *
 * Who does what:
 * - The main thread calls `SharedQueues.create()` once and sends `queues.handle` to every worker
 *   (workerData or postMessage; structured-cloneable, the SharedArrayBuffer is shared, not copied).
 *   Each thread calls `SharedQueues.attach(handle)` ONCE: the instance stands for the thread.
 * - A thread that runs VMs installs one listener with `onReady(listener)`. The host function for
 *   `proxy_register_shared_queue` calls `register(vmId, name)`: the queue's ready-notification is
 *   then bound to this thread (last registration wins, as in Envoy). The host remembers which root
 *   context registered each queue id, and when the listener is called with a queue id it calls
 *   `proxy_on_queue_ready(root_id, queue_id)` on that root context.
 * - After `enqueue` by ANY thread, the listener of the thread the queue is bound to is called once
 *   per enqueued item, in enqueue order, from that thread's event loop: never synchronously inside
 *   `enqueue`, even when the enqueuing thread is the registering one. A listener call does not
 *   carry the item; the guest dequeues it (and may find the queue empty if someone else did first).
 * - While a listener is installed the instance keeps its thread's event loop alive, like a server
 *   does; `unref()` lets the thread exit anyway, `ref()` undoes that. A thread calls `close()`
 *   before it exits: pending notifications are dropped and its queues are bound to no thread
 *   (items stay; later enqueues notify nobody until someone registers the queue again). A thread
 *   that exits without `close()` leaves its notifications accumulating in the store until it is full.
 * - Whoever tracks VM lifetimes calls `dropVm(vmId)` when the last VM with that vm_id in the whole
 *   process goes away: its queues, their items and their pending notifications are deleted.
 *
 * Results: enqueue answers Ok, NotFound (unknown id) or InternalFailure (no room; nothing changed).
 * dequeue answers the item as a Uint8Array copy, or the number WasmResult.NotFound / WasmResult.Empty
 * (`typeof r === 'number'` tells them apart). Queue ids come from one process-wide counter starting
 * at 1; 0 is never an id (register answers 0 only when the store has no room for a new queue).
 *
 * Notifications use Atomics only: each listening thread owns a slot in the buffer with a FIFO of
 * pending queue ids and a sequence word; an enqueue appends to the FIFO under the lock, then bumps
 * the word and `Atomics.notify`s it; the thread waits on it with `Atomics.waitAsync`, which does not
 * itself hold the event loop open (hence the separate keep-alive timer that `unref()` releases).
 */
import { WasmResult } from '../../abi/enums.ts';
import { ErrorCode, SluiceError } from '../errors.ts';
import { assertAttached, bytesEqual, hashOf, pow2Between, SharedHeap, USER_WORD, type HeapProblem } from './shared-heap.ts';

const KIND = 0x55455551; // "QUEU"
const HANDLE_KIND = 'sluice.shared-queues';

// User-region words, then the name buckets, the id buckets and the thread slots.
const W_LAST_ID = USER_WORD; // last queue id handed out
const W_QUEUES = USER_WORD + 1;
const W_BUCKET_MASK = USER_WORD + 2;
const W_SLOT_COUNT = USER_WORD + 3;
const W_TABLES = USER_WORD + 4;

/** Exposed for tests that move the id counter near its wrap: the word index of the last queue id handed out. */
export const LAST_QUEUE_ID_WORD_INDEX = W_LAST_ID;

// Thread slot words.
const S_STATE = 0; // 0 free, 1 taken by a thread
const S_SEQ = 1; // bumped after every notification appended; the thread waits on it
const S_HEAD = 2; // pending notification FIFO (payload offsets of event blocks)
const S_TAIL = 3;
const SLOT_WORDS = 4;

// Queue block payload layout.
const Q_NEXT_BY_NAME = 0;
const Q_NEXT_BY_ID = 4;
const Q_ID = 8;
const Q_HASH = 12;
const Q_OWNER = 16; // slot index + 1 of the registering thread; 0 = none
const Q_HEAD = 20; // items, oldest first
const Q_TAIL = 24;
const Q_VM_LEN = 28;
const Q_NAME_LEN = 32;
const Q_BYTES = 36; // vm_id bytes, then name bytes

// Item block: next, length, bytes. Event block: next, queue id.
const I_NEXT = 0;
const I_LEN = 4;
const I_BYTES = 8;
const V_NEXT = 0;
const V_QUEUE = 4;
const EVENT_BYTES = 8;

/** Notifications handed to the listener per event-loop turn; the rest follow on the next turn. */
const MAX_BATCH = 1024;
/** setInterval's largest delay: the keep-alive timer never actually fires in practice. */
const KEEP_ALIVE_MS = 0x7fffffff;

export const DEFAULT_SHARED_QUEUE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_THREADS = 256;

export interface SharedQueuesOptions {
  /** Size of the SharedArrayBuffer in bytes, tables included. Default DEFAULT_SHARED_QUEUE_BYTES. */
  capacityBytes?: number;
  /** How many threads can listen at once (instances that called register or onReady and not close). */
  maxThreads?: number;
  /** How long the lock waits for a lock nobody releases before it throws (see shared-heap.ts). */
  lockTimeoutMs?: number;
}

/** What crosses to a worker. Structured-cloneable; the buffer is shared, not copied. */
export interface SharedQueuesHandle {
  readonly kind: typeof HANDLE_KIND;
  readonly buffer: SharedArrayBuffer;
}

/** Called with the queue id once per item enqueued into a queue bound to this thread. */
export type QueueReadyListener = (queueId: number) => void;

export type DequeueResult = Uint8Array | typeof WasmResult.NotFound | typeof WasmResult.Empty;

export interface SharedQueuesStats {
  /** Bytes available to queues, items and notifications (the buffer minus header and tables). */
  capacityBytes: number;
  usedBytes: number;
  queues: number;
  /** Threads holding a slot (registered or listening, not closed). */
  threads: number;
}

const utf8 = new TextEncoder();
const noop = (): void => {};

export class SharedQueues {
  readonly handle: SharedQueuesHandle;
  readonly #heap: SharedHeap;
  readonly #idBuckets: number; // word index of the id table
  readonly #slots: number; // word index of slot 0
  #slot = -1; // this thread's slot, taken on first register/onReady
  #listener: QueueReadyListener | undefined;
  #pumping = false;
  #closed = false;
  #refed = true;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  readonly #batch: number[] = [];
  // Where #findById found the queue's incoming id-chain link (a u32 word index).
  #idLink = 0;

  private constructor(heap: SharedHeap) {
    this.#heap = heap;
    this.handle = { kind: HANDLE_KIND, buffer: heap.buffer };
    const buckets = heap.u32[W_BUCKET_MASK] + 1;
    this.#idBuckets = W_TABLES + buckets;
    this.#slots = W_TABLES + 2 * buckets;
  }

  /** Creates an empty store. Throws SluiceError (SLUICE_ERR_INTERNAL) for an unusable capacity or maxThreads. */
  static create(opts: SharedQueuesOptions = {}): SharedQueues {
    const bufferBytes = opts.capacityBytes ?? DEFAULT_SHARED_QUEUE_BYTES;
    const maxThreads = opts.maxThreads ?? DEFAULT_MAX_THREADS;
    if (!Number.isSafeInteger(maxThreads) || maxThreads < 1 || maxThreads > 65536) {
      throw new SluiceError(ErrorCode.INTERNAL, `shared queues maxThreads must be an integer in [1, 65536], got ${maxThreads}`);
    }
    const buckets = Number.isSafeInteger(bufferBytes) ? pow2Between(bufferBytes / 4096, 64, 65536) : 64;
    const heap = SharedHeap.create({
      bufferBytes,
      kind: KIND,
      userWords: W_TABLES - USER_WORD + 2 * buckets + SLOT_WORDS * maxThreads,
      lockTimeoutMs: opts.lockTimeoutMs,
    });
    heap.u32[W_BUCKET_MASK] = buckets - 1;
    heap.u32[W_SLOT_COUNT] = maxThreads;
    return new SharedQueues(heap);
  }

  /** Opens the store behind a handle from `create`. Call once per thread. Throws SluiceError for a foreign handle. */
  static attach(handle: SharedQueuesHandle): SharedQueues {
    if (handle?.kind !== HANDLE_KIND) {
      throw new SluiceError(ErrorCode.INTERNAL, `SharedQueues.attach: not a shared-queues handle (kind ${String(handle?.kind)})`);
    }
    return new SharedQueues(SharedHeap.open(handle.buffer, KIND));
  }

  /**
   * Creates or opens queue (vmId, name) and binds its notifications to this thread. Returns the
   * queue id (≥ 1), or 0 when the store has no room for a new queue (the host answers
   * InternalFailure). Throws SluiceError after `close()` or when more than maxThreads threads listen.
   */
  register(vmId: string, name: string): number {
    const slot = this.#ensureSlot('register');
    const vm = utf8.encode(vmId);
    const nm = utf8.encode(name);
    const hash = hashOf(vm, nm);
    const heap = this.#heap;
    const u32 = heap.u32;
    heap.lock();
    try {
      let q = this.#findByName(vm, nm, hash);
      if (q === 0) {
        q = heap.alloc(Q_BYTES + vm.length + nm.length);
        if (q === 0) return 0;
        const id = this.#nextId();
        const mask = u32[W_BUCKET_MASK];
        const byName = W_TABLES + (hash & mask);
        const byId = this.#idBuckets + (id & mask);
        u32[(q + Q_NEXT_BY_NAME) >> 2] = u32[byName];
        u32[(q + Q_NEXT_BY_ID) >> 2] = u32[byId];
        u32[(q + Q_ID) >> 2] = id;
        u32[(q + Q_HASH) >> 2] = hash;
        u32[(q + Q_HEAD) >> 2] = 0;
        u32[(q + Q_TAIL) >> 2] = 0;
        u32[(q + Q_VM_LEN) >> 2] = vm.length;
        u32[(q + Q_NAME_LEN) >> 2] = nm.length;
        heap.u8.set(vm, q + Q_BYTES);
        heap.u8.set(nm, q + Q_BYTES + vm.length);
        u32[byName] = q;
        u32[byId] = q;
        u32[W_QUEUES]++;
      }
      u32[(q + Q_OWNER) >> 2] = slot + 1;
      return u32[(q + Q_ID) >> 2];
    } finally {
      heap.unlock();
    }
  }

  /** The id of queue (vmId, name), or undefined when nobody registered it (or its vm_id was dropped). */
  resolve(vmId: string, name: string): number | undefined {
    const vm = utf8.encode(vmId);
    const nm = utf8.encode(name);
    const hash = hashOf(vm, nm);
    const heap = this.#heap;
    heap.lock();
    try {
      const q = this.#findByName(vm, nm, hash);
      return q === 0 ? undefined : heap.u32[(q + Q_ID) >> 2];
    } finally {
      heap.unlock();
    }
  }

  /**
   * Appends a copy of `bytes` (may be empty) to the queue and schedules one listener call on the
   * thread the queue is bound to. Ok, NotFound for an unknown id, InternalFailure when full.
   */
  enqueue(queueId: number, bytes: Uint8Array): WasmResult {
    assertAttached(bytes, 'SharedQueues.enqueue bytes');
    const heap = this.#heap;
    const u32 = heap.u32;
    let wake = -1;
    heap.lock();
    try {
      const q = this.#findById(queueId);
      if (q === 0) return WasmResult.NotFound;
      const item = heap.alloc(I_BYTES + bytes.length);
      if (item === 0) return WasmResult.InternalFailure;
      const owner = u32[(q + Q_OWNER) >> 2];
      let event = 0;
      if (owner !== 0) {
        event = heap.alloc(EVENT_BYTES);
        if (event === 0) {
          heap.free(item);
          return WasmResult.InternalFailure;
        }
      }
      u32[(item + I_NEXT) >> 2] = 0;
      u32[(item + I_LEN) >> 2] = bytes.length;
      heap.u8.set(bytes, item + I_BYTES);
      const tail = u32[(q + Q_TAIL) >> 2];
      if (tail === 0) u32[(q + Q_HEAD) >> 2] = item;
      else u32[(tail + I_NEXT) >> 2] = item;
      u32[(q + Q_TAIL) >> 2] = item;
      if (event !== 0) {
        const slot = this.#slots + (owner - 1) * SLOT_WORDS;
        u32[(event + V_NEXT) >> 2] = 0;
        u32[(event + V_QUEUE) >> 2] = u32[(q + Q_ID) >> 2];
        const last = u32[slot + S_TAIL];
        if (last === 0) u32[slot + S_HEAD] = event;
        else u32[(last + V_NEXT) >> 2] = event;
        u32[slot + S_TAIL] = event;
        wake = slot + S_SEQ;
      }
    } finally {
      heap.unlock();
    }
    if (wake >= 0) {
      Atomics.add(heap.i32, wake, 1);
      Atomics.notify(heap.i32, wake);
    }
    return WasmResult.Ok;
  }

  /** Removes and returns the oldest item (a copy), or WasmResult.NotFound (unknown id) / WasmResult.Empty. */
  dequeue(queueId: number): DequeueResult {
    const heap = this.#heap;
    const u32 = heap.u32;
    heap.lock();
    try {
      const q = this.#findById(queueId);
      if (q === 0) return WasmResult.NotFound;
      const item = u32[(q + Q_HEAD) >> 2];
      if (item === 0) return WasmResult.Empty;
      const start = item + I_BYTES;
      // Copy before unlinking: slice() is the only step that can throw.
      const out = heap.u8.slice(start, start + u32[(item + I_LEN) >> 2]);
      const next = u32[(item + I_NEXT) >> 2];
      u32[(q + Q_HEAD) >> 2] = next;
      if (next === 0) u32[(q + Q_TAIL) >> 2] = 0;
      heap.free(item);
      return out;
    } finally {
      heap.unlock();
    }
  }

  /** Deletes every queue of `vmId`, with its items and pending notifications. */
  dropVm(vmId: string): void {
    const vm = utf8.encode(vmId);
    const heap = this.#heap;
    const u32 = heap.u32;
    heap.lock();
    try {
      const mask = u32[W_BUCKET_MASK];
      for (let bucket = W_TABLES; bucket <= W_TABLES + mask; bucket++) {
        let link = bucket;
        for (let q = u32[link]; q !== 0; q = u32[link]) {
          if (u32[(q + Q_VM_LEN) >> 2] !== vm.length || !bytesEqual(heap.u8, q + Q_BYTES, vm)) {
            link = (q + Q_NEXT_BY_NAME) >> 2;
            continue;
          }
          u32[link] = u32[(q + Q_NEXT_BY_NAME) >> 2];
          this.#findById(u32[(q + Q_ID) >> 2]);
          u32[this.#idLink] = u32[(q + Q_NEXT_BY_ID) >> 2];
          for (let item = u32[(q + Q_HEAD) >> 2]; item !== 0; ) {
            const next = u32[(item + I_NEXT) >> 2];
            heap.free(item);
            item = next;
          }
          heap.free(q);
          u32[W_QUEUES]--;
        }
      }
      // Notifications for the deleted queues would name ids that no longer exist.
      const slots = u32[W_SLOT_COUNT];
      for (let s = 0; s < slots; s++) {
        const slot = this.#slots + s * SLOT_WORDS;
        if (u32[slot + S_STATE] === 0) continue;
        let link = slot + S_HEAD;
        let last = 0;
        for (let ev = u32[link]; ev !== 0; ev = u32[link]) {
          if (this.#findById(u32[(ev + V_QUEUE) >> 2]) === 0) {
            u32[link] = u32[(ev + V_NEXT) >> 2];
            heap.free(ev);
          } else {
            last = ev;
            link = (ev + V_NEXT) >> 2;
          }
        }
        u32[slot + S_TAIL] = last;
      }
    } finally {
      heap.unlock();
    }
  }

  /**
   * Installs this thread's listener (replacing any previous one) and starts listening. The first
   * call happens on a later event-loop turn, never inside this call. Throws SluiceError after `close()`.
   */
  onReady(listener: QueueReadyListener): void {
    this.#ensureSlot('onReady');
    this.#listener = listener;
    if (this.#keepAlive === undefined) {
      this.#keepAlive = setInterval(noop, KEEP_ALIVE_MS);
      if (!this.#refed) this.#keepAlive.unref();
    }
    if (!this.#pumping) {
      this.#pumping = true;
      setImmediate(this.#pump);
    }
  }

  /** Lets the thread exit while the listener is installed (the listener still runs while it lives). */
  unref(): void {
    this.#refed = false;
    this.#keepAlive?.unref();
  }

  /** Undoes `unref()`: an installed listener keeps the thread's event loop alive again. */
  ref(): void {
    this.#refed = true;
    this.#keepAlive?.ref();
  }

  /**
   * Stops listening for good: no more listener calls, pending notifications dropped, this thread's
   * queues bound to no thread, its slot freed for another thread. enqueue/dequeue/resolve/dropVm
   * keep working; register and onReady throw. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener = undefined;
    if (this.#keepAlive !== undefined) clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
    const s = this.#slot;
    if (s < 0) return;
    this.#slot = -1;
    const heap = this.#heap;
    const u32 = heap.u32;
    const slot = this.#slots + s * SLOT_WORDS;
    heap.lock();
    try {
      for (let ev = u32[slot + S_HEAD]; ev !== 0; ) {
        const next = u32[(ev + V_NEXT) >> 2];
        heap.free(ev);
        ev = next;
      }
      u32[slot + S_HEAD] = 0;
      u32[slot + S_TAIL] = 0;
      const mask = u32[W_BUCKET_MASK];
      for (let bucket = this.#idBuckets; bucket <= this.#idBuckets + mask; bucket++) {
        for (let q = u32[bucket]; q !== 0; q = u32[(q + Q_NEXT_BY_ID) >> 2]) {
          if (u32[(q + Q_OWNER) >> 2] === s + 1) u32[(q + Q_OWNER) >> 2] = 0;
        }
      }
      u32[slot + S_STATE] = 0;
    } finally {
      heap.unlock();
    }
    // Resolve our own pending waitAsync so that the pump sees #closed and stops.
    Atomics.add(heap.i32, slot + S_SEQ, 1);
    Atomics.notify(heap.i32, slot + S_SEQ);
  }

  stats(): SharedQueuesStats {
    const heap = this.#heap;
    const u32 = heap.u32;
    heap.lock();
    try {
      let threads = 0;
      for (let s = 0; s < u32[W_SLOT_COUNT]; s++) threads += u32[this.#slots + s * SLOT_WORDS + S_STATE];
      return { capacityBytes: heap.heapBytes, usedBytes: heap.usedBytes, queues: u32[W_QUEUES], threads };
    } finally {
      heap.unlock();
    }
  }

  /** Checks the allocator's invariants; for tests. */
  verify(): HeapProblem {
    return this.#heap.verify();
  }

  /**
   * One listening round: note the sequence word, hand out what is pending, then wait for the word
   * to move past the noted value. Runs from the event loop only (setImmediate or a waitAsync
   * resolution), so a listener never runs inside enqueue.
   */
  readonly #pump = (): void => {
    if (this.#closed || this.#listener === undefined) {
      this.#pumping = false;
      return;
    }
    const i32 = this.#heap.i32;
    const seq = this.#slots + this.#slot * SLOT_WORDS + S_SEQ;
    const seen = Atomics.load(i32, seq);
    const more = this.#deliver();
    if (this.#closed || this.#listener === undefined) {
      this.#pumping = false;
      return;
    }
    if (more) {
      setImmediate(this.#pump);
      return;
    }
    const wait = Atomics.waitAsync(i32, seq, seen);
    if (wait.async) void wait.value.then(this.#pump);
    else setImmediate(this.#pump);
  };

  /** Takes up to MAX_BATCH pending notifications and calls the listener for each. True if more remain. */
  #deliver(): boolean {
    const heap = this.#heap;
    const u32 = heap.u32;
    const slot = this.#slots + this.#slot * SLOT_WORDS;
    const batch = this.#batch;
    batch.length = 0;
    let more: boolean;
    heap.lock();
    try {
      for (let ev = u32[slot + S_HEAD]; ev !== 0 && batch.length < MAX_BATCH; ev = u32[slot + S_HEAD]) {
        batch.push(u32[(ev + V_QUEUE) >> 2]); // may throw: before this event is unlinked
        const next = u32[(ev + V_NEXT) >> 2];
        u32[slot + S_HEAD] = next;
        if (next === 0) u32[slot + S_TAIL] = 0;
        heap.free(ev);
      }
      more = u32[slot + S_HEAD] !== 0;
    } finally {
      heap.unlock();
    }
    let failure: { error: unknown } | undefined;
    for (const id of batch) {
      const listener = this.#listener;
      if (listener === undefined) break; // closed by an earlier call in this batch
      try {
        listener(id);
      } catch (error) {
        failure ??= { error };
      }
    }
    batch.length = 0;
    // A throwing listener is a host bug: report it as an uncaught exception, after the rest of the batch.
    if (failure !== undefined) {
      const { error } = failure;
      queueMicrotask(() => {
        throw error;
      });
    }
    return more;
  }

  #ensureSlot(what: string): number {
    if (this.#closed) {
      throw new SluiceError(ErrorCode.INTERNAL, `SharedQueues.${what} after close(): attach a new instance instead`);
    }
    if (this.#slot >= 0) return this.#slot;
    const heap = this.#heap;
    const u32 = heap.u32;
    let taken = -1;
    heap.lock();
    try {
      for (let s = 0; s < u32[W_SLOT_COUNT]; s++) {
        const slot = this.#slots + s * SLOT_WORDS;
        if (u32[slot + S_STATE] !== 0) continue;
        u32[slot + S_STATE] = 1;
        u32[slot + S_HEAD] = 0;
        u32[slot + S_TAIL] = 0;
        taken = s;
        break;
      }
    } finally {
      heap.unlock();
    }
    if (taken < 0) {
      throw new SluiceError(
        ErrorCode.INTERNAL,
        `SharedQueues.${what}: all ${u32[W_SLOT_COUNT]} thread slots are taken; raise maxThreads or close() instances of exited threads`,
      );
    }
    this.#slot = taken;
    return taken;
  }

  #findById(id: number): number {
    if (!Number.isInteger(id) || id < 1 || id > 0xffffffff) return 0;
    const u32 = this.#heap.u32;
    let link = this.#idBuckets + (id & u32[W_BUCKET_MASK]);
    for (let q = u32[link]; q !== 0; q = u32[link]) {
      if (u32[(q + Q_ID) >> 2] === id) {
        this.#idLink = link;
        return q;
      }
      link = (q + Q_NEXT_BY_ID) >> 2;
    }
    return 0;
  }

  #findByName(vm: Uint8Array, name: Uint8Array, hash: number): number {
    const heap = this.#heap;
    const u32 = heap.u32;
    for (let q = u32[W_TABLES + (hash & u32[W_BUCKET_MASK])]; q !== 0; q = u32[(q + Q_NEXT_BY_NAME) >> 2]) {
      if (
        u32[(q + Q_HASH) >> 2] === hash &&
        u32[(q + Q_VM_LEN) >> 2] === vm.length &&
        u32[(q + Q_NAME_LEN) >> 2] === name.length &&
        bytesEqual(heap.u8, q + Q_BYTES, vm) &&
        bytesEqual(heap.u8, q + Q_BYTES + vm.length, name)
      ) {
        return q;
      }
    }
    return 0;
  }

  /** Next id from the process-wide counter: starts at 1, skips 0 and ids still in use after a wrap. */
  #nextId(): number {
    const u32 = this.#heap.u32;
    let id = u32[W_LAST_ID];
    // Bounded: at most one more step than there are live queues.
    for (let tries = 0; tries <= u32[W_QUEUES]; tries++) {
      id = (id + 1) >>> 0;
      if (id === 0) id = 1;
      if (this.#findById(id) === 0) break;
    }
    u32[W_LAST_ID] = id;
    return id;
  }
}
