import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseWasmModule,
  WasmParseError,
  hasWasmMagic,
  formatFuncType,
  sameFuncType,
  type WasmModuleInfo,
} from '../../abi/wasm-binary.ts';
import { prng } from '../helpers/prng.ts';

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/**
 * Golden module, annotated byte by byte:
 *   (type (func (param i32 i32 i32) (result i32)))   ;; 0: proxy_log
 *   (type (func (param i32 i64) (result i32)))       ;; 1: proxy_increment_metric
 *   (type (func))                                    ;; 2
 *   (import "env" "proxy_log" (func (type 0)))
 *   (import "env" "proxy_increment_metric" (func (type 1)))
 *   (func (type 2))  (func (type 2))                 ;; 2: marker, 3: start
 *   (memory 2 16)
 *   (export "proxy_abi_version_0_2_1" (func 2))
 *   (export "memory" (memory 0))
 *   (start 3)
 *   (custom "name" ...)
 */
const GOLDEN = new Uint8Array([
  ...HEADER,
  // type section: id 1, size 17, 3 types
  0x01, 17, 3,
  0x60, 3, 0x7f, 0x7f, 0x7f, 1, 0x7f, // (i32 i32 i32) -> i32
  0x60, 2, 0x7f, 0x7e, 1, 0x7f, //       (i32 i64) -> i32
  0x60, 0, 0, //                         () -> ()
  // import section: id 2, size 46, 2 imports
  0x02, 46, 2,
  3, ...ascii('env'), 9, ...ascii('proxy_log'), 0x00, 0,
  3, ...ascii('env'), 22, ...ascii('proxy_increment_metric'), 0x00, 1,
  // function section: id 3, size 3, 2 functions of type 2
  0x03, 3, 2, 2, 2,
  // memory section: id 5, size 4, 1 memory, flags 1 (has max), min 2, max 16
  0x05, 4, 1, 0x01, 2, 16,
  // export section: id 7, size 36
  0x07, 36, 2,
  23, ...ascii('proxy_abi_version_0_2_1'), 0x00, 2,
  6, ...ascii('memory'), 0x02, 0,
  // start section: id 8, size 1, func 3
  0x08, 1, 3,
  // code section: id 10, size 7, 2 bodies: size 2, 0 locals, end
  0x0a, 7, 2, 2, 0, 0x0b, 2, 0, 0x0b,
  // custom section: id 0, size 6, name "name" + 1 payload byte
  0x00, 6, 4, ...ascii('name'), 0x00,
]);

function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function section(id: number, payload: number[]): number[] {
  return [id, ...leb(payload.length), ...payload];
}

function str(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...leb(b.length), ...b];
}

function module(...sections: number[][]): Uint8Array {
  return new Uint8Array([...HEADER, ...sections.flat()]);
}

function parseError(bytes: Uint8Array): WasmParseError {
  try {
    parseWasmModule(bytes);
  } catch (err) {
    if (err instanceof WasmParseError) return err;
    throw err;
  }
  assert.fail('expected a WasmParseError');
}

test('the golden module is valid for V8 and parses to its types, imports, exports, memory, start and custom sections', () => {
  assert.ok(WebAssembly.validate(GOLDEN));
  const info = parseWasmModule(GOLDEN);
  assert.equal(info.version, 1);
  assert.deepEqual(info.types, [
    { params: ['i32', 'i32', 'i32'], results: ['i32'] },
    { params: ['i32', 'i64'], results: ['i32'] },
    { params: [], results: [] },
  ]);
  assert.deepEqual(info.imports, [
    { module: 'env', name: 'proxy_log', kind: 'function', typeIndex: 0, type: info.types[0] },
    { module: 'env', name: 'proxy_increment_metric', kind: 'function', typeIndex: 1, type: info.types[1] },
  ]);
  assert.deepEqual(info.functionTypeIndices, [2, 2]);
  assert.deepEqual(info.exports, [
    { name: 'proxy_abi_version_0_2_1', kind: 'function', index: 2, type: { params: [], results: [] } },
    { name: 'memory', kind: 'memory', index: 0 },
  ]);
  assert.deepEqual(info.memories, [
    { index: 0, exportNames: ['memory'], limits: { initial: 2, maximum: 16, shared: false, index64: false } },
  ]);
  assert.equal(info.startFunction, 3);
  assert.deepEqual(info.customSectionNames, ['name']);
  assert.deepEqual(
    info.sections.map((s) => s.id),
    [1, 2, 3, 5, 7, 8, 10, 0],
  );
  // Same import/export names as V8 sees.
  const mod = new WebAssembly.Module(GOLDEN);
  assert.deepEqual(
    info.imports.map((i) => [i.module, i.name, i.kind]),
    WebAssembly.Module.imports(mod).map((i) => [i.module, i.name, i.kind]),
  );
  assert.deepEqual(
    info.exports.map((e) => [e.name, e.kind]),
    WebAssembly.Module.exports(mod).map((e) => [e.name, e.kind]),
  );
});

