import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'undici';
import { startUpstream, echoHandler, rawRequest, eventually } from '../helpers/servers.ts';
import { proxyYaml, startProxy, type ProxyUnderTest } from '../helpers/proxy.ts';

// HCM and route timeouts (docs/envoy-subset.md §C.6). Each test asserts the status, flag and
// details a timeout produces, never how long it took.

const FORMAT = '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(:PATH)%\n';

async function stat(p: ProxyUnderTest, name: string): Promise<number | undefined> {
  const body = (await (await request(p.admin('/stats?format=json'))).body.json()) as { stats: Array<{ name: string; value: number }> };
  return body.stats.find((s) => s.name === name)?.value;
}

/** An upstream that records each request's headers and answers only what `answer` says to. */
async function silentUpstream(t: Parameters<typeof startUpstream>[0], answer: (path: string) => boolean = () => false) {
  const seen: IncomingHttpHeaders[] = [];
  const up = await startUpstream(t, (req, res) => {
    seen.push(req.headers);
    req.resume();
    if (answer(req.url ?? '')) req.on('end', () => res.end('ok'));
  });
  return { port: up.port, seen };
}

/**
 * A raw connection that collects what it receives and remembers when the peer closed it. Tests
 * destroy it themselves once done: the proxy (stopped first by `t.after`) would wait for it to drain.
 */
async function rawConnection(t: { after(fn: () => void): void }, port: number) {
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  await once(sock, 'connect');
  let got = '';
  let closed = false;
  sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
  sock.on('error', () => undefined);
  sock.on('close', () => (closed = true));
  return {
    sock,
    received: () => got,
    closed: () => closed,
    waitClosed: (what: string, timeoutMs = 5000) => eventually(() => (closed ? true : undefined), timeoutMs, what),
  };
}

test('answers 504 "stream timeout" with flag SI when a complete request sees no activity for stream_idle_timeout', async (t) => {
  const up = await silentUpstream(t);
  const p = await startProxy(t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `              - match: { prefix: "/" }\n                route: { cluster: backend, timeout: 0s }`,
      hcmExtra: '          stream_idle_timeout: 0.3s',
      accessLogFormat: FORMAT,
    }),
  );
  const res = await request(p.url('/hang'));
  // Envoy: maybeRequestTimeoutCode — 504 once the request was fully received, else 408.
  assert.equal(res.statusCode, 504);
  assert.equal(await res.body.text(), 'stream timeout');
  assert.deepEqual(await p.accessLog(1), ['504 SI stream_idle_timeout /hang']);
  assert.equal(await stat(p, 'http.ingress.downstream_rq_idle_timeout'), 1);
});

test('answers 408 "stream timeout" with flag SI when the request body stalls past stream_idle_timeout', async (t) => {
  const up = await silentUpstream(t);
  const p = await startProxy(t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `              - match: { prefix: "/" }\n                route: { cluster: backend, timeout: 0s }`,
      hcmExtra: '          stream_idle_timeout: 0.3s',
      accessLogFormat: FORMAT,
    }),
  );
  const c = await rawConnection(t, p.port);
  c.sock.write('POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly a part');
  await eventually(() => (/\r\n\r\nstream timeout$/.test(c.received()) ? true : undefined), 5000, 'a 408 reply');
  assert.match(c.received(), /^HTTP\/1\.1 408 /);
  assert.deepEqual(await p.accessLog(1), ['408 SI stream_idle_timeout /upload']);
  // The rest of the body will never be read: HTTP/1 cannot reuse the connection (Envoy closes it).
  assert.match(c.received(), /\r\nconnection: close\r\n/i);
  await c.waitClosed('the proxy to close the connection');
});

test('resets the downstream with flag SI when a streaming response stalls after its headers past stream_idle_timeout', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: first\n\n');
    // ... and nothing more: the stream goes idle.
  });
  const p = await startProxy(t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `              - match: { prefix: "/" }\n                route: { cluster: backend, timeout: 0s }`,
      hcmExtra: '          stream_idle_timeout: 0.3s',
      accessLogFormat: FORMAT,
    }),
  );
  const res = await request(p.url('/events'));
  assert.equal(res.statusCode, 200);
  await assert.rejects(res.body.text());
  const [line] = await p.accessLog(1);
  assert.match(line, /^200 SI \S+ \/events$/);
  assert.equal(await stat(p, 'http.ingress.downstream_rq_idle_timeout'), 1);
});

