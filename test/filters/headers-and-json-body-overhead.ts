/**
 * Measures what the built-in headers and json-body filters cost: release module sizes, and time per
 * request through the in-process harness compared with a filter that does nothing (an SDK filter
 * whose stream context returns Continue from every callback, so the host's per-callback cost is in
 * the baseline). Prints numbers; asserts nothing (not a test: run it by hand).
 *
 *   node test/filters/headers-and-json-body-overhead.ts [N]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FilterHarness } from '../../runtime/testing/index.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';

const N = Number(process.argv[2] ?? 20000);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const NOOP = `
import { FilterDataStatus, FilterHeadersStatus, HttpContext, RootContext, registerRootContext } from "@sluice/sdk";
export * from "@sluice/sdk/exports";
class NoopRoot extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null { return new Noop(contextId, this); }
}
class Noop extends HttpContext {
  onRequestHeaders(n: u32, end: bool): FilterHeadersStatus { return FilterHeadersStatus.Continue; }
  onRequestBody(n: u32, end: bool): FilterDataStatus { return FilterDataStatus.Continue; }
  onResponseHeaders(n: u32, end: bool): FilterHeadersStatus { return FilterHeadersStatus.Continue; }
  onResponseBody(n: u32, end: bool): FilterDataStatus { return FilterDataStatus.Continue; }
}
registerRootContext((id: u32): RootContext => new NoopRoot(id), "noop");
`;

const dir = mkdtempSync(join(tmpdir(), 'sluice-overhead-'));
const noopEntry = join(dir, 'noop.ts');
writeFileSync(noopEntry, NOOP);
const modules = {
  noop: await buildSdkFilter(noopEntry, { target: 'release' }),
  headers: await buildSdkFilter(join(ROOT, 'filters/headers/assembly/index.ts'), { target: 'release' }),
  jsonBody: await buildSdkFilter(join(ROOT, 'filters/json-body/assembly/index.ts'), { target: 'release' }),
};
rmSync(dir, { recursive: true, force: true });

const HEADERS_CONFIG = JSON.stringify({
  request: {
    rename: [{ from: 'x-tenant', to: 'x-org-id' }],
    remove: ['x-debug'],
    set: [{ name: 'x-client-address', value: '%PROPERTY(source.address)%' }],
  },
  response: {
    set: [{ name: 'x-request-id', value: '%REQUEST_ID%' }, { name: 'x-served-for', value: '%REQ(x-tenant)%' }, { name: 'cache-control', value: 'no-store' }],
    remove: ['x-powered-by'],
  },
});
const JSON_CONFIG = JSON.stringify({
  request: { rename: { userName: 'name' }, remove: ['password_confirmation'], set: { 'meta.source': 'sluice' } },
  response: { rename: { internal_id: 'id' }, remove: ['password_hash', 'debug'] },
});

const REQUEST_HEADERS = { 'x-tenant': 'acme', 'x-debug': '1', 'x-request-id': '0b5e6f2a-3c1d-4e8f-9a7b-6c5d4e3f2a1b', 'user-agent': 'curl/8.5.0', accept: '*/*' };
const RESPONSE_HEADERS = { 'content-type': 'text/plain', 'x-powered-by': 'express', server: 'backend' };

/** A JSON document of about `bytes` bytes: the fields the rules touch, then an array of items. */
function jsonDoc(bytes: number): string {
  const doc = { internal_id: 17, userName: 'ann', password_confirmation: 'x', password_hash: 'y', debug: { db_ms: 3 }, items: [] as unknown[] };
  let size = JSON.stringify(doc).length;
  for (let i = 0; size < bytes; i++) {
    const item = { sku: `sku-${i}`, qty: i % 7, price: 12.5, tags: ['a', 'b'] };
    size += JSON.stringify(item).length + 1;
    doc.items.push(item);
  }
  return JSON.stringify(doc);
}

type Run = (h: FilterHarness) => Promise<void>;

const headersRun: Run = async (h) => {
  const s = h.stream();
  await s.sendRequestHeaders(REQUEST_HEADERS, true);
  await s.sendResponseHeaders(RESPONSE_HEADERS, true);
  await s.complete();
};

function jsonRun(body: string): Run {
  const length = String(Buffer.byteLength(body));
  return async (h) => {
    const s = h.stream();
    await s.sendRequestHeaders({ ':method': 'POST', 'content-type': 'application/json', 'content-length': length }, false);
    await s.sendRequestBody(body, true);
    await s.sendResponseHeaders({ 'content-type': 'application/json', 'content-length': length }, false);
    await s.sendResponseBody(body, true);
    await s.complete();
  };
}

/** Microseconds per request over `n` requests, after a warm-up; the best of 3 rounds. */
async function measure(module: Uint8Array, rootId: string, configuration: string, run: Run, n: number): Promise<number> {
  const h = FilterHarness.load(module, { rootId, configuration, logLevel: 'warn' });
  try {
    for (let i = 0; i < Math.min(2000, Math.ceil(n / 4)); i++) await run(h);
    let best = Infinity;
    for (let round = 0; round < 3; round++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await run(h);
      best = Math.min(best, Number(process.hrtime.bigint() - start) / 1000 / n);
    }
    if (h.failure !== undefined) throw new Error(`${rootId} failed: ${h.failure.message}`);
    return best;
  } finally {
    h.close();
  }
}

console.log('release module sizes:');
for (const [name, bytes] of Object.entries(modules)) console.log(`  ${name.padEnd(9)} ${bytes.length} bytes (${(bytes.length / 1024).toFixed(1)} KiB)`);

console.log(`\nper request through the harness (best of 3 rounds):`);
const report = (what: string, b: number, f: number) =>
  console.log(`  ${what}: no-op ${b.toFixed(1)} µs, filter ${f.toFixed(1)} µs, overhead ${(f - b).toFixed(1)} µs`);
report(
  `headers (3 request + 4 response rules), bodiless GET (n=${N})`,
  await measure(modules.noop, 'noop', '', headersRun, N),
  await measure(modules.headers, 'headers', HEADERS_CONFIG, headersRun, N),
);
for (const size of [1024, 16 * 1024, 256 * 1024]) {
  const n = Math.max(50, Math.floor(N / (size / 1024)));
  const run = jsonRun(jsonDoc(size));
  report(
    `json-body, ${size / 1024} KiB JSON request and response, both rewritten (n=${n})`,
    await measure(modules.noop, 'noop', '', run, n),
    await measure(modules.jsonBody, 'json_body', JSON_CONFIG, run, n),
  );
}
