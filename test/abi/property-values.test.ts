import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ENVOY_PROPERTY_KINDS,
  PropertyKind,
  decodeBool,
  decodeDouble,
  decodeDurationNanos,
  decodeInt64,
  decodeString,
  decodeStringList,
  decodeStringMap,
  decodeTimestampNanos,
  decodeUint64,
  encodeBool,
  encodeDouble,
  encodeDurationNanos,
  encodeInt64,
  encodeString,
  encodeStringList,
  encodeStringMap,
  encodeTimestampNanos,
  encodeUint64,
} from '../../abi/property-values.ts';
import { encodePairs } from '../../abi/header-pairs.ts';

const u8 = (...b: number[]) => Uint8Array.from(b);

describe('ENVOY_PROPERTY_KINDS', () => {
  const rows: Array<[string, PropertyKind]> = [
    ['request.path', 'string'],
    ['request.headers', 'stringMap'],
    ['request.time', 'timestamp'],
    ['request.duration', 'duration'],
    ['request.size', 'int64'],
    ['response.code', 'int64'],
    ['response.trailers', 'stringMap'],
    ['response.backend_latency', 'duration'],
    ['source.port', 'int64'],
    ['destination.address', 'string'],
    ['connection.id', 'uint64'],
    ['connection.mtls', 'bool'],
    ['connection.peer_certificate', 'string'],
    ['upstream.num_endpoints', 'uint64'],
    ['upstream.request_attempt_count', 'uint64'],
    ['upstream.cx_pool_ready_duration', 'duration'],
    ['upstream.locality', 'proto'],
    ['metadata', 'proto'],
    ['filter_state', 'map'],
    ['xds.listener_direction', 'int64'],
    ['xds.node', 'proto'],
    ['plugin_root_id', 'string'],
    ['listener_direction', 'int64'],
    ['cluster_name', 'string'],
  ];
  for (const [key, kind] of rows) {
    test(`lists ${key} as ${kind}`, () => assert.equal(ENVOY_PROPERTY_KINDS[key], kind));
  }

  test('uses only known kinds and keys made of non-empty dot-free segments', () => {
    const kinds = new Set<string>(Object.values(PropertyKind));
    for (const [key, kind] of Object.entries(ENVOY_PROPERTY_KINDS)) {
      assert.ok(kinds.has(kind), key);
      assert.ok(key.split('.').every((s) => /^[a-z0-9_]+$/.test(s)), key);
    }
  });

  test('does not list a dotted single segment or an unknown name', () => {
    assert.equal(Object.hasOwn(ENVOY_PROPERTY_KINDS, 'request.unknown'), false);
    assert.equal(Object.hasOwn(ENVOY_PROPERTY_KINDS, 'wasm.foo'), false);
  });

  test('is frozen', () => assert.ok(Object.isFrozen(ENVOY_PROPERTY_KINDS)));
});

describe('string', () => {
  test('encodes raw UTF-8 with no length prefix or terminator', () => {
    assert.deepEqual(encodeString('GET'), u8(0x47, 0x45, 0x54));
    assert.deepEqual(encodeString('é'), u8(0xc3, 0xa9));
    assert.equal(encodeString('').byteLength, 0);
  });

  test('decodes round trips and refuses invalid UTF-8', () => {
    for (const s of ['', '/path?q=1', 'HTTP/2', '日本🙂']) assert.equal(decodeString(encodeString(s)), s);
    assert.equal(decodeString(u8(0xff)), undefined);
  });
});

describe('int64', () => {
  const golden: Array<[bigint, Uint8Array]> = [
    [0n, u8(0, 0, 0, 0, 0, 0, 0, 0)],
    [200n, u8(0xc8, 0, 0, 0, 0, 0, 0, 0)],
    [-1n, u8(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)],
    [2n ** 63n - 1n, u8(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)],
    [-(2n ** 63n), u8(0, 0, 0, 0, 0, 0, 0, 0x80)],
  ];
  for (const [v, b] of golden) {
    test(`encodes ${v} as 8 little-endian two's complement bytes`, () => {
      assert.deepEqual(encodeInt64(v), b);
      assert.equal(decodeInt64(b), v);
    });
  }

  test('accepts a safe-integer number like the equal bigint', () => {
    assert.deepEqual(encodeInt64(200), encodeInt64(200n));
    assert.deepEqual(encodeInt64(-5), encodeInt64(-5n));
  });

  test('throws RangeError for out-of-range or non-integer host values', () => {
    assert.throws(() => encodeInt64(2n ** 63n), RangeError);
    assert.throws(() => encodeInt64(-(2n ** 63n) - 1n), RangeError);
    assert.throws(() => encodeInt64(1.5), RangeError);
    assert.throws(() => encodeInt64(Number.NaN), RangeError);
    assert.throws(() => encodeInt64(2 ** 53), RangeError);
  });

  test('decodes only exactly 8 bytes, honouring the view offset', () => {
    assert.equal(decodeInt64(new Uint8Array(7)), undefined);
    assert.equal(decodeInt64(new Uint8Array(9)), undefined);
    const backing = u8(0xaa, 0xc8, 0, 0, 0, 0, 0, 0, 0, 0xbb);
    assert.equal(decodeInt64(backing.subarray(1, 9)), 200n);
  });
});

