import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as E from '../../abi/enums.ts';

// Expected values copied from /work/shared/docs/proxy-wasm-abi.md §4, one row per enum.
const rows: Array<[string, Record<string, number>, Record<string, number>]> = [
  ['WasmResult', E.WasmResult, {
    Ok: 0, NotFound: 1, BadArgument: 2, SerializationFailure: 3, ParseFailure: 4, BadExpression: 5,
    InvalidMemoryAccess: 6, Empty: 7, CasMismatch: 8, ResultMismatch: 9, InternalFailure: 10,
    BrokenConnection: 11, Unimplemented: 12,
  }],
  ['LogLevel', E.LogLevel, { Trace: 0, Debug: 1, Info: 2, Warn: 3, Error: 4, Critical: 5 }],
  ['MapType', E.MapType, {
    HttpRequestHeaders: 0, HttpRequestTrailers: 1, HttpResponseHeaders: 2, HttpResponseTrailers: 3,
    GrpcCallInitialMetadata: 4, GrpcCallTrailingMetadata: 5, HttpCallResponseHeaders: 6,
    HttpCallResponseTrailers: 7,
  }],
  ['BufferType', E.BufferType, {
    HttpRequestBody: 0, HttpResponseBody: 1, DownstreamData: 2, UpstreamData: 3, HttpCallResponseBody: 4,
    GrpcCallMessage: 5, VmConfiguration: 6, PluginConfiguration: 7, ForeignFunctionArguments: 8,
  }],
  ['BufferFlags', E.BufferFlags, { EndOfStream: 1 }],
  ['StreamType', E.StreamType, { HttpRequest: 0, HttpResponse: 1, Downstream: 2, Upstream: 3 }],
  ['Action', E.Action, { Continue: 0, Pause: 1 }],
  ['FilterStatus', E.FilterStatus, { Continue: 0, StopIteration: 1 }],
  ['FilterHeadersStatus', E.FilterHeadersStatus, {
    Continue: 0, StopIteration: 1, ContinueAndEndStream: 2, StopAllIterationAndBuffer: 3,
    StopAllIterationAndWatermark: 4,
  }],
  ['FilterDataStatus', E.FilterDataStatus, {
    Continue: 0, StopIterationAndBuffer: 1, StopIterationAndWatermark: 2, StopIterationNoBuffer: 3,
  }],
  ['FilterTrailersStatus', E.FilterTrailersStatus, { Continue: 0, StopIteration: 1 }],
  ['FilterMetadataStatus', E.FilterMetadataStatus, { Continue: 0 }],
  ['PeerType', E.PeerType, { Unknown: 0, Local: 1, Remote: 2 }],
  ['CloseType', E.CloseType, { Unknown: 0, Local: 1, Remote: 2 }],
  ['MetricType', E.MetricType, { Counter: 0, Gauge: 1, Histogram: 2 }],
  ['GrpcStatus', E.GrpcStatus, {
    Ok: 0, Canceled: 1, Unknown: 2, InvalidArgument: 3, DeadlineExceeded: 4, NotFound: 5, AlreadyExists: 6,
    PermissionDenied: 7, ResourceExhausted: 8, FailedPrecondition: 9, Aborted: 10, OutOfRange: 11,
    Unimplemented: 12, Internal: 13, Unavailable: 14, DataLoss: 15, Unauthenticated: 16, InvalidCode: -1,
  }],
];

describe('abi enums', () => {
  for (const [name, actual, expected] of rows) {
    test(`${name} has exactly the wire values listed in the ABI reference`, () => {
      assert.deepEqual({ ...actual }, expected);
    });
    test(`${name} gives every member a distinct value`, () => {
      const values = Object.values(actual);
      assert.equal(new Set(values).size, values.length);
    });
  }

  test('every exported enum object is covered by the value table', () => {
    const enumExports = Object.entries(E).filter(([, v]) => typeof v === 'object').map(([k]) => k).sort();
    assert.deepEqual(enumExports, rows.map(([n]) => n).sort());
  });

  test('CloseType is the same object as PeerType', () => {
    assert.equal(E.CloseType, E.PeerType);
  });

  test("Envoy's log level 6 (off) lies outside LogLevel", () => {
    assert.equal(E.LOG_LEVEL_OFF_ENVOY, 6);
    assert.ok(!(Object.values(E.LogLevel) as number[]).includes(E.LOG_LEVEL_OFF_ENVOY));
  });
});
