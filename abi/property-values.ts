/**
 * Property value encodings, as Envoy's `serializeValue` writes them for `proxy_get_property`
 * (proxy-wasm-abi.md §5.3), and the property catalogue of §5.4 that says which encoding each
 * built-in property uses. All integers little-endian.
 *
 * The host returns these bytes through "returned memory" (§1): an empty result (an empty string,
 * an empty `bytes`) is written as ptr 0 / size 0 without calling the guest allocator.
 *
 * Encoders take host values; a non-integer or out-of-range number is a host bug and throws
 * RangeError. Decoders take bytes (from a guest or a test) and never throw: `undefined` means
 * "not this encoding" (wrong length, invalid UTF-8, a bool byte other than 0/1).
 *
 * Pure: no project or `node:*` imports.
 */

import { decodePairs, encodePairs } from './header-pairs.ts';

/** How a built-in property's value is encoded. `proto` (protobuf wire bytes) is not encoded here. */
export const PropertyKind = {
  String: 'string',
  Int64: 'int64',
  Uint64: 'uint64',
  Double: 'double',
  Bool: 'bool',
  Duration: 'duration',
  Timestamp: 'timestamp',
  /** map<string,string> as pairs (§5.1). */
  StringMap: 'stringMap',
  /** map<string, any>: pairs whose values are serialized recursively, so not necessarily UTF-8. */
  Map: 'map',
  /** Protobuf message, wire serialization (empty if null). */
  Proto: 'proto',
} as const;
export type PropertyKind = (typeof PropertyKind)[keyof typeof PropertyKind];

const S = PropertyKind.String;
const I = PropertyKind.Int64;
const U = PropertyKind.Uint64;
const P = PropertyKind.Proto;
const CERT_STRINGS = {
  tls_version: S,
  subject_local_certificate: S,
  subject_peer_certificate: S,
  dns_san_local_certificate: S,
  dns_san_peer_certificate: S,
  uri_san_local_certificate: S,
  uri_san_peer_certificate: S,
  sha256_peer_certificate_digest: S,
  /** URL-encoded PEM. */
  peer_certificate: S,
  transport_failure_reason: S,
} as const;

function prefixed<T extends Record<string, PropertyKind>>(prefix: string, kinds: T): Record<string, PropertyKind> {
  const out: Record<string, PropertyKind> = {};
  for (const [k, v] of Object.entries(kinds)) out[`${prefix}.${k}`] = v;
  return out;
}

/**
 * Built-in properties Envoy exposes (§5.4, from Envoy's attributes.rst), keyed by `propertyKey`
 * (dotted form). `int` there is int64, `uint` is uint64. `request.*` and `response.*` are HTTP only;
 * `request.duration/size/total_size` and all of `response.*` exist only after completion.
 * The legacy top-level names (`node`, `cluster_name`, …) were removed from Envoy in Oct 2024 but
 * SDK helpers (Go `properties`) still query them, so a compatible host answers both forms.
 * Any other top-level name is filter state `wasm.<name>` (raw bytes set by `proxy_set_property`).
 */
export const ENVOY_PROPERTY_KINDS: Readonly<Record<string, PropertyKind>> = Object.freeze({
  ...prefixed('request', {
    path: S,
    /** Path without the query. */
    url_path: S,
    host: S,
    scheme: S,
    method: S,
    /** Lower-cased names; repeated values comma-joined. */
    headers: PropertyKind.StringMap,
    headers_bytes: I,
    referer: S,
    useragent: S,
    /** Time of the first byte. */
    time: PropertyKind.Timestamp,
    /** x-request-id. */
    id: S,
    /** "HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3". */
    protocol: S,
    query: S,
    duration: PropertyKind.Duration,
    /** Content-Length if present. */
    size: I,
    total_size: I,
  }),
  ...prefixed('response', {
    code: I,
    code_details: S,
    /** Bitset of response flags. */
    flags: I,
    grpc_status: I,
    headers: PropertyKind.StringMap,
    headers_bytes: I,
    trailers: PropertyKind.StringMap,
    size: I,
    total_size: I,
    backend_latency: PropertyKind.Duration,
  }),
  /** Downstream remote address, "ip:port". */
  'source.address': S,
  'source.port': I,
  /** Downstream local address, "ip:port". */
  'destination.address': S,
  'destination.port': I,
  ...prefixed('connection', {
    id: U,
    mtls: PropertyKind.Bool,
    requested_server_name: S,
    ...CERT_STRINGS,
    termination_details: S,
  }),
  ...prefixed('upstream', {
    address: S,
    port: I,
    num_endpoints: U,
    ...CERT_STRINGS,
    local_address: S,
    request_attempt_count: U,
    cx_pool_ready_duration: PropertyKind.Duration,
    locality: P,
  }),
  /** Dynamic metadata, envoy.config.core.v3.Metadata. */
  metadata: P,
  filter_state: PropertyKind.Map,
  upstream_filter_state: PropertyKind.Map,
  ...prefixed('xds', {
    node: P,
    cluster_name: S,
    cluster_metadata: P,
    /** §4 listener direction enum. */
    listener_direction: I,
    listener_metadata: P,
    route_name: S,
    route_metadata: P,
    virtual_host_name: S,
    virtual_host_metadata: P,
    upstream_host_metadata: P,
    upstream_host_locality_metadata: P,
    filter_chain_name: S,
  }),
  plugin_name: S,
  /** Asked for inside `proxy_on_context_create` of a root context; must be Ok (empty ⇒ 0/0). */
  plugin_root_id: S,
  plugin_vm_id: S,
  // Legacy (pre-xds) top-level names.
  node: P,
  cluster_name: S,
  cluster_metadata: P,
  listener_direction: I,
  listener_metadata: P,
  route_name: S,
  route_metadata: P,
  upstream_host_metadata: P,
});

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function toBigInt(v: bigint | number, what: string): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isSafeInteger(v)) throw new RangeError(`${what}: ${v} is not a safe integer (pass a bigint)`);
  return BigInt(v);
}

