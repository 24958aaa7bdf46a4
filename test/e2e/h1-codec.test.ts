import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import type http from 'node:http';
import { request } from 'undici';
import { startUpstream, eventually } from '../helpers/servers.ts';
import { proxyYaml, startProxy, type ProxyUnderTest } from '../helpers/proxy.ts';
import { wasmFilter, wasmFixture } from '../helpers/wasm.ts';
import { buildAssemblyScript } from '../helpers/wasm-build.ts';
import { prng } from '../helpers/prng.ts';
import { loadConfigText } from '../../runtime/config/load.ts';

// The downstream HTTP/1.1 codec (runtime/http/h1-codec.ts) over real sockets: the bytes a client
// gets, and what the upstream sees, as Envoy's HTTP/1 codec and connection manager produce them.
// Responses are parsed strictly from the raw bytes, so a framing mistake fails the test.

const FORMAT = '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(:PATH)%\n';
/** RFC 9110 §5.6.7 IMF-fixdate. */
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

// ---- what the upstream saw ----

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** As received: [name, value, ...]. */
  rawHeaders: string[];
  body: Buffer;
  trailers: Record<string, string | undefined>;
}

/**
 * An upstream that records every complete request, then lets `answer` respond (default: a
 * content-length body `<METHOD> <url> <request body>`). `started` counts requests whose headers arrived.
 */
async function recordingUpstream(t: TestContext, answer?: (seen: Seen, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  const aborted: string[] = [];
  let started = 0;
  const up = await startUpstream(t, (req, res) => {
    started++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    res.on('close', () => {
      if (!res.writableFinished) aborted.push(req.url ?? '');
    });
    req.on('end', () => {
      const s: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        trailers: req.trailers,
      };
      seen.push(s);
      if (answer) answer(s, res);
      else res.end(`${s.method} ${s.url} ${s.body.toString('latin1')}`);
    });
  });
  return { port: up.port, seen, aborted, started: () => started };
}

// ---- what the client got ----

interface Response {
  status: number;
  statusLine: string;
  /** [lower-case name, value] in order, repeats kept. */
  headers: Array<[string, string]>;
  body: Buffer;
  /** How the body was delimited. */
  framing: 'content-length' | 'chunked' | 'none' | 'close';
}

function values(r: Response, name: string): string[] {
  return r.headers.filter(([n]) => n === name).map(([, v]) => v);
}

function only(r: Response, name: string): string | undefined {
  const v = values(r, name);
  assert.ok(v.length <= 1, `one ${name} header at most, got ${JSON.stringify(v)}`);
  return v[0];
}

class Incomplete extends Error {}

/**
 * Splits raw response bytes into responses, strictly: `methods` are the requests' methods in order
 * (a HEAD response has no body), 1xx responses are interim and take no method, a chunked body must
 * be exact `size CRLF data CRLF` chunks ending in `0 CRLF CRLF`. A body with neither length nor
 * chunking runs to the end of the connection (`closed`). Throws Incomplete when more bytes are due.
 */
