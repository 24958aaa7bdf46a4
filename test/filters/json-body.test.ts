import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { FilterHarness, type HarnessOptions } from '../../runtime/testing/index.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';
import { prng } from '../helpers/prng.ts';
import { canaryRefusal, type CanaryRefusal } from '../helpers/canary.ts';

/**
 * filters/json-body, compiled as it ships (release) and driven through the in-process harness:
 * each kind of change on both sides, the framing (content-length removed, or exact with
 * hold_headers), which bodies are left alone, invalid and oversized bodies, the JSON writer's
 * fidelity, and configurations the filter must refuse (with the reason in the log).
 */
const SOURCE = fileURLToPath(new URL('../../filters/json-body/assembly/index.ts', import.meta.url));
const wasm = await buildSdkFilter(SOURCE, { target: 'release' });

const JSON_TYPE = { 'content-type': 'application/json' };

/** Loads the filter; `config` is JSON text as given, or a value to serialize. */
function load(t: { after(fn: () => void): void }, config: unknown, opts: HarnessOptions = {}): FilterHarness {
  const configuration = typeof config === 'string' ? config : JSON.stringify(config);
  const h = FilterHarness.load(wasm, { rootId: 'json_body', configuration, ...opts });
  t.after(() => h.close());
  return h;
}

/** Sends a JSON request (in `chunks` pieces) through the filter; returns the stream. */
async function post(h: FilterHarness, body: string, headers: Record<string, string> = JSON_TYPE, chunks = 1) {
  const s = h.stream();
  await s.sendRequestHeaders({ ':method': 'POST', 'content-length': String(Buffer.byteLength(body)), ...headers }, body.length === 0);
  const bytes = Buffer.from(body);
  const step = Math.ceil(bytes.length / chunks);
  for (let i = 0; i < chunks && bytes.length > 0; i++) {
    await s.sendRequestBody(bytes.subarray(i * step, Math.min(bytes.length, (i + 1) * step)), i === chunks - 1);
  }
  return s;
}

/** Sends a JSON response through the filter after a bodiless GET. */
async function respond(h: FilterHarness, body: string, headers: Record<string, string> = JSON_TYPE, chunks = 1) {
  const s = h.stream();
  await s.sendRequestHeaders({}, true);
  await s.sendResponseHeaders({ 'content-length': String(Buffer.byteLength(body)), ...headers }, false);
  const bytes = Buffer.from(body);
  const step = Math.ceil(bytes.length / chunks);
  for (let i = 0; i < chunks; i++) await s.sendResponseBody(bytes.subarray(i * step, Math.min(bytes.length, (i + 1) * step)), i === chunks - 1);
  return s;
}

/** The plugin's refusal of `configuration` at load (the canary VM), or undefined when accepted. */
function refusal(configuration: string): CanaryRefusal | undefined {
  return canaryRefusal(wasm, { rootId: 'json_body', file: 'json-body.wasm' }, configuration);
}

test('a request body is buffered whole, rewritten (set, remove, rename) and sent on without content-length', async (t) => {
  const h = load(t, {
    request: {
      set: { 'meta.source': 'sluice', version: 2, 'user.roles': ['reader'] },
      remove: ['password', 'user.internal'],
      rename: { user_name: 'username', 'user.mail': 'contact.email' },
    },
  });
  const body = JSON.stringify({ user_name: 'ann', password: 'hunter2', user: { id: 7, mail: 'a@x', internal: true }, version: 1 });
  const s = await post(h, body, JSON_TYPE, 3);
  assert.equal(s.upstream.endStream, true);
  assert.equal(
    s.upstream.body.toString(),
    '{"username":"ann","user":{"id":7,"roles":["reader"]},"version":2,"contact":{"email":"a@x"},"meta":{"source":"sluice"}}',
  );
  assert.equal(s.upstream.headers?.get('content-length'), undefined, 'the length changed after the headers went on: the body travels chunked');
  assert.equal(s.upstream.headers?.get(':method'), 'POST');
  assert.equal(h.metric('json_body_rewritten_total'), 1);
});