function eight(write: (view: DataView) => void): Uint8Array {
  const out = new Uint8Array(8);
  write(new DataView(out.buffer));
  return out;
}

function view8(bytes: Uint8Array): DataView | undefined {
  return bytes.byteLength === 8 ? new DataView(bytes.buffer, bytes.byteOffset, 8) : undefined;
}

/**
 * string and bytes: the raw UTF-8 bytes, no length prefix, no terminator.
 * Used by: request.path/url_path/host/scheme/method/referer/useragent/id/protocol/query,
 * response.code_details, source/destination.address, connection.* certificate strings,
 * requested_server_name, termination_details, upstream.address/local_address and certificate
 * strings, xds.cluster_name/route_name/virtual_host_name/filter_chain_name, plugin_name,
 * plugin_root_id, plugin_vm_id, and filter-state values set by `proxy_set_property`.
 */
export function encodeString(s: string): Uint8Array {
  return encoder.encode(s);
}

/** `undefined` for invalid UTF-8 (a `bytes` value; read it as the Uint8Array itself). */
export function decodeString(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * int64: 8 bytes little-endian two's complement.
 * Used by: request.headers_bytes/size/total_size, response.code/flags/grpc_status/headers_bytes/
 * size/total_size, source/destination.port, upstream.port, xds.listener_direction.
 */
export function encodeInt64(v: bigint | number): Uint8Array {
  const b = toBigInt(v, 'int64');
  if (b < INT64_MIN || b > INT64_MAX) throw new RangeError(`int64: ${b} is out of range`);
  return eight((view) => view.setBigInt64(0, b, true));
}

export function decodeInt64(bytes: Uint8Array): bigint | undefined {
  return view8(bytes)?.getBigInt64(0, true);
}

/**
 * uint64: 8 bytes little-endian.
 * Used by: connection.id, upstream.num_endpoints, upstream.request_attempt_count.
 */
export function encodeUint64(v: bigint | number): Uint8Array {
  const b = toBigInt(v, 'uint64');
  if (b < 0n || b > UINT64_MAX) throw new RangeError(`uint64: ${b} is out of range`);
  return eight((view) => view.setBigUint64(0, b, true));
}

export function decodeUint64(bytes: Uint8Array): bigint | undefined {
  return view8(bytes)?.getBigUint64(0, true);
}

/** double: 8 bytes IEEE-754 little-endian. No built-in property in §5.4 is a double. */
export function encodeDouble(v: number): Uint8Array {
  return eight((view) => view.setFloat64(0, v, true));
}

export function decodeDouble(bytes: Uint8Array): number | undefined {
  return view8(bytes)?.getFloat64(0, true);
}

/** bool: 1 byte, 0x00 or 0x01. Used by: connection.mtls. */
export function encodeBool(v: boolean): Uint8Array {
  return Uint8Array.of(v ? 1 : 0);
}

/** Strict: only a single 0x00 or 0x01 (all Envoy writes). */
export function decodeBool(bytes: Uint8Array): boolean | undefined {
  if (bytes.byteLength !== 1 || bytes[0] > 1) return undefined;
  return bytes[0] === 1;
}

/**
 * duration: int64 nanoseconds, 8 bytes LE (same bytes as `encodeInt64`).
 * Used by: request.duration, response.backend_latency, upstream.cx_pool_ready_duration.
 */
export function encodeDurationNanos(nanos: bigint | number): Uint8Array {
  return encodeInt64(nanos);
}

export function decodeDurationNanos(bytes: Uint8Array): bigint | undefined {
  return decodeInt64(bytes);
}

/**
 * timestamp: int64 nanoseconds since the Unix epoch, 8 bytes LE. Used by: request.time.
 * From a JS millisecond clock: `encodeTimestampNanos(BigInt(ms) * 1_000_000n)`.
 */
export function encodeTimestampNanos(nanosSinceEpoch: bigint | number): Uint8Array {
  return encodeInt64(nanosSinceEpoch);
}

export function decodeTimestampNanos(bytes: Uint8Array): bigint | undefined {
  return decodeInt64(bytes);
}

/**
 * map<string,string>: pair serialization (§5.1), order and duplicates kept.
 * Used by: request.headers, response.headers, response.trailers.
 * An empty map encodes to the 4-byte N = 0 (Envoy serializes the map; only an empty *result*
 * is written as 0/0, and this one is not empty).
 */
export function encodeStringMap(entries: ReadonlyArray<readonly [string, string]>): Uint8Array {
  return encodePairs(entries);
}

export function decodeStringMap(bytes: Uint8Array): Array<[string, string]> | undefined {
  const r = decodePairs(bytes);
  return r.ok ? r.pairs : undefined;
}

/**
 * list: pair serialization where each element is a key and every value is empty (§5.3).
 * Used by repeated proto fields reached by a path (e.g. into `xds.node`); no §5.4 leaf is a list.
 */
export function encodeStringList(items: readonly string[]): Uint8Array {
  return encodePairs(items.map((item) => [item, ''] as const));
}

/** `undefined` unless every value is empty. */
export function decodeStringList(bytes: Uint8Array): string[] | undefined {
  const r = decodePairs(bytes);
  if (!r.ok || r.pairs.some(([, v]) => v !== '')) return undefined;
  return r.pairs.map(([k]) => k);
}