function parseResponses(buf: Buffer, methods: readonly string[], closed: boolean): { responses: Response[]; rest: Buffer } {
  const responses: Response[] = [];
  let at = 0;
  let finals = 0;
  while (at < buf.length && finals < methods.length) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) throw new Incomplete('head');
    const lines = buf.subarray(at, end).toString('latin1').split('\r\n');
    const statusLine = lines[0];
    const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(statusLine);
    if (m === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const headers: Array<[string, string]> = [];
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i <= 0 || /\s/.test(l.slice(0, i))) throw new Error(`bad header line ${JSON.stringify(l)}`);
      headers.push([l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()]);
    }
    at = end + 4;
    const r: Response = { status, statusLine, headers, body: Buffer.alloc(0), framing: 'none' };
    responses.push(r);
    if (status < 200) continue;
    const method = methods[finals++];
    const te = headers.filter(([n]) => n === 'transfer-encoding');
    const cl = headers.filter(([n]) => n === 'content-length');
    if (te.length > 0 && cl.length > 0) throw new Error('both transfer-encoding and content-length');
    if (method === 'HEAD' || status === 204 || status === 304) continue;
    if (te.length > 0) {
      assert.deepEqual(te, [['transfer-encoding', 'chunked']]);
      r.framing = 'chunked';
      const parts: Buffer[] = [];
      for (let n = 0; ; n++) {
        if (n > 100_000) throw new Error('too many chunks');
        const lineEnd = buf.indexOf('\r\n', at);
        if (lineEnd < 0) throw new Incomplete('chunk size');
        const sizeText = buf.subarray(at, lineEnd).toString('latin1');
        if (!/^[0-9a-f]+$/i.test(sizeText)) throw new Error(`bad chunk size line ${JSON.stringify(sizeText)}`);
        const size = Number.parseInt(sizeText, 16);
        const dataEnd = lineEnd + 2 + size;
        if (buf.length < dataEnd + 2) throw new Incomplete('chunk data');
        if (buf[dataEnd] !== 13 || buf[dataEnd + 1] !== 10) throw new Error('chunk data not followed by CRLF');
        parts.push(buf.subarray(lineEnd + 2, dataEnd));
        at = dataEnd + 2;
        if (size === 0) {
          assert.equal(parts.at(-1)?.length, 0);
          break;
        }
      }
      r.body = Buffer.concat(parts);
    } else if (cl.length > 0) {
      assert.equal(cl.length, 1, 'one content-length');
      r.framing = 'content-length';
      const length = Number(cl[0][1]);
      if (buf.length < at + length) throw new Incomplete('body');
      r.body = buf.subarray(at, at + length);
      at += length;
    } else {
      if (!closed) throw new Incomplete('close-delimited body');
      r.framing = 'close';
      r.body = buf.subarray(at);
      at = buf.length;
    }
  }
  if (finals < methods.length) throw new Incomplete('responses');
  return { responses, rest: buf.subarray(at) };
}

/** A client connection driven byte by byte. Destroyed when the test ends (before the proxy stops). */
class RawClient {
  readonly sock: net.Socket;
  #buf = Buffer.alloc(0);
  #closed = false;
  #ended = false;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('data', (d: Buffer) => (this.#buf = Buffer.concat([this.#buf, d])));
    sock.on('end', () => (this.#ended = true));
    sock.on('close', () => (this.#closed = true));
    sock.on('error', () => undefined);
  }

  /** `allowHalfOpen`: the client keeps its side open when the proxy ends its own. */
  static async open(t: TestContext, port: number, allowHalfOpen = false): Promise<RawClient> {
    const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen });
    t.after(() => sock.destroy());
    await once(sock, 'connect');
    sock.setNoDelay(true);
    return new RawClient(sock);
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.sock.write(data, (err) => (err ? reject(err) : resolve())));
  }

  get received(): Buffer {
    return this.#buf;
  }

  get text(): string {
    return this.#buf.toString('latin1');
  }

