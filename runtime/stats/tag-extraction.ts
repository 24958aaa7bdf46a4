/**
 * Envoy's default tag extraction (`source/common/config/well_known_names.cc`): dynamic segments of
 * a dotted stat name (cluster name, HCM stat prefix, listener address, response code, ...) are cut
 * out of the name and become tags. Prometheus output is `envoy_<tag-extracted name>` with the tags
 * as labels, in extraction order, which is what Envoy dashboards and alerts key on.
 *
 * Order matters for the label order: extractors without a first-token prefix run first (response
 * code, response code class, worker id, ...), then those registered for the stat's first token, each
 * group in Envoy's registration order (regex descriptors before tokenized ones). Every extractor
 * matches against the original name; the removed spans are cut out at the end.
 *
 * Implemented: the default descriptors whose tag names are verified against Envoy's
 * `well_known_names.h`, except the DynamoDB and Mongo ones. `wasm.*` names stay untagged.
 *
 * Custom stat namespaces: metrics a Wasm module defines (`proxy_define_metric`) are named
 * `wasmcustom.<name>`. Tag extraction applies to them like to any stat (Envoy's tag producer
 * runs on every name; only the extractors without a first-token prefix can match, e.g. a name
 * ending in `_rq_200` gets `envoy_response_code`). Only the Prometheus name differs: the
 * namespace is stripped and no `envoy_` prefix is added (`prometheusMetricName`).
 */

export interface ExtractedStatName {
  /** Dotted name with the tag values cut out: `cluster.upstream_rq_total`. */
  name: string;
  /** [Envoy tag name, value] in extraction order: `[['envoy.cluster_name', 'backend']]`. */
  tags: Array<[string, string]>;
}

interface Extractor {
  tag: string;
  /** First dotted token the stat must start with; undefined = tried on every stat. */
  prefix: string | undefined;
  /** Returns [start, end) of the span to remove and the tag value, or undefined. */
  match(name: string, tokens: TokenSpans): { start: number; end: number; value: string } | undefined;
}

interface TokenSpans {
  tokens: string[];
  starts: number[];
}

function regexExtractor(tag: string, prefix: string | undefined, source: string, substr?: string, negative?: string): Extractor {
  const re = new RegExp(source, 'd');
  return {
    tag,
    prefix,
    match(name) {
      if (substr !== undefined && !name.includes(substr)) return undefined;
      const m = re.exec(name);
      if (m === null || m.indices === undefined) return undefined;
      const span = m.indices[1];
      if (span === undefined) return undefined;
      const value = m[2] ?? m[1];
      if (negative !== undefined && value === negative) return undefined;
      return { start: span[0], end: span[1], value };
    },
  };
}

/**
 * Envoy's tokenized patterns: `.`-separated tokens where `$` captures one token (removed with
 * the dot that follows it), `*` matches one token and a trailing `**` matches one or more tokens.
 */
function tokenExtractor(tag: string, pattern: string): Extractor {
  const p = pattern.split('.');
  const prefix = p[0] === '$' || p[0] === '*' ? undefined : p[0];
  return {
    tag,
    prefix,
    match(_name, { tokens, starts }) {
      let capture = -1;
      for (let j = 0; j < p.length; j++) {
        const pj = p[j];
        if (pj === '**') {
          if (tokens.length <= j) return undefined;
          break;
        }
        if (j >= tokens.length) return undefined;
        if (j === p.length - 1 && tokens.length !== p.length) return undefined;
        if (pj === '$') capture = j;
        else if (pj !== '*' && pj !== tokens[j]) return undefined;
      }
      if (capture < 0 || capture >= tokens.length - 1) return undefined;
      const start = starts[capture];
      return { start, end: start + tokens[capture].length + 1, value: tokens[capture] };
    },
  };
}

const ADDRESS = String.raw`(?:(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[a-fA-F_\d]+\])_\d+)`;
const TAG_VALUE = String.raw`[^.]+`;

