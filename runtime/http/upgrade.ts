import http from 'node:http';
import type { Socket } from 'node:net';
import type { HeaderMap } from './header-map.ts';
import type { HcmRuntime } from './hcm-runtime.ts';
import type { StreamInfo } from './stream-info.ts';
import { ResponseFlag } from './response-flags.ts';
import type { Host } from '../upstream/host.ts';
import type { Cluster } from '../upstream/cluster.ts';
import { UpstreamErrorCode, type UpstreamController, type UpstreamHandler } from '../upstream/h1-pool.ts';

const SKIP_UP = new Set(['connection', 'upgrade', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'content-length', 'expect']);
const SKIP_DOWN = new Set(['connection', 'upgrade', 'keep-alive', 'proxy-connection', 'transfer-encoding']);

/**
 * HTTP/1.1 Upgrade (WebSocket) pass-through, allowed per `upgrade_configs` on the HCM and the
 * route: the request goes upstream with its Upgrade header; on 101 both sockets are joined and
 * bytes flow untouched until either side closes. A route that does not allow the upgrade type
 * answers 403 (`downstream_rq_ws_on_non_ws_route`), as Envoy does.
 */
export function proxyUpgrade(
  rt: HcmRuntime,
  method: string,
  socket: Socket,
  head: Buffer,
  info: StreamInfo,
  headers: HeaderMap,
): void {
  info.requestHeaders = headers;
  rt.stats.downstream_rq_active.inc();
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    info.lastDownstreamTxMs = performance.now() - info.startMonotonic;
    rt.stats.downstream_rq_active.dec();
    rt.stats.downstream_rq_completed.inc();
    const cls = (info.responseCode / 100) | 0;
    if (cls >= 1 && cls <= 5) {
      rt.stats.downstream_rq_xx[cls].inc();
      rt.stats.listener_rq_xx[cls].inc();
    }
    rt.stats.downstream_rq_time.record(info.lastDownstreamTxMs);
    rt.accessLog?.log(info);
  };
  const reply = (status: number, details: string, flags = 0, body = '', extra = '') => {
    info.responseCode = status;
    info.responseCodeDetails = details;
    info.responseFlags |= flags;
    info.bytesSent = Buffer.byteLength(body);
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        (body ? 'content-type: text/plain\r\n' : '') +
        `${extra}server: ${rt.serverName}\r\nconnection: close\r\n\r\n${body}`,
    );
    finish();
  };
  socket.on('error', () => undefined);

  const type = (headers.get('upgrade') ?? '').toLowerCase();
  const route = rt.routeTable.match(headers);
  if (route === undefined) {
    rt.stats.no_route.inc();
    reply(404, 'route_not_found', ResponseFlag.NoRouteFound);
    return;
  }
  info.routeName = route.name;
  if (route.kind !== 'route' || !route.upgradeAllowed(type, rt.upgradeTypes)) {
    rt.stats.downstream_rq_ws_on_non_ws_route.inc();
    reply(403, 'upgrade_failed');
    return;
  }
  const picked = route.pickCluster(headers);
  const cluster: Cluster | undefined = picked === undefined ? undefined : rt.clusters.get(picked.cluster);
  if (cluster === undefined) {
    rt.stats.no_cluster.inc();
    reply(route.clusterNotFoundStatus, 'cluster_not_found', ResponseFlag.NoClusterFound);
    return;
  }
  info.upstreamCluster = cluster.name;
  route.applyRequestHeaders(headers, info, picked?.weighted);
  const path = headers.get(':path') ?? '/';
  const rewritten = route.rewritePath(path);
  if (rewritten !== undefined && rewritten !== path) headers.set(':path', rewritten);
  const host: Host | undefined = cluster.pickHost();
  if (host === undefined) {
    reply(503, 'no_healthy_upstream', ResponseFlag.NoHealthyUpstream, 'no healthy upstream');
    return;
  }
  const hostRewrite = route.hostRewriteFor(picked?.weighted);
  if (hostRewrite !== undefined) headers.set(':authority', hostRewrite);
  info.upstreamHost = host.key;
  info.upstreamRequestAttemptCount = 1;

  const flat: string[] = [];
  headers.forEach((k, v) => {
    if (k.charCodeAt(0) === 58) return;
    if (!SKIP_UP.has(k)) flat.push(k, v);
  });
  flat.push('host', headers.get(':authority') ?? '');
  cluster.stats.upstream_rq_total.inc();
  cluster.stats.upstream_rq_active.inc();
  host.stats.rq_total.inc();
  const start = performance.now();
  let settled = false;
  const settle = () => {
    if (settled) return;
    settled = true;
    cluster.stats.upstream_rq_active.dec();
  };
  let upstream: Socket | undefined;
  let controller: UpstreamController | undefined;
  socket.once('close', () => {
    if (upstream === undefined) {
      info.responseFlags |= ResponseFlag.DownstreamConnectionTermination;
      controller?.abort(new Error('downstream closed'));
      settle();
      finish();
    }
  });

  const handler: UpstreamHandler = {
    onRequestStart(c) {
      controller = c;
    },
    onRequestUpgrade(_c, statusCode, resHeaders, up) {
      upstream = up;
      settle();
      cluster.stats.responseCode(statusCode);
      info.responseCode = statusCode;
      info.responseCodeDetails = 'via_upstream';
      info.firstUpstreamRxMs = performance.now() - info.startMonotonic;
      rt.stats.downstream_cx_upgrades_total.inc();
      rt.stats.downstream_cx_upgrades_active.inc();
      let headText = `HTTP/1.1 ${statusCode} ${http.STATUS_CODES[statusCode] ?? ''}\r\nconnection: upgrade\r\nupgrade: ${type}\r\n`;
      headText += relayedHeaders(resHeaders);
      headText += `server: ${rt.serverName}\r\nx-envoy-upstream-service-time: ${Math.round(performance.now() - start)}\r\n\r\n`;
      // Envoy counts the upgrade response headers in BYTES_SENT for WebSocket streams.
      info.bytesSent += Buffer.byteLength(headText);
      socket.write(headText);
      if (head.length > 0) {
        info.bytesReceived += head.length;
        up.write(head);
      }
      socket.on('data', (d: Buffer) => {
        info.bytesReceived += d.length;
      });
      up.on('data', (d: Buffer) => {
        info.bytesSent += d.length;
      });
      socket.pipe(up);
      up.pipe(socket);
      let closed = false;
      const close = (flags: number) => {
        if (closed) return;
        closed = true;
        info.responseFlags |= flags;
        rt.stats.downstream_cx_upgrades_active.dec();
        socket.destroy();
        up.destroy();
        finish();
      };
      up.on('error', () => close(ResponseFlag.UpstreamConnectionTermination));
      up.on('close', () => close(0));
      socket.on('close', () => close(0));
    },
    onResponseStart(_c, statusCode, resHeaders) {
      // The upstream refused the upgrade: relay its answer and close.
      cluster.stats.responseCode(statusCode);
      info.responseCode = statusCode;
      info.responseCodeDetails = 'via_upstream';
      const text = `HTTP/1.1 ${statusCode} ${http.STATUS_CODES[statusCode] ?? ''}\r\n${relayedHeaders(resHeaders)}`;
      socket.write(`${text}server: ${rt.serverName}\r\nconnection: close\r\n\r\n`);
    },
    onResponseData(_c, chunk) {
      info.bytesSent += chunk.length;
      socket.write(chunk);
    },
    onResponseEnd() {
      settle();
      socket.end();
      finish();
    },
    onResponseError(_c, err: Error & { code?: string }) {
      settle();
      if (upstream !== undefined || done) return;
      if (socket.destroyed) return;
      const refused = err.code === 'ECONNREFUSED' || err.code === UpstreamErrorCode.ConnectTimeout;
      const reason = refused ? 'remote connection failure' : 'connection termination';
      reply(
        503,
        `upstream_reset_before_response_started{${reason.replaceAll(' ', '_')}}`,
        refused ? ResponseFlag.UpstreamConnectionFailure : ResponseFlag.UpstreamConnectionTermination,
        `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`,
      );
    },
  };
  host.pool.dispatch({ path: headers.get(':path') ?? '/', method, headers: flat, upgrade: type, body: null }, handler);
}

/** The upstream's response headers as sent downstream: lower-cased, without hop-by-hop ones or `server`. */
function relayedHeaders(raw: readonly string[]): string {
  let text = '';
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (SKIP_DOWN.has(k) || k === 'server') continue;
    text += `${k}: ${raw[i + 1]}\r\n`;
  }
  return text;
}
