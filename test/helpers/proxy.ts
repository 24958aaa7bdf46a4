import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Sluice } from '../../runtime/server/supervisor.ts';
import { loadConfigText } from '../../runtime/config/load.ts';
import { createLogger } from '../../runtime/log.ts';
import { eventually } from './servers.ts';

export interface ProxyUnderTest {
  sluice: Sluice;
  port: number;
  adminPort: number;
  dir: string;
  url(path?: string): string;
  admin(path: string): string;
  /** Access-log lines written so far (waits until at least `n` exist). */
  accessLog(n?: number): Promise<string[]>;
}

export interface ClusterSpec {
  name: string;
  ports: number[];
  extra?: string;
}

/** Stands for `<the test's temp dir>/access.log`; startProxy fills it in (see `accessLog()`). */
const ACCESS_LOG_IN_TEST_DIR = '@TEST_DIR@/access.log';

/**
 * A bootstrap YAML for one listener (port 0) with the given route_config body, filters and clusters. */
export function proxyYaml(opts: {
  routes?: string;
  virtualHosts?: string;
  clusters: ClusterSpec[];
  hcmExtra?: string;
  filters?: string;
  /** Default: the test dir's access.log when `accessLogFormat` is given, else no access log. */
  accessLogPath?: string;
  accessLogFormat?: string;
}): string {
  const vhosts =
    opts.virtualHosts ??
    `
          - name: default
            domains: ["*"]
            routes:
${opts.routes ?? `              - match: { prefix: "/" }\n                route: { cluster: ${opts.clusters[0]?.name ?? 'backend'} }`}`;
  const accessLogPath = opts.accessLogPath ?? (opts.accessLogFormat === undefined ? undefined : ACCESS_LOG_IN_TEST_DIR);
  const accessLog =
    accessLogPath === undefined
      ? ''
      : `
          access_log:
            - name: envoy.access_loggers.file
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                path: ${JSON.stringify(accessLogPath)}${
                  opts.accessLogFormat === undefined
                    ? ''
                    : `
                log_format:
                  text_format_source:
                    inline_string: ${JSON.stringify(opts.accessLogFormat)}`
                }`;
  const clusters = opts.clusters
    .map(
      (c) => `
    - name: ${c.name}
      type: STATIC
      connect_timeout: 1s
      lb_policy: ROUND_ROBIN${c.extra ? `\n${c.extra}` : ''}
      load_assignment:
        cluster_name: ${c.name}
        endpoints:
          - lb_endpoints:${c.ports
            .map(
              (p) => `
              - endpoint:
                  address:
                    socket_address: { address: 127.0.0.1, port_value: ${p} }`,
            )
            .join('')}`,
    )
    .join('');
  return `
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 0 }
static_resources:
  listeners:
  - name: test_listener
    address:
      socket_address: { address: 127.0.0.1, port_value: 0 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress${accessLog}${opts.hcmExtra ? `\n${opts.hcmExtra}` : ''}
          route_config:
            name: test_routes
            virtual_hosts:${vhosts.replace(/\n/g, '\n    ')}
          http_filters:${opts.filters ?? ''}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:${clusters}
`;
}

/** Starts Sluice in-process (worker threads, real sockets) on a YAML config; stopped when the test ends. */
export async function startProxy(
  t: TestContext,
  yaml: string | ((dir: string) => string),
  opts: { concurrency?: number; preload?: string[]; drainTimeoutMs?: number } = {},
): Promise<ProxyUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
  const text = (typeof yaml === 'string' ? yaml : yaml(dir)).replaceAll(ACCESS_LOG_IN_TEST_DIR, join(dir, 'access.log'));
  const file = join(dir, 'envoy.yaml');
  writeFileSync(file, text);
  const config = loadConfigText(text, file);
  const sluice = await Sluice.start({
    config,
    concurrency: opts.concurrency ?? 1,
    logLevel: 'silent',
    log: createLogger('silent'),
    preload: opts.preload,
    drainTimeoutMs: opts.drainTimeoutMs ?? 1000,
  });
  t.after(async () => {
    await sluice.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = sluice.listeners[0].port;
  const adminPort = sluice.admin?.port ?? 0;
  const logPath = join(dir, 'access.log');
  return {
    sluice,
    port,
    adminPort,
    dir,
    url: (path = '/') => `http://127.0.0.1:${port}${path}`,
    admin: (path) => `http://127.0.0.1:${adminPort}${path}`,
    accessLog: (n = 1) =>
      eventually(
        () => {
          if (!existsSync(logPath)) return undefined;
          const lines = readFileSync(logPath, 'utf8').split('\n').filter((l) => l.length > 0);
          return lines.length >= n ? lines : undefined;
        },
        5000,
        `${n} access log lines`,
      ),
  };
}
