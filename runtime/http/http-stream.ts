import { HeaderMap } from './header-map.ts';
import type { StreamInfo } from './stream-info.ts';
import { ChainDirection, requestStage, responseStage, type ChainSink, type ChainStage } from './filter-chain.ts';
import { FILTER_CONFIG_TYPE_URL, type FilterCallbacks, type HttpFilter, type HttpFilterFactory, type LocalReply } from './filter.ts';
import type { HcmRuntime } from './hcm-runtime.ts';
import type { RouteEntry } from '../router/route-table.ts';
import { Router } from './router.ts';
import { InvalidHeaderError, type H1Exchange, type H1ExchangeSink } from './h1-codec.ts';
import { ResponseFlag } from './response-flags.ts';
import type { IdleTracked } from './idle-sweeper.ts';

const EMPTY = Buffer.alloc(0);

/** Response headers a proxy never forwards (plus whatever `connection` names). */
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * One HTTP request/response exchange: owns all per-request state (headers, filter instances,
 * chain iteration, timers, StreamInfo) and is the `FilterCallbacks` implementation each filter
 * gets a view of. Request side: downstream → filters → router. Response side: router → filters
 * (reverse) → downstream.
 */
export class HttpStream implements H1ExchangeSink {
  readonly info: StreamInfo;
  readonly requestHeaders: HeaderMap;
  responseHeaders: HeaderMap | undefined;
  readonly rt: HcmRuntime;
  /** The downstream request and response (the HTTP/1.1 codec's exchange). */
  readonly downstream: H1Exchange;

  readonly #filters: HttpFilter[];
  readonly #sink: DownstreamSink;
  readonly #router: Router;
  #request: ChainDirection;
  #response: ChainDirection;
  #route: RouteEntry | undefined | null = null;
  /** The stream is over (completed or reset); late events are ignored. */
  #ended = false;
  #localReplyStarted = false;
  /** The downstream request has been received completely (Envoy's remoteDecodeComplete). */
  #requestComplete = false;
  #requestTimer: NodeJS.Timeout | undefined;
  /** For the stream idle timeout (see IdleSweeper). */
  lastActivity: number;
  idleTimeoutMs: number;
  /** IdleSweeper's list links. */
  idlePrev: IdleTracked | undefined = undefined;
  idleNext: IdleTracked | undefined = undefined;
  readonly #readsBody: boolean;

  constructor(rt: HcmRuntime, downstream: H1Exchange, info: StreamInfo, headers: HeaderMap) {
    this.rt = rt;
    this.downstream = downstream;
    downstream.sink = this;
    this.info = info;
    this.requestHeaders = headers;
    info.requestHeaders = headers;
    this.lastActivity = info.startMonotonic;
    this.idleTimeoutMs = rt.streamIdleTimeoutMs;

    this.#router = new Router(this);
    this.#sink = new DownstreamSink(this);
    if (rt.filters.length === 0) {
      this.#filters = NO_FILTERS;
      this.#request = new ChainDirection(NO_STAGES, this.#router, rt.bufferLimit, this);
      this.#response = new ChainDirection(NO_STAGES, this.#sink, rt.bufferLimit, this);
    } else {
      this.#filters = [];
      // Envoy builds the chain after matching the route, so a route can turn filters on or off.
      const route = this.route();
      for (let i = 0; i < rt.filters.length; i++) {
        const f = rt.filters[i];
        if (!filterEnabled(f, route)) continue;
        this.#filters.push(f.create(new StreamFilterCallbacks(this, this.#filters.length)));
      }
      this.#request = new ChainDirection(this.#filters.map(requestStage), this.#router, rt.bufferLimit, this);
      this.#response = new ChainDirection(this.#responseStages(), this.#sink, rt.bufferLimit, this);
    }
    this.#readsBody = this.#request.inspectsBody;
  }

  /** Filters running on this stream (the route may have turned some off). */
  get filterCount(): number {
    return this.#filters.length;
  }

  /** Whether the router must take the body from the chain (else it streams the downstream body directly). */
  get bodyThroughChain(): boolean {
    return this.#readsBody;
  }

