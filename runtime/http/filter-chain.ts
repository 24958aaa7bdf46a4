import type { HeaderMap } from './header-map.ts';
import { DataStatus, HeadersStatus, TrailersStatus, type BodyChunk, type HttpFilter } from './filter.ts';

/**
 * One direction (request or response) of a stream's filter chain: delivers headers, body chunks
 * and trailers through the stages in order, then to the sink (the router for requests, the
 * downstream connection for responses). Implements Envoy's iteration rules:
 *
 * - A stage that returns a Stop status from headers halts iteration at that stage. With
 *   StopIteration the stage still receives body chunks and may resume by returning Continue from
 *   a body callback; with StopAllIteration* the chunks are buffered without being delivered.
 * - A stage that returns StopIterationAndBuffer from a body callback keeps the chunk in the
 *   direction's buffer; when the stage continues, the whole buffer (plus the current chunk) goes on
 *   to the next stage as one chunk. StopIterationNoBuffer drops the chunk.
 * - Trailers wait behind a stopped stage and are delivered after it continues.
 * - Only the stage that stopped can resume (`resume(index)`); stages before the stop point see
 *   every chunk as it arrives and are expected to Continue (a Stop from them while a later stage
 *   holds the buffer only buffers the chunk).
 * - Buffered bytes are bounded by `limit`: past it, Buffer statuses call the overflow handler (the stream
 *   answers 413 for requests, 500 for responses, as Envoy); Watermark statuses pause the source
 *   instead (`data()` returns false) until the stage continues (`onResume`).
 */
export interface ChainStage {
  /** `this` of the callbacks: they are a filter's own methods, called unbound (no bind per stream). */
  readonly target: object;
  readonly headers: ((headers: HeaderMap, endStream: boolean) => HeadersStatus) | undefined;
  readonly data: ((chunk: BodyChunk, endStream: boolean) => DataStatus) | undefined;
  readonly trailers: ((trailers: HeaderMap) => TrailersStatus) | undefined;
}

/** The stream's side of a direction's failures. */
export interface ChainOverflowHandler {
  /** The buffer passed its limit under a Buffer status (413 / 500 in Envoy). */
  chainOverflow(direction: ChainDirection): void;
  /**
   * A filter callback threw. Iteration stays stopped at that stage (nothing it may have half
   * changed goes on); the stream answers or resets.
   */
  chainFilterError(direction: ChainDirection, err: unknown): void;
}

export interface ChainSink {
  headers(headers: HeaderMap, endStream: boolean): void;
  /** Returns false when the sink wants the source to pause (backpressure). */
  data(chunk: Buffer, endStream: boolean): boolean;
  trailers(trailers: HeaderMap): void;
}

const UNREACHED = 0;
const FLOWING = 1;
const STOP_HEADERS = 2;
const STOP_ALL = 3;
const STOP_DATA = 4;
const STOP_TRAILERS = 5;

export class ChainDirection {
  readonly #stages: readonly ChainStage[];
  readonly #sink: ChainSink;
  #limit: number;
  readonly #overflow: ChainOverflowHandler;
  onResume: (() => void) | undefined;

  #state: number[];
  #headers: HeaderMap | undefined;
  #buffer: Buffer[] = [];
  #buffered = 0;
  /** End of stream has arrived from the source (it may still sit in the buffer). */
  #endSeen = false;
  #trailers: HeaderMap | undefined;
  #trailersFrom = 0;
  #paused = false;
  #watermark = false;
  /** Everything reached the sink, end of stream included. */
  #done = false;
  /** Nested iteration guard: resume() from inside a callback is deferred. */
  #iterating = false;
  /** Whether some stage has body or trailer callbacks. */
  readonly #bodyStages: boolean;

  constructor(stages: readonly ChainStage[], sink: ChainSink, limit: number, overflow: ChainOverflowHandler) {
    this.#stages = stages;
    this.#sink = sink;
    this.#limit = limit;
    this.#overflow = overflow;
    // Built per stream: plain loops, no closures, and a packed array of small integers.
    let state = NO_STATE;
    let bodyStages = false;
    if (stages.length > 0) {
      state = [];
      for (let i = 0; i < stages.length; i++) {
        state.push(UNREACHED);
        if (stages[i].data !== undefined || stages[i].trailers !== undefined) bodyStages = true;
      }
    }
    this.#state = state;
    this.#bodyStages = bodyStages;
  }

