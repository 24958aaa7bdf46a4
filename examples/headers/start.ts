import { DEFAULT_PORTS, runExampleMain, startFilterExample, type ExampleOptions, type ExampleSpec, type RunningExample } from '../lib/filter-example.ts';
import { startUpstream } from './upstream.ts';

/**
 * `node examples/headers/start.ts`: builds filters/headers if it is not built (or older than its sources),
 * starts the upstream (127.0.0.1:10001), then Sluice on envoy.yaml (listener 127.0.0.1:10000, admin
 * 127.0.0.1:9901). Ctrl-C stops everything.
 *
 * `startExample()` is the same start-up as a function; the example's test calls it with port 0
 * everywhere (the ports in envoy.yaml are then swapped for the ones the servers got).
 */
export { DEFAULT_PORTS };

export const EXAMPLE: ExampleSpec = {
  dir: import.meta.dirname,
  filter: 'headers',
  async servers(ports) {
    return [{ server: await startUpstream(ports.upstream), configPort: DEFAULT_PORTS.upstream }];
  },
};

export function startExample(opts: ExampleOptions = {}): Promise<RunningExample> {
  return startFilterExample(EXAMPLE, opts);
}

if (import.meta.main) {
  await runExampleMain(
    EXAMPLE,
    '\nThe headers example is running:\n' +
      "  curl -i -H 'x-tenant: acme' -H 'x-debug: 1' localhost:10000/orders   # both directions rewritten\n" +
      '  curl -i localhost:10000/                                              # no x-tenant: x-served-for is skipped\n' +
      'Ctrl-C to stop.\n\n',
  );
}
