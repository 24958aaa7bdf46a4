import { WasmResult } from '../../abi/enums.ts';
import { latin1ToBytes } from '../../abi/header-pairs.ts';
import type { Answer } from '../../abi/host-context.ts';
import {
  encodeBool,
  encodeDurationNanos,
  encodeInt64,
  encodeStringMap,
  encodeTimestampNanos,
  encodeUint64,
} from '../../abi/property-values.ts';
import type { HeaderMap } from '../http/header-map.ts';
import type { StreamInfo } from '../http/stream-info.ts';
import type { RouteEntry } from '../router/route-table.ts';

/** What a stream exposes to `proxy_get_property`. */
export interface PropertySource {
  readonly info: StreamInfo;
  readonly requestHeaders: HeaderMap | undefined;
  readonly responseHeaders: HeaderMap | undefined;
  readonly responseTrailers: HeaderMap | undefined;
  readonly route: RouteEntry | undefined;
  /** What `proxy_set_property` stored, keyed by the NUL-joined path. */
  readonly filterState: ReadonlyMap<string, Uint8Array>;
}

type Value = Uint8Array | undefined;

const NOT_FOUND: Answer<Uint8Array> = { result: WasmResult.NotFound };

const str = (s: string | undefined): Value => (s === undefined ? undefined : latin1ToBytes(s));
const int = (n: number | undefined): Value => (n === undefined ? undefined : encodeInt64(Math.trunc(n)));
const msToNanos = (ms: number | undefined): Value => (ms === undefined ? undefined : encodeDurationNanos(BigInt(Math.round(ms * 1e6))));

function headersMap(h: HeaderMap | undefined): Value {
  if (h === undefined) return undefined;
  // Envoy's view: lower-case names, repeated values comma-joined.
  const joined = new Map<string, string>();
  for (const [k, v] of h.entries()) joined.set(k, joined.has(k) ? `${joined.get(k)},${v}` : v);
  return encodeStringMap([...joined].map(([k, v]) => [k, v] as const));
}

function splitAddress(a: string | undefined): { ip: string; port: number } | undefined {
  if (a === undefined) return undefined;
  const i = a.lastIndexOf(':');
  if (i < 0) return undefined;
  return { ip: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) };
}

function requestProperty(name: string, s: PropertySource): Value {
  const h = s.requestHeaders;
  const path = h?.get(':path');
  switch (name) {
    case 'path':
      return str(path);
    case 'url_path':
      return str(path?.split('?')[0]);
    case 'query': {
      if (path === undefined) return undefined;
      const q = path.indexOf('?');
      return str(q < 0 ? '' : path.slice(q + 1));
    }
    case 'host':
      return str(h?.get(':authority'));
    case 'scheme':
      return str(h?.get(':scheme'));
    case 'method':
      return str(h?.get(':method'));
    case 'referer':
      return str(h?.get('referer'));
    case 'useragent':
      return str(h?.get('user-agent'));
    case 'id':
      return str(h?.get('x-request-id'));
    case 'protocol':
      return str(s.info.protocol);
    case 'headers':
      return headersMap(h);
    case 'headers_bytes':
      return h === undefined ? undefined : int(h.byteSize());
    case 'time':
      return encodeTimestampNanos(BigInt(Math.round(s.info.startTime)) * 1_000_000n);
    case 'duration':
      return msToNanos(s.info.lastDownstreamRxMs ?? s.info.lastDownstreamTxMs);
    case 'size': {
      const cl = h?.get('content-length');
      return cl !== undefined ? int(Number(cl)) : int(s.info.bytesReceived);
    }
    case 'total_size':
      return int(s.info.bytesReceived + (h?.byteSize() ?? 0));
  }
  return undefined;
}

