import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteAction, RouteConfiguration } from '../../runtime/config/types.ts';
import { ConfigError } from '../../runtime/errors.ts';
import { HeaderMap } from '../../runtime/http/header-map.ts';
import { RouteTable, type DirectResponseRoute, type ForwardRoute } from '../../runtime/router/route-table.ts';
import { fwd, info, oneHost, req, table } from './fixtures.ts';

function forward(action: Partial<RouteAction>): ForwardRoute {
  const r = table(oneHost([fwd('r', { prefix: '/' }, action)])).match(req('h', '/'));
  assert.equal(r?.kind, 'route');
  return r as ForwardRoute;
}

function problemsOf(rc: RouteConfiguration, opts?: Parameters<typeof RouteTable.compile>[1]): string[] {
  try {
    RouteTable.compile(rc, opts);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'SLUICE_ERR_CONFIG_INVALID');
    return err.problems.map((p) => p.path);
  }
  assert.fail('expected a ConfigError');
}

describe('route entries', () => {
  it('carries the route and virtual host names, and an empty name when the route has none', () => {
    const t = table({
      virtual_hosts: [{ name: 'web', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] }],
    });
    const r = t.match(req('h', '/'));
    assert.equal(r?.name, '');
    assert.equal(r?.virtualHostName, 'web');
  });

  it('defaults the route timeout to 15 s, keeps 0 as disabled, and leaves idle_timeout unset', () => {
    assert.equal(forward({}).timeoutMs, 15_000);
    assert.equal(forward({ timeout: 0 }).timeoutMs, 0);
    assert.equal(forward({ timeout: 250 }).timeoutMs, 250);
    assert.equal(forward({}).idleTimeoutMs, undefined);
    assert.equal(forward({ idle_timeout: 0 }).idleTimeoutMs, 0);
    assert.equal(forward({ idle_timeout: 1500 }).idleTimeoutMs, 1500);
  });

  it('exposes host rewrites', () => {
    assert.equal(forward({}).hostRewrite, undefined);
    assert.equal(forward({ host_rewrite_literal: 'up.internal' }).hostRewrite, 'up.internal');
    assert.equal(forward({ host_rewrite_literal: 'up.internal' }).hostRewriteFor(undefined), 'up.internal');
    assert.equal(forward({ auto_host_rewrite: true }).autoHostRewrite, true);
    assert.equal(forward({}).autoHostRewrite, false);
  });

  it('finds per-filter config on the route first, then on the virtual host', () => {
    const rc: RouteConfiguration = {
      virtual_hosts: [
        {
          name: 'vh',
          domains: ['*'],
          typed_per_filter_config: {
            a: { type_url: 'vh.A', value: {} },
            b: { type_url: 'vh.B', value: {} },
          },
          routes: [{ ...fwd('r', { prefix: '/' }), typed_per_filter_config: { a: { type_url: 'route.A', value: {} } } }],
        },
      ],
    };
    const r = table(rc).match(req('h', '/'));
    assert.equal(r?.perFilterConfig('a')?.type_url, 'route.A');
    assert.equal(r?.perFilterConfig('b')?.type_url, 'vh.B');
    assert.equal(r?.perFilterConfig('c'), undefined);
    assert.equal(r?.perFilterConfig('constructor'), undefined);
  });

  it('returns the same frozen entry object for every matching request', () => {
    const t = table(oneHost([fwd('r', { prefix: '/' })]));
    const r = t.match(req('h', '/a'));
    assert.equal(r, t.match(req('h', '/b')));
    assert.ok(Object.isFrozen(r));
    assert.ok(Object.isFrozen(t));
  });
});

describe('upgrades', () => {
  const cases: Array<[label: string, configs: RouteAction['upgrade_configs'], type: string, hcm: string[], expected: boolean]> = [
    ['HCM lists the type', undefined, 'websocket', ['websocket'], true],
    ['HCM lists the type, any case', undefined, 'WebSocket', ['websocket'], true],
    ['nobody lists the type', undefined, 'websocket', [], false],
    ['the route disables an HCM type', [{ upgrade_type: 'websocket', enabled: false }], 'websocket', ['websocket'], false],
    ['the route enables a type the HCM lacks', [{ upgrade_type: 'websocket', enabled: true }], 'websocket', [], true],
    ['enabled defaults to true', [{ upgrade_type: 'websocket' }], 'websocket', [], true],
    ['the route entry only concerns its own type', [{ upgrade_type: 'h2c', enabled: false }], 'websocket', ['websocket'], true],
  ];
  for (const [label, configs, type, hcm, expected] of cases) {
    it(`${expected ? 'allows' : 'refuses'} ${type} when ${label}`, () => {
      assert.equal(forward({ upgrade_configs: configs }).upgradeAllowed(type, hcm), expected);
    });
  }

  it('rejects a route listing an upgrade type twice', () => {
    const rc = oneHost([fwd('r', { prefix: '/' }, { upgrade_configs: [{ upgrade_type: 'websocket' }, { upgrade_type: 'WebSocket' }] })]);
    assert.deepEqual(problemsOf(rc), ['route_config.virtual_hosts[0].routes[0].route.upgrade_configs[1]']);
  });
});

