import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, ErrorCode, SluiceError } from '../../runtime/errors.ts';
import { loadConfigFile, loadConfigText, validateConfigText } from '../../runtime/config/load.ts';
import { CLUSTER_PATH, configYaml, lineOf } from './helpers.ts';

const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);

describe('loadConfigFile', () => {
  test('loads the front-proxy fixture into a deeply frozen snapshot versioned by sha256', () => {
    const snap = loadConfigFile(fixture('front-proxy.yaml'));
    const text = readFileSync(fixture('front-proxy.yaml'), 'utf8');
    assert.equal(snap.version, createHash('sha256').update(text).digest('hex'));
    assert.equal(snap.source, fixture('front-proxy.yaml'));
    const { listeners, clusters } = snap.bootstrap.static_resources;
    assert.deepEqual(clusters.map((c) => c.name), ['orders', 'orders_canary']);
    assert.equal(listeners[0].name, 'ingress');
    assert.ok(Object.isFrozen(snap));
    assert.ok(Object.isFrozen(snap.bootstrap.static_resources.clusters[0].load_assignment.endpoints[0]));
    assert.ok(Object.isFrozen(snap.raw));
    assert.throws(() => {
      (clusters as unknown as unknown[]).push({});
    }, TypeError);
  });

  test('normalizes durations, enums and deprecated forms in the front-proxy fixture', () => {
    const { bootstrap } = loadConfigFile(fixture('front-proxy.yaml'));
    const hcm = bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].http_connection_manager;
    assert.equal(hcm.stream_idle_timeout, 60_000);
    assert.equal(hcm.common_http_protocol_options?.idle_timeout, 300_000);
    assert.deepEqual(hcm.upgrade_configs, [{ upgrade_type: 'websocket' }]);
    assert.deepEqual(hcm.http_filters[0].typed_config?.value, { suppress_envoy_headers: true });
    assert.deepEqual(hcm.access_log[0].json_format, { status: '%RESPONSE_CODE%', upstreamHost: '%UPSTREAM_HOST%' });
    assert.equal(hcm.route_config.response_headers_to_add?.[0].append_action, 'OVERWRITE_IF_EXISTS_OR_ADD');
    const api = hcm.route_config.virtual_hosts[1];
    assert.deepEqual(api.routes[1].match.headers, [{ name: 'x-canary', string_match: { exact: 'always' } }]);
    assert.equal(api.routes[2].route?.weighted_clusters?.clusters[1].weight, 10);
    assert.equal(api.routes[3].route?.timeout, 0);
    assert.deepEqual(bootstrap.admin?.access_log, [{ name: 'envoy.access_loggers.file', sink: 'file', path: '/dev/null' }]);
    assert.equal(bootstrap.stats_flush_interval, 10_000);
    const canary = bootstrap.static_resources.clusters[1];
    assert.equal(canary.idle_timeout, 60_000);
    assert.equal(canary.connect_timeout, 1000);
  });

  test('resolves a relative DataSource filename against the config file directory', () => {
    const { bootstrap } = loadConfigFile(fixture('front-proxy.yaml'));
    const hcm = bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].http_connection_manager;
    const body = hcm.route_config.virtual_hosts[1].routes[0].direct_response?.body;
    assert.equal(body, readFileSync(fixture('pages/maintenance.html'), 'utf8'));
  });

  test('gives the same bootstrap for snake_case and lowerCamelCase field names', () => {
    const snake = loadConfigFile(fixture('front-proxy.yaml'));
    const camel = loadConfigFile(fixture('front-proxy-camel.yaml'));
    assert.deepEqual(camel.bootstrap, snake.bootstrap);
  });

  test('renames fields to snake_case in raw but keeps Struct keys and values as written', () => {
    const { raw } = loadConfigFile(fixture('front-proxy-camel.yaml'));
    const sr = raw.static_resources as any;
    const hcm = sr.listeners[0].filter_chains[0].filters[0].typed_config;
    assert.equal(hcm['@type'].endsWith('HttpConnectionManager'), true);
    assert.equal(hcm.stat_prefix, 'ingress_http');
    assert.equal(hcm.codec_type, 'auto');
    assert.deepEqual(hcm.access_log[0].typed_config.log_format.json_format, {
      status: '%RESPONSE_CODE%',
      upstreamHost: '%UPSTREAM_HOST%',
    });
    assert.equal(hcm.http_filters[0].typed_config.suppress_envoy_headers, true);
    const opts = sr.clusters[1].typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    assert.equal(opts.common_http_protocol_options.idle_timeout, '60s');
  });

  test("loads Envoy's demo style with a router that has no typed_config", () => {
    const { bootstrap } = loadConfigFile(fixture('envoy-demo.yaml'));
    const hcm = bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].http_connection_manager;
    assert.deepEqual(hcm.http_filters, [{ name: 'envoy.filters.http.router' }]);
    assert.equal(hcm.codec_type, 'AUTO');
    assert.deepEqual(hcm.access_log, [{ name: 'envoy.access_loggers.stdout', sink: 'stdout' }]);
    const cluster = bootstrap.static_resources.clusters[0];
    assert.equal(cluster.type, 'LOGICAL_DNS');
    assert.equal(cluster.lb_policy, 'ROUND_ROBIN');
  });

  test('reports an unreadable file with SLUICE_ERR_CONFIG_READ', () => {
    assert.throws(
      () => loadConfigFile(fixture('does-not-exist.yaml')),
      (e: unknown) => e instanceof SluiceError && e.code === ErrorCode.CONFIG_READ && e.source === fixture('does-not-exist.yaml'),
    );
  });
});

