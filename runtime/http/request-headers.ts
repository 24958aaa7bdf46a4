import { randomUUID } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { HeaderMap } from './header-map.ts';
import type { HttpConnectionManager } from '../config/types.ts';

/**
 * What the connection manager does to request headers before the filter chain sees them
 * (Envoy's ConnectionManagerUtility::mutateRequestHeaders): decide the trusted client address
 * from XFF rules, append XFF, classify the request as edge (external) or internal, sanitize
 * Envoy-internal headers on edge requests, set x-forwarded-proto and x-request-id.
 */

/** Headers a client may not set on an edge request (Envoy's header_sanitizing list). */
const EDGE_SANITIZED = [
  'x-envoy-decorator-operation',
  'x-envoy-downstream-service-cluster',
  'x-envoy-downstream-service-node',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-external-address',
  'x-envoy-force-trace',
  'x-envoy-internal',
  'x-envoy-ip-tags',
  'x-envoy-max-retries',
  'x-envoy-retry-grpc-on',
  'x-envoy-retry-on',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-upstream-rq-timeout-ms',
  'x-forwarded-client-cert',
];

/** RFC 1918, RFC 4193 and loopback: what Envoy treats as internal without internal_address_config. */
export function isInternalAddress(ip: string): boolean {
  if (isIPv4(ip)) {
    if (ip.startsWith('10.') || ip.startsWith('192.168.') || ip.startsWith('127.')) return true;
    if (ip.startsWith('172.')) {
      const second = Number(ip.split('.')[1]);
      return second >= 16 && second <= 31;
    }
    return false;
  }
  if (isIPv6(ip)) {
    const lower = ip.toLowerCase();
    if (lower === '::1') return true;
    if (lower.startsWith('::ffff:')) return isInternalAddress(lower.slice(7));
    return lower.startsWith('fd');
  }
  return false;
}

const NO_ENTRIES: string[] = [];

function xffEntries(headers: HeaderMap): string[] {
  const v = headers.getJoined('x-forwarded-for');
  if (v === undefined) return NO_ENTRIES;
  return v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * Applies Envoy's request-header rules in place. `peerIp` is the socket's remote address.
 * Returns the trusted client address when XFF rules took it from `x-forwarded-for`, else
 * undefined (the socket peer is the client).
 */
export function mutateRequestHeaders(
  headers: HeaderMap,
  config: HttpConnectionManager,
  peerIp: string,
  opts: { scheme: string; generateRequestId: boolean },
): string | undefined {
  const hops = config.xff_num_trusted_hops ?? 0;
  let fromXff: string | undefined;
  let clientIp = peerIp;
  let edge = false;
  if (config.use_remote_address === true) {
    const xff = hops > 0 ? xffEntries(headers) : [];
    if (hops > 0 && xff.length >= hops) clientIp = fromXff = xff[xff.length - hops];
    if (!config.skip_xff_append) {
      const existing = headers.getJoined('x-forwarded-for');
      headers.set('x-forwarded-for', existing === undefined ? peerIp : `${existing},${peerIp}`);
    }
    const internal = isInternalAddress(clientIp);
    edge = !internal;
    if (edge) {
      for (const h of EDGE_SANITIZED) headers.remove(h);
      headers.set('x-envoy-external-address', clientIp);
    } else {
      headers.set('x-envoy-internal', 'true');
    }
  } else {
    const xff = xffEntries(headers);
    if (xff.length > hops) fromXff = xff[xff.length - 1 - hops];
  }
  // A client's x-forwarded-proto is trusted only behind trusted hops.
  if (hops === 0 || edge || !headers.has('x-forwarded-proto')) {
    headers.set('x-forwarded-proto', opts.scheme);
  }
  if (opts.generateRequestId) {
    if (!headers.has('x-request-id') || (edge && !config.preserve_external_request_id)) {
      headers.set('x-request-id', randomUUID());
    }
  }
  for (const h of config.route_config.internal_only_headers ?? []) if (edge) headers.remove(h);
  if (config.via) appendVia(headers, config.via);
  return fromXff;
}

/** Envoy's `via`: appended to the request (upstream-bound) and response (downstream-bound) `via` header. */
export function appendVia(headers: HeaderMap, via: string): void {
  const existing = headers.getJoined('via');
  headers.set('via', existing === undefined ? via : `${existing}, ${via}`);
}
