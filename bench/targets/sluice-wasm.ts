import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileAssemblyScript } from '../lib/assemblyscript.ts';
import { probe } from '../lib/http-probe.ts';
import { sluiceTarget } from './sluice.ts';
import type { RunningTarget, Target } from './target.ts';

/**
 * Sluice with one `envoy.filters.http.wasm` filter before the router, the filter compiled from
 * bench/filters/ when the row starts (before any timing). Compared with the `sluice1` row, it
 * shows what a wasm filter costs per request.
 */

export interface SluiceWasmOptions {
  name: string;
  label: string;
  concurrency: number;
  /** File name in bench/filters/ (AssemblyScript). */
  filter: string;
  /**
   * A response header the filter must add to a GET of `path`, checked with one request once the
   * row is up: a filter that silently did nothing would otherwise get a flattering number.
   */
  expectResponseHeader?: ExpectedHeader;
  /** Turn CPU metering off for this row (`sluice_sandbox.cpu_budget: 0`); the default meters. */
  unmetered?: boolean;
}

/** The `http_filters` entry for one wasm filter loaded from a local file. */
export function wasmHttpFilter(name: string, file: string, opts: { unmetered?: boolean } = {}): Record<string, unknown> {
  return {
    name,
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
      config: {
        name,
        root_id: '',
        vm_config: { vm_id: name, runtime: 'envoy.wasm.runtime.v8', code: { local: { filename: file } } },
        ...(opts.unmetered === true ? { sluice_sandbox: { cpu_budget: 0 } } : {}),
      },
    },
  };
}

export interface ExpectedHeader {
  path: string;
  name: string;
  value: string;
}

export function sluiceWasmTarget(o: SluiceWasmOptions): Target {
  return {
    name: o.name,
    label: o.label,
    async start(env) {
      const wasm = await compileAssemblyScript(join(env.benchDir, 'filters', o.filter));
      const file = join(env.workDir, `${o.name}.wasm`);
      writeFileSync(file, wasm);
      const filterName = `bench-${o.filter.replace(/\.ts$/, '')}`;
      const running = await sluiceTarget({
        name: o.name,
        label: o.label,
        concurrency: o.concurrency,
        httpFilters: [wasmHttpFilter(filterName, file, { unmetered: o.unmetered })],
      }).start(env);
      if (o.expectResponseHeader) await checkFilterRan(running, o.expectResponseHeader);
      return running;
    },
  };
}

async function checkFilterRan(running: RunningTarget, want: ExpectedHeader): Promise<void> {
  let got: string | string[] | undefined;
  try {
    got = (await probe({ port: running.port, path: want.path, timeoutMs: 5000 })).headers[want.name];
  } catch (err) {
    await running.stop();
    throw err;
  }
  if (got !== want.value) {
    await running.stop();
    throw new Error(
      `the wasm filter did not run: GET ${want.path} answered ${want.name}: ${JSON.stringify(got)}, expected ${JSON.stringify(want.value)}`,
    );
  }
}
