/**
 * Numeric enumerations of the proxy-wasm ABI (0.1.0, 0.2.0, 0.2.1), as they cross the wasm boundary.
 *
 * Source: /work/shared/docs/proxy-wasm-abi.md §4 (values), §2.2 (version differences), §3.6 and §7.4
 * (what each status obliges). This is a contract file: every value says who must do what next.
 *
 * Each enum is an `as const` object plus a union type of its values (the code runs by type stripping,
 * so TypeScript `enum` is not available). The values are the wire numbers; never renumber them.
 * Names follow the spec's C names in PascalCase (`NOT_FOUND` → `NotFound`).
 */

/**
 * `proxy_status_t`: the i32 result of every `proxy_*` host function.
 *
 * A guest mistake (bad pointer, unknown map id, call outside its callback) is answered with one of
 * these, never with a thrown error or a trap. SDKs treat anything they do not expect as fatal (Rust
 * panics), so a host must return only the statuses listed for each call in §3.
 *
 * The spec lists 0,1,2,3,4,6,7,8,10,12; BadExpression 5, ResultMismatch 9 and BrokenConnection 11
 * exist in cpp-sdk, cpp-host and the AssemblyScript SDK and are used by Envoy (Appendix A #12).
 */
export const WasmResult = {
  /** Success. Any `return_*` pointers have been written; the guest may read them. */
  Ok: 0,
  /**
   * The key, property, queue, shared-data entry or callout does not exist. Nothing was written to
   * the return pointers. For `proxy_get_header_map_value` a missing key is NotFound only in 0.2.x;
   * in 0.1.0 the host must answer Ok with an empty value instead.
   */
  NotFound: 1,
  /**
   * An argument is invalid for this call: unknown map/buffer/stream id (checked first), a map that
   * is not available in the current callback, a malformed request. The call had no effect.
   */
  BadArgument: 2,
  /** The host could not serialize the value it was asked to return (e.g. a property). Nothing written. */
  SerializationFailure: 3,
  /** The host could not parse guest-provided bytes (pairs, property path, config). The call had no effect. */
  ParseFailure: 4,
  /** An expression (Envoy CEL) failed to evaluate. Not in the written spec. */
  BadExpression: 5,
  /**
   * A guest pointer/size pair falls outside linear memory, or the guest allocator returned an
   * unusable block. The call had no effect; the guest is at fault.
   */
  InvalidMemoryAccess: 6,
  /** The source is empty (e.g. `proxy_dequeue_shared_queue` on an empty queue). The guest may retry later. */
  Empty: 7,
  /**
   * Compare-and-swap failed on `proxy_set_shared_data`: the stored CAS no longer matches. Nothing
   * was stored; the guest must re-read the entry (getting the new CAS) and retry.
   */
  CasMismatch: 8,
  /** A result did not match what was expected. Not in the written spec. */
  ResultMismatch: 9,
  /** The host failed internally; the guest cannot fix it. The call had no effect. */
  InternalFailure: 10,
  /**
   * The connection is gone. Envoy reports this from `proxy_get_status` after a failed http call.
   * Not in the written spec.
   */
  BrokenConnection: 11,
  /**
   * The host does not implement this call or this variant (e.g. upstream resume in Envoy). The
   * guest must carry on without it.
   */
  Unimplemented: 12,
} as const;
export type WasmResult = (typeof WasmResult)[keyof typeof WasmResult];

/**
 * `proxy_log_level_t`: level argument of `proxy_log` and the value written by `proxy_get_log_level`
 * (0.2.1 only). `proxy_log` with a level above Critical ⇒ BadArgument (nothing logged).
 */
export const LogLevel = {
  Trace: 0,
  Debug: 1,
  Info: 2,
  Warn: 3,
  Error: 4,
  Critical: 5,
} as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

/**
 * Envoy may write 6 ("off") from `proxy_get_log_level`; it is outside every SDK enum (Rust has no 6),
 * so a host must clamp to 0..5 before writing (Appendix A #17). Kept separate from LogLevel so it is
 * never mistaken for a real level.
 */
export const LOG_LEVEL_OFF_ENVOY = 6 as const;

/**
 * `proxy_map_type_t`: which header map a `proxy_*_header_map_*` call addresses.
 * An id above 7 ⇒ BadArgument, checked before anything else. A map exists only in its own callbacks
 * (request headers during `proxy_on_request_headers` and while paused from it; 4/5 only in gRPC
 * metadata callbacks; 6/7 only in `proxy_on_http_call_response`); outside them ⇒ BadArgument.
 */
