/**
 * Process-wide proxy-wasm shared data (`proxy_get_shared_data` / `proxy_set_shared_data`,
 * /work/shared/docs/proxy-wasm-abi.md §3.11), visible synchronously to every worker thread.
 *
 * Who does what:
 * - The main thread calls `SharedData.create({ capacityBytes })` once and sends `store.handle` to
 *   every worker (workerData or postMessage; the handle is structured-cloneable and carries a
 *   SharedArrayBuffer, so nothing is copied). Each worker calls `SharedData.attach(handle)` once.
 * - The host functions call `get`/`set` with the calling VM's vm_id. Neither throws for anything a
 *   guest can do: a full store answers WasmResult.InternalFailure and changes nothing.
 * - Whoever tracks VM lifetimes calls `dropVm(vmId)` when the last VM with that vm_id in the whole
 *   process goes away (Envoy deletes the vm_id's data at that point).
 *
 * Semantics follow cpp-host `shared_data.cc`: entries are keyed by (vm_id, key), keys are arbitrary
 * bytes compared bytewise; `cas == 0` sets unconditionally; an existing key with `cas != stored`
 * is CasMismatch; a new key ignores `cas`; every successful set takes the next value of one
 * process-wide u32 counter that starts at 1 and skips 0 when it wraps. There is no delete in the
 * ABI: an SDK "remove" stores an empty value, which is a normal entry here.
 *
 * Storage: one SharedArrayBuffer holding a lock, a chained hash table of bucket heads, and one heap
 * block per entry (see shared-heap.ts). Replacing a value resizes the entry in place when it can
 * and otherwise moves it to a new block and frees the old one, so repeated sets do not grow the store.
 */
import { WasmResult } from '../../abi/enums.ts';
import { ErrorCode, SluiceError } from '../errors.ts';
import { assertAttached, bytesEqual, hashOf, pow2Between, SharedHeap, USER_WORD, type HeapProblem } from './shared-heap.ts';

const KIND = 0x41544144; // "DATA"
const HANDLE_KIND = 'sluice.shared-data';

// User-region words.
const W_CAS = USER_WORD; // last cas handed out (0 before the first set)
const W_ENTRIES = USER_WORD + 1;
const W_BUCKET_MASK = USER_WORD + 2;
const W_BUCKETS = USER_WORD + 3; // bucket heads follow: payload offset of the first entry, 0 = empty

/** Exposed for tests that move the cas counter near its wrap: the word index of the last cas handed out. */
export const CAS_COUNTER_WORD_INDEX = W_CAS;

// Entry block payload layout (byte offsets from the payload start).
const E_NEXT = 0; // next entry in the bucket chain
const E_HASH = 4;
const E_CAS = 8;
const E_VM_LEN = 12;
const E_KEY_LEN = 16;
const E_VALUE_LEN = 20;
const E_BYTES = 24; // vm_id bytes, then key bytes, then value bytes

/** 16 MiB, enough for tens of thousands of small entries. */
export const DEFAULT_SHARED_DATA_BYTES = 16 * 1024 * 1024;

export interface SharedDataOptions {
  /** Size of the SharedArrayBuffer in bytes, tables included. Default DEFAULT_SHARED_DATA_BYTES. */
  capacityBytes?: number;
  /** How long `lock()` waits for a lock nobody releases before it throws (see shared-heap.ts). */
  lockTimeoutMs?: number;
}

/** What crosses to a worker. Structured-cloneable; the buffer is shared, not copied. */
export interface SharedDataHandle {
  readonly kind: typeof HANDLE_KIND;
  readonly buffer: SharedArrayBuffer;
}

export interface SharedDataEntry {
  /** A copy; changing it does not change the store. */
  value: Uint8Array;
  /** The entry's cas (u32, never 0), to pass back to `set` for a conditional update. */
  cas: number;
}

export interface SharedDataStats {
  /** Bytes available to entries (the buffer minus the header and hash table). */
  capacityBytes: number;
  /** Bytes taken by entries, per-block overhead included. */
  usedBytes: number;
  entries: number;
}

const utf8 = new TextEncoder();

export class SharedData {
  readonly handle: SharedDataHandle;
  readonly #heap: SharedHeap;
  // Where find() found the entry's incoming link: the u32 word index holding its offset.
  #link = 0;
  // A VM asks with the same vm_id every time: keep its UTF-8 bytes.
  #lastVmId = '';
  #lastVm = new Uint8Array(0);

