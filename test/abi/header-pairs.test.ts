import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bytesToLatin1, decodePairs, encodePairs } from '../../abi/header-pairs.ts';
import { prng } from '../helpers/prng.ts';

// The §5.1 example {"a":"1","b":"22"}, 29 bytes.
const GOLDEN = Uint8Array.from([
  0x02, 0x00, 0x00, 0x00, //             N = 2 (u32 LE)
  0x01, 0x00, 0x00, 0x00, //             pair 0 key_len = 1
  0x01, 0x00, 0x00, 0x00, //             pair 0 value_len = 1
  0x01, 0x00, 0x00, 0x00, //             pair 1 key_len = 1
  0x02, 0x00, 0x00, 0x00, //             pair 1 value_len = 2
  0x61, 0x00, //                         "a" NUL
  0x31, 0x00, //                         "1" NUL
  0x62, 0x00, //                         "b" NUL
  0x32, 0x32, 0x00, //                   "22" NUL
]);
const GOLDEN_PAIRS: Array<[string, string]> = [['a', '1'], ['b', '22']];


describe('encodePairs', () => {
  test('writes the 2-pair golden bytes of the ABI reference', () => {
    assert.equal(GOLDEN.length, 29);
    assert.deepEqual(encodePairs(GOLDEN_PAIRS), GOLDEN);
  });

  test('writes an empty map as a 4-byte zero count', () => {
    assert.deepEqual(encodePairs([]), Uint8Array.from([0, 0, 0, 0]));
  });

  test('writes sizes in UTF-8 bytes, not UTF-16 code units', () => {
    const bytes = encodePairs([['é', '日本']]);
    const view = new DataView(bytes.buffer);
    assert.equal(view.getUint32(4, true), 2);
    assert.equal(view.getUint32(8, true), 6);
    assert.equal(bytes.length, 4 + 8 + 2 + 1 + 6 + 1);
  });

  test('keeps duplicate keys in order', () => {
    const pairs: Array<[string, string]> = [['set-cookie', 'a=1'], ['set-cookie', 'b=2']];
    assert.deepEqual(decodePairs(encodePairs(pairs)), { ok: true, pairs });
  });
});

