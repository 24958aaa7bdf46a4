import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HeaderMap } from './header-map.ts';
import { newStreamInfo, type StreamInfo } from './stream-info.ts';
import { HttpStream } from './http-stream.ts';
import type { HcmRuntime } from './hcm-runtime.ts';
import { mutateRequestHeaders } from './request-headers.ts';
import { ResponseFlag } from './response-flags.ts';
import { proxyUpgrade } from './upgrade.ts';
import { SluiceRequest, SluiceResponse } from './messages.ts';
import type { Counter, Gauge } from '../stats/types.ts';
import * as defaults from '../config/defaults.ts';

interface ConnectionState {
  id: number;
  remote: string;
  remoteIp: string;
  local: string;
  requests: number;
  /** Past max_connection_duration: the next response closes the connection. */
  maxDurationReached: boolean;
}

/** For a request whose socket was never seen by the 'connection' handler (should not happen). */
const UNKNOWN_CONNECTION: ConnectionState = { id: -1, remote: '', remoteIp: '', local: '', requests: 0, maxDurationReached: false };

export interface ListenerStats {
  downstream_cx_total: Counter;
  downstream_cx_active: Gauge;
  downstream_cx_destroy: Counter;
  /** Envoy's per-worker copies: `listener.<addr>.worker_<i>.downstream_cx_total|active`. */
  worker_cx_total: Counter;
  worker_cx_active: Gauge;
}

export interface ConnectionManagerOptions {
  host: string;
  port: number;
  reusePort: boolean;
  /** Built once the real address is known (a port-0 listener is named by the port it got). */
  listenerStats: (address: string, port: number) => ListenerStats;
  /** Makes connection ids unique across workers: id = base + n * stride. */
  connectionIdBase: number;
  connectionIdStride: number;
}

/**
 * One listener's HTTP/1.1 server (Envoy's listener + http_connection_manager): accepts
 * connections, turns each request into an `HttpStream`, answers codec errors as Envoy does,
 * and drains on shutdown. The runtime (routes, filters, clusters) can be replaced at any time;
 * each stream keeps the one it started with.
 */
export class ConnectionManager {
  readonly server: http.Server<typeof SluiceRequest, typeof SluiceResponse>;
  #rt: HcmRuntime;
  readonly #opts: ConnectionManagerOptions;
  readonly #conns = new WeakMap<Socket, ConnectionState>();
  readonly #open = new Set<Socket>();
  #nextConn = 0;
  #draining = false;
  #listenerStats: ListenerStats | undefined;
  #idleTimeoutMs = 0;