export const MapType = {
  HttpRequestHeaders: 0,
  HttpRequestTrailers: 1,
  HttpResponseHeaders: 2,
  HttpResponseTrailers: 3,
  /** cpp name `GrpcReceiveInitialMetadata`. */
  GrpcCallInitialMetadata: 4,
  GrpcCallTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;
export type MapType = (typeof MapType)[keyof typeof MapType];

/**
 * `proxy_buffer_type_t`: which byte buffer `proxy_get_buffer_bytes` / `proxy_set_buffer_bytes` address.
 * Values 6, 7 and 8 exist from 0.2.0 on (they replace 0.1.0's `proxy_get_configuration`); a 0.1.0
 * guest never passes them.
 */
export const BufferType = {
  /** Readable/writable only inside `proxy_on_request_body` (current or buffered chunk). */
  HttpRequestBody: 0,
  /** Readable/writable only inside `proxy_on_response_body`. */
  HttpResponseBody: 1,
  /** TCP: readable in `proxy_on_downstream_data`. */
  DownstreamData: 2,
  /** TCP: readable in `proxy_on_upstream_data` (the spec text wrongly says downstream, Appendix A #7). */
  UpstreamData: 3,
  /** Body of an http callout; read it in `proxy_on_http_call_response` (not HttpResponseBody, Appendix A #6). */
  HttpCallResponseBody: 4,
  /** cpp name `GrpcReceiveBuffer`: the message in `proxy_on_grpc_receive`. */
  GrpcCallMessage: 5,
  /** 0.2.x: VM configuration, readable inside `proxy_on_vm_start`. */
  VmConfiguration: 6,
  /** 0.2.x: plugin configuration, readable inside `proxy_on_configure`. */
  PluginConfiguration: 7,
  /** 0.2.x, cpp name `CallData`: arguments of `proxy_on_foreign_function`. */
  ForeignFunctionArguments: 8,
} as const;
export type BufferType = (typeof BufferType)[keyof typeof BufferType];

/** Buffer flags. Defined by the spec; cpp-host never sets it, and a host need not either. */
export const BufferFlags = {
  EndOfStream: 1,
} as const;
export type BufferFlags = (typeof BufferFlags)[keyof typeof BufferFlags];

/**
 * `proxy_stream_type_t` (0.2.x only): argument of `proxy_continue_stream` and `proxy_close_stream`.
 * In 0.1.0 the guest resumes with `proxy_continue_request()` / `proxy_continue_response()` instead.
 * A resume is always deferred by the host until the current guest call returns; continuing a
 * stream that is not paused is a harmless no-op answered with Ok.
 */
export const StreamType = {
  HttpRequest: 0,
  HttpResponse: 1,
  /** TCP downstream: resumes after `proxy_on_new_connection`/`proxy_on_downstream_data` paused. */
  Downstream: 2,
  /** TCP upstream: resume is Unimplemented in Envoy. */
  Upstream: 3,
} as const;
export type StreamType = (typeof StreamType)[keyof typeof StreamType];

/**
 * `proxy_action_t`: the only values the Rust and Go SDKs return from stream callbacks. The host reads
 * the number with the callback-specific enum below (1 from a headers callback is
 * FilterHeadersStatus.StopIteration, from a body callback FilterDataStatus.StopIterationAndBuffer).
 */
export const Action = {
  /** Proceed; the host forwards the headers/data and calls the next filter. */
  Continue: 0,
  /** Stop; the guest (or a later callback of it) must resume with `proxy_continue_stream`. */
  Pause: 1,
} as const;
export type Action = (typeof Action)[keyof typeof Action];

/**
 * Result of TCP callbacks (`proxy_on_new_connection`, `proxy_on_downstream_data`,
 * `proxy_on_upstream_data`; cpp-sdk/AS name). Any non-zero value is StopIteration (cpp-host clamp).
 */
export const FilterStatus = {
  Continue: 0,
  /** Hold the connection data; the guest resumes with `proxy_continue_stream(Downstream)`. */
  StopIteration: 1,
} as const;
export type FilterStatus = (typeof FilterStatus)[keyof typeof FilterStatus];

/**
 * Result of `proxy_on_request_headers` / `proxy_on_response_headers`.
 * Out of range (> 4) is clamped by cpp-host to StopAllIterationAndWatermark.
 */
export const FilterHeadersStatus = {
  /** Forward the headers and continue the chain. The host stops exposing this header map. */
  Continue: 0,
  /**
   * Stop; the guest must later call `proxy_continue_stream` (0.1.0: `proxy_continue_request/response`).
   * cpp-host rewrites this to StopAllIterationAndWatermark unless Envoy's
   * `allow_on_headers_stop_iteration` is set, so the guest's body callbacks do not fire meanwhile.
   */
  StopIteration: 1,
  /** Forward and end the stream. cpp-host passes it through but Envoy maps it to Continue. */
  ContinueAndEndStream: 2,
  /**
   * Stop headers, body and trailers; the host buffers incoming body against the buffer limit
   * (413/500 on overflow) until the guest resumes. C++/AS guests only.
   */
  StopAllIterationAndBuffer: 3,
  /**
   * Stop headers, body and trailers; the host holds incoming body with back-pressure (watermarks)
   * until the guest resumes, then forwards the headers and delivers the held body to this filter.
   */
  StopAllIterationAndWatermark: 4,
} as const;
export type FilterHeadersStatus = (typeof FilterHeadersStatus)[keyof typeof FilterHeadersStatus];

/**
 * Result of `proxy_on_request_body` / `proxy_on_response_body`.
 * Out of range (> 3) is clamped by cpp-host to StopIterationNoBuffer.
 */
export const FilterDataStatus = {
  /** Forward this chunk (and anything buffered before it). */
  Continue: 0,
  /**
   * Keep this chunk in the host's buffer and call the callback again for the next chunk with
   * `body_size` = total buffered; exceeding the buffer limit ⇒ 413 (request) / 500 (response).
   * Rust/Go `Action.Pause`.
   */
  StopIterationAndBuffer: 1,
  /** Hold the data with back-pressure (watermarks) instead of a hard limit. */
  StopIterationAndWatermark: 2,
  /** Stop; the host does not keep this chunk for later dispatch: the guest takes responsibility for it. */
  StopIterationNoBuffer: 3,
} as const;
export type FilterDataStatus = (typeof FilterDataStatus)[keyof typeof FilterDataStatus];

/** Result of the trailers callbacks. Out of range (> 1) is clamped to StopIteration. */
export const FilterTrailersStatus = {
  Continue: 0,
  /** Hold the trailers until the guest resumes with `proxy_continue_stream`. */
  StopIteration: 1,
} as const;
export type FilterTrailersStatus = (typeof FilterTrailersStatus)[keyof typeof FilterTrailersStatus];

/** Result of the metadata callbacks. Only Continue exists; the host treats every value as Continue. */
export const FilterMetadataStatus = {
  Continue: 0,
} as const;
export type FilterMetadataStatus = (typeof FilterMetadataStatus)[keyof typeof FilterMetadataStatus];

/**
 * `proxy_peer_type_t`: who closed a TCP connection, passed to `proxy_on_downstream_connection_close`
 * and `proxy_on_upstream_connection_close`. Informational: nothing is owed in return.
 */
export const PeerType = {
  Unknown: 0,
  Local: 1,
  Remote: 2,
} as const;
export type PeerType = (typeof PeerType)[keyof typeof PeerType];

/** cpp-host's name for PeerType; same values. */
export const CloseType = PeerType;
export type CloseType = PeerType;

/**
 * `proxy_metric_type_t`: argument of `proxy_define_metric`; type > 2 ⇒ BadArgument. Envoy's metric
 * ids carry the type in their low 2 bits (counters 4, 8, …; gauges 5, 9, …; histograms 6, 10, …).
 * Counters: `proxy_increment_metric` delta must be > 0. Gauges: increment adds/subtracts, record sets.
 * Histograms: only `proxy_record_metric`; increment and `proxy_get_metric` ⇒ BadArgument.
 */
export const MetricType = {
  Counter: 0,
  Gauge: 1,
  Histogram: 2,
} as const;
export type MetricType = (typeof MetricType)[keyof typeof MetricType];

/**
 * gRPC status codes, as passed in `proxy_on_grpc_close` and `proxy_send_local_response`.
 * SDKs pass InvalidCode (-1) to `proxy_send_local_response` to mean "not gRPC": the host must then
 * not add a gRPC status to the local reply. Signed: read that argument as i32, not `>>> 0`.
 */
export const GrpcStatus = {
  Ok: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
  InvalidCode: -1,
} as const;
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];
