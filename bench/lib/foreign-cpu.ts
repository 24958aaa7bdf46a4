import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLOCK_TICKS_PER_S, sumTicks } from './process-cpu.ts';

/**
 * How much CPU the rest of the machine used while a run was measured: user+system time from
 * /proc/stat minus that of the bench's own processes (this process and every process group
 * it started). Other work on this 2-core machine (a test suite in another session) silently
 * lowers a row; this number lets the report say so. Linux only; undefined elsewhere.
 */

interface Snapshot {
  atMs: number;
  busyTicks: number;
  ourTicks: number;
}

function snapshot(groups: ReadonlySet<number>): Snapshot | undefined {
  let stat: string;
  try {
    stat = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const f = stat.split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busyTicks = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0);
  const ourTicks = sumTicks((p) => p.pid === process.pid || groups.has(p.pgrp));
  if (ourTicks === undefined) return undefined;
  return { atMs: performance.now(), busyTicks, ourTicks };
}

/**
 * Average number of cores used by others between `startMs` and `startMs + windowMs` from now.
 * Processes of ours that exit inside the window would count as foreign, so the window must
 * close before the run's wrk exits.
 */
export async function foreignCpuDuring(
  groups: () => ReadonlySet<number>,
  startMs: number,
  windowMs: number,
): Promise<number | undefined> {
  await sleep(startMs);
  const a = snapshot(groups());
  await sleep(windowMs);
  const b = snapshot(groups());
  if (!a || !b) return undefined;
  const seconds = (b.atMs - a.atMs) / 1000;
  const foreign = (b.busyTicks - a.busyTicks - (b.ourTicks - a.ourTicks)) / CLOCK_TICKS_PER_S / seconds;
  return Math.max(0, foreign);
}