  private constructor(heap: SharedHeap) {
    this.#heap = heap;
    this.handle = { kind: HANDLE_KIND, buffer: heap.buffer };
  }

  /** Creates an empty store. Throws SluiceError (SLUICE_ERR_INTERNAL) for an unusable capacity. */
  static create(opts: SharedDataOptions = {}): SharedData {
    const bufferBytes = opts.capacityBytes ?? DEFAULT_SHARED_DATA_BYTES;
    // About one bucket per 512 bytes of capacity, a power of two so that hash & mask picks one.
    const buckets = Number.isSafeInteger(bufferBytes) ? pow2Between(bufferBytes / 512, 64, 1 << 20) : 64;
    const heap = SharedHeap.create({
      bufferBytes,
      kind: KIND,
      userWords: W_BUCKETS - USER_WORD + buckets,
      lockTimeoutMs: opts.lockTimeoutMs,
    });
    heap.u32[W_BUCKET_MASK] = buckets - 1;
    return new SharedData(heap);
  }

  /** Opens the store behind a handle from `create` (any thread). Throws SluiceError for a foreign handle. */
  static attach(handle: SharedDataHandle): SharedData {
    if (handle?.kind !== HANDLE_KIND) {
      throw new SluiceError(ErrorCode.INTERNAL, `SharedData.attach: not a shared-data handle (kind ${String(handle?.kind)})`);
    }
    return new SharedData(SharedHeap.open(handle.buffer, KIND));
  }

  /** The value and cas stored for (vmId, key), or undefined when there is none. */
  get(vmId: string, key: Uint8Array): SharedDataEntry | undefined {
    const vm = this.#vmBytes(vmId);
    const hash = hashOf(vm, key);
    const heap = this.#heap;
    heap.lock();
    try {
      const e = this.#find(vm, key, hash);
      if (e === 0) return undefined;
      const u32 = heap.u32;
      const start = e + E_BYTES + u32[(e + E_VM_LEN) >> 2] + u32[(e + E_KEY_LEN) >> 2];
      // slice() of a view over a SharedArrayBuffer copies into a fresh, unshared ArrayBuffer.
      return { value: heap.u8.slice(start, start + u32[(e + E_VALUE_LEN) >> 2]), cas: u32[(e + E_CAS) >> 2] };
    } finally {
      heap.unlock();
    }
  }

