import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import { AbiVersion } from '../../abi/abi-version.ts';
import { BufferType, LogLevel, MapType, MetricType, StreamType, WasmResult } from '../../abi/enums.ts';
import { GuestMemory } from '../../abi/guest-memory.ts';
import { encodePairs, latin1ToBytes } from '../../abi/header-pairs.ts';
import type { HostBuffer, HostContext, HostHeaderMap, Pairs } from '../../abi/host-context.ts';
import { createProxyWasmImports } from '../../abi/host-functions.ts';
import { ENV_HELPER_IMPORTS, PROXY_IMPORTS } from '../../abi/imports.ts';
import { encodePropertyPath } from '../../abi/property-path.ts';
import { prng } from '../helpers/prng.ts';

// The import table is under test; the HostContext below only records what reaches it and answers
// with fixed values. No wasm module: the "guest" is a real WebAssembly.Memory written by the test.

// tsconfig's lib (esnext) and @types/node do not declare the WebAssembly namespace; the runtime has it.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
const { WebAssembly } = globalThis as unknown as {
  WebAssembly: { Memory: new (desc: { initial: number; maximum?: number }) => WasmMemory };
};

type Arg = number | bigint;
type Env = Record<string, (...args: Arg[]) => number | undefined>;
/** A HostContext method call (or a mutation of a map/buffer it handed out): name, then arguments. */
type Call = [string, ...unknown[]];

const PAGE = 65536;
/** Guest memory layout of the harness: inputs the guest passes, return slots, allocator heap. */
const INPUTS = 0x0100;
const SLOTS = 0x8000;
const HEAP = 0xc000;
/** Return slots are pre-filled with this byte so "untouched" is checkable. */
const SENTINEL = 0xa5;

const { Ok, NotFound, BadArgument, InvalidMemoryAccess: IMA, Empty, CasMismatch, InternalFailure } = WasmResult;

/** HostContext methods without side effects; anything else in `calls` is a side effect. */
const READS = new Set([
  'logLevel',
  'currentTimeNanoseconds',
  'configuration',
  'buffer',
  'headerMap',
  'getProperty',
  'status',
  'getSharedData',
  'resolveSharedQueue',
  'getMetric',
]);

const latin1 = (s: string): Uint8Array => latin1ToBytes(s);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

interface MapSetup {
  pairs: Pairs;
  /** No add/replace/remove/setPairs: mutations answer BadArgument. */
  readOnly?: boolean;
}
interface BufferSetup {
  bytes: Uint8Array | string;
  /** No `set`: proxy_set_buffer_bytes answers BadArgument. */
  immutable?: boolean;
}
type Allocator = 'bump' | 'grow' | 'zero' | ((size: number) => number);

interface Setup {
  abiVersion?: AbiVersion;
  /** bump: exact blocks from HEAP; grow: each block is a new page (memory grows); zero: failure. */
  allocator?: Allocator;
  maps?: Partial<Record<MapType, MapSetup>>;
  buffers?: Partial<Record<BufferType, BufferSetup>>;
  host?: Partial<HostContext>;
  /** The host reports no memory, as before the instance's exports are bound. */
  noMemory?: boolean;
}

const REQUEST_HEADERS: Pairs = [
  [':method', 'GET'],
  [':path', '/'],
  [':authority', 'example.com'],
  ['x-a', '1'],
];
const DEFAULT_MAPS: NonNullable<Setup['maps']> = {
  [MapType.HttpRequestHeaders]: { pairs: REQUEST_HEADERS },
  [MapType.HttpCallResponseHeaders]: { pairs: [[':status', '200']], readOnly: true },
};
const DEFAULT_BUFFERS: NonNullable<Setup['buffers']> = {
  [BufferType.HttpRequestBody]: { bytes: 'hello world' },
  [BufferType.HttpCallResponseBody]: { bytes: 'call body', immutable: true },
  [BufferType.PluginConfiguration]: { bytes: 'plugin-config', immutable: true },
};

function harness(setup: Setup = {}) {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
  const guest = new GuestMemory(memory);
  const calls: Call[] = [];
  const allocations: Array<{ size: number; addr: number }> = [];
  let memoryCalls = 0;
  let heap = HEAP;
  let inputs = INPUTS;
  let slots = SLOTS;

  const allocate = (size: number): number => {
    const kind = setup.allocator ?? 'bump';
    let addr: number;
    if (typeof kind === 'function') addr = kind(size);
    else if (kind === 'zero') addr = 0;
    else if (kind === 'grow') addr = memory.grow(1) * PAGE; // the old page count is where the new page starts
    else {
      addr = heap;
      heap += (size + 7) & ~7;
    }
    allocations.push({ size, addr });
    return addr;
  };

  const mapObjects = new Map<number, HostHeaderMap>();
  for (const [key, m] of Object.entries(setup.maps ?? DEFAULT_MAPS)) {
    const type = Number(key);
    const pairs: Pairs = m.pairs.map(([k, v]) => [k, v]);
    const map: HostHeaderMap = {
      pairs: () => pairs.map(([k, v]) => [k, v]),
      get: (k) => pairs.find((p) => p[0] === k)?.[1],
      byteSize: () => pairs.reduce((n, [k, v]) => n + k.length + v.length, 0),
    };
    if (m.readOnly !== true) {
      map.add = (k, v) => {
        calls.push(['map.add', type, k, v]);
        pairs.push([k, v]);
      };
      map.replace = (k, v) => {
        calls.push(['map.replace', type, k, v]);
        const kept = pairs.filter((p) => p[0] !== k);
        pairs.splice(0, pairs.length, ...kept, [k, v]);
      };
      map.remove = (k) => {
        calls.push(['map.remove', type, k]);
        const kept = pairs.filter((p) => p[0] !== k);
        pairs.splice(0, pairs.length, ...kept);
      };
      map.setPairs = (p) => {
        calls.push(['map.setPairs', type, p]);
        pairs.splice(0, pairs.length, ...p);
      };
    }
    mapObjects.set(type, map);
  }

  const bufferObjects = new Map<number, HostBuffer>();
  for (const [key, b] of Object.entries(setup.buffers ?? DEFAULT_BUFFERS)) {
    const type = Number(key);
    const data = typeof b.bytes === 'string' ? latin1(b.bytes) : b.bytes;
    const buffer: HostBuffer = { bytes: () => data };
    if (b.immutable !== true) {
      buffer.set = (start, size, d) => {
        calls.push(['buffer.set', type, start, size, d]);
        return Ok;
      };
    }
    bufferObjects.set(type, buffer);
  }

  const base: HostContext = {
    abiVersion: setup.abiVersion ?? AbiVersion.V0_2_1,
    memory: () => {
      memoryCalls++;
      return setup.noMemory === true ? undefined : guest;
    },
    allocate,
    log: () => {},
    logLevel: () => LogLevel.Info,
    currentTimeNanoseconds: () => 0n,
    setTickPeriodMilliseconds: () => Ok,
    setEffectiveContext: () => Ok,
    done: () => Ok,
    configuration: () => latin1('vm-config'),
    buffer: (type) => {
      const b = bufferObjects.get(type);
      return b === undefined ? { result: NotFound } : { result: Ok, value: b };
    },
    headerMap: (type) => {
      const m = mapObjects.get(type);
      return m === undefined ? { result: BadArgument } : { result: Ok, value: m };
    },
    getProperty: () => ({ result: Ok, value: latin1('prop-value') }),
    setProperty: () => Ok,
    continueStream: () => Ok,
    closeStream: () => Ok,
    clearRouteCache: () => Ok,
    sendLocalResponse: () => Ok,
    status: () => ({ code: WasmResult.BrokenConnection, message: latin1('reset') }),
    httpCall: () => ({ result: Ok, value: 0x1234 }),
    grpcCall: () => ({ result: Ok, value: 0x2345 }),
    grpcStream: () => ({ result: Ok, value: 0x3456 }),
    grpcSend: () => Ok,
    grpcCancel: () => Ok,
    grpcClose: () => Ok,
    getSharedData: () => ({ result: Ok, value: { value: latin1('shared'), cas: 0x01020304 } }),
    setSharedData: () => Ok,
    registerSharedQueue: () => ({ result: Ok, value: 5 }),
    resolveSharedQueue: () => ({ result: Ok, value: 6 }),
    enqueueSharedQueue: () => Ok,
    dequeueSharedQueue: () => ({ result: Ok, value: latin1('item') }),
    defineMetric: () => ({ result: Ok, value: 8 }),
    incrementMetric: () => Ok,
    recordMetric: () => Ok,
    getMetric: () => ({ result: Ok, value: 42n }),
    callForeignFunction: () => ({ result: Ok, value: latin1('foreign-result') }),
    resolveDns: () => ({ result: Ok, value: 9 }),
  };

  // Every method except memory/allocate records its arguments before answering. abiVersion is read
  // from `setup` on every access, so a test may change it between calls.
  const host: Record<string, unknown> = {};
  Object.defineProperty(host, 'abiVersion', { get: () => setup.abiVersion ?? AbiVersion.V0_2_1, enumerable: true });
  for (const [name, value] of Object.entries({ ...base, ...setup.host })) {
    if (name === 'abiVersion') continue;
    host[name] =
      typeof value === 'function' && name !== 'memory' && name !== 'allocate'
        ? (...args: unknown[]) => {
            calls.push([name, ...args]);
            return (value as (...a: unknown[]) => unknown)(...args);
          }
        : value;
  }
  const env = createProxyWasmImports(host as unknown as HostContext) as unknown as Env;

  const bytes = (): Uint8Array => new Uint8Array(memory.buffer);
  const view = (): DataView => new DataView(memory.buffer);

  return {
    env,
    memory,
    calls,
    allocations,
    get memoryCalls() {
      return memoryCalls;
    },
    /** Copies guest input into memory; returns [ptr, len] ready to spread into an argument list. */
    put(data: Uint8Array | string): [number, number] {
      const b = typeof data === 'string' ? latin1(data) : data;
      const ptr = inputs;
      bytes().set(b, ptr);
      inputs += (b.byteLength + 8) & ~7;
      assert.ok(inputs < SLOTS, 'harness input area overflow');
      return [ptr, b.byteLength];
    },
    putPairs(pairs: Pairs): [number, number] {
      return this.put(encodePairs(pairs, { latin1: true }));
    },
    /** A return slot of `width` bytes filled with SENTINEL. */
    slot(width = 4): number {
      const ptr = slots;
      bytes().fill(SENTINEL, ptr, ptr + width);
      slots += 8;
      assert.ok(slots < HEAP, 'harness slot area overflow');
      return ptr;
    },
    u32: (ptr: number): number => view().getUint32(ptr, true),
    u64: (ptr: number): bigint => view().getBigUint64(ptr, true),
    read: (ptr: number, len: number): Uint8Array => bytes().slice(ptr, ptr + len),
    write: (ptr: number, data: Uint8Array): void => bytes().set(data, ptr),
    untouched: (ptr: number, width = 4): boolean => bytes().subarray(ptr, ptr + width).every((b) => b === SENTINEL),
    snapshot: (): Uint8Array => bytes().slice(),
    memoryBytes: bytes,
    sideEffects: (): Call[] => calls.filter((c) => !READS.has(c[0])),
    named: (name: string): Call[] => calls.filter((c) => c[0] === name),
  };
}
type Harness = ReturnType<typeof harness>;

