import { hostname } from 'node:os';
import { ErrorCode, SluiceError } from '../errors.ts';
import type { HeaderMap } from '../http/header-map.ts';
import { responseFlagsLong, responseFlagsShort } from '../http/response-flags.ts';
import type { StreamInfo } from '../http/stream-info.ts';
import { compileStrftime } from './strftime.ts';

/**
 * Envoy's substitution formatter (`source/common/formatter/`), for access logs and header values.
 *
 * Contract: a format is parsed and compiled once, at config load, into literal strings and
 * extractor functions; formatting a stream is a loop over those parts, with no parsing and no
 * regex. A format Envoy would reject (unknown operator, bad syntax, parameters where none are
 * allowed) is rejected here with Envoy's message, so configs fail at load time, never per request.
 *
 * Values: an operator yields a string, a number (status, byte counts, durations in whole ms, ports,
 * connection id) or nothing. Nothing prints `-` in text (empty with `omit_empty_values`) and `null`
 * in typed JSON (the key is dropped with `omit_empty_values`).
 */

/** Envoy's default access log format (with its trailing newline). */
export const DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% ' +
  '"%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

export interface FormatConfig {
  text_format?: string;
  json_format?: Record<string, unknown>;
  omit_empty_values?: boolean;
}

export type Formatter = (info: StreamInfo) => string;

type Value = string | number | undefined;
type Extract = (info: StreamInfo) => Value;

interface Operator {
  params: 'none' | 'optional' | 'required';
  length: boolean;
  make(param: string, maxLength: number | undefined): Extract;
}

interface OpPart {
  command: string;
  extract: Extract;
}
type Part = string | OpPart;

class FormatProblem extends Error {}

// ---------- operators ----------

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function simple(f: (i: StreamInfo) => Value): Operator {
  return { params: 'none', length: false, make: () => f };
}

function millis(f: (i: StreamInfo) => number | undefined): Operator {
  return simple((i) => {
    const v = f(i);
    return v === undefined ? undefined : Math.trunc(v);
  });
}

/** `ip:port` / `[v6]:port` → [host, port]; host alone when there is no port. */
function splitAddress(a: string): [string, number | undefined] {
  if (a.startsWith('[')) {
    const close = a.indexOf(']');
    if (close > 0) {
      const port = a.charCodeAt(close + 1) === 58 ? Number(a.slice(close + 2)) : undefined;
      return [a.slice(1, close), Number.isInteger(port) ? port : undefined];
    }
  }
  const colon = a.lastIndexOf(':');
  if (colon < 0 || a.indexOf(':') !== colon) return [a, undefined];
  const port = Number(a.slice(colon + 1));
  return [a.slice(0, colon), Number.isInteger(port) ? port : undefined];
}

/** `<NAME>_ADDRESS`, `<NAME>_ADDRESS_WITHOUT_PORT` and `<NAME>_PORT` for one address source. */
function addressOperators(name: string, get: (i: StreamInfo) => string | undefined): Record<string, Operator> {
  return {
    [`${name}_ADDRESS`]: simple((i) => nonEmpty(get(i))),
    [`${name}_ADDRESS_WITHOUT_PORT`]: simple((i) => {
      const a = nonEmpty(get(i));
      return a === undefined ? undefined : splitAddress(a)[0];
    }),
    [`${name}_PORT`]: simple((i) => {
      const a = nonEmpty(get(i));
      return a === undefined ? undefined : splitAddress(a)[1];
    }),
  };
}

function parseHeaderParam(command: string, param: string): [string, string | undefined] {
  const alts = param.split('?');
  if (alts.length > 2) throw new FormatProblem(`More than 1 alternative header specified in token: ${param}`);
  if (/[\0\r\n]/.test(param)) throw new FormatProblem('Invalid header configuration. Format string contains null or newline.');
  const main = alts[0].trim().toLowerCase();
  const alt = alts.length === 2 ? alts[1].trim().toLowerCase() : undefined;
  if (main === '') throw new FormatProblem(`${command} requires a header name`);
  return [main, alt === '' ? undefined : alt];
}

function headerOperator(command: string, pick: (i: StreamInfo) => HeaderMap | undefined): Operator {
  return {
    params: 'required',
    length: true,
    make(param, maxLength) {
      const [main, alt] = parseHeaderParam(command, param);
      return (i) => {
        const h = pick(i);
        if (h === undefined) return undefined;
        let v = h.get(main);
        if (v === undefined && alt !== undefined) v = h.get(alt);
        if (v === undefined) return undefined;
        return maxLength !== undefined && v.length > maxLength ? v.slice(0, maxLength) : v;
      };
    },
  };
}

