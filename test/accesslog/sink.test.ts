import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { openAccessLog } from '../../runtime/accesslog/sink.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-accesslog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('lines appended by two worker threads to one file arrive whole and in per-writer order', async (t) => {
  const path = join(tempDir(t), 'access.log');
  const lines = 400;
  const workers = ['w1', 'w2'].map(
    (id) => new Worker(new URL('./fixtures/log-writer.ts', import.meta.url), { workerData: { id, path, lines } }),
  );
  await Promise.all(workers.map((w) => once(w, 'exit')));

  const content = readFileSync(path, 'utf8');
  assert.ok(content.endsWith('\n'));
  const seen = new Map<string, number>([['w1', 0], ['w2', 0]]);
  for (const line of content.slice(0, -1).split('\n')) {
    const m = /^(w1|w2) (\d+) (x*)$/.exec(line);
    assert.ok(m, `torn or interleaved line: ${JSON.stringify(line.slice(0, 80))}`);
    const i = Number(m[2]);
    assert.equal(i, seen.get(m[1]), `${m[1]} lines out of order`);
    assert.equal(m[3].length, (i * 37) % 3000);
    seen.set(m[1], i + 1);
  }
  assert.deepEqual([...seen.values()], [lines, lines]);
});

test('a file sink appends to an existing file and creates a missing one', async (t) => {
  const dir = tempDir(t);
  const existing = join(dir, 'existing.log');
  writeFileSync(existing, 'before\n');
  const a = openAccessLog({ name: 'a', sink: 'file', path: existing });
  a.write('after\n');
  await a.close();
  assert.equal(readFileSync(existing, 'utf8'), 'before\nafter\n');

  const fresh = join(dir, 'fresh.log');
  const b = openAccessLog({ name: 'b', sink: 'file', path: fresh });
  b.write('one\n');
  await b.flush();
  assert.equal(readFileSync(fresh, 'utf8'), 'one\n');
  await b.close();
});

test('sinks for the same file in one thread share a buffer and stay usable until the last closes', async (t) => {
  const path = join(tempDir(t), 'shared.log');
  const a = openAccessLog({ name: 'a', sink: 'file', path });
  const b = openAccessLog({ name: 'b', sink: 'file', path });
  a.write('a1\n');
  b.write('b1\n');
  await a.close();
  a.write('ignored after close\n');
  b.write('b2\n');
  await b.close();
  assert.equal(readFileSync(path, 'utf8'), 'a1\nb1\nb2\n');
});

test('a file that cannot be opened is a config error naming the path', (t) => {
  const path = join(tempDir(t), 'no-such-dir', 'access.log');
  assert.throws(() => openAccessLog({ name: 'bad', sink: 'file', path }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'SLUICE_ERR_CONFIG_INVALID');
    assert.ok(e.message.includes(path));
    return true;
  });
  assert.throws(() => openAccessLog({ name: 'nopath', sink: 'file' }), { code: 'SLUICE_ERR_CONFIG_INVALID' });
});

test('stdout and stderr sinks write from inside a worker thread', async () => {
  const fixture = fileURLToPath(new URL('./fixtures/stdout-from-worker.ts', import.meta.url));
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [fixture]);
  assert.equal(stdout, 'stdout line 0\nstdout line 1\nstdout line 2\n');
  assert.equal(stderr, 'stderr line\n');
});
