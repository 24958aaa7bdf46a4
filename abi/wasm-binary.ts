/**
 * A small reader for the parts of a WebAssembly module binary a proxy-wasm host checks before
 * instantiating: function types, imports (with their function signatures, which
 * `WebAssembly.Module.imports` does not expose), defined functions' types, exports, memory limits,
 * whether a start section exists, and custom section names. Code, data and element sections are
 * skipped by size, never decoded.
 *
 * Contract: `parseWasmModule` either returns a `WasmModuleInfo` or throws `WasmParseError`
 * (with the byte offset) — never anything else, for any input. Every loop is bounded by the input
 * length (each entry consumes at least one byte, and counts larger than the remaining bytes are
 * rejected before anything is allocated), so garbage input cannot hang or exhaust memory.
 * It does not validate function bodies; `WebAssembly.validate` is the authority on that.
 */

/** Number and vector types by their binary encoding. */
const NUM_TYPES: ReadonlyMap<number, NumType> = new Map([
  [0x7f, 'i32'],
  [0x7e, 'i64'],
  [0x7d, 'f32'],
  [0x7c, 'f64'],
  [0x7b, 'v128'],
]);
export type NumType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128';

/**
 * Abstract heap types (reference-types, exception-handling and GC proposals, all shipped in the
 * V8 of Node 24), by their one-byte encoding; the short reftype form of the same byte is
 * `<name>ref` (0x70 = funcref, 0x6f = externref, ...).
 */
const ABSTRACT_HEAP_TYPES: ReadonlyMap<number, string> = new Map([
  [0x74, 'noexn'],
  [0x73, 'nofunc'],
  [0x72, 'noextern'],
  [0x71, 'none'],
  [0x70, 'func'],
  [0x6f, 'extern'],
  [0x6e, 'any'],
  [0x6d, 'eq'],
  [0x6c, 'i31'],
  [0x6b, 'struct'],
  [0x6a, 'array'],
  [0x69, 'exn'],
]);

/**
 * A value type as text: a NumType, a short reference type (`funcref`, `externref`, `anyref`, ...)
 * or a full one (`(ref null 3)`, `(ref func)`). Proxy-wasm signatures use only i32/i64 (and f64
 * for AssemblyScript's env.trace/seed); the reference forms exist so GC-era modules still parse.
 */
export type ValType = NumType | `${string}ref` | `(ref ${string})`;

export interface FuncType {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

/** Same strings as `WebAssembly.ImportExportKind` (plus `tag`). */
export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';
const KIND_BY_BYTE: readonly ExternKind[] = ['function', 'table', 'memory', 'global', 'tag'];

export interface Limits {
  /** Pages for memories (64 KiB each), elements for tables. */
  initial: number;
  maximum: number | undefined;
  shared: boolean;
  /** memory64 proposal: the limits were u64. */
  index64: boolean;
}

export interface WasmImport {
  module: string;
  name: string;
  kind: ExternKind;
  /** kind 'function' and 'tag': index into `types`. */
  typeIndex?: number;
  /** kind 'function' and 'tag': the signature (undefined if the index is out of range or not a function type). */
  type?: FuncType;
  /** kind 'memory' and 'table'. */
  limits?: Limits;
  /** kind 'global'. */
  global?: { type: ValType; mutable: boolean };
  /** kind 'table'. */
  elementType?: ValType;
}

export interface WasmExport {
  name: string;
  kind: ExternKind;
  /** Index in the kind's index space (imports first, then definitions). */
  index: number;
  /** kind 'function': the signature, when the index resolves. */
  type?: FuncType;
}

export interface WasmMemory {
  /** Index in the memory index space. */
  index: number;
  /** Set for an imported memory. */
  import?: { module: string; name: string };
  /** Names this memory is exported under. */
  exportNames: string[];
  limits: Limits;
}

export interface WasmSection {
  id: number;
  /** Offset of the section id byte. */
  offset: number;
  /** Payload size in bytes. */
  size: number;
  /** Custom sections (id 0) only. */
  name?: string;
}

export interface WasmModuleInfo {
  /** Binary format version (1 for every module today). */
  version: number;
  /** The type index space; GC struct and array types are null (only function types are decoded). */
  types: (FuncType | null)[];
  imports: WasmImport[];
  /** Type index of each function defined in the module (function section), in order. */
  functionTypeIndices: number[];
  exports: WasmExport[];
  /** Imported memories first, then defined ones. */
  memories: WasmMemory[];
  /** Function index of the start function, if there is a start section. */
  startFunction: number | undefined;
  customSectionNames: string[];
  sections: WasmSection[];
}

export class WasmParseError extends Error {
  readonly code = 'SLUICE_ERR_WASM_PARSE';
  /** Byte offset where the problem was found. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} (at byte ${offset})`);
    this.name = 'WasmParseError';
    this.offset = offset;
  }
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d] as const;
const SECTION = { custom: 0, type: 1, import: 2, function: 3, table: 4, memory: 5, global: 6, export: 7, start: 8, element: 9, code: 10, data: 11, dataCount: 12, tag: 13 } as const;
/** Order non-custom sections must appear in (datacount sits between element and code; tag between memory and global). */
const SECTION_ORDER: Readonly<Record<number, number>> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

/** True when the bytes start with the wasm magic number (cheap pre-check for "is this wasm?"). */
export function hasWasmMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b);
}

