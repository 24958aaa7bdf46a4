import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AppendAction, HeaderValueOption, Route, RouteConfiguration } from '../../runtime/config/types.ts';
import { HeaderMap } from '../../runtime/http/header-map.ts';
import type { StreamInfo } from '../../runtime/http/stream-info.ts';
import type { ForwardRoute, RouteTableOptions } from '../../runtime/router/route-table.ts';
import { info, oneHost, req, table } from './fixtures.ts';

function hvo(key: string, value: string, append_action: AppendAction = 'APPEND_IF_EXISTS_OR_ADD', keep_empty_value?: boolean): HeaderValueOption {
  return { header: { key, value }, append_action, keep_empty_value };
}

/** One header of each action, valued after the level that adds it. */
function levelAdds(level: string): HeaderValueOption[] {
  return [
    hvo('x-append', level),
    hvo('x-overwrite', level, 'OVERWRITE_IF_EXISTS_OR_ADD'),
    hvo('x-if-absent', level, 'ADD_IF_ABSENT'),
  ];
}

function layered(): RouteConfiguration {
  const route: Route = {
    name: 'r',
    match: { prefix: '/' },
    request_headers_to_add: levelAdds('route'),
    response_headers_to_add: levelAdds('route'),
    route: {
      weighted_clusters: {
        clusters: [
          { name: 'c', weight: 1, request_headers_to_add: levelAdds('weighted'), response_headers_to_add: levelAdds('weighted') },
        ],
      },
    },
  };
  return {
    request_headers_to_add: levelAdds('global'),
    response_headers_to_add: levelAdds('global'),
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        routes: [route],
        request_headers_to_add: levelAdds('vhost'),
        response_headers_to_add: levelAdds('vhost'),
      },
    ],
  };
}

function forwardRoute(rc: RouteConfiguration, opts?: RouteTableOptions): ForwardRoute {
  const r = table(rc, opts).match(req('h', '/'));
  assert.equal(r?.kind, 'route');
  return r as ForwardRoute;
}

/** Applies one route level's request mutations to `start` and returns the resulting headers. */
function applyRoute(adds: HeaderValueOption[], start: Array<[string, string]> = [], remove?: string[], opts?: RouteTableOptions): HeaderMap {
  const r = forwardRoute(oneHost([{ name: 'r', match: { prefix: '/' }, route: { cluster: 'c' }, request_headers_to_add: adds, request_headers_to_remove: remove }]), opts);
  const h = new HeaderMap(start.flat());
  r.applyRequestHeaders(h, info());
  return h;
}

describe('header mutation order across levels', () => {
  it('applies request mutations weighted entry → route → virtual host → route configuration', () => {
    const r = forwardRoute(layered());
    const h = new HeaderMap();
    r.applyRequestHeaders(h, info(), r.pickCluster(h)?.weighted);
    assert.deepEqual(h.getAll('x-append'), ['weighted', 'route', 'vhost', 'global'], 'every level appends, most specific first');
    assert.deepEqual(h.getAll('x-overwrite'), ['global'], 'the least specific overwrite is applied last and wins');
    assert.deepEqual(h.getAll('x-if-absent'), ['weighted'], 'the most specific add-if-absent wins');
  });

  it('skips the weighted level when no weighted entry is passed', () => {
    const r = forwardRoute(layered());
    const h = new HeaderMap();
    r.applyRequestHeaders(h, info());
    assert.deepEqual(h.getAll('x-append'), ['route', 'vhost', 'global']);
    assert.deepEqual(h.getAll('x-if-absent'), ['route']);
  });

  it('applies response mutations in the same order', () => {
    const r = forwardRoute(layered());
    const h = new HeaderMap([':status', '200']);
    r.applyResponseHeaders(h, info(), r.pickCluster(req('h', '/'))?.weighted);
    assert.deepEqual(h.getAll('x-append'), ['weighted', 'route', 'vhost', 'global']);
    assert.deepEqual(h.getAll('x-overwrite'), ['global']);
    assert.deepEqual(h.getAll('x-if-absent'), ['weighted']);
  });

  it('lets a less specific level remove what a more specific level added', () => {
    const rc = oneHost(
      [{ name: 'r', match: { prefix: '/' }, route: { cluster: 'c' }, request_headers_to_add: [hvo('x-a', 'route')] }],
      { request_headers_to_remove: ['x-a'] },
    );
    const h = new HeaderMap(['x-a', 'client']);
    forwardRoute(rc).applyRequestHeaders(h, info());
    assert.equal(h.has('x-a'), false);
  });

  it('removes response headers listed at any level', () => {
    const rc: RouteConfiguration = { ...oneHost([{ name: 'r', match: { prefix: '/' }, route: { cluster: 'c' }, response_headers_to_remove: ['x-r'] }]), response_headers_to_remove: ['X-G'] };
    const h = new HeaderMap(['x-r', '1', 'x-g', '2', 'x-keep', '3']);
    forwardRoute(rc).applyResponseHeaders(h, info());
    assert.deepEqual(h.entries(), [['x-keep', '3']]);
  });
});

