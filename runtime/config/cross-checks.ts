/**
 * Checks that span the whole bootstrap, run after the walk over facts the parsers collected:
 * unique listener names and addresses, unique cluster names, and route references to clusters
 * that do not exist (tables with `validate_clusters: false` withdraw their references).
 */
import type { At, Ctx } from './schema.ts';
import { collected, report } from './schema.ts';

export const LISTENER_DECLS = 'listener_decls';
export const CLUSTER_DECLS = 'cluster_decls';
export const CLUSTER_REFS = 'cluster_refs';

export interface NamedFact {
  name: string;
  at: At;
}
export interface ListenerFact extends NamedFact {
  /** `ip:port`; undefined for port 0 (each bind gets its own ephemeral port). */
  address: string | undefined;
  addressAt: At;
}

export function checkCrossReferences(ctx: Ctx): void {
  const listeners = collected<ListenerFact>(ctx, LISTENER_DECLS);
  reportDuplicates(ctx, listeners, (l) => l.name, (l) => l.at, (name) => `duplicate listener name "${name}"`);
  reportDuplicates(
    ctx,
    listeners.filter((l) => l.address !== undefined),
    (l) => l.address as string,
    (l) => l.addressAt,
    (address, first) => `listener address ${address} is already used by listener "${first.name}"`,
  );
  const clusters = collected<NamedFact>(ctx, CLUSTER_DECLS);
  reportDuplicates(ctx, clusters, (c) => c.name, (c) => c.at, (name) => `duplicate cluster name "${name}"`);
  const names = new Set(clusters.map((c) => c.name));
  for (const ref of collected<NamedFact>(ctx, CLUSTER_REFS)) {
    if (!names.has(ref.name)) report(ctx, ref.at, `unknown cluster "${ref.name}"`);
  }
}

function reportDuplicates<E>(
  ctx: Ctx,
  entries: readonly E[],
  key: (e: E) => string,
  at: (e: E) => At,
  message: (key: string, first: E) => string,
): void {
  const first = new Map<string, E>();
  for (const e of entries) {
    const k = key(e);
    const seen = first.get(k);
    if (seen === undefined) first.set(k, e);
    else report(ctx, at(e), `${message(k, seen)} (first defined at ${at(seen).path})`);
  }
}
