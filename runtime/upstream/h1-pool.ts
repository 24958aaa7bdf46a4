import net from 'node:net';
import type { Readable } from 'node:stream';
import { HTTPParser } from '_http_common';

/**
 * The upstream HTTP/1.1 connection pool of one host: keep-alive connections over `net`, parsed by
 * Node's native llhttp binding (the parser `node:http` itself uses), one request at a time per
 * connection. It replaces undici's Pool on the data path: a request costs one header string and
 * one write, and the response headers arrive as the flat list the router builds its HeaderMap
 * from, with no parsed-object step in between (docs/RATIONALE.md has the measurement).
 *
 * A request waits in FIFO order while every connection is busy; a new connection is opened for
 * it while fewer than `connections` exist. A connection is reused when the response said
 * keep-alive, the request body was fully sent, the response ended cleanly and the connection has
 * served fewer than `maxRequestsPerConnection` requests. Idle connections close after the idle
 * timeout, or earlier when the upstream's `Keep-Alive: timeout=N` says so.
 *
 * Handlers are objects (the router is its own handler, so a request allocates no closures). Every
 * handler sees exactly one of `onResponseEnd`, `onResponseError` or `onRequestUpgrade` last,
 * never anything after it.
 */

export interface UpstreamController {
  readonly paused: boolean;
  /** Stops reading the response (backpressure). */
  pause(): void;
  resume(): void;
  /** Gives up on the request: its connection is closed unless the request never got one. */
  abort(reason: Error): void;
}

export interface UpstreamRequestOptions {
  method: string;
  /** Origin-form request target. */
  path: string;
  /** Flat [name, value, ...]; sent in order. `host` is added from the pool's address when absent. */
  headers: readonly string[];
  /**
   * null (no body), one buffer, or a stream read to its end: a Readable, or a `BodySource` that
   * delivers its chunks itself (chunked unless content-length is given).
   */
  body: Buffer | Readable | BodySource | null;
  /** Ask for an HTTP/1.1 upgrade to this protocol (`connection: upgrade` is added). */
  upgrade?: string;
}

/**
 * A request body its owner pushes (the downstream codec's exchange): no stream in between, and
 * chunks arriving in the tick the request is written go out in the same syscall as its head.
 */
export interface BodySource {
  /** Deliver to `sink` from now on: chunks already received first, `onBodyEnd` at the end. */
  attachBody(sink: BodySink): void;
  /** Deliver nothing more. */
  detachBody(): void;
  /** Backpressure: stop delivering until `resumeBody` (a chunk already read may still come). */
  pauseBody(): void;
  resumeBody(): void;
}

export interface BodySink {
  onBodyData(chunk: Buffer): void;
  onBodyEnd(): void;
  /** The body will never be complete (its client went away). */
  onBodyAbort(): void;
}

export interface UpstreamHandler {
  /** The request has a connection and is being written. */
  onRequestStart?(controller: UpstreamController): void;
  onBodySent?(chunk: Buffer): void;
  onRequestSent?(): void;
  /** Headers as received: flat [name, value, ...], names in wire case. */
  onResponseStart(controller: UpstreamController, statusCode: number, headers: string[], statusText: string): void;
  onResponseData(controller: UpstreamController, chunk: Buffer): void;
  /** Trailers as a flat list, or null when there were none. */
  onResponseEnd(controller: UpstreamController, trailers: string[] | null): void;
  onResponseError(controller: UpstreamController, err: UpstreamError | Error): void;
  /**
   * A 101 answer to an upgrade request: the socket now belongs to the handler. It starts flowing
   * when the handler listens for data; the bytes that followed the 101 are read first.
   */
  onRequestUpgrade?(controller: UpstreamController, statusCode: number, headers: string[], socket: net.Socket): void;
}

/** Error codes of the pool's own failures (socket errors keep theirs: ECONNREFUSED, ECONNRESET, ...). */
export const UpstreamErrorCode = {
  ConnectTimeout: 'SLUICE_UPSTREAM_CONNECT_TIMEOUT',
  /** The upstream closed the connection before the response was complete. */
  Closed: 'SLUICE_UPSTREAM_CLOSED',
  /** The response is not valid HTTP/1.1 (the llhttp reason is in the message). */
  BadResponse: 'SLUICE_UPSTREAM_BAD_RESPONSE',
  /** A request header, method or path cannot be sent as HTTP/1.1. */
  BadRequest: 'SLUICE_UPSTREAM_BAD_REQUEST',
  /** The request body was longer or shorter than its content-length. */
  BodyLength: 'SLUICE_UPSTREAM_BODY_LENGTH',
  PoolClosed: 'SLUICE_UPSTREAM_POOL_CLOSED',
} as const;