function responseProperty(name: string, s: PropertySource): Value {
  const h = s.responseHeaders;
  switch (name) {
    case 'code': {
      const code = s.info.responseCode || Number(h?.get(':status') ?? 0);
      return code === 0 ? undefined : int(code);
    }
    case 'code_details':
      return str(s.info.responseCodeDetails);
    case 'flags':
      return int(s.info.responseFlags);
    case 'grpc_status': {
      const g = s.responseTrailers?.get('grpc-status') ?? h?.get('grpc-status');
      return g === undefined ? undefined : int(Number(g));
    }
    case 'headers':
      return headersMap(h);
    case 'headers_bytes':
      return h === undefined ? undefined : int(h.byteSize());
    case 'trailers':
      return headersMap(s.responseTrailers) ?? encodeStringMap([]);
    case 'size':
      return int(s.info.bytesSent);
    case 'total_size':
      return int(s.info.bytesSent + (h?.byteSize() ?? 0));
    case 'backend_latency': {
      const { firstUpstreamRxMs, lastUpstreamTxMs } = s.info;
      return firstUpstreamRxMs === undefined || lastUpstreamTxMs === undefined ? undefined : msToNanos(firstUpstreamRxMs - lastUpstreamTxMs);
    }
  }
  return undefined;
}

function addressProperty(name: string, address: string | undefined): Value {
  const a = splitAddress(address);
  if (a === undefined) return undefined;
  if (name === 'address') return str(address);
  if (name === 'port') return int(a.port);
  return undefined;
}

function connectionProperty(name: string, s: PropertySource): Value {
  switch (name) {
    case 'id':
      return encodeUint64(BigInt(s.info.connectionId));
    case 'mtls':
      return encodeBool(false);
    case 'requested_server_name':
      return str(s.info.requestedServerName ?? '');
    case 'termination_details':
      return str(s.info.connectionTerminationDetails);
  }
  return undefined;
}

function upstreamProperty(name: string, s: PropertySource): Value {
  switch (name) {
    case 'address':
    case 'port':
      return addressProperty(name, s.info.upstreamHost);
    case 'local_address':
      return str(s.info.upstreamLocalAddress);
    case 'transport_failure_reason':
      return str(s.info.upstreamTransportFailureReason);
    case 'request_attempt_count':
      return encodeUint64(BigInt(s.info.upstreamRequestAttemptCount));
  }
  return undefined;
}

function xdsProperty(name: string, s: PropertySource): Value {
  switch (name) {
    case 'cluster_name':
      return str(s.info.upstreamCluster);
    case 'route_name':
      return str(s.info.routeName ?? s.route?.name);
    case 'virtual_host_name':
      return str(s.info.virtualHostName);
  }
  return undefined;
}

/**
 * Envoy's attributes (§5.4) for an HTTP stream, with Envoy's binary encodings (§5.3). Maps may be
 * indexed one level further (`request.headers.x-foo`). Absent values and unknown names answer
 * NotFound; top-level names that are not attributes read what `proxy_set_property` stored.
 */
export function streamProperty(path: readonly string[], s: PropertySource): Answer<Uint8Array> {
  const [top, name, key] = path;
  let value: Value;
  if (path.length >= 2) {
    switch (top) {
      case 'request':
        if (name === 'headers' && key !== undefined) value = str(s.requestHeaders?.getJoined(key.toLowerCase()));
        else if (path.length === 2) value = requestProperty(name, s);
        break;
      case 'response':
        if (name === 'headers' && key !== undefined) value = str(s.responseHeaders?.getJoined(key.toLowerCase()));
        else if (name === 'trailers' && key !== undefined) value = str(s.responseTrailers?.getJoined(key.toLowerCase()));
        else if (path.length === 2) value = responseProperty(name, s);
        break;
      case 'source':
        if (path.length === 2) value = addressProperty(name, s.info.downstreamRemoteAddress);
        break;
      case 'destination':
        if (path.length === 2) value = addressProperty(name, s.info.downstreamLocalAddress);
        break;
      case 'connection':
        if (path.length === 2) value = connectionProperty(name, s);
        break;
      case 'upstream':
        if (path.length === 2) value = upstreamProperty(name, s);
        break;
      case 'xds':
        if (path.length === 2) value = xdsProperty(name, s);
        break;
    }
  } else if (path.length === 1) {
    switch (top) {
      // Legacy top-level names that SDK helpers still ask for (§5.4).
      case 'cluster_name':
      case 'route_name':
        value = xdsProperty(top, s);
        break;
      case 'connection_id':
        value = encodeUint64(BigInt(s.info.connectionId));
        break;
    }
  }
  if (value === undefined) {
    const stored = s.filterState.get(path.join('\0'));
    return stored === undefined ? NOT_FOUND : { result: WasmResult.Ok, value: stored };
  }
  return { result: WasmResult.Ok, value };
}