  constructor(rt: HcmRuntime, opts: ConnectionManagerOptions) {
    this.#rt = rt;
    this.#opts = opts;
    const cfg = rt.config;
    const headersTimeout = cfg.request_headers_timeout ?? 0;
    this.server = http.createServer({
      requestTimeout: 0,
      // How often Node checks headersTimeout; fixed for the server's life (a reload that enables
      // request_headers_timeout on a running listener gets the 30 s check period).
      connectionsCheckingInterval: headersTimeout > 0 ? Math.max(50, Math.min(1000, headersTimeout / 4)) : 30_000,
      requireHostHeader: false,
      joinDuplicateHeaders: false,
      noDelay: true,
      maxHeadersCount: 0,
      IncomingMessage: SluiceRequest,
      ServerResponse: SluiceResponse,
    } as http.ServerOptions<typeof SluiceRequest, typeof SluiceResponse>);
    this.#applySettings(cfg);
    // idle_timeout: a connection with no request in flight (never used, or between keep-alive
    // requests) is closed after this long. Node's socket timeout is inactivity-based; the
    // handler ignores it while a response is in progress (stream timeouts cover that).
    // Between requests Node arms keepAliveTimeout; a new connection gets the same timeout until
    // its first request (armed in #onConnection, cleared in #onRequest). No timer runs while a
    // request is in flight, so socket I/O does not pay for refreshing one.
    this.server.on('timeout', this.#onSocketIdle);
    this.server.on('connection', this.#onConnection);
    this.server.on('request', this.#onRequest);
    this.server.on('upgrade', this.#onUpgrade);
    this.server.on('clientError', this.#onClientError);
  }

  get runtime(): HcmRuntime {
    return this.#rt;
  }

  /**
   * New streams use `rt` from now on; streams in flight keep theirs. The server-level settings
   * (header size and timeout, idle timeout, max requests per connection) apply to connections and
   * requests from now on; open connections stay open.
   */
  setRuntime(rt: HcmRuntime): void {
    rt.draining ||= this.#draining;
    this.#rt = rt;
    this.#applySettings(rt.config);
  }

  /** The HCM options Node's server implements, read by Node for each new connection / request. */
  #applySettings(cfg: HcmRuntime['config']): void {
    const server = this.server as http.Server & { maxHeaderSize: number };
    server.maxHeaderSize = (cfg.max_request_headers_kb ?? defaults.DEFAULT_MAX_REQUEST_HEADERS_KB) * 1024;
    const headersTimeout = cfg.request_headers_timeout ?? 0;
    // Node needs a positive headers timeout; "disabled" (Envoy's default) becomes a very long one.
    server.headersTimeout = headersTimeout > 0 ? headersTimeout : 24 * 3600 * 1000;
    const idle = cfg.common_http_protocol_options?.idle_timeout ?? defaults.DEFAULT_IDLE_TIMEOUT_MS;
    server.keepAliveTimeout = idle;
    // Node 24 waits keepAliveTimeoutBuffer (1 s) longer than keepAliveTimeout before closing an
    // idle keep-alive connection; Envoy closes at idle_timeout.
    (server as { keepAliveTimeoutBuffer?: number }).keepAliveTimeoutBuffer = 0;
    this.#idleTimeoutMs = idle;
    // Node closes the connection (with `connection: close`) after this many requests.
    const maxRequests = cfg.common_http_protocol_options?.max_requests_per_connection;
    server.maxRequestsPerSocket = maxRequests !== undefined && maxRequests > 0 ? maxRequests : 0;
  }

  listen(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.#opts.host, port: this.#opts.port, reusePort: this.#opts.reusePort, backlog: 4096 }, () => {
        this.server.off('error', onError);
        const a = this.server.address();
        if (a === null || typeof a === 'string') {
          reject(new Error('listener has no address'));
          return;
        }
        this.#listenerStats = this.#opts.listenerStats(a.address, a.port);
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  /**
   * Starts draining: stop accepting, close idle keep-alive connections, answer in-flight requests
   * with `connection: close`. Resolves when every connection is gone or `timeoutMs` passed (then
   * the rest are destroyed).
   */
  async drain(timeoutMs: number): Promise<void> {
    this.#draining = true;
    this.#rt.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
    const outcome = await Promise.race([closed.then(() => 'closed' as const), timer]);
    if (outcome === 'timeout') {
      for (const s of this.#open) s.destroy();
      this.server.closeAllConnections();
      await closed;
    }
  }

  /** Envoy's max_connection_duration: drain the connection (close now if idle, else after its response). */
  #onMaxDuration(socket: Socket, state: ConnectionState): void {
    state.maxDurationReached = true;
    this.#rt.stats.downstream_cx_max_duration_reached.inc();
    const res = (socket as Socket & { _httpMessage?: SluiceResponse | null })._httpMessage;
    if (res && !res.writableFinished && res.stream) res.stream.closeConnectionAfterResponse();
    else socket.end();
  }

  #onSocketIdle = (socket: Socket): void => {
    const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (res && !res.writableFinished) return;
    this.#rt.stats.downstream_cx_idle_timeout.inc();
    socket.destroy();
  };

  #onConnection = (socket: Socket): void => {
    const n = this.#nextConn++;
    const remoteIp = socket.remoteAddress ?? '';
    const state: ConnectionState = {
      id: this.#opts.connectionIdBase + n * this.#opts.connectionIdStride,
      remote: `${remoteIp}:${socket.remotePort ?? 0}`,
      remoteIp,
      local: `${socket.localAddress ?? ''}:${socket.localPort ?? 0}`,
      requests: 0,
      maxDurationReached: false,
    };
    this.#conns.set(socket, state);
    this.#open.add(socket);
    if (this.#idleTimeoutMs > 0) socket.setTimeout(this.#idleTimeoutMs);
    const maxDuration = this.#rt.config.common_http_protocol_options?.max_connection_duration;
    if (maxDuration !== undefined && maxDuration > 0) {
      const timer = setTimeout(() => this.#onMaxDuration(socket, state), maxDuration);
      socket.once('close', () => clearTimeout(timer));
    }
    const rt = this.#rt;
    const ls = this.#listenerStats as ListenerStats;
    ls.downstream_cx_total.inc();
    ls.downstream_cx_active.inc();
    ls.worker_cx_total.inc();
    ls.worker_cx_active.inc();
    rt.stats.downstream_cx_total.inc();
    rt.stats.downstream_cx_active.inc();
    rt.stats.downstream_cx_http1_total.inc();
    rt.stats.downstream_cx_http1_active.inc();
    socket.once('close', () => {
      this.#open.delete(socket);
      ls.downstream_cx_active.dec();
      ls.worker_cx_active.dec();
      ls.downstream_cx_destroy.inc();
      rt.stats.downstream_cx_active.dec();
      rt.stats.downstream_cx_http1_active.dec();
      rt.stats.downstream_cx_destroy.inc();
    });
  };

  #connOf(socket: Socket): ConnectionState {
    return this.#conns.get(socket) ?? UNKNOWN_CONNECTION;
  }

  #newInfo(conn: ConnectionState, protocol: string): StreamInfo {
    return newStreamInfo({
      protocol,
      connectionId: conn.id,
      downstreamRemoteAddress: conn.remote,
      downstreamDirectRemoteAddress: conn.remote,
      downstreamLocalAddress: conn.local,
    });
  }

  /** Builds the request header map (pseudo-headers first) and applies the HCM's header rules. */
  #admit(req: IncomingMessage, rt: HcmRuntime, info: StreamInfo, conn: ConnectionState): HeaderMap | { status: number; details: string; flags?: number } {
    const raw = req.rawHeaders;
    if (raw.length / 2 > rt.maxHeadersCount) {
      return { status: 431, details: 'too_many_headers', flags: ResponseFlag.DownstreamProtocolError };
    }
    const kv: string[] = [':method', req.method ?? 'GET', ':scheme', 'http', ':path', '', ':authority', ''];
    let authority: string | undefined;
    const underscores = rt.config.common_http_protocol_options?.headers_with_underscores_action ?? 'ALLOW';
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      if (name === 'host') {
        authority ??= raw[i + 1];
        continue;
      }
      if (underscores !== 'ALLOW' && name.includes('_')) {
        if (underscores === 'REJECT_REQUEST') {
          rt.stats.requests_rejected_with_underscores_in_headers.inc();
          return { status: 400, details: 'http1.unexpected_underscore' };
        }
        rt.stats.dropped_headers_with_underscores.inc();
        continue;
      }
      kv.push(name, raw[i + 1]);
    }
    let path = req.url ?? '/';
    if (path.charCodeAt(0) !== 47 /* / */ && path !== '*') {
      // Absolute form (`GET http://host/path`): it supplies :authority and :path.
      try {
        const u = new URL(path);
        authority = u.host;
        path = u.pathname + u.search;
      } catch {
        return { status: 400, details: 'http1.codec_error', flags: ResponseFlag.DownstreamProtocolError };
      }
    }
    if (authority === undefined || authority === '') {
      if (req.httpVersion === '1.0') authority = '';
      else return { status: 400, details: 'missing_host_header' };
    }
    kv[5] = path;
    kv[7] = authority;
    const headers = new HeaderMap(kv);
    const xffClient = mutateRequestHeaders(headers, rt.config, conn.remoteIp, {
      scheme: 'http',
      generateRequestId: rt.generateRequestId,
    });
    if (xffClient !== undefined) info.downstreamRemoteAddress = `${xffClient}:0`;
    return headers;
  }

  #onRequest = (req: SluiceRequest, res: SluiceResponse): void => {
    const rt = this.#rt;
    const conn = this.#connOf(req.socket);
    const info = this.#newInfo(conn, req.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${req.httpVersion}`);
    if (conn.requests++ === 0 && this.#idleTimeoutMs > 0) req.socket.setTimeout(0);
    rt.stats.downstream_rq_total.inc();
    rt.stats.downstream_rq_http1_total.inc();
    rt.stats.downstream_rq_active.inc();
    const admitted = this.#admit(req, rt, info, conn);
    const headers = admitted instanceof HeaderMap ? admitted : HeaderMap.fromRaw(req.rawHeaders);
    const stream = new HttpStream(rt, req, res, info, headers);
    if (conn.maxDurationReached) stream.closeConnectionAfterResponse();
    if (!(admitted instanceof HeaderMap)) {
      stream.reject({ status: admitted.status, details: admitted.details, flags: admitted.flags, body: http.STATUS_CODES[admitted.status] });
      return;
    }
    const cl = headers.get('content-length');
    stream.start(headers.has('transfer-encoding') || (cl !== undefined && cl !== '0'));
  };

  #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const rt = this.#rt;
    const conn = this.#connOf(req.socket);
    const info = this.#newInfo(conn, req.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${req.httpVersion}`);
    rt.stats.downstream_rq_total.inc();
    rt.stats.downstream_rq_http1_total.inc();
    const admitted = this.#admit(req, rt, info, conn);
    if (!(admitted instanceof HeaderMap)) {
      writeRawReply(socket, admitted.status, this.#rt.serverName);
      info.responseCode = admitted.status;
      info.responseFlags |= admitted.flags ?? 0;
      info.responseCodeDetails = admitted.details;
      rt.stats.downstream_rq_xx[4].inc();
      rt.accessLog?.log(info);
      return;
    }
    proxyUpgrade(rt, req, socket as Socket, head, info, admitted);
  };

  #onClientError = (err: Error & { code?: string }, socket: Duplex): void => {
    const rt = this.#rt;
    const code = err.code;
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    let status = 400;
    let details = 'http1.codec_error';
    let flags: number = ResponseFlag.DownstreamProtocolError;
    if (code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      details = 'http1.headers_too_large';
    } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      details = 'request_header_timeout';
      flags = 0; // a timeout, not a protocol error
    } else if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' || code === 'HPE_INVALID_CONTENT_LENGTH' || code === 'HPE_UNEXPECTED_CONTENT_LENGTH') {
      details = 'http1.invalid_content_length';
    }
    if (flags !== 0) rt.stats.downstream_cx_protocol_error.inc();
    else rt.stats.downstream_rq_timeout.inc();
    rt.stats.downstream_rq_total.inc();
    const cls = (status / 100) | 0;
    rt.stats.downstream_rq_xx[cls].inc();
    writeRawReply(socket, status, rt.serverName);
    const conn = this.#conns.get(socket as Socket);
    const info = newStreamInfo({
      protocol: 'HTTP/1.1',
      connectionId: conn?.id ?? -1,
      downstreamRemoteAddress: conn?.remote ?? '',
      downstreamDirectRemoteAddress: conn?.remote ?? '',
      downstreamLocalAddress: conn?.local ?? '',
    });
    info.responseCode = status;
    info.responseCodeDetails = details;
    info.responseFlags = flags;
    info.lastDownstreamTxMs = 0;
    rt.accessLog?.log(info);
  };
}

/** A codec-level error reply written straight to the socket, then the connection is closed. */
function writeRawReply(socket: Duplex, status: number, serverName: string): void {
  const body = http.STATUS_CODES[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${body}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncontent-type: text/plain\r\n` +
      `server: ${serverName}\r\nconnection: close\r\n\r\n${body}`,
  );
}
