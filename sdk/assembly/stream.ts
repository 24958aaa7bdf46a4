/**
 * Stream control (proxy-wasm-abi.md §3.8, §7.3, §7.4): resume a paused request/response, reset a
 * stream, answer locally. These act on the stream the host is calling, or on the originating
 * stream while the SDK delivers an http-call/gRPC response to it (HttpContext has the same calls
 * as methods).
 *
 * Who does what: a callback that returned a Stop status owns the stream until it (or a later
 * callback of the same context, e.g. the http-call callback) calls `continueRequest()` /
 * `continueResponse()` or sends a local response. The host runs the resume after the current
 * callback returns, never in the middle of it.
 */
import { GrpcStatus, StreamType, WasmResult } from "./enums";
import { proxy_close_stream, proxy_continue_stream, proxy_send_local_response } from "./imports";
import { HeaderPair, serializePairs } from "./pairs";

/** Resumes a request paused by onRequestHeaders/Body/Trailers. */
export function continueRequest(): WasmResult {
  return <WasmResult>proxy_continue_stream(StreamType.HttpRequest);
}

/** Resumes a response paused by onResponseHeaders/Body/Trailers. */
export function continueResponse(): WasmResult {
  return <WasmResult>proxy_continue_stream(StreamType.HttpResponse);
}

/** Resets the stream from the request side (the client sees the stream/connection reset). */
export function closeRequest(): WasmResult {
  return <WasmResult>proxy_close_stream(StreamType.HttpRequest);
}

/** Resets the stream from the response side. */
export function closeResponse(): WasmResult {
  return <WasmResult>proxy_close_stream(StreamType.HttpResponse);
}

/**
 * Answers the request locally with `statusCode`, `body` and extra `headers`; the upstream is not
 * contacted (or its response is dropped). The reply is sent after the current callback returns,
 * whatever it returns, and passes back through this filter's response callbacks (as in Envoy).
 * `grpcStatus` other than InvalidCode makes it a gRPC reply; `details` becomes the response-code
 * details (`%RESPONSE_CODE_DETAILS%`).
 */
export function sendLocalResponse(
  statusCode: u32,
  body: string = "",
  headers: Array<HeaderPair> | null = null,
  grpcStatus: GrpcStatus = GrpcStatus.InvalidCode,
  details: string = "",
): WasmResult {
  return sendLocalResponseBytes(statusCode, String.UTF8.encode(body), headers, grpcStatus, details);
}

/** `sendLocalResponse` with a binary body. */
export function sendLocalResponseBytes(
  statusCode: u32,
  body: ArrayBuffer,
  headers: Array<HeaderPair> | null = null,
  grpcStatus: GrpcStatus = GrpcStatus.InvalidCode,
  details: string = "",
): WasmResult {
  const d = String.UTF8.encode(details);
  const h: ArrayBuffer | null = headers == null || headers.length == 0 ? null : serializePairs(headers);
  const hPtr: usize = h == null ? 0 : changetype<usize>(h);
  const hLen: usize = h == null ? 0 : <usize>h.byteLength;
  return <WasmResult>proxy_send_local_response(
    statusCode,
    changetype<usize>(d),
    <usize>d.byteLength,
    changetype<usize>(body),
    <usize>body.byteLength,
    hPtr,
    hLen,
    grpcStatus,
  );
}
