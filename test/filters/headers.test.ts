import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { FilterHarness } from '../../runtime/testing/index.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';
import { canaryRefusal, type CanaryRefusal } from '../helpers/canary.ts';

/**
 * filters/headers, compiled as it ships (release) and driven through the in-process harness:
 * every rule kind on both sides, every template, the order rules apply in, and configurations the
 * filter must refuse (with the reason in the log).
 */
const SOURCE = fileURLToPath(new URL('../../filters/headers/assembly/index.ts', import.meta.url));
const wasm = await buildSdkFilter(SOURCE, { target: 'release' });

function load(t: { after(fn: () => void): void }, config: unknown): FilterHarness {
  const h = FilterHarness.load(wasm, { rootId: 'headers', configuration: JSON.stringify(config) });
  t.after(() => h.close());
  return h;
}

/** The plugin's refusal of `configuration` at load (the canary VM), or undefined when accepted. */
function refusal(configuration: string): CanaryRefusal | undefined {
  return canaryRefusal(wasm, { rootId: 'headers', file: 'headers.wasm' }, configuration);
}

test('request rules add, set, remove and rename headers before the request goes upstream', async (t) => {
  const h = load(t, {
    request: {
      add: [{ name: 'x-multi', value: 'added' }],
      set: [{ name: 'x-set', value: 'fixed' }],
      remove: ['x-secret', 'x-absent'],
      rename: [{ from: 'x-old', to: 'x-new' }],
    },
  });
  const s = h.stream();
  await s.sendRequestHeaders({ 'x-multi': 'original', 'x-set': 'client', 'x-secret': 's3cr3t', 'x-old': 'moved', 'x-keep': 'k' }, true);
  const up = s.upstream.headers!;
  assert.deepEqual(up.getAll('x-multi'), ['original', 'added'], 'add keeps the existing value');
  assert.deepEqual(up.getAll('x-set'), ['fixed'], 'set replaces');
  assert.equal(up.get('x-secret'), undefined);
  assert.equal(up.get('x-old'), undefined);
  assert.equal(up.get('x-new'), 'moved');
  assert.equal(up.get('x-keep'), 'k');
  assert.equal(up.get(':path'), '/');
});

test('response rules change what the client receives', async (t) => {
  const h = load(t, {
    response: {
      add: [{ name: 'x-served-by', value: 'sluice' }],
      set: [{ name: 'cache-control', value: 'no-store' }],
      remove: ['server'],
      rename: [{ from: 'x-internal-id', to: 'x-trace' }],
    },
  });
  const s = h.stream();
  await s.sendRequestHeaders({}, true);
  await s.sendResponseHeaders({ server: 'backend/1.0', 'cache-control': 'max-age=60', 'x-internal-id': 'abc' }, true);
  const down = s.downstream.headers!;
  assert.equal(down.get('x-served-by'), 'sluice');
  assert.deepEqual(down.getAll('cache-control'), ['no-store']);
  assert.equal(down.get('server'), undefined);
  assert.equal(down.get('x-trace'), 'abc');
  assert.equal(down.get('x-internal-id'), undefined);
  assert.equal(s.upstream.headers?.get('x-served-by'), undefined, 'response rules do not touch the request');
});

test('%REQ(name)% in a response rule reads the request header as it arrived at the filter', async (t) => {
  const h = load(t, {
    request: { remove: ['x-user'], set: [{ name: 'x-tenant', value: 'rewritten' }] },
    response: {
      set: [
        { name: 'x-echo-user', value: 'user=%REQ(x-user)%' },
        { name: 'x-echo-tenant', value: '%REQ(X-Tenant)%' },
        { name: 'x-echo-path', value: '%REQ(:path)%' },
      ],
    },
  });
  const s = h.stream();
  await s.sendRequestHeaders({ ':path': '/orders/7', 'x-user': 'ann', 'x-tenant': 'acme' }, true);
  assert.equal(s.upstream.headers?.get('x-user'), undefined);
  assert.equal(s.upstream.headers?.get('x-tenant'), 'rewritten');
  await s.sendResponseHeaders({}, true);
  const down = s.downstream.headers!;
  assert.equal(down.get('x-echo-user'), 'user=ann');
  assert.equal(down.get('x-echo-tenant'), 'acme', 'before the request rules changed it; names are case-insensitive');
  assert.equal(down.get('x-echo-path'), '/orders/7');
});

test('%REQUEST_ID% is the x-request-id header on either side', async (t) => {
  const h = load(t, {
    request: { set: [{ name: 'x-correlation-id', value: '%REQUEST_ID%' }] },
    response: { set: [{ name: 'x-request-id', value: '%REQUEST_ID%' }] },
  });
  const s = h.stream();
  await s.sendRequestHeaders({ 'x-request-id': '3f1c-77' }, true);
  assert.equal(s.upstream.headers?.get('x-correlation-id'), '3f1c-77');
  await s.sendResponseHeaders({}, true);
  assert.equal(s.downstream.headers?.get('x-request-id'), '3f1c-77');
});

