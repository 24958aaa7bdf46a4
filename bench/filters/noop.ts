// @ts-nocheck — AssemblyScript source (compiled at bench start by bench/lib/assemblyscript.ts), not Node TypeScript.
/**
 * Bench filter: does nothing, but exports every callback a stream goes through (context create,
 * request and response headers, log, done, delete), so its row measures what one wasm filter
 * costs per request when the host really crosses into the guest at each step — not a filter
 * whose callbacks the host can skip because they are not exported.
 */

export function proxy_abi_version_0_2_1(): void {}

/**
 * Host-visible allocator (proxy-wasm-abi.md §3.1). A raw heap block outside the GC: the host only
 * holds its address, so a GC object could be collected before the guest reads it.
 */
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
  return 0; // Continue
}

export function proxy_on_response_headers(context_id: u32, num_headers: u32, end_of_stream: u32): u32 {
  return 0; // Continue
}

export function proxy_on_log(context_id: u32): void {}

export function proxy_on_done(context_id: u32): u32 {
  return 1;
}

export function proxy_on_delete(context_id: u32): void {}
