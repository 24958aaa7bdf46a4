/**
 * The `upstream` argument of `proxy_grpc_call` / `proxy_grpc_stream` (proxy-wasm-abi.md §7.2): either a
 * serialized `envoy.config.core.v3.GrpcService` or, when it is not one, a plain cluster name (kept by
 * Envoy for 0.1.x plugins).
 *
 * Supported GrpcService fields (everything else is skipped as an unknown field, as protobuf does):
 *
 *   GrpcService   envoy_grpc (1) EnvoyGrpc, google_grpc (2) → refused, timeout (3) Duration,
 *                 initial_metadata (5) repeated HeaderValue
 *   EnvoyGrpc     cluster_name (1) string, authority (2) string
 *   Duration      seconds (1) int64, nanos (2) int32
 *   HeaderValue   key (1) string, value (2) string, raw_value (3) bytes (wins over `value`, as in Envoy)
 *
 * How the two readings are told apart. Envoy tries `ParseFromArray` and falls back to the cluster name
 * only when that fails; but protobuf accepts most printable strings as a run of unknown fields, so
 * "my_cluster" would parse as an empty GrpcService there. Here the bytes are a GrpcService only when
 * they are well-formed wire format *and* name a target (field 1 or 2); anything else is a cluster name.
 * Printable text can never start with the tag bytes 0x0a / 0x12, so real cluster names are never
 * mistaken for a service.
 *
 * Caller (the wasm host) must: look the cluster up (missing ⇒ the ABI result Envoy gives), use
 * `authority ?? clusterName` as `:authority` (Envoy's default), and send `initialMetadata` before the
 * guest's own initial metadata. Pure and bounded: every loop consumes at least one input byte, nesting is
 * fixed at two levels, and the number of metadata entries is capped.
 */

export type GrpcUpstream =
  | {
      ok: true;
      /** 'service' when the bytes were a GrpcService, 'cluster-name' for the 0.1.x fallback. */
      form: 'service' | 'cluster-name';
      clusterName: string;
      /** EnvoyGrpc.authority when set and non-empty. */
      authority: string | undefined;
      /** GrpcService.timeout in whole milliseconds (nanos rounded down), when set. */
      timeoutMs: number | undefined;
      /** GrpcService.initial_metadata in order; keys as given (the client lower-cases them). */
      initialMetadata: Array<[string, string | Uint8Array]>;
    }
  | { ok: false; error: string };

export interface ParseGrpcUpstreamOptions {
  /** Upper bound on initial_metadata entries. Default 1024 (cpp-host's pair limit). */
  maxMetadata?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Thrown inside this module only, for bytes that are not protobuf wire format. */
class Malformed extends Error {}
/** Thrown inside this module only: well-formed, but over a limit; reported, never reinterpreted. */
class OverLimit extends Error {}

/** Reads one length-delimited message's fields; never reads outside `[pos, end)`. */
class WireReader {
  readonly bytes: Uint8Array;
  pos: number;
  readonly end: number;

