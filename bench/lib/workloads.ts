/**
 * What the load generator asks for. The upstream serves exactly these paths, and the sanity
 * check verifies each response size through every target before any timing.
 */

export interface Workload {
  name: string;
  label: string;
  method: 'GET' | 'POST';
  path: string;
  requestBodyBytes: number;
  responseBodyBytes: number;
}

export const WORKLOADS: readonly Workload[] = [
  { name: 'get-100b', label: 'GET, 100 B response', method: 'GET', path: '/100b', requestBodyBytes: 0, responseBodyBytes: 100 },
  { name: 'get-16k', label: 'GET, 16 KiB response', method: 'GET', path: '/16k', requestBodyBytes: 0, responseBodyBytes: 16 * 1024 },
  { name: 'post-64k', label: 'POST 64 KiB body, 100 B response', method: 'POST', path: '/post', requestBodyBytes: 64 * 1024, responseBodyBytes: 100 },
];

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Deterministic ASCII filler. Free of quotes, `$`, `\` and braces, so it can sit inside an
 * nginx `return 200 "..."` and a Lua string literal unescaped.
 */
export function filler(bytes: number): string {
  return ALPHABET.repeat(Math.ceil(bytes / ALPHABET.length)).slice(0, bytes);
}

export function requestBody(w: Workload): Buffer | undefined {
  return w.requestBodyBytes > 0 ? Buffer.from(filler(w.requestBodyBytes)) : undefined;
}

/** wrk Lua script for workloads that are not a plain GET; undefined means none is needed. */
export function wrkScript(w: Workload): string | undefined {
  if (w.method === 'GET' && w.requestBodyBytes === 0) return undefined;
  const lines = [`wrk.method = "${w.method}"`];
  if (w.requestBodyBytes > 0) {
    lines.push(
      `wrk.body = string.rep("x", ${w.requestBodyBytes})`,
      `wrk.headers["Content-Type"] = "application/octet-stream"`,
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * Where a paced run's connections may send: slot `slot` of `slots` windows of `windowMs` each,
 * repeating (rotation.ts, sliced paced runs). The windows are cut from CLOCK_MONOTONIC, which
 * every wrk process on the machine reads alike, so wrk processes given slots 0..slots-1 take
 * turns without talking to each other.
 */
export interface PacingSlice {
  slot: number;
  slots: number;
  windowMs: number;
}

/**
 * wrk Lua script for a paced run (rotation.ts PacingPlan): the workload's own lines, plus a think
 * time before each request, uniform in 0..2 × `meanDelayMs` (whole ms: wrk's timer resolution),
 * so the connections' requests spread out instead of arriving in step.
 *
 * The think time is counted in the slice's own windows only: from the end of a response (wrk asks
 * `delay()` before every request, the first included), it walks forward through the windows of
 * its slot, skipping the others' (LuaJIT's FFI reads the monotonic clock). Inside its windows a
 * connection offers the same load as it would alone, and a window starts without a burst: a
 * connection whose think time crossed the gap goes on where it left off. Only requests already in
 * flight when a window ends finish in the next one. With one slot, the whole time is the window.
 */
export function pacedWrkScript(w: Workload, meanDelayMs: number, slice: PacingSlice): string {
  if (!Number.isInteger(meanDelayMs) || meanDelayMs < 1) throw new Error(`mean think time must be a whole number of ms ≥ 1, got ${meanDelayMs}`);
  const { slot, slots, windowMs } = slice;
  if (!Number.isInteger(slots) || slots < 1 || !Number.isInteger(slot) || slot < 0 || slot >= slots) {
    throw new Error(`a pacing slice needs a whole slot in 0..slots-1, got ${slot} of ${slots}`);
  }
  if (!Number.isInteger(windowMs) || windowMs < 5) throw new Error(`a pacing window must be a whole number of ms ≥ 5, got ${windowMs}`);
  return (
    (wrkScript(w) ?? '') +
    `local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } sluice_timespec;
int clock_gettime(int clk, sluice_timespec *ts);
]]
local ts = ffi.new("sluice_timespec")
local WINDOW = ${windowMs}
local CYCLE = ${windowMs * slots}
local START = ${slot * windowMs}
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
-- The time at which \`think\` ms of this slot's windows have passed since \`t\`.
local function after_active(t, think)
  local into = (t - START) % CYCLE
  if into >= WINDOW then
    t = t + CYCLE - into
    into = 0
  end
  local left = WINDOW - into
  if think < left then return t + think end
  think = think - left
  t = t + left + CYCLE - WINDOW
  local whole = math.floor(think / WINDOW)
  return t + whole * CYCLE + (think - whole * WINDOW)
end
function delay()
  local now = now_ms()
  return math.ceil(after_active(now, math.random(0, ${2 * meanDelayMs})) - now)
end
`
  );
}
