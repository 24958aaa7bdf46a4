import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadConfigFile, loadConfigText } from '../../runtime/config/load.ts';
import { createLogger } from '../../runtime/log.ts';
import { Sluice } from '../../runtime/server/supervisor.ts';
import { KeepAliveClient } from '../helpers/keep-alive.ts';
import { echoHandler, eventually, startUpstream } from '../helpers/servers.ts';
import { buildFixtureInto, wasmFilter } from '../helpers/wasm.ts';

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

interface Route {
  match: string;
  cluster: string;
}

function routesYaml(routes: Route[], indent: string): string {
  return routes.map((r) => `${indent}- match: ${r.match}\n${indent}  route: { cluster: ${r.cluster} }\n`).join('');
}

function listenerYaml(name: string, routes: Route[], indent: string, typed = false, filters = ''): string {
  const i = indent;
  return `${i}- ${typed ? `"@type": ${LISTENER_TYPE}\n${i}  ` : ''}name: ${name}
${i}  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
${i}  filter_chains:
${i}  - filters:
${i}    - name: envoy.filters.network.http_connection_manager
${i}      typed_config:
${i}        "@type": ${HCM_TYPE}
${i}        stat_prefix: ${name}
${i}        http_filters:${filters}
${i}        - name: envoy.filters.http.router
${i}        route_config:
${i}          virtual_hosts:
${i}          - name: vh
${i}            domains: ["*"]
${i}            routes:
${routesYaml(routes, `${i}            `)}`;
}

function clusterYaml(name: string, port: number, indent: string, typed = false): string {
  const i = indent;
  return `${i}- ${typed ? `"@type": ${CLUSTER_TYPE}\n${i}  ` : ''}name: ${name}
${i}  connect_timeout: 1s
${i}  load_assignment:
${i}    cluster_name: ${name}
${i}    endpoints:
${i}    - lb_endpoints:
${i}      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }
`;
}

const ADMIN = 'admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }\n';

/** A bootstrap with one listener (`ingress`) and the given routes and clusters. */
function bootstrapYaml(routes: Route[], clusters: Array<[string, number]>, extra = '', filters = ''): string {
  return `${ADMIN}${extra}static_resources:
  listeners:
${listenerYaml('ingress', routes, '  ', false, filters)}  clusters:
${clusters.map(([n, p]) => clusterYaml(n, p, '  ')).join('')}`;
}

/** Envoy's update recipe: write a temp file, then rename it over the old one. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** Sluice on a config file in a temp dir, watching it; stopped when the test ends. */
async function startWatched(
  t: TestContext,
  files: Record<string, string>,
  opts: { concurrency?: number; setup?: (dir: string) => void } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-reload-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  opts.setup?.(dir);
  const sluice = await Sluice.start({
    config: loadConfigFile(join(dir, 'envoy.yaml')),
    concurrency: opts.concurrency ?? 1,
    logLevel: 'silent',
    log: createLogger('silent'),
    drainTimeoutMs: 1000,
    watch: true,
  });
  t.after(async () => {
    await sluice.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = (name = 'ingress') => {
    const l = sluice.listeners.find((x) => x.name === name);
    assert.ok(l, `listener ${name} is live`);
    return l.port;
  };
  return { sluice, dir, port, adminPort: sluice.admin?.port ?? 0 };
}

/** Waits until the live config is no longer `version` (a reload was applied). */
function reloaded(sluice: Sluice, version: string): Promise<string> {
  return eventually(() => (sluice.config.version !== version ? sluice.config.version : undefined), 10_000, 'the config reload');
}

async function adminJson(port: number, path: string): Promise<any> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  assert.equal(r.status, 200);
  return r.json();
}

/** Process-wide stats by name (counters and gauges). */
async function stats(adminPort: number): Promise<Map<string, number>> {
  const body = (await adminJson(adminPort, '/stats?format=json')) as { stats: Array<{ name?: string; value?: number }> };
  return new Map(body.stats.filter((s) => s.name !== undefined).map((s) => [s.name as string, s.value as number]));
}

/** An upstream that answers with its name (and holds `/slow` until released). */
async function namedUpstream(t: TestContext, name: string) {
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => (release = r));
  let slowArrived: () => void = () => undefined;
  const slowStarted = new Promise<void>((r) => (slowArrived = r));
  const u = await startUpstream(t, (req, res) => {
    if (req.url === '/slow') {
      slowArrived();
      void held.then(() => res.end(name));
      return;
    }
    res.end(name);
  });
  return { port: u.port, release, slowStarted };
}

