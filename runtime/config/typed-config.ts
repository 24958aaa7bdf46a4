/**
 * `google.protobuf.Any` fields (`typed_config`, `typed_per_filter_config` values): `"@type"` plus the
 * message body, or a `udpa.type.v1.TypedStruct` / `xds.type.v3.TypedStruct` wrapper `{type_url, value}`
 * (Istio style), both unwrapped to `TypedConfig {type_url, value}`.
 *
 * Unwrapping does not validate the body: the owner (HCM filter list, access log, …) picks the
 * message parser by type. `type_url` is normalized to `type.googleapis.com/<full.message.Name>`.
 * Modules that know a type's schema register it with `registerTypedSchema` so /config_dump shows
 * its field names in snake_case; bodies of unregistered types are kept as written.
 */
import type { TypedConfig } from './types.ts';
import { message, rawOf, report, str, struct } from './schema.ts';
import type { Parser } from './schema.ts';
import { describeValue, isPlainObject } from './value-kind.ts';
import { inheritLines } from './yaml-source.ts';

const TYPED_STRUCT_TYPES = new Set(['udpa.type.v1.TypedStruct', 'xds.type.v3.TypedStruct']);
const TYPED_SCHEMAS = new Map<string, Parser<unknown>>();

/** `type.googleapis.com/envoy.x.v3.Foo` → `envoy.x.v3.Foo` (any URL prefix). */
export function typeName(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}

export function typeUrl(url: string): string {
  return `type.googleapis.com/${typeName(url)}`;
}

/** Lets /config_dump rename the fields of this type's bodies. */
export function registerTypedSchema(url: string, parser: Parser<unknown>): void {
  TYPED_SCHEMAS.set(typeName(url), parser);
}

const TYPED_STRUCT = message({
  fields: { type_url: str({ minLen: 1 }), value: struct },
  required: ['type_url'],
});

export const TYPED_CONFIG: Parser<TypedConfig> = {
  parse(node, at, ctx) {
    if (!isPlainObject(node)) {
      report(ctx, at, `expected an object with "@type", got ${describeValue(node)}`);
      return undefined;
    }
    const url = node['@type'];
    if (typeof url !== 'string' || url === '') {
      report(ctx, at, 'missing "@type" (e.g. "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router")');
      return undefined;
    }
    const body = withoutType(node);
    if (!TYPED_STRUCT_TYPES.has(typeName(url))) return { type_url: typeUrl(url), value: body };
    const ts = TYPED_STRUCT.parse(body, at, ctx);
    if (ts?.type_url === undefined) return undefined;
    return { type_url: typeUrl(ts.type_url), value: ts.value ?? {} };
  },
  raw(node) {
    if (!isPlainObject(node) || typeof node['@type'] !== 'string') return node;
    const url = node['@type'];
    const body = withoutType(node);
    if (TYPED_STRUCT_TYPES.has(typeName(url))) return { '@type': url, ...(rawOf(TYPED_STRUCT, body) as object) };
    const schema = TYPED_SCHEMAS.get(typeName(url));
    return { '@type': url, ...(schema === undefined ? body : (schema.raw?.(body) as object)) };
  },
};

/** The body without `"@type"`, reporting the source lines of the original. */
function withoutType(node: Record<string, unknown>): Record<string, unknown> {
  const { '@type': _, ...body } = node;
  inheritLines(body, node);
  return body;
}