describe('direct responses', () => {
  it('answers with the configured status and body, empty when none', () => {
    const t = table(
      oneHost([
        { name: 'health', match: { path: '/healthz' }, direct_response: { status: 200, body: 'ok' } },
        { name: 'gone', match: { prefix: '/' }, direct_response: { status: 410 } },
      ]),
    );
    const health = t.match(req('h', '/healthz')) as DirectResponseRoute;
    assert.equal(health.kind, 'direct_response');
    assert.equal(health.status, 200);
    assert.equal(health.body, 'ok');
    const gone = t.match(req('h', '/x')) as DirectResponseRoute;
    assert.equal(gone.status, 410);
    assert.equal(gone.body, '');
  });

  it('applies response header mutations to direct responses', () => {
    const t = table(
      oneHost([
        {
          name: 'd',
          match: { prefix: '/' },
          direct_response: { status: 200 },
          response_headers_to_add: [{ header: { key: 'x-d', value: '1' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' }],
        },
      ]),
    );
    const h = new HeaderMap([':status', '200']);
    t.match(req('h', '/'))?.applyResponseHeaders(h, info());
    assert.equal(h.get('x-d'), '1');
  });

  it('rejects a body larger than max_direct_response_body_size_bytes (4096 by default)', () => {
    const big = oneHost([{ name: 'd', match: { prefix: '/' }, direct_response: { status: 200, body: 'x'.repeat(4097) } }]);
    assert.deepEqual(problemsOf(big), ['route_config.virtual_hosts[0].routes[0].direct_response.body']);
    assert.doesNotThrow(() => RouteTable.compile({ ...big, max_direct_response_body_size_bytes: 8192 }));
    const fits = oneHost([{ name: 'd', match: { prefix: '/' }, direct_response: { status: 200, body: 'x'.repeat(4096) } }]);
    assert.doesNotThrow(() => RouteTable.compile(fits));
  });
});

describe('compile', () => {
  it('reports every problem at once, each at its YAML path', () => {
    const rc: RouteConfiguration = {
      virtual_hosts: [
        {
          name: 'a',
          domains: ['*'],
          routes: [
            { match: { safe_regex: { regex: '(' } }, route: { cluster: 'c' } },
            {
              match: { prefix: '/', headers: [{ name: 'x', string_match: { safe_regex: { regex: '[' } } }] },
              route: { cluster: 'c' },
            },
            { match: { prefix: '/', query_parameters: [{ name: 'q', string_match: { safe_regex: { regex: '(?=x)' } } }] }, route: { cluster: 'c' } },
          ],
        },
        { name: 'b', domains: ['*'], routes: [] },
      ],
    };
    const base = 'static_resources.listeners[0].filter_chains[0].filters[0].route_config';
    assert.deepEqual(problemsOf(rc, { configPath: base }), [
      `${base}.virtual_hosts[0].routes[0].match.safe_regex.regex`,
      `${base}.virtual_hosts[0].routes[1].match.headers[0].string_match.safe_regex.regex`,
      `${base}.virtual_hosts[0].routes[2].match.query_parameters[0].string_match.safe_regex.regex`,
      `${base}.virtual_hosts[1].domains[0]`,
    ]);
  });

  it('checks static cluster names when given the known clusters and validate_clusters is not false', () => {
    const rc = oneHost([
      fwd('known', { prefix: '/k' }),
      fwd('unknown', { prefix: '/u' }),
      { name: 'w', match: { prefix: '/w' }, route: { weighted_clusters: { clusters: [{ name: 'known', weight: 1 }, { name: 'nope', weight: 1 }] } } },
      { name: 'h', match: { prefix: '/h' }, route: { cluster_header: 'x-c' } },
    ]);
    const clusters = new Set(['known']);
    assert.deepEqual(problemsOf(rc, { clusters }), [
      'route_config.virtual_hosts[0].routes[1].route',
      'route_config.virtual_hosts[0].routes[2].route',
    ]);
    assert.doesNotThrow(() => RouteTable.compile({ ...rc, validate_clusters: false }, { clusters }));
    assert.doesNotThrow(() => RouteTable.compile(rc));
  });

  it('lower-cases internal_only_headers and keeps the configuration name', () => {
    const t = RouteTable.compile({ ...oneHost([]), name: 'local_route', internal_only_headers: ['X-Internal'] });
    assert.equal(t.name, 'local_route');
    assert.deepEqual(t.internalOnlyHeaders, ['x-internal']);
  });

  it('does not depend on the config objects after compile', () => {
    const rc = oneHost([fwd('r', { prefix: '/api' })]);
    const t = RouteTable.compile(rc);
    rc.virtual_hosts[0].routes[0].match.prefix = '/changed';
    rc.virtual_hosts[0].domains[0] = 'other';
    assert.equal(t.match(req('h', '/api'))?.name, 'r');
  });
});
