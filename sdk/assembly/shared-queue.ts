/**
 * Shared queues (proxy-wasm-abi.md §3.11): named FIFO queues shared by every VM with the same vm_id.
 * The root context that registers a queue gets `onQueueReady(queueId)` after each enqueue (later,
 * from the event loop); any context can enqueue to a queue it resolved by name.
 */
import { WasmResult } from "./enums";
import {
  proxy_dequeue_shared_queue,
  proxy_enqueue_shared_queue,
  proxy_register_shared_queue,
  proxy_resolve_shared_queue,
} from "./imports";
import { clearReturned, dropReturned, RET_NUMBER, RET_PTR, RET_SIZE, takeReturnedBytes } from "./memory";

/**
 * Creates (or opens) queue `name` of this VM and makes the calling root context its listener.
 * Call from a root context (onConfigure). Returns the queue id, or 0 if the host refused.
 */
export function registerSharedQueue(name: string): u32 {
  const n = String.UTF8.encode(name);
  store<u32>(RET_NUMBER, 0);
  if (proxy_register_shared_queue(changetype<usize>(n), <usize>n.byteLength, RET_NUMBER) != WasmResult.Ok) return 0;
  return load<u32>(RET_NUMBER);
}

/** Id of queue `name` registered by VM `vmId` ("" = this VM), or 0 when there is none. */
export function resolveSharedQueue(vmId: string, name: string): u32 {
  const v = String.UTF8.encode(vmId);
  const n = String.UTF8.encode(name);
  store<u32>(RET_NUMBER, 0);
  if (proxy_resolve_shared_queue(changetype<usize>(v), <usize>v.byteLength, changetype<usize>(n), <usize>n.byteLength, RET_NUMBER) != WasmResult.Ok) return 0;
  return load<u32>(RET_NUMBER);
}

/** Appends `value` to queue `queueId`; NotFound for an unknown id. */
export function enqueueSharedQueue(queueId: u32, value: ArrayBuffer): WasmResult {
  return <WasmResult>proxy_enqueue_shared_queue(queueId, changetype<usize>(value), <usize>value.byteLength);
}

/** `enqueueSharedQueue` with a UTF-8 string. */
export function enqueueSharedQueueString(queueId: u32, value: string): WasmResult {
  return enqueueSharedQueue(queueId, String.UTF8.encode(value));
}

/** Removes and returns the oldest item, or null when the queue is empty (or unknown). */
export function dequeueSharedQueue(queueId: u32): ArrayBuffer | null {
  clearReturned();
  if (proxy_dequeue_shared_queue(queueId, RET_PTR, RET_SIZE) != WasmResult.Ok) {
    dropReturned();
    return null;
  }
  return takeReturnedBytes();
}

/** `dequeueSharedQueue` decoded as UTF-8. */
export function dequeueSharedQueueString(queueId: u32): string | null {
  const bytes = dequeueSharedQueue(queueId);
  return bytes == null ? null : String.UTF8.decode(bytes);
}
