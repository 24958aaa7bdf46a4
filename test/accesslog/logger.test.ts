import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AccessLogger } from '../../runtime/accesslog/logger.ts';
import { HeaderMap } from '../../runtime/http/header-map.ts';
import { newStreamInfo } from '../../runtime/http/stream-info.ts';

function info() {
  const i = newStreamInfo({
    protocol: 'HTTP/1.1',
    connectionId: 3,
    downstreamRemoteAddress: '127.0.0.1:40000',
    downstreamDirectRemoteAddress: '127.0.0.1:40000',
    downstreamLocalAddress: '127.0.0.1:10000',
    startTime: Date.UTC(2025, 4, 6, 7, 8, 9, 10),
  });
  i.requestHeaders = new HeaderMap([':method', 'GET', ':path', '/hello', ':authority', 'example.com']);
  i.responseCode = 200;
  i.lastDownstreamTxMs = 4.2;
  i.upstreamHost = '127.0.0.1:8080';
  return i;
}

test('writes one formatted line per stream to every configured access log', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-logger-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const textPath = join(dir, 'text.log');
  const jsonPath = join(dir, 'json.log');
  const logger = new AccessLogger([
    { name: 'text', sink: 'file', path: textPath },
    { name: 'json', sink: 'file', path: jsonPath, json_format: { code: '%RESPONSE_CODE%', path: '%REQ(:PATH)%' } },
  ]);
  assert.equal(logger.enabled, true);
  logger.log(info());
  logger.log(info());
  await logger.flush();
  const line = '[2025-05-06T07:08:09.010Z] "GET /hello HTTP/1.1" 200 - 0 0 4 - "-" "-" "-" "example.com" "127.0.0.1:8080"\n';
  assert.equal(readFileSync(textPath, 'utf8'), line + line);
  await logger.close();
  assert.equal(readFileSync(jsonPath, 'utf8'), '{"code":200,"path":"/hello"}\n'.repeat(2));
});

test('a bad format fails construction before any file is opened', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-logger-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'good.log');
  assert.throws(
    () =>
      new AccessLogger([
        { name: 'good', sink: 'file', path: good },
        { name: 'bad', sink: 'file', path: join(dir, 'bad.log'), text_format: '%WHAT%' },
      ]),
    { code: 'SLUICE_ERR_CONFIG_INVALID' },
  );
  assert.equal(existsSync(good), false);
});

test('an empty access_log list logs nothing', async () => {
  const logger = new AccessLogger([]);
  assert.equal(logger.enabled, false);
  logger.log(info());
  await logger.close();
});
