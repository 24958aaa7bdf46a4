import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { loadConfigFile, loadConfigText, reloadConfig, validateConfigText } from '../../runtime/config/load.ts';
import { changedOnDisk, changedSources, resourcePath, watchTargets } from '../../runtime/config/config-sources.ts';
import { ConfigError, ErrorCode } from '../../runtime/errors.ts';
import { HCM_TYPE, lineOf } from './helpers.ts';

const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

/** A temp dir removed when the test ends; `write` puts a file in it and returns its path. */
function tempDir(t: TestContext): { dir: string; write(name: string, text: string): string } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
  };
}

function ldsFile(listeners: string[], versionInfo?: string): string {
  return `${versionInfo === undefined ? '' : `version_info: "${versionInfo}"\n`}resources:\n${listeners.join('')}`;
}

function listener(name: string, port: number, cluster = 'backend', extra = ''): string {
  return `- "@type": ${LISTENER_TYPE}
  name: ${name}
  address:
    socket_address: { address: 127.0.0.1, port_value: ${port} }${extra}
  filter_chains:
  - filters:
    - name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": ${HCM_TYPE}
        stat_prefix: ${name}
        http_filters:
        - name: envoy.filters.http.router
        route_config:
          virtual_hosts:
          - name: vh
            domains: ["*"]
            routes:
            - match: { prefix: "/" }
              route: { cluster: ${cluster} }
`;
}

function cluster(name: string, port: number, extra = ''): string {
  return `- "@type": ${CLUSTER_TYPE}
  name: ${name}
  connect_timeout: 1s${extra}
  load_assignment:
    cluster_name: ${name}
    endpoints:
    - lb_endpoints:
      - endpoint:
          address:
            socket_address: { address: 127.0.0.1, port_value: ${port} }
`;
}

function bootstrap(dynamic: string, statics = ''): string {
  return `node: { id: n1, cluster: c1 }
dynamic_resources:
${dynamic}
${statics}`;
}

function problemsIn(path: string): Array<[string, number | undefined]> {
  try {
    loadConfigFile(path);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.code, ErrorCode.CONFIG_INVALID);
    return e.problems.map((p) => [p.path, p.line]);
  }
  assert.fail('expected the config to be rejected');
}

