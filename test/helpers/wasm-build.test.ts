import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildAssemblyScript,
  cacheKey,
  sourceClosure,
  assemblyScriptFlags,
  WASM_CACHE_DIR,
  WasmBuildError,
} from './wasm-build.ts';
import { parseWasmModule, sameFuncType, formatFuncType } from '../../abi/wasm-binary.ts';
import { providedImport, PROXY_IMPORTS, ENV_HELPER_IMPORTS } from '../../abi/imports.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/wasm/', import.meta.url));
const MINIMAL = join(FIXTURES, 'minimal.ts');

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-asc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Instantiates with a proxy_log that records messages (read from guest memory after each call). */
function instantiate(wasm: Uint8Array, extraEnv: Record<string, Function> = {}) {
  const logs: { level: number; msg: string }[] = [];
  let memory: WebAssembly.Memory | undefined;
  const env = {
    proxy_log: (level: number, ptr: number, len: number) => {
      const bytes = new Uint8Array(memory!.buffer, ptr >>> 0, len >>> 0);
      logs.push({ level, msg: new TextDecoder().decode(bytes) });
      return 0;
    },
    abort: () => {
      throw new Error('abort');
    },
    ...extraEnv,
  };
  const instance = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env });
  memory = instance.exports.memory as WebAssembly.Memory;
  (instance.exports._initialize as () => void)();
  return { exports: instance.exports as Record<string, Function>, logs };
}

