import type { HttpFilterConfig } from '../config/types.ts';
import { registerHttpFilter as registerHttpFilterSchema } from '../config/http-filters.ts';
import type { Parser } from '../config/schema.ts';
import type { HttpFilterFactory } from './filter.ts';
import type { Stats } from '../stats/types.ts';
import type { Logger } from '../log.ts';
import type { WasmRuntime } from '../wasm/wasm-runtime.ts';

/**
 * HTTP filter extensions by `@type`, as Envoy resolves them. A module that implements a filter
 * calls `registerHttpFilter` at import time with the config schema (the loader validates
 * `typed_config` with it, so unknown fields are errors) and a builder. The main thread imports
 * filter modules before loading config; every worker imports them before building filters
 * (built-ins here, extensions through `SluiceOptions.preload`).
 */
export interface FilterBuildContext {
  log: Logger;
  stats: Stats;
  /** The worker's wasm runtime, created on first use (only configs with wasm filters pay for it). */
  wasm?: () => WasmRuntime;
}

export type HttpFilterBuilder = (config: HttpFilterConfig, ctx: FilterBuildContext) => HttpFilterFactory;

const builders = new Map<string, HttpFilterBuilder>();

export function registerHttpFilter(
  typeUrl: string,
  schema: Parser<Record<string, unknown>>,
  builder: HttpFilterBuilder,
): void {
  registerHttpFilterSchema(typeUrl, schema);
  builders.set(typeUrl, builder);
}

/**
 * Factories for the filters before the router. A `disabled` filter is still built (a route may
 * enable it with an `envoy.config.route.v3.FilterConfig`); its factory says `disabledByDefault`.
 */
export function buildHttpFilters(configs: readonly HttpFilterConfig[], ctx: FilterBuildContext): HttpFilterFactory[] {
  const out: HttpFilterFactory[] = [];
  for (const c of configs) {
    const typeUrl = c.typed_config?.type_url;
    const builder = typeUrl === undefined ? undefined : builders.get(typeUrl);
    if (builder === undefined) {
      if (c.is_optional) continue;
      throw new Error(`http filter "${c.name}": no implementation registered for ${typeUrl ?? '(no typed_config)'}`);
    }
    const factory = builder(c, ctx);
    out.push(c.disabled ? { name: factory.name, disabledByDefault: true, create: (cb) => factory.create(cb) } : factory);
  }
  return out;
}
