/**
 * A small JSON reader for plugin and VM configuration (and bodies): objects, arrays, strings
 * (with escapes), numbers, booleans and null, with lookup by key and index; and a writer
 * (`stringifyJson`) for values read or built with the `from*` constructors. Nesting deeper than
 * MAX_JSON_DEPTH is refused, so a hostile document cannot exhaust the stack.
 *
 * Parse errors do not abort: `parseJson` returns null and `jsonError()` says what and where, so
 * onConfigure can log it and return false (the host then rejects the configuration).
 *
 * Numbers are read as f64, but the reader keeps each number's literal text and the writer writes
 * it back verbatim, so a document that is read, changed elsewhere and written again keeps integers
 * beyond 2^53 (ids) and its number spellings (`1.0`, `1e3`) exactly.
 */

/** Kind of a JsonValue. */
export enum JsonKind {
  Null = 0,
  Bool = 1,
  Number = 2,
  String = 3,
  Array = 4,
  Object = 5,
}

/** Deepest nesting of arrays/objects accepted. */
export const MAX_JSON_DEPTH: i32 = 64;

const NO_ITEMS = new Array<JsonValue>(0);
const NO_KEYS = new Array<string>(0);
const NO_MEMBERS = new Map<string, JsonValue>();

/** One parsed JSON value. Accessors never abort: a wrong kind or a missing key gives the fallback. */
export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  private boolValue: bool = false;
  private numberValue: f64 = 0;
  /** The number's JSON literal as read ("" for numbers built from an f64): what the writer writes. */
  private numberText: string = "";
  private stringValue: string = "";
  // Scalars share the empty containers below (never changed: accessors only read, the from*
  // constructors replace them), so a body of many small values does not allocate three
  // containers per value.
  private items: Array<JsonValue> = NO_ITEMS;
  private keyList: Array<string> = NO_KEYS;
  private byKey: Map<string, JsonValue> = NO_MEMBERS;

  // Constructors (the parser's; also handy in tests).
  static fromNull(): JsonValue {
    return new JsonValue();
  }

  static fromBool(v: bool): JsonValue {
    const j = new JsonValue();
    j.kind = JsonKind.Bool;
    j.boolValue = v;
    return j;
  }

  /**
   * A number. `literal`, when given, must be `v`'s JSON spelling; stringifyJson writes it instead
   * of formatting `v` (the parser passes the text it read, so numbers round-trip exactly).
   */
  static fromNumber(v: f64, literal: string = ""): JsonValue {
    const j = new JsonValue();
    j.kind = JsonKind.Number;
    j.numberValue = v;
    j.numberText = literal;
    return j;
  }

  static fromString(v: string): JsonValue {
    const j = new JsonValue();
    j.kind = JsonKind.String;
    j.stringValue = v;
    return j;
  }

  static fromArray(items: Array<JsonValue>): JsonValue {
    const j = new JsonValue();
    j.kind = JsonKind.Array;
    j.items = items;
    return j;
  }

  static fromObject(keys: Array<string>, values: Map<string, JsonValue>): JsonValue {
    const j = new JsonValue();
    j.kind = JsonKind.Object;
    j.keyList = keys;
    j.byKey = values;
    return j;
  }

  isNull(): bool {
    return this.kind == JsonKind.Null;
  }
  isBool(): bool {
    return this.kind == JsonKind.Bool;
  }
  isNumber(): bool {
    return this.kind == JsonKind.Number;
  }
  isString(): bool {
    return this.kind == JsonKind.String;
  }
  isArray(): bool {
    return this.kind == JsonKind.Array;
  }
  isObject(): bool {
    return this.kind == JsonKind.Object;
  }

  /** The boolean, or `fallback` if this is not a boolean. */
  asBool(fallback: bool = false): bool {
    return this.kind == JsonKind.Bool ? this.boolValue : fallback;
  }

  /** The number, or `fallback` if this is not a number. */
  asNumber(fallback: f64 = 0): f64 {
    return this.kind == JsonKind.Number ? this.numberValue : fallback;
  }

  /** The number truncated to an integer, or `fallback`. */
  asInt(fallback: i64 = 0): i64 {
    return this.kind == JsonKind.Number && isFinite(this.numberValue) ? <i64>this.numberValue : fallback;
  }

  /** The string, or `fallback` if this is not a string. */
  asString(fallback: string = ""): string {
    return this.kind == JsonKind.String ? this.stringValue : fallback;
  }

  /** Number of elements (array) or members (object); 0 otherwise. */
  get length(): i32 {
    if (this.kind == JsonKind.Array) return this.items.length;
    if (this.kind == JsonKind.Object) return this.keyList.length;
    return 0;
  }

  /** Array element `index`, or null. */
  at(index: i32): JsonValue | null {
    if (this.kind != JsonKind.Array || index < 0 || index >= this.items.length) return null;
    return this.items[index];
  }

  /** Object member `key`, or null. A repeated key keeps its last value. */
  get(key: string): JsonValue | null {
    if (this.kind != JsonKind.Object || !this.byKey.has(key)) return null;
    return this.byKey.get(key);
  }

  /** Whether this is an object with member `key`. */
  has(key: string): bool {
    return this.kind == JsonKind.Object && this.byKey.has(key);
  }

  /** Member names in document order (first occurrence). Empty unless this is an object. */
  keys(): Array<string> {
    return this.kind == JsonKind.Object ? this.keyList.slice(0) : new Array<string>();
  }

  /** Member `key` as a string, or `fallback`. */
  getString(key: string, fallback: string = ""): string {
    const v = this.get(key);
    return v == null ? fallback : v.asString(fallback);
  }

  /** Member `key` as a number, or `fallback`. */
  getNumber(key: string, fallback: f64 = 0): f64 {
    const v = this.get(key);
    return v == null ? fallback : v.asNumber(fallback);
  }

  /** Member `key` as an integer, or `fallback`. */
  getInt(key: string, fallback: i64 = 0): i64 {
    const v = this.get(key);
    return v == null ? fallback : v.asInt(fallback);
  }

  /** Member `key` as a boolean, or `fallback`. */
  getBool(key: string, fallback: bool = false): bool {
    const v = this.get(key);
    return v == null ? fallback : v.asBool(fallback);
  }

  /** Member `key` if it is an array of strings (other elements skipped); empty otherwise. */
  getStringArray(key: string): Array<string> {
    const out = new Array<string>();
    const v = this.get(key);
    if (v == null || !v.isArray()) return out;
    for (let i = 0; i < v.length; i++) {
      const e = v.at(i);
      if (e != null && e.isString()) out.push(e.asString());
    }
    return out;
  }

  /** This value as compact JSON text; the same as `stringifyJson(this)`. */
  toJson(): string {
    const out = new Array<string>();
    this.writeTo(out);
    return joinStrings(out);
  }

  private writeTo(out: Array<string>): void {
    switch (this.kind) {
      case JsonKind.Null:
        out.push("null");
        break;
      case JsonKind.Bool:
        out.push(this.boolValue ? "true" : "false");
        break;
      case JsonKind.Number:
        out.push(this.numberText.length > 0 ? this.numberText : formatJsonNumber(this.numberValue));
        break;
      case JsonKind.String:
        writeJsonString(this.stringValue, out);
        break;
      case JsonKind.Array: {
        out.push("[");
        for (let i = 0; i < this.items.length; i++) {
          if (i > 0) out.push(",");
          this.items[i].writeTo(out);
        }
        out.push("]");
        break;
      }
      default: {
        out.push("{");
        for (let i = 0; i < this.keyList.length; i++) {
          const key = this.keyList[i];
          if (i > 0) out.push(",");
          writeJsonString(key, out);
          out.push(":");
          // A key listed but missing from the map (a hand-built object) is written as null.
          if (this.byKey.has(key)) this.byKey.get(key).writeTo(out);
          else out.push("null");
        }
        out.push("}");
      }
    }
  }
}