const EXTRACTORS: readonly Extractor[] = [
  // Regex descriptors, in Envoy's order.
  regexExtractor('envoy.response_code', undefined, String.raw`_rq(_(\d{3}))$`, '_rq_'),
  regexExtractor('envoy.response_code_class', undefined, String.raw`_rq_((\d))xx$`, '_rq_'),
  regexExtractor('envoy.ssl_cipher', 'listener', String.raw`^listener\..*?\.ssl\.ciphers(\.([\w-]+))$`, '.ssl.ciphers.'),
  regexExtractor('cipher_suite', 'cluster', String.raw`^cluster\.${TAG_VALUE}\.ssl\.ciphers(\.([\w-]+))$`, '.ssl.ciphers.'),
  regexExtractor('envoy.http_conn_manager_prefix', 'listener', String.raw`^listener\..*?\.http\.((${TAG_VALUE})\.)`, '.http.'),
  regexExtractor(
    'envoy.worker_id',
    undefined,
    String.raw`^(?:listener\.(?:${ADDRESS}|${TAG_VALUE})\.|server\.|listener_manager\.)worker_((\d+)\.)`,
  ),
  regexExtractor('envoy.listener_address', 'listener', String.raw`^listener\.((${ADDRESS}|${TAG_VALUE})\.)`, undefined, 'admin'),
  regexExtractor('envoy.rds_route_config', 'http', String.raw`^http\.${TAG_VALUE}\.rds\.(([\w\-.]+)\.)\w+?$`, '.rds.'),
  // Tokenized descriptors, in Envoy's order.
  tokenExtractor('envoy.grpc_bridge_method', 'cluster.*.grpc.*.$.**'),
  tokenExtractor('envoy.http_user_agent', 'http.*.user_agent.$.**'),
  tokenExtractor('envoy.virtual_cluster', 'vhost.*.vcluster.$.**'),
  tokenExtractor('envoy.fault_downstream_cluster', 'http.*.fault.$.**'),
  tokenExtractor('envoy.grpc_bridge_service', 'cluster.*.grpc.$.**'),
  tokenExtractor('envoy.tcp_prefix', 'tcp.$.**'),
  tokenExtractor('envoy.udp_prefix', 'udp.$.**'),
  tokenExtractor('envoy.clientssl_prefix', 'auth.clientssl.$.**'),
  tokenExtractor('envoy.ratelimit_prefix', 'ratelimit.$.**'),
  tokenExtractor('envoy.cluster_name', 'cluster.$.**'),
  tokenExtractor('envoy.http_conn_manager_prefix', 'http.$.**'),
  tokenExtractor('envoy.virtual_host', 'vhost.$.**'),
  tokenExtractor('envoy.mongo_prefix', 'mongo.$.**'),
  tokenExtractor('envoy.route', 'vhost.*.route.$.**'),
  tokenExtractor('envoy.thrift_prefix', 'thrift.$.**'),
  tokenExtractor('envoy.redis_prefix', 'redis.$.**'),
  tokenExtractor('envoy.local_http_ratelimit_prefix', '$.http_local_rate_limit.**'),
  tokenExtractor('envoy.local_network_ratelimit_prefix', 'local_rate_limit.$.**'),
];

const WITHOUT_PREFIX = EXTRACTORS.filter((e) => e.prefix === undefined);
const BY_PREFIX = new Map<string, Extractor[]>();
for (const e of EXTRACTORS) {
  if (e.prefix === undefined) continue;
  let list = BY_PREFIX.get(e.prefix);
  if (list === undefined) BY_PREFIX.set(e.prefix, (list = []));
  list.push(e);
}

const cache = new Map<string, ExtractedStatName>();
const CACHE_LIMIT = 65536;

