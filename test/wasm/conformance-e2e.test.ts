/**
 * proxy-wasm host conformance through compiled AssemblyScript guests and a running Sluice (real
 * sockets, worker threads). The guest (test/fixtures/wasm/conformance.ts) reports what the host
 * answered as request headers the echoing upstream sends back, as response headers, or in shared
 * data that a later `x-dump` request reads; see that file for the protocol. References are to
 * /work/shared/docs/proxy-wasm-abi.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proxyYaml, startProxy, type ClusterSpec } from '../helpers/proxy.ts';
import { echoHandler, eventually, rawRequest, startUpstream } from '../helpers/servers.ts';
import { buildFixtureInto, wasmFilter } from '../helpers/wasm.ts';
import { runCli } from '../helpers/cli.ts';
import type { TestContext } from 'node:test';

/** Every test ends: a stream the host wrongly holds fails the test instead of hanging the run. */
const BOUNDED = { timeout: 30_000 };

const dir = mkdtempSync(join(tmpdir(), 'sluice-wasm-conformance-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const conformance = await buildFixtureInto(dir, 'conformance.ts');
const abi010 = await buildFixtureInto(dir, 'abi010.ts');
const wasi = await buildFixtureInto(dir, 'wasi.ts');

const BIG = 64 * 1024;
const LIMIT = 1024;

interface Reply {
  status: number;
  headers: Headers;
  body: string;
}

async function get(port: number, path: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** Headers the echo upstream received. */
function echoed(r: Reply): Record<string, string> {
  return JSON.parse(r.body).headers as Record<string, string>;
}

function echoedLength(r: Reply): number {
  return (JSON.parse(r.body) as { bodyLength: number }).bodyLength;
}

/** Shared data `key`, as the guest answers an `x-dump` request (undefined while absent). */
async function dump(port: number, key: string): Promise<string | undefined> {
  const r = await get(port, '/dump', { headers: { 'x-dump': key } });
  return r.status === 200 ? r.body : undefined;
}

/** The callbacks the guest recorded for the stream tagged `tag`, once that stream was deleted. */
async function finishedTrace(port: number, tag: string): Promise<string[]> {
  const text = await eventually(async () => {
    const t = await dump(port, `trace/${tag}`);
    return t?.endsWith(',delete') ? t : undefined;
  }, 5000, `the trace of stream ${tag} to end with delete`);
  return text.split(',');
}

/** Consecutive repeats of the same callback name collapsed to one `name+`. */
function collapse(events: string[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    const name = e.replace(/\(.*$/, '');
    const last = out[out.length - 1];
    if (last === name || last === `${name}+`) out[out.length - 1] = `${name}+`;
    else out.push(name);
  }
  return out.map((n) => n.replace(/\+$/, '…'));
}

function bodyEvents(events: string[], name: string): Array<{ size: number; eos: number }> {
  return events
    .filter((e) => e.startsWith(`${name}(`))
    .map((e) => {
      const [size, eos] = e.slice(name.length + 1, -1).split(':').map(Number);
      return { size, eos };
    });
}

interface Setup {
  rootId: string;
  clusters?: ClusterSpec[];
  routes?: string;
  /** Extra PluginConfig fields (YAML, indented for the `config:` block). */
  pluginExtra?: string;
  configuration?: string;
  /** per_connection_buffer_limit_bytes on the listener. */
  bufferLimit?: number;
  /** Extra VmConfig fields (YAML at vm_config's indentation, each starting with VM_INDENT). */
  vmExtra?: string;
  accessLogFormat?: string;
}

/** A proxy whose only filter is the conformance guest with `rootId`; the first cluster is `backend`. */
async function proxyFor(t: TestContext, s: Setup) {
  let yaml = proxyYaml({
    clusters: s.clusters ?? [],
    routes: s.routes,
    filters: wasmFilter({ file: conformance, rootId: s.rootId, configuration: s.configuration, extra: s.pluginExtra }),
    accessLogFormat: s.accessLogFormat,
  });
  if (s.vmExtra !== undefined) yaml = withVmConfig(yaml, s.vmExtra);
  if (s.bufferLimit !== undefined) {
    yaml = yaml.replace('    filter_chains:', `    per_connection_buffer_limit_bytes: ${s.bufferLimit}\n    filter_chains:`);
  }
  return startProxy(t, yaml);
}

async function echoProxy(t: TestContext, s: Setup) {
  const up = await startUpstream(t, echoHandler());
  const clusters = [{ name: 'backend', ports: [up.port] }, ...(s.clusters ?? [])];
  return proxyFor(t, { ...s, clusters });
}

/** An upstream that holds every request until `release()`; `arrived` resolves on the first one. */
async function gateUpstream(t: TestContext) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let arrived!: () => void;
  const arrivedP = new Promise<void>((r) => (arrived = r));
  const up = await startUpstream(t, (_req, res) => {
    arrived();
    void released.then(() => res.end('gate-open'));
  });
  return { port: up.port, arrived: arrivedP, release };
}

const ALLOW_STOP_ITERATION = '\n                allow_on_headers_stop_iteration: true';

/** `extra` (YAML at vm_config's indentation) added to the plugin's vm_config. */
function withVmConfig(yaml: string, extra: string): string {
  return yaml.replace('runtime: envoy.wasm.runtime.v8', `runtime: envoy.wasm.runtime.v8${extra}`);
}

const VM_INDENT = '\n                  ';

// ---- lifecycle ordering (§6.1) --------------------------------------------------------------

test('callbacks of one stream run in Envoy HTTP order: create, request headers, body…, response headers, body…, log, done, delete', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  const r = await get(p.port, '/order', { method: 'POST', body: 'hello body', headers: { 'x-tag': 'order' } });
  assert.equal(r.status, 200);
  const events = await finishedTrace(p.port, 'order');
  assert.deepEqual(collapse(events), [
    'context_create',
    'request_headers',
    'request_body…',
    'response_headers',
    'response_body…',
    'log',
    'done',
    'delete',
  ]);
  assert.equal(events[0], 'context_create(root)');
  assert.equal(events[1], 'request_headers(0)');
  const requestBodies = bodyEvents(events, 'request_body');
  assert.equal(requestBodies.at(-1)?.eos, 1, 'the last request body callback carries end_of_stream');
  assert.equal(requestBodies.filter((b) => b.eos === 1).length, 1);
  assert.equal(bodyEvents(events, 'response_body').at(-1)?.eos, 1, 'the last response body callback carries end_of_stream');
});

test('a header-only request gets request_headers with end_of_stream and no request body callback', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  await get(p.port, '/headers-only', { headers: { 'x-tag': 'get' } });
  const events = await finishedTrace(p.port, 'get');
  assert.equal(events[1], 'request_headers(1)');
  assert.equal(bodyEvents(events, 'request_body').length, 0);
});

test('a request rejected before its headers reach the filter still gets context_create, log, done, delete (Envoy Context::log)', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  // HTTP/1.1 without Host: answered 400 at admission, before the filter chain runs.
  const raw = await rawRequest(p.port, 'GET / HTTP/1.1\r\nx-tag: rejected\r\nconnection: close\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 400/);
  assert.deepEqual(await finishedTrace(p.port, 'rejected'), ['context_create(root)', 'log', 'done', 'delete']);
});

test('a root context starts with context_create(R, 0), vm_start, configure; plugin configuration is readable in create and configure only', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow', configuration: 'plugin-cfg' });
  const r = await get(p.port, '/', { headers: { 'x-tag': 'root' } });
  // pc = proxy_get_buffer_status(PLUGIN_CONFIGURATION): Ok (0) while configuring, NotFound (1) in vm_start (§3.5).
  assert.equal(r.headers.get('x-root-trace'), 'context_create(pc=0),vm_start(pc=1),configure(pc=0)');
});

