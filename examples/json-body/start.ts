import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigText, Sluice, type SluiceOptions } from '../../runtime/index.ts';
import { startUpstream } from './upstream.ts';

/**
 * `node examples/json-body/start.ts`: builds filters/json-body if it is not built (or older than
 * its sources), starts the users API (127.0.0.1:10001), then Sluice on envoy.yaml (listener
 * 127.0.0.1:10000, admin 127.0.0.1:9901). Ctrl-C stops everything.
 *
 * `startExample()` is the same start-up as a function; the example's test calls it with port 0
 * everywhere (the ports in envoy.yaml are then swapped for the ones the servers got).
 */
const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
const CONFIG = join(here, 'envoy.yaml');
const FILTER_DIR = join(ROOT, 'filters', 'json-body');
const WASM = join(FILTER_DIR, 'build', 'json-body.wasm');
/** Where envoy.yaml expects the filter: the release build of filters/json-body. */
const WASM_IN_CONFIG = '../../filters/json-body/build/json-body.wasm';
export const DEFAULT_PORTS = { listener: 10000, admin: 9901, upstream: 10001 };

export interface ExampleOptions {
  ports?: Partial<typeof DEFAULT_PORTS>;
  /** A filter binary to use instead of filters/json-body/build/json-body.wasm. */
  wasm?: string;
  sluice?: Partial<SluiceOptions>;
}

export interface RunningExample {
  sluice: Sluice;
  port: number;
  adminPort: number;
  stop(): Promise<void>;
}

/** True when the filter's release binary is missing or older than its sources. */
export function filterNeedsBuild(): boolean {
  if (!existsSync(WASM)) return true;
  const built = statSync(WASM).mtimeMs;
  const sources = [join(FILTER_DIR, 'asconfig.json'), ...readdirSync(join(FILTER_DIR, 'assembly')).map((f) => join(FILTER_DIR, 'assembly', f))];
  return sources.some((f) => statSync(f).mtimeMs > built);
}

/** `sluice build filters/json-body`: the release binary at filters/json-body/build/json-body.wasm. */
export function buildFilter(): void {
  const r = spawnSync(process.execPath, [join(ROOT, 'runtime', 'cli', 'sluice.ts'), 'build', FILTER_DIR], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`sluice build ${FILTER_DIR} failed (exit ${r.status})`);
}

export async function startExample(opts: ExampleOptions = {}): Promise<RunningExample> {
  const ports = { ...DEFAULT_PORTS, ...opts.ports };
  const upstream = await startUpstream(ports.upstream);
  const bound = (s: http.Server) => (s.address() as AddressInfo).port;
  let yaml = readFileSync(CONFIG, 'utf8');
  const swaps: Array<[number, number]> = [
    [DEFAULT_PORTS.listener, ports.listener],
    [DEFAULT_PORTS.admin, ports.admin],
    [DEFAULT_PORTS.upstream, bound(upstream)],
  ];
  for (const [from, to] of swaps) yaml = yaml.replace(`port_value: ${from} }`, `port_value: ${to} }`);
  if (opts.wasm !== undefined) yaml = yaml.replace(WASM_IN_CONFIG, opts.wasm);
  const unchanged = swaps.every(([from, to]) => from === to) && opts.wasm === undefined;
  // Unchanged, the config is loaded as its file (so the file can be watched); changed, as text.
  const config = unchanged ? loadConfigText(yaml, CONFIG) : loadConfigText(yaml, undefined, { baseDir: here });
  let sluice: Sluice;
  try {
    sluice = await Sluice.start({ config, concurrency: 1, ...opts.sluice });
  } catch (err) {
    upstream.close();
    throw err;
  }
  return {
    sluice,
    port: sluice.listeners[0].port,
    adminPort: sluice.admin?.port ?? 0,
    async stop() {
      await sluice.stop();
      upstream.closeAllConnections();
      upstream.close();
    },
  };
}

if (import.meta.main) {
  if (filterNeedsBuild()) {
    process.stdout.write('Building filters/json-body (missing or older than its sources)...\n');
    buildFilter();
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.stop();
    process.exit(0);
  };
  const running = await startExample({ sluice: { concurrency: Number(process.env.SLUICE_CONCURRENCY ?? 1), onQuit: () => void stop() } });
  process.stdout.write(
    '\nThe json-body example is running:\n' +
      '  curl -i localhost:10000/users/17                        # response rewritten\n' +
      "  curl -i localhost:10000/users -H 'content-type: application/json' \\\n" +
      '    -d \'{"userName":"bob","email":"bob@example.com","password_confirmation":"pw"}\'   # both rewritten\n' +
      "  curl -s 'localhost:9901/stats?filter=json_body'         # the filter's counters\n" +
      'Ctrl-C to stop.\n\n',
  );
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
