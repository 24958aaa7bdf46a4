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
 * wrk Lua script for a paced run (rotation.ts PacingPlan): the workload's own lines, plus a think
 * time before each request, uniform in 0..2 × `meanDelayMs` (whole ms: wrk's timer resolution),
 * so the connections' requests spread out instead of arriving in step.
 */
export function pacedWrkScript(w: Workload, meanDelayMs: number): string {
  if (!Number.isInteger(meanDelayMs) || meanDelayMs < 1) throw new Error(`mean think time must be a whole number of ms ≥ 1, got ${meanDelayMs}`);
  return (wrkScript(w) ?? '') + `function delay()\n  return math.random(0, ${2 * meanDelayMs})\nend\n`;
}
