import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfigText } from '../../runtime/config/load.ts';
import type { Route, RouteConfiguration } from '../../runtime/config/types.ts';
import { assertOneProblem, assertValid, configYaml, HCM_PATH, lineOf, problemsOf, ROUTE_PATH, VHOST_PATH } from './helpers.ts';

const RC = `${HCM_PATH}.route_config`;

function tableOf(text: string): RouteConfiguration {
  return loadConfigText(text, undefined, { baseDir: import.meta.dirname }).bootstrap.static_resources.listeners[0].filter_chains[0]
    .filters[0].http_connection_manager.route_config;
}
function routeOf(routes: string): Route {
  return tableOf(configYaml({ routes })).virtual_hosts[0].routes[0];
}

describe('route matching', () => {
  test('folds deprecated header matchers into string_match', () => {
    const r = routeOf(`- match:
    prefix: /
    headers:
    - { name: a, exact_match: x }
    - { name: b, prefix_match: y }
    - { name: c, suffix_match: z }
    - { name: d, contains_match: w }
    - { name: e, safe_regex_match: { regex: "v+" } }
    - { name: f, present_match: true, invert_match: true }
    - { name: g, string_match: { exact: X, ignore_case: true } }
    - { name: h, range_match: { start: 1, end: "10" } }
  route: { cluster: backend }`);
    assert.deepEqual(r.match.headers, [
      { name: 'a', string_match: { exact: 'x' } },
      { name: 'b', string_match: { prefix: 'y' } },
      { name: 'c', string_match: { suffix: 'z' } },
      { name: 'd', string_match: { contains: 'w' } },
      { name: 'e', string_match: { safe_regex: { regex: 'v+' } } },
      { name: 'f', present_match: true, invert_match: true },
      { name: 'g', string_match: { exact: 'X', ignore_case: true } },
      { name: 'h', range_match: { start: 1, end: 10 } },
    ]);
  });

  test('requires exactly one path specifier', () => {
    const none = configYaml({ routes: '- match: { case_sensitive: false }\n  route: { cluster: backend }' });
    assert.match(assertOneProblem(none, `${ROUTE_PATH}.match`).message, /one of prefix, path, safe_regex, path_separated_prefix/);
    const two = configYaml({ routes: '- match: { prefix: /a, path: /a }\n  route: { cluster: backend }' });
    assertOneProblem(two, `${ROUTE_PATH}.match.path`);
  });

  test('rejects a path_separated_prefix with ? or # or a trailing slash', () => {
    for (const bad of ['/api/', '/api?x', '/a#b']) {
      assertOneProblem(configYaml({ routes: `- match: { path_separated_prefix: "${bad}" }\n  route: { cluster: backend }` }), `${ROUTE_PATH}.match.path_separated_prefix`);
    }
    assert.equal(routeOf('- match: { path_separated_prefix: /api/v1 }\n  route: { cluster: backend }').match.path_separated_prefix, '/api/v1');
  });

  test('rejects regexes RE2 would reject, with the path of the regex', () => {
    const text = configYaml({ routes: '- match:\n    safe_regex:\n      regex: "(a)\\\\1"\n  route: { cluster: backend }' });
    const p = assertOneProblem(text, `${ROUTE_PATH}.match.safe_regex.regex`, lineOf(text, 'regex: "'));
    assert.match(p.message, /back-references/);
    assertOneProblem(configYaml({ routes: '- match: { safe_regex: { regex: "(?=x)" } }\n  route: { cluster: backend }' }), `${ROUTE_PATH}.match.safe_regex.regex`);
    assertOneProblem(configYaml({ routes: '- match: { prefix: /, headers: [{ name: a, string_match: { safe_regex: { regex: "[" } } }] }\n  route: { cluster: backend }' }), `${ROUTE_PATH}.match.headers[0].string_match.safe_regex.regex`);
  });

  test('names unsupported match criteria', () => {
    const text = configYaml({ routes: '- match: { prefix: /, grpc: {} }\n  route: { cluster: backend }' });
    assertOneProblem(text, `${ROUTE_PATH}.match.grpc`);
  });

  test('reads query parameter matchers and runtime_fraction with defaults', () => {
    const r = routeOf('- match: { prefix: /, query_parameters: [{ name: debug, present_match: true }], runtime_fraction: { default_value: { numerator: 5 } } }\n  route: { cluster: backend }');
    assert.deepEqual(r.match.query_parameters, [{ name: 'debug', present_match: true }]);
    assert.deepEqual(r.match.runtime_fraction, { default_value: { numerator: 5, denominator: 'HUNDRED' } });
  });
});

