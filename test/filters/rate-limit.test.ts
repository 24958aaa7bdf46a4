import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { FilterHarness, type HarnessStream } from '../../runtime/testing/index.ts';
import { ErrorCode } from '../../runtime/errors.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';
import { canaryRefusal, type CanaryRefusal } from '../helpers/canary.ts';

/**
 * filters/rate-limit through its compiled (release) .wasm in the in-process harness. The host
 * clock (`proxy_get_current_time_nanoseconds`, Date.now() in Sluice) is mocked, so refills happen
 * when the test moves time, not when the machine is slow.
 */
const wasm = await buildSdkFilter(fileURLToPath(new URL('../../filters/rate-limit/assembly/index.ts', import.meta.url)), { target: 'release' });

const T0 = 1_700_000_000_000;

function load(t: TestContext, config: Record<string, unknown>): FilterHarness {
  t.mock.timers.enable({ apis: ['Date'], now: T0 });
  const h = FilterHarness.load(wasm, { rootId: 'rate-limit', name: 'rl_plugin', configuration: JSON.stringify(config) });
  t.after(() => h.close());
  return h;
}

interface Hit {
  s: HarnessStream;
  allowed: boolean;
  /** A response header as the client saw it. */
  h(name: string): string | undefined;
}

/** One request; when the filter lets it through, the upstream answers 200. */
async function hit(h: FilterHarness, headers: Record<string, string> = {}, source?: string): Promise<Hit> {
  const s = h.stream(source === undefined ? {} : { source });
  await s.sendRequestHeaders({ ':path': '/', ...headers }, true);
  const allowed = s.upstream.headers !== undefined;
  if (allowed) await s.sendResponseHeaders({ ':status': '200' }, true);
  else await h.settle();
  await s.complete();
  return { s, allowed, h: (name) => s.downstream.headers?.get(name) ?? undefined };
}

async function allowedCount(h: FilterHarness, n: number, headers: Record<string, string> = {}, source?: string): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < n; i++) if ((await hit(h, headers, source)).allowed) allowed++;
  return allowed;
}

