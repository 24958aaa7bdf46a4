import { readFileSync } from 'node:fs';
import pino from 'pino';
import { ChainDirection, requestStage, responseStage, type ChainSink } from '../http/filter-chain.ts';
import type { FilterCallbacks, HttpFilter, LocalReply } from '../http/filter.ts';
import { HeaderMap } from '../http/header-map.ts';
import { newStreamInfo, type StreamInfo } from '../http/stream-info.ts';
import type { Logger } from '../log.ts';
import { StatsStore } from '../stats/store.ts';
import { GlobalStatsReader } from '../stats/global-reader.ts';
import type { HttpCallOutcome } from '../wasm/http-call.ts';
import { compileModule, type CompiledModule } from '../wasm/module.ts';
import { VmSlot, WasmPlugin } from '../wasm/plugin.ts';
import { SharedData } from '../wasm/shared-data.ts';
import { SharedQueues } from '../wasm/shared-queues.ts';
import type { VmServices } from '../wasm/vm.ts';
import { WASM_CUSTOM_STAT_PREFIX } from '../wasm/vm.ts';
import type { HttpCallRequest, Pairs } from '../../abi/host-context.ts';
import type { FailurePolicy } from '../wasm/stream-context.ts';

/**
 * The filter test harness (`sluice/testing`): loads any proxy-wasm module in-process, with no
 * sockets, and drives streams through it. It is the proxy's own machinery (abi/ host functions,
 * the VM, the stream context, the filter chain's iteration and buffering rules), with the network
 * replaced by the test: the test supplies upstream responses, answers http calls, fires ticks.
 */

export type HeadersInit = Record<string, string> | ReadonlyArray<readonly [string, string]>;

export interface HarnessOptions {
  /** PluginConfig.root_id. */
  rootId?: string;
  /** PluginConfig.name (plugin_name; metric and log labels). Default "plugin". */
  name?: string;
  vmId?: string;
  /** Plugin configuration (`proxy_on_configure`). */
  configuration?: string | Uint8Array;
  /** VM configuration (`proxy_on_vm_start`). */
  vmConfiguration?: string | Uint8Array;
  /** `vm_config.environment_variables` (WASI environ). */
  environment?: Record<string, string>;
  failurePolicy?: FailurePolicy;
  allowOnHeadersStopIteration?: boolean;
  /** Bytes a stream may buffer per direction (413 / 500 past it). Default 1 MiB, as Envoy. */
  bufferLimit?: number;
  /** Which guest log levels are kept in `logs`. Default 'trace' (everything). */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
}

export interface LogEntry {
  level: string;
  message: string;
}

/** An http call the filter made and the test has not answered yet. */
export interface PendingHttpCall {
  readonly cluster: string;
  readonly headers: Pairs;
  readonly body: Buffer;
  readonly trailers: Pairs;
  readonly timeoutMs: number;
  /** Answers the call (delivered to `proxy_on_http_call_response` on a later turn). */
  respond(response: { status: number; headers?: HeadersInit; body?: string | Uint8Array; trailers?: HeadersInit }): Promise<void>;
  /** Fails the call as a reset (`num_headers == 0`, `proxy_get_status` code 11 "reset"). */
  reset(): Promise<void>;
}

function toPairs(h: HeadersInit | undefined): Pairs {
  if (h === undefined) return [];
  const entries = Array.isArray(h) ? h : Object.entries(h);
  return entries.map(([k, v]) => [k.toLowerCase(), v] as [string, string]);
}

