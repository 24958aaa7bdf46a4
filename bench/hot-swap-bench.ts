/**
 * Hot swap under load (issue "Proof", the longer run): Sluice with one wasm plugin that stamps
 * `x-version` on every response, 100 keep-alive connections sending requests as fast as they are
 * answered, and the plugin's module swapped back and forth through the admin API the whole time.
 * Prints one table: requests, failures, responses whose version is not exactly one of the two,
 * downstream connections opened (must equal the connection count: no reconnects), swap latency
 * (admin POST to answer) percentiles, and request latency percentiles with and without swaps.
 *
 *   node bench/hot-swap-bench.ts [--swaps 200] [--connections 100] [--concurrency 2]
 *
 * Bounded: stops after --swaps swaps or --max-seconds (default 120), whichever comes first.
 */
import http from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import { compileAssemblyScript } from './lib/assemblyscript.ts';
import { loadConfigText } from '../runtime/config/load.ts';
import { Sluice } from '../runtime/server/supervisor.ts';
import { createLogger } from '../runtime/log.ts';

const { values } = parseArgs({
  options: {
    swaps: { type: 'string', default: '200' },
    connections: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '2' },
    'max-seconds': { type: 'string', default: '120' },
  },
});
const SWAPS = Number(values.swaps);
const CONNECTIONS = Number(values.connections);
const CONCURRENCY = Number(values.concurrency);
const MAX_MS = Number(values['max-seconds']) * 1000;

const dir = mkdtempSync(join(tmpdir(), 'sluice-swap-bench-'));
const source = (v: string) => `
@external("env", "proxy_add_header_map_value")
declare function add(map: i32, kp: usize, ks: usize, vp: usize, vs: usize): u32;
export function proxy_abi_version_0_2_1(): void {}
export function proxy_on_memory_allocate(size: usize): usize { return heap.alloc(size); }
export function proxy_on_response_headers(ctx: u32, n: u32, eos: u32): u32 {
  const k = String.UTF8.encode("x-version");
  const v = String.UTF8.encode("${v}");
  add(2, changetype<usize>(k), <usize>k.byteLength, changetype<usize>(v), <usize>v.byteLength);
  return 0;
}
`;
const modules: Uint8Array[] = [];
for (const v of ['1', '2']) {
  const file = join(dir, `v${v}.ts`);
  writeFileSync(file, source(v));
  modules.push(await compileAssemblyScript(file));
}
const plugin = join(dir, 'stamp.wasm');
writeFileSync(plugin, modules[0]);

const upstream = http.createServer({ keepAliveTimeout: 60_000 }, (_req, res) => res.end('ok'));
upstream.listen(0, '127.0.0.1');
await once(upstream, 'listening');
const upPort = (upstream.address() as AddressInfo).port;

const yaml = `
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:
  - name: bench
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config: { virtual_hosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }] }
          http_filters:
          - name: stamp
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config: { name: stamp, vm_config: { vm_id: stamp, code: { local: { filename: ${JSON.stringify(plugin)} } } } }
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: up
    connect_timeout: 1s
    load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upPort} } } } }] }] }
`;
const sluice = await Sluice.start({ config: loadConfigText(yaml, join(dir, 'envoy.yaml')), concurrency: CONCURRENCY, logLevel: 'silent', log: createLogger('silent'), watch: false });
const port = sluice.listeners[0].port;
const adminPort = sluice.admin?.port ?? 0;

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
function request(): Promise<{ status: number; version: string | string[] | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, version: res.headers['x-version'] }));
      })
      .on('error', reject);
  });
}
async function counter(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats?filter=${encodeURIComponent(name)}`)).text();
  return Number(/: (\d+)$/m.exec(text)?.[1] ?? 0);
}

await Promise.all(Array.from({ length: CONNECTIONS }, request));
const cxStat = `listener.127.0.0.1_${port}.downstream_cx_total`;
const cxBefore = await counter(cxStat);

let swapping = false;
let stop = false;
let requests = 0;
let failures = 0;
let mixed = 0;
const latQuiet: number[] = [];
const latSwap: number[] = [];
const load = Array.from({ length: CONNECTIONS }, async () => {
  while (!stop) {
    const t0 = performance.now();
    const during = swapping;
    try {
      const r = await request();
      requests++;
      if (r.status !== 200) failures++;
      if (r.version !== '1' && r.version !== '2') mixed++;
    } catch {
      failures++;
    }
    (during ? latSwap : latQuiet).push(performance.now() - t0);
  }
});

// A quiet second first, for the baseline latency.
await new Promise((r) => setTimeout(r, 1000));
const swapMs: number[] = [];
const started = Date.now();
let swaps = 0;
while (swaps < SWAPS && Date.now() - started < MAX_MS) {
  swapping = true;
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${adminPort}/wasm/plugins/stamp`, { method: 'POST', body: modules[(swaps + 1) % 2] as Uint8Array<ArrayBuffer> });
  await res.text();
  swapMs.push(performance.now() - t0);
  if (res.status !== 200) failures++;
  swaps++;
}
swapping = false;
await new Promise((r) => setTimeout(r, 500));
stop = true;
await Promise.all(load);
const cxAfter = await counter(cxStat);
agent.destroy();
await sluice.stop();
upstream.close();
rmSync(dir, { recursive: true, force: true });

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const f = (n: number) => n.toFixed(2);
console.log(`hot swap under load: ${CONNECTIONS} keep-alive connections, ${CONCURRENCY} workers, ${swaps} swaps in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log('| measure | value |');
console.log('| --- | --- |');
console.log(`| requests | ${requests} |`);
console.log(`| failed or reset requests | ${failures} |`);
console.log(`| responses without exactly one version | ${mixed} |`);
console.log(`| downstream connections opened during the run | ${cxAfter - cxBefore} |`);
console.log(`| swap (admin POST → live everywhere) p50 / p99 / max | ${f(pct(swapMs, 50))} / ${f(pct(swapMs, 99))} / ${f(Math.max(...swapMs))} ms |`);
console.log(`| request latency without swaps p50 / p99 | ${f(pct(latQuiet, 50))} / ${f(pct(latQuiet, 99))} ms |`);
console.log(`| request latency during swaps p50 / p99 | ${f(pct(latSwap, 50))} / ${f(pct(latSwap, 99))} ms |`);
process.exitCode = failures === 0 && mixed === 0 && cxAfter === cxBefore ? 0 : 1;
