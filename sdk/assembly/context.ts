/**
 * Contexts and the dispatcher (proxy-wasm-abi.md §6, §6.1).
 *
 * A filter is two classes: a RootContext subclass (one per plugin configuration per VM: reads the
 * configuration, owns timers, queues, shared state) and an HttpContext subclass (one per HTTP
 * stream). Every callback has a no-op default, so a filter overrides only what it needs. The
 * filter registers a factory for its root context under the plugin's root_id; the root context
 * creates the stream contexts:
 *
 *   class MyRoot extends RootContext {
 *     createHttpContext(contextId: u32): HttpContext | null { return new MyHttp(contextId, this); }
 *   }
 *   registerRootContext((id) => new MyRoot(id), "my_root");
 *
 * The `proxy_on_*` functions below are the module's exports (the filter re-exports them with
 * `export * from "@sluice/sdk/exports"`). They find the context by id and call its method. Calls
 * for a context the SDK does not know (a stream whose root created no HttpContext) get the
 * ABI defaults (Continue / true), so a root without createHttpContext is a valid filter.
 */
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  GrpcStatus,
  WasmResult,
} from "./enums";
import { proxy_done, proxy_set_tick_period_milliseconds } from "./imports";
import { HeaderPair } from "./pairs";
import { pluginRootId } from "./properties";
import {
  closeRequest as closeRequestStream,
  closeResponse as closeResponseStream,
  continueRequest as continueRequestStream,
  continueResponse as continueResponseStream,
  sendLocalResponse as sendLocalResponseOnStream,
} from "./stream";

/** What every context has: its id (unique in this VM while it lives). */
export class Context {
  constructor(public readonly contextId: u32) {}

  /**
   * The host called foreign function `functionId` on this context; its arguments are readable
   * with `getForeignFunctionArguments()` (`argumentsSize` bytes).
   */
  onForeignFunction(functionId: u32, argumentsSize: u32): void {}
}

/**
 * One plugin configuration in one VM. Created when the configuration loads (before any request),
 * on every worker; Envoy may also create throw-away copies to validate a configuration.
 */
export class RootContext extends Context {
  /** The root_id this context was created for (set by the SDK right after the factory returns). */
  rootId: string = "";

  /** The VM started; VM configuration (`vmConfigurationSize` bytes) is readable. False rejects the VM. */
  onVmStart(vmConfigurationSize: u32): bool {
    return true;
  }

  /**
   * The plugin is being configured: read `getPluginConfiguration*()` here (only here). Return false
   * to reject the configuration (the host refuses it, or keeps the previous version serving).
   */
  onConfigure(pluginConfigurationSize: u32): bool {
    return true;
  }

  /**
   * A new HTTP stream on this plugin. Return its context, or null to let the stream pass
   * untouched (every stream callback then answers Continue).
   */
  createHttpContext(contextId: u32): HttpContext | null {
    return null;
  }

  /** The tick period set with `setTickPeriod` elapsed. */
  onTick(): void {}

  /** Shared queue `queueId`, registered by this root context, has items to dequeue. */
  onQueueReady(queueId: u32): void {}

  /** Envoy's wasm access logger calls this once per logged request; HTTP filters never get it. */
  onLog(): void {}

  /**
   * The plugin is going away. Return false to finish asynchronous work first, then call `done()`.
   */
  onDone(): bool {
    return true;
  }

  /** Last callback of this context; release what it holds. */
  onDelete(): void {}

  /** Calls `onTick` every `milliseconds` (0 stops). One period per root context. */
  setTickPeriod(milliseconds: u32): WasmResult {
    return <WasmResult>proxy_set_tick_period_milliseconds(milliseconds);
  }

  /** Tells the host that a root context whose onDone returned false has finished. */
  done(): WasmResult {
    return <WasmResult>proxy_done();
  }
}

