/**
 * `npm run bench`: the same upstream reached directly and through Sluice (1 and 2 workers, and
 * 1 worker with a no-op or a header wasm filter), @fastify/http-proxy, http-proxy, nginx and
 * HAProxy, under wrk, in interleaved rounds; prints the median of each row and writes
 * `.bench/latest.md` and `.bench/latest.json`.
 *
 * Method and caveats: bench/README.md. Every child process is stopped at the end, on error,
 * on SIGINT/SIGTERM and when the overall timeout fires.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ChildProcesses } from './lib/child-processes.ts';
import { planPinning } from './lib/cpu-pinning.ts';
import { formatSteadiness, measureCpuSteadiness } from './lib/cpu-steadiness.ts';
import { describeEnvironment } from './lib/environment.ts';
import { parseOptions, USAGE, type BenchOptions } from './lib/options.ts';
import { writeReportFiles } from './lib/report-files.ts';
import { BUSY_THRESHOLD_CORES, isBusy, pacedDurationS, restartDue, runRotation, type RotationTarget } from './lib/rotation.ts';
import { checkResponse } from './lib/sanity.ts';
import { failureKey, summarize } from './lib/summary.ts';
import { renderMarkdown, renderText, START_FAILURE, type ReportHeader } from './lib/table.ts';
import { findTools } from './lib/tools.ts';
import { startUpstream } from './lib/upstream.ts';
import { pacedWrkScript, WORKLOADS, wrkScript, type Workload } from './lib/workloads.ts';
import { RATIO_BASE, selectTargets, WASM_BUDGETS } from './targets/registry.ts';
import type { BenchEnv, RunningTarget, Target } from './targets/target.ts';

const benchDir = import.meta.dirname;
/**
 * The paced load of the wasm budgets' latency runs, as a fraction of the no-filter row's req/s:
 * half, so the core has headroom and p99 shows what a request costs rather than how long it queues.
 * Half the req/s is more than half the CPU: fewer requests share each event-loop wake-up, so a
 * request costs more (seen: 64-125 µs against 48-82 µs at saturation, the process using 57-63 %
 * of its core), and a slow phase of a shared host's CPU can still push it past saturation.
 */
const PACED_LOAD_FRACTION = 0.5;
/** Seconds of the CPU steadiness probe, run before and after the timed runs. */
const STEADINESS_PROBE_S = 5;
const repoDir = dirname(benchDir);
const children = new ChildProcesses();
const aborted = new AbortController();
let workDir: string | undefined;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function installCleanup(): void {
  process.on('exit', () => {
    children.killAllNow();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      log(`\n${signal}: stopping every child process`);
      aborted.abort();
      void children.close().finally(() => process.exit(130));
    });
  }
}

function armOverallTimeout(seconds: number): NodeJS.Timeout {
  const timer = setTimeout(() => {
    log(`overall timeout of ${seconds} s reached: stopping every child process`);
    aborted.abort();
    void children.close().finally(() => process.exit(124));
  }, seconds * 1000);
  timer.unref();
  return timer;
}

function selectWorkloads(names: readonly string[] | undefined): Workload[] {
  if (!names) return [...WORKLOADS];
  const unknown = names.filter((n) => !WORKLOADS.some((w) => w.name === n));
  if (unknown.length > 0) {
    throw new Error(`--workloads names unknown workloads: ${unknown.join(', ')}; known: ${WORKLOADS.map((w) => w.name).join(', ')}`);
  }
  return WORKLOADS.filter((w) => names.includes(w.name));
}

/** Seconds to start a budget row, compiling its filter included (measured: 1.5 s without a filter, 3.3–3.5 s with one), rounded up. */
const RESTART_S = 5;

/**
 * `grouped` of the `targets` run as a budget group: twice per round at saturation, and twice more
 * paced (`pacedS` each); every restart of the group costs each member a start and a first warm-up.
 */
function plannedSeconds(o: BenchOptions, targets: number, workloads: number, grouped: number, pacedS: number): number {
  const firstExtra = Math.max(0, o.firstWarmupS - o.warmupS);
  const run = o.warmupS + o.durationS + 1;
  const pacedRun = o.warmupS + pacedS + 1;
  const perRound = (targets - grouped) * run + grouped * 2 * (run + pacedRun);
  let restarts = 0;
  for (let round = 0; round < o.rounds; round++) if (restartDue(round, o.restartEvery)) restarts++;
  return workloads * (o.rounds * perRound + targets * firstExtra + restarts * grouped * (RESTART_S + firstExtra));
}

/** How `runRotation` sees a running row. */
function rotationTarget(name: string, r: RunningTarget, grouped: boolean): RotationTarget {
  return {
    name,
    port: r.port,
    ...(r.exitReason ? { exitReason: r.exitReason } : {}),
    ...(r.processGroup !== undefined ? { processGroup: r.processGroup } : {}),
    ...(grouped ? { group: 'budget' } : {}),
  };
}