export class UpstreamError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'UpstreamError';
    this.code = code;
  }
}

export interface H1PoolOptions {
  /** IP address (or hostname) and port of the host. */
  address: string;
  port: number;
  /** Most connections open at once (Envoy's max_connections circuit breaker). */
  connections: number;
  connectTimeoutMs: number;
  /** Idle keep-alive connections close after this long. */
  idleTimeoutMs: number;
  maxRequestsPerConnection?: number | undefined;
  /** Response header block limit in bytes. */
  maxHeaderSize: number;
  onConnect?: () => void;
  onDisconnect?: () => void;
  onConnectFail?: (err: Error) => void;
}

const { kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete } = HTTPParser;

/** RFC 9110 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: no CR, LF, NUL or other controls except tab (what Node's http client refuses). */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Request targets: visible ASCII and obs-text only. */
const BAD_TARGET = /[^\x21-\x7e\x80-\xff]/;
/** Methods whose requests carry `content-length: 0` when they have no body (as undici and Node do). */
const EXPECTS_PAYLOAD = new Set(['POST', 'PUT', 'PATCH', 'QUERY']);
/** How often idle connections are checked against their deadline. */
const IDLE_SWEEP_MS = 250;
const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** PoolRequest states. */
const Queued = 0;
const Active = 1;
const Done = 2;

class PoolRequest implements UpstreamController {
  readonly opts: UpstreamRequestOptions;
  readonly handler: UpstreamHandler;
  readonly pool: H1Pool;
  state: number = Queued;
  /** The request line and header block, built once at dispatch. */
  headText = '';
  conn: Conn | undefined = undefined;
  paused = false;
  /** The whole request, body included, is on the wire. */
  sent = false;
  /** The response said the connection stays open. */
  keepAlive = false;
  head = false;
  /** Body bytes still owed to a declared content-length; -1 for chunked. */
  remaining = -1;
  /** Set while a stream body is being sent. */
  pump: BodyPump | undefined = undefined;

  constructor(pool: H1Pool, opts: UpstreamRequestOptions, handler: UpstreamHandler) {
    this.pool = pool;
    this.opts = opts;
    this.handler = handler;
    this.head = opts.method === 'HEAD';
  }

  pause(): void {
    if (this.paused || this.state !== Active) return;
    this.paused = true;
    this.conn?.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.state === Active) this.conn?.socket.resume();
  }

  abort(reason: Error): void {
    this.fail(reason);
  }

  /** Ends the request with an error: the handler hears it once; a connection it held is closed. */
  fail(err: Error): void {
    if (this.state === Done) return;
    const wasQueued = this.state === Queued;
    this.state = Done;
    this.detachSource();
    const conn = this.conn;
    this.conn = undefined;
    if (wasQueued) this.pool.unqueue(this);
    if (conn !== undefined) conn.drop(this);
    try {
      this.handler.onResponseError(this, err);
    } finally {
      this.pool.afterRequest();
    }
  }

  detachSource(): void {
    const pump = this.pump;
    if (pump === undefined) return;
    this.pump = undefined;
    pump.detach();
  }
}

/**
 * Streams a request body from a Readable or a BodySource onto the connection, framed by its
 * content-length or chunked, pausing the source while the socket's buffer is full. Made only for
 * stream bodies, so a request without one allocates none of its listeners.
 */
class BodyPump implements BodySink {
  readonly req: PoolRequest;
  readonly src: Readable | undefined;
  readonly source: BodySource | undefined;
  readonly sock: net.Socket;

  constructor(req: PoolRequest, src: Readable | BodySource, sock: net.Socket) {
    this.req = req;
    if (isBodySource(src)) {
      this.source = src;
      this.src = undefined;
    } else {
      this.src = src;
      this.source = undefined;
    }
    this.sock = sock;
  }

