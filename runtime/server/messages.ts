import type { Bootstrap } from '../config/types.ts';
import type { LogLevel } from '../log.ts';
import type { BoundListener } from './data-plane.ts';
import type { WasmWorkerInit } from '../wasm/wasm-runtime.ts';
import type { WasmReply, WasmRequest } from './wasm-deploy.ts';

/** The protocol between the supervisor (main thread) and data-plane workers. */
export interface WorkerInit {
  bootstrap: Bootstrap;
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
  | (WasmRequest & { id: number });

export type WorkerToMain =
  | { type: 'stats'; buffer: SharedArrayBuffer }
  | { type: 'ready'; listeners: BoundListener[]; hosts: HostsByCluster }
  | { type: 'hosts'; hosts: HostsByCluster }
  | { type: 'error'; message: string; code?: string }
  | { type: 'drained'; error?: string }
  | (WasmReply & { type: 'wasm-reply'; id: number });
