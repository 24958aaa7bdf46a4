import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodePropertyPath, encodePropertyPath, propertyKey } from '../../abi/property-path.ts';
import { prng } from '../helpers/prng.ts';

const te = new TextEncoder();
const bytes = (s: string) => te.encode(s);


describe('encodePropertyPath', () => {
  test('joins the §5.2 example with single NULs and no trailing NUL', () => {
    assert.deepEqual(
      encodePropertyPath(['request', 'headers', 'x-foo']),
      Uint8Array.from([...bytes('request'), 0, ...bytes('headers'), 0, ...bytes('x-foo')]),
    );
  });

  test('writes a single segment without any NUL', () => {
    assert.deepEqual(encodePropertyPath(['plugin_root_id']), bytes('plugin_root_id'));
  });

  test('does not split a dotted segment', () => {
    assert.deepEqual(encodePropertyPath(['request.path']), bytes('request.path'));
  });

  test('writes an embedded NUL as a separator, as AssemblyScript users spell paths', () => {
    assert.deepEqual(encodePropertyPath(['request\0path']), encodePropertyPath(['request', 'path']));
  });

  test('encodes an empty segment list to zero bytes', () => {
    assert.equal(encodePropertyPath([]).byteLength, 0);
  });

  test('encodes segments as UTF-8', () => {
    assert.deepEqual(encodePropertyPath(['é']), Uint8Array.from([0xc3, 0xa9]));
  });
});

describe('decodePropertyPath', () => {
  const rows: Array<[string, Uint8Array, string[] | null]> = [
    ['the §5.2 example', bytes('request\0headers\0x-foo'), ['request', 'headers', 'x-foo']],
    ['a single segment', bytes('plugin_root_id'), ['plugin_root_id']],
    ['one trailing NUL, tolerated like Envoy', bytes('request\0path\0'), ['request', 'path']],
    ['two trailing NULs as an empty last segment', bytes('a\0\0'), ['a', '']],
    ['a leading NUL as an empty first segment', bytes('\0a'), ['', 'a']],
    ['a doubled NUL as an empty middle segment', bytes('a\0\0b'), ['a', '', 'b']],
    ['a dotted segment unsplit', bytes('request.path'), ['request.path']],
    ['two lone NULs as two empty segments', Uint8Array.of(0, 0), ['', '']],
    ['zero bytes as an error', new Uint8Array(0), null],
    ['a lone NUL as an error', Uint8Array.of(0), null],
    ['invalid UTF-8 as an error', Uint8Array.of(0x61, 0xff), null],
    ['a truncated UTF-8 sequence as an error', Uint8Array.of(0xc3), null],
  ];
  for (const [what, input, expected] of rows) {
    test(`decodes ${what}`, () => {
      const r = decodePropertyPath(input);
      if (expected === null) {
        assert.equal(r.ok, false);
        if (!r.ok) assert.equal(typeof r.error, 'string');
      } else {
        assert.deepEqual(r, { ok: true, segments: expected });
      }
    });
  }

  test('reads only the bytes of a subarray view', () => {
    const backing = bytes('XXrequest\0pathYY');
    assert.deepEqual(decodePropertyPath(backing.subarray(2, 14)), { ok: true, segments: ['request', 'path'] });
  });

  test('round-trips any path without NULs in segments and with a non-empty last segment', () => {
    const paths = [['request', 'headers', ':authority'], ['a'], ['', 'x'], ['ü', '日本', '🙂'], ['a', '', 'b']];
    for (const p of paths) assert.deepEqual(decodePropertyPath(encodePropertyPath(p)), { ok: true, segments: p });
  });

  test('never throws and re-encodes every successful decode to the input minus one trailing NUL (seeded fuzz)', () => {
    const rand = prng(0x5eed);
    const alphabet = [0, 0, 0, 0x61, 0x2e, 0xc3, 0xa9, 0xff, 0x80, 0xe6, 0x97, 0xa5, 0xf0, 0x9f];
    for (let i = 0; i < 5000; i++) {
      const len = Math.floor(rand() * 12);
      const input = new Uint8Array(len);
      for (let j = 0; j < len; j++) {
        input[j] = rand() < 0.7 ? alphabet[Math.floor(rand() * alphabet.length)] : Math.floor(rand() * 256);
      }
      const r = decodePropertyPath(input);
      if (!r.ok) continue;
      assert.ok(r.segments.length >= 1);
      const expected = input[len - 1] === 0 ? input.subarray(0, len - 1) : input;
      assert.deepEqual(encodePropertyPath(r.segments), expected, `input ${[...input]}`);
    }
  });
});

describe('propertyKey', () => {
  test('gives the dotted form of a built-in property path', () => {
    assert.equal(propertyKey(['request', 'headers']), 'request.headers');
    assert.equal(propertyKey(['plugin_root_id']), 'plugin_root_id');
    assert.equal(propertyKey(['xds', 'cluster_name']), 'xds.cluster_name');
  });

  test('refuses a dotted single segment so it never collides with the split path', () => {
    assert.equal(propertyKey(['request.path']), undefined);
    assert.equal(propertyKey(['request', 'path']), 'request.path');
  });

  test('refuses an empty path and empty segments', () => {
    assert.equal(propertyKey([]), undefined);
    assert.equal(propertyKey(['']), undefined);
    assert.equal(propertyKey(['request', '']), undefined);
  });
});
