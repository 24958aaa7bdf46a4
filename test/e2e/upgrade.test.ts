import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { startUpstream, echoHandler, rawRequest } from '../helpers/servers.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

async function wsUpstream(t: Parameters<typeof startUpstream>[0]) {
  const up = await startUpstream(t, echoHandler());
  up.server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    if (head.length) socket.write(head);
    socket.on('data', (d) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
    // Upgraded sockets are half-open capable: close ours when the proxy closes its side.
    socket.on('end', () => socket.end());
  });
  return up;
}

test('passes a WebSocket upgrade through when upgrade_configs allows it', async (t) => {
  const up = await wsUpstream(t);
  const p = await startProxy(
    t,
    proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], hcmExtra: '          upgrade_configs: [{ upgrade_type: websocket }]' }),
  );
  const sock = net.connect(p.port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write(`GET /ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${KEY}\r\n\r\n`);
  let got = '';
  sock.on('data', (d) => (got += d.toString()));
  while (!got.includes('\r\n\r\n')) await once(sock, 'data');
  assert.match(got, /^HTTP\/1\.1 101 /);
  assert.match(got, /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
  got = '';
  sock.write('ping-1');
  while (!got.includes('echo:ping-1')) await once(sock, 'data');
  sock.write('ping-2');
  while (!got.includes('echo:ping-2')) await once(sock, 'data');
  sock.destroy();
});

test('answers 403 to an upgrade the route does not allow', async (t) => {
  const up = await wsUpstream(t);
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }));
  const raw = await rawRequest(
    p.port,
    `GET /ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${KEY}\r\n\r\n`,
  );
  assert.match(raw, /^HTTP\/1\.1 403 /);
});
