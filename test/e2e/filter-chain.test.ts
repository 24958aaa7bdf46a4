import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startUpstream, echoHandler } from '../helpers/servers.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import '../fixtures/filters/test-filters.ts';

const FILTERS = fileURLToPath(new URL('../fixtures/filters/test-filters.ts', import.meta.url));
const T = 'type.googleapis.com/sluice.test.';

/** Envoy's buffer filter entry for `http_filters`. */
function bufferFilter(maxRequestBytes: number): string {
  return `
          - name: envoy.filters.http.buffer
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer
              max_request_bytes: ${maxRequestBytes}`;
}

function filter(name: string, type: string, body = ''): string {
  return `
          - name: ${name}
            typed_config:
              "@type": ${T}${type}${body ? `\n              ${body}` : ''}`;
}

test('runs request callbacks in config order and response callbacks in reverse', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: filter('a', 'Tag', 'tag: a') + filter('b', 'Tag', 'tag: b'),
    }),
    { preload: [FILTERS] },
  );
  const res = await request(p.url('/'));
  const seen = (await res.body.json()) as { headers: Record<string, string> };
  assert.equal(seen.headers['x-tag'], 'a, b');
  assert.equal(res.headers['x-order'], 'b,a');
});

test('a filter that throws fails only its stream: 500 with details filter_error, and the worker serves on', async (t) => {
  let reached = 0;
  const up = await startUpstream(t, (req, res) => {
    reached++;
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: filter('throw', 'Throw'),
      accessLogFormat: '%RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %REQ(X-THROW)%\n',
    }),
    { preload: [FILTERS] },
  );
  for (const where of ['request', 'body', 'response']) {
    const res = await request(p.url('/'), { method: 'POST', headers: { 'x-throw': where }, body: 'hello' });
    assert.equal(res.statusCode, 500, where);
    assert.equal(await res.body.text(), 'Internal Server Error');
  }
  const fine = await request(p.url('/'), { method: 'POST', body: 'hello' });
  assert.equal(fine.statusCode, 200);
  assert.equal(await fine.body.text(), 'ok');
  assert.deepEqual(await p.accessLog(4), ['500 filter_error request', '500 filter_error body', '500 filter_error response', '200 via_upstream -']);
  // Only the response-side failure had let its request reach the upstream.
  assert.equal(reached, 2);
});

test('a filter that stops request headers holds the request until it resumes', async (t) => {
  const up = await startUpstream(t, echoHandler());
  for (const stopAll of [false, true]) {
    const p = await startProxy(
      t,
      proxyYaml({
        clusters: [{ name: 'backend', ports: [up.port] }],
        filters: filter('pause', 'Pause', `delay_ms: 30\n              stop_all: ${stopAll}`) + filter('t', 'Tag', 'tag: after'),
      }),
      { preload: [FILTERS] },
    );
    const res = await request(p.url('/p'), { method: 'POST', body: 'hello body' });
    const seen = (await res.body.json()) as { headers: Record<string, string>; bodyLength: number };
    assert.equal(seen.headers['x-paused'], 'yes', 'the header set before resuming reached the upstream');
    assert.equal(seen.headers['x-tag'], 'after', 'later filters ran after the resume');
    assert.equal(seen.bodyLength, 10, `body held and delivered (stop_all=${stopAll})`);
  }
});

test('a local reply passes back through the response callbacks of every filter', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: filter('outer', 'Tag', 'tag: outer') + filter('deny', 'Deny', 'status: 418') + filter('inner', 'Tag', 'tag: inner'),
    }),
    { preload: [FILTERS] },
  );
  const res = await request(p.url('/'), { headers: { 'x-deny': '1' } });
  assert.equal(res.statusCode, 418);
  assert.equal(await res.body.text(), 'denied by filter');
  assert.equal(res.headers['x-denied'], 'true');
  // Both the filter before and the one after the replying filter see the local reply (Envoy).
  assert.equal(res.headers['x-order'], 'inner,outer');
  assert.equal(res.headers['x-seen-by-outer'], 'test_deny');
  const ok = await request(p.url('/'));
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();
});

test('body callbacks can buffer and rewrite the request body and transform the response body', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { 'x-upstream-cl': String(req.headers['content-length']), 'content-type': 'text/plain' });
      res.end(`echo:${body.toString()}`);
    });
  });
  const p = await startProxy(
    t,
    proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], filters: filter('upper', 'Upper') }),
    { preload: [FILTERS] },
  );
  async function* parts() {
    yield Buffer.from('hello ');
    yield Buffer.from('chunked ');
    yield Buffer.from('world');
  }
  const { Readable } = await import('node:stream');
  const res = await request(p.url('/'), { method: 'POST', body: Readable.from(parts()) });
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'ECHO:HELLO CHUNKED WORLD');
  assert.equal(res.headers['x-upstream-cl'], '19');
});

test('the buffer filter answers 413 when the request body exceeds max_request_bytes', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: bufferFilter(1000),
    }),
  );
  const small = await request(p.url('/'), { method: 'POST', body: Buffer.alloc(500, 1) });
  assert.equal(((await small.body.json()) as { bodyLength: number }).bodyLength, 500);
  const big = await request(p.url('/'), { method: 'POST', body: Buffer.alloc(5000, 1) });
  assert.equal(big.statusCode, 413);
  await big.body.dump();
});

test('the buffer filter raises the stream buffer limit to max_request_bytes', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: bufferFilter(3000000),
    }),
  );
  // 2 MB: above the listener's 1 MiB default buffer limit, below max_request_bytes.
  const res = await request(p.url('/'), { method: 'POST', body: Buffer.alloc(2_000_000, 1) });
  assert.equal(res.statusCode, 200);
  assert.equal(((await res.body.json()) as { bodyLength: number }).bodyLength, 2_000_000);
});
