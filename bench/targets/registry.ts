import { direct } from './direct.ts';
import { haproxy } from './haproxy.ts';
import { nginxProxy } from './nginx-proxy.ts';
import { nodePeerTarget } from './node-peer.ts';
import { sluiceTarget } from './sluice.ts';
import { sluiceWasmTarget } from './sluice-wasm.ts';
import type { CostBudget } from '../lib/summary.ts';
import type { Target } from './target.ts';

/** Every row the bench knows, in table order. `--only` selects by `name`. */
export const TARGETS: readonly Target[] = [
  direct,
  sluiceTarget({ name: 'sluice1', label: 'Sluice, 1 worker', concurrency: 1 }),
  // The same program as sluice1 in a second process: its budget line is an A/A control.
  { ...sluiceTarget({ name: 'sluice1-control', label: 'Sluice, 1 worker (A/A control)', concurrency: 1 }), optIn: true },
  sluiceWasmTarget({ name: 'sluice1-wasm-noop', label: 'Sluice 1w + no-op wasm', concurrency: 1, filter: 'noop.ts' }),
  sluiceWasmTarget({
    name: 'sluice1-wasm-header',
    label: 'Sluice 1w + header wasm',
    concurrency: 1,
    filter: 'header.ts',
    expectResponseHeader: { path: '/', name: 'x-bench-seen', value: '/' },
  }),
  sluiceWasmTarget({
    name: 'sluice1-wasm-header-unmetered',
    label: 'Sluice 1w + header wasm, no CPU metering',
    concurrency: 1,
    filter: 'header.ts',
    unmetered: true,
    expectResponseHeader: { path: '/', name: 'x-bench-seen', value: '/' },
  }),
  sluiceTarget({ name: 'sluice2', label: 'Sluice, 2 workers', concurrency: 2 }),
  nodePeerTarget({
    name: 'fastify',
    label: '@fastify/http-proxy',
    script: 'fastify-proxy.ts',
    detail: 'fastify + @fastify/http-proxy over undici, 128 pooled connections',
  }),
  nodePeerTarget({
    name: 'http-proxy',
    label: 'http-proxy',
    script: 'node-http-proxy.ts',
    detail: 'node-http-proxy with a keep-alive http.Agent (maxSockets 128)',
  }),
  nginxProxy,
  haproxy,
];

/** The ids the summary's ratio lines refer to. */
export const RATIO_BASE = { direct: 'direct', fastify: 'fastify', sluice1: 'sluice1', sluice2: 'sluice2' } as const;

/**
 * What one wasm filter may cost, from the issue: req/s at least `minRatio` of the same Sluice
 * without the filter, and p99 at most `maxAddedP99Us` above it, at the default 50 connections.
 * The report prints each as a headline line; nothing fails on them (a benchmark prints a table).
 */
export const WASM_BUDGETS: readonly CostBudget[] = [
  { target: 'sluice1-wasm-noop', base: 'sluice1', minRatio: 0.9, maxAddedP99Us: 500 },
  { target: 'sluice1-wasm-header', base: 'sluice1', minRatio: 0.85, maxAddedP99Us: 500 },
  // The sandbox's CPU metering may cost under 10 % on the header filter.
  { target: 'sluice1-wasm-header', base: 'sluice1-wasm-header-unmetered', minRatio: 0.9, maxAddedP99Us: 500 },
  // A/A control, no target: what the paired estimators read when both rows run the same program,
  // i.e. how far from zero this run's machine puts a cost that is not there.
  { target: 'sluice1-control', base: 'sluice1' },
];

export function selectTargets(only: readonly string[] | undefined): Target[] {
  if (!only) return TARGETS.filter((t) => t.optIn !== true);
  const unknown = only.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length > 0) {
    throw new Error(`--only names unknown targets: ${unknown.join(', ')}; known: ${TARGETS.map((t) => t.name).join(', ')}`);
  }
  return TARGETS.filter((t) => only.includes(t.name));
}
