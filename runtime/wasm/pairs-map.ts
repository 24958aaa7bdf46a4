import type { HostHeaderMap, Pairs } from '../../abi/host-context.ts';
import type { HeaderMap } from '../http/header-map.ts';

/**
 * A HostHeaderMap over a plain pair list: http-call responses, gRPC metadata, local-reply headers.
 * Read-only unless `mutable`.
 */
export class PairsMap implements HostHeaderMap {
  #pairs: Pairs;
  readonly add?: (key: string, value: string) => void;
  readonly replace?: (key: string, value: string) => void;
  readonly remove?: (key: string) => void;
  readonly setPairs?: (pairs: Pairs) => void;

  constructor(pairs: Pairs, mutable: boolean) {
    this.#pairs = pairs;
    if (mutable) {
      this.add = (k, v) => {
        this.#pairs.push([k, v]);
      };
      this.replace = (k, v) => {
        const rest = this.#pairs.filter(([key]) => key !== k);
        rest.push([k, v]);
        this.#pairs = rest;
      };
      this.remove = (k) => {
        this.#pairs = this.#pairs.filter(([key]) => key !== k);
      };
      this.setPairs = (p) => {
        this.#pairs = p.slice();
      };
    }
  }

  pairs(): Pairs {
    return this.#pairs;
  }

  get(key: string): string | undefined {
    for (const [k, v] of this.#pairs) if (k === key) return v;
    return undefined;
  }

  byteSize(): number {
    let n = 0;
    for (const [k, v] of this.#pairs) n += k.length + v.length;
    return n;
  }
}

/** A HostHeaderMap over a stream's HeaderMap; `onMutate` hears of every change (route cache). */
export class StreamHeaderMap implements HostHeaderMap {
  readonly #map: HeaderMap;
  readonly #onMutate: (() => void) | undefined;

  constructor(map: HeaderMap, onMutate?: () => void) {
    this.#map = map;
    this.#onMutate = onMutate;
  }

  /** The HeaderMap this view reads and writes. */
  get source(): HeaderMap {
    return this.#map;
  }

  pairs(): Pairs {
    return this.#map.entries();
  }

  get(key: string): string | undefined {
    return this.#map.get(key);
  }

  byteSize(): number {
    return this.#map.byteSize();
  }

  add(key: string, value: string): void {
    this.#map.add(key, value);
    this.#onMutate?.();
  }

  replace(key: string, value: string): void {
    this.#map.set(key, value);
    this.#onMutate?.();
  }

  remove(key: string): void {
    this.#map.remove(key);
    this.#onMutate?.();
  }

  setPairs(pairs: Pairs): void {
    for (const [k] of this.#map.entries()) this.#map.remove(k);
    for (const [k, v] of pairs) this.#map.add(k, v);
    this.#onMutate?.();
  }
}