/** Exactly one allocation of exactly `expected.length` bytes, its address and size in the slots, the bytes there. */
function assertReturned(h: Harness, ptrSlot: number, sizeSlot: number, expected: Uint8Array): void {
  assert.equal(h.allocations.length, 1, 'exactly one allocation');
  const [{ size, addr }] = h.allocations;
  assert.equal(size, expected.byteLength, 'allocation of the exact size');
  assert.equal(h.u32(ptrSlot), addr >>> 0, 'address written to the pointer slot');
  assert.equal(h.u32(sizeSlot), expected.byteLength, 'length written to the size slot');
  assert.deepEqual(h.read(addr, size), expected);
}

/** Empty result: 0/0 written and no allocation. */
function assertEmptyReturn(h: Harness, ptrSlot: number, sizeSlot: number): void {
  assert.deepEqual(h.allocations, [], 'no allocation for an empty result');
  assert.equal(h.u32(ptrSlot), 0);
  assert.equal(h.u32(sizeSlot), 0);
}

function assertSlotsUntouched(h: Harness, ...slots: number[]): void {
  for (const s of slots) assert.ok(h.untouched(s), `slot ${s} untouched`);
}

// ---- pointer map of every function: used by the out-of-bounds table and the fuzz ----------------

interface Spec {
  name: string;
  arity: number;
  /** [ptr index, size index] of guest inputs. */
  inputs: Array<[number, number]>;
  /** [ptr index, width] of return slots (written by the table). */
  slots: Array<[number, number]>;
  /** Indexes of i64 (BigInt) arguments. */
  i64?: number[];
  /** Returns nothing (not a status). */
  void?: boolean;
  /** An argument vector that answers Ok with the default harness and uses every pointer. */
  good(h: Harness): Arg[];
}

const CALL_HEADERS: Pairs = [
  [':method', 'POST'],
  [':path', '/check'],
  [':authority', 'auth'],
];

function spec(name: string, arity: number, inputs: Spec['inputs'], slots: Spec['slots'], good: Spec['good'], extra: Partial<Spec> = {}): Spec {
  return { name, arity, inputs, slots, good, ...extra };
}

const SPECS: Spec[] = [
  spec('proxy_log', 3, [[1, 2]], [], (h) => [LogLevel.Info, ...h.put('hello')]),
  spec('proxy_get_log_level', 1, [], [[0, 4]], (h) => [h.slot()]),
  spec('proxy_get_current_time_nanoseconds', 1, [], [[0, 8]], (h) => [h.slot(8)]),
  spec('proxy_set_tick_period_milliseconds', 1, [], [], () => [100]),
  spec('proxy_set_effective_context', 1, [], [], () => [2]),
  spec('proxy_done', 0, [], [], () => []),
  spec('proxy_get_configuration', 2, [], [[0, 4], [1, 4]], (h) => [h.slot(), h.slot()]),
  spec('proxy_get_buffer_bytes', 5, [], [[3, 4], [4, 4]], (h) => [BufferType.HttpRequestBody, 0, 5, h.slot(), h.slot()]),
  spec('proxy_get_buffer_status', 3, [], [[1, 4], [2, 4]], (h) => [BufferType.HttpRequestBody, h.slot(), h.slot()]),
  spec('proxy_set_buffer_bytes', 5, [[3, 4]], [], (h) => [BufferType.HttpRequestBody, 0, 0, ...h.put('data')]),
  spec('proxy_get_header_map_pairs', 3, [], [[1, 4], [2, 4]], (h) => [MapType.HttpRequestHeaders, h.slot(), h.slot()]),
  spec('proxy_set_header_map_pairs', 3, [[1, 2]], [], (h) => [MapType.HttpRequestHeaders, ...h.putPairs([['a', '1']])]),
  spec('proxy_get_header_map_size', 2, [], [[1, 4]], (h) => [MapType.HttpRequestHeaders, h.slot()]),
  spec('proxy_get_header_map_value', 5, [[1, 2]], [[3, 4], [4, 4]], (h) => [MapType.HttpRequestHeaders, ...h.put(':path'), h.slot(), h.slot()]),
  spec('proxy_add_header_map_value', 5, [[1, 2], [3, 4]], [], (h) => [MapType.HttpRequestHeaders, ...h.put('x-new'), ...h.put('v')]),
  spec('proxy_replace_header_map_value', 5, [[1, 2], [3, 4]], [], (h) => [MapType.HttpRequestHeaders, ...h.put('x-a'), ...h.put('v')]),
  spec('proxy_remove_header_map_value', 3, [[1, 2]], [], (h) => [MapType.HttpRequestHeaders, ...h.put('x-a')]),
  spec('proxy_get_property', 4, [[0, 1]], [[2, 4], [3, 4]], (h) => [...h.put(encodePropertyPath(['request', 'path'])), h.slot(), h.slot()]),
  spec('proxy_set_property', 4, [[0, 1], [2, 3]], [], (h) => [...h.put(encodePropertyPath(['my', 'key'])), ...h.put('v')]),
  spec('proxy_continue_stream', 1, [], [], () => [StreamType.HttpRequest]),
  spec('proxy_close_stream', 1, [], [], () => [StreamType.HttpResponse]),
  spec('proxy_continue_request', 0, [], [], () => []),
  spec('proxy_continue_response', 0, [], [], () => []),
  spec('proxy_clear_route_cache', 0, [], [], () => []),
  spec('proxy_send_local_response', 8, [[1, 2], [3, 4], [5, 6]], [], (h) => [403, ...h.put('denied'), ...h.put('body'), ...h.putPairs([['x-a', '1']]), -1]),
  spec('proxy_get_status', 3, [], [[0, 4], [1, 4], [2, 4]], (h) => [h.slot(), h.slot(), h.slot()]),
  spec('proxy_http_call', 10, [[0, 1], [2, 3], [4, 5], [6, 7]], [[9, 4]], (h) => [
    ...h.put('cluster'),
    ...h.putPairs(CALL_HEADERS),
    ...h.put('body'),
    ...h.putPairs([['t', '1']]),
    1000,
    h.slot(),
  ]),
  spec('proxy_grpc_call', 12, [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]], [[11, 4]], (h) => [
    ...h.put('cluster'),
    ...h.put('svc'),
    ...h.put('Method'),
    ...h.putPairs([['md', 'v']]),
    ...h.put('msg'),
    1000,
    h.slot(),
  ]),
  spec('proxy_grpc_call', 10, [[0, 1], [2, 3], [4, 5], [6, 7]], [[9, 4]], (h) => [
    ...h.put('cluster'),
    ...h.put('svc'),
    ...h.put('Method'),
    ...h.put('msg'),
    1000,
    h.slot(),
  ]),
  spec('proxy_grpc_stream', 9, [[0, 1], [2, 3], [4, 5], [6, 7]], [[8, 4]], (h) => [
    ...h.put('cluster'),
    ...h.put('svc'),
    ...h.put('Method'),
    ...h.putPairs([['md', 'v']]),
    h.slot(),
  ]),
  spec('proxy_grpc_stream', 7, [[0, 1], [2, 3], [4, 5]], [[6, 4]], (h) => [...h.put('cluster'), ...h.put('svc'), ...h.put('Method'), h.slot()]),
  spec('proxy_grpc_send', 4, [[1, 2]], [], (h) => [0x2345, ...h.put('msg'), 1]),
  spec('proxy_grpc_cancel', 1, [], [], () => [0x2345]),
  spec('proxy_grpc_close', 1, [], [], () => [0x2345]),
  spec('proxy_get_shared_data', 5, [[0, 1]], [[2, 4], [3, 4], [4, 4]], (h) => [...h.put('k'), h.slot(), h.slot(), h.slot()]),
  spec('proxy_set_shared_data', 5, [[0, 1], [2, 3]], [], (h) => [...h.put('k'), ...h.put('v'), 0]),
  spec('proxy_register_shared_queue', 3, [[0, 1]], [[2, 4]], (h) => [...h.put('q'), h.slot()]),
  spec('proxy_resolve_shared_queue', 5, [[0, 1], [2, 3]], [[4, 4]], (h) => [...h.put('vm'), ...h.put('q'), h.slot()]),
  spec('proxy_enqueue_shared_queue', 3, [[1, 2]], [], (h) => [5, ...h.put('item')]),
  spec('proxy_dequeue_shared_queue', 3, [], [[1, 4], [2, 4]], (h) => [5, h.slot(), h.slot()]),
  spec('proxy_define_metric', 4, [[1, 2]], [[3, 4]], (h) => [MetricType.Counter, ...h.put('requests'), h.slot()]),
  spec('proxy_increment_metric', 2, [], [], () => [8, 1n], { i64: [1] }),
  spec('proxy_record_metric', 2, [], [], () => [8, 1n], { i64: [1] }),
  spec('proxy_get_metric', 2, [], [[1, 8]], (h) => [8, h.slot(8)]),
  spec('proxy_call_foreign_function', 6, [[0, 1], [2, 3]], [[4, 4], [5, 4]], (h) => [...h.put('fn'), ...h.put('args'), h.slot(), h.slot()]),
  spec('envoy_resolve_dns', 3, [[0, 1]], [[2, 4]], (h) => [...h.put('example.com'), h.slot()]),
  spec('emscripten_notify_memory_growth', 1, [], [], () => [0], { void: true }),
  spec('pthread_equal', 2, [], [], () => [1, 2]),
];

