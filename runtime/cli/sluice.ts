#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadConfigFile } from '../config/load.ts';
import { ConfigError, SluiceError, formatProblem } from '../errors.ts';
import { Sluice } from '../server/supervisor.ts';
import { prepareValidation, validateSnapshot } from '../server/validate.ts';
import { isLogLevel, LOG_LEVELS } from '../log.ts';
import { SLUICE_VERSION } from '../version.ts';
import { inspectWasm, formatInspection } from '../wasm/inspect.ts';
import { WasmParseError } from '../../abi/wasm-binary.ts';
import { deploy, DEPLOY_USAGE } from './deploy.ts';
import { build } from './build.ts';
import { newProject } from './new.ts';

const USAGE = `sluice ${SLUICE_VERSION}: a WASM-extensible HTTP proxy configured with Envoy v3 YAML

Usage:
  sluice run -c FILE [--concurrency N] [--log-level LEVEL] [--drain-time-s S] [--no-watch]
  sluice validate -c FILE
  sluice inspect FILE.wasm [--json]
  sluice deploy NAME FILE.wasm [--admin URL] | sluice deploy NAME --rollback [--admin URL]
  sluice new NAME [--dir DIR]
  sluice build [PATH] [-o OUT.wasm] [--debug]
  sluice version

Commands:
  run        Run the proxy until SIGTERM/SIGINT, then drain (in-flight requests finish, HTTP/1
             responses carry Connection: close) and exit 0.
  validate   Check a config file: exit 0 if valid, else print one line per problem and exit 1.
  inspect    Describe a wasm module: proxy-wasm ABI version, exports, imports (marking any Sluice
             does not provide or whose signature differs), memory limits, size, sha256, start
             section. --json prints one JSON object. Exit 1 if the file is missing, is not a wasm
             module, or V8 rejects it.
  deploy     Hot-swap a wasm plugin in a running Sluice through its admin API; the old version
             keeps serving if the new one is refused.
  new        Create a filter project DIR/NAME (AssemblyScript source, unit test, envoy.yaml,
             README) whose npm test passes as created. Exit 1 if DIR/NAME is not empty.
  build      Compile an AssemblyScript filter (PATH: project dir, default ".", or source file)
             to OUT.wasm (default <project>/build/<name>.wasm), optimised (-O3s); --debug keeps
             names. Prints the path and size; exit 1 with file:line:col per compile error.

Options:
  -c, --config-path FILE   Envoy v3 bootstrap YAML (or JSON)
  --concurrency N          worker threads (default: CPU count)
  -l, --log-level LEVEL    ${LOG_LEVELS.join(', ')} (default: info)
  --drain-time-s S         how long in-flight requests may take on shutdown (default: 5)
  --no-watch               do not watch the config file, its LDS/CDS files and wasm files
                           (by default a change is validated and applied live; an invalid
                           change is logged and the running config keeps serving)
`;

function fail(message: string, code = 1): never {
  process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
  process.exit(code);
}

async function loadOrExit(path: string | undefined) {
  if (path === undefined) fail(`missing -c FILE\n\n${USAGE}`, 2);
  try {
    const snapshot = loadConfigFile(resolve(path));
    await prepareValidation(snapshot);
    validateSnapshot(snapshot);
    return snapshot;
  } catch (err) {
    if (err instanceof ConfigError) fail(err.problems.map(formatProblem).join('\n'));
    if (err instanceof SluiceError) fail(`${err.code}: ${err.message}`);
    throw err;
  }
}

function inspect(args: string[]): void {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true, allowPositionals: true });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
  if (parsed.positionals.length !== 1) fail(`inspect takes exactly one FILE.wasm\n\n${USAGE}`, 2);
  const file = parsed.positionals[0];
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(resolve(file)));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    fail(`sluice inspect: cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  let report;
  try {
    report = inspectWasm(bytes);
  } catch (err) {
    if (err instanceof WasmParseError) fail(`sluice inspect: ${file} is not a WebAssembly module: ${err.message}`);
    throw err;
  }
  process.stdout.write(parsed.values.json ? `${JSON.stringify({ file, ...report })}\n` : formatInspection(report, file));
  if (!report.valid) {
    // exitCode rather than exit(): stdout may be a pipe still flushing the report.
    process.stderr.write(`sluice inspect: ${file} is not a valid WebAssembly module: ${report.validationError ?? 'V8 rejects it'}\n`);
    process.exitCode = 1;
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (command === 'version' || command === '--version') {
    process.stdout.write(`${SLUICE_VERSION}\n`);
    return;
  }
  if (command === 'inspect') {
    inspect(rest);
    return;
  }
  if (command === 'new') {
    process.exitCode = await newProject(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
    return;
  }
  if (command === 'build') {
    process.exitCode = await build(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
    return;
  }
  if (command === 'deploy') {
    process.exitCode = await deploy(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
    return;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        'config-path': { type: 'string', short: 'c' },
        concurrency: { type: 'string' },
        'log-level': { type: 'string', short: 'l' },
        'drain-time-s': { type: 'string' },
        watch: { type: 'boolean' },
      },
      strict: true,
      allowNegative: true,
      allowPositionals: false,
    });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
  const v = parsed.values;
  switch (command) {
    case 'validate': {
      const snap = await loadOrExit(v['config-path']);
      process.stdout.write(`${v['config-path']}: OK (${snap.listeners.length} listeners, ${snap.clusters.length} clusters)\n`);
      return;
    }
    case 'run': {
      const level = v['log-level'] ?? 'info';
      if (!isLogLevel(level)) fail(`unknown log level "${level}" (expected one of ${LOG_LEVELS.join(', ')})`, 2);
      let concurrency: number | undefined;
      if (v.concurrency !== undefined) {
        concurrency = Number(v.concurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1) fail(`--concurrency must be a positive integer, got "${v.concurrency}"`, 2);
      }
      let drainTimeoutMs: number | undefined;
      if (v['drain-time-s'] !== undefined) {
        drainTimeoutMs = Number(v['drain-time-s']) * 1000;
        if (!Number.isFinite(drainTimeoutMs) || drainTimeoutMs < 0) fail(`--drain-time-s must be a number of seconds`, 2);
      }
      const config = await loadOrExit(v['config-path']);
      let sluice: Sluice | undefined;
      let exiting = false;
      const shutdown = (why: string) => {
        if (exiting) return;
        exiting = true;
        sluice?.log.info({ why }, 'draining');
        (sluice?.stop() ?? Promise.resolve()).then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
      try {
        sluice = await Sluice.start({
          config,
          concurrency,
          logLevel: level,
          drainTimeoutMs,
          watch: v.watch !== false,
          onQuit: () => shutdown('/quitquitquit'),
        });
      } catch (err) {
        fail(`sluice: failed to start: ${(err as Error).message}`);
      }
      return;
    }
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`, 2);
  }
}

await main(process.argv.slice(2));