const OPERATORS: Record<string, Operator> = {
  START_TIME: {
    params: 'optional',
    length: false,
    make(param) {
      if (param === '') return (i) => new Date(i.startTime).toISOString();
      const fmt = compileStrftime(param);
      return (i) => fmt(i.startTime);
    },
  },
  PROTOCOL: simple((i) => nonEmpty(i.protocol)),
  RESPONSE_CODE: simple((i) => i.responseCode),
  RESPONSE_CODE_DETAILS: simple((i) => i.responseCodeDetails),
  CONNECTION_TERMINATION_DETAILS: simple((i) => i.connectionTerminationDetails),
  RESPONSE_FLAGS: simple((i) => responseFlagsShort(i.responseFlags)),
  RESPONSE_FLAGS_LONG: simple((i) => responseFlagsLong(i.responseFlags)),
  BYTES_RECEIVED: simple((i) => i.bytesReceived),
  BYTES_SENT: simple((i) => i.bytesSent),
  REQUEST_HEADERS_BYTES: simple((i) => i.requestHeaders?.byteSize() ?? 0),
  RESPONSE_HEADERS_BYTES: simple((i) => i.responseHeaders?.byteSize() ?? 0),
  RESPONSE_TRAILERS_BYTES: simple((i) => i.responseTrailers?.byteSize() ?? 0),
  // Envoy's DURATION is the current duration when the stream has not finished sending.
  DURATION: millis((i) => i.lastDownstreamTxMs ?? performance.now() - i.startMonotonic),
  REQUEST_DURATION: millis((i) => i.lastDownstreamRxMs),
  REQUEST_TX_DURATION: millis((i) => i.lastUpstreamTxMs),
  RESPONSE_DURATION: millis((i) => i.firstUpstreamRxMs),
  RESPONSE_TX_DURATION: millis((i) =>
    i.lastDownstreamTxMs === undefined || i.firstUpstreamRxMs === undefined
      ? undefined
      : i.lastDownstreamTxMs - i.firstUpstreamRxMs,
  ),
  UPSTREAM_REQUEST_ATTEMPT_COUNT: simple((i) => i.upstreamRequestAttemptCount),
  ROUTE_NAME: simple((i) => nonEmpty(i.routeName)),
  UPSTREAM_HOST: simple((i) => nonEmpty(i.upstreamHost)),
  // Sluice has no alt_stat_name in StreamInfo yet, so both spell the configured cluster name.
  UPSTREAM_CLUSTER: simple((i) => nonEmpty(i.upstreamCluster)),
  UPSTREAM_CLUSTER_RAW: simple((i) => nonEmpty(i.upstreamCluster)),
  ...addressOperators('UPSTREAM_LOCAL', (i) => i.upstreamLocalAddress),
  ...addressOperators('UPSTREAM_REMOTE', (i) => i.upstreamHost),
  UPSTREAM_TRANSPORT_FAILURE_REASON: simple((i) => nonEmpty(i.upstreamTransportFailureReason)),
  ...addressOperators('DOWNSTREAM_REMOTE', (i) => i.downstreamRemoteAddress),
  ...addressOperators('DOWNSTREAM_DIRECT_REMOTE', (i) => i.downstreamDirectRemoteAddress),
  ...addressOperators('DOWNSTREAM_LOCAL', (i) => i.downstreamLocalAddress),
  CONNECTION_ID: simple((i) => i.connectionId),
  REQ: headerOperator('REQ', (i) => i.requestHeaders),
  RESP: headerOperator('RESP', (i) => i.responseHeaders),
  TRAILER: headerOperator('TRAILER', (i) => i.responseTrailers),
  RESPONSE_TRAILER: headerOperator('RESPONSE_TRAILER', (i) => i.responseTrailers),
  REQUESTED_SERVER_NAME: simple((i) => nonEmpty(i.requestedServerName)),
  HOSTNAME: {
    params: 'none',
    length: false,
    make() {
      const h = hostname();
      return () => h;
    },
  },
  // Envoy prints the local reply body, or an empty string when the reply came from upstream.
  LOCAL_REPLY_BODY: simple((i) => i.localReplyBody ?? ''),
  ENVIRONMENT: {
    params: 'required',
    length: true,
    make(param, maxLength) {
      const v = process.env[param];
      const out = v !== undefined && maxLength !== undefined ? v.slice(0, maxLength) : v;
      return () => out;
    },
  },
};

