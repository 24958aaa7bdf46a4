import { test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';
import { closedPort, echoHandler, startUpstream } from '../helpers/servers.ts';
import { wasmFilter } from '../helpers/wasm.ts';

/** filters/auth-call (release build) in front of an upstream in a running Sluice, with a real authorization service. */
const dir = mkdtempSync(join(tmpdir(), 'sluice-auth-call-e2e-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'auth-call.wasm');
writeFileSync(file, await buildSdkFilter(fileURLToPath(new URL('../../filters/auth-call/assembly/index.ts', import.meta.url)), { target: 'release' }));

async function get(port: number, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

test('allows, denies with the service answer, and fails closed on a timeout, through a running Sluice', async (t) => {
  const checks: Array<{ method?: string; url?: string; headers: http.IncomingHttpHeaders }> = [];
  const authz = await startUpstream(t, (req, res) => {
    checks.push({ method: req.method, url: req.url, headers: req.headers });
    const token = req.headers.authorization;
    if (token === 'Bearer slow') return; // never answers: the filter's timeout decides
    if (token === 'Bearer good') {
      res.writeHead(200, { 'x-user-id': 'u-42', 'x-internal': 'not for upstream' });
      res.end();
      return;
    }
    res.writeHead(401, { 'www-authenticate': 'Bearer realm="shop"', 'x-internal': 'not for clients' });
    res.end('who are you?');
  });
  let reachedUpstream = 0;
  const up = await startUpstream(t, echoHandler(() => reachedUpstream++));
  const proxy = (name: string, timeoutMs: number) => {
    const configuration = JSON.stringify({
      cluster: 'authz',
      path: '/check',
      timeout_ms: timeoutMs,
      headers_to_check: ['x-user'],
      allowed_upstream_headers: ['x-user-id'],
      allowed_client_headers: ['x-reason'],
    });
    return startProxy(t, proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }, { name: 'authz', ports: [authz.port] }],
      filters: wasmFilter({ file, name, rootId: 'auth-call', configuration }),
    }));
  };
  // Where the service answers, a timeout no busy machine comes near (a check round trip can take a
  // few hundred ms there); the timeout case gets a proxy of its own with a short one.
  const p = await proxy('auth_call', 10_000);
  const short = await proxy('auth_call_short', 300);

  const ok = await get(p.port, '/orders?id=7', { authorization: 'Bearer good', 'x-user': 'ann', 'x-user-id': 'forged' });
  assert.equal(ok.status, 200);
  const seen = JSON.parse(ok.body) as { url: string; headers: Record<string, string> };
  assert.equal(seen.url, '/orders?id=7');
  assert.equal(seen.headers['x-user-id'], 'u-42');
  assert.equal(seen.headers['x-internal'], undefined);
  assert.equal(checks[0].method, 'GET');
  assert.equal(checks[0].url, '/check/orders?id=7');
  assert.equal(checks[0].headers['x-user'], 'ann');
  // (Sluice's http call does not pass the filter's explicit content-length: 0 on; Envoy would.)

  const denied = await get(p.port, '/orders', { authorization: 'Bearer bad' });
  assert.equal(denied.status, 401);
  assert.equal(denied.body, 'who are you?');
  assert.equal(denied.headers.get('www-authenticate'), 'Bearer realm="shop"');
  assert.equal(denied.headers.get('x-internal'), null);

  const slow = await get(short.port, '/orders', { authorization: 'Bearer slow' });
  assert.equal(slow.status, 403);
  assert.equal(reachedUpstream, 1);

  const stats = await (await fetch(p.admin('/stats?filter=ext_authz'))).text();
  assert.match(stats, /wasmcustom\.ext_authz\.ok: 1\b/);
  assert.match(stats, /wasmcustom\.ext_authz\.denied: 1\b/);
  assert.doesNotMatch(stats, /wasmcustom\.ext_authz\.error: [1-9]/);
  const shortStats = await (await fetch(short.admin('/stats?filter=ext_authz'))).text();
  assert.match(shortStats, /wasmcustom\.ext_authz\.error: 1\b/);
  assert.doesNotMatch(shortStats, /wasmcustom\.ext_authz\.(ok|denied): [1-9]/);
});

test('fails closed when the authorization cluster has no reachable host or does not exist', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const dead = await closedPort();
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }, { name: 'authz', ports: [dead] }],
    filters: wasmFilter({ file, name: 'dead_host', rootId: 'auth-call', configuration: JSON.stringify({ cluster: 'authz' }) }),
  }));
  assert.equal((await get(p.port, '/')).status, 403);

  const missing = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file, name: 'no_cluster', rootId: 'auth-call', configuration: JSON.stringify({ cluster: 'nope', status_on_error: 503 }) }),
  }));
  assert.equal((await get(missing.port, '/')).status, 503);
});