describe('route actions', () => {
  test('requires exactly one of route, redirect and direct_response', () => {
    const none = configYaml({ routes: '- match: { prefix: / }' });
    assertOneProblem(none, ROUTE_PATH);
    const two = configYaml({ routes: '- match: { prefix: / }\n  route: { cluster: backend }\n  direct_response: { status: 200 }' });
    assertOneProblem(two, `${ROUTE_PATH}.direct_response`, lineOf(two, 'direct_response'));
  });

  test('requires exactly one cluster specifier and keeps rewrite kinds exclusive', () => {
    assertOneProblem(configYaml({ routes: '- match: { prefix: / }\n  route: { timeout: 1s }' }), `${ROUTE_PATH}.route`);
    assertOneProblem(configYaml({ routes: '- match: { prefix: / }\n  route: { cluster: backend, cluster_header: x-c }' }), `${ROUTE_PATH}.route.cluster_header`);
    const rewrites = configYaml({ routes: '- match: { prefix: / }\n  route: { cluster: backend, prefix_rewrite: /, regex_rewrite: { pattern: { regex: a }, substitution: b } }' });
    assertOneProblem(rewrites, `${ROUTE_PATH}.route.regex_rewrite`);
    const hosts = configYaml({ routes: '- match: { prefix: / }\n  route: { cluster: backend, host_rewrite_literal: a, auto_host_rewrite: true }' });
    assertOneProblem(hosts, `${ROUTE_PATH}.route.auto_host_rewrite`);
  });

  test('reads timeouts in milliseconds and lower-cases upgrade types', () => {
    const r = routeOf('- match: { prefix: / }\n  route: { cluster: backend, timeout: 0s, idle_timeout: 1.5s, upgrade_configs: [{ upgrade_type: WebSocket, enabled: false }] }');
    assert.deepEqual(r.route, { cluster: 'backend', timeout: 0, idle_timeout: 1500, upgrade_configs: [{ upgrade_type: 'websocket', enabled: false }] });
  });

  test('names unsupported route action fields such as retry_policy', () => {
    const text = configYaml({ routes: '- match: { prefix: / }\n  route:\n    cluster: backend\n    retry_policy: { retry_on: 5xx }' });
    assertOneProblem(text, `${ROUTE_PATH}.route.retry_policy`, lineOf(text, 'retry_policy'));
  });

  test('checks weighted cluster weights', () => {
    const zero = configYaml({ routes: '- match: { prefix: / }\n  route: { weighted_clusters: { clusters: [{ name: backend, weight: 0 }] } }' });
    assertOneProblem(zero, `${ROUTE_PATH}.route.weighted_clusters.clusters`);
    const total = configYaml({ routes: '- match: { prefix: / }\n  route: { weighted_clusters: { total_weight: 100, clusters: [{ name: backend, weight: 10 }] } }' });
    assertOneProblem(total, `${ROUTE_PATH}.route.weighted_clusters.total_weight`);
  });

  test('reads redirects and rejects conflicting scheme or path rewrites', () => {
    const r = routeOf('- match: { prefix: / }\n  redirect: { host_redirect: example.com, port_redirect: 8443, prefix_rewrite: /new, response_code: found, strip_query: true }');
    assert.deepEqual(r.redirect, { host_redirect: 'example.com', port_redirect: 8443, prefix_rewrite: '/new', response_code: 'FOUND', strip_query: true });
    assertOneProblem(configYaml({ routes: '- match: { prefix: / }\n  redirect: { https_redirect: true, scheme_redirect: http }' }), `${ROUTE_PATH}.redirect.scheme_redirect`);
    assertOneProblem(configYaml({ routes: '- match: { prefix: / }\n  redirect: { path_redirect: /a, prefix_rewrite: /b }' }), `${ROUTE_PATH}.redirect.prefix_rewrite`);
  });

  test('resolves direct response bodies from inline_string, inline_bytes and files', () => {
    assert.deepEqual(routeOf('- match: { prefix: / }\n  direct_response: { status: 200, body: { inline_string: ok } }').direct_response, { status: 200, body: 'ok' });
    assert.equal(routeOf('- match: { prefix: / }\n  direct_response: { status: 200, body: { inline_bytes: aGVsbG8= } }').direct_response?.body, 'hello');
    const file = routeOf('- match: { prefix: / }\n  direct_response: { status: 503, body: { filename: fixtures/pages/maintenance.html } }');
    assert.match(file.direct_response?.body ?? '', /maintenance/);
    const missing = configYaml({ routes: '- match: { prefix: / }\n  direct_response: { status: 503, body: { filename: nope.html } }' });
    assert.match(assertOneProblem(missing, `${ROUTE_PATH}.direct_response.body.filename`).message, /cannot read file .*nope\.html.*ENOENT/);
  });

  test('checks direct response status range and body size limit', () => {
    assertOneProblem(configYaml({ routes: '- match: { prefix: / }\n  direct_response: { status: 199 }' }), `${ROUTE_PATH}.direct_response.status`);
    assertOneProblem(configYaml({ routes: '- match: { prefix: / }\n  direct_response: { status: 600 }' }), `${ROUTE_PATH}.direct_response.status`);
    const big = configYaml({ routes: `- match: { prefix: / }\n  direct_response: { status: 200, body: { inline_string: "${'x'.repeat(4097)}" } }` });
    assertOneProblem(big, `${ROUTE_PATH}.direct_response.body`);
    assertValid(configYaml({
      routeConfig: 'max_direct_response_body_size_bytes: 5000',
      routes: `- match: { prefix: / }\n  direct_response: { status: 200, body: { inline_string: "${'x'.repeat(4097)}" } }`,
    }));
  });
});

