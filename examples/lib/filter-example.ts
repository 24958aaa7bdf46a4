import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadConfigText, Sluice, type SluiceOptions } from '../../runtime/index.ts';

/**
 * What every filter example's `start.ts` does: build the filter from filters/<name> when its
 * release binary is missing or older than its sources (with `sluice build`), start the example's
 * own servers, then Sluice on the example's envoy.yaml. Tests run the same start-up with port 0
 * everywhere: the fixed ports in envoy.yaml are swapped for the ones the servers got.
 */
export const ROOT = join(import.meta.dirname, '..', '..');
export const DEFAULT_PORTS = { listener: 10000, admin: 9901, upstream: 10001 };

export interface ExampleOptions {
  ports?: Partial<typeof DEFAULT_PORTS> & Record<string, number | undefined>;
  /** A filter binary to use instead of the release build in filters/<name>/build/. */
  wasm?: string;
  sluice?: Partial<SluiceOptions>;
}

export interface RunningExample {
  sluice: Sluice;
  port: number;
  adminPort: number;
  stop(): Promise<void>;
}

export interface ExampleSpec {
  /** The example's directory (its envoy.yaml is there). */
  dir: string;
  /** filters/<filter>. */
  filter: string;
  /** Worker threads unless the caller says otherwise. */
  concurrency?: number;
  /**
   * Starts the example's servers. `ports` holds the requested ports (0 = any); returns each
   * server with the port envoy.yaml names it by (e.g. 10001 for the upstream).
   */
  servers(ports: Record<string, number>): Promise<Array<{ server: http.Server; configPort: number }>>;
}

function filterDir(spec: ExampleSpec): string {
  return join(ROOT, 'filters', spec.filter);
}

/** Where envoy.yaml expects the filter, relative to the example directory. */
function wasmInConfig(spec: ExampleSpec): string {
  return `../../filters/${spec.filter}/build/${spec.filter}.wasm`;
}

/** True when the filter's release binary is missing or older than its sources. */
export function filterNeedsBuild(spec: ExampleSpec): boolean {
  const dir = filterDir(spec);
  const wasm = join(dir, 'build', `${spec.filter}.wasm`);
  if (!existsSync(wasm)) return true;
  const built = statSync(wasm).mtimeMs;
  const sources = [join(dir, 'asconfig.json'), ...readdirSync(join(dir, 'assembly')).map((f) => join(dir, 'assembly', f))];
  return sources.some((f) => statSync(f).mtimeMs > built);
}

/** `sluice build filters/<name>`: the release binary at filters/<name>/build/<name>.wasm. */
export function buildExampleFilter(spec: ExampleSpec): void {
  const r = spawnSync(process.execPath, [join(ROOT, 'runtime', 'cli', 'sluice.ts'), 'build', filterDir(spec)], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`sluice build ${filterDir(spec)} failed (exit ${r.status})`);
}

export async function startFilterExample(spec: ExampleSpec, opts: ExampleOptions = {}): Promise<RunningExample> {
  const ports: Record<string, number> = { ...DEFAULT_PORTS };
  for (const [k, v] of Object.entries(opts.ports ?? {})) if (v !== undefined) ports[k] = v;
  const servers = await spec.servers(ports);
  const closeServers = () => {
    for (const { server } of servers) {
      server.closeAllConnections();
      server.close();
    }
  };
  const configFile = join(spec.dir, 'envoy.yaml');
  let yaml = readFileSync(configFile, 'utf8');
  const swaps: Array<[number, number]> = [
    [DEFAULT_PORTS.listener, ports.listener],
    [DEFAULT_PORTS.admin, ports.admin],
    ...servers.map(({ server, configPort }) => [configPort, (server.address() as AddressInfo).port] as [number, number]),
  ];
  for (const [from, to] of swaps) yaml = yaml.replace(`port_value: ${from} }`, `port_value: ${to} }`);
  if (opts.wasm !== undefined) yaml = yaml.replace(wasmInConfig(spec), opts.wasm);
  const unchanged = swaps.every(([from, to]) => from === to) && opts.wasm === undefined;
  // Unchanged, the config is loaded as its file (so the file can be watched); changed, as text.
  const config = unchanged ? loadConfigText(yaml, configFile) : loadConfigText(yaml, undefined, { baseDir: spec.dir });
  let sluice: Sluice;
  try {
    sluice = await Sluice.start({ config, concurrency: spec.concurrency ?? 1, ...opts.sluice });
  } catch (err) {
    closeServers();
    throw err;
  }
  return {
    sluice,
    port: sluice.listeners[0].port,
    adminPort: sluice.admin?.port ?? 0,
    async stop() {
      await sluice.stop();
      closeServers();
    },
  };
}

/** `node examples/<name>/start.ts`: build if needed, start, print `banner`, stop on Ctrl-C. */
export async function runExampleMain(spec: ExampleSpec, banner: string): Promise<void> {
  if (filterNeedsBuild(spec)) {
    process.stdout.write(`Building filters/${spec.filter} (missing or older than its sources)...\n`);
    buildExampleFilter(spec);
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.stop();
    process.exit(0);
  };
  const concurrency = Number(process.env.SLUICE_CONCURRENCY ?? spec.concurrency ?? 1);
  const running = await startFilterExample(spec, { sluice: { concurrency, onQuit: () => void stop() } });
  process.stdout.write(banner);
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
