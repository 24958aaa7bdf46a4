import { BufferType, FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, MapType, StreamType, WasmResult } from '../../abi/enums.ts';
import type { Answer, HostBuffer, HostHeaderMap, LocalResponse, OkAnswer } from '../../abi/host-context.ts';
import type { BodyChunk, FilterCallbacks, HttpFilter } from '../http/filter.ts';
import type { HeaderMap } from '../http/header-map.ts';
import { WasmContext } from './context.ts';
import { StreamHeaderMap } from './pairs-map.ts';
import { streamProperty } from './properties.ts';
import type { RootContext } from './root-context.ts';
import { WasmTrap, type WasmVm } from './vm.ts';

/** How a plugin answers a stream when its VM failed (Envoy failure_policy, §9.3). */
export const FailurePolicy = {
  FailClosed: 'FAIL_CLOSED',
  FailOpen: 'FAIL_OPEN',
  FailReload: 'FAIL_RELOAD',
} as const;
export type FailurePolicy = (typeof FailurePolicy)[keyof typeof FailurePolicy];

/** What a stream context needs from its plugin. */
export interface StreamPlugin {
  readonly name: string;
  readonly failurePolicy: FailurePolicy;
  readonly allowOnHeadersStopIteration: boolean;
  /** The stream is done with the VM it started on (the plugin may retire that generation). */
  release(vm: WasmVm): void;
}

const EMPTY = Buffer.alloc(0);
/** HttpFilter methods that only forward to one guest export. */
const OPTIONAL_CALLBACKS = [
  ['onRequestBody', 'proxy_on_request_body'],
  ['onRequestTrailers', 'proxy_on_request_trailers'],
  ['onResponseBody', 'proxy_on_response_body'],
  ['onResponseTrailers', 'proxy_on_response_trailers'],
] as const;
const NO_STATE: ReadonlyMap<string, Uint8Array> = new Map();
/** WasmStreamContext subclasses by the bit set of OPTIONAL_CALLBACKS a module lacks (see classFor). */
const CLASS_BY_MISSING = new Map<number, typeof WasmStreamContext>();
const DIR_REQUEST = 0;
const DIR_RESPONSE = 1;

/** The body a body callback exposes: the current chunk, or the whole buffered body (§7.4). */
interface BodyView {
  readonly dir: number;
  get(): Buffer;
  set(data: Buffer): void;
}

type Action = () => void;

/**
 * The proxy-wasm HTTP stream context and the HttpFilter that drives it: chain callbacks become
 * `proxy_on_*` calls on the VM the stream started on (the stream keeps that VM for its whole life,
 * STYLE "Streams keep what they started with"); host calls made during them act on this stream.
 *
 * Envoy behaviours kept: the context is created lazily at request headers; a headers callback's
 * StopIteration becomes StopAllIterationAndWatermark unless the plugin allows it; a local reply
 * overrides the callback's status and passes back through the response callbacks; request
 * headers changed by the plugin clear the route cache; a buffered body is presented whole; after
 * the stream ends: on_log → on_done → on_delete. A trap fails this stream per the plugin's
 * failure policy and no callback reaches the failed VM again.
 */
export class WasmStreamContext extends WasmContext implements HttpFilter {
  readonly #vm: WasmVm;
  readonly #root: RootContext;
  readonly #plugin: StreamPlugin;
  readonly #cb: FilterCallbacks;
  #created = false;
  #failed = false;
  #ended = false;
  #requestHeaders: HeaderMap | undefined;
  #responseHeaders: HeaderMap | undefined;
  #requestTrailers: HeaderMap | undefined;
  #responseTrailers: HeaderMap | undefined;
  /** Headers may still be changed (they have not gone past this filter). */
  #requestHeadersOpen = false;
  #responseHeadersOpen = false;
  #body: BodyView | undefined;
  #bufferingRequest = false;
  #bufferingResponse = false;
  #localReply: LocalResponse | undefined;
  #localReplySent = false;
  /** proxy_close_stream was called: every later status is a stop until the reset lands. */
  #closing = false;
  #actions: Action[] | undefined;
  #filterState: Map<string, Uint8Array> | undefined;
  /** The answers headerMap gives for the stream's own maps, kept: a filter asks on every header call. */
  #requestMap: OkAnswer<StreamHeaderMap> | undefined;
  #responseMap: OkAnswer<StreamHeaderMap> | undefined;

