import { compileRe2FullMatch } from '../re2.ts';

/**
 * `/config_dump` query handling over the Envoy-shaped dump the supervisor builds
 * (`{configs: [{'@type': '...BootstrapConfigDump', ...}, {'@type': '...ClustersConfigDump', ...}]}`):
 * `?resource=<repeated field>` returns that field's elements as `configs` (each tagged with its
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