  /** The proxy closed (or ended) the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The proxy sent its FIN. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Waits for complete responses to `methods` (see parseResponses); `rest` is what came after them. */
  responses(methods: readonly string[], timeoutMs = 5000): Promise<{ responses: Response[]; rest: Buffer }> {
    return eventually(
      () => {
        try {
          return parseResponses(this.#buf, methods, this.#ended || this.#closed);
        } catch (err) {
          if (err instanceof Incomplete) return undefined;
          throw err;
        }
      },
      timeoutMs,
      `responses to ${methods.join(', ')}; got ${JSON.stringify(this.text.slice(0, 600))}`,
    );
  }

  waitFor(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    return eventually(() => (pattern.test(this.text) ? this.text : undefined), timeoutMs, `${pattern}; got ${JSON.stringify(this.text.slice(0, 600))}`);
  }

  waitClosed(timeoutMs = 5000): Promise<true> {
    return eventually(() => (this.#closed ? true : undefined), timeoutMs, 'the proxy to close the connection');
  }
}

async function stat(p: ProxyUnderTest, name: string): Promise<number | undefined> {
  const body = (await (await request(p.admin('/stats?format=json'))).body.json()) as { stats: Array<{ name: string; value: number }> };
  return body.stats.find((s) => s.name === name)?.value;
}

function waitStat(p: ProxyUnderTest, name: string, want: number, timeoutMs = 5000): Promise<true> {
  return eventually(async () => ((await stat(p, name)) === want ? true : undefined), timeoutMs, `${name} == ${want}`);
}

async function proxyTo(t: TestContext, port: number, hcmExtra?: string): Promise<ProxyUnderTest> {
  return startProxy(t, proxyYaml({ clusters: [{ name: 'backend', ports: [port] }], hcmExtra, accessLogFormat: FORMAT }));
}

/** An upstream response without content-length: Node's server sends it chunked, in two writes. */
function unframedAnswer(_seen: Seen, res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.write('hello ');
  setImmediate(() => res.end('world'));
}

// ---- 1. response framing ----

test('re-frames a response without content-length as chunked for an HTTP/1.1 client and keeps the connection', async (t) => {
  const up = await recordingUpstream(t, unframedAnswer);
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  await c.write('GET /unframed HTTP/1.1\r\nhost: a\r\n\r\n');
  const { responses: [r], rest } = await c.responses(['GET']);
  assert.equal(r.statusLine, 'HTTP/1.1 200 OK');
  assert.equal(r.framing, 'chunked');
  assert.deepEqual(values(r, 'transfer-encoding'), ['chunked']);
  assert.deepEqual(values(r, 'content-length'), []);
  assert.deepEqual(values(r, 'connection'), []);
  assert.equal(r.body.toString(), 'hello world');
  assert.equal(rest.length, 0, 'nothing after the last chunk');
  // The connection is kept: a second request is answered on it.
  await c.write('GET /again HTTP/1.1\r\nhost: a\r\n\r\n');
  const second = await c.responses(['GET', 'GET']);
  assert.equal(second.responses[1].body.toString(), 'hello world');
  assert.equal(c.closed, false);
  assert.deepEqual(up.seen.map((s) => s.url), ['/unframed', '/again']);
});

test('sends a response without content-length to an HTTP/1.0 client unchunked, ended by the connection close', async (t) => {
  const up = await recordingUpstream(t, unframedAnswer);
  const p = await proxyTo(t, up.port);
  for (const ask of ['', 'connection: keep-alive\r\n']) {
    const c = await RawClient.open(t, p.port);
    await c.write(`GET /old HTTP/1.0\r\nhost: a\r\n${ask}\r\n`);
    await c.waitClosed();
    const { responses: [r] } = await c.responses(['GET']);
    assert.equal(r.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(r.framing, 'close', `request ${JSON.stringify(ask)}`);
    assert.deepEqual(values(r, 'transfer-encoding'), []);
    assert.deepEqual(values(r, 'content-length'), []);
    assert.deepEqual(values(r, 'connection'), ['close']);
    assert.equal(r.body.toString(), 'hello world', 'the raw bytes after the head, no chunk framing');
  }
});

// ---- 2. HTTP/1.0 keep-alive ----

test('keeps an HTTP/1.0 keep-alive connection for content-length responses, saying connection: keep-alive', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  await c.write('GET /one HTTP/1.0\r\nhost: a\r\nconnection: keep-alive\r\n\r\n');
  const first = await c.responses(['GET']);
  const [r1] = first.responses;
  assert.equal(r1.status, 200);
  assert.equal(r1.framing, 'content-length');
  assert.deepEqual(values(r1, 'connection'), ['keep-alive']);
  assert.deepEqual(values(r1, 'keep-alive'), []);
  assert.equal(r1.body.toString(), 'GET /one ');
  await c.write('GET /two HTTP/1.0\r\nhost: a\r\nconnection: keep-alive\r\n\r\n');
  const { responses: [, r2] } = await c.responses(['GET', 'GET']);
  assert.deepEqual(values(r2, 'connection'), ['keep-alive']);
  assert.equal(r2.body.toString(), 'GET /two ');
  assert.equal(c.closed, false);
  // Without keep-alive the next response closes the connection.
  await c.write('GET /three HTTP/1.0\r\nhost: a\r\n\r\n');
  await c.waitClosed();
  const { responses: [, , r3], rest } = await c.responses(['GET', 'GET', 'GET']);
  assert.deepEqual(values(r3, 'connection'), ['close']);
  assert.equal(r3.body.toString(), 'GET /three ');
  assert.equal(rest.length, 0);
});

test('closes an HTTP/1.0 connection without keep-alive after its response, saying connection: close', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  await c.write('GET /once HTTP/1.0\r\nhost: a\r\n\r\n');
  await c.waitClosed();
  const { responses: [r], rest } = await c.responses(['GET']);
  assert.equal(r.framing, 'content-length');
  assert.deepEqual(values(r, 'connection'), ['close']);
  assert.equal(r.body.toString(), 'GET /once ');
  assert.equal(rest.length, 0);
});

test('closes an HTTP/1.1 connection whose request said connection: close', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  await c.write('GET /bye HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  await c.waitClosed();
  const { responses: [r] } = await c.responses(['GET']);
  assert.deepEqual(values(r, 'connection'), ['close']);
  assert.equal(r.body.toString(), 'GET /bye ');
});

// ---- 3. responses without a body ----

test('answers HEAD with the upstream headers and no body, and parses the next request on the connection', async (t) => {
  const up = await recordingUpstream(t, (s, res) => {
    res.setHeader('content-type', 'text/plain');
    if (s.method === 'HEAD') {
      res.setHeader('content-length', '11');
      res.end();
    } else res.end(`GET ${s.url}`);
  });
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  await c.write('HEAD /h HTTP/1.1\r\nhost: a\r\n\r\n');
  const head = await c.responses(['HEAD']);
  const [r] = head.responses;
  assert.equal(r.status, 200);
  assert.deepEqual(values(r, 'content-length'), ['11']);
  assert.deepEqual(values(r, 'transfer-encoding'), []);
  assert.equal(r.body.length, 0);
  await c.write('GET /after-head HTTP/1.1\r\nhost: a\r\n\r\n');
  const both = await c.responses(['HEAD', 'GET']);
  const [, g] = both.responses;
  // No byte between the HEAD response's head and the GET's status line.
  assert.equal(c.text.indexOf('HTTP/1.1', 1), c.text.indexOf('\r\n\r\n') + 4);
  assert.equal(g.status, 200);
  assert.equal(g.body.toString(), 'GET /after-head');
  assert.equal(both.rest.length, 0);
  assert.deepEqual(up.seen.map((s) => `${s.method} ${s.url}`), ['HEAD /h', 'GET /after-head']);
});

test('passes 204 and 304 on without a body or chunked framing, and the connection stays usable', async (t) => {
  const up = await recordingUpstream(t, (s, res) => {
    if (s.url === '/204') {
      res.statusCode = 204;
      res.end();
    } else if (s.url === '/304') {
      res.writeHead(304, { etag: '"v1"' });
      res.end();
    } else res.end('after');
  });
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  // Pipelined: any stray body byte would break the parse of the next response.
  await c.write('GET /204 HTTP/1.1\r\nhost: a\r\n\r\nGET /304 HTTP/1.1\r\nhost: a\r\nif-none-match: "v1"\r\n\r\nGET /ok HTTP/1.1\r\nhost: a\r\n\r\n');
  const { responses, rest } = await c.responses(['GET', 'GET', 'GET']);
  assert.deepEqual(responses.map((r) => r.status), [204, 304, 200]);
  for (const r of responses.slice(0, 2)) {
    assert.deepEqual(values(r, 'transfer-encoding'), [], `${r.status}`);
    assert.deepEqual(values(r, 'content-length'), [], `${r.status}`);
  }
  assert.deepEqual(values(responses[1], 'etag'), ['"v1"']);
  assert.equal(responses[2].body.toString(), 'after');
  assert.equal(rest.length, 0);
  assert.match(c.text, /^HTTP\/1\.1 204 No Content\r\n(?:[^\r\n]+\r\n)+\r\nHTTP\/1\.1 304 Not Modified\r\n(?:[^\r\n]+\r\n)+\r\nHTTP\/1\.1 200 OK\r\n/);
});

// ---- 4. date ----

test('adds a date header when the upstream sends none, and keeps the one it sends', async (t) => {
  const up = await recordingUpstream(t, (s, res) => {
    if (s.url === '/nodate') res.sendDate = false;
    else res.setHeader('date', 'Tue, 15 Nov 1994 08:12:31 GMT');
    res.end('x');
  });
  const p = await startProxy(t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `              - match: { prefix: "/nodate" }\n                route: { cluster: backend }\n              - match: { prefix: "/dated" }\n                route: { cluster: backend }`,
    }),
  );
  const c = await RawClient.open(t, p.port);
  await c.write('GET /nodate HTTP/1.1\r\nhost: a\r\n\r\nGET /dated HTTP/1.1\r\nhost: a\r\n\r\nGET /no-route HTTP/1.1\r\nhost: a\r\n\r\n');
  const { responses: [added, kept, local] } = await c.responses(['GET', 'GET', 'GET']);
  const date = only(added, 'date');
  assert.match(date ?? '', IMF_FIXDATE);
  assert.ok(Math.abs(Date.parse(date ?? '') - Date.now()) < 10 * 60_000, `a current date: ${date}`);
  assert.deepEqual(values(kept, 'date'), ['Tue, 15 Nov 1994 08:12:31 GMT']);
  // A local reply (404, no route) gets one too.
  assert.equal(local.status, 404);
  assert.match(only(local, 'date') ?? '', IMF_FIXDATE);
});

