import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../runtime/log.ts';
import { startExample } from '../../examples/json-body/start.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';

// examples/json-body/README.md's promises, on the example's own start-up (start.ts, its envoy.yaml
// and the users API) with every port 0 and the filter built by the test.

const README = readFileSync(fileURLToPath(new URL('../../examples/json-body/README.md', import.meta.url)), 'utf8');

/** Asserts `text` is in the README's session too, so the README and the behaviour cannot drift apart. */
function promised(text: string): void {
  assert.ok(README.includes(text), `the README does not show: ${text}`);
}

test('examples/json-body: responses lose internal fields, old requests are updated, invalid and foreign bodies pass, big ones get 413', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-example-json-body-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wasm = join(dir, 'filter.wasm');
  writeFileSync(wasm, await buildSdkFilter(fileURLToPath(new URL('../../filters/json-body/assembly/index.ts', import.meta.url)), { target: 'release' }));
  const example = await startExample({
    ports: { listener: 0, admin: 0, upstream: 0 },
    wasm,
    sluice: { log: createLogger('silent'), logLevel: 'silent', watch: false },
  });
  t.after(() => example.stop());
  const url = (path: string) => `http://127.0.0.1:${example.port}${path}`;
  const post = (body: string, type = 'application/json') => fetch(url('/users'), { method: 'POST', headers: { 'content-type': type }, body });

  const user = await fetch(url('/users/17'));
  assert.equal(user.status, 200);
  assert.equal(user.headers.get('content-length'), null);
  assert.equal(user.headers.get('transfer-encoding'), 'chunked');
  const userBody = await user.text();
  assert.equal(userBody, '{"id":17,"name":"ann","email":"ann@example.com"}');
  promised(`\n${userBody}\n`);

  const created = await post('{"userName":"bob","email":"bob@example.com","password_confirmation":"pw"}');
  assert.equal(created.status, 201);
  const createdBody = await created.text();
  assert.equal(createdBody, '{"id":18,"name":"bob","email":"bob@example.com","source":"sluice","fields_received":["name","email","meta"]}');
  promised(`\n${createdBody}\n`);

  const invalid = await post('{"userName":"bob",}');
  assert.equal(invalid.status, 400);
  const invalidBody = await invalid.text();
  assert.match(invalidBody, /^\{\n {2}"error": "invalid JSON: /, 'passed to the API untouched; its pretty answer untouched too');
  promised('"error": "invalid JSON: ');

  const foreign = await post('userName=bob', 'text/plain');
  assert.equal(foreign.status, 415);
  const foreignBody = await foreign.text();
  assert.equal(foreignBody, '{\n  "error": "send application/json"\n}\n');
  promised(foreignBody);

  const big = await post(JSON.stringify({ userName: 'big', pad: 'x'.repeat(70000) })).catch((err: Error) => err);
  // The proxy answers before the client has sent everything and closes: fetch may see either.
  if (!(big instanceof Error)) {
    assert.equal(big.status, 413);
    const bigBody = await big.text();
    assert.equal(bigBody, 'json-body: request body larger than 65536 bytes');
    promised(bigBody);
  }

  const stats = await (await fetch(`http://127.0.0.1:${example.adminPort}/stats?filter=json_body`)).text();
  const counters = stats.trim().split('\n').filter((l) => l.startsWith('wasmcustom.'));
  const expected = ['wasmcustom.json_body_invalid_total: 1', 'wasmcustom.json_body_rewritten_total: 3', 'wasmcustom.json_body_too_large_total: 1'];
  assert.deepEqual(counters, expected);
  for (const line of expected) promised(line);
});