test('a response body is rewritten for the client and its content-length removed', async (t) => {
  const h = load(t, { response: { remove: ['debug'], set: { 'served.by': 'sluice' } } });
  const s = await respond(h, '{"data":[1,2,3],"debug":{"sql":"select 1"}}', JSON_TYPE, 2);
  assert.equal(s.downstream.body.toString(), '{"data":[1,2,3],"served":{"by":"sluice"}}');
  assert.equal(s.downstream.headers?.get('content-length'), undefined);
  assert.equal(s.downstream.headers?.get(':status'), '200');
  assert.equal(s.downstream.endStream, true);
});

test('with hold_headers the headers wait for the body and carry its exact new content-length', async (t) => {
  const h = load(t, { hold_headers: true, request: { set: { added: 'a much longer value than before' } }, response: { remove: ['big'] } }, { allowOnHeadersStopIteration: true });
  const s = h.stream();
  await s.sendRequestHeaders({ ':method': 'POST', 'content-length': '8', ...JSON_TYPE });
  await s.sendRequestBody('{"a":');
  const held = s.upstream.headers;
  assert.equal(held, undefined, 'headers held while the body is buffered');
  await s.sendRequestBody('1}', true);
  const sent = '{"a":1,"added":"a much longer value than before"}';
  assert.equal(s.upstream.body.toString(), sent);
  assert.equal(s.upstream.headers?.get('content-length'), String(Buffer.byteLength(sent)));
  await s.sendResponseHeaders({ 'content-length': '29', ...JSON_TYPE });
  await s.sendResponseBody('{"big":"xxxxxxxxxxx","ok":1}', true);
  assert.equal(s.downstream.body.toString(), '{"ok":1}');
  assert.equal(s.downstream.headers?.get('content-length'), '8');
});

test('a body whose rules change nothing is passed on byte for byte', async (t) => {
  const h = load(t, { request: { remove: ['absent', 'a.b.c', 'list.9'], rename: { nothing: 'here' } } });
  const body = '{ "a" : 1,\n  "list": [ 1.0, 2e3, 12345678901234567890 ] }';
  const s = await post(h, body);
  assert.equal(s.upstream.body.toString(), body, 'original formatting kept');
  assert.equal(h.metric('json_body_rewritten_total'), 0);
});

test('only bodies whose content-type matches (and that are not compressed) are touched', async (t) => {
  const h = load(t, { content_types: ['application/json', 'application/*+json'], request: { set: { x: 1 } } });
  const cases: Array<[Record<string, string>, boolean]> = [
    [{ 'content-type': 'application/json; charset=utf-8' }, true],
    [{ 'content-type': 'Application/JSON' }, true],
    [{ 'content-type': 'application/problem+json' }, true],
    [{ 'content-type': 'text/plain' }, false],
    [{ 'content-type': 'application/jsonx' }, false],
    [{}, false],
    [{ 'content-type': 'application/json', 'content-encoding': 'gzip' }, false],
    [{ 'content-type': 'application/json', 'content-encoding': 'identity' }, true],
  ];
  for (const [headers, touched] of cases) {
    const s = await post(h, '{}', headers);
    assert.equal(s.upstream.body.toString(), touched ? '{"x":1}' : '{}', JSON.stringify(headers));
    assert.equal(s.upstream.headers?.get('content-length'), touched ? undefined : '2', JSON.stringify(headers));
  }
});

test('the default content type is application/json only', async (t) => {
  const h = load(t, { request: { set: { x: 1 } } });
  assert.equal((await post(h, '{}', { 'content-type': 'application/vnd.api+json' })).upstream.body.toString(), '{}');
  assert.equal((await post(h, '{}')).upstream.body.toString(), '{"x":1}');
});