class Reader {
  readonly bytes: Uint8Array;
  pos: number;
  readonly end: number;
  constructor(bytes: Uint8Array, pos: number, end: number) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }
  fail(message: string, at = this.pos): never {
    throw new WasmParseError(message, at);
  }
  remaining(): number {
    return this.end - this.pos;
  }
  byte(): number {
    if (this.pos >= this.end) this.fail('unexpected end of section or module');
    return this.bytes[this.pos++];
  }
  u32(): number {
    const start = this.pos;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      if (shift === 28 && (b & 0x70) !== 0) this.fail('LEB128 u32 out of range', start);
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    return this.fail('LEB128 u32 longer than 5 bytes', start);
  }
  /** u64 LEB128 as a number; values above 2^53 are rejected (no real limit needs them). */
  u64(): number {
    const start = this.pos;
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) this.fail('LEB128 u64 larger than 2^53', start);
        return result;
      }
    }
    return this.fail('LEB128 u64 longer than 10 bytes', start);
  }
  /** A vector length, checked against the bytes left (every element takes at least `minBytes`). */
  count(what: string, minBytes = 1): number {
    const at = this.pos;
    const n = this.u32();
    if (n * minBytes > this.remaining()) this.fail(`${what} count ${n} exceeds the remaining ${this.remaining()} bytes`, at);
    return n;
  }
  name(): string {
    const at = this.pos;
    const len = this.u32();
    if (len > this.remaining()) this.fail(`name of ${len} bytes exceeds the remaining ${this.remaining()} bytes`, at);
    const slice = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    try {
      return UTF8.decode(slice);
    } catch {
      return this.fail('name is not valid UTF-8', at);
    }
  }
  valType(): ValType {
    const at = this.pos;
    const b = this.byte();
    const num = NUM_TYPES.get(b);
    if (num !== undefined) return num;
    const abstract = ABSTRACT_HEAP_TYPES.get(b);
    if (abstract !== undefined) return `${abstract}ref`;
    if (b === 0x63 || b === 0x64) return `(ref ${b === 0x63 ? 'null ' : ''}${this.heapType()})`;
    return this.fail(`unsupported value type 0x${b.toString(16)}`, at);
  }
  /** s33 heap type: an abstract one (single negative byte) or a non-negative type index. */
  heapType(): string {
    const at = this.pos;
    if (at >= this.end) this.fail('unexpected end of section or module');
    const abstract = ABSTRACT_HEAP_TYPES.get(this.bytes[at]);
    if (abstract !== undefined) {
      this.pos++;
      return abstract;
    }
    if (this.bytes[at] >= 0x40 && this.bytes[at] < 0x80) this.fail(`unsupported heap type 0x${this.bytes[at].toString(16)}`, at);
    return String(this.u32());
  }
  /** Field storage type of a GC struct/array: a value type or a packed i8/i16. */
  storageType(): void {
    const b = this.bytes[this.pos];
    if (b === 0x78 || b === 0x77) this.pos++;
    else this.valType();
  }
  limits(): Limits {
    const at = this.pos;
    const flags = this.byte();
    if (flags > 0x07) this.fail(`invalid limits flags 0x${flags.toString(16)}`, at);
    const index64 = (flags & 0x04) !== 0;
    const read = () => (index64 ? this.u64() : this.u32());
    const initial = read();
    const maximum = (flags & 0x01) !== 0 ? read() : undefined;
    return { initial, maximum, shared: (flags & 0x02) !== 0, index64 };
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Parses the module structure. Throws only `WasmParseError`. */
export function parseWasmModule(bytes: Uint8Array): WasmModuleInfo {
  if (!(bytes instanceof Uint8Array)) throw new WasmParseError('input is not a Uint8Array', 0);
  if (bytes.length < 8) throw new WasmParseError(`${bytes.length} bytes is shorter than the 8-byte wasm header`, 0);
  if (!hasWasmMagic(bytes)) throw new WasmParseError('missing wasm magic number \\0asm', 0);
  const version = bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24);
  if (version !== 1) throw new WasmParseError(`unsupported wasm binary version ${version >>> 0} (expected 1)`, 4);

  const info: WasmModuleInfo = {
    version,
    types: [],
    imports: [],
    functionTypeIndices: [],
    exports: [],
    memories: [],
    startFunction: undefined,
    customSectionNames: [],
    sections: [],
  };
  const top = new Reader(bytes, 8, bytes.length);
  let lastOrder = 0;
  while (top.remaining() > 0) {
    const offset = top.pos;
    const id = top.byte();
    const size = top.u32();
    if (size > top.remaining()) top.fail(`section ${id} of ${size} bytes exceeds the remaining ${top.remaining()} bytes`, offset);
    const r = new Reader(bytes, top.pos, top.pos + size);
    top.pos += size;
    const section: WasmSection = { id, offset, size };
    info.sections.push(section);
    if (id === SECTION.custom) {
      section.name = r.name();
      info.customSectionNames.push(section.name);
      continue; // custom payload is free-form
    }
    const order = SECTION_ORDER[id];
    if (order === undefined) r.fail(`unknown section id ${id}`, offset);
    if (order <= lastOrder) r.fail(`section ${id} is duplicated or out of order`, offset);
    lastOrder = order;
    switch (id) {
      case SECTION.type:
        readTypes(r, info);
        break;
      case SECTION.import:
        readImports(r, info);
        break;
      case SECTION.function: {
        const n = r.count('function');
        for (let i = 0; i < n; i++) info.functionTypeIndices.push(r.u32());
        break;
      }
      case SECTION.memory: {
        const n = r.count('memory', 2);
        const base = info.memories.length;
        for (let i = 0; i < n; i++) info.memories.push({ index: base + i, exportNames: [], limits: r.limits() });
        break;
      }
      case SECTION.export:
        readExports(r, info);
        break;
      case SECTION.start:
        info.startFunction = r.u32();
        break;
      default:
        r.pos = r.end; // table, global, element, code, data, datacount, tag: skipped by size
    }
    if (r.pos !== r.end) r.fail(`section ${id} has ${r.end - r.pos} unread trailing bytes`, r.pos);
  }
  resolveFunctionTypes(info);
  return info;
}