  /** Starts reading the body (a source may deliver chunks it already has at once). */
  start(): void {
    const src = this.src;
    if (src === undefined) {
      (this.source as BodySource).attachBody(this);
      return;
    }
    src.on('data', this.onData);
    src.once('end', this.onEnd);
    src.once('error', this.onError);
    src.once('close', this.onClose);
    if (src.readableEnded) this.onEnd();
  }

  detach(): void {
    const src = this.src;
    if (src === undefined) {
      this.source?.detachBody();
    } else {
      src.removeListener('data', this.onData);
      src.removeListener('end', this.onEnd);
      src.removeListener('error', this.onError);
      src.removeListener('close', this.onClose);
    }
    this.sock.removeListener('drain', this.onDrain);
  }

  onBodyData(chunk: Buffer): void {
    this.onData(chunk);
  }

  onBodyEnd(): void {
    this.onEnd();
  }

  onBodyAbort(): void {
    this.onClose();
  }

  readonly onData = (chunk: Buffer | string): void => {
    const req = this.req;
    if (req.pump !== this || req.state !== Active) return;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (buf.length === 0) return;
    const sock = this.sock;
    let ok: boolean;
    if (req.remaining >= 0) {
      if (buf.length > req.remaining) {
        req.fail(new UpstreamError(UpstreamErrorCode.BodyLength, 'request body is longer than its content-length'));
        return;
      }
      req.remaining -= buf.length;
      ok = sock.write(buf);
    } else {
      sock.cork();
      sock.write(`${buf.length.toString(16)}\r\n`, 'latin1');
      sock.write(buf);
      ok = sock.write(CRLF);
      sock.uncork();
    }
    req.handler.onBodySent?.(buf);
    if (!ok && req.pump === this) {
      if (this.src !== undefined) this.src.pause();
      else this.source?.pauseBody();
      sock.once('drain', this.onDrain);
    }
  };

  readonly onDrain = (): void => {
    if (this.req.pump !== this) return;
    if (this.src !== undefined) this.src.resume();
    else this.source?.resumeBody();
  };

  readonly onEnd = (): void => {
    const req = this.req;
    if (req.pump !== this || req.state !== Active) return;
    if (req.remaining > 0) {
      req.fail(new UpstreamError(UpstreamErrorCode.BodyLength, 'request body is shorter than its content-length'));
      return;
    }
    req.detachSource();
    if (req.remaining < 0) this.sock.write(LAST_CHUNK);
    req.sent = true;
    req.handler.onRequestSent?.();
  };

  readonly onError = (err: Error): void => {
    if (this.req.pump === this) this.req.fail(err);
  };

  readonly onClose = (): void => {
    // A body stream destroyed before its end (the client went away mid-body).
    const req = this.req;
    if (req.pump === this && !req.sent) {
      req.fail(new UpstreamError(UpstreamErrorCode.BodyLength, 'request body stream closed before its end'));
    }
  };
}

function isBodySource(body: Readable | BodySource): body is BodySource {
  return typeof (body as Partial<BodySource>).attachBody === 'function';
}

function uncorkSocket(sock: net.Socket): void {
  sock.uncork();
}