test('the smallest module (header only) has nothing in it', () => {
  const info = parseWasmModule(new Uint8Array(HEADER));
  assert.deepEqual(info, {
    version: 1,
    types: [],
    imports: [],
    functionTypeIndices: [],
    exports: [],
    memories: [],
    startFunction: undefined,
    customSectionNames: [],
    sections: [],
  } satisfies WasmModuleInfo);
});

test('an imported memory is listed first with its limits and import name; a defined one follows', () => {
  const bytes = module(
    // (import "env" "memory" (memory 1)) ; (import "env" "tbl" (table 0 funcref)) ; (import "env" "g" (global (mut i32)))
    section(2, [3, ...str('env'), ...str('memory'), 0x02, 0x00, 1, ...str('env'), ...str('tbl'), 0x01, 0x70, 0x00, 0, ...str('env'), ...str('g'), 0x03, 0x7f, 0x01]),
    // (memory 0 65536) — LEB128 multi-byte maximum
    section(5, [1, 0x01, 0, ...leb(65536)]),
    section(7, [1, ...str('mem'), 0x02, 1]),
  );
  // Two memories need multi-memory; V8 in Node 24 accepts it.
  const info = parseWasmModule(bytes);
  assert.deepEqual(info.memories, [
    { index: 0, import: { module: 'env', name: 'memory' }, exportNames: [], limits: { initial: 1, maximum: undefined, shared: false, index64: false } },
    { index: 1, exportNames: ['mem'], limits: { initial: 0, maximum: 65536, shared: false, index64: false } },
  ]);
  assert.deepEqual(info.imports[1], { module: 'env', name: 'tbl', kind: 'table', elementType: 'funcref', limits: { initial: 0, maximum: undefined, shared: false, index64: false } });
  assert.deepEqual(info.imports[2], { module: 'env', name: 'g', kind: 'global', global: { type: 'i32', mutable: true } });
});

test('shared and memory64 limits are decoded from the flags byte', () => {
  const shared = parseWasmModule(module(section(5, [1, 0x03, 1, 4])));
  assert.deepEqual(shared.memories[0].limits, { initial: 1, maximum: 4, shared: true, index64: false });
  const m64 = parseWasmModule(module(section(5, [1, 0x05, 1, ...leb(2 ** 40)])));
  assert.deepEqual(m64.memories[0].limits, { initial: 1, maximum: 2 ** 40, shared: false, index64: true });
});

test('UTF-8 names are decoded; an export of an imported function gets the import signature', () => {
  const bytes = module(
    section(1, [1, 0x60, 1, 0x7c, 1, 0x7d]), // (f64) -> f32
    section(2, [1, ...str('wasi_unstable'), ...str('größe'), 0x00, 0]),
    section(7, [1, ...str('ré-export'), 0x00, 0]),
  );
  assert.ok(WebAssembly.validate(bytes));
  const info = parseWasmModule(bytes);
  assert.equal(info.imports[0].name, 'größe');
  assert.deepEqual(info.exports[0], { name: 'ré-export', kind: 'function', index: 0, type: { params: ['f64'], results: ['f32'] } });
});