describe('uint64', () => {
  test('encodes 8 little-endian bytes up to 2^64-1', () => {
    assert.deepEqual(encodeUint64(1), u8(1, 0, 0, 0, 0, 0, 0, 0));
    assert.deepEqual(encodeUint64(0x0102030405060708n), u8(8, 7, 6, 5, 4, 3, 2, 1));
    assert.deepEqual(encodeUint64(2n ** 64n - 1n), new Uint8Array(8).fill(0xff));
    assert.equal(decodeUint64(new Uint8Array(8).fill(0xff)), 2n ** 64n - 1n);
  });

  test('throws RangeError for negative or too-large host values', () => {
    assert.throws(() => encodeUint64(-1), RangeError);
    assert.throws(() => encodeUint64(2n ** 64n), RangeError);
  });

  test('decodes only exactly 8 bytes', () => assert.equal(decodeUint64(new Uint8Array(4)), undefined));
});

describe('double', () => {
  test('encodes 1.0 as IEEE-754 little-endian bytes', () => {
    assert.deepEqual(encodeDouble(1), u8(0, 0, 0, 0, 0, 0, 0xf0, 0x3f));
  });

  test('round-trips special values', () => {
    for (const v of [0, -0, 1.5, -2.25e300, Number.MIN_VALUE, Infinity, -Infinity]) {
      assert.ok(Object.is(decodeDouble(encodeDouble(v)), v), String(v));
    }
    assert.ok(Number.isNaN(decodeDouble(encodeDouble(Number.NaN))));
    assert.equal(decodeDouble(new Uint8Array(3)), undefined);
  });
});

describe('bool', () => {
  test('encodes one byte 0x01 / 0x00', () => {
    assert.deepEqual(encodeBool(true), u8(1));
    assert.deepEqual(encodeBool(false), u8(0));
  });

  test('decodes only a single 0x00 or 0x01', () => {
    assert.equal(decodeBool(u8(1)), true);
    assert.equal(decodeBool(u8(0)), false);
    assert.equal(decodeBool(u8(2)), undefined);
    assert.equal(decodeBool(u8()), undefined);
    assert.equal(decodeBool(u8(1, 0)), undefined);
  });
});

describe('duration and timestamp', () => {
  test('encode a duration as int64 nanoseconds', () => {
    // 1.5 s = 1_500_000_000 ns = 0x59682F00
    assert.deepEqual(encodeDurationNanos(1_500_000_000n), u8(0x00, 0x2f, 0x68, 0x59, 0, 0, 0, 0));
    assert.equal(decodeDurationNanos(encodeDurationNanos(-7n)), -7n);
  });

  test('encode a timestamp as int64 nanoseconds since the epoch', () => {
    const ms = 1_700_000_000_123n;
    const b = encodeTimestampNanos(ms * 1_000_000n);
    assert.deepEqual(b, encodeInt64(1_700_000_000_123_000_000n));
    assert.equal(decodeTimestampNanos(b), 1_700_000_000_123_000_000n);
  });
});

describe('string map and list', () => {
  test('encode a string map with the §5.1 pair layout (golden bytes)', () => {
    assert.deepEqual(
      encodeStringMap([['a', '1'], ['b', '22']]),
      u8(2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0x61, 0, 0x31, 0, 0x62, 0, 0x32, 0x32, 0),
    );
  });

  test('round-trip a header map with duplicates in order', () => {
    const m: Array<[string, string]> = [[':path', '/'], ['x-a', '1'], ['x-a', '2']];
    assert.deepEqual(decodeStringMap(encodeStringMap(m)), m);
    assert.deepEqual(decodeStringMap(encodeStringMap([])), []);
    assert.equal(decodeStringMap(u8(1, 0, 0, 0)), undefined);
  });

  test('encode a list as pairs with empty values', () => {
    assert.deepEqual(encodeStringList(['x', 'y']), encodePairs([['x', ''], ['y', '']]));
    assert.deepEqual(decodeStringList(encodeStringList(['x', 'y'])), ['x', 'y']);
    assert.deepEqual(decodeStringList(encodeStringList([])), []);
  });

  test('refuse a pairs buffer with a non-empty value as a list', () => {
    assert.equal(decodeStringList(encodeStringMap([['x', '1']])), undefined);
  });
});