class Conn {
  readonly pool: H1Pool;
  readonly socket: net.Socket;
  readonly parser: HTTPParser;
  current: PoolRequest | undefined = undefined;
  connected = false;
  served = 0;
  idleSince = 0;
  /** The idle deadline this connection honours (pool idle timeout, or the upstream's hint). */
  idleMs: number;
  /** Header pairs flushed early by the parser (long header blocks) or trailers. */
  pending: string[] = [];
  /** Skipping a 1xx interim response. */
  interim = false;
  /** The response has ended; the connection is released once the current chunk is parsed. */
  released: PoolRequest | undefined = undefined;
  /** Never reuse: the upstream or a failure said so. */
  closing = false;
  upgraded = false;
  upgradeInfo: { status: number; headers: string[] } | undefined = undefined;
  /** Body length of the response whose headers were just parsed, when this pool reads the body itself. */
  fixedStart = -1;
  /** Body bytes still to come of a response this pool reads itself; -1 when the parser has the body. */
  fixedRemaining = -1;
  /** The parser's async resource, reused when it is re-initialized. */
  readonly resource = {};
  error: Error | undefined = undefined;
  connectTimer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(pool: H1Pool) {
    this.pool = pool;
    this.idleMs = pool.idleTimeoutMs;
    const o = pool.options;
    const socket = net.connect({ host: o.address, port: o.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
    this.socket = socket;
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, this.resource, o.maxHeaderSize, HTTPParser.kLenientNone);
    (parser as unknown as { conn: Conn }).conn = this;
    parser[kOnHeaders] = onHeaders;
    parser[kOnHeadersComplete] = onHeadersComplete;
    parser[kOnBody] = onBody;
    parser[kOnMessageComplete] = onMessageComplete;
    this.parser = parser;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = undefined;
      if (!this.connected) {
        this.error = new UpstreamError(UpstreamErrorCode.ConnectTimeout, `connect timeout after ${o.connectTimeoutMs} ms`);
        socket.destroy();
      }
    }, o.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
      this.connected = true;
      this.pool.connected(this);
    });
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: Error) => {
      this.error ??= err;
    });
    socket.on('close', () => this.onClose());
  }

  /** Writes `req` on this (idle, connected) connection. */
  send(req: PoolRequest, head: string): void {
    this.current = req;
    this.served++;
    req.conn = this;
    req.state = Active;
    req.handler.onRequestStart?.(req);
    if (req.state !== Active) return;
    const body = req.opts.body;
    const sock = this.socket;
    if (body === null) {
      sock.write(head, 'latin1');
      req.sent = true;
      req.handler.onRequestSent?.();
    } else if (Buffer.isBuffer(body)) {
      sock.cork();
      sock.write(head, 'latin1');
      if (body.length > 0) sock.write(body);
      sock.uncork();
      if (body.length > 0) req.handler.onBodySent?.(body);
      req.sent = true;
      req.handler.onRequestSent?.();
    } else {
      // Body bytes written in this tick (a source's held chunks, or the rest of the socket read
      // that carried the downstream head) go out with the head in one writev.
      sock.cork();
      sock.write(head, 'latin1');
      process.nextTick(uncorkSocket, sock);
      const pump = new BodyPump(req, body, sock);
      req.pump = pump;
      pump.start();
    }
  }

  onData(d: Buffer): void {
    if (this.fixedRemaining >= 0) {
      this.fixedBody(d, 0);
      return;
    }
    const ret = this.parser.execute(d);
    const done = this.released;
    if (typeof ret !== 'number') {
      if (done !== undefined) {
        // The response was complete; what followed it is garbage: close after delivering it.
        this.released = undefined;
        this.closing = true;
        this.finishResponse(done);
        return;
      }
      this.protocolError(`invalid response: ${ret.code ?? ret.message}${ret.reason ? ` (${ret.reason})` : ''}`);
      return;
    }
    if (this.upgraded) {
      this.handUpgrade(d.subarray(ret));
      return;
    }
    if (this.fixedStart >= 0) {
      // The parser stopped after the headers of a content-length response: the body is ours.
      this.fixedRemaining = this.fixedStart;
      this.fixedStart = -1;
      this.parser.initialize(HTTPParser.RESPONSE, this.resource, this.pool.options.maxHeaderSize, HTTPParser.kLenientNone);
      this.fixedBody(d, ret);
      return;
    }
    if (done !== undefined) {
      this.released = undefined;
      // Bytes after the response (a second, unasked-for response) make the connection unusable.
      if (ret !== d.length) this.closing = true;
      this.finishResponse(done);
    }
  }

  /**
   * Body bytes of a content-length response from `from` in `d`, handed on as views of the socket's
   * buffer (the parser would copy each chunk into a new buffer). The response ends with its last byte.
   */
  fixedBody(d: Buffer, from: number): void {
    const req = this.current as PoolRequest;
    const n = Math.min(d.length - from, this.fixedRemaining);
    if (n > 0) {
      this.fixedRemaining -= n;
      req.handler.onResponseData(req, from === 0 && n === d.length ? d : d.subarray(from, from + n));
      if (this.current !== req || req.state !== Active) return;
    }
    if (this.fixedRemaining > 0) return;
    this.fixedRemaining = -1;
    // Bytes after the response (a second, unasked-for response) make the connection unusable.
    if (from + n !== d.length) this.closing = true;
    this.current = undefined;
    this.finishResponse(req);
  }

  /** The response to `req` has ended: hand the connection back (or close it), then tell the handler. */
  finishResponse(req: PoolRequest): void {
    if (req.state !== Active) return;
    const trailers = this.pending.length > 0 ? this.pending : null;
    this.pending = [];
    if (!req.keepAlive || !req.sent) this.closing = true;
    const max = this.pool.options.maxRequestsPerConnection;
    if (max !== undefined && max > 0 && this.served >= max) this.closing = true;
    req.state = Done;
    req.detachSource();
    req.conn = undefined;
    if (req.paused) {
      req.paused = false;
      this.socket.resume();
    }
    if (this.closing) this.socket.destroy();
    else this.pool.idle(this);
    try {
      req.handler.onResponseEnd(req, trailers);
    } finally {
      this.pool.afterRequest();
    }
  }

  protocolError(message: string): void {
    this.closing = true;
    const req = this.current;
    this.socket.destroy();
    req?.fail(new UpstreamError(UpstreamErrorCode.BadResponse, message));
  }

  handUpgrade(rest: Buffer): void {
    const req = this.current as PoolRequest;
    const { status, headers } = this.upgradeInfo as { status: number; headers: string[] };
    this.current = undefined;
    req.state = Done;
    req.conn = undefined;
    const sock = this.socket;
    sock.removeAllListeners('data');
    sock.removeAllListeners('end');
    sock.removeAllListeners('close');
    sock.removeAllListeners('error');
    this.pool.forget(this);
    this.parser.close();
    // Back to the state of a fresh socket: it flows once its new owner listens for data (as
    // node:http does on 'upgrade'), and the bytes the upstream sent after the 101 come first.
    (sock as unknown as { readableFlowing: boolean | null }).readableFlowing = null;
    if (rest.length > 0) sock.unshift(rest);
    try {
      if (req.handler.onRequestUpgrade) req.handler.onRequestUpgrade(req, status, headers, sock);
      else sock.destroy();
    } finally {
      this.pool.afterRequest();
    }
  }

  onEnd(): void {
    // Bodies delimited by the connection's end complete here.
    if (this.current !== undefined) {
      const ret = this.parser.finish();
      if (ret !== undefined && this.current !== undefined) {
        this.protocolError(`invalid response: ${ret.code ?? ret.message}${ret.reason ? ` (${ret.reason})` : ''}`);
        return;
      }
      const done = this.released;
      if (done !== undefined) {
        this.released = undefined;
        this.closing = true;
        this.finishResponse(done);
      }
    }
    this.closing = true;
    this.socket.destroy();
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    this.parser.close();
    const wasConnected = this.connected;
    this.pool.forget(this);
    const req = this.current;
    this.current = undefined;
    if (!wasConnected) {
      const err = this.error ?? new UpstreamError(UpstreamErrorCode.Closed, 'upstream connection closed while connecting');
      this.pool.connectFailed(this, err);
      return;
    }
    if (req !== undefined) {
      const err = this.error ?? new UpstreamError(UpstreamErrorCode.Closed, 'upstream connection closed before the response completed');
      req.fail(err);
    }
    this.pool.disconnected();
  }

  /** `req` ended early (abort, body failure): this connection can't carry anything else. */
  drop(req: PoolRequest): void {
    if (this.current === req) this.current = undefined;
    this.closing = true;
    if (req.paused) this.socket.resume();
    this.socket.destroy();
  }
}

