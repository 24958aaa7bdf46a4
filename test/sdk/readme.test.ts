import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseWasmModule } from '../../abi/wasm-binary.ts';
import { buildSdkFilter, SDK_DIR } from '../helpers/sdk-build.ts';

/**
 * sdk/README.md is the API reference: every public name the SDK exports has an entry (a heading)
 * with an example, every public member of an exported class is mentioned, and the "first filter"
 * example compiles as written.
 */
const README = readFileSync(join(SDK_DIR, 'README.md'), 'utf8');
const ASSEMBLY = join(SDK_DIR, 'assembly');
const headings = README.split('\n').filter((l) => l.startsWith('#### '));

/** Names listed in `export { a, b } from "./x"` statements of sdk/assembly/index.ts. */
function publicNames(): string[] {
  const index = readFileSync(join(ASSEMBLY, 'index.ts'), 'utf8');
  return [...index.matchAll(/export\s*\{([^}]*)\}\s*from/g)].flatMap((m) => m[1].split(',').map((s) => s.trim()).filter((s) => s !== ''));
}

/** Public method/getter names of every `export class` in sdk/assembly (constructors, private and protected skipped). */
function publicMembers(): { cls: string; member: string }[] {
  const out: { cls: string; member: string }[] = [];
  for (const file of readdirSync(ASSEMBLY).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(ASSEMBLY, file), 'utf8');
    for (const m of text.matchAll(/^export class (\w+)[^{]*\{([\s\S]*?)^\}/gm)) {
      for (const mm of m[2].matchAll(/^ {2}(?:static |get )?(\w+)\s*\(/gm)) {
        if (mm[1] !== 'constructor') out.push({ cls: m[1], member: mm[1] });
      }
    }
  }
  return out;
}

test('every public name of the SDK has a README heading followed by an example', () => {
  const names = publicNames();
  assert.ok(names.length > 80, `found ${names.length} names`);
  const missing = names.filter((n) => !headings.some((h) => new RegExp(`\`[^\`]*\\b${n}\\b`).test(h)));
  assert.deepEqual(missing, []);
  // Each heading is followed by a code example before the next heading.
  const sections = README.split('\n#### ').slice(1);
  const withoutExample = sections.filter((s) => !s.split('\n### ')[0].includes('```ts')).map((s) => s.split('\n')[0]);
  assert.deepEqual(withoutExample, []);
});

test('every public method of an exported SDK class is documented in the README', () => {
  const members = publicMembers();
  assert.ok(members.length > 60, `found ${members.length} members`);
  const missing = members.filter(({ member }) => !new RegExp(`\\b${member}\\b`).test(README)).map(({ cls, member }) => `${cls}.${member}`);
  assert.deepEqual(missing, []);
});

test('the README "first filter" compiles with the SDK and imports only proxy-wasm functions', async (t) => {
  const section = README.split('## A first filter')[1];
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code !== undefined && code.includes('registerRootContext'));
  const dir = mkdtempSync(join(tmpdir(), 'sluice-sdk-readme-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const entry = join(dir, 'first-filter.ts');
  writeFileSync(entry, code);
  const info = parseWasmModule(await buildSdkFilter(entry));
  assert.ok(info.imports.length > 0);
  for (const i of info.imports) assert.ok(i.module === 'env' && i.name.startsWith('proxy_'), `${i.module}.${i.name}`);
  assert.ok(info.exports.some((e) => e.name === 'proxy_abi_version_0_2_1'));
});
