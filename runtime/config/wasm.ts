/**
 * `envoy.extensions.filters.http.wasm.v3.Wasm { config: PluginConfig }`: the config schema, the
 * normalized `typed_config.value` it produces, and the typed plugin config the Wasm runtime uses.
 *
 * Contract:
 * - This module registers nothing at import. Whoever provides the Wasm filter registers
 *   `WASM_FILTER_SCHEMA` under `WASM_FILTER_TYPE_URL` together with its builder
 *   (`runtime/http/filter-registry.ts`); the schema is also meant for the other `PluginConfig`
 *   holders (`PLUGIN_CONFIG_SCHEMA`).
 * - The normalized value (`WasmFilterValue`) keeps Envoy's snake_case shape but only JSON values,
 *   because the frozen snapshot reaches the workers by structured clone: bytes are standard base64
 *   text, durations are milliseconds, enums are upper case. `wasmPluginConfig` decodes it and
 *   applies Envoy's defaults; it does not re-validate.
 * - What the environment or the file system says is read at load, once, on the main thread: the
 *   `environment_variable` code source, `host_env_keys` (folded into `key_values`, as Envoy merges
 *   them), and the code file's existence and WebAssembly header (problems carry the YAML line).
 *   The code file's bytes are read later by `loadPluginCode`, which throws a `SluiceError` naming
 *   the file if it has gone or changed into something that is not a module.
 * - Refused with a reason: `code.remote` (local sources only), runtime `envoy.wasm.runtime.null`
 *   (C++ plugins compiled into Envoy), `configuration` types other than StringValue, BytesValue and
 *   Struct, `fail_open: true` together with a `failure_policy`, duplicate environment keys.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCode, SluiceError } from '../errors.ts';
import { bool, duration, enumOf, list, mapOf, message, report, scalar, str, uint32 } from './schema.ts';
import type { At, Ctx, Parser } from './schema.ts';
import { typeName, typeUrl } from './typed-config.ts';
import { describeValue, isPlainObject } from './value-kind.ts';
import { inheritLines } from './yaml-source.ts';

export const WASM_FILTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm';

export const WASM_RUNTIME_V8 = 'envoy.wasm.runtime.v8';
/** Runtime names Envoy knows that name a Wasm engine; Sluice runs all of them on Node's V8. */
export const WASM_RUNTIMES: readonly string[] = [
  WASM_RUNTIME_V8,
  'envoy.wasm.runtime.wasmtime',
  'envoy.wasm.runtime.wamr',
  'envoy.wasm.runtime.wavm',
];
const NULL_RUNTIME = 'envoy.wasm.runtime.null';

/** Envoy's FAIL_RELOAD backoff when `reload_config.backoff` is unset: 1 s base, max 10 × base. */
export const DEFAULT_WASM_RELOAD_BASE_MS = 1000;
export const WASM_RELOAD_MAX_FACTOR = 10;

const STRING_VALUE_TYPE = 'google.protobuf.StringValue';
const BYTES_VALUE_TYPE = 'google.protobuf.BytesValue';
const STRUCT_TYPE = 'google.protobuf.Struct';

// ---------- normalized typed_config.value ----------

/** A `configuration` Any: StringValue → its text, BytesValue → base64, Struct → the object. */
export type WasmConfigurationValue =
  | { type_url: 'type.googleapis.com/google.protobuf.StringValue'; value: string }
  | { type_url: 'type.googleapis.com/google.protobuf.BytesValue'; value: string }
  | { type_url: 'type.googleapis.com/google.protobuf.Struct'; value: Record<string, unknown> };

/** `filename` is absolute; inline strings and `environment_variable` arrive as `inline_bytes` (base64). */
export type WasmCodeValue = { filename: string } | { inline_bytes: string };

export type WasmVmConfigValue = {
  vm_id?: string;
  runtime?: string;
  code?: { local: WasmCodeValue };
  configuration?: WasmConfigurationValue;
  allow_precompiled?: boolean;
  nack_on_code_cache_miss?: boolean;
  /** `host_env_keys` already resolved into `key_values` (unset host variables are left out, as in Envoy). */
  environment_variables?: { key_values: Record<string, string> };
};

