import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import {
  DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
  GrpcClientPool,
  GrpcMessageDecoder,
  formatGrpcTimeout,
  httpStatusToGrpc,
  percentDecode,
  validateGrpcRequest,
  type GrpcCallbacks,
  type GrpcClientPoolOptions,
  type GrpcMetadata,
  type GrpcRequest,
} from '../../runtime/wasm/grpc-client.ts';
import { GRPC_RESPONSE_HEADERS, grpcFrame, grpcMessages } from '../helpers/grpc-frames.ts';
import { closedPort } from '../helpers/servers.ts';
import { prng } from '../helpers/prng.ts';

const TIMEOUT = { timeout: 15_000 };
const enc = new TextEncoder();
const dec = new TextDecoder();

// --- a tiny gRPC echo server: node:http2 and hand-written framing, no gRPC library -------------


interface Echo {
  port: number;
  /** Request headers (object and raw list) of every stream, in arrival order. */
  requests: Array<{ headers: http2.IncomingHttpHeaders; raw: string[] }>;
  /** Resolves with the server stream's rstCode when a stream on `path` closes. */
  closed(path: string): Promise<number>;
  sessions: Set<http2.ServerHttp2Session>;
  sessionCount(): number;
}

function readBody(stream: http2.ServerHttp2Stream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => stream.on('end', () => resolve(Buffer.concat(chunks))));
}

async function replyWithTrailers(
  stream: http2.ServerHttp2Stream,
  headers: http2.OutgoingHttpHeaders,
  chunks: Buffer[],
  trailers: http2.OutgoingHttpHeaders,
): Promise<void> {
  stream.respond(headers, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers(trailers));
  for (const c of chunks) {
    // One write at a time, so chunks leave as separate DATA frames.
    await new Promise<void>((resolve) => stream.write(c, () => resolve()));
  }
  stream.end();
}

const SPLIT_MESSAGES = ['one', 'two', 'three', '', 'x'.repeat(300)];

async function handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
  const path = headers[':path'];
  switch (path) {
    case '/test.Echo/Unary': {
      const body = await readBody(stream);
      const echoed: http2.OutgoingHttpHeaders = { ...GRPC_RESPONSE_HEADERS, 'x-echo-tenant': headers['x-tenant'] ?? '' };
      if (headers['x-trace-bin'] !== undefined) echoed['x-trace-bin'] = headers['x-trace-bin'];
      await replyWithTrailers(stream, echoed, [grpcFrame(Buffer.concat(grpcMessages(body).map((m) => Buffer.from(m))))], {
        'grpc-status': '0',
        'x-trailer': 'done',
      });
      return;
    }
    case '/test.Echo/Fail':
      await readBody(stream);
      await replyWithTrailers(stream, GRPC_RESPONSE_HEADERS, [], { 'grpc-status': '9', 'grpc-message': 'bad%20thing%3A%20%C3%BC%25' });
      return;
    case '/test.Echo/TrailersOnly':
      stream.respond({ ...GRPC_RESPONSE_HEADERS, 'grpc-status': '5', 'grpc-message': 'no%20such%20thing' }, { endStream: true });
      return;
    case '/test.Echo/Hang':
      return;
    case '/test.Echo/ServerStream': {
      const all = Buffer.concat(SPLIT_MESSAGES.map(grpcFrame));
      // A prefix split in two, several messages in one chunk, a message split across chunks.
      const cuts = [0, 2, 6, 30, 100, all.length];
      const chunks = cuts.slice(1).map((end, i) => all.subarray(cuts[i], end));
      await replyWithTrailers(stream, GRPC_RESPONSE_HEADERS, chunks, { 'grpc-status': '0' });
      return;
    }
    case '/test.Echo/Collect': {
      const messages = grpcMessages(await readBody(stream));
      const trailers = { 'grpc-status': '0', 'x-count': String(messages.length) };
      await replyWithTrailers(stream, GRPC_RESPONSE_HEADERS, [grpcFrame(messages.join(','))], trailers);
      return;
    }
    case '/test.Echo/Ticker':
      stream.respond(GRPC_RESPONSE_HEADERS);
      stream.write(Buffer.concat([grpcFrame('tick-1'), grpcFrame('tick-2')]));
      stream.write(grpcFrame('tick-3'));
      return;
    case '/test.Echo/Big':
      await readBody(stream);
      await replyWithTrailers(stream, GRPC_RESPONSE_HEADERS, [grpcFrame(Buffer.alloc(2048, 1))], { 'grpc-status': '0' });
      return;
    case '/test.Echo/TwoReplies':
      await readBody(stream);
      await replyWithTrailers(stream, GRPC_RESPONSE_HEADERS, [grpcFrame('a'), grpcFrame('b')], { 'grpc-status': '0' });
      return;
    case '/test.Echo/NoReply':
      await readBody(stream);
      await replyWithTrailers(stream, GRPC_RESPONSE_HEADERS, [], { 'grpc-status': '0' });
      return;
    case '/test.Echo/Overloaded':
      stream.respond({ ':status': 503, 'content-type': 'text/plain' });
      stream.end('upstream overloaded');
      return;
    case '/test.Echo/Html':
      stream.respond({ ':status': 200, 'content-type': 'text/html' });
      stream.end('<html>');
      return;
    case '/test.Echo/Refuse':
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    case '/test.Echo/BadStatus':
      stream.respond({ ...GRPC_RESPONSE_HEADERS, 'grpc-status': '17' }, { endStream: true });
      return;
    case '/test.Echo/NoTrailers':
      await readBody(stream);
      stream.respond(GRPC_RESPONSE_HEADERS);
      stream.end(grpcFrame('x'));
      return;
    case '/test.Echo/Truncated':
      await readBody(stream);
      await replyWithTrailers(stream, GRPC_RESPONSE_HEADERS, [grpcFrame('abcdef').subarray(0, 7)], { 'grpc-status': '0' });
      return;
    case '/test.Echo/ResetCancel':
      stream.close(http2.constants.NGHTTP2_CANCEL);
      return;
    case '/test.Echo/Drop':
      stream.session?.destroy();
      return;
    default:
      stream.respond({ ':status': 404 }, { endStream: true });
  }
}

