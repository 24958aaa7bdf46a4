/**
 * What one wasm filter costs a stream, in-process: the bench filters (filters/noop.ts,
 * filters/header.ts) built as the proxy bench builds them, loaded into a VM slot and plugin as
 * the data plane loads them (metered by default, and unmetered), and a stream's whole life driven
 * through them in a loop, through the same chain stages an HttpStream uses: context creation,
 * request headers, response headers, end of stream, on_log / on_done / on_delete. The no-filter
 * row builds the same header maps and chain directions without stages.
 *
 * No sockets: this is the filter's own CPU with warm caches, the floor of what the proxy bench's
 * wasm rows pay per request (at a paced load, with colder caches, they pay several times more).
 *
 *   node bench/filter-cost.ts [--streams N] [--reps N]
 *
 * Prints ns per stream (median of the repetitions, rows interleaved) and the difference from
 * the no-filter row.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { compileAssemblyScript } from './lib/assemblyscript.ts';
import { ChainDirection, requestStage, responseStage, type ChainOverflowHandler, type ChainSink } from '../runtime/http/filter-chain.ts';
import type { FilterCallbacks, HttpFilter } from '../runtime/http/filter.ts';
import { HeaderMap } from '../runtime/http/header-map.ts';
import { newStreamInfo } from '../runtime/http/stream-info.ts';
import { StatsStore } from '../runtime/stats/store.ts';
import { compileSandboxed } from '../runtime/wasm/module.ts';
import { VmSlot, WasmPlugin } from '../runtime/wasm/plugin.ts';
import { loadSandbox } from '../runtime/wasm/sandbox.ts';
import type { VmServices } from '../runtime/wasm/vm.ts';

const { values } = parseArgs({ options: { streams: { type: 'string', default: '100000' }, reps: { type: 'string', default: '7' } } });
const streams = Number(values.streams);
const reps = Number(values.reps);
if (!(Number.isInteger(streams) && streams > 0 && Number.isInteger(reps) && reps > 0)) {
  process.stderr.write('usage: node bench/filter-cost.ts [--streams N] [--reps N] (whole numbers > 0)\n');
  process.exit(2);
}

const services: VmServices = {
  log: pino({ level: 'warn' }),
  stats: new StatsStore(1024),
  httpCall: () => undefined,
  sharedData: undefined,
  sharedQueues: undefined,
  manualTicks: true,
};

/** A plugin of `bytes` as the data plane builds one; `fuel` null = unmetered, undefined = the default budget. */
function plugin(bytes: Uint8Array, name: string, fuel: undefined | null): WasmPlugin {
  const sandbox = { maxMemoryBytes: undefined, fuelPerCallback: fuel };
  const compiled = compileSandboxed(bytes, name, { allowedCapabilities: undefined, ...sandbox });
  const none = new Uint8Array(0);
  const slot = new VmSlot(name, compiled, services, {
    vmId: name,
    vmConfiguration: none,
    environment: [],
    backoff: { baseMs: 0, maxMs: 0 },
    runtime: 'envoy.wasm.runtime.v8',
  });
  return new WasmPlugin(
    name,
    {
      name,
      rootId: '',
      vmId: name,
      runtime: 'envoy.wasm.runtime.v8',
      configuration: none,
      vmConfiguration: none,
      code: { kind: 'bytes', bytes: none },
      failurePolicy: 'FAIL_CLOSED',
      reloadBackoff: { baseMs: 0, maxMs: 0 },
      allowedCapabilities: undefined,
      allowOnHeadersStopIteration: false,
      environment: [],
      allowPrecompiled: false,
      sandbox,
    },
    slot,
    services,
  );
}

const sink: ChainSink = { headers() {}, data: () => true, trailers() {} };
const overflow: ChainOverflowHandler = {
  chainOverflow() {
    throw new Error('a bench stream overflowed its buffer');
  },
  chainFilterError(_d, err) {
    throw err;
  },
};
const info = newStreamInfo({
  protocol: 'HTTP/1.1',
  connectionId: 1,
  downstreamRemoteAddress: '127.0.0.1:40000',
  downstreamDirectRemoteAddress: '127.0.0.1:40000',
  downstreamLocalAddress: '127.0.0.1:10000',
});
const EMPTY = Buffer.alloc(0);

