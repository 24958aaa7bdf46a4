import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/cli.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { echoHandler, startUpstream } from '../helpers/servers.ts';
import { buildFixtureInto, wasmFilter } from '../helpers/wasm.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-deploy-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const v1 = await buildFixtureInto(dir, 'versioned/v1.ts', 'v1.wasm');
const v2 = await buildFixtureInto(dir, 'versioned/v2.ts', 'v2.wasm');

function sluice(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

test('sluice deploy pushes a module to a running proxy, reports refusals, and rolls back', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], filters: wasmFilter({ file: v1, name: 'stamper' }) }));
  const admin = `http://127.0.0.1:${p.adminPort}`;

  const ok = await sluice(['deploy', 'stamper', v2, '--admin', admin]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^stamper: now serving generation 2 \(sha256 [0-9a-f]{64}\)$/m);
  assert.equal((await fetch(`http://127.0.0.1:${p.port}/`)).headers.get('x-version'), '2');

  const bad = join(dir, 'bad.wasm');
  writeFileSync(bad, 'nope');
  const refused = await sluice(['deploy', 'stamper', bad, '--admin', admin]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /refused \(400\)/);

  const back = await sluice(['deploy', 'stamper', '--rollback', '--admin', admin]);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /rolled back to generation 3/);
  assert.equal((await fetch(`http://127.0.0.1:${p.port}/`)).headers.get('x-version'), '1');

  const usage = await sluice(['deploy', 'stamper']);
  assert.equal(usage.code, 2);
  const unreachable = await sluice(['deploy', 'stamper', v2, '--admin', 'http://127.0.0.1:1']);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /cannot reach the admin API/);
});
