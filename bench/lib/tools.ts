import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { ChildProcesses } from './child-processes.ts';

/**
 * The external programs the bench drives. Each is found on PATH (plus the sbin directories,
 * where Debian puts nginx and haproxy) or installed from Debian's packages when we are root.
 * A program that stays missing carries the reason, and the rows that need it are skipped.
 */

export type ToolName = 'wrk' | 'nginx' | 'haproxy' | 'taskset';

export interface Tool {
  path?: string;
  version?: string;
  /** Why `path` is unset. */
  missing?: string;
}

export type Tools = Record<ToolName, Tool>;

const APT_PACKAGE: Record<ToolName, string> = { wrk: 'wrk', nginx: 'nginx', haproxy: 'haproxy', taskset: 'util-linux' };
const INSTALL_TIMEOUT_MS = 5 * 60_000;

export async function findTools(children: ChildProcesses, opts: { install: boolean }): Promise<Tools> {
  const names: ToolName[] = ['wrk', 'nginx', 'haproxy', 'taskset'];
  let missing = names.filter((n) => which(n) === undefined);
  let installError: string | undefined;
  if (missing.length > 0 && opts.install) {
    installError = await aptInstall(children, missing.map((n) => APT_PACKAGE[n]));
    missing = names.filter((n) => which(n) === undefined);
  }
  const tools = {} as Tools;
  for (const name of names) {
    const path = which(name);
    if (path === undefined) {
      tools[name] = {
        missing: !opts.install
          ? `${name} is not installed and --no-install was given`
          : `${name} is not installed and could not be installed: ${installError ?? 'apt-get succeeded but the binary is still not found'}`,
      };
    } else {
      tools[name] = { path, version: await versionOf(children, name, path) };
    }
  }
  return tools;
}

function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Returns undefined on success, else why it failed. */
async function aptInstall(children: ChildProcesses, packages: string[]): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return `not root, so apt-get install ${packages.join(' ')} was not attempted`;
  if (which('apt-get') === undefined) return 'apt-get is not available on this machine';
  process.stderr.write(`installing ${packages.join(', ')} with apt-get ...\n`);
  const script = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages.join(' ')}`;
  const r = await children.run({ name: 'apt-get', command: 'sh', args: ['-c', script], timeoutMs: INSTALL_TIMEOUT_MS });
  if (r.timedOut) return `apt-get did not finish within ${INSTALL_TIMEOUT_MS / 1000} s`;
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n');
    return `apt-get exited with code ${r.code}: ${tail}`;
  }
  return undefined;
}

async function versionOf(children: ChildProcesses, name: ToolName, path: string): Promise<string | undefined> {
  const flag = name === 'nginx' ? '-v' : name === 'taskset' ? '-V' : name === 'haproxy' ? '-v' : '--version';
  const r = await children.run({ name: `${name} ${flag}`, command: path, args: [flag], timeoutMs: 5000 });
  // wrk prints its version and then usage, exiting 1; nginx prints to stderr.
  const first = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).find((l) => l.length > 0);
  return first;
}
