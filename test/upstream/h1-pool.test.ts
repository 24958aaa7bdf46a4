import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { H1Pool, UpstreamErrorCode, type BodySink, type BodySource, type H1PoolOptions, type UpstreamController, type UpstreamRequestOptions } from '../../runtime/upstream/h1-pool.ts';
import { closedPort } from '../helpers/servers.ts';

// The upstream pool against real sockets: Node http servers where HTTP semantics are enough,
// raw TCP servers where the test needs exact bytes on the wire.

interface Outcome {
  status?: number;
  statusText?: string;
  headers?: string[];
  body: Buffer;
  trailers?: string[] | null;
  error?: Error & { code?: string };
  upgraded?: net.Socket;
  events: string[];
}

function pool(t: TestContext, port: number, extra: Partial<H1PoolOptions> = {}): H1Pool & { counts: { connect: number; disconnect: number; fail: number } } {
  const counts = { connect: 0, disconnect: 0, fail: 0 };
  const p = new H1Pool({
    address: '127.0.0.1',
    port,
    connections: 8,
    connectTimeoutMs: 5000,
    idleTimeoutMs: 60_000,
    maxHeaderSize: 16 * 1024,
    onConnect: () => counts.connect++,
    onDisconnect: () => counts.disconnect++,
    onConnectFail: () => counts.fail++,
    ...extra,
  });
  t.after(() => p.destroy());
  return Object.assign(p, { counts });
}

/** Dispatches and resolves once the handler has heard its last event. */
function send(
  p: H1Pool,
  opts: Partial<UpstreamRequestOptions> = {},
  hooks: { onStart?: (c: UpstreamController) => void; onData?: (c: UpstreamController, chunk: Buffer) => void; controller?: (c: UpstreamController) => void } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: Buffer.alloc(0), events: [] };
    const chunks: Buffer[] = [];
    const c = p.dispatch(
      { method: 'GET', path: '/', headers: [], body: null, ...opts },
      {
        onRequestStart() {
          out.events.push('start');
        },
        onRequestSent() {
          out.events.push('sent');
        },
        onResponseStart(controller, status, headers, statusText) {
          out.events.push('headers');
          out.status = status;
          out.statusText = statusText;
          out.headers = headers;
          hooks.onStart?.(controller);
        },
        onResponseData(controller, chunk) {
          chunks.push(chunk);
          hooks.onData?.(controller, chunk);
        },
        onResponseEnd(_c, trailers) {
          out.events.push('end');
          out.trailers = trailers;
          out.body = Buffer.concat(chunks);
          resolve(out);
        },
        onResponseError(_c, err) {
          out.events.push('error');
          out.error = err as Error & { code?: string };
          out.body = Buffer.concat(chunks);
          resolve(out);
        },
        onRequestUpgrade(_c, status, headers, socket) {
          out.events.push('upgrade');
          out.status = status;
          out.headers = headers;
          out.upgraded = socket;
          resolve(out);
        },
      },
    );
    hooks.controller?.(c);
  });
}

async function httpServer(t: TestContext, handler: http.RequestListener): Promise<{ port: number; server: http.Server; sockets: net.Socket[] }> {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, handler);
  const sockets: net.Socket[] = [];
  server.on('connection', (s: net.Socket) => sockets.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as net.AddressInfo).port, server, sockets };
}

/**
 * A TCP server that reads each request's head (and a content-length body) and answers with what
 * `respond` writes on the socket. `requests` collects the raw request heads.
 */
