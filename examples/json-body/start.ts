import { DEFAULT_PORTS, runExampleMain, startFilterExample, type ExampleOptions, type ExampleSpec, type RunningExample } from '../lib/filter-example.ts';
import { startUpstream } from './upstream.ts';

/**
 * `node examples/json-body/start.ts`: builds filters/json-body if it is not built (or older than its
 * sources), starts the users API (127.0.0.1:10001), then Sluice on envoy.yaml (listener
 * 127.0.0.1:10000, admin 127.0.0.1:9901). Ctrl-C stops everything.
 *
 * `startExample()` is the same start-up as a function; the example's test calls it with port 0
 * everywhere (the ports in envoy.yaml are then swapped for the ones the servers got).
 */
export { DEFAULT_PORTS };

export const EXAMPLE: ExampleSpec = {
  dir: import.meta.dirname,
  filter: 'json-body',
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
    '\nThe json-body example is running:\n' +
      '  curl -i localhost:10000/users/17                        # response rewritten\n' +
      "  curl -i localhost:10000/users -H 'content-type: application/json' \\\n" +
      '    -d \'{"userName":"bob","email":"bob@example.com","password_confirmation":"pw"}\'   # both rewritten\n' +
      "  curl -s 'localhost:9901/stats?filter=json_body'         # the filter's counters\n" +
      'Ctrl-C to stop.\n\n',
  );
}
