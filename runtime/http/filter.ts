import { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus } from '../../abi/enums.ts';
import type { HeaderMap } from './header-map.ts';
import type { StreamInfo } from './stream-info.ts';
import type { RouteEntry } from '../router/route-table.ts';

/**
 * The one HTTP filter interface every filter implements: native TypeScript filters, the router
 * (terminal), and the proxy-wasm adapter. Vocabulary is proxy-wasm's: request/response,
 * headers/body/trailers.
 *
 * Order: request callbacks run in config order, response callbacks in reverse config order.
 * A filter implements only the callbacks it needs; a missing callback behaves as `Continue`.
 * A chain with no request-body callbacks streams the body straight to the router (fast path).
 *
 * Who resumes a stopped stream: the filter that stopped it, by calling
 * `callbacks.continueRequest()` / `continueResponse()` (from any later event-loop turn), or by
 * answering with `callbacks.sendLocalReply()`. Nobody else resumes it; a stream that is never
 * resumed ends by a timeout (stream idle, route) or by the client going away.
 */

/**
 * Callback results are proxy-wasm's own statuses (abi/enums.ts documents each one), so the wasm
 * adapter passes a guest's answer through unchanged:
 * - headers: Continue; StopIteration (body chunks still reach this filter, which may resume by
 *   returning Continue from a body callback); StopAllIterationAndBuffer / ...AndWatermark (body
 *   held without being delivered until resumed). ContinueAndEndStream is treated as Continue.
 * - body: Continue; StopIterationAndBuffer (chunk kept; the filter sees the buffered body next
 *   time); StopIterationAndWatermark (as Buffer, but reading pauses at the limit);
 *   StopIterationNoBuffer (chunk dropped unless the filter re-injects it).
 * - trailers: Continue; StopIteration.
 */
export const HeadersStatus = FilterHeadersStatus;
export type HeadersStatus = FilterHeadersStatus;
export const DataStatus = FilterDataStatus;
export type DataStatus = FilterDataStatus;
export const TrailersStatus = FilterTrailersStatus;
export type TrailersStatus = FilterTrailersStatus;

/**
 * A body chunk on its way down the chain. A filter may replace `data` (e.g. to rewrite a body);
 * the next filter sees the replacement.
 */
export interface BodyChunk {
  data: Buffer;
}

export interface LocalReply {
  status: number;
  body?: string | Buffer;
  headers?: ReadonlyArray<readonly [string, string]>;
  /** `%RESPONSE_CODE_DETAILS%`, e.g. `direct_response`, `route_not_found`. */
  details: string;
  /** Response flag bits to set on the stream. */
  flags?: number;
}

/** What a filter can do to its stream. Legal from any callback and from later event-loop turns. */
export interface FilterCallbacks {
  readonly info: StreamInfo;
  readonly requestHeaders: HeaderMap;
  /** Undefined until response headers exist. */
  readonly responseHeaders: HeaderMap | undefined;
  /** Resumes request iteration after the filter returned a Stop status. No-op if not stopped. */
  continueRequest(): void;
  /** Resumes response iteration after the filter returned a Stop status. No-op if not stopped. */
  continueResponse(): void;
  /**
   * Answers the request locally. Before response headers were sent downstream, the reply passes
   * through every filter's response callbacks (as in Envoy); afterwards the stream is reset.
   * Any upstream request is abandoned.
   */
  sendLocalReply(reply: LocalReply): void;
  /** Resets the stream (closes the downstream connection for HTTP/1). */
  resetStream(details: string): void;
  /** The route selected for the current request headers (re-selected after clearRouteCache). */
  route(): RouteEntry | undefined;
  /** Forget the cached route: the next route() matches again (Envoy clears it when a filter changes headers). */
  clearRouteCache(): void;
  /** The buffered request body (what StopIterationAndBuffer kept), or an empty Buffer. */
  bufferedRequestBody(): Buffer;
  /** Replaces the buffered request body (content-length is the filter's business, as in Envoy). */
  setBufferedRequestBody(data: Buffer): void;
  /** Changes how many request body bytes the chain may buffer for this stream (default: the listener's per_connection_buffer_limit_bytes). */
  setRequestBufferLimit(bytes: number): void;
  bufferedResponseBody(): Buffer;
  setBufferedResponseBody(data: Buffer): void;
}

/**
 * One stream's instance of a filter. A callback that throws fails only its stream: iteration stops
 * at that filter, the error is logged, and the stream answers 500 (`filter_error`), or is reset
 * when its response had already started.
 */
export interface HttpFilter {
  onRequestHeaders?(headers: HeaderMap, endStream: boolean): HeadersStatus;
  onRequestBody?(chunk: BodyChunk, endStream: boolean): DataStatus;
  onRequestTrailers?(trailers: HeaderMap): TrailersStatus;
  onResponseHeaders?(headers: HeaderMap, endStream: boolean): HeadersStatus;
  onResponseBody?(chunk: BodyChunk, endStream: boolean): DataStatus;
  onResponseTrailers?(trailers: HeaderMap): TrailersStatus;
  /** The stream ended (completed, reset or failed); the access log has the final StreamInfo. */
  onStreamComplete?(): void;
}

/**
 * Built once per config snapshot; makes one filter instance per stream.
 * `name` is the filter's config name (used for typed_per_filter_config and stats).
 */
export interface HttpFilterFactory {
  readonly name: string;
  /**
   * The HCM entry said `disabled: true`: the filter runs only on routes whose
   * `typed_per_filter_config[name]` is an `envoy.config.route.v3.FilterConfig` without `disabled`.
   */
  readonly disabledByDefault?: boolean;
  create(callbacks: FilterCallbacks): HttpFilter;
}

/** `typed_per_filter_config` value type that turns a filter on or off for a route (Envoy). */
export const FILTER_CONFIG_TYPE_URL = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';
