import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { startUpstream } from '../helpers/servers.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';

const MB = 1024 * 1024;
const SIZE = 200 * MB;

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
  const p = await startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }] }));
  // Workers run in this process: sample this process's RSS while bytes flow.
  const before = process.memoryUsage.rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  t.after(() => clearInterval(sampler));

  const upRes = await request(p.url('/upload'), { method: 'POST', body: generated(SIZE), headers: { 'content-length': String(SIZE) } });
  assert.equal(upRes.statusCode, 200);
  assert.equal(await upRes.body.text(), String(SIZE));

  const down = await request(p.url('/download'));
  assert.equal(down.statusCode, 200);
  let got = 0;
  for await (const c of down.body) got += (c as Buffer).length;
  assert.equal(got, SIZE);
  clearInterval(sampler);
  const grown = (peak - before) / MB;
  assert.ok(grown < 64, `RSS grew by ${grown.toFixed(1)} MB while 400 MB passed through (limit 64 MB)`);
});
