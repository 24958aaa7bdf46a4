import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../lib/ports.ts';
import { benchEnvoyYaml } from './envoy-config.ts';
import { whenReady, type Target } from './target.ts';

/**
 * Sluice as a child process: `sluice run -c <generated envoy.yaml> --concurrency N`. Ready
 * when its admin `/ready` answers 200.
 */

export interface SluiceTargetOptions {
  name: string;
  label: string;
  concurrency: number;
  /** Extra `http_filters` entries before the router (a wasm filter variant). */
  httpFilters?: readonly unknown[];
}

export function sluiceTarget(o: SluiceTargetOptions): Target {
  return {
    name: o.name,
    label: o.label,
    async start(env) {
      const port = await freePort();
      const adminPort = await freePort();
      const configPath = join(env.workDir, `${o.name}.envoy.yaml`);
      writeFileSync(
        configPath,
        benchEnvoyYaml({ listenerPort: port, adminPort, upstreamPort: env.upstreamPort, httpFilters: o.httpFilters }),
      );
      const proc = env.children.start({
        name: o.label,
        command: env.nodePath,
        args: [
          join(env.repoDir, 'runtime', 'cli', 'sluice.ts'),
          'run', '-c', configPath,
          '--concurrency', String(o.concurrency),
          '--log-level', 'warn',
        ],
        cwd: env.repoDir,
        cpus: o.concurrency > 1 ? env.pin.multi : env.pin.proxy,
      });
      return whenReady(env, proc, {
        port,
        detail: `sluice run --concurrency ${o.concurrency}; one listener, ${describeFilters(o.httpFilters)}, STATIC cluster`,
        probes: [{ port: adminPort, path: '/ready', isReady: (s) => s === 200 }, { port, path: '/' }],
      });
    },
  };
}

function describeFilters(filters: readonly unknown[] | undefined): string {
  if (!filters || filters.length === 0) return 'router only';
  const names = filters.map((f) => {
    const name = (f as { name?: unknown } | null)?.name;
    return typeof name === 'string' ? name : 'filter';
  });
  return `${names.join(', ')} + router`;
}