test('builds the minimal fixture into a reactor with the ABI marker, allocator, memory and _initialize', async () => {
  const wasm = await buildAssemblyScript(MINIMAL);
  const mod = new WebAssembly.Module(wasm);
  const exports = WebAssembly.Module.exports(mod);
  assert.deepEqual(
    exports.map((e) => `${e.kind}:${e.name}`).sort(),
    [
      'function:_initialize',
      'function:proxy_abi_version_0_2_1',
      'function:proxy_on_memory_allocate',
      'function:proxy_on_request_headers',
      'memory:memory',
    ],
  );
  assert.deepEqual(
    WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}:${i.kind}`).sort(),
    ['env.abort:function', 'env.proxy_log:function'],
  );
  // No wasm start section: top-level code must wait for the host's _initialize call.
  assert.equal(parseWasmModule(wasm).startFunction, undefined);
});

test('the minimal fixture logs through proxy_log from proxy_on_request_headers and returns Continue', async () => {
  const { exports, logs } = instantiate(await buildAssemblyScript(MINIMAL));
  assert.equal(exports.proxy_on_request_headers(1, 3, 1), 0);
  assert.deepEqual(logs, [{ level: 2, msg: 'minimal: request headers 3' }]);
  const ptr = exports.proxy_on_memory_allocate(16) as number;
  assert.ok(ptr > 0);
});

test('an optimised build has the same exports and behaviour', async () => {
  const wasm = await buildAssemblyScript(MINIMAL, { optimize: true });
  const { exports, logs } = instantiate(wasm);
  assert.equal(exports.proxy_on_request_headers(1, 7, 0), 0);
  assert.deepEqual(logs, [{ level: 2, msg: 'minimal: request headers 7' }]);
});

test('exportRuntime adds the AS runtime exports', async () => {
  const wasm = await buildAssemblyScript(MINIMAL, { exportRuntime: true });
  const names = WebAssembly.Module.exports(new WebAssembly.Module(wasm)).map((e) => e.name);
  for (const n of ['__new', '__pin', '__unpin', '__collect']) assert.ok(names.includes(n), n);
});

test('stores the binary in the on-disk cache under the sha256 key and serves the same bytes again', async () => {
  const first = await buildAssemblyScript(MINIMAL);
  const key = cacheKey(
    ['assemblyscript', JSON.parse(readFileSync(new URL('../../node_modules/assemblyscript/package.json', import.meta.url), 'utf8')).version, ...assemblyScriptFlags()],
    sourceClosure(MINIMAL),
  );
  const file = join(WASM_CACHE_DIR, `${key}.wasm`);
  assert.ok(existsSync(file), file);
  assert.deepEqual(new Uint8Array(readFileSync(file)), first);
  assert.deepEqual(await buildAssemblyScript(MINIMAL), first);
});

test('a change in an imported file changes the key and the output', async (t) => {
  const dir = tmp(t);
  mkdirSync(join(dir, 'lib'));
  const entry = join(dir, 'entry.ts');
  writeFileSync(entry, 'import { answer } from "./lib/answer";\nexport function get(): i32 { return answer(); }\n');
  writeFileSync(join(dir, 'lib', 'answer.ts'), 'export function answer(): i32 { return 41; }\n');
  const a = new WebAssembly.Instance(new WebAssembly.Module(await buildAssemblyScript(entry)), { env: { abort() {} } });
  assert.equal((a.exports.get as () => number)(), 41);
  assert.deepEqual(sourceClosure(entry).files.map((f) => f.rel).sort(), ['entry.ts', 'lib/answer.ts']);

  writeFileSync(join(dir, 'lib', 'answer.ts'), 'export function answer(): i32 { return 42; }\n');
  const b = new WebAssembly.Instance(new WebAssembly.Module(await buildAssemblyScript(entry)), { env: { abort() {} } });
  assert.equal((b.exports.get as () => number)(), 42);
});

test('a compile error throws WasmBuildError whose message has file:line:col and the diagnostic', async (t) => {
  const dir = tmp(t);
  const entry = join(dir, 'broken.ts');
  writeFileSync(entry, 'export function f(): i32 {\n  return 1;\n}\nexport function g(): i32 {\n  return notDefined;\n}\n');
  await assert.rejects(buildAssemblyScript(entry), (err: unknown) => {
    assert.ok(err instanceof WasmBuildError);
    assert.match(err.message, /broken\.ts:5:10: ERROR TS2304: Cannot find name 'notDefined'/);
    return true;
  });
});

test('rejects a relative entry path', async () => {
  await assert.rejects(buildAssemblyScript('minimal.ts'), /absolute path/);
});

test('lib/guest.ts declares every env host function with the signature in abi/imports.ts', async (t) => {
  const libPath = join(FIXTURES, 'lib', 'guest.ts');
  const lib = readFileSync(libPath, 'utf8');
  const decls = [...lib.matchAll(/@external\("env", "(\w+)"\)[^\n]*\nexport declare function (\w+)\(([^)]*)\)/g)];
  for (const [, external, name] of decls) assert.equal(external, name);
  // Everything in env except AssemblyScript's own abort/trace/seed, which the compiler declares.
  assert.deepEqual(
    decls.map((d) => d[1]).sort(),
    [...PROXY_IMPORTS, ...ENV_HELPER_IMPORTS].map((s) => s.name).filter((n) => !['abort', 'trace', 'seed'].includes(n)).sort(),
  );
  // Call each one (with zeros) so asc emits every import, then compare the emitted signatures.
  const dir = tmp(t);
  const spec = relative(dir, join(FIXTURES, 'lib', 'guest')).split('\\').join('/');
  const calls = decls.map(([, , name, params]) => `  g.${name}(${params.trim() === '' ? '' : params.split(',').map(() => '0').join(', ')});`);
  const entry = join(dir, 'all-imports.ts');
  writeFileSync(
    entry,
    `import * as g from "${spec}";\nexport { proxy_on_memory_allocate } from "${spec}";\n` +
      `export function proxy_abi_version_0_2_1(): void {}\nexport function callAll(): void {\n${calls.join('\n')}\n}\n`,
  );
  const info = parseWasmModule(await buildAssemblyScript(entry));
  const env = info.imports.filter((i) => i.module === 'env' && i.name !== 'abort');
  assert.equal(env.length, decls.length);
  for (const imp of env) {
    const row = providedImport(imp.module, imp.name);
    assert.ok(row && imp.type && sameFuncType(row, imp.type), `${imp.name}: ${imp.type && formatFuncType(imp.type)}`);
  }
});
