import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfigText } from '../../runtime/config/load.ts';
import type { AccessLogConfig } from '../../runtime/config/types.ts';
import { assertOneProblem, configYaml, HCM_PATH, indent, lineOf } from './helpers.ts';

const FILE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
const STDERR = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

function withLog(entry: string): string {
  return configYaml({ hcm: `access_log:\n${indent(0, entry)}` });
}

function logsOf(text: string): readonly AccessLogConfig[] {
  return loadConfigText(text, undefined, { baseDir: import.meta.dirname }).bootstrap.static_resources.listeners[0].filter_chains[0].filters[0]
    .http_connection_manager.access_log;
}

describe('access logs', () => {
  test('reads a file access log with a text format', () => {
    const text = withLog(`- name: envoy.access_loggers.file\n  typed_config:\n    "@type": ${FILE}\n    path: /tmp/access.log\n    log_format: { text_format: "%RESPONSE_CODE%\\n", omit_empty_values: true, content_type: text/plain }`);
    assert.deepEqual(logsOf(text), [
      { name: 'envoy.access_loggers.file', sink: 'file', path: '/tmp/access.log', text_format: '%RESPONSE_CODE%\n', omit_empty_values: true, content_type: 'text/plain' },
    ]);
  });

  test('reads json_format as a Struct with its keys unchanged', () => {
    const text = withLog(`- typed_config:\n    "@type": ${STDERR}\n    logFormat: { jsonFormat: { requestId: "%REQ(X-REQUEST-ID)%", nested: { code: "%RESPONSE_CODE%" } } }`);
    assert.deepEqual(logsOf(text), [
      { name: 'envoy.access_loggers.stderr', sink: 'stderr', json_format: { requestId: '%REQ(X-REQUEST-ID)%', nested: { code: '%RESPONSE_CODE%' } } },
    ]);
  });

  test('reads text_format_source from a DataSource', () => {
    const text = withLog(`- typed_config:\n    "@type": ${FILE}\n    path: /dev/stdout\n    log_format: { text_format_source: { inline_string: "%PROTOCOL%" } }`);
    assert.equal(logsOf(text)[0].text_format, '%PROTOCOL%');
  });

  test('accepts the deprecated format and json_format fields of FileAccessLog', () => {
    const text = withLog(`- typed_config: { "@type": ${FILE}, path: a.log, format: "%DURATION%" }\n- typed_config: { "@type": ${FILE}, path: b.log, json_format: { d: "%DURATION%" } }`);
    assert.deepEqual(logsOf(text).map((l) => [l.text_format, l.json_format]), [['%DURATION%', undefined], [undefined, { d: '%DURATION%' }]]);
  });

  test('requires path on a file access log and one format kind', () => {
    const text = withLog(`- typed_config: { "@type": ${FILE} }`);
    assertOneProblem(text, `${HCM_PATH}.access_log[0].typed_config.path`);
    const both = withLog(`- typed_config: { "@type": ${FILE}, path: a, log_format: { text_format: a, json_format: {} } }`);
    assertOneProblem(both, `${HCM_PATH}.access_log[0].typed_config.log_format.json_format`);
  });

  test('rejects access-log filters by name and unknown logger types', () => {
    const filtered = withLog(`- name: x\n  filter: { status_code_filter: {} }\n  typed_config: { "@type": ${STDERR} }`);
    assertOneProblem(filtered, `${HCM_PATH}.access_log[0].filter`, lineOf(filtered, 'status_code_filter'));
    const grpc = withLog('- typed_config: { "@type": type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig }');
    assert.match(assertOneProblem(grpc, `${HCM_PATH}.access_log[0].typed_config`).message, /is not supported by Sluice/);
  });

  test('accepts admin access_log and the deprecated access_log_path', () => {
    const text = configYaml({
      bootstrap: `admin:\n  access_log_path: /tmp/admin.log\n  access_log:\n  - typed_config: { "@type": ${STDERR} }`,
    });
    assert.deepEqual(loadConfigText(text).bootstrap.admin, {
      access_log: [
        { name: 'envoy.access_loggers.stderr', sink: 'stderr' },
        { name: 'envoy.access_loggers.file', sink: 'file', path: '/tmp/admin.log' },
      ],
    });
  });
});
