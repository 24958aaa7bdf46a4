import { Readable } from 'node:stream';
import { HeaderMap } from './header-map.ts';
import type { ChainSink } from './filter-chain.ts';
import type { HttpStream } from './http-stream.ts';
import { ResponseFlag } from './response-flags.ts';
import { noteBodyBytes } from './body-gc.ts';
import type { Cluster } from '../upstream/cluster.ts';
import type { Host } from '../upstream/host.ts';
import { UpstreamErrorCode, type BodySource, type UpstreamController, type UpstreamHandler } from '../upstream/h1-pool.ts';
import type { WeightedCluster } from '../router/route-table.ts';

/** Request headers the proxy never forwards (it frames the body and the connection itself). */
export const HOP_BY_HOP_REQUEST: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'expect',
  'content-length',
]);

/**
 * The terminal request filter (Envoy's router): picks the route's cluster and a host, sends the
 * request upstream over the host's keep-alive pool, streams the body both ways with backpressure,
 * and turns upstream failures into Envoy's local replies and response flags.
 */
export class Router implements ChainSink, UpstreamHandler {
  readonly #s: HttpStream;
  #cluster: Cluster | undefined;
  #weighted: WeightedCluster | undefined;
  #host: Host | undefined;
  #controller: UpstreamController | undefined;
  /** Body source handed to the pool when the chain delivers the body chunk by chunk. */
  #body: Readable | undefined;
  #upstreamStart = 0;
  #timeoutMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #requestComplete = false;
  #responseStarted = false;
  #finished = false;
  #active = false;
  /** Dispatched but waiting for a pooled connection (counted in upstream_rq_pending_*). */
  #pending = false;

  constructor(stream: HttpStream) {
    this.#s = stream;
  }

  // ---- request side (sink of the request chain) ----

  headers(headers: HeaderMap, endStream: boolean): void {
    const s = this.#s;
    const rt = s.rt;
    const route = s.route();
    if (route === undefined) {
      rt.stats.no_route.inc();
      s.sendLocalReply({ status: 404, details: 'route_not_found', flags: ResponseFlag.NoRouteFound });
      return;
    }
    if (route.kind === 'direct_response') {
      rt.stats.rq_direct_response.inc();
      const extra = this.#responseHeaderMutations();
      s.sendLocalReply({ status: route.status, body: route.body, details: 'direct_response', headers: extra });
      return;
    }
    if (route.kind === 'redirect') {
      rt.stats.rq_redirect.inc();
      s.sendLocalReply({
        status: route.redirectStatus,
        details: 'direct_response',
        headers: [['location', route.redirectLocation(headers)]],
      });
      return;
    }
    const picked = route.pickCluster(headers);
    const clusterName = picked?.cluster;
    const cluster = clusterName === undefined ? undefined : rt.clusters.get(clusterName);
    if (cluster === undefined) {
      rt.stats.no_cluster.inc();
      s.sendLocalReply({ status: route.clusterNotFoundStatus, details: 'cluster_not_found', flags: ResponseFlag.NoClusterFound });
      return;
    }
    this.#cluster = cluster;
    this.#weighted = picked?.weighted;
    if (route.idleTimeoutMs !== undefined) s.setIdleTimeout(route.idleTimeoutMs);
    s.info.upstreamCluster = cluster.name;
    rt.stats.rq_total.inc();

    // Request rewrites and header mutations (route, vhost, route config levels).
    route.applyRequestHeaders(headers, s.info, picked?.weighted);
    const path = headers.get(':path') ?? '/';
    const rewritten = route.rewritePath(path);
    if (rewritten !== undefined && rewritten !== path) {
      if (!headers.has('x-envoy-original-path')) headers.set('x-envoy-original-path', path);
      headers.set(':path', rewritten);
    }
    const hostRewrite = route.hostRewriteFor(picked?.weighted);
    const hostPicked = cluster.pickHost();
    if (hostRewrite !== undefined) headers.set(':authority', hostRewrite);
    else if (route.autoHostRewrite && hostPicked?.hostname !== undefined) headers.set(':authority', hostPicked.hostname);

    if (hostPicked === undefined) {
      cluster.stats.upstream_cx_none_healthy.inc();
      s.sendLocalReply({
        status: 503,
        body: 'no healthy upstream',
        details: 'no_healthy_upstream',
        flags: ResponseFlag.NoHealthyUpstream,
      });
      return;
    }
    if (
      cluster.activeRequests >= cluster.circuitBreakers.max_requests ||
      cluster.pendingRequests >= cluster.circuitBreakers.max_pending_requests
    ) {
      cluster.stats.upstream_rq_pending_overflow.inc();
      s.sendLocalReply({
        status: 503,
        body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
        details: 'upstream_reset_before_response_started{overflow}',
        flags: ResponseFlag.UpstreamOverflow,
        headers: [['x-envoy-overloaded', 'true']],
      });
      return;
    }

    // Timeout: the route's, overridden by x-envoy-upstream-rq-timeout-ms (already sanitized for external requests).
    let timeout = route.timeoutMs;
    const hdrTimeout = headers.get('x-envoy-upstream-rq-timeout-ms');
    if (hdrTimeout !== undefined) {
      const n = Number(hdrTimeout);
      if (Number.isInteger(n) && n >= 0) timeout = n;
      headers.remove('x-envoy-upstream-rq-timeout-ms');
    }
    this.#timeoutMs = timeout;
    if (!rt.suppressEnvoyHeaders && timeout > 0) headers.set('x-envoy-expected-rq-timeout-ms', String(timeout));

    this.#dispatch(hostPicked, headers, endStream);
  }