test('a rewritten -c file adds a route and moves a cluster; keep-alive connections stay open', async (t) => {
  const a = await namedUpstream(t, 'A');
  const b = await namedUpstream(t, 'B');
  const c = await namedUpstream(t, 'C');
  const p = await startWatched(t, { 'envoy.yaml': bootstrapYaml([{ match: '{ prefix: "/" }', cluster: 'backend' }], [['backend', a.port]]) });
  const client = await KeepAliveClient.connect(p.port());
  assert.equal((await client.get('/')).body, 'A');
  assert.equal((await client.get('/added')).body, 'A');
  const before = p.sluice.config.version;

  // In place, as an editor saves: the watcher sees the file's own change event.
  writeFileSync(
    join(p.dir, 'envoy.yaml'),
    bootstrapYaml(
      [
        { match: '{ path: "/added" }', cluster: 'second' },
        { match: '{ prefix: "/" }', cluster: 'backend' },
      ],
      [['backend', b.port], ['second', c.port]],
    ),
  );
  await reloaded(p.sluice, before);

  const localPort = client.localPort;
  assert.equal((await client.get('/')).body, 'B');
  assert.equal((await client.get('/added')).body, 'C');
  assert.equal(client.closed, false);
  assert.equal(client.localPort, localPort);
  const s = await stats(p.adminPort);
  assert.equal(s.get('http.ingress.downstream_cx_total'), 1, 'no new downstream connection');
  assert.equal(s.get('http.ingress.downstream_cx_destroy') ?? 0, 0, 'no downstream connection closed');
  assert.equal(s.get('server.bootstrap.update_success'), 1);
  assert.equal(s.get('cluster_manager.cluster_added'), 2);
  assert.equal(s.get('cluster_manager.cluster_modified'), 1);
  const dump = await adminJson(p.adminPort, '/config_dump?resource=static_clusters');
  assert.deepEqual(dump.configs.map((x: any) => x.cluster.name), ['backend', 'second']);
  client.close();
});

test('an invalid change is rejected, counted, and the old config keeps serving', async (t) => {
  const a = await namedUpstream(t, 'A');
  const text = bootstrapYaml([{ match: '{ prefix: "/" }', cluster: 'backend' }], [['backend', a.port]]);
  const p = await startWatched(t, { 'envoy.yaml': text });
  const before = p.sluice.config.version;

  replaceFile(join(p.dir, 'envoy.yaml'), text.replace('connect_timeout: 1s', 'connect_timeout: 1s\n    lb_policy: ROUND'));
  await eventually(async () => ((await stats(p.adminPort)).get('server.bootstrap.update_rejected') === 1 ? true : undefined), 10_000, 'the rejection');

  assert.equal(p.sluice.config.version, before);
  const s = await stats(p.adminPort);
  assert.equal(s.get('server.bootstrap.update_attempt'), 1);
  assert.equal(s.get('server.bootstrap.update_success') ?? 0, 0);
  const r = await fetch(`http://127.0.0.1:${p.port()}/`);
  assert.equal(await r.text(), 'A');
  const dump = await adminJson(p.adminPort, '/config_dump?resource=static_clusters');
  assert.equal(dump.configs[0].cluster.lb_policy, undefined, '/config_dump shows the config that is live');

  // Sluice.reload returns the problems; a change that needs a restart (admin) is one of them.
  const moved = await p.sluice.reload(loadConfigText(text.replace('port_value: 0 } } }\n', 'port_value: 1 } } }\n')));
  assert.equal(moved.ok, false);
  assert.deepEqual(!moved.ok && moved.problems.map((x) => x.path), ['admin']);
  assert.equal(p.sluice.config.version, before);
  // A later valid change is applied.
  replaceFile(join(p.dir, 'envoy.yaml'), text.replace('connect_timeout: 1s', 'connect_timeout: 2s'));
  await reloaded(p.sluice, before);
});