test('answers a malformed request with 400, content-length, date, server and connection: close', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  await c.write('GET / HTTP/1.1\r\nhost: a\r\nbad header line\r\n\r\n');
  await c.waitClosed();
  const { responses: [r], rest } = await c.responses(['GET']);
  assert.equal(r.statusLine, 'HTTP/1.1 400 Bad Request');
  assert.equal(r.framing, 'content-length');
  assert.equal(r.body.toString(), 'Bad Request');
  assert.deepEqual(values(r, 'connection'), ['close']);
  assert.deepEqual(values(r, 'server'), ['envoy']);
  assert.match(only(r, 'date') ?? '', IMF_FIXDATE);
  assert.equal(rest.length, 0);
  assert.equal(up.started(), 0);
  assert.deepEqual(await p.accessLog(1), ['400 DPE http1.codec_error -']);
});

// ---- 5. Expect: 100-continue ----

test('answers Expect: 100-continue itself before the body is sent, and does not forward expect', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  await c.write('POST /upload HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n');
  // The body is sent only once the interim response is here, as a client waiting for it would.
  await c.waitFor(/\r\n\r\n/);
  assert.equal(c.text, 'HTTP/1.1 100 Continue\r\n\r\n');
  await c.write('hello');
  const { responses, rest } = await c.responses(['POST']);
  assert.deepEqual(responses.map((r) => r.status), [100, 200]);
  assert.deepEqual(responses[0].headers, []);
  assert.equal(responses[1].body.toString(), 'POST /upload hello');
  assert.equal(rest.length, 0);
  assert.equal(up.seen.length, 1);
  assert.equal(up.seen[0].headers['expect'], undefined);
  assert.equal(up.seen[0].body.toString(), 'hello');
  assert.equal(c.closed, false);
});