async function rawServer(
  t: TestContext,
  respond: (sock: net.Socket, head: string, index: number) => void,
): Promise<{ port: number; requests: string[]; connections: () => number; sockets: net.Socket[] }> {
  const requests: string[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((sock) => {
    sockets.push(sock);
    let buf = Buffer.alloc(0);
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const m = /\r\ncontent-length: *(\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) return;
        buf = buf.subarray(end + 4 + len);
        requests.push(head);
        respond(sock, head, requests.length - 1);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as net.AddressInfo).port, requests, connections: () => sockets.length, sockets };
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

test('sequential requests share one keep-alive connection; the request line and headers go out in order with host added', async (t) => {
  const up = await rawServer(t, (s) => s.write(OK));
  const p = pool(t, up.port);
  for (let i = 0; i < 3; i++) {
    const r = await send(p, { path: `/p${i}?q=1`, headers: ['X-One', 'a', 'x-two', 'b', 'X-One', 'c'] });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'ok');
    assert.deepEqual(r.events, ['start', 'sent', 'headers', 'end']);
  }
  assert.equal(up.connections(), 1);
  assert.equal(p.counts.connect, 1);
  assert.equal(up.requests[2], `GET /p2?q=1 HTTP/1.1\r\nhost: 127.0.0.1:${up.port}\r\nX-One: a\r\nx-two: b\r\nX-One: c`);
  const r = await send(p, { headers: ['Host', 'example.com'] });
  assert.equal(r.status, 200);
  assert.equal(up.requests[3], 'GET / HTTP/1.1\r\nHost: example.com');
});

test('response headers arrive flat in wire order, repeated names kept, with the status text', async (t) => {
  const up = await rawServer(t, (s) => s.write('HTTP/1.1 201 Made It\r\nSet-Cookie: a=1\r\nX-Y: z\r\nset-cookie: b=2\r\ncontent-length: 0\r\n\r\n'));
  const p = pool(t, up.port);
  const r = await send(p);
  assert.equal(r.status, 201);
  assert.equal(r.statusText, 'Made It');
  assert.deepEqual(r.headers, ['Set-Cookie', 'a=1', 'X-Y', 'z', 'set-cookie', 'b=2', 'content-length', '0']);
});

test('a header block longer than the parser flushes at once (over 32 fields) arrives whole', async (t) => {
  let block = '';
  for (let i = 0; i < 100; i++) block += `x-h${i}: v${i}\r\n`;
  const up = await rawServer(t, (s) => s.write(`HTTP/1.1 200 OK\r\n${block}content-length: 0\r\n\r\n`));
  const p = pool(t, up.port);
  const r = await send(p);
  assert.equal(r.headers?.length, 202);
  assert.equal(r.headers?.[198], 'x-h99');
  assert.equal(r.headers?.[199], 'v99');
});

test('requests beyond `connections` wait and are served in dispatch order as connections free up', async (t) => {
  const held: Array<() => void> = [];
  let concurrent = 0;
  let most = 0;
  const up = await httpServer(t, (req, res) => {
    concurrent++;
    most = Math.max(most, concurrent);
    held.push(() => {
      concurrent--;
      res.end(req.url);
    });
  });
  const p = pool(t, up.port, { connections: 2 });
  const order: string[] = [];
  const all = [0, 1, 2, 3, 4].map((i) => send(p, { path: `/${i}` }).then((r) => order.push(r.body.toString())));
  while (held.length < 2) await new Promise((r) => setImmediate(r));
  assert.equal(p.stats.queued, 3);
  // Release one at a time: each frees a connection for the next waiting request.
  for (let released = 0; released < 5; released++) {
    while (held.length <= released) await new Promise((r) => setImmediate(r));
    held[released]();
  }
  await Promise.all(all);
  assert.deepEqual(order, ['/0', '/1', '/2', '/3', '/4']);
  assert.equal(most, 2);
  assert.equal(up.sockets.length, 2);
});

test('bodies: none (content-length 0 for POST), a buffer, a stream with content-length, a chunked stream', async (t) => {
  const seen: Array<{ method: string; te?: string; cl?: string; body: string }> = [];
  const up = await httpServer(t, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      seen.push({ method: req.method as string, te: req.headers['transfer-encoding'], cl: req.headers['content-length'], body: Buffer.concat(parts).toString() });
      res.end('done');
    });
  });
  const p = pool(t, up.port);
  assert.equal((await send(p, { method: 'POST' })).status, 200);
  assert.equal((await send(p, { method: 'GET' })).status, 200);
  assert.equal((await send(p, { method: 'PUT', body: Buffer.from('hello') })).status, 200);
  assert.equal((await send(p, { method: 'POST', headers: ['content-length', '6'], body: Readable.from([Buffer.from('abc'), Buffer.from('def')]) })).status, 200);
  const r = await send(p, { method: 'POST', body: Readable.from([Buffer.from('chunk-1,'), Buffer.from('chunk-2')]) });
  assert.equal(r.status, 200);
  assert.deepEqual(r.events, ['start', 'sent', 'headers', 'end']);
  assert.deepEqual(seen, [
    { method: 'POST', te: undefined, cl: '0', body: '' },
    { method: 'GET', te: undefined, cl: undefined, body: '' },
    { method: 'PUT', te: undefined, cl: '5', body: 'hello' },
    { method: 'POST', te: undefined, cl: '6', body: 'abcdef' },
    { method: 'POST', te: 'chunked', cl: undefined, body: 'chunk-1,chunk-2' },
  ]);
  assert.equal(up.sockets.length, 1);
});

