import { createProxyWasmImports } from '../../abi/host-functions.ts';
import type { HostContext } from '../../abi/host-context.ts';
import { createWasiImports, type WasiHost } from '../../abi/wasi.ts';
import { createAssemblyScriptImports, type AssemblyScriptHost } from '../../abi/assemblyscript.ts';

/**
 * The import object every VM is instantiated with: the proxy-wasm `env` table, the Envoy and
 * toolchain helpers, AssemblyScript's own `env.abort/trace/seed`, and WASI under both module names
 * (cpp-host registers the same functions under `wasi_snapshot_preview1` and `wasi_unstable`).
 */
export function buildImports(host: HostContext, wasi: WasiHost, as: AssemblyScriptHost): WebAssembly.Imports {
  const wasiFns = createWasiImports(wasi);
  return {
    env: { ...createAssemblyScriptImports(as), ...createProxyWasmImports(host) },
    wasi_snapshot_preview1: wasiFns,
    wasi_unstable: wasiFns,
  } as WebAssembly.Imports;
}

export const PROVIDED_IMPORT_MODULES: ReadonlySet<string> = new Set(['env', 'wasi_snapshot_preview1', 'wasi_unstable']);

let names: Map<string, Set<string>> | undefined;

/** Names Sluice links in `module` (computed once from the real tables, so it cannot drift). */
export function providedImportNames(module: string): ReadonlySet<string> {
  if (names === undefined) {
    const unused = () => {
      throw new Error('import table probe');
    };
    const probe = new Proxy({}, { get: () => unused }) as never;
    const built = buildImports(probe, probe, probe) as Record<string, Record<string, unknown>>;
    names = new Map(Object.entries(built).map(([m, fns]) => [m, new Set(Object.keys(fns))]));
  }
  return names.get(module) ?? new Set();
}
