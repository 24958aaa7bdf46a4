/**
 * The gRPC client behind `proxy_grpc_call` / `proxy_grpc_stream` / `proxy_grpc_send` /
 * `proxy_grpc_cancel` / `proxy_grpc_close` (proxy-wasm-abi.md §3.10, §7.2): gRPC over cleartext
 * HTTP/2 with prior knowledge (h2c), one `node:http2` session per upstream host, no gRPC library.
 *
 * Contract with the caller (the wasm host):
 * - `unary()` / `stream()` always return a handle; every failure, even one known at once (no host,
 *   pool closed, bad metadata), arrives later through `onClose`. Callbacks run from the event loop,
 *   never inside `unary()`, `stream()`, `send()`, `close()` or `cancel()`, so they never re-enter a
 *   running VM call. Use `validateGrpcRequest()` first if a bad argument must become a WasmResult.
 * - After `cancel()`, after `onClose`, or after `GrpcClientPool.close()` no callback is called again.
 * - Event order per call: `onInitialMetadata` (at most once), `onMessage` (any number),
 *   `onTrailingMetadata` (at most once), then exactly one `onClose` — unless cancelled first.
 *   Unary calls hold the response back until the status is known: on OK, `onMessage` runs once,
 *   right before `onTrailingMetadata` and `onClose(0)`; on failure there is no `onMessage`. So a
 *   host following Envoy (§6.1 "gRPC") maps a unary `onMessage` to `proxy_on_grpc_receive`, a unary
 *   `onClose(status ≠ 0)` to `proxy_on_grpc_close`, and ignores the rest; a stream maps every event.
 * - Metadata delivered is every header field as received (including `:status`, `content-type`,
 *   `grpc-status`, `grpc-message`), as Envoy hands it to the guest. A trailers-only response (status
 *   in the HEADERS frame that ends the stream) gives empty initial metadata and those headers as the
 *   trailing metadata, as Envoy does. `-bin` values arrive base64-decoded as `Uint8Array`.
 * - Message bytes passed in are copied before the call returns: a view over guest memory is fine.
 *   Messages delivered are raw protobuf bytes (no 5-byte prefix); they may be views into a larger
 *   network chunk, so copy one that is kept for long.
 * - Statuses: the server's `grpc-status` (unparsable or > 16 ⇒ -1, Envoy's InvalidCode; missing ⇒
 *   UNKNOWN 2); local ones: DEADLINE_EXCEEDED 4 on timeout, RESOURCE_EXHAUSTED 8 for an oversized
 *   message, UNAVAILABLE 14 when there is no host or the connection fails or is lost, INTERNAL 13 for
 *   protocol violations, HTTP status ≠ 200 mapped as gRPC's http-grpc-status-mapping.md says, a
 *   stream reset by the server mapped by its RST_STREAM code (PROTOCOL-HTTP2.md), and a stream
 *   ended without trailers UNKNOWN 2 (Envoy).
 */
import http2 from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { GrpcStatus } from '../../abi/enums.ts';
import { hostKey } from '../upstream/host.ts';

/** Metadata pairs in order, duplicates kept. A `-bin` key's value is raw bytes (a string means its UTF-8 bytes). */
export type GrpcMetadata = Array<[string, string | Uint8Array]>;

/** Where a call goes: asked for a host once per call, when the call starts. */
export interface GrpcTarget {
  /** An endpoint of the upstream cluster, or undefined when none is usable (⇒ UNAVAILABLE). */
  pickHost(): { address: string; port: number } | undefined;
  /** `:authority` of every request (Envoy: EnvoyGrpc.authority, else the cluster name). */
  authority: string;
}

/** What a call reports. Must not throw: a throwing callback cancels its call (see `onCallbackError`). */
export interface GrpcCallbacks {
  onInitialMetadata(metadata: GrpcMetadata): void;
  /** One whole message, without the 5-byte gRPC prefix. */
  onMessage(message: Uint8Array): void;
  onTrailingMetadata(metadata: GrpcMetadata): void;
  /** Last callback of a call. `message` is `grpc-message`, percent-decoded, or a local reason. */
  onClose(status: number, message: string): void;
}

