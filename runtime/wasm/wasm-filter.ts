import { WASM_FILTER_SCHEMA, WASM_FILTER_TYPE_URL, wasmPluginConfig } from '../config/wasm.ts';
import { registerHttpFilter } from '../http/filter-registry.ts';

/**
 * `envoy.filters.http.wasm` (`envoy.extensions.filters.http.wasm.v3.Wasm`): registers the config
 * schema and the per-worker builder. Building a filter starts its plugin now (VM instantiated,
 * proxy_on_vm_start and proxy_on_configure run), before the listener accepts a request, as Envoy
 * starts VMs at config load.
 */
registerHttpFilter(WASM_FILTER_TYPE_URL, WASM_FILTER_SCHEMA, (config, ctx) => {
  if (ctx.wasm === undefined) throw new Error(`http filter "${config.name}": no wasm runtime on this thread`);
  return ctx.wasm().plugin(config.name, wasmPluginConfig((config.typed_config?.value ?? {}) as Record<string, unknown>));
});