test('request-only rules leave responses alone and the other way round', async (t) => {
  const h = load(t, { response: { set: { r: true } } });
  const s = await post(h, '{"q":1}');
  assert.equal(s.upstream.body.toString(), '{"q":1}');
  assert.equal(s.upstream.headers?.get('content-length'), '7');
  await s.sendResponseHeaders({ 'content-length': '2', ...JSON_TYPE });
  await s.sendResponseBody('{}', true);
  assert.equal(s.downstream.body.toString(), '{"r":true}');
});

test('an invalid JSON body is passed on unchanged and counted by default', async (t) => {
  const h = load(t, { request: { set: { x: 1 } }, response: { set: { x: 1 } } });
  const s = await post(h, '{"a": 1,}');
  assert.equal(s.upstream.body.toString(), '{"a": 1,}');
  assert.equal(s.localReply, undefined);
  const deep = '['.repeat(100) + ']'.repeat(100);
  const r = await respond(h, deep);
  assert.equal(r.downstream.body.toString(), deep, 'nesting deeper than the reader allows is invalid too');
  assert.equal(h.metric('json_body_invalid_total'), 2);
  assert.ok(h.logs.some((l) => l.level === 'debug' && /json-body: request body is not valid JSON \(expected a member name at offset 8\); passed on unchanged/.test(l.message)));
});

test('with invalid_json "reject" an invalid request gets 400 and an invalid response 502', async (t) => {
  const h = load(t, { invalid_json: 'reject', hold_headers: true, request: { set: { x: 1 } }, response: { set: { x: 1 } } }, { allowOnHeadersStopIteration: true });
  const s = await post(h, 'not json');
  assert.equal(s.localReply?.status, 400);
  assert.equal(s.localReply?.details, 'json_body_invalid');
  assert.equal(s.upstream.headers, undefined, 'nothing reached the upstream');
  const r = await respond(h, '{"unterminated": ');
  assert.equal(r.localReply?.status, 502);
  assert.equal(r.downstream.headers?.get(':status'), '502');
  assert.equal(r.downstream.body.toString(), 'json-body: response body is not valid JSON');
});

test('a request body over max_body_bytes is answered 413 and never reaches the upstream', async (t) => {
  const h = load(t, { max_body_bytes: 64, request: { set: { x: 1 } } });
  const s = await post(h, JSON.stringify({ pad: 'x'.repeat(100) }), JSON_TYPE, 4);
  assert.equal(s.localReply?.status, 413);
  assert.equal(s.localReply?.details, 'json_body_too_large');
  assert.equal(s.downstream.body.toString(), 'json-body: request body larger than 64 bytes');
  assert.equal(s.upstream.body.length, 0);
  assert.equal(h.metric('json_body_too_large_total'), 1);
  const small = await post(h, '{"pad":"x"}');
  assert.equal(small.upstream.body.toString(), '{"pad":"x","x":1}', 'the limit is per stream');
});

test('a response body over max_body_bytes is never delivered unrewritten: 500 with held headers, else a reset', async (t) => {
  const held = load(t, { max_body_bytes: 16, hold_headers: true, response: { remove: ['secret'] } }, { allowOnHeadersStopIteration: true });
  // One chunk: the harness, unlike the proxy, would still deliver later upstream chunks after the
  // local reply (see the report on runtime/testing/harness.ts).
  const a = await respond(held, JSON.stringify({ secret: 'x'.repeat(40) }));
  assert.equal(a.localReply?.status, 500);
  assert.equal(a.downstream.headers?.get(':status'), '500');
  assert.ok(!a.downstream.body.toString().includes('xxxx'));
  const streamed = load(t, { max_body_bytes: 16, response: { remove: ['secret'] } });
  const b = await respond(streamed, JSON.stringify({ secret: 'x'.repeat(40) }));
  assert.equal(b.localReply?.status, 500);
  assert.equal(b.downstream.headers?.get(':status'), '200', 'the headers had already gone');
  assert.equal(b.resetDetails, 'json_body_too_large');
  assert.ok(!b.downstream.body.toString().includes('xxxx'));
});

