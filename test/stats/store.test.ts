import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HISTOGRAM_BOUNDS } from '../../runtime/stats/layout.ts';
import { StatsReader } from '../../runtime/stats/reader.ts';
import { OVERFLOW_STAT, StatsStore } from '../../runtime/stats/store.ts';

function read(store: StatsStore) {
  const r = new StatsReader();
  r.attach('t', store.buffer);
  return r.snapshot();
}

test('returns the same handle for the same name and kind', () => {
  const s = new StatsStore(64);
  assert.equal(s.counter('a.b'), s.counter('a.b'));
  assert.equal(s.gauge('a.g'), s.gauge('a.g'));
  assert.equal(s.histogram('a.h'), s.histogram('a.h'));
});

test('counters add, gauges move both ways and set', () => {
  const s = new StatsStore(64);
  const c = s.counter('cluster.api.upstream_rq_total');
  c.inc();
  c.add(4);
  const g = s.gauge('cluster.api.upstream_rq_active');
  g.inc();
  g.inc();
  g.dec();
  g.add(10);
  g.sub(3);
  const g2 = s.gauge('server.concurrency');
  g2.set(8);
  const snap = read(s);
  assert.equal(snap.counters.get('cluster.api.upstream_rq_total'), 5);
  assert.equal(snap.gauges.get('cluster.api.upstream_rq_active'), 8);
  assert.equal(snap.gauges.get('server.concurrency'), 8);
});

test('histograms count each value in the first bucket whose bound is not below it', () => {
  const s = new StatsStore(64);
  const h = s.histogram('cluster.api.upstream_rq_time');
  for (const v of [0, 0.5, 0.6, 1, 5000, 5001, 3600000, 3600001]) h.record(v);
  const d = read(s).histograms.get('cluster.api.upstream_rq_time')!.cumulative;
  const at = (bound: number) => d.buckets[HISTOGRAM_BOUNDS.indexOf(bound)];
  assert.equal(at(0.5), 2);
  assert.equal(at(1), 2);
  assert.equal(at(5000), 1);
  assert.equal(at(10000), 1);
  assert.equal(at(3600000), 1);
  assert.equal(d.buckets[HISTOGRAM_BOUNDS.length], 1, 'overflow bucket');
  assert.equal(d.count, 8);
  assert.equal(d.min, 0);
  assert.equal(d.max, 3600001);
});

test('a full segment hands out no-op handles and counts stats.overflow instead of throwing', () => {
  const s = new StatsStore(4); // stats.overflow takes one slot
  s.counter('a');
  s.counter('b');
  s.counter('c');
  const lost = s.counter('d');
  lost.inc();
  s.histogram('h').record(1); // needs 24 slots
  s.gauge('g').set(5);
  const snap = read(s);
  assert.equal(snap.counters.get(OVERFLOW_STAT), 3);
  assert.equal(snap.counters.has('d'), false);
  assert.equal(snap.histograms.has('h'), false);
  assert.equal(snap.gauges.has('g'), false);
});

test('a full name region also overflows', () => {
  const s = new StatsStore(64, 64);
  s.counter('x'.repeat(40));
  s.counter('y'.repeat(40));
  assert.equal(read(s).counters.get(OVERFLOW_STAT), 1);
});

test('a reader sees stats registered after it attached, with non-ASCII names intact', () => {
  const s = new StatsStore(64);
  const r = new StatsReader();
  r.attach('t', s.buffer);
  assert.equal(r.snapshot().counters.size, 1);
  s.counter('cluster.café.upstream_rq_total').add(2);
  assert.equal(r.snapshot().counters.get('cluster.café.upstream_rq_total'), 2);
});
