import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cpuUsPerRequest, groupTicks, parseStat, sumTicks, type ProcReader } from '../../bench/lib/process-cpu.ts';

/** A /proc/PID/stat line with the given group and times; every other field is a plausible filler. */
function statLine(pid: number, comm: string, pgrp: number, utime: number, stime: number): string {
  // pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
  return `${pid} (${comm}) S 1 ${pgrp} ${pgrp} 0 -1 4194560 1200 0 0 0 ${utime} ${stime} 7 3 20 0 1 0 5000 1000000 300\n`;
}

function fakeProc(lines: Record<number, string>, extraEntries: string[] = []): ProcReader {
  return {
    entries: () => [...Object.keys(lines), ...extraEntries],
    stat: (pid) => lines[pid],
  };
}

test('parseStat reads pid, process group and utime+stime (fields 14 and 15)', () => {
  assert.deepEqual(parseStat(statLine(4242, 'node', 4242, 1500, 230)), { pid: 4242, pgrp: 4242, ticks: 1730 });
});

test('parseStat counts fields from the last ")", so a command name with spaces and parentheses does not shift them', () => {
  assert.deepEqual(parseStat(statLine(77, 'nginx: worker (x) 1', 70, 9, 1)), { pid: 77, pgrp: 70, ticks: 10 });
});

test('parseStat refuses a line that is not a stat line', () => {
  assert.equal(parseStat(''), undefined);
  assert.equal(parseStat('4242 (node) S 1'), undefined);
});

test('groupTicks sums every process of the group (nginx master and worker) and nothing else', () => {
  const proc = fakeProc(
    {
      100: statLine(100, 'nginx', 100, 3, 2), // master
      101: statLine(101, 'nginx', 100, 400, 150), // worker, same group
      200: statLine(200, 'node', 200, 9000, 900), // another target
      300: statLine(300, 'bash', 1, 50, 50),
    },
    ['self', 'stat', 'cpuinfo'],
  );
  assert.equal(groupTicks(100, proc), 555);
  assert.equal(groupTicks(200, proc), 9900);
  assert.equal(groupTicks(999, proc), 0);
});

test('a process that exits between listing /proc and reading its stat is skipped', () => {
  const proc: ProcReader = {
    entries: () => ['100', '101'],
    stat: (pid) => (pid === 100 ? statLine(100, 'haproxy', 100, 10, 5) : undefined),
  };
  assert.equal(groupTicks(100, proc), 15);
});

test('without /proc there is no number', () => {
  const proc: ProcReader = {
    entries: () => {
      throw new Error('ENOENT: /proc');
    },
    stat: () => undefined,
  };
  assert.equal(groupTicks(100, proc), undefined);
  assert.equal(sumTicks(() => true, proc), undefined);
});

test('cpuUsPerRequest turns a tick delta (1/100 s) into microseconds per request', () => {
  // 4.9 s of CPU (490 ticks) over 70,000 requests = 70 µs each.
  assert.equal(cpuUsPerRequest(1000, 1490, 70_000), 70);
  assert.equal(cpuUsPerRequest(0, 1, 100), 100);
});

test('cpuUsPerRequest gives no number without both snapshots or without a request', () => {
  assert.equal(cpuUsPerRequest(undefined, 10, 100), undefined);
  assert.equal(cpuUsPerRequest(10, undefined, 100), undefined);
  assert.equal(cpuUsPerRequest(10, 20, 0), undefined);
});

test('parseStat reads this process\'s real /proc line: its own pid and group', { skip: process.platform !== 'linux' }, () => {
  const line = readFileSync('/proc/self/stat', 'utf8');
  const p = parseStat(line);
  assert.equal(p?.pid, process.pid);
  assert.ok(Number.isInteger(p?.pgrp) && p!.pgrp > 0);
  assert.ok(Number.isInteger(p?.ticks) && p!.ticks >= 0);
});
