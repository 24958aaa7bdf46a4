/** Builders for config-loader tests: a minimal valid bootstrap with slots to vary one part. */
import assert from 'node:assert/strict';
import type { ConfigProblem } from '../../runtime/errors.ts';
import { validateConfigText } from '../../runtime/config/load.ts';

export const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const HCM_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
export const VHOST_PATH = `${HCM_PATH}.route_config.virtual_hosts[0]`;
export const ROUTE_PATH = `${VHOST_PATH}.routes[0]`;
export const CLUSTER_PATH = 'static_resources.clusters[0]';

export interface Parts {
  /** Top-level bootstrap fields. */
  bootstrap?: string;
  /** Extra fields of the listener. */
  listener?: string;
  /** Extra fields of the HCM. */
  hcm?: string;
  /** Replaces the http_filters list entries. */
  httpFilters?: string;
  /** Extra fields of the route_config. */
  routeConfig?: string;
  /** Replaces the virtual_hosts list entries. */
  virtualHosts?: string;
  /** Replaces the routes of the single virtual host. */
  routes?: string;
  /** Replaces the clusters list entries. */
  clusters?: string;
}

export const DEFAULT_ROUTES = `- match: { prefix: "/" }
  route: { cluster: backend }`;

export const DEFAULT_CLUSTER = `- name: backend
  connect_timeout: 1s
  load_assignment:
    cluster_name: backend
    endpoints:
    - lb_endpoints:
      - endpoint:
          address:
            socket_address: { address: 127.0.0.1, port_value: 8080 }`;

export function configYaml(p: Parts = {}): string {
  const vhosts =
    p.virtualHosts ??
    `- name: vh
  domains: ["*"]
  routes:
${indent(2, p.routes ?? DEFAULT_ROUTES)}`;
  return `${p.bootstrap ?? ''}
static_resources:
  listeners:
  - name: main
    address:
      socket_address: { address: 127.0.0.1, port_value: 10000 }
${indent(4, p.listener ?? '')}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM_TYPE}
          stat_prefix: ingress
${indent(10, p.hcm ?? '')}
          http_filters:
${indent(10, p.httpFilters ?? '- name: envoy.filters.http.router')}
          route_config:
${indent(12, p.routeConfig ?? '')}
            virtual_hosts:
${indent(12, vhosts)}
  clusters:
${indent(2, p.clusters ?? DEFAULT_CLUSTER)}
`;
}

export function indent(n: number, text: string): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => (l === '' ? l : pad + l))
    .join('\n');
}

/** 1-based line of the `nth` line containing `needle`. */
export function lineOf(text: string, needle: string, nth = 0): number {
  const lines = text.split('\n');
  let seen = 0;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].includes(needle) && seen++ === nth) return i + 1;
  }
  throw new Error(`"${needle}" not found`);
}

export function problemsOf(text: string): ConfigProblem[] {
  return validateConfigText(text, undefined, { baseDir: import.meta.dirname });
}

/** Asserts the text has exactly one problem, at `path` (and `line` when given). */
export function assertOneProblem(text: string, path: string, line?: number): ConfigProblem {
  const problems = problemsOf(text);
  assert.equal(problems.length, 1, `expected one problem, got:\n${JSON.stringify(problems, null, 2)}`);
  assert.equal(problems[0].path, path, problems[0].message);
  if (line !== undefined) assert.equal(problems[0].line, line, problems[0].message);
  return problems[0];
}

export function assertValid(text: string): void {
  assert.deepEqual(problemsOf(text), []);
}
