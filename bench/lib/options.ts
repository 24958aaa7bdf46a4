import { parseArgs } from 'node:util';

/** Command-line options of `npm run bench` (`node bench/proxy-bench.ts`). */

export interface BenchOptions {
  rounds: number;
  durationS: number;
  warmupS: number;
  firstWarmupS: number;
  connections: number;
  threads: number;
  busyRetries: number;
  /** Replace the wasm budgets' processes every this many rounds; 0 = never (rotation.ts). */
  restartEvery: number;
  only?: string[];
  workloads?: string[];
  /** Overall limit; undefined = derived from the plan. */
  timeoutS?: number;
  pin: boolean;
  freezeIdle: boolean;
  install: boolean;
  help: boolean;
}

export const USAGE = `usage: node bench/proxy-bench.ts [options]

  --rounds N         rotations over all targets per workload; the median is reported (default 3)
  --duration S       measured seconds per run (default 5)
  --warmup S         unmeasured seconds before each run (default 1)
  --first-warmup S   unmeasured seconds before a target's first run of a workload (default 6)
  --quick            1 round of 2 s: checks that everything runs
  --only a,b         targets to run: direct, sluice1, sluice1-wasm-noop, sluice1-wasm-header,
                     sluice1-wasm-header-unmetered, sluice2, fastify, http-proxy, nginx, haproxy;
                     and, only when named here, sluice1-control (an A/A control for the budgets)
  --workloads a,b    workloads to run: get-100b, get-16k, post-64k
  --connections N    wrk connections (default 50)
  --threads N        wrk threads (default 1)
  --busy-retries N   repeat a run during which other processes used CPU, up to N times (default 2)
  --restart-every N  start fresh processes for the wasm budgets' rows every N rounds, so their
                     ratios rest on several processes per row; 0 = never (default 4)
  --timeout S        overall limit for the whole bench (default: planned time × (1 + busy retries) + 2 min)
  --no-pin           do not pin wrk and the proxies to CPUs with taskset
  --no-freeze        leave the other targets running while one is measured (default: SIGSTOP them)
  --no-install       do not apt-get install missing nginx / haproxy / wrk
  -h, --help         this text
`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'first-warmup': { type: 'string' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      workloads: { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      'busy-retries': { type: 'string' },
      timeout: { type: 'string' },
      'restart-every': { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'no-install': { type: 'boolean', default: false },
      'no-freeze': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const quick = values.quick === true;
  const opts: BenchOptions = {
    rounds: positiveInt('--rounds', values.rounds, quick ? 1 : 3),
    durationS: positiveInt('--duration', values.duration, quick ? 2 : 5),
    warmupS: nonNegativeInt('--warmup', values.warmup, 1),
    firstWarmupS: nonNegativeInt('--first-warmup', values['first-warmup'], quick ? 1 : 6),
    connections: positiveInt('--connections', values.connections, 50),
    threads: positiveInt('--threads', values.threads, 1),
    busyRetries: nonNegativeInt('--busy-retries', values['busy-retries'], 2),
    restartEvery: nonNegativeInt('--restart-every', values['restart-every'], 4),
    pin: values['no-pin'] !== true,
    freezeIdle: values['no-freeze'] !== true,
    install: values['no-install'] !== true,
    help: values.help === true,
  };
  if (values.only !== undefined) opts.only = list(values.only);
  if (values.workloads !== undefined) opts.workloads = list(values.workloads);
  if (values.timeout !== undefined) opts.timeoutS = positiveInt('--timeout', values.timeout, 0);
  return opts;
}

function list(s: string): string[] {
  return s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
}

function positiveInt(flag: string, raw: string | undefined, fallback: number): number {
  const n = nonNegativeInt(flag, raw, fallback);
  if (n === 0) throw new Error(`${flag} must be a positive integer, got ${raw}`);
  return n;
}

function nonNegativeInt(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a whole number, got ${raw}`);
  return n;
}
