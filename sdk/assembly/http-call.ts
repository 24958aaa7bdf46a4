/**
 * HTTP callouts (proxy-wasm-abi.md §3.9, §7.1) with a callback per call.
 *
 * The host delivers every response to the root context (`proxy_on_http_call_response`) with only a
 * token. The SDK keeps a registry token → (originating context, callback), reads the response
 * (headers, body, trailers are readable only during that delivery), makes the originating stream
 * the effective context (`proxy_set_effective_context`), and calls the callback with that
 * context. Inside the callback, header helpers, `continueRequest()` and `sendLocalResponse()` act
 * on the originating stream, as if it were one of its own callbacks.
 *
 * If the originating stream has ended (onDelete ran) before the response arrives, the response is
 * dropped and the callback is not called.
 */
import { Body } from "./body";
import { BufferType, WasmResult } from "./enums";
import { Context, findContext } from "./context";
import { httpCallResponseHeaders, httpCallResponseTrailers } from "./headers";
import { proxy_http_call, proxy_set_effective_context } from "./imports";
import { RET_NUMBER } from "./memory";
import { findPair, HeaderPair, serializePairs } from "./pairs";
import { getCallStatus } from "./status";

/** A completed (or failed) http call, as the callback receives it. */
export class HttpCallResponse {
  constructor(
    /** The call's token (as the host numbered it). */
    public token: u32,
    /** Response headers including `:status`; empty when the call failed. */
    public headers: Array<HeaderPair>,
    public body: ArrayBuffer,
    public trailers: Array<HeaderPair>,
    /** When failed: the host's reason code (Envoy/Sluice: 11 BrokenConnection) and message ("reset"). */
    public failureCode: u32,
    public failureMessage: string,
  ) {}

  /** True when no response arrived (connection failure, reset, timeout without a synthesized reply). */
  get failed(): bool {
    return this.headers.length == 0;
  }

  /** The HTTP status (`:status`), or 0 when the call failed. */
  get status(): u32 {
    const s = findPair(this.headers, ":status");
    return s == null ? 0 : <u32>I32.parseInt(s);
  }

  /** First value of response header `name`, or null. */
  header(name: string): string | null {
    return findPair(this.headers, name);
  }

  /** The body as UTF-8 text. */
  bodyString(): string {
    return String.UTF8.decode(this.body);
  }
}

class PendingHttpCall {
  constructor(
    public origin: Context,
    public callback: (origin: Context, response: HttpCallResponse) => void,
  ) {}
}

const pending = new Map<u32, PendingHttpCall>();
const callResponseBody = new Body(BufferType.HttpCallResponseBody);

/**
 * Sends an HTTP request to `cluster` (a cluster name from the proxy's configuration). `headers`
 * must include `:method`, `:path` and `:authority`. `timeoutMs` 0 means no timeout. When the
 * response (or the failure) arrives, `callback(origin, response)` runs with `origin` as the
 * effective context. Returns Ok, or BadArgument for an unknown cluster or missing pseudo-headers
 * (the callback is then never called).
 *
 * `callback` must not capture local variables (AssemblyScript has no closures): keep per-call state
 * on `origin`, which the callback receives with its own type.
 */
export function httpCall<T extends Context>(
  origin: T,
  cluster: string,
  headers: Array<HeaderPair>,
  body: ArrayBuffer | null,
  trailers: Array<HeaderPair> | null,
  timeoutMs: u32,
  callback: (origin: T, response: HttpCallResponse) => void,
): WasmResult {
  const upstream = String.UTF8.encode(cluster);
  const h = serializePairs(headers);
  const t: ArrayBuffer | null = trailers == null || trailers.length == 0 ? null : serializePairs(trailers);
  const bPtr: usize = body == null ? 0 : changetype<usize>(body);
  const bLen: usize = body == null ? 0 : <usize>body.byteLength;
  const tPtr: usize = t == null ? 0 : changetype<usize>(t);
  const tLen: usize = t == null ? 0 : <usize>t.byteLength;
  store<u32>(RET_NUMBER, 0);
  const result = <WasmResult>proxy_http_call(
    changetype<usize>(upstream),
    <usize>upstream.byteLength,
    changetype<usize>(h),
    <usize>h.byteLength,
    bPtr,
    bLen,
    tPtr,
    tLen,
    timeoutMs,
    RET_NUMBER,
  );
  if (result != WasmResult.Ok) return result;
  const token = load<u32>(RET_NUMBER);
  // The callback takes the origin's own class; every class reference is the same wasm type, so it
  // is stored under the base type and called with the object it was registered with.
  pending.set(token, new PendingHttpCall(origin, changetype<(origin: Context, response: HttpCallResponse) => void>(callback)));
  return WasmResult.Ok;
}

/** Number of http calls waiting for a response (for tests and metrics). */
export function pendingHttpCalls(): i32 {
  return pending.size;
}

export function proxy_on_http_call_response(rootContextId: u32, token: u32, headerCount: u32, bodySize: u32, trailerCount: u32): void {
  if (!pending.has(token)) return;
  const call = pending.get(token);
  pending.delete(token);
  // Read everything while the root context is current: the host exposes the response there.
  const headers = headerCount > 0 ? httpCallResponseHeaders.pairs() : new Array<HeaderPair>();
  const read = bodySize > 0 ? callResponseBody.read(0, bodySize) : null;
  const body = read == null ? new ArrayBuffer(0) : read;
  const trailers = trailerCount > 0 ? httpCallResponseTrailers.pairs() : new Array<HeaderPair>();
  let failureCode: u32 = 0;
  let failureMessage = "";
  if (headerCount == 0) {
    const status = getCallStatus();
    failureCode = status.code;
    failureMessage = status.message;
  }
  const originId = call.origin.contextId;
  if (findContext(originId) == null) return;
  if (originId != rootContextId) proxy_set_effective_context(originId);
  call.callback(call.origin, new HttpCallResponse(token, headers, body, trailers, failureCode, failureMessage));
}
