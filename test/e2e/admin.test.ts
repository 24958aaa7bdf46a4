import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Client, request } from 'undici';
import { startUpstream, echoHandler, closedPort, eventually } from '../helpers/servers.ts';
import { proxyYaml, startProxy, type ProxyUnderTest } from '../helpers/proxy.ts';
import { runCli } from '../helpers/cli.ts';

// Envoy's admin API against a running Sluice (docs/envoy-subset.md §C.3, §C.4).

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

async function get(url: string, method: 'GET' | 'POST' = 'GET'): Promise<Reply> {
  const res = await request(url, { method });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

/** One keep-alive connection to the proxy (undici's global agent may open a second one). */
function connection(t: { after(fn: () => Promise<void>): void }, p: ProxyUnderTest): (path: string) => Promise<Reply> {
  const client = new Client(`http://127.0.0.1:${p.port}`, { pipelining: 1 });
  t.after(() => client.close());
  return async (path) => {
    const res = await client.request({ path, method: 'GET' });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };
}

/** One request on its own connection, so that with several workers the kernel spreads them. */
async function fresh(p: ProxyUnderTest, path: string): Promise<Reply> {
  const client = new Client(`http://127.0.0.1:${p.port}`);
  try {
    const res = await client.request({ path, method: 'GET' });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  } finally {
    await client.close();
  }
}

type StatsJson = { stats: Array<{ name?: string; value?: number; histograms?: HistogramsJson }> };
type HistogramsJson = {
  supported_quantiles: number[];
  computed_quantiles: Array<{ name: string; values: Array<{ interval: number | null; cumulative: number | null }> }>;
};

async function statsJson(p: ProxyUnderTest, query = ''): Promise<StatsJson> {
  const r = await get(p.admin(`/stats?format=json${query}`));
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as StatsJson;
}

async function statValues(p: ProxyUnderTest): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const s of (await statsJson(p)).stats) if (s.name !== undefined) out.set(s.name, s.value as number);
  return out;
}

/**
 * Stats once `want` is reached (or the last read after 5 s, for the assertion to report): a
 * stream's completion counters (`downstream_rq_2xx`, ...) are written when the proxy finishes the
 * stream, which can be just after the client has read the whole response.
 */
async function settledStats(p: ProxyUnderTest, want: Record<string, number>): Promise<Map<string, number>> {
  let last = new Map<string, number>();
  try {
    return await eventually(async () => {
      last = await statValues(p);
      return Object.entries(want).every(([k, v]) => last.get(k) === v) ? last : undefined;
    }, 5000);
  } catch {
    return last;
  }
}

/** The `listener.<address>.` segment Sluice uses for the proxy's listener. */
function listenerStat(p: ProxyUnderTest): string {
  return `127.0.0.1_${p.port}`;
}

