import { parseArgs } from 'node:util';
import { ErrorCode, SluiceError } from '../errors.ts';
import { display } from '../toolchain/build.ts';
import { projectNameProblem, scaffoldProject } from '../toolchain/scaffold.ts';

export const NEW_USAGE = `sluice new NAME [--dir DIR]
  Creates DIR/NAME (DIR defaults to the current directory): an AssemblyScript filter that adds a
  response header from its JSON configuration, a unit test through sluice/testing, an envoy.yaml
  running it in front of an upstream, and a README. NAME: a-z, 0-9, "-", "_", starting with a
  letter. Refuses a non-empty existing directory. Then: cd NAME && npm install && npm test.`;

/** `sluice new`: returns the process exit code (0 created, 1 target not empty, 2 usage). */
export async function newProject(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { dir: { type: 'string' } }, strict: true, allowPositionals: true });
  } catch (e) {
    err(`${(e as Error).message}\n\n${NEW_USAGE}\n`);
    return 2;
  }
  const [name] = parsed.positionals;
  if (name === undefined || parsed.positionals.length > 1) {
    err(`${NEW_USAGE}\n`);
    return 2;
  }
  const problem = projectNameProblem(name);
  if (problem !== undefined) {
    err(`sluice new: ${problem}\n`);
    return 2;
  }
  let result;
  try {
    result = scaffoldProject(name, { parent: parsed.values.dir });
  } catch (e) {
    if (e instanceof SluiceError && e.code === ErrorCode.CLI_USAGE) {
      err(`sluice new: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const where = display(result.dir);
  out(
    `Created ${where}:\n${result.files.map((f) => `  ${f}\n`).join('')}\n` +
      `Next:\n  cd ${where}\n  npm install\n  npm test              # builds build/${name}.wasm and runs its unit tests\n` +
      `  npx sluice run -c envoy.yaml\n`,
  );
  return 0;
}
