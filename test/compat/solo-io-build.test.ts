import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSoloIoFilter } from '../helpers/solo-build.ts';
import { parseWasmModule } from '../../abi/wasm-binary.ts';
import { scanAbiVersion } from '../../abi/abi-version.ts';
import { describeExportProblems, describeImportProblems } from '../../abi/imports.ts';

const FIXTURES = new URL('../fixtures/solo-io/assembly/', import.meta.url);
const FILTERS = ['response-header', 'deny', 'config-metric', 'http-call'] as const;

test('the compat workspace pins assemblyscript 0.14.9 next to the root 0.28', () => {
  const version = (path: string) => (JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version: string }).version;
  assert.equal(version('./solo-io/node_modules/assemblyscript/package.json'), '0.14.9');
  assert.match(version('../../node_modules/assemblyscript/package.json'), /^0\.28\./);
});

for (const name of FILTERS) {
  test(`solo-io filter ${name} builds with asc 0.14.9 into an ABI 0.2.0 module that imports only what Sluice provides`, async () => {
    const wasm = await buildSoloIoFilter(fileURLToPath(new URL(`${name}.ts`, FIXTURES)));
    assert.ok(WebAssembly.validate(wasm));
    const info = parseWasmModule(wasm);
    const scan = scanAbiVersion(info.exports.filter((e) => e.kind === 'function').map((e) => e.name));
    assert.deepEqual(scan, { kind: 'found', version: '0.2.0' });
    assert.deepEqual(describeImportProblems(info.imports, '0.2.0'), []);
    assert.deepEqual(describeExportProblems(info.exports, '0.2.0'), []);
    // The SDK's allocator is malloc (no proxy_on_memory_allocate), and its abort goes through
    // proxy_log + wasi_unstable.proc_exit rather than env.abort.
    const exportNames = info.exports.map((e) => e.name);
    assert.ok(exportNames.includes('malloc') && !exportNames.includes('proxy_on_memory_allocate'));
    const importNames = info.imports.map((i) => `${i.module}.${i.name}`);
    assert.ok(importNames.includes('wasi_unstable.proc_exit'));
    assert.ok(!importNames.includes('env.abort'));
    // registerRootContext runs as top-level code in the wasm start section.
    assert.notEqual(info.startFunction, undefined);
  });
}

test('each filter imports the host functions its behaviour needs', async () => {
  const imports = async (name: string) =>
    parseWasmModule(await buildSoloIoFilter(fileURLToPath(new URL(`${name}.ts`, FIXTURES)))).imports.map((i) => i.name);
  assert.ok((await imports('response-header')).includes('proxy_add_header_map_value'));
  assert.ok((await imports('deny')).includes('proxy_send_local_response'));
  const cm = await imports('config-metric');
  for (const n of ['proxy_get_buffer_bytes', 'proxy_define_metric', 'proxy_increment_metric', 'proxy_add_header_map_value']) assert.ok(cm.includes(n), n);
  const hc = await imports('http-call');
  for (const n of ['proxy_http_call', 'proxy_get_header_map_value', 'proxy_set_effective_context', 'proxy_continue_stream']) assert.ok(hc.includes(n), n);
});