// ---- 6. pipelining ----

const PIPELINED =
  'POST /p1 HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhello' +
  'POST /p2 HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n' +
  'POST /p3 HTTP/1.1\r\nhost: a\r\ncontent-length: 6\r\n\r\nworld!';

async function checkPipelined(c: RawClient, up: { seen: Seen[] }): Promise<void> {
  const { responses, rest } = await c.responses(['POST', 'POST', 'POST']);
  assert.deepEqual(
    responses.map((r) => `${r.status} ${r.body.toString()}`),
    ['200 POST /p1 hello', '200 POST /p2 abcdefg', '200 POST /p3 world!'],
  );
  assert.equal(rest.length, 0);
  assert.deepEqual(up.seen.map((s) => `${s.url} ${s.body.toString()}`), ['/p1 hello', '/p2 abcdefg', '/p3 world!']);
  assert.equal(c.closed, false);
}

test('answers three pipelined POSTs (content-length, chunked, content-length) in order with their bodies', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  await c.write(PIPELINED);
  await checkPipelined(c, up);
});

test('answers the same pipelined POSTs sent a few bytes at a time', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  const bytes = Buffer.from(PIPELINED, 'latin1');
  for (let i = 0; i < bytes.length; i += 7) {
    await c.write(bytes.subarray(i, i + 7));
    await new Promise((r) => setImmediate(r));
  }
  await checkPipelined(c, up);
});

test('reads the rest of a pipelined body that arrives after the request before it was answered', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  for (const [second, rest, body] of [
    ['POST /p2 HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nabc', 'defghij', 'abcdefghij'],
    ['POST /p2 HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n', '7\r\ndefghij\r\n0\r\n\r\n', 'abcdefghij'],
  ]) {
    up.seen.length = 0;
    const c = await RawClient.open(t, p.port);
    // The GET and the start of the POST in one write: the POST's head is parsed while the GET is
    // in flight; the rest of its body is sent only once the GET has been answered.
    await c.write(`GET /g1 HTTP/1.1\r\nhost: a\r\n\r\n${second}`);
    const first = await c.responses(['GET']);
    assert.deepEqual(first.responses.map((r) => `${r.status} ${r.body.toString()}`), ['200 GET /g1 ']);
    await c.write(rest);
    const both = await c.responses(['GET', 'POST']);
    assert.deepEqual(both.responses.map((r) => `${r.status} ${r.body.toString()}`), ['200 GET /g1 ', `200 POST /p2 ${body}`]);
    assert.deepEqual(up.seen.map((s) => `${s.url} ${s.body.toString()}`), ['/g1 ', `/p2 ${body}`]);
  }
});