test('the pointer map covers every function of the table in every arity imports.ts accepts', () => {
  const env = harness().env;
  const rows = [...PROXY_IMPORTS, ...ENV_HELPER_IMPORTS].filter((r) => Object.hasOwn(env, r.name));
  assert.deepEqual(new Set(rows.map((r) => r.name)), new Set(Object.keys(env)));
  const wanted = rows.flatMap((r) => [r, ...(r.alsoAccepted ?? [])].map((sig) => `${r.name}/${sig.params.length}`)).sort();
  assert.deepEqual(SPECS.map((s) => `${s.name}/${s.arity}`).sort(), wanted);
  for (const r of rows) {
    const i64 = r.params.flatMap((p, i) => (p === 'i64' ? [i] : []));
    for (const s of SPECS.filter((x) => x.name === r.name)) assert.deepEqual(s.i64 ?? [], i64, r.name);
  }
});

// ---- enum range checks ---------------------------------------------------------------------

describe('enum range checks', () => {
  // [function, index of the enum argument, first out-of-range value]
  const rows: Array<[string, number, number]> = [
    ['proxy_log', 0, 6],
    ['proxy_get_buffer_bytes', 0, 9],
    ['proxy_get_buffer_status', 0, 9],
    ['proxy_set_buffer_bytes', 0, 9],
    ['proxy_get_header_map_pairs', 0, 8],
    ['proxy_set_header_map_pairs', 0, 8],
    ['proxy_get_header_map_size', 0, 8],
    ['proxy_get_header_map_value', 0, 8],
    ['proxy_add_header_map_value', 0, 8],
    ['proxy_replace_header_map_value', 0, 8],
    ['proxy_remove_header_map_value', 0, 8],
    ['proxy_continue_stream', 0, 4],
    ['proxy_close_stream', 0, 4],
    ['proxy_define_metric', 0, 3],
  ];
  // Negative i32s must not pass a signed `> max` check.
  const variants = (first: number): number[] => [first, first + 1, 0x7fffffff, -1, -(2 ** 31), 0x80000000, 0xffffffff];

  for (const [name, at, first] of rows) {
    const s = SPECS.find((x) => x.name === name);
    assert.ok(s !== undefined);
    test(`${name} answers BadArgument for ${first} and above, before anything else, without calling the host`, () => {
      for (const value of variants(first)) {
        const h = harness();
        const args = s.good(h);
        args[at] = value;
        // Every pointer out of bounds too: the enum check comes first.
        for (const [p] of [...s.inputs, ...s.slots]) args[p] = 0xfffffff0;
        const before = h.snapshot();
        assert.equal(h.env[name](...args), BadArgument, `${name}(${value})`);
        assert.deepEqual(h.calls, [], 'host not called');
        assert.equal(h.memoryCalls, 0, 'memory not consulted');
        assert.deepEqual(h.allocations, []);
        assert.deepEqual(h.snapshot(), before);
      }
    });
  }

  test('the last valid value of each enum is accepted', () => {
    const h = harness({
      maps: { [MapType.HttpCallResponseTrailers]: { pairs: [['a', 'b']] } },
      buffers: { [BufferType.ForeignFunctionArguments]: { bytes: 'x' } },
    });
    const slot = h.slot();
    assert.equal(h.env.proxy_log(LogLevel.Critical, ...h.put('m')), Ok);
    assert.equal(h.env.proxy_get_buffer_status(BufferType.ForeignFunctionArguments, slot, h.slot()), Ok);
    assert.equal(h.env.proxy_get_header_map_size(MapType.HttpCallResponseTrailers, slot), Ok);
    assert.equal(h.env.proxy_continue_stream(StreamType.Upstream), Ok);
    assert.equal(h.env.proxy_close_stream(StreamType.Upstream), Ok);
    assert.equal(h.env.proxy_define_metric(MetricType.Histogram, ...h.put('h'), slot), Ok);
    assert.deepEqual(h.named('continueStream'), [['continueStream', StreamType.Upstream]]);
    assert.deepEqual(h.named('closeStream'), [['closeStream', StreamType.Upstream]]);
    assert.deepEqual(h.named('defineMetric'), [['defineMetric', MetricType.Histogram, 'h']]);
  });

  test('with no guest memory yet, enum checks still answer BadArgument and memory calls answer InvalidMemoryAccess', () => {
    const h = harness({ noMemory: true });
    assert.equal(h.env.proxy_get_header_map_value(8, 0, 0, 0, 0), BadArgument);
    assert.equal(h.env.proxy_add_header_map_value(8, 0, 0, 0, 0), BadArgument);
    assert.equal(h.env.proxy_log(6, 0, 0), BadArgument);
    for (const s of SPECS) {
      if (s.inputs.length === 0 && s.slots.length === 0) continue;
      assert.equal(h.env[s.name](...s.good(harness())), IMA, s.name);
    }
    assert.deepEqual(h.sideEffects(), []);
    assert.deepEqual(h.allocations, []);
  });
});

// ---- out-of-bounds pointers ------------------------------------------------------------------

describe('out-of-bounds guest pointers', () => {
  for (const s of SPECS) {
    if (s.inputs.length === 0 && s.slots.length === 0) continue;
    test(`${s.name}/${s.arity} answers InvalidMemoryAccess for each bad pointer, with no side effect, allocation or write`, () => {
      const sane = harness();
      assert.equal(sane.env[s.name](...s.good(sane)), Ok, 'the good vector itself is fine');
      const cases: Array<[string, (args: Arg[], size: number) => void]> = [];
      for (const [p, l] of s.inputs) {
        const bad = (v: number) => (args: Arg[]) => {
          args[p] = v;
        };
        cases.push([`input ${p} one byte past the end`, (args, size) => (args[p] = size - Number(args[l]) + 1)]);
        for (const v of [-1, -(2 ** 31), 0x80000000, 0xffffffff]) cases.push([`input ${p} = ${v}`, bad(v)]);
        // A valid pointer with a length whose end would wrap in 32-bit arithmetic, or exceed memory.
        cases.push([`input ${l} = -1`, (args) => (args[l] = -1)]);
        cases.push([`input ${l} = 0xffffffff`, (args) => (args[l] = 0xffffffff)]);
        cases.push([`input ${l} = 2 MiB`, (args) => (args[l] = 2 << 20)]);
      }
      for (const [p, width] of s.slots) {
        cases.push([`slot ${p} crossing the end`, (args, size) => (args[p] = size - width + 1)]);
        cases.push([`slot ${p} at the end`, (args, size) => (args[p] = size)]);
        for (const v of [-1, -4, -(2 ** 31), 0xffffffff]) cases.push([`slot ${p} = ${v}`, (args) => (args[p] = v)]);
      }
      for (const [what, mutate] of cases) {
        const h = harness();
        const args = s.good(h);
        mutate(args, h.memory.buffer.byteLength);
        const before = h.snapshot();
        assert.equal(h.env[s.name](...args), IMA, what);
        assert.deepEqual(h.sideEffects(), [], `${what}: no host side effect`);
        assert.deepEqual(h.allocations, [], `${what}: no guest allocation`);
        assert.ok(Buffer.from(h.snapshot()).equals(before), `${what}: guest memory unchanged`);
      }
    });
  }
});

// ---- returned memory protocol ----------------------------------------------------------------

describe('returned memory', () => {
  interface Returning {
    name: string;
    value: Uint8Array;
    /** Host setup returning `value` (or an empty value). */
    setup(empty: boolean): Setup;
    /** Writes the call's inputs and returns its arguments. */
    args(h: Harness, ptrSlot: number, sizeSlot: number): Arg[];
  }
  const call = (h: Harness, r: Returning, p: number, s: number): number | undefined => h.env[r.name](...r.args(h, p, s));
  const PAIRS: Pairs = [['k', 'v']];
  const rows: Returning[] = [
    {
      name: 'proxy_get_configuration',
      value: latin1('vm-config'),
      setup: (empty) => ({ host: { configuration: () => (empty ? new Uint8Array(0) : latin1('vm-config')) } }),
      args: (h, p, s) => [p, s],
    },
    {
      name: 'proxy_get_header_map_pairs',
      value: encodePairs(PAIRS),
      setup: (empty) => ({ maps: { [MapType.HttpRequestHeaders]: { pairs: empty ? [] : PAIRS } } }),
      args: (h, p, s) => [MapType.HttpRequestHeaders, p, s],
    },
    {
      name: 'proxy_get_header_map_value',
      value: latin1('v'),
      setup: (empty) => ({ maps: { [MapType.HttpRequestHeaders]: { pairs: [['k', empty ? '' : 'v']] } } }),
      args: (h, p, s) => [MapType.HttpRequestHeaders, ...h.put('k'), p, s],
    },
    {
      name: 'proxy_get_property',
      value: latin1('prop'),
      setup: (empty) => ({ host: { getProperty: () => ({ result: Ok, value: empty ? new Uint8Array(0) : latin1('prop') }) } }),
      args: (h, p, s) => [...h.put('a'), p, s],
    },
    {
      name: 'proxy_get_status',
      value: latin1('reset'),
      setup: (empty) => ({ host: { status: () => ({ code: 11, message: empty ? new Uint8Array(0) : latin1('reset') }) } }),
      args: (h, p, s) => [h.slot(), p, s],
    },
    {
      name: 'proxy_get_shared_data',
      value: latin1('shared'),
      setup: (empty) => ({ host: { getSharedData: () => ({ result: Ok, value: { value: empty ? new Uint8Array(0) : latin1('shared'), cas: 3 } }) } }),
      args: (h, p, s) => [...h.put('k'), p, s, h.slot()],
    },
    {
      name: 'proxy_dequeue_shared_queue',
      value: latin1('item'),
      setup: (empty) => ({ host: { dequeueSharedQueue: () => ({ result: Ok, value: empty ? new Uint8Array(0) : latin1('item') }) } }),
      args: (h, p, s) => [1, p, s],
    },
    {
      name: 'proxy_call_foreign_function',
      value: latin1('result'),
      setup: (empty) => ({ host: { callForeignFunction: () => ({ result: Ok, value: empty ? new Uint8Array(0) : latin1('result') }) } }),
      args: (h, p, s) => [...h.put('fn'), 0, 0, p, s],
    },
    {
      name: 'proxy_get_buffer_bytes',
      value: latin1('body'),
      setup: (empty) => ({ buffers: { [BufferType.HttpRequestBody]: { bytes: empty ? '' : 'body' } } }),
      args: (h, p, s) => [BufferType.HttpRequestBody, 0, -1, p, s],
    },
  ];

  for (const r of rows) {
    test(`${r.name} makes exactly one allocation of the exact size and writes its address and length`, () => {
      const h = harness(r.setup(false));
      const p = h.slot();
      const s = h.slot();
      assert.equal(call(h, r, p, s), Ok);
      assertReturned(h, p, s, r.value);
    });

    if (r.name === 'proxy_get_buffer_bytes') {
      test(`${r.name} answers Ok for 0 bytes without allocating and without writing either slot (cpp-host; solo-io relies on it)`, () => {
        const h = harness(r.setup(true));
        const p = h.slot();
        const s = h.slot();
        assert.equal(call(h, r, p, s), Ok);
        assert.deepEqual(h.allocations, []);
        assertSlotsUntouched(h, p, s);
        // Even an unusable slot is fine then: nothing is written.
        assert.equal(call(h, r, 0xfffffff0, 0xfffffff0), Ok);
      });
    } else {
      test(`${r.name} writes 0/0 and allocates nothing for an empty value`, () => {
        const h = harness(r.setup(true));
        const p = h.slot();
        const s = h.slot();
        assert.equal(call(h, r, p, s), Ok);
        assertEmptyReturn(h, p, s);
      });
    }

    test(`${r.name} answers InvalidMemoryAccess and writes nothing when the allocator fails or returns an unusable block`, () => {
      const failures: Array<[string, Allocator]> = [
        ['returns 0', 'zero'],
        ['returns a block crossing the end', (size) => PAGE - size + 1],
        ['returns a negative i32', () => -16],
      ];
      for (const [what, allocator] of failures) {
        const h = harness({ ...r.setup(false), allocator });
        const p = h.slot();
        const s = h.slot();
        const args = r.args(h, p, s);
        const before = h.snapshot();
        assert.equal(h.env[r.name](...args), IMA, what);
        assert.equal(h.allocations.length, 1, what);
        assert.equal(h.allocations[0].size, r.value.byteLength);
        assert.ok(Buffer.from(h.snapshot()).equals(before), `${what}: nothing written`);
      }
    });

    test(`${r.name} writes into memory the allocator grew (no stale view of the old buffer)`, () => {
      const h = harness({ ...r.setup(false), allocator: 'grow' });
      const p = h.slot();
      const s = h.slot();
      assert.equal(call(h, r, p, s), Ok);
      assert.equal(h.memory.buffer.byteLength, 2 * PAGE);
      assert.equal(h.allocations[0].addr, PAGE);
      assertReturned(h, p, s, r.value);
    });
  }
});

