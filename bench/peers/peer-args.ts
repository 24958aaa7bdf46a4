import { parseArgs } from 'node:util';

/** `--port P --upstream http://127.0.0.1:U`, shared by the peer proxies. */
export function peerArgs(): { port: number; upstream: string } {
  const { values } = parseArgs({ options: { port: { type: 'string' }, upstream: { type: 'string' } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`--port must be a TCP port, got ${values.port}`);
  if (!values.upstream?.startsWith('http://127.0.0.1:')) {
    throw new Error(`--upstream must be http://127.0.0.1:<port>, got ${values.upstream}`);
  }
  return { port, upstream: values.upstream };
}