/** `BackoffStrategy` durations in milliseconds. */
export type BackoffValue = { base_interval?: number; max_interval?: number };

export type WasmPluginConfigValue = {
  name?: string;
  root_id?: string;
  vm_config: WasmVmConfigValue;
  configuration?: WasmConfigurationValue;
  /** `fail_open: true` and `FAIL_IGNORE` arrive as `FAIL_OPEN`. */
  failure_policy?: 'UNSPECIFIED' | 'FAIL_RELOAD' | 'FAIL_CLOSED' | 'FAIL_OPEN';
  reload_config?: { backoff?: BackoffValue };
  capability_restriction_config?: { allowed_capabilities?: Record<string, Record<string, never>> };
  allow_on_headers_stop_iteration?: boolean;
  /** Sluice extension (Envoy has no such field): the plugin's sandbox limits. */
  sluice_sandbox?: { max_memory_mb?: number; cpu_budget?: number };
};

export type WasmFilterValue = { config: WasmPluginConfigValue };

// ---------- field parsers ----------

const BASE64_TEXT = /^[A-Za-z0-9+/\-_\s]*={0,2}\s*$/;

/** protobuf `bytes` in JSON (standard or URL-safe base64), normalized to standard base64. */
const BASE64: Parser<string> = scalar((v) => {
  if (typeof v !== 'string') return `expected base64 text, got ${describeValue(v)}`;
  if (!BASE64_TEXT.test(v)) return 'expected base64 text';
  return { value: Buffer.from(v, 'base64').toString('base64') };
});

/** Runs a parser and tells whether it reported anything (message() builds even over bad fields). */
function parseClean<T>(parser: Parser<T>, node: unknown, at: At, ctx: Ctx): T | undefined {
  const before = ctx.problems.length;
  const value = parser.parse(node, at, ctx);
  return ctx.problems.length > before ? undefined : value;
}

const STRING_VALUE = message({ fields: { value: str() } });
const BYTES_VALUE = message({ fields: { value: BASE64 } });

/**
 * `google.protobuf.Any` delivered to the plugin as bytes. A Struct may be written the protobuf-JSON
 * way (`value: {…}`) or with its fields beside `"@type"`; a body that is exactly one object under
 * `value` is read the protobuf-JSON way.
 */
const CONFIGURATION: Parser<WasmConfigurationValue> = {
  parse(node, at, ctx) {
    if (!isPlainObject(node)) {
      report(ctx, at, `expected an object with "@type" (google.protobuf.StringValue, BytesValue or Struct), got ${describeValue(node)}`);
      return undefined;
    }
    const url = node['@type'];
    if (typeof url !== 'string' || url === '') {
      report(ctx, at, 'missing "@type" (e.g. "type.googleapis.com/google.protobuf.StringValue")');
      return undefined;
    }
    const { '@type': _, ...body } = node;
    inheritLines(body, node);
    switch (typeName(url)) {
      case STRING_VALUE_TYPE: {
        const v = parseClean(STRING_VALUE, body, at, ctx);
        return v && { type_url: `type.googleapis.com/${STRING_VALUE_TYPE}`, value: v.value ?? '' };
      }
      case BYTES_VALUE_TYPE: {
        const v = parseClean(BYTES_VALUE, body, at, ctx);
        return v && { type_url: `type.googleapis.com/${BYTES_VALUE_TYPE}`, value: v.value ?? '' };
      }
      case STRUCT_TYPE: {
        const keys = Object.keys(body);
        const fields = keys.length === 1 && keys[0] === 'value' && isPlainObject(body.value) ? body.value : body;
        return { type_url: `type.googleapis.com/${STRUCT_TYPE}`, value: fields };
      }
      default:
        report(
          ctx,
          at,
          `configuration type "${typeUrl(url)}" is not supported; Sluice passes google.protobuf.StringValue, google.protobuf.BytesValue or google.protobuf.Struct (as JSON) to the plugin`,
        );
        return undefined;
    }
  },
};

const BOOL_WRAPPER = message({ fields: { value: bool } });

