import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startUpstream, eventually } from '../helpers/servers.ts';
import { proxyYaml } from '../helpers/proxy.ts';

const CLI = fileURLToPath(new URL('../../runtime/cli/sluice.ts', import.meta.url));

/** Whether a connection to the port is refused (a connection that is accepted is closed at once). */
function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(true));
  });
}

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('validate exits 0 for a valid file', (t) => {
  const dir = tmp(t);
  const file = join(dir, 'ok.yaml');
  writeFileSync(file, proxyYaml({ clusters: [{ name: 'backend', ports: [8080] }] }));
  const r = spawnSync(process.execPath, [CLI, 'validate', '-c', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /OK/);
});

test('validate exits 1 with one line per problem, each with its YAML path and line', (t) => {
  const dir = tmp(t);
  const file = join(dir, 'bad.yaml');
  const text = proxyYaml({ clusters: [{ name: 'backend', ports: [8080] }] })
    .replace('lb_policy: ROUND_ROBIN', 'lb_policy: ROUND')
    .replace('stat_prefix: ingress', 'stat_prefix: ingress\n          bogus_field: 1');
  writeFileSync(file, text);
  const r = spawnSync(process.execPath, [CLI, 'validate', '-c', file], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  const lbLine = text.split('\n').findIndex((l) => l.includes('lb_policy: ROUND')) + 1;
  assert.ok(
    lines.some((l) => l.startsWith('static_resources.clusters[0].lb_policy: unknown value "ROUND"') && l.endsWith(`(line ${lbLine})`)),
    r.stderr,
  );
  assert.ok(lines.some((l) => /bogus_field: unknown field "bogus_field" \(line \d+\)$/.test(l)), r.stderr);
  assert.equal(lines.length, 2, r.stderr);
});

test('run refuses an invalid file with the same messages', (t) => {
  const dir = tmp(t);
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, proxyYaml({ clusters: [{ name: 'backend', ports: [8080] }] }).replace('lb_policy: ROUND_ROBIN', 'lb_policy: ROUND'));
  const r = spawnSync(process.execPath, [CLI, 'run', '-c', file], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^static_resources\.clusters\[0\]\.lb_policy: unknown value "ROUND".* \(line \d+\)$/m);
});

test('run serves until SIGTERM, then drains: in-flight requests finish with connection: close, exit 0', async (t) => {
  let arrived!: () => void;
  const inFlight = new Promise<void>((r) => (arrived = r));
  let finish!: () => void;
  const finishGate = new Promise<void>((r) => (finish = r));
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    if (req.url === '/slow') {
      arrived();
      void finishGate.then(() => res.end('slow done'));
      return;
    }
    res.end('ok');
  });
  const dir = tmp(t);
  const file = join(dir, 'envoy.yaml');
  writeFileSync(file, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }));
  const child = spawn(process.execPath, [CLI, 'run', '-c', file, '--concurrency', '1', '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const listenPort = await eventually(() => {
    const m = /"listeners":\["test_listener=127\.0\.0\.1:(\d+)"\]/.exec(out);
    return m ? Number(m[1]) : undefined;
  }, 15_000, 'sluice to log its listener');
  const ok = await request(`http://127.0.0.1:${listenPort}/`);
  assert.equal(await ok.body.text(), 'ok');
  const slow = request(`http://127.0.0.1:${listenPort}/slow`);
  await inFlight;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  // The upstream answers once the proxy drains, which it shows by refusing new connections (the
  // worker marks its streams draining, then closes its listener); a busy machine can take well
  // over the 200 ms a fixed delay would give it.
  await eventually(async () => ((await refusesConnections(listenPort)) ? true : undefined), 15_000, 'the proxy to stop accepting connections');
  finish();
  const res = await slow;
  assert.equal(res.headers['connection'], 'close');
  assert.equal(await res.body.text(), 'slow done');
  assert.equal(await exited, 0);
});
