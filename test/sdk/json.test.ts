import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { buildSdkFilter } from '../helpers/sdk-build.ts';
import { prng } from '../helpers/prng.ts';

/**
 * The SDK's JSON reader (sdk/assembly/json.ts), run in its compiled form: the json-probe fixture
 * exports functions this test calls directly. The reader makes no host calls, so the module's
 * proxy-wasm imports are linked to stubs that answer Ok.
 */
const wasm = await buildSdkFilter(fileURLToPath(new URL('../fixtures/sdk/json-probe.ts', import.meta.url)));
const module = new WebAssembly.Module(wasm);

interface Probe {
  describe(text: string): string;
  fields(text: string): string;
}

function instantiate(): Probe {
  const env: Record<string, () => number> = {};
  for (const i of WebAssembly.Module.imports(module)) if (i.kind === 'function') env[i.name] = () => 0;
  const instance = new WebAssembly.Instance(module, { env });
  const ex = instance.exports as Record<string, unknown>;
  const memory = ex.memory as WebAssembly.Memory;
  (ex._initialize as () => void)();
  const alloc = ex.proxy_on_memory_allocate as (n: number) => number;
  const call = (fn: unknown, text: string): string => {
    const bytes = new TextEncoder().encode(text);
    const ptr = alloc(Math.max(bytes.length, 1)) >>> 0;
    new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
    const out = (fn as (p: number, n: number) => number)(ptr, bytes.length) >>> 0;
    const len = new DataView(memory.buffer).getUint32(out, true);
    return new TextDecoder().decode(new Uint8Array(memory.buffer, out + 4, len));
  };
  return { describe: (t) => call(ex.json_describe, t), fields: (t) => call(ex.json_fields, t) };
}

const probe = instantiate();

const VALID = [
  'null',
  'true',
  ' false ',
  '0',
  '-0',
  '42',
  '-17',
  '3.5',
  '-2.25',
  '1e3',
  '2.5E-1',
  '12345678901234',
  '""',
  '"plain"',
  '"esc \\" \\\\ \\/ \\b \\f \\n \\r \\t"',
  '"\\u0041\\u00e9\\u20ac"',
  '"\\ud83d\\ude00 and 😀 and é"',
  '"ctrl \\u0001"',
  '[]',
  '[1, "two", [3, [4]], {"five": 5}]',
  '{}',
  '{"a": 1, "b": [true, false, null], "c": {"d": "e"}}',
  '\n\t {"spaced" : [ 1 , 2 ] } \r\n',
];

for (const text of VALID) {
  test(`the JSON reader parses ${JSON.stringify(text)} as JSON.parse does`, () => {
    assert.equal(probe.describe(text), JSON.stringify(JSON.parse(text)));
  });
}

const INVALID: [string, RegExp][] = [
  ['', /unexpected end of input at offset 0/],
  ['   ', /unexpected end of input/],
  ['{', /expected a member name|unterminated object/],
  ['{"a" 1}', /expected ':' at offset 5/],
  ['{"a": 1,}', /expected a member name/],
  ['[1, 2', /unterminated array/],
  ['[1 2]', /expected ',' or '\]'/],
  ['"abc', /unterminated string/],
  ['"bad \\x escape"', /bad escape/],
  ['"\\u12G4"', /bad \\u escape/],
  ['"tab\tinside"', /control character in string/],
  ['01', /bad number/],
  ['-', /bad number/],
  ['1.', /bad number/],
  ['1e', /bad number/],
  ['tru', /unexpected character 't'/],
  ['nul', /unexpected character 'n'/],
  ['{"a": 1} x', /unexpected text after the value at offset 9/],
  ["{'a': 1}", /expected a member name/],
];

for (const [text, why] of INVALID) {
  test(`the JSON reader rejects ${JSON.stringify(text)} with a reason and an offset`, () => {
    const out = probe.describe(text);
    assert.ok(out.startsWith('!'), `parsed as ${out}`);
    assert.match(out, why);
    assert.match(out, /at offset \d+$/);
  });
}

test('the JSON reader accepts nesting up to 64 levels and refuses deeper input without exhausting the stack', () => {
  const ok = '['.repeat(64) + ']'.repeat(64);
  assert.equal(probe.describe(ok), ok);
  assert.match(probe.describe('['.repeat(65) + ']'.repeat(65)), /^!nesting deeper than 64/);
  assert.match(probe.describe('{"a":'.repeat(100_000)), /^!nesting deeper than 64/);
});

test('typed accessors return members of the right kind and fall back otherwise', () => {
  const text = JSON.stringify({ s: 'str', i: 7.9, b: true, n: 2.5, x: null, arr: ['p', 1, 'q', null], s2: 1 });
  assert.equal(probe.fields(text), 'str|7|true|2.5|has-x|7|p+q|s,i,b,n,x,arr,s2|missing-null|at-null');
  const wrongKinds = JSON.stringify({ s: 1, i: 'seven', b: 'yes', n: false, arr: 'notarray' });
  assert.equal(probe.fields(wrongKinds), 'dflt|-1|false|-1|no-x|5||s,i,b,n,arr|missing-null|at-null');
});

test('a repeated member keeps its last value and its first position', () => {
  assert.equal(probe.describe('{"a": 1, "b": 2, "a": 3}'), '{"a":3,"b":2}');
});

test('arbitrary generated JSON round-trips through the reader (seeded)', () => {
  const rand = prng(20240521);
  const gen = (depth: number): unknown => {
    const k = Math.floor(rand() * (depth > 4 ? 4 : 7));
    if (k === 0) return null;
    if (k === 1) return rand() < 0.5;
    if (k === 2) return Math.floor(rand() * 2_000_000) - 1_000_000;
    if (k === 3) return Array.from({ length: Math.floor(rand() * 12) }, () => String.fromCharCode(0x20 + Math.floor(rand() * 0x3000))).join('');
    if (k === 4) return Math.floor(rand() * 1000) / 8;
    if (k === 5) return Array.from({ length: Math.floor(rand() * 4) }, () => gen(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(rand() * 4); i > 0; i--) o[`k${Math.floor(rand() * 100)}`] = gen(depth + 1);
    return o;
  };
  for (let i = 0; i < 300; i++) {
    const text = JSON.stringify(gen(0));
    assert.equal(probe.describe(text), text, `case ${i}`);
  }
});