  constructor(bytes: Uint8Array, pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Up to 10 bytes; a longer run or one past the end is malformed. */
  varint(): bigint {
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Malformed('truncated varint');
      const b = this.bytes[this.pos++];
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw new Malformed('varint longer than 10 bytes');
  }

  /** A varint used as a size or tag: must fit comfortably in a number. */
  smallVarint(): number {
    const v = this.varint();
    if (v > 0xffffffffn) throw new Malformed('size or tag out of range');
    return Number(v);
  }

  tag(): { field: number; wire: number } {
    const t = this.smallVarint();
    const field = t >>> 3;
    if (field === 0) throw new Malformed('field number 0');
    return { field, wire: t & 7 };
  }

  /** Bounds of a length-delimited field's payload, advancing past it. */
  lengthDelimited(): { start: number; end: number } {
    const len = this.smallVarint();
    if (len > this.end - this.pos) throw new Malformed('length past the end');
    const start = this.pos;
    this.pos += len;
    return { start, end: this.pos };
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_I32:
        this.advance(4);
        return;
      default:
        // Groups (3, 4) are not used by any message here; 6 and 7 do not exist.
        throw new Malformed(`unsupported wire type ${wire}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new Malformed('fixed-width field past the end');
    this.pos += n;
  }
}

function expectWire(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new Malformed(`${what} has wire type ${actual}, expected ${expected}`);
}

function readString(r: WireReader, what: string): string {
  const { start, end } = r.lengthDelimited();
  try {
    return utf8.decode(r.bytes.subarray(start, end));
  } catch {
    throw new Malformed(`${what} is not valid UTF-8`);
  }
}

interface Decoded {
  envoyGrpc: { clusterName: string; authority: string } | undefined;
  googleGrpc: boolean;
  timeout: { seconds: bigint; nanos: number } | undefined;
  metadata: Array<[string, string | Uint8Array]>;
}

function decodeEnvoyGrpc(r: WireReader): { clusterName: string; authority: string } {
  let clusterName = '';
  let authority = '';
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1) {
      expectWire(wire, WIRE_LEN, 'envoy_grpc.cluster_name');
      clusterName = readString(r, 'envoy_grpc.cluster_name');
    } else if (field === 2) {
      expectWire(wire, WIRE_LEN, 'envoy_grpc.authority');
      authority = readString(r, 'envoy_grpc.authority');
    } else {
      r.skip(wire);
    }
  }
  return { clusterName, authority };
}

function decodeDuration(r: WireReader): { seconds: bigint; nanos: number } {
  let seconds = 0n;
  let nanos = 0;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1) {
      expectWire(wire, WIRE_VARINT, 'timeout.seconds');
      seconds = BigInt.asIntN(64, r.varint());
    } else if (field === 2) {
      expectWire(wire, WIRE_VARINT, 'timeout.nanos');
      nanos = Number(BigInt.asIntN(32, r.varint()));
    } else {
      r.skip(wire);
    }
  }
  return { seconds, nanos };
}

function decodeHeaderValue(r: WireReader): [string, string | Uint8Array] {
  let key = '';
  let value: string | Uint8Array = '';
  let raw: Uint8Array | undefined;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1) {
      expectWire(wire, WIRE_LEN, 'initial_metadata.key');
      key = readString(r, 'initial_metadata.key');
    } else if (field === 2) {
      expectWire(wire, WIRE_LEN, 'initial_metadata.value');
      value = readString(r, 'initial_metadata.value');
    } else if (field === 3) {
      expectWire(wire, WIRE_LEN, 'initial_metadata.raw_value');
      const { start, end } = r.lengthDelimited();
      raw = r.bytes.slice(start, end);
    } else {
      r.skip(wire);
    }
  }
  return [key, raw !== undefined && raw.length > 0 ? raw : value];
}

function decodeGrpcService(bytes: Uint8Array, maxMetadata: number): Decoded {
  const r = new WireReader(bytes);
  const out: Decoded = { envoyGrpc: undefined, googleGrpc: false, timeout: undefined, metadata: [] };
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 || field === 2 || field === 3 || field === 5) {
      expectWire(wire, WIRE_LEN, `GrpcService field ${field}`);
      const { start, end } = r.lengthDelimited();
      const sub = new WireReader(bytes, start, end);
      if (field === 1) {
        // oneof: the last target on the wire wins, as protobuf merges.
        out.envoyGrpc = decodeEnvoyGrpc(sub);
        out.googleGrpc = false;
      } else if (field === 2) {
        out.googleGrpc = true;
        out.envoyGrpc = undefined;
      } else if (field === 3) {
        out.timeout = decodeDuration(sub);
      } else {
        if (out.metadata.length >= maxMetadata) throw new OverLimit(`more than ${maxMetadata} initial_metadata entries`);
        out.metadata.push(decodeHeaderValue(sub));
      }
    } else {
      r.skip(wire);
    }
  }
  return out;
}

/** Largest Duration protobuf allows (10 000 years), in seconds. */
const MAX_DURATION_SECONDS = 315_576_000_000n;

/**
 * Interprets a guest's `upstream` bytes. Never throws; `ok: false` means the bytes named a target but
 * it cannot be used (google_grpc, an empty cluster name, a negative or out-of-range timeout) or the
 * bytes are empty / not UTF-8 as a cluster name. The caller turns that into a WasmResult.
 */
export function parseGrpcUpstream(bytes: Uint8Array, opts: ParseGrpcUpstreamOptions = {}): GrpcUpstream {
  const maxMetadata = opts.maxMetadata ?? 1024;
  let decoded: Decoded | undefined;
  try {
    decoded = decodeGrpcService(bytes, maxMetadata);
  } catch (err) {
    if (err instanceof OverLimit) return { ok: false, error: `GrpcService: ${err.message}` };
    if (!(err instanceof Malformed)) throw err;
    decoded = undefined;
  }

  if (decoded !== undefined && (decoded.envoyGrpc !== undefined || decoded.googleGrpc)) {
    if (decoded.envoyGrpc === undefined) {
      return { ok: false, error: 'GrpcService.google_grpc is not supported; use envoy_grpc' };
    }
    const { clusterName, authority } = decoded.envoyGrpc;
    if (clusterName === '') return { ok: false, error: 'GrpcService.envoy_grpc.cluster_name is empty' };
    let timeoutMs: number | undefined;
    if (decoded.timeout !== undefined) {
      const { seconds, nanos } = decoded.timeout;
      if (seconds < 0n || nanos < 0 || nanos > 999_999_999 || seconds > MAX_DURATION_SECONDS) {
        return { ok: false, error: `GrpcService.timeout is out of range (seconds ${seconds}, nanos ${nanos})` };
      }
      timeoutMs = Number(seconds) * 1000 + Math.floor(nanos / 1_000_000);
    }
    return {
      ok: true,
      form: 'service',
      clusterName,
      authority: authority === '' ? undefined : authority,
      timeoutMs,
      initialMetadata: decoded.metadata,
    };
  }

  if (bytes.length === 0) return { ok: false, error: 'upstream is empty' };
  let clusterName: string;
  try {
    clusterName = utf8.decode(bytes);
  } catch {
    return { ok: false, error: 'upstream is neither a GrpcService with a target nor a UTF-8 cluster name' };
  }
  return { ok: true, form: 'cluster-name', clusterName, authority: undefined, timeoutMs: undefined, initialMetadata: [] };
}
