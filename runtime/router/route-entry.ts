import {
  DEFAULT_CLUSTER_NOT_FOUND_RESPONSE_CODE,
  DEFAULT_ROUTE_TIMEOUT_MS,
  DEFAULT_UPGRADE_ENABLED,
} from '../config/defaults.ts';
import type { Route, TypedConfig } from '../config/types.ts';
import type { HeaderMap } from '../http/header-map.ts';
import type { StreamInfo } from '../http/stream-info.ts';
import { ClusterSpecifier, type ClusterPick, type WeightedCluster } from './cluster-specifier.ts';
import type { CompileContext } from './compile-context.ts';
import { HeaderMutationSet } from './header-mutations.ts';
import { PathRewrite } from './path-rewrite.ts';
import { Redirect, type RedirectStatus } from './redirect.ts';
import { RegexSubstitution } from './regex-substitution.ts';
import { CompiledRouteMatch } from './route-match.ts';

const CLUSTER_NOT_FOUND_STATUS = {
  SERVICE_UNAVAILABLE: 503,
  NOT_FOUND: 404,
  INTERNAL_SERVER_ERROR: 500,
} as const;
export type ClusterNotFoundStatus = (typeof CLUSTER_NOT_FOUND_STATUS)[keyof typeof CLUSTER_NOT_FOUND_STATUS];

/** What a route shares with its virtual host and route configuration. @internal */
export interface RouteScope {
  readonly virtualHostName: string;
  readonly virtualHostPerFilter: Readonly<Record<string, TypedConfig>> | undefined;
  readonly virtualHostRequest: HeaderMutationSet;
  readonly virtualHostResponse: HeaderMutationSet;
  readonly globalRequest: HeaderMutationSet;
  readonly globalResponse: HeaderMutationSet;
  readonly maxDirectResponseBodyBytes: number;
}

/**
 * What every route entry has. Entries are built once per route table and shared by every stream
 * that matches them; nothing on them changes after compile.
 *
 * Header mutations run in Envoy's order with `most_specific_header_mutations_wins: false` (the only
 * mode Sluice has): weighted-cluster entry, then route, then virtual host, then route
 * configuration. Each level removes, then sets, then appends (see `HeaderMutationSet`), so for
 * `APPEND_IF_EXISTS_OR_ADD` every level's value is present (most specific first), for
 * `OVERWRITE_IF_EXISTS_OR_ADD` the least specific level wins, and for `ADD_IF_ABSENT` the most
 * specific level wins.
 */
abstract class RouteEntryBase {
  /** `Route.name`, '' when unset (Envoy's `%ROUTE_NAME%` source). */
  readonly name: string;
  readonly virtualHostName: string;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
  /** @internal The compiled `RouteMatch`, used by `RouteTable.match`. */
  readonly matcher: CompiledRouteMatch;
  readonly #perFilter: Readonly<Record<string, TypedConfig>> | undefined;
  readonly #vhostPerFilter: Readonly<Record<string, TypedConfig>> | undefined;
  readonly #request: readonly HeaderMutationSet[];
  readonly #response: readonly HeaderMutationSet[];

  constructor(r: Route, scope: RouteScope, ctx: CompileContext, path: string) {
    this.name = r.name ?? '';
    this.virtualHostName = scope.virtualHostName;
    this.metadata = r.metadata;
    this.matcher = new CompiledRouteMatch(r.match, ctx, `${path}.match`);
    this.#perFilter = r.typed_per_filter_config;
    this.#vhostPerFilter = scope.virtualHostPerFilter;
    const request = HeaderMutationSet.compile(r.request_headers_to_add, r.request_headers_to_remove, ctx.compileValue);
    const response = HeaderMutationSet.compile(r.response_headers_to_add, r.response_headers_to_remove, ctx.compileValue);
    this.#request = [request, scope.virtualHostRequest, scope.globalRequest].filter((l) => !l.isEmpty);
    this.#response = [response, scope.virtualHostResponse, scope.globalResponse].filter((l) => !l.isEmpty);
  }

