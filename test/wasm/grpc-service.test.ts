import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseGrpcUpstream } from '../../runtime/wasm/grpc-service.ts';
import { prng } from '../helpers/prng.ts';

// A hand-written protobuf encoder, independent of the reader under test.
function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? b : b | 0x80);
  } while (v !== 0n);
  return out;
}
const tag = (field: number, wire: number): number[] => varint((field << 3) | wire);
const bytesField = (field: number, payload: ArrayLike<number>): number[] => [...tag(field, 2), ...varint(payload.length), ...Array.from(payload)];
const strField = (field: number, s: string): number[] => bytesField(field, new TextEncoder().encode(s));
const varintField = (field: number, v: number | bigint): number[] => [...tag(field, 0), ...varint(v)];
const u8 = (...parts: number[][]): Uint8Array => new Uint8Array(parts.flat());

const envoyGrpc = (cluster: string, authority?: string): number[] =>
  bytesField(1, [...strField(1, cluster), ...(authority === undefined ? [] : strField(2, authority))]);
const timeout = (seconds: number | bigint, nanos = 0): number[] =>
  bytesField(3, [...varintField(1, seconds), ...(nanos === 0 ? [] : varintField(2, nanos))]);
const header = (key: string, value: string): number[] => bytesField(5, [...strField(1, key), ...strField(2, value)]);

describe('parseGrpcUpstream', () => {
  test('reads envoy_grpc.cluster_name from the annotated golden bytes', () => {
    const golden = new Uint8Array([
      0x0a, 0x07, //       field 1 (envoy_grpc), LEN 7
      0x0a, 0x05, //         field 1 (cluster_name), LEN 5
      0x61, 0x75, 0x74, 0x68, 0x7a, // "authz"
    ]);
    assert.deepEqual(parseGrpcUpstream(golden), {
      ok: true,
      form: 'service',
      clusterName: 'authz',
      authority: undefined,
      timeoutMs: undefined,
      initialMetadata: [],
    });
  });

  test('reads authority, timeout and initial metadata and skips unknown fields of every wire type', () => {
    const bytes = u8(
      varintField(99, 7), // unknown varint
      [...tag(98, 1), 1, 2, 3, 4, 5, 6, 7, 8], // unknown fixed64
      [...tag(97, 5), 1, 2, 3, 4], // unknown fixed32
      bytesField(6, [1, 2, 3]), // retry_policy: not read
      bytesField(1, [...strField(1, 'ext-authz'), ...strField(2, 'authz.internal'), ...varintField(5, 1)]),
      timeout(1, 500_000_000),
      header('X-Tenant', 'acme'),
      bytesField(5, [...strField(1, 'trace-bin'), ...bytesField(3, [0, 255, 1])]),
    );
    assert.deepEqual(parseGrpcUpstream(bytes), {
      ok: true,
      form: 'service',
      clusterName: 'ext-authz',
      authority: 'authz.internal',
      timeoutMs: 1500,
      initialMetadata: [
        ['X-Tenant', 'acme'],
        ['trace-bin', new Uint8Array([0, 255, 1])],
      ],
    });
  });

  test('rounds timeout nanos down to whole milliseconds', () => {
    const r = parseGrpcUpstream(u8(envoyGrpc('c'), timeout(0, 1_999_999)));
    assert.ok(r.ok);
    assert.equal(r.timeoutMs, 1);
  });

  test('treats a plain cluster name as the 0.1.x cluster-name form', () => {
    for (const name of ['outbound|443||authz.default.svc.cluster.local', 'my_cluster', 'x', 'grpc-backend']) {
      assert.deepEqual(parseGrpcUpstream(new TextEncoder().encode(name)), {
        ok: true,
        form: 'cluster-name',
        clusterName: name,
        authority: undefined,
        timeoutMs: undefined,
        initialMetadata: [],
      }, name);
    }
  });

  test('treats bytes that are not well-formed wire format as a cluster name', () => {
    // 0x0a then a length running past the end.
    const r = parseGrpcUpstream(new Uint8Array([0x0a, 0x05, 0x61, 0x62]));
    assert.ok(r.ok);
    assert.equal(r.form, 'cluster-name');
    assert.equal(r.clusterName, '\n\x05ab');
  });

  test('refuses empty bytes and bytes that are neither a GrpcService nor UTF-8', () => {
    assert.equal(parseGrpcUpstream(new Uint8Array()).ok, false);
    assert.equal(parseGrpcUpstream(new Uint8Array([0xff, 0xfe, 0x80])).ok, false);
  });

  test('refuses google_grpc, an empty cluster_name and an out-of-range timeout', () => {
    const cases: Array<[string, Uint8Array]> = [
      ['google_grpc', u8(bytesField(2, strField(1, 'dns:///x')))],
      ['empty cluster_name', u8(bytesField(1, []))],
      ['negative seconds', u8(envoyGrpc('c'), timeout(-1))],
      ['negative nanos', u8(envoyGrpc('c'), timeout(0, -5))],
      ['nanos over a second', u8(envoyGrpc('c'), timeout(0, 1_000_000_000))],
      ['seconds over 10000 years', u8(envoyGrpc('c'), timeout(315_576_000_001n))],
    ];
    for (const [what, bytes] of cases) {
      const r = parseGrpcUpstream(bytes);
      assert.equal(r.ok, false, what);
    }
  });

  test('lets the last target on the wire win, as a protobuf oneof merges', () => {
    const googleThenEnvoy = parseGrpcUpstream(u8(bytesField(2, []), envoyGrpc('c')));
    assert.ok(googleThenEnvoy.ok);
    assert.equal(googleThenEnvoy.clusterName, 'c');
    assert.equal(parseGrpcUpstream(u8(envoyGrpc('c'), bytesField(2, []))).ok, false);
  });

  test('refuses more initial_metadata entries than the limit', () => {
    const three = u8(envoyGrpc('c'), header('a', '1'), header('b', '2'), header('c', '3'));
    assert.equal(parseGrpcUpstream(three, { maxMetadata: 3 }).ok, true);
    const r = parseGrpcUpstream(three, { maxMetadata: 2 });
    assert.equal(r.ok, false);
  });

  test('treats a field of the wrong wire type as malformed, falling back to the cluster name', () => {
    // envoy_grpc with cluster_name sent as a varint.
    const r = parseGrpcUpstream(u8(bytesField(1, varintField(1, 5))));
    assert.ok(r.ok);
    assert.equal(r.form, 'cluster-name');
  });

  test('never throws on random bytes or on mutations of a valid service (seeded fuzz)', () => {
    const rand = prng(0x67727063);
    const valid = u8(envoyGrpc('cluster', 'auth'), timeout(3, 5), header('k', 'v'));
    for (let i = 0; i < 3000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = new Uint8Array(Math.floor(rand() * 40));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
      } else {
        bytes = valid.slice(0, 1 + Math.floor(rand() * valid.length));
        const flips = 1 + Math.floor(rand() * 3);
        for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      }
      const r = parseGrpcUpstream(bytes);
      if (r.ok) assert.ok(r.clusterName.length > 0);
      else assert.equal(typeof r.error, 'string');
    }
  });
});
