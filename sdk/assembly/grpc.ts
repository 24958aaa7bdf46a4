/**
 * gRPC callouts (proxy-wasm-abi.md §3.10, §7.2): unary calls with a callback, and streams with a
 * handler object. Delivery works like http calls: the host reports to the root context with a
 * token; the SDK finds the originating context, makes it effective and calls your code with it.
 *
 * `cluster` is a cluster name from the proxy's configuration (or a serialized
 * envoy.config.core.v3.GrpcService). Messages are raw protobuf bytes, without gRPC framing.
 */
import { Body } from "./body";
import { BufferType, GrpcStatus, WasmResult } from "./enums";
import { Context, findContext } from "./context";
import { grpcInitialMetadata, grpcTrailingMetadata } from "./headers";
import {
  proxy_grpc_call,
  proxy_grpc_cancel,
  proxy_grpc_close,
  proxy_grpc_send,
  proxy_grpc_stream,
  proxy_set_effective_context,
} from "./imports";
import { RET_NUMBER } from "./memory";
import { HeaderPair, serializePairs } from "./pairs";
import { getCallStatus } from "./status";

/** Outcome of a unary gRPC call. */
export class GrpcCallResponse {
  constructor(
    public token: u32,
    /** Ok with `message` set, or the status the call closed with. */
    public status: GrpcStatus,
    public statusMessage: string,
    /** The response message (raw protobuf); empty unless status is Ok. */
    public message: ArrayBuffer,
  ) {}

  get ok(): bool {
    return this.status == GrpcStatus.Ok;
  }
}

/** A gRPC stream opened with `grpcStream`. */
export class GrpcStream {
  constructor(public readonly token: u32) {}

  /** Sends one message; `endStream` half-closes the local side after it. */
  send(message: ArrayBuffer, endStream: bool = false): WasmResult {
    return <WasmResult>proxy_grpc_send(this.token, changetype<usize>(message), <usize>message.byteLength, endStream ? 1 : 0);
  }

  /** Half-closes the local side; the handler still gets the remote side's messages and onClose. */
  close(): WasmResult {
    return <WasmResult>proxy_grpc_close(this.token);
  }

  /** Resets the stream; no further handler calls. */
  cancel(): WasmResult {
    const r = <WasmResult>proxy_grpc_cancel(this.token);
    streamHandlers.delete(this.token);
    return r;
  }
}

/**
 * Receives a stream's events; subclass it and override what you need. Keep a reference to your
 * context in the subclass if the handler must act on it (the SDK makes that context effective
 * before each call).
 */
export class GrpcStreamHandler {
  /** The server's initial metadata. */
  onInitialMetadata(stream: GrpcStream, metadata: Array<HeaderPair>): void {}
  /** One message from the server. */
  onMessage(stream: GrpcStream, message: ArrayBuffer): void {}
  /** The server's trailing metadata. */
  onTrailingMetadata(stream: GrpcStream, metadata: Array<HeaderPair>): void {}
  /** The stream ended with `status` (Ok or an error). Last call. */
  onClose(stream: GrpcStream, status: GrpcStatus, message: string): void {}
}

class PendingGrpcCall {
  constructor(
    public origin: Context,
    public callback: (origin: Context, response: GrpcCallResponse) => void,
  ) {}
}

class OpenGrpcStream {
  constructor(
    public origin: Context,
    public stream: GrpcStream,
    public handler: GrpcStreamHandler,
  ) {}
}

const calls = new Map<u32, PendingGrpcCall>();
const streamHandlers = new Map<u32, OpenGrpcStream>();
const grpcMessage = new Body(BufferType.GrpcCallMessage);

/**
 * Calls `service`/`method` on `cluster` with `message`; `callback(origin, response)` runs when the
 * call completes or fails. Returns the host's status (the callback runs only after Ok). The
 * callback must not capture locals (see httpCall).
 */
