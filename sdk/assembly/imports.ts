/**
 * Raw host functions of proxy-wasm ABI 0.2.1 (proxy-wasm-abi.md §3), module `env`, with the exact
 * wasm signatures of the standard (the same ones Envoy links). Only standard 0.2.1 functions are
 * declared here: no 0.1.0-only calls, no Envoy extensions, no AssemblyScript runtime imports, so a
 * filter built with the SDK loads in Envoy as well as in Sluice. AssemblyScript emits an import only
 * for a declaration that is actually called.
 *
 * Filter code should use the typed helpers; these are exported for the rare call the helpers do
 * not cover. Every function returns a WasmResult (u32).
 */

// §3.2 logging, time, log level
@external("env", "proxy_log")
export declare function proxy_log(level: i32, message_ptr: usize, message_size: usize): u32;
@external("env", "proxy_get_log_level")
export declare function proxy_get_log_level(return_level_ptr: usize): u32;
@external("env", "proxy_get_current_time_nanoseconds")
export declare function proxy_get_current_time_nanoseconds(return_time_ptr: usize): u32;
@external("env", "proxy_set_tick_period_milliseconds")
export declare function proxy_set_tick_period_milliseconds(period_ms: u32): u32;

// §3.3 context management
@external("env", "proxy_set_effective_context")
export declare function proxy_set_effective_context(context_id: u32): u32;
@external("env", "proxy_done")
export declare function proxy_done(): u32;

// §3.5 buffers
@external("env", "proxy_get_buffer_bytes")
export declare function proxy_get_buffer_bytes(buffer_type: i32, start: u32, max_size: u32, return_ptr_ptr: usize, return_size_ptr: usize): u32;
@external("env", "proxy_get_buffer_status")
export declare function proxy_get_buffer_status(buffer_type: i32, return_size_ptr: usize, return_flags_ptr: usize): u32;
@external("env", "proxy_set_buffer_bytes")
export declare function proxy_set_buffer_bytes(buffer_type: i32, start: u32, size: u32, data_ptr: usize, data_size: usize): u32;

// §3.6 header maps
@external("env", "proxy_get_header_map_pairs")
export declare function proxy_get_header_map_pairs(map_type: i32, return_ptr_ptr: usize, return_size_ptr: usize): u32;
@external("env", "proxy_set_header_map_pairs")
export declare function proxy_set_header_map_pairs(map_type: i32, ptr: usize, size: usize): u32;
@external("env", "proxy_get_header_map_size")
export declare function proxy_get_header_map_size(map_type: i32, return_size_ptr: usize): u32;
@external("env", "proxy_get_header_map_value")
export declare function proxy_get_header_map_value(map_type: i32, key_ptr: usize, key_size: usize, return_value_ptr_ptr: usize, return_value_size_ptr: usize): u32;
@external("env", "proxy_add_header_map_value")
export declare function proxy_add_header_map_value(map_type: i32, key_ptr: usize, key_size: usize, value_ptr: usize, value_size: usize): u32;
@external("env", "proxy_replace_header_map_value")
export declare function proxy_replace_header_map_value(map_type: i32, key_ptr: usize, key_size: usize, value_ptr: usize, value_size: usize): u32;
@external("env", "proxy_remove_header_map_value")
export declare function proxy_remove_header_map_value(map_type: i32, key_ptr: usize, key_size: usize): u32;

// §3.7 properties
@external("env", "proxy_get_property")
export declare function proxy_get_property(path_ptr: usize, path_size: usize, return_value_ptr_ptr: usize, return_value_size_ptr: usize): u32;
@external("env", "proxy_set_property")
export declare function proxy_set_property(path_ptr: usize, path_size: usize, value_ptr: usize, value_size: usize): u32;

