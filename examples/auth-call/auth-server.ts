import http from 'node:http';

/**
 * The example's authorization service: the auth-call filter sends it every request's method, path
 * (under /check) and `authorization` header, and it answers by token:
 *
 * | `authorization`      | answer                                                                    |
 * | -------------------- | ------------------------------------------------------------------------- |
 * | `Bearer let-me-in`   | 200 with `x-user-id: demo-user` (the filter copies it to the request)     |
 * | `Bearer slow`        | 200 after 2 s, past the filter's 500 ms timeout: the filter fails closed  |
 * | anything else / none | 401 with `www-authenticate`, `x-auth-reason` and a short body             |
 */
export const SLOW_ANSWER_MS = 2000;

export function startAuthServer(port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    const token = req.headers.authorization;
    if (token === 'Bearer let-me-in') {
      res.writeHead(200, { 'x-user-id': 'demo-user' });
      res.end();
      return;
    }
    if (token === 'Bearer slow') {
      const timer = setTimeout(() => res.writeHead(200).end(), SLOW_ANSWER_MS);
      // The proxy gives up first and closes the connection; nothing is left pending.
      res.on('close', () => clearTimeout(timer));
      return;
    }
    const reason = token === undefined ? 'no token' : 'unknown token';
    res.writeHead(401, { 'www-authenticate': 'Bearer realm="sluice-example"', 'x-auth-reason': reason, 'content-type': 'text/plain' });
    res.end(`${reason}: send "authorization: Bearer let-me-in"\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