test('answers a pipelined good request, then 400 and close for the garbage after it', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  await c.write('GET /good HTTP/1.1\r\nhost: a\r\n\r\nGARBAGE / NONSENSE\r\n\r\n');
  await c.waitClosed();
  const { responses: [ok, bad], rest } = await c.responses(['GET', 'GET']);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.toString(), 'GET /good ');
  assert.deepEqual(values(ok, 'connection'), []);
  assert.equal(bad.statusLine, 'HTTP/1.1 400 Bad Request');
  assert.deepEqual(values(bad, 'connection'), ['close']);
  assert.equal(rest.length, 0);
  assert.deepEqual(up.seen.map((s) => s.url), ['/good']);
});

// ---- 7. long heads ----

test('forwards a request with 45 headers and an 8 KB target intact, in one write or in pieces', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  const target = `/long?q=${'abcdefghij'.repeat(800)}`;
  const names = Array.from({ length: 45 }, (_, i) => `X-Hdr-${i}`);
  const head = `GET ${target} HTTP/1.1\r\nhost: a\r\n${names.map((n, i) => `${n}: value-${i}-${'v'.repeat(i)}\r\n`).join('')}\r\n`;
  const c = await RawClient.open(t, p.port);
  await c.write(head);
  await c.responses(['GET']);
  // The same head again in pieces: inside the target, inside a header name, inside a value.
  const cuts = [0, 3000, head.indexOf('X-Hdr-20') + 3, head.indexOf('value-40') + 4, head.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    await c.write(head.slice(cuts[i], cuts[i + 1]));
    await new Promise((r) => setImmediate(r));
  }
  await c.responses(['GET', 'GET']);
  assert.equal(up.seen.length, 2);
  for (const s of up.seen) {
    assert.equal(s.url, target);
    const got: string[] = [];
    for (let i = 0; i < s.rawHeaders.length; i += 2) if (/^x-hdr-/i.test(s.rawHeaders[i])) got.push(`${s.rawHeaders[i].toLowerCase()}: ${s.rawHeaders[i + 1]}`);
    assert.deepEqual(got, names.map((n, i) => `${n.toLowerCase()}: value-${i}-${'v'.repeat(i)}`));
  }
});

// ---- 8. request trailers ----

test('forwards a chunked request body with trailers intact, drops the trailers, and they do not leak into the next request', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  await c.write(
    'POST /trailers HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n' +
      '5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc123\r\nx-other: 1\r\n\r\n',
  );
  const first = await c.responses(['POST']);
  assert.equal(first.responses[0].body.toString(), 'POST /trailers hello world');
  await c.write('GET /next HTTP/1.1\r\nhost: a\r\n\r\n');
  await c.responses(['POST', 'GET']);
  assert.deepEqual(up.seen.map((s) => s.url), ['/trailers', '/next']);
  assert.equal(up.seen[0].body.toString(), 'hello world');
  assert.deepEqual(up.seen[0].trailers, {});
  assert.equal(up.seen[0].headers['x-checksum'], undefined);
  assert.equal(up.seen[1].headers['x-checksum'], undefined, 'a trailer became a header of the next request');
  assert.equal(up.seen[1].headers['x-other'], undefined);
});

// ---- 9. clients that go away ----

test('survives clients that send part of a request and then half-close or close', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  // A truncated head then FIN: 400 (the socket can still be written) or just a close.
  const a = await RawClient.open(t, p.port, true);
  await a.write('GET /cut HTTP/1.1\r\nhost: a\r\nx-partial: ');
  a.sock.end();
  await a.waitClosed();
  assert.match(a.text, /^(HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\r\n\r\nBad Request)?$/);
  // A FIN right after connecting: closed without a byte.
  const b = await RawClient.open(t, p.port, true);
  b.sock.end();
  await b.waitClosed();
  assert.equal(b.text, '');
  // A truncated head then a full close.
  const c = await RawClient.open(t, p.port);
  await c.write('POST /x HTTP/1.1\r\nho');
  c.sock.destroy();
  assert.equal(up.started(), 0);
  const ok = await request(p.url('/still-serving'));
  assert.equal(ok.statusCode, 200);
  assert.equal(await ok.body.text(), 'GET /still-serving ');
});

