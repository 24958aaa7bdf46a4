import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'undici';
import { startUpstream, echoHandler, eventually } from '../helpers/servers.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';
import { runCli } from '../helpers/cli.ts';

// Headers the connection manager adds, consumes or strips (docs/envoy-subset.md §C.5) and the
// access log formats that show them (§C.2).

type Seen = { method: string; url: string; headers: IncomingHttpHeaders };

async function seenUpstream(url: string, headers: Record<string, string> = {}): Promise<Seen> {
  const res = await request(url, { headers });
  assert.equal(res.statusCode, 200);
  return (await res.body.json()) as Seen;
}

async function echoProxy(t: Parameters<typeof startUpstream>[0], hcmExtra: string, accessLogFormat?: string) {
  const up = await startUpstream(t, echoHandler());
  return startProxy(t, (dir) =>
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      hcmExtra,
      ...(accessLogFormat === undefined ? {} : { accessLogPath: join(dir, 'access.log'), accessLogFormat }),
    }),
  );
}

test('appends the peer address to x-forwarded-for and marks loopback clients internal with use_remote_address: true', async (t) => {
  const p = await echoProxy(t, '          use_remote_address: true');
  const plain = await seenUpstream(p.url('/a'));
  assert.equal(plain.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(plain.headers['x-envoy-internal'], 'true');
  assert.equal(plain.headers['x-envoy-external-address'], undefined);

  const proxied = await seenUpstream(p.url('/b'), { 'x-forwarded-for': '198.51.100.7' });
  assert.equal(proxied.headers['x-forwarded-for'], '198.51.100.7,127.0.0.1');
  // No trusted hops: the client is the socket peer, which is internal.
  assert.equal(proxied.headers['x-envoy-internal'], 'true');
});

test('treats a public client named by a trusted hop as external: sanitizes x-envoy-* and sets x-envoy-external-address', async (t) => {
  const p = await echoProxy(t, '          use_remote_address: true\n          xff_num_trusted_hops: 1');
  const seen = await seenUpstream(p.url('/ext'), {
    'x-forwarded-for': '203.0.113.50',
    'x-envoy-internal': 'true',
    'x-envoy-retry-on': '5xx',
    'x-request-id': 'client-chosen',
  });
  assert.equal(seen.headers['x-forwarded-for'], '203.0.113.50,127.0.0.1');
  assert.equal(seen.headers['x-envoy-external-address'], '203.0.113.50');
  assert.equal(seen.headers['x-envoy-internal'], undefined);
  assert.equal(seen.headers['x-envoy-retry-on'], undefined);
  // An external request gets a fresh request id (preserve_external_request_id is off).
  assert.notEqual(seen.headers['x-request-id'], 'client-chosen');
  assert.match(String(seen.headers['x-request-id']), /^[0-9a-f-]{36}$/);
});

test('takes the client address from x-forwarded-for with use_remote_address: false and xff_num_trusted_hops', async (t) => {
  const FORMAT = '%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %REQ(:PATH)%\n';
  const p = await echoProxy(t, '          use_remote_address: false\n          xff_num_trusted_hops: 1', FORMAT);
  // One trusted hop: the second address from the right is the client.
  const seen = await seenUpstream(p.url('/one-hop'), { 'x-forwarded-for': '192.0.2.1, 198.51.100.2' });
  // Without use_remote_address the proxy does not append itself.
  assert.equal(seen.headers['x-forwarded-for'], '192.0.2.1, 198.51.100.2');
  // Too few entries for the trusted hops: the socket peer is the client.
  await seenUpstream(p.url('/short'), { 'x-forwarded-for': '198.51.100.2' });
  const lines = await p.accessLog(2);
  assert.equal(lines[0], '192.0.2.1:0 127.0.0.1 /one-hop');
  assert.match(lines[1], /^127\.0\.0\.1:\d+ 127\.0\.0\.1 \/short$/);
});

test('takes the right-most x-forwarded-for entry as the client when no hops are trusted', async (t) => {
  const p = await echoProxy(t, '          use_remote_address: false', '%DOWNSTREAM_REMOTE_ADDRESS%\n');
  await seenUpstream(p.url('/'), { 'x-forwarded-for': '192.0.2.1, 198.51.100.2' });
  assert.deepEqual(await p.accessLog(1), ['198.51.100.2:0']);
});

test('overwrites x-forwarded-proto with http when no hops are trusted and keeps it behind a trusted hop', async (t) => {
  const untrusted = await echoProxy(t, '          use_remote_address: false');
  const a = await seenUpstream(untrusted.url('/'), { 'x-forwarded-proto': 'https' });
  assert.equal(a.headers['x-forwarded-proto'], 'http');

  const trusted = await echoProxy(t, '          use_remote_address: false\n          xff_num_trusted_hops: 1');
  const b = await seenUpstream(trusted.url('/'), { 'x-forwarded-proto': 'https', 'x-forwarded-for': '192.0.2.1, 198.51.100.2' });
  assert.equal(b.headers['x-forwarded-proto'], 'https');
});

test('names itself with server_name on proxied and local replies', async (t) => {
  const up = await startUpstream(t, echoHandler((_req, res) => res.setHeader('server', 'upstream/1.0')));
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `              - match: { prefix: "/api" }\n                route: { cluster: backend }`,
      hcmExtra: '          server_name: my-proxy',
    }),
  );
  const proxied = await request(p.url('/api'));
  assert.equal(proxied.headers['server'], 'my-proxy');
  await proxied.body.dump();
  const local = await request(p.url('/nope'));
  assert.equal(local.statusCode, 404);
  assert.equal(local.headers['server'], 'my-proxy');
  await local.body.dump();
});

