import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, SluiceError } from '../errors.ts';
import {
  JSON_CONTENT_TYPE,
  parseStatsParams,
  PROMETHEUS_CONTENT_TYPE,
  renderPrometheus,
  renderStatsJson,
  renderStatsText,
  TEXT_CONTENT_TYPE,
  type StatsParams,
} from '../stats/render.ts';
import type { StatsSnapshot } from '../stats/snapshot.ts';
import { clustersJson, renderClustersText, socketAddressJson, type ClusterStatus } from './clusters.ts';
import { filterConfigDump } from './config-dump.ts';

export type { ClusterStatus, HostStatus, HostStats, CircuitBreakerThresholdsStatus } from './clusters.ts';

/**
 * Envoy's admin API on the main thread (`source/server/admin/*`), over whatever the supervisor
 * knows. The server owns HTTP, routing, query parsing and Envoy's output formats; every fact comes
 * from `AdminDeps`, which are called per request (never cached here) and must not block.
 */
export interface AdminDeps {
  /** Summed stats of every thread (`StatsReader.snapshot()`). */
  stats(): StatsSnapshot;
  /** `/reset_counters` (`StatsReader.resetCounters()`). */
  resetCounters(): void;
  /**
   * `/server_info` body (`envoy.admin.v3.ServerInfo`): version, state, hot_restart_version,
   * command_line_options, uptime_current_epoch, uptime_all_epochs, node. Printed as given.
   */
  serverInfo(): Record<string, unknown>;
  state(): 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' | 'INITIALIZING';
  /** The full Envoy-shaped dump `{configs: [...]}`; `?resource=`, `?name_regex=`, `?mask=` are applied here. */
  configDump(): Record<string, unknown>;
  clusters(): ClusterStatus[];
  /** Listener name and bound address `ip:port` (the real port when configured with 0). */
  listeners(): Array<{ name: string; address: string }>;
  healthcheckFail(): void;
  healthcheckOk(): void;
  /**
   * Logger levels by name, with Envoy's level names (trace, debug, info, warning, error, critical,
   * off). `set(undefined, level)` sets every logger; `set(name, level)` one; false = unknown logger.
   */
  logging(): { levels: Record<string, string>; set(logger: string | undefined, level: string): boolean };
  /** Called after the `/quitquitquit` reply has been written. */
  quit(): void;
  /** Hot deploy of wasm plugins (`/wasm/plugins...`); absent ⇒ those paths are 404. */
  wasm?: WasmAdmin;
}

/** What `/wasm/plugins` needs (runtime/server/wasm-deploy.ts). */
export interface WasmAdmin {
  status(): Promise<Record<string, unknown>>;
  deploy(name: string, bytes: Uint8Array, source: string): Promise<{ ok: boolean; status?: number } & Record<string, unknown>>;
  rollback(name: string): Promise<{ ok: boolean; status?: number } & Record<string, unknown>>;
}

/** Largest module `POST /wasm/plugins/<name>` accepts. */
export const MAX_WASM_UPLOAD_BYTES = 64 * 1024 * 1024;
const WASM_PREFIX = '/wasm/plugins';

/**
 * `GET /wasm/plugins` lists plugins; `POST /wasm/plugins/<name>` with the module as the body swaps
 * it; `POST /wasm/plugins/<name>/rollback` returns to the previous version. Answers JSON.
 */
async function wasmAdmin(wasm: WasmAdmin, method: string, path: string, body: Buffer): Promise<Reply> {
  const json = (status: number, value: unknown): Reply => ({ status, body: `${JSON.stringify(value, null, 2)}\n`, contentType: 'application/json' });
  if (path === WASM_PREFIX || path === `${WASM_PREFIX}/`) {
    if (method !== 'GET') return text(`Method ${method} not allowed, GET required.`, METHOD_NOT_ALLOWED_STATUS);
    return json(200, await wasm.status());
  }
  const rest = path.slice(WASM_PREFIX.length + 1).split('/').map(decodeURIComponent);
  if (method !== 'POST') return text(`Method ${method} not allowed, POST required.`, METHOD_NOT_ALLOWED_STATUS);
  if (rest.length === 2 && rest[1] === 'rollback') {
    const r = await wasm.rollback(rest[0]);
    return json(r.ok ? 200 : (r.status ?? 400), r);
  }
  if (rest.length !== 1 || rest[0] === '') return text(`invalid path ${path}\n`, 404);
  if (body.length === 0) return json(400, { ok: false, plugin: rest[0], error: 'the request body must be the wasm module' });
  const r = await wasm.deploy(rest[0], body, `admin upload (${body.length} bytes)`);
  return json(r.ok ? 200 : (r.status ?? 400), r);
}

