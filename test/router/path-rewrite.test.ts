import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteAction, RouteMatch } from '../../runtime/config/types.ts';
import type { ForwardRoute } from '../../runtime/router/route-table.ts';
import { oneHost, req, table } from './fixtures.ts';

function rewrite(match: RouteMatch, action: Omit<RouteAction, 'cluster'>, path: string): string | undefined {
  const t = table(oneHost([{ name: 'r', match, route: { cluster: 'c', ...action } }]));
  const route = t.match(req('h', path)) as ForwardRoute | undefined;
  assert.ok(route, `route must match ${path}`);
  return route.rewritePath(path);
}

describe('prefix_rewrite', () => {
  const cases: Array<[match: RouteMatch, prefixRewrite: string, path: string, expected: string]> = [
    [{ prefix: '/api/' }, '/', '/api/users', '/users'],
    [{ prefix: '/api/' }, '/v2/', '/api/users?x=1', '/v2/users?x=1'],
    // Envoy's trailing-slash pitfall: the slash after the prefix is kept.
    [{ prefix: '/api' }, '/', '/api/users', '//users'],
    [{ prefix: '/api' }, '/', '/api', '/'],
    [{ prefix: '/api' }, '/x', '/apiary', '/xary'],
    // `path` routes replace the whole path, query kept.
    [{ path: '/old' }, '/new', '/old', '/new'],
    [{ path: '/old' }, '/new', '/old?a=b', '/new?a=b'],
    // path_separated_prefix replaces the configured prefix.
    [{ path_separated_prefix: '/api/dev' }, '/dev', '/api/dev/v1?q', '/dev/v1?q'],
    // case-insensitive match: the configured length of the request path is replaced.
    [{ prefix: '/API', case_sensitive: false }, '/v1', '/api/x', '/v1/x'],
    // safe_regex routes replace the whole path before the query.
    [{ safe_regex: { regex: '/v[0-9]+/.*' } }, '/latest', '/v2/users?x=1', '/latest?x=1'],
  ];
  for (const [match, prefixRewrite, path, expected] of cases) {
    it(`rewrites ${path} matched by ${JSON.stringify(match)} with prefix_rewrite ${prefixRewrite} to ${expected}`, () => {
      assert.equal(rewrite(match, { prefix_rewrite: prefixRewrite }, path), expected);
    });
  }

  it('returns undefined when the route has no rewrite', () => {
    assert.equal(rewrite({ prefix: '/' }, {}, '/x'), undefined);
    // An empty prefix_rewrite is proto3's "unset".
    assert.equal(rewrite({ prefix: '/' }, { prefix_rewrite: '' }, '/x'), undefined);
  });
});

describe('regex_rewrite', () => {
  const cases: Array<[pattern: string, substitution: string, path: string, expected: string]> = [
    ['^/service/([^/]+)(/.*)$', '\\2/instance/\\1', '/service/foo/v1/api', '/v1/api/instance/foo'],
    ['^/service/([^/]+)(/.*)$', '\\2/instance/\\1', '/service/foo/v1/api?x=/service/y/z', '/v1/api/instance/foo?x=/service/y/z'],
    ['one', 'two', '/xxx/one/yyy/one/zzz', '/xxx/two/yyy/two/zzz'],
    ['^/(.*)/$', '/\\1', '/a/b/?q=1', '/a/b?q=1'],
    ['nomatch', 'x', '/a?nomatch', '/a?nomatch'],
  ];
  for (const [pattern, substitution, path, expected] of cases) {
    it(`rewrites ${path} with ${pattern} → ${substitution} to ${expected}, keeping the query`, () => {
      assert.equal(rewrite({ prefix: '/' }, { regex_rewrite: { pattern: { regex: pattern }, substitution } }, path), expected);
    });
  }

  it('rejects a route with both prefix_rewrite and regex_rewrite', () => {
    assert.throws(
      () => rewrite({ prefix: '/' }, { prefix_rewrite: '/', regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } }, '/'),
      { code: 'SLUICE_ERR_CONFIG_INVALID' },
    );
  });

  it('rejects an invalid pattern or substitution, naming the field', () => {
    assert.throws(
      () => rewrite({ prefix: '/' }, { regex_rewrite: { pattern: { regex: '(' }, substitution: 'b' } }, '/'),
      (err: Error & { code?: string }) =>
        err.code === 'SLUICE_ERR_CONFIG_INVALID' && err.message.includes('virtual_hosts[0].routes[0].route.regex_rewrite'),
    );
    assert.throws(
      () => rewrite({ prefix: '/' }, { regex_rewrite: { pattern: { regex: '(a)' }, substitution: '\\3' } }, '/'),
      { code: 'SLUICE_ERR_CONFIG_INVALID' },
    );
  });
});