  data(chunk: Buffer, endStream: boolean): boolean {
    const body = this.#body;
    if (body === undefined) return true;
    let more = true;
    if (chunk.length > 0) more = body.push(chunk);
    if (endStream) body.push(null);
    return more;
  }

  trailers(_trailers: HeaderMap): void {
    // HTTP/1.1 upstream requests carry no trailers (the pool sends none); end the body.
    this.#body?.push(null);
  }

  /** The downstream request has been fully received: the route timeout starts now (Envoy). */
  onDownstreamRequestComplete(): void {
    this.#requestComplete = true;
    this.#armTimeout();
  }

  #armTimeout(): void {
    if (this.#timer !== undefined || this.#timeoutMs <= 0 || !this.#active || !this.#requestComplete) return;
    this.#timer = setTimeout(() => this.#onTimeout(), this.#timeoutMs);
  }

  #dispatch(host: Host, headers: HeaderMap, endStream: boolean): void {
    const s = this.#s;
    const cluster = this.#cluster as Cluster;
    this.#host = host;
    s.info.upstreamHost = host.key;
    s.info.upstreamRequestAttemptCount = 1;

    const flat: string[] = [];
    let authority: string | undefined;
    const conn = headers.get('connection');
    const connNamed = conn === undefined ? undefined : new Set(conn.toLowerCase().split(',').map((x) => x.trim()));
    const kv = headers.raw;
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i];
      if (k.charCodeAt(0) === 58) {
        if (k === ':authority') authority = kv[i + 1];
        continue;
      }
      if (HOP_BY_HOP_REQUEST.has(k) || connNamed?.has(k)) continue;
      if (k === 'te') {
        if (kv[i + 1].toLowerCase().includes('trailers')) flat.push('te', 'trailers');
        continue;
      }
      flat.push(k, kv[i + 1]);
    }
    if (authority !== undefined) flat.push('host', authority);
    const len = headers.get('content-length');
    let body: Readable | BodySource | null = null;
    if (!endStream) {
      if (s.bodyThroughChain) {
        this.#body = new Readable({ read: () => s.requestChainResumedBySink() });
        body = this.#body;
      } else {
        body = s.downstream;
      }
      // Filters that change the body own content-length (as in Envoy); otherwise it is the client's.
      if (len !== undefined) flat.push('content-length', len);
    }

    cluster.activeRequests++;
    cluster.stats.upstream_rq_total.inc();
    cluster.stats.upstream_rq_active.inc();
    host.activeRequests++;
    host.stats.rq_total.inc();
    host.stats.rq_active.inc();
    this.#active = true;
    this.#upstreamStart = performance.now();
    if (endStream) this.#requestComplete = true;
    if (this.#requestComplete) this.#armTimeout();

    host.pool.dispatch({ path: headers.get(':path') ?? '/', method: headers.get(':method') ?? 'GET', headers: flat, body }, this);
    // With an idle connection the pool has already started the request; otherwise it waits for
    // one, and only then is it pending (as Envoy counts it).
    if (this.#controller === undefined && !this.#finished) {
      cluster.pendingRequests++;
      this.#pending = true;
      cluster.stats.upstream_rq_pending_total.inc();
      cluster.stats.upstream_rq_pending_active.inc();
    }
  }

  // ---- upstream pool handler (the router is its own handler: no per-request closures) ----

  onRequestStart(controller: UpstreamController): void {
    this.#controller = controller;
    this.#leavePending();
    if (this.#finished) controller.abort(new Error('stream ended'));
  }

  onBodySent(chunk: Buffer): void {
    if (!this.#s.bodyThroughChain) {
      this.#s.countRequestBytes(chunk.length);
      this.#s.touch();
    }
    noteBodyBytes(chunk.length);
  }

  onRequestSent(): void {
    this.#s.info.lastUpstreamTxMs = performance.now() - this.#s.info.startMonotonic;
  }

  onResponseStart(_controller: UpstreamController, statusCode: number, headers: string[]): void {
    this.#onResponseStart(statusCode, headers);
  }

  onResponseData(controller: UpstreamController, chunk: Buffer): void {
    noteBodyBytes(chunk.length);
    if (this.#finished) return;
    if (!this.#s.encodeData(chunk, false)) controller.pause();
  }

  onResponseEnd(_controller: UpstreamController, trailers: string[] | null): void {
    this.#onResponseEnd(trailers);
  }

  onResponseError(_controller: UpstreamController, err: Error & { code?: string }): void {
    this.#onError(err);
  }

  #onResponseStart(statusCode: number, raw: string[]): void {
    if (this.#finished) return;
    const s = this.#s;
    const now = performance.now();
    s.info.firstUpstreamRxMs = now - s.info.startMonotonic;
    this.#responseStarted = true;
    const kv = new Array<string>(raw.length + 2);
    kv[0] = ':status';
    kv[1] = String(statusCode);
    for (let i = 0; i < raw.length; i += 2) {
      kv[i + 2] = raw[i].toLowerCase();
      kv[i + 3] = raw[i + 1];
    }
    const headers = new HeaderMap(kv);
    if (!s.rt.suppressEnvoyHeaders) {
      headers.set('x-envoy-upstream-service-time', String(Math.round(now - this.#upstreamStart)));
    }
    s.info.responseCodeDetails = 'via_upstream';
    const route = s.route();
    if (route !== undefined && route.kind === 'route') route.applyResponseHeaders(headers, s.info, this.#weighted);
    const cluster = this.#cluster as Cluster;
    cluster.stats.responseCode(statusCode);
    const host = this.#host as Host;
    if (statusCode >= 500) host.stats.rq_error.inc();
    else host.stats.rq_success.inc();
    s.encodeHeaders(headers, false);
  }

  #onResponseEnd(trailers: string[] | null): void {
    if (this.#finished) return;
    const s = this.#s;
    this.#release();
    const cluster = this.#cluster as Cluster;
    cluster.stats.upstream_rq_time.record(performance.now() - this.#upstreamStart);
    cluster.stats.upstream_rq_completed.inc();
    if (trailers !== null && trailers.length > 0) {
      s.encodeTrailers(HeaderMap.fromRaw(trailers));
    } else {
      s.encodeData(EMPTY, true);
    }
  }

  #onError(err: Error & { code?: string }): void {
    if (this.#finished) return;
    const s = this.#s;
    const cluster = this.#cluster as Cluster;
    const host = this.#host as Host;
    this.#release();
    host.stats.rq_error.inc();
    const code = err.code;
    let flag: number;
    let reason: string;
    if (code === UpstreamErrorCode.ConnectTimeout) {
      flag = ResponseFlag.UpstreamConnectionFailure;
      reason = 'connection timeout';
      s.info.upstreamTransportFailureReason = 'delayed connect error: timeout';
    } else if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') {
      flag = ResponseFlag.UpstreamConnectionFailure;
      reason = 'remote connection failure';
      s.info.upstreamTransportFailureReason = `delayed connect error: ${code === 'ECONNREFUSED' ? 111 : code}`;
    } else if (code === 'ECONNRESET') {
      flag = ResponseFlag.UpstreamRemoteReset;
      reason = 'remote reset';
      cluster.stats.upstream_rq_rx_reset.inc();
    } else {
      flag = ResponseFlag.UpstreamConnectionTermination;
      reason = 'connection termination';
      cluster.stats.upstream_rq_rx_reset.inc();
    }
    if (flag === ResponseFlag.UpstreamConnectionFailure) {
      s.info.upstreamRequestAttemptCount = 1;
    }
    const resetReason = reason;
    if (this.#responseStarted) {
      s.info.responseFlags |= flag;
      s.info.responseCodeDetails = `upstream_reset_after_response_started{${resetReason.replaceAll(' ', '_')}}`;
      s.resetStream(s.info.responseCodeDetails);
      return;
    }
    cluster.stats.responseCode(503);
    const transport = s.info.upstreamTransportFailureReason;
    s.sendLocalReply({
      status: 503,
      body:
        `upstream connect error or disconnect/reset before headers. reset reason: ${resetReason}` +
        (transport !== undefined && flag === ResponseFlag.UpstreamConnectionFailure ? `, transport failure reason: ${transport}` : ''),
      details: `upstream_reset_before_response_started{${resetReason.replaceAll(' ', '_')}}`,
      flags: flag,
    });
  }

  #onTimeout(): void {
    this.#timer = undefined;
    if (this.#finished || !this.#active) return;
    const s = this.#s;
    const cluster = this.#cluster as Cluster;
    cluster.stats.upstream_rq_timeout.inc();
    (this.#host as Host).stats.rq_timeout.inc();
    s.info.responseFlags |= ResponseFlag.UpstreamRequestTimeout;
    const controller = this.#controller;
    this.#release();
    controller?.abort(new Error('upstream request timeout'));
    if (this.#responseStarted) {
      s.info.responseCodeDetails = 'upstream_response_timeout';
      s.resetStream('upstream_response_timeout');
      return;
    }
    cluster.stats.responseCode(504);
    s.sendLocalReply({
      status: 504,
      body: 'upstream request timeout',
      details: 'upstream_response_timeout',
      flags: ResponseFlag.UpstreamRequestTimeout,
    });
  }

  /** Downstream accepted more response bytes: resume the upstream. */
  onDownstreamDrain(): void {
    const c = this.#controller;
    if (c !== undefined && c.paused && !this.#finished) c.resume();
  }

  /** The stream no longer wants the upstream response (local reply, reset, client gone). */
  abandon(): void {
    if (this.#finished) return;
    const controller = this.#controller;
    const wasActive = this.#active;
    this.#release();
    if (wasActive) {
      (this.#cluster as Cluster).stats.upstream_rq_cancelled.inc();
      // Free the pooled connection: a half-read response would keep it busy forever. While the
      // pool is still reading the client's body straight from the request, the abort waits for
      // the downstream response to finish, so the local reply being written goes out first.
      const abort = () => controller?.abort(new Error('downstream stream ended'));
      const down = this.#s.downstream;
      if (!this.#s.bodyThroughChain && !this.#requestComplete && !down.closed && !down.finished) down.onClosed(abort);
      else abort();
    }
    this.#body?.destroy();
  }

  onStreamComplete(): void {
    if (!this.#finished) this.abandon();
  }

  #release(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#leavePending();
    if (this.#active) {
      this.#active = false;
      const cluster = this.#cluster as Cluster;
      const host = this.#host as Host;
      cluster.activeRequests--;
      cluster.stats.upstream_rq_active.dec();
      host.activeRequests--;
      host.stats.rq_active.dec();
    }
  }

  /** The request got a connection (or gave up waiting for one): it no longer counts as pending. */
  #leavePending(): void {
    if (!this.#pending) return;
    this.#pending = false;
    const cluster = this.#cluster as Cluster;
    cluster.pendingRequests--;
    cluster.stats.upstream_rq_pending_active.dec();
  }

  #responseHeaderMutations(): Array<[string, string]> {
    const s = this.#s;
    const route = s.route();
    if (route === undefined) return [];
    const h = new HeaderMap();
    route.applyResponseHeaders(h, s.info);
    return h.entries();
  }
}

const EMPTY = Buffer.alloc(0);
