/**
 * `google.protobuf.Duration` in its JSON forms → milliseconds.
 *
 * Accepted: `"5s"`, `"0.25s"`, `"1.5s"` (seconds, up to 9 fractional digits, `s` suffix) and
 * `{seconds, nanos}` objects. `"250ms"` and bare numbers are not protobuf JSON and are rejected with
 * a message that shows the accepted spelling.
 */
import { describeValue, isPlainObject } from './value-kind.ts';

export type DurationResult = { ms: number } | { error: string };

const DURATION_TEXT = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/;
const OTHER_UNITS = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|m|min|h)$/;
const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, m: 60, min: 60, h: 3600 };

export function parseDuration(value: unknown): DurationResult {
  if (typeof value === 'string') return parseDurationText(value);
  if (isPlainObject(value)) return parseDurationObject(value);
  const hint = typeof value === 'number' ? ` (write ${JSON.stringify(formatSeconds(value))})` : '';
  return { error: `expected a duration such as "5s" or "0.25s", got ${describeValue(value)}${hint}` };
}

/** Milliseconds → protobuf JSON duration text (`250` → `"0.25s"`). */
export function formatDurationMs(ms: number): string {
  return formatSeconds(ms / 1000);
}

function parseDurationText(text: string): DurationResult {
  const m = DURATION_TEXT.exec(text.trim());
  if (m === null) {
    const other = OTHER_UNITS.exec(text.trim());
    const hint = other ? `; expected e.g. ${JSON.stringify(formatSeconds(Number(other[1]) * UNIT_SECONDS[other[2]]))}` : '';
    return {
      error: `invalid duration ${JSON.stringify(text)}: protobuf durations are seconds with an "s" suffix${hint || ' such as "5s" or "0.25s"'}`,
    };
  }
  if (m[1] === '-') return { error: `duration ${JSON.stringify(text)} must not be negative` };
  const nanos = Number((m[3] ?? '').padEnd(9, '0'));
  return { ms: Number(m[2]) * 1000 + nanos / 1e6 };
}

function parseDurationObject(obj: Record<string, unknown>): DurationResult {
  const extra = Object.keys(obj).filter((k) => k !== 'seconds' && k !== 'nanos');
  if (extra.length > 0) return { error: `unknown field "${extra[0]}" in duration; expected {seconds, nanos}` };
  const seconds = integer(obj.seconds ?? 0);
  const nanos = integer(obj.nanos ?? 0);
  if (seconds === undefined) return { error: `duration seconds must be an integer, got ${describeValue(obj.seconds)}` };
  if (nanos === undefined || Math.abs(nanos) > 999_999_999) {
    return { error: `duration nanos must be an integer in -999999999..999999999, got ${describeValue(obj.nanos)}` };
  }
  const ms = seconds * 1000 + nanos / 1e6;
  if (ms < 0) return { error: 'duration must not be negative' };
  return { ms };
}

function integer(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) ? n : undefined;
}

function formatSeconds(seconds: number): string {
  return `${Number(seconds.toFixed(9))}s`;
}
