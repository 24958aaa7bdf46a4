import { createHash } from 'node:crypto';
import { scanAbiVersion, type AbiVersion, type AbiVersionScan } from '../../abi/abi-version.ts';
import {
  describeExportProblems,
  describeImportProblems,
  IMPORTED_MEMORY,
  knownExports,
  providedImport,
  type ModuleProblem,
} from '../../abi/imports.ts';
import { formatFuncType, parseWasmModule, sameFuncType, type ExternKind } from '../../abi/wasm-binary.ts';

/**
 * What `sluice inspect` reports about a module, computed from its bytes alone (nothing is
 * instantiated): the proxy-wasm ABI it declares, its exports and imports with signatures checked
 * against abi/imports.ts, its memory, and V8's verdict on whether it compiles at all.
 */
export interface WasmInspection {
  sizeBytes: number;
  sha256: string;
  /** WebAssembly.validate: false means V8 would refuse to compile it. */
  valid: boolean;
  /** V8's compile error when not valid. */
  validationError?: string;
  abi: {
    /** The single supported marker's version, or null (none or ambiguous: see `scan`). */
    version: AbiVersion | null;
    scan: AbiVersionScan;
  };
  /** True when the module has a wasm start section (code that runs during instantiation). */
  hasStartSection: boolean;
  exports: InspectedExport[];
  imports: InspectedImport[];
  memories: InspectedMemory[];
  customSections: string[];
  /** From abi/imports.ts describeImportProblems + describeExportProblems. */
  problems: ModuleProblem[];
}

export interface InspectedExport {
  name: string;
  kind: ExternKind;
  /** Function exports: `(i32, i32) -> i32`. */
  signature?: string;
  /** A callback or marker the host knows (abi/imports.ts GUEST_EXPORTS). */
  known: boolean;
}

export interface InspectedImport {
  module: string;
  name: string;
  kind: ExternKind;
  signature?: string;
  /** Sluice links it (a known function, or env.memory). */
  provided: boolean;
  /** Set when the module's signature differs from the host's. */
  expectedSignature?: string;
}

export interface InspectedMemory {
  index: number;
  imported: { module: string; name: string } | null;
  exportedAs: string[];
  initialPages: number;
  /** null: no maximum declared. */
  maximumPages: number | null;
  shared: boolean;
  memory64: boolean;
}

/** Inspects a module binary. Throws WasmParseError (abi/wasm-binary.ts) when it is not one. */
export function inspectWasm(bytes: Uint8Array): WasmInspection {
  const info = parseWasmModule(bytes);
  const scan = scanAbiVersion(info.exports.filter((e) => e.kind === 'function').map((e) => e.name));
  const version = scan.kind === 'found' ? scan.version : null;

  let validationError: string | undefined;
  const valid = WebAssembly.validate(bytes);
  if (!valid) {
    try {
      new WebAssembly.Module(bytes);
    } catch (err) {
      validationError = (err as Error).message;
    }
  }

  const imports: InspectedImport[] = info.imports.map((i) => {
    const out: InspectedImport = { module: i.module, name: i.name, kind: i.kind, provided: false };
    if (i.type !== undefined) out.signature = formatFuncType(i.type);
    if (i.kind === 'memory') out.provided = i.module === IMPORTED_MEMORY.module && i.name === IMPORTED_MEMORY.name;
    if (i.kind === 'function') {
      const row = providedImport(i.module, i.name);
      out.provided = row !== undefined;
      if (row !== undefined && i.type !== undefined && ![row, ...(row.alsoAccepted ?? [])].some((t) => sameFuncType(t, i.type!))) {
        out.expectedSignature = formatFuncType(row);
      }
    }
    return out;
  });

  const exports: InspectedExport[] = info.exports.map((e) => ({
    name: e.name,
    kind: e.kind,
    ...(e.type === undefined ? {} : { signature: formatFuncType(e.type) }),
    known: e.kind === 'function' && knownExports(e.name).length > 0,
  }));

  const memories: InspectedMemory[] = info.memories.map((m) => ({
    index: m.index,
    imported: m.import ?? null,
    exportedAs: m.exportNames,
    initialPages: m.limits.initial,
    maximumPages: m.limits.maximum ?? null,
    shared: m.limits.shared,
    memory64: m.limits.index64,
  }));

  const importsMemory = info.imports.some((i) => i.kind === 'memory');
  const problems = [
    ...describeImportProblems(info.imports, version ?? undefined),
    ...describeExportProblems(info.exports, version ?? undefined, importsMemory),
  ];

  return {
    sizeBytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    valid,
    ...(validationError === undefined ? {} : { validationError }),
    abi: { version, scan },
    hasStartSection: info.startFunction !== undefined,
    exports,
    imports,
    memories,
    customSections: info.customSectionNames,
    problems,
  };
}