test('GC recursion groups, struct/array types and typed references parse; non-function slots are null', () => {
  const bytes = module(
    section(1, [
      2,
      // (rec (type (struct (field (mut i32)))) (type (func (param (ref null 0)) (result anyref))))
      0x4e, 2, 0x5f, 1, 0x7f, 0x01, 0x60, 1, 0x63, 0x00, 1, 0x6e,
      // (type (sub final (array i8)))
      0x4f, 0, 0x5e, 0x78, 0x00,
    ]),
    section(2, [1, ...str('env'), ...str('f'), 0x00, 1]),
  );
  assert.ok(WebAssembly.validate(bytes));
  const info = parseWasmModule(bytes);
  assert.deepEqual(info.types, [null, { params: ['(ref null 0)'], results: ['anyref'] }, null]);
  assert.deepEqual(info.imports[0].type, { params: ['(ref null 0)'], results: ['anyref'] });
});

test('an export whose function index does not resolve has no type (V8 would reject the module)', () => {
  const info = parseWasmModule(module(section(7, [1, ...str('f'), 0x00, 9])));
  assert.deepEqual(info.exports, [{ name: 'f', kind: 'function', index: 9 }]);
});

test('formats and compares function types', () => {
  assert.equal(formatFuncType({ params: ['i32', 'i64'], results: ['i32'] }), '(i32, i64) -> i32');
  assert.equal(formatFuncType({ params: [], results: [] }), '() -> ()');
  assert.equal(formatFuncType({ params: [], results: ['i32', 'i32'] }), '() -> (i32, i32)');
  assert.ok(sameFuncType({ params: ['i32'], results: [] }, { params: ['i32'], results: [] }));
  assert.ok(!sameFuncType({ params: ['i32'], results: [] }, { params: ['i64'], results: [] }));
  assert.ok(!sameFuncType({ params: ['i32'], results: [] }, { params: ['i32'], results: ['i32'] }));
});

test('hasWasmMagic checks only the first four bytes', () => {
  assert.ok(hasWasmMagic(GOLDEN));
  assert.ok(!hasWasmMagic(new TextEncoder().encode('#!/bin/sh')));
  assert.ok(!hasWasmMagic(new Uint8Array([0, 0x61])));
});

// Rejections, one per rule, each with the offset of the offending byte.
const REJECTS: { title: string; bytes: Uint8Array; message: RegExp; offset: number }[] = [
  { title: 'empty input', bytes: new Uint8Array(0), message: /shorter than the 8-byte wasm header/, offset: 0 },
  { title: 'text instead of wasm', bytes: new TextEncoder().encode('(module)\n'), message: /magic/, offset: 0 },
  { title: 'version 2', bytes: new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), message: /version 2/, offset: 4 },
  { title: 'section longer than the file', bytes: module([1, 10, 0]), message: /section 1 of 10 bytes exceeds/, offset: 8 },
  { title: 'unknown section id', bytes: module([14, 0]), message: /unknown section id 14/, offset: 8 },
  { title: 'duplicated section', bytes: module(section(1, [0]), section(1, [0])), message: /duplicated or out of order/, offset: 11 },
  { title: 'sections out of order', bytes: module(section(7, [0]), section(2, [0])), message: /out of order/, offset: 11 },
  { title: 'trailing bytes in a section', bytes: module(section(1, [0, 0])), message: /1 unread trailing bytes/, offset: 11 },
  { title: 'count above the remaining bytes', bytes: module(section(1, [100])), message: /type count 100 exceeds/, offset: 10 },
  { title: 'unknown type form', bytes: module(section(1, [1, 0x5d, 0, 0])), message: /unsupported type form 0x5d/, offset: 11 },
  { title: 'negative heap type that is not abstract', bytes: module(section(1, [1, 0x60, 1, 0x63, 0x40, 0])), message: /unsupported heap type 0x40/, offset: 14 },
  { title: 'unknown value type', bytes: module(section(1, [1, 0x60, 1, 0x40, 0])), message: /unsupported value type 0x40/, offset: 13 },
  { title: 'import kind 5', bytes: module(section(2, [1, 0, 0, 5, 0])), message: /invalid import kind 0x5/, offset: 13 },
  { title: 'invalid UTF-8 name', bytes: module(section(2, [1, 1, 0xff, 0, 0x00, 0])), message: /not valid UTF-8/, offset: 11 },
  { title: 'name longer than the section', bytes: module(section(7, [1, 50, 0x61, 0x62, 0x63])), message: /name of 50 bytes exceeds/, offset: 11 },
  { title: 'LEB128 longer than 5 bytes', bytes: module(section(8, [0x80, 0x80, 0x80, 0x80, 0x80, 0])), message: /longer than 5 bytes/, offset: 10 },
  { title: 'LEB128 u32 overflow in the 5th byte', bytes: module(section(8, [0xff, 0xff, 0xff, 0xff, 0x7f])), message: /u32 out of range/, offset: 10 },
  { title: 'invalid limits flags', bytes: module(section(5, [1, 0x08, 0])), message: /invalid limits flags 0x8/, offset: 11 },
  { title: 'truncated section size', bytes: new Uint8Array([...HEADER, 1, 0x80]), message: /unexpected end/, offset: 10 },
];