// ---- headers statuses (§4, §7.4) ------------------------------------------------------------

test('Continue from request headers lets the request through; the body callbacks run before the response', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  const r = await get(p.port, '/', { method: 'POST', body: '0123456789', headers: { 'x-tag': 'continue', 'x-rh': '0' } });
  assert.equal(r.status, 200);
  assert.equal(echoedLength(r), 10);
  const trace = (r.headers.get('x-trace') ?? '').split(',');
  assert.deepEqual(collapse(trace), ['context_create', 'request_headers', 'request_body…', 'response_headers']);
});

test('StopIteration from request headers becomes StopAllIterationAndWatermark: nothing moves until a tick resumes the stream', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  const r = await get(p.port, '/', { headers: { 'x-tag': 'stop', 'x-rh': '1', 'x-resume': 'tick' } });
  assert.equal(r.status, 200);
  // The tick could still change the request headers: they had not gone upstream.
  assert.equal(echoed(r)['x-resumed-by'], 'tick');
});

test(
  'after StopAllIteration the held request body is delivered to the same filter once it resumes (Envoy: iteration restarts at the stopped filter)',
  {
    ...BOUNDED,
  },
  async (t) => {
    const gate = await gateUpstream(t);
    const p = await echoProxy(t, { rootId: 'flow', clusters: [{ name: 'gate', ports: [gate.port] }] });
    // The http call that will resume the stream arrives at the gate only after the proxy has read
    // the whole request (headers and body travel in one write): the body is held when it resumes.
    const pending = rawRequest(
      p.port,
      'POST /held HTTP/1.1\r\nhost: x\r\nx-rh: 1\r\nx-resume: call\r\nx-resume-cluster: gate\r\nx-tag: held\r\ncontent-length: 10\r\nconnection: close\r\n\r\n0123456789',
    );
    await gate.arrived;
    gate.release();
    const raw = await pending;
    assert.match(raw, /^HTTP\/1\.1 200/);
    const trace = /x-trace: ([^\r\n]*)/.exec(raw)?.[1].split(',') ?? [];
    const resumedAt = trace.indexOf('resume_request(call)');
    assert.ok(resumedAt > 0, `resumed by the call: ${trace}`);
    assert.deepEqual(bodyEvents(trace.slice(0, resumedAt), 'request_body'), [], 'no body callback while stopped');
    assert.deepEqual(bodyEvents(trace.slice(resumedAt), 'request_body'), [{ size: 10, eos: 1 }]);
  },
);

test('allow_on_headers_stop_iteration passes StopIteration through: body callbacks run and Continue from the body releases the headers', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow', pluginExtra: ALLOW_STOP_ITERATION });
  const r = await get(p.port, '/', { method: 'POST', body: '0123456789', headers: { 'x-tag': 'allow', 'x-rh': '1', 'x-rb': '0' } });
  assert.equal(r.status, 200);
  assert.equal(echoedLength(r), 10);
  assert.equal(echoed(r)['x-resumed-by'], undefined, 'nobody called proxy_continue_stream');
  const trace = (r.headers.get('x-trace') ?? '').split(',');
  assert.ok(bodyEvents(trace, 'request_body').length >= 1);
});

