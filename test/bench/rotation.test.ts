import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  combineRuns,
  isolateTarget,
  pacedDelayMs,
  pacedDurationS,
  palindrome,
  replaceGroupProcesses,
  restartDue,
  roundOrder,
  roundUnits,
  type RotationTarget,
} from '../../bench/lib/rotation.ts';
import type { Measurement } from '../../bench/lib/summary.ts';
import type { WrkReport } from '../../bench/lib/wrk.ts';
import { pacedWrkScript, WORKLOADS, wrkScript } from '../../bench/lib/workloads.ts';

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

test('the grouped processes are replaced before every Nth round, never before the first, and never with N = 0', () => {
  const due = (every: number): number[] => Array.from({ length: 16 }, (_, r) => r).filter((r) => restartDue(r, every));
  assert.deepEqual(due(4), [4, 8, 12]);
  assert.deepEqual(due(5), [5, 10, 15]);
  assert.deepEqual(due(1), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  assert.deepEqual(due(16), []);
  assert.deepEqual(due(0), []);
});

test('replacing the group processes swaps each grouped target in place, continues a frozen one first, and leaves the others', async () => {
  const direct: RotationTarget = { name: 'direct', port: 1 };
  const s1: RotationTarget = { name: 's1', port: 2, processGroup: 20, group: 'budget' };
  const noop: RotationTarget = { name: 'noop', port: 3, processGroup: 30, group: 'budget' };
  const nginx: RotationTarget = { name: 'nginx', port: 4, processGroup: 40 };
  const targets = [direct, s1, noop, nginx];
  const frozen = new Set([20, 40]);
  const events: string[] = [];
  await replaceGroupProcesses(
    targets,
    frozen,
    (g, s) => void events.push(`${s} ${g}`),
    async (t) => {
      events.push(`restart ${t.name}`);
      return { ...t, port: t.port + 100, processGroup: t.processGroup! + 100 };
    },
  );
  assert.deepEqual(events, ['SIGCONT 20', 'restart s1', 'restart noop']);
  assert.deepEqual(
    targets.map((t) => `${t.name}:${t.port}:${t.processGroup ?? '-'}`),
    ['direct:1:-', 's1:102:120', 'noop:103:130', 'nginx:4:40'],
  );
  assert.equal(targets[0], direct);
  assert.equal(targets[3], nginx);
  assert.deepEqual([...frozen], [40], 'the old group is no longer held as frozen; nginx still is');
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

test('a group runs in order and then reversed, so every member sits at the same mean position', () => {
  const targets = [t('direct'), t('s1', 'g'), t('noop', 'g'), t('header', 'g')];
  const units = roundUnits(targets, 1);
  assert.deepEqual(units.map((u) => names(u)), ['noop header s1', 'direct']);
  const order = palindrome(units[0]!).map((x) => x.name);
  assert.deepEqual(order, ['noop', 'header', 's1', 's1', 'header', 'noop']);
  for (const name of ['s1', 'noop', 'header']) {
    const at = order.flatMap((n, i) => (n === name ? [i] : []));
    assert.equal((at[0]! + at[1]!) / 2, (order.length - 1) / 2, name);
  }
});

const wrkReport = (requests: number, durationS: number, p99: number, non2xx = 0): WrkReport => ({
  requests,
  durationS,
  requestsPerSec: requests / durationS,
  latencyUs: { p50: p99 / 4, p75: p99 / 3, p90: p99 / 2, p99 },
  errors: { connect: 0, read: 1, write: 0, timeout: 0, non2xx },
});

test('two runs of a target combine into one: requests and time add, CPU is weighted by requests, each percentile is the lower one', () => {
  const a: Measurement = { workload: 'w', target: 'x', round: 2, report: wrkReport(30_000, 2, 4_000), cpuUsPerRequest: 100, foreignCpuCores: 0.1 };
  const b: Measurement = { workload: 'w', target: 'x', round: 2, report: wrkReport(10_000, 2, 8_000, 3), cpuUsPerRequest: 60 };
  const c = combineRuns(a, b);
  assert.equal(c.report!.requests, 40_000);
  assert.equal(c.report!.durationS, 4);
  assert.equal(c.report!.requestsPerSec, 10_000);
  assert.equal(c.report!.latencyUs.p99, 4_000);
  assert.equal(c.report!.latencyUs.p50, 1_000);
  // A stall in the first run: its p99 is not the one kept.
  assert.equal(combineRuns({ ...a, report: wrkReport(30_000, 2, 56_000) }, b).report!.latencyUs.p99, 8_000);
  assert.equal(c.cpuUsPerRequest, 90);
  assert.equal(c.foreignCpuCores, 0.1);
  assert.deepEqual(c.report!.errors, { connect: 0, read: 2, write: 0, timeout: 0, non2xx: 3 });
  assert.equal(c.round, 2);
  assert.equal(c.pacedDelayMs, undefined);
  // A failed run leaves the other; CPU from one run only is not a per-request mean of both.
  const failed: Measurement = { workload: 'w', target: 'x', round: 2, error: 'wrk died' };
  assert.equal(combineRuns(a, failed), a);
  assert.equal(combineRuns(failed, b), b);
  assert.equal(combineRuns({ ...a, pacedDelayMs: 7 }, { ...b, pacedDelayMs: 7 }).pacedDelayMs, 7);
  assert.equal(combineRuns(a, { ...b, cpuUsPerRequest: undefined } as Measurement).cpuUsPerRequest, undefined);
});

test('the paced think time offers the asked load over the connections, and is at least 1 ms', () => {
  assert.equal(pacedDelayMs(50, 5_000), 10);
  assert.equal(pacedDelayMs(50, 8_700), 6); // 5.75 ms rounds to 6
  assert.equal(pacedDelayMs(50, 1e9), 1);
});

test('a paced run lasts the saturated duration over the load fraction, in whole seconds, so it collects as many requests', () => {
  assert.equal(pacedDurationS(2, 0.5), 4);
  assert.equal(pacedDurationS(5, 0.5), 10);
  assert.equal(pacedDurationS(2, 0.3), 7); // 6.67 s rounds up
  assert.equal(pacedDurationS(3, 1), 3);
  assert.throws(() => pacedDurationS(2, 0), /fraction must be in \(0, 1\], got 0/);
  assert.throws(() => pacedDurationS(2, 1.5), /got 1.5/);
});

test('a paced wrk script keeps the workload lines and adds a uniform think time around the mean', () => {
  const get = WORKLOADS.find((w) => w.name === 'get-100b')!;
  const post = WORKLOADS.find((w) => w.name === 'post-64k')!;
  assert.equal(pacedWrkScript(get, 10), 'function delay()\n  return math.random(0, 20)\nend\n');
  const postScript = pacedWrkScript(post, 7);
  assert.ok(postScript.startsWith(wrkScript(post)!));
  assert.match(postScript, /math\.random\(0, 14\)/);
  assert.throws(() => pacedWrkScript(get, 0), /whole number of ms/);
  assert.throws(() => pacedWrkScript(get, 2.5), /whole number of ms/);
});
