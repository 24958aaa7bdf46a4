import { DEFAULT_PORTS, runExampleMain, startFilterExample, type ExampleOptions, type ExampleSpec, type RunningExample } from '../lib/filter-example.ts';
import { startHelloUpstream } from '../quickstart/upstream.ts';

/**
 * `node examples/rate-limit/start.ts`: builds filters/rate-limit if it is not built (or older than its
 * sources), starts the quickstart's hello upstream (127.0.0.1:10001), then Sluice on envoy.yaml
 * with two workers, to show that they spend one budget (listener 127.0.0.1:10000, admin
 * 127.0.0.1:9901). Ctrl-C stops everything.
 *
 * `startExample()` is the same start-up as a function; the example's test calls it with port 0
 * everywhere (the ports in envoy.yaml are then swapped for the ones the servers got).
 */
/** Two workers, to show that they spend one budget. */
export const DEFAULT_CONCURRENCY = 2;
export { DEFAULT_PORTS };

export const EXAMPLE: ExampleSpec = {
  dir: import.meta.dirname,
  filter: 'rate-limit',
  concurrency: DEFAULT_CONCURRENCY,
  async servers(ports) {
    return [{ server: await startHelloUpstream(ports.upstream), configPort: DEFAULT_PORTS.upstream }];
  },
};

export function startExample(opts: ExampleOptions = {}): Promise<RunningExample> {
  return startFilterExample(EXAMPLE, opts);
}

if (import.meta.main) {
  await runExampleMain(
    EXAMPLE,
    '\nThe rate-limit example is running:\n' +
      "  for i in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' localhost:10000/; done; echo   # 200 200 200 429\n" +
      '  curl -i localhost:10000/                          # 429 with retry-after and x-ratelimit-*\n' +
      "  curl -i -H 'x-api-key: alpha' localhost:10000/    # 200: another key, another bucket\n" +
      "  curl -s 'localhost:9901/stats?filter=http_local_rate_limit'  # the filter's counters\n" +
      'Ctrl-C to stop.\n\n',
  );
}
