/**
 * Contract: every import Sluice's host provides to a guest module, and every guest export the host
 * knows about, with exact wasm signatures (proxy-wasm-abi.md §3, §3.14, §6, §8).
 *
 * Who must do what:
 * - The host linker (runtime/wasm) must provide an implementation for EVERY row of `HOST_IMPORTS`
 *   under its module name, for every ABI version (the union: a JS host is not rejected for extra
 *   imports, so the version-specific rows are linked regardless; `abiVersions` says which versions
 *   cpp-host/Envoy link a row for, and the behaviour differences are switched on the detected version).
 * - `wasi_unstable` rows mirror `wasi_snapshot_preview1` with the same implementations, as cpp-host
 *   registers them (the wasm-level signatures are identical; only some struct layouts differ, which
 *   no proxy-wasm SDK relies on).
 * - Module loading should run `describeImportProblems` and `describeExportProblems` on the parsed
 *   binary (abi/wasm-binary.ts) and refuse `error` problems with a message naming the import/export;
 *   `warning` problems are things Envoy would refuse but Sluice runs anyway.
 * - Imported memory is allowed only as `env.memory` (the host creates it from the module's declared
 *   limits); imported tables, globals and tags are not provided.
 *
 * Pure: no project or node imports.
 */

import type { AbiVersion } from './abi-version.ts';
import { formatFuncType, sameFuncType, type ExternKind, type FuncType, type ValType } from './wasm-binary.ts';

export const ImportModule = {
  Env: 'env',
  WasiSnapshotPreview1: 'wasi_snapshot_preview1',
  WasiUnstable: 'wasi_unstable',
} as const;
export type ImportModule = (typeof ImportModule)[keyof typeof ImportModule];

export interface ImportSpec {
  module: ImportModule;
  name: string;
  params: readonly ValType[];
  results: readonly ValType[];
  /**
   * proxy_* rows only: ABI versions for which cpp-host/Envoy link this function. Sluice links it for
   * every version; a module of another version importing it gets a `warning`.
   */
  abiVersions?: readonly AbiVersion[];
  /**
   * Other signatures real SDK binaries declare for this name, which the host must tolerate (a JS
   * host receives whatever arity the module declared; missing trailing args arrive as undefined).
   */
  alsoAccepted?: readonly { params: readonly ValType[]; results: readonly ValType[]; why: string }[];
  /** Where the row comes from (§ of proxy-wasm-abi.md) and anything unusual. */
  note: string;
}

const ALL_VERSIONS: readonly AbiVersion[] = ['0.1.0', '0.2.0', '0.2.1'];
const V010: readonly AbiVersion[] = ['0.1.0'];
const V02X: readonly AbiVersion[] = ['0.2.0', '0.2.1'];
const V021: readonly AbiVersion[] = ['0.2.1'];

const i32 = 'i32' as const;
const i64 = 'i64' as const;
const f64 = 'f64' as const;
const I32 = (n: number): ValType[] => Array.from({ length: n }, () => i32);

function proxy(name: string, params: readonly ValType[], note: string, abiVersions = ALL_VERSIONS): ImportSpec {
  return { module: ImportModule.Env, name, params, results: [i32], abiVersions, note };
}

