import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { StatsReader } from '../../runtime/stats/reader.ts';
import { StatsStore } from '../../runtime/stats/store.ts';

interface Msg {
  type: string;
  buffer?: SharedArrayBuffer;
}

async function nextMessage(w: Worker, type: string): Promise<Msg> {
  for (;;) {
    const [m] = (await once(w, 'message')) as [Msg];
    if (m.type === type) return m;
  }
}

async function startWriter(id: string, requests: number): Promise<{ worker: Worker; buffer: SharedArrayBuffer }> {
  const worker = new Worker(new URL('./fixtures/stats-writer.ts', import.meta.url), { workerData: { id, requests } });
  const m = await nextMessage(worker, 'segment');
  return { worker, buffer: m.buffer as SharedArrayBuffer };
}

test('sums counters, gauges and histograms written by two real worker threads', async (t) => {
  const reader = new StatsReader();
  const w1 = await startWriter('w1', 1000);
  const w2 = await startWriter('w2', 500);
  t.after(() => Promise.all([w1.worker.terminate(), w2.worker.terminate()]));
  reader.attach('w1', w1.buffer);
  reader.attach('w2', w2.buffer);

  for (const w of [w1, w2]) w.worker.postMessage({ type: 'go' });
  await Promise.all([nextMessage(w1.worker, 'done'), nextMessage(w2.worker, 'done')]);

  const s = reader.snapshot();
  assert.equal(s.counters.get('cluster.backend.upstream_rq_total'), 1500);
  assert.equal(s.counters.get('cluster.backend.upstream_rq_200'), 1500);
  assert.equal(s.counters.get('worker.w1.ticks'), 1000);
  assert.equal(s.counters.get('worker.w2.ticks'), 500);
  assert.equal(s.gauges.get('cluster.backend.upstream_cx_active'), 7);
  const h = s.histograms.get('cluster.backend.upstream_rq_time');
  assert.ok(h);
  assert.equal(h.cumulative.count, 1500);
  assert.equal(h.cumulative.min, 0);
  assert.equal(h.cumulative.max, 9);
  assert.equal(h.cumulative.sum, 100 * 45 + 50 * 45);
});

test('keeps a detached worker counters and histograms but drops its gauges', async (t) => {
  const reader = new StatsReader();
  const w1 = await startWriter('w1', 10);
  const w2 = await startWriter('w2', 20);
  t.after(() => w2.worker.terminate());
  reader.attach('w1', w1.buffer);
  reader.attach('w2', w2.buffer);
  for (const w of [w1, w2]) w.worker.postMessage({ type: 'go' });
  await Promise.all([nextMessage(w1.worker, 'done'), nextMessage(w2.worker, 'done')]);

  await w1.worker.terminate();
  reader.detach('w1');

  const s = reader.snapshot();
  assert.deepEqual(reader.ids, ['w2']);
  assert.equal(s.counters.get('cluster.backend.upstream_rq_total'), 30);
  assert.equal(s.counters.get('worker.w1.ticks'), 10);
  assert.equal(s.gauges.get('cluster.backend.upstream_cx_active'), 4);
  assert.equal(s.histograms.get('cluster.backend.upstream_rq_time')?.cumulative.count, 30);
});

test('resetCounters zeroes counters from the reader view without writing any segment', () => {
  const store = new StatsStore(64);
  const reader = new StatsReader();
  reader.attach('main', store.buffer);
  const c = store.counter('http.admin.downstream_rq_total');
  const g = store.gauge('server.live');
  c.add(5);
  g.set(1);
  reader.resetCounters();
  assert.equal(reader.snapshot().counters.get('http.admin.downstream_rq_total'), 0);
  assert.equal(reader.snapshot().gauges.get('server.live'), 1);
  c.add(2);
  assert.equal(reader.snapshot().counters.get('http.admin.downstream_rq_total'), 2);
  // The segment itself still holds the raw value.
  const other = new StatsReader();
  other.attach('main', store.buffer);
  assert.equal(other.snapshot().counters.get('http.admin.downstream_rq_total'), 7);
});

test('attaching an id again folds the previous segment counters into the base', () => {
  const reader = new StatsReader();
  const first = new StatsStore(64);
  first.counter('server.restarts').add(2);
  reader.attach('w0', first.buffer);
  const second = new StatsStore(64);
  second.counter('server.restarts').add(1);
  reader.attach('w0', second.buffer);
  assert.equal(reader.snapshot().counters.get('server.restarts'), 3);
});

test('reports histogram intervals only after a latch, then what was recorded since the last one', () => {
  const store = new StatsStore(128);
  const reader = new StatsReader();
  reader.attach('main', store.buffer);
  const h = store.histogram('http.ingress.downstream_rq_time');
  h.record(3);
  assert.equal(reader.snapshot().histograms.get('http.ingress.downstream_rq_time')?.interval, undefined);
  reader.latchIntervals();
  assert.equal(reader.snapshot().histograms.get('http.ingress.downstream_rq_time')?.interval?.count, 1);
  h.record(40);
  h.record(45);
  reader.latchIntervals();
  const snap = reader.snapshot().histograms.get('http.ingress.downstream_rq_time');
  assert.equal(snap?.interval?.count, 2);
  assert.equal(snap?.interval?.sum, 85);
  assert.equal(snap?.cumulative.count, 3);
  reader.latchIntervals();
  assert.equal(reader.snapshot().histograms.get('http.ingress.downstream_rq_time')?.interval?.count, 0);
});

test('rejects a buffer that is not a stats segment', () => {
  const reader = new StatsReader();
  assert.throws(() => reader.attach('bad', new SharedArrayBuffer(128)), { code: 'SLUICE_ERR_INTERNAL' });
});