/** `google.protobuf.BoolValue`: a bare boolean (protobuf JSON) or the message form `{value}`. */
const BOOL_VALUE: Parser<boolean> = {
  parse(node, at, ctx) {
    if (!isPlainObject(node)) return bool.parse(node, at, ctx);
    const wrapper = parseClean(BOOL_WRAPPER, node, at, ctx);
    return wrapper === undefined ? undefined : (wrapper.value ?? false);
  },
};

const RUNTIME: Parser<string> = scalar((v) => {
  if (typeof v !== 'string') return `expected a runtime name such as "${WASM_RUNTIME_V8}", got ${describeValue(v)}`;
  if (v === NULL_RUNTIME) {
    return `runtime "${NULL_RUNTIME}" runs C++ plugins compiled into Envoy, which Sluice cannot run; use "${WASM_RUNTIME_V8}" (or leave runtime empty) with a .wasm module`;
  }
  if (v !== '' && !WASM_RUNTIMES.includes(v)) return `unknown runtime "${v}"; expected one of ${WASM_RUNTIMES.join(', ')}`;
  return { value: v };
});

const LOCAL_CODE = message({
  fields: {
    filename: str({ minLen: 1 }),
    inline_bytes: BASE64,
    inline_string: str(),
    environment_variable: str({ minLen: 1 }),
  },
  unsupported: ['watched_directory'],
  oneOf: [{ fields: ['filename', 'inline_bytes', 'inline_string', 'environment_variable'], required: true }],
  build(f, m): WasmCodeValue | undefined {
    if (f.filename !== undefined) {
      const path = resolve(m.ctx.baseDir, f.filename);
      const problem = codeFileProblem(path);
      if (problem !== undefined) {
        report(m.ctx, m.loc('filename'), problem);
        return undefined;
      }
      return { filename: path };
    }
    let field: string;
    let bytes: Buffer;
    if (f.inline_bytes !== undefined) {
      field = 'inline_bytes';
      bytes = Buffer.from(f.inline_bytes, 'base64');
    } else if (f.inline_string !== undefined) {
      field = 'inline_string';
      bytes = Buffer.from(f.inline_string, 'utf8');
    } else if (f.environment_variable !== undefined) {
      field = 'environment_variable';
      const value = process.env[f.environment_variable];
      if (value === undefined) {
        report(m.ctx, m.loc(field), `environment variable "${f.environment_variable}" is not set`);
        return undefined;
      }
      bytes = Buffer.from(value, 'utf8');
    } else {
      return undefined;
    }
    const problem = wasmHeaderProblem(bytes, `the ${field} code`);
    if (problem !== undefined) {
      report(m.ctx, m.loc(field), problem);
      return undefined;
    }
    return { inline_bytes: bytes.toString('base64') };
  },
});

const REMOTE_CODE: Parser<never> = {
  parse(_node, at, ctx) {
    report(
      ctx,
      at,
      'field "remote" is not supported: Sluice loads code from local sources only (local: filename, inline_bytes, inline_string or environment_variable)',
    );
    return undefined;
  },
};

/** `config.core.v3.AsyncDataSource`, local half only. */
const CODE = message({
  fields: { local: LOCAL_CODE, remote: REMOTE_CODE },
  oneOf: [{ fields: ['local', 'remote'], required: true }],
  build: (f): { local: WasmCodeValue } | undefined => (f.local === undefined ? undefined : { local: f.local }),
});

const ENVIRONMENT_VARIABLES = message({
  fields: { host_env_keys: list(str({ minLen: 1 })), key_values: mapOf(str()) },
  build(f, m): { key_values: Record<string, string> } {
    const merged: Record<string, string> = { ...f.key_values };
    const seen = new Set(Object.keys(merged));
    const hostKeys = f.host_env_keys ?? [];
    hostKeys.forEach((key, i) => {
      if (seen.has(key)) {
        const where = f.key_values !== undefined && Object.hasOwn(f.key_values, key) ? 'is also set in key_values' : 'is listed twice in host_env_keys';
        report(m.ctx, m.loc('host_env_keys', i), `environment variable "${key}" ${where}; every key must be unique`);
        return;
      }
      seen.add(key);
      const value = process.env[key];
      if (value !== undefined) merged[key] = value;
    });
    return { key_values: merged };
  },
});