/** `env` proxy-wasm host functions (§3). Every one returns a proxy_status_t (i32). */
export const PROXY_IMPORTS: readonly ImportSpec[] = [
  // §3.2 logging, time, log level
  proxy('proxy_log', I32(3), '§3.2 (level, msg_ptr, msg_size)'),
  proxy('proxy_get_log_level', I32(1), '§3.2 (ret_level_ptr); added in 0.2.1', V021),
  proxy('proxy_get_current_time_nanoseconds', I32(1), '§3.2 (ret_time_ptr → u64)'),
  proxy('proxy_set_tick_period_milliseconds', I32(1), '§3.2 (period_ms)'),
  // §3.3 context management
  proxy('proxy_set_effective_context', I32(1), '§3.3 (context_id)'),
  proxy('proxy_done', [], '§3.3 ()'),
  // §3.4 configuration (0.1.0 only)
  proxy('proxy_get_configuration', I32(2), '§3.4 (ret_ptr_ptr, ret_size_ptr); 0.1.0 only', V010),
  // §3.5 buffers
  proxy('proxy_get_buffer_bytes', I32(5), '§3.5 (buffer_id, start, max_size, ret_ptr_ptr, ret_size_ptr)'),
  proxy('proxy_get_buffer_status', I32(3), '§3.5 (buffer_id, ret_size_ptr, ret_flags_ptr)'),
  proxy('proxy_set_buffer_bytes', I32(5), '§3.5 (buffer_id, start, size, data_ptr, data_size)'),
  // §3.6 header maps
  proxy('proxy_get_header_map_pairs', I32(3), '§3.6 (map, ret_ptr_ptr, ret_size_ptr)'),
  proxy('proxy_set_header_map_pairs', I32(3), '§3.6 (map, ptr, size)'),
  proxy('proxy_get_header_map_size', I32(2), '§3.6 (map, ret_size_ptr)'),
  proxy('proxy_get_header_map_value', I32(5), '§3.6 (map, key_ptr, key_size, ret_ptr_ptr, ret_size_ptr)'),
  proxy('proxy_add_header_map_value', I32(5), '§3.6 (map, key_ptr, key_size, val_ptr, val_size)'),
  proxy('proxy_replace_header_map_value', I32(5), '§3.6 (map, key_ptr, key_size, val_ptr, val_size)'),
  proxy('proxy_remove_header_map_value', I32(3), '§3.6 (map, key_ptr, key_size)'),
  // §3.7 properties
  proxy('proxy_get_property', I32(4), '§3.7 (path_ptr, path_size, ret_ptr_ptr, ret_size_ptr)'),
  proxy('proxy_set_property', I32(4), '§3.7 (path_ptr, path_size, val_ptr, val_size)'),
  // §3.8 stream control and local responses
  proxy('proxy_continue_stream', I32(1), '§3.8 (stream_type); 0.2.x', V02X),
  proxy('proxy_close_stream', I32(1), '§3.8 (stream_type); 0.2.x', V02X),
  proxy('proxy_continue_request', [], '§3.8 (); 0.1.0 only (spec text says no result; every host/SDK uses → i32)', V010),
  proxy('proxy_continue_response', [], '§3.8 (); 0.1.0 only', V010),
  proxy('proxy_clear_route_cache', [], '§3.8 (); 0.1.0 only', V010),
  proxy(
    'proxy_send_local_response',
    I32(8),
    '§3.8 (status_code, details_ptr, details_size, body_ptr, body_size, headers_ptr, headers_size, grpc_status)',
  ),
  proxy('proxy_get_status', I32(3), '§3.8 (ret_code_ptr, ret_msg_ptr_ptr, ret_msg_size_ptr)'),
  // §3.9 HTTP callouts
  proxy(
    'proxy_http_call',
    I32(10),
    '§3.9 (upstream_ptr, upstream_size, headers_ptr, headers_size, body_ptr, body_size, trailers_ptr, trailers_size, timeout_ms, ret_token_ptr)',
  ),
  // §3.10 gRPC callouts
  {
    ...proxy(
      'proxy_grpc_call',
      I32(12),
      '§3.10 (upstream, service, method, initial_metadata, message as ptr/size pairs, timeout_ms, ret_token_ptr)',
    ),
    alsoAccepted: [{ params: I32(10), results: [i32], why: 'solo-io proxy-runtime declares it without the initial-metadata pair' }],
  },
  {
    ...proxy('proxy_grpc_stream', I32(9), '§3.10 (upstream, service, method, initial_metadata as ptr/size pairs, ret_token_ptr)'),
    alsoAccepted: [{ params: I32(7), results: [i32], why: 'solo-io proxy-runtime declares it without the initial-metadata pair' }],
  },
  proxy('proxy_grpc_send', I32(4), '§3.10 (token, message_ptr, message_size, end_stream)'),
  proxy('proxy_grpc_cancel', I32(1), '§3.10 (token)'),
  proxy('proxy_grpc_close', I32(1), '§3.10 (token)'),
  // §3.11 shared data and queues
  proxy('proxy_get_shared_data', I32(5), '§3.11 (key_ptr, key_size, ret_val_ptr_ptr, ret_val_size_ptr, ret_cas_ptr)'),
  proxy('proxy_set_shared_data', I32(5), '§3.11 (key_ptr, key_size, val_ptr, val_size, cas)'),
  proxy('proxy_register_shared_queue', I32(3), '§3.11 (name_ptr, name_size, ret_queue_id_ptr)'),
  proxy('proxy_resolve_shared_queue', I32(5), '§3.11 (vm_id_ptr, vm_id_size, name_ptr, name_size, ret_queue_id_ptr)'),
  proxy('proxy_enqueue_shared_queue', I32(3), '§3.11 (queue_id, val_ptr, val_size)'),
  proxy('proxy_dequeue_shared_queue', I32(3), '§3.11 (queue_id, ret_ptr_ptr, ret_size_ptr)'),
  // §3.12 metrics
  proxy('proxy_define_metric', I32(4), '§3.12 (type, name_ptr, name_size, ret_metric_id_ptr)'),
  proxy('proxy_increment_metric', [i32, i64], '§3.12 (metric_id, delta: signed i64, arrives as BigInt)'),
  proxy('proxy_record_metric', [i32, i64], '§3.12 (metric_id, value: unsigned i64, arrives as BigInt)'),
  proxy('proxy_get_metric', I32(2), '§3.12 (metric_id, ret_value_ptr → u64)'),
  // §3.13 foreign functions
  proxy('proxy_call_foreign_function', I32(6), '§3.13 (name_ptr, name_size, args_ptr, args_size, ret_ptr_ptr, ret_size_ptr)'),
];