export interface GrpcRequest {
  target: GrpcTarget;
  /** Fully qualified service, e.g. `envoy.service.auth.v3.Authorization`. */
  service: string;
  method: string;
  /** Added to the request headers; keys are lower-cased. Pseudo-headers and `RESERVED` keys are dropped. */
  initialMetadata?: GrpcMetadata;
  /** Deadline in ms, sent as `grpc-timeout` and enforced locally (⇒ DEADLINE_EXCEEDED). 0 or absent: none. */
  timeoutMs?: number;
}

/** A unary call, or the part of a stream every call has. */
export interface GrpcCall {
  /** Resets the stream (RST_STREAM CANCEL) and suppresses every later callback. Idempotent. */
  cancel(): void;
  /** True once `onClose` ran or `cancel()` was called. */
  readonly done: boolean;
}

export interface GrpcStream extends GrpcCall {
  /**
   * Sends one message; `endStream` also half-closes the local side. Returns false, sending nothing,
   * when the call is done, the local side is already closed, or the call never started (it is
   * about to report `onClose`).
   */
  send(message: Uint8Array, endStream?: boolean): boolean;
  /** Half-closes the local side; the server may still send messages and the status. Idempotent. */
  close(): void;
}

export interface GrpcClientPoolOptions {
  /** Larger received messages close the call with RESOURCE_EXHAUSTED. Default 4 MiB (gRPC's default). */
  maxReceiveMessageBytes?: number;
  /** A session not connected by then is destroyed and its calls get UNAVAILABLE. Default 5000 (Envoy's connect_timeout). */
  connectTimeoutMs?: number;
  /** A session without any frame for this long is closed gracefully. Default 300000. */
  idleTimeoutMs?: number;
  /** Gets an exception thrown by a callback (its call is already cancelled). Default: rethrown from a fresh tick. */
  onCallbackError?: (err: unknown) => void;
}

export const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * Request headers the client owns; metadata with these keys is dropped. Node's HTTP/2 layer refuses
 * connection-specific fields outright, and the rest would corrupt the call.
 */
const RESERVED = new Set([
  'content-type',
  'te',
  'grpc-timeout',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// :path is built from these; keep them inside what a path segment may carry unescaped.
const PATH_PART = /^[!$&'()*+,\-.0-9;=:@A-Z_a-z~]+$/;

/**
 * Why the request cannot be sent, or undefined when it can. The pool checks this too (and closes
 * the call with INTERNAL); a host calls it first to answer the guest with BAD_ARGUMENT instead.
 */
export function validateGrpcRequest(
  req: Pick<GrpcRequest, 'service' | 'method' | 'initialMetadata' | 'timeoutMs'>,
): string | undefined {
  if (!PATH_PART.test(req.service)) return `invalid gRPC service name ${JSON.stringify(req.service)}`;
  if (!PATH_PART.test(req.method)) return `invalid gRPC method name ${JSON.stringify(req.method)}`;
  const t = req.timeoutMs;
  if (t !== undefined && !(Number.isFinite(t) && t >= 0)) return `invalid timeout ${t}`;
  for (const [rawKey, value] of req.initialMetadata ?? []) {
    const key = rawKey.toLowerCase();
    if (key.startsWith(':') || RESERVED.has(key)) continue;
    if (!HEADER_NAME.test(key)) return `invalid metadata key ${JSON.stringify(rawKey)}`;
    if (!HEADER_VALUE.test(metadataText(key, value))) return `invalid value for metadata key ${JSON.stringify(rawKey)}`;
  }
  return undefined;
}

/** The header value sent for one metadata pair: `-bin` ⇒ unpadded base64 of the bytes (gRPC: receivers accept both). */
function metadataText(key: string, value: string | Uint8Array): string {
  if (key.endsWith('-bin')) {
    const bytes =
      typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return bytes.toString('base64').replace(/=+$/, '');
  }
  return typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
}

/** `grpc-timeout`: at most 8 digits, so larger deadlines move to a coarser unit (rounded up). */
export function formatGrpcTimeout(ms: number): string {
  const units: Array<[string, number]> = [['m', 1], ['S', 1000], ['M', 60_000], ['H', 3_600_000]];
  for (const [unit, size] of units) {
    const n = Math.ceil(ms / size);
    if (n < 100_000_000) return `${n}${unit}`;
  }
  return '99999999H';
}

/** gRPC's http-grpc-status-mapping.md, for responses that are not HTTP 200 and carry no grpc-status. */
export function httpStatusToGrpc(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.Internal;
    case 401:
      return GrpcStatus.Unauthenticated;
    case 403:
      return GrpcStatus.PermissionDenied;
    case 404:
      return GrpcStatus.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.Unavailable;
    default:
      return GrpcStatus.Unknown;
  }
}

/** gRPC's PROTOCOL-HTTP2.md mapping of a server's RST_STREAM code. */
function rstCodeToGrpc(code: number): number {
  const c = http2.constants;
  switch (code) {
    case c.NGHTTP2_REFUSED_STREAM:
      return GrpcStatus.Unavailable;
    case c.NGHTTP2_CANCEL:
      return GrpcStatus.Canceled;
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      return GrpcStatus.ResourceExhausted;
    case c.NGHTTP2_INADEQUATE_SECURITY:
      return GrpcStatus.PermissionDenied;
    default:
      return GrpcStatus.Internal;
  }
}

/** Envoy's `Common::getGrpcStatus`: missing ⇒ undefined; not a number in 0..16 ⇒ InvalidCode (-1). */
function parseGrpcStatus(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,10}$/.test(v)) return GrpcStatus.InvalidCode;
  const n = Number(v);
  return n <= GrpcStatus.Unauthenticated ? n : GrpcStatus.InvalidCode;
}

const lenientUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** `grpc-message` is percent-encoded UTF-8; a malformed escape is kept as written. */
export function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  const bytes = new Uint8Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes[n++] = parseInt(s.slice(i + 1, i + 3), 16);
      i += 2;
    } else {
      // Header values reach JS as latin1, one byte per char.
      bytes[n++] = c & 0xff;
    }
  }
  return lenientUtf8.decode(bytes.subarray(0, n));
}

/** The 5-byte prefix (uncompressed, u32 BE length) plus a copy of the message. */
export function encodeGrpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

export type DecodeResult = { messages: Uint8Array[]; error?: { status: number; message: string } };

/**
 * Reassembles length-prefixed messages from DATA chunks of any size: one message split across chunks,
 * several per chunk, or a prefix split in two. Refuses a declared length over the cap before
 * buffering it. After an error it must not be fed again.
 */
export class GrpcMessageDecoder {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Body length of the message being read, or -1 while its prefix is incomplete. */
  #need = -1;

  constructor(maxMessageBytes: number) {
    this.#max = maxMessageBytes;
  }

  /** True when bytes of an unfinished message are buffered (an error at end of stream). */
  get pending(): boolean {
    return this.#buffered > 0 || this.#need >= 0;
  }

  push(chunk: Buffer): DecodeResult {
    const messages: Uint8Array[] = [];
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    // Each turn consumes a prefix or a whole message, so this ends within buffered/5 + 1 turns.
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 5) break;
        const prefix = this.#take(5);
        const flag = prefix[0];
        const length = prefix.readUInt32BE(1);
        if (flag !== 0) {
          const message = flag === 1 ? 'compressed message but no grpc-encoding was negotiated' : `invalid message flag ${flag}`;
          return { messages, error: { status: GrpcStatus.Internal, message } };
        }
        if (length > this.#max) {
          return {
            messages,
            error: { status: GrpcStatus.ResourceExhausted, message: `received message larger than max (${length} vs. ${this.#max})` },
          };
        }
        this.#need = length;
      }
      if (this.#buffered < this.#need) break;
      messages.push(this.#take(this.#need));
      this.#need = -1;
    }
    return { messages };
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= n;
    return out;
  }
}

function metadataFromRaw(raw: string[]): GrpcMetadata {
  const out: GrpcMetadata = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i];
    const value = raw[i + 1];
    if (key.endsWith('-bin')) {
      // gRPC allows several base64 values joined by commas in one field.
      for (const part of value.split(',')) out.push([key, new Uint8Array(Buffer.from(part.trim(), 'base64'))]);
    } else {
      out.push([key, value]);
    }
  }
  return out;
}