test('paths go through arrays by index; set creates missing objects but never replaces a value in the way', async (t) => {
  const h = load(t, {
    request: {
      set: { 'items.0.price': 10, 'items.5.price': 1, 'count.total': 3, 'new.deep.path': null, 'tags.1': 'B' },
      remove: ['items.1'],
    },
  });
  const s = await post(h, '{"items":[{"price":1},{"price":2},{"price":3}],"count":2,"tags":["a","b"]}');
  assert.equal(s.upstream.body.toString(), '{"items":[{"price":10},{"price":3}],"count":2,"tags":["a","B"],"new":{"deep":{"path":null}}}');
});

test('rename within one object keeps the member in place and replaces an existing target', async (t) => {
  const h = load(t, { request: { rename: { b: 'd', 'x.old': 'x.new' } } });
  const s = await post(h, '{"a":1,"b":2,"c":3,"d":4,"x":{"old":[1],"keep":0}}');
  assert.equal(s.upstream.body.toString(), '{"a":1,"d":2,"c":3,"x":{"new":[1],"keep":0}}');
});

test('rules apply in the order rename, remove, set', async (t) => {
  const h = load(t, { request: { rename: { a: 'b' }, remove: ['b'], set: { b: 'set' } } });
  assert.equal((await post(h, '{"a":"renamed"}')).upstream.body.toString(), '{"b":"set"}');
});

test('a non-object document is changed only through index paths', async (t) => {
  const h = load(t, { request: { set: { '0.seen': true, name: 'x' } }, response: { set: { a: 1 } } });
  assert.equal((await post(h, '[{"id":1},{"id":2}]')).upstream.body.toString(), '[{"id":1,"seen":true},{"id":2}]');
  assert.equal((await respond(h, '"just a string"')).downstream.body.toString(), '"just a string"');
});

test('rewritten JSON keeps number literals, escapes and non-ASCII text exactly', async (t) => {
  // Raw text: the configuration's own number literals must survive too.
  const h = load(t, '{"request": {"set": {"added": "é ✓ 😀 \\"q\\" \\\\ \\n \\u0001", "big": 12345678901234567890, "float": 1.5}}}');
  const body = '{"id":12345678901234567890,"ratio":1.0,"exp":1E5,"neg":-0,"s":"tab\\t nl\\n \\u0000 \\/ \\ud800 😀 ü"}';
  const s = await post(h, body);
  const out = s.upstream.body.toString();
  assert.equal(
    out,
    '{"id":12345678901234567890,"ratio":1.0,"exp":1E5,"neg":-0,"s":"tab\\t nl\\n \\u0000 / \\ud800 😀 ü",' +
      '"added":"é ✓ 😀 \\"q\\" \\\\ \\n \\u0001","big":12345678901234567890,"float":1.5}',
  );
  assert.deepEqual(JSON.parse(out).added, 'é ✓ 😀 "q" \\ \n \u0001');
});

test('the JSON writer agrees with JSON.stringify on random documents', async (t) => {
  const h = load(t, { request: { set: { zz: 0 } } });
  const rand = prng(20261127);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const chars = ['a', 'Z', ' ', '"', '\\', '/', '\n', '\t', '\u0007', '\u001f', 'é', '€', '😀', '\u2028', '%'];
  const str = () => Array.from({ length: Math.floor(rand() * 8) }, () => pick(chars)).join('');
  const value = (depth: number): unknown => {
    const r = rand();
    if (depth > 3 || r < 0.3) return pick([null, true, false, 0, -1, 1.5, 1e-7, 2 ** 53, -123456.789, 1e21, str()]);
    if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = 0; i < Math.floor(rand() * 4); i++) o[`k${str()}`] = value(depth + 1);
    return o;
  };
  for (let i = 0; i < 200; i++) {
    const doc: Record<string, unknown> = {};
    for (let j = 0; j < 3; j++) doc[`f${j}${str()}`] = value(0);
    const s = await post(h, JSON.stringify(doc));
    assert.equal(s.upstream.body.toString(), JSON.stringify({ ...doc, zz: 0 }));
  }
  assert.equal(h.failure, undefined);
});

