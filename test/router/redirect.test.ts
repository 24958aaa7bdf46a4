import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RedirectAction, RedirectResponseCode, RouteMatch } from '../../runtime/config/types.ts';
import { HeaderMap } from '../../runtime/http/header-map.ts';
import type { RedirectRoute } from '../../runtime/router/route-table.ts';
import { oneHost, table } from './fixtures.ts';

interface Req {
  scheme?: string;
  authority: string;
  path: string;
  xfp?: string;
}

/** Compiles one redirect route and matches it with the request headers. */
function redirectFor(redirect: RedirectAction, headers: HeaderMap, match: RouteMatch = { prefix: '/' }): RedirectRoute {
  const r = table(oneHost([{ name: 'r', match, redirect }])).match(headers);
  assert.equal(r?.kind, 'redirect');
  return r as RedirectRoute;
}

function location(redirect: RedirectAction, r: Req, match?: RouteMatch): string {
  const kv = [':method', 'GET', ':scheme', r.scheme ?? 'http', ':authority', r.authority, ':path', r.path];
  if (r.xfp !== undefined) kv.push('x-forwarded-proto', r.xfp);
  const headers = new HeaderMap(kv);
  return redirectFor(redirect, headers, match).redirectLocation(headers);
}

describe('redirect Location', () => {
  const cases: Array<[label: string, redirect: RedirectAction, r: Req, expected: string, match?: RouteMatch]> = [
    ['https_redirect keeps host, path and query', { https_redirect: true }, { authority: 'a.com', path: '/x?y=1', xfp: 'http' }, 'https://a.com/x?y=1'],
    ['https_redirect drops the old default port', { https_redirect: true }, { authority: 'a.com:80', path: '/x', xfp: 'http' }, 'https://a.com/x'],
    ['https_redirect keeps a non-default port', { https_redirect: true }, { authority: 'a.com:8080', path: '/x', xfp: 'http' }, 'https://a.com:8080/x'],
    ['default-port rule falls back to :scheme without x-forwarded-proto', { https_redirect: true }, { authority: 'a.com:80', path: '/x' }, 'https://a.com/x'],
    ['port is judged by x-forwarded-proto, not :scheme', { https_redirect: true }, { scheme: 'https', authority: 'a.com:80', path: '/x', xfp: 'https' }, 'https://a.com:80/x'],
    ['scheme_redirect to http drops :443', { scheme_redirect: 'http' }, { scheme: 'https', authority: 'a.com:443', path: '/x', xfp: 'https' }, 'http://a.com/x'],
    ['same scheme keeps even a default port', { path_redirect: '/new' }, { authority: 'a.com:80', path: '/old', xfp: 'http' }, 'http://a.com:80/new'],
    ['scheme follows :scheme when not redirected', { path_redirect: '/new' }, { scheme: 'https', authority: 'a.com', path: '/old', xfp: 'https' }, 'https://a.com/new'],
    ['host_redirect replaces the whole authority', { host_redirect: 'b.com' }, { authority: 'a.com:8080', path: '/x?q', xfp: 'http' }, 'http://b.com/x?q'],
    ['port_redirect replaces the port', { port_redirect: 9000 }, { authority: 'a.com:8080', path: '/x', xfp: 'http' }, 'http://a.com:9000/x'],
    ['port_redirect adds a port', { port_redirect: 9000 }, { authority: 'a.com', path: '/x', xfp: 'http' }, 'http://a.com:9000/x'],
    ['https_redirect with port_redirect', { https_redirect: true, port_redirect: 8443 }, { authority: 'a.com:80', path: '/x', xfp: 'http' }, 'https://a.com:8443/x'],
    ['a configured default port is still written', { https_redirect: true, port_redirect: 443 }, { authority: 'a.com', path: '/x', xfp: 'http' }, 'https://a.com:443/x'],
    ['host_redirect with port_redirect', { host_redirect: 'b.com', port_redirect: 9000 }, { authority: 'a.com:8080', path: '/x', xfp: 'http' }, 'http://b.com:9000/x'],
    ['IPv6 host loses its default port', { https_redirect: true }, { authority: '[::1]:80', path: '/x', xfp: 'http' }, 'https://[::1]/x'],
    ['IPv6 host without a port is kept whole', { https_redirect: true }, { authority: '[::1]', path: '/x', xfp: 'http' }, 'https://[::1]/x'],
    ['path_redirect keeps the request query', { path_redirect: '/new' }, { authority: 'a.com', path: '/old?x=1', xfp: 'http' }, 'http://a.com/new?x=1'],
    ['path_redirect with its own query replaces the request query', { path_redirect: '/new?y=2' }, { authority: 'a.com', path: '/old?x=1', xfp: 'http' }, 'http://a.com/new?y=2'],
    ['strip_query never strips a path_redirect query', { path_redirect: '/new?y=2', strip_query: true }, { authority: 'a.com', path: '/old?x=1', xfp: 'http' }, 'http://a.com/new?y=2'],
    ['strip_query with path_redirect', { path_redirect: '/new', strip_query: true }, { authority: 'a.com', path: '/old?x=1', xfp: 'http' }, 'http://a.com/new'],
    ['strip_query alone', { strip_query: true }, { authority: 'a.com', path: '/x?y=1', xfp: 'http' }, 'http://a.com/x'],
    ['https_redirect with strip_query', { https_redirect: true, strip_query: true }, { authority: 'a.com', path: '/x?y=1', xfp: 'http' }, 'https://a.com/x'],
    ['path_redirect gains a leading slash', { path_redirect: 'new' }, { authority: 'a.com', path: '/old', xfp: 'http' }, 'http://a.com/new'],
    ['prefix_rewrite replaces the matched prefix', { prefix_rewrite: '/new/' }, { authority: 'a.com', path: '/old/a?q=1', xfp: 'http' }, 'http://a.com/new/a?q=1', { prefix: '/old/' }],
    ['prefix_rewrite with strip_query', { prefix_rewrite: '/new/', strip_query: true }, { authority: 'a.com', path: '/old/a?q=1', xfp: 'http' }, 'http://a.com/new/a', { prefix: '/old/' }],
    ['prefix_rewrite on a path match', { prefix_rewrite: '/new' }, { authority: 'a.com', path: '/old?q=1', xfp: 'http' }, 'http://a.com/new?q=1', { path: '/old' }],
    ['regex_rewrite rewrites the path and keeps the query', { regex_rewrite: { pattern: { regex: '^/(\\w+)/(\\w+)$' }, substitution: '/\\2/\\1' } }, { authority: 'a.com', path: '/a/b?q', xfp: 'http' }, 'http://a.com/b/a?q'],
    ['everything at once', { https_redirect: true, host_redirect: 'b.com', port_redirect: 8443, path_redirect: '/p', strip_query: true }, { authority: 'a.com:80', path: '/x?y', xfp: 'http' }, 'https://b.com:8443/p'],
  ];
  for (const [label, redirect, r, expected, match] of cases) {
    it(`${label}: ${r.scheme ?? 'http'}://${r.authority}${r.path} → ${expected}`, () => {
      assert.equal(location(redirect, r, match), expected);
    });
  }
});

describe('redirect status', () => {
  const codes: Array<[RedirectResponseCode | undefined, number]> = [
    [undefined, 301],
    ['MOVED_PERMANENTLY', 301],
    ['FOUND', 302],
    ['SEE_OTHER', 303],
    ['TEMPORARY_REDIRECT', 307],
    ['PERMANENT_REDIRECT', 308],
  ];
  for (const [code, status] of codes) {
    it(`answers ${status} for response_code ${code ?? '(unset)'}`, () => {
      const headers = new HeaderMap([':authority', 'h', ':path', '/']);
      assert.equal(redirectFor({ https_redirect: true, response_code: code }, headers).redirectStatus, status);
    });
  }
});
