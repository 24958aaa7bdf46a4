import http from 'node:http';

/**
 * The headers example's upstream: answers every request with JSON listing the request headers it
 * received (so the request rules show), and sends two headers of its own that the response rules
 * change: `x-powered-by` (removed) and `x-internal-id` (renamed to `x-backend-id`).
 */
export function startUpstream(port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).sort(([a], [b]) => a.localeCompare(b)));
      const body = JSON.stringify({ message: 'hello from the upstream', path: req.url, headers }, null, 2);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body) + 1,
        'x-powered-by': 'node',
        'x-internal-id': 'backend-7',
      });
      res.end(`${body}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
