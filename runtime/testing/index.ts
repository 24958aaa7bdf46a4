/**
 * `sluice/testing`: run a proxy-wasm filter in-process, with no sockets, in a unit test.
 *
 *   const h = FilterHarness.load('filter.wasm', { rootId: 'my_root', configuration: '{"x":1}' });
 *   const s = h.stream();
 *   await s.sendRequestHeaders({ ':path': '/hello', 'x-user': 'ann' }, true);
 *   assert.equal(s.upstream.headers?.get('x-added'), '1');
 */
export { FilterHarness, HarnessStream, type HarnessOptions, type LogEntry, type PendingHttpCall, type HeadersInit } from './harness.ts';
export { FilterHeadersStatus, FilterDataStatus, FilterTrailersStatus, WasmResult, LogLevel } from '../../abi/enums.ts';