describe('header mutations', () => {
  test('folds the deprecated append bool into append_action', () => {
    const r = routeOf(`- match: { prefix: / }
  route: { cluster: backend }
  request_headers_to_add:
  - header: { key: a, value: "1" }
  - header: { key: b, value: "2" }
    append: true
  - header: { key: c, value: "3" }
    append: false
  - header: { key: d, raw_value: dmFsdWU= }
    append_action: ADD_IF_ABSENT
    keep_empty_value: true
  response_headers_to_remove: [x-powered-by]`);
    assert.deepEqual(r.request_headers_to_add, [
      { header: { key: 'a', value: '1' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
      { header: { key: 'b', value: '2' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
      { header: { key: 'c', value: '3' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      { header: { key: 'd', value: 'value' }, append_action: 'ADD_IF_ABSENT', keep_empty_value: true },
    ]);
    assert.deepEqual(r.response_headers_to_remove, ['x-powered-by']);
  });

  test('rejects append together with append_action, and pseudo-headers or host', () => {
    const both = configYaml({ routes: '- match: { prefix: / }\n  route: { cluster: backend }\n  request_headers_to_add: [{ header: { key: a, value: b }, append: true, append_action: ADD_IF_ABSENT }]' });
    assertOneProblem(both, `${ROUTE_PATH}.request_headers_to_add[0].append_action`);
    const pseudo = configYaml({ routes: '- match: { prefix: / }\n  route: { cluster: backend }\n  request_headers_to_remove: [":path", host]' });
    assert.deepEqual(problemsOf(pseudo).map((p) => p.path), [`${ROUTE_PATH}.request_headers_to_remove[0]`, `${ROUTE_PATH}.request_headers_to_remove[1]`]);
  });
});

describe('virtual hosts', () => {
  const vh = (name: string, domains: string) => `- name: ${name}\n  domains: ${domains}\n  routes: []`;

  test('rejects a domain used by two virtual hosts, at the second use', () => {
    const text = configYaml({ virtualHosts: `${vh('a', '["api.example.com"]')}\n${vh('b', '["www.example.com", "API.example.com"]')}` });
    const p = assertOneProblem(text, `${RC}.virtual_hosts[1].domains[1]`, lineOf(text, 'API.example.com'));
    assert.match(p.message, /domain "api\.example\.com" is used more than once \(first at .*virtual_hosts\[0\]\.domains\[0\]\)/);
  });

  test('allows only one virtual host with the wildcard domain', () => {
    const text = configYaml({ virtualHosts: `${vh('a', '["*"]')}\n${vh('b', '"*"')}` });
    assert.match(assertOneProblem(text, `${RC}.virtual_hosts[1].domains[0]`).message, /only one virtual host may use the wildcard domain/);
  });

  test('allows a wildcard only at the start or the end of a domain', () => {
    assertValid(configYaml({ virtualHosts: vh('a', '["*.example.com", "example.*", "*-bar.example.com", "*"]') }));
    const text = configYaml({ virtualHosts: vh('a', '["api.*.com"]') });
    assertOneProblem(text, `${VHOST_PATH}.domains[0]`, lineOf(text, 'api.*.com'));
    assertOneProblem(configYaml({ virtualHosts: vh('a', '["*.example.*"]') }), `${VHOST_PATH}.domains[0]`);
  });

  test('requires at least one domain and names unsupported virtual host fields', () => {
    assertOneProblem(configYaml({ virtualHosts: vh('a', '[]') }), `${VHOST_PATH}.domains`);
    assertOneProblem(configYaml({ virtualHosts: `${vh('a', '["*"]')}\n  require_tls: ALL` }), `${VHOST_PATH}.require_tls`);
  });

  test('keeps typed_per_filter_config at every level, unwrapping TypedStruct', () => {
    const table = tableOf(configYaml({
      routeConfig: 'typed_per_filter_config:\n  lua: { "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute, disabled: true }',
      virtualHosts: `- name: vh
  domains: ["*"]
  typed_per_filter_config:
    my-wasm:
      "@type": type.googleapis.com/udpa.type.v1.TypedStruct
      type_url: type.googleapis.com/envoy.config.route.v3.FilterConfig
      value: { disabled: true }
  routes:
  - match: { prefix: / }
    route: { cluster: backend }
    typed_per_filter_config:
      my-wasm: { "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: false }`,
    }));
    assert.deepEqual(table.typed_per_filter_config, { lua: { type_url: 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute', value: { disabled: true } } });
    assert.deepEqual(table.virtual_hosts[0].typed_per_filter_config, { 'my-wasm': { type_url: 'type.googleapis.com/envoy.config.route.v3.FilterConfig', value: { disabled: true } } });
    assert.deepEqual(table.virtual_hosts[0].routes[0].typed_per_filter_config?.['my-wasm'].value, { disabled: false });
  });
});

describe('cluster references', () => {
  test('reports a route to an unknown cluster at route.cluster', () => {
    const text = configYaml({ routes: '- match: { prefix: / }\n  route:\n    cluster: x' });
    const p = assertOneProblem(text, `${ROUTE_PATH}.route.cluster`, lineOf(text, 'cluster: x'));
    assert.equal(p.message, 'unknown cluster "x"');
  });

  test('reports unknown weighted clusters, and accepts cluster_header without a check', () => {
    const text = configYaml({ routes: '- match: { prefix: / }\n  route: { weighted_clusters: { clusters: [{ name: backend, weight: 1 }, { name: ghost, weight: 1 }, { cluster_header: x-c, weight: 1 }] } }' });
    assertOneProblem(text, `${ROUTE_PATH}.route.weighted_clusters.clusters[1].name`);
  });

  test('skips the check when validate_clusters is false', () => {
    assertValid(configYaml({ routeConfig: 'validate_clusters: false', routes: '- match: { prefix: / }\n  route: { cluster: x }' }));
  });
});
