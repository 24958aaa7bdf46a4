import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { FilterHarness } from 'sluice/testing';

// The module `npm test` builds first (the "pretest" script runs `sluice build`): the same bytes
// Sluice and Envoy load. The harness runs it in-process with the proxy's own host code, no sockets.
const MODULE = fileURLToPath(new URL('../build/{{name}}.wasm', import.meta.url));
const ROOT_ID = '{{rootId}}';

test('adds the configured header to every response', async (t) => {
  const h = FilterHarness.load(MODULE, { rootId: ROOT_ID, configuration: '{"header":"x-hello","value":"world"}' });
  t.after(() => h.close());
  const s = h.stream();
  await s.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'example.com' }, true);
  assert.equal(s.upstream.headers?.get(':path'), '/', 'the request goes upstream');
  await s.sendResponseHeaders({ ':status': '200' }, true);
  assert.equal(s.downstream.headers?.get('x-hello'), 'world');
});

test('takes the header name and value from its configuration', async (t) => {
  const h = FilterHarness.load(MODULE, { rootId: ROOT_ID, configuration: '{"header":"x-team","value":"edge"}' });
  t.after(() => h.close());
  const s = h.stream();
  await s.sendRequestHeaders({ ':path': '/' }, true);
  await s.sendResponseHeaders({ ':status': '404' }, true);
  assert.equal(s.downstream.headers?.get('x-team'), 'edge');
  assert.equal(s.downstream.headers?.get('x-hello'), undefined);
});

test('refuses a configuration that is not JSON', () => {
  assert.throws(() => FilterHarness.load(MODULE, { rootId: ROOT_ID, configuration: 'header=x-hello' }), {
    code: 'SLUICE_ERR_WASM_PLUGIN_START',
  });
});