/** `env` helpers that are not proxy_*: Envoy/toolchain (§3.14) and the AssemblyScript runtime. */
export const ENV_HELPER_IMPORTS: readonly ImportSpec[] = [
  { module: ImportModule.Env, name: 'envoy_resolve_dns', params: I32(3), results: [i32], note: '§3.14 (addr_ptr, addr_size, ret_token_ptr); result via export envoy_on_resolve_dns' },
  { module: ImportModule.Env, name: 'emscripten_notify_memory_growth', params: I32(1), results: [], note: '§3.14 no-op; Emscripten STANDALONE_WASM + ALLOW_MEMORY_GROWTH' },
  { module: ImportModule.Env, name: 'pthread_equal', params: I32(2), results: [i32], note: '§3.14 returns a == b' },
  {
    module: ImportModule.Env,
    name: 'abort',
    params: I32(4),
    results: [],
    note: 'AssemblyScript runtime abort(message: usize, fileName: usize, line: u32, column: u32): AS strings (UTF-16, length at ptr-4); must trap',
  },
  {
    module: ImportModule.Env,
    name: 'trace',
    params: [i32, i32, f64, f64, f64, f64, f64],
    results: [],
    note: 'AssemblyScript trace(message: usize, n: i32, a0..a4: f64): logs the first n numbers',
  },
  { module: ImportModule.Env, name: 'seed', params: [], results: [f64], note: 'AssemblyScript seed() → f64 for Math.random' },
];

function wasi(name: string, params: readonly ValType[], results: readonly ValType[] = [i32]): [string, readonly ValType[], readonly ValType[]] {
  return [name, params, results];
}

/**
 * WASI preview1 functions (§8; signatures from the preview1 witx as generated into wasi-libc).
 * Every one returns an errno (i32) except proc_exit. i64 arguments arrive as BigInt.
 */