// Parser callbacks: `this` is the parser; no closures per connection.

function onHeaders(this: HTTPParser, headers: string[]): void {
  const conn = (this as unknown as { conn: Conn }).conn;
  for (let i = 0; i < headers.length; i++) conn.pending.push(headers[i]);
}

function onHeadersComplete(
  this: HTTPParser,
  _major: number,
  _minor: number,
  headers: string[] | undefined,
  _method: unknown,
  _url: unknown,
  statusCode: number,
  statusMessage: string,
  upgrade: boolean,
  shouldKeepAlive: boolean,
): number {
  const conn = (this as unknown as { conn: Conn }).conn;
  let list = headers;
  if (list === undefined) {
    list = conn.pending;
    conn.pending = [];
  } else if (conn.pending.length > 0) {
    list = conn.pending.concat(list);
    conn.pending = [];
  }
  const req = conn.current;
  if (req === undefined || req.state !== Active) {
    // A response nobody asked for.
    conn.closing = true;
    conn.socket.destroy();
    return 1;
  }
  if (statusCode >= 100 && statusCode < 200 && statusCode !== 101) {
    conn.interim = true;
    return 1;
  }
  if (statusCode === 101) {
    if (req.opts.upgrade === undefined || !upgrade) {
      conn.protocolError('101 Switching Protocols without an upgrade request');
      return 1;
    }
    conn.upgraded = true;
    conn.upgradeInfo = { status: statusCode, headers: list };
    return 2;
  }
  req.keepAlive = shouldKeepAlive;
  if (shouldKeepAlive) conn.idleMs = keepAliveHint(list, conn.pool.idleTimeoutMs);
  const fixed = req.head || statusCode === 204 || statusCode === 304 ? -1 : contentLength(list);
  req.handler.onResponseStart(req, statusCode, list, statusMessage);
  if (req.head) return 1;
  if (fixed < 0 || req.state !== Active) return 0;
  // Stop the parser at the end of the headers (2: "no body, pause"); onData reads the body.
  conn.fixedStart = fixed;
  return 2;
}