for (const [mode, withoutUpstreamServer, title] of [
  ['PASS_THROUGH', undefined, "passes the upstream's server header through, or none, with PASS_THROUGH"],
  ['APPEND_IF_ABSENT', 'my-proxy', "keeps the upstream's server header and adds server_name only when absent with APPEND_IF_ABSENT"],
] as const) {
  test(title, async (t) => {
    const up = await startUpstream(
      t,
      echoHandler((req, res) => {
        if (req.url === '/named') res.setHeader('server', 'upstream/1.0');
      }),
    );
    const p = await startProxy(
      t,
      proxyYaml({
        clusters: [{ name: 'backend', ports: [up.port] }],
        hcmExtra: `          server_name: my-proxy\n          server_header_transformation: ${mode}`,
      }),
    );
    const named = await request(p.url('/named'));
    assert.equal(named.headers['server'], 'upstream/1.0');
    await named.body.dump();
    const anonymous = await request(p.url('/anonymous'));
    assert.equal(anonymous.headers['server'], withoutUpstreamServer);
    await anonymous.body.dump();
  });
}

test('sends requests without x-request-id when generate_request_id is false', async (t) => {
  const p = await echoProxy(t, '          generate_request_id: false');
  const seen = await seenUpstream(p.url('/'));
  assert.equal(seen.headers['x-request-id'], undefined);
  // A client's id still passes through on an internal request.
  const kept = await seenUpstream(p.url('/'), { 'x-request-id': 'from-client' });
  assert.equal(kept.headers['x-request-id'], 'from-client');
});

