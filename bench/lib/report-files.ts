import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes the report into `.bench/` (gitignored): `latest.md` and `latest.json`. */
export function writeReportFiles(repoDir: string, markdown: string, json: unknown): { markdownPath: string; jsonPath: string } {
  const dir = join(repoDir, '.bench');
  mkdirSync(dir, { recursive: true });
  const markdownPath = join(dir, 'latest.md');
  const jsonPath = join(dir, 'latest.json');
  writeFileSync(markdownPath, markdown);
  writeFileSync(jsonPath, JSON.stringify(json, null, 2) + '\n');
  return { markdownPath, jsonPath };
}
