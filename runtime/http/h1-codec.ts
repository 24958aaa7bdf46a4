import type net from 'node:net';
import { STATUS_CODES } from 'node:http';
import { HTTPParser, methods, _checkInvalidHeaderChar, _checkIsHttpToken } from '_http_common';
import type { IdleSweeper, IdleTracked } from './idle-sweeper.ts';
import type { BodySink, BodySource } from '../upstream/h1-pool.ts';

/**
 * The downstream HTTP/1.1 codec (Envoy's `Http1::ServerConnectionImpl`): requests are parsed
 * from the socket by Node's native llhttp binding, the parser `node:http` uses, and responses
 * are written to the socket as one header string plus the body, with no `IncomingMessage` /
 * `ServerResponse` objects in between (docs/RATIONALE.md has the measurement).
 *
 * One request is served at a time per connection, as in Envoy: a pipelined request that came in
 * the same read is parsed, but its stream starts only when the previous response is complete;
 * bytes read after a complete request are held unparsed until then (the socket is paused once
 * 64 KiB are held). Content-length request bodies are handed on as
 * views of the socket's buffers (the parser would copy every chunk); chunked bodies go through
 * the parser.
 *
 * Framing of responses: `content-length` when the headers have one, else `transfer-encoding:
 * chunked` (HTTP/1.1 clients) or the end of the connection (HTTP/1.0); none for HEAD, 1xx, 204
 * and 304. A `date` header is added when absent (Envoy's date provider). The connection is kept
 * when the client asked for keep-alive and neither the stream nor the codec closes it; a closing
 * response says `connection: close`, and an HTTP/1.0 keep-alive one `connection: keep-alive`.
 */

/** What the owner of an exchange (the HttpStream) is told. */
export interface H1ExchangeSink {
  /** A chunk of the request body (only while the body is delivered to the sink, see `deliverBody`). */
  onReqData(chunk: Buffer): void;
  /** The request is complete (its last body byte, or its headers for a request without body). */
  onReqEnd(): void;
  /** The socket took the response bytes that were waiting: write more. */
  onResDrain(): void;
  /** The exchange is over: its response was written completely, or the connection closed. */
  onResClose(): void;
}

export interface H1ConnectionHooks {
  /** A request's headers are complete and it is this connection's turn: start its stream. */
  onRequest(conn: H1ServerConnection, ex: H1Exchange): void;
  /**
   * An Upgrade (or CONNECT) request: from now on the socket belongs to the hook, which gets the
   * bytes already read after the request headers. It flows once the new owner reads it.
   */
  onUpgrade(conn: H1ServerConnection, ex: H1Exchange, head: Buffer): void;
  /**
   * Bytes that are not a valid request (`code` is llhttp's, e.g. `HPE_HEADER_OVERFLOW`, or
   * `ERR_HTTP_REQUEST_TIMEOUT` when request_headers_timeout passed). Called when no response is
   * being written on the connection; the hook answers, and the connection is closed after it.
   */
  onCodecError(conn: H1ServerConnection, code: string): void;
  /** The connection has no request in flight (after its last response, or when accepted). */
  onIdle(conn: H1ServerConnection): void;
  /** A request has begun on an idle connection. */
  onBusy(conn: H1ServerConnection): void;
  /** The connection stayed idle for its idle timeout (see `idleSweeper`). */
  onIdleTimeout(conn: H1ServerConnection): void;
  onClose(conn: H1ServerConnection): void;
}

export interface H1CodecSettings {
  /** Largest request head in bytes (Envoy's max_request_headers_kb); larger is `HPE_HEADER_OVERFLOW`. */
  maxHeaderSize: number;
  /** request_headers_timeout in ms; 0 disables it. */
  headersTimeoutMs: number;
  /** After this many requests the connection closes (0: unlimited). */
  maxRequestsPerConnection: number;
}

