import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isolateTarget, roundOrder } from '../../bench/lib/rotation.ts';

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

test('isolating a target stops every other target once and continues the measured one', () => {
  const a = { processGroup: 10 };
  const b = { processGroup: 20 };
  const direct = {}; // no process of its own
  const c = { processGroup: 30 };
  const targets = [direct, a, b, c];
  const frozen = new Set<number>();
  const sent: string[] = [];
  const signal = (g: number, s: string): void => void sent.push(`${s} ${g}`);

  isolateTarget(a, targets, frozen, signal);
  assert.deepEqual(sent.splice(0), ['SIGSTOP 20', 'SIGSTOP 30']);
  isolateTarget(b, targets, frozen, signal);
  assert.deepEqual(sent.splice(0), ['SIGSTOP 10', 'SIGCONT 20']);
  isolateTarget(direct, targets, frozen, signal);
  assert.deepEqual(sent.splice(0), ['SIGSTOP 20']);
  assert.deepEqual([...frozen].sort(), [10, 20, 30]);
});

test('a stopped process group really is stopped and continues on SIGCONT', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', 'setInterval(() => process.stdout.write("."), 20)'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    let dots = 0;
    child.stdout.on('data', (d: Buffer) => (dots += d.length));
    await new Promise((r) => child.stdout.once('data', r));
    const frozen = new Set<number>();
    const target = { processGroup: child.pid! };
    isolateTarget({}, [target], frozen, (g, s) => process.kill(-g, s));
    await new Promise((r) => setTimeout(r, 100)); // output already in the pipe still arrives
    const before = dots;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(dots, before, 'no output while stopped');
    isolateTarget(target, [target], frozen, (g, s) => process.kill(-g, s));
    await new Promise((r) => child.stdout.once('data', r));
    assert.ok(dots > before);
  } finally {
    process.kill(-child.pid!, 'SIGCONT');
    process.kill(-child.pid!, 'SIGKILL');
  }
});