/**
 * A body its owner pushes (what the downstream codec's exchange is to the pool): chunks pushed
 * before the pool attaches are held and delivered at attach; it records the pool's calls.
 */
class PushedBody implements BodySource {
  sink: BodySink | undefined;
  held: Buffer[] = [];
  ended = false;
  paused = false;
  readonly calls: string[] = [];
  #onResume: (() => void) | undefined;

  attachBody(sink: BodySink): void {
    this.calls.push('attach');
    this.sink = sink;
    for (const c of this.held.splice(0)) sink.onBodyData(c);
    if (this.ended) sink.onBodyEnd();
  }
  detachBody(): void {
    this.calls.push('detach');
    this.sink = undefined;
  }
  pauseBody(): void {
    if (!this.paused) this.calls.push('pause');
    this.paused = true;
  }
  resumeBody(): void {
    if (this.paused) this.calls.push('resume');
    this.paused = false;
    this.#onResume?.();
  }
  push(chunk: Buffer): void {
    if (this.sink) this.sink.onBodyData(chunk);
    else this.held.push(chunk);
  }
  end(): void {
    this.ended = true;
    this.sink?.onBodyEnd();
  }
  /** Pushes `total` bytes of `fill` in `size` chunks, waiting while the pool has it paused. */
  pump(total: number, size: number, fill: number): void {
    let sent = 0;
    const step = (): void => {
      while (sent < total && !this.paused) {
        const n = Math.min(size, total - sent);
        sent += n;
        this.push(Buffer.alloc(n, fill));
      }
      if (sent >= total) {
        this.#onResume = undefined;
        this.end();
      }
    };
    this.#onResume = () => setImmediate(step);
    step();
  }
}

test('a pushed body (BodySource): chunks held before the request is written go first, framed by content-length or chunked', async (t) => {
  const seen: Array<{ te?: string; cl?: string; body: string }> = [];
  const up = await httpServer(t, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      seen.push({ te: req.headers['transfer-encoding'], cl: req.headers['content-length'], body: Buffer.concat(parts).toString() });
      res.end('done');
    });
  });
  const p = pool(t, up.port);
  for (const headers of [['content-length', '9'], []]) {
    const body = new PushedBody();
    body.push(Buffer.from('abc'));
    body.push(Buffer.from('def'));
    const done = send(p, { method: 'POST', headers, body });
    // The pool attaches when it writes the request; the rest of the body comes later.
    setTimeout(() => {
      body.push(Buffer.from('ghi'));
      body.end();
    }, 20);
    const r = await done;
    assert.equal(r.status, 200);
    assert.deepEqual(r.events, ['start', 'sent', 'headers', 'end']);
    assert.equal(body.calls[0], 'attach');
  }
  assert.deepEqual(seen, [
    { te: undefined, cl: '9', body: 'abcdefghi' },
    { te: 'chunked', cl: undefined, body: 'abcdefghi' },
  ]);
  assert.equal(up.sockets.length, 1);
});