test('ContinueAndEndStream from request headers is treated as Continue (Envoy convertFilterHeadersStatus)', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  const r = await get(p.port, '/', { method: 'POST', body: '0123456789', headers: { 'x-rh': '2' } });
  assert.equal(r.status, 200);
  assert.equal(echoedLength(r), 10);
});

test('StopAllIterationAndBuffer holds the request until an http call response resumes it', BOUNDED, async (t) => {
  const gate = await gateUpstream(t);
  const p = await echoProxy(t, { rootId: 'flow', clusters: [{ name: 'gate', ports: [gate.port] }] });
  const pending = get(p.port, '/', { method: 'POST', body: '0123456789', headers: { 'x-rh': '3', 'x-resume': 'call', 'x-resume-cluster': 'gate' } });
  await gate.arrived;
  gate.release();
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(echoed(r)['x-resumed-by'], 'call');
  assert.equal(echoedLength(r), 10);
});

test('StopAllIterationAndBuffer past per_connection_buffer_limit_bytes answers 413', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow', bufferLimit: LIMIT });
  const r = await get(p.port, '/', { method: 'POST', body: 'x'.repeat(BIG), headers: { 'x-rh': '3' } });
  assert.equal(r.status, 413);
});

test('StopAllIterationAndWatermark holds a body larger than the buffer limit (back-pressure, no 413) until a tick resumes it', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow', bufferLimit: LIMIT });
  const r = await get(p.port, '/', { method: 'POST', body: 'x'.repeat(BIG), headers: { 'x-rh': '4', 'x-resume': 'tick' } });
  assert.equal(r.status, 200);
  assert.equal(echoed(r)['x-resumed-by'], 'tick');
  assert.equal(echoedLength(r), BIG);
});

test('a headers status above 4 is clamped to StopAllIterationAndWatermark (cpp-host)', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  const r = await get(p.port, '/', { headers: { 'x-rh': '7', 'x-resume': 'tick' } });
  assert.equal(r.status, 200);
  assert.equal(echoed(r)['x-resumed-by'], 'tick', 'the stream waited for the tick');
});

// ---- data statuses --------------------------------------------------------------------------

test('StopIterationAndBuffer presents the whole body next time, with body_size = total', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  const body = Buffer.alloc(3000, 'b');
  const r = await new Promise<Reply>((resolve, reject) => {
    // Three writes: the body may reach the filter in several chunks.
    const req = http.request({ port: p.port, method: 'POST', path: '/', headers: { 'x-tag': 'buffer', 'x-rb': '1', 'content-length': body.length } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: new Headers(res.headers as Record<string, string>), body: text }));
    });
    req.on('error', reject);
    req.write(body.subarray(0, 1000));
    req.write(body.subarray(1000, 2000));
    req.end(body.subarray(2000));
  });
  assert.equal(r.status, 200);
  assert.equal(echoedLength(r), 3000);
  const bodies = bodyEvents((r.headers.get('x-trace') ?? '').split(','), 'request_body');
  assert.deepEqual(bodies.at(-1), { size: 3000, eos: 1 });
  for (let i = 1; i < bodies.length; i++) assert.ok(bodies[i].size >= bodies[i - 1].size, 'the buffered body only grows');
});

test('a request body buffered past per_connection_buffer_limit_bytes answers 413', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow', bufferLimit: LIMIT });
  const r = await get(p.port, '/', { method: 'POST', body: 'x'.repeat(BIG), headers: { 'x-rb': '1' } });
  assert.equal(r.status, 413);
});

test('StopIterationAndWatermark holds body data past the limit with back-pressure instead of 413 until resumed', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow', bufferLimit: LIMIT });
  const r = await get(p.port, '/', {
    method: 'POST',
    body: 'x'.repeat(BIG),
    headers: { 'x-tag': 'watermark', 'x-rb': '2', 'x-resume': 'tick', 'x-resume-at': 'body' },
  });
  assert.equal(r.status, 200);
  assert.equal(echoedLength(r), BIG);
  const trace = await finishedTrace(p.port, 'watermark');
  assert.ok(trace.includes('resume_request(tick)'));
});

test('StopIterationNoBuffer drops the chunks it stops; continuing at end of stream ends an empty body', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  const r = await get(p.port, '/', {
    method: 'POST',
    body: '0123456789',
    headers: { 'x-rb': '3', 'x-rb-eos': '3', 'x-continue-at-eos': '1', 'x-drop-cl': '1' },
  });
  assert.equal(r.status, 200);
  assert.equal(echoedLength(r), 0);
});

test('a data status above 3 is clamped to StopIterationNoBuffer (cpp-host)', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  const r = await get(p.port, '/', {
    method: 'POST',
    body: '0123456789',
    headers: { 'x-rb': '9', 'x-rb-eos': '9', 'x-continue-at-eos': '1', 'x-drop-cl': '1' },
  });
  assert.equal(r.status, 200);
  assert.equal(echoedLength(r), 0);
});

// ---- response direction ---------------------------------------------------------------------

test('StopIteration from response headers holds the response until a tick continues it (proxy_continue_stream(HTTP_RESPONSE))', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  const r = await get(p.port, '/', { headers: { 'x-rsh': '1', 'x-resume-resp': 'tick' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-resp-resumed-by'), 'tick', 'response headers were still open at the tick');
  assert.equal(JSON.parse(r.body).method, 'GET');
});

test('a response body buffered past per_connection_buffer_limit_bytes answers 500', BOUNDED, async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('y'.repeat(BIG)));
  const p = await proxyFor(t, { rootId: 'flow', clusters: [{ name: 'backend', ports: [up.port] }], bufferLimit: LIMIT, pluginExtra: ALLOW_STOP_ITERATION });
  // Headers held (StopIteration passed through), body buffered (StopIterationAndBuffer).
  const r = await get(p.port, '/', { headers: { 'x-rsh': '1', 'x-rsb': '1' } });
  assert.equal(r.status, 500);
});

