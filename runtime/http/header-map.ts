/**
 * An ordered HTTP header list with lower-cased names, as proxy-wasm and Envoy see headers.
 * Pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`, `:status`) live in the same list.
 * Repeated names are kept as separate entries, in arrival order.
 */
export class HeaderMap {
  /** Flat [name0, value0, name1, value1, ...]; names lower-case. */
  #kv: string[];

  constructor(flat?: string[]) {
    this.#kv = flat ?? [];
  }

  /** From Node's `rawHeaders` (names in wire case). */
  static fromRaw(raw: readonly string[]): HeaderMap {
    const kv = new Array<string>(raw.length);
    for (let i = 0; i < raw.length; i += 2) {
      kv[i] = raw[i].toLowerCase();
      kv[i + 1] = raw[i + 1];
    }
    return new HeaderMap(kv);
  }

  /**
   * The live flat list [name0, value0, ...] for fast read-only iteration on the hot path.
   * Callers must not modify it, nor keep it across a mutation of the map.
   */
  get raw(): readonly string[] {
    return this.#kv;
  }

  get size(): number {
    return this.#kv.length >> 1;
  }

  /** First value of `name` (lower-case), or undefined. */
  get(name: string): string | undefined {
    const kv = this.#kv;
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === name) return kv[i + 1];
    return undefined;
  }

  /** All values of `name` joined with `,` (Envoy's view of a repeated header), or undefined. */
  getJoined(name: string): string | undefined {
    const kv = this.#kv;
    let out: string | undefined;
    for (let i = 0; i < kv.length; i += 2) {
      if (kv[i] === name) out = out === undefined ? kv[i + 1] : `${out},${kv[i + 1]}`;
    }
    return out;
  }

  getAll(name: string): string[] {
    const kv = this.#kv;
    const out: string[] = [];
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === name) out.push(kv[i + 1]);
    return out;
  }

  has(name: string): boolean {
    const kv = this.#kv;
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === name) return true;
    return false;
  }

  /** Appends an entry, keeping existing ones. */
  add(name: string, value: string): void {
    this.#kv.push(name, value);
  }

  /** Replaces every entry of `name` with one entry (kept at the first one's position). */
  set(name: string, value: string): void {
    const kv = this.#kv;
    let found = -1;
    for (let i = 0; i < kv.length; i += 2) {
      if (kv[i] === name) {
        if (found < 0) {
          found = i;
          kv[i + 1] = value;
        } else {
          kv.splice(i, 2);
          i -= 2;
        }
      }
    }
    if (found < 0) kv.push(name, value);
  }

  /** Removes every entry of `name`; returns whether any existed. */
  remove(name: string): boolean {
    const kv = this.#kv;
    let removed = false;
    for (let i = kv.length - 2; i >= 0; i -= 2) {
      if (kv[i] === name) {
        kv.splice(i, 2);
        removed = true;
      }
    }
    return removed;
  }

  /** Calls `fn` for every entry in order. */
  forEach(fn: (name: string, value: string) => void): void {
    const kv = this.#kv;
    for (let i = 0; i < kv.length; i += 2) fn(kv[i], kv[i + 1]);
  }

  /** The flat list, without pseudo-headers, ready for `writeHead` or undici. Fresh array. */
  toFlat(skipPseudo = true): string[] {
    const kv = this.#kv;
    const out: string[] = [];
    for (let i = 0; i < kv.length; i += 2) {
      if (skipPseudo && kv[i].charCodeAt(0) === 58 /* : */) continue;
      out.push(kv[i], kv[i + 1]);
    }
    return out;
  }

  /** Pairs in order, pseudo-headers included (what proxy-wasm's get-pairs returns). */
  entries(): Array<[string, string]> {
    const kv = this.#kv;
    const out: Array<[string, string]> = [];
    for (let i = 0; i < kv.length; i += 2) out.push([kv[i], kv[i + 1]]);
    return out;
  }

  /** Sum of name and value lengths, as Envoy counts header bytes. */
  byteSize(): number {
    let n = 0;
    for (const s of this.#kv) n += s.length;
    return n;
  }
}
