import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { createLogger } from '../../runtime/log.ts';
import { startExample } from '../../examples/headers/start.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';

// examples/headers/README.md's promises, on the example's own start-up (start.ts, its envoy.yaml
// and upstream) with every port 0 and the filter built by the test.

const README = readFileSync(fileURLToPath(new URL('../../examples/headers/README.md', import.meta.url)), 'utf8');

/** Asserts `line` is in the README's session too, so the README and the behaviour cannot drift apart. */
function promised(line: string): void {
  assert.ok(README.includes(line), `the README does not show: ${line}`);
}

test('examples/headers: request headers renamed, removed and added for the upstream; response headers rewritten for the client', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-example-headers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wasm = join(dir, 'filter.wasm');
  writeFileSync(wasm, await buildSdkFilter(fileURLToPath(new URL('../../filters/headers/assembly/index.ts', import.meta.url)), { target: 'release' }));
  const example = await startExample({
    ports: { listener: 0, admin: 0, upstream: 0 },
    wasm,
    sluice: { log: createLogger('silent'), logLevel: 'silent', watch: false },
  });
  t.after(() => example.stop());
  const authority = `localhost:${example.port}`;

  // curl's request: `host: localhost:<port>` (fetch cannot set host).
  const res = await request(`http://127.0.0.1:${example.port}/orders`, { headers: { host: authority, 'x-tenant': 'acme', 'x-debug': '1' } });
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as { message: string; path: string; headers: Record<string, string> };
  assert.equal(body.message, 'hello from the upstream');
  assert.equal(body.path, '/orders');
  const seen = body.headers;
  assert.equal(seen['x-org-id'], 'acme');
  promised('"x-org-id": "acme"');
  assert.equal(seen['x-tenant'], undefined);
  assert.equal(seen['x-debug'], undefined);
  assert.match(seen['x-client-address'], /^127\.0\.0\.1:\d+$/);
  assert.equal(seen['x-via'], `sluice for ${authority}`);
  promised('"x-via": "sluice for localhost:10000"');

  const h = res.headers;
  assert.equal(h['x-backend-id'], 'backend-7');
  promised('x-backend-id: backend-7');
  assert.equal(h['x-internal-id'], undefined);
  assert.equal(h['x-powered-by'], undefined);
  assert.equal(h['x-request-id'], seen['x-request-id']);
  assert.match(seen['x-request-id'], /^[0-9a-f-]{36}$/);
  assert.equal(h['x-served-for'], 'acme');
  promised('x-served-for: acme');
  assert.equal(h['x-upstream-status'], '200');
  promised('x-upstream-status: 200');
  assert.equal(h['cache-control'], 'no-store');
  promised('cache-control: no-store');

  const plain = await fetch(`http://127.0.0.1:${example.port}/`);
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.get('x-served-for'), null, 'an empty %REQ(x-tenant)% skips the rule');
  assert.equal(plain.headers.get('cache-control'), 'no-store');
  assert.equal(((await plain.json()) as { headers: Record<string, string> }).headers['x-org-id'], undefined);
});
