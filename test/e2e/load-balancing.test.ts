import http from 'node:http';
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
  // p=0.8 of 300: mean 240, sd ~6.9. Outside (200, 275) with probability about 7e-8 (the
  // binomial's lower tail is the longer one: ≤ 205 alone would be 1.2e-6).
  assert.ok(c[0] > 200 && c[0] < 275, `weighted host got ${c[0]} of 300`);
  assert.ok(c[1] > 0 && c[2] > 0);
});

test('LEAST_REQUEST steers traffic away from a host that holds requests', async (t) => {
  const fast = await startUpstream(t, echoHandler((_q, r) => r.setHeader('x-up', '0')));
  // The slow host answers nothing until the test releases it, so its active-request count only
  // grows: the outcome depends on the load balancer's sampling, not on how busy the machine is.
  const held: http.ServerResponse[] = [];
  let arrived: (() => void) | undefined;
  const slow = await startUpstream(t, (req, res) => {
    req.resume();
    held.push(res);
    arrived?.();
  });
  t.after(() => {
    for (const res of held) if (!res.writableEnded) res.end();
  });
  const p = await startProxy(t, yaml('LEAST_REQUEST', [{ port: fast.port }, { port: slow.port }]));
  const pending: Array<Promise<unknown>> = [];
  // Sends one request and returns the host that took it: 0 once the fast host answers, 1 as soon
  // as the slow host has it (its response is left pending).
  const send = async (): Promise<number> => {
    const onSlow = new Promise<number>((resolve) => (arrived = () => resolve(1)));
    const res = request(p.url('/'), { headersTimeout: 30_000, bodyTimeout: 30_000 }).then(async (r) => {
      await r.body.dump();
      return Number(r.headers['x-up']);
    });
    pending.push(res);
    const host = await Promise.race([res, onSlow]);
    arrived = undefined;
    return host;
  };
  // Pin three requests on the slow host; until then both hosts are idle and picks are even.
  let warmup = 0;
  while (held.length < 3) {
    assert.ok(++warmup < 200, 'the slow host never got three requests');
    await send();
  }
  // Now each pick of two (with replacement) lands on the slow host only if both samples do:
  // p = 1/4, so 200 requests send it 50 on average (sd 6.1); round robin or random would send 100.
  let toSlow = 0;
  for (let i = 0; i < 200; i++) toSlow += await send();
  assert.ok(toSlow < 80, `slow host got ${toSlow} of 200 (random would give 100, least request 50)`);
  assert.ok(toSlow > 20, `slow host got ${toSlow} of 200: two choices with replacement should give it about 50`);
  assert.equal(held.length, 3 + toSlow);
  for (const res of held) res.setHeader('x-up', '1').end('slow');
  const hosts = (await Promise.all(pending)) as number[];
  assert.equal(hosts.filter((h) => h === 1).length, held.length);
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
