import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { Tools } from './tools.ts';

/** The facts a reader needs to compare two bench reports: machine, versions. */
export function describeEnvironment(tools: Tools, repoDir: string): [string, string][] {
  const cpu = cpus();
  const lines: [string, string][] = [
    ['machine', `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}`],
    ['node', process.version],
  ];
  for (const name of ['wrk', 'nginx', 'haproxy'] as const) {
    const t = tools[name];
    lines.push([name, t.version ?? t.missing ?? 'unknown']);
  }
  const peers = ['fastify', '@fastify/http-proxy', '@fastify/reply-from', 'http-proxy']
    .map((p) => `${p} ${packageVersion(repoDir, p)}`)
    .join(', ');
  lines.push(['node peers', peers]);
  return lines;
}

function packageVersion(repoDir: string, name: string): string {
  const candidates = [
    join(repoDir, 'node_modules', name, 'package.json'),
    join(repoDir, 'node_modules', '@fastify', 'http-proxy', 'node_modules', name, 'package.json'),
  ];
  for (const file of candidates) {
    try {
      return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    } catch {
      // try the next place
    }
  }
  return 'not installed';
}