// §3.8 stream control and local responses
@external("env", "proxy_continue_stream")
export declare function proxy_continue_stream(stream_type: i32): u32;
@external("env", "proxy_close_stream")
export declare function proxy_close_stream(stream_type: i32): u32;
@external("env", "proxy_send_local_response")
export declare function proxy_send_local_response(status_code: u32, details_ptr: usize, details_size: usize, body_ptr: usize, body_size: usize, headers_ptr: usize, headers_size: usize, grpc_status: i32): u32;
@external("env", "proxy_get_status")
export declare function proxy_get_status(return_code_ptr: usize, return_message_ptr_ptr: usize, return_message_size_ptr: usize): u32;

// §3.9 HTTP callouts
@external("env", "proxy_http_call")
export declare function proxy_http_call(upstream_ptr: usize, upstream_size: usize, headers_ptr: usize, headers_size: usize, body_ptr: usize, body_size: usize, trailers_ptr: usize, trailers_size: usize, timeout_ms: u32, return_token_ptr: usize): u32;

// §3.10 gRPC callouts (standard signatures, with the initial-metadata pair)
@external("env", "proxy_grpc_call")
export declare function proxy_grpc_call(upstream_ptr: usize, upstream_size: usize, service_ptr: usize, service_size: usize, method_ptr: usize, method_size: usize, initial_metadata_ptr: usize, initial_metadata_size: usize, message_ptr: usize, message_size: usize, timeout_ms: u32, return_token_ptr: usize): u32;
@external("env", "proxy_grpc_stream")
export declare function proxy_grpc_stream(upstream_ptr: usize, upstream_size: usize, service_ptr: usize, service_size: usize, method_ptr: usize, method_size: usize, initial_metadata_ptr: usize, initial_metadata_size: usize, return_token_ptr: usize): u32;
@external("env", "proxy_grpc_send")
export declare function proxy_grpc_send(token: u32, message_ptr: usize, message_size: usize, end_stream: u32): u32;
@external("env", "proxy_grpc_cancel")
export declare function proxy_grpc_cancel(token: u32): u32;
@external("env", "proxy_grpc_close")
export declare function proxy_grpc_close(token: u32): u32;

// §3.11 shared data and shared queues
@external("env", "proxy_get_shared_data")
export declare function proxy_get_shared_data(key_ptr: usize, key_size: usize, return_value_ptr_ptr: usize, return_value_size_ptr: usize, return_cas_ptr: usize): u32;
@external("env", "proxy_set_shared_data")
export declare function proxy_set_shared_data(key_ptr: usize, key_size: usize, value_ptr: usize, value_size: usize, cas: u32): u32;
@external("env", "proxy_register_shared_queue")
export declare function proxy_register_shared_queue(name_ptr: usize, name_size: usize, return_queue_id_ptr: usize): u32;
@external("env", "proxy_resolve_shared_queue")
export declare function proxy_resolve_shared_queue(vm_id_ptr: usize, vm_id_size: usize, name_ptr: usize, name_size: usize, return_queue_id_ptr: usize): u32;
@external("env", "proxy_enqueue_shared_queue")
export declare function proxy_enqueue_shared_queue(queue_id: u32, value_ptr: usize, value_size: usize): u32;
@external("env", "proxy_dequeue_shared_queue")
export declare function proxy_dequeue_shared_queue(queue_id: u32, return_value_ptr_ptr: usize, return_value_size_ptr: usize): u32;

// §3.12 metrics (the only i64 parameters)
@external("env", "proxy_define_metric")
export declare function proxy_define_metric(metric_type: i32, name_ptr: usize, name_size: usize, return_metric_id_ptr: usize): u32;
@external("env", "proxy_increment_metric")
export declare function proxy_increment_metric(metric_id: u32, offset: i64): u32;
@external("env", "proxy_record_metric")
export declare function proxy_record_metric(metric_id: u32, value: u64): u32;
@external("env", "proxy_get_metric")
export declare function proxy_get_metric(metric_id: u32, return_value_ptr: usize): u32;

// §3.13 foreign functions
@external("env", "proxy_call_foreign_function")
export declare function proxy_call_foreign_function(name_ptr: usize, name_size: usize, args_ptr: usize, args_size: usize, return_ptr_ptr: usize, return_size_ptr: usize): u32;