test('keeps a slowly uploading stream alive while request bytes keep arriving within stream_idle_timeout', async (t) => {
  let received = 0;
  const up = await startUpstream(t, (req, res) => {
    req.on('data', (c: Buffer) => (received += c.length));
    req.on('end', () => res.end(`got ${received}`));
  });
  const p = await startProxy(t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `              - match: { prefix: "/" }\n                route: { cluster: backend, timeout: 0s }`,
      hcmExtra: '          stream_idle_timeout: 2s',
      accessLogFormat: FORMAT,
    }),
  );
  const CHUNKS = 24;
  const c = await rawConnection(t, p.port);
  c.sock.write(`POST /trickle HTTP/1.1\r\nhost: x\r\ncontent-length: ${CHUNKS}\r\n\r\n`);
  // One byte every 100 ms: the whole upload (24 × 100 ms) outlasts the 2 s idle timeout, and no
  // gap comes near it, even with the few hundred ms a busy machine can add to one round trip.
  // Each byte is sent once the upstream has seen the previous one, so the proxy is not buffering.
  for (let i = 0; i < CHUNKS; i++) {
    c.sock.write('x');
    const answered = () => c.closed() || c.received() !== '';
    await eventually(() => (received === i + 1 || answered() ? true : undefined), 5000, `byte ${i + 1} upstream`);
    if (answered()) break; // the proxy gave up early; the assertions below say how
    await new Promise((r) => setTimeout(r, 100)); // pacing the client, not waiting for the proxy
  }
  await eventually(() => (/\r\n\r\n/.test(c.received()) || c.closed() ? true : undefined), 5000, 'a response');
  assert.match(c.received(), /^HTTP\/1\.1 200 /);
  assert.match(c.received(), /got 24$/);
  c.sock.destroy();
  assert.deepEqual(await p.accessLog(1), ['200 - via_upstream /trickle']);
});

test('answers 408 "request timeout" when the request body is not complete within request_timeout', async (t) => {
  const up = await silentUpstream(t);
  const p = await startProxy(t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      hcmExtra: '          request_timeout: 0.3s',
      accessLogFormat: FORMAT,
    }),
  );
  const c = await rawConnection(t, p.port);
  c.sock.write('POST /partial HTTP/1.1\r\nhost: x\r\ncontent-length: 50\r\n\r\n0123456789');
  await eventually(() => (/\r\n\r\nrequest timeout$/.test(c.received()) ? true : undefined), 5000, 'a 408 reply');
  assert.match(c.received(), /^HTTP\/1\.1 408 /);
  assert.deepEqual(await p.accessLog(1), ['408 - request_overall_timeout /partial']);
  assert.equal(await stat(p, 'http.ingress.downstream_rq_timeout'), 1);
  assert.match(c.received(), /\r\nconnection: close\r\n/i);
  await c.waitClosed('the proxy to close the connection');
});

test('answers 408 and closes the connection when the request headers are not complete within request_headers_timeout', async (t) => {
  const up = await silentUpstream(t, () => true);
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], hcmExtra: '          request_headers_timeout: 0.3s' }));
  // rawRequest resolves when the proxy closes the connection.
  const raw = await rawRequest(p.port, 'GET /never-finished HTTP/1.1\r\nhost: x\r\nx-partial: ');
  assert.match(raw, /^HTTP\/1\.1 408 /);
  assert.match(raw, /\r\nconnection: close\r\n/i);
  assert.equal(up.seen.length, 0);
});

