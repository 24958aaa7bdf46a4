/**
 * The contract between the proxy-wasm host-function table (host-functions.ts) and whatever runs
 * the guest: the proxy's VM (runtime/wasm) or the in-process test harness.
 *
 * host-functions.ts owns everything about the wire: i32 → unsigned conversion, bounds checks on
 * guest pointers, decoding pairs/paths/strings from guest memory, range checks on enum arguments
 * (map id > 7, buffer id > 8, stream type > 3, metric type > 2 ⇒ BadArgument before anything else),
 * and the "returned memory" protocol (one exact-size allocation per returned value, 0/0 for empty,
 * never a 0-byte allocation; proxy-wasm-abi.md §1, §3.1).
 *
 * A HostContext owns the semantics: which context a call acts on (current or effective, root of
 * the effective context for http/gRPC calls), what is available in the current callback, and every
 * side effect. Its methods receive decoded, bounds-checked arguments and answer with a WasmResult
 * or a value. They never throw for a guest mistake; a thrown error is a host bug and traps the
 * guest call (the VM treats it like any trap).
 *
 * Strings that name HTTP things (header names and values, paths, cluster names) are byte strings:
 * one char per byte (latin1), because that is how Node carries header bytes; the guest's bytes
 * reach the wire unchanged. Log messages and metric names are decoded as UTF-8.
 *
 * Actions that would re-enter the stream (continue, close, local reply, proxy_done) are accepted
 * by the HostContext immediately (answer Ok) and carried out after the current guest call returns
 * (§7.3, §7.4, STYLE.md "Crossing into WebAssembly").
 */
import type { AbiVersion } from './abi-version.ts';
import type { GuestMemory } from './guest-memory.ts';
import type { BufferType, LogLevel, MapType, MetricType, StreamType, WasmResult } from './enums.ts';

/** Header-map pairs as byte strings, in order, duplicates kept. */
export type Pairs = Array<[string, string]>;

/**
 * A body or data buffer the guest may read (and, when `set` exists, modify).
 * `bytes()` may return a view; the caller copies it into guest memory before anything else runs.
 */
export interface HostBuffer {
  bytes(): Uint8Array;
  /**
   * Envoy semantics (§3.5, Appendix A #5): `start == 0` drains `size` bytes then prepends `data`;
   * `start >= length` appends; anything else ⇒ BadArgument. Absent ⇒ the buffer is immutable and
   * the table answers BadArgument.
   */
  set?(start: number, size: number, data: Uint8Array): WasmResult;
}

/** A header map (HTTP headers/trailers, gRPC metadata, http-call response headers/trailers). */
export interface HostHeaderMap {
  /** Every pair in order (lower-case keys, pseudo-headers first). */
  pairs(): Pairs;
  /** First value of `key` (lower-case), or undefined. */
  get(key: string): string | undefined;
  /** Envoy `HeaderMap::byteSize()`: sum of key and value lengths. */
  byteSize(): number;
  /** Absent on read-only maps: mutations then answer BadArgument. */
  add?(key: string, value: string): void;
  replace?(key: string, value: string): void;
  remove?(key: string): void;
  /** Removes every key, then adds `pairs`. */
  setPairs?(pairs: Pairs): void;
}

export interface LocalResponse {
  status: number;
  /** Response code details (whitespace already replaced by `_` by the table). */
  details: string;
  body: Uint8Array;
  headers: Pairs;
  /** 0..16 ⇒ a gRPC-style reply; anything else (SDKs pass -1) ⇒ plain HTTP. */
  grpcStatus: number;
}

export interface HttpCallRequest {
  /** Cluster name (byte string). */
  upstream: string;
  headers: Pairs;
  body: Uint8Array;
  trailers: Pairs;
  /** Milliseconds; 0 = no timeout. The table has already refused negative values. */
  timeoutMs: number;
}

export interface GrpcCallRequest {
  /** Serialized envoy.config.core.v3.GrpcService, or a cluster name (§7.2). */
  upstream: Uint8Array;
  service: string;
  method: string;
  initialMetadata: Pairs;
}

/** A value found. */
export type OkAnswer<T> = { result: typeof WasmResult.Ok; value: T };
/** A value, or the status to answer instead of writing it. */
export type Answer<T> = OkAnswer<T> | { result: Exclude<WasmResult, 0>; value?: undefined };