test('writes json_format access log lines with typed numbers for single operators and strings otherwise', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, (dir) =>
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      hcmExtra: `          access_log:
            - name: envoy.access_loggers.file
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                path: ${JSON.stringify(join(dir, 'access.log'))}
                log_format:
                  json_format:
                    status: "%RESPONSE_CODE%"
                    duration: "%DURATION%"
                    bytes_sent: "%BYTES_SENT%"
                    method: "%REQ(:METHOD)%"
                    path: "%REQ(:PATH)%"
                    missing: "%REQ(X-NOT-SENT)%"
                    status_text: "code=%RESPONSE_CODE%"
                    literal: "fixed"
                    upstream:
                      cluster: "%UPSTREAM_CLUSTER%"
                      host: "%UPSTREAM_HOST%"`,
    }),
  );
  const res = await request(p.url('/json?q=1'), { method: 'PUT', body: 'abc' });
  assert.equal(res.statusCode, 200);
  const body = await res.body.text();
  const [line] = await p.accessLog(1);
  const entry = JSON.parse(line) as Record<string, unknown> & { upstream: Record<string, unknown> };
  assert.deepEqual(Object.keys(entry), ['status', 'duration', 'bytes_sent', 'method', 'path', 'missing', 'status_text', 'literal', 'upstream']);
  assert.equal(entry.status, 200);
  assert.equal(typeof entry.duration, 'number');
  assert.ok(Number.isInteger(entry.duration) && (entry.duration as number) >= 0);
  assert.equal(entry.bytes_sent, Buffer.byteLength(body));
  assert.equal(entry.method, 'PUT');
  assert.equal(entry.path, '/json?q=1');
  assert.equal(entry.missing, null);
  assert.equal(entry.status_text, 'code=200');
  assert.equal(entry.literal, 'fixed');
  assert.deepEqual(entry.upstream, { cluster: 'backend', host: `127.0.0.1:${up.port}` });
});

test('writes access log lines to stdout with envoy.access_loggers.stdout', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const yaml = proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    hcmExtra: `          access_log:
            - name: envoy.access_loggers.stdout
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
                log_format:
                  text_format_source:
                    inline_string: "STDOUT-LOG %RESPONSE_CODE% %REQ(:METHOD)% %REQ(:PATH)% %UPSTREAM_HOST%\\n"`,
  });
  const { child, port, output } = await runCli(t, yaml, ['--concurrency', '1']);
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  const res = await request(`http://127.0.0.1:${port}/to-stdout`);
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  const line = await eventually(
    () => stdout.split('\n').find((l) => l.startsWith('STDOUT-LOG ')),
    5000,
    `the access log line on stdout (output so far: ${output()})`,
  );
  assert.equal(line, `STDOUT-LOG 200 GET /to-stdout 127.0.0.1:${up.port}`);
});

test('writes the default access log format to stdout when the stdout logger has no format', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const yaml = proxyYaml({
    clusters: [{ name: 'backend', ports: [up.port] }],
    hcmExtra: `          access_log:
            - name: envoy.access_loggers.stdout
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`,
  });
  const { child, port, output } = await runCli(t, yaml, ['--concurrency', '1']);
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  const res = await request(`http://127.0.0.1:${port}/default-format`, { headers: { 'user-agent': 'agent/1' } });
  assert.equal(res.statusCode, 200);
  const body = await res.body.text();
  const line = await eventually(
    () => stdout.split('\n').find((l) => l.includes('/default-format')),
    5000,
    `the access log line on stdout (output so far: ${output()})`,
  );
  const m = /^\[(\S+)\] "GET \/default-format HTTP\/1\.1" 200 - 0 (\d+) (\d+) (\d+) "-" "agent\/1" "([0-9a-f-]{36})" "127\.0\.0\.1:(\d+)" "127\.0\.0\.1:(\d+)"$/.exec(line);
  assert.ok(m, line);
  assert.match(m[1], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(Number(m[2]), Buffer.byteLength(body));
  assert.equal(Number(m[6]), port);
  assert.equal(Number(m[7]), up.port);
});

test('answers with connection: close and closes when it replies before the request body was complete', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `              - match: { prefix: "/api" }\n                route: { cluster: backend }`,
    }),
  );
  // 404 (no route) while 90 body bytes are still owed: the connection cannot carry another
  // request, or the client's next request would be read as the rest of this body (Envoy closes).
  const sock = net.connect(p.port, '127.0.0.1');
  t.after(() => sock.destroy());
  let got = '';
  let closed = false;
  sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
  sock.on('error', () => undefined);
  sock.on('close', () => (closed = true));
  sock.write('POST /elsewhere HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789');
  await eventually(() => (got.includes('\r\n\r\n') ? true : undefined), 5000, 'the response head');
  assert.match(got, /^HTTP\/1\.1 404 /);
  assert.match(got, /\r\nconnection: close\r\n/i);
  await eventually(() => (closed ? true : undefined), 5000, 'the proxy to close the connection');
  sock.destroy();
});
