import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StatsReader } from '../../runtime/stats/reader.ts';
import {
  defaultStatsParams,
  formatG,
  parseStatsParams,
  renderPrometheus,
  renderStatsJson,
  renderStatsText,
  StatsType,
  type StatsParams,
} from '../../runtime/stats/render.ts';
import type { StatsSnapshot } from '../../runtime/stats/snapshot.ts';
import { StatsStore } from '../../runtime/stats/store.ts';

function snapshot(): StatsSnapshot {
  const s = new StatsStore(512);
  s.counter('cluster.backend.upstream_rq_total').add(7);
  s.counter('cluster.backend.upstream_rq_503').add(2);
  s.counter('cluster.backend.upstream_rq_5xx').add(2);
  s.counter('cluster.other.upstream_rq_total').add(1);
  s.counter('cluster.backend.upstream_cx_none_healthy'); // never used
  s.counter('http.ingress_http.downstream_rq_2xx').add(5);
  s.gauge('listener.0.0.0.0_10000.downstream_cx_active').set(3);
  s.gauge('server.live').set(1);
  const h = s.histogram('cluster.backend.upstream_rq_time');
  for (const v of [1, 2, 3, 4, 30]) h.record(v);
  s.histogram('cluster.backend.upstream_cx_connect_ms');
  const r = new StatsReader();
  r.attach('t', s.buffer);
  return r.snapshot();
}

function params(query: string): StatsParams {
  const r = parseStatsParams(new URLSearchParams(query));
  assert.ok(r.ok, JSON.stringify(r));
  return r.params;
}

