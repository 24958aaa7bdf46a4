import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lineOf, parseYaml } from '../../runtime/config/yaml-source.ts';

describe('parseYaml', () => {
  test('remembers the line of every map key and list item', () => {
    const { value } = parseYaml('a:\n  b: 1\n  c:\n  - x\n  - y\n');
    const a = (value as { a: { c: unknown[] } }).a;
    assert.equal(lineOf(value, 'a'), 1);
    assert.equal(lineOf(a, 'b'), 2);
    assert.equal(lineOf(a, 'c'), 3);
    assert.equal(lineOf(a.c, 1), 5);
  });

  test('reports a syntax error with its line', () => {
    const { problems } = parseYaml('a: 1\nb: [1, 2\nc: 3\n');
    assert.equal(problems.length > 0, true);
    assert.equal(problems[0].path, '(yaml)');
    assert.equal(typeof problems[0].line, 'number');
  });

  test('reports a duplicate key at the duplicate', () => {
    const { problems } = parseYaml('a: 1\nb: 2\na: 3\n');
    assert.equal(problems[0].line, 3);
  });

  test('resolves aliases and << merge keys, explicit keys winning', () => {
    const { value } = parseYaml('base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n');
    assert.deepEqual((value as Record<string, unknown>).derived, { y: 3, x: 1 });
  });

  test('drops keys tagged !ignore, as Envoy does', () => {
    const { value, problems } = parseYaml('!ignore anchors: &a 1\nkept: *a\n');
    assert.deepEqual(problems, []);
    assert.deepEqual(value, { kept: 1 });
  });
});