describe('append actions within one level', () => {
  const cases: Array<[label: string, adds: HeaderValueOption[], start: Array<[string, string]>, expected: Array<[string, string]>]> = [
    ['APPEND_IF_EXISTS_OR_ADD adds when absent', [hvo('x', '1')], [], [['x', '1']]],
    ['APPEND_IF_EXISTS_OR_ADD appends when present', [hvo('x', '1')], [['x', '0']], [['x', '0'], ['x', '1']]],
    ['ADD_IF_ABSENT adds when absent', [hvo('x', '1', 'ADD_IF_ABSENT')], [], [['x', '1']]],
    ['ADD_IF_ABSENT leaves a present header', [hvo('x', '1', 'ADD_IF_ABSENT')], [['x', '0']], [['x', '0']]],
    ['OVERWRITE_IF_EXISTS_OR_ADD adds when absent', [hvo('x', '1', 'OVERWRITE_IF_EXISTS_OR_ADD')], [], [['x', '1']]],
    ['OVERWRITE_IF_EXISTS_OR_ADD replaces every value', [hvo('x', '1', 'OVERWRITE_IF_EXISTS_OR_ADD')], [['x', '0'], ['y', 'y'], ['x', '00']], [['x', '1'], ['y', 'y']]],
    ['OVERWRITE_IF_EXISTS does nothing when absent', [hvo('x', '1', 'OVERWRITE_IF_EXISTS')], [], []],
    ['OVERWRITE_IF_EXISTS replaces when present', [hvo('x', '1', 'OVERWRITE_IF_EXISTS')], [['x', '0']], [['x', '1']]],
    ['an empty value is dropped', [hvo('x', '')], [], []],
    ['an empty value is dropped for overwrite too', [hvo('x', '', 'OVERWRITE_IF_EXISTS_OR_ADD')], [['x', '0']], [['x', '0']]],
    ['keep_empty_value adds an empty value', [hvo('x', '', 'APPEND_IF_EXISTS_OR_ADD', true)], [], [['x', '']]],
    ['keep_empty_value overwrites with an empty value', [hvo('x', '', 'OVERWRITE_IF_EXISTS_OR_ADD', true)], [['x', '0']], [['x', '']]],
    // Conditions are decided against the headers before this level adds anything; sets go before adds.
    ['ADD_IF_ABSENT does not see a set from the same level', [hvo('x', '1', 'OVERWRITE_IF_EXISTS_OR_ADD'), hvo('x', '2', 'ADD_IF_ABSENT')], [], [['x', '1'], ['x', '2']]],
    ['OVERWRITE_IF_EXISTS does not see an add from the same level', [hvo('x', '1'), hvo('x', '2', 'OVERWRITE_IF_EXISTS')], [], [['x', '1']]],
    ['sets are applied before appends', [hvo('x', 'a'), hvo('x', 's', 'OVERWRITE_IF_EXISTS_OR_ADD')], [['x', '0']], [['x', 's'], ['x', 'a']]],
    ['two overwrites: the later one wins', [hvo('x', '1', 'OVERWRITE_IF_EXISTS_OR_ADD'), hvo('x', '2', 'OVERWRITE_IF_EXISTS_OR_ADD')], [], [['x', '2']]],
    ['keys are lower-cased', [hvo('X-Mixed', 'v')], [], [['x-mixed', 'v']]],
    ['%% is a literal %', [hvo('x', '100%% sure')], [], [['x', '100% sure']]],
    ['pseudo-headers and host are not modifiable', [hvo(':path', '/evil'), hvo('Host', 'evil'), hvo(':authority', 'evil', 'OVERWRITE_IF_EXISTS_OR_ADD')], [[':authority', 'a'], [':path', '/']], [[':authority', 'a'], [':path', '/']]],
  ];
  for (const [label, adds, start, expected] of cases) {
    it(label, () => {
      assert.deepEqual(applyRoute(adds, start).entries(), expected);
    });
  }

  it('removes before adding at the same level', () => {
    assert.deepEqual(applyRoute([hvo('x', 'new')], [['x', 'old']], ['x']).entries(), [['x', 'new']]);
  });

  it('does not remove pseudo-headers or host', () => {
    const start: Array<[string, string]> = [[':authority', 'a'], ['host', 'a'], ['x', '1']];
    assert.deepEqual(applyRoute([], start, [':authority', 'host', 'x']).entries(), [[':authority', 'a'], ['host', 'a']]);
  });
});

describe('header value formatting', () => {
  it('compiles each value once and evaluates it per stream', () => {
    const compiled: string[] = [];
    const opts: RouteTableOptions = {
      compileValue: (template) => {
        compiled.push(template);
        if (!template.includes('%DOWNSTREAM_REMOTE_ADDRESS%')) return undefined;
        return (i: StreamInfo) => template.replace('%DOWNSTREAM_REMOTE_ADDRESS%', i.downstreamRemoteAddress);
      },
    };
    const adds = [hvo('x-client', 'ip=%DOWNSTREAM_REMOTE_ADDRESS%'), hvo('x-lit', '50%%')];
    const r = forwardRoute(oneHost([{ name: 'r', match: { prefix: '/' }, route: { cluster: 'c' }, request_headers_to_add: adds }]), opts);
    assert.deepEqual(compiled, ['ip=%DOWNSTREAM_REMOTE_ADDRESS%', '50%%']);
    for (let i = 0; i < 2; i++) {
      const h = new HeaderMap();
      r.applyRequestHeaders(h, info());
      assert.deepEqual(h.entries(), [['x-client', 'ip=127.0.0.1:5000'], ['x-lit', '50%']]);
    }
    assert.equal(compiled.length, 2);
  });

  it('drops a formatted value that comes out empty unless keep_empty_value', () => {
    const opts: RouteTableOptions = { compileValue: () => () => '' };
    const adds = [hvo('x-drop', '%X%'), hvo('x-keep', '%X%', 'APPEND_IF_EXISTS_OR_ADD', true)];
    const r = forwardRoute(oneHost([{ name: 'r', match: { prefix: '/' }, route: { cluster: 'c' }, request_headers_to_add: adds }]), opts);
    const h = new HeaderMap();
    r.applyRequestHeaders(h, info());
    assert.deepEqual(h.entries(), [['x-keep', '']]);
  });
});
