/**
 * `Bootstrap.dynamic_resources` with Envoy's filesystem xDS: `lds_config` / `cds_config` as a
 * `ConfigSource` with `path_config_source {path, watched_directory?}` (or the deprecated `path`).
 * The file holds a `DiscoveryResponse`: `{version_info?, resources: [{"@type": <Listener or Cluster
 * type URL>, ...}]}`, a state-of-the-world list. Files are read while the bootstrap is parsed (as
 * DataSource files are); their resources are parsed with the same Listener / Cluster parsers, into
 * the same Ctx, so cross-checks (unique names, route → cluster references) see static and dynamic
 * resources together.
 *
 * Problems inside a file are reported with the file's absolute path before the YAML path:
 * `/etc/sluice/lds.yaml:resources[0].address.socket_address.port_value`. Unknown fields are errors
 * here too (Envoy only warns for dynamic resources): Sluice never ignores config silently.
 * gRPC sources (`ads_config`, `api_config_source`, `ads`) are refused by name.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Cluster, DynamicResourceFile, DynamicResources, Listener, PathConfigSource } from './types.ts';
import { CLUSTER } from './cluster.ts';
import { LISTENER } from './listener.ts';
import { collected, duration, enumOf, lowerCamel, message, report, str } from './schema.ts';
import type { At, Ctx, Parser } from './schema.ts';
import { typeName, typeUrl } from './typed-config.ts';
import { describeValue, isPlainObject } from './value-kind.ts';
import { inheritLines, lineOf, parseYaml } from './yaml-source.ts';

export const LISTENER_TYPE_URL = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const CLUSTER_TYPE_URL = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

export type SubscriptionKind = 'lds' | 'cds';

/** One file read at load: collected under DYNAMIC_FILES for load.ts to assemble the snapshot. */
export interface DynamicFileFact {
  kind: SubscriptionKind;
  file: DynamicResourceFile;
  listeners: Listener[];
  clusters: Cluster[];
}
export const DYNAMIC_FILES = 'dynamic_files';
/** Every LDS/CDS file named, read or not (problems are grouped by file). */
export const DYNAMIC_FILE_PATHS = 'dynamic_file_paths';
/** Files read while walking the bootstrap, parsed by `parseSubscriptions` after the walk. */
const PENDING_FILES = 'dynamic_pending_files';

interface PendingFile {
  kind: SubscriptionKind;
  source: PathConfigSource;
  text: string;
}

const KINDS = {
  lds: { what: 'LDS', typeUrl: LISTENER_TYPE_URL, parser: LISTENER as Parser<Listener | Cluster> },
  cds: { what: 'CDS', typeUrl: CLUSTER_TYPE_URL, parser: CLUSTER as Parser<Listener | Cluster> },
} as const;

/** A field Sluice recognizes but refuses with a reason (gRPC config sources need a management server). */
function refused(reason: string): Parser<never> {
  return {
    parse(_node, at, ctx) {
      report(ctx, at, reason);
      return undefined;
    },
  };
}

const GRPC_SOURCE = 'Sluice reads xDS only from files (path_config_source); gRPC/REST management servers are not supported';

function pathConfigSource(kind: SubscriptionKind): Parser<PathConfigSource> {
  return message({
    fields: {
      path: str({ minLen: 1 }),
      watched_directory: message({
        fields: { path: str({ minLen: 1 }) },
        required: ['path'],
        build: (f): { path: string } | undefined => (f.path === undefined ? undefined : { path: f.path }),
      }),
    },
    required: ['path'],
    build(f, m) {
      if (f.path === undefined) return undefined;
      const dir = f.watched_directory?.path;
      return subscribe(kind, f.path, dir === undefined ? undefined : resolve(m.ctx.baseDir, dir), m.loc('path'), m.ctx);
    },
  });
}

function configSource(kind: SubscriptionKind): Parser<PathConfigSource> {
  return message({
    fields: {
      path_config_source: pathConfigSource(kind),
      /** Deprecated plain form of path_config_source. */
      path: str({ minLen: 1 }),
      api_config_source: refused(GRPC_SOURCE),
      ads: refused(`${GRPC_SOURCE}; "ads" needs ads_config`),
      self: refused(GRPC_SOURCE),
      resource_api_version: enumOf(['AUTO', 'V3'] as const, ['V2']),
      // Files are read synchronously at load: there is nothing to wait for.
      initial_fetch_timeout: duration(),
    },
    unsupported: ['authorities'],
    oneOf: [{ fields: ['path_config_source', 'path', 'api_config_source', 'ads', 'self'], required: true }],
    build(f, m) {
      if (f.path_config_source !== undefined) return f.path_config_source;
      if (f.path !== undefined && !m.has('path_config_source')) return subscribe(kind, f.path, undefined, m.loc('path'), m.ctx);
      return undefined;
    },
  });
}

export const DYNAMIC_RESOURCES: Parser<DynamicResources> = message({
  fields: {
    lds_config: configSource('lds'),
    cds_config: configSource('cds'),
    ads_config: refused(GRPC_SOURCE),
  },
  unsupported: ['lds_resources_locator', 'cds_resources_locator'],
  build(f) {
    const out: DynamicResources = {};
    if (f.lds_config !== undefined) out.lds_config = f.lds_config;
    if (f.cds_config !== undefined) out.cds_config = f.cds_config;
    return out;
  },
});

/** Reads and parses one subscription's file; the PathConfigSource is returned even when the file is bad. */
function subscribe(kind: SubscriptionKind, path: string, watchedDirectory: string | undefined, at: At, ctx: Ctx): PathConfigSource {
  const abs = resolve(ctx.baseDir, path);
  const source: PathConfigSource = watchedDirectory === undefined ? { path: abs } : { path: abs, watched_directory: watchedDirectory };
  collected<string>(ctx, DYNAMIC_FILE_PATHS).push(abs);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    report(ctx, at, `cannot read ${KINDS[kind].what} file "${abs}": ${code}`);
    return source;
  }
  collected<PendingFile>(ctx, PENDING_FILES).push({ kind, source, text });
  return source;
}

