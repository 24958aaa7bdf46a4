import { STATUS_CODES } from 'node:http';
import net from 'node:net';
import { HeaderMap } from './header-map.ts';
import { newStreamInfo, type StreamInfo } from './stream-info.ts';
import { HttpStream } from './http-stream.ts';
import type { HcmRuntime } from './hcm-runtime.ts';
import { mutateRequestHeaders } from './request-headers.ts';
import { ResponseFlag } from './response-flags.ts';
import { proxyUpgrade } from './upgrade.ts';
import { H1ServerConnection, httpDate, type H1CodecSettings, type H1ConnectionHooks, type H1Exchange } from './h1-codec.ts';
import { IdleSweeper } from './idle-sweeper.ts';
import type { Counter, Gauge } from '../stats/types.ts';
import * as defaults from '../config/defaults.ts';

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
 * connections, runs the HTTP/1.1 codec (h1-codec.ts) on each, turns each request into an
 * `HttpStream`, answers codec errors as Envoy does, and drains on shutdown. The runtime (routes,
 * filters, clusters) can be replaced at any time; each stream keeps the one it started with.
 */
export class ConnectionManager implements H1ConnectionHooks {
  readonly server: net.Server;
  #rt: HcmRuntime;
  readonly #opts: ConnectionManagerOptions;
  readonly #open = new Set<H1ServerConnection>();
  #nextConn = 0;
  #draining = false;
  #listenerStats: ListenerStats | undefined;
  /** Read by every connection's codec for each request, so a reload applies from the next request. */
  readonly #settings: H1CodecSettings = { maxHeaderSize: 0, headersTimeoutMs: 0, maxRequestsPerConnection: 0 };
  /** common_http_protocol_options.idle_timeout; 0 disables it. */
  #idleTimeoutMs = 0;
  #idleSweeper: IdleSweeper | undefined;

  constructor(rt: HcmRuntime, opts: ConnectionManagerOptions) {
    this.#rt = rt;
    this.#opts = opts;
    // allowHalfOpen: the codec decides what a client's FIN means (a truncated request is answered).
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.#onConnection(socket));
    this.#applySettings(rt.config);
  }

  get runtime(): HcmRuntime {
    return this.#rt;
  }

  /**
   * New streams use `rt` from now on; streams in flight keep theirs. The codec settings (header
   * size and timeout, idle timeout, max requests per connection) apply from the next request or
   * idle period; open connections stay open.
   */
  setRuntime(rt: HcmRuntime): void {
    rt.draining ||= this.#draining;
    this.#rt = rt;
    this.#applySettings(rt.config);
  }

  #applySettings(cfg: HcmRuntime['config']): void {
    const s = this.#settings;
    s.maxHeaderSize = (cfg.max_request_headers_kb ?? defaults.DEFAULT_MAX_REQUEST_HEADERS_KB) * 1024;
    s.headersTimeoutMs = cfg.request_headers_timeout ?? 0;
    const maxRequests = cfg.common_http_protocol_options?.max_requests_per_connection;
    s.maxRequestsPerConnection = maxRequests !== undefined && maxRequests > 0 ? maxRequests : 0;
    const idle = cfg.common_http_protocol_options?.idle_timeout ?? defaults.DEFAULT_IDLE_TIMEOUT_MS;
    if (idle !== this.#idleTimeoutMs) {
      this.#idleTimeoutMs = idle;
      this.#idleSweeper = idle > 0 ? new IdleSweeper(idle) : undefined;
    }
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
    for (const c of this.#open) if (c.idle) c.closeWhenIdle();
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
    const outcome = await Promise.race([closed.then(() => 'closed' as const), timer]);
    if (outcome === 'timeout') {
      for (const c of this.#open) c.socket.destroy();
      await closed;
    }
  }

  /** Stops listening and closes every connection now (a listener that never went live). */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.#open) c.socket.destroy();
    return closed;
  }

