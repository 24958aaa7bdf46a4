import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';
import { closedPort, echoHandler, startUpstream } from '../helpers/servers.ts';
import { wasmFilter } from '../helpers/wasm.ts';

/** filters/headers (release build) in a running Sluice, between a real client and a real upstream. */
const dir = mkdtempSync(join(tmpdir(), 'sluice-headers-e2e-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'headers.wasm');
writeFileSync(file, await buildSdkFilter(fileURLToPath(new URL('../../filters/headers/assembly/index.ts', import.meta.url)), { target: 'release' }));

test('the headers filter rewrites request headers for the upstream and response headers for the client', async (t) => {
  const up = await startUpstream(t, echoHandler((_req, res) => res.setHeader('server', 'backend/1.0')));
  const configuration = JSON.stringify({
    request: {
      set: [{ name: 'x-client', value: '%PROPERTY(source.address)%' }],
      remove: ['x-debug'],
      rename: [{ from: 'x-user', to: 'x-forwarded-user' }],
    },
    response: {
      add: [{ name: 'x-request-id', value: '%REQUEST_ID%' }, { name: 'x-user-was', value: '%REQ(x-user)%' }],
      remove: ['server'],
    },
  });
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file, rootId: 'headers', configuration }),
  }));
  const res = await request(p.url('/hello'), { headers: { 'x-user': 'ann', 'x-debug': '1' } });
  assert.equal(res.statusCode, 200);
  const seen = ((await res.body.json()) as { headers: Record<string, string> }).headers;
  assert.match(seen['x-client'], /^127\.0\.0\.1:\d+$/);
  assert.equal(seen['x-debug'], undefined);
  assert.equal(seen['x-user'], undefined);
  assert.equal(seen['x-forwarded-user'], 'ann');
  assert.match(seen['x-request-id'], /^[0-9a-f-]{36}$/, 'Sluice generated a request id');
  assert.equal(res.headers['x-request-id'], seen['x-request-id'], 'the client gets the id the upstream saw');
  assert.equal(res.headers['x-user-was'], 'ann');
  assert.equal(res.headers.server, 'envoy', "the upstream's server header was removed; Sluice's own is added after the filters, as Envoy's");
});

test("response rules also apply to the proxy's own local replies", async (t) => {
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [await closedPort()] }],
    filters: wasmFilter({ file, rootId: 'headers', configuration: JSON.stringify({ response: { set: [{ name: 'x-served-by', value: 'sluice' }] } }) }),
  }));
  const res = await request(p.url('/'));
  await res.body.text();
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['x-served-by'], 'sluice');
});
