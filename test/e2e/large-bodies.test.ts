import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { startUpstream } from '../helpers/servers.ts';
import { readFileSync } from 'node:fs';
import { proxyYaml } from '../helpers/proxy.ts';
import { runCli } from '../helpers/cli.ts';

/** A /proc/<pid>/status field in bytes. */
function vm(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) * 1024;
}

const MB = 1024 * 1024;
const SIZE = Number(process.env.SLUICE_BIG_MB ?? 200) * MB;

/** A body generator that never holds more than one 64 KiB chunk. */
function generated(total: number): Readable {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

test('streams a 200 MB upload and a 200 MB download with bounded proxy memory', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    if (req.method === 'POST') {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(String(n)));
      return;
    }
    res.writeHead(200, { 'content-length': String(SIZE) });
    generated(SIZE).pipe(res);
  });
  // The proxy runs as its own process so that its RSS is its own: VmHWM is the kernel's peak.
  const { child, port } = await runCli(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }), ['--concurrency', '1']);
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;
  // Warm up the data path so that start-up allocation is not counted.
  for (let i = 0; i < 20; i++) await (await request(url('/upload'), { method: 'POST', body: Buffer.alloc(65536) })).body.dump();
  const before = vm(child.pid as number, 'VmRSS');

  const upRes = await request(url('/upload'), { method: 'POST', body: generated(SIZE), headers: { 'content-length': String(SIZE) } });
  assert.equal(upRes.statusCode, 200);
  assert.equal(await upRes.body.text(), String(SIZE));

  const down = await request(url('/download'));
  assert.equal(down.statusCode, 200);
  let got = 0;
  for await (const c of down.body) got += (c as Buffer).length;
  assert.equal(got, SIZE);
  const grown = (vm(child.pid as number, 'VmHWM') - before) / MB;
  t.diagnostic(`proxy RSS peak grew by ${grown.toFixed(1)} MB while ${(2 * SIZE) / MB} MB passed through`);
  assert.ok(grown < 64, `RSS grew by ${grown.toFixed(1)} MB while ${(2 * SIZE) / MB} MB passed through (limit 64 MB)`);
});
