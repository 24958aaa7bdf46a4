/**
 * Bounds the memory that streamed bodies hold while waiting for garbage collection.
 *
 * Every chunk a socket reads is a fresh off-heap buffer; V8 only learns they are garbage when it
 * collects their small JS wrappers, and it starts that collection after about 64 MB of new
 * off-heap memory. A large upload or download therefore grows RSS by that much before any of it
 * is reclaimed. When the process was started with `--expose-gc` (the supervisor sets it before
 * it creates workers), a worker asks for a young-generation collection after every
 * `GC_EVERY_BYTES` of body data instead, which frees the wrappers of chunks already sent.
 */
const GC_EVERY_BYTES = 16 * 1024 * 1024;

const gc = (globalThis as { gc?: (opts?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void }).gc;
let pending = 0;

export function noteBodyBytes(n: number): void {
  if (gc === undefined) return;
  pending += n;
  if (pending >= GC_EVERY_BYTES) {
    pending = 0;
    gc({ type: 'minor' });
  }
}
