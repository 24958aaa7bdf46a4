import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAssemblyScript } from './wasm-build.ts';

/** Absolute path of an AssemblyScript guest fixture under test/fixtures/wasm/. */
export function wasmFixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/wasm/${name}`, import.meta.url));
}

/** Builds a fixture (cached) and writes it into `dir`; returns the .wasm path. */
export async function buildFixtureInto(dir: string, name: string, out = name.replace(/\.ts$/, '.wasm')): Promise<string> {
  const bytes = await buildAssemblyScript(wasmFixture(name));
  const path = join(dir, out);
  writeFileSync(path, bytes);
  return path;
}

/** One `envoy.filters.http.wasm` entry for proxyYaml's `filters`. */
export function wasmFilter(opts: {
  file: string;
  name?: string;
  rootId?: string;
  vmId?: string;
  configuration?: string;
  failurePolicy?: 'FAIL_CLOSED' | 'FAIL_OPEN' | 'FAIL_RELOAD';
  extra?: string;
}): string {
  const name = opts.name ?? opts.rootId ?? 'plugin';
  return `
          - name: ${name}
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: ${name}
                root_id: ${JSON.stringify(opts.rootId ?? '')}${
                  opts.configuration === undefined
                    ? ''
                    : `
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: ${JSON.stringify(opts.configuration)}`
                }${opts.failurePolicy === undefined ? '' : `\n                failure_policy: ${opts.failurePolicy}`}${opts.extra ?? ''}
                vm_config:
                  vm_id: ${JSON.stringify(opts.vmId ?? name)}
                  runtime: envoy.wasm.runtime.v8
                  code: { local: { filename: ${JSON.stringify(opts.file)} } }`;
}