  /** Envoy's max_connection_duration: drain the connection (close now if idle, else after its response). */
  #onMaxDuration(conn: H1ServerConnection): void {
    this.#rt.stats.downstream_cx_max_duration_reached.inc();
    const cur = conn.current;
    if (cur !== undefined && cur.headersSent) cur.closeAfterResponse();
    conn.closeWhenIdle();
  }

  #onConnection(socket: net.Socket): void {
    const n = this.#nextConn++;
    const conn = new H1ServerConnection(socket, this.#opts.connectionIdBase + n * this.#opts.connectionIdStride, this, this.#settings);
    this.#open.add(conn);
    if (this.#draining) conn.closing = true;
    this.onIdle(conn);
    const maxDuration = this.#rt.config.common_http_protocol_options?.max_connection_duration;
    if (maxDuration !== undefined && maxDuration > 0) {
      const timer = setTimeout(() => this.#onMaxDuration(conn), maxDuration);
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
      ls.downstream_cx_active.dec();
      ls.worker_cx_active.dec();
      ls.downstream_cx_destroy.inc();
      rt.stats.downstream_cx_active.dec();
      rt.stats.downstream_cx_http1_active.dec();
      rt.stats.downstream_cx_destroy.inc();
    });
  }

  // ---- codec hooks ----

  onIdle(conn: H1ServerConnection): void {
    const sweeper = this.#idleSweeper;
    if (sweeper === undefined) return;
    conn.lastActivity = performance.now();
    conn.idleTimeoutMs = this.#idleTimeoutMs;
    conn.idleSweeper = sweeper;
    sweeper.add(conn);
  }

  onBusy(conn: H1ServerConnection): void {
    const sweeper = conn.idleSweeper;
    if (sweeper === undefined) return;
    conn.idleSweeper = undefined;
    sweeper.delete(conn);
  }

  onIdleTimeout(conn: H1ServerConnection): void {
    this.#rt.stats.downstream_cx_idle_timeout.inc();
    conn.socket.destroy();
  }

  onClose(conn: H1ServerConnection): void {
    this.#open.delete(conn);
    this.onBusy(conn);
  }

  #newInfo(conn: H1ServerConnection, protocol: string): StreamInfo {
    return newStreamInfo({
      protocol,
      connectionId: conn.id,
      downstreamRemoteAddress: conn.remote,
      downstreamDirectRemoteAddress: conn.remote,
      downstreamLocalAddress: conn.local,
    });
  }

  /** Builds the request header map (pseudo-headers first) and applies the HCM's header rules. */
  #admit(ex: H1Exchange, rt: HcmRuntime, info: StreamInfo, conn: H1ServerConnection): HeaderMap | { status: number; details: string; flags?: number } {
    const raw = ex.rawHeaders;
    if (raw.length / 2 > rt.maxHeadersCount) {
      return { status: 431, details: 'too_many_headers', flags: ResponseFlag.DownstreamProtocolError };
    }
    const kv: string[] = [':method', ex.method, ':scheme', 'http', ':path', '', ':authority', ''];
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
    let path = ex.url;
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
      if (ex.httpVersion === '1.0') authority = '';
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

  onRequest(conn: H1ServerConnection, ex: H1Exchange): void {
    const rt = this.#rt;
    const info = this.#newInfo(conn, ex.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${ex.httpVersion}`);
    rt.stats.downstream_rq_total.inc();
    rt.stats.downstream_rq_http1_total.inc();
    rt.stats.downstream_rq_active.inc();
    const admitted = this.#admit(ex, rt, info, conn);
    const headers = admitted instanceof HeaderMap ? admitted : HeaderMap.fromRaw(ex.rawHeaders);
    const stream = new HttpStream(rt, ex, info, headers);
    if (!(admitted instanceof HeaderMap)) {
      stream.reject({ status: admitted.status, details: admitted.details, flags: admitted.flags, body: STATUS_CODES[admitted.status] });
      return;
    }
    const cl = headers.get('content-length');
    const hasBody = headers.has('transfer-encoding') || (cl !== undefined && cl !== '0');
    // Envoy answers `Expect: 100-continue` itself (proxy_100_continue off) and does not forward it.
    if (hasBody && !ex.requestComplete && ex.httpVersion === '1.1') {
      const expect = headers.get('expect');
      if (expect !== undefined && expect.toLowerCase() === '100-continue') conn.writeContinue();
    }
    stream.start(hasBody);
  }

  onUpgrade(conn: H1ServerConnection, ex: H1Exchange, head: Buffer): void {
    const rt = this.#rt;
    const socket = conn.socket;
    const info = this.#newInfo(conn, ex.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${ex.httpVersion}`);
    rt.stats.downstream_rq_total.inc();
    rt.stats.downstream_rq_http1_total.inc();
    const admitted = this.#admit(ex, rt, info, conn);
    if (!(admitted instanceof HeaderMap)) {
      writeRawReply(socket, admitted.status, this.#rt.serverName);
      info.responseCode = admitted.status;
      info.responseFlags |= admitted.flags ?? 0;
      info.responseCodeDetails = admitted.details;
      rt.stats.downstream_rq_xx[4].inc();
      rt.accessLog?.log(info);
      return;
    }
    proxyUpgrade(rt, ex.method, socket, head, info, admitted);
  }

  onCodecError(conn: H1ServerConnection, code: string): void {
    const rt = this.#rt;
    const socket = conn.socket;
    if (!socket.writable) {
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
    const info = this.#newInfo(conn, 'HTTP/1.1');
    info.responseCode = status;
    info.responseCodeDetails = details;
    info.responseFlags = flags;
    info.lastDownstreamTxMs = 0;
    rt.accessLog?.log(info);
  }
}

/** A codec-level error reply written straight to the socket, then the connection is closed. */
function writeRawReply(socket: net.Socket, status: number, serverName: string): void {
  const body = STATUS_CODES[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${body}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncontent-type: text/plain\r\n` +
      `date: ${httpDate()}\r\nserver: ${serverName}\r\nconnection: close\r\n\r\n${body}`,
  );
}
