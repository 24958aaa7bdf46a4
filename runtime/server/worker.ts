import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { createLogger, type LogLevel } from '../log.ts';
import { StatsStore } from '../stats/store.ts';
import { GlobalStatsReader } from '../stats/global-reader.ts';
import { DataPlane } from './data-plane.ts';
import type { HostsByCluster, MainToWorker, WorkerInit, WorkerToMain } from './messages.ts';
import type { WasmReply, WasmRequest } from './wasm-deploy.ts';
import '../http/builtin-filters.ts';
import '../wasm/wasm-filter.ts';

/**
 * A data-plane worker thread: builds its own listeners, clusters and filter chains from the
 * snapshot it was given, serves requests, and writes stats into its own shared segment. Config
 * reloads arrive as prepare / commit (or abort) steps from the supervisor.
 */
const init = workerData as WorkerInit;
const HOSTS_REPORT_MS = 1000;
const port = parentPort;
if (port === null) throw new Error('runtime/server/worker.ts must run in a worker thread');

const log = createLogger(init.logLevel, { worker: init.workerIndex });
const stats = new StatsStore(init.statsSlots);
const send = (m: WorkerToMain) => port.postMessage(m);
send({ type: 'stats', buffer: stats.buffer });

const globalStats = new GlobalStatsReader();
globalStats.attach(`worker-${init.workerIndex}`, stats.buffer);
const plane = new DataPlane({
  stats,
  log,
  workerIndex: init.workerIndex,
  concurrency: init.concurrency,
  wasm: init.wasm,
  globalStatValue: (name, kind) => (kind === 'counter' ? globalStats.counter(name) : globalStats.gauge(name)),
});

async function main(): Promise<void> {
  for (const p of init.preload) await import(pathToFileURL(p).href);
  const listeners = await plane.start(init.resources, init.ports);
  let hosts = hostsOf();
  send({ type: 'ready', listeners, hosts });
  // DNS clusters change hosts over time; worker 0 keeps the main thread's /clusters view current.
  if (init.workerIndex === 0) {
    let last = JSON.stringify(hosts);
    setInterval(() => {
      hosts = hostsOf();
      const now = JSON.stringify(hosts);
      if (now !== last) {
        last = now;
        send({ type: 'hosts', hosts });
      }
    }, HOSTS_REPORT_MS).unref();
  }
}

function hostsOf(): HostsByCluster {
  const out: HostsByCluster = {};
  for (const c of plane.clusters?.all() ?? []) {
    out[c.name] = c.hosts.map((h) => ({ address: h.key, hostname: h.hostname, weight: h.weight, priority: h.priority }));
  }
  return out;
}

port.on('message', (m: MainToWorker) => {
  switch (m.type) {
    case 'drain':
      plane.drain(m.timeoutMs).then(
        () => send({ type: 'drained' }),
        (err: Error) => send({ type: 'drained', error: err.message }),
      );
      break;
    case 'log-level':
      log.level = m.level as LogLevel;
      break;
    case 'healthcheck':
      plane.setHealthFailed(m.failed);
      break;
    case 'reload-prepare':
      plane.prepare(m.resources, m.ports, m.wasmModules).then(
        (listeners) => send({ type: 'reload-reply', id: m.id, ok: true, listeners }),
        (err: Error) => send({ type: 'reload-reply', id: m.id, ok: false, error: err.message }),
      );
      break;
    case 'reload-commit':
      plane.commit(m.drainTimeoutMs);
      send({ type: 'reload-reply', id: m.id, ok: true, listeners: plane.listeners, hosts: hostsOf() });
      break;
    case 'reload-abort':
      plane.abort().then(
        () => send({ type: 'reload-reply', id: m.id, ok: true }),
        (err: Error) => send({ type: 'reload-reply', id: m.id, ok: false, error: err.message }),
      );
      break;
    case 'wasm-prepare':
    case 'wasm-commit':
    case 'wasm-abort':
    case 'wasm-status':
      send({ type: 'wasm-reply', id: m.id, ...wasmRequest(m) });
      break;
    case 'stats-segments': {
      const known = new Set(globalStats.ids);
      for (const seg of m.segments) if (!known.has(seg.id)) globalStats.attach(seg.id, seg.buffer);
      break;
    }
  }
});

/** Hot-deploy steps on this worker (runtime/server/wasm-deploy.ts drives them from the main thread). */
function wasmRequest(m: WasmRequest): WasmReply {
  const wasm = plane.wasm;
  if (m.type === 'wasm-status') return { ok: true, status: wasm?.status() ?? [] };
  if (wasm === undefined) return { ok: false, error: 'no wasm plugins on this worker' };
  switch (m.type) {
    case 'wasm-prepare': {
      const r = wasm.prepareSwap(m.plugin, m.module, m.generation);
      return r.ok ? { ok: true } : { ok: false, error: r.error };
    }
    case 'wasm-commit':
      wasm.commitSwap(m.plugin);
      return { ok: true };
    case 'wasm-abort':
      wasm.abortSwap(m.plugin);
      return { ok: true };
  }
}

main().catch((err: Error) => {
  send({ type: 'error', message: err.message, code: (err as { code?: string }).code });
});