/**
 * `value` as compact JSON text (no whitespace), as JavaScript's JSON.stringify writes it: members
 * in `keys()` order, strings escaped (quote, backslash, control characters, lone surrogates),
 * numbers as read (see above) or in their shortest form, NaN and infinities as null. The value
 * must be a tree (a value built to contain itself never ends).
 */
export function stringifyJson(value: JsonValue): string {
  return value.toJson();
}

function formatJsonNumber(n: f64): string {
  if (!isFinite(n)) return "null";
  const s = n.toString();
  // AssemblyScript writes integral values as "5.0"; JSON (and JSON.stringify) write "5".
  return s.endsWith(".0") ? s.substring(0, s.length - 2) : s;
}

/**
 * The pieces concatenated, in one allocation and one pass. Not `Array<string>.join`: with
 * shrinkLevel >= 1 (the SDK's release flags) AssemblyScript's join concatenates piece by piece,
 * which copies the text so far each time (quadratic; seconds for a 100 KB document).
 */
function joinStrings(parts: Array<string>): string {
  let total: usize = 0;
  for (let i = 0; i < parts.length; i++) total += <usize>parts[i].length << 1;
  const out = changetype<string>(__new(total, idof<string>()));
  let offset: usize = 0;
  for (let i = 0; i < parts.length; i++) {
    const piece = parts[i];
    const size = <usize>piece.length << 1;
    memory.copy(changetype<usize>(out) + offset, changetype<usize>(piece), size);
    offset += size;
  }
  return out;
}