test('resets a request whose client half-closes while waiting for the response (DC), as Envoy does without half-close', async (t) => {
  const up = await recordingUpstream(t, () => undefined); // never answers
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port, true);
  await c.write('GET /hold HTTP/1.1\r\nhost: a\r\n\r\n');
  await eventually(() => (up.seen.length === 1 ? true : undefined), 5000, 'the request upstream');
  c.sock.end();
  await c.waitClosed();
  assert.equal(c.text, '');
  const [line] = await p.accessLog(1);
  assert.match(line, /^0 DC \S+ \/hold$/);
  await eventually(() => (up.aborted.includes('/hold') ? true : undefined), 5000, 'the upstream request aborted');
  await waitStat(p, 'cluster.backend.upstream_rq_active', 0);
});

test('logs DC and releases the upstream when a client disconnects or half-closes mid-upload', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  for (const [i, how] of (['destroy', 'end'] as const).entries()) {
    const c = await RawClient.open(t, p.port, true);
    await c.write(`POST /upload-${how} HTTP/1.1\r\nhost: a\r\ncontent-length: 1000000\r\n\r\n`);
    await c.write(Buffer.alloc(100_000, 1));
    // The router streams the body: the upstream has the request before the body is complete.
    await eventually(() => (up.started() === i + 1 ? true : undefined), 5000, 'the upload upstream');
    if (how === 'destroy') c.sock.destroy();
    else c.sock.end();
    await c.waitClosed();
    const lines = await p.accessLog(i + 1);
    assert.match(lines[i], new RegExp(`^0 DC \\S+ /upload-${how}$`));
    await eventually(() => (up.aborted.includes(`/upload-${how}`) ? true : undefined), 5000, `upstream saw /upload-${how} aborted`);
  }
  assert.equal(up.seen.length, 0, 'no upload completed upstream');
  // Half-sent requests cannot be reused: their upstream connections are closed, none left open.
  await waitStat(p, 'cluster.backend.upstream_rq_active', 0);
  await waitStat(p, 'cluster.backend.upstream_cx_active', 0);
  const ok = await request(p.url('/after'), { method: 'POST', body: 'fine' });
  assert.equal(ok.statusCode, 200);
  assert.equal(await ok.body.text(), 'POST /after fine');
});

test('closes a connection it ended even when the client never closes its side', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port, true);
  await c.write('GET /last HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  await eventually(() => (c.ended ? true : undefined), 5000, "the proxy's FIN");
  const { responses: [r] } = await c.responses(['GET']);
  assert.deepEqual(values(r, 'connection'), ['close']);
  assert.equal(c.closed, false, 'the client keeps its side open');
  // Envoy closes the socket after delayed_close_timeout (1 s) whatever the peer does.
  await waitStat(p, 'http.ingress.downstream_cx_active', 0);
});

test('closes a connection it ended even when the client sent more after the closing request', async (t) => {
  let release: (() => void) | undefined;
  const up = await recordingUpstream(t, (s, res) => (release = () => res.end(s.url)));
  const p = await proxyTo(t, up.port);
  const c = await RawClient.open(t, p.port);
  await c.write('GET /last HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  await eventually(() => release, 5000, 'the request upstream');
  // Bytes the proxy will never parse, sent while the first request is being served.
  await c.write('GET /never HTTP/1.1\r\nhost: a\r\n\r\n');
  release?.();
  // The client closes its side as soon as it has the response and the proxy's FIN.
  await c.waitClosed();
  const { responses: [r], rest } = await c.responses(['GET']);
  assert.deepEqual(values(r, 'connection'), ['close']);
  assert.equal(r.body.toString(), '/last');
  assert.equal(rest.length, 0);
  await waitStat(p, 'http.ingress.downstream_cx_active', 0);
  assert.deepEqual(up.seen.map((s) => s.url), ['/last']);
});

// ---- 10. response splitting ----

test('refuses route response_headers_to_add values with CR or LF at config load', () => {
  const yaml = proxyYaml({
    clusters: [{ name: 'backend', ports: [1] }],
    virtualHosts: `
          - name: default
            domains: ["*"]
            response_headers_to_add:
              - header: { key: x-split, value: "a\\r\\nx-injected: 1" }
            routes:
              - match: { prefix: "/" }
                route: { cluster: backend }`,
  });
  assert.throws(() => loadConfigText(yaml, 'envoy.yaml'), { code: 'SLUICE_ERR_CONFIG_INVALID' });
});

test('answers 502 instead of writing a filter-set response header value containing CR LF', async (t) => {
  const wasm = await buildAssemblyScript(wasmFixture('behaviours.ts'));
  const up = await recordingUpstream(t);
  // The fixture's "headers" behaviour echoes the plugin configuration as x-wasm-config.
  const p = await startProxy(t, (dir) => {
    const file = join(dir, 'behaviours.wasm');
    writeFileSync(file, wasm);
    return proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      filters: wasmFilter({ file, rootId: 'headers', configuration: 'cfg\r\nx-injected: yes' }),
      accessLogFormat: FORMAT,
    });
  });
  const c = await RawClient.open(t, p.port);
  await c.write('GET /split HTTP/1.1\r\nhost: a\r\n\r\n');
  const first = await c.responses(['GET']);
  const [r] = first.responses;
  assert.equal(r.statusLine, 'HTTP/1.1 502 Bad Gateway');
  assert.equal(r.body.toString(), 'Bad Gateway');
  assert.doesNotMatch(c.text, /x-injected/i);
  assert.deepEqual(values(r, 'x-wasm-config'), []);
  assert.equal(first.rest.length, 0);
  // The connection is intact: the next request is parsed and answered the same way.
  await c.write('GET /split2 HTTP/1.1\r\nhost: a\r\n\r\n');
  const { responses, rest } = await c.responses(['GET', 'GET']);
  assert.equal(responses[1].status, 502);
  assert.equal(rest.length, 0);
  assert.doesNotMatch(c.text, /x-injected/i);
  assert.deepEqual(await p.accessLog(2), ['502 - invalid_response_header /split', '502 - invalid_response_header /split2']);
});