  /** The filter's per-route config, most specific first: route, then virtual host. */
  perFilterConfig(filterName: string): TypedConfig | undefined {
    return ownValue(this.#perFilter, filterName) ?? ownValue(this.#vhostPerFilter, filterName);
  }

  /**
   * Applies request header mutations (weighted entry, route, vhost, route config). Call after
   * picking the cluster and before `rewritePath` / host rewrites, which Envoy applies afterwards.
   */
  applyRequestHeaders(headers: HeaderMap, info: StreamInfo, weighted?: WeightedCluster): void {
    weighted?.requestMutations.apply(headers, info);
    const levels = this.#request;
    for (let i = 0; i < levels.length; i++) levels[i].apply(headers, info);
  }

  /** Applies response header mutations; also for redirects, direct responses and local replies. */
  applyResponseHeaders(headers: HeaderMap, info: StreamInfo, weighted?: WeightedCluster): void {
    weighted?.responseMutations.apply(headers, info);
    const levels = this.#response;
    for (let i = 0; i < levels.length; i++) levels[i].apply(headers, info);
  }
}

function ownValue<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A `route` action: forward upstream. */
export class ForwardRoute extends RouteEntryBase {
  readonly kind = 'route' as const;
  /** Route timeout; 0 = disabled. */
  readonly timeoutMs: number;
  /** `idle_timeout`; undefined = the connection manager's `stream_idle_timeout` applies; 0 = disabled. */
  readonly idleTimeoutMs: number | undefined;
  /** Route-level `host_rewrite_literal`. */
  readonly hostRewrite: string | undefined;
  readonly autoHostRewrite: boolean;
  /** Status of the local reply when the picked cluster does not exist (flag NC). */
  readonly clusterNotFoundStatus: ClusterNotFoundStatus;
  readonly #cluster: ClusterSpecifier;
  readonly #rewrite: PathRewrite | undefined;
  /** Lower-cased upgrade type → enabled. */
  readonly #upgrades: ReadonlyMap<string, boolean>;

  constructor(r: Route, scope: RouteScope, ctx: CompileContext, path: string) {
    super(r, scope, ctx, path);
    const a = r.route as NonNullable<Route['route']>;
    const ap = `${path}.route`;
    this.timeoutMs = a.timeout ?? DEFAULT_ROUTE_TIMEOUT_MS;
    this.idleTimeoutMs = a.idle_timeout;
    this.hostRewrite = a.host_rewrite_literal ? a.host_rewrite_literal : undefined;
    this.autoHostRewrite = a.auto_host_rewrite === true;
    this.clusterNotFoundStatus = CLUSTER_NOT_FOUND_STATUS[a.cluster_not_found_response_code ?? DEFAULT_CLUSTER_NOT_FOUND_RESPONSE_CODE];
    this.#cluster = new ClusterSpecifier(a, ctx, ap);

    if (a.prefix_rewrite && a.regex_rewrite !== undefined) {
      ctx.problem(ap, 'specify only one of prefix_rewrite, regex_rewrite');
    }
    let rewrite: PathRewrite | undefined;
    if (a.prefix_rewrite) rewrite = PathRewrite.prefix(a.prefix_rewrite, this.matcher.rewriteLength);
    const rr = a.regex_rewrite;
    if (rr !== undefined) {
      const sub = ctx.regex(`${ap}.regex_rewrite`, () => RegexSubstitution.compile(rr));
      if (sub !== undefined) rewrite = PathRewrite.regex(sub);
    }
    this.#rewrite = rewrite;

    const upgrades = new Map<string, boolean>();
    (a.upgrade_configs ?? []).forEach((u, i) => {
      const type = u.upgrade_type.toLowerCase();
      if (upgrades.has(type)) ctx.problem(`${ap}.upgrade_configs[${i}]`, `duplicate upgrade ${u.upgrade_type}`);
      upgrades.set(type, u.enabled ?? DEFAULT_UPGRADE_ENABLED);
    });
    this.#upgrades = upgrades;
  }

  /**
   * The cluster for this request, or undefined when none can be named (`cluster_header` absent
   * or empty, or a weighted entry's header absent): answer with `clusterNotFoundStatus`, flag NC.
   * Weighted picks use the table's `random`; a static pick allocates nothing.
   */
  pickCluster(headers: HeaderMap): ClusterPick | undefined {
    return this.#cluster.pick(headers);
  }

