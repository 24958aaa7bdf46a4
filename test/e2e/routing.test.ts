import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startUpstream, echoHandler, eventually } from '../helpers/servers.ts';
import { proxyYaml, startProxy } from '../helpers/proxy.ts';

interface Echo {
  url: string;
  headers: Record<string, string>;
}

test('picks virtual hosts by Envoy domain precedence and routes by first match', async (t) => {
  const a = await startUpstream(t, echoHandler((_q, r) => r.setHeader('x-up', 'a')));
  const b = await startUpstream(t, echoHandler((_q, r) => r.setHeader('x-up', 'b')));
  const c = await startUpstream(t, echoHandler((_q, r) => r.setHeader('x-up', 'c')));
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [
        { name: 'a', ports: [a.port] },
        { name: 'b', ports: [b.port] },
        { name: 'c', ports: [c.port] },
      ],
      virtualHosts: `
          - name: exact
            domains: ["api.example.com"]
            routes:
              - match: { path: "/exact" }
                route: { cluster: b }
              - match: { prefix: "/" }
                route: { cluster: a }
          - name: suffix
            domains: ["*.example.com"]
            routes:
              - match: { prefix: "/" }
                route: { cluster: b }
          - name: catchall
            domains: ["*"]
            routes:
              - match: { safe_regex: { regex: "/v[0-9]+/.*" } }
                route: { cluster: b }
              - match:
                  prefix: "/h"
                  headers:
                    - name: x-env
                      string_match: { exact: canary }
                route: { cluster: b }
              - match:
                  prefix: "/q"
                  query_parameters:
                    - name: debug
                      present_match: true
                route: { cluster: b }
              - match: { path_separated_prefix: "/sep" }
                route: { cluster: b }
              - match: { prefix: "/" }
                route: { cluster: c }`,
    }),
  );
  const up = async (host: string, path: string, headers: Record<string, string> = {}) => {
    const res = await request(p.url(path), { headers: { host, ...headers } });
    await res.body.dump();
    return res.headers['x-up'];
  };
  assert.equal(await up('api.example.com', '/x'), 'a');
  assert.equal(await up('API.EXAMPLE.COM', '/exact'), 'b');
  assert.equal(await up('www.example.com', '/x'), 'b');
  assert.equal(await up('other.org', '/x'), 'c');
  assert.equal(await up('other.org', '/v2/items'), 'b');
  assert.equal(await up('other.org', '/h', { 'x-env': 'canary' }), 'b');
  assert.equal(await up('other.org', '/h', { 'x-env': 'prod' }), 'c');
  assert.equal(await up('other.org', '/q?debug=1'), 'b');
  assert.equal(await up('other.org', '/q?x=1'), 'c');
  assert.equal(await up('other.org', '/sep/x'), 'b');
  assert.equal(await up('other.org', '/separate'), 'c');
});

test('applies prefix and regex rewrites, host rewrites and keeps x-envoy-original-path', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `
              - match: { prefix: "/api/" }
                route: { cluster: backend, prefix_rewrite: "/", host_rewrite_literal: internal.svc }
              - match: { prefix: "/svc" }
                route:
                  cluster: backend
                  regex_rewrite:
                    pattern: { regex: "^/svc/([^/]+)/(.*)$" }
                    substitution: "/\\\\2/of/\\\\1"`,
    }),
  );
  let res = await request(p.url('/api/users?id=1'));
  let seen = (await res.body.json()) as Echo;
  assert.equal(seen.url, '/users?id=1');
  assert.equal(seen.headers['host'], 'internal.svc');
  assert.equal(seen.headers['x-envoy-original-path'], '/api/users?id=1');
  res = await request(p.url('/svc/alpha/items?x=2'));
  seen = (await res.body.json()) as Echo;
  assert.equal(seen.url, '/items/of/alpha?x=2');
});

