// @ts-nocheck — AssemblyScript source (compiled at bench start by bench/lib/assemblyscript.ts), not Node TypeScript.
/**
 * Bench filter: the smallest filter that does real header work in both directions. In
 * on_request_headers it reads the request's `:path` (always present, so the host really copies
 * a value into guest memory on every request) and keeps it for the stream; in
 * on_response_headers it adds `x-bench-seen: <path>` to the response. The bench checks that
 * header once before timing, so the row cannot pass with a filter that silently does nothing.
 *
 * Per-stream state lives in a map keyed by context id and is dropped in on_delete, as an SDK
 * filter's context object would be.
 */

@external("env", "proxy_get_header_map_value")
declare function proxy_get_header_map_value(map_type: i32, key_ptr: usize, key_size: usize, ret_ptr_ptr: usize, ret_size_ptr: usize): u32;
@external("env", "proxy_add_header_map_value")
declare function proxy_add_header_map_value(map_type: i32, key_ptr: usize, key_size: usize, value_ptr: usize, value_size: usize): u32;

const REQUEST_HEADERS: i32 = 0;
const RESPONSE_HEADERS: i32 = 2;
const OK: u32 = 0;
const CONTINUE: u32 = 0;

const READ_KEY = String.UTF8.encode(":path");
const ADD_KEY = String.UTF8.encode("x-bench-seen");

/** Two u32 slots the host writes a returned block's address and size into. */
const RET_PTR: usize = heap.alloc(8);
const RET_SIZE: usize = RET_PTR + 4;

/** Per stream: the request value as a host-allocated block, packed as (ptr << 32) | size. */
const seen = new Map<u32, u64>();

export function proxy_abi_version_0_2_1(): void {}

/** Host-visible allocator (§3.1); a raw heap block outside the GC, freed by this filter. */
export function proxy_on_memory_allocate(size: usize): usize {
  return heap.alloc(size);
}

export function proxy_on_context_create(context_id: u32, parent_context_id: u32): void {}

export function proxy_on_vm_start(root_context_id: u32, vm_configuration_size: u32): u32 {
  return 1;
}

export function proxy_on_configure(root_context_id: u32, plugin_configuration_size: u32): u32 {
  return 1;
}

export function proxy_on_request_headers(context_id: u32, num_headers: u32, end_of_stream: u32): u32 {
  const r = proxy_get_header_map_value(
    REQUEST_HEADERS, changetype<usize>(READ_KEY), <usize>READ_KEY.byteLength, RET_PTR, RET_SIZE,
  );
  if (r == OK) {
    seen.set(context_id, (<u64>load<u32>(RET_PTR) << 32) | <u64>load<u32>(RET_SIZE));
  }
  return CONTINUE;
}

export function proxy_on_response_headers(context_id: u32, num_headers: u32, end_of_stream: u32): u32 {
  if (!seen.has(context_id)) return CONTINUE;
  const packed = seen.get(context_id);
  seen.delete(context_id);
  const ptr = <usize>(packed >> 32);
  const size = <usize>(packed & 0xffffffff);
  proxy_add_header_map_value(RESPONSE_HEADERS, changetype<usize>(ADD_KEY), <usize>ADD_KEY.byteLength, ptr, size);
  if (ptr != 0) heap.free(ptr);
  return CONTINUE;
}

export function proxy_on_log(context_id: u32): void {}

export function proxy_on_done(context_id: u32): u32 {
  return 1;
}

/** A stream that ended before its response headers (reset, local reply) still frees its block. */
export function proxy_on_delete(context_id: u32): void {
  if (!seen.has(context_id)) return;
  const ptr = <usize>(seen.get(context_id) >> 32);
  seen.delete(context_id);
  if (ptr != 0) heap.free(ptr);
}