test('StopAllIterationAndBuffer from response headers past the buffer limit answers 500', BOUNDED, async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('y'.repeat(BIG)));
  const p = await proxyFor(t, { rootId: 'flow', clusters: [{ name: 'backend', ports: [up.port] }], bufferLimit: LIMIT });
  const r = await get(p.port, '/', { headers: { 'x-rsh': '3' } });
  assert.equal(r.status, 500);
});

test(
  'the 500 for an overflowing response buffer goes straight downstream, not back through the response callbacks',
  {
    ...BOUNDED,
  },
  async (t) => {
    const up = await startUpstream(t, (_req, res) => res.end('y'.repeat(BIG)));
    const p = await proxyFor(t, { rootId: 'flow', clusters: [{ name: 'backend', ports: [up.port] }], bufferLimit: LIMIT });
    const r = await get(p.port, '/', { headers: { 'x-rsh': '3', 'x-tag': 'overflow' } });
    assert.equal(r.status, 500);
    const events = await finishedTrace(p.port, 'overflow');
    assert.equal(events.filter((e) => e.startsWith('response_headers')).length, 1, `${events}`);
  },
);

test('StopIteration from response trailers holds the end of the response until a tick continues it', BOUNDED, async (t) => {
  const up = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-t' });
    res.write('with trailers');
    res.addTrailers({ 'x-t': '1' });
    res.end();
  });
  const p = await proxyFor(t, { rootId: 'flow', clusters: [{ name: 'backend', ports: [up.port] }] });
  const r = await get(p.port, '/', { headers: { 'x-tag': 'trailers', 'x-rt': '1', 'x-resume-resp': 'tick' } });
  assert.equal(r.body, 'with trailers');
  const events = await finishedTrace(p.port, 'trailers');
  const at = (e: string) => events.indexOf(e);
  assert.ok(at('response_trailers(1)') > 0, `trailers reached the guest: ${events}`);
  assert.ok(at('response_trailers(1)') < at('resume_response(tick)'));
  assert.ok(at('resume_response(tick)') < at('log'), 'the stream could not end before the tick continued it');
});

test('HTTP/1 request trailers are not delivered to filters (Envoy default: http_protocol_options.enable_trailers false)', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'flow' });
  const raw = await rawRequest(
    p.port,
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ntrailer: x-rt\r\nx-tag: rqt\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-rt: 1\r\n\r\n',
  );
  assert.match(raw, /^HTTP\/1\.1 200/);
  const events = await finishedTrace(p.port, 'rqt');
  assert.ok(!events.some((e) => e.startsWith('request_trailers')), `${events}`);
  assert.equal(bodyEvents(events, 'request_body').at(-1)?.eos, 1, 'the body ends the request instead');
});

// ---- body rewrite (§3.5) --------------------------------------------------------------------

test('a buffered response body is prepended, appended and replaced with proxy_set_buffer_bytes; a start inside it is BadArgument', BOUNDED, async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('upstream-body'));
  const p = await proxyFor(t, { rootId: 'rewrite', clusters: [{ name: 'backend', ports: [up.port] }] });
  const cases: Array<[string, string]> = [
    ['prepend', '<<upstream-body'],
    ['append', 'upstream-body>>'],
    ['replace', 'NEW'],
    ['replace-exact', 'EXACT'],
    ['mid', 'mid=2'],
    ['whole', 'body_size=13;read=13'],
  ];
  for (const [op, expected] of cases) {
    const r = await get(p.port, '/', { headers: { 'x-rewrite': op } });
    assert.equal(r.status, 200, op);
    assert.equal(r.body, expected, op);
  }
  assert.equal((await get(p.port, '/')).body, 'upstream-body', 'untouched without x-rewrite');
});

// ---- header maps (§3.6) ---------------------------------------------------------------------

test('request header map: pairs, size, get, add, replace, remove and set pairs, as the upstream sees them', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'hdrs' });
  const r = await get(p.port, '/h', { headers: { 'x-in': 'hello', 'x-replace-me': 'old', 'x-remove-me': '1', 'x-drop-by-set': '1' } });
  assert.equal(r.status, 200);
  const h = echoed(r);
  assert.ok(Number(h['x-st-req-pairs']) >= 7);
  assert.equal(h['x-st-req-pseudo'], '3', ':method, :path and :authority are in the map');
  const [size, sum] = h['x-st-req-size'].split('/');
  assert.equal(size, sum, 'proxy_get_header_map_size is the sum of key and value lengths');
  assert.equal(h['x-st-req-get-upper'], 'hello', 'keys are lower-cased');
  assert.equal(h['x-st-req-get-missing'], '1', 'NotFound in ABI 0.2.x');
  assert.equal(h['x-st-req-get-bad-map'], '2');
  assert.equal(h['x-st-req-add'], '0,0');
  assert.equal(h['x-multi'], 'one, two', 'add appends');
  assert.equal(h['x-st-req-replace'], '0');
  assert.equal(h['x-replace-me'], 'replaced');
  assert.equal(h['x-st-req-remove'], '0,0', 'removing an absent key is Ok');
  assert.equal(h['x-remove-me'], undefined);
  assert.equal(h['x-st-req-set-pairs'], '0');
  assert.equal(h['x-set-by-pairs'], '1');
  assert.equal(h['x-drop-by-set'], undefined);
  assert.equal(h['x-in'], 'hello');
});

