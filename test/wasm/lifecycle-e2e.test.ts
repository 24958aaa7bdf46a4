/**
 * proxy-wasm module and VM lifecycle through a running Sluice: modules refused at load with a
 * message that names the file and every missing piece, plugins whose on_vm_start / on_configure
 * answer false, and a guest abort inside a stream (decoded
 * message and source location in the error log, 503 for that stream, a fresh VM for the next).
 * References are to /work/shared/docs/proxy-wasm-abi.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sluice } from '../../runtime/server/supervisor.ts';
import { loadConfigText } from '../../runtime/config/load.ts';
import { createLogger } from '../../runtime/log.ts';
import { ErrorCode, SluiceError } from '../../runtime/errors.ts';
import { runCli } from '../helpers/cli.ts';
import { proxyYaml } from '../helpers/proxy.ts';
import { echoHandler, eventually, startUpstream } from '../helpers/servers.ts';
import { buildFixtureInto, wasmFilter, wasmFixture } from '../helpers/wasm.ts';
import { buildAssemblyScript } from '../helpers/wasm-build.ts';

/** Every test ends: a stream the host wrongly holds fails the test instead of hanging the run. */
const BOUNDED = { timeout: 30_000 };

const dir = mkdtempSync(join(tmpdir(), 'sluice-wasm-lifecycle-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Builds fixture `name` with extra asc flags into `dir/out`. */
async function buildWith(name: string, out: string, extraArgs: string[]): Promise<string> {
  const path = join(dir, out);
  writeFileSync(path, await buildAssemblyScript(wasmFixture(name), { extraArgs }));
  return path;
}

/** The error Sluice.start (config load included) rejects with for a plugin whose code is `file`. */
async function loadError(file: string, rootId = 'refused'): Promise<SluiceError> {
  const yaml = proxyYaml({
    clusters: [{ name: 'backend', ports: [1] }],
    filters: wasmFilter({ file, rootId, name: 'refused' }),
  });
  try {
    const config = loadConfigText(yaml, join(dir, 'envoy.yaml'));
    const sluice = await Sluice.start({ config, concurrency: 1, logLevel: 'silent', log: createLogger('silent') });
    await sluice.stop();
  } catch (err) {
    assert.ok(err instanceof SluiceError, `a SluiceError, got ${String(err)}`);
    return err;
  }
  assert.fail(`${file} was accepted`);
}

function assertRefused(err: SluiceError, file: string, pieces: RegExp[]): void {
  assert.ok(err.code === ErrorCode.CONFIG_INVALID || err.code === ErrorCode.WASM_LOAD, err.code);
  assert.ok(err.message.includes(file), `the message names ${file}: ${err.message}`);
  for (const piece of pieces) assert.match(err.message, piece);
}

const MISSING_IMPORT = /env\.proxy_does_not_exist/;
const NO_ALLOCATOR = /proxy_on_memory_allocate/;
const NO_MEMORY = /export memory/;
const NO_ABI = /proxy_abi_version/;

// ---- modules refused at load (§2.1, §3.1, §8, §9.3) -----------------------------------------

test('a module importing a function no host provides is refused at start, naming the file and the import', BOUNDED, async () => {
  const file = await buildFixtureInto(dir, 'load-missing-import.ts');
  assertRefused(await loadError(file), file, [MISSING_IMPORT]);
});

test('a module without an allocator export is refused at start, naming proxy_on_memory_allocate / malloc', BOUNDED, async () => {
  const file = await buildFixtureInto(dir, 'load-no-allocator.ts');
  const err = await loadError(file);
  assertRefused(err, file, [NO_ALLOCATOR, /malloc/]);
  assert.doesNotMatch(err.message, NO_ABI, 'only what is missing is listed');
});

test('a module that does not export its memory is refused at start', BOUNDED, async () => {
  const file = await buildWith('minimal.ts', 'no-memory.wasm', ['--noExportMemory']);
  const err = await loadError(file);
  assertRefused(err, file, [NO_MEMORY]);
  assert.doesNotMatch(err.message, NO_ALLOCATOR);
});

test('a module without a proxy_abi_version export is refused at start', BOUNDED, async () => {
  const file = await buildFixtureInto(dir, 'load-no-abi.ts');
  assertRefused(await loadError(file), file, [NO_ABI]);
});

test('a module missing every piece is refused with one message listing each of them', BOUNDED, async () => {
  const file = await buildWith('load-broken.ts', 'broken.wasm', ['--noExportMemory']);
  assertRefused(await loadError(file), file, [MISSING_IMPORT, NO_ALLOCATOR, NO_MEMORY, NO_ABI]);
});

test('garbage bytes, and a WebAssembly preamble followed by garbage, are refused at start', BOUNDED, async () => {
  const garbage = join(dir, 'garbage.wasm');
  writeFileSync(garbage, Buffer.from('this is not webassembly at all, just text'));
  assertRefused(await loadError(garbage), garbage, [/not a WebAssembly binary/]);
  const truncated = join(dir, 'truncated.wasm');
  writeFileSync(truncated, Buffer.concat([Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]), Buffer.from('garbage after the preamble')]));
  assertRefused(await loadError(truncated), truncated, [/not a valid WebAssembly module/]);
});

