import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { eventually } from './servers.ts';

export const CLI = fileURLToPath(new URL('../../runtime/cli/sluice.ts', import.meta.url));

/** `sluice run` as a separate process (its own RSS, real signals); killed when the test ends. */
export async function runCli(
  t: TestContext,
  yaml: string,
  args: string[] = [],
): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  const file = join(dir, 'envoy.yaml');
  writeFileSync(file, yaml);
  const child = spawn(process.execPath, [CLI, 'run', '-c', file, '--log-level', 'info', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const port = await eventually(
    () => {
      const m = /"listeners":\["[^"=]+=127\.0\.0\.1:(\d+)"/.exec(out);
      return m ? Number(m[1]) : undefined;
    },
    15_000,
    `sluice to log its listener (output so far: ${out})`,
  );
  return { child, port, output: () => out };
}