  /** Raises (or lowers) how much this direction may buffer (Envoy's setDecoderBufferLimit). */
  setLimit(bytes: number): void {
    this.#limit = bytes;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Whether some stage has body or trailer callbacks (else the body can bypass the chain). */
  get inspectsBody(): boolean {
    return this.#bodyStages;
  }

  bufferedBody(): Buffer {
    if (this.#buffer.length === 0) return EMPTY;
    if (this.#buffer.length > 1) this.#buffer = [Buffer.concat(this.#buffer)];
    return this.#buffer[0];
  }

  setBufferedBody(data: Buffer): void {
    this.#buffer = data.length === 0 ? [] : [data];
    this.#buffered = data.length;
  }

  headers(headers: HeaderMap, endStream: boolean): void {
    this.#headers = headers;
    this.#endSeen = endStream;
    if (this.#stages.length === 0) {
      this.#done = endStream;
      this.#sink.headers(headers, endStream);
      return;
    }
    this.#iterating = true;
    try {
      if (this.#pushHeaders(0, endStream) && endStream) this.#done = true;
    } finally {
      this.#iterating = false;
    }
  }

  /** Returns false when the source should pause until `onResume`. */
  data(data: Buffer, endStream: boolean): boolean {
    if (endStream) this.#endSeen = true;
    if (this.#stages.length === 0 || (!this.#bodyStages && this.#stoppedIndex() < 0 && this.#buffered === 0)) {
      this.#toSinkData(data, endStream);
      return !this.#paused;
    }
    this.#iterating = true;
    try {
      this.#pushData(0, { data }, endStream);
    } finally {
      this.#iterating = false;
    }
    return !this.#paused;
  }

  trailers(trailers: HeaderMap): void {
    this.#endSeen = true;
    this.#iterating = true;
    try {
      this.#pushTrailers(0, trailers);
    } finally {
      this.#iterating = false;
    }
  }

  /** Resumes iteration at the stage that stopped. No-op unless stage `index` is stopped. */
  resume(index: number): void {
    if (this.#iterating) {
      queueMicrotask(() => this.resume(index));
      return;
    }
    this.#iterating = true;
    try {
      this.#resume(index);
    } finally {
      this.#iterating = false;
    }
  }

  /** Delivers headers from stage `from`; false if a stage stopped. */
  #pushHeaders(from: number, endStream: boolean): boolean {
    const stages = this.#stages;
    const headers = this.#headers as HeaderMap;
    for (let i = from; i < stages.length; i++) {
      const fn = stages[i].headers;
      let st: HeadersStatus;
      try {
        st = fn === undefined ? HeadersStatus.Continue : fn.call(stages[i].target, headers, endStream);
      } catch (err) {
        this.#failed(i, err);
        return false;
      }
      if (st === HeadersStatus.Continue || st === HeadersStatus.ContinueAndEndStream) {
        this.#state[i] = FLOWING;
        continue;
      }
      this.#state[i] = st === HeadersStatus.StopIteration ? STOP_HEADERS : STOP_ALL;
      this.#watermark = st === HeadersStatus.StopAllIterationAndWatermark;
      return false;
    }
    this.#sink.headers(headers, endStream);
    return true;
  }

  #pushData(from: number, chunk: BodyChunk, endStream: boolean): void {
    const stages = this.#stages;
    for (let i = from; i < stages.length; i++) {
      const state = this.#state[i];
      if (state === UNREACHED) return; // behind a stop point; nothing is delivered there
      if (state === STOP_ALL || state === STOP_TRAILERS) {
        this.#hold(chunk.data);
        return;
      }
      const fn = stages[i].data;
      if (fn === undefined) {
        if (state === FLOWING) continue;
        this.#hold(chunk.data);
        return;
      }
      let st: DataStatus;
      try {
        st = fn.call(stages[i].target, chunk, endStream);
      } catch (err) {
        this.#failed(i, err);
        return;
      }
      if (st === DataStatus.Continue) {
        if (state !== FLOWING) {
          this.#resume(i, chunk);
          return;
        }
        continue;
      }
      if (state === FLOWING && this.#laterStageStopped(i)) {
        // A stage before the stop point asked to stop: keep the chunk with the held data.
        this.#hold(chunk.data);
        return;
      }
      // A stage still holding its headers stays in that state: headers go on when it continues.
      if (state === FLOWING) this.#state[i] = STOP_DATA;
      this.#watermark = st === DataStatus.StopIterationAndWatermark;
      if (st !== DataStatus.StopIterationNoBuffer) this.#hold(chunk.data);
      return;
    }
    this.#toSinkData(chunk.data, endStream);
  }

  /** Stage `i` threw: it holds iteration for good, and the stream is told. */
  #failed(i: number, err: unknown): void {
    this.#state[i] = STOP_ALL;
    this.#overflow.chainFilterError(this, err);
  }

  #laterStageStopped(i: number): boolean {
    for (let j = i + 1; j < this.#stages.length; j++) if (this.#state[j] !== FLOWING) return true;
    return false;
  }

  #pushTrailers(from: number, trailers: HeaderMap): void {
    const stages = this.#stages;
    this.#trailers = trailers;
    for (let i = from; i < stages.length; i++) {
      const state = this.#state[i];
      // A stage holding the body (StopIterationAndBuffer) gets the trailers too, as in Envoy: its
      // Continue (or a missing trailers callback) releases the held body, then the trailers.
      if (state !== FLOWING && state !== STOP_DATA) return;
      const fn = stages[i].trailers;
      let st: TrailersStatus;
      try {
        st = fn === undefined ? TrailersStatus.Continue : fn.call(stages[i].target, trailers);
      } catch (err) {
        this.#failed(i, err);
        return;
      }
      if (st === TrailersStatus.StopIteration) {
        this.#state[i] = STOP_TRAILERS;
        this.#trailersFrom = i + 1;
        return;
      }
      if (state === STOP_DATA) {
        this.#state[i] = FLOWING;
        this.#watermark = false;
        // A later stage that stops on the released body keeps the trailers behind it.
        if (!this.#flushHeld(i + 1, false)) return;
      }
    }
    this.#trailers = undefined;
    this.#done = true;
    this.#sink.trailers(trailers);
  }

  /**
   * Stage `i` continues. `current` is the chunk it was just given when it continued by returning
   * Continue from a body callback: it joins the held body, and the whole of it moves on.
   */
  #resume(i: number, current?: BodyChunk): void {
    const state = this.#state[i];
    if (state === UNREACHED || state === FLOWING) return;
    this.#state[i] = FLOWING;
    this.#watermark = false;
    if (current !== undefined && current.data.length > 0) {
      this.#buffer.push(current.data);
      this.#buffered += current.data.length;
    }
    const bodyEnd = this.#endSeen && this.#trailers === undefined;
    // A stage that stopped all iteration has not seen the body held behind it: iteration resumes
    // at that stage itself (Envoy's iterate_from_current_filter), so it gets the body first.
    const bodyFrom = state === STOP_ALL ? i : i + 1;
    if (state === STOP_HEADERS || state === STOP_ALL) {
      const headersEnd = bodyEnd && this.#buffered === 0;
      const passed = this.#pushHeaders(i + 1, headersEnd);
      if (headersEnd) return;
      if (!passed) {
        // Stopped again further on: the held body still moves through the stages between.
        this.#flushHeld(bodyFrom, bodyEnd);
        return;
      }
    }
    if (state !== STOP_TRAILERS && !this.#flushHeld(bodyFrom, bodyEnd)) return;
    if (this.#trailers !== undefined) {
      this.#pushTrailers(state === STOP_TRAILERS ? this.#trailersFrom : i, this.#trailers);
    }
    if (this.#paused && this.#stoppedIndex() < 0) {
      this.#paused = false;
      this.onResume?.();
    }
  }

  /** Sends the held body (and a held end of stream) on from stage `from`; false if it stopped again. */
  #flushHeld(from: number, endStream: boolean): boolean {
    if (this.#buffered === 0 && !(endStream && !this.#done)) return true;
    const data = this.#buffered === 0 ? EMPTY : this.bufferedBody();
    this.#buffer = [];
    this.#buffered = 0;
    this.#pushData(from, { data }, endStream);
    return this.#stoppedIndex() < 0;
  }

  #stoppedIndex(): number {
    for (let i = 0; i < this.#state.length; i++) if (this.#state[i] !== FLOWING) return i;
    return -1;
  }

  #hold(data: Buffer): void {
    if (data.length > 0) {
      this.#buffer.push(data);
      this.#buffered += data.length;
    }
    if (this.#buffered > this.#limit) {
      if (this.#watermark) this.#paused = true;
      else this.#overflow.chainOverflow(this);
    }
  }

  #toSinkData(data: Buffer, endStream: boolean): void {
    if (endStream) this.#done = true;
    this.#paused = !this.#sink.data(data, endStream);
  }

  /** The source calls this when the sink drained: clears a sink-side pause. */
  sinkDrained(): void {
    if (this.#paused && this.#stoppedIndex() < 0) this.#paused = false;
  }
}

const EMPTY = Buffer.alloc(0);
const NO_STATE: number[] = [];

/** A filter's request callbacks as a chain stage. */
export function requestStage(f: HttpFilter): ChainStage {
  return { target: f, headers: f.onRequestHeaders, data: f.onRequestBody, trailers: f.onRequestTrailers };
}

/** A filter's response callbacks as a chain stage. */
export function responseStage(f: HttpFilter): ChainStage {
  return { target: f, headers: f.onResponseHeaders, data: f.onResponseBody, trailers: f.onResponseTrailers };
}
