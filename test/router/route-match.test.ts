import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeaderMatcher, QueryParameterMatcher, RouteMatch } from '../../runtime/config/types.ts';
import { fwd, oneHost, req, routeName, seq, table } from './fixtures.ts';

/** True when a table with the single route `match` matches `path` (+ extra headers). */
function matches(match: RouteMatch, path: string, extra: Array<[string, string]> = []): boolean {
  return routeName(table(oneHost([fwd('r', match)])), path, extra) === 'r';
}

describe('path specifiers', () => {
  const cases: Array<[label: string, match: RouteMatch, path: string, expected: boolean]> = [
    ['prefix', { prefix: '/' }, '/anything', true],
    ['prefix', { prefix: '' }, '/anything', true],
    ['prefix', { prefix: '/api' }, '/api', true],
    ['prefix', { prefix: '/api' }, '/apiary', true],
    ['prefix', { prefix: '/api' }, '/ap', false],
    ['prefix', { prefix: '/api' }, '/API', false],
    ['prefix ignores the query', { prefix: '/a?b' }, '/a?b=1', false],
    ['prefix', { prefix: '/api' }, '/x?/api', false],
    ['path', { path: '/exact' }, '/exact', true],
    ['path strips the query', { path: '/exact' }, '/exact?x=1', true],
    ['path strips a fragment', { path: '/exact' }, '/exact#top', true],
    ['path', { path: '/exact' }, '/exact/', false],
    ['path', { path: '/exact' }, '/exac', false],
    ['path_separated_prefix', { path_separated_prefix: '/api/dev' }, '/api/dev', true],
    ['path_separated_prefix', { path_separated_prefix: '/api/dev' }, '/api/dev/', true],
    ['path_separated_prefix', { path_separated_prefix: '/api/dev' }, '/api/dev/v1', true],
    ['path_separated_prefix', { path_separated_prefix: '/api/dev' }, '/api/dev?x=1', true],
    ['path_separated_prefix', { path_separated_prefix: '/api/dev' }, '/api/dev#f', true],
    ['path_separated_prefix', { path_separated_prefix: '/api/dev' }, '/api/developer', false],
    ['path_separated_prefix', { path_separated_prefix: '/api/dev' }, '/api/de', false],
    ['path_separated_prefix', { path_separated_prefix: '/api/dev' }, '/API/DEV', false],
    ['safe_regex', { safe_regex: { regex: '/v[0-9]+/.*' } }, '/v2/users', true],
    ['safe_regex is a full match', { safe_regex: { regex: '/v[0-9]+' } }, '/v2/users', false],
    ['safe_regex strips the query', { safe_regex: { regex: '/v[0-9]+' } }, '/v2?x=1', true],
    ['safe_regex', { safe_regex: { regex: '/v[0-9]+' } }, '/V2', false],
  ];
  for (const [label, match, path, expected] of cases) {
    it(`${label} ${JSON.stringify(match)} ${expected ? 'matches' : 'does not match'} ${path}`, () => {
      assert.equal(matches(match, path), expected);
    });
  }
});

describe('case_sensitive: false', () => {
  const cases: Array<[match: RouteMatch, path: string, expected: boolean]> = [
    [{ prefix: '/Api', case_sensitive: false }, '/aPI/x', true],
    [{ path: '/Exact', case_sensitive: false }, '/EXACT?Q=1', true],
    [{ path_separated_prefix: '/Api/Dev', case_sensitive: false }, '/api/DEV/v1', true],
    [{ path_separated_prefix: '/Api/Dev', case_sensitive: false }, '/api/DEVELOPER', false],
    [{ prefix: '/123', case_sensitive: false }, '/123X', true],
    // Regex matching ignores case_sensitive (Envoy); use (?i) instead.
    [{ safe_regex: { regex: '/abc' }, case_sensitive: false }, '/ABC', false],
    [{ safe_regex: { regex: '(?i)/abc' } }, '/ABC', true],
    // ASCII-only folding, as Envoy's absl helpers.
    [{ prefix: '/é', case_sensitive: false }, '/É', false],
  ];
  for (const [match, path, expected] of cases) {
    it(`${JSON.stringify(match)} ${expected ? 'matches' : 'does not match'} ${path}`, () => {
      assert.equal(matches(match, path), expected);
    });
  }
});

