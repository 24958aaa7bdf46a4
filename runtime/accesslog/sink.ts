import { openSync } from 'node:fs';
import sonic from 'sonic-boom';
import type { AccessLogConfig } from '../config/types.ts';
import { ErrorCode, SluiceError } from '../errors.ts';

/**
 * Where access log lines go: a file (appended) or the process's stdout/stderr.
 *
 * Contract:
 * - `write(line)` takes one complete line (newline included) and never blocks or throws; lines are
 *   buffered and written by sonic-boom with `fs.write` on a raw fd, so it works the same inside a
 *   worker_thread (no `process.stdout` proxy through the main thread).
 * - Several threads (and several sinks) may append to the same file: every thread opens its own
 *   fd with O_APPEND and each `write(2)` carries whole lines only (a batch never splits a line
 *   shorter than the write size), so lines from different threads never interleave mid-line.
 *   For stdout/stderr batches are capped at PIPE_BUF (4096) bytes, the size a pipe writes atomically.
 * - Buffered data reaches the fd when the buffer passes `bufferBytes`, every `flushIntervalMs`
 *   (Envoy's `file_flush_interval_msec` default, 1 s), on `flush()` and on `close()`. Call
 *   `close()` before a worker exits, or its last lines are lost.
 * - Sinks for the same destination in one thread share one buffer and fd (reference counted).
 */
export interface AccessLogSink {
  write(line: string): void;
  /** Resolves once everything written so far has been handed to the OS. */
  flush(): Promise<void>;
  /** Flushes and releases this handle; the fd is closed when its last handle closes. */
  close(): Promise<void>;
}

export interface SinkOptions {
  /** Periodic flush, ms. Default 1000 (Envoy). */
  flushIntervalMs?: number;
  /** Buffer size that triggers a write, bytes. Default 4096. */
  bufferBytes?: number;
}

const DEFAULT_FLUSH_MS = 1000;
const DEFAULT_BUFFER = 4096;
const FILE_MAX_WRITE = 16384;
const PIPE_BUF = 4096;
/** Memory bound for a stuck destination; lines beyond it are dropped and counted. */
const MAX_BUFFERED = 64 * 1024 * 1024;

type Boom = InstanceType<typeof sonic.SonicBoom>;

class SharedDestination {
  readonly key: string;
  readonly boom: Boom;
  refs = 0;
  dropped = 0;
  #closed: Promise<void> | undefined;
  #warned = false;

  constructor(key: string, fd: number, isPipe: boolean, opts: SinkOptions) {
    this.key = key;
    const maxWrite = isPipe ? PIPE_BUF : FILE_MAX_WRITE;
    const minLength = Math.min(Math.max(0, opts.bufferBytes ?? DEFAULT_BUFFER), maxWrite - 1);
    this.boom = new sonic.SonicBoom({
      fd,
      sync: false,
      minLength,
      maxWrite,
      maxLength: MAX_BUFFERED,
      periodicFlush: opts.flushIntervalMs ?? DEFAULT_FLUSH_MS,
    });
    this.boom.on('drop', () => {
      this.dropped++;
    });
    this.boom.on('error', (err: Error) => {
      if (this.#warned) return;
      this.#warned = true;
      process.emitWarning(`access log ${key}: ${err.message}`, { code: 'SLUICE_ACCESS_LOG_WRITE' });
    });
  }

  flush(): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    return new Promise((resolve) => {
      // sonic-boom fsyncs after a flush with a callback; on a pipe that fails (EINVAL), harmlessly.
      this.boom.flush(() => resolve());
    });
  }

  close(): Promise<void> {
    this.#closed ??= new Promise((resolve) => {
      this.boom.once('close', () => resolve());
      this.boom.end();
    });
    return this.#closed;
  }
}

const destinations = new Map<string, SharedDestination>();

function acquire(cfg: AccessLogConfig, opts: SinkOptions): SharedDestination {
  let key: string;
  if (cfg.sink === 'file') {
    if (cfg.path === undefined || cfg.path === '') {
      throw new SluiceError(ErrorCode.CONFIG_INVALID, `access_log "${cfg.name}": file sink requires path`, { source: cfg.name });
    }
    key = `file:${cfg.path}`;
  } else if (cfg.sink === 'stdout' || cfg.sink === 'stderr') {
    key = cfg.sink;
  } else {
    throw new SluiceError(ErrorCode.CONFIG_INVALID, `access_log "${cfg.name}": unknown sink "${String(cfg.sink)}"; expected file, stdout or stderr`, {
      source: cfg.name,
    });
  }
  let dest = destinations.get(key);
  if (dest === undefined) {
    let fd: number;
    if (cfg.sink === 'file') {
      try {
        fd = openSync(cfg.path as string, 'a'); // O_WRONLY | O_CREAT | O_APPEND
      } catch (e) {
        throw new SluiceError(
          ErrorCode.CONFIG_INVALID,
          `access_log "${cfg.name}": cannot open ${cfg.path} for appending: ${(e as Error).message}`,
          { source: cfg.path, cause: e },
        );
      }
    } else {
      fd = cfg.sink === 'stdout' ? 1 : 2;
    }
    dest = new SharedDestination(key, fd, cfg.sink !== 'file', opts);
    destinations.set(key, dest);
  }
  dest.refs++;
  return dest;
}

/** Opens (or shares) the destination of one access log config. Throws SluiceError on a bad file. */
export function openAccessLog(cfg: AccessLogConfig, options: SinkOptions = {}): AccessLogSink {
  const dest = acquire(cfg, options);
  let open = true;
  return {
    write(line: string): void {
      if (open) dest.boom.write(line);
    },
    flush(): Promise<void> {
      return dest.flush();
    },
    close(): Promise<void> {
      if (!open) return Promise.resolve();
      open = false;
      if (--dest.refs > 0) return dest.flush();
      destinations.delete(dest.key);
      return dest.close();
    },
  };
}
