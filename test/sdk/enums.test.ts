import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as abi from '../../abi/enums.ts';

/**
 * The SDK's AssemblyScript enums (sdk/assembly/enums.ts) and the host's `as const` objects
 * (abi/enums.ts) are the same wire numbers: same enums, same members, same values.
 */
const SDK_ENUMS = fileURLToPath(new URL('../../sdk/assembly/enums.ts', import.meta.url));

/** `export enum Name { A = 1, B = -1 }` blocks of an AssemblyScript file, comments removed. */
function parseAsEnums(text: string): Map<string, Record<string, number>> {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const out = new Map<string, Record<string, number>>();
  for (const m of code.matchAll(/export\s+enum\s+(\w+)\s*\{([^}]*)\}/g)) {
    const members: Record<string, number> = {};
    for (const part of m[2].split(',')) {
      const item = part.trim();
      if (item === '') continue;
      const mm = /^(\w+)\s*=\s*(-?\d+)$/.exec(item);
      assert.ok(mm, `enum ${m[1]}: member "${item}" must have an explicit integer value`);
      members[mm[1]] = Number(mm[2]);
    }
    out.set(m[1], members);
  }
  return out;
}

/**
 * abi/enums.ts enum objects (numeric members), each with every name it is exported under
 * (`CloseType` is the same object as `PeerType`: the SDK needs only one of the names).
 */
function abiEnums(): { names: string[]; members: Record<string, number> }[] {
  const byObject = new Map<object, string[]>();
  for (const [name, value] of Object.entries(abi)) {
    if (typeof value !== 'object' || value === null) continue;
    byObject.set(value, [...(byObject.get(value) ?? []), name]);
  }
  return [...byObject].map(([value, names]) => ({ names, members: { ...(value as Record<string, number>) } }));
}

const sdk = parseAsEnums(readFileSync(SDK_ENUMS, 'utf8'));
const host = abiEnums();

test('the SDK enum parser finds the enums', () => {
  assert.ok(sdk.size >= 10, `parsed ${[...sdk.keys()].join(', ')}`);
  assert.equal(sdk.get('GrpcStatus')?.InvalidCode, -1);
});

test('every abi/ enum exists in the SDK and every SDK enum exists in abi/', () => {
  for (const { names } of host) assert.ok(names.some((n) => sdk.has(n)), `the SDK has none of ${names.join(' / ')}`);
  for (const name of sdk.keys()) assert.ok(host.some((e) => e.names.includes(name)), `abi/enums.ts has no ${name}`);
});

for (const { names, members } of host) {
  test(`SDK enum ${names.join(' / ')} has the same members and values as abi/enums.ts`, () => {
    const name = names.find((n) => sdk.has(n));
    assert.ok(name !== undefined);
    assert.deepEqual(sdk.get(name), members);
  });
}
