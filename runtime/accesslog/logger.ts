import type { AccessLogConfig } from '../config/types.ts';
import type { StreamInfo } from '../http/stream-info.ts';
import { compileFormat, type Formatter } from './formatter.ts';
import { openAccessLog, type AccessLogSink, type SinkOptions } from './sink.ts';

/**
 * The access logs of one HTTP connection manager (or of admin): a compiled format and a sink per
 * `access_log` entry. Built once per config generation and per thread; `log()` is called once per
 * stream, after the stream ends, with its final StreamInfo.
 *
 * The constructor throws SluiceError(CONFIG_INVALID) for a bad format or an unopenable file, after
 * compiling every format first so a bad format opens no file. Call `close()` when the config
 * generation is retired or the thread exits.
 */
export class AccessLogger {
  readonly #formats: Formatter[];
  readonly #sinks: AccessLogSink[];

  constructor(configs: readonly AccessLogConfig[], options?: SinkOptions) {
    this.#formats = configs.map((c) => compileFormat(c));
    this.#sinks = [];
    try {
      for (const c of configs) this.#sinks.push(openAccessLog(c, options));
    } catch (e) {
      for (const s of this.#sinks) void s.close();
      throw e;
    }
  }

  /** True when there is at least one access log (callers can skip building log-only data). */
  get enabled(): boolean {
    return this.#sinks.length > 0;
  }

  log(info: StreamInfo): void {
    for (let i = 0; i < this.#sinks.length; i++) this.#sinks[i].write(this.#formats[i](info));
  }

  flush(): Promise<void> {
    return Promise.all(this.#sinks.map((s) => s.flush())).then(() => undefined);
  }

  close(): Promise<void> {
    return Promise.all(this.#sinks.map((s) => s.close())).then(() => undefined);
  }
}
