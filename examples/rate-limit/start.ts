import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigText, Sluice, type SluiceOptions } from '../../runtime/index.ts';
import { startHelloUpstream } from '../quickstart/upstream.ts';

/**
 * `node examples/rate-limit/start.ts`: builds filters/rate-limit if it is not built (or older than
 * its sources), starts the quickstart's hello upstream (127.0.0.1:10001), then Sluice on
 * envoy.yaml with two workers (listener 127.0.0.1:10000, admin 127.0.0.1:9901). Ctrl-C stops
 * everything.
 *
 * `startExample()` is the same start-up as a function; the example's test calls it with port 0
 * everywhere (the ports in envoy.yaml are then swapped for the ones the servers got).
 */
const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
const CONFIG = join(here, 'envoy.yaml');
const FILTER_DIR = join(ROOT, 'filters', 'rate-limit');
/** Where envoy.yaml expects the filter: the release build of filters/rate-limit. */
const WASM_IN_CONFIG = '../../filters/rate-limit/build/rate-limit.wasm';
export const DEFAULT_PORTS = { listener: 10000, admin: 9901, upstream: 10001 };
/** Two workers, to show that they spend one budget. */
export const DEFAULT_CONCURRENCY = 2;

export interface ExampleOptions {
  ports?: Partial<typeof DEFAULT_PORTS>;
  /** A filter binary to use instead of filters/rate-limit/build/rate-limit.wasm. */
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
  const wasm = join(FILTER_DIR, 'build', 'rate-limit.wasm');
  if (!existsSync(wasm)) return true;
  const built = statSync(wasm).mtimeMs;
  const sources = [join(FILTER_DIR, 'asconfig.json'), ...readdirSync(join(FILTER_DIR, 'assembly')).map((f) => join(FILTER_DIR, 'assembly', f))];
  return sources.some((f) => statSync(f).mtimeMs > built);
}

/** Builds the filter's release binary with asc (as `npx asc --target release` in filters/rate-limit). */
export function buildFilter(): void {
  const asc = join(ROOT, 'node_modules', '.bin', 'asc');
  const r = spawnSync(asc, ['--config', join(FILTER_DIR, 'asconfig.json'), '--target', 'release'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`building ${FILTER_DIR} failed (asc exit ${r.status})`);
}

export async function startExample(opts: ExampleOptions = {}): Promise<RunningExample> {
  const ports = { ...DEFAULT_PORTS, ...opts.ports };
  const upstream = await startHelloUpstream(ports.upstream);
  let yaml = readFileSync(CONFIG, 'utf8');
  const swaps: Array<[number, number]> = [
    [DEFAULT_PORTS.listener, ports.listener],
    [DEFAULT_PORTS.admin, ports.admin],
    [DEFAULT_PORTS.upstream, (upstream.address() as AddressInfo).port],
  ];
  for (const [from, to] of swaps) yaml = yaml.replace(`port_value: ${from} }`, `port_value: ${to} }`);
  if (opts.wasm !== undefined) yaml = yaml.replace(WASM_IN_CONFIG, opts.wasm);
  const unchanged = swaps.every(([from, to]) => from === to) && opts.wasm === undefined;
  // Unchanged, the config is loaded as its file (so the file can be watched); changed, as text.
  const config = unchanged ? loadConfigText(yaml, CONFIG) : loadConfigText(yaml, undefined, { baseDir: here });
  let sluice: Sluice;
  try {
    sluice = await Sluice.start({ config, concurrency: DEFAULT_CONCURRENCY, ...opts.sluice });
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
    process.stdout.write('Building filters/rate-limit (missing or older than its sources)...\n');
    buildFilter();
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.stop();
    process.exit(0);
  };
  const concurrency = Number(process.env.SLUICE_CONCURRENCY ?? DEFAULT_CONCURRENCY);
  const running = await startExample({ sluice: { concurrency, onQuit: () => void stop() } });
  process.stdout.write(
    '\nThe rate-limit example is running:\n' +
      "  for i in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' localhost:10000/; done; echo   # 200 200 200 429\n" +
      '  curl -i localhost:10000/                          # 429 with retry-after and x-ratelimit-*\n' +
      "  curl -i -H 'x-api-key: alpha' localhost:10000/    # 200: another key, another bucket\n" +
      "  curl -s 'localhost:9901/stats?filter=http_local_rate_limit'  # the filter's counters\n" +
      'Ctrl-C to stop.\n\n',
  );
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