/** The callbacks a filter may use in this loop; the rest are not reached by the bench filters. */
class LoopCallbacks implements FilterCallbacks {
  readonly info = info;
  readonly requestHeaders: HeaderMap;
  responseHeaders: HeaderMap | undefined;
  constructor(request: HeaderMap) {
    this.requestHeaders = request;
  }
  continueRequest(): void {}
  continueResponse(): void {}
  sendLocalReply(): void {
    throw new Error('a bench filter sent a local reply');
  }
  resetStream(): void {
    throw new Error('a bench filter reset its stream');
  }
  route(): undefined {
    return undefined;
  }
  clearRouteCache(): void {}
  bufferedRequestBody(): Buffer {
    return EMPTY;
  }
  setBufferedRequestBody(): void {}
  setRequestBufferLimit(): void {}
  bufferedResponseBody(): Buffer {
    return EMPTY;
  }
  setBufferedResponseBody(): void {}
}

/**
 * ns per stream over `n` streams through `p` (undefined = no filter). `addsHeader`: the filter
 * must have added `x-bench-seen` on every stream (as the proxy bench checks once).
 */
function run(p: WasmPlugin | undefined, addsHeader: boolean, n: number): number {
  let seen = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const request = new HeaderMap([':method', 'GET', ':scheme', 'http', ':path', '/100b', ':authority', '127.0.0.1', 'user-agent', 'wrk']);
    const response = new HeaderMap([':status', '200', 'content-type', 'text/plain', 'content-length', '100']);
    const cb = new LoopCallbacks(request);
    const f: HttpFilter | undefined = p?.create(cb);
    const req = new ChainDirection(f === undefined ? [] : [requestStage(f)], sink, 1 << 20, overflow);
    const res = new ChainDirection(f === undefined ? [] : [responseStage(f)], sink, 1 << 20, overflow);
    req.headers(request, true);
    cb.responseHeaders = response;
    res.headers(response, false);
    res.data(EMPTY, true);
    f?.onStreamComplete?.();
    if (response.get('x-bench-seen') !== undefined) seen++;
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (addsHeader && seen !== n) throw new Error(`the header filter added its header on ${seen} of ${n} streams`);
  return ns;
}

await loadSandbox();
const filters = join(import.meta.dirname, 'filters');
const noop = await compileAssemblyScript(join(filters, 'noop.ts'));
const header = await compileAssemblyScript(join(filters, 'header.ts'));
const rows: Array<[name: string, plugin: WasmPlugin | undefined, addsHeader: boolean]> = [
  ['no filter', undefined, false],
  ['no-op wasm', plugin(noop, 'noop', undefined), false],
  ['no-op wasm, unmetered', plugin(noop, 'noop-unmetered', null), false],
  ['header wasm', plugin(header, 'header', undefined), true],
  ['header wasm, unmetered', plugin(header, 'header-unmetered', null), true],
];
// Warm-up: every path optimized before anything is timed.
for (const [, p, adds] of rows) run(p, adds, Math.min(streams, 20_000));
const times = new Map<string, number[]>();
for (let r = 0; r < reps; r++) for (const [name, p, adds] of rows) times.set(name, [...(times.get(name) ?? []), run(p, adds, streams)]);
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const base = median(times.get('no filter')!);
const lines = [
  `# wasm filter cost per stream, in-process (${streams} streams × ${reps} repetitions, rows interleaved; node ${process.version})`,
  '',
  '| row | ns per stream (median) | above no filter | fastest repetition |',
  '| --- | ---: | ---: | ---: |',
  ...rows.map(([name]) => {
    const xs = times.get(name)!;
    const m = median(xs);
    const d = m - base;
    return `| ${name} | ${m.toFixed(0)} | ${name === 'no filter' ? '—' : `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(0)}`} | ${Math.min(...xs).toFixed(0)} |`;
  }),
];
process.stdout.write(lines.join('\n') + '\n');