function bytes(v: string | Uint8Array | undefined): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  return typeof v === 'string' ? Buffer.from(v) : v;
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** A pino logger whose lines land in `sink` (level name and the guest's message). */
function captureLogger(level: string, sink: LogEntry[]): Logger {
  const destination = {
    write(line: string): void {
      const o = JSON.parse(line) as { level: number; msg: string };
      sink.push({ level: LEVELS[o.level] ?? String(o.level), message: o.msg.replace(/^wasm log: /, '') });
    },
  };
  return pino({ level, base: undefined, timestamp: false }, destination);
}

/** Lets queued work (continue, local replies, deferred resumes) run before the test looks. */
function turn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export class FilterHarness {
  /** Every line the guest logged (and host lines about it: traps, reloads), oldest first. */
  readonly logs: LogEntry[];
  /** Http calls waiting for an answer, oldest first. */
  readonly httpCalls: PendingHttpCall[] = [];
  readonly #plugin: WasmPlugin;
  readonly #slot: VmSlot;
  readonly #stats: StatsStore;
  readonly #reader = new GlobalStatsReader();
  readonly #queues: SharedQueues;
  readonly #opts: HarnessOptions;
  readonly #pending = new Set<Promise<void>>();
  readonly #sharedData: SharedData;

  private constructor(compiled: CompiledModule, opts: HarnessOptions, logs: LogEntry[]) {
    this.logs = logs;
    this.#opts = opts;
    const log = captureLogger(opts.logLevel ?? 'trace', this.logs);
    this.#stats = new StatsStore(1024);
    this.#reader.attach('harness', this.#stats.buffer);
    this.#queues = SharedQueues.create({ capacityBytes: 1 << 20 });
    this.#queues.unref();
    this.#sharedData = SharedData.create({ capacityBytes: 1 << 20 });
    const services: VmServices = {
      manualTicks: true,
      log,
      stats: this.#stats,
      sharedData: this.#sharedData,
      sharedQueues: this.#queues,
      globalStatValue: (name, kind) => (kind === 'counter' ? this.#reader.counter(name) : this.#reader.gauge(name)),
      httpCall: (request, done) => this.#httpCall(request, done),
    };
    this.#queues.onReady((id) => {
      const vm = this.#slot.vm;
      if (vm !== undefined && vm.failed === undefined) vm.queueReady(id);
    });
    const name = opts.name ?? 'plugin';
    const vmId = opts.vmId ?? '';
    this.#slot = new VmSlot('harness', compiled, services, {
      vmId,
      vmConfiguration: bytes(opts.vmConfiguration),
      environment: Object.entries(opts.environment ?? {}),
      backoff: { baseMs: 0, maxMs: 0 },
      runtime: 'envoy.wasm.runtime.v8',
    });
    this.#plugin = new WasmPlugin(
      name,
      {
        name,
        rootId: opts.rootId ?? '',
        vmId,
        runtime: 'envoy.wasm.runtime.v8',
        configuration: bytes(opts.configuration),
        vmConfiguration: bytes(opts.vmConfiguration),
        code: { kind: 'bytes', bytes: new Uint8Array(0) },
        failurePolicy: opts.failurePolicy ?? 'FAIL_CLOSED',
        reloadBackoff: { baseMs: 0, maxMs: 0 },
        allowedCapabilities: undefined,
        allowOnHeadersStopIteration: opts.allowOnHeadersStopIteration ?? false,
        environment: Object.entries(opts.environment ?? {}),
        allowPrecompiled: false,
        sandbox: { maxMemoryBytes: undefined, fuelPerCallback: null },
      },
      this.#slot,
      services,
    );
  }

  /**
   * Loads a module (path or bytes), instantiates it and starts the plugin (`_initialize`,
   * `proxy_on_context_create`, `proxy_on_vm_start`, `proxy_on_configure`). Throws a SluiceError
   * when the module cannot load or the plugin refuses its configuration.
   */
  static load(module: string | Uint8Array, opts: HarnessOptions = {}): FilterHarness {
    const code = typeof module === 'string' ? readFileSync(module) : module;
    const compiled = compileModule(code, typeof module === 'string' ? module : 'module');
    const logs: LogEntry[] = [];
    try {
      return new FilterHarness(compiled, opts, logs);
    } catch (err) {
      // A plugin that refuses its configuration usually says why in its log: keep it with the error.
      if (err instanceof Error && logs.length > 0) {
        err.message += `\nplugin log:\n${logs.map((l) => `  [${l.level}] ${l.message}`).join('\n')}`;
        (err as Error & { logs?: LogEntry[] }).logs = logs;
      }
      throw err;
    }
  }

  /** A new HTTP stream through the filter. */
  stream(init: { source?: string; destination?: string; protocol?: string } = {}): HarnessStream {
    return new HarnessStream(this.#plugin, this.#opts.bufferLimit ?? 1024 * 1024, init);
  }

  /** Value of a metric the plugin defined (`name` as given to proxy_define_metric). */
  metric(name: string): number {
    const full = WASM_CUSTOM_STAT_PREFIX + name;
    return this.#reader.counter(full) || this.#reader.gauge(full);
  }

  /** A shared-data value of the plugin's vm_id as UTF-8 (undefined when absent). */
  sharedData(key: string): string | undefined {
    const got = this.#sharedData.get(this.#opts.vmId ?? '', Buffer.from(key));
    return got === undefined ? undefined : Buffer.from(got.value).toString();
  }

  /** Calls `proxy_on_tick` now on every root context that set a tick period (no waiting for timers). */
  async tick(): Promise<void> {
    this.#slot.vm?.tickNow();
    await turn();
  }

  /** The VM failed (a trap): its first failure, else undefined. */
  get failure(): { callback: string; message: string } | undefined {
    return this.#slot.vm?.failed;
  }

  /** Waits until every callback the test triggered (http-call answers, queue events) has run. */
  async settle(): Promise<void> {
    for (let i = 0; i < 10 && this.#pending.size > 0; i++) await Promise.all([...this.#pending]);
    await new Promise((r) => setImmediate(r));
  }

  #httpCall(request: HttpCallRequest, done: (o: HttpCallOutcome) => void): () => void {
    let cancelled = false;
    const deliver = (o: HttpCallOutcome): Promise<void> => {
      const i = this.httpCalls.indexOf(call);
      if (i >= 0) this.httpCalls.splice(i, 1);
      const p = new Promise<void>((resolve) =>
        setImmediate(() => {
          if (!cancelled) done(o);
          resolve();
        }),
      );
      this.#pending.add(p);
      void p.then(() => this.#pending.delete(p));
      return p;
    };
    const call: PendingHttpCall = {
      cluster: request.upstream,
      headers: request.headers,
      body: Buffer.from(request.body),
      trailers: request.trailers,
      timeoutMs: request.timeoutMs,
      respond: (r) =>
        deliver({
          kind: 'response',
          headers: [[':status', String(r.status)], ...toPairs(r.headers)],
          body: bytes(r.body),
          trailers: toPairs(r.trailers),
        }),
      reset: () => deliver({ kind: 'reset' }),
    };
    this.httpCalls.push(call);
    return () => {
      cancelled = true;
    };
  }

  close(): void {
    this.#slot.close();
    this.#queues.close();
  }
}

/**
 * One stream through the filter: the test plays the client (request side) and the upstream
 * (response side). What the filter lets through is recorded in `upstream` (request headers, body
 * and trailers forwarded) and `downstream` (response forwarded to the client).
 */
export class HarnessStream implements FilterCallbacks {
  readonly info: StreamInfo;
  readonly #filter: HttpFilter;
  readonly #request: ChainDirection;
  #response: ChainDirection;
  readonly #limit: number;
  #requestHeaders = new HeaderMap();
  #responseHeaders: HeaderMap | undefined;
  #complete = false;
  /** What reached the upstream. */
  readonly upstream: { headers?: HeaderMap; body: Buffer; trailers?: HeaderMap; endStream: boolean } = { body: Buffer.alloc(0), endStream: false };
  /** What reached the client. */
  readonly downstream: { headers?: HeaderMap; body: Buffer; trailers?: HeaderMap; endStream: boolean } = { body: Buffer.alloc(0), endStream: false };
  /** The local reply the filter (or the failure policy) sent, if any. */
  localReply: LocalReply | undefined;
  /** Set when the stream was reset (`proxy_close_stream`, or a failure after the response started). */
  resetDetails: string | undefined;
  routeCacheCleared = 0;

  constructor(plugin: WasmPlugin, limit: number, init: { source?: string; destination?: string; protocol?: string }) {
    this.#limit = limit;
    this.info = newStreamInfo({
      protocol: init.protocol ?? 'HTTP/1.1',
      connectionId: 1,
      downstreamRemoteAddress: init.source ?? '127.0.0.1:50000',
      downstreamDirectRemoteAddress: init.source ?? '127.0.0.1:50000',
      downstreamLocalAddress: init.destination ?? '127.0.0.1:10000',
    });
    this.#filter = plugin.create(this);
    // A callback that throws is a host bug here (guest traps are handled inside the filter): surface it.
    const overflow = { chainOverflow: (d: ChainDirection) => this.#overflow(d), chainFilterError: rethrow };
    this.#request = new ChainDirection([requestStage(this.#filter)], this.#sink(this.upstream), limit, overflow);
    this.#response = new ChainDirection([responseStage(this.#filter)], this.#sink(this.downstream), limit, overflow);
  }

  #sink(into: { headers?: HeaderMap; body: Buffer; trailers?: HeaderMap; endStream: boolean }): ChainSink {
    return {
      headers: (h, end) => {
        into.headers = h;
        into.endStream = end;
      },
      data: (chunk, end) => {
        into.body = Buffer.concat([into.body, chunk]);
        into.endStream = end;
        return true;
      },
      trailers: (t) => {
        into.trailers = t;
        into.endStream = true;
      },
    };
  }

  #overflow(d: ChainDirection): void {
    if (d === this.#request) this.sendLocalReply({ status: 413, body: 'Payload Too Large', details: 'request_payload_too_large' });
    else this.sendLocalReply({ status: 500, body: 'Internal Server Error', details: 'response_payload_too_large' });
  }

  // ---- the test drives the stream ---------------------------------------------------------

  /** Client request headers (pseudo-headers default to GET / on host "example.com"). */
  async sendRequestHeaders(headers: HeadersInit = {}, endStream = false): Promise<void> {
    const pairs = toPairs(headers);
    const get = (k: string) => pairs.find(([n]) => n === k)?.[1];
    const kv = [':method', get(':method') ?? 'GET', ':scheme', get(':scheme') ?? 'http', ':path', get(':path') ?? '/', ':authority', get(':authority') ?? 'example.com'];
    for (const [k, v] of pairs) if (k[0] !== ':') kv.push(k, v);
    this.#requestHeaders = new HeaderMap(kv);
    this.info.requestHeaders = this.#requestHeaders;
    this.#request.headers(this.#requestHeaders, endStream);
    await turn();
  }

  async sendRequestBody(data: string | Uint8Array, endStream = false): Promise<void> {
    this.info.bytesReceived += bytes(data).length;
    this.#request.data(Buffer.from(bytes(data)), endStream);
    await turn();
  }

  async sendRequestTrailers(trailers: HeadersInit): Promise<void> {
    this.#request.trailers(new HeaderMap(toPairs(trailers).flat()));
    await turn();
  }

  /** Upstream response headers (`:status` defaults to 200). */
  async sendResponseHeaders(headers: HeadersInit = {}, endStream = false): Promise<void> {
    const pairs = toPairs(headers);
    const status = pairs.find(([k]) => k === ':status')?.[1] ?? '200';
    const kv = [':status', status];
    for (const [k, v] of pairs) if (k !== ':status') kv.push(k, v);
    this.#responseHeaders = new HeaderMap(kv);
    this.info.responseHeaders = this.#responseHeaders;
    this.info.responseCode = Number(status);
    this.#response.headers(this.#responseHeaders, endStream);
    await turn();
  }

  async sendResponseBody(data: string | Uint8Array, endStream = false): Promise<void> {
    this.#response.data(Buffer.from(bytes(data)), endStream);
    await turn();
  }

  async sendResponseTrailers(trailers: HeadersInit): Promise<void> {
    const t = new HeaderMap(toPairs(trailers).flat());
    this.info.responseTrailers = t;
    this.#response.trailers(t);
    await turn();
  }

  /** The stream ends: `proxy_on_log`, `proxy_on_done`, `proxy_on_delete`. */
  async complete(): Promise<void> {
    if (this.#complete) return;
    this.#complete = true;
    this.#filter.onStreamComplete?.();
    await turn();
  }

  // ---- FilterCallbacks (what the filter can do to its stream) -----------------------------

  get requestHeaders(): HeaderMap {
    return this.#requestHeaders;
  }
  get responseHeaders(): HeaderMap | undefined {
    return this.#responseHeaders;
  }
  continueRequest(): void {
    this.#request.resume(0);
  }
  continueResponse(): void {
    this.#response.resume(0);
  }
  sendLocalReply(reply: LocalReply): void {
    queueMicrotask(() => {
      if (this.localReply !== undefined || this.#complete) return;
      this.localReply = reply;
      this.info.responseCodeDetails = reply.details;
      if (this.downstream.headers !== undefined) {
        this.resetStream(reply.details);
        return;
      }
      const body = reply.body === undefined ? Buffer.alloc(0) : Buffer.from(reply.body);
      const h = new HeaderMap([':status', String(reply.status)]);
      if (body.length > 0) h.add('content-length', String(body.length));
      for (const [k, v] of reply.headers ?? []) h.add(k, v);
      this.#responseHeaders = h;
      this.info.responseHeaders = h;
      this.info.responseCode = reply.status;
      // A local reply runs through the filter's response callbacks, as in the proxy.
      this.#response = new ChainDirection([responseStage(this.#filter)], this.#sink(this.downstream), this.#limit, {
        chainOverflow: () => this.resetStream('response_payload_too_large'),
        chainFilterError: rethrow,
      });
      this.#response.headers(h, body.length === 0);
      if (body.length > 0) this.#response.data(body, true);
    });
  }
  resetStream(details: string): void {
    this.resetDetails ??= details;
  }
  route(): undefined {
    return undefined;
  }
  clearRouteCache(): void {
    this.routeCacheCleared++;
  }
  bufferedRequestBody(): Buffer {
    return this.#request.bufferedBody();
  }
  setBufferedRequestBody(data: Buffer): void {
    this.#request.setBufferedBody(data);
  }
  bufferedResponseBody(): Buffer {
    return this.#response.bufferedBody();
  }
  setBufferedResponseBody(data: Buffer): void {
    this.#response.setBufferedBody(data);
  }
  setRequestBufferLimit(bytes: number): void {
    this.#request.setLimit(bytes);
  }
}

function rethrow(_direction: ChainDirection, err: unknown): never {
  throw err;
}
