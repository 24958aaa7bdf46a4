import type { LogLevel } from '../log.ts';
import type { BoundListener, Resources } from './data-plane.ts';
import type { CompiledModule } from '../wasm/module.ts';
import type { WasmWorkerInit } from '../wasm/wasm-runtime.ts';
import type { WasmReply, WasmRequest } from './wasm-deploy.ts';

/** The protocol between the supervisor (main thread) and data-plane workers. */
export interface WorkerInit {
  /** The snapshot's listeners and clusters (static and LDS/CDS). */
  resources: Resources;
  workerIndex: number;
  concurrency: number;
  logLevel: LogLevel;
  statsSlots: number;
  /** Listener name → port, pinning port-0 listeners to the port the first worker bound. */
  ports: Record<string, number> | undefined;
  /** Modules each worker imports before building filters (extensions registering filters). */
  preload: string[];
  /** Modules compiled on the main thread, and the process-wide shared data and queues. */
  wasm: WasmWorkerInit;
}

export interface HostInfo {
  address: string;
  hostname?: string;
  weight: number;
  priority: number;
}
export type HostsByCluster = Record<string, HostInfo[]>;

export type MainToWorker =
  | { type: 'drain'; timeoutMs: number }
  | { type: 'log-level'; level: LogLevel }
  | { type: 'healthcheck'; failed: boolean }
  /** Every thread's stats segment (sent again whenever one is added). */
  | { type: 'stats-segments'; segments: Array<{ id: string; buffer: SharedArrayBuffer }> }
  /** Hot deploy (wasm-deploy.ts): prepare / commit / abort a plugin's new module, or report status. */
  | (WasmRequest & { id: number })
  | (ReloadRequest & { id: number });

/** Config reload steps (runtime/server/config-reload.ts drives them; `id` is added by the sender). */
export type ReloadRequest =
  /**
   * Step 1: build the snapshot and bind its new listeners (DataPlane.prepare). `ports` pins new
   * port-0 listeners to the port worker 0 got; `wasmModules` are the modules the main thread
   * compiled while validating the snapshot.
   */
  | { type: 'reload-prepare'; resources: Resources; ports?: Record<string, number>; wasmModules: Record<string, CompiledModule> }
  /** Step 2, once every worker prepared: switch (DataPlane.commit). Removed listeners drain within `drainTimeoutMs`. */
  | { type: 'reload-commit'; drainTimeoutMs: number }
  /** Instead of step 2, when some worker failed to prepare: drop the prepared snapshot. */
  | { type: 'reload-abort' };

/** A worker's answer to a reload step: after prepare or commit, the listeners as they are (or will be). */
export interface ReloadReply {
  type: 'reload-reply';
  id: number;
  ok: boolean;
  error?: string;
  listeners?: BoundListener[];
  /** After commit. */
  hosts?: HostsByCluster;
}

export type WorkerToMain =
  | { type: 'stats'; buffer: SharedArrayBuffer }
  | { type: 'ready'; listeners: BoundListener[]; hosts: HostsByCluster }
  | { type: 'hosts'; hosts: HostsByCluster }
  | { type: 'error'; message: string; code?: string }
  | { type: 'drained'; error?: string }
  | (WasmReply & { type: 'wasm-reply'; id: number })
  | ReloadReply;
