import type { ConfigSnapshot } from '../config/types.ts';
import { ConfigError, SluiceError, type ConfigProblem } from '../errors.ts';
import { RouteTable } from '../router/route-table.ts';
import { compileFormat, compileHeaderValueTemplate } from '../accesslog/formatter.ts';

/**
 * The checks that need the runtime's compilers, run once on the main thread before any worker
 * starts (and by `sluice validate`): every route table compiles (regexes, rewrites, header value
 * operators, cluster references) and every access-log format compiles. Throws one ConfigError
 * listing every problem, with YAML paths.
 */
export function validateSnapshot(snapshot: ConfigSnapshot): void {
  const problems: ConfigProblem[] = [];
  const boot = snapshot.bootstrap;
  const clusters = new Set(boot.static_resources.clusters.map((c) => c.name));
  boot.static_resources.listeners.forEach((l, li) => {
    l.filter_chains.forEach((fc, fi) => {
      fc.filters.forEach((f, ni) => {
        const base = `static_resources.listeners[${li}].filter_chains[${fi}].filters[${ni}].typed_config`;
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
}

function collect(err: unknown, path: string, problems: ConfigProblem[]): void {
  if (err instanceof ConfigError) problems.push(...err.problems);
  else if (err instanceof SluiceError) problems.push({ path, message: err.message });
  else problems.push({ path, message: (err as Error).message });
}