  /**
   * Stores `value` for (vmId, key). `cas` is taken as u32 (`>>> 0`): 0 sets unconditionally,
   * otherwise an existing entry must carry that cas (else CasMismatch). A new key ignores `cas`.
   * Returns Ok, CasMismatch, or InternalFailure when the store has no room (nothing changed).
   */
  set(vmId: string, key: Uint8Array, value: Uint8Array, cas: number): WasmResult {
    assertAttached(key, 'SharedData.set key');
    assertAttached(value, 'SharedData.set value');
    const vm = this.#vmBytes(vmId);
    const hash = hashOf(vm, key);
    const expected = cas >>> 0;
    const need = E_BYTES + vm.length + key.length + value.length;
    const heap = this.#heap;
    const u32 = heap.u32;
    const u8 = heap.u8;
    heap.lock();
    try {
      const old = this.#find(vm, key, hash);
      if (old === 0) {
        const e = heap.alloc(need);
        if (e === 0) return WasmResult.InternalFailure;
        const bucket = W_BUCKETS + (hash & u32[W_BUCKET_MASK]);
        u32[(e + E_NEXT) >> 2] = u32[bucket];
        u32[(e + E_HASH) >> 2] = hash;
        u32[(e + E_VM_LEN) >> 2] = vm.length;
        u32[(e + E_KEY_LEN) >> 2] = key.length;
        u8.set(vm, e + E_BYTES);
        u8.set(key, e + E_BYTES + vm.length);
        this.#storeValue(e, value);
        u32[bucket] = e;
        u32[W_ENTRIES]++;
        return WasmResult.Ok;
      }
      if (expected !== 0 && expected !== u32[(old + E_CAS) >> 2]) return WasmResult.CasMismatch;
      if (heap.resize(old, need)) {
        this.#storeValue(old, value);
        return WasmResult.Ok;
      }
      const e = heap.alloc(need);
      if (e === 0) return WasmResult.InternalFailure;
      // Move the entry: same chain position, header and key; new value; then free the old block.
      const idBytes = u32[(old + E_VM_LEN) >> 2] + u32[(old + E_KEY_LEN) >> 2];
      u32[(e + E_NEXT) >> 2] = u32[(old + E_NEXT) >> 2];
      u32[(e + E_HASH) >> 2] = hash;
      u32[(e + E_VM_LEN) >> 2] = u32[(old + E_VM_LEN) >> 2];
      u32[(e + E_KEY_LEN) >> 2] = u32[(old + E_KEY_LEN) >> 2];
      u8.copyWithin(e + E_BYTES, old + E_BYTES, old + E_BYTES + idBytes);
      this.#storeValue(e, value);
      u32[this.#link] = e;
      heap.free(old);
      return WasmResult.Ok;
    } finally {
      heap.unlock();
    }
  }

  /** Deletes every entry of `vmId`. Call when the last VM with that vm_id goes away. */
  dropVm(vmId: string): void {
    const vm = utf8.encode(vmId);
    const heap = this.#heap;
    const u32 = heap.u32;
    heap.lock();
    try {
      const last = W_BUCKETS + u32[W_BUCKET_MASK];
      for (let bucket = W_BUCKETS; bucket <= last; bucket++) {
        let link = bucket;
        for (let e = u32[link]; e !== 0; e = u32[link]) {
          if (this.#vmMatches(e, vm)) {
            u32[link] = u32[(e + E_NEXT) >> 2];
            heap.free(e);
            u32[W_ENTRIES]--;
          } else {
            link = (e + E_NEXT) >> 2;
          }
        }
      }
    } finally {
      heap.unlock();
    }
  }

  stats(): SharedDataStats {
    const heap = this.#heap;
    heap.lock();
    try {
      return { capacityBytes: heap.heapBytes, usedBytes: heap.usedBytes, entries: heap.u32[W_ENTRIES] };
    } finally {
      heap.unlock();
    }
  }

  /** Checks the allocator's invariants; for tests. */
  verify(): HeapProblem {
    return this.#heap.verify();
  }

  #vmBytes(vmId: string): Uint8Array {
    if (vmId !== this.#lastVmId) {
      this.#lastVm = utf8.encode(vmId);
      this.#lastVmId = vmId;
    }
    return this.#lastVm;
  }

  /** Writes value, its length and a fresh cas into entry `e`, whose block is already large enough. */
  #storeValue(e: number, value: Uint8Array): void {
    const u32 = this.#heap.u32;
    this.#heap.u8.set(value, e + E_BYTES + u32[(e + E_VM_LEN) >> 2] + u32[(e + E_KEY_LEN) >> 2]);
    u32[(e + E_VALUE_LEN) >> 2] = value.length;
    let cas = (u32[W_CAS] + 1) >>> 0;
    if (cas === 0) cas = 1;
    u32[W_CAS] = cas;
    u32[(e + E_CAS) >> 2] = cas;
  }

  /** The entry for (vm, key) or 0; sets #link to the word that points at it. Caller holds the lock. */
  #find(vm: Uint8Array, key: Uint8Array, hash: number): number {
    const u32 = this.#heap.u32;
    let link = W_BUCKETS + (hash & u32[W_BUCKET_MASK]);
    for (let e = u32[link]; e !== 0; e = u32[link]) {
      if (u32[(e + E_HASH) >> 2] === hash && this.#vmMatches(e, vm) && this.#keyMatches(e, vm.length, key)) {
        this.#link = link;
        return e;
      }
      link = (e + E_NEXT) >> 2;
    }
    return 0;
  }

  #vmMatches(e: number, vm: Uint8Array): boolean {
    return this.#heap.u32[(e + E_VM_LEN) >> 2] === vm.length && bytesEqual(this.#heap.u8, e + E_BYTES, vm);
  }

  #keyMatches(e: number, vmLen: number, key: Uint8Array): boolean {
    return this.#heap.u32[(e + E_KEY_LEN) >> 2] === key.length && bytesEqual(this.#heap.u8, e + E_BYTES + vmLen, key);
  }
}