test('a pushed body is paused while the upstream does not read and resumed when it drains; every byte arrives', async (t) => {
  const TOTAL = 8 * 1024 * 1024;
  let received = 0;
  let bad = 0;
  const up = await httpServer(t, (req, res) => {
    // Read in bursts with pauses, so the pool's socket fills up.
    req.on('data', (d: Buffer) => {
      received += d.length;
      for (const b of d) if (b !== 7) bad++;
      req.pause();
      setTimeout(() => req.resume(), 5);
    });
    req.on('end', () => res.end(String(received)));
  });
  const p = pool(t, up.port);
  // An idle connection first, so the pool attaches at dispatch and sees every chunk as it is pushed.
  assert.equal((await send(p)).status, 200);
  const body = new PushedBody();
  const done = send(p, { method: 'PUT', headers: ['content-length', String(TOTAL)], body });
  assert.equal(body.calls[0], 'attach');
  body.pump(TOTAL, 64 * 1024, 7);
  const r = await done;
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), String(TOTAL));
  assert.equal(bad, 0);
  assert.ok(body.calls.includes('pause'), body.calls.join(','));
  assert.ok(body.calls.includes('resume'), body.calls.join(','));
});

test('a pushed body aborted before its end fails the request and its connection is not reused', async (t) => {
  const up = await httpServer(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end('x'));
  });
  const p = pool(t, up.port);
  const body = new PushedBody();
  const done = send(p, { method: 'POST', headers: ['content-length', '10'], body });
  body.push(Buffer.from('abc'));
  await new Promise((r) => setTimeout(r, 20));
  body.sink?.onBodyAbort();
  const r = await done;
  assert.equal(r.error?.code, UpstreamErrorCode.BodyLength);
  assert.ok(body.calls.includes('detach'));
  assert.equal((await send(p, { method: 'POST', body: Buffer.from('ok') })).status, 200);
  assert.equal(up.sockets.length, 2);
});

test('a request body that disagrees with its content-length fails the request and never reuses the connection', async (t) => {
  const up = await httpServer(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end('x'));
  });
  const p = pool(t, up.port);
  const long = await send(p, { method: 'POST', headers: ['content-length', '2'], body: Readable.from([Buffer.from('abc')]) });
  assert.equal(long.error?.code, UpstreamErrorCode.BodyLength);
  const short = await send(p, { method: 'POST', headers: ['content-length', '9'], body: Readable.from([Buffer.from('abc')]) });
  assert.equal(short.error?.code, UpstreamErrorCode.BodyLength);
  const buffer = await send(p, { method: 'POST', headers: ['content-length', '9'], body: Buffer.from('abc') });
  assert.equal(buffer.error?.code, UpstreamErrorCode.BodyLength);
  assert.equal((await send(p, { method: 'POST', body: Buffer.from('ok') })).status, 200);
});

test('request lines and headers that HTTP/1.1 cannot carry fail before anything is sent', async (t) => {
  const up = await rawServer(t, (s) => s.write(OK));
  const p = pool(t, up.port);
  const cases: Array<Partial<UpstreamRequestOptions>> = [
    { headers: ['x-evil', 'a\r\nx-injected: 1'] },
    { headers: ['bad name', 'v'] },
    { headers: ['x-nul', 'a\0b'] },
    { path: '/a b' },
    { path: '/a\r\nb' },
    { method: 'G T' },
  ];
  for (const c of cases) {
    const r = await send(p, c);
    assert.equal(r.error?.code, UpstreamErrorCode.BadRequest, JSON.stringify(c));
    assert.deepEqual(r.events, ['error']);
  }
  assert.equal(up.connections(), 0);
});

test('a chunked response streams its body and hands over its trailers', async (t) => {
  const up = await rawServer(t, (s) =>
    s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc\r\nX-Other: 1\r\n\r\n'),
  );
  const p = pool(t, up.port);
  const r = await send(p);
  assert.equal(r.body.toString(), 'hello world');
  assert.deepEqual(r.trailers, ['x-checksum', 'abc', 'X-Other', '1']);
  const again = await send(p);
  assert.equal(again.body.toString(), 'hello world');
  assert.equal(up.connections(), 1);
  const plain = await rawServer(t, (s) => s.write(OK));
  assert.equal((await send(pool(t, plain.port))).trailers, null);
});