/**
 * One HTTP stream (request and response). Callbacks run in this order: request headers, request
 * body chunks, request trailers, response headers, response body chunks, response trailers, then
 * onLog, onDone, onDelete. A callback that returns a Stop status keeps the stream paused until this
 * context resumes it (continueRequest/continueResponse) or sends a local response.
 */
export class HttpContext extends Context {
  constructor(contextId: u32, public readonly root: RootContext) {
    super(contextId);
  }

  /** Request headers arrived (`requestHeaders` readable and changeable). */
  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    return FilterHeadersStatus.Continue;
  }

  /** A request body chunk (or the whole buffered body) is in `requestBody`. */
  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  /** Request trailers arrived (`requestTrailers`). */
  onRequestTrailers(trailerCount: u32): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  /** Response headers arrived (`responseHeaders`); also for this filter's own local responses. */
  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    return FilterHeadersStatus.Continue;
  }

  /** A response body chunk (or the whole buffered body) is in `responseBody`. */
  onResponseBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  /** Response trailers arrived (`responseTrailers`). */
  onResponseTrailers(trailerCount: u32): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  /** The stream finished (access-log time): request and response headers are still readable. */
  onLog(): void {}

  /** The host is done with the stream. */
  onDone(): void {}

  /** Last callback of this context. Responses to its pending http/gRPC calls are dropped after it. */
  onDelete(): void {}

  /** Resumes the request this context paused. */
  continueRequest(): WasmResult {
    return continueRequestStream();
  }

  /** Resumes the response this context paused. */
  continueResponse(): WasmResult {
    return continueResponseStream();
  }

  /** Resets the stream (request side). */
  closeRequest(): WasmResult {
    return closeRequestStream();
  }

  /** Resets the stream (response side). */
  closeResponse(): WasmResult {
    return closeResponseStream();
  }

  /** Answers locally; see `sendLocalResponse` in stream.ts. */
  sendLocalResponse(
    statusCode: u32,
    body: string = "",
    headers: Array<HeaderPair> | null = null,
    grpcStatus: GrpcStatus = GrpcStatus.InvalidCode,
    details: string = "",
  ): WasmResult {
    return sendLocalResponseOnStream(statusCode, body, headers, grpcStatus, details);
  }
}

/** Makes the root context for one plugin; receives the context id the host chose. */
export type RootContextFactory = (contextId: u32) => RootContext;

const factories = new Map<string, RootContextFactory>();
const factoryNames = new Array<string>();
const roots = new Map<u32, RootContext>();
const streams = new Map<u32, HttpContext>();

/**
 * Registers the root context class for plugins configured with `rootId`. Call it from top-level
 * code. A plugin whose root_id has no registration uses the one registered under "" or, if the
 * module registers exactly one, that one.
 */
export function registerRootContext(factory: RootContextFactory, rootId: string = ""): void {
  if (!factories.has(rootId)) factoryNames.push(rootId);
  factories.set(rootId, factory);
}

function factoryFor(rootId: string): RootContextFactory {
  if (factories.has(rootId)) return factories.get(rootId);
  if (factories.has("")) return factories.get("");
  if (factoryNames.length == 1) return factories.get(factoryNames[0]);
  const known = factoryNames.length == 0 ? "none; call registerRootContext() in top-level code" : '"' + factoryNames.join('", "') + '"';
  throw new Error('no root context registered for root_id "' + rootId + '" (registered: ' + known + ")");
}

/** The live context with this id, or null (unknown or already deleted). Used by callout delivery. */
export function findContext(contextId: u32): Context | null {
  if (streams.has(contextId)) return streams.get(contextId);
  if (roots.has(contextId)) return roots.get(contextId);
  return null;
}

/** The live root context with this id, or null. */
export function findRootContext(contextId: u32): RootContext | null {
  return roots.has(contextId) ? roots.get(contextId) : null;
}

// ---- exports: lifecycle -------------------------------------------------------------------