test('response header map: pairs, size, replace, remove, set pairs; request headers can no longer change', BOUNDED, async (t) => {
  const up = await startUpstream(t, (_req, res) => {
    res.setHeader('x-up-replace', 'old');
    res.setHeader('x-up-remove', '1');
    res.end('ok');
  });
  const p = await proxyFor(t, { rootId: 'hdrs', clusters: [{ name: 'backend', ports: [up.port] }] });
  const r = await get(p.port, '/');
  assert.equal(r.headers.get('x-resp-status-pair'), '200', ':status is in the response map');
  const [size, sum] = (r.headers.get('x-resp-size') ?? '').split('/');
  assert.equal(size, sum);
  assert.equal(r.headers.get('x-resp-replace'), '0');
  assert.equal(r.headers.get('x-up-replace'), 'replaced');
  assert.equal(r.headers.get('x-resp-remove'), '0');
  assert.equal(r.headers.get('x-up-remove'), null);
  assert.equal(r.headers.get('x-resp-get-missing'), '1');
  assert.equal(r.headers.get('x-resp-late-request-add'), '2', 'BadArgument: the request headers went upstream (§7.4)');
  assert.equal(r.headers.get('x-resp-set-pairs'), '0');
  assert.equal(r.headers.get('x-resp-set-by-pairs'), '1');
});

test('rewriting :path in request headers clears the route cache: the request goes to the route the new path matches', BOUNDED, async (t) => {
  const backend = await startUpstream(t, echoHandler());
  const other = await startUpstream(t, echoHandler((_req, res) => res.setHeader('x-served-by', 'other')));
  const p = await proxyFor(t, {
    rootId: 'hdrs',
    clusters: [{ name: 'backend', ports: [backend.port] }, { name: 'other', ports: [other.port] }],
    routes: `              - match: { prefix: "/b-only" }
                route: { cluster: other }
              - match: { prefix: "/" }
                route: { cluster: backend }`,
  });
  const r = await get(p.port, '/a', { headers: { 'x-reroute': '/b-only/x' } });
  assert.equal(r.headers.get('x-served-by'), 'other');
  assert.equal(JSON.parse(r.body).url, '/b-only/x');
  const plain = await get(p.port, '/a');
  assert.equal(plain.headers.get('x-served-by'), null);
});

test('rewriting :path from a tick while the request is paused also re-selects the route', BOUNDED, async (t) => {
  const backend = await startUpstream(t, echoHandler());
  const other = await startUpstream(t, echoHandler((_req, res) => res.setHeader('x-served-by', 'other')));
  const p = await proxyFor(t, {
    rootId: 'flow',
    clusters: [{ name: 'backend', ports: [backend.port] }, { name: 'other', ports: [other.port] }],
    routes: `              - match: { prefix: "/b-only" }
                route: { cluster: other }
              - match: { prefix: "/" }
                route: { cluster: backend }`,
  });
  const r = await get(p.port, '/a', { headers: { 'x-rh': '1', 'x-resume': 'tick', 'x-resume-path': '/b-only/from-tick' } });
  assert.equal(r.headers.get('x-served-by'), 'other');
  assert.equal(JSON.parse(r.body).url, '/b-only/from-tick');
});

// ---- stream control and context management (§3.3, §3.8) -------------------------------------

test('stream control and context status codes: continue when not paused is Ok, UPSTREAM Unimplemented, bad types BadArgument, unknown context BadArgument, proxy_done NotFound', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'control' });
  const r = await get(p.port, '/');
  assert.equal(r.status, 200);
  const h = echoed(r);
  assert.equal(h['x-st-continue-request'], '0');
  assert.equal(h['x-st-continue-response'], '0');
  assert.equal(h['x-st-continue-upstream'], '12');
  assert.equal(h['x-st-continue-bad'], '2');
  assert.equal(h['x-st-close-bad'], '2');
  assert.equal(h['x-st-effective-unknown'], '2');
  assert.equal(h['x-st-effective-self'], '0');
  assert.equal(h['x-st-done'], '1', 'proxy_done outside a pending root context (§7.7)');
  assert.equal(h['x-st-status-initial'], '0|', 'proxy_get_status before any call: code 0, no message');
  // Still one ordinary response on a reusable connection.
  assert.equal((await get(p.port, '/')).status, 200);
});