// ---- §3.2 logging, time, log level ---------------------------------------------------------------

describe('logging, time and log level', () => {
  test('proxy_log decodes the message as UTF-8 and passes the level', () => {
    const h = harness();
    assert.equal(h.env.proxy_log(LogLevel.Warn, ...h.put(utf8('héllo ✓'))), Ok);
    assert.equal(h.env.proxy_log(LogLevel.Trace, 0, 0), Ok);
    assert.deepEqual(h.calls, [
      ['log', LogLevel.Warn, 'héllo ✓'],
      ['log', LogLevel.Trace, ''],
    ]);
  });

  test('proxy_get_log_level writes the host level and clamps Envoy\'s 6 ("off") to 5', () => {
    for (const [level, written] of [
      [0, 0],
      [3, 3],
      [5, 5],
      [6, 5],
    ]) {
      const h = harness({ host: { logLevel: () => level } });
      const slot = h.slot();
      assert.equal(h.env.proxy_get_log_level(slot), Ok);
      assert.equal(h.u32(slot), written);
    }
  });

  test('proxy_get_current_time_nanoseconds writes a little-endian u64', () => {
    const h = harness({ host: { currentTimeNanoseconds: () => 0x0102030405060708n } });
    const slot = h.slot(8);
    assert.equal(h.env.proxy_get_current_time_nanoseconds(slot), Ok);
    assert.deepEqual(h.read(slot, 8), Uint8Array.of(0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01));
  });

  test('proxy_set_tick_period_milliseconds and proxy_set_effective_context pass unsigned values and the host answer', () => {
    const h = harness({ host: { setEffectiveContext: (id) => (id === 7 ? Ok : BadArgument) } });
    assert.equal(h.env.proxy_set_tick_period_milliseconds(-1), Ok);
    assert.equal(h.env.proxy_set_effective_context(7), Ok);
    assert.equal(h.env.proxy_set_effective_context(-(2 ** 31)), BadArgument);
    assert.deepEqual(h.calls, [
      ['setTickPeriodMilliseconds', 0xffffffff],
      ['setEffectiveContext', 7],
      ['setEffectiveContext', 0x80000000],
    ]);
  });

  test('proxy_done and the 0.1.0 stream calls answer what the host answers', () => {
    const h = harness({ host: { done: () => NotFound } });
    assert.equal(h.env.proxy_done(), NotFound);
    assert.equal(h.env.proxy_continue_request(), Ok);
    assert.equal(h.env.proxy_continue_response(), Ok);
    assert.equal(h.env.proxy_clear_route_cache(), Ok);
    assert.deepEqual(h.calls, [['done'], ['continueStream', StreamType.HttpRequest], ['continueStream', StreamType.HttpResponse], ['clearRouteCache']]);
  });

  test('proxy_continue_stream and proxy_close_stream pass the stream type and the host answer', () => {
    const h = harness({ host: { continueStream: (t) => (t === StreamType.Upstream ? WasmResult.Unimplemented : Ok) } });
    assert.equal(h.env.proxy_continue_stream(StreamType.Downstream), Ok);
    assert.equal(h.env.proxy_continue_stream(StreamType.Upstream), WasmResult.Unimplemented);
    assert.equal(h.env.proxy_close_stream(StreamType.HttpRequest), Ok);
    assert.deepEqual(h.calls, [
      ['continueStream', StreamType.Downstream],
      ['continueStream', StreamType.Upstream],
      ['closeStream', StreamType.HttpRequest],
    ]);
  });
});

// ---- §3.5 buffers ----------------------------------------------------------------------------

describe('buffers', () => {
  const get = (h: Harness, start: number, max: number): { result: number | undefined; p: number; s: number } => {
    const p = h.slot();
    const s = h.slot();
    return { result: h.env.proxy_get_buffer_bytes(BufferType.HttpRequestBody, start, max, p, s), p, s };
  };

  test('proxy_get_buffer_bytes clamps start and length to the buffer', () => {
    // [start, max_size, expected]; the body is "hello world" (11 bytes).
    const rows: Array<[number, number, string]> = [
      [0, 5, 'hello'],
      [6, 5, 'world'],
      [6, 100, 'world'], // start + max > len ⇒ len - start
      [0, 0xffffffff, 'hello world'], // Rust/Go "until the end"
      [0, -1, 'hello world'], // the same u32 as a negative i32
      [0, 0x7fffffff, 'hello world'], // Go's math.MaxInt32
      [10, 0xffffffff, 'd'], // start + max ≥ 2^32 must not wrap to a small end
    ];
    for (const [start, max, expected] of rows) {
      const h = harness();
      const { result, p, s } = get(h, start, max);
      assert.equal(result, Ok, `${start}/${max}`);
      assertReturned(h, p, s, latin1(expected));
    }
  });

  test('proxy_get_buffer_bytes answers Ok without writing for start ≥ len, start = 2^32-1, or max 0', () => {
    for (const [start, max] of [
      [11, 5],
      [20, 5],
      [-1, -1],
      [0xffffffff, 1],
      [3, 0],
    ]) {
      const h = harness();
      const { result, p, s } = get(h, start, max);
      assert.equal(result, Ok, `${start}/${max}`);
      assert.deepEqual(h.allocations, []);
      assertSlotsUntouched(h, p, s);
    }
  });

  test('proxy_get_buffer_bytes answers the host\'s NotFound for an unavailable buffer', () => {
    const h = harness();
    const p = h.slot();
    const s = h.slot();
    assert.equal(h.env.proxy_get_buffer_bytes(BufferType.GrpcCallMessage, 0, 10, p, s), NotFound);
    assertSlotsUntouched(h, p, s);
    assert.deepEqual(h.calls, [['buffer', BufferType.GrpcCallMessage]]);
  });

  test('proxy_get_buffer_bytes returns bytes 0x00-0xff unchanged', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const h = harness({ buffers: { [BufferType.HttpResponseBody]: { bytes: all } } });
    const p = h.slot();
    const s = h.slot();
    assert.equal(h.env.proxy_get_buffer_bytes(BufferType.HttpResponseBody, 0, 256, p, s), Ok);
    assertReturned(h, p, s, all);
  });

  test('proxy_get_buffer_status writes the length and flags 0', () => {
    const h = harness();
    const size = h.slot();
    const flags = h.slot();
    assert.equal(h.env.proxy_get_buffer_status(BufferType.HttpRequestBody, size, flags), Ok);
    assert.equal(h.u32(size), 11);
    assert.equal(h.u32(flags), 0);
    assert.equal(h.env.proxy_get_buffer_status(BufferType.UpstreamData, size, flags), NotFound);
  });

  test('proxy_set_buffer_bytes forwards start and size unsigned with a copy of the data', () => {
    const h = harness();
    const [ptr, len] = h.put('new');
    // prepend (0,0), replace all (0, u32 max), Go append (MaxInt32, 0), any other pair as given
    for (const [start, size] of [
      [0, 0],
      [0, -1],
      [0x7fffffff, 0],
      [3, 4],
    ]) {
      assert.equal(h.env.proxy_set_buffer_bytes(BufferType.HttpRequestBody, start, size, ptr, len), Ok);
    }
    assert.equal(h.env.proxy_set_buffer_bytes(BufferType.HttpRequestBody, 0, 0, 0, 0), Ok);
    h.write(ptr, latin1('XXX')); // the host got a copy, not a view of guest memory
    assert.deepEqual(h.named('buffer.set'), [
      ['buffer.set', 0, 0, 0, latin1('new')],
      ['buffer.set', 0, 0, 0xffffffff, latin1('new')],
      ['buffer.set', 0, 0x7fffffff, 0, latin1('new')],
      ['buffer.set', 0, 3, 4, latin1('new')],
      ['buffer.set', 0, 0, 0, new Uint8Array(0)],
    ]);
  });

  test('proxy_set_buffer_bytes answers BadArgument for an immutable buffer and NotFound for an unavailable one', () => {
    const h = harness();
    assert.equal(h.env.proxy_set_buffer_bytes(BufferType.HttpCallResponseBody, 0, 0, ...h.put('x')), BadArgument);
    assert.equal(h.env.proxy_set_buffer_bytes(BufferType.PluginConfiguration, 0, 0, ...h.put('x')), BadArgument);
    assert.equal(h.env.proxy_set_buffer_bytes(BufferType.DownstreamData, 0, 0, ...h.put('x')), NotFound);
    assert.deepEqual(h.sideEffects(), []);
  });

  test('proxy_set_buffer_bytes answers what the buffer\'s set answers', () => {
    const h = harness({ host: { buffer: () => ({ result: Ok, value: { bytes: () => new Uint8Array(4), set: () => BadArgument } }) } });
    assert.equal(h.env.proxy_set_buffer_bytes(BufferType.HttpRequestBody, 2, 1, ...h.put('x')), BadArgument);
  });

  test('proxy_get_configuration (0.1.0) returns the host configuration', () => {
    const h = harness({ abiVersion: AbiVersion.V0_1_0 });
    const p = h.slot();
    const s = h.slot();
    assert.equal(h.env.proxy_get_configuration(p, s), Ok);
    assertReturned(h, p, s, latin1('vm-config'));
  });
});

