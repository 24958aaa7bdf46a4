import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { startAdminServer, type AdminDeps, type ClusterStatus } from '../../runtime/admin/admin-server.ts';
import { StatsReader } from '../../runtime/stats/reader.ts';
import { StatsStore } from '../../runtime/stats/store.ts';

const CLUSTER: ClusterStatus = {
  name: 'backend',
  added_via_api: false,
  circuit_breakers: {
    default: { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 },
    high: { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 },
  },
  hosts: [
    {
      address: '127.0.0.1:8080',
      hostname: '',
      weight: 1,
      health: 'healthy',
      priority: 0,
      stats: { cx_connect_fail: 0, cx_total: 4, rq_error: 1, rq_success: 9, rq_timeout: 0, rq_total: 10, cx_active: 2, rq_active: 0 },
    },
  ],
};

const DUMP = {
  configs: [
    { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: { node: { id: 'sluice' } } },
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      static_clusters: [{ cluster: { name: 'backend', type: 'STATIC' } }, { cluster: { name: 'auth', type: 'STRICT_DNS' } }],
    },
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
      static_listeners: [{ listener: { name: 'ingress' } }],
    },
  ],
};

interface Harness {
  base: string;
  calls: string[];
  levels: Record<string, string>;
  quit: Promise<void>;
  store: StatsStore;
  setState(s: ReturnType<AdminDeps['state']>): void;
}

async function start(t: TestContext): Promise<Harness> {
  const store = new StatsStore(256);
  store.counter('cluster.backend.upstream_rq_total').add(10);
  store.counter('cluster.backend.upstream_rq_503').add(1);
  store.gauge('server.live').set(1);
  store.histogram('cluster.backend.upstream_rq_time').record(12);
  const reader = new StatsReader();
  reader.attach('main', store.buffer);
  const calls: string[] = [];
  const levels: Record<string, string> = { admin: 'info', router: 'info', wasm: 'warning' };
  let state: ReturnType<AdminDeps['state']> = 'LIVE';
  let quitDone!: () => void;
  const quit = new Promise<void>((r) => (quitDone = r));
  const deps: AdminDeps = {
    stats: () => reader.snapshot(),
    resetCounters: () => {
      calls.push('resetCounters');
      reader.resetCounters();
    },
    serverInfo: () => ({ version: 'sluice/0.1.0', state, uptime_current_epoch: '5s', command_line_options: { concurrency: 2 } }),
    state: () => state,
    configDump: () => DUMP,
    clusters: () => [CLUSTER],
    listeners: () => [{ name: 'ingress', address: '0.0.0.0:10000' }, { name: 'v6', address: '[::1]:10001' }],
    healthcheckFail: () => calls.push('healthcheckFail'),
    healthcheckOk: () => calls.push('healthcheckOk'),
    logging: () => ({
      levels: { ...levels },
      set: (logger, level) => {
        if (logger === undefined) for (const k of Object.keys(levels)) levels[k] = level;
        else if (logger in levels) levels[logger] = level;
        else return false;
        return true;
      },
    }),
    quit: () => {
      calls.push('quit');
      quitDone();
    },
  };
  const admin = await startAdminServer({ address: { address: '127.0.0.1', port_value: 0 }, deps });
  t.after(() => admin.close());
  assert.ok(admin.address.port > 0);
  return {
    base: `http://127.0.0.1:${admin.address.port}`,
    calls,
    levels,
    quit,
    store,
    setState: (s) => (state = s),
  };
}

async function get(h: Harness, path: string, method = 'GET') {
  const res = await fetch(h.base + path, { method });
  return { status: res.status, type: res.headers.get('content-type'), headers: res.headers, body: await res.text() };
}

test('/ready returns the state with 200 only when LIVE', async (t) => {
  const h = await start(t);
  assert.deepEqual(await get(h, '/ready').then((r) => [r.status, r.body]), [200, 'LIVE\n']);
  h.setState('DRAINING');
  assert.deepEqual(await get(h, '/ready').then((r) => [r.status, r.body]), [503, 'DRAINING\n']);
  h.setState('INITIALIZING');
  assert.equal((await get(h, '/ready')).status, 503);
});