function requestHeaders(req: GrpcRequest): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ':method': 'POST',
    ':scheme': 'http',
    ':path': `/${req.service}/${req.method}`,
    ':authority': req.target.authority,
    'content-type': 'application/grpc',
    te: 'trailers',
  };
  if (req.timeoutMs !== undefined && req.timeoutMs > 0) headers['grpc-timeout'] = formatGrpcTimeout(req.timeoutMs);
  for (const [rawKey, value] of req.initialMetadata ?? []) {
    const key = rawKey.toLowerCase();
    if (key.startsWith(':') || RESERVED.has(key)) continue;
    const text = metadataText(key, value);
    const prev = headers[key];
    if (prev === undefined) headers[key] = text;
    else if (Array.isArray(prev)) prev.push(text);
    else headers[key] = [String(prev), text];
  }
  return headers;
}

// setTimeout clamps anything above this to 1 ms; such deadlines are only sent, not armed locally.
const MAX_TIMER_MS = 0x7fffffff;

/** What a call needs from its pool. */
interface CallHooks {
  /** The call is done: drop it from the in-flight set. */
  forget(call: Call): void;
  /** A callback threw; the call is already cancelled. */
  callbackError(err: unknown): void;
}

class Call implements GrpcStream {
  readonly #hooks: CallHooks;
  readonly #cb: GrpcCallbacks;
  readonly #unary: boolean;
  readonly #decoder: GrpcMessageDecoder;
  #req: ClientHttp2Stream | undefined;
  #done = false;
  #localEnded = false;
  #timer: NodeJS.Timeout | undefined;
  /** Where grpc-status comes from: the trailers, or the headers of a trailers-only response. */
  #statusFields: IncomingHttpHeaders | undefined;
  #trailing: GrpcMetadata | undefined;
  #unaryResponse: Uint8Array | undefined;
  #error: Error | undefined;

  constructor(hooks: CallHooks, cb: GrpcCallbacks, unary: boolean, maxMessageBytes: number) {
    this.#hooks = hooks;
    this.#cb = cb;
    this.#unary = unary;
    this.#decoder = new GrpcMessageDecoder(maxMessageBytes);
  }

  get done(): boolean {
    return this.#done;
  }