// ---- §3.6 header maps ------------------------------------------------------------------------

describe('header maps', () => {
  test('proxy_get_header_map_pairs serializes the map byte for byte (§5.1), values byte-transparent', () => {
    const h = harness({
      maps: {
        [MapType.HttpResponseHeaders]: {
          pairs: [
            [':path', '/'],
            ['x-bin', 'a\x80\xff'],
          ],
        },
      },
    });
    const p = h.slot();
    const s = h.slot();
    assert.equal(h.env.proxy_get_header_map_pairs(MapType.HttpResponseHeaders, p, s), Ok);
    // prettier-ignore
    const golden = Uint8Array.of(
      0x02, 0x00, 0x00, 0x00, //                   N = 2
      0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // ":path" is 5 bytes, "/" is 1
      0x05, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, // "x-bin" is 5 bytes, "a\x80\xff" is 3
      0x3a, 0x70, 0x61, 0x74, 0x68, 0x00, //          ":path" NUL
      0x2f, 0x00, //                                  "/" NUL
      0x78, 0x2d, 0x62, 0x69, 0x6e, 0x00, //          "x-bin" NUL
      0x61, 0x80, 0xff, 0x00, //                      'a' 0x80 0xff NUL (latin1: one byte per char)
    );
    assert.equal(golden.byteLength, 38);
    assertReturned(h, p, s, golden);
  });

  test('proxy_get_header_map_pairs answers Ok with 0/0 for an empty or unavailable map (Envoy)', () => {
    const h = harness({ maps: { [MapType.HttpRequestTrailers]: { pairs: [] } } });
    for (const type of [MapType.HttpRequestTrailers, MapType.GrpcCallInitialMetadata]) {
      const p = h.slot();
      const s = h.slot();
      assert.equal(h.env.proxy_get_header_map_pairs(type, p, s), Ok);
      assertEmptyReturn(h, p, s);
    }
  });

  test('proxy_set_header_map_pairs decodes latin1 pairs and lower-cases ASCII key bytes only', () => {
    const h = harness();
    const pairs: Pairs = [
      ['X-Foo', 'Bar'],
      ['x-\xc4Bc', '\x80\xff'], // 0xc4 ('Ä' in latin1) is not ASCII: left alone
      ['x-dup', '1'],
      ['x-dup', '2'],
    ];
    assert.equal(h.env.proxy_set_header_map_pairs(MapType.HttpRequestHeaders, ...h.putPairs(pairs)), Ok);
    assert.deepEqual(h.named('map.setPairs'), [
      [
        'map.setPairs',
        MapType.HttpRequestHeaders,
        [
          ['x-foo', 'Bar'],
          ['x-\xc4bc', '\x80\xff'],
          ['x-dup', '1'],
          ['x-dup', '2'],
        ],
      ],
    ]);
  });

  test('proxy_set_header_map_pairs clears the map when the buffer is malformed (cpp-host toPairs ⇒ empty)', () => {
    const valid = encodePairs([['a', '1']]);
    const missingTerminator = valid.slice();
    missingTerminator[missingTerminator.length - 1] = 0x41;
    const tooManyPairs = new Uint8Array(4 + 1025 * 10);
    new DataView(tooManyPairs.buffer).setUint32(0, 1025, true);
    const malformed: Array<[string, Uint8Array]> = [
      ['3 bytes', Uint8Array.of(1, 0, 0)],
      ['a missing terminator', missingTerminator],
      ['a trailing byte', Uint8Array.of(...valid, 0)],
      ['a truncated buffer', valid.subarray(0, valid.length - 1)],
      ['a count larger than the buffer', Uint8Array.of(9, 0, 0, 0)],
      ['more than 1024 pairs', tooManyPairs],
    ];
    for (const [what, bytes] of malformed) {
      const h = harness();
      assert.equal(h.env.proxy_set_header_map_pairs(MapType.HttpRequestHeaders, ...h.put(bytes)), Ok, what);
      assert.deepEqual(h.named('map.setPairs'), [['map.setPairs', MapType.HttpRequestHeaders, []]], what);
    }
  });

  test('proxy_set_header_map_pairs answers BadArgument for an unavailable or read-only map', () => {
    const h = harness();
    const input = h.putPairs([['a', '1']]);
    assert.equal(h.env.proxy_set_header_map_pairs(MapType.HttpResponseTrailers, ...input), BadArgument);
    assert.equal(h.env.proxy_set_header_map_pairs(MapType.HttpCallResponseHeaders, ...input), BadArgument);
    assert.deepEqual(h.sideEffects(), []);
    assert.deepEqual(h.named('headerMap'), [
      ['headerMap', MapType.HttpResponseTrailers, true],
      ['headerMap', MapType.HttpCallResponseHeaders, true],
    ]);
  });

  test('proxy_get_header_map_size writes the map\'s byteSize from the mutable map', () => {
    const h = harness();
    const slot = h.slot();
    assert.equal(h.env.proxy_get_header_map_size(MapType.HttpRequestHeaders, slot), Ok);
    assert.equal(h.u32(slot), 7 + 3 + 5 + 1 + 10 + 11 + 3 + 1);
    assert.deepEqual(h.named('headerMap'), [['headerMap', MapType.HttpRequestHeaders, true]]);
    assert.equal(h.env.proxy_get_header_map_size(MapType.HttpResponseHeaders, slot), BadArgument);
  });

  test('proxy_get_header_map_value lower-cases the key (ASCII only) and returns the value bytes', () => {
    const h = harness({
      maps: {
        [MapType.HttpRequestHeaders]: {
          pairs: [
            ['x-\xc4bc', 'a\x80\xff'],
            ['x-\xe4bc', 'wrong'],
          ],
        },
      },
    });
    const p = h.slot();
    const s = h.slot();
    assert.equal(h.env.proxy_get_header_map_value(MapType.HttpRequestHeaders, ...h.put('X-\xc4BC'), p, s), Ok);
    assertReturned(h, p, s, Uint8Array.of(0x61, 0x80, 0xff));
    assert.deepEqual(h.named('headerMap'), [['headerMap', MapType.HttpRequestHeaders, false]]);
  });

  test('proxy_get_header_map_value answers NotFound for a missing key in 0.2.0 and 0.2.1', () => {
    for (const abiVersion of [AbiVersion.V0_2_0, AbiVersion.V0_2_1]) {
      const h = harness({ abiVersion });
      const p = h.slot();
      const s = h.slot();
      assert.equal(h.env.proxy_get_header_map_value(MapType.HttpRequestHeaders, ...h.put('x-missing'), p, s), NotFound, abiVersion);
      assertSlotsUntouched(h, p, s);
      assert.deepEqual(h.allocations, []);
    }
  });

  test('proxy_get_header_map_value answers Ok with 0/0 for a missing key in 0.1.0', () => {
    const h = harness({ abiVersion: AbiVersion.V0_1_0 });
    const p = h.slot();
    const s = h.slot();
    assert.equal(h.env.proxy_get_header_map_value(MapType.HttpRequestHeaders, ...h.put('x-missing'), p, s), Ok);
    assertEmptyReturn(h, p, s);
  });

  test('proxy_get_header_map_value passes the host\'s status for an unavailable map', () => {
    const h = harness({ host: { headerMap: () => ({ result: NotFound }) } });
    const p = h.slot();
    const s = h.slot();
    assert.equal(h.env.proxy_get_header_map_value(MapType.HttpRequestHeaders, ...h.put('a'), p, s), NotFound);
    assertSlotsUntouched(h, p, s);
    const h2 = harness();
    assert.equal(h2.env.proxy_get_header_map_value(MapType.HttpResponseHeaders, ...h2.put('a'), h2.slot(), h2.slot()), BadArgument);
  });

  test('proxy_add/replace/remove_header_map_value lower-case the key (ASCII only) and pass the value bytes', () => {
    const h = harness();
    const key = h.put('X-\xc4Bc');
    const value = h.put('V\x80\xff');
    assert.equal(h.env.proxy_add_header_map_value(MapType.HttpRequestHeaders, ...key, ...value), Ok);
    assert.equal(h.env.proxy_replace_header_map_value(MapType.HttpRequestHeaders, ...key, ...value), Ok);
    assert.equal(h.env.proxy_replace_header_map_value(MapType.HttpRequestHeaders, ...key, 0, 0), Ok);
    assert.equal(h.env.proxy_remove_header_map_value(MapType.HttpRequestHeaders, ...key), Ok);
    assert.deepEqual(h.sideEffects(), [
      ['map.add', 0, 'x-\xc4bc', 'V\x80\xff'],
      ['map.replace', 0, 'x-\xc4bc', 'V\x80\xff'],
      ['map.replace', 0, 'x-\xc4bc', ''],
      ['map.remove', 0, 'x-\xc4bc'],
    ]);
    assert.ok(h.named('headerMap').every((c) => c[2] === true), 'mutations ask for the mutable map');
  });

  test('proxy_add/replace/remove_header_map_value answer BadArgument for a read-only or unavailable map', () => {
    const h = harness();
    const key = h.put('a');
    for (const type of [MapType.HttpCallResponseHeaders, MapType.HttpResponseTrailers]) {
      assert.equal(h.env.proxy_add_header_map_value(type, ...key, ...key), BadArgument);
      assert.equal(h.env.proxy_replace_header_map_value(type, ...key, ...key), BadArgument);
      assert.equal(h.env.proxy_remove_header_map_value(type, ...key), BadArgument);
    }
    assert.deepEqual(h.sideEffects(), []);
  });
});