test('buffers outside their callbacks, current time and the Envoy/toolchain helper imports answer as Envoy', BOUNDED, async (t) => {
  const p = await echoProxy(t, {
    rootId: 'control',
    vmExtra: `${VM_INDENT}configuration: { "@type": type.googleapis.com/google.protobuf.StringValue, value: "0123456789" }`,
  });
  const before = BigInt(Date.now()) * 1_000_000n;
  const h = echoed(await get(p.port, '/'));
  const after = BigInt(Date.now()) * 1_000_000n;
  const [stTime, ns] = h['x-st-time'].split('|');
  assert.equal(stTime, '0');
  assert.ok(BigInt(ns) >= before && BigInt(ns) <= after, 'wall-clock nanoseconds');
  assert.equal(h['x-st-vm-config-status'], '0|10', 'VM_CONFIGURATION is always readable');
  assert.equal(h['x-st-vm-config-slice'], '3456');
  assert.equal(h['x-st-vm-config-past-end'], '0|0|0', 'start past the end: Ok with 0/0, nothing allocated');
  assert.equal(h['x-st-vm-config-set'], '2', 'immutable buffer');
  assert.equal(h['x-st-buffer-bad-type'], '2');
  assert.equal(h['x-st-call-body-outside'], '1', 'http-call body only inside on_http_call_response');
  assert.equal(h['x-st-request-body-in-headers'], '0|0', 'the body buffer exists but is empty outside body callbacks');
  assert.equal(h['x-st-call-headers-outside'], '0|0', 'an unavailable map serializes as empty with Ok');
  assert.equal(h['x-st-resolve-dns'], '12', 'envoy_resolve_dns: Unimplemented');
  assert.equal(h['x-st-pthread-equal'], '1,0');
  assert.equal(h['x-st-memory-growth-hook'], 'called');
});

test('proxy_send_local_response: status, body, added headers, details (whitespace ⇒ _); the callback status is overridden to stop', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'control', accessLogFormat: '%RESPONSE_CODE% %RESPONSE_CODE_DETAILS%\n' });
  const r = await get(p.port, '/', { headers: { 'x-local': '1' } });
  assert.equal(r.status, 418);
  assert.equal(r.body, 'short and stout');
  assert.equal(r.headers.get('x-local-header'), 'from-wasm', 'keys are lower-cased');
  assert.deepEqual(await p.accessLog(1), ['418 teapot_details']);
});

test('proxy_close_stream(HTTP_REQUEST) resets the stream: the connection closes without a response', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'control' });
  const raw = await rawRequest(p.port, 'GET / HTTP/1.1\r\nhost: x\r\nx-close: request\r\n\r\n');
  assert.equal(raw, '');
  assert.equal((await get(p.port, '/')).status, 200, 'later streams are unaffected');
});

test('proxy_close_stream(HTTP_RESPONSE) from response headers resets the stream', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'control' });
  const raw = await rawRequest(p.port, 'GET / HTTP/1.1\r\nhost: x\r\nx-close: response\r\n\r\n');
  assert.equal(raw, '');
});

// ---- http calls (§7.1) and proxy_get_status -------------------------------------------------

test('an http call whose upstream resets mid-body is delivered with 0 headers and proxy_get_status code 11 "reset"', BOUNDED, async (t) => {
  const resetter = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('partial', () => res.socket?.destroy());
  });
  const p = await echoProxy(t, { rootId: 'callout', clusters: [{ name: 'resetter', ports: [resetter.port] }] });
  const r = await get(p.port, '/', { headers: { 'x-call-cluster': 'resetter' } });
  assert.equal(r.status, 200);
  const h = echoed(r);
  assert.equal(h['x-st-call-dispatch'], '0');
  // headers|body size|trailers|:status|body|code|message
  assert.equal(h['x-st-call-result'], '0|0|0|none||11|reset');
  assert.equal(h['x-st-call-root'], '1', 'delivered to the root context of the caller');
  // The root's status code keeps its last value; the message was cleared after the callback (§3.8).
  const next = echoed(await get(p.port, '/', { headers: { 'x-call-cluster': 'nope' } }));
  assert.equal(next['x-st-status-before'], '11|');
});

test('an http call that times out is delivered as a synthesized 504 response and proxy_get_status code 0', BOUNDED, async (t) => {
  const silent = await startUpstream(t, () => undefined);
  const p = await echoProxy(t, { rootId: 'callout', clusters: [{ name: 'silent', ports: [silent.port] }] });
  const r = await get(p.port, '/', { headers: { 'x-call-cluster': 'silent', 'x-call-timeout': '50' } });
  const [headers, size, trailers, status, body, code, message] = echoed(r)['x-st-call-result'].split('|');
  assert.ok(Number(headers) > 0);
  assert.equal(status, '504');
  assert.equal(Number(size), body.length);
  assert.equal(trailers, '0');
  assert.equal(code, '0');
  assert.equal(message, '');
});

test('an http call response is still delivered to the root after its stream ended; the stream is no longer a valid effective context', BOUNDED, async (t) => {
  const gate = await gateUpstream(t);
  const p = await echoProxy(t, { rootId: 'callout', clusters: [{ name: 'gate', ports: [gate.port] }] });
  const socket = net.connect(p.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write('GET / HTTP/1.1\r\nhost: x\r\nx-call-cluster: gate\r\nx-tag: orphan\r\n\r\n');
  await gate.arrived;
  socket.destroy();
  // The client is gone: the stream ends (on_delete) while the call is still pending.
  await finishedTrace(p.port, 'orphan');
  gate.release();
  const orphan = await eventually(() => dump(p.port, 'orphan-call'), 5000, 'the late http call response');
  // effective=BadArgument | headers | body size | trailers | :status | body | status code | message
  assert.match(orphan, /^effective=2\|\d+\|9\|0\|200\|gate-open\|0\|$/);
});

test('an http call to an unknown cluster or without :authority is refused with BadArgument', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'callout' });
  assert.equal(echoed(await get(p.port, '/', { headers: { 'x-call-cluster': 'nope' } }))['x-st-call-dispatch'], '2');
  assert.equal(echoed(await get(p.port, '/', { headers: { 'x-call-no-authority': '1' } }))['x-st-call-dispatch'], '2');
});

// ---- timers and queues (§7.5, §3.11) --------------------------------------------------------

