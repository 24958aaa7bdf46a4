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

/** Result of a headers callback. Values match proxy-wasm's FilterHeadersStatus. */
export const HeadersStatus = {
  /** Pass the headers to the next filter now. */
  Continue: 0,
  /** Stop passing headers on; body chunks are still delivered to this filter (and may resume it). */
  StopIteration: 1,
  /** Stop, and hold body chunks in the stream's buffer (not delivered) until resumed. */
  StopAllIterationAndBuffer: 3,
  /** As StopAllIterationAndBuffer, but reading stops at the buffer limit instead of failing. */
  StopAllIterationAndWatermark: 4,
} as const;
export type HeadersStatus = (typeof HeadersStatus)[keyof typeof HeadersStatus];

/** Result of a body callback. Values match proxy-wasm's FilterDataStatus. */
export const DataStatus = {
  /** Pass this chunk on (and, if this filter had stopped headers, resume the stream). */
  Continue: 0,
  /** Keep this chunk in the stream's buffer; the filter sees the buffered body on the next call. */
  StopIterationAndBuffer: 1,
  /** As StopIterationAndBuffer, but stop reading at the buffer limit instead of failing. */
  StopIterationAndWatermark: 2,
  /** Stop; the chunk is not buffered and is dropped unless the filter re-injects it. */
  StopIterationNoBuffer: 3,
} as const;
export type DataStatus = (typeof DataStatus)[keyof typeof DataStatus];

/** Result of a trailers callback. Values match proxy-wasm's FilterTrailersStatus. */
export const TrailersStatus = {
  Continue: 0,
  StopIteration: 1,
} as const;
export type TrailersStatus = (typeof TrailersStatus)[keyof typeof TrailersStatus];

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
  create(callbacks: FilterCallbacks): HttpFilter;
}
