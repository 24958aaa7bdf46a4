/**
 * The `env` import table of a proxy-wasm host (proxy-wasm-abi.md §3), built over a HostContext.
 *
 * Spec names appear only as the keys of the returned object; each one converts its i32 arguments to
 * unsigned, checks guest pointers, decodes inputs, asks the HostContext, and writes outputs through
 * the "returned memory" protocol. Every guest mistake is answered with a WasmResult; nothing here
 * throws on guest input. The union of every ABI version's functions is linked; behaviour that
 * differs by version (missing header key) switches on `host.abiVersion`.
 *
 * Pure: no project imports outside abi/, no `node:*`.
 */
import { AbiVersion } from './abi-version.ts';
import { BufferType, LogLevel, MapType, MetricType, StreamType, WasmResult } from './enums.ts';
import { GuestMemory, inBounds } from './guest-memory.ts';
import { decodePairs, encodePairs } from './header-pairs.ts';
import { decodePropertyPath } from './property-path.ts';
import type { HostContext, Pairs } from './host-context.ts';

const Ok = WasmResult.Ok;
const IMA = WasmResult.InvalidMemoryAccess;
const BadArgument = WasmResult.BadArgument;

const MAX_MAP_TYPE = MapType.HttpCallResponseTrailers;
const MAX_BUFFER_TYPE = BufferType.ForeignFunctionArguments;
const MAX_STREAM_TYPE = StreamType.Upstream;
const MAX_METRIC_TYPE = MetricType.Histogram;
/** cpp-host refuses pair buffers above 1 MiB (§5.1); so do we. */
const MAX_PAIRS_BYTES = 1 << 20;

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** ASCII-only lower-casing, as Envoy does for header keys (non-ASCII bytes are left alone). */
export function asciiLower(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase() === s ? s : lowerAscii(s);
  }
  return s;
}

function lowerAscii(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : s[i];
  }
  return out;
}

const EMPTY = new Uint8Array(0);

/**
 * Builds the `env` functions. `host` is consulted on every call (it decides the current context),
 * so one table serves a VM for its whole life.
 */
