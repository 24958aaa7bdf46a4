import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WORKER_OLD_SPACE_FLOOR_MB, WORKER_YOUNG_GENERATION_MB } from '../../runtime/server/worker-heap.ts';

const MB = 1024 * 1024;
const workerHeapModule = fileURLToPath(new URL('../../runtime/server/worker-heap.ts', import.meta.url));

/**
 * Runs a child Node with `--trace-gc-nvp`: it calls `prepareWorkerHeaps()` (or not), then starts a
 * worker as the supervisor does, which keeps ~12 MB alive and runs two mark-compacts with `gc()`.
 * Returns the old-generation allocation limit V8 set after each of the worker's mark-compacts.
 */
async function limitsAfterMarkCompacts(prepare: boolean): Promise<number[]> {
  const script = `
    import { Worker } from 'node:worker_threads';
    import { setFlagsFromString } from 'node:v8';
    const heap = await import(${JSON.stringify(workerHeapModule)});
    if (${prepare}) heap.prepareWorkerHeaps(); else setFlagsFromString('--expose-gc');
    const body = 'const keep = []; for (let i = 0; i < 100000; i++) keep.push({ a: i, b: "x" + i }); gc(); gc();';
    const w = new Worker(body, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: ${WORKER_YOUNG_GENERATION_MB} } });
    w.on('error', (e) => { console.error(e); process.exitCode = 1; });
  `;
  const child = spawn(process.execPath, ['--trace-gc-nvp', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out.slice(-2000));
  // nvp lines are prefixed with [pid:isolate:thread]; the worker's isolate is the one that ran `gc()` twice.
  const byIsolate = new Map<string, number[]>();
  for (const line of out.split('\n')) {
    const m = /^\[\d+:(0x[0-9a-f]+)[^\]]*\].*\bgc=mc\b.*\bold_gen_allocation_limit=(\d+)/.exec(line);
    if (!m) continue;
    const list = byIsolate.get(m[1]!) ?? [];
    list.push(Number(m[2]));
    byIsolate.set(m[1]!, list);
  }
  const worker = [...byIsolate.values()].find((l) => l.length >= 2);
  assert.ok(worker, `no isolate ran two mark-compacts:\n${out.slice(-2000)}`);
  return worker;
}

test("a worker's old-generation limit stays at the floor after mark-compacts of a small live set", async () => {
  const limits = await limitsAfterMarkCompacts(true);
  for (const limit of limits) assert.ok(limit >= WORKER_OLD_SPACE_FLOOR_MB * MB, `limit ${(limit / MB).toFixed(1)} MB is under the floor`);
});

test('without the floor, V8 sets a limit under it after the first mark-compact (what the floor is for)', async () => {
  const limits = await limitsAfterMarkCompacts(false);
  assert.ok(limits[0]! < WORKER_OLD_SPACE_FLOOR_MB * MB, `first limit ${(limits[0]! / MB).toFixed(1)} MB`);
});