const HEX = "0123456789abcdef";

function writeJsonString(s: string, out: Array<string>): void {
  out.push("\"");
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c && (c < 0xd800 || c > 0xdfff)) continue;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a well-formed surrogate pair is written as it is
        continue;
      }
    }
    if (i > run) out.push(s.substring(run, i));
    run = i + 1;
    if (c == 0x22) out.push("\\\"");
    else if (c == 0x5c) out.push("\\\\");
    else if (c == 0x0a) out.push("\\n");
    else if (c == 0x0d) out.push("\\r");
    else if (c == 0x09) out.push("\\t");
    else if (c == 0x08) out.push("\\b");
    else if (c == 0x0c) out.push("\\f");
    else {
      // Other control characters and lone surrogates: \uXXXX (UTF-8 cannot carry a lone surrogate).
      out.push("\\u" + HEX.charAt((c >> 12) & 15) + HEX.charAt((c >> 8) & 15) + HEX.charAt((c >> 4) & 15) + HEX.charAt(c & 15));
    }
  }
  if (run < s.length) out.push(run == 0 ? s : s.substring(run));
  out.push("\"");
}

let lastError = "";

/** Why the last `parseJson` returned null ("" after a success). */
export function jsonError(): string {
  return lastError;
}

/** Parses `text` (one JSON value, surrounding whitespace allowed). Null on a syntax error; see jsonError(). */
export function parseJson(text: string): JsonValue | null {
  const p = new JsonParser(text);
  const v = p.value(0);
  if (v != null) {
    p.skipSpace();
    if (p.pos < text.length) {
      p.fail("unexpected text after the value");
      lastError = p.error;
      return null;
    }
  }
  lastError = p.error;
  return v;
}

/** `parseJson` of UTF-8 bytes (a configuration buffer). */
export function parseJsonBytes(bytes: ArrayBuffer): JsonValue | null {
  return parseJson(String.UTF8.decode(bytes));
}

class JsonParser {
  pos: i32 = 0;
  error: string = "";

  constructor(public text: string) {}

