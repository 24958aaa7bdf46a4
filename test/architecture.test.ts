import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm), ...src.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
}

test('abi/ imports nothing from the project outside abi/ and no node: module', () => {
  for (const f of tsFiles(join(ROOT, 'abi'))) {
    for (const spec of imports(f)) {
      assert.ok(!spec.startsWith('node:'), `${relative(ROOT, f)} imports ${spec}`);
      if (spec.startsWith('.')) {
        const target = relative(ROOT, resolve(dirname(f), spec));
        assert.ok(target.startsWith('abi/'), `${relative(ROOT, f)} imports ${spec} (outside abi/)`);
      } else {
        assert.fail(`${relative(ROOT, f)} imports package ${spec}`);
      }
    }
  }
});

test('runtime/ never imports from test/, bench/ or examples/', () => {
  for (const f of tsFiles(join(ROOT, 'runtime'))) {
    for (const spec of imports(f)) {
      if (!spec.startsWith('.')) continue;
      const target = relative(ROOT, resolve(dirname(f), spec));
      assert.ok(!/^(test|bench|examples)\//.test(target), `${relative(ROOT, f)} imports ${spec}`);
    }
  }
});