  /** The `weighted_clusters` entries, in config order (empty otherwise). */
  get weightedClusters(): readonly WeightedCluster[] {
    return this.#cluster.weightedClusters;
  }

  /** Cluster names this route names statically (for `validate_clusters`). */
  staticClusters(): string[] {
    return this.#cluster.staticClusters();
  }

  /**
   * The `:path` after `prefix_rewrite` / `regex_rewrite`, or undefined when the route has no
   * rewrite. The caller keeps the original in `x-envoy-original-path` (Envoy) when it changes.
   */
  rewritePath(path: string): string | undefined {
    return this.#rewrite?.apply(path);
  }

  /** The literal `:authority` to send: the route's `host_rewrite_literal`, else the weighted entry's. */
  hostRewriteFor(weighted: WeightedCluster | undefined): string | undefined {
    return this.hostRewrite ?? weighted?.hostRewrite;
  }

  /**
   * Whether an upgrade (`websocket`, …) may proceed (Envoy `createUpgradeFilterChain`): a route
   * entry for the type decides (enabled or not); otherwise the connection manager's enabled types
   * `hcmUpgradeTypes` do. Compared case-insensitively.
   */
  upgradeAllowed(type: string, hcmUpgradeTypes: readonly string[]): boolean {
    const t = type.toLowerCase();
    const own = this.#upgrades.get(t);
    if (own !== undefined) return own;
    for (let i = 0; i < hcmUpgradeTypes.length; i++) if (hcmUpgradeTypes[i].toLowerCase() === t) return true;
    return false;
  }
}

/** A `redirect` action: answer with a 3xx and `Location`. */
export class RedirectRoute extends RouteEntryBase {
  readonly kind = 'redirect' as const;
  readonly redirectStatus: RedirectStatus;
  readonly #redirect: Redirect;

  constructor(r: Route, scope: RouteScope, ctx: CompileContext, path: string) {
    super(r, scope, ctx, path);
    const redirect = r.redirect as NonNullable<Route['redirect']>;
    this.#redirect = new Redirect(redirect, this.matcher.rewriteLength, ctx, `${path}.redirect`);
    this.redirectStatus = this.#redirect.status;
  }

  /** The `Location` header value for this request. */
  redirectLocation(headers: HeaderMap): string {
    return this.#redirect.location(headers);
  }
}

/** A `direct_response` action: answer locally with a fixed status and body. */
export class DirectResponseRoute extends RouteEntryBase {
  readonly kind = 'direct_response' as const;
  readonly status: number;
  /** '' when no body is configured. */
  readonly body: string;

  constructor(r: Route, scope: RouteScope, ctx: CompileContext, path: string) {
    super(r, scope, ctx, path);
    const d = r.direct_response as NonNullable<Route['direct_response']>;
    this.status = d.status;
    this.body = d.body ?? '';
    const size = Buffer.byteLength(this.body);
    if (size > scope.maxDirectResponseBodyBytes) {
      ctx.problem(
        `${path}.direct_response.body`,
        `response body size is ${size} bytes; maximum is ${scope.maxDirectResponseBodyBytes}`,
      );
    }
  }
}

/** One compiled route; switch on `kind`. */
export type RouteEntry = ForwardRoute | RedirectRoute | DirectResponseRoute;

/** Builds the entry for one route, frozen; problems go to `ctx`. */
export function compileRouteEntry(r: Route, scope: RouteScope, ctx: CompileContext, path: string): RouteEntry | undefined {
  let entry: RouteEntry;
  if (r.route !== undefined) entry = new ForwardRoute(r, scope, ctx, path);
  else if (r.redirect !== undefined) entry = new RedirectRoute(r, scope, ctx, path);
  else if (r.direct_response !== undefined) entry = new DirectResponseRoute(r, scope, ctx, path);
  else {
    ctx.problem(path, 'expected one of route, redirect, direct_response');
    return undefined;
  }
  Object.freeze(entry);
  return entry;
}