function readTypes(r: Reader, info: WasmModuleInfo): void {
  const n = r.count('type', 2);
  for (let i = 0; i < n; i++) {
    if (r.bytes[r.pos] === 0x4e) {
      // GC recursion group: its members take consecutive type indices.
      r.pos++;
      const m = r.count('recursion group member', 2);
      for (let j = 0; j < m; j++) info.types.push(readSubType(r));
    } else {
      info.types.push(readSubType(r));
    }
  }
}

/** One (possibly `sub`/`sub final` wrapped) composite type; struct and array types become null. */
function readSubType(r: Reader): FuncType | null {
  const b = r.bytes[r.pos];
  if (b === 0x50 || b === 0x4f) {
    r.pos++;
    const supers = r.count('supertype');
    for (let k = 0; k < supers; k++) r.u32();
  }
  const at = r.pos;
  const form = r.byte();
  switch (form) {
    case 0x60: {
      const np = r.count('parameter');
      const params: ValType[] = [];
      for (let j = 0; j < np; j++) params.push(r.valType());
      const nr = r.count('result');
      const results: ValType[] = [];
      for (let j = 0; j < nr; j++) results.push(r.valType());
      return { params, results };
    }
    case 0x5f: {
      const fields = r.count('struct field', 2);
      for (let j = 0; j < fields; j++) readFieldType(r);
      return null;
    }
    case 0x5e:
      readFieldType(r);
      return null;
    default:
      return r.fail(`unsupported type form 0x${form.toString(16)}`, at);
  }
}