const WASI_FUNCTIONS = [
  wasi('args_get', I32(2)),
  wasi('args_sizes_get', I32(2)),
  wasi('environ_get', I32(2)),
  wasi('environ_sizes_get', I32(2)),
  wasi('clock_res_get', I32(2)),
  wasi('clock_time_get', [i32, i64, i32]), // (id, precision, ret_time)
  wasi('fd_advise', [i32, i64, i64, i32]), // (fd, offset, len, advice)
  wasi('fd_allocate', [i32, i64, i64]), // (fd, offset, len)
  wasi('fd_close', I32(1)),
  wasi('fd_datasync', I32(1)),
  wasi('fd_fdstat_get', I32(2)),
  wasi('fd_fdstat_set_flags', I32(2)),
  wasi('fd_fdstat_set_rights', [i32, i64, i64]), // (fd, base, inheriting)
  wasi('fd_filestat_get', I32(2)),
  wasi('fd_filestat_set_size', [i32, i64]),
  wasi('fd_filestat_set_times', [i32, i64, i64, i32]), // (fd, atim, mtim, fst_flags)
  wasi('fd_pread', [i32, i32, i32, i64, i32]), // (fd, iovs, iovs_len, offset, ret_nread)
  wasi('fd_prestat_get', I32(2)),
  wasi('fd_prestat_dir_name', I32(3)),
  wasi('fd_pwrite', [i32, i32, i32, i64, i32]), // (fd, iovs, iovs_len, offset, ret_nwritten)
  wasi('fd_read', I32(4)),
  wasi('fd_readdir', [i32, i32, i32, i64, i32]), // (fd, buf, buf_len, cookie, ret_bufused)
  wasi('fd_renumber', I32(2)),
  wasi('fd_seek', [i32, i64, i32, i32]), // (fd, offset, whence, ret_newoffset)
  wasi('fd_sync', I32(1)),
  wasi('fd_tell', I32(2)),
  wasi('fd_write', I32(4)), // (fd, iovs, iovs_len, ret_nwritten)
  wasi('path_create_directory', I32(3)),
  wasi('path_filestat_get', I32(5)), // (fd, flags, path, path_len, ret_filestat)
  wasi('path_filestat_set_times', [i32, i32, i32, i32, i64, i64, i32]), // (fd, flags, path, path_len, atim, mtim, fst_flags)
  wasi('path_link', I32(7)), // (old_fd, old_flags, old_path, old_path_len, new_fd, new_path, new_path_len)
  wasi('path_open', [i32, i32, i32, i32, i32, i64, i64, i32, i32]), // (fd, dirflags, path, path_len, oflags, rights_base, rights_inheriting, fdflags, ret_fd)
  wasi('path_readlink', I32(6)), // (fd, path, path_len, buf, buf_len, ret_bufused)
  wasi('path_remove_directory', I32(3)),
  wasi('path_rename', I32(6)), // (fd, old_path, old_path_len, new_fd, new_path, new_path_len)
  wasi('path_symlink', I32(5)), // (old_path, old_path_len, fd, new_path, new_path_len)
  wasi('path_unlink_file', I32(3)),
  wasi('poll_oneoff', I32(4)), // (in, out, nsubscriptions, ret_nevents)
  wasi('proc_exit', I32(1), []),
  wasi('proc_raise', I32(1)), // not in cpp-host's list (§8); in preview1, answered NOSYS
  wasi('sched_yield', []),
  wasi('random_get', I32(2)),
  wasi('sock_accept', I32(3)), // (fd, flags, ret_fd)
  wasi('sock_recv', I32(6)), // (fd, ri_data, ri_data_len, ri_flags, ret_datalen, ret_flags)
  wasi('sock_send', I32(5)), // (fd, si_data, si_data_len, si_flags, ret_datalen)
  wasi('sock_shutdown', I32(2)), // (fd, how)
] as const;

function wasiRows(module: ImportModule): ImportSpec[] {
  return WASI_FUNCTIONS.map(([name, params, results]) => ({ module, name, params, results, note: `§8 WASI ${name}` }));
}

export const WASI_IMPORTS: readonly ImportSpec[] = [
  ...wasiRows(ImportModule.WasiSnapshotPreview1),
  ...wasiRows(ImportModule.WasiUnstable),
];

/** Every function import the host provides. */
export const HOST_IMPORTS: readonly ImportSpec[] = [...PROXY_IMPORTS, ...ENV_HELPER_IMPORTS, ...WASI_IMPORTS];