/** Envoy operators Sluice knows but does not implement (named in the error instead of "unknown"). */
const NOT_IMPLEMENTED = new Set([
  'UPSTREAM_PROTOCOL', 'VIRTUAL_CLUSTER_NAME', 'FILTER_CHAIN_NAME', 'STREAM_ID', 'GRPC_STATUS', 'GRPC_STATUS_NUMBER',
  'DYNAMIC_METADATA', 'CLUSTER_METADATA', 'UPSTREAM_METADATA', 'FILTER_STATE', 'UPSTREAM_FILTER_STATE',
  'UPSTREAM_WIRE_BYTES_SENT', 'UPSTREAM_WIRE_BYTES_RECEIVED', 'UPSTREAM_HEADER_BYTES_SENT', 'UPSTREAM_HEADER_BYTES_RECEIVED',
  'DOWNSTREAM_WIRE_BYTES_SENT', 'DOWNSTREAM_WIRE_BYTES_RECEIVED', 'DOWNSTREAM_HEADER_BYTES_SENT', 'DOWNSTREAM_HEADER_BYTES_RECEIVED',
  'DOWNSTREAM_LOCAL_URI_SAN', 'DOWNSTREAM_PEER_URI_SAN', 'DOWNSTREAM_LOCAL_SUBJECT', 'DOWNSTREAM_PEER_SUBJECT',
  'DOWNSTREAM_PEER_ISSUER', 'DOWNSTREAM_TLS_SESSION_ID', 'DOWNSTREAM_TLS_CIPHER', 'DOWNSTREAM_TLS_VERSION',
  'DOWNSTREAM_PEER_FINGERPRINT_256', 'DOWNSTREAM_PEER_FINGERPRINT_1', 'DOWNSTREAM_PEER_SERIAL', 'DOWNSTREAM_PEER_CERT',
  'DOWNSTREAM_PEER_CERT_V_START', 'DOWNSTREAM_PEER_CERT_V_END', 'UPSTREAM_PEER_SUBJECT', 'UPSTREAM_PEER_ISSUER',
  'UPSTREAM_TLS_SESSION_ID', 'UPSTREAM_TLS_CIPHER', 'UPSTREAM_TLS_VERSION', 'UPSTREAM_PEER_CERT',
  'UPSTREAM_PEER_CERT_V_START', 'UPSTREAM_PEER_CERT_V_END',
]);

// ---------- parsing ----------

// Envoy's commandWithArgsRegex: %COMMAND(SUBCOMMAND):LENGTH%
const COMMAND = /%((?:[A-Z]|[0-9]|_)+)(?:\(([^)]*)\))?(?::([0-9]+))?%/y;

function parse(format: string): Part[] {
  const parts: Part[] = [];
  let lit = '';
  let pos = 0;
  while (pos < format.length) {
    const c = format.charCodeAt(pos);
    if (c !== 37 /* % */) {
      lit += format[pos++];
      continue;
    }
    if (format.charCodeAt(pos + 1) === 37) {
      lit += '%';
      pos += 2;
      continue;
    }
    COMMAND.lastIndex = pos;
    const m = COMMAND.exec(format);
    if (m === null) {
      throw new FormatProblem(`Incorrect configuration: ${format}. Couldn't find valid command at position ${pos}`);
    }
    const [whole, command, param, length] = m;
    const op = OPERATORS[command];
    if (op === undefined) {
      if (NOT_IMPLEMENTED.has(command)) {
        throw new FormatProblem(`%${command}% is an Envoy command operator that Sluice does not implement`);
      }
      throw new FormatProblem(`Not supported field in StreamInfo: ${command}`);
    }
    const hasParam = param !== undefined && param !== '';
    if (op.params === 'none' && (hasParam || length !== undefined)) {
      throw new FormatProblem(`${command} does not take any parameters or length`);
    }
    if (op.params === 'required' && !hasParam) throw new FormatProblem(`${command} requires parameters`);
    if (!op.length && length !== undefined) {
      throw new FormatProblem(`${command} does not allow length to be specified.`);
    }
    if (lit !== '') parts.push(lit);
    lit = '';
    parts.push({ command, extract: op.make(param ?? '', length === undefined ? undefined : Number(length)) });
    pos += whole.length;
  }
  if (lit !== '') parts.push(lit);
  return parts;
}

function configError(message: string, cause?: unknown): SluiceError {
  return new SluiceError(ErrorCode.CONFIG_INVALID, message, { cause });
}

function parseOrThrow(format: string, where: string): Part[] {
  try {
    return parse(format);
  } catch (e) {
    if (e instanceof FormatProblem) throw configError(`${where}: ${e.message}`, e);
    throw e;
  }
}

/**
 * Checks one format string as the config loader and `sluice validate` need it: undefined when
 * valid, else Envoy's message (`Not supported field in StreamInfo: FOO`).
 */
export function validateFormat(template: string): string | undefined {
  try {
    parse(template);
    return undefined;
  } catch (e) {
    if (e instanceof FormatProblem) return e.message;
    throw e;
  }
}