// ---- §3.7 properties -------------------------------------------------------------------------

describe('properties', () => {
  test('proxy_get_property splits the path at NUL (a trailing NUL tolerated) and returns the value', () => {
    for (const raw of [encodePropertyPath(['request', 'headers', 'x-foo']), latin1('request\0headers\0x-foo\0')]) {
      const h = harness();
      const p = h.slot();
      const s = h.slot();
      assert.equal(h.env.proxy_get_property(...h.put(raw), p, s), Ok);
      assert.deepEqual(h.calls, [['getProperty', ['request', 'headers', 'x-foo']]]);
      assertReturned(h, p, s, latin1('prop-value'));
    }
  });

  test('proxy_get_property answers NotFound without asking the host for an empty path or invalid UTF-8', () => {
    for (const raw of [new Uint8Array(0), Uint8Array.of(0), Uint8Array.of(0x61, 0xff)]) {
      const h = harness();
      const p = h.slot();
      const s = h.slot();
      assert.equal(h.env.proxy_get_property(...h.put(raw), p, s), NotFound);
      assert.deepEqual(h.calls, []);
      assertSlotsUntouched(h, p, s);
    }
  });

  test('proxy_get_property passes the host\'s non-Ok answer and writes nothing', () => {
    for (const result of [NotFound, WasmResult.SerializationFailure, InternalFailure] as const) {
      const h = harness({ host: { getProperty: () => ({ result }) } });
      const p = h.slot();
      const s = h.slot();
      assert.equal(h.env.proxy_get_property(...h.put('a'), p, s), result);
      assertSlotsUntouched(h, p, s);
      assert.deepEqual(h.allocations, []);
    }
  });

  test('proxy_set_property passes the path and a copy of the value; (0,0) is an empty value', () => {
    const h = harness({ host: { setProperty: (path) => (path[0] === 'root' ? NotFound : Ok) } });
    const [vp, vl] = h.put('v\x00\xff');
    assert.equal(h.env.proxy_set_property(...h.put('my\0key'), vp, vl), Ok);
    assert.equal(h.env.proxy_set_property(...h.put('my'), 0, 0), Ok);
    assert.equal(h.env.proxy_set_property(...h.put('root'), 0, 0), NotFound);
    assert.equal(h.env.proxy_set_property(0, 0, vp, vl), NotFound);
    h.write(vp, latin1('zzz'));
    assert.deepEqual(h.calls, [
      ['setProperty', ['my', 'key'], Uint8Array.of(0x76, 0x00, 0xff)],
      ['setProperty', ['my'], new Uint8Array(0)],
      ['setProperty', ['root'], new Uint8Array(0)],
    ]);
  });
});

// ---- §3.8 local responses and status ---------------------------------------------------------

describe('local responses and status', () => {
  test('proxy_send_local_response replaces ASCII whitespace in details with _, passes grpc_status signed and decodes headers', () => {
    const h = harness();
    assert.equal(
      h.env.proxy_send_local_response(
        403,
        ...h.put('denied by\tpolicy\nnow\r\f\v x'),
        ...h.put('body\x00\xff'),
        ...h.putPairs([
          ['X-Reason', 'policy'],
          ['x-bin', '\x80'],
        ]),
        -1,
      ),
      Ok,
    );
    assert.deepEqual(h.calls, [
      [
        'sendLocalResponse',
        {
          status: 403,
          details: 'denied_by_policy_now____x',
          body: latin1('body\x00\xff'),
          headers: [
            ['x-reason', 'policy'],
            ['x-bin', '\x80'],
          ],
          grpcStatus: -1,
        },
      ],
    ]);
  });

  test('proxy_send_local_response leaves non-ASCII detail bytes alone (a UTF-8 0xa0 continuation byte is not a space)', () => {
    const h = harness();
    // "voilà" in UTF-8 ends with c3 a0; latin1 0xa0 is NBSP, which a Unicode \s would replace.
    assert.equal(h.env.proxy_send_local_response(200, ...h.put(utf8('voilà ok')), 0, 0, 0, 0, 0), Ok);
    const [[, response]] = h.calls as Array<[string, { details: string }]>;
    assert.equal(response.details, 'voil\xc3\xa0_ok');
  });

  test('proxy_send_local_response passes grpc_status as a signed i32 and the status as u32; empty inputs are accepted', () => {
    const h = harness();
    assert.equal(h.env.proxy_send_local_response(200, 0, 0, 0, 0, 0, 0, 0xffffffff), Ok);
    assert.equal(h.env.proxy_send_local_response(-1, 0, 0, 0, 0, 0, 0, 14), Ok);
    assert.deepEqual(
      h.calls.map((c) => [(c[1] as { status: number }).status, (c[1] as { grpcStatus: number }).grpcStatus]),
      [
        [200, -1],
        [0xffffffff, 14],
      ],
    );
    assert.deepEqual(h.calls[0][1], { status: 200, details: '', body: new Uint8Array(0), headers: [], grpcStatus: -1 });
  });

  test('proxy_send_local_response sends no headers when the pairs buffer is malformed', () => {
    const h = harness();
    assert.equal(h.env.proxy_send_local_response(500, 0, 0, 0, 0, ...h.put(Uint8Array.of(1, 0, 0, 0)), -1), Ok);
    assert.deepEqual((h.calls[0][1] as { headers: Pairs }).headers, []);
  });

  test('proxy_get_status writes the code and returns the message', () => {
    const h = harness();
    const code = h.slot();
    const p = h.slot();
    const s = h.slot();
    assert.equal(h.env.proxy_get_status(code, p, s), Ok);
    assert.equal(h.u32(code), WasmResult.BrokenConnection);
    assertReturned(h, p, s, latin1('reset'));
  });

  test('proxy_get_status writes the code and 0/0 for an empty message', () => {
    const h = harness({ host: { status: () => ({ code: 0, message: new Uint8Array(0) }) } });
    const code = h.slot();
    const p = h.slot();
    const s = h.slot();
    assert.equal(h.env.proxy_get_status(code, p, s), Ok);
    assert.equal(h.u32(code), 0);
    assertEmptyReturn(h, p, s);
  });
});

// ---- §3.9 http callouts ------------------------------------------------------------------------

describe('proxy_http_call', () => {
  function call(h: Harness, headers: Pairs, timeout: number, tokenSlot = h.slot()): number | undefined {
    return h.env.proxy_http_call(...h.put('cluster\xff'), ...h.putPairs(headers), ...h.put('body'), ...h.putPairs([['T', '1']]), timeout, tokenSlot);
  }

  test('passes the decoded request (keys lower-cased) and writes the token on Ok', () => {
    const h = harness({ host: { httpCall: () => ({ result: Ok, value: 0x80000001 }) } });
    const token = h.slot();
    assert.equal(call(h, [...CALL_HEADERS, ['X-Trace', 'A\x80']], 0x7fffffff, token), Ok);
    assert.deepEqual(h.calls, [
      [
        'httpCall',
        {
          upstream: 'cluster\xff',
          headers: [...CALL_HEADERS, ['x-trace', 'A\x80']],
          body: latin1('body'),
          trailers: [['t', '1']],
          timeoutMs: 0x7fffffff,
        },
      ],
    ]);
    assert.equal(h.u32(token), 0x80000001);
  });

  test('answers BadArgument without calling the host when :path, :method or :authority is missing or empty', () => {
    for (const required of [':path', ':method', ':authority']) {
      for (const variant of ['missing', 'empty']) {
        const h = harness();
        const token = h.slot();
        const headers: Pairs = CALL_HEADERS.flatMap(([k, v]): Pairs => (k !== required ? [[k, v]] : variant === 'empty' ? [[k, '']] : []));
        assert.equal(call(h, headers, 1000, token), BadArgument, `${variant} ${required}`);
        assert.deepEqual(h.calls, []);
        assertSlotsUntouched(h, token);
      }
    }
    const h = harness();
    assert.equal(h.env.proxy_http_call(...h.put('c'), ...h.put(Uint8Array.of(7)), 0, 0, 0, 0, 0, h.slot()), BadArgument, 'malformed headers');
  });

  test('answers BadArgument for a timeout that is negative as an i32', () => {
    for (const timeout of [-1, -(2 ** 31), 0x80000000, 0xffffffff]) {
      const h = harness();
      const token = h.slot();
      assert.equal(call(h, CALL_HEADERS, timeout, token), BadArgument, String(timeout));
      assert.deepEqual(h.calls, []);
      assertSlotsUntouched(h, token);
    }
  });

  test('passes the host\'s failure and leaves the token slot alone', () => {
    for (const result of [BadArgument, InternalFailure] as const) {
      const h = harness({ host: { httpCall: () => ({ result }) } });
      const token = h.slot();
      assert.equal(call(h, CALL_HEADERS, 0, token), result);
      assertSlotsUntouched(h, token);
    }
  });

  test('answers InvalidMemoryAccess for a bad token pointer before the host is called', () => {
    const h = harness();
    assert.equal(call(h, CALL_HEADERS, 0, PAGE - 3), IMA);
    assert.deepEqual(h.calls, []);
  });
});

// ---- §3.10 gRPC callouts -------------------------------------------------------------------------

