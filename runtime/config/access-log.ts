/**
 * `config.accesslog.v3.AccessLog` → `AccessLogConfig`. Sinks: FileAccessLog, StdoutAccessLog,
 * StderrAccessLog, with `log_format` (SubstitutionFormatString) or the deprecated FileAccessLog
 * `format` / `json_format` / `typed_json_format`. Access-log `filter`s are not implemented yet.
 */
import type { AccessLogConfig } from './types.ts';
import { DATA_SOURCE } from './data-source.ts';
import { bool, message, report, str, struct } from './schema.ts';
import type { Parser } from './schema.ts';
import { registerTypedSchema, TYPED_CONFIG, typeName } from './typed-config.ts';

export const FILE_ACCESS_LOG_TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
export const STDOUT_ACCESS_LOG_TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
export const STDERR_ACCESS_LOG_TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

type LogFormat = Pick<AccessLogConfig, 'text_format' | 'json_format' | 'omit_empty_values' | 'content_type'>;
type Sink = AccessLogConfig['sink'];

const SUBSTITUTION_FORMAT: Parser<LogFormat> = message({
  fields: {
    text_format: str(),
    json_format: struct,
    text_format_source: DATA_SOURCE,
    omit_empty_values: bool,
    content_type: str(),
  },
  unsupported: ['formatters', 'json_format_options'],
  oneOf: [{ fields: ['text_format', 'json_format', 'text_format_source'], required: true }],
  build(f) {
    const { text_format_source, ...rest } = f;
    return text_format_source === undefined ? rest : { ...rest, text_format: text_format_source };
  },
});

const FILE_ACCESS_LOG = message({
  fields: {
    path: str({ minLen: 1 }),
    log_format: SUBSTITUTION_FORMAT,
    format: str(),
    json_format: struct,
    typed_json_format: struct,
  },
  required: ['path'],
  oneOf: [{ fields: ['log_format', 'format', 'json_format', 'typed_json_format'] }],
  build(f): (LogFormat & { path: string }) | undefined {
    if (f.path === undefined) return undefined;
    // Deprecated forms: an empty `format` means Envoy's default format.
    const json = f.json_format ?? f.typed_json_format;
    const legacy: LogFormat = f.format ? { text_format: f.format } : json !== undefined ? { json_format: json } : {};
    return { path: f.path, ...(f.log_format ?? legacy) };
  },
});

const STREAM_ACCESS_LOG = message({
  fields: { log_format: SUBSTITUTION_FORMAT },
  build: (f): LogFormat => ({ ...f.log_format }),
});

const SINKS: Record<string, { sink: Sink; name: string; parser: Parser<LogFormat & { path?: string }> }> = {
  [typeName(FILE_ACCESS_LOG_TYPE_URL)]: { sink: 'file', name: 'envoy.access_loggers.file', parser: FILE_ACCESS_LOG },
  [typeName(STDOUT_ACCESS_LOG_TYPE_URL)]: { sink: 'stdout', name: 'envoy.access_loggers.stdout', parser: STREAM_ACCESS_LOG },
  [typeName(STDERR_ACCESS_LOG_TYPE_URL)]: { sink: 'stderr', name: 'envoy.access_loggers.stderr', parser: STREAM_ACCESS_LOG },
};
for (const [name, { parser }] of Object.entries(SINKS)) registerTypedSchema(name, parser);

/** Loggers whose config may be omitted (selected by name, default format). */
const DEFAULT_BY_NAME: Record<string, Sink> = {
  'envoy.access_loggers.stdout': 'stdout',
  'envoy.access_loggers.stderr': 'stderr',
};

export const ACCESS_LOG: Parser<AccessLogConfig> = message({
  fields: { name: str(), typed_config: TYPED_CONFIG },
  unsupported: ['filter'],
  build(f, m) {
    if (!m.has('typed_config')) {
      const sink = f.name === undefined ? undefined : DEFAULT_BY_NAME[f.name];
      if (sink !== undefined && f.name !== undefined) return { name: f.name, sink };
      report(m.ctx, m.loc('typed_config'), 'missing required field "typed_config"');
      return undefined;
    }
    if (f.typed_config === undefined) return undefined;
    const kind = SINKS[typeName(f.typed_config.type_url)];
    if (kind === undefined) {
      const supported = Object.keys(SINKS).join(', ');
      report(m.ctx, m.loc('typed_config'), `access log type "${f.typed_config.type_url}" is not supported by Sluice; supported: ${supported}`);
      return undefined;
    }
    const config = kind.parser.parse(f.typed_config.value, m.loc('typed_config'), m.ctx);
    return config === undefined ? undefined : { name: f.name || kind.name, sink: kind.sink, ...config };
  },
});

/** Admin's deprecated `access_log_path`. */
export function fileAccessLog(path: string): AccessLogConfig {
  return { name: 'envoy.access_loggers.file', sink: 'file', path };
}
