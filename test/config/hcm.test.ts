import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KNOWN_HTTP_FILTERS, registerHttpFilter } from '../../runtime/config/http-filters.ts';
import { loadConfigText } from '../../runtime/config/load.ts';
import { message, str, uint32 } from '../../runtime/config/schema.ts';
import type { HttpConnectionManager } from '../../runtime/config/types.ts';
import { lineOf as sourceLine } from '../../runtime/config/yaml-source.ts';
import { assertOneProblem, configYaml, HCM_PATH, HCM_TYPE, lineOf, ROUTER_TYPE } from './helpers.ts';

const TEST_FILTER_TYPE = 'type.googleapis.com/sluice.test.v1.Greeter';
registerHttpFilter(TEST_FILTER_TYPE, message({ fields: { greeting: str({ minLen: 1 }), max_len: uint32() }, required: ['greeting'] }));

function hcmOf(text: string): HttpConnectionManager {
  return loadConfigText(text).bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].http_connection_manager;
}

const ROUTER = `- name: envoy.filters.http.router\n  typed_config: { "@type": ${ROUTER_TYPE} }`;

describe('HTTP connection manager', () => {
  test('applies no defaults itself except codec_type AUTO and empty lists', () => {
    const hcm = hcmOf(configYaml());
    assert.equal(hcm.codec_type, 'AUTO');
    assert.deepEqual(hcm.access_log, []);
    assert.equal(hcm.stream_idle_timeout, undefined);
  });

  test('requires stat_prefix', () => {
    const text = configYaml().replace('          stat_prefix: ingress\n', '');
    const p = assertOneProblem(text, `${HCM_PATH}.stat_prefix`);
    assert.match(p.message, /missing required field "stat_prefix"/);
  });

  test('rejects rds and scoped_routes by name instead of asking for route_config', () => {
    const text = `static_resources:
  listeners:
  - address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": ${HCM_TYPE}
          stat_prefix: ingress
          http_filters: [{ name: envoy.filters.http.router }]
          rds: { route_config_name: r, config_source: { ads: {} } }
`;
    assertOneProblem(text, `${HCM_PATH}.rds`, lineOf(text, 'rds:'));
    const both = text.replace('          rds:', '          route_config: { virtual_hosts: [] }\n          rds:');
    assertOneProblem(both, `${HCM_PATH}.rds`, lineOf(both, 'rds:'));
  });

  test('stores codec_type HTTP2 and rejects HTTP3 as unsupported', () => {
    assert.equal(hcmOf(configYaml({ hcm: 'codec_type: http2' })).codec_type, 'HTTP2');
    const text = configYaml({ hcm: 'codec_type: HTTP3' });
    assert.match(assertOneProblem(text, `${HCM_PATH}.codec_type`, lineOf(text, 'HTTP3')).message, /not supported by Sluice/);
  });

  test('checks max_request_headers_kb is within 1..8192', () => {
    assertOneProblem(configYaml({ hcm: 'max_request_headers_kb: 0' }), `${HCM_PATH}.max_request_headers_kb`);
    assertOneProblem(configYaml({ hcm: 'max_request_headers_kb: 8193' }), `${HCM_PATH}.max_request_headers_kb`);
  });

  test('reads timeouts as milliseconds and names unsupported HCM fields', () => {
    const hcm = hcmOf(configYaml({ hcm: 'request_timeout: 30s\ndrain_timeout: {seconds: 2}\ncommon_http_protocol_options: { max_headers_count: 50, max_connection_duration: 600s }' }));
    assert.equal(hcm.request_timeout, 30_000);
    assert.equal(hcm.drain_timeout, 2000);
    assert.deepEqual(hcm.common_http_protocol_options, { max_headers_count: 50, max_connection_duration: 600_000 });
    const text = configYaml({ hcm: 'normalize_path: true' });
    assertOneProblem(text, `${HCM_PATH}.normalize_path`, lineOf(text, 'normalize_path'));
  });
});

