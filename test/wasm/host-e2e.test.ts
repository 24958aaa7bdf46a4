import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { bodyEchoHandler, echoHandler, startUpstream } from '../helpers/servers.ts';
import { buildFixtureInto, wasmFilter } from '../helpers/wasm.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-wasm-e2e-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const behaviours = await buildFixtureInto(dir, 'behaviours.ts');

async function get(port: number, path: string, init: RequestInit = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

test('a wasm filter reads a request header, changes request headers and adds response headers', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'headers', configuration: 'cfg-42' }),
  }));
  const r = await get(p.port, '/x', { headers: { 'x-in': 'hello' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-wasm-saw'), 'hello');
  assert.equal(r.headers.get('x-wasm-config'), 'cfg-42');
  assert.equal(JSON.parse(r.body).headers['x-added-by-wasm'], '1');
});

test('a local reply from request headers is 403 and passes back through the response callbacks', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'deny' }),
  }));
  const denied = await get(p.port, '/deny');
  assert.equal(denied.status, 403);
  assert.equal(denied.body, 'denied by wasm');
  assert.equal(denied.headers.get('x-wasm-response-seen'), '1');
  const ok = await get(p.port, '/ok');
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('x-wasm-response-seen'), '1');
});

test('proxy_on_configure returning false refuses the config with a clear error', async (t) => {
  const up = await startUpstream(t, echoHandler());
  await assert.rejects(
    startProxy(t, proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: wasmFilter({ file: behaviours, rootId: 'reject', name: 'rejecting' }),
    })),
    (err: Error) => /proxy_on_configure returned false/.test(err.message) && /rejecting/.test(err.message),
  );
});

test('a trap fails only its stream (503 fail closed), the VM is replaced and later requests work', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'trap', name: 'trapper' }),
  }));
  const trapped = await get(p.port, '/trap');
  assert.equal(trapped.status, 503);
  const after = await get(p.port, '/fine');
  assert.equal(after.status, 200);
  const stats = await (await fetch(`http://127.0.0.1:${p.adminPort}/stats?filter=wasm`)).text();
  assert.match(stats, /wasm\.trapper\.traps: 1/);
  assert.match(stats, /wasm\.trapper\.vm_reloads: 1/);
});

test('fail_open lets a trapped stream through to the upstream', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'trap', failurePolicy: 'FAIL_OPEN' }),
  }));
  const r = await get(p.port, '/trap');
  assert.equal(r.status, 200);
});

test('an http call to another cluster pauses the request until the response resumes it', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const auth = await startUpstream(t, (req, res) => {
    res.writeHead(req.url === '/auth' ? 200 : 404, { 'content-type': 'text/plain' });
    res.end('auth-ok');
  });
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }, { name: 'authz', ports: [auth.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'callout', configuration: 'authz' }),
  }));
  const r = await get(p.port, '/x');
  assert.equal(r.status, 200);
  const seen = JSON.parse(r.body).headers;
  assert.equal(seen['x-auth-status'], '200');
  assert.equal(seen['x-auth-body'], 'auth-ok');
});

test('an http call the callout denies becomes a local reply from the root context callback', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const auth = await startUpstream(t, (_req, res) => {
    res.writeHead(403);
    res.end('no');
  });
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }, { name: 'authz', ports: [auth.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'callout', configuration: 'authz' }),
  }));
  const r = await get(p.port, '/x');
  assert.equal(r.status, 403);
  assert.equal(r.body, 'callout said no');
});

test('an http call to an unknown cluster is refused with BadArgument', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'callout', configuration: 'nope' }),
  }));
  const r = await get(p.port, '/x');
  assert.equal(r.status, 500);
  assert.equal(r.body, 'http call refused: 2');
});

test('a buffered request body is presented whole and can be replaced', async (t) => {
  const up = await startUpstream(t, bodyEchoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'body' }),
  }));
  const r = await get(p.port, '/x', { method: 'POST', body: 'hello wasm body' });
  assert.equal(r.body, 'HELLO WASM BODY');
});

test('wasm metrics are counted, readable by the plugin and exported under Envoy names', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'metrics' }),
  }), { concurrency: 2 });
  // New connections spread over both workers; proxy_get_metric reads the process-wide value.
  const counts: number[] = [];
  for (let i = 0; i < 4; i++) counts.push(Number((await get(p.port, '/abc', { headers: { connection: 'close' } })).headers.get('x-wasm-count')));
  assert.deepEqual(counts, [1, 2, 3, 4]);
  const text = await (await fetch(`http://127.0.0.1:${p.adminPort}/stats?filter=wasmcustom`)).text();
  assert.match(text, /wasmcustom\.requests_total: 4/);
  assert.match(text, /wasmcustom\.in_flight: 0/);
  const prom = await (await fetch(`http://127.0.0.1:${p.adminPort}/stats/prometheus`)).text();
  assert.match(prom, /^requests_total\{?\}? 4$/m);
});

