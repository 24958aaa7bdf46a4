import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { FilterHarness, type HarnessStream } from '../../runtime/testing/index.ts';
import { ErrorCode } from '../../runtime/errors.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';
import { canaryRefusal, type CanaryRefusal } from '../helpers/canary.ts';

/**
 * filters/auth-call through its compiled (release) .wasm in the in-process harness: the test plays
 * the client, the authorization service (answering the filter's http call) and the upstream.
 */
const wasm = await buildSdkFilter(fileURLToPath(new URL('../../filters/auth-call/assembly/index.ts', import.meta.url)), { target: 'release' });

const BASE = { cluster: 'authz' };

function load(t: TestContext, config: Record<string, unknown>): FilterHarness {
  const h = FilterHarness.load(wasm, { rootId: 'auth-call', configuration: JSON.stringify(config) });
  t.after(() => h.close());
  return h;
}

/** Sends request headers (end of stream) and returns the stream with its pending check call. */
async function request(h: FilterHarness, headers: Record<string, string> = {}, endStream = true) {
  const s = h.stream();
  await s.sendRequestHeaders({ ':method': 'GET', ':path': '/orders/7?full=1', ':authority': 'shop.example', ...headers }, endStream);
  const call = h.httpCalls.at(-1);
  assert.ok(call !== undefined, 'the filter made a check call');
  return { s, call };
}

function header(s: HarnessStream, where: 'upstream' | 'downstream', name: string): string | undefined {
  return s[where].headers?.get(name) ?? undefined;
}

/** The plugin's refusal of `configuration` at load (the canary VM), with what it logged. */
function refusal(configuration: string): CanaryRefusal {
  const r = canaryRefusal(wasm, { rootId: 'auth-call', file: 'auth-call.wasm' }, configuration);
  if (r === undefined) assert.fail(`configuration ${configuration} was accepted`);
  return r;
}

test('sends the original method, prefixed path, authority, authorization and the checked headers, and holds the request', async (t) => {
  const h = load(t, { ...BASE, path: '/check', timeout_ms: 750, headers_to_check: ['X-User', 'x-tenant'] });
  const { s, call } = await request(h, { ':method': 'DELETE', authorization: 'Bearer t0k', 'x-user': 'ann', 'x-tenant': 'acme', cookie: 'secret=1' });
  assert.equal(call.cluster, 'authz');
  assert.equal(call.timeoutMs, 750);
  assert.deepEqual(call.headers, [
    [':method', 'DELETE'],
    [':path', '/check/orders/7?full=1'],
    [':authority', 'shop.example'],
    ['content-length', '0'],
    ['authorization', 'Bearer t0k'],
    ['x-user', 'ann'],
    ['x-tenant', 'acme'],
  ]);
  assert.equal(call.body.length, 0);
  assert.equal(s.upstream.headers, undefined, 'the request waits for the check');
  assert.equal(s.localReply, undefined);
});

test('defaults: no path prefix, the 200 ms timeout of Envoy, only authorization copied', async (t) => {
  const h = load(t, BASE);
  const { call } = await request(h, { 'x-user': 'ann' });
  assert.equal(call.timeoutMs, 200);
  assert.deepEqual(call.headers, [
    [':method', 'GET'],
    [':path', '/orders/7?full=1'],
    [':authority', 'shop.example'],
    ['content-length', '0'],
  ]);
});

test('with include_path false the check goes to path and the original path travels in x-original-uri', async (t) => {
  const h = load(t, { ...BASE, path: '/verify', include_path: false });
  const { call } = await request(h);
  assert.deepEqual(call.headers.slice(0, 2), [
    [':method', 'GET'],
    [':path', '/verify'],
  ]);
  assert.deepEqual(call.headers.find(([k]) => k === 'x-original-uri'), ['x-original-uri', '/orders/7?full=1']);
});

test('every value of a repeated checked header goes to the check request', async (t) => {
  const h = load(t, { ...BASE, headers_to_check: ['x-group'] });
  const s = h.stream();
  await s.sendRequestHeaders([
    [':path', '/'],
    ['x-group', 'a'],
    ['x-group', 'b'],
  ], true);
  assert.deepEqual(h.httpCalls[0].headers.filter(([k]) => k === 'x-group'), [
    ['x-group', 'a'],
    ['x-group', 'b'],
  ]);
});