/**
 * Parses the LDS/CDS files the bootstrap named, once the bootstrap itself has been walked: a
 * resource in a file that repeats a static name is the one reported as the duplicate, wherever
 * `dynamic_resources` sits in the bootstrap.
 */
export function parseSubscriptions(ctx: Ctx): void {
  for (const { kind, source, text } of collected<PendingFile>(ctx, PENDING_FILES)) {
    // Relative DataSource file names inside the file resolve against the file's own directory.
    const fileCtx: Ctx = { problems: ctx.problems, collected: ctx.collected, baseDir: dirname(source.path) };
    const parsed = parseDiscoveryResponse(kind, source.path, text, fileCtx);
    if (parsed !== undefined) {
      collected<DynamicFileFact>(ctx, DYNAMIC_FILES).push({ kind, ...parsed, file: { ...source, ...parsed.file } });
    }
  }
}

const RESPONSE_FIELDS = ['version_info', 'resources', 'type_url', 'nonce', 'canary', 'control_plane'];
const RESPONSE_FIELD_BY_KEY = new Map(RESPONSE_FIELDS.flatMap((n) => [[n, n], [lowerCamel(n), n]]));

interface ParsedFile {
  file: Omit<DynamicResourceFile, 'path' | 'watched_directory'>;
  listeners: Listener[];
  clusters: Cluster[];
}

/** `DiscoveryResponse` text → typed resources; problems go to `ctx` with paths prefixed by the file. */
export function parseDiscoveryResponse(kind: SubscriptionKind, file: string, text: string, ctx: Ctx): ParsedFile | undefined {
  const expected = KINDS[kind];
  const atFile = (path: string, line?: number): At => ({ path: `${file}:${path}`, line });
  const parsed = parseYaml(text);
  if (parsed.problems.length > 0) {
    for (const p of parsed.problems) report(ctx, { path: file, line: p.line }, p.message);
    return undefined;
  }
  const doc = parsed.value;
  // An empty file is far more likely a write in progress than "remove every resource":
  // removing everything takes an explicit `resources: []`.
  if (doc === null || doc === undefined) {
    report(ctx, { path: file }, `the file is empty; expected a DiscoveryResponse {version_info, resources: [...]} of ${expected.typeUrl}`);
    return undefined;
  }
  if (!isPlainObject(doc)) {
    report(ctx, { path: file, line: lineOf(doc) }, `expected a DiscoveryResponse object {version_info, resources: [...]}, got ${describeValue(doc)}`);
    return undefined;
  }
  const before = ctx.problems.length;
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    const name = RESPONSE_FIELD_BY_KEY.get(key);
    if (name === undefined) {
      report(ctx, atFile(key, lineOf(doc, key)), `unknown field "${key}"`);
      continue;
    }
    if (value !== null) fields[name] = value;
  }
  const versionInfo = fields.version_info;
  if (versionInfo !== undefined && typeof versionInfo !== 'string') {
    report(ctx, atFile('version_info', lineOf(doc, 'version_info') ?? lineOf(doc, 'versionInfo')), `expected a string, got ${describeValue(versionInfo)}`);
  }
  const responseType = fields.type_url;
  if (responseType !== undefined && (typeof responseType !== 'string' || typeName(responseType) !== typeName(expected.typeUrl))) {
    report(ctx, atFile('type_url', lineOf(doc, 'type_url') ?? lineOf(doc, 'typeUrl')), `an ${expected.what} file holds ${expected.typeUrl} resources, got type_url ${describeValue(responseType)}`);
  }
  const resourcesNode = fields.resources ?? [];
  const isList = Array.isArray(resourcesNode);
  const items: unknown[] = isList ? resourcesNode : [resourcesNode];
  const resourcesLine = lineOf(doc, 'resources');
  const typed: Array<Listener | Cluster> = [];
  const raw: Record<string, unknown>[] = [];
  items.forEach((node, i) => {
    const at = atFile(`resources[${i}]`, isList ? (lineOf(resourcesNode, i) ?? resourcesLine) : resourcesLine);
    if (!isPlainObject(node)) {
      report(ctx, at, `expected a ${typeName(expected.typeUrl)} object with "@type", got ${describeValue(node)}`);
      return;
    }
    const url = node['@type'];
    if (typeof url !== 'string' || url === '') {
      report(ctx, at, `missing "@type" (${expected.typeUrl})`);
      return;
    }
    if (typeName(url) !== typeName(expected.typeUrl)) {
      report(ctx, { path: `${at.path}["@type"]`, line: lineOf(node, '@type') ?? at.line }, `an ${expected.what} file holds ${expected.typeUrl} resources, got "${url}"`);
      return;
    }
    const { '@type': _, ...body } = node;
    inheritLines(body, node);
    const problems = ctx.problems.length;
    const value = expected.parser.parse(body, at, ctx);
    if (value === undefined || ctx.problems.length > problems) return;
    typed.push(value);
    raw.push({ '@type': typeUrl(url), ...(expected.parser.raw?.(body) as object) });
  });
  if (ctx.problems.length > before) return undefined;
  const hash = createHash('sha256').update(text).digest('hex');
  return {
    file: { version_info: typeof versionInfo === 'string' ? versionInfo : hash, hash, raw },
    listeners: kind === 'lds' ? (typed as Listener[]) : [],
    clusters: kind === 'cds' ? (typed as Cluster[]) : [],
  };
}
