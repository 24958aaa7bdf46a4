import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ErrorCode, SluiceError } from '../../runtime/errors.ts';
import { registerHttpFilter } from '../../runtime/config/http-filters.ts';
import { loadConfigFile, loadConfigText, validateConfigText } from '../../runtime/config/load.ts';
import type { ConfigSnapshot, HttpConnectionManager } from '../../runtime/config/types.ts';
import {
  loadPluginCode,
  WASM_FILTER_SCHEMA,
  WASM_FILTER_TYPE_URL,
  WASM_RUNTIME_V8,
  wasmPluginConfig,
} from '../../runtime/config/wasm.ts';
import type { WasmPluginConfig } from '../../runtime/config/wasm.ts';
import { configYaml, HCM_PATH, indent, lineOf, ROUTER_TYPE } from './helpers.ts';

// The config-side registration only: the runtime registers the schema together with its builder.
registerHttpFilter(WASM_FILTER_TYPE_URL, WASM_FILTER_SCHEMA);

/** The smallest core module: magic + version 1, no sections. */
const MODULE = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
const MODULE_BASE64 = Buffer.from(MODULE).toString('base64');
const STRING_VALUE = 'type.googleapis.com/google.protobuf.StringValue';
const BYTES_VALUE = 'type.googleapis.com/google.protobuf.BytesValue';
const STRUCT = 'type.googleapis.com/google.protobuf.Struct';
const FILTER_PATH = `${HCM_PATH}.http_filters[0].typed_config`;

const dir = mkdtempSync(join(tmpdir(), 'sluice-wasm-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'plugin.wasm'), MODULE);
mkdirSync(join(dir, 'modules'));
writeFileSync(join(dir, 'modules', 'other.wasm'), MODULE);
writeFileSync(join(dir, 'notes.txt'), 'not a module\n');
writeFileSync(join(dir, 'plugin.wat'), '  (module)\n');
writeFileSync(join(dir, 'component.wasm'), Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00));
writeFileSync(join(dir, 'empty.wasm'), new Uint8Array(0));

const CODE = 'code: { local: { filename: plugin.wasm } }';

function wasmFilter(body: string, name = 'wasm'): string {
  return `- name: ${name}\n  typed_config:\n    "@type": ${WASM_FILTER_TYPE_URL}\n${indent(4, body)}`;
}

/** A bootstrap whose HCM runs the given Wasm filter bodies (YAML under typed_config), then the router. */
function withFilters(...bodies: string[]): string {
  const filters = bodies.map((b, i) => wasmFilter(b, `wasm_${i}`));
  return configYaml({ httpFilters: [...filters, `- name: envoy.filters.http.router\n  typed_config: { "@type": ${ROUTER_TYPE} }`].join('\n') });
}

function problemsOf(text: string) {
  return validateConfigText(text, undefined, { baseDir: dir });
}

function hcmOf(snapshot: ConfigSnapshot): HttpConnectionManager {
  return snapshot.bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].http_connection_manager;
}

function valueOf(text: string, index = 0): Record<string, unknown> {
  const value = hcmOf(loadConfigText(text, undefined, { baseDir: dir })).http_filters[index].typed_config?.value;
  assert.ok(value !== undefined);
  return value;
}