  constructor(vm: WasmVm, root: RootContext, plugin: StreamPlugin, callbacks: FilterCallbacks) {
    super(vm.allocContextId());
    this.#vm = vm;
    this.#root = root;
    this.#plugin = plugin;
    this.#cb = callbacks;
  }

  /**
   * The class to instantiate for `vm`'s module. A callback the module does not export is a
   * Continue in Envoy; a subclass whose prototype hides it lets the chain skip this filter for
   * bodies and trailers (and stream bodies without a stage in between). One subclass per set of
   * missing callbacks, so every stream of a module shares one shape.
   */
  static classFor(vm: WasmVm): typeof WasmStreamContext {
    let missing = 0;
    for (let i = 0; i < OPTIONAL_CALLBACKS.length; i++) if (!vm.has(OPTIONAL_CALLBACKS[i][1])) missing |= 1 << i;
    let cls = CLASS_BY_MISSING.get(missing);
    if (cls === undefined) {
      cls = class extends WasmStreamContext {};
      for (let i = 0; i < OPTIONAL_CALLBACKS.length; i++) {
        if (missing & (1 << i)) Object.defineProperty(cls.prototype, OPTIONAL_CALLBACKS[i][0], { value: undefined });
      }
      CLASS_BY_MISSING.set(missing, cls);
    }
    return cls;
  }

  get root(): RootContext {
    return this.#root;
  }

  // ---- HttpFilter ------------------------------------------------------------------------

  onRequestHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    this.#requestHeaders = headers;
    if (!this.#ensureCreated()) return this.#failHeaders();
    this.#requestHeadersOpen = true;
    const st = this.#invoke('proxy_on_request_headers', headers.size, endStream ? 1 : 0);
    if (st === undefined) return this.#failHeaders();
    const status = this.#headersStatus(st);
    if (status === FilterHeadersStatus.Continue) this.#requestHeadersOpen = false;
    return status;
  }