describe('routes are tried in order', () => {
  it('returns the first matching route, not the most specific one', () => {
    const t = table(oneHost([fwd('all', { prefix: '/' }), fwd('api', { prefix: '/api' })]));
    assert.equal(routeName(t, '/api/x'), 'all');
  });

  it('returns undefined when no route matches or the request has no :path', () => {
    const t = table(oneHost([fwd('api', { prefix: '/api' })]));
    assert.equal(routeName(t, '/other'), undefined);
    assert.equal(t.match(req('h', undefined)), undefined);
  });
});

describe('header matchers', () => {
  const h = (m: Omit<HeaderMatcher, 'name'> & { name?: string }): RouteMatch => ({
    prefix: '/',
    headers: [{ name: 'x-h', ...m }],
  });
  const cases: Array<[label: string, match: RouteMatch, headers: Array<[string, string]>, expected: boolean]> = [
    ['exact', h({ string_match: { exact: 'a' } }), [['x-h', 'a']], true],
    ['exact', h({ string_match: { exact: 'a' } }), [['x-h', 'A']], false],
    ['exact ignore_case', h({ string_match: { exact: 'a', ignore_case: true } }), [['x-h', 'A']], true],
    ['exact empty', h({ string_match: { exact: '' } }), [['x-h', '']], true],
    ['exact empty', h({ string_match: { exact: '' } }), [['x-h', 'a']], false],
    ['prefix', h({ string_match: { prefix: 'ab' } }), [['x-h', 'abc']], true],
    ['prefix', h({ string_match: { prefix: 'ab' } }), [['x-h', 'cab']], false],
    ['prefix ignore_case', h({ string_match: { prefix: 'AB', ignore_case: true } }), [['x-h', 'abc']], true],
    ['suffix', h({ string_match: { suffix: 'bc' } }), [['x-h', 'abc']], true],
    ['suffix ignore_case', h({ string_match: { suffix: 'BC', ignore_case: true } }), [['x-h', 'abc']], true],
    ['contains', h({ string_match: { contains: 'b' } }), [['x-h', 'abc']], true],
    ['contains', h({ string_match: { contains: 'B' } }), [['x-h', 'abc']], false],
    ['contains ignore_case', h({ string_match: { contains: 'B', ignore_case: true } }), [['x-h', 'aBc']], true],
    ['safe_regex', h({ string_match: { safe_regex: { regex: '\\d{3}' } } }), [['x-h', '123']], true],
    ['safe_regex is a full match', h({ string_match: { safe_regex: { regex: '\\d{3}' } } }), [['x-h', '1234']], false],
    ['safe_regex ignores ignore_case', h({ string_match: { safe_regex: { regex: 'a' }, ignore_case: true } }), [['x-h', 'A']], false],
    ['present_match true', h({ present_match: true }), [['x-h', '']], true],
    ['present_match true', h({ present_match: true }), [], false],
    ['present_match false', h({ present_match: false }), [], true],
    ['present_match false', h({ present_match: false }), [['x-h', 'a']], false],
    ['no specifier is presence', h({}), [['x-h', 'anything']], true],
    ['no specifier is presence', h({}), [], false],
    ['range', h({ range_match: { start: -10, end: 0 } }), [['x-h', '-1']], true],
    ['range is half-open', h({ range_match: { start: -10, end: 0 } }), [['x-h', '0']], false],
    ['range includes start', h({ range_match: { start: -10, end: 0 } }), [['x-h', '-10']], true],
    ['range needs an integer', h({ range_match: { start: 0, end: 100 } }), [['x-h', '5.5']], false],
    ['range needs the whole value', h({ range_match: { start: 0, end: 100 } }), [['x-h', '5a']], false],
    ['range accepts a sign and surrounding spaces', h({ range_match: { start: 0, end: 100 } }), [['x-h', ' +42 ']], true],
    ['range rejects hex', h({ range_match: { start: 0, end: 100 } }), [['x-h', '0x10']], false],
    ['range beyond int64 fails to parse', h({ range_match: { start: 0, end: 100 } }), [['x-h', '99999999999999999999']], false],
    ['range with a large value', h({ range_match: { start: 0, end: 2 ** 62 } }), [['x-h', '1152921504606846976']], true],
    // invert_match
    ['inverted exact', h({ string_match: { exact: 'a' }, invert_match: true }), [['x-h', 'b']], true],
    ['inverted exact', h({ string_match: { exact: 'a' }, invert_match: true }), [['x-h', 'a']], false],
    ['inverted regex', h({ string_match: { safe_regex: { regex: '\\d{3}' } }, invert_match: true }), [['x-h', '1234']], true],
    ['inverted range', h({ range_match: { start: -10, end: 0 }, invert_match: true }), [['x-h', '-1']], false],
    ['inverted value matcher on a missing header', h({ string_match: { exact: 'a' }, invert_match: true }), [], false],
    ['inverted present_match true on a missing header', h({ present_match: true, invert_match: true }), [], true],
    ['inverted present_match true on a present header', h({ present_match: true, invert_match: true }), [['x-h', 'a']], false],
    ['inverted present_match false on a missing header', h({ present_match: false, invert_match: true }), [], false],
    // treat_missing_header_as_empty
    ['missing as empty: exact ""', h({ string_match: { exact: '' }, treat_missing_header_as_empty: true }), [], true],
    ['missing as empty: prefix', h({ string_match: { prefix: 'a' }, treat_missing_header_as_empty: true }), [], false],
    ['missing as empty: inverted range', h({ range_match: { start: 0, end: 10 }, invert_match: true, treat_missing_header_as_empty: true }), [], true],
    ['missing as empty: regex .*', h({ string_match: { safe_regex: { regex: '.*' } }, treat_missing_header_as_empty: true }), [], true],
    ['missing as empty: present_match false', h({ present_match: false, treat_missing_header_as_empty: true }), [], false],
    // repeated headers are joined with ','
    ['repeated header joined', h({ string_match: { exact: 'a,b' } }), [['x-h', 'a'], ['x-h', 'b']], true],
    ['repeated header joined', h({ string_match: { exact: 'a' } }), [['x-h', 'a'], ['x-h', 'b']], false],
    ['repeated header joined, suffix', h({ string_match: { suffix: ',b' } }), [['x-h', 'a'], ['x-h', 'b']], true],
    // header names are case-insensitive in config
    ['config name lower-cased', h({ name: 'X-H', string_match: { exact: 'a' } }), [['x-h', 'a']], true],
  ];
  for (const [label, match, headers, expected] of cases) {
    it(`${label} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(headers)}`, () => {
      assert.equal(matches(match, '/', headers), expected);
    });
  }

  it('matches pseudo-headers such as :method and :authority', () => {
    const m: RouteMatch = {
      prefix: '/',
      headers: [
        { name: ':method', string_match: { exact: 'GET' } },
        { name: ':authority', string_match: { suffix: '.example.com' } },
      ],
    };
    const t = table(oneHost([fwd('r', m)]));
    assert.equal(routeName(t, '/', [], 'a.example.com'), 'r');
    assert.equal(routeName(t, '/', [], 'a.example.org'), undefined);
  });

  it('requires every header matcher to match', () => {
    const m: RouteMatch = { prefix: '/', headers: [{ name: 'a', present_match: true }, { name: 'b', present_match: true }] };
    assert.equal(matches(m, '/', [['a', '1']]), false);
    assert.equal(matches(m, '/', [['a', '1'], ['b', '2']]), true);
  });
});

