import { DEFAULT_MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES, DEFAULT_VALIDATE_CLUSTERS } from '../config/defaults.ts';
import type { RouteConfiguration } from '../config/types.ts';
import { ConfigError } from '../errors.ts';
import type { HeaderMap } from '../http/header-map.ts';
import { asciiLower, pathEnd } from './ascii.ts';
import { CompileContext, type ValueCompiler } from './compile-context.ts';
import { DomainIndex } from './domain-index.ts';
import { HeaderMutationSet } from './header-mutations.ts';
import {
  compileRouteEntry,
  ForwardRoute,
  type RouteEntry,
  type RouteScope,
} from './route-entry.ts';

export type { ClusterPick, WeightedCluster } from './cluster-specifier.ts';
export type { ValueCompiler } from './compile-context.ts';
export type { RedirectStatus } from './redirect.ts';
export {
  DirectResponseRoute,
  ForwardRoute,
  RedirectRoute,
  type ClusterNotFoundStatus,
  type RouteEntry,
} from './route-entry.ts';

export interface RouteTableOptions {
  /** Returns a float in [0,1); injected for deterministic tests. Default `Math.random`. */
  random?: () => number;
  /**
   * Compiles a header value containing Envoy `%COMMAND%` operators, once per value at compile
   * time. Undefined (or returning undefined) → the value is literal, except that `%%` becomes `%`.
   * Supplied by the access-log formatter.
   */
  compileValue?: ValueCompiler;
  /**
   * Known cluster names. When given and `validate_clusters` is not false (Envoy's default for an
   * inline route configuration), every `cluster` and named weighted cluster must be among them.
   */
  clusters?: { has(name: string): boolean };
  /** YAML path of the route configuration, for error messages. Default `route_config`. */
  configPath?: string;
}

interface VirtualHostTable {
  readonly name: string;
  readonly routes: readonly RouteEntry[];
  /** Some route compares paths case-insensitively: lower-case the path once per request. */
  readonly anyCaseInsensitive: boolean;
}

/**
 * A compiled, immutable `RouteConfiguration`: virtual hosts indexed by domain, routes in order.
 *
 * Contract:
 * - Built once per config snapshot by `compile`, which throws `ConfigError`
 *   (`SLUICE_ERR_CONFIG_INVALID`) listing every problem: bad regexes or substitutions, duplicate or
 *   repeated `*` domains, zero total weight, oversized direct-response bodies, duplicate upgrade
 *   types, unknown clusters (with `opts.clusters`).
 * - A stream calls `match` once with its request headers and keeps the entry for its lifetime; a
 *   config reload builds a new table and changes only what new streams get.
 * - `match` allocates at most the path without its query and a lower-cased copy of it; it builds
 *   no regexes and no closures.
 */
export class RouteTable {
  /** `RouteConfiguration.name`, '' when unset. */
  readonly name: string;
  /** Headers stripped from external requests (`internal_only_headers`), lower-cased. */
  readonly internalOnlyHeaders: readonly string[];
  readonly #domains: DomainIndex<VirtualHostTable>;
  readonly #random: () => number;

  private constructor(name: string, internalOnly: readonly string[], domains: DomainIndex<VirtualHostTable>, random: () => number) {
    this.name = name;
    this.internalOnlyHeaders = internalOnly;
    this.#domains = domains;
    this.#random = random;
  }

  static compile(rc: RouteConfiguration, opts: RouteTableOptions = {}): RouteTable {
    const base = opts.configPath ?? 'route_config';
    const ctx = new CompileContext(opts.random ?? Math.random, opts.compileValue);
    const globalRequest = HeaderMutationSet.compile(rc.request_headers_to_add, rc.request_headers_to_remove, ctx.compileValue);
    const globalResponse = HeaderMutationSet.compile(rc.response_headers_to_add, rc.response_headers_to_remove, ctx.compileValue);
    const maxBody = rc.max_direct_response_body_size_bytes ?? DEFAULT_MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES;
    const checkClusters = opts.clusters !== undefined && (rc.validate_clusters ?? DEFAULT_VALIDATE_CLUSTERS) ? opts.clusters : undefined;
    const domains = new DomainIndex<VirtualHostTable>();

    rc.virtual_hosts.forEach((vh, v) => {
      const vp = `${base}.virtual_hosts[${v}]`;
      const scope: RouteScope = {
        virtualHostName: vh.name,
        virtualHostPerFilter: vh.typed_per_filter_config,
        virtualHostRequest: HeaderMutationSet.compile(vh.request_headers_to_add, vh.request_headers_to_remove, ctx.compileValue),
        virtualHostResponse: HeaderMutationSet.compile(vh.response_headers_to_add, vh.response_headers_to_remove, ctx.compileValue),
        globalRequest,
        globalResponse,
        maxDirectResponseBodyBytes: maxBody,
      };
      const routes: RouteEntry[] = [];
      vh.routes.forEach((r, i) => {
        const rp = `${vp}.routes[${i}]`;
        const entry = compileRouteEntry(r, scope, ctx, rp);
        if (entry === undefined) return;
        if (checkClusters !== undefined && entry instanceof ForwardRoute) {
          for (const c of entry.staticClusters()) {
            if (!checkClusters.has(c)) ctx.problem(`${rp}.route`, `unknown cluster '${c}'`);
          }
        }
        routes.push(entry);
      });
      const table: VirtualHostTable = Object.freeze({
        name: vh.name,
        routes: Object.freeze(routes),
        anyCaseInsensitive: routes.some((r) => r.matcher.caseInsensitive),
      });
      vh.domains.forEach((d, i) => {
        const err = domains.add(d, table);
        if (err !== undefined) ctx.problem(`${vp}.domains[${i}]`, err);
      });
    });

    if (ctx.problems.length > 0) throw new ConfigError(ctx.problems);
    const internalOnly = Object.freeze((rc.internal_only_headers ?? []).map((h) => h.toLowerCase()));
    const routeTable = new RouteTable(rc.name ?? '', internalOnly, domains.freeze(), ctx.random);
    Object.freeze(routeTable);
    return routeTable;
  }

  /**
   * Picks the virtual host by `:authority` (falling back to `host`) and returns the first route
   * that matches, or undefined (→ 404, flag NR). No `:path` → no route.
   *
   * `runtime_fraction`: one random value is drawn per request (lazily, at the first route that has
   * one) and shared by every route, like Envoy's per-stream random value, so the thresholds of
   * back-to-back routes nest (10 % then 20 % sends 10 % to each); a route matches when
   * `random * denominator < numerator`.
   */
  match(headers: HeaderMap): RouteEntry | undefined {
    const vh = this.#domains.find(headers.get(':authority') ?? headers.get('host'));
    if (vh === undefined) return undefined;
    const path = headers.get(':path');
    if (path === undefined) return undefined;
    const end = pathEnd(path);
    const pathOnly = end === path.length ? path : path.slice(0, end);
    const pathLower = vh.anyCaseInsensitive ? asciiLower(pathOnly) : pathOnly;
    const routes = vh.routes;
    let rnd = -1;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i];
      const m = route.matcher;
      if (m.runtimeDenominator !== 0) {
        if (rnd < 0) rnd = this.#random();
        if (!(rnd * m.runtimeDenominator < m.runtimeNumerator)) continue;
      }
      if (m.matches(headers, path, pathOnly, pathLower)) return route;
    }
    return undefined;
  }

  /** The virtual host name `authority` selects, or undefined (diagnostics and tests). */
  virtualHostFor(authority: string | undefined): string | undefined {
    return this.#domains.find(authority)?.name;
  }
}
