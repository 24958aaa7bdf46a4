import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { eventually } from '../helpers/servers.ts';
import { CLI } from '../helpers/cli.ts';

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

test('validates examples/quickstart/envoy.yaml with sluice validate', () => {
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
    15_000,
    `the quickstart banner (stdout: ${stdout}; stderr: ${stderr})`,
  );

  const res = await request(`http://127.0.0.1:${PORTS.listener}/`, { headers: { connection: 'close' } });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-served-by'], 'sluice');
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
