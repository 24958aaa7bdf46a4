import { probe } from './http-probe.ts';
import { requestBody, type Workload } from './workloads.ts';

/**
 * One request per (target, workload) before any timing: a proxy that answers fast with the
 * wrong status or a truncated body must not get a number. Returns undefined when it passed,
 * else what was wrong.
 */
export async function checkResponse(port: number, w: Workload): Promise<string | undefined> {
  try {
    const body = requestBody(w);
    const res = await probe({ port, path: w.path, method: w.method, ...(body ? { body } : {}), timeoutMs: 5000 });
    if (res.status !== 200) return `sanity check: ${w.method} ${w.path} answered ${res.status}, expected 200`;
    if (res.body.length !== w.responseBodyBytes) {
      return `sanity check: ${w.method} ${w.path} returned ${res.body.length} body bytes, expected ${w.responseBodyBytes}`;
    }
    return undefined;
  } catch (err) {
    return `sanity check: ${w.method} ${w.path} failed: ${(err as Error).message}`;
  }
}