/** The body length a response declares with content-length and no transfer-encoding; else -1. */
function contentLength(headers: string[]): number {
  let len = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const k = headers[i];
    if (k.length === 14 && k.toLowerCase() === 'content-length') {
      const v = headers[i + 1];
      const n = /^\d{1,15}$/.test(v) ? Number(v) : -1;
      if (n < 0 || (len >= 0 && n !== len)) return -1;
      len = n;
    } else if (k.length === 17 && k.toLowerCase() === 'transfer-encoding') {
      return -1;
    }
  }
  return len;
}

function onBody(this: HTTPParser, chunk: Buffer): void {
  const conn = (this as unknown as { conn: Conn }).conn;
  const req = conn.current;
  if (req === undefined || req.state !== Active) return;
  req.handler.onResponseData(req, chunk);
}

function onMessageComplete(this: HTTPParser): void {
  const conn = (this as unknown as { conn: Conn }).conn;
  if (conn.interim) {
    conn.interim = false;
    conn.pending = [];
    return;
  }
  // A 101 completes its message at once; the socket is handed over after this chunk. A
  // content-length response stopped after its headers completes here too: its body follows.
  if (conn.upgraded || conn.fixedStart >= 0) return;
  const req = conn.current;
  if (req === undefined || req.state !== Active) return;
  // Released after this chunk is parsed, so bytes beyond the response are seen first; until
  // then the connection has no current request, and a further response in the chunk closes it.
  conn.current = undefined;
  conn.released = req;
}

/** `Keep-Alive: timeout=N` caps the idle time, one second early to avoid racing the upstream's close. */
function keepAliveHint(headers: string[], idleMs: number): number {
  for (let i = 0; i < headers.length; i += 2) {
    const k = headers[i];
    if (k.length !== 10 || k.toLowerCase() !== 'keep-alive') continue;
    const m = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(headers[i + 1]);
    if (m === null) continue;
    const hint = Number(m[1]) * 1000 - 1000;
    return hint <= 0 ? 0 : Math.min(idleMs, hint);
  }
  return idleMs;
}

export class H1Pool {
  readonly options: H1PoolOptions;
  readonly idleTimeoutMs: number;
  readonly #hostHeader: string;
  #conns = 0;
  #connecting = 0;
  #idle: Conn[] = [];
  #all = new Set<Conn>();
  #queue: PoolRequest[] = [];
  #queueHead = 0;
  #sweep: NodeJS.Timeout | undefined;
  #closing = false;
  #closed: (() => void) | undefined;
  #active = 0;

  constructor(options: H1PoolOptions) {
    this.options = options;
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.#hostHeader = options.address.includes(':') ? `[${options.address}]:${options.port}` : `${options.address}:${options.port}`;
  }

  /** Connections open or opening, requests waiting for one, requests in flight. */
  get stats(): { connections: number; connecting: number; idle: number; queued: number; active: number } {
    return {
      connections: this.#conns,
      connecting: this.#connecting,
      idle: this.#idle.length,
      queued: this.#queue.length - this.#queueHead,
      active: this.#active,
    };
  }