describe('gRPC callouts', () => {
  const upstream = Uint8Array.of(0x0a, 0x03, 0x00, 0xff, 0x80);

  test('proxy_grpc_call with 12 arguments (standard) maps every argument', () => {
    const h = harness();
    const token = h.slot();
    assert.equal(
      h.env.proxy_grpc_call(...h.put(upstream), ...h.put('pkg.Svc'), ...h.put('Do'), ...h.putPairs([['MD', 'v\xff']]), ...h.put('msg'), 2500, token),
      Ok,
    );
    assert.deepEqual(h.calls, [['grpcCall', { upstream, service: 'pkg.Svc', method: 'Do', initialMetadata: [['md', 'v\xff']] }, latin1('msg'), 2500]]);
    assert.equal(h.u32(token), 0x2345);
  });

  test('proxy_grpc_call with 10 arguments (AssemblyScript solo-io, no metadata) maps every argument', () => {
    const h = harness();
    const token = h.slot();
    assert.equal(h.env.proxy_grpc_call(...h.put(upstream), ...h.put('pkg.Svc'), ...h.put('Do'), ...h.put('msg'), 2500, token), Ok);
    assert.deepEqual(h.calls, [['grpcCall', { upstream, service: 'pkg.Svc', method: 'Do', initialMetadata: [] }, latin1('msg'), 2500]]);
    assert.equal(h.u32(token), 0x2345);
  });

  test('proxy_grpc_call answers BadArgument for a negative timeout and passes host failures without writing the token', () => {
    const h = harness();
    const token = h.slot();
    assert.equal(h.env.proxy_grpc_call(...h.put('c'), 0, 0, 0, 0, 0, 0, 0, 0, -1, token), BadArgument);
    assert.deepEqual(h.calls, []);
    const h2 = harness({ host: { grpcCall: () => ({ result: NotFound }) } });
    const token2 = h2.slot();
    assert.equal(h2.env.proxy_grpc_call(...h2.put('c'), 0, 0, 0, 0, 0, 0, 0, 0, 0, token2), NotFound);
    assertSlotsUntouched(h2, token, token2);
  });

  test('proxy_grpc_stream with 9 arguments (standard) maps every argument', () => {
    const h = harness();
    const token = h.slot();
    assert.equal(h.env.proxy_grpc_stream(...h.put(upstream), ...h.put('pkg.Svc'), ...h.put('Watch'), ...h.putPairs([['a', 'b']]), token), Ok);
    assert.deepEqual(h.calls, [['grpcStream', { upstream, service: 'pkg.Svc', method: 'Watch', initialMetadata: [['a', 'b']] }]]);
    assert.equal(h.u32(token), 0x3456);
  });

  test('proxy_grpc_stream with 7 arguments (AssemblyScript solo-io, no metadata) maps every argument', () => {
    const h = harness();
    const token = h.slot();
    assert.equal(h.env.proxy_grpc_stream(...h.put(upstream), ...h.put('pkg.Svc'), ...h.put('Watch'), token), Ok);
    assert.deepEqual(h.calls, [['grpcStream', { upstream, service: 'pkg.Svc', method: 'Watch', initialMetadata: [] }]]);
    assert.equal(h.u32(token), 0x3456);
  });

  test('proxy_grpc_send, proxy_grpc_cancel and proxy_grpc_close pass the token unsigned', () => {
    const h = harness({ host: { grpcClose: () => NotFound } });
    assert.equal(h.env.proxy_grpc_send(-1, ...h.put('m'), 1), Ok);
    assert.equal(h.env.proxy_grpc_send(7, 0, 0, 0), Ok);
    assert.equal(h.env.proxy_grpc_send(7, 0, 0, -1), Ok);
    assert.equal(h.env.proxy_grpc_cancel(-(2 ** 31)), Ok);
    assert.equal(h.env.proxy_grpc_close(3), NotFound);
    assert.deepEqual(h.calls, [
      ['grpcSend', 0xffffffff, latin1('m'), true],
      ['grpcSend', 7, new Uint8Array(0), false],
      ['grpcSend', 7, new Uint8Array(0), true],
      ['grpcCancel', 0x80000000],
      ['grpcClose', 3],
    ]);
  });
});

// ---- §3.11 shared data and queues ------------------------------------------------------------

describe('shared data and queues', () => {
  test('proxy_get_shared_data returns the value and writes the cas', () => {
    const h = harness({ host: { getSharedData: () => ({ result: Ok, value: { value: latin1('v\xff'), cas: 0xfffffffe } }) } });
    const p = h.slot();
    const s = h.slot();
    const cas = h.slot();
    assert.equal(h.env.proxy_get_shared_data(...h.put('key\x80'), p, s, cas), Ok);
    assertReturned(h, p, s, latin1('v\xff'));
    assert.equal(h.u32(cas), 0xfffffffe);
    assert.deepEqual(h.calls, [['getSharedData', latin1('key\x80')]]);
  });

  test('proxy_get_shared_data answers NotFound and writes nothing for a missing key', () => {
    const h = harness({ host: { getSharedData: () => ({ result: NotFound }) } });
    const p = h.slot();
    const s = h.slot();
    const cas = h.slot();
    assert.equal(h.env.proxy_get_shared_data(...h.put('k'), p, s, cas), NotFound);
    assertSlotsUntouched(h, p, s, cas);
  });

  test('proxy_set_shared_data passes key, value and cas unsigned, and the host answer', () => {
    const h = harness({ host: { setSharedData: (_k, _v, cas) => (cas === 0 ? Ok : CasMismatch) } });
    assert.equal(h.env.proxy_set_shared_data(...h.put('k'), ...h.put('v'), 0), Ok);
    assert.equal(h.env.proxy_set_shared_data(...h.put('k'), 0, 0, -1), CasMismatch);
    assert.deepEqual(h.calls, [
      ['setSharedData', latin1('k'), latin1('v'), 0],
      ['setSharedData', latin1('k'), new Uint8Array(0), 0xffffffff],
    ]);
  });

  test('proxy_register_shared_queue and proxy_resolve_shared_queue write the queue id; an empty vm_id is ""', () => {
    const h = harness({ host: { resolveSharedQueue: (vm) => (vm === '' ? { result: Ok, value: 0xffffffff } : { result: NotFound }) } });
    const reg = h.slot();
    const res = h.slot();
    const miss = h.slot();
    assert.equal(h.env.proxy_register_shared_queue(...h.put('q'), reg), Ok);
    assert.equal(h.env.proxy_resolve_shared_queue(0, 0, ...h.put('q'), res), Ok);
    assert.equal(h.env.proxy_resolve_shared_queue(...h.put('other'), ...h.put('q'), miss), NotFound);
    assert.equal(h.u32(reg), 5);
    assert.equal(h.u32(res), 0xffffffff);
    assertSlotsUntouched(h, miss);
    assert.deepEqual(h.calls, [
      ['registerSharedQueue', 'q'],
      ['resolveSharedQueue', '', 'q'],
      ['resolveSharedQueue', 'other', 'q'],
    ]);
  });

  test('proxy_enqueue_shared_queue passes the id unsigned and a copy of the value', () => {
    const h = harness({ host: { enqueueSharedQueue: (id) => (id === 5 ? Ok : NotFound) } });
    assert.equal(h.env.proxy_enqueue_shared_queue(5, ...h.put('item')), Ok);
    assert.equal(h.env.proxy_enqueue_shared_queue(-1, 0, 0), NotFound);
    assert.deepEqual(h.calls, [
      ['enqueueSharedQueue', 5, latin1('item')],
      ['enqueueSharedQueue', 0xffffffff, new Uint8Array(0)],
    ]);
  });

  test('proxy_dequeue_shared_queue returns the item, or passes Empty/NotFound without writing', () => {
    for (const result of [Empty, NotFound] as const) {
      const h = harness({ host: { dequeueSharedQueue: () => ({ result }) } });
      const p = h.slot();
      const s = h.slot();
      assert.equal(h.env.proxy_dequeue_shared_queue(-1, p, s), result);
      assertSlotsUntouched(h, p, s);
      assert.deepEqual(h.calls, [['dequeueSharedQueue', 0xffffffff]]);
    }
  });
});

// ---- §3.12 metrics ---------------------------------------------------------------------------

describe('metrics', () => {
  test('proxy_define_metric passes the type and UTF-8 name and writes the id', () => {
    const h = harness({ host: { defineMetric: () => ({ result: Ok, value: 0x80000006 }) } });
    const id = h.slot();
    assert.equal(h.env.proxy_define_metric(MetricType.Histogram, ...h.put(utf8('lat_µs')), id), Ok);
    assert.equal(h.u32(id), 0x80000006);
    assert.deepEqual(h.calls, [['defineMetric', MetricType.Histogram, 'lat_µs']]);
  });

  test('proxy_increment_metric passes the i64 delta signed', () => {
    const h = harness();
    const rows: Array<[bigint, bigint]> = [
      [1n, 1n],
      [-1n, -1n], // as the JS API delivers an i64 of all ones
      [2n ** 64n - 1n, -1n], // the same bits given unsigned
      [2n ** 63n, -(2n ** 63n)],
      [2n ** 63n - 1n, 2n ** 63n - 1n],
    ];
    for (const [delta] of rows) assert.equal(h.env.proxy_increment_metric(-4, delta), Ok);
    assert.deepEqual(
      h.calls,
      rows.map(([, got]) => ['incrementMetric', 0xfffffffc, got]),
    );
  });

  test('proxy_record_metric passes the i64 value unsigned', () => {
    const h = harness();
    const rows: Array<[bigint, bigint]> = [
      [5n, 5n],
      [-1n, 2n ** 64n - 1n],
      [-(2n ** 63n), 2n ** 63n],
      [2n ** 64n - 1n, 2n ** 64n - 1n],
    ];
    for (const [value] of rows) assert.equal(h.env.proxy_record_metric(8, value), Ok);
    assert.deepEqual(
      h.calls,
      rows.map(([, got]) => ['recordMetric', 8, got]),
    );
  });

  test('proxy_get_metric writes the value as a little-endian u64', () => {
    for (const [value, written] of [
      [0x0102030405060708n, 0x0102030405060708n],
      [2n ** 64n - 1n, 2n ** 64n - 1n],
      [-1n, 2n ** 64n - 1n],
    ]) {
      const h = harness({ host: { getMetric: () => ({ result: Ok, value }) } });
      const slot = h.slot(8);
      assert.equal(h.env.proxy_get_metric(-1, slot), Ok);
      assert.equal(h.u64(slot), written);
      assert.deepEqual(h.calls, [['getMetric', 0xffffffff]]);
    }
    const h = harness();
    const slot = h.slot(8);
    assert.equal(h.env.proxy_get_metric(8, slot), Ok);
    assert.deepEqual(h.read(slot, 8), Uint8Array.of(42, 0, 0, 0, 0, 0, 0, 0));
  });

  test('proxy_get_metric passes the host\'s failure without writing', () => {
    const h = harness({ host: { getMetric: () => ({ result: BadArgument }) } });
    const slot = h.slot(8);
    assert.equal(h.env.proxy_get_metric(6, slot), BadArgument);
    assert.ok(h.untouched(slot, 8));
  });
});

// ---- §3.13 foreign functions, §3.14 helpers ----------------------------------------------------