export interface AdminServer {
  server: Server;
  address: { address: string; port: number };
  close(): Promise<void>;
}

/**
 * Envoy answers a GET on a mutating endpoint with 405 and this body (`admin.cc`,
 * `makeRequest`); the Envoy docs say 400. We follow the code.
 */
export const METHOD_NOT_ALLOWED_STATUS = 405;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'];

interface Reply {
  status: number;
  body: string;
  contentType?: string;
  /** Runs once the response has been written (quitquitquit). */
  after?: () => void;
}

interface Handler {
  prefix: string;
  help: string;
  mutates: boolean;
  params?: Array<[string, string]>;
  handle(query: URLSearchParams): Reply | Promise<Reply>;
}

function text(body: string, status = 200): Reply {
  return { status, body, contentType: TEXT_CONTENT_TYPE };
}

/** Protobuf-style pretty JSON, as Envoy prints admin messages (one-space indent). */
function protoJson(value: unknown, status = 200): Reply {
  return { status, body: JSON.stringify(value, null, 1), contentType: JSON_CONTENT_TYPE };
}

function memoryJson(): Record<string, string> {
  const m = process.memoryUsage();
  return {
    allocated: String(m.heapUsed + m.external),
    heap_size: String(m.heapTotal + m.external),
    pageheap_unmapped: '0',
    pageheap_free: String(Math.max(0, m.heapTotal - m.heapUsed)),
    total_thread_cache: '0',
    total_physical_bytes: String(m.rss),
  };
}

async function renderStats(deps: AdminDeps, params: StatsParams): Promise<Reply> {
  const snapshot = deps.stats();
  switch (params.format) {
    case 'json':
      return { status: 200, body: renderStatsJson(snapshot, params), contentType: JSON_CONTENT_TYPE };
    case 'prometheus':
      return { status: 200, body: await renderPrometheus(snapshot, params), contentType: PROMETHEUS_CONTENT_TYPE };
    default:
      return text(renderStatsText(snapshot, params));
  }
}

function loggingReply(deps: AdminDeps, query: URLSearchParams): Reply {
  const log = deps.logging();
  let error: string | undefined;
  const params = [...query].filter(([k, v]) => !((k === 'level' || k === 'paths') && v === ''));
  if (params.length > 1) error = 'invalid number of parameters';
  else if (params.length === 1) {
    const [key, value] = params[0];
    const changes: Array<[string | undefined, string]> = [];
    if (key === 'level') changes.push([undefined, value]);
    else if (key === 'paths') {
      for (const pair of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
        const colon = pair.indexOf(':');
        const name = colon < 0 ? pair : pair.slice(0, colon).trim();
        const level = colon < 0 ? '' : pair.slice(colon + 1).trim();
        if (name === '' || level === '') {
          error = 'empty logger name or empty logger level';
          break;
        }
        changes.push([name, level]);
      }
    } else changes.push([key, value]);
    if (error === undefined) {
      for (const [, level] of changes) if (!LOG_LEVELS.includes(level)) error ??= `unknown logger level: ${level}`;
      for (const [name] of changes) if (name !== undefined && !(name in log.levels)) error ??= 'unknown logger name';
    }
    if (error === undefined) for (const [name, level] of changes) if (!log.set(name, level)) error ??= 'unknown logger name';
  }
  let body = '';
  if (error !== undefined) {
    body +=
      `error: ${error}\n\n` +
      'usage: /logging?<name>=<level> (change single level)\n' +
      'usage: /logging?paths=name1:level1,name2:level2,... (change multiple levels)\n' +
      'usage: /logging?level=<level> (change all levels)\n' +
      `levels: ${LOG_LEVELS.map((l) => `${l} `).join('')}\n`;
  }
  body += 'active loggers:\n';
  const levels = deps.logging().levels;
  for (const name of Object.keys(levels).sort()) body += `  ${name}: ${levels[name]}\n`;
  body += '\n';
  return text(body, error === undefined ? 200 : 400);
}