  dispatch(opts: UpstreamRequestOptions, handler: UpstreamHandler): UpstreamController {
    const req = new PoolRequest(this, opts, handler);
    this.#active++;
    if (this.#closing) {
      this.#failSoon(req, new UpstreamError(UpstreamErrorCode.PoolClosed, 'the upstream pool is closed'));
      return req;
    }
    const head = this.#head(req);
    if (typeof head !== 'string') {
      this.#failSoon(req, head);
      return req;
    }
    req.headText = head;
    const conn = this.#idle.pop();
    if (conn !== undefined) {
      conn.send(req, head);
      return req;
    }
    this.#queue.push(req);
    this.#grow();
    return req;
  }

  /**
   * Stops taking requests. Requests already waiting are still served by the connections that are
   * open or opening; each connection closes when nothing waits for it. Resolves once all have.
   */
  close(): Promise<void> {
    this.#closing = true;
    for (const c of this.#idle) c.socket.destroy();
    this.#idle = [];
    this.#stopSweep();
    this.#failStranded();
    if (this.#conns === 0 && this.#connecting === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#closed = resolve;
    });
  }

  /** Closes every connection now; requests in flight or waiting fail. */
  destroy(): Promise<void> {
    this.#closing = true;
    const err = new UpstreamError(UpstreamErrorCode.PoolClosed, 'the upstream pool was destroyed');
    const waiting = this.#queue.slice(this.#queueHead);
    this.#queue = [];
    this.#queueHead = 0;
    for (const req of waiting) req.fail(err);
    const p = this.close();
    for (const c of this.#all) {
      c.error ??= err;
      c.socket.destroy();
    }
    return p;
  }

  // ---- called by connections and requests ----

  connected(conn: Conn): void {
    this.#connecting--;
    this.#conns++;
    this.options.onConnect?.();
    this.idle(conn);
  }

  connectFailed(conn: Conn, err: Error): void {
    this.#connecting--;
    this.#all.delete(conn);
    this.options.onConnectFail?.(err);
    // The request this connection was opened for fails; the others wait for another attempt.
    const req = this.#shift();
    if (req !== undefined) req.fail(err);
    this.#afterLoss();
  }

  disconnected(): void {
    this.#conns--;
    this.options.onDisconnect?.();
    this.#afterLoss();
  }