function pluginOf(body: string): WasmPluginConfig {
  return wasmPluginConfig(valueOf(withFilters(body)));
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');

function withEnv(t: { after(fn: () => void): void }, vars: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  t.after(() => apply(saved));
}

describe('Wasm filter config: valid', () => {
  test('applies Envoy defaults to a config that gives only the code file, resolved against the config directory', () => {
    assert.deepEqual(pluginOf(`config:\n  vm_config: { ${CODE} }`), {
      name: '',
      rootId: '',
      vmId: '',
      runtime: WASM_RUNTIME_V8,
      configuration: new Uint8Array(0),
      vmConfiguration: new Uint8Array(0),
      code: { kind: 'file', path: join(dir, 'plugin.wasm') },
      failurePolicy: 'FAIL_CLOSED',
      reloadBackoff: { baseMs: 1000, maxMs: 10_000 },
      allowedCapabilities: undefined,
      allowOnHeadersStopIteration: false,
      environment: [],
      allowPrecompiled: false,
      sandbox: { maxMemoryBytes: undefined, fuelPerCallback: undefined },
    });
  });

  const rows: Array<{ title: string; body: string; expect: Partial<WasmPluginConfig>; configuration?: string; vmConfiguration?: string }> = [
    {
      title: 'reads name, root_id, vm_id, runtime and a StringValue configuration',
      body: `config:
  name: my_plugin
  root_id: my_root
  configuration:
    "@type": ${STRING_VALUE}
    value: '{"header":"x-demo"}'
  vm_config:
    vm_id: my_vm
    runtime: envoy.wasm.runtime.wasmtime
    ${CODE}`,
      expect: { name: 'my_plugin', rootId: 'my_root', vmId: 'my_vm', runtime: 'envoy.wasm.runtime.wasmtime' },
      configuration: '{"header":"x-demo"}',
    },
    {
      title: 'reads lowerCamelCase field names',
      body: `config:
  rootId: r
  failurePolicy: fail_reload
  reloadConfig: { backoff: { baseInterval: 0.5s, maxInterval: 30s } }
  allowOnHeadersStopIteration: true
  capabilityRestrictionConfig: { allowedCapabilities: { proxy_log: {} } }
  vmConfig:
    vmId: v
    allowPrecompiled: true
    nackOnCodeCacheMiss: true
    code: { local: { inlineBytes: ${MODULE_BASE64} } }
    environmentVariables: { keyValues: { MODE: prod } }`,
      expect: {
        rootId: 'r',
        vmId: 'v',
        failurePolicy: 'FAIL_RELOAD',
        reloadBackoff: { baseMs: 500, maxMs: 30_000 },
        allowOnHeadersStopIteration: true,
        allowedCapabilities: ['proxy_log'],
        allowPrecompiled: true,
        code: { kind: 'bytes', bytes: MODULE },
        environment: [['MODE', 'prod']],
      },
    },
    {
      title: 'passes a Struct configuration written under value as JSON text',
      body: `config:
  configuration: { "@type": ${STRUCT}, value: { a: 1, b: [true, "x"], c: { d: null } } }
  vm_config: { ${CODE} }`,
      expect: {},
      configuration: '{"a":1,"b":[true,"x"],"c":{"d":null}}',
    },
    {
      title: 'passes a Struct configuration written with its fields beside "@type" as JSON text',
      body: `config:
  configuration:
    "@type": ${STRUCT}
    someKey: 1
    nested: { value: v }
  vm_config: { ${CODE} }`,
      expect: {},
      configuration: '{"someKey":1,"nested":{"value":"v"}}',
    },
    {
      title: 'passes a StringValue VM configuration and an empty StringValue',
      body: `config:
  configuration: { "@type": ${STRING_VALUE} }
  vm_config:
    configuration: { "@type": ${STRING_VALUE}, value: vm-settings }
    ${CODE}`,
      expect: { configuration: new Uint8Array(0) },
      vmConfiguration: 'vm-settings',
    },
    {
      title: 'loads inline_string code as its UTF-8 bytes',
      body: `config:\n  vm_config: { code: { local: { inline_string: "\\0asm\\x01\\0\\0\\0" } } }`,
      expect: { code: { kind: 'bytes', bytes: MODULE } },
    },
    {
      title: 'resolves a filename in a subdirectory of the config directory',
      body: `config:\n  vm_config: { code: { local: { filename: modules/other.wasm } } }`,
      expect: { code: { kind: 'file', path: join(dir, 'modules', 'other.wasm') } },
    },
    {
      title: 'takes an absolute filename as given',
      body: `config:\n  vm_config: { code: { local: { filename: ${join(dir, 'plugin.wasm')} } } }`,
      expect: { code: { kind: 'file', path: join(dir, 'plugin.wasm') } },
    },
    {
      title: 'reads deprecated fail_open: true as FAIL_OPEN',
      body: `config:\n  fail_open: true\n  vm_config: { ${CODE} }`,
      expect: { failurePolicy: 'FAIL_OPEN' },
    },
    {
      title: 'reads FAIL_IGNORE as FAIL_OPEN',
      body: `config:\n  failure_policy: FAIL_IGNORE\n  vm_config: { ${CODE} }`,
      expect: { failurePolicy: 'FAIL_OPEN' },
    },
    {
      title: 'reads UNSPECIFIED as FAIL_CLOSED',
      body: `config:\n  failure_policy: UNSPECIFIED\n  vm_config: { ${CODE} }`,
      expect: { failurePolicy: 'FAIL_CLOSED' },
    },
    {
      title: 'accepts fail_open: false next to failure_policy (false is the same as unset)',
      body: `config:\n  fail_open: false\n  failure_policy: fail_closed\n  vm_config: { ${CODE} }`,
      expect: { failurePolicy: 'FAIL_CLOSED' },
    },
    {
      title: 'defaults max_interval to ten times base_interval',
      body: `config:\n  failure_policy: FAIL_RELOAD\n  reload_config: { backoff: { base_interval: 2s } }\n  vm_config: { ${CODE} }`,
      expect: { failurePolicy: 'FAIL_RELOAD', reloadBackoff: { baseMs: 2000, maxMs: 20_000 } },
    },
    {
      title: 'reads allow_on_headers_stop_iteration in the wrapper form {value}',
      body: `config:\n  allow_on_headers_stop_iteration: { value: true }\n  vm_config: { ${CODE} }`,
      expect: { allowOnHeadersStopIteration: true },
    },
    {
      title: 'reads an empty allowed_capabilities map as no restriction',
      body: `config:\n  capability_restriction_config: { allowed_capabilities: {} }\n  vm_config: { ${CODE} }`,
      expect: { allowedCapabilities: undefined },
    },
    {
      title: 'lists allowed capabilities by name',
      body: `config:\n  capability_restriction_config:\n    allowed_capabilities: { proxy_log: {}, proxy_get_header_map_value: {}, fd_write: {} }\n  vm_config: { ${CODE} }`,
      expect: { allowedCapabilities: ['proxy_log', 'proxy_get_header_map_value', 'fd_write'] },
    },
    {
      title: 'reads an empty runtime as V8',
      body: `config:\n  vm_config: { runtime: "", ${CODE} }`,
      expect: { runtime: WASM_RUNTIME_V8 },
    },
    {
      title: 'accepts envoy.wasm.runtime.wamr',
      body: `config:\n  vm_config: { runtime: envoy.wasm.runtime.wamr, ${CODE} }`,
      expect: { runtime: 'envoy.wasm.runtime.wamr' },
    },
    {
      title: 'accepts allow_precompiled and nack_on_code_cache_miss (no effect)',
      body: `config:\n  vm_config: { allow_precompiled: false, nack_on_code_cache_miss: true, ${CODE} }`,
      expect: { allowPrecompiled: false },
    },
  ];

  for (const row of rows) {
    test(row.title, () => {
      const plugin = pluginOf(row.body);
      for (const [key, value] of Object.entries(row.expect)) {
        assert.deepEqual(plugin[key as keyof WasmPluginConfig], value, key);
      }
      if (row.configuration !== undefined) assert.equal(text(plugin.configuration), row.configuration);
      if (row.vmConfiguration !== undefined) assert.equal(text(plugin.vmConfiguration), row.vmConfiguration);
    });
  }

  test('decodes BytesValue configurations, standard and URL-safe base64', () => {
    const bytes = Uint8Array.of(0x00, 0xfb, 0xff, 0x10);
    for (const encoded of [Buffer.from(bytes).toString('base64'), Buffer.from(bytes).toString('base64url')]) {
      const plugin = pluginOf(`config:
  configuration: { "@type": ${BYTES_VALUE}, value: "${encoded}" }
  vm_config:
    configuration: { "@type": "type.example.com/google.protobuf.BytesValue", value: "${encoded}" }
    ${CODE}`);
      assert.deepEqual(plugin.configuration, bytes);
      assert.deepEqual(plugin.vmConfiguration, bytes);
    }
  });

  test('merges key_values with the host variables named in host_env_keys, skipping unset ones', (t) => {
    withEnv(t, { SLUICE_TEST_WASM_HOST: 'from-host', SLUICE_TEST_WASM_UNSET: undefined });
    const plugin = pluginOf(`config:
  vm_config:
    ${CODE}
    environment_variables:
      host_env_keys: [SLUICE_TEST_WASM_HOST, SLUICE_TEST_WASM_UNSET]
      key_values: { MODE: prod, EMPTY: "" }`);
    assert.deepEqual(plugin.environment, [
      ['MODE', 'prod'],
      ['EMPTY', ''],
      ['SLUICE_TEST_WASM_HOST', 'from-host'],
    ]);
  });

  test('reads host variables at load: a later change of the environment does not change the snapshot', (t) => {
    withEnv(t, { SLUICE_TEST_WASM_HOST: 'at-load' });
    const value = valueOf(withFilters(`config:\n  vm_config:\n    ${CODE}\n    environment_variables: { host_env_keys: [SLUICE_TEST_WASM_HOST] }`));
    process.env.SLUICE_TEST_WASM_HOST = 'later';
    assert.deepEqual(wasmPluginConfig(value).environment, [['SLUICE_TEST_WASM_HOST', 'at-load']]);
  });

  test('keeps the normalized value frozen and JSON-friendly, so a structured clone gives the same plugin config', () => {
    const value = valueOf(
      withFilters(`config:
  name: p
  configuration: { "@type": ${BYTES_VALUE}, value: "AAEC" }
  reload_config: { backoff: { base_interval: 1s } }
  vm_config:
    configuration: { "@type": ${STRUCT}, value: { k: [1, 2] } }
    code: { local: { inline_bytes: ${MODULE_BASE64} } }`),
    );
    assert.ok(Object.isFrozen(value));
    assert.deepEqual(JSON.parse(JSON.stringify(value)), value);
    assert.deepEqual(wasmPluginConfig(structuredClone(value)), wasmPluginConfig(value));
    assert.deepEqual(value, {
      config: {
        name: 'p',
        configuration: { type_url: BYTES_VALUE, value: 'AAEC' },
        reload_config: { backoff: { base_interval: 1000 } },
        vm_config: {
          configuration: { type_url: STRUCT, value: { k: [1, 2] } },
          code: { local: { inline_bytes: MODULE_BASE64 } },
        },
      },
    });
  });

  test('shows snake_case names in /config_dump and keeps Struct keys as written', () => {
    const snapshot = loadConfigText(
      withFilters(`config:
  rootId: r
  configuration: { "@type": ${STRUCT}, someKey: 1 }
  vmConfig: { code: { local: { inlineBytes: ${MODULE_BASE64} } } }`),
      undefined,
      { baseDir: dir },
    );
    const raw = snapshot.raw as any;
    const wasm = raw.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config;
    assert.deepEqual(wasm, {
      '@type': WASM_FILTER_TYPE_URL,
      config: {
        root_id: 'r',
        configuration: { '@type': STRUCT, someKey: 1 },
        vm_config: { code: { local: { inline_bytes: MODULE_BASE64 } } },
      },
    });
  });
});

describe('Wasm filter config: invalid', () => {
  const rows: Array<{ title: string; body: string; path: string; message: RegExp; line?: string }> = [
    {
      title: 'refuses an unknown PluginConfig field',
      body: `config:\n  vm_config: { ${CODE} }\n  colour: red`,
      path: '.config.colour',
      message: /unknown field "colour"/,
      line: 'colour: red',
    },
    {
      title: 'refuses an unknown VmConfig field',
      body: `config:\n  vm_config:\n    ${CODE}\n    memory_limit: 10`,
      path: '.config.vm_config.memory_limit',
      message: /unknown field "memory_limit"/,
      line: 'memory_limit',
    },
    {
      title: 'refuses remote code by name',
      body: `config:\n  vm_config:\n    code:\n      remote: { http_uri: { uri: "https://x/p.wasm", cluster: c, timeout: 1s }, sha256: abc }`,
      path: '.config.vm_config.code.remote',
      message: /"remote" is not supported: Sluice loads code from local sources only/,
      line: 'remote:',
    },
    {
      title: 'refuses the null runtime by name',
      body: `config:\n  vm_config: { runtime: envoy.wasm.runtime.null, ${CODE} }`,
      path: '.config.vm_config.runtime',
      message: /envoy\.wasm\.runtime\.null.*compiled into Envoy/,
    },
    {
      title: 'refuses an unknown runtime',
      body: `config:\n  vm_config: { runtime: envoy.wasm.runtime.v9, ${CODE} }`,
      path: '.config.vm_config.runtime',
      message: /unknown runtime "envoy.wasm.runtime.v9"/,
    },
    {
      title: 'refuses fail_open: true together with failure_policy',
      body: `config:\n  fail_open: true\n  failure_policy: FAIL_RELOAD\n  vm_config: { ${CODE} }`,
      path: '.config.failure_policy',
      message: /fail_open \(deprecated\) and failure_policy must not both be set/,
      line: 'failure_policy: FAIL_RELOAD',
    },
    {
      title: 'refuses an unknown failure_policy',
      body: `config:\n  failure_policy: FAIL_SOMETIMES\n  vm_config: { ${CODE} }`,
      path: '.config.failure_policy',
      message: /unknown value "FAIL_SOMETIMES"/,
      line: 'FAIL_SOMETIMES',
    },
    { title: 'requires config', body: `# no config`, path: '.config', message: /missing required field "config"/ },
    { title: 'requires vm_config', body: `config: { name: p }`, path: '.config.vm_config', message: /missing required field "vm_config"/ },
    { title: 'requires code', body: `config: { vm_config: { vm_id: v } }`, path: '.config.vm_config.code', message: /missing required field "code"/ },
    {
      title: 'requires local or remote code',
      body: `config: { vm_config: { code: {} } }`,
      path: '.config.vm_config.code',
      message: /one of local, remote is required/,
    },
    {
      title: 'requires one code source in local',
      body: `config: { vm_config: { code: { local: {} } } }`,
      path: '.config.vm_config.code.local',
      message: /one of filename, inline_bytes, inline_string, environment_variable is required/,
    },
    {
      title: 'refuses two code sources in local',
      body: `config:\n  vm_config:\n    code:\n      local:\n        inline_bytes: ${MODULE_BASE64}\n        inline_string: x`,
      path: '.config.vm_config.code.local.inline_string',
      message: /only one of/,
      line: 'inline_string: x',
    },
    {
      title: 'refuses a key given both in key_values and host_env_keys',
      body: `config:\n  vm_config:\n    ${CODE}\n    environment_variables:\n      key_values: { HOME: /root }\n      host_env_keys:\n      - HOME`,
      path: '.config.vm_config.environment_variables.host_env_keys[0]',
      message: /"HOME" is also set in key_values/,
      line: '- HOME',
    },
    {
      title: 'refuses a key listed twice in host_env_keys',
      body: `config:\n  vm_config:\n    ${CODE}\n    environment_variables: { host_env_keys: [PATH, PATH] }`,
      path: '.config.vm_config.environment_variables.host_env_keys[1]',
      message: /"PATH" is listed twice in host_env_keys/,
    },
    {
      title: 'refuses a non-string key_values value',
      body: `config:\n  vm_config:\n    ${CODE}\n    environment_variables: { key_values: { PORT: 8080 } }`,
      path: '.config.vm_config.environment_variables.key_values["PORT"]',
      message: /expected a string/,
    },
    {
      title: 'reports a missing code file with its path and line',
      body: `config:\n  vm_config:\n    code:\n      local:\n        filename: missing.wasm`,
      path: '.config.vm_config.code.local.filename',
      message: new RegExp(`cannot read Wasm code file ".*missing\\.wasm": ENOENT`),
      line: 'missing.wasm',
    },
    {
      title: 'refuses a code file that is not WebAssembly',
      body: `config:\n  vm_config: { code: { local: { filename: notes.txt } } }`,
      path: '.config.vm_config.code.local.filename',
      message: /notes\.txt" is not a WebAssembly binary/,
    },
    {
      title: 'says so when the code file is WebAssembly text',
      body: `config:\n  vm_config: { code: { local: { filename: plugin.wat } } }`,
      path: '.config.vm_config.code.local.filename',
      message: /looks like WebAssembly text/,
    },
    {
      title: 'refuses a component instead of a core module',
      body: `config:\n  vm_config: { code: { local: { filename: component.wasm } } }`,
      path: '.config.vm_config.code.local.filename',
      message: /not a core WebAssembly module/,
    },
    {
      title: 'refuses an empty code file',
      body: `config:\n  vm_config: { code: { local: { filename: empty.wasm } } }`,
      path: '.config.vm_config.code.local.filename',
      message: /empty\.wasm" is empty/,
    },
    {
      title: 'refuses a directory as code file',
      body: `config:\n  vm_config: { code: { local: { filename: modules } } }`,
      path: '.config.vm_config.code.local.filename',
      message: /is not a regular file/,
    },
    {
      title: 'refuses empty inline code',
      body: `config:\n  vm_config: { code: { local: { inline_string: "" } } }`,
      path: '.config.vm_config.code.local.inline_string',
      message: /the inline_string code is empty/,
    },
    {
      title: 'refuses inline_bytes that are not base64',
      body: `config:\n  vm_config: { code: { local: { inline_bytes: "not base64!" } } }`,
      path: '.config.vm_config.code.local.inline_bytes',
      message: /expected base64 text/,
    },
    {
      title: 'refuses watched_directory by name',
      body: `config:\n  vm_config: { code: { local: { filename: plugin.wasm, watched_directory: { path: /tmp } } } }`,
      path: '.config.vm_config.code.local.watched_directory',
      message: /Envoy field Sluice does not support/,
    },
    {
      title: 'refuses a configuration type other than StringValue, BytesValue and Struct, naming it',
      body: `config:\n  configuration: { "@type": type.googleapis.com/google.protobuf.Duration, value: 1s }\n  vm_config: { ${CODE} }`,
      path: '.config.configuration',
      message: /configuration type "type\.googleapis\.com\/google\.protobuf\.Duration" is not supported/,
    },
    {
      title: 'refuses a TypedStruct configuration in the VM configuration',
      body: `config:\n  vm_config:\n    ${CODE}\n    configuration: { "@type": type.googleapis.com/udpa.type.v1.TypedStruct, type_url: x, value: {} }`,
      path: '.config.vm_config.configuration',
      message: /udpa\.type\.v1\.TypedStruct" is not supported/,
    },
    {
      title: 'refuses a configuration without "@type"',
      body: `config:\n  configuration: { value: x }\n  vm_config: { ${CODE} }`,
      path: '.config.configuration',
      message: /missing "@type"/,
    },
    {
      title: 'refuses a bare string as configuration',
      body: `config:\n  configuration: '{"a":1}'\n  vm_config: { ${CODE} }`,
      path: '.config.configuration',
      message: /expected an object with "@type"/,
    },
    {
      title: 'refuses a StringValue whose value is not a string',
      body: `config:\n  configuration:\n    "@type": ${STRING_VALUE}\n    value: 42\n  vm_config: { ${CODE} }`,
      path: '.config.configuration.value',
      message: /expected a string, got a number 42 \(quote it in YAML\)/,
      line: 'value: 42',
    },
    {
      title: 'refuses an unknown field in a StringValue',
      body: `config:\n  configuration: { "@type": ${STRING_VALUE}, value: x, extra: y }\n  vm_config: { ${CODE} }`,
      path: '.config.configuration.extra',
      message: /unknown field "extra"/,
    },
    {
      title: 'refuses a BytesValue whose value is not base64',
      body: `config:\n  configuration: { "@type": ${BYTES_VALUE}, value: "%%%" }\n  vm_config: { ${CODE} }`,
      path: '.config.configuration.value',
      message: /expected base64 text/,
    },
    {
      title: 'refuses a non-boolean allow_on_headers_stop_iteration',
      body: `config:\n  allow_on_headers_stop_iteration: "yes"\n  vm_config: { ${CODE} }`,
      path: '.config.allow_on_headers_stop_iteration',
      message: /expected true or false/,
    },
    {
      title: 'refuses a non-boolean value in the BoolValue wrapper form',
      body: `config:\n  allow_on_headers_stop_iteration: { value: 1 }\n  vm_config: { ${CODE} }`,
      path: '.config.allow_on_headers_stop_iteration.value',
      message: /expected true or false/,
    },
    {
      title: 'requires base_interval in a backoff',
      body: `config:\n  reload_config: { backoff: { max_interval: 5s } }\n  vm_config: { ${CODE} }`,
      path: '.config.reload_config.backoff.base_interval',
      message: /missing required field "base_interval"/,
    },
    {
      title: 'refuses a max_interval below base_interval',
      body: `config:\n  reload_config:\n    backoff:\n      base_interval: 5s\n      max_interval: 1s\n  vm_config: { ${CODE} }`,
      path: '.config.reload_config.backoff.max_interval',
      message: /must be at least base_interval \(5s\), got 1s/,
      line: 'max_interval: 1s',
    },
    {
      title: 'refuses a duration written in milliseconds',
      body: `config:\n  reload_config: { backoff: { base_interval: 250ms } }\n  vm_config: { ${CODE} }`,
      path: '.config.reload_config.backoff.base_interval',
      message: /expected e\.g\. "0\.25s"/,
    },
    {
      title: 'refuses fields in a capability SanitizationConfig',
      body: `config:\n  capability_restriction_config: { allowed_capabilities: { proxy_log: { deny: true } } }\n  vm_config: { ${CODE} }`,
      path: '.config.capability_restriction_config.allowed_capabilities["proxy_log"].deny',
      message: /unknown field "deny"/,
    },
  ];

  for (const row of rows) {
    test(row.title, () => {
      const yaml = withFilters(row.body);
      const problems = problemsOf(yaml);
      assert.equal(problems.length, 1, JSON.stringify(problems, null, 2));
      assert.equal(problems[0].path, FILTER_PATH + row.path, problems[0].message);
      assert.match(problems[0].message, row.message);
      if (row.line !== undefined) assert.equal(problems[0].line, lineOf(yaml, row.line), problems[0].message);
    });
  }

  test('throws one ConfigError from loadConfigText with the problem of each of two filters', () => {
    const yaml = withFilters(`config: { vm_config: { runtime: envoy.wasm.runtime.null, ${CODE} } }`, `config: { vm_config: { code: { remote: {} } } }`);
    assert.throws(
      () => loadConfigText(yaml, undefined, { baseDir: dir }),
      (e: unknown) => {
        assert.ok(e instanceof SluiceError);
        assert.equal(e.code, ErrorCode.CONFIG_INVALID);
        const paths = (e as unknown as { problems: { path: string }[] }).problems.map((p) => p.path);
        assert.deepEqual(paths, [
          `${FILTER_PATH}.config.vm_config.runtime`,
          `${HCM_PATH}.http_filters[1].typed_config.config.vm_config.code.remote`,
        ]);
        return true;
      },
    );
  });

  test('reports an unset code environment variable, and a set one that cannot hold a binary module', (t) => {
    withEnv(t, { SLUICE_TEST_WASM_CODE_UNSET: undefined, SLUICE_TEST_WASM_CODE_TEXT: 'hello' });
    const path = `${FILTER_PATH}.config.vm_config.code.local.environment_variable`;
    const unset = problemsOf(withFilters(`config: { vm_config: { code: { local: { environment_variable: SLUICE_TEST_WASM_CODE_UNSET } } } }`));
    assert.deepEqual(unset.map((p) => [p.path, /"SLUICE_TEST_WASM_CODE_UNSET" is not set/.test(p.message)]), [[path, true]]);
    const textual = problemsOf(withFilters(`config: { vm_config: { code: { local: { environment_variable: SLUICE_TEST_WASM_CODE_TEXT } } } }`));
    assert.deepEqual(textual.map((p) => [p.path, /not a WebAssembly binary/.test(p.message)]), [[path, true]]);
  });
});

describe('Wasm filter config: whole files', () => {
  test('validates two Wasm filters and the router in one HCM', () => {
    const yaml = withFilters(
      `config:
  name: auth
  root_id: auth_root
  configuration: { "@type": ${STRING_VALUE}, value: '{"header":"x-demo"}' }
  failure_policy: FAIL_OPEN
  vm_config:
    vm_id: shared
    runtime: envoy.wasm.runtime.v8
    code: { local: { filename: plugin.wasm } }
    environment_variables: { key_values: { MODE: prod } }`,
      `config:
  name: stats
  configuration: { "@type": ${STRUCT}, value: { prefix: edge } }
  failure_policy: FAIL_RELOAD
  reload_config: { backoff: { base_interval: 1s, max_interval: 30s } }
  vm_config:
    vm_id: shared
    code: { local: { inline_bytes: ${MODULE_BASE64} } }`,
    );
    assert.deepEqual(problemsOf(yaml), []);
    const [auth, stats] = [0, 1].map((i) => wasmPluginConfig(valueOf(yaml, i)));
    assert.equal(auth.name, 'auth');
    assert.equal(auth.failurePolicy, 'FAIL_OPEN');
    assert.deepEqual(auth.code, { kind: 'file', path: join(dir, 'plugin.wasm') });
    assert.equal(stats.name, 'stats');
    assert.equal(text(stats.configuration), '{"prefix":"edge"}');
    assert.deepEqual(stats.reloadBackoff, { baseMs: 1000, maxMs: 30_000 });
  });

  test('resolves a relative filename against the directory of the config file', () => {
    const file = join(dir, 'modules', 'envoy.yaml');
    writeFileSync(file, withFilters(`config:\n  vm_config: { code: { local: { filename: other.wasm } } }`));
    const plugin = wasmPluginConfig(hcmOf(loadConfigFile(file)).http_filters[0].typed_config!.value);
    assert.deepEqual(plugin.code, { kind: 'file', path: join(dir, 'modules', 'other.wasm') });
  });

  test('accepts the Wasm config wrapped in a TypedStruct', () => {
    const yaml = configYaml({
      httpFilters: `- name: wasm
  typed_config:
    "@type": type.googleapis.com/udpa.type.v1.TypedStruct
    type_url: ${WASM_FILTER_TYPE_URL}
    value:
      config:
        vm_config: { code: { local: { filename: plugin.wasm } } }
- name: envoy.filters.http.router`,
    });
    assert.deepEqual(wasmPluginConfig(valueOf(yaml)).code, { kind: 'file', path: join(dir, 'plugin.wasm') });
  });
});

describe('loadPluginCode', () => {
  test('returns inline code and reads a code file', () => {
    assert.deepEqual(loadPluginCode(pluginOf(`config:\n  vm_config: { code: { local: { inline_bytes: ${MODULE_BASE64} } } }`)), MODULE);
    assert.deepEqual(loadPluginCode(pluginOf(`config:\n  vm_config: { ${CODE} }`)), MODULE);
  });

  test('throws SLUICE_ERR_CONFIG_READ naming a code file that went away after load', (t) => {
    const file = join(dir, 'going.wasm');
    writeFileSync(file, MODULE);
    t.after(() => rmSync(file, { force: true }));
    const plugin = pluginOf(`config:\n  name: going\n  vm_config: { code: { local: { filename: going.wasm } } }`);
    rmSync(file);
    assert.throws(
      () => loadPluginCode(plugin),
      (e: unknown) => e instanceof SluiceError && e.code === ErrorCode.CONFIG_READ && e.source === file && e.message.includes(file),
    );
  });

  test('throws SLUICE_ERR_WASM_LOAD naming a code file that is no longer a module', (t) => {
    const file = join(dir, 'changing.wasm');
    writeFileSync(file, MODULE);
    t.after(() => rmSync(file, { force: true }));
    const plugin = pluginOf(`config:\n  vm_config: { code: { local: { filename: changing.wasm } } }`);
    writeFileSync(file, 'oops');
    assert.throws(
      () => loadPluginCode(plugin),
      (e: unknown) => e instanceof SluiceError && e.code === ErrorCode.WASM_LOAD && e.source === file,
    );
  });

  test('gives bytes with an ArrayBuffer of their own', () => {
    const bytes = loadPluginCode(pluginOf(`config:\n  vm_config: { ${CODE} }`));
    assert.equal(bytes.byteOffset, 0);
    assert.equal(bytes.buffer.byteLength, MODULE.length);
  });
});