test('an empty JSON body and a bodiless request pass untouched', async (t) => {
  const h = load(t, { request: { set: { x: 1 } } });
  const empty = await post(h, '');
  assert.equal(empty.upstream.headers?.get('content-length'), '0');
  assert.equal(empty.upstream.body.length, 0);
  const s = h.stream();
  await s.sendRequestHeaders({ ':method': 'POST', 'content-type': 'application/json' });
  await s.sendRequestBody('', true);
  assert.equal(s.upstream.body.length, 0, 'an empty chunked body is not JSON, and is passed on');
  assert.equal(s.upstream.endStream, true);
});

const BAD_CONFIGS: Array<[string, string, RegExp]> = [
  ['an empty configuration', ' ', /json-body: configuration is empty/],
  ['invalid JSON', '{"request": {"set": {"a": }}}', /json-body: configuration is not valid JSON: unexpected character '}'/],
  ['a non-object', '"x"', /json-body: configuration must be a JSON object/],
  ['an unknown field', '{"requset": {}}', /json-body: configuration: unknown field 'requset' \(expected request, response, max_body_bytes, content_types, hold_headers, invalid_json\)/],
  ['an unknown rule kind', '{"response": {"delete": ["a"]}}', /json-body: response: unknown field 'delete' \(expected set, remove, rename\)/],
  ['set as an array', '{"request": {"set": ["a"]}}', /request\.set: must be an object/],
  ['an empty path segment', '{"request": {"set": {"a..b": 1}}}', /request\.set: bad path 'a\.\.b'/],
  ['a non-string removal', '{"request": {"remove": [1]}}', /request\.remove\[0\]: must be a string/],
  ['a rename to a non-string', '{"request": {"rename": {"a": 1}}}', /request\.rename\.a: must be a string/],
  ['overlapping rename paths', '{"request": {"rename": {"a": "a.b"}}}', /'a' and 'a\.b' overlap/],
  ['a zero max_body_bytes', '{"max_body_bytes": 0, "request": {}}', /max_body_bytes: must be an integer from 1 to 1073741824/],
  ['a fractional max_body_bytes', '{"max_body_bytes": 10.5}', /max_body_bytes: must be an integer/],
  ['empty content_types', '{"content_types": []}', /content_types: must be a non-empty array/],
  ['a content type with parameters', '{"content_types": ["application/json; charset=utf-8"]}', /content_types\[0\]: must be a media type/],
  ['a non-boolean hold_headers', '{"hold_headers": "yes"}', /hold_headers: must be true or false/],
  ['an unknown invalid_json mode', '{"invalid_json": "drop"}', /invalid_json: must be "pass" or "reject"/],
];

for (const [what, configuration, reason] of BAD_CONFIGS) {
  test(`${what} is refused by proxy_on_configure with the reason logged`, () => {
    const r = refusal(configuration);
    assert.ok(r !== undefined, 'the configuration was accepted');
    assert.match(r.error, /proxy_on_configure returned false \(plugin configuration rejected\)/);
    const line = r.logged.find((l) => l.startsWith('wasm log: json-body: '));
    assert.ok(line !== undefined, `no "json-body:" log line in ${JSON.stringify(r.logged)}`);
    assert.match(line, reason);
  });
}

test('a configuration without rules is accepted and lets every stream through', async (t) => {
  assert.equal(refusal('{"max_body_bytes": 10}'), undefined);
  const h = load(t, { max_body_bytes: 10 });
  const s = await post(h, JSON.stringify({ long: 'x'.repeat(50) }));
  assert.equal(s.localReply, undefined);
  assert.equal(s.upstream.body.length, 61);
});
