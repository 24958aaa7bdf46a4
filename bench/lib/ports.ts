import { createServer } from 'node:net';

export const LOOPBACK = '127.0.0.1';

/**
 * A port on 127.0.0.1 that was free a moment ago: bind port 0, read what the kernel chose,
 * release it. Another process could take it before our child binds it; on this single-user
 * bench machine that race has not been worth more machinery.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`expected an IP socket address from listen(0), got ${String(address)}`));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
