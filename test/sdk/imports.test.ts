import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AbiVersion, detectAbiVersion } from '../../abi/abi-version.ts';
import { describeExportProblems, ImportModule, PROXY_IMPORTS, WASI_IMPORTS } from '../../abi/imports.ts';
import { formatFuncType, parseWasmModule, sameFuncType, type WasmModuleInfo } from '../../abi/wasm-binary.ts';
import { buildSdkFilter, SDK_DIR, type SdkTarget } from '../helpers/sdk-build.ts';

/**
 * A filter built with the SDK must load in Envoy as well as in Sluice: it may import only
 * standard proxy-wasm ABI 0.2.1 functions from `env` (exact standard signatures) or WASI
 * functions, never the AssemblyScript runtime's env.abort / env.trace / env.seed, and it must
 * export a single 0.2.1 marker, memory and an allocator, with no start section.
 */
const FIXTURES = fileURLToPath(new URL('../fixtures/sdk/', import.meta.url));
const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.ts')).sort();

const STANDARD_021 = new Map(PROXY_IMPORTS.filter((s) => s.abiVersions?.includes(AbiVersion.V0_2_1)).map((s) => [s.name, s]));
const WASI = new Map(WASI_IMPORTS.map((s) => [`${s.module}.${s.name}`, s]));

/** Every way `info` departs from "standard 0.2.1 module", as readable lines. */
function nonStandard(info: WasmModuleInfo): string[] {
  const problems: string[] = [];
  for (const imp of info.imports) {
    const subject = `${imp.module}.${imp.name}`;
    if (imp.kind !== 'function') {
      problems.push(`imports a ${imp.kind} ${subject}`);
      continue;
    }
    const spec = imp.module === ImportModule.Env ? STANDARD_021.get(imp.name) : WASI.get(subject);
    if (spec === undefined) {
      problems.push(`imports ${subject}, which is not a standard proxy-wasm 0.2.1 or WASI function`);
      continue;
    }
    if (imp.type === undefined || !sameFuncType(spec, imp.type)) {
      problems.push(`imports ${subject} as ${imp.type ? formatFuncType(imp.type) : '?'}; the standard is ${formatFuncType(spec)}`);
    }
  }
  const names = info.exports.map((e) => e.name);
  if (detectAbiVersion(names) !== AbiVersion.V0_2_1 || names.filter((n) => n.startsWith('proxy_abi_version_')).length !== 1) {
    problems.push(`exports ABI markers ${JSON.stringify(names.filter((n) => n.startsWith('proxy_abi_version_')))}, expected only proxy_abi_version_0_2_1`);
  }
  for (const p of describeExportProblems(info.exports, AbiVersion.V0_2_1)) problems.push(`${p.severity}: ${p.message}`);
  if (info.startFunction !== undefined) problems.push('has a start section (top-level code must run from the exported _initialize)');
  if (!names.includes('_initialize')) problems.push('does not export _initialize');
  return problems;
}

async function info(name: string, target: SdkTarget = 'debug'): Promise<WasmModuleInfo> {
  return parseWasmModule(await buildSdkFilter(join(FIXTURES, name), { target }));
}

test('the SDK fixtures directory has filters to check', () => {
  assert.ok(fixtures.length >= 5, `found ${fixtures.join(', ')}`);
});

for (const name of fixtures) {
  test(`${name} (debug build) imports only standard proxy-wasm 0.2.1 functions and exports a 0.2.1 module`, async () => {
    assert.deepEqual(nonStandard(await info(name)), []);
  });
}

for (const name of ['kitchen-sink.ts']) {
  test(`${name} (release build) imports only standard proxy-wasm 0.2.1 functions and exports a 0.2.1 module`, async () => {
    assert.deepEqual(nonStandard(await info(name, 'release')), []);
  });
}

/** Every filter the project ships, built as users build them (release). */
const SHIPPED = [
  ...readdirSync(fileURLToPath(new URL('../../filters/', import.meta.url)), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => `filters/${d.name}/assembly/index.ts`),
  'examples/quickstart/filter/assembly/index.ts',
];

for (const entry of SHIPPED) {
  test(`${entry} (release build) imports only standard proxy-wasm 0.2.1 functions, so it runs in Envoy too`, async () => {
    const path = fileURLToPath(new URL(`../../${entry}`, import.meta.url));
    assert.deepEqual(nonStandard(parseWasmModule(await buildSdkFilter(path, { target: 'release' }))), []);
  });
}

test('the kitchen-sink filter imports every host function the SDK declares, so the checks above cover them all', async () => {
  const declared = [...readFileSync(join(SDK_DIR, 'assembly', 'imports.ts'), 'utf8').matchAll(/@external\("env", "(\w+)"\)/g)].map((m) => m[1]).sort();
  const imported = (await info('kitchen-sink.ts')).imports.map((i) => i.name).sort();
  assert.deepEqual(imported, declared);
  assert.deepEqual(declared, [...STANDARD_021.keys()].sort(), 'the SDK declares exactly the standard 0.2.1 functions');
});

test('throw, trace() and Math.random import nothing from the AssemblyScript runtime: they go through proxy_* calls', async () => {
  for (const name of ['throw.ts', 'kitchen-sink.ts']) {
    const names = (await info(name)).imports.map((i) => `${i.module}.${i.name}`);
    assert.ok(names.includes('env.proxy_log'), name);
    for (const runtimeImport of ['env.abort', 'env.trace', 'env.seed']) assert.ok(!names.includes(runtimeImport), `${name} imports ${runtimeImport}`);
  }
});
