import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigText, Sluice, type SluiceOptions } from '../../runtime/index.ts';
import { startAuthServer } from './auth-server.ts';
import { startUpstream } from './upstream.ts';

/**
 * `node examples/auth-call/start.ts`: builds filters/auth-call if it is not built (or older than
 * its sources), starts the upstream (127.0.0.1:10001) and the authorization service
 * (127.0.0.1:10002), then Sluice on envoy.yaml (listener 127.0.0.1:10000, admin 127.0.0.1:9901).
 * Ctrl-C stops everything.
 *
 * `startExample()` is the same start-up as a function; the example's test calls it with port 0
 * everywhere (the ports in envoy.yaml are then swapped for the ones the servers got).
 */
const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
const CONFIG = join(here, 'envoy.yaml');
const FILTER_DIR = join(ROOT, 'filters', 'auth-call');
/** Where envoy.yaml expects the filter: the release build of filters/auth-call. */
const WASM_IN_CONFIG = '../../filters/auth-call/build/auth-call.wasm';
export const DEFAULT_PORTS = { listener: 10000, admin: 9901, upstream: 10001, authz: 10002 };

export interface ExampleOptions {
  ports?: Partial<typeof DEFAULT_PORTS>;
  /** A filter binary to use instead of filters/auth-call/build/auth-call.wasm. */
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
  const wasm = join(FILTER_DIR, 'build', 'auth-call.wasm');
  if (!existsSync(wasm)) return true;
  const built = statSync(wasm).mtimeMs;
  const sources = [join(FILTER_DIR, 'asconfig.json'), ...readdirSync(join(FILTER_DIR, 'assembly')).map((f) => join(FILTER_DIR, 'assembly', f))];
  return sources.some((f) => statSync(f).mtimeMs > built);
}

/** Builds the filter's release binary with asc (as `npx asc --target release` in filters/auth-call). */
export function buildFilter(): void {
  const asc = join(ROOT, 'node_modules', '.bin', 'asc');
  const r = spawnSync(asc, ['--config', join(FILTER_DIR, 'asconfig.json'), '--target', 'release'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`building ${FILTER_DIR} failed (asc exit ${r.status})`);
}

export async function startExample(opts: ExampleOptions = {}): Promise<RunningExample> {
  const ports = { ...DEFAULT_PORTS, ...opts.ports };
  const upstream = await startUpstream(ports.upstream);
  const authz = await startAuthServer(ports.authz);
  const bound = (s: http.Server) => (s.address() as AddressInfo).port;
  let yaml = readFileSync(CONFIG, 'utf8');
  const swaps: Array<[number, number]> = [
    [DEFAULT_PORTS.listener, ports.listener],
    [DEFAULT_PORTS.admin, ports.admin],
    [DEFAULT_PORTS.upstream, bound(upstream)],
    [DEFAULT_PORTS.authz, bound(authz)],
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
    authz.close();
    throw err;
  }
  return {
    sluice,
    port: sluice.listeners[0].port,
    adminPort: sluice.admin?.port ?? 0,
    async stop() {
      await sluice.stop();
      for (const s of [upstream, authz]) {
        s.closeAllConnections();
        s.close();
      }
    },
  };
}

if (import.meta.main) {
  if (filterNeedsBuild()) {
    process.stdout.write('Building filters/auth-call (missing or older than its sources)...\n');
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
    '\nThe auth-call example is running:\n' +
      '  curl -i localhost:10000/hello                                      # 401 from the auth service\n' +
      "  curl -i -H 'authorization: Bearer let-me-in' localhost:10000/hello  # 200, x-user-id added\n" +
      "  curl -i -H 'authorization: Bearer slow' localhost:10000/hello       # 403 after 0.5 s (fail closed)\n" +
      "  curl -s 'localhost:9901/stats?filter=ext_authz'                    # the filter's counters\n" +
      'Ctrl-C to stop.\n\n',
  );
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
