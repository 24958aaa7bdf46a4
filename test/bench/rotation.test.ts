import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roundOrder } from '../../bench/lib/rotation.ts';

const t = (name: string, group?: string): { name: string; group?: string } => (group === undefined ? { name } : { name, group });
const names = (xs: readonly { name: string }[]): string => xs.map((x) => x.name).join(' ');

test('without groups, each round starts one target later', () => {
  const targets = [t('a'), t('b'), t('c')];
  assert.equal(names(roundOrder(targets, 0)), 'a b c');
  assert.equal(names(roundOrder(targets, 1)), 'b c a');
  assert.equal(names(roundOrder(targets, 2)), 'c a b');
  assert.equal(names(roundOrder(targets, 3)), 'a b c');
});

test('a group runs back to back in every round, and which member leads shifts too', () => {
  const targets = [t('direct'), t('s1', 'g'), t('noop', 'g'), t('header', 'g'), t('s2'), t('nginx')];
  const seen = new Set<string>();
  for (let round = 0; round < 8; round++) {
    const order = names(roundOrder(targets, round));
    const group = order.split(' ').filter((n) => ['s1', 'noop', 'header'].includes(n));
    assert.ok(order.includes(group.join(' ')), `round ${round}: ${order}`);
    assert.equal(order.split(' ').length, targets.length);
    seen.add(group[0]!);
  }
  assert.deepEqual([...seen].sort(), ['header', 'noop', 's1']);
  assert.equal(names(roundOrder(targets, 0)), 'direct s1 noop header s2 nginx');
  assert.equal(names(roundOrder(targets, 1)), 'noop header s1 s2 nginx direct');
});