describe('decodePairs', () => {
  test('reads the 2-pair golden bytes of the ABI reference', () => {
    assert.deepEqual(decodePairs(GOLDEN), { ok: true, pairs: GOLDEN_PAIRS });
  });

  test('reads a buffer that is a view into a larger ArrayBuffer at an odd offset', () => {
    const backing = new Uint8Array(GOLDEN.length + 7).fill(0xee);
    backing.set(GOLDEN, 3);
    assert.deepEqual(decodePairs(backing.subarray(3, 3 + GOLDEN.length)), { ok: true, pairs: GOLDEN_PAIRS });
  });

  const emptyForms: Array<[string, number[]]> = [
    ['a zero-length buffer (host ptr 0 / size 0)', []],
    ['the single 0x00 byte the spec allows', [0]],
    ['a 4-byte zero count', [0, 0, 0, 0]],
  ];
  for (const [what, bytes] of emptyForms) {
    test(`reads ${what} as an empty map`, () => {
      assert.deepEqual(decodePairs(Uint8Array.from(bytes)), { ok: true, pairs: [] });
    });
  }

  const roundTrips: Array<[string, Array<[string, string]>]> = [
    ['an empty map', []],
    ['empty keys and values', [['', ''], ['k', ''], ['', 'v']]],
    ['non-ASCII text', [['x-naïve', '日本語 ✓'], ['emoji', '🦀🐹'], ['ß', 'Ω']]],
    ['pseudo-headers', [[':method', 'GET'], [':path', '/a?b=c'], [':authority', 'example.com']]],
    ['an embedded NUL inside a value', [['k', 'a\u0000b']]],
    ['a long value', [['big', 'x'.repeat(70_000)]]],
  ];
  for (const [what, pairs] of roundTrips) {
    test(`round-trips ${what}`, () => {
      assert.deepEqual(decodePairs(encodePairs(pairs)), { ok: true, pairs });
    });
  }

  test('refuses every truncation of a valid encoding without throwing', () => {
    const full = encodePairs([['a', '1'], ['bé', '22'], ['', 'z']]);
    for (let cut = 1; cut < full.length; cut++) {
      const r = decodePairs(full.subarray(0, cut));
      assert.equal(r.ok, false, `prefix of ${cut} bytes`);
    }
  });

  test('refuses trailing bytes after the last pair', () => {
    const extended = new Uint8Array(GOLDEN.length + 1);
    extended.set(GOLDEN);
    assert.equal(decodePairs(extended).ok, false);
  });

  test('refuses a key or value whose 0x00 terminator is missing', () => {
    for (const at of [21, 23, 25, 28]) {
      const bad = GOLDEN.slice();
      bad[at] = 0x41;
      assert.equal(decodePairs(bad).ok, false, `terminator at ${at}`);
    }
  });

  test('refuses a size that points past the end', () => {
    const bad = GOLDEN.slice();
    new DataView(bad.buffer).setUint32(16, 0xffff_ffff, true);
    const r = decodePairs(bad);
    assert.equal(r.ok, false);
  });

  test('refuses a count above maxPairs before reading any pair', () => {
    assert.equal(decodePairs(GOLDEN, { maxPairs: 1 }).ok, false);
    assert.equal(decodePairs(GOLDEN, { maxPairs: 2 }).ok, true);
  });

  test('refuses more than 1024 pairs by default, as cpp-host does', () => {
    const many = Array.from({ length: 1025 }, (_, i): [string, string] => [`k${i}`, '']);
    assert.equal(decodePairs(encodePairs(many)).ok, false);
    assert.equal(decodePairs(encodePairs(many.slice(0, 1024))).ok, true);
  });

  test('refuses a huge count with a tiny buffer without allocating for it', () => {
    const r = decodePairs(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]), { maxPairs: Infinity });
    assert.equal(r.ok, false);
  });

  test('refuses invalid UTF-8 instead of replacing it', () => {
    const bad = GOLDEN.slice();
    bad[20] = 0xff; // key "a" becomes a lone 0xff byte
    const r = decodePairs(bad);
    assert.equal(r.ok, false);
  });

  test('refuses 1- to 3-byte buffers other than a single 0x00', () => {
    for (const bytes of [[1], [0, 0], [0, 0, 0], [2, 0, 0]]) {
      assert.equal(decodePairs(Uint8Array.from(bytes)).ok, false, JSON.stringify(bytes));
    }
  });

  test('never throws on 2000 seeded random buffers, and every ok result re-encodes to the input', () => {
    const rand = prng(0x5eed);
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        // Pure noise, with a small count half the time so parsing gets past the header.
        bytes = new Uint8Array(Math.floor(rand() * 64));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
        if (bytes.length >= 4 && rand() < 0.5) new DataView(bytes.buffer).setUint32(0, Math.floor(rand() * 4), true);
      } else {
        // A valid encoding with a few bytes flipped, dropped or appended.
        const n = Math.floor(rand() * 4);
        const pairs = Array.from({ length: n }, (): [string, string] => [
          'k'.repeat(Math.floor(rand() * 4)),
          'é'.repeat(Math.floor(rand() * 3)),
        ]);
        const valid = encodePairs(pairs);
        bytes = valid.slice(0, valid.length - Math.floor(rand() * 2));
        const flips = Math.floor(rand() * 3);
        for (let f = 0; f < flips && bytes.length > 0; f++) {
          bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
        }
      }
      const r = decodePairs(bytes, { maxPairs: rand() < 0.1 ? Infinity : 1024 });
      if (r.ok) {
        accepted++;
        if (bytes.length > 1) assert.deepEqual(encodePairs(r.pairs), bytes);
      } else {
        assert.equal(typeof r.error, 'string');
      }
    }
    assert.ok(accepted > 0, 'the fuzz corpus should include some well-formed buffers');
  });
});

test('bytesToLatin1 maps every byte to the char of the same code, on the short and the long path', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const s = bytesToLatin1(all);
  assert.equal(s.length, 256);
  for (let i = 0; i < 256; i++) assert.equal(s.charCodeAt(i), i);
  for (const len of [0, 1, 15, 16, 17, 40]) {
    const part = all.subarray(200, 200 + len);
    assert.equal(bytesToLatin1(part), Buffer.from(part).toString('latin1'), `length ${len}`);
  }
});
