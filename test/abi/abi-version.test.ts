import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { detectAbiVersion, scanAbiVersion } from '../../abi/abi-version.ts';

const common = ['memory', 'malloc', 'proxy_on_memory_allocate', 'proxy_on_request_headers', '_start'];

describe('detectAbiVersion', () => {
  const rows: Array<[string, string[], string | undefined]> = [
    ['detects 0.1.0 from its marker export', [...common, 'proxy_abi_version_0_1_0'], '0.1.0'],
    ['detects 0.2.0 from its marker export (Go SDKs)', [...common, 'proxy_abi_version_0_2_0'], '0.2.0'],
    ['detects 0.2.1 from its marker export (Rust, C++ SDKs)', ['proxy_abi_version_0_2_1', ...common], '0.2.1'],
    ['returns undefined when no marker is exported', common, undefined],
    ['returns undefined for an empty export list', [], undefined],
    ['returns undefined for the unsupported vnext marker', [...common, 'proxy_abi_version_vnext'], undefined],
    ['returns undefined when two different markers are exported',
      ['proxy_abi_version_0_2_0', 'proxy_abi_version_0_2_1'], undefined],
    ['ignores names that only resemble a marker',
      ['proxy_abi_version_0_2_1x', 'Proxy_abi_version_0_2_1', 'abi_version_0_2_1'], undefined],
    ['ignores an unknown marker next to a supported one',
      ['proxy_abi_version_9_9_9', 'proxy_abi_version_0_2_0'], '0.2.0'],
    ['does not match inherited object keys', ['proxy_abi_version_constructor', 'constructor', '__proto__'], undefined],
  ];
  for (const [title, names, expected] of rows) {
    test(title, () => assert.equal(detectAbiVersion(names), expected));
  }
});

describe('scanAbiVersion', () => {
  test('reports a single marker as found', () => {
    assert.deepEqual(scanAbiVersion(['proxy_abi_version_0_1_0']), { kind: 'found', version: '0.1.0' });
  });

  test('reports none with the unsupported marker names it saw', () => {
    assert.deepEqual(scanAbiVersion([...common, 'proxy_abi_version_vnext']), {
      kind: 'none',
      unknown: ['proxy_abi_version_vnext'],
    });
    assert.deepEqual(scanAbiVersion(common), { kind: 'none', unknown: [] });
  });

  test('reports multiple markers in export order', () => {
    assert.deepEqual(scanAbiVersion(['proxy_abi_version_0_2_1', 'x', 'proxy_abi_version_0_1_0']), {
      kind: 'multiple',
      versions: ['0.2.1', '0.1.0'],
    });
  });

  test('counts a repeated marker name once', () => {
    assert.deepEqual(scanAbiVersion(['proxy_abi_version_0_2_0', 'proxy_abi_version_0_2_0']), {
      kind: 'found',
      version: '0.2.0',
    });
  });
});