test('shared data is one store for every worker (CAS increments never lose an update)', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'shared' }),
  }), { concurrency: 2 });
  const results = await Promise.all(Array.from({ length: 20 }, () => get(p.port, '/s', { headers: { connection: 'close' } })));
  const hits = results.map((r) => Number(r.headers.get('x-wasm-hits'))).sort((a, b) => a - b);
  assert.deepEqual(hits, Array.from({ length: 20 }, (_, i) => i + 1));
});

test('properties carry Envoy values and encodings', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'props', name: 'propsplugin', vmId: 'vm1' }),
  }));
  const r = await get(p.port, '/p?q=1', { headers: { 'x-request-id': 'rid-1' } });
  const h = (n: string) => r.headers.get(`x-prop-${n}`);
  assert.equal(h('request-path'), '/p?q=1');
  assert.equal(h('request-method'), 'GET');
  assert.equal(h('request-host'), `127.0.0.1:${p.port}`);
  assert.equal(h('request-protocol'), 'HTTP/1.1');
  assert.match(h('source-address') ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(h('destination-address'), `127.0.0.1:${p.port}`);
  assert.equal(h('plugin_name'), 'propsplugin');
  assert.equal(h('plugin_root_id'), 'props');
  assert.equal(h('plugin_vm_id'), 'vm1');
  assert.equal(h('xds-cluster_name'), 'backend');
  assert.equal(h('request-id'), 'rid-1');
  assert.equal(h('response-code'), '200');
  assert.ok(Number(h('source-port')) > 0);
});

test('a route can turn a wasm filter off (FilterConfig disabled) or on (a filter disabled in the HCM)', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const off = `
                typed_per_filter_config:
                  deny:
                    "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
                    disabled: true`;
  const on = `
                typed_per_filter_config:
                  headers:
                    "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
                    config: {}`;
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    routes: `              - match: { prefix: "/free" }
                route: { cluster: backend }${off}
              - match: { prefix: "/rich" }
                route: { cluster: backend }${on}
              - match: { prefix: "/" }
                route: { cluster: backend }`,
    filters: wasmFilter({ file: behaviours, rootId: 'deny', name: 'deny' }) +
      wasmFilter({ file: behaviours, rootId: 'headers', name: 'headers', extra: '' }).replace('- name: headers', '- name: headers\n            disabled: true'),
  }));
  assert.equal((await get(p.port, '/deny')).status, 403);
  const free = await get(p.port, '/free/deny');
  assert.equal(free.status, 200);
  assert.equal(free.headers.get('x-wasm-response-seen'), null, 'deny is off on /free');
  assert.equal(free.headers.get('x-wasm-saw'), null, 'headers is disabled by default');
  const rich = await get(p.port, '/rich', { headers: { 'x-in': 'r' } });
  assert.equal(rich.headers.get('x-wasm-saw'), 'r', 'headers is on for /rich');
  assert.equal(rich.headers.get('x-wasm-response-seen'), '1');
});

test('plugins with the same vm_id (and code) share one VM per worker; a different vm_id gets its own', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const active = async (adminPort: number) => {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats?filter=wasm.envoy.wasm.runtime.v8.active`)).text();
    return Number(/: (\d+)$/m.exec(text)?.[1]);
  };
  const shared = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'headers', name: 'a', vmId: 'one' }) + wasmFilter({ file: behaviours, rootId: 'deny', name: 'b', vmId: 'one' }),
  }), { concurrency: 2 });
  assert.equal(await active(shared.adminPort), 2, 'one VM on each of the 2 workers');
  const r = await get(shared.port, '/x', { headers: { 'x-in': 'v' } });
  assert.equal(r.headers.get('x-wasm-saw'), 'v');
  assert.equal(r.headers.get('x-wasm-response-seen'), '1', 'both root contexts run in the shared VM');
  const separate = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: behaviours, rootId: 'headers', name: 'a', vmId: 'one' }) + wasmFilter({ file: behaviours, rootId: 'deny', name: 'b', vmId: 'two' }),
  }), { concurrency: 2 });
  assert.equal(await active(separate.adminPort), 4);
});
