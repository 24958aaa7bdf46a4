import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REPLICATED_GAUGE, StatsReader } from '../../runtime/stats/reader.ts';
import { StatsStore } from '../../runtime/stats/store.ts';

test('reports one copy of the cluster membership gauges every worker sets, and sums the others', () => {
  const reader = new StatsReader();
  for (const id of ['worker-0', 'worker-1', 'worker-2']) {
    const store = new StatsStore(64);
    store.gauge('cluster.backend.membership_total').set(2);
    store.gauge('cluster.backend.membership_healthy').set(id === 'worker-2' ? 1 : 2);
    store.gauge('cluster.backend.upstream_cx_active').set(3);
    reader.attach(id, store.buffer);
  }
  const g = reader.snapshot().gauges;
  assert.equal(g.get('cluster.backend.membership_total'), 2);
  // Workers that briefly disagree (one saw an update first): the largest copy.
  assert.equal(g.get('cluster.backend.membership_healthy'), 2);
  // Per-worker activity is still summed.
  assert.equal(g.get('cluster.backend.upstream_cx_active'), 9);
});

test('treats only cluster-level shared-state gauges as replicated', () => {
  for (const name of [
    'cluster.backend.membership_total',
    'cluster.backend.membership_healthy',
    'cluster.backend.membership_degraded',
    'cluster.backend.membership_excluded',
    'cluster.a.b.membership_total',
    'cluster.backend.max_host_weight',
  ]) {
    assert.ok(REPLICATED_GAUGE.test(name), name);
  }
  for (const name of [
    'cluster.backend.upstream_cx_active',
    'cluster.backend.upstream_rq_active',
    'http.ingress.downstream_cx_active',
    'listener.127.0.0.1_80.downstream_cx_active',
    'server.live',
    'cluster.membership_total',
  ]) {
    assert.ok(!REPLICATED_GAUGE.test(name), name);
  }
});