test('LDS and CDS files add a cluster and a listener, also through a ConfigMap-style symlink swap', async (t) => {
  const a = await namedUpstream(t, 'A');
  const b = await namedUpstream(t, 'B');
  const lds = (...listeners: string[]) => `version_info: "v${listeners.length}"\nresources:\n${listeners.join('')}`;
  const first = listenerYaml('first', [{ match: '{ prefix: "/" }', cluster: 'one' }], '', true);
  const second = listenerYaml('second', [{ match: '{ prefix: "/" }', cluster: 'two' }], '', true);
  // Kubernetes mounts a ConfigMap as config/lds.yaml -> ..data/lds.yaml, ..data -> ..<timestamp>.
  const version = (dir: string, name: string, text: string) => {
    mkdirSync(join(dir, 'config', name), { recursive: true });
    writeFileSync(join(dir, 'config', name, 'lds.yaml'), text);
  };
  const p = await startWatched(
    t,
    {
      'envoy.yaml': `${ADMIN}node: { id: n, cluster: c }
dynamic_resources:
  lds_config: { path_config_source: { path: config/lds.yaml, watched_directory: { path: config } }, resource_api_version: V3 }
  cds_config: { path_config_source: { path: cds.yaml } }
`,
      'cds.yaml': `resources:\n${clusterYaml('one', a.port, '', true)}`,
    },
    {
      setup(dir) {
        version(dir, '..v1', lds(first));
        symlinkSync('..v1', join(dir, 'config', '..data'));
        symlinkSync('..data/lds.yaml', join(dir, 'config', 'lds.yaml'));
      },
    },
  );
  const onFirst = await KeepAliveClient.connect(p.port('first'));
  assert.equal((await onFirst.get('/')).body, 'A');

  let v = p.sluice.config.version;
  replaceFile(join(p.dir, 'cds.yaml'), `resources:\n${clusterYaml('one', a.port, '', true)}${clusterYaml('two', b.port, '', true)}`);
  v = await reloaded(p.sluice, v);
  assert.deepEqual(p.sluice.config.clusters.map((c) => c.name), ['one', 'two']);

  version(p.dir, '..v2', lds(first, second));
  symlinkSync('..v2', join(p.dir, 'config', '..data_tmp'));
  renameSync(join(p.dir, 'config', '..data_tmp'), join(p.dir, 'config', '..data'));
  v = await reloaded(p.sluice, v);
  assert.deepEqual(p.sluice.listeners.map((l) => l.name), ['first', 'second']);
  assert.equal(await (await fetch(`http://127.0.0.1:${p.port('second')}/`)).text(), 'B');
  assert.equal((await onFirst.get('/')).body, 'A', 'the kept listener kept its connection');

  const s = await stats(p.adminPort);
  assert.equal(s.get('listener_manager.lds.update_success'), 2, 'the initial load and one update');
  assert.equal(s.get('cluster_manager.cds.update_success'), 2);
  assert.equal(s.get('listener_manager.total_listeners_active'), 2);
  const dump = await adminJson(p.adminPort, '/config_dump');
  const listenersDump = dump.configs.find((c: any) => c['@type'].endsWith('ListenersConfigDump'));
  assert.equal(listenersDump.version_info, 'v2');
  assert.deepEqual(listenersDump.dynamic_listeners.map((l: any) => [l.name, l.active_state.version_info]), [['first', 'v2'], ['second', 'v2']]);
  const clustersDump = dump.configs.find((c: any) => c['@type'].endsWith('ClustersConfigDump'));
  assert.deepEqual(clustersDump.dynamic_active_clusters.map((c: any) => c.cluster.name), ['one', 'two']);
  assert.deepEqual(clustersDump.static_clusters, []);

  // State of the world: a listener missing from the file is removed; its connections are drained.
  const firstPort = p.port('first');
  version(p.dir, '..v3', lds(second));
  symlinkSync('..v3', join(p.dir, 'config', '..data_tmp'));
  renameSync(join(p.dir, 'config', '..data_tmp'), join(p.dir, 'config', '..data'));
  await reloaded(p.sluice, v);
  assert.deepEqual(p.sluice.listeners.map((l) => l.name), ['second']);
  await eventually(() => (onFirst.closed ? true : undefined), 5000, 'the removed listener to close its idle connection');
  await assert.rejects(fetch(`http://127.0.0.1:${firstPort}/`));
  assert.equal((await stats(p.adminPort)).get('listener_manager.listener_removed'), 1);
});

test('a request in flight during a reload finishes on the route and cluster it started with', async (t) => {
  const a = await namedUpstream(t, 'A');
  const b = await namedUpstream(t, 'B');
  const text = (port: number) => bootstrapYaml([{ match: '{ prefix: "/" }', cluster: 'backend' }], [['backend', port]]);
  const p = await startWatched(t, { 'envoy.yaml': text(a.port) });
  const slowClient = await KeepAliveClient.connect(p.port());
  const slow = slowClient.get('/slow');
  await a.slowStarted;

  const before = p.sluice.config.version;
  replaceFile(join(p.dir, 'envoy.yaml'), text(b.port));
  await reloaded(p.sluice, before);
  assert.equal(await (await fetch(`http://127.0.0.1:${p.port()}/`)).text(), 'B');

  a.release();
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'A');
  // The next request on that same connection follows the new config.
  assert.equal((await slowClient.get('/')).body, 'B');
  slowClient.close();
});

