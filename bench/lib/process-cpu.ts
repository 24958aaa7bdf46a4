import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of processes, read from Linux /proc: per process group (the CPU a target spent per
 * request) and for any set of processes (foreign-cpu.ts). On this shared VM the req/s of the
 * same target moves ±40 % between runs with host noise we cannot see, while the CPU a pinned
 * target spends per request holds much steadier; the ratio of two targets' CPU per request is
 * what their req/s ratio would be if both saturated their core.
 *
 * /proc is reached through a `ProcReader`, so the parsing and summing can be tested on fake text.
 */

/** USER_HZ: /proc reports utime and stime in 1/100 s on Linux, whatever the kernel's HZ. */
export const CLOCK_TICKS_PER_S = 100;

export interface ProcReader {
  /** The names in /proc (pids among them); throws where there is no /proc. */
  entries(): string[];
  /** The text of /proc/PID/stat; undefined once the process has exited. */
  stat(pid: number): string | undefined;
}

export const liveProc: ProcReader = {
  entries: () => readdirSync('/proc'),
  stat(pid) {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined; // exited meanwhile
    }
  },
};

export interface ProcStat {
  pid: number;
  pgrp: number;
  /** utime + stime, in clock ticks; for a process, the sum over all its threads. */
  ticks: number;
}

/**
 * Reads one /proc/PID/stat line: `pid (comm) state ppid pgrp ... utime stime ...`. comm may hold
 * spaces and parentheses, so the fields are counted from the last ')'. undefined if malformed.
 */
export function parseStat(line: string): ProcStat | undefined {
  const close = line.lastIndexOf(')');
  if (close < 0) return undefined;
  const pid = Number(line.slice(0, line.indexOf(' ')));
  // After "(comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  const rest = line.slice(close + 2).split(' ');
  const pgrp = Number(rest[2]);
  const ticks = Number(rest[11]) + Number(rest[12]);
  if (!Number.isInteger(pid) || !Number.isInteger(pgrp) || !Number.isFinite(ticks)) return undefined;
  return { pid, pgrp, ticks };
}

/** Sum of utime + stime over the processes `include` picks; undefined without /proc. */
export function sumTicks(include: (p: ProcStat) => boolean, proc: ProcReader = liveProc): number | undefined {
  let entries: string[];
  try {
    entries = proc.entries();
  } catch {
    return undefined;
  }
  let ticks = 0;
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const line = proc.stat(pid);
    const p = line === undefined ? undefined : parseStat(line);
    if (p !== undefined && include(p)) ticks += p.ticks;
  }
  return ticks;
}

/**
 * CPU ticks of every process in group `pgrp`: a target started `detached` leads its own group,
 * and nginx and HAProxy workers it forks stay in it. Sluice's worker threads are counted in its
 * process's own line.
 */
export function groupTicks(pgrp: number, proc: ProcReader = liveProc): number | undefined {
  return sumTicks((p) => p.pgrp === pgrp, proc);
}

/**
 * Microseconds of CPU per request between two `groupTicks` snapshots taken around one wrk run.
 * undefined when a snapshot is missing or no request completed. A tick is 10 ms: a 5 s run near
 * one full core counts about 500, so the rounding stays well under 1 %.
 */
export function cpuUsPerRequest(ticksBefore: number | undefined, ticksAfter: number | undefined, requests: number): number | undefined {
  if (ticksBefore === undefined || ticksAfter === undefined || requests <= 0) return undefined;
  return ((ticksAfter - ticksBefore) * 1e6) / CLOCK_TICKS_PER_S / requests;
}
