import { test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { request } from 'undici';
import { startUpstream, eventually } from '../helpers/servers.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';

// Circuit breakers over real sockets: an upstream that holds every request until released, so
// what is in flight, waiting or refused is decided by the thresholds, not by timing.

async function holdingUpstream(t: Parameters<typeof startUpstream>[0]) {
  const held: http.ServerResponse[] = [];
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    held.push(res);
  });
  t.after(() => {
    for (const res of held) if (!res.writableEnded) res.end();
  });
  return { port: up.port, held };
}

async function stat(adminUrl: string, name: string): Promise<number> {
  const text = await (await request(adminUrl)).body.text();
  const m = new RegExp(`^${name.replaceAll('.', '\\.')}: (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

test('max_connections makes requests wait for a connection; max_pending_requests refuses the next with 503 UO', async (t) => {
  const up = await holdingUpstream(t);
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port], extra: '      circuit_breakers:\n        thresholds:\n        - { max_connections: 1, max_pending_requests: 1 }' }],
      accessLogFormat: '%RESPONSE_CODE% %RESPONSE_FLAGS%\n',
    }),
  );
  const first = request(p.url('/1'));
  await eventually(() => (up.held.length === 1 ? true : undefined), 10_000, 'the first request upstream');
  // One connection, busy: the second request waits for it.
  const second = request(p.url('/2'));
  await eventually(async () => ((await stat(p.admin('/stats'), 'cluster.backend.upstream_rq_pending_active')) === 1 ? true : undefined), 10_000, 'a pending request');
  // The third would be a second pending request: refused.
  const third = await request(p.url('/3'));
  assert.equal(third.statusCode, 503);
  assert.equal(third.headers['x-envoy-overloaded'], 'true');
  assert.match(await third.body.text(), /reset reason: overflow/);
  assert.equal(up.held.length, 1);
  up.held[0].end('one');
  await eventually(() => (up.held.length === 2 ? true : undefined), 10_000, 'the waiting request upstream');
  up.held[1].end('two');
  assert.equal(await (await first).body.text(), 'one');
  assert.equal(await (await second).body.text(), 'two');
  const stats = p.admin('/stats');
  assert.equal(await stat(stats, 'cluster.backend.upstream_rq_pending_overflow'), 1);
  // Requests that waited for a connection count as pending, as in Envoy: the first while its
  // connection opened, the second while it was busy; the refused one never waited.
  assert.equal(await stat(stats, 'cluster.backend.upstream_rq_pending_total'), 2);
  assert.equal(await stat(stats, 'cluster.backend.upstream_rq_pending_active'), 0);
  assert.equal(await stat(stats, 'cluster.backend.upstream_cx_total'), 1);
  const log = await p.accessLog(3);
  assert.deepEqual([...log].sort(), ['200 -', '200 -', '503 UO']);
});

test('max_requests bounds the requests in flight to the cluster', async (t) => {
  const up = await holdingUpstream(t);
  const p = await startProxy(
    t,
    proxyYaml({ clusters: [{ name: 'backend', ports: [up.port], extra: '      circuit_breakers:\n        thresholds:\n        - { max_requests: 2 }' }] }),
  );
  const inFlight = [request(p.url('/a')), request(p.url('/b'))];
  await eventually(() => (up.held.length === 2 ? true : undefined), 10_000, 'two requests upstream');
  const refused = await request(p.url('/c'));
  assert.equal(refused.statusCode, 503);
  assert.equal(refused.headers['x-envoy-overloaded'], 'true');
  await refused.body.dump();
  for (const res of up.held) res.end('ok');
  for (const r of await Promise.all(inFlight)) assert.equal(await r.body.text(), 'ok');
  // Room again once they are done.
  const again = request(p.url('/d'));
  await eventually(() => (up.held.length === 3 ? true : undefined), 10_000, 'the next request upstream');
  up.held[2].end('later');
  assert.equal(await (await again).body.text(), 'later');
});
