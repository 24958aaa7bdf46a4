import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfigText } from '../../runtime/config/load.ts';
import { assertOneProblem, configYaml, lineOf, problemsOf } from './helpers.ts';

describe('bootstrap', () => {
  test('rejects unimplemented top-level sections by name, at their lines', () => {
    const text = configYaml({
      bootstrap: 'hds_config: {}\nlayered_runtime: { layers: [] }\noverload_manager: {}\nstats_sinks: []\ntracing: {}\nwatchdogs: {}\ncluster_manager: {}\nstats_config: {}',
    });
    const sections = ['hds_config', 'layered_runtime', 'overload_manager', 'stats_sinks', 'tracing', 'watchdogs', 'cluster_manager', 'stats_config'];
    assert.deepEqual(problemsOf(text).map((p) => [p.path, p.line]), sections.map((s) => [s, lineOf(text, `${s}:`)]));
    for (const p of problemsOf(text)) assert.match(p.message, /Envoy field Sluice does not support/);
  });

  test('rejects static secrets by name', () => {
    const text = configYaml().replace('  clusters:', '  secrets: []\n  clusters:');
    assertOneProblem(text, 'static_resources.secrets', lineOf(text, 'secrets'));
  });

  test('keeps node metadata verbatim and reads the admin address', () => {
    const text = configYaml({ bootstrap: 'node:\n  id: n1\n  cluster: c1\n  metadata: { someKey: { nestedKey: 1 } }\n  locality: { region: eu }\nadmin:\n  address: { socket_address: { address: 127.0.0.1, port_value: 9901 } }' });
    const { bootstrap } = loadConfigText(text);
    assert.deepEqual(bootstrap.node, { id: 'n1', cluster: 'c1', metadata: { someKey: { nestedKey: 1 } }, locality: { region: 'eu' } });
    assert.deepEqual(bootstrap.admin, { address: { address: '127.0.0.1', port_value: 9901 } });
  });

  test('runs without an admin server when admin has no address', () => {
    const { bootstrap } = loadConfigText(configYaml({ bootstrap: 'admin: {}' }));
    assert.deepEqual(bootstrap.admin, {});
    assert.equal(loadConfigText(configYaml()).bootstrap.admin, undefined);
  });

  test('checks stats_flush_interval is between 1ms and 5 minutes', () => {
    assert.equal(loadConfigText(configYaml({ bootstrap: 'stats_flush_interval: 0.5s' })).bootstrap.stats_flush_interval, 500);
    assertOneProblem(configYaml({ bootstrap: 'stats_flush_interval: 301s' }), 'stats_flush_interval');
    assertOneProblem(configYaml({ bootstrap: 'stats_flush_interval: 0s' }), 'stats_flush_interval');
  });

  test('rejects admin fields Sluice does not implement', () => {
    assertOneProblem(configYaml({ bootstrap: 'admin:\n  profile_path: /tmp/p' }), 'admin.profile_path');
  });
});