const PAGE = 65536;

function describeAbi(i: WasmInspection): string {
  const s = i.abi.scan;
  if (s.kind === 'found') return `${s.version} (export proxy_abi_version_${s.version.replaceAll('.', '_')})`;
  if (s.kind === 'multiple') return `ambiguous: exports markers for ${s.versions.join(', ')}`;
  return s.unknown.length > 0
    ? `none supported (unknown marker ${s.unknown.join(', ')})`
    : 'none (no proxy_abi_version_* export: not a proxy-wasm module)';
}

function describeMemory(m: InspectedMemory): string {
  const where = [
    m.imported === null ? 'defined' : `imported as ${m.imported.module}.${m.imported.name}`,
    m.exportedAs.length > 0 ? `exported as ${m.exportedAs.map((n) => `"${n}"`).join(', ')}` : 'not exported',
  ].join(', ');
  const pages = (n: number) => `${n} page${n === 1 ? '' : 's'} (${formatBytes(n * PAGE)})`;
  const max = m.maximumPages === null ? 'no maximum' : `maximum ${pages(m.maximumPages)}`;
  const flags = [m.shared ? 'shared' : '', m.memory64 ? 'memory64' : ''].filter(Boolean).join(', ');
  return `memory ${m.index}: ${where}; initial ${pages(m.initialPages)}, ${max}${flags ? `; ${flags}` : ''}`;
}

function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${+(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${+(n / (1 << 20)).toFixed(2)} MiB`;
  return `${+(n / 1024).toFixed(2)} KiB`;
}

/** Human-readable report, one fact per line; `file` is shown as given. */
export function formatInspection(i: WasmInspection, file: string): string {
  const lines: string[] = [];
  lines.push(`file:    ${file}`);
  lines.push(`size:    ${i.sizeBytes} bytes`);
  lines.push(`sha256:  ${i.sha256}`);
  lines.push(`valid:   ${i.valid ? 'yes' : `NO — V8 rejects it: ${i.validationError ?? 'invalid module'}`}`);
  lines.push(`abi:     ${describeAbi(i)}`);
  lines.push(`start:   ${i.hasStartSection ? 'yes (a wasm start section runs code during instantiation)' : 'no start section'}`);
  if (i.memories.length === 0) lines.push('memory:  none');
  for (const m of i.memories) lines.push(`memory:  ${describeMemory(m)}`);
  lines.push(`exports (${i.exports.length}):`);
  for (const e of i.exports) {
    lines.push(`  ${e.kind.padEnd(8)} ${e.name}${e.signature ? ` ${e.signature}` : ''}${e.known ? '' : e.kind === 'function' ? '   (not called by the host)' : ''}`);
  }
  lines.push(`imports (${i.imports.length}):`);
  for (const imp of i.imports) {
    const mark = !imp.provided
      ? '   NOT PROVIDED by Sluice'
      : imp.expectedSignature !== undefined
        ? `   SIGNATURE MISMATCH: Sluice provides ${imp.expectedSignature}`
        : '';
    lines.push(`  ${imp.kind.padEnd(8)} ${imp.module}.${imp.name}${imp.signature ? ` ${imp.signature}` : ''}${mark}`);
  }
  if (i.customSections.length > 0) lines.push(`custom sections: ${i.customSections.join(', ')}`);
  if (i.problems.length === 0) lines.push('problems: none');
  else {
    lines.push(`problems (${i.problems.length}):`);
    for (const p of i.problems) lines.push(`  ${p.severity}: ${p.subject}: ${p.message}`);
  }
  return `${lines.join('\n')}\n`;
}