/** Request bytes the codec holds for a stream that is not reading them before it stops reading the socket. */
const HELD_BODY_LIMIT = 64 * 1024;
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';
/** Envoy's delayed_close_timeout default: how long a connection the proxy ended waits for the peer's close. */
const DELAYED_CLOSE_MS = 1000;

const kOnMessageBegin = HTTPParser.kOnMessageBegin;
const kOnHeaders = HTTPParser.kOnHeaders;
const kOnHeadersComplete = HTTPParser.kOnHeadersComplete;
const kOnBody = HTTPParser.kOnBody;
const kOnMessageComplete = HTTPParser.kOnMessageComplete;

/**
 * One request/response exchange on a connection: the request as parsed, the response as written.
 * The request body goes either to the sink (`deliverBody`, for filters that read it) or straight
 * to the upstream pool (`attachBody`: the exchange is the pool's BodySource).
 */
export class H1Exchange implements BodySource {
  readonly conn: H1ServerConnection;
  readonly method: string;
  /** The request target as sent. */
  readonly url: string;
  /** "1.1", "1.0". */
  readonly httpVersion: string;
  /** Flat [name, value, ...], names as sent. */
  readonly rawHeaders: string[];
  /** Whether the client wants the connection kept (HTTP version and its Connection header). */
  readonly keepAlive: boolean;
  sink: H1ExchangeSink | undefined = undefined;

  /** The whole request has been received. */
  requestComplete = false;
  /** Body chunks received while the owner reads none (not started, or not yet asked). */
  #held: Buffer[] | undefined = undefined;
  #heldBytes = 0;
  /** Where body chunks go: the sink (`deliverBody`) or a BodySink (`attachBody`); neither yet. */
  #delivery: 0 | 1 | 2 = 0;
  #bodySink: BodySink | undefined = undefined;
  #bodyPaused = false;

  headersSent = false;
  /** The response has been written completely. */
  finished = false;
  /** The exchange is over (finished and handed back, or its connection closed). */
  closed = false;
  #chunked = false;
  #noBody = false;
  /** The connection closes after this response. */
  closeAfter = false;
  #closeCallbacks: Array<() => void> | undefined = undefined;

  constructor(conn: H1ServerConnection, method: string, url: string, httpVersion: string, rawHeaders: string[], keepAlive: boolean) {
    this.conn = conn;
    this.method = method;
    this.url = url;
    this.httpVersion = httpVersion;
    this.rawHeaders = rawHeaders;
    this.keepAlive = keepAlive;
  }

  // ---- request body ----

