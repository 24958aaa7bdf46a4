import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectTargets, TARGETS, WASM_BUDGETS } from '../../bench/targets/registry.ts';

test('the A/A control row runs only when --only names it, and its budget has no targets', () => {
  const names = (only?: string[]): string[] => selectTargets(only).map((t) => t.name);
  assert.ok(TARGETS.some((t) => t.name === 'sluice1-control'));
  assert.ok(!names().includes('sluice1-control'));
  assert.ok(names().includes('sluice1') && names().includes('sluice1-wasm-header'));
  assert.deepEqual(names(['sluice1-control', 'sluice1']), ['sluice1', 'sluice1-control']);
  const control = WASM_BUDGETS.find((b) => b.target === 'sluice1-control');
  assert.deepEqual(control, { target: 'sluice1-control', base: 'sluice1' });
  // Every wasm budget keeps both of its targets.
  for (const b of WASM_BUDGETS.filter((x) => x.target.includes('wasm'))) {
    assert.equal(typeof b.minRatio, 'number');
    assert.equal(typeof b.maxAddedP99Us, 'number');
  }
});