/** Parses Prometheus text into `series{labels}` → value. */
function promSeries(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

async function twoHostProxy(t: Parameters<typeof startUpstream>[0], concurrency = 1, yamlEdit = (y: string) => y) {
  const a = await startUpstream(t, echoHandler());
  const b = await startUpstream(t, echoHandler());
  const yaml = proxyYaml({ clusters: [{ name: 'backend', ports: [a.port, b.port] }] }).replace(
    'admin:',
    'node:\n  id: sluice-node-7\n  cluster: edge-fleet\nadmin:',
  );
  const p = await startProxy(t, yamlEdit(yaml), { concurrency });
  return { p, ports: [a.port, b.port] };
}

test('answers /ready with 200 LIVE and /server_info with state LIVE and the node from the config', async (t) => {
  const { p } = await twoHostProxy(t);
  const ready = await get(p.admin('/ready'));
  assert.equal(ready.status, 200);
  assert.equal(ready.body.trim(), 'LIVE');

  const info = await get(p.admin('/server_info'));
  assert.equal(info.status, 200);
  assert.match(String(info.headers['content-type']), /^application\/json/);
  const body = JSON.parse(info.body) as { state: string; node: { id: string; cluster: string }; command_line_options: object };
  assert.equal(body.state, 'LIVE');
  assert.equal(body.node.id, 'sluice-node-7');
  assert.equal(body.node.cluster, 'edge-fleet');
  assert.equal(typeof body.command_line_options, 'object');
});

test('dumps bootstrap, clusters, listeners and routes on /config_dump', async (t) => {
  const { p } = await twoHostProxy(t);
  const r = await get(p.admin('/config_dump'));
  assert.equal(r.status, 200);
  const dump = JSON.parse(r.body) as { configs: Array<{ '@type': string }> };
  const byType = new Map<string, unknown>(dump.configs.map((c) => [c['@type'].replace('type.googleapis.com/envoy.admin.v3.', ''), c]));
  for (const type of ['BootstrapConfigDump', 'ClustersConfigDump', 'ListenersConfigDump', 'RoutesConfigDump']) {
    assert.ok(byType.has(type), `missing ${type} in ${[...byType.keys()].join(', ')}`);
  }
  const clusters = byType.get('ClustersConfigDump') as { static_clusters: Array<{ cluster: { name: string } }> };
  assert.deepEqual(clusters.static_clusters.map((c) => c.cluster.name), ['backend']);
  const listeners = byType.get('ListenersConfigDump') as { static_listeners: Array<{ listener: { name: string } }> };
  assert.deepEqual(listeners.static_listeners.map((l) => l.listener.name), ['test_listener']);
  const routes = byType.get('RoutesConfigDump') as { static_route_configs: Array<{ route_config: { name: string } }> };
  assert.deepEqual(routes.static_route_configs.map((rc) => rc.route_config.name), ['test_routes']);
  const boot = byType.get('BootstrapConfigDump') as { bootstrap: { node: { id: string } } };
  assert.equal(boot.bootstrap.node.id, 'sluice-node-7');

  const only = JSON.parse((await get(p.admin('/config_dump?resource=static_clusters'))).body) as { configs: Array<{ cluster: { name: string } }> };
  assert.deepEqual(only.configs.map((c) => c.cluster.name), ['backend']);
});

test('lists both hosts of a STATIC cluster on /clusters with per-host counters after traffic', async (t) => {
  const { p, ports } = await twoHostProxy(t);
  for (let i = 0; i < 4; i++) {
    const r = await get(p.url(`/r${i}`));
    assert.equal(r.status, 200);
  }
  const r = await get(p.admin('/clusters'));
  assert.equal(r.status, 200);
  const lines = new Set(r.body.split('\n'));
  assert.ok(lines.has('backend::default_priority::max_connections::1024'), r.body);
  assert.ok(lines.has('backend::added_via_api::false'), r.body);
  let rqTotal = 0;
  for (const port of ports) {
    const host = `backend::127.0.0.1:${port}::`;
    assert.ok(lines.has(`${host}health_flags::healthy`), r.body);
    assert.ok(lines.has(`${host}weight::1`), r.body);
    const value = (stat: string) => {
      const line = [...lines].find((l) => l.startsWith(`${host}${stat}::`));
      assert.ok(line !== undefined, `no ${host}${stat} in\n${r.body}`);
      return Number(line.slice(`${host}${stat}::`.length));
    };
    // Round robin over one worker: two requests each, on one pooled connection each.
    assert.equal(value('rq_total'), 2);
    assert.equal(value('rq_success'), 2);
    assert.equal(value('rq_error'), 0);
    assert.equal(value('cx_total'), 1);
    assert.equal(value('cx_connect_fail'), 0);
    rqTotal += value('rq_total');
  }
  assert.equal(rqTotal, 4);

  const json = JSON.parse((await get(p.admin('/clusters?format=json'))).body) as {
    cluster_statuses: Array<{
      name: string;
      host_statuses: Array<{
        address: { socket_address: { address: string; port_value: number } };
        stats: Array<{ name: string; value?: string; type?: string }>;
        health_status: { eds_health_status: string };
      }>;
    }>;
  };
  assert.deepEqual(json.cluster_statuses.map((c) => c.name), ['backend']);
  const hosts = json.cluster_statuses[0].host_statuses;
  assert.deepEqual(hosts.map((h) => h.address.socket_address.port_value).sort(), [...ports].sort());
  for (const h of hosts) {
    assert.equal(h.address.socket_address.address, '127.0.0.1');
    assert.equal(h.health_status.eds_health_status, 'HEALTHY');
    assert.equal(h.stats.find((s) => s.name === 'rq_total')?.value, '2');
    assert.equal(h.stats.find((s) => s.name === 'cx_total')?.value, '1');
  }
});

test('lists the listener with its bound port on /listeners', async (t) => {
  const { p } = await twoHostProxy(t);
  const r = await get(p.admin('/listeners'));
  assert.equal(r.status, 200);
  assert.equal(r.body, `test_listener::127.0.0.1:${p.port}\n`);
  const json = JSON.parse((await get(p.admin('/listeners?format=json'))).body) as {
    listener_statuses: Array<{ name: string; local_address: { socket_address: { address: string; port_value: number } } }>;
  };
  assert.deepEqual(json.listener_statuses, [
    { name: 'test_listener', local_address: { socket_address: { address: '127.0.0.1', port_value: p.port } } },
  ]);
});

test('exposes the HCM, cluster and listener stats Envoy has after 2xx, 4xx, 5xx and timed-out requests', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    if (req.url === '/slow') return; // never answers: the route timeout fires
    res.end('ok');
  });
  const dead = await closedPort();
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [
        { name: 'backend', ports: [up.port] },
        { name: 'dead', ports: [dead] },
      ],
      routes: [
        `              - match: { prefix: "/slow" }\n                route: { cluster: backend, timeout: 0.2s }`,
        `              - match: { prefix: "/dead" }\n                route: { cluster: dead }`,
        `              - match: { prefix: "/api" }\n                route: { cluster: backend }`,
      ].join('\n'),
    }),
  );
  const send = connection(t, p);
  assert.equal((await send('/api/ok')).status, 200);
  assert.equal((await send('/nowhere')).status, 404);
  assert.equal((await send('/dead')).status, 503);
  assert.equal((await send('/slow')).status, 504);

  const s = await settledStats(p, {
    'http.ingress.downstream_rq_2xx': 1,
    'http.ingress.downstream_rq_4xx': 1,
    'http.ingress.downstream_rq_5xx': 2,
  });
  const want: Record<string, number | 'present'> = {
    'http.ingress.downstream_rq_total': 4,
    'http.ingress.downstream_rq_2xx': 1,
    'http.ingress.downstream_rq_4xx': 1,
    'http.ingress.downstream_rq_5xx': 2,
    'http.ingress.downstream_cx_total': 1,
    'http.ingress.downstream_cx_active': 'present',
    'cluster.backend.upstream_rq_total': 2,
    'cluster.backend.upstream_rq_2xx': 1,
    'cluster.backend.upstream_rq_5xx': 1,
    'cluster.backend.upstream_rq_504': 1,
    'cluster.backend.upstream_rq_timeout': 1,
    'cluster.backend.upstream_cx_total': 'present',
    'cluster.backend.upstream_cx_active': 'present',
    'cluster.backend.upstream_cx_connect_fail': 0,
    'cluster.dead.upstream_cx_connect_fail': 1,
    'cluster.dead.upstream_rq_5xx': 1,
    'cluster.dead.upstream_rq_503': 1,
    'cluster.dead.upstream_rq_timeout': 0,
    [`listener.${listenerStat(p)}.downstream_cx_total`]: 1,
  };
  for (const [name, v] of Object.entries(want)) {
    assert.ok(s.has(name), `stat ${name} missing`);
    if (v !== 'present') assert.equal(s.get(name), v, name);
  }
  assert.ok((s.get('cluster.backend.upstream_cx_total') ?? 0) >= 1);

  const json = await statsJson(p);
  const hist = json.stats.find((e) => e.histograms !== undefined)?.histograms;
  assert.ok(hist !== undefined, 'no histograms element in /stats?format=json');
  assert.deepEqual(hist.supported_quantiles, [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);
  const names = hist.computed_quantiles.map((q) => q.name);
  assert.ok(names.includes('http.ingress.downstream_rq_time'), names.join(', '));
  assert.ok(names.includes('cluster.backend.upstream_rq_time'), names.join(', '));
  for (const q of hist.computed_quantiles) assert.equal(q.values.length, 10);

  const text = await get(p.admin('/stats'));
  assert.equal(text.status, 200);
  const textLines = text.body.split('\n');
  assert.ok(textLines.includes('http.ingress.downstream_rq_total: 4'), text.body);
  assert.ok(textLines.includes('cluster.backend.upstream_rq_timeout: 1'), text.body);
  assert.ok(textLines.includes(`listener.${listenerStat(p)}.downstream_cx_total: 1`), text.body);
  assert.ok(textLines.some((l) => /^http\.ingress\.downstream_rq_time: P0\(/.test(l)), text.body);
  assert.ok(textLines.some((l) => /^cluster\.backend\.upstream_rq_time: P0\(.*\) P100\(/.test(l)), text.body);
});

test('filters /stats by a partial-match regex and rejects an invalid one with 400', async (t) => {
  const { p } = await twoHostProxy(t);
  assert.equal((await get(p.url('/'))).status, 200);
  const r = await get(p.admin('/stats?filter=upstream_rq_2'));
  assert.equal(r.status, 200);
  const lines = r.body.split('\n').filter((l) => l !== '');
  assert.deepEqual(lines, ['cluster.backend.upstream_rq_200: 1', 'cluster.backend.upstream_rq_2xx: 1']);
  const anchored = await get(p.admin('/stats?filter=%5Ehttp%5C.ingress%5C.downstream_rq_total%24&format=json'));
  assert.deepEqual(JSON.parse(anchored.body), { stats: [{ name: 'http.ingress.downstream_rq_total', value: 1 }] });
  const bad = await get(p.admin('/stats?filter=(unclosed'));
  assert.equal(bad.status, 400);

  const counters = JSON.parse((await get(p.admin('/stats?format=json&type=Counters&filter=downstream_rq'))).body) as StatsJson;
  const names = counters.stats.map((e) => e.name);
  assert.ok(names.includes('http.ingress.downstream_rq_total'), names.join(', '));
  assert.ok(!names.includes('http.ingress.downstream_rq_active'), 'a gauge in type=Counters');
  assert.ok(counters.stats.every((e) => e.histograms === undefined), 'histograms in type=Counters');
});

test('sums every worker into /stats/prometheus, with Envoy metric names and tags', async (t) => {
  const { p } = await twoHostProxy(t, 2);
  // The kernel spreads fresh connections over the workers' reuse-port sockets by a hash: all N on
  // one worker has probability 2 × 2^-N (24 connections: about 1e-7).
  const N = 24;
  for (let i = 0; i < N; i++) assert.equal((await fresh(p, `/p${i}`)).status, 200);

  // The per-worker listener counters show that both workers served part of the traffic.
  const s = await settledStats(p, { 'http.ingress.downstream_rq_2xx': N });
  const w0 = s.get(`listener.${listenerStat(p)}.worker_0.downstream_cx_total`) ?? 0;
  const w1 = s.get(`listener.${listenerStat(p)}.worker_1.downstream_cx_total`) ?? 0;
  assert.equal(w0 + w1, N);
  assert.ok(w0 > 0 && w1 > 0, `expected both workers to accept connections, got ${w0} and ${w1}`);

  const r = await get(p.admin('/stats/prometheus'));
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const prom = promSeries(r.body);
  const at = (series: string) => {
    assert.ok(prom.has(series), `missing ${series} in\n${r.body}`);
    return prom.get(series);
  };
  const addr = listenerStat(p);
  assert.equal(at('envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress"}'), N);
  assert.equal(at('envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress"}'), N);
  assert.equal(at('envoy_http_downstream_cx_total{envoy_http_conn_manager_prefix="ingress"}'), N);
  assert.equal(at('envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"}'), N);
  assert.equal(at('envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="backend"}'), N);
  assert.equal(at('envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="backend"}'), N);
  assert.equal(at(`envoy_listener_downstream_cx_total{envoy_listener_address="${addr}"}`), N);
  assert.equal(at('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="+Inf"}'), N);
  assert.equal(at('envoy_cluster_upstream_rq_time_count{envoy_cluster_name="backend"}'), N);
  assert.equal(at('envoy_http_downstream_rq_time_count{envoy_http_conn_manager_prefix="ingress"}'), N);
  // Envoy's default bucket bounds, cumulative and non-decreasing.
  let previous = 0;
  for (const le of ['0.5', '1', '5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000', '30000', '60000', '300000', '600000', '1800000', '3600000']) {
    const v = at(`envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="${le}"}`) as number;
    assert.ok(v >= previous, `bucket le=${le} went down`);
    previous = v;
  }
  assert.match(r.body, /^# TYPE envoy_http_downstream_rq_total counter$/m);
  assert.match(r.body, /^# TYPE envoy_cluster_upstream_rq_time histogram$/m);
  assert.match(r.body, /^# TYPE envoy_http_downstream_cx_active gauge$/m);
  assert.match(r.body, /^envoy_server_live\{\} 1$/m);

  const viaFormat = await get(p.admin('/stats?format=prometheus&filter=%5Ehttp%5C.'));
  assert.equal(viaFormat.body, (await get(p.admin('/stats/prometheus?filter=%5Ehttp%5C.'))).body);

  const filtered = await get(p.admin('/stats/prometheus?filter=downstream_rq_total'));
  assert.deepEqual(
    [...promSeries(filtered.body).keys()],
    ['envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress"}'],
  );
});

test('reports cluster membership once, not once per worker', async (t) => {
  const { p } = await twoHostProxy(t, 2);
  const s = await statValues(p);
  assert.equal(s.get('cluster.backend.membership_total'), 2);
  assert.equal(s.get('cluster.backend.membership_healthy'), 2);
  const prom = promSeries((await get(p.admin('/stats/prometheus'))).body);
  assert.equal(prom.get('envoy_cluster_membership_total{envoy_cluster_name="backend"}'), 2);
});

test("names the listener's per-HCM stats with the same address as its own listener stats", async (t) => {
  const { p } = await twoHostProxy(t);
  assert.equal((await get(p.url('/'))).status, 200);
  const addr = listenerStat(p);
  // Stream stats are written when the stream completes, just after the client has its response.
  const s = await eventually(async () => {
    const v = await statValues(p);
    return v.get(`listener.${addr}.http.ingress.downstream_rq_2xx`) === 1 ? v : undefined;
  }, 5000, 'the stream to complete');
  // In Envoy both live in the one `listener.<address>.` scope of the listener.
  assert.equal(s.get(`listener.${addr}.downstream_cx_total`), 1);
  assert.equal(s.get(`listener.${addr}.http.ingress.downstream_rq_2xx`), 1, [...s.keys()].filter((k) => k.startsWith('listener.')).join('\n'));
});

test('answers with connection: close after POST /healthcheck/fail and keeps connections after /healthcheck/ok', async (t) => {
  const { p } = await twoHostProxy(t);
  const before = await get(p.url('/'));
  // A kept HTTP/1.1 connection carries no `connection` header (as from Envoy).
  assert.equal(before.headers['connection'], undefined);

  const refused = await get(p.admin('/healthcheck/fail'), 'GET');
  assert.equal(refused.status, 405);
  assert.equal(refused.body, 'Method GET not allowed, POST required.');
  // The GET changed nothing.
  assert.equal((await fresh(p, '/')).headers['connection'], undefined);

  assert.equal((await get(p.admin('/healthcheck/fail'), 'POST')).status, 200);
  await eventually(async () => ((await fresh(p, '/')).headers['connection'] === 'close' ? true : undefined), 5000, 'connection: close');
  const during = await fresh(p, '/');
  assert.equal(during.status, 200);
  assert.equal(during.headers['connection'], 'close');
  assert.ok(((await statValues(p)).get('http.ingress.downstream_cx_drain_close') ?? 0) >= 1);

  assert.equal((await get(p.admin('/healthcheck/ok'), 'POST')).status, 200);
  await eventually(async () => ((await fresh(p, '/')).headers['connection'] === undefined ? true : undefined), 5000, 'keep-alive');
});

test('reports DRAINING with 503 on /ready and /server_info while health checks are failed', async (t) => {
  const { p } = await twoHostProxy(t);
  assert.equal((await get(p.admin('/healthcheck/fail'), 'POST')).status, 200);
  const ready = await get(p.admin('/ready'));
  assert.equal(ready.body.trim(), 'DRAINING');
  assert.equal(ready.status, 503);
  assert.equal((JSON.parse((await get(p.admin('/server_info'))).body) as { state: string }).state, 'DRAINING');
  assert.equal((await statValues(p)).get('server.live'), 0);

  assert.equal((await get(p.admin('/healthcheck/ok'), 'POST')).status, 200);
  const again = await get(p.admin('/ready'));
  assert.equal(again.status, 200);
  assert.equal(again.body.trim(), 'LIVE');
});

test('changes log levels with POST /logging and refuses GET and unknown levels', async (t) => {
  const { p } = await twoHostProxy(t);
  const r = await get(p.admin('/logging?level=debug'), 'POST');
  assert.equal(r.status, 200, r.body);
  assert.match(r.body, /^active loggers:\n/);
  assert.match(r.body, /^ {2}\S+: debug$/m);
  assert.doesNotMatch(r.body, /^ {2}\S+: (?!debug$)/m);

  const listed = await get(p.admin('/logging'), 'POST');
  assert.equal(listed.status, 200);
  assert.match(listed.body, /: debug$/m);

  assert.equal((await get(p.admin('/logging?level=info'), 'GET')).status, 405);
  const unchanged = await get(p.admin('/logging'), 'POST');
  assert.match(unchanged.body, /: debug$/m);

  const bad = await get(p.admin('/logging?level=loud'), 'POST');
  assert.equal(bad.status, 400);
  assert.match(bad.body, /unknown logger level/);

  const off = await get(p.admin('/logging?level=off'), 'POST');
  assert.equal(off.status, 200, off.body);
});

test('zeroes counters on POST /reset_counters and counts new traffic from zero', async (t) => {
  const { p } = await twoHostProxy(t);
  const send = connection(t, p);
  for (let i = 0; i < 3; i++) assert.equal((await send('/')).status, 200);
  assert.equal((await statValues(p)).get('http.ingress.downstream_rq_total'), 3);

  assert.equal((await get(p.admin('/reset_counters'), 'GET')).status, 405);
  assert.equal((await statValues(p)).get('http.ingress.downstream_rq_total'), 3);

  const r = await get(p.admin('/reset_counters'), 'POST');
  assert.equal(r.status, 200);
  let s = await statValues(p);
  assert.equal(s.get('http.ingress.downstream_rq_total'), 0);
  assert.equal(s.get('cluster.backend.upstream_rq_total'), 0);
  // Gauges are not counters: the open keep-alive connection is still active.
  assert.equal(s.get('http.ingress.downstream_cx_active'), 1);

  assert.equal((await send('/')).status, 200);
  s = await statValues(p);
  assert.equal(s.get('http.ingress.downstream_rq_total'), 1);
  assert.equal(s.get('cluster.backend.upstream_rq_total'), 1);
});

test('answers unknown admin paths with 404', async (t) => {
  const { p } = await twoHostProxy(t);
  const r = await get(p.admin('/nope'));
  assert.equal(r.status, 404);
});

test('exits 0 on POST /quitquitquit when run from the CLI', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const adminPort = await closedPort();
  const yaml = proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }).replace(
    /(admin:\n\s+address:\n\s+socket_address: \{ address: 127\.0\.0\.1, port_value: )0/,
    `$1${adminPort}`,
  );
  assert.ok(yaml.includes(`port_value: ${adminPort}`));
  const { child, port } = await runCli(t, yaml, ['--concurrency', '1']);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const ok = await request(`http://127.0.0.1:${port}/`);
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();

  const refused = await get(`http://127.0.0.1:${adminPort}/quitquitquit`, 'GET');
  assert.equal(refused.status, 405);
  const ready = await get(`http://127.0.0.1:${adminPort}/ready`);
  assert.equal(ready.status, 200);
  assert.equal(child.exitCode, null);
  const quit = await get(`http://127.0.0.1:${adminPort}/quitquitquit`, 'POST');
  assert.equal(quit.status, 200);
  const [code, signal] = await exited;
  assert.equal(signal, null);
  assert.equal(code, 0);
});
