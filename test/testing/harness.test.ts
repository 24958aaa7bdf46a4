import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { FilterHarness } from '../../runtime/testing/index.ts';
import { buildAssemblyScript } from '../helpers/wasm-build.ts';
import { buildSoloIoFilter } from '../helpers/solo-build.ts';
import { wasmFixture } from '../helpers/wasm.ts';

const behaviours = await buildAssemblyScript(wasmFixture('behaviours.ts'));

test('the harness drives request and response headers through a filter with no sockets', async (t) => {
  const h = FilterHarness.load(behaviours, { rootId: 'headers', configuration: 'cfg' });
  t.after(() => h.close());
  const s = h.stream();
  await s.sendRequestHeaders({ ':path': '/a', 'x-in': 'v1' }, true);
  assert.equal(s.upstream.headers?.get('x-added-by-wasm'), '1');
  await s.sendResponseHeaders({ ':status': '200' }, true);
  assert.equal(s.downstream.headers?.get('x-wasm-saw'), 'v1');
  assert.equal(s.downstream.headers?.get('x-wasm-config'), 'cfg');
  await s.complete();
});

test('a local reply is recorded and passes through the response callbacks', async (t) => {
  const h = FilterHarness.load(behaviours, { rootId: 'deny' });
  t.after(() => h.close());
  const s = h.stream();
  await s.sendRequestHeaders({ ':path': '/deny' }, true);
  const forwarded = s.upstream.headers;
  assert.equal(forwarded, undefined);
  assert.equal(s.localReply?.status, 403);
  assert.equal(s.downstream.headers?.get(':status'), '403');
  assert.equal(s.downstream.headers?.get('x-wasm-response-seen'), '1');
  assert.equal(s.downstream.body.toString(), 'denied by wasm');
});

test('the test answers a filter\'s http call and the request resumes', async (t) => {
  const h = FilterHarness.load(behaviours, { rootId: 'callout', configuration: 'authz' });
  t.after(() => h.close());
  const s = h.stream();
  await s.sendRequestHeaders({ ':path': '/x' }, true);
  const whilePaused = s.upstream.headers;
  assert.equal(whilePaused, undefined, 'paused while the call is out');
  assert.equal(h.httpCalls.length, 1);
  const call = h.httpCalls[0];
  assert.equal(call.cluster, 'authz');
  assert.deepEqual(call.headers.filter(([k]) => k.startsWith(':')), [[':method', 'GET'], [':path', '/auth'], [':authority', 'auth']]);
  await call.respond({ status: 200, body: 'fine' });
  await h.settle();
  assert.equal(s.upstream.headers?.get('x-auth-status'), '200');
  assert.equal(s.upstream.headers?.get('x-auth-body'), 'fine');
});

test('buffered bodies follow the proxy\'s buffering rules', async (t) => {
  const h = FilterHarness.load(behaviours, { rootId: 'body' });
  t.after(() => h.close());
  const s = h.stream();
  await s.sendRequestHeaders({ ':method': 'POST' });
  await s.sendRequestBody('abc');
  assert.equal(s.upstream.body.length, 0);
  await s.sendRequestBody('def', true);
  assert.equal(s.upstream.body.toString(), 'ABCDEF');
});

test('metrics, ticks and shared data are visible to the test', async (t) => {
  const h = FilterHarness.load(behaviours, { rootId: 'metrics' });
  t.after(() => h.close());
  for (let i = 0; i < 3; i++) {
    const s = h.stream();
    await s.sendRequestHeaders({ ':path': '/abc' }, true);
    await s.sendResponseHeaders({}, true);
    assert.equal(s.downstream.headers?.get('x-wasm-count'), String(i + 1));
    await s.complete();
  }
  assert.equal(h.metric('requests_total'), 3);
  assert.equal(h.metric('in_flight'), 0);
  const ticks = FilterHarness.load(behaviours, { rootId: 'tick' });
  t.after(() => ticks.close());
  await ticks.tick();
  await ticks.tick();
  assert.equal(ticks.sharedData('ticks'), '2', 'ticks are driven by the test, not by timers');
  const shared = FilterHarness.load(behaviours, { rootId: 'shared' });
  t.after(() => shared.close());
  const s = shared.stream();
  await s.sendRequestHeaders({}, true);
  await s.sendResponseHeaders({}, true);
  assert.equal(s.downstream.headers?.get('x-wasm-hits'), '1');
});

test('a trap fails the stream closed with 503 and is reported', async (t) => {
  const h = FilterHarness.load(behaviours, { rootId: 'trap' });
  t.after(() => h.close());
  const s = h.stream();
  await s.sendRequestHeaders({ ':path': '/trap' }, true);
  assert.equal(s.localReply?.status, 503);
  assert.equal(s.localReply?.details, 'wasm_fail_stream');
  assert.equal(h.failure?.callback, 'proxy_on_request_headers');
  assert.ok(h.logs.some((l) => l.level === 'error' && /unreachable/.test(l.message)));
  const next = h.stream();
  await next.sendRequestHeaders({ ':path': '/fine' }, true);
  assert.ok(next.upstream.headers !== undefined, 'a fresh VM serves the next stream');
});

test('a plugin that rejects its configuration does not load', () => {
  assert.throws(() => FilterHarness.load(behaviours, { rootId: 'reject' }), /proxy_on_configure returned false/);
});

test('a module built with another SDK (solo-io proxy-runtime) runs in the harness', async (t) => {
  const wasm = await buildSoloIoFilter(fileURLToPath(new URL('../fixtures/solo-io/assembly/config-metric.ts', import.meta.url)));
  const h = FilterHarness.load(wasm, { rootId: 'solo_config_metric', configuration: 'x-c=1' });
  t.after(() => h.close());
  const s = h.stream();
  await s.sendRequestHeaders({}, true);
  await s.sendResponseHeaders({}, true);
  assert.equal(s.downstream.headers?.get('x-c'), '1');
  assert.equal(h.metric('solo_requests_total'), 1);
});
