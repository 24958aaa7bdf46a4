import type { RouteAction, WeightedClusterEntry } from '../config/types.ts';
import type { HeaderMap } from '../http/header-map.ts';
import type { CompileContext } from './compile-context.ts';
import { HeaderMutationSet } from './header-mutations.ts';

/** One compiled `weighted_clusters.clusters[]` entry. Immutable. */
export class WeightedCluster {
  /** Static cluster name, or undefined when the entry uses `cluster_header`. */
  readonly name: string | undefined;
  /** Lower-cased request header naming the cluster, when set. */
  readonly clusterHeader: string | undefined;
  readonly weight: number;
  /** This entry's `host_rewrite_literal` (a route-level one wins over it, as in Envoy). */
  readonly hostRewrite: string | undefined;
  /** @internal Applied before the route's own mutations. */
  readonly requestMutations: HeaderMutationSet;
  /** @internal */
  readonly responseMutations: HeaderMutationSet;
  /** The pick for a static name, built once so picking allocates nothing. */
  readonly #pick: ClusterPick | undefined;

  constructor(e: WeightedClusterEntry, ctx: CompileContext) {
    this.name = e.name === '' ? undefined : e.name;
    this.clusterHeader = e.cluster_header === undefined || e.cluster_header === '' ? undefined : e.cluster_header.toLowerCase();
    this.weight = e.weight;
    this.hostRewrite = e.host_rewrite_literal === '' ? undefined : e.host_rewrite_literal;
    this.requestMutations = HeaderMutationSet.compile(e.request_headers_to_add, e.request_headers_to_remove, ctx.compileValue);
    this.responseMutations = HeaderMutationSet.compile(e.response_headers_to_add, e.response_headers_to_remove, ctx.compileValue);
    this.#pick = this.name === undefined ? undefined : Object.freeze({ cluster: this.name, weighted: this });
  }

  /** @internal */
  pick(headers: HeaderMap): ClusterPick | undefined {
    if (this.#pick !== undefined) return this.#pick;
    const v = this.clusterHeader === undefined ? undefined : headers.get(this.clusterHeader);
    return v === undefined || v === '' ? undefined : { cluster: v, weighted: this };
  }
}

/** The upstream cluster chosen for one request, and the weighted entry it came from. */
export interface ClusterPick {
  readonly cluster: string;
  /** Set for `weighted_clusters`: pass it to `applyRequestHeaders`/`applyResponseHeaders`. */
  readonly weighted: WeightedCluster | undefined;
}

/**
 * A route action's cluster specifier: `cluster`, `cluster_header` or `weighted_clusters`.
 *
 * - `cluster_header`: the **first** value of the header names the cluster (Envoy treats it as
 *   untrusted and ignores the rest); absent or empty → no cluster.
 * - `weighted_clusters`: `floor(random() * total)` picks the entry whose interval
 *   `[sum of previous weights, + weight)` contains it, so weight-0 entries are never picked. An
 *   entry with `cluster_header` whose header is absent yields no cluster (Envoy: empty name →
 *   cluster not found).
 */
export class ClusterSpecifier {
  readonly #static: ClusterPick | undefined;
  readonly #header: string | undefined;
  readonly #weighted: readonly WeightedCluster[];
  readonly #totalWeight: number;
  readonly #random: () => number;

  constructor(a: RouteAction, ctx: CompileContext, path: string) {
    this.#random = ctx.random;
    this.#static = a.cluster !== undefined && a.cluster !== '' ? Object.freeze({ cluster: a.cluster, weighted: undefined }) : undefined;
    this.#header = a.cluster_header !== undefined && a.cluster_header !== '' ? a.cluster_header.toLowerCase() : undefined;
    const entries = a.weighted_clusters?.clusters ?? [];
    const weighted = entries.map((e) => new WeightedCluster(e, ctx));
    for (const w of weighted) Object.freeze(w);
    this.#weighted = Object.freeze(weighted);
    this.#totalWeight = this.#weighted.reduce((s, w) => s + w.weight, 0);
    if (a.weighted_clusters !== undefined) {
      entries.forEach((e, i) => {
        const hasName = e.name !== undefined && e.name !== '';
        const hasHeader = e.cluster_header !== undefined && e.cluster_header !== '';
        if (hasName === hasHeader) {
          ctx.problem(`${path}.weighted_clusters.clusters[${i}]`, 'exactly one of name or cluster_header must be set');
        }
      });
      if (this.#totalWeight <= 0) {
        ctx.problem(`${path}.weighted_clusters`, 'sum of weights in the weighted_cluster must be greater than 0');
      }
    } else if (this.#static === undefined && this.#header === undefined) {
      ctx.problem(path, 'expected one of cluster, cluster_header, weighted_clusters');
    }
  }

  /** Static cluster names this specifier may pick (for `validate_clusters`). */
  staticClusters(): string[] {
    if (this.#static !== undefined) return [this.#static.cluster];
    return this.#weighted.flatMap((w) => (w.name === undefined ? [] : [w.name]));
  }

  get weightedClusters(): readonly WeightedCluster[] {
    return this.#weighted;
  }

  pick(headers: HeaderMap): ClusterPick | undefined {
    if (this.#static !== undefined) return this.#static;
    if (this.#header !== undefined) {
      const v = headers.get(this.#header);
      return v === undefined || v === '' ? undefined : { cluster: v, weighted: undefined };
    }
    const list = this.#weighted;
    if (list.length === 0 || this.#totalWeight <= 0) return undefined;
    const selected = Math.floor(this.#random() * this.#totalWeight);
    let end = 0;
    for (let i = 0; i < list.length; i++) {
      end += list[i].weight;
      if (selected < end) return list[i].pick(headers);
    }
    // Only reachable if random() returned 1 or more: the top of the range.
    for (let i = list.length - 1; i >= 0; i--) if (list[i].weight > 0) return list[i].pick(headers);
    return undefined;
  }
}
