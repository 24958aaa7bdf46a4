import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { echoHandler, startUpstream } from '../helpers/servers.ts';
import { buildSoloIoFilter } from '../helpers/solo-build.ts';
import { wasmFilter } from '../helpers/wasm.ts';

/**
 * Filters written with the third-party AssemblyScript SDK @solo-io/proxy-runtime 0.1.8 (ABI 0.2.0,
 * built at test time with assemblyscript 0.14.9), run unmodified through Sluice over real sockets.
 */
const dir = mkdtempSync(join(tmpdir(), 'sluice-solo-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

async function build(name: string): Promise<string> {
  const bytes = await buildSoloIoFilter(fileURLToPath(new URL(`../fixtures/solo-io/assembly/${name}.ts`, import.meta.url)));
  const file = join(dir, `${name}.wasm`);
  writeFileSync(file, bytes);
  return file;
}

const [responseHeader, deny, configMetric, httpCall] = await Promise.all(
  ['response-header', 'deny', 'config-metric', 'http-call'].map(build),
);

test('solo-io: a response-header filter with an empty configuration adds its header', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: responseHeader, rootId: 'solo_response_header' }),
  }));
  const res = await fetch(`http://127.0.0.1:${p.port}/`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-solo'), '1');
  await res.text();
});

test('solo-io: a local-reply filter answers 403 without reaching the upstream', async (t) => {
  let reached = 0;
  const up = await startUpstream(t, echoHandler(() => reached++));
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: deny, rootId: 'solo_deny' }),
  }));
  const res = await fetch(`http://127.0.0.1:${p.port}/anything`);
  assert.equal(res.status, 403);
  assert.equal(await res.text(), 'denied by solo');
  assert.equal(reached, 0);
});

test('solo-io: a filter reads its configuration and defines a metric exported in /stats', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: configMetric, rootId: 'solo_config_metric', configuration: 'x-solo-config=hello' }),
  }));
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`http://127.0.0.1:${p.port}/`);
    assert.equal(res.headers.get('x-solo-config'), 'hello');
    await res.text();
  }
  const stats = await (await fetch(`http://127.0.0.1:${p.adminPort}/stats?filter=solo_requests_total`)).text();
  assert.match(stats, /wasmcustom\.solo_requests_total: 3/);
  const prom = await (await fetch(`http://127.0.0.1:${p.adminPort}/stats/prometheus`)).text();
  assert.match(prom, /^solo_requests_total\{?\}? 3$/m);
});

test('solo-io: a configuration the filter rejects refuses the config at load', async (t) => {
  const up = await startUpstream(t, echoHandler());
  await assert.rejects(
    startProxy(t, proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: wasmFilter({ file: configMetric, rootId: 'solo_config_metric', configuration: 'no-equals-sign' }),
    })),
    /proxy_on_configure returned false/,
  );
});

test('solo-io: an http call to another cluster completes before the request goes upstream', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const auth = await startUpstream(t, (req, res) => {
    res.writeHead(req.url === '/auth' && req.headers.host === 'auth' ? 202 : 400);
    res.end();
  });
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }, { name: 'authz', ports: [auth.port] }],
    filters: wasmFilter({ file: httpCall, rootId: 'solo_http_call', configuration: 'authz' }),
  }));
  const res = await fetch(`http://127.0.0.1:${p.port}/x`);
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(await res.text()).headers['x-auth-status'], '202');
});