for (const r of REJECTS) {
  test(`rejects ${r.title} with a WasmParseError at byte ${r.offset}`, () => {
    const err = parseError(r.bytes);
    assert.match(err.message, r.message);
    assert.equal(err.offset, r.offset);
    assert.equal(err.code, 'SLUICE_ERR_WASM_PARSE');
  });
}

test('every truncation of the golden module parses only at a section boundary, else is a WasmParseError', () => {
  const boundaries = new Set([8, ...parseWasmModule(GOLDEN).sections.map((x) => x.offset)]);
  for (let len = 0; len < GOLDEN.length; len++) {
    const cut = GOLDEN.subarray(0, len);
    try {
      parseWasmModule(cut);
      assert.ok(boundaries.has(len), `length ${len} parsed but is not a section boundary`);
    } catch (err) {
      assert.ok(err instanceof WasmParseError, `length ${len}: ${String(err)}`);
      assert.ok(!boundaries.has(len), `length ${len} is a section boundary but was rejected: ${err.message}`);
    }
  }
});

test('bounded fuzz: random byte flips, insertions and garbage never throw anything but WasmParseError', () => {
  const rand = prng(0x5eed_0a51);
  let parsed = 0;
  let rejected = 0;
  for (let i = 0; i < 5000; i++) {
    const bytes = Uint8Array.from(GOLDEN);
    let input: Uint8Array = bytes;
    const mode = i % 4;
    if (mode === 0) {
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) bytes[8 + Math.floor(rand() * (bytes.length - 8))] = Math.floor(rand() * 256);
    } else if (mode === 1) {
      const at = 8 + Math.floor(rand() * (bytes.length - 8));
      const extra = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256));
      input = new Uint8Array([...bytes.subarray(0, at), ...extra, ...bytes.subarray(at)]);
    } else if (mode === 2) {
      input = new Uint8Array([...HEADER, ...Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256))]);
    } else {
      // Huge LEB counts where a small one was: must be rejected before allocating.
      const at = 8 + Math.floor(rand() * (bytes.length - 8));
      input = new Uint8Array([...bytes.subarray(0, at), 0xff, 0xff, 0xff, 0xff, 0x0f, ...bytes.subarray(at + 1)]);
    }
    try {
      parseWasmModule(input);
      parsed++;
    } catch (err) {
      assert.ok(err instanceof WasmParseError, `iteration ${i}: ${String(err)}`);
      assert.ok(err.offset >= 0 && err.offset <= input.length, `iteration ${i}: offset ${err.offset}`);
      rejected++;
    }
  }
  assert.ok(parsed > 0 && rejected > 0, `parsed ${parsed}, rejected ${rejected}`);
});

test('anything V8 accepts in the fuzz corpus, the parser accepts with the same imports and exports', () => {
  const rand = prng(42);
  let compared = 0;
  for (let i = 0; i < 3000; i++) {
    const bytes = Uint8Array.from(GOLDEN);
    bytes[8 + Math.floor(rand() * (bytes.length - 8))] = Math.floor(rand() * 256);
    if (!WebAssembly.validate(bytes)) continue;
    const info = parseWasmModule(bytes);
    const mod = new WebAssembly.Module(bytes);
    assert.deepEqual(
      info.imports.map((x) => `${x.module}.${x.name}:${x.kind}`),
      WebAssembly.Module.imports(mod).map((x) => `${x.module}.${x.name}:${x.kind}`),
    );
    assert.deepEqual(
      info.exports.map((x) => `${x.name}:${x.kind}`),
      WebAssembly.Module.exports(mod).map((x) => `${x.name}:${x.kind}`),
    );
    compared++;
  }
  assert.ok(compared > 0);
});