describe('http_filters', () => {
  test('accepts the router by type with its supported fields, and names the unsupported ones', () => {
    const hcm = hcmOf(configYaml({ httpFilters: `${ROUTER}\n  # comment\n`.replace('}', ', dynamic_stats: false, start_child_span: true }') }));
    assert.deepEqual(hcm.http_filters[0].typed_config, { type_url: ROUTER_TYPE, value: { dynamic_stats: false, start_child_span: true } });
    const text = configYaml({ httpFilters: ROUTER.replace('}', ', upstream_log: [] }') });
    assertOneProblem(text, `${HCM_PATH}.http_filters[0].typed_config.upstream_log`, lineOf(text, 'upstream_log'));
  });

  test('requires a router, and requires it last', () => {
    const none = configYaml({ httpFilters: `- name: greet\n  typed_config: { "@type": ${TEST_FILTER_TYPE}, greeting: hi }` });
    assert.match(assertOneProblem(none, `${HCM_PATH}.http_filters`, lineOf(none, 'http_filters')).message, /must be the router/);
    const empty = configYaml({ httpFilters: '[]' }).replace('http_filters:\n          []', 'http_filters: []');
    assertOneProblem(empty, `${HCM_PATH}.http_filters`);
    const first = configYaml({ httpFilters: `${ROUTER}\n- name: greet\n  typed_config: { "@type": ${TEST_FILTER_TYPE}, greeting: hi }` });
    assertOneProblem(first, `${HCM_PATH}.http_filters[0]`, lineOf(first, '- name: envoy.filters.http.router'));
  });

  test('rejects an unknown filter type unless is_optional, which drops it as Envoy does', () => {
    const lua = '- name: lua\n  typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua }';
    const text = configYaml({ httpFilters: `${lua}\n${ROUTER}` });
    const p = assertOneProblem(text, `${HCM_PATH}.http_filters[0].typed_config`, lineOf(text, 'lua.v3.Lua'));
    assert.equal(p.message, 'http filter type "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua" is not supported by Sluice');
    const optional = configYaml({ httpFilters: `${lua}\n  is_optional: true\n${ROUTER}` });
    assert.deepEqual(hcmOf(optional).http_filters.map((f) => f.name), ['envoy.filters.http.router']);
  });

  test('only lets the router omit typed_config', () => {
    const text = configYaml({ httpFilters: `- name: envoy.filters.http.cors\n${ROUTER}` });
    assertOneProblem(text, `${HCM_PATH}.http_filters[0]`, lineOf(text, 'envoy.filters.http.cors'));
  });

  test('validates registered filter types and keeps their normalized value, disabled and is_optional', () => {
    const text = configYaml({
      httpFilters: `- name: greet\n  disabled: true\n  typed_config:\n    "@type": ${TEST_FILTER_TYPE}\n    greeting: hello\n    maxLen: 5\n${ROUTER}`,
    });
    assert.deepEqual(hcmOf(text).http_filters[0], {
      name: 'greet',
      disabled: true,
      typed_config: { type_url: TEST_FILTER_TYPE, value: { greeting: 'hello', max_len: 5 } },
    });
    const bad = text.replace('greeting: hello', 'greeting: ""');
    assertOneProblem(bad, `${HCM_PATH}.http_filters[0].typed_config.greeting`, lineOf(bad, 'greeting:'));
  });

  test('unwraps a TypedStruct filter config into type_url and value', () => {
    const text = configYaml({
      httpFilters: `- name: greet\n  typed_config:\n    "@type": type.googleapis.com/udpa.type.v1.TypedStruct\n    type_url: ${TEST_FILTER_TYPE}\n    value: { greeting: hey }\n${ROUTER}`,
    });
    assert.deepEqual(hcmOf(text).http_filters[0].typed_config, { type_url: TEST_FILTER_TYPE, value: { greeting: 'hey' } });
  });

  test('requires "@type" on typed_config', () => {
    const text = configYaml({ httpFilters: '- name: envoy.filters.http.router\n  typed_config: { dynamic_stats: true }' });
    assert.match(assertOneProblem(text, `${HCM_PATH}.http_filters[0].typed_config`).message, /missing "@type"/);
  });

  test('lets other modules extend KNOWN_HTTP_FILTERS with a plain validator that reports lines', () => {
    const url = 'type.googleapis.com/sluice.test.v1.Plain';
    KNOWN_HTTP_FILTERS.set(url, (value, path, problems) => {
      if (typeof value.size !== 'number') problems.push({ path: `${path}.size`, message: 'size must be a number', line: sourceLine(value, 'size') });
      return { size: value.size };
    });
    const text = configYaml({ httpFilters: `- name: plain\n  typed_config:\n    "@type": ${url}\n    size: big\n${ROUTER}` });
    assertOneProblem(text, `${HCM_PATH}.http_filters[0].typed_config.size`, lineOf(text, 'size: big'));
    assert.deepEqual(hcmOf(text.replace('size: big', 'size: 3')).http_filters[0].typed_config?.value, { size: 3 });
  });
});
