import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { echoHandler, eventually, startUpstream } from '../helpers/servers.ts';
import { buildFixtureInto, wasmFilter } from '../helpers/wasm.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-swap-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const v1 = await buildFixtureInto(dir, 'versioned/v1.ts', 'v1.wasm');
const v2 = await buildFixtureInto(dir, 'versioned/v2.ts', 'v2.wasm');

function request(agent: http.Agent, port: number, path = '/'): Promise<{ status: number; version: string | string[] | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, version: res.headers['x-version'] }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function admin(port: number, path: string, init?: RequestInit) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function counter(adminPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats?filter=${encodeURIComponent(name)}`)).text();
  const m = new RegExp(`^${name.replace(/\./g, '\\.')}: (\\d+)$`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

function pluginCopy(from: string, name: string): string {
  const file = join(mkdtempSync(join(dir, 'plugin-')), name);
  copyFileSync(from, file);
  return file;
}

test('POST /wasm/plugins/<name> swaps the module; rollback returns to the previous one; GET lists them', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const file = pluginCopy(v1, 'stamp.wasm');
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], filters: wasmFilter({ file, name: 'stamper' }) }), { concurrency: 2 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  assert.equal((await request(agent, p.port)).version, '1');

  const swapped = await admin(p.adminPort, '/wasm/plugins/stamper', { method: 'POST', body: (await import('node:fs')).readFileSync(v2) });
  assert.equal(swapped.status, 200);
  assert.equal(swapped.body.generation, 2);
  for (let i = 0; i < 6; i++) assert.equal((await request(agent, p.port)).version, '2');

  const list = await admin(p.adminPort, '/wasm/plugins');
  const plugins = list.body.plugins as Array<Record<string, unknown>>;
  assert.equal(plugins.length, 1);
  assert.equal(plugins[0].name, 'stamper');
  assert.equal(plugins[0].generation, 2);
  assert.equal(plugins[0].vm_id, 'stamper');
  assert.equal((plugins[0].history as unknown[]).length, 2);
  assert.match(String(plugins[0].sha256), /^[0-9a-f]{64}$/);

  const back = await admin(p.adminPort, '/wasm/plugins/stamper/rollback', { method: 'POST' });
  assert.equal(back.status, 200);
  for (let i = 0; i < 4; i++) assert.equal((await request(agent, p.port)).version, '1');

  const wrongMethod = await fetch(`http://127.0.0.1:${p.adminPort}/wasm/plugins/stamper`);
  assert.equal(wrongMethod.status, 405);
  await wrongMethod.text();
});

test('a module that fails its canary is refused, counted, and the old version keeps serving', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const file = pluginCopy(v1, 'stamp.wasm');
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], filters: wasmFilter({ file, name: 'stamper' }) }));
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const garbage = await admin(p.adminPort, '/wasm/plugins/stamper', { method: 'POST', body: Buffer.from('not wasm') });
  assert.equal(garbage.status, 400);
  assert.equal(garbage.body.ok, false);
  const noMarker = await admin(p.adminPort, '/wasm/plugins/stamper', { method: 'POST', body: Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]) });
  assert.equal(noMarker.status, 400);
  assert.match(String(noMarker.body.error), /proxy_abi_version/);
  assert.equal((await request(agent, p.port)).version, '1');
  assert.equal(await counter(p.adminPort, 'wasm.stamper.swap_failed'), 2);
  const unknown = await admin(p.adminPort, '/wasm/plugins/nope', { method: 'POST', body: Buffer.from('x') });
  assert.equal(unknown.status, 404);
});

test('writing the code file in place, or renaming a new one over it, swaps the module', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const file = pluginCopy(v1, 'stamp.wasm');
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], filters: wasmFilter({ file, name: 'stamper' }) }), { concurrency: 2 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  t.after(() => agent.destroy());
  assert.equal((await request(agent, p.port)).version, '1');
  // In place: a truncated write first (never loaded), then the whole module.
  const v2bytes = (await import('node:fs')).readFileSync(v2);
  writeFileSync(file, v2bytes.subarray(0, 100));
  writeFileSync(file, v2bytes);
  await eventually(async () => ((await request(agent, p.port)).version === '2' ? true : undefined), 5000, 'the in-place write to be live');
  // Rename over (a ConfigMap update): write elsewhere in the directory, then rename.
  const tmp = `${file}.tmp`;
  copyFileSync(v1, tmp);
  renameSync(tmp, file);
  await eventually(async () => ((await request(agent, p.port)).version === '1' ? true : undefined), 5000, 'the renamed file to be live');
  assert.equal(await counter(p.adminPort, 'wasm.stamper.swap_failed'), 0);
});

test('under keep-alive load, 50 swaps lose no request, never mix versions and open no new connections; a slow request finishes on its version', async (t) => {
  let slowRelease: (() => void) | undefined;
  const up = await startUpstream(t, (req, res) => {
    if (req.url === '/slow') {
      slowRelease = () => res.end('slow');
      return;
    }
    res.end('ok');
  });
  const file = pluginCopy(v1, 'stamp.wasm');
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], filters: wasmFilter({ file, name: 'stamper' }) }), { concurrency: 2 });
  const CONNECTIONS = 100;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  t.after(() => agent.destroy());
  const fs = await import('node:fs');
  const modules = [fs.readFileSync(v1), fs.readFileSync(v2)];

  // Warm every connection, then read the connection count.
  await Promise.all(Array.from({ length: CONNECTIONS }, () => request(agent, p.port)));
  const cxStat = `listener.127.0.0.1_${p.port}.downstream_cx_total`;
  const cxBefore = await counter(p.adminPort, cxStat);
  assert.equal(cxBefore, CONNECTIONS);

  // A slow request that starts on version 1.
  const slow = request(agent, p.port, '/slow');
  await eventually(() => slowRelease, 5000, 'the slow request to reach the upstream');

  let stop = false;
  let failures = 0;
  let total = 0;
  const badVersions: unknown[] = [];
  const load = Array.from({ length: CONNECTIONS - 1 }, async () => {
    for (let i = 0; i < 10_000 && !stop; i++) {
      try {
        const r = await request(agent, p.port);
        total++;
        if (r.status !== 200) failures++;
        if (r.version !== '1' && r.version !== '2') badVersions.push(r.version);
      } catch {
        failures++;
      }
    }
  });
  const SWAPS = 50;
  for (let i = 0; i < SWAPS; i++) {
    const r = await admin(p.adminPort, '/wasm/plugins/stamper', { method: 'POST', body: modules[(i + 1) % 2] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  stop = true;
  await Promise.all(load);
  slowRelease?.();
  const slowResult = await slow;
  assert.equal(slowResult.version, '1', 'the slow request finished on the version it started on');
  assert.equal(failures, 0);
  assert.deepEqual(badVersions, []);
  assert.ok(total > SWAPS, `requests flowed during the swaps (${total})`);
  const cxAfter = await counter(p.adminPort, cxStat);
  assert.equal(cxAfter, cxBefore, 'no new downstream connections');
  const list = await admin(p.adminPort, '/wasm/plugins');
  assert.equal((list.body.plugins as Array<Record<string, unknown>>)[0].generation, SWAPS + 1);
});
