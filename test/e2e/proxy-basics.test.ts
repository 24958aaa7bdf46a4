import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Client, request } from 'undici';
import { startUpstream, echoHandler, rawRequest, eventually } from '../helpers/servers.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';

test('proxies a GET and adds the headers Envoy adds on both sides', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }));
  const res = await request(p.url('/hello?x=1'), { headers: { 'user-agent': 'sluice-test' } });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['server'], 'envoy');
  assert.match(String(res.headers['x-envoy-upstream-service-time']), /^\d+$/);
  const seen = (await res.body.json()) as { method: string; url: string; headers: Record<string, string> };
  assert.equal(seen.method, 'GET');
  assert.equal(seen.url, '/hello?x=1');
  assert.match(seen.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.equal(seen.headers['x-envoy-expected-rq-timeout-ms'], '15000');
  assert.equal(seen.headers['host'], `127.0.0.1:${p.port}`);
  assert.equal(seen.headers['user-agent'], 'sluice-test');
});

test('keeps a client-supplied x-request-id on internal requests', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }));
  const res = await request(p.url('/'), { headers: { 'x-request-id': 'abc-123' } });
  const seen = (await res.body.json()) as { headers: Record<string, string> };
  assert.equal(seen.headers['x-request-id'], 'abc-123');
});

test('does not forward hop-by-hop headers in either direction', async (t) => {
  const up = await startUpstream(
    t,
    echoHandler((_req, res) => {
      res.setHeader('keep-alive', 'timeout=99');
      res.setHeader('x-drop-me', 'yes');
      res.setHeader('connection', 'x-drop-me');
    }),
  );
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }));
  const raw = await rawRequest(
    p.port,
    'GET / HTTP/1.1\r\nhost: a\r\nconnection: keep-alive, x-secret\r\nx-secret: 1\r\nproxy-connection: keep-alive\r\nte: trailers, deflate\r\n\r\n',
    /\}$/,
  );
  const [head, body] = raw.split('\r\n\r\n');
  const seen = JSON.parse(body.replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n$/, '')) as { headers: Record<string, string> };
  assert.equal(seen.headers['x-secret'], undefined);
  assert.equal(seen.headers['proxy-connection'], undefined);
  assert.equal(seen.headers['te'], 'trailers');
  assert.doesNotMatch(head.toLowerCase(), /x-drop-me/);
  assert.doesNotMatch(head.toLowerCase(), /keep-alive: timeout=99/);
});

test('serves many requests over one keep-alive connection', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }));
  const client = new Client(`http://127.0.0.1:${p.port}`, { pipelining: 1 });
  t.after(() => client.close());
  for (let i = 0; i < 20; i++) {
    const res = await client.request({ path: `/r${i}`, method: 'GET' });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }
  // Stream stats are written as each stream completes, just after its client has the response.
  const stats = await eventually(async () => {
    const body = (await (await request(p.admin('/stats?format=json'))).body.json()) as { stats: Array<{ name: string; value: number }> };
    return body.stats.find((s) => s.name === 'http.ingress.downstream_rq_2xx')?.value === 20 ? body : undefined;
  });
  const get = (n: string) => stats.stats.find((s) => s.name === n)?.value;
  assert.equal(get('http.ingress.downstream_cx_total'), 1);
  assert.equal(get('http.ingress.downstream_rq_total'), 20);
  assert.equal(get('http.ingress.downstream_rq_2xx'), 20);
  assert.equal(get('cluster.backend.upstream_rq_total'), 20);
  assert.equal(get('cluster.backend.upstream_rq_200'), 20);
  assert.equal(get('cluster.backend.upstream_cx_total'), 1);
});

test('answers pipelined requests in order on one connection', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }));
  const reqs = ['/a', '/b', '/c'].map((path) => `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`).join('');
  const raw = await rawRequest(p.port, reqs, /"url":"\/c"/);
  const order = [...raw.matchAll(/"url":"(\/[abc])"/g)].map((m) => m[1]);
  assert.deepEqual(order, ['/a', '/b', '/c']);
  assert.equal((raw.match(/HTTP\/1\.1 200/g) ?? []).length, 3);
});

test('streams chunked and content-length request bodies upstream and response bodies back', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    // Echo the body back as it arrives.
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    req.pipe(res);
  });
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }));
  const payload = Buffer.alloc(300_000, 7);
  // content-length
  let res = await request(p.url('/up'), { method: 'POST', body: payload });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(Buffer.from(await res.body.arrayBuffer()), payload);
  // chunked (an async iterable body has no length)
  async function* chunks() {
    for (let i = 0; i < 30; i++) yield payload.subarray(i * 10_000, (i + 1) * 10_000);
  }
  res = await request(p.url('/up'), { method: 'POST', body: Readable.from(chunks()) });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(Buffer.from(await res.body.arrayBuffer()), payload);
});

test('writes Envoy default-format access log lines with flags and upstream host', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, (dir) =>
    proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], accessLogPath: join(dir, 'access.log') }),
  );
  const res = await request(p.url('/logged'), { headers: { 'user-agent': 'ua-1', 'x-request-id': 'rid-1' } });
  await res.body.dump();
  const [line] = await p.accessLog(1);
  assert.match(
    line,
    new RegExp(
      `^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\] "GET /logged HTTP/1.1" 200 - 0 \\d+ \\d+ \\d+ "-" "ua-1" "rid-1" "127.0.0.1:${p.port}" "127.0.0.1:${up.port}"$`,
    ),
  );
});

test('distributes requests to a second worker when running with concurrency 2', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }), { concurrency: 2 });
  // Fresh connections each time: the kernel spreads them over both workers' sockets.
  for (let i = 0; i < 40; i++) {
    const res = await request(p.url('/'), { reset: true } as never);
    await res.body.dump();
  }
  const text = await eventually(async () => {
    const t = await (await request(p.admin('/stats'))).body.text();
    return /^http\.ingress\.downstream_rq_2xx: 40$/m.test(t) ? t : undefined;
  });
  assert.match(text, /^http\.ingress\.downstream_rq_total: 40$/m);
  assert.match(text, /^server\.concurrency: 2$/m);
  const perWorker = (i: number) => Number(new RegExp(`^listener\\.127\\.0\\.0\\.1_${p.port}\\.worker_${i}\\.downstream_cx_total: (\\d+)$`, 'm').exec(text)?.[1]);
  const w0 = perWorker(0);
  const w1 = perWorker(1);
  assert.equal(w0 + w1, 40);
  assert.ok(w0 > 0 && w1 > 0, `both workers accepted connections (worker_0=${w0}, worker_1=${w1})`);
});