test('a 200 lets the request through with the allowed upstream headers set, replacing what the client sent', async (t) => {
  const h = load(t, { ...BASE, allowed_upstream_headers: ['x-user-id', 'x-roles'] });
  const { s, call } = await request(h, { 'x-user-id': 'forged' });
  await call.respond({ status: 200, headers: [['x-user-id', '42'], ['x-roles', 'admin'], ['x-roles', 'ops'], ['x-internal', 'no']], body: 'ignored' });
  await h.settle();
  assert.equal(s.localReply, undefined);
  assert.equal(header(s, 'upstream', 'x-user-id'), '42');
  assert.deepEqual(s.upstream.headers?.getAll('x-roles'), ['admin', 'ops']);
  assert.equal(header(s, 'upstream', 'x-internal'), undefined);
  assert.equal(header(s, 'upstream', ':path'), '/orders/7?full=1');
  await s.sendResponseHeaders({ ':status': '200' }, true);
  assert.equal(header(s, 'downstream', ':status'), '200');
  assert.equal(h.metric('ext_authz.ok'), 1);
  assert.equal(h.metric('ext_authz.denied'), 0);
});

test('a 200 may remove request headers with x-envoy-auth-headers-to-remove, never pseudo-headers or host', async (t) => {
  const h = load(t, BASE);
  const { s, call } = await request(h, { 'x-api-key': 'k', cookie: 'c=1', host: 'h' });
  await call.respond({ status: 200, headers: { 'x-envoy-auth-headers-to-remove': 'X-Api-Key, cookie, :path, host' } });
  await h.settle();
  assert.equal(header(s, 'upstream', 'x-api-key'), undefined);
  assert.equal(header(s, 'upstream', 'cookie'), undefined);
  assert.equal(header(s, 'upstream', ':path'), '/orders/7?full=1');
  assert.equal(header(s, 'upstream', 'host'), 'h');
});

test('a request body waits with the headers and goes upstream once allowed', async (t) => {
  const h = load(t, BASE);
  const { s, call } = await request(h, { ':method': 'POST' }, false);
  await s.sendRequestBody('payload', true);
  assert.equal(s.upstream.body.length, 0);
  await call.respond({ status: 200 });
  await h.settle();
  assert.equal(s.upstream.body.toString(), 'payload');
  assert.equal(s.upstream.endStream, true);
});

test("a denial answers with the service's status and body, allowed client headers, www-authenticate and location", async (t) => {
  const h = load(t, { ...BASE, allowed_client_headers: ['x-reason'] });
  const { s, call } = await request(h);
  await call.respond({
    status: 401,
    headers: { 'www-authenticate': 'Bearer realm="shop"', 'x-reason': 'expired', 'x-secret': 'internal', 'content-type': 'text/plain' },
    body: 'token expired',
  });
  await h.settle();
  assert.equal(s.upstream.headers, undefined);
  assert.equal(s.localReply?.status, 401);
  assert.equal(s.localReply?.details, 'ext_authz_denied');
  assert.equal(header(s, 'downstream', ':status'), '401');
  assert.equal(s.downstream.body.toString(), 'token expired');
  assert.equal(header(s, 'downstream', 'www-authenticate'), 'Bearer realm="shop"');
  assert.equal(header(s, 'downstream', 'x-reason'), 'expired');
  assert.equal(header(s, 'downstream', 'x-secret'), undefined);
  assert.equal(header(s, 'downstream', 'content-type'), undefined);
  assert.equal(h.metric('ext_authz.denied'), 1);
  assert.equal(h.metric('ext_authz.ok'), 0);
});

test('without allowed_client_headers a denial carries every check-response header but hop-by-hop and proxy-owned ones', async (t) => {
  const h = load(t, BASE);
  const { s, call } = await request(h);
  await call.respond({
    status: 302,
    headers: { location: 'https://login.example/?next=/orders/7', 'set-cookie': 'flow=1', connection: 'close', date: 'x', server: 'authd', 'content-length': '0' },
  });
  await h.settle();
  assert.equal(s.localReply?.status, 302);
  assert.deepEqual(
    (s.localReply?.headers ?? []).map(([k]) => k).sort(),
    ['location', 'set-cookie'],
  );
  assert.equal(header(s, 'downstream', 'location'), 'https://login.example/?next=/orders/7');
});

test('an authorization service 5xx is an error: 403 by default, status_on_error when set', async (t) => {
  const closed = load(t, BASE);
  const a = await request(closed);
  await a.call.respond({ status: 500, body: 'db down', headers: { 'x-reason': 'db' } });
  await closed.settle();
  assert.equal(a.s.localReply?.status, 403);
  assert.equal(a.s.localReply?.details, 'ext_authz_error');
  assert.equal(a.s.downstream.body.length, 0, 'the service body of an error is not shown');
  assert.equal(header(a.s, 'downstream', 'x-reason'), undefined);
  assert.equal(a.s.upstream.headers, undefined);
  assert.equal(closed.metric('ext_authz.error'), 1);

  const custom = load(t, { ...BASE, status_on_error: 503 });
  const b = await request(custom);
  await b.call.respond({ status: 503 });
  await custom.settle();
  assert.equal(b.s.localReply?.status, 503);
});

