import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfigText } from '../../runtime/config/load.ts';
import { assertOneProblem, configYaml, HCM_TYPE, lineOf, problemsOf } from './helpers.ts';

const L = 'static_resources.listeners[0]';

describe('listeners', () => {
  test('derives a stable name from the address when the listener has none', () => {
    const text = configYaml().replace('  - name: main\n    address:', '  - address:');
    const listener = loadConfigText(text).bootstrap.static_resources.listeners[0];
    assert.equal(listener.name, 'listener_127.0.0.1_10000');
  });

  test('accepts enable_reuse_port, per_connection_buffer_limit_bytes and ignores traffic_direction', () => {
    const text = configYaml({ listener: 'enable_reuse_port: false\nper_connection_buffer_limit_bytes: 1024\ntraffic_direction: inbound\nstat_prefix: edge' });
    const listener = loadConfigText(text).bootstrap.static_resources.listeners[0];
    assert.equal(listener.enable_reuse_port, false);
    assert.equal(listener.per_connection_buffer_limit_bytes, 1024);
    assert.equal(listener.stat_prefix, 'edge');
    assert.equal('traffic_direction' in listener, false);
  });

  test('rejects a port above 65535 at socket_address.port_value', () => {
    const text = configYaml().replace('port_value: 10000', 'port_value: 70000');
    assertOneProblem(text, `${L}.address.socket_address.port_value`, lineOf(text, '70000'));
  });

  test('rejects UDP and named ports by name', () => {
    const udp = configYaml().replace('{ address: 127.0.0.1, port_value: 10000 }', '{ address: 127.0.0.1, port_value: 10000, protocol: udp }');
    assert.match(assertOneProblem(udp, `${L}.address.socket_address.protocol`).message, /"UDP" is not supported by Sluice/);
    const pipe = configYaml().replace('socket_address: { address: 127.0.0.1, port_value: 10000 }', 'pipe: { path: /tmp/s }');
    assertOneProblem(pipe, `${L}.address.pipe`, lineOf(pipe, 'pipe:'));
  });

  test('rejects filter_chain_match and transport_socket on a filter chain by name', () => {
    const text = configYaml().replace('    - filters:\n', '    - filter_chain_match: { server_names: [a.com] }\n      transport_socket: { name: tls }\n      filters:\n');
    assert.deepEqual(problemsOf(text).map((p) => p.path), [
      `${L}.filter_chains[0].filter_chain_match`,
      `${L}.filter_chains[0].transport_socket`,
    ]);
  });

  test('rejects a second filter chain, which could never be selected without filter_chain_match', () => {
    const chain = configYaml().split('    filter_chains:\n')[1].split('  clusters:')[0];
    const text = configYaml().replace('  clusters:', `${chain.replace('    - filters:', '    - name: second\n      filters:')}  clusters:`);
    assertOneProblem(text, `${L}.filter_chains[1]`, lineOf(text, 'name: second'));
  });

  test('rejects network filters other than the HTTP connection manager', () => {
    const text = configYaml().replace(
      '    - filters:\n',
      '    - filters:\n      - name: envoy.filters.network.tcp_proxy\n        typed_config:\n          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n          cluster: backend\n',
    );
    const p = assertOneProblem(text, `${L}.filter_chains[0].filters[0].typed_config`, lineOf(text, 'typed_config:'));
    assert.match(p.message, /network filter type "type.googleapis.com\/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy" is not supported by Sluice/);
  });

  test('requires typed_config on the HTTP connection manager and names unknown filters without one', () => {
    const bare = `static_resources:\n  listeners:\n  - address: { socket_address: { address: 0.0.0.0, port_value: 1 } }\n    filter_chains:\n    - filters:\n      - name: envoy.filters.network.http_connection_manager\n      - name: envoy.filters.network.echo\n`;
    assert.deepEqual(problemsOf(bare).map((p) => p.path), [
      `${L}.filter_chains[0].filters[0].typed_config`,
      `${L}.filter_chains[0].filters[1].name`,
    ]);
  });

  test('rejects two listeners with the same name or the same address', () => {
    const base = configYaml();
    const second = base.split('  listeners:\n')[1].split('  clusters:')[0];
    const sameName = base.replace('  clusters:', `${second.replace('port_value: 10000', 'port_value: 10001')}  clusters:`);
    assertOneProblem(sameName, 'static_resources.listeners[1].name', lineOf(sameName, 'name: main', 1));
    const sameAddress = base.replace('  clusters:', `${second.replace('name: main', 'name: other')}  clusters:`);
    const p = assertOneProblem(sameAddress, 'static_resources.listeners[1].address', lineOf(sameAddress, 'address:', 2));
    assert.match(p.message, /127\.0\.0\.1:10000 is already used by listener "main"/);
  });

  test('allows several listeners on port 0 (each gets its own ephemeral port)', () => {
    const base = configYaml().replace('port_value: 10000', 'port_value: 0');
    const second = base.split('  listeners:\n')[1].split('  clusters:')[0].replace('name: main', 'name: other');
    assert.deepEqual(problemsOf(base.replace('  clusters:', `${second}  clusters:`)), []);
  });

  test('reads the HCM from a TypedStruct wrapper, reporting lines inside its value', () => {
    const text = `static_resources:
  listeners:
  - address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/xds.type.v3.TypedStruct
          type_url: ${HCM_TYPE}
          value:
            stat_prefix: wrapped
            http_filters: [{ name: envoy.filters.http.router }]
            route_config: { virtual_hosts: [{ name: vh, domains: ["*"], routes: [] }] }
`;
    const hcm = loadConfigText(text).bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].http_connection_manager;
    assert.equal(hcm.stat_prefix, 'wrapped');
    const bad = text.replace('stat_prefix: wrapped', 'stat_prefix: wrapped\n            statPrefixx: 1');
    assertOneProblem(bad, `${L}.filter_chains[0].filters[0].typed_config.statPrefixx`, lineOf(bad, 'statPrefixx'));
  });
});
