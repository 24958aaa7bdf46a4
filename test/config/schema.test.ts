import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfigText } from '../../runtime/config/load.ts';
import { bool, enumOf, list, message, newCtx, str, uint32 } from '../../runtime/config/schema.ts';
import { parseYaml } from '../../runtime/config/yaml-source.ts';
import {
  assertOneProblem, assertValid, CLUSTER_PATH, configYaml, HCM_PATH, HCM_TYPE, lineOf, problemsOf, VHOST_PATH,
} from './helpers.ts';

/** A tiny message to exercise the walker directly. */
const THING = message({
  fields: { name: str({ minLen: 1 }), port_value: uint32({ max: 65535 }), tags: list(str()), on: bool, mode: enumOf(['FAST', 'SLOW'] as const, ['WARP']) },
  unsupported: ['legacy_field'],
  required: ['name'],
  oneOf: [{ fields: ['on', 'mode'] }],
});

function walk(yaml: string) {
  const ctx = newCtx([], '.');
  const value = THING.parse(parseYaml(yaml).value, { path: 'thing' }, ctx);
  return { value, problems: ctx.problems };
}

describe('field walker', () => {
  test('accepts snake_case and lowerCamelCase names and normalizes to snake_case', () => {
    assert.deepEqual(walk('name: a\nportValue: 80\n').value, { name: 'a', port_value: 80 });
    assert.deepEqual(walk('name: a\nport_value: 80\n').value, { name: 'a', port_value: 80 });
  });

  test('reports an unknown field by the name written, at its line', () => {
    const { problems } = walk('name: a\n\nportValu: 80\n');
    assert.deepEqual(problems, [{ path: 'thing.portValu', message: 'unknown field "portValu"', line: 3 }]);
  });

  test('reports a known Envoy field Sluice does not implement by name', () => {
    const { problems } = walk('name: a\nlegacyField: 1\n');
    assert.deepEqual(problems, [
      { path: 'thing.legacy_field', message: 'field "legacy_field" is an Envoy field Sluice does not support', line: 2 },
    ]);
  });

  test('reports a field given in both spellings', () => {
    const { problems } = walk('name: a\nport_value: 1\nportValue: 2\n');
    assert.equal(problems.length, 1);
    assert.equal(problems[0].line, 3);
    assert.match(problems[0].message, /given twice/);
  });

  test('treats null as unset, so a required field given as null is missing', () => {
    const { problems } = walk('name:\nport_value:\n');
    assert.deepEqual(problems, [{ path: 'thing.name', message: 'missing required field "name"' }]);
  });

  test('reads a single value where a list is expected as a one-element list', () => {
    assert.deepEqual(walk('name: a\ntags: solo\n').value, { name: 'a', tags: ['solo'] });
  });

  test('accepts integers written as decimal strings but not other strings', () => {
    assert.deepEqual(walk('name: a\nport_value: "8080"\n').value, { name: 'a', port_value: 8080 });
    assert.match(walk('name: a\nport_value: abc\n').problems[0].message, /expected an integer, got a string "abc"/);
  });

  test('reports type errors: number for string, string for bool, object for scalar', () => {
    assert.match(walk('name: 12\n').problems[0].message, /expected a string, got a number 12/);
    assert.match(walk('name: a\non: "yes"\n').problems[0].message, /expected true or false/);
    assert.match(walk('name: a\nport_value: {a: 1}\n').problems[0].message, /expected an integer, got an object/);
  });

  test('reads enum names case-insensitively and reports unknown and unimplemented values differently', () => {
    assert.deepEqual(walk('name: a\nmode: fast\n').value, { name: 'a', mode: 'FAST' });
    assert.match(walk('name: a\nmode: ludicrous\n').problems[0].message, /unknown value "ludicrous"; expected one of FAST, SLOW/);
    assert.match(walk('name: a\nmode: warp\n').problems[0].message, /"WARP" is not supported by Sluice/);
  });

  test('reports two members of a oneof at the second one', () => {
    const { problems } = walk('name: a\non: true\nmode: FAST\n');
    assert.equal(problems.length, 1);
    assert.equal(problems[0].path, 'thing.mode');
    assert.equal(problems[0].line, 3);
  });

  test('reports range errors with the allowed range', () => {
    assert.match(walk('name: a\nport_value: 70000\n').problems[0].message, /between 0 and 65535, got 70000/);
  });
});