// ---- 11. max_requests_per_connection ----

test('closes the connection with its Nth response under max_requests_per_connection', async (t) => {
  const up = await recordingUpstream(t);
  const p = await proxyTo(t, up.port, '          common_http_protocol_options: { max_requests_per_connection: 3 }');
  const c = await RawClient.open(t, p.port);
  for (let i = 1; i <= 2; i++) {
    await c.write(`GET /r${i} HTTP/1.1\r\nhost: a\r\n\r\n`);
    const { responses } = await c.responses(Array(i).fill('GET'));
    assert.deepEqual(values(responses[i - 1], 'connection'), [], `response ${i}`);
    assert.equal(c.closed, false);
  }
  await c.write('GET /r3 HTTP/1.1\r\nhost: a\r\n\r\n');
  await c.waitClosed();
  const { responses, rest } = await c.responses(['GET', 'GET', 'GET']);
  assert.deepEqual(values(responses[2], 'connection'), ['close']);
  assert.equal(responses[2].body.toString(), 'GET /r3 ');
  assert.equal(rest.length, 0);
  // Pipelined past the limit: the requests after the Nth are never served.
  const d = await RawClient.open(t, p.port);
  await d.write(['/a', '/b', '/c', '/d'].map((u) => `GET ${u} HTTP/1.1\r\nhost: a\r\n\r\n`).join(''));
  await d.waitClosed();
  const piped = await d.responses(['GET', 'GET', 'GET']);
  assert.deepEqual(piped.responses.map((r) => values(r, 'connection').join()), ['', '', 'close']);
  assert.equal(piped.rest.length, 0);
  assert.deepEqual(up.seen.map((s) => s.url), ['/r1', '/r2', '/r3', '/a', '/b', '/c']);
});

// ---- 12. request-body backpressure ----

test('passes a 20 MB upload intact to an upstream that reads slowly', async (t) => {
  const size = 20 * 1024 * 1024;
  const payload = Buffer.alloc(size);
  const rand = prng(12);
  for (let i = 0; i < size; i += 4) payload.writeUInt32LE((rand() * 0x1_0000_0000) >>> 0, i);
  const want = createHash('sha256').update(payload).digest('hex');
  const up = await startUpstream(t, (req, res) => {
    const hash = createHash('sha256');
    let got = 0;
    let nextPause = 1024 * 1024;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      got += chunk.length;
      // Every MiB, stop reading for a moment: the proxy has to hold the client back.
      if (got >= nextPause) {
        nextPause += 1024 * 1024;
        req.pause();
        setTimeout(() => req.resume(), 10);
      }
    });
    req.on('end', () => res.end(JSON.stringify({ length: got, sha256: hash.digest('hex') })));
  });
  const p = await proxyTo(t, up.port);
  const res = await request(p.url('/big'), { method: 'POST', body: payload });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(await res.body.json(), { length: size, sha256: want });
});
