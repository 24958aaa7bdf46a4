import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, relative } from 'node:path';

/**
 * Writes the report into `.bench/` (gitignored): `latest.md`, `latest.json`, and the configs
 * generated for this run in `configs/` (nginx, HAProxy, Envoy YAML, wrk Lua), so a number can be
 * traced back to exactly what produced it.
 */

const CONFIG_EXTENSIONS = new Set(['.conf', '.cfg', '.yaml', '.lua']);

export interface ReportFiles {
  markdownPath: string;
  jsonPath: string;
  configDir: string;
}

export function writeReportFiles(repoDir: string, workDir: string, markdown: string, json: unknown): ReportFiles {
  const dir = join(repoDir, '.bench');
  mkdirSync(dir, { recursive: true });
  const markdownPath = join(dir, 'latest.md');
  const jsonPath = join(dir, 'latest.json');
  const configDir = join(dir, 'configs');
  writeFileSync(markdownPath, markdown);
  writeFileSync(jsonPath, JSON.stringify(json, null, 2) + '\n');
  rmSync(configDir, { recursive: true, force: true });
  for (const entry of readdirSync(workDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !CONFIG_EXTENSIONS.has(extname(entry.name))) continue;
    const src = join(entry.parentPath, entry.name);
    const dest = join(configDir, relative(workDir, src));
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(src, dest);
  }
  return { markdownPath, jsonPath, configDir };
}
