import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { TestContext } from 'node:test';

/** A real upstream HTTP server on 127.0.0.1:0, closed when the test ends. */
export async function startUpstream(
  t: TestContext,
  handler: http.RequestListener,
  opts: http.ServerOptions = {},
): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer({ keepAliveTimeout: 60_000, ...opts }, handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** An upstream that echoes what it received as JSON (method, url, headers, body length). */
export function echoHandler(extra?: (req: http.IncomingMessage, res: http.ServerResponse) => void): http.RequestListener {
  return (req, res) => {
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    req.on('end', () => {
      extra?.(req, res);
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyLength: size });
      if (!res.headersSent) res.setHeader('content-type', 'application/json');
      res.end(body);
    });
  };
}

/** An upstream that answers with the request body it received, unchanged. */
export function bodyEchoHandler(): http.RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(Buffer.concat(chunks)));
  };
}

/** A TCP port that nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Sends raw bytes on a fresh connection and resolves with everything received until close or `until` matches. */
export function rawRequest(port: number, data: string | Buffer, until?: RegExp, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`raw request timed out; got: ${JSON.stringify(got)}`));
    }, timeoutMs);
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (until && until.test(got)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(got);
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    sock.write(data);
  });
}

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