/** A row that stopped serving for `reason`: every later run of it reports that reason. */
function deadTarget(port: number, reason: string): RunningTarget {
  return { port, detail: reason, exitReason: () => reason, stop: async () => {} };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const targets = selectTargets(options.only);
  const workloads = selectWorkloads(options.workloads);
  installCleanup();

  const tools = await findTools(children, { install: options.install });
  if (!tools.wrk.path) {
    log(`cannot measure anything: ${tools.wrk.missing}`);
    return 1;
  }
  for (const name of ['nginx', 'haproxy'] as const) {
    if (!tools[name].path) log(`warning: ${tools[name].missing}; its row is skipped`);
  }
  const budgeted = new Set(WASM_BUDGETS.flatMap((b) => [b.target, b.base]));
  const grouped = targets.filter((t) => budgeted.has(t.name)).length;
  const pacedS = pacedDurationS(options.durationS, PACED_LOAD_FRACTION);
  const planned = plannedSeconds(options, targets.length, workloads.length, grouped > 1 ? grouped : 0, pacedS);
  // Busy-machine repeats can multiply the plan; the limit only has to stop a hung bench.
  const timeoutS = options.timeoutS ?? planned * (1 + options.busyRetries) + 120;
  const overall = armOverallTimeout(timeoutS);
  log(`plan: ${targets.length} targets × ${workloads.length} workloads × ${options.rounds} rounds, about ${Math.ceil(planned / 60)} min (overall limit ${timeoutS} s)`);

  workDir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  // nginx workers drop root privileges and must still read the upstream's files.
  chmodSync(workDir, 0o755);
  const pin = planPinning({ enabled: options.pin, tasksetPath: tools.taskset.path });
  log(`pinning: ${pin.description}`);

  const upstream = await startUpstream({
    children,
    workDir,
    nginxPath: tools.nginx.path,
    nodePath: process.execPath,
    benchDir,
    cpus: pin.upstream,
  });
  log(`upstream: ${upstream.description}`);

  const env: BenchEnv = {
    children,
    tools,
    pin,
    upstreamPort: upstream.port,
    workDir,
    repoDir,
    benchDir,
    nodePath: process.execPath,
  };

  const failures = new Map<string, string>();
  const running = new Map<string, RunningTarget>();
  for (const target of targets) {
    const started = await startTarget(target, env);
    if (typeof started === 'string') {
      for (const w of workloads) failures.set(failureKey(w.name, target.name), `${START_FAILURE}: ${started}`);
    } else {
      running.set(target.name, started);
    }
  }

  for (const w of workloads) {
    for (const [name, t] of running) {
      const problem = await checkResponse(t.port, w);
      if (problem !== undefined) {
        failures.set(failureKey(w.name, name), problem);
        log(`${name}: ${problem}`);
      }
    }
  }

  const scripts = new Map<string, string>();
  for (const w of workloads) {
    const lua = wrkScript(w);
    if (lua === undefined) continue;
    const path = join(workDir, `${w.name}.lua`);
    writeFileSync(path, lua);
    scripts.set(w.name, path);
  }

  // The paced runs' load is set by the first budget base that runs (Sluice without a filter).
  const pacingBase = targets.find((t) => running.has(t.name) && WASM_BUDGETS.some((b) => b.base === t.name))?.name;
  const scriptDir = workDir;
  const pacedScripts = new Set<string>();
  const pacedScript = (w: Workload, meanDelayMs: number): string => {
    const path = join(scriptDir, `${w.name}-paced-${meanDelayMs}ms.lua`);
    if (!pacedScripts.has(path)) {
      writeFileSync(path, pacedWrkScript(w, meanDelayMs));
      pacedScripts.add(path);
    }
    return path;
  };

  // The paced p99 follows the proxy CPU's slow phases; the report says how steady it was.
  const steadyBefore = await measureCpuSteadiness(children, process.execPath, pin.proxy, STEADINESS_PROBE_S);
  log(`CPU steadiness before: ${formatSteadiness(steadyBefore)}`);
  const measurements = await runRotation({
    children,
    wrkPath: tools.wrk.path,
    wrkCpus: pin.wrk,
    connections: options.connections,
    threads: options.threads,
    durationS: options.durationS,
    warmupS: options.warmupS,
    firstWarmupS: options.firstWarmupS,
    freezeIdle: options.freezeIdle,
    rounds: options.rounds,
    busyRetries: options.busyRetries,
    workloads,
    scripts,
    ...(pacingBase !== undefined ? { pacing: { fraction: PACED_LOAD_FRACTION, base: pacingBase, script: pacedScript, durationS: pacedS } } : {}),
    signal: aborted.signal,
    // A wasm row and its base run back to back in every round: their budgets pair them by round.
    targetsFor: (w) =>
      targets.flatMap((t): RotationTarget[] => {
        const r = running.get(t.name);
        if (!r || failures.has(failureKey(w.name, t.name))) return [];
        return [rotationTarget(t.name, r, budgeted.has(t.name))];
      }),
    restartEvery: options.restartEvery,
    // A fresh process is checked as the first one was: it starts, answers, and (a wasm row) runs its filter.
    restart: async (w, old) => {
      const target = targets.find((t) => t.name === old.name)!;
      await running.get(old.name)?.stop();
      const started = await startTarget(target, env);
      let now: RunningTarget;
      if (typeof started === 'string') {
        now = deadTarget(old.port, `a fresh process did not start: ${started}`);
      } else {
        const problem = await checkResponse(started.port, w);
        if (problem === undefined) {
          now = started;
        } else {
          await started.stop();
          now = deadTarget(started.port, `a fresh process failed the check: ${problem}`);
        }
      }
      running.set(old.name, now);
      return rotationTarget(old.name, now, true);
    },
    log,
  });
  await children.stopAll();
  const steadyAfter = aborted.signal.aborted ? undefined : await measureCpuSteadiness(children, process.execPath, pin.proxy, STEADINESS_PROBE_S);
  clearTimeout(overall);
  // Interrupted: the handler exits the process; a partial report must not replace the last one.
  if (aborted.signal.aborted) return 130;

  const summaries = summarize({
    workloads,
    targets,
    measurements,
    failures,
    rounds: options.rounds,
    isBusy,
    ids: RATIO_BASE,
    budgets: WASM_BUDGETS,
  });
  const header: ReportHeader = {
    title: `Sluice proxy bench — ${new Date().toISOString()}`,
    setup: [
      ...describeEnvironment(tools, repoDir),
      ['load', `wrk -t${options.threads} -c${options.connections} --latency, keep-alive; ${options.warmupS} s warm-up (${Math.max(options.warmupS, options.firstWarmupS)} s before a target's first run of a workload) + ${options.durationS} s measured per run`],
      ['rounds', `${options.rounds} interleaved ${options.rounds === 1 ? 'round' : 'rounds'} per workload; median reported; wasm budgets paired by round`],
      [
        'wasm budgets',
        `the rows of a budget run back to back, in order and then reversed, each run counting half; then the same at a paced load ` +
          `(${PACED_LOAD_FRACTION * 100} % of the no-filter row's req/s in that round: each connection thinks a random 0–2× mean time before each request; ` +
          `${pacedS} s measured per run), ` +
          `where the budget's p99 is read; ` +
          (options.restartEvery > 0 && options.rounds > options.restartEvery
            ? `the budgets' rows run on a fresh process every ${options.restartEvery} rounds (${Math.ceil(options.rounds / options.restartEvery)} processes per row and workload)`
            : `one process per row`),
      ],
      ['pinning', pin.description],
      [
        'CPU steadiness',
        `${pin.proxy === undefined ? 'unpinned' : `CPU ${pin.proxy}`}, ${STEADINESS_PROBE_S} s before the runs: ${formatSteadiness(steadyBefore)}; after: ${formatSteadiness(steadyAfter)}`,
      ],
      ['isolation', options.freezeIdle ? 'the other targets are stopped (SIGSTOP) while one is measured' : 'the other targets stay running (--no-freeze)'],
      ['other load', `a run during which other processes used > ${BUSY_THRESHOLD_CORES} cores is repeated up to ${options.busyRetries} times, then flagged`],
      ['upstream', upstream.description],
    ],
    targets: targets.map((t): [string, string] => [t.label, running.get(t.name)?.detail ?? 'did not start']),
  };
  process.stdout.write(renderText(header, summaries));
  const files = writeReportFiles(repoDir, workDir, renderMarkdown(header, summaries), {
    generatedAt: new Date().toISOString(),
    options,
    setup: Object.fromEntries(header.setup),
    targets: targets.map((t) => ({ name: t.name, label: t.label, detail: running.get(t.name)?.detail ?? null })),
    cpuSteadiness: { before: steadyBefore ?? null, after: steadyAfter ?? null },
    summaries,
    measurements,
  });
  log(`\nwrote ${files.markdownPath}, ${files.jsonPath} and the generated configs in ${files.configDir}`);
  return 0;
}

/** The running target, or why it did not start. */
async function startTarget(target: Target, env: BenchEnv): Promise<RunningTarget | string> {
  log(`starting ${target.label} ...`);
  try {
    return await target.start(env);
  } catch (err) {
    const reason = (err as Error).message;
    log(`${target.label} failed to start: ${reason}`);
    return reason;
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  log(`bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await children.stopAll();
}