describe('query parameter matchers', () => {
  const q = (m: Omit<QueryParameterMatcher, 'name'>): RouteMatch => ({ prefix: '/', query_parameters: [{ name: 'debug', ...m }] });
  const cases: Array<[match: RouteMatch, path: string, expected: boolean]> = [
    [q({ string_match: { exact: '1' } }), '/?debug=1', true],
    [q({ string_match: { exact: '1' } }), '/?a=2&debug=1&b=3', true],
    [q({ string_match: { exact: '1' } }), '/?debug=2', false],
    [q({ string_match: { exact: '1' } }), '/', false],
    [q({ string_match: { exact: '1' } }), '/?debugx=1', false],
    [q({ string_match: { exact: '1' } }), '/?xdebug=1', false],
    // first value of a repeated key
    [q({ string_match: { exact: '1' } }), '/?debug=1&debug=2', true],
    [q({ string_match: { exact: '2' } }), '/?debug=1&debug=2', false],
    // a key without '=' has the value ""
    [q({ string_match: { exact: '' } }), '/?debug', true],
    [q({ string_match: { exact: '' } }), '/?debug=', true],
    // values are matched raw: no percent-decoding, '+' stays '+'
    [q({ string_match: { exact: 'a b' } }), '/?debug=a%20b', false],
    [q({ string_match: { exact: 'a%20b' } }), '/?debug=a%20b', true],
    [q({ string_match: { exact: 'a+b' } }), '/?debug=a+b', true],
    [q({ string_match: { exact: 'on', ignore_case: true } }), '/?debug=ON', true],
    [q({ string_match: { safe_regex: { regex: '[0-9]+' } } }), '/?debug=42', true],
    [q({ present_match: true }), '/?debug', true],
    [q({ present_match: true }), '/?other=1', false],
    [q({ present_match: false }), '/?other=1', true],
    [q({ present_match: false }), '/', true],
    [q({ present_match: false }), '/?debug=1', false],
    [q({}), '/?debug=1', true],
    [q({}), '/', false],
  ];
  for (const [match, path, expected] of cases) {
    it(`${JSON.stringify(match.query_parameters)} ${expected ? 'matches' : 'does not match'} ${path}`, () => {
      assert.equal(matches(match, path), expected);
    });
  }
});

