import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';
import { startUpstream } from '../helpers/servers.ts';
import { wasmFilter } from '../helpers/wasm.ts';

/**
 * filters/json-body (release build) in a running Sluice: a JSON request and its JSON response are
 * rewritten on the wire, with framing the upstream's and the client's HTTP parsers accept.
 */
const dir = mkdtempSync(join(tmpdir(), 'sluice-json-body-e2e-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'json-body.wasm');
writeFileSync(file, await buildSdkFilter(fileURLToPath(new URL('../../filters/json-body/assembly/index.ts', import.meta.url)), { target: 'release' }));

const CONFIG = {
  request: { remove: ['password'], set: { 'meta.via': 'sluice' } },
  response: { rename: { internal_id: 'id' }, remove: ['debug'] },
};

interface Seen {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** An upstream that records the request it got and answers with a JSON document in two writes. */
async function upstream(t: TestContext, seen: Seen[]): Promise<number> {
  const up = await startUpstream(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      const answer = JSON.stringify({ internal_id: 42, name: 'ann', debug: { took_ms: 3 } });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer) });
      res.write(answer.slice(0, 10));
      setImmediate(() => res.end(answer.slice(10)));
    });
  });
  return up.port;
}

/** POSTs a JSON body in two chunks (no content-length: chunked) and returns what the client got. */
async function post(url: string, body: unknown) {
  const text = JSON.stringify(body);
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: Readable.from([text.slice(0, 7), text.slice(7)]),
  });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

test('the json-body filter rewrites a JSON request for the upstream and its JSON response for the client', async (t) => {
  const seen: Seen[] = [];
  const port = await upstream(t, seen);
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [port] }],
    filters: wasmFilter({ file, rootId: 'json_body', configuration: JSON.stringify(CONFIG) }),
  }));
  const r = await post(p.url('/users'), { user: 'ann', password: 'hunter2' });
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"id":42,"name":"ann"}');
  assert.equal(r.headers['content-length'], undefined, 'the rewritten response travels chunked');
  assert.equal(r.headers['transfer-encoding'], 'chunked');
  assert.equal(seen.length, 1);
  assert.equal(seen[0].body, '{"user":"ann","meta":{"via":"sluice"}}');
  // Either framing is right: chunked (as Envoy sends it), or a content-length the proxy's upstream
  // codec computed itself because the whole body reached it in one piece (Sluice).
  const length = seen[0].headers['content-length'];
  if (length === undefined) assert.equal(seen[0].headers['transfer-encoding'], 'chunked');
  else assert.equal(length, String(Buffer.byteLength(seen[0].body)));
});

test('with hold_headers and allow_on_headers_stop_iteration both sides carry the exact new content-length', async (t) => {
  const seen: Seen[] = [];
  const port = await upstream(t, seen);
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [port] }],
    filters: wasmFilter({
      file,
      rootId: 'json_body',
      configuration: JSON.stringify({ ...CONFIG, hold_headers: true }),
      extra: '\n                allow_on_headers_stop_iteration: true',
    }),
  }));
  // A request with a content-length of its own (undici sets it for a string body).
  const res = await request(p.url('/users'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'bob', password: 'pw' }) });
  const body = await res.body.text();
  assert.equal(res.statusCode, 200);
  assert.equal(body, '{"id":42,"name":"ann"}');
  assert.equal(res.headers['content-length'], String(Buffer.byteLength(body)));
  assert.equal(seen[0].body, '{"user":"bob","meta":{"via":"sluice"}}');
  assert.equal(seen[0].headers['content-length'], String(Buffer.byteLength(seen[0].body)));
  assert.equal(seen[0].headers['transfer-encoding'], undefined);
});

test('a JSON body just under the default 1 MiB limits is rewritten inside the default sandbox (memory and CPU caps)', async (t) => {
  const items = Array.from({ length: 12000 }, (_, i) => ({ sku: `sku-${i}`, qty: i % 7, price: 12.5, tags: ['a', 'b'], note: 'line\nbreak "q"' }));
  const doc = JSON.stringify({ password: 'x', items });
  assert.ok(doc.length > 900_000 && doc.length < 1024 * 1024, `${doc.length} bytes`);
  let received = '';
  const up = await startUpstream(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received = body;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(doc);
    });
  });
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file, rootId: 'json_body', configuration: JSON.stringify({ request: { remove: ['password'] }, response: { remove: ['password'] } }) }),
  }));
  const expected = JSON.stringify({ items });
  // Twice: garbage from the first pair of documents must not push the VM over its memory cap.
  for (let i = 0; i < 2; i++) {
    const res = await request(p.url('/bulk'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: doc });
    const body = await res.body.text();
    assert.equal(res.statusCode, 200);
    assert.equal(received, expected);
    assert.equal(body, expected);
  }
});