const BY_KEY: ReadonlyMap<string, ImportSpec> = new Map(HOST_IMPORTS.map((s) => [`${s.module}\0${s.name}`, s]));

/** The row for `module.name`, or undefined if Sluice does not provide that function. */
export function providedImport(module: string, name: string): ImportSpec | undefined {
  return BY_KEY.get(`${module}\0${name}`);
}

/** The one non-function import the host satisfies. */
export const IMPORTED_MEMORY = { module: 'env', name: 'memory' } as const;

// ---------------------------------------------------------------------------------------------
// Guest exports (§6)
// ---------------------------------------------------------------------------------------------

export interface ExportSpec {
  name: string;
  params: readonly ValType[];
  results: readonly ValType[];
  /** Versions whose hosts call it with this signature (header callbacks differ between 0.1.0 and 0.2.x). */
  abiVersions?: readonly AbiVersion[];
  note: string;
}

const cb = (name: string, nParams: number, nResults: 0 | 1, note: string, abiVersions?: readonly AbiVersion[]): ExportSpec => ({
  name,
  params: I32(nParams),
  results: nResults === 1 ? [i32] : [],
  ...(abiVersions === undefined ? {} : { abiVersions }),
  note,
});

/**
 * Function exports the host may call. All are optional except what `describeExportProblems`
 * requires: an ABI marker, a memory, and an allocator (`proxy_on_memory_allocate` preferred, else
 * `malloc`, per the spec — cpp-host's malloc-first order leaks on TinyGo, §3.1).
 */
export const GUEST_EXPORTS: readonly ExportSpec[] = [
  cb('proxy_abi_version_0_1_0', 0, 0, '§2.1 ABI marker, never called'),
  cb('proxy_abi_version_0_2_0', 0, 0, '§2.1 ABI marker, never called'),
  cb('proxy_abi_version_0_2_1', 0, 0, '§2.1 ABI marker, never called'),
  cb('_initialize', 0, 0, '§6 WASI reactor init; called once per instance before anything else'),
  cb('main', 2, 1, '§6 called as main(0, 0) after _initialize if exported'),
  cb('__main_void', 0, 1, '§6 called after _initialize when main is absent'),
  cb('_start', 0, 0, '§6 WASI command entry; called only if _initialize is not exported'),
  cb('proxy_on_memory_allocate', 1, 1, '§3.1 (size) → ptr, 0 = failure; preferred allocator'),
  cb('malloc', 1, 1, '§3.1 (size) → ptr; used only without proxy_on_memory_allocate'),
  cb('proxy_on_context_create', 2, 0, '§6 (context_id, parent_context_id); parent 0 ⇒ root context'),
  cb('proxy_on_vm_start', 2, 1, '§6 (root_context_id, vm_config_size) → bool'),
  cb('proxy_validate_configuration', 2, 1, '§6 (root_context_id, config_size) → bool; legacy, may be ignored'),
  cb('proxy_on_configure', 2, 1, '§6 (root_context_id, plugin_config_size) → bool'),
  cb('proxy_on_tick', 1, 0, '§6 (root_context_id)'),
  cb('proxy_on_queue_ready', 2, 0, '§6 (root_context_id, queue_id)'),
  cb('proxy_on_foreign_function', 3, 0, '§6 (context_id, function_id, args_size); 0.2.x only', V02X),
  cb('proxy_on_new_connection', 1, 1, '§6 (ctx) → FilterStatus'),
  cb('proxy_on_downstream_data', 3, 1, '§6 (ctx, data_size, end_of_stream) → FilterStatus'),
  cb('proxy_on_upstream_data', 3, 1, '§6 (ctx, data_size, end_of_stream) → FilterStatus'),
  cb('proxy_on_downstream_connection_close', 2, 0, '§6 (ctx, peer_type)'),
  cb('proxy_on_upstream_connection_close', 2, 0, '§6 (ctx, peer_type)'),
  cb('proxy_on_request_headers', 3, 1, '§6 (ctx, num_headers, end_of_stream) → FilterHeadersStatus', V02X),
  cb('proxy_on_request_headers', 2, 1, '§6 (ctx, num_headers) → FilterHeadersStatus', V010),
  cb('proxy_on_request_body', 3, 1, '§6 (ctx, body_size, end_of_stream) → FilterDataStatus'),
  cb('proxy_on_request_trailers', 2, 1, '§6 (ctx, num_trailers) → FilterTrailersStatus'),
  cb('proxy_on_request_metadata', 2, 1, '§6 (ctx, num_elements); not in the spec, C++/AS export it'),
  cb('proxy_on_response_headers', 3, 1, '§6 (ctx, num_headers, end_of_stream) → FilterHeadersStatus', V02X),
  cb('proxy_on_response_headers', 2, 1, '§6 (ctx, num_headers) → FilterHeadersStatus', V010),
  cb('proxy_on_response_body', 3, 1, '§6 (ctx, body_size, end_of_stream) → FilterDataStatus'),
  cb('proxy_on_response_trailers', 2, 1, '§6 (ctx, num_trailers) → FilterTrailersStatus'),
  cb('proxy_on_response_metadata', 2, 1, '§6 (ctx, num_elements)'),
  cb('proxy_on_http_call_response', 5, 0, '§6 (root_context_id, token, num_headers, body_size, num_trailers)'),
  cb('proxy_on_grpc_receive_initial_metadata', 3, 0, '§6 (root_context_id, token, num_elements)'),
  cb('proxy_on_grpc_receive', 3, 0, '§6 (root_context_id, token, message_size)'),
  cb('proxy_on_grpc_receive_trailing_metadata', 3, 0, '§6 (root_context_id, token, num_elements)'),
  cb('proxy_on_grpc_close', 3, 0, '§6 (root_context_id, token, status_code)'),
  cb('proxy_on_done', 1, 1, '§6 (ctx) → bool; root false ⇒ wait for proxy_done()'),
  cb('proxy_on_log', 1, 0, '§6 (ctx)'),
  cb('proxy_on_delete', 1, 0, '§6 (ctx)'),
  cb('envoy_on_resolve_dns', 3, 0, '§3.14 (root_context_id, token, data_size)'),
  cb('envoy_on_stats_update', 2, 0, '§6 (root_context_id, data_size); Envoy stat sink'),
];

