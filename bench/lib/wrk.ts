import type { ChildProcesses } from './child-processes.ts';

/**
 * Drives wrk for one fixed-duration run and parses its report (`--latency` adds the
 * percentile table we read p50 and p99 from).
 */

export interface WrkRun {
  wrkPath: string;
  url: string;
  connections: number;
  threads: number;
  durationS: number;
  /** Path of a Lua script (method, body, headers), if the workload needs one. */
  scriptPath?: string | undefined;
  cpus?: string | undefined;
}

export interface WrkReport {
  requests: number;
  durationS: number;
  requestsPerSec: number;
  /** Latency percentiles in microseconds, from wrk's "Latency Distribution". */
  latencyUs: { p50: number; p75: number; p90: number; p99: number };
  errors: { connect: number; read: number; write: number; timeout: number; non2xx: number };
}

/** wrk stops itself after `durationS`; this margin only catches a hung wrk. */
const HANG_MARGIN_MS = 15_000;

export async function runWrk(children: ChildProcesses, run: WrkRun): Promise<WrkReport> {
  const args = [
    `-t${run.threads}`,
    `-c${run.connections}`,
    `-d${run.durationS}s`,
    '--latency',
    ...(run.scriptPath ? ['-s', run.scriptPath] : []),
    run.url,
  ];
  const r = await children.run({
    name: 'wrk',
    command: run.wrkPath,
    args,
    cpus: run.cpus,
    timeoutMs: run.durationS * 1000 + HANG_MARGIN_MS,
  });
  if (r.timedOut) throw new Error(`wrk did not finish within ${run.durationS} s + ${HANG_MARGIN_MS / 1000} s and was killed`);
  if (r.code !== 0) {
    const how = r.error ? `an error: ${r.error.message}` : r.signal ? `signal ${r.signal}` : `code ${r.code}`;
    const said = (r.stderr || r.stdout).trim();
    throw new Error(`wrk exited with ${how}${said ? `: ${said}` : ''}`);
  }
  return parseWrkOutput(r.stdout);
}

const TIME_UNIT_US: Record<string, number> = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };

function timeToUs(value: string, unit: string): number {
  const factor = TIME_UNIT_US[unit];
  if (factor === undefined) throw new Error(`unknown wrk time unit "${unit}"`);
  return Number(value) * factor;
}

/**
 * Parses wrk 4.x's text report. Example of the parts read:
 *
 *   Latency Distribution
 *      50%  612.00us
 *      99%    1.20ms
 *   160000 requests in 2.00s, 20.00MB read
 *   Socket errors: connect 0, read 0, write 0, timeout 0
 *   Non-2xx or 3xx responses: 5
 *   Requests/sec:  80000.00
 */
export function parseWrkOutput(text: string): WrkReport {
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),/m.exec(text);
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  if (!total || !rps) throw new Error(`cannot read wrk's report (no "requests in" / "Requests/sec" line):\n${text.trim()}`);
  const pct = (p: number): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
    if (!m) throw new Error(`cannot read wrk's ${p}% latency (was --latency given?):\n${text.trim()}`);
    return timeToUs(m[1]!, m[2]!);
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(total[1]),
    durationS: timeToUs(total[2]!, total[3]!) / 1e6,
    requestsPerSec: Number(rps[1]),
    latencyUs: { p50: pct(50), p75: pct(75), p90: pct(90), p99: pct(99) },
    errors: {
      connect: Number(socket?.[1] ?? 0),
      read: Number(socket?.[2] ?? 0),
      write: Number(socket?.[3] ?? 0),
      timeout: Number(socket?.[4] ?? 0),
      non2xx: Number(non2xx?.[1] ?? 0),
    },
  };
}

export function errorCount(r: WrkReport): number {
  const e = r.errors;
  return e.connect + e.read + e.write + e.timeout + e.non2xx;
}