describe('Envoy parsing rules on a whole bootstrap', () => {
  test('reports an unknown cluster field with its exact path and line', () => {
    const text = configYaml({ clusters: '- name: backend\n  lb_polcy: ROUND_ROBIN\n  load_assignment: {cluster_name: backend}' });
    const p = assertOneProblem(text, `${CLUSTER_PATH}.lb_polcy`, lineOf(text, 'lb_polcy'));
    assert.equal(p.message, 'unknown field "lb_polcy"');
  });

  test('reports listener_filters as an Envoy field Sluice does not support', () => {
    const text = configYaml({ listener: 'listener_filters:\n- name: envoy.filters.listener.tls_inspector' });
    const p = assertOneProblem(text, 'static_resources.listeners[0].listener_filters', lineOf(text, 'listener_filters'));
    assert.match(p.message, /"listener_filters" is an Envoy field Sluice does not support/);
  });

  test('accepts wrapper types as bare scalars', () => {
    const text = configYaml({ hcm: 'use_remote_address: true\nmax_request_headers_kb: 80\ngenerate_request_id: false' });
    const hcm = loadConfigText(text).bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].http_connection_manager;
    assert.equal(hcm.use_remote_address, true);
    assert.equal(hcm.max_request_headers_kb, 80);
    assert.equal(hcm.generate_request_id, false);
  });

  test('accepts a mapping where a list is expected (filters, http_filters, domains, routes, lb_endpoints)', () => {
    const text = `
static_resources:
  listeners:
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
      filters:
        name: hcm
        typed_config:
          "@type": ${HCM_TYPE}
          stat_prefix: ingress
          http_filters:
            name: envoy.filters.http.router
          route_config:
            virtual_hosts:
              name: vh
              domains: "*"
              routes:
                match: { prefix: "/" }
                route: { cluster: backend }
  clusters:
    name: backend
    load_assignment:
      cluster_name: backend
      endpoints:
        lb_endpoints:
          endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
`;
    const { bootstrap } = loadConfigText(text);
    const hcm = bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].http_connection_manager;
    assert.deepEqual(hcm.route_config.virtual_hosts[0].domains, ['*']);
    assert.equal(hcm.route_config.virtual_hosts[0].routes.length, 1);
    assert.equal(hcm.http_filters.length, 1);
    assert.equal(bootstrap.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints.length, 1);
  });

  test('reports the line of a type error deep inside the HCM', () => {
    const text = configYaml({ hcm: 'xff_num_trusted_hops: two' });
    assertOneProblem(text, `${HCM_PATH}.xff_num_trusted_hops`, lineOf(text, 'xff_num_trusted_hops'));
  });

  test('reports a missing required field at the message that lacks it', () => {
    const text = configYaml({ virtualHosts: '- domains: ["*"]\n  routes: []' });
    const p = assertOneProblem(text, `${VHOST_PATH}.name`, lineOf(text, 'domains: ["*"]'));
    assert.match(p.message, /missing required field "name"/);
  });

  test('still finds every problem when several siblings are wrong', () => {
    const text = configYaml({ hcm: 'via: 1\nserver_name: 2\nskip_xff_append: maybe' });
    assert.deepEqual(problemsOf(text).map((p) => p.path.split('.').pop()), ['via', 'server_name', 'skip_xff_append']);
  });

  test('honours anchors and !ignore in a whole config', () => {
    const text = `!ignore defs:\n  cluster: &c { name: backend, load_assignment: {cluster_name: backend} }\nstatic_resources:\n  clusters: [*c]\n`;
    assertValid(text);
  });
});
