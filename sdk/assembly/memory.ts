/**
 * Memory shared with the host: the allocator it calls for "returned memory" (proxy-wasm-abi.md §1,
 * §3.1) and the out-parameter slots host calls write into.
 *
 * The allocator hands out raw TLSF blocks (`heap.alloc`), not GC objects: the host keeps only a
 * raw address and writes it into linear memory, where the incremental GC cannot see it, so a GC
 * object would be collected and reused before the SDK read it. The SDK copies every returned block
 * into an ArrayBuffer and frees it at once (`takeReturnedBytes`), so nothing leaks.
 *
 * The out-slots are static: read them right after the host call that wrote them. Internal to the
 * SDK; not part of the public API.
 */

/**
 * Called by the host (exported by the filter through `@sluice/sdk/exports`). One exact-size block
 * per returned value, as the ABI requires.
 */
export function proxy_on_memory_allocate(size: usize): usize {
  return heap.alloc(size);
}

/** `return_ptr_ptr` slot: address of a returned block. */
export const RET_PTR: usize = memory.data(4, 4);
/** `return_size_ptr` slot: size of a returned block. */
export const RET_SIZE: usize = memory.data(4, 4);
/** A u32/u64 out-slot for numbers (cas, ids, sizes, metric values, time). */
export const RET_NUMBER: usize = memory.data(8, 8);
/** A second u32 out-slot, for calls that return two numbers (buffer status flags). */
export const RET_NUMBER2: usize = memory.data(4, 4);

/** Zeroes the returned-block slots, so a host that answers "empty" without writing them reads as (0, 0). */
export function clearReturned(): void {
  store<u32>(RET_PTR, 0);
  store<u32>(RET_SIZE, 0);
}

/** Copies the block the host returned through RET_PTR/RET_SIZE into a new ArrayBuffer and frees it. */
export function takeReturnedBytes(): ArrayBuffer {
  const ptr = <usize>load<u32>(RET_PTR);
  const size = <i32>load<u32>(RET_SIZE);
  clearReturned();
  if (ptr == 0) return new ArrayBuffer(0);
  const out = new ArrayBuffer(size);
  if (size > 0) memory.copy(changetype<usize>(out), ptr, <usize>size);
  heap.free(ptr);
  return out;
}

/** Frees a returned block without reading it (a host answered non-Ok but wrote the slots anyway). */
export function dropReturned(): void {
  const ptr = <usize>load<u32>(RET_PTR);
  clearReturned();
  if (ptr != 0) heap.free(ptr);
}

/** UTF-8 bytes of `s`, no terminator. Keep the result in a local while its address is in use. */
export function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

/** UTF-8 text of `bytes` (invalid sequences become U+FFFD). */
export function fromUtf8(bytes: ArrayBuffer): string {
  return String.UTF8.decode(bytes);
}

/** Address of a buffer for a host call; 0 for null (the ABI's "empty" pointer). */
export function ptrOf(bytes: ArrayBuffer | null): usize {
  return bytes == null ? 0 : changetype<usize>(bytes);
}

/** Length of a buffer for a host call; 0 for null. */
export function sizeOf(bytes: ArrayBuffer | null): usize {
  return bytes == null ? 0 : <usize>bytes.byteLength;
}
