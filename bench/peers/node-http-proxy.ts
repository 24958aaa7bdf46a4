import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';
import { peerArgs } from './peer-args.ts';

// Peer: node-http-proxy with a keep-alive agent, single process.

const { port, upstream } = peerArgs();
const agent = new Agent({ keepAlive: true, maxSockets: 128 });
const proxy = httpProxy.createProxyServer({ target: upstream, agent });

const server = createServer((req, res) => {
  proxy.web(req, res, {}, () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
});
server.keepAliveTimeout = 300_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