test('answers redirects and direct responses locally', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      routes: `
              - match: { prefix: "/old" }
                redirect: { prefix_rewrite: "/new", response_code: PERMANENT_REDIRECT }
              - match: { prefix: "/secure" }
                redirect: { https_redirect: true }
              - match: { path: "/health" }
                direct_response: { status: 200, body: { inline_string: "ok\\n" } }
              - match: { prefix: "/" }
                route: { cluster: backend }`,
    }),
  );
  let res = await request(p.url('/old/page?a=1'), { headers: { host: 'example.com' } });
  assert.equal(res.statusCode, 308);
  assert.equal(res.headers['location'], 'http://example.com/new/page?a=1');
  await res.body.dump();
  res = await request(p.url('/secure/x'), { headers: { host: 'example.com' } });
  assert.equal(res.statusCode, 301);
  assert.equal(res.headers['location'], 'https://example.com/secure/x');
  await res.body.dump();
  res = await request(p.url('/health'));
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'ok\n');
  const stats = await eventually(async () => {
    const t = await (await request(p.admin('/stats'))).body.text();
    return /^http\.ingress\.downstream_rq_completed: 3$/m.test(t) ? t : undefined;
  });
  assert.match(stats, /^http\.ingress\.rq_redirect: 2$/m);
  assert.match(stats, /^http\.ingress\.rq_direct_response: 1$/m);
});

test('adds and removes headers at route, virtual host and route-config level', async (t) => {
  const up = await startUpstream(
    t,
    echoHandler((_q, r) => {
      r.setHeader('x-internal', 'secret');
    }),
  );
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [{ name: 'backend', ports: [up.port] }],
      virtualHosts: `
          - name: default
            domains: ["*"]
            request_headers_to_add:
              - header: { key: x-vhost, value: v }
            response_headers_to_remove: [x-internal]
            routes:
              - match: { prefix: "/" }
                route: { cluster: backend }
                request_headers_to_add:
                  - header: { key: x-route, value: r }
                  - header: { key: x-client, value: replaced }
                    append_action: OVERWRITE_IF_EXISTS_OR_ADD
                request_headers_to_remove: [x-remove-me]
                response_headers_to_add:
                  - header: { key: x-resp, value: "%REQ(x-client)%" }`,
    }),
  );
  const res = await request(p.url('/'), { headers: { 'x-client': 'original', 'x-remove-me': '1' } });
  const seen = (await res.body.json()) as Echo;
  assert.equal(seen.headers['x-route'], 'r');
  assert.equal(seen.headers['x-vhost'], 'v');
  assert.equal(seen.headers['x-client'], 'replaced');
  assert.equal(seen.headers['x-remove-me'], undefined);
  assert.equal(res.headers['x-internal'], undefined);
  assert.equal(res.headers['x-resp'], 'replaced');
});

test('splits traffic over weighted clusters by weight', async (t) => {
  const a = await startUpstream(t, echoHandler((_q, r) => r.setHeader('x-up', 'a')));
  const b = await startUpstream(t, echoHandler((_q, r) => r.setHeader('x-up', 'b')));
  const p = await startProxy(
    t,
    proxyYaml({
      clusters: [
        { name: 'a', ports: [a.port] },
        { name: 'b', ports: [b.port] },
      ],
      routes: `
              - match: { prefix: "/" }
                route:
                  weighted_clusters:
                    clusters:
                      - { name: a, weight: 80 }
                      - { name: b, weight: 20 }`,
    }),
  );
  const counts: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 400; i++) {
    const res = await request(p.url('/'));
    await res.body.dump();
    counts[String(res.headers['x-up'])]++;
  }
  // 400 draws at p=0.8: mean 320, sd 8. Outside (275, 360) with probability about 1.2e-7 (the
  // binomial's lower tail is the longer one: ≤ 280 alone would be 1.3e-6).
  assert.ok(counts.a > 275 && counts.a < 360, `a got ${counts.a} of 400`);
});