describe('dynamic_resources (filesystem xDS)', () => {
  test('reads listeners from the LDS file and clusters from the CDS file after the static ones', (t) => {
    const d = tempDir(t);
    d.write('lds.yaml', ldsFile([listener('dyn', 10001, 'dyn_cluster')], 'v7'));
    d.write('cds.yaml', `resources:\n${cluster('dyn_cluster', 8081)}`);
    const path = d.write(
      'envoy.yaml',
      bootstrap(
        '  lds_config: { path_config_source: { path: lds.yaml }, resource_api_version: V3 }\n  cds_config: { path_config_source: { path: cds.yaml } }',
        `static_resources:\n  clusters:\n${cluster('static_cluster', 8080).replace(/^- "@type": .*\n  /, '  - ').replace(/\n/g, '\n  ')}`,
      ),
    );
    const snap = loadConfigFile(path);
    assert.deepEqual(snap.listeners.map((l) => l.name), ['dyn']);
    assert.deepEqual(snap.clusters.map((c) => c.name), ['static_cluster', 'dyn_cluster']);
    assert.deepEqual(snap.bootstrap.dynamic_resources, { lds_config: { path: join(d.dir, 'lds.yaml') }, cds_config: { path: join(d.dir, 'cds.yaml') } });
    assert.equal(snap.dynamic.lds?.version_info, 'v7');
    assert.equal(snap.dynamic.lds?.raw[0]['@type'], LISTENER_TYPE);
    assert.equal(snap.dynamic.cds?.version_info, snap.dynamic.cds?.hash, 'without version_info the file hash is the version');
    assert.equal(resourcePath(snap, 'clusters', 1), `${join(d.dir, 'cds.yaml')}:resources[0]`);
    assert.equal(resourcePath(snap, 'clusters', 0), 'static_resources.clusters[0]');
  });

  test('accepts the deprecated plain path form and a watched_directory', (t) => {
    const d = tempDir(t);
    d.write('cds.yaml', `resources:\n${cluster('c', 8081)}`);
    d.write('lds.yaml', 'resources: []');
    const path = d.write('envoy.yaml', bootstrap(`  cds_config: { path: cds.yaml }\n  lds_config: { path_config_source: { path: lds.yaml, watched_directory: { path: ${d.dir} } } }`));
    const snap = loadConfigFile(path);
    assert.equal(snap.clusters[0].name, 'c');
    assert.deepEqual(snap.bootstrap.dynamic_resources?.lds_config, { path: join(d.dir, 'lds.yaml'), watched_directory: d.dir });
    assert.deepEqual(watchTargets(snap).directories, [d.dir]);
  });

  test('refuses gRPC config sources by name', () => {
    const text = bootstrap('  ads_config: { api_type: GRPC }\n  lds_config: { ads: {} }\n  cds_config: { api_config_source: { api_type: GRPC } }');
    const problems = validateConfigText(text);
    assert.deepEqual(problems.map((p) => [p.path, p.line]), [
      ['dynamic_resources.ads_config', lineOf(text, 'ads_config')],
      ['dynamic_resources.lds_config.ads', lineOf(text, 'lds_config')],
      ['dynamic_resources.cds_config.api_config_source', lineOf(text, 'cds_config')],
    ]);
    for (const p of problems) assert.match(p.message, /path_config_source/);
  });

  test('needs one config source and a readable file', () => {
    const text = bootstrap('  lds_config: { resource_api_version: V3 }\n  cds_config: { path: /nonexistent/cds.yaml }');
    assert.deepEqual(validateConfigText(text).map((p) => [p.path, p.line]), [
      ['dynamic_resources.lds_config', lineOf(text, 'lds_config')],
      ['dynamic_resources.cds_config.path', lineOf(text, 'cds_config')],
    ]);
  });

  test('reports problems inside the files with the file, the YAML path and the line, after the bootstrap ones', (t) => {
    const d = tempDir(t);
    const lds = ldsFile([listener('a', 10001), listener('b', 70000)]);
    const ldsPath = d.write('lds.yaml', lds);
    const cds = `resources:\n${cluster('backend', 8081, '\n  lb_polcy: ROUND_ROBIN')}`;
    const cdsPath = d.write('cds.yaml', cds);
    const text = bootstrap(`  lds_config: { path: lds.yaml }\n  cds_config: { path: cds.yaml }\nstats_sinks: []`);
    const path = d.write('envoy.yaml', text);
    assert.deepEqual(problemsIn(path), [
      ['stats_sinks', lineOf(text, 'stats_sinks')],
      [`${ldsPath}:resources[1].address.socket_address.port_value`, lineOf(lds, '70000')],
      [`${cdsPath}:resources[0].lb_polcy`, lineOf(cds, 'lb_polcy')],
    ]);
  });

  test('rejects resources of the wrong type, without @type, an unknown field and an empty file', (t) => {
    const d = tempDir(t);
    const lds = `version_info: x\nnonsense: 1\nresources:\n${cluster('c', 8081)}- name: no_type\n`;
    const ldsPath = d.write('lds.yaml', lds);
    const cdsPath = d.write('cds.yaml', '\n');
    const path = d.write('envoy.yaml', bootstrap('  lds_config: { path: lds.yaml }\n  cds_config: { path: cds.yaml }'));
    assert.deepEqual(problemsIn(path), [
      [`${ldsPath}:nonsense`, lineOf(lds, 'nonsense')],
      [`${ldsPath}:resources[0]["@type"]`, lineOf(lds, '@type')],
      [`${ldsPath}:resources[1]`, lineOf(lds, 'no_type')],
      [cdsPath, undefined],
    ]);
  });

  test('a name in both static_resources and a file is a duplicate; routes may use CDS clusters', (t) => {
    const d = tempDir(t);
    const cds = `resources:\n${cluster('backend', 8081)}${cluster('only_dynamic', 8082)}`;
    const cdsPath = d.write('cds.yaml', cds);
    const statics = `static_resources:\n  listeners:\n${listener('l', 10000, 'only_dynamic').replace(/^- "@type": .*\n  /, '  - ').replace(/\n/g, '\n  ')}\n  clusters:\n${cluster('backend', 8080).replace(/^- "@type": .*\n  /, '  - ').replace(/\n/g, '\n  ')}`;
    const path = d.write('envoy.yaml', bootstrap('  cds_config: { path: cds.yaml }', statics));
    const problems = problemsIn(path);
    assert.deepEqual(problems, [[`${cdsPath}:resources[0].name`, lineOf(cds, 'name: backend')]]);
  });

  test('tells which inputs changed, between snapshots and on disk, and reloads from them', (t) => {
    const d = tempDir(t);
    d.write('lds.yaml', ldsFile([listener('a', 10001)]));
    d.write('cds.yaml', `resources:\n${cluster('backend', 8081)}`);
    const path = d.write('envoy.yaml', bootstrap('  lds_config: { path: lds.yaml }\n  cds_config: { path: cds.yaml }'));
    const first = loadConfigFile(path);
    assert.deepEqual(changedOnDisk(first), []);
    d.write('cds.yaml', `resources:\n${cluster('backend', 8082)}`);
    assert.deepEqual(changedOnDisk(first), ['cds']);
    const second = reloadConfig(first);
    assert.deepEqual(changedSources(first, second), ['cds']);
    assert.notEqual(second.version, first.version);
    assert.equal(second.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].address.port_value, 8082);
    const fromText = loadConfigText(bootstrap('  cds_config: { path: cds.yaml }'), undefined, { baseDir: d.dir });
    d.write('cds.yaml', `resources:\n${cluster('backend', 8083)}`);
    assert.deepEqual(changedOnDisk(fromText), ['cds']);
    assert.equal(reloadConfig(fromText).clusters[0].load_assignment.endpoints[0].lb_endpoints[0].address.port_value, 8083);
  });
});
