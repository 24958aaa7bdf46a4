import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { buildSdkFixtureInto } from '../helpers/sdk-build.ts';
import { bodyEchoHandler, echoHandler, startUpstream } from '../helpers/servers.ts';
import { wasmFilter } from '../helpers/wasm.ts';

/**
 * Filters written with the Sluice SDK (test/fixtures/sdk/), compiled with sdk/asconfig.json's
 * flags and run through a real Sluice over real sockets.
 */
const dir = mkdtempSync(join(tmpdir(), 'sluice-sdk-e2e-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const build = (name: string): Promise<string> => buildSdkFixtureInto(dir, name);

const headers = await build('headers');
const callout = await build('callout');
const state = await build('state');
const thrower = await build('throw');
const props = await build('props');

async function get(port: number, path: string, init: RequestInit = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

test('an SDK filter reads, sets, adds and removes request and response headers', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: headers, rootId: 'headers' }),
  }));
  const r = await get(p.port, '/x', { headers: { 'x-in': 'hello', 'x-remove-me': 'bye' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-saw'), 'hello');
  assert.equal(r.headers.get('x-seen'), '1');
  assert.ok(Number(r.headers.get('x-pairs')) >= 5, `pairs() saw ${r.headers.get('x-pairs')} request headers`);
  const seen = JSON.parse(r.body).headers;
  assert.equal(seen['x-added'], 'by-sdk');
  assert.equal(seen['x-remove-me'], undefined);
  assert.equal(seen['x-in'], 'hello');
});

test("a plugin without a root_id gets the module's only registered root context", async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: headers, name: 'no_root_id' }),
  }));
  const r = await get(p.port, '/x', { headers: { 'x-in': 'fallback' } });
  assert.equal(r.headers.get('x-saw'), 'fallback');
});

test('an SDK filter answers with a local response that passes back through its response callbacks', async (t) => {
  let reached = 0;
  const up = await startUpstream(t, echoHandler(() => reached++));
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: headers, rootId: 'headers' }),
  }));
  const r = await get(p.port, '/deny');
  assert.equal(r.status, 403);
  assert.equal(r.body, 'denied');
  assert.equal(r.headers.get('x-denied-by'), 'sdk');
  assert.equal(r.headers.get('x-seen'), '1');
  assert.equal(reached, 0);
});

test('an SDK filter buffers a request body and replaces it whole', async (t) => {
  const up = await startUpstream(t, bodyEchoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: headers, rootId: 'headers' }),
  }));
  const r = await get(p.port, '/upper', { method: 'POST', body: 'make me loud' });
  assert.equal(r.body, 'MAKE ME LOUD');
  const untouched = await get(p.port, '/other', { method: 'POST', body: 'quiet' });
  assert.equal(untouched.body, 'quiet');
});

test('an http call made with the SDK delivers its response to the originating stream, which resumes', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const auth = await startUpstream(t, (req, res) => {
    const allowed = req.url === '/check' && req.headers['x-user'] === 'ann';
    res.writeHead(allowed ? 200 : 401, allowed ? { 'x-authorized-as': 'ann' } : {});
    res.end(allowed ? 'welcome' : 'no');
  });
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }, { name: 'authz', ports: [auth.port] }],
    filters: wasmFilter({ file: callout, rootId: 'callout', configuration: JSON.stringify({ cluster: 'authz', path: '/check' }) }),
  }));
  // Concurrent streams: each callback must reach its own stream.
  const [ok, denied] = await Promise.all([
    get(p.port, '/a', { headers: { 'x-user': 'ann' } }),
    get(p.port, '/b', { headers: { 'x-user': 'bob' } }),
  ]);
  assert.equal(ok.status, 200);
  const seen = JSON.parse(ok.body).headers;
  assert.equal(seen['x-auth-body'], 'welcome');
  assert.equal(seen['x-authorized-as'], 'ann');
  assert.equal(denied.status, 403);
  assert.equal(denied.body, 'callout said 401: no');
  assert.equal(denied.headers.get('x-callout-status'), '401');
});

