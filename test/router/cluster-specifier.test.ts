import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteAction } from '../../runtime/config/types.ts';
import type { ForwardRoute } from '../../runtime/router/route-table.ts';
import { oneHost, req, seq, table } from './fixtures.ts';

function forward(action: RouteAction, random?: () => number): ForwardRoute {
  const t = table(oneHost([{ name: 'r', match: { prefix: '/' }, route: action }]), { random });
  const route = t.match(req('h', '/'));
  assert.equal(route?.kind, 'route');
  return route as ForwardRoute;
}

describe('cluster', () => {
  it('returns the configured cluster without a weighted entry, the same object every time', () => {
    const r = forward({ cluster: 'backend' });
    const a = r.pickCluster(req('h', '/'));
    assert.deepEqual(a, { cluster: 'backend', weighted: undefined });
    assert.equal(r.pickCluster(req('h', '/')), a);
  });
});

describe('cluster_header', () => {
  const r = forward({ cluster_header: 'X-Cluster' });

  it('names the cluster by the first value of the header', () => {
    assert.equal(r.pickCluster(req('h', '/', [['x-cluster', 'blue']]))?.cluster, 'blue');
    assert.equal(r.pickCluster(req('h', '/', [['x-cluster', 'blue'], ['x-cluster', 'green']]))?.cluster, 'blue');
  });

  it('yields no cluster when the header is missing or empty', () => {
    assert.equal(r.pickCluster(req('h', '/')), undefined);
    assert.equal(r.pickCluster(req('h', '/', [['x-cluster', '']])), undefined);
  });

  it('answers a missing cluster with 503 by default, or the configured cluster_not_found_response_code', () => {
    assert.equal(r.clusterNotFoundStatus, 503);
    assert.equal(forward({ cluster_header: 'x', cluster_not_found_response_code: 'NOT_FOUND' }).clusterNotFoundStatus, 404);
    assert.equal(forward({ cluster_header: 'x', cluster_not_found_response_code: 'INTERNAL_SERVER_ERROR' }).clusterNotFoundStatus, 500);
  });
});

describe('weighted_clusters', () => {
  const action: RouteAction = {
    weighted_clusters: {
      clusters: [
        { name: 'a', weight: 30 },
        { name: 'zero', weight: 0 },
        { name: 'b', weight: 70 },
      ],
    },
  };

  // floor(random * 100) selects the interval: a = [0, 30), zero = [30, 30), b = [30, 100).
  const picks: Array<[random: number, cluster: string]> = [
    [0, 'a'],
    [0.295, 'a'],
    [0.3, 'b'],
    [0.31, 'b'],
    [0.999999, 'b'],
  ];
  for (const [random, cluster] of picks) {
    it(`picks ${cluster} when random() returns ${random}`, () => {
      const r = forward(action, () => random);
      const pick = r.pickCluster(req('h', '/'));
      assert.equal(pick?.cluster, cluster);
      assert.equal(pick?.weighted?.name, cluster);
    });
  }

  it('distributes picks in proportion to the weights', () => {
    const n = 1000;
    const values = Array.from({ length: n }, (_, i) => i / n);
    const r = forward(action, seq(...values));
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const c = r.pickCluster(req('h', '/'))?.cluster as string;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(counts), { a: 300, b: 700 });
  });

  it('names the cluster from a weighted entry’s cluster_header, and yields none when it is absent', () => {
    const r = forward({ weighted_clusters: { clusters: [{ cluster_header: 'x-pick', weight: 1 }] } });
    const pick = r.pickCluster(req('h', '/', [['x-pick', 'c1']]));
    assert.equal(pick?.cluster, 'c1');
    assert.equal(pick?.weighted, r.weightedClusters[0]);
    assert.equal(r.pickCluster(req('h', '/')), undefined);
  });

  it('exposes each entry’s host rewrite, which a route-level host_rewrite_literal overrides', () => {
    const wc: RouteAction = {
      weighted_clusters: { clusters: [{ name: 'a', weight: 1, host_rewrite_literal: 'a.internal' }] },
    };
    const plain = forward(wc);
    const pick = plain.pickCluster(req('h', '/'));
    assert.equal(pick?.weighted?.hostRewrite, 'a.internal');
    assert.equal(plain.hostRewriteFor(pick?.weighted), 'a.internal');
    const withRoute = forward({ ...wc, host_rewrite_literal: 'route.internal' });
    assert.equal(withRoute.hostRewriteFor(withRoute.pickCluster(req('h', '/'))?.weighted), 'route.internal');
  });

  it('rejects weights that sum to zero', () => {
    assert.throws(
      () => forward({ weighted_clusters: { clusters: [{ name: 'a', weight: 0 }] } }),
      (err: Error & { code?: string }) => err.code === 'SLUICE_ERR_CONFIG_INVALID' && /greater than 0/.test(err.message),
    );
  });

  it('rejects an entry with both or neither of name and cluster_header', () => {
    assert.throws(() => forward({ weighted_clusters: { clusters: [{ weight: 1 }] } }), { code: 'SLUICE_ERR_CONFIG_INVALID' });
    assert.throws(
      () => forward({ weighted_clusters: { clusters: [{ name: 'a', cluster_header: 'x', weight: 1 }] } }),
      { code: 'SLUICE_ERR_CONFIG_INVALID' },
    );
  });
});
