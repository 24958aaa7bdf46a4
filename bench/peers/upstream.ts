import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { WORKLOADS, filler } from '../lib/workloads.ts';

// Fallback origin for when nginx is unavailable: the same paths and bodies as the nginx upstream.

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0) throw new Error(`--port must be a TCP port, got ${values.port}`);

const bodies = new Map(WORKLOADS.map((w) => [w.path, Buffer.from(filler(w.responseBodyBytes))]));

const server = createServer((req, res) => {
  const body = bodies.get(req.url ?? '');
  req.resume();
  req.on('end', () => {
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
  });
});
server.keepAliveTimeout = 300_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