test('closes an idle keep-alive connection after common_http_protocol_options.idle_timeout and counts it', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      hcmExtra: '          common_http_protocol_options:\n            idle_timeout: 0.3s',
    }),
  );
  const c = await rawConnection(t, p.port);
  c.sock.write('GET /once HTTP/1.1\r\nhost: x\r\n\r\n');
  await eventually(() => (/"bodyLength":0\}/.test(c.received()) ? true : undefined), 5000, 'the response');
  assert.match(c.received(), /^HTTP\/1\.1 200 /);
  // The response keeps the connection; the idle timeout closes it later. (Not `closed() === false`
  // here: a test process stalled by a busy machine for as long as the idle timeout sees the
  // response and the close in the same turn.)
  // (HTTP/1.1 keep-alive is the default: Envoy sends no `connection` header on a kept connection.)
  assert.doesNotMatch(c.received(), /\r\nconnection: close\r\n/i);
  await c.waitClosed('the proxy to close the idle connection');
  assert.equal(await stat(p, 'http.ingress.downstream_cx_idle_timeout'), 1);
});

test('closes a connection that never sends a request after idle_timeout', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      hcmExtra: '          common_http_protocol_options:\n            idle_timeout: 0.3s',
    }),
  );
  const c = await rawConnection(t, p.port);
  await c.waitClosed('the proxy to close a connection that stayed silent');
  assert.equal(c.received(), '');
});

test('disables the route timeout with timeout: 0s and sends no x-envoy-expected-rq-timeout-ms', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const seen: Record<string, IncomingHttpHeaders> = {};
  const up = await startUpstream(t, (req, res) => {
    seen[req.url ?? ''] = req.headers;
    req.resume();
    if (req.url === '/unbounded') void released.then(() => res.end('finally'));
    // /bounded never answers.
  });
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: [
        `              - match: { prefix: "/bounded" }\n                route: { cluster: backend, timeout: 0.2s }`,
        `              - match: { prefix: "/unbounded" }\n                route: { cluster: backend, timeout: 0s }`,
      ].join('\n'),
    }),
  );
  const unbounded = request(p.url('/unbounded'));
  await eventually(() => (seen['/unbounded'] ? true : undefined), 5000, 'the /unbounded request upstream');
  // A request on a 0.2 s route started after /unbounded times out while /unbounded still waits.
  const bounded = await request(p.url('/bounded'));
  assert.equal(bounded.statusCode, 504);
  await bounded.body.dump();
  release();
  const res = await unbounded;
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'finally');
  assert.equal(seen['/unbounded']['x-envoy-expected-rq-timeout-ms'], undefined);
  assert.equal(seen['/bounded']['x-envoy-expected-rq-timeout-ms'], '200');
});

test('honours x-envoy-upstream-rq-timeout-ms from an internal client over the route timeout (504 UT)', async (t) => {
  const up = await silentUpstream(t);
  const p = await startProxy(t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `              - match: { prefix: "/" }\n                route: { cluster: backend, timeout: 20s }`,
      hcmExtra: '          use_remote_address: true',
      accessLogFormat: FORMAT,
    }),
  );
  const res = await request(p.url('/override'), { headers: { 'x-envoy-upstream-rq-timeout-ms': '150' } });
  assert.equal(res.statusCode, 504);
  assert.equal(await res.body.text(), 'upstream request timeout');
  assert.deepEqual(await p.accessLog(1), ['504 UT upstream_response_timeout /override']);
  assert.equal(up.seen.length, 1);
  assert.equal(up.seen[0]['x-envoy-expected-rq-timeout-ms'], '150');
  assert.equal(up.seen[0]['x-envoy-upstream-rq-timeout-ms'], undefined);
  assert.equal(up.seen[0]['x-envoy-internal'], 'true');
});

test('ignores x-envoy-upstream-rq-timeout-ms from an external client', async (t) => {
  const up = await silentUpstream(t, () => true);
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `              - match: { prefix: "/" }\n                route: { cluster: backend, timeout: 20s }`,
      // One trusted hop: the client is whoever that hop says, here a public address.
      hcmExtra: '          use_remote_address: true\n          xff_num_trusted_hops: 1',
    }),
  );
  const res = await request(p.url('/ext'), { headers: { 'x-forwarded-for': '203.0.113.9', 'x-envoy-upstream-rq-timeout-ms': '1' } });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.equal(up.seen[0]['x-envoy-expected-rq-timeout-ms'], '20000');
  assert.equal(up.seen[0]['x-envoy-upstream-rq-timeout-ms'], undefined);
  assert.equal(up.seen[0]['x-envoy-external-address'], '203.0.113.9');
});