// ---------- text ----------

function textRenderer(parts: readonly Part[], missing: string): (info: StreamInfo) => string {
  if (parts.length === 1 && typeof parts[0] === 'string') {
    const s = parts[0];
    return () => s;
  }
  const n = parts.length;
  return (info) => {
    let out = '';
    for (let k = 0; k < n; k++) {
      const p = parts[k];
      if (typeof p === 'string') {
        out += p;
        continue;
      }
      const v = p.extract(info);
      out += v === undefined ? missing : typeof v === 'number' ? String(v) : v;
    }
    return out;
  };
}

// ---------- JSON ----------

/** Renders one JSON value; undefined means "drop this key" (omit_empty_values only). */
type JsonRender = (info: StreamInfo) => string | undefined;

function typedJson(v: Value): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  return JSON.stringify(v);
}

function compileJsonValue(value: unknown, omit: boolean, path: string): JsonRender {
  if (typeof value === 'string') {
    const parts = parseOrThrow(value, path);
    if (parts.length === 0) return () => '""';
    if (parts.every((p) => typeof p === 'string')) {
      const s = JSON.stringify(parts.join(''));
      return () => s;
    }
    if (parts.length === 1) {
      // Exactly one operator: a typed value (number stays a number, nothing is null).
      const extract = (parts[0] as OpPart).extract;
      return omit ? (info) => typedJson(extract(info)) : (info) => typedJson(extract(info)) ?? 'null';
    }
    const text = textRenderer(parts, omit ? '' : '-');
    return (info) => JSON.stringify(text(info));
  }
  if (value === null || value === undefined) return omit ? () => undefined : () => 'null';
  if (typeof value === 'number' || typeof value === 'boolean') {
    const s = JSON.stringify(value);
    return () => s;
  }
  if (Array.isArray(value)) {
    const items = value.map((v, k) => compileJsonValue(v, omit, `${path}[${k}]`));
    return (info) => {
      let out = '[';
      for (let k = 0; k < items.length; k++) out += (k === 0 ? '' : ',') + (items[k](info) ?? 'null');
      return `${out}]`;
    };
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).map(
      ([k, v]): [string, JsonRender] => [`${JSON.stringify(k)}:`, compileJsonValue(v, omit, `${path}.${k}`)],
    );
    return (info) => {
      let out = '{';
      let first = true;
      for (const [key, render] of entries) {
        const s = render(info);
        if (s === undefined) continue;
        out += first ? key + s : `,${key}${s}`;
        first = false;
      }
      return `${out}}`;
    };
  }
  throw configError(`${path}: unsupported JSON value of type ${typeof value}; expected a string, number, bool, list or object`);
}

// ---------- public ----------

/**
 * Compiles an access log format (Envoy `SubstitutionFormatString` subset) once, at config load.
 * - neither `text_format` nor `json_format`: Envoy's default format, newline included;
 * - `text_format`: used verbatim — like Envoy, no newline is added (write `\n` in the format);
 * - `json_format`: one JSON object per line, keys in config order, nested objects and lists
 *   allowed; a value that is exactly one operator is typed (`"%DURATION%"` → number, nothing →
 *   null), anything else is a string.
 * Throws SluiceError(CONFIG_INVALID) naming the bad operator.
 */
export function compileFormat(cfg: FormatConfig): Formatter {
  const omit = cfg.omit_empty_values === true;
  if (cfg.text_format !== undefined && cfg.json_format !== undefined) {
    throw configError('log_format: text_format and json_format are mutually exclusive; set one');
  }
  if (cfg.json_format !== undefined) {
    if (cfg.json_format === null || typeof cfg.json_format !== 'object' || Array.isArray(cfg.json_format)) {
      throw configError('json_format: expected an object (Struct) of format strings');
    }
    const render = compileJsonValue(cfg.json_format, omit, 'json_format');
    return (info) => `${render(info) ?? '{}'}\n`;
  }
  const format = cfg.text_format ?? DEFAULT_FORMAT;
  return textRenderer(parseOrThrow(format, cfg.text_format === undefined ? 'default format' : 'text_format'), omit ? '' : '-');
}

/**
 * A header value with substitution operators (route `request_headers_to_add` etc.; Envoy uses the
 * same operators there, `%%` is a literal `%`, and a missing value becomes an empty string).
 * Returns undefined when the value contains no `%`, so callers use the literal as is.
 * Throws SluiceError(CONFIG_INVALID) for an invalid value.
 */
export function compileHeaderValueTemplate(template: string): Formatter | undefined {
  if (!template.includes('%')) return undefined;
  return textRenderer(parseOrThrow(template, `header value "${template}"`), '');
}
