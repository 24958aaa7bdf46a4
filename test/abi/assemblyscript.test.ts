import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import asc from 'assemblyscript/asc';
import {
  AS_STRING_MAX_UNITS,
  createAssemblyScriptImports,
  readAssemblyScriptString,
  unreadableString,
  type AssemblyScriptHost,
} from '../../abi/assemblyscript.ts';
import { GuestMemory } from '../../abi/guest-memory.ts';

// tsconfig's lib (esnext) and @types/node do not declare the WebAssembly namespace; the runtime has it.
interface WasmModule {
  readonly __brand: 'module';
}
interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
const { WebAssembly } = globalThis as unknown as {
  WebAssembly: {
    Module: { new (bytes: Uint8Array): WasmModule; imports(m: WasmModule): Array<{ module: string; name: string; kind: string }> };
    Instance: new (m: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  };
};

/** The guest: one tiny module, compiled once, with one export per behaviour. */
const SOURCE = `
export function greeting(): string { return "héllo, wörld 😀"; }
export function empty(): string { return ""; }
export function fail(x: i32): void {
  if (x == 1) abort("bad x: ünïcode 😀", "lib/check.ts", 12, 34);
  if (x == 2) abort();
  assert(x != 3, "assertion failed here");
}
export function traceTwo(): void { trace("two values", 2, 1.5, -2.25); }
export function traceNone(): void { trace("no values"); }
export function random(): f64 { return Math.random() + Math.random(); }
`;

let compiled: Promise<WasmModule> | undefined;

/** Compiles SOURCE with AS's own `abort`/`trace`/`seed` imports (no `--use abort=`), in memory. */
function guestModule(): Promise<WasmModule> {
  compiled ??= asc
    .compileString({ 'guest.ts': SOURCE }, { runtime: 'stub', optimizeLevel: 0, debug: false })
    .then((r) => {
      assert.equal(r.error, null, String(r.stderr));
      assert.ok(r.binary !== null);
      return new WebAssembly.Module(r.binary);
    });
  return compiled;
}

/** What the test host throws from `abort`, keeping the decoded arguments. */
class Aborted extends Error {
  readonly text: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;

  constructor(text: string, file: string, line: number, column: number) {
    super(`${text} in ${file}:${line}:${column}`);
    this.text = text;
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

interface Guest {
  exports: Record<string, (...args: number[]) => number>;
  memory: GuestMemory;
  traces: Array<[string, number[]]>;
  seeds: number;
}

async function instantiate(overrides: Partial<AssemblyScriptHost> = {}): Promise<Guest> {
  const mod = await guestModule();
  let memory: GuestMemory | undefined;
  const guest = { traces: [] as Array<[string, number[]]>, seeds: 0 } as Guest;
  const host: AssemblyScriptHost = {
    memory: () => memory,
    abort: (text, file, line, column) => {
      throw new Aborted(text, file, line, column);
    },
    trace: (text, values) => void guest.traces.push([text, values]),
    seed: () => {
      guest.seeds++;
      return 12345;
    },
    ...overrides,
  };
  const instance = new WebAssembly.Instance(mod, { env: createAssemblyScriptImports(host) });
  memory = new GuestMemory(instance.exports.memory as { buffer: ArrayBuffer });
  guest.exports = instance.exports as Guest['exports'];
  guest.memory = memory;
  return guest;
}

describe('a module compiled by asc 0.28 without a custom abort', () => {
  test('imports exactly env.abort, env.trace and env.seed, which the factory provides', async () => {
    const imports = WebAssembly.Module.imports(await guestModule());
    assert.deepEqual(imports.map((i) => `${i.module}.${i.name}`).sort(), ['env.abort', 'env.seed', 'env.trace']);
    const provided = createAssemblyScriptImports({} as AssemblyScriptHost);
    assert.deepEqual(Object.keys(provided).sort(), ['abort', 'seed', 'trace']);
  });

  test('stores strings as UTF-16LE with the byte length in the u32 before them', async () => {
    const g = await instantiate();
    const ptr = g.exports.greeting() >>> 0;
    const text = 'héllo, wörld 😀';
    assert.equal(g.memory.readU32(ptr - 4), text.length * 2);
    assert.equal(readAssemblyScriptString(g.memory, ptr), text);
    assert.equal(readAssemblyScriptString(g.memory, g.exports.empty() >>> 0), '');
  });

  test('abort reaches the host with the decoded message, file, line and column', async () => {
    const g = await instantiate();
    assert.throws(
      () => g.exports.fail(1),
      (e: unknown) =>
        e instanceof Aborted && e.message === 'bad x: ünïcode 😀 in lib/check.ts:12:34',
    );
  });

  test('a failed assert aborts with its message at the source position of the assert', async () => {
    const g = await instantiate();
    assert.throws(
      () => g.exports.fail(3),
      (e: unknown) => e instanceof Aborted && e.text === 'assertion failed here' && e.file === 'guest.ts' && `${e.line}:${e.column}` === '7:3',
    );
  });

  test('abort() without arguments passes null strings, decoded as empty', async () => {
    const g = await instantiate();
    assert.throws(
      () => g.exports.fail(2),
      (e: unknown) => e instanceof Aborted && e.text === '' && e.file === '' && e.line === 0 && e.column === 0,
    );
  });

  test('an abort before the host has memory still traps, with placeholders for the strings', async () => {
    const g = await instantiate({
      memory: () => undefined,
      abort: (text, file) => {
        throw new Aborted(text, file, 0, 0);
      },
    });
    assert.throws(() => g.exports.fail(1), (e: unknown) => e instanceof Aborted && /^<unreadable string at 0x[0-9a-f]+>$/.test(e.text));
  });

  test('trace passes the message and only the first n values', async () => {
    const g = await instantiate();
    g.exports.traceTwo();
    g.exports.traceNone();
    assert.deepEqual(g.traces, [
      ['two values', [1.5, -2.25]],
      ['no values', []],
    ]);
  });

  test('Math.random is seeded once from the host', async () => {
    const g = await instantiate();
    const r = g.exports.random();
    assert.ok(r >= 0 && r < 2);
    assert.equal(g.seeds, 1);
  });
});

describe('readAssemblyScriptString over hand-made memory', () => {
  function memoryWith(at: number, units: string, claimedBytes = units.length * 2): GuestMemory {
    const buffer = new ArrayBuffer(256);
    const view = new DataView(buffer);
    view.setUint32(at - 4, claimedBytes, true);
    for (let i = 0; i < units.length; i++) view.setUint16(at + i * 2, units.charCodeAt(i), true);
    return new GuestMemory({ buffer });
  }

  test('is undefined for null, for pointers below 4, and for a header or text outside memory', () => {
    const mem = memoryWith(16, 'abc');
    assert.equal(readAssemblyScriptString(mem, 0), undefined);
    assert.equal(readAssemblyScriptString(mem, 3), undefined);
    assert.equal(readAssemblyScriptString(mem, 260), undefined, 'header past the end');
    assert.equal(readAssemblyScriptString(mem, 2 ** 32 + 16), undefined);
    assert.equal(readAssemblyScriptString(mem, -8), undefined);
    assert.equal(readAssemblyScriptString(memoryWith(16, 'abc', 241), 16), undefined, 'text one byte past the end');
    assert.equal(readAssemblyScriptString(memoryWith(16, 'abc', 0xffffffff), 16), undefined);
  });

  test('accepts a string ending exactly at the end of memory, and drops an odd last byte', () => {
    assert.equal(readAssemblyScriptString(memoryWith(16, 'abc', 240), 16)?.slice(0, 3), 'abc');
    assert.equal(readAssemblyScriptString(memoryWith(16, 'abc', 5), 16), 'ab');
  });

  test('replaces a lone surrogate with U+FFFD', () => {
    assert.equal(readAssemblyScriptString(memoryWith(16, 'a\ud800b'), 16), 'a\ufffdb');
  });

  test(`cuts a longer string to ${AS_STRING_MAX_UNITS} code units`, () => {
    const units = AS_STRING_MAX_UNITS + 10;
    const buffer = new ArrayBuffer(8 + units * 2);
    new DataView(buffer).setUint32(4, units * 2, true);
    new Uint16Array(buffer, 8).fill(0x41);
    const s = readAssemblyScriptString(new GuestMemory({ buffer }), 8);
    assert.equal(s?.length, AS_STRING_MAX_UNITS);
  });

  test('the placeholder names the pointer in hex', () => {
    assert.equal(unreadableString(-16), '<unreadable string at 0xfffffff0>');
  });
});
