import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { request } from 'undici';
import { startUpstream, echoHandler, eventually } from '../helpers/servers.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';

async function stat(adminUrl: string, name: string): Promise<number | undefined> {
  const body = (await (await request(`${adminUrl}/stats?format=json`)).body.json()) as { stats: Array<{ name: string; value: number }> };
  return body.stats.find((s) => s.name === name)?.value;
}

function connect(port: number) {
  const sock = net.connect(port, '127.0.0.1');
  let got = '';
  let closed = false;
  sock.on('data', (d) => (got += d.toString('latin1')));
  sock.on('close', () => (closed = true));
  sock.on('error', () => undefined);
  return { sock, received: () => got, closed: () => closed };
}

test('closes an idle keep-alive connection when max_connection_duration passes', async (t) => {
  const up = await startUpstream(t, echoHandler());
  // The duration runs from the connect, and the first response must come back well within it
  // (else it is the in-flight case below, with connection: close): on a loaded machine a first
  // request through the proxy can take a few hundred ms, so the duration is a couple of seconds.
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      hcmExtra: '          common_http_protocol_options: { max_connection_duration: 2s }',
    }),
  );
  const c = connect(p.port);
  await once(c.sock, 'connect');
  c.sock.write('GET /first HTTP/1.1\r\nhost: x\r\n\r\n');
  await eventually(() => (/"url":"\/first"/.test(c.received()) ? true : undefined), 5000, 'the first response');
  assert.doesNotMatch(c.received(), /connection: close/i);
  await eventually(() => (c.closed() ? true : undefined), 15_000, 'the proxy to close the connection');
  assert.equal(await stat(p.admin(''), 'http.ingress.downstream_cx_max_duration_reached'), 1);
});

test('lets a request in flight at max_connection_duration finish with connection: close', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let arrived!: () => void;
  const inFlight = new Promise<void>((r) => (arrived = r));
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    arrived();
    void gate.then(() => res.end('slow done'));
  });
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      hcmExtra: '          common_http_protocol_options: { max_connection_duration: 0.2s }',
    }),
  );
  const c = connect(p.port);
  await once(c.sock, 'connect');
  c.sock.write('GET /slow HTTP/1.1\r\nhost: x\r\n\r\n');
  await inFlight;
  await eventually(async () => ((await stat(p.admin(''), 'http.ingress.downstream_cx_max_duration_reached')) === 1 ? true : undefined));
  release();
  await eventually(() => (c.closed() ? true : undefined), 5000, 'the connection to close after the response');
  assert.match(c.received(), /^HTTP\/1\.1 200 /);
  assert.match(c.received(), /\r\nconnection: close\r\n/i);
  assert.match(c.received(), /slow done$/);
});