test('/help lists the endpoints sorted, marking the POST ones; responses carry Envoy admin headers', async (t) => {
  const h = await start(t);
  const r = await get(h, '/help');
  assert.equal(r.status, 200);
  assert.equal(r.type, 'text/plain; charset=UTF-8');
  assert.equal(r.headers.get('cache-control'), 'no-cache, max-age=0');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  const lines = r.body.split('\n');
  assert.equal(lines[0], 'admin commands are:');
  const commands = lines.filter((l) => /^ {2}\//.test(l)).map((l) => l.trim().split(':')[0]);
  assert.deepEqual(commands, [...commands].sort());
  assert.ok(commands.includes('/quitquitquit (POST)'));
  assert.ok(commands.includes('/stats/prometheus'));
  assert.ok(lines.includes('  /ready: print server state, return 200 if LIVE, otherwise return 503'));
});

test('/ serves the HTML home page with POST forms for mutating endpoints', async (t) => {
  const h = await start(t);
  const r = await get(h, '/');
  assert.equal(r.status, 200);
  assert.match(r.type ?? '', /^text\/html/);
  assert.ok(r.body.includes("<a href='stats'>stats</a>"));
  assert.ok(r.body.includes("<form action='quitquitquit' method='post'"));
});

test('an unknown path is a 404 carrying the help text', async (t) => {
  const h = await start(t);
  const r = await get(h, '/nope');
  assert.equal(r.status, 404);
  assert.ok(r.body.startsWith('invalid path. admin commands are:\n'));
});

test('mutating endpoints refuse GET without effect and run on POST', async (t) => {
  const h = await start(t);
  for (const path of ['/healthcheck/fail', '/healthcheck/ok', '/reset_counters', '/quitquitquit', '/logging']) {
    const r = await get(h, path);
    assert.equal(r.status, 405, path);
    assert.equal(r.body, 'Method GET not allowed, POST required.');
  }
  assert.deepEqual(h.calls, []);
  assert.deepEqual(await get(h, '/healthcheck/fail', 'POST').then((r) => [r.status, r.body]), [200, 'OK\n']);
  assert.deepEqual(await get(h, '/healthcheck/ok', 'POST').then((r) => [r.status, r.body]), [200, 'OK\n']);
  assert.deepEqual(h.calls, ['healthcheckFail', 'healthcheckOk']);
});

test('/quitquitquit answers OK and then calls quit', async (t) => {
  const h = await start(t);
  const r = await get(h, '/quitquitquit', 'POST');
  assert.deepEqual([r.status, r.body], [200, 'OK\n']);
  await h.quit;
  assert.deepEqual(h.calls, ['quit']);
});

test('/stats serves text, JSON and Prometheus, and rejects a bad filter with 400', async (t) => {
  const h = await start(t);
  const textRes = await get(h, '/stats');
  assert.equal(textRes.type, 'text/plain; charset=UTF-8');
  assert.ok(textRes.body.includes('cluster.backend.upstream_rq_total: 10\n'));
  assert.match(textRes.body, /cluster\.backend\.upstream_rq_time: P0\(nan,12\) /);

  const filtered = await get(h, '/stats?filter=rq_total');
  assert.equal(filtered.body, 'cluster.backend.upstream_rq_total: 10\n');

  const json = await get(h, '/stats?format=json');
  assert.equal(json.type, 'application/json');
  assert.ok(JSON.parse(json.body).stats.some((s: { name: string; value: number }) => s.name === 'server.live' && s.value === 1));

  const bad = await get(h, '/stats?filter=(');
  assert.deepEqual([bad.status, bad.body], [400, 'Invalid re2 regex']);
  assert.equal((await get(h, '/stats?type=Nope')).status, 400);

  for (const path of ['/stats/prometheus', '/stats?format=prometheus']) {
    const prom = await get(h, path);
    assert.equal(prom.status, 200);
    assert.equal(prom.type, 'text/plain; version=0.0.4; charset=utf-8');
    const lines = prom.body.split('\n');
    assert.ok(lines.includes('envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"} 10'), path);
    assert.ok(lines.includes('envoy_cluster_upstream_rq{envoy_response_code="503",envoy_cluster_name="backend"} 1'), path);
    assert.ok(lines.includes('envoy_server_live{} 1'), path);
    assert.ok(lines.includes('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="25"} 1'), path);
  }
});

test('POST /reset_counters zeroes counters in later /stats output', async (t) => {
  const h = await start(t);
  assert.equal((await get(h, '/reset_counters', 'POST')).body, 'OK\n');
  assert.ok((await get(h, '/stats')).body.includes('cluster.backend.upstream_rq_total: 0\n'));
  h.store.counter('cluster.backend.upstream_rq_total').inc();
  assert.ok((await get(h, '/stats')).body.includes('cluster.backend.upstream_rq_total: 1\n'));
});

test('/clusters prints Envoy text lines and JSON', async (t) => {
  const h = await start(t);
  const lines = (await get(h, '/clusters')).body.split('\n');
  for (const l of [
    'backend::observability_name::backend',
    'backend::default_priority::max_connections::1024',
    'backend::default_priority::max_retries::3',
    'backend::high_priority::max_pending_requests::1024',
    'backend::added_via_api::false',
    'backend::127.0.0.1:8080::cx_active::2',
    'backend::127.0.0.1:8080::cx_total::4',
    'backend::127.0.0.1:8080::rq_total::10',
    'backend::127.0.0.1:8080::hostname::',
    'backend::127.0.0.1:8080::health_flags::healthy',
    'backend::127.0.0.1:8080::weight::1',
    'backend::127.0.0.1:8080::region::',
    'backend::127.0.0.1:8080::canary::false',
    'backend::127.0.0.1:8080::priority::0',
    'backend::127.0.0.1:8080::success_rate::-1',
    'backend::127.0.0.1:8080::local_origin_success_rate::-1',
  ]) {
    assert.ok(lines.includes(l), l);
  }
  const json = JSON.parse((await get(h, '/clusters?format=json')).body);
  const c = json.cluster_statuses[0];
  assert.equal(c.name, 'backend');
  assert.equal(c.added_via_api, undefined);
  assert.deepEqual(c.circuit_breakers.thresholds[1], {
    priority: 'HIGH', max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3,
  });
  const host = c.host_statuses[0];
  assert.deepEqual(host.address, { socket_address: { address: '127.0.0.1', port_value: 8080 } });
  assert.deepEqual(host.health_status, { eds_health_status: 'HEALTHY' });
  assert.deepEqual(host.stats.find((s: { name: string }) => s.name === 'rq_total'), { value: '10', name: 'rq_total' });
  assert.deepEqual(host.stats.find((s: { name: string }) => s.name === 'cx_active'), { type: 'GAUGE', value: '2', name: 'cx_active' });
  assert.deepEqual(host.stats.find((s: { name: string }) => s.name === 'cx_connect_fail'), { name: 'cx_connect_fail' });
  assert.equal(host.weight, 1);
});

test('/listeners prints name::address lines and JSON listener_statuses', async (t) => {
  const h = await start(t);
  assert.equal((await get(h, '/listeners')).body, 'ingress::0.0.0.0:10000\nv6::[::1]:10001\n');
  const json = JSON.parse((await get(h, '/listeners?format=json')).body);
  assert.deepEqual(json, {
    listener_statuses: [
      { name: 'ingress', local_address: { socket_address: { address: '0.0.0.0', port_value: 10000 } } },
      { name: 'v6', local_address: { socket_address: { address: '::1', port_value: 10001 } } },
    ],
  });
});

test('/server_info and /memory return JSON', async (t) => {
  const h = await start(t);
  const info = await get(h, '/server_info');
  assert.equal(info.type, 'application/json');
  assert.deepEqual(JSON.parse(info.body), {
    version: 'sluice/0.1.0', state: 'LIVE', uptime_current_epoch: '5s', command_line_options: { concurrency: 2 },
  });
  const mem = JSON.parse((await get(h, '/memory')).body);
  assert.deepEqual(Object.keys(mem), ['allocated', 'heap_size', 'pageheap_unmapped', 'pageheap_free', 'total_thread_cache', 'total_physical_bytes']);
  assert.ok(Number(mem.allocated) > 0);
});

test('/config_dump returns the dump and filters by resource and name_regex', async (t) => {
  const h = await start(t);
  assert.deepEqual(JSON.parse((await get(h, '/config_dump')).body), DUMP);
  const clusters = JSON.parse((await get(h, '/config_dump?resource=static_clusters')).body);
  assert.deepEqual(clusters.configs, [
    { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster', cluster: { name: 'backend', type: 'STATIC' } },
    { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster', cluster: { name: 'auth', type: 'STRICT_DNS' } },
  ]);
  const one = JSON.parse((await get(h, '/config_dump?resource=static_clusters&name_regex=back.*')).body);
  assert.deepEqual(one.configs.map((c: { cluster: { name: string } }) => c.cluster.name), ['backend']);
  const masked = JSON.parse((await get(h, '/config_dump?resource=static_clusters&mask=cluster.name')).body);
  assert.deepEqual(masked.configs[1], { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster', cluster: { name: 'auth' } });
  const missing = await get(h, '/config_dump?resource=nothing_like_this');
  assert.deepEqual([missing.status, missing.body], [404, 'nothing_like_this not found in config dump']);
  const scalar = await get(h, '/config_dump?resource=bootstrap');
  assert.equal(scalar.status, 400);
  assert.equal(scalar.body, 'bootstrap is not a repeated field. Use ?mask=bootstrap to get only this field');
  const all = JSON.parse((await get(h, '/config_dump?name_regex=ingress')).body);
  assert.deepEqual(all.configs[1].static_clusters, []);
  assert.deepEqual(all.configs[2].static_listeners, [{ listener: { name: 'ingress' } }]);
});

test('/logging lists loggers, sets all or one, and rejects unknown names and levels', async (t) => {
  const h = await start(t);
  const list = await get(h, '/logging', 'POST');
  assert.equal(list.status, 200);
  assert.equal(list.body, 'active loggers:\n  admin: info\n  router: info\n  wasm: warning\n\n');

  assert.equal((await get(h, '/logging?level=debug', 'POST')).status, 200);
  assert.deepEqual(h.levels, { admin: 'debug', router: 'debug', wasm: 'debug' });

  const one = await get(h, '/logging?router=trace', 'POST');
  assert.equal(one.status, 200);
  assert.ok(one.body.includes('  router: trace\n'));

  const paths = await get(h, '/logging?paths=admin:error,wasm:critical', 'POST');
  assert.equal(paths.status, 200);
  assert.deepEqual(h.levels, { admin: 'error', router: 'trace', wasm: 'critical' });

  const unknown = await get(h, '/logging?nosuch=debug', 'POST');
  assert.equal(unknown.status, 400);
  assert.ok(unknown.body.startsWith('error: unknown logger name\n\nusage: /logging?<name>=<level> (change single level)\n'));
  assert.ok(unknown.body.includes('active loggers:\n'));

  const badLevel = await get(h, '/logging?level=loud', 'POST');
  assert.equal(badLevel.status, 400);
  assert.match(badLevel.body, /^error: unknown logger level/);
  assert.deepEqual(h.levels, { admin: 'error', router: 'trace', wasm: 'critical' });
});

test('binding an address in use rejects with a LISTEN error', async (t) => {
  const h = await start(t);
  const port = Number(new URL(h.base).port);
  await assert.rejects(
    startAdminServer({ address: { address: '127.0.0.1', port_value: port }, deps: {} as AdminDeps }),
    { code: 'SLUICE_ERR_LISTEN' },
  );
});