  start(
    req: GrpcRequest,
    session: (host: { address: string; port: number }) => ClientHttp2Session,
    message: Uint8Array | undefined,
  ): void {
    const invalid = validateGrpcRequest(req);
    if (invalid !== undefined) return this.failLater(GrpcStatus.Internal, invalid);
    const host = req.target.pickHost();
    if (host === undefined) return this.failLater(GrpcStatus.Unavailable, 'no healthy upstream');
    let h2: ClientHttp2Session;
    let stream: ClientHttp2Stream;
    try {
      h2 = session(host);
      stream = h2.request(requestHeaders(req), { endStream: false });
    } catch (err) {
      // Headers were validated, so what is left is a session that is closing or gone.
      return this.failLater(GrpcStatus.Unavailable, `cannot start stream: ${(err as Error).message}`);
    }
    this.#req = stream;
    stream.on('response', (headers, flags, raw) => this.#onResponse(headers, flags, raw));
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('trailers', (trailers, _flags, raw) => {
      this.#statusFields = trailers;
      this.#trailing = metadataFromRaw(raw);
    });
    // Node also emits 'end' for a stream the server reset or a connection that dropped, so only an
    // end after a status-carrying HEADERS frame is a normal one; the rest is judged at 'close'.
    stream.on('end', () => {
      if (this.#trailing !== undefined) this.#onEnd();
    });
    stream.on('error', (err) => {
      this.#error ??= err;
    });
    stream.on('close', () => this.#onStreamClose(stream, h2));
    if (message !== undefined) {
      stream.end(encodeGrpcFrame(message));
      this.#localEnded = true;
    }
    const t = req.timeoutMs;
    if (t !== undefined && t > 0 && t <= MAX_TIMER_MS) {
      this.#timer = setTimeout(() => this.#finish(GrpcStatus.DeadlineExceeded, 'deadline exceeded', true), t);
      this.#timer.unref();
    }
  }

  send(message: Uint8Array, endStream = false): boolean {
    const stream = this.#req;
    if (this.#done || this.#localEnded || stream === undefined || message.length > 0xffffffff) return false;
    const frame = encodeGrpcFrame(message);
    if (endStream) {
      this.#localEnded = true;
      stream.end(frame);
    } else {
      stream.write(frame);
    }
    return true;
  }

  close(): void {
    if (this.#done || this.#localEnded || this.#req === undefined) return;
    this.#localEnded = true;
    this.#req.end();
  }

  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.#cleanup();
    if (this.#req !== undefined && !this.#req.closed) this.#req.close(http2.constants.NGHTTP2_CANCEL);
  }

  #cleanup(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#hooks.forget(this);
  }

  /** Reports a failure known before any stream exists, from the event loop (cancel() still wins). */
  failLater(status: number, message: string): void {
    setImmediate(() => this.#finish(status, message, false));
  }

  /** Runs a callback; false when the call is over afterwards (it cancelled, or the callback threw). */
  #emit(fn: () => void): boolean {
    try {
      fn();
    } catch (err) {
      this.cancel();
      this.#hooks.callbackError(err);
    }
    return !this.#done;
  }

  #finish(status: number, message: string, reset: boolean): void {
    if (this.#done) return;
    this.#done = true;
    this.#cleanup();
    const stream = this.#req;
    if (reset && stream !== undefined && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
    this.#emit(() => this.#cb.onClose(status, message));
  }

  #onResponse(headers: IncomingHttpHeaders, flags: number, raw: string[]): void {
    if (this.#done) return;
    const httpStatus = Number(headers[':status']);
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    const metadata = metadataFromRaw(raw);
    if (endStream) {
      // Trailers-only: as Envoy, empty initial metadata and the headers as trailing metadata.
      this.#statusFields = headers;
      this.#trailing = metadata;
      if (!this.#emit(() => this.#cb.onInitialMetadata([]))) return;
      if (httpStatus !== 200 && parseGrpcStatus(headers['grpc-status']) === undefined) {
        this.#finish(httpStatusToGrpc(httpStatus), `HTTP status ${httpStatus}`, true);
      }
      return; // the status is read at 'end'
    }
    if (!this.#emit(() => this.#cb.onInitialMetadata(metadata))) return;
    if (httpStatus !== 200) {
      this.#finish(httpStatusToGrpc(httpStatus), `HTTP status ${httpStatus}`, true);
      return;
    }
    const ct = headers['content-type'];
    if (ct !== undefined && !/^application\/grpc(?:[+;]|$)/.test(ct)) {
      this.#finish(GrpcStatus.Unknown, `unexpected content-type ${JSON.stringify(ct)}`, true);
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#done) return;
    const { messages, error } = this.#decoder.push(chunk);
    for (const m of messages) {
      if (this.#unary) {
        if (this.#unaryResponse !== undefined) {
          this.#finish(GrpcStatus.Internal, 'more than one response message for a unary call', true);
          return;
        }
        this.#unaryResponse = m;
      } else if (!this.#emit(() => this.#cb.onMessage(m))) {
        return;
      }
    }
    if (error !== undefined) this.#finish(error.status, error.message, true);
  }

  /** The server ended the stream with a status: trailers, or a trailers-only response. */
  #onEnd(): void {
    if (this.#done) return;
    const reset = !this.#localEnded;
    if (this.#decoder.pending) {
      this.#finish(GrpcStatus.Internal, 'stream ended in the middle of a message', reset);
      return;
    }
    const fields = this.#statusFields ?? {};
    const status = parseGrpcStatus(fields['grpc-status']) ?? GrpcStatus.Unknown;
    const gm = fields['grpc-message'];
    const message = percentDecode(Array.isArray(gm) ? gm.join(',') : (gm ?? ''));
    const trailing = this.#trailing ?? [];
    if (this.#unary && status === GrpcStatus.Ok) {
      const response = this.#unaryResponse;
      if (response !== undefined && !this.#emit(() => this.#cb.onMessage(response))) return;
      if (!this.#emit(() => this.#cb.onTrailingMetadata(trailing))) return;
      if (response === undefined) this.#finish(GrpcStatus.Internal, 'unary call ended without a response message', reset);
      else this.#finish(status, message, reset);
      return;
    }
    if (!this.#emit(() => this.#cb.onTrailingMetadata(trailing))) return;
    this.#finish(status, message, reset);
  }

  /**
   * The stream closed without a status: the connection went away, the server reset the stream, or
   * it ended the stream without trailers (Envoy: UNKNOWN).
   */
  #onStreamClose(stream: ClientHttp2Stream, session: ClientHttp2Session): void {
    if (this.#done) return;
    const why = this.#error?.message;
    const code = stream.rstCode ?? http2.constants.NGHTTP2_INTERNAL_ERROR;
    if (session.destroyed) {
      this.#finish(GrpcStatus.Unavailable, why ?? 'connection closed', false);
    } else if (code === http2.constants.NGHTTP2_NO_ERROR) {
      this.#finish(GrpcStatus.Unknown, 'stream ended without trailers', false);
    } else {
      this.#finish(rstCodeToGrpc(code), why ?? `stream reset by the server (code ${code})`, false);
    }
  }
}

/**
 * gRPC calls to any number of upstream hosts: one HTTP/2 session per `ip:port`, shared by all calls
 * to that host, replaced once it receives GOAWAY, fails or goes idle. Sessions are unref'd: an open
 * session or a pending call never keeps the process alive. Owned by whoever owns the VMs' hostcalls.
 */
export class GrpcClientPool {
  readonly #maxMessageBytes: number;
  readonly #connectTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #hooks: CallHooks;
  readonly #sessions = new Map<string, ClientHttp2Session>();
  readonly #calls = new Set<Call>();
  #closed = false;

  constructor(opts: GrpcClientPoolOptions = {}) {
    this.#maxMessageBytes = opts.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE_MESSAGE_BYTES;
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.#idleTimeoutMs = opts.idleTimeoutMs ?? 300_000;
    const onCallbackError =
      opts.onCallbackError ??
      ((err: unknown) =>
        setImmediate(() => {
          throw err;
        }));
    this.#hooks = { forget: (call) => this.#calls.delete(call), callbackError: onCallbackError };
  }

  /** Sends one request message and ends the request side; the response is held until the status (see file comment). */
  unary(req: GrpcRequest, message: Uint8Array, cb: GrpcCallbacks): GrpcCall {
    return this.#start(req, cb, true, message);
  }

  /** Opens a bidirectional stream; messages go out with `send()`. */
  stream(req: GrpcRequest, cb: GrpcCallbacks): GrpcStream {
    return this.#start(req, cb, false, undefined);
  }

  /** Number of calls not yet done; for tests and stats. */
  get activeCalls(): number {
    return this.#calls.size;
  }

  /**
   * Cancels every call in flight (no callbacks) and closes every session; later calls get
   * UNAVAILABLE. Resolves once the sessions are closed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const call of [...this.#calls]) call.cancel();
    const closing: Array<Promise<void>> = [];
    for (const s of this.#sessions.values()) {
      if (s.destroyed) continue;
      closing.push(new Promise((resolve) => s.once('close', () => resolve())));
      s.destroy();
    }
    this.#sessions.clear();
    await Promise.all(closing);
  }

  #start(req: GrpcRequest, cb: GrpcCallbacks, unary: boolean, message: Uint8Array | undefined): Call {
    const call = new Call(this.#hooks, cb, unary, this.#maxMessageBytes);
    this.#calls.add(call);
    if (this.#closed) call.failLater(GrpcStatus.Unavailable, 'gRPC client pool is closed');
    else call.start(req, (host) => this.#session(host.address, host.port), message);
    return call;
  }

  #session(address: string, port: number): ClientHttp2Session {
    const key = hostKey(address, port);
    const existing = this.#sessions.get(key);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;

    const session = http2.connect(`http://${key}`);
    session.unref();
    const forget = (): void => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    };
    // Each of these ends the session's usefulness for new calls; its streams report on their own.
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    const connectTimer = setTimeout(() => {
      session.destroy(new Error(`connect timeout after ${this.#connectTimeoutMs} ms to ${key}`));
    }, this.#connectTimeoutMs);
    connectTimer.unref();
    session.once('connect', () => clearTimeout(connectTimer));
    session.once('close', () => clearTimeout(connectTimer));
    session.setTimeout(this.#idleTimeoutMs, () => {
      forget();
      session.close();
    });
    this.#sessions.set(key, session);
    return session;
  }
}