function readFieldType(r: Reader): void {
  r.storageType();
  const at = r.pos;
  const mut = r.byte();
  if (mut > 1) r.fail(`invalid field mutability ${mut}`, at);
}

function readImports(r: Reader, info: WasmModuleInfo): void {
  const n = r.count('import', 4);
  for (let i = 0; i < n; i++) {
    const module = r.name();
    const name = r.name();
    const at = r.pos;
    const kind = KIND_BY_BYTE[r.byte()];
    if (kind === undefined) r.fail(`invalid import kind 0x${r.bytes[at].toString(16)}`, at);
    const imp: WasmImport = { module, name, kind };
    switch (kind) {
      case 'function':
        imp.typeIndex = r.u32();
        imp.type = info.types[imp.typeIndex] ?? undefined;
        break;
      case 'table':
        imp.elementType = r.valType();
        imp.limits = r.limits();
        break;
      case 'memory':
        imp.limits = r.limits();
        info.memories.push({ index: info.memories.length, import: { module, name }, exportNames: [], limits: imp.limits });
        break;
      case 'global': {
        const type = r.valType();
        const mut = r.byte();
        if (mut > 1) r.fail(`invalid global mutability ${mut}`, r.pos - 1);
        imp.global = { type, mutable: mut === 1 };
        break;
      }
      case 'tag': {
        const attr = r.byte();
        if (attr !== 0) r.fail(`invalid tag attribute ${attr}`, r.pos - 1);
        imp.typeIndex = r.u32();
        imp.type = info.types[imp.typeIndex] ?? undefined;
        break;
      }
    }
    info.imports.push(imp);
  }
}

function readExports(r: Reader, info: WasmModuleInfo): void {
  const n = r.count('export', 3);
  for (let i = 0; i < n; i++) {
    const name = r.name();
    const at = r.pos;
    const kind = KIND_BY_BYTE[r.byte()];
    if (kind === undefined) r.fail(`invalid export kind 0x${r.bytes[at].toString(16)}`, at);
    info.exports.push({ name, kind, index: r.u32() });
  }
}

/** Fills export signatures and memory export names once every section has been read. */
function resolveFunctionTypes(info: WasmModuleInfo): void {
  const importedFuncTypes = info.imports.filter((i) => i.kind === 'function').map((i) => i.typeIndex!);
  const funcTypeIndex = (index: number): number | undefined =>
    index < importedFuncTypes.length ? importedFuncTypes[index] : info.functionTypeIndices[index - importedFuncTypes.length];
  for (const e of info.exports) {
    if (e.kind === 'function') {
      const t = funcTypeIndex(e.index);
      const type = t === undefined ? undefined : info.types[t];
      if (type) e.type = type;
    } else if (e.kind === 'memory') {
      info.memories[e.index]?.exportNames.push(e.name);
    }
  }
}

/** `(i32, i64) -> i32` style rendering for messages. */
export function formatFuncType(t: FuncType): string {
  const results = t.results.length === 0 ? '()' : t.results.length === 1 ? t.results[0] : `(${t.results.join(', ')})`;
  return `(${t.params.join(', ')}) -> ${results}`;
}

export function sameFuncType(a: FuncType, b: FuncType): boolean {
  return (
    a.params.length === b.params.length &&
    a.results.length === b.results.length &&
    a.params.every((p, i) => p === b.params[i]) &&
    a.results.every((p, i) => p === b.results[i])
  );
}