const VM_CONFIG = message({
  fields: {
    vm_id: str(),
    runtime: RUNTIME,
    code: CODE,
    configuration: CONFIGURATION,
    allow_precompiled: bool,
    nack_on_code_cache_miss: bool,
    environment_variables: ENVIRONMENT_VARIABLES,
  },
  required: ['code'],
  build: (f): WasmVmConfigValue => f,
});

/** `config.core.v3.BackoffStrategy`, in milliseconds. */
const BACKOFF = message({
  fields: { base_interval: duration({ min: 1 }), max_interval: duration({ positive: true }) },
  required: ['base_interval'],
  build(f, m): BackoffValue {
    if (f.base_interval !== undefined && f.max_interval !== undefined && f.max_interval < f.base_interval) {
      report(m.ctx, m.loc('max_interval'), `must be at least base_interval (${f.base_interval / 1000}s), got ${f.max_interval / 1000}s`);
    }
    return f;
  },
});

/** SanitizationConfig is an empty message in Envoy's API (sanitization is not implemented there either). */
const SANITIZATION = message({ fields: {}, build: (): Record<string, never> => ({}) });

const RELOAD_CONFIG = message({ fields: { backoff: BACKOFF }, build: (f): { backoff?: BackoffValue } => f });

const CAPABILITY_RESTRICTION = message({
  fields: { allowed_capabilities: mapOf(SANITIZATION) },
  build: (f): { allowed_capabilities?: Record<string, Record<string, never>> } => f,
});

/**
 * Sluice's sandbox limits for one plugin (an extension: Envoy has no per-plugin CPU or memory
 * limit). `max_memory_mb`: cap on linear memory (the module's own maximum is only lowered);
 * `cpu_budget`: fuel units (≈ loop iterations + calls) per callback, 0 = no metering.
 */
const SANDBOX = message({
  fields: { max_memory_mb: uint32({ min: 1, max: 4096 }), cpu_budget: uint32({ max: 2 ** 31 - 1 }) },
  build: (f): { max_memory_mb?: number; cpu_budget?: number } => f,
});

const FAILURE_POLICY = enumOf(['UNSPECIFIED', 'FAIL_RELOAD', 'FAIL_CLOSED', 'FAIL_OPEN', 'FAIL_IGNORE'] as const);

/** `envoy.extensions.wasm.v3.PluginConfig`. */
export const PLUGIN_CONFIG_SCHEMA: Parser<WasmPluginConfigValue> = message({
  fields: {
    name: str(),
    root_id: str(),
    vm_config: VM_CONFIG,
    configuration: CONFIGURATION,
    fail_open: bool,
    capability_restriction_config: CAPABILITY_RESTRICTION,
    failure_policy: FAILURE_POLICY,
    reload_config: RELOAD_CONFIG,
    allow_on_headers_stop_iteration: BOOL_VALUE,
    sluice_sandbox: SANDBOX,
  },
  required: ['vm_config'],
  build(f, m): WasmPluginConfigValue | undefined {
    const { fail_open, failure_policy, vm_config, ...rest } = f;
    // Newer Envoy reads FAIL_IGNORE as today's FAIL_OPEN, and deprecated fail_open: true likewise;
    // it refuses a config that says both (fail_open: false is indistinguishable from unset).
    let policy = failure_policy === 'FAIL_IGNORE' ? 'FAIL_OPEN' : failure_policy;
    if (fail_open === true) {
      if (policy !== undefined && policy !== 'UNSPECIFIED') {
        report(m.ctx, m.loc('failure_policy'), 'fail_open (deprecated) and failure_policy must not both be set; keep failure_policy only');
      }
      policy = 'FAIL_OPEN';
    }
    if (vm_config === undefined) return undefined;
    return policy === undefined ? { ...rest, vm_config } : { ...rest, vm_config, failure_policy: policy };
  },
});