function makeHandlers(deps: AdminDeps): Handler[] {
  const ok = (fn: () => void): (() => Reply) => () => {
    fn();
    return text('OK\n');
  };
  const handlers: Handler[] = [
    { prefix: '/', help: 'Admin home page', mutates: false, handle: () => ({ status: 200, body: homePage(), contentType: 'text/html; charset=UTF-8' }) },
    {
      prefix: '/clusters',
      help: 'upstream cluster status',
      mutates: false,
      params: [['format', 'File format to use; One of (text, json)']],
      handle: (q) => (q.get('format') === 'json' ? protoJson(clustersJson(deps.clusters())) : text(renderClustersText(deps.clusters()))),
    },
    {
      prefix: '/config_dump',
      help: 'dump current Envoy configs (experimental)',
      mutates: false,
      params: [
        ['resource', 'The resource to dump'],
        ['mask', 'The mask to apply. When both resource and mask are specified, the mask is applied to every element in the desired repeated field so that only a subset of fields are returned. The mask is parsed as a ProtobufWkt::FieldMask'],
        ['name_regex', 'Dump only the currently loaded configurations whose names match the specified regex. Can be used with both resource and mask query parameters.'],
        ['include_eds', 'Dump currently loaded configuration including EDS. See the response definition for more information'],
      ],
      handle: (q) => {
        const r = filterConfigDump(deps.configDump(), q);
        return r.ok ? protoJson(r.dump) : text(r.error, r.status);
      },
    },
    { prefix: '/healthcheck/fail', help: 'cause the server to fail health checks', mutates: true, handle: ok(() => deps.healthcheckFail()) },
    { prefix: '/healthcheck/ok', help: 'cause the server to pass health checks', mutates: true, handle: ok(() => deps.healthcheckOk()) },
    { prefix: '/help', help: 'print out list of admin commands', mutates: false, handle: () => text(helpText()) },
    {
      prefix: '/listeners',
      help: 'print listener info',
      mutates: false,
      params: [['format', 'File format to use; One of (text, json)']],
      handle: (q) => {
        const listeners = deps.listeners();
        if (q.get('format') === 'json') {
          return protoJson({
            listener_statuses: listeners.map((l) => ({ name: l.name, local_address: socketAddressJson(l.address) })),
          });
        }
        return text(listeners.map((l) => `${l.name}::${l.address}\n`).join(''));
      },
    },
    {
      prefix: '/logging',
      help: 'query/change logging levels',
      mutates: true,
      params: [
        ['paths', 'Change multiple logging levels by setting to <logger_name1>:<desired_level1>,<logger_name2>:<desired_level2>.'],
        ['level', `desired logging level; One of (, ${LOG_LEVELS.join(', ')})`],
      ],
      handle: (q) => loggingReply(deps, q),
    },
    { prefix: '/memory', help: 'print current allocation/heap usage', mutates: false, handle: () => protoJson(memoryJson()) },
    {
      prefix: '/quitquitquit',
      help: 'exit the server',
      mutates: true,
      handle: () => ({ ...text('OK\n'), after: () => deps.quit() }),
    },
    {
      prefix: '/ready',
      help: 'print server state, return 200 if LIVE, otherwise return 503',
      mutates: false,
      handle: () => {
        const state = deps.state();
        return text(`${state}\n`, state === 'LIVE' ? 200 : 503);
      },
    },
    { prefix: '/reset_counters', help: 'reset all counters to zero', mutates: true, handle: ok(() => deps.resetCounters()) },
    { prefix: '/server_info', help: 'print server version/status information', mutates: false, handle: () => protoJson(deps.serverInfo()) },
    {
      prefix: '/stats',
      help: 'print server stats',
      mutates: false,
      params: [
        ['usedonly', 'Only include stats that have been written by system since restart'],
        ['filter', 'Regular expression (Google re2) for filtering stats'],
        ['format', 'Format to use; One of (text, json, prometheus)'],
        ['type', 'Stat types to include.; One of (All, Counters, Histograms, Gauges, TextReadouts)'],
      ],
      handle: (q) => {
        const r = parseStatsParams(q);
        return r.ok ? renderStats(deps, r.params) : text(r.error, 400);
      },
    },
    {
      prefix: '/stats/prometheus',
      help: 'print server stats in prometheus format',
      mutates: false,
      params: [
        ['usedonly', 'Only include stats that have been written by system since restart'],
        ['text_readouts', 'Render text_readouts as new gaugues with value 0 (increases Prometheus data size)'],
        ['filter', 'Regular expression (Google re2) for filtering stats'],
      ],
      handle: (q) => {
        const r = parseStatsParams(q);
        return r.ok ? renderStats(deps, { ...r.params, format: 'prometheus' }) : text(r.error, 400);
      },
    },
  ];
  // Envoy matches in registration order but prints help and the home page sorted by path.
  const sorted = [...handlers].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  return handlers;

  function helpText(): string {
    let out = 'admin commands are:\n';
    for (const h of sorted) {
      out += `  ${h.prefix}${h.mutates ? ' (POST)' : ''}: ${h.help}\n`;
      for (const [id, help] of h.params ?? []) out += `      ${id}: ${help}\n`;
    }
    return out;
  }

  function homePage(): string {
    let rows = '';
    for (const h of sorted) {
      if (h.prefix === '/') continue;
      const path = h.prefix.slice(1);
      const link = h.mutates
        ? `<form action='${path}' method='post' class='home-form'><button>${path}</button></form>`
        : `<a href='${path}'>${path}</a>`;
      rows += `<tr class='home-row'><td class='home-data'>${link}</td><td class='home-data'>${escapeHtml(h.help)}</td></tr>\n`;
    }
    return (
      "<!DOCTYPE html>\n<html><head><title>Envoy Admin</title></head><body>\n<table class='home-table'>\n" +
      "<thead><th class='home-data'>Command</th><th class='home-data'>Description</th></thead>\n<tbody>\n" +
      rows +
      '</tbody></table></body></html>\n'
    );
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function send(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, {
    'content-type': reply.contentType ?? TEXT_CONTENT_TYPE,
    'cache-control': 'no-cache, max-age=0',
    'x-content-type-options': 'nosniff',
    server: 'envoy',
  });
  if (reply.after !== undefined) res.once('finish', reply.after);
  res.end(reply.body);
}

/**
 * Starts Envoy's admin API on `address` (port 0 picks a free port; the bound one is returned).
 * Paths match exactly, as in Envoy; unknown paths get 404 with the help text; mutating endpoints
 * need POST. Rejects with SluiceError(LISTEN) when the address cannot be bound.
 */
export function startAdminServer(opts: {
  address: { address: string; port_value: number };
  deps: AdminDeps;
}): Promise<AdminServer> {
  const handlers = makeHandlers(opts.deps);
  const table = new Map(handlers.map((h) => [h.prefix, h]));
  const help = table.get('/help') as Handler;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const method = req.method ?? 'GET';
    if (opts.deps.wasm !== undefined && (path === WASM_PREFIX || path.startsWith(`${WASM_PREFIX}/`))) {
      const wasm = opts.deps.wasm;
      const chunks: Buffer[] = [];
      let size = 0;
      let tooBig = false;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_WASM_UPLOAD_BYTES) tooBig = true;
        else chunks.push(c);
      });
      req.once('end', () => {
        if (tooBig) {
          send(res, text(`module larger than ${MAX_WASM_UPLOAD_BYTES} bytes\n`, 413));
          return;
        }
        wasmAdmin(wasm, method, path, Buffer.concat(chunks)).then(
          (reply) => send(res, reply),
          (err: unknown) => send(res, text(`${path} failed: ${err instanceof Error ? err.message : String(err)}\n`, 500)),
        );
      });
      return;
    }
    // Admin requests carry no body we use; drain it so keep-alive connections stay usable.
    req.resume();
    req.once('end', () => {
      const h = table.get(path);
      if (h === undefined) {
        const body = help.handle(query) as Reply;
        send(res, text(`invalid path. ${body.body}`, 404));
        return;
      }
      if (h.mutates && method !== 'POST') {
        send(res, text(`Method ${method} not allowed, POST required.`, METHOD_NOT_ALLOWED_STATUS));
        return;
      }
      Promise.resolve()
        .then(() => h.handle(query))
        .then(
          (reply) => send(res, reply),
          (err: unknown) => send(res, text(`${h.prefix} failed: ${err instanceof Error ? err.message : String(err)}\n`, 500)),
        );
    });
  });

  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(
        new SluiceError(
          ErrorCode.LISTEN,
          `admin: cannot listen on ${opts.address.address}:${opts.address.port_value}: ${err.message}`,
          { source: 'admin.address', cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen(opts.address.port_value, opts.address.address, () => {
      server.off('error', onError);
      const a = server.address() as AddressInfo;
      resolve({
        server,
        address: { address: a.address, port: a.port },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