  /** A connection slot freed up: open one for waiting requests, or settle a closing pool. */
  #afterLoss(): void {
    this.#grow();
    this.#failStranded();
    this.#maybeClosed();
  }

  forget(conn: Conn): void {
    this.#all.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    if (conn.upgraded && conn.connected && !conn.closed) {
      // An upgraded socket leaves the pool: it no longer counts as one of its connections.
      conn.closed = true;
      this.disconnected();
    }
  }

  /** `conn` is free: give it the next waiting request, or park it (close it if the pool is closing). */
  idle(conn: Conn): void {
    const next = this.#shift();
    if (next !== undefined) {
      conn.send(next, next.headText);
      return;
    }
    if (this.#closing) {
      conn.closing = true;
      conn.socket.destroy();
      return;
    }
    conn.idleSince = performance.now();
    this.#idle.push(conn);
    if (this.#sweep === undefined) {
      this.#sweep = setInterval(() => this.#sweepIdle(), IDLE_SWEEP_MS);
      this.#sweep.unref();
    }
  }

  unqueue(req: PoolRequest): void {
    const i = this.#queue.indexOf(req, this.#queueHead);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  afterRequest(): void {
    this.#active--;
  }

  // ---- internals ----

  #shift(): PoolRequest | undefined {
    while (this.#queueHead < this.#queue.length) {
      const req = this.#queue[this.#queueHead++];
      if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#queueHead);
        this.#queueHead = 0;
      }
      if (req.state === Queued) return req;
    }
    if (this.#queueHead > 0) {
      this.#queue = [];
      this.#queueHead = 0;
    }
    return undefined;
  }

  /** Opens connections for waiting requests that no opening connection will serve. */
  #grow(): void {
    if (this.#closing) return;
    const waiting = this.#queue.length - this.#queueHead;
    while (this.#connecting < waiting && this.#conns + this.#connecting < this.options.connections) {
      this.#connecting++;
      this.#all.add(new Conn(this));
    }
  }

  /** A closing pool opens no connections: requests left waiting with none to serve them fail. */
  #failStranded(): void {
    if (!this.#closing || this.#conns + this.#connecting > 0) return;
    const waiting = this.#queue.slice(this.#queueHead);
    this.#queue = [];
    this.#queueHead = 0;
    const err = new UpstreamError(UpstreamErrorCode.PoolClosed, 'the upstream pool closed before a connection was free');
    for (const req of waiting) req.fail(err);
  }

  #maybeClosed(): void {
    if (this.#closed !== undefined && this.#conns === 0 && this.#connecting === 0) {
      const done = this.#closed;
      this.#closed = undefined;
      done();
    }
  }

  #sweepIdle(): void {
    const now = performance.now();
    const keep: Conn[] = [];
    for (const c of this.#idle) {
      if (now - c.idleSince >= c.idleMs) {
        c.closing = true;
        c.socket.destroy();
      } else {
        keep.push(c);
      }
    }
    this.#idle = keep;
    if (keep.length === 0) this.#stopSweep();
  }

  #stopSweep(): void {
    if (this.#sweep !== undefined) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  #failSoon(req: PoolRequest, err: Error): void {
    process.nextTick(() => req.fail(err));
  }

  /** The request line and header block, or why it cannot be sent. */
  #head(req: PoolRequest): string | UpstreamError {
    const o = req.opts;
    if (!TOKEN.test(o.method)) return new UpstreamError(UpstreamErrorCode.BadRequest, `invalid method ${JSON.stringify(o.method)}`);
    if (o.path.length === 0 || BAD_TARGET.test(o.path)) {
      return new UpstreamError(UpstreamErrorCode.BadRequest, `invalid request target ${JSON.stringify(o.path)}`);
    }
    let head = `${o.method} ${o.path} HTTP/1.1\r\n`;
    const h = o.headers;
    let host = false;
    let length = -1;
    for (let i = 0; i < h.length; i += 2) {
      const k = h[i];
      const v = h[i + 1];
      if (!TOKEN.test(k)) return new UpstreamError(UpstreamErrorCode.BadRequest, `invalid header name ${JSON.stringify(k)}`);
      if (BAD_VALUE.test(v)) return new UpstreamError(UpstreamErrorCode.BadRequest, `invalid value for header ${k}`);
      const n = k.length;
      if (n === 4 && !host && k.toLowerCase() === 'host') host = true;
      else if (n === 14 && k.toLowerCase() === 'content-length') {
        const len = /^\d+$/.test(v) ? Number(v) : NaN;
        if (!Number.isSafeInteger(len) || (length >= 0 && length !== len)) {
          return new UpstreamError(UpstreamErrorCode.BadRequest, `invalid content-length ${JSON.stringify(v)}`);
        }
        if (length >= 0) continue;
        length = len;
      } else if (n === 17 && k.toLowerCase() === 'transfer-encoding') {
        // The pool frames the body itself.
        continue;
      }
      head += `${k}: ${v}\r\n`;
    }
    if (!host) head = `${o.method} ${o.path} HTTP/1.1\r\nhost: ${this.#hostHeader}\r\n${head.slice(head.indexOf('\r\n') + 2)}`;
    const body = o.body;
    if (body === null) {
      if (length > 0) return new UpstreamError(UpstreamErrorCode.BodyLength, `content-length ${length} without a body`);
      if (length < 0 && EXPECTS_PAYLOAD.has(o.method)) head += 'content-length: 0\r\n';
    } else if (Buffer.isBuffer(body)) {
      if (length >= 0 && length !== body.length) {
        return new UpstreamError(UpstreamErrorCode.BodyLength, `content-length ${length} but the body has ${body.length} bytes`);
      }
      if (length < 0 && (body.length > 0 || EXPECTS_PAYLOAD.has(o.method))) head += `content-length: ${body.length}\r\n`;
    } else if (length >= 0) {
      req.remaining = length;
    } else {
      req.remaining = -1;
      head += 'transfer-encoding: chunked\r\n';
    }
    if (o.upgrade !== undefined) {
      if (!TOKEN.test(o.upgrade.replace(/[/ ,]/g, 'x'))) return new UpstreamError(UpstreamErrorCode.BadRequest, `invalid upgrade ${JSON.stringify(o.upgrade)}`);
      head += `connection: upgrade\r\nupgrade: ${o.upgrade}\r\n`;
    }
    return `${head}\r\n`;
  }
}
