/**
 * `config.core.v3.DataSource` resolved to its text at load time: `filename` (relative paths against
 * the config file's directory), `inline_string`, `inline_bytes` (base64), `environment_variable`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { message, report, scalar, str } from './schema.ts';
import type { Parser } from './schema.ts';
import { describeValue } from './value-kind.ts';

const BASE64 = /^[A-Za-z0-9+/\-_\s]*={0,2}\s*$/;

/** protobuf `bytes` in JSON: base64 (standard or URL-safe), decoded as UTF-8 text. */
export const BYTES: Parser<string> = scalar((v) => {
  if (typeof v !== 'string') return `expected base64 text, got ${describeValue(v)}`;
  if (!BASE64.test(v)) return 'expected base64 text';
  return { value: Buffer.from(v, 'base64').toString('utf8') };
});

export const DATA_SOURCE: Parser<string> = message({
  fields: {
    filename: str({ minLen: 1 }),
    inline_bytes: BYTES,
    inline_string: str(),
    environment_variable: str({ minLen: 1 }),
  },
  unsupported: ['watched_directory'],
  oneOf: [{ fields: ['filename', 'inline_bytes', 'inline_string', 'environment_variable'], required: true }],
  build(f, m) {
    if (f.inline_string !== undefined) return f.inline_string;
    if (f.inline_bytes !== undefined) return f.inline_bytes;
    if (f.environment_variable !== undefined) {
      const value = process.env[f.environment_variable];
      if (value === undefined) report(m.ctx, m.loc('environment_variable'), `environment variable "${f.environment_variable}" is not set`);
      return value;
    }
    if (f.filename === undefined) return undefined;
    const path = resolve(m.ctx.baseDir, f.filename);
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      report(m.ctx, m.loc('filename'), `cannot read file "${path}": ${code}`);
      return undefined;
    }
  },
});