async function startEcho(t: TestContext): Promise<Echo> {
  const requests: Echo['requests'] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  let sessionCount = 0;
  const waiters = new Map<string, Array<(code: number) => void>>();
  const server = http2.createServer();
  server.on('session', (s) => {
    sessions.add(s);
    sessionCount++;
    s.on('close', () => sessions.delete(s));
    s.on('error', () => {});
  });
  server.on('stream', (stream, headers, _flags, raw) => {
    requests.push({ headers, raw });
    stream.on('error', () => {});
    const path = String(headers[':path']);
    stream.on('close', () => {
      for (const w of waiters.get(path) ?? []) w(stream.rstCode);
      waiters.delete(path);
    });
    handle(stream, headers).catch(() => stream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    sessions,
    sessionCount: () => sessionCount,
    closed: (path) =>
      new Promise((resolve) => {
        const list = waiters.get(path) ?? [];
        list.push(resolve);
        waiters.set(path, list);
      }),
  };
}

// --- client side helpers ------------------------------------------------------------------------

type Event =
  | ['initial', GrpcMetadata]
  | ['message', string]
  | ['trailing', GrpcMetadata]
  | ['close', number, string];

interface Recorder {
  events: Event[];
  cb: GrpcCallbacks;
  closed: Promise<{ status: number; message: string }>;
  /** Set while the caller is inside unary()/stream()/send(): callbacks must never see it true. */
  inCall: { value: boolean };
}

function recorder(hooks: Partial<GrpcCallbacks> = {}): Recorder {
  const events: Event[] = [];
  const inCall = { value: false };
  let resolve!: (v: { status: number; message: string }) => void;
  const closed = new Promise<{ status: number; message: string }>((r) => (resolve = r));
  const check = (): void => assert.equal(inCall.value, false, 'callback ran synchronously inside the call');
  return {
    events,
    inCall,
    closed,
    cb: {
      onInitialMetadata(md) {
        check();
        events.push(['initial', md]);
        hooks.onInitialMetadata?.(md);
      },
      onMessage(m) {
        check();
        events.push(['message', dec.decode(m)]);
        hooks.onMessage?.(m);
      },
      onTrailingMetadata(md) {
        check();
        events.push(['trailing', md]);
        hooks.onTrailingMetadata?.(md);
      },
      onClose(status, message) {
        check();
        events.push(['close', status, message]);
        hooks.onClose?.(status, message);
        resolve({ status, message });
      },
    },
  };
}

function poolFor(t: TestContext, opts?: GrpcClientPoolOptions): GrpcClientPool {
  const pool = new GrpcClientPool(opts);
  t.after(() => pool.close());
  return pool;
}

function target(port: number, authority = 'echo.internal'): GrpcRequest['target'] {
  return { authority, pickHost: () => ({ address: '127.0.0.1', port }) };
}

function req(port: number, method: string, extra: Partial<GrpcRequest> = {}): GrpcRequest {
  return { target: target(port), service: 'test.Echo', method, ...extra };
}

function unary(pool: GrpcClientPool, r: GrpcRequest, message: string, rec = recorder()): Recorder {
  rec.inCall.value = true;
  pool.unary(r, enc.encode(message), rec.cb);
  rec.inCall.value = false;
  return rec;
}

const kinds = (events: Event[]): string[] => events.map((e) => e[0]);
const get = (md: GrpcMetadata, key: string): string | Uint8Array | undefined => md.find(([k]) => k === key)?.[1];

/** A full unary round trip on the same host: frames for earlier streams on that connection were handled before it ends. */
async function roundTrip(pool: GrpcClientPool, port: number): Promise<void> {
  const { status } = await unary(pool, req(port, 'Unary'), 'sync').closed;
  assert.equal(status, 0);
}

// --- tests ---------------------------------------------------------------------------------------

describe('GrpcClientPool unary calls', TIMEOUT, () => {
  test('round-trips message bytes and metadata, with the gRPC request headers', async (t) => {
    const echo = await startEcho(t);
    const pool = poolFor(t);
    const rec = unary(
      pool,
      req(echo.port, 'Unary', {
        initialMetadata: [
          ['X-Tenant', 'acme'],
          ['x-trace-bin', new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x00])],
          [':path', '/evil/Override'],
          ['content-type', 'text/plain'],
        ],
        timeoutMs: 30_000,
      }),
      'hello \u00fc',
    );
    assert.deepEqual(await rec.closed, { status: 0, message: '' });
    assert.deepEqual(kinds(rec.events), ['initial', 'message', 'trailing', 'close']);
    assert.deepEqual(rec.events[1], ['message', 'hello \u00fc']);

    const initial = rec.events[0][1] as GrpcMetadata;
    assert.equal(get(initial, ':status'), '200');
    assert.equal(get(initial, 'x-echo-tenant'), 'acme');
    assert.deepEqual(get(initial, 'x-trace-bin'), new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x00]));
    const trailing = rec.events[2][1] as GrpcMetadata;
    assert.equal(get(trailing, 'grpc-status'), '0');
    assert.equal(get(trailing, 'x-trailer'), 'done');

    const { headers } = echo.requests[0];
    assert.equal(headers[':method'], 'POST');
    assert.equal(headers[':path'], '/test.Echo/Unary');
    assert.equal(headers[':authority'], 'echo.internal');
    assert.equal(headers['content-type'], 'application/grpc');
    assert.equal(headers.te, 'trailers');
    assert.equal(headers['grpc-timeout'], '30000m');
    assert.equal(headers['x-tenant'], 'acme');
    assert.equal(headers['x-trace-bin'], '3q2+7wA', 'unpadded base64');
  });

  test('reports the server status and percent-decoded grpc-message without a message', async (t) => {
    const echo = await startEcho(t);
    const rec = unary(poolFor(t), req(echo.port, 'Fail'), 'x');
    assert.deepEqual(await rec.closed, { status: 9, message: 'bad thing: \u00fc%' });
    assert.deepEqual(kinds(rec.events), ['initial', 'trailing', 'close']);
  });

  test('reads the status of a trailers-only response from its headers', async (t) => {
    const echo = await startEcho(t);
    const rec = unary(poolFor(t), req(echo.port, 'TrailersOnly'), 'x');
    assert.deepEqual(await rec.closed, { status: 5, message: 'no such thing' });
    assert.deepEqual(rec.events[0], ['initial', []], 'empty initial metadata, as Envoy');
    assert.equal(get(rec.events[1][1] as GrpcMetadata, 'grpc-status'), '5');
  });

  test('closes with DEADLINE_EXCEEDED and resets the stream when the deadline passes', async (t) => {
    const echo = await startEcho(t);
    const serverClosed = echo.closed('/test.Echo/Hang');
    const rec = unary(poolFor(t), req(echo.port, 'Hang', { timeoutMs: 20 }), 'x');
    assert.equal((await rec.closed).status, 4);
    assert.equal(await serverClosed, http2.constants.NGHTTP2_CANCEL);
    assert.equal(echo.requests[0].headers['grpc-timeout'], '20m');
    assert.deepEqual(kinds(rec.events), ['close']);
  });

  test('closes with UNAVAILABLE when the host refuses connections, never synchronously', async (t) => {
    const echo = await startEcho(t); // keeps the event loop alive: the pool's sockets are unref'd
    const port = await closedPort();
    const pool = poolFor(t);
    const rec = unary(pool, req(port, 'Unary'), 'x');
    assert.equal((await rec.closed).status, 14);
    assert.deepEqual(kinds(rec.events), ['close']);
    await roundTrip(pool, echo.port);
  });

  test('closes with UNAVAILABLE when the target has no host', async (t) => {
    const pool = poolFor(t);
    const rec = unary(pool, { target: { authority: 'a', pickHost: () => undefined }, service: 'test.Echo', method: 'Unary' }, 'x');
    assert.equal(rec.events.length, 0);
    assert.deepEqual(await rec.closed, { status: 14, message: 'no healthy upstream' });
  });

  test('maps HTTP errors, a foreign content-type, resets and a lost connection to gRPC statuses', async (t) => {
    const echo = await startEcho(t);
    const pool = poolFor(t);
    const rows: Array<[string, number]> = [
      ['Nope', 12], // 404 ⇒ UNIMPLEMENTED
      ['Overloaded', 14], // 503 ⇒ UNAVAILABLE
      ['Html', 2], // 200 text/html ⇒ UNKNOWN
      ['Refuse', 14], // RST_STREAM REFUSED_STREAM ⇒ UNAVAILABLE
      ['ResetCancel', 1], // RST_STREAM CANCEL ⇒ CANCELLED
      ['Drop', 14], // connection lost ⇒ UNAVAILABLE
      ['TwoReplies', 13], // unary cardinality ⇒ INTERNAL
      ['NoReply', 13],
      ['NoTrailers', 2], // END_STREAM on DATA ⇒ UNKNOWN, as Envoy
      ['BadStatus', -1], // grpc-status outside 0..16 ⇒ Envoy's InvalidCode
      ['Truncated', 13], // status after half a message ⇒ INTERNAL
    ];
    for (const [method, status] of rows) {
      const rec = unary(pool, req(echo.port, method), 'x');
      assert.equal((await rec.closed).status, status, method);
      assert.ok(!kinds(rec.events).includes('message'), method);
    }
  });

  test('closes with RESOURCE_EXHAUSTED for a message over the size cap', async (t) => {
    const echo = await startEcho(t);
    const pool = poolFor(t, { maxReceiveMessageBytes: 1024 });
    const rec = unary(pool, req(echo.port, 'Big'), 'x');
    const { status, message } = await rec.closed;
    assert.equal(status, 8);
    assert.match(message, /2048/);
    assert.ok(!kinds(rec.events).includes('message'));
  });

  test('refuses invalid metadata with INTERNAL, and validateGrpcRequest names the problem first', async (t) => {
    const echo = await startEcho(t);
    const bad: GrpcRequest = req(echo.port, 'Unary', { initialMetadata: [['bad key', 'v']] });
    assert.match(validateGrpcRequest(bad) ?? '', /metadata key/);
    assert.match(validateGrpcRequest({ service: 'a/b', method: 'M' }) ?? '', /service/);
    assert.match(validateGrpcRequest({ service: 's', method: 'M', initialMetadata: [['k', 'a\r\nb']] }) ?? '', /value/);
    assert.equal(validateGrpcRequest({ service: 's', method: 'M', initialMetadata: [['k-bin', 'a\r\nb']] }), undefined);
    const rec = unary(poolFor(t), bad, 'x');
    assert.equal((await rec.closed).status, 13);
    assert.equal(echo.requests.length, 0);
  });

  test('reuses one HTTP/2 session per host and opens a new one after GOAWAY', async (t) => {
    const echo = await startEcho(t);
    const pool = poolFor(t);
    await roundTrip(pool, echo.port);
    await roundTrip(pool, echo.port);
    assert.equal(echo.sessionCount(), 1);

    const [session] = echo.sessions;
    const gone = once(session, 'close');
    session.close(); // graceful: GOAWAY, then the client closes the idle connection
    await gone;
    await roundTrip(pool, echo.port);
    assert.equal(echo.sessionCount(), 2);
  });

  test('a callback that throws cancels its call and reaches onCallbackError', async (t) => {
    const echo = await startEcho(t);
    const errors: unknown[] = [];
    const pool = poolFor(t, { onCallbackError: (err) => errors.push(err) });
    const serverClosed = echo.closed('/test.Echo/Ticker');
    const rec = recorder({
      onInitialMetadata() {
        throw new Error('guest trapped');
      },
    });
    pool.stream(req(echo.port, 'Ticker'), rec.cb);
    assert.equal(await serverClosed, http2.constants.NGHTTP2_CANCEL);
    await roundTrip(pool, echo.port);
    assert.deepEqual(kinds(rec.events), ['initial']);
    assert.equal((errors[0] as Error).message, 'guest trapped');
    assert.equal(pool.activeCalls, 0);
  });
});

