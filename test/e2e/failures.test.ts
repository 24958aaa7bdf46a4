import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { request } from 'undici';
import { startUpstream, echoHandler, rawRequest, closedPort, eventually } from '../helpers/servers.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';

const FORMAT = '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(:PATH)%\n';

async function stat(adminUrl: string, name: string): Promise<number | undefined> {
  const body = (await (await request(`${adminUrl}/stats?format=json`)).body.json()) as { stats: Array<{ name: string; value: number }> };
  return body.stats.find((s) => s.name === name)?.value;
}

test('answers 404 with flag NR when no route matches', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `              - match: { prefix: "/api" }\n                route: { cluster: backend }`,
      accessLogFormat: FORMAT,
    }),
  );
  const res = await request(p.url('/nope'));
  assert.equal(res.statusCode, 404);
  assert.equal(res.headers['server'], 'envoy');
  await res.body.dump();
  assert.deepEqual(await p.accessLog(1), ['404 NR route_not_found /nope']);
  assert.equal(await stat(p.admin(''), 'http.ingress.no_route'), 1);
  assert.equal(await stat(p.admin(''), 'http.ingress.downstream_rq_4xx'), 1);
});

test('answers 503 with flag UF when the upstream refuses the connection', async (t) => {
  const port = await closedPort();
  const p = await startProxy(t, (dir) =>
    proxyYaml({ clusters: [{ name: 'backend', ports: [port] }], accessLogPath: join(dir, 'access.log'), accessLogFormat: FORMAT }),
  );
  const res = await request(p.url('/down'));
  assert.equal(res.statusCode, 503);
  const body = await res.body.text();
  assert.match(body, /^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure/);
  const [line] = await p.accessLog(1);
  assert.match(line, /^503 UF upstream_reset_before_response_started\{remote_connection_failure\} \/down$/);
  assert.equal(await stat(p.admin(''), 'cluster.backend.upstream_cx_connect_fail'), 1);
  assert.equal(await stat(p.admin(''), 'cluster.backend.upstream_rq_503'), 1);
});

test('answers 504 with flag UT when the route timeout expires, and counts upstream_rq_timeout', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    // Never answers /slow; closes when the proxy gives up.
    if (req.url !== '/slow') res.end('ok');
  });
  // Only /slow has the short timeout: /fast, on the same cluster, keeps the default (15 s), so a
  // slow machine cannot turn it into a 504 too.
  const p = await startProxy(t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: [
        `              - match: { prefix: "/slow" }\n                route: { cluster: backend, timeout: 0.2s }`,
        `              - match: { prefix: "/" }\n                route: { cluster: backend }`,
      ].join('\n'),
      accessLogFormat: FORMAT,
    }),
  );
  const res = await request(p.url('/slow'));
  assert.equal(res.statusCode, 504);
  assert.equal(await res.body.text(), 'upstream request timeout');
  assert.deepEqual(await p.accessLog(1), ['504 UT upstream_response_timeout /slow']);
  assert.equal(await stat(p.admin(''), 'cluster.backend.upstream_rq_timeout'), 1);
  // The pooled connection was released: the next request on the same cluster works.
  const ok = await request(p.url('/fast'));
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();
});

test('answers 503 with flag UC when the upstream closes before responding', async (t) => {
  const up = await startUpstream(t, (req) => {
    req.socket.end();
  });
  const p = await startProxy(t, (dir) =>
    proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], accessLogPath: join(dir, 'access.log'), accessLogFormat: FORMAT }),
  );
  const res = await request(p.url('/close'));
  assert.equal(res.statusCode, 503);
  assert.match(await res.body.text(), /reset reason: connection termination$/);
  assert.deepEqual(await p.accessLog(1), ['503 UC upstream_reset_before_response_started{connection_termination} /close']);
});

test('answers 503 with flag UR when the upstream resets the connection', async (t) => {
  const up = await startUpstream(t, (req) => {
    req.socket.resetAndDestroy();
  });
  const p = await startProxy(t, (dir) =>
    proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], accessLogPath: join(dir, 'access.log'), accessLogFormat: FORMAT }),
  );
  const res = await request(p.url('/rst'));
  assert.equal(res.statusCode, 503);
  await res.body.dump();
  const [line] = await p.accessLog(1);
  assert.match(line, /^503 (UR|UC) /);
});

test('resets the downstream when the upstream dies after sending headers', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': '1000' });
    res.write('partial');
    setImmediate(() => res.socket?.destroy());
  });
  const p = await startProxy(t, (dir) =>
    proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], accessLogPath: join(dir, 'access.log'), accessLogFormat: FORMAT }),
  );
  const res = await request(p.url('/half'));
  assert.equal(res.statusCode, 200);
  await assert.rejects(res.body.text());
  const [line] = await p.accessLog(1);
  assert.match(line, /^200 (UC|UR) upstream_reset_after_response_started/);
});

test('answers 431 when request headers exceed max_request_headers_kb', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      hcmExtra: '          max_request_headers_kb: 2',
      accessLogFormat: FORMAT,
    }),
  );
  const raw = await rawRequest(p.port, `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(4000)}\r\n\r\n`);
  assert.match(raw, /^HTTP\/1\.1 431 /);
  const [line] = await p.accessLog(1);
  assert.match(line, /^431 DPE /);
});

test('answers 400 to a malformed request and keeps serving others', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }));
  const raw = await rawRequest(p.port, 'GET / HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 400 /);
  const raw2 = await rawRequest(p.port, 'GARBAGE\r\n\r\n');
  assert.match(raw2, /^HTTP\/1\.1 400 /);
  const noHost = await rawRequest(p.port, 'GET / HTTP/1.1\r\n\r\n', /\r\n\r\n/);
  assert.match(noHost, /^HTTP\/1\.1 400 /);
  const res = await request(p.url('/'));
  assert.equal(res.statusCode, 200);
  await res.body.dump();
});

test('logs DC and aborts the upstream request when the client disconnects mid-response', async (t) => {
  let upstreamClosed!: () => void;
  const closed = new Promise<void>((r) => (upstreamClosed = r));
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first chunk');
    res.on('close', () => upstreamClosed());
  });
  const p = await startProxy(t, (dir) =>
    proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], accessLogPath: join(dir, 'access.log'), accessLogFormat: FORMAT }),
  );
  const sock = net.connect(p.port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write('GET /stream HTTP/1.1\r\nhost: x\r\n\r\n');
  await once(sock, 'data');
  sock.destroy();
  await closed; // the proxy aborted its upstream request, freeing the pooled connection
  const [line] = await p.accessLog(1);
  assert.match(line, /^200 DC /);
  await eventually(async () => ((await stat(p.admin(''), 'cluster.backend.upstream_rq_active')) === 0 ? true : undefined));
});

test('answers 503 NC when the route names a cluster that is missing (cluster_header)', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `              - match: { prefix: "/" }\n                route: { cluster_header: x-cluster }`,
      accessLogFormat: FORMAT,
    }),
  );
  const res = await request(p.url('/x'), { headers: { 'x-cluster': 'nope' } });
  assert.equal(res.statusCode, 503);
  await res.body.dump();
  const ok = await request(p.url('/y'), { headers: { 'x-cluster': 'backend' } });
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();
  const lines = await p.accessLog(2);
  assert.equal(lines[0], '503 NC cluster_not_found /x');
});
