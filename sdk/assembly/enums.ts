/**
 * Numeric enumerations of the proxy-wasm ABI 0.2.1, as they cross the wasm boundary.
 *
 * The values are wire numbers and must equal the host's (abi/enums.ts); a test parses both files
 * and fails on any difference (test/sdk/enums.test.ts). Never renumber. Each enum says who must do
 * what next; the full contract is in abi/enums.ts and proxy-wasm-abi.md §4.
 */

/**
 * Result of every host call. The SDK's helpers return it where the caller can act on it; a call
 * made outside the callbacks it is legal in answers BadArgument (or NotFound), never a trap.
 */
export enum WasmResult {
  /** Success; any returned value is valid. */
  Ok = 0,
  /** No such key, property, queue entry or callout. */
  NotFound = 1,
  /** Invalid argument, or a map/buffer not available in the current callback. */
  BadArgument = 2,
  SerializationFailure = 3,
  ParseFailure = 4,
  BadExpression = 5,
  /** A pointer the SDK passed is out of bounds (an SDK bug). */
  InvalidMemoryAccess = 6,
  /** Nothing to dequeue from a shared queue; try again after the next onQueueReady. */
  Empty = 7,
  /** Shared data changed since it was read: read it again (new cas) and retry. */
  CasMismatch = 8,
  ResultMismatch = 9,
  InternalFailure = 10,
  /** The http call failed before a response (reported by proxy_get_status). */
  BrokenConnection = 11,
  /** The host does not implement this call. */
  Unimplemented = 12,
}

/** Level of `log()`; the host drops lines below its own level (see `getLogLevel()`). */
export enum LogLevel {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
  Critical = 5,
}

/**
 * Which header map a HeaderMap addresses. Each exists only in its own callbacks: request headers
 * in onRequestHeaders (and while paused from it), HTTP-call response maps in the http-call
 * callback, gRPC metadata in the gRPC stream callbacks.
 */
export enum MapType {
  HttpRequestHeaders = 0,
  HttpRequestTrailers = 1,
  HttpResponseHeaders = 2,
  HttpResponseTrailers = 3,
  GrpcCallInitialMetadata = 4,
  GrpcCallTrailingMetadata = 5,
  HttpCallResponseHeaders = 6,
  HttpCallResponseTrailers = 7,
}

/** Which byte buffer a Body (or a configuration read) addresses. */
export enum BufferType {
  /** The current (or, after StopIterationAndBuffer, the whole buffered) request body; onRequestBody only. */
  HttpRequestBody = 0,
  /** Same for the response; onResponseBody only. */
  HttpResponseBody = 1,
  DownstreamData = 2,
  UpstreamData = 3,
  /** Body of an http-call response; inside the http-call callback only. */
  HttpCallResponseBody = 4,
  /** A received gRPC message; inside the gRPC receive callback only. */
  GrpcCallMessage = 5,
  /** VM configuration; readable any time. */
  VmConfiguration = 6,
  /** Plugin configuration; readable in onConfigure (and the root context's creation) only. */
  PluginConfiguration = 7,
  /** Arguments of onForeignFunction. */
  ForeignFunctionArguments = 8,
}

/** Buffer flags (defined by the spec; hosts do not set them). */
export enum BufferFlags {
  EndOfStream = 1,
}

/** Which side `continueStream` / `closeStream` act on. */
export enum StreamType {
  HttpRequest = 0,
  HttpResponse = 1,
  Downstream = 2,
  Upstream = 3,
}

/** Rust/Go-style result of a stream callback: 1 means Pause (StopIteration / StopIterationAndBuffer). */
export enum Action {
  Continue = 0,
  Pause = 1,
}

/** Result of TCP callbacks. */
export enum FilterStatus {
  Continue = 0,
  StopIteration = 1,
}

/**
 * Result of onRequestHeaders / onResponseHeaders. Any Stop* value leaves the stream paused until
 * this context calls continueRequest() / continueResponse() (or sends a local response).
 */
export enum FilterHeadersStatus {
  Continue = 0,
  /** Hosts turn it into StopAllIterationAndWatermark unless the plugin allows plain StopIteration. */
  StopIteration = 1,
  ContinueAndEndStream = 2,
  StopAllIterationAndBuffer = 3,
  StopAllIterationAndWatermark = 4,
}

/**
 * Result of onRequestBody / onResponseBody. StopIterationAndBuffer keeps the chunk: the callback
 * runs again for the next chunk with the whole buffered body readable; return Continue (usually at
 * end of stream) to pass everything on.
 */
export enum FilterDataStatus {
  Continue = 0,
  StopIterationAndBuffer = 1,
  StopIterationAndWatermark = 2,
  StopIterationNoBuffer = 3,
}

/** Result of onRequestTrailers / onResponseTrailers. */
export enum FilterTrailersStatus {
  Continue = 0,
  StopIteration = 1,
}

/** Result of metadata callbacks (only Continue exists). */
export enum FilterMetadataStatus {
  Continue = 0,
}

/** Who closed a TCP connection. */
export enum PeerType {
  Unknown = 0,
  Local = 1,
  Remote = 2,
}

/** Kind of a metric defined with Counter / Gauge / Histogram. */
export enum MetricType {
  Counter = 0,
  Gauge = 1,
  Histogram = 2,
}

/** gRPC status codes; InvalidCode (-1) in sendLocalResponse means "plain HTTP, not gRPC". */
export enum GrpcStatus {
  Ok = 0,
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
  InvalidCode = -1,
}