export function grpcCall<T extends Context>(
  origin: T,
  cluster: string,
  service: string,
  method: string,
  initialMetadata: Array<HeaderPair> | null,
  message: ArrayBuffer,
  timeoutMs: u32,
  callback: (origin: T, response: GrpcCallResponse) => void,
): WasmResult {
  const up = String.UTF8.encode(cluster);
  const svc = String.UTF8.encode(service);
  const m = String.UTF8.encode(method);
  const md: ArrayBuffer | null = initialMetadata == null || initialMetadata.length == 0 ? null : serializePairs(initialMetadata);
  const mdPtr: usize = md == null ? 0 : changetype<usize>(md);
  const mdLen: usize = md == null ? 0 : <usize>md.byteLength;
  store<u32>(RET_NUMBER, 0);
  const result = <WasmResult>proxy_grpc_call(
    changetype<usize>(up), <usize>up.byteLength,
    changetype<usize>(svc), <usize>svc.byteLength,
    changetype<usize>(m), <usize>m.byteLength,
    mdPtr, mdLen,
    changetype<usize>(message), <usize>message.byteLength,
    timeoutMs,
    RET_NUMBER,
  );
  if (result != WasmResult.Ok) return result;
  calls.set(load<u32>(RET_NUMBER), new PendingGrpcCall(origin, changetype<(origin: Context, response: GrpcCallResponse) => void>(callback)));
  return WasmResult.Ok;
}

/** Opens a stream to `service`/`method` on `cluster`; events go to `handler`. Null if the host refused. */
export function grpcStream(
  origin: Context,
  cluster: string,
  service: string,
  method: string,
  initialMetadata: Array<HeaderPair> | null,
  handler: GrpcStreamHandler,
): GrpcStream | null {
  const up = String.UTF8.encode(cluster);
  const svc = String.UTF8.encode(service);
  const m = String.UTF8.encode(method);
  const md: ArrayBuffer | null = initialMetadata == null || initialMetadata.length == 0 ? null : serializePairs(initialMetadata);
  const mdPtr: usize = md == null ? 0 : changetype<usize>(md);
  const mdLen: usize = md == null ? 0 : <usize>md.byteLength;
  store<u32>(RET_NUMBER, 0);
  const result = proxy_grpc_stream(
    changetype<usize>(up), <usize>up.byteLength,
    changetype<usize>(svc), <usize>svc.byteLength,
    changetype<usize>(m), <usize>m.byteLength,
    mdPtr, mdLen,
    RET_NUMBER,
  );
  if (result != WasmResult.Ok) return null;
  const stream = new GrpcStream(load<u32>(RET_NUMBER));
  streamHandlers.set(stream.token, new OpenGrpcStream(origin, stream, handler));
  return stream;
}

/** Makes `origin` effective for the delivery; false if it no longer exists. */
function enter(origin: Context, rootContextId: u32): bool {
  if (findContext(origin.contextId) == null) return false;
  if (origin.contextId != rootContextId) proxy_set_effective_context(origin.contextId);
  return true;
}

export function proxy_on_grpc_receive_initial_metadata(rootContextId: u32, token: u32, headerCount: u32): void {
  if (!streamHandlers.has(token)) return;
  const open = streamHandlers.get(token);
  const metadata = grpcInitialMetadata.pairs();
  if (enter(open.origin, rootContextId)) open.handler.onInitialMetadata(open.stream, metadata);
}

export function proxy_on_grpc_receive(rootContextId: u32, token: u32, messageSize: u32): void {
  const read = grpcMessage.read(0, messageSize);
  const message = read == null ? new ArrayBuffer(0) : read;
  if (calls.has(token)) {
    // Unary: a message means success, and nothing else follows for this token.
    const call = calls.get(token);
    calls.delete(token);
    if (enter(call.origin, rootContextId)) call.callback(call.origin, new GrpcCallResponse(token, GrpcStatus.Ok, "", message));
    return;
  }
  if (!streamHandlers.has(token)) return;
  const open = streamHandlers.get(token);
  if (enter(open.origin, rootContextId)) open.handler.onMessage(open.stream, message);
}

export function proxy_on_grpc_receive_trailing_metadata(rootContextId: u32, token: u32, trailerCount: u32): void {
  if (!streamHandlers.has(token)) return;
  const open = streamHandlers.get(token);
  const metadata = grpcTrailingMetadata.pairs();
  if (enter(open.origin, rootContextId)) open.handler.onTrailingMetadata(open.stream, metadata);
}

export function proxy_on_grpc_close(rootContextId: u32, token: u32, statusCode: u32): void {
  const status = getCallStatus();
  const code = <GrpcStatus>(<i32>statusCode);
  if (calls.has(token)) {
    const call = calls.get(token);
    calls.delete(token);
    if (enter(call.origin, rootContextId)) call.callback(call.origin, new GrpcCallResponse(token, code, status.message, new ArrayBuffer(0)));
    return;
  }
  if (!streamHandlers.has(token)) return;
  const open = streamHandlers.get(token);
  streamHandlers.delete(token);
  if (enter(open.origin, rootContextId)) open.handler.onClose(open.stream, code, status.message);
}
