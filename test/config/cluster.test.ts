import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfigText } from '../../runtime/config/load.ts';
import type { Cluster } from '../../runtime/config/types.ts';
import { assertOneProblem, CLUSTER_PATH, configYaml, indent, lineOf, problemsOf } from './helpers.ts';

const ENDPOINT = (address: string, port = 8080) =>
  `- endpoint: { address: { socket_address: { address: ${address}, port_value: ${port} } } }`;

function clusterYaml(fields: string, endpoints = ENDPOINT('127.0.0.1')): string {
  return configYaml({
    clusters: `- name: backend\n${indent(2, fields)}\n  load_assignment:\n    cluster_name: backend\n    endpoints:\n    - lb_endpoints:\n${indent(6, endpoints)}`,
  });
}
function clusterOf(text: string): Cluster {
  return loadConfigText(text).bootstrap.static_resources.clusters[0];
}

const TYPED_OPTIONS = `typed_extension_protocol_options:
  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions`;

describe('clusters', () => {
  test('defaults to STATIC and ROUND_ROBIN and leaves Envoy defaults unset', () => {
    const c = clusterOf(clusterYaml(''));
    assert.equal(c.type, 'STATIC');
    assert.equal(c.lb_policy, 'ROUND_ROBIN');
    assert.equal(c.connect_timeout, undefined);
    assert.deepEqual(c.load_assignment.endpoints[0].lb_endpoints, [{ address: { address: '127.0.0.1', port_value: 8080 } }]);
  });

  test('reads lower-case enums, DNS settings and least-request config', () => {
    const c = clusterOf(clusterYaml('type: strict_dns\nlb_policy: least_request\nleast_request_lb_config: { choice_count: 4, active_request_bias: { default_value: 0.5 } }\ndns_lookup_family: v4_only\ndns_refresh_rate: 2s\nrespect_dns_ttl: true\nalt_stat_name: be', ENDPOINT('backend.local')));
    assert.equal(c.type, 'STRICT_DNS');
    assert.equal(c.lb_policy, 'LEAST_REQUEST');
    assert.deepEqual(c.least_request_lb_config, { choice_count: 4, active_request_bias: 0.5 });
    assert.equal(c.dns_lookup_family, 'V4_ONLY');
    assert.equal(c.dns_refresh_rate, 2000);
    assert.equal(c.respect_dns_ttl, true);
  });

  test('says RING_HASH, MAGLEV, EDS and ORIGINAL_DST are not supported by Sluice', () => {
    for (const [field, value] of [['lb_policy', 'RING_HASH'], ['lb_policy', 'maglev'], ['type', 'EDS'], ['type', 'ORIGINAL_DST']]) {
      const text = clusterYaml(`${field}: ${value}`);
      const p = assertOneProblem(text, `${CLUSTER_PATH}.${field}`, lineOf(text, `${field}: ${value}`));
      assert.match(p.message, /is not supported by Sluice/);
    }
  });

  test('names health_checks, outlier_detection and transport_socket as unsupported Envoy fields', () => {
    const text = clusterYaml('health_checks: []\noutlier_detection: {}\ntransport_socket: { name: tls }');
    assert.deepEqual(problemsOf(text).map((p) => [p.path, p.line]), [
      [`${CLUSTER_PATH}.health_checks`, lineOf(text, 'health_checks')],
      [`${CLUSTER_PATH}.outlier_detection`, lineOf(text, 'outlier_detection')],
      [`${CLUSTER_PATH}.transport_socket`, lineOf(text, 'transport_socket')],
    ]);
  });

  test('requires STATIC endpoints to be IP addresses', () => {
    const text = clusterYaml('type: STATIC', ENDPOINT('backend.local'));
    const p = assertOneProblem(text, `${CLUSTER_PATH}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address`, lineOf(text, 'backend.local'));
    assert.match(p.message, /STATIC cluster endpoints must be IP addresses/);
    assert.deepEqual(problemsOf(clusterYaml('', ENDPOINT('::1'))), []);
  });

  test('requires a positive connect_timeout and a non-zero endpoint port', () => {
    assertOneProblem(clusterYaml('connect_timeout: 0s'), `${CLUSTER_PATH}.connect_timeout`);
    assertOneProblem(clusterYaml('', ENDPOINT('127.0.0.1', 0)), `${CLUSTER_PATH}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value`);
  });

  test('takes exactly one endpoint for LOGICAL_DNS', () => {
    const text = clusterYaml('type: LOGICAL_DNS', `${ENDPOINT('a.local')}\n${ENDPOINT('b.local')}`);
    assertOneProblem(text, `${CLUSTER_PATH}.load_assignment`);
  });

  test('requires load_assignment with cluster_name', () => {
    const text = configYaml({ clusters: '- name: backend\n  connect_timeout: 1s' });
    assertOneProblem(text, `${CLUSTER_PATH}.load_assignment`);
    const noName = configYaml({ clusters: '- name: backend\n  load_assignment: { endpoints: [] }' });
    assertOneProblem(noName, `${CLUSTER_PATH}.load_assignment.cluster_name`);
  });

  test('reads circuit breaker thresholds with priority DEFAULT when unset', () => {
    const c = clusterOf(clusterYaml('circuit_breakers:\n  thresholds:\n  - { max_connections: 10, max_retries: 1 }\n  - { priority: high, max_requests: 5 }'));
    assert.deepEqual(c.circuit_breakers, {
      thresholds: [
        { priority: 'DEFAULT', max_connections: 10, max_retries: 1 },
        { priority: 'HIGH', max_requests: 5 },
      ],
    });
  });

  test('reads upstream options from the typed HttpProtocolOptions', () => {
    const c = clusterOf(clusterYaml(`${TYPED_OPTIONS}\n    common_http_protocol_options: { idle_timeout: 30s, max_requests_per_connection: 100 }\n    explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 10 } }`));
    assert.equal(c.idle_timeout, 30_000);
    assert.equal(c.max_requests_per_connection, 100);
    assert.deepEqual(c.http2_protocol_options, { max_concurrent_streams: 10 });
  });

  test('reads upstream options from the deprecated cluster fields', () => {
    const c = clusterOf(clusterYaml('common_http_protocol_options: { idle_timeout: 10s }\nmax_requests_per_connection: 7\nhttp2_protocol_options: {}\nhttp_protocol_options: {}'));
    assert.equal(c.idle_timeout, 10_000);
    assert.equal(c.max_requests_per_connection, 7);
    assert.deepEqual(c.http2_protocol_options, {});
  });

  test('rejects mixing typed and deprecated protocol options, and unknown option keys', () => {
    const mixed = clusterYaml(`http2_protocol_options: {}\n${TYPED_OPTIONS}\n    explicit_http_config: { http_protocol_options: {} }`);
    assertOneProblem(mixed, `${CLUSTER_PATH}.http2_protocol_options`, lineOf(mixed, 'http2_protocol_options'));
    const other = clusterYaml('typed_extension_protocol_options:\n  envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions: { "@type": type.googleapis.com/envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions }');
    assertOneProblem(other, `${CLUSTER_PATH}.typed_extension_protocol_options["envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions"]`, lineOf(other, 'TcpProtocolOptions:'));
    const h3 = clusterYaml(`${TYPED_OPTIONS}\n    explicit_http_config: { http3_protocol_options: {} }`);
    assertOneProblem(h3, `${CLUSTER_PATH}.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http3_protocol_options`);
  });

  test('rejects two clusters with the same name', () => {
    const text = configYaml({ clusters: '- name: backend\n  load_assignment: { cluster_name: backend }\n- name: backend\n  load_assignment: { cluster_name: backend }' });
    const p = assertOneProblem(text, 'static_resources.clusters[1].name', lineOf(text, '- name: backend', 1));
    assert.match(p.message, /duplicate cluster name "backend"/);
  });

  test('keeps endpoint hostname, weights, locality and priority', () => {
    const text = configYaml({
      clusters: `- name: backend
  type: STRICT_DNS
  load_assignment:
    cluster_name: backend
    endpoints:
    - locality: { region: eu, zone: a }
      priority: 1
      load_balancing_weight: 3
      lb_endpoints:
      - endpoint: { hostname: h, address: { socket_address: { address: h.local, port_value: 80 } } }
        load_balancing_weight: 5`,
    });
    assert.deepEqual(clusterOf(text).load_assignment.endpoints, [
      {
        locality: { region: 'eu', zone: 'a' },
        priority: 1,
        load_balancing_weight: 3,
        lb_endpoints: [{ hostname: 'h', address: { address: 'h.local', port_value: 80 }, load_balancing_weight: 5 }],
      },
    ]);
  });
});
