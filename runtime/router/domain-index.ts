import { asciiLower } from './ascii.ts';

/** Wildcards of one length: the fixed part (without `*`) → value. */
type WildcardBucket = { readonly length: number; readonly map: ReadonlyMap<string, unknown> };

/**
 * Virtual-host selection by `:authority`, Envoy's `RouteMatcher::findVirtualHost`:
 * 1. exact domain (one `Map` lookup);
 * 2. suffix wildcards `*.foo.com`, `*-bar.foo.com`, longest first;
 * 3. prefix wildcards `foo.*`, `foo-*`, longest first;
 * 4. the catch-all `*`.
 * The host is ASCII-lower-cased and matched **with** its port: `a.com:8080` matches only a domain
 * that lists the port, a wildcard, or `*`. A wildcard never matches an empty string (`*.foo.com`
 * does not match `.foo.com`). Wildcards are bucketed by length, so a lookup costs one map probe per
 * distinct wildcard length.
 *
 * Domains must be unique and at most one may be `*` (Envoy rejects the config otherwise); `add`
 * reports a violation by returning a message.
 */
export class DomainIndex<T> {
  readonly #exact = new Map<string, T>();
  #suffix: WildcardBucket[] = [];
  #prefix: WildcardBucket[] = [];
  #default: T | undefined;
  #hasDefault = false;

  /** Returns an error message for a duplicate, or undefined. Call `freeze()` after the last add. */
  add(domain: string, value: T): string | undefined {
    const d = asciiLower(domain);
    if (d === '*') {
      if (this.#hasDefault) return 'only a single wildcard domain "*" is permitted in a route configuration';
      this.#hasDefault = true;
      this.#default = value;
      return undefined;
    }
    if (d.length > 1 && d.charCodeAt(0) === 42 /* * */) return addWildcard(this.#suffix, d.slice(1), value, domain);
    if (d.length > 1 && d.charCodeAt(d.length - 1) === 42) return addWildcard(this.#prefix, d.slice(0, -1), value, domain);
    if (this.#exact.has(d)) return duplicate(domain);
    this.#exact.set(d, value);
    return undefined;
  }

  freeze(): this {
    const byLengthDesc = (a: WildcardBucket, b: WildcardBucket): number => b.length - a.length;
    this.#suffix = this.#suffix.sort(byLengthDesc);
    this.#prefix = this.#prefix.sort(byLengthDesc);
    return this;
  }

  /** The value for `authority`, or undefined. An absent authority only finds a lone `*`. */
  find(authority: string | undefined): T | undefined {
    if (this.#exact.size === 0 && this.#suffix.length === 0 && this.#prefix.length === 0) return this.#default;
    if (authority === undefined) return undefined;
    const host = asciiLower(authority);
    const exact = this.#exact.get(host);
    if (exact !== undefined) return exact;
    const n = host.length;
    for (const b of this.#suffix) {
      if (b.length >= n) continue;
      const v = b.map.get(host.slice(n - b.length));
      if (v !== undefined) return v as T;
    }
    for (const b of this.#prefix) {
      if (b.length >= n) continue;
      const v = b.map.get(host.slice(0, b.length));
      if (v !== undefined) return v as T;
    }
    return this.#default;
  }
}

function duplicate(domain: string): string {
  return `only unique values for domains are permitted; duplicate entry of domain ${domain}`;
}

function addWildcard<T>(buckets: WildcardBucket[], fixed: string, value: T, domain: string): string | undefined {
  let bucket = buckets.find((b) => b.length === fixed.length);
  if (bucket === undefined) {
    bucket = { length: fixed.length, map: new Map<string, unknown>() };
    buckets.push(bucket);
  }
  const map = bucket.map as Map<string, unknown>;
  if (map.has(fixed)) return duplicate(domain);
  map.set(fixed, value);
  return undefined;
}