/** `envoy.extensions.filters.http.wasm.v3.Wasm`. */
export const WASM_FILTER_SCHEMA: Parser<Record<string, unknown>> = message({
  fields: { config: PLUGIN_CONFIG_SCHEMA },
  required: ['config'],
  build: (f): WasmFilterValue | undefined => (f.config === undefined ? undefined : { config: f.config }),
});

// ---------- code checks ----------

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];
const WASM_CORE_VERSION = [0x01, 0x00, 0x00, 0x00];

/** Why `bytes` cannot be a core WebAssembly module, judged from its 8-byte preamble. */
function wasmHeaderProblem(bytes: Uint8Array, what: string): string | undefined {
  if (bytes.length === 0) return `${what} is empty`;
  if (bytes.length < 8 || !WASM_MAGIC.every((b, i) => bytes[i] === b)) {
    const text = Buffer.from(bytes.subarray(0, 64)).toString('latin1').trimStart();
    const hint = text.startsWith('(module') ? '; it looks like WebAssembly text: compile it to a .wasm binary' : '';
    return `${what} is not a WebAssembly binary (it does not start with "\\0asm")${hint}`;
  }
  if (!WASM_CORE_VERSION.every((b, i) => bytes[4 + i] === b)) {
    const found = Buffer.from(bytes.subarray(4, 8)).toString('hex');
    return `${what} is not a core WebAssembly module (binary version ${found}, expected 01000000); proxy-wasm runs core modules, not components`;
  }
  return undefined;
}

/** Reads only the preamble (and enough to recognize WebAssembly text): the module is read when a VM is built. */
function codeFileProblem(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return `cannot read Wasm code file "${path}": ${errorCode(e)}`;
  }
  try {
    if (!fstatSync(fd).isFile()) return `Wasm code file "${path}" is not a regular file`;
    const head = Buffer.alloc(64);
    const n = readSync(fd, head, 0, head.length, 0);
    return wasmHeaderProblem(head.subarray(0, n), `Wasm code file "${path}"`);
  } catch (e) {
    return `cannot read Wasm code file "${path}": ${errorCode(e)}`;
  } finally {
    closeSync(fd);
  }
}

function errorCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

// ---------- typed result ----------

export type WasmFailurePolicy = 'FAIL_CLOSED' | 'FAIL_OPEN' | 'FAIL_RELOAD';

export type WasmCode = { kind: 'file'; path: string } | { kind: 'bytes'; bytes: Uint8Array };

/** One Wasm plugin as the runtime uses it, Envoy's defaults applied. */
export interface WasmPluginConfig {
  /** `plugin_name`; empty when unset. */
  name: string;
  /** `plugin_root_id`; empty when unset. */
  rootId: string;
  /** VM sharing key part; empty when unset. */
  vmId: string;
  /** The runtime name as configured, `envoy.wasm.runtime.v8` when empty (every runtime runs on Node's V8). */
  runtime: string;
  /** Bytes for `proxy_on_configure` (empty when unset). */
  configuration: Uint8Array;
  /** Bytes for `proxy_on_vm_start` (empty when unset). */
  vmConfiguration: Uint8Array;
  code: WasmCode;
  /** UNSPECIFIED → FAIL_CLOSED; FAIL_IGNORE and `fail_open: true` → FAIL_OPEN. */
  failurePolicy: WasmFailurePolicy;
  /** Backoff between FAIL_RELOAD attempts. */
  reloadBackoff: { baseMs: number; maxMs: number };
  /** Import names the module may call; `undefined` = no restriction (unset or empty map, as in Envoy). */
  allowedCapabilities: string[] | undefined;
  allowOnHeadersStopIteration: boolean;
  /** WASI environment: key_values plus the host variables named in host_env_keys (read at load). */
  environment: Array<[string, string]>;
  allowPrecompiled: boolean;
  /** Sandbox limits (`sluice_sandbox`, else the defaults of runtime/wasm/sandbox.ts). */
  sandbox: { maxMemoryBytes: number | undefined; fuelPerCallback: number | undefined | null };
}

