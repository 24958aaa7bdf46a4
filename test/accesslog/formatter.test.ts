import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { test } from 'node:test';
import {
  compileFormat,
  compileHeaderValueTemplate,
  DEFAULT_FORMAT,
  validateFormat,
} from '../../runtime/accesslog/formatter.ts';
import { HeaderMap } from '../../runtime/http/header-map.ts';
import { ResponseFlag } from '../../runtime/http/response-flags.ts';
import { newStreamInfo, type StreamInfo } from '../../runtime/http/stream-info.ts';

/** The stream of Envoy's documented default-format example, filled in by hand. */
function fullInfo(): StreamInfo {
  const i = newStreamInfo({
    protocol: 'HTTP/2',
    connectionId: 42,
    downstreamRemoteAddress: '10.0.35.28:0',
    downstreamDirectRemoteAddress: '192.168.1.7:51234',
    downstreamLocalAddress: '10.0.0.1:10000',
    startTime: Date.UTC(2016, 3, 15, 20, 17, 0, 310),
    startMonotonic: 1000,
  });
  i.requestHeaders = new HeaderMap([
    ':method', 'POST',
    ':path', '/api/v1/locations',
    ':authority', 'locations',
    'user-agent', 'nsq2http',
    'x-request-id', 'cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2',
    'x-forwarded-for', '10.0.35.28',
  ]);
  i.responseHeaders = new HeaderMap([':status', '204', 'x-envoy-upstream-service-time', '100', 'content-type', 'text/plain']);
  i.responseTrailers = new HeaderMap(['grpc-status', '0']);
  i.responseCode = 204;
  i.responseCodeDetails = 'via_upstream';
  i.responseFlags = 0;
  i.bytesReceived = 154;
  i.bytesSent = 0;
  i.lastDownstreamRxMs = 12.7;
  i.lastUpstreamTxMs = 13.2;
  i.firstUpstreamRxMs = 120.9;
  i.lastDownstreamTxMs = 226.8;
  i.routeName = 'locations_route';
  i.virtualHostName = 'backend';
  i.upstreamHost = '10.0.2.1:80';
  i.upstreamCluster = 'locations';
  i.upstreamLocalAddress = '10.0.0.1:40000';
  i.upstreamTransportFailureReason = undefined;
  i.upstreamRequestAttemptCount = 1;
  i.requestedServerName = 'api.example.com';
  i.localReplyBody = undefined;
  i.connectionTerminationDetails = undefined;
  return i;
}

const text = (fmt: string, info = fullInfo()) => compileFormat({ text_format: fmt })(info);

test('the default format renders Envoy documented example line, newline included', () => {
  assert.equal(
    compileFormat({})(fullInfo()),
    '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" ' +
      '"cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "10.0.2.1:80"\n',
  );
});

test('the default format prints - for everything a stream without a response lacks', () => {
  const i = newStreamInfo({
    protocol: 'HTTP/1.1',
    connectionId: 1,
    downstreamRemoteAddress: '127.0.0.1:5000',
    downstreamDirectRemoteAddress: '127.0.0.1:5000',
    downstreamLocalAddress: '127.0.0.1:10000',
    startTime: Date.UTC(2024, 0, 2, 3, 4, 5, 6),
  });
  i.requestHeaders = new HeaderMap([':method', 'GET', ':path', '/x']);
  i.responseFlags = ResponseFlag.DownstreamConnectionTermination;
  i.lastDownstreamTxMs = 5;
  assert.equal(compileFormat({})(i), '[2024-01-02T03:04:05.006Z] "GET /x HTTP/1.1" 0 DC 0 0 5 - "-" "-" "-" "-" "-"\n');
});

test('a custom text_format is used verbatim, without an added newline', () => {
  assert.equal(text('%RESPONSE_CODE%'), '204');
  assert.equal(text('code=%RESPONSE_CODE%\n'), 'code=204\n');
  assert.equal(DEFAULT_FORMAT.endsWith('\n'), true);
});

