import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI } from '../helpers/cli.ts';
import { buildAssemblyScript } from '../helpers/wasm-build.ts';
import type { WasmInspection } from '../../runtime/wasm/inspect.ts';

const MINIMAL = fileURLToPath(new URL('../fixtures/wasm/minimal.ts', import.meta.url));

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-inspect-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function inspect(...args: string[]) {
  return spawnSync(process.execPath, [CLI, 'inspect', ...args], { encoding: 'utf8', timeout: 30_000 });
}

async function minimalFile(dir: string): Promise<{ file: string; wasm: Uint8Array }> {
  const wasm = await buildAssemblyScript(MINIMAL);
  const file = join(dir, 'minimal.wasm');
  writeFileSync(file, wasm);
  return { file, wasm };
}

test('inspect prints ABI version, exports, imports, memory, size, sha256 and start section for an AS module', async (t) => {
  const { file, wasm } = await minimalFile(tmp(t));
  const r = inspect(file);
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^abi: +0\.2\.1 \(export proxy_abi_version_0_2_1\)$/m);
  assert.match(out, new RegExp(`^size: +${wasm.length} bytes$`, 'm'));
  assert.match(out, new RegExp(`^sha256: +${createHash('sha256').update(wasm).digest('hex')}$`, 'm'));
  assert.match(out, /^start: +no start section$/m);
  assert.match(out, /^memory: +memory 0: defined, exported as "memory"; initial 1 page \(64 KiB\), no maximum$/m);
  assert.match(out, /^ +function proxy_on_request_headers \(i32, i32, i32\) -> i32$/m);
  assert.match(out, /^ +function env\.proxy_log \(i32, i32, i32\) -> i32$/m);
  assert.match(out, /^problems: none$/m);
  assert.doesNotMatch(out, /NOT PROVIDED|MISMATCH/);
});

test('inspect --json prints one JSON object with the same facts', async (t) => {
  const { file, wasm } = await minimalFile(tmp(t));
  const r = inspect(file, '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1);
  const j = JSON.parse(r.stdout) as WasmInspection & { file: string };
  assert.equal(j.file, file);
  assert.equal(j.sizeBytes, wasm.length);
  assert.equal(j.sha256, createHash('sha256').update(wasm).digest('hex'));
  assert.equal(j.valid, true);
  assert.equal(j.abi.version, '0.2.1');
  assert.equal(j.hasStartSection, false);
  assert.deepEqual(j.memories, [{ index: 0, imported: null, exportedAs: ['memory'], initialPages: 1, maximumPages: null, shared: false, memory64: false }]);
  assert.deepEqual(
    j.imports.map((i) => [i.module, i.name, i.provided]).sort(),
    [
      ['env', 'abort', true],
      ['env', 'proxy_log', true],
    ],
  );
  assert.deepEqual(j.exports.find((e) => e.name === 'proxy_on_memory_allocate'), { name: 'proxy_on_memory_allocate', kind: 'function', signature: '(i32) -> i32', known: true });
  assert.deepEqual(j.problems, []);
});

test('inspect marks imports Sluice does not provide and signature mismatches, and lists the problems', async (t) => {
  const dir = tmp(t);
  const src = join(dir, 'odd.ts');
  writeFileSync(
    src,
    [
      '@external("env", "proxy_log") declare function proxy_log(level: i32): u32;',
      '@external("env", "my_host_fn") declare function my_host_fn(): void;',
      'export function proxy_abi_version_0_2_0(): void {}',
      'export function malloc(size: usize): usize { return heap.alloc(size); }',
      'export function proxy_on_request_headers(c: u32, n: u32): u32 { proxy_log(1); my_host_fn(); return 0; }',
      '',
    ].join('\n'),
  );
  const file = join(dir, 'odd.wasm');
  writeFileSync(file, await buildAssemblyScript(src));
  const r = inspect(file);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /env\.my_host_fn \(\) -> \(\) +NOT PROVIDED by Sluice$/m);
  assert.match(r.stdout, /env\.proxy_log \(i32\) -> i32 +SIGNATURE MISMATCH: Sluice provides \(i32, i32, i32\) -> i32$/m);
  assert.match(r.stdout, /^ +error: proxy_on_request_headers: exports proxy_on_request_headers as \(i32, i32\) -> i32/m);

  const j = JSON.parse(inspect(file, '--json').stdout) as WasmInspection;
  assert.deepEqual(
    j.problems.map((p) => [p.severity, p.code, p.subject]),
    [
      ['error', 'import-signature-mismatch', 'env.proxy_log'],
      ['error', 'unknown-import', 'env.my_host_fn'],
      ['error', 'export-signature-mismatch', 'proxy_on_request_headers'],
    ],
  );
  assert.equal(j.imports.find((i) => i.name === 'proxy_log')?.expectedSignature, '(i32, i32, i32) -> i32');
});

test('inspect reports a start section and a module without ABI marker', (t) => {
  const dir = tmp(t);
  const file = join(dir, 'start.wasm');
  // (module (func) (start 0)): type, function, start, code sections.
  writeFileSync(file, new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 8, 1, 0, 10, 4, 1, 2, 0, 0x0b]));
  const r = inspect(file);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^start: +yes/m);
  assert.match(r.stdout, /^abi: +none \(no proxy_abi_version_\* export/m);
  assert.match(r.stdout, /^memory: +none$/m);
  assert.match(r.stdout, /missing-abi-marker|no single supported ABI marker/);
});

test('inspect exits 1 with a clear message for a file that is not wasm', (t) => {
  const file = join(tmp(t), 'garbage.wasm');
  writeFileSync(file, 'this is not a wasm module\n');
  const r = inspect(file);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /garbage\.wasm is not a WebAssembly module: missing wasm magic number/);
});

test('inspect exits 1 for a truncated module and for one V8 rejects (after printing what it could read)', (t) => {
  const dir = tmp(t);
  const truncated = join(dir, 'truncated.wasm');
  writeFileSync(truncated, new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 10, 1]));
  const a = inspect(truncated);
  assert.equal(a.status, 1);
  assert.match(a.stderr, /is not a WebAssembly module: section 1 of 10 bytes exceeds/);

  // A function section without a code section parses structurally but does not compile.
  const invalid = join(dir, 'invalid.wasm');
  writeFileSync(invalid, new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0]));
  const b = inspect(invalid);
  assert.equal(b.status, 1);
  assert.match(b.stdout, /^valid: +NO — V8 rejects it: /m);
  assert.match(b.stderr, /invalid\.wasm is not a valid WebAssembly module: /);
});

test('inspect exits 1 for a missing file and 2 without a FILE argument', (t) => {
  const r = inspect(join(tmp(t), 'nope.wasm'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot read .*nope\.wasm: no such file/);
  const u = inspect();
  assert.equal(u.status, 2);
  assert.match(u.stderr, /inspect takes exactly one FILE\.wasm/);
});
