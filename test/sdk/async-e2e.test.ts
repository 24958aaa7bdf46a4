import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRPC_RESPONSE_HEADERS, grpcFrame, grpcMessages } from '../helpers/grpc-frames.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { buildSdkFixtureInto } from '../helpers/sdk-build.ts';
import { bodyEchoHandler, echoHandler, eventually, startUpstream } from '../helpers/servers.ts';
import { wasmFilter } from '../helpers/wasm.ts';

/**
 * SDK features driven by the event loop rather than by a request: ticks, shared-queue delivery,
 * gRPC call and stream responses (delivered to the originating stream), plus a smoke run of the
 * kitchen-sink filter that touches the rest of the API. Real Sluice, real sockets.
 */
const dir = mkdtempSync(join(tmpdir(), 'sluice-sdk-async-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const build = (name: string): Promise<string> => buildSdkFixtureInto(dir, name);

const ticker = await build('ticker');
const sink = await build('kitchen-sink');

async function get(port: number, path: string, init: RequestInit = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

// ---- a tiny gRPC server (node:http2, hand-written framing) ----------------------------------


async function startGrpc(t: TestContext): Promise<number> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const got = grpcMessages(Buffer.concat(chunks));
      const path = headers[':path'];
      if (path === '/sink.Echo/Say') {
        stream.respond(GRPC_RESPONSE_HEADERS, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(grpcFrame(`pong:${got.join(',')}:${headers['x-md'] ?? ''}`));
      } else if (path === '/sink.Echo/Chat') {
        stream.respond({ ...GRPC_RESPONSE_HEADERS, 'x-initial': 'hi' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-trailer': 'done' }));
        stream.end(Buffer.concat(got.map((m) => grpcFrame(`echo-${m}`))));
      } else {
        stream.respond({ ...GRPC_RESPONSE_HEADERS, 'grpc-status': '9', 'grpc-message': 'nope' }, { endStream: true });
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

// ---- tests --------------------------------------------------------------------------------

test('ticks set by an SDK root context enqueue to a shared queue that its onQueueReady drains', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: ticker, rootId: 'ticker' }),
  }));
  // Five ticks, then the period is set to 0: the drained count settles at exactly 5.
  const settled = await eventually(async () => {
    const r = await get(p.port, '/');
    return r.headers.get('x-dequeued') === '5' ? r : undefined;
  }, 10_000, 'five dequeued ticks');
  assert.equal(settled.status, 200);
});

test('a gRPC call made with the SDK delivers its reply to the originating stream, which resumes', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const grpcPort = await startGrpc(t);
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }, { name: 'grpc', ports: [grpcPort] }],
    filters: wasmFilter({ file: sink, rootId: 'sink', configuration: 'grpc' }),
  }));
  const [ok, failed] = await Promise.all([
    get(p.port, '/unary', { headers: { 'x-sink': '1' } }),
    get(p.port, '/unary', { headers: { 'x-sink': '1', 'x-grpc-method': 'Fail' } }),
  ]);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('x-grpc'), 'ok:pong:ping:1');
  assert.equal(failed.status, 200);
  assert.equal(failed.headers.get('x-grpc'), 'status:9:nope');
});

test('a gRPC stream opened with the SDK delivers metadata, messages and close to its handler', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const grpcPort = await startGrpc(t);
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }, { name: 'grpc', ports: [grpcPort] }],
    filters: wasmFilter({ file: sink, rootId: 'sink', configuration: 'grpc' }),
  }));
  const r = await get(p.port, '/stream', { headers: { 'x-sink': '1' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-grpc'), 'stream:hi:echo-a,echo-b:done:0');
});

test('the kitchen-sink filter runs: pairs, foreign functions, JSON, log level, time, Math.random, body edits', async (t) => {
  const up = await startUpstream(t, bodyEchoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: sink, rootId: 'sink' }),
  }));
  const r = await get(p.port, '/x', { method: 'POST', body: 'body', headers: { 'x-sink': '1' } });
  assert.equal(r.status, 200);
  assert.equal(r.body, '<body>');
  const h = (n: string) => r.headers.get(n);
  assert.equal(h('x-pairs-roundtrip'), '2:ok');
  assert.equal(h('x-foreign'), 'hello hello hello');
  assert.equal(h('x-missing-foreign'), 'null');
  assert.equal(h('x-log-level-ok'), 'yes');
  assert.equal(h('x-now-ok'), 'yes');
  assert.equal(h('x-random-ok'), 'yes');
  assert.equal(h('x-json'), 'two');
  assert.equal(h('x-headers-bytes'), 'yes');
  assert.equal(h('x-pending-calls'), '0');
  assert.equal(h('x-mtls'), 'false');
  assert.equal(h('x-grpc'), '(none)');
  const untouched = await get(p.port, '/x', { method: 'POST', body: 'body' });
  assert.equal(untouched.body, 'body');
});