test('fails closed when the call is reset or times out (the host answers a timeout as 504, no healthy host as 503)', async (t) => {
  const h = load(t, BASE);
  const reset = await request(h);
  await reset.call.reset();
  const timeout = await request(h);
  await timeout.call.respond({ status: 504, body: 'upstream request timeout' });
  const noHost = await request(h);
  await noHost.call.respond({ status: 503, body: 'no healthy upstream' });
  await h.settle();
  for (const s of [reset.s, timeout.s, noHost.s]) {
    assert.equal(s.localReply?.status, 403);
    assert.equal(s.upstream.headers, undefined);
  }
  assert.equal(h.metric('ext_authz.error'), 3);
  assert.equal(h.metric('ext_authz.failure_mode_allowed'), 0);
});

test('with failure_mode_allow an error lets the request through and is counted, marked when asked', async (t) => {
  const h = load(t, { ...BASE, failure_mode_allow: true });
  const a = await request(h);
  await a.call.reset();
  await h.settle();
  assert.equal(a.s.localReply, undefined);
  assert.ok(a.s.upstream.headers !== undefined);
  assert.equal(header(a.s, 'upstream', 'x-envoy-auth-failure-mode-allowed'), undefined);

  const marked = load(t, { ...BASE, failure_mode_allow: true, failure_mode_allow_header_add: true });
  const b = await request(marked, { 'x-envoy-auth-failure-mode-allowed': 'forged' });
  await b.call.respond({ status: 502 });
  await marked.settle();
  assert.equal(header(b.s, 'upstream', 'x-envoy-auth-failure-mode-allowed'), 'true');
  assert.equal(marked.metric('ext_authz.error'), 1);
  assert.equal(marked.metric('ext_authz.failure_mode_allowed'), 1);

  // A denial is still a denial.
  const c = await request(marked);
  await c.call.respond({ status: 403, body: 'no' });
  await marked.settle();
  assert.equal(c.s.localReply?.status, 403);
});

test('answers reach their own streams when checks overlap', async (t) => {
  const h = load(t, { ...BASE, allowed_upstream_headers: ['x-user-id'] });
  const first = await request(h, { authorization: 'ann' });
  const second = await request(h, { authorization: 'bob' });
  await second.call.respond({ status: 403, body: 'bob is out' });
  await first.call.respond({ status: 200, headers: { 'x-user-id': 'ann-1' } });
  await h.settle();
  assert.equal(header(first.s, 'upstream', 'x-user-id'), 'ann-1');
  assert.equal(second.s.localReply?.status, 403);
  assert.equal(second.s.downstream.body.toString(), 'bob is out');
});

test('stat_prefix names the counters', async (t) => {
  const h = load(t, { ...BASE, stat_prefix: 'orders_authz' });
  const { call } = await request(h);
  await call.respond({ status: 200 });
  await h.settle();
  assert.equal(h.metric('orders_authz.ok'), 1);
  assert.equal(h.metric('ext_authz.ok'), 0);
});

test('refuses a bad configuration at load and logs why', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /configuration is empty; "cluster" is required/],
    ['{"cluster": ', /not JSON/],
    ['["authz"]', /must be a JSON object/],
    ['{}', /"cluster" is required/],
    ['{"cluster": "authz", "timeout": 100}', /unknown field "timeout"/],
    ['{"cluster": 7}', /"cluster" must be a string/],
    ['{"cluster": "authz", "path": "check"}', /"path" must start with "\/"/],
    ['{"cluster": "authz", "timeout_ms": 0}', /"timeout_ms" must be an integer from 1 to 60000, got 0/],
    ['{"cluster": "authz", "timeout_ms": 1.5}', /"timeout_ms" must be an integer/],
    ['{"cluster": "authz", "include_path": "yes"}', /"include_path" must be true or false/],
    ['{"cluster": "authz", "headers_to_check": "x-user"}', /"headers_to_check" must be an array/],
    ['{"cluster": "authz", "headers_to_check": [":path"]}', /"headers_to_check\[0\]" must be an HTTP header name/],
    ['{"cluster": "authz", "allowed_upstream_headers": ["ok", "bad name"]}', /"allowed_upstream_headers\[1\]"/],
    ['{"cluster": "authz", "allowed_client_headers": [1]}', /"allowed_client_headers\[0\]"/],
    ['{"cluster": "authz", "failure_mode_allow": 1}', /"failure_mode_allow" must be true or false/],
    ['{"cluster": "authz", "status_on_error": 99}', /"status_on_error" must be an integer from 200 to 599/],
    ['{"cluster": "authz", "stat_prefix": ""}', /"stat_prefix" must not be empty/],
  ];
  for (const [configuration, why] of cases) {
    const { code, logged } = refusal(configuration);
    assert.equal(code, ErrorCode.WASM_PLUGIN_START, configuration);
    assert.ok(logged.some((l) => /^wasm log: auth-call: /.test(l) && why.test(l)), `${configuration}: logged ${JSON.stringify(logged)}`);
  }
});
