import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HOST_IMPORTS,
  PROXY_IMPORTS,
  ENV_HELPER_IMPORTS,
  WASI_IMPORTS,
  GUEST_EXPORTS,
  providedImport,
  knownExports,
  describeImportProblems,
  describeExportProblems,
  type ImportDescriptor,
  type ExportDescriptor,
} from '../../abi/imports.ts';
import type { FuncType } from '../../abi/wasm-binary.ts';
import { createProxyWasmImports } from '../../abi/host-functions.ts';
import { createWasiImports } from '../../abi/wasi.ts';
import { createAssemblyScriptImports } from '../../abi/assemblyscript.ts';

const fn = (params: FuncType['params'], results: FuncType['results'] = ['i32']): FuncType => ({ params, results });
const i32s = (n: number) => Array.from({ length: n }, () => 'i32' as const);

test('each (module, name) appears once in the host import table', () => {
  const keys = HOST_IMPORTS.map((s) => `${s.module}.${s.name}`);
  assert.equal(new Set(keys).size, keys.length);
});

test('every proxy_* host function is in env, returns one i32 status, and only the metric setters take an i64', () => {
  for (const s of PROXY_IMPORTS) {
    assert.equal(s.module, 'env');
    assert.match(s.name, /^proxy_/);
    assert.deepEqual(s.results, ['i32'], s.name);
    assert.ok(s.params.every((p) => p === 'i32' || p === 'i64'), s.name);
  }
  assert.deepEqual(
    PROXY_IMPORTS.filter((s) => s.params.includes('i64')).map((s) => s.name).sort(),
    ['proxy_increment_metric', 'proxy_record_metric'],
  );
});

test('version-specific proxy functions are tagged with the ABI versions that link them', () => {
  const byVersions = (v: string) => PROXY_IMPORTS.filter((s) => s.abiVersions?.join(',') === v).map((s) => s.name).sort();
  assert.deepEqual(byVersions('0.1.0'), ['proxy_clear_route_cache', 'proxy_continue_request', 'proxy_continue_response', 'proxy_get_configuration']);
  assert.deepEqual(byVersions('0.2.0,0.2.1'), ['proxy_close_stream', 'proxy_continue_stream']);
  assert.deepEqual(byVersions('0.2.1'), ['proxy_get_log_level']);
  assert.equal(PROXY_IMPORTS.filter((s) => s.abiVersions?.length === 3).length, PROXY_IMPORTS.length - 7);
});

test('signatures of representative rows match proxy-wasm-abi.md §3 and §3.14', () => {
  const sig = (module: string, name: string) => {
    const s = providedImport(module, name);
    assert.ok(s, `${module}.${name}`);
    return { params: s.params, results: s.results };
  };
  assert.deepEqual(sig('env', 'proxy_log'), fn(i32s(3)));
  assert.deepEqual(sig('env', 'proxy_send_local_response'), fn(i32s(8)));
  assert.deepEqual(sig('env', 'proxy_http_call'), fn(i32s(10)));
  assert.deepEqual(sig('env', 'proxy_grpc_call'), fn(i32s(12)));
  assert.deepEqual(sig('env', 'proxy_grpc_stream'), fn(i32s(9)));
  assert.deepEqual(sig('env', 'proxy_call_foreign_function'), fn(i32s(6)));
  assert.deepEqual(sig('env', 'proxy_increment_metric'), fn(['i32', 'i64']));
  assert.deepEqual(sig('env', 'proxy_done'), fn([]));
  assert.deepEqual(sig('env', 'emscripten_notify_memory_growth'), fn(['i32'], []));
  assert.deepEqual(sig('env', 'pthread_equal'), fn(['i32', 'i32']));
  assert.deepEqual(sig('env', 'abort'), fn(i32s(4), []));
  assert.deepEqual(sig('env', 'trace'), fn(['i32', 'i32', 'f64', 'f64', 'f64', 'f64', 'f64'], []));
  assert.deepEqual(sig('env', 'seed'), fn([], ['f64']));
  assert.deepEqual(sig('wasi_snapshot_preview1', 'fd_write'), fn(i32s(4)));
  assert.deepEqual(sig('wasi_snapshot_preview1', 'proc_exit'), fn(['i32'], []));
  assert.deepEqual(sig('wasi_snapshot_preview1', 'path_open'), fn(['i32', 'i32', 'i32', 'i32', 'i32', 'i64', 'i64', 'i32', 'i32']));
  assert.deepEqual(sig('wasi_unstable', 'clock_time_get'), fn(['i32', 'i64', 'i32']));
  assert.equal(providedImport('env', 'proxy_nonexistent'), undefined);
  assert.equal(providedImport('wasi_snapshot_preview2', 'fd_write'), undefined);
});

