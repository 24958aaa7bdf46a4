import { request, type IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ManagedProcess } from './child-processes.ts';
import { LOOPBACK } from './ports.ts';

/** One-off HTTP/1.1 requests to 127.0.0.1, outside the measured load: readiness and sanity checks. */

export interface ProbeRequest {
  port: number;
  path: string;
  method?: string;
  body?: Buffer;
  timeoutMs?: number;
}

export interface ProbeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export function probe(req: ProbeRequest): Promise<ProbeResponse> {
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: LOOPBACK,
        port: req.port,
        path: req.path,
        method: req.method ?? 'GET',
        agent: false,
        headers: req.body
          ? { 'content-type': 'application/octet-stream', 'content-length': req.body.length }
          : {},
        timeout: req.timeoutMs ?? 2000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no response from 127.0.0.1:${req.port}${req.path} within ${req.timeoutMs ?? 2000} ms`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

export interface ReadinessOptions {
  port: number;
  path: string;
  /** Which status means ready; default: any HTTP answer. */
  isReady?: (status: number) => boolean;
  timeoutMs: number;
  /** Stop waiting as soon as this process has exited. */
  process?: ManagedProcess;
}

/** Polls until the port answers HTTP as required; throws with the child's output otherwise. */
export async function waitUntilReady(opts: ReadinessOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    if (opts.process?.exitStatus) throw new Error(opts.process.describeExit());
    try {
      const res = await probe({ port: opts.port, path: opts.path, timeoutMs: 1000 });
      if (opts.isReady ? opts.isReady(res.status) : true) return;
      last = `GET ${opts.path} answered ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  const tail = opts.process?.outputTail.trim();
  throw new Error(
    `not ready on 127.0.0.1:${opts.port}${opts.path} after ${opts.timeoutMs} ms (last: ${last})` +
      (tail ? `; its output:\n${tail.split('\n').slice(-12).join('\n')}` : ''),
  );
}
