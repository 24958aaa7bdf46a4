import type { ConfigSnapshot } from '../config/types.ts';
import { compileRe2FullMatch } from '../re2.ts';

/**
 * `/config_dump`: the Envoy-shaped dump of the live snapshot (`buildConfigDump`, at the bottom:
 * `{configs: [{'@type': '...BootstrapConfigDump', ...}, {'@type': '...ClustersConfigDump', ...}]}`)
 * and the query handling over it: `?resource=<repeated field>` returns that field's elements as `configs` (each tagged with its
 * nested `@type`), `?name_regex=` keeps resources whose name fully matches, and `?mask=` keeps only
 * the listed field paths. Errors are Envoy's 400/404 bodies.
 */

export type ConfigDumpResult =
  | { ok: true; dump: Record<string, unknown> }
  | { ok: false; status: number; error: string };

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';

/** Message type of the elements of each repeated resource field, by parent dump type. */
const ELEMENT_TYPES: Record<string, Record<string, string>> = {
  ClustersConfigDump: {
    static_clusters: 'StaticCluster',
    dynamic_active_clusters: 'DynamicCluster',
    dynamic_warming_clusters: 'DynamicCluster',
  },
  ListenersConfigDump: { static_listeners: 'StaticListener', dynamic_listeners: 'DynamicListener' },
  RoutesConfigDump: { static_route_configs: 'StaticRouteConfig', dynamic_route_configs: 'DynamicRouteConfig' },
  ScopedRoutesConfigDump: {
    inline_scoped_route_configs: 'InlineScopedRouteConfigs',
    dynamic_scoped_route_configs: 'DynamicScopedRouteConfigs',
  },
  SecretsConfigDump: {
    static_secrets: 'StaticSecret',
    dynamic_active_secrets: 'DynamicSecret',
    dynamic_warming_secrets: 'DynamicSecret',
  },
  EndpointsConfigDump: {
    static_endpoint_configs: 'StaticEndpointConfig',
    dynamic_endpoint_configs: 'DynamicEndpointConfig',
  },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function elementType(parentType: unknown, field: string): string | undefined {
  if (typeof parentType !== 'string' || !parentType.startsWith(ADMIN)) return undefined;
  const parent = parentType.slice(ADMIN.length);
  const nested = ELEMENT_TYPES[parent]?.[field];
  return nested === undefined ? undefined : `${ADMIN}${parent}.${nested}`;
}

function get(o: unknown, ...path: string[]): unknown {
  let cur = o;
  for (const p of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** The resource name of a dump element (cluster, listener, route config, secret, endpoints). */
function resourceName(el: unknown): string | undefined {
  const candidates = [
    get(el, 'name'),
    get(el, 'cluster', 'name'),
    get(el, 'listener', 'name'),
    get(el, 'active_state', 'listener', 'name'),
    get(el, 'warming_state', 'listener', 'name'),
    get(el, 'draining_state', 'listener', 'name'),
    get(el, 'route_config', 'name'),
    get(el, 'secret', 'name'),
    get(el, 'endpoint_config', 'cluster_name'),
  ];
  for (const c of candidates) if (typeof c === 'string') return c;
  return undefined;
}

/** Keeps only `paths` (dotted, FieldMask style); lists apply the rest of the path to each element. */
function trim(value: unknown, paths: string[][]): unknown {
  if (Array.isArray(value)) return value.map((v) => trim(v, paths));
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  if (value['@type'] !== undefined) out['@type'] = value['@type'];
  const byHead = new Map<string, string[][]>();
  for (const p of paths) {
    if (p.length === 0) continue;
    let rest = byHead.get(p[0]);
    if (rest === undefined) byHead.set(p[0], (rest = []));
    rest.push(p.slice(1));
  }
  for (const [head, rests] of byHead) {
    if (!(head in value)) continue;
    out[head] = rests.some((r) => r.length === 0) ? value[head] : trim(value[head], rests);
  }
  return out;
}

export function filterConfigDump(dump: Record<string, unknown>, query: URLSearchParams): ConfigDumpResult {
  const resource = query.get('resource') || undefined;
  const maskParam = query.get('mask') || undefined;
  const nameRegexParam = query.get('name_regex') || undefined;
  const mask = maskParam?.split(',').map((p) => p.trim().split('.')).filter((p) => p[0] !== '');
  let nameRe: RegExp | undefined;
  if (nameRegexParam !== undefined) {
    nameRe = compileRe2FullMatch(nameRegexParam);
    if (nameRe === undefined) return { ok: false, status: 400, error: `Invalid re2 regex: ${nameRegexParam}` };
  }
  const keep = (el: unknown): boolean => {
    if (nameRe === undefined) return true;
    const n = resourceName(el);
    return n !== undefined && nameRe.test(n);
  };
  const configs = Array.isArray(dump.configs) ? (dump.configs as unknown[]) : [];

  if (resource !== undefined) {
    for (const config of configs) {
      if (!isObject(config) || !(resource in config)) continue;
      const field = config[resource];
      if (!Array.isArray(field)) {
        return {
          ok: false,
          status: 400,
          error: `${resource} is not a repeated field. Use ?mask=${resource} to get only this field`,
        };
      }
      const type = elementType(config['@type'], resource);
      const out = field.filter(keep).map((el) => {
        const tagged = isObject(el) && type !== undefined && el['@type'] === undefined ? { '@type': type, ...el } : el;
        return mask === undefined ? tagged : trim(tagged, mask);
      });
      return { ok: true, dump: { configs: out } };
    }
    return { ok: false, status: 404, error: `${resource} not found in config dump` };
  }

  const out = configs.map((config) => {
    if (!isObject(config)) return config;
    let c: Record<string, unknown> = config;
    if (nameRe !== undefined) {
      c = {};
      for (const [k, v] of Object.entries(config)) c[k] = Array.isArray(v) ? v.filter(keep) : v;
    }
    return mask === undefined ? c : trim(c, mask);
  });
  return { ok: true, dump: { ...dump, configs: out } };
}

// ---------- building the dump ----------

const CONFIG = 'type.googleapis.com/envoy.config.';

type Raw = Record<string, unknown>;

/** A listener or cluster of the live snapshot: its raw config and where it came from. */
interface DumpResource {
  name: string;
  raw: Raw;
  /** The LDS/CDS file's version_info; undefined for static resources. */
  dynamicVersion: string | undefined;
}

function resourcesOf(snapshot: ConfigSnapshot, kind: 'listeners' | 'clusters'): DumpResource[] {
  const statics = ((snapshot.raw.static_resources as Raw | undefined)?.[kind] ?? []) as Raw[];
  const file = snapshot.dynamic[kind === 'listeners' ? 'lds' : 'cds'];
  const typed = snapshot[kind];
  const out: DumpResource[] = statics.map((raw, i) => ({ name: typed[i]?.name ?? '', raw, dynamicVersion: undefined }));
  (file?.raw ?? []).forEach((raw, i) => {
    const { '@type': _, ...body } = raw;
    out.push({ name: typed[statics.length + i]?.name ?? '', raw: body, dynamicVersion: file?.version_info });
  });
  return out;
}

/**
 * When each resource of the live config last changed (`last_updated` in /config_dump): a reload
 * that leaves a listener or cluster as it was keeps its time.
 */
export class ResourceTimes {
  #times = new Map<string, { json: string; at: string }>();

  /** Call when `snapshot` goes live. */
  record(snapshot: ConfigSnapshot, now = new Date()): void {
    const next = new Map<string, { json: string; at: string }>();
    const note = (key: string, value: unknown) => {
      const json = JSON.stringify(value);
      const prev = this.#times.get(key);
      next.set(key, prev !== undefined && prev.json === json ? prev : { json, at: now.toISOString() });
    };
    note('bootstrap', snapshot.raw);
    for (const r of resourcesOf(snapshot, 'listeners')) note(`listener:${r.name}`, r.raw);
    for (const r of resourcesOf(snapshot, 'clusters')) note(`cluster:${r.name}`, r.raw);
    this.#times = next;
  }

  of(key: string): string {
    return this.#times.get(key)?.at ?? new Date(0).toISOString();
  }
}

/**
 * Envoy's `/config_dump` of the live snapshot: the bootstrap as written; clusters and listeners
 * from `static_resources` as static, those from the CDS/LDS files as dynamic (active) with the
 * file's version_info; every listener's inline route_config as a static route config.
 */
export function buildConfigDump(snapshot: ConfigSnapshot, times: ResourceTimes): Record<string, unknown> {
  const listeners = resourcesOf(snapshot, 'listeners');
  const clusters = resourcesOf(snapshot, 'clusters');
  const { lds, cds } = snapshot.dynamic;
  return {
    configs: [
      {
        '@type': `${ADMIN}BootstrapConfigDump`,
        bootstrap: snapshot.raw,
        last_updated: times.of('bootstrap'),
      },
      {
        '@type': `${ADMIN}ClustersConfigDump`,
        version_info: cds?.version_info ?? snapshot.version,
        static_clusters: clusters
          .filter((c) => c.dynamicVersion === undefined)
          .map((c) => ({ cluster: { '@type': `${CONFIG}cluster.v3.Cluster`, ...c.raw }, last_updated: times.of(`cluster:${c.name}`) })),
        dynamic_active_clusters: clusters
          .filter((c) => c.dynamicVersion !== undefined)
          .map((c) => ({
            version_info: c.dynamicVersion,
            cluster: { '@type': `${CONFIG}cluster.v3.Cluster`, ...c.raw },
            last_updated: times.of(`cluster:${c.name}`),
          })),
      },
      {
        '@type': `${ADMIN}ListenersConfigDump`,
        version_info: lds?.version_info ?? snapshot.version,
        static_listeners: listeners
          .filter((l) => l.dynamicVersion === undefined)
          .map((l) => ({ listener: { '@type': `${CONFIG}listener.v3.Listener`, ...l.raw }, last_updated: times.of(`listener:${l.name}`) })),
        dynamic_listeners: listeners
          .filter((l) => l.dynamicVersion !== undefined)
          .map((l) => ({
            name: l.name,
            active_state: {
              version_info: l.dynamicVersion,
              listener: { '@type': `${CONFIG}listener.v3.Listener`, ...l.raw },
              last_updated: times.of(`listener:${l.name}`),
            },
          })),
      },
      {
        '@type': `${ADMIN}RoutesConfigDump`,
        static_route_configs: listeners.flatMap((l) =>
          inlineRouteConfigs(l.raw).map((rc) => ({
            route_config: { '@type': `${CONFIG}route.v3.RouteConfiguration`, ...rc },
            last_updated: times.of(`listener:${l.name}`),
          })),
        ),
        dynamic_route_configs: [],
      },
    ],
  };
}

function inlineRouteConfigs(listener: Raw): Raw[] {
  const chains = (listener.filter_chains ?? []) as Raw[];
  return chains.flatMap((fc) =>
    ((fc.filters ?? []) as Raw[]).map((f) => (f.typed_config as Raw | undefined)?.route_config as Raw | undefined).filter((rc): rc is Raw => rc !== undefined),
  );
}