  fail(what: string): void {
    if (this.error.length == 0) this.error = what + " at offset " + this.pos.toString();
  }

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.pos++;
    }
  }

  value(depth: i32): JsonValue | null {
    this.skipSpace();
    const t = this.text;
    if (this.pos >= t.length) {
      this.fail("unexpected end of input");
      return null;
    }
    const c = t.charCodeAt(this.pos);
    if (c == 0x7b /* { */) return this.object(depth);
    if (c == 0x5b /* [ */) return this.array(depth);
    if (c == 0x22 /* " */) {
      const s = this.string();
      return s == null ? null : JsonValue.fromString(s);
    }
    if (c == 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) return this.number();
    if (this.literal("true")) return JsonValue.fromBool(true);
    if (this.literal("false")) return JsonValue.fromBool(false);
    if (this.literal("null")) return JsonValue.fromNull();
    this.fail("unexpected character '" + String.fromCharCode(c) + "'");
    return null;
  }

  literal(word: string): bool {
    if (this.text.substr(this.pos, word.length) != word) return false;
    this.pos += word.length;
    return true;
  }

  object(depth: i32): JsonValue | null {
    if (depth >= MAX_JSON_DEPTH) {
      this.fail("nesting deeper than " + MAX_JSON_DEPTH.toString());
      return null;
    }
    this.pos++; // {
    const keys = new Array<string>();
    const values = new Map<string, JsonValue>();
    this.skipSpace();
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 0x7d /* } */) {
      this.pos++;
      return JsonValue.fromObject(keys, values);
    }
    // Each iteration consumes at least one character or fails, so the loop ends with the input.
    while (this.pos < this.text.length) {
      this.skipSpace();
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 0x22) {
        this.fail("expected a member name");
        return null;
      }
      const key = this.string();
      if (key == null) return null;
      this.skipSpace();
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 0x3a /* : */) {
        this.fail("expected ':'");
        return null;
      }
      this.pos++;
      const v = this.value(depth + 1);
      if (v == null) return null;
      if (!values.has(key)) keys.push(key);
      values.set(key, v);
      this.skipSpace();
      if (this.pos >= this.text.length) break;
      const c = this.text.charCodeAt(this.pos++);
      if (c == 0x7d /* } */) return JsonValue.fromObject(keys, values);
      if (c != 0x2c /* , */) {
        this.pos--;
        this.fail("expected ',' or '}'");
        return null;
      }
    }
    this.fail("unterminated object");
    return null;
  }

  array(depth: i32): JsonValue | null {
    if (depth >= MAX_JSON_DEPTH) {
      this.fail("nesting deeper than " + MAX_JSON_DEPTH.toString());
      return null;
    }
    this.pos++; // [
    const items = new Array<JsonValue>();
    this.skipSpace();
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 0x5d /* ] */) {
      this.pos++;
      return JsonValue.fromArray(items);
    }
    while (this.pos < this.text.length) {
      const v = this.value(depth + 1);
      if (v == null) return null;
      items.push(v);
      this.skipSpace();
      if (this.pos >= this.text.length) break;
      const c = this.text.charCodeAt(this.pos++);
      if (c == 0x5d /* ] */) return JsonValue.fromArray(items);
      if (c != 0x2c /* , */) {
        this.pos--;
        this.fail("expected ',' or ']'");
        return null;
      }
    }
    this.fail("unterminated array");
    return null;
  }

  string(): string | null {
    const t = this.text;
    this.pos++; // opening quote
    // Pieces between escapes, joined once at the end: `out +=` per escape would copy the string
    // so far each time, quadratic in a long string with many escapes (a body, not just config).
    let parts: Array<string> | null = null;
    let runStart = this.pos;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c == 0x22 /* " */) {
        const tail = t.substring(runStart, this.pos);
        this.pos++;
        if (parts == null) return tail;
        parts.push(tail);
        return joinStrings(parts);
      }
      if (c < 0x20) {
        this.fail("control character in string");
        return null;
      }
      if (c != 0x5c /* \ */) {
        this.pos++;
        continue;
      }
      if (parts == null) parts = new Array<string>();
      const out = parts!;
      if (this.pos > runStart) out.push(t.substring(runStart, this.pos));
      this.pos++;
      if (this.pos >= t.length) break;
      const e = t.charCodeAt(this.pos++);
      if (e == 0x22) out.push("\"");
      else if (e == 0x5c) out.push("\\");
      else if (e == 0x2f) out.push("/");
      else if (e == 0x62) out.push("\b");
      else if (e == 0x66) out.push("\f");
      else if (e == 0x6e) out.push("\n");
      else if (e == 0x72) out.push("\r");
      else if (e == 0x74) out.push("\t");
      else if (e == 0x75 /* u */) {
        const code = this.hex4();
        if (code < 0) return null;
        out.push(String.fromCharCode(code));
      } else {
        this.pos--;
        this.fail("bad escape '\\" + String.fromCharCode(e) + "'");
        return null;
      }
      runStart = this.pos;
    }
    this.fail("unterminated string");
    return null;
  }

  /** Four hex digits after \u; a UTF-16 code unit (surrogates pass through and pair up in the string). */
  hex4(): i32 {
    if (this.pos + 4 > this.text.length) {
      this.fail("short \\u escape");
      return -1;
    }
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.text.charCodeAt(this.pos + i);
      let d = -1;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      if (d < 0) {
        this.fail("bad \\u escape");
        return -1;
      }
      v = (v << 4) | d;
    }
    this.pos += 4;
    return v;
  }

  number(): JsonValue | null {
    const t = this.text;
    const start = this.pos;
    if (t.charCodeAt(this.pos) == 0x2d) this.pos++;
    const intStart = this.pos;
    while (this.pos < t.length && isDigit(t.charCodeAt(this.pos))) this.pos++;
    const intLen = this.pos - intStart;
    if (intLen == 0 || (intLen > 1 && t.charCodeAt(intStart) == 0x30)) {
      this.fail("bad number");
      return null;
    }
    if (this.pos < t.length && t.charCodeAt(this.pos) == 0x2e /* . */) {
      this.pos++;
      const fracStart = this.pos;
      while (this.pos < t.length && isDigit(t.charCodeAt(this.pos))) this.pos++;
      if (this.pos == fracStart) {
        this.fail("bad number");
        return null;
      }
    }
    if (this.pos < t.length && (t.charCodeAt(this.pos) == 0x65 || t.charCodeAt(this.pos) == 0x45) /* e E */) {
      this.pos++;
      if (this.pos < t.length && (t.charCodeAt(this.pos) == 0x2b || t.charCodeAt(this.pos) == 0x2d)) this.pos++;
      const expStart = this.pos;
      while (this.pos < t.length && isDigit(t.charCodeAt(this.pos))) this.pos++;
      if (this.pos == expStart) {
        this.fail("bad number");
        return null;
      }
    }
    const literal = t.substring(start, this.pos);
    return JsonValue.fromNumber(parseFloat(literal), literal);
  }
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}
