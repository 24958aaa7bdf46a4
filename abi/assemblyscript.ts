/**
 * The `env` imports AssemblyScript's own runtime asks for (proxy-wasm-abi.md §8 "plain AS builds
 * may also import `env.abort`, `env.trace`, `env.seed`"), and the reader for AS strings they pass.
 *
 * Signatures, as declared in AS 0.28 `std/assembly/builtins.ts` and emitted by `asc`:
 *   env.abort(message: ptr, fileName: ptr, lineNumber: u32, columnNumber: u32): void
 *   env.trace(message: ptr, n: i32, a0..a4: f64): void        (n = how many of a0..a4 are used)
 *   env.seed(): f64                                            (seeds Math.random)
 * `abort` is what a failed `assert`, an out-of-bounds array access or an explicit `abort()` call
 * reaches; a module built with `--use abort=...` (solo-io proxy-runtime) does not import it.
 *
 * Contract for the host: `abort` must not return (throw; the guest call is a trap and the
 * instance is poisoned, STYLE.md). `trace` only logs. `seed` returns any finite number; AS feeds
 * it to its xorshift PRNG, so a CSPRNG-derived value is best.
 *
 * Pure: no project import outside abi/ and no `node:*` module.
 */

import { type GuestMemory, inBounds } from './guest-memory.ts';

/**
 * An AS string longer than this many UTF-16 code units is cut to this length (abort and trace
 * texts are log material; a corrupt header could claim up to 1 GiB).
 */
export const AS_STRING_MAX_UNITS = 16384;

const utf16 = new TextDecoder('utf-16le', { ignoreBOM: true });

/**
 * Decodes the AS 0.28 string at `ptr`: UTF-16LE code units whose byte length is the object
 * header's `rtSize`, the u32 at `ptr - 4`. Lone surrogates become U+FFFD; an odd byte length
 * drops the last byte; longer than AS_STRING_MAX_UNITS ⇒ truncated to it.
 * `undefined` for a null pointer (AS passes 0 for a null string), a pointer below 4, or a header
 * or text outside memory. Reads only; never throws.
 */
export function readAssemblyScriptString(memory: GuestMemory, ptr: number): string | undefined {
  if (typeof ptr !== 'number' || !Number.isInteger(ptr) || ptr < 4) return undefined;
  const byteLength = memory.readU32(ptr - 4);
  if (byteLength === undefined) return undefined;
  const units = Math.min(Math.floor(byteLength / 2), AS_STRING_MAX_UNITS);
  // The whole claimed string must be in memory, even the part that is not decoded.
  if (!inBounds(memory.size, ptr, byteLength)) return undefined;
  const bytes = memory.read(ptr, units * 2);
  return bytes === undefined ? undefined : utf16.decode(bytes);
}

/** What the AS imports need from the host. */
export interface AssemblyScriptHost {
  /** The instance's memory; undefined before the instance exports it (strings then read as placeholders). */
  memory(): GuestMemory | undefined;
  /** Must throw: the guest aborted. `file:line:column` locate the AS source of the abort. */
  abort(message: string, file: string, line: number, column: number): never;
  /** `trace(message, n, ...)`: `values` holds the first `n` (0..5) numbers. */
  trace(message: string, values: number[]): void;
  /** Seed for AS's `Math.random`. */
  seed(): number;
}

/** Placeholder for a string the host cannot read (bad pointer, or no memory yet). */
export function unreadableString(ptr: number): string {
  return `<unreadable string at 0x${(ptr >>> 0).toString(16)}>`;
}

/** Text for a string argument: '' for null (0), a placeholder when it cannot be read. */
function text(host: AssemblyScriptHost, ptrArg: number): string {
  const ptr = ptrArg >>> 0;
  if (ptr === 0) return '';
  const mem = host.memory();
  const s = mem === undefined ? undefined : readAssemblyScriptString(mem, ptr);
  return s ?? unreadableString(ptr);
}

/** `env.abort`, `env.trace` and `env.seed`, to spread into the `env` import object. */
export function createAssemblyScriptImports(host: AssemblyScriptHost): {
  abort(message: number, file: number, line: number, column: number): never;
  trace(message: number, n: number, a0: number, a1: number, a2: number, a3: number, a4: number): void;
  seed(): number;
} {
  return {
    abort(message, file, line, column) {
      return host.abort(text(host, message), text(host, file), line >>> 0, column >>> 0);
    },
    trace(message, n, a0, a1, a2, a3, a4) {
      const count = Math.max(0, Math.min(5, n | 0));
      host.trace(text(host, message), [a0, a1, a2, a3, a4].slice(0, count));
    },
    seed() {
      return host.seed();
    },
  };
}