describe('loadConfigText', () => {
  test('reports a bad enum value at its path and line with SLUICE_ERR_CONFIG_INVALID', () => {
    const text = `${'\n'.repeat(3)}${configYaml({ clusters: `- name: backend\n  lb_policy: ROUND\n  load_assignment: {cluster_name: backend}` })}`;
    const padded = '\n'.repeat(31 - lineOf(text, 'lb_policy')) + text;
    assert.throws(
      () => loadConfigText(padded),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.code, ErrorCode.CONFIG_INVALID);
        assert.deepEqual(e.problems.map((p) => [p.path, p.line]), [[`${CLUSTER_PATH}.lb_policy`, 31]]);
        assert.match(e.message, /static_resources\.clusters\[0\]\.lb_policy: unknown value "ROUND".* \(line 31\)/);
        return true;
      },
    );
  });

  test('aggregates every problem into one ConfigError, sorted by line', () => {
    const text = configYaml({
      bootstrap: 'layered_runtime: {}',
      listener: 'listener_filters: []',
      hcm: 'codec_type: HTTP3\nmax_request_headers_kb: 9000',
      routes: '- match: { prefix: "/" }\n  route: { cluster: missing }',
      clusters: `- name: backend\n  lb_polcy: ROUND_ROBIN\n  connect_timeout: 250ms\n  load_assignment: {cluster_name: backend}`,
    });
    let error: unknown;
    try {
      loadConfigText(text, 'inline.yaml');
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, ErrorCode.CONFIG_INVALID);
    assert.equal(error.source, 'inline.yaml');
    assert.deepEqual(
      error.problems.map((p) => [p.path, p.line]),
      [
        ['layered_runtime', lineOf(text, 'layered_runtime')],
        ['static_resources.listeners[0].listener_filters', lineOf(text, 'listener_filters')],
        ['static_resources.listeners[0].filter_chains[0].filters[0].typed_config.codec_type', lineOf(text, 'codec_type')],
        ['static_resources.listeners[0].filter_chains[0].filters[0].typed_config.max_request_headers_kb', lineOf(text, 'max_request_headers_kb')],
        ['static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster', lineOf(text, 'missing')],
        [`${CLUSTER_PATH}.lb_polcy`, lineOf(text, 'lb_polcy')],
        [`${CLUSTER_PATH}.connect_timeout`, lineOf(text, '250ms')],
      ],
    );
    assert.equal(error.message.split('\n').length, 1 + error.problems.length);
  });

  test('returns no problems for a valid config from validateConfigText', () => {
    assert.deepEqual(validateConfigText(configYaml()), []);
  });

  test('reports an empty document and a non-object document at the root', () => {
    assert.deepEqual(validateConfigText('').map((p) => p.path), ['(root)']);
    assert.deepEqual(validateConfigText('# nothing\n').map((p) => p.path), ['(root)']);
    assert.deepEqual(validateConfigText('- a\n- b\n').map((p) => p.path), ['(root)']);
  });

  test('reports invalid YAML with its line and does not validate further', () => {
    const problems = validateConfigText('static_resources:\n  listeners: [\n');
    assert.equal(problems.length, 1);
    assert.equal(problems[0].path, '(yaml)');
    assert.equal(typeof problems[0].line, 'number');
  });

  test('accepts JSON input', () => {
    const json = JSON.stringify({ static_resources: { clusters: [{ name: 'a', load_assignment: { cluster_name: 'a' } }] } });
    const snap = loadConfigText(json);
    assert.equal(snap.bootstrap.static_resources.clusters[0].type, 'STATIC');
    assert.deepEqual(snap.bootstrap.static_resources.listeners, []);
  });
});
