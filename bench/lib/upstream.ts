import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcesses, ManagedProcess } from './child-processes.ts';
import { startNginx } from './nginx.ts';
import { freePort } from './ports.ts';
import { waitUntilReady } from './http-probe.ts';
import { WORKLOADS, filler } from './workloads.ts';

/**
 * The origin every target forwards to. nginx answers about 2× faster than a Node `http`
 * upstream (docs field notes), so it is used whenever it is installed; the Node fallback keeps
 * the bench running without nginx, at the price of an upstream that may bound the results.
 */

export interface Upstream {
  port: number;
  description: string;
  process: ManagedProcess;
}

export interface UpstreamOptions {
  children: ChildProcesses;
  workDir: string;
  nginxPath: string | undefined;
  nodePath: string;
  benchDir: string;
  cpus: string | undefined;
}

const READY_TIMEOUT_MS = 10_000;

export async function startUpstream(opts: UpstreamOptions): Promise<Upstream> {
  const port = await freePort();
  const proc = opts.nginxPath ? startNginxUpstream(opts, opts.nginxPath, port) : startNodeUpstream(opts, port);
  try {
    await waitUntilReady({ port, path: '/100b', isReady: (s) => s === 200, timeoutMs: READY_TIMEOUT_MS, process: proc });
  } catch (err) {
    await opts.children.stop(proc);
    throw new Error(`the upstream did not start: ${(err as Error).message}`);
  }
  const description = opts.nginxPath
    ? `nginx (worker_processes 1) on 127.0.0.1:${port}, sharing CPU with the load generator`
    : `Node http server on 127.0.0.1:${port} (nginx unavailable; may bound the results)`;
  return { port, description, process: proc };
}

function startNginxUpstream(opts: UpstreamOptions, nginxPath: string, port: number): ManagedProcess {
  const www = join(opts.workDir, 'upstream-www');
  mkdirSync(www, { recursive: true, mode: 0o755 });
  const small = filler(100);
  const bySize = new Map(WORKLOADS.map((w) => [w.path, w.responseBodyBytes]));
  writeFileSync(join(www, '16k'), filler(bySize.get('/16k') ?? 16384), { mode: 0o644 });
  return startNginx(opts.children, {
    name: 'upstream-nginx',
    nginxPath,
    workDir: opts.workDir,
    cpus: opts.cpus,
    http: `
default_type application/octet-stream;
sendfile on;
open_file_cache max=16 inactive=600s;
open_file_cache_valid 600s;
client_max_body_size 1m;
# Hold the 64 KiB POST bodies in memory instead of temp files.
client_body_buffer_size 128k;
server {
  listen 127.0.0.1:${port} backlog=4096;
  root ${www};
  location = /100b { return 200 "${small}"; }
  location = /16k { }
  location = /post { return 200 "${small}"; }
}`,
  });
}

function startNodeUpstream(opts: UpstreamOptions, port: number): ManagedProcess {
  return opts.children.start({
    name: 'upstream-node',
    command: opts.nodePath,
    args: [join(opts.benchDir, 'peers', 'upstream.ts'), '--port', String(port)],
    cpus: opts.cpus,
  });
}
