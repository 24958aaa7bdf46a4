/**
 * Header maps: request/response headers and trailers, http-call response headers/trailers and
 * gRPC metadata, read and changed through the host (proxy-wasm-abi.md §3.6).
 *
 * Every call acts on the context the host is calling (or the one the SDK made effective while
 * delivering an http-call/gRPC response to its originating stream). A map exists only in its own
 * callbacks: request headers in onRequestHeaders and while the request is paused from it, response
 * headers likewise; outside them reads give null/empty and changes answer BadArgument.
 * Pseudo-headers (`:path`, `:method`, `:authority`, `:scheme`, `:status`) are ordinary entries.
 */
import { MapType, WasmResult } from "./enums";
import {
  proxy_add_header_map_value,
  proxy_get_header_map_pairs,
  proxy_get_header_map_size,
  proxy_get_header_map_value,
  proxy_remove_header_map_value,
  proxy_replace_header_map_value,
  proxy_set_header_map_pairs,
} from "./imports";
import { clearReturned, dropReturned, RET_NUMBER, RET_PTR, RET_SIZE, takeReturnedBytes } from "./memory";
import { deserializePairs, HeaderPair, serializePairs } from "./pairs";

/** One of the host's header maps. Use the instances below rather than constructing one. */
export class HeaderMap {
  constructor(public readonly type: MapType) {}

  /** First value of `name` (names are case-insensitive), or null when absent or the map is not available. */
  get(name: string): string | null {
    const key = String.UTF8.encode(name);
    clearReturned();
    const result = proxy_get_header_map_value(this.type, changetype<usize>(key), <usize>key.byteLength, RET_PTR, RET_SIZE);
    if (result != WasmResult.Ok) {
      dropReturned();
      return null;
    }
    return String.UTF8.decode(takeReturnedBytes());
  }

  /** Whether `name` is present. */
  has(name: string): bool {
    return this.get(name) != null;
  }

  /** Sets `name` to `value`, replacing every existing value (adds it if absent). */
  set(name: string, value: string): WasmResult {
    const key = String.UTF8.encode(name);
    const val = String.UTF8.encode(value);
    return <WasmResult>proxy_replace_header_map_value(this.type, changetype<usize>(key), <usize>key.byteLength, changetype<usize>(val), <usize>val.byteLength);
  }

  /** Adds a value for `name`, keeping existing ones. */
  add(name: string, value: string): WasmResult {
    const key = String.UTF8.encode(name);
    const val = String.UTF8.encode(value);
    return <WasmResult>proxy_add_header_map_value(this.type, changetype<usize>(key), <usize>key.byteLength, changetype<usize>(val), <usize>val.byteLength);
  }

  /** Removes every value of `name` (Ok also when it was absent). */
  remove(name: string): WasmResult {
    const key = String.UTF8.encode(name);
    return <WasmResult>proxy_remove_header_map_value(this.type, changetype<usize>(key), <usize>key.byteLength);
  }

  /** Every entry in order, repeated names included. Empty when the map is not available. */
  pairs(): Array<HeaderPair> {
    clearReturned();
    if (proxy_get_header_map_pairs(this.type, RET_PTR, RET_SIZE) != WasmResult.Ok) {
      dropReturned();
      return new Array<HeaderPair>();
    }
    return deserializePairs(takeReturnedBytes());
  }

  /** Replaces the whole map with `pairs`. */
  setPairs(pairs: Array<HeaderPair>): WasmResult {
    const bytes = serializePairs(pairs);
    return <WasmResult>proxy_set_header_map_pairs(this.type, changetype<usize>(bytes), <usize>bytes.byteLength);
  }

  /** Sum of name and value lengths in bytes as the host counts them (Envoy's byteSize); 0 if unavailable. */
  byteSize(): u32 {
    store<u32>(RET_NUMBER, 0);
    if (proxy_get_header_map_size(this.type, RET_NUMBER) != WasmResult.Ok) return 0;
    return load<u32>(RET_NUMBER);
  }
}

/** Request headers: onRequestHeaders, and later while the request is paused from it. */
export const requestHeaders = new HeaderMap(MapType.HttpRequestHeaders);
/** Request trailers: onRequestTrailers (and addable from the last onRequestBody). */
export const requestTrailers = new HeaderMap(MapType.HttpRequestTrailers);
/** Response headers: onResponseHeaders, and later while the response is paused from it. */
export const responseHeaders = new HeaderMap(MapType.HttpResponseHeaders);
/** Response trailers: onResponseTrailers (and addable from the last onResponseBody). */
export const responseTrailers = new HeaderMap(MapType.HttpResponseTrailers);
/** Headers of an http-call response; the SDK reads them for you into HttpCallResponse. */
export const httpCallResponseHeaders = new HeaderMap(MapType.HttpCallResponseHeaders);
/** Trailers of an http-call response; read for you into HttpCallResponse. */
export const httpCallResponseTrailers = new HeaderMap(MapType.HttpCallResponseTrailers);
/** Initial metadata of a gRPC stream; read for you before GrpcStreamHandler.onInitialMetadata. */
export const grpcInitialMetadata = new HeaderMap(MapType.GrpcCallInitialMetadata);
/** Trailing metadata of a gRPC stream; read for you before GrpcStreamHandler.onTrailingMetadata. */
export const grpcTrailingMetadata = new HeaderMap(MapType.GrpcCallTrailingMetadata);
