import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addressStatName,
  extractTags,
  prometheusMetricName,
  sanitizePrometheusName,
  stripCustomStatNamespace,
} from '../../runtime/stats/tag-extraction.ts';

const cases: Array<[string, string, Array<[string, string]>]> = [
  ['cluster.backend.upstream_rq_total', 'cluster.upstream_rq_total', [['envoy.cluster_name', 'backend']]],
  ['cluster.backend.upstream_rq_503', 'cluster.upstream_rq', [['envoy.response_code', '503'], ['envoy.cluster_name', 'backend']]],
  ['cluster.backend.upstream_rq_5xx', 'cluster.upstream_rq_xx', [['envoy.response_code_class', '5'], ['envoy.cluster_name', 'backend']]],
  ['http.ingress_http.downstream_rq_2xx', 'http.downstream_rq_xx', [['envoy.response_code_class', '2'], ['envoy.http_conn_manager_prefix', 'ingress_http']]],
  ['listener.0.0.0.0_10000.downstream_cx_active', 'listener.downstream_cx_active', [['envoy.listener_address', '0.0.0.0_10000']]],
  ['listener.127.0.0.1_10000.downstream_cx_total', 'listener.downstream_cx_total', [['envoy.listener_address', '127.0.0.1_10000']]],
  ['listener.[__1]_8080.downstream_cx_total', 'listener.downstream_cx_total', [['envoy.listener_address', '[__1]_8080']]],
  [
    'listener.0.0.0.0_10000.http.ingress_http.downstream_rq_2xx',
    'listener.http.downstream_rq_xx',
    [['envoy.response_code_class', '2'], ['envoy.http_conn_manager_prefix', 'ingress_http'], ['envoy.listener_address', '0.0.0.0_10000']],
  ],
  ['listener.admin.downstream_cx_total', 'listener.admin.downstream_cx_total', []],
  ['cluster.backend.outlier_detection.ejections_active', 'cluster.outlier_detection.ejections_active', [['envoy.cluster_name', 'backend']]],
  ['vhost.api.vcluster.other.upstream_rq_200', 'vhost.vcluster.upstream_rq', [['envoy.response_code', '200'], ['envoy.virtual_cluster', 'other'], ['envoy.virtual_host', 'api']]],
  ['listener_manager.worker_0.dispatcher.loop_duration_us', 'listener_manager.worker_dispatcher.loop_duration_us', [['envoy.worker_id', '0']]],
  ['server.live', 'server.live', []],
  ['wasm.envoy.wasm.runtime.v8.active', 'wasm.envoy.wasm.runtime.v8.active', []],
  ['wasmcustom.my_counter', 'wasmcustom.my_counter', []],
  ['wasmcustom.my_filter.downstream_rq_503', 'wasmcustom.my_filter.downstream_rq', [['envoy.response_code', '503']]],
  ['wasmcustom.cluster.backend.x', 'wasmcustom.cluster.backend.x', []],
];

for (const [stat, name, tags] of cases) {
  test(`extracts ${JSON.stringify(tags.map((x) => x[1]))} from ${stat}`, () => {
    assert.deepEqual(extractTags(stat), { name, tags });
  });
}

test('builds Prometheus names with the envoy_ prefix and sanitized characters', () => {
  assert.equal(prometheusMetricName('cluster.upstream_rq_total'), 'envoy_cluster_upstream_rq_total');
  assert.equal(prometheusMetricName('http.downstream-rq.x:y'), 'envoy_http_downstream_rq_x_y');
  assert.equal(sanitizePrometheusName('envoy.cluster_name'), 'envoy_cluster_name');
  assert.equal(sanitizePrometheusName('0abc'), '_0abc');
});

test('spells addresses the way Envoy puts them in stat names', () => {
  assert.equal(addressStatName('0.0.0.0:10000'), '0.0.0.0_10000');
  assert.equal(addressStatName('[::1]:10000'), '[__1]_10000');
});

test('strips a registered custom stat namespace only as the first whole token', () => {
  assert.equal(stripCustomStatNamespace('wasmcustom.my.metric'), 'my.metric');
  assert.equal(stripCustomStatNamespace('wasmcustom.'), '');
  assert.equal(stripCustomStatNamespace('wasmcustom'), undefined);
  assert.equal(stripCustomStatNamespace('wasmcustomx.metric'), undefined);
  assert.equal(stripCustomStatNamespace('cluster.wasmcustom.metric'), undefined);
});

test('builds Prometheus names for Wasm-defined metrics without the namespace and without envoy_', () => {
  assert.equal(prometheusMetricName('wasmcustom.my_counter'), 'my_counter');
  assert.equal(prometheusMetricName('wasmcustom.my.filter-metric'), 'my_filter_metric');
  assert.equal(prometheusMetricName('wasmcustom._x'), '_x');
  assert.equal(prometheusMetricName('wasmcustom.9lives'), undefined);
  assert.equal(prometheusMetricName('wasmcustom.'), undefined);
  assert.equal(prometheusMetricName('wasmcustom'), 'envoy_wasmcustom');
});