test('a content-length body split over many reads arrives whole, and the connection carries the next response', async (t) => {
  const up = await rawServer(t, (s, _h, i) => {
    const body = `body-${i}-`.repeat(50);
    const parts = [`HTTP/1.1 200 OK\r\ncontent-le`, `ngth: ${body.length}\r\n\r\n`, body.slice(0, 7), body.slice(7, 300), body.slice(300)];
    const next = () => {
      const part = parts.shift();
      if (part === undefined) return;
      s.write(part);
      // A separate TCP segment each: wait for the client to have read it.
      setTimeout(next, 5);
    };
    next();
  });
  const p = pool(t, up.port);
  for (let i = 0; i < 3; i++) {
    const r = await send(p);
    assert.equal(r.body.toString(), `body-${i}-`.repeat(50));
    assert.deepEqual(r.events, ['start', 'sent', 'headers', 'end']);
  }
  assert.equal(up.connections(), 1);
});

test('a body delimited by the connection end completes at EOF and the connection is not reused', async (t) => {
  const up = await rawServer(t, (s) => s.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end'));
  const p = pool(t, up.port);
  const r = await send(p);
  assert.equal(r.body.toString(), 'until the end');
  assert.deepEqual(r.events, ['start', 'sent', 'headers', 'end']);
  assert.equal((await send(p)).body.toString(), 'until the end');
  assert.equal(up.connections(), 2);
});

test('HEAD answers, 204 and 304 carry no body and keep the connection', async (t) => {
  const up = await rawServer(t, (s, head) => {
    if (head.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n');
    else if (head.includes('/204')) s.write('HTTP/1.1 204 No Content\r\n\r\n');
    else s.write('HTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\n');
  });
  const p = pool(t, up.port);
  const h = await send(p, { method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.equal(h.body.length, 0);
  assert.equal((await send(p, { path: '/204' })).status, 204);
  assert.equal((await send(p, { path: '/304' })).status, 304);
  assert.equal(up.connections(), 1);
});

test('1xx interim responses are skipped; the final response is delivered', async (t) => {
  const up = await rawServer(t, (s) =>
    s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nx-final: 1\r\ncontent-length: 2\r\n\r\nok'),
  );
  const p = pool(t, up.port);
  const r = await send(p);
  assert.equal(r.status, 200);
  assert.deepEqual(r.headers, ['x-final', '1', 'content-length', '2']);
  assert.equal(r.body.toString(), 'ok');
  assert.equal((await send(p)).status, 200);
  assert.equal(up.connections(), 1);
});

test('responses that are not HTTP/1.1 fail with the parser reason; oversized header blocks too', async (t) => {
  const junk = await rawServer(t, (s) => s.write('SSH-2.0-OpenSSH\r\n\r\n'));
  const bad = await send(pool(t, junk.port));
  assert.equal(bad.error?.code, UpstreamErrorCode.BadResponse);
  assert.match(bad.error?.message ?? '', /HPE_/);
  const big = await rawServer(t, (s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(20_000)}\r\ncontent-length: 0\r\n\r\n`));
  const over = await send(pool(t, big.port));
  assert.equal(over.error?.code, UpstreamErrorCode.BadResponse);
  assert.match(over.error?.message ?? '', /HPE_HEADER_OVERFLOW/);
});

test('bytes after a complete response close that connection; the next request gets a fresh one', async (t) => {
  const up = await rawServer(t, (s, _h, i) => s.write(i === 0 ? `${OK}HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nextra` : OK));
  const p = pool(t, up.port);
  assert.equal((await send(p)).body.toString(), 'ok');
  const second = await send(p);
  assert.equal(second.body.toString(), 'ok');
  assert.equal(up.connections(), 2);
});

test('an upstream that closes mid-body fails the request once, without an end', async (t) => {
  const up = await rawServer(t, (s) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
    setImmediate(() => s.end());
  });
  const p = pool(t, up.port);
  const r = await send(p);
  assert.deepEqual(r.events, ['start', 'sent', 'headers', 'error']);
  assert.equal(r.body.toString(), 'partial');
  assert.ok(r.error?.code === UpstreamErrorCode.BadResponse || r.error?.code === UpstreamErrorCode.Closed, r.error?.message);
  const reset = await rawServer(t, (s) => s.resetAndDestroy());
  const rr = await send(pool(t, reset.port));
  assert.deepEqual(rr.events, ['start', 'sent', 'error']);
  assert.ok(rr.error?.code === 'ECONNRESET' || rr.error?.code === UpstreamErrorCode.Closed, rr.error?.message);
});

test('a refused connection fails its request with ECONNREFUSED and reports the connect failure', async (t) => {
  const p = pool(t, await closedPort());
  const rs = await Promise.all([send(p), send(p), send(p)]);
  for (const r of rs) {
    assert.equal(r.error?.code, 'ECONNREFUSED');
    assert.deepEqual(r.events, ['error']);
  }
  assert.equal(p.counts.fail, 3);
  assert.equal(p.counts.connect, 0);
  assert.equal(p.stats.connecting, 0);
});

test('abort mid-response closes the connection and ends the request with the reason; abort while queued sends nothing', async (t) => {
  const up = await httpServer(t, (req, res) => {
    if (req.url === '/slow') {
      res.write('first');
      return;
    }
    res.end('fine');
  });
  const p = pool(t, up.port, { connections: 1 });
  let queued: UpstreamController | undefined;
  const slow = send(p, { path: '/slow' }, { onData: (c) => c.abort(new Error('enough')) });
  const waiting = send(p, { path: '/never' }, { controller: (c) => (queued = c) });
  (queued as UpstreamController).abort(new Error('not needed'));
  const w = await waiting;
  assert.deepEqual(w.events, ['error']);
  assert.equal(w.error?.message, 'not needed');
  const s = await slow;
  assert.deepEqual(s.events, ['start', 'sent', 'headers', 'error']);
  assert.equal(s.error?.message, 'enough');
  const next = await send(p, { path: '/after' });
  assert.equal(next.body.toString(), 'fine');
  assert.equal(up.sockets.length, 2);
});

test('pause holds the response until resume: the upstream stays blocked, and every byte arrives after resume', async (t) => {
  const total = 64 * 1024 * 1024;
  let blocked = false;
  let drains = 0;
  const up = await httpServer(t, (_req, res) => {
    res.setHeader('content-length', total);
    const chunk = Buffer.alloc(256 * 1024, 7);
    let sent = 0;
    const pump = () => {
      blocked = false;
      drains++;
      while (sent < total) {
        sent += chunk.length;
        const more = res.write(chunk);
        if (sent >= total) {
          res.end();
          return;
        }
        if (!more) {
          blocked = true;
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  const p = pool(t, up.port);
  let controller: UpstreamController | undefined;
  let received = 0;
  const r = send(p, {}, {
    onStart: (c) => {
      controller = c;
      c.pause();
    },
    onData: (_c, chunk) => (received += chunk.length),
  });
  // Paused, nothing reads the socket: once the kernel buffers are full the upstream stays blocked.
  // (Were pause ignored, the upstream would keep draining and this wait would run out.)
  const deadline = Date.now() + 20_000;
  let still = 0;
  while (still < 20) {
    assert.ok(Date.now() < deadline, `the upstream never stayed blocked (received ${received} of ${total})`);
    const before = drains;
    await new Promise((res) => setTimeout(res, 10));
    still = blocked && drains === before ? still + 1 : 0;
  }
  assert.equal(controller?.paused, true);
  assert.ok(received < total);
  controller?.resume();
  const out = await r;
  assert.equal(out.body.length, total);
  assert.equal(received, total);
  assert.equal(up.sockets.length, 1);
});

test('maxRequestsPerConnection closes a connection after that many requests', async (t) => {
  const up = await rawServer(t, (s) => s.write(OK));
  const p = pool(t, up.port, { maxRequestsPerConnection: 2 });
  for (let i = 0; i < 5; i++) assert.equal((await send(p)).status, 200);
  assert.equal(up.connections(), 3);
});

test('connection: close and HTTP/1.0 responses are not reused', async (t) => {
  const up = await rawServer(t, (s, _h, i) =>
    s.write(i % 2 === 0 ? 'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok' : 'HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok'),
  );
  const p = pool(t, up.port);
  for (let i = 0; i < 4; i++) assert.equal((await send(p)).body.toString(), 'ok');
  assert.equal(up.connections(), 4);
});

test('idle connections close after the idle timeout, sooner when Keep-Alive: timeout says so', async (t) => {
  const up = await rawServer(t, (s, head) =>
    s.write(head.includes('/hint') ? 'HTTP/1.1 200 OK\r\nkeep-alive: timeout=1\r\ncontent-length: 2\r\n\r\nok' : OK),
  );
  const p = pool(t, up.port, { idleTimeoutMs: 300 });
  await send(p);
  await once(up.sockets[0], 'close');
  while (p.counts.disconnect < 1) await new Promise((r) => setTimeout(r, 5));
  assert.equal(p.stats.connections, 0);
  const q = pool(t, up.port, { idleTimeoutMs: 60_000 });
  await send(q, { path: '/hint' });
  // timeout=1 leaves no idle time (one second is kept as margin): closed at the next sweep.
  await once(up.sockets[1], 'close');
  while (q.stats.connections > 0) await new Promise((r) => setTimeout(r, 5));
  assert.equal(q.counts.disconnect, 1);
});

test('an idle connection the upstream closes is dropped; the next request opens another', async (t) => {
  const up = await rawServer(t, (s) => s.write(OK));
  const p = pool(t, up.port);
  await send(p);
  up.sockets[0].end();
  while (p.stats.connections > 0) await new Promise((r) => setTimeout(r, 5));
  assert.equal(p.stats.idle, 0);
  assert.equal((await send(p)).status, 200);
  assert.equal(up.connections(), 2);
});

test('an upgrade hands the socket over with the bytes sent after the 101, and leaves the pool', async (t) => {
  const up = await rawServer(t, (s, head) => {
    if (!/\r\nupgrade: websocket/i.test(head) || !/\r\nconnection: upgrade/i.test(head)) {
      s.write('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    s.removeAllListeners('data');
    s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\nhello-from-upstream');
    s.on('data', (d) => s.write(`echo:${d}`));
  });
  const p = pool(t, up.port);
  const r = await send(p, { upgrade: 'websocket' });
  assert.equal(r.status, 101);
  assert.deepEqual(r.headers, ['upgrade', 'websocket', 'connection', 'Upgrade']);
  const sock = r.upgraded as net.Socket;
  t.after(() => sock.destroy());
  let got = '';
  sock.on('data', (d) => (got += d));
  while (!got.includes('hello-from-upstream')) await once(sock, 'data');
  sock.write('ping');
  while (!got.includes('echo:ping')) await once(sock, 'data');
  assert.equal(p.stats.connections, 0);
  assert.equal(p.counts.disconnect, 1);
});

test('a 101 nobody asked for is a bad response', async (t) => {
  const up = await rawServer(t, (s) => s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n'));
  const r = await send(pool(t, up.port));
  assert.equal(r.error?.code, UpstreamErrorCode.BadResponse);
});

test('close() waits for the request in flight; destroy() fails what is in flight and waiting', async (t) => {
  const held: http.ServerResponse[] = [];
  const up = await httpServer(t, (_req, res) => held.push(res));
  const p = pool(t, up.port, { connections: 1 });
  const first = send(p);
  while (held.length < 1) await new Promise((r) => setImmediate(r));
  const queued = send(p);
  let closed = false;
  const closing = p.close().then(() => (closed = true));
  const refused = await send(p);
  assert.equal(refused.error?.code, UpstreamErrorCode.PoolClosed);
  assert.equal(closed, false);
  held[0].end('bye');
  assert.equal((await first).body.toString(), 'bye');
  // The request that was already waiting is still served, on the same connection.
  while (held.length < 2) await new Promise((r) => setImmediate(r));
  assert.equal(closed, false);
  held[1].end('last');
  assert.equal((await queued).body.toString(), 'last');
  await closing;
  assert.equal(p.stats.connections, 0);
  assert.equal(up.sockets.length, 1);
  held.length = 0;

  const q = pool(t, up.port, { connections: 1 });
  const a = send(q);
  const b = send(q);
  while (held.length < 1) await new Promise((r) => setImmediate(r));
  await q.destroy();
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(ra.events.at(-1), 'error');
  assert.equal(rb.error?.code, UpstreamErrorCode.PoolClosed);
});
