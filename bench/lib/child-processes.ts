import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Every process the bench starts goes through one `ChildProcesses`, so that none outlives the
 * bench: on a normal end, on an error, on SIGINT and on the overall timeout.
 *
 * Long-running children (proxies, upstream) are started in their own process group
 * (`detached`) and stopped by signalling the group: nginx and HAProxy fork workers that would
 * survive a signal sent only to the master. Pinning goes through `taskset -c`, which execs the
 * command, so the pid we hold is the pinned program itself.
 */

export interface SpawnOptions {
  /** Shown in progress and error messages. */
  name: string;
  command: string;
  args: readonly string[];
  cwd?: string;
  /** `taskset -c` CPU list; undefined runs unpinned. */
  cpus?: string | undefined;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the command could not be started at all (ENOENT, EACCES). */
  error?: Error;
}

export interface RunResult extends ExitStatus {
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const OUTPUT_TAIL_BYTES = 8192;
/** Enough for any wrk report; a chatty long-running child stops growing its copy here. */
const OUTPUT_FULL_BYTES = 256 * 1024;
const STOP_GRACE_MS = 3000;

export class ManagedProcess {
  readonly name: string;
  readonly #child: ChildProcess;
  #tail = '';
  #stdout = '';
  #stderr = '';
  #exit: ExitStatus | undefined;
  readonly whenExited: Promise<ExitStatus>;

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    const append = (text: string): void => {
      this.#tail = (this.#tail + text).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      append(text);
      if (this.#stdout.length < OUTPUT_FULL_BYTES) this.#stdout += text;
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      append(text);
      if (this.#stderr.length < OUTPUT_FULL_BYTES) this.#stderr += text;
    });
    this.whenExited = new Promise((resolve) => {
      child.once('error', (error) => {
        this.#exit ??= { code: null, signal: null, error };
        resolve(this.#exit);
      });
      child.once('exit', (code, signal) => {
        this.#exit ??= { code, signal };
        resolve(this.#exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** undefined while running. */
  get exitStatus(): ExitStatus | undefined {
    return this.#exit;
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** The last few KiB of what the process wrote to stdout and stderr, interleaved. */
  get outputTail(): string {
    return this.#tail;
  }

  /** One line saying how it ended and the most telling line it printed, then its last output. */
  describeExit(): string {
    const s = this.#exit;
    if (!s) return `${this.name} is running`;
    if (s.error) return `${this.name} could not be started: ${s.error.message}`;
    const how = s.signal ? `signal ${s.signal}` : `code ${s.code}`;
    const key = keyLine(this.#tail);
    const tail = lastLines(this.#tail, 15);
    return `${this.name} exited with ${how}${key ? `: ${key}` : ''}${tail ? `\n--- last output ---\n${tail}` : ''}`;
  }

  /** SIGTERM to the process group, SIGKILL after a grace period. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (this.#exit === undefined) {
      this.signalGroup('SIGTERM');
      const timer = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
      await this.whenExited;
      clearTimeout(timer);
    }
    // Workers of a master that died first are still in the group.
    this.signalGroup('SIGKILL');
  }

  signalGroup(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the whole group is gone already.
    }
  }
}

export class ChildProcesses {
  readonly #live = new Set<ManagedProcess>();
  #closed = false;

  /** Starts a long-running process in its own process group. */
  start(opts: SpawnOptions): ManagedProcess {
    if (this.#closed) throw new Error(`not starting ${opts.name}: the bench is shutting down`);
    const [command, args] = pinned(opts);
    const child = spawn(command, args, {
      cwd: opts.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new ManagedProcess(opts.name, child);
    this.#live.add(proc);
    // An exited process stays registered: its group may still hold forked workers until stop().
    return proc;
  }

  /** Runs a command to completion with a hard time limit, collecting its output. */
  async run(opts: SpawnOptions & { timeoutMs: number }): Promise<RunResult> {
    const proc = this.start(opts);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.signalGroup('SIGKILL');
    }, opts.timeoutMs);
    const status = await proc.whenExited;
    clearTimeout(timer);
    await this.stop(proc);
    return { ...status, stdout: proc.stdout, stderr: proc.stderr, timedOut };
  }

  async stop(proc: ManagedProcess): Promise<void> {
    await proc.stop();
    this.#live.delete(proc);
  }

  /** Stops everything and refuses to start anything more (interrupt, timeout). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.stopAll();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#live].map((p) => this.stop(p)));
  }

  /** Process group ids of everything started and not yet stopped. */
  groupIds(): Set<number> {
    const ids = new Set<number>();
    for (const p of this.#live) if (p.pid !== undefined) ids.add(p.pid);
    return ids;
  }

  /** Synchronous last resort for `process.on('exit')`. */
  killAllNow(): void {
    for (const p of this.#live) p.signalGroup('SIGKILL');
    this.#live.clear();
  }
}

function pinned(opts: SpawnOptions): [string, string[]] {
  if (opts.cpus === undefined) return [opts.command, [...opts.args]];
  return ['taskset', ['-c', opts.cpus, opts.command, ...opts.args]];
}

export function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

const STACK_FRAME = /^\s+at /;
/** Node's error header (`Error [ERR_X]: ...`, `TypeError: ...`), nginx's and HAProxy's fatal lines. */
const ERROR_HEADER = /^(\w*Error\b.*:|nginx: \[(emerg|alert)\]|\[(ALERT|EMERG)\])/;
const ERROR_WORD = /error|\[emerg\]|\[alert\]|fatal/i;

/**
 * The line most likely to say what went wrong: a pino record at error level or above (Sluice's
 * own log), else an error header, else the last non-stack-frame line naming an error, else the
 * last line.
 */
export function keyLine(output: string): string | undefined {
  const lines = output.split('\n').map((l) => l.trimEnd()).filter((l) => l.length > 0);
  const lastMatching = (pick: (line: string) => string | undefined): string | undefined => {
    for (let i = lines.length - 1; i >= 0; i--) {
      const found = pick(lines[i]!);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return (
    lastMatching(pinoErrorMessage) ??
    lastMatching((l) => (ERROR_HEADER.test(l) ? l : undefined)) ??
    lastMatching((l) => (!STACK_FRAME.test(l) && ERROR_WORD.test(l) ? l.trim() : undefined)) ??
    lines.at(-1)?.trim()
  );
}

function pinoErrorMessage(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const rec = JSON.parse(line) as { level?: unknown; msg?: unknown; err?: { message?: unknown } };
    if (typeof rec.level !== 'number' || rec.level < 50) return undefined;
    const err = typeof rec.err?.message === 'string' ? `: ${rec.err.message}` : '';
    return `${String(rec.msg ?? '')}${err}`;
  } catch {
    return undefined;
  }
}
