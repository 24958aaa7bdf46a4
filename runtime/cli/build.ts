import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { ErrorCode, SluiceError } from '../errors.ts';
import { buildFilter, display } from '../toolchain/build.ts';
import { resolveFilterProject } from '../toolchain/project.ts';

export const BUILD_USAGE = `sluice build [PATH] [-o OUT.wasm] [--debug]
  Compiles an AssemblyScript filter written with @sluice/sdk into a proxy-wasm module, optimised
  for size and speed (-O3s) with the SDK's required flags. PATH is a project directory (its
  package.json "ascMain", else assembly/index.ts; default ".") or a filter source file. The module
  goes to OUT.wasm, default <project>/build/<name>.wasm (<name>.debug.wasm with --debug: no
  optimisation, function names kept for trap messages). Prints the output path and size; on
  compile errors prints one "file:line:col: error TSnnnn: message" line each and exits 1.`;

/** `sluice build`: returns the process exit code (0 built, 1 compile error, 2 usage). */
export async function build(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { 'out-file': { type: 'string', short: 'o' }, debug: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    err(`${(e as Error).message}\n\n${BUILD_USAGE}\n`);
    return 2;
  }
  if (parsed.positionals.length > 1) {
    err(`sluice build takes at most one PATH\n\n${BUILD_USAGE}\n`);
    return 2;
  }
  const debug = parsed.values.debug === true;
  let project;
  try {
    project = resolveFilterProject(parsed.positionals[0] ?? '.', { debug });
  } catch (e) {
    if (e instanceof SluiceError && e.code === ErrorCode.CLI_USAGE) {
      err(`sluice build: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const outFile = parsed.values['out-file'] !== undefined ? resolve(parsed.values['out-file']) : project.outFile;
  let result;
  try {
    result = await buildFilter(project.entry, { optimize: !debug, outFile, baseDir: project.dir });
  } catch (e) {
    if (e instanceof SluiceError && e.code === ErrorCode.BUILD_FAILED) {
      err(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  for (const w of result.warnings) err(`${w}\n`);
  out(`${display(outFile)}  ${formatSize(result.size)}\n`);
  return 0;
}

function formatSize(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB (${bytes} bytes)`;
}
