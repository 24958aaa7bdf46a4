import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { eventually } from '../helpers/servers.ts';
import { CLI } from '../helpers/cli.ts';
import { buildDevFilter } from '../../examples/quickstart/filter-dev.ts';

// The README's quickstart, run as a newcomer would: `sluice validate` on its config, then
// `npm start` (examples/quickstart/start.ts) on its fixed ports.

const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
const CONFIG = fileURLToPath(new URL('../../examples/quickstart/envoy.yaml', import.meta.url));
const START = fileURLToPath(new URL('../../examples/quickstart/start.ts', import.meta.url));
const PORTS = { listener: 10000, upstream: 10001, admin: 9901 };

/** Resolves to true if something accepts connections on 127.0.0.1:port. */
function inUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('validates examples/quickstart/envoy.yaml with sluice validate (once its filter is built)', async () => {
  await buildDevFilter();
  const r = spawnSync(NODE, [CLI, 'validate', '-c', CONFIG], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /: OK \(1 listeners, 1 clusters\)$/m);
});

test('npm start serves the hello upstream on :10000 with admin on :9901, then exits 0 on SIGINT', async (t) => {
  for (const [what, port] of Object.entries(PORTS)) {
    assert.equal(
      await inUse(port),
      false,
      `the quickstart needs 127.0.0.1:${port} (${what}) but something already listens there; stop it and rerun`,
    );
  }
  const child = spawn(NODE, [START], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SLUICE_CONCURRENCY: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await eventually(
    () => (stdout.includes('Sluice quickstart is running') ? true : undefined),
    60_000,
    `the quickstart banner (stdout: ${stdout}; stderr: ${stderr})`,
  );

  const res = await request(`http://127.0.0.1:${PORTS.listener}/`, { headers: { connection: 'close' } });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-served-by'], 'sluice');
  assert.equal(res.headers['x-greeting'], 'hello from wasm', 'the filter npm start built from source');
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = (await res.body.json()) as { message: string; method: string; path: string; 'x-request-id': string; 'x-forwarded-proto': string };
  assert.equal(body.message, 'hello from the quickstart upstream');
  assert.equal(body.method, 'GET');
  assert.equal(body.path, '/');
  assert.match(body['x-request-id'], /^[0-9a-f-]{36}$/);
  assert.equal(body['x-forwarded-proto'], 'http');

  const ready = await request(`http://127.0.0.1:${PORTS.admin}/ready`, { headers: { connection: 'close' } });
  assert.equal(ready.statusCode, 200);
  assert.equal((await ready.body.text()).trim(), 'LIVE');

  // The quickstart's stdout access logger writes the request in Envoy's default format.
  await eventually(() => (/"GET \/ HTTP\/1\.1" 200 - 0 \d+ /.test(stdout) ? true : undefined), 5000, `the access log line (stdout: ${stdout})`);

  child.kill('SIGINT');
  const [code, signal] = await exited;
  assert.equal(signal, null, stderr);
  assert.equal(code, 0, stderr);
  for (const port of Object.values(PORTS)) assert.equal(await inUse(port), false, `port ${port} still open after exit`);
});

test('the dev loop: saving the filter source rebuilds it and the running proxy swaps it in', async (t) => {
  const { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { proxyYaml, startProxy } = await import('../helpers/proxy.ts');
  const { echoHandler, startUpstream } = await import('../helpers/servers.ts');
  const { wasmFilter } = await import('../helpers/wasm.ts');
  const { filterPaths, watchDevFilter, FILTER_DIR } = await import('../../examples/quickstart/filter-dev.ts');
  // A copy of the quickstart filter project, so the test edits no tracked file.
  const dir = mkdtempSync(join(tmpdir(), 'sluice-devloop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(FILTER_DIR, 'assembly'), join(dir, 'assembly'), { recursive: true });
  await buildDevFilter(dir);
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: filterPaths(dir).wasm, name: 'quickstart', rootId: 'quickstart', configuration: '{"greeting":"hi"}' }),
  }));
  const version = async () => (await request(`http://127.0.0.1:${p.port}/`, { headers: { connection: 'close' } })).headers['x-filter-version'];
  assert.equal(await version(), '1');
  const lines: string[] = [];
  const dev = watchDevFilter((l) => lines.push(l), dir);
  t.after(() => dev.close());
  await dev.ready;
  const source = join(dir, 'assembly', 'index.ts');
  writeFileSync(source, readFileSync(source, 'utf8').replace('const VERSION = "1";', 'const VERSION = "2";'));
  await eventually(async () => ((await version()) === '2' ? true : undefined), 30_000, `the rebuilt filter to be live (${lines.join('; ')})`);
  // A save that does not compile keeps the running version.
  writeFileSync(source, `${readFileSync(source, 'utf8')}\nthis is not AssemblyScript\n`);
  await eventually(() => (lines.some((l) => l.includes('build failed')) ? true : undefined), 30_000, 'the failed build to be reported');
  assert.equal(await version(), '2');
});