  start(hasBody: boolean): void {
    const rt = this.rt;
    this.#attach();
    if (this.idleTimeoutMs > 0) rt.idleSweeper?.add(this);
    if (!hasBody) {
      // Nothing more will arrive: the request is complete with its headers.
      this.info.lastDownstreamRxMs = 0;
      this.#requestComplete = true;
      this.#request.headers(this.requestHeaders, true);
      if (!this.#ended) this.#router.onDownstreamRequestComplete();
      return;
    }
    if (rt.requestTimeoutMs > 0) {
      this.#requestTimer = setTimeout(() => this.#onRequestTimeout(), rt.requestTimeoutMs);
    }
    if (this.#readsBody) {
      this.#request.onResume = () => this.downstream.resumeBody();
      this.#request.headers(this.requestHeaders, false);
      if (!this.#ended) this.downstream.deliverBody();
      return;
    }
    // The router hands the body to the upstream pool when it dispatches (the exchange is its BodySource).
    this.#request.headers(this.requestHeaders, false);
  }

  /** Answers without running the request chain (the request failed admission: 400, 431). */
  reject(reply: LocalReply): void {
    this.#attach();
    this.sendLocalReply(reply);
  }

  #attach(): void {
    // Balanced in #complete, which the exchange's close (onResClose) guarantees.
    this.rt.activeStreams++;
  }

  // ---- route ----

  route(): RouteEntry | undefined {
    if (this.#route === null) {
      this.#route = this.rt.routeTable.match(this.requestHeaders);
      if (this.#route) {
        this.info.routeName = this.#route.name;
        this.info.virtualHostName = this.#route.virtualHostName;
      }
    }
    return this.#route;
  }

  clearRouteCache(): void {
    this.#route = null;
  }

  // ---- request side ----

  /** @internal H1ExchangeSink */
  onReqData(chunk: Buffer): void {
    this.info.bytesReceived += chunk.length;
    this.touch();
    if (!this.#request.data(chunk, false)) this.downstream.pauseBody();
  }

  /** @internal H1ExchangeSink */
  onReqEnd(): void {
    this.info.lastDownstreamRxMs = performance.now() - this.info.startMonotonic;
    this.#requestComplete = true;
    if (this.#requestTimer) {
      clearTimeout(this.#requestTimer);
      this.#requestTimer = undefined;
    }
    if (this.#ended) return;
    if (this.#readsBody && !this.#request.done) this.#request.data(EMPTY, true);
    this.#router.onDownstreamRequestComplete();
  }

  /** Called by the router (fast path) for bytes it streamed straight from `req`. */
  countRequestBytes(n: number): void {
    this.info.bytesReceived += n;
  }

  continueRequest(index: number): void {
    if (!this.#ended) this.#request.resume(index);
  }

  requestChainResumedBySink(): void {
    this.#request.sinkDrained();
    this.downstream.resumeBody();
  }

  bufferedRequestBody(): Buffer {
    return this.#request.bufferedBody();
  }

  setBufferedRequestBody(data: Buffer): void {
    this.#request.setBufferedBody(data);
  }

  // ---- response side (called by the router) ----

  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    if (this.#ended) return;
    this.responseHeaders = headers;
    this.info.responseHeaders = headers;
    this.#response.headers(headers, endStream);
  }

  /** Returns false when the router should pause the upstream until `onDownstreamDrain`. */
  encodeData(data: Buffer, endStream: boolean): boolean {
    if (this.#ended) return true;
    this.touch();
    return this.#response.data(data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.#ended) return;
    this.info.responseTrailers = trailers;
    this.#response.trailers(trailers);
  }

  continueResponse(index: number): void {
    if (!this.#ended) this.#response.resume(index);
  }

  bufferedResponseBody(): Buffer {
    return this.#response.bufferedBody();
  }

  setRequestBufferLimit(bytes: number): void {
    this.#request.setLimit(bytes);
  }

  setBufferedResponseBody(data: Buffer): void {
    this.#response.setBufferedBody(data);
  }

  get responseStarted(): boolean {
    return this.downstream.headersSent;
  }

  // ---- local replies and resets ----

  /**
   * Answers locally (Envoy's sendLocalReply): before anything was sent downstream the reply runs
   * through every filter's response callbacks; after, the stream is reset.
   */
  sendLocalReply(reply: LocalReply): void {
    // A response already written completely is not replaced or reset.
    if (this.#ended || this.downstream.finished) return;
    this.info.responseFlags |= reply.flags ?? 0;
    this.info.responseCodeDetails = reply.details;
    this.#router.abandon();
    if (this.downstream.headersSent || this.#localReplyStarted) {
      this.resetStream(reply.details);
      return;
    }
    this.#localReplyStarted = true;
    const body = reply.body === undefined ? EMPTY : typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
    this.info.localReplyBody = body.length > 0 ? body.toString() : undefined;
    const headers = new HeaderMap([':status', String(reply.status)]);
    if (body.length > 0) {
      headers.add('content-length', String(body.length));
      headers.add('content-type', 'text/plain');
    } else if (reply.status >= 200 && reply.status !== 204 && reply.status !== 304) {
      headers.add('content-length', '0');
    }
    if (reply.headers) for (const [k, v] of reply.headers) headers.add(k, v);
    // A fresh response chain: whatever the upstream response had done is discarded. Once a
    // response was already going through the filters, the reply goes straight downstream
    // (Envoy's sendDirectLocalReply): running it through filters that hold that response would
    // stall it, or re-enter a filter that just failed.
    const direct = this.responseHeaders !== undefined;
    this.#response = new ChainDirection(direct ? NO_STAGES : this.#responseStages(), this.#sink, this.rt.bufferLimit, this);
    this.responseHeaders = headers;
    this.info.responseHeaders = headers;
    const isHead = this.requestHeaders.get(':method') === 'HEAD';
    this.#response.headers(headers, body.length === 0 || isHead);
    if (body.length > 0 && !isHead && !this.#ended) this.#response.data(body, true);
  }

  /** Resets the stream: for HTTP/1 the downstream connection is closed. */
  resetStream(details: string): void {
    if (this.#ended || this.downstream.finished) return;
    this.info.responseCodeDetails ??= details;
    this.info.connectionTerminationDetails ??= details;
    this.#router.abandon();
    this.rt.stats.downstream_rq_tx_reset.inc();
    this.downstream.destroy();
    this.#complete();
  }

  #requestOverflow(): void {
    this.rt.stats.downstream_rq_too_large.inc();
    this.sendLocalReply({ status: 413, body: 'Payload Too Large', details: 'request_payload_too_large' });
  }

  #responseOverflow(): void {
    this.rt.stats.rs_too_large.inc();
    this.sendLocalReply({ status: 500, body: 'Internal Server Error', details: 'response_payload_too_large' });
  }

  // ---- timers ----

  /** The route's `idle_timeout` replaces the HCM's stream idle timeout (0 disables it). */
  setIdleTimeout(ms: number): void {
    this.idleTimeoutMs = ms;
    if (ms > 0) this.rt.idleSweeper?.add(this);
    else this.rt.idleSweeper?.delete(this);
  }

  /** Marks activity for the stream idle timeout. */
  touch(): void {
    this.lastActivity = performance.now();
  }

  /** Called by the IdleSweeper: no byte moved for `stream_idle_timeout`. */
  onIdleTimeout(): void {
    if (this.#ended) return;
    this.rt.stats.downstream_rq_idle_timeout.inc();
    if (this.downstream.headersSent) {
      this.info.responseFlags |= ResponseFlag.StreamIdleTimeout;
      this.resetStream('stream_idle_timeout');
      return;
    }
    // Envoy: 504 when the whole request had arrived (we were waiting on the upstream), else 408.
    this.sendLocalReply({
      status: this.#requestComplete ? 504 : 408,
      body: 'stream timeout',
      details: 'stream_idle_timeout',
      flags: ResponseFlag.StreamIdleTimeout,
    });
  }

  #onRequestTimeout(): void {
    this.#requestTimer = undefined;
    if (this.#ended) return;
    this.rt.stats.downstream_rq_timeout.inc();
    if (this.downstream.headersSent) {
      this.resetStream('request_overall_timeout');
      return;
    }
    this.sendLocalReply({ status: 408, body: 'request timeout', details: 'request_overall_timeout' });
  }

  // ---- downstream writing ----

  #responseStages(): ChainStage[] {
    if (this.#filters.length === 0) return NO_STAGES;
    const stages: ChainStage[] = [];
    for (let i = this.#filters.length - 1; i >= 0; i--) stages.push(responseStage(this.#filters[i]));
    return stages;
  }

  /** ChainOverflowHandler: a direction buffered past its limit. */
  /** ChainOverflowHandler: a filter threw. Answered 500 before the response started, else reset. */
  chainFilterError(direction: ChainDirection, err: unknown): void {
    this.rt.log.error({ err, direction: direction === this.#request ? 'request' : 'response' }, 'http filter threw');
    this.sendLocalReply({ status: 500, body: 'Internal Server Error', details: 'filter_error' });
  }

  chainOverflow(direction: ChainDirection): void {
    if (direction === this.#request) this.#requestOverflow();
    else this.#responseOverflow();
  }

  /** @internal the response chain's sink (see DownstreamSink) */
  writeHeaders(headers: HeaderMap, endStream: boolean): void {
    if (this.#ended || this.downstream.headersSent) return;
    const status = Number(headers.get(':status')) || 500;
    this.info.responseCode = status;
    const rt = this.rt;
    const conn = headers.get('connection');
    if (conn !== undefined) for (const n of conn.toLowerCase().split(',')) headers.remove(n.trim());
    const flat: string[] = [];
    let hasServer = false;
    const kv = headers.raw;
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i];
      if (k.charCodeAt(0) === 58 || HOP_BY_HOP_RESPONSE.has(k)) continue;
      if (k === 'server') {
        hasServer = true;
        continue;
      }
      flat.push(k, kv[i + 1]);
    }
    const upstreamServer = headers.get('server');
    switch (rt.config.server_header_transformation ?? 'OVERWRITE') {
      case 'OVERWRITE':
        flat.push('server', rt.serverName);
        headers.set('server', rt.serverName);
        break;
      case 'APPEND_IF_ABSENT':
        flat.push('server', hasServer ? (upstreamServer as string) : rt.serverName);
        if (!hasServer) headers.set('server', rt.serverName);
        break;
      case 'PASS_THROUGH':
        if (hasServer) flat.push('server', upstreamServer as string);
        break;
    }
    const cfg = rt.config;
    if (cfg.via) {
      const existing = headers.getJoined('via');
      const via = existing === undefined ? cfg.via : `${existing}, ${cfg.via}`;
      headers.set('via', via);
      for (let i = 0; i < flat.length; i += 2) if (flat[i] === 'via') flat.splice(i--, 2);
      flat.push('via', via);
    }
    if (cfg.always_set_request_id_in_response) {
      // Envoy overwrites whatever the upstream sent with the request's id.
      const id = this.requestHeaders.get('x-request-id');
      if (id !== undefined) {
        headers.set('x-request-id', id);
        for (let i = 0; i < flat.length; i += 2) if (flat[i] === 'x-request-id') flat.splice(i--, 2);
        flat.push('x-request-id', id);
      }
    }
    // Envoy (HTTP/1): answering before the request is complete closes the connection after the
    // response, rather than waiting for the rest of the request body.
    // (max_connection_duration and max_requests_per_connection close it in the codec.)
    const close = rt.draining || !this.#requestComplete;
    if (rt.draining) rt.stats.downstream_cx_drain_close.inc();
    try {
      this.downstream.writeHead(status, flat, close);
    } catch (err) {
      if (!(err instanceof InvalidHeaderError)) throw err;
      // A filter set a header HTTP/1.1 cannot carry: nothing of it is written.
      rt.log.warn({ err: err.message }, 'response header not sendable; answering 502');
      this.sendLocalReply({ status: 502, body: 'Bad Gateway', details: 'invalid_response_header' });
      return;
    }
    if (endStream) this.writeData(EMPTY, true);
  }

  /** @internal the response chain's sink (see DownstreamSink) */
  writeData(data: Buffer, endStream: boolean): boolean {
    if (this.#ended) return true;
    this.info.bytesSent += data.length;
    if (endStream) {
      this.downstream.end(data);
      return true;
    }
    if (data.length === 0) return true;
    return this.downstream.write(data);
  }

  /** @internal H1ExchangeSink: the socket drained (called for every drain; harmless when not waiting). */
  onResDrain(): void {
    if (this.#ended) return;
    this.#response.sinkDrained();
    this.#router.onDownstreamDrain();
  }

  /** @internal H1ExchangeSink */
  onResClose(): void {
    if (this.#ended) return;
    if (!this.downstream.finished) {
      // The client went away before the response was complete.
      this.info.responseFlags |= ResponseFlag.DownstreamConnectionTermination;
      this.info.connectionTerminationDetails ??= 'downstream_remote_disconnect';
      this.rt.stats.downstream_rq_rx_reset.inc();
      if (!this.downstream.headersSent) this.info.responseCode = 0;
      this.#router.abandon();
    }
    this.#complete();
  }

  #complete(): void {
    if (this.#ended) return;
    this.#ended = true;
    const info = this.info;
    info.lastDownstreamTxMs = performance.now() - info.startMonotonic;
    this.rt.idleSweeper?.delete(this);
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    const st = this.rt.stats;
    st.downstream_rq_active.dec();
    st.downstream_rq_completed.inc();
    const cls = (info.responseCode / 100) | 0;
    if (cls >= 1 && cls <= 5) {
      st.downstream_rq_xx[cls].inc();
      st.listener_rq_xx[cls].inc();
    }
    st.downstream_rq_time.record(info.lastDownstreamTxMs);
    this.#router.onStreamComplete();
    for (const f of this.#filters) {
      if (f.onStreamComplete) {
        try {
          f.onStreamComplete();
        } catch (err) {
          this.rt.log.error({ err }, 'filter onStreamComplete threw');
        }
      }
    }
    this.rt.accessLog?.log(info);
    if (--this.rt.activeStreams === 0) this.rt.onIdle?.();
  }
}

const NO_FILTERS: HttpFilter[] = [];
const NO_STAGES: ChainStage[] = [];

/** Where the response chain ends: the downstream connection. HTTP/1 trailers are dropped (Envoy's default). */
class DownstreamSink implements ChainSink {
  readonly #s: HttpStream;
  constructor(stream: HttpStream) {
    this.#s = stream;
  }
  headers(headers: HeaderMap, endStream: boolean): void {
    this.#s.writeHeaders(headers, endStream);
  }
  data(data: Buffer, endStream: boolean): boolean {
    return this.#s.writeData(data, endStream);
  }
  trailers(_trailers: HeaderMap): void {
    this.#s.writeData(EMPTY, true);
  }
}


/** Whether filter `f` runs on `route` (a `FilterConfig` on the route or virtual host decides, else the HCM entry). */
function filterEnabled(f: HttpFilterFactory, route: RouteEntry | undefined): boolean {
  const per = route?.perFilterConfig(f.name);
  if (per?.type_url === FILTER_CONFIG_TYPE_URL) return (per.value as { disabled?: unknown }).disabled !== true;
  return f.disabledByDefault !== true;
}

/** The view of a stream one filter gets: `continue*` act on this filter's own stop point. */
class StreamFilterCallbacks implements FilterCallbacks {
  readonly #s: HttpStream;
  readonly #i: number;
  constructor(stream: HttpStream, index: number) {
    this.#s = stream;
    this.#i = index;
  }
  get info() {
    return this.#s.info;
  }
  get requestHeaders() {
    return this.#s.requestHeaders;
  }
  get responseHeaders() {
    return this.#s.responseHeaders;
  }
  continueRequest(): void {
    this.#s.continueRequest(this.#i);
  }
  continueResponse(): void {
    // Response stages are in reverse order.
    this.#s.continueResponse(this.#s.filterCount - 1 - this.#i);
  }
  sendLocalReply(reply: LocalReply): void {
    queueMicrotask(() => this.#s.sendLocalReply(reply));
  }
  resetStream(details: string): void {
    queueMicrotask(() => this.#s.resetStream(details));
  }
  route() {
    return this.#s.route();
  }
  clearRouteCache(): void {
    this.#s.clearRouteCache();
  }
  bufferedRequestBody(): Buffer {
    return this.#s.bufferedRequestBody();
  }
  setBufferedRequestBody(data: Buffer): void {
    this.#s.setBufferedRequestBody(data);
  }
  bufferedResponseBody(): Buffer {
    return this.#s.bufferedResponseBody();
  }
  setBufferedResponseBody(data: Buffer): void {
    this.#s.setBufferedResponseBody(data);
  }
  setRequestBufferLimit(bytes: number): void {
    this.#s.setRequestBufferLimit(bytes);
  }
}
