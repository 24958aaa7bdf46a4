import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';
import { echoHandler, startUpstream } from '../helpers/servers.ts';
import { wasmFilter } from '../helpers/wasm.ts';

/** filters/rate-limit (release build) in a running Sluice with two workers. */
const dir = mkdtempSync(join(tmpdir(), 'sluice-rate-limit-e2e-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'rate-limit.wasm');
writeFileSync(file, await buildSdkFilter(fileURLToPath(new URL('../../filters/rate-limit/assembly/index.ts', import.meta.url)), { target: 'release' }));

test('two workers draw on one shared budget: of N requests on fresh connections exactly max_tokens pass', async (t) => {
  let reached = 0;
  const up = await startUpstream(t, echoHandler(() => reached++));
  // An hour between fills: no token comes back while the test runs, however slow the machine.
  const configuration = JSON.stringify({ max_tokens: 5, tokens_per_fill: 5, fill_interval_ms: 3_600_000 });
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: wasmFilter({ file, name: 'rate_limit', rootId: 'rate-limit', configuration }),
    }),
    { concurrency: 2 },
  );
  const N = 16;
  const results = await Promise.all(
    Array.from({ length: N }, async () => {
      const res = await fetch(p.url('/'), { headers: { connection: 'close' } });
      await res.arrayBuffer();
      return { status: res.status, headers: res.headers };
    }),
  );
  const passed = results.filter((r) => r.status === 200);
  const limited = results.filter((r) => r.status === 429);
  assert.equal(passed.length, 5);
  assert.equal(limited.length, N - 5);
  assert.equal(reached, 5);
  assert.deepEqual(passed.map((r) => r.headers.get('x-ratelimit-remaining')).sort(), ['0', '1', '2', '3', '4']);
  for (const r of limited) {
    assert.equal(r.headers.get('x-envoy-ratelimited'), 'true');
    assert.equal(r.headers.get('x-ratelimit-remaining'), '0');
    assert.ok(Number(r.headers.get('retry-after')) > 3500, `retry-after ${r.headers.get('retry-after')}`);
  }
  const stats = await (await fetch(p.admin('/stats?filter=http_local_rate_limit'))).text();
  assert.match(stats, /wasmcustom\.http_local_rate_limit\.ok: 5\b/);
  assert.match(stats, new RegExp(`wasmcustom\\.http_local_rate_limit\\.rate_limited: ${N - 5}\\b`));
  // The budget was shared, not merely spent on one worker: both accepted connections (reuse_port
  // spreads N fresh connections; all on one worker has odds 2^(1-N)).
  const perWorker = await (await fetch(p.admin('/stats?filter=worker_'))).text();
  for (const w of [0, 1]) {
    const m = perWorker.match(new RegExp(`worker_${w}\\.downstream_cx_total: (\\d+)`));
    assert.ok(m !== null && Number(m[1]) > 0, `worker ${w} took connections:\n${perWorker}`);
  }
});