  /**
   * Body chunks go to `sink.onReqData` from now on (those held so far first), then
   * `sink.onReqEnd` at the end of the request.
   */
  deliverBody(): void {
    if (this.#delivery !== 0) return;
    this.#delivery = 1;
    const held = this.#takeHeld();
    if (held !== undefined) for (const c of held) this.sink?.onReqData(c);
    if (this.requestComplete) this.sink?.onReqEnd();
  }

  /**
   * BodySource: body chunks go to `bodySink` from now on (those held so far first), then
   * `onBodyEnd`, and `sink.onReqEnd` with it; `onBodyAbort` if the connection closes first.
   */
  attachBody(bodySink: BodySink): void {
    if (this.#delivery === 1) return;
    this.#delivery = 2;
    this.#bodySink = bodySink;
    const held = this.#takeHeld();
    if (held !== undefined) for (const c of held) this.#bodySink?.onBodyData(c);
    if (this.requestComplete && this.#bodySink === bodySink) {
      bodySink.onBodyEnd();
      this.sink?.onReqEnd();
    }
  }

  /** BodySource: nothing more is delivered (the upstream request ended); the rest is read and dropped. */
  detachBody(): void {
    this.#bodySink = undefined;
    this.resumeBody();
  }

  /** The body chunks held so far; reading resumes if holding them had paused it. */
  #takeHeld(): Buffer[] | undefined {
    const held = this.#held;
    this.#held = undefined;
    this.#heldBytes = 0;
    this.resumeBody();
    return held;
  }

  /** Stop reading the request body (backpressure); chunks already read may still arrive. */
  pauseBody(): void {
    if (this.#bodyPaused) return;
    this.#bodyPaused = true;
    this.conn.pauseReading();
  }

  resumeBody(): void {
    if (!this.#bodyPaused) return;
    this.#bodyPaused = false;
    this.conn.resumeReading();
  }

  /** @internal from the connection */
  onBody(chunk: Buffer): void {
    if (this.closed) return;
    switch (this.#delivery) {
      case 1:
        this.sink?.onReqData(chunk);
        return;
      case 2:
        this.#bodySink?.onBodyData(chunk);
        return;
      default:
        (this.#held ??= []).push(chunk);
        this.#heldBytes += chunk.length;
        if (this.#heldBytes >= HELD_BODY_LIMIT) this.pauseBody();
    }
  }

  /** @internal from the connection */
  onRequestEnd(): void {
    if (this.requestComplete) return;
    this.requestComplete = true;
    if (this.closed) return;
    if (this.#delivery === 0) return; // told when the body is asked for
    this.#bodySink?.onBodyEnd();
    this.sink?.onReqEnd();
  }

  // ---- response ----

  /**
   * Writes the status line and headers. `headers` is flat [name, value, ...] with lower-case
   * names and no framing or connection headers; `close` makes this the connection's last response.
   * Throws (writing nothing) when a header name or value cannot be sent in HTTP/1.1.
   */
  writeHead(status: number, headers: readonly string[], close: boolean): void {
    if (this.headersSent || this.closed) return;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    let hasLength = false;
    let hasDate = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      const value = headers[i + 1];
      if (!_checkIsHttpToken(name)) throw new InvalidHeaderError(`invalid response header name ${JSON.stringify(name)}`);
      if (_checkInvalidHeaderChar(value)) throw new InvalidHeaderError(`invalid characters in the value of response header ${name}`);
      if (name.length === 14 && name === 'content-length') hasLength = true;
      else if (name.length === 4 && name === 'date') hasDate = true;
      head += `${name}: ${value}\r\n`;
    }
    if (!hasDate) head += `date: ${httpDate()}\r\n`;
    const conn = this.conn;
    this.#noBody = this.method === 'HEAD' || status < 200 || status === 204 || status === 304;
    let keep = this.keepAlive && !close && !conn.closing;
    if (!hasLength && !this.#noBody) {
      if (this.httpVersion === '1.1') {
        head += 'transfer-encoding: chunked\r\n';
        this.#chunked = true;
      } else {
        keep = false; // the end of the connection ends the body
      }
    }
    if (keep && conn.maxRequestsReached()) keep = false;
    if (!keep) {
      head += 'connection: close\r\n';
      this.closeAfter = true;
    } else if (this.httpVersion === '1.0') {
      head += 'connection: keep-alive\r\n';
    }
    this.headersSent = true;
    conn.writeHeadText(`${head}\r\n`);
  }

  /** Writes body bytes; false when the socket's buffer is full (wait for `onResDrain`). */
  write(data: Buffer): boolean {
    if (this.finished || this.closed || data.length === 0 || this.#noBody) return true;
    const sock = this.conn.socket;
    if (!this.#chunked) return sock.write(data);
    sock.cork();
    sock.write(`${data.length.toString(16)}\r\n`, 'latin1');
    sock.write(data);
    const ok = sock.write(CRLF, 'latin1');
    sock.uncork();
    return ok;
  }

  /** Writes the last body bytes (if any) and ends the response. */
  end(data?: Buffer): void {
    if (this.finished || this.closed) return;
    if (data !== undefined && data.length > 0) this.write(data);
    if (this.#chunked) this.conn.socket.write(LAST_CHUNK, 'latin1');
    this.finished = true;
    this.conn.responseEnded(this);
  }

  /** The response will be the connection's last (after it is written, the connection closes). */
  closeAfterResponse(): void {
    this.closeAfter = true;
    if (this.finished && !this.closed) this.conn.closeAfterWrites();
  }

  /** Abandons the response: the connection is closed now (an HTTP/1 stream reset). */
  destroy(): void {
    this.conn.socket.destroy();
  }

  /** Runs `fn` once the exchange is over (at once if it is). */
  onClosed(fn: () => void): void {
    if (this.closed) fn();
    else (this.#closeCallbacks ??= []).push(fn);
  }

  /** @internal from the connection: the exchange is over. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.resumeBody();
    const bodySink = this.#bodySink;
    this.#bodySink = undefined;
    // The stream hears first that its client is gone (DC, the upstream request abandoned): the
    // pool fails the upstream request synchronously on the abort, which must not read as an
    // upstream reset (UC, a 503 counted) of a stream still running.
    this.sink?.onResClose();
    if (bodySink !== undefined && !this.requestComplete) bodySink.onBodyAbort();
    const cbs = this.#closeCallbacks;
    if (cbs !== undefined) {
      this.#closeCallbacks = undefined;
      for (const fn of cbs) fn();
    }
  }
}

export class InvalidHeaderError extends Error {
  readonly code = 'ERR_INVALID_HEADER';
}

/** The codec of one downstream connection. */
export class H1ServerConnection implements IdleTracked {
  readonly socket: net.Socket;
  readonly id: number;
  /** `ip:port` of the peer and of the local end. */
  readonly remote: string;
  readonly remoteIp: string;
  readonly local: string;
  /** Requests started on this connection. */
  requests = 0;
  /** Envoy's max_connection_duration passed: the next response closes the connection. */
  closing = false;

  readonly #hooks: H1ConnectionHooks;
  readonly #settings: H1CodecSettings;
  readonly #parser: HTTPParser;
  /** Parsed requests in order; the first is the one being served. */
  readonly #queue: H1Exchange[] = [];
  /** The request being parsed (its headers are complete; its body may still be arriving). */
  #parsing: H1Exchange | undefined = undefined;
  /** Header pairs / target pieces the parser flushed before the end of a long head. */
  #pendingHeaders: string[] = [];
  #pendingUrl = '';
  /** Body bytes of the request being parsed that this codec reads itself (content-length). */
  #fixedRemaining = -1;
  /** Set in onHeadersComplete when the body is ours to read: its length. */
  #fixedStart = -1;
  #upgradePending = false;
  /** Reasons the socket is not read: the bits of PAUSE_*. */
  #pausedBy = 0;
  /**
   * Parsing waits for the current response (one request at a time). The socket is still read
   * (pausing and resuming it for every request costs more than it saves) until the bytes held in
   * `#unparsed` reach HELD_BODY_LIMIT (`#heldFull`).
   */
  #readingStopped = false;
  #heldFull = false;
  /** Whether the socket is being read (not paused). */
  #reading = true;
  /** The socket belongs to an upgrade now. */
  #handedOver = false;
  /** A parse error seen while a response was being written: answered after it. */
  #deferredError: string | undefined = undefined;
  #headersTimer: NodeJS.Timeout | undefined = undefined;
  /** Destroys the socket if the peer has not closed it DELAYED_CLOSE_MS after this end did. */
  #closeTimer: NodeJS.Timeout | undefined = undefined;
  #corked = false;
  /** Closing or closed: nothing more is parsed or started. */
  #dead = false;
  /** The request bytes were invalid: nothing more is parsed. */
  #failed = false;
  /** Bytes read past the current request while the socket is not being parsed (pipelining). */
  #unparsed: Buffer | undefined = undefined;
  /** For the connection idle timeout: the sweeper this connection is registered with while idle. */
  idleSweeper: IdleSweeper | undefined = undefined;
  lastActivity = 0;
  idleTimeoutMs = 0;
  idlePrev: IdleTracked | undefined = undefined;
  idleNext: IdleTracked | undefined = undefined;

  constructor(socket: net.Socket, id: number, hooks: H1ConnectionHooks, settings: H1CodecSettings) {
    this.socket = socket;
    this.id = id;
    this.#hooks = hooks;
    this.#settings = settings;
    this.remoteIp = socket.remoteAddress ?? '';
    this.remote = `${this.remoteIp}:${socket.remotePort ?? 0}`;
    this.local = `${socket.localAddress ?? ''}:${socket.localPort ?? 0}`;
    const parser = new HTTPParser();
    this.#parser = parser;
    this.#initParser();
    (parser as unknown as { conn: H1ServerConnection }).conn = this;
    if (settings.headersTimeoutMs > 0) parser[kOnMessageBegin] = onMessageBegin;
    parser[kOnHeaders] = onHeaders;
    parser[kOnHeadersComplete] = onHeadersComplete;
    parser[kOnBody] = onBody;
    parser[kOnMessageComplete] = onMessageComplete;
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('drain', () => this.#queue[0]?.sink?.onResDrain());
    socket.on('error', noop);
    socket.on('end', () => this.#onEnd());
    socket.on('close', () => this.#onClose());
  }

  #initParser(): void {
    this.#parser.initialize(HTTPParser.REQUEST, this, this.#settings.maxHeaderSize, HTTPParser.kLenientNone);
  }

  /** The exchange whose response is being written, if any. */
  get current(): H1Exchange | undefined {
    return this.#queue[0];
  }

  /** @internal IdleTracked */
  onIdleTimeout(): void {
    this.idleSweeper = undefined;
    if (this.#idle && !this.#dead) this.#hooks.onIdleTimeout(this);
  }

  /** Whether no request is in flight. */
  get idle(): boolean {
    return this.#idle;
  }

  /** A response `Expect: 100-continue` asks for, sent before the request body is read. */
  writeContinue(): void {
    this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
  }

  maxRequestsReached(): boolean {
    const max = this.#settings.maxRequestsPerConnection;
    return max > 0 && this.requests >= max;
  }

  /** Closes the connection now if no request is in flight, else after the current response. */
  closeWhenIdle(): void {
    this.closing = true;
    if (this.#queue.length === 0 && this.#parsing === undefined) this.#endSocket();
  }

  // ---- reading ----

  #onData(d: Buffer): void {
    if (this.#dead || this.#failed) return;
    if (this.#readingStopped) {
      // Bytes of a pipelined request: kept for later; the socket is paused once they add up.
      const held = this.#unparsed === undefined ? d : Buffer.concat([this.#unparsed, d]);
      this.#unparsed = held;
      if (held.length >= HELD_BODY_LIMIT && !this.#heldFull) {
        this.#heldFull = true;
        this.#syncReading();
      }
      return;
    }
    this.#parse(d, 0);
  }

  #parse(d: Buffer, from: number): void {
    while (from < d.length && !this.#dead) {
      if (this.#fixedRemaining >= 0) {
        from = this.#fixedBody(d, from);
        continue;
      }
      if (this.#readingStopped) {
        // Wait for the current response before parsing further (one request at a time).
        this.#unparsed = from === 0 ? d : d.subarray(from);
        return;
      }
      const chunk = from === 0 ? d : d.subarray(from);
      const ret = this.#parser.execute(chunk);
      if (typeof ret !== 'number') {
        this.#parseError(ret.code ?? 'HPE_INVALID');
        return;
      }
      if (this.#upgradePending) {
        this.#upgradePending = false;
        this.#handUpgrade(chunk.subarray(ret));
        return;
      }
      if (this.#fixedStart >= 0) {
        this.#fixedRemaining = this.#fixedStart;
        this.#fixedStart = -1;
        this.#initParser();
        from += ret;
        continue;
      }
      return;
    }
  }

  /** Request body bytes of a content-length body from `from`; returns where its end is. */
  #fixedBody(d: Buffer, from: number): number {
    const ex = this.#parsing as H1Exchange;
    const n = Math.min(d.length - from, this.#fixedRemaining);
    this.#fixedRemaining -= n;
    if (n > 0) ex.onBody(from === 0 && n === d.length ? d : d.subarray(from, from + n));
    if (this.#fixedRemaining === 0) {
      this.#fixedRemaining = -1;
      this.#messageComplete();
    }
    return from + n;
  }

  #parseError(code: string): void {
    this.#failed = true;
    this.#stopReading();
    this.#clearHeadersTimer();
    const cur = this.#queue[0];
    const parsing = this.#parsing;
    this.#parsing = undefined;
    if (parsing !== undefined && parsing === cur) {
      // The body of the request being served is broken: answer 400 if its response has not
      // started (the stream sees its connection close), else just close.
      if (cur.headersSent) this.socket.destroy();
      else {
        this.#answerError(code);
        cur.close();
      }
      return;
    }
    if (parsing !== undefined) {
      // A pipelined request cut off by the error is never served.
      const at = this.#queue.indexOf(parsing);
      if (at >= 0) this.#queue.splice(at, 1);
    }
    // Requests before the bad bytes are answered first; the error after them.
    if (this.#queue.length > 0) this.#deferredError = code;
    else this.#answerError(code);
  }

  #answerError(code: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#hooks.onCodecError(this, code);
    this.#endSocket();
  }

  #onEnd(): void {
    // The client half-closed. Envoy (no half-close for HTTP) closes the connection; a request
    // still in flight is reset (DC). A request cut short by the end is a codec error.
    if (this.#dead || this.#failed) return;
    if (this.#queue.length > 0 || this.#fixedRemaining >= 0) {
      this.socket.destroy();
      return;
    }
    const ret = this.#parser.finish();
    if (ret !== undefined) {
      this.#answerError(ret.code ?? 'HPE_INVALID_EOF_STATE');
      return;
    }
    this.#dead = true;
    this.socket.end();
  }

  #onClose(): void {
    this.#dead = true;
    this.#clearHeadersTimer();
    clearTimeout(this.#closeTimer);
    this.#parser.close();
    const queue = this.#queue.splice(0);
    for (const ex of queue) ex.close();
    const p = this.#parsing;
    this.#parsing = undefined;
    p?.close();
    this.#hooks.onClose(this);
  }

  // ---- parser callbacks ----

  /** @internal */
  messageBegin(): void {
    if (this.#headersTimer === undefined) {
      this.#headersTimer = setTimeout(() => this.#onHeadersTimeout(), this.#settings.headersTimeoutMs);
    }
  }

  #onHeadersTimeout(): void {
    this.#headersTimer = undefined;
    if (this.#dead) return;
    this.#parseError('ERR_HTTP_REQUEST_TIMEOUT');
  }

  #clearHeadersTimer(): void {
    if (this.#headersTimer !== undefined) {
      clearTimeout(this.#headersTimer);
      this.#headersTimer = undefined;
    }
  }

  /** @internal */
  headers(headers: string[], url: string): void {
    const pending = this.#pendingHeaders;
    for (let i = 0; i < headers.length; i++) pending.push(headers[i]);
    this.#pendingUrl += url;
  }

  /** @internal */
  headersComplete(major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    this.#clearHeadersTimer();
    let raw: string[];
    if (headers === undefined) {
      raw = this.#pendingHeaders;
      this.#pendingHeaders = [];
    } else if (this.#pendingHeaders.length > 0) {
      raw = this.#pendingHeaders;
      for (let i = 0; i < headers.length; i++) raw.push(headers[i]);
      this.#pendingHeaders = [];
    } else {
      raw = headers;
    }
    const target = url ?? this.#pendingUrl;
    this.#pendingUrl = '';
    const version = major === 1 && minor === 1 ? '1.1' : `${major}.${minor}`;
    const ex = new H1Exchange(this, methods[method] ?? 'GET', target, version, raw, keepAlive);
    this.#parsing = ex;
    if (upgrade) {
      this.#upgradePending = true;
      return 2;
    }
    // A content-length body is read by the codec itself (see #fixedBody): the parser stops here.
    const length = contentLength(raw);
    if (length > 0) {
      this.#fixedStart = length;
      this.#enqueue(ex);
      return 2;
    }
    this.#enqueue(ex);
    return 0;
  }

  /** @internal */
  body(chunk: Buffer): void {
    this.#parsing?.onBody(chunk);
  }

  /** @internal */
  messageComplete(): void {
    // The trailers of a chunked request come as one last flush of header pairs (with the target
    // again) just before this: Envoy drops HTTP/1 request trailers by default, and they must not
    // become the next request's head.
    this.#pendingHeaders = [];
    this.#pendingUrl = '';
    // A body this codec reads, or an upgrade: llhttp "completes" the message at its headers.
    if (this.#fixedStart >= 0 || this.#upgradePending) return;
    this.#messageComplete();
  }

  #messageComplete(): void {
    const ex = this.#parsing;
    if (ex === undefined) return;
    this.#parsing = undefined;
    // One request at a time: stop parsing until its response is complete.
    this.#stopReading();
    ex.onRequestEnd();
  }

  #enqueue(ex: H1Exchange): void {
    this.#queue.push(ex);
    if (this.#queue.length === 1) this.#start(ex);
  }

  #start(ex: H1Exchange): void {
    this.requests++;
    if (this.#idle) {
      this.#idle = false;
      this.#hooks.onBusy(this);
    }
    this.#hooks.onRequest(this, ex);
  }

  #idle = true;

  #handUpgrade(head: Buffer): void {
    const ex = this.#parsing as H1Exchange;
    this.#parsing = undefined;
    this.#dead = true;
    if (this.#queue.length > 0) {
      // An upgrade pipelined behind a request in flight: not something to serve.
      this.socket.destroy();
      return;
    }
    this.#handedOver = true;
    this.#parser.close();
    const socket = this.socket;
    socket.removeAllListeners('data');
    socket.removeAllListeners('drain');
    socket.removeAllListeners('end');
    // Back to a fresh socket's state: it flows once the new owner reads it.
    if (!this.#reading) socket.resume();
    (socket as unknown as { readableFlowing: boolean | null }).readableFlowing = null;
    this.uncork();
    this.requests++;
    this.#idle = false;
    this.#hooks.onBusy(this);
    this.#hooks.onUpgrade(this, ex, head);
  }

  // ---- reading control ----

  #stopReading(): void {
    this.#readingStopped = true;
  }

  /** One more reason not to read the socket (request-body backpressure). */
  pauseReading(): void {
    this.#pausedBy++;
    this.#syncReading();
  }

  resumeReading(): void {
    if (this.#pausedBy > 0) this.#pausedBy--;
    this.#syncReading();
  }

  #syncReading(): void {
    const read = !this.#heldFull && this.#pausedBy === 0;
    if (read === this.#reading || this.#handedOver) return;
    this.#reading = read;
    if (read) this.socket.resume();
    else this.socket.pause();
  }

  // ---- writing ----

  /** @internal */
  writeHeadText(head: string): void {
    const sock = this.socket;
    // The head goes out with the first body bytes written in the same tick (one writev).
    if (!this.#corked) {
      this.#corked = true;
      sock.cork();
      process.nextTick(uncork, this);
    }
    sock.write(head, 'latin1');
  }

  /** @internal */
  uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.socket.uncork();
  }

  /** @internal the response of `ex` has been written completely. */
  responseEnded(ex: H1Exchange): void {
    if (ex.closeAfter) {
      this.closeAfterWrites();
      // The exchange is over once its bytes are handed to the socket; the close follows.
      process.nextTick(closeExchange, ex);
      return;
    }
    process.nextTick(nextExchange, this, ex);
  }

  /** Ends the connection once what was written is flushed. */
  closeAfterWrites(): void {
    this.closing = true;
    this.#dead = true;
    this.uncork();
    this.#endSocket();
  }

  /**
   * Ends the socket once what was written is flushed, then gives the peer DELAYED_CLOSE_MS to close
   * its side (Envoy's delayed close). Without the limit a client that keeps its side open, or one
   * whose last bytes are never read (a paused socket never sees the FIN behind them), would keep
   * the socket forever.
   */
  #endSocket(): void {
    const sock = this.socket;
    if (sock.destroyed) return;
    sock.end(() => {
      if (!sock.destroyed && this.#closeTimer === undefined) this.#closeTimer = setTimeout(destroySocket, DELAYED_CLOSE_MS, sock);
    });
  }

  /** @internal after a kept-alive response: close `ex`, start the next request or go idle. */
  afterResponse(ex: H1Exchange): void {
    const queue = this.#queue;
    if (queue[0] === ex) queue.shift();
    ex.close();
    if (this.#dead) return;
    if (this.#deferredError !== undefined && queue.length === 0) {
      this.#answerError(this.#deferredError);
      return;
    }
    const next = queue[0];
    if (next !== undefined) {
      this.#start(next);
    } else if (this.#parsing === undefined) {
      this.#idle = true;
      this.#hooks.onIdle(this);
      if (this.closing) {
        this.#endSocket();
        return;
      }
    }
    // Read on unless a complete request waits behind the one now served (one at a time): the
    // request now served may still be receiving its body.
    const readOn = queue.length === 0 || (queue.length === 1 && queue[0] === this.#parsing);
    if (readOn && this.#readingStopped && !this.#failed && !this.#dead) {
      this.#readingStopped = false;
      this.#heldFull = false;
      this.#syncReading();
      const rest = this.#unparsed;
      this.#unparsed = undefined;
      if (rest !== undefined) this.#parse(rest, 0);
    }
  }
}

function noop(): void {}

function destroySocket(sock: net.Socket): void {
  sock.destroy();
}

function uncork(conn: H1ServerConnection): void {
  conn.uncork();
}

function closeExchange(ex: H1Exchange): void {
  ex.close();
}

function nextExchange(conn: H1ServerConnection, ex: H1Exchange): void {
  conn.afterResponse(ex);
}

type ParserWithConn = HTTPParser & { conn: H1ServerConnection };

function onMessageBegin(this: ParserWithConn): void {
  this.conn.messageBegin();
}

function onHeaders(this: ParserWithConn, headers: string[], url: string): void {
  this.conn.headers(headers, url);
}

function onHeadersComplete(
  this: ParserWithConn,
  major: number,
  minor: number,
  headers: string[] | undefined,
  method: number,
  url: string | undefined,
  _status: unknown,
  _statusMessage: unknown,
  upgrade: boolean,
  keepAlive: boolean,
): number {
  return this.conn.headersComplete(major, minor, headers, method, url, upgrade, keepAlive);
}

function onBody(this: ParserWithConn, chunk: Buffer): void {
  this.conn.body(chunk);
}

function onMessageComplete(this: ParserWithConn): void {
  this.conn.messageComplete();
}

/**
 * The request's content-length when the codec may read the body itself: a single valid value and
 * no transfer-encoding (llhttp has already refused conflicting or invalid framing). -1 otherwise.
 */
function contentLength(raw: readonly string[]): number {
  let length = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (length >= 0) return -1;
      const v = raw[i + 1];
      length = /^\d{1,15}$/.test(v) ? Number(v) : -1;
      if (length < 0) return -1;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      return -1;
    }
  }
  return length;
}

let dateSecond = -1;
let dateText = '';

/** The current time as an HTTP date, computed once per second. */
export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}
