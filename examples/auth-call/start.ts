import { DEFAULT_PORTS, runExampleMain, startFilterExample, type ExampleOptions, type ExampleSpec, type RunningExample } from '../lib/filter-example.ts';
import { startAuthServer } from './auth-server.ts';
import { startUpstream } from './upstream.ts';

/**
 * `node examples/auth-call/start.ts`: builds filters/auth-call if it is not built (or older than its
 * sources), starts the upstream (127.0.0.1:10001) and the auth service (127.0.0.1:10002), then
 * Sluice on envoy.yaml (listener 127.0.0.1:10000, admin 127.0.0.1:9901). Ctrl-C stops everything.
 *
 * `startExample()` is the same start-up as a function; the example's test calls it with port 0
 * everywhere (the ports in envoy.yaml are then swapped for the ones the servers got).
 */
/** envoy.yaml's port for the auth service. */
export const AUTHZ_PORT = 10002;
export { DEFAULT_PORTS };

export const EXAMPLE: ExampleSpec = {
  dir: import.meta.dirname,
  filter: 'auth-call',
  async servers(ports) {
    const p: Record<string, number> = { authz: AUTHZ_PORT, ...ports };
    return [
      { server: await startUpstream(p.upstream), configPort: DEFAULT_PORTS.upstream },
      { server: await startAuthServer(p.authz), configPort: AUTHZ_PORT },
    ];
  },
};

export function startExample(opts: ExampleOptions = {}): Promise<RunningExample> {
  return startFilterExample(EXAMPLE, opts);
}

if (import.meta.main) {
  await runExampleMain(
    EXAMPLE,
    '\nThe auth-call example is running:\n' +
      '  curl -i localhost:10000/hello                                      # 401 from the auth service\n' +
      "  curl -i -H 'authorization: Bearer let-me-in' localhost:10000/hello  # 200, x-user-id added\n" +
      "  curl -i -H 'authorization: Bearer slow' localhost:10000/hello       # 403 after 0.5 s (fail closed)\n" +
      "  curl -s 'localhost:9901/stats?filter=ext_authz'                    # the filter's counters\n" +
      'Ctrl-C to stop.\n\n',
  );
}