test('an http call to an unknown cluster is refused at once and the filter answers itself', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: callout, rootId: 'callout', configuration: JSON.stringify({ cluster: 'nope' }) }),
  }));
  const r = await get(p.port, '/x');
  assert.equal(r.status, 500);
  assert.equal(r.body, 'callout refused: 2');
});

test('a configuration the SDK JSON reader cannot parse is rejected at load', async (t) => {
  const up = await startUpstream(t, echoHandler());
  await assert.rejects(
    startProxy(t, proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: wasmFilter({ file: callout, rootId: 'callout', configuration: '{"cluster": ' }),
    })),
    /proxy_on_configure returned false/,
  );
});

test('an SDK filter reads its JSON configuration, counts with shared-data CAS and exports metrics', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const configuration = JSON.stringify({ prefix: 'sdk', tags: ['a', 'b', 3], limits: { max: 42 }, debug: true, extra: null });
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: wasmFilter({ file: state, rootId: 'state', configuration }),
    }),
    { concurrency: 2 },
  );
  const results = await Promise.all(Array.from({ length: 12 }, () => get(p.port, '/abcd', { headers: { connection: 'close' } })));
  const hits = results.map((r) => Number(r.headers.get('x-hits'))).sort((a, b) => a - b);
  assert.deepEqual(hits, Array.from({ length: 12 }, (_, i) => i + 1));
  const first = results[0].headers;
  assert.equal(first.get('x-cfg-prefix'), 'sdk');
  assert.equal(first.get('x-cfg-tags'), 'a+b');
  assert.equal(first.get('x-cfg-max'), '42');
  assert.equal(first.get('x-cfg-debug'), 'true');
  assert.ok(results.every((r) => Number(r.headers.get('x-count')) >= 1));
  const stats = await (await fetch(`http://127.0.0.1:${p.adminPort}/stats?filter=wasmcustom`)).text();
  assert.match(stats, /wasmcustom\.sdk_requests: 12/);
  assert.match(stats, /wasmcustom\.sdk_in_flight: 0/);
  const prom = await (await fetch(`http://127.0.0.1:${p.adminPort}/stats/prometheus`)).text();
  assert.match(prom, /sdk_path_length/);
});

test('a JSON configuration without the required field is rejected at load', async (t) => {
  const up = await startUpstream(t, echoHandler());
  await assert.rejects(
    startProxy(t, proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: wasmFilter({ file: state, rootId: 'state', configuration: '{"tags": []}' }),
    })),
    /proxy_on_configure returned false/,
  );
});

test('an Error thrown in an SDK filter traps: that stream fails closed with 503 and later streams work', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: thrower, name: 'thrower' }),
  }));
  const trapped = await get(p.port, '/throw');
  assert.equal(trapped.status, 503);
  const after = await get(p.port, '/fine');
  assert.equal(after.status, 200);
  assert.equal(after.headers.get('x-alive'), '1');
  const stats = await (await fetch(`http://127.0.0.1:${p.adminPort}/stats?filter=wasm`)).text();
  assert.match(stats, /wasm\.thrower\.traps: 1/);
});

test('an Error thrown in onConfigure refuses the configuration at load', async (t) => {
  const up = await startUpstream(t, echoHandler());
  await assert.rejects(
    startProxy(t, proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: wasmFilter({ file: thrower, name: 'thrower', configuration: 'throw' }),
    })),
    (err: Error) => /plugin "thrower"/.test(err.message) && /proxy_on_configure/.test(err.message),
  );
});

test('SDK property helpers decode strings, integers, timestamps and maps', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: props, rootId: 'props', name: 'propsplugin' }),
  }));
  const r = await get(p.port, '/p?q=1', { headers: { 'x-probe': 'probed' } });
  const h = (n: string) => r.headers.get(n);
  assert.equal(h('x-path'), '/p?q=1');
  assert.match(h('x-source-address') ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(Number(h('x-source-port')), Number((h('x-source-address') ?? ':0').split(':')[1]));
  assert.equal(h('x-response-code'), '200');
  assert.equal(h('x-time-ok'), 'yes');
  assert.equal(h('x-header-from-map'), 'probed');
  assert.equal(h('x-plugin'), 'propsplugin/props');
  assert.equal(h('x-note'), 'noted');
  assert.equal(h('x-missing'), '(none)');
});
