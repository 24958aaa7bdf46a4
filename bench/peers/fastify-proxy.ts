import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';
import { peerArgs } from './peer-args.ts';

// Peer: fastify + @fastify/http-proxy (reply-from over an undici pool), single process.

const { port, upstream } = peerArgs();
const app = Fastify({ logger: false });
await app.register(httpProxy, {
  upstream,
  // reply-from's documented defaults, spelled out: a keep-alive pool of 128 connections.
  undici: { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 },
});
await app.listen({ host: '127.0.0.1', port });
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
