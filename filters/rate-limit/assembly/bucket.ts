/**
 * The token bucket of Envoy's local rate limit, computed lazily from a stored state instead of by
 * a timer: a bucket starts full (`max_tokens`), every `fill_interval_ms` since its last fill adds
 * `tokens_per_fill` up to `max_tokens`, and each request takes one token. Fills stay on the grid
 * that began when the bucket was created, so a steady client cannot shift them.
 *
 * Pure arithmetic on (state, now): the caller stores the new state with compare-and-swap.
 */

export class Limits {
  constructor(public maxTokens: i64, public tokensPerFill: i64, public fillIntervalMs: i64) {}
}

/** What a shared-data entry holds: tokens left and the time of the last fill (ms since the epoch). */
export class BucketState {
  constructor(public tokens: i64, public lastFillMs: i64) {}
}

export class Decision {
  /** A token was taken. */
  allowed: bool = false;
  /** Tokens left after this request. */
  remaining: i64 = 0;
  /** Milliseconds until the next fill (always > 0). */
  nextFillMs: i64 = 0;
  /** The state to store; null when nothing changed (a refused request before any fill is due). */
  state: BucketState | null = null;
}

/** Stored as text ("<tokens> <last fill ms>") so an operator can read it in a shared-data dump. */
export function encodeState(s: BucketState): string {
  return s.tokens.toString() + " " + s.lastFillMs.toString();
}

/** The state, or null when `text` is not one `encodeState` wrote (the bucket then starts afresh). */
export function decodeState(text: string): BucketState | null {
  const space = text.indexOf(" ");
  if (space <= 0 || space == text.length - 1) return null;
  const tokens = text.substring(0, space);
  const last = text.substring(space + 1);
  if (!isDigits(tokens) || !isDigits(last)) return null;
  return new BucketState(I64.parseInt(tokens), I64.parseInt(last));
}

function isDigits(s: string): bool {
  if (s.length == 0 || s.length > 18) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Refills `current` (null: a new, full bucket) up to `nowMs` and tries to take one token. */
export function takeToken(current: BucketState | null, nowMs: i64, limits: Limits): Decision {
  const max = limits.maxTokens;
  const interval = limits.fillIntervalMs;
  let tokens = max;
  let last = nowMs;
  if (current != null) {
    tokens = current.tokens < max ? current.tokens : max;
    last = current.lastFillMs;
    // A clock that stepped back would otherwise hold the next fill until it catches up.
    if (nowMs < last) last = nowMs;
  }
  const fills = (nowMs - last) / interval;
  if (fills > 0) {
    // Bounded before multiplying: a bucket idle for years must not overflow.
    const needed = (max - tokens + limits.tokensPerFill - 1) / limits.tokensPerFill;
    tokens = fills >= needed ? max : tokens + fills * limits.tokensPerFill;
    if (tokens > max) tokens = max;
    last += fills * interval;
  }
  const d = new Decision();
  d.allowed = tokens > 0;
  if (d.allowed) tokens--;
  d.remaining = tokens;
  d.nextFillMs = last + interval - nowMs;
  const changed = current == null || d.allowed || tokens != current.tokens || last != current.lastFillMs;
  d.state = changed ? new BucketState(tokens, last) : null;
  return d;
}
