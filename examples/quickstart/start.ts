import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { startHelloUpstream } from './upstream.ts';
import { loadConfigFile, Sluice } from '../../runtime/index.ts';

/**
 * `npm start`: starts the hello upstream on 127.0.0.1:10001, then Sluice on the quickstart config
 * (listener 127.0.0.1:10000, admin 127.0.0.1:9901). Ctrl-C drains and exits.
 */
const here = dirname(fileURLToPath(import.meta.url));
const upstream = await startHelloUpstream(10001);
const config = loadConfigFile(join(here, 'envoy.yaml'));
const concurrency = Number(process.env.SLUICE_CONCURRENCY ?? 1);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await sluice.stop();
  upstream.close();
  process.exit(0);
};
const sluice = await Sluice.start({ config, concurrency, onQuit: () => void stop() });
process.stdout.write(
  '\nSluice quickstart is running:\n' +
    '  curl -i localhost:10000/          # proxied to the hello upstream\n' +
    '  curl localhost:9901/stats         # Envoy-style stats\n' +
    '  curl localhost:9901/ready         # LIVE\n' +
    'Ctrl-C to stop.\n\n',
);
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
