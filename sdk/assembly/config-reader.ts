/**
 * A strict reader over the plugin's JSON configuration: every field is checked for its type and
 * range, unknown fields are refused (a typo must not silently fall back to a default), and the
 * first problem is kept with the field's name so `onConfigure` can log it and return false.
 *
 * Accessors never abort: on a problem they record it and return the fallback, so one pass reads
 * the whole configuration and the caller checks `problem` once at the end.
 */
import { JsonValue } from "./json";

export class ConfigReader {
  /** The first problem found ("" while none), e.g. `"timeout_ms" must be an integer from 1 to 60000, got 0`. */
  problem: string = "";

  constructor(public readonly json: JsonValue) {}

  get ok(): bool {
    return this.problem.length == 0;
  }

  fail(message: string): void {
    if (this.problem.length == 0) this.problem = message;
  }

  /** Refuses any member of `obj` not named in `known` (`where` prefixes the message, e.g. "key."). */
  checkKnown(obj: JsonValue, known: Array<string>, where: string = ""): void {
    const keys = obj.keys();
    for (let i = 0; i < keys.length; i++) {
      if (!known.includes(keys[i])) {
        this.fail("unknown field \"" + where + keys[i] + "\" (known: " + known.join(", ") + ")");
      }
    }
  }

  str(obj: JsonValue, key: string, fallback: string, where: string = ""): string {
    const v = obj.get(key);
    if (v == null) return fallback;
    if (!v.isString()) {
      this.fail("\"" + where + key + "\" must be a string");
      return fallback;
    }
    return v.asString();
  }

  bool(obj: JsonValue, key: string, fallback: bool, where: string = ""): bool {
    const v = obj.get(key);
    if (v == null) return fallback;
    if (!v.isBool()) {
      this.fail("\"" + where + key + "\" must be true or false");
      return fallback;
    }
    return v.asBool();
  }

  /** An integer in [min, max]; `fallback` when absent. */
  int(obj: JsonValue, key: string, fallback: i64, min: i64, max: i64, where: string = ""): i64 {
    const v = obj.get(key);
    if (v == null) return fallback;
    const range = "an integer from " + min.toString() + " to " + max.toString();
    if (!v.isNumber()) {
      this.fail("\"" + where + key + "\" must be " + range);
      return fallback;
    }
    const n = v.asNumber();
    if (n != Math.floor(n) || n < <f64>min || n > <f64>max) {
      this.fail("\"" + where + key + "\" must be " + range + ", got " + n.toString());
      return fallback;
    }
    return <i64>n;
  }

  /** One HTTP header name, lower-cased; `fallback` when absent. Pseudo-headers are refused. */
  headerName(obj: JsonValue, key: string, fallback: string, where: string = ""): string {
    const v = obj.get(key);
    if (v == null) return fallback;
    const name = v.isString() ? v.asString().toLowerCase() : "";
    if (!isHeaderName(name)) {
      this.fail("\"" + where + key + "\" must be an HTTP header name (a non-empty token, no pseudo-headers)");
      return fallback;
    }
    return name;
  }

  /** A list of HTTP header names, lower-cased; null when absent. Pseudo-headers are refused. */
  headerNames(obj: JsonValue, key: string, where: string = ""): Array<string> | null {
    const v = obj.get(key);
    if (v == null) return null;
    if (!v.isArray()) {
      this.fail("\"" + where + key + "\" must be an array of header names");
      return null;
    }
    const out = new Array<string>();
    for (let i = 0; i < v.length; i++) {
      const item = v.at(i)!;
      const name = item.isString() ? item.asString().toLowerCase() : "";
      if (!isHeaderName(name)) {
        this.fail("\"" + where + key + "[" + i.toString() + "]\" must be an HTTP header name (a non-empty token, no pseudo-headers)");
        return null;
      }
      if (!out.includes(name)) out.push(name);
    }
    return out;
  }
}

/** RFC 9110 token characters. */
export function isHeaderName(name: string): bool {
  if (name.length == 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    // ! # $ % & ' * + - . ^ _ ` | ~
    const symbol = c == 33 || (c >= 35 && c <= 39) || c == 42 || c == 43 || c == 45 || c == 46 || c == 94 || c == 95 || c == 96 || c == 124 || c == 126;
    if (!alnum && !symbol) return false;
  }
  return true;
}
