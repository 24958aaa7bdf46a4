// The slice of node-http-proxy's API the peer uses (the package ships no types, and the bench
// adds no @types package for one call).
declare module 'http-proxy' {
  import type { Agent, IncomingMessage, ServerResponse } from 'node:http';

  interface ServerOptions {
    target: string;
    agent?: Agent;
  }

  interface ProxyServer {
    web(req: IncomingMessage, res: ServerResponse, options: object, callback: (err: Error) => void): void;
  }

  const httpProxy: { createProxyServer(options: ServerOptions): ProxyServer };
  export default httpProxy;
}