test('%PROPERTY(path)% reads string, integer and boolean properties as text', async (t) => {
  const h = load(t, {
    request: {
      set: [
        { name: 'x-client', value: '%PROPERTY(source.address)%' },
        { name: 'x-client-port', value: '%PROPERTY(source.port)%' },
        { name: 'x-method', value: '%PROPERTY(request.method)%' },
        { name: 'x-mtls', value: '%PROPERTY(connection.mtls)%' },
        { name: 'x-conn', value: '%PROPERTY(connection.id)%' },
      ],
    },
    response: { set: [{ name: 'x-status-seen', value: 'code %PROPERTY(response.code)%' }] },
  });
  const s = h.stream({ source: '10.1.2.3:40404' });
  await s.sendRequestHeaders({ ':method': 'PUT' }, true);
  const up = s.upstream.headers!;
  assert.equal(up.get('x-client'), '10.1.2.3:40404');
  assert.equal(up.get('x-client-port'), '40404');
  assert.equal(up.get('x-method'), 'PUT');
  assert.equal(up.get('x-mtls'), 'false');
  assert.equal(up.get('x-conn'), '1');
  await s.sendResponseHeaders({ ':status': '201' }, true);
  assert.equal(s.downstream.headers?.get('x-status-seen'), 'code 201');
});

test('templates mix literals and placeholders, and %% is a literal percent sign', async (t) => {
  const h = load(t, {
    request: { set: [{ name: 'x-mixed', value: '100%% of %REQ(x-a)%/%REQ(x-b)% for %REQUEST_ID%!' }] },
  });
  const s = h.stream();
  await s.sendRequestHeaders({ 'x-a': 'A', 'x-b': 'B', 'x-request-id': 'r1' }, true);
  assert.equal(s.upstream.headers?.get('x-mixed'), '100% of A/B for r1!');
});

test('a value that evaluates to empty is skipped unless keep_empty is set', async (t) => {
  const h = load(t, {
    request: {
      set: [
        { name: 'x-skipped', value: '%REQ(x-missing)%' },
        { name: 'x-kept', value: '%REQ(x-missing)%', keep_empty: true },
        { name: 'x-present', value: 'client sent: %REQ(x-missing)%' },
      ],
      add: [{ name: 'x-also-skipped', value: '%PROPERTY(no.such.property)%' }],
    },
  });
  const s = h.stream();
  await s.sendRequestHeaders({ 'x-skipped': 'stays' }, true);
  const up = s.upstream.headers!;
  assert.equal(up.get('x-skipped'), 'stays', 'a skipped set leaves the header alone');
  assert.equal(up.get('x-kept'), '');
  assert.equal(up.get('x-present'), 'client sent: ');
  assert.equal(up.get('x-also-skipped'), undefined);
});

test('rules apply in the order rename, remove, set, add; templates see the headers before any of them', async (t) => {
  const h = load(t, {
    request: {
      rename: [{ from: 'x-a', to: 'x-b' }],
      remove: ['x-b', 'x-c'],
      set: [{ name: 'x-c', value: 'was %REQ(x-c)%' }],
      add: [{ name: 'x-c', value: 'second' }, { name: 'x-a', value: 'a was %REQ(x-a)%' }],
    },
  });
  const s = h.stream();
  await s.sendRequestHeaders({ 'x-a': '1', 'x-c': '3' }, true);
  const up = s.upstream.headers!;
  assert.equal(up.get('x-b'), undefined, 'renamed, then removed');
  assert.deepEqual(up.getAll('x-c'), ['was 3', 'second']);
  assert.equal(up.get('x-a'), 'a was 1');
});

test('rename moves every value of a repeated header and replaces the target; an absent source changes nothing', async (t) => {
  const h = load(t, { request: { rename: [{ from: 'x-from', to: 'x-to' }, { from: 'x-nothing', to: 'x-target' }] } });
  const s = h.stream();
  await s.sendRequestHeaders([['x-from', 'one'], ['x-from', 'two'], ['x-to', 'old'], ['x-target', 'untouched']], true);
  const up = s.upstream.headers!;
  assert.deepEqual(up.getAll('x-to'), ['one', 'two']);
  assert.equal(up.get('x-from'), undefined);
  assert.equal(up.get('x-target'), 'untouched');
});

test('every stream is independent: remembered request values do not leak between streams', async (t) => {
  const h = load(t, { response: { set: [{ name: 'x-user', value: '%REQ(x-user)%' }] } });
  const a = h.stream();
  const b = h.stream();
  await a.sendRequestHeaders({ 'x-user': 'ann' }, true);
  await b.sendRequestHeaders({}, true);
  await b.sendResponseHeaders({}, true);
  await a.sendResponseHeaders({}, true);
  assert.equal(a.downstream.headers?.get('x-user'), 'ann');
  assert.equal(b.downstream.headers?.get('x-user'), undefined);
  for (let i = 0; i < 50; i++) {
    const s = h.stream();
    await s.sendRequestHeaders({ 'x-user': `u${i}` }, true);
    await s.sendResponseHeaders({}, true);
    assert.equal(s.downstream.headers?.get('x-user'), `u${i}`);
    await s.complete();
  }
  assert.equal(h.failure, undefined);
});