export function proxy_on_context_create(contextId: u32, parentContextId: u32): void {
  if (parentContextId == 0) {
    const rootId = pluginRootId();
    const root = factoryFor(rootId)(contextId);
    root.rootId = rootId;
    roots.set(contextId, root);
    return;
  }
  if (!roots.has(parentContextId)) return;
  const stream = roots.get(parentContextId).createHttpContext(contextId);
  if (stream != null) streams.set(contextId, stream);
}

export function proxy_on_vm_start(rootContextId: u32, vmConfigurationSize: u32): u32 {
  if (!roots.has(rootContextId)) return 1;
  return roots.get(rootContextId).onVmStart(vmConfigurationSize) ? 1 : 0;
}

export function proxy_on_configure(rootContextId: u32, pluginConfigurationSize: u32): u32 {
  if (!roots.has(rootContextId)) return 1;
  return roots.get(rootContextId).onConfigure(pluginConfigurationSize) ? 1 : 0;
}

export function proxy_on_tick(rootContextId: u32): void {
  if (roots.has(rootContextId)) roots.get(rootContextId).onTick();
}

export function proxy_on_queue_ready(rootContextId: u32, queueId: u32): void {
  if (roots.has(rootContextId)) roots.get(rootContextId).onQueueReady(queueId);
}

export function proxy_on_foreign_function(contextId: u32, functionId: u32, argumentsSize: u32): void {
  const ctx = findContext(contextId);
  if (ctx != null) ctx.onForeignFunction(functionId, argumentsSize);
}

export function proxy_on_log(contextId: u32): void {
  if (streams.has(contextId)) streams.get(contextId).onLog();
  else if (roots.has(contextId)) roots.get(contextId).onLog();
}

export function proxy_on_done(contextId: u32): u32 {
  if (streams.has(contextId)) {
    streams.get(contextId).onDone();
    return 1;
  }
  if (roots.has(contextId)) return roots.get(contextId).onDone() ? 1 : 0;
  return 1;
}

export function proxy_on_delete(contextId: u32): void {
  if (streams.has(contextId)) {
    const stream = streams.get(contextId);
    streams.delete(contextId);
    stream.onDelete();
  } else if (roots.has(contextId)) {
    const root = roots.get(contextId);
    roots.delete(contextId);
    root.onDelete();
  }
}

// ---- exports: HTTP stream -----------------------------------------------------------------

export function proxy_on_request_headers(contextId: u32, headerCount: u32, endOfStream: u32): u32 {
  if (!streams.has(contextId)) return FilterHeadersStatus.Continue;
  return <u32>streams.get(contextId).onRequestHeaders(headerCount, endOfStream != 0);
}

export function proxy_on_request_body(contextId: u32, bodySize: u32, endOfStream: u32): u32 {
  if (!streams.has(contextId)) return FilterDataStatus.Continue;
  return <u32>streams.get(contextId).onRequestBody(bodySize, endOfStream != 0);
}

export function proxy_on_request_trailers(contextId: u32, trailerCount: u32): u32 {
  if (!streams.has(contextId)) return FilterTrailersStatus.Continue;
  return <u32>streams.get(contextId).onRequestTrailers(trailerCount);
}

export function proxy_on_response_headers(contextId: u32, headerCount: u32, endOfStream: u32): u32 {
  if (!streams.has(contextId)) return FilterHeadersStatus.Continue;
  return <u32>streams.get(contextId).onResponseHeaders(headerCount, endOfStream != 0);
}

export function proxy_on_response_body(contextId: u32, bodySize: u32, endOfStream: u32): u32 {
  if (!streams.has(contextId)) return FilterDataStatus.Continue;
  return <u32>streams.get(contextId).onResponseBody(bodySize, endOfStream != 0);
}

export function proxy_on_response_trailers(contextId: u32, trailerCount: u32): u32 {
  if (!streams.has(contextId)) return FilterTrailersStatus.Continue;
  return <u32>streams.get(contextId).onResponseTrailers(trailerCount);
}
