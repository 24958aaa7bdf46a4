import http from 'node:http';

/**
 * The example's upstream: answers every request with JSON showing the path and the `x-user-id`
 * the auth-call filter added (and any value a client tried to send was replaced).
 */
export function startUpstream(port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ message: 'hello from the upstream', path: req.url, 'x-user-id': req.headers['x-user-id'] ?? null }, null, 2);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) + 1 });
      res.end(`${body}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