test('an empty rule set ({}) lets every stream through unchanged', async (t) => {
  const h = load(t, {});
  const s = h.stream();
  await s.sendRequestHeaders({ 'x-a': '1' }, true);
  await s.sendResponseHeaders({ 'x-b': '2' }, true);
  assert.equal(s.upstream.headers?.get('x-a'), '1');
  assert.equal(s.downstream.headers?.get('x-b'), '2');
});

test('header names in the configuration are case-insensitive', async (t) => {
  const h = load(t, { request: { set: [{ name: 'X-Upper', value: 'v' }], remove: ['X-Gone'], rename: [{ from: 'X-From', to: 'X-To' }] } });
  const s = h.stream();
  await s.sendRequestHeaders({ 'x-gone': '1', 'x-from': 'f' }, true);
  const up = s.upstream.headers!;
  assert.equal(up.get('x-upper'), 'v');
  assert.equal(up.get('x-gone'), undefined);
  assert.equal(up.get('x-to'), 'f');
});

const BAD_CONFIGS: Array<[string, string, RegExp]> = [
  ['an empty configuration', '', /configuration is empty/],
  ['invalid JSON', '{"request": ', /not valid JSON: unexpected end of input/],
  ['a non-object', '[1]', /must be a JSON object/],
  ['an unknown top-level field', '{"requests": {}}', /unknown field 'requests' \(expected request, response\)/],
  ['an unknown rule kind', '{"request": {"append": []}}', /request: unknown field 'append'/],
  ['an unknown template', '{"request": {"set": [{"name": "x", "value": "%HOSTNAME%"}]}}', /request\.set\[0\]: unknown template %HOSTNAME% \(known: %REQ\(header\)%, %REQUEST_ID%, %PROPERTY\(path\)% or %%\)/],
  ['an unterminated %', '{"response": {"add": [{"name": "x", "value": "50% off"}]}}', /response\.add\[0\]: unterminated '%' at offset 2 in '50% off' \(write %% for a literal %\)/],
  ['an empty %REQ()%', '{"request": {"set": [{"name": "x", "value": "%REQ()%"}]}}', /request\.set\[0\]: header name is empty/],
  ['a bad property path', '{"request": {"set": [{"name": "x", "value": "%PROPERTY(source..address)%"}]}}', /bad property path 'source\.\.address'/],
  ['a pseudo-header target', '{"request": {"set": [{"name": ":path", "value": "/x"}]}}', /pseudo-header ':path' cannot be changed/],
  ['a pseudo-header removal', '{"request": {"remove": [":authority"]}}', /request\.remove\[0\]: pseudo-header ':authority' cannot be changed/],
  ['an invalid header name', '{"request": {"add": [{"name": "x y", "value": "1"}]}}', /'x y' is not a valid header name/],
  ['a value with a line break', '{"request": {"add": [{"name": "x", "value": "a\\r\\nx-injected: 1"}]}}', /request\.add\[0\]: value contains a line break or NUL/],
  ['a missing value', '{"request": {"add": [{"name": "x"}]}}', /request\.add\[0\]: "value" must be a string/],
  ['a non-array rule list', '{"request": {"set": {"name": "x", "value": "1"}}}', /request\.set: must be an array/],
  ['a non-string removal', '{"request": {"remove": [1]}}', /request\.remove\[0\]: must be a string/],
  ['a rename without "to"', '{"request": {"rename": [{"from": "x-a"}]}}', /request\.rename\[0\]: "from" and "to" must be strings/],
  ['a rename onto itself', '{"request": {"rename": [{"from": "x-a", "to": "X-A"}]}}', /"from" and "to" are the same header 'x-a'/],
  ['a non-boolean keep_empty', '{"request": {"add": [{"name": "x", "value": "", "keep_empty": 1}]}}', /"keep_empty" must be true or false/],
];

for (const [what, configuration, reason] of BAD_CONFIGS) {
  test(`${what} is refused by proxy_on_configure with the reason logged`, () => {
    const r = refusal(configuration);
    assert.ok(r !== undefined, 'the configuration was accepted');
    assert.match(r.error, /proxy_on_configure returned false \(plugin configuration rejected\)/);
    const line = r.logged.find((l) => l.startsWith('wasm log: headers: '));
    assert.ok(line !== undefined, `no "headers:" log line in ${JSON.stringify(r.logged)}`);
    assert.match(line, reason);
  });
}

test('the harness refuses to load a rejected configuration', () => {
  assert.throws(() => FilterHarness.load(wasm, { rootId: 'headers', configuration: '{"request": {"set": [{"name": "x", "value": "%NOPE%"}]}}' }), /proxy_on_configure returned false/);
  assert.equal(refusal('{"request": {"set": [{"name": "x", "value": "ok %%"}]}}'), undefined, 'a good configuration passes the same check');
});