export function createProxyWasmImports(host: HostContext): Record<string, (...args: never[]) => unknown> {
  // ---- wire helpers -------------------------------------------------------------------------

  const mem = (): GuestMemory | undefined => host.memory();

  /** Guest bytes at (ptr, len); (0, 0) is empty. undefined = out of bounds. */
  function read(m: GuestMemory, ptr: number, len: number): Uint8Array | undefined {
    if (len === 0) return EMPTY;
    return m.read(ptr, len);
  }

  function readLatin1(m: GuestMemory, ptr: number, len: number): string | undefined {
    return len === 0 ? '' : m.latin1(ptr, len);
  }

  /** A header name: like readLatin1, through the memory's name cache (the same few names come on every request). */
  function readName(m: GuestMemory, ptr: number, len: number): string | undefined {
    return len === 0 ? '' : m.latin1Name(ptr, len);
  }

  function readUtf8(m: GuestMemory, ptr: number, len: number): string | undefined {
    const b = read(m, ptr, len);
    return b === undefined ? undefined : utf8.decode(b);
  }

  function readPairs(m: GuestMemory, ptr: number, len: number): Pairs | undefined {
    // Bounds first: an out-of-bounds buffer is InvalidMemoryAccess whatever its length.
    if (len !== 0 && !inBounds(m.size, ptr, len)) return undefined;
    if (len > MAX_PAIRS_BYTES) return [];
    const b = read(m, ptr, len);
    if (b === undefined) return undefined;
    const decoded = decodePairs(b, { latin1: true });
    // cpp-host turns a malformed buffer into an empty list (§5.1).
    if (!decoded.ok) return [];
    for (const p of decoded.pairs) p[0] = asciiLower(p[0]);
    return decoded.pairs;
  }

  /** Whether each given return slot (a u32) is in bounds; fixed parameters, not a rest array: this runs on every returning call. */
  function words(m: GuestMemory, a: number, b?: number, c?: number): boolean {
    const size = m.size;
    return inBounds(size, a, 4) && (b === undefined || inBounds(size, b, 4)) && (c === undefined || inBounds(size, c, 4));
  }

  /**
   * "Returned memory" (§1, §3.1): checks the two return pointers first (so a bad pointer never
   * leaks a guest allocation), writes 0/0 for empty, else one exact-size allocation.
   */
  function returnBytes(bytes: Uint8Array, ptrPtr: number, sizePtr: number): WasmResult {
    // Copy first: `bytes` may be a view of host state the allocator's callbacks could change.
    return returnBlock(bytes.byteLength === 0 ? bytes : bytes.slice(), ptrPtr, sizePtr);
  }

  /** `returnBytes` for a byte string, written straight into the allocation (strings cannot change under the allocator). */
  function returnLatin1(s: string, ptrPtr: number, sizePtr: number): WasmResult {
    return returnBlock(s, ptrPtr, sizePtr);
  }

  function returnBlock(block: Uint8Array | string, ptrPtr: number, sizePtr: number): WasmResult {
    const m = mem();
    if (m === undefined || !words(m, ptrPtr, sizePtr)) return IMA;
    const len = typeof block === 'string' ? block.length : block.byteLength;
    if (len === 0) {
      m.writeU32(ptrPtr, 0);
      m.writeU32(sizePtr, 0);
      return Ok;
    }
    const addr = host.allocate(len) >>> 0;
    if (addr === 0) return IMA;
    const after = mem();
    if (after === undefined || !(typeof block === 'string' ? after.writeLatin1(addr, block) : after.write(addr, block))) return IMA;
    after.writeU32(ptrPtr, addr);
    after.writeU32(sizePtr, len);
    return Ok;
  }

  function returnU32(value: number, ptr: number): WasmResult {
    const m = mem();
    if (m === undefined || !m.writeU32(ptr, value >>> 0)) return IMA;
    return Ok;
  }

  function returnU64(value: bigint, ptr: number): WasmResult {
    const m = mem();
    if (m === undefined || !inBounds(m.size, ptr, 8)) return IMA;
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
    m.write(ptr, b);
    return Ok;
  }

  /** The value of `key` in header map `map`, or the status to answer when there is none. */
  function headerMapValue(map: number, key: string): string | WasmResult {
    if (map > MAX_MAP_TYPE) return BadArgument;
    const got = host.headerMap(map as MapType, false);
    if (got.result !== Ok) return got.result;
    const value = got.value.get(key);
    if (value !== undefined) return value;
    // 0.1.0: a missing key is Ok with an empty value; 0.2.x: NotFound (§2.1).
    return host.abiVersion === AbiVersion.V0_1_0 ? '' : WasmResult.NotFound;
  }

  /**
   * add / replace / remove on a header map. The map id is checked first (§3.6), then the guest
   * pointers, then the map's availability; a read-only map answers BadArgument.
   */
  function mutateHeaderMap(op: 'add' | 'replace' | 'remove', mapArg: number, keyPtr: number, keySize: number, valuePtr = 0, valueSize = 0): WasmResult {
    const map = mapArg >>> 0;
    if (map > MAX_MAP_TYPE) return BadArgument;
    const m = mem();
    if (m === undefined) return IMA;
    const value = op === 'remove' ? '' : readLatin1(m, valuePtr >>> 0, valueSize >>> 0);
    const key = readName(m, keyPtr >>> 0, keySize >>> 0);
    if (value === undefined || key === undefined) return IMA;
    const got = host.headerMap(map as MapType, true);
    if (got.result !== Ok) return got.result;
    const h = got.value;
    const k = asciiLower(key);
    switch (op) {
      case 'add':
        if (h.add === undefined) return BadArgument;
        h.add(k, value);
        return Ok;
      case 'replace':
        if (h.replace === undefined) return BadArgument;
        h.replace(k, value);
        return Ok;
      case 'remove':
        if (h.remove === undefined) return BadArgument;
        h.remove(k);
        return Ok;
    }
  }

  function token(answer: { result: WasmResult; value?: number }, ptr: number): WasmResult {
    if (answer.result !== Ok || answer.value === undefined) return answer.result;
    return returnU32(answer.value, ptr);
  }

  // ---- the table --------------------------------------------------------------------------

  return {
    // §3.2 logging, time, log level
    proxy_log(level: number, ptr: number, size: number): number {
      if (level >>> 0 > LogLevel.Critical) return BadArgument;
      const m = mem();
      if (m === undefined) return IMA;
      const msg = readUtf8(m, ptr >>> 0, size >>> 0);
      if (msg === undefined) return IMA;
      host.log((level >>> 0) as LogLevel, msg);
      return Ok;
    },
    proxy_get_log_level(retPtr: number): number {
      return returnU32(Math.min(host.logLevel(), LogLevel.Critical), retPtr >>> 0);
    },
    proxy_get_current_time_nanoseconds(retPtr: number): number {
      return returnU64(host.currentTimeNanoseconds(), retPtr >>> 0);
    },
    proxy_set_tick_period_milliseconds(period: number): number {
      return host.setTickPeriodMilliseconds(period >>> 0);
    },

    // §3.3 context management
    proxy_set_effective_context(contextId: number): number {
      return host.setEffectiveContext(contextId >>> 0);
    },
    proxy_done(): number {
      return host.done();
    },

    // §3.4 configuration (0.1.0)
    proxy_get_configuration(retPtrPtr: number, retSizePtr: number): number {
      return returnBytes(host.configuration(), retPtrPtr >>> 0, retSizePtr >>> 0);
    },

    // §3.5 buffers
    proxy_get_buffer_bytes(type: number, start: number, maxSize: number, retPtrPtr: number, retSizePtr: number): number {
      const t = type >>> 0;
      if (t > MAX_BUFFER_TYPE) return BadArgument;
      const got = host.buffer(t as BufferType);
      if (got.result !== Ok) return got.result;
      const all = got.value.bytes();
      const s = Math.min(start >>> 0, all.byteLength);
      const e = Math.min(s + (maxSize >>> 0), all.byteLength);
      // cpp-host answers Ok for 0 bytes WITHOUT writing the return pointers, and SDKs rely on it:
      // solo-io's runtime 0.1.8 passes an unusable size pointer when the plugin configuration is
      // empty. So this call (unlike the other returned-memory calls) leaves both slots untouched.
      if (e === s) return Ok;
      return returnBytes(all.subarray(s, e), retPtrPtr >>> 0, retSizePtr >>> 0);
    },
    proxy_get_buffer_status(type: number, retSizePtr: number, retFlagsPtr: number): number {
      const t = type >>> 0;
      if (t > MAX_BUFFER_TYPE) return BadArgument;
      const got = host.buffer(t as BufferType);
      if (got.result !== Ok) return got.result;
      const m = mem();
      if (m === undefined || !words(m, retSizePtr >>> 0, retFlagsPtr >>> 0)) return IMA;
      m.writeU32(retSizePtr >>> 0, got.value.bytes().byteLength);
      m.writeU32(retFlagsPtr >>> 0, 0);
      return Ok;
    },
    proxy_set_buffer_bytes(type: number, start: number, size: number, dataPtr: number, dataSize: number): number {
      const t = type >>> 0;
      if (t > MAX_BUFFER_TYPE) return BadArgument;
      const m = mem();
      if (m === undefined) return IMA;
      const data = read(m, dataPtr >>> 0, dataSize >>> 0);
      if (data === undefined) return IMA;
      const got = host.buffer(t as BufferType);
      if (got.result !== Ok) return got.result;
      if (got.value.set === undefined) return BadArgument;
      return got.value.set(start >>> 0, size >>> 0, data);
    },

    // §3.6 header maps
    proxy_get_header_map_pairs(map: number, retPtrPtr: number, retSizePtr: number): number {
      const t = map >>> 0;
      if (t > MAX_MAP_TYPE) return BadArgument;
      const got = host.headerMap(t as MapType, false);
      // Envoy: an unavailable map serializes as empty, with Ok (§3.6).
      const pairs = got.result === Ok ? got.value.pairs() : [];
      return returnBytes(pairs.length === 0 ? EMPTY : encodePairs(pairs, { latin1: true }), retPtrPtr >>> 0, retSizePtr >>> 0);
    },
    proxy_set_header_map_pairs(map: number, ptr: number, size: number): number {
      const t = map >>> 0;
      if (t > MAX_MAP_TYPE) return BadArgument;
      const m = mem();
      if (m === undefined) return IMA;
      const pairs = readPairs(m, ptr >>> 0, size >>> 0);
      if (pairs === undefined) return IMA;
      const got = host.headerMap(t as MapType, true);
      if (got.result !== Ok) return got.result;
      if (got.value.setPairs === undefined) return BadArgument;
      got.value.setPairs(pairs);
      return Ok;
    },
    proxy_get_header_map_size(map: number, retSizePtr: number): number {
      const t = map >>> 0;
      if (t > MAX_MAP_TYPE) return BadArgument;
      const got = host.headerMap(t as MapType, true);
      if (got.result !== Ok) return got.result;
      return returnU32(got.value.byteSize(), retSizePtr >>> 0);
    },
    proxy_get_header_map_value(map: number, keyPtr: number, keySize: number, retPtrPtr: number, retSizePtr: number): number {
      if (map >>> 0 > MAX_MAP_TYPE) return BadArgument;
      const m = mem();
      if (m === undefined) return IMA;
      const key = readName(m, keyPtr >>> 0, keySize >>> 0);
      if (key === undefined) return IMA;
      const value = headerMapValue(map >>> 0, asciiLower(key));
      if (typeof value !== 'string') return value;
      return returnLatin1(value, retPtrPtr >>> 0, retSizePtr >>> 0);
    },
    proxy_add_header_map_value(map: number, keyPtr: number, keySize: number, valuePtr: number, valueSize: number): number {
      return mutateHeaderMap('add', map, keyPtr, keySize, valuePtr, valueSize);
    },
    proxy_replace_header_map_value(map: number, keyPtr: number, keySize: number, valuePtr: number, valueSize: number): number {
      return mutateHeaderMap('replace', map, keyPtr, keySize, valuePtr, valueSize);
    },
    proxy_remove_header_map_value(map: number, keyPtr: number, keySize: number): number {
      return mutateHeaderMap('remove', map, keyPtr, keySize);
    },

    // §3.7 properties
    proxy_get_property(pathPtr: number, pathSize: number, retPtrPtr: number, retSizePtr: number): number {
      const m = mem();
      if (m === undefined) return IMA;
      const raw = read(m, pathPtr >>> 0, pathSize >>> 0);
      if (raw === undefined) return IMA;
      const path = decodePropertyPath(raw);
      if (!path.ok) return WasmResult.NotFound;
      const got = host.getProperty(path.segments);
      if (got.result !== Ok) return got.result;
      return returnBytes(got.value, retPtrPtr >>> 0, retSizePtr >>> 0);
    },
    proxy_set_property(pathPtr: number, pathSize: number, valuePtr: number, valueSize: number): number {
      const m = mem();
      if (m === undefined) return IMA;
      const raw = read(m, pathPtr >>> 0, pathSize >>> 0);
      const value = read(m, valuePtr >>> 0, valueSize >>> 0);
      if (raw === undefined || value === undefined) return IMA;
      const path = decodePropertyPath(raw);
      if (!path.ok) return WasmResult.NotFound;
      return host.setProperty(path.segments, value);
    },

    // §3.8 stream control and local responses
    proxy_continue_stream(type: number): number {
      const t = type >>> 0;
      if (t > MAX_STREAM_TYPE) return BadArgument;
      return host.continueStream(t as StreamType);
    },
    proxy_close_stream(type: number): number {
      const t = type >>> 0;
      if (t > MAX_STREAM_TYPE) return BadArgument;
      return host.closeStream(t as StreamType);
    },
    proxy_continue_request(): number {
      return host.continueStream(StreamType.HttpRequest);
    },
    proxy_continue_response(): number {
      return host.continueStream(StreamType.HttpResponse);
    },
    proxy_clear_route_cache(): number {
      return host.clearRouteCache();
    },
    proxy_send_local_response(
      status: number,
      detailsPtr: number,
      detailsSize: number,
      bodyPtr: number,
      bodySize: number,
      headersPtr: number,
      headersSize: number,
      grpcStatus: number,
    ): number {
      const m = mem();
      if (m === undefined) return IMA;
      const details = readLatin1(m, detailsPtr >>> 0, detailsSize >>> 0);
      const body = read(m, bodyPtr >>> 0, bodySize >>> 0);
      const headers = readPairs(m, headersPtr >>> 0, headersSize >>> 0);
      if (details === undefined || body === undefined || headers === undefined) return IMA;
      return host.sendLocalResponse({
        status: status >>> 0,
        // Envoy replaces ASCII whitespace only (absl::ascii_isspace); `\s` would also hit byte 0xa0,
        // part of many UTF-8 characters.
        details: details.replace(/[ \t\n\v\f\r]/g, '_'),
        body: body.slice(),
        headers,
        grpcStatus: grpcStatus | 0,
      });
    },
    proxy_get_status(retCodePtr: number, retMsgPtrPtr: number, retMsgSizePtr: number): number {
      const m = mem();
      if (m === undefined || !words(m, retCodePtr >>> 0, retMsgPtrPtr >>> 0, retMsgSizePtr >>> 0)) return IMA;
      const s = host.status();
      // Message first: if the allocator fails, nothing at all has been written.
      const r = returnBytes(s.message, retMsgPtrPtr >>> 0, retMsgSizePtr >>> 0);
      if (r !== Ok) return r;
      m.writeU32(retCodePtr >>> 0, s.code >>> 0);
      return Ok;
    },

    // §3.9 http callouts
    proxy_http_call(
      upstreamPtr: number,
      upstreamSize: number,
      headersPtr: number,
      headersSize: number,
      bodyPtr: number,
      bodySize: number,
      trailersPtr: number,
      trailersSize: number,
      timeoutMs: number,
      retTokenPtr: number,
    ): number {
      const m = mem();
      if (m === undefined || !words(m, retTokenPtr >>> 0)) return IMA;
      const upstream = readLatin1(m, upstreamPtr >>> 0, upstreamSize >>> 0);
      const headers = readPairs(m, headersPtr >>> 0, headersSize >>> 0);
      const body = read(m, bodyPtr >>> 0, bodySize >>> 0);
      const trailers = readPairs(m, trailersPtr >>> 0, trailersSize >>> 0);
      if (upstream === undefined || headers === undefined || body === undefined || trailers === undefined) return IMA;
      if ((timeoutMs | 0) < 0) return BadArgument;
      for (const required of [':path', ':method', ':authority']) {
        if (!headers.some(([k, v]) => k === required && v !== '')) return BadArgument;
      }
      return token(host.httpCall({ upstream, headers, body: body.slice(), trailers, timeoutMs: timeoutMs >>> 0 }), retTokenPtr >>> 0);
    },

    // §3.10 gRPC callouts. The AssemblyScript proxy-runtime declares 10/7-parameter variants
    // without the metadata pair (Appendix A #14); a JS host receives whatever arity the module declared.
    proxy_grpc_call(...args: number[]): number {
      const full = args.length >= 12;
      const [up, upLen, svc, svcLen, mth, mthLen] = args;
      const [mdPtr, mdLen] = full ? [args[6], args[7]] : [0, 0];
      const [msgPtr, msgLen, timeout, retToken] = full ? args.slice(8, 12) : args.slice(6, 10);
      const m = mem();
      if (m === undefined || !words(m, retToken >>> 0)) return IMA;
      const upstream = read(m, up >>> 0, upLen >>> 0);
      const service = readLatin1(m, svc >>> 0, svcLen >>> 0);
      const method = readLatin1(m, mth >>> 0, mthLen >>> 0);
      const initialMetadata = readPairs(m, mdPtr >>> 0, mdLen >>> 0);
      const message = read(m, msgPtr >>> 0, msgLen >>> 0);
      if (upstream === undefined || service === undefined || method === undefined || initialMetadata === undefined || message === undefined) {
        return IMA;
      }
      if ((timeout | 0) < 0) return BadArgument;
      return token(
        host.grpcCall({ upstream: upstream.slice(), service, method, initialMetadata }, message.slice(), timeout >>> 0),
        retToken >>> 0,
      );
    },
    proxy_grpc_stream(...args: number[]): number {
      const full = args.length >= 9;
      const [up, upLen, svc, svcLen, mth, mthLen] = args;
      const [mdPtr, mdLen] = full ? [args[6], args[7]] : [0, 0];
      const retToken = full ? args[8] : args[6];
      const m = mem();
      if (m === undefined || !words(m, retToken >>> 0)) return IMA;
      const upstream = read(m, up >>> 0, upLen >>> 0);
      const service = readLatin1(m, svc >>> 0, svcLen >>> 0);
      const method = readLatin1(m, mth >>> 0, mthLen >>> 0);
      const initialMetadata = readPairs(m, mdPtr >>> 0, mdLen >>> 0);
      if (upstream === undefined || service === undefined || method === undefined || initialMetadata === undefined) return IMA;
      return token(host.grpcStream({ upstream: upstream.slice(), service, method, initialMetadata }), retToken >>> 0);
    },
    proxy_grpc_send(tokenId: number, messagePtr: number, messageSize: number, endStream: number): number {
      const m = mem();
      if (m === undefined) return IMA;
      const message = read(m, messagePtr >>> 0, messageSize >>> 0);
      if (message === undefined) return IMA;
      return host.grpcSend(tokenId >>> 0, message.slice(), endStream !== 0);
    },
    proxy_grpc_cancel(tokenId: number): number {
      return host.grpcCancel(tokenId >>> 0);
    },
    proxy_grpc_close(tokenId: number): number {
      return host.grpcClose(tokenId >>> 0);
    },

    // §3.11 shared data and queues
    proxy_get_shared_data(keyPtr: number, keySize: number, retPtrPtr: number, retSizePtr: number, retCasPtr: number): number {
      const m = mem();
      if (m === undefined || !words(m, retCasPtr >>> 0)) return IMA;
      const key = read(m, keyPtr >>> 0, keySize >>> 0);
      if (key === undefined) return IMA;
      const got = host.getSharedData(key.slice());
      if (got.result !== Ok) return got.result;
      const r = returnBytes(got.value.value, retPtrPtr >>> 0, retSizePtr >>> 0);
      if (r !== Ok) return r;
      return returnU32(got.value.cas, retCasPtr >>> 0);
    },
    proxy_set_shared_data(keyPtr: number, keySize: number, valuePtr: number, valueSize: number, cas: number): number {
      const m = mem();
      if (m === undefined) return IMA;
      const key = read(m, keyPtr >>> 0, keySize >>> 0);
      const value = read(m, valuePtr >>> 0, valueSize >>> 0);
      if (key === undefined || value === undefined) return IMA;
      return host.setSharedData(key.slice(), value.slice(), cas >>> 0);
    },
    proxy_register_shared_queue(namePtr: number, nameSize: number, retIdPtr: number): number {
      const m = mem();
      if (m === undefined || !words(m, retIdPtr >>> 0)) return IMA;
      const name = readLatin1(m, namePtr >>> 0, nameSize >>> 0);
      if (name === undefined) return IMA;
      return token(host.registerSharedQueue(name), retIdPtr >>> 0);
    },
    proxy_resolve_shared_queue(vmIdPtr: number, vmIdSize: number, namePtr: number, nameSize: number, retIdPtr: number): number {
      const m = mem();
      if (m === undefined || !words(m, retIdPtr >>> 0)) return IMA;
      const vmId = readLatin1(m, vmIdPtr >>> 0, vmIdSize >>> 0);
      const name = readLatin1(m, namePtr >>> 0, nameSize >>> 0);
      if (vmId === undefined || name === undefined) return IMA;
      return token(host.resolveSharedQueue(vmId, name), retIdPtr >>> 0);
    },
    proxy_enqueue_shared_queue(queueId: number, valuePtr: number, valueSize: number): number {
      const m = mem();
      if (m === undefined) return IMA;
      const value = read(m, valuePtr >>> 0, valueSize >>> 0);
      if (value === undefined) return IMA;
      return host.enqueueSharedQueue(queueId >>> 0, value.slice());
    },
    proxy_dequeue_shared_queue(queueId: number, retPtrPtr: number, retSizePtr: number): number {
      const m = mem();
      if (m === undefined || !words(m, retPtrPtr >>> 0, retSizePtr >>> 0)) return IMA;
      const got = host.dequeueSharedQueue(queueId >>> 0);
      if (got.result !== Ok) return got.result;
      return returnBytes(got.value, retPtrPtr >>> 0, retSizePtr >>> 0);
    },

    // §3.12 metrics
    proxy_define_metric(type: number, namePtr: number, nameSize: number, retIdPtr: number): number {
      const t = type >>> 0;
      if (t > MAX_METRIC_TYPE) return BadArgument;
      const m = mem();
      if (m === undefined || !words(m, retIdPtr >>> 0)) return IMA;
      const name = readUtf8(m, namePtr >>> 0, nameSize >>> 0);
      if (name === undefined) return IMA;
      return token(host.defineMetric(t as MetricType, name), retIdPtr >>> 0);
    },
    proxy_increment_metric(metricId: number, delta: bigint): number {
      return host.incrementMetric(metricId >>> 0, BigInt.asIntN(64, BigInt(delta)));
    },
    proxy_record_metric(metricId: number, value: bigint): number {
      return host.recordMetric(metricId >>> 0, BigInt.asUintN(64, BigInt(value)));
    },
    proxy_get_metric(metricId: number, retValuePtr: number): number {
      const m = mem();
      if (m === undefined || !inBounds(m.size, retValuePtr >>> 0, 8)) return IMA;
      const got = host.getMetric(metricId >>> 0);
      if (got.result !== Ok) return got.result;
      return returnU64(got.value, retValuePtr >>> 0);
    },

    // §3.13 foreign functions
    proxy_call_foreign_function(namePtr: number, nameSize: number, argsPtr: number, argsSize: number, retPtrPtr: number, retSizePtr: number): number {
      const m = mem();
      if (m === undefined) return IMA;
      const name = readLatin1(m, namePtr >>> 0, nameSize >>> 0);
      const args = read(m, argsPtr >>> 0, argsSize >>> 0);
      if (name === undefined || args === undefined) return IMA;
      // A foreign function may have side effects: refuse bad return pointers before running it.
      if (retPtrPtr >>> 0 !== 0 && !words(m, retPtrPtr >>> 0, retSizePtr >>> 0)) return IMA;
      const got = host.callForeignFunction(name, args.slice());
      if (got.result !== Ok) return got.result;
      // A null result pointer asks the host to compute and discard the result (§3.13).
      if (retPtrPtr >>> 0 === 0) return Ok;
      return returnBytes(got.value, retPtrPtr >>> 0, retSizePtr >>> 0);
    },

    // §3.14 Envoy and toolchain helpers
    envoy_resolve_dns(addrPtr: number, addrSize: number, retTokenPtr: number): number {
      const m = mem();
      if (m === undefined || !words(m, retTokenPtr >>> 0)) return IMA;
      const address = readLatin1(m, addrPtr >>> 0, addrSize >>> 0);
      if (address === undefined) return IMA;
      return token(host.resolveDns(address), retTokenPtr >>> 0);
    },
    emscripten_notify_memory_growth(_index: number): void {},
    pthread_equal(a: number, b: number): number {
      return a === b ? 1 : 0;
    },
  };
}
