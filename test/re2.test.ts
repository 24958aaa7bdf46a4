import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileRe2, Re2SyntaxError } from '../runtime/re2.ts';
import { RegexSubstitution } from '../runtime/router/regex-substitution.ts';

describe('RE2 translation', () => {
  const fullMatch: Array<[pattern: string, input: string, expected: boolean]> = [
    ['/api/v[0-9]+', '/api/v12', true],
    ['/api/v[0-9]+', '/api/v12/x', false], // full match, not search
    ['/api/v[0-9]+', 'x/api/v1', false],
    ['a|ab', 'ab', true], // alternation inside the anchors backtracks
    ['(?i)/API', '/api', true],
    ['(?i)/API', '/ApI', true],
    ['/x(?i)abc', '/xABC', true],
    ['/X(?i)abc', '/xabc', false], // the flag only covers what follows it
    ['a(?i)b|c', 'C', true], // RE2 keeps (?i) across the alternative
    ['a(?i)b|c', 'aB', true],
    ['a(?i)b|c', 'AB', false],
    ['(?i:A)b', 'ab', true],
    ['(?i:A)b', 'aB', false],
    ['(?P<ver>v\\d)/x', 'v1/x', true],
    ['\\A/x\\z', '/x', true],
    ['\\Qa.b*\\E', 'a.b*', true],
    ['\\Qa.b*\\E', 'aXbb', false],
    ['\\pL+', 'héllo', true],
    ['\\p{Greek}+', 'αβγ', true],
    ['\\p{Greek}+', 'abc', false],
    ['\\P{L}+', '123', true],
    ['[[:digit:]]+', '0123', true],
    ['[[:alpha:]_]+', 'ab_C', true],
    ['[]a]+', ']a]', true],
    ['\\x{41}\\x42', 'AB', true],
    ['\\101', 'A', true], // octal: RE2 reads \1 followed by octal digits as a character code
    ['a{2}', 'aa', true],
    ['a{,2}', 'a{,2}', true], // not a repetition in RE2: literal braces
    ['{x}', '{x}', true],
    ['\\-\\:\\@', '-:@', true],
    ['[\\-a]+', '-a-', true],
    ['/a/b', '/a/b', true],
    ['.', '\n', false],
    ['(?s).', '\n', true],
    ['', '', true],
  ];
  for (const [pattern, input, expected] of fullMatch) {
    it(`full-matches ${JSON.stringify(pattern)} against ${JSON.stringify(input)} as ${expected}`, () => {
      assert.equal(compileRe2(pattern).full.test(input), expected);
    });
  }

  const rejected: Array<[pattern: string, why: string]> = [
    ['(a)\\1', 'back-reference'],
    ['(?=a)', 'look-ahead'],
    ['(?<!a)b', 'look-behind'],
    ['(?U)a+', 'ungreedy flag'],
    ['a{1001}', 'repetition above 1000'],
    ['\\C', 'any byte'],
    ['\\Z', 'end of text before newline'],
    ['(a', 'missing )'],
    ['a)', 'unexpected )'],
    ['[a', 'missing ]'],
    ['a**', 'bad repetition'],
    ['\\e', 'unknown escape'],
    ['[[:foo:]]', 'unknown POSIX class'],
  ];
  for (const [pattern, why] of rejected) {
    it(`rejects ${JSON.stringify(pattern)} (${why})`, () => {
      assert.throws(() => compileRe2(pattern), Re2SyntaxError);
    });
  }

  it('counts capture groups, named ones included, but not non-capturing groups', () => {
    assert.equal(compileRe2('^/(a)(?:b)(?P<c>c)$').groupCount, 2);
    assert.equal(compileRe2('x').groupCount, 0);
  });
});

describe('RegexSubstitution', () => {
  const cases: Array<[pattern: string, substitution: string, input: string, expected: string]> = [
    ['^/service/([^/]+)(/.*)$', '\\2/instance/\\1', '/service/foo/v1/api', '/v1/api/instance/foo'],
    ['one', 'two', '/xxx/one/yyy/one/zzz', '/xxx/two/yyy/two/zzz'], // every match
    ['^(.*?)one(.*)$', '\\1two\\2', '/xxx/one/yyy/one/zzz', '/xxx/two/yyy/one/zzz'],
    ['(a)', '\\1\\1', 'a', 'aa'],
    ['(a)', '\\10', 'a', 'a0'], // \1 then a literal 0
    ['x', '\\0\\0', 'x', 'xx'], // \0 is the whole match
    ['x', '\\\\', 'x', '\\'],
    ['x', '$1$&', 'x', '$1$&'], // `$` is literal in RE2 rewrites
    ['/+', '/', '//a///b', '/a/b'],
  ];
  for (const [pattern, sub, input, expected] of cases) {
    it(`rewrites ${JSON.stringify(input)} with ${JSON.stringify(pattern)} → ${JSON.stringify(sub)} to ${JSON.stringify(expected)}`, () => {
      const rs = RegexSubstitution.compile({ pattern: { regex: pattern }, substitution: sub });
      assert.equal(rs.replaceAll(input), expected);
    });
  }

  it('rejects a substitution that names a group the pattern does not have', () => {
    assert.throws(() => RegexSubstitution.compile({ pattern: { regex: '(a)' }, substitution: '\\2' }), Re2SyntaxError);
  });

  it('rejects a backslash followed by anything but a digit or a backslash', () => {
    assert.throws(() => RegexSubstitution.compile({ pattern: { regex: 'a' }, substitution: '\\n' }), Re2SyntaxError);
  });

  it('keeps working when the shared global regexp is reused across calls', () => {
    const rs = RegexSubstitution.compile({ pattern: { regex: 'o' }, substitution: '0' });
    assert.equal(rs.replaceAll('foo'), 'f00');
    assert.equal(rs.replaceAll('boo'), 'b00');
  });
});