/**
 * The host side of every `env` import. Methods marked "0.1.0" exist only for modules declaring
 * that ABI; the table links the union and the version switches behaviour (`abiVersion`).
 */
export interface HostContext {
  readonly abiVersion: AbiVersion;

  /** The guest's memory, or undefined before the instance's exports are bound (start section). */
  memory(): GuestMemory | undefined;
  /**
   * Calls the guest allocator (`proxy_on_memory_allocate`, else `malloc`) for `size` > 0 bytes.
   * 0 when the guest has no allocator or it failed. The call may grow memory.
   */
  allocate(size: number): number;

  // §3.2 logging, time, log level
  log(level: LogLevel, message: string): void;
  /** Host log level 0..5 (Off is reported as Critical: SDK enums stop at 5). */
  logLevel(): number;
  currentTimeNanoseconds(): bigint;
  /** Sets the tick period of the root context of the current context; 0 disables. */
  setTickPeriodMilliseconds(periodMs: number): WasmResult;

  // §3.3 context management
  setEffectiveContext(contextId: number): WasmResult;
  done(): WasmResult;

  // §3.4 (0.1.0) and §3.5 buffers
  /** 0.1.0 `proxy_get_configuration`: plugin configuration while configuring, else VM configuration. */
  configuration(): Uint8Array;
  /** Ok with the buffer; NotFound when it is not available in the current callback. */
  buffer(type: BufferType): Answer<HostBuffer>;

  // §3.6 header maps
  /**
   * Ok with the map; BadArgument when it is not available now (NotFound is also legal for reads in
   * the access-log phase of 0.2.x). `forWrite` asks for the mutable map (Envoy's availability
   * rules differ for reads and writes).
   */
  headerMap(type: MapType, forWrite: boolean): Answer<HostHeaderMap>;

  // §3.7 properties
  getProperty(path: string[]): Answer<Uint8Array>;
  setProperty(path: string[], value: Uint8Array): WasmResult;

  // §3.8 stream control
  continueStream(type: StreamType): WasmResult;
  closeStream(type: StreamType): WasmResult;
  /** 0.1.0 `proxy_clear_route_cache`. */
  clearRouteCache(): WasmResult;
  sendLocalResponse(response: LocalResponse): WasmResult;
  /** The root context's last call status (§3.8 `proxy_get_status`). */
  status(): { code: number; message: Uint8Array };

  // §3.9 / §3.10 callouts; a token is written only with Ok
  httpCall(request: HttpCallRequest): Answer<number>;
  grpcCall(request: GrpcCallRequest, message: Uint8Array, timeoutMs: number): Answer<number>;
  grpcStream(request: GrpcCallRequest): Answer<number>;
  grpcSend(token: number, message: Uint8Array, endStream: boolean): WasmResult;
  grpcCancel(token: number): WasmResult;
  grpcClose(token: number): WasmResult;

  // §3.11 shared data and queues (scoped by the VM's vm_id)
  getSharedData(key: Uint8Array): Answer<{ value: Uint8Array; cas: number }>;
  setSharedData(key: Uint8Array, value: Uint8Array, cas: number): WasmResult;
  registerSharedQueue(name: string): Answer<number>;
  /** `vmId` empty ⇒ the current VM's vm_id. */
  resolveSharedQueue(vmId: string, name: string): Answer<number>;
  enqueueSharedQueue(queueId: number, value: Uint8Array): WasmResult;
  dequeueSharedQueue(queueId: number): Answer<Uint8Array>;

  // §3.12 metrics
  defineMetric(type: MetricType, name: string): Answer<number>;
  incrementMetric(metricId: number, delta: bigint): WasmResult;
  recordMetric(metricId: number, value: bigint): WasmResult;
  getMetric(metricId: number): Answer<bigint>;

  // §3.13 foreign functions; Ok with an empty result writes 0/0
  callForeignFunction(name: string, args: Uint8Array): Answer<Uint8Array>;

  // §3.14 Envoy helpers
  /** `envoy_resolve_dns`: starts a lookup answered later through `envoy_on_resolve_dns`. */
  resolveDns(address: string): Answer<number>;
}
