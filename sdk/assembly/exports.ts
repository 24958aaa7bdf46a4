/**
 * The module's proxy-wasm exports. AssemblyScript exports only the entry file's exports, so every
 * filter's entry file re-exports these with one line:
 *
 *   export * from "@sluice/sdk/exports";
 *
 * ABI 0.2.1 marker, allocator, lifecycle and HTTP stream callbacks, and the callout deliveries.
 * The AssemblyScript runtime hooks (abort/trace/seed routed through proxy_log) are pulled in here
 * too, so asconfig's `--use abort=__sluice_abort` always finds them.
 */
import "./runtime-hooks";

/** ABI marker (never called): this module speaks proxy-wasm 0.2.1. */
export function proxy_abi_version_0_2_1(): void {}

export { proxy_on_memory_allocate } from "./memory";
export {
  proxy_on_context_create,
  proxy_on_vm_start,
  proxy_on_configure,
  proxy_on_tick,
  proxy_on_queue_ready,
  proxy_on_foreign_function,
  proxy_on_log,
  proxy_on_done,
  proxy_on_delete,
  proxy_on_request_headers,
  proxy_on_request_body,
  proxy_on_request_trailers,
  proxy_on_response_headers,
  proxy_on_response_body,
  proxy_on_response_trailers,
} from "./context";
export { proxy_on_http_call_response } from "./http-call";
export {
  proxy_on_grpc_receive_initial_metadata,
  proxy_on_grpc_receive,
  proxy_on_grpc_receive_trailing_metadata,
  proxy_on_grpc_close,
} from "./grpc";