/** FNV-1a 64 over UTF-16 code units, 16 hex digits: how the filter names buckets for long key values. */
function fnv1a64(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; i++) h = ((h ^ BigInt(s.charCodeAt(i))) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

/** The plugin's refusal of `configuration` at load (the canary VM), with what it logged. */
function refusal(configuration: string): CanaryRefusal {
  const r = canaryRefusal(wasm, { rootId: 'rate-limit', file: 'rate-limit.wasm' }, configuration);
  if (r === undefined) assert.fail(`configuration ${configuration} was accepted`);
  return r;
}

test('one bucket lets max_tokens requests through, then answers 429 with retry-after and the x-ratelimit headers', async (t) => {
  const h = load(t, { max_tokens: 3, fill_interval_ms: 1000 });
  for (let i = 0; i < 3; i++) {
    const r = await hit(h);
    assert.equal(r.allowed, true, `request ${i + 1}`);
    assert.equal(r.h(':status'), '200');
    assert.equal(r.h('x-ratelimit-limit'), '3');
    assert.equal(r.h('x-ratelimit-remaining'), String(2 - i));
    assert.equal(r.h('x-ratelimit-reset'), '1');
    assert.equal(r.h('retry-after'), undefined);
  }
  const limited = await hit(h);
  assert.equal(limited.allowed, false);
  assert.equal(limited.s.localReply?.status, 429);
  assert.equal(limited.s.localReply?.details, 'local_rate_limited');
  assert.equal(limited.s.downstream.body.toString(), 'local_rate_limited');
  assert.equal(limited.h(':status'), '429');
  assert.equal(limited.h('retry-after'), '1');
  assert.equal(limited.h('x-envoy-ratelimited'), 'true');
  assert.equal(limited.h('x-ratelimit-limit'), '3');
  assert.equal(limited.h('x-ratelimit-remaining'), '0');
  assert.equal(limited.h('x-ratelimit-reset'), '1');
  assert.equal(h.metric('http_local_rate_limit.ok'), 3);
  assert.equal(h.metric('http_local_rate_limit.rate_limited'), 1);
  assert.equal(h.metric('http_local_rate_limit.error'), 0);
  assert.equal(h.sharedData('rate-limit.rl_plugin|all|'), `0 ${T0}`, 'the bucket lives in shared data');
});

test('tokens_per_fill tokens come back every fill_interval_ms, never more than max_tokens', async (t) => {
  const h = load(t, { max_tokens: 4, tokens_per_fill: 2, fill_interval_ms: 1000 });
  assert.equal(await allowedCount(h, 6), 4);
  t.mock.timers.tick(999);
  assert.equal(await allowedCount(h, 1), 0);
  t.mock.timers.tick(1);
  assert.equal(await allowedCount(h, 3), 2);
  t.mock.timers.tick(86_400_000);
  assert.equal(await allowedCount(h, 6), 4, 'a day idle refills to max_tokens, not beyond');
});

test('retry-after and x-ratelimit-reset round the time to the next fill up to whole seconds; fills keep the bucket\'s grid', async (t) => {
  const h = load(t, { max_tokens: 1, fill_interval_ms: 10_000 });
  assert.equal((await hit(h)).h('x-ratelimit-reset'), '10');
  t.mock.timers.tick(2_500);
  const early = await hit(h);
  assert.equal(early.allowed, false);
  assert.equal(early.h('retry-after'), '8');
  t.mock.timers.tick(7_000);
  assert.equal((await hit(h)).h('retry-after'), '1');
  t.mock.timers.tick(500);
  const refilled = await hit(h);
  assert.equal(refilled.allowed, true, 'the fill is due 10 s after the bucket was created, not after the last request');
  assert.equal(refilled.h('x-ratelimit-reset'), '10');
});

test('a clock that steps back does not lock a bucket out', async (t) => {
  const h = load(t, { max_tokens: 1, fill_interval_ms: 1000 });
  assert.equal((await hit(h)).allowed, true);
  t.mock.timers.setTime(T0 - 3_600_000);
  const r = await hit(h);
  assert.equal(r.allowed, false);
  assert.equal(r.h('retry-after'), '1');
  t.mock.timers.tick(1000);
  assert.equal((await hit(h)).allowed, true);
});

test('a header key gives each value its own bucket; requests without the header are not limited', async (t) => {
  const h = load(t, { key: { header: 'X-API-Key' }, max_tokens: 1, fill_interval_ms: 60_000 });
  assert.equal((await hit(h, { 'x-api-key': 'alpha' })).allowed, true);
  assert.equal((await hit(h, { 'x-api-key': 'alpha' })).allowed, false);
  assert.equal((await hit(h, { 'x-api-key': 'beta' })).allowed, true);
  const keyless = await hit(h);
  assert.equal(keyless.allowed, true);
  assert.equal(keyless.h('x-ratelimit-limit'), undefined, 'no bucket, no headers');
  assert.equal(await allowedCount(h, 3), 3);
  assert.equal(h.metric('http_local_rate_limit.ok'), 2);
  assert.equal(h.metric('http_local_rate_limit.rate_limited'), 1);
  assert.equal(h.sharedData('rate-limit.rl_plugin|header:x-api-key|alpha'), `0 ${T0}`);
});

test('with missing_key "shared" requests without the key share one bucket', async (t) => {
  const h = load(t, { key: { header: 'x-api-key' }, missing_key: 'shared', max_tokens: 2, fill_interval_ms: 60_000 });
  assert.equal(await allowedCount(h, 3), 2);
  assert.equal((await hit(h, { 'x-api-key': 'alpha' })).allowed, true);
  assert.equal(h.sharedData('rate-limit.rl_plugin|header:x-api-key:missing|'), `0 ${T0}`);
});

test('a client_address key buckets by IP, whatever the port', async (t) => {
  const h = load(t, { key: { client_address: true }, max_tokens: 1, fill_interval_ms: 60_000 });
  assert.equal((await hit(h, {}, '10.0.0.1:40001')).allowed, true);
  assert.equal((await hit(h, {}, '10.0.0.1:40002')).allowed, false);
  assert.equal((await hit(h, {}, '10.0.0.2:40001')).allowed, true);
  assert.equal((await hit(h, {}, '[2001:db8::1]:40001')).allowed, true);
  assert.equal((await hit(h, {}, '[2001:db8::1]:40002')).allowed, false);
  assert.equal(h.sharedData('rate-limit.rl_plugin|ip|10.0.0.1'), `0 ${T0}`);
  assert.equal(h.sharedData('rate-limit.rl_plugin|ip|2001:db8::1'), `0 ${T0}`);
});

test('a path_prefix key buckets by the first path segment, or the first n with segments', async (t) => {
  const one = load(t, { key: { path_prefix: true }, max_tokens: 2, fill_interval_ms: 60_000 });
  assert.equal((await hit(one, { ':path': '/api/orders' })).allowed, true);
  assert.equal((await hit(one, { ':path': '/api?page=2' })).allowed, true);
  assert.equal((await hit(one, { ':path': '/api/users/7' })).allowed, false);
  assert.equal((await hit(one, { ':path': '/static/app.js' })).allowed, true);
  assert.equal(one.sharedData('rate-limit.rl_plugin|path|/api'), `0 ${T0}`);

  const two = FilterHarness.load(wasm, { rootId: 'rate-limit', name: 'two', configuration: JSON.stringify({ key: { path_prefix: { segments: 2 } }, max_tokens: 1, fill_interval_ms: 60_000 }) });
  t.after(() => two.close());
  assert.equal((await hit(two, { ':path': '/api/v1/orders' })).allowed, true);
  assert.equal((await hit(two, { ':path': '/api/v1/users' })).allowed, false);
  assert.equal((await hit(two, { ':path': '/api/v2/orders' })).allowed, true);
  assert.equal((await hit(two, { ':path': '/' })).allowed, true);
  assert.equal(two.sharedData('rate-limit.two|path|/api/v1'), `0 ${T0}`);
});

test('a key value longer than 128 characters is stored under its hash', async (t) => {
  const h = load(t, { key: { header: 'x-api-key' }, max_tokens: 1, fill_interval_ms: 60_000 });
  const long = 'k'.repeat(500);
  assert.equal((await hit(h, { 'x-api-key': long })).allowed, true);
  assert.equal((await hit(h, { 'x-api-key': long })).allowed, false);
  assert.equal((await hit(h, { 'x-api-key': `${long}2` })).allowed, true);
  assert.equal(h.sharedData(`rate-limit.rl_plugin|header:x-api-key|#${fnv1a64(long)}`), `0 ${T0}`);
});

test('enable_x_ratelimit_headers false leaves only retry-after and x-envoy-ratelimited on a 429', async (t) => {
  const h = load(t, { max_tokens: 1, fill_interval_ms: 1000, enable_x_ratelimit_headers: false });
  const ok = await hit(h);
  assert.equal(ok.allowed, true);
  assert.equal(ok.h('x-ratelimit-limit'), undefined);
  const limited = await hit(h);
  assert.equal(limited.h('retry-after'), '1');
  assert.equal(limited.h('x-envoy-ratelimited'), 'true');
  assert.equal(limited.h('x-ratelimit-remaining'), undefined);
});

test('status, shared_key_prefix and stat_prefix are configurable', async (t) => {
  const h = load(t, { max_tokens: 1, fill_interval_ms: 1000, status: 503, shared_key_prefix: 'rl', stat_prefix: 'api_rl' });
  await hit(h);
  const limited = await hit(h);
  assert.equal(limited.s.localReply?.status, 503);
  assert.equal(h.sharedData('rl|all|'), `0 ${T0}`);
  assert.equal(h.metric('api_rl.ok'), 1);
  assert.equal(h.metric('api_rl.rate_limited'), 1);
});

test('lets requests through and counts an error when shared data has no room for another bucket', async (t) => {
  const h = load(t, { key: { header: 'x-api-key' }, max_tokens: 1, fill_interval_ms: 60_000 });
  const pad = 'p'.repeat(120);
  let failed: Hit | undefined;
  // The harness's store holds 1 MiB; each bucket here takes a few hundred bytes.
  for (let i = 0; i < 20_000 && failed === undefined; i++) {
    const r = await hit(h, { 'x-api-key': `${pad}${i}` });
    assert.equal(r.allowed, true);
    if (h.metric('http_local_rate_limit.error') > 0) failed = r;
  }
  assert.ok(failed !== undefined, 'the store filled up');
  assert.equal(failed.h('x-ratelimit-limit'), undefined);
  assert.ok(h.logs.some((l) => l.level === 'warn' && /shared data refused bucket/.test(l.message)));
});

test('refuses a bad configuration at load and logs why', () => {
  const ok = '"max_tokens": 5, "fill_interval_ms": 1000';
  const cases: Array<[string, RegExp]> = [
    ['', /configuration is empty/],
    ['{"max_tokens": ', /not JSON/],
    ['7', /must be a JSON object/],
    ['{"fill_interval_ms": 1000}', /"max_tokens" is required/],
    ['{"max_tokens": 5}', /"fill_interval_ms" is required/],
    [`{${ok}, "burst": 2}`, /unknown field "burst"/],
    ['{"max_tokens": 0, "fill_interval_ms": 1000}', /"max_tokens" must be an integer from 1 to/],
    ['{"max_tokens": 5, "fill_interval_ms": 49}', /"fill_interval_ms" must be an integer from 50 to/],
    [`{${ok}, "tokens_per_fill": 0.5}`, /"tokens_per_fill" must be an integer/],
    [`{${ok}, "key": "x-api-key"}`, /"key" must be an object with exactly one of/],
    [`{${ok}, "key": {}}`, /"key" must be an object with exactly one of/],
    [`{${ok}, "key": {"header": "a", "client_address": true}}`, /exactly one of/],
    [`{${ok}, "key": {"cookie": "a"}}`, /unknown field "key.cookie"/],
    [`{${ok}, "key": {"header": "bad name"}}`, /"key.header" must be an HTTP header name/],
    [`{${ok}, "key": {"client_address": false}}`, /"key.client_address" must be true/],
    [`{${ok}, "key": {"path_prefix": 2}}`, /"key.path_prefix" must be true or \{"segments": n\}/],
    [`{${ok}, "key": {"path_prefix": {"segments": 0}}}`, /"key.path_prefix.segments" must be an integer from 1 to 32/],
    [`{${ok}, "key": {"path_prefix": {"depth": 1}}}`, /unknown field "key.path_prefix.depth"/],
    [`{${ok}, "missing_key": "deny"}`, /"missing_key" must be "allow" or "shared"/],
    [`{${ok}, "status": 200}`, /"status" must be an integer from 400 to 599/],
    [`{${ok}, "enable_x_ratelimit_headers": "on"}`, /"enable_x_ratelimit_headers" must be true or false/],
    [`{${ok}, "shared_key_prefix": ""}`, /"shared_key_prefix" must not be empty/],
    [`{${ok}, "stat_prefix": 3}`, /"stat_prefix" must be a string/],
  ];
  for (const [configuration, why] of cases) {
    const { code, logged } = refusal(configuration);
    assert.equal(code, ErrorCode.WASM_PLUGIN_START, configuration);
    assert.ok(logged.some((l) => /^wasm log: rate-limit: /.test(l) && why.test(l)), `${configuration}: logged ${JSON.stringify(logged)}`);
  }
});