test('WASI rows are identical under wasi_snapshot_preview1 and wasi_unstable, and i64 appears exactly where §1 says', () => {
  const p1 = WASI_IMPORTS.filter((s) => s.module === 'wasi_snapshot_preview1');
  const un = WASI_IMPORTS.filter((s) => s.module === 'wasi_unstable');
  assert.deepEqual(
    p1.map((s) => [s.name, s.params, s.results]),
    un.map((s) => [s.name, s.params, s.results]),
  );
  assert.equal(p1.length, 46);
  assert.deepEqual(
    p1.filter((s) => s.params.includes('i64')).map((s) => s.name).sort(),
    [
      'clock_time_get',
      'fd_advise',
      'fd_allocate',
      'fd_fdstat_set_rights',
      'fd_filestat_set_size',
      'fd_filestat_set_times',
      'fd_pread',
      'fd_pwrite',
      'fd_readdir',
      'fd_seek',
      'path_filestat_set_times',
      'path_open',
    ],
  );
  for (const s of p1) assert.deepEqual(s.results, s.name === 'proc_exit' ? [] : ['i32'], s.name);
});

test('the table names exactly the functions the host implementations provide (abi/host-functions, wasi, assemblyscript)', () => {
  // Keys only: the factories do not touch their host argument until a function is called.
  const env = new Set([
    ...Object.keys(createProxyWasmImports({} as never)),
    ...Object.keys(createAssemblyScriptImports({} as never)),
  ]);
  const wasi = new Set(Object.keys(createWasiImports({} as never)));
  const envRows = [...PROXY_IMPORTS, ...ENV_HELPER_IMPORTS].map((s) => s.name);
  assert.deepEqual([...env].sort(), [...envRows].sort());
  assert.deepEqual([...wasi].sort(), WASI_IMPORTS.filter((s) => s.module === 'wasi_snapshot_preview1').map((s) => s.name).sort());
});

test('describeImportProblems accepts every provided function with its signature, env.memory, and no-signature descriptors', () => {
  const imports: ImportDescriptor[] = [
    ...HOST_IMPORTS.filter((s) => s.abiVersions === undefined || s.abiVersions.includes('0.2.1')).map((s) => ({
      module: s.module,
      name: s.name,
      kind: 'function',
      type: { params: s.params, results: s.results },
    })),
    { module: 'env', name: 'memory', kind: 'memory' },
    { module: 'env', name: 'proxy_log', kind: 'function' }, // from WebAssembly.Module.imports: no type
  ];
  assert.deepEqual(describeImportProblems(imports, '0.2.1'), []);
});

test('describeImportProblems reports unknown functions, signature mismatches and unsupported import kinds as errors', () => {
  const problems = describeImportProblems(
    [
      { module: 'env', name: 'proxy_frobnicate', kind: 'function', type: fn([]) },
      { module: 'wasi_snapshot_preview2', name: 'fd_write', kind: 'function' },
      { module: 'env', name: 'proxy_log', kind: 'function', type: fn(i32s(2)) },
      { module: 'env', name: 'proxy_increment_metric', kind: 'function', type: fn(['i32', 'i32']) },
      { module: 'env', name: 'mem', kind: 'memory' },
      { module: 'env', name: '__indirect_function_table', kind: 'table' },
      { module: 'env', name: '__stack_pointer', kind: 'global' },
    ],
    '0.2.0',
  );
  assert.deepEqual(
    problems.map((p) => [p.severity, p.code, p.subject]),
    [
      ['error', 'unknown-import', 'env.proxy_frobnicate'],
      ['error', 'unknown-import', 'wasi_snapshot_preview2.fd_write'],
      ['error', 'import-signature-mismatch', 'env.proxy_log'],
      ['error', 'import-signature-mismatch', 'env.proxy_increment_metric'],
      ['error', 'unsupported-import-kind', 'env.mem'],
      ['error', 'unsupported-import-kind', 'env.__indirect_function_table'],
      ['error', 'unsupported-import-kind', 'env.__stack_pointer'],
    ],
  );
  assert.match(problems[2].message, /env\.proxy_log as \(i32, i32\) -> i32; Sluice provides \(i32, i32, i32\) -> i32/);
});

test('the solo-io gRPC arities are accepted; other arities are not', () => {
  assert.deepEqual(
    describeImportProblems([
      { module: 'env', name: 'proxy_grpc_call', kind: 'function', type: fn(i32s(10)) },
      { module: 'env', name: 'proxy_grpc_stream', kind: 'function', type: fn(i32s(7)) },
    ]),
    [],
  );
  assert.equal(describeImportProblems([{ module: 'env', name: 'proxy_grpc_call', kind: 'function', type: fn(i32s(11)) }])[0].code, 'import-signature-mismatch');
});