/** Tag extraction for one stat name; results are cached (stat names are a bounded set). */
export function extractTags(statName: string): ExtractedStatName {
  const hit = cache.get(statName);
  if (hit !== undefined) return hit;
  const tokens = statName.split('.');
  const starts = new Array<number>(tokens.length);
  for (let i = 0, pos = 0; i < tokens.length; i++) {
    starts[i] = pos;
    pos += tokens[i].length + 1;
  }
  const spans = { tokens, starts };
  const tags: Array<[string, string]> = [];
  const removed: Array<[number, number]> = [];
  const tagged = new Set<string>();
  const run = (e: Extractor): void => {
    if (tagged.has(e.tag)) return; // the second HCM-prefix extractor must not tag twice
    const m = e.match(statName, spans);
    if (m === undefined) return;
    tags.push([e.tag, m.value]);
    tagged.add(e.tag);
    removed.push([m.start, m.end]);
  };
  for (const e of WITHOUT_PREFIX) run(e);
  const forPrefix = BY_PREFIX.get(tokens[0]);
  if (forPrefix !== undefined) for (const e of forPrefix) run(e);

  let name = statName;
  if (removed.length > 0) {
    removed.sort((a, b) => a[0] - b[0]);
    let out = '';
    let pos = 0;
    for (const [s, e] of removed) {
      if (s > pos) out += statName.slice(pos, s);
      pos = Math.max(pos, e);
    }
    name = out + statName.slice(pos);
  }
  const result = { name, tags };
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(statName, result);
  return result;
}

/** Envoy's `sanitizeName`: every char outside [a-zA-Z0-9_] becomes `_`; a leading digit gets `_`. */
export function sanitizePrometheusName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return s.length > 0 && s.charCodeAt(0) >= 48 && s.charCodeAt(0) <= 57 ? `_${s}` : s;
}

/**
 * Envoy's registered custom stat namespaces (`Stats::CustomStatNamespaces`). The Wasm extension
 * registers `wasmcustom` when a Wasm plugin is configured; Sluice names only Wasm-defined metrics
 * that way, so the namespace is registered statically.
 */
export const WASM_CUSTOM_STAT_NAMESPACE = 'wasmcustom';
const CUSTOM_STAT_NAMESPACES: ReadonlySet<string> = new Set([WASM_CUSTOM_STAT_NAMESPACE]);

/**
 * Envoy's `CustomStatNamespacesImpl::stripRegisteredPrefix`: the name after its first token when
 * that token is a registered custom namespace (`wasmcustom.my.metric` → `my.metric`), else
 * undefined (also for a bare `wasmcustom` without a dot).
 */
export function stripCustomStatNamespace(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot >= 0 && CUSTOM_STAT_NAMESPACES.has(name.slice(0, dot)) ? name.slice(dot + 1) : undefined;
}

/**
 * Envoy's `PrometheusStatsFormatter::metricName` for a tag-extracted name:
 * `cluster.upstream_rq_total` → `envoy_cluster_upstream_rq_total`; a custom-namespace name loses
 * the namespace and gets no prefix (`wasmcustom.my_counter` → `my_counter`). A custom name that
 * sanitizes to '' or starts with a digit is not a valid Prometheus name: undefined, and Envoy
 * leaves that metric out of `/stats/prometheus` (it still shows in `/stats`).
 */
export function prometheusMetricName(extractedName: string): string | undefined {
  const custom = stripCustomStatNamespace(extractedName);
  if (custom !== undefined) {
    const name = custom.replace(/[^a-zA-Z0-9_]/g, '_');
    return name.length === 0 || (name.charCodeAt(0) >= 48 && name.charCodeAt(0) <= 57) ? undefined : name;
  }
  return sanitizePrometheusName(`envoy_${extractedName}`);
}

/**
 * How Envoy spells an address inside a stat name: `0.0.0.0:10000` → `0.0.0.0_10000`,
 * `[::1]:10000` → `[__1]_10000` (`:` is reserved in stat names). Use it to build
 * `listener.<address>.` prefixes so `envoy_listener_address` extraction works.
 */
export function addressStatName(address: string): string {
  return address.replaceAll(':', '_');
}
