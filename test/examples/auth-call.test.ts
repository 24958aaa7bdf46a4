import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../runtime/log.ts';
import { startExample } from '../../examples/auth-call/start.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';

// examples/auth-call/README.md's promises, on the example's own start-up (start.ts, its envoy.yaml,
// auth server and upstream) with every port 0 and the filter built by the test.

test('examples/auth-call: no token is 401 from the service, a good token reaches the upstream as demo-user, a slow check is 403', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-example-auth-call-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wasm = join(dir, 'filter.wasm');
  writeFileSync(wasm, await buildSdkFilter(fileURLToPath(new URL('../../filters/auth-call/assembly/index.ts', import.meta.url)), { target: 'release' }));
  const example = await startExample({
    ports: { listener: 0, admin: 0, upstream: 0, authz: 0 },
    wasm,
    sluice: { log: createLogger('silent'), logLevel: 'silent', watch: false },
  });
  t.after(() => example.stop());
  const url = `http://127.0.0.1:${example.port}/hello`;

  const anonymous = await fetch(url);
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="sluice-example"');
  assert.equal(anonymous.headers.get('x-auth-reason'), 'no token');
  assert.equal(await anonymous.text(), 'no token: send "authorization: Bearer let-me-in"\n');

  const allowed = await fetch(url, { headers: { authorization: 'Bearer let-me-in', 'x-user-id': 'admin' } });
  assert.equal(allowed.status, 200);
  assert.deepEqual(await allowed.json(), { message: 'hello from the upstream', path: '/hello', 'x-user-id': 'demo-user' });

  const slow = await fetch(url, { headers: { authorization: 'Bearer slow' } });
  assert.equal(slow.status, 403);
  assert.equal(await slow.text(), '');

  const stats = await (await fetch(`http://127.0.0.1:${example.adminPort}/stats?filter=ext_authz`)).text();
  assert.equal(stats.trim(), ['wasmcustom.ext_authz.denied: 1', 'wasmcustom.ext_authz.error: 1', 'wasmcustom.ext_authz.ok: 1'].join('\n'));
});