describe('runtime_fraction', () => {
  const routes = [
    fwd('ten', { prefix: '/', runtime_fraction: { default_value: { numerator: 10, denominator: 'HUNDRED' } } }),
    fwd('twenty', { prefix: '/', runtime_fraction: { default_value: { numerator: 2000, denominator: 'TEN_THOUSAND' } } }),
    fwd('rest', { prefix: '/' }),
  ];

  const cases: Array<[random: number, expected: string]> = [
    [0, 'ten'],
    [0.0999, 'ten'],
    [0.1, 'twenty'], // 0.1 * 100 = 10, not < 10
    [0.1999, 'twenty'],
    [0.2, 'rest'],
    [0.999, 'rest'],
  ];
  for (const [random, expected] of cases) {
    it(`routes to ${expected} when random() returns ${random}, using one draw for all routes`, () => {
      let calls = 0;
      const t = table(oneHost(routes), {
        random: () => {
          calls++;
          return random;
        },
      });
      assert.equal(routeName(t, '/'), expected);
      assert.equal(calls, 1);
    });
  }

  it('scales MILLION denominators', () => {
    const t = table(
      oneHost([fwd('one', { prefix: '/', runtime_fraction: { default_value: { numerator: 1, denominator: 'MILLION' } } })]),
      { random: seq(0.0000009, 0.000001) },
    );
    assert.equal(routeName(t, '/'), 'one');
    assert.equal(routeName(t, '/'), undefined);
  });

  it('never matches with numerator 0 and always with numerator ≥ denominator', () => {
    const zero = table(oneHost([fwd('z', { prefix: '/', runtime_fraction: { default_value: { numerator: 0, denominator: 'HUNDRED' } } })]), { random: () => 0 });
    assert.equal(routeName(zero, '/'), undefined);
    const all = table(oneHost([fwd('a', { prefix: '/', runtime_fraction: { default_value: { numerator: 100, denominator: 'HUNDRED' } } })]), { random: () => 0.99999 });
    assert.equal(routeName(all, '/'), 'a');
  });

  it('draws no random value when no route has a runtime_fraction', () => {
    const t = table(oneHost([fwd('r', { prefix: '/' })]), {
      random: () => {
        throw new Error('random() must not be called');
      },
    });
    assert.equal(routeName(t, '/'), 'r');
  });
});
