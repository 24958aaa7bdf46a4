import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startUpstream, echoHandler } from '../helpers/servers.ts';
import { startProxy } from '../helpers/proxy.ts';

async function backends(t: Parameters<typeof startUpstream>[0], n: number) {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await startUpstream(t, echoHandler((_q, r) => r.setHeader('x-up', String(i))))).port);
  return out;
}

function yaml(policy: string, endpoints: Array<{ port: number; weight?: number; address?: string }>, type = 'STATIC', routeExtra = ''): string {
  return `
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: lb
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: pool${routeExtra} }
          http_filters:
          - name: envoy.filters.http.router
  clusters:
  - name: pool
    type: ${type}
    lb_policy: ${policy}
    load_assignment:
      cluster_name: pool
      endpoints:
      - lb_endpoints:${endpoints
        .map(
          (e) => `
        - endpoint: { address: { socket_address: { address: ${e.address ?? '127.0.0.1'}, port_value: ${e.port} } } }${
            e.weight ? `\n          load_balancing_weight: ${e.weight}` : ''
          }`,
        )
        .join('')}
`;
}

async function spread(url: string, n: number): Promise<number[]> {
  const counts: number[] = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const res = await request(url);
    await res.body.dump();
    counts[Number(res.headers['x-up'])]++;
  }
  return counts;
}

test('ROUND_ROBIN cycles through hosts evenly', async (t) => {
  const ports = await backends(t, 3);
  const p = await startProxy(t, yaml('ROUND_ROBIN', ports.map((port) => ({ port }))));
  assert.deepEqual(await spread(p.url('/'), 30), [10, 10, 10]);
});

test('ROUND_ROBIN honours endpoint weights exactly over a cycle', async (t) => {
  const ports = await backends(t, 3);
  const p = await startProxy(t, yaml('round_robin', [{ port: ports[0], weight: 3 }, { port: ports[1], weight: 1 }, { port: ports[2], weight: 1 }]));
  assert.deepEqual(await spread(p.url('/'), 50), [30, 10, 10]);
});

test('RANDOM honours endpoint weights', async (t) => {
  const ports = await backends(t, 3);
  const p = await startProxy(t, yaml('RANDOM', [{ port: ports[0], weight: 8 }, { port: ports[1], weight: 1 }, { port: ports[2], weight: 1 }]));
  const c = await spread(p.url('/'), 300);
  // p=0.8 of 300: mean 240, sd ~6.9.
  assert.ok(c[0] > 205 && c[0] < 275, `weighted host got ${c[0]} of 300`);
  assert.ok(c[1] > 0 && c[2] > 0);
});

test('LEAST_REQUEST steers traffic away from a host that holds requests longer', async (t) => {
  const fast = await startUpstream(t, echoHandler((_q, r) => r.setHeader('x-up', '0')));
  const slow = await startUpstream(t, (req, res) => {
    req.resume();
    setTimeout(() => {
      res.setHeader('x-up', '1');
      res.end('slow');
    }, 40);
  });
  const p = await startProxy(t, yaml('LEAST_REQUEST', [{ port: fast.port }, { port: slow.port }]));
  // Four clients each send requests back to back: the slow host accumulates active requests,
  // so power-of-two-choices sends it far less than the half round robin would.
  const counts = [0, 0];
  await Promise.all(
    [0, 1, 2, 3].map(async () => {
      for (let i = 0; i < 40; i++) {
        const res = await request(p.url('/'));
        await res.body.dump();
        counts[Number(res.headers['x-up'])]++;
      }
    }),
  );
  assert.equal(counts[0] + counts[1], 160);
  assert.ok(counts[1] < 56, `slow host got ${counts[1]} of 160 (round robin would give 80)`);
});

test('STRICT_DNS resolves hostnames into hosts', async (t) => {
  const ports = await backends(t, 1);
  const p = await startProxy(t, yaml('ROUND_ROBIN', [{ port: ports[0], address: 'localhost' }], 'STRICT_DNS'));
  const res = await request(p.url('/'));
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  const clusters = await (await request(p.admin('/clusters'))).body.text();
  assert.match(clusters, new RegExp(`^pool::(127\\.0\\.0\\.1|\\[::1\\]):${ports[0]}::hostname::localhost$`, 'm'));
});

test('LOGICAL_DNS uses the first address of its one hostname', async (t) => {
  const ports = await backends(t, 1);
  const p = await startProxy(t, yaml('ROUND_ROBIN', [{ port: ports[0], address: 'localhost' }], 'LOGICAL_DNS'));
  for (let i = 0; i < 3; i++) {
    const res = await request(p.url('/'));
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }
  const clusters = await (await request(p.admin('/clusters'))).body.text();
  const hosts = clusters.split('\n').filter((l) => l.endsWith('::hostname::localhost'));
  assert.equal(hosts.length, 1, clusters);
});

test('auto_host_rewrite sends the DNS hostname of the chosen host as the Host header', async (t) => {
  const up = await startUpstream(t, echoHandler());
  const p = await startProxy(t, yaml('ROUND_ROBIN', [{ port: up.port, address: 'localhost' }], 'LOGICAL_DNS', ', auto_host_rewrite: true'));
  const res = await request(p.url('/'), { headers: { host: 'public.example.com' } });
  const seen = (await res.body.json()) as { headers: Record<string, string> };
  assert.equal(seen.headers['host'], 'localhost');
});