/** The export rows for `name` that apply to `abiVersion` (undefined version ⇒ all rows). */
export function knownExports(name: string, abiVersion?: AbiVersion): ExportSpec[] {
  return GUEST_EXPORTS.filter(
    (e) => e.name === name && (abiVersion === undefined || e.abiVersions === undefined || e.abiVersions.includes(abiVersion)),
  );
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

export type ProblemSeverity = 'error' | 'warning';
export type ProblemCode =
  | 'unknown-import'
  | 'import-signature-mismatch'
  | 'unsupported-import-kind'
  | 'import-not-linked-for-abi'
  | 'missing-abi-marker'
  | 'missing-memory'
  | 'missing-allocator'
  | 'export-signature-mismatch';

export interface ModuleProblem {
  severity: ProblemSeverity;
  code: ProblemCode;
  /** `module.name` for imports, the export name for exports. */
  subject: string;
  message: string;
}

/** Structural twin of WebAssembly.ModuleImportDescriptor plus the signature from abi/wasm-binary.ts. */
export interface ImportDescriptor {
  module: string;
  name: string;
  kind: ExternKind | string;
  /** Function imports only; absent when parsed with `WebAssembly.Module.imports` (no signature check then). */
  type?: FuncType;
}

export interface ExportDescriptor {
  name: string;
  kind: ExternKind | string;
  type?: FuncType;
}

/**
 * Problems with a module's imports for Sluice. Errors: a function Sluice does not provide
 * (instantiation would fail with LinkError), a signature different from the host's (and from any
 * `alsoAccepted` one), or an import kind other than a function or `env.memory`.
 * Warning: a version-specific proxy_* function imported by a module of another ABI version
 * (Envoy would refuse it; Sluice links the union). `abiVersion` undefined skips that check.
 */
export function describeImportProblems(imports: readonly ImportDescriptor[], abiVersion?: AbiVersion): ModuleProblem[] {
  const problems: ModuleProblem[] = [];
  for (const imp of imports) {
    const subject = `${imp.module}.${imp.name}`;
    if (imp.kind === 'memory') {
      if (imp.module !== IMPORTED_MEMORY.module || imp.name !== IMPORTED_MEMORY.name) {
        problems.push({ severity: 'error', code: 'unsupported-import-kind', subject, message: `imported memory must be named env.memory, got ${subject}` });
      }
      continue;
    }
    if (imp.kind !== 'function') {
      problems.push({ severity: 'error', code: 'unsupported-import-kind', subject, message: `imports a ${imp.kind}; Sluice provides only functions and env.memory` });
      continue;
    }
    const spec = providedImport(imp.module, imp.name);
    if (spec === undefined) {
      problems.push({ severity: 'error', code: 'unknown-import', subject, message: `imports function ${subject}, which Sluice does not provide` });
      continue;
    }
    if (imp.type !== undefined && !signatureAccepted(spec, imp.type)) {
      problems.push({
        severity: 'error',
        code: 'import-signature-mismatch',
        subject,
        message: `imports ${subject} as ${formatFuncType(imp.type)}; Sluice provides ${formatFuncType(spec)}`,
      });
    }
    if (abiVersion !== undefined && spec.abiVersions !== undefined && !spec.abiVersions.includes(abiVersion)) {
      problems.push({
        severity: 'warning',
        code: 'import-not-linked-for-abi',
        subject,
        message: `imports ${subject}, which belongs to ABI ${spec.abiVersions.join('/')} but the module declares ${abiVersion} (Envoy would refuse to load it; Sluice provides it anyway)`,
      });
    }
  }
  return problems;
}

function signatureAccepted(spec: ImportSpec, type: FuncType): boolean {
  const matches = (s: FuncType) => sameFuncType(s, type);
  return matches(spec) || (spec.alsoAccepted ?? []).some(matches);
}

/**
 * Problems with a module's exports: errors for a missing ABI marker (unless `abiVersion` is given),
 * missing memory (exported, or imported as env.memory — pass `importsMemory`), missing allocator,
 * and a known callback exported with a signature the host would call differently.
 */
export function describeExportProblems(
  exports: readonly ExportDescriptor[],
  abiVersion: AbiVersion | undefined,
  importsMemory = false,
): ModuleProblem[] {
  const problems: ModuleProblem[] = [];
  if (abiVersion === undefined) {
    problems.push({
      severity: 'error',
      code: 'missing-abi-marker',
      subject: 'proxy_abi_version_*',
      message: 'exports no single supported ABI marker (proxy_abi_version_0_1_0, _0_2_0 or _0_2_1)',
    });
  }
  if (!importsMemory && !exports.some((e) => e.kind === 'memory')) {
    problems.push({ severity: 'error', code: 'missing-memory', subject: 'memory', message: 'exports no memory and does not import env.memory' });
  }
  const fn = (name: string) => exports.some((e) => e.name === name && e.kind === 'function');
  if (!fn('proxy_on_memory_allocate') && !fn('malloc')) {
    problems.push({
      severity: 'error',
      code: 'missing-allocator',
      subject: 'proxy_on_memory_allocate',
      message: 'exports neither proxy_on_memory_allocate nor malloc, so the host cannot return memory to it',
    });
  }
  for (const e of exports) {
    if (e.kind !== 'function' || e.type === undefined) continue;
    const rows = knownExports(e.name, abiVersion);
    if (rows.length === 0) continue;
    if (rows.some((r) => sameFuncType(r, e.type!))) continue;
    problems.push({
      severity: 'error',
      code: 'export-signature-mismatch',
      subject: e.name,
      message: `exports ${e.name} as ${formatFuncType(e.type)}; the host calls it as ${rows.map(formatFuncType).join(' or ')}`,
    });
  }
  return problems;
}
