/**
 * ASCII-only case folding, as Envoy does it (`absl::AsciiStrToLower`, `absl::EqualsIgnoreCase`):
 * only A–Z change, every other character (including non-ASCII letters) is compared as is.
 */

const UPPER_RUN = /[A-Z]+/g;
const lowerRun = (m: string): string => m.toLowerCase();

/** `s` with A–Z lower-cased; returns `s` itself when there is nothing to change. */
export function asciiLower(s: string): string {
  let upper = false;
  let nonAscii = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) upper = true;
    else if (c > 127) nonAscii = true;
  }
  if (!upper) return s;
  // For pure ASCII the native lower-casing is identical and fastest.
  return nonAscii ? s.replace(UPPER_RUN, lowerRun) : s.toLowerCase();
}

/** Index of the first `?` or `#` in a request path, or its length: where the path proper ends. */
export function pathEnd(path: string): number {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return i;
  }
  return path.length;
}
