import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfigText } from '../../runtime/config/load.ts';
import { ConfigError } from '../../runtime/errors.ts';
import { prepareValidation, validateSnapshot } from '../../runtime/server/validate.ts';
import { proxyYaml } from '../helpers/proxy.ts';
import { buildSdkFilter } from '../helpers/sdk-build.ts';
import { wasmFilter } from '../helpers/wasm.ts';

/**
 * An Error thrown inside an SDK filter must reach the proxy's log as readable text, although the
 * module imports no env.abort (Envoy has none): the SDK's abort logs the message and its source
 * location at Critical through proxy_log, then traps. Checked through Sluice's load-time
 * validation (what `sluice validate` runs) with its logger captured; the log line is the behaviour
 * under test, so its text is asserted.
 */
const THROW = fileURLToPath(new URL('../fixtures/sdk/throw.ts', import.meta.url));
/** Registers no root context at all. */
const NO_ROOT = fileURLToPath(new URL('../fixtures/sdk/json-probe.ts', import.meta.url));

interface LogLine {
  level: number;
  msg: string;
  plugin?: string;
}

/** Validates a one-filter config as `sluice validate` does; returns the thrown error and the log lines. */
async function validate(t: TestContext, entry: string, filter: { name: string; rootId?: string; configuration?: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-sdk-abort-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'filter.wasm');
  writeFileSync(file, await buildSdkFilter(entry));
  const snapshot = loadConfigText(
    proxyYaml({ clusters: [{ name: 'backend', ports: [1] }], filters: wasmFilter({ file, ...filter }) }),
    join(dir, 'envoy.yaml'),
  );
  await prepareValidation(snapshot);
  const lines: LogLine[] = [];
  const log = pino({ level: 'trace' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  let error: unknown;
  try {
    validateSnapshot(snapshot, log);
  } catch (err) {
    error = err;
  }
  return { error, lines };
}

test('an Error thrown in onConfigure is logged at critical level with its message and location, and the configuration is refused', async (t) => {
  const { error, lines } = await validate(t, THROW, { name: 'thrower', configuration: 'throw' });
  assert.ok(error instanceof ConfigError && /thrower/.test(error.message), String(error));
  const critical = lines.filter((l) => l.level === 60);
  assert.equal(critical.length, 1, JSON.stringify(lines));
  assert.match(critical[0].msg, /filter aborted: configuration says throw \(at throw\.ts:\d+:\d+\)/);
  assert.equal(critical[0].plugin, 'thrower');
});

test('a plugin whose root_id has no registered root context is refused with a message naming the root_id', async (t) => {
  const { error, lines } = await validate(t, NO_ROOT, { name: 'unregistered', rootId: 'missing_root' });
  assert.ok(error instanceof ConfigError, String(error));
  const critical = lines.filter((l) => l.level === 60).map((l) => l.msg);
  assert.equal(critical.length, 1, JSON.stringify(lines));
  assert.match(critical[0], /no root context registered for root_id "missing_root" \(registered: none; call registerRootContext\(\) in top-level code\)/);
});
