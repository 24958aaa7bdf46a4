import type { Route, RouteConfiguration, VirtualHost } from '../../runtime/config/types.ts';
import { HeaderMap } from '../../runtime/http/header-map.ts';
import { newStreamInfo, type StreamInfo } from '../../runtime/http/stream-info.ts';
import { RouteTable, type RouteTableOptions } from '../../runtime/router/route-table.ts';

/** Request headers: `:method GET`, `:scheme http`, then `:authority`, `:path` and any extra pairs. */
export function req(authority: string | undefined, path: string | undefined, extra: Array<[string, string]> = []): HeaderMap {
  const kv = [':method', 'GET', ':scheme', 'http'];
  if (authority !== undefined) kv.push(':authority', authority);
  if (path !== undefined) kv.push(':path', path);
  for (const [k, v] of extra) kv.push(k, v);
  return new HeaderMap(kv);
}

export function info(): StreamInfo {
  return newStreamInfo({
    protocol: 'HTTP/1.1',
    connectionId: 1,
    downstreamRemoteAddress: '127.0.0.1:5000',
    downstreamDirectRemoteAddress: '127.0.0.1:5000',
    downstreamLocalAddress: '127.0.0.1:10000',
  });
}

/** A route forwarding to a cluster named after the route. */
export function fwd(name: string, match: Route['match'], action: Partial<NonNullable<Route['route']>> = {}): Route {
  return { name, match, route: { cluster: name, ...action } };
}

/** One `*` virtual host holding `routes`. */
export function oneHost(routes: Route[], extra: Partial<VirtualHost> = {}): RouteConfiguration {
  return { virtual_hosts: [{ name: 'vh', domains: ['*'], routes, ...extra }] };
}

export function table(rc: RouteConfiguration, opts?: RouteTableOptions): RouteTable {
  return RouteTable.compile(rc, opts);
}

/** The route name matched for `path` on host `h`, or undefined. */
export function routeName(t: RouteTable, path: string, extra: Array<[string, string]> = [], authority = 'h'): string | undefined {
  return t.match(req(authority, path, extra))?.name;
}

/** A `random()` that returns the given values in turn (the last one repeats). */
export function seq(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)];
}