  onRequestBody(chunk: BodyChunk, endStream: boolean): FilterDataStatus {
    if (!this.#active()) return this.#failed ? this.#failData() : FilterDataStatus.Continue;
    const view = this.#bodyView(DIR_REQUEST, chunk, this.#bufferingRequest);
    this.#body = view;
    const st = this.#invoke('proxy_on_request_body', view.get().length, endStream ? 1 : 0);
    this.#body = undefined;
    if (st === undefined) return this.#failData();
    const status = this.#dataStatus(st);
    this.#bufferingRequest = status === FilterDataStatus.StopIterationAndBuffer || status === FilterDataStatus.StopIterationAndWatermark;
    if (status === FilterDataStatus.Continue) this.#requestHeadersOpen = false;
    return status;
  }

  onRequestTrailers(trailers: HeaderMap): FilterTrailersStatus {
    if (!this.#active()) return FilterTrailersStatus.Continue;
    this.#requestTrailers = trailers;
    const st = this.#invoke('proxy_on_request_trailers', trailers.size);
    if (st === undefined) return this.#failTrailers();
    return this.#trailersStatus(st);
  }

  onResponseHeaders(headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    this.#responseHeaders = headers;
    if (!this.#active()) return this.#failed ? this.#failHeaders() : FilterHeadersStatus.Continue;
    this.#responseHeadersOpen = true;
    const st = this.#invoke('proxy_on_response_headers', headers.size, endStream ? 1 : 0);
    if (st === undefined) return this.#failHeaders();
    const status = this.#headersStatus(st);
    if (status === FilterHeadersStatus.Continue) this.#responseHeadersOpen = false;
    return status;
  }

  onResponseBody(chunk: BodyChunk, endStream: boolean): FilterDataStatus {
    if (!this.#active()) return this.#failed ? this.#failData() : FilterDataStatus.Continue;
    const view = this.#bodyView(DIR_RESPONSE, chunk, this.#bufferingResponse);
    this.#body = view;
    const st = this.#invoke('proxy_on_response_body', view.get().length, endStream ? 1 : 0);
    this.#body = undefined;
    if (st === undefined) return this.#failData();
    const status = this.#dataStatus(st);
    this.#bufferingResponse = status === FilterDataStatus.StopIterationAndBuffer || status === FilterDataStatus.StopIterationAndWatermark;
    if (status === FilterDataStatus.Continue) this.#responseHeadersOpen = false;
    return status;
  }

  onResponseTrailers(trailers: HeaderMap): FilterTrailersStatus {
    if (!this.#active()) return FilterTrailersStatus.Continue;
    this.#responseTrailers = trailers;
    const st = this.#invoke('proxy_on_response_trailers', trailers.size);
    if (st === undefined) return this.#failTrailers();
    return this.#trailersStatus(st);
  }

  /**
   * Envoy HTTP order (§6.1): on_log, then on_done, then on_delete; nothing after on_delete.
   * A stream that ended before its request headers reached this filter (rejected at admission,
   * or answered by an earlier filter) is created now, as Envoy's Context::log does, so the plugin
   * still logs it (§6.1 step 5).
   */
  onStreamComplete(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!this.#created && !this.#failed && !this.#vm.closed) this.#ensureCreated();
    if (this.#created && !this.#failed && this.#vm.failed === undefined) {
      this.#requestHeaders ??= this.#cb.info.requestHeaders;
      this.#responseHeaders ??= this.#cb.info.responseHeaders;
      this.#responseTrailers ??= this.#cb.info.responseTrailers;
      this.#requestHeadersOpen = false;
      this.#responseHeadersOpen = false;
      this.#tryCall('proxy_on_log');
      this.#tryCall('proxy_on_done');
      this.#tryCall('proxy_on_delete');
    }
    if (this.#created) this.#vm.deleteContext(this);
    this.#actions = undefined;
    this.#plugin.release(this.#vm);
  }

  // ---- calling the guest -----------------------------------------------------------------

  #ensureCreated(): boolean {
    if (this.#created) return !this.#failed;
    if (this.#failed) return false;
    if (this.#vm.failed !== undefined) {
      this.#failed = true;
      return false;
    }
    this.#created = true;
    this.#vm.registerContext(this);
    return this.#invoke('proxy_on_context_create', this.#root.id) !== undefined;
  }

  #active(): boolean {
    if (this.#failed || !this.#created) return false;
    if (this.#vm.failed !== undefined) {
      // Another stream trapped this VM: this stream fails too (Envoy), once.
      this.#failed = true;
      return false;
    }
    return true;
  }

  /**
   * Calls a stream callback with this context's id and then `a`, `b`; undefined = it trapped (the
   * stream is now failed). ABI 0.1.0's headers callbacks take no end_of_stream: the extra argument
   * is ignored by the wasm function.
   */
  #invoke(name: string, a?: number, b?: number): number | undefined {
    this.#localReply = undefined;
    try {
      return this.#vm.invoke(this, name, this.id, a, b);
    } catch (err) {
      if (!(err instanceof WasmTrap)) throw err;
      this.#failed = true;
      this.#actions = undefined;
      return undefined;
    }
  }

  #tryCall(name: string): void {
    try {
      this.#vm.invoke(this, name, this.id);
    } catch (err) {
      if (!(err instanceof WasmTrap)) throw err;
    }
  }

  #headersStatus(st: number): FilterHeadersStatus {
    if (this.#localReply !== undefined || this.#closing) return FilterHeadersStatus.StopAllIterationAndWatermark;
    switch (st) {
      case FilterHeadersStatus.Continue:
      case FilterHeadersStatus.ContinueAndEndStream:
        return FilterHeadersStatus.Continue;
      case FilterHeadersStatus.StopIteration:
        // cpp-host rewrites StopIteration unless allowed (§7.4, Appendix A #11).
        return this.#plugin.allowOnHeadersStopIteration ? FilterHeadersStatus.StopIteration : FilterHeadersStatus.StopAllIterationAndWatermark;
      case FilterHeadersStatus.StopAllIterationAndBuffer:
      case FilterHeadersStatus.StopAllIterationAndWatermark:
        return st;
      default:
        // cpp-host clamps anything above 4 (an i32 read as unsigned, so negatives too) to
        // StopAllIterationAndWatermark (proxy-wasm-abi.md §4).
        return FilterHeadersStatus.StopAllIterationAndWatermark;
    }
  }

  #dataStatus(st: number): FilterDataStatus {
    if (this.#localReply !== undefined || this.#closing) return FilterDataStatus.StopIterationNoBuffer;
    const u = st >>> 0;
    // cpp-host clamps anything above 3 to StopIterationNoBuffer (§4).
    return u <= FilterDataStatus.StopIterationNoBuffer ? (u as FilterDataStatus) : FilterDataStatus.StopIterationNoBuffer;
  }

  /** Any non-zero trailers status is StopIteration (cpp-host clamps values above 1, §4). */
  #trailersStatus(st: number): FilterTrailersStatus {
    return this.#localReply !== undefined || this.#closing || st !== FilterTrailersStatus.Continue
      ? FilterTrailersStatus.StopIteration
      : FilterTrailersStatus.Continue;
  }

  // ---- failure policy (§9.3) -------------------------------------------------------------

  // Once the failure reply is on its way, this filter steps aside (Envoy skips every callback
  // after `failure_local_reply_sent_`), so the 503 itself can pass through the response chain.

  #failHeaders(): FilterHeadersStatus {
    if (this.#plugin.failurePolicy === FailurePolicy.FailOpen || this.#failReplySent) return FilterHeadersStatus.Continue;
    this.#failClosed();
    return FilterHeadersStatus.StopAllIterationAndWatermark;
  }

  #failData(): FilterDataStatus {
    if (this.#plugin.failurePolicy === FailurePolicy.FailOpen || this.#failReplySent) return FilterDataStatus.Continue;
    this.#failClosed();
    return FilterDataStatus.StopIterationNoBuffer;
  }

  #failTrailers(): FilterTrailersStatus {
    if (this.#plugin.failurePolicy === FailurePolicy.FailOpen || this.#failReplySent) return FilterTrailersStatus.Continue;
    this.#failClosed();
    return FilterTrailersStatus.StopIteration;
  }

  #failReplySent = false;

  /** Fail closed: 503 `wasm_fail_stream` (a reset when the response has already gone downstream). */
  #failClosed(): void {
    this.#failReplySent = true;
    this.#localReplySent = true;
    this.#cb.sendLocalReply({ status: 503, body: 'wasm_fail_stream', details: 'wasm_fail_stream' });
  }

  // ---- bodies -----------------------------------------------------------------------------

  #bodyView(dir: number, chunk: BodyChunk, buffering: boolean): BodyView {
    const cb = this.#cb;
    if (buffering) {
      const held = dir === DIR_REQUEST ? cb.bufferedRequestBody() : cb.bufferedResponseBody();
      if (held.length > 0) {
        // Present the whole buffered body (§7.4): the chunk joins the held bytes.
        const whole = chunk.data.length === 0 ? held : Buffer.concat([held, chunk.data]);
        const set = dir === DIR_REQUEST ? (b: Buffer) => cb.setBufferedRequestBody(b) : (b: Buffer) => cb.setBufferedResponseBody(b);
        set(whole);
        chunk.data = EMPTY;
        return { dir, get: () => (dir === DIR_REQUEST ? cb.bufferedRequestBody() : cb.bufferedResponseBody()), set };
      }
    }
    return {
      dir,
      get: () => chunk.data,
      set: (b) => {
        chunk.data = b;
      },
    };
  }

  override buffer(type: BufferType): Answer<HostBuffer> {
    if (type !== BufferType.HttpRequestBody && type !== BufferType.HttpResponseBody) return super.buffer(type);
    const dir = type === BufferType.HttpRequestBody ? DIR_REQUEST : DIR_RESPONSE;
    const view = this.#body;
    if (view === undefined || view.dir !== dir) {
      // Outside its body callback the buffer exists but is empty (Envoy).
      return { result: WasmResult.Ok, value: { bytes: () => EMPTY } };
    }
    return {
      result: WasmResult.Ok,
      value: {
        bytes: () => view.get(),
        set: (start, size, data) => {
          const cur = view.get();
          if (start === 0) {
            view.set(Buffer.concat([data, cur.subarray(Math.min(size, cur.length))]));
            return WasmResult.Ok;
          }
          if (start >= cur.length) {
            view.set(Buffer.concat([cur, data]));
            return WasmResult.Ok;
          }
          return WasmResult.BadArgument;
        },
      },
    };
  }

  // ---- header maps ------------------------------------------------------------------------

  override headerMap(type: MapType, forWrite: boolean): Answer<HostHeaderMap> {
    let map: HeaderMap | undefined;
    let open = true;
    switch (type) {
      case MapType.HttpRequestHeaders:
        map = this.#requestHeaders;
        open = this.#requestHeadersOpen;
        break;
      case MapType.HttpResponseHeaders:
        map = this.#responseHeaders;
        open = this.#responseHeadersOpen;
        break;
      case MapType.HttpRequestTrailers:
        map = this.#requestTrailers;
        open = !this.#ended;
        break;
      case MapType.HttpResponseTrailers:
        map = this.#responseTrailers;
        open = !this.#ended;
        break;
      default:
        return { result: WasmResult.BadArgument };
    }
    if (map === undefined || (forWrite && !open)) return { result: WasmResult.BadArgument };
    if (type === MapType.HttpRequestHeaders) {
      // Envoy clears the route cache on every change to request headers, whichever callback makes
      // it: a tick or an http-call response may rewrite :path while the request is paused.
      if (this.#requestMap?.value.source !== map) this.#requestMap = { result: WasmResult.Ok, value: new StreamHeaderMap(map, () => this.#cb.clearRouteCache()) };
      return this.#requestMap;
    }
    if (type === MapType.HttpResponseHeaders) {
      if (this.#responseMap?.value.source !== map) this.#responseMap = { result: WasmResult.Ok, value: new StreamHeaderMap(map) };
      return this.#responseMap;
    }
    return { result: WasmResult.Ok, value: new StreamHeaderMap(map) };
  }

  // ---- properties -------------------------------------------------------------------------

  override getProperty(path: string[]): Answer<Uint8Array> {
    if (path.length === 1) {
      const own = this.#filterState?.get(path[0]);
      if (own !== undefined) return { result: WasmResult.Ok, value: own };
    }
    return streamProperty(path, {
      info: this.#cb.info,
      requestHeaders: this.#requestHeaders ?? this.#cb.requestHeaders,
      responseHeaders: this.#responseHeaders ?? this.#cb.responseHeaders,
      responseTrailers: this.#responseTrailers,
      route: this.#cb.route(),
      filterState: this.#filterState ?? NO_STATE,
    });
  }

  /** Envoy keeps it in the stream's filter state under `wasm.<path>` (§3.7). */
  override setProperty(path: string[], value: Uint8Array): WasmResult {
    (this.#filterState ??= new Map()).set(path.join('\0'), value.slice());
    return WasmResult.Ok;
  }

  // ---- stream control ---------------------------------------------------------------------

  override continueStream(type: StreamType): WasmResult {
    switch (type) {
      case StreamType.HttpRequest:
        this.#queue(() => {
          this.#requestHeadersOpen = false;
          this.#cb.continueRequest();
        });
        return WasmResult.Ok;
      case StreamType.HttpResponse:
        this.#queue(() => {
          this.#responseHeadersOpen = false;
          this.#cb.continueResponse();
        });
        return WasmResult.Ok;
      case StreamType.Upstream:
        return WasmResult.Unimplemented;
      default:
        return WasmResult.BadArgument;
    }
  }

  override closeStream(type: StreamType): WasmResult {
    const details =
      type === StreamType.Downstream ? 'wasm_downstream_close' : type === StreamType.Upstream ? 'wasm_upstream_close' : 'wasm_close_stream';
    // Envoy resets the stream in the after-VM-call actions, before the filter manager looks at the
    // callback's status: nothing the callback let through may reach the wire first.
    this.#closing = true;
    this.#queue(() => this.#cb.resetStream(details));
    return WasmResult.Ok;
  }

  override clearRouteCache(): WasmResult {
    this.#cb.clearRouteCache();
    return WasmResult.Ok;
  }

  override sendLocalResponse(r: LocalResponse): WasmResult {
    // One local reply per stream: a second one from the response callbacks of the first would
    // loop (envoyproxy/envoy#36809); it is ignored.
    if (this.#localReplySent) return WasmResult.Ok;
    this.#localReplySent = true;
    this.#localReply = r;
    this.#queue(() => this.#cb.sendLocalReply(this.#toLocalReply(r)));
    return WasmResult.Ok;
  }

  #toLocalReply(r: LocalResponse) {
    const isGrpc = r.grpcStatus >= 0 && r.grpcStatus <= 16 && (this.#requestHeaders?.get('content-type') ?? '').startsWith('application/grpc');
    if (isGrpc) {
      return {
        status: 200,
        details: r.details,
        headers: [
          ['content-type', 'application/grpc'],
          ['grpc-status', String(r.grpcStatus)],
          ...(r.body.length > 0 ? [['grpc-message', encodeURIComponent(Buffer.from(r.body).toString())] as [string, string]] : []),
          ...r.headers,
        ] as Array<[string, string]>,
      };
    }
    return { status: r.status, body: Buffer.from(r.body), headers: r.headers, details: r.details };
  }

  #queue(action: Action): void {
    (this.#actions ??= []).push(action);
    this.#vm.touch(this);
  }

  override afterVmCall(): void {
    const actions = this.#actions;
    if (actions === undefined) return;
    this.#actions = undefined;
    if (this.#ended) return;
    for (const a of actions) a();
  }
}
