import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GuestMemory, inBounds } from '../../abi/guest-memory.ts';

const PAGE = 65536;

// tsconfig's lib (esnext) and @types/node do not declare the WebAssembly namespace; the runtime has it.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
const { WebAssembly } = globalThis as unknown as {
  WebAssembly: { Memory: new (desc: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory };
};
const BAD_NUMBERS = [Number.NaN, Infinity, -Infinity, -1, -0.5, 1.5, 2 ** 32, 2 ** 53, Number.MAX_VALUE];

function plain(size: number): { mem: GuestMemory; bytes: Uint8Array } {
  const buffer = new ArrayBuffer(size);
  return { mem: new GuestMemory({ buffer }), bytes: new Uint8Array(buffer) };
}

describe('inBounds', () => {
  const rows: Array<[string, number, number, number, boolean]> = [
    ['an empty range at 0 of empty memory', 0, 0, 0, true],
    ['the whole memory', 16, 0, 16, true],
    ['an empty range at the end', 16, 16, 0, true],
    ['an empty range one past the end', 16, 17, 0, false],
    ['a range ending one past the end', 16, 8, 9, false],
    ['a pointer at the size with length 1', 16, 16, 1, false],
    ['u32-max pointer and length whose sum would wrap in 32 bits', 16, 0xffffffff, 1, false],
    ['a length that would wrap to a small end', 16, 4, 0xfffffffd, false],
  ];
  for (const [what, size, ptr, len, ok] of rows) {
    test(`${ok ? 'accepts' : 'refuses'} ${what}`, () => assert.equal(inBounds(size, ptr, len), ok));
  }

  test('refuses NaN, infinities, negatives, fractions and values ≥ 2^32 as pointer or length', () => {
    for (const x of BAD_NUMBERS) {
      assert.equal(inBounds(2 ** 33, x, 0), false, `ptr ${x}`);
      assert.equal(inBounds(2 ** 33, 0, x), false, `len ${x}`);
    }
  });
});

describe('GuestMemory.read', () => {
  test('returns a copy, not a view over guest memory', () => {
    const { mem, bytes } = plain(16);
    bytes.set([1, 2, 3], 4);
    const got = mem.read(4, 3);
    assert.deepEqual(got, Uint8Array.of(1, 2, 3));
    bytes[4] = 99;
    assert.equal(got?.[0], 1);
    assert.notEqual(got?.buffer, bytes.buffer);
  });

  test('accepts (0, 0) as empty even on an empty memory', () => {
    assert.deepEqual(plain(0).mem.read(0, 0), new Uint8Array(0));
  });

  test('reads the last byte and an empty range at the end', () => {
    const { mem, bytes } = plain(16);
    bytes[15] = 7;
    assert.deepEqual(mem.read(15, 1), Uint8Array.of(7));
    assert.deepEqual(mem.read(16, 0), new Uint8Array(0));
  });

  test('returns undefined when ptr = size, ptr + len = size + 1, or past the end', () => {
    const { mem } = plain(16);
    assert.equal(mem.read(16, 1), undefined);
    assert.equal(mem.read(0, 17), undefined);
    assert.equal(mem.read(15, 2), undefined);
    assert.equal(mem.read(17, 0), undefined);
    assert.equal(mem.read(0xffffffff, 0xffffffff), undefined);
  });

  test('returns undefined and never throws for bad guest numbers', () => {
    const { mem } = plain(16);
    for (const x of BAD_NUMBERS) {
      assert.equal(mem.read(x, 1), undefined, `ptr ${x}`);
      assert.equal(mem.read(0, x), undefined, `len ${x}`);
    }
  });
});

describe('GuestMemory.write', () => {
  test('copies bytes to the pointer', () => {
    const { mem, bytes } = plain(8);
    assert.equal(mem.write(5, Uint8Array.of(9, 8, 7)), true);
    assert.deepEqual(bytes, Uint8Array.of(0, 0, 0, 0, 0, 9, 8, 7));
  });

  test('writes nothing and returns false when the range ends one past the end', () => {
    const { mem, bytes } = plain(8);
    assert.equal(mem.write(6, Uint8Array.of(1, 2, 3)), false);
    assert.deepEqual(bytes, new Uint8Array(8));
  });

  test('accepts an empty write at the end and refuses one past it', () => {
    const { mem } = plain(8);
    assert.equal(mem.write(8, new Uint8Array(0)), true);
    assert.equal(mem.write(9, new Uint8Array(0)), false);
  });

  test('returns false and never throws for bad guest pointers', () => {
    const { mem } = plain(8);
    for (const x of BAD_NUMBERS) assert.equal(mem.write(x, Uint8Array.of(1)), false, `ptr ${x}`);
  });

  test('handles a source that is a view over the same memory', () => {
    const buffer = new ArrayBuffer(8);
    const bytes = new Uint8Array(buffer);
    bytes.set([1, 2, 3, 4]);
    const mem = new GuestMemory({ buffer });
    assert.equal(mem.write(2, bytes.subarray(0, 4)), true);
    assert.deepEqual(bytes, Uint8Array.of(1, 2, 1, 2, 3, 4, 0, 0));
  });
});

describe('GuestMemory u32', () => {
  test('reads and writes little-endian', () => {
    const { mem, bytes } = plain(8);
    assert.equal(mem.writeU32(4, 0x01020304), true);
    assert.deepEqual(bytes.subarray(4), Uint8Array.of(4, 3, 2, 1));
    assert.equal(mem.readU32(4), 0x01020304);
  });

  test('reads values ≥ 2^31 as unsigned', () => {
    const { mem, bytes } = plain(4);
    bytes.set([0xff, 0xff, 0xff, 0xff]);
    assert.equal(mem.readU32(0), 0xffffffff);
  });

  test('stores a negative i32 as its unsigned twin', () => {
    const { mem } = plain(4);
    assert.equal(mem.writeU32(0, -1), true);
    assert.equal(mem.readU32(0), 0xffffffff);
  });

  test('refuses a u32 whose last byte is past the end, at ptr = size - 3 and beyond', () => {
    const { mem, bytes } = plain(8);
    assert.equal(mem.readU32(5), undefined);
    assert.equal(mem.readU32(8), undefined);
    assert.equal(mem.writeU32(5, 1), false);
    assert.deepEqual(bytes, new Uint8Array(8));
    assert.equal(mem.readU32(0xfffffffe), undefined);
  });

  test('never throws for bad guest pointers', () => {
    const { mem } = plain(8);
    for (const x of BAD_NUMBERS) {
      assert.equal(mem.readU32(x), undefined, `ptr ${x}`);
      assert.equal(mem.writeU32(x, 1), false, `ptr ${x}`);
    }
  });

  test('refuses to write a value that is not an i32 or u32 integer', () => {
    const { mem, bytes } = plain(4);
    for (const v of [Number.NaN, 1.5, 2 ** 32, -(2 ** 31) - 1, Infinity]) {
      assert.equal(mem.writeU32(0, v), false, `value ${v}`);
    }
    assert.deepEqual(bytes, new Uint8Array(4));
  });
});

describe('GuestMemory.view', () => {
  test('is a view of guest memory (no copy), bounds-checked like read', () => {
    const { mem, bytes } = plain(8);
    bytes.set([1, 2, 3, 4], 2);
    const v = mem.view(2, 4) as Uint8Array;
    assert.deepEqual(v, Uint8Array.of(1, 2, 3, 4));
    bytes[3] = 9;
    assert.equal(v[1], 9, 'a view sees later writes');
    assert.deepEqual(mem.view(8, 0), new Uint8Array(0));
    assert.equal(mem.view(5, 4), undefined);
    for (const n of BAD_NUMBERS) {
      assert.equal(mem.view(n, 1), undefined);
      assert.equal(mem.view(0, n), undefined);
    }
  });
});

describe('GuestMemory.writeLatin1', () => {
  test('writes one byte per char, keeping the low 8 bits, and refuses what does not fit', () => {
    const { mem, bytes } = plain(6);
    assert.equal(mem.writeLatin1(1, 'a\u00ff\u0100\r'), true);
    assert.deepEqual(bytes, Uint8Array.of(0, 0x61, 0xff, 0x00, 0x0d, 0));
    assert.equal(mem.writeLatin1(3, 'four'), false);
    assert.deepEqual(bytes, Uint8Array.of(0, 0x61, 0xff, 0x00, 0x0d, 0), 'nothing written');
    assert.equal(mem.writeLatin1(6, ''), true);
    for (const n of BAD_NUMBERS) assert.equal(mem.writeLatin1(n, 'x'), false);
  });
});

describe('GuestMemory.latin1', () => {
  test('reads one char per byte, every byte value, short and long', () => {
    const { mem, bytes } = plain(3 * 8192 + 7);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 0xff;
    const expected = (ptr: number, len: number): string => {
      let s = '';
      for (let i = ptr; i < ptr + len; i++) s += String.fromCharCode(bytes[i]);
      return s;
    };
    // Around the char-by-char limit, and over several 8 KiB chunks, at odd offsets.
    for (const [ptr, len] of [[0, 0], [5, 1], [1, 31], [2, 32], [3, 33], [0, 256], [7, 8192], [1, 2 * 8192 + 5], [0, bytes.length]]) {
      const s = mem.latin1(ptr, len) as string;
      assert.equal(s.length, len);
      assert.equal(s, expected(ptr, len), `latin1(${ptr}, ${len})`);
    }
    const all = plain(256);
    for (let i = 0; i < 256; i++) all.bytes[i] = i;
    assert.deepEqual([...(all.mem.latin1(0, 256) as string)].map((c) => c.charCodeAt(0)), [...all.bytes]);
  });

  for (const method of ['latin1', 'latin1Name'] as const) {
    test(`${method} is bounds-checked like read, and never throws for bad guest numbers`, () => {
      const { mem } = plain(40);
      const call = (ptr: number, len: number) => mem[method](ptr, len);
      assert.equal(call(40, 0), '');
      assert.equal(call(39, 2), undefined);
      assert.equal(call(0, 41), undefined);
      for (const n of BAD_NUMBERS) {
        assert.equal(call(n, 1), undefined);
        assert.equal(call(0, n), undefined);
      }
    });
  }
});

describe('GuestMemory.latin1Name', () => {
  const put = (bytes: Uint8Array, ptr: number, s: string): void => {
    for (let i = 0; i < s.length; i++) bytes[ptr + i] = s.charCodeAt(i);
  };

  test('gives what latin1 gives, and the same string object again for the same bytes', () => {
    const { mem, bytes } = plain(256);
    put(bytes, 10, ':path');
    put(bytes, 100, ':path');
    const first = mem.latin1Name(10, 5);
    assert.equal(first, ':path');
    // The same bytes elsewhere in memory: the cached string.
    assert.equal(mem.latin1Name(100, 5), first);
    assert.equal(mem.latin1Name(10, 4), ':pat');
  });

  test('never answers with a stale name: new bytes at the same place, and names sharing a slot, decode as latin1 does', () => {
    const { mem, bytes } = plain(4096);
    put(bytes, 0, 'x-a');
    assert.equal(mem.latin1Name(0, 3), 'x-a');
    put(bytes, 0, 'x-b');
    assert.equal(mem.latin1Name(0, 3), 'x-b');
    // Same length, first and last byte (the slot's inputs): they take turns in one slot.
    put(bytes, 10, 'a1z');
    put(bytes, 20, 'a2z');
    for (let round = 0; round < 3; round++) {
      assert.equal(mem.latin1Name(10, 3), 'a1z');
      assert.equal(mem.latin1Name(20, 3), 'a2z');
    }
    // Case is kept (lowering is the caller's business).
    put(bytes, 30, 'X-A');
    assert.equal(mem.latin1Name(30, 3), 'X-A');
    // Every byte value, and lengths at and past the cached maximum.
    for (let i = 0; i < 256; i++) bytes[1000 + i] = i;
    for (const [ptr, len] of [[1000, 1], [1000, 64], [1100, 65], [1000, 256]]) {
      assert.equal(mem.latin1Name(ptr, len), mem.latin1(ptr, len), `latin1Name(${ptr}, ${len})`);
      assert.equal(mem.latin1Name(ptr, len), mem.latin1(ptr, len), `latin1Name(${ptr}, ${len}) again`);
    }
  });

});

describe('GuestMemory.readString', () => {
  test('decodes UTF-8 and replaces invalid bytes with U+FFFD', () => {
    const { mem, bytes } = plain(8);
    bytes.set([0x68, 0x69, 0xc3, 0xa9, 0xff]);
    assert.equal(mem.readString(0, 4), 'hié');
    assert.equal(mem.readString(4, 1), '\ufffd');
    assert.equal(mem.readString(8, 0), '');
  });

  test('returns undefined out of bounds', () => {
    const { mem } = plain(8);
    assert.equal(mem.readString(4, 5), undefined);
    assert.equal(mem.readString(Number.NaN, 0), undefined);
  });
});

describe('GuestMemory over WebAssembly.Memory', () => {
  test('sees the new buffer after the memory grows between calls', () => {
    const wasm = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const mem = new GuestMemory(wasm);
    const oldBuffer = wasm.buffer;
    assert.equal(mem.size, PAGE);
    assert.equal(mem.read(PAGE, 1), undefined);
    assert.equal(mem.write(PAGE - 4, Uint8Array.of(1, 2, 3, 4)), true);

    wasm.grow(1);
    assert.equal(oldBuffer.byteLength, 0, 'the old buffer is detached');
    assert.equal(mem.size, 2 * PAGE);
    assert.deepEqual(mem.read(PAGE - 4, 4), Uint8Array.of(1, 2, 3, 4));
    assert.equal(mem.writeU32(PAGE, 0xdeadbeef), true);
    assert.equal(mem.readU32(PAGE), 0xdeadbeef);
    assert.deepEqual(mem.read(2 * PAGE - 1, 1), Uint8Array.of(0));
    assert.equal(mem.read(2 * PAGE, 1), undefined);
    assert.deepEqual(mem.read(2 * PAGE, 0), new Uint8Array(0));
  });

  test('u32 access uses the grown buffer after a grow (no stale cached view)', () => {
    const wasm = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const mem = new GuestMemory(wasm);
    assert.equal(mem.writeU32(8, 7), true);
    assert.equal(mem.readU32(8), 7);
    wasm.grow(1);
    assert.equal(mem.writeU32(PAGE + 8, 0xfeedface), true);
    assert.equal(mem.readU32(PAGE + 8), 0xfeedface);
    assert.equal(mem.readU32(8), 7);
    assert.equal(mem.writeLatin1(PAGE + 100, 'hi'), true);
    assert.deepEqual(mem.view(PAGE + 100, 2), Uint8Array.of(0x68, 0x69));
  });

  test('byte access (latin1, write, read) uses the grown buffer after a grow (no stale cached view)', () => {
    const wasm = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const mem = new GuestMemory(wasm);
    assert.equal(mem.writeLatin1(PAGE - 2, 'ab'), true);
    assert.equal(mem.latin1(PAGE - 2, 2), 'ab');
    assert.equal(mem.latin1(PAGE, 2), undefined);
    wasm.grow(1);
    assert.equal(mem.latin1(PAGE - 2, 2), 'ab', 'old contents through the new buffer');
    assert.equal(mem.writeLatin1(PAGE + 40, 'cd'), true);
    assert.equal(mem.latin1(PAGE + 40, 2), 'cd');
    assert.equal(mem.write(2 * PAGE - 1, Uint8Array.of(0x7a)), true);
    assert.equal(mem.latin1(2 * PAGE - 1, 1), 'z');
    assert.deepEqual(mem.read(PAGE + 40, 2), Uint8Array.of(0x63, 0x64));
  });

  test('sees a shared memory grow (its old buffer stays attached, shorter)', () => {
    const wasm = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    const mem = new GuestMemory(wasm);
    assert.equal(mem.latin1(PAGE, 1), undefined);
    assert.equal(mem.writeU32(PAGE - 4, 9), true);
    wasm.grow(1);
    assert.equal(mem.size, 2 * PAGE);
    assert.equal(mem.writeLatin1(PAGE + 1, 'ok'), true);
    assert.equal(mem.latin1(PAGE + 1, 2), 'ok');
    assert.equal(mem.writeU32(2 * PAGE - 4, 0xabcdef01), true);
    assert.equal(mem.readU32(2 * PAGE - 4), 0xabcdef01);
    assert.equal(mem.readU32(PAGE - 4), 9);
  });

  test('sees a memory of zero pages grow', () => {
    const wasm = new WebAssembly.Memory({ initial: 0, maximum: 2 });
    const mem = new GuestMemory(wasm);
    assert.equal(mem.size, 0);
    assert.equal(mem.latin1(0, 0), '');
    assert.equal(mem.writeU32(0, 1), false);
    wasm.grow(1);
    assert.equal(mem.size, PAGE);
    assert.equal(mem.writeU32(0, 1), true);
    assert.equal(mem.readU32(0), 1);
  });

  test('keeps a read copy valid after the memory grows', () => {
    const wasm = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const mem = new GuestMemory(wasm);
    mem.write(0, Uint8Array.of(5, 6));
    const copy = mem.read(0, 2);
    wasm.grow(2);
    assert.deepEqual(copy, Uint8Array.of(5, 6));
    assert.equal(mem.size, 3 * PAGE);
  });
});
