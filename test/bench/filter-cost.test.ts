import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = join(import.meta.dirname, '..', '..', 'bench', 'filter-cost.ts');

test('filter-cost drives streams through both bench filters, metered and not, and prints one row each', async () => {
  const { stdout } = await run(process.execPath, [script, '--streams', '300', '--reps', '1'], { timeout: 120_000 });
  const rows = stdout.split('\n').filter((l) => /^\| [a-z]/.test(l) && !l.startsWith('| row'));
  assert.deepEqual(
    rows.map((l) => l.split('|')[1]!.trim()),
    ['no filter', 'no-op wasm', 'no-op wasm, unmetered', 'header wasm', 'header wasm, unmetered'],
  );
  for (const l of rows) {
    const cells = l.split('|').map((c) => c.trim());
    assert.match(cells[2]!, /^\d+$/, `ns per stream in: ${l}`);
    assert.match(cells[3]!, cells[1] === 'no filter' ? /^—$/ : /^[+−]\d+$/, `difference in: ${l}`);
  }
});

test('filter-cost refuses a count that is not a whole number above 0', async () => {
  await assert.rejects(run(process.execPath, [script, '--streams', '0']), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr ?? '', /usage: node bench\/filter-cost\.ts/);
    return true;
  });
});
