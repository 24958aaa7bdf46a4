import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteConfiguration } from '../../runtime/config/types.ts';
import { SluiceError } from '../../runtime/errors.ts';
import { DomainIndex } from '../../runtime/router/domain-index.ts';
import { RouteTable } from '../../runtime/router/route-table.ts';
import { req } from './fixtures.ts';

function hosts(spec: Record<string, string[]>): RouteConfiguration {
  return {
    virtual_hosts: Object.entries(spec).map(([name, domains]) => ({
      name,
      domains,
      routes: [{ name: `${name}-route`, match: { prefix: '/' }, direct_response: { status: 200 } }],
    })),
  };
}

describe('virtual host selection', () => {
  const t = RouteTable.compile(
    hosts({
      exact: ['www.foo.com', 'api.foo.com:8080'],
      suffixShort: ['*.foo.com'],
      suffixLong: ['*-bar.foo.com'],
      prefixShort: ['foo.*'],
      prefixLong: ['foo.bar.*'],
      catchAll: ['*'],
    }),
  );

  const cases: Array<[authority: string | undefined, vhost: string]> = [
    ['www.foo.com', 'exact'], // exact beats every wildcard
    ['WWW.Foo.COM', 'exact'], // host comparison is case-insensitive
    ['api.foo.com:8080', 'exact'], // a domain with a port matches that port
    ['api.foo.com', 'suffixShort'], // ... and only that port
    ['www.foo.com:80', 'catchAll'], // the port is part of the host: neither www.foo.com nor *.foo.com
    ['x.foo.com', 'suffixShort'],
    ['baz-bar.foo.com', 'suffixLong'], // the longest suffix wildcard wins
    ['-bar.foo.com', 'suffixShort'], // a wildcard never matches an empty string
    ['.foo.com', 'catchAll'], // `*.foo.com` needs at least one character before `.foo.com`
    ['foo.example', 'prefixShort'], // suffix wildcards come before prefix wildcards
    ['foo.bar.example', 'prefixLong'], // the longest prefix wildcard wins
    ['foo.', 'catchAll'], // empty wildcard part
    ['foo.foo.com', 'suffixShort'], // both kinds match: the suffix wildcard wins
    ['other.example', 'catchAll'],
    ['', 'catchAll'],
  ];
  for (const [authority, vhost] of cases) {
    it(`selects ${vhost} for :authority ${JSON.stringify(authority)}`, () => {
      assert.equal(t.virtualHostFor(authority), vhost);
      assert.equal(t.match(req(authority, '/'))?.virtualHostName, vhost);
    });
  }

  it('selects nothing for a missing :authority when other domains exist', () => {
    assert.equal(t.virtualHostFor(undefined), undefined);
    assert.equal(t.match(req(undefined, '/')), undefined);
  });

  it('selects a lone catch-all virtual host even without :authority (Envoy fast path)', () => {
    const only = RouteTable.compile(hosts({ all: ['*'] }));
    assert.equal(only.match(req(undefined, '/'))?.virtualHostName, 'all');
  });

  it('falls back to the host header when :authority is absent', () => {
    const headers = req(undefined, '/', [['host', 'www.foo.com']]);
    assert.equal(t.match(headers)?.virtualHostName, 'exact');
  });

  it('returns undefined when no domain matches and there is no catch-all', () => {
    const noDefault = RouteTable.compile(hosts({ a: ['a.com'] }));
    assert.equal(noDefault.match(req('b.com', '/')), undefined);
  });

  it('matches a wildcard with a port only when the port is part of the pattern', () => {
    const p = RouteTable.compile(hosts({ withPort: ['*.foo.com:8443'], noPort: ['*.foo.com'] }));
    assert.equal(p.virtualHostFor('a.foo.com:8443'), 'withPort');
    assert.equal(p.virtualHostFor('a.foo.com'), 'noPort');
    assert.equal(p.virtualHostFor('a.foo.com:9000'), undefined);
  });

  it('rejects a domain listed twice, also across virtual hosts and in different case', () => {
    assert.throws(
      () => RouteTable.compile(hosts({ a: ['x.com'], b: ['X.com'] })),
      (err: unknown) => err instanceof SluiceError && err.code === 'SLUICE_ERR_CONFIG_INVALID' && err.message.includes('virtual_hosts[1].domains[0]'),
    );
    assert.throws(() => RouteTable.compile(hosts({ a: ['*.x.com', '*.x.com'] })), { code: 'SLUICE_ERR_CONFIG_INVALID' });
  });

  it('rejects a second catch-all "*"', () => {
    assert.throws(() => RouteTable.compile(hosts({ a: ['*'], b: ['*'] })), { code: 'SLUICE_ERR_CONFIG_INVALID' });
  });

  it('finds one of many suffix wildcards of the same length', () => {
    const idx = new DomainIndex<string>();
    for (let i = 0; i < 50; i++) idx.add(`*.svc${i}.example.com`, `svc${i}`);
    idx.freeze();
    assert.equal(idx.find('a.svc42.example.com'), 'svc42');
    assert.equal(idx.find('a.svc42.example.org'), undefined);
  });
});