test('proxy_on_tick fires repeatedly after proxy_set_tick_period_milliseconds and period 0 stops it', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'tick' });
  const r = await get(p.port, '/', { headers: { 'x-tick': 'start' } });
  assert.equal(echoed(r)['x-st-tick-period'], '0');
  await eventually(async () => ((await dump(p.port, 'ticks')) === '3' ? true : undefined), 5000, '3 ticks');
  // The third tick set the period to 0: more round trips through the worker see no fourth.
  for (let i = 0; i < 5; i++) assert.equal(await dump(p.port, 'ticks'), '3');
});

test('a shared queue registered in on_configure: enqueue from a stream, on_queue_ready at the registrant, dequeue then Empty', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'queue' });
  const r = await get(p.port, '/', { headers: { 'x-enqueue': 'hello' } });
  const h = echoed(r);
  assert.equal(h['x-st-resolve'], '0|same-id', 'an empty vm_id resolves in the current VM');
  assert.equal(h['x-st-resolve-vm'], '0');
  assert.equal(h['x-st-resolve-unknown'], '1');
  assert.equal(h['x-st-enqueue-unknown'], '1');
  assert.equal(h['x-st-dequeue-unknown'], '1');
  assert.equal(h['x-st-enqueue'], '0');
  const result = await eventually(() => dump(p.port, 'queue-result'), 5000, 'on_queue_ready');
  assert.equal(result, 'registrant|same-id|0|hello|7');
});

// ---- properties (§3.7, §5.4) ----------------------------------------------------------------

test('set_property then get_property reads the value back in the same stream; set_property from a root context is NotFound', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'props' });
  const r = await get(p.port, '/');
  assert.equal(echoed(r)['x-st-set-property'], '0|v1');
  assert.equal(r.headers.get('x-root-set-property'), '1');
  assert.equal(echoed(r)['x-st-unknown-property'], '1');
});

test('Envoy attributes: request.headers map, connection.id, url_path, query, time; response.code and request headers in on_log', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'props' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const one = await httpGet(p.port, '/p/q?a=1', { 'x-in': 'hi', 'x-tag': 'props' }, agent);
  const h = JSON.parse(one.body).headers as Record<string, string>;
  const [xin, count] = h['x-st-request-headers-map'].split('|');
  assert.equal(xin, 'hi', 'request.headers is a §5.1 map with lower-case keys');
  assert.ok(Number(count) >= 4);
  assert.equal(h['x-st-request-headers-key'], 'hi');
  assert.equal(h['x-st-url-path'], '/p/q');
  assert.equal(h['x-st-query'], 'a=1');
  assert.equal(h['x-st-time-bytes'], '8');
  assert.equal(h['x-st-absent-header-property'], '1');
  const [connectionId, legacyId] = h['x-st-connection-id'].split('|');
  assert.match(connectionId, /^\d+$/);
  assert.equal(legacyId, connectionId, 'connection_id (legacy) = connection.id');
  const again = JSON.parse((await httpGet(p.port, '/', {}, agent)).body).headers['x-st-connection-id'] as string;
  assert.equal(again.split('|')[0], connectionId, 'same keep-alive connection, same id');
  const fresh = JSON.parse((await httpGet(p.port, '/', {}, false)).body).headers['x-st-connection-id'] as string;
  assert.notEqual(fresh.split('|')[0], connectionId, 'a new connection, a new id');
  assert.equal(one.headers['x-resp-code'], '200', 'response.code in response headers');
  const log = await eventually(() => dump(p.port, 'log/props'), 5000, 'on_log record');
  const fields = Object.fromEntries(log.split(';').map((kv) => kv.split('=')));
  assert.equal(fields.code, '200', 'response.code in on_log');
  assert.equal(fields['x-in'], 'hi', 'request headers are readable in on_log');
  assert.equal(fields.status, '200', 'response headers are readable in on_log');
  assert.equal(fields['duration-bytes'], '8');
});

function httpGet(port: number, path: string, headers: Record<string, string>, agent: http.Agent | false) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.get({ port, host: '127.0.0.1', path, headers, agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

// ---- foreign functions, metrics, logging ----------------------------------------------------

test('foreign functions: compress/uncompress round trip, garbage is SerializationFailure, an unknown name is NotFound', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'foreign' });
  const h = echoed(await get(p.port, '/'));
  assert.equal(h['x-st-compress'], '0|bytes');
  assert.equal(h['x-st-uncompress'], '0|round-trip');
  assert.equal(h['x-st-uncompress-garbage'], '3');
  assert.equal(h['x-st-unknown-foreign'], '1');
});

test('metric status codes: counter delta ≤ 0 and histogram increment/get are BadArgument, unknown ids NotFound, type > 2 BadArgument', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'metrics' });
  const h = echoed(await get(p.port, '/'));
  assert.equal(h['x-st-define-bad-type'], '2');
  assert.equal(h['x-st-ids'], '0,1,2', 'the metric type is in the low two bits of the id');
  assert.equal(h['x-st-counter-inc-0'], '2');
  assert.equal(h['x-st-counter-inc-neg'], '2');
  assert.equal(h['x-st-counter-inc-1'], '0');
  assert.equal(h['x-st-gauge-inc-neg'], '0');
  assert.equal(h['x-st-histogram-inc'], '2');
  assert.equal(h['x-st-histogram-record'], '0');
  assert.equal(h['x-st-histogram-get'], '2');
  assert.equal(h['x-st-unknown-get'], '1');
  assert.equal(h['x-st-unknown-inc'], '1');
  assert.equal(h['x-st-unknown-record'], '1');
  assert.match(h['x-st-counter-get'], /^0\|\d+$/);
});