describe('GrpcClientPool streams', TIMEOUT, () => {
  test('delivers server-streamed messages split across DATA frames and packed several per frame', async (t) => {
    const echo = await startEcho(t);
    const rec = recorder();
    const s = poolFor(t).stream(req(echo.port, 'ServerStream'), rec.cb);
    s.close();
    assert.equal((await rec.closed).status, 0);
    assert.deepEqual(
      rec.events.filter((e) => e[0] === 'message').map((e) => e[1]),
      SPLIT_MESSAGES,
    );
    assert.deepEqual(kinds(rec.events).filter((k) => k !== 'message'), ['initial', 'trailing', 'close']);
  });

  test('client streaming: send() frames each message and close() half-closes the request', async (t) => {
    const echo = await startEcho(t);
    const rec = recorder();
    rec.inCall.value = true;
    const s = poolFor(t).stream(req(echo.port, 'Collect'), rec.cb);
    assert.equal(s.send(enc.encode('a')), true);
    assert.equal(s.send(enc.encode('')), true);
    assert.equal(s.send(enc.encode('c')), true);
    s.close();
    rec.inCall.value = false;
    assert.equal(s.send(enc.encode('late')), false, 'nothing is sent after the half-close');
    assert.equal((await rec.closed).status, 0);
    assert.deepEqual(rec.events[1], ['message', 'a,,c']);
    assert.equal(get(rec.events[2][1] as GrpcMetadata, 'x-count'), '3');
    assert.equal(s.done, true);
  });

  test('send(message, true) ends the request stream', async (t) => {
    const echo = await startEcho(t);
    const rec = recorder();
    const s = poolFor(t).stream(req(echo.port, 'Collect'), rec.cb);
    s.send(enc.encode('only'), true);
    assert.equal(s.send(enc.encode('more')), false);
    assert.equal((await rec.closed).status, 0);
    assert.deepEqual(rec.events[1], ['message', 'only']);
  });

  test('cancel inside a callback stops every later callback, including messages from the same frame', async (t) => {
    const echo = await startEcho(t);
    const pool = poolFor(t);
    const serverClosed = echo.closed('/test.Echo/Ticker');
    let call: { cancel(): void } | undefined;
    const rec = recorder({ onMessage: () => call?.cancel() });
    call = pool.stream(req(echo.port, 'Ticker'), rec.cb);
    assert.equal(await serverClosed, http2.constants.NGHTTP2_CANCEL);
    await roundTrip(pool, echo.port); // anything still in flight for the cancelled stream came before this
    assert.deepEqual(rec.events, [
      ['initial', rec.events[0][1]],
      ['message', 'tick-1'],
    ]);
    assert.equal(pool.activeCalls, 0);
  });

  test('cancel right after starting gives no callback at all, even for a failure already known', async (t) => {
    const echo = await startEcho(t);
    const pool = poolFor(t);
    const live = recorder();
    pool.stream(req(echo.port, 'Ticker'), live.cb).cancel();
    const noHost = recorder();
    const nowhere = { authority: 'a', pickHost: () => undefined };
    pool.unary({ target: nowhere, service: 's', method: 'm' }, new Uint8Array(), noHost.cb).cancel();
    await roundTrip(pool, echo.port);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(live.events, []);
    assert.deepEqual(noHost.events, []);
  });

  test('close() cancels calls in flight without callbacks, closes sessions, and later calls get UNAVAILABLE', async (t) => {
    const echo = await startEcho(t);
    const pool = new GrpcClientPool();
    const rec = recorder();
    const serverClosed = echo.closed('/test.Echo/Hang');
    pool.stream(req(echo.port, 'Hang'), rec.cb);
    await eventuallyRequested(echo, 1);
    await pool.close();
    await serverClosed;
    const after = unary(pool, req(echo.port, 'Unary'), 'x');
    assert.deepEqual(await after.closed, { status: 14, message: 'gRPC client pool is closed' });
    assert.deepEqual(rec.events, []);
    assert.equal(echo.requests.length, 1);
  });
});

