import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AbiVersion, detectAbiVersion } from '../../abi/abi-version.ts';
import { ImportModule, PROXY_IMPORTS } from '../../abi/imports.ts';
import { formatFuncType, parseWasmModule, sameFuncType } from '../../abi/wasm-binary.ts';
import { ErrorCode, SluiceError } from '../../runtime/errors.ts';
import { FilterHarness } from '../../runtime/testing/index.ts';
import { buildFilter } from '../../runtime/toolchain/build.ts';
import { build } from '../../runtime/cli/build.ts';
import { CLI } from '../helpers/cli.ts';

/**
 * `sluice build` as a user runs it (a child process) and `buildFilter` in-process: a project
 * directory or a file becomes a standard proxy-wasm 0.2.1 module, and compile errors come back as
 * `file:line:col: error TSnnnn: text`.
 */
const HEADERS_FIXTURE = fileURLToPath(new URL('../fixtures/sdk/headers.ts', import.meta.url));
const STANDARD_021 = new Map(PROXY_IMPORTS.filter((s) => s.abiVersions?.includes(AbiVersion.V0_2_1)).map((s) => [s.name, s]));

const dir = mkdtempSync(join(tmpdir(), 'sluice-build-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function sluice(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

/** A project directory (no node_modules: the SDK shipped with Sluice is used) with `source` as its entry. */
function project(name: string, source: string, pkg: object = { name }): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'assembly'), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify(pkg));
  writeFileSync(join(root, 'assembly', 'index.ts'), source);
  return root;
}

/** Every way a module departs from "imports only standard proxy-wasm 0.2.1 functions, exports a 0.2.1 module". */
function nonStandard(bytes: Uint8Array): string[] {
  const info = parseWasmModule(bytes);
  const problems: string[] = [];
  for (const imp of info.imports) {
    const spec = imp.module === ImportModule.Env ? STANDARD_021.get(imp.name) : undefined;
    if (spec === undefined) problems.push(`imports ${imp.module}.${imp.name}`);
    else if (imp.type === undefined || !sameFuncType(spec, imp.type)) problems.push(`imports ${imp.name} as ${imp.type ? formatFuncType(imp.type) : '?'}`);
  }
  const names = info.exports.map((e) => e.name);
  if (detectAbiVersion(names) !== AbiVersion.V0_2_1) problems.push(`ABI markers ${names.filter((n) => n.startsWith('proxy_abi_version_'))}`);
  for (const required of ['proxy_abi_version_0_2_1', '_initialize', 'memory', 'proxy_on_memory_allocate', 'proxy_on_request_headers']) {
    if (!names.includes(required)) problems.push(`does not export ${required}`);
  }
  if (info.startFunction !== undefined) problems.push('has a start section');
  return problems;
}

test('sluice build compiles a project directory to build/<name>.wasm and prints its path and size', async () => {
  const root = project('headers-project', readFileSync(HEADERS_FIXTURE, 'utf8'), { name: '@acme/headers-demo', version: '1.0.0' });
  const r = await sluice(['build'], root);
  assert.equal(r.code, 0, r.stderr);
  const out = join(root, 'build', 'headers-demo.wasm');
  const size = statSync(out).size;
  assert.equal(r.stdout, `build/headers-demo.wasm  ${(size / 1024).toFixed(1)} KiB (${size} bytes)\n`);
  const wasm = new Uint8Array(readFileSync(out));
  assert.deepEqual(nonStandard(wasm), []);

  // The module is the filter: it runs in the harness as in the proxy.
  const h = FilterHarness.load(wasm, { rootId: 'headers' });
  try {
    const s = h.stream();
    await s.sendRequestHeaders({ ':path': '/', 'x-in': 'v1' }, true);
    assert.equal(s.upstream.headers?.get('x-added'), 'by-sdk');
    await s.sendResponseHeaders({ ':status': '200' }, true);
    assert.equal(s.downstream.headers?.get('x-saw'), 'v1');
  } finally {
    h.close();
  }
});

