import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { ErrorCode } from '../../runtime/errors.ts';
import { GlobalStatsReader } from '../../runtime/stats/global-reader.ts';
import { StatsStore } from '../../runtime/stats/store.ts';

function twoThreads(): { a: StatsStore; b: StatsStore; reader: GlobalStatsReader } {
  const a = new StatsStore(64);
  const b = new StatsStore(64);
  const reader = new GlobalStatsReader();
  reader.attach('a', a.buffer);
  reader.attach('b', b.buffer);
  return { a, b, reader };
}

test('sums a counter and a gauge over every attached segment', () => {
  const { a, b, reader } = twoThreads();
  a.counter('wasmcustom.requests').add(3);
  b.counter('wasmcustom.requests').add(4);
  a.gauge('wasmcustom.in_flight').set(2);
  b.gauge('wasmcustom.in_flight').set(-5);
  assert.equal(reader.counter('wasmcustom.requests'), 7);
  assert.equal(reader.gauge('wasmcustom.in_flight'), -3);
});

test('reads live values after the first lookup and finds stats created after attach', () => {
  const { a, b, reader } = twoThreads();
  const ca = a.counter('wasmcustom.requests');
  ca.inc();
  assert.equal(reader.counter('wasmcustom.requests'), 1);
  ca.add(10);
  assert.equal(reader.counter('wasmcustom.requests'), 11, 'cached slot, live value');
  b.counter('wasmcustom.requests').add(100); // published in b after a's lookup missed there
  assert.equal(reader.counter('wasmcustom.requests'), 111);
});

test('keeps counters and gauges of the same name apart, and answers 0 for an unknown name', () => {
  const { a, reader } = twoThreads();
  a.counter('wasmcustom.x').add(5);
  a.gauge('wasmcustom.x').set(9);
  a.histogram('wasmcustom.h').record(1);
  assert.equal(reader.counter('wasmcustom.x'), 5);
  assert.equal(reader.gauge('wasmcustom.x'), 9);
  assert.equal(reader.counter('wasmcustom.h'), 0, 'histograms are not readable as counters');
  assert.equal(reader.counter('nope'), 0);
  assert.equal(reader.gauge('nope'), 0);
});

test('keeps the counters of a detached segment in the total and drops its gauges', () => {
  const { a, b, reader } = twoThreads();
  a.counter('wasmcustom.requests').add(3);
  b.counter('wasmcustom.requests').add(4);
  a.gauge('wasmcustom.in_flight').set(2);
  b.gauge('wasmcustom.in_flight').set(1);
  reader.detach('b');
  assert.deepEqual(reader.ids, ['a']);
  b.counter('wasmcustom.requests').add(1000); // writes after detach are not seen
  assert.equal(reader.counter('wasmcustom.requests'), 7);
  assert.equal(reader.gauge('wasmcustom.in_flight'), 2);
  reader.detach('b'); // unknown id: no effect
  assert.equal(reader.counter('wasmcustom.requests'), 7);
});

test('replacing a segment under the same id folds the old one in first', () => {
  const { a, reader } = twoThreads();
  a.counter('wasmcustom.requests').add(3);
  const a2 = new StatsStore(64);
  a2.counter('wasmcustom.requests').add(1);
  reader.attach('a', a2.buffer);
  assert.equal(reader.counter('wasmcustom.requests'), 4);
});

test('reports one copy of a replicated cluster gauge, as the main-thread reader does', () => {
  const { a, b, reader } = twoThreads();
  a.gauge('cluster.backend.membership_total').set(3);
  b.gauge('cluster.backend.membership_total').set(4);
  assert.equal(reader.gauge('cluster.backend.membership_total'), 4);
});

test('refuses a buffer that is not a StatsStore segment', () => {
  const reader = new GlobalStatsReader();
  assert.throws(() => reader.attach('x', new SharedArrayBuffer(128)), { code: ErrorCode.INTERNAL });
  assert.throws(() => reader.attach('x', new ArrayBuffer(128) as unknown as SharedArrayBuffer), { code: ErrorCode.INTERNAL });
  assert.deepEqual(reader.ids, []);
});

test('reads counters written by another thread', async (t) => {
  const worker = new Worker(new URL('./fixtures/stats-writer.ts', import.meta.url), { workerData: { id: 'w1', requests: 250 } });
  t.after(() => worker.terminate());
  const message = async (type: string): Promise<{ type: string; buffer?: SharedArrayBuffer }> => {
    for (;;) {
      const [m] = (await once(worker, 'message')) as [{ type: string; buffer?: SharedArrayBuffer }];
      if (m.type === type) return m;
    }
  };
  const { buffer } = await message('segment');
  const own = new StatsStore(64);
  own.counter('cluster.backend.upstream_rq_total').add(1);
  const reader = new GlobalStatsReader();
  reader.attach('main', own.buffer);
  reader.attach('w1', buffer!);
  assert.equal(reader.counter('cluster.backend.upstream_rq_total'), 1);
  worker.postMessage({ type: 'go' });
  await message('done');
  assert.equal(reader.counter('cluster.backend.upstream_rq_total'), 251);
  assert.equal(reader.counter('worker.w1.ticks'), 250);
  assert.equal(reader.gauge('cluster.backend.upstream_cx_active'), 3);
});
