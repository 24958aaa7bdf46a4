import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../runtime/log.ts';
import { DEFAULT_CONCURRENCY, startExample } from '../../examples/rate-limit/start.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';

// examples/rate-limit/README.md's promises, on the example's own start-up (start.ts with its two
// workers, its envoy.yaml and the hello upstream) with every port 0 and the filter built by the test.

test('examples/rate-limit: two workers give the anonymous bucket 3 requests, then 429 with retry-after; another key has its own budget', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-example-rate-limit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wasm = join(dir, 'filter.wasm');
  writeFileSync(wasm, await buildSdkFilter(fileURLToPath(new URL('../../filters/rate-limit/assembly/index.ts', import.meta.url)), { target: 'release' }));
  const example = await startExample({
    ports: { listener: 0, admin: 0, upstream: 0 },
    wasm,
    sluice: { log: createLogger('silent'), logLevel: 'silent', watch: false },
  });
  t.after(() => example.stop());
  assert.equal(DEFAULT_CONCURRENCY, 2);
  const url = `http://127.0.0.1:${example.port}/`;

  // Fresh connections, all at once: they spread over both workers, which share the bucket.
  const anonymous = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const res = await fetch(url, { headers: { connection: 'close' } });
      return { status: res.status, headers: res.headers, body: await res.text() };
    }),
  );
  assert.deepEqual(anonymous.map((r) => r.status).sort(), [200, 200, 200, 429]);
  const limited = anonymous.find((r) => r.status === 429)!;
  assert.equal(limited.body, 'local_rate_limited');
  assert.equal(limited.headers.get('x-envoy-ratelimited'), 'true');
  assert.equal(limited.headers.get('x-ratelimit-limit'), '3');
  assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
  const retryAfter = Number(limited.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 10, `retry-after ${retryAfter}`);
  assert.equal(limited.headers.get('x-ratelimit-reset'), String(retryAfter));

  const alpha = await fetch(url, { headers: { 'x-api-key': 'alpha' } });
  assert.equal(alpha.status, 200);
  assert.equal(((await alpha.json()) as { message: string }).message, 'hello from the quickstart upstream');
  assert.equal(alpha.headers.get('x-ratelimit-limit'), '3');
  assert.equal(alpha.headers.get('x-ratelimit-remaining'), '2');

  const stats = await (await fetch(`http://127.0.0.1:${example.adminPort}/stats?filter=http_local_rate_limit`)).text();
  assert.equal(stats.trim(), ['wasmcustom.http_local_rate_limit.ok: 4', 'wasmcustom.http_local_rate_limit.rate_limited: 1'].join('\n'));
});
