import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { grpcFrame, grpcMessages } from '../helpers/grpc-frames.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { echoHandler, startUpstream } from '../helpers/servers.ts';
import { buildFixtureInto, wasmFilter } from '../helpers/wasm.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-grpc-e2e-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const guest = await buildFixtureInto(dir, 'grpc.ts');

/** A gRPC server (h2c) with test.Echo/Echo (unary echo, or an error for /fail) and test.Echo/Chat (echoes each message upper-cased). */
async function startGrpc(t: TestContext): Promise<number> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const msgs = grpcMessages(Buffer.concat(chunks));
      if (headers[':path'] === '/test.Echo/Echo' && msgs[0] === '/fail') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '7', 'grpc-message': 'not%20allowed' }, { endStream: true });
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      const replies = headers[':path'] === '/test.Echo/Chat' ? msgs.map((m) => m.toUpperCase()) : [`echo:${msgs[0]}`];
      stream.end(Buffer.concat(replies.map((r) => grpcFrame(r))));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

test('a unary gRPC call from a filter delivers the reply to proxy_on_grpc_receive', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const grpc = await startGrpc(t);
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }, { name: 'grpc', ports: [grpc] }],
    filters: wasmFilter({ file: guest, rootId: 'unary' }),
  }));
  const res = await fetch(`http://127.0.0.1:${p.port}/hello`);
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(await res.text()).headers['x-grpc-reply'], 'echo:/hello');
});

test('a failed unary gRPC call reaches proxy_on_grpc_close with the status and message', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const grpc = await startGrpc(t);
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }, { name: 'grpc', ports: [grpc] }],
    filters: wasmFilter({ file: guest, rootId: 'unary' }),
  }));
  const res = await fetch(`http://127.0.0.1:${p.port}/fail`);
  assert.equal(JSON.parse(await res.text()).headers['x-grpc-status'], '7 not allowed');
});

test('a gRPC stream delivers initial metadata, each message, trailing metadata and close in order', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const grpc = await startGrpc(t);
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }, { name: 'grpc', ports: [grpc] }],
    filters: wasmFilter({ file: guest, rootId: 'stream' }),
  }));
  const res = await fetch(`http://127.0.0.1:${p.port}/`);
  const h = JSON.parse(await res.text()).headers;
  assert.equal(h['x-grpc-events'], 'initial_metadata,message:ONE,message:TWO,trailing_metadata');
  assert.equal(h['x-grpc-status'], '0'); // status 0 with an empty message (the trailing space is trimmed by HTTP)
});

test('a gRPC call to an unknown cluster is refused', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: guest, rootId: 'unary' }),
  }));
  const res = await fetch(`http://127.0.0.1:${p.port}/x`);
  assert.equal(res.status, 500);
  assert.equal(await res.text(), 'grpc call refused: 4');
});