test('proxy_get_log_level follows the admin /logging level; proxy_log level 6 is BadArgument', BOUNDED, async (t) => {
  const p = await echoProxy(t, { rootId: 'loglevel' });
  const first = echoed(await get(p.port, '/'));
  // startProxy runs silent; Off is reported as Critical (5): SDK enums stop at 5 (§3.2).
  assert.equal(first['x-st-log-level'], '0|5');
  assert.equal(first['x-st-log-6'], '2');
  assert.equal(first['x-st-log-2'], '0');
  const set = await fetch(`http://127.0.0.1:${p.adminPort}/logging?level=debug`, { method: 'POST' });
  assert.equal(set.status, 200);
  await set.text();
  await eventually(async () => (echoed(await get(p.port, '/'))['x-st-log-level'] === '0|1' ? true : undefined), 5000, 'debug level in the worker');
});

// ---- ABI 0.1.0 (§2.1, §2.2, §3.4) -----------------------------------------------------------

async function abi010Proxy(t: TestContext) {
  const up = await startUpstream(t, echoHandler());
  const yaml = proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    filters: wasmFilter({ file: abi010, name: 'old', configuration: 'plugin-cfg' }),
  });
  return startProxy(
    t,
    withVmConfig(yaml, `${VM_INDENT}configuration: { "@type": type.googleapis.com/google.protobuf.StringValue, value: vm-cfg }`),
  );
}

test('an ABI 0.1.0 module: two-parameter header callbacks, proxy_get_configuration, Ok with an empty value for a missing header', BOUNDED, async (t) => {
  const p = await abi010Proxy(t);
  const r = await get(p.port, '/');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-abi'), '0.1.0');
  assert.equal(r.headers.get('x-vm-config'), 'vm-cfg', 'VM configuration in on_vm_start');
  assert.equal(r.headers.get('x-plugin-config'), 'plugin-cfg', 'plugin configuration in on_configure');
  const h = echoed(r);
  assert.equal(h['x-missing-status'], '0', 'Ok, not NotFound, in 0.1.0');
  assert.equal(h['x-missing-size'], '0', 'an empty value is returned as 0/0');
  assert.equal(h['x-clear-route-cache'], '0');
});

test('ABI 0.1.0 proxy_continue_request and proxy_continue_response resume stopped headers', BOUNDED, async (t) => {
  const p = await abi010Proxy(t);
  const r = await get(p.port, '/', { headers: { 'x-stop': '1', 'x-stop-response': '1' } });
  assert.equal(r.status, 200);
  assert.equal(echoed(r)['x-resumed-by'], 'continue_request');
  assert.equal(r.headers.get('x-resp-resumed-by'), 'continue_response');
});

// ---- WASI (§8) ------------------------------------------------------------------------------

const WASI_ENV = `${VM_INDENT}environment_variables: { key_values: { MODE: conformance, GREETING: "hi there" } }`;

function wasiYaml(upstreamPort: number): string {
  return withVmConfig(
    proxyYaml({ clusters: [{ name: 'backend', ports: [upstreamPort] }], filters: wasmFilter({ file: wasi, name: 'wasi' }) }),
    WASI_ENV,
  );
}

test('WASI: environ is vm_config.environment_variables, clocks and random_get answer as cpp-host', BOUNDED, async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, wasiYaml(up.port));
  const before = Date.now();
  const r = await get(p.port, '/', { headers: { 'x-line': 'L0' } });
  const after = Date.now();
  const h = echoed(r);
  assert.equal(h['x-wasi-environ'], 'MODE=conformance;GREETING=hi there');
  const realtimeMs = Number(BigInt(h['x-wasi-realtime']) / 1_000_000n);
  assert.ok(realtimeMs >= before && realtimeMs <= after, `clock 0 is wall-clock time: ${realtimeMs} in [${before}, ${after}]`);
  assert.equal(h['x-wasi-monotonic'], 'ok');
  assert.equal(h['x-wasi-clock-2'], '58', 'NOTSUP for the process CPU clock');
  assert.equal(h['x-wasi-random'], '0,0,differ,28', 'INVAL above 65,536 bytes');
  // errno for fd 1, fd 2, fd 3 (BADF) and the bytes written to fd 1, newline included.
  assert.equal(h['x-wasi-fd-write'], `0,0,8,${'wasi says hello on stdout L0\n'.length}`);
});

test('WASI fd_write to stdout and stderr become log lines at info and error', BOUNDED, async (t) => {
  const up = await startUpstream(t, echoHandler());
  const cli = await runCli(t, wasiYaml(up.port));
  const r = await fetch(`http://127.0.0.1:${cli.port}/`, { headers: { 'x-line': 'L1' } });
  assert.equal(r.status, 200);
  await r.text();
  const lines = await eventually(() => {
    const found = cli
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{') && l.includes('wasi says hello on'))
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    return found.length >= 2 ? found : undefined;
  }, 5000, 'the two fd_write lines');
  const stdout = lines.find((l) => l.msg.endsWith('wasi says hello on stdout L1'));
  const stderr = lines.find((l) => l.msg.endsWith('wasi says hello on stderr L1'));
  assert.equal(stdout?.level, 30, 'fd 1 at info, one trailing newline stripped');
  assert.equal(stderr?.level, 50, 'fd 2 at error');
  assert.ok(!lines.some((l) => l.msg.includes('nobody reads fd 3')));
});
