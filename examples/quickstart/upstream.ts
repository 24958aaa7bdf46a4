import http from 'node:http';

/**
 * The quickstart's upstream: answers every request with a short greeting that echoes what the
 * proxy sent (method, path, and the headers Sluice adds), so `curl localhost:10000/` shows the
 * whole path.
 */
export function startHelloUpstream(port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify(
        {
          message: 'hello from the quickstart upstream',
          method: req.method,
          path: req.url,
          'x-request-id': req.headers['x-request-id'],
          'x-forwarded-proto': req.headers['x-forwarded-proto'],
          'x-envoy-expected-rq-timeout-ms': req.headers['x-envoy-expected-rq-timeout-ms'],
        },
        null,
        2,
      );
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) + 1 });
      res.end(`${body}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