test('sluice build FILE -o OUT --debug compiles one source file to OUT, unoptimised', async () => {
  const out = join(dir, 'nested', 'headers.debug.wasm');
  const r = await sluice(['build', HEADERS_FIXTURE, '-o', out, '--debug'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^nested\/headers\.debug\.wasm {2}\d+\.\d KiB \(\d+ bytes\)\n$/);
  const wasm = new Uint8Array(readFileSync(out));
  assert.deepEqual(nonStandard(wasm), []);
  assert.ok(parseWasmModule(wasm).customSectionNames.includes('name'), 'a debug build keeps function names');
});

test('a compile error exits 1 with file:line:col and the TS code of each diagnostic, and writes no module', async () => {
  const source = readFileSync(HEADERS_FIXTURE, 'utf8').replace('this.upper = path == "/upper";', 'this.upper = path == "/upper" + missingName;');
  const line = source.split('\n').findIndex((l) => l.includes('missingName')) + 1;
  const column = source.split('\n')[line - 1].indexOf('missingName') + 1;
  const root = project('broken', source);
  const r = await sluice(['build'], root);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^assembly/index\\.ts:${line}:${column}: error TS2304: Cannot find name 'missingName'\\.$`, 'm'));
  assert.equal(existsSync(join(root, 'build')), false);

  // Paths are relative to the cwd, wherever the command runs from.
  const elsewhere = await sluice(['build', 'broken'], dir);
  assert.equal(elsewhere.code, 1);
  assert.match(elsewhere.stderr, new RegExp(`^broken/assembly/index\\.ts:${line}:${column}: error TS2304`, 'm'));
});

test('usage errors exit 2: a second PATH, an unknown flag, a missing PATH, a directory with no entry', async () => {
  // In-process: the function the CLI's `build` command runs (no compile happens for these).
  for (const args of [['a', 'b'], ['--fast'], [join(dir, 'does-not-exist')], [dir]]) {
    let stderr = '';
    const code = await build(args, () => {}, (s) => (stderr += s));
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.notEqual(stderr, '', args.join(' '));
  }
});

test('buildFilter throws SLUICE_ERR_BUILD naming the imported file where the error is', async () => {
  const root = project('two-files', readFileSync(HEADERS_FIXTURE, 'utf8').replace('export * from "@sluice/sdk/exports";', 'export * from "@sluice/sdk/exports";\nimport { helper } from "./helper";'));
  writeFileSync(join(root, 'assembly', 'helper.ts'), 'export function helper(): i32 {\n  return 1 +;\n}\n');
  const error = await buildFilter(join(root, 'assembly', 'index.ts'), { baseDir: root }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof SluiceError, String(error));
  assert.equal(error.code, ErrorCode.BUILD_FAILED);
  // Relative to the cwd when under it (as in the CLI tests above), else absolute.
  const helper = join(root, 'assembly', 'helper.ts');
  const where = relative(process.cwd(), helper).startsWith('..') ? helper : relative(process.cwd(), helper);
  assert.ok(error.message.split('\n').some((l) => new RegExp(`^${where.replaceAll('.', '\\.')}:2:\\d+: error TS1109: Expression expected\\.$`).test(l)), error.message);
});

test('an entry that forgets the SDK\'s proxy-wasm exports is refused with a hint, not built into a module no proxy loads', async () => {
  const root = project('no-exports', 'import { logInfo } from "@sluice/sdk";\nlogInfo("hello");\n');
  await assert.rejects(buildFilter(join(root, 'assembly', 'index.ts'), { baseDir: root, optimize: false }), (e: unknown) => {
    assert.ok(e instanceof SluiceError);
    assert.equal(e.code, ErrorCode.BUILD_FAILED);
    assert.match(e.message, /proxy_abi_version/);
    assert.match(e.message, /export \* from "@sluice\/sdk\/exports"/);
    return true;
  });
});