/** The typed config from the normalized `typed_config.value` that `WASM_FILTER_SCHEMA` produced. */
export function wasmPluginConfig(typedConfigValue: Record<string, unknown>): WasmPluginConfig {
  const c = (typedConfigValue as Partial<WasmFilterValue>).config;
  const local = c?.vm_config?.code?.local;
  if (c === undefined || local === undefined) {
    throw new SluiceError(ErrorCode.INTERNAL, 'Wasm filter config was not produced by WASM_FILTER_SCHEMA: config.vm_config.code.local is missing');
  }
  const vm = c.vm_config;
  const baseMs = c.reload_config?.backoff?.base_interval ?? DEFAULT_WASM_RELOAD_BASE_MS;
  const capabilities = Object.keys(c.capability_restriction_config?.allowed_capabilities ?? {});
  return {
    name: c.name ?? '',
    rootId: c.root_id ?? '',
    vmId: vm.vm_id ?? '',
    runtime: vm.runtime || WASM_RUNTIME_V8,
    configuration: configurationBytes(c.configuration),
    vmConfiguration: configurationBytes(vm.configuration),
    code: 'filename' in local ? { kind: 'file', path: local.filename } : { kind: 'bytes', bytes: base64Bytes(local.inline_bytes) },
    failurePolicy: c.failure_policy === undefined || c.failure_policy === 'UNSPECIFIED' ? 'FAIL_CLOSED' : c.failure_policy,
    reloadBackoff: { baseMs, maxMs: c.reload_config?.backoff?.max_interval ?? baseMs * WASM_RELOAD_MAX_FACTOR },
    allowedCapabilities: capabilities.length === 0 ? undefined : capabilities,
    allowOnHeadersStopIteration: c.allow_on_headers_stop_iteration ?? false,
    environment: Object.entries(vm.environment_variables?.key_values ?? {}),
    allowPrecompiled: vm.allow_precompiled ?? false,
    sandbox: {
      maxMemoryBytes: c.sluice_sandbox?.max_memory_mb === undefined ? undefined : c.sluice_sandbox.max_memory_mb * 1024 * 1024,
      // undefined = the default budget; null = metering off (cpu_budget: 0).
      fuelPerCallback: c.sluice_sandbox?.cpu_budget === undefined ? undefined : c.sluice_sandbox.cpu_budget === 0 ? null : c.sluice_sandbox.cpu_budget,
    },
  };
}

function configurationBytes(any: WasmConfigurationValue | undefined): Uint8Array {
  if (any === undefined) return new Uint8Array(0);
  switch (any.type_url) {
    case 'type.googleapis.com/google.protobuf.StringValue':
      return new TextEncoder().encode(any.value);
    case 'type.googleapis.com/google.protobuf.BytesValue':
      return base64Bytes(any.value);
    case 'type.googleapis.com/google.protobuf.Struct':
      return new TextEncoder().encode(JSON.stringify(any.value));
  }
}

/** Decoded into an ArrayBuffer of its own (small Buffers share Node's pool). */
function base64Bytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/**
 * The module bytes. Inline code is returned as loaded; a file is read now, and a missing or
 * unreadable file throws `SLUICE_ERR_CONFIG_READ`, a file that is no longer a core module
 * `SLUICE_ERR_WASM_LOAD`, both naming the file.
 */
export function loadPluginCode(c: WasmPluginConfig): Uint8Array {
  if (c.code.kind === 'bytes') return c.code.bytes;
  const path = c.code.path;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SluiceError(ErrorCode.CONFIG_READ, `cannot read Wasm code file ${path} of plugin "${c.name}": ${errorCode(e)}`, {
      source: path,
      cause: e,
    });
  }
  const problem = wasmHeaderProblem(bytes, `Wasm code file "${path}" of plugin "${c.name}"`);
  if (problem !== undefined) throw new SluiceError(ErrorCode.WASM_LOAD, problem, { source: path });
  // Small reads may sit in Node's shared pool; callers get bytes with an ArrayBuffer of their own.
  const own = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length;
  return own ? new Uint8Array(bytes.buffer, 0, bytes.length) : new Uint8Array(bytes);
}