test('reloads under load from 100 keep-alive connections (a route added, the cluster moved each time) fail no request and open no connection', async (t) => {
  const a = await namedUpstream(t, 'A');
  const b = await namedUpstream(t, 'B');
  const config = (n: number) =>
    bootstrapYaml(
      [...Array(n).keys()].map((i) => ({ match: `{ path: "/r${i}" }`, cluster: 'backend' })).concat([{ match: '{ prefix: "/" }', cluster: 'backend' }]),
      [['backend', n % 2 === 0 ? a.port : b.port]],
    );
  const p = await startWatched(t, { 'envoy.yaml': config(0) }, { concurrency: 2 });
  const CONNECTIONS = 100;
  const MAX_PER_CONNECTION = 5000;
  const clients = await Promise.all([...Array(CONNECTIONS).keys()].map(() => KeepAliveClient.connect(p.port())));
  let stop = false;
  t.after(() => {
    stop = true;
    clients.forEach((c) => c.close());
  });
  let total = 0;
  const failures: string[] = [];
  const loops = clients.map(async (c) => {
    for (let i = 0; i < MAX_PER_CONNECTION && !stop; i++) {
      try {
        const r = await c.get(i % 2 === 0 ? '/' : '/r0');
        total++;
        if (r.status !== 200 || (r.body !== 'A' && r.body !== 'B')) failures.push(`${r.status} ${r.body}`);
      } catch (err) {
        failures.push((err as Error).message);
        return;
      }
    }
  });
  // Waits for `n` more responses (or a failure): a count of responses, not a time window, so a
  // busy machine only makes this slower.
  const served = (n: number, what: string) => {
    const from = total;
    return eventually(() => (failures.length > 0 || total >= from + n ? true : undefined), 60_000, what);
  };

  // Traffic flows before the first reload, through the reloads, and after the last one.
  await served(CONNECTIONS, 'responses before the reloads');
  const RELOADS = 4;
  for (let n = 1; n <= RELOADS; n++) {
    const v = p.sluice.config.version;
    replaceFile(join(p.dir, 'envoy.yaml'), config(n));
    await reloaded(p.sluice, v);
  }
  await served(CONNECTIONS, 'responses after the last reload');
  stop = true;
  await Promise.all(loops);

  assert.deepEqual(failures, []);
  t.diagnostic(`${total} requests on ${CONNECTIONS} connections`);
  const s = await stats(p.adminPort);
  assert.equal(s.get('server.bootstrap.update_success'), RELOADS);
  assert.equal(s.get('http.ingress.downstream_cx_total'), CONNECTIONS, 'no connection was added');
  assert.equal(s.get('http.ingress.downstream_cx_destroy') ?? 0, 0, 'no connection was closed');
  assert.equal((await clients[0].get('/')).body, RELOADS % 2 === 0 ? 'A' : 'B');
});

test('a reload rebuilds wasm plugins with their new configuration; one that refuses it is rejected', async (t) => {
  const upstream = await startUpstream(t, echoHandler());
  const wasmDir = mkdtempSync(join(tmpdir(), 'sluice-reload-wasm-'));
  t.after(() => rmSync(wasmDir, { recursive: true, force: true }));
  const file = await buildFixtureInto(wasmDir, 'behaviours.ts');
  const config = (rootId: string, configuration: string) =>
    bootstrapYaml([{ match: '{ prefix: "/" }', cluster: 'backend' }], [['backend', upstream.port]], '', wasmFilter({ file, name: 'plugin', rootId, configuration }));
  const p = await startWatched(t, { 'envoy.yaml': config('headers', 'one') });
  const client = await KeepAliveClient.connect(p.port());
  assert.equal((await client.get('/')).headers['x-wasm-config'], 'one');

  let v = p.sluice.config.version;
  replaceFile(join(p.dir, 'envoy.yaml'), config('headers', 'two'));
  v = await reloaded(p.sluice, v);
  assert.equal((await client.get('/')).headers['x-wasm-config'], 'two');

  // proxy_on_configure returns false for this root id: the canary refuses it on the main thread.
  replaceFile(join(p.dir, 'envoy.yaml'), config('reject', 'three'));
  await eventually(async () => ((await stats(p.adminPort)).get('server.bootstrap.update_rejected') === 1 ? true : undefined), 10_000, 'the rejection');
  assert.equal(p.sluice.config.version, v);
  assert.equal((await client.get('/')).headers['x-wasm-config'], 'two');
  assert.equal(client.closed, false);
  client.close();
});
