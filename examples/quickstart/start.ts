import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { startHelloUpstream } from './upstream.ts';
import { buildDevFilter, watchDevFilter } from './filter-dev.ts';
import { loadConfigFile, Sluice } from '../../runtime/index.ts';

/**
 * `npm start`: builds the quickstart wasm filter from source, starts the hello upstream on
 * 127.0.0.1:10001, then Sluice on the quickstart config (listener 127.0.0.1:10000, admin
 * 127.0.0.1:9901), and rebuilds the filter on every save (Sluice hot-swaps it). Ctrl-C drains
 * and exits.
 */
const here = dirname(fileURLToPath(import.meta.url));
await buildDevFilter();
const upstream = await startHelloUpstream(10001);
const config = loadConfigFile(join(here, 'envoy.yaml'));
const concurrency = Number(process.env.SLUICE_CONCURRENCY ?? 1);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await dev.close();
  await sluice.stop();
  upstream.close();
  process.exit(0);
};
const sluice = await Sluice.start({ config, concurrency, onQuit: () => void stop() });
const dev = watchDevFilter((line) => process.stdout.write(`quickstart ${line}\n`));
process.stdout.write(
  '\nSluice quickstart is running:\n' +
    '  curl -i localhost:10000/          # proxied to the hello upstream; x-greeting from the wasm filter\n' +
    '  edit examples/quickstart/filter/assembly/index.ts and save: rebuilt and swapped in about a second\n' +
    '  curl localhost:9901/stats         # Envoy-style stats\n' +
    '  curl localhost:9901/ready         # LIVE\n' +
    'Ctrl-C to stop.\n\n',
);
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
