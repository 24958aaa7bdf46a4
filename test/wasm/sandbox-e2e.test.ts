import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { echoHandler, startUpstream } from '../helpers/servers.ts';
import { buildFixtureInto, wasmFilter } from '../helpers/wasm.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-sandbox-e2e-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const faulty = await buildFixtureInto(dir, 'faulty.ts');
const minimal = await buildFixtureInto(dir, 'minimal.ts');

function request(agent: http.Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

/** The faulty filter runs only on /bad (enabled per route), so /good never touches its VM. */
function yaml(upstream: number, rootId: string, extra = ''): string {
  const enable = `
                typed_per_filter_config:
                  faulty:
                    "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
                    config: {}`;
  return proxyYaml({
    clusters: [{ name: 'backend', ports: [upstream] }],
    routes: `              - match: { prefix: "/bad" }
                route: { cluster: backend }${enable}
              - match: { prefix: "/" }
                route: { cluster: backend }`,
    filters: wasmFilter({
      file: faulty,
      rootId,
      name: 'faulty',
      extra: `\n                sluice_sandbox: { max_memory_mb: 32, cpu_budget: 20000000 }${extra}`,
    }).replace('- name: faulty', '- name: faulty\n            disabled: true'),
  });
}

for (const rootId of ['loop', 'alloc', 'trap']) {
  test(`a filter that ${rootId === 'loop' ? 'loops forever' : rootId === 'alloc' ? 'allocates without bound' : 'traps'} fails only its own requests (503) while other routes keep serving`, async (t) => {
    const up = await startUpstream(t, echoHandler());
    const p = await startProxy(t, yaml(up.port, rootId), { concurrency: 1 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    t.after(() => agent.destroy());
    const rssBefore = Number(((await (await fetch(`http://127.0.0.1:${p.adminPort}/memory`)).json()) as { total_physical_bytes?: string }).total_physical_bytes ?? 0);
    let goodFailures = 0;
    let good = 0;
    let stop = false;
    const background = Array.from({ length: 10 }, async () => {
      for (let i = 0; i < 5000 && !stop; i++) {
        const s = await request(agent, p.port, '/good').catch(() => 0);
        good++;
        if (s !== 200) goodFailures++;
      }
    });
    const bad: number[] = [];
    for (let i = 0; i < 6; i++) bad.push(await request(agent, p.port, `/bad/${i}`));
    stop = true;
    await Promise.all(background);
    assert.deepEqual(bad, [503, 503, 503, 503, 503, 503]);
    assert.equal(goodFailures, 0, `${good} requests on the other route`);
    const stats = await (await fetch(`http://127.0.0.1:${p.adminPort}/stats?filter=wasm.faulty`)).text();
    assert.match(stats, /wasm\.faulty\.traps: [1-9]/);
    const rssAfter = Number(((await (await fetch(`http://127.0.0.1:${p.adminPort}/memory`)).json()) as { total_physical_bytes?: string }).total_physical_bytes ?? 0);
    // Each failed VM held at most its 32 MiB cap and is freed once its streams are gone.
    assert.ok(rssAfter - rssBefore < 256 * 1024 * 1024, `memory grew by ${Math.round((rssAfter - rssBefore) / 1048576)} MiB`);
  });
}

test('fail open passes a looping filter\'s request through after its CPU budget ends the callback', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, yaml(up.port, 'loop', '\n                failure_policy: FAIL_OPEN'));
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  assert.equal(await request(agent, p.port, '/bad/x'), 200);
});

test('the CPU budget is per callback: requests that each stay under it all pass, though together they use it twice over', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, yaml(up.port, 'burn'), { concurrency: 1 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  // cpu_budget is 20,000,000 units: each of these requests burns 15,000,000 in one callback, on one VM.
  for (let i = 0; i < 3; i++) assert.equal(await request(agent, p.port, '/bad/15000000'), 200, `request ${i + 1}`);
  assert.equal(await request(agent, p.port, '/bad/30000000'), 503, 'one callback over the budget is stopped');
  assert.equal(await request(agent, p.port, '/bad/15000000'), 200, 'the replaced VM starts with a full budget');
});

test('a module importing a capability outside capability_restriction_config is refused at load with the list', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const restricted = proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({
      file: minimal,
      name: 'restricted',
      extra: `
                capability_restriction_config:
                  allowed_capabilities:
                    proxy_get_header_map_value: {}`,
    }),
  });
  await assert.rejects(startProxy(t, restricted), /outside capability_restriction_config\.allowed_capabilities: env\.proxy_log/);
});

test('a crash loop marks the plugin failed (visible in /wasm/plugins) until a new version is deployed', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, yaml(up.port, 'trap', `
                reload_config: { backoff: { base_interval: 0.001s, max_interval: 0.002s } }`));
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  for (let i = 0; i < 12; i++) {
    assert.equal(await request(agent, p.port, '/bad'), 503);
    await new Promise((r) => setTimeout(r, 5));
  }
  const listed = (await (await fetch(`http://127.0.0.1:${p.adminPort}/wasm/plugins`)).json()) as { plugins: Array<Record<string, unknown>> };
  const plugin = listed.plugins[0];
  assert.equal(plugin.name, 'faulty');
  assert.equal(plugin.crash_looping, true);
  assert.match(String(plugin.last_error), /crash loop/);
  assert.ok(Number(plugin.traps) >= 5);
  // Good requests never went through the plugin; bad ones get the failure policy without running it.
  assert.equal(await request(agent, p.port, '/good'), 200);
  // A new version clears the failed state.
  const fixed = await fetch(`http://127.0.0.1:${p.adminPort}/wasm/plugins/faulty`, { method: 'POST', body: (await import('node:fs')).readFileSync(minimal) });
  assert.equal(fixed.status, 200, await fixed.text());
  assert.equal(await request(agent, p.port, '/bad'), 200);
  const after = (await (await fetch(`http://127.0.0.1:${p.adminPort}/wasm/plugins`)).json()) as { plugins: Array<Record<string, unknown>> };
  assert.equal(after.plugins[0].crash_looping, false);
});