describe('foreign functions and Envoy helpers', () => {
  test('proxy_call_foreign_function passes the name and a copy of the arguments and returns the result', () => {
    const h = harness();
    const p = h.slot();
    const s = h.slot();
    assert.equal(h.env.proxy_call_foreign_function(...h.put('compress'), ...h.put('\x00\xff'), p, s), Ok);
    assert.deepEqual(h.calls, [['callForeignFunction', 'compress', latin1('\x00\xff')]]);
    assertReturned(h, p, s, latin1('foreign-result'));
  });

  test('proxy_call_foreign_function with ret_ptr_ptr 0 calls the function and discards its result', () => {
    const h = harness();
    const before = h.snapshot();
    assert.equal(h.env.proxy_call_foreign_function(...h.put('clear_route_cache'), 0, 0, 0, 0xfffffff0), Ok);
    assert.deepEqual(h.calls, [['callForeignFunction', 'clear_route_cache', new Uint8Array(0)]]);
    assert.deepEqual(h.allocations, []);
    assert.deepEqual(h.read(SLOTS, 64), before.subarray(SLOTS, SLOTS + 64));
  });

  test('proxy_call_foreign_function passes NotFound for an unknown function without writing', () => {
    const h = harness({ host: { callForeignFunction: () => ({ result: NotFound }) } });
    const p = h.slot();
    const s = h.slot();
    assert.equal(h.env.proxy_call_foreign_function(...h.put('nope'), 0, 0, p, s), NotFound);
    assertSlotsUntouched(h, p, s);
  });

  test('envoy_resolve_dns passes the address and writes the token', () => {
    const h = harness();
    const token = h.slot();
    assert.equal(h.env.envoy_resolve_dns(...h.put('example.com'), token), Ok);
    assert.equal(h.u32(token), 9);
    assert.deepEqual(h.calls, [['resolveDns', 'example.com']]);
  });

  test('pthread_equal answers 1 for equal and 0 for different arguments', () => {
    const h = harness();
    assert.equal(h.env.pthread_equal(3, 3), 1);
    assert.equal(h.env.pthread_equal(-1, -1), 1);
    assert.equal(h.env.pthread_equal(3, 4), 0);
  });

  test('emscripten_notify_memory_growth returns nothing and touches nothing', () => {
    const h = harness();
    assert.equal(h.env.emscripten_notify_memory_growth(0), undefined);
    assert.deepEqual(h.calls, []);
    assert.equal(h.memoryCalls, 0);
  });
});

// ---- bounded seeded fuzz ---------------------------------------------------------------------

test('2000 seeded rounds of random arguments to every function: no throw, a status in range, writes only where reported', () => {
  const rand = prng(0x5107ce);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const u32 = (): number => Math.floor(rand() * 2 ** 32);
  const chance = (p: number): boolean => rand() < p;
  const randomBytes = (): Uint8Array => Uint8Array.from({ length: pick([0, 0, 1, 3, 17, 40]) }, () => Math.floor(rand() * 256));
  const randomString = (): string => String.fromCharCode(...randomBytes());
  const randomPairs = (): Pairs => Array.from({ length: pick([0, 1, 3]) }, (): [string, string] => [randomString(), randomString()]);
  const failure = (): Exclude<WasmResult, 0> => pick([NotFound, BadArgument, IMA, Empty, CasMismatch, InternalFailure, WasmResult.Unimplemented]);
  const answer = <T>(value: () => T): { result: typeof Ok; value: T } | { result: Exclude<WasmResult, 0> } =>
    chance(0.75) ? { result: Ok, value: value() } : { result: failure() };
  const status = (): WasmResult => (chance(0.75) ? Ok : failure());

  // The allocator: usually an exact block on a heap reset per call, sometimes a failure, an
  // unusable address, or a fresh page (growth detaches memory.buffer; at most one extra page).
  let cursor = HEAP;
  let memory: WasmMemory | undefined;
  const allocator = (size: number): number => {
    const roll = rand();
    if (roll < 0.05) return 0;
    if (roll < 0.1) return pick([-8, 0xfffffff0, PAGE - 1, 2 * PAGE + 5]);
    if (roll < 0.13 && memory !== undefined && memory.buffer.byteLength === PAGE && size <= PAGE) return memory.grow(1) * PAGE;
    if (cursor + size > PAGE) return 0;
    const addr = cursor;
    cursor += size;
    return addr;
  };

  const host: Partial<HostContext> = {
    logLevel: () => pick([0, 2, 5, 6, 7]),
    currentTimeNanoseconds: () => BigInt(u32()) * BigInt(u32()),
    setTickPeriodMilliseconds: status,
    setEffectiveContext: status,
    done: status,
    configuration: randomBytes,
    buffer: () =>
      answer(() => {
        const data = randomBytes();
        return chance(0.5) ? { bytes: () => data } : { bytes: () => data, set: status };
      }),
    headerMap: () =>
      answer(() => {
        const pairs = randomPairs();
        const m: HostHeaderMap = { pairs: () => pairs, get: (k) => (chance(0.5) ? pairs.find((p) => p[0] === k)?.[1] : randomString()), byteSize: () => u32() };
        if (chance(0.7)) Object.assign(m, { add: () => {}, replace: () => {}, remove: () => {}, setPairs: () => {} });
        return m;
      }),
    getProperty: () => answer(randomBytes),
    setProperty: status,
    continueStream: status,
    closeStream: status,
    clearRouteCache: status,
    sendLocalResponse: status,
    status: () => ({ code: u32(), message: randomBytes() }),
    httpCall: () => answer(u32),
    grpcCall: () => answer(u32),
    grpcStream: () => answer(u32),
    grpcSend: status,
    grpcCancel: status,
    grpcClose: status,
    getSharedData: () => answer(() => ({ value: randomBytes(), cas: u32() })),
    setSharedData: status,
    registerSharedQueue: () => answer(u32),
    resolveSharedQueue: () => answer(u32),
    enqueueSharedQueue: status,
    dequeueSharedQueue: () => answer(randomBytes),
    defineMetric: () => answer(u32),
    incrementMetric: status,
    recordMetric: status,
    getMetric: () => answer(() => BigInt.asIntN(64, BigInt(u32()) << 32n) | BigInt(u32())),
    callForeignFunction: () => answer(randomBytes),
    resolveDns: () => answer(u32),
  };
  const setup: Setup = { host, allocator };
  const h = harness(setup);
  memory = h.memory;

  // Known inputs the argument generator can point at: valid pairs with the required http-call
  // headers, a property path, plain strings, and random garbage.
  const known: Array<[number, number]> = [
    h.putPairs(CALL_HEADERS),
    h.putPairs([['a', '\xff']]),
    h.put(encodePropertyPath(['request', 'path'])),
    h.put('name'),
    h.put(Uint8Array.from({ length: 64 }, () => Math.floor(rand() * 256))),
    [0, 0],
  ];
  const slotsArea = (): number => SLOTS + Math.floor(rand() * 256);
  const EDGES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x7fffffff, 0x80000000, 0xffffffff, -1, -(2 ** 31), PAGE - 1, PAGE - 4, PAGE - 8, PAGE, 2 * PAGE];
  const scalar = (): number => pick([() => pick(EDGES), u32, () => Math.floor(rand() * 16), () => u32() | 0])();
  const I64_EDGES = [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n)];

  let reference = h.snapshot();
  const okBy = new Map<string, number>();
  let returnedBlocks = 0;
  const ROUNDS = 2000;
  for (let round = 0; round < ROUNDS; round++) {
    setup.abiVersion = pick([AbiVersion.V0_1_0, AbiVersion.V0_2_0, AbiVersion.V0_2_1]);
    for (const s of SPECS) {
      const args: Arg[] = Array.from({ length: s.arity }, scalar);
      for (const i of s.i64 ?? []) args[i] = chance(0.5) ? pick(I64_EDGES) : BigInt.asIntN(64, (BigInt(u32()) << 32n) | BigInt(u32()));
      for (const [p, l] of s.inputs) {
        if (chance(0.6)) [args[p], args[l]] = pick(known);
      }
      for (const [p] of s.slots) if (chance(0.7)) args[p] = slotsArea();

      cursor = HEAP;
      h.allocations.length = 0;
      h.calls.length = 0;
      const what = `round ${round}: ${s.name}(${args.join(', ')})`;
      const result = h.env[s.name](...args);

      if (s.void === true) assert.equal(result, undefined, what);
      else assert.ok(Number.isInteger(result) && (result as number) >= 0 && (result as number) <= 12, `${what} → ${result}`);

      const size = h.memory.buffer.byteLength;
      const usable = (a: { addr: number; size: number }) => (a.addr >>> 0) !== 0 && (a.addr >>> 0) + a.size <= size;
      if (result === Ok) {
        okBy.set(s.name, (okBy.get(s.name) ?? 0) + 1);
        returnedBlocks += h.allocations.length;
        assert.ok(h.allocations.every(usable), `${what}: Ok after an unusable allocation`);
      } else {
        assert.ok(!h.allocations.some(usable), `${what}: a usable allocation leaked with result ${result}`);
      }

      // Accept writes inside what the call reported (its return slots and the blocks it allocated, on
      // Ok only); anything else that changed is a stray write.
      const current = h.memoryBytes();
      if (current.byteLength > reference.byteLength) {
        const grown = new Uint8Array(current.byteLength);
        grown.set(reference);
        reference = grown;
      }
      if (result === Ok) {
        const accept = (ptr: number, len: number) => {
          const start = ptr >>> 0;
          if (start + len <= current.byteLength) reference.set(current.subarray(start, start + len), start);
        };
        for (const [p, width] of s.slots) accept(Number(args[p]), width);
        for (const a of h.allocations) if (usable(a)) accept(a.addr, a.size);
      }
      if (!Buffer.from(current.buffer).equals(reference)) {
        const at = current.findIndex((b, i) => b !== reference[i]);
        assert.fail(`${what} → ${result}: wrote byte ${at} outside its return slots and allocations`);
      }
    }
  }
  // The generator reaches past the pointer checks: every status-returning function succeeded
  // sometimes, blocks were returned, and the allocator grew memory.
  for (const s of SPECS) if (s.void !== true) assert.ok((okBy.get(s.name) ?? 0) > 0, `${s.name} never answered Ok`);
  assert.ok(returnedBlocks > 100, `only ${returnedBlocks} blocks returned`);
  assert.equal(h.memory.buffer.byteLength, 2 * PAGE);
});