test('an import belonging to another ABI version is a warning, and only when the version is known', () => {
  const imports: ImportDescriptor[] = [
    { module: 'env', name: 'proxy_get_log_level', kind: 'function', type: fn(['i32']) },
    { module: 'env', name: 'proxy_continue_request', kind: 'function', type: fn([]) },
  ];
  assert.deepEqual(
    describeImportProblems(imports, '0.2.0').map((p) => [p.severity, p.code, p.subject]),
    [
      ['warning', 'import-not-linked-for-abi', 'env.proxy_get_log_level'],
      ['warning', 'import-not-linked-for-abi', 'env.proxy_continue_request'],
    ],
  );
  assert.deepEqual(describeImportProblems(imports.slice(1), '0.1.0'), []);
  assert.deepEqual(describeImportProblems(imports, undefined), []);
});

const MINIMAL_EXPORTS: ExportDescriptor[] = [
  { name: 'proxy_abi_version_0_2_1', kind: 'function', type: fn([], []) },
  { name: 'memory', kind: 'memory' },
  { name: 'proxy_on_memory_allocate', kind: 'function', type: fn(['i32']) },
];

test('describeExportProblems accepts a marker, a memory and an allocator', () => {
  assert.deepEqual(describeExportProblems(MINIMAL_EXPORTS, '0.2.1'), []);
  const withMalloc = MINIMAL_EXPORTS.map((e) => (e.name === 'proxy_on_memory_allocate' ? { ...e, name: 'malloc' } : e));
  assert.deepEqual(describeExportProblems(withMalloc, '0.2.1'), []);
  const noMemory = MINIMAL_EXPORTS.filter((e) => e.kind !== 'memory');
  assert.deepEqual(describeExportProblems(noMemory, '0.2.1', true), [], 'an imported env.memory counts');
});

test('describeExportProblems reports a missing marker, memory and allocator', () => {
  const problems = describeExportProblems([{ name: 'proxy_on_tick', kind: 'function' }], undefined);
  assert.deepEqual(problems.map((p) => p.code), ['missing-abi-marker', 'missing-memory', 'missing-allocator']);
  assert.ok(problems.every((p) => p.severity === 'error'));
});

test('header callbacks are checked against the arity of the declared ABI version', () => {
  const headers = (n: number): ExportDescriptor => ({ name: 'proxy_on_request_headers', kind: 'function', type: fn(i32s(n)) });
  assert.deepEqual(describeExportProblems([...MINIMAL_EXPORTS, headers(3)], '0.2.0'), []);
  assert.deepEqual(describeExportProblems([...MINIMAL_EXPORTS, headers(2)], '0.1.0'), []);
  const wrong = describeExportProblems([...MINIMAL_EXPORTS, headers(2)], '0.2.1');
  assert.deepEqual(wrong.map((p) => [p.code, p.subject]), [['export-signature-mismatch', 'proxy_on_request_headers']]);
  assert.match(wrong[0].message, /as \(i32, i32\) -> i32; the host calls it as \(i32, i32, i32\) -> i32/);
  assert.equal(describeExportProblems([...MINIMAL_EXPORTS, headers(3)], '0.1.0')[0].code, 'export-signature-mismatch');
});

test('unknown exports and exports without a type are not checked', () => {
  assert.deepEqual(
    describeExportProblems(
      [...MINIMAL_EXPORTS, { name: 'my_helper', kind: 'function', type: fn(i32s(7)) }, { name: 'proxy_on_log', kind: 'function' }],
      '0.2.0',
    ),
    [],
  );
});

test('the guest export table lists both header-callback arities and the allocator pair', () => {
  assert.deepEqual(knownExports('proxy_on_request_headers', '0.1.0').map((e) => e.params.length), [2]);
  assert.deepEqual(knownExports('proxy_on_response_headers', '0.2.1').map((e) => e.params.length), [3]);
  assert.deepEqual(knownExports('proxy_on_request_headers').map((e) => e.params.length).sort(), [2, 3]);
  assert.deepEqual(knownExports('proxy_on_foreign_function', '0.1.0'), []);
  for (const name of ['malloc', 'proxy_on_memory_allocate']) assert.deepEqual(knownExports(name).map((e) => [e.params, e.results]), [[['i32'], ['i32']]]);
  assert.ok(GUEST_EXPORTS.every((e) => e.params.every((p) => p === 'i32') && e.results.every((r) => r === 'i32')));
});
