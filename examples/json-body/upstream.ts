import http from 'node:http';

/**
 * The json-body example's upstream, a tiny users API that answers pretty-printed JSON with two
 * fields no client should see (`password_hash`, `debug`) and its own name for the id
 * (`internal_id`):
 *   GET  /users/17  the stored user
 *   POST /users     a JSON user (`name`, `email`, …): answers 201 with the user it would create
 *                   and `fields_received`, the member names of the body it got (so the request
 *                   rewrite shows); 400 for a body that is not valid JSON, 415 for another type
 */
const STORED = { internal_id: 17, name: 'ann', email: 'ann@example.com', password_hash: '$2b$10$N9qo8uLOickgx2ZMRZoMye', debug: { db_ms: 3 } };

function send(res: http.ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function startUpstream(port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      if (req.method !== 'POST') return send(res, 200, STORED);
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return send(res, 415, { error: 'send application/json' });
      let user: Record<string, unknown>;
      try {
        user = JSON.parse(text) as Record<string, unknown>;
      } catch (err) {
        return send(res, 400, { error: `invalid JSON: ${(err as Error).message}` });
      }
      const meta = user.meta as { source?: unknown } | undefined;
      send(res, 201, {
        internal_id: 18,
        name: user.name ?? null,
        email: user.email ?? null,
        source: meta?.source ?? null,
        fields_received: Object.keys(user),
        password_hash: '$2b$10$e0MYzXyjpJS7Pd0RVvHwHe',
        debug: { db_ms: 4 },
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
