/**
 * Stream idle timeouts without a timer per stream: streams register while active and record
 * activity as a timestamp; one interval per connection manager finds the ones idle too long.
 * Each stream carries its own timeout (the HCM's `stream_idle_timeout`, or its route's
 * `idle_timeout`). The sweep period is an eighth of the shortest configured timeout (10 ms to
 * 1 s), so a timeout fires within 12.5 % (at most 1 s) of its configured value.
 */
export interface IdleTracked {
  /** `performance.now()` of the last byte in either direction. */
  lastActivity: number;
  /** This stream's idle timeout in ms (> 0 while tracked). */
  idleTimeoutMs: number;
  onIdleTimeout(): void;
}

export class IdleSweeper {
  readonly #periodMs: number;
  readonly #streams = new Set<IdleTracked>();
  #timer: NodeJS.Timeout | undefined;

  /** `shortestTimeoutMs`: the smallest timeout any stream of this HCM can have. */
  constructor(shortestTimeoutMs: number) {
    this.#periodMs = Math.min(1000, Math.max(10, Math.floor(shortestTimeoutMs / 8)));
  }

  add(s: IdleTracked): void {
    this.#streams.add(s);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#sweep(), this.#periodMs);
      this.#timer.unref();
    }
  }

  delete(s: IdleTracked): void {
    this.#streams.delete(s);
    if (this.#streams.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #sweep(): void {
    const now = performance.now();
    for (const s of this.#streams) {
      if (now - s.lastActivity >= s.idleTimeoutMs) {
        this.#streams.delete(s);
        s.onIdleTimeout();
      }
    }
    if (this.#streams.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
