import type { ConfigSnapshot } from '../config/types.ts';
import { resourcePath } from '../config/config-sources.ts';
import { ConfigError, SluiceError, type ConfigProblem } from '../errors.ts';
import { RouteTable } from '../router/route-table.ts';
import { compileFormat, compileHeaderValueTemplate } from '../accesslog/formatter.ts';
import { WASM_FILTER_TYPE_URL, wasmPluginConfig } from '../config/wasm.ts';
import { canaryPlugin } from '../wasm/canary.ts';
import { loadSandbox } from '../wasm/sandbox.ts';
import type { CompiledModule } from '../wasm/module.ts';
import { codeKey, compilePluginCode } from '../wasm/wasm-runtime.ts';
import { createLogger, type Logger } from '../log.ts';

/**
 * Loads what validating `snapshot` needs asynchronously: binaryen, for sandboxing wasm modules
 * (about 80 MB and a second or more of start-up, so only when the config has wasm filters).
 */
export async function prepareValidation(snapshot: ConfigSnapshot): Promise<void> {
  const hasWasm = snapshot.listeners.some((l) =>
    l.filter_chains.some((fc) => fc.filters.some((f) => f.http_connection_manager?.http_filters.some((hf) => hf.typed_config?.type_url === WASM_FILTER_TYPE_URL))),
  );
  if (hasWasm) await loadSandbox();
}

/** What validation produced that workers reuse: every wasm module, compiled once. */
export interface ValidatedSnapshot {
  wasmModules: Record<string, CompiledModule>;
}

/**
 * The checks that need the runtime's compilers, run on the main thread before any worker starts,
 * before every reload, and by `sluice validate`, over static and LDS/CDS resources alike: every
 * route table compiles (regexes, rewrites, header value operators, cluster references) and every
 * access-log format compiles. Throws one ConfigError
 * listing every problem, with YAML paths.
 */
export function validateSnapshot(snapshot: ConfigSnapshot, log: Logger = createLogger('silent')): ValidatedSnapshot {
  const problems: ConfigProblem[] = [];
  const wasmModules: Record<string, CompiledModule> = {};
  const boot = snapshot.bootstrap;
  const clusters = new Set(snapshot.clusters.map((c) => c.name));
  snapshot.listeners.forEach((l, li) => {
    l.filter_chains.forEach((fc, fi) => {
      fc.filters.forEach((f, ni) => {
        const base = `${resourcePath(snapshot, 'listeners', li)}.filter_chains[${fi}].filters[${ni}].typed_config`;
        const hcm = f.http_connection_manager;
        try {
          RouteTable.compile(hcm.route_config, {
            compileValue: compileHeaderValueTemplate,
            clusters: hcm.route_config.validate_clusters === false ? undefined : clusters,
            configPath: `${base}.route_config`,
          });
        } catch (err) {
          collect(err, `${base}.route_config`, problems);
        }
        hcm.http_filters.forEach((hf, hi) => {
          if (hf.typed_config?.type_url !== WASM_FILTER_TYPE_URL) return;
          const path = `${base}.http_filters[${hi}].typed_config.config`;
          try {
            const cfg = wasmPluginConfig(hf.typed_config.value as Record<string, unknown>);
            const key = codeKey(cfg);
            const compiled = (wasmModules[key] ??= compilePluginCode(cfg));
            canaryPlugin(cfg, compiled, log);
          } catch (err) {
            collect(err, path, problems);
          }
        });
        hcm.access_log.forEach((a, ai) => {
          try {
            compileFormat(a);
          } catch (err) {
            collect(err, `${base}.access_log[${ai}].typed_config.log_format`, problems);
          }
        });
      });
    });
  });
  (boot.admin?.access_log ?? []).forEach((a, ai) => {
    try {
      compileFormat(a);
    } catch (err) {
      collect(err, `admin.access_log[${ai}]`, problems);
    }
  });
  if (problems.length > 0) throw new ConfigError(problems, snapshot.source);
  return { wasmModules };
}

function collect(err: unknown, path: string, problems: ConfigProblem[]): void {
  if (err instanceof ConfigError) problems.push(...err.problems);
  else if (err instanceof SluiceError) problems.push({ path, message: err.message });
  else problems.push({ path, message: (err as Error).message });
}