// ---- plugins refused at start (§6.1 step 3, §9.3) --------------------------------------------

test('proxy_on_vm_start or proxy_on_configure returning false refuses the plugin at start, naming the callback and the plugin', BOUNDED, async () => {
  const file = await buildFixtureInto(dir, 'conformance.ts');
  for (const [rootId, callback] of [
    ['refuse-vm-start', 'proxy_on_vm_start'],
    ['refuse-configure', 'proxy_on_configure'],
  ]) {
    const err = await loadError(file, rootId);
    assert.equal(err.code, ErrorCode.CONFIG_INVALID, 'the canary run at validation refuses it');
    assert.match(err.message, new RegExp(`${callback} returned false`));
    assert.match(err.message, new RegExp(`root_id "${rootId}"`));
  }
});

// ---- a guest abort inside a stream (§9.3) ---------------------------------------------------

function lineOf(fixture: string, marker: string): number {
  const lines = readFileSync(wasmFixture(fixture), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(marker));
  assert.ok(i >= 0, `${marker} in ${fixture}`);
  return i + 1;
}

interface LogLine {
  level: number;
  msg: string;
  callback?: string;
  err?: string;
}

function logLines(output: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a line cut in the middle of a chunk; the next poll sees it whole
    }
  }
  return out;
}

test('an AssemblyScript throw or assert in a stream callback: the stream gets 503, the error log has the decoded message and file:line, the next stream works', BOUNDED, async (t) => {
  const up = await startUpstream(t, echoHandler());
  const file = await buildFixtureInto(dir, 'abort.ts');
  const cli = await runCli(
    t,
    proxyYaml({ clusters: [{ name: 'backend', ports: [up.port] }], filters: wasmFilter({ file, rootId: 'abort', name: 'aborter' }) }),
  );
  const boom = await fetch(`http://127.0.0.1:${cli.port}/boom`);
  assert.equal(boom.status, 503, 'fail closed (§9.3)');
  await boom.text();
  const fine = await fetch(`http://127.0.0.1:${cli.port}/fine`);
  assert.equal(fine.status, 200, 'a fresh VM serves the next stream');
  await fine.text();
  const asserted = await fetch(`http://127.0.0.1:${cli.port}/assert`);
  assert.equal(asserted.status, 503);
  await asserted.text();

  const throwLine = lineOf('abort.ts', 'ABORT-LINE-THROW');
  const assertLine = lineOf('abort.ts', 'ABORT-LINE-ASSERT');
  const errors = await eventually(() => {
    const found = logLines(cli.output()).filter((l) => l.level >= 50 && l.callback === 'proxy_on_request_headers');
    return found.length >= 2 ? found : undefined;
  }, 5000, 'two wasm error log lines');
  const thrown = errors.find((l) => l.msg.includes('boom from the abort fixture'));
  assert.ok(thrown, `the decoded throw message is logged: ${JSON.stringify(errors)}`);
  assert.match(thrown.msg, new RegExp(`abort\\.ts:${throwLine}:\\d+`));
  const failedAssert = errors.find((l) => l.msg.includes('assertion from the abort fixture'));
  assert.ok(failedAssert, `the decoded assert message is logged: ${JSON.stringify(errors)}`);
  assert.match(failedAssert.msg, new RegExp(`abort\\.ts:${assertLine}:\\d+`));
});

test('a callback stopped by its CPU budget: the stream gets 503 and the error log says the budget ran out, not a bare trap', BOUNDED, async (t) => {
  const up = await startUpstream(t, echoHandler());
  const file = await buildFixtureInto(dir, 'faulty.ts');
  const cli = await runCli(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: wasmFilter({ file, rootId: 'loop', name: 'spinner', extra: '\n                sluice_sandbox: { cpu_budget: 20000000 }' }),
    }),
  );
  const spun = await fetch(`http://127.0.0.1:${cli.port}/bad`);
  assert.equal(spun.status, 503);
  await spun.text();
  const errors = await eventually(() => {
    const found = logLines(cli.output()).filter((l) => l.level >= 50 && l.callback === 'proxy_on_request_headers');
    return found.length >= 1 ? found : undefined;
  }, 5000, 'a wasm error log line');
  assert.match(errors[0].msg, /CPU budget exhausted \(20000000 units per callback\)/);
});
