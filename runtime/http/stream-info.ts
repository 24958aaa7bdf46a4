import type { HeaderMap } from './header-map.ts';

/**
 * Everything known about one HTTP stream once it ends: what the access log and stats read.
 * Written by the connection manager and the router while the stream runs; read-only afterwards.
 * Durations are milliseconds (fractional) relative to `startMonotonic`; undefined = did not happen.
 */
export interface StreamInfo {
  /** Wall clock at stream start, ms since epoch. */
  startTime: number;
  /** `performance.now()` at stream start. */
  startMonotonic: number;
  /** `HTTP/1.0`, `HTTP/1.1` or `HTTP/2`. */
  protocol: string;
  requestHeaders: HeaderMap | undefined;
  responseHeaders: HeaderMap | undefined;
  responseTrailers: HeaderMap | undefined;
  /** 0 when no response was started (e.g. the client went away first). */
  responseCode: number;
  /** Why the status was chosen: `via_upstream`, `route_not_found`, `upstream_response_timeout`, ... */
  responseCodeDetails: string | undefined;
  /** Bit set of `ResponseFlag`. */
  responseFlags: number;
  /** Request body bytes received from downstream. */
  bytesReceived: number;
  /** Response body bytes sent downstream. */
  bytesSent: number;
  /** ms from start to last request byte received. */
  lastDownstreamRxMs: number | undefined;
  /** ms from start to last request byte sent upstream. */
  lastUpstreamTxMs: number | undefined;
  /** ms from start to first upstream response byte. */
  firstUpstreamRxMs: number | undefined;
  /** ms from start to last response byte sent downstream (the stream's duration). */
  lastDownstreamTxMs: number | undefined;
  routeName: string | undefined;
  virtualHostName: string | undefined;
  /** `ip:port` of the chosen upstream host. */
  upstreamHost: string | undefined;
  upstreamCluster: string | undefined;
  upstreamLocalAddress: string | undefined;
  upstreamTransportFailureReason: string | undefined;
  upstreamRequestAttemptCount: number;
  /** Client address as inferred (XFF rules), `ip:port` (port 0 when inferred from XFF). */
  downstreamRemoteAddress: string;
  /** Physical peer, `ip:port`. */
  downstreamDirectRemoteAddress: string;
  /** Listener-side address, `ip:port`. */
  downstreamLocalAddress: string;
  connectionId: number;
  requestedServerName: string | undefined;
  /** Body of a locally generated reply, when there was one. */
  localReplyBody: string | undefined;
  /** Access-log `%CONNECTION_TERMINATION_DETAILS%`. */
  connectionTerminationDetails: string | undefined;
}

export function newStreamInfo(init: {
  protocol: string;
  connectionId: number;
  downstreamRemoteAddress: string;
  downstreamDirectRemoteAddress: string;
  downstreamLocalAddress: string;
  startTime?: number;
  startMonotonic?: number;
}): StreamInfo {
  return {
    startTime: init.startTime ?? Date.now(),
    startMonotonic: init.startMonotonic ?? performance.now(),
    protocol: init.protocol,
    requestHeaders: undefined,
    responseHeaders: undefined,
    responseTrailers: undefined,
    responseCode: 0,
    responseCodeDetails: undefined,
    responseFlags: 0,
    bytesReceived: 0,
    bytesSent: 0,
    lastDownstreamRxMs: undefined,
    lastUpstreamTxMs: undefined,
    firstUpstreamRxMs: undefined,
    lastDownstreamTxMs: undefined,
    routeName: undefined,
    virtualHostName: undefined,
    upstreamHost: undefined,
    upstreamCluster: undefined,
    upstreamLocalAddress: undefined,
    upstreamTransportFailureReason: undefined,
    upstreamRequestAttemptCount: 0,
    downstreamRemoteAddress: init.downstreamRemoteAddress,
    downstreamDirectRemoteAddress: init.downstreamDirectRemoteAddress,
    downstreamLocalAddress: init.downstreamLocalAddress,
    connectionId: init.connectionId,
    requestedServerName: undefined,
    localReplyBody: undefined,
    connectionTerminationDetails: undefined,
  };
}