/** Prometheus text → map of `name{labels}` → value, plus TYPE lines. */
function parsePrometheus(text: string): { samples: Map<string, string>; types: Map<string, string> } {
  const samples = new Map<string, string>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment line ${line}`);
    const sp = line.lastIndexOf(' ');
    samples.set(line.slice(0, sp), line.slice(sp + 1));
  }
  return { samples, types };
}

test('text /stats lists counters and gauges sorted by name, then histograms', () => {
  const text = renderStatsText(snapshot(), defaultStatsParams());
  const lines = text.trimEnd().split('\n');
  assert.deepEqual(lines.slice(0, 9), [
    'cluster.backend.upstream_cx_none_healthy: 0',
    'cluster.backend.upstream_rq_503: 2',
    'cluster.backend.upstream_rq_5xx: 2',
    'cluster.backend.upstream_rq_total: 7',
    'cluster.other.upstream_rq_total: 1',
    'http.ingress_http.downstream_rq_2xx: 5',
    'listener.0.0.0.0_10000.downstream_cx_active: 3',
    'server.live: 1',
    'stats.overflow: 0',
  ]);
  assert.equal(lines[9], 'cluster.backend.upstream_cx_connect_ms: No recorded values');
  assert.match(
    lines[10],
    /^cluster\.backend\.upstream_rq_time: P0\(nan,1\) P25\(nan,\S+\) P50\(nan,\S+\) P75\(nan,\S+\) P90\(nan,\S+\) P95\(nan,\S+\) P99\(nan,\S+\) P99\.5\(nan,\S+\) P99\.9\(nan,\S+\) P100\(nan,30\)$/,
  );
  assert.equal(text.endsWith('\n'), true);
});

test('text /stats honours filter, usedonly and type', () => {
  const s = snapshot();
  assert.equal(renderStatsText(s, params('filter=upstream_rq_5')), 'cluster.backend.upstream_rq_503: 2\ncluster.backend.upstream_rq_5xx: 2\n');
  assert.ok(!renderStatsText(s, params('usedonly')).includes('none_healthy'));
  assert.ok(!renderStatsText(s, params('usedonly')).includes('upstream_cx_connect_ms'));
  assert.equal(renderStatsText(s, params('type=Gauges')), 'listener.0.0.0.0_10000.downstream_cx_active: 3\nserver.live: 1\n');
  const hist = renderStatsText(s, params('type=Histograms&filter=rq_time'));
  assert.ok(hist.startsWith('cluster.backend.upstream_rq_time: P0('));
});

test('parses /stats parameters and rejects what Envoy rejects', () => {
  const p = params('usedonly&filter=^cluster&type=Counters&format=json&pretty');
  assert.equal(p.usedOnly, true);
  assert.equal(p.type, StatsType.Counters);
  assert.equal(p.format, 'json');
  assert.equal(p.pretty, true);
  assert.ok(p.filter?.test('cluster.x'));
  assert.deepEqual(parseStatsParams(new URLSearchParams('filter=(')), { ok: false, error: 'Invalid re2 regex' });
  assert.deepEqual(parseStatsParams(new URLSearchParams('filter=a(?=b)')), { ok: false, error: 'Invalid re2 regex' });
  assert.deepEqual(parseStatsParams(new URLSearchParams('type=Bogus')), { ok: false, error: 'invalid &type= param' });
  const bad = parseStatsParams(new URLSearchParams('format=xml'));
  assert.equal(bad.ok, false);
});

test('JSON /stats has name/value entries and a histograms object with supported and computed quantiles', () => {
  const s = snapshot();
  const doc = JSON.parse(renderStatsJson(s, defaultStatsParams()));
  assert.deepEqual(doc.stats[0], { name: 'cluster.backend.upstream_cx_none_healthy', value: 0 });
  assert.deepEqual(doc.stats[3], { name: 'cluster.backend.upstream_rq_total', value: 7 });
  const last = doc.stats[doc.stats.length - 1];
  assert.deepEqual(last.histograms.supported_quantiles, [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);
  const rqTime = last.histograms.computed_quantiles.find((h: { name: string }) => h.name === 'cluster.backend.upstream_rq_time');
  assert.equal(rqTime.values.length, 10);
  assert.deepEqual(rqTime.values[0], { interval: null, cumulative: 1 });
  assert.deepEqual(rqTime.values[9], { interval: null, cumulative: 30 });
  const connect = last.histograms.computed_quantiles.find((h: { name: string }) => h.name === 'cluster.backend.upstream_cx_connect_ms');
  assert.deepEqual(connect.values[0], { interval: null, cumulative: null });
  const onlyCounters = JSON.parse(renderStatsJson(s, params('type=Counters')));
  assert.ok(onlyCounters.stats.every((x: { name?: string }) => typeof x.name === 'string'));
});

test('Prometheus output has Envoy names and tags for the reference examples', async () => {
  const { samples, types } = parsePrometheus(await renderPrometheus(snapshot(), defaultStatsParams()));
  assert.equal(samples.get('envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"}'), '7');
  assert.equal(samples.get('envoy_cluster_upstream_rq_total{envoy_cluster_name="other"}'), '1');
  assert.equal(samples.get('envoy_cluster_upstream_rq{envoy_response_code="503",envoy_cluster_name="backend"}'), '2');
  assert.equal(samples.get('envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="backend"}'), '2');
  assert.equal(
    samples.get('envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress_http"}'),
    '5',
  );
  assert.equal(samples.get('envoy_listener_downstream_cx_active{envoy_listener_address="0.0.0.0_10000"}'), '3');
  assert.equal(samples.get('envoy_server_live{}'), '1');
  assert.equal(types.get('envoy_cluster_upstream_rq_total'), 'counter');
  assert.equal(types.get('envoy_server_live'), 'gauge');
  assert.equal(types.get('envoy_cluster_upstream_rq_time'), 'histogram');
});

test('Prometheus histograms have cumulative le buckets with le last, +Inf, _sum and _count', async () => {
  const { samples } = parsePrometheus(await renderPrometheus(snapshot(), defaultStatsParams()));
  const b = (le: string) => samples.get(`envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="${le}"}`);
  assert.equal(b('0.5'), '0');
  assert.equal(b('1'), '1');
  assert.equal(b('5'), '4');
  assert.equal(b('25'), '4');
  assert.equal(b('50'), '5');
  assert.equal(b('3600000'), '5');
  assert.equal(b('+Inf'), '5');
  assert.equal(samples.get('envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="backend"}'), '40');
  assert.equal(samples.get('envoy_cluster_upstream_rq_time_count{envoy_cluster_name="backend"}'), '5');
  const les = [...samples.keys()].filter((k) => k.startsWith('envoy_cluster_upstream_rq_time_bucket{'));
  assert.equal(les.length, 20);
});

test('Prometheus output has no HELP lines, one TYPE per name, and honours usedonly and filter', async () => {
  const s = snapshot();
  const text = await renderPrometheus(s, defaultStatsParams());
  assert.ok(!text.includes('# HELP'));
  const typeLines = text.split('\n').filter((l) => l.startsWith('# TYPE '));
  assert.equal(new Set(typeLines).size, typeLines.length);
  const used = parsePrometheus(await renderPrometheus(s, params('usedonly'))).samples;
  assert.ok(![...used.keys()].some((k) => k.startsWith('envoy_cluster_upstream_cx_none_healthy')));
  const filtered = parsePrometheus(await renderPrometheus(s, params('filter=^server'))).samples;
  assert.deepEqual([...filtered.keys()], ['envoy_server_live{}']);
});

test('formats quantiles like C %g', () => {
  assert.equal(formatG(1), '1');
  assert.equal(formatG(1.025), '1.025');
  assert.equal(formatG(3.0921923), '3.09219');
  assert.equal(formatG(13.33333333), '13.3333');
  assert.equal(formatG(189.92), '189.92');
  assert.equal(formatG(1234567), '1.23457e+06');
  assert.equal(formatG(0.00001234), '1.234e-05');
  assert.equal(formatG(NaN), 'nan');
  assert.equal(formatG(0), '0');
});

describe('Wasm-defined metrics (custom stat namespace wasmcustom)', () => {
  function wasmSnapshot(): StatsSnapshot {
    const s = new StatsStore(512);
    s.counter('wasmcustom.my_counter').add(3);
    s.gauge('wasmcustom.my_gauge').set(-2);
    const h = s.histogram('wasmcustom.my_histogram');
    for (const v of [1, 7, 700]) h.record(v);
    s.counter('wasmcustom.my_filter.downstream_rq_200').add(4); // dots sanitized; response-code tag extracted
    s.counter('wasmcustom.9lives').add(1); // not a valid Prometheus name once the namespace is gone
    s.counter('server.live').add(1);
    const r = new StatsReader();
    r.attach('t', s.buffer);
    return r.snapshot();
  }

  test('keep the wasmcustom. prefix in text /stats, sorted among the other stats', () => {
    const text = renderStatsText(wasmSnapshot(), defaultStatsParams());
    assert.deepEqual(text.trimEnd().split('\n').slice(0, 6), [
      'server.live: 1',
      'stats.overflow: 0',
      'wasmcustom.9lives: 1',
      'wasmcustom.my_counter: 3',
      'wasmcustom.my_filter.downstream_rq_200: 4',
      'wasmcustom.my_gauge: -2',
    ]);
    assert.match(text, /^wasmcustom\.my_histogram: P0\(nan,1\) .* P100\(nan,700\)$/m);
    assert.equal(renderStatsText(wasmSnapshot(), params('filter=^wasmcustom\\.my_c')), 'wasmcustom.my_counter: 3\n');
  });

  test('keep the wasmcustom. prefix in JSON /stats', () => {
    const doc = JSON.parse(renderStatsJson(wasmSnapshot(), defaultStatsParams()));
    assert.deepEqual(
      doc.stats.filter((x: { name?: string }) => x.name?.startsWith('wasmcustom.')),
      [
        { name: 'wasmcustom.9lives', value: 1 },
        { name: 'wasmcustom.my_counter', value: 3 },
        { name: 'wasmcustom.my_filter.downstream_rq_200', value: 4 },
        { name: 'wasmcustom.my_gauge', value: -2 },
      ],
    );
    const hist = doc.stats[doc.stats.length - 1].histograms.computed_quantiles;
    assert.deepEqual(hist.map((h: { name: string }) => h.name), ['wasmcustom.my_histogram']);
    assert.deepEqual(hist[0].values[9], { interval: null, cumulative: 700 });
  });

  test('lose the namespace and get no envoy_ prefix in Prometheus output, with tags still extracted', async () => {
    const text = await renderPrometheus(wasmSnapshot(), defaultStatsParams());
    const { samples, types } = parsePrometheus(text);
    assert.equal(types.get('my_counter'), 'counter');
    assert.equal(samples.get('my_counter{}'), '3');
    assert.equal(types.get('my_gauge'), 'gauge');
    assert.equal(samples.get('my_gauge{}'), '-2');
    assert.equal(types.get('my_histogram'), 'histogram');
    assert.equal(samples.get('my_histogram_bucket{le="1"}'), '1');
    assert.equal(samples.get('my_histogram_bucket{le="10"}'), '2');
    assert.equal(samples.get('my_histogram_bucket{le="1000"}'), '3');
    assert.equal(samples.get('my_histogram_bucket{le="+Inf"}'), '3');
    assert.equal(samples.get('my_histogram_sum{}'), '708');
    assert.equal(samples.get('my_histogram_count{}'), '3');
    assert.equal(samples.get('my_filter_downstream_rq{envoy_response_code="200"}'), '4');
    assert.equal(samples.get('envoy_server_live{}'), '1');
    assert.ok(![...types.keys()].some((n) => n.includes('wasmcustom')), 'no name keeps the namespace');
    assert.ok(!text.includes('9lives'), 'a name starting with a digit is left out');
  });

  test('orders Prometheus groups by tag-extracted name and series by stat name, as Envoy does', async () => {
    const store = new StatsStore(64);
    for (const name of ['wasmcustom.a_first', 'server.live', 'cluster_manager.cds.update_success', 'cluster.b.upstream_rq_total', 'cluster.a.upstream_rq_total']) {
      store.counter(name).inc();
    }
    const reader = new StatsReader();
    reader.attach('t', store.buffer);
    const lines = (await renderPrometheus(reader.snapshot(), defaultStatsParams())).split('\n').filter((l) => l !== '');
    assert.deepEqual(lines, [
      '# TYPE envoy_cluster_upstream_rq_total counter',
      'envoy_cluster_upstream_rq_total{envoy_cluster_name="a"} 1',
      'envoy_cluster_upstream_rq_total{envoy_cluster_name="b"} 1',
      '# TYPE envoy_cluster_manager_cds_update_success counter',
      'envoy_cluster_manager_cds_update_success{} 1',
      '# TYPE envoy_server_live counter',
      'envoy_server_live{} 1',
      '# TYPE envoy_stats_overflow counter',
      'envoy_stats_overflow{} 0',
      '# TYPE a_first counter',
      'a_first{} 1',
    ]);
  });
});