const operators: Array<[string, string]> = [
  ['%START_TIME%', '2016-04-15T20:17:00.310Z'],
  ['%PROTOCOL%', 'HTTP/2'],
  ['%RESPONSE_CODE%', '204'],
  ['%RESPONSE_CODE_DETAILS%', 'via_upstream'],
  ['%CONNECTION_TERMINATION_DETAILS%', '-'],
  ['%RESPONSE_FLAGS%', '-'],
  ['%RESPONSE_FLAGS_LONG%', '-'],
  ['%BYTES_RECEIVED%', '154'],
  ['%BYTES_SENT%', '0'],
  ['%DURATION%', '226'],
  ['%REQUEST_DURATION%', '12'],
  ['%REQUEST_TX_DURATION%', '13'],
  ['%RESPONSE_DURATION%', '120'],
  ['%RESPONSE_TX_DURATION%', '105'],
  ['%UPSTREAM_REQUEST_ATTEMPT_COUNT%', '1'],
  ['%ROUTE_NAME%', 'locations_route'],
  ['%UPSTREAM_HOST%', '10.0.2.1:80'],
  ['%UPSTREAM_CLUSTER%', 'locations'],
  ['%UPSTREAM_CLUSTER_RAW%', 'locations'],
  ['%UPSTREAM_LOCAL_ADDRESS%', '10.0.0.1:40000'],
  ['%UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', '10.0.0.1'],
  ['%UPSTREAM_LOCAL_PORT%', '40000'],
  ['%UPSTREAM_REMOTE_ADDRESS%', '10.0.2.1:80'],
  ['%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '10.0.2.1'],
  ['%UPSTREAM_REMOTE_PORT%', '80'],
  ['%UPSTREAM_TRANSPORT_FAILURE_REASON%', '-'],
  ['%DOWNSTREAM_REMOTE_ADDRESS%', '10.0.35.28:0'],
  ['%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '10.0.35.28'],
  ['%DOWNSTREAM_REMOTE_PORT%', '0'],
  ['%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%', '192.168.1.7:51234'],
  ['%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%', '192.168.1.7'],
  ['%DOWNSTREAM_DIRECT_REMOTE_PORT%', '51234'],
  ['%DOWNSTREAM_LOCAL_ADDRESS%', '10.0.0.1:10000'],
  ['%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', '10.0.0.1'],
  ['%DOWNSTREAM_LOCAL_PORT%', '10000'],
  ['%CONNECTION_ID%', '42'],
  ['%REQ(:METHOD)%', 'POST'],
  ['%REQ(:path)%', '/api/v1/locations'],
  ['%REQ(User-Agent)%', 'nsq2http'],
  ['%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', '/api/v1/locations'],
  ['%REQ(X-MISSING)%', '-'],
  ['%RESP(CONTENT-TYPE)%', 'text/plain'],
  ['%RESP(:status)%', '204'],
  ['%TRAILER(GRPC-STATUS)%', '0'],
  ['%RESPONSE_TRAILER(grpc-status)%', '0'],
  ['%REQUESTED_SERVER_NAME%', 'api.example.com'],
  ['%HOSTNAME%', hostname()],
  ['%LOCAL_REPLY_BODY%', ''],
  ['%REQUEST_HEADERS_BYTES%', String(':methodPOST:path/api/v1/locations:authoritylocationsuser-agentnsq2httpx-request-idcc21d9b0-cf5c-432b-8c7e-98aeb7988cd2x-forwarded-for10.0.35.28'.length)],
  ['%RESPONSE_HEADERS_BYTES%', String(':status204x-envoy-upstream-service-time100content-typetext/plain'.length)],
  ['%RESPONSE_TRAILERS_BYTES%', String('grpc-status0'.length)],
  ['100%%', '100%'],
];

for (const [op, expected] of operators) {
  test(`${op} renders ${JSON.stringify(expected)}`, () => {
    assert.equal(text(op), expected);
  });
}

test('address operators handle IPv6 addresses', () => {
  const i = fullInfo();
  i.downstreamDirectRemoteAddress = '[::1]:8443';
  assert.equal(text('%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_DIRECT_REMOTE_PORT%', i), '::1 8443');
});

test('response flags print short and long names joined with commas', () => {
  const i = fullInfo();
  i.responseFlags = ResponseFlag.UpstreamConnectionFailure | ResponseFlag.UpstreamRetryLimitExceeded;
  assert.equal(text('%RESPONSE_FLAGS% %RESPONSE_FLAGS_LONG%', i), 'UF,URX UpstreamConnectionFailure,UpstreamRetryLimitExceeded');
});

test('local reply body, termination details and transport failure reason print when set', () => {
  const i = fullInfo();
  i.localReplyBody = 'no healthy upstream';
  i.connectionTerminationDetails = 'idle_timeout';
  i.upstreamTransportFailureReason = 'TLS error: handshake';
  assert.equal(
    text('%LOCAL_REPLY_BODY%|%CONNECTION_TERMINATION_DETAILS%|%UPSTREAM_TRANSPORT_FAILURE_REASON%', i),
    'no healthy upstream|idle_timeout|TLS error: handshake',
  );
});

test('durations are whole milliseconds, truncated', () => {
  const i = fullInfo();
  i.lastDownstreamTxMs = 0.999;
  assert.equal(text('%DURATION%', i), '0');
  i.lastDownstreamRxMs = undefined;
  assert.equal(text('%REQUEST_DURATION%', i), '-');
});

test('%REQ(X?Y):Z% falls back to Y and truncates to Z characters', () => {
  assert.equal(text('%REQ(X-REQUEST-ID):8%'), 'cc21d9b0');
  assert.equal(text('%REQ(X-ENVOY-ORIGINAL-PATH?:PATH):4%'), '/api');
  assert.equal(text('%REQ(:path):100%'), '/api/v1/locations');
  const i = fullInfo();
  i.requestHeaders?.add('x-envoy-original-path', '/original');
  assert.equal(text('%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', i), '/original');
});

test('%ENVIRONMENT(X):Z% reads the variable when the format is compiled', () => {
  process.env.SLUICE_TEST_ENV_VALUE = 'staging-eu-west';
  const f = compileFormat({ text_format: '%ENVIRONMENT(SLUICE_TEST_ENV_VALUE)% %ENVIRONMENT(SLUICE_TEST_ENV_VALUE):7% %ENVIRONMENT(SLUICE_NOT_SET_ANYWHERE)%' });
  delete process.env.SLUICE_TEST_ENV_VALUE;
  assert.equal(f(fullInfo()), 'staging-eu-west staging -');
});

test('%START_TIME(fmt)% supports strftime, %s and fractional seconds in UTC', () => {
  assert.equal(text('%START_TIME(%Y/%m/%d %H:%M:%S)%'), '2016/04/15 20:17:00');
  assert.equal(text('%START_TIME(%s)%'), '1460751420');
  assert.equal(text('%START_TIME(%s.%3f)%'), '1460751420.310');
  assert.equal(text('%START_TIME(%6f|%9f|%1f|%f)%'), '310000|310000000|3|310000000');
  assert.equal(text('%START_TIME(%Y-%m-%dT%H:%M:%E3SZ)%'), '2016-04-15T20:17:00.310Z');
  assert.equal(text('%START_TIME(%a %b %e %T %Z %z %j %F)%'), 'Fri Apr 15 20:17:00 UTC +0000 106 2016-04-15');
});

test('omit_empty_values prints nothing instead of - in text', () => {
  const f = compileFormat({ text_format: '[%ROUTE_NAME%][%REQ(X-MISSING)%]', omit_empty_values: true });
  const i = fullInfo();
  i.routeName = undefined;
  assert.equal(f(i), '[][]');
});

test('json_format types single-operator values, keeps config key order, nests, and ends the line', () => {
  const f = compileFormat({
    json_format: {
      status: '%RESPONSE_CODE%',
      duration: '%DURATION%',
      duration_text: '%DURATION%.0',
      method: '%REQ(:METHOD)%',
      route: '%ROUTE_NAME%',
      missing: '%REQ(X-MISSING)%',
      mixed_missing: 'id=%REQ(X-MISSING)%',
      start: '%START_TIME%',
      port: '%DOWNSTREAM_LOCAL_PORT%',
      address: '%DOWNSTREAM_LOCAL_ADDRESS%',
      literal: 'plain',
      number: 7,
      flag: true,
      upstream: { host: '%UPSTREAM_HOST%', attempts: '%UPSTREAM_REQUEST_ATTEMPT_COUNT%', list: ['%BYTES_SENT%', 'x'] },
    },
  });
  const line = f(fullInfo());
  assert.ok(line.endsWith('}\n'));
  assert.equal(line.indexOf('\n'), line.length - 1);
  const obj = JSON.parse(line);
  assert.deepEqual(Object.keys(obj), [
    'status', 'duration', 'duration_text', 'method', 'route', 'missing', 'mixed_missing',
    'start', 'port', 'address', 'literal', 'number', 'flag', 'upstream',
  ]);
  assert.deepEqual(obj, {
    status: 204,
    duration: 226,
    duration_text: '226.0',
    method: 'POST',
    route: 'locations_route',
    missing: null,
    mixed_missing: 'id=-',
    start: '2016-04-15T20:17:00.310Z',
    port: 10000,
    address: '10.0.0.1:10000',
    literal: 'plain',
    number: 7,
    flag: true,
    upstream: { host: '10.0.2.1:80', attempts: 1, list: [0, 'x'] },
  });
});

test('json_format with omit_empty_values drops keys whose single operator has no value', () => {
  const f = compileFormat({
    omit_empty_values: true,
    json_format: { a: '%REQ(X-MISSING)%', b: '%RESPONSE_CODE%', c: 'x%REQ(X-MISSING)%y', d: { e: '%ROUTE_NAME%' } },
  });
  const i = fullInfo();
  i.routeName = undefined;
  assert.equal(f(i), '{"b":204,"c":"xy","d":{}}\n');
});

test('json_format escapes header values', () => {
  const i = fullInfo();
  i.requestHeaders?.set('user-agent', 'quote " backslash \\ newline \n');
  const obj = JSON.parse(compileFormat({ json_format: { ua: '%REQ(USER-AGENT)%', wrapped: '<%REQ(USER-AGENT)%>' } })(i));
  assert.equal(obj.ua, 'quote " backslash \\ newline \n');
  assert.equal(obj.wrapped, '<quote " backslash \\ newline \n>');
});

test('an unknown operator is a config error naming the operator', () => {
  assert.equal(validateFormat('[%NOT_AN_OPERATOR%]'), 'Not supported field in StreamInfo: NOT_AN_OPERATOR');
  assert.throws(() => compileFormat({ text_format: '%NOT_AN_OPERATOR%' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'SLUICE_ERR_CONFIG_INVALID');
    assert.match(e.message, /NOT_AN_OPERATOR/);
    return true;
  });
  assert.throws(() => compileFormat({ json_format: { nested: { bad: '%BOGUS%' } } }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'SLUICE_ERR_CONFIG_INVALID');
    assert.match(e.message, /json_format\.nested\.bad: .*BOGUS/);
    return true;
  });
});

test('rejects bad operator syntax the way Envoy does', () => {
  assert.equal(validateFormat('%ROUTE_NAME%'), undefined);
  assert.equal(validateFormat('100%'), "Incorrect configuration: 100%. Couldn't find valid command at position 3");
  assert.equal(validateFormat('%protocol%'), "Incorrect configuration: %protocol%. Couldn't find valid command at position 0");
  assert.equal(validateFormat('%PROTOCOL(x)%'), 'PROTOCOL does not take any parameters or length');
  assert.equal(validateFormat('%REQ%'), 'REQ requires parameters');
  assert.equal(validateFormat('%REQ(a?b?c)%'), 'More than 1 alternative header specified in token: a?b?c');
  assert.equal(validateFormat('%START_TIME:10%'), 'START_TIME does not allow length to be specified.');
  assert.match(validateFormat('%DYNAMIC_METADATA(ns:key)%') ?? '', /Sluice does not implement/);
  assert.throws(() => compileFormat({ text_format: 'x', json_format: { a: 'y' } }), { code: 'SLUICE_ERR_CONFIG_INVALID' });
});

test('header value templates use the same operators, %% and empty for missing values', () => {
  assert.equal(compileHeaderValueTemplate('plain-value'), undefined);
  const f = compileHeaderValueTemplate('%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%');
  assert.equal(f?.(fullInfo()), '10.0.35.28');
  assert.equal(compileHeaderValueTemplate('100%%')?.(fullInfo()), '100%');
  assert.equal(compileHeaderValueTemplate('[%REQ(x-missing)%]')?.(fullInfo()), '[]');
  assert.equal(compileHeaderValueTemplate('%PROTOCOL%/%UPSTREAM_CLUSTER%')?.(fullInfo()), 'HTTP/2/locations');
  assert.throws(() => compileHeaderValueTemplate('%NOPE%'), { code: 'SLUICE_ERR_CONFIG_INVALID' });
});