/** Waits for the server to have seen n requests: a bounded loop of event-loop turns. */
async function eventuallyRequested(echo: Echo, n: number): Promise<void> {
  for (let i = 0; i < 10_000 && echo.requests.length < n; i++) await new Promise((r) => setImmediate(r));
  assert.equal(echo.requests.length, n);
}

describe('gRPC framing and header helpers', () => {
  test('GrpcMessageDecoder reassembles every way of splitting a stream into chunks', () => {
    const messages = ['', 'a', 'hello world', 'z'.repeat(70)];
    const all = Buffer.concat(messages.map(grpcFrame));
    const rand = prng(0x6772);
    for (let round = 0; round < 300; round++) {
      const d = new GrpcMessageDecoder(DEFAULT_MAX_RECEIVE_MESSAGE_BYTES);
      const got: string[] = [];
      for (let at = 0; at < all.length; ) {
        const size = round === 0 ? 1 : 1 + Math.floor(rand() * 20);
        const r = d.push(all.subarray(at, at + size));
        assert.equal(r.error, undefined);
        got.push(...r.messages.map((m) => dec.decode(m)));
        at += size;
      }
      assert.deepEqual(got, messages);
      assert.equal(d.pending, false);
    }
  });

  test('GrpcMessageDecoder refuses oversized, compressed and unknown-flag frames', () => {
    const big = Buffer.from([0, 0, 0, 4, 1]);
    assert.equal(new GrpcMessageDecoder(1024).push(big).error?.status, 8);
    assert.equal(new GrpcMessageDecoder(1024).push(Buffer.from([1, 0, 0, 0, 0])).error?.status, 13);
    assert.equal(new GrpcMessageDecoder(1024).push(Buffer.from([7, 0, 0, 0, 0])).error?.status, 13);
    const partial = new GrpcMessageDecoder(1024);
    assert.deepEqual(partial.push(Buffer.concat([grpcFrame('ok'), Buffer.from([0, 0])])).messages.map((m) => dec.decode(m)), ['ok']);
    assert.equal(partial.pending, true);
  });

  test('formatGrpcTimeout keeps at most 8 digits by moving to a coarser unit', () => {
    const rows: Array<[number, string]> = [
      [1, '1m'],
      [99_999_999, '99999999m'],
      [100_000_000, '100000S'],
      [100_000_000_001, '1666667M'],
    ];
    for (const [ms, want] of rows) assert.equal(formatGrpcTimeout(ms), want, String(ms));
  });

  test('httpStatusToGrpc follows http-grpc-status-mapping', () => {
    const rows: Array<[number, number]> = [
      [400, 13], [401, 16], [403, 7], [404, 12], [429, 14], [502, 14], [503, 14], [504, 14], [500, 2], [302, 2],
    ];
    for (const [http, grpc] of rows) assert.equal(httpStatusToGrpc(http), grpc, String(http));
  });

  test('percentDecode decodes UTF-8 escapes and keeps malformed ones', () => {
    const rows: Array<[string, string]> = [
      ['plain', 'plain'],
      ['a%20b', 'a b'],
      ['%E2%9C%93', '\u2713'],
      ['100%', '100%'],
      ['%zz%4', '%zz%4'],
    ];
    for (const [input, want] of rows) assert.equal(percentDecode(input), want, input);
  });
});
